/**
 * Rate limiting of the work an unauthenticated packet can cause (handshakes:
 * two or three X25519 operations each), so a flood cannot starve members
 * (issue 6; per address and proven/unproven since issue 13).
 *
 * Buckets are kept per **address**, not per `ip:port` (one host with many
 * ports is one source): an IPv4 address, or the /64 prefix of an IPv6 address
 * (`sourceKey`). Each source has two token buckets (`perSource`, default
 * 20/s, burst 10): one for packets that carry no proof that their sender
 * receives at that address, and one for packets that do (a valid mac2 over
 * a cookie the responder sent to that address, `cookie.ts`). Likewise two
 * global buckets (`global`, default 500/s, burst 100): a spoofed flood can
 * use up the unproven ones, never the proven ones, so a node that answers
 * the cookie gets in while strangers flood from forged addresses.
 *
 * A source with a live authenticated session (`trusted`) still draws on its
 * own bucket but skips the global one, so members re-key while strangers
 * flood.
 *
 * Bound: `maxSources` entries (default 8192); when full the least recently
 * used is evicted (`sources_evicted`); entries idle `idleMs` (60 s) are
 * forgotten by `sweep` (`sources_aged`).
 *
 * Not here: cookies and mac1/mac2 (`cookie.ts`), deciding when the
 * responder is under load (`secure_supernode.ts`).
 *
 * @module
 */
import { Counters } from "./backlog.ts";
import { type Endpoint, isV4 } from "../addr.ts";
import { type RateLimit, TokenBucket } from "../token_bucket.ts";

/** Options of `SourceLimiter`. */
export interface SourceLimiterConfig {
  perSource?: RateLimit;
  global?: RateLimit;
  maxSources?: number;
  idleMs?: number;
}

interface Entry {
  open: TokenBucket;
  proven: TokenBucket | null;
  last: number;
}

/** Why `check` refused: the source's own budget, or the shared one. */
export type LimitVerdict = "ok" | "source" | "global";

/**
 * The rate-limit key of an endpoint: its IPv4 address, or the /64 of its
 * IPv6 address (one host or subnet, whatever port it uses).
 *
 * @example
 * ```ts
 * import { sourceKey } from "./rate_limit.ts";
 * import { keyedEndpoint } from "../addr.ts";
 * sourceKey(keyedEndpoint("192.0.2.1:40000")); // "192.0.2.1"
 * sourceKey(keyedEndpoint("[2001:db8:1:2::7]:7654")); // "2001:db8:1:2::/64"
 * ```
 */
export function sourceKey(ep: Endpoint): string {
  const a = ep.ip;
  if (isV4(a)) return `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  const w: string[] = [];
  for (let i = 0; i < 8; i += 2) w.push(((a[i] << 8) | a[i + 1]).toString(16));
  return `${w.join(":")}::/64`;
}

/**
 * Token buckets per source (address) plus global ones, apart for proven and
 * unproven packets.
 *
 * @example
 * ```ts
 * import { SourceLimiter } from "./rate_limit.ts";
 * const l = new SourceLimiter({ perSource: { rate: 1, burst: 1 } }, 0);
 * l.allow("192.0.2.1", 0); // true
 * l.allow("192.0.2.1", 0); // false
 * l.allow("192.0.2.1", 0, false, true); // true: the proven budget is apart
 * ```
 */
export class SourceLimiter {
  readonly counters: Counters = new Counters();
  private readonly perSource: RateLimit;
  private readonly global: TokenBucket;
  private readonly globalProven: TokenBucket;
  private readonly maxSources: number;
  private readonly idleMs: number;
  /** source -> buckets, least recently used first. Bound: maxSources. */
  private readonly sources = new Map<string, Entry>();

  constructor(c: SourceLimiterConfig, now: number) {
    this.perSource = c.perSource ?? { rate: 20, burst: 10 };
    const g = c.global ?? { rate: 500, burst: 100 };
    this.global = new TokenBucket(g, now);
    this.globalProven = new TokenBucket(g, now);
    this.maxSources = c.maxSources ?? 8192;
    this.idleMs = c.idleMs ?? 60_000;
  }

  /** May `source` cause one unit of expensive work at `now`? Counts the refusals. */
  allow(source: string, now: number, trusted = false, proven = false): boolean {
    return this.check(source, now, trusted, proven) === "ok";
  }

  /**
   * As `allow`, saying which budget refused. `proven`: the packet showed that
   * its sender receives at this source (valid mac2); it draws on the proven
   * buckets, which unproven packets cannot empty.
   */
  check(source: string, now: number, trusted = false, proven = false): LimitVerdict {
    let e = this.sources.get(source);
    if (e === undefined) {
      if (this.sources.size >= this.maxSources) {
        const oldest = this.sources.keys().next().value as string;
        this.sources.delete(oldest);
        this.counters.add("sources_evicted");
      }
      e = { open: new TokenBucket(this.perSource, now), proven: null, last: now };
    } else {
      this.sources.delete(source);
    }
    e.last = now;
    this.sources.set(source, e);
    if (proven) e.proven ??= new TokenBucket(this.perSource, now);
    const mine = proven ? e.proven! : e.open;
    if (!mine.take(now)) {
      this.counters.add(proven ? "limited_source_proven" : "limited_source");
      return "source";
    }
    if (!trusted && !(proven ? this.globalProven : this.global).take(now)) {
      this.counters.add(proven ? "limited_global_proven" : "limited_global");
      return "global";
    }
    return "ok";
  }

  /** Forgets sources idle for `idleMs`. */
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
