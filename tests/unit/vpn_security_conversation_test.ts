/**
 * The security layer in conversation: a supernode and nodes with
 * `SecureSupernode`/`SecureNode` in front of the protocol cores, over an
 * in-memory network at explicit times (`vpn_security_lab.ts`).
 */
import { keyedEndpoint } from "../../core/addr.ts";
import { assert, assertEquals } from "../assert.ts";
import { contains, frame, keyOf, mat, SecLab } from "./vpn_security_lab.ts";
import { encodePacket } from "../../core/vpn/messages.ts";
import { secPacket } from "../../core/vpn/sec_messages.ts";

const MARKER = new TextEncoder().encode("SECRET-MARKER-7f3a");

Deno.test("security: members register, exchange unicast and broadcast; the relaying supernode never sees plaintext", () => {
  const probe = new SecLab();
  const ka = keyOf(probe.suite, 1), kb = keyOf(probe.suite, 2);
  const lab = new SecLab({ members: [{ publicKey: ka.publicKey }, { publicKey: kb.publicKey }] });
  lab.addNode("a", ka);
  lab.addNode("b", kb);
  lab.run(3000);
  const a = lab.idOf("a"), b = lab.idOf("b");
  assert(a > 0 && b > 0, `registered: a=${a} b=${b}`);
  // Unicast a -> b: the first frames trigger the peer handshake through the supernode.
  for (let i = 0; i < 5; i++) {
    lab.send("a", frame(mat(b), mat(a), MARKER));
    lab.run(500);
  }
  const got = lab.node("b").frames.filter((f) => contains(f, MARKER));
  assert(got.length >= 3, `b received ${got.length} marked frames`);
  // Broadcast from b.
  lab.send("b", frame(0xffff_ffff_ffff, mat(b), MARKER));
  lab.run(200);
  assert(lab.node("a").frames.some((f) => f[0] === 0xff && contains(f, MARKER)), "broadcast");
  for (const bytes of lab.snSeen) {
    assert(!contains(bytes, MARKER), "plaintext seen by the supernode");
  }
  assert(lab.snSeen.length > 20);
  const c = lab.sec.status().counters;
  assert((c.relayed_handshakes ?? 0) >= 2, JSON.stringify(c));
});

function membersOf(lab: SecLab, ...seeds: number[]) {
  return seeds.map((s) => ({ publicKey: keyOf(lab.suite, s).publicKey }));
}

/** Sends `n` marked frames from `src` to `dst` 100 ms apart; returns how many arrived. */
function exchange(lab: SecLab, src: string, dst: string, n: number, marker = MARKER): number {
  const before = lab.node(dst).frames.filter((f) => contains(f, marker)).length;
  for (let i = 0; i < n; i++) {
    lab.send(src, frame(mat(lab.idOf(dst)), mat(lab.idOf(src)), marker));
    lab.run(100);
  }
  lab.run(500);
  return lab.node(dst).frames.filter((f) => contains(f, marker)).length - before;
}

Deno.test("security: an unlisted key is refused with a clear, authenticated reason on both sides", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1) });
  lab.addNode("stranger", keyOf(lab.suite, 9));
  lab.run(3000);
  assertEquals(lab.idOf("stranger"), 0);
  const ev = lab.node("stranger").events.find((e) => e.type === "refused");
  assert(ev !== undefined && ev.type === "refused");
  assertEquals(ev.reason, "not_member");
  assertEquals(ev.text, "the public key is not a member of this network");
  const sev = lab.snEvents.find((e) => e.type === "refused");
  assert(sev !== undefined && sev.type === "refused" && sev.reason === "not_member");
  assertEquals(lab.core.status().counters.registrations ?? 0, 0);
});

Deno.test("security: a node that pinned the wrong supernode key gets no answer; the supernode says why", () => {
  // Its mac1 is keyed with the wrong public key: refused with one HMAC, before any X25519.
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1) });
  lab.addNode("a", keyOf(lab.suite, 1), { snKey: keyOf(lab.suite, 0x77).publicKey });
  lab.run(6000);
  assertEquals(lab.idOf("a"), 0);
  const ev = lab.node("a").events.find((e) => e.type === "no_answer");
  assert(ev !== undefined && ev.type === "no_answer" && ev.text.includes("public key"));
  const sev = lab.snEvents.find((e) => e.type === "handshake_failed");
  assert(sev !== undefined && sev.type === "handshake_failed" && sev.reason === "bad_mac1");
  assert(sev.text.includes("supernode public key"), sev.text);
});

