/**
 * Federation message bodies (issue 17): golden bytes, invalid-input tables,
 * parse(emit(x)) == x for every message, chunking of the list messages
 * within 1200 bytes, and random or mutated bytes that must never throw.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import type { Endpoint } from "../../core/addr.ts";
import { parseEndpoint } from "../../core/addr.ts";
import { emitHeader } from "../../core/vpn/header.ts";
import {
  attachChunks,
  bindChunks,
  detachChunks,
  type FedAttachEntry,
  type FedBindEntry,
  fedBody,
  type FedDetachEntry,
  type FedMessage,
  type FedReason,
  FedType,
  fedType,
  MAX_FED_BODY,
  parseFedBody,
} from "../../core/vpn/fed_messages.ts";

function ep(text: string): Endpoint {
  const r = parseEndpoint(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function hexOf(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function roundTrip(m: FedMessage): FedMessage {
  const b = fedBody(m);
  assert(b !== null, `cannot encode ${m.kind}`);
  assert(b.length <= MAX_FED_BODY || m.kind === "fed_relay");
  const r = parseFedBody(fedType(m), b);
  assert(r.ok, `parse ${m.kind}: ${!r.ok && r.reason}`);
  return r.value;
}

/** A node packet with a valid header (24) and room for the tag (16), network 3, 7 -> 9. */
function innerPacket(bodyLen = 4): Uint8Array {
  const p = new Uint8Array(24 + bodyLen + 16);
  emitHeader({ type: 0x10, flags: 0, network: 3, sender: 7, receiver: 9, keyId: 1, counter: 5 }, p);
  return p;
}

const KEY = new Uint8Array(32).map((_, i) => i);
const STAMP = new Uint8Array(12).map((_, i) => 0xa0 + i);

Deno.test("fed codec: golden bytes of each fixed body", () => {
  assertEquals(
    hexOf(fedBody({ kind: "fed_pong", seq: 0x01020304, time: 0xa0b0c0d0 })!),
    "01020304a0b0c0d0",
  );
  const ping = fedBody({ kind: "fed_ping", seq: 1, time: 2, updateSeq: 3, upPeers: [1, 8, 255] })!;
  assertEquals(ping.length, 44);
  assertEquals(hexOf(ping.subarray(0, 14)), "000000010000000200000003" + "4080");
  assertEquals(ping[12 + 31], 0x01); // id 255: the last bit
  assertEquals(
    hexOf(
      fedBody({ kind: "fed_detach", seq: 9, entries: [{ network: 2, nodeId: 5, stamp: STAMP }] })!,
    ),
    "00000009" + "0100" + "00020005" + hexOf(STAMP),
  );
  assertEquals(
    hexOf(
      fedBody({
        kind: "fed_bind",
        sync: true,
        last: true,
        chunk: 3,
        entries: [{ network: 1, nodeId: 0x102, allocator: 4, ageS: 60, key: KEY }],
      })!,
    ),
    "03" + "0003" + "01" + "0001" + "0102" + "04" + "00" + "0000003c" + hexOf(KEY),
  );
  const d = new Uint8Array(32).fill(0xee);
  assertEquals(
    hexOf(fedBody({ kind: "fed_digest", digest: d, bindings: 7, attachments: 0x100 })!),
    hexOf(d) + "00000007" + "00000100",
  );
  assertEquals(fedBody({ kind: "fed_sync_req" })!.length, 0);
});

Deno.test("fed codec: golden FED_ATTACH with an IPv4 endpoint, FED_INTRO with both families", () => {
  const e: FedAttachEntry = {
    network: 0,
    nodeId: 0x0a,
    allocator: 2,
    stamp: STAMP,
    key: KEY,
    endpoint: ep("192.0.2.1:7654"),
  };
  const b = fedBody({
    kind: "fed_attach",
    seq: 5,
    sync: false,
    last: true,
    chunk: 0,
    entries: [e],
  })!;
  assertEquals(
    hexOf(b),
    "00000005" + "02" + "0000" + "01" + "0000" + "000a" + "02" + "00" + hexOf(STAMP) + hexOf(KEY) +
      "04" + "1de6" + "c0000201",
  );
  const intro = fedBody({
    kind: "fed_intro",
    answer: true,
    network: 4,
    requester: 1,
    target: 2,
    endpoints: [ep("198.51.100.7:1000"), ep("[2001:db8::1]:2")],
  })!;
  assertEquals(
    hexOf(intro),
    "01" + "02" + "0004" + "0001" + "0002" + "04" + "03e8" + "c6336407" + "06" + "0002" +
      "20010db8000000000000000000000001",
  );
});

