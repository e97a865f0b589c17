/**
 * The LAS engine in memory (no root): edges are xconnect engines over an
 * in-memory raw-IP network, frames go TAP twin -> edge -> LAS -> edge -> TAP
 * twin, and time is explicit.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { MemFrameDevice, MemNet } from "../lab/twins.ts";
import { LasEngine, peerPrefix, prefixContains, sourceOf, vcKey } from "../../core/las/engine.ts";
import { XconnectEngine } from "../../core/xconnect/engine.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import { ScriptedL2tp } from "../lab/l2tp_script.ts";
import { lasMetrics, lasStatus } from "../../cmd/las_status.ts";
import { MetricsWriter } from "../../cmd/kit/metrics.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { parseIp } from "../../core/addr.ts";
import { seededRandom } from "../lab/twins.ts";
import { messageTypeOf, parseControl } from "../../core/l2tp/control_message.ts";
import type { Fields } from "../../core/l2tp/avp_fields.ts";

const enc = new TextEncoder();

Deno.test("las: a VC id as decimal ASCII and as a 4-byte number key the same switch", () => {
  assertEquals(vcKey(enc.encode("1234")), { key: "vc:1234", text: "1234" });
  assertEquals(vcKey(new Uint8Array([0, 0, 4, 0xd2])), { key: "vc:1234", text: "1234" });
  assertEquals(vcKey(enc.encode("0042")).key, "vc:42");
  assertEquals(vcKey(new Uint8Array([0xde, 0xad, 0xbe])), { key: "raw:deadbe", text: "0xdeadbe" });
  assertEquals(vcKey(enc.encode("99999999999")).key, "raw:3939393939393939393939");
});

function lab(
  opts: {
    maxSwitches?: number;
    policies?: Record<string, boolean>;
    sourceFor?: (dest: Uint8Array) => Uint8Array | null;
    allow?: string[];
    maxPorts?: number;
  } = {},
) {
  const net = new MemNet({ seed: 3 });
  const lines: string[] = [];
  const logger = new Logger({ level: "info", format: "text", debug: [] }, (l) => lines.push(l));
  const rand = seededRandom(11);
  const random32 = () => Math.floor(rand() * 0x1_0000_0000) >>> 0 || 1;
  const lt = net.open("10.0.0.1", 0, { raw: true });
  const las = new LasEngine({
    ip: lt,
    hostName: "las",
    routerId: 1,
    random32,
    helloIntervalMs: 60_000,
    retransmits: 5,
    switchPolicy: (vc) => ({
      name: opts.policies?.[vc] ? `vcs.${vc}` : "switch",
      options: {
        filter: { allowLinkLocal: opts.policies?.[vc] ?? false },
        ...(opts.maxPorts ? { maxPorts: opts.maxPorts } : {}),
      },
    }),
    maxSwitches: opts.maxSwitches ?? 16,
    cookieLength: 4,
    acceptDst: null,
    auth: null,
    sourceFor: opts.sourceFor,
    allow: (opts.allow ?? []).map((a) => {
      const p = peerPrefix(a);
      if (typeof p === "string") throw new Error(p);
      return p;
    }),
    log: logger.topic("las"),
  });
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  const lw = socketWatch({ name: "ip", socket: lt, engine: las, via: 0 });
  const edges: {
    dev: MemFrameDevice;
    eng: XconnectEngine;
    sw: ReturnType<typeof socketWatch>;
    dw: ReturnType<typeof deviceWatch>;
  }[] = [];
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
      log: logger.topic(ip),
    });
    const sw = socketWatch({ name: "ip", socket: t, engine: eng });
    const dw = deviceWatch({ name: "tap", device: dev, engine: eng });
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
  const start = () => edges.forEach((e) => e.eng.start(now));
  return { las, lt, lw, net, edge, run, start, lines, now: () => now };
}

function frame(dst: number, src: number, type = 0x0800, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f[5] = dst;
  f[11] = src;
  f[0] = dst === 0xff ? 0xff : 0x02;
  if (dst === 0xff) f.fill(0xff, 0, 6);
  f[6] = 0x02;
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

Deno.test("las engine: frames switch between the sessions of one VC, never to another VC", () => {
  const l = lab();
  const a = l.edge("10.0.0.2", "100");
  const b = l.edge("10.0.0.3", "100");
  const c = l.edge("10.0.0.4", "200");
  l.start();
  l.run(500);
  assertEquals([a.eng.state, b.eng.state, c.eng.state], ["up", "up", "up"]);
  const st = l.las.status(0) as { sessions: unknown[]; switches: { vc: string }[] };
  assertEquals(st.sessions.length, 3);
  assertEquals(st.switches.map((s) => s.vc).sort(), ["100", "200"]);

  a.dev.inject(frame(0xff, 0xa1)); // broadcast from A
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 1, "B got A's broadcast");
  assertEquals(c.dev.takeWritten().length, 0, "VC 200 did not");
  b.dev.inject(frame(0xa1, 0xb2)); // unicast reply to A's MAC
  l.run(50);
  const got = a.dev.takeWritten();
  assertEquals(got.length, 1);
  assertEquals(got[0][11], 0xb2);
  a.dev.inject(frame(0xb2, 0xa1, 0x88cc)); // LLDP EtherType: filtered by default
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 0, "other EtherTypes are dropped by default");
});

type LasStatus = {
  sessions: { vc: string; tx_sublayer: string }[];
  switches: { vc: string; policy: string }[];
  sessions_setting_up: number;
  counters: Record<string, number>;
};

/** Runs `ms` in 10 ms steps and returns the most switches the LAS had at any step. */
function runWatching(l: ReturnType<typeof lab>, ms: number): number {
  let most = 0;
  for (let t = 0; t < ms; t += 10) {
    l.run(10);
    most = Math.max(most, (l.las.status(0) as LasStatus).switches.length);
  }
  return most;
}