Deno.test("security: open mode admits any key with the network secret and refuses a wrong secret", () => {
  const psk = new Uint8Array(32).fill(7);
  const lab = new SecLab({ mode: "open", psk });
  lab.addNode("a", keyOf(lab.suite, 1), { psk });
  lab.addNode("b", keyOf(lab.suite, 2), { psk });
  lab.addNode("x", keyOf(lab.suite, 3), { psk: new Uint8Array(32).fill(8) });
  lab.run(3000);
  assert(lab.idOf("a") > 0 && lab.idOf("b") > 0);
  assertEquals(lab.idOf("x"), 0);
  assert(lab.snEvents.some((e) => e.type === "handshake_failed" && e.reason === "bad_secret"));
  // The first frame finds no session and starts the handshake; the rest arrive.
  assert(exchange(lab, "a", "b", 5) >= 4);
});

Deno.test("security: a member cannot take over another node's id; the real node keeps working", async () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2, 3) });
  lab.addNode("a", keyOf(lab.suite, 1), { nodeId: 5 });
  lab.addNode("b", keyOf(lab.suite, 2), { nodeId: 6 });
  lab.run(3000);
  assertEquals(lab.idOf("a"), 5);
  // 1. The attacker asks for id 5 in its handshake: refused, id_bound.
  lab.addNode("m", keyOf(lab.suite, 3), { nodeId: 5 });
  lab.run(3000);
  assert(lab.node("m").core.status().state !== "registered");
  assert(lab.node("m").events.some((e) => e.type === "refused" && e.reason === "id_bound"));
  // 2. The attacker with an auto id forges a REGISTER for id 5 and data from id 5
  //    under its own session.
  const { encodePacket } = await import("../../core/vpn/messages.ts");
  lab.addNode("m2", keyOf(lab.suite, 3));
  lab.run(3000);
  const m2 = lab.node("m2");
  assert(lab.idOf("m2") > 0);
  const reg = encodePacket(
    { network: 0, sender: 5, receiver: 0 },
    {
      kind: "register",
      auto: false,
      identity: m2.key.publicKey,
      locals: [],
    },
    m2.sec.sealer,
    lab.now,
  );
  assert(reg.ok);
  lab.inject(m2.ep, "198.51.100.1:7654", reg.packet);
  const reg2 = encodePacket(
    { network: 0, sender: 5, receiver: 0 },
    {
      kind: "register",
      auto: false,
      identity: keyOf(lab.suite, 1).publicKey,
      locals: [],
    },
    m2.sec.sealer,
    lab.now,
  );
  assert(reg2.ok);
  lab.inject(m2.ep, "198.51.100.1:7654", reg2.packet);
  const before = lab.sec.status().counters.rx_register_wrong_identity ?? 0;
  lab.run(1000);
  const c = lab.sec.status().counters;
  assertEquals((c.rx_register_wrong_identity ?? 0) - before, 2);
  assertEquals(lab.idOf("a"), 5);
  assert(exchange(lab, "b", "a", 6, new TextEncoder().encode("after-attack")) >= 5);
  assertEquals(exchange(lab, "a", "b", 3, new TextEncoder().encode("after-attack-2")), 3);
});

Deno.test("security: removing a key cuts its node off within seconds, direct paths included", () => {
  const probe = new SecLab();
  const list = membersOf(probe, 1, 2, 3);
  const lab = new SecLab({ members: list });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.addNode("c", keyOf(lab.suite, 3));
  lab.run(3000);
  exchange(lab, "b", "a", 10);
  assertEquals(lab.node("a").core.peers().find((p) => p.node === lab.idOf("b"))?.path, "direct");
  const bId = lab.idOf("b");
  // SIGHUP at t: b is no longer a member.
  const t = lab.now;
  assertEquals(lab.sec.setMembers([list[0], list[2]], t), 1);
  lab.run(2000);
  assert(lab.node("a").events.some((e) => e.type === "revoked" && e.node === bId));
  assert(lab.node("c").events.length > 0);
  const late = new TextEncoder().encode("after-revocation");
  assertEquals(exchange(lab, "b", "a", 10, late), 0);
  assertEquals(exchange(lab, "b", "c", 5, late), 0);
  lab.send("b", frame(0xffff_ffff_ffff, mat(bId), late));
  lab.run(30_000); // b tries again: its handshakes are refused
  assertEquals(lab.node("a").frames.filter((f) => contains(f, late)).length, 0);
  assertEquals(lab.node("c").frames.filter((f) => contains(f, late)).length, 0);
  assert(lab.node("b").events.some((e) => e.type === "refused" && e.reason === "not_member"));
  // a and c still talk.
  assert(exchange(lab, "a", "c", 5, new TextEncoder().encode("still-fine")) >= 4);
});

