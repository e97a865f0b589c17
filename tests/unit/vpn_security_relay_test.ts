/**
 * The relay findings of issue 13, each played as an attack against the
 * sans-IO security layer (`vpn_security_lab.ts`): the supernode's vouch
 * forged from two relayed packets that end alike (GHASH key recovery), the
 * sender's static key visible in the vouch, replayed relayed packets moving a
 * session's endpoint, broadcast fan-out and REGISTERs pointed at a victim
 * (amplification, counted in bytes).
 */
import { assert, assertEquals } from "../assert.ts";
import { contains, keyOf, type LabNode, SecLab, SN_EP } from "./vpn_security_lab.ts";
import { blocks, fromEl, ghash, ginv, groot, toEl } from "./gf128.ts";
import { HEADER_LENGTH, VERSION } from "../../core/vpn/constants.ts";
import { fingerprint } from "../../core/vpn/crypto_suite.ts";
import { SecType, writeInit } from "../../core/vpn/handshake.ts";
import { tai64n } from "../../core/vpn/init_timestamps.ts";
import { HDR } from "../../core/vpn/header.ts";
import { addHopTag, checkHopTag } from "../../core/vpn/sec_messages.ts";
import { encodePacket } from "../../core/vpn/messages.ts";

/** `packet` with the hop tag of `m`'s supernode session at `now`, as `m`'s own code would add it. */
function hopTagAs(m: LabNode, packet: Uint8Array, now: number): Uint8Array {
  const s = m.sec.sealer.currentFor(0, 0, now);
  assert(s !== undefined, `${m.name} has a supernode session`);
  const out = addHopTag(s, packet);
  assert(out !== null);
  return out;
}

function membersOf(lab: SecLab, ...seeds: number[]) {
  return seeds.map((s) => ({ publicKey: keyOf(lab.suite, s).publicKey }));
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >> 8;
  b[o + 1] = v & 0xff;
}

