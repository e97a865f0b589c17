import { assert, assertEquals, assertNotEquals } from "../assert.ts";
import fc from "fast-check";
import { type FrameName, loadFrame } from "../fixtures/frames/load.ts";
import { internetChecksum } from "../../core/checksum.ts";
import type { LeafMap } from "../../core/leaf_map.ts";
import {
  isGroup,
  macAt,
  type MacKey,
  matAddress,
  matNodePrefix,
  writeMac,
} from "../../core/mac.ts";
import { MatTranslator, type MatVerdict } from "../../core/mat.ts";
import { emitArp } from "../../core/wire/arp.ts";
import { DHCP, DhcpMessage } from "../../core/wire/dhcpv4.ts";
import { EthernetFrame } from "../../core/wire/ethernet.ts";
import { Icmpv6Packet } from "../../core/wire/icmpv6.ts";
import { emitIpv4, Ipv4Packet } from "../../core/wire/ipv4.ts";
import { emitIpv6, Ipv6Packet } from "../../core/wire/ipv6.ts";
import { emitNdp, NdpMessage, type NdpOptionRepr, type NdpRepr } from "../../core/wire/ndp.ts";
import { emitUdp, UdpDatagram } from "../../core/wire/udp.ts";
import { emitVlan } from "../../core/wire/vlan.ts";

/** A small LeafMap: ids 1..limit in order of first sight, never aged. */
class TestLeaves implements LeafMap {
  readonly byReal = new Map<MacKey, number>();
  readonly byLeaf = new Map<number, MacKey>();
  refused = 0;
  constructor(readonly limit = 100) {}
  leafFor(real: MacKey, _now: number): number {
    const have = this.byReal.get(real);
    if (have !== undefined) return have;
    if (this.byReal.size >= this.limit) {
      this.refused++;
      return -1;
    }
    const leaf = this.byReal.size + 1;
    this.byReal.set(real, leaf);
    this.byLeaf.set(leaf, real);
    return leaf;
  }
  realFor(leaf: number): MacKey | -1 {
    return this.byLeaf.get(leaf) ?? -1;
  }
}

const SN = 1;
const NODE = 2;
const TAP = 0x02_aa_00_00_00_01;
const PREFIX = matAddress(SN, NODE, 0);
/** Host A and host B of the capture (A is "our" LAN host in most tests). */
const HOST_A = 0x02_00_00_00_0a_01;
const HOST_B = 0x02_00_00_00_0b_02;
/** A host behind another node of the same supernode. */
const REMOTE = matAddress(SN, 7, 3);

function translator(limit = 100): { mat: MatTranslator; leaves: TestLeaves } {
  const leaves = new TestLeaves(limit);
  return { mat: new MatTranslator({ supernode: SN, node: NODE, tapMac: TAP, leaves }), leaves };
}

// ---- full-recompute checkers ----------------------------------------------

/** Verifies every checksum MAT may touch with a full recompute; returns what it checked. */
function checksumsValid(b: Uint8Array): string {
  const eth = new EthernetFrame();
  assertEquals(eth.check(b), "ok");
  if (eth.etherType === 0x0800) {
    const ip = new Ipv4Packet();
    assertEquals(ip.check(b, eth.payloadOffset), "ok");
    assert(ip.checksumValid(), "IPv4 header checksum");
    if (ip.protocol === 17 && !ip.isFragment) {
      const u = new UdpDatagram();
      assertEquals(u.check(b, ip.payloadOffset, ip.payloadLength), "ok");
      assert(u.checksumValidV4(ip.srcOffset, ip.dstOffset), "UDP checksum");
      return u.checksum === 0 ? "udp-none" : "udp";
    }
    return "ipv4";
  }
  if (eth.etherType === 0x86dd) {
    const ip = new Ipv6Packet();
    assertEquals(ip.check(b, eth.payloadOffset), "ok");
    if (ip.upperProtocol === 58) {
      const m = new Icmpv6Packet();
      assertEquals(m.check(b, ip.upperOffset, ip.upperLength), "ok");
      assert(m.checksumValid(ip.srcOffset, ip.dstOffset), "ICMPv6 checksum");
      return "icmpv6";
    }
    return "ipv6";
  }
  return "none";
}

/** Recomputes the UDP checksum of an IPv4/UDP frame in place (test setup only). */
function fixUdp(b: Uint8Array): void {
  const eth = new EthernetFrame();
  eth.check(b);
  const ip = new Ipv4Packet();
  ip.check(b, eth.payloadOffset);
  const u = new UdpDatagram();
  u.check(b, ip.payloadOffset, ip.payloadLength);
  const c = u.computeChecksumV4(ip.srcOffset, ip.dstOffset);
  b[u.checksumOffset] = c >>> 8;
  b[u.checksumOffset + 1] = c & 0xff;
}

