/**
 * FederationTable (issue 17) as conversations at explicit times: peer
 * liveness and RTT, the claim rule (newer stamp, ties, id conflicts), a
 * supernode losing its own registration, stale ageing, transit routes,
 * bounds, update sequences and full syncs, rosters. No sockets, no sleeping.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { type Endpoint, parseEndpoint } from "../../core/addr.ts";
import {
  type FederationConfig,
  FederationTable,
  type FedOutput,
  type FedSend,
  type Route,
} from "../../core/vpn/federation.ts";
import {
  type FedAttachEntry,
  fedBody,
  type FedMessage,
  FedType,
  parseFedBody,
} from "../../core/vpn/fed_messages.ts";
import { tai64n } from "../../core/vpn/init_timestamps.ts";

function ep(text: string): Endpoint {
  const r = parseEndpoint(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

const key = (n: number) => new Uint8Array(32).fill(n);

function table(selfId: number, peers: number[], more: Partial<FederationConfig> = {}) {
  return new FederationTable({
    selfId,
    peers: peers.map((id) => ({
      id,
      key: key(200 + id),
      endpoint: ep(`192.0.2.${id % 250}:7654`),
    })),
    ...more,
  });
}

/** A table with its peers up (sessions confirmed at `now`) and their syncs done (empty). */
function upTable(selfId: number, peers: number[], now = 0, more: Partial<FederationConfig> = {}) {
  const t = table(selfId, peers, more);
  for (const p of peers) {
    t.sessionUp(p, now);
    t.receive(
      p,
      { kind: "fed_attach", seq: 0, sync: true, last: true, chunk: 0, entries: [] },
      now,
    );
  }
  return t;
}

function entry(nodeId: number, stamp: number, o: Partial<FedAttachEntry> = {}): FedAttachEntry {
  return {
    network: 0,
    nodeId,
    allocator: 1,
    stamp: tai64n(stamp),
    key: key(nodeId),
    endpoint: ep(`198.51.100.${nodeId % 250}:${1000 + nodeId}`),
    ...o,
  };
}

function attach(entries: FedAttachEntry[], seq = 1): FedMessage {
  return { kind: "fed_attach", seq, sync: false, last: true, chunk: 0, entries };
}