Deno.test("security: sessions rotate on time and volume while traffic flows", () => {
  const probe = new SecLab();
  const limits = {
    rekeyAfterMs: 10_000,
    rejectAfterMs: 15_000,
    rekeyAfterPackets: 40,
    rejectAfterPackets: 80,
  };
  const lab = new SecLab({ members: membersOf(probe, 1, 2), limits });
  lab.addNode("a", keyOf(lab.suite, 1), { limits });
  lab.addNode("b", keyOf(lab.suite, 2), { limits });
  lab.run(3000);
  const a = lab.node("a");
  const keyIds = new Set<number>();
  let sent = 0;
  const m = new TextEncoder().encode("rotating");
  for (let i = 0; i < 600; i++) {
    lab.send("a", frame(mat(lab.idOf("b")), mat(lab.idOf("a")), m));
    sent++;
    lab.run(100);
    const s = a.sec.sealer.currentFor(0, lab.idOf("b"), lab.now);
    if (s) keyIds.add(s.localKeyId);
  }
  lab.run(1000);
  const got = lab.node("b").frames.filter((f) => contains(f, m)).length;
  assert(keyIds.size >= 8, `only ${keyIds.size} peer sessions in 60 s`);
  assert(lab.idOf("a") > 0 && lab.idOf("b") > 0, "still registered after supernode rekeys");
  const lost = sent - got;
  assert(lost <= 10, `lost ${lost} of ${sent} frames across rotations`);
});

Deno.test("security: a flood of forged handshakes and garbage from many sources does not starve members", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  exchange(lab, "a", "b", 3);
  const before = lab.suite.x25519Calls;
  let seed = 1;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  const marker = new TextEncoder().encode("under-flood");
  let delivered = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 200; i++) {
      const p = new Uint8Array(164);
      for (let j = 0; j < p.length; j++) p[j] = next() & 0xff;
      p[0] = 0x4c;
      p[1] = 2;
      p[2] = i % 2 === 0 ? 0x20 : 0x10;
      p[3] = 0x80;
      p[8] = p[9] = 0;
      p[16] = p[17] = p[18] = 0;
      lab.inject(`203.0.113.${next() % 250}:${1024 + (next() % 60000)}`, "198.51.100.1:7654", p);
      if (i % 50 === 0) {
        const q = p.slice();
        q[2] = 0x10;
        lab.inject("203.0.113.1:9", lab.node("a").ep, q);
      }
    }
    lab.send("a", frame(mat(lab.idOf("b")), mat(lab.idOf("a")), marker));
    lab.run(100);
  }
  lab.run(500);
  delivered = lab.node("b").frames.filter((f) => contains(f, marker)).length;
  assertEquals(delivered, 50);
  const dh = lab.suite.x25519Calls - before;
  // 5000 forged HS_INITs in 5 s: a wrong mac1 stops each one before any X25519
  // (the members' own re-keys are all the work there is).
  assert(dh <= 20, `x25519 calls ${dh}`);
  const c = lab.sec.status().counters;
  assert((c.hs_failed_bad_mac1 ?? 0) >= 2500, JSON.stringify(c));
  assert(lab.idOf("a") > 0 && lab.idOf("b") > 0);
  // The flood is counted, not logged line by line: at most 20 events per second.
  const failures = lab.snEvents.filter((e) => e.type === "handshake_failed").length;
  assert(failures <= 20 + 20 * 6, `${failures} failure events`);
  assert((c.events_suppressed ?? 0) > 0);
  // Status lines: the members' sessions, no key material.
  const list = lab.sec.sessionList(lab.now);
  assert(list.some((s) => s.peer === lab.idOf("a") && s.confirmed && s.key.length === 16));
});

