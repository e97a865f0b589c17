/**
 * The management endpoint every daemon serves: HTTP on 127.0.0.1 by default.
 *
 * - `GET /`: the live status page (kit/page_assets.ts): HTML, CSS and a
 *   script that polls `/status` and draws it; no data in it, so it needs no
 *   token (the script asks for one when `/status` answers 401).
 * - `GET /status`: JSON, the daemon's own report (role, version, uptime, ...).
 * - `GET /metrics`: Prometheus text format.
 * - `GET /capture?vc=1234&count=100&seconds=10` (or `peer=N`, `tap`,
 *   `device`): a live capture streamed as a pcap file (`l2 capture`,
 *   kit/capture_stream.ts); not for HEAD, which would open one. At
 *   shutdown the kit ends the captures and closing the endpoint lets their
 *   last bytes go (at most `CLOSE_GRACE_MS`) before cutting connections.
 * - `GET /health`: 200 `ok` while the daemon serves (its loop runs and its
 *   sockets are open: the role's `health` hook), 503 and the reason
 *   otherwise (starting, stopping, a failed loop); for keepalived's
 *   `vrrp_script` and load balancers. It tells no more than that, so it
 *   needs no token.
 *
 * With a bearer token configured, `/status`, `/metrics` and `/capture` need
 * `Authorization: Bearer <token>`. Anything else answers 404/405. Without a
 * token (so on loopback), only requests whose Host is an address or
 * `localhost` are answered (DNS rebinding, `hostIsLocalLiteral`). No answer
 * may be cached; each carries nosniff and a Content-Security-Policy.
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
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from "./page_assets.ts";
import type { CaptureHub } from "../../core/capture.ts";
import { captureAnswer } from "./capture_stream.ts";

/** What the endpoint serves. */
export interface ApiHandlers {
  status(): unknown;
  metrics(): string;
  /** Null while the daemon serves, else why not (`GET /health` answers 503 with it). */
  health?(): string | null;
  /** Hears an error a handler threw (the answer is a 500); kit/contain.ts counts it. */
  onError?(e: unknown): void;
  /** The daemon's live captures: `GET /capture` (kit/capture_stream.ts); absent: 404. */
  capture?: CaptureHub;
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

/** Headers on every answer of the endpoint. */
const COMMON_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

/**
 * The page's Content-Security-Policy: its own script, style sheet and
 * `/status` only; no inline script or style, no framing, no form posts,
 * and Trusted Types required, so no string can reach an HTML sink.
 */
export const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
  "img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
  "form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; " +
  "trusted-types 'none'";

/** Answers that are data, not documents: nothing in them may run or be framed. */
const DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";

function reply(
  body: string,
  status: number,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "content-security-policy": DATA_CSP,
      ...COMMON_HEADERS,
      ...headers,
    },
  });
}

/** The page's files (kit/page_assets.ts), served without a token: they hold no data. */
const PAGE_FILES: Record<string, { type: string; body: string }> = {
  "/": { type: "text/html; charset=utf-8", body: PAGE_HTML },
  "/page.css": { type: "text/css; charset=utf-8", body: PAGE_CSS },
  "/page.js": { type: "text/javascript; charset=utf-8", body: PAGE_JS },
};

/**
 * True when a request's Host names an address, not a name: an IP literal,
 * `localhost` or a name under `.localhost` (which browsers resolve to
 * loopback themselves). An endpoint without a token answers only those, so
 * a web page whose DNS name an attacker rebinds to 127.0.0.1 cannot read it
 * through the browser of someone on this host (DNS rebinding).
 *
 * @example
 * ```ts
 * import { hostIsLocalLiteral } from "./api.ts";
 * hostIsLocalLiteral("127.0.0.1"); // true
 * hostIsLocalLiteral("[::1]"); // true
 * hostIsLocalLiteral("attacker.example"); // false
 * ```
 */
