/**
 * The V8 flags every `l2` process runs with: `deno task l2`, the binary
 * `deno task compile` builds, `l2 demo`'s daemons and the tests' daemons
 * all pass these (`--v8-flags=` + `V8_FLAGS.join(",")`); a unit test checks
 * that deno.json's `l2` task carries the same list. Without them l2 still
 * works, only a sparse packet takes longer.
 *
 * Why: V8 compiles a function with its optimizing tiers only after it has
 * run many times (Maglev after 400 invocations, TurboFan after 3000, by
 * default in Deno 2.9.6's V8 15.0), and only optimized code calls FFI
 * functions through the fast path: from the interpreter every `read()`,
 * `sendmmsg()` and AEAD call costs several microseconds more. A daemon that
 * carries a ping every 10 ms runs its data path in the interpreter for
 * minutes. Measured in the VPN lab (`L2_BENCH_RTT=1 deno task bench:vpn`,
 * pings 10 ms apart, two nodes on this 2-vCPU VM, 2026-11-21): ping p50
 * 0.64-0.76 ms with V8's defaults in the first 600 pings, 0.39-0.41 ms
 * after 30,000 flood pings had made the path hot, and 0.37-0.51 ms within
 * the first 900 pings with these flags. `tests/bench/rtt_floor.ts` shows the
 * same on a do-nothing forwarder (0.37-0.40 ms cold against 0.26-0.35 ms hot).
 *
 * The cost: more functions get compiled, earlier (a few milliseconds of
 * compile work at start, spread over the first seconds); V8's own limits on
 * repeated deoptimization still apply. Tests run with the same flags as
 * production, so a tiering problem shows in CI.
 *
 * @module
 */

/** V8 flags for every l2 process. */
export const V8_FLAGS: readonly string[] = [
  "--invocation-count-for-maglev=50",
  "--invocation-count-for-turbofan=200",
  "--minimum-invocations-after-ic-update=50",
];

/** The `deno run` / `deno compile` argument carrying `V8_FLAGS`. */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS.join(",")}`;
