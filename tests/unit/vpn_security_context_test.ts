/**
 * Issue 15: the sealer takes the time and the datagram's source as
 * arguments of the call that needs them (`seal(packet, now)`,
 * `open(packet, now, from)`), never as state set beforehand by
 * `setNow`/`setContext`. These tests interleave sources and times through
 * one sealer and check that every call gets the result its own arguments
 * call for; the last one failed on the code with `setNow` (the supernode's
 * SIGTERM sealed GOING_AWAY under sessions past their age, with the time of
 * the last datagram).
 */
import { assert, assertEquals } from "../assert.ts";
import { frame, keyOf, mat, SecLab } from "./vpn_security_lab.ts";
import { encodePacket } from "../../core/vpn/messages.ts";
import { SecureSealer } from "../../core/vpn/secure_sealer.ts";
import { Session, type SessionLimits } from "../../core/vpn/session_keys.ts";
import { readInit, readResp, writeInit, writeResp } from "../../core/vpn/handshake.ts";
import { tai64n } from "../../core/vpn/init_timestamps.ts";

const suite = new SecLab().suite;
const LIMITS: SessionLimits = {
  rekeyAfterMs: 1000,
  rejectAfterMs: 2000,
  rekeyAfterPackets: 1_000_000,
  rejectAfterPackets: 2_000_000,
};
const E1 = "192.0.2.1:4000";
const E2 = "198.51.100.2:5000";
const DATA = { kind: "data", frame: new Uint8Array(60).fill(0x61) } as const;

/** Sessions between `a` (initiator, node `ida`) and `b` (responder), created at 0. */
function sessions(a: SecureSealer, b: SecureSealer, peerOfA: number, peerOfB: number, bEp = "") {
  const ka = keyOf(suite, 1), kb = keyOf(suite, 2);
  const ida = a.newKeyId(), idb = b.newKeyId();
  const w = writeInit(
    suite,
    { network: 0, sender: peerOfB, receiver: peerOfA, keyId: ida },
    ka,
    kb.publicKey,
    new Uint8Array(32),
    keyOf(suite, 11),
    tai64n(1_700_000_000_000),
  );
  if (!w.ok) throw new Error(w.reason);
  const r = readInit(suite, kb, new Uint8Array(32), w.packet);
  if (!r.ok) throw new Error(r.reason);
  const resp = writeResp(
    suite,
    r.state,
    { network: 0, sender: peerOfA, receiver: peerOfB, keyId: idb },
    keyOf(suite, 12),
  );
  if (!resp.ok) throw new Error(resp.reason);
  const back = readResp(suite, w.state, resp.packet);
  if (!back.ok) throw new Error(back.reason);
  const sa = new Session(suite, {
    network: 0,
    peer: peerOfA,
    localKeyId: ida,
    remoteKeyId: idb,
    remoteStatic: kb.publicKey,
    initiator: true,
    secrets: back.secrets,
    now: 0,
  });
  const sb = new Session(suite, {
    network: 0,
    peer: peerOfB,
    localKeyId: idb,
    remoteKeyId: ida,
    remoteStatic: ka.publicKey,
    initiator: false,
    secrets: resp.secrets,
    now: 0,
    endpoint: bEp,
  });
  a.install(sa);
  b.install(sb);
  return { ka, sa, sb };
}