Deno.test("las engine: ICRQs for new VCs at the same time cannot pass the switch limit together", () => {
  const l = lab({ maxSwitches: 1, policies: { "100": true } });
  const a = l.edge("10.0.0.2", "100");
  const b = l.edge("10.0.0.3", "100");
  const c = l.edge("10.0.0.4", "200");
  l.start();
  // All three connect in the same steps: VC 100's first session is being set up when VC 200's
  // ICRQ arrives, so that ICRQ is refused at once with a CDN that says why.
  const most = runWatching(l, 500);
  assertEquals(most, 1, "never more switches than max_switches");
  assertEquals([a.eng.state, b.eng.state], ["up", "up"], "a second session of VC 100 is admitted");
  assert(c.eng.state !== "up");
  const cdn = l.lines.find((x) => x.includes("10.0.0.4: session on VC 200 is down: peer sent CDN"));
  assert(cdn !== undefined, l.lines.join("\n"));
  assertStringIncludes(
    cdn,
    "the virtual switch limit is reached (max_switches 1: 0 exist, 1 being set up)",
  );
  // Refused by admission, not after it: no session of VC 200 was ever torn down at attach.
  assert(!l.lines.some((x) => x.includes("las: session") && x.includes("on VC 200 is down")));
  const st = l.las.status(0) as LasStatus;
  assertEquals(st.sessions.map((s) => s.vc), ["100", "100"]);
  assertEquals(st.switches, [{ ...st.switches[0], vc: "100", policy: "vcs.100" }]);
  assertEquals(st.sessions_setting_up, 0);
  assert(st.counters.sessions_refused_switch_limit >= 1);
  assertEquals(st.counters.switches_created, 1);
  // VC 100's sessions leave; its switch goes, and VC 200 gets in on the edge's next retry.
  a.eng.stop(l.now());
  b.eng.stop(l.now());
  assertEquals(runWatching(l, 40_000), 1);
  assertEquals(c.eng.state, "up");
  const after = l.las.status(0) as LasStatus;
  assertEquals(after.switches.map((s) => s.vc), ["200"]);
});

