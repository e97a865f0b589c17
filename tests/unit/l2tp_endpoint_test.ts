/**
 * L2tpEndpoint as conversations at explicit times: a scripted peer sends
 * control messages, the test reads what the endpoint answers.
 */
import fc from "fast-check";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { ipv4Of, readCapture } from "../lab/pcap.ts";
import { L2tpEndpoint } from "../../core/l2tp/endpoint.ts";
import type { EndpointConfig } from "../../core/l2tp/endpoint_config.ts";
import type { L2tpEvent } from "../../core/l2tp/events.ts";
import {
  type Avp,
  emitControl,
  messageTypeOf,
  parseControl,
} from "../../core/l2tp/control_message.ts";
import {
  decodeFields,
  type Dialect,
  encodeFields,
  type Fields,
} from "../../core/l2tp/avp_fields.ts";
import { messageName } from "../../core/l2tp/constants.ts";
import { emitData } from "../../core/l2tp/data_header.ts";
import { IdAllocator } from "../../core/l2tp/id_allocator.ts";

/** Seeded xorshift32: the endpoint's random source in tests. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const CISCO = "192.0.2.1";
const EDGE = "10.115.0.1";
const LAS_IP = 0xc0000202; // 192.0.2.2

function las(extra: Partial<EndpointConfig> = {}): L2tpEndpoint {
  return new L2tpEndpoint({
    transport: "ip",
    hostName: "l2-las",
    routerId: LAS_IP,
    random32: rng(42),
    ...extra,
  });
}

/** What the endpoint sent, decoded. */
interface Sent {
  peer: string;
  ccid: number;
  ns: number;
  nr: number;
  type: string;
  f: Fields;
  avps: Avp[];
  bytes: Uint8Array;
}

function sent(ep: L2tpEndpoint): Sent[] {
  return ep.takeOutgoing().map(({ peer, bytes }) => {
    const p = parseControl(bytes, ep.config.transport);
    assert(p.ok, "endpoint sent an unparsable control message");
    const d = decodeFields(p.msg);
    assert(d.ok);
    return {
      peer,
      ccid: p.msg.ccid,
      ns: p.msg.ns,
      nr: p.msg.nr,
      type: messageName(messageTypeOf(p.msg)),
      f: d.value.fields,
      avps: p.msg.avps,
      bytes,
    };
  });
}

function only(ep: L2tpEndpoint, type: string): Sent {
  const out = sent(ep);
  assertEquals(out.map((s) => s.type), [type]);
  return out[0];
}

/** A scripted peer: numbers its messages and tracks what it expects. */
class Peer {
  ns = 0;
  nr = 0;
  theirCcid = 0;
  constructor(
    readonly addr: string,
    readonly ourCcid: number,
    readonly dialect: Dialect = "ietf",
  ) {}
  /** Bytes of the next message (consumes Ns). */
  msg(f: Fields, extra: Avp[] = []): Uint8Array {
    const bytes = emitControl("ip", {
      ccid: f.messageType === 1 ? 0 : this.theirCcid,
      ns: this.ns,
      nr: this.nr,
      avps: [...encodeFields(f, this.dialect), ...extra],
    });
    this.ns = (this.ns + 1) & 0xffff;
    return bytes;
  }
  zlb(): Uint8Array {
    return emitControl("ip", { ccid: this.theirCcid, ns: this.ns, nr: this.nr, avps: [] });
  }
  /** Records that we received a non-ZLB message. */
  got(s: Sent): void {
    if (s.type !== "ZLB") this.nr = (s.ns + 1) & 0xffff;
  }
  sccrq(extra: Fields = {}): Uint8Array {
    return this.msg({
      messageType: 1,
      protocolVersion: { version: 1, revision: 0 },
      hostName: "edge1",
      receiveWindowSize: 16,
      routerId: 0x0a730001,
      assignedControlConnectionId: this.ourCcid,
      pwCapabilities: [5, 4],
      ...(this.dialect === "cisco" ? { ciscoDraftVersion: 1 } : {}),
      ...extra,
    });
  }
  icrq(sid: number, extra: Fields = {}): Uint8Array {
    return this.msg({
      messageType: 10,
      callSerialNumber: sid,
      localSessionId: sid,
      remoteSessionId: 0,
      remoteEndId: new TextEncoder().encode("1234"),
      pwType: 5,
      circuitStatus: 1,
      ...extra,
    });
  }
}

/** LAS + peer through SCCRQ/SCCRP/SCCCN; returns both, outputs drained. */
function established(
  ep: L2tpEndpoint,
  peer = new Peer(EDGE, 0x5d05663c),
  t = 0,
): { ep: L2tpEndpoint; peer: Peer } {
  ep.receive(peer.addr, peer.sccrq(), t);
  const sccrp = only(ep, "SCCRP");
  peer.theirCcid = sccrp.f.assignedControlConnectionId!;
  peer.got(sccrp);
  ep.receive(peer.addr, peer.msg({ messageType: 3 }), t);
  only(ep, "ZLB");
  ep.takeEvents();
  return { ep, peer };
}

/** ... plus one session (ICRQ/ICRP/ICCN); returns our local session id. */
function withSession(ep: L2tpEndpoint, peer: Peer, sid: number, t = 0, extra: Fields = {}): number {
  ep.receive(peer.addr, peer.icrq(sid, extra), t);
  const icrp = only(ep, "ICRP");
  peer.got(icrp);
  const local = icrp.f.localSessionId!;
  ep.receive(
    peer.addr,
    peer.msg({ messageType: 12, localSessionId: sid, remoteSessionId: local }),
    t,
  );
  only(ep, "ZLB");
  ep.takeEvents();
  return local;
}