function parsed(s: FedSend): FedMessage {
  const r = parseFedBody(s.type, s.body);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function kinds(o: FedOutput): string[] {
  return o.sends.map((s) => `${s.peer}:${parsed(s).kind}`);
}

/** Delivers every send of `o` from `from` to the tables of `net` that it names, at `now`; returns their outputs. */
function deliver(
  net: Map<number, FederationTable>,
  from: number,
  o: FedOutput,
  now: number,
): FedOutput[] {
  const res: FedOutput[] = [];
  for (const s of o.sends) {
    const to = net.get(s.peer);
    if (to) res.push(to.receive(from, parsed(s), now));
  }
  return res;
}

Deno.test("federation: handshakes every second until up, then pings; RTT from pongs; down after 3 s", () => {
  const t = table(1, [2, 3]);
  assertEquals(t.peerState(2), "connecting");
  assertEquals(t.poll(0).handshakes, [2, 3]);
  assertEquals(t.poll(500).handshakes, []);
  assertEquals(t.nextDeadline(), 1000);
  assertEquals(t.poll(1000).handshakes, [2, 3]);
  const up = t.sessionUp(2, 1200);
  assertEquals(up.events, [{ kind: "peer_up", peer: 2 }]);
  assertEquals(kinds(up), ["2:fed_sync_req", "2:fed_ping"]);
  assertEquals(t.allUp(), false);
  // Peer 2 answers the ping 30 ms later.
  const ping = parsed(up.sends[1]);
  assert(ping.kind === "fed_ping");
  assertEquals(ping.upPeers, [2]);
  t.receive(2, { kind: "fed_pong", seq: ping.seq, time: ping.time }, 1230);
  assertEquals(t.peers()[0].rttMs, 30);
  // Next ping one second later; a pong for a ping never sent is refused.
  assertEquals(kinds(t.poll(2200)).filter((k) => k.startsWith("2:")), [
    "2:fed_sync_req",
    "2:fed_ping",
  ]);
  t.receive(2, { kind: "fed_pong", seq: 99, time: 2200 }, 2300);
  assertEquals(t.counters.get("fed_pong_bad"), 1);
  // Silent since 2300: still up at 5299, down at 5300.
  assertEquals(t.poll(5299).events, []);
  assertEquals(t.peerState(2), "up");
  const down = t.poll(5300);
  assertEquals(down.events, [{ kind: "peer_down", peer: 2, silentMs: 3000 }]);
  assertEquals(down.handshakes, [2]); // 3 had its retry at 5299
  assertEquals(t.peerState(2), "down");
  // Any authenticated packet brings it back, with a new sync request.
  const back = t.heard(2, 5400);
  assertEquals(back.events, [{ kind: "peer_up", peer: 2 }]);
  assertEquals(kinds(back), ["2:fed_sync_req", "2:fed_ping"]);
});

Deno.test("federation: a ping is answered with a pong echoing it, and tells which peers the sender sees", () => {
  const t = upTable(1, [2]);
  const o = t.receive(2, { kind: "fed_ping", seq: 7, time: 1234, updateSeq: 0, upPeers: [1] }, 10);
  assertEquals(o.sends.map(parsed), [{ kind: "fed_pong", seq: 7, time: 1234 }]);
});

Deno.test("federation: claims for one node key: the newer stamp wins, ties go to the lower supernode", () => {
  const t = upTable(1, [2, 3, 4]);
  t.receive(3, attach([entry(5, 1000)]), 10);
  assertEquals(t.route(0, 5), { kind: "peer", peer: 3 });
  t.receive(2, attach([entry(5, 900)]), 20); // older: loses
  assertEquals(t.route(0, 5), { kind: "peer", peer: 3 });
  assertEquals(t.counters.get("fed_claim_lost"), 1);
  t.receive(4, attach([entry(5, 1000)]), 30); // tie, 4 > 3: loses
  assertEquals(t.route(0, 5), { kind: "peer", peer: 3 });
  t.receive(2, attach([entry(5, 1000)], 2), 40); // tie, 2 < 3: wins
  assertEquals(t.route(0, 5), { kind: "peer", peer: 2 });
  t.receive(4, attach([entry(5, 1001)], 2), 50); // newer: wins
  assertEquals(t.route(0, 5), { kind: "peer", peer: 4 });
  assertEquals(t.attachment(0, 5)?.at, 4);
  assertEquals(t.remoteCount, 1);
});

Deno.test("federation: the claim outcome does not depend on arrival order", () => {
  const claims: [number, number][] = [[2, 1000], [3, 1000], [4, 999], [2, 998]];
  const perms = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]];
  for (const order of perms) {
    const t = upTable(1, [2, 3, 4]);
    for (const i of order) t.receive(claims[i][0], attach([entry(5, claims[i][1])]), 10);
    assertEquals(t.route(0, 5), { kind: "peer", peer: 2 }, `order ${order}`);
  }
});

Deno.test("federation: a supernode whose registration loses the claim is told to drop it", () => {
  const t = upTable(1, [2]);
  const a = t.attachLocal(entry(5, 1000), 10);
  assert(a.accepted);
  assertEquals(kinds(a), ["2:fed_attach"]);
  assertEquals(t.route(0, 5), { kind: "local" });
  // The same registration again announces nothing; a new endpoint (NAT rebinding) does.
  assertEquals(t.attachLocal(entry(5, 1000), 11).sends, []);
  assertEquals(kinds(t.attachLocal(entry(5, 1000, { endpoint: ep("203.0.113.9:4") }), 12)), [
    "2:fed_attach",
  ]);
  // An older claim from 2 (the node's previous registration there, late) loses.
  const old = t.receive(2, attach([entry(5, 500)]), 20);
  assertEquals(old.events, []);
  assertEquals(t.route(0, 5), { kind: "local" });
  // The node registered at 2 since: newer stamp.
  const moved = t.receive(2, attach([entry(5, 2000)], 2), 30);
  assertEquals(moved.events, [{
    kind: "local_lost",
    network: 0,
    nodeId: 5,
    to: 2,
    conflict: false,
  }]);
  assertEquals(t.route(0, 5), { kind: "peer", peer: 2 });
  assertEquals(t.localCount, 0);
  // Our detach of a registration we no longer hold sends nothing.
  assertEquals(t.detachLocal(0, 5).sends, []);
  // A REGISTER here older than the claim at 2 is not accepted.
  const late = t.attachLocal(entry(5, 1500), 40);
  assertEquals(late.accepted, false);
  assertEquals(late.sends, []);
  assertEquals(t.route(0, 5), { kind: "peer", peer: 2 });
  // A newer one is, and announced.
  const back = t.attachLocal(entry(5, 3000), 50);
  assert(back.accepted);
  assertEquals(kinds(back), ["2:fed_attach"]);
  assertEquals(t.route(0, 5), { kind: "local" });
});

