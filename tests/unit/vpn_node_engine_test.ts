/**
 * The sans-IO node engine (core/vpn/node_engine.ts) driven by hand, without
 * sockets, TAP or sleeping: two nodes and a supernode engine on in-memory
 * ports, datagrams carried between them by this test as a pump would (one
 * reused `Arrival`, `endBatch` after each batch), device frames in with
 * `fromDevice`, frames for the device out through the `FramePort`, timers
 * run with `poll(now)` at `nextDeadline()`, the periodic save, a snapshot.
 */
import { assert, assertEquals } from "../assert.ts";
import { EndpointTable, keyedEndpoint } from "../../core/addr.ts";
import type { Arrival } from "../../core/engine.ts";
import { LeafTable } from "../../core/leaf_table.ts";
import { macAt, matAddress, writeMac } from "../../core/mac.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { NodeEngine, type NodeEngineEvent } from "../../core/vpn/node_engine.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { DATA_HEADROOM, DATA_TAILROOM } from "../../core/vpn/messages.ts";
import { HEADER_LENGTH, MsgType, TAG_LENGTH } from "../../core/vpn/constants.ts";
import { HDR } from "../../core/vpn/header.ts";
import { SupernodeEngine } from "../../core/vpn/supernode_engine.ts";
import { prng } from "./vpn_security_lab.ts";
import { NetFilter } from "../../core/vpn/net_filter.ts";
import { type FrameMatcher, PASS } from "../../core/filter.ts";
import { arrival, MemDevice, MemSocket } from "./vpn_mem_port.ts";

const SN = "198.51.100.1:7654";
const EPS = ["192.0.2.11:40001", "192.0.2.12:40002"];
const HOST_A = 0x02_00_00_00_00_99;

interface TestNode {
  engine: NodeEngine;
  socket: MemSocket;
  device: MemDevice;
  events: NodeEngineEvent[];
  saves: number[];
}

function node(i: number, saveIntervalMs?: number, inPlace = false, filter?: NetFilter): TestNode {
  const endpoints = new EndpointTable();
  const core = new NodeCore({
    supernode: keyedEndpoint(SN),
    identity: new Uint8Array(32).fill(i + 1),
    sealer: new NullSealer(),
    random: prng(i + 10),
    ipVersion: 4,
    endpoints,
    frameViews: true,
    admitFrame: filter ? (f, sender, now) => filter.ingress.decide(f, sender, now) === PASS : null,
  });
  const socket = new MemSocket();
  const device = new MemDevice();
  const events: NodeEngineEvent[] = [];
  const saves: number[] = [];
  const engine = new NodeEngine({
    core,
    leaves: new LeafTable(),
    tapMac: 0x02_00_00_00_00_0a + i,
    endpoints,
    socket,
    device,
    mtu: 1382,
    inPlace,
    ...(filter ? { filter } : {}),
    onEvent: (e) => events.push(e),
    ...(saveIntervalMs !== undefined
      ? { save: () => saves.push(saves.length), saveIntervalMs }
      : {}),
  });
  return { engine, socket, device, events, saves };
}

/** An ARP request from HOST_A for 10.9.0.`mark`, as a host behind node A sends it. */
function arp(mark: number): Uint8Array {
  const f = new Uint8Array(60);
  writeMac(f, 0, 0xffff_ffff_ffff);
  writeMac(f, 6, HOST_A);
  f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], 12);
  writeMac(f, 22, HOST_A);
  f.set([10, 9, 0, 1], 28);
  f.set([10, 9, 0, mark], 38);
  return f;
}

/**
 * Carries every datagram in flight until nothing moves, as the pumps do: one
 * `Arrival` per engine reused for every datagram, the receive slot scribbled
 * over after each call, `endBatch` after each batch.
 */