Deno.test("fed codec: FED_RELAY carries the inner packet and reads its header", () => {
  const p = innerPacket();
  const r = roundTrip({
    kind: "fed_relay",
    transit: true,
    packet: p,
    network: 0,
    sender: 0,
    receiver: 0,
  });
  assert(r.kind === "fed_relay");
  assertEquals([r.transit, r.network, r.sender, r.receiver], [true, 3, 7, 9]);
  assertEquals(r.packet, p);
  // The inner header must be a packet of ours, and not a federation packet.
  assertEquals(
    parseFedBody(FedType.RELAY, new Uint8Array(1 + 40)),
    { ok: false, reason: "bad_inner" },
  );
  const fed = innerPacket();
  fed[4] = fed[5] = 0xff;
  assertEquals(parseFedBody(FedType.RELAY, new Uint8Array([0, ...fed])), {
    ok: false,
    reason: "bad_inner",
  });
  assertEquals(parseFedBody(FedType.RELAY, new Uint8Array(40)), {
    ok: false,
    reason: "bad_length",
  });
  assertEquals(
    fedBody({
      kind: "fed_relay",
      transit: false,
      packet: new Uint8Array(40),
      network: 0,
      sender: 0,
      receiver: 0,
    }),
    null,
  );
});

Deno.test("fed codec: invalid bodies give their reason", () => {
  const attach = fedBody({
    kind: "fed_attach",
    seq: 1,
    sync: false,
    last: true,
    chunk: 0,
    entries: [{
      network: 1,
      nodeId: 2,
      allocator: 3,
      stamp: STAMP,
      key: KEY,
      endpoint: ep("[2001:db8::5]:9"),
    }],
  })!;
  const withByte = (b: Uint8Array, at: number, v: number) => {
    const c = b.slice();
    c[at] = v;
    return c;
  };
  const cases: [string, number, Uint8Array, FedReason][] = [
    ["ping short", FedType.PING, new Uint8Array(43), "bad_length"],
    ["pong long", FedType.PONG, new Uint8Array(9), "bad_length"],
    ["attach head short", FedType.ATTACH, new Uint8Array(7), "bad_length"],
    ["attach count beyond the body", FedType.ATTACH, withByte(attach, 7, 2), "bad_length"],
    ["attach trailing byte", FedType.ATTACH, new Uint8Array([...attach, 0]), "bad_length"],
    ["attach truncated", FedType.ATTACH, attach.subarray(0, attach.length - 1), "bad_length"],
    ["attach family 5", FedType.ATTACH, withByte(attach, 8 + 50, 5), "bad_endpoint"],
    ["attach node id 0", FedType.ATTACH, withByte(withByte(attach, 10, 0), 11, 0), "bad_id"],
    [
      "attach node id 0xffff",
      FedType.ATTACH,
      withByte(withByte(attach, 10, 0xff), 11, 0xff),
      "bad_id",
    ],
    ["attach allocator 0", FedType.ATTACH, withByte(attach, 12, 0), "bad_id"],
    [
      "attach network 0xffff",
      FedType.ATTACH,
      withByte(withByte(attach, 8, 0xff), 9, 0xff),
      "bad_id",
    ],
    ["detach count mismatch", FedType.DETACH, new Uint8Array([0, 0, 0, 1, 1, 0]), "bad_length"],
    [
      "detach node id 0",
      FedType.DETACH,
      new Uint8Array([0, 0, 0, 1, 1, 0, ...new Uint8Array(16)]),
      "bad_id",
    ],
    [
      "bind count mismatch",
      FedType.BIND,
      new Uint8Array([0, 0, 0, 2, ...new Uint8Array(42)]),
      "bad_length",
    ],
    ["digest short", FedType.DIGEST, new Uint8Array(39), "bad_length"],
    [
      "intro 6 endpoints",
      FedType.INTRO,
      new Uint8Array([0, 6, 0, 0, 0, 1, 0, 2]),
      "too_many_endpoints",
    ],
    [
      "intro endpoint missing",
      FedType.INTRO,
      new Uint8Array([0, 1, 0, 0, 0, 1, 0, 2]),
      "bad_length",
    ],
    [
      "intro bad family",
      FedType.INTRO,
      new Uint8Array([0, 1, 0, 0, 0, 1, 0, 2, 7, 0, 0]),
      "bad_endpoint",
    ],
    ["intro requester 0", FedType.INTRO, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2]), "bad_id"],
    ["sync_req with a body", FedType.SYNC_REQ, new Uint8Array(1), "bad_length"],
    ["over 1200 bytes", FedType.BIND, new Uint8Array(1201), "too_long"],
    ["not a federation type", 0x39, new Uint8Array(0), "unknown_type"],
    ["a node message type", 0x05, new Uint8Array(8), "unknown_type"],
  ];
  for (const [name, type, body, reason] of cases) {
    assertEquals(parseFedBody(type, body), { ok: false, reason }, name);
  }
});

