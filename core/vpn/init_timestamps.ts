/**
 * The HS_INIT timestamp and the responder's table of the newest one accepted
 * per initiator key (issue 13): WireGuard's TAI64N idea, so a recorded
 * HS_INIT replayed later is refused instead of displacing the real
 * initiator's handshake.
 *
 * The timestamp is 12 bytes, TAI64N (D. J. Bernstein, "TAI64, TAI64N and
 * TAI64NA"): an 8-byte label 2^62 + 10 + seconds since 1970 (big-endian),
 * then 4 bytes of nanoseconds. It travels as the encrypted payload of
 * HS_INIT (handshake.ts), so only the holder of the static key can write
 * it. It comes from the wall clock (the caller passes it: the core reads no
 * clock), so it keeps increasing across restarts of the initiator;
 * `InitClock` makes every value it hands out strictly newer than the last one
 * even when the wall clock stands still or steps back a little.
 *
 * `TimestampTable` (responder): public key -> newest accepted timestamp.
 * `isNewer` is checked before anything changes; `accept` records it only
 * once the handshake is answered. Bound: `maxEntries` (default 65 536); when
 * full the entry used least recently is evicted (`init_timestamps_evicted`;
 * its key's next HS_INIT is compared with nothing, as after a restart).
 * Entries are kept as long as the table has room (no ageing: an aged entry
 * would let an old recording in again).
 *
 * Not here: what is refused (the callers count `hs_replay_timestamp`).
 * A responder that restarts forgets its table: the first replay of a
 * recorded HS_INIT after a restart is answered once (a session nobody can
 * use; the real node's next HS_INIT, newer, replaces it).
 *
 * @module
 */
import { Counters } from "./backlog.ts";
import { hex } from "./crypto_suite.ts";

/** Bytes of the HS_INIT timestamp (TAI64N). */
export const TIMESTAMP_LENGTH = 12;

/** TAI64 label of second 0 of 1970 plus the 10 s TAI-UTC offset of that time (as WireGuard). */
const TAI64_BASE = 0x4000_0000_0000_000an;

/**
 * TAI64N of a wall-clock time in milliseconds since 1970.
 *
 * @example
 * ```ts
 * import { tai64n } from "./init_timestamps.ts";
 * tai64n(1_700_000_000_123).length; // 12
 * ```
 */
export function tai64n(wallMs: number): Uint8Array {
  const ms = Math.max(0, Math.floor(wallMs));
  const secs = Math.floor(ms / 1000);
  const out = new Uint8Array(TIMESTAMP_LENGTH);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, TAI64_BASE + BigInt(secs));
  v.setUint32(8, (ms % 1000) * 1_000_000);
  return out;
}

/** -1, 0 or 1 as `a` is older than, equal to or newer than `b` (big-endian compare). */
export function compareTimestamps(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TIMESTAMP_LENGTH; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

/**
 * The initiator's side: strictly increasing timestamps from the wall clock.
 *
 * @example
 * ```ts
 * import { InitClock } from "./init_timestamps.ts";
 * const c = new InitClock();
 * const a = c.next(1000), b = c.next(1000); // b is 1 ms newer than a
 * ```
 */
export class InitClock {
  private last = 0;

  /**
   * The timestamp for the next HS_INIT at wall-clock time `wallMs` (a value
   * that is no finite number counts as no clock: 1 ms after the last one).
   */
  next(wallMs: number): Uint8Array {
    const w = Number.isFinite(wallMs) ? Math.floor(wallMs) : -Infinity;
    const t = Math.max(w, this.last + 1);
    this.last = t;
    return tai64n(t);
  }
}

/**
 * The responder's newest accepted HS_INIT timestamp per initiator key.
 *
 * @example
 * ```ts
 * import { tai64n, TimestampTable } from "./init_timestamps.ts";
 * const t = new TimestampTable();
 * const key = new Uint8Array(32).fill(1);
 * t.isNewer(key, tai64n(2000)); // true: nothing recorded
 * t.accept(key, tai64n(2000));
 * t.isNewer(key, tai64n(2000)); // false: a replay
 * ```
 */
export class TimestampTable {
  readonly counters: Counters = new Counters();
  /** key (hex) -> newest accepted timestamp; least recently used first. Bound: maxEntries. */
  private readonly newest = new Map<string, Uint8Array>();
  private readonly maxEntries: number;

  constructor(maxEntries = 65_536) {
    this.maxEntries = maxEntries;
  }

  /** True when `ts` is newer than every HS_INIT of `key` accepted so far. */
  isNewer(key: Uint8Array, ts: Uint8Array): boolean {
    const last = this.newest.get(hex(key));
    return last === undefined || compareTimestamps(ts, last) > 0;
  }

  /** Records `ts` as the newest accepted HS_INIT of `key` (call after `isNewer`). */
  accept(key: Uint8Array, ts: Uint8Array): void {
    const k = hex(key);
    if (!this.newest.delete(k) && this.newest.size >= this.maxEntries) {
      this.newest.delete(this.newest.keys().next().value as string);
      this.counters.add("init_timestamps_evicted");
    }
    this.newest.set(k, ts.slice(0, TIMESTAMP_LENGTH));
  }

  /** The newest accepted timestamp of `key`, if recorded. */
  latest(key: Uint8Array): Uint8Array | undefined {
    return this.newest.get(hex(key));
  }

  /** Keys recorded. */
  get size(): number {
    return this.newest.size;
  }
}