function fixIcmpv6(b: Uint8Array): void {
  const eth = new EthernetFrame();
  eth.check(b);
  const ip = new Ipv6Packet();
  ip.check(b, eth.payloadOffset);
  const m = new Icmpv6Packet();
  m.check(b, ip.upperOffset, ip.upperLength);
  m.fillChecksum(ip.srcOffset, ip.dstOffset);
}

/** Offset of the first NDP option of `type` in an Ethernet frame, or -1. */
function ndpOption(b: Uint8Array, type: number): number {
  const eth = new EthernetFrame();
  eth.check(b);
  const ip = new Ipv6Packet();
  ip.check(b, eth.payloadOffset);
  const m = new NdpMessage();
  assertEquals(m.check(b, ip.upperOffset, ip.upperLength), "ok");
  for (let o = m.optionsOffset; o < m.end; o = m.nextOption(o)) {
    if (m.optionType(o) === type) return o;
  }
  return -1;
}

function dhcpOf(b: Uint8Array): DhcpMessage {
  const eth = new EthernetFrame();
  eth.check(b);
  const ip = new Ipv4Packet();
  ip.check(b, eth.payloadOffset);
  const u = new UdpDatagram();
  u.check(b, ip.payloadOffset, ip.payloadLength);
  const d = new DhcpMessage();
  assertEquals(d.check(b, u.payloadOffset, u.payloadLength), "ok");
  return d;
}

/** Inserts one VLAN tag after the source MAC. */
function tag(b: Uint8Array, tpid: number, vid: number): Uint8Array {
  const out = new Uint8Array(b.length + 4);
  out.set(b.subarray(0, 12));
  emitVlan({ tpid, pcp: 0, dei: 0, vid }, out, 12);
  out.set(b.subarray(12), 16);
  return out;
}

// ---- scripted exchanges on captured frames --------------------------------

Deno.test("mat egress: captured ARP request gets MAT source and sender hardware address", () => {
  const { mat } = translator();
  const b = loadFrame("arp_request");
  const before = b.slice();
  assertEquals(mat.egress(b, 0), "forward");
  const a = PREFIX + 1;
  assertEquals(macAt(b, 6), a);
  assertEquals(macAt(b, 14 + 8), a, "SHA");
  assertEquals(macAt(b, 0), macAt(before, 0), "broadcast destination kept");
  assertEquals(b.subarray(14 + 14), before.subarray(14 + 14), "SPA, THA, TPA untouched");
  assertEquals(mat.counters.egress.forward, 1);
  assertEquals(mat.counters.notes["arp-rewritten"], 1);
});

Deno.test("mat: the node's own TAP MAC becomes leaf 0 and comes back", () => {
  const { mat, leaves } = translator();
  const b = loadFrame("arp_request");
  writeMac(b, 6, TAP);
  writeMac(b, 14 + 8, TAP);
  assertEquals(mat.egress(b, 0), "forward");
  assertEquals(macAt(b, 6), PREFIX);
  assertEquals(macAt(b, 22), PREFIX);
  assertEquals(leaves.byReal.size, 0, "no leaf id spent on the TAP");
  const r = loadFrame("arp_reply");
  writeMac(r, 0, PREFIX);
  writeMac(r, 6, REMOTE);
  writeMac(r, 22, REMOTE);
  writeMac(r, 32, PREFIX);
  assertEquals(mat.ingress(r, 1), "forward");
  assertEquals([macAt(r, 0), macAt(r, 32)], [TAP, TAP]);
});

Deno.test("mat: a TAP MAC configured as the node's own MAT address (leaf 0) still egresses", () => {
  const leaves = new TestLeaves();
  const mat = new MatTranslator({ supernode: SN, node: NODE, tapMac: PREFIX, leaves });
  const b = loadFrame("arp_request");
  writeMac(b, 6, PREFIX);
  writeMac(b, 22, PREFIX);
  assertEquals(mat.egress(b, 0), "forward");
  assertEquals([macAt(b, 6), macAt(b, 22)], [PREFIX, PREFIX]);
  const other = loadFrame("arp_request");
  writeMac(other, 6, PREFIX + 9);
  assertEquals(mat.egress(other, 0), "src-own-mat", "any other leaf of ours on the LAN is a loop");
});

