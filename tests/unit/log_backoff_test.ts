/**
 * The log's back-off for conditions that go on (cmd/kit/log.ts `repeating`):
 * a warning every 3 s becomes reports at 0, 10, 30, 70 s... up to one per
 * cap, each saying how often it was seen and when the next comes; resolving
 * it says so once and starts over.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Logger } from "../../cmd/kit/log.ts";

function clocked() {
  let now = 1_000_000;
  const lines: string[] = [];
  const log = new Logger(
    { level: "info", format: "text", debug: [] },
    (l) => lines.push(l),
    () => now,
  );
  return { log, lines, tick: (ms: number) => now += ms };
}

Deno.test("log: a repeated condition backs off, doubling up to the cap, and says when next", () => {
  const { log, lines, tick } = clocked();
  const t = log.topic("node");
  const printedAt: number[] = [];
  // Every 3 s for 20 minutes.
  for (let s = 0; s <= 1200; s += 3) {
    if (t.repeating("refused", "warn", "the supernode refused this node")) printedAt.push(s);
    tick(3000);
  }
  // 0, then at least 10, 20, 40, 80, 160 s apart, then every 300 s (the cap).
  assertEquals(printedAt.slice(0, 6), [0, 12, 33, 75, 156, 318]);
  const gaps = printedAt.slice(1).map((s, i) => s - printedAt[i]);
  for (const g of gaps.slice(5)) assert(g >= 300 && g < 303, `gap ${g}`);
  assert(printedAt.length <= 10, `${printedAt.length} lines in 20 min, not ${1200 / 3}`);
  assertStringIncludes(lines[0], "warn  node: the supernode refused this node");
  assert(!lines[0].includes("still"), lines[0]);
  assertStringIncludes(lines[1], "(still, 5 times in 12 s, 3 not logged; next report in 20 s");
  assertStringIncludes(lines[1], "suppressed=3");
  assertStringIncludes(lines.at(-1)!, "next report in 5 min if it goes on");
});

Deno.test("log: resolving a condition says so once and starts the back-off over", () => {
  const { log, lines, tick } = clocked();
  const t = log.topic("xconnect");
  t.repeating("unreachable", "warn", "no answer from the LAS 192.0.2.1");
  tick(3000);
  assertEquals(t.repeating("unreachable", "warn", "no answer from the LAS 192.0.2.1"), false);
  tick(3000);
  assertEquals(t.resolved("unreachable", "the LAS answers"), true);
  assertStringIncludes(lines.at(-1)!, "info  xconnect: the LAS answers (after 2 times in 6 s)");
  assertEquals(t.resolved("unreachable", "again"), false);
  assertEquals(t.repeating("unreachable", "warn", "no answer from the LAS 192.0.2.1"), true);
  assertEquals(lines.length, 3);
  // Keys are per topic and bounded.
  for (let i = 0; i < Logger.MAX_RATE_KEYS + 10; i++) t.repeating(`k${i}`, "info", "x");
  assertEquals(lines.length, 3 + Logger.MAX_RATE_KEYS + 10);
});