Deno.test("relay: two relayed packets ending alike give no member a vouch it can forge (GHASH key recovery)", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2, 3) });
  const m = lab.addNode("m", keyOf(lab.suite, 1)); // the malicious member
  lab.addNode("v", keyOf(lab.suite, 2)); // the node it impersonates
  const t = lab.addNode("t", keyOf(lab.suite, 3)); // the target
  lab.run(3000);
  const M = lab.idOf("m"), V = lab.idOf("v"), T = lab.idOf("t");
  assert(M > 0 && V > 0 && T > 0);

  // The forgery: a valid HS_INIT from M's static key, claiming to be V.
  const e = keyOf(lab.suite, 0x77);
  const f = writeInit(
    lab.suite,
    { network: 0, sender: V, receiver: T, keyId: 0x1234_5678 },
    m.key,
    t.key.publicKey,
    new Uint8Array(32),
    e,
    tai64n(lab.wall()),
  );
  assert(f.ok);
  const forged = f.packet;
  // Two packets that end like it (same last 16 bytes, so the same vouch nonce
  // before the fix), sent by M as itself, differing in block j only.
  const x1 = forged.slice();
  put16(x1, HDR.SENDER, M);
  const x2 = x1.slice();
  // Block j (from 3, past the header): the first whose exponent below is prime
  // to 2^128 - 1, so the root is unique (it depends on the HS_INIT's length).
  let j = 3;
  while (gcd(BigInt(blocks(forged.length + 32) + 1 - j), (1n << 128n) - 1n) !== 1n) j++;
  x2[16 * j] ^= 0x5a;
  // M sees the traffic to T (here: takes the vouched copies off the wire).
  const seen: Uint8Array[] = [];
  lab.filter = (fl) => {
    if (fl.from === SN_EP && fl.to === t.ep && fl.bytes[2] === SecType.HS_INIT) {
      if (fl.bytes[HDR.SENDER + 1] === (M & 0xff)) {
        seen.push(fl.bytes.slice());
        return false;
      }
    }
    return true;
  };
  lab.inject(m.ep, SN_EP, hopTagAs(m, x1, lab.now));
  lab.inject(m.ep, SN_EP, hopTagAs(m, x2, lab.now));
  lab.run(100);
  assertEquals(seen.length, 2, "the supernode vouched both to T");
  lab.filter = () => true;
  // Each vouch carries its own nonce (the supernode's counter, 8 bytes before the sealed key).
  const nonceField = (p: Uint8Array) => p.subarray(p.length - 56, p.length - 48).join(",");
  assert(nonceField(seen[0]) !== nonceField(seen[1]), "two vouches under one nonce");

  // The attack as it worked on the old trailer (inner | sender key | GMAC
  // tag, nonce = the inner packet's last tag): t1 ^ t2 = delta * H^e.
  const mk = m.key.publicKey;
  const aad = (inner: Uint8Array) => {
    const a = new Uint8Array(inner.length + mk.length);
    a.set(inner);
    a[HDR.FLAGS] |= 0x40;
    a.set(mk, inner.length);
    return a;
  };
  const tagOf = (p: Uint8Array) => toEl(p.subarray(p.length - 16));
  const a1 = aad(x1);
  const exp = BigInt(blocks(a1.length) + 1 - j);
  const delta = toEl(x1.subarray(16 * j, 16 * j + 16)) ^ toEl(x2.subarray(16 * j, 16 * j + 16));
  const h = groot(gmulEl(tagOf(seen[0]) ^ tagOf(seen[1]), ginv(delta)), exp);
  const ej0 = tagOf(seen[0]) ^ ghash(h, a1);
  const af = aad(forged);
  const out = new Uint8Array(af.length + 16);
  out.set(af);
  out.set(fromEl(ghash(h, af) ^ ej0), af.length);
  // Delivered to T as if from the supernode (spoofed source).
  lab.inject(SN_EP, t.ep, out);
  lab.run(200);

  const took = t.events.find((ev) => ev.type === "peer_session" && ev.peer === V);
  assert(
    took === undefined,
    `T accepted M's key ${fingerprint(mk)} for node ${V}: ${JSON.stringify(took)}`,
  );
  const c = t.sec.status().counters;
  assertEquals(c.hs_peer_answered ?? 0, 0, JSON.stringify(c));
  assertEquals(c.drop_bad_vouch ?? 0, 1, JSON.stringify(c));
  // And V, when it really talks to T, is not refused as a pin mismatch.
  assert(!t.events.some((ev) => ev.type === "peer_key_refused"));
});

Deno.test("relay: hop trailers of two packets that end alike give no key to forge a third", () => {
  // The node -> supernode hop trailer had the same flaw: its nonce was the
  // packet's own end-to-end tag, which the receiving member (it holds the
  // end-to-end key) can steer through payload it makes the sender echo.
  const key = new Uint8Array(32).fill(0x42);
  const suite = new SecLab().suite;
  const tx = {
    hopTx: suite.aead(key),
    hopRx: suite.aead(key),
    txCounter: 0,
    window: new ReplayWindow(),
  };
  const rx = {
    hopTx: suite.aead(key),
    hopRx: suite.aead(key),
    txCounter: 0,
    window: new ReplayWindow(),
  };
  const p1 = new Uint8Array(HEADER_LENGTH + 64 + 16);
  for (let i = 0; i < p1.length; i++) p1[i] = (i * 7 + 3) & 0xff;
  p1[HDR.FLAGS] = 0;
  const p2 = p1.slice();
  const j = 1; // e = 7 blocks to the end: prime to 2^128 - 1
  p2[16 * j + 1] ^= 0x81; // same end, one block different
  const s1 = addHopTag(tx, p1), s2 = addHopTag(tx, p2);
  assert(s1 !== null && s2 !== null);
  const eq = (a: Uint8Array, b: Uint8Array) => suite.equal(a, b);
  assert(checkHopTag(rx, eq, s1) instanceof Uint8Array);
  assert(checkHopTag(rx, eq, s2) instanceof Uint8Array);
  // The attack on the old trailer (a 16-byte GMAC tag, additional data = the
  // packet, nonce from its last 16 bytes): t1 ^ t2 = delta * H^e.
  const tag = (p: Uint8Array) => toEl(p.subarray(p.length - 16));
  const aad = (p: Uint8Array) => {
    const a = p.slice(0, p.length - 16);
    a[HDR.FLAGS] |= 0x40;
    return a;
  };
  const a1 = aad(s1);
  const exp = BigInt(blocks(a1.length) + 1 - j);
  const delta = toEl(p1.subarray(16 * j, 16 * j + 16)) ^ toEl(p2.subarray(16 * j, 16 * j + 16));
  const h = groot(gmulEl(tag(s1) ^ tag(s2), ginv(delta)), exp);
  const ej0 = tag(s1) ^ ghash(h, a1);
  // A third packet, ending alike, that the sender never sent.
  const p3 = p1.slice();
  p3[HDR.RECEIVER + 1] ^= 0x07;
  p3[40] ^= 0xff;
  const f = new Uint8Array(p3.length + 16);
  f.set(p3);
  f[HDR.FLAGS] |= 0x40;
  f.set(fromEl(ghash(h, f.subarray(0, p3.length)) ^ ej0), p3.length);
  assert(!(checkHopTag(rx, eq, f) instanceof Uint8Array), "forged hop tag accepted");
  // A replay of a real one is refused too.
  assertEquals(checkHopTag(rx, eq, s1), "replay");
});

