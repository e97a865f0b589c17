/**
 * VPN wire format: golden bytes, invalid-input tables, parse(emit(x)) == x
 * properties for the header, endpoints and every message, and seeded random
 * or mutated bytes that must never throw.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import {
  ENCAP_BUDGET,
  ENCAP_OVERHEAD,
  HEADER_LENGTH,
  HOP_TAG_RESERVE,
  IDENTITY_LENGTH,
  MAX_ENDPOINTS,
  maxFrame,
  MsgType,
  NAK_NAMES,
  type NakReason,
  TAG_LENGTH,
  tapMtu,
  UNDERLAY_OVERHEAD_IPV4,
  UNDERLAY_OVERHEAD_IPV6,
} from "../../core/vpn/constants.ts";
import {
  canonicalEndpoint,
  formatEndpoint,
  parseEndpoint,
  type WireEndpoint,
} from "../../core/vpn/endpoint.ts";
import { checkHeader, emitHeader, type HeaderRepr, headerWhy } from "../../core/vpn/header.ts";
import {
  DATA_HEADROOM,
  DATA_TAILROOM,
  decodePacket,
  encodeDataPacket,
  encodePacket,
  type Message,
  openPacket,
  parseBody,
} from "../../core/vpn/messages.ts";
import { NullSealer, type Sealer } from "../../core/vpn/sealer.ts";

/** Opens everything: lets mutated bodies reach the body parsers. */
const trustAll: Sealer = { seal: () => "ok", open: () => "ok" };

