/**
 * The management endpoint every daemon serves: HTTP on 127.0.0.1 by default.
 *
 * - `GET /status`: JSON, the daemon's own report (role, version, uptime, ...).
 * - `GET /metrics`: Prometheus text format.
 *
 * With a bearer token configured, every request must carry
 * `Authorization: Bearer <token>`. Anything else answers 404/405.
 *
 * An endpoint without a token must be on loopback (`apiExposure`): a daemon
 * whose endpoint is on any other address (`0.0.0.0`, `::`, a host's address,
 * a host name) and has no token refuses to start (exit 2). The token is
 * compared as HMAC-SHA256 digests under a key drawn at start
 * (`tokenCheck`): the comparison always covers 32 bytes, and its time
 * depends only on what the client sent, so a remote timer learns nothing of
 * the token. The token travels in clear (HTTP): off loopback, keep the
 * endpoint on a management network.
 *
 * @module
 */
import { formatHostPort, type HostPort } from "./config.ts";
import { hmacSha256, randomBytes, timingSafeEqual } from "../../ffi/crypto.ts";
import { isLoopback, parseIp } from "../../core/addr.ts";

/** What the endpoint serves. */
export interface ApiHandlers {
  status(): unknown;
  metrics(): string;
  /** Hears an error a handler threw (the answer is a 500); kit/contain.ts counts it. */
  onError?(e: unknown): void;
}

/** A running endpoint. */
export interface ApiServer {
  /** The address actually bound (port 0 picks a free port). */
  readonly addr: HostPort;
  close(): Promise<void>;
}

/** The key of the token digests: random, per process, never leaves it. */
const COMPARE_KEY = randomBytes(new Uint8Array(32));

function digest(text: string): Uint8Array {
  return hmacSha256(COMPARE_KEY, new TextEncoder().encode(text));
}

/** Whether a presented token is the configured one. */
export type TokenCheck = (presented: string) => boolean;

/**
 * A check of presented tokens against `token`, timing-safe: the token's
 * HMAC-SHA256 digest (under a per-process random key) is computed once,
 * here; each presented token is reduced to its digest and the two 32-byte
 * digests compared with `CRYPTO_memcmp`. The time of a check depends only on
 * the length of what the client sent, never on the token's bytes or length.
 *
 * @example
 * ```ts
 * import { tokenCheck } from "./api.ts";
 * const check = tokenCheck("t0k3n");
 * check("t0k3n"); // true
 * check("t0k3"); // false
 * ```
 */
export function tokenCheck(token: string): TokenCheck {
  const want = digest(token);
  return (presented) => timingSafeEqual(digest(presented), want);
}

/**
 * True when the two strings are the same (`tokenCheck` for one use).
 *
 * @example
 * ```ts
 * import { sameSecret } from "./api.ts";
 * sameSecret("t0k3n", "t0k3n"); // true
 * ```
 */
export function sameSecret(a: string, b: string): boolean {
  return tokenCheck(b)(a);
}

/**
 * True when an endpoint on `host` can only be reached from this host:
 * 127.0.0.0/8, `::1`, either written as an IPv4-mapped address
 * (`::ffff:127.0.0.1`), or the name `localhost`. Everything else is not:
 * the unspecified addresses `0.0.0.0`, `::` and `::ffff:0.0.0.0` (every
 * address of the host), any other address, a zone (`fe80::1%eth0`), any
 * other name, and forms only a resolver reads (`127.1`, `0x7f.0.0.1`).
 *
 * @example
 * ```ts
 * import { isLoopbackHost } from "./api.ts";
 * isLoopbackHost("::1"); // true
 * isLoopbackHost("0.0.0.0"); // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const ip = parseIp(host);
  return ip.ok && isLoopback(ip.value);
}

/** Below this many characters a token is logged as guessable. */
export const SHORT_TOKEN = 16;

/**
 * Why a management endpoint may not start as configured, or null: an
 * endpoint off loopback needs a token, and a token must be one a request
 * can carry (the header's value is trimmed). `section` names the config
 * section (`node.home`) for the message.
 */
export function apiExposure(
  addr: HostPort | null,
  token: string | null,
  section: string,
): string | null {
  if (token !== null && token !== token.trim()) {
    return `${section}.api_token: begins or ends with white space, which no request can ` +
      `send: remove it`;
  }
  if (addr === null || token !== null || isLoopbackHost(addr.host)) return null;
  return `api: the management endpoint ${formatHostPort(addr)} is not on loopback and has ` +
    `no token, so anyone who reaches it reads /status and /metrics: set ${section}.api_token ` +
    `in the config file (mode 0600), or keep it on loopback (--api 127.0.0.1:${addr.port}, ` +
    `or api: 127.0.0.1:${addr.port}), or turn it off (--api off)`;
}

/** Answers one request; exported for tests. */
export function handle(req: Request, h: ApiHandlers, token: TokenCheck | null): Response {
  if (token !== null) {
    const auth = req.headers.get("authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(auth);
    if (!m || !token(m[1].trim())) {
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
    h.onError?.(e);
    return new Response(`internal error: ${(e as Error).message}\n`, { status: 500 });
  }
}

/** Starts the endpoint. Throws (with the OS reason) if the address cannot be bound. */
export function serveApi(addr: HostPort, h: ApiHandlers, token: string | null): ApiServer {
  const check = token === null ? null : tokenCheck(token);
  const ac = new AbortController();
  let resolveAddr!: (a: HostPort) => void;
  const bound = new Promise<HostPort>((r) => resolveAddr = r);
  const server = Deno.serve({
    hostname: addr.host,
    port: addr.port,
    signal: ac.signal,
    onListen: ({ hostname, port }) => resolveAddr({ host: hostname, port }),
    onError: (e) => {
      h.onError?.(e);
      return new Response(`internal error: ${(e as Error).message}\n`, { status: 500 });
    },
  }, (req) => handle(req, h, check));
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
