/**
 * `l2 demo`: a whole network on this machine, in network namespaces, with
 * the real daemons, narrated step by step.
 *
 * ```
 *   l2demo-sn  l2demo-n1 ── l2demo-leaf   l2demo-n2   l2demo-las  l2demo-e1  l2demo-e2
 *   10.88.0.1  10.88.0.11                 10.88.0.12  10.88.0.21  10.88.0.31 10.88.0.32
 *       \__________\_____________________________\_________\__________\_________/
 *                          l2demo-ul: bridge (the "underlay")
 *   VPN overlay: 10.99.0.0/24 and fd99::/64   LAS VC 100: 192.168.100.0/24 and fd64:100::/64
 *   hosts l2demo-h1 and l2demo-h2 bridged behind the edges' TAPs (pw100)
 * ```
 *
 * Everything it makes is named `l2demo-*`; daemon logs and the generated
 * config are in /run/l2demo. It cleans up on exit and on Ctrl-C; `--keep`
 * leaves the lab running and `l2 demo down` removes it. Every run starts
 * clean: what an earlier run left (namespaces, daemons, /run/l2demo) is
 * removed first, and it says so.
 *
 * It needs only iproute2 (`ip`), a POSIX shell and the kernel's TUN, veth and
 * bridge drivers: the pings are l2's own ICMP/ICMPv6 echo from raw sockets
 * opened inside the namespaces (`netns_ping.ts`), not iputils-ping. The
 * daemons run as `ip netns exec NS <this l2> ...` with `L2_DEMO_LAB=1` in
 * their environment, which is how a later run finds them even when their
 * namespace is gone.
 *
 * @module
 */
import { argument, command, constant, object, option, optional } from "@optique/core";
import { choice } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { EXIT_OK, EXIT_RUNTIME } from "./kit/exit.ts";
import { examples } from "./kit/cli.ts";
import { findOnPath, selfArgv } from "./kit/runtime.ts";
import { toBase64, writeNewKeyFile } from "./keygen.ts";
import { formatPing, pingFromNetns } from "./netns_ping.ts";

/** Where the demo keeps its logs and config. */
export const RUN_DIR = "/run/l2demo";
const P = "l2demo";
const NS = {
  ul: `${P}-ul`,
  sn: `${P}-sn`,
  n1: `${P}-n1`,
  n2: `${P}-n2`,
  leaf: `${P}-leaf`,
  las: `${P}-las`,
  e1: `${P}-e1`,
  e2: `${P}-e2`,
  h1: `${P}-h1`,
  h2: `${P}-h2`,
};

/** `l2 demo` command line. */
export const demoCommand = command(
  "demo",
  object({
    cmd: constant("demo" as const),
    action: optional(argument(choice(["down"] as const, { metavar: "down" }), {
      description: message`remove a demo lab left running with --keep`,
    })),
    keep: option("--keep", { description: message`leave the lab running at the end` }),
    only: optional(option("--only", choice(["vpn", "las"] as const), {
      description: message`run only the VPN or only the access switch part`,
    })),
  }),
  {
    brief: message`A whole l2 network on this machine in seconds (root): VPN and access switch`,
    footer: examples([
      ["build the lab, show it working, remove it", "l2 demo"],
      ["only the VPN part, and leave it running to look around", "l2 demo --only vpn --keep"],
      ["remove a lab left running", "l2 demo down"],
    ]),
  },
);

/** Parsed `l2 demo` arguments. */
export interface DemoArgs {
  cmd: "demo";
  action?: "down";
  keep?: boolean;
  only?: "vpn" | "las";
}

class StepFailed extends Error {}
class Interrupted extends Error {}

async function sh(
  argv: string[],
  allowFail = false,
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  const err = new TextDecoder().decode(r.stderr);
  if (r.code !== 0 && !allowFail) {
    throw new StepFailed(`${argv.join(" ")} failed: ${err.trim() || out.trim()}`);
  }
  return { code: r.code, out, err };
}