function types(evs: L2tpEvent[]): string[] {
  return evs.map((e) => e.type);
}

Deno.test("LAS, IETF dialect: SCCRQ -> SCCRP, SCCCN -> ZLB, ICRQ -> ICRP, ICCN -> ZLB, session up", () => {
  const ep = las();
  const peer = new Peer(EDGE, 0x5d05663c);
  // t=0: deliver SCCRQ, expect SCCRP addressed to the peer's CCID, acknowledging Ns 0.
  ep.receive(EDGE, peer.sccrq(), 0);
  const sccrp = only(ep, "SCCRP");
  assertEquals([sccrp.peer, sccrp.ccid, sccrp.ns, sccrp.nr], [EDGE, 0x5d05663c, 0, 1]);
  assertEquals(sccrp.f.hostName, "l2-las");
  assertEquals(sccrp.f.routerId, LAS_IP);
  assertEquals(sccrp.f.pwCapabilities, [5, 4]);
  assertEquals(sccrp.f.receiveWindowSize, 8);
  assert(sccrp.f.assignedControlConnectionId! > 0);
  assertEquals(sccrp.avps.filter((a) => a.vendor === 9), [], "IETF peer gets no vendor-9 AVPs");
  peer.theirCcid = sccrp.f.assignedControlConnectionId!;
  peer.got(sccrp);
  assertEquals(ep.connections()[0].state, "wait-ctl-conn");
  // t=10: SCCCN -> ZLB (Ns stays 1: the SCCRP consumed 0), connection up.
  ep.receive(EDGE, peer.msg({ messageType: 3 }), 10);
  const zlb = only(ep, "ZLB");
  assertEquals([zlb.ns, zlb.nr], [1, 2]);
  const up = ep.takeEvents();
  assertEquals(types(up), ["connection-up"]);
  assert(up[0].type === "connection-up");
  assertEquals([up[0].dialect, up[0].hostName], ["ietf", "edge1"]);
  // t=5000: ICRQ -> ICRP with our session id, the peer's id, PW type echoed.
  ep.receive(EDGE, peer.icrq(653172390), 5000);
  const icrp = only(ep, "ICRP");
  assertEquals([icrp.ns, icrp.nr], [1, 3]);
  assertEquals(icrp.f.remoteSessionId, 653172390);
  assertEquals([icrp.f.pwType, icrp.f.l2SpecificSublayer, icrp.f.dataSequencing], [5, 0, 0]);
  assertEquals(icrp.f.circuitStatus, 1);
  assertEquals(icrp.f.assignedCookie, undefined);
  const local = icrp.f.localSessionId!;
  assert(local > 0);
  peer.got(icrp);
  // Data before ICCN is not accepted.
  const frame = new Uint8Array(60).fill(7);
  assertEquals(ep.classifyData(emitData("ip", local, noCookie, -1, frame), EDGE), {
    kind: "drop",
    reason: "session_not_up",
  });
  // t=5010: ICCN -> ZLB, session up with VC id "1234".
  ep.receive(
    EDGE,
    peer.msg({ messageType: 12, localSessionId: 653172390, remoteSessionId: local }),
    5010,
  );
  const ack = only(ep, "ZLB");
  assertEquals([ack.ns, ack.nr], [2, 4]);
  const evs = ep.takeEvents();
  assertEquals(types(evs), ["session-up"]);
  assert(evs[0].type === "session-up");
  const s = evs[0].session;
  assertEquals([s.localSessionId, s.remoteSessionId, s.pwType, s.vcIdText], [
    local,
    653172390,
    5,
    "1234",
  ]);
  assertEquals(s.vcId, new TextEncoder().encode("1234"));
  // Data now maps to the session, and we can answer it.
  const c = ep.classifyData(emitData("ip", local, noCookie, -1, frame), EDGE);
  assert(c.kind === "frame");
  assertEquals([c.session.localSessionId, c.frame], [local, frame]);
  const out = ep.encapsulate(local, frame)!;
  assertEquals(out.peer, EDGE);
  assertEquals(out.bytes, emitData("ip", 653172390, noCookie, -1, frame));
  assertStringIncludes(
    ep.trace(peer.theirCcid).map((t) => t.what).join("\n"),
    "wait-connect -> established",
  );
});

const noCookie = { cookie: new Uint8Array(0), sublayer: false };

function ciscoSccrqBytes(): Uint8Array {
  const [p] = readCapture(Deno.readFileSync(
    new URL("../fixtures/captures/cisco-sccrq.pcap", import.meta.url),
  ));
  return ipv4Of(p)!.payload;
}

Deno.test("LAS answers the real Cisco SCCRQ in Cisco's pre-standard dialect (facts 3.1)", () => {
  const ep = las();
  ep.receive(CISCO, ciscoSccrqBytes(), 0);
  const r = only(ep, "SCCRP");
  assertEquals([r.peer, r.ccid, r.ns, r.nr], [CISCO, 0xa6ef0776, 0, 1]);
  const ours = r.f.assignedControlConnectionId!;
  // Facts 3.1 item 2: 0, 2, 7, 60, 61, 62, (9,1), (9,2), (9,10) - we add 8 and 10.
  assertEquals(
    r.avps.map((a) => `${a.mandatory ? "M" : "-"}${a.vendor},${a.type}`),
    ["M0,0", "M0,2", "M0,7", "-0,8", "M0,10", "-0,60", "-0,61", "-0,62", "M9,1", "M9,2", "M9,10"],
  );
  assertEquals(r.f.protocolVersion, { version: 1, revision: 0 });
  assertEquals(r.f.routerId, LAS_IP);
  assertEquals(r.f.pwCapabilities, [5, 4]);
  const v = (vendor: number, type: number) =>
    r.avps.find((a) => a.vendor === vendor && a.type === type)!.value;
  assertEquals(v(9, 1), v(0, 61));
  assertEquals(v(9, 2), v(0, 62));
  assertEquals(v(9, 10), new Uint8Array([0, 1]));
  assertEquals(
    v(0, 61),
    new Uint8Array([ours >>> 24, (ours >>> 16) & 255, (ours >>> 8) & 255, ours & 255]),
  );
  // SCCCN from the Cisco -> connection up with a note saying which dialect.
  const cisco = new Peer(CISCO, 0xa6ef0776, "cisco");
  cisco.ns = 1;
  cisco.nr = 1;
  cisco.theirCcid = ours;
  ep.receive(CISCO, cisco.msg({ messageType: 3 }), 100);
  only(ep, "ZLB");
  const [up] = ep.takeEvents();
  assert(up.type === "connection-up");
  assertEquals([up.dialect, up.hostName], ["cisco", "ar1.bru1"]);
  assertEquals(
    up.note,
    "SCCRQ from 192.0.2.1 uses Cisco's pre-standard AVPs; answered in that dialect",
  );
});

