import { assert, assertEquals } from "../assert.ts";
import { type FrameName, loadFrame } from "../fixtures/frames/load.ts";
import { EthernetFrame } from "../../core/wire/ethernet.ts";
import {
  emitIpv4,
  IP_PROTO,
  ipv4HeaderLength,
  Ipv4Packet,
  type Ipv4Reason,
  parseIpv4,
} from "../../core/wire/ipv4.ts";

const V4_FRAMES: FrameName[] = [
  "ipv4_icmp_echo",
  "dhcp_discover",
  "dhcp_offer",
  "dhcp_request",
  "dhcp_ack",
];

function ipOf(name: FrameName): [Uint8Array, number] {
  const b = loadFrame(name);
  const f = new EthernetFrame();
  assertEquals(f.check(b), "ok");
  return [b, f.payloadOffset];
}

Deno.test("ipv4: captured headers parse, verify, and re-emit byte for byte (checksum included)", () => {
  const p = new Ipv4Packet();
  for (const name of V4_FRAMES) {
    const [b, po] = ipOf(name);
    assertEquals(p.check(b, po), "ok", name);
    assert(p.checksumValid(), name);
    const r = parseIpv4(p);
    assert(r.ok);
    const hl = ipv4HeaderLength(r.value);
    const out = new Uint8Array(hl);
    emitIpv4(r.value, out, 0);
    assertEquals(out, b.subarray(po, po + hl), name);
  }
});

Deno.test("ipv4: captured echo request fields", () => {
  const [b, po] = ipOf("ipv4_icmp_echo");
  const p = new Ipv4Packet();
  assertEquals(p.check(b, po), "ok");
  assertEquals([p.protocol, p.src, p.dst, p.headerLength, p.payloadLength], [
    IP_PROTO.ICMP,
    0x0a4d0001,
    0x0a4d0002,
    20,
    64,
  ]);
  assert(p.dontFragment);
  assert(!p.isFragment);
});

Deno.test("ipv4: a corrupted header fails the checksum but still checks; fillChecksum repairs it", () => {
  const [b, po] = ipOf("ipv4_icmp_echo");
  b[po + 8] ^= 1; // TTL
  const p = new Ipv4Packet();
  assertEquals(p.check(b, po), "ok");
  assert(!p.checksumValid());
  p.fillChecksum();
  assert(p.checksumValid());
});

Deno.test("ipv4: Ethernet padding after the total length is not payload", () => {
  const [b, po] = ipOf("ipv4_icmp_echo");
  const padded = new Uint8Array(b.length + 10);
  padded.set(b);
  const p = new Ipv4Packet();
  assertEquals(p.check(padded, po), "ok");
  assertEquals(p.totalLength, 84);
});

Deno.test("ipv4: invalid inputs give their reason codes", () => {
  const [b, po] = ipOf("ipv4_icmp_echo");
  const h = b.slice(po);
  const with_ = (i: number, v: number) => {
    const c = h.slice();
    c[i] = v;
    return c;
  };
  const cases: [string, Uint8Array, Ipv4Reason][] = [
    ["empty", new Uint8Array(0), "ipv4-truncated"],
    ["19 bytes", h.subarray(0, 19), "ipv4-truncated"],
    ["version 6", with_(0, 0x65), "ipv4-bad-version"],
    ["IHL 4", with_(0, 0x44), "ipv4-bad-ihl"],
    ["IHL 15 in 24 bytes", with_(0, 0x4f).subarray(0, 24), "ipv4-truncated"],
    ["total length below the header", with_(3, 19), "ipv4-bad-total-length"],
    ["total length past the buffer", with_(3, 85), "ipv4-bad-total-length"],
  ];
  const p = new Ipv4Packet();
  for (const [name, bytes, reason] of cases) assertEquals(p.check(bytes), reason, name);
});

Deno.test("ipv4: options and fragment fields round-trip through the repr", () => {
  const b = new Uint8Array(32);
  emitIpv4(
    {
      tos: 0xb8,
      ident: 0x1234,
      dontFragment: false,
      moreFragments: true,
      fragmentOffset: 185,
      ttl: 1,
      protocol: IP_PROTO.UDP,
      src: 0xc0000201,
      dst: 0xc6336402,
      options: new Uint8Array([0x94, 0x04, 0x00, 0x00]), // Router Alert
      payloadLength: 8,
    },
    b,
    0,
  );
  const p = new Ipv4Packet();
  assertEquals(p.check(b), "ok");
  assert(p.checksumValid());
  assertEquals([p.headerLength, p.moreFragments, p.fragmentOffset, p.isFragment], [
    24,
    true,
    185,
    true,
  ]);
  const r = parseIpv4(p);
  assert(r.ok);
  assertEquals(r.value.options, new Uint8Array([0x94, 0x04, 0x00, 0x00]));
});
