import fc from "fast-check";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  NONCE_BYTES,
  REPLAY_WORDS,
  ReplayVerdict,
  ReplayWindow,
  writeCounterNonce,
} from "../../core/replay.ts";

const MAX64 = (1n << 64n) - 1n;

/** The naive model: every accepted counter in a Set, and the highest one. */
class SetModel {
  readonly seen = new Set<bigint>();
  top = 0n;
  constructor(readonly size: number) {}
  check(c: bigint): ReplayVerdict {
    if (c > this.top) return "ok";
    if (this.top - c > BigInt(this.size)) return "too_old";
    return this.seen.has(c) ? "replayed" : "ok";
  }
  accept(c: bigint): ReplayVerdict {
    const v = this.check(c);
    if (v === "ok") {
      this.seen.add(c);
      if (c > this.top) this.top = c;
    }
    return v;
  }
}

Deno.test("replay: default window is 2048 bits, 2016 counters", () => {
  const w = new ReplayWindow();
  assertEquals(REPLAY_WORDS, 64);
  assertEquals(w.size, 2016);
  assertEquals(new ReplayWindow(2).size, 32);
});

Deno.test("replay: bad ring sizes are refused", () => {
  for (const words of [0, 1, 3, 48, 1.5, 1 << 21]) {
    assertThrows(() => new ReplayWindow(words), RangeError, "power of two");
  }
});

Deno.test("replay: in order, then every one replayed", () => {
  const w = new ReplayWindow();
  for (let i = 0; i < 5000; i++) assertEquals(w.accept(0, i), "ok", `first ${i}`);
  assertEquals(w.highestLo, 4999);
  for (let i = 4999 - w.size; i < 5000; i++) assertEquals(w.accept(0, i), "replayed", `again ${i}`);
  assertEquals(w.accept(0, 4999 - w.size - 1), "too_old");
  assertEquals(w.accepted, 5000);
  assertEquals(w.replayed, w.size + 1);
  assertEquals(w.tooOld, 1);
});

Deno.test("replay: counter 0 is accepted once on a fresh window", () => {
  const w = new ReplayWindow();
  assertEquals(w.check(0, 0), "ok");
  assertEquals(w.accept(0, 0), "ok");
  assertEquals(w.accept(0, 0), "replayed");
});

Deno.test("replay: reordered within the window, edges exact", () => {
  const w = new ReplayWindow();
  const top = 10_000;
  assertEquals(w.accept(0, top), "ok");
  // Every counter from top - size to top - 1, in a scrambled order.
  const order: number[] = [];
  for (let d = 1; d <= w.size; d++) order.push(top - d);
  for (let i = order.length - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const c of order) assertEquals(w.accept(0, c), "ok", `counter ${c}`);
  for (const c of order) assertEquals(w.check(0, c), "replayed", `counter ${c}`);
  assertEquals(w.accept(0, top - w.size - 1), "too_old");
  assertEquals(w.highestLo, top, "older counters never move the window");
});

Deno.test("replay: check changes nothing", () => {
  const w = new ReplayWindow();
  assertEquals(w.check(0, 100), "ok");
  assertEquals(w.check(0, 100), "ok");
  assertEquals(w.highestLo, 0);
  assertEquals(w.accepted, 0);
  assertEquals(w.accept(0, 100), "ok");
  assertEquals(w.check(0, 100), "replayed");
  assertEquals(w.replayed, 0, "check does not count");
});

Deno.test("replay: moving ahead forgets what fell out and keeps what stayed", () => {
  const w = new ReplayWindow();
  for (let i = 0; i < 100; i++) w.accept(0, i);
  assertEquals(w.accept(0, 100 + w.size - 50), "ok");
  // 0..49 are now out of the window; 50..99 are still remembered.
  assertEquals(w.check(0, 49), "too_old");
  assertEquals(w.check(0, 50), "replayed");
  assertEquals(w.check(0, 99), "replayed");
  assertEquals(w.check(0, 100), "ok");
});

Deno.test("replay: ring words wrap and are cleared when reused", () => {
  // A 2-word ring: every 32 counters the window lands on the other word.
  const w = new ReplayWindow(2);
  for (let c = 0; c < 32 * 10; c++) {
    assertEquals(w.accept(0, c), "ok", `c=${c}`);
    if (c >= 1) assertEquals(w.check(0, c - 1), "replayed", `c-1 at ${c}`);
    if (c >= 33) assertEquals(w.check(0, c - 33), "too_old", `c-33 at ${c}`);
  }
  // Skip exactly one word: the reused word must come back clean.
  const t = w.highestLo;
  assertEquals(w.accept(0, t + 32), "ok");
  for (let c = t + 1; c < t + 32; c++) assertEquals(w.check(0, c), "ok", `gap ${c}`);
});