function gmulEl(a: bigint, b: bigint): bigint {
  // Re-exported product, kept local so the test reads top-down.
  return gmulImpl(a, b);
}
import { gmul as gmulImpl } from "./gf128.ts";
import { ReplayWindow } from "../../core/replay.ts";

Deno.test("relay: the vouch does not show the sender's static public key", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  const a = lab.addNode("a", keyOf(lab.suite, 1));
  const b = lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  const vouched: Uint8Array[] = [];
  lab.filter = (fl) => {
    if (fl.from === SN_EP && (fl.bytes[2] & 0xf0) === 0x20 && fl.bytes[HDR.SENDER + 1] !== 0) {
      vouched.push(fl.bytes.slice());
    }
    return true;
  };
  lab.send("a", new Uint8Array(0)); // nothing: only to set `now`
  a.sec.sealer.wanted.add(lab.idOf("b"));
  lab.run(2000);
  assert(vouched.length >= 2, `relayed handshakes seen: ${vouched.length}`);
  for (const p of vouched) {
    assert(!contains(p.subarray(HEADER_LENGTH), a.key.publicKey), "a's key in clear");
    assert(!contains(p.subarray(HEADER_LENGTH), b.key.publicKey), "b's key in clear");
  }
  assert(lab.node("a").events.some((ev) => ev.type === "peer_session"), "session still made");
});

/** Blocks every datagram between two nodes: everything goes through the relay. */
function relayOnly(lab: SecLab): void {
  const eps = () => [...lab.nodes.values()].map((n) => n.ep);
  lab.filter = (f) => !(eps().includes(f.from) && eps().includes(f.to));
}

const ATTACKER = "203.0.113.66:5555";

Deno.test("relay: a replayed relayed packet is dropped at the supernode and moves no endpoint", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  const a = lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  relayOnly(lab);
  lab.run(3000);
  const B = lab.idOf("b");
  const marker = new TextEncoder().encode("REPLAY-ME");
  const caught: Uint8Array[] = [];
  const block = lab.filter;
  lab.filter = (f) => {
    if (f.from === a.ep && f.to === SN_EP && f.bytes[2] === 0x10) caught.push(f.bytes.slice());
    return block(f);
  };
  for (let i = 0; i < 5; i++) {
    lab.send("a", frameTo(lab, "b", "a", marker));
    lab.run(300);
  }
  assert(caught.length >= 3, `relayed data from a: ${caught.length}`);
  const got = lab.node("b").frames.length;
  const relayed = lab.core.status().counters.relayed_frames ?? 0;
  const aSession = () => lab.sec.sessionList(lab.now).find((s) => s.peer === lab.idOf("a"));
  const before = aSession()?.endpoint;
  assertEquals(before, a.ep);
  // The replay: from another address, then from a's own address.
  lab.inject(ATTACKER, SN_EP, caught[caught.length - 1]);
  lab.run(50);
  assertEquals(aSession()?.endpoint, a.ep, "a's session endpoint moved to the replayer");
  assert(
    !lab.sec.sealer.knownEndpoint(ATTACKER, lab.now),
    "the replayer's address counts as a member's",
  );
  lab.inject(a.ep, SN_EP, caught[caught.length - 1]);
  lab.run(50);
  assertEquals(lab.core.status().counters.relayed_frames ?? 0, relayed, "a replay was relayed");
  assertEquals(lab.node("b").frames.length, got);
  assert((lab.sec.status().counters.rx_relay_replay ?? 0) >= 2, "replays counted");
  // a and b still talk.
  lab.send("a", frameTo(lab, "b", "a", marker));
  lab.run(300);
  assertEquals(lab.node("b").frames.length, got + 1);
  void B;
});

