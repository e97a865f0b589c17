/**
 * A node's roster and broadcast hold (issue 6), sans-IO: who the network's
 * other registered nodes are, so that `NodeCore` can fan a broadcast out to
 * them over the peer sessions (no key that opens a broadcast ever leaves the
 * nodes), and what to do with a broadcast before the first list came.
 *
 * - **Roster**: `SecureNode` sends ROSTER_REQUEST right after each
 *   registration (`requestDue` sees the sealer's registration count change)
 *   and every `rosterIntervalMs` (5 s) with the digest of the list it holds
 *   (`requestDigest`); the supernode answers only when the list changed
 *   (`apply`). Until the first ROSTER the request carries a random digest
 *   (never the empty list's), so the supernode answers even a lone node and
 *   "no roster yet" ends with the first answer. A node the supernode vouched
 *   for in a handshake joins the list at once (`learn`).
 * - **Broadcast hold**: a broadcast sent before this node has ever had a
 *   ROSTER (the moments after the first REGISTER_ACK) is kept (`hold`: at
 *   most `maxHeldBroadcasts`, 16, for `broadcastHoldMs`, 2 s) and handed back
 *   for the fan-out once the ROSTER comes (`take`), so the first ARP request
 *   after a start is not lost. A known roster stays known for the life of
 *   this object, across re-registrations and supernode restarts: the list
 *   from before is still the best guess (peer sessions outlive the
 *   supernode, and a restarted supernode's first list may miss nodes that
 *   have not come back yet); the next ROSTER replaces it. An empty ROSTER is
 *   a known roster: nothing is held, NodeCore counts `tx_broadcast_no_peers`.
 *
 * Bounds: the list holds at most `MAX_ROSTER` (512) ids; held broadcasts
 * `maxHeldBroadcasts`, each for `broadcastHoldMs`, the newest dropped when
 * full. Counters: `rosters`, `roster_learned`, `broadcast_held`,
 * `broadcast_held_sent`, `broadcast_held_dropped_age`,
 * `broadcast_held_dropped_overflow`.
 *
 * Not done here: sending the request and parsing the ROSTER (`SecureNode`,
 * `sec_messages.ts`), the fan-out itself (`NodeCore`).
 *
 * @module
 */
import type { Counters } from "./backlog.ts";
import type { CryptoSuite } from "./crypto_suite.ts";
import { MAX_ROSTER, rosterDigest } from "./sec_messages.ts";

/** Options of `Roster`. */
export interface RosterConfig {
  /** Only `randomBytes` is used (the digest before the first ROSTER). */
  suite: Pick<CryptoSuite, "randomBytes">;
  /** How often to ask for the roster. */
  rosterIntervalMs: number;
  /** How long a broadcast waits for the first roster. */
  broadcastHoldMs: number;
  /** Most broadcasts waiting for the first roster. */
  maxHeldBroadcasts: number;
}

/**
 * The other registered nodes of this node's network, and the broadcasts
 * waiting for the first list.
 *
 * @example
 * ```ts
 * import { Counters } from "./backlog.ts";
 * import { Roster } from "./roster.ts";
 * const r = new Roster({
 *   suite: { randomBytes: (b) => b.fill(7) },
 *   rosterIntervalMs: 5000,
 *   broadcastHoldMs: 2000,
 *   maxHeldBroadcasts: 16,
 * }, new Counters());
 * r.hold(new Uint8Array(60), 0); // true: no roster yet, kept
 * r.apply([3, 2, 1], 0x1234, 1);
 * r.ids; // [2, 3]
 * r.take(10).length; // 1
 * ```
 */
export class Roster {
  readonly #c: RosterConfig;
  readonly #counters: Counters;
  /** The other registered nodes of the network (from ROSTER), ascending. Bound: MAX_ROSTER. */
  #ids: number[] = [];
  #sum = rosterDigest([]);
  /** A ROSTER came (ever, for this object): broadcasts need not wait. */
  #known = false;
  /**
   * Broadcast frames (copies) waiting for the first roster, oldest first.
   * Bound: maxHeldBroadcasts, broadcastHoldMs.
   */
  #held: { at: number; frame: Uint8Array }[] = [];
  #nextRequestAt = Infinity;
  #seenRegistrations = 0;

  /** `counters`: where to count (the owner's, so the names stay in one set). */
  constructor(c: RosterConfig, counters: Counters) {
    this.#c = { ...c };
    this.#counters = counters;
  }

