/**
 * Round trip through an `IoLoop` with `wait: "inline"` (as the daemons
 * run it) on loopback: a UDP echo server in a child process, this process
 * the client; datagrams sent one at a time at a fixed spacing, each round
 * trip timed (not a test).
 *
 *   deno run -A tests/bench/inline_echo_rtt.ts [count] [gap-ms...]
 *   deno run -A tests/bench/inline_echo_rtt.ts --rest <seconds> <rounds>
 *
 * Defaults: 300 round trips at each of 1, 10 and 200 ms apart (the last: the
 * server's loop is at rest between packets, so each packet is the first
 * after a rest). Prints min / p50 / p90 / max in µs per spacing, and the
 * server loop's counters at the end. `INLINE_ECHO_LOOP=path` runs the server
 * on another copy of ffi/loop.ts (e.g. the previous version, for a
 * before/after run from one tree).
 *
 * `--rest`: V8's bytecode flushing. 20,000 round trips back to back (V8
 * optimizes the path), then `rounds` times: `seconds` at rest, then 5
 * round trips 10 ms apart, the first of them the first packet after the
 * rest; prints each. V8 flushes the bytecode of functions not run for
 * `--bytecode-old-time` seconds (180 by default) at its next full GC; a
 * daemon at rest rarely has one, so with `INLINE_ECHO_GC_S=n` the server
 * forces one every n s (needs `--expose-gc`). `INLINE_ECHO_DENO_ARGS` are
 * the server's extra `deno run` arguments, e.g.
 * `--v8-flags=--expose-gc,--no-flush-bytecode,--trace-flush-code`.
 *
 * Internal role: `--server` prints "PORT <n>" and echoes until SIGTERM.
 *
 * @module
 */
import { Arena, C, libc, size } from "../../ffi/libc.ts";
import { openUdp } from "../../ffi/udp.ts";

async function server(): Promise<void> {
  const path = Deno.env.get("INLINE_ECHO_LOOP") ?? new URL("../../ffi/loop.ts", import.meta.url)
    .href;
  const mod = await import(path.startsWith("/") ? `file://${path}` : path);
  const s = openUdp({ bind: "127.0.0.1:0", batch: 8 });
  const loop = new mod.IoLoop({ wait: "inline" });
  loop.add(
    s.fd,
    () => {
      const n = s.recv();
      const rx = s.rx;
      for (let i = 0; i < n; i++) {
        s.queue(rx.bufs[i].subarray(0, rx.lens[i]), { ip: rx.src[i], port: rx.srcPort[i] });
      }
      s.flush();
      return n;
    },
    () => s.close(),
    8,
  );
  Deno.addSignalListener("SIGTERM", () => {
    console.log(`STATS ${JSON.stringify(loop.stats)}`);
    void loop.close();
  });
  const gcS = Number(Deno.env.get("INLINE_ECHO_GC_S") ?? 0);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gcS > 0 && gc) setInterval(() => gc(), gcS * 1000);
  console.log(`PORT ${s.local.port}`);
  await loop.run();
}

async function main(): Promise<void> {
  const rest = Deno.args[0] === "--rest"
    ? { seconds: Number(Deno.args[1]), rounds: Number(Deno.args[2]) }
    : null;
  const count = rest ? 0 : Number(Deno.args[0] ?? 300);
  const gaps = !rest && Deno.args.length > 1 ? Deno.args.slice(1).map(Number) : [1, 10, 200];
  const extra = (Deno.env.get("INLINE_ECHO_DENO_ARGS") ?? "").split(" ").filter((a) => a);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...extra, "-A", "--quiet", new URL(import.meta.url).pathname, "--server"],
    stdout: "piped",
    env: Deno.env.toObject(),
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/PORT (\d+)/.test(out)) {
    const r = await reader.read();
    if (r.done) throw new Error("server ended");
    out += r.value;
  }
  const port = Number(/PORT (\d+)/.exec(out)![1]);
  // Keep reading (--trace-flush-code and the like write a lot): a full pipe would stop the server.
  const drained = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      out += r.value;
    }
  })();
  const c = openUdp({ bind: "127.0.0.1:0" });
  const pfd = new Arena(8);
  pfd.view.setInt32(0, c.fd, true);
  pfd.view.setInt16(4, C.POLLIN, true);
  const to = { ip: c.local.ip, port };
  const p = new Uint8Array(64);
  const once = (): number => {
    const t0 = performance.now();
    c.send(p, to);
    let got = 0;
    while (got === 0 && performance.now() - t0 < 1000) {
      libc.poll(pfd.ptr, size(1), 1000);
      got = c.recv();
    }
    return got === 0 ? NaN : (performance.now() - t0) * 1000;
  };
  try {
    if (rest !== null) {
      for (let i = 0; i < 20_000; i++) once();
      for (let r = 0; r < rest.rounds; r++) {
        await new Promise((res) => setTimeout(res, rest.seconds * 1000));
        const t: number[] = [];
        for (let i = 0; i < 5; i++) {
          t.push(once());
          libc.poll(null, size(0), 10);
        }
        console.log(
          `after ${rest.seconds * (r + 1)} s at rest: ${t.map((x) => x.toFixed(0)).join(" ")} µs`,
        );
      }
      return;
    }
    for (const gap of gaps) {
      const t: number[] = [];
      let lost = 0;
      for (let i = 0; i < count + 10; i++) {
        libc.poll(null, size(0), gap);
        const t0 = performance.now();
        c.send(p, to);
        let got = 0;
        while (got === 0 && performance.now() - t0 < 1000) {
          libc.poll(pfd.ptr, size(1), 1000);
          got = c.recv();
        }
        if (got === 0) lost++;
        else if (i >= 10) t.push((performance.now() - t0) * 1000);
      }
      t.sort((a, b) => a - b);
      const q = (x: number) => t[Math.min(t.length - 1, Math.floor(x * t.length))].toFixed(0);
      console.log(
        `${String(gap).padStart(4)} ms apart: min ${q(0)} p50 ${q(0.5)} p90 ${q(0.9)} ` +
          `max ${t[t.length - 1].toFixed(0)} µs (${t.length} round trips${
            lost ? `, ${lost} lost` : ""
          })`,
      );
    }
  } finally {
    c.close();
    child.kill("SIGTERM");
    await child.status;
    await drained;
    const m = /STATS (.*)/.exec(out);
    if (m) console.log(`server loop: ${m[1]}`);
    const flushed = out.split("\n").filter((l) => l.toLowerCase().includes("flush")).length;
    if (flushed > 0) console.log(`server output lines about flushing: ${flushed}`);
  }
}

if (Deno.args[0] === "--server") await server();
else await main();
