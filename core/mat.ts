/**
 * MAC Address Translation (MAT) for a node: hosts on the node's LAN ("leaves")
 * appear on the VPN under translated addresses `00:AA:BB:BB:CC:CC`
 * (`core/mac.ts`: AA supernode, BBBB node, CCCC leaf; leaf 0 = the node's own
 * TAP MAC). Frames are rewritten in place.
 *
 * Egress (LAN -> VPN) rewrites the fields that name the *sender*, real MAC ->
 * MAT address: the Ethernet source, the ARP sender hardware address, NDP
 * Source Link-Layer Address options (RS, RA, NS, NA, Redirect) and the Target
 * Link-Layer Address option of a Neighbor Advertisement, the DHCPv4 `chaddr`
 * and the client identifier (option 61, type 1 + that MAC) of a BOOTREQUEST.
 *
 * Ingress (VPN -> LAN) translates every one of those fields, plus the
 * Ethernet destination, the ARP target hardware address, the Redirect TLLA
 * and `chaddr`/option 61 of a BOOTREPLY, back to the real MAC when it holds a
 * MAT address of this node; fields naming anybody else are left alone.
 * Unicast frames for another node's (or an unknown) MAT address are dropped.
 *
 * Checksums: the ICMPv6 checksum (NDP) and the UDP checksum (DHCP) are
 * patched incrementally (RFC 1624) and never verified, so a sender's error
 * survives translation. A UDP checksum of 0 over IPv4 ("none") stays 0.
 *
 * Frames may carry up to two VLAN tags (802.1Q, or 802.1ad + 802.1Q); the
 * tags are kept and the payload behind them translated.
 *
 * Not done here (see docs/mat.md): IPv4 and IPv6 fragments (a DHCP or NDP
 * message in a fragment is forwarded untranslated, counted), ARP other than
 * Ethernet/IPv4, DHCP option overload, DHCPv6 DUIDs, EUI-64 interface ids,
 * LLDP/CDP/STP payload addresses, SEND signatures (broken by any rewrite).
 * The egress direction leaves the ARP target hardware address, the Redirect
 * TLLA and the `chaddr` of a BOOTREPLY alone: they name the receiver or a
 * third host, which for a LAN behind MAT is normally already a MAT address.
 *
 * Hot path: no allocation per frame in the translator itself (checked with
 * V8's --trace-gc over millions of frames; what a LeafMap implementation
 * allocates is its own). The translator owns one view of each kind and
 * re-checks it per frame; verdicts are string constants; MACs cross helper
 * calls through the frame, small integers and a Float64Array, never as boxed
 * 48-bit numbers in object fields.
 *
 * @module
 */
import { onesSum, patchChecksumSum } from "./checksum.ts";
import type { LeafMap } from "./leaf_map.ts";
import { isGroup, macAt, type MacKey, matAddress, matNodePrefix, writeMac } from "./mac.ts";
import { ArpPacket } from "./wire/arp.ts";
import { BOOTP_OP, DHCP_PORT, DhcpMessage } from "./wire/dhcpv4.ts";
import { EthernetFrame, ETHERTYPE } from "./wire/ethernet.ts";
import { ICMPV6_TYPE } from "./wire/icmpv6.ts";
import { IP_PROTO, Ipv4Packet } from "./wire/ipv4.ts";
import { Ipv6Packet, NEXT_HEADER } from "./wire/ipv6.ts";
import { NDP_OPT, NDP_OPTION, NdpMessage } from "./wire/ndp.ts";
import { UdpDatagram } from "./wire/udp.ts";

