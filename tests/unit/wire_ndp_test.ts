import { assert, assertEquals } from "../assert.ts";
import { type FrameName, loadFrame } from "../fixtures/frames/load.ts";
import { EthernetFrame } from "../../core/wire/ethernet.ts";
import {
  emitIcmpv6,
  ICMPV6_TYPE,
  icmpv6Length,
  Icmpv6Packet,
  parseIcmpv6,
} from "../../core/wire/icmpv6.ts";
import { Ipv6Packet } from "../../core/wire/ipv6.ts";
import {
  emitNdp,
  NDP_OPTION,
  ndpLength,
  NdpMessage,
  type NdpReason,
  parseNdp,
} from "../../core/wire/ndp.ts";

const NDP_FRAMES = ["ndp_rs", "ndp_ra", "ndp_ns", "ndp_na", "ndp_redirect"] as const;

function icmpOf(name: FrameName): { b: Uint8Array; ip: Ipv6Packet } {
  const b = loadFrame(name);
  const f = new EthernetFrame();
  assertEquals(f.check(b), "ok");
  const ip = new Ipv6Packet();
  assertEquals(ip.check(b, f.payloadOffset), "ok");
  assertEquals(ip.upperProtocol, 58);
  return { b, ip };
}

Deno.test("icmpv6: captured checksums verify with the pseudo-header; a flipped bit fails", () => {
  const m = new Icmpv6Packet();
  for (const name of [...NDP_FRAMES, "ipv6_echo", "ipv6_hbh_mld"] as const) {
    const { b, ip } = icmpOf(name);
    assertEquals(m.check(b, ip.upperOffset, ip.upperLength), "ok");
    assert(m.checksumValid(ip.srcOffset, ip.dstOffset), name);
    b[ip.upperOffset + ip.upperLength - 1] ^= 0x10;
    assert(!m.checksumValid(ip.srcOffset, ip.dstOffset), `${name} corrupted`);
  }
});

Deno.test("icmpv6: echo request parses, re-emits, and fillChecksum restores the captured checksum", () => {
  const { b, ip } = icmpOf("ipv6_echo");
  const m = new Icmpv6Packet();
  assertEquals(m.check(b, ip.upperOffset, ip.upperLength), "ok");
  const r = parseIcmpv6(m);
  assert(r.ok);
  assertEquals(r.value.type, ICMPV6_TYPE.ECHO_REQUEST);
  const copy = b.slice();
  emitIcmpv6(r.value, copy, ip.upperOffset);
  const m2 = new Icmpv6Packet();
  assertEquals(m2.check(copy, ip.upperOffset, icmpv6Length(r.value)), "ok");
  m2.fillChecksum(ip.srcOffset, ip.dstOffset);
  assertEquals(copy, b);
  assertEquals(m.check(b, 0, 3), "icmpv6-truncated");
});

Deno.test("ndp: captured RS, RA, NS, NA, Redirect parse and re-emit byte for byte", () => {
  const m = new NdpMessage();
  for (const name of NDP_FRAMES) {
    const { b, ip } = icmpOf(name);
    assertEquals(m.check(b, ip.upperOffset, ip.upperLength), "ok", name);
    const r = parseNdp(m);
    assert(r.ok);
    assertEquals(ndpLength(r.value), ip.upperLength, name);
    const copy = b.slice();
    copy.fill(0, ip.upperOffset);
    emitNdp(r.value, copy, ip.upperOffset);
    const c = new Icmpv6Packet();
    assertEquals(c.check(copy, ip.upperOffset, ip.upperLength), "ok");
    c.fillChecksum(ip.srcOffset, ip.dstOffset);
    assertEquals(copy, b, name);
  }
});

