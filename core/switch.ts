/**
 * The learning switch: one per LAS virtual switch (one per L2TPv3 VC id). The
 * VPN does not use it (nodes address each other by MAT address, docs/switch.md).
 *
 * Sans-IO. `forward(ingress, frame, now)` decides; the caller sends. The
 * decision is a count `n`: the frame goes to the `n` port ids in
 * `sw.egress[0..n)` (one for known unicast, several for a flood); `n === 0`
 * means dropped and `sw.lastDrop` holds the `Drop` code. `egress` is owned
 * by the switch and overwritten by the next `forward` call: read it before
 * calling again. The frame is only read, never kept or changed.
 *
 * Behaviour (transparent bridging in the spirit of IEEE 802.1Q-2018 clause 8,
 * forwarding process and filtering database, without STP):
 * - Filter first (`switch_filter.ts`): the original LAS policy forwards
 *   IPv4, ARP and IPv6 only. Filtered frames are not learned from.
 * - Learn the source MAC on the ingress port. Group or all-zero sources are
 *   dropped (`bad_source`). A MAC seen on another port moves there
 *   (`macs_moved`, and `takeMoveReport()` for a rate-bounded log line).
 * - MAC limits per port and per switch: a new source MAC that does not fit is
 *   not learned; with `limitAction: "restrict"` (default, like Cisco
 *   port-security restrict) its frame is dropped (`mac_limit`), with
 *   `"forward"` (like a bridge whose table is full) it is forwarded anyway.
 * - Broadcast, multicast and unknown unicast flood to every port except the
 *   ingress and the ingress port's split-horizon group, after the ingress
 *   port's storm control (token bucket per class) admits them.
 * - Known unicast goes to its port, unless that is the ingress port
 *   (`same_port`) or a split-horizon peer (`split_horizon`).
 * - Entries age out `agingMs` after the last frame from the MAC (exactly at
 *   the boundary: an entry last seen at t is gone at t + agingMs).
 *
 * The MAC table is an open-addressing hash (linear probing, backward-shift
 * deletion, load <= 1/2) over one ArrayBuffer, a 32-byte record per slot,
 * keyed by the two integer halves of the MAC: a decision allocates nothing;
 * the table doubles (allocating) only while it grows towards its bound.
 *
 * Options, counters and the snapshot's shape: core/switch_types.ts.
 *
 * Not done here: STP, VLAN-aware forwarding, static entries, IGMP/MLD
 * snooping (multicast floods), per-port filter policies.
 *
 * @module
 */
import { formatMac, type MacKey } from "./mac.ts";
import { Drop, DROP_COUNT, DROP_NAMES, type DropName, FrameFilter } from "./switch_filter.ts";
import { checkRateLimit, type RateLimit, TokenBucket } from "./token_bucket.ts";
import { ethDstHi, ethDstLo, ethScan, ethSrcHi, ethSrcLo } from "./wire/ethernet.ts";

import {
  DEFAULT_MAX_PORTS,
  type MoveReport,
  type PortOptions,
  type StormPolicy,
  type SwitchCounters,
  type SwitchOptions,
  type SwitchSnapshot,
} from "./switch_types.ts";

export { Drop, DROP_NAMES } from "./switch_filter.ts";
export type { DropCode, DropName, FilterPolicy } from "./switch_filter.ts";
export type { RateLimit } from "./token_bucket.ts";
export { DEFAULT_MAX_PORTS } from "./switch_types.ts";
export type {
  MacEntrySnapshot,
  MoveReport,
  PortOptions,
  PortSnapshot,
  StormPolicy,
  SwitchCounters,
  SwitchOptions,
  SwitchSnapshot,
} from "./switch_types.ts";

// Counter slots in a Float64Array (per port and per switch).
const RX_FRAMES = 0;
const RX_BYTES = 1;
const TX_FRAMES = 2;
const TX_BYTES = 3;
const UNI_FRAMES = 4;
const UNI_BYTES = 5;
const FLOOD_FRAMES = 6;
const FLOOD_BYTES = 7;
const FLOOD_BCAST = 8;
const FLOOD_MCAST = 9;
const FLOOD_UNKNOWN = 10;
const LEARNED = 11;
const MOVED = 12;
const AGED = 13;
const FLUSHED = 14;
const LIMIT = 15;
const DROP_FRAMES = 16;
const DROP_BYTES = DROP_FRAMES + DROP_COUNT;
const N_COUNTERS = DROP_BYTES + DROP_COUNT;