Deno.test("fed codec: encoders refuse what the wire cannot carry", () => {
  const good: FedAttachEntry = {
    network: 1,
    nodeId: 2,
    allocator: 3,
    stamp: STAMP,
    key: KEY,
    endpoint: ep("192.0.2.1:1"),
  };
  const attach = (e: FedAttachEntry) =>
    fedBody({ kind: "fed_attach", seq: 1, sync: false, last: true, chunk: 0, entries: [e] });
  assert(attach(good) !== null);
  assertEquals(attach({ ...good, nodeId: 0 }), null);
  assertEquals(attach({ ...good, allocator: 256 }), null);
  assertEquals(attach({ ...good, network: 0xffff }), null);
  assertEquals(attach({ ...good, key: KEY.subarray(1) }), null);
  assertEquals(attach({ ...good, stamp: STAMP.subarray(4) }), null);
  assertEquals(fedBody({ kind: "fed_pong", seq: -1, time: 0 }), null);
  assertEquals(fedBody({ kind: "fed_ping", seq: 1, time: 0, updateSeq: 0, upPeers: [0] }), null);
  assertEquals(
    fedBody({
      kind: "fed_intro",
      answer: false,
      network: 0,
      requester: 1,
      target: 2,
      endpoints: new Array(6).fill(ep("192.0.2.1:1")),
    }),
    null,
  );
  // 18 IPv6 entries (69 bytes each) do not fit one body; the chunker splits them.
  const many = new Array(18).fill(0).map((_, i) => ({
    ...good,
    nodeId: i + 1,
    endpoint: ep("[2001:db8::1]:1"),
  }));
  assertEquals(
    fedBody({ kind: "fed_attach", seq: 1, sync: false, last: true, chunk: 0, entries: many }),
    null,
  );
  const c = attachChunks([...many, { ...good, nodeId: 0 }], 10, false);
  assertEquals(c.bodies.length, 2);
  assertEquals(c.skipped, 1);
});

const arbEndpoint: fc.Arbitrary<Endpoint> = fc.oneof(
  fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 65535 })).map((
    [a, port],
  ) => {
    const ip = new Uint8Array(16);
    ip[10] = ip[11] = 0xff;
    ip.set(a, 12);
    return { ip, port };
  }),
  fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 65535 })).map(
    (
      [ip, port],
    ) => ({ ip, port }),
  ),
);
/** fc.record with ordinary objects (its own have a null prototype, which deep equality tells apart). */
function rec<T>(r: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(r).map((x) => ({ ...x }) as T);
}

const arbNet = fc.integer({ min: 0, max: 0xfffe });
const arbId = fc.integer({ min: 1, max: 0xfffe });
const arbSn = fc.integer({ min: 1, max: 255 });
const arbU32 = fc.integer({ min: 0, max: 0xffff_ffff });
const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 });
const arbStamp = fc.uint8Array({ minLength: 12, maxLength: 12 });
const arbAttach: fc.Arbitrary<FedAttachEntry> = rec({
  network: arbNet,
  nodeId: arbId,
  allocator: arbSn,
  stamp: arbStamp,
  key: arbKey,
  endpoint: arbEndpoint,
});
const arbDetach: fc.Arbitrary<FedDetachEntry> = rec({
  network: arbNet,
  nodeId: arbId,
  stamp: arbStamp,
});
const arbBind: fc.Arbitrary<FedBindEntry> = rec({
  network: arbNet,
  nodeId: arbId,
  allocator: arbSn,
  ageS: arbU32,
  key: arbKey,
});

