/**
 * The memory-safety rules under a hostile garbage collector: a child process
 * runs with `--expose-gc --stress-compaction`, forces a full, compacting GC
 * between every send and receive, and sends from small (on-V8-heap, movable)
 * typed arrays through every path: `send` (zero-copy sendto), `send` with a
 * source (copied into the arena, sendmsg), `queue`/`flush` (sendmmsg),
 * `queueView` of a lent Arena (sent from where it lies at the flush), raw
 * IP, and the threaded poll of `IoLoop`. Every byte must arrive intact and
 * the process must not crash.
 */
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { Arena } from "../../ffi/libc.ts";
import { IoLoop } from "../../ffi/loop.ts";
import { openRawIp } from "../../ffi/raw.ts";
import { openUdp } from "../../ffi/udp.ts";
import { requireRoot, run } from "../lab/netns.ts";

const ROUNDS = 60;

function gc(): void {
  (globalThis as unknown as { gc(): void }).gc();
}

function small(seq: number): Uint8Array {
  // Up to 64 bytes: V8 keeps such typed arrays on its heap and may move them.
  const p = new Uint8Array(8 + (seq % 48));
  for (let i = 0; i < p.length; i++) p[i] = (seq * 13 + i) & 0xff;
  return p;
}

async function child(): Promise<string> {
  const rx = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 20 });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  const raw = openRawIp({ protocol: 253 }); // RFC 3692 experimentation number
  let seen = 0, bad = 0;
  const check = (buf: Uint8Array, off: number, len: number) => {
    // The first byte alone does not identify a payload, so the length and
    // the whole pattern are checked against every payload sent.
    for (let s = 0; s < ROUNDS * 5; s++) {
      const want = small(s);
      if (want.length !== len) continue;
      let ok = true;
      for (let i = 0; i < len && ok; i++) ok = buf[off + i] === want[i];
      if (ok) return true;
    }
    return false;
  };
  const loop = new IoLoop();
  loop.add(rx.fd, () => {
    gc();
    const n = rx.recv();
    gc();
    for (let i = 0; i < n; i++) {
      if (check(rx.rx.bufs[i], 0, rx.rx.lens[i])) seen++;
      else bad++;
    }
    return n;
  }, () => rx.close());
  const done = loop.run();
  const lent = new Arena(4096);
  tx.lend(lent);
  let rawSeen = 0;
  for (let r = 0; r < ROUNDS; r++) {
    tx.send(small(r * 5), rx.local);
    gc();
    tx.send(small(r * 5 + 1), rx.local, rx.local.ip);
    gc();
    tx.queue(small(r * 5 + 2), rx.local);
    gc();
    tx.queue(small(r * 5 + 3), rx.local, rx.local.ip);
    gc();
    const p = small(r * 5 + 4);
    const view = lent.u8.subarray(64 * (r % 32), 64 * (r % 32) + p.length);
    view.set(p);
    tx.queueView(view, rx.local);
    gc();
    tx.flush();
    gc();
    raw.send(small(r), { ip: rx.local.ip, port: 0 }, rx.local.ip);
    gc();
    for (let guard = 0; guard < 100; guard++) {
      const n = raw.recv();
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        if (check(raw.rx.bufs[i], raw.rx.offsets[i], raw.rx.lens[i] - raw.rx.offsets[i])) rawSeen++;
        else bad++;
      }
    }
    await new Promise((res) => setTimeout(res, 1));
  }
  const end = performance.now() + 5000;
  while (seen + bad < ROUNDS * 5 && performance.now() < end) {
    await new Promise((res) => setTimeout(res, 5));
  }
  for (let guard = 0; guard < 100 && rawSeen < ROUNDS; guard++) {
    const n = raw.recv();
    for (let i = 0; i < n; i++) {
      if (check(raw.rx.bufs[i], raw.rx.offsets[i], raw.rx.lens[i] - raw.rx.offsets[i])) rawSeen++;
      else bad++;
    }
    if (n === 0) await new Promise((res) => setTimeout(res, 5));
  }
  await loop.close();
  await done;
  tx.close();
  raw.close();
  return `SEEN ${seen} RAW ${rawSeen} BAD ${bad}`;
}

if (Deno.env.get("L2T_GC_CHILD") === "1") console.log(await child());

Deno.test("ffi memory rules hold under a compacting GC forced between every call", async () => {
  requireRoot();
  const res = await run([
    Deno.execPath(),
    "run",
    "-A",
    "--v8-flags=--expose-gc,--stress-compaction",
    import.meta.filename!,
  ], { timeoutMs: 60_000, env: { L2T_GC_CHILD: "1" } });
  assertStringIncludes(res.stdout, "SEEN");
  const m = /SEEN (\d+) RAW (\d+) BAD (\d+)/.exec(res.stdout)!;
  assertEquals([Number(m[1]), Number(m[2]), Number(m[3])], [ROUNDS * 5, ROUNDS, 0]);
});
