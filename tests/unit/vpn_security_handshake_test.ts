/**
 * The handshake (core/vpn/handshake.ts): a transcript with fixed keys pinned
 * byte for byte, every derived value cross-checked against an independent
 * implementation of Noise IKpsk1 in this file (WebCrypto X25519, SHA-256 and
 * HMAC, @noble/ciphers AES-256-GCM), refusals, wrong keys and secrets, and
 * fuzzing of every parser.
 */
import fc from "fast-check";
import { gcm } from "@noble/ciphers/aes.js";
import { assert, assertEquals } from "../assert.ts";
import { concat, hex } from "../../core/vpn/crypto_suite.ts";
import {
  answeredKeyId,
  PROLOGUE,
  PROTOCOL_NAME,
  readInit,
  readReject,
  readResp,
  RejectCode,
  writeInit,
  writeReject,
  writeResp,
} from "../../core/vpn/handshake.ts";
import {
  addHopTag,
  addVouch,
  checkHopTag,
  checkVouch,
  MAX_ROSTER,
  parseSecBody,
  rosterDigest,
  secBody,
} from "../../core/vpn/sec_messages.ts";
import { ffiCryptoSuite } from "../../cmd/vpn_crypto.ts";
import { ReplayWindow } from "../../core/replay.ts";
import { tai64n } from "../../core/vpn/init_timestamps.ts";
import type { StaticKey } from "../../core/vpn/handshake.ts";

const suite = ffiCryptoSuite();

type Bytes = Uint8Array<ArrayBuffer>;

function unhex(s: string): Bytes {
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function key(privHex: string): StaticKey {
  const privateKey = unhex(privHex);
  return { privateKey, publicKey: suite.x25519Public(privateKey) };
}

// RFC 7748 section 6.1 keys as statics; fixed ephemerals.
const I_S = key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
const R_S = key("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
const I_E = key("1111111111111111111111111111111111111111111111111111111111111111");
const R_E = key("2222222222222222222222222222222222222222222222222222222222222222");
const PSK = new Uint8Array(32).fill(0x5a);
const INIT_ADDR = { network: 7, sender: 3, receiver: 0, keyId: 0x01020304 };
const RESP_ADDR = { network: 7, sender: 0, receiver: 3, keyId: 0x0a0b0c0d };
const RESP_PAYLOAD = new Uint8Array(36).fill(0x42);
// TAI64N of 2023-11-14 22:13:20.123 UTC: 2^62 + 10 + 1700000000 s, 123 000 000 ns.
const TS_HEX = "400000006553f10a0754d4c0";
const TS = tai64n(1_700_000_000_123);

// Pinned once from this implementation and checked against the independent one below.
const PINNED_INIT =
  "4c02208000070003000000000102030400000000000000007b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13215abcb318309edbb2d90a36d5bfd3a82f93b115469387a3c2ac7d8dcd5ec2561b1032b0aed2b1de91a677094f5f04a589790df43ab08b506a2d3814120bb1f7fc4b39559f8e3c1baa195079";
const PINNED_TRANSCRIPT = "6840ad57bdeaf236e3fe34dc2ea9ade3800fd3d80085887e482689197487a04b";

// ------------------------------------------------------------ reference

async function sha(b: Bytes): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", b));
}
async function hmac(k: Bytes, d: Bytes): Promise<Bytes> {
  const ck = await crypto.subtle.importKey(
    "raw",
    k.length === 0 ? new Uint8Array(32) : k,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", ck, d));
}
async function dh(priv: Uint8Array, pub: Uint8Array): Promise<Bytes> {
  const pkcs8 = concat(unhex("302e020100300506032b656e04220420"), priv);
  const k = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, false, [
    "deriveBits",
  ]);
  const p = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(pub),
    { name: "X25519" },
    false,
    [],
  );
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: "X25519", public: p } as never, k, 256),
  );
}
async function hkdf(ck: Bytes, ikm: Bytes, n: number): Promise<Bytes[]> {
  const t = await hmac(ck, ikm);
  const out: Bytes[] = [];
  let prev: Bytes = new Uint8Array(0);
  for (let i = 1; i <= n; i++) {
    prev = await hmac(t, concat(prev, new Uint8Array([i])));
    out.push(prev);
  }
  return out;
}
function nonce(n: number): Bytes {
  const b = new Uint8Array(12);
  new DataView(b.buffer).setUint32(8, n);
  return b;
}

