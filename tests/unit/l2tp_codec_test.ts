import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import {
  type Avp,
  type ControlMessage,
  emitControl,
  messageTypeOf,
  parseControl,
  type Transport,
} from "../../core/l2tp/control_message.ts";
import {
  decodeFields,
  encodeFields,
  type Fields,
  printableId,
} from "../../core/l2tp/avp_fields.ts";
import { demux, emitData, parseData } from "../../core/l2tp/data_header.ts";

const transports: Transport[] = ["ip", "udp"];

const avpArb: fc.Arbitrary<Avp> = fc.record({
  mandatory: fc.boolean(),
  hidden: fc.constant(false),
  vendor: fc.integer({ min: 0, max: 0xffff }),
  type: fc.integer({ min: 0, max: 0xffff }),
  value: fc.uint8Array({ maxLength: 40 }),
}).map((a) => ({ ...a }));

/** A valid message: ZLB, or Message Type first followed by any AVPs. */
const messageArb: fc.Arbitrary<ControlMessage> = fc.record({
  ccid: fc.integer({ min: 0, max: 0xffffffff }),
  ns: fc.integer({ min: 0, max: 0xffff }),
  nr: fc.integer({ min: 0, max: 0xffff }),
  zlb: fc.boolean(),
  mt: fc.integer({ min: 0, max: 0xffff }),
  mtM: fc.boolean(),
  rest: fc.array(avpArb, { maxLength: 8 }),
}).map(({ ccid, ns, nr, zlb, mt, mtM, rest }) => ({
  ccid,
  ns,
  nr,
  avps: zlb ? [] : [
    {
      mandatory: mtM,
      hidden: false,
      vendor: 0,
      type: 0,
      value: new Uint8Array([mt >> 8, mt & 0xff]),
    },
    ...rest,
  ],
}));

Deno.test("control codec: parse(emit(m)) == m over IP and UDP", () => {
  for (const t of transports) {
    fc.assert(
      fc.property(messageArb, (m) => {
        const r = parseControl(emitControl(t, m), t);
        assert(r.ok, `parse failed: ${!r.ok && r.detail}`);
        assertEquals(r.msg, m);
      }),
      { seed: 3931, numRuns: 500 },
    );
  }
});

Deno.test("control codec: random bytes never throw and either parse or give a reason", () => {
  for (const t of transports) {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        const r = parseControl(b, t);
        if (r.ok) assertEquals(parseControl(emitControl(t, r.msg), t).ok, true);
        else assert(r.reason.length > 0 && r.detail.length > 0);
      }),
      { seed: 115, numRuns: 2000 },
    );
  }
});

Deno.test("control codec: mutated valid messages never throw, and decodeFields never throws", () => {
  for (const t of transports) {
    fc.assert(
      fc.property(
        messageArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
        (m, flips, cut) => {
          const b = emitControl(t, m);
          for (const [pos, val] of flips) b[pos % b.length] = val;
          const bytes = b.subarray(0, b.length - (cut % 4));
          const r = parseControl(bytes, t);
          if (r.ok) decodeFields(r.msg);
        },
      ),
      { seed: 1701, numRuns: 2000 },
    );
  }
});

/** Named invalid inputs and the reason each must produce. */
const INVALID: [string, number[], string][] = [
  ["empty", [], "truncated"],
  ["header cut short", [0, 0, 0, 0, 0xc8, 0x03, 0, 12, 0, 0, 0, 1, 0, 0], "truncated"],
  [
    "data session id",
    [0, 0, 0, 9, 0xc8, 0x03, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0],
    "session_id_not_zero",
  ],
  ["T bit clear", [0, 0, 0, 0, 0x48, 0x03, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0], "not_control"],
  ["L2TPv2 header", [0, 0, 0, 0, 0xc8, 0x02, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0], "bad_version"],
  ["L bit clear", [0, 0, 0, 0, 0x88, 0x03, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0], "missing_length_bit"],
  ["S bit clear", [0, 0, 0, 0, 0xc0, 0x03, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0], "missing_sequence_bit"],
  ["Length below 12", [0, 0, 0, 0, 0xc8, 0x03, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0], "bad_length"],
  ["Length past end", [0, 0, 0, 0, 0xc8, 0x03, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0], "truncated"],
  [
    "stray AVP bytes",
    [0, 0, 0, 0, 0xc8, 0x03, 0, 15, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 8, 0],
    "avp_truncated",
  ],
  [
    "AVP length 4",
    [0, 0, 0, 0, 0xc8, 0x03, 0, 18, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 4, 0, 0, 0, 0],
    "avp_too_short",
  ],
  [
    "AVP past Length",
    [0, 0, 0, 0, 0xc8, 0x03, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 12, 0, 0, 0, 0, 0, 6],
    "avp_truncated",
  ],
  [
    "hidden AVP",
    [0, 0, 0, 0, 0xc8, 0x03, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 8, 0, 0, 0, 0, 0, 6],
    "hidden_avp",
  ],
  [
    "Host Name before Message Type",
    [0, 0, 0, 0, 0xc8, 0x03, 0, 19, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 7, 0, 0, 0, 7, 0x61],
    "message_type_not_first",
  ],
];