Deno.test("security: replayed HS_INITs neither grow the session table nor disturb the node", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  const inits: Uint8Array[] = [];
  lab.filter = (f) => {
    if (f.to === "198.51.100.1:7654" && f.bytes[2] === 0x20 && f.bytes[9] === 0) {
      inits.push(f.bytes.slice());
    }
    return true;
  };
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  assert(inits.length >= 2);
  const sessions = lab.sec.status().sessions;
  for (let i = 0; i < 300; i++) {
    lab.inject(`203.0.113.${i % 200}:4000`, "198.51.100.1:7654", inits[i % inits.length]);
    if (i % 30 === 0) lab.run(100);
  }
  lab.run(1000);
  assert(lab.sec.status().sessions <= sessions + 2, `${lab.sec.status().sessions} sessions`);
  // Refused before any state changes: the ephemeral was answered lately, or the
  // timestamp is not newer than the key's last (tests/unit/vpn_security_replay_test.ts).
  const c = lab.sec.status().counters;
  assert((c.hs_replay_ephemeral ?? 0) + (c.hs_replay_timestamp ?? 0) >= 290, JSON.stringify(c));
  assert(exchange(lab, "a", "b", 5, new TextEncoder().encode("after-replays")) >= 4);
});

Deno.test("security: broadcasts are end-to-end copies: the supernode opens none; a removed node's broadcasts reach nobody", () => {
  const probe = new SecLab();
  const list = membersOf(probe, 1, 2, 3);
  const lab = new SecLab({ members: list });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.addNode("c", keyOf(lab.suite, 3));
  lab.run(3000);
  const bId = lab.idOf("b");
  const bcast = (text: string) => {
    const m = new TextEncoder().encode(text);
    lab.send("b", frame(0xffff_ffff_ffff, mat(bId), m));
    lab.run(2000);
    return ["a", "c"].map((n) => lab.node(n).frames.filter((x) => contains(x, m)).length);
  };
  // Positive control: the first broadcast waits for b's sessions with a and c, then arrives once each.
  assertEquals(bcast("bcast-before"), [1, 1]);
  const bc = lab.node("b").core.status().counters;
  assertEquals([bc.tx_broadcast, bc.tx_broadcast_copies, bc.tx_held, bc.tx_held_sent], [
    1,
    2,
    2,
    2,
  ]);
  for (const bytes of lab.snSeen) assert(!contains(bytes, new TextEncoder().encode("bcast-")));
  // A sealer cannot make a packet for receiver 0xffff any more (no key could protect it).
  const r = encodePacket(
    { network: 0, sender: bId, receiver: 0xffff },
    {
      kind: "data",
      frame: frame(0xffff_ffff_ffff, mat(bId), MARKER),
    },
    lab.node("b").sec.sealer,
    lab.now,
  );
  assertEquals(r.ok ? "sealed" : r.reason, "no_session");
  lab.sec.setMembers([list[0], list[2]], lab.now);
  lab.run(3000);
  assertEquals(bcast("bcast-after"), [0, 0]);
  // a and c still reach each other by broadcast (their rosters dropped b).
  const cId = lab.idOf("c");
  const m2 = new TextEncoder().encode("bcast-from-c");
  lab.send("c", frame(0xffff_ffff_ffff, mat(cId), m2));
  lab.run(2000);
  assertEquals(lab.node("a").frames.filter((x) => contains(x, m2)).length, 1);
  assertEquals(lab.node("c").core.status().counters.tx_broadcast_copies, 1, "c's roster: only a");
});

Deno.test("security: nodes learn a newcomer from the supernode's roster push within seconds", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.run(3000);
  assertEquals(lab.node("a").sec.broadcastPeers().length, 0);
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(2500); // b registers (about 1 s), the next sweep pushes the roster (1 s)
  assertEquals(lab.node("a").sec.broadcastPeers(), [lab.idOf("b")]);
  assertEquals(lab.node("b").sec.broadcastPeers(), [lab.idOf("a")]);
  assert((lab.sec.status().counters.roster_pushes ?? 0) >= 1);
  // Unchanged rosters are not sent again: a's periodic requests are answered with nothing.
  const sent = lab.sec.status().counters.rosters_sent ?? 0;
  lab.run(12_000);
  assertEquals(lab.sec.status().counters.rosters_sent ?? 0, sent);
  assert((lab.sec.status().counters.roster_unchanged ?? 0) >= 2);
});