Deno.test("LAS, Cisco dialect: ICRQ with only vendor-9 session AVPs gets an ICRP with both sets", () => {
  const { ep, peer } = established(las(), new Peer(CISCO, 77, "cisco"));
  const m = peer.ns;
  // Hand-built ICRQ: vendor-9 Local/Remote Session ID, Remote End ID, PW type, all M=1.
  const avps: Avp[] = [
    { mandatory: true, hidden: false, vendor: 0, type: 0, value: new Uint8Array([0, 10]) },
    { mandatory: true, hidden: false, vendor: 0, type: 15, value: new Uint8Array([0, 0, 0, 1]) },
    {
      mandatory: true,
      hidden: false,
      vendor: 9,
      type: 3,
      value: new Uint8Array([0, 0, 0x30, 0x39]),
    },
    { mandatory: true, hidden: false, vendor: 9, type: 4, value: new Uint8Array([0, 0, 0, 0]) },
    { mandatory: true, hidden: false, vendor: 9, type: 6, value: new Uint8Array([0, 0, 0, 100]) },
    { mandatory: true, hidden: false, vendor: 9, type: 7, value: new Uint8Array([0, 5]) },
  ];
  ep.receive(CISCO, emitControl("ip", { ccid: peer.theirCcid, ns: m, nr: peer.nr, avps }), 1000);
  const icrp = only(ep, "ICRP");
  const keys = icrp.avps.map((a) => `${a.vendor},${a.type}`);
  for (const k of ["0,63", "0,64", "0,68", "9,3", "9,4", "9,7"]) assert(keys.includes(k), k);
  assertEquals(icrp.f.remoteSessionId, 12345);
  const v94 = icrp.avps.find((a) => a.vendor === 9 && a.type === 4)!.value;
  assertEquals(v94, new Uint8Array([0, 0, 0x30, 0x39]));
  peer.ns = m + 1;
  peer.got(icrp);
  ep.receive(
    CISCO,
    peer.msg({ messageType: 12, localSessionId: 12345, remoteSessionId: icrp.f.localSessionId }),
    1010,
  );
  const [up] = ep.takeEvents();
  assert(up.type === "session-up");
  assertEquals(up.session.vcIdText, "0x00000064 (100)");
});

Deno.test("LAS refuses PW type 11 with CDN result 14 and an operator-readable reason", () => {
  const { ep, peer } = established(las());
  ep.receive(EDGE, peer.icrq(99, { pwType: 11 }), 0);
  const cdn = only(ep, "CDN");
  assertEquals(cdn.f.resultCode?.result, 14);
  assertEquals([cdn.f.localSessionId, cdn.f.remoteSessionId], [0, 99]);
  const [ev] = ep.takeEvents();
  assert(ev.type === "rejected");
  assertEquals(ev.code, "pw_type_refused");
  assertEquals(
    ev.reason,
    "ICRQ for PW type 11 refused: only Ethernet (5) and Ethernet VLAN (4) are supported",
  );
  assertEquals(cdn.f.resultCode?.message, ev.reason);
  assertEquals(ep.counters["rejected_pw_type_refused"], 1);
});

Deno.test("LAS accepts PW type 4 (Ethernet VLAN)", () => {
  const { ep, peer } = established(las());
  const local = withSession(ep, peer, 5, 0, { pwType: 4 });
  assertEquals(ep.session(local)?.pwType, 4);
});

Deno.test("retransmission: SCCRP unanswered is resent at 1, 3, 7, 15, 23 s, peer dead at 31 s", () => {
  // No amplification budget here: this is about the timer (the budget has its own tests).
  const ep = las({ amplificationFactor: Infinity });
  const peer = new Peer(EDGE, 1);
  ep.receive(EDGE, peer.sccrq(), 0);
  const first = only(ep, "SCCRP");
  const resent: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = ep.nextDeadline();
    if (t === Infinity) break;
    ep.poll(t);
    for (const s of sent(ep)) {
      assertEquals(s.bytes, first.bytes); // same Ns, same Nr
      resent.push(t);
    }
  }
  assertEquals(resent, [1000, 3000, 7000, 15000, 23000]);
  const [down] = ep.takeEvents();
  assert(down.type === "connection-down");
  assertEquals(
    down.reason,
    "during handshake: peer 10.115.0.1 stopped answering: 5 retransmissions of SCCRP unacknowledged",
  );
  assertEquals(ep.connections(), []);
});

