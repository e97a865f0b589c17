/**
 * Two federated supernode engines (core/vpn/supernode_engine.ts with
 * core/vpn/fed_supernode.ts) and secure nodes on an in-memory network,
 * stepped at explicit times (no sockets, no sleeping): the session between
 * the supernodes, attachments, relay across supernodes, merged rosters,
 * introductions across supernodes, and an attacker's FED_* packets.
 */
import { assert, assertEquals } from "../assert.ts";
import { EndpointTable, keyedEndpoint } from "../../core/addr.ts";
import { matAddress } from "../../core/mac.ts";
import { FED_NETWORK, FedType } from "../../core/vpn/fed_messages.ts";
import { SupernodeFederation } from "../../core/vpn/fed_supernode.ts";
import { emitHeader } from "../../core/vpn/header.ts";
import { Members } from "../../core/vpn/members.ts";
import { decodePacket, encodePacket, parseBody } from "../../core/vpn/messages.ts";
import { MsgType } from "../../core/vpn/constants.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { SecureNode } from "../../core/vpn/secure_node.ts";
import { SecureSupernode } from "../../core/vpn/secure_supernode.ts";
import { SupernodeEngine, type SupernodeEngineEvent } from "../../core/vpn/supernode_engine.ts";
import type { StaticKey } from "../../core/vpn/handshake.ts";
import { arrival, MemSocket } from "./vpn_mem_port.ts";
import { ETHERTYPE_TEST, frame, keyOf, prng, seededSuite, WALL_EPOCH } from "./vpn_security_lab.ts";

const SN1 = "198.51.100.1:7654";
const SN2 = "198.51.100.2:7654";

interface Sn {
  ep: string;
  engine: SupernodeEngine;
  fed: SupernodeFederation;
  socket: MemSocket;
  events: SupernodeEngineEvent[];
}

interface Nd {
  ep: string;
  sec: SecureNode;
  core: NodeCore;
  frames: Uint8Array[];
}

interface Flight {
  from: string;
  to: string;
  bytes: Uint8Array;
}

class FedLab {
  now = 0;
  readonly suite = seededSuite(17);
  readonly snKeys: StaticKey[];
  readonly nodeKeys: StaticKey[];
  readonly sns: Sn[] = [];
  readonly nodes = new Map<string, Nd>();
  /** Return false to drop a datagram in flight. */
  filter: (f: Flight) => boolean = () => true;
  /** Every datagram that left sn2 (for replays). */
  readonly fromSn2: Flight[] = [];
  #queue: Flight[] = [];

  constructor(
    o: { peerKeyOf2ForSn1?: Uint8Array; extraMemberAt2?: Uint8Array; aNotAt2?: boolean } = {},
  ) {
    this.snKeys = [keyOf(this.suite, 0x51), keyOf(this.suite, 0x52)];
    this.nodeKeys = [keyOf(this.suite, 0xa1), keyOf(this.suite, 0xb1)];
    const members = [
      { publicKey: this.nodeKeys[0].publicKey, id: 10 },
      { publicKey: this.nodeKeys[1].publicKey, id: 20 },
    ];
    const eps = [SN1, SN2];
    for (let i = 0; i < 2; i++) {
      const extra = i === 1 && o.extraMemberAt2 ? [{ publicKey: o.extraMemberAt2 }] : [];
      const listed = i === 1 && o.aNotAt2 ? members.slice(1) : members;
      const m = new Members({ mode: "members", members: [...listed, ...extra] });
      const security = new SecureSupernode({
        suite: this.suite,
        staticKey: this.snKeys[i],
        members: m,
      }, 0);
      const endpoints = new EndpointTable();
      const other = 1 - i;
      const key = i === 0 && o.peerKeyOf2ForSn1 ? o.peerKeyOf2ForSn1 : this.snKeys[other].publicKey;
      const fed = new SupernodeFederation({
        suite: this.suite,
        staticKey: this.snKeys[i],
        selfId: i + 1,
        peers: [{ id: other + 1, key, endpoint: endpoints.parse(eps[other])! }],
        members: m,
      }, 0);
      const socket = new MemSocket();
      const events: SupernodeEngineEvent[] = [];
      const engine = new SupernodeEngine({
        supernodeId: i + 1,
        random: prng(i + 3),
        security,
        federation: fed,
        endpoints,
        socket,
        onEvent: (e) => events.push(e),
        clock: { now: 0, wall: WALL_EPOCH },
      });
      engine.start(0);
      this.sns.push({ ep: eps[i], engine, fed, socket, events });
    }
  }