/** The environment variable that marks the demo's daemons. */
const MARK = "L2_DEMO_LAB=1";
/** The pid file of a demo in progress. */
const PID_FILE = `${RUN_DIR}/demo.pid`;

/** The tools the demo runs, with the Debian package of each. */
const TOOLS: [string, string][] = [["ip", "iproute2"], ["sh", "dash"]];

/**
 * What the demo needs and this machine lacks, one line each with the Debian
 * package to install; empty when all is there.
 */
export function missingForDemo(path = Deno.env.get("PATH") ?? ""): string[] {
  const out: string[] = [];
  for (const [tool, pkg] of TOOLS) {
    if (!findOnPath(tool, path)) out.push(`\`${tool}\` is not on PATH: apt-get install ${pkg}`);
  }
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    out.push("/dev/net/tun is missing: the kernel's TUN/TAP driver (modprobe tun)");
  }
  return out;
}

function q(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Existing demo namespaces. */
async function demoNamespaces(): Promise<string[]> {
  const r = await sh(["ip", "netns", "list"], true);
  return r.out.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter((n) =>
    n?.startsWith(`${P}-`)
  );
}

/** Processes whose environment carries the demo's mark (its daemons), not this one. */
function markedPids(): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid) || pid <= 1 || pid === Deno.pid) continue;
    try {
      const env = new TextDecoder().decode(Deno.readFileSync(`/proc/${pid}/environ`));
      if (env.split("\0").includes(MARK)) out.push(pid);
    } catch { /* gone, or a kernel thread */ }
  }
  return out;
}

