/**
 * The sans-IO node engine (core/vpn/node_engine.ts) driven by hand, without
 * sockets, TAP or sleeping: two nodes and a supernode engine, datagrams
 * carried between them by this test, device frames in with `fromDevice`,
 * frames for the device out through `takeFrames` and `forDevice`, timers
 * run with `poll(now, wall)` at `nextDeadline()`, the leaf table's save
 * asked for as an event, a snapshot.
 */
import { assert, assertEquals } from "../assert.ts";
import { LeafTable } from "../../core/leaf_table.ts";
import { macAt, matAddress, writeMac } from "../../core/mac.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { NodeEngine, type NodeEngineEvent } from "../../core/vpn/node_engine.ts";
import type { Outgoing } from "../../core/vpn/backlog.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { DATA_HEADROOM, DATA_TAILROOM } from "../../core/vpn/messages.ts";
import { HEADER_LENGTH, MsgType, TAG_LENGTH } from "../../core/vpn/constants.ts";
import { HDR } from "../../core/vpn/header.ts";
import { SupernodeEngine } from "../../core/vpn/supernode_engine.ts";
import { prng } from "./vpn_security_lab.ts";

const SN = "198.51.100.1:7654";
const EPS = ["192.0.2.11:40001", "192.0.2.12:40002"];
const HOST_A = 0x02_00_00_00_00_99;
const WALL = 1_800_000_000_000;