/** What happened to a frame: `"forward"`, or the reason it must be dropped. */
export type MatVerdict =
  | "forward"
  /** The Ethernet header is malformed (`core/wire/ethernet.ts` reasons). */
  | "eth-malformed"
  /** Source MAC is a group address or all zeros. */
  | "src-invalid"
  /** Egress: a LAN frame already carries one of our MAT addresses as source (a loop). */
  | "src-own-mat"
  /** Ingress: a VPN frame carries one of our MAT addresses as source (our own frame came back). */
  | "own-source"
  /** Egress: the leaf table gave no id (full, or all free ids in quarantine). */
  | "leaf-unavailable"
  /** Ingress: unicast destination is not a MAT address of this node. */
  | "not-ours"
  /** Ingress: destination is our MAT prefix but that leaf id is not in use. */
  | "unknown-leaf"
  | "arp-malformed"
  | "ipv4-malformed"
  | "ipv6-malformed"
  | "ndp-malformed"
  | "udp-malformed"
  | "dhcp-malformed";

/** Things counted on forwarded frames: what was rewritten, and what was deliberately left. */
export type MatNote =
  | "arp-rewritten"
  | "ndp-rewritten"
  | "dhcp-rewritten"
  /** ARP with other than Ethernet/IPv4 addresses: forwarded, payload untranslated. */
  | "arp-not-ethernet-ipv4"
  /** NDP SLLA/TLLA option that is not 8 octets (not an Ethernet address): left. */
  | "ndp-lla-not-ethernet"
  /** DHCP with htype/hlen other than Ethernet: chaddr left. */
  | "dhcp-not-ethernet"
  /** NDP inside a fragmented IPv6 packet: left (RFC 6980 forbids it anyway). */
  | "ipv6-fragment-untranslated"
  /** UDP to/from ports 67/68 inside an IPv4 fragment: left. */
  | "ipv4-fragment-untranslated"
  /** Ingress: a payload field holds our MAT prefix with a leaf id not in use: left. */
  | "payload-unknown-leaf"
  /** Egress: a sender field already holds one of our MAT addresses: left. */
  | "payload-own-mat";

const VERDICTS: readonly MatVerdict[] = [
  "forward",
  "eth-malformed",
  "src-invalid",
  "src-own-mat",
  "own-source",
  "leaf-unavailable",
  "not-ours",
  "unknown-leaf",
  "arp-malformed",
  "ipv4-malformed",
  "ipv6-malformed",
  "ndp-malformed",
  "udp-malformed",
  "dhcp-malformed",
];

const NOTES: readonly MatNote[] = [
  "arp-rewritten",
  "ndp-rewritten",
  "dhcp-rewritten",
  "arp-not-ethernet-ipv4",
  "ndp-lla-not-ethernet",
  "dhcp-not-ethernet",
  "ipv6-fragment-untranslated",
  "ipv4-fragment-untranslated",
  "payload-unknown-leaf",
  "payload-own-mat",
];

/** Counters a daemon can export as they are: plain objects of numbers. */
export interface MatCounters {
  /** Frames by verdict, LAN -> VPN. */
  egress: Record<MatVerdict, number>;
  /** Frames by verdict, VPN -> LAN. */
  ingress: Record<MatVerdict, number>;
  /** Rewrites done and fields deliberately left, both directions. */
  notes: Record<MatNote, number>;
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  const o = {} as Record<K, number>;
  for (const k of keys) o[k] = 0;
  return o;
}

/** Identity and dependencies of a translator. */
export interface MatConfig {
  /** Supernode id, 0..255. */
  supernode: number;
  /** Node id, 0..65535. */
  node: number;
  /** The node's own TAP MAC; it becomes leaf 0. */
  tapMac: MacKey;
  /** Leaf-id table (`core/leaf_table.ts` implements it). */
  leaves: LeafMap;
}

/**
 * Translates frames between a node's LAN and the VPN.
 *
 * @example
 * ```ts
 * import { MatTranslator } from "./mat.ts";
 * const ids = new Map<number, number>();
 * const reals: number[] = [];
 * const leaves = {
 *   leafFor: (m: number) => ids.get(m) ?? (reals.push(m), ids.set(m, reals.length), reals.length),
 *   realFor: (l: number) => reals[l - 1] ?? -1,
 * };
 * const mat = new MatTranslator({ supernode: 1, node: 2, tapMac: 0x02aa00000001, leaves });
 * const frame = new Uint8Array(60);
 * frame.fill(0xff, 0, 6); // broadcast
 * frame.set([0x02, 0, 0, 0, 0, 9, 0x88, 0xb5], 6); // src, local experimental EtherType
 * mat.egress(frame, 0); // "forward"; frame[6..12] is now 00:01:00:02:00:01
 * ```
 */
