/**
 * The leaf table of a VPN node: which leaf id (the CCCC of the MAT address
 * 00:AA:BB:BB:CC:CC) each real MAC behind the node holds.
 *
 * - Leaf ids are 1..maxLeaves; leaf 0 is the node's own TAP address and is
 *   never given out here.
 * - An id is allocated the first time a real MAC is seen and refreshed every
 *   time it is seen again (`leafFor`).
 * - `expire(now)` frees ids idle for `idleMs` or more. A freed id goes into
 *   quarantine: remote ARP/ND caches may still map an IP address to its
 *   translated MAC, so it is not handed to another host until `quarantineMs`
 *   after it was freed.
 * - A real MAC that comes back while its old id is still unused gets that id
 *   back ("reclaimed"), within quarantine or after it.
 * - New MACs get never-used ids first, then the longest-quarantined id whose
 *   quarantine has passed. When neither exists the request is refused
 *   (`leafFor` returns -1, counted in `refusedFull`).
 *
 * State lives in typed arrays indexed by leaf id, with two intrusive
 * doubly linked lists: ids in use in least-recently-seen order (so
 * `expire` and `nextDeadline` are O(1) per expired id) and quarantined ids
 * in the order they were freed.
 *
 * `toJSON()` / `LeafTable.fromJSON()` save and restore the allocation, so a
 * restarted node gives every host the id it had. Times are not saved
 * (monotonic clocks do not survive a restart): restored ids in use start a
 * fresh idle period, restored quarantined ids a fresh quarantine.
 *
 * Not done here: the translation itself (`core/mat.ts`), file I/O.
 *
 * @module
 */
import { formatMac, isGroup, type MacKey, parseMac } from "./mac.ts";
import type { LeafMap } from "./leaf_map.ts";

/** Leaf table configuration. */
export interface LeafTableOptions {
  /** Highest leaf id, 1..65535. Default 4096. */
  maxLeaves?: number;
  /** Idle time after which a leaf id is freed, ms. Default 600 000 (10 min). */
  idleMs?: number;
  /** Time a freed id waits before another MAC may get it, ms. Default 1 800 000 (30 min). */
  quarantineMs?: number;
}

/** Leaf table counters. */
export interface LeafCounters {
  /** Ids given to MACs that had none (fresh or reused after quarantine). */
  allocated: number;
  /** Ids freed for idleness. */
  expired: number;
  /** Ids given back to the MAC that held them before. */
  reclaimed: number;
  /** Requests refused: no never-used id and no id past quarantine. */
  refusedFull: number;
  /** Requests refused: the MAC is a group address or zero. */
  refusedInvalid: number;
}

/** One saved leaf: id and real MAC. */
export interface SavedLeaf {
  leaf: number;
  mac: string;
}

/** What `toJSON()` returns and `fromJSON()` accepts. */
export interface LeafTableSave {
  version: 1;
  /** Ids in use, least recently seen first. */
  leaves: SavedLeaf[];
  /** Quarantined ids (with the MAC that held them), freed earliest first. */
  quarantined: SavedLeaf[];
}

/** Plain JSON-able state for /status. */
export interface LeafTableSnapshot {
  maxLeaves: number;
  idleMs: number;
  quarantineMs: number;
  inUse: number;
  quarantined: number;
  neverUsed: number;
  counters: LeafCounters;
  /** Ids in use, least recently seen first. */
  leaves: { leaf: number; mac: string; idleMs: number }[];
}

const FREE = 0;
const USED = 1;
const QUAR = 2;

/**
 * Leaf id allocation with idle aging, quarantine and persistence.
 *
 * @example
 * ```ts
 * import { LeafTable } from "./leaf_table.ts";
 * const t = new LeafTable({ maxLeaves: 100, idleMs: 600_000 });
 * const leaf = t.leafFor(0x001122334455, 0); // 1
 * t.realFor(leaf); // 0x001122334455
 * t.expire(600_000); // 1: idle for 10 min, id 1 goes into quarantine
 * t.leafFor(0x001122334455, 700_000); // 1 again: reclaimed
 * ```
 */
export class LeafTable implements LeafMap {
  /** Bound: ids are 1..maxLeaves, so at most maxLeaves MACs hold ids. */
  readonly maxLeaves: number;
  readonly idleMs: number;
  readonly quarantineMs: number;