  addNode(name: string, ep: string, key: StaticKey, sn: number, id: number): Nd {
    const snEp = keyedEndpoint(this.sns[sn].ep);
    const sec = new SecureNode({
      suite: this.suite,
      staticKey: key,
      supernodeKey: this.snKeys[sn].publicKey,
      supernode: snEp,
      network: 0,
      requestedId: id,
    }, this.now);
    const core = new NodeCore({
      directory: sec,
      supernode: snEp,
      identity: key.publicKey,
      sealer: sec.sealer,
      random: prng(id),
      nodeId: id,
      localEndpoints: [],
    });
    const n = { ep, sec, core, frames: [] };
    this.nodes.set(name, n);
    sec.start(this.now, WALL_EPOCH + this.now);
    core.start(this.now);
    return n;
  }

  node(name: string): Nd {
    return this.nodes.get(name)!;
  }

  inject(from: string, to: string, bytes: Uint8Array): void {
    this.#queue.push({ from, to, bytes });
  }

  #collect(): void {
    for (const s of this.sns) {
      s.engine.endBatch(this.now);
      for (const o of s.socket.take()) {
        const f = { from: s.ep, to: o.to, bytes: o.bytes };
        if (s.ep === SN2) this.fromSn2.push(f);
        if (this.filter(f)) this.#queue.push(f);
      }
    }
    for (const n of this.nodes.values()) {
      for (const o of [...n.sec.takeOutgoing(), ...n.core.takeOutgoing()]) {
        const f = { from: n.ep, to: o.to.key, bytes: o.bytes.slice() };
        if (this.filter(f)) this.#queue.push(f);
      }
      for (const fr of n.core.takeFrames()) n.frames.push(fr.slice());
      n.sec.takeEvents();
      n.core.takeEvents();
    }
  }

  /** Runs `ms` in 10 ms steps (10 ms latency). */
  run(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 10;
      const due = this.#queue;
      this.#queue = [];
      for (const f of due) this.#deliver(f);
      for (const s of this.sns) s.engine.poll(this.now);
      for (const n of this.nodes.values()) {
        n.sec.poll(this.now, WALL_EPOCH + this.now);
        n.core.poll(this.now);
      }
      this.#collect();
    }
  }

  runUntil(done: () => boolean, ms: number): boolean {
    const end = this.now + ms;
    while (!done() && this.now < end) this.run(10);
    return done();
  }

  #deliver(f: Flight): void {
    const sn = this.sns.find((s) => s.ep === f.to);
    if (sn) return sn.engine.receive(f.bytes, arrival(f.from), this.now);
    for (const n of this.nodes.values()) {
      if (n.ep !== f.to) continue;
      const from = keyedEndpoint(f.from);
      if (n.sec.receive(from, f.bytes, this.now, WALL_EPOCH + this.now) === "core") {
        n.core.receive(from, f.bytes, this.now);
      }
    }
  }

  fedStatus(i: number) {
    return this.sns[i].engine.snapshot(this.now).federation!;
  }
}

const isNodeEp = (ep: string) => ep.startsWith("192.0.2.");