function pump(sn: { sn: SupernodeEngine; socket: MemSocket }, nodes: TestNode[], now: number) {
  const slots: Arrival[] = [...nodes, sn].map(() => arrival("0.0.0.0:0"));
  for (let round = 0; round < 50; round++) {
    let moved = 0;
    const toSn = [];
    for (let i = 0; i < nodes.length; i++) {
      for (const o of nodes[i].socket.take()) {
        const j = EPS.indexOf(o.to);
        if (o.to === SN) toSn.push({ from: EPS[i], bytes: o.bytes });
        else if (j >= 0) {
          const slot = slots[j];
          nodes[j].engine.receive(o.bytes, arrival(EPS[i], slot), now);
          slot.src.fill(0xee);
          nodes[j].engine.endBatch(now);
        }
        moved++;
      }
    }
    for (const d of toSn) {
      const slot = slots[nodes.length];
      sn.sn.receive(d.bytes, arrival(d.from, slot), now);
      slot.src.fill(0xee);
    }
    sn.sn.endBatch(now);
    for (const o of sn.socket.take()) {
      const j = EPS.indexOf(o.to);
      assert(j >= 0, `a datagram to ${o.to}`);
      nodes[j].engine.receive(o.bytes, arrival(SN, slots[j]), now);
      slots[j].src.fill(0xee);
      nodes[j].engine.endBatch(now);
      moved++;
    }
    if (moved === 0) return;
  }
  throw new Error("still moving after 50 rounds");
}

function supernode(id: number, seed: number) {
  const socket = new MemSocket();
  const sn = new SupernodeEngine({
    supernodeId: id,
    random: prng(seed),
    endpoints: new EndpointTable(),
    socket,
  });
  return { sn, socket };
}

Deno.test("node engine: frames before registration are counted, not sent; start sends REGISTER", () => {
  const a = node(0);
  assertEquals(a.engine.mat, null);
  a.engine.fromDevice(arp(1), 0);
  a.engine.endBatch(0);
  assertEquals(a.engine.counters.tx_not_registered, 1);
  assertEquals(a.engine.counters.tap_rx_frames, 1);
  assertEquals(a.socket.take().length, 0, "nothing goes out before start");
  a.engine.start(0);
  assertEquals(a.socket.take().map((o) => o.to), [SN], "one REGISTER to the supernode, flushed");
  assert(
    a.engine.nextDeadline() > 0 && a.engine.nextDeadline() < Infinity,
    "the REGISTER retry is due later",
  );
  assertEquals(a.events.length, 0);
});

Deno.test("node engine: registration builds MAT; A's host reaches B's device with A's MAT address", () => {
  const sn = supernode(3, 1);
  const nodes = [node(0), node(1)];
  const now = 1000;
  sn.sn.start(now);
  for (const n of nodes) n.engine.start(now);
  pump(sn, nodes, now);
  const ids: number[] = [];
  for (let i = 0; i < 2; i++) {
    const reg = nodes[i].events.find((e) => e.layer === "core" && e.event.type === "registered");
    assert(
      reg !== undefined && reg.layer === "core" && reg.event.type === "registered",
      `node ${i}`,
    );
    ids.push(reg.event.nodeId);
    assertEquals(reg.event.supernodeId, 3);
    assertEquals(
      nodes[i].engine.mat?.prefix,
      matAddress(3, reg.event.nodeId, 0),
      "the translator is built",
    );
    assertEquals(nodes[i].engine.snapshot(now).core.state, "registered");
    assertEquals(nodes[i].engine.snapshot(now).core.supernode, SN);
  }
  // Two frames from a host behind A, then what reaches B's device.
  nodes[0].engine.fromDevice(arp(1), now);
  nodes[0].engine.fromDevice(arp(2), now);
  nodes[0].engine.endBatch(now);
  pump(sn, nodes, now);
  const delivered = nodes[1].device.frames;
  assertEquals(delivered.map((f) => f[41]), [1, 2], "in order, both forwarded");
  const src = macAt(delivered[0], 6);
  assert(
    src !== HOST_A && Math.floor(src / 0x1_0000) === matAddress(3, ids[0], 0) / 0x1_0000,
    `source rewritten to A's MAT prefix: ${src.toString(16)}`,
  );
  assertEquals(macAt(delivered[0], 22), src, "the ARP sender MAC too");
  const snapB = nodes[1].engine.snapshot(now);
  assertEquals(snapB.counters.tap_tx_frames, 2);
  assertEquals(snapB.tx.endpoints, 1, "B heard only the supernode");
  const snapA = nodes[0].engine.snapshot(now);
  assertEquals(snapA.mat.size, 1, "HOST_A holds a leaf id");
  assertEquals(snapA.counters.tx_not_registered, 0);
  assertEquals(snapA.security, null);
  assert(snapA.tx.tx_datagrams >= 3, "REGISTER, KEEPALIVE or frames went out");
});

