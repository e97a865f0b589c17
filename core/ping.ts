/**
 * A ping session, sans-IO: `count` ICMP or ICMPv6 echo requests
 * `intervalMs` apart, replies matched by identifier and sequence number,
 * round-trip times and loss counted as iputils `ping -c COUNT -i INTERVAL
 * -W TIMEOUT` reports them (min/avg/max/mdev).
 *
 * ```
 *   poll(now) ──► request bytes (when a send is due)      every intervalMs, count times
 *   onPacket(bytes, now) ──► "reply" | "duplicate" | not ours (dropped, counted)
 *   nextDeadline() ──► next send, or the last send + timeoutMs, Infinity when done
 * ```
 *
 * The caller owns the socket and the clock: it sends what `poll` returns to
 * the target, feeds every received ICMP payload (the source address already
 * checked against the target) to `onPacket`, and calls `poll` again at
 * `nextDeadline()`. A raw socket sees every echo reply of its namespace: the
 * identifier tells ours from another pinger's, a reply to a sequence number
 * never sent is dropped, and a second reply to one request is a duplicate
 * (counted, as ping's "+N duplicates", not taken as an answer).
 *
 * Bounds: at most `MAX_COUNT` requests per session; the state is two arrays
 * of `count` entries.
 *
 * Not done here: reply payload checks beyond length, TTL/hop limit reports,
 * flood mode.
 *
 * @module
 */
import { ECHO, EchoPacket, emitEcho } from "./wire/icmp_echo.ts";

/** Most requests one session sends. */
export const MAX_COUNT = 1000;

/** How to ping. */
export interface PingOptions {
  family: 4 | 6;
  /** Echo identifier, 0..65535 (ping uses a per-process value; pick a random one). */
  ident: number;
  /** Requests to send, 1..MAX_COUNT. */
  count: number;
  /** Milliseconds between requests (ping -i), at least 1. */
  intervalMs: number;
  /** How long to wait for replies after the last request, ms (ping -W). */
  timeoutMs: number;
  /** Data bytes after the header (ping -s; default 56). */
  dataLen?: number;
}

/** What a received packet was. */
export type PingVerdict =
  | "reply"
  | "duplicate"
  | "not-echo-reply"
  | "other-ident"
  | "unknown-seq"
  | "short-data"
  | "truncated"
  | "bad-checksum";

/** The outcome of a session, in ping's terms. */
export interface PingSummary {
  sent: number;
  received: number;
  duplicates: number;
  /** Packets dropped as not ours, by verdict. */
  ignored: Record<string, number>;
  /** Lost percentage, 0..100, rounded down as ping prints it. */
  lossPct: number;
  /** Round-trip times in ms (null with no reply). */
  minMs: number | null;
  avgMs: number | null;
  maxMs: number | null;
  /** Mean deviation, as ping's mdev: sqrt(mean(rtt^2) - mean(rtt)^2). */
  mdevMs: number | null;
}

/**
 * One ping session.
 *
 * @example
 * ```ts
 * import { Pinger } from "./ping.ts";
 * const p = new Pinger({ family: 6, ident: 7, count: 1, intervalMs: 1000, timeoutMs: 2000 }, 0);
 * const req = p.poll(0)!; // 64 bytes: an ICMPv6 echo request, seq 1
 * req[0] = 129; // the peer answers with the same bytes as an echo reply
 * p.onPacket(req, 0, req.length, 1.5); // "reply"
 * p.summary().avgMs; // 1.5
 * ```
 */
export class Pinger {
  readonly #o: Required<PingOptions>;
  readonly #sentAt: Float64Array;
  readonly #replies: Uint8Array;
  readonly #view = new EchoPacket();
  readonly #buf: Uint8Array;
  #sent = 0;
  #received = 0;
  #duplicates = 0;
  #nextSend: number;
  #sum = 0;
  #sum2 = 0;
  #min = Infinity;
  #max = -Infinity;
  readonly #ignored: Record<string, number> = {};

