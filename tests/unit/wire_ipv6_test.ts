import { assert, assertEquals } from "../assert.ts";
import { type FrameName, loadFrame } from "../fixtures/frames/load.ts";
import { EthernetFrame } from "../../core/wire/ethernet.ts";
import {
  emitIpv6,
  IPV6,
  ipv6HeaderLength,
  Ipv6Packet,
  type Ipv6Reason,
  NEXT_HEADER,
  parseIpv6,
} from "../../core/wire/ipv6.ts";

function ipOf(name: FrameName): [Uint8Array, number] {
  const b = loadFrame(name);
  const f = new EthernetFrame();
  assertEquals(f.check(b), "ok");
  return [b, f.payloadOffset];
}

/** An IPv6 packet with the given extension headers (each [type, bytes]) and upper payload. */
function chain(first: number, exts: [number, Uint8Array][], upper: Uint8Array): Uint8Array {
  let n = 0;
  for (const [, e] of exts) n += e.length;
  const b = new Uint8Array(40 + n + upper.length);
  emitIpv6(
    {
      trafficClass: 0,
      flowLabel: 0,
      nextHeader: first,
      hopLimit: 64,
      src: new Uint8Array(16),
      dst: new Uint8Array(16),
      payloadLength: n + upper.length,
    },
    b,
    0,
  );
  let p = 40;
  for (const [next, e] of exts) {
    b.set(e, p);
    b[p] = next;
    p += e.length;
  }
  b.set(upper, p);
  return b;
}

/** Generic extension header of 8 * (len + 1) bytes. */
function ext(len8: number): Uint8Array {
  const e = new Uint8Array(8 * (len8 + 1));
  e[1] = len8;
  return e;
}

/** Fragment header with offset (8-octet units) and M flag. */
function frag(offset: number, more: boolean): Uint8Array {
  const e = new Uint8Array(8);
  const v = (offset << 3) | (more ? 1 : 0);
  e[2] = v >>> 8;
  e[3] = v & 0xff;
  e[7] = 42;
  return e;
}

Deno.test("ipv6: captured fixed headers parse and re-emit byte for byte", () => {
  const p = new Ipv6Packet();
  for (
    const name of [
      "ndp_ns",
      "ndp_na",
      "ndp_rs",
      "ndp_ra",
      "ndp_redirect",
      "ipv6_echo",
      "ipv6_frag_first",
      "ipv6_hbh_mld",
    ] as const
  ) {
    const [b, po] = ipOf(name);
    assertEquals(p.check(b, po), "ok", name);
    const r = parseIpv6(p);
    assert(r.ok);
    const out = new Uint8Array(ipv6HeaderLength(r.value));
    emitIpv6(r.value, out, 0);
    assertEquals(out, b.subarray(po, po + IPV6.HEADER_LEN), name);
  }
});

Deno.test("ipv6: captured MLDv2 report walks Hop-by-Hop to ICMPv6", () => {
  const [b, po] = ipOf("ipv6_hbh_mld");
  const p = new Ipv6Packet();
  assertEquals(p.check(b, po), "ok");
  assertEquals([p.nextHeader, p.extCount, p.upperProtocol, p.upperOffset - po], [0, 1, 58, 48]);
  assertEquals(b[p.upperOffset], 143);
});

Deno.test("ipv6: captured first fragment walks the Fragment header to ICMPv6", () => {
  const [b, po] = ipOf("ipv6_frag_first");
  const p = new Ipv6Packet();
  assertEquals(p.check(b, po), "ok");
  assertEquals([p.extCount, p.upperProtocol, p.isFragment, p.upperInThisPacket], [
    1,
    58,
    true,
    true,
  ]);
  assertEquals(p.fragmentHeaderOffset, po + 40);
  assertEquals(b[p.upperOffset], 128);
});

