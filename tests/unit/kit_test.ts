import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { MetricsWriter } from "../../cmd/kit/metrics.ts";
import { handle, tokenCheck } from "../../cmd/kit/api.ts";
import { renderStatus } from "../../cmd/status.ts";

function capture(
  level: "error" | "warn" | "info" | "debug",
  format: "text" | "json",
  debug: string[] = [],
) {
  const lines: string[] = [];
  let now = Date.parse("2026-11-21T10:00:00Z");
  const log = new Logger({ level, format, debug }, (l) => lines.push(l), () => now);
  return { lines, log, advance: (ms: number) => now += ms };
}

Deno.test("log: levels and per-topic debug switches", () => {
  const { lines, log } = capture("info", "text", ["mat"]);
  log.log("debug", "las", "hidden");
  log.log("debug", "mat", "shown", { leaf: 5 });
  log.log("info", "las", "SCCRQ from 192.0.2.1", { peer: "192.0.2.1", note: "a b" });
  log.log("warn", "las", "w");
  assertEquals(lines, [
    "2026-11-21T10:00:00.000Z debug mat: shown leaf=5",
    '2026-11-21T10:00:00.000Z info  las: SCCRQ from 192.0.2.1 peer=192.0.2.1 note="a b"',
    "2026-11-21T10:00:00.000Z warn  las: w",
  ]);
  log.configure({ level: "error", format: "json", debug: [] });
  log.log("warn", "las", "gone");
  log.log("error", "las", "bad", { code: 7, skip: undefined });
  assertEquals(JSON.parse(lines[3]), {
    ts: "2026-11-21T10:00:00.000Z",
    level: "error",
    topic: "las",
    msg: "bad",
    code: 7,
  });
  assertEquals(lines.length, 4);
});

Deno.test("log: rate limit per key, with a count of what was suppressed", () => {
  const { lines, log, advance } = capture("info", "text");
  for (let i = 0; i < 20; i++) {
    log.limited("garbage:192.0.2.9", "warn", "las", "garbage", {}, 5, 10_000);
  }
  assertEquals(lines.length, 5);
  log.limited("garbage:192.0.2.10", "warn", "las", "other peer", {}, 5, 10_000);
  assertEquals(lines.length, 6, "one peer's flood does not silence another");
  advance(10_000);
  log.limited("garbage:192.0.2.9", "warn", "las", "garbage", {}, 5, 10_000);
  assertStringIncludes(lines[6], "suppressed=15");
});

Deno.test("log: a flood with a fresh key per line (spoofed sources) is bounded per topic", () => {
  const { lines, log, advance } = capture("info", "text");
  for (let i = 0; i < 300; i++) {
    log.limited(`bad:192.0.2.${i % 250}:${1000 + i}`, "warn", "las", `garbage ${i}`, {}, 5, 10_000);
  }
  log.limited("other", "warn", "node", "another topic has its own budget");
  assertEquals(lines.length, Logger.TOPIC_PER_WINDOW + 1);
  advance(10_000);
  log.limited("bad:198.51.100.1:1", "warn", "las", "after the window");
  assertStringIncludes(lines[Logger.TOPIC_PER_WINDOW + 1], "250 more rate-limited messages");
  assertStringIncludes(lines[Logger.TOPIC_PER_WINDOW + 1], "suppressed=250");
  assertStringIncludes(lines[Logger.TOPIC_PER_WINDOW + 2], "after the window");
});

Deno.test("log: rate-limit keys are bounded", () => {
  const { log } = capture("info", "text");
  for (let i = 0; i < Logger.MAX_RATE_KEYS + 100; i++) log.limited(`k${i}`, "info", "t", "m");
  // deno-lint-ignore no-explicit-any
  assert((log as any).constructor.MAX_RATE_KEYS === 4096);
});

Deno.test("metrics: Prometheus text with HELP/TYPE once per family and escaped labels", () => {
  const w = new MetricsWriter();
  w.counter("l2_frames_total", "frames", 3, { vc: "1234", dir: "rx" });
  w.counter("l2_frames_total", "frames", 4, { vc: 'a"b\\c\nd', dir: "tx" });
  w.gauge("l2_sessions", "sessions up", 2);
  w.gauge("l2_inf", "x", Infinity);
  assertEquals(
    w.render(),
    `# HELP l2_frames_total frames
# TYPE l2_frames_total counter
l2_frames_total{vc="1234",dir="rx"} 3
l2_frames_total{vc="a\\"b\\\\c\\nd",dir="tx"} 4
# HELP l2_sessions sessions up
# TYPE l2_sessions gauge
l2_sessions 2
# HELP l2_inf x
# TYPE l2_inf gauge
l2_inf +Inf
`,
  );
  let threw = false;
  try {
    w.gauge("l2_frames_total", "x", 1);
  } catch {
    threw = true;
  }
  assert(threw, "one name cannot be both counter and gauge");
});

Deno.test("api: routes, methods and bearer token", async () => {
  const h = { status: () => ({ role: "las", n: 1 }), metrics: () => "m 1\n" };
  const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
    handle(new Request(`http://127.0.0.1${path}`, { method, headers }), h, tokenCheck("s3cret"));
  assertEquals((await get("/status")).status, 401);
  assertEquals((await get("/status", { authorization: "Bearer wrong" })).status, 401);
  const ok = await get("/status", { authorization: "Bearer s3cret" });
  assertEquals(ok.status, 200);
  assertEquals(await ok.json(), { role: "las", n: 1 });
  const m = await get("/metrics", { authorization: "bearer s3cret" });
  assertStringIncludes(m.headers.get("content-type")!, "version=0.0.4");
  assertEquals(await m.text(), "m 1\n");
  assertEquals((await get("/nope", { authorization: "Bearer s3cret" })).status, 404);
  assertEquals((await get("/status", { authorization: "Bearer s3cret" }, "POST")).status, 405);
  const open = handle(new Request("http://127.0.0.1/status"), h, null);
  assertEquals(open.status, 200);
  const broken = handle(new Request("http://127.0.0.1/status"), {
    status: () => {
      throw new Error("boom");
    },
    metrics: () => "",
  }, null);
  assertEquals(broken.status, 500);
});

Deno.test("status: renders scalars, nested objects and lists of objects as tables", () => {
  const text = renderStatus({
    role: "node",
    name: "home",
    version: "0.1.0",
    pid: 42,
    uptime_s: 3725,
    id: 2,
    totals: { relayed_frames: 10 },
    peers: [
      { node: 3, path: "direct", endpoint: "192.0.2.3:7654", rtt_ms: 0.4 },
      { node: 4, path: "relay", endpoint: null, rtt_ms: null },
    ],
    mat: [],
  }, "127.0.0.1:7656");
  assertEquals(
    text,
    `node "home" at 127.0.0.1:7656 (l2 0.1.0, pid 42, up 1h 2m 5s)
  id  2
  totals:
    relayed_frames  10
  peers (2):
    node  path    endpoint        rtt_ms
    3     direct  192.0.2.3:7654  0.4
    4     relay   -               -
  mat: none`,
  );
});