Deno.test("las engine: a session that never comes up gives its switch reservation back", () => {
  const l = lab({ maxSwitches: 1 });
  const a = l.edge("10.0.0.2", "100");
  const c = l.edge("10.0.0.4", "200");
  // Every ICRP to 10.0.0.2 is lost: its session stays half set up on the LAS.
  const queue = l.lt.queue.bind(l.lt);
  l.lt.queue = (data, to, from) => {
    const p = parseControl(data, "ip");
    const icrp = p.ok && messageTypeOf(p.msg) === 11;
    if (icrp && to.ip[15] === 2) return 0;
    return queue(data, to, from);
  };
  a.eng.start(l.now());
  l.run(200);
  assertEquals((l.las.status(0) as LasStatus).sessions_setting_up, 1, "a's session is pending");
  c.eng.start(l.now());
  l.run(200);
  assert(
    l.lines.some((x) => x.includes("VC 200 refused: the virtual switch limit is reached")),
    l.lines.join("\n"),
  );
  assertEquals((l.las.status(0) as LasStatus).switches.length, 0);
  // The LAS gives a's session up (setup timeout or dead peer); its reservation goes with it.
  assertEquals(runWatching(l, 70_000), 1);
  assertEquals(c.eng.state, "up");
  assertEquals((l.las.status(0) as LasStatus).switches.map((s) => s.vc), ["200"]);
});

Deno.test("las engine: data goes without a pinned source when the kernel would pick the same one", () => {
  const asked: string[] = [];
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  // The kernel would answer 10.0.0.2 from 10.0.0.1 (the address it called), 10.0.0.3 from elsewhere.
  const elsewhere = parseIp("10.9.9.9");
  if (!elsewhere.ok) throw new Error(elsewhere.reason);
  const l = lab({
    sourceFor: (dest) => {
      asked.push(dest.join("."));
      return dest[15] === 2 ? lasIp.value : elsewhere.value;
    },
  });
  const a = l.edge("10.0.0.2", "5");
  const b = l.edge("10.0.0.3", "5");
  l.start();
  l.run(500);
  assertEquals([a.eng.state, b.eng.state], ["up", "up"]);
  assertEquals(asked.length, 2, "asked once per session");
  const sent: { to: string; from: string | null }[] = [];
  const queue = l.lt.queue.bind(l.lt);
  l.lt.queue = (data, to, from) => {
    if (data[0] !== 0 || data[1] !== 0 || data[2] !== 0 || data[3] !== 0) {
      sent.push({ to: to.ip.slice(12).join("."), from: from ? from.slice(12).join(".") : null });
    }
    return queue(data, to, from);
  };
  a.dev.inject(frame(0xff, 0xa1));
  b.dev.inject(frame(0xff, 0xb2));
  l.run(50);
  assertEquals(sent.find((x) => x.to === "10.0.0.2")?.from, null, "not pinned: kernel agrees");
  assertEquals(
    sent.find((x) => x.to === "10.0.0.3")?.from,
    "10.0.0.1",
    "pinned: kernel would differ",
  );
  const st = l.las.status(0) as { sessions: { local: string }[] };
  assertEquals(st.sessions.map((x) => x.local), ["10.0.0.1", "10.0.0.1"]);
});

/**
 * A router scripted by hand over the in-memory network, for what the xconnect engine never
 * asks: here the default L2-Specific Sublayer with sequencing on the data the LAS sends it.
 */
function scriptedRouter(
  l: ReturnType<typeof lab>,
  ip: string,
  vc: string | Uint8Array,
  sid: number,
  icrq: Fields = {},
) {
  const t = l.net.open(ip, 0, { raw: true });
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  const peer = new ScriptedL2tp(t, { ip: lasIp.value, port: 0 });
  const send = (f: Fields) => peer.send(f);
  const take = () => peer.take();
  send({
    messageType: 1,
    protocolVersion: { version: 1, revision: 0 },
    hostName: ip,
    receiveWindowSize: 16,
    routerId: 9,
    assignedControlConnectionId: 77,
    pwCapabilities: [5],
  });
  l.run(20);
  const sccrp = take().control.find((f) => f.messageType === 2);
  assert(sccrp !== undefined, "SCCRP");
  peer.ccid = sccrp.assignedControlConnectionId!;
  send({ messageType: 3 });
  send({
    messageType: 10,
    callSerialNumber: 1,
    localSessionId: sid,
    remoteSessionId: 0,
    remoteEndId: typeof vc === "string" ? new TextEncoder().encode(vc) : vc,
    pwType: 5,
    circuitStatus: 1,
    l2SpecificSublayer: 1,
    dataSequencing: 2,
    ...icrq,
  });
  l.run(20);
  const got = take().control;
  const icrp = got.find((f) => f.messageType === 11);
  if (icrp === undefined) return { take, refused: got.find((f) => f.messageType === 14) };
  assertEquals([icrp.l2SpecificSublayer, icrp.dataSequencing], [0, 0], "the LAS wants none back");
  send({ messageType: 12, localSessionId: sid, remoteSessionId: icrp.localSessionId! });
  l.run(20);
  take();
  return { take, refused: undefined };
}

