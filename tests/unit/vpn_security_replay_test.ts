/**
 * Issue 13, section 2: replayed handshakes and handshake floods against the
 * security layer, as scripted conversations over the in-memory lab
 * (`vpn_security_lab.ts`) at explicit times. Each test is one attack from
 * docs/security.md "VPN handshake: replay and floods"; each failed on the
 * code before the fix (timestamps, cookies, per-address limits, per-key
 * bounds).
 */
import { assert, assertEquals } from "../assert.ts";
import { contains, frame, keyOf, mat, SecLab, SN_EP } from "./vpn_security_lab.ts";
import { encodePacket } from "../../core/vpn/messages.ts";
import { addVouch, VOUCH_LENGTH } from "../../core/vpn/sec_messages.ts";
import { forgedInit } from "./vpn_security_attacker.ts";

const SPOOF = "203.0.113.66:5555";

function membersOf(lab: SecLab, ...seeds: number[]) {
  return seeds.map((s) => ({ publicKey: keyOf(lab.suite, s).publicKey }));
}

/** Sends `n` marked frames from `src` to `dst` 100 ms apart; returns how many arrived. */
function exchange(lab: SecLab, src: string, dst: string, n: number, marker: Uint8Array): number {
  const before = lab.node(dst).frames.filter((f) => contains(f, marker)).length;
  for (let i = 0; i < n; i++) {
    lab.send(src, frame(mat(lab.idOf(dst)), mat(lab.idOf(src)), marker));
    lab.run(100);
  }
  lab.run(500);
  return lab.node(dst).frames.filter((f) => contains(f, marker)).length - before;
}

/** A lab with members a, b (direct paths blocked: every frame goes through the supernode). */
function relayedLab(capture: (f: { from: string; to: string; bytes: Uint8Array }) => void) {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2, 3) });
  const eps = () => [...lab.nodes.values()].map((n) => n.ep);
  lab.filter = (f) => {
    capture(f);
    return !(eps().includes(f.from) && eps().includes(f.to));
  };
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  return lab;
}

const isInitToSn = (f: { to: string; bytes: Uint8Array }) =>
  f.to === SN_EP && f.bytes[2] === 0x20 && f.bytes[8] === 0 && f.bytes[9] === 0;

Deno.test("replay: a captured HS_INIT replayed every 100 ms after a supernode restart does not keep the node out; its relayed frames arrive", () => {
  let captured: Uint8Array | null = null;
  const lab = relayedLab((f) => {
    if (captured === null && isInitToSn(f)) captured = f.bytes.slice();
  });
  const a = lab.node("a");
  assert(captured !== null);
  const m = new TextEncoder().encode("before-restart");
  assertEquals(exchange(lab, "a", "b", 3, m), 3);
  lab.restartSupernode();
  // The attacker replays a's first HS_INIT every 100 ms, from its own address.
  let ok = -1;
  const t = lab.now;
  for (let i = 0; i < 300 && ok < 0; i++) {
    lab.inject(SPOOF, SN_EP, captured!);
    lab.run(100);
    if (a.sec.ready() && lab.idOf("a") > 0 && lab.core.status().counters.registrations === 2) {
      ok = lab.now - t;
    }
  }
  assert(ok >= 0, "node a did not get a supernode session back within 30 s of replays");
  // Frames keep arriving while the replay goes on.
  let got = 0;
  const marker = new TextEncoder().encode("after-restart-under-replay");
  for (let i = 0; i < 10; i++) {
    lab.inject(SPOOF, SN_EP, captured!);
    got += exchange(lab, "a", "b", 1, marker);
  }
  assert(got >= 9, `${got} of 10 relayed frames arrived`);
  const c = lab.sec.status().counters;
  assert((c.hs_replay_timestamp ?? 0) + (c.hs_replay_ephemeral ?? 0) >= 100, JSON.stringify(c));
});

Deno.test("replay: a captured HS_INIT replayed every 100 ms for 200 s never displaces the node's re-keys; frames keep flowing", () => {
  let captured: Uint8Array | null = null;
  const lab = relayedLab((f) => {
    if (captured === null && isInitToSn(f)) captured = f.bytes.slice();
  });
  assert(captured !== null);
  const installed0 = lab.sec.status().counters.sessions_installed ?? 0;
  const marker = new TextEncoder().encode("under-steady-replay");
  let sent = 0;
  let got = 0;
  for (let s = 0; s < 200; s++) {
    for (let i = 0; i < 10; i++) {
      lab.inject(`203.0.113.${i + 1}:${4000 + s}`, SN_EP, captured!);
      lab.run(100);
    }
    if (s % 4 === 0) {
      sent++;
      got += exchange(lab, "a", "b", 1, marker);
    }
  }
  assert(lab.node("a").sec.ready(), "node a lost its supernode session");
  // Only re-keys lose a frame now and then (the rotation gap), never the replay.
  assert(got >= sent - 4, `${got} of ${sent} relayed frames arrived under replay`);
  // 2000 replays made no session: only the nodes' own re-keys did (2 nodes, 120 s).
  const installed = (lab.sec.status().counters.sessions_installed ?? 0) - installed0;
  assert(installed <= 8, `${installed} sessions installed during 200 s of replays`);
});