const arbMessage: fc.Arbitrary<FedMessage> = fc.oneof(
  rec({
    kind: fc.constant("fed_ping" as const),
    seq: arbU32,
    time: arbU32,
    updateSeq: arbU32,
    upPeers: fc.uniqueArray(arbSn, { maxLength: 40 }).map((a) => a.sort((x, y) => x - y)),
  }),
  rec({ kind: fc.constant("fed_pong" as const), seq: arbU32, time: arbU32 }),
  rec({
    kind: fc.constant("fed_attach" as const),
    seq: arbU32,
    sync: fc.boolean(),
    last: fc.boolean(),
    chunk: fc.integer({ min: 0, max: 65535 }),
    entries: fc.array(arbAttach, { maxLength: 17 }),
  }),
  rec({
    kind: fc.constant("fed_detach" as const),
    seq: arbU32,
    entries: fc.array(arbDetach, { maxLength: 74 }),
  }),
  rec({
    kind: fc.constant("fed_bind" as const),
    sync: fc.boolean(),
    last: fc.boolean(),
    chunk: fc.integer({ min: 0, max: 65535 }),
    entries: fc.array(arbBind, { maxLength: 28 }),
  }),
  rec({
    kind: fc.constant("fed_digest" as const),
    digest: arbKey,
    bindings: arbU32,
    attachments: arbU32,
  }),
  rec({
    kind: fc.constant("fed_intro" as const),
    answer: fc.boolean(),
    network: arbNet,
    requester: arbId,
    target: arbId,
    endpoints: fc.array(arbEndpoint, { maxLength: 5 }),
  }),
  fc.constant({ kind: "fed_sync_req" as const }),
);

Deno.test("fed codec: parse(emit(m)) == m for every message", () => {
  fc.assert(
    fc.property(arbMessage, (m) => {
      assertEquals(roundTrip(m), m);
    }),
    { numRuns: 2000, seed: 17 },
  );
});

Deno.test("fed codec: random and mutated bodies never throw", () => {
  const types = [0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39];
  fc.assert(
    fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 1400 }), (type, b) => {
      const r = parseFedBody(type, b);
      assert(r.ok === true || typeof r.reason === "string");
    }),
    { numRuns: 5000, seed: 170 },
  );
  fc.assert(
    fc.property(
      arbMessage,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.integer({ min: -3, max: 3 }),
      (m, flips, cut) => {
        const b = fedBody(m)!;
        const c = new Uint8Array(Math.max(0, b.length + cut));
        c.set(b.subarray(0, c.length));
        for (const [at, v] of flips) if (c.length > 0) c[at % c.length] = v;
        const r = parseFedBody(fedType(m), c);
        assert(r.ok === true || typeof r.reason === "string");
      },
    ),
    { numRuns: 3000, seed: 171 },
  );
});

Deno.test("fed codec: list chunking keeps every body within 1200 bytes and loses no entry", () => {
  fc.assert(
    fc.property(
      fc.array(arbAttach, { maxLength: 400 }),
      arbU32,
      fc.boolean(),
      (entries, seq, sync) => {
        const { bodies, skipped } = attachChunks(entries, seq, sync);
        assertEquals(skipped, 0);
        const back: FedAttachEntry[] = [];
        bodies.forEach((b, i) => {
          assert(b.length <= MAX_FED_BODY);
          const r = parseFedBody(FedType.ATTACH, b);
          assert(r.ok && r.value.kind === "fed_attach");
          const m = r.value;
          assertEquals(m.sync, sync);
          if (sync) {
            assertEquals([m.seq, m.chunk, m.last], [seq, i, i === bodies.length - 1]);
          } else assertEquals([m.seq, m.chunk, m.last], [(seq + i) >>> 0, 0, true]);
          back.push(...m.entries);
        });
        assertEquals(back, entries);
        if (sync) assert(bodies.length >= 1); // a sync of nothing is one (empty, last) chunk
        else assertEquals(bodies.length === 0, entries.length === 0);
      },
    ),
    { numRuns: 200, seed: 172 },
  );
  const detach = new Array(200).fill(0).map((_, i) => ({
    network: 1,
    nodeId: i + 1,
    stamp: STAMP,
  }));
  const d = detachChunks(detach, 0xffff_ffff);
  assertEquals(d.bodies.length, 3); // 74 per body
  const seqs = d.bodies.map((b) => {
    const r = parseFedBody(FedType.DETACH, b);
    assert(r.ok && r.value.kind === "fed_detach");
    return r.value.seq;
  });
  assertEquals(seqs, [0xffff_ffff, 0, 1]); // the update sequence wraps
  const bind = new Array(100).fill(0).map((_, i) => ({
    network: 1,
    nodeId: i + 1,
    allocator: 1,
    ageS: 0,
    key: KEY,
  }));
  const bb = bindChunks(bind, true).bodies;
  assertEquals(bb.length, 4); // 28 per body
  for (const b of bb) assert(b.length <= MAX_FED_BODY);
  assertEquals(bindChunks([], false).bodies.length, 0);
  assertEquals(bindChunks([], true).bodies.length, 1);
});