Deno.test("node engine: an interned source is one shared copy, never the pump's reused slot", () => {
  const t = new EndpointTable();
  const slot = arrival("192.0.2.7:4000");
  const a = t.intern(slot.src, slot.srcPort);
  assertEquals(a.key, "192.0.2.7:4000");
  assert(t.intern(slot.src, slot.srcPort) === a, "a known endpoint: the same object");
  arrival("192.0.2.8:4000", slot);
  const b = t.intern(slot.src, slot.srcPort);
  assertEquals(a.key, "192.0.2.7:4000", "refilling the slot does not move the first");
  assertEquals(b.key, "192.0.2.8:4000");
  assert(a.ip !== slot.src && b.ip !== slot.src, "addresses are copied");
  arrival("[2001:db8::7]:4000", slot);
  assertEquals(t.intern(slot.src, slot.srcPort).key, "[2001:db8::7]:4000");
  assertEquals(t.size, 3);
});

Deno.test("node engine: the endpoint table is bounded: generations turn over and are counted", () => {
  const t = new EndpointTable(4);
  const slot = arrival("0.0.0.0:0");
  const hot = t.of(keyedEndpoint("192.0.2.1:1"));
  for (let i = 0; i < 100; i++) {
    t.intern(arrival(`198.51.100.${i}:${1000 + i}`, slot).src, 1000 + i);
    // A peer that keeps talking keeps its key across turnovers.
    assertEquals(t.of(hot).key, "192.0.2.1:1");
    assert(t.size <= 8, `size ${t.size} after ${i}`);
  }
  assert(t.rotations > 10, `rotations ${t.rotations}`);
  // IPv6 endpoints share hash chains; each is still told apart.
  const t6 = new EndpointTable(1000);
  for (let i = 1; i <= 300; i++) {
    const e = t6.intern(arrival(`[2001:db8::${i.toString(16)}]:7654`, slot).src, 7654);
    assertEquals(e.key, `[2001:db8::${i.toString(16)}]:7654`);
  }
  assertEquals(t6.size, 300);
});

Deno.test("node engine: timers run at nextDeadline; saves every interval; stop deregisters and saves", () => {
  const sn = supernode(1, 2);
  const a = node(0, 5000);
  let now = 0;
  sn.sn.start(now);
  a.engine.start(now);
  pump(sn, [a], now);
  assert(a.engine.mat !== null, "registered");
  assertEquals(a.saves.length, 0);
  // Run to 12 s in deadline-sized steps: two periodic saves (5 s, 10 s), no timer left overdue.
  for (let i = 0; i < 1000 && now < 12_000; i++) {
    now = Math.min(Math.max(now + 1, a.engine.nextDeadline(), sn.sn.nextDeadline()), 12_000);
    if (sn.sn.nextDeadline() <= now) sn.sn.poll(now);
    if (a.engine.nextDeadline() <= now) a.engine.poll(now);
    pump(sn, [a], now);
    assert(a.engine.nextDeadline() > now, `no overdue timer at ${now}`);
  }
  assertEquals(now, 12_000);
  assertEquals(a.saves.length, 2);
  assertEquals(a.engine.snapshot(now).core.state, "registered");
  // The cached deadline equals a fresh walk.
  const cached = a.engine.nextDeadline();
  a.engine.deadlineMoved();
  assertEquals(a.engine.nextDeadline(), cached);
  assert(!a.engine.stopped(now));
  a.engine.stop(now);
  assert(a.engine.stopped(now));
  assertEquals(a.socket.take().map((o) => o.to), [SN], "DEREGISTER, flushed");
  assertEquals(a.saves.length, 3, "a last save at stop");
  assertEquals(a.engine.nextDeadline() === Infinity || a.engine.nextDeadline() > now, true);
});

Deno.test("node engine: a failing save is counted and reported, the node goes on", () => {
  const endpoints = new EndpointTable();
  const events: NodeEngineEvent[] = [];
  const engine = new NodeEngine({
    core: new NodeCore({
      supernode: keyedEndpoint(SN),
      identity: new Uint8Array(32).fill(7),
      sealer: new NullSealer(),
      random: prng(3),
      endpoints,
    }),
    leaves: new LeafTable(),
    tapMac: 0x02_00_00_00_00_0a,
    endpoints,
    socket: new MemSocket(),
    device: new MemDevice(),
    mtu: 1382,
    onEvent: (e) => events.push(e),
    save: () => {
      throw new Error("disk full");
    },
    saveIntervalMs: 1000,
  });
  engine.start(0);
  engine.poll(1000);
  assertEquals(engine.counters.save_errors, 1);
  const ev = events.find((e) => e.layer === "node");
  assert(ev !== undefined && ev.layer === "node" && ev.event.error === "disk full");
});

