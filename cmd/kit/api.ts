/**
 * The management endpoint every daemon serves: HTTP on 127.0.0.1 by default.
 *
 * - `GET /status`: JSON, the daemon's own report (role, version, uptime, ...).
 * - `GET /metrics`: Prometheus text format.
 *
 * With a bearer token configured, every request must carry
 * `Authorization: Bearer <token>` (compared in constant time); without one the
 * endpoint should stay on loopback. Anything else answers 404/405.
 *
 * @module
 */
import type { HostPort } from "./config.ts";

/** What the endpoint serves. */
export interface ApiHandlers {
  status(): unknown;
  metrics(): string;
}

/** A running endpoint. */
export interface ApiServer {
  /** The address actually bound (port 0 picks a free port). */
  readonly addr: HostPort;
  close(): Promise<void>;
}

function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Answers one request; exported for tests. */
export function handle(req: Request, h: ApiHandlers, token: string | null): Response {
  if (token !== null) {
    const auth = req.headers.get("authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(auth);
    if (!m || !sameSecret(m[1].trim(), token)) {
      return new Response("unauthorized: send Authorization: Bearer <token>\n", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="l2"' },
      });
    }
  }
  const url = new URL(req.url);
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  try {
    switch (url.pathname) {
      case "/status":
        return new Response(JSON.stringify(h.status(), null, 2) + "\n", {
          headers: { "content-type": "application/json" },
        });
      case "/metrics":
        return new Response(h.metrics(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      case "/":
        return new Response("l2 management endpoint: GET /status, GET /metrics\n");
      default:
        return new Response("not found: GET /status or /metrics\n", { status: 404 });
    }
  } catch (e) {
    return new Response(`internal error: ${(e as Error).message}\n`, { status: 500 });
  }
}

/** Starts the endpoint. Throws (with the OS reason) if the address cannot be bound. */
export function serveApi(addr: HostPort, h: ApiHandlers, token: string | null): ApiServer {
  const ac = new AbortController();
  let resolveAddr!: (a: HostPort) => void;
  const bound = new Promise<HostPort>((r) => resolveAddr = r);
  const server = Deno.serve({
    hostname: addr.host,
    port: addr.port,
    signal: ac.signal,
    onListen: ({ hostname, port }) => resolveAddr({ host: hostname, port }),
    onError: (e) => new Response(`internal error: ${(e as Error).message}\n`, { status: 500 }),
  }, (req) => handle(req, h, token));
  void bound;
  const a = server.addr as Deno.NetAddr;
  return {
    addr: { host: a.hostname, port: a.port },
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

/** Fetches a daemon's /status (or /metrics as text), with a timeout. For `l2 status`. */
export async function fetchApi(
  addr: HostPort,
  path: "/status" | "/metrics",
  token: string | null,
  timeoutMs = 3000,
): Promise<Response> {
  const host = addr.host.includes(":") ? `[${addr.host}]` : addr.host;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  return await fetch(`http://${host}:${addr.port}${path}`, {
    headers,
    signal: AbortSignal.timeout(timeoutMs),
  });
}