function hexBytes(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

Deno.test("vpn codec: golden KEEPALIVE packet, byte by byte", () => {
  const s = new NullSealer();
  const r = encodePacket(
    { network: 0x0102, sender: 0x0a0b, receiver: 0 },
    {
      kind: "keepalive",
      seq: 0xdeadbeef,
      time: 0x00010203,
    },
    s,
    0,
  );
  assert(r.ok);
  const expectedHead = hexBytes(
    "4c 02 05 00  0102 0a0b  0000 0000  00000000  00000000 00000000  deadbeef 00010203",
  );
  assertEquals(r.packet.length, HEADER_LENGTH + 8 + TAG_LENGTH);
  assertEquals(r.packet.subarray(0, expectedHead.length), expectedHead);
  // The null tag: FNV-1a over header+body in 4 bytes, then 12 zero bytes.
  assertEquals(r.packet.subarray(HEADER_LENGTH + 8 + 4), new Uint8Array(12));
  // The second packet carries counter 1.
  const r2 = encodePacket(
    { network: 0, sender: 1, receiver: 0 },
    { kind: "deregister", reason: 0 },
    s,
    0,
  );
  assert(r2.ok);
  assertEquals(r2.packet.subarray(16, 24), hexBytes("00000000 00000001"));
  const d = decodePacket(r.packet, s, 0, "");
  assert(d.ok);
  assertEquals(d.msg, { kind: "keepalive", seq: 0xdeadbeef, time: 0x00010203 });
  assertEquals(d.header.network, 0x0102);
  assertEquals(d.header.sender, 0x0a0b);
});

Deno.test("vpn codec: golden PEER_INTRO with an IPv4 and an IPv6 endpoint", () => {
  const r = encodePacket(
    { network: 0, sender: 0, receiver: 7 },
    {
      kind: "peer_intro",
      peer: 9,
      endpoints: ["198.51.100.7:40000", "[2001:db8::1]:7654"],
    },
    trustAll,
    0,
  );
  assert(r.ok);
  const body = r.packet.subarray(HEADER_LENGTH, r.packet.length - TAG_LENGTH);
  assertEquals(
    body,
    hexBytes(
      "0009 02 00" + "04 9c40 c6336407" + "06 1de6 20010db8000000000000000000000001",
    ),
  );
});

Deno.test("vpn codec: invalid inputs give their reason codes", () => {
  const good = encodePacket(
    { network: 0, sender: 1, receiver: 0 },
    {
      kind: "keepalive",
      seq: 1,
      time: 2,
    },
    trustAll,
    0,
  );
  assert(good.ok);
  const mutate = (f: (b: Uint8Array) => void) => {
    const b = good.packet.slice();
    f(b);
    return b;
  };
  const cases: [string, Uint8Array, string][] = [
    ["empty", new Uint8Array(0), "truncated"],
    ["header only, no tag", good.packet.subarray(0, HEADER_LENGTH + 8), "truncated"],
    ["bad magic", mutate((b) => b[0] = 0x4d), "bad_magic"],
    ["version 1 (before issue 13)", mutate((b) => b[1] = 1), "bad_version"],
    ["version 3", mutate((b) => b[1] = 3), "bad_version"],
    ["counter 2^53", mutate((b) => b[17] = 0x20), "bad_counter"],
    ["unknown type 0x20 (reserved for issue 6)", mutate((b) => b[2] = 0x20), "unknown_type"],
    ["keepalive with a 7-byte body", good.packet.subarray(1).slice(), "bad_magic"],
  ];
  for (const [name, bytes, reason] of cases) {
    const d = decodePacket(bytes, trustAll, 0, "");
    assert(!d.ok, name);
    assertEquals(d.reason, reason, name);
  }
  const bodies: [string, number, number[], string][] = [
    ["keepalive 7 bytes", MsgType.KEEPALIVE, [0, 0, 0, 0, 0, 0, 0], "bad_length"],
    ["keepalive 9 bytes", MsgType.KEEPALIVE, [0, 0, 0, 0, 0, 0, 0, 0, 0], "bad_length"],
    ["register short", MsgType.REGISTER, [0, 0, 0, 0], "bad_length"],
    [
      "register 6 endpoints",
      MsgType.REGISTER,
      [0, 6, 0, 0, ...new Array(32).fill(0)],
      "too_many_endpoints",
    ],
    ["register endpoint family 5", MsgType.REGISTER, [
      0,
      1,
      0,
      0,
      ...new Array(32).fill(0),
      5,
      0,
      1,
      1,
      2,
      3,
      4,
    ], "bad_endpoint"],
    ["register endpoint truncated", MsgType.REGISTER, [
      0,
      1,
      0,
      0,
      ...new Array(32).fill(0),
      4,
      0,
      1,
      1,
      2,
    ], "bad_endpoint"],
    [
      "register trailing byte",
      MsgType.REGISTER,
      [0, 0, 0, 0, ...new Array(33).fill(0)],
      "bad_length",
    ],
    ["nak code 0", MsgType.REGISTER_NAK, [0, 0, 0, 1], "bad_nak_code"],
    ["nak code 99", MsgType.REGISTER_NAK, [99, 0, 0, 1], "bad_nak_code"],
    ["ack without endpoint", MsgType.REGISTER_ACK, [1, 0, 0, 8, 0, 0, 0, 1], "bad_endpoint"],
    ["intro count beyond body", MsgType.PEER_INTRO, [0, 1, 1, 0], "bad_endpoint"],
    ["data runt", MsgType.DATA, new Array(13).fill(0), "bad_length"],
    ["deregister empty", MsgType.DEREGISTER, [], "bad_length"],
    ["type 0", 0, [], "unknown_type"],
  ];
  for (const [name, type, body, reason] of bodies) {
    const r = parseBody(type, new Uint8Array(body));
    assert(!r.ok, name);
    assertEquals(r.reason, reason, name);
  }
});

Deno.test("vpn codec: the null sealer rejects flipped bits and truncation", () => {
  const s = new NullSealer();
  const r = encodePacket(
    { network: 0, sender: 1, receiver: 2 },
    {
      kind: "data",
      frame: new Uint8Array(60).fill(7),
    },
    s,
    0,
  );
  assert(r.ok);
  for (const i of [0 + 2, 10, 30, r.packet.length - 1]) {
    const b = r.packet.slice();
    b[i] ^= 0x10;
    const d = decodePacket(b, s, 0, "");
    assert(!d.ok, `bit flip at ${i}`);
  }
  const cut = decodePacket(r.packet.subarray(0, r.packet.length - 1), s, 0, "");
  assert(!cut.ok);
  assertEquals(cut.reason, "bad_tag");
});

// The endpoint text table is in addr_test.ts (core/addr.ts parses the text).

const endpointArb: fc.Arbitrary<WireEndpoint> = fc.oneof(
  fc.record({
    family: fc.constant(4 as const),
    addr: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    port: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    family: fc.constant(6 as const),
    addr: fc.oneof(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      // Plenty of zero runs, to exercise "::" compression.
      fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 }).map((a) =>
        new Uint8Array(a)
      ),
    ),
    port: fc.integer({ min: 0, max: 65535 }),
  }),
);

