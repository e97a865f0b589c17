/**
 * Containment (cmd/kit/contain.ts): what one packet makes a handler throw
 * stays with that packet. The counting and rate-limited logging of
 * `Containment`, and the LAS engine in memory with a fault injected into
 * the handling of one datagram and of one event: the rest of the batch is
 * served, the error is counted with the peer's address.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Containment, errorKind, MAX_KEYS } from "../../cmd/kit/contain.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { MetricsWriter } from "../../cmd/kit/metrics.ts";
import { MemFrameDevice, MemNet, seededRandom } from "../lab/twins.ts";
import { LasEngine } from "../../core/las/engine.ts";
import { XconnectEngine } from "../../core/xconnect/engine.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import { lasStatus } from "../../cmd/las_status.ts";
import { xconnectStatus } from "../../cmd/xconnect_status.ts";
import { parseIp } from "../../core/addr.ts";
import { OsError } from "../../ffi/libc.ts";
import { SupernodeEngine } from "../../core/vpn/supernode_engine.ts";
import { NodeEngine } from "../../core/vpn/node_engine.ts";
import { EndpointTable, keyedEndpoint } from "../../core/addr.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { LeafTable } from "../../core/leaf_table.ts";
import { writeMac } from "../../core/mac.ts";

function capture(now: () => number = Date.now) {
  const lines: string[] = [];
  const logger = new Logger(
    { level: "info", format: "text", debug: [] },
    (l) => lines.push(l),
    now,
  );
  return { lines, logger };
}

Deno.test("contain: counts by handler and kind, logs the peer, first 5 per window then one summary", () => {
  let t = 1_000_000;
  const { lines, logger } = capture(() => t);
  const c = new Containment("las", logger.topic("las"), { now: () => t });
  for (let i = 0; i < 12; i++) {
    c.packet("ip", new RangeError(`AVP of ${1100 + i} bytes exceeds 1023`), `192.0.2.${i}`);
  }
  c.packet("udp", new TypeError("x is undefined"), "192.0.2.99:1701");
  assertEquals(c.total, 13);
  assertEquals(lines.length, 6, lines.join("\n"));
  assertStringIncludes(lines[0], "packet from 192.0.2.0 dropped");
  assertStringIncludes(lines[0], "handler=ip kind=RangeError peer=192.0.2.0");
  assertStringIncludes(lines[0], 'error="AVP of 1100 bytes exceeds 1023"');
  assert(/ at=\S*contain_test\.ts:\d+:\d+/.test(lines[0]), lines[0]);
  assertStringIncludes(lines[5], "peer=192.0.2.99:1701");
  // The window ends: one line for the 7 not printed, naming their peers (8 at most).
  t += 10_000;
  c.flush();
  assertEquals(lines.length, 7);
  assertStringIncludes(lines[6], "7 more RangeError errors in the ip handler in the last 10 s");
  assertStringIncludes(lines[6], "peers=192.0.2.5,192.0.2.6");
  c.flush(); // nothing more to say
  assertEquals(lines.length, 7);
  const w = new MetricsWriter();
  c.metrics(w);
  const text = w.render();
  assertStringIncludes(
    text,
    'l2_packet_errors_total{daemon="las",handler="ip",kind="RangeError"} 12',
  );
  assertStringIncludes(
    text,
    'l2_packet_errors_total{daemon="las",handler="udp",kind="TypeError"} 1',
  );
  const st = c.status() as { total: number; by_handler: Record<string, Record<string, number>> };
  assertEquals(st.total, 13);
  assertEquals(st.by_handler, { ip: { RangeError: 12 }, udp: { TypeError: 1 } });
});

Deno.test("contain: the message is bounded and quoted; the table is bounded; a loop failure in a row is said", () => {
  const { lines, logger } = capture();
  const c = new Containment("node", logger.topic("node"));
  c.packet("udp", new Error("evil\nfake log line " + "x".repeat(500)), "198.51.100.1:9");
  assertEquals(lines.length, 1);
  assert(!lines[0].includes("\nfake"), "a newline in the message cannot start a log line");
  assert(lines[0].length < 600, `bounded: ${lines[0].length}`);
  for (let i = 0; i < MAX_KEYS + 10; i++) {
    c.packet(`h${i}`, new Error("e"));
  }
  const st = c.status() as { by_handler: Record<string, Record<string, number>> };
  assertEquals(Object.keys(st.by_handler).length, MAX_KEYS + 1, "MAX_KEYS pairs, then 'other'");
  assert((st.by_handler.other?.Error ?? 0) >= 10);
  const c2 = new Containment("node", logger.topic("node"));
  const hook = c2.loopHook({ 7: "tap" });
  const before = lines.length;
  for (let n = 1; n <= 10; n++) hook(new OsError("read(tap)", 5), "readable", 7, n);
  const said = lines.slice(before);
  assert(said.some((l) => l.includes("handler=tap kind=OsError")), said.join("\n"));
  assert(
    said.some((l) => l.includes("the tap handler has failed 10 times in a row")),
    said.join("\n"),
  );
  hook(new Error("t"), "deadline", -1, 1);
  assertEquals((c2.status() as { last: { handler: string } }).last.handler, "timer");
  assertEquals(errorKind("a string"), "string");
  assertEquals(errorKind(new OsError("x", 9)), "OsError");
});

/** A LAS and three xconnect edges in memory; `contain` collects what the LAS contained. */
function lasLab(o: { poisonVc?: string; poisonPeer?: string }) {
  const net = new MemNet({ seed: 5 });
  const lines: string[] = [];
  // The fault: a log line about the poisoned peer throws, as a bug on that datagram's path would.
  const logger = new Logger({ level: "info", format: "text", debug: [] }, (l) => {
    if (o.poisonPeer && l.includes(o.poisonPeer)) throw new TypeError("injected fault");
    lines.push(l);
  });
  const contained: { handler: string; err: unknown; peer: string | null }[] = [];
  const rand = seededRandom(7);
  const random32 = () => Math.floor(rand() * 0x1_0000_0000) >>> 0 || 1;
  const lt = net.open("10.0.0.1", 0, { raw: true });
  const las = new LasEngine({
    ip: lt,
    hostName: "las",
    routerId: 1,
    random32,
    helloIntervalMs: 60_000,
    retransmits: 5,
    switchPolicy: (vc) => {
      // The other fault: building one VC's switch throws (a session-up event, after the batch).
      if (vc === o.poisonVc) throw new RangeError(`no policy for VC ${vc}`);
      return { name: "switch", options: {} };
    },
    maxSwitches: 16,
    cookieLength: 0,
    acceptDst: null,
    auth: null,
    log: logger.topic("las"),
    contain: (handler, err, peer) => contained.push({ handler, err, peer }),
  });
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  const lw = socketWatch({
    name: "ip",
    socket: lt,
    engine: las,
    via: 0,
    contain: (handler, err, peer) => contained.push({ handler, err, peer }),
  });
  const edges: {
    dev: MemFrameDevice;
    eng: XconnectEngine;
    sw: ReturnType<typeof socketWatch>;
    dw: ReturnType<typeof deviceWatch>;
  }[] = [];
  const edgeLines: string[] = [];
  const edgeContained: { handler: string; err: unknown; peer: string | null }[] = [];
  const edgeLog = new Logger(
    { level: "info", format: "text", debug: [] },
    (l) => edgeLines.push(l),
  );
  const edgeSink = (handler: string, err: unknown, peer: string | null) =>
    edgeContained.push({ handler, err, peer });
  const edge = (ip: string, vc: string) => {
    const t = net.open(ip, 0, { raw: true });
    const dev = new MemFrameDevice();
    const eng = new XconnectEngine({
      port: t,
      kind: "ip",
      las: { ip: lasIp.value, port: 0 },
      lasName: "10.0.0.1",
      vcId: vc,
      device: dev,
      deviceName: dev.name,
      hostName: ip,
      routerId: 2,
      random32,
      helloIntervalMs: 60_000,
      auth: null,
      log: edgeLog.topic(ip),
      contain: edgeSink,
    });
    const sw = socketWatch({ name: "ip", socket: t, engine: eng, contain: edgeSink });
    const dw = deviceWatch({ name: "tap", device: dev, engine: eng, contain: edgeSink });
    edges.push({ dev, eng, sw, dw });
    return { dev, eng, sw, dw };
  };
  let now = 0;
  const run = (ms: number) => {
    for (const end = now + ms; now < end; now += 10) {
      while (lw.onReadable(now) > 0) { /* drain */ }
      for (const e of edges) {
        while (e.sw.onReadable(now) > 0) { /* drain */ }
        while (e.dw.onReadable(now) > 0) { /* drain */ }
        e.eng.poll(now);
      }
      las.poll(now);
    }
  };
  return { las, lw, net, lt, edge, edges, run, lines, contained, edgeContained, now: () => now };
}

