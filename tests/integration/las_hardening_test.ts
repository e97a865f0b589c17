/**
 * `l2 las` on the open internet (issue 13, sections 1 and 3), through real
 * sockets in namespaces this test creates (prefix l2t-l2lh-):
 *
 *   e1 (10.79.0.2, xconnect VC 100) --\
 *   e2 (10.79.0.3, xconnect VC 100) ---- core bridge ---- las (10.79.0.1)
 *   atk (10.79.0.4, and 10.79.0.99: the "forged" source, which never answers) --/
 *
 * - the crash SCCRQ (120 unknown mandatory AVPs) and an ICRQ with a 1000-byte
 *   Remote End ID once `max_switches` is reached: the LAS answers with bounded
 *   texts and keeps serving (e2 comes up afterwards, UDP crosses e1 -> e2);
 * - amplification: bytes the LAS sends to a source that never answers, over
 *   bytes it received from it, at most 3;
 * - DF clear on control and data the LAS and the edges send (IP header of
 *   copies seen by raw sockets in the namespaces);
 * - SIGTERM: the StopCCN to a peer that does not acknowledge is retransmitted;
 *   the LAS logs the shutdown at info and exits 0.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Lab } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";
import { ScriptedL2tp } from "../lab/l2tp_script.ts";
import { inNetns } from "../../ffi/netns.ts";
import { openRawIp } from "../../ffi/raw.ts";
import { openUdp } from "../../ffi/udp.ts";
import { parseIp } from "../../core/addr.ts";
import type { DatagramSocket } from "../../ffi/dgram.ts";
import { type Avp, emitControl, parseControl } from "../../core/l2tp/control_message.ts";
import { decodeFields, encodeFields, type Fields } from "../../core/l2tp/avp_fields.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ip(text: string) {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** Every datagram waiting on a raw socket: IP header and payload. */
function drain(s: DatagramSocket): { header: Uint8Array; payload: Uint8Array }[] {
  const got: { header: Uint8Array; payload: Uint8Array }[] = [];
  for (let n = s.recv(); n > 0; n = s.recv()) {
    for (let i = 0; i < n; i++) {
      const b = s.rx.bufs[i];
      got.push({
        header: b.slice(0, s.rx.offsets[i]),
        payload: b.slice(s.rx.offsets[i], s.rx.lens[i]),
      });
    }
  }
  return got;
}

/** Control messages a scripted peer received, polled for up to `ms` until `done` says so. */
async function collect(
  peer: ScriptedL2tp,
  done: (all: Fields[]) => boolean,
  ms: number,
): Promise<Fields[]> {
  const all: Fields[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    all.push(...peer.take().control);
    if (done(all)) break;
    await sleep(50);
  }
  return all;
}

const df = (header: Uint8Array) => (header[6] & 0x40) !== 0;

