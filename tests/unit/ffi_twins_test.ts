/**
 * The in-memory twins of tests/lab/twins.ts keep the ffi/ contracts, and the
 * lossy network is deterministic per seed and loses, duplicates and
 * reorders only in the ways its profile allows.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { formatIp } from "../../core/addr.ts";
import { MemFrameDevice, MemNet, seededRandom, wireFrames } from "../lab/twins.ts";

Deno.test("twins: frame devices wired like a cable", () => {
  const a = new MemFrameDevice({ name: "a", batch: 4 });
  const b = new MemFrameDevice({ name: "b", batch: 4 });
  wireFrames(a, b);
  for (let i = 0; i < 6; i++) assertEquals(a.write(new Uint8Array([i, 1, 2])), 0);
  assertEquals(b.read(), 4, "batch-limited");
  assertEquals(b.rx.bufs[3].subarray(0, b.rx.lens[3]), new Uint8Array([3, 1, 2]));
  assertEquals(b.read(), 2);
  assertEquals(b.read(), 0, "drained");
  assertEquals(a.takeWritten().length, 6);
  const small = new MemFrameDevice({ queueLimit: 2 });
  assert(small.inject(new Uint8Array(1)) && small.inject(new Uint8Array(1)));
  assert(!small.inject(new Uint8Array(1)), "bounded inbox");
  assertEquals(small.stats.overflow, 1);
});

Deno.test("twins: transports deliver with addresses; dual-stack bind takes IPv4", () => {
  const net = new MemNet();
  const a = net.open("10.0.0.1", 0);
  const b = net.open("::", 4789);
  const c = net.open("2001:db8::3", 4789);
  assertEquals(a.local.port, 40000);
  assertEquals(a.queue(new Uint8Array([1]), { ip: b.local.ip.slice(), port: 4789 }), 0);
  a.send(new Uint8Array([2]), { ip: a.local.ip, port: 9 }); // to 10.0.0.1:9 -> nobody
  a.flush();
  assertEquals(net.stats.unreachable, 1);
  assertEquals(b.recv(), 1);
  // The wildcard [::]:4789 takes IPv4 to any address on its port (the net has no hosts).
  a.send(new Uint8Array([5]), {
    ip: c.local.ip.slice().fill(0, 0, 16).fill(0xff, 10, 12).fill(7, 12),
    port: 4789,
  });
  assertEquals(b.recv(), 1);
  assertEquals(formatIp(b.rx.dst[0]), "7.7.7.7");
  c.send(new Uint8Array([3, 3]), { ip: a.local.ip, port: a.local.port }, c.local.ip);
  assertEquals(a.recv(), 1);
  assertEquals(formatIp(a.rx.src[0]), "2001:db8::3");
  assertEquals([a.rx.srcPort[0], a.rx.lens[0]], [4789, 2]);
  assertEquals(formatIp(a.rx.dst[0]), "10.0.0.1");
  b.close();
  a.send(new Uint8Array([4]), { ip: b.local.ip, port: 4789 });
  assertEquals(net.stats.unreachable, 2, "closed transports unbind");
  assertEquals(net.stats.delivered, 3);
});

function run(seed: number, drop: number, duplicate: number, reorder: number, count: number) {
  const net = new MemNet({ seed, link: { drop, duplicate, reorder } });
  const a = net.open("10.0.0.1", 1), b = net.open("10.0.0.2", 2, { queueLimit: 10_000 });
  for (let i = 0; i < count; i++) a.send(new Uint8Array([i >> 8, i & 0xff]), b.local);
  net.releaseHeld();
  const got: number[] = [];
  for (let guard = 0; guard < 1000 && b.recv() > 0;) {
    for (let i = 0; i < b.rx.count; i++) got.push((b.rx.bufs[i][0] << 8) | b.rx.bufs[i][1]);
    guard++;
  }
  return { got, stats: net.stats };
}

Deno.test("twins: lossy network is replayable and keeps to its profile (property)", () => {
  fc.assert(
    fc.property(
      fc.nat(),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 0, max: 300 }),
      (seed, drop, dup, reorder, count) => {
        const r1 = run(seed, drop, dup, reorder, count);
        const r2 = run(seed, drop, dup, reorder, count);
        assertEquals(r1.got, r2.got, "same seed, same outcome");
        const times = new Map<number, number>();
        for (const x of r1.got) times.set(x, (times.get(x) ?? 0) + 1);
        for (const [x, n] of times) {
          assert(x < count && n <= 2, `datagram ${x} arrived ${n} times`);
        }
        assertEquals(r1.got.length, count - r1.stats.dropped + r1.stats.duplicated);
        if (dup === 0) assert([...times.values()].every((n) => n === 1));
        if (reorder === 0) {
          for (let i = 1; i < r1.got.length; i++) assert(r1.got[i] >= r1.got[i - 1], "in order");
        }
        return true;
      },
    ),
    { seed: 2024, numRuns: 200 },
  );
  // The extremes are exact.
  assertEquals(run(9, 1, 0, 0, 50).got, []);
  assertEquals(run(9, 0, 1, 0, 3).got, [0, 0, 1, 1, 2, 2]);
  const r = run(9, 0, 0, 0.5, 200);
  assertEquals([...r.got].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
  assert(r.got.some((x, i) => i > 0 && x < r.got[i - 1]), "reordering happened");
  const rand = seededRandom(3);
  const xs = Array.from({ length: 1000 }, rand);
  assert(xs.every((x) => x >= 0 && x < 1));
  assertEquals(Array.from({ length: 1000 }, seededRandom(3)), xs);
});