Deno.test("federation: two keys on one id: the lower allocator wins whatever the stamps", () => {
  const t = upTable(3, [1, 2]);
  assert(t.attachLocal(entry(9, 5000, { allocator: 3, key: key(1) }), 10).accepted);
  const o = t.receive(2, attach([entry(9, 1000, { allocator: 2, key: key(2) })]), 20);
  assertEquals(o.events.map((e) => e.kind), ["id_conflict", "local_lost"]);
  assertEquals(o.events[1], { kind: "local_lost", network: 0, nodeId: 9, to: 2, conflict: true });
  assertEquals(t.route(0, 9), { kind: "peer", peer: 2 });
  // A claim from allocator 5 with a newer stamp loses to allocator 2.
  const o2 = t.receive(1, attach([entry(9, 9000, { allocator: 5, key: key(3) })]), 30);
  assertEquals(o2.events.map((e) => e.kind), ["id_conflict"]);
  assertEquals(t.route(0, 9), { kind: "peer", peer: 2 });
  assertEquals(t.counters.get("fed_id_conflict"), 2);
});

Deno.test("federation: FED_DETACH removes only the holder's claim of that stamp or older", () => {
  const t = upTable(1, [2, 3]);
  t.receive(2, attach([entry(5, 1000)]), 10);
  t.receive(3, {
    kind: "fed_detach",
    seq: 1,
    entries: [{ network: 0, nodeId: 5, stamp: tai64n(1000) }],
  }, 20);
  assertEquals(t.route(0, 5), { kind: "peer", peer: 2 }); // not 3's to remove
  t.receive(2, {
    kind: "fed_detach",
    seq: 2,
    entries: [{ network: 0, nodeId: 5, stamp: tai64n(999) }],
  }, 30);
  assertEquals(t.route(0, 5), { kind: "peer", peer: 2 }); // an older registration's detach
  t.receive(2, {
    kind: "fed_detach",
    seq: 3,
    entries: [{ network: 0, nodeId: 5, stamp: tai64n(1000) }],
  }, 40);
  assertEquals(t.route(0, 5), { kind: "unknown" });
  assertEquals(t.counters.get("fed_detach_removed"), 1);
  assertEquals(t.counters.get("fed_detach_ignored"), 2);
});

Deno.test("federation: a down peer's nodes are stale, stay in rosters, and go 60 s later", () => {
  const t = upTable(1, [2]);
  t.receive(2, attach([entry(5, 1000), entry(6, 1000)]), 100);
  assert(t.attachLocal(entry(7, 1000), 100).accepted);
  assertEquals(t.rosterIds(0, 7), [5, 6]);
  t.poll(3099);
  assertEquals(t.peerState(2), "up");
  t.poll(3100); // silent 3 s since 100
  assertEquals(t.peerState(2), "down");
  assertEquals(t.route(0, 5), { kind: "stale", peer: 2 });
  assertEquals(t.peers()[0].stale, 2);
  assertEquals(t.rosterIds(0, 7), [5, 6]);
  assertEquals(t.rosterIds(0, 7, false), []);
  assertEquals(t.rosterIds(0, 5), [6, 7]);
  assertEquals(t.nextDeadline(), 4100); // the next handshake; the stale sweep is at 63 100
  t.poll(63_099);
  assertEquals(t.remoteCount, 2);
  t.poll(63_100);
  assertEquals(t.remoteCount, 0);
  assertEquals(t.route(0, 5), { kind: "unknown" });
  assertEquals(t.counters.get("fed_stale_dropped"), 2);
  assertEquals(t.route(0, 7), { kind: "local" }); // our own are never stale
});

