/**
 * VPN lab benchmark (`deno task bench:vpn`, root): two nodes and a supernode,
 * each in its own namespace on one underlay bridge (veth, MTU 1500), and
 * the same measurements over
 *
 * - the raw underlay (no tunnel),
 * - the kernel's VXLAN between the two node namespaces (no encryption),
 * - `l2` (`l2 supernode` + two `l2 node`, sessions in AES-256-GCM), over the
 *   direct path, then through the supernode (direct UDP between the nodes blocked),
 * - with `L2_BASELINE_REV=<git revision>`, the same two rows for the daemons
 *   of that revision (`git archive` into a temporary directory), with keys
 *   as today's; with `L2_BASELINE_PLAIN=1` as well, a revision before the
 *   security layer (e.g. e56c7a9), for the unencrypted baseline of the same
 *   run (l2 itself has no way to switch encryption off),
 * - n2n v1 (`edge`/`supernode` of Debian's n2n 1.3.x, Twofish encryption
 *   always on) when installed,
 *
 * iperf3 TCP and UDP for `SECONDS` seconds each, and ping RTT (20 pings,
 * 50 ms apart), printed as one table. Every step is bounded in time; the
 * namespaces are removed at the end.
 *
 * `L2_BENCH_RTT=1`: round trips only (no iperf3, no relay row): 200 pings
 * 10 ms apart per path, reported as min / avg / p50 / p90 / max in ms; a
 * minute for the whole lab. `L2_BENCH_PINGS=N` and `L2_BENCH_PING_GAP=S`
 * (seconds) change the ping count and spacing. `L2_BENCH_HOLD_S=N`: once
 * l2's direct path is measured, print the daemons' pids and keep them
 * running N seconds (for `strace -p`, `perf` by hand).
 *
 * Round trips in three states, because a JIT-compiled daemon's round trip
 * depends on how hot its code is: `min / p50 / p90 / max` is the first ping
 * run right after the path is up (as a daemon sees its first traffic);
 * "p50 hot" is a second run after `L2_BENCH_WARM_PINGS` flood pings (default
 * 5000; in the full table after the iperf3 runs instead), the steady state
 * of a running VPN; "p50 under TCP" is pings 20 ms apart while iperf3 TCP
 * fills the same direction (full table only): queueing in a busy tunnel.
 * Every path gets the same treatment, so kernel and n2n rows show what the
 * warm-up and the load do without a JIT.
 *
 * The l2 rows run the nodes as configured by default (`offload: true`: TAP
 * checksum and TCP segmentation offloads, UDP GSO and GRO).
 * `L2_BENCH_OFFLOAD=0`: with `offload: false` instead; `=both`: the l2 rows
 * twice in the same lab, without and then with offloads. `L2_BENCH_L2_ONLY=1`: only l2's direct
 * path (no underlay, VXLAN, relay or n2n rows), for repeated runs.
 * `L2_BENCH_RELAY_ONLY=1`: only l2's relay row (the direct path is set up
 * but not measured; no underlay, VXLAN or n2n rows), for repeated runs.
 *
 * Numbers are for this machine and this lab only (veth pairs in one kernel,
 * CPU-bound): compare the rows, not the absolute values.
 *
 * @module
 */
