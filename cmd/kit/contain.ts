/**
 * Containment: what one packet causes stays with that packet. A handler
 * that throws while handling one datagram (or one event it caused) drops
 * that datagram, the error is counted by daemon, handler and kind, logged
 * rate-limited with the peer's address, and the daemon goes on serving
 * everyone else. Every daemon gets one `Containment` from the kit
 * (`DaemonContext.contain`); it is the one place that counts and logs.
 *
 * Where errors are caught, innermost first:
 * - per datagram, in the loop over a receive batch (the engines, and
 *   the kit's pumps, cmd/kit/pump.ts), so one bad datagram in a
 *   batch of 64 costs only itself; and per event where a batch's events are
 *   handled after it;
 * - per handler call, by the event loop (`ffi/loop.ts`, `onError` =
 *   `loopHook()`): the backstop for anything outside a single packet,
 *   with its hold-off for a handler that fails again and again;
 * - signal handlers and the management endpoint (`kit/daemon.ts`,
 *   `kit/api.ts`), and, last, an uncaught error or unhandled rejection
 *   anywhere in the process after start (`handler="uncaught"`).
 *
 * Counted: `l2_packet_errors_total{daemon,handler,kind}` in /metrics and
 * `packet_errors` in /status (total, by handler and kind, the last one with
 * its peer and time). `kind` is the error's class name (`RangeError`,
 * `OsError`...). The table is bounded (`MAX_KEYS` handler/kind pairs; more
 * count as `handler="other"`).
 *
 * Logged (warn; error for a loop-level failure), per handler and kind: the
 * first `perWindow` (5) in each window of `windowMs` (10 s), then one line
 * at the end of the window saying how many more there were and from which
 * peers (up to 8 named). The line names the peer, the handler, the error
 * (its message bounded to 200 characters and quoted, so a peer's bytes
 * cannot forge a log line) and where it was thrown (the top stack frame):
 *
 * `warn  las: packet from 192.0.2.7 dropped: it made the ip handler throw RangeError (an l2 bug) handler=ip kind=RangeError peer=192.0.2.7 error="AVP (0,1) of 1204 bytes exceeds 1023" at=".../control_message.ts:246:13"`
 *
 * A loop-level handler failing again and again (the event loop holds it
 * off, see ffi/loop.ts) is also said plainly at 10, 100, 1000... failures
 * in a row, at error level: it is a bug, and the daemon keeps going.
 *
 * Nothing here allocates on the path of a packet that does not fail.
 *
 * @module
 */
import type { LoopErrorHook } from "../../ffi/loop.ts";
import type { TopicLogger } from "./log.ts";
import type { MetricsWriter } from "./metrics.ts";

/**
 * Where an engine reports an error it contained on one packet (or one event
 * it caused): `Containment.packet`, bound. `peer`: the source where known.
 */
export type PacketErrorSink = (handler: string, err: unknown, peer: string | null) => void;

/** Most distinct handler/kind pairs counted; more go to `handler="other"`. */
export const MAX_KEYS = 64;
/** Peers named in one summary line. */
const MAX_PEERS_NAMED = 8;
/** Longest error message quoted in a log line. */
const MAX_MESSAGE = 200;

interface Entry {
  handler: string;
  kind: string;
  count: number;
  /** Rate limit: window start (ms), lines printed in it, errors not printed, their peers. */
  windowStart: number;
  printed: number;
  suppressed: number;
  peers: Set<string>;
}

/** Options of a `Containment`. */
export interface ContainmentOptions {
  /** Lines per handler and kind per window (default 5). */
  perWindow?: number;
  /** Window length, ms (default 10 000). */
  windowMs?: number;
  /** Wall clock, ms (default Date.now). */
  now?: () => number;
}

/** The class name of a thrown value, as a bounded metric label. */
export function errorKind(e: unknown): string {
  const n = e instanceof Error ? e.name : e === null ? "null" : typeof e;
  const k = String(n).replace(/[^A-Za-z0-9_]/g, "").slice(0, 32);
  return k || "Error";
}

/** The message of a thrown value, bounded. */
function errorText(e: unknown): string {
  let m: string;
  try {
    m = e instanceof Error ? e.message : String(e);
  } catch {
    m = "(unprintable)";
  }
  return m.length > MAX_MESSAGE ? m.slice(0, MAX_MESSAGE) + "..." : m;
}

/** The top frame of a thrown Error's stack ("file:line:col"), or undefined. */
function thrownAt(e: unknown): string | undefined {
  if (!(e instanceof Error) || typeof e.stack !== "string") return undefined;
  const line = e.stack.split("\n").find((l) => l.trimStart().startsWith("at "));
  if (!line) return undefined;
  const m = /\(([^()]+)\)\s*$/.exec(line) ?? /at (.+)$/.exec(line);
  return m ? m[1].trim().slice(0, 200) : undefined;
}

/** Counts and logs contained errors of one daemon; see the module doc. */
export class Containment {
  readonly #log: TopicLogger;
  readonly #daemon: string;
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  #total = 0;
  #last:
    | { handler: string; kind: string; peer: string | null; error: string; time: string }
    | null = null;