/** Reference Noise IKpsk1 with header mixing: the expected messages and keys. */
async function reference() {
  let h = await sha(new TextEncoder().encode(PROTOCOL_NAME));
  let ck = h.slice();
  const mixHash = async (d: Uint8Array) => {
    d = new Uint8Array(d);
    h = await sha(concat(h, d));
  };
  let k: Bytes = new Uint8Array(0);
  let n = 0;
  const mixKey = async (ikm: Bytes) => {
    [ck, k] = await hkdf(ck, ikm, 2);
    n = 0;
  };
  const enc = async (p: Uint8Array) => {
    const c = gcm(k, nonce(n++), h).encrypt(p);
    await mixHash(c);
    return c;
  };
  await mixHash(PROLOGUE);
  await mixHash(R_S.publicKey);
  const hdr1 = unhex(PINNED_INIT.slice(0, 48));
  await mixHash(hdr1);
  await mixHash(I_E.publicKey);
  await mixKey(await dh(I_E.privateKey, R_S.publicKey));
  const encS = await enc(I_S.publicKey);
  await mixKey(await dh(I_S.privateKey, R_S.publicKey));
  const [ck2, th, k2] = await hkdf(ck, new Uint8Array(PSK), 3);
  ck = ck2;
  await mixHash(th);
  k = k2;
  n = 0;
  const encP = await enc(unhex(TS_HEX));
  const init = concat(hdr1, I_E.publicKey, encS, encP);
  const afterInit = { h: h.slice(), ck: ck.slice(), k: k.slice(), n };
  // HS_RESP
  const hdr2 = new Uint8Array(28);
  hdr2.set([0x4c, 2, 0x21, 0x80, 0, 7, 0, 0, 0, 3, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d]);
  hdr2.set([1, 2, 3, 4], 24);
  await mixHash(hdr2);
  await mixHash(R_E.publicKey);
  await mixKey(await dh(R_E.privateKey, I_E.publicKey));
  await mixKey(await dh(R_E.privateKey, I_S.publicKey));
  const encR = await enc(RESP_PAYLOAD);
  const resp = concat(hdr2, R_E.publicKey, encR);
  const [i2r, r2i, hi2r, hr2i] = await hkdf(ck, new Uint8Array(0), 4);
  return { init, resp, i2r, r2i, hi2r, hr2i, h, afterInit };
}

// ------------------------------------------------------------ tests

function runHandshake() {
  const w = writeInit(suite, INIT_ADDR, I_S, R_S.publicKey, PSK, I_E, TS);
  if (!w.ok) throw new Error("writeInit");
  const r = readInit(suite, R_S, PSK, w.packet);
  if (!r.ok) throw new Error(`readInit ${r.reason}`);
  const resp = writeResp(suite, r.state, RESP_ADDR, R_E, RESP_PAYLOAD);
  if (!resp.ok) throw new Error("writeResp");
  const back = readResp(suite, w.state, resp.packet);
  if (!back.ok) throw new Error(`readResp ${back.reason}`);
  return { w, r, resp, back };
}