function node(i: number, saveIntervalMs?: number): NodeEngine {
  const core = new NodeCore({
    supernode: SN,
    identity: new Uint8Array(32).fill(i + 1),
    sealer: new NullSealer(),
    random: prng(i + 10),
    ipVersion: 4,
  });
  return new NodeEngine({
    core,
    leaves: new LeafTable(),
    tapMac: 0x02_00_00_00_00_0a + i,
    ...(saveIntervalMs !== undefined ? { saveIntervalMs } : {}),
  });
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

/** Carries every datagram in flight until nothing moves; collects each node's events. */
function pump(sn: SupernodeEngine, nodes: NodeEngine[], now: number, events: NodeEngineEvent[][]) {
  for (let round = 0; round < 50; round++) {
    let moved = 0;
    for (let i = 0; i < nodes.length; i++) {
      events[i].push(...nodes[i].takeEvents());
      for (const o of nodes[i].takeOutgoing()) {
        const j = EPS.indexOf(o.to);
        if (o.to === SN) sn.receive(EPS[i], o.bytes, now);
        else if (j >= 0) nodes[j].receive(EPS[i], o.bytes, now, WALL + now);
        moved++;
      }
    }
    for (const o of sn.takeOutgoing()) {
      const j = EPS.indexOf(o.to);
      assert(j >= 0, `a datagram to ${o.to}`);
      nodes[j].receive(SN, o.bytes, now, WALL + now);
      moved++;
    }
    if (moved === 0) return;
  }
  throw new Error("still moving after 50 rounds");
}

Deno.test("node engine: frames before registration are counted, not sent; start sends REGISTER", () => {
  const a = node(0);
  assertEquals(a.mat, null);
  a.fromDevice(arp(1), 0);
  assertEquals(a.counters.tx_not_registered, 1);
  assertEquals(a.takeOutgoing().length, 0, "nothing goes out before start");
  a.start(0, WALL);
  const out = a.takeOutgoing();
  assertEquals(out.map((o) => o.to), [SN], "one REGISTER to the supernode");
  assert(a.nextDeadline() > 0 && a.nextDeadline() < Infinity, "the REGISTER retry is due later");
  assertEquals(a.takeEvents().length, 0);
});

Deno.test("node engine: registration builds MAT; A's host reaches B's device with A's MAT address", () => {
  const sn = new SupernodeEngine({ supernodeId: 3, random: prng(1) });
  const nodes = [node(0), node(1)];
  const events: NodeEngineEvent[][] = [[], []];
  const now = 1000;
  sn.poll(now);
  for (const n of nodes) n.start(now, WALL + now);
  pump(sn, nodes, now, events);
  const ids: number[] = [];
  for (let i = 0; i < 2; i++) {
    const reg = events[i].find((e) => e.layer === "core" && e.event.type === "registered");
    assert(
      reg !== undefined && reg.layer === "core" && reg.event.type === "registered",
      `node ${i}`,
    );
    ids.push(reg.event.nodeId);
    assertEquals(reg.event.supernodeId, 3);
    assertEquals(
      nodes[i].mat?.prefix,
      matAddress(3, reg.event.nodeId, 0),
      "the translator is built",
    );
    assertEquals(nodes[i].snapshot(now).core.state, "registered");
  }
  // Two frames from a host behind A, then what reaches B's device.
  nodes[0].fromDevice(arp(1), now);
  nodes[0].fromDevice(arp(2), now);
  pump(sn, nodes, now, events);
  const frames = nodes[1].takeFrames();
  assertEquals(frames.length, 2);
  const delivered = frames.filter((f) => nodes[1].forDevice(f, now));
  assertEquals(delivered.map((f) => f[41]), [1, 2], "in order, both forwarded");
  const src = macAt(delivered[0], 6);
  assert(
    src !== HOST_A && Math.floor(src / 0x1_0000) === matAddress(3, ids[0], 0) / 0x1_0000,
    `source rewritten to A's MAT prefix: ${src.toString(16)}`,
  );
  assertEquals(macAt(delivered[0], 22), src, "the ARP sender MAC too");
  // A frame the translator refuses (from B's own prefix, looped back) is dropped and counted.
  const looped = arp(9);
  writeMac(looped, 6, matAddress(3, ids[1], 5));
  assertEquals(nodes[1].forDevice(looped, now), false);
  assertEquals(nodes[1].counters.rx_mat_dropped, 1);
  const snapA = nodes[0].snapshot(now);
  assertEquals(snapA.mat.size, 1, "HOST_A holds a leaf id");
  assertEquals(snapA.counters.tx_not_registered, 0);
  assertEquals(snapA.security, null);
});

Deno.test("node engine: timers run at nextDeadline; the save is an event; stop deregisters and saves", () => {
  const sn = new SupernodeEngine({ supernodeId: 1, random: prng(2) });
  const a = node(0, 5000);
  const events: NodeEngineEvent[][] = [[]];
  let now = 0;
  sn.poll(now);
  a.start(now, WALL);
  pump(sn, [a], now, events);
  assert(a.mat !== null, "registered");
  const saves = () => events[0].filter((e) => e.layer === "node").length;
  assertEquals(saves(), 0);
  // Run to 12 s in deadline-sized steps: two periodic saves (5 s, 10 s), no timer left overdue.
  for (let i = 0; i < 1000 && now < 12_000; i++) {
    now = Math.min(Math.max(now + 1, a.nextDeadline(), sn.nextDeadline()), 12_000);
    if (sn.nextDeadline() <= now) sn.poll(now);
    if (a.nextDeadline() <= now) a.poll(now, WALL + now);
    pump(sn, [a], now, events);
    assert(a.nextDeadline() > now, `no overdue timer at ${now}`);
  }
  assertEquals(now, 12_000);
  assertEquals(saves(), 2);
  assertEquals(a.snapshot(now).core.state, "registered");
  // The cached deadline equals a fresh walk.
  const cached = a.nextDeadline();
  a.deadlineMoved();
  assertEquals(a.nextDeadline(), cached);
  a.stop(now);
  const out = a.takeOutgoing();
  assertEquals(out.map((o) => o.to), [SN], "DEREGISTER");
  const last = a.takeEvents();
  assertEquals(last.filter((e) => e.layer === "node").length, 1, "a last save at stop");
  assertEquals(a.nextDeadline() === Infinity || a.nextDeadline() > now, true);
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

Deno.test("node engine: a unicast frame lent inPlace is sealed where it lies and queued borrowed; broadcasts and frames without room are copied", () => {
  const sn = new SupernodeEngine({ supernodeId: 3, random: prng(1) });
  const nodes = [node(0), node(1)];
  const events: NodeEngineEvent[][] = [[], []];
  const now = 1000;
  sn.poll(now);
  for (const n of nodes) n.start(now, WALL + now);
  pump(sn, nodes, now, events);
  const reg = events[1].find((e) => e.layer === "core" && e.event.type === "registered");
  assert(reg !== undefined && reg.layer === "core" && reg.event.type === "registered");
  const idB = reg.event.nodeId;
  // A device slot as TapDevice lays it out: [headroom 24][frame ...][tailroom 32], full of junk.
  const HEAD = DATA_HEADROOM, LEN = 60;
  const slot = new Uint8Array(HEAD + 2048 + DATA_TAILROOM).fill(0xee);
  const frame = slot.subarray(HEAD, HEAD + LEN);
  const unicast = (mark: number, into = frame) => {
    into.set(arp(mark));
    writeMac(into, 0, matAddress(3, idB, 0)); // to B's TAP
  };
  // The DATA packets among what A sends (a relayed frame also brings a PEER_REQUEST).
  const data = (out: Outgoing[]) => out.filter((o) => o.bytes[HDR.TYPE] === MsgType.DATA);
  const carry = (out = nodes[0].takeOutgoing()) => {
    for (const o of out) sn.receive(EPS[0], o.bytes, now);
    for (const o of sn.takeOutgoing()) nodes[1].receive(SN, o.bytes, now, WALL + now);
    return data(out);
  };

  unicast(1);
  const plain = frame.slice();
  nodes[0].fromDevice(frame, now, true);
  const all = nodes[0].takeOutgoing();
  let out = data(all);
  assertEquals(out.length, 1);
  assertEquals(out[0].borrowed, true);
  assert(out[0].bytes.buffer === slot.buffer, "the packet is the slot's own memory");
  assertEquals(out[0].bytes.byteOffset, 0, "its header is in the headroom");
  assertEquals(out[0].bytes.length, HEADER_LENGTH + LEN + TAG_LENGTH);
  assertEquals(slot.subarray(HEAD + LEN, HEAD + LEN + TAG_LENGTH).every((b) => b === 0xee), false);
  carry(all);
  let got = nodes[1].takeFrames();
  assertEquals(got.length, 1);
  // B gets the frame: all but the MACs MAT rewrites (the source, the ARP sender).
  sameButMat(got[0], plain, "B gets the frame");

  // Not lent: a new packet, the frame stays as it was.
  unicast(2);
  const before = frame.slice();
  nodes[0].fromDevice(frame, now);
  out = carry();
  assertEquals(out.length, 1);
  assertEquals(out[0].borrowed, undefined);
  assert(out[0].bytes.buffer !== slot.buffer);
  sameButMat(frame, before, "a copied frame is left alone");
  assertEquals(nodes[1].takeFrames().length, 1);

  // A frame at the very start of its buffer has no headroom: copied, even when lent.
  const bare = new Uint8Array(LEN);
  unicast(3, bare);
  nodes[0].fromDevice(bare, now, true);
  out = carry();
  assertEquals([out.length, out[0].borrowed], [1, undefined]);
  assertEquals(nodes[1].takeFrames().length, 1);

  // A broadcast is one packet per peer: copied, the lent frame untouched.
  frame.set(arp(4));
  const bcast = frame.slice();
  nodes[0].fromDevice(frame, now, true);
  out = carry();
  assert(out.length >= 1);
  for (const o of out) assert(o.borrowed === undefined && o.bytes.buffer !== slot.buffer);
  sameButMat(frame, bcast, "a fanned-out frame is left alone");
  got = nodes[1].takeFrames();
  assertEquals(got.length, 1);
  assertEquals(got[0][41], 4);
});