function frameTo(lab: SecLab, dst: string, src: string, marker: Uint8Array): Uint8Array {
  const f = new Uint8Array(200);
  const mac = (id: number) => [0, 1, 0, id >> 8, id & 0xff, 0, 1];
  void mac;
  // MAT addresses 00:01:BB:BB:00:01 (supernode id 1, leaf 1).
  const d = lab.idOf(dst), s = lab.idOf(src);
  f.set([0x00, 0x01, d >> 8, d & 0xff, 0x00, 0x01], 0);
  f.set([0x00, 0x01, s >> 8, s & 0xff, 0x00, 0x01], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f.set(marker, 20);
  return f;
}

/** A DATA packet to every node (receiver 0xffff) with `m`'s valid hop tag. */
function fanOutPacket(lab: SecLab, m: LabNode): Uint8Array {
  const p = new Uint8Array(HEADER_LENGTH + 100 + 16);
  p[0] = 0x4c;
  p[1] = VERSION;
  p[2] = 0x10;
  put16(p, HDR.SENDER, lab.idOf(m.name));
  put16(p, HDR.RECEIVER, 0xffff);
  p[HDR.KEY_ID + 3] = 1;
  return hopTagAs(m, p, lab.now);
}

/** Bytes and datagrams the supernode sends to `to` while `act` runs. */
function sentTo(lab: SecLab, to: string, act: () => void): { bytes: number; datagrams: number } {
  const r = { bytes: 0, datagrams: 0 };
  const prev = lab.filter;
  lab.filter = (f) => {
    if (f.from === SN_EP && f.to === to) {
      r.bytes += f.bytes.length;
      r.datagrams++;
    }
    return prev(f);
  };
  act();
  lab.filter = prev;
  return r;
}

Deno.test("relay: with security on the supernode fans out no receiver-0xffff packet", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2, 3, 4, 5) });
  for (let i = 1; i <= 5; i++) lab.addNode(`n${i}`, keyOf(lab.suite, i));
  lab.run(3000);
  const m = lab.node("n1");
  const p = fanOutPacket(lab, m);
  let copies = 0;
  const prev = lab.filter;
  lab.filter = (f) => {
    if (f.from === SN_EP && f.bytes[2] === 0x10) copies++;
    return prev(f);
  };
  lab.inject(m.ep, SN_EP, p);
  lab.run(50);
  lab.filter = prev;
  assertEquals(copies, 0, `one datagram became ${copies} copies`);
  assert((lab.sec.status().counters.rx_relay_broadcast ?? 0) >= 1);
});