/** Two supernodes up, node a (id 10) at sn1, node b (id 20) at sn2, both registered. */
function twoSides(o: { direct?: boolean } = {}) {
  const lab = new FedLab();
  // Without `direct`, node-to-node datagrams are dropped: only relays work.
  if (!o.direct) lab.filter = (f) => !(isNodeEp(f.from) && isNodeEp(f.to));
  assert(
    lab.runUntil(() =>
      lab.fedStatus(0).peers[0].state === "up" &&
      lab.fedStatus(1).peers[0].state === "up", 5000),
    "the federation session comes up",
  );
  const a = lab.addNode("a", "192.0.2.10:40000", lab.nodeKeys[0], 0, 10);
  const b = lab.addNode("b", "192.0.2.20:40000", lab.nodeKeys[1], 1, 20);
  assert(
    lab.runUntil(
      () =>
        a.core.status().state === "registered" && b.core.status().state === "registered" &&
        lab.fedStatus(0).peers[0].attached === 1 && lab.fedStatus(1).peers[0].attached === 1,
      5000,
    ),
    "both registered and announced",
  );
  return { lab, a, b };
}

const marker = (n: number) => new Uint8Array([0xfe, 0xd0, n]);
function carries(frames: Uint8Array[], n: number): boolean {
  return frames.some((f) =>
    f[20] === 0xfe && f[21] === 0xd0 && f[22] === n && ((f[12] << 8) | f[13]) === ETHERTYPE_TEST
  );
}

Deno.test("fed engine: two supernodes come up, each sees the other's node, logged with id and key", () => {
  const { lab, a, b } = twoSides();
  for (const i of [0, 1]) {
    const p = lab.fedStatus(i).peers[0];
    assertEquals([p.id, p.state, p.attached, p.stale], [2 - i, "up", 1, 0]);
    assert(p.rttMs !== null, "RTT measured");
    const up = lab.sns[i].events.find((e) =>
      e.layer === "federation" && e.event.type === "peer_up"
    );
    assert(up !== undefined && up.layer === "federation" && up.event.type === "peer_up");
    assertEquals(up.event.key.length, 16);
  }
  // REGISTER_ACK names the allocator: each node's own supernode here.
  assertEquals([a.core.status().supernodeId, b.core.status().supernodeId], [1, 2]);
  // The registration stamps travelled: member digests match on both sides.
  assertEquals(lab.fedStatus(0).peers[0].digestMatch, true);
});

Deno.test("fed engine: a unicast from a node at sn1 reaches a node at sn2 through FED_RELAY, and back", () => {
  const { lab, a, b } = twoSides();
  // a's frame to b's MAT address (AA = 2: b's id was allocated by sn2).
  const toB = frame(matAddress(2, 20, 1), matAddress(1, 10, 1), marker(1));
  const ok1 = lab.runUntil(() => {
    a.core.sendFrame(toB, lab.now);
    return carries(b.frames, 1);
  }, 5000);
  assert(ok1, "a's frame arrives at b");
  const toA = frame(matAddress(1, 10, 1), matAddress(2, 20, 1), marker(2));
  assert(
    lab.runUntil(() => {
      b.core.sendFrame(toA, lab.now);
      return carries(a.frames, 2);
    }, 5000),
    "b's frame arrives at a",
  );
  const s1 = lab.fedStatus(0), s2 = lab.fedStatus(1);
  assert(s1.peers[0].relayedTo > 0 && s1.peers[0].relayedFrom > 0);
  assert(s2.peers[0].relayedTo > 0 && s2.peers[0].relayedFrom > 0);
  assert((s2.counters.fed_relayed_in_handshakes ?? 0) > 0, "a relayed handshake vouched by sn2");
  assert((s1.counters.fed_relayed_in ?? 0) > 0, "data delivered by sn1");
  const peerB = a.core.peers().find((p) => p.node === 20);
  assertEquals(peerB?.path, "relay");
});