Deno.test("federation: a peer back within 60 s keeps what its sync confirms, loses the rest", () => {
  const t = upTable(1, [2]);
  t.receive(2, attach([entry(5, 1000), entry(6, 1000)]), 0);
  t.poll(3000);
  assertEquals(t.peerState(2), "down");
  const up = t.sessionUp(2, 10_000);
  assertEquals(kinds(up), ["2:fed_sync_req", "2:fed_ping"]);
  assertEquals(t.route(0, 5), { kind: "peer", peer: 2 }); // up again: routed there meanwhile
  const done = t.receive(
    2,
    { kind: "fed_attach", seq: 4, sync: true, last: true, chunk: 0, entries: [entry(5, 1000)] },
    10_050,
  );
  assertEquals(done.events, [{ kind: "sync_done", peer: 2, entries: 1, removed: 1 }]);
  assertEquals(t.peers()[0].stale, 0);
  t.poll(13_049);
  assertEquals(t.peerState(2), "up");
  t.poll(13_050); // silent again: down, its node stale
  assertEquals(t.route(0, 5), { kind: "stale", peer: 2 });
  t.poll(73_050);
  assertEquals(t.route(0, 5), { kind: "unknown" });
});

Deno.test("federation: a node at a peer we cannot reach is routed through one that can", () => {
  const t = upTable(1, [2, 3, 4]);
  t.receive(2, attach([entry(5, 1000)]), 0);
  t.receive(3, { kind: "fed_ping", seq: 1, time: 0, updateSeq: 0, upPeers: [1, 2] }, 2000);
  t.receive(4, { kind: "fed_ping", seq: 1, time: 0, updateSeq: 0, upPeers: [1] }, 2000);
  t.poll(3000); // 2 silent since 0
  assertEquals(t.peerState(2), "down");
  assertEquals(t.route(0, 5), { kind: "transit", peer: 2, via: 3 });
  // At 3 (the transit supernode) a FED_RELAY for node 5 with transit allowed is forwarded once.
  const c = upTable(3, [1, 2]);
  c.receive(2, attach([entry(5, 1000)]), 0);
  assertEquals(c.relayTarget(0, 5, true), { kind: "forward", peer: 2 });
  assertEquals(c.relayTarget(0, 5, false), { kind: "drop", reason: "fed_relay_not_here" });
  assert(c.attachLocal(entry(6, 1000), 0).accepted);
  assertEquals(c.relayTarget(0, 6, false), { kind: "deliver" });
  // Nobody reaches 2: stale.
  t.receive(3, { kind: "fed_ping", seq: 2, time: 0, updateSeq: 0, upPeers: [1] }, 3100);
  assertEquals(t.route(0, 5), { kind: "stale", peer: 2 });
});

Deno.test("federation: remote attachments are bounded per network per peer and in all", () => {
  const t = upTable(1, [2, 3], 0, { maxAttachments: 5, maxPerNetworkPerPeer: 3 });
  t.receive(2, attach([1, 2, 3, 4].map((i) => entry(i, 1000))), 0);
  assertEquals(t.remoteCount, 3);
  assertEquals(t.counters.get("fed_attach_refused_network_full"), 1);
  t.receive(2, attach([entry(3, 2000)], 2), 0); // a refresh is not a new entry
  assertEquals(t.attachment(0, 3)?.stamp, tai64n(2000));
  t.receive(2, attach([entry(10, 1000, { network: 1 })], 3), 0); // another network
  t.receive(3, attach([entry(11, 1000), entry(12, 1000)]), 0);
  assertEquals(t.remoteCount, 5);
  assertEquals(t.counters.get("fed_attach_refused_full"), 1);
  // A newer claim from 3 for a node of 2 replaces it: no growth, allowed when full.
  t.receive(3, attach([entry(1, 5000)], 2), 0);
  assertEquals(t.route(0, 1), { kind: "peer", peer: 3 });
  assertEquals(t.remoteCount, 5);
});

