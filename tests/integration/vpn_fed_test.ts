/**
 * Two federated `l2 supernode` daemons (issue 17, docs/federation.md) and
 * two `l2 node` daemons in namespaces this test makes (`l2t-vfed-*`):
 * node A registered at supernode 1, node B at supernode 2, each configured
 * with its own supernode only.
 *
 * - A pings B first with their direct path blocked (nft in A's namespace):
 *   through FED_RELAY across the two supernodes; B's neighbour table then
 *   holds A (A's ARP request, a broadcast, reached B across supernodes).
 * - The block goes: the introduction across supernodes (FED_INTRO) makes
 *   the path direct, seen in A's /status.
 * - Each supernode's /status lists the other as up with the remote node.
 * - A supernode configured with a wrong key for its federation peer refuses
 *   that peer's handshake and logs it (id and key fingerprint); the peer
 *   logs the refusal too; neither comes up.
 *
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { Lab, requireRoot, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";

const API = 7761;
const wrap = (ns: string) => ["ip", "netns", "exec", ns];

// deno-lint-ignore no-explicit-any
async function status(ns: string): Promise<any> {
  const r = await runL2(["status", "--api", `127.0.0.1:${API}`, "--json"], { wrap: wrap(ns) });
  return JSON.parse(r.stdout || "{}");
}

interface Keys {
  s1: string;
  s2: string;
  a: string;
  b: string;
}

async function makeKeys(dir: string): Promise<Keys> {
  const out: Record<string, string> = {};
  for (const d of ["s1", "s2", "a", "b"]) {
    await Deno.mkdir(`${dir}/${d}`, { recursive: true, mode: 0o700 });
    const file = `${dir}/${d}/${d.startsWith("s") ? "supernode" : "node"}.key`;
    out[d] = toBase64(writeNewKeyFile(file));
  }
  return out as unknown as Keys;
}

/** Namespaces core (bridge), s1, s2, na, nb on 10.87.0.0/24: .1, .2, .11, .12. */
async function underlay(lab: Lab) {
  const core = await lab.netns("core");
  const ns = { s1: "", s2: "", na: "", nb: "" };
  const addrs = { s1: "10.87.0.1", s2: "10.87.0.2", na: "10.87.0.11", nb: "10.87.0.12" };
  let i = 0;
  for (const k of ["s1", "s2", "na", "nb"] as const) {
    ns[k] = await lab.netns(k);
    await lab.veth(ns[k], "up0", core, `p${i++}`);
    await lab.addr(ns[k], "up0", `${addrs[k]}/24`);
  }
  await lab.bridge(core, "br0", ["p0", "p1", "p2", "p3"]);
  return ns;
}

function snConfig(dir: string, id: number, k: Keys, peerKey: string): string {
  const other = 3 - id;
  return `supernode:\n  default:\n    id: ${id}\n    state_dir: ${dir}/s${id}\n` +
    `    members:\n      - { key: "${k.a}", id: 10 }\n      - { key: "${k.b}", id: 20 }\n` +
    `    federation:\n      - { id: ${other}, address: "10.87.0.${other}:7654", key: "${peerKey}" }\n`;
}

function startSn(dir: string, ns: string, id: number): Daemon {
  return new Daemon(
    MAIN,
    [
      "supernode",
      "--config",
      `${dir}/s${id}.yaml`,
      "--listen",
      "0.0.0.0:7654",
      "--api",
      `127.0.0.1:${API}`,
    ],
    {},
    wrap(ns),
  );
}