Deno.test("security: peer keys are pinned on first use; a supernode vouching another key for a known id is refused", () => {
  const probe = new SecLab();
  const list = membersOf(probe, 1, 2);
  const lab = new SecLab({ members: list });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  assert(exchange(lab, "a", "b", 3) >= 2, "a and b talk (b's key pinned at a)");
  const a = lab.node("a");
  const bId = lab.idOf("b");
  assertEquals(a.sec.pinCount, 1);
  const pins = a.sec.exportPins(lab.now);
  assertEquals(pins.length, 1);
  assertEquals(pins[0][0], bId);
  // The supernode (compromised) now says node b holds another key: a refuses it.
  const evil = keyOf(lab.suite, 66).publicKey;
  const pk = secPacket(
    { kind: "peer_key", peer: bId, known: true, publicKey: evil },
    { network: 0, sender: 0, receiver: lab.idOf("a") },
    false,
  );
  assertEquals(lab.sec.sealer.seal(pk, lab.now), "ok");
  lab.inject("198.51.100.1:7654", a.ep, pk);
  lab.run(100);
  const ev = a.events.find((e) => e.type === "peer_key_refused");
  assert(ev !== undefined && ev.type === "peer_key_refused", JSON.stringify(a.events));
  assertEquals([ev.peer, ev.reason], [bId, "pin_mismatch"]);
  assertEquals(a.sec.status().counters.peer_key_refused_pin_mismatch, 1);
  assertEquals(a.sec.pinCount, 1, "the pin stays");
  // The pins survive a round trip through the state file; a garbled file loads nothing bad.
  assertEquals(a.sec.importPins(JSON.parse(JSON.stringify(pins)), lab.now), 1);
  assertEquals(
    a.sec.importPins([[bId, "zz", 0], [0, pins[0][1], 0], "x", [bId, pins[0][1], -1]], lab.now),
    0,
  );
  assertEquals(a.sec.importPins(pins, lab.now), 1);
  // Revocation of the pinned key by the supernode clears the pin (the id may go to a new key).
  lab.sec.setMembers([list[0]], lab.now);
  lab.run(3000);
  assertEquals(a.sec.pinCount, 0);
});

Deno.test("security: with a trusted peer list only listed keys, for their ids, get a session", () => {
  const probe = new SecLab();
  const list = membersOf(probe, 1, 2, 3);
  const lab = new SecLab({ members: list });
  // a trusts only b's key (no id given); c is a member the supernode admits, but a does not trust it.
  lab.addNode("a", keyOf(lab.suite, 1), { trusted: [{ key: list[1].publicKey }] });
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.addNode("c", keyOf(lab.suite, 3));
  lab.run(3000);
  assert(exchange(lab, "a", "b", 3) >= 2, "a <-> b works");
  assertEquals(exchange(lab, "a", "c", 3), 0, "a -> c refused (a does not trust c)");
  assertEquals(exchange(lab, "c", "a", 3), 0, "c -> a refused");
  const c = lab.node("a").sec.status().counters;
  assert((c.peer_key_refused_not_trusted ?? 0) >= 1, JSON.stringify(c));
  // An id-bound trusted entry refuses the right key under another id.
  const lab2 = new SecLab({ members: list });
  lab2.addNode("b", keyOf(lab2.suite, 2), { nodeId: 20 });
  lab2.addNode("a", keyOf(lab2.suite, 1), {
    nodeId: 10,
    trusted: [{ key: list[1].publicKey, id: 21 }],
  });
  lab2.run(3000);
  assertEquals(exchange(lab2, "a", "b", 3), 0);
  assert((lab2.node("a").sec.status().counters.peer_key_refused_trusted_for_other_id ?? 0) >= 1);
});

Deno.test("security: after a supernode restart nodes handshake and register again within 25 s", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  const ids = [lab.idOf("a"), lab.idOf("b")];
  lab.restartSupernode();
  const t = lab.now;
  let back = -1;
  for (let i = 0; i < 300 && back < 0; i++) {
    lab.run(100);
    if (lab.core.status().counters.registrations === 2) back = lab.now - t;
  }
  assert(back >= 0 && back <= 25_000, `registered again after ${back} ms`);
  assertEquals([lab.idOf("a"), lab.idOf("b")], ids);
  assert(exchange(lab, "a", "b", 5, new TextEncoder().encode("after-restart")) >= 4);
});

Deno.test("security: with direct paths blocked every frame is relayed, and the supernode still sees no plaintext", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  const eps = () => [...lab.nodes.values()].map((n) => n.ep);
  lab.filter = (f) => !(eps().includes(f.from) && eps().includes(f.to));
  lab.run(3000);
  const m = new TextEncoder().encode("RELAYED-MARKER-91");
  const got = exchange(lab, "a", "b", 30, m) + exchange(lab, "b", "a", 30, m);
  assert(got >= 58, `${got} of 60 relayed frames arrived`);
  assert((lab.core.status().counters.relayed_frames ?? 0) >= 58);
  assertEquals(lab.node("a").core.peers()[0]?.path, "relay");
  for (const bytes of lab.snSeen) assert(!contains(bytes, m), "plaintext seen by the supernode");
});