Deno.test("mat: a leaf table answering 0 or out of range is treated as a refusal", () => {
  for (const bad of [0, 0x10000, -1]) {
    const mat = new MatTranslator({
      supernode: SN,
      node: NODE,
      tapMac: TAP,
      leaves: { leafFor: () => bad, realFor: () => -1 },
    });
    assertEquals(mat.egress(loadFrame("ipv4_icmp_echo"), 0), "leaf-unavailable", `leaf ${bad}`);
  }
});

Deno.test("mat ingress: ARP reply from a remote host reaches the real MAC, dst and THA", () => {
  const { mat } = translator();
  const req = loadFrame("arp_request");
  assertEquals(mat.egress(req, 0), "forward"); // A gets leaf 1
  const r = loadFrame("arp_reply"); // B -> A in the capture; make B remote
  writeMac(r, 0, PREFIX + 1);
  writeMac(r, 6, REMOTE);
  writeMac(r, 22, REMOTE);
  writeMac(r, 32, PREFIX + 1);
  assertEquals(mat.ingress(r, 1), "forward");
  assertEquals(macAt(r, 0), HOST_A, "destination");
  assertEquals(macAt(r, 32), HOST_A, "THA");
  assertEquals(macAt(r, 6), REMOTE, "remote source untouched");
  assertEquals(macAt(r, 22), REMOTE, "remote SHA untouched");
});

Deno.test("mat ingress: a broadcast ARP request keeps its destination; THA that is ours is translated", () => {
  const { mat } = translator();
  assertEquals(mat.egress(loadFrame("arp_request"), 0), "forward");
  const q = loadFrame("arp_request");
  writeMac(q, 6, REMOTE);
  writeMac(q, 22, REMOTE);
  writeMac(q, 32, PREFIX + 1); // e.g. a unicast poll re-sent as broadcast
  assertEquals(mat.ingress(q, 1), "forward");
  assertEquals(macAt(q, 0), 0xffff_ffff_ffff);
  assertEquals(macAt(q, 32), HOST_A);
});

Deno.test("mat ingress: a payload field with our prefix but an unused leaf is left and counted", () => {
  const { mat } = translator();
  assertEquals(mat.egress(loadFrame("arp_request"), 0), "forward"); // A = leaf 1
  const q = loadFrame("arp_request");
  writeMac(q, 6, REMOTE);
  writeMac(q, 22, REMOTE);
  writeMac(q, 32, PREFIX + 77);
  const rewritten = mat.counters.notes["arp-rewritten"];
  assertEquals(mat.ingress(q, 1), "forward");
  assertEquals(macAt(q, 32), PREFIX + 77);
  assertEquals(mat.counters.notes["payload-unknown-leaf"], 1);
  assertEquals(mat.counters.notes["arp-rewritten"], rewritten, "nothing rewritten on ingress");
});

Deno.test("mat egress: captured NS, NA, RS, RA have their link-layer options translated, checksum valid", () => {
  const cases: [FrameName, number, MacKey][] = [
    ["ndp_ns", 1, HOST_A],
    ["ndp_na", 2, HOST_B],
    ["ndp_rs", 1, HOST_A],
    ["ndp_ra", 1, HOST_B],
  ];
  for (const [name, opt, host] of cases) {
    const { mat } = translator();
    const b = loadFrame(name);
    const o = ndpOption(b, opt);
    assertEquals(macAt(b, o + 2), host, name);
    assertEquals(mat.egress(b, 0), "forward", name);
    assertEquals(macAt(b, o + 2), PREFIX + 1, name);
    assertEquals(macAt(b, 6), PREFIX + 1, name);
    assertEquals(checksumsValid(b), "icmpv6", name);
    assertEquals(mat.counters.notes["ndp-rewritten"], 1, name);
  }
});

Deno.test("mat: Redirect TLLA is left on egress and translated back on ingress", () => {
  const { mat } = translator();
  assertEquals(mat.egress(loadFrame("arp_request"), 0), "forward"); // A = leaf 1
  // The captured Redirect (router -> A) with a TLLA option added in front of
  // the Redirected Header option.
  const cap = loadFrame("ndp_redirect");
  const b = new Uint8Array(cap.length + 8);
  const start = 14 + 40 + 40;
  b.set(cap.subarray(0, start));
  b.set([2, 1], start);
  writeMac(b, start + 2, HOST_B);
  b.set(cap.subarray(start), start + 8);
  b[14 + 5] += 8; // IPv6 payload length
  fixIcmpv6(b);
  const lan = b.slice();
  assertEquals(mat.egress(lan, 0), "forward");
  assertEquals(macAt(lan, start + 2), HOST_B, "egress leaves the Redirect TLLA");
  assertEquals(checksumsValid(lan), "icmpv6");

  writeMac(b, 0, PREFIX + 1);
  writeMac(b, 6, REMOTE);
  writeMac(b, start + 2, PREFIX + 1);
  fixIcmpv6(b);
  assertEquals(mat.ingress(b, 1), "forward");
  assertEquals(macAt(b, 0), HOST_A);
  assertEquals(macAt(b, start + 2), HOST_A, "ingress translates our MAT in TLLA");
  assertEquals(checksumsValid(b), "icmpv6");
});