Deno.test("vpn federation: nodes on two supernodes ping through FED_RELAY, then directly after FED_INTRO", async () => {
  requireRoot();
  const lab = await Lab.create("vfed");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const ns = await underlay(lab);
    const k = await makeKeys(dir);
    await Deno.writeTextFile(`${dir}/s1.yaml`, snConfig(dir, 1, k, k.s2));
    await Deno.writeTextFile(`${dir}/s2.yaml`, snConfig(dir, 2, k, k.s1));
    const s1 = startSn(dir, ns.s1, 1), s2 = startSn(dir, ns.s2, 2);
    daemons.push(s1, s2);
    await s1.waitLine(/federation peer 2 is up/, 20_000);
    await s2.waitLine(/federation peer 1 is up/, 20_000);

    // A's direct path to B is blocked: everything between them goes through the supernodes.
    await lab.exec(ns.na, [
      "nft",
      "add table ip l2tvfed; add chain ip l2tvfed out { type filter hook output priority 0; }; " +
      "add rule ip l2tvfed out ip daddr 10.87.0.12 drop; " +
      "add chain ip l2tvfed in { type filter hook input priority 0; }; " +
      "add rule ip l2tvfed in ip saddr 10.87.0.12 drop",
    ]);
    const nodes: [string, string, number, string, string][] = [
      [ns.na, "a", 10, "10.87.0.1", "10.99.7.10/24"],
      [ns.nb, "b", 20, "10.87.0.2", "10.99.7.20/24"],
    ];
    for (const [n, name, id, sn, addr] of nodes) {
      const snKey = name === "a" ? k.s1 : k.s2;
      await Deno.writeTextFile(
        `${dir}/${name}.yaml`,
        `node:\n  default:\n    state_dir: ${dir}/${name}\n    id: ${id}\n` +
          `    supernode: "${sn}:7654"\n    supernode_key: "${snKey}"\n`,
      );
      const d = new Daemon(
        MAIN,
        [
          "node",
          "--config",
          `${dir}/${name}.yaml`,
          "--tap",
          "v0",
          "--address",
          addr,
          "--api",
          `127.0.0.1:${API}`,
        ],
        {},
        wrap(n),
      );
      daemons.push(d);
      await d.waitLine(/registered as node/, 20_000);
    }

    // 1. Relayed across the supernodes.
    await waitFor(
      async () =>
        (await lab.exec(ns.na, ["ping", "-c", "1", "-W", "1", "10.99.7.20"], { allowFail: true }))
          .code === 0,
      30_000,
      "A pings B through the federation",
      200,
    );
    const back = await lab.exec(ns.nb, ["ping", "-c", "2", "-W", "2", "10.99.7.10"], {
      allowFail: true,
    });
    assert(back.stdout.includes("2 received"), `B pings A: ${back.stdout}`);
    // A's ARP request for B was a broadcast: B learned A's address from it.
    const neigh = await lab.exec(ns.nb, ["ip", "neigh", "show", "10.99.7.10", "dev", "v0"]);
    assert(/lladdr/.test(neigh.stdout), `B's neighbour entry for A: ${neigh.stdout}`);
    const aSt = await status(ns.na);
    const peerB = (aSt.peers ?? []).find((p: { node: number }) => p.node === 20);
    assertEquals(peerB?.path, "relay", JSON.stringify(aSt.peers));
    for (const [n, self, other, remote] of [[ns.s1, 1, 2, 20], [ns.s2, 2, 1, 10]] as const) {
      const st = await status(n);
      const f = st.federation;
      assertEquals(f?.id, self);
      const p = f.peers.find((x: { id: number }) => x.id === other);
      assertEquals(p?.state, "up", JSON.stringify(f));
      assertEquals(p.nodes, 1, `the remote node ${remote} is listed`);
      assert(p.relayed_to > 0 && p.relayed_from > 0, `relayed both ways: ${JSON.stringify(p)}`);
      assertEquals(p.digest_match, true);
      assert(typeof p.rtt_ms === "number");
    }
    const text = await runL2(["status", "--api", `127.0.0.1:${API}`], { wrap: wrap(ns.s1) });
    assert(/PEER\s+STATE/.test(text.stdout) && /\b2\s+up\b/.test(text.stdout), text.stdout);

    // 2. The block goes: the cross-supernode introduction makes the path direct.
    await lab.exec(ns.na, ["nft", "delete table ip l2tvfed"]);
    await waitFor(
      async () => {
        await lab.exec(ns.na, ["ping", "-c", "1", "-W", "1", "10.99.7.20"], { allowFail: true });
        const st = await status(ns.na);
        return (st.peers ?? []).find((p: { node: number }) => p.node === 20)?.path === "direct";
      },
      120_000,
      "A's path to B goes direct after the introduction",
      500,
    );
    // Either node may have asked; the introduction crossed the supernodes either way.
    const c1 = (await status(ns.s1)).federation.counters;
    const c2 = (await status(ns.s2)).federation.counters;
    assert(
      (c1.fed_intro_sent ?? 0) + (c2.fed_intro_sent ?? 0) > 0 &&
        (c1.fed_intro_in ?? 0) + (c2.fed_intro_in ?? 0) > 0,
      `FED_INTRO sent and passed on: ${JSON.stringify([c1, c2])}`,
    );
    const ok = await lab.exec(ns.na, ["ping", "-c", "3", "-i", "0.2", "-W", "5", "10.99.7.20"], {
      allowFail: true,
    });
    assert(ok.stdout.includes("3 received"), ok.stdout);
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("vpn federation: a supernode with a wrong key for its peer refuses it, and both log it", async () => {
  requireRoot();
  const lab = await Lab.create("vfedk");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const ns = await underlay(lab);
    const k = await makeKeys(dir);
    await Deno.mkdir(`${dir}/x`, { mode: 0o700 });
    const wrong = toBase64(writeNewKeyFile(`${dir}/x/other.key`));
    await Deno.writeTextFile(`${dir}/s1.yaml`, snConfig(dir, 1, k, wrong));
    await Deno.writeTextFile(`${dir}/s2.yaml`, snConfig(dir, 2, k, k.s1));
    const s1 = startSn(dir, ns.s1, 1), s2 = startSn(dir, ns.s2, 2);
    daemons.push(s1, s2);
    const refused = await s1.waitLine(
      /federation handshake refused from 10\.87\.0\.2:7654 claiming supernode id 2 with key ([0-9a-f]{16})/,
      20_000,
    );
    await s2.waitLine(/federation peer 1 \(key [0-9a-f]{16}\) refused our handshake/, 20_000);
    // The fingerprint logged is sn2's real key, not the configured one.
    const s2St = await status(ns.s2);
    const s1St = await status(ns.s1);
    const p = s1St.federation.peers[0];
    assert(p.key !== refused[1], "configured key and presented key differ");
    assert(p.state !== "up" && s2St.federation.peers[0].state !== "up");
    assert((s1St.federation.counters.fed_hs_refused ?? 0) > 0);
    assert(!s1.lines.some((l) => /federation peer 2 is up/.test(l)));
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