Deno.test("node engine: the wall clock is derived from now and the reading at start", () => {
  const endpoints = new EndpointTable();
  const engine = new NodeEngine({
    core: new NodeCore({
      supernode: keyedEndpoint(SN),
      identity: new Uint8Array(32).fill(7),
      sealer: new NullSealer(),
      random: prng(3),
      endpoints,
    }),
    leaves: new LeafTable(),
    tapMac: 0x02_00_00_00_00_0a,
    endpoints,
    socket: new MemSocket(),
    device: new MemDevice(),
    mtu: 1382,
    clock: { now: 500, wall: 1_800_000_000_000 },
  });
  assertEquals(engine.wall(500), 1_800_000_000_000);
  assertEquals(engine.wall(2500), 1_800_000_002_000);
});

/** `a` is `b` but for the MACs MAT egress rewrites (the source, an ARP sender). */
function sameButMat(a: Uint8Array, b: Uint8Array, what: string): void {
  assertEquals(a.length, b.length, what);
  assertEquals([...a.subarray(0, 6), ...a.subarray(12, 22), ...a.subarray(28)], [
    ...b.subarray(0, 6),
    ...b.subarray(12, 22),
    ...b.subarray(28),
  ], what);
}

Deno.test("node engine: with inPlace a unicast frame is sealed where it lies and queued as a view; broadcasts, frames without room and engines without inPlace copy", () => {
  const sn = supernode(3, 1);
  const nodes = [node(0, undefined, true), node(1)];
  const now = 1000;
  sn.sn.start(now);
  for (const n of nodes) n.engine.start(now);
  pump(sn, nodes, now);
  const reg = nodes[1].events.find((e) => e.layer === "core" && e.event.type === "registered");
  assert(reg !== undefined && reg.layer === "core" && reg.event.type === "registered");
  const idB = reg.event.nodeId;
  const regA = nodes[0].events.find((e) => e.layer === "core" && e.event.type === "registered");
  assert(regA !== undefined && regA.layer === "core" && regA.event.type === "registered");
  const idA = regA.event.nodeId;
  // A device slot as TapDevice lays it out: [headroom 24][frame ...][tailroom 32], full of junk.
  const HEAD = DATA_HEADROOM, LEN = 60;
  const slot = new Uint8Array(HEAD + 2048 + DATA_TAILROOM).fill(0xee);
  const frame = slot.subarray(HEAD, HEAD + LEN);
  const unicast = (mark: number, to: number, into = frame) => {
    into.set(arp(mark));
    writeMac(into, 0, matAddress(3, to, 0));
  };
  // The DATA packets among what a node sent (a relayed frame also brings a PEER_REQUEST),
  // carried through the supernode to the other node.
  const isData = (o: { bytes: Uint8Array }) => o.bytes[HDR.TYPE] === MsgType.DATA;
  const carry = (from: number) => {
    const sent = nodes[from].socket.take();
    const slotA = arrival("0.0.0.0:0");
    for (const o of sent) sn.sn.receive(o.bytes, arrival(EPS[from], slotA), now);
    sn.sn.endBatch(now);
    for (const o of sn.socket.take()) {
      const j = EPS.indexOf(o.to);
      nodes[j].engine.receive(o.bytes, arrival(SN), now);
      nodes[j].engine.endBatch(now);
    }
    return sent.filter(isData);
  };
  const took = (i: number) => nodes[i].device.frames.splice(0);

  unicast(1, idB);
  const plain = frame.slice();
  nodes[0].engine.fromDevice(frame, now);
  nodes[0].engine.endBatch(now);
  let out = carry(0);
  assertEquals(out.length, 1);
  assert(out[0].view !== undefined, "queued as a view");
  assert(out[0].view.buffer === slot.buffer, "the packet is the slot's own memory");
  assertEquals(out[0].view.byteOffset, 0, "its header is in the headroom");
  assertEquals(out[0].bytes.length, HEADER_LENGTH + LEN + TAG_LENGTH);
  assertEquals(slot.subarray(HEAD + LEN, HEAD + LEN + TAG_LENGTH).every((b) => b === 0xee), false);
  let got = took(1);
  assertEquals(got.length, 1);
  // B's TAP gets the frame: to its own MAC (MAT ingress), and all but the MACs MAT
  // rewrites (the source, the ARP sender) as A's host sent it.
  assertEquals(macAt(got[0], 0), 0x02_00_00_00_00_0b, "to B's TAP MAC");
  const asSent = got[0].slice();
  asSent.set(plain.subarray(0, 6), 0);
  sameButMat(asSent, plain, "B gets the frame");

  // An engine without inPlace: a new packet, the frame stays as it was.
  unicast(2, idA);
  const before = frame.slice();
  nodes[1].engine.fromDevice(frame, now);
  nodes[1].engine.endBatch(now);
  out = carry(1);
  assertEquals(out.length, 1);
  assertEquals(out[0].view, undefined);
  sameButMat(frame, before, "a copied frame is left alone");
  assertEquals(took(0).length, 1);

  // A frame at the very start of its buffer has no headroom: copied, even when lent.
  const bare = new Uint8Array(LEN);
  unicast(3, idB, bare);
  nodes[0].engine.fromDevice(bare, now);
  nodes[0].engine.endBatch(now);
  out = carry(0);
  assertEquals([out.length, out[0].view], [1, undefined]);
  assertEquals(took(1).length, 1);

  // A broadcast is one packet per peer: copied, the lent frame untouched.
  frame.set(arp(4));
  const bcast = frame.slice();
  nodes[0].engine.fromDevice(frame, now);
  nodes[0].engine.endBatch(now);
  out = carry(0);
  assert(out.length >= 1);
  for (const o of out) assert(o.view === undefined);
  sameButMat(frame, bcast, "a fanned-out frame is left alone");
  got = took(1);
  assertEquals(got.length, 1);
  assertEquals(got[0][41], 4);
  assert(nodes[0].engine.snapshot(now).tx.tx_datagrams > 0);
});

