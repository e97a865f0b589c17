/**
 * The LAS mesh (issue 18's proof, docs/las-redundancy.md "Mesh"), in
 * namespaces this test creates (tags "lasmesh", "lasmesh3"):
 *
 * 1. Two servers, e1 on the first and e2 on the second on VC 100, e3 on the
 *    second on VC 200: IPv4 and IPv6 pings e1 <-> e2 pass; e3 reaches
 *    neither; /status marks the peer-LAS connection and sessions and shows
 *    the switch's ports by server.
 * 2. Three servers in a full mesh (each listening on one address), an edge on each: one broadcast from e1
 *    reaches e2 and e3 exactly once (captured), and no server sent a peer
 *    more frames than its own edges gave it (split horizon).
 *
 *   [e1] [e2] [e3] ... --\
 *                        core bridge (10.78.0.0/24) --- [las1] [las2] [las3]
 */
import { assert, assertEquals } from "../assert.ts";
import { Lab, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";

const wrap = (ns: string) => ["ip", "netns", "exec", ns];

async function status(ns: string, port: number) {
  const r = await runL2(["status", "--api", `127.0.0.1:${port}`, "--json"], { wrap: wrap(ns) });
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function ping(lab: Lab, ns: string, addr: string, count = 3) {
  const v6 = addr.includes(":") ? ["-6"] : [];
  return await lab.exec(ns, ["ping", ...v6, "-c", String(count), "-i", "0.2", "-W", "2", addr], {
    allowFail: true,
    timeoutMs: 15_000,
  });
}

type Peer = {
  peer: string;
  state: string;
  sessions_up: number;
  rx_frames: number;
  tx_frames: number;
};
type Sess = { vc: string; peer: string; peer_las: boolean; rx_frames: number };

/** A mesh of `n` LAS servers and one edge per entry of `edges` ([server index, VC]). */
async function meshLab(tag: string, n: number, edges: [number, string][]) {
  const lab = await Lab.create(tag);
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  const net = tag === "lasmesh" ? "10.78.0" : "10.79.0";
  const close = async () => {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    const core = await lab.netns("core");
    const las: string[] = [];
    const es: string[] = [];
    const members: string[] = [];
    for (let i = 0; i < n; i++) las.push(await lab.netns(`las${i + 1}`));
    for (let i = 0; i < edges.length; i++) es.push(await lab.netns(`e${i + 1}`));
    for (const [i, ns] of [...las, ...es].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `${net}.${i + 1}/24`);
      members.push(`p${i}`);
    }
    await lab.bridge(core, "br0", members);
    const lasd: Daemon[] = [];
    for (let i = 0; i < n; i++) {
      const peers = las.map((_, j) => j).filter((j) => j !== i).map((j) =>
        `      - { address: ${net}.${j + 1} }\n`
      ).join("");
      const cfg = `${dir}/las${i + 1}.yaml`;
      await Deno.writeTextFile(
        cfg,
        `las:\n  default:\n    secret: mesh-s3cret\n    hello_interval: 2\n    retransmits: 3\n` +
          // The three-server lab listens on one address (dials leave from it).
          (n === 3 ? `    listen: [${net}.${i + 1}]\n` : "") +
          `    api: 127.0.0.1:7757\n    peers:\n${peers}`,
        { mode: 0o600 },
      );
      const d = new Daemon(MAIN, ["las", "--config", cfg], {}, wrap(las[i]));
      daemons.push(d);
      lasd.push(d);
    }
    for (const d of lasd) await d.waitLine(/listening for L2TPv3/);
    for (const d of lasd) {
      for (let k = 0; k < n - 1; k++) {
        await d.waitLine(/mesh: connection with peer LAS \S+ .* is up/, 30_000);
      }
    }
    const xd: Daemon[] = [];
    for (const [k, [server, vc]] of edges.entries()) {
      const cfg = `${dir}/e${k + 1}.yaml`;
      await Deno.writeTextFile(cfg, `xconnect:\n  default:\n    secret: mesh-s3cret\n`, {
        mode: 0o600,
      });
      const d = new Daemon(
        MAIN,
        [
          "xconnect",
          `${net}.${server + 1}`,
          vc,
          "--tap",
          "x0",
          "--api",
          "127.0.0.1:7758",
          "-c",
          cfg,
        ],
        {},
        wrap(es[k]),
      );
      daemons.push(d);
      xd.push(d);
    }
    for (const d of xd) await d.waitLine(/session \d+ on VC \d+ is up/, 20_000);
    return { lab, las, es, close };
  } catch (e) {
    await close();
    throw e;
  }
}

Deno.test("las mesh: two servers, one VC spans both (IPv4, IPv6); another VC reaches neither", async () => {
  const m = await meshLab("lasmesh", 2, [[0, "100"], [1, "100"], [1, "200"]]);
  const { lab, las, es } = m;
  try {
    for (const [i, ns] of es.entries()) {
      await lab.addr(ns, "x0", `192.168.78.${i + 1}/24`);
      await lab.addr(ns, "x0", `fd78::${i + 1}/64`);
    }
    // Both servers have a session for each VC present on either (VC 100 and VC 200).
    await waitFor(
      async () => {
        for (const ns of las) {
          const s = await status(ns, 7757);
          const vcs = (s.sessions as Sess[]).filter((x) => x.peer_las).map((x) => x.vc).sort();
          if (vcs.join() !== "100,200") return false;
        }
        return true;
      },
      20_000,
      "peer-LAS sessions for VC 100 and 200 on both servers",
    );

    let r = await ping(lab, es[0], "192.168.78.2");
    assertEquals(r.code, 0, `IPv4 e1 (las1) -> e2 (las2) over VC 100: ${r.stdout}`);
    // For the record (no bound): the round trip through two servers.
    console.log(
      `e1 -> e2 across two LAS: ${r.stdout.split("\n").find((l) => l.startsWith("rtt"))}`,
    );
    r = await ping(lab, es[0], "fd78::2");
    assertEquals(r.code, 0, `IPv6 e1 -> e2 over VC 100: ${r.stdout}`);
    r = await ping(lab, es[1], "192.168.78.1");
    assertEquals(r.code, 0, `IPv4 e2 -> e1: ${r.stdout}`);
    r = await ping(lab, es[2], "192.168.78.1", 2);
    assert(r.code !== 0, `e3 (VC 200) must not reach e1: ${r.stdout}`);
    r = await ping(lab, es[2], "192.168.78.2", 2);
    assert(r.code !== 0, `e3 (VC 200) must not reach e2 on its own server: ${r.stdout}`);
    r = await ping(lab, es[0], "192.168.78.3", 2);
    assert(r.code !== 0, `e1 must not reach e3: ${r.stdout}`);

    const s1 = await status(las[0], 7757);
    type Conn = { peer: string; peer_las: boolean; state: string };
    // A second connection from both dialing at once may still be closing: count those up.
    const meshConn = s1.connections.filter((c: Conn) => c.peer_las && c.state === "established");
    assertEquals(meshConn.length, 1, JSON.stringify(s1.connections));
    assertEquals(meshConn[0].peer, "10.78.0.2");
    assertEquals(s1.connections.filter((c: Conn) => !c.peer_las).map((c: Conn) => c.peer), [
      "10.78.0.3",
    ]);
    const sw = s1.switches.find((x: { vc: string }) => x.vc === "100");
    assertEquals(sw.ports_by_server, { local: 1, "10.78.0.2": 1 });
    const p: Peer = s1.mesh[0];
    assertEquals([p.peer, p.state, p.sessions_up], ["10.78.0.2", "up", 2]);
    assert(p.tx_frames >= 3 && p.rx_frames >= 3, JSON.stringify(p));
    const metrics = await runL2(["status", "--api", "127.0.0.1:7757", "--metrics"], {
      wrap: wrap(las[0]),
    });
    assert(
      metrics.stdout.includes('l2_las_mesh_frames_total{peer="10.78.0.2",direction="tx"}'),
      metrics.stdout,
    );
    const text = await runL2(["status", "--api", "127.0.0.1:7757"], { wrap: wrap(las[0]) });
    assert(text.stdout.includes("peer LAS (1)"), text.stdout);
  } finally {
    await m.close();
  }
});

Deno.test("las mesh: three servers in a full mesh: one broadcast reaches each edge once", async () => {
  const m = await meshLab("lasmesh3", 3, [[0, "100"], [1, "100"], [2, "100"]]);
  const { lab, las, es } = m;
  try {
    for (const [i, ns] of es.entries()) await lab.addr(ns, "x0", `192.168.79.${i + 1}/24`);
    await waitFor(
      async () => {
        for (const ns of las) {
          const s = await status(ns, 7757);
          if ((s.sessions as Sess[]).filter((x) => x.peer_las).length !== 2) return false;
        }
        return true;
      },
      20_000,
      "two peer-LAS sessions for VC 100 on every server",
    );
    // Captures on e2 and e3 of what comes in on x0: ICMP echo requests to the broadcast address.
    const caps = es.slice(1).map((ns) =>
      lab.spawn(ns, [
        "tcpdump",
        "-l",
        "-n",
        "-Q",
        "in",
        "-i",
        "x0",
        "icmp[icmptype] == icmp-echo and dst host 192.168.79.255",
      ])
    );
    for (const c of caps) {
      await waitFor(() => c.stderr.includes("listening on"), 15_000, "tcpdump to start");
    }
    const r = await lab.exec(es[0], ["ping", "-b", "-c", "1", "-W", "1", "192.168.79.255"], {
      allowFail: true,
      timeoutMs: 10_000,
    });
    assert(r.stdout.includes("1 packets transmitted"), r.stdout + r.stderr);
    // A loop would deliver copies within milliseconds; wait well past that before counting.
    await new Promise((r) => setTimeout(r, 2000));
    for (const [k, c] of caps.entries()) {
      const out = await c.stop(1000);
      const lines = out.stdout.split("\n").filter((l) => l.includes("ICMP echo request"));
      assertEquals(
        lines.length,
        1,
        `e${k + 2} got the broadcast once:\n${out.stdout}${out.stderr}`,
      );
    }
    // Split horizon in the counters: no server sent a peer more frames than its own edges gave it.
    for (const ns of las) {
      const s = await status(ns, 7757);
      const fromEdges = (s.sessions as Sess[]).filter((x) => !x.peer_las)
        .reduce((a, x) => a + x.rx_frames, 0);
      for (const p of s.mesh as Peer[]) {
        assert(p.tx_frames <= fromEdges, `${ns} -> ${p.peer}: ${p.tx_frames} > ${fromEdges}`);
        assert(p.rx_frames >= 1, JSON.stringify(p));
      }
    }
  } finally {
    await m.close();
  }
});
