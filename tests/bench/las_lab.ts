/**
 * LAS throughput lab (a benchmark, not a test): a LAS and two `l2 xconnect`
 * edges on one VC in namespaces; iperf3 UDP between the edges' TAP
 * addresses at 64-byte and 1400-byte payloads. Prints, per size, what
 * iperf3 got through, the frames/s the LAS switched (from its /metrics) and
 * the CPU each daemon used. Run as root: `deno task bench:las`.
 *
 * Every run is bounded: DURATION seconds per size, and the lab is removed
 * in `finally`.
 *
 * @module
 */
import { Lab } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";

const DURATION = Number(Deno.env.get("BENCH_SECONDS") ?? "5");

function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (100 Hz)
}

async function lasFrames(las: string): Promise<number> {
  const r = await runL2(["status", "--api", "127.0.0.1:7757", "--json"], {
    wrap: ["ip", "netns", "exec", las],
  });
  const st = JSON.parse(r.stdout);
  return st.sessions.reduce((n: number, s: { rx_frames: number }) => n + s.rx_frames, 0);
}

const lab = await Lab.create("lasbench");
const daemons: Daemon[] = [];
try {
  const core = await lab.netns("core");
  const las = await lab.netns("las");
  const e1 = await lab.netns("e1");
  const e2 = await lab.netns("e2");
  const members: string[] = [];
  for (const [i, ns] of [las, e1, e2].entries()) {
    await lab.veth(ns, "up0", core, `p${i}`);
    await lab.addr(ns, "up0", `10.78.0.${i + 1}/24`);
    members.push(`p${i}`);
  }
  await lab.bridge(core, "br0", members);
  const wrap = (ns: string) => ["ip", "netns", "exec", ns];
  const lasd = new Daemon(MAIN, ["las", "--api", "127.0.0.1:7757"], {}, wrap(las));
  daemons.push(lasd);
  await lasd.waitLine(/listening for L2TPv3/);
  const x1 = new Daemon(MAIN, ["xconnect", "10.78.0.1", "7", "--tap", "x0"], {}, wrap(e1));
  const x2 = new Daemon(MAIN, ["xconnect", "10.78.0.1", "7", "--tap", "x0"], {}, wrap(e2));
  daemons.push(x1, x2);
  await x1.waitLine(/session \d+ on VC 7 is up/, 15_000);
  await x2.waitLine(/session \d+ on VC 7 is up/, 15_000);
  await lab.addr(e1, "x0", "192.168.78.1/24");
  await lab.addr(e2, "x0", "192.168.78.2/24");
  await lab.exec(e1, ["ping", "-c", "2", "-W", "2", "192.168.78.2"]);
  const server = lab.spawn(e2, ["iperf3", "-s", "-B", "192.168.78.2"]);
  await new Promise((r) => setTimeout(r, 500));

  console.log(`l2 las: iperf3 UDP between two xconnect edges on one VC, ${DURATION} s per size`);
  console.log(
    "payload  sent pps  received pps  loss   LAS frames/s  CPU las  CPU edge1  CPU edge2",
  );
  for (const len of [64, 1400]) {
    const f0 = await lasFrames(las);
    const c0 = [lasd, x1, x2].map((d) => cpuSeconds(d.pid));
    const t0 = performance.now();
    const r = await lab.exec(e1, [
      "iperf3",
      "-c",
      "192.168.78.2",
      "-u",
      "-b",
      "0",
      "-l",
      String(len),
      "-t",
      String(DURATION),
      "--json",
    ], { timeoutMs: (DURATION + 15) * 1000 });
    const secs = (performance.now() - t0) / 1000;
    const c1 = [lasd, x1, x2].map((d) => cpuSeconds(d.pid));
    const f1 = await lasFrames(las);
    const j = JSON.parse(r.stdout);
    const sum = j.end.sum;
    const sentPps = (sum.packets ?? 0) / sum.seconds;
    const lostPct = sum.lost_percent ?? 0;
    const recvPps = sentPps * (1 - lostPct / 100);
    const cpu = c1.map((v, i) => `${Math.round((v - c0[i]) / secs * 100)}%`);
    console.log(
      `${String(len).padStart(7)}  ${Math.round(sentPps).toString().padStart(8)}  ${
        Math.round(recvPps).toString().padStart(12)
      }  ${lostPct.toFixed(1).padStart(4)}%  ${
        Math.round((f1 - f0) / secs).toString().padStart(12)
      }  ${cpu[0].padStart(7)}  ${cpu[1].padStart(9)}  ${cpu[2].padStart(9)}`,
    );
  }
  await server.stop();
} finally {
  for (const d of daemons) await d.close();
  await lab.close();
}