export class MatTranslator {
  /** Per-reason counters; read them, never replace them. */
  readonly counters: MatCounters = {
    egress: zeroes(VERDICTS),
    ingress: zeroes(VERDICTS),
    notes: zeroes(NOTES),
  };
  /** Our MAT prefix `00:AA:BB:BB:00:00`, which is also the leaf-0 (TAP) address. */
  readonly prefix: MacKey;
  readonly tapMac: MacKey;
  private readonly leaves: LeafMap;
  private readonly eth = new EthernetFrame();
  private readonly arp = new ArpPacket();
  private readonly ip4 = new Ipv4Packet();
  private readonly ip6 = new Ipv6Packet();
  private readonly ndp = new NdpMessage();
  private readonly udp = new UdpDatagram();
  private readonly dhcp = new DhcpMessage();
  /**
   * Per-frame egress state: the source MAC sits in a Float64Array because a
   * 48-bit number stored in an object field is boxed (allocated) per store.
   */
  private readonly curSrc = new Float64Array(1);
  private curLeaf = 0;

  constructor(cfg: MatConfig) {
    this.prefix = matAddress(cfg.supernode, cfg.node, 0);
    this.tapMac = cfg.tapMac;
    this.leaves = cfg.leaves;
  }

  /** True when `mac` is a MAT address of this node (any leaf). */
  isOurs(mac: MacKey): boolean {
    return matNodePrefix(mac) === this.prefix;
  }

  /** The MAT address of a real LAN MAC (allocating a leaf id), or -1. */
  toMat(real: MacKey, now: number): MacKey {
    const leaf = this.leafOf(real, now);
    return leaf < 0 ? -1 : this.prefix + leaf;
  }

  /** The real MAC behind one of our MAT addresses, or -1 for a leaf id not in use. */
  toReal(mat: MacKey): MacKey {
    const leaf = mat & 0xffff;
    if (leaf === 0) return this.tapMac;
    return this.leaves.realFor(leaf);
  }

  /** LAN -> VPN: rewrites `frame` in place and returns the verdict (counted). */
  egress(frame: Uint8Array, now: number): MatVerdict {
    const v = this.egressInner(frame, now);
    this.counters.egress[v]++;
    return v;
  }

  /** VPN -> LAN: rewrites `frame` in place and returns the verdict (counted). */
  ingress(frame: Uint8Array, now: number): MatVerdict {
    const v = this.ingressInner(frame, now);
    this.counters.ingress[v]++;
    return v;
  }

  // The per-frame helpers below pass MACs through the frame and fields, and
  // return small integers: a 48-bit number crossing a call boundary that V8
  // does not inline is boxed, which would allocate per frame.

  /** Leaf id of a real LAN MAC (0 for the TAP), allocating one; -1 when refused. */
  private leafOf(real: MacKey, now: number): number {
    if (real === this.tapMac) return 0;
    const leaf = this.leaves.leafFor(real, now);
    return leaf <= 0 || leaf > 0xffff ? -1 : leaf;
  }

  /**
   * Patches the checksum at `csumOff` for the 6 bytes at `off` that changed
   * from a region summing to `before`; `base` is where the checksummed data
   * starts (for the parity), `udp` applies the RFC 768 zero rules.
   */
  private patch(
    frame: Uint8Array,
    off: number,
    before: number,
    csumOff: number,
    base: number,
    udp: boolean,
  ): void {
    patchChecksumSum(frame, csumOff, before, onesSum(frame, off, 6), (off - base) & 1, udp);
  }

  // ---- egress -------------------------------------------------------------