Deno.test("security: random and mutated packets into both security layers never throw and change nothing (fuzz)", async () => {
  const fc = (await import("fast-check")).default;
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  const seen: Uint8Array[] = [];
  lab.filter = (f) => {
    if (seen.length < 200) seen.push(f.bytes.slice());
    return true;
  };
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  exchange(lab, "a", "b", 3);
  const a = lab.node("a");
  const ids = [lab.idOf("a"), lab.idOf("b")];
  const sessions = lab.sec.status().sessions;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(
          fc.constantFrom(...seen),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        ).map(([p, flips]) => {
          const b = p.slice();
          for (const [i, v] of flips) if (b.length > 0) b[i % b.length] = v;
          return b;
        }),
      ),
      (p) => {
        if (lab.sec.receive(keyedEndpoint("203.0.113.9:1"), p.slice(), lab.now) === "core") {
          lab.core.receive(keyedEndpoint("203.0.113.9:1"), p.slice(), lab.now);
        }
        if (
          a.sec.receive(keyedEndpoint("198.51.100.1:7654"), p.slice(), lab.now, lab.wall()) ===
            "core"
        ) {
          a.core.receive(keyedEndpoint("198.51.100.1:7654"), p.slice(), lab.now);
        }
      },
    ),
    { seed: 0xbad, numRuns: 1500 },
  );
  lab.run(1000);
  assertEquals([lab.idOf("a"), lab.idOf("b")], ids);
  assert(lab.sec.status().sessions <= sessions + 2);
  assert(exchange(lab, "a", "b", 5, new TextEncoder().encode("after-fuzz")) >= 4);
});

Deno.test("security: an id pinned to a key in the member list is never given to an auto node", () => {
  const probe = new SecLab();
  const lab = new SecLab({
    members: [
      { publicKey: keyOf(probe.suite, 1).publicKey },
      { publicKey: keyOf(probe.suite, 2).publicKey, id: 1 },
    ],
  });
  lab.addNode("auto", keyOf(lab.suite, 1));
  lab.run(3000);
  assertEquals(lab.idOf("auto"), 2); // 1 is pinned to the other key
  lab.addNode("pinned", keyOf(lab.suite, 2), { nodeId: 1 });
  lab.run(3000);
  assertEquals(lab.node("pinned").core.status().state, "registered");
  assertEquals(lab.idOf("pinned"), 1);
  assert(exchange(lab, "auto", "pinned", 4) >= 3);
});

Deno.test("security: driven only by nextDeadline() and arrivals (as a daemon loop), nodes register, talk and re-key", () => {
  const probe = new SecLab();
  const limits = {
    rekeyAfterMs: 20_000,
    rejectAfterMs: 30_000,
    rekeyAfterPackets: 2 ** 40,
    rejectAfterPackets: 2 ** 48,
  };
  const lab = new SecLab({ members: membersOf(probe, 1, 2), limits });
  lab.addNode("a", keyOf(lab.suite, 1), { limits });
  lab.addNode("b", keyOf(lab.suite, 2), { limits });
  const w = lab.runByDeadlines(5000);
  assert(w < 5000, `${w} wake-ups in 5 s`);
  assert(lab.idOf("a") > 0 && lab.idOf("b") > 0);
  const m = new TextEncoder().encode("deadline-driven");
  let sent = 0;
  for (let i = 0; i < 100; i++) {
    lab.send("a", frame(mat(lab.idOf("b")), mat(lab.idOf("a")), m));
    sent++;
    lab.runByDeadlines(1000); // 100 s in all: several re-keys of every session
  }
  const got = lab.node("b").frames.filter((f) => contains(f, m)).length;
  assert(got >= sent - 3, `${got} of ${sent}`);
  assert(lab.node("a").sec.status().counters.hs_supernode_done >= 4);
  assert(lab.idOf("a") > 0 && lab.idOf("b") > 0);
});