Deno.test("control codec: named invalid inputs give their reason", () => {
  for (const [name, bytes, reason] of INVALID) {
    const r = parseControl(new Uint8Array(bytes), "ip");
    assert(!r.ok, `${name} should not parse`);
    assertEquals(r.reason, reason, name);
  }
});

Deno.test("control codec: a hidden AVP reports the header's CCID so the caller can answer", () => {
  const bytes = new Uint8Array(INVALID.find(([n]) => n === "hidden AVP")![1]);
  const r = parseControl(bytes, "ip");
  assert(!r.ok);
  assertEquals(r.ccid, 1);
});

Deno.test("control codec: ZLB is 12 bytes after the session id and has no message type", () => {
  const b = emitControl("ip", { ccid: 0x10b38f92, ns: 1, nr: 1, avps: [] });
  assertEquals(
    Array.from(b),
    [0, 0, 0, 0, 0xc8, 0x03, 0, 12, 0x10, 0xb3, 0x8f, 0x92, 0, 1, 0, 1],
  );
  const r = parseControl(b, "ip");
  assert(r.ok);
  assertEquals(messageTypeOf(r.msg), undefined);
});

// Printable ASCII: a peer's names and messages are shown as printable ASCII only (peer_text.ts).
const text = fc.string({ unit: fc.constantFrom(..."abcdefgh.-_0123456789 "), maxLength: 20 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const fieldsArb: fc.Arbitrary<Fields> = fc.record({
  messageType: u16,
  // An empty error message and no message are the same bytes on the wire.
  resultCode: fc.record({ result: u16, error: u16, message: text.filter((t) => t !== "") }, {
    requiredKeys: ["result"],
  }).map((r) => r.message !== undefined && r.error === undefined ? { ...r, error: 0 } : { ...r }),
  protocolVersion: fc.record({
    version: fc.integer({ min: 0, max: 255 }),
    revision: fc.integer({ min: 0, max: 255 }),
  }).map((v) => ({ ...v })),
  framingCapabilities: u32,
  tieBreaker: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  firmwareRevision: u16,
  hostName: text,
  vendorName: text,
  receiveWindowSize: u16,
  callSerialNumber: u32,
  routerId: u32,
  assignedControlConnectionId: u32,
  pwCapabilities: fc.array(u16, { maxLength: 10 }),
  localSessionId: u32,
  remoteSessionId: u32,
  assignedCookie: fc.uint8Array({ maxLength: 8 }),
  remoteEndId: fc.uint8Array({ maxLength: 16 }),
  pwType: u16,
  l2SpecificSublayer: u16,
  dataSequencing: u16,
  circuitStatus: u16,
  ciscoDraftVersion: u16,
  nonce: fc.uint8Array({ minLength: 1, maxLength: 32 }),
  interfaceMtu: u16,
}, { requiredKeys: ["messageType"] }).map((f) => ({ ...f }));

Deno.test("fields: decode(encode(f)) == f in both dialects; Cisco dialect is detected", () => {
  for (const dialect of ["ietf", "cisco"] as const) {
    fc.assert(
      fc.property(fieldsArb, (f) => {
        const want = dialect === "ietf" ? { ...f } : f;
        if (dialect === "ietf") delete want.ciscoDraftVersion; // vendor-9 only
        const avps = encodeFields(f, dialect);
        const bytes = emitControl("ip", { ccid: 1, ns: 0, nr: 0, avps });
        const p = parseControl(bytes, "ip");
        assert(p.ok);
        const d = decodeFields(p.msg);
        assert(d.ok, !d.ok ? d.detail : "");
        assertEquals(d.value.fields, want);
        assertEquals(d.value.unknownMandatory, []);
        const hasTwin = dialect === "cisco" && avps.some((a) => a.vendor === 9);
        assertEquals(d.value.cisco, hasTwin);
      }),
      { seed: 9, numRuns: 300 },
    );
  }
});

function avp(vendor: number, type: number, value: number[], mandatory = false): Avp {
  return { mandatory, hidden: false, vendor, type, value: new Uint8Array(value) };
}

Deno.test("fields: IETF value wins over the Cisco twin whatever the order", () => {
  const mt = avp(0, 0, [0, 10], true);
  for (
    const avps of [
      [mt, avp(9, 3, [0, 0, 0, 1]), avp(0, 63, [0, 0, 0, 2])],
      [mt, avp(0, 63, [0, 0, 0, 2]), avp(9, 3, [0, 0, 0, 1])],
    ]
  ) {
    const d = decodeFields({ ccid: 1, ns: 0, nr: 0, avps });
    assert(d.ok);
    assertEquals(d.value.fields.localSessionId, 2);
    assertEquals(d.value.cisco, true);
  }
  const only = decodeFields({ ccid: 1, ns: 0, nr: 0, avps: [mt, avp(9, 7, [0, 5], true)] });
  assert(only.ok);
  assertEquals(only.value.fields.pwType, 5);
});

Deno.test("fields: unknown AVPs are kept; with M=1 they are listed for the caller to act on", () => {
  const d = decodeFields({
    ccid: 1,
    ns: 0,
    nr: 0,
    avps: [avp(0, 0, [0, 1], true), avp(9, 110, []), avp(0, 200, [1], true), avp(77, 1, [], true)],
  });
  assert(d.ok);
  assertEquals(d.value.unknown.map((a) => [a.vendor, a.type]), [[9, 110]]);
  assertEquals(d.value.unknownMandatory.map((a) => [a.vendor, a.type]), [[0, 200], [77, 1]]);
});

Deno.test("fields: a known AVP of the wrong size is refused with its name", () => {
  const d = decodeFields({
    ccid: 1,
    ns: 0,
    nr: 0,
    avps: [avp(0, 0, [0, 10], true), avp(0, 63, [0, 1])],
  });
  assert(!d.ok);
  assertEquals(d.detail, "Local Session ID (0,63) must be 4 bytes, got 2");
});

Deno.test("printableId: text, hex and uint32 forms", () => {
  assertEquals(printableId(new TextEncoder().encode("1234")), "1234");
  assertEquals(printableId(new Uint8Array([0, 0, 0x30, 0x39])), "0x00003039 (12345)");
  assertEquals(printableId(new Uint8Array([1, 2, 3])), "0x010203");
  assertEquals(printableId(new Uint8Array(0)), "(empty)");
});

Deno.test("data header: emit then demux/parse gives the frame back (IP and UDP, cookies, sublayer)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom<Transport>("ip", "udp"),
      fc.integer({ min: 1, max: 0xffffffff }),
      fc.constantFrom(0, 4, 8),
      fc.boolean(),
      fc.integer({ min: -1, max: 0xffffff }),
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      (t, sid, clen, sublayer, seq, frame, cookieBytes) => {
        const layout = { cookie: cookieBytes.subarray(0, clen), sublayer };
        const pkt = emitData(t, sid, layout, seq, frame);
        const d = demux(pkt, t);
        assert(d.kind === "data");
        assertEquals(d.sessionId, sid);
        const r = parseData(pkt, d.offset, layout);
        assert(r.ok);
        assertEquals(r.frame, frame);
        assertEquals(r.seq, sublayer ? seq : -1);
        if (clen > 0) {
          const bad = pkt.slice();
          bad[d.offset] ^= 1;
          assertEquals(parseData(bad, d.offset, layout), { ok: false, reason: "cookie_mismatch" });
        }
      },
    ),
    { seed: 4719, numRuns: 300 },
  );
});

Deno.test("data header: demux separates control from data and never throws on junk", () => {
  assertEquals(demux(emitControl("ip", { ccid: 1, ns: 0, nr: 0, avps: [] }), "ip").kind, "control");
  assertEquals(
    demux(emitControl("udp", { ccid: 1, ns: 0, nr: 0, avps: [] }), "udp").kind,
    "control",
  );
  assertEquals(demux(new Uint8Array([0, 2, 0, 0, 0, 0, 0, 1]), "udp"), {
    kind: "invalid",
    reason: "bad_version",
  });
  assertEquals(demux(new Uint8Array([0, 0, 1]), "ip"), { kind: "invalid", reason: "truncated" });
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 20 }),
      fc.constantFrom<Transport>("ip", "udp"),
      (b, t) => {
        const d = demux(b, t);
        if (d.kind === "data") {
          parseData(b, d.offset, { cookie: new Uint8Array(8), sublayer: true });
        }
      },
    ),
    { seed: 5, numRuns: 1000 },
  );
});