Deno.test("relay: REGISTERs pointed at a victim are refused: one datagram never becomes copies to it", () => {
  const secret = new Uint8Array(32).fill(9);
  const lab = new SecLab({ mode: "open", psk: secret });
  const VICTIM = "192.0.2.250:9999";
  const ms: LabNode[] = [];
  for (let i = 1; i <= 21; i++) ms.push(lab.addNode(`m${i}`, keyOf(lab.suite, i), { psk: secret }));
  lab.run(3000);
  assert(ms.every((n) => lab.idOf(n.name) > 0), "all registered");
  // 20 of the attacker's nodes re-register from the victim's address (spoofed);
  // the 21st then sends one datagram to every node.
  let sentBytes = 0;
  const toVictim = sentTo(lab, VICTIM, () => {
    for (const n of ms.slice(1)) {
      const r = encodePacket(
        { network: 0, sender: lab.idOf(n.name), receiver: 0 },
        { kind: "register", auto: false, identity: n.key.publicKey, locals: [] },
        n.sec.sealer,
        lab.now,
      );
      assert(r.ok);
      sentBytes += r.packet.length;
      lab.inject(VICTIM, SN_EP, r.packet);
    }
    lab.run(100);
    // Then one datagram to every node.
    const p = fanOutPacket(lab, ms[0]);
    sentBytes += p.length;
    lab.inject(ms[0].ep, SN_EP, p);
    lab.run(100);
  });
  const c = lab.sec.status().counters;
  assert(
    toVictim.bytes <= sentBytes,
    `the victim got ${toVictim.bytes} bytes in ${toVictim.datagrams} datagrams for ${sentBytes} sent`,
  );
  assertEquals(toVictim.datagrams, 0, JSON.stringify(c));
  assert((c.rx_register_wrong_address ?? 0) >= 20, JSON.stringify(c));
  // The real nodes keep their registrations at their own addresses.
  const eps = new Set(lab.core.status().networks[0].nodes.map((n) => n.endpoint));
  assert(!eps.has(VICTIM));
});

Deno.test("relay: a node whose NAT mapping changed handshakes again and registers from its new address", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  const a = lab.addNode("a", keyOf(lab.suite, 1));
  lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  const A = lab.idOf("a");
  const hs = a.sec.status().counters.hs_sent ?? 0;
  const at = () => lab.core.status().networks[0].nodes.find((n) => n.node === A)?.endpoint;
  assertEquals(at(), a.ep);
  // The NAT gives a's flow a new public port.
  const moved = a.ep.replace(/:\d+$/, ":61000");
  a.ep = moved;
  const t0 = lab.now;
  assert(lab.runUntil(() => at() === moved, 30_000), `registered at ${at()}`);
  const took = lab.now - t0;
  assert((a.sec.status().counters.hs_sent ?? 0) > hs, "a new supernode handshake");
  // Liveness bound only: keepalive 8 s, ack wait 3 s, two REGISTERs.
  assert(took < 20_000, `${took} ms`);
  const s = lab.sec.sessionList(lab.now).filter((x) => x.peer === A && x.confirmed);
  assert(s.some((x) => x.endpoint === moved));
  assertEquals(exchangeOk(lab, "b", "a"), true);
});

function exchangeOk(lab: SecLab, src: string, dst: string): boolean {
  const n = lab.node(dst).frames.length;
  for (let i = 0; i < 5; i++) {
    lab.send(src, frameTo(lab, dst, src, new TextEncoder().encode("AFTER-REBIND")));
    lab.run(200);
  }
  return lab.node(dst).frames.length > n;
}

Deno.test("relay: a vouched handshake replayed to its receiver is dropped before any public-key work", () => {
  const probe = new SecLab();
  const lab = new SecLab({ members: membersOf(probe, 1, 2) });
  const a = lab.addNode("a", keyOf(lab.suite, 1));
  const b = lab.addNode("b", keyOf(lab.suite, 2));
  lab.run(3000);
  const vouched: Uint8Array[] = [];
  lab.filter = (fl) => {
    if (fl.from === SN_EP && fl.to === b.ep && fl.bytes[2] === SecType.HS_INIT) {
      vouched.push(fl.bytes.slice());
    }
    return true;
  };
  a.sec.sealer.wanted.add(lab.idOf("b"));
  lab.run(2000);
  assert(vouched.length >= 1);
  assert(a.events.some((ev) => ev.type === "peer_session"));
  const answered = b.sec.status().counters.hs_peer_answered ?? 0;
  const x = lab.suite.x25519Calls;
  lab.inject(SN_EP, b.ep, vouched[0]);
  lab.run(100);
  const c = b.sec.status().counters;
  assertEquals(c.hs_peer_answered ?? 0, answered, "the replay was answered");
  assertEquals(c.drop_vouch_replay ?? 0, 1, JSON.stringify(c));
  assertEquals(lab.suite.x25519Calls, x, "public-key work for a replay");
});

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}