function frame(dst: number, src: number): Uint8Array {
  const f = new Uint8Array(60);
  f[0] = 0x02;
  f[5] = dst;
  f[6] = 0x02;
  f[11] = src;
  f[12] = 0x08;
  return f;
}

Deno.test("contain: a datagram that throws in the LAS's batch is dropped alone, counted with its source", () => {
  const l = lasLab({ poisonPeer: "10.0.0.9" });
  const a = l.edge("10.0.0.2", "100");
  const b = l.edge("10.0.0.3", "100");
  a.eng.start(0);
  b.eng.start(0);
  l.run(300);
  assertEquals([a.eng.state, b.eng.state], ["up", "up"]);
  // One batch: A's frames, then a stray data packet from 10.0.0.9 (its drop line throws),
  // then more of A's frames. Sent without running the LAS, so one recv takes them all.
  const stray = l.net.open("10.0.0.9", 0, { raw: true });
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  for (let i = 0; i < 3; i++) a.dev.inject(frame(0xb2, 0xa1));
  while (a.dw.onReadable(l.now()) > 0) { /* into the LAS's queue */ }
  stray.send(new Uint8Array([0x0b, 0xad, 0xca, 0xfe, ...new Uint8Array(60)]), {
    ip: lasIp.value,
    port: 0,
  });
  for (let i = 0; i < 3; i++) a.dev.inject(frame(0xb2, 0xa1));
  while (a.dw.onReadable(l.now()) > 0) { /* into the LAS's queue */ }
  assertEquals(l.lw.onReadable(l.now()), 7, "one batch of 7 datagrams");
  l.run(20);
  assertEquals(b.dev.takeWritten().length, 6, "all six of A's frames reached B");
  assertEquals(l.contained.length, 1);
  assertEquals(l.contained[0].peer, "10.0.0.9");
  assertEquals(l.contained[0].handler, "ip");
  assertEquals((l.contained[0].err as Error).message, "injected fault");
  const st = lasStatus(l.las.snapshot(0), 0, { ip: l.lw.counters }) as {
    counters: Record<string, number>;
  };
  assertEquals(st.counters.rx_handler_errors, 1, "counted under the name /status always had");
});

