/**
 * The sans-IO supernode engine (core/vpn/supernode_engine.ts) driven by
 * hand, without sockets or sleeping: datagrams in with their source and
 * `now`, datagrams and events out, `poll(now)` at `nextDeadline()`, a
 * snapshot; with the security layer (the daemon's build) and without.
 */
import { assert, assertEquals } from "../assert.ts";
import { SupernodeEngine } from "../../core/vpn/supernode_engine.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { SecureNode } from "../../core/vpn/secure_node.ts";
import { SecureSupernode } from "../../core/vpn/secure_supernode.ts";
import { Members } from "../../core/vpn/members.ts";
import { keyOf, prng, seededSuite } from "./vpn_security_lab.ts";

const SN = "198.51.100.1:7654";

interface Member {
  ep: string;
  core: NodeCore;
  sec?: SecureNode;
}

/** Delivers everything in flight until nothing moves; returns the datagrams carried. */
function pump(sn: SupernodeEngine, nodes: Member[], now: number): number {
  let carried = 0;
  for (let round = 0; round < 50; round++) {
    let moved = 0;
    for (const n of nodes) {
      for (const o of [...(n.sec?.takeOutgoing() ?? []), ...n.core.takeOutgoing()]) {
        assertEquals(o.to, SN);
        sn.receive(n.ep, o.bytes, now);
        moved++;
      }
    }
    for (const o of sn.takeOutgoing()) {
      const n = nodes.find((x) => x.ep === o.to);
      assert(n !== undefined, `a datagram to ${o.to}`);
      if (n.sec === undefined || n.sec.receive(SN, o.bytes, now, 1e12 + now) === "core") {
        n.core.receive(SN, o.bytes, now);
      }
      moved++;
    }
    carried += moved;
    if (moved === 0) return carried;
  }
  throw new Error("still moving after 50 rounds");
}

function run(sn: SupernodeEngine, nodes: Member[], from: number, ms: number): number {
  let now = from;
  for (; now <= from + ms; now += 100) {
    if (sn.nextDeadline() <= now) sn.poll(now);
    for (const n of nodes) {
      n.sec?.poll(now, 1e12 + now);
      n.core.poll(now);
    }
    pump(sn, nodes, now);
  }
  return now;
}

Deno.test("supernode engine: registration, events by layer, snapshot and GOING_AWAY, without security", () => {
  const sn = new SupernodeEngine({ supernodeId: 3, random: prng(1) });
  const nodes: Member[] = [1, 2].map((i) => ({
    ep: `192.0.2.${i}:4000`,
    core: new NodeCore({
      supernode: SN,
      identity: new Uint8Array(32).fill(i),
      sealer: new NullSealer(),
      random: prng(10 + i),
    }),
  }));
  sn.poll(0);
  assertEquals(sn.nextDeadline(), 1000);
  for (const n of nodes) n.core.start(0);
  const now = run(sn, nodes, 0, 2000);
  for (const n of nodes) assertEquals(n.core.status().state, "registered");
  const events = sn.takeEvents();
  assertEquals(
    events.filter((e) => e.layer === "core" && e.event.type === "registered").length,
    2,
    JSON.stringify(events),
  );
  assertEquals(sn.takeEvents(), []);
  const snap = sn.snapshot(now);
  assertEquals(snap.now, now);
  assertEquals(snap.security, null);
  assertEquals(snap.core.supernodeId, 3);
  assertEquals(snap.core.networks[0].nodes.map((e) => e.endpoint).sort(), nodes.map((n) => n.ep));
  sn.stop(now);
  assertEquals(sn.takeOutgoing().map((o) => o.to).sort(), nodes.map((n) => n.ep));
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
  const sn = new SupernodeEngine({ supernodeId: 1, random: prng(2), security });
  const nodes: Member[] = keys.map((k, i) => {
    const sec = new SecureNode({
      suite,
      staticKey: k,
      supernodeKey: snKey.publicKey,
      supernode: SN,
      network: 0,
    }, 0);
    const core = new NodeCore({
      supernode: SN,
      identity: k.publicKey,
      sealer: sec.sealer,
      directory: sec,
      random: prng(20 + i),
    });
    return { ep: `192.0.2.${i + 1}:4000`, core, sec };
  });
  sn.poll(0);
  for (const n of nodes) {
    n.sec!.start(0, 1e12);
    n.core.start(0);
  }
  const now = run(sn, nodes, 0, 5000);
  for (const n of nodes) assertEquals(n.core.status().state, "registered");
  const events = sn.takeEvents();
  assert(events.some((e) => e.layer === "security"), JSON.stringify(events.map((e) => e.layer)));
  assert(events.some((e) => e.layer === "core" && e.event.type === "registered"));
  const snap = sn.snapshot(now);
  assertEquals(snap.security?.mode, "members");
  assertEquals(snap.security?.status.sessions, 2);
  assertEquals(snap.security?.sessions.map((s) => s.endpoint).sort(), nodes.map((n) => n.ep));
  // A datagram of random bytes from a stranger: dropped and counted, nothing sent.
  sn.receive("203.0.113.9:1", new Uint8Array(64).fill(0x4c), now);
  assertEquals(sn.takeOutgoing(), []);
});
