/**
 * SecureSealer with sessions from a real handshake: tampered, truncated,
 * replayed, reordered-beyond-the-window and misattributed packets are
 * dropped and counted; in-window reordering is accepted; hop tags; session
 * limits by time and volume. Fuzzing of `open` with any bytes.
 */
import { tai64n } from "../../core/vpn/init_timestamps.ts";
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { decodePacket, encodePacket, type Message } from "../../core/vpn/messages.ts";
import { readInit, readResp, writeInit, writeResp } from "../../core/vpn/handshake.ts";
import { SecureSealer } from "../../core/vpn/secure_sealer.ts";
import { DEFAULT_LIMITS, Session, type SessionLimits } from "../../core/vpn/session_keys.ts";
import { checkHeader } from "../../core/vpn/header.ts";
import { keyOf, seededSuite } from "./vpn_security_lab.ts";

const suite = seededSuite(42);

/** Two node sealers (ids 1 and 2, network 0) with one session between them. */
function pair(limits: SessionLimits = DEFAULT_LIMITS) {
  const ka = keyOf(suite, 1), kb = keyOf(suite, 2);
  const a = new SecureSealer({ suite, role: "node", limits });
  const b = new SecureSealer({ suite, role: "node", limits });
  const ida = a.newKeyId(), idb = b.newKeyId();
  const w = writeInit(
    suite,
    { network: 0, sender: 1, receiver: 2, keyId: ida },
    ka,
    kb.publicKey,
    new Uint8Array(32),
    keyOf(suite, 11),
    tai64n(1_700_000_000_000),
  );
  if (!w.ok) throw new Error();
  const r = readInit(suite, kb, new Uint8Array(32), w.packet);
  if (!r.ok) throw new Error();
  const resp = writeResp(
    suite,
    r.state,
    { network: 0, sender: 2, receiver: 1, keyId: idb },
    keyOf(suite, 12),
  );
  if (!resp.ok) throw new Error();
  return { a, b, ka, kb, w, resp, ida, idb };
}

/** `pair()` with both sessions installed (the initiator's keys through readResp). */
function established(limits: SessionLimits = DEFAULT_LIMITS) {
  const p = pair(limits);
  const back = readResp(suite, p.w.state, p.resp.packet);
  if (!back.ok) throw new Error(back.reason);
  const sa = new Session(suite, {
    network: 0,
    peer: 2,
    localKeyId: p.ida,
    remoteKeyId: p.idb,
    remoteStatic: p.kb.publicKey,
    initiator: true,
    secrets: back.secrets,
    now: 0,
  });
  const sb = new Session(suite, {
    network: 0,
    peer: 1,
    localKeyId: p.idb,
    remoteKeyId: p.ida,
    remoteStatic: p.ka.publicKey,
    initiator: false,
    secrets: p.resp.secrets,
    now: 0,
  });
  p.a.install(sa);
  p.b.install(sb);
  return { ...p, sa, sb };
}

const DATA: Message = { kind: "data", frame: new Uint8Array(100).fill(0x61) };

function seal(s: SecureSealer, m: Message = DATA, now = 0): Uint8Array {
  const r = encodePacket({ network: 0, sender: 1, receiver: 2 }, m, s, now);
  if (!r.ok) throw new Error(r.reason);
  return r.packet;
}

function open(s: SecureSealer, p: Uint8Array, now = 0, from = ""): string {
  const d = decodePacket(p.slice(), s, now, from);
  return d.ok ? "ok" : d.reason;
}

Deno.test("sealer: a sealed frame opens once; body is encrypted; responder confirms on first packet", () => {
  const { a, b, sb } = established();
  const p = seal(a);
  assert(!p.subarray(24, 124).every((x) => x === 0x61), "body encrypted");
  assertEquals(sb.confirmed, false);
  const d = decodePacket(p, b, 0, "");
  assert(d.ok && d.msg.kind === "data" && d.msg.frame.every((x) => x === 0x61));
  assertEquals(sb.confirmed, true);
  assertEquals(b.currentFor(0, 1, 0), sb);
});

Deno.test("sealer: every single-bit flip and every truncation is refused and counted; state unchanged", () => {
  const { a, b } = established();
  const p = seal(a);
  for (let i = 0; i < p.length * 8; i += 7) {
    const t = p.slice();
    t[i >> 3] ^= 1 << (i & 7);
    assert(open(b, t) !== "ok", `bit ${i} accepted`);
  }
  for (let n = 0; n < p.length; n += 5) {
    assert(open(b, p.subarray(0, n)) !== "ok", `truncated to ${n}`);
  }
  assertEquals(open(b, p), "ok"); // the good packet still opens after all the bad ones
  const c = b.counters.snapshot();
  assert((c.rx_bad_tag ?? 0) > 50, JSON.stringify(c));
  assert((c.rx_no_session ?? 0) > 0, "flipped key ids are refused before any AEAD");
});

Deno.test("sealer: replays refused; reordering within the window accepted, beyond it refused", () => {
  const { a, b } = established();
  const ps = Array.from({ length: 2100 }, () => seal(a));
  assertEquals(open(b, ps[5]), "ok");
  assertEquals(open(b, ps[5]), "replay");
  assertEquals(open(b, ps[3]), "ok"); // late but within the window
  assertEquals(open(b, ps[2099]), "ok");
  assertEquals(open(b, ps[10]), "replay"); // 2089 behind: beyond the 2016-packet window
  assertEquals(open(b, ps[2090]), "ok"); // within
  assertEquals(b.counters.get("rx_replay"), 2);
});

