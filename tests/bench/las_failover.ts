/**
 * LAS failover times (a benchmark, not a test; issue 18): two `l2 xconnect`
 * edges on one VC under a 50-ms ping train (`ping -D -i 0.05`), in
 * namespaces. Two scenarios, each repeated `BENCH_KILLS` times (default 3):
 *
 * - restart: the LAS SIGKILLed and started again 3 s later; prints the time
 *   from the restart (the new process started) to the first ping reply, and
 *   from the kill;
 * - backup: both edges with `--backup` to a second LAS (`--backup-delay 2`);
 *   the first LAS SIGKILLed; the time from the kill to the first reply
 *   (through the second), then the first LAS restarted and the edges back.
 *
 * Prints each time and the median and worst per scenario (`BENCH_SCENARIOS`:
 * `restart,backup`, the default, or one of them). Run as root:
 * `deno task bench:las:failover`. Bounded: every wait has a limit, the lab
 * is removed in `finally`.
 *
 * @module
 */
import { Lab, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";

const KILLS = Number(Deno.env.get("BENCH_KILLS") ?? "3");
const wrap = (ns: string) => ["ip", "netns", "exec", ns];

/** Reply times (unix s) from `ping -D` output. */
function replies(out: string): number[] {
  return [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((m) => Number(m[1]));
}

async function edgeStatus(ns: string) {
  const r = await runL2(["status", "--api", "127.0.0.1:7758", "--json"], { wrap: wrap(ns) });
  return JSON.parse(r.stdout);
}

function summary(name: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return `${name}: median ${Math.round(median)} ms, worst ${Math.round(s.at(-1) ?? NaN)} ms ` +
    `(${s.map(Math.round).join(", ")})`;
}

async function scenario(kind: "restart" | "backup"): Promise<{ a: number[]; b: number[] }> {
  const lab = await Lab.create("lasfob");
  const daemons: Daemon[] = [];
  const fromRestart: number[] = [];
  const fromKill: number[] = [];
  try {
    const core = await lab.netns("core");
    const las = [await lab.netns("las1"), await lab.netns("las2")];
    const e = [await lab.netns("e1"), await lab.netns("e2")];
    const members: string[] = [];
    for (const [i, ns] of [...las, ...e].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.79.0.${i + 1}/24`);
      members.push(`p${i}`);
    }
    await lab.bridge(core, "br0", members);
    const startLas = async (ns: string) => {
      const d = new Daemon(MAIN, ["las", "--api", "127.0.0.1:7757"], {}, wrap(ns));
      daemons.push(d);
      await d.waitLine(/listening for L2TPv3/);
      return d;
    };
    const l = [await startLas(las[0]), kind === "backup" ? await startLas(las[1]) : null];
    const extra = kind === "backup" ? ["--backup", "10.79.0.2", "--backup-delay", "2"] : [];
    for (const ns of e) {
      const d = new Daemon(
        MAIN,
        ["xconnect", "10.79.0.1", "100", "--tap", "x0", "--api", "127.0.0.1:7758", ...extra],
        {},
        wrap(ns),
      );
      daemons.push(d);
      await d.waitLine(/session \d+ on VC 100 is up/, 30_000);
    }
    for (const [i, ns] of e.entries()) await lab.addr(ns, "x0", `192.168.79.${i + 1}/24`);
    const ping1 = async () =>
      (await lab.exec(e[0], ["ping", "-c", "1", "-W", "1", "192.168.79.2"], {
        allowFail: true,
        timeoutMs: 5000,
      })).code === 0;
    await waitFor(ping1, 30_000, "the first ping");
    for (let k = 0; k < KILLS; k++) {
      const train = lab.spawn(e[0], [
        "ping",
        "-D",
        "-i",
        "0.05",
        "-W",
        "1",
        "-w",
        "70",
        "192.168.79.2",
      ]);
      await new Promise((r) => setTimeout(r, 2000));
      const killedAt = Date.now() / 1000;
      l[0]!.kill("SIGKILL");
      await l[0]!.exited(10_000);
      let restartedAt = NaN;
      if (kind === "restart") {
        await new Promise((r) => setTimeout(r, 3000 - (Date.now() / 1000 - killedAt) * 1000));
        restartedAt = Date.now() / 1000;
        l[0] = await startLas(las[0]);
      }
      // Until the edges are back (restart) or on the backup, bounded.
      await waitFor(ping1, 60_000, "pings back", 100);
      await new Promise((r) => setTimeout(r, 500));
      const out = (await train.stop(1000)).stdout;
      const back = replies(out).find((t) => t > killedAt + 0.2);
      if (back === undefined) throw new Error(`no reply after the kill:\n${out.slice(-2000)}`);
      fromKill.push((back - killedAt) * 1000);
      if (kind === "restart") fromRestart.push((back - restartedAt) * 1000);
      else {
        // Back to the primary before the next kill.
        l[0] = await startLas(las[0]);
        await waitFor(
          async () => {
            const s = await Promise.all(e.map(edgeStatus));
            return s.every((st) => st.active === "primary");
          },
          60_000,
          "the edges back on the primary",
          200,
        );
      }
      console.log(
        `${kind} ${k + 1}: first reply ${Math.round(fromKill.at(-1)!)} ms after the kill` +
          (kind === "restart" ? `, ${Math.round(fromRestart.at(-1)!)} ms after the restart` : ""),
      );
    }
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
  }
  return { a: fromRestart, b: fromKill };
}

// BENCH_SCENARIOS: "restart,backup" (default), or one of them.
const which = (Deno.env.get("BENCH_SCENARIOS") ?? "restart,backup").split(",");
if (which.includes("restart")) {
  const r = await scenario("restart");
  console.log(summary("restart 3 s after SIGKILL, from the restart", r.a));
  console.log(summary("restart 3 s after SIGKILL, from the kill", r.b));
}
if (which.includes("backup")) {
  const b = await scenario("backup");
  console.log(summary("backup LAS, from the primary's SIGKILL", b.b));
}