Deno.test("vpn codec: endpoint format/parse round trip (property)", () => {
  fc.assert(
    fc.property(endpointArb, (ep) => {
      const text = formatEndpoint(ep);
      // An IPv4-mapped IPv6 address is the IPv4 endpoint (core/addr.ts).
      const mapped = ep.family === 6 &&
        ep.addr.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
      assertEquals(
        parseEndpoint(text),
        mapped ? { family: 4, addr: ep.addr.slice(12), port: ep.port } : { ...ep },
      );
      assertEquals(canonicalEndpoint(text), text);
    }),
    { seed: 0x1e0, numRuns: 2000 },
  );
});

const epText = endpointArb.map(formatEndpoint);
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const nakReason = fc.constantFrom(...NAK_NAMES.filter((n): n is NakReason => n !== undefined));

const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    kind: fc.constant("register" as const),
    auto: fc.boolean(),
    identity: fc.uint8Array({ minLength: IDENTITY_LENGTH, maxLength: IDENTITY_LENGTH }),
    locals: fc.array(epText, { maxLength: MAX_ENDPOINTS }),
  }),
  fc.record({
    kind: fc.constant("register_ack" as const),
    supernodeId: fc.integer({ min: 0, max: 255 }),
    keepaliveS: u16,
    bootId: u32,
    observed: epText,
  }),
  fc.record({ kind: fc.constant("register_nak" as const), reason: nakReason, requested: u16 }),
  fc.record({ kind: fc.constant("deregister" as const), reason: fc.integer({ min: 0, max: 255 }) }),
  ...(["keepalive", "keepalive_ack", "probe", "probe_echo"] as const).map((kind) =>
    fc.record({ kind: fc.constant(kind), seq: u32, time: u32 }) as fc.Arbitrary<Message>
  ),
  fc.record({ kind: fc.constant("peer_request" as const), peer: u16 }),
  fc.record({
    kind: fc.constant("peer_intro" as const),
    peer: u16,
    endpoints: fc.array(epText, { maxLength: MAX_ENDPOINTS }),
  }),
  fc.record({
    kind: fc.constant("going_away" as const),
    reason: fc.integer({ min: 0, max: 255 }),
    retryS: u16,
  }),
  fc.record({
    kind: fc.constant("data" as const),
    frame: fc.uint8Array({ minLength: 14, maxLength: 1600 }),
  }),
);

const headerArb: fc.Arbitrary<HeaderRepr> = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  flags: fc.integer({ min: 0, max: 255 }),
  network: u16,
  sender: u16,
  receiver: u16,
  keyId: u32,
  counter: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});

Deno.test("vpn codec: header emit/check round trip (property)", () => {
  fc.assert(
    fc.property(headerArb, (h) => {
      const b = new Uint8Array(HEADER_LENGTH + TAG_LENGTH);
      emitHeader(h, b);
      const c = checkHeader(b);
      assert(c.ok);
      assertEquals(c.value, { ...h });
    }),
    { seed: 0x4ead, numRuns: 2000 },
  );
});

