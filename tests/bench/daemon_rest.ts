/**
 * The daemon at rest and its management API (issue 19, item 6; not a test).
 *
 * Starts a real `l2 las` (no peer needed; L2TPv3 over IP and over UDP 1701)
 * in a namespace this script makes, beside a plain `Deno.serve` answering a
 * small JSON (the reference: what the runtime costs without our loop), and
 * prints, for both, from the same run:
 *
 * - at rest: wakeups per second (context switches of the main thread, and of
 *   all threads, from /proc/PID/task/TID/status) and CPU % of one core
 *   (utime + stime from /proc/PID/stat) over `DAEMON_REST_IDLE_S` seconds;
 * - the API's latency p50 / p99 / max over `DAEMON_REST_REQUESTS` sequential
 *   GETs of `/status` and of `/metrics` (and `/` of the reference), 5 ms
 *   apart, at rest and again while a load runs through the daemon: junk
 *   L2TPv3-over-UDP data packets (unknown session id, each received, parsed
 *   and dropped by the LAS's data path) at `DAEMON_REST_RATE` packets/s from
 *   a second namespace; the daemon's CPU during the load is printed too.
 *
 * Usage (root): `deno run -A tests/bench/daemon_rest.ts`; environment:
 * `DAEMON_REST_IDLE_S` (10), `DAEMON_REST_REQUESTS` (300), `DAEMON_REST_RATE`
 * (20000), `DAEMON_REST_DENO_ARGS` (extra `deno run` arguments for the LAS,
 * e.g. `--v8-flags=...`). Namespaces `l2t-rest-*` are removed at the end.
 *
 * The script is also its own helpers: `daemon_rest.ts ref PORT` (the
 * reference server), `client URL N` (prints one JSON line of latencies),
 * `load HOST PORT RATE SECONDS` (the junk sender).
 *
 * @module
 */
import { Lab } from "../lab/netns.ts";
import { MAIN } from "../lab/l2proc.ts";
import { V8_FLAGS_ARG } from "../../cmd/v8_flags.ts";

const SELF = new URL(import.meta.url).pathname;
const API = 7791;
const REF = 7792;

async function refServer(port: number): Promise<void> {
  Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => console.log(`listening ${port}`) },
    () =>
      new Response(JSON.stringify({ role: "reference", uptime_s: 1 }) + "\n", {
        headers: { "content-type": "application/json" },
      }),
  );
  await new Promise(() => {});
}

async function client(url: string, n: number): Promise<void> {
  const t: number[] = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(15_000) });
      await r.arrayBuffer();
      if (!r.ok) failed++;
    } catch {
      failed++;
    }
    t.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  t.sort((a, b) => a - b);
  const q = (p: number) => t[Math.min(t.length - 1, Math.floor(p * t.length))];
  console.log(JSON.stringify({ n, failed, p50: q(0.5), p99: q(0.99), max: t[t.length - 1] }));
}

async function load(host: string, port: number, rate: number, seconds: number): Promise<void> {
  const { openUdp } = await import("../../ffi/udp.ts");
  const { libc, size } = await import("../../ffi/libc.ts");
  const { parseIp } = await import("../../core/addr.ts");
  const sock = openUdp({ bind: "0.0.0.0:0", batch: 64 });
  const ip = parseIp(host);
  if (!ip.ok) throw new Error(`bad host ${host}`);
  const to = { ip: ip.value, port };
  // L2TPv3 over UDP, data message: session id 0x0bad0bad (unknown), then a 64-byte frame.
  const pkt = new Uint8Array(4 + 64);
  new DataView(pkt.buffer).setUint32(0, 0x0bad0bad);
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    const due = Math.floor((performance.now() - t0) * rate / 1000);
    while (sent < due) {
      sock.queue(pkt, to);
      sent++;
      if (sent % 64 === 0) sock.flush();
    }
    sock.flush();
    libc.poll(null, size(0), 1);
  }
  sock.close();
  console.log(JSON.stringify({ sent }));
}