Deno.test("security: tampered and replayed packets reach no TAP and are counted; forgeries move no window", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  const b = lab.node("b");
  assert(exchange(lab, "a", "b", 3) >= 2); // sessions up
  // Capture (and hold back) the next data packets for b.
  const held: { from: string; bytes: Uint8Array }[] = [];
  lab.filter = (f) => {
    if (f.to !== b.ep || f.bytes[2] !== 0x10) return true;
    held.push({ from: f.from, bytes: f.bytes.slice() });
    return false;
  };
  const m = new TextEncoder().encode("count-me");
  assertEquals(exchange(lab, "a", "b", 4, m), 0);
  assertEquals(held.length, 4);
  lab.filter = () => true;
  const c0 = b.core.status().counters;
  const count = (c: Record<string, number>, k: string) => (c[k] ?? 0) - (c0[k] ?? 0);
  for (const p of held) {
    const t = p.bytes.slice();
    t[40] ^= 0x20; // one ciphertext bit
    lab.inject(p.from, b.ep, t);
  }
  lab.run(100);
  assertEquals(count(b.core.status().counters, "drop_bad_tag"), 4);
  const cut = held[0].bytes.subarray(0, held[0].bytes.length - 5); // truncated
  lab.inject(held[0].from, b.ep, cut.slice());
  lab.run(100);
  assertEquals(count(b.core.status().counters, "drop_bad_tag"), 5);
  assertEquals(b.frames.filter((f) => contains(f, m)).length, 0);
  for (const p of held) lab.inject(p.from, b.ep, p.bytes); // the originals still open
  lab.run(100);
  assertEquals(b.frames.filter((f) => contains(f, m)).length, 4);
  for (const p of held) lab.inject(p.from, b.ep, p.bytes); // now they are replays
  lab.run(100);
  assertEquals(b.frames.filter((f) => contains(f, m)).length, 4);
  assertEquals(count(b.core.status().counters, "drop_replay"), 4);
});

const BCAST = 0xffff_ffff_ffff;
const text = (s: string) => new TextEncoder().encode(s);
const marked = (lab: SecLab, name: string, m: Uint8Array) =>
  lab.node(name).frames.filter((f) => f[0] === 0xff && contains(f, m)).length;

/** True for a ROSTER (0x29) from the supernode to the node `name`. */
function rosterTo(lab: SecLab, name: string, f: { to: string; bytes: Uint8Array }): boolean {
  return f.to === lab.nodes.get(name)?.ep && f.bytes[2] === 0x29;
}

Deno.test("security: a broadcast sent after REGISTER_ACK but before the first ROSTER waits for it, then reaches every other node", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2, 3) });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  lab.addNode("c", keyOf(lab.suite, 3));
  const c = lab.node("c");
  assert(lab.runUntil(() => c.core.status().state === "registered", 5000), "c registers");
  // The ROSTER_REQUEST is in flight: c knows no other node yet.
  assertEquals([c.sec.status().rosterKnown, c.sec.broadcastPeers().length], [false, 0]);
  const m = text("early-arp");
  assertEquals(lab.send("c", frame(BCAST, mat(lab.idOf("c")), m)), "broadcast");
  assertEquals(c.sec.status().heldBroadcasts, 1);
  // Driven by deadlines and arrivals only, as the daemon's loop.
  lab.runByDeadlines(2000);
  assertEquals([marked(lab, "a", m), marked(lab, "b", m)], [1, 1]);
  const st = c.sec.status();
  assertEquals(st.rosterKnown, true);
  assertEquals(st.rosterIds, [lab.idOf("a"), lab.idOf("b")].sort((x, y) => x - y));
  assertEquals(st.heldBroadcasts, 0);
  assertEquals([st.counters.broadcast_held, st.counters.broadcast_held_sent], [1, 1]);
  assertEquals(st.counters.broadcast_held_dropped_age ?? 0, 0);
  const cc = c.core.status().counters;
  assertEquals([cc.tx_broadcast, cc.tx_broadcast_copies, cc.tx_broadcast_no_peers ?? 0], [1, 2, 0]);
  for (const bytes of lab.snSeen) assert(!contains(bytes, m), "plaintext seen by the supernode");
});