Deno.test("a retransmitted SCCRQ reaches the same connection and is re-acknowledged", () => {
  const ep = las();
  const peer = new Peer(EDGE, 0x1234);
  const sccrq = peer.sccrq();
  ep.receive(EDGE, sccrq, 0);
  only(ep, "SCCRP");
  ep.receive(EDGE, sccrq, 900);
  const ack = only(ep, "ZLB");
  assertEquals([ack.ns, ack.nr], [1, 1]);
  assertEquals(ep.connections().length, 1);
  // Same CCID from another address is another connection.
  ep.receive("10.115.0.9", sccrq, 950);
  only(ep, "SCCRP");
  assertEquals(ep.connections().length, 2);
});

Deno.test("the peer's receive window is honoured: extra ICRPs wait for acknowledgements", () => {
  const ep = las();
  const peer = new Peer(EDGE, 9);
  ep.receive(EDGE, peer.sccrq({ receiveWindowSize: 1 }), 0);
  const sccrp = only(ep, "SCCRP");
  peer.theirCcid = sccrp.f.assignedControlConnectionId!;
  peer.got(sccrp);
  ep.receive(EDGE, peer.msg({ messageType: 3 }), 0);
  only(ep, "ZLB");
  // Three ICRQs back to back; window 1 lets one ICRP out.
  ep.receive(EDGE, peer.icrq(101), 10);
  ep.receive(EDGE, peer.icrq(102), 10);
  ep.receive(EDGE, peer.icrq(103), 10);
  const burst = sent(ep);
  assertEquals(burst.map((s) => s.type), ["ICRP", "ZLB", "ZLB"]);
  assertEquals(burst[0].f.remoteSessionId, 101);
  // The peer acks the first ICRP: the second goes out.
  peer.nr = 2;
  ep.receive(EDGE, peer.zlb(), 20);
  const next = only(ep, "ICRP");
  assertEquals([next.ns, next.f.remoteSessionId], [2, 102]);
});

Deno.test("out-of-order messages are held and processed once the gap fills", () => {
  const { ep, peer } = established(las());
  const first = peer.icrq(201);
  const second = peer.icrq(202);
  ep.receive(EDGE, second, 0);
  assertEquals(sent(ep), []);
  ep.receive(EDGE, first, 5);
  const out = sent(ep);
  assertEquals(out.map((s) => [s.type, s.f.remoteSessionId]), [["ICRP", 201], ["ICRP", 202]]);
  assertEquals(out[1].nr, 4);
});

Deno.test("HELLO: we send one after 60 s of silence; the peer's HELLO is acknowledged", () => {
  const { ep, peer } = established(las(), undefined, 1000);
  assertEquals(ep.nextDeadline(), 61_000);
  ep.poll(61_000);
  const hello = only(ep, "HELLO");
  peer.got(hello);
  ep.receive(EDGE, peer.zlb(), 61_050);
  assertEquals(sent(ep), []);
  ep.receive(EDGE, peer.msg({ messageType: 6 }), 70_000);
  const ack = only(ep, "ZLB");
  assertEquals(ack.nr, peer.ns);
  // Hearing from the peer pushes our next HELLO out.
  assertEquals(ep.nextDeadline(), 130_000);
});

Deno.test("a dead peer is torn down with all its sessions; data stops mapping", () => {
  const { ep, peer } = established(las());
  const a = withSession(ep, peer, 1);
  const b = withSession(ep, peer, 2);
  ep.poll(60_000);
  only(ep, "HELLO");
  for (let i = 0; i < 10 && ep.nextDeadline() < Infinity; i++) {
    ep.poll(ep.nextDeadline());
    sent(ep);
    if (ep.connections().length === 0) break;
  }
  const evs = ep.takeEvents();
  assertEquals(types(evs).sort(), ["connection-down", "session-down", "session-down"]);
  const down = evs.find((e) => e.type === "connection-down");
  assert(down?.type === "connection-down");
  assertStringIncludes(down.reason, "5 retransmissions of HELLO unacknowledged");
  assertEquals(ep.connections(), []);
  assertEquals(ep.classifyData(emitData("ip", a, noCookie, -1, new Uint8Array(20))), {
    kind: "drop",
    reason: "unknown_session",
  });
  assertEquals(ep.session(b), undefined);
  assertEquals(ep.sessionIds.size, 0);
});

Deno.test("CDN from the peer removes the session; closeSession sends CDN result 3", () => {
  const { ep, peer } = established(las());
  const a = withSession(ep, peer, 11);
  const b = withSession(ep, peer, 12);
  ep.receive(
    EDGE,
    peer.msg({
      messageType: 14,
      resultCode: { result: 3, error: 0, message: "shut" },
      localSessionId: 11,
      remoteSessionId: a,
    }),
    100,
  );
  only(ep, "ZLB");
  const [down] = ep.takeEvents();
  assert(down.type === "session-down");
  assertEquals(down.localSessionId, a);
  assertEquals(down.reason, 'peer sent CDN: result 3 (administrative reasons): "shut"');
  assertEquals(ep.session(a), undefined);
  assert(ep.closeSession(b, 200, "VC removed from the configuration"));
  const cdn = only(ep, "CDN");
  assertEquals([cdn.f.resultCode?.result, cdn.f.localSessionId, cdn.f.remoteSessionId], [3, b, 12]);
  assertEquals(cdn.f.resultCode?.message, "VC removed from the configuration");
  assertEquals(ep.session(b), undefined);
});

