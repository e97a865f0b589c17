/**
 * A node with several supernodes (docs/federation.md, "Node: attached,
 * standby, failover"), as real daemons in namespaces: two supernodes
 * (independent, not federated: both list the same members and ids) and two
 * nodes configured with `supernodes: [sn1, sn2]`. UDP between the two nodes'
 * underlay addresses is dropped, so every frame is relayed by the supernode
 * they are attached to: a move is what keeps them talking.
 *
 * - both register with sn1 and hold a standby session with sn2; ping works;
 * - sn1 is killed (SIGKILL): both move to sn2 and pings resume;
 * - sn1 starts again: both go back to it (preference) and pings keep working.
 *
 * ```
 *   [sn1 10.87.0.1] [sn2 10.87.0.2] [n1 10.87.0.11] [n2 10.87.0.12]   overlay: 10.97.0.1N/24
 *          \______________|_______________|_______________/
 *                          core: bridge br0
 * ```
 *
 * Liveness only, with generous bounds; the failover time observed is printed
 * (docs/performance.md keeps a record), never asserted.
 *
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { Lab, requireRoot, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";

const API = 7761;
const SN_ADDR = ["10.87.0.1", "10.87.0.2"];
const NODE_ADDR = ["10.87.0.11", "10.87.0.12"];
const OVERLAY = ["10.97.0.11", "10.97.0.12"];
const wrap = (ns: string) => ["ip", "netns", "exec", ns];

// deno-lint-ignore no-explicit-any
async function status(ns: string): Promise<any> {
  const r = await runL2(["status", "--api", `127.0.0.1:${API}`, "--json"], {
    wrap: wrap(ns),
    timeoutMs: 15_000,
  });
  return r.code === 0 ? JSON.parse(r.stdout) : {};
}

async function pings(lab: Lab, ns: string, to: string): Promise<boolean> {
  const r = await lab.exec(ns, ["ping", "-c", "1", "-W", "1", to], { allowFail: true });
  return r.code === 0;
}

Deno.test("vpn failover: nodes move to the standby supernode when theirs dies, and come back", async () => {
  requireRoot();
  const lab = await Lab.create("vfail");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir({ prefix: "l2-vfail-" });
  try {
    const core = await lab.netns("core");
    const sns = [await lab.netns("sn1"), await lab.netns("sn2")];
    const nodes = [await lab.netns("n1"), await lab.netns("n2")];
    const all = [...sns, ...nodes];
    const addrs = [...SN_ADDR, ...NODE_ADDR];
    for (const [i, ns] of all.entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `${addrs[i]}/24`);
    }
    await lab.bridge(core, "br0", all.map((_, i) => `p${i}`));
    // No direct path between the nodes: everything goes through a supernode.
    await lab.exec(nodes[0], [
      "nft",
      "add table ip vfail; add chain ip vfail out { type filter hook output priority 0; }; " +
      `add rule ip vfail out ip daddr ${NODE_ADDR[1]} udp dport 1-65535 drop; ` +
      "add chain ip vfail in { type filter hook input priority 0; }; " +
      `add rule ip vfail in ip saddr ${NODE_ADDR[1]} udp sport 1-65535 drop`,
    ]);

    const keys: Record<string, string> = {};
    for (const d of ["sn1", "sn2", "n1", "n2"]) {
      await Deno.mkdir(`${dir}/${d}`, { mode: 0o700 });
      const file = `${dir}/${d}/${d.startsWith("sn") ? "supernode" : "node"}.key`;
      keys[d] = toBase64(writeNewKeyFile(file));
    }
    const startSn = async (i: number) => {
      const cfg = `${dir}/sn${i + 1}.yaml`;
      await Deno.writeTextFile(
        cfg,
        `supernode:\n  default:\n    state_dir: ${dir}/sn${i + 1}\n    members:\n` +
          `      - { key: "${keys.n1}", id: 1 }\n      - { key: "${keys.n2}", id: 2 }\n`,
      );
      const d = new Daemon(
        MAIN,
        ["supernode", "--config", cfg, "--listen", "0.0.0.0:7654", "--api", `127.0.0.1:${API}`],
        {},
        wrap(sns[i]),
      );
      daemons.push(d);
      await d.waitLine(/listening on UDP/, 20_000);
      return d;
    };
    const sn1 = await startSn(0);
    await startSn(1);
    const nds: Daemon[] = [];
    for (const [i, ns] of nodes.entries()) {
      const cfg = `${dir}/n${i + 1}.yaml`;
      await Deno.writeTextFile(
        cfg,
        `node:\n  default:\n    state_dir: ${dir}/n${i + 1}\n    id: ${i + 1}\n` +
          `    supernodes:\n` +
          `      - { address: "${SN_ADDR[0]}:7654", key: "${keys.sn1}" }\n` +
          `      - { address: "${SN_ADDR[1]}", key: "${keys.sn2}" }\n`,
      );
      const d = new Daemon(
        MAIN,
        [
          "node",
          "--config",
          cfg,
          "--tap",
          "v0",
          "--address",
          `${OVERLAY[i]}/24`,
          "--api",
          `127.0.0.1:${API}`,
        ],
        {},
        wrap(ns),
      );
      daemons.push(d);
      nds.push(d);
      await d.waitLine(/registered as node/, 30_000);
    }
    const attachedAll = async (sn: string) => {
      for (const ns of nodes) if ((await status(ns)).attached_at !== `${sn}:7654`) return false;
      return true;
    };
    await waitFor(() => pings(lab, nodes[0], OVERLAY[1]), 30_000, "ping via sn1", 200);
    await waitFor(
      async () => (await status(nodes[0])).supernodes?.[1]?.state === "standby",
      30_000,
      "sn2 standby",
      250,
    );
    for (const ns of nodes) {
      const s = await status(ns);
      assertEquals(s.attached_at, `${SN_ADDR[0]}:7654`);
      assertEquals(s.standby, `${SN_ADDR[1]}:7654`);
      assertEquals(s.supernodes.map((x: { state: string }) => x.state), ["attached", "standby"]);
      assertEquals(s.moves, 0);
      assertEquals(
        s.peers.find((p: { node: number }) => p.node !== s.id)?.path ?? "relay",
        "relay",
      );
    }

    // sn1 dies without a word.
    const killedAt = performance.now();
    sn1.kill("SIGKILL");
    await sn1.exited(10_000);
    // The time from the nodes' own log lines (a status query costs a process start).
    await Promise.all(
      nds.map((d) => d.waitLine(/attached to supernode 10\.87\.0\.2:7654 now/, 60_000)),
    );
    const movedMs = performance.now() - killedAt;
    await waitFor(() => pings(lab, nodes[0], OVERLAY[1]), 60_000, "ping via sn2", 100);
    const pingMs = performance.now() - killedAt;
    await waitFor(() => attachedAll(SN_ADDR[1]), 30_000, "both nodes attached at sn2", 100);
    await waitFor(() => pings(lab, nodes[1], OVERLAY[0]), 30_000, "ping back via sn2", 100);
    console.log(
      `failover: both nodes attached at sn2 ${(movedMs / 1000).toFixed(1)} s after SIGKILL ` +
        `of sn1; first ping through sn2 after ${(pingMs / 1000).toFixed(1)} s`,
    );
    for (const ns of nodes) assertEquals((await status(ns)).moves, 1);

    // sn1 returns: the nodes go back to it by preference.
    const backAt = performance.now();
    daemons.splice(daemons.indexOf(sn1), 1);
    await startSn(0);
    await Promise.all(
      nds.map((d) => d.waitLine(/attached to supernode 10\.87\.0\.1:7654 now/, 90_000)),
    );
    const returnMs = performance.now() - backAt;
    await waitFor(() => attachedAll(SN_ADDR[0]), 30_000, "both nodes back at sn1", 250);
    console.log(
      `return: both nodes attached at sn1 again ${(returnMs / 1000).toFixed(1)} s after its start`,
    );
    await waitFor(() => pings(lab, nodes[0], OVERLAY[1]), 30_000, "ping via sn1 again", 200);
    await waitFor(() => pings(lab, nodes[1], OVERLAY[0]), 30_000, "ping back via sn1", 200);
    for (const ns of nodes) {
      const s = await status(ns);
      assertEquals(s.moves, 2);
      assertEquals(s.allocator, 1, "the AA of the first registration");
      assert(s.supernodes[0].state === "attached", JSON.stringify(s.supernodes));
    }
    const m = await runL2(["status", "--api", `127.0.0.1:${API}`], { wrap: wrap(nodes[0]) });
    assert(m.stdout.includes("supernode"), m.stdout);
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
