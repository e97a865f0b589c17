import { assert, assertEquals } from "../assert.ts";
import { FRAME_NAMES, loadFrame } from "../fixtures/frames/load.ts";
import {
  emitEthernet,
  ethDstHi,
  ethDstLo,
  EthernetFrame,
  ethernetHeaderLength,
  type EthernetReason,
  ethScan,
  ethSrcHi,
  ethSrcLo,
  parseEthernet,
  SCAN_TAG_TRUNCATED,
  SCAN_TRUNCATED,
  scanTags,
  scanType,
} from "../../core/wire/ethernet.ts";
import { emitLlc, LlcHeader, llcLength, parseLlc, SAP_STP } from "../../core/wire/llc.ts";
import {
  emitVlan,
  parseVlan,
  TPID_8021AD,
  TPID_8021Q,
  type VlanReason,
  VlanTag,
} from "../../core/wire/vlan.ts";

/** Inserts 802.1Q/802.1ad tags after the source MAC of an untagged frame. */
function tagged(frame: Uint8Array, tags: { tpid: number; vid: number; pcp: number }[]): Uint8Array {
  const out = new Uint8Array(frame.length + 4 * tags.length);
  out.set(frame.subarray(0, 12));
  let p = 12;
  for (const t of tags) {
    emitVlan({ tpid: t.tpid, pcp: t.pcp, dei: 0, vid: t.vid }, out, p);
    p += 4;
  }
  out.set(frame.subarray(12), p);
  return out;
}

Deno.test("ethernet: every captured frame parses, and the header re-emits byte for byte", () => {
  const f = new EthernetFrame();
  for (const name of FRAME_NAMES) {
    const bytes = loadFrame(name);
    assertEquals(f.check(bytes), "ok", name);
    const r = parseEthernet(f);
    assert(r.ok);
    const hl = ethernetHeaderLength(r.value);
    assertEquals(hl, f.payloadOffset, name);
    const out = new Uint8Array(hl);
    emitEthernet(r.value, out, 0);
    assertEquals(out, bytes.subarray(0, hl), name);
  }
});

Deno.test("ethernet: captured ARP request names its addresses and EtherType", () => {
  const f = new EthernetFrame();
  assertEquals(f.check(loadFrame("arp_request")), "ok");
  assertEquals(f.dst, 0xffff_ffff_ffff);
  assertEquals(f.src, 0x02_00_00_00_0a_01);
  assertEquals(f.etherType, 0x0806);
  assertEquals(f.tagCount, 0);
  assertEquals(f.payloadLength, 28);
});

Deno.test("ethernet: captured STP BPDU is an 802.3 length frame with LLC 42/42/03", () => {
  const bytes = loadFrame("llc_stp_bpdu");
  const f = new EthernetFrame();
  assertEquals(f.check(bytes), "ok");
  assert(f.isLengthFrame);
  assertEquals(f.etherType, -1);
  assertEquals(f.payloadLength, 38);
  const l = new LlcHeader();
  assertEquals(l.check(bytes, f.payloadOffset, f.payloadLength), "ok");
  assertEquals([l.dsap, l.ssap, l.control, l.headerLength], [SAP_STP, SAP_STP, 3, 3]);
  const r = parseLlc(l);
  assert(r.ok);
  const out = new Uint8Array(llcLength(r.value));
  emitLlc(r.value, out, 0);
  assertEquals(out, bytes.subarray(f.payloadOffset, f.payloadOffset + 3));
});

Deno.test("llc: I-format control field is two octets and round-trips", () => {
  const b = new Uint8Array([0xf0, 0xf0, 0x0a, 0x0b, 0x99]);
  const l = new LlcHeader();
  assertEquals(l.check(b), "ok");
  assertEquals([l.isUFormat, l.control, l.headerLength], [false, 0x0a0b, 4]);
  const r = parseLlc(l);
  assert(r.ok);
  const out = new Uint8Array(llcLength(r.value));
  emitLlc(r.value, out, 0);
  assertEquals(out, b.subarray(0, 4));
  assertEquals(l.check(b, 0, 3), "llc-truncated");
});

Deno.test("ethernet: 802.1Q and 802.1ad+802.1Q tags are walked and re-emitted", () => {
  const base = loadFrame("arp_request");
  const f = new EthernetFrame();
  const one = tagged(base, [{ tpid: TPID_8021Q, vid: 100, pcp: 5 }]);
  assertEquals(f.check(one), "ok");
  assertEquals([f.tagCount, f.payloadOffset, f.etherType], [1, 18, 0x0806]);
  const t = new VlanTag();
  assertEquals(t.check(one, f.tagOffset(0)), "ok");
  assertEquals([t.tpid, t.vid, t.pcp, t.dei], [TPID_8021Q, 100, 5, 0]);
  const vr = parseVlan(t);
  assert(vr.ok);
  assertEquals(vr.value, { tpid: TPID_8021Q, pcp: 5, dei: 0, vid: 100 });

  const two = tagged(base, [
    { tpid: TPID_8021AD, vid: 200, pcp: 0 },
    { tpid: TPID_8021Q, vid: 4094, pcp: 7 },
  ]);
  assertEquals(f.check(two), "ok");
  assertEquals([f.tagCount, f.payloadOffset, f.etherType], [2, 22, 0x0806]);
  const r = parseEthernet(f);
  assert(r.ok);
  assertEquals(r.value.tags.map((x) => [x.tpid, x.vid, x.pcp]), [
    [TPID_8021AD, 200, 0],
    [TPID_8021Q, 4094, 7],
  ]);
  const out = new Uint8Array(ethernetHeaderLength(r.value));
  emitEthernet(r.value, out, 0);
  assertEquals(out, two.subarray(0, 22));
});