Deno.test("federation: update sequence gaps and a mismatching ping ask for a full sync", () => {
  const t = upTable(1, [2]); // synced at seq 0: expects 1
  assertEquals(t.receive(2, attach([entry(5, 1)], 1), 10).events, []);
  const gap = t.receive(2, attach([entry(6, 1)], 3), 20);
  assertEquals(gap.events, [{ kind: "sequence_gap", peer: 2, expected: 2, got: 3 }]);
  assertEquals(t.route(0, 6), { kind: "peer", peer: 2 }); // applied all the same
  assertEquals(t.nextDeadline(), -Infinity);
  assertEquals(kinds(t.poll(30)), ["2:fed_sync_req"]);
  assertEquals(kinds(t.poll(500)), []);
  assertEquals(kinds(t.poll(1030)), ["2:fed_sync_req", "2:fed_ping"]); // repeated until it comes
  t.receive(2, { kind: "fed_attach", seq: 3, sync: true, last: true, chunk: 0, entries: [] }, 1100);
  assertEquals(t.route(0, 5), { kind: "unknown" });
  // In step: a ping naming our last number changes nothing; one naming another asks again.
  assertEquals(
    t.receive(2, { kind: "fed_ping", seq: 5, time: 0, updateSeq: 3, upPeers: [] }, 1200).events,
    [],
  );
  const lost = t.receive(2, { kind: "fed_ping", seq: 6, time: 0, updateSeq: 4, upPeers: [] }, 1300);
  assertEquals(lost.events, [{ kind: "sequence_gap", peer: 2, expected: 4, got: 4 }]);
  assertEquals(kinds(lost), ["2:fed_pong", "2:fed_sync_req"]);
});

Deno.test("federation: a sync in chunks completes only with every chunk, in any order", () => {
  const t = upTable(1, [2]);
  t.receive(2, attach([entry(9, 1)], 1), 0); // will not be in the sync: removed at its end
  const chunk = (i: number, last: boolean, ids: number[]): FedMessage => ({
    kind: "fed_attach",
    seq: 7,
    sync: true,
    last,
    chunk: i,
    entries: ids.map((id) => entry(id, 1000)),
  });
  assertEquals(t.receive(2, chunk(2, true, [5]), 10).events, []);
  assertEquals(t.receive(2, chunk(0, false, [3]), 10).events, []);
  assertEquals(t.route(0, 9), { kind: "peer", peer: 2 }); // chunk 1 missing: nothing removed
  const done = t.receive(2, chunk(1, false, [4]), 10);
  assertEquals(done.events, [{ kind: "sync_done", peer: 2, entries: 3, removed: 1 }]);
  assertEquals(t.rosterIds(0, 0), [3, 4, 5]);
  // Now in step at 7.
  assertEquals(t.receive(2, attach([entry(6, 1)], 8), 20).events, []);
});

Deno.test("federation: two supernodes: a full sync, a node moving, the old one dropping it", () => {
  const a = table(1, [2]), b = table(2, [1]);
  const net = new Map([[1, a], [2, b]]);
  for (let i = 1; i <= 40; i++) {
    const e = entry(i, 1000, { endpoint: ep(i % 2 ? `[2001:db8::${i}]:5` : `192.0.2.${i}:5`) });
    assert(a.attachLocal(e, 0).accepted); // before the session: nothing sent
  }
  // Session up on both sides; each asks the other for a sync.
  const ua = a.sessionUp(2, 100), ub = b.sessionUp(1, 100);
  const answers = deliver(net, 1, ua, 110); // b answers a's request (empty) and ping
  deliver(net, 2, ub, 110).forEach((o) => deliver(net, 1, o, 120)); // a's chunks to b
  answers.forEach((o) => deliver(net, 2, o, 120));
  assertEquals(b.remoteCount, 40);
  assertEquals(b.route(0, 17), { kind: "peer", peer: 1 });
  assertEquals(b.peers()[0].attached, 40);
  assertEquals(a.counters.get("fed_sync_answered"), 1);
  // A second request within a second is not answered (no amplification by repetition).
  assertEquals(a.receive(2, { kind: "fed_sync_req" }, 500).sends.length, 0);
  assertEquals(a.counters.get("fed_sync_req_limited"), 1);
  // Node 17 moves to b (newer stamp): b announces, a drops its registration.
  const moved = b.attachLocal(entry(17, 2000), 1000);
  const [ao] = deliver(net, 2, moved, 1010);
  assertEquals(ao.events, [{ kind: "local_lost", network: 0, nodeId: 17, to: 2, conflict: false }]);
  // a says its registration ended (for peers that missed b's claim); b, holding the newer one, keeps it.
  assertEquals(kinds(ao), ["2:fed_detach"]);
  deliver(net, 1, ao, 1020);
  assertEquals(b.counters.get("fed_detach_ignored"), 1);
  assertEquals(a.route(0, 17), { kind: "peer", peer: 2 });
  assertEquals(b.route(0, 17), { kind: "local" });
  // a's later expiry of its old registration sends nothing that could undo the move.
  assertEquals(a.detachLocal(0, 17).sends, []);
  // Node 3 leaves a: b forgets it.
  deliver(net, 1, a.detachLocal(0, 3), 1100);
  assertEquals(b.route(0, 3), { kind: "unknown" });
  assertEquals(b.counters.get("fed_seq_gap"), 0);
});

