/**
 * Who may join a network, and which public key owns which node id (issue 6).
 *
 * Two modes, chosen explicitly by the supernode's configuration:
 * - `members`: only the X25519 public keys listed are admitted. An entry may
 *   pin a node id (then only that key may hold it) and restrict the networks.
 * - `open`: any key is admitted whose handshake proves the network secret
 *   (the psk of the handshake); the secret is checked by the handshake, not here.
 *
 * In both modes a node id is bound to the first key that registers it and
 * no other key can take it while the binding lives: `bindingAgeMs` (7 days,
 * as the supernode's identity memory) after the owner was last seen, or until
 * the owner's key is removed from the list. Bindings are a bounded table
 * (`maxBindings`, default 65 536): when full, the binding seen least recently
 * is evicted (counted `bindings_evicted`). One key holds at most `maxIdsPerKey`
 * ids per network (default 2, issue 13): binding one more releases that key's
 * least recently seen id (`bindings_released_key_limit`), so a member cannot
 * squat every id.
 *
 * `setMembers()` replaces the list (SIGHUP) and returns the keys that were
 * removed, so the supernode can cut their sessions at once.
 *
 * Not here: persistence of bindings across supernode restarts (the daemon
 * saves `exportBindings` in its state directory and loads it with
 * `importBindings`, cmd/supernode.ts), sessions (`secure_supernode.ts`).
 *
 * @module
 */
import { Counters } from "./backlog.ts";
import { MAX_NODE_ID, MIN_NODE_ID } from "./constants.ts";
import { hex } from "./crypto_suite.ts";
import type { RejectReason } from "./handshake.ts";

/** How a network admits nodes. */
export type MemberMode = "members" | "open";

/** One listed member. */
export interface Member {
  /** X25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** A node id only this key may hold (1..65534). */
  id?: number;
  /** Networks this key may join (all when absent). */
  networks?: readonly number[];
  /** A label for logs. */
  name?: string;
}

/** Options of `Members`. */
export interface MembersConfig {
  mode: MemberMode;
  members?: readonly Member[];
  /** Most id bindings kept (default 65 536). */
  maxBindings?: number;
  /** A binding lives this long after its owner was last seen (default 7 days). */
  bindingAgeMs?: number;
  /** Most ids one key holds bound per network (default 2); one more releases its oldest. */
  maxIdsPerKey?: number;
}

interface Binding {
  key: string;
  lastSeen: number;
}

/**
 * The member list and the id bindings.
 *
 * @example
 * ```ts
 * import { Members } from "./members.ts";
 * const m = new Members({ mode: "members", members: [{ publicKey: new Uint8Array(32).fill(1) }] });
 * m.admit(0, new Uint8Array(32).fill(1), 5); // "ok"
 * m.admit(0, new Uint8Array(32).fill(2), 5); // "not_member"
 * ```
 */
export class Members {
  readonly mode: MemberMode;
  readonly counters: Counters = new Counters();
  private list = new Map<string, Member>();
  private pinned = new Map<number, string>();
  /** (network << 16 | id) -> owner key (hex). Bound: maxBindings, LRU by last touch. */
  private bindings = new Map<number, Binding>();
  private readonly maxBindings: number;
  private readonly bindingAgeMs: number;
  private readonly maxIdsPerKey: number;
  /** "network:key" -> its bound slots. Bound: maxIdsPerKey each, one entry per key with bindings. */
  private readonly byKey = new Map<string, Set<number>>();

  constructor(c: MembersConfig) {
    this.mode = c.mode;
    this.maxIdsPerKey = c.maxIdsPerKey ?? 2;
    this.maxBindings = c.maxBindings ?? 65_536;
    this.bindingAgeMs = c.bindingAgeMs ?? 7 * 24 * 3600_000;
    this.setMembers(c.members ?? []);
  }

  /** Replaces the list; returns the public keys no longer listed. */
  setMembers(members: readonly Member[]): Uint8Array[] {
    const next = new Map<string, Member>();
    const pinned = new Map<number, string>();
    for (const m of members) {
      const k = hex(m.publicKey);
      next.set(k, { ...m, publicKey: m.publicKey.slice() });
      if (m.id !== undefined) pinned.set(m.id, k);
    }
    const removed: Uint8Array[] = [];
    for (const [k, m] of this.list) if (!next.has(k)) removed.push(m.publicKey);
    this.list = next;
    this.pinned = pinned;
    if (this.mode === "members") {
      const gone = new Set(removed.map(hex));
      for (const [slot, b] of this.bindings) {
        if (gone.has(b.key)) {
          this.unbind(slot);
          this.counters.add("bindings_revoked");
        }
      }
    }
    return removed;
  }

  /** The listed entry of a key, if any. */
  member(publicKey: Uint8Array): Member | undefined {
    return this.list.get(hex(publicKey));
  }

  /** Every listed member (the federation's member digest). */
  listed(): Member[] {
    return [...this.list.values()];
  }

  /** Number of listed members. */
  get size(): number {
    return this.list.size;
  }

