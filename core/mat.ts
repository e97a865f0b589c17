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
 * Hot path: no allocation per frame. The translator owns one view of each
 * kind and re-checks it per frame; verdicts are string constants.
 *
 * @module
 */
import { patchChecksumMac, patchUdpChecksumMac } from "./checksum.ts";
import type { LeafMap } from "./leaf_map.ts";
import { isGroup, macAt, type MacKey, matAddress, matNodePrefix, writeMac } from "./mac.ts";
import { ArpPacket } from "./wire/arp.ts";
import { BOOTP_OP, DHCP_OPTION, DHCP_PORT, DhcpMessage } from "./wire/dhcpv4.ts";
import { ETH, EthernetFrame, ETHERTYPE } from "./wire/ethernet.ts";
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
    if (real === this.tapMac) return this.prefix;
    const leaf = this.leaves.leafFor(real, now);
    if (leaf <= 0 || leaf > 0xffff) return -1;
    return this.prefix + leaf;
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

  // ---- egress -------------------------------------------------------------

  private egressInner(frame: Uint8Array, now: number): MatVerdict {
    const eth = this.eth;
    if (eth.check(frame) !== "ok") return "eth-malformed";
    const src = macAt(frame, ETH.SRC);
    if (src === 0 || isGroup(src)) return "src-invalid";
    if (this.isOurs(src)) return "src-own-mat";
    const mat = this.toMat(src, now);
    if (mat < 0) return "leaf-unavailable";
    const type = eth.typeOrLength;
    const po = eth.payloadOffset;
    const end = frame.length;
    let v: MatVerdict = "forward";
    if (type === ETHERTYPE.ARP) v = this.egressArp(frame, po, end, src, mat, now);
    else if (type === ETHERTYPE.IPV6) v = this.egressIpv6(frame, po, end, src, mat, now);
    else if (type === ETHERTYPE.IPV4) v = this.egressIpv4(frame, po, end, src, mat, now);
    if (v !== "forward") return v;
    writeMac(frame, ETH.SRC, mat);
    return "forward";
  }

  /**
   * Translation of a sender field on egress: `src` maps to the already known
   * `mat`; others get their own leaf. Returns the new value, `old` when the
   * field is to be left, or -1 when no leaf id is available.
   */
  private senderToMat(old: MacKey, src: MacKey, mat: MacKey, now: number): MacKey {
    if (old === src) return mat;
    if (old === 0 || isGroup(old)) return old;
    if (this.isOurs(old)) {
      this.counters.notes["payload-own-mat"]++;
      return old;
    }
    return this.toMat(old, now);
  }

  private egressArp(
    frame: Uint8Array,
    po: number,
    end: number,
    src: MacKey,
    mat: MacKey,
    now: number,
  ): MatVerdict {
    const arp = this.arp;
    if (arp.check(frame, po, end - po) !== "ok") return "arp-malformed";
    if (!arp.isEthernetIpv4) {
      this.counters.notes["arp-not-ethernet-ipv4"]++;
      return "forward";
    }
    const sha = macAt(frame, arp.shaOffset);
    const t = this.senderToMat(sha, src, mat, now);
    if (t < 0) return "leaf-unavailable";
    if (t !== sha) {
      writeMac(frame, arp.shaOffset, t);
      this.counters.notes["arp-rewritten"]++;
    }
    return "forward";
  }

  private egressIpv6(
    frame: Uint8Array,
    po: number,
    end: number,
    src: MacKey,
    mat: MacKey,
    now: number,
  ): MatVerdict {
    const ndp = this.locateNdp(frame, po, end);
    if (ndp === 0) return "forward";
    if (ndp < 0) return ndp === -1 ? "ipv6-malformed" : "ndp-malformed";
    const m = this.ndp;
    const na = m.type === ICMPV6_TYPE.NEIGHBOR_ADVERT;
    let changed = false;
    for (let o = m.optionsOffset; o < m.end; o = m.nextOption(o)) {
      const ot = m.optionType(o);
      if (ot !== NDP_OPTION.SOURCE_LLA && !(na && ot === NDP_OPTION.TARGET_LLA)) continue;
      if (!m.isEthernetLla(o)) {
        this.counters.notes["ndp-lla-not-ethernet"]++;
        continue;
      }
      const a = o + NDP_OPT.LLA;
      const old = macAt(frame, a);
      const t = this.senderToMat(old, src, mat, now);
      if (t < 0) return "leaf-unavailable";
      if (t === old) continue;
      writeMac(frame, a, t);
      patchChecksumMac(frame, m.checksumOffset, old, t, (a - m.off) & 1);
      changed = true;
    }
    if (changed) this.counters.notes["ndp-rewritten"]++;
    return "forward";
  }

  private egressIpv4(
    frame: Uint8Array,
    po: number,
    end: number,
    src: MacKey,
    mat: MacKey,
    now: number,
  ): MatVerdict {
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
    const old = macAt(frame, ch);
    const t = this.senderToMat(old, src, mat, now);
    if (t < 0) return "leaf-unavailable";
    if (t === old) return "forward";
    writeMac(frame, ch, t);
    patchUdpChecksumMac(frame, u.checksumOffset, old, t, (ch - u.off) & 1);
    // Option 61 type 1 carrying the same MAC as chaddr (RFC 2132 section 9.14).
    const c = this.clientIdMacOffset();
    if (c >= 0 && macAt(frame, c) === old) {
      writeMac(frame, c, t);
      patchUdpChecksumMac(frame, u.checksumOffset, old, t, (c - u.off) & 1);
    }
    this.counters.notes["dhcp-rewritten"]++;
    return "forward";
  }

  // ---- ingress ------------------------------------------------------------

  private ingressInner(frame: Uint8Array, _now: number): MatVerdict {
    const eth = this.eth;
    if (eth.check(frame) !== "ok") return "eth-malformed";
    const src = macAt(frame, ETH.SRC);
    if (src === 0 || isGroup(src)) return "src-invalid";
    if (this.isOurs(src)) return "own-source";
    const dst = macAt(frame, ETH.DST);
    let realDst = dst;
    if (!isGroup(dst)) {
      if (!this.isOurs(dst)) return "not-ours";
      realDst = this.toReal(dst);
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
    if (realDst !== dst) writeMac(frame, ETH.DST, realDst);
    return "forward";
  }

  /** Ingress value of a payload field: the real MAC if it is ours and known, else `old`. */
  private fieldToReal(old: MacKey): MacKey {
    if (!this.isOurs(old)) return old;
    const r = this.toReal(old);
    if (r < 0) {
      this.counters.notes["payload-unknown-leaf"]++;
      return old;
    }
    return r;
  }

  private ingressArp(frame: Uint8Array, po: number, end: number): MatVerdict {
    const arp = this.arp;
    if (arp.check(frame, po, end - po) !== "ok") return "arp-malformed";
    if (!arp.isEthernetIpv4) {
      this.counters.notes["arp-not-ethernet-ipv4"]++;
      return "forward";
    }
    let changed = false;
    const sha = macAt(frame, arp.shaOffset);
    const rs = this.fieldToReal(sha);
    if (rs !== sha) {
      writeMac(frame, arp.shaOffset, rs);
      changed = true;
    }
    const tha = macAt(frame, arp.thaOffset);
    const rt = this.fieldToReal(tha);
    if (rt !== tha) {
      writeMac(frame, arp.thaOffset, rt);
      changed = true;
    }
    if (changed) this.counters.notes["arp-rewritten"]++;
    return "forward";
  }

  private ingressIpv6(frame: Uint8Array, po: number, end: number): MatVerdict {
    const ndp = this.locateNdp(frame, po, end);
    if (ndp === 0) return "forward";
    if (ndp < 0) return ndp === -1 ? "ipv6-malformed" : "ndp-malformed";
    const m = this.ndp;
    let changed = false;
    for (let o = m.optionsOffset; o < m.end; o = m.nextOption(o)) {
      const ot = m.optionType(o);
      if (ot !== NDP_OPTION.SOURCE_LLA && ot !== NDP_OPTION.TARGET_LLA) continue;
      if (!m.isEthernetLla(o)) {
        this.counters.notes["ndp-lla-not-ethernet"]++;
        continue;
      }
      const a = o + NDP_OPT.LLA;
      const old = macAt(frame, a);
      const r = this.fieldToReal(old);
      if (r === old) continue;
      writeMac(frame, a, r);
      patchChecksumMac(frame, m.checksumOffset, old, r, (a - m.off) & 1);
      changed = true;
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
    let changed = false;
    const ch = m.chaddrOffset;
    const old = macAt(frame, ch);
    const r = this.fieldToReal(old);
    if (r !== old) {
      writeMac(frame, ch, r);
      patchUdpChecksumMac(frame, u.checksumOffset, old, r, (ch - u.off) & 1);
      changed = true;
    }
    const c = this.clientIdMacOffset();
    if (c >= 0) {
      const oc = macAt(frame, c);
      const rc = this.fieldToReal(oc);
      if (rc !== oc) {
        writeMac(frame, c, rc);
        patchUdpChecksumMac(frame, u.checksumOffset, oc, rc, (c - u.off) & 1);
        changed = true;
      }
    }
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

  /** Offset of the MAC in option 61 when it is type 1 (Ethernet) with 6 octets, else -1. */
  private clientIdMacOffset(): number {
    const m = this.dhcp;
    const o = m.findOption(DHCP_OPTION.CLIENT_ID);
    if (o < 0 || m.optionLength(o) !== 7 || m.buf[o + 2] !== 1) return -1;
    return o + 3;
  }
}