Deno.test("mat egress: captured DHCPDISCOVER gets chaddr and option 61 translated, UDP checksum valid", () => {
  const { mat } = translator();
  const b = loadFrame("dhcp_discover");
  const before = b.slice();
  assertEquals(mat.egress(b, 0), "forward");
  const d = dhcpOf(b);
  assertEquals(macAt(b, d.chaddrOffset), PREFIX + 1);
  const c = d.findOption(61);
  assertEquals(macAt(b, c + 3), PREFIX + 1);
  assertEquals(checksumsValid(b), "udp");
  assertEquals(b.subarray(14, 34), before.subarray(14, 34), "IPv4 header untouched");
  assertEquals(mat.counters.notes["dhcp-rewritten"], 1);
});

Deno.test("mat ingress: captured DHCPOFFER for our client gets chaddr back, UDP checksum valid", () => {
  const { mat } = translator();
  assertEquals(mat.egress(loadFrame("dhcp_discover"), 0), "forward");
  const b = loadFrame("dhcp_offer"); // server behind another node, client A behind us
  writeMac(b, 6, REMOTE);
  writeMac(b, dhcpOf(b).chaddrOffset, PREFIX + 1);
  fixUdp(b);
  assertEquals(mat.ingress(b, 1), "forward");
  assertEquals(macAt(b, dhcpOf(b).chaddrOffset), HOST_A);
  assertEquals(checksumsValid(b), "udp");
});

Deno.test("mat egress: a BOOTREPLY from a local server keeps chaddr (it names the remote client)", () => {
  const { mat } = translator();
  const b = loadFrame("dhcp_offer");
  writeMac(b, dhcpOf(b).chaddrOffset, REMOTE);
  fixUdp(b);
  assertEquals(mat.egress(b, 0), "forward");
  assertEquals(macAt(b, dhcpOf(b).chaddrOffset), REMOTE);
  assertEquals(macAt(b, 6), PREFIX + 1, "source of the server translated");
  assertEquals(checksumsValid(b), "udp");
});

Deno.test("mat: UDP checksum 0 over IPv4 stays 0 in both directions", () => {
  const { mat } = translator();
  const b = loadFrame("dhcp_request");
  const d = dhcpOf(b);
  const u = d.off - 8 + 6;
  b[u] = b[u + 1] = 0;
  assertEquals(mat.egress(b, 0), "forward");
  assertEquals([b[u], b[u + 1]], [0, 0]);
  assertEquals(macAt(b, d.chaddrOffset), PREFIX + 1);
  writeMac(b, 6, REMOTE);
  assertEquals(mat.ingress(b, 1), "forward");
  assertEquals([b[u], b[u + 1]], [0, 0]);
  assertEquals(macAt(b, d.chaddrOffset), HOST_A);
});

Deno.test("mat: option 61 at an odd offset from the UDP header is patched correctly", () => {
  const { mat } = translator();
  const cap = loadFrame("dhcp_discover");
  const d0 = dhcpOf(cap);
  // Insert one Pad before the first option: every option moves one byte.
  const at = d0.off + DHCP.OPTIONS;
  const b = new Uint8Array(cap.length + 1);
  b.set(cap.subarray(0, at));
  b[at] = 0;
  b.set(cap.subarray(at), at + 1);
  b[14 + 3] += 1; // IPv4 total length
  b[14 + 20 + 5] += 1; // UDP length
  new Ipv4Packet().check(b, 14) === "ok" && fillIp(b);
  fixUdp(b);
  const d = dhcpOf(b);
  const c = d.findOption(61);
  assertEquals((c + 3 - (d.off - 8)) & 1, 1, "the MAC sits at an odd offset");
  assertEquals(mat.egress(b, 0), "forward");
  assertEquals(macAt(b, c + 3), PREFIX + 1);
  assertEquals(checksumsValid(b), "udp");
  writeMac(b, 6, REMOTE);
  assertEquals(mat.ingress(b, 1), "forward");
  assertEquals(macAt(b, c + 3), HOST_A);
  assertEquals(checksumsValid(b), "udp");
});