  /** The other registered nodes of the network, ascending (do not keep past the next call). */
  get ids(): readonly number[] {
    return this.#ids;
  }

  /** True once a ROSTER came. */
  get known(): boolean {
    return this.#known;
  }

  /** How many broadcasts wait for the first roster. */
  get heldCount(): number {
    return this.#held.length;
  }

  /** When the next ROSTER_REQUEST is due (with a supernode session and a node id). */
  get nextRequestAt(): number {
    return this.#nextRequestAt;
  }

  /** When the oldest held broadcast expires; `Infinity` when none is held. */
  heldDeadline(): number {
    return this.#held.length > 0 ? this.#held[0].at + this.#c.broadcastHoldMs : Infinity;
  }

  /** True when `registrations` (the sealer's count) changed since `requestDue` last saw it. */
  registeredSinceRequest(registrations: number): boolean {
    return registrations !== this.#seenRegistrations;
  }

  /**
   * True when a ROSTER_REQUEST should go now: right after a registration
   * (`registrations` changed), then every `rosterIntervalMs`. Call only with
   * a supernode session and a node id.
   */
  requestDue(now: number, registrations: number): boolean {
    if (registrations !== this.#seenRegistrations) {
      // Registered (again): the supernode knows our id now and answers a roster request.
      this.#seenRegistrations = registrations;
      this.#nextRequestAt = now;
    }
    if (now < this.#nextRequestAt) return false;
    this.#nextRequestAt = now + this.#c.rosterIntervalMs;
    return true;
  }

  /** The digest a ROSTER_REQUEST carries: random (never the empty list's) until the first ROSTER. */
  requestDigest(): number {
    if (this.#known) return this.#sum;
    const b = new Uint8Array(4);
    this.#c.suite.randomBytes(b);
    const d = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    return d === rosterDigest([]) ? (d ^ 1) >>> 0 : d;
  }

  /**
   * A ROSTER from the supernode: `ids` without `ownId` and 0, deduplicated,
   * ascending, at most MAX_ROSTER; `digest` as the supernode computed it.
   * Returns how many peers the list holds.
   */
  apply(ids: readonly number[], digest: number, ownId: number): number {
    this.#ids = [...new Set(ids)].filter((id) => id !== ownId && id !== 0)
      .sort((a, b) => a - b).slice(0, MAX_ROSTER);
    this.#sum = digest;
    this.#known = true;
    this.#counters.add("rosters");
    return this.#ids.length;
  }

  /**
   * A node the supernode vouched for in a handshake is a registered member:
   * broadcasts go to it before the next ROSTER names it. The digest stays
   * the supernode's, so the next ROSTER_REQUEST still fetches the real list.
   */
  learn(peer: number): void {
    const ids = this.#ids;
    if (ids.includes(peer) || ids.length >= MAX_ROSTER) return;
    this.#ids = [...ids, peer].sort((a, b) => a - b);
    this.#counters.add("roster_learned");
  }

  /** True when the roster is known and broadcasts wait to be taken. */
  hasHeld(): boolean {
    return this.#known && this.#held.length > 0;
  }

  /**
   * Keeps a copy of a broadcast `frame` while this node has had no roster
   * yet (true: kept, or dropped when full, counted); false when the roster
   * is known and the caller fans it out to `ids` now.
   */
  hold(frame: Uint8Array, now: number): boolean {
    if (this.#known) return false;
    this.expire(now);
    if (this.#held.length >= this.#c.maxHeldBroadcasts) {
      this.#counters.add("broadcast_held_dropped_overflow");
      return true;
    }
    this.#held.push({ at: now, frame: frame.slice() });
    this.#counters.add("broadcast_held");
    return true;
  }

  /**
   * The held broadcasts to fan out now that the roster is known, oldest
   * first (the caller owns them); those older than `broadcastHoldMs` are
   * dropped and counted instead.
   */
  take(now: number): Uint8Array[] {
    this.expire(now);
    if (!this.#known || this.#held.length === 0) return [];
    const frames = this.#held.map((h) => h.frame);
    this.#held = [];
    this.#counters.add("broadcast_held_sent", frames.length);
    return frames;
  }

  /** Drops (and counts) held broadcasts older than `broadcastHoldMs`. */
  expire(now: number): void {
    const h = this.#held;
    let n = 0;
    while (n < h.length && now - h[n].at >= this.#c.broadcastHoldMs) n++;
    if (n === 0) return;
    this.#held = h.slice(n);
    this.#counters.add("broadcast_held_dropped_age", n);
  }
}
