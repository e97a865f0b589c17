/**
 * The LAS mesh (issue 18, core/las/mesh.ts) in memory, no root: two or
 * three LAS engines on an in-memory raw-IP network, each with edges
 * (`XconnectEngine` over a TAP twin), time explicit. Glare, split horizon,
 * circuit status and the idle teardown.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { lasMetrics, lasStatus } from "../../cmd/las_status.ts";
import { MetricsWriter } from "../../cmd/kit/metrics.ts";
import { summarize } from "../../cmd/status.ts";
import { MemFrameDevice, MemNet, seededRandom } from "../lab/twins.ts";
import { LasEngine, type LasStatus } from "../../core/las/engine.ts";
import { XconnectEngine } from "../../core/xconnect/engine.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { parseIp } from "../../core/addr.ts";
import { hash } from "../../cmd/kit/host.ts";
import type { SwitchOptions } from "../../core/switch.ts";

const SECRET = new TextEncoder().encode("mesh secret");
const auth = { secret: SECRET, hash, digest: "md5" as const };

function ip(text: string) {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

interface Edge {
  dev: MemFrameDevice;
  eng: XconnectEngine;
  sw: ReturnType<typeof socketWatch>;
  dw: ReturnType<typeof deviceWatch>;
  gone: boolean;
}

/** `n` LAS servers at 10.0.0.1.. (Router IDs 1..n unless given), each peered with all others. */
function meshLab(
  n: number,
  opts: {
    teardownMs?: number;
    routerIds?: number[];
    policy?: Record<number, SwitchOptions>;
    /** The peers of a LAS by index (default: all others). */
    peersOf?: Record<number, number[]>;
    /** A LAS's secret by index (default SECRET); its edges use the same. */
    secretOf?: Record<number, string>;
    /** Datagrams a LAS reads per batch (default 64). */
    batch?: number;
    /** L2TPv3 over UDP 1701 everywhere (LAS, peers, edges) instead of IP protocol 115. */
    udp?: boolean;
  } = {},
) {
  const net = new MemNet({ seed: 5 });
  const lines: string[] = [];
  const logger = new Logger({ level: "info", format: "text", debug: [] }, (l) => lines.push(l));
  const rand = seededRandom(17);
  const random32 = () => Math.floor(rand() * 0x1_0000_0000) >>> 0 || 1;
  const addr = (i: number) => `10.0.0.${i + 1}`;
  const lases: {
    eng: LasEngine;
    w: ReturnType<typeof socketWatch>;
    t: ReturnType<MemNet["open"]>;
    dead?: boolean;
  }[] = [];
  const authOf = (i: number) =>
    opts.secretOf?.[i] === undefined
      ? auth
      : { ...auth, secret: new TextEncoder().encode(opts.secretOf[i]) };
  const make = (i: number) => {
    const t = net.open(addr(i), opts.udp ? 1701 : 0, {
      raw: !opts.udp,
      ...(opts.batch ? { batch: opts.batch } : {}),
    });
    const peers = [];
    const mine = opts.peersOf?.[i];
    for (let j = 0; j < n; j++) {
      if (mine && !mine.includes(j)) continue;
      if (j === i) continue;
      peers.push(
        opts.udp
          ? {
            name: `${addr(j)}:1701`,
            transport: "udp" as const,
            to: { ip: ip(addr(j)), port: 1701 },
          }
          : { name: addr(j), transport: "ip" as const, to: { ip: ip(addr(j)), port: 0 } },
      );
    }
    const eng = new LasEngine({
      ...(opts.udp ? { udp: t } : { ip: t }),
      hostName: `las${i + 1}`,
      routerId: opts.routerIds?.[i] ?? i + 1,
      random32,
      helloIntervalMs: 60_000,
      retransmits: 5,
      switchPolicy: () => ({ name: "switch", options: opts.policy?.[i] ?? {} }),
      maxSwitches: 16,
      cookieLength: 4,
      acceptDst: null,
      auth: authOf(i),
      log: logger.topic(`las${i + 1}`),
      ...(peers.length ? { mesh: { peers, teardownMs: opts.teardownMs ?? 30_000 } } : {}),
    });
    const via = opts.udp ? 1 : 0;
    lases[i] = { eng, t, w: socketWatch({ name: "l2tp", socket: t, engine: eng, via }) };
  };
  for (let i = 0; i < n; i++) make(i);
  const edges: Edge[] = [];
  let next = 10;
  const edge = (las: number, vc: string): Edge => {
    const me = `10.0.1.${next++}`;
    const t = net.open(me, opts.udp ? 1701 : 0, { raw: !opts.udp });
    const dev = new MemFrameDevice();
    const eng = new XconnectEngine({
      port: t,
      kind: opts.udp ? "udp" : "ip",
      las: { ip: ip(addr(las)), port: opts.udp ? 1701 : 0 },
      lasName: opts.udp ? `${addr(las)}:1701` : addr(las),
      vcId: vc,
      device: dev,
      deviceName: dev.name,
      hostName: me,
      routerId: 100 + next,
      random32,
      helloIntervalMs: 60_000,
      auth: authOf(las),
      log: logger.topic(me),
    });
    const e = {
      dev,
      eng,
      sw: socketWatch({ name: "ip", socket: t, engine: eng }),
      dw: deviceWatch({ name: "tap", device: dev, engine: eng }),
      gone: false,
    };
    edges.push(e);
    return e;
  };
  let now = 0;
  const run = (ms: number) => {
    for (const end = now + ms; now < end; now += 10) {
      for (const l of lases) while (!l.dead && l.w.onReadable(now) > 0) { /* drain */ }
      for (const e of edges) {
        if (e.gone) continue;
        while (e.sw.onReadable(now) > 0) { /* drain */ }
        while (e.dw.onReadable(now) > 0) { /* drain */ }
        e.eng.poll(now);
      }
      for (const l of lases) if (!l.dead) l.eng.poll(now);
    }
  };
  const start = () => lases.forEach((l) => l.eng.start(now));
  const st = (i: number): LasStatus => lases[i].eng.status(now);
  /** LAS `i` dies without a word (its state is lost) and a new one starts at its address. */
  const restart = (i: number) => {
    lases[i].t.close();
    make(i);
    lases[i].eng.start(now);
  };
  /** LAS `i` goes silent for good. */
  const kill = (i: number) => {
    lases[i].t.close();
    lases[i].dead = true;
  };
  return { lases, edge, run, start, st, restart, kill, lines, now: () => now };
}

