/**
 * Per-source rate limiting of work an unauthenticated packet can cause
 * (handshakes: two or three X25519 operations each), so a flood cannot
 * starve members (issue 6).
 *
 * Each source (an endpoint text, or any string the caller chooses) has a
 * token bucket (`perSource`, default 20/s, burst 10); sources not marked
 * trusted also draw on one global bucket (`global`, default 500/s, burst
 * 100), which caps public-key work from spoofed sources at a known CPU cost.
 * A source with a live authenticated session is trusted: its own bucket
 * still applies, the global one does not, so members can re-key while
 * strangers flood.
 *
 * Bound: `maxSources` buckets (default 8192); when full the least recently
 * used is evicted (`sources_evicted`); buckets idle `idleMs` (60 s) are
 * forgotten by `sweep` (`sources_aged`).
 *
 * Not here: cookies that prove a source address (WireGuard's cookie reply);
 * with a spoofed source an attacker can use up another source's bucket, which
 * is why trusted sources skip the global bucket.
 *
 * @module
 */
import { Counters } from "./backlog.ts";
import { type RateLimit, TokenBucket } from "../token_bucket.ts";

/** Options of `SourceLimiter`. */
export interface SourceLimiterConfig {
  perSource?: RateLimit;
  global?: RateLimit;
  maxSources?: number;
  idleMs?: number;
}

interface Entry {
  bucket: TokenBucket;
  last: number;
}

/**
 * Token buckets per source plus a global one.
 *
 * @example
 * ```ts
 * import { SourceLimiter } from "./rate_limit.ts";
 * const l = new SourceLimiter({ perSource: { rate: 1, burst: 1 } }, 0);
 * l.allow("192.0.2.1:7654", 0); // true
 * l.allow("192.0.2.1:7654", 0); // false
 * ```
 */
export class SourceLimiter {
  readonly counters: Counters = new Counters();
  private readonly perSource: RateLimit;
  private readonly global: TokenBucket;
  private readonly maxSources: number;
  private readonly idleMs: number;
  /** source -> bucket, least recently used first. Bound: maxSources. */
  private readonly sources = new Map<string, Entry>();

  constructor(c: SourceLimiterConfig, now: number) {
    this.perSource = c.perSource ?? { rate: 20, burst: 10 };
    this.global = new TokenBucket(c.global ?? { rate: 500, burst: 100 }, now);
    this.maxSources = c.maxSources ?? 8192;
    this.idleMs = c.idleMs ?? 60_000;
  }

  /** May `source` cause one unit of expensive work at `now`? Counts the refusals. */
  allow(source: string, now: number, trusted = false): boolean {
    let e = this.sources.get(source);
    if (e === undefined) {
      if (this.sources.size >= this.maxSources) {
        const oldest = this.sources.keys().next().value as string;
        this.sources.delete(oldest);
        this.counters.add("sources_evicted");
      }
      e = { bucket: new TokenBucket(this.perSource, now), last: now };
    } else {
      this.sources.delete(source);
    }
    e.last = now;
    this.sources.set(source, e);
    if (!e.bucket.take(now)) {
      this.counters.add("limited_source");
      return false;
    }
    if (!trusted && !this.global.take(now)) {
      this.counters.add("limited_global");
      return false;
    }
    return true;
  }

  /** Forgets buckets idle for `idleMs`. */
  sweep(now: number): void {
    for (const [k, e] of this.sources) {
      if (now - e.last < this.idleMs) break;
      this.sources.delete(k);
      this.counters.add("sources_aged");
    }
  }

  /** Number of sources tracked. */
  get size(): number {
    return this.sources.size;
  }
}