Deno.test("sealer: a session refuses packets claiming another sender or network", () => {
  const { a, b } = established();
  const r = encodePacket({ network: 0, sender: 9, receiver: 2 }, DATA, a, 0);
  assert(r.ok);
  assertEquals(open(b, r.packet), "wrong_sender");
  const r2 = encodePacket({ network: 3, sender: 1, receiver: 2 }, DATA, a, 0);
  assertEquals(r2.ok, false); // no session in network 3
});

Deno.test("sealer: sessions stop at rejectAfter (time, volume) and ask for re-keying before", () => {
  const limits = {
    rekeyAfterMs: 1000,
    rejectAfterMs: 2000,
    rekeyAfterPackets: 5,
    rejectAfterPackets: 8,
  };
  const { a, b, sa } = established(limits);
  for (let i = 0; i < 5; i++) assertEquals(open(b, seal(a)), "ok");
  assert(sa.needsRekey(0, limits));
  for (let i = 0; i < 3; i++) seal(a);
  const r = encodePacket({ network: 0, sender: 1, receiver: 2 }, DATA, a, 0);
  assertEquals(r.ok ? "ok" : r.reason, "no_session"); // volume exhausted: not current any more
  const t = established(limits);
  assert(t.sa.needsRekey(1500, limits));
  const p = seal(t.a, DATA, 1500);
  assertEquals(open(t.b, p, 2000), "no_session"); // expired on the receiver
  t.b.sweep(2000);
  assertEquals(t.b.byKey(t.idb), undefined);
});

Deno.test("sealer: relayed packets carry a hop tag the supernode checks; the receiver ignores it", () => {
  const { a, b } = established();
  // A supernode session for node a, as a handshake would leave it.
  const kn = keyOf(suite, 1), ksn = keyOf(suite, 0x53);
  const sn = new SecureSealer({ suite, role: "supernode" });
  const ida = a.newKeyId(), idsn = sn.newKeyId();
  const w = writeInit(
    suite,
    { network: 0, sender: 1, receiver: 0, keyId: ida },
    kn,
    ksn.publicKey,
    new Uint8Array(32),
    keyOf(suite, 13),
    tai64n(1_700_000_000_000),
  );
  assert(w.ok);
  const r = readInit(suite, ksn, new Uint8Array(32), w.packet);
  assert(r.ok);
  const resp = writeResp(
    suite,
    r.state,
    { network: 0, sender: 0, receiver: 1, keyId: idsn },
    keyOf(suite, 14),
  );
  assert(resp.ok);
  const back = readResp(suite, w.state, resp.packet);
  assert(back.ok);
  a.install(
    new Session(suite, {
      network: 0,
      peer: 0,
      localKeyId: ida,
      remoteKeyId: idsn,
      remoteStatic: ksn.publicKey,
      initiator: true,
      secrets: back.secrets,
      now: 0,
    }),
  );
  const snS = new Session(suite, {
    network: 0,
    peer: 1,
    localKeyId: idsn,
    remoteKeyId: ida,
    remoteStatic: kn.publicKey,
    initiator: false,
    secrets: resp.secrets,
    now: 0,
  });
  snS.confirmed = true;
  sn.install(snS);
  const e = encodePacket({ network: 0, sender: 1, receiver: 2, relay: true }, DATA, a, 0);
  assert(e.ok);
  assertEquals(e.packet.length, 24 + 100 + 16 + 16);
  assertEquals(checkHeader(e.packet).ok && (e.packet[3] & 0x40), 0x40);
  const t = e.packet.slice();
  t[t.length - 1] ^= 1;
  assertEquals(open(sn, t), "bad_hop_tag");
  const noHop = e.packet.slice(0, e.packet.length - 16);
  noHop[3] &= ~0x40;
  assertEquals(open(sn, noHop), "bad_hop_tag");
  const atSn = decodePacket(e.packet.slice(), sn, 0, "");
  assert(atSn.ok && atSn.msg.kind === "data");
  assertEquals(atSn.msg.frame.length, 100);
  assert(!atSn.msg.frame.every((x) => x === 0x61), "the supernode sees ciphertext only");
  // Once: the hop trailer's counter is in the sender's session's replay window.
  assertEquals(open(sn, e.packet.slice()), "replay");
  const atB = decodePacket(e.packet.slice(), b, 0, "");
  assert(atB.ok && atB.msg.kind === "data" && atB.msg.frame.length === 100);
});

Deno.test("sealer: open never throws on random or mutated packets (fuzz)", () => {
  const { a, b } = established();
  const sn = new SecureSealer({ suite, role: "supernode" });
  const good = seal(a);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ minLength: 40, maxLength: 300 }),
        fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 200 })).map(
          ([i, v, cut]) => {
            const t = good.slice(0, Math.max(40, good.length - cut));
            t[i % t.length] = v;
            return t;
          },
        ),
      ),
      (p) => {
        b.open(p.slice(), 0, "");
        sn.open(p.slice(), 0, "");
        decodePacket(p.slice(), b, 0, "");
      },
    ),
    { seed: 0xfeed, numRuns: 500 },
  );
});