// Storm classes.
const BCAST = 0;
const MCAST = 1;
const UNKNOWN = 2;

const EMPTY = -1;
const TWO_32 = 0x1_0000_0000;
/** The I/G (group) bit of a MAC's first octet, in its high 16-bit half. */
const GROUP_BIT_HI = 0x0100;
const MIN_CAPACITY = 64;

function positiveInt(what: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`Cannot create switch: ${what} must be an integer 1..${max}, got ${v}`);
  }
  return v;
}

function checkStorm(where: string, s: StormPolicy | undefined): void {
  if (s === undefined) return;
  for (const k of ["broadcast", "multicast", "unknownUnicast"] as const) {
    const r = s[k];
    if (r === undefined) continue;
    const bad = checkRateLimit(r);
    if (bad !== null) throw new RangeError(`Cannot ${where}: storm.${k}: ${bad}`);
  }
}

/** Home slot of a MAC given as 16-bit high and 32-bit low halves. */
function hashOf(hi: number, lo: number, mask: number): number {
  let h = Math.imul(lo ^ Math.imul(hi + 0x9e37, 0x85ebca6b), 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x27d4eb2f);
  h ^= h >>> 13;
  return h & mask;
}

function nextPow2(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

/**
 * A learning switch. See the module comment for behaviour.
 *
 * @example
 * ```ts
 * import { LearningSwitch } from "./switch.ts";
 * const sw = new LearningSwitch({ agingMs: 300_000 });
 * const a = sw.addPort({ name: "site-a" });
 * const b = sw.addPort({ name: "site-b" });
 * const frame = new Uint8Array(60);
 * frame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06]); // ARP broadcast
 * const n = sw.forward(a, frame, 0); // 1: flooded to the only other port
 * for (let i = 0; i < n; i++) sw.egress[i]; // b
 * ```
 */
export class LearningSwitch {
  /**
   * Egress port ids of the last `forward` decision, valid in `[0, n)` until
   * the next call. Owned by the switch; do not keep or write it.
   */
  readonly egress: Int32Array;
  /** `Drop` code of the last `forward` that returned 0. */
  lastDrop = -1;

  /** Idle time after which an entry is gone, ms. */
  readonly agingMs: number;
  /** Bound: at most this many MAC entries in the switch. */
  readonly maxMacs: number;
  /** Default per-port bound. */
  readonly maxMacsPerPort: number;
  /** Bound: port ids are 0..maxPorts-1. */
  readonly maxPorts: number;
  readonly limitAction: "restrict" | "forward";
  readonly filter: FrameFilter;
  readonly #storm: StormPolicy | undefined;

  // MAC table: open addressing, one 32-byte record per slot so a probe touches one cache line:
  // Int32 view [8i] MAC high 16 bits (EMPTY: free slot), [8i+1] low 32 bits, [8i+2] port;
  // Float64 view [4i+2] last seen (ms).
  #mask: number;
  #ki: Int32Array;
  #kf: Float64Array;
  #count = 0;
  /** The table's capacity when full; load stays <= 1/2. */
  readonly #maxCapacity: number;
  /** Never later than the earliest expiry of an entry (may be earlier). */
  #deadline = Infinity;
  /** When `expire` last scanned the table. */
  #lastScan = -Infinity;
  readonly #scanInterval: number;

  // Ports, indexed by port id.
  #active: Uint8Array;
  #group: Int32Array;
  #portMax: Int32Array;
  #portMacs: Int32Array;
  #names: string[] = [];
  #pc: (Float64Array | undefined)[] = [];
  /** Per-port tx counters live apart from `#pc` so the flood loop touches two flat arrays. */
  #txFrames: Float64Array;
  #txBytes: Float64Array;
  #buckets: (TokenBucket | null)[][] = [];
  /** Active port ids, ascending, in `#list[0..#nPorts)`. */
  #list: Int32Array;
  #nPorts = 0;

  #sc = new Float64Array(N_COUNTERS);

  #moves = 0;
  #moveMac = 0;
  #moveFrom = -1;
  #moveTo = -1;

  /** A switch with no ports. Throws RangeError on bad options (config time). */
  constructor(opts: SwitchOptions = {}) {
    this.maxMacs = positiveInt("maxMacs", opts.maxMacs ?? 8192, 1 << 22);
    this.maxMacsPerPort = Math.min(
      positiveInt("maxMacsPerPort", opts.maxMacsPerPort ?? 1024, 1 << 22),
      this.maxMacs,
    );
    this.maxPorts = positiveInt("maxPorts", opts.maxPorts ?? DEFAULT_MAX_PORTS, 1 << 20);
    const aging = opts.agingMs ?? 300_000;
    if (typeof aging !== "number" || !(aging > 0) || !Number.isFinite(aging)) {
      throw new RangeError(
        `Cannot create switch: agingMs must be a finite number > 0, got ${aging}`,
      );
    }
    this.agingMs = aging;
    const si = opts.expireIntervalMs ?? 1000;
    if (typeof si !== "number" || !(si >= 0) || !Number.isFinite(si)) {
      throw new RangeError(
        `Cannot create switch: expireIntervalMs must be a finite number >= 0, got ${si}`,
      );
    }
    this.#scanInterval = si;
    const la = opts.limitAction ?? "restrict";
    if (la !== "restrict" && la !== "forward") {
      throw new RangeError(
        `Cannot create switch: limitAction must be "restrict" or "forward", got ${la}`,
      );
    }
    this.limitAction = la;
    this.filter = new FrameFilter(opts.filter);
    checkStorm("create switch", opts.storm);
    this.#storm = opts.storm;

    this.#maxCapacity = nextPow2(this.maxMacs * 2);
    const cap = Math.min(this.#maxCapacity, MIN_CAPACITY);
    this.#mask = cap - 1;
    this.#ki = new Int32Array(0);
    this.#kf = new Float64Array(0);
    this.#alloc(cap);

    const p = this.maxPorts;
    this.egress = new Int32Array(p);
    this.#active = new Uint8Array(p);
    this.#group = new Int32Array(p);
    this.#txFrames = new Float64Array(p);
    this.#txBytes = new Float64Array(p);
    this.#portMax = new Int32Array(p);
    this.#portMacs = new Int32Array(p);
    this.#list = new Int32Array(p);
  }

  // ---------------------------------------------------------------- ports

  /**
   * Adds a port and returns its id (the lowest free id), or -1 when all
   * `maxPorts` ids are in use. Throws RangeError on bad options (config).
   */
  addPort(opts: PortOptions = {}, now = 0): number {
    const group = opts.group ?? 0;
    if (!Number.isInteger(group) || group < 0 || group > 0x7fff_ffff) {
      throw new RangeError(
        `Cannot add port: group must be an integer >= 0 (0: none), got ${group}`,
      );
    }
    const max = opts.maxMacs ?? this.maxMacsPerPort;
    if (!Number.isInteger(max) || max < 0 || max > this.maxMacs) {
      throw new RangeError(`Cannot add port: maxMacs must be an integer 0..${this.maxMacs}`);
    }
    checkStorm("add port", opts.storm);
    let id = -1;
    for (let i = 0; i < this.maxPorts; i++) {
      if (this.#active[i] === 0) {
        id = i;
        break;
      }
    }
    if (id < 0) return -1;
    this.#active[id] = 1;
    this.#group[id] = group;
    this.#portMax[id] = max;
    this.#portMacs[id] = 0;
    this.#names[id] = opts.name ?? `port${id}`;
    this.#pc[id] = new Float64Array(N_COUNTERS);
    this.#txFrames[id] = 0;
    this.#txBytes[id] = 0;
    const storm = opts.storm ?? this.#storm;
    const mk = (r: RateLimit | undefined) => r === undefined ? null : new TokenBucket(r, now);
    this.#buckets[id] = [mk(storm?.broadcast), mk(storm?.multicast), mk(storm?.unknownUnicast)];
    // Keep the active list ascending.
    let i = this.#nPorts;
    while (i > 0 && this.#list[i - 1] > id) {
      this.#list[i] = this.#list[i - 1];
      i--;
    }
    this.#list[i] = id;
    this.#nPorts++;
    return id;
  }

  /** Removes a port and forgets its MACs (`macs_flushed`). False if no such port. */
  removePort(port: number): boolean {
    if (!this.hasPort(port)) return false;
    let i = 0;
    while (i <= this.#mask) {
      if (this.#ki[i << 3] !== EMPTY && this.#ki[(i << 3) + 2] === port) {
        this.#deleteSlot(i);
        this.#sc[FLUSHED]++;
      } else i++;
    }
    this.#active[port] = 0;
    this.#portMacs[port] = 0;
    this.#pc[port] = undefined;
    this.#buckets[port] = [];
    let j = 0;
    for (let k = 0; k < this.#nPorts; k++) {
      if (this.#list[k] !== port) this.#list[j++] = this.#list[k];
    }
    this.#nPorts = j;
    return true;
  }

  /** True when `port` is a port of this switch. */
  hasPort(port: number): boolean {
    return Number.isInteger(port) && port >= 0 && port < this.maxPorts &&
      this.#active[port] === 1;
  }

  /** Number of ports. */
  get portCount(): number {
    return this.#nPorts;
  }

  /** Ids of the ports, ascending. */
  ports(): number[] {
    return Array.from(this.#list.subarray(0, this.#nPorts));
  }

  /** Number of MAC entries on `port` (0 for an unknown port). */
  portMacCount(port: number): number {
    return this.hasPort(port) ? this.#portMacs[port] : 0;
  }

  /** Number of MAC entries in the switch (including ones past aging not yet expired). */
  get macCount(): number {
    return this.#count;
  }

  // ------------------------------------------------------------ data path

  /**
   * Decides where `frame`, received on port `ingress` at `now` (ms), goes.
   * Returns the number of egress ports written to `egress[0..n)`; 0 means
   * dropped, reason in `lastDrop`. Never throws, allocates nothing.
   */
  forward(ingress: number, frame: Uint8Array, now: number): number {
    const len = frame.length;
    if (!(ingress >= 0 && ingress < this.maxPorts && this.#active[ingress] === 1)) {
      this.#sc[RX_FRAMES]++;
      this.#sc[RX_BYTES] += len;
      this.#sc[DROP_FRAMES + Drop.NO_PORT]++;
      this.#sc[DROP_BYTES + Drop.NO_PORT] += len;
      this.lastDrop = Drop.NO_PORT;
      return 0;
    }
    const pc = this.#pc[ingress]!;
    const sc = this.#sc;
    pc[RX_FRAMES]++;
    pc[RX_BYTES] += len;
    sc[RX_FRAMES]++;
    sc[RX_BYTES] += len;

    // The header through core/wire's bridge door and static accessors (no view object).
    const scan = ethScan(frame, 0, len);
    if (scan < 0) return this.#drop(pc, Drop.RUNT, len);
    const dstHi = ethDstHi(frame, 0);
    const dstLo = ethDstLo(frame, 0);
    const verdict = this.filter.verdict(scan, dstHi, dstLo);
    if (verdict >= 0) return this.#drop(pc, verdict, len);

    // Source: must be an individual (I/G bit clear), non-zero address. The table keys
    // on the two integer halves of a MAC.
    const srcHi = ethSrcHi(frame, 0);
    const srcLo = ethSrcLo(frame, 0);
    if ((srcHi & GROUP_BIT_HI) !== 0 || (srcHi === 0 && srcLo === 0)) {
      return this.#drop(pc, Drop.BAD_SOURCE, len);
    }

    // Learn.
    const aging = this.agingMs;
    let slot = this.#find(srcHi, srcLo);
    if (slot >= 0 && this.#kf[(slot << 2) + 2] + aging <= now) {
      // Aged but not yet expired: it ages out now and is learned afresh, in the same slot.
      const old = this.#ki[(slot << 3) + 2];
      this.#pc[old]![AGED]++;
      sc[AGED]++;
      if (old === ingress || this.#portMacs[ingress] < this.#portMax[ingress]) {
        this.#ki[(slot << 3) + 2] = ingress;
        this.#portMacs[old]--;
        this.#portMacs[ingress]++;
        this.#kf[(slot << 2) + 2] = now;
        const due = now + aging;
        if (due < this.#deadline) this.#deadline = due;
        pc[LEARNED]++;
        sc[LEARNED]++;
        slot = -2;
      } else {
        this.#deleteSlot(slot);
        slot = -1;
      }
    }
    if (slot >= 0) {
      const old = this.#ki[(slot << 3) + 2];
      if (old !== ingress) {
        if (this.#portMacs[ingress] < this.#portMax[ingress]) {
          this.#ki[(slot << 3) + 2] = ingress;
          this.#portMacs[old]--;
          this.#portMacs[ingress]++;
          this.#kf[(slot << 2) + 2] = now;
          pc[MOVED]++;
          sc[MOVED]++;
          this.#moves++;
          this.#moveMac = srcHi * TWO_32 + (srcLo >>> 0);
          this.#moveFrom = old;
          this.#moveTo = ingress;
        } else {
          // No room on the new port: forget the stale entry so replies flood.
          this.#deleteSlot(slot);
          pc[LIMIT]++;
          sc[LIMIT]++;
          if (this.limitAction === "restrict") return this.#drop(pc, Drop.MAC_LIMIT, len);
        }
      } else {
        this.#kf[(slot << 2) + 2] = now;
      }
    } else if (slot === -2) {
      // Relearned above.
    } else if (this.#count < this.maxMacs && this.#portMacs[ingress] < this.#portMax[ingress]) {
      this.#insert(srcHi, srcLo, ingress, now);
      pc[LEARNED]++;
      sc[LEARNED]++;
    } else {
      pc[LIMIT]++;
      sc[LIMIT]++;
      if (this.limitAction === "restrict") return this.#drop(pc, Drop.MAC_LIMIT, len);
    }

    // Destination.
    let cls: number;
    if ((dstHi & GROUP_BIT_HI) !== 0) {
      cls = dstHi === 0xffff && dstLo === -1 ? BCAST : MCAST;
    } else {
      const d = this.#find(dstHi, dstLo);
      if (d >= 0 && this.#kf[(d << 2) + 2] + aging > now) {
        const out = this.#ki[(d << 3) + 2];
        if (out === ingress) return this.#drop(pc, Drop.SAME_PORT, len);
        const g = this.#group[ingress];
        if (g !== 0 && this.#group[out] === g) return this.#drop(pc, Drop.SPLIT_HORIZON, len);
        pc[UNI_FRAMES]++;
        pc[UNI_BYTES] += len;
        sc[UNI_FRAMES]++;
        sc[UNI_BYTES] += len;
        this.#txFrames[out]++;
        this.#txBytes[out] += len;
        sc[TX_FRAMES]++;
        sc[TX_BYTES] += len;
        this.egress[0] = out;
        return 1;
      }
      cls = UNKNOWN;
    }

    // Flood.
    const bucket = this.#buckets[ingress][cls];
    if (bucket !== null && !bucket.take(now)) return this.#drop(pc, Drop.STORM, len);
    const g = this.#group[ingress];
    const list = this.#list;
    const groups = this.#group;
    const egress = this.egress;
    const txf = this.#txFrames;
    const txb = this.#txBytes;
    let n = 0;
    for (let i = 0; i < this.#nPorts; i++) {
      const p = list[i];
      if (p === ingress || (g !== 0 && groups[p] === g)) continue;
      egress[n++] = p;
      txf[p]++;
      txb[p] += len;
    }
    if (n === 0) return this.#drop(pc, Drop.NO_EGRESS, len);
    sc[TX_FRAMES] += n;
    sc[TX_BYTES] += n * len;
    pc[FLOOD_FRAMES]++;
    pc[FLOOD_BYTES] += len;
    pc[FLOOD_BCAST + cls]++;
    sc[FLOOD_FRAMES]++;
    sc[FLOOD_BYTES] += len;
    sc[FLOOD_BCAST + cls]++;
    return n;
  }

  #drop(pc: Float64Array, code: number, len: number): 0 {
    pc[DROP_FRAMES + code]++;
    pc[DROP_BYTES + code] += len;
    this.#sc[DROP_FRAMES + code]++;
    this.#sc[DROP_BYTES + code] += len;
    this.lastDrop = code;
    return 0;
  }

  // ---------------------------------------------------------------- aging

  /** Removes entries idle for `agingMs` or more at `now`; returns how many. */
  expire(now: number): number {
    if (now < this.#deadline) return 0;
    const aging = this.agingMs;
    const ki = this.#ki;
    const kf = this.#kf;
    const mask = this.#mask;
    let removed = 0;
    let next = Infinity;
    let i = 0;
    while (i <= mask) {
      if (ki[i << 3] === EMPTY) {
        i++;
        continue;
      }
      const due = kf[(i << 2) + 2] + aging;
      if (due <= now) {
        this.#pc[ki[(i << 3) + 2]]![AGED]++;
        this.#sc[AGED]++;
        this.#deleteSlot(i);
        removed++;
      } else {
        if (due < next) next = due;
        i++;
      }
    }
    this.#deadline = next;
    this.#lastScan = now;
    return removed;
  }

  /**
   * When to call `expire` next (ms); `Infinity` when the table is empty. At
   * the earliest expiry of an entry (possibly a little before), but no sooner
   * than `expireIntervalMs` after the previous scan. `expire` itself removes
   * whatever is due whenever it is called.
   */
  nextDeadline(): number {
    const d = this.#deadline;
    const earliest = this.#lastScan + this.#scanInterval;
    return d < earliest && d !== Infinity ? earliest : d;
  }

  // ---------------------------------------------------------------- queries

  /** Port of `mac` at `now`, or -1 when unknown or aged. */
  lookup(mac: MacKey, now: number): number {
    const s = this.#find(Math.floor(mac / TWO_32), mac | 0);
    if (s < 0 || this.#kf[(s << 2) + 2] + this.agingMs <= now) return -1;
    return this.#ki[(s << 3) + 2];
  }

  /**
   * MAC moves since the previous call, with the latest one, or null when
   * none. Meant for the daemon's log tick: one line per tick at most,
   * however fast MACs flap.
   */
  takeMoveReport(): MoveReport | null {
    if (this.#moves === 0) return null;
    const r = { moves: this.#moves, mac: this.#moveMac, from: this.#moveFrom, to: this.#moveTo };
    this.#moves = 0;
    return r;
  }

  /** Switch-wide counters. */
  counters(): SwitchCounters {
    return named(this.#sc);
  }

  /** Counters of `port`, or null when no such port. */
  portCounters(port: number): SwitchCounters | null {
    return this.hasPort(port) ? this.#portNamed(port) : null;
  }

  /**
   * Plain JSON-able state for /status: options, counters, ports and the MAC
   * table (at most `maxEntries` rows, default all), sorted by port then MAC.
   */
  snapshot(now: number, maxEntries = Infinity): SwitchSnapshot {
    const rows: { mac: MacKey; port: number; seen: number }[] = [];
    for (let i = 0; i <= this.#mask; i++) {
      const hi = this.#ki[i << 3];
      if (hi === EMPTY) continue;
      rows.push({
        mac: hi * TWO_32 + (this.#ki[(i << 3) + 1] >>> 0),
        port: this.#ki[(i << 3) + 2],
        seen: this.#kf[(i << 2) + 2],
      });
    }
    rows.sort((a, b) => a.port - b.port || a.mac - b.mac);
    const cut = rows.length > maxEntries;
    const macs = (cut ? rows.slice(0, maxEntries) : rows).map((r) => ({
      mac: formatMac(r.mac),
      port: r.port,
      ageMs: Math.max(0, now - r.seen),
    }));
    return {
      agingMs: this.agingMs,
      maxMacs: this.maxMacs,
      macCount: this.#count,
      limitAction: this.limitAction,
      filter: this.filter.policy(),
      counters: this.counters(),
      ports: this.ports().map((p) => ({
        port: p,
        name: this.#names[p],
        group: this.#group[p] === 0 ? null : this.#group[p],
        macs: this.#portMacs[p],
        maxMacs: this.#portMax[p],
        counters: this.#portNamed(p),
      })),
      macs,
      macsTruncated: cut,
    };
  }

  #portNamed(port: number): SwitchCounters {
    const c = this.#pc[port]!;
    c[TX_FRAMES] = this.#txFrames[port];
    c[TX_BYTES] = this.#txBytes[port];
    return named(c);
  }

  // ---------------------------------------------------------------- hash table

  #find(hi: number, lo: number): number {
    const mask = this.#mask;
    const ki = this.#ki;
    let i = hashOf(hi, lo, mask);
    // Load stays <= 1/2, so an empty slot ends every probe; the bound only guards against bugs.
    for (let n = 0; n <= mask; n++) {
      const b = i << 3;
      const h = ki[b];
      if (h === EMPTY) return -1;
      if (h === hi && ki[b + 1] === lo) return i;
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** Inserts a MAC known to be absent; the caller checked the bounds. */
  #insert(hi: number, lo: number, port: number, now: number): void {
    if ((this.#count + 1) * 2 > this.#mask + 1 && this.#mask + 1 < this.#maxCapacity) {
      this.#grow();
    }
    const mask = this.#mask;
    const ki = this.#ki;
    let i = hashOf(hi, lo, mask);
    while (ki[i << 3] !== EMPTY) i = (i + 1) & mask;
    const b = i << 3;
    ki[b] = hi;
    ki[b + 1] = lo;
    ki[b + 2] = port;
    this.#kf[(i << 2) + 2] = now;
    this.#count++;
    this.#portMacs[port]++;
    const due = now + this.agingMs;
    if (due < this.#deadline) this.#deadline = due;
  }

  /** Fresh empty storage for `cap` slots. */
  #alloc(cap: number): void {
    const buf = new ArrayBuffer(cap * 32);
    this.#ki = new Int32Array(buf);
    this.#kf = new Float64Array(buf);
    for (let i = 0; i < cap; i++) this.#ki[i << 3] = EMPTY;
    this.#mask = cap - 1;
  }

  #grow(): void {
    const oi = this.#ki;
    const of = this.#kf;
    const oldCap = this.#mask + 1;
    this.#alloc(oldCap * 2);
    const mask = this.#mask;
    const ki = this.#ki;
    const kf = this.#kf;
    for (let j = 0; j < oldCap; j++) {
      const hi = oi[j << 3];
      if (hi === EMPTY) continue;
      const lo = oi[(j << 3) + 1];
      let i = hashOf(hi, lo, mask);
      while (ki[i << 3] !== EMPTY) i = (i + 1) & mask;
      ki[i << 3] = hi;
      ki[(i << 3) + 1] = lo;
      ki[(i << 3) + 2] = oi[(j << 3) + 2];
      kf[(i << 2) + 2] = of[(j << 2) + 2];
    }
  }

  /**
   * Deletes the entry in `slot` (backward-shift deletion: later entries of
   * the probe run move up, so no tombstones). A scan that deletes must look
   * at `slot` again: another entry may have moved into it.
   */
  #deleteSlot(slot: number): void {
    const mask = this.#mask;
    const ki = this.#ki;
    const kf = this.#kf;
    this.#portMacs[ki[(slot << 3) + 2]]--;
    this.#count--;
    let i = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & mask;
      const hi = ki[j << 3];
      if (hi === EMPTY) break;
      const lo = ki[(j << 3) + 1];
      const home = hashOf(hi, lo, mask);
      // The entry at j may move to i unless its home lies cyclically in (i, j].
      const stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      ki[i << 3] = hi;
      ki[(i << 3) + 1] = lo;
      ki[(i << 3) + 2] = ki[(j << 3) + 2];
      kf[(i << 2) + 2] = kf[(j << 2) + 2];
      i = j;
    }
    ki[i << 3] = EMPTY;
  }
}

function named(c: Float64Array): SwitchCounters {
  const dropped_frames = {} as Record<DropName, number>;
  const dropped_bytes = {} as Record<DropName, number>;
  for (let r = 0; r < DROP_COUNT; r++) {
    dropped_frames[DROP_NAMES[r]] = c[DROP_FRAMES + r];
    dropped_bytes[DROP_NAMES[r]] = c[DROP_BYTES + r];
  }
  return {
    rx_frames: c[RX_FRAMES],
    rx_bytes: c[RX_BYTES],
    tx_frames: c[TX_FRAMES],
    tx_bytes: c[TX_BYTES],
    unicast_frames: c[UNI_FRAMES],
    unicast_bytes: c[UNI_BYTES],
    flooded_frames: c[FLOOD_FRAMES],
    flooded_bytes: c[FLOOD_BYTES],
    flooded_broadcast: c[FLOOD_BCAST],
    flooded_multicast: c[FLOOD_MCAST],
    flooded_unknown_unicast: c[FLOOD_UNKNOWN],
    macs_learned: c[LEARNED],
    macs_moved: c[MOVED],
    macs_aged: c[AGED],
    macs_flushed: c[FLUSHED],
    mac_limit_reached: c[LIMIT],
    dropped_frames,
    dropped_bytes,
  };
}