Deno.test("las engine: a peer that asks for sequenced data gets the sublayer with S=1 and numbers 0, 1, 2...", () => {
  const l = lab();
  const b = l.edge("10.0.0.3", "7");
  l.start();
  l.run(200);
  const r = scriptedRouter(l, "10.0.0.9", "7", 0x51);
  const st = l.las.status(0) as LasStatus;
  assertEquals(st.sessions.map((s) => [s.vc, s.tx_sublayer]).sort(), [
    ["7", "none"],
    ["7", "sequenced"],
  ]);
  const sent = 5;
  for (let i = 0; i < sent; i++) b.dev.inject(frame(0xff, 0xb2, 0x0800, 60 + i));
  l.run(20);
  const got = r.take().data;
  assertEquals(got.length, sent);
  got.forEach((p, i) => {
    // Session id (ours), then the sublayer: S bit, 24-bit sequence, then the frame.
    assertEquals(((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0, 0x51);
    assertEquals(p[4], 0x40, "S=1");
    assertEquals((p[5] << 16) | (p[6] << 8) | p[7], i);
    assertEquals(p.length - 8, 60 + i, "the whole frame follows");
  });
});

Deno.test("las engine: a VLAN-tagged frame dropped by policy is said once per session; mixed PW types on a VC are said", () => {
  const l = lab();
  const a = l.edge("10.0.0.2", "100");
  l.start();
  l.run(300);
  assertEquals(a.eng.state, "up");
  scriptedRouter(l, "10.0.0.9", "100", 4242, {
    pwType: 4,
    l2SpecificSublayer: 0,
    dataSequencing: 0,
  });
  const mixed = l.lines.filter((x) => x.includes("VC 100 mixes PW types"));
  assertEquals(mixed.length, 1, l.lines.join("\n"));
  assertStringIncludes(mixed[0], "is type 4");
  const tagged = frame(0xff, 0xa1, 0x8100, 64);
  a.dev.inject(tagged);
  a.dev.inject(tagged);
  l.run(50);
  const said = l.lines.filter((x) => x.includes("sends VLAN-tagged frames"));
  assertEquals(said.length, 1, "once per session, not per frame");
  assertStringIncludes(said[0], "allow_vlan_tagged");
  const st = l.las.status(0) as LasStatus;
  assertEquals(st.counters.vlan_frames_dropped, 2);
});

Deno.test("las engine: shutdown retransmits StopCCN until acknowledged and logs at info", () => {
  const l = lab();
  l.edge("10.0.0.2", "100");
  l.start();
  l.run(300);
  const silent = scriptedRouter(l, "10.0.0.9", "100", 4242);
  const mark = l.lines.length;
  const t0 = l.now();
  l.las.stop(t0);
  let stops = 0;
  let settled = -1;
  for (let t = t0; t <= t0 + 3000; t += 10) {
    // The scripted router never acknowledges; the xconnect edge does.
    stops += silent.take().control.filter((f) => f.messageType === 4).length;
    l.run(10);
    if (settled < 0 && l.las.stopped(l.now())) settled = l.now() - t0;
  }
  assert(stops >= 4, `the unacknowledged StopCCN was sent ${stops} times`);
  assert(settled >= 1500 && settled <= 2100, `gave up waiting after ${settled} ms`);
  const downs = l.lines.slice(mark).filter((x) => x.includes("is down: the LAS is shutting down"));
  assertEquals(downs.length, 2, l.lines.slice(mark).join("\n"));
  for (const d of downs) assert(!/\bWARN/i.test(d), d);
});

Deno.test("las engine: the allow list takes only its prefixes; sources count per address and /64", () => {
  const l = lab({ allow: ["10.0.0.2/32", "2001:db8::/32"] });
  const a = l.edge("10.0.0.2", "100");
  const b = l.edge("10.0.0.3", "100");
  l.start();
  l.run(300);
  assertEquals([a.eng.state, b.eng.state], ["up", "connecting"]);
  const st = l.las.status(0) as LasStatus;
  assert(st.counters.rx_not_allowed > 0);
  assert(l.lines.some((x) => x.includes("from 10.0.0.3 dropped: not in the allow list")));
  const p = peerPrefix("2001:db8::/32");
  assert(typeof p !== "string");
  const ip = (t: string) => {
    const r = parseIp(t);
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  };
  assert(prefixContains(p, ip("2001:db8:1::5")) && !prefixContains(p, ip("2001:db9::5")));
  assert(!prefixContains(p, ip("10.0.0.2")));
  assertEquals(typeof peerPrefix("10.0.0.0/33"), "string");
  assertEquals(sourceOf("[2001:db8:1:2::5]:1701"), sourceOf("2001:db8:1:2:ffff::1"));
  assertEquals(sourceOf("192.0.2.1:1701"), "192.0.2.1");
});

Deno.test("las engine: a Remote End ID over 64 bytes is refused with a bounded CDN", () => {
  const l = lab();
  const r = scriptedRouter(l, "10.0.0.9", new Uint8Array(1000).fill(0x41), 4242);
  assert(r.refused, "a CDN");
  const text = r.refused.resultCode?.message ?? "";
  assertStringIncludes(text, "Remote End ID of 1000 bytes is too long");
  assert(text.length <= 240, text);
  const st = l.las.status(0) as LasStatus;
  assertEquals(st.counters.sessions_refused_remote_end_id, 1);
});

Deno.test("las engine: the session past a VC's 1024 ports is refused with a CDN that says why", () => {
  const l = lab();
  const t = l.net.open("10.0.0.9", 0, { raw: true });
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  const peer = new ScriptedL2tp(t, { ip: lasIp.value, port: 0 });
  peer.send({
    messageType: 1,
    protocolVersion: { version: 1, revision: 0 },
    hostName: "many",
    receiveWindowSize: 16,
    routerId: 9,
    assignedControlConnectionId: 77,
    pwCapabilities: [5],
  });
  l.run(20);
  const sccrp = peer.take().control.find((f) => f.messageType === 2);
  assert(sccrp !== undefined, "SCCRP");
  peer.ccid = sccrp.assignedControlConnectionId!;
  peer.send({ messageType: 3 });
  l.run(10);
  peer.take();
  /** Asks for one session on VC 9; returns the CDN's text if refused, "" if it came up. */
  const session = (sid: number): string => {
    peer.send({
      messageType: 10,
      callSerialNumber: sid,
      localSessionId: sid,
      remoteSessionId: 0,
      remoteEndId: enc.encode("9"),
      pwType: 5,
      circuitStatus: 1,
    });
    l.run(10);
    const got = peer.take().control;
    const cdn = got.find((f) => f.messageType === 14);
    if (cdn) return cdn.resultCode?.message ?? "(a CDN without text)";
    const icrp = got.find((f) => f.messageType === 11);
    assert(icrp !== undefined, `ICRP for session ${sid}`);
    peer.send({ messageType: 12, localSessionId: sid, remoteSessionId: icrp.localSessionId! });
    l.run(10);
    const late = peer.take().control.find((f) => f.messageType === 14);
    return late ? late.resultCode?.message ?? "(a CDN without text)" : "";
  };
  for (let sid = 1; sid <= 1024; sid++) assertEquals(session(sid), "", `session ${sid}`);
  const text = session(1025);
  assertStringIncludes(text, "VC 9 has no free port");
  assertStringIncludes(text, "1024");
  assert(text.length <= 240, text);
  const st = l.las.status(0) as LasStatus;
  assertEquals(st.sessions.length, 1024, "the refused session is not shown as attached");
  assertEquals(st.counters.sessions_refused_port_limit, 1);
  assert(l.lines.some((x) => x.includes("VC 9 has no free port")), "logged");
});

Deno.test("las engine: ICRQs on one VC at the same time cannot pass its port limit together", () => {
  const l = lab({ maxPorts: 2 });
  for (const ip of ["10.0.0.2", "10.0.0.3", "10.0.0.4"]) l.edge(ip, "300");
  l.start();
  l.run(500);
  const st = l.las.status(0) as LasStatus;
  assertEquals(st.sessions.length, 2);
  assertEquals(st.counters.sessions_refused_port_limit, 1);
  assertEquals(st.sessions_setting_up, 0);
  assert(
    l.lines.some((x) => /VC 300 has no free port .*2 sessions: [01] up, [12] being set up/.test(x)),
    "the refusal counts the sessions being set up",
  );
});

Deno.test("las engine: /status and /metrics render from the snapshot; recent events carry wall time", () => {
  const l = lab();
  l.edge("10.0.0.2", "100");
  l.edge("10.0.0.3", "100");
  l.start();
  l.run(500);
  const snap = l.las.snapshot(60_000);
  const ups = snap.status.recent.filter((r) => r.event === "session-up");
  assertEquals(ups.length, 2);
  assert(ups.every((r) => r.at < 500 && r.vc === "100"), "on the engine's clock");
  const wall = Date.UTC(2026, 0, 1, 12, 0, 0);
  const doc = lasStatus(snap, wall) as { recent: { time: string; event: string }[] };
  const first = doc.recent.find((r) => r.event === "session-up")!;
  assertEquals(Object.keys(first)[0], "time", "time comes first, as it always did");
  assertEquals(first.time, new Date(wall - (60_000 - ups[0].at)).toISOString());
  assert(!("at" in first), "the engine's clock stays inside");
  const w = new MetricsWriter();
  lasMetrics(w, snap);
  const text = w.render();
  assertStringIncludes(text, "l2_las_sessions 2\n");
  assertStringIncludes(text, "l2_las_switches 1\n");
  assertStringIncludes(text, 'l2_las_l2tp_total{transport="ip",name="rx_packets"}');
  // Labelled by VC and peer address, never by the random session id.
  assertEquals(
    text.match(/^l2_las_pseudowire_rx_frames_total\{vc="[^"]+",peer="[^"]+"\} /gm)?.length,
    2,
  );
  assert(!text.includes("session="), text);
});

Deno.test("las engine: receive takes one datagram with its source; hostile bytes are counted, never thrown", () => {
  const l = lab();
  const b = l.edge("10.0.0.3", "7");
  l.start();
  l.run(200);
  assertEquals(b.eng.state, "up");
  const ip = (t: string) => {
    const r = parseIp(t);
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  };
  const src = ip("198.51.100.7");
  const dst = ip("10.0.0.1");
  const rand = seededRandom(5);
  const before = (l.las.status(0) as LasStatus).counters.rx_unusable;
  for (let i = 0; i < 2000; i++) {
    const d = new Uint8Array(1 + Math.floor(rand() * 200));
    for (let k = 0; k < d.length; k++) d[k] = Math.floor(rand() * 256);
    if (i % 2 === 0) d.fill(0, 0, 4); // half of them: control messages (session id 0)
    l.las.receive(d, { via: 0, src, srcPort: 0, dst }, 1000 + i);
  }
  l.las.endBatch(3000);
  const st = l.las.status(3000) as LasStatus;
  assert(st.counters.rx_unusable > before, "data for no session is counted");
  assertEquals(st.counters.rx_handler_errors, 0);
  assertEquals(st.sessions.length, 1, "the session is still up");
});

Deno.test("las: a datagram cut to its receive slot is counted by the pump, under rx_truncated in /status and /metrics", () => {
  const l = lab();
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  const stray = l.net.open("10.0.0.9", 0, { raw: true, slotSize: 65536 });
  // Twice the twin's 16 KiB slot: the LAS's socket keeps a cut copy and flags it.
  stray.send(new Uint8Array(32768), { ip: lasIp.value, port: 0 });
  l.run(20);
  const io = { ip: l.lw.counters };
  assertEquals(l.lw.counters.rx_truncated, 1);
  const st = lasStatus(l.las.snapshot(l.now()), 0, io) as {
    counters: Record<string, number>;
    io: Record<string, Record<string, number>>;
  };
  assertEquals(st.counters.rx_truncated, 1, "the name /status always had");
  assertEquals(st.counters.rx_unusable, 0, "never handed to the engine");
  assertEquals(st.io.ip.rx_truncated, 1);
  const w = new MetricsWriter();
  lasMetrics(w, l.las.snapshot(l.now()), io);
  const text = w.render();
  assertStringIncludes(text, "l2_las_rx_truncated_total 1\n");
  assertStringIncludes(text, 'l2_las_io_rx_truncated_total{fd="ip"} 1\n');
});