function frame(dst: number, src: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  if (dst === 0xff) f.fill(0xff, 0, 6);
  else {
    f[0] = 0x02;
    f[5] = dst;
  }
  f[6] = 0x02;
  f[11] = src;
  f[12] = 0x08;
  return f;
}

const peerSessions = (s: LasStatus, vc?: string) =>
  s.sessions.filter((x) => x.peer_las && (vc === undefined || x.vc === vc));

Deno.test("las mesh: one authenticated connection per pair; a VC spans both servers, another VC does not", () => {
  const l = meshLab(2);
  const a = l.edge(0, "100");
  const b = l.edge(1, "100");
  const c = l.edge(1, "200");
  l.start();
  for (const e of [a, b, c]) e.eng.start(0);
  l.run(3000);
  assertEquals([a.eng.state, b.eng.state, c.eng.state], ["up", "up", "up"]);
  for (const i of [0, 1]) {
    const s = l.st(i);
    // Both dialed at once: the second connection is closed (it may still be closing).
    const mesh = s.connections.filter((x) => x.peer_las && x.state === "established");
    assertEquals(
      mesh.length,
      1,
      `LAS ${i + 1}: one mesh connection ${JSON.stringify(s.connections)}`,
    );
    assertEquals(s.mesh.map((p) => p.state), ["up"]);
  }
  // LAS 1 has an edge on VC 100 only, LAS 2 on VC 100 and 200: a session for each VC present
  // on either side.
  assertEquals(peerSessions(l.st(0)).map((x) => x.vc).sort(), ["100", "200"]);
  assertEquals(peerSessions(l.st(1)).map((x) => x.vc).sort(), ["100", "200"]);
  const sw100 = l.st(0).switches.find((s) => s.vc === "100")!;
  assertEquals(sw100.ports_by_server, { local: 1, "10.0.0.2": 1 });

  a.dev.inject(frame(0xff, 0xa1));
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 1, "b (other server, same VC) got a's broadcast");
  assertEquals(c.dev.takeWritten().length, 0, "VC 200 did not");
  b.dev.inject(frame(0xa1, 0xb2));
  l.run(50);
  const got = a.dev.takeWritten();
  assertEquals(got.length, 1, "unicast back across the mesh");
  assertEquals(got[0][11], 0xb2);
  // MACs behind the other server are learned on its session.
  const mac = l.st(0).mac_table.find((m) => m.mac.endsWith(":b2"))!;
  assertEquals(mac.peer, "10.0.0.2");
  const p = l.st(0).mesh[0];
  assertEquals([p.tx_frames, p.rx_frames], [1, 1]);
  assertEquals([p.tx_bytes, p.rx_bytes], [60, 60]);
});