Deno.test("StopCCN from the peer: acked, everything down, re-acked during the hold, then forgotten", () => {
  const { ep, peer } = established(las());
  withSession(ep, peer, 21);
  const stop = peer.msg({
    messageType: 4,
    resultCode: { result: 6 },
    assignedControlConnectionId: peer.ourCcid,
  });
  ep.receive(EDGE, stop, 1000);
  only(ep, "ZLB");
  const evs = ep.takeEvents();
  assertEquals(types(evs), ["session-down", "connection-down"]);
  const down = evs[1];
  assert(down.type === "connection-down");
  assertEquals(down.reason, "peer sent StopCCN: result 6 (requester is being shut down)");
  ep.receive(EDGE, stop, 2000); // retransmitted: our ZLB was lost
  only(ep, "ZLB");
  assertEquals(ep.connections()[0].state, "closing");
  assertEquals(ep.nextDeadline(), 32_000);
  ep.poll(32_000);
  assertEquals(ep.connections(), []);
});

Deno.test("closeConnection sends StopCCN with our CCID and retransmits it until acked", () => {
  const { ep, peer } = established(las());
  const ours = peer.theirCcid;
  ep.closeConnection(ours, 0, "LAS shutting down", 6);
  const s = only(ep, "StopCCN");
  assertEquals([s.f.resultCode?.result, s.f.assignedControlConnectionId], [6, ours]);
  ep.poll(1000);
  assertEquals(sent(ep).map((x) => x.type), ["StopCCN"]);
  peer.got(s);
  ep.receive(EDGE, peer.zlb(), 1100);
  ep.poll(5000);
  assertEquals(sent(ep), []);
});

Deno.test("cookies: each side receives the cookie it chose; wrong cookies are dropped", () => {
  const { ep, peer } = established(las({ cookieLength: 8 }));
  const peerCookie = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
  ep.receive(EDGE, peer.icrq(31, { assignedCookie: peerCookie }), 0);
  const icrp = only(ep, "ICRP");
  const ourCookie = icrp.f.assignedCookie!;
  assertEquals(ourCookie.length, 8);
  const local = icrp.f.localSessionId!;
  peer.got(icrp);
  ep.receive(EDGE, peer.msg({ messageType: 12, localSessionId: 31, remoteSessionId: local }), 0);
  const [up] = ep.takeEvents();
  assert(up.type === "session-up");
  assertEquals([up.session.txCookie, up.session.rxCookie], [peerCookie, ourCookie]);
  const frame = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 8, 0]);
  const good = emitData("ip", local, { cookie: ourCookie, sublayer: false }, -1, frame);
  const c = ep.classifyData(good, EDGE);
  assert(c.kind === "frame");
  assertEquals(c.frame, frame);
  const bad = good.slice();
  bad[11] ^= 0xff;
  assertEquals(ep.classifyData(bad, EDGE), { kind: "drop", reason: "cookie_mismatch" });
  assertEquals(ep.classifyData(good, "198.51.100.7"), { kind: "drop", reason: "wrong_peer" });
  assertEquals(
    ep.encapsulate(local, frame)!.bytes,
    emitData("ip", 31, { cookie: peerCookie, sublayer: false }, -1, frame),
  );
  assertEquals(ep.counters["data_drop_cookie_mismatch"], 1);
});

Deno.test("garbage, truncated, hidden and replayed messages are dropped and counted; sessions keep working", () => {
  const { ep, peer } = established(las());
  const local = withSession(ep, peer, 41);
  const replay = peer.icrq(41);
  peer.ns--; // (we will deliver it as a replay of an old Ns below)
  const frame = new Uint8Array(64).fill(1);
  const data = emitData("ip", local, noCookie, -1, frame);
  let x = 7;
  for (let i = 0; i < 200; i++) {
    const junk = new Uint8Array(4 + (i % 40));
    for (let j = 4; j < junk.length; j++) junk[j] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    ep.receive(EDGE, junk, 100 + i);
  }
  const hello = peer.msg({ messageType: 6 });
  peer.ns--;
  ep.receive(EDGE, hello.subarray(0, hello.length - 3), 400); // truncated
  const hidden = hello.slice();
  hidden[16] |= 0x40; // H bit on the Message Type AVP
  ep.receive(EDGE, hidden, 401);
  // Replay of an already processed ICRQ (old Ns): re-acked, no second session.
  const oldNs = parseControl(replay, "ip");
  assert(oldNs.ok);
  ep.receive(EDGE, emitControl("ip", { ...oldNs.msg, ns: 2 }), 402);
  const out = sent(ep);
  assertEquals(out.map((s) => s.type), ["ZLB"]);
  assertEquals(ep.connections()[0].sessions, 1);
  const c = ep.classifyData(data, EDGE);
  assert(c.kind === "frame");
  assertEquals(c.frame, frame);
  assert((ep.counters["drop_truncated"] ?? 0) + (ep.counters["drop_unknown_ccid"] ?? 0) > 0);
  assertEquals(ep.counters["drop_hidden_avp"], 1);
  assertEquals(ep.counters["rx_duplicate"], 1);
  const rej = ep.takeEvents().filter((e) => e.type === "rejected");
  assert(rej.length >= 200, `every junk message is reported (${rej.length})`);
  assertEquals(ep.connections()[0].state, "established");
});

Deno.test("an unknown AVP with the M bit: StopCCN in SCCRQ, CDN in ICRQ (error code 8)", () => {
  const strange: Avp = {
    mandatory: true,
    hidden: false,
    vendor: 0,
    type: 200,
    value: new Uint8Array(2),
  };
  const ep = las();
  const p1 = new Peer(EDGE, 51);
  ep.receive(
    EDGE,
    p1.msg({ messageType: 1, hostName: "x", assignedControlConnectionId: 51 }, [strange]),
    0,
  );
  const stop = only(ep, "StopCCN");
  assertEquals([stop.ccid, stop.f.resultCode?.result, stop.f.resultCode?.error], [51, 2, 8]);
  assertStringIncludes(stop.f.resultCode!.message!, "1 unknown AVP with the M bit set: (0,200)");
  const { ep: ep2, peer } = established(las());
  ep2.receive(EDGE, peer.msg({ messageType: 10, localSessionId: 61, pwType: 5 }, [strange]), 0);
  const cdn = only(ep2, "CDN");
  assertEquals([cdn.f.resultCode?.result, cdn.f.resultCode?.error, cdn.f.remoteSessionId], [
    2,
    8,
    61,
  ]);
  assertEquals(ep2.connections()[0].state, "established");
});