/** Context switches (main thread; all threads) and CPU ticks of a process. */
function sample(pid: number): { main: number; all: number; ticks: number; t: number } {
  const cs = (text: string) => {
    let n = 0;
    for (const m of text.matchAll(/_ctxt_switches:\s+(\d+)/g)) n += Number(m[1]);
    return n;
  };
  const main = cs(Deno.readTextFileSync(`/proc/${pid}/status`));
  let all = 0;
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      all += cs(Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/status`));
    } catch { /* the thread ended */ }
  }
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { main, all, ticks: Number(f[11]) + Number(f[12]), t: performance.now() };
}

function rest(a: ReturnType<typeof sample>, b: ReturnType<typeof sample>) {
  const s = (b.t - a.t) / 1000;
  return {
    mainWakeupsPerS: (b.main - a.main) / s,
    allWakeupsPerS: (b.all - a.all) / s,
    cpuPct: (b.ticks - a.ticks) / s, // clock ticks are 1/100 s
  };
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

async function main(): Promise<void> {
  const idleS = Number(Deno.env.get("DAEMON_REST_IDLE_S") ?? 10);
  const requests = Number(Deno.env.get("DAEMON_REST_REQUESTS") ?? 300);
  const rate = Number(Deno.env.get("DAEMON_REST_RATE") ?? 20000);
  const extra = (Deno.env.get("DAEMON_REST_DENO_ARGS") ?? "").split(" ").filter((s) => s);
  const lab = await Lab.create("rest");
  const dir = await Deno.makeTempDir();
  try {
    const las = await lab.netns("las");
    const gen = await lab.netns("gen");
    await lab.veth(las, "r0", gen, "r1");
    await lab.addr(las, "r0", "10.79.0.1/24");
    await lab.addr(gen, "r1", "10.79.0.2/24");
    const cfg = `${dir}/las.yaml`;
    await Deno.writeTextFile(cfg, `las:\n  default:\n    udp: true\n    api: 127.0.0.1:${API}\n`);
    const deno = Deno.execPath();
    const d = lab.spawn(las, [
      deno,
      "run",
      V8_FLAGS_ARG,
      ...extra,
      "-A",
      "--quiet",
      MAIN,
      "las",
      "--config",
      cfg,
    ], { NO_COLOR: "1" });
    const ref = lab.spawn(las, [deno, "run", "-A", "--quiet", SELF, "ref", String(REF)]);
    await ref.waitOutput(/listening/, 30_000);
    const t0 = performance.now();
    while (!/started/.test(d.stderr)) {
      if (performance.now() - t0 > 30_000) throw new Error(`las did not start:\n${d.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const get = async (url: string) => {
      const p = lab.spawn(las, [
        deno,
        "run",
        "-A",
        "--quiet",
        SELF,
        "client",
        url,
        String(requests),
      ]);
      await p.status;
      return JSON.parse((await p.stop()).stdout.trim());
    };
    // Let start-up settle, then rest.
    await new Promise((r) => setTimeout(r, 2000));
    const a = [sample(d.pid), sample(ref.pid)];
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const b = [sample(d.pid), sample(ref.pid)];
    const rl = rest(a[0], b[0]);
    const rr = rest(a[1], b[1]);
    console.log(`at rest, ${idleS} s: wakeups/s main thread (all threads), CPU % of a core`);
    console.log(
      `  l2 las          ${f1(rl.mainWakeupsPerS)} (${f1(rl.allWakeupsPerS)}), ${f2(rl.cpuPct)} %`,
    );
    console.log(
      `  Deno.serve ref  ${f1(rr.mainWakeupsPerS)} (${f1(rr.allWakeupsPerS)}), ${f2(rr.cpuPct)} %`,
    );
    const row = (what: string, r: { p50: number; p99: number; max: number; failed: number }) =>
      console.log(
        `  ${what.padEnd(28)} p50 ${f2(r.p50)}  p99 ${f2(r.p99)}  max ${f2(r.max)} ms` +
          (r.failed ? `  (${r.failed} failed)` : ""),
      );
    const apiRows = async () => {
      row("l2 las /status", await get(`http://127.0.0.1:${API}/status`));
      row("l2 las /metrics", await get(`http://127.0.0.1:${API}/metrics`));
      row("Deno.serve ref", await get(`http://127.0.0.1:${REF}/`));
    };
    console.log(`API latency at rest, ${requests} requests each, 5 ms apart`);
    await apiRows();
    // The load runs long enough for the three clients (3 x requests x ~6 ms and start-up).
    const loadS = Math.ceil(requests * 3 * 0.02) + 10;
    const l = lab.spawn(gen, [
      deno,
      "run",
      "-A",
      "--quiet",
      SELF,
      "load",
      "10.79.0.1",
      "1701",
      String(rate),
      String(loadS),
    ]);
    await new Promise((r) => setTimeout(r, 1000));
    const c = sample(d.pid);
    console.log(`API latency under ${rate} junk packets/s through the LAS's data path`);
    await apiRows();
    const e = sample(d.pid);
    const rlo = rest(c, e);
    console.log(
      `  LAS during the load: ${f1(rlo.mainWakeupsPerS)} wakeups/s (main thread), ` +
        `${f1(rlo.cpuPct)} % CPU`,
    );
    await l.stop();
  } finally {
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const mode = Deno.args[0];
if (mode === "ref") await refServer(Number(Deno.args[1]));
else if (mode === "client") await client(Deno.args[1], Number(Deno.args[2]));
else if (mode === "load") {
  await load(Deno.args[1], Number(Deno.args[2]), Number(Deno.args[3]), Number(Deno.args[4]));
} else await main();