/** The demo's processes: its daemons (marked) and anything else inside its namespaces. */
async function demoPids(): Promise<number[]> {
  const pids = new Set(markedPids());
  for (const ns of await demoNamespaces()) {
    const r = await sh(["ip", "netns", "pids", ns], true);
    for (const p of r.out.split("\n").map(Number)) if (p > 1 && p !== Deno.pid) pids.add(p);
  }
  return [...pids];
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** The pid of another `l2 demo` still in progress (its pid file names a live demo), or null. */
function demoInProgress(): number | null {
  let pid: number;
  try {
    pid = Number(Deno.readTextFileSync(PID_FILE).trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1 || pid === Deno.pid || !alive(pid)) return null;
  try {
    const cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    return cmd.includes("demo") ? pid : null;
  } catch {
    return null;
  }
}

/** What `demoDown` removed. */
export interface Removed {
  namespaces: string[];
  processes: number;
  runDir: boolean;
}

/**
 * Stops every demo process (SIGTERM, so daemons stop cleanly: StopCCN,
 * deregistration; SIGKILL for what is left after 5 s), removes the demo
 * namespaces, and the run directory unless `keepLogs`.
 */
export async function demoDown(keepLogs = false): Promise<Removed> {
  const pids = await demoPids();
  for (const p of pids) {
    try {
      Deno.kill(p, "SIGTERM");
    } catch { /* gone */ }
  }
  const end = performance.now() + 5000;
  while (pids.some(alive) && performance.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const p of [...pids.filter(alive), ...await demoPids()]) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch { /* gone */ }
  }
  const namespaces: string[] = [];
  for (const ns of await demoNamespaces()) {
    await sh(["ip", "netns", "del", ns], true);
    namespaces.push(ns);
  }
  let runDir = false;
  if (!keepLogs) {
    runDir = await Deno.remove(RUN_DIR, { recursive: true }).then(() => true, () => false);
  }
  return { namespaces, processes: pids.length, runDir };
}

/** "10 namespaces, 5 processes, /run/l2demo", or "" when nothing was removed. */
function describeRemoved(r: Removed): string {
  const parts: string[] = [];
  if (r.namespaces.length) {
    parts.push(`${r.namespaces.length} namespace${r.namespaces.length === 1 ? "" : "s"}`);
  }
  if (r.processes) parts.push(`${r.processes} process${r.processes === 1 ? "" : "es"}`);
  if (r.runDir) parts.push(RUN_DIR);
  return parts.join(", ");
}

/** Runs the demo or removes it; returns the exit code. */
export async function runDemo(args: DemoArgs): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error(
      "l2 demo: needs root: it creates network namespaces, TAP devices and raw sockets. " +
        "Run it as root (or with sudo).",
    );
    return EXIT_RUNTIME;
  }
  const other = demoInProgress();
  if (other !== null) {
    console.error(`l2 demo: another l2 demo is in progress (pid ${other}); one at a time`);
    return EXIT_RUNTIME;
  }
  if (args.action === "down") {
    const what = describeRemoved(await demoDown());
    console.log(what ? `removed the demo lab: ${what}` : "no demo lab was running");
    return EXIT_OK;
  }
  const missing = missingForDemo();
  if (missing.length) {
    console.error(`l2 demo: cannot run on this machine yet:\n  ${missing.join("\n  ")}`);
    return EXIT_RUNTIME;
  }
  const left = describeRemoved(await demoDown());
  if (left) console.log(`removed what an earlier demo left: ${left}\n`);
  await Deno.mkdir(RUN_DIR, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(PID_FILE, `${Deno.pid}\n`);
  const demo = new Demo(args.keep ?? false);
  const onInt = () => demo.interrupt();
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onInt);
  let code = EXIT_OK;
  let failed = false;
  try {
    if (args.only !== "las") await demo.vpn();
    if (args.only !== "vpn") await demo.las();
    demo.lookAround(args.only);
  } catch (e) {
    code = EXIT_RUNTIME;
    if (e instanceof Interrupted) console.log("\ninterrupted: cleaning up");
    else {
      failed = true;
      if (!(e instanceof StepFailed)) console.log(`\nthe demo failed: ${(e as Error).message}`);
      console.log(`daemon logs: ${RUN_DIR}/*.log (kept; \`l2 demo down\` removes them)`);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onInt);
    await Deno.remove(PID_FILE).catch(() => {});
    if (!demo.keep || code !== EXIT_OK) {
      const t0 = performance.now();
      await demoDown(failed);
      console.log(`cleaned up the lab (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } else {
      console.log("\nthe lab is still running; `l2 demo down` removes it");
    }
  }
  return code;
}

/** The demo's `node.nI` config section. */
function nodeSection(i: number, supernodeKey: string): string {
  return `  n${i}:
    supernode: 10.88.0.1
    supernode_key: ${supernodeKey}
    key: ${RUN_DIR}/n${i}.key
    tap: l2tap0
    address: [10.99.0.${i}/24, "fd99::${i}/64"]
    state_dir: ${RUN_DIR}/n${i}
`;
}

class Demo {
  #n = 0;
  #interrupted = false;
  #l2 = selfArgv();
  #started = false;

  constructor(readonly keep: boolean) {}

  interrupt(): void {
    this.#interrupted = true;
  }

  async #step<T>(title: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> {
    if (this.#interrupted) throw new Interrupted();
    const n = ++this.#n;
    const t0 = performance.now();
    const head = `[${String(n).padStart(2)}] ${title}`;
    const isTty = Deno.stdout.isTerminal();
    if (isTty) await Deno.stdout.write(new TextEncoder().encode(`${head} ...`));
    try {
      const v = await fn();
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      const d = detail ? detail(v) : "";
      const line = `${head}: ok (${secs} s)`;
      console.log(
        `${isTty ? "\r" : ""}${line}${d ? `\n     ${d.split("\n").join("\n     ")}` : ""}`,
      );
      return v;
    } catch (e) {
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(
        `${isTty ? "\r" : ""}${head}: FAILED after ${secs} s\n     ${(e as Error).message}`,
      );
      if (e instanceof Interrupted || this.#interrupted) throw new Interrupted();
      throw new StepFailed((e as Error).message);
    }
  }

  async #until<T>(what: string, timeoutMs: number, fn: () => Promise<T | null>): Promise<T> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      if (this.#interrupted) throw new Interrupted();
      const v = await fn();
      if (v !== null) return v;
      if (performance.now() > end) {
        throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async #underlay(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await Deno.mkdir(RUN_DIR, { recursive: true, mode: 0o700 });
    await sh(["ip", "netns", "add", NS.ul]);
    await sh(["ip", "-n", NS.ul, "link", "add", "br0", "type", "bridge"]);
    await sh(["ip", "-n", NS.ul, "link", "set", "br0", "up"]);
  }

  async #host(ns: string, addr: string): Promise<void> {
    await sh(["ip", "netns", "add", ns]);
    await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    const port = `p-${ns.slice(P.length + 1)}`;
    await sh([
      "ip",
      "link",
      "add",
      "eth0",
      "netns",
      ns,
      "type",
      "veth",
      "peer",
      "name",
      port,
      "netns",
      NS.ul,
    ]);
    await sh(["ip", "-n", NS.ul, "link", "set", port, "master", "br0", "up"]);
    await sh(["ip", "-n", ns, "addr", "add", addr, "dev", "eth0"]);
    await sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
  }

  /** Starts `l2 ARGS` in `ns` in the background, output to RUN_DIR/NAME.log. */
  async #daemon(ns: string, name: string, args: string[]): Promise<void> {
    const log = `${RUN_DIR}/${name}.log`;
    const cmd = ["ip", "netns", "exec", ns, ...this.#l2, ...args].map(q).join(" ");
    const child = new Deno.Command("sh", {
      args: ["-c", `exec ${cmd} >${q(log)} 2>&1 </dev/null`],
      env: { L2_DEMO_LAB: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
    await this.#until(`${name} to start`, 15_000, async () => {
      const text = await Deno.readTextFile(log).catch(() => "");
      if (/ started /.test(text)) return true;
      if (/ error /.test(text) || text.includes("l2 ")) {
        const bad = text.split("\n").find((l) => / error /.test(l) || l.startsWith("l2 "));
        if (bad) throw new Error(`${name}: ${bad}`);
      }
      return null;
    });
  }

  // deno-lint-ignore no-explicit-any
  async #status(ns: string, port: number): Promise<any> {
    const r = await sh([
      "ip",
      "netns",
      "exec",
      ns,
      ...this.#l2,
      "status",
      "--api",
      `127.0.0.1:${port}`,
      "--json",
    ], true);
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.out);
    } catch {
      return null;
    }
  }

  /**
   * `count` pings from `ns` to `addr` (l2's own echo: no iputils-ping needed); throws when none
   * is answered. A lost echo among several (a busy machine) shows in the line, as with ping.
   */
  async #ping(ns: string, addr: string, count: number, timeoutMs = 2000): Promise<string> {
    const r = await pingFromNetns(ns, addr, { count, intervalMs: 200, timeoutMs });
    const line = formatPing(addr, r);
    if (r.received === 0) throw new Error(`from ${ns}: ${line}`);
    return line;
  }

  async vpn(): Promise<void> {
    console.log('The VPN: a supernode, two nodes, and a host ("leaf") bridged behind node 1\n');
    await this.#step(
      "Build the lab: namespaces on one underlay bridge",
      async () => {
        await this.#underlay();
        await this.#host(NS.sn, "10.88.0.1/24");
        await this.#host(NS.n1, "10.88.0.11/24");
        await this.#host(NS.n2, "10.88.0.12/24");
        await sh(["ip", "netns", "add", NS.leaf]);
        await sh(["ip", "-n", NS.leaf, "link", "set", "lo", "up"]);
      },
      () =>
        `${NS.sn} 10.88.0.1, ${NS.n1} 10.88.0.11, ${NS.n2} 10.88.0.12, ${NS.leaf} behind ${NS.n1}`,
    );
    const cfg = `${RUN_DIR}/l2.yaml`;
    const keys = await this.#step("Create keys for the supernode and each node (l2 keygen)", () => {
      const [sn, n1, n2] = ["supernode", "n1", "n2"].map((k) =>
        toBase64(writeNewKeyFile(`${RUN_DIR}/${k}.key`, true))
      );
      return Promise.resolve({ sn, n1, n2 });
    }, (k) =>
      `supernode ${k.sn}\nnode 1    ${k.n1}\nnode 2    ${k.n2}\n` +
      "the supernode admits only these node keys; the nodes pin the supernode's key");
    await Deno.writeTextFile(
      cfg,
      `# Generated by l2 demo
log: { level: info }
supernode:
  demo:
    key: ${RUN_DIR}/supernode.key
    state_dir: ${RUN_DIR}/sn
    members: [${keys.n1}, ${keys.n2}]
node:
${
        [1, 2].map((i) =>
          nodeSection(i, keys.sn)
        ).join("")
      }`,
    );
    await this.#step(
      "Start the supernode (UDP 7654)",
      () =>
        this.#daemon(NS.sn, "supernode", [
          "supernode",
          "--section",
          "demo",
          "--config",
          cfg,
          "--listen",
          "0.0.0.0:7654",
        ]),
      () => `log: ${RUN_DIR}/supernode.log`,
    );
    await this.#step("Start node 1 and node 2", async () => {
      await this.#daemon(NS.n1, "node1", ["node", "--section", "n1", "--config", cfg]);
      await this.#daemon(NS.n2, "node2", ["node", "--section", "n2", "--config", cfg]);
    }, () => `config: ${cfg} (sections supernode.demo, node.n1, node.n2)`);
    const ids = await this.#step(
      "Nodes register with the supernode",
      () =>
        this.#until("registration", 15_000, async () => {
          const a = await this.#status(NS.n1, 7656), b = await this.#status(NS.n2, 7656);
          return a?.id && b?.id && a.state === "registered" && b.state === "registered"
            ? [a.id, b.id]
            : null;
        }),
      (v) => `node 1 got id ${v[0]}, node 2 got id ${v[1]} (auto, kept across restarts)`,
    );
    void ids;
    await this.#step("Bridge the leaf host behind node 1", async () => {
      await sh([
        "ip",
        "link",
        "add",
        "eth0",
        "netns",
        NS.leaf,
        "type",
        "veth",
        "peer",
        "name",
        "leaf0",
        "netns",
        NS.n1,
      ]);
      await sh(["ip", "-n", NS.n1, "link", "add", "br0", "type", "bridge"]);
      await sh(["ip", "-n", NS.n1, "link", "set", "leaf0", "master", "br0", "up"]);
      await sh(["ip", "-n", NS.n1, "link", "set", "l2tap0", "master", "br0"]);
      await sh(["ip", "-n", NS.n1, "link", "set", "br0", "up"]);
      await sh(["ip", "-n", NS.leaf, "link", "set", "eth0", "mtu", "1382", "up"]);
      await sh(["ip", "-n", NS.leaf, "addr", "add", "10.99.0.11/24", "dev", "eth0"]);
      await sh(["ip", "-n", NS.leaf, "addr", "add", "fd99::11/64", "dev", "eth0", "nodad"]);
    }, () => "leaf 10.99.0.11, fd99::11 (its MAC is translated when it leaves node 1)");
    const c0 = (await this.#status(NS.n1, 7656))?.counters?.tx_broadcast_copies ?? 0;
    await this.#step(
      "First ping leaf -> node 2: the ARP broadcast goes to every other node as its own " +
        "end-to-end sealed copy (relayed by the supernode, which cannot read it)",
      () => this.#ping(NS.leaf, "10.99.0.2", 1),
      (d) => `${d} (this first round trip includes ARP and the relay through the supernode)`,
    );
    const n1 = await this.#status(NS.n1, 7656);
    const sn1 = await this.#status(NS.sn, 7655);
    console.log(
      `     node 1: broadcast copies sent ${c0} -> ${
        n1?.counters?.tx_broadcast_copies ?? "?"
      }; supernode: relayed frames ${sn1?.relayed_frames ?? "?"}`,
    );
    await this.#step(
      "Node 1 and node 2 punch a direct path",
      () =>
        this.#until("a direct path", 20_000, async () => {
          await pingFromNetns(NS.leaf, "10.99.0.2", { count: 1, timeoutMs: 1000 });
          const s = await this.#status(NS.n1, 7656);
          const p = s?.peers?.find((x: { path: string }) => x.path === "direct");
          return p ?? null;
        }),
      (p) =>
        `node ${p.node} at ${p.endpoint}, path ${p.path}, RTT ${p.rtt_ms ?? "?"} ms, ` +
        `encrypted end to end: ${p.cipher ?? "not yet"}`,
    );
    await this.#step("Ping over IPv4 and IPv6, leaf <-> node 2", async () => {
      const a = await this.#ping(NS.leaf, "10.99.0.2", 5);
      const b = await this.#ping(NS.leaf, "fd99::2", 5);
      const c = await this.#ping(NS.n2, "10.99.0.11", 3);
      return [a, b, c].join("\n");
    }, (v) => v);
    await this.#step("The MAT table of node 1", async () => {
      const s = await this.#status(NS.n1, 7656);
      const rows = (s?.mat?.leaves ?? []) as { leaf: number; mac: string; mat: string }[];
      if (rows.length < 2) throw new Error("the leaf is not in node 1's MAT table");
      return rows.map((r) =>
        `leaf ${r.leaf}: ${r.mac} is ${r.mat} on the VPN${
          r.leaf === 0 ? " (node 1's own TAP)" : ""
        }`
      ).join("\n");
    }, (v) => v);
    console.log("");
  }

  async las(): Promise<void> {
    console.log("The access switch: l2 las and two l2 xconnect edges on VC 100\n");
    await this.#step("Build the lab: LAS and two edges on the underlay", async () => {
      await this.#underlay();
      await this.#host(NS.las, "10.88.0.21/24");
      await this.#host(NS.e1, "10.88.0.31/24");
      await this.#host(NS.e2, "10.88.0.32/24");
    }, () => `${NS.las} 10.88.0.21, ${NS.e1} 10.88.0.31, ${NS.e2} 10.88.0.32`);
    await this.#step(
      "Start l2 las (IP protocol 115)",
      () => this.#daemon(NS.las, "las", ["las"]),
      () => `log: ${RUN_DIR}/las.log`,
    );
    await this.#step("Start l2 xconnect 10.88.0.21 100 on both edges", async () => {
      await this.#daemon(NS.e1, "edge1", ["xconnect", "10.88.0.21", "100", "--tap", "pw100"]);
      await this.#daemon(NS.e2, "edge2", ["xconnect", "10.88.0.21", "100", "--tap", "pw100"]);
    });
    await this.#step(
      "Control connections and sessions come up",
      () =>
        this.#until("two sessions", 15_000, async () => {
          const s = await this.#status(NS.las, 7657);
          return s?.sessions?.length === 2 ? s : null;
        }),
      (s) =>
        s.connections.map((c: { peer: string; dialect: string; state: string }) =>
          `${c.peer}: ${c.state} (${c.dialect} dialect)`
        ).join("\n"),
    );
    await this.#step("Bridge a host behind each edge", async () => {
      for (const [edge, host, i] of [[NS.e1, NS.h1, 1], [NS.e2, NS.h2, 2]] as const) {
        await sh(["ip", "netns", "add", host]);
        await sh(["ip", "-n", host, "link", "set", "lo", "up"]);
        await sh([
          "ip",
          "link",
          "add",
          "eth0",
          "netns",
          host,
          "type",
          "veth",
          "peer",
          "name",
          "host0",
          "netns",
          edge,
        ]);
        await sh(["ip", "-n", edge, "link", "add", "br0", "type", "bridge"]);
        await sh(["ip", "-n", edge, "link", "set", "host0", "master", "br0", "up"]);
        await sh(["ip", "-n", edge, "link", "set", "pw100", "master", "br0"]);
        await sh(["ip", "-n", edge, "link", "set", "br0", "up"]);
        await sh(["ip", "-n", host, "link", "set", "eth0", "mtu", "1454", "up"]);
        await sh(["ip", "-n", host, "addr", "add", `192.168.100.${i}/24`, "dev", "eth0"]);
        await sh(["ip", "-n", host, "addr", "add", `fd64:100::${i}/64`, "dev", "eth0", "nodad"]);
      }
    }, () => `${NS.h1} 192.168.100.1 behind ${NS.e1}, ${NS.h2} 192.168.100.2 behind ${NS.e2}`);
    await this.#step("The hosts ping each other across the LAS", async () => {
      return [
        await this.#ping(NS.h1, "192.168.100.2", 5),
        await this.#ping(NS.h1, "fd64:100::2", 5),
      ].join("\n");
    }, (v) => v);
    await this.#step("The virtual switch of VC 100", async () => {
      const s = await this.#status(NS.las, 7657);
      const sw = s.switches.find((x: { vc: string }) => x.vc === "100");
      const macs = (s.mac_table as { vc: string; mac: string; peer: string; age_s: number }[])
        .filter((m) => m.vc === "100").map((m) => `${m.mac} behind ${m.peer}, ${m.age_s} s ago`);
      return `${sw.ports} ports, ${sw.macs} MACs, ${sw.rx_frames} frames in, ${sw.unicast_frames} unicast, ${sw.flooded_frames} flooded\n` +
        macs.join("\n");
    }, (v) => v);
    console.log("");
  }

  lookAround(only?: "vpn" | "las"): void {
    const ping = findOnPath("ping") !== null;
    const lines: [string, string][] = [];
    if (only !== "las") {
      lines.push([`ip netns exec ${NS.n1} l2 status`, "node 1: peers, paths, MAT table"]);
      lines.push([`ip netns exec ${NS.sn} l2 status`, "supernode: nodes, relay counters"]);
      if (ping) lines.push([`ip netns exec ${NS.leaf} ping fd99::2`, "the leaf, over the VPN"]);
    }
    if (only !== "vpn") {
      lines.push([`ip netns exec ${NS.las} l2 status`, "LAS: sessions, switches, MAC table"]);
      if (ping) {
        lines.push([`ip netns exec ${NS.h1} ping 192.168.100.2`, "host to host across the LAS"]);
      }
    }
    lines.push([`tail ${RUN_DIR}/*.log`, "what the daemons said"]);
    lines.push(["l2 demo down", "remove a lab left with --keep"]);
    const w = Math.max(...lines.map(([c]) => c.length));
    console.log(
      this.keep
        ? "Look around:"
        : "Look around (run `l2 demo --keep` for that: this run removes the lab now):",
    );
    for (const [c, what] of lines) console.log(`  ${c.padEnd(w)}  # ${what}`);
    if (findOnPath("l2") === null) {
      console.log(
        "`l2` is not a command here yet: `npx -y deno@2.9.6 task install` (in the clone, as root)" +
          " installs it (README, Install)",
      );
    }
    if (!ping) {
      console.log(
        "(`apt-get update && apt-get install iputils-ping` to ping from the namespaces yourself)",
      );
    }
  }
}