function fillIp(b: Uint8Array): void {
  const ip = new Ipv4Packet();
  ip.check(b, 14);
  ip.fillChecksum();
}

Deno.test("mat: frames with an 802.1Q tag or 802.1ad+802.1Q tags are translated behind the tags", () => {
  const { mat } = translator();
  const one = tag(loadFrame("arp_request"), 0x8100, 100);
  assertEquals(mat.egress(one, 0), "forward");
  assertEquals([macAt(one, 6), macAt(one, 18 + 8)], [PREFIX + 1, PREFIX + 1]);
  assertEquals([one[12], one[13], one[15]], [0x81, 0x00, 100], "tag kept");
  const two = tag(tag(loadFrame("ndp_ns"), 0x8100, 10), 0x88a8, 20);
  assertEquals(mat.egress(two, 0), "forward");
  assertEquals(checksumsValid(two), "icmpv6");
  const o = ndpOption(two, 1);
  assertEquals(macAt(two, o + 2), PREFIX + 1);
});

Deno.test("mat: plain IPv4 and IPv6 frames only change their Ethernet addresses", () => {
  for (
    const name of [
      "ipv4_icmp_echo",
      "ipv6_echo",
      "ipv6_frag_first",
      "ipv6_hbh_mld",
      "llc_stp_bpdu",
    ] as const
  ) {
    const { mat } = translator();
    const b = loadFrame(name);
    const before = b.slice();
    assertEquals(mat.egress(b, 0), "forward", name);
    assertEquals(macAt(b, 6), PREFIX + 1, name);
    assertEquals(b.subarray(12), before.subarray(12), name);
  }
});

Deno.test("mat ingress: drops frames not for this node, for unknown leaves, and our own frames", () => {
  const { mat } = translator();
  assertEquals(mat.egress(loadFrame("ipv4_icmp_echo"), 0), "forward"); // A = leaf 1
  const cases: [string, MacKey, MacKey, MatVerdict][] = [
    ["another node's MAT address", matAddress(SN, 3, 1), REMOTE, "not-ours"],
    ["another supernode", matAddress(SN + 1, NODE, 1), REMOTE, "not-ours"],
    ["a real (untranslated) MAC", HOST_B, REMOTE, "not-ours"],
    ["leaf id not in use", PREFIX + 2, REMOTE, "unknown-leaf"],
    ["our own MAT source (loop)", PREFIX + 1, PREFIX + 1, "own-source"],
    ["multicast source", PREFIX + 1, 0x01_00_5e_00_00_01, "src-invalid"],
    ["zero source", PREFIX + 1, 0, "src-invalid"],
  ];
  for (const [name, dst, src, want] of cases) {
    const b = loadFrame("ipv4_icmp_echo");
    writeMac(b, 0, dst);
    writeMac(b, 6, src);
    const before = b.slice();
    assertEquals(mat.ingress(b, 1), want, name);
    assertEquals(b, before, `${name}: dropped frame untouched`);
  }
  assertEquals(mat.counters.ingress["not-ours"], 3);
  assertEquals(mat.counters.ingress["unknown-leaf"], 1);
  assertEquals(mat.counters.ingress["own-source"], 1);
  assertEquals(mat.counters.ingress["src-invalid"], 2);
  const ok = loadFrame("ipv4_icmp_echo");
  writeMac(ok, 0, PREFIX + 1);
  writeMac(ok, 6, REMOTE);
  assertEquals(mat.ingress(ok, 1), "forward");
  assertEquals(macAt(ok, 0), HOST_A);
});