Deno.test("limits: pending handshakes and sessions per connection are bounded, with reasons", () => {
  const ep = las({ maxPendingConnections: 2, maxSessionsPerConnection: 1 });
  for (let i = 1; i <= 3; i++) ep.receive(`10.0.0.${i}`, new Peer(`10.0.0.${i}`, i).sccrq(), 0);
  assertEquals(ep.connections().length, 2);
  const rej = ep.takeEvents().filter((e) => e.type === "rejected");
  assert(rej[0]?.type === "rejected");
  assertEquals(rej[0].reason, "SCCRQ from 10.0.0.3 dropped: 2 handshakes in progress (the limit)");
  const { ep: ep2, peer } = established(las({ maxSessionsPerConnection: 1 }));
  withSession(ep2, peer, 1);
  ep2.receive(EDGE, peer.icrq(2), 0);
  const cdn = only(ep2, "CDN");
  assertEquals(cdn.f.resultCode?.result, 4);
  assertEquals(ep2.counters["rejected_too_many_sessions"], 1);
});

Deno.test("session ids are unique across peers even with a colliding random source", () => {
  let n = 0;
  const tiny = () => ((++n >> 1) * 17) % 50; // every value twice in a row; 49 non-zero ids
  const shared = new IdAllocator(tiny, 40);
  const ep = las({ sessionIds: shared, random32: rng(5) });
  const seen = new Set<number>();
  for (let p = 0; p < 4; p++) {
    const { peer } = established(ep, new Peer(`10.1.0.${p}`, 100 + p));
    for (let i = 1; i <= 10; i++) {
      ep.receive(peer.addr, peer.icrq(i), 0);
      const out = sent(ep)[0];
      peer.got(out);
      if (out.type === "ICRP") {
        assert(!seen.has(out.f.localSessionId!), "duplicate session id");
        seen.add(out.f.localSessionId!);
      }
    }
  }
  assert(seen.size >= 30, `allocated ${seen.size}`);
  assertEquals(shared.size, seen.size);
});

Deno.test("a session never completed is given up with CDN after the setup timeout", () => {
  const { ep, peer } = established(las({ sessionSetupTimeoutMs: 30_000 }), undefined, 0);
  ep.receive(EDGE, peer.icrq(71), 1000);
  only(ep, "ICRP");
  ep.poll(31_000);
  const out = sent(ep);
  const cdn = out.find((s) => s.type === "CDN");
  assertEquals(cdn?.f.resultCode?.result, 16);
  assertEquals(types(ep.takeEvents()), ["session-down"]);
});

Deno.test("sessionPolicy refuses unknown VC ids with an administrative CDN", () => {
  const { ep, peer } = established(
    las({ sessionPolicy: (r) => r.vcIdText === "1234" ? null : "no virtual switch for this VC" }),
  );
  ep.receive(EDGE, peer.icrq(81, { remoteEndId: new TextEncoder().encode("999") }), 0);
  const cdn = only(ep, "CDN");
  assertEquals(cdn.f.resultCode?.result, 3);
  const [ev] = ep.takeEvents();
  assert(ev.type === "rejected");
  assertEquals(ev.reason, "ICRQ from 10.115.0.1 for VC 999 refused: no virtual switch for this VC");
});

Deno.test("sessionPolicy is asked with the Session ID the session gets; a refused one frees it", () => {
  const asked: number[] = [];
  const { ep, peer } = established(
    las({
      sessionPolicy: (r) => {
        asked.push(r.localSessionId);
        return r.vcIdText === "1234" ? null : "no virtual switch for this VC";
      },
    }),
  );
  ep.receive(EDGE, peer.icrq(81, { remoteEndId: new TextEncoder().encode("999") }), 0);
  peer.got(only(ep, "CDN"));
  assertEquals(asked.length, 1);
  assert(asked[0] !== 0);
  assertEquals(ep.sessionIds.size, 0, "the refused session's id is free again");
  assertEquals(ep.session(asked[0]), undefined);
  const local = withSession(ep, peer, 82);
  assertEquals(asked.length, 2);
  assertEquals(asked[1], local, "the id asked about is the one in the ICRP");
  assertEquals(ep.sessionIds.size, 1);
});

/** Moves packets between two endpoints until both are quiet; returns the time reached. */
function pump(
  a: L2tpEndpoint,
  aAddr: string,
  b: L2tpEndpoint,
  bAddr: string,
  now: number,
  until: number,
): number {
  let t = now;
  for (let i = 0; i < 1000; i++) {
    let moved = false;
    for (const o of a.takeOutgoing()) {
      assertEquals(o.peer, bAddr);
      b.receive(aAddr, o.bytes, t);
      moved = true;
    }
    for (const o of b.takeOutgoing()) {
      assertEquals(o.peer, aAddr);
      a.receive(bAddr, o.bytes, t);
      moved = true;
    }
    if (moved) continue;
    const next = Math.min(a.nextDeadline(), b.nextDeadline());
    if (next > until) return t;
    t = Math.max(t, next);
    a.poll(t);
    b.poll(t);
  }
  throw new Error("pump did not settle");
}

