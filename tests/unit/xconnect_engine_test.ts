/**
 * The xconnect engine against a LAS scripted by hand over the in-memory
 * network, for what `l2 las` never asks: an ICRP that wants the default
 * L2-Specific Sublayer with sequencing on the data the edge sends.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemFrameDevice, MemNet, seededRandom } from "../lab/twins.ts";
import { XconnectEngine } from "../../core/xconnect/engine.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { parseIp } from "../../core/addr.ts";
import type { Fields } from "../../core/l2tp/avp_fields.ts";
import { ScriptedL2tp } from "../lab/l2tp_script.ts";
import { xconnectMetrics, xconnectStatus } from "../../cmd/xconnect_status.ts";
import { MetricsWriter } from "../../cmd/kit/metrics.ts";

function ip(text: string) {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** An edge and a scripted LAS; `sequencing` is what the LAS's ICRP asks for. */
function setUp(sequencing: boolean) {
  const net = new MemNet({ seed: 5 });
  const logger = new Logger({ level: "info", format: "text", debug: [] }, () => {});
  const rand = seededRandom(3);
  const lasT = net.open("10.0.0.1", 0, { raw: true });
  const edgeIp = { ip: ip("10.0.0.2"), port: 0 };
  const dev = new MemFrameDevice();
  const edgeT = net.open("10.0.0.2", 0, { raw: true });
  const eng = new XconnectEngine({
    port: edgeT,
    kind: "ip",
    las: { ip: ip("10.0.0.1"), port: 0 },
    lasName: "10.0.0.1",
    vcId: "42",
    device: dev,
    deviceName: dev.name,
    hostName: "edge",
    routerId: 2,
    random32: () => Math.floor(rand() * 0x1_0000_0000) >>> 0 || 1,
    helloIntervalMs: 60_000,
    auth: null,
    log: logger.topic("edge"),
  });
  const las = new ScriptedL2tp(lasT, edgeIp);
  const send = (f: Fields) => las.send(f);
  const take = () => las.take();
  const sw = socketWatch({ name: "ip", socket: edgeT, engine: eng });
  const dw = deviceWatch({ name: "tap", device: dev, engine: eng });
  let now = 0;
  const run = (ms: number) => {
    for (const end = now + ms; now < end; now += 10) {
      while (sw.onReadable(now) > 0) { /* drain */ }
      while (dw.onReadable(now) > 0) { /* drain */ }
      if (eng.nextDeadline() <= now) eng.poll(now);
    }
  };
  eng.start(now);
  run(20);
  const sccrq = take().control.find((f) => f.messageType === 1);
  assert(sccrq !== undefined, "SCCRQ");
  las.ccid = sccrq.assignedControlConnectionId!;
  send({
    messageType: 2,
    protocolVersion: { version: 1, revision: 0 },
    hostName: "scripted-las",
    receiveWindowSize: 16,
    routerId: 1,
    assignedControlConnectionId: 99,
    pwCapabilities: [5],
  });
  run(20);
  const got = take().control;
  const icrq = got.find((f) => f.messageType === 10);
  assert(got.some((f) => f.messageType === 3) && icrq !== undefined, "SCCCN and ICRQ");
  send({
    messageType: 11,
    localSessionId: 0x77,
    remoteSessionId: icrq.localSessionId!,
    circuitStatus: 1,
    ...(sequencing ? { l2SpecificSublayer: 1, dataSequencing: 2 } : {}),
  });
  run(20);
  assert(take().control.some((f) => f.messageType === 12), "ICCN");
  assertEquals(eng.state, "up");
  return { net, las, dev, take, run, eng, sw, dw, now: () => now };
}

function frame(len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00]);
  return f;
}