Deno.test("mat egress: drops with reasons; a full leaf table is counted", () => {
  const { mat, leaves } = translator(1);
  assertEquals(mat.egress(loadFrame("ipv4_icmp_echo"), 0), "forward"); // A takes the only id
  const other = loadFrame("ipv4_icmp_echo");
  writeMac(other, 6, HOST_B);
  assertEquals(mat.egress(other, 0), "leaf-unavailable");
  assertEquals(leaves.refused, 1);
  const arpOther = loadFrame("arp_request");
  writeMac(arpOther, 22, HOST_B); // SHA of a second host (proxy ARP): needs an id too
  assertEquals(mat.egress(arpOther, 0), "leaf-unavailable");
  const loop = loadFrame("ipv4_icmp_echo");
  writeMac(loop, 6, PREFIX + 1);
  assertEquals(mat.egress(loop, 0), "src-own-mat");
  const mc = loadFrame("ipv4_icmp_echo");
  writeMac(mc, 6, 0x33_33_00_00_00_01);
  assertEquals(mat.egress(mc, 0), "src-invalid");
  assertEquals(mat.egress(loadFrame("arp_request").subarray(0, 40), 0), "arp-malformed");
  assertEquals(mat.egress(loadFrame("arp_request").subarray(0, 10), 0), "eth-malformed");
  assertEquals(mat.egress(loadFrame("ipv4_icmp_echo").subarray(0, 30), 0), "ipv4-malformed");
  assertEquals(mat.egress(loadFrame("ndp_ns").subarray(0, 50), 0), "ipv6-malformed");
  const badNdp = loadFrame("ndp_ns");
  badNdp[ndpOption(badNdp, 1) + 1] = 0;
  assertEquals(mat.egress(badNdp, 0), "ndp-malformed");
  const badUdp = loadFrame("dhcp_discover");
  badUdp[14 + 20 + 4] = 0;
  badUdp[14 + 20 + 5] = 7;
  assertEquals(mat.egress(badUdp, 0), "udp-malformed");
  const badDhcp = loadFrame("dhcp_discover");
  badDhcp[14 + 20 + 8 + 2] = 200; // hlen
  assertEquals(mat.egress(badDhcp, 0), "dhcp-malformed");
  assertEquals(mat.counters.egress["leaf-unavailable"], 2);
  assertEquals(mat.counters.egress.forward, 1);
});

Deno.test("mat: NDP in an IPv6 fragment and DHCP in an IPv4 fragment are forwarded untranslated", () => {
  const { mat } = translator();
  const ns = loadFrame("ndp_ns");
  // Insert a Fragment header (offset 0, M set) in front of the ICMPv6 message.
  const b = new Uint8Array(ns.length + 8);
  b.set(ns.subarray(0, 54));
  b.set([58, 0, 0, 1, 0, 0, 0, 7], 54);
  b.set(ns.subarray(54), 62);
  b[14 + 6] = 44;
  b[14 + 5] += 8;
  assertEquals(mat.egress(b, 0), "forward");
  assertEquals(mat.counters.notes["ipv6-fragment-untranslated"], 1);
  const d = loadFrame("dhcp_discover");
  d[14 + 6] = 0x20; // MF
  fillIp(d);
  assertEquals(mat.egress(d, 0), "forward");
  assertEquals(mat.counters.notes["ipv4-fragment-untranslated"], 1);
  assertEquals(macAt(d, dhcpOf(d).chaddrOffset), HOST_A);
});

// ---- property tests: ingress(egress(f)) restores f -------------------------

/** A unicast MAC that is not one of our MAT addresses and not zero. */
const unicast = fc.integer({ min: 1, max: 0xffff_ffff_ffff })
  .map((m) => (isGroup(m) ? m - 0x0100_0000_0000 : m))
  .filter((m) => m !== 0 && matNodePrefix(m) !== PREFIX);
const groupMac = fc.oneof(
  fc.constant(0xffff_ffff_ffff),
  fc.integer({ min: 0, max: 0xffff_ffff }).map((x) => 0x3333_0000_0000 + x),
  fc.integer({ min: 0, max: 0x7f_ffff }).map((x) => 0x0100_5e00_0000 + x),
);
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });

interface Lan {
  src: MacKey;
  other: MacKey;
  dst: MacKey;
  vlan: number; // 0 none, else a VLAN id
  qinq: boolean; // with vlan: an 802.1ad S-tag in front of the 802.1Q tag
}
const lanArb = fc.record({
  src: unicast,
  other: unicast,
  dst: groupMac,
  vlan: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4094 })),
  qinq: fc.boolean(),
});

function ethernet(l: Lan, type: number, payload: Uint8Array): Uint8Array {
  const outer = l.vlan && l.qinq ? 4 : 0;
  const hl = (l.vlan ? 18 : 14) + outer;
  const b = new Uint8Array(hl + payload.length);
  writeMac(b, 0, l.dst);
  writeMac(b, 6, l.src);
  if (outer) emitVlan({ tpid: 0x88a8, pcp: 1, dei: 0, vid: 4000 - l.vlan }, b, 12);
  if (l.vlan) emitVlan({ tpid: 0x8100, pcp: 0, dei: 0, vid: l.vlan }, b, 12 + outer);
  b[hl - 2] = type >>> 8;
  b[hl - 1] = type & 0xff;
  b.set(payload, hl);
  return b;
}