Deno.test("contain: an event that throws (one VC's switch) does not lose the other peers' session-ups", () => {
  const l = lasLab({ poisonVc: "666" });
  const a = l.edge("10.0.0.2", "100");
  const bad = l.edge("10.0.0.3", "666");
  const c = l.edge("10.0.0.4", "100");
  for (const e of [a, bad, c]) e.eng.start(0);
  l.run(300);
  assertEquals([a.eng.state, c.eng.state], ["up", "up"]);
  const st = l.las.status(0) as { sessions: { peer: string; vc: string }[] };
  assertEquals(st.sessions.map((s) => s.peer).sort(), ["10.0.0.2", "10.0.0.4"]);
  assert(l.contained.length >= 1);
  assert(l.contained.every((x) => x.peer === "10.0.0.3"), JSON.stringify(l.contained));
  assertStringIncludes((l.contained[0].err as Error).message, "no policy for VC 666");
  a.dev.inject(frame(0xc3, 0xa1));
  l.run(20);
  assertEquals(c.dev.takeWritten().length, 1, "VC 100 switches frames");
});

Deno.test("contain: a frame from a peer whose way to the TAP throws is dropped alone; the batch's other frames arrive", () => {
  const net = new MemNet({ seed: 9 });
  const contained: { handler: string; err: unknown; peer: string | null }[] = [];
  const sink = (handler: string, err: unknown, peer: string | null) =>
    contained.push({ handler, err, peer });
  const snSocket = net.open("10.0.0.1", 7654);
  const sn = new SupernodeEngine({
    supernodeId: 7,
    random: seededRandom(3),
    endpoints: new EndpointTable(),
    socket: snSocket,
  });
  const snPump = socketWatch({ name: "udp", socket: snSocket, engine: sn });
  const rand = seededRandom(4);
  const nodes = [0, 1].map((i) => {
    // Node B's TAP fails on one frame (a write that throws, as an fd error would).
    const tap = new MemFrameDevice({ name: `v${i}`, mtu: 1382 });
    if (i === 1) {
      const write = tap.write.bind(tap);
      tap.write = (f: Uint8Array) => {
        if (f[41] === 0xee) throw new OsError("write(v1)", 14);
        return write(f);
      };
    }
    const endpoints = new EndpointTable();
    const core = new NodeCore({
      supernode: keyedEndpoint("10.0.0.1:7654"),
      identity: new Uint8Array(32).fill(i + 1),
      sealer: new NullSealer(),
      random: rand,
      ipVersion: 4,
      frameViews: true,
      endpoints,
    });
    const socket = net.open(`10.0.0.${i + 11}`, 0);
    const engine = new NodeEngine({
      socket,
      device: tap,
      mtu: tap.mtu,
      core,
      endpoints,
      leaves: new LeafTable(),
      tapMac: 0x02_00_00_00_00_0a + i,
      contain: sink,
    });
    const udp = socketWatch({ name: "udp", socket, engine, contain: sink });
    const dev = deviceWatch({ name: "tap", device: tap, engine, contain: sink });
    return { engine, tap, udp, dev };
  });
  const pump = (now: number) => {
    for (let round = 0; round < 100; round++) {
      let moved = snPump.onReadable(now);
      for (const n of nodes) moved += n.udp.onReadable(now) + n.dev.onReadable(now);
      if (moved === 0) return;
    }
  };
  const now = 1000;
  sn.start(now);
  for (const n of nodes) n.engine.start(now);
  pump(now);
  assert(nodes[0].engine.mat && nodes[1].engine.mat, "both registered");
  // Three broadcast frames from a host behind node A, in one batch; the second breaks B's TAP.
  for (const mark of [1, 0xee, 3]) {
    // An ARP request for 10.9.0.<mark>.
    const f = new Uint8Array(60);
    writeMac(f, 0, 0xffff_ffff_ffff);
    writeMac(f, 6, 0x02_00_00_00_00_99);
    f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], 12);
    writeMac(f, 22, 0x02_00_00_00_00_99);
    f.set([10, 9, 0, 1], 28);
    f.set([10, 9, 0, mark], 38);
    nodes[0].tap.inject(f);
  }
  pump(now);
  const got = nodes[1].tap.takeWritten();
  assertEquals(got.map((f) => f[41]), [1, 3], "the other frames of the batch arrived");
  assertEquals(contained.length, 1);
  assertEquals(contained[0].handler, "udp");
  assertEquals(errorKind(contained[0].err), "OsError");
  assert(contained[0].peer?.startsWith("MAC "), String(contained[0].peer));
  assertEquals(nodes[1].engine.counters.tap_tx_handler_errors, 1);
});

