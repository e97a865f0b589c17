/**
 * TAP-to-UDP forwarding between namespaces: frames the kernel of namespace A
 * sends into a TAP are read by this process (`IoLoop`, batched `read()`),
 * each carried as one UDP datagram (`queue`/`flush` = sendmmsg) over a veth
 * to a sink in namespace B that counts them.
 *
 *   deno run -A tests/bench/tap_udp_forward_bench.ts [packets]
 *
 *   ns A: blaster --UDP--> l2tap0 ==[this process]==> UDP 10.92.0.1 --veth--> ns B: sink
 *
 * The blaster sends `packets` 64-byte UDP datagrams as fast as it can; what
 * the TAP queue cannot hold is dropped by the kernel (counted as TAP tx
 * drops). Prints frames forwarded per second as the sink saw them. Needs
 * root; every step is bounded and the lab is removed in `finally`.
 *
 * @module
 */
import { parseIp } from "../../core/addr.ts";
import { Arena, C, libc, size } from "../../ffi/libc.ts";
import { IoLoop } from "../../ffi/loop.ts";
import { inNetns } from "../../ffi/netns.ts";
import { openTap } from "../../ffi/tap.ts";
import { openUdp } from "../../ffi/udp.ts";
import { Lab } from "../lab/netns.ts";

function ip(text: string) {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** Counts datagrams on :5555 until 1 s without any after the first (60 s at most). */
function sink(): void {
  const s = openUdp({ bind: "0.0.0.0:5555", rcvbuf: 8 << 20, batch: 64 });
  const pfd = new Arena(64);
  pfd.view.setInt32(0, s.fd, true);
  pfd.view.setInt16(4, C.POLLIN, true);
  console.log("READY");
  let count = 0, first = 0, last = 0;
  const end = performance.now() + 60_000;
  for (;;) {
    const now = performance.now();
    if (now > end || (count > 0 && now - last > 1000)) break;
    libc.poll(pfd.ptr, size(1), 100);
    for (let guard = 0; guard < 64; guard++) {
      const n = s.recv();
      if (n === 0) break;
      if (count === 0) first = performance.now();
      count += n;
      last = performance.now();
    }
  }
  s.close();
  console.log(`COUNT ${count} SECS ${((last - first) / 1000).toFixed(3)}`);
}

/** Sends `total` datagrams to 10.91.0.2:9 (through the TAP) in sendmmsg batches. */
function blast(total: number): void {
  const s = openUdp({ bind: "10.91.0.1:0", sndbuf: 8 << 20, batch: 64 });
  const to = { ip: ip("10.91.0.2"), port: 9 };
  const p = new Uint8Array(64);
  for (let i = 0; i < total; i++) s.queue(p, to);
  s.flush();
  s.close();
  console.log(`SENT ${total}`);
}

async function main(total: number): Promise<void> {
  const lab = await Lab.create("fwd");
  let loop: IoLoop | null = null;
  try {
    const a = await lab.netns("a");
    const b = await lab.netns("b");
    const tap = inNetns(a, () => openTap({ name: "l2tap0", batch: 64 }));
    await lab.addr(a, "l2tap0", "10.91.0.1/24");
    await lab.ip(a, "neigh", "add", "10.91.0.2", "lladdr", "02:00:00:00:00:02", "dev", "l2tap0");
    await lab.veth(a, "eth1", b, "eth0");
    await lab.addr(a, "eth1", "10.92.0.1/24");
    await lab.addr(b, "eth0", "10.92.0.2/24");
    const out = inNetns(a, () => openUdp({ bind: "10.92.0.1:0", sndbuf: 8 << 20, batch: 64 }));
    const sinkEp = { ip: ip("10.92.0.2"), port: 5555 };
    // Prime the neighbour entry so the counted run does not wait on ARP (the
    // sink is not listening yet, so this datagram is not counted).
    out.send(new Uint8Array(1), sinkEp);
    let frames = 0;
    const l = new IoLoop();
    loop = l;
    l.add(tap.fd, () => {
      const n = tap.read();
      for (let i = 0; i < n; i++) out.queue(tap.rx.bufs[i].subarray(0, tap.rx.lens[i]), sinkEp);
      out.flush();
      frames += n;
      return n;
    }, () => tap.close());
    l.add(out.fd, () => out.recv(), () => out.close());
    const running = l.run();

    const self = import.meta.filename!;
    const sinkProc = lab.spawn(b, [Deno.execPath(), "run", "-A", self, "--sink"]);
    await sinkProc.waitOutput(/READY/, 10_000);
    const blaster = await lab.exec(a, [
      Deno.execPath(),
      "run",
      "-A",
      self,
      "--blast",
      String(total),
    ], {
      timeoutMs: 60_000,
    });
    if (!blaster.stdout.includes("SENT")) throw new Error(`blaster failed: ${blaster.stderr}`);
    await sinkProc.waitOutput(/COUNT \d+ SECS [\d.]+/, 70_000);
    const sinkOut = (await sinkProc.stop()).stdout;
    const m = /COUNT (\d+) SECS ([\d.]+)/.exec(sinkOut);
    if (!m) throw new Error(`sink gave no count: ${sinkOut}`);
    const count = Number(m[1]), secs = Number(m[2]);
    const stats = JSON.parse((await lab.ip(a, "-s", "-j", "link", "show", "l2tap0")).stdout)[0];
    console.log(`TAP -> UDP forwarding between namespaces, 64-byte UDP payloads (106-byte frames)`);
    console.log(
      `sent ${total}, TAP tx drops ${
        stats.stats64?.tx?.dropped ?? "?"
      }, read from TAP ${frames}, ` +
        `arrived ${count} in ${secs.toFixed(2)} s: ` +
        `${Math.round(count / secs).toLocaleString("en")} frames/s forwarded`,
    );
    await l.close();
    await running;
    loop = null;
  } finally {
    await loop?.close();
    await lab.close();
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--sink") sink();
  else if (Deno.args[0] === "--blast") blast(Number(Deno.args[1]));
  else await main(Number(Deno.args[0] ?? 200_000));
}