  /**
   * May `publicKey` join `network` asking for node id `requested` (0: any)?
   * "ok" or the reason of the refusal. Does not bind.
   */
  admit(network: number, publicKey: Uint8Array, requested: number): "ok" | RejectReason {
    const k = hex(publicKey);
    if (requested !== 0 && (requested < MIN_NODE_ID || requested > MAX_NODE_ID)) return "bad_id";
    if (this.mode === "members") {
      const m = this.list.get(k);
      if (m === undefined) return "not_member";
      if (m.networks !== undefined && !m.networks.includes(network)) return "not_member";
      if (m.id !== undefined && requested !== 0 && requested !== m.id) return "id_bound";
    }
    return requested === 0 || this.mayHold(network, requested, publicKey) ? "ok" : "id_bound";
  }

  /** May `publicKey` hold `id` in `network` (pinned to it, or unbound, or bound to it)? */
  mayHold(network: number, id: number, publicKey: Uint8Array): boolean {
    const k = hex(publicKey);
    const p = this.pinned.get(id);
    if (p !== undefined) return p === k;
    const b = this.bindings.get(slot(network, id));
    return b === undefined || b.key === k;
  }

  /** The key (hex) that owns `id` in `network`, if bound or pinned. */
  owner(network: number, id: number): string | undefined {
    return this.pinned.get(id) ?? this.bindings.get(slot(network, id))?.key;
  }

  /** Binds `id` to `publicKey` (or refreshes the binding). False when another key holds it. */
  bind(network: number, id: number, publicKey: Uint8Array, now: number): boolean {
    if (!this.mayHold(network, id, publicKey)) {
      this.counters.add("bind_refused");
      return false;
    }
    const s = slot(network, id);
    const b = this.bindings.get(s);
    if (b !== undefined) {
      this.bindings.delete(s); // re-insert: Map order is least recently touched first
      b.lastSeen = now;
      this.bindings.set(s, b);
      return true;
    }
    const key = hex(publicKey);
    const mine = this.byKey.get(`${network}:${key}`);
    if (mine !== undefined && mine.size >= this.maxIdsPerKey) {
      // The key's least recently seen id goes.
      let oldest = -1;
      let at = Infinity;
      for (const slot of mine) {
        const x = this.bindings.get(slot);
        if (x !== undefined && x.lastSeen < at) [oldest, at] = [slot, x.lastSeen];
      }
      this.unbind(oldest);
      this.counters.add("bindings_released_key_limit");
    }
    if (this.bindings.size >= this.maxBindings) {
      this.unbind(this.bindings.keys().next().value as number);
      this.counters.add("bindings_evicted");
    }
    this.setBinding(s, { key, lastSeen: now });
    this.counters.add("bindings");
    return true;
  }

  private setBinding(s: number, b: Binding): void {
    this.bindings.set(s, b);
    const k = `${Math.floor(s / 0x1_0000)}:${b.key}`;
    let set = this.byKey.get(k);
    if (set === undefined) this.byKey.set(k, set = new Set());
    set.add(s);
  }

  private unbind(s: number): void {
    const b = this.bindings.get(s);
    if (b === undefined) return;
    this.bindings.delete(s);
    const k = `${Math.floor(s / 0x1_0000)}:${b.key}`;
    const set = this.byKey.get(k);
    set?.delete(s);
    if (set !== undefined && set.size === 0) this.byKey.delete(k);
  }

  /** Forgets bindings not seen for `bindingAgeMs`. */
  sweep(now: number): void {
    for (const [s, b] of this.bindings) {
      if (now - b.lastSeen < this.bindingAgeMs) break; // oldest first
      this.unbind(s);
      this.counters.add("bindings_aged");
    }
  }

  /** Number of bindings held. */
  get bindingCount(): number {
    return this.bindings.size;
  }

  /**
   * The bindings for the daemon's state directory: `[network, id, key hex,
   * ms since last seen]`, least recently seen first.
   */
  exportBindings(now: number): [number, number, string, number][] {
    const out: [number, number, string, number][] = [];
    for (const [s, b] of this.bindings) {
      out.push([Math.floor(s / 0x1_0000), s % 0x1_0000, b.key, Math.max(0, now - b.lastSeen)]);
    }
    return out;
  }

  /**
   * Restores bindings written by `exportBindings` (after a restart). Entries
   * that do not parse, have aged out, or (members mode) belong to keys no
   * longer listed are skipped; returns how many were restored.
   */
  importBindings(data: unknown, now: number): number {
    if (!Array.isArray(data)) return 0;
    let n = 0;
    for (const e of data) {
      if (!Array.isArray(e) || e.length !== 4) continue;
      const [network, id, key, age] = e;
      if (
        !Number.isInteger(network) || network < 0 || network > 0xffff ||
        !Number.isInteger(id) || id < MIN_NODE_ID || id > MAX_NODE_ID ||
        typeof key !== "string" || !/^[0-9a-f]{64}$/.test(key) ||
        typeof age !== "number" || !(age >= 0) || age >= this.bindingAgeMs
      ) continue;
      if (this.mode === "members" && !this.list.has(key)) continue;
      if (this.bindings.size >= this.maxBindings) break;
      const mine = this.byKey.get(`${network}:${key}`);
      if (mine !== undefined && mine.size >= this.maxIdsPerKey) continue;
      this.unbind(slot(network, id));
      this.setBinding(slot(network, id), { key, lastSeen: now - age });
      n++;
    }
    return n;
  }
}

function slot(network: number, id: number): number {
  return network * 0x1_0000 + id;
}