  #state: Uint8Array;
  #real: Float64Array;
  /** Last seen (in use) or freed at (quarantined). */
  #time: Float64Array;
  #prev: Int32Array;
  #next: Int32Array;
  /** Sentinels of the two lists. */
  readonly #usedHead: number;
  readonly #quarHead: number;
  /** MAC to id, for ids in use and quarantined. Bound: maxLeaves entries. */
  #byMac = new Map<MacKey, number>();
  /** Lowest id that may never have been used. */
  #fresh = 1;
  #inUse = 0;
  #quarantined = 0;
  #c: LeafCounters = {
    allocated: 0,
    expired: 0,
    reclaimed: 0,
    refusedFull: 0,
    refusedInvalid: 0,
  };

  /** An empty table. Throws RangeError on bad options (config time). */
  constructor(opts: LeafTableOptions = {}) {
    const max = opts.maxLeaves ?? 4096;
    if (!Number.isInteger(max) || max < 1 || max > 0xffff) {
      throw new RangeError(
        `Cannot create leaf table: maxLeaves must be an integer 1..65535, got ${max}`,
      );
    }
    this.maxLeaves = max;
    this.idleMs = duration("idleMs", opts.idleMs ?? 600_000, true);
    this.quarantineMs = duration("quarantineMs", opts.quarantineMs ?? 1_800_000, false);
    const n = max + 3;
    this.#state = new Uint8Array(n);
    this.#real = new Float64Array(n);
    this.#time = new Float64Array(n);
    this.#prev = new Int32Array(n);
    this.#next = new Int32Array(n);
    this.#usedHead = max + 1;
    this.#quarHead = max + 2;
    for (const h of [this.#usedHead, this.#quarHead]) {
      this.#prev[h] = h;
      this.#next[h] = h;
    }
  }

  /** The leaf id of `real`, allocating or reclaiming one; -1 when refused (counted). */
  leafFor(real: MacKey, now: number): number {
    const known = this.#byMac.get(real);
    if (known !== undefined) {
      if (this.#state[known] === QUAR) {
        this.#unlink(known);
        this.#quarantined--;
        this.#state[known] = USED;
        this.#inUse++;
        this.#c.reclaimed++;
      } else {
        this.#unlink(known);
      }
      this.#time[known] = now;
      this.#append(this.#usedHead, known);
      return known;
    }
    if (!(real > 0 && real <= 0xffff_ffff_ffff && Number.isInteger(real)) || isGroup(real)) {
      this.#c.refusedInvalid++;
      return -1;
    }
    let id: number;
    while (this.#fresh <= this.maxLeaves && this.#state[this.#fresh] !== FREE) this.#fresh++;
    if (this.#fresh <= this.maxLeaves) {
      id = this.#fresh++;
    } else {
      id = this.#next[this.#quarHead];
      if (id === this.#quarHead || this.#time[id] + this.quarantineMs > now) {
        this.#c.refusedFull++;
        return -1;
      }
      this.#unlink(id);
      this.#quarantined--;
      this.#byMac.delete(this.#real[id]);
    }
    this.#state[id] = USED;
    this.#real[id] = real;
    this.#time[id] = now;
    this.#append(this.#usedHead, id);
    this.#byMac.set(real, id);
    this.#inUse++;
    this.#c.allocated++;
    return id;
  }

  /** The real MAC holding `leaf`, or -1 when that id is not in use. */
  realFor(leaf: number): MacKey | -1 {
    if (!(leaf >= 1 && leaf <= this.maxLeaves) || this.#state[leaf] !== USED) return -1;
    return this.#real[leaf];
  }

  /** Frees ids idle for `idleMs` or more at `now` into quarantine; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (;;) {
      const id = this.#next[this.#usedHead];
      if (id === this.#usedHead || this.#time[id] + this.idleMs > now) break;
      this.#unlink(id);
      this.#inUse--;
      this.#state[id] = QUAR;
      this.#time[id] = now;
      this.#append(this.#quarHead, id);
      this.#quarantined++;
      this.#c.expired++;
      n++;
    }
    return n;
  }

  /** When the least recently seen id becomes idle (ms); `Infinity` when none is in use. */
  nextDeadline(): number {
    const id = this.#next[this.#usedHead];
    return id === this.#usedHead ? Infinity : this.#time[id] + this.idleMs;
  }

  /** Ids in use. */
  get size(): number {
    return this.#inUse;
  }

  /** A copy of the counters. */
  counters(): LeafCounters {
    return { ...this.#c };
  }

  /** Plain JSON-able state for /status. */
  snapshot(now: number): LeafTableSnapshot {
    const leaves: LeafTableSnapshot["leaves"] = [];
    for (let id = this.#next[this.#usedHead]; id !== this.#usedHead; id = this.#next[id]) {
      leaves.push({
        leaf: id,
        mac: formatMac(this.#real[id]),
        idleMs: Math.max(0, now - this.#time[id]),
      });
    }
    let used = 0;
    for (let id = 1; id <= this.maxLeaves; id++) if (this.#state[id] !== FREE) used++;
    return {
      maxLeaves: this.maxLeaves,
      idleMs: this.idleMs,
      quarantineMs: this.quarantineMs,
      inUse: this.#inUse,
      quarantined: this.#quarantined,
      neverUsed: this.maxLeaves - used,
      counters: this.counters(),
      leaves,
    };
  }

  /** The allocation as plain data for a save file (see `fromJSON`). */
  toJSON(): LeafTableSave {
    const list = (head: number): SavedLeaf[] => {
      const out: SavedLeaf[] = [];
      for (let id = this.#next[head]; id !== head; id = this.#next[id]) {
        out.push({ leaf: id, mac: formatMac(this.#real[id]) });
      }
      return out;
    };
    return { version: 1, leaves: list(this.#usedHead), quarantined: list(this.#quarHead) };
  }

  /**
   * Rebuilds a table from a `toJSON()` save (untrusted: it comes from a
   * file). Ids in use get last seen = `now`, quarantined ids freed at = `now`.
   * Throws Error "Cannot load leaf table: <where>: <what>" on anything
   * malformed: wrong version, id out of 1..maxLeaves, duplicate id or MAC,
   * MAC that does not parse, is a group address or zero.
   */
  static fromJSON(data: unknown, opts: LeafTableOptions = {}, now = 0): LeafTable {
    const t = new LeafTable(opts);
    const fail = (where: string, what: string): never => {
      throw new Error(`Cannot load leaf table: ${where}: ${what}`);
    };
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      fail("top level", "expected an object { version, leaves, quarantined }");
    }
    const d = data as Record<string, unknown>;
    if (d.version !== 1) fail("version", `expected 1, got ${JSON.stringify(d.version)}`);
    const seenId = new Map<number, string>();
    const seenMac = new Map<MacKey, string>();
    for (const [key, state] of [["leaves", USED], ["quarantined", QUAR]] as const) {
      const arr = d[key] ?? [];
      if (!Array.isArray(arr)) fail(key, "expected an array");
      (arr as unknown[]).forEach((item, i) => {
        const where = `${key}[${i}]`;
        if (typeof item !== "object" || item === null || Array.isArray(item)) {
          fail(where, "expected an object { leaf, mac }");
        }
        const { leaf, mac } = item as Record<string, unknown>;
        if (typeof leaf !== "number" || !Number.isInteger(leaf)) {
          fail(`${where}.leaf`, `expected an integer, got ${JSON.stringify(leaf)}`);
        }
        const id = leaf as number;
        if (id < 1 || id > t.maxLeaves) {
          fail(`${where}.leaf`, `leaf id ${id} out of range 1..${t.maxLeaves}`);
        }
        const dupId = seenId.get(id);
        if (dupId !== undefined) fail(`${where}.leaf`, `duplicate leaf id ${id} (also ${dupId})`);
        if (typeof mac !== "string") {
          fail(`${where}.mac`, `expected a string, got ${JSON.stringify(mac)}`);
        }
        const p = parseMac(mac as string);
        if (!p.ok) return fail(`${where}.mac`, `${JSON.stringify(mac)}: ${p.reason}`);
        if (isGroup(p.value)) fail(`${where}.mac`, `${mac} is a group (multicast) address`);
        if (p.value === 0) fail(`${where}.mac`, `${mac} is the all-zero address`);
        const dupMac = seenMac.get(p.value);
        if (dupMac !== undefined) fail(`${where}.mac`, `duplicate MAC ${mac} (also ${dupMac})`);
        seenId.set(id, where);
        seenMac.set(p.value, where);
        t.#restore(id, p.value, state, now);
      });
    }
    return t;
  }

  #restore(id: number, real: MacKey, state: number, now: number): void {
    this.#state[id] = state;
    this.#real[id] = real;
    this.#time[id] = now;
    this.#byMac.set(real, id);
    if (state === USED) {
      this.#append(this.#usedHead, id);
      this.#inUse++;
    } else {
      this.#append(this.#quarHead, id);
      this.#quarantined++;
    }
  }

  #unlink(id: number): void {
    const p = this.#prev[id];
    const n = this.#next[id];
    this.#next[p] = n;
    this.#prev[n] = p;
  }

  #append(head: number, id: number): void {
    const last = this.#prev[head];
    this.#next[last] = id;
    this.#prev[id] = last;
    this.#next[id] = head;
    this.#prev[head] = id;
  }
}

function duration(what: string, v: number, positive: boolean): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
    const bound = positive ? "> 0" : ">= 0";
    throw new RangeError(
      `Cannot create leaf table: ${what} must be a finite number ${bound} ms, got ${v}`,
    );
  }
  return v;
}