Deno.test("handshake: fixed keys give the pinned HS_INIT, and every byte and key equals an independent Noise IKpsk1", async () => {
  const { w, r, resp, back } = runHandshake();
  const ref = await reference();
  assertEquals(hex(w.packet), hex(ref.init));
  if (Deno.env.get("PRINT_PIN")) console.log(hex(w.packet), hex(ref.h));
  assertEquals(hex(w.packet), PINNED_INIT);
  assertEquals(hex(resp.packet), hex(ref.resp));
  assertEquals(hex(back.secrets.send), hex(ref.i2r));
  assertEquals(hex(back.secrets.recv), hex(ref.r2i));
  assertEquals(hex(back.secrets.hopSend), hex(ref.hi2r));
  assertEquals(hex(back.secrets.hopRecv), hex(ref.hr2i));
  assertEquals(hex(resp.secrets.recv), hex(ref.i2r));
  assertEquals(hex(resp.secrets.send), hex(ref.r2i));
  assertEquals(hex(back.secrets.transcript), hex(ref.h));
  assertEquals(hex(resp.secrets.transcript), hex(ref.h));
  assertEquals(hex(ref.h), PINNED_TRANSCRIPT);
  assertEquals(hex(r.remoteStatic), hex(I_S.publicKey));
  assertEquals(hex(TS), TS_HEX);
  assertEquals(hex(r.state.timestamp), TS_HEX);
  assertEquals(hex(back.payload), hex(RESP_PAYLOAD));
  assertEquals(back.keyId, RESP_ADDR.keyId);
  assertEquals(answeredKeyId(resp.packet), INIT_ADDR.keyId);
});

Deno.test("handshake: fresh ephemerals give fresh keys (forward secrecy needs them)", () => {
  const a = runHandshake();
  const e2 = key("3333333333333333333333333333333333333333333333333333333333333333");
  const w = writeInit(suite, INIT_ADDR, I_S, R_S.publicKey, PSK, e2, TS);
  assert(w.ok);
  const r = readInit(suite, R_S, PSK, w.packet);
  assert(r.ok);
  const resp = writeResp(suite, r.state, RESP_ADDR, R_E);
  assert(resp.ok);
  assert(hex(resp.secrets.send) !== hex(a.resp.secrets.send));
});

Deno.test("handshake: wrong responder key, wrong secret, tampering and truncation are refused with a reason", () => {
  const w = writeInit(suite, INIT_ADDR, I_S, R_S.publicKey, PSK, I_E, TS);
  assert(w.ok);
  const other = key("4444444444444444444444444444444444444444444444444444444444444444");
  const r1 = readInit(suite, other, PSK, w.packet);
  assertEquals(r1.ok ? "ok" : r1.reason, "bad_static");
  const r2 = readInit(suite, R_S, new Uint8Array(32), w.packet);
  assertEquals(r2.ok ? "ok" : r2.reason, "bad_secret");
  for (let i = 0; i < w.packet.length; i++) {
    const t = w.packet.slice();
    t[i] ^= 0x01;
    const r = readInit(suite, R_S, PSK, t);
    assert(!r.ok, `flipped byte ${i} accepted`);
  }
  const short = readInit(suite, R_S, PSK, w.packet.subarray(0, w.packet.length - 1));
  assert(!short.ok);
  // HS_RESP tampered
  const { r } = runHandshake();
  const resp = writeResp(suite, r.state, RESP_ADDR, R_E);
  assert(resp.ok);
  const t = resp.packet.slice();
  t[t.length - 1] ^= 0x80;
  const back = readResp(suite, w.state, t);
  assertEquals(back.ok ? "ok" : back.reason, "bad_tag");
});

Deno.test("handshake: HS_REJECT is authenticated to the initiator and names the reason", () => {
  const w = writeInit(suite, INIT_ADDR, I_S, R_S.publicKey, PSK, I_E, TS);
  assert(w.ok);
  const r = readInit(suite, R_S, PSK, w.packet);
  assert(r.ok);
  const rej = writeReject(r.state, RESP_ADDR, RejectCode.NOT_MEMBER);
  const got = readReject(w.state, rej);
  assertEquals(got.ok ? got.reason : got.reason, "not_member");
  const forged = rej.slice();
  forged[28] ^= 0x02; // the encrypted reason
  const f = readReject(w.state, forged);
  assertEquals(f.ok ? "accepted" : f.reason, "bad_tag");
});