  private egressInner(frame: Uint8Array, now: number): MatVerdict {
    const eth = this.eth;
    if (eth.check(frame) !== "ok") return "eth-malformed";
    const src = macAt(frame, eth.srcOffset);
    if (src === 0 || isGroup(src)) return "src-invalid";
    if (src !== this.tapMac && this.isOurs(src)) return "src-own-mat";
    const leaf = this.leafOf(src, now);
    if (leaf < 0) return "leaf-unavailable";
    this.curSrc[0] = src;
    this.curLeaf = leaf;
    const type = eth.typeOrLength;
    const po = eth.payloadOffset;
    const end = frame.length;
    let v: MatVerdict = "forward";
    if (type === ETHERTYPE.ARP) v = this.egressArp(frame, po, end, now);
    else if (type === ETHERTYPE.IPV6) v = this.egressIpv6(frame, po, end, now);
    else if (type === ETHERTYPE.IPV4) v = this.egressIpv4(frame, po, end, now);
    if (v !== "forward") return v;
    // macAt/writeMac at the view's offsets, not its getter/setter: a 48-bit MacKey
    // crossing one more call is a boxed double per frame.
    writeMac(frame, eth.srcOffset, this.prefix + leaf);
    return "forward";
  }

  /**
   * Egress rewrite of a sender field at `off`: the frame's source maps to its
   * known leaf, other unicast MACs get their own; zero, group addresses and
   * our own MAT addresses are left. Patches the checksum at `csumOff` when
   * it is >= 0. Returns 1 (rewritten), 0 (left) or -1 (no leaf id).
   */
  private senderAt(
    frame: Uint8Array,
    off: number,
    now: number,
    csumOff: number,
    base: number,
    udp: boolean,
  ): number {
    const old = macAt(frame, off);
    let leaf: number;
    if (old === this.curSrc[0]) leaf = this.curLeaf;
    else if (old === 0 || isGroup(old)) return 0;
    else if (old !== this.tapMac && this.isOurs(old)) {
      this.counters.notes["payload-own-mat"]++;
      return 0;
    } else {
      leaf = this.leafOf(old, now);
      if (leaf < 0) return -1;
    }
    const before = csumOff >= 0 ? onesSum(frame, off, 6) : 0;
    writeMac(frame, off, this.prefix + leaf);
    if (csumOff >= 0) this.patch(frame, off, before, csumOff, base, udp);
    return 1;
  }

  private egressArp(frame: Uint8Array, po: number, end: number, now: number): MatVerdict {
    const arp = this.arp;
    if (arp.check(frame, po, end - po) !== "ok") return "arp-malformed";
    if (!arp.isEthernetIpv4) {
      this.counters.notes["arp-not-ethernet-ipv4"]++;
      return "forward";
    }
    const r = this.senderAt(frame, arp.shaOffset, now, -1, 0, false);
    if (r < 0) return "leaf-unavailable";
    if (r > 0) this.counters.notes["arp-rewritten"]++;
    return "forward";
  }

  private egressIpv6(frame: Uint8Array, po: number, end: number, now: number): MatVerdict {
    const ndp = this.locateNdp(frame, po, end);
    if (ndp === 0) return "forward";
    if (ndp < 0) return ndp === -1 ? "ipv6-malformed" : "ndp-malformed";
    const m = this.ndp;
    const na = m.type === ICMPV6_TYPE.NEIGHBOR_ADVERT;
    let changed = 0;
    for (let o = m.optionsOffset; o < m.end; o = m.nextOption(o)) {
      const ot = m.optionType(o);
      if (ot !== NDP_OPTION.SOURCE_LLA && !(na && ot === NDP_OPTION.TARGET_LLA)) continue;
      if (!m.isEthernetLla(o)) {
        this.counters.notes["ndp-lla-not-ethernet"]++;
        continue;
      }
      const r = this.senderAt(frame, o + NDP_OPT.LLA, now, m.checksumOffset, m.off, false);
      if (r < 0) return "leaf-unavailable";
      changed |= r;
    }
    if (changed) this.counters.notes["ndp-rewritten"]++;
    return "forward";
  }

