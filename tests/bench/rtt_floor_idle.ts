/**
 * The Deno side of `tests/bench/rtt_floor.ts`'s idle-call measurement (not a
 * test): what one syscall through FFI costs right after the thread slept in
 * poll for an idle gap, as a forwarder's first call after a quiet spell
 * does, against the same call made again at once (warm). The C program
 * embedded in rtt_floor.ts does the same steps with direct calls.
 *
 * Usage: `deno run -A rtt_floor_idle.ts <gaps> <gap-ms> <inline|worker> <jit-warm-calls>`.
 * Per round: sleep `gap-ms` in `poll()` on an empty eventfd (`inline`: the
 * synchronous `libc.poll` on the JS thread; `worker`: `libc.poll_wait` on
 * the FFI worker thread), then time `read()` of that eventfd (EAGAIN) with
 * `performance.now()` around it, twice in a row, then two clock reads back to
 * back (what the timing itself costs). Before the rounds, the timed code
 * runs `jit-warm-calls` times back to back (e.g. 20,000), so that V8 has
 * optimized it (its FFI calls on the fast path) and the rounds measure the
 * idle gap alone; with 0 it runs in V8's lower tiers, as the quiet path of a
 * daemon does (V8 may still tier it up during the rounds). The C program
 * warms the same way. The first 10 rounds are not kept.
 * Prints one JSON line `{"first": [µs...], "warm": [...], "clock": [...]}`.
 *
 * @module
 */
import { Arena, C, libc, size } from "../../ffi/libc.ts";

const WARMUP_ROUNDS = 10;

const gaps = Number(Deno.args[0]);
const gapMs = Number(Deno.args[1]);
const wait = Deno.args[2];
/** Back-to-back calls of the timed function before the rounds (no gap). */
const jitWarmCalls = Number(Deno.args[3]);
if (
  !Number.isInteger(gaps) || gaps < 1 || !Number.isInteger(gapMs) || gapMs < 0 ||
  (wait !== "inline" && wait !== "worker") || !Number.isInteger(jitWarmCalls) || jitWarmCalls < 0
) {
  console.error("usage: rtt_floor_idle.ts <gaps> <gap-ms> <inline|worker> <jit-warm-calls>");
  Deno.exit(2);
}

const fd = libc.eventfd(0, C.EFD_NONBLOCK | C.EFD_CLOEXEC);
if (fd < 0) throw new Error("Cannot open an eventfd");
const buf = new Uint8Array(8);
const len = size(8);
const pfd = new Arena(8);
pfd.view.setInt32(0, fd, true);
pfd.view.setInt16(4, C.POLLIN, true);
const one = size(1);

/** Samples: first call, warm call, clock pair (µs), one triple per kept round. */
const out = new Float64Array(3 * (gaps + WARMUP_ROUNDS));

/** One timed pair of calls; kept in one function so V8 optimizes it as a unit. */
function timed(k: number): void {
  const t0 = performance.now();
  libc.read(fd, buf, len);
  const t1 = performance.now();
  libc.read(fd, buf, len);
  const t2 = performance.now();
  const t3 = performance.now();
  out[3 * k] = (t1 - t0) * 1000;
  out[3 * k + 1] = (t2 - t1) * 1000;
  out[3 * k + 2] = (t3 - t2) * 1000;
}

// Optimize `timed` (and its FFI calls) first, so the rounds measure the gap, not V8's tiers.
for (let i = 0; i < jitWarmCalls; i++) timed(0);
for (let i = 0; i < gaps + WARMUP_ROUNDS; i++) {
  if (wait === "inline") libc.poll(pfd.ptr, one, gapMs);
  else await libc.poll_wait(pfd.ptr, one, gapMs);
  timed(i);
}
libc.close(fd);
const pick = (j: number) =>
  Array.from({ length: gaps }, (_, i) => out[3 * (i + WARMUP_ROUNDS) + j]);
console.log(JSON.stringify({ first: pick(0), warm: pick(1), clock: pick(2) }));