Deno.test("las mesh: glare: both servers ICRQ one VC at once; the lower Router ID's stands", () => {
  // One datagram per batch: each LAS handles its edge's ICCN (and sends its own ICRQ) before it
  // reads the other's ICRQ, as when the two cross on a real network.
  const l = meshLab(2, { batch: 1 });
  l.start();
  l.run(3000);
  assertEquals(l.st(0).mesh[0].state, "up");
  // Both edges come up in the same steps: each LAS sends its ICRQ before the other's arrives.
  const a = l.edge(0, "100");
  const b = l.edge(1, "100");
  a.eng.start(l.now());
  b.eng.start(l.now());
  l.run(2000);
  const s1 = l.st(0).mesh[0].counters;
  const s2 = l.st(1).mesh[0].counters;
  assertEquals([s1.sessions_glare_won, s1.sessions_glare_lost], [1, 0], JSON.stringify(s1));
  assertEquals([s2.sessions_glare_won, s2.sessions_glare_lost], [0, 1], JSON.stringify(s2));
  for (const i of [0, 1]) assertEquals(peerSessions(l.st(i), "100").length, 1);
  // The session that stands is LAS 1's (it opened it): LAS 2 answered it.
  assertEquals(s1.sessions_opened, 1);
  a.dev.inject(frame(0xff, 0xa1));
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 1);
});

Deno.test("las mesh: three servers in a full mesh: a broadcast reaches each edge once (split horizon)", () => {
  const l = meshLab(3);
  const e = [l.edge(0, "100"), l.edge(1, "100"), l.edge(2, "100")];
  l.start();
  for (const x of e) x.eng.start(0);
  l.run(3000);
  for (const i of [0, 1, 2]) {
    assertEquals(l.st(i).mesh.map((p) => p.state), ["up", "up"], `LAS ${i + 1}`);
    assertEquals(peerSessions(l.st(i), "100").length, 2);
  }
  e[0].dev.inject(frame(0xff, 0xa1));
  l.run(200);
  assertEquals(e[1].dev.takeWritten().length, 1);
  assertEquals(e[2].dev.takeWritten().length, 1);
  assertEquals(e[0].dev.takeWritten().length, 0, "no echo back to the sender");
  // LAS 2 and 3 got it from LAS 1 and sent it to no other server.
  for (const i of [1, 2]) {
    const byPeer = Object.fromEntries(l.st(i).mesh.map((p) => [p.peer, p]));
    assertEquals(byPeer["10.0.0.1"].rx_frames, 1);
    const other = i === 1 ? "10.0.0.3" : "10.0.0.2";
    assertEquals([byPeer[other].rx_frames, byPeer[other].tx_frames], [0, 0]);
  }
  // An unknown unicast too: flooded once over the mesh, never between the other two.
  e[1].dev.inject(frame(0x77, 0xb2));
  l.run(200);
  assertEquals(e[0].dev.takeWritten().length, 1);
  assertEquals(e[2].dev.takeWritten().length, 1);
});

