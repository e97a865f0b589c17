/**
 * Node ids across a federation (issue 17, docs/federation.md "Ids"): which
 * id `--id auto` may hand out, the id bindings learned from federation peers
 * (FED_BIND), and how a conflict found when a split heals is resolved.
 *
 * - **Allocation** (`allocateId`): the lowest id that is not taken (live
 *   anywhere, bound locally, bound in the federation), but only while every
 *   federation peer is up; while any is down, only from our own stripe: ids
 *   with `id % 256 == own supernode id`. Stripes of distinct supernode ids
 *   are disjoint, so two sides of a split never hand out one id twice.
 * - **Bindings** (`FedBindings`): (network, id) -> { key, allocator, from,
 *   lastSeen } as peers announce them. A binding ages out `ageMs` (7 days)
 *   after its owner was last seen (each entry says how long ago, in
 *   seconds); a fresher announcement refreshes it.
 * - **Conflicts** (`bindingWins`): two keys bound to one (network, id): the
 *   lower allocator wins, then the lower key (bytewise): every supernode
 *   decides alike without talking. When our local binding loses, `learn`
 *   reports it (`localLoses`): the supernode sends its node NAK id_in_use,
 *   drops the binding, and the node registers again with `auto`.
 *
 * Bound: `maxEntries` (65 536) bindings; when full the one announced least
 * recently is evicted (`fed_bindings_evicted`). Counters: fed_bindings_learned,
 * fed_bindings_aged, fed_bindings_evicted, fed_binding_conflicts.
 *
 * Not here: local bindings (`members.ts`, whose allocator the caller tracks),
 * sending FED_BIND (`bindChunks` in fed_messages.ts).
 *
 * @module
 */
import { Counters } from "./backlog.ts";
import { MAX_NODE_ID, MIN_NODE_ID } from "./constants.ts";
import { type FedBindEntry, supernodeIdOk } from "./fed_messages.ts";

/** The stripe of an id: the supernode id that may allocate it while the federation is partial. */
export function stripeOf(id: number): number {
  return id % 256;
}

/** What `allocateId` needs. */
export interface AllocateInput {
  /** Our supernode id (1..255). */
  selfId: number;
  /** Every federation peer is up (`FederationTable.allUp()`). */
  allUp: boolean;
  /** True when `id` is live, or bound locally or in the federation, in the node's network. */
  taken: (id: number) => boolean;
}

/**
 * The id `--id auto` hands out, or null when none is free: the lowest free
 * id while all peers are up, else the lowest free id of our stripe.
 *
 * @example
 * ```ts
 * import { allocateId } from "./fed_ids.ts";
 * const used = new Set([1, 2, 3]);
 * allocateId({ selfId: 7, allUp: true, taken: (id) => used.has(id) }); // 4
 * allocateId({ selfId: 7, allUp: false, taken: (id) => used.has(id) }); // 7
 * ```
 */
export function allocateId(inp: AllocateInput): number | null {
  if (!supernodeIdOk(inp.selfId)) return null;
  if (inp.allUp) {
    for (let id = MIN_NODE_ID; id <= MAX_NODE_ID; id++) if (!inp.taken(id)) return id;
    return null;
  }
  for (let id = inp.selfId; id <= MAX_NODE_ID; id += 256) if (!inp.taken(id)) return id;
  return null;
}

/** One side of a binding, for the conflict rule. */
export interface BindingSide {
  allocator: number;
  key: Uint8Array;
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}

/**
 * True when binding `a` beats binding `b` for one (network, id) (different
 * keys): the lower allocator, then the lower key.
 *
 * @example
 * ```ts
 * import { bindingWins } from "./fed_ids.ts";
 * bindingWins({ allocator: 1, key: new Uint8Array(32).fill(9) }, { allocator: 2, key: new Uint8Array(32) }); // true
 * ```
 */
export function bindingWins(a: BindingSide, b: BindingSide): boolean {
  if (a.allocator !== b.allocator) return a.allocator < b.allocator;
  return compareKeys(a.key, b.key) < 0;
}

/** A binding learned from the federation. */
export interface FedBinding {
  key: Uint8Array;
  allocator: number;
  /** The peer that announced it. */
  from: number;
  /** When its owner was last seen (monotonic ms, ours). */
  lastSeen: number;
}

/** A conflict `learn` found. */
export interface BindConflict {
  network: number;
  nodeId: number;
  winner: BindingSide;
  loser: BindingSide;
  /** Our local binding lost: NAK its node id_in_use and drop the binding. */
  localLoses: boolean;
}

/** Options of `FedBindings`. */
export interface FedBindingsConfig {
  /** Most bindings (65 536). */
  maxEntries?: number;
  /** A binding lives this long after its owner was last seen (7 days). */
  ageMs?: number;
}