Deno.test("replay: huge jumps, the 2^32 boundary and the top of the space", () => {
  const w = new ReplayWindow();
  assertEquals(w.accept(0, 5), "ok");
  assertEquals(w.accept(1, 3), "ok", "across 2^32");
  assertEquals(w.check(0, 0xffff_ffff), "ok", "4 behind, in the window across the halves");
  assertEquals(w.accept(0, 0xffff_ffff), "ok");
  assertEquals(w.accept(0, 0xffff_ffff), "replayed");
  assertEquals(w.accept(0, 0xffff_ffff - w.size + 4), "ok", "exactly size behind");
  assertEquals(w.accept(0, 0xffff_ffff - w.size + 3), "too_old", "size + 1 behind");
  assertEquals(w.accept(0, 5), "too_old");
  assertEquals(w.accept(0x7fff_ffff, 17), "ok", "jump of 2^62");
  assertEquals(w.accept(1, 3), "too_old");
  assertEquals(w.accept(0x7fff_ffff, 17), "replayed");
  assertEquals(w.acceptBig(MAX64), "ok");
  assertEquals(w.acceptBig(MAX64), "replayed");
  assertEquals(w.acceptBig(MAX64 - 1n), "ok");
  assertEquals(w.highestHi, 0xffff_ffff);
  assertEquals(w.highestLo, 0xffff_ffff);
  assertEquals(w.checkBig(0n), "too_old");
});

Deno.test("replay: reset forgets counters, keeps statistics", () => {
  const w = new ReplayWindow();
  w.accept(0, 1);
  w.accept(0, 1);
  w.reset();
  assertEquals(w.accept(0, 1), "ok");
  assertEquals(w.accepted, 2);
  assertEquals(w.replayed, 1);
});

/**
 * A step relative to the model's current top, scaled to the window, so that
 * sequences hit the window's edges, the ring's word boundaries and its wrap.
 */
function steps(size: number) {
  const step = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.integer({ min: -size - 40, max: 40 }).map((d) => ({ d: BigInt(d) })),
    },
    {
      weight: 2,
      arbitrary: fc.integer({ min: -3 * size, max: 3 * size }).map((d) => ({ d: BigInt(d) })),
    },
    { weight: 1, arbitrary: fc.bigInt({ min: -MAX64, max: MAX64 }).map((d) => ({ d })) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: MAX64 }).map((a) => ({ abs: a })) },
  );
  return fc.array(step, { minLength: 1, maxLength: 600, size: "max" });
}

for (const words of [2, 4, 64]) {
  Deno.test(`replay: matches a Set model (${words}-word ring)`, () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: MAX64 }),
        steps(new ReplayWindow(words).size),
        (start, steps) => {
          const w = new ReplayWindow(words);
          const m = new SetModel(w.size);
          assertEquals(w.acceptBig(start), m.accept(start));
          for (const s of steps) {
            let c = "abs" in s ? s.abs! : m.top + s.d!;
            if (c < 0n) c = 0n;
            if (c > MAX64) c = MAX64;
            const expected = m.check(c);
            assertEquals(w.checkBig(c), expected, `check ${c} top ${m.top}`);
            assertEquals(w.acceptBig(c), m.accept(c), `accept ${c} top ${m.top}`);
            assertEquals(
              (BigInt(w.highestHi) << 32n) | BigInt(w.highestLo),
              m.top,
              "same highest counter",
            );
          }
        },
      ),
      { numRuns: 200, seed: 0x6479 + words },
    );
  });
}

Deno.test("replay: counters add up", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 500 }), (cs) => {
      const w = new ReplayWindow();
      let ok = 0;
      for (const c of cs) if (w.accept(0, c) === "ok") ok++;
      assertEquals(w.accepted, ok);
      assertEquals(w.accepted + w.replayed + w.tooOld, cs.length);
    }),
  );
});

Deno.test("counter nonce: zero prefix then the 64-bit counter big-endian", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX64 }), (c) => {
      const n = new Uint8Array(NONCE_BYTES).fill(0xee);
      writeCounterNonce(n, Number(c >> 32n), Number(c & 0xffff_ffffn));
      const expected = new Uint8Array(NONCE_BYTES);
      new DataView(expected.buffer).setBigUint64(4, c, false);
      assertEquals(n, expected);
    }),
  );
  const seen = new Set<string>();
  const n = new Uint8Array(NONCE_BYTES);
  for (const [hi, lo] of [[0, 0], [0, 1], [1, 0], [0, 256], [256, 0], [0xffff_ffff, 0xffff_ffff]]) {
    writeCounterNonce(n, hi, lo);
    seen.add(n.join(","));
  }
  assert(seen.size === 6, "distinct counters give distinct nonces");
});