  private egressIpv4(frame: Uint8Array, po: number, end: number, now: number): MatVerdict {
    const d = this.locateDhcp(frame, po, end);
    if (d === 0) return "forward";
    if (d < 0) return d === -1 ? "ipv4-malformed" : d === -2 ? "udp-malformed" : "dhcp-malformed";
    const m = this.dhcp;
    if (m.op !== BOOTP_OP.REQUEST) return "forward";
    if (!m.isEthernet) {
      this.counters.notes["dhcp-not-ethernet"]++;
      return "forward";
    }
    const u = this.udp;
    const ch = m.chaddrOffset;
    // Option 61 type 1 carrying the same MAC as chaddr (RFC 2132 section 9.14):
    // compare before chaddr is rewritten.
    const c = this.dhcp.clientIdEthernetOffset();
    const cidSame = c >= 0 && sameMac(frame, c, ch);
    const r = this.senderAt(frame, ch, now, u.checksumOffset, u.off, true);
    if (r < 0) return "leaf-unavailable";
    if (r === 0) return "forward";
    if (cidSame) this.senderAt(frame, c, now, u.checksumOffset, u.off, true);
    this.counters.notes["dhcp-rewritten"]++;
    return "forward";
  }

  // ---- ingress ------------------------------------------------------------

  private ingressInner(frame: Uint8Array, _now: number): MatVerdict {
    const eth = this.eth;
    if (eth.check(frame) !== "ok") return "eth-malformed";
    const src = macAt(frame, eth.srcOffset);
    if (src === 0 || isGroup(src)) return "src-invalid";
    if (this.isOurs(src)) return "own-source";
    const dst = macAt(frame, eth.dstOffset);
    let realDst = dst;
    if (!isGroup(dst)) {
      if (!this.isOurs(dst)) return "not-ours";
      const leaf = dst & 0xffff;
      realDst = leaf === 0 ? this.tapMac : this.leaves.realFor(leaf);
      if (realDst < 0) return "unknown-leaf";
    }
    const type = eth.typeOrLength;
    const po = eth.payloadOffset;
    const end = frame.length;
    let v: MatVerdict = "forward";
    if (type === ETHERTYPE.ARP) v = this.ingressArp(frame, po, end);
    else if (type === ETHERTYPE.IPV6) v = this.ingressIpv6(frame, po, end);
    else if (type === ETHERTYPE.IPV4) v = this.ingressIpv4(frame, po, end);
    if (v !== "forward") return v;
    if (realDst !== dst) writeMac(frame, eth.dstOffset, realDst);
    return "forward";
  }

  /**
   * Ingress rewrite of a payload field at `off`: our MAT address -> the real
   * MAC; anything else, and leaf ids not in use (counted), are left. Patches
   * the checksum at `csumOff` when it is >= 0. Returns 1 (rewritten) or 0.
   */
  private realAt(
    frame: Uint8Array,
    off: number,
    csumOff: number,
    base: number,
    udp: boolean,
  ): number {
    const old = macAt(frame, off);
    if (!this.isOurs(old)) return 0;
    const leaf = old & 0xffff;
    const real = leaf === 0 ? this.tapMac : this.leaves.realFor(leaf);
    if (real < 0) {
      this.counters.notes["payload-unknown-leaf"]++;
      return 0;
    }
    const before = csumOff >= 0 ? onesSum(frame, off, 6) : 0;
    writeMac(frame, off, real);
    if (csumOff >= 0) this.patch(frame, off, before, csumOff, base, udp);
    return 1;
  }

  private ingressArp(frame: Uint8Array, po: number, end: number): MatVerdict {
    const arp = this.arp;
    if (arp.check(frame, po, end - po) !== "ok") return "arp-malformed";
    if (!arp.isEthernetIpv4) {
      this.counters.notes["arp-not-ethernet-ipv4"]++;
      return "forward";
    }
    const changed = this.realAt(frame, arp.shaOffset, -1, 0, false) |
      this.realAt(frame, arp.thaOffset, -1, 0, false);
    if (changed) this.counters.notes["arp-rewritten"]++;
    return "forward";
  }

