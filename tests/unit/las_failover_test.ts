/**
 * Issue 18, edge side and restart (docs/las-redundancy.md): a LAS that
 * restarts answers what it does not know with a StopCCN, an edge that hears
 * nothing while it sends probes at once, and an edge with a backup LAS moves
 * there and back. In memory (no root), time explicit: the times asserted
 * here are simulated, so a slow machine cannot fail them.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemFrameDevice, MemNet, type MemTransport, seededRandom } from "../lab/twins.ts";
import { LasEngine } from "../../core/las/engine.ts";
import { XconnectEngine } from "../../core/xconnect/engine.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { type Ip16, parseIp } from "../../core/addr.ts";
import { hash } from "../../cmd/kit/host.ts";
import { strayStopCcn } from "../../core/l2tp/stray.ts";
import { MetricsWriter } from "../../cmd/kit/metrics.ts";
import { xconnectMetrics } from "../../cmd/xconnect_status.ts";
import { emitControl } from "../../core/l2tp/control_message.ts";
import { encodeFields } from "../../core/l2tp/avp_fields.ts";
import { MessageType as MT } from "../../core/l2tp/constants.ts";

function ip(text: string): Ip16 {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

const SECRET = new TextEncoder().encode("s3cret");

/** LAS servers and edges over one in-memory raw-IP network, with a clock. */
function lab(opts: { secret?: boolean } = {}) {
  const net = new MemNet({ seed: 7 });
  const lines: string[] = [];
  const logger = new Logger({ level: "info", format: "text", debug: [] }, (l) => lines.push(l));
  const rand = seededRandom(13);
  const random32 = () => Math.floor(rand() * 0x1_0000_0000) >>> 0 || 1;
  const auth = opts.secret ? { secret: SECRET, hash, digest: "md5" as const } : null;
  const servers = new Map<
    string,
    { eng: LasEngine; t: MemTransport; w: ReturnType<typeof socketWatch> }
  >();
  const startLas = (addr: string) => {
    const t = net.open(addr, 0, { raw: true });
    const eng = new LasEngine({
      ip: t,
      hostName: `las-${addr}`,
      routerId: 1,
      random32,
      helloIntervalMs: 60_000,
      retransmits: 5,
      switchPolicy: () => ({ name: "switch", options: {} }),
      maxSwitches: 16,
      cookieLength: 4,
      acceptDst: null,
      auth,
      log: logger.topic(`las ${addr}`),
    });
    const w = socketWatch({ name: "ip", socket: t, engine: eng, via: 0 });
    servers.set(addr, { eng, t, w });
    return eng;
  };
  /** SIGKILL: the socket goes, nothing is said. */
  const killLas = (addr: string) => {
    servers.get(addr)?.t.close();
    servers.delete(addr);
  };
  const edges: {
    dev: MemFrameDevice;
    eng: XconnectEngine;
    sw: ReturnType<typeof socketWatch>;
    dw: ReturnType<typeof deviceWatch>;
    t: MemTransport;
  }[] = [];
  const edge = (addr: string, las: string, vc: string, backup?: string, delayMs?: number) => {
    const t = net.open(addr, 0, { raw: true });
    const dev = new MemFrameDevice();
    const eng = new XconnectEngine({
      port: t,
      kind: "ip",
      las: { ip: ip(las), port: 0 },
      ...(backup ? { backup: { ip: ip(backup), port: 0 } } : {}),
      ...(delayMs !== undefined ? { backupDelayMs: delayMs } : {}),
      vcId: vc,
      device: dev,
      deviceName: dev.name,
      hostName: addr,
      routerId: 2,
      random32,
      helloIntervalMs: 60_000,
      auth,
      log: logger.topic(`edge ${addr}`),
    });
    const sw = socketWatch({ name: "ip", socket: t, engine: eng });
    const dw = deviceWatch({ name: "tap", device: dev, engine: eng });
    const e = { dev, eng, sw, dw, t };
    edges.push(e);
    return e;
  };
  let now = 0;
  /** Runs `ms` of time in 10-ms steps; `each` runs every step (a ping train). */
  const run = (ms: number, each?: (now: number) => void) => {
    for (const end = now + ms; now < end; now += 10) {
      each?.(now);
      for (const s of servers.values()) while (s.w.onReadable(now) > 0) { /* drain */ }
      for (const e of edges) {
        while (e.sw.onReadable(now) > 0) { /* drain */ }
        while (e.dw.onReadable(now) > 0) { /* drain */ }
        if (e.eng.nextDeadline() <= now) e.eng.poll(now);
      }
      for (const s of servers.values()) if (s.eng.nextDeadline() <= now) s.eng.poll(now);
    }
  };
  return {
    net,
    lines,
    startLas,
    killLas,
    las: (addr: string) => servers.get(addr)!.eng,
    edge,
    /** The edge process is killed: its socket goes, nothing is said. */
    killEdge: (e: (typeof edges)[number]) => {
      e.t.close();
      edges.splice(edges.indexOf(e), 1);
    },
    run,
    now: () => now,
    start: () => edges.forEach((e) => e.eng.start(now)),
  };
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

/** A ping train: every 50 ms a frame a -> b and one b -> a. */
function pings(a: MemFrameDevice, b: MemFrameDevice) {
  return (now: number) => {
    if (now % 50 !== 0) return;
    a.inject(frame(2, 1));
    b.inject(frame(1, 2));
  };
}

/** Frames the device got since the last call. */
function got(d: MemFrameDevice): number {
  const n = d.written.length;
  d.written.length = 0;
  return n;
}

/** Runs until `dev` gets frames again; the simulated ms it took, or -1. */
function until(
  l: ReturnType<typeof lab>,
  dev: MemFrameDevice,
  each: (n: number) => void,
  max: number,
) {
  got(dev);
  const t0 = l.now();
  while (l.now() - t0 < max) {
    l.run(50, each);
    if (got(dev) > 0) return l.now() - t0;
  }
  return -1;
}

for (const secret of [false, true]) {
  Deno.test(`failover: a LAS killed and restarted 3 s later: two edges back within 5 s (simulated)${secret ? ", with a secret" : ""}`, () => {
    const l = lab({ secret });
    l.startLas("10.0.0.1");
    const a = l.edge("10.0.0.2", "10.0.0.1", "100");
    const b = l.edge("10.0.0.3", "10.0.0.1", "100");
    l.start();
    const train = pings(a.dev, b.dev);
    l.run(1000, train);
    assertEquals([a.eng.state, b.eng.state], ["up", "up"]);
    assert(got(b.dev) > 0, "frames cross before the kill");
    l.killLas("10.0.0.1");
    l.run(3000, train);
    const las = l.startLas("10.0.0.1");
    const back = until(l, b.dev, train, 60_000);
    assert(back >= 0, "frames never came back");
    assert(back <= 5000, `frames came back ${back} ms after the restart (goal: 5 s)`);
    assertEquals([a.eng.state, b.eng.state], ["up", "up"]);
    const ea = a.eng.snapshot(l.now()).counters, eb = b.eng.snapshot(l.now()).counters;
    assert(ea.probes >= 1 && eb.probes >= 1, "both edges sent an early HELLO");
    assert(ea.stray_stops + eb.stray_stops >= 1, "an edge re-dialled on the LAS's StopCCN");
    assert(
      (las.ipEp!.counters.tx_stray_stopccn ?? 0) >= 1,
      "the LAS answered what it did not know",
    );
    assert(
      (las.ipEp!.counters.data_drop_unknown_session ?? 0) >= 1,
      "data for the old sessions was counted, never forwarded",
    );
  });
}

Deno.test("failover: a silent LAS is given up about 4.5 s after the last answer while the edge sends", () => {
  const l = lab();
  l.startLas("10.0.0.1");
  const a = l.edge("10.0.0.2", "10.0.0.1", "100");
  const b = l.edge("10.0.0.3", "10.0.0.1", "100");
  l.start();
  const train = pings(a.dev, b.dev);
  l.run(1000, train);
  l.killLas("10.0.0.1");
  const t0 = l.now();
  while (a.eng.state === "up" && l.now() - t0 < 60_000) l.run(10, train);
  const gone = l.now() - t0;
  assert(gone >= 4000 && gone <= 5000, `given up after ${gone} ms`);
  assertEquals(a.eng.snapshot(l.now()).counters.silent_las, 1);
});

Deno.test("failover: an idle edge sends no early HELLO", () => {
  const l = lab();
  l.startLas("10.0.0.1");
  const a = l.edge("10.0.0.2", "10.0.0.1", "100");
  l.start();
  l.run(20_000);
  assertEquals(a.eng.state, "up");
  assertEquals(a.eng.snapshot(l.now()).counters.probes, 0);
});

Deno.test("failover: a stray StopCCN is taken only when it names the connection and its digest checks", () => {
  const l = lab({ secret: true });
  l.startLas("10.0.0.1");
  const a = l.edge("10.0.0.2", "10.0.0.1", "100");
  l.start();
  l.run(500);
  assertEquals(a.eng.state, "up");
  const lasCcid = a.eng.ep.connections()[0].remoteCcid;
  const from = { via: 0, src: ip("10.0.0.1"), srcPort: 0, dst: ip("10.0.0.2") };
  const auth = { hash, secret: SECRET, alg: "md5" as const };
  const wrongId = strayStopCcn("ip", (lasCcid + 1) >>> 0, "ietf", auth)!;
  a.eng.receive(wrongId, from, l.now());
  a.eng.endBatch(l.now());
  assertEquals(a.eng.state, "up", "a StopCCN naming another connection is ignored");
  assertEquals(a.eng.ep.counters.drop_stray_stopccn_unmatched, 1);
  const badKey = strayStopCcn("ip", lasCcid, "ietf", { ...auth, secret: new Uint8Array([1]) })!;
  a.eng.receive(badKey, from, l.now());
  const noDigest = strayStopCcn("ip", lasCcid, "ietf", null)!;
  a.eng.receive(noDigest, from, l.now());
  a.eng.endBatch(l.now());
  assertEquals(a.eng.state, "up", "a StopCCN without the secret's digest is ignored");
  assertEquals(a.eng.ep.counters.drop_stray_stopccn_auth, 2);
  const other = { ...from, src: ip("10.0.0.66") };
  a.eng.receive(strayStopCcn("ip", lasCcid, "ietf", auth)!, other, l.now());
  a.eng.endBatch(l.now());
  assertEquals(a.eng.state, "up", "a StopCCN from another address is ignored");
  a.eng.receive(strayStopCcn("ip", lasCcid, "ietf", auth)!, from, l.now());
  a.eng.endBatch(l.now());
  assert(a.eng.state !== "up", "the genuine one is taken");
  assertEquals(a.eng.snapshot(l.now()).counters.stray_stops, 1);
  l.run(500);
  assertEquals(a.eng.state, "up", "and the edge re-dialled");
});

Deno.test("failover: StopCCNs for unknown connections are rate-limited and never 3x larger than what came in", () => {
  const l = lab();
  const las = l.startLas("10.0.0.1");
  const hello = emitControl("ip", {
    ccid: 0x1234_5678,
    ns: 3,
    nr: 4,
    avps: encodeFields({ messageType: MT.HELLO }, "ietf"),
  });
  const sinks: MemTransport[] = [];
  for (let i = 0; i < 50; i++) sinks.push(l.net.open(`10.1.0.${i + 1}`, 0, { raw: true }));
  for (let round = 0; round < 10; round++) {
    for (const s of sinks) s.send(hello, { ip: ip("10.0.0.1"), port: 0 });
  }
  l.run(10);
  const c = las.ipEp!.counters;
  assertEquals(c.tx_stray_stopccn, 20, "20 per second in all");
  assertEquals(c.stray_rate_limited, 480);
  let answers = 0;
  for (const s of sinks) {
    for (let k = s.recv(); k > 0; k = s.recv()) {
      for (let i = 0; i < k; i++) {
        const n = s.rx.lens[i];
        answers++;
        assert(n <= 3 * hello.length, `an answer of ${n} bytes to ${hello.length}`);
      }
    }
  }
  assertEquals(answers, 20);
  l.run(1000);
  for (let round = 0; round < 5; round++) sinks[0].send(hello, { ip: ip("10.0.0.1"), port: 0 });
  l.run(10);
  assertEquals(c.tx_stray_stopccn, 21, "one per source per second");
  // A StopCCN for an unknown connection is never answered (no ping-pong between two servers).
  const stop = strayStopCcn("ip", 77, "ietf", null)!;
  const withId = emitControl("ip", { ccid: 99, ns: 0, nr: 0, avps: [] });
  sinks[1].send(stop.slice(), { ip: ip("10.0.0.1"), port: 0 });
  sinks[1].send(withId, { ip: ip("10.0.0.1"), port: 0 });
  l.run(1000);
  assertEquals(c.tx_stray_stopccn, 21);
});

Deno.test("failover: edges with a backup LAS move there when the primary dies, and return after the delay", () => {
  const l = lab();
  l.startLas("10.0.0.1");
  l.startLas("10.0.0.9");
  const a = l.edge("10.0.0.2", "10.0.0.1", "100", "10.0.0.9", 2000);
  const b = l.edge("10.0.0.3", "10.0.0.1", "100", "10.0.0.9", 2000);
  l.start();
  const train = pings(a.dev, b.dev);
  l.run(1000, train);
  assertEquals(a.eng.snapshot(l.now()).active, "primary");
  assertEquals(
    l.las("10.0.0.9").status(l.now()).connections.length,
    0,
    "the backup is not dialled",
  );
  l.killLas("10.0.0.1");
  got(b.dev);
  const moved = until(l, b.dev, train, 60_000);
  assert(moved >= 0 && moved <= 8000, `frames moved to the backup after ${moved} ms`);
  for (const e of [a, b]) {
    const s = e.eng.snapshot(l.now());
    assertEquals([s.active, s.backup?.state, s.counters.failovers], ["backup", "up", 1]);
    const w = new MetricsWriter();
    xconnectMetrics(w, s);
    const text = w.render();
    assert(text.includes("l2_xconnect_up 1\n") && text.includes("l2_xconnect_on_backup 1\n"), text);
  }
  l.startLas("10.0.0.1");
  const t0 = l.now();
  while (l.now() - t0 < 60_000 && a.eng.snapshot(l.now()).active !== "primary") l.run(50, train);
  const sa = a.eng.snapshot(l.now());
  assertEquals([sa.active, sa.state, sa.counters.returns], ["primary", "up", 1]);
  assert(sa.session!.up_s >= 2, "returned only after the primary was up for the delay");
  l.run(2000, train);
  assertEquals(b.eng.snapshot(l.now()).active, "primary");
  assertEquals(got(b.dev) > 20, true, "frames cross on the primary");
  const backup = l.las("10.0.0.9").status(l.now());
  assertEquals(backup.sessions.length, 0, "the backup's sessions were closed (make before break)");
  assertEquals(a.eng.snapshot(l.now()).backup?.state, "idle");
});

Deno.test("failover: at start, an edge whose primary never answers comes up on the backup", () => {
  const l = lab();
  l.startLas("10.0.0.9");
  const a = l.edge("10.0.0.2", "10.0.0.1", "100", "10.0.0.9");
  l.start();
  l.run(2500);
  assertEquals(a.eng.snapshot(l.now()).backup?.state, "idle", "the primary gets its 3 s first");
  l.run(2000);
  const s = a.eng.snapshot(l.now());
  assertEquals([s.active, s.backup?.state], ["backup", "up"]);
});

Deno.test("failover: an edge that restarted answers the LAS's HELLO on its old connection; the LAS drops it", () => {
  const l = lab();
  const las = l.startLas("10.0.0.1");
  const a = l.edge("10.0.0.2", "10.0.0.1", "100");
  l.start();
  l.run(500);
  assertEquals(las.status(l.now()).sessions.length, 1);
  // The edge process dies and a new one starts on the same address (a new engine, new ids).
  l.killEdge(a);
  const a2 = l.edge("10.0.0.2", "10.0.0.1", "100");
  a2.eng.start(l.now());
  l.run(500);
  assertEquals(a2.eng.state, "up");
  assertEquals(las.status(l.now()).sessions.length, 2, "the stale session is still there");
  // The LAS's idle timer (60 s) sends a HELLO on the old connection: answered with a StopCCN.
  l.run(61_000);
  assertEquals(las.status(l.now()).sessions.length, 1, "the stale session is gone");
  assert((a2.eng.ep.counters.tx_stray_stopccn ?? 0) >= 1);
  assert((las.ipEp!.counters.rx_stray_stopccn ?? 0) >= 1);
  assertEquals(a2.eng.state, "up", "the new session stays");
});

Deno.test("failover: the backup dying while the primary is back moves frames at once, and the backup is not re-dialled", () => {
  const l = lab();
  l.startLas("10.0.0.1");
  l.startLas("10.0.0.9");
  const a = l.edge("10.0.0.2", "10.0.0.1", "100", "10.0.0.9", 10_000);
  const b = l.edge("10.0.0.3", "10.0.0.1", "100", "10.0.0.9", 10_000);
  l.start();
  const train = pings(a.dev, b.dev);
  l.run(1000, train);
  l.killLas("10.0.0.1");
  l.run(8000, train);
  assertEquals(a.eng.snapshot(l.now()).active, "backup");
  l.startLas("10.0.0.1");
  // The primary's SCCRQ is retransmitted at most 8 s apart: up within 9 s, returned to after 10.
  l.run(9000, train);
  const s = a.eng.snapshot(l.now());
  assertEquals([s.active, s.state], ["backup", "up"], "the primary is up, within the delay");
  const connects = s.counters.connects;
  l.killLas("10.0.0.9");
  l.run(8000, train);
  const t = a.eng.snapshot(l.now());
  assertEquals([t.active, t.state, t.backup?.state], ["primary", "up", "idle"]);
  assertEquals(t.counters.connects, connects, "no dial of the dead backup while the primary is up");
  assert(got(b.dev) > 0, "frames cross on the primary");
});