Deno.test("ipv6: HBH, DestOpts, Routing, Fragment then UDP", () => {
  const b = chain(NEXT_HEADER.HOP_BY_HOP, [
    [NEXT_HEADER.DEST_OPTS, ext(0)],
    [NEXT_HEADER.ROUTING, ext(1)],
    [NEXT_HEADER.FRAGMENT, ext(2)],
    [NEXT_HEADER.UDP, frag(0, false)],
  ], new Uint8Array(8));
  const p = new Ipv6Packet();
  assertEquals(p.check(b), "ok");
  assertEquals([p.extCount, p.upperProtocol, p.upperOffset, p.upperLength], [4, 17, 96, 8]);
  assert(p.hasFragmentHeader);
  assert(!p.isFragment, "atomic fragment");
});

Deno.test("ipv6: a non-first fragment stops the walk; its upper header is elsewhere", () => {
  const b = chain(
    NEXT_HEADER.FRAGMENT,
    [[NEXT_HEADER.ICMPV6, frag(100, true)]],
    new Uint8Array(16),
  );
  const p = new Ipv6Packet();
  assertEquals(p.check(b), "ok");
  assertEquals([p.upperProtocol, p.isFragment, p.upperInThisPacket], [58, true, false]);
  // Even when the fragment data happens to look like an extension header.
  const c = chain(NEXT_HEADER.FRAGMENT, [[NEXT_HEADER.ROUTING, frag(1, false)]], ext(30));
  assertEquals(p.check(c), "ok");
  assertEquals([p.extCount, p.upperProtocol], [1, NEXT_HEADER.ROUTING]);
});

Deno.test("ipv6: unknown next headers stop the walk and pass through", () => {
  const b = chain(NEXT_HEADER.DEST_OPTS, [[253, ext(0)]], new Uint8Array(3));
  const p = new Ipv6Packet();
  assertEquals(p.check(b), "ok");
  assertEquals([p.upperProtocol, p.upperLength], [253, 3]);
  const none = chain(NEXT_HEADER.NO_NEXT, [], new Uint8Array(0));
  assertEquals(p.check(none), "ok");
  assertEquals([p.upperProtocol, p.upperLength], [59, 0]);
});

Deno.test("ipv6: invalid inputs give their reason codes", () => {
  const [b, po] = ipOf("ipv6_echo");
  const h = b.slice(po);
  const v4 = h.slice();
  v4[0] = 0x45;
  const long = h.slice();
  long[5] += 1;
  const many: [number, Uint8Array][] = [];
  for (let i = 0; i < 9; i++) many.push([NEXT_HEADER.DEST_OPTS, ext(0)]);
  many[8][0] = NEXT_HEADER.UDP;
  const cases: [string, Uint8Array, Ipv6Reason][] = [
    ["empty", new Uint8Array(0), "ipv6-truncated"],
    ["39 bytes", h.subarray(0, 39), "ipv6-truncated"],
    ["version 4", v4, "ipv6-bad-version"],
    ["payload length past the buffer", long, "ipv6-bad-payload-length"],
    ["frame cut inside the payload", h.subarray(0, 60), "ipv6-bad-payload-length"],
    ["ext header cut", chain(NEXT_HEADER.ROUTING, [], new Uint8Array(4)), "ipv6-ext-truncated"],
    [
      "ext header longer than payload",
      chain(NEXT_HEADER.ROUTING, [], ext(2).subarray(0, 16)),
      "ipv6-ext-truncated",
    ],
    [
      "hop-by-hop after another header",
      chain(
        NEXT_HEADER.DEST_OPTS,
        [[NEXT_HEADER.HOP_BY_HOP, ext(0)], [NEXT_HEADER.UDP, ext(0)]],
        new Uint8Array(0),
      ),
      "ipv6-hbh-not-first",
    ],
    [
      "nine extension headers",
      chain(NEXT_HEADER.DEST_OPTS, many, new Uint8Array(0)),
      "ipv6-too-many-ext",
    ],
  ];
  const p = new Ipv6Packet();
  for (const [name, bytes, reason] of cases) {
    assertEquals(p.check(bytes), reason, name);
    assertEquals(p.len, 0, `${name}: view left empty`);
  }
});