Deno.test("xconnect engine: a LAS that asks for sequenced data gets the sublayer with S=1 and numbers 0, 1, 2...", () => {
  const { dev, take, run } = setUp(true);
  for (let i = 0; i < 4; i++) dev.inject(frame(60 + i));
  run(20);
  const data = take().data;
  assertEquals(data.length, 4);
  data.forEach((p, i) => {
    assertEquals(((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0, 0x77);
    assertEquals(p[4], 0x40, "S=1");
    assertEquals((p[5] << 16) | (p[6] << 8) | p[7], i);
    assertEquals(p.length - 8, 60 + i, "the whole frame follows");
  });
});

Deno.test("xconnect engine: without a sublayer request data carries no sublayer", () => {
  const { dev, take, run } = setUp(false);
  dev.inject(frame(60));
  run(20);
  const data = take().data;
  assertEquals(data.length, 1);
  assertEquals(data[0].length, 4 + 60, "session id, then the frame");
});

Deno.test("xconnect engine: shutdown retransmits StopCCN to a LAS that does not acknowledge, for about 2 s", () => {
  const { take, run, eng, now } = setUp(false);
  const t0 = now();
  eng.stop(t0);
  let stops = 0;
  let settled = -1;
  while (now() < t0 + 3000) {
    run(10);
    stops += take().control.filter((f) => f.messageType === 4).length;
    if (settled < 0 && eng.stopped(now())) settled = now() - t0;
  }
  assert(stops >= 4, `StopCCN sent ${stops} times`);
  assert(settled >= 1500 && settled <= 2100, `gave up after ${settled} ms`);
});

Deno.test("xconnect engine: /status and /metrics render from the snapshot, in the order they always had", () => {
  const { dev, run, eng, now, sw, dw } = setUp(false);
  dev.inject(frame(60));
  run(20);
  const snap = eng.snapshot(now() + 4000);
  assertEquals(snap.las, "10.0.0.1", "named from the LAS's address");
  assertEquals(snap.session?.remote_session, 0x77);
  assert((snap.session?.up_s ?? 0) >= 4, "uptime on the engine's clock");
  const io = { ip: sw.counters, tap: dw.counters };
  const doc = xconnectStatus(snap, null, io);
  assertEquals(Object.keys(doc), [
    "las",
    "vc",
    "device",
    "state",
    "session",
    "active",
    "backup",
    "counters",
    "io",
  ]);
  assertEquals((doc.io as typeof io).tap.rx_datagrams, 1, "the pumps' counters per fd");
  const iface = {
    name: "eth9",
    mtu: 1500,
    oversize_dropped: 3,
    offloads_turned_off: { gro: true, lro: false },
  };
  const withIface = xconnectStatus(snap, iface);
  assertEquals(Object.keys(withIface).at(-1), "interface");
  assertEquals(withIface.interface, iface);
  const w = new MetricsWriter();
  xconnectMetrics(w, snap, io);
  const text = w.render();
  assert(text.includes('l2_xconnect_io_rx_datagrams_total{fd="tap"} 1\n'), text);
  assert(text.includes("l2_xconnect_up 1\n"), text);
  assert(text.includes("l2_xconnect_tx_frames_total 1\n"), text);
  const names = [...text.matchAll(/^l2_xconnect_(\w+)_total /gm)].map((m) => m[1]);
  assertEquals(names, Object.keys(snap.counters));
});

Deno.test("xconnect engine: receive takes one datagram with its source; hostile bytes are counted, never thrown", () => {
  const { eng, now } = setUp(false);
  const rand = seededRandom(9);
  const src = ip("10.0.0.1");
  const before = eng.snapshot(now()).counters;
  for (let i = 0; i < 2000; i++) {
    const d = new Uint8Array(1 + Math.floor(rand() * 200));
    for (let k = 0; k < d.length; k++) d[k] = Math.floor(rand() * 256);
    if (i % 2 === 0) d.fill(0, 0, 4); // half of them: control messages (session id 0)
    eng.receive(d, { via: 0, src, srcPort: 0, dst: ip("10.0.0.2") }, now() + i);
  }
  eng.endBatch(now() + 2000);
  const after = eng.snapshot(now() + 2000).counters;
  assert(after.rx_other > before.rx_other, "data for no session is counted");
  assertEquals(after.handler_errors, 0);
});

Deno.test("xconnect engine: data and control from an address other than the LAS's are dropped and counted", () => {
  const { net, las, dev, run, eng, now } = setUp(false);
  const sid = eng.snapshot(now()).session!.local_session;
  const stranger = net.open("10.0.0.9", 0, { raw: true });
  const edge = { ip: ip("10.0.0.2"), port: 0 };
  // Our session's data header (no cookie was agreed), then a frame: what a forger would send.
  const pkt = new Uint8Array(4 + 60);
  new DataView(pkt.buffer).setUint32(0, sid);
  pkt.set(frame(60), 4);
  // A control message (T=1, L=1, S=1, version 3) from it is dropped as well, before parsing.
  const ctl = new Uint8Array(16);
  ctl.set([0xc8, 0x03, 0, 16]);
  const before = eng.snapshot(now()).counters.rx_other;
  stranger.send(pkt, edge);
  stranger.send(ctl, edge);
  run(20);
  assertEquals(dev.takeWritten().length, 0, "the forged frame never reaches the device");
  assertEquals(eng.snapshot(now()).counters.rx_other, before + 2);
  assertEquals(eng.state, "up");
  // The same frame from the LAS goes through.
  las.t.send(pkt, edge);
  run(20);
  assertEquals(dev.takeWritten().length, 1);
});

Deno.test("xconnect engine: a LAS that never answers is warned about, with what to check, backing off", () => {
  const net = new MemNet({ seed: 9 });
  let now = 0;
  const lines: string[] = [];
  const logger = new Logger(
    { level: "info", format: "text", debug: [] },
    (l) => lines.push(l),
    () => now,
  );
  const dev = new MemFrameDevice();
  const edgeT = net.open("10.0.0.2", 0, { raw: true });
  const eng = new XconnectEngine({
    port: edgeT,
    kind: "ip",
    las: { ip: ip("10.0.0.9"), port: 0 },
    lasName: "10.0.0.9",
    vcId: "42",
    device: dev,
    deviceName: dev.name,
    hostName: "edge",
    routerId: 2,
    random32: () => 7,
    helloIntervalMs: 60_000,
    auth: null,
    log: logger.topic("edge"),
  });
  eng.start(now);
  let attempts = 0;
  // Ten minutes of a LAS that does not answer.
  for (; now < 600_000; now += 50) {
    if (eng.nextDeadline() <= now) eng.poll(now);
  }
  attempts = lines.filter((l) => l.includes("connecting to 10.0.0.9")).length;
  const warned = lines.filter((l) => l.includes("no control connection to the LAS at 10.0.0.9"));
  assert(warned.length >= 2, lines.join("\n"));
  assert(warned.length < attempts, `${warned.length} warnings for ${attempts} attempts`);
  assert(warned[0].includes("check the LAS address (LAS-IP, xconnect.las)"), warned[0]);
  assert(warned[1].includes("(still,"), warned[1]);
  assert(!lines.some((l) => l.includes("warn") && l.includes("is down")), lines.join("\n"));
});