Deno.test("ndp: captured options are iterated with their link-layer addresses", () => {
  const want: Record<typeof NDP_FRAMES[number], [number, number][]> = {
    ndp_rs: [[NDP_OPTION.SOURCE_LLA, 0x02_00_00_00_0a_01]],
    ndp_ra: [[NDP_OPTION.PREFIX_INFO, -1], [NDP_OPTION.MTU, -1], [
      NDP_OPTION.SOURCE_LLA,
      0x02_00_00_00_0b_02,
    ]],
    ndp_ns: [[NDP_OPTION.SOURCE_LLA, 0x02_00_00_00_0a_01]],
    ndp_na: [[NDP_OPTION.TARGET_LLA, 0x02_00_00_00_0b_02]],
    ndp_redirect: [[NDP_OPTION.REDIRECTED_HEADER, -1]],
  };
  const m = new NdpMessage();
  for (const name of NDP_FRAMES) {
    const { b, ip } = icmpOf(name);
    assertEquals(m.check(b, ip.upperOffset, ip.upperLength), "ok");
    const r = parseNdp(m);
    assert(r.ok);
    assertEquals(r.value.options.map((o) => [o.type, "lla" in o ? o.lla : -1]), want[name], name);
    const seen: number[] = [];
    for (let o = m.optionsOffset; o < m.end; o = m.nextOption(o)) seen.push(m.optionType(o));
    assertEquals(seen, want[name].map(([t]) => t), name);
  }
});

Deno.test("ndp: target address offset is set for NS, NA and Redirect only", () => {
  const m = new NdpMessage();
  for (const name of NDP_FRAMES) {
    const { b, ip } = icmpOf(name);
    assertEquals(m.check(b, ip.upperOffset, ip.upperLength), "ok");
    const has = name === "ndp_ns" || name === "ndp_na" || name === "ndp_redirect";
    assertEquals(m.targetOffset, has ? ip.upperOffset + 8 : -1, name);
  }
});

Deno.test("ndp: invalid inputs give their reason codes", () => {
  const { b, ip } = icmpOf("ndp_ra");
  const ra = b.slice(ip.upperOffset, ip.upperOffset + ip.upperLength);
  // RA options: prefix info at 16 (32 bytes), MTU at 48 (8), SLLA at 56 (8).
  const zero = ra.slice();
  zero[48 + 1] = 0;
  const over = ra.slice();
  over[56 + 1] = 2;
  const echo = ra.slice();
  echo[0] = 128;
  const cases: [string, Uint8Array, NdpReason][] = [
    ["empty", new Uint8Array(0), "ndp-truncated"],
    ["RA fixed part short", ra.subarray(0, 15), "ndp-truncated"],
    ["NS fixed part short", new Uint8Array([135, 0, 0, 0, 0, 0, 0, 0]), "ndp-truncated"],
    ["Redirect fixed part short", new Uint8Array(39).fill(137, 0, 1), "ndp-truncated"],
    ["echo request", echo, "ndp-not-ndp"],
    ["option of length 0", zero, "ndp-option-zero-length"],
    ["option past the end", over, "ndp-option-truncated"],
    ["one byte of option", ra.subarray(0, 17), "ndp-option-truncated"],
  ];
  const m = new NdpMessage();
  for (const [name, bytes, reason] of cases) {
    assertEquals(m.check(bytes), reason, name);
    assertEquals(m.len, 0, `${name}: view left empty`);
  }
});

Deno.test("ndp: unknown option types pass through and round-trip", () => {
  const msg = new Uint8Array([
    ...[133, 0, 0, 0, 0, 0, 0, 0],
    ...[200, 1, 1, 2, 3, 4, 5, 6], // unknown type 200
    ...[1, 2, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0, 0, 0, 0, 0, 0, 0, 0], // 16-byte SLLA (not Ethernet)
  ]);
  const m = new NdpMessage();
  assertEquals(m.check(msg), "ok");
  const r = parseNdp(m);
  assert(r.ok);
  assertEquals(r.value.options.map((o) => o.type), [200, 1]);
  assert(!("lla" in r.value.options[1]), "a 16-byte SLLA is kept as bytes");
  const out = new Uint8Array(ndpLength(r.value));
  emitNdp(r.value, out, 0);
  assertEquals(out, msg);
});