Deno.test("replay: a peer's vouched HS_INIT replayed to a node changes none of its sessions", () => {
  const captured: { to: string; bytes: Uint8Array }[] = [];
  const lab = relayedLab((f) => {
    if (f.from === SN_EP && f.bytes[2] === 0x20 && (f.bytes[3] & 0x40) !== 0) {
      captured.push({ to: f.to, bytes: f.bytes.slice() });
    }
  });
  const m = new TextEncoder().encode("peer-session-up");
  assertEquals(exchange(lab, "a", "b", 3, m), 3);
  assert(captured.length >= 1, "no relayed HS_INIT seen");
  const victim = [...lab.nodes.values()].find((n) => n.ep === captured[0].to)!;
  const other = victim.name === "a" ? "b" : "a";
  const before = victim.sec.status().counters.sessions_installed ?? 0;
  const sessions = victim.sec.status().sessions;
  for (let i = 0; i < 100; i++) {
    lab.inject(SN_EP, victim.ep, captured[0].bytes);
    lab.run(100);
  }
  const c = victim.sec.status().counters;
  assertEquals((c.sessions_installed ?? 0) - before, 0, JSON.stringify(c));
  assertEquals(victim.sec.status().sessions, sessions);
  // Refused by the HS_INIT's timestamp or ephemeral (or, where the vouch has a
  // replay window of its own, by that first).
  const refused = (c.drop_peer_hs_replay ?? 0) + (c.drop_vouch_replay ?? 0);
  assert(refused >= 90, JSON.stringify(c));
  const m2 = new TextEncoder().encode("peer-after-replay");
  assertEquals(exchange(lab, victim.name, other, 5, m2), 5);
  assertEquals(exchange(lab, other, victim.name, 5, m2), 5);
});

Deno.test("replay: a recorded peer HS_INIT re-vouched with a fresh counter (a compromised supernode) is refused by its timestamp", () => {
  const captured: { to: string; bytes: Uint8Array }[] = [];
  const lab = relayedLab((f) => {
    if (f.from === SN_EP && f.bytes[2] === 0x20 && (f.bytes[3] & 0x40) !== 0) {
      captured.push({ to: f.to, bytes: f.bytes.slice() });
    }
  });
  assertEquals(exchange(lab, "a", "b", 3, new TextEncoder().encode("re-vouch-1")), 3);
  assert(captured.length >= 1, "no relayed HS_INIT seen");
  const victim = [...lab.nodes.values()].find((n) => n.ep === captured[0].to)!;
  const other = victim.name === "a" ? "b" : "a";
  const inner = captured[0].bytes.slice(0, captured[0].bytes.length - VOUCH_LENGTH);
  inner[3] &= ~0x40;
  const before = victim.sec.status().counters.sessions_installed ?? 0;
  for (let i = 0; i < 20; i++) {
    const dst = lab.sec.sealer.currentFor(0, lab.idOf(victim.name), lab.now)!;
    const p = addVouch(dst, inner, lab.node(other).key.publicKey);
    assert(p !== null);
    lab.inject(SN_EP, victim.ep, p);
    lab.run(100);
  }
  const c = victim.sec.status().counters;
  assertEquals((c.sessions_installed ?? 0) - before, 0, JSON.stringify(c));
  assert((c.drop_peer_hs_replay ?? 0) >= 20, JSON.stringify(c));
  const m = new TextEncoder().encode("re-vouch-2");
  assertEquals(exchange(lab, victim.name, other, 3, m), 3);
});

/** Floods the supernode for `ms`: `perStep` forged HS_INITs every 10 ms from `source(i)`. */
function flood(lab: SecLab, ms: number, perStep: number, source: (i: number) => string) {
  const forged = Array.from({ length: 64 }, (_, i) => forgedInit(lab, 0x70 + i));
  let n = 0;
  for (let t = 0; t < ms; t += 10) {
    for (let i = 0; i < perStep; i++, n++) lab.inject(source(n), SN_EP, forged[n % forged.length]);
    lab.run(10);
  }
}

Deno.test("flood: after a supernode restart, 2000 HS_INIT/s from one address on many ports do not keep members out", () => {
  const lab = relayedLab(() => {});
  lab.restartSupernode();
  flood(lab, 25_000, 20, (i) => `203.0.113.7:${1024 + (i % 60000)}`);
  assert(lab.node("a").sec.ready() && lab.node("b").sec.ready(), "a member has no session");
  assertEquals(lab.core.status().counters.registrations, 2);
  const c = lab.sec.status().counters;
  assert((c.limited_source ?? 0) > 40_000, JSON.stringify(c));
  assertEquals(exchange(lab, "a", "b", 3, new TextEncoder().encode("after-flood-1")), 3);
});

