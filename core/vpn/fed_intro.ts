/**
 * Introductions across supernodes (issue 17, docs/federation.md
 * "Introductions"), sans-IO: which FED_INTRO requests may go out, which
 * answers match one, and which incoming requests a supernode passes on to
 * its node, so neither a node nor a peer supernode can make a supernode send
 * more than one introduction per pair per `pairIntervalMs`.
 *
 * - `request`: a local node's PEER_REQUEST for a target attached at `peer`:
 *   true when a FED_INTRO request may go now (one per (network, requester,
 *   target) per 2 s); it stays pending until the answer or `timeoutMs` (2 s).
 * - `answer`: a FED_INTRO answer from `peer`: true only when it matches a
 *   pending request to that peer (consumed); else dropped and counted.
 * - `incoming`: a FED_INTRO request from `peer` for a target attached here:
 *   true when the PEER_INTRO to the target and the answer may go now (the
 *   same limit per pair).
 *
 * Bound: `maxPending` (1024) entries in each table; when full, new ones are
 * refused and counted. Counters: fed_intro_sent, fed_intro_limited,
 * fed_intro_full, fed_intro_answered, fed_intro_unexpected, fed_intro_expired,
 * fed_intro_in, fed_intro_in_limited, fed_intro_in_full.
 *
 * @module
 */
import { Counters } from "./backlog.ts";

/** Options of `FedIntros`. */
export interface FedIntrosConfig {
  /** Most pending requests, and most recent incoming pairs (1024). */
  maxPending?: number;
  /** A request waits this long for its answer (2000). */
  timeoutMs?: number;
  /** One introduction per pair per this long (2000). */
  pairIntervalMs?: number;
}

interface Pending {
  peer: number;
  at: number;
  answered: boolean;
}

function pairKey(network: number, requester: number, target: number): number {
  return (network * 65536 + requester) * 65536 + target;
}

/**
 * Pending and recent introductions across supernodes.
 *
 * @example
 * ```ts
 * import { FedIntros } from "./fed_intro.ts";
 * const f = new FedIntros();
 * f.request(0, 5, 9, 2, 0); // true: send FED_INTRO to supernode 2
 * f.request(0, 5, 9, 2, 100); // false: one per pair per 2 s
 * f.answer(0, 5, 9, 2, 150); // true: send PEER_INTRO to node 5
 * f.answer(0, 5, 9, 2, 160); // false: already answered
 * ```
 */
export class FedIntros {
  readonly counters: Counters = new Counters();
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #pairMs: number;
  /** Our requests by pair, oldest first. Bound: maxPending, pairIntervalMs. */
  readonly #out = new Map<number, Pending>();
  /** Incoming requests by pair, oldest first. Bound: maxPending, pairIntervalMs. */
  readonly #in = new Map<number, number>();

  constructor(c: FedIntrosConfig = {}) {
    this.#max = c.maxPending ?? 1024;
    this.#timeoutMs = c.timeoutMs ?? 2000;
    this.#pairMs = c.pairIntervalMs ?? 2000;
  }

  /** True when a FED_INTRO request for (network, requester -> target) may go to `peer` now. */
  request(network: number, requester: number, target: number, peer: number, now: number): boolean {
    this.expire(now);
    const k = pairKey(network, requester, target);
    if (this.#out.has(k)) {
      this.counters.add("fed_intro_limited");
      return false;
    }
    if (this.#out.size >= this.#max) {
      this.counters.add("fed_intro_full");
      return false;
    }
    this.#out.set(k, { peer, at: now, answered: false });
    this.counters.add("fed_intro_sent");
    return true;
  }

  /** True when a FED_INTRO answer from `peer` matches a pending request (then it is consumed). */
  answer(network: number, requester: number, target: number, peer: number, now: number): boolean {
    this.expire(now);
    const p = this.#out.get(pairKey(network, requester, target));
    if (!p || p.answered || p.peer !== peer || now - p.at >= this.#timeoutMs) {
      this.counters.add("fed_intro_unexpected");
      return false;
    }
    p.answered = true; // kept until the pair interval ends: the limit still holds
    this.counters.add("fed_intro_answered");
    return true;
  }

  /** True when an incoming FED_INTRO request may be passed to our node and answered now. */
  incoming(network: number, requester: number, target: number, now: number): boolean {
    this.expire(now);
    const k = pairKey(network, requester, target);
    if (this.#in.has(k)) {
      this.counters.add("fed_intro_in_limited");
      return false;
    }
    if (this.#in.size >= this.#max) {
      this.counters.add("fed_intro_in_full");
      return false;
    }
    this.#in.set(k, now);
    this.counters.add("fed_intro_in");
    return true;
  }

  /** Forgets entries older than the pair interval (counting unanswered requests as expired). */
  expire(now: number): void {
    for (const [k, p] of this.#out) {
      if (now - p.at < Math.max(this.#pairMs, this.#timeoutMs)) break;
      if (!p.answered) this.counters.add("fed_intro_expired");
      this.#out.delete(k);
    }
    for (const [k, at] of this.#in) {
      if (now - at < this.#pairMs) break;
      this.#in.delete(k);
    }
  }

  /** When the oldest entry expires; Infinity when none. */
  nextDeadline(): number {
    let t = Infinity;
    const o = this.#out.values().next();
    if (!o.done) t = o.value.at + Math.max(this.#pairMs, this.#timeoutMs);
    const i = this.#in.values().next();
    if (!i.done) t = Math.min(t, i.value + this.#pairMs);
    return t;
  }

  /** Requests waiting (answered or not) and incoming pairs remembered. */
  get size(): { out: number; in: number } {
    return { out: this.#out.size, in: this.#in.size };
  }
}