Deno.test("vpn codec: decode(encode(message)) == message for every kind (property)", () => {
  fc.assert(
    fc.property(messageArb, u16, u16, u16, (m, network, sender, receiver) => {
      const s = new NullSealer();
      const r = encodePacket({ network, sender, receiver }, m, s, 0);
      assert(r.ok);
      const d = decodePacket(r.packet, s, 0, "");
      assert(d.ok, d.ok ? "" : d.reason);
      assertEquals({ ...d.msg }, { ...m } as Message);
      assertEquals([d.header.network, d.header.sender, d.header.receiver], [
        network,
        sender,
        receiver,
      ]);
    }),
    { seed: 0xc0de, numRuns: 3000 },
  );
});

Deno.test("vpn codec: random and mutated bytes never throw (property)", () => {
  const s = new NullSealer();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      decodePacket(b, s, 0, "");
      decodePacket(b, trustAll, 0, "");
      // Force our magic and version so the body parsers see random bodies.
      if (b.length >= 2) {
        b[0] = 0x4c;
        b[1] = 2;
        b[2] = b[2] % 0x12;
        decodePacket(b, trustAll, 0, "");
      }
    }),
    { seed: 0xbad, numRuns: 5000 },
  );
  fc.assert(
    fc.property(
      messageArb,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.nat(),
      (m, flips, cut) => {
        const r = encodePacket({ network: 0, sender: 1, receiver: 2 }, m, trustAll, 0);
        assert(r.ok);
        const b = r.packet;
        for (const [i, v] of flips) b[i % b.length] = v;
        decodePacket(b, trustAll, 0, "");
        decodePacket(b.subarray(0, cut % (b.length + 1)), trustAll, 0, "");
        decodePacket(b, s, 0, "");
      },
    ),
    { seed: 0x3117, numRuns: 3000 },
  );
});

Deno.test("vpn codec: encodeDataPacket makes encodePacket's bytes, relay or not (property)", () => {
  const hopSealer = (): Sealer => {
    const n = new NullSealer();
    return {
      seal: (p, now) => n.seal(p, now),
      open: (p, now, from) => n.open(p, now, from),
      hopTag: true,
    };
  };
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 14, maxLength: 1500 }),
      u16,
      u16,
      u16,
      fc.boolean(),
      fc.boolean(),
      (frame, network, sender, receiver, relay, hop) => {
        const a = hop ? hopSealer() : new NullSealer();
        const b = hop ? hopSealer() : new NullSealer();
        const r = encodePacket({ network, sender, receiver, relay }, { kind: "data", frame }, a, 0);
        const fast = encodeDataPacket(network, sender, receiver, relay, frame, b, 0);
        assert(r.ok && typeof fast !== "string");
        assertEquals(fast, r.packet);
        assertEquals(
          fast.length,
          HEADER_LENGTH + frame.length + TAG_LENGTH +
            (relay && hop ? HOP_TAG_RESERVE : 0),
        );
      },
    ),
    { seed: 0xda7a, numRuns: 500 },
  );
  const refuse: Sealer = { seal: () => "no_session", open: () => "ok" };
  assertEquals(encodeDataPacket(0, 1, 2, false, new Uint8Array(60), refuse, 0), "no_session");
});

Deno.test("vpn codec: encodeDataPacket inPlace makes the same bytes in the frame's own buffer (property)", () => {
  const hopSealer = (): Sealer => {
    const n = new NullSealer();
    return {
      seal: (p, now) => n.seal(p, now),
      open: (p, now, f) => n.open(p, now, f),
      hopTag: true,
    };
  };
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 14, maxLength: 1500 }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 255 }),
      fc.boolean(),
      fc.boolean(),
      (frame, head, tail, junk, relay, hop) => {
        const a = hop ? hopSealer() : new NullSealer();
        const b = hop ? hopSealer() : new NullSealer();
        const r = encodeDataPacket(1, 2, 3, relay, frame, a, 0);
        assert(typeof r !== "string");
        // The frame in a buffer of its own with `head` and `tail` bytes of junk around it.
        const buf = new Uint8Array(head + frame.length + tail).fill(junk);
        const lent = buf.subarray(head, head + frame.length);
        lent.set(frame);
        const p = encodeDataPacket(1, 2, 3, relay, lent, b, 0, true);
        assert(typeof p !== "string");
        assertEquals(p, r, "the same bytes");
        const fits = head >= DATA_HEADROOM && r.length - DATA_HEADROOM - frame.length <= tail;
        assertEquals(p.buffer === buf.buffer, fits, `head ${head} tail ${tail}`);
        if (fits) assertEquals(p.byteOffset, head - DATA_HEADROOM);
        else assertEquals(lent, frame, "without the room the frame is copied, not touched");
      },
    ),
    { seed: 0x1ead, numRuns: 500 },
  );
  // A refused seal leaves the lent frame as it was (the node then holds a copy of it).
  const refuse: Sealer = { seal: () => "no_session", open: () => "ok" };
  const buf = new Uint8Array(DATA_HEADROOM + 60 + DATA_TAILROOM).fill(0x5a);
  const frame = buf.subarray(DATA_HEADROOM, DATA_HEADROOM + 60);
  assertEquals(encodeDataPacket(0, 1, 2, false, frame, refuse, 0, true), "no_session");
  assert(frame.every((x) => x === 0x5a));
});