Deno.test("contain: an xconnect edge drops the one datagram whose frame its TAP cannot take, keeps the rest", () => {
  const l = lasLab({});
  const a = l.edge("10.0.0.2", "100");
  const b = l.edge("10.0.0.3", "100");
  const write = a.dev.write.bind(a.dev);
  a.dev.write = (f: Uint8Array) => {
    if (f[14] === 0xee) throw new OsError("write(x0)", 14);
    return write(f);
  };
  a.eng.start(0);
  b.eng.start(0);
  l.run(300);
  assertEquals([a.eng.state, b.eng.state], ["up", "up"]);
  for (const mark of [1, 0xee, 3]) {
    const f = frame(0xa1, 0xb2);
    f[14] = mark;
    b.dev.inject(f);
  }
  l.run(30);
  assertEquals(a.dev.takeWritten().map((f) => f[14]), [1, 3]);
  assertEquals(l.edgeContained.length, 1);
  assertEquals(l.edgeContained[0].peer, "10.0.0.1");
  assertEquals(l.edgeContained[0].handler, "ip");
  assertEquals(a.sw.counters.rx_handler_errors, 1);
  const st = xconnectStatus(a.eng.snapshot(0), null, { ip: a.sw.counters, tap: a.dw.counters }) as {
    counters: Record<string, number>;
  };
  assertEquals(st.counters.handler_errors, 1, "counted under the name /status always had");
});