for (const dialect of ["ietf", "cisco"] as const) {
  Deno.test(`initiator and LAS in memory (${dialect}): connection, session, data both ways, HELLOs, CDN`, () => {
    const lasEp = las({ cookieLength: 4 });
    const edge = new L2tpEndpoint({
      transport: "ip",
      hostName: "xconnect-edge",
      routerId: 0x0a730001,
      random32: rng(7),
      dialect,
      cookieLength: 8,
    });
    const c = edge.connect("192.0.2.2", 0);
    assert(c.ok);
    // Session asked for before the connection is up: it waits, then goes.
    const s = edge.openSession(c.localCcid, { pwType: 5, vcId: new TextEncoder().encode("77") }, 0);
    assert(s.ok);
    let t = pump(edge, "10.115.0.1", lasEp, "192.0.2.2", 0, 10);
    const le = lasEp.takeEvents();
    const ee = edge.takeEvents();
    assertEquals(types(le), ["connection-up", "session-up"]);
    assertEquals(types(ee), ["connection-up", "session-up"]);
    assert(le[0].type === "connection-up" && le[1].type === "session-up");
    assertEquals(le[0].dialect, dialect);
    assert(ee[1].type === "session-up");
    const ls = le[1].session;
    const es = ee[1].session;
    assertEquals([ls.remoteSessionId, es.remoteSessionId], [es.localSessionId, ls.localSessionId]);
    assertEquals([ls.txCookie, es.txCookie], [es.rxCookie, ls.rxCookie]);
    assertEquals([ls.rxCookie.length, es.rxCookie.length], [4, 8]);
    assertEquals(ls.vcIdText, "77");
    // Data both ways.
    const frame = new Uint8Array(100).map((_, i) => i);
    const toLas = edge.encapsulate(es.localSessionId, frame)!;
    const got = lasEp.classifyData(toLas.bytes, "10.115.0.1");
    assert(got.kind === "frame");
    assertEquals([got.session.localSessionId, got.frame], [ls.localSessionId, frame]);
    const back = lasEp.encapsulate(ls.localSessionId, frame)!;
    const got2 = edge.classifyData(back.bytes, "192.0.2.2");
    assert(got2.kind === "frame");
    assertEquals(got2.frame, frame);
    // Ten minutes of silence: HELLOs both ways, acknowledged, nobody dies.
    t = pump(edge, "10.115.0.1", lasEp, "192.0.2.2", t, t + 600_000);
    assert((edge.counters["tx_hello"] ?? 0) + (lasEp.counters["tx_hello"] ?? 0) >= 10);
    assertEquals(types(edge.takeEvents()), []);
    assertEquals(lasEp.connections()[0].state, "established");
    // The edge drops the session: both sides see it go.
    edge.closeSession(es.localSessionId, t);
    pump(edge, "10.115.0.1", lasEp, "192.0.2.2", t, t + 10);
    assertEquals(types(lasEp.takeEvents()), ["session-down"]);
    assertEquals(lasEp.classifyData(toLas.bytes).kind, "drop");
  });
}

Deno.test("initiator: SCCRQ unanswered is retransmitted 1,2,4,8,8 s apart and then given up", () => {
  const edge = new L2tpEndpoint({ transport: "udp", hostName: "e", routerId: 1, random32: rng(3) });
  const c = edge.connect("192.0.2.2", 0);
  assert(c.ok);
  const times: number[] = [];
  for (let i = 0; i < 10 && edge.nextDeadline() < Infinity; i++) {
    const t = edge.nextDeadline();
    edge.poll(t);
    if (edge.takeOutgoing().length > 0) times.push(t);
  }
  assertEquals(times, [1000, 3000, 7000, 15000, 23000]);
  assertEquals(types(edge.takeEvents()), ["connection-down"]);
});

Deno.test("a peer that closed and starts over with the same CCID gets a new connection", () => {
  const { ep, peer } = established(las());
  const first = peer.theirCcid;
  ep.receive(
    EDGE,
    peer.msg({
      messageType: 4,
      resultCode: { result: 1 },
      assignedControlConnectionId: peer.ourCcid,
    }),
    1000,
  );
  only(ep, "ZLB");
  const again = new Peer(EDGE, peer.ourCcid); // restarted: Ns 0, same assigned CCID
  ep.receive(EDGE, again.sccrq(), 2000);
  const sccrp = only(ep, "SCCRP");
  assert(sccrp.f.assignedControlConnectionId !== first);
  assertEquals(ep.connections().map((c) => c.state).sort(), ["closing", "wait-ctl-conn"]);
});

Deno.test("property: mutated control messages never throw and never leak session ids", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom("icrq", "iccn", "cdn", "sli", "hello", "stop", "sccrq", "zlb"),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
          fc.nat({ max: 5 }),
        ),
        { maxLength: 30 },
      ),
      (script) => {
        const { ep, peer } = established(las());
        withSession(ep, peer, 1000);
        let t = 0;
        for (const [kind, flips, cut] of script) {
          const sid = 1000 + (flips.length % 3);
          const b = kind === "icrq"
            ? peer.icrq(sid)
            : kind === "iccn"
            ? peer.msg({ messageType: 12, localSessionId: sid, remoteSessionId: 0 })
            : kind === "cdn"
            ? peer.msg({ messageType: 14, resultCode: { result: 1 }, localSessionId: sid })
            : kind === "sli"
            ? peer.msg({ messageType: 16, localSessionId: sid, circuitStatus: 0 })
            : kind === "hello"
            ? peer.msg({ messageType: 6 })
            : kind === "stop"
            ? peer.msg({ messageType: 4, resultCode: { result: 1 } })
            : kind === "sccrq"
            ? new Peer(EDGE, 9999).sccrq()
            : peer.zlb();
          for (const [pos, val] of flips) b[pos % b.length] = val;
          ep.receive(EDGE, b.subarray(0, b.length - cut), t);
          for (const s of sent(ep)) peer.got(s);
          t += 700;
          ep.poll(t);
          sent(ep);
        }
        const live = ep.connections().reduce((n, c) => n + c.sessions, 0);
        assertEquals(ep.sessionIds.size, live);
      },
    ),
    { seed: 3931, numRuns: 200 },
  );
});