Deno.test("flood: after a supernode restart, 1000 HS_INIT/s from forged addresses do not keep members out (cookies)", () => {
  const lab = relayedLab(() => {});
  lab.restartSupernode();
  const x0 = lab.suite.x25519Calls;
  flood(lab, 25_000, 10, (i) => `198.18.${(i >> 8) & 0xff}.${i & 0xff}:${1024 + i % 999}`);
  assert(lab.node("a").sec.ready() && lab.node("b").sec.ready(), "a member has no session");
  assertEquals(lab.core.status().counters.registrations, 2);
  const c = lab.sec.status().counters;
  assert((c.cookie_replies ?? 0) > 0 && (c.hs_under_load ?? 0) > 0, JSON.stringify(c));
  assertEquals(exchange(lab, "a", "b", 3, new TextEncoder().encode("after-flood-2")), 3);
  // 25 000 forged HS_INITs: the public-key work stays within the budget (2 X25519 each).
  const dh = lab.suite.x25519Calls - x0;
  assert(dh <= 2 * (100 + 500 * 26) + 200, `x25519 calls ${dh}`);
});

Deno.test("squat: a member registering id after id holds at most two; another member then gets the id it asks for", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2, 3) });
  lab.addNode("m", keyOf(lab.suite, 3));
  lab.run(3000);
  const m = lab.node("m");
  assert(lab.idOf("m") > 0);
  // The member asks for ids 10..60 in REGISTERs over its own session.
  for (let id = 10; id <= 60; id++) {
    const reg = encodePacket(
      { network: 0, sender: id, receiver: 0 },
      {
        kind: "register",
        auto: false,
        identity: m.key.publicKey,
        locals: [],
      },
      m.sec.sealer,
      lab.now,
    );
    assert(reg.ok);
    lab.inject(m.ep, SN_EP, reg.packet);
    lab.run(50);
  }
  lab.run(1000);
  const mine = lab.members.exportBindings(lab.now).filter((b) =>
    b[2] === [...m.key.publicKey].map((x) => x.toString(16).padStart(2, "0")).join("")
  );
  assert(mine.length <= 2, `the member holds ${mine.length} ids`);
  // Another member asks for id 20, which the squatter had bound.
  lab.addNode("c", keyOf(lab.suite, 2), { nodeId: 20 });
  lab.run(3000);
  assertEquals(lab.idOf("c"), 20);
  assert((lab.members.counters.snapshot().bindings_released_key_limit ?? 0) >= 40);
});

Deno.test("tables: in open mode 2000 handshakes of fresh keys fill neither the session table nor evict the members' sessions", () => {
  const psk = new Uint8Array(32).fill(7);
  const lab = new SecLab({ mode: "open", psk, maxSessions: 1500 });
  lab.addNode("a", keyOf(lab.suite, 1), { psk });
  lab.addNode("b", keyOf(lab.suite, 2), { psk });
  lab.run(3000);
  const m = new TextEncoder().encode("open-before");
  assertEquals(exchange(lab, "a", "b", 2, m), 2);
  // A holder of the secret makes 2000 keys and handshakes with each, never confirming.
  let n = 0;
  for (let t = 0; t < 5000 && n < 2000; t += 10) {
    for (let i = 0; i < 5 && n < 2000; i++, n++) {
      lab.inject(`198.18.${n >> 8}.${n & 0xff}:7000`, SN_EP, forgedInit(lab, 0x1000 + n, psk));
    }
    lab.run(10);
  }
  lab.run(1000);
  const st = lab.sec.status(lab.now);
  assert(st.sessions < 1500, `${st.sessions} sessions`);
  assert(st.handshakes.unconfirmed <= 1024, `${st.handshakes.unconfirmed} unconfirmed`);
  assert((st.counters.unconfirmed_evicted ?? 0) > 0, JSON.stringify(st.counters));
  assertEquals(st.counters.sessions_evicted ?? 0, 0);
  const m2 = new TextEncoder().encode("open-after");
  assertEquals(exchange(lab, "a", "b", 3, m2), 3);
  assertEquals(exchange(lab, "b", "a", 3, m2), 3);
});

Deno.test("tables: a member re-keying every second keeps at most 4 sessions at the supernode", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  const fast = {
    rekeyAfterMs: 1000,
    rejectAfterMs: 180_000,
    rekeyAfterPackets: 2 ** 40,
    rejectAfterPackets: 2 ** 48,
  };
  lab.addNode("a", keyOf(lab.suite, 1), { limits: fast });
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  const marker = new TextEncoder().encode("fast-rekey");
  let got = 0;
  for (let i = 0; i < 60; i++) {
    got += exchange(lab, "a", "b", 1, marker) + exchange(lab, "b", "a", 1, marker);
  }
  const key = lab.sec.sessionList(lab.now).filter((s) =>
    s.key === lab.sec.sessionList(lab.now).find((x) => x.peer === lab.idOf("a"))?.key
  );
  assert(key.length <= 4, `${key.length} sessions of one key`);
  assert((lab.sec.status().counters.sessions_key_limit ?? 0) > 0);
  assert(got >= 110, `${got} of 120 frames`);
});