Deno.test("ethernet: invalid inputs give their reason codes", () => {
  const base = loadFrame("arp_request");
  const three = tagged(base, [
    { tpid: TPID_8021AD, vid: 1, pcp: 0 },
    { tpid: TPID_8021Q, vid: 2, pcp: 0 },
    { tpid: TPID_8021Q, vid: 3, pcp: 0 },
  ]);
  const reserved = base.slice();
  reserved[12] = 0x05;
  reserved[13] = 0xdd;
  const longLen = base.slice();
  longLen[12] = 0x00;
  longLen[13] = 29; // 29 > 28 bytes of payload
  const cases: [string, Uint8Array, EthernetReason][] = [
    ["empty", new Uint8Array(0), "eth-truncated"],
    ["13 bytes", base.subarray(0, 13), "eth-truncated"],
    [
      "tag without inner type",
      tagged(base, [{ tpid: TPID_8021Q, vid: 1, pcp: 0 }]).subarray(0, 17),
      "eth-tag-truncated",
    ],
    ["three tags", three, "eth-too-many-tags"],
    ["type/length 0x05dd", reserved, "eth-bad-type-length"],
    ["802.3 length past the end", longLen, "eth-length-exceeds-frame"],
  ];
  const f = new EthernetFrame();
  for (const [name, bytes, reason] of cases) {
    assertEquals(f.check(bytes), reason, name);
    assertEquals(f.len, 0, `${name}: view left empty`);
  }
  assertEquals(f.check(base, 40), "eth-truncated", "offset past the end");
  assertEquals(f.check(base, 0, 100), "eth-truncated", "length past the end");
});

Deno.test("ethernet: an unknown EtherType passes through", () => {
  const b = loadFrame("arp_request");
  b[12] = 0x88;
  b[13] = 0xb5;
  const f = new EthernetFrame();
  assertEquals(f.check(b), "ok");
  assertEquals(f.etherType, 0x88b5);
});

Deno.test("vlan: invalid inputs give their reason codes", () => {
  const cases: [string, Uint8Array, VlanReason][] = [
    ["empty", new Uint8Array(0), "vlan-truncated"],
    ["3 bytes", new Uint8Array([0x81, 0x00, 0x00]), "vlan-truncated"],
    ["legacy 0x9100 TPID", new Uint8Array([0x91, 0x00, 0x00, 0x64]), "vlan-bad-tpid"],
    ["an EtherType", new Uint8Array([0x08, 0x00, 0x45, 0x00]), "vlan-bad-tpid"],
  ];
  const t = new VlanTag();
  for (const [name, bytes, reason] of cases) assertEquals(t.check(bytes), reason, name);
  assertEquals(t.check(new Uint8Array([0x88, 0xa8, 0xff, 0xff])), "ok");
  assertEquals([t.pcp, t.dei, t.vid], [7, 1, 4095], "reserved VID 4095 passes through");
});

Deno.test("ethernet: ethScan and the static accessors read what checkHeader and the view's getters read", () => {
  const f = new EthernetFrame();
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const tpids = [0x8100, 0x88a8, 0x0800, 0x05dc, 0x0600];
  for (let i = 0; i < 3000; i++) {
    const b = new Uint8Array(Math.floor(rand() * 30));
    for (let k = 0; k < b.length; k++) b[k] = Math.floor(rand() * 256);
    // Put TPIDs where the walk looks, so tagged and truncated-tag frames are frequent.
    for (let p = 12; p + 1 < b.length; p += 4) {
      const t = tpids[Math.floor(rand() * tpids.length)];
      b[p] = t >> 8;
      b[p + 1] = t & 0xff;
    }
    const off = b.length > 2 && rand() < 0.3 ? 1 : 0;
    const len = b.length - off;
    const why = f.checkHeader(b, off, len);
    const scan = ethScan(b, off, len);
    if (why !== "ok") {
      assertEquals(scan, why === "eth-truncated" ? SCAN_TRUNCATED : SCAN_TAG_TRUNCATED, why);
      continue;
    }
    assert(scan >= 0);
    assertEquals([scanTags(scan), scanType(scan)], [f.tagCount, f.typeOrLength]);
    assertEquals(
      [ethDstHi(b, off), ethDstLo(b, off), ethSrcHi(b, off), ethSrcLo(b, off)],
      [f.dstHi, f.dstLo, f.srcHi, f.srcLo],
    );
  }
});