Deno.test("handshake: low-order public keys fail as bad_dh, never throw", () => {
  const zero = new Uint8Array(32);
  const w = writeInit(suite, INIT_ADDR, I_S, zero, PSK, I_E, TS);
  assertEquals(w.ok ? "ok" : w.reason, "bad_dh");
  const good = writeInit(suite, INIT_ADDR, I_S, R_S.publicKey, PSK, I_E, TS);
  assert(good.ok);
  const p = good.packet.slice();
  p.fill(0, 24, 56); // e = 0
  const r = readInit(suite, R_S, PSK, p);
  assertEquals(r.ok ? "ok" : r.reason, "bad_dh");
});

Deno.test("handshake parsers: random and mutated packets never throw (fuzz)", () => {
  const { w, resp } = runHandshake();
  const rej = (() => {
    const r = readInit(suite, R_S, PSK, w.packet);
    if (!r.ok) throw new Error();
    return writeReject(r.state, RESP_ADDR, 1);
  })();
  const valid = [w.packet, resp.packet, rej];
  const mutated = fc.tuple(
    fc.constantFrom(...valid),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.integer({ min: -8, max: 8 }),
  ).map(([p, flips, cut]) => {
    const b = new Uint8Array(Math.max(0, p.length + cut));
    b.set(p.subarray(0, Math.min(p.length, b.length)));
    for (const [i, v] of flips) if (b.length > 0) b[i % b.length] = v;
    return b;
  });
  const anyBytes = fc.uint8Array({ maxLength: 200 });
  const zeroKey = suite.aead(new Uint8Array(32));
  const zeroHop = { hopTx: zeroKey, hopRx: zeroKey, txCounter: 0, window: new ReplayWindow() };
  fc.assert(
    fc.property(fc.oneof(mutated, anyBytes), (b) => {
      readInit(suite, R_S, PSK, b);
      readResp(suite, w.state, b);
      readReject(w.state, b);
      answeredKeyId(b);
      checkHopTag(zeroHop, (x, y) => suite.equal(x, y), b);
      checkVouch(zeroHop, b);
      for (let t = 0x20; t <= 0x2f; t++) parseSecBody(t, b);
    }),
    { seed: 0x5ec, numRuns: 400 },
  );
});

Deno.test("security bodies: emit/parse round trip; wrong lengths refused", () => {
  const k = new Uint8Array(32).fill(9);
  const msgs = [
    { kind: "peer_key_request", peer: 513 },
    { kind: "peer_key", peer: 7, known: true, publicKey: k },
    { kind: "revoke", node: 9, publicKey: k },
    { kind: "session_confirm" },
    { kind: "roster_request", digest: 0xfedcba98 },
    { kind: "roster", digest: 0x01020304, ids: [1, 2, 0xfffe] },
    { kind: "roster", digest: 7, ids: [] },
  ] as const;
  const types = [0x23, 0x24, 0x25, 0x27, 0x28, 0x29, 0x29];
  msgs.forEach((m, i) => {
    const b = secBody(m);
    const p = parseSecBody(types[i], b);
    assert(p.ok);
    assertEquals(JSON.stringify(p.value), JSON.stringify(m));
    const longer = parseSecBody(types[i], concat(b, new Uint8Array(1)));
    assertEquals(longer.ok ? "ok" : longer.reason, "bad_length");
  });
  assertEquals(parseSecBody(0x2f, new Uint8Array(0)).ok, false);
  // 0x26 (GROUP_KEY, retired) is not understood any more.
  assertEquals(parseSecBody(0x26, new Uint8Array(36)).ok, false);
  // A roster whose count disagrees with its length, or over MAX_ROSTER, is refused.
  const r = secBody({ kind: "roster", digest: 1, ids: [5, 6] });
  assertEquals(parseSecBody(0x29, r.subarray(0, r.length - 2)).ok, false);
  const big = new Uint8Array(6 + 2 * (MAX_ROSTER + 1));
  big[4] = (MAX_ROSTER + 1) >> 8;
  big[5] = (MAX_ROSTER + 1) & 0xff;
  assertEquals(parseSecBody(0x29, big).ok, false);
  // The digest does not depend on order and tells lists apart.
  assertEquals(rosterDigest([3, 1, 2]), rosterDigest([1, 2, 3]));
  assert(rosterDigest([1, 2, 3]) !== rosterDigest([1, 2]));
  assert(rosterDigest([0x102]) !== rosterDigest([0x201]));
});

