/**
 * The supernode's memory of which node identity held which node id, so a
 * node with `auto` ids gets the same id back after it (or the supernode's
 * registration of it) restarts, and an id freed by one node is not handed to
 * another while remote ARP/NDP caches may still hold its MAT addresses.
 *
 * One table per network. Bounded: at most `maxEntries` identities (the
 * least recently seen is evicted when full, counted in `evicted`); an entry
 * not refreshed for `ageMs` is forgotten (counted in `aged`). Map insertion
 * order is the recency order: `touch` re-inserts.
 *
 * Not done: persistence across supernode restarts (a restarted supernode
 * relies on nodes asking for their previous id, see `supernode.ts`).
 *
 * @module
 */

interface Entry {
  id: number;
  lastSeen: number;
}

/** identity (hex) -> node id, bounded and ageing. */
export class IdTable {
  /** At most `maxEntries` entries, oldest evicted. */
  private readonly byIdentity = new Map<string, Entry>();
  /** Reverse index, same size as `byIdentity`. */
  private readonly byId = new Map<number, string>();
  /** Entries evicted because the table was full. */
  evicted = 0;
  /** Entries forgotten after `ageMs` without a refresh. */
  aged = 0;

  constructor(private readonly maxEntries: number, private readonly ageMs: number) {}

  /** The id last held by `identity`, if remembered. */
  idOf(identity: string): number | undefined {
    return this.byIdentity.get(identity)?.id;
  }

  /** The identity that last held `id`, if remembered. */
  holderOf(id: number): string | undefined {
    return this.byId.get(id);
  }

  /** Records that `identity` holds `id` at `now`; an older claim on `id` by another identity is dropped. */
  touch(identity: string, id: number, now: number): void {
    const old = this.byIdentity.get(identity);
    if (old) {
      this.byIdentity.delete(identity);
      if (this.byId.get(old.id) === identity) this.byId.delete(old.id);
    }
    const other = this.byId.get(id);
    if (other !== undefined && other !== identity) this.byIdentity.delete(other);
    while (this.byIdentity.size >= this.maxEntries) {
      const first = this.byIdentity.entries().next().value;
      if (!first) break;
      this.byIdentity.delete(first[0]);
      if (this.byId.get(first[1].id) === first[0]) this.byId.delete(first[1].id);
      this.evicted++;
    }
    this.byIdentity.set(identity, { id, lastSeen: now });
    this.byId.set(id, identity);
  }

  /** Forgets entries not refreshed for `ageMs`. */
  age(now: number): void {
    for (const [identity, e] of this.byIdentity) {
      if (now - e.lastSeen < this.ageMs) break;
      this.byIdentity.delete(identity);
      if (this.byId.get(e.id) === identity) this.byId.delete(e.id);
      this.aged++;
    }
  }

  /** Number of remembered identities. */
  get size(): number {
    return this.byIdentity.size;
  }
}

/** Lower-case hex of bytes (identities as table keys and in status). */
export function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, "0");
  return s;
}