  constructor(daemon: string, log: TopicLogger, o: ContainmentOptions = {}) {
    this.#daemon = daemon;
    this.#log = log;
    this.#perWindow = o.perWindow ?? 5;
    this.#windowMs = o.windowMs ?? 10_000;
    this.#now = o.now ?? Date.now;
  }

  /** Contained errors so far. */
  get total(): number {
    return this.#total;
  }

  /**
   * A handler threw on one packet (or what one packet caused): the packet
   * is dropped by the caller, this counts and logs. `peer`: the source
   * address where known. Never throws.
   */
  packet(handler: string, err: unknown, peer: string | null = null): void {
    try {
      this.#record(handler, err, peer, "warn");
    } catch {
      // Counting and logging must never be what stops a daemon.
    }
  }

  /**
   * The event loop's `onError` (ffi/loop.ts): names the fds' handlers
   * (`{ [udp.fd]: "udp" }`; the deadline is "timer").
   */
  loopHook(names: Record<number, string>): LoopErrorHook {
    return (err, source, fd, consecutive) => {
      try {
        const handler = source === "deadline" ? "timer" : names[fd] ?? `fd${fd}`;
        this.#record(handler, err, null, "error", consecutive);
      } catch {
        // as in packet()
      }
    };
  }

  #record(
    handler: string,
    err: unknown,
    peer: string | null,
    level: "warn" | "error",
    consecutive = 1,
  ): void {
    const kind = errorKind(err);
    let key = `${handler}\u0000${kind}`;
    let e = this.#entries.get(key);
    if (!e && this.#entries.size >= MAX_KEYS) {
      handler = "other";
      key = `${handler}\u0000${kind}`;
      e = this.#entries.get(key);
    }
    const now = this.#now();
    if (!e) {
      e = {
        handler,
        kind,
        count: 0,
        windowStart: now,
        printed: 0,
        suppressed: 0,
        peers: new Set(),
      };
      this.#entries.set(key, e);
    }
    e.count++;
    this.#total++;
    const error = errorText(err);
    this.#last = { handler, kind, peer, error, time: new Date(now).toISOString() };
    if (now - e.windowStart >= this.#windowMs) this.#summarize(e, now);
    const repeated = consecutive >= 10 && /^10+$/.test(String(consecutive));
    if (e.printed >= this.#perWindow && !repeated) {
      e.suppressed++;
      if (peer !== null && e.peers.size < MAX_PEERS_NAMED) e.peers.add(peer);
      return;
    }
    e.printed++;
    const from = peer === null ? "" : `packet from ${peer} dropped: `;
    const what = peer === null
      ? `the ${handler} handler threw ${kind} (an l2 bug; contained, the daemon goes on)`
      : `it made the ${handler} handler throw ${kind} (an l2 bug)`;
    const fields = {
      handler,
      kind,
      peer: peer ?? undefined,
      error,
      at: thrownAt(err),
      in_a_row: consecutive > 1 ? consecutive : undefined,
    };
    if (repeated) {
      this.#log.error(
        `the ${handler} handler has failed ${consecutive} times in a row: an l2 bug; ` +
          `it runs at most once a second until it stops failing`,
        fields,
      );
      return;
    }
    if (level === "error") this.#log.error(from + what, fields);
    else this.#log.warn(from + what, fields);
  }

  /** Ends `e`'s window: one line for what it did not print. */
  #summarize(e: Entry, now: number): void {
    if (e.suppressed > 0) {
      const secs = Math.round((now - e.windowStart) / 1000);
      const peers = [...e.peers];
      this.#log.warn(
        `${e.suppressed} more ${e.kind} errors in the ${e.handler} handler in the last ${secs} s ` +
          `were not logged`,
        {
          handler: e.handler,
          kind: e.kind,
          suppressed: e.suppressed,
          peers: peers.length ? peers.join(",") : undefined,
        },
      );
    }
    e.windowStart = now;
    e.printed = 0;
    e.suppressed = 0;
    e.peers.clear();
  }

  /** Prints the summaries of windows that have ended (the kit calls it every few seconds). */
  flush(): void {
    try {
      const now = this.#now();
      for (const e of this.#entries.values()) {
        if (e.suppressed > 0 && now - e.windowStart >= this.#windowMs) this.#summarize(e, now);
      }
    } catch {
      // as in packet()
    }
  }

  /** `l2_packet_errors_total{daemon,handler,kind}` (always present, 0 when none). */
  metrics(w: MetricsWriter): void {
    const help = "errors a handler threw, contained: the packet was dropped, the daemon went on";
    if (this.#entries.size === 0) {
      w.counter("l2_packet_errors_total", help, 0, { daemon: this.#daemon, handler: "", kind: "" });
      return;
    }
    for (const e of this.#entries.values()) {
      w.counter("l2_packet_errors_total", help, e.count, {
        daemon: this.#daemon,
        handler: e.handler,
        kind: e.kind,
      });
    }
  }

  /** For /status: `packet_errors`. */
  status(): Record<string, unknown> {
    const by: Record<string, Record<string, number>> = {};
    for (const e of this.#entries.values()) (by[e.handler] ??= {})[e.kind] = e.count;
    return { total: this.#total, by_handler: by, last: this.#last };
  }
}
