/**
 * `l2 supernode` and `l2 node` as real daemons (issue 5), in namespaces this
 * test creates: a supernode and three nodes, each in its own namespace on
 * one underlay bridge, a leaf namespace bridged behind node 1.
 *
 * - pings (IPv4 and IPv6) between every pair of nodes and the leaf; the
 *   leaf's MAC translated (node 1's /status, the others' neighbour tables);
 *   once punched, a bulk exchange between two nodes is not relayed;
 * - garbage and truncated datagrams at the supernode and a node are counted
 *   and dropped while the others keep working;
 * - the supernode killed and restarted: direct traffic keeps flowing, also
 *   once the nodes noticed, nodes register again after its return (how soon,
 *   in virtual time, is tests/unit/vpn_conversation_test.ts's), broadcasts
 *   work again;
 * - SIGTERM: nodes deregister, the supernode tells its nodes it is going;
 * - NAT (masquerade: direct; fully-random on both sides: relay), DHCP through
 *   MAT, an IPv6 underlay.
 *
 * Liveness only: every wait is bounded generously and no assertion is about
 * speed or a loss percentage (a busy machine may drop or delay a ping); the
 * figures are in tests/bench/vpn_lab.ts.
 *
 * ```
 *   [sn 10.88.0.1]   [n1 10.88.0.11]  [n2 10.88.0.12]  [n3 10.88.0.13]
 *         \______________|________________|________________/
 *                       core: bridge br0
 *   overlay (TAP v0): 10.99.0.1N/24, fd99::1N/64
 * ```
 *
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { Lab, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2, runScript } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";

/** Management port of every daemon (each in its own namespace). */
const API_PORT = 7755;
/** Supernode UDP port. */
const SN_PORT = 7654;

/** `ip netns exec NS` prefix. */ function wrap(ns: string): string[] {
  return ["ip", "netns", "exec", ns];
}

/** `/status` of the daemon in `ns`, as JSON. */
// deno-lint-ignore no-explicit-any
async function status(ns: string): Promise<any> {
  const r = await runL2(["status", "--api", `127.0.0.1:${API_PORT}`, "--json"], {
    wrap: wrap(ns),
    timeoutMs: 15_000,
  });
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/**
 * Keys of a lab under `dir`: the supernode's key in `dir/sn`, one node key
 * in each `dir/nI` (I = 1..nodes), and the supernode's config `dir/sn.yaml`
 * listing every node key as a member. Returns the public keys (base64).
 */
async function labKeys(
  dir: string,
  nodes: number,
  extra = 0,
): Promise<{ sn: string; nodes: string[]; extra: string[] }> {
  const mk = async (d: string) => await Deno.mkdir(d, { recursive: true, mode: 0o700 });
  await mk(`${dir}/sn`);
  const sn = toBase64(writeNewKeyFile(`${dir}/sn/supernode.key`));
  const keys: string[] = [];
  for (let i = 1; i <= nodes; i++) {
    await mk(`${dir}/n${i}`);
    keys.push(toBase64(writeNewKeyFile(`${dir}/n${i}/node.key`)));
  }
  const more: string[] = [];
  for (let i = 1; i <= extra; i++) {
    await mk(`${dir}/m${i}`);
    more.push(toBase64(writeNewKeyFile(`${dir}/m${i}/node.key`)));
  }
  await writeSnConfig(dir, [...keys, ...more]);
  return { sn, nodes: keys, extra: more };
}

/** Writes the supernode's config `dir/sn.yaml` with these member keys (entries as YAML). */
async function writeSnConfig(dir: string, members: string[]): Promise<void> {
  await Deno.writeTextFile(
    `${dir}/sn.yaml`,
    `supernode:\n  default:\n    state_dir: ${dir}/sn\n    members:\n` +
      members.map((m) => `      - ${m}\n`).join(""),
  );
}

/** Starts `l2 supernode` in `ns` with `dir/sn.yaml`; waits until it listens. */
async function startSupernode(
  ns: string,
  dir: string,
  daemons: Daemon[],
  listen = `0.0.0.0:${SN_PORT}`,
): Promise<Daemon> {
  const d = new Daemon(
    MAIN,
    [
      "supernode",
      "--listen",
      listen,
      "--api",
      `127.0.0.1:${API_PORT}`,
      "--config",
      `${dir}/sn.yaml`,
    ],
    {},
    wrap(ns),
  );
  daemons.push(d);
  await d.waitLine(/listening on UDP/, 15_000);
  return d;
}

/** Starts `l2 node` in `ns` with TAP `v0`; waits until it registered (unless `wait` is false). */
async function startNode(
  ns: string,
  supernode: string,
  snKey: string,
  stateDir: string,
  addresses: string[],
  daemons: Daemon[],
  extra: string[] = [],
  wait = true,
  yaml = "",
): Promise<Daemon> {
  // `extra` may name another TAP and management port (a second node in the namespace).
  const args = [
    "node",
    "--supernode",
    supernode,
    ...(extra.includes("--tap") ? [] : ["--tap", "v0"]),
    ...(extra.includes("--api") ? [] : ["--api", `127.0.0.1:${API_PORT}`]),
    ...addresses.flatMap((a) => ["--address", a]),
    ...extra,
  ];
  const cfg = `${stateDir}.yaml`;
  await Deno.writeTextFile(
    cfg,
    `node:\n  default:\n    state_dir: ${stateDir}\n    supernode_key: "${snKey}"\n${yaml}`,
    { mode: 0o600 }, // `yaml` may hold the network secret
  );
  const d = new Daemon(MAIN, [...args, "--config", cfg], {}, wrap(ns));
  daemons.push(d);
  if (wait) await d.waitLine(/registered as node \d+/, 20_000);
  return d;
}

/** Replies counted in ping's summary ("N received"). */
function received(stdout: string): number {
  return Number(/(\d+) (?:packets )?received/.exec(stdout)?.[1] ?? 0);
}

/** Pings `addr` from `ns`; the result code (0: replies came). */
async function ping(
  lab: Lab,
  ns: string,
  addr: string,
  count = 2,
  interval = "0.2",
): Promise<{ code: number; stdout: string }> {
  const v6 = addr.includes(":") ? ["-6"] : [];
  return await lab.exec(ns, ["ping", ...v6, "-c", String(count), "-i", interval, "-W", "2", addr], {
    allowFail: true,
    timeoutMs: 20_000 + count * 100,
  });
}

/** Waits (bounded) until one ping from `ns` to `addr` is answered. */
async function waitPing(lab: Lab, ns: string, addr: string, timeoutMs = 20_000) {
  await waitFor(
    async () => (await ping(lab, ns, addr, 1)).code === 0,
    timeoutMs,
    `${ns} to reach ${addr}`,
    200,
  );
}

/** Peer entry of `node` in a node's status, if any. */
// deno-lint-ignore no-explicit-any
function peerOf(st: any, node: number): any {
  return st.peers.find((p: { node: number }) => p.node === node);
}

/** Waits (bounded) until the node in `ns` has a direct path to node id `peer`. */
async function waitDirect(ns: string, peer: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => peerOf(await status(ns), peer)?.path === "direct",
    timeoutMs,
    `a direct path from ${ns} to node ${peer}`,
    250,
  );
}