Deno.test("fed engine: rosters list nodes of the other supernode, so a broadcast reaches them", () => {
  const { lab, a, b } = twoSides();
  const bcast = frame(0xffff_ffff_ffff, matAddress(1, 10, 1), marker(3));
  assert(
    lab.runUntil(() => {
      a.core.sendFrame(bcast, lab.now);
      return carries(b.frames, 3);
    }, 5000),
    "a's broadcast reaches b on the other supernode",
  );
  const bcastB = frame(0xffff_ffff_ffff, matAddress(2, 20, 1), marker(4));
  assert(
    lab.runUntil(() => {
      b.core.sendFrame(bcastB, lab.now);
      return carries(a.frames, 4);
    }, 5000),
    "and b's reaches a",
  );
});

Deno.test("fed engine: PEER_REQUEST across supernodes introduces the pair: the path goes direct", () => {
  const { lab, a, b } = twoSides({ direct: true });
  const toB = frame(matAddress(2, 20, 1), matAddress(1, 10, 1), marker(5));
  assert(
    lab.runUntil(() => {
      a.core.sendFrame(toB, lab.now);
      return a.core.peers().find((p) => p.node === 20)?.path === "direct" &&
        b.core.peers().find((p) => p.node === 10)?.path === "direct";
    }, 10_000),
    "direct both ways after the introduction",
  );
  assert(carries(b.frames, 5));
  const c1 = lab.fedStatus(0).counters, c2 = lab.fedStatus(1).counters;
  assert((c1.fed_intro_sent ?? 0) > 0, "sn1 asked sn2 (FED_INTRO)");
  assert((c2.fed_intro_in ?? 0) > 0, "sn2 passed it to b");
  assert((c1.fed_intro_answered ?? 0) > 0, "the answer came back to sn1");
});

Deno.test("fed engine: an attacker's unsealed, replayed or forged FED_* is dropped and changes nothing", () => {
  const { lab } = twoSides();
  const before = lab.fedStatus(0);
  // 1. Unsealed: a FED_DETACH for node 20 (network 0, the newest possible stamp) with a
  //    made-up key id and tag, from sn2's address. Were it taken, node 20 would be gone.
  const body = new Uint8Array(6 + 16);
  body[4] = 1; // count
  body[6] = 0; // network 0, node 20
  body[9] = 20;
  body.fill(0xff, 10, 22);
  const p = new Uint8Array(24 + body.length + 16);
  emitHeader({
    type: FedType.DETACH,
    flags: 0,
    network: FED_NETWORK,
    sender: 2,
    receiver: 1,
    keyId: 0x1234,
    counter: 99,
  }, p);
  p.set(body, 24);
  lab.inject(SN2, SN1, p);
  lab.run(10); // delivered; nothing answered yet (a sync would heal a taken detach)
  assertEquals(lab.fedStatus(0).peers[0].attached, 1, "the unsealed FED_DETACH changed nothing");
  // 2. Replays of everything sn2 sent sn1 so far (its FED_ATTACH of node 20 among them).
  const sent = lab.fromSn2.filter((f) => f.to === SN1 && f.bytes[2] >= 0x30 && f.bytes[2] <= 0x38);
  assert(sent.some((f) => f.bytes[2] === FedType.ATTACH), "sn2's FED_ATTACH was captured");
  for (const f of sent) lab.inject(SN2, SN1, f.bytes);
  // 3. A captured FED_PING with a fresh counter and a flipped body bit: a forgery.
  const ping = sent.find((f) => f.bytes[2] === FedType.PING)!.bytes.slice();
  ping[23] ^= 0x80; // counter low byte... and its top bits: far ahead of the window
  ping[19] ^= 0x01;
  ping[30] ^= 1;
  lab.inject(SN2, SN1, ping);
  lab.run(10); // delivered; nothing answered yet (a sync would heal a taken detach)
  const after = lab.fedStatus(0);
  const c = after.counters, b0 = before.counters;
  assertEquals((c.fed_drop_no_session ?? 0) - (b0.fed_drop_no_session ?? 0), 1, "unsealed");
  assertEquals((c.fed_drop_replay ?? 0) - (b0.fed_drop_replay ?? 0), sent.length, "replays");
  assertEquals((c.fed_drop_bad_tag ?? 0) - (b0.fed_drop_bad_tag ?? 0), 1, "forged");
  assertEquals(after.peers[0].attached, 1, "node 20 still attached at sn2");
  assertEquals(after.peers[0].state, "up");
});