Deno.test("vpn codec: openPacket and headerWhy agree with decodePacket on any bytes (property)", () => {
  const check = (b: Uint8Array, sealer: Sealer) => {
    const why = headerWhy(b);
    const h = checkHeader(b);
    assertEquals(why, h.ok ? null : h.reason);
    const end = openPacket(b.slice(), sealer, 0, "");
    const d = decodePacket(b.slice(), sealer, 0, "");
    if (typeof end === "string") {
      assert(!d.ok);
      assertEquals(end, d.reason);
      return;
    }
    // Opened: decodePacket fails only in the body parser, on the same body.
    const m = parseBody(b[2], b.subarray(HEADER_LENGTH, end));
    assertEquals(d.ok, m.ok);
    if (!d.ok && !m.ok) assertEquals(d.reason, m.reason);
    if (d.ok && m.ok) assertEquals(d.msg, m.value);
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (b, force) => {
      if (force && b.length >= 4) {
        b[0] = 0x4c;
        b[1] = 2;
        b[2] = b[2] % 0x12;
        b[3] &= 0x40;
      }
      check(b, trustAll);
      check(b, new NullSealer());
    }),
    { seed: 0x0be7, numRuns: 4000 },
  );
  fc.assert(
    fc.property(messageArb, fc.nat(), (m, cut) => {
      const r = encodePacket({ network: 1, sender: 2, receiver: 3 }, m, new NullSealer(), 0);
      assert(r.ok);
      check(r.packet, new NullSealer());
      check(r.packet.subarray(0, cut % (r.packet.length + 1)), trustAll);
    }),
    { seed: 0x0be8, numRuns: 2000 },
  );
});

Deno.test("vpn codec: MTU budget: a largest frame fits a 1500-byte underlay exactly", () => {
  // Derived independently: IPv6 header 40, UDP 8; IPv4 header 20, UDP 8.
  assertEquals(UNDERLAY_OVERHEAD_IPV6, 40 + 8);
  assertEquals(UNDERLAY_OVERHEAD_IPV4, 20 + 8);
  assertEquals(ENCAP_BUDGET, ENCAP_OVERHEAD + HOP_TAG_RESERVE);
  for (const [family, ipUdp] of [[4, 28], [6, 48]] as const) {
    const max = maxFrame(1500, family);
    const r = encodePacket(
      { network: 0, sender: 1, receiver: 2 },
      {
        kind: "data",
        frame: new Uint8Array(max),
      },
      new NullSealer(),
      0,
    );
    assert(r.ok);
    // Room left for the hop tag issue 6 may add, and not a byte more.
    assertEquals(ipUdp + r.packet.length + HOP_TAG_RESERVE, 1500, `IPv${family}`);
  }
  // A TAP with this MTU sends Ethernet frames of MTU + 14 bytes, the IPv6 limit.
  assertEquals(tapMtu(1500) + 14, maxFrame(1500, 6));
  assertEquals(tapMtu(9000) + 14, maxFrame(9000, 6));
});