Deno.test("federation: FED_DIGEST: members compared, a count that differs from ours asks for a sync", () => {
  const t = upTable(1, [2]);
  t.receive(2, attach([entry(5, 1), entry(6, 1)]), 0);
  const mine = new Uint8Array(32).fill(1);
  const ok = t.digest(
    2,
    { kind: "fed_digest", digest: mine, bindings: 0, attachments: 2 },
    mine,
    10,
  );
  assertEquals([ok.membersMatch, ok.sends.length], [true, 0]);
  assertEquals(t.peers()[0].digestMatch, true);
  const other = new Uint8Array(32).fill(2);
  const bad = t.digest(
    2,
    { kind: "fed_digest", digest: other, bindings: 0, attachments: 3 },
    mine,
    20,
  );
  assertEquals(bad.membersMatch, false);
  assertEquals(kinds(bad), ["2:fed_sync_req"]);
  assertEquals(t.counters.get("fed_digest_count_mismatch"), 1);
  assertEquals(t.peers()[0].digestMatch, false);
  // Our own digest body counts our registrations.
  assert(t.attachLocal(entry(9, 1), 30).accepted);
  const body = t.digestBody(mine, 4)!;
  assertEquals(parseFedBody(FedType.DIGEST, body), {
    ok: true,
    value: { kind: "fed_digest", digest: mine, bindings: 4, attachments: 1 },
  });
});

Deno.test("federation: a roster holds at most 512 ids, fresh before stale", () => {
  const t = upTable(1, [2]);
  for (let i = 1; i <= 300; i++) assert(t.attachLocal(entry(i, 1), 0).accepted);
  const remote: FedAttachEntry[] = [];
  for (let i = 301; i <= 700; i++) remote.push(entry(i, 1));
  for (let i = 0; i < remote.length; i += 17) {
    t.receive(2, attach(remote.slice(i, i + 17), 1 + i / 17), 0);
  }
  assertEquals(t.remoteCount, 400);
  const r = t.rosterIds(0, 1);
  assertEquals(r.length, 512);
  assertEquals(r[0], 2);
  assertEquals(r[511], 513);
  t.poll(3000); // 2 down: its nodes stale, so ours come first and stale ones fill up
  assertEquals(t.rosterIds(0, 1).slice(298, 300), [300, 301]);
  assertEquals(t.rosterIds(0, 1).length, 512);
  assertEquals(t.rosterIds(5, 1), []);
});

Deno.test("federation: a bad configuration is refused; unknown peers are counted", () => {
  let threw = 0;
  for (
    const f of [
      () => table(0, [2]),
      () => table(1, [1]),
      () => table(1, [2, 2]),
      () => table(1, [256]),
    ]
  ) {
    try {
      f();
    } catch (e) {
      assert(e instanceof RangeError);
      threw++;
    }
  }
  assertEquals(threw, 4);
  const t = upTable(1, [2]);
  const body = fedBody({ kind: "fed_sync_req" })!;
  assertEquals(body.length, 0);
  assertEquals(t.receive(9, { kind: "fed_sync_req" }, 0).sends, []);
  assertEquals(t.counters.get("fed_unknown_peer"), 1);
  assertEquals(FedType.SYNC_REQ, 0x38);
});

/**
 * Three supernodes over lossy, partitionable links; nodes register, move and
 * leave at random (each registration with a newer stamp, as the node's clock
 * gives it). After the chaos, with every link healed and no more loss, every
 * supernode must agree where each node is: exactly the supernode of its last
 * registration has it, and every other routes there. No split survives.
 */