Deno.test("las mesh: circuit status and teardown: a VC with no edges on either side goes after the delay", () => {
  const l = meshLab(2, { teardownMs: 2000 });
  const a = l.edge(0, "100");
  l.start();
  a.eng.start(0);
  l.run(3000);
  // LAS 2 has no edges on VC 100: it has the switch with just the peer port, and says A=0.
  assertEquals(peerSessions(l.st(1), "100").length, 1);
  assertEquals(l.st(1).switches.find((s) => s.vc === "100")!.ports_by_server, {
    local: 0,
    "10.0.0.1": 1,
  });
  // Stays while LAS 1 has an edge, however long.
  l.run(5000);
  assertEquals(peerSessions(l.st(0), "100").length, 1);
  assertEquals(peerSessions(l.st(1), "100").length, 1);

  // The edge leaves: LAS 1 says A=0; both sides now have none. A new edge within the delay
  // keeps the session (not flapped).
  a.eng.stop(l.now());
  l.run(500);
  a.gone = true;
  assertEquals(l.st(0).sessions.filter((x) => !x.peer_las).length, 0);
  assertEquals(peerSessions(l.st(0), "100").length, 1, "not before the delay");
  const b = l.edge(1, "100");
  b.eng.start(l.now());
  l.run(3000);
  assertEquals(b.eng.state, "up");
  assertEquals(peerSessions(l.st(0), "100").length, 1, "kept: LAS 2 has an edge now");
  assertEquals(l.st(0).mesh[0].counters.sessions_torn_down_idle, 0);
  assertEquals(l.st(1).mesh[0].counters.sessions_opened, 0, "the same session, not a new one");

  b.eng.stop(l.now());
  l.run(500);
  b.gone = true;
  assertEquals(peerSessions(l.st(1), "100").length, 1, "not before the delay");
  l.run(2500);
  for (const i of [0, 1]) {
    assertEquals(peerSessions(l.st(i)).length, 0, `LAS ${i + 1}: torn down`);
    assertEquals(l.st(i).switches.length, 0, `LAS ${i + 1}: the switch went with it`);
  }
  const torn = l.st(0).mesh[0].counters.sessions_torn_down_idle +
    l.st(1).mesh[0].counters.sessions_torn_down_idle;
  assert(torn >= 1);
  // The mesh connection stays up for the next VC.
  assertEquals(l.st(0).mesh[0].state, "up");
});

Deno.test("las mesh: refused without a shared secret", () => {
  let err = "";
  try {
    new LasEngine({
      ip: new MemNet().open("10.0.0.1", 0, { raw: true }),
      hostName: "x",
      routerId: 1,
      random32: () => 1,
      helloIntervalMs: 60_000,
      retransmits: 5,
      switchPolicy: () => ({ name: "switch", options: {} }),
      maxSwitches: 1,
      cookieLength: 0,
      acceptDst: null,
      auth: null,
      log: new Logger({ level: "info", format: "text", debug: [] }, () => {}).topic("x"),
      mesh: { peers: [{ name: "10.0.0.2", transport: "ip", to: { ip: ip("10.0.0.2"), port: 0 } }] },
    });
  } catch (e) {
    err = (e as Error).message;
  }
  assertEquals(err, "a LAS mesh needs a shared secret (las.secret)");
});