  constructor(opts: PingOptions, now: number) {
    const o = { dataLen: 56, ...opts };
    if (!Number.isInteger(o.count) || o.count < 1 || o.count > MAX_COUNT) {
      throw new RangeError(`count must be 1..${MAX_COUNT}, got ${o.count}`);
    }
    if (!Number.isInteger(o.ident) || o.ident < 0 || o.ident > 0xffff) {
      throw new RangeError(`ident must be 0..65535, got ${o.ident}`);
    }
    if (!(o.intervalMs >= 1) || !(o.timeoutMs >= 0)) {
      throw new RangeError("intervalMs must be at least 1 and timeoutMs not negative");
    }
    if (!Number.isInteger(o.dataLen) || o.dataLen < 8 || o.dataLen > 65_000) {
      throw new RangeError(`dataLen must be 8..65000, got ${o.dataLen}`);
    }
    this.#o = o;
    this.#sentAt = new Float64Array(o.count);
    this.#replies = new Uint8Array(o.count);
    this.#buf = new Uint8Array(ECHO.HEADER_LEN + o.dataLen);
    this.#nextSend = now;
  }

  /** Sequence number of request i (0-based): 1, 2, ... as ping numbers them. */
  #seq(i: number): number {
    return (i + 1) & 0xffff;
  }

  /**
   * The request to send now, or null when none is due. The bytes are reused
   * by the next call: send them before calling again.
   */
  poll(now: number): Uint8Array | null {
    if (this.#sent >= this.#o.count || now < this.#nextSend) return null;
    const i = this.#sent++;
    const data = this.#buf.subarray(ECHO.DATA);
    for (let k = 0; k < data.length; k++) data[k] = (k + 8) & 0xff; // ping's pattern
    emitEcho(
      { family: this.#o.family, reply: false, ident: this.#o.ident, seq: this.#seq(i), data },
      this.#buf,
      0,
    );
    this.#sentAt[i] = now;
    this.#nextSend = now + this.#o.intervalMs;
    return this.#buf;
  }

  #ignore(v: PingVerdict): PingVerdict {
    this.#ignored[v] = (this.#ignored[v] ?? 0) + 1;
    return v;
  }

  /** Takes one received ICMP payload (`len` bytes at `off`) from the target. */
  onPacket(buf: Uint8Array, off: number, len: number, now: number): PingVerdict {
    const m = this.#view;
    const r = m.check(buf, this.#o.family, off, len);
    if (r === "echo-truncated") return this.#ignore("truncated");
    if (r === "echo-bad-checksum") return this.#ignore("bad-checksum");
    if (r !== "ok" || !m.reply) return this.#ignore("not-echo-reply");
    if (m.ident !== this.#o.ident) return this.#ignore("other-ident");
    // Sequence numbers 1..count (count <= MAX_COUNT < 65536: no wrap).
    const i = m.seq - 1;
    if (i < 0 || i >= this.#sent) return this.#ignore("unknown-seq");
    if (m.len - ECHO.HEADER_LEN < this.#o.dataLen) return this.#ignore("short-data");
    if (this.#replies[i]) {
      this.#duplicates++;
      return "duplicate";
    }
    this.#replies[i] = 1;
    this.#received++;
    const rtt = Math.max(0, now - this.#sentAt[i]);
    this.#sum += rtt;
    this.#sum2 += rtt * rtt;
    if (rtt < this.#min) this.#min = rtt;
    if (rtt > this.#max) this.#max = rtt;
    return "reply";
  }

  /** True when every request is sent and answered, or the wait after the last one is over. */
  done(now: number): boolean {
    if (this.#sent < this.#o.count) return false;
    return this.#received === this.#o.count || now >= this.#lastDeadline();
  }

  #lastDeadline(): number {
    return this.#sentAt[this.#o.count - 1] + this.#o.timeoutMs;
  }

  /** When to call `poll` (or check `done`) next; Infinity once every reply is in. */
  nextDeadline(): number {
    if (this.#sent < this.#o.count) return this.#nextSend;
    return this.#received === this.#o.count ? Infinity : this.#lastDeadline();
  }

  /** The figures so far. */
  summary(): PingSummary {
    const n = this.#received, sent = this.#sent;
    const avg = n ? this.#sum / n : null;
    return {
      sent,
      received: n,
      duplicates: this.#duplicates,
      ignored: { ...this.#ignored },
      lossPct: sent ? Math.floor(((sent - n) * 100) / sent) : 0,
      minMs: n ? this.#min : null,
      avgMs: avg,
      maxMs: n ? this.#max : null,
      mdevMs: avg === null ? null : Math.sqrt(Math.max(0, this.#sum2 / n - avg * avg)),
    };
  }
}