const arpFrame = fc.tuple(lanArb, fc.integer({ min: 1, max: 9 }), fc.boolean(), unicast, fc.nat())
  .map(([l, op, selfSha, tha, ips]) => {
    const p = new Uint8Array(28);
    emitArp(
      {
        op,
        senderHw: selfSha ? l.src : l.other,
        senderIp: ips,
        targetHw: op === 1 ? 0 : tha,
        targetIp: ips ^ 0xff,
      },
      p,
      0,
    );
    return ethernet(l, 0x0806, p);
  });

const ndpOptArb = (l: Lan): fc.Arbitrary<NdpOptionRepr> =>
  fc.oneof(
    fc.constantFrom(1 as const, 2 as const).chain((type) =>
      fc.constantFrom(l.src, l.other).map((lla) => ({ type, lla }))
    ),
    fc.tuple(fc.constantFrom(3, 5, 14, 200), fc.integer({ min: 0, max: 3 })).chain(([type, n]) =>
      bytes(6 + 8 * n, 6 + 8 * n).map((data) => ({ type, data }))
    ),
  );

const ndpFrame = lanArb.chain((l) =>
  fc.tuple(
    fc.constant(l),
    fc.constantFrom(133, 134, 135, 136, 137),
    fc.array(ndpOptArb(l), { maxLength: 4 }),
    bytes(16, 16),
    bytes(16, 16),
    bytes(36, 36),
  )
).map(([l, type, options, src, dst, fixedBytes]) => {
  const fixedLen = { 133: 4, 134: 12, 135: 20, 136: 20, 137: 36 }[type]!;
  const r: NdpRepr = { type, code: 0, fixed: fixedBytes.subarray(0, fixedLen), options };
  let n = 4 + fixedLen;
  for (const o of options) n += "lla" in o ? 8 : 2 + o.data.length;
  const ip = new Uint8Array(40 + n);
  emitIpv6(
    { trafficClass: 0, flowLabel: 0, nextHeader: 58, hopLimit: 255, src, dst, payloadLength: n },
    ip,
    0,
  );
  emitNdp(r, ip, 40);
  const f = ethernet(l, 0x86dd, ip);
  fixIcmpv6(f);
  return f;
});

const dhcpFrame = lanArb.chain((l) =>
  fc.tuple(
    fc.constant(l),
    fc.constantFrom(1, 2),
    fc.constantFrom(l.src, l.other),
    fc.nat(3), // pads before option 61
    fc.boolean(), // option 61 present
    fc.boolean(), // option 61 carries chaddr (else another MAC)
    fc.boolean(), // UDP checksum zero
    bytes(0, 9), // extra option data
  )
).map(([l, op, chaddr, pads, withCid, cidSame, zero, extra]) => {
  const opts: number[] = [53, 1, op === 1 ? 1 : 2];
  for (let i = 0; i < pads; i++) opts.push(0);
  if (withCid) {
    const m = new Uint8Array(6);
    writeMac(m, 0, cidSame ? chaddr : l.other);
    opts.push(61, 7, 1, ...m);
  }
  opts.push(12, extra.length, ...extra, 255);
  const bootp = new Uint8Array(240 + opts.length);
  bootp[0] = op;
  bootp[1] = 1;
  bootp[2] = 6;
  bootp.set([1, 2, 3, 4], 4);
  writeMac(bootp, 28, chaddr);
  bootp.set([99, 130, 83, 99], 236);
  bootp.set(opts, 240);
  const ip = new Uint8Array(20 + 8 + bootp.length);
  emitIpv4(
    {
      tos: 0,
      ident: 1,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 17,
      src: 0,
      dst: 0xffffffff,
      options: new Uint8Array(0),
      payloadLength: 8 + bootp.length,
    },
    ip,
    0,
  );
  emitUdp(
    { srcPort: op === 1 ? 68 : 67, dstPort: op === 1 ? 67 : 68, payloadLength: bootp.length },
    ip,
    20,
  );
  ip.set(bootp, 28);
  const f = ethernet(l, 0x0800, ip);
  if (!zero) fixUdp(f);
  return f;
});

const plainFrame = fc.tuple(lanArb, fc.constantFrom(0x0800, 0x86dd, 0x88b5), bytes(0, 80)).map(
  ([l, type, body]) => {
    if (type === 0x0800) {
      const ip = new Uint8Array(20 + body.length);
      emitIpv4(
        {
          tos: 0,
          ident: 9,
          dontFragment: true,
          moreFragments: false,
          fragmentOffset: 0,
          ttl: 64,
          protocol: 6,
          src: 0x0a000001,
          dst: 0x0a000002,
          options: new Uint8Array(0),
          payloadLength: body.length,
        },
        ip,
        0,
      );
      ip.set(body, 20);
      return ethernet(l, type, ip);
    }
    if (type === 0x86dd) {
      const ip = new Uint8Array(40 + body.length);
      const a = new Uint8Array(16).fill(0xfd);
      emitIpv6(
        {
          trafficClass: 0,
          flowLabel: 1,
          nextHeader: 6,
          hopLimit: 64,
          src: a,
          dst: a,
          payloadLength: body.length,
        },
        ip,
        0,
      );
      ip.set(body, 40);
      return ethernet(l, type, ip);
    }
    return ethernet(l, type, body);
  },
);

