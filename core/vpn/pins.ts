/**
 * A node's own view of its peers' public keys (issue 6), sans-IO: the check
 * `SecureNode` makes before it takes a key the supernode vouches for
 * (PEER_KEY, or the vouch on a relayed handshake).
 *
 * - With a `trusted` list (the daemon's `peers`): only listed keys, each for
 *   its id when one is given (`not_trusted`, `trusted_for_other_id`).
 * - Otherwise trust on first use: the first key seen for a node id is
 *   pinned; a different key for that id is refused (`pin_mismatch`) until
 *   the pin ages out (`pinAgeMs`, 7 days after the key was last seen: the
 *   supernode's binding age), the supernode revokes the pinned key
 *   (`forgetKey`), or the operator removes it (`importPins`).
 *
 * So a compromised supernode cannot put itself between two nodes that have
 * met. Bound: `maxPins` (4096) pins, the least recently seen evicted when
 * full (counted `pins_evicted`); pins of peers with a live session are kept
 * fresh by `refresh`. Counters: `pins_added`, `pins_aged`, `pins_evicted`,
 * `peer_key_refused_<reason>`.
 *
 * Not done here: the refusal's event and log line (the caller's), saving
 * the pins to a file (the daemon's, through `exportPins`/`importPins`).
 *
 * @module
 */
import type { Counters } from "./backlog.ts";
import { type CryptoSuite, hex } from "./crypto_suite.ts";

/** A peer key the node accepts (`SecureNodeConfig.trusted`). */
export interface TrustedPeer {
  key: Uint8Array;
  /** The only node id this key may hold (any when absent). */
  id?: number;
}

/** Why a vouched peer key was refused. */
export type PeerKeyRefusal = "pin_mismatch" | "not_trusted" | "trusted_for_other_id";

/** Default `pinAgeMs`: the supernode's id binding age. */
export const PIN_AGE_MS = 7 * 24 * 3600_000;

/** Options of `PeerPins`. */
export interface PeerPinsConfig {
  /** Only `equal` is used (constant-time comparison). */
  suite: Pick<CryptoSuite, "equal">;
  /** Non-empty: only these keys, each for its `id` when given. Empty: trust on first use. */
  trusted: readonly TrustedPeer[];
  /** How long a pin lives after its key was last seen. */
  pinAgeMs: number;
  /** Most pins. */
  maxPins: number;
}

/**
 * Trusted keys and first-use pins of one node.
 *
 * @example
 * ```ts
 * import { Counters } from "./backlog.ts";
 * import { PeerPins, PIN_AGE_MS } from "./pins.ts";
 * const equal = (a: Uint8Array, b: Uint8Array) =>
 *   a.length === b.length && a.every((x, i) => x === b[i]);
 * const pins = new PeerPins(
 *   { suite: { equal }, trusted: [], pinAgeMs: PIN_AGE_MS, maxPins: 16 },
 *   new Counters(),
 * );
 * pins.accept(7, new Uint8Array(32).fill(1), 0); // null: pinned on first use
 * pins.accept(7, new Uint8Array(32).fill(2), 1000)?.reason; // "pin_mismatch"
 * ```
 */
export class PeerPins {
  readonly #c: PeerPinsConfig;
  readonly #counters: Counters;
  /** node id -> pinned key (trust on first use). Bound: maxPins. */
  readonly #pins = new Map<number, { key: Uint8Array; seen: number }>();

  /** `counters`: where to count (the owner's, so the names stay in one set). */
  constructor(c: PeerPinsConfig, counters: Counters) {
    this.#c = { ...c, trusted: c.trusted.map((t) => ({ ...t, key: t.key.slice() })) };
    this.#counters = counters;
  }

  /**
   * Null when `key` may be `peer`'s key by this node's own view (trusted
   * list or pin), which pins it on first use; else why not (counted
   * `peer_key_refused_<reason>`), with the pinned key for `pin_mismatch`.
   */
  accept(
    peer: number,
    key: Uint8Array,
    now: number,
  ): { reason: PeerKeyRefusal; pinned?: Uint8Array } | null {
    let reason: PeerKeyRefusal | null = null;
    let pinned: Uint8Array | undefined;
    const equal = this.#c.suite.equal;
    if (this.#c.trusted.length > 0) {
      const t = this.#c.trusted.find((x) => equal(x.key, key));
      if (t === undefined) reason = "not_trusted";
      else if (t.id !== undefined && t.id !== peer) reason = "trusted_for_other_id";
    } else {
      const pin = this.#pins.get(peer);
      if (pin !== undefined && !equal(pin.key, key)) {
        if (now - pin.seen < this.#c.pinAgeMs) {
          reason = "pin_mismatch";
          pinned = pin.key;
        } else {
          this.#pins.delete(peer);
          this.#counters.add("pins_aged");
        }
      }
      if (reason === null) this.#pin(peer, key, now);
    }
    if (reason === null) return null;
    this.#counters.add(`peer_key_refused_${reason}`);
    return pinned ? { reason, pinned } : { reason };
  }

  #pin(peer: number, key: Uint8Array, now: number): void {
    const old = this.#pins.get(peer);
    if (old !== undefined) {
      old.seen = now;
      return;
    }
    if (this.#pins.size >= this.#c.maxPins) {
      let oldest: number | undefined;
      let at = Infinity;
      for (const [id, p] of this.#pins) {
        if (p.seen < at) {
          at = p.seen;
          oldest = id;
        }
      }
      if (oldest !== undefined) this.#pins.delete(oldest);
      this.#counters.add("pins_evicted");
    }
    this.#pins.set(peer, { key: key.slice(), seen: now });
    this.#counters.add("pins_added");
  }

  /** The supernode revoked `key`: its pins go (the id may pass to another key). */
  forgetKey(key: Uint8Array): void {
    for (const [peer, pin] of this.#pins) {
      if (this.#c.suite.equal(pin.key, key)) this.#pins.delete(peer);
    }
  }

  /** Marks the pins of the peers `live` says yes to (a session) as seen at `now`. */
  refresh(now: number, live: (peer: number) => boolean): void {
    for (const [peer, pin] of this.#pins) {
      if (live(peer)) pin.seen = now;
    }
  }

  /**
   * The pins for the daemon's state file: [node id, key (hex), ms since last
   * seen]. Nothing secret (public keys).
   */
  exportPins(now: number): [number, string, number][] {
    return [...this.#pins].map((
      [id, p],
    ) => [id, hex(p.key), Math.max(0, Math.round(now - p.seen))]);
  }

  /**
   * Replaces the pins with `data` (as `exportPins` wrote it, maybe edited by
   * the operator). Entries that do not parse or have aged out are skipped;
   * returns how many were taken.
   */
  importPins(data: unknown, now: number): number {
    this.#pins.clear();
    if (!Array.isArray(data)) return 0;
    for (const e of data) {
      if (!Array.isArray(e) || e.length !== 3) continue;
      const [id, key, age] = e;
      if (!Number.isInteger(id) || id < 1 || id > 0xfffe) continue;
      if (typeof key !== "string" || !/^[0-9a-f]{64}$/.test(key)) continue;
      if (typeof age !== "number" || !(age >= 0) || age >= this.#c.pinAgeMs) continue;
      if (this.#pins.size >= this.#c.maxPins) break;
      this.#pins.set(id, { key: fromHex(key), seen: now - age });
    }
    return this.#pins.size;
  }

  /** How many pins there are. */
  get size(): number {
    return this.#pins.size;
  }
}

function fromHex(s: string): Uint8Array {
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}