Deno.test("las mesh: a restarted server is back in the mesh at once, whichever Router ID it has", () => {
  for (const who of [1, 0]) {
    const l = meshLab(2);
    const a = l.edge(0, "100");
    const b = l.edge(1, "100");
    l.start();
    a.eng.start(0);
    b.eng.start(0);
    l.run(10_000);
    assertEquals(l.st(0).mesh[0].state, "up");
    // LAS `who` is killed and restarted; its edge re-dials it (the edge side is not under test:
    // a new edge stands in for it). The survivor still has the old connection up: the new
    // one the restarted server dials replaces it, even when the survivor has the lower
    // Router ID (it would otherwise wait out its HELLO timers).
    l.restart(who);
    const c = l.edge(who, "100");
    if (who === 0) a.gone = true;
    else b.gone = true;
    c.eng.start(l.now());
    l.run(3000);
    const other = 1 - who;
    assertEquals(l.st(who).mesh[0].state, "up", `restarted LAS ${who + 1}`);
    const up = l.st(other).connections.filter((x) => x.peer_las && x.state === "established");
    assertEquals(up.length, 1, JSON.stringify(l.st(other).connections));
    assertEquals(peerSessions(l.st(who), "100").length, 1);
    const survivor = who === 0 ? b : a;
    survivor.dev.takeWritten();
    c.dev.inject(frame(0xff, 0xc3));
    l.run(50);
    assertEquals(survivor.dev.takeWritten().length, 1, `restarted LAS ${who + 1}: frames cross`);
  }
});

Deno.test("las mesh: a peer port learns past max_macs_per_session (a whole server's MACs), within max_macs", () => {
  // LAS 1 learns at most 5 MACs per session and 100 per switch.
  const l = meshLab(2, { policy: { 0: { maxMacsPerPort: 5, maxMacs: 100 } } });
  const a = l.edge(0, "100");
  const b = l.edge(1, "100");
  l.start();
  a.eng.start(0);
  b.eng.start(0);
  l.run(3000);
  // 20 source MACs from b (behind LAS 2) reach LAS 1 on its one peer port.
  for (let m = 1; m <= 20; m++) b.dev.inject(frame(0xff, m));
  l.run(200);
  const macs = l.st(0).mac_table.filter((x) => x.peer === "10.0.0.2").length;
  assertEquals(macs, 20);
});

Deno.test("las mesh: l2 status shows the peer LAS table, ports by server, and a peer not connected as a problem", () => {
  const l = meshLab(2);
  const a = l.edge(0, "100");
  const b = l.edge(1, "100");
  l.start();
  a.eng.start(0);
  b.eng.start(0);
  l.run(3000);
  const doc = { role: "las", name: "default", ...lasStatus(l.lases[0].eng.snapshot(l.now()), 0) };
  let s = summarize(doc, "127.0.0.1:7657");
  assertStringIncludes(s, "no problems seen");
  assertStringIncludes(s, "peer LAS (1):");
  assert(/10\.0\.0\.2\s+up\s+0\.0\.0\.2/.test(s), s);
  assertStringIncludes(s, "2 (local 1, 10.0.0.2 1)");
  assertStringIncludes(s, "10.0.0.2 (peer LAS)");
  const w = new MetricsWriter();
  lasMetrics(w, l.lases[0].eng.snapshot(l.now()));
  const m = w.render();
  assertStringIncludes(m, 'l2_las_mesh_peer_up{peer="10.0.0.2"} 1');
  assertStringIncludes(m, 'l2_las_mesh_sessions{peer="10.0.0.2"} 1');
  // LAS 2 goes silent for good: LAS 1 says so once its connection is given up.
  l.kill(1);
  b.gone = true;
  l.run(70_000 + 40_000);
  const doc2 = { role: "las", name: "default", ...lasStatus(l.lases[0].eng.snapshot(l.now()), 0) };
  s = summarize(doc2, "127.0.0.1:7657");
  assertStringIncludes(s, "1 peer LAS not connected: 10.0.0.2");
});

Deno.test("las mesh: a LAS that is not in peers is refused, never taken as an edge", () => {
  // LAS 1 lists LAS 2; LAS 2 lists no one.
  const l = meshLab(2, { peersOf: { 0: [1], 1: [] } });
  const a = l.edge(0, "100");
  const b = l.edge(1, "100");
  l.start();
  a.eng.start(0);
  b.eng.start(0);
  l.run(5000);
  assert(l.st(1).counters.mesh_refused_not_peer >= 1, JSON.stringify(l.st(1).counters));
  assertEquals(l.st(1).sessions.map((x) => x.peer), ["10.0.1.11"], "only its own edge");
  assert(l.st(0).mesh[0].state !== "up");
  a.dev.inject(frame(0xff, 0xa1));
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 0);
});