Deno.test("security: broadcasts waiting for the first roster are bounded in count and age, counted, never held forever", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.run(3000);
  let blockRoster = true;
  lab.filter = (f) => !(blockRoster && rosterTo(lab, "c", f));
  lab.addNode("c", keyOf(lab.suite, 2));
  const c = lab.node("c");
  assert(lab.runUntil(() => c.core.status().state === "registered", 5000), "c registers");
  const cId = lab.idOf("c");
  // 20 before any roster: 16 kept, the 4 newest dropped (overflow).
  const early = text("early-burst");
  for (let i = 0; i < 20; i++) lab.send("c", frame(BCAST, mat(cId), early));
  let st = c.sec.status();
  assertEquals(st.heldBroadcasts, 16);
  assertEquals([st.counters.broadcast_held, st.counters.broadcast_held_dropped_overflow], [16, 4]);
  // No roster within 2 s (every ROSTER to c is lost): they age out.
  lab.run(2100);
  st = c.sec.status();
  assertEquals([st.rosterKnown, st.heldBroadcasts], [false, 0]);
  assertEquals(st.counters.broadcast_held_dropped_age, 16);
  assert(c.sec.nextDeadline() > lab.now, "nothing left to wait for");
  // The next ROSTER_REQUEST goes out and its answer gets through; one more
  // broadcast while it is in flight: only that one goes out, once per node.
  blockRoster = false;
  const asked = c.sec.status().counters.roster_requests;
  assert(lab.runUntil(() => c.sec.status().counters.roster_requests > asked, 6000));
  assertEquals(c.sec.status().rosterKnown, false);
  const late = text("late-one");
  lab.send("c", frame(BCAST, mat(cId), late));
  assert(lab.runUntil(() => c.sec.status().rosterKnown, 1000), "the answer gets through");
  lab.run(1000);
  assertEquals([marked(lab, "a", early), marked(lab, "a", late)], [0, 1]);
  st = c.sec.status();
  assertEquals([st.counters.broadcast_held, st.counters.broadcast_held_sent], [17, 1]);
  assertEquals(st.counters.broadcast_held_dropped_age, 16);
});

Deno.test("security: the first roster comes although the first push is lost; once known (even empty) nothing is held", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  // A lone node: its list is empty, the digest of what it holds before any
  // roster. Its request must still be answered once the push is lost.
  let blockRoster = true;
  lab.filter = (f) => !(blockRoster && rosterTo(lab, "a", f));
  const a = lab.addNode("a", keyOf(lab.suite, 1));
  lab.run(3000);
  assert(lab.idOf("a") > 0);
  assertEquals(a.sec.status().rosterKnown, false);
  blockRoster = false;
  assert(lab.runUntil(() => a.sec.status().rosterKnown, 6000), "a periodic request is answered");
  assertEquals(a.sec.status().rosterIds, []);
  const m = text("alone");
  assertEquals(lab.send("a", frame(BCAST, mat(lab.idOf("a")), m)), "broadcast");
  assertEquals(a.sec.status().heldBroadcasts, 0);
  assertEquals(a.sec.status().counters.broadcast_held ?? 0, 0);
  assertEquals(a.core.status().counters.tx_broadcast_no_peers, 1);
  // Unchanged rosters are not sent again once known.
  const sent = lab.sec.status().counters.rosters_sent ?? 0;
  lab.run(11_000);
  assertEquals(lab.sec.status().counters.rosters_sent ?? 0, sent);
  // A second node: both know the roster; a broadcast goes out at once.
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  const m2 = text("known-roster");
  lab.send("a", frame(BCAST, mat(lab.idOf("a")), m2));
  assertEquals(a.sec.status().heldBroadcasts, 0);
  lab.run(1000);
  assertEquals(marked(lab, "b", m2), 1);
  assertEquals(a.sec.status().counters.broadcast_held ?? 0, 0);
});

Deno.test("security: after a supernode restart the roster from before stays in use: a broadcast right after re-registering is not held", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  const a = lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  const ids = [lab.idOf("a"), lab.idOf("b")];
  lab.restartSupernode();
  // Every ROSTER from the restarted supernode to a is lost: a keeps its list.
  lab.filter = (f) => !rosterTo(lab, "a", f);
  assert(
    lab.runUntil(() => (lab.core.status().counters.registrations ?? 0) === 2, 25_000),
    "both registered again",
  );
  assertEquals(a.sec.status().rosterIds, [ids[1]]);
  const copies = a.core.status().counters.tx_broadcast_copies ?? 0;
  const m = text("after-restart-bcast");
  lab.send("a", frame(BCAST, mat(ids[0]), m));
  assertEquals(a.sec.status().heldBroadcasts, 0);
  assertEquals(a.core.status().counters.tx_broadcast_copies, copies + 1);
  lab.run(3000);
  assertEquals(marked(lab, "b", m), 1);
});