Deno.test("node engine: the network's filter drops TAP frames before sealing and peers' frames after opening, by origin", () => {
  // Rules on the ARP target's last byte (frame[41]); the ingress rule sees the sender's id.
  const origins: number[] = [];
  const mark = (m: number, seen?: number[]): FrameMatcher => ({
    kind: "test",
    usesHeaders: false,
    matches: (f, origin) => {
      seen?.push(origin);
      return f[41] === m;
    },
  });
  const fa = new NetFilter(() => [{ name: "no-2", match: mark(2), action: "drop" }], 0);
  const fb = new NetFilter(() => [{ name: "no-3", match: mark(3, origins), action: "drop" }], 0);
  const sn = supernode(3, 1);
  const nodes = [node(0, undefined, false, fa), node(1, undefined, false, fb)];
  const now = 1000;
  sn.sn.start(now);
  for (const n of nodes) n.engine.start(now);
  pump(sn, nodes, now);
  const idA = nodes[0].engine.snapshot(now).core.nodeId;
  const idB = nodes[1].engine.snapshot(now).core.nodeId;
  for (const m of [1, 2, 3, 4]) nodes[0].engine.fromDevice(arp(m), now);
  nodes[0].engine.endBatch(now);
  pump(sn, nodes, now);
  assertEquals(nodes[1].device.frames.map((f) => f[41]), [1, 4], "2 dropped at A, 3 at B");
  const a = nodes[0].engine.snapshot(now), b = nodes[1].engine.snapshot(now);
  assertEquals(a.counters.tx_filtered, 1);
  assertEquals(a.filter?.egress.map((r) => [r.name, r.hits, r.dropped]), [
    ["no-2", 1, 1],
    ["default", 3, 0],
  ]);
  assertEquals(a.filter?.ingress.map((r) => r.hits), [0, 0], "A received no frames");
  assertEquals(b.filter?.ingress.map((r) => [r.name, r.hits, r.dropped]), [
    ["no-3", 1, 1],
    ["default", 2, 0],
  ]);
  assertEquals(b.core.counters.rx_filtered, 1);
  assertEquals(b.counters.tap_tx_frames, 2);
  assert(idA !== idB && idA > 0);
  assertEquals(origins, [idA, idA, idA], "the ingress origin is the sending node's id");
});
