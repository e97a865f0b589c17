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
 * leaves the lab running and `l2 demo down` removes it.
 *
 * @module
 */
import { argument, command, constant, object, option, optional } from "@optique/core";
import { choice } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { EXIT_OK, EXIT_RUNTIME } from "./kit/exit.ts";
import { toBase64, writeNewKeyFile } from "./keygen.ts";
import { V8_FLAGS_ARG } from "./v8_flags.ts";

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

/** The command that runs this same l2 (the binary, or deno with the main module). */
function l2Argv(): string[] {
  const exe = Deno.execPath();
  const base = exe.split("/").pop() ?? "";
  if (!base.startsWith("deno")) return [exe];
  return [exe, "run", V8_FLAGS_ARG, "--allow-all", "--quiet", Deno.mainModule];
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

/** Sends `sig` to every process in the demo namespaces. */
async function signalAll(sig: Deno.Signal): Promise<void> {
  for (const ns of await demoNamespaces()) {
    const pids = await sh(["ip", "netns", "pids", ns], true);
    for (const p of pids.out.split("\n").map(Number).filter((n) => n > 1 && n !== Deno.pid)) {
      try {
        Deno.kill(p, sig);
      } catch { /* gone */ }
    }
  }
}

/**
 * Kills everything in the demo namespaces and removes them, and the run
 * directory unless `keepLogs`; returns what it removed.
 */
export async function demoDown(keepLogs = false): Promise<string[]> {
  // SIGTERM first, so daemons stop cleanly (StopCCN, deregistration); then insist.
  await signalAll("SIGTERM");
  await new Promise((r) => setTimeout(r, 600));
  await signalAll("SIGKILL");
  const gone: string[] = [];
  for (const ns of await demoNamespaces()) {
    await sh(["ip", "netns", "del", ns], true);
    gone.push(ns);
  }
  if (!keepLogs) await Deno.remove(RUN_DIR, { recursive: true }).catch(() => {});
  return gone;
}

/** Runs the demo or removes it; returns the exit code. */
export async function runDemo(args: DemoArgs): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error(
      "l2 demo: needs root: it creates network namespaces, TAP devices and raw sockets. " +
        "Run it as root (sudo).",
    );
    return EXIT_RUNTIME;
  }
  if (args.action === "down") {
    const gone = await demoDown();
    console.log(gone.length ? `removed ${gone.join(", ")}` : "no demo lab was running");
    return EXIT_OK;
  }
  if ((await demoNamespaces()).length > 0) {
    console.error("l2 demo: a demo lab is already running; `l2 demo down` removes it");
    return EXIT_RUNTIME;
  }
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
  #l2 = l2Argv();
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

  async #ping(ns: string, addr: string, count: number): Promise<string> {
    const v6 = addr.includes(":") ? ["-6"] : [];
    const r = await sh([
      "ip",
      "netns",
      "exec",
      ns,
      "ping",
      ...v6,
      "-c",
      String(count),
      "-i",
      "0.2",
      "-W",
      "2",
      addr,
    ], true);
    const m = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(r.out);
    const loss = /(\d+)% packet loss/.exec(r.out)?.[1] ?? "100";
    if (r.code !== 0) throw new Error(`ping ${addr} from ${ns}: ${loss}% loss`);
    return `${count} ping${count === 1 ? "" : "s"} to ${addr}: ${loss}% loss, average RTT ${
      m?.[1] ?? "?"
    } ms`;
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
          "demo",
          "--config",
          cfg,
          "--listen",
          "0.0.0.0:7654",
        ]),
      () => `log: ${RUN_DIR}/supernode.log`,
    );
    await this.#step("Start node 1 and node 2", async () => {
      await this.#daemon(NS.n1, "node1", ["node", "n1", "--config", cfg]);
      await this.#daemon(NS.n2, "node2", ["node", "n2", "--config", cfg]);
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
      (d) => {
        return `${d}`;
      },
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
          await sh(
            ["ip", "netns", "exec", NS.leaf, "ping", "-c", "1", "-W", "1", "10.99.0.2"],
            true,
          );
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
    const l2 = this.#l2.join(" ");
    const lines: [string, string][] = [];
    if (only !== "las") {
      lines.push([`ip netns exec ${NS.n1} l2 status`, "node 1: peers, paths, MAT table"]);
      lines.push([`ip netns exec ${NS.sn} l2 status`, "supernode: nodes, relay counters"]);
      lines.push([`ip netns exec ${NS.leaf} ping fd99::2`, "the leaf, over the VPN"]);
    }
    if (only !== "vpn") {
      lines.push([`ip netns exec ${NS.las} l2 status`, "LAS: sessions, switches, MAC table"]);
      lines.push([`ip netns exec ${NS.h1} ping 192.168.100.2`, "host to host across the LAS"]);
    }
    lines.push([`less ${RUN_DIR}/*.log`, "what the daemons said"]);
    lines.push(["l2 demo down", "remove a lab left with --keep"]);
    const w = Math.max(...lines.map(([c]) => c.length));
    console.log(`Look around${l2 === "l2" ? "" : ` (l2 here is: ${l2})`}:`);
    for (const [c, what] of lines) console.log(`  ${c.padEnd(w)}  # ${what}`);
  }
}