Deno.test("ROSTER round-trips any list of ids up to MAX_ROSTER (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: MAX_ROSTER }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      (ids, digest) => {
        const p = parseSecBody(0x29, secBody({ kind: "roster", digest, ids }));
        assert(p.ok && p.value.kind === "roster");
        assertEquals([p.value.digest, [...p.value.ids]], [digest, ids]);
      },
    ),
    { seed: 0x2057, numRuns: 200 },
  );
});

Deno.test("hop trailers and vouches verify with the right hop key only, over every byte, once", () => {
  const inner = new Uint8Array(60).fill(3);
  inner[0] = 0x4c;
  const hop = (k: number) => ({
    hopTx: suite.aead(new Uint8Array(32).fill(k)),
    hopRx: suite.aead(new Uint8Array(32).fill(k)),
    txCounter: 0,
    window: new ReplayWindow(),
  });
  const eq = (a: Uint8Array, b: Uint8Array) => suite.equal(a, b);
  // Vouch: counter (8) | sealed key (32 + 16); the key is not in clear.
  const sn = hop(1);
  sn.txCounter = 5;
  const v = addVouch(sn, inner, I_S.publicKey);
  assert(v !== null);
  assertEquals(v.length, inner.length + 56);
  assertEquals(hex(v.subarray(60, 68)), "0000000000000005");
  assertEquals(sn.txCounter, 6);
  assert(!hex(v).includes(hex(I_S.publicKey)), "the vouched key travels encrypted");
  for (let i = 0; i < v.length; i++) {
    const t = v.slice();
    t[i] ^= 0x10;
    assertEquals(checkVouch(hop(1), t), "bad_tag", `byte ${i} flipped`);
  }
  assertEquals(checkVouch(hop(2), v), "bad_tag");
  const node = hop(1);
  const ok = checkVouch(node, v);
  assert(typeof ok !== "string");
  assertEquals(hex(ok.vouched), hex(I_S.publicKey));
  const flagged = inner.slice();
  flagged[3] |= 0x40;
  assertEquals(hex(ok.inner), hex(flagged));
  assertEquals(checkVouch(node, v), "replay", "a vouch opens once");
  // Hop trailer: counter low 32 bits (4) | tag (12); nonces are the counter.
  const a = hop(3);
  const h = addHopTag(a, inner);
  assert(h !== null);
  assertEquals(h.length, inner.length + 16);
  assertEquals(hex(h.subarray(60, 64)), "00000000");
  assertEquals(checkHopTag(hop(4), eq, h), "bad_tag");
  const t = h.slice();
  t[10] ^= 1;
  const sup = hop(3);
  assertEquals(checkHopTag(sup, eq, t), "bad_tag");
  assert(checkHopTag(sup, eq, h) instanceof Uint8Array);
  assertEquals(checkHopTag(sup, eq, h), "replay");
  // The same bytes again get the next counter and another tag.
  const h2 = addHopTag(a, inner);
  assert(h2 !== null);
  assertEquals(hex(h2.subarray(60, 64)), "00000001");
  assert(hex(h2.subarray(64)) !== hex(h.subarray(64)));
  assert(checkHopTag(sup, eq, h2) instanceof Uint8Array);
});