/**
 * Egress, then ingress as if the frame had come back over the VPN from
 * another node (ingress drops frames whose source is our own MAT address,
 * so the Ethernet source is swapped for a remote one in between and restored
 * after). Everything else must come back byte for byte.
 */
function roundTrip(f: Uint8Array): void {
  const { mat } = translator();
  const b = f.slice();
  const kind = checksumsValid(f);
  assertEquals(mat.egress(b, 0), "forward");
  assertEquals(checksumsValid(b), kind, "checksums valid after egress");
  assertEquals(macAt(b, 6), PREFIX + 1, "source translated");
  writeMac(b, 6, REMOTE);
  assertEquals(mat.ingress(b, 1), "forward");
  assertEquals(checksumsValid(b), kind, "checksums valid after ingress");
  writeMac(b, 6, macAt(f, 6));
  assertEquals(b, f);
}

Deno.test("mat property: ingress(egress(ARP)) restores the frame", () => {
  fc.assert(fc.property(arpFrame, roundTrip), { seed: 0xa29, numRuns: 400 });
});

Deno.test("mat property: ingress(egress(NDP RS/RA/NS/NA/Redirect with options)) restores the frame", () => {
  fc.assert(fc.property(ndpFrame, roundTrip), { seed: 0x4861, numRuns: 600 });
});

Deno.test("mat property: ingress(egress(DHCP)) restores the frame, odd and even option offsets", () => {
  fc.assert(fc.property(dhcpFrame, roundTrip), { seed: 0x2131, numRuns: 600 });
});

Deno.test("mat property: ingress(egress(plain IPv4/IPv6/other)) restores the frame", () => {
  fc.assert(fc.property(plainFrame, roundTrip), { seed: 0x791, numRuns: 300 });
});

Deno.test("mat property: egress really rewrites sender fields (the round trip is not a no-op)", () => {
  fc.assert(
    fc.property(fc.oneof(arpFrame, ndpFrame, dhcpFrame), (f) => {
      const { mat } = translator();
      const b = f.slice();
      assertEquals(mat.egress(b, 0), "forward");
      assertNotEquals(b, f);
      // no real sender MAC of the frame survives in a sender position it had
      const hosts = [macAt(f, 6)];
      for (let i = 6; i + 6 <= b.length; i++) {
        const was = macAt(f, i);
        if (hosts.includes(was) && macAt(b, i) !== was) {
          assertEquals(matNodePrefix(macAt(b, i)), PREFIX);
        }
      }
    }),
    { seed: 0xbeef, numRuns: 300 },
  );
});

const VERDICTS = new Set<string>(Object.keys(translator().mat.counters.egress));

Deno.test("mat property: random bytes and mutated captures never throw", () => {
  const golden =
    (["arp_request", "ndp_ns", "ndp_ra", "dhcp_discover", "dhcp_offer", "ipv6_hbh_mld"] as const)
      .map((n) => loadFrame(n));
  const { mat } = translator(4);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.tuple(
          fc.nat(golden.length - 1),
          fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 5 }),
        )
          .map(([w, flips]) => {
            const b = golden[w].slice();
            for (const [at, v] of flips) b[at % b.length] = v;
            return b;
          }),
      ),
      fc.boolean(),
      (b, dir) => {
        const v = dir ? mat.egress(b, 0) : mat.ingress(b, 0);
        assert(VERDICTS.has(v), v);
      },
    ),
    { seed: 0xdead, numRuns: 3000 },
  );
  const total = (o: Record<string, number>) => Object.values(o).reduce((a, x) => a + x, 0);
  assertEquals(total(mat.counters.egress) + total(mat.counters.ingress), 3000);
});

Deno.test("mat: internetChecksum sanity for the checker itself", () => {
  // The checker must be able to fail: corrupt a byte and it does.
  const b = loadFrame("ndp_ns");
  b[b.length - 1] ^= 1;
  let threw = false;
  try {
    checksumsValid(b);
  } catch {
    threw = true;
  }
  assert(threw);
  assertEquals(internetChecksum(new Uint8Array([0xff, 0xff]), 0, 2), 0);
});