Deno.test("las mesh: a peer with another secret never joins", () => {
  const l = meshLab(2, { secretOf: { 1: "another secret" } });
  const a = l.edge(0, "100");
  const b = l.edge(1, "100");
  l.start();
  a.eng.start(0);
  b.eng.start(0);
  l.run(20_000);
  assertEquals([a.eng.state, b.eng.state], ["up", "up"], "each edge has its own LAS's secret");
  for (const i of [0, 1]) {
    assert(l.st(i).mesh[0].state !== "up", `LAS ${i + 1}`);
    assertEquals(peerSessions(l.st(i)).length, 0);
    assertEquals(l.st(i).connections.filter((c) => c.peer_las && c.state === "established"), []);
  }
  const rejected = l.lases[1].eng.snapshot(l.now()).l2tp[0].counters;
  assert((rejected.rejected_auth_failed ?? 0) >= 1, JSON.stringify(rejected));
  a.dev.inject(frame(0xff, 0xa1));
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 0);
});

Deno.test("las mesh: edges first, then the mesh: one session per VC, frames cross", () => {
  // When the mesh connection comes up, the dialer's ICRQs follow its SCCCN at once, and both
  // servers dialed: the answering LAS may read an ICRQ before it has handled the connection-up
  // (`Mesh.admit` takes the connection up then), and a duplicate connection is closed.
  const l = meshLab(2, { routerIds: [1, 2] });
  const a = l.edge(0, "100");
  const b = l.edge(1, "100");
  a.eng.start(0);
  b.eng.start(0);
  l.run(1000);
  assertEquals([a.eng.state, b.eng.state], ["up", "up"]);
  l.start();
  l.run(3000);
  for (const i of [0, 1]) {
    const s = l.st(i);
    assertEquals(peerSessions(s, "100").length, 1, JSON.stringify(s.sessions));
    assertEquals(s.switches[0].ports_by_server, { local: 1, [`10.0.0.${2 - i}`]: 1 });
    assertEquals(s.mesh[0].counters.sessions_refused_duplicate, 0);
  }
  a.dev.inject(frame(0xff, 0xa1));
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 1);
});

Deno.test("las mesh: over UDP 1701 too (peers with udp: true)", () => {
  const l = meshLab(3, { udp: true });
  const e = [l.edge(0, "100"), l.edge(1, "100"), l.edge(2, "100")];
  l.start();
  for (const x of e) x.eng.start(0);
  l.run(3000);
  for (const i of [0, 1, 2]) {
    assertEquals(l.st(i).mesh.map((p) => [p.transport, p.state]), [["udp", "up"], ["udp", "up"]]);
    assertEquals(peerSessions(l.st(i), "100").length, 2);
  }
  e[0].dev.inject(frame(0xff, 0xa1));
  l.run(200);
  assertEquals([e[1].dev.takeWritten().length, e[2].dev.takeWritten().length], [1, 1]);
});

Deno.test("las mesh: nothing is sent to a peer LAS that says it has no edges on the VC", () => {
  const l = meshLab(2);
  const a = l.edge(0, "100");
  const a2 = l.edge(0, "100");
  l.start();
  a.eng.start(0);
  a2.eng.start(0);
  l.run(3000);
  // LAS 2 has no edges on VC 100: it said A=0, so LAS 1 floods to a2 only.
  a.dev.inject(frame(0xff, 0xa1));
  l.run(50);
  assertEquals(a2.dev.takeWritten().length, 1);
  const peer = () => peerSessions(l.st(0), "100")[0];
  assertEquals([peer().tx_frames, peer().tx_idle], [0, 1]);
  assertEquals(l.st(1).switches[0].rx_frames, 0, "LAS 2 got nothing to drop");
  // An edge comes to LAS 2: it says A=1 and frames flow to it.
  const b = l.edge(1, "100");
  b.eng.start(l.now());
  l.run(1000);
  a.dev.inject(frame(0xff, 0xa1));
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 1);
  assertEquals([peer().tx_frames, peer().tx_idle], [1, 1]);
});