Deno.test("fed engine: a supernode with another key claiming a peer's id is refused, and logged", () => {
  const lab = new FedLab({ peerKeyOf2ForSn1: keyOf(seededSuite(1), 0x77).publicKey });
  lab.run(3000);
  // sn1 expects another key for id 2: it refuses sn2's HS_INIT and its own fail at sn2's mac1.
  assertEquals(lab.fedStatus(0).peers[0].state, "connecting");
  assertEquals(lab.fedStatus(1).peers[0].state, "connecting");
  const refused = lab.sns[0].events.filter((e) =>
    e.layer === "federation" && e.event.type === "refused"
  );
  assert(refused.length > 0, "refusal logged");
  const ev = refused[0];
  assert(ev.layer === "federation" && ev.event.type === "refused");
  assertEquals(ev.event.peer, 2);
  assert((lab.fedStatus(0).counters.fed_hs_refused ?? 0) > 0);
  const rej = lab.sns[1].events.find((e) =>
    e.layer === "federation" && e.event.type === "rejected_by_peer"
  );
  assert(rej !== undefined, "sn2 logs that sn1 refused it");
});

Deno.test("fed engine: a node that registers at the other supernode (newer stamp) is dropped at the first", () => {
  const { lab, a } = twoSides();
  const local = (i: number) =>
    lab.sns[i].engine.snapshot(lab.now).core.networks.flatMap((n) => n.nodes.map((e) => e.node));
  assertEquals(local(0), [10]);
  // The same node (same key and id) moves to sn2: a new process there, the old one silent.
  lab.nodes.delete("a");
  void a;
  const moved = lab.addNode("a2", "192.0.2.11:40000", lab.nodeKeys[0], 1, 10);
  assert(
    lab.runUntil(() => moved.core.status().state === "registered" && local(0).length === 0, 5000),
    "sn1 dropped its registration of node 10",
  );
  assertEquals(local(1).sort(), [10, 20]);
  // The AA stays the allocator's: sn1 allocated node 10's id first.
  assertEquals(moved.core.status().supernodeId, 1);
  const ev = lab.sns[0].events.find((e) => e.layer === "federation" && e.event.type === "moved");
  assert(ev !== undefined && ev.layer === "federation" && ev.event.type === "moved");
  assertEquals([ev.event.node, ev.event.to, ev.event.conflict], [10, 2, false]);
  assertEquals(lab.fedStatus(0).peers[0].attached, 2);
});

Deno.test("fed engine: sn2 vouches only for keys of its own members: a's handshake to b stops there", () => {
  const lab = new FedLab({ aNotAt2: true });
  lab.filter = (f) => !(isNodeEp(f.from) && isNodeEp(f.to));
  assert(lab.runUntil(() => lab.fedStatus(1).peers[0].state === "up", 5000));
  const a = lab.addNode("a", "192.0.2.10:40000", lab.nodeKeys[0], 0, 10);
  const b = lab.addNode("b", "192.0.2.20:40000", lab.nodeKeys[1], 1, 20);
  assert(lab.runUntil(() => lab.fedStatus(1).peers[0].attached === 1, 5000));
  const toB = frame(matAddress(2, 20, 1), matAddress(1, 10, 1), marker(9));
  for (let i = 0; i < 30; i++) {
    a.core.sendFrame(toB, lab.now);
    lab.run(100);
  }
  assert(!carries(b.frames, 9), "nothing from a reached b");
  const c2 = lab.fedStatus(1).counters;
  assert((c2.fed_relay_not_vouched ?? 0) > 0, JSON.stringify(c2));
  assertEquals(c2.fed_relayed_in_handshakes ?? 0, 0);
});