export function hostIsLocalLiteral(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, "");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const bare = h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
  // Only the dotted-quad and colon forms: "127.1" or "0x7f.1" are names a resolver reads.
  if (!bare.includes(":") && !/^\d{1,3}(\.\d{1,3}){3}$/.test(bare)) return false;
  return parseIp(bare).ok;
}

/**
 * Answers one request; exported for tests.
 *
 * `GET /` (and `/page.css`, `/page.js`) is the live status page, the same
 * for every daemon and served without a token; it asks for the token when
 * `/status` answers 401. `/status` and `/metrics` need the token when one
 * is configured. Without a token, a request whose Host is a name (not an
 * address or `localhost`) is refused with 421 (`hostIsLocalLiteral`).
 */
export function handle(req: Request, h: ApiHandlers, token: TokenCheck | null): Response {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return reply("method not allowed\n", 405, { allow: "GET, HEAD" });
  }
  const url = new URL(req.url);
  if (token === null && !hostIsLocalLiteral(url.hostname)) {
    return reply(
      "misdirected: this endpoint has no api_token, so it answers only requests for an " +
        "address or localhost (http://127.0.0.1:PORT/), not for a name\n",
      421,
    );
  }
  const file = Object.hasOwn(PAGE_FILES, url.pathname) ? PAGE_FILES[url.pathname] : undefined;
  if (file !== undefined) {
    return reply(file.body, 200, {
      "content-type": file.type,
      "content-security-policy": PAGE_CSP,
      "x-frame-options": "DENY",
    });
  }
  if (url.pathname === "/health") {
    try {
      const why = h.health ? h.health() : null;
      return why === null ? reply("ok\n", 200) : reply(`unhealthy: ${why}\n`, 503);
    } catch (e) {
      h.onError?.(e);
      return reply(`unhealthy: internal error: ${(e as Error).message}\n`, 503);
    }
  }
  if (token !== null) {
    const auth = req.headers.get("authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(auth);
    if (!m || !token(m[1].trim())) {
      return reply("unauthorized: send Authorization: Bearer <token>\n", 401, {
        "www-authenticate": 'Bearer realm="l2"',
      });
    }
  }
  try {
    switch (url.pathname) {
      case "/status":
        return reply(JSON.stringify(h.status(), null, 2) + "\n", 200, {
          "content-type": "application/json",
        });
      case "/metrics":
        return reply(h.metrics(), 200, {
          "content-type": "text/plain; version=0.0.4; charset=utf-8",
        });
      case "/capture": {
        if (!h.capture) break;
        if (req.method !== "GET") return reply("method not allowed\n", 405, { allow: "GET" });
        const a = captureAnswer(url.searchParams, h.capture);
        if ("text" in a) return reply(a.text, a.status);
        return new Response(a.body, {
          status: 200,
          headers: {
            "content-type": "application/vnd.tcpdump.pcap",
            "content-security-policy": DATA_CSP,
            ...COMMON_HEADERS,
          },
        });
      }
    }
    return reply(
      `not found: GET / (the page), /status, /metrics${h.capture ? ", /capture" : ""} or /health\n`,
      404,
    );
  } catch (e) {
    h.onError?.(e);
    return reply(`internal error: ${(e as Error).message}\n`, 500);
  }
}

/** How long closing the endpoint waits for answers under way (a capture's last bytes), ms. */
export const CLOSE_GRACE_MS = 1000;

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
      // Answers under way finish first (a capture's stream, ended by the kit, sends its last
      // bytes), for at most CLOSE_GRACE_MS; then every connection is cut.
      // Aborting a server whose shutdown has completed makes Deno's serve loop throw
      // BadResource outside any handler: abort only when the grace time ran out.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceful = await Promise.race([
        server.shutdown().then(() => true),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), CLOSE_GRACE_MS)),
      ]);
      clearTimeout(timer);
      if (!graceful) ac.abort();
      await server.finished;
    },
  };
}

/** Fetches a daemon's /status (or /metrics as text), with a timeout. For `l2 status`. */
export async function fetchApi(
  addr: HostPort,
  path: "/status" | "/metrics" | "/health",
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