/**
 * The bindings the federation announced, bounded and ageing.
 *
 * @example
 * ```ts
 * import { FedBindings } from "./fed_ids.ts";
 * const b = new FedBindings();
 * b.learn(2, [{ network: 0, nodeId: 9, allocator: 2, ageS: 0, key: new Uint8Array(32) }], 0, () => undefined);
 * b.isBound(0, 9); // true
 * ```
 */
export class FedBindings {
  readonly counters: Counters = new Counters();
  readonly #max: number;
  readonly #ageMs: number;
  /** `network * 65536 + id` -> binding; least recently announced first. Bound: maxEntries. */
  readonly #map = new Map<number, FedBinding>();

  constructor(c: FedBindingsConfig = {}) {
    this.#max = c.maxEntries ?? 65_536;
    this.#ageMs = c.ageMs ?? 7 * 24 * 3600 * 1000;
  }

  /** Bindings held. */
  get size(): number {
    return this.#map.size;
  }

  /** The binding of (network, id), if any (do not modify). */
  holder(network: number, nodeId: number): Readonly<FedBinding> | undefined {
    return this.#map.get(network * 65536 + nodeId);
  }

  /** True when (network, id) is bound in the federation. */
  isBound(network: number, nodeId: number): boolean {
    return this.#map.has(network * 65536 + nodeId);
  }

  /** The id `key` is bound to in `network`, if any (the lowest when several). */
  idOf(network: number, key: Uint8Array): number | undefined {
    let best: number | undefined;
    for (const [k, b] of this.#map) {
      if (Math.floor(k / 65536) !== network || compareKeys(b.key, key) !== 0) continue;
      const id = k % 65536;
      if (best === undefined || id < best) best = id;
    }
    return best;
  }

  /**
   * Bindings announced by peer `from` at `now`. `local(network, id)` is our
   * own binding of that id (key and allocator), if any. Returns the
   * conflicts found; the winner is kept (a losing remote binding is not
   * stored, a losing local one is reported for the caller to drop).
   */
  learn(
    from: number,
    entries: readonly FedBindEntry[],
    now: number,
    local: (network: number, nodeId: number) => BindingSide | undefined,
  ): BindConflict[] {
    const conflicts: BindConflict[] = [];
    for (const e of entries) {
      const k = e.network * 65536 + e.nodeId;
      const mine = local(e.network, e.nodeId);
      if (mine && compareKeys(mine.key, e.key) !== 0) {
        const theirsWin = bindingWins(e, mine);
        this.counters.add("fed_binding_conflicts");
        conflicts.push({
          network: e.network,
          nodeId: e.nodeId,
          winner: theirsWin ? side(e) : side(mine),
          loser: theirsWin ? side(mine) : side(e),
          localLoses: theirsWin,
        });
        if (!theirsWin) continue;
      }
      const cur = this.#map.get(k);
      if (cur && compareKeys(cur.key, e.key) !== 0) {
        this.counters.add("fed_binding_conflicts");
        const theirsWin = bindingWins(e, cur);
        conflicts.push({
          network: e.network,
          nodeId: e.nodeId,
          winner: theirsWin ? side(e) : side(cur),
          loser: theirsWin ? side(cur) : side(e),
          localLoses: false,
        });
        if (!theirsWin) continue;
      }
      const lastSeen = Math.max(
        now - e.ageS * 1000,
        cur && compareKeys(cur.key, e.key) === 0 ? cur.lastSeen : -Infinity,
      );
      if (now - lastSeen >= this.#ageMs) continue;
      this.#map.delete(k);
      while (this.#map.size >= this.#max) {
        const oldest = this.#map.keys().next();
        if (oldest.done) break;
        this.#map.delete(oldest.value);
        this.counters.add("fed_bindings_evicted");
      }
      this.#map.set(k, { key: e.key.slice(), allocator: e.allocator, from, lastSeen });
      this.counters.add("fed_bindings_learned");
    }
    return conflicts;
  }

  /** Drops (network, id): its key was removed, or our conflict rule dropped it. */
  forget(network: number, nodeId: number): void {
    this.#map.delete(network * 65536 + nodeId);
  }

  /** Forgets bindings whose owner was not seen for `ageMs`. */
  age(now: number): void {
    for (const [k, b] of this.#map) {
      if (now - b.lastSeen >= this.#ageMs) {
        this.#map.delete(k);
        this.counters.add("fed_bindings_aged");
      }
    }
  }

  /** Ids bound in `network`. */
  idsIn(network: number): number[] {
    const ids: number[] = [];
    for (const k of this.#map.keys()) if (Math.floor(k / 65536) === network) ids.push(k % 65536);
    return ids.sort((a, b) => a - b);
  }
}

function side(b: BindingSide): BindingSide {
  return { allocator: b.allocator, key: b.key };
}