Deno.test("sealer context: interleaved times and sources through one sealer each get their own result", () => {
  const a = new SecureSealer({ suite, role: "node", limits: LIMITS });
  const b = new SecureSealer({ suite, role: "node", limits: LIMITS });
  const { sa, sb } = sessions(a, b, 2, 1);
  const packets = [0, 1, 2, 3].map((i) => {
    const r = encodePacket({ network: 0, sender: 1, receiver: 2 }, DATA, a, 10 + i);
    if (!r.ok) throw new Error(r.reason);
    return r.packet;
  });
  assertEquals(sa.lastTx, 13, "the seal stamps the time it was given");
  // From E1 at 100: opens, the session follows E1.
  assertEquals(b.open(packets[0], 100, E1), "ok");
  assertEquals(sb.endpoint, E1);
  // From E2 at 2500 (past rejectAfter): refused, and neither the time nor the source sticks.
  assertEquals(b.open(packets[1], 2500, E2), "no_session");
  assertEquals(sb.endpoint, E1);
  assertEquals(b.counters.get("rx_session_expired"), 1);
  // From E2 at 200: opens (the 2500 of the call before is not this call's time).
  assertEquals(b.open(packets[2], 200, E2), "ok");
  assertEquals(sb.endpoint, E2);
  assertEquals(sb.lastRx, 200);
  // No source (a sealer driven alone): opens, the endpoint stays.
  assertEquals(b.open(packets[3], 300, ""), "ok");
  assertEquals(sb.endpoint, E2);
  // Lookups and seals answer for the time they are asked about, in any order.
  assertEquals(b.currentFor(0, 1, 2500), undefined);
  assertEquals(b.currentFor(0, 1, 300), sb);
  const late = encodePacket({ network: 0, sender: 1, receiver: 2 }, DATA, a, 2500);
  assertEquals(late.ok ? "ok" : late.reason, "no_session");
  const early = encodePacket({ network: 0, sender: 1, receiver: 2 }, DATA, a, 400);
  assert(early.ok);
  assertEquals(sa.lastTx, 400);
  assertEquals(b.open(early.packet, 400, E2), "ok");
});

Deno.test("sealer context: the supernode takes a REGISTER only from its session's address, whatever came before", () => {
  const node = new SecureSealer({ suite, role: "node", limits: LIMITS });
  const sn = new SecureSealer({ suite, role: "supernode", limits: LIMITS });
  // The node's session to the supernode (peer 0); the supernode's, bound to E1.
  const { ka } = sessions(node, sn, 0, -1, E1);
  const register = (now: number) => {
    const r = encodePacket(
      { network: 0, sender: 0, receiver: 0 },
      {
        kind: "register",
        auto: true,
        identity: ka.publicKey,
        locals: [],
      },
      node,
      now,
    );
    if (!r.ok) throw new Error(r.reason);
    return r.packet;
  };
  const [r1, r2, r3, r4, r5] = [1, 2, 3, 4, 5].map(register);
  assertEquals(sn.open(r1, 10, E2), "wrong_sender"); // not the handshake's address
  assertEquals(sn.open(r2, 20, E1), "ok");
  assertEquals(sn.open(r3, 30, E2), "wrong_sender"); // E1 of the call before does not carry over
  assertEquals(sn.open(r5, 35, ""), "wrong_sender"); // no source is no address either
  assertEquals(sn.open(r4, 2500, E1), "no_session"); // the right address, but too late
  assertEquals(sn.counters.get("rx_register_wrong_address"), 3);
  assertEquals(sn.knownEndpoint(E1, 40), true);
  assertEquals(sn.knownEndpoint(E1, 2500), false);
  assertEquals(sn.knownEndpoint(E2, 40), false);
});

Deno.test("sealer context: a supernode stopped long after its last datagram seals nothing under expired sessions", () => {
  const probe = new SecLab();
  const lab = new SecLab({
    members: [1, 2].map((s) => ({ publicKey: keyOf(probe.suite, s).publicKey })),
  });
  lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  assert(lab.idOf("a") > 0 && lab.idOf("b") > 0, "both registered");
  lab.send("a", frame(mat(lab.idOf("b")), mat(lab.idOf("a")), new TextEncoder().encode("x")));
  lab.run(500);
  // SIGTERM ten minutes later, with no datagram or timer in between: every
  // session is past rejectAfter (180 s), so no GOING_AWAY may be sealed.
  lab.core.shutdown(lab.now + 600_000);
  const out = lab.core.takeOutgoing();
  assertEquals(out.map((o) => o.to), [], "sealed under expired sessions");
  assert((lab.core.status().counters.tx_no_session ?? 0) >= 2, "the refused seals are counted");
  // The same shutdown within the sessions' age sends GOING_AWAY to both nodes.
  const lab2 = new SecLab({
    members: [1, 2].map((s) => ({ publicKey: keyOf(probe.suite, s).publicKey })),
  });
  const a2 = lab2.addNode("a", keyOf(lab2.suite, 1));
  const b2 = lab2.addNode("b", keyOf(lab2.suite, 2));
  lab2.run(3000);
  lab2.core.shutdown(lab2.now + 1000);
  assertEquals(lab2.core.takeOutgoing().map((o) => o.to.key).sort(), [a2.ep, b2.ep].sort());
});