Deno.test("a peer asking for the default sublayer with sequencing gets numbered data", () => {
  const { ep, peer } = established(las());
  const local = withSession(ep, peer, 91, 0, { l2SpecificSublayer: 1, dataSequencing: 2 });
  const info = ep.session(local)!;
  assertEquals([info.txSublayer, info.txSequencing, info.rxSublayer], [true, true, false]);
  const frame = new Uint8Array([9, 9, 9]);
  const layout = { cookie: new Uint8Array(0), sublayer: true };
  assertEquals(ep.encapsulate(local, frame)!.bytes, emitData("ip", 91, layout, 0, frame));
  assertEquals(ep.encapsulate(local, frame)!.bytes, emitData("ip", 91, layout, 1, frame));
  // Sequencing without a sublayer is refused (CDN result 15).
  ep.receive(EDGE, peer.icrq(92, { dataSequencing: 2 }), 0);
  assertEquals(only(ep, "CDN").f.resultCode?.result, 15);
});

Deno.test("ICRP echoes the peer's Interface MTU (Cisco 9,14 and IETF 91) so an MTU check cannot fail", () => {
  const { ep, peer } = established(las(), new Peer(CISCO, 5, "cisco"));
  ep.receive(CISCO, peer.icrq(7, { interfaceMtu: 1500 }), 0);
  const icrp = only(ep, "ICRP");
  assertEquals(icrp.f.interfaceMtu, 1500);
  const mtu = icrp.avps.filter((a) => a.type === (a.vendor === 9 ? 14 : 91));
  assertEquals(mtu.map((a) => [a.vendor, a.value]), [[0, new Uint8Array([5, 220])], [
    9,
    new Uint8Array([5, 220]),
  ]]);
  ep.receive(CISCO, peer.icrq(8), 0);
  assertEquals(only(ep, "ICRP").f.interfaceMtu, undefined);
});

/** Fault injection: makes the connection with our CCID `ccid` throw whenever its timers run. */
function breakTimers(ep: L2tpEndpoint, ccid: number): void {
  const conns = (ep as unknown as { byLocal: Map<number, { poll(now: number): void }> }).byLocal;
  const c = conns.get(ccid);
  assert(c, `no connection ${ccid}`);
  c.poll = () => {
    throw new RangeError("injected timer fault");
  };
}

Deno.test("one connection whose timers throw does not starve the others: HELLO on time, then it is closed", () => {
  const reported: [string, string, string | null][] = [];
  const ep = las({
    contain: (h, e, p) => reported.push([h, (e as Error).message, p]),
  });
  const peers = ["192.0.2.11", "192.0.2.12", "192.0.2.13"].map((a, i) =>
    established(ep, new Peer(a, 0x100 + i)).peer
  );
  const ccids = ep.connections().map((c) => c.localCcid);
  assertEquals(ccids.length, 3);
  breakTimers(ep, ccids[0]); // the first one the loop visits
  // HELLO interval (60 s) without a word from any peer: the two good ones say HELLO.
  ep.poll(60_000);
  const hellos = sent(ep).filter((s) => s.type === "HELLO").map((s) => s.peer).sort();
  assertEquals(hellos, [peers[1].addr, peers[2].addr]);
  assertEquals(reported, [["l2tp-timer", "injected timer fault", peers[0].addr]]);
  assertEquals(ep.counters.connection_errors, 1);
  // Two more failures: closed with StopCCN (general error), said once in connection-down.
  ep.poll(60_001);
  assertEquals(sent(ep), []);
  ep.poll(60_002);
  const stop = only(ep, "StopCCN");
  assertEquals([stop.peer, stop.f.resultCode?.result], [peers[0].addr, 2]);
  const downs = ep.takeEvents().filter((e) => e.type === "connection-down");
  assertEquals(downs.length, 1);
  assertStringIncludes((downs[0] as { reason: string }).reason, "internal error");
  assertEquals(ep.counters.connections_failed_closed, 1);
  // It fails again while closing: dropped outright, its CCID forgotten; the others stay up.
  ep.poll(60_003);
  assertEquals(ep.counters.connections_failed_dropped, 1);
  assertEquals(ep.connections().map((c) => c.localCcid), ccids.slice(1));
  assertEquals(ep.connections().map((c) => c.state), ["established", "established"]);
  assertEquals(reported.length, 4);
  ep.poll(120_000);
  assertEquals(sent(ep).filter((s) => s.type === "HELLO").length, 2);
  assertEquals(ep.counters.connection_errors, 4);
});

Deno.test("without a contain hook the other connections are served first, then the error is thrown", () => {
  const edge = new L2tpEndpoint({ transport: "udp", hostName: "e", routerId: 1, random32: rng(5) });
  const a = edge.connect("192.0.2.21:1701", 0);
  const b = edge.connect("192.0.2.22:1701", 0);
  assert(a.ok && b.ok);
  sent(edge);
  breakTimers(edge, a.localCcid);
  let thrown: unknown = null;
  try {
    edge.poll(1000);
  } catch (e) {
    thrown = e;
  }
  assert(thrown instanceof RangeError);
  // The SCCRQ to the second peer was retransmitted on time all the same.
  const out = sent(edge);
  assertEquals(out.map((s) => [s.peer, s.type]), [["192.0.2.22:1701", "SCCRQ"]]);
  assertEquals(edge.counters.tx_retransmit, 1);
});