import { Lab, type LabProcess, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";
import { startVpnPair } from "../lab/vpn_pair.ts";

const SECONDS = 3;
/** Latency-only mode (see the module doc). */
const RTT_ONLY = Deno.env.get("L2_BENCH_RTT") === "1";
const PINGS = Number(Deno.env.get("L2_BENCH_PINGS") ?? (RTT_ONLY ? "200" : "20"));
const PING_GAP = Deno.env.get("L2_BENCH_PING_GAP") ?? (RTT_ONLY ? "0.01" : "0.05");
const HOLD_S = Number(Deno.env.get("L2_BENCH_HOLD_S") ?? "0");
const OFFLOAD = Deno.env.get("L2_BENCH_OFFLOAD") ?? "1";
const RELAY_ONLY = Deno.env.get("L2_BENCH_RELAY_ONLY") === "1";
/** Only l2 rows: `L2_BENCH_L2_ONLY=1` (direct path) or `L2_BENCH_RELAY_ONLY=1` (relay). */
const L2_ONLY = Deno.env.get("L2_BENCH_L2_ONLY") === "1" || RELAY_ONLY;
/** Flood pings before the "hot" ping run in RTT mode. */
const WARM_PINGS = Number(Deno.env.get("L2_BENCH_WARM_PINGS") ?? "5000");
const SN = "10.88.0.1";
const API = 7755;

interface Row {
  name: string;
  tcp: string;
  udp: string;
  loss: string;
  rtt: string;
  /** min / p50 / p90 / max in ms, right after the path came up. */
  spread: string;
  /** p50 ms after a warm-up (flood pings, or the iperf3 runs). */
  hot: string;
  /** p50 ms of pings 20 ms apart under iperf3 TCP in the same direction. */
  loaded: string;
  note: string;
}

/** A row with nothing measured, only a note (a path that could not run). */
function emptyRow(name: string, note: string): Row {
  return {
    name,
    tcp: "-",
    udp: "-",
    loss: "-",
    rtt: "-",
    spread: "-",
    hot: "-",
    loaded: "-",
    note,
  };
}

const wrap = (ns: string) => ["ip", "netns", "exec", ns];

async function has(cmd: string): Promise<boolean> {
  const r = await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
    .output();
  return r.success;
}

/** A one-shot iperf3 server on `addr:port` in `ns`, listening when this resolves. */
async function iperfServer(lab: Lab, ns: string, addr: string, port: number) {
  const srv = lab.spawn(ns, ["iperf3", "-s", "-1", "-B", addr, "-p", String(port)]);
  try {
    await waitFor(
      async () =>
        (await lab.exec(ns, ["ss", "-ltn", `sport = :${port}`])).stdout.includes(`${port}`),
      5000,
      `iperf3 server on port ${port}`,
      50,
    );
  } catch (e) {
    await srv.stop(1000);
    throw e;
  }
  return srv;
}

async function iperf(lab: Lab, server: string, client: string, addr: string, udp: boolean) {
  const srv = await iperfServer(lab, server, addr, 5201);
  try {
    const args = ["iperf3", "-c", addr, "-p", "5201", "-t", String(SECONDS), "-J"];
    if (udp) args.push("-u", "-b", "0", "-l", "1200");
    const r = await lab.exec(client, args, { allowFail: true, timeoutMs: (SECONDS + 15) * 1000 });
    const j = JSON.parse(r.stdout || "{}");
    if (j.error) return { mbps: NaN, loss: NaN, error: String(j.error) };
    if (udp) {
      const s = j.end?.sum ?? {};
      // Received rate: what made it through (sent minus lost).
      const mbps = (s.bits_per_second ?? NaN) * (1 - (s.lost_percent ?? 0) / 100) / 1e6;
      return { mbps, loss: s.lost_percent ?? NaN, error: "" };
    }
    return { mbps: (j.end?.sum_received?.bits_per_second ?? NaN) / 1e6, loss: NaN, error: "" };
  } finally {
    await srv.stop(1000);
  }
}

/** Round trips of one ping run, ms, sorted. */
async function rtt(lab: Lab, ns: string, addr: string): Promise<number[]> {
  const r = await lab.exec(ns, ["ping", "-c", String(PINGS), "-i", PING_GAP, "-W", "2", addr], {
    allowFail: true,
    timeoutMs: 10_000 + 2 * PINGS * Number(PING_GAP) * 1000,
  });
  return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

/** `count` flood pings (`ping -f`), to make a JIT-compiled path hot; bounded in time. */
async function flood(lab: Lab, ns: string, addr: string, count: number): Promise<void> {
  if (count <= 0) return;
  await lab.exec(ns, ["ping", "-f", "-q", "-c", String(count), "-W", "1", addr], {
    allowFail: true,
    timeoutMs: 10_000 + count * 2,
  });
}

/** Round trips (ms, sorted) of pings 20 ms apart from `a` while `a` sends iperf3 TCP to `b`. */
async function rttUnderLoad(lab: Lab, a: string, b: string, addr: string): Promise<number[]> {
  const srv = await iperfServer(lab, b, addr, 5202);
  try {
    const load = lab.exec(a, ["iperf3", "-c", addr, "-p", "5202", "-t", String(SECONDS + 1)], {
      allowFail: true,
      timeoutMs: (SECONDS + 16) * 1000,
    });
    await new Promise((r) => setTimeout(r, 700));
    const count = Math.max(10, Math.floor((SECONDS - 0.5) / 0.02));
    const r = await lab.exec(a, ["ping", "-c", String(count), "-i", "0.02", "-W", "2", addr], {
      allowFail: true,
      timeoutMs: 10_000 + count * 40,
    });
    await load;
    return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]))
      .sort((x, y) => x - y);
  } finally {
    await srv.stop(1000);
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function measure(lab: Lab, name: string, a: string, b: string, addrB: string, note = "") {
  await waitFor(
    async () =>
      (await lab.exec(a, ["ping", "-c", "1", "-W", "1", addrB], { allowFail: true })).code === 0,
    20_000,
    `${name}: ${addrB} reachable`,
    200,
  );
  const times = await rtt(lab, a, addrB); // idle RTT, before any load
  const avg = times.length ? times.reduce((x, y) => x + y, 0) / times.length : NaN;
  const f = (x: number, d = 0) => Number.isNaN(x) ? "-" : x.toFixed(d);
  const spread = [0, 0.5, 0.9, 1].map((q) => f(quantile(times, q), 3)).join(" / ");
  const lost = PINGS - times.length;
  const notes = [note, lost ? `${lost} of ${PINGS} pings lost` : ""];
  if (RTT_ONLY) {
    await flood(lab, a, addrB, WARM_PINGS);
    const hot = await rtt(lab, a, addrB);
    return {
      name,
      tcp: "-",
      udp: "-",
      loss: "-",
      rtt: f(avg, 3),
      spread,
      hot: f(quantile(hot, 0.5), 3),
      loaded: "-",
      note: notes.filter(Boolean).join("; "),
    };
  }
  const tcp = await iperf(lab, b, a, addrB, false);
  const udp = await iperf(lab, b, a, addrB, true);
  const loaded = await rttUnderLoad(lab, a, b, addrB);
  const hot = await rtt(lab, a, addrB);
  return {
    name,
    tcp: f(tcp.mbps),
    udp: f(udp.mbps),
    loss: f(udp.loss, 1),
    rtt: f(avg, 3),
    spread,
    hot: f(quantile(hot, 0.5), 3),
    loaded: f(quantile(loaded, 0.5), 3),
    note: [...notes, tcp.error, udp.error].filter(Boolean).join("; "),
  };
}

function table(rows: Row[]): string {
  const head = [
    "path",
    "TCP Mbit/s",
    "UDP Mbit/s (rx)",
    "UDP loss %",
    "ping avg ms",
    "min / p50 / p90 / max ms",
    "p50 hot",
    "p50 under TCP",
    "note",
  ];
  const cells = rows.map((r) => [
    r.name,
    r.tcp,
    r.udp,
    r.loss,
    r.rtt,
    r.spread,
    r.hot,
    r.loaded,
    r.note,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => "| " + c.map((x, i) => x.padEnd(w[i])).join(" | ") + " |";
  return [line(head), line(w.map((n) => "-".repeat(n))), ...cells.map(line)].join("\n");
}

/**
 * `git archive REV` of this repository into `dir` (read-only on the
 * repository); returns the path of its main.ts. For the baseline rows: the
 * daemons of a revision before the security layer, i.e. without encryption.
 */
async function extractRevision(rev: string, dir: string): Promise<string> {
  const root = new URL("../../", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const r = await new Deno.Command("sh", {
    args: ["-c", `git -C '${root}' archive '${rev}' | tar -x -C '${dir}'`],
    stderr: "piped",
  }).output();
  if (!r.success) {
    throw new Error(`Cannot extract revision ${rev}: ${new TextDecoder().decode(r.stderr)}`);
  }
  return `${dir}/main.ts`;
}

const statusOf = async (ns: string) =>
  JSON.parse(
    (await runL2(["status", "--api", `127.0.0.1:${API}`, "--json"], { wrap: wrap(ns) })).stdout ||
      "{}",
  );

/**
 * `l2 supernode` and two `l2 node` from `main` (this tree, or an extracted
 * revision); rows for the direct path and the relay. `secure`: the daemons
 * have the security layer (keys in `dir`, AES-256-GCM); else a revision
 * without it (no keys, no encryption).
 */
async function l2Rows(
  lab: Lab,
  ns: { sn: string; n1: string; n2: string },
  dir: string,
  main: string,
  label: string,
  secure: boolean,
  offload = false,
): Promise<Row[]> {
  const { sn, n1, n2 } = ns;
  const daemons: Daemon[] = [];
  const rows: Row[] = [];
  const cipher = secure ? "AES-256-GCM" : "no encryption";
  try {
    await startVpnPair(lab, {
      main,
      dir,
      sn,
      nodes: [n1, n2],
      snAddr: SN,
      api: API,
      daemons,
      secure,
      // Say it either way: offload is a node's default (a baseline revision gets nothing).
      offload: secure ? offload : undefined,
      label,
    });
    if (secure) {
      const p = (await statusOf(n1)).peers?.[0];
      if (p?.cipher !== "aes-256-gcm") throw new Error(`not encrypted: ${JSON.stringify(p)}`);
    }
    const snBefore = (await statusOf(sn)).relayed_frames;
    const row = RELAY_ONLY ? null : await measure(
      lab,
      `${label} (direct path)`,
      n1,
      n2,
      "10.99.0.12",
      `MTU 1382, ${cipher}${offload ? ", TAP offloads" : ""}`,
    );
    if (row && offload) {
      const c = (await statusOf(n1)).counters ?? {};
      const g = (await statusOf(n2)).coalesce ?? {};
      row.note += `; n1 TSO reads ${c.tap_rx_gso_frames} -> ${c.tap_rx_gso_segments} frames` +
        `; n2 joined ${g.segments} segments into ${g.super_frames} GSO writes` +
        ` (${g.single} single, ${g.csum_bad} bad checksums)`;
      const c2 = (await statusOf(n2)).counters ?? {};
      if (c2.rx_gro_messages !== undefined) {
        row.note +=
          `; n2 took ${c2.rx_gro_datagrams} datagrams in ${c2.rx_gro_messages} GRO receives`;
      }
    }
    if (row) {
      row.note += `; relayed during the run: ${(await statusOf(sn)).relayed_frames - snBefore}`;
      rows.push(row);
    }
    if (HOLD_S > 0) {
      console.log(
        `${label}: supernode pid ${daemons[0].pid}, nodes ${daemons[1].pid} (${n1}, ` +
          `10.99.0.11) and ${daemons[2].pid} (${n2}, 10.99.0.12); holding ${HOLD_S} s`,
      );
      await new Promise((r) => setTimeout(r, HOLD_S * 1000));
    }
    if (RTT_ONLY || (L2_ONLY && !RELAY_ONLY)) {
      for (const d of daemons) d.kill("SIGTERM");
      for (const d of daemons) await d.exited(5000);
      return rows;
    }

    // The relay: n1 drops UDP to and from n2's underlay address, so the direct path dies
    // (3 unanswered probes) and punching fails; frames go through the supernode.
    await lab.exec(n1, [
      "nft",
      "add table ip l2b; add chain ip l2b out { type filter hook output priority 0; }; " +
      "add rule ip l2b out ip daddr 10.88.0.12 udp dport != 5201 drop; " +
      "add chain ip l2b in { type filter hook input priority 0; }; " +
      "add rule ip l2b in ip saddr 10.88.0.12 udp sport != 5201 drop",
    ]);
    try {
      await waitFor(
        async () => {
          await lab.exec(n1, ["ping", "-c", "1", "-W", "1", "10.99.0.12"], { allowFail: true });
          return (await statusOf(n1)).peers?.[0]?.path === "relay";
        },
        30_000,
        `${label} relay path`,
        250,
      );
      const sc0 = (await statusOf(sn)).counters ?? {};
      const relay = await measure(
        lab,
        `${label} (relay via supernode)`,
        n1,
        n2,
        "10.99.0.12",
        `direct UDP blocked, ${cipher}${offload ? ", TAP offloads" : ""}`,
      );
      const sc = (await statusOf(sn)).counters ?? {};
      const d = (k: string) => (sc[k] ?? 0) - (sc0[k] ?? 0);
      if (sc.rx_gro_messages !== undefined) {
        relay.note += `; supernode: ${d("rx_datagrams")} datagrams in, ` +
          `${d("rx_gro_datagrams")} of them in ${d("rx_gro_messages")} GRO receives, ` +
          `${d("tx_gso_datagrams")} out in ${d("tx_gso_messages")} GSO sends`;
      }
      rows.push(relay);
    } finally {
      await lab.exec(n1, ["nft", "delete table ip l2b"]);
    }
    for (const d of daemons) d.kill("SIGTERM");
    for (const d of daemons) await d.exited(5000);
  } finally {
    for (const d of daemons) await d.close();
  }
  return rows;
}

async function main() {
  const lab = await Lab.create("vpnbench");
  const daemons: Daemon[] = [];
  const procs: LabProcess[] = [];
  const dir = await Deno.makeTempDir();
  const rows: Row[] = [];
  try {
    const core = await lab.netns("core");
    const sn = await lab.netns("sn");
    const n1 = await lab.netns("n1");
    const n2 = await lab.netns("n2");
    for (const [i, ns] of [sn, n1, n2].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", i === 0 ? `${SN}/24` : `10.88.0.1${i}/24`);
    }
    await lab.bridge(core, "br0", ["p0", "p1", "p2"]);

    if (!L2_ONLY) {
      rows.push(await measure(lab, "underlay (veth, no tunnel)", n1, n2, "10.88.0.12"));
    }

    for (
      const [ns, local, remote, ip] of [
        [n1, "10.88.0.11", "10.88.0.12", "10.77.0.1/24"],
        [n2, "10.88.0.12", "10.88.0.11", "10.77.0.2/24"],
      ]
    ) {
      if (L2_ONLY) break;
      await lab.ip(
        ns,
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        "42",
        "local",
        local,
        "remote",
        remote,
        "dstport",
        "4789",
        "dev",
        "up0",
      );
      await lab.ip(ns, "link", "set", "vx0", "mtu", "1450", "up");
      await lab.addr(ns, "vx0", ip);
    }
    if (!L2_ONLY) {
      rows.push(
        await measure(lab, "kernel VXLAN", n1, n2, "10.77.0.2", "MTU 1450, no encryption"),
      );
    }

    if (OFFLOAD !== "1") {
      rows.push(
        ...await l2Rows(lab, { sn, n1, n2 }, `${dir}/cur`, MAIN, "l2 without offloads", true),
      );
    }
    if (OFFLOAD === "1" || OFFLOAD === "both") {
      rows.push(
        ...await l2Rows(lab, { sn, n1, n2 }, `${dir}/off`, MAIN, "l2", true, true),
      );
    }
    const base = Deno.env.get("L2_BASELINE_REV");
    if (base) {
      const main = await extractRevision(base, `${dir}/base`);
      rows.push(
        // A baseline from before issue 6 has no security layer: L2_BASELINE_PLAIN=1.
        ...await l2Rows(
          lab,
          { sn, n1, n2 },
          `${dir}/base`,
          main,
          `l2 ${base}`,
          Deno.env.get("L2_BASELINE_PLAIN") !== "1",
          OFFLOAD !== "0", // as the l2 row above, so the two compare
        ),
      );
    }

    if (L2_ONLY) {
      // l2 rows only.
    } else if (await has("edge") && await has("supernode")) {
      procs.push(lab.spawn(sn, ["supernode", "-l", "7777"]));
      for (const [i, ns] of [n1, n2].entries()) {
        procs.push(lab.spawn(ns, [
          "edge",
          "-d",
          "n2n0",
          "-a",
          `10.66.0.${i + 1}`,
          "-s",
          "255.255.255.0",
          "-c",
          "l2bench",
          "-k",
          "benchkey",
          "-l",
          `${SN}:7777`,
        ]));
      }
      try {
        rows.push(
          await measure(lab, "n2n v1 edge (Debian)", n1, n2, "10.66.0.2", "Twofish, MTU 1400"),
        );
      } catch (e) {
        rows.push(emptyRow("n2n v1 edge (Debian)", (e as Error).message));
      }
    } else {
      rows.push(emptyRow("n2n v1", "not installed"));
    }
  } finally {
    for (const d of daemons) await d.close();
    for (const p of procs) await p.stop(1000);
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
  const what = RTT_ONLY
    ? `${PINGS} pings ${PING_GAP} s apart per path`
    : `iperf3 ${SECONDS} s each way, one stream`;
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  console.log(`\nVPN lab, ${what}, ${new Date().toISOString()}, load ${load}\n`);
  console.log(table(rows));
}

if (import.meta.main) await main();