  private ingressIpv6(frame: Uint8Array, po: number, end: number): MatVerdict {
    const ndp = this.locateNdp(frame, po, end);
    if (ndp === 0) return "forward";
    if (ndp < 0) return ndp === -1 ? "ipv6-malformed" : "ndp-malformed";
    const m = this.ndp;
    let changed = 0;
    for (let o = m.optionsOffset; o < m.end; o = m.nextOption(o)) {
      const ot = m.optionType(o);
      if (ot !== NDP_OPTION.SOURCE_LLA && ot !== NDP_OPTION.TARGET_LLA) continue;
      if (!m.isEthernetLla(o)) {
        this.counters.notes["ndp-lla-not-ethernet"]++;
        continue;
      }
      changed |= this.realAt(frame, o + NDP_OPT.LLA, m.checksumOffset, m.off, false);
    }
    if (changed) this.counters.notes["ndp-rewritten"]++;
    return "forward";
  }

  private ingressIpv4(frame: Uint8Array, po: number, end: number): MatVerdict {
    const d = this.locateDhcp(frame, po, end);
    if (d === 0) return "forward";
    if (d < 0) return d === -1 ? "ipv4-malformed" : d === -2 ? "udp-malformed" : "dhcp-malformed";
    const m = this.dhcp;
    if (!m.isEthernet) {
      this.counters.notes["dhcp-not-ethernet"]++;
      return "forward";
    }
    const u = this.udp;
    let changed = this.realAt(frame, m.chaddrOffset, u.checksumOffset, u.off, true);
    const c = this.dhcp.clientIdEthernetOffset();
    if (c >= 0) changed |= this.realAt(frame, c, u.checksumOffset, u.off, true);
    if (changed) this.counters.notes["dhcp-rewritten"]++;
    return "forward";
  }

  // ---- shared parsing -----------------------------------------------------

  /**
   * Checks IPv6 at `po` and, when it carries an NDP message in one piece,
   * binds `this.ndp` to it. Returns 1 (NDP bound), 0 (nothing to translate),
   * -1 (IPv6 malformed), -2 (NDP malformed).
   */
  private locateNdp(frame: Uint8Array, po: number, end: number): number {
    const ip = this.ip6;
    if (ip.check(frame, po, end - po) !== "ok") return -1;
    if (ip.upperProtocol !== NEXT_HEADER.ICMPV6 || !ip.upperInThisPacket) return 0;
    if (ip.upperLength < 1) return 0;
    const t = frame[ip.upperOffset];
    if (t < ICMPV6_TYPE.ROUTER_SOLICIT || t > ICMPV6_TYPE.REDIRECT) return 0;
    if (ip.isFragment) {
      this.counters.notes["ipv6-fragment-untranslated"]++;
      return 0;
    }
    if (this.ndp.check(frame, ip.upperOffset, ip.upperLength) !== "ok") return -2;
    return 1;
  }

  /**
   * Checks IPv4 at `po` and, when it carries UDP between ports 67/68 in one
   * piece, binds `this.udp` and `this.dhcp`. Returns 1 (bound), 0 (nothing to
   * translate), -1 (IPv4 malformed), -2 (UDP malformed), -3 (DHCP malformed).
   */
  private locateDhcp(frame: Uint8Array, po: number, end: number): number {
    const ip = this.ip4;
    if (ip.check(frame, po, end - po) !== "ok") return -1;
    if (ip.protocol !== IP_PROTO.UDP) return 0;
    if (ip.isFragment) {
      if (ip.fragmentOffset === 0) this.counters.notes["ipv4-fragment-untranslated"]++;
      return 0;
    }
    const u = this.udp;
    if (u.check(frame, ip.payloadOffset, ip.payloadLength) !== "ok") return -2;
    const sp = u.srcPort;
    const dp = u.dstPort;
    if (
      (sp !== DHCP_PORT.CLIENT && sp !== DHCP_PORT.SERVER) ||
      (dp !== DHCP_PORT.CLIENT && dp !== DHCP_PORT.SERVER)
    ) return 0;
    if (this.dhcp.check(frame, u.payloadOffset, u.payloadLength) !== "ok") return -3;
    return 1;
  }
}

/** True when the 6 bytes at `a` and `b` are equal. */
function sameMac(buf: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 6; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}
