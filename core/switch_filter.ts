/**
 * The frame filter of the learning switch, and the switch's drop reasons.
 *
 * The default policy is the one of the original LAS: only IPv4 (0x0800),
 * ARP (0x0806) and IPv6 (0x86DD) cross the switch. Dropped by default, each
 * class can be allowed per switch:
 *
 * | class | frames | option |
 * |---|---|---|
 * | link-local | destination 01:80:C2:00:00:00..0F (STP BPDU, LACP, 802.1X, LLDP; IEEE 802.1Q table 8-1) | `allowLinkLocal` |
 * | LLC | IEEE 802.3 length field (type/length < 0x0600): STP, NetBEUI, IPX 802.2 | `allowLlc` |
 * | VLAN-tagged | TPID 0x8100 (802.1Q) or 0x88A8 (802.1ad) after the source MAC | `allowVlanTagged` |
 * | other EtherTypes | anything not in `ethertypes` | `allowOtherEthertypes` |
 *
 * The classes are independent: a frame passes only when every class it
 * belongs to is allowed. An STP BPDU (link-local destination, LLC) needs
 * both `allowLinkLocal` and `allowLlc`; LLDP (link-local, 0x88CC) needs
 * `allowLinkLocal` and `allowOtherEthertypes` (or 0x88CC in `ethertypes`).
 * When VLAN-tagged frames are allowed, up to two tags are skipped and the
 * inner type/length is filtered by the same rules (a third TPID is that
 * type). The frame is read through `core/wire/ethernet.ts`'s bridge door,
 * `ethScan()`, and its static accessors: the header and the tags must fit (else `runt`), the
 * type/length is classified here, never judged (an 802.3 length the frame
 * does not hold is still LLC, as a bridge forwards it).
 *
 * Multicast destinations other than the link-local block are not filtered
 * here (the switch floods them). Not done here: IP-level filtering, per-port
 * policies.
 *
 * @module
 */
import { ethDstHi, ethDstLo, ETHERTYPE, ethScan, MIN_ETHERTYPE } from "./wire/ethernet.ts";

/**
 * Why the switch dropped a frame. Numbers (for zero-allocation counting);
 * `DROP_NAMES[code]` is the counter name used in snapshots and logs.
 */
export const Drop = {
  /** The ingress port id is not a port of this switch. */
  NO_PORT: 0,
  /** Shorter than its Ethernet header: 14 bytes, and 4 more per VLAN tag (up to two). */
  RUNT: 1,
  /** Source MAC is a group (multicast/broadcast) address or all zeros. */
  BAD_SOURCE: 2,
  /** Destination in 01:80:C2:00:00:00..0F and `allowLinkLocal` is off. */
  LINK_LOCAL: 3,
  /** 802.3 length field (LLC frame) and `allowLlc` is off. */
  LLC: 4,
  /** 802.1Q / 802.1ad tag and `allowVlanTagged` is off. */
  VLAN: 5,
  /** EtherType not in the allowed list and `allowOtherEthertypes` is off. */
  ETHERTYPE: 6,
  /** Known unicast destination sits on the ingress port itself (hairpin). */
  SAME_PORT: 7,
  /** Known unicast destination sits on a port of the ingress port's split-horizon group. */
  SPLIT_HORIZON: 8,
  /** New source MAC could not be learned (port or switch MAC limit) and `limitAction` is "restrict". */
  MAC_LIMIT: 9,
  /** Flooded frame over the ingress port's storm-control rate. */
  STORM: 10,
  /** Frame to flood but no other port may receive it. */
  NO_EGRESS: 11,
} as const;

/** A drop reason code, a value of `Drop`. */
export type DropCode = typeof Drop[keyof typeof Drop];

/** Counter names of the drop reasons, indexed by code. */
export const DROP_NAMES = [
  "no_port",
  "runt",
  "bad_source",
  "link_local",
  "llc",
  "vlan",
  "ethertype",
  "same_port",
  "split_horizon",
  "mac_limit",
  "storm",
  "no_egress",
] as const;

/** Name of a drop reason counter. */
export type DropName = typeof DROP_NAMES[number];

/** Number of drop reasons. */
export const DROP_COUNT = DROP_NAMES.length;

/** EtherTypes the default policy forwards: IPv4, ARP, IPv6. */
export const DEFAULT_ETHERTYPES: readonly number[] = [
  ETHERTYPE.IPV4,
  ETHERTYPE.ARP,
  ETHERTYPE.IPV6,
];