/** The lab: supernode, three nodes, a leaf behind node 1. */
interface VpnLab {
  lab: Lab;
  dir: string;
  daemons: Daemon[];
  sn: string;
  n: string[];
  leaf: string;
  snd: Daemon;
  nd: Daemon[];
  /** Node ids of n[0..2], from their status. */
  ids: number[];
  /** Public keys (base64): the supernode's, n[0..2]'s, and extra members' (`dir/mI`). */
  keys: { sn: string; nodes: string[]; extra: string[] };
}

const SN_ADDR = "10.88.0.1";

async function withLab(
  tag: string,
  fn: (v: VpnLab) => Promise<void>,
  opts: { extraMembers?: number; beforeNodes?: (lab: Lab, n: string[]) => Promise<void> } = {},
): Promise<void> {
  const lab = await Lab.create(tag);
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const core = await lab.netns("core");
    const sn = await lab.netns("sn");
    const n = [await lab.netns("n1"), await lab.netns("n2"), await lab.netns("n3")];
    const leaf = await lab.netns("leaf");
    const ports: string[] = [];
    for (const [i, ns] of [sn, ...n].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", i === 0 ? `${SN_ADDR}/24` : `10.88.0.1${i}/24`);
      ports.push(`p${i}`);
    }
    await lab.bridge(core, "br0", ports);
    const keys = await labKeys(dir, 3, opts.extraMembers ?? 0);
    await opts.beforeNodes?.(lab, n);
    const snd = await startSupernode(sn, dir, daemons);
    const nd: Daemon[] = [];
    for (const [i, ns] of n.entries()) {
      const addrs = i === 0 ? [] : [`10.99.0.1${i + 1}/24`, `fd99::1${i + 1}/64`];
      nd.push(
        await startNode(ns, `${SN_ADDR}:${SN_PORT}`, keys.sn, `${dir}/n${i + 1}`, addrs, daemons),
      );
    }
    // Node 1 bridges its TAP with the leaf namespace; its own address is on the bridge.
    await lab.veth(n[0], "lv0", leaf, "eth0");
    await lab.bridge(n[0], "brl", ["v0", "lv0"]);
    await lab.addr(n[0], "brl", "10.99.0.11/24");
    await lab.addr(n[0], "brl", "fd99::11/64");
    await lab.addr(leaf, "eth0", "10.99.0.100/24");
    await lab.addr(leaf, "eth0", "fd99::100/64");
    const ids: number[] = [];
    for (const ns of n) ids.push((await status(ns)).id);
    await fn({ lab, dir, daemons, sn, n, leaf, snd, nd, ids, keys });
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const HOSTS: [string, string, string][] = [
  // [name, IPv4, IPv6] in the overlay
  ["n1", "10.99.0.11", "fd99::11"],
  ["n2", "10.99.0.12", "fd99::12"],
  ["n3", "10.99.0.13", "fd99::13"],
  ["leaf", "10.99.0.100", "fd99::100"],
];

function nsOf(v: VpnLab, name: string): string {
  return name === "leaf" ? v.leaf : v.n[Number(name[1]) - 1];
}

Deno.test("vpn: three nodes and a leaf ping each other; MAT; direct paths carry bulk traffic", async () => {
  await withLab("vpnping", async (v) => {
    const { lab } = v;
    assertEquals(new Set(v.ids).size, 3, `three distinct auto ids: ${v.ids}`);
    await waitPing(lab, v.leaf, "10.99.0.12");
    for (let i = 0; i < HOSTS.length; i++) {
      for (let j = i + 1; j < HOSTS.length; j++) {
        const [a, ,] = HOSTS[i];
        const [b, b4, b6] = HOSTS[j];
        for (const addr of [b4, b6]) {
          const ns = nsOf(v, a);
          await waitPing(lab, ns, addr);
          const r = await ping(lab, ns, addr);
          assertEquals(r.code, 0, `${a} -> ${b} ${addr}: ${r.stdout}`);
        }
      }
    }
    // MAT: node 1 lists the leaf's real MAC with a translated one in its prefix.
    const leafMac = JSON.parse(
      (await lab.exec(v.leaf, ["ip", "-j", "link", "show", "eth0"])).stdout,
    )[0].address as string;
    const st1 = await status(v.n[0]);
    assertEquals(st1.role, "node");
    assertEquals(st1.tap_offload, true, "TAP offloads are on by default");
    const entry = st1.mat.leaves.find((l: { mac: string }) => l.mac === leafMac);
    assert(entry, `node 1 has the leaf ${leafMac} in its MAT table: ${JSON.stringify(st1.mat)}`);
    assert(entry.leaf > 0 && typeof entry.age_s === "number", JSON.stringify(entry));
    assertEquals(entry.mat.slice(0, 11), st1.mat.prefix.slice(0, 11));
    // Node 2 knows the leaf by that translated MAC, never by its real one.
    const neigh = (await lab.exec(v.n[1], ["ip", "neigh", "show", "10.99.0.100"])).stdout;
    assert(neigh.includes(entry.mat), `n2 neighbour entry for the leaf: ${neigh}`);
    assert(!neigh.includes(leafMac), `n2 must not see the leaf's real MAC: ${neigh}`);

    // Direct paths: once punched, n2 <-> n3 and leaf -> n3 are not relayed.
    await waitDirect(v.n[1], v.ids[2]);
    await waitDirect(v.n[2], v.ids[1]);
    await waitDirect(v.n[0], v.ids[2]);
    await waitDirect(v.n[2], v.ids[0]);
    const before = (await status(v.sn)).relayed_frames;
    let r = await ping(lab, v.n[1], "10.99.0.13", 300, "0.01");
    assertEquals(r.code, 0, r.stdout);
    const answered = received(r.stdout);
    r = await ping(lab, v.leaf, "fd99::13", 200, "0.01");
    assertEquals(r.code, 0, r.stdout);
    const sst = await status(v.sn);
    assertEquals(sst.role, "supernode");
    assertEquals(sst.relayed_frames, before, "bulk traffic between direct peers was relayed");
    assertEquals(sst.nodes.length, 3);
    // ARP/ND broadcasts went out as end-to-end copies, none as a supernode broadcast.
    assertEquals(sst.broadcast_frames, 0, "no broadcast the supernode could fan out (or read)");
    const c2 = (await status(v.n[1])).counters;
    assert(c2.tx_broadcast > 0 && c2.tx_broadcast_copies >= c2.tx_broadcast, JSON.stringify(c2));
    const p = peerOf(await status(v.n[1]), v.ids[2]);
    assertEquals(p.path, "direct");
    // All 300 requests went out on the direct path, and every reply that came back with it.
    assert(p.tx_frames >= 300 && p.rx_frames >= answered, `${answered}: ${JSON.stringify(p)}`);
    assert(typeof p.rtt_ms === "number", JSON.stringify(p));
    assertEquals(p.endpoint, `10.88.0.13:${p.endpoint.split(":")[1]}`);

    // SIGTERM: a node deregisters; the supernode forgets it at once.
    const m = v.snd.lines.length;
    v.nd[2].kill("SIGTERM");
    assertEquals((await v.nd[2].exited()).code, 0, v.nd[2].lines.join("\n"));
    await v.snd.waitLine(new RegExp(`node ${v.ids[2]} deregistered`), 15_000, m);
    assertEquals((await status(v.sn)).nodes.length, 2);
    // Node 1 restarts: same identity (same auto id), leaf table loaded (same MAT address).
    v.nd[0].kill("SIGTERM");
    assertEquals((await v.nd[0].exited()).code, 0, v.nd[0].lines.join("\n"));
    for (const f of ["node.key", "leaves.json", "peer_pins.json"]) {
      assertEquals((await Deno.stat(`${v.dir}/n1/${f}`)).mode! & 0o777, 0o600, f);
    }
    // Node 1 pinned the keys of the peers it talked to (saved at stop).
    const pins = JSON.parse(await Deno.readTextFile(`${v.dir}/n1/peer_pins.json`));
    const pinned = pins.map((e: [number, string, number]) => e[0]).sort();
    assert(pinned.includes(v.ids[1]) && pinned.includes(v.ids[2]), JSON.stringify(pins));
    const again = await startNode(
      v.n[0],
      `${SN_ADDR}:${SN_PORT}`,
      v.keys.sn,
      `${v.dir}/n1`,
      [],
      v.daemons,
    );
    await again.waitLine(/loaded \d+ MAT leaf id\(s\)/, 15_000);
    await again.waitLine(/loaded 2 peer key pin\(s\)/, 15_000);
    // The operator deletes a pin (to accept a peer's new key) and sends SIGHUP: re-read.
    const kept = pins.filter((e: [number, string, number]) => e[0] !== v.ids[2]);
    await Deno.writeTextFile(`${v.dir}/n1/peer_pins.json`, JSON.stringify(kept));
    const mark = again.lines.length;
    again.kill("SIGHUP");
    await again.waitLine(/re-read 1 peer key pin\(s\)/, 15_000, mark);
    await lab.ip(v.n[0], "link", "set", "v0", "master", "brl");
    await waitPing(lab, v.leaf, "10.99.0.12");
    const st1b = await status(v.n[0]);
    assertEquals(st1b.id, v.ids[0], "the same auto id after a restart");
    const entry2 = st1b.mat.leaves.find((l: { mac: string }) => l.mac === leafMac);
    assertEquals(entry2?.mat, entry.mat, "the leaf keeps its MAT address across a restart");
  });
});

/** A script that sends hex payloads as UDP datagrams to HOST PORT (one per argument). */
const UDP_SEND = `import dgram from "node:dgram";
const [host, port, ...hex] = Deno.args;
const s = dgram.createSocket("udp4");
let sent = 0;
for (const h of hex) {
  const b = new Uint8Array(h.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  await new Promise((r) => s.send(b, Number(port), host, r));
  sent++;
}
s.close();
console.log(sent);
`;

/** Seeded garbage: random bytes, truncated headers, a valid-looking header with a bad tag, an oversize datagram. */
function garbage(seed: number): string[] {
  let x = seed >>> 0;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
  const hex = (b: number[]) => b.map((v) => v.toString(16).padStart(2, "0")).join("");
  const out: string[] = [];
  for (let i = 0; i < 20; i++) {
    out.push(
      hex(Array.from({ length: 1 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256))),
    );
  }
  out.push("4c"); // magic only
  out.push("4c0210000000000100"); // truncated header
  out.push(
    "4c02" + "10" + "00" + "0000" + "0001" + "0002" + "0000" + "00".repeat(12) + "ab".repeat(30),
  ); // bad tag
  out.push("4c0101" + "00".repeat(60)); // bad version (1: before issue 13)
  out.push("ee".repeat(4000)); // larger than a receive slot: cut, counted
  return out;
}

function drops(counters: Record<string, number>): number {
  let n = 0;
  for (const [k, v] of Object.entries(counters)) {
    if (k.startsWith("drop_") || k === "rx_truncated") n += v;
  }
  return n;
}

Deno.test("vpn: garbage and truncated datagrams are counted and dropped; the VPN keeps working", async () => {
  await withLab("vpngarb", async (v) => {
    const { lab } = v;
    await waitPing(lab, v.n[1], "10.99.0.13");
    const sn0 = await status(v.sn);
    const n20 = await status(v.n[1]);
    const script = `${v.dir}/udp_send.ts`;
    await Deno.writeTextFile(script, UDP_SEND);
    const payloads = garbage(0x5eed);
    let r = await runScript(script, [SN_ADDR, String(SN_PORT), ...payloads], {
      wrap: wrap(v.n[2]),
    });
    assertEquals(r.stdout.trim(), String(payloads.length), r.stderr);
    r = await runScript(script, ["10.88.0.12", String(n20.local_port), ...payloads], {
      wrap: wrap(v.n[2]),
    });
    assertEquals(r.stdout.trim(), String(payloads.length), r.stderr);
    await waitFor(
      async () => drops((await status(v.sn)).counters) - drops(sn0.counters) >= payloads.length,
      10_000,
      "the supernode to count every garbage datagram",
      200,
    );
    await waitFor(
      async () => drops((await status(v.n[1])).counters) - drops(n20.counters) >= payloads.length,
      10_000,
      "node 2 to count every garbage datagram",
      200,
    );
    const sn1 = await status(v.sn);
    assert(sn1.counters.rx_truncated > sn0.counters.rx_truncated, JSON.stringify(sn1.counters));
    assert((sn1.counters.drop_bad_magic ?? 0) > 0, JSON.stringify(sn1.counters));
    // Nothing changed: same registrations, and the others still talk.
    assertEquals(
      sn1.nodes.map((n: { id: number }) => n.id).sort(),
      sn0.nodes.map((n: { id: number }) => n.id).sort(),
    );
    for (
      const [ns, addr] of [[v.n[1], "10.99.0.13"], [v.leaf, "fd99::12"], [v.n[2], "10.99.0.11"]]
    ) {
      await waitPing(lab, ns, addr);
      const p = await ping(lab, ns, addr);
      assertEquals(p.code, 0, `${ns} -> ${addr} after garbage: ${p.stdout}`);
    }
    assertEquals((await status(v.n[1])).state, "registered");
    // The same counters in /metrics.
    const metrics = async (ns: string) =>
      (await runL2(["status", "--api", `127.0.0.1:${API_PORT}`, "--metrics"], { wrap: wrap(ns) }))
        .stdout;
    const sm = await metrics(v.sn);
    for (
      const s of [
        "l2_supernode_relayed_frames_total",
        'name="drop_bad_magic"',
        'name="rx_truncated"',
      ]
    ) {
      assert(sm.includes(s), `supernode /metrics has ${s}`);
    }
    const nm = await metrics(v.n[1]);
    for (
      const s of [
        "l2_node_peer_tx_frames_total",
        'name="drop_bad_magic"',
        "l2_node_registered 1",
        "l2_node_roster_nodes 2",
        "l2_node_roster_known 1",
        'l2_node_held_frames{kind="broadcast"}',
        'l2_node_broadcast_hold_total{outcome="dropped_overflow"}',
        "l2_node_pins",
      ]
    ) {
      assert(nm.includes(s), `node /metrics has ${s}`);
    }
  });
});

Deno.test("vpn: supernode killed and restarted; direct traffic flows meanwhile; nodes come back", async () => {
  await withLab("vpnrst", async (v) => {
    const { lab } = v;
    await waitPing(lab, v.n[1], "10.99.0.13");
    await waitDirect(v.n[1], v.ids[2]);
    await waitDirect(v.n[2], v.ids[1]);
    v.snd.kill("SIGKILL");
    await v.snd.exited();
    const marks = v.nd.map((d) => d.lines.length);
    // Direct traffic needs no supernode: pings through the outage are answered (the supernode
    // is gone, so directly).
    const r = await ping(lab, v.n[1], "10.99.0.13", 60, "0.05");
    assertEquals(r.code, 0, `direct traffic during the outage: ${r.stdout}`);
    // Each node noticed (keepalive timeout) and is registering again.
    for (const [i, d] of v.nd.entries()) {
      await d.waitLine(/registering again: keepalive timeout/, 30_000, marks[i]);
    }
    // ... and still reaches its direct peers while it does.
    const still = await ping(lab, v.n[1], "10.99.0.13", 5, "0.2");
    assertEquals(still.code, 0, `direct traffic while registering again: ${still.stdout}`);
    const back = v.nd.map((d) => d.lines.length);
    v.snd = await startSupernode(v.sn, v.dir, v.daemons);
    for (const [i, d] of v.nd.entries()) {
      await d.waitLine(/registered as node \d+/, 30_000, back[i]);
    }
    const st = await status(v.sn);
    assertEquals(
      st.nodes.map((n: { id: number }) => n.id).sort(),
      [...v.ids].sort(),
      "the nodes kept their ids",
    );
    // Broadcast again: n2 forgets its neighbours and must ARP for n1, by the roster the new
    // supernode keeps (the nodes ask for it after registering).
    const copies0 = (await status(v.n[1])).counters.tx_broadcast_copies ?? 0;
    await lab.exec(v.n[1], ["ip", "neigh", "flush", "dev", "v0"]);
    const p = await ping(lab, v.n[1], "10.99.0.11");
    assertEquals(p.code, 0, p.stdout);
    assert((await status(v.n[1])).counters.tx_broadcast_copies > copies0, "the ARP went out");
    const snc = (await status(v.sn)).security.counters;
    assert(snc.roster_requests > 0, `the new supernode answered rosters: ${JSON.stringify(snc)}`);
    // SIGTERM on the supernode: every node hears GOING_AWAY.
    const m2 = v.nd.map((d) => d.lines.length);
    v.snd.kill("SIGTERM");
    assertEquals((await v.snd.exited()).code, 0, v.snd.lines.join("\n"));
    for (const [i, d] of v.nd.entries()) {
      await d.waitLine(/registering again: going away/, 15_000, m2[i]);
    }
    // The id bindings were saved at stop (0600): a restart keeps ids bound to their keys.
    const saved = `${v.dir}/sn/bindings.json`;
    assertEquals((await Deno.stat(saved)).mode! & 0o777, 0o600);
    const bound = JSON.parse(await Deno.readTextFile(saved)) as [number, number, string][];
    assertEquals(bound.map((b) => b[1]).sort(), [...v.ids].sort(), JSON.stringify(bound));
  });
});

/**
 * Two nodes behind their own nftables NAT routers:
 *
 *   [n1 192.168.1.2]--[r1 192.168.1.1 | wan 10.88.0.21]--\
 *                                                         core br0 -- [sn 10.88.0.1]
 *   [n2 192.168.2.2]--[r2 192.168.2.1 | wan 10.88.0.22]--/
 *
 * `masquerade` keeps the node's port for every destination (endpoint-independent
 * mapping): punching works. Each router drops unsolicited traffic to itself, as
 * home routers do: without that, a peer's first probe, arriving before the
 * node's own probe left, would be tracked as a local connection to the router
 * and make the router map the node's probes to another port. `masquerade fully-random` picks a random port per
 * connection, i.e. per destination (symmetric NAT): on both sides, punching
 * cannot work and traffic stays on the relay.
 */
async function natLab(
  tag: string,
  nat: string,
  fn: (v: {
    lab: Lab;
    sn: string;
    n: string[];
    ids: number[];
  }) => Promise<void>,
  opts: { routed?: boolean; firewall?: boolean; nodeYaml?: string } = {},
): Promise<void> {
  const lab = await Lab.create(tag);
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const core = await lab.netns("core");
    const sn = await lab.netns("sn");
    const r = [await lab.netns("r1"), await lab.netns("r2")];
    const n = [await lab.netns("n1"), await lab.netns("n2")];
    const routed = opts.routed ?? false;
    await lab.veth(sn, "up0", core, "p0");
    await lab.addr(sn, "up0", `${SN_ADDR}/24`);
    if (routed) {
      await lab.addr(core, "p0", "10.88.0.254/24");
      await lab.ip(sn, "route", "add", "default", "via", "10.88.0.254");
      await lab.exec(core, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    }
    for (const i of [0, 1]) {
      await lab.veth(r[i], "wan", core, `p${i + 1}`);
      if (routed) {
        await lab.addr(r[i], "wan", `10.88.${i + 1}.2/24`);
        await lab.addr(core, `p${i + 1}`, `10.88.${i + 1}.1/24`);
        await lab.ip(r[i], "route", "add", "default", "via", `10.88.${i + 1}.1`);
      } else await lab.addr(r[i], "wan", `10.88.0.2${i + 1}/24`);
      await lab.veth(r[i], "lan", n[i], "up0");
      await lab.addr(r[i], "lan", `192.168.${i + 1}.1/24`);
      await lab.addr(n[i], "up0", `192.168.${i + 1}.2/24`);
      await lab.ip(n[i], "route", "add", "default", "via", `192.168.${i + 1}.1`);
      await lab.exec(r[i], ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      await lab.exec(r[i], [
        "nft",
        `add table ip l2t; add chain ip l2t post { type nat hook postrouting priority 100; }; ` +
        `add rule ip l2t post oifname "wan" ${nat}` +
        (opts.firewall ?? true
          // A home router's stateful firewall: unsolicited traffic to the router is dropped
          // (so it leaves no conntrack entry that would clash with a later mapping).
          ? `; add chain ip l2t in { type filter hook input priority 0; }; ` +
            `add rule ip l2t in iifname "wan" ct state new counter drop`
          : ""),
      ]);
    }
    if (!routed) await lab.bridge(core, "br0", ["p0", "p1", "p2"]);
    const keys = await labKeys(dir, 2);
    await startSupernode(sn, dir, daemons);
    for (const i of [0, 1]) {
      await startNode(
        n[i],
        `${SN_ADDR}:${SN_PORT}`,
        keys.sn,
        `${dir}/n${i + 1}`,
        [`10.99.0.1${i + 1}/24`],
        daemons,
        [],
        true,
        opts.nodeYaml ?? "",
      );
    }
    const ids = [(await status(n[0])).id, (await status(n[1])).id];
    await fn({ lab, sn, n, ids });
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("vpn: two nodes behind masquerading NATs punch a direct path", async () => {
  await natLab("vpnnat", "masquerade", async ({ lab, sn, n, ids }) => {
    await waitPing(lab, n[0], "10.99.0.12");
    await waitDirect(n[0], ids[1]);
    await waitDirect(n[1], ids[0]);
    const p = peerOf(await status(n[0]), ids[1]);
    assert(p.endpoint.startsWith("10.88.0.22:"), `n2 seen at its router: ${JSON.stringify(p)}`);
    const before = (await status(sn)).relayed_frames;
    const r = await ping(lab, n[0], "10.99.0.12", 100, "0.01");
    assertEquals(r.code, 0, r.stdout);
    assertEquals((await status(sn)).relayed_frames, before, "direct traffic was relayed");
    // These two nodes run without TAP offloads (the other labs run with the default, on).
    const st0 = await status(n[0]);
    assertEquals([st0.tap_offload, st0.counters.tap_rx_gso_frames], [false, 0]);
  }, { nodeYaml: "    offload: false\n" });
});

Deno.test("vpn: behind plain masquerading routers (no firewall) a routed path between them: low-TTL opening probes punch through; full-TTL ones do not", async () => {
  // Without a firewall each router tracks a peer probe that arrives before its own node's probe
  // left as a connection to itself, and maps its node's probes to another port. The first round
  // with TTL 2 opens each node's own NAT and expires at the core router in between.
  const punch = async (yaml: string) => {
    let out = { path: "", lowTtl: 0, relayedDuringPing: -1 };
    await natLab("vpnttl", "masquerade", async ({ lab, sn, n, ids }) => {
      await waitPing(lab, n[0], "10.99.0.12");
      // Punching runs for 10 s at most: wait (bounded) until it ended, direct or failed, then
      // read the outcome.
      await waitFor(
        async () => {
          const q = peerOf(await status(n[0]), ids[1]);
          return q?.state !== "punching" && (q?.path === "direct" || q?.direct_failures >= 1);
        },
        30_000,
        "the punch to end (a direct path, or a failure)",
        250,
      );
      const p = peerOf(await status(n[0]), ids[1]);
      const before = (await status(sn)).relayed_frames;
      const r = await ping(lab, n[0], "10.99.0.12", 20, "0.05");
      assertEquals(r.code, 0, r.stdout);
      out = {
        path: p?.path ?? "none",
        lowTtl: (await status(n[0])).counters.tx_probe_low_ttl ?? 0,
        relayedDuringPing: (await status(sn)).relayed_frames - before,
      };
      if (out.path === "direct") {
        assert(p.endpoint.startsWith("10.88.2.2:"), `n2 seen at its router: ${JSON.stringify(p)}`);
      }
    }, { routed: true, firewall: false, nodeYaml: yaml });
    return out;
  };
  const low = await punch("");
  assertEquals(low.path, "direct", JSON.stringify(low));
  assert(low.lowTtl > 0, JSON.stringify(low));
  assertEquals(low.relayedDuringPing, 0, JSON.stringify(low));
  // Control: the same lab with full-TTL probes only stays on the relay.
  const full = await punch("    punch_ttl: 0\n");
  assertEquals([full.path, full.lowTtl], ["relay", 0], JSON.stringify(full));
  assert(full.relayedDuringPing > 0, JSON.stringify(full));
});

Deno.test("vpn: two nodes behind symmetric NATs (fully-random) talk through the relay", async () => {
  await natLab("vpnsym", "masquerade fully-random", async ({ lab, sn, n, ids }) => {
    await waitPing(lab, n[0], "10.99.0.12");
    // The punch window (10 s) passes without an echo: the path stays relayed.
    await waitFor(
      async () => (peerOf(await status(n[0]), ids[1])?.direct_failures ?? 0) >= 1,
      30_000,
      "the punch between symmetric NATs to fail",
      500,
    );
    const before = (await status(sn)).relayed_frames;
    const r = await ping(lab, n[0], "10.99.0.12", 50, "0.02");
    assertEquals(r.code, 0, r.stdout);
    const p = peerOf(await status(n[0]), ids[1]);
    assertEquals(p.path, "relay");
    // Each answered ping is a request and a reply relayed.
    const relayed = (await status(sn)).relayed_frames - before;
    assert(relayed >= 2 * received(r.stdout), `the pings went through the relay: ${relayed}`);
  });
});

/**
 * A minimal DHCPv4 client (RFC 2131 DISCOVER, OFFER, REQUEST, ACK with the
 * broadcast flag), because no DHCP client (dhclient, udhcpc) is installed
 * here. Prints JSON: the leased address and the chaddr the ACK carried.
 * Usage: dhcp_client.ts MAC
 */
const DHCP_CLIENT = `import dgram from "node:dgram";
const mac = Deno.args[0].split(":").map((h) => parseInt(h, 16));
const xid = crypto.getRandomValues(new Uint32Array(1))[0];
const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
const replies = [];
let wake = () => {};
s.on("message", (m) => { replies.push(new Uint8Array(m)); wake(); });
await new Promise((r) => s.bind(68, "0.0.0.0", r));
s.setBroadcast(true);
function msg(type, extra) {
  const b = new Uint8Array(300);
  const v = new DataView(b.buffer);
  b[0] = 1; b[1] = 1; b[2] = 6;
  v.setUint32(4, xid);
  v.setUint16(10, 0x8000);
  b.set(mac, 28);
  v.setUint32(236, 0x63825363);
  const o = [53, 1, type, ...extra, 55, 2, 1, 3, 255];
  b.set(o, 240);
  return b;
}
function opt(b, code) {
  for (let i = 240; i < b.length && b[i] !== 255;) {
    if (b[i] === 0) { i++; continue; }
    if (b[i] === code) return b.subarray(i + 2, i + 2 + b[i + 1]);
    i += 2 + b[i + 1];
  }
  return null;
}
async function exchange(type, extra, want) {
  for (let attempt = 0; attempt < 10; attempt++) { // retransmits: 20 s per exchange at most
    s.send(msg(type, extra), 67, "255.255.255.255");
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      const r = replies.shift();
      if (!r) { await new Promise((res) => { wake = res; setTimeout(res, 100); }); continue; }
      const v = new DataView(r.buffer);
      if (r[0] !== 2 || v.getUint32(4) !== xid) continue;
      const t = opt(r, 53);
      if (t && t[0] === want) return r;
    }
  }
  throw new Error("no DHCP reply of type " + want);
}
const offer = await exchange(1, [], 2);
const yiaddr = [...offer.subarray(16, 20)];
const server = [...(opt(offer, 54) ?? [])];
const ack = await exchange(3, [50, 4, ...yiaddr, 54, 4, ...server], 5);
const hex = (a) => [...a].map((x) => x.toString(16).padStart(2, "0")).join(":");
console.log(JSON.stringify({ address: [...ack.subarray(16, 20)].join("."), chaddr: hex(ack.subarray(28, 34)) }));
s.close();
`;

Deno.test("vpn: a DHCP server behind one node leases an address to a host behind another", async () => {
  await withLab("vpndhcp", async (v) => {
    const { lab } = v;
    // A second leaf behind node 3: its TAP goes into a bridge with the leaf's veth.
    const leaf2 = await lab.netns("leaf2");
    await lab.ip(v.n[2], "addr", "flush", "dev", "v0");
    await lab.veth(v.n[2], "lv0", leaf2, "eth0");
    await lab.bridge(v.n[2], "brl", ["v0", "lv0"]);
    await lab.addr(v.n[2], "brl", "10.99.0.13/24");
    await lab.ip(leaf2, "route", "add", "default", "dev", "eth0");
    // dnsmasq on the leaf behind node 1.
    const dhcpDir = `${v.dir}/dhcp`;
    await Deno.mkdir(dhcpDir);
    lab.spawn(v.leaf, [
      "dnsmasq",
      "--no-daemon",
      "--conf-file=/dev/null",
      "--port=0",
      "--interface=eth0",
      "--bind-interfaces",
      "--dhcp-range=10.99.0.150,10.99.0.159,255.255.255.0,1h",
      `--dhcp-leasefile=${dhcpDir}/leases`,
      `--pid-file=${dhcpDir}/pid`,
      "--log-dhcp",
    ]);
    const mac = JSON.parse(
      (await lab.exec(leaf2, ["ip", "-j", "link", "show", "eth0"])).stdout,
    )[0].address as string;
    const script = `${v.dir}/dhcp_client.ts`;
    await Deno.writeTextFile(script, DHCP_CLIENT);
    const r = await runScript(script, [mac], { wrap: wrap(leaf2), timeoutMs: 60_000 });
    assertEquals(r.code, 0, r.stderr);
    const lease = JSON.parse(r.stdout);
    assert(/^10\.99\.0\.15\d$/.test(lease.address), r.stdout);
    assertEquals(lease.chaddr, mac, "the ACK names the client's real MAC after MAT ingress");
    // The server leased to the client's translated MAC: node 3's prefix, not the real MAC.
    const st3 = await status(v.n[2]);
    const entry = st3.mat.leaves.find((l: { mac: string }) => l.mac === mac);
    assert(entry, JSON.stringify(st3.mat));
    const leases = await Deno.readTextFile(`${dhcpDir}/leases`);
    assert(leases.includes(entry.mat), `lease file holds the MAT address: ${leases}`);
    assert(!leases.includes(mac), `lease file must not hold the real MAC: ${leases}`);
    // The leased address works over the VPN.
    await lab.ip(leaf2, "route", "del", "default", "dev", "eth0");
    await lab.addr(leaf2, "eth0", `${lease.address}/24`);
    await waitPing(lab, leaf2, "10.99.0.100");
    const p = await ping(lab, leaf2, "10.99.0.12");
    assertEquals(p.code, 0, p.stdout);
  });
});

Deno.test("vpn: IPv6 underlay: a dual-stack supernode, two nodes, direct path over IPv6", async () => {
  const lab = await Lab.create("vpnv6");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const core = await lab.netns("core");
    const sn = await lab.netns("sn");
    const n = [await lab.netns("n1"), await lab.netns("n2")];
    for (const [i, ns] of [sn, ...n].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `fd88::${i + 1}/64`);
    }
    await lab.bridge(core, "br0", ["p0", "p1", "p2"]);
    const keys = await labKeys(dir, 2);
    await startSupernode(sn, dir, daemons, `[::]:${SN_PORT}`);
    for (const [i, ns] of n.entries()) {
      await startNode(ns, `[fd88::1]:${SN_PORT}`, keys.sn, `${dir}/n${i + 1}`, [
        `10.99.0.1${i + 1}/24`,
        `fd99::1${i + 1}/64`,
      ], daemons);
    }
    const ids = [(await status(n[0])).id, (await status(n[1])).id];
    await waitPing(lab, n[0], "fd99::12");
    await waitDirect(n[0], ids[1]);
    const p = peerOf(await status(n[0]), ids[1]);
    assert(p.endpoint.startsWith("[fd88::3]:"), JSON.stringify(p));
    const st = await status(sn);
    assert(
      st.nodes.every((x: { endpoint: string }) => x.endpoint.startsWith("[fd88::")),
      JSON.stringify(st.nodes),
    );
    const r = await ping(lab, n[0], "10.99.0.12", 20, "0.05");
    assertEquals(r.code, 0, r.stdout);
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Capture on `dev` in `ns` into `file` while `fn` runs; returns the capture's bytes. */
async function capture(
  lab: Lab,
  ns: string,
  dev: string,
  file: string,
  fn: () => Promise<void>,
): Promise<Uint8Array> {
  const p = lab.spawn(ns, ["tshark", "-n", "-q", "-i", dev, "-w", file]);
  try {
    await waitFor(() => p.stderr.includes("Capturing on"), 15_000, "tshark to capture", 100);
    await fn();
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await p.stop();
  }
  return await Deno.readFile(file);
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function toHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test("vpn security: relayed frames are encrypted: a capture at the supernode never holds a marker sent between nodes, but holds it when sent in clear", async () => {
  await withLab("vpnenc", async (v) => {
    const { lab } = v;
    const script = `${v.dir}/udp_send.ts`;
    await Deno.writeTextFile(script, UDP_SEND);
    await waitPing(lab, v.n[1], "10.99.0.13");
    // Every node's peers are encrypted sessions, not plaintext.
    await waitFor(
      async () => peerOf(await status(v.n[1]), v.ids[2])?.cipher === "aes-256-gcm",
      10_000,
      "an encrypted session n2 -> n3",
      200,
    );
    const p = peerOf(await status(v.n[1]), v.ids[2]);
    assertEquals(p.path, "relay", "direct paths are blocked in this lab");
    assert(typeof p.key_age_s === "number" && p.key_age_s >= 0, JSON.stringify(p));
    const marker = crypto.getRandomValues(new Uint8Array(16));
    const payload = toHex(marker).repeat(8);
    const relayed0 = (await status(v.sn)).relayed_frames;
    // 1. Between two nodes over the VPN (relayed by the supernode): never in clear.
    const enc = await capture(lab, v.sn, "up0", `${v.dir}/enc.pcap`, async () => {
      const r = await runScript(script, ["10.99.0.13", "9999", ...Array(10).fill(payload)], {
        wrap: wrap(v.n[1]),
      });
      assertEquals(r.stdout.trim(), "10", r.stderr);
      await waitFor(
        async () => (await status(v.sn)).relayed_frames >= relayed0 + 10,
        10_000,
        "the supernode to relay the 10 datagrams",
        200,
      );
    });
    assert(enc.length > 10 * 128, `the capture holds the relayed packets (${enc.length} bytes)`);
    assert(!contains(enc, marker), "the marker crossed the supernode in clear");
    // 2. Control: the same marker in clear on the underlay is seen by the same capture.
    const clear = await capture(lab, v.sn, "up0", `${v.dir}/clear.pcap`, async () => {
      const r = await runScript(script, [SN_ADDR, "9999", payload], { wrap: wrap(v.n[1]) });
      assertEquals(r.stdout.trim(), "1", r.stderr);
    });
    assert(contains(clear, marker), "the control capture must show the marker sent in clear");
    // 3. A broadcast (ICMP echo to 10.99.0.255, the marker as ping's pattern) reaches the other
    // nodes' TAPs, as one end-to-end copy per peer: the supernode relays the copies unread.
    const bmark = crypto.getRandomValues(new Uint8Array(16));
    let atN3: Uint8Array = new Uint8Array(0);
    const bcast = await capture(lab, v.sn, "up0", `${v.dir}/bcast.pcap`, async () => {
      atN3 = await capture(lab, v.n[2], "v0", `${v.dir}/bcast_n3.pcap`, async () => {
        await lab.exec(v.n[1], [
          "ping",
          "-b",
          "-c",
          "3",
          "-i",
          "0.2",
          "-W",
          "1",
          "-p",
          toHex(bmark),
          "10.99.0.255",
        ], { allowFail: true });
      });
    });
    assert(contains(atN3, bmark), "the broadcast reached node 3's TAP (positive control)");
    assert(bcast.length > 3 * 100, `the capture holds the relayed copies (${bcast.length} bytes)`);
    assert(!contains(bcast, bmark), "a broadcast crossed the supernode in clear");
    // Status: the supernode's security view.
    const st = await status(v.sn);
    assertEquals(st.security.encryption, "aes-256-gcm");
    // CI installs libsodium23: packets go through its one-call AEAD, not OpenSSL's five calls.
    assert(/^libsodium 1\.0\.\d+$/.test(st.security.aead), st.security.aead);
    assertEquals(st.security.members, 3);
    assert(st.security.sessions >= 3, JSON.stringify(st.security));
    // Status: node 2's security view: the other two nodes by id, its pins, what waits.
    const ns = (await status(v.n[1])).security;
    const asc = (x: number[]) => [...x].sort((a, b) => a - b);
    assertEquals(asc(ns.roster), asc([v.ids[0], v.ids[2]]), JSON.stringify(ns));
    assertEquals(ns.roster_known, true);
    assert(/^libsodium 1\.0\.\d+$/.test(ns.aead), ns.aead);
    assert(ns.pins >= 1, `n2 pinned n3's key on first use: ${JSON.stringify(ns)}`);
    assertEquals(typeof ns.held_frames.peers, "number");
    assertEquals(typeof ns.held_frames.broadcasts, "number");
    const bh = ns.broadcast_hold;
    assertEquals(Object.keys(bh).sort(), ["dropped_age", "dropped_overflow", "held", "sent"]);
    // Every broadcast kept for the first roster went out, aged out, or still waits.
    assertEquals(bh.held, bh.sent + bh.dropped_age + ns.held_frames.broadcasts, JSON.stringify(bh));
  }, {
    // Direct paths between the nodes are blocked: everything goes through the relay.
    beforeNodes: async (lab, n) => {
      for (const ns of n) {
        await lab.exec(ns, [
          "nft",
          "add table inet l2t; " +
          "add chain inet l2t out { type filter hook output priority 0; }; " +
          "add rule inet l2t out ip daddr { 10.88.0.11, 10.88.0.12, 10.88.0.13 } drop; " +
          "add chain inet l2t in { type filter hook input priority 0; }; " +
          "add rule inet l2t in ip saddr { 10.88.0.11, 10.88.0.12, 10.88.0.13 } drop",
        ]);
      }
    },
  });
});

Deno.test("vpn security: unlisted key refused, wrong supernode key, id hijack refused while the owner keeps working", async () => {
  await withLab("vpnrefuse", async (v) => {
    const { lab } = v;
    await waitPing(lab, v.n[0], "10.99.0.12");
    const sn = `${SN_ADDR}:${SN_PORT}`;
    const extra = (tap: string) => ["--tap", tap, "--api", `127.0.0.1:${API_PORT + 1}`];
    // An unlisted key (created at start in its own state dir): refused on both sides.
    let m = v.snd.lines.length;
    const intruder = await startNode(
      v.n[2],
      sn,
      v.keys.sn,
      `${v.dir}/x1`,
      [],
      v.daemons,
      extra("v1"),
      false,
    );
    const nodeLine = await intruder.waitLine(
      /refused this node's key (\S+) .*not a member/,
      20_000,
    );
    await v.snd.waitLine(
      /refused node key [0-9a-f]+\.\.\. from .*: it is not a member of network 0/,
      30_000,
      m,
    );
    const pub = (await runL2(["keygen", "--public", `${v.dir}/x1/node.key`])).stdout.trim();
    assertEquals(nodeLine[1], pub, "the node names its own public key");
    assert(!intruder.lines.some((l) => /registered as node/.test(l)), intruder.lines.join("\n"));
    let st = await status(v.sn);
    assert(st.security.refusals.not_member >= 1, JSON.stringify(st.security));
    assertEquals(st.nodes.length, 3);
    const metrics = (await runL2(["status", "--api", `127.0.0.1:${API_PORT}`, "--metrics"], {
      wrap: wrap(v.sn),
    })).stdout;
    assert(metrics.includes('l2_supernode_refusals_total{reason="not_member"}'), metrics);
    await intruder.close();

    // A listed key that pins the wrong supernode key: the supernode cannot answer it.
    m = v.snd.lines.length;
    const wrongSn = toBase64(crypto.getRandomValues(new Uint8Array(32)));
    const lost = await startNode(
      v.n[2],
      sn,
      wrongSn,
      `${v.dir}/m1`,
      [],
      v.daemons,
      extra("v1"),
      false,
    );
    await lost.waitLine(/no handshake answer .*check node\.supernode_key/, 20_000);
    await v.snd.waitLine(/handshake from .* failed: .*another supernode public key/, 15_000, m);
    assert(!lost.lines.some((l) => /registered as node/.test(l)), lost.lines.join("\n"));
    await lost.close();

    // Id hijack: another member's key asks for node 1's id while node 1 pings on.
    m = v.snd.lines.length;
    const pings = ping(lab, v.n[0], "10.99.0.12", 40, "0.1");
    const thief = await startNode(
      v.n[2],
      sn,
      v.keys.sn,
      `${v.dir}/m1`,
      [],
      v.daemons,
      [...extra("v1"), "--id", String(v.ids[0])],
      false,
    );
    await thief.waitLine(/refused this node's key .*belongs to another public key/, 20_000);
    await v.snd.waitLine(
      new RegExp(`asked for node id ${v.ids[0]}, which belongs to another public key`),
      15_000,
      m,
    );
    const r = await pings;
    assertEquals(r.code, 0, `node 1 kept working during the hijack: ${r.stdout}`);
    const after = await ping(lab, v.n[0], "10.99.0.12");
    assertEquals(after.code, 0, `node 1 works after the hijack was refused: ${after.stdout}`);
    st = await status(v.sn);
    const owner = st.nodes.find((n: { id: number }) => n.id === v.ids[0]);
    assertEquals(owner.endpoint.split(":")[0], "10.88.0.11", "node 1 still holds its id");
    assert(st.security.refusals.id_bound >= 1, JSON.stringify(st.security));
    await thief.close();
  }, { extraMembers: 1 });
});

Deno.test("vpn security: a key removed from the members and SIGHUP: that node is cut off, the others keep working", async () => {
  await withLab("vpnrevoke", async (v) => {
    const { lab } = v;
    await waitPing(lab, v.n[2], "10.99.0.12");
    await waitPing(lab, v.n[0], "10.99.0.12");
    // Node 3's key leaves the member list.
    await writeSnConfig(v.dir, v.keys.nodes.slice(0, 2));
    const m = v.snd.lines.length;
    const m3 = v.nd[2].lines.length;
    v.snd.kill("SIGHUP");
    await v.snd.waitLine(/SIGHUP: members: 2 key\(s\), 1 removed/, 15_000, m);
    await v.snd.waitLine(new RegExp(`revoked node ${v.ids[2]} `), 15_000, m);
    // Node 3's pings stop (direct or relayed: its sessions are gone everywhere).
    await waitFor(
      async () => (await ping(lab, v.n[2], "10.99.0.12", 1)).code !== 0,
      30_000,
      "node 3 to be cut off",
      200,
    );
    const cut = await ping(lab, v.n[2], "10.99.0.12", 5, "0.2");
    assert(/ 100% packet loss/.test(cut.stdout), `node 3 still reaches node 2: ${cut.stdout}`);
    const cut1 = await ping(lab, v.n[2], "10.99.0.11", 3, "0.2");
    assert(/ 100% packet loss/.test(cut1.stdout), `node 3 still reaches node 1: ${cut1.stdout}`);
    // The others keep working.
    const ok = await ping(lab, v.n[0], "10.99.0.12", 10, "0.1");
    assertEquals(ok.code, 0, ok.stdout);
    // Node 3 hears it is no longer a member when it tries again.
    await v.nd[2].waitLine(/refused this node's key .*(not a member|removed)/, 30_000, m3);
    const st = await status(v.sn);
    assertEquals(st.security.members, 2);
    assert(
      !st.security.session_list.some((s: { node: number }) => s.node === v.ids[2]),
      JSON.stringify(st.security.session_list),
    );
  });
});

Deno.test("vpn security: open mode: the network secret admits nodes, a wrong one is refused, a new one by SIGHUP locks out the old one", async () => {
  const lab = await Lab.create("vpnopen");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const core = await lab.netns("core");
    const sn = await lab.netns("sn");
    const n = [await lab.netns("n1"), await lab.netns("n2"), await lab.netns("n3")];
    for (const [i, ns] of [sn, ...n].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", i === 0 ? `${SN_ADDR}/24` : `10.88.0.1${i}/24`);
    }
    await lab.bridge(core, "br0", ["p0", "p1", "p2", "p3"]);
    const keys = await labKeys(dir, 0);
    const secret = toHex(crypto.getRandomValues(new Uint8Array(12)));
    await Deno.writeTextFile(`${dir}/secret`, `${secret}\n`, { mode: 0o600 });
    await Deno.writeTextFile(
      `${dir}/sn.yaml`,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n    mode: open\n` +
        `    secret_file: ${dir}/secret\n`,
    );
    const snd = await startSupernode(sn, dir, daemons);
    const sec = (s: string) => `    secret: "${s}"\n`;
    const nd: Daemon[] = [];
    for (const i of [0, 1]) {
      nd.push(
        await startNode(
          n[i],
          `${SN_ADDR}:${SN_PORT}`,
          keys.sn,
          `${dir}/n${i + 1}`,
          [
            `10.99.0.1${i + 1}/24`,
          ],
          daemons,
          [],
          true,
          sec(secret),
        ),
      );
    }
    await waitPing(lab, n[0], "10.99.0.12");
    // A node with another secret: the supernode cannot complete its handshake.
    const m = snd.lines.length;
    const wrong = await startNode(
      n[2],
      `${SN_ADDR}:${SN_PORT}`,
      keys.sn,
      `${dir}/n3`,
      ["10.99.0.13/24"],
      daemons,
      [],
      false,
      sec(`${secret}x`),
    );
    await snd.waitLine(/handshake from 10\.88\.0\.13:\d+ failed: the network secret/, 15_000, m);
    await wrong.waitLine(/no handshake answer/, 15_000);
    assert(!wrong.lines.some((l) => /registered as node/.test(l)), wrong.lines.join("\n"));
    const st = await status(sn);
    assertEquals(st.security.mode, "open");
    assertEquals(st.nodes.length, 2);
    assert(st.security.refusals.bad_secret >= 1, JSON.stringify(st.security));
    // A new secret (SIGHUP): the supernode's sessions end; the nodes, still on the old secret,
    // cannot handshake again (their peer sessions run out with their keys, at most 180 s).
    await Deno.writeTextFile(`${dir}/secret`, `${secret}-2\n`);
    const m2 = snd.lines.length;
    snd.kill("SIGHUP");
    await snd.waitLine(/SIGHUP: network secret changed/, 15_000, m2);
    for (const ip of ["10.88.0.11", "10.88.0.12"]) {
      await snd.waitLine(
        new RegExp(`handshake from ${ip.replaceAll(".", "\\.")}:\\d+ failed: the network secret`),
        30_000,
        m2,
      );
    }
    assertEquals((await status(sn)).security.sessions, 0);
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
});
