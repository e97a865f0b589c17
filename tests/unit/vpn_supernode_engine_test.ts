/**
 * The sans-IO supernode engine (core/vpn/supernode_engine.ts) driven by
 * hand, without sockets or sleeping: datagrams in with their `Arrival` and
 * `now`, datagrams out through an in-memory `DatagramPort`, events through
 * `onEvent`, `poll(now)` at `nextDeadline()`, a snapshot; with the security
 * layer (the daemon's build) and without.
 */
import { assert, assertEquals } from "../assert.ts";
import { SupernodeEngine } from "../../core/vpn/supernode_engine.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { SecureNode } from "../../core/vpn/secure_node.ts";
import { SecureSupernode } from "../../core/vpn/secure_supernode.ts";
import { Members } from "../../core/vpn/members.ts";
import { keyOf, prng, seededSuite } from "./vpn_security_lab.ts";
import { arrival, MemSocket } from "./vpn_mem_port.ts";
import { EndpointTable, keyedEndpoint } from "../../core/addr.ts";
import type { SupernodeEngineEvent } from "../../core/vpn/supernode_engine.ts";
import type { SecureSupernode as SecureSupernodeT } from "../../core/vpn/secure_supernode.ts";

const SN = "198.51.100.1:7654";
const SN_EP = keyedEndpoint(SN);

/** A supernode engine on an in-memory socket, its events collected. */
function supernode(supernodeId: number, random: () => number, security?: SecureSupernodeT) {
  const socket = new MemSocket();
  const events: SupernodeEngineEvent[] = [];
  const sn = new SupernodeEngine({
    supernodeId,
    random,
    ...(security ? { security } : {}),
    endpoints: new EndpointTable(),
    socket,
    onEvent: (e) => events.push(e),
  });
  return { sn, socket, events };
}

interface Member {
  ep: string;
  core: NodeCore;
  sec?: SecureNode;
}

/** Delivers everything in flight until nothing moves; returns the datagrams carried. */
function pump(sn: SupernodeEngine, nodes: Member[], now: number, socket: MemSocket): number {
  let carried = 0;
  const from = arrival(SN);
  for (let round = 0; round < 50; round++) {
    let moved = 0;
    for (const n of nodes) {
      for (const o of [...(n.sec?.takeOutgoing() ?? []), ...n.core.takeOutgoing()]) {
        assertEquals(o.to.key, SN);
        // One reused Arrival, as the pump has.
        sn.receive(o.bytes, arrival(n.ep, from), now);
        moved++;
      }
    }
    sn.endBatch(now);
    for (const o of socket.take()) {
      const n = nodes.find((x) => x.ep === o.to);
      assert(n !== undefined, `a datagram to ${o.to}`);
      if (n.sec === undefined || n.sec.receive(SN_EP, o.bytes, now, 1e12 + now) === "core") {
        n.core.receive(SN_EP, o.bytes, now);
      }
      moved++;
    }
    carried += moved;
    if (moved === 0) return carried;
  }
  throw new Error("still moving after 50 rounds");
}

function run(
  sn: SupernodeEngine,
  nodes: Member[],
  from: number,
  ms: number,
  socket: MemSocket,
): number {
  let now = from;
  for (; now <= from + ms; now += 100) {
    if (sn.nextDeadline() <= now) sn.poll(now);
    for (const n of nodes) {
      n.sec?.poll(now, 1e12 + now);
      n.core.poll(now);
    }
    pump(sn, nodes, now, socket);
  }
  return now;
}

Deno.test("supernode engine: registration, events by layer, snapshot and GOING_AWAY, without security", () => {
  const { sn, socket, events } = supernode(3, prng(1));
  const nodes: Member[] = [1, 2].map((i) => ({
    ep: `192.0.2.${i}:4000`,
    core: new NodeCore({
      supernode: SN_EP,
      identity: new Uint8Array(32).fill(i),
      sealer: new NullSealer(),
      random: prng(10 + i),
    }),
  }));
  sn.start(0);
  assertEquals(sn.nextDeadline(), 1000);
  for (const n of nodes) n.core.start(0);
  const now = run(sn, nodes, 0, 2000, socket);
  for (const n of nodes) assertEquals(n.core.status().state, "registered");
  assertEquals(
    events.filter((e) => e.layer === "core" && e.event.type === "registered").length,
    2,
    JSON.stringify(events),
  );
  const snap = sn.snapshot(now);
  assertEquals(snap.now, now);
  assertEquals(snap.security, null);
  assertEquals(snap.core.supernodeId, 3);
  assertEquals(snap.core.networks[0].nodes.map((e) => e.endpoint).sort(), nodes.map((n) => n.ep));
  assertEquals(snap.tx.endpoints, 2, "two sources interned");
  assert(sn.stopped(now) === false);
  sn.stop(now);
  assertEquals(socket.take().map((o) => o.to).sort(), nodes.map((n) => n.ep));
  assert(sn.stopped(now));
});

Deno.test("supernode engine: with the security layer, both nodes register and the snapshot shows their sessions", () => {
  const suite = seededSuite(5);
  const snKey = keyOf(suite, 0x53);
  const keys = [keyOf(suite, 1), keyOf(suite, 2)];
  const security = new SecureSupernode({
    suite,
    staticKey: snKey,
    members: new Members({
      mode: "members",
      members: keys.map((k) => ({ publicKey: k.publicKey })),
    }),
  }, 0);
  const { sn, socket, events } = supernode(1, prng(2), security);
  const nodes: Member[] = keys.map((k, i) => {
    const sec = new SecureNode({
      suite,
      staticKey: k,
      supernodeKey: snKey.publicKey,
      supernode: SN_EP,
      network: 0,
    }, 0);
    const core = new NodeCore({
      supernode: SN_EP,
      identity: k.publicKey,
      sealer: sec.sealer,
      directory: sec,
      random: prng(20 + i),
    });
    return { ep: `192.0.2.${i + 1}:4000`, core, sec };
  });
  sn.start(0);
  for (const n of nodes) {
    n.sec!.start(0, 1e12);
    n.core.start(0);
  }
  const now = run(sn, nodes, 0, 5000, socket);
  for (const n of nodes) assertEquals(n.core.status().state, "registered");
  assert(events.some((e) => e.layer === "security"), JSON.stringify(events.map((e) => e.layer)));
  assert(events.some((e) => e.layer === "core" && e.event.type === "registered"));
  const snap = sn.snapshot(now);
  assertEquals(snap.security?.mode, "members");
  assertEquals(snap.security?.status.sessions, 2);
  assertEquals(snap.security?.sessions.map((s) => s.endpoint).sort(), nodes.map((n) => n.ep));
  // A datagram of random bytes from a stranger: dropped and counted, nothing sent.
  sn.receive(new Uint8Array(64).fill(0x4c), arrival("203.0.113.9:1"), now);
  sn.endBatch(now);
  assertEquals(socket.take(), []);
});