/** Which frame classes a switch lets through. Every field is optional; omitted means the default. */
export interface FilterPolicy {
  /** Forward frames to 01:80:C2:00:00:00..0F (STP, LACP, 802.1X, LLDP). Default false. */
  allowLinkLocal?: boolean;
  /** Forward 802.3/LLC frames (type/length field < 0x0600). Default false. */
  allowLlc?: boolean;
  /** Forward 802.1Q (0x8100) and 802.1ad (0x88A8) tagged frames. Default false. */
  allowVlanTagged?: boolean;
  /** Forward every EtherType (>= 0x0600). Default false. */
  allowOtherEthertypes?: boolean;
  /** EtherTypes forwarded when `allowOtherEthertypes` is off. Default IPv4, ARP, IPv6. */
  ethertypes?: readonly number[];
}

/**
 * The IEEE 802.1Q reserved block 01:80:C2:00:00:00..0F (table 8-1) as the
 * halves `ethDstHi`/`ethDstLo` give: 01:80 and C2:00:00:0X.
 */
const LINK_LOCAL_HI = 0x0180;
const LINK_LOCAL_LO = 0xc200_0000 | 0;
const LINK_LOCAL_LO_MASK = 0xffff_fff0 | 0;

/**
 * A compiled `FilterPolicy`. `check(frame)` returns -1 when the frame passes,
 * else a `Drop` code. It reads only the Ethernet header and tags and never
 * throws.
 *
 * @example
 * ```ts
 * import { FrameFilter } from "./switch_filter.ts";
 * const f = new FrameFilter({});
 * const arp = new Uint8Array(60);
 * arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 0x08, 0x06]);
 * f.check(arp); // -1: passes
 * ```
 */
export class FrameFilter {
  readonly allowLinkLocal: boolean;
  readonly allowLlc: boolean;
  readonly allowVlanTagged: boolean;
  readonly allowOtherEthertypes: boolean;
  /** Bit set of allowed EtherTypes, 65536 bits. */
  readonly #types = new Uint32Array(2048);
  readonly #list: number[];

  /** Compiles `policy`. Throws RangeError on an EtherType outside 0x0600..0xFFFF (config time). */
  constructor(policy: FilterPolicy = {}) {
    this.allowLinkLocal = policy.allowLinkLocal === true;
    this.allowLlc = policy.allowLlc === true;
    this.allowVlanTagged = policy.allowVlanTagged === true;
    this.allowOtherEthertypes = policy.allowOtherEthertypes === true;
    for (const t of policy.ethertypes ?? DEFAULT_ETHERTYPES) {
      if (!Number.isInteger(t) || t < MIN_ETHERTYPE || t > 0xffff) {
        throw new RangeError(
          `Cannot create frame filter: ethertype must be an integer 0x0600..0xffff, got ${t}`,
        );
      }
      this.#types[t >>> 5] |= 1 << (t & 31);
    }
    this.#list = [...new Set(policy.ethertypes ?? DEFAULT_ETHERTYPES)].sort((a, b) => a - b);
  }

  /** The policy this filter was built from, as plain data. */
  policy(): Required<FilterPolicy> {
    return {
      allowLinkLocal: this.allowLinkLocal,
      allowLlc: this.allowLlc,
      allowVlanTagged: this.allowVlanTagged,
      allowOtherEthertypes: this.allowOtherEthertypes,
      ethertypes: [...this.#list],
    };
  }

  /**
   * -1 when `frame` passes the policy, else the `Drop` code of the first
   * class that is not allowed (link-local, then VLAN, LLC, EtherType).
   * Frames shorter than their header (14 bytes, 4 more per tag) give `Drop.RUNT`.
   */
  check(frame: Uint8Array): number {
    const scan = ethScan(frame, 0, frame.length);
    if (scan < 0) return Drop.RUNT;
    return this.verdict(scan, ethDstHi(frame, 0), ethDstLo(frame, 0));
  }

  /**
   * `check` for a frame the switch already read: `scan` is its `ethScan`
   * result (>= 0), `dstHi`/`dstLo` its destination's halves (`ethDstHi`,
   * `ethDstLo`). Read once per frame by the switch, which needs them too.
   */
  verdict(scan: number, dstHi: number, dstLo: number): number {
    // 01:80:C2:00:00:00..0F, compared as the integer halves (no double per frame).
    if (
      !this.allowLinkLocal && dstHi === LINK_LOCAL_HI &&
      (dstLo & LINK_LOCAL_LO_MASK) === LINK_LOCAL_LO
    ) {
      return Drop.LINK_LOCAL;
    }
    // A scan above 0xffff has tags (`scanTags`); bit operations inline, no call per frame.
    if (scan > 0xffff && !this.allowVlanTagged) return Drop.VLAN;
    const type = scan & 0xffff;
    if (type < MIN_ETHERTYPE) return this.allowLlc ? -1 : Drop.LLC;
    if (this.allowOtherEthertypes) return -1;
    return (this.#types[type >>> 5] & (1 << (type & 31))) !== 0 ? -1 : Drop.ETHERTYPE;
  }
}
