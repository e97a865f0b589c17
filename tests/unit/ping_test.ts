/**
 * ICMP echo on the wire (core/wire/icmp_echo.ts) and the sans-IO ping
 * session (core/ping.ts) as conversations at explicit times: no sockets, no
 * sleeping.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { EchoPacket, emitEcho, parseEcho } from "../../core/wire/icmp_echo.ts";
import { Pinger } from "../../core/ping.ts";
import { internetChecksum } from "../../core/checksum.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test("icmp echo: golden request (RFC 792), parse/emit symmetry, IPv6 types", () => {
  // Type 8, code 0, ident 1, seq 1: words 0800 0001 0001 sum to 0802, checksum f7fd.
  const buf = new Uint8Array(8);
  emitEcho({ family: 4, reply: false, ident: 1, seq: 1, data: new Uint8Array(0) }, buf, 0);
  assertEquals(hex(buf), "08 00 f7 fd 00 01 00 01");
  const m = new EchoPacket();
  assertEquals(m.check(buf, 4), "ok");
  const r = parseEcho(m);
  assert(r.ok);
  assertEquals([r.value.reply, r.value.ident, r.value.seq], [false, 1, 1]);
  const v6 = new Uint8Array(12);
  emitEcho({ family: 6, reply: true, ident: 0xbeef, seq: 7, data: new Uint8Array(4) }, v6, 0);
  assertEquals(hex(v6.subarray(0, 8)), "81 00 00 00 be ef 00 07"); // 129, checksum left to the kernel
  assertEquals(m.check(v6, 6), "ok");
  assert(m.reply);
});

Deno.test("icmp echo: bad inputs are named, never thrown", () => {
  const m = new EchoPacket();
  const cases: [string, Uint8Array, 4 | 6, string][] = [
    ["empty", new Uint8Array(0), 4, "echo-truncated"],
    ["7 bytes", new Uint8Array(7), 4, "echo-truncated"],
    ["dest unreachable", new Uint8Array([3, 1, 0xfc, 0xfe, 0, 0, 0, 0]), 4, "echo-not-echo"],
    ["echo code 1", new Uint8Array([0, 1, 0xff, 0xfe, 0, 0, 0, 0]), 4, "echo-not-echo"],
    ["bad checksum", new Uint8Array([0, 0, 0x12, 0x34, 0, 1, 0, 1]), 4, "echo-bad-checksum"],
    ["v4 type on v6", new Uint8Array([0, 0, 0xff, 0xff, 0, 0, 0, 0]), 6, "echo-not-echo"],
    ["neighbor solicit", new Uint8Array([135, 0, 0, 0, 0, 0, 0, 0]), 6, "echo-not-echo"],
  ];
  for (const [name, bytes, fam, want] of cases) assertEquals(m.check(bytes, fam), want, name);
  for (let i = 0; i < 500; i++) {
    const b = crypto.getRandomValues(new Uint8Array(i % 40));
    m.check(b, i % 2 ? 4 : 6); // never throws
  }
});

/** The reply a peer sends to `req`: type swapped, checksum recomputed. */
function answer(req: Uint8Array, family: 4 | 6): Uint8Array {
  const r = req.slice();
  r[0] = family === 4 ? 0 : 129;
  r[2] = r[3] = 0;
  if (family === 4) {
    const c = internetChecksum(r, 0, r.length);
    r[2] = c >> 8;
    r[3] = c & 0xff;
  }
  return r;
}

Deno.test("ping: five requests 200 ms apart, replies timed, ping's summary", () => {
  const p = new Pinger({ family: 4, ident: 0x4242, count: 5, intervalMs: 200, timeoutMs: 2000 }, 0);
  const rtts = [1, 2, 3, 4, 5];
  for (let i = 0; i < 5; i++) {
    const t = i * 200;
    assertEquals(p.nextDeadline(), t);
    assertEquals(p.poll(t - 1), null, "nothing before its time");
    const req = p.poll(t)!;
    assertEquals(req.length, 64, "8 + 56 bytes, as ping");
    assertEquals((req[6] << 8) | req[7], i + 1, "sequence numbers 1..5");
    assertEquals(p.poll(t), null, "one per interval");
    assertEquals(p.onPacket(answer(req, 4), 0, 64, t + rtts[i]), "reply");
  }
  assert(p.done(800), "every reply in: done at once");
  assertEquals(p.nextDeadline(), Infinity);
  const s = p.summary();
  assertEquals([s.sent, s.received, s.lossPct, s.minMs, s.avgMs, s.maxMs], [5, 5, 0, 1, 3, 5]);
  assertEquals(s.mdevMs!.toFixed(3), Math.sqrt(2).toFixed(3)); // sqrt(mean(r^2) - mean(r)^2)
});

Deno.test("ping: loss, duplicates, strangers and late replies", () => {
  const p = new Pinger({ family: 6, ident: 9, count: 3, intervalMs: 100, timeoutMs: 1000 }, 0);
  const r1 = answer(p.poll(0)!, 6);
  assertEquals(p.onPacket(r1, 0, r1.length, 5), "reply");
  assertEquals(p.onPacket(r1, 0, r1.length, 6), "duplicate");
  const req2 = p.poll(100)!.slice();
  const other = answer(req2, 6);
  other[4] ^= 0xff; // another pinger's identifier
  assertEquals(p.onPacket(other, 0, other.length, 101), "other-ident");
  assertEquals(p.onPacket(req2, 0, req2.length, 101), "not-echo-reply", "our own request looped");
  const future = answer(req2, 6);
  future[7] = 3; // seq 3: not sent yet
  assertEquals(p.onPacket(future, 0, future.length, 102), "unknown-seq");
  assertEquals(p.onPacket(answer(req2, 6), 0, 20, 102), "short-data");
  p.poll(200); // request 3 is never answered, nor is request 2
  assert(!p.done(1199));
  assertEquals(p.nextDeadline(), 1200, "the last request + timeoutMs");
  assert(p.done(1200));
  const s = p.summary();
  assertEquals([s.sent, s.received, s.duplicates, s.lossPct], [3, 1, 1, 66]);
  assertEquals(s.ignored, {
    "other-ident": 1,
    "not-echo-reply": 1,
    "unknown-seq": 1,
    "short-data": 1,
  });
});

Deno.test("ping: bounds on its options", () => {
  const ok = { family: 4 as const, ident: 1, count: 1, intervalMs: 1, timeoutMs: 0 };
  assertThrows(() => new Pinger({ ...ok, count: 0 }, 0), RangeError);
  assertThrows(() => new Pinger({ ...ok, count: 1001 }, 0), RangeError);
  assertThrows(() => new Pinger({ ...ok, ident: 65536 }, 0), RangeError);
  assertThrows(() => new Pinger({ ...ok, intervalMs: 0 }, 0), RangeError);
  assertThrows(() => new Pinger({ ...ok, dataLen: 4 }, 0), RangeError);
  const p = new Pinger(ok, 0);
  p.poll(0);
  assert(p.done(0), "timeout 0: done right after the only request");
  assertEquals(p.summary().lossPct, 100);
});
