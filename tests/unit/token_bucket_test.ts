import { assert, assertEquals, assertThrows } from "../assert.ts";
import fc from "fast-check";
import { checkRateLimit, TokenBucket } from "../../core/token_bucket.ts";

Deno.test("token bucket: starts full, spends the burst, refills at the rate", () => {
  const b = new TokenBucket({ rate: 10, burst: 3 }, 1000);
  assert(b.take(1000));
  assert(b.take(1000));
  assert(b.take(1000));
  assert(!b.take(1000), "burst of 3 spent");
  assert(!b.take(1099), "99 ms at 10/s is 0.99 token");
  assert(b.take(1100), "100 ms at 10/s is one token");
  assert(!b.take(1100));
});

Deno.test("token bucket: refill is capped at the burst", () => {
  const b = new TokenBucket({ rate: 1000, burst: 2 }, 0);
  assert(b.take(0));
  assert(b.take(0));
  assertEquals(b.available(60_000), 2);
  assert(b.take(60_000));
  assert(b.take(60_000));
  assert(!b.take(60_000));
});

Deno.test("token bucket: time running backwards refills nothing", () => {
  const b = new TokenBucket({ rate: 1, burst: 1 }, 10_000);
  assert(b.take(10_000));
  assert(!b.take(0), "clock went back 10 s");
  assert(!b.take(10_500), "still no full second after the last refill");
  assert(b.take(11_000));
});

Deno.test("token bucket: take(n) is all or nothing", () => {
  const b = new TokenBucket({ rate: 1, burst: 5 }, 0);
  assert(!b.take(0, 6));
  assertEquals(b.available(0), 5);
  assert(b.take(0, 5));
  assertEquals(b.available(0), 0);
});

Deno.test("token bucket: unusable limits are rejected with a reason", () => {
  const bad = [
    { rate: 0, burst: 1 },
    { rate: -1, burst: 1 },
    { rate: Infinity, burst: 1 },
    { rate: NaN, burst: 1 },
    { rate: 1, burst: 0.5 },
    { rate: 1, burst: NaN },
  ];
  for (const r of bad) {
    assert(checkRateLimit(r) !== null, JSON.stringify(r));
    assertThrows(() => new TokenBucket(r, 0), RangeError, "Cannot create token bucket");
  }
  assertEquals(checkRateLimit({ rate: 0.5, burst: 1 }), null);
});

Deno.test("token bucket: admits no more than burst + rate * elapsed (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 200 }),
      (rate, burst, steps) => {
        const b = new TokenBucket({ rate, burst }, 0);
        let now = 0;
        let admitted = 0;
        for (const dt of steps) {
          now += dt;
          if (b.take(now)) admitted++;
        }
        return admitted <= burst + (rate * now) / 1000 + 1e-9;
      },
    ),
    { seed: 0x5eed, numRuns: 300 },
  );
});