Deno.test("federation: three supernodes converge after loss, partitions and moves", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
      let r = seed >>> 0;
      const rand = () => {
        r = (Math.imul(r, 1103515245) + 12345) >>> 0;
        return r / 2 ** 32;
      };
      const ids = [1, 2, 3];
      const sn = new Map(ids.map((id) => [id, table(id, ids.filter((x) => x !== id))]));
      const linkUp = new Map<string, boolean>(); // "a-b", a < b
      const link = (a: number, b: number) => linkUp.get(a < b ? `${a}-${b}` : `${b}-${a}`) ?? true;
      const truth = new Map<number, { at: number } | null>();
      let stamp = 1000;
      let loss = 0.2;
      const queue: { from: number; o: FedOutput }[] = [];
      const handle = (from: number, o: FedOutput, now: number) => {
        for (const ev of o.events) {
          if (ev.kind === "local_lost") {
            const t = truth.get(ev.nodeId);
            assert(
              !t || t.at !== from,
              `supernode ${from} lost node ${ev.nodeId} it was last registered with`,
            );
          }
        }
        for (const h of o.handshakes) {
          if (!link(from, h) || rand() < loss) continue;
          queue.push({ from, o: sn.get(from)!.sessionUp(h, now) });
          queue.push({ from: h, o: sn.get(h)!.sessionUp(from, now) });
        }
        for (const s of o.sends) {
          if (!link(from, s.peer) || rand() < loss) continue;
          queue.push({ from: s.peer, o: sn.get(s.peer)!.receive(from, parsed(s), now) });
        }
      };
      const run = (now: number) => {
        for (const [id, t] of sn) queue.push({ from: id, o: t.poll(now) });
        for (let n = 0; queue.length > 0 && n < 100_000; n++) {
          const q = queue.shift()!;
          handle(q.from, q.o, now);
        }
      };
      const expiries = new Map<string, number>(); // "supernode:node" -> when its registration expires
      const expire = (now: number) => {
        for (const [k, at] of [...expiries]) {
          if (now < at) continue;
          expiries.delete(k);
          const [id, node] = k.split(":").map(Number);
          queue.push({ from: id, o: sn.get(id)!.detachLocal(0, node) });
        }
      };
      let now = 0;
      for (let step = 0; step < 600; step++, now += 100) {
        expire(now);
        if (rand() < 0.02) {
          const [a, b] = [[1, 2], [1, 3], [2, 3]][Math.floor(rand() * 3)];
          linkUp.set(`${a}-${b}`, !link(a, b));
        }
        if (step % 5 === 0) {
          const node = 1 + Math.floor(rand() * 12);
          const cur = truth.get(node);
          if (cur && rand() < 0.2) {
            truth.set(node, null);
            queue.push({ from: cur.at, o: sn.get(cur.at)!.detachLocal(0, node) });
          } else {
            const at = ids[Math.floor(rand() * 3)];
            // A node that moves leaves its old supernode without a word: the old one keeps
            // its registration until the federation tells it otherwise, or until it expires
            // (no keepalive for 3 s).
            if (cur && cur.at !== at) expiries.set(`${cur.at}:${node}`, now + 3000);
            expiries.delete(`${at}:${node}`);
            const res = sn.get(at)!.attachLocal(entry(node, ++stamp), now);
            assert(res.accepted);
            truth.set(node, { at });
            queue.push({ from: at, o: res });
          }
        }
        run(now);
      }
      linkUp.clear();
      loss = 0;
      for (let step = 0; step < 100; step++, now += 100) {
        expire(now);
        run(now);
      }
      for (let node = 1; node <= 12; node++) {
        const t = truth.get(node);
        for (const [id, s] of sn) {
          const want: Route = !t
            ? { kind: "unknown" }
            : t.at === id
            ? { kind: "local" }
            : { kind: "peer", peer: t.at };
          assertEquals(s.route(0, node), want, `seed ${seed}: node ${node} at supernode ${id}`);
        }
      }
      for (const s of sn.values()) assert(s.allUp());
    }),
    { numRuns: 30, seed: 4242 },
  );
});