Deno.test("las hardening: hostile packets, amplification, DF and shutdown through real sockets", async () => {
  const lab = await Lab.create("l2lh");
  const daemons: Daemon[] = [];
  const sockets: DatagramSocket[] = [];
  const dir = await Deno.makeTempDir({ prefix: "l2lh-" });
  try {
    const core = await lab.netns("core");
    const las = await lab.netns("las");
    const e1 = await lab.netns("e1");
    const e2 = await lab.netns("e2");
    const atk = await lab.netns("atk");
    const members: string[] = [];
    for (const [i, ns] of [las, e1, e2, atk].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.79.0.${i + 1}/24`);
      members.push(`p${i}`);
    }
    await lab.addr(atk, "up0", "10.79.0.99/24");
    await lab.bridge(core, "br0", members);
    const wrap = (ns: string) => ["ip", "netns", "exec", ns];

    await Deno.writeTextFile(
      `${dir}/las.yaml`,
      "las:\n  default:\n    max_switches: 1\n    api: 127.0.0.1:7857\n",
    );
    const lasd = new Daemon(MAIN, ["las", "-c", `${dir}/las.yaml`], {}, wrap(las));
    daemons.push(lasd);
    await lasd.waitLine(/listening for L2TPv3/);
    await lasd.waitLine(/accepting L2TPv3 peers from anywhere \(no allow list, no secret\)/);

    // Copies of every IP protocol 115 packet in e1 and in the LAS's namespace (DF check).
    const obsE1 = inNetns(e1, () => openRawIp({ protocol: 115 }));
    sockets.push(obsE1);
    const obsLas = inNetns(las, () => openRawIp({ protocol: 115 }));
    sockets.push(obsLas);

    const edge = (ns: string) => {
      const d = new Daemon(
        MAIN,
        ["xconnect", "10.79.0.1", "100", "--tap", "x0", "--api", "127.0.0.1:7858"],
        {},
        wrap(ns),
      );
      daemons.push(d);
      return d;
    };
    const x1 = edge(e1);
    await x1.waitLine(/session \d+ on VC 100 is up/, 15_000);

    // --- The crash SCCRQ: 120 unknown AVPs with the M bit set, from atk.
    const atkSock = inNetns(atk, () => openRawIp({ protocol: 115, bind: "10.79.0.4" }));
    sockets.push(atkSock);
    const lasAddr = { ip: ip("10.79.0.1"), port: 0 };
    const strange: Avp[] = [];
    for (let i = 0; i < 120; i++) {
      strange.push({
        mandatory: true,
        hidden: false,
        vendor: 0,
        type: 201 + i,
        value: new Uint8Array(0),
      });
    }
    const crash = emitControl("ip", {
      ccid: 0,
      ns: 0,
      nr: 0,
      avps: [
        ...encodeFields({ messageType: 1, assignedControlConnectionId: 4711 }, "ietf"),
        ...strange,
      ],
    });
    assertEquals(crash.length, 754);
    assertEquals(atkSock.send(crash, lasAddr), 0);
    let stop: Fields | undefined;
    const crashEnd = Date.now() + 10_000;
    while (!stop && Date.now() < crashEnd) {
      for (const p of drain(atkSock)) {
        const c = parseControl(p.payload, "ip");
        if (!c.ok || c.msg.avps.length === 0) continue;
        const d = decodeFields(c.msg);
        if (d.ok && d.value.fields.messageType === 4) stop = d.value.fields;
      }
      await sleep(50);
    }
    assert(stop, `a StopCCN for the crash SCCRQ; las log:\n${lasd.lines.join("\n")}`);
    assertStringIncludes(stop.resultCode!.message!, "120 unknown AVPs with the M bit set");
    assertStringIncludes(stop.resultCode!.message!, "... and 112 more");

    // --- An established connection from atk, then ICRQs the LAS must refuse.
    const peer = new ScriptedL2tp(atkSock, lasAddr);
    peer.send({
      messageType: 1,
      protocolVersion: { version: 1, revision: 0 },
      hostName: "atk\n\x1b[2J" + "x".repeat(900),
      receiveWindowSize: 16,
      routerId: 4,
      assignedControlConnectionId: 99,
      pwCapabilities: [5],
    });
    const sccrp = (await collect(peer, (a) => a.some((f) => f.messageType === 2), 10_000))
      .find((f) => f.messageType === 2);
    assert(sccrp, "SCCRP to atk");
    peer.ccid = sccrp.assignedControlConnectionId!;
    peer.send({ messageType: 3 });
    const icrq = (sid: number, vc: Uint8Array) =>
      peer.send({
        messageType: 10,
        callSerialNumber: sid,
        localSessionId: sid,
        remoteSessionId: 0,
        remoteEndId: vc,
        pwType: 5,
      });
    icrq(501, new Uint8Array(1000).fill(0x41)); // the finding: 1000-byte Remote End ID
    icrq(502, new TextEncoder().encode("200")); // a second VC: max_switches is 1
    const cdns = (await collect(
      peer,
      (a) => a.filter((f) => f.messageType === 14).length >= 2,
      10_000,
    )).filter((f) => f.messageType === 14);
    assertEquals(cdns.length, 2, `two CDNs; las log:\n${lasd.lines.join("\n")}`);
    const texts = cdns.map((f) => f.resultCode?.message ?? "");
    assert(texts.some((t) => t.includes("Remote End ID of 1000 bytes is too long")), texts[0]);
    assert(texts.some((t) => t.includes("virtual switch limit is reached")), texts[1]);
    for (const t of texts) assert(t.length <= 240 && /^[\x20-\x7e]*$/.test(t), t);
    for (const l of lasd.lines) assert(l.length < 2000, `a log line of ${l.length} characters`);
    assert(!lasd.lines.some((l) => l.includes("\x1b")), "no escape sequence reaches the log");

    // --- A normal edge is still served: e2 comes up on VC 100 and UDP crosses e1 -> e2.
    const x2 = edge(e2);
    await x2.waitLine(/session \d+ on VC 100 is up/, 15_000);
    await lab.addr(e1, "x0", "192.168.79.2/24");
    await lab.addr(e2, "x0", "192.168.79.3/24");
    const rxUdp = inNetns(e2, () => openUdp({ bind: "192.168.79.3:9079" }));
    sockets.push(rxUdp);
    const txUdp = inNetns(e1, () => openUdp({ bind: "192.168.79.2:0" }));
    sockets.push(txUdp);
    let crossed = false;
    const udpEnd = Date.now() + 15_000;
    while (!crossed && Date.now() < udpEnd) {
      txUdp.send(new TextEncoder().encode("hello"), { ip: ip("192.168.79.3"), port: 9079 });
      await sleep(200);
      crossed = rxUdp.recv() > 0;
    }
    assert(crossed, "UDP from e1 reached e2 across the LAS");
    const st = await runL2(["status", "--api", "127.0.0.1:7857", "--json"], { wrap: wrap(las) });
    assertEquals(st.code, 0, st.stderr);
    assertEquals(JSON.parse(st.stdout).sessions.length, 2);

    // --- DF: clear on what the LAS sent to e1 (control and data) and on what e1 sent.
    const fromLas = drain(obsE1).filter((p) => p.header[12] === 10 && p.header[15] === 1);
    const toLas = drain(obsLas).filter((p) => p.header[15] === 2);
    assert(fromLas.some((p) => p.payload[0] !== 0 || p.payload[1] !== 0), "data from the LAS");
    assert(fromLas.length > 0 && toLas.length > 0, `${fromLas.length} / ${toLas.length}`);
    assertEquals(fromLas.filter((p) => df(p.header)).length, 0, "DF set on packets from the LAS");
    assertEquals(toLas.filter((p) => df(p.header)).length, 0, "DF set on packets from e1");

    // --- Amplification: 4 tiny SCCRQs from 10.79.0.99, which never answers.
    const victim = inNetns(atk, () => openRawIp({ protocol: 115, bind: "10.79.0.99" }));
    sockets.push(victim);
    let sentBytes = 0;
    for (let i = 1; i <= 4; i++) {
      const b = emitControl("ip", {
        ccid: 0,
        ns: 0,
        nr: 0,
        avps: encodeFields({ messageType: 1, assignedControlConnectionId: 9000 + i }, "ietf"),
      });
      assertEquals(b.length, 34);
      assertEquals(victim.send(b, lasAddr), 0);
      sentBytes += b.length;
    }
    // Long enough for the RFC back-off's retransmissions at 1 s and 3 s, and (a busy machine)
    // until the first answer came, 30 s at most: a longer window only makes the bound stricter.
    let gotBytes = 0;
    let gotPackets = 0;
    const ampStart = Date.now();
    while (
      Date.now() < ampStart + 4500 || (gotPackets === 0 && Date.now() < ampStart + 30_000)
    ) {
      for (const p of drain(victim)) {
        gotBytes += p.payload.length;
        gotPackets++;
        assert(!df(p.header), "DF set on an SCCRP");
      }
      await sleep(100);
    }
    assert(gotPackets > 0, "the LAS answered the forged source once");
    const ratio = gotBytes / sentBytes;
    console.log(
      `amplification: ${gotBytes} bytes in ${gotPackets} packets to the forged source for ` +
        `${sentBytes} received: ${ratio.toFixed(2)}x`,
    );
    assert(ratio <= 3, `amplification ${ratio.toFixed(2)}x`);

    // --- SIGTERM on e2: its StopCCN is acknowledged, it exits 0; the LAS logs a normal close at info.
    const m2 = lasd.lines.length;
    x2.kill("SIGTERM");
    assertEquals((await x2.exited()).code, 0, x2.lines.join("\n"));
    const byEdge = await lasd.waitLine(
      /control connection with 10\.79\.0\.3 is down: peer sent StopCCN.*the edge is shutting down/,
      30_000,
      m2,
    );
    assert(/\binfo\b/.test(byEdge.input), byEdge.input);

    // --- SIGTERM: atk's connection never acknowledges: its StopCCN comes again.
    peer.take();
    const mark = lasd.lines.length;
    lasd.kill("SIGTERM");
    const stops = (await collect(
      peer,
      (a) => a.filter((f) => f.messageType === 4).length >= 3,
      5_000,
    )).filter((f) => f.messageType === 4);
    assertEquals((await lasd.exited()).code, 0, lasd.lines.join("\n"));
    assert(stops.length >= 2, `the unacknowledged StopCCN came ${stops.length} time(s)`);
    const downs = lasd.lines.slice(mark).filter((l) => l.includes("the LAS is shutting down"));
    assert(downs.length >= 3, lasd.lines.slice(mark).join("\n"));
    for (const d of downs) assert(/\binfo\b/.test(d) && !/\bwarn\b/.test(d), d);
    await x1.waitLine(/peer sent StopCCN.*the LAS is shutting down/, 30_000);
    assert(
      x1.lines.some((l) => /\binfo\b.*control connection to 10\.79\.0\.1 is down/.test(l)),
      x1.lines.join("\n"),
    );
  } finally {
    for (const s of sockets) {
      try {
        s.close();
      } catch { /* closed */ }
    }
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
});
