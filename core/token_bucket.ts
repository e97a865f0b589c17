/**
 * A token bucket rate limiter on caller-supplied time.
 *
 * The bucket holds at most `burst` tokens and gains `rate` tokens per second
 * of `now` (monotonic milliseconds). Each admitted event takes one token (or
 * `n`). It starts full. Used by the learning switch for storm control and
 * usable anywhere a per-second budget is needed (log lines, replies).
 *
 * Time that runs backwards is treated as no time passing, never as a refill.
 *
 * Not done here: byte-based (bits/s) shaping, queueing of delayed events;
 * an event is admitted now or refused now.
 *
 * @module
 */

/** A rate in events per second with a burst allowance. */
export interface RateLimit {
  /** Sustained events per second; must be > 0. */
  rate: number;
  /** Largest number of events admitted back to back after an idle period; must be >= 1. */
  burst: number;
}

/**
 * Checks a `RateLimit` from configuration; returns a message saying what is
 * wrong, or `null` when it is usable.
 *
 * @example
 * ```ts
 * import { checkRateLimit } from "./token_bucket.ts";
 * checkRateLimit({ rate: 100, burst: 0 }); // "burst must be a finite number >= 1, got 0"
 * ```
 */
export function checkRateLimit(r: RateLimit): string | null {
  if (typeof r !== "object" || r === null) return "expected { rate, burst }";
  if (typeof r.rate !== "number" || !Number.isFinite(r.rate) || r.rate <= 0) {
    return `rate must be a finite number > 0, got ${r.rate}`;
  }
  if (typeof r.burst !== "number" || !Number.isFinite(r.burst) || r.burst < 1) {
    return `burst must be a finite number >= 1, got ${r.burst}`;
  }
  return null;
}

/**
 * One token bucket. `take(now)` says whether an event may happen at `now`.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 * const b = new TokenBucket({ rate: 10, burst: 2 }, 0);
 * b.take(0); // true
 * b.take(0); // true
 * b.take(0); // false: burst spent
 * b.take(100); // true: 100 ms at 10/s refilled one token
 * ```
 */
export class TokenBucket {
  /** Tokens per millisecond. */
  #perMs: number;
  #burst: number;
  #tokens: number;
  #last: number;

  /** A full bucket at time `now`. Throws RangeError on an unusable limit (config time). */
  constructor(limit: RateLimit, now: number) {
    const bad = checkRateLimit(limit);
    if (bad !== null) throw new RangeError(`Cannot create token bucket: ${bad}`);
    this.#perMs = limit.rate / 1000;
    this.#burst = limit.burst;
    this.#tokens = limit.burst;
    this.#last = now;
  }

  /** Takes `n` tokens (default 1) if available at `now`; false (and nothing taken) otherwise. */
  take(now: number, n = 1): boolean {
    this.#refill(now);
    if (this.#tokens >= n) {
      this.#tokens -= n;
      return true;
    }
    return false;
  }

  /** Tokens available at `now` (refills first). */
  available(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  #refill(now: number): void {
    const dt = now - this.#last;
    if (dt > 0) {
      const t = this.#tokens + dt * this.#perMs;
      this.#tokens = t < this.#burst ? t : this.#burst;
      this.#last = now;
    }
  }
}