Deno.test("fed engine: member lists that differ are logged on both sides, naming both supernodes", () => {
  const lab = new FedLab({ extraMemberAt2: keyOf(seededSuite(2), 0x66).publicKey });
  assert(lab.runUntil(() => lab.fedStatus(0).peers[0].digestMatch === false, 5000));
  lab.run(1000);
  // A SIGHUP at sn2 sends its digest again: counted at sn1, not logged again within 60 s.
  lab.sns[1].fed.membersChanged(lab.now);
  lab.run(1000);
  assertEquals(lab.fedStatus(0).counters.fed_digest_mismatch, 2);
  for (const [i, self, peer] of [[0, 1, 2], [1, 2, 1]]) {
    assertEquals(lab.fedStatus(i).peers[0].digestMatch, false);
    const ev = lab.sns[i].events.filter((e) =>
      e.layer === "federation" && e.event.type === "digest_mismatch"
    );
    assertEquals(ev.length, 1, "logged once (backing off), not per FED_DIGEST");
    const e = ev[0];
    assert(e.layer === "federation" && e.event.type === "digest_mismatch");
    assertEquals([e.event.self, e.event.peer], [self, peer]);
    assert(e.event.ours !== e.event.theirs && e.event.ours.length === 8);
  }
});

Deno.test("fed engine: network 0xFFFF without a federation is dropped and counted, never a node network", () => {
  const socket = new MemSocket();
  const suite = seededSuite(3);
  const sec = new SecureSupernode({
    suite,
    staticKey: keyOf(suite, 0x51),
    members: new Members({ mode: "open" }),
  }, 0);
  const sn = new SupernodeEngine({
    supernodeId: 1,
    random: prng(1),
    security: sec,
    endpoints: new EndpointTable(),
    socket,
  });
  const p = new Uint8Array(24 + 16);
  emitHeader({
    type: FedType.PING,
    flags: 0,
    network: FED_NETWORK,
    sender: 2,
    receiver: 1,
    keyId: 1,
    counter: 0,
  }, p);
  sn.receive(p, arrival("192.0.2.99:1"), 0);
  sn.endBatch(0);
  assertEquals(socket.take().length, 0);
  assertEquals(sn.snapshot(0).core.counters.drop_federation_unconfigured, 1);
});

Deno.test("REGISTER carries an optional 12-byte registration stamp after the endpoints", () => {
  const identity = new Uint8Array(32).fill(7);
  const stamp = new Uint8Array(12).map((_, i) => i + 1);
  const a = { network: 0, sender: 5, receiver: 0 };
  const sealer = new NullSealer();
  for (const with_ of [true, false]) {
    const r = encodePacket(
      a,
      {
        kind: "register",
        auto: false,
        identity,
        locals: ["10.0.0.1:7654"],
        ...(with_ ? { stamp } : {}),
      },
      sealer,
      0,
    );
    assert(r.ok);
    const d = decodePacket(r.packet, sealer, 0, "");
    assert(d.ok && d.msg.kind === "register");
    assertEquals(d.msg.locals, ["10.0.0.1:7654"]);
    assertEquals(d.msg.stamp, with_ ? stamp : undefined);
  }
  // Flag 0x02 with fewer than 12 bytes after the identity: bad_length, not a throw.
  const body = new Uint8Array(4 + 32 + 11);
  body[0] = 0x02;
  const d = parseBody(MsgType.REGISTER, body);
  assert(!d.ok && d.reason === "bad_length");
  // An old node's REGISTER (no flag, no stamp) still parses.
  const old = parseBody(MsgType.REGISTER, new Uint8Array(4 + 32));
  assert(old.ok && old.value.kind === "register" && old.value.stamp === undefined);
});
