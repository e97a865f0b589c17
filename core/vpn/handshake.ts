/**
 * The key exchange of the l2 VPN (issue 6): a Noise IKpsk1 handshake
 * (Noise Protocol Framework rev. 34, sections 5, 7.5 and 9) over X25519,
 * AES-256-GCM (or ChaCha20-Poly1305: the suite decides) and SHA-256, with the
 * packet header mixed into the transcript.
 *
 * ```
 *   initiator (knows the responder's static key rs)       responder
 *   HS_INIT 0x20   -> e, es, s, ss, psk, {payload}
 *                  <- e, ee, se, {payload}               HS_RESP 0x21
 *                  <- {reason}  (instead of HS_RESP)     HS_REJECT 0x22
 *   both: Split -> i2r key, r2i key, i2r hop key, r2i hop key
 * ```
 *
 * Transcript: h = SHA-256(PROTOCOL_NAME), ck = h, MixHash(PROLOGUE),
 * MixHash(rs); every message first MixHashes its 24-byte header with the
 * HOP_TAG flag cleared (and, for HS_RESP/HS_REJECT, the 4-byte key id of the
 * initiator it answers), so network, sender, receiver and key ids are
 * authenticated. AEAD nonce = 4 zero bytes | n (8 bytes big-endian), AAD = h.
 *
 * Forward secrecy: the session keys depend on ee and se/es with ephemeral
 * keys that are dropped after the handshake. The supernode, which relays
 * node-to-node handshakes, holds neither node's private keys and so cannot
 * derive their keys. The psk is the network secret of open mode (all zeros
 * when none); it is mixed at the end of HS_INIT so an initiator without it is
 * refused at the first message.
 *
 * Layouts (after the 24-byte header; the last 16 bytes are the last tag):
 *
 * ```
 * HS_INIT   : e (32) | encrypted s (32+16) | encrypted timestamp (12+16)
 *             [| mac1 (16) | mac2 (16): to the supernode only, cookie.ts]
 * HS_RESP   : initiator key id (4) | e (32) | encrypted payload (n+16)
 * HS_REJECT : initiator key id (4) | encrypted reason (1+16)
 * ```
 *
 * The HS_INIT payload is the initiator's TAI64N timestamp
 * (`init_timestamps.ts`, since issue 13 and protocol version 2): encrypted and
 * authenticated under es and ss, so only the static key's holder can write
 * it. The responder refuses an HS_INIT whose timestamp is not newer than the
 * last one it accepted from that key: a recorded HS_INIT replayed later
 * changes nothing.
 *
 * Every parse is total: `readInit`/`readResp`/`readReject` return a value
 * or a reason, never throw on input.
 *
 * Not done here: who may connect (members.ts), retries and rate limits
 * (secure_node.ts, secure_supernode.ts, rate_limit.ts), the table of
 * timestamps (init_timestamps.ts), mac1/mac2 and cookies (cookie.ts).
 *
 * @module
 */
import { Flag, HEADER_LENGTH, TAG_LENGTH } from "./constants.ts";
import { concat, type CryptoSuite, noiseHkdf } from "./crypto_suite.ts";
import { checkHeader, emitHeader, HDR } from "./header.ts";
import { TIMESTAMP_LENGTH } from "./init_timestamps.ts";

/** Security message types (header octet 2), all in the 0x20..0x2f block. */
export const SecType = {
  HS_INIT: 0x20,
  HS_RESP: 0x21,
  HS_REJECT: 0x22,
  PEER_KEY_REQUEST: 0x23,
  PEER_KEY: 0x24,
  REVOKE: 0x25,
  // 0x26: reserved (GROUP_KEY until 2026-11, retired): parsed as unknown_type.
  /** Supernode -> node under load: a cookie for mac2 (cookie.ts). */
  COOKIE_REPLY: 0x2a,
} as const;

/** The Noise protocol name hashed into h. */
export const PROTOCOL_NAME = "Noise_IKpsk1_25519_AESGCM_SHA256";
/** Prologue: binds the transcript to this protocol and version. */
export const PROLOGUE = new TextEncoder().encode("l2 vpn v1");

/** Key and public key length (X25519). */
export const KEY_LENGTH = 32;
/** HS_INIT body before its payload: e and encrypted s. */
const INIT_FIXED = KEY_LENGTH + KEY_LENGTH + TAG_LENGTH;
/** Largest handshake payload accepted. */
export const MAX_PAYLOAD = 64;
/** Bytes of an HS_INIT without macs (header, e, s, timestamp): 132. */
export const INIT_LENGTH = HEADER_LENGTH + INIT_FIXED + TIMESTAMP_LENGTH + TAG_LENGTH;

/** Why a refusal was sent (HS_REJECT reason octet). */
export const RejectCode = {
  NOT_MEMBER: 1,
  ID_BOUND: 2,
  BAD_ID: 3,
  REVOKED: 4,
  NOT_VOUCHED: 5,
  BUSY: 6,
} as const;

/** Names of the reject codes, index = code. */
export type RejectReason =
  | "not_member"
  | "id_bound"
  | "bad_id"
  | "revoked"
  | "not_vouched"
  | "busy";

/** RejectReason by code. */
export const REJECT_NAMES: readonly (RejectReason | undefined)[] = [
  undefined,
  "not_member",
  "id_bound",
  "bad_id",
  "revoked",
  "not_vouched",
  "busy",
];

/** What each refusal means, for the log lines on both sides. */
export const REJECT_TEXT: Record<RejectReason, string> = {
  not_member: "the public key is not a member of this network",
  id_bound: "the node id belongs to another public key",
  bad_id: "node ids are 1..65534",
  revoked: "the public key was removed from the network",
  not_vouched: "the supernode does not vouch for this peer's public key",
  busy: "too many sessions",
};

/** Why a handshake message is not usable. */
export type HandshakeReason =
  | "truncated"
  | "bad_header"
  | "bad_type"
  | "bad_length"
  | "bad_static"
  | "bad_secret"
  | "bad_dh"
  | "bad_tag"
  | "bad_reason";

/** Noise's SymmetricState (section 5.2) with a cipher key and nonce. */
class Symmetric {
  ck: Uint8Array;
  h: Uint8Array;
  k: Uint8Array | null = null;
  n = 0;

  constructor(readonly suite: CryptoSuite, ck: Uint8Array, h: Uint8Array) {
    this.ck = ck;
    this.h = h;
  }

  static init(suite: CryptoSuite): Symmetric {
    const h = suite.sha256(new TextEncoder().encode(PROTOCOL_NAME));
    const s = new Symmetric(suite, h.slice(), h.slice());
    s.mixHash(PROLOGUE);
    return s;
  }

  clone(): Symmetric {
    const s = new Symmetric(this.suite, this.ck.slice(), this.h.slice());
    s.k = this.k?.slice() ?? null;
    s.n = this.n;
    return s;
  }

  mixHash(data: Uint8Array): void {
    this.h = this.suite.sha256(concat(this.h, data));
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = noiseHkdf(this.suite, this.ck, ikm, 2);
    this.ck = ck;
    this.k = k;
    this.n = 0;
  }

  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, th, k] = noiseHkdf(this.suite, this.ck, ikm, 3);
    this.ck = ck;
    this.mixHash(th);
    this.k = k;
    this.n = 0;
  }

  private nonce(): Uint8Array {
    const n = new Uint8Array(12);
    new DataView(n.buffer).setUint32(8, this.n >>> 0);
    new DataView(n.buffer).setUint32(4, Math.floor(this.n / 0x1_0000_0000));
    return n;
  }

  /** Encrypts `buf[off, off+len)` in place (tag after it), MixHash of the ciphertext. */
  encryptAndHash(buf: Uint8Array, off: number, len: number): void {
    if (this.k === null) throw new Error("Cannot encrypt: no handshake key yet");
    const a = this.suite.aead(this.k);
    try {
      a.seal(this.nonce(), this.h, buf, off, len);
    } finally {
      a.close();
    }
    this.n++;
    this.mixHash(buf.subarray(off, off + len + TAG_LENGTH));
  }

  /** Decrypts `buf[off, off+len+16)` in place; MixHash of the ciphertext. False on a bad tag. */
  decryptAndHash(buf: Uint8Array, off: number, len: number): boolean {
    if (this.k === null) return false;
    const ct = buf.slice(off, off + len + TAG_LENGTH);
    const a = this.suite.aead(this.k);
    let ok: boolean;
    try {
      ok = a.open(this.nonce(), this.h, buf, off, len + TAG_LENGTH);
    } finally {
      a.close();
    }
    if (!ok) return false;
    this.n++;
    this.mixHash(ct);
    return true;
  }
}

/** Keys of an established session, as seen by one side. */
export interface SessionSecrets {
  /** Key for packets this side sends. */
  send: Uint8Array;
  /** Key for packets this side receives. */
  recv: Uint8Array;
  /** Key for hop tags this side writes (node -> supernode relays, supernode vouches). */
  hopSend: Uint8Array;
  /** Key for hop tags this side checks. */
  hopRecv: Uint8Array;
  /** Final transcript hash (channel binding, tests). */
  transcript: Uint8Array;
}

/** Addressing of a handshake packet (header fields). */
export interface HsAddress {
  network: number;
  sender: number;
  receiver: number;
  /** The key id the writer will receive under (goes in the header). */
  keyId: number;
}

/** Long-term key pair. */
export interface StaticKey {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** State the initiator keeps between HS_INIT and the answer. */
export interface InitiatorState {
  sym: Symmetric;
  e: StaticKey;
  s: StaticKey;
  rs: Uint8Array;
  keyId: number;
}

/** State the responder has after reading HS_INIT. */
export interface ResponderState {
  sym: Symmetric;
  /** The initiator's static public key, decrypted from HS_INIT. */
  remoteStatic: Uint8Array;
  /** The initiator's ephemeral public key. */
  remoteEphemeral: Uint8Array;
  /** The initiator's key id (header of HS_INIT). */
  initiatorKeyId: number;
  /** Header fields of HS_INIT. */
  network: number;
  sender: number;
  receiver: number;
  /** Decrypted payload of HS_INIT: the initiator's TAI64N timestamp (12 bytes). */
  timestamp: Uint8Array;
}

function hashedHeader(packet: Uint8Array): Uint8Array {
  const h = packet.slice(0, HEADER_LENGTH);
  h[HDR.FLAGS] &= ~Flag.HOP_TAG;
  return h;
}

function dh(suite: CryptoSuite, priv: Uint8Array, pub: Uint8Array): Uint8Array | null {
  return suite.x25519(priv, pub);
}

function header(type: number, a: HsAddress, packet: Uint8Array): void {
  emitHeader({ type, flags: Flag.HANDSHAKE, ...a, counter: 0 }, packet);
}

/**
 * Writes HS_INIT (without macs). `ephemeral` is fresh per handshake (tests
 * pass fixed keys to pin a transcript); `timestamp` is the TAI64N of the
 * initiator's wall clock, newer than any it sent before (`InitClock`).
 * Returns the packet and the state for the answer.
 */
export function writeInit(
  suite: CryptoSuite,
  a: HsAddress,
  s: StaticKey,
  rs: Uint8Array,
  psk: Uint8Array,
  ephemeral: StaticKey,
  timestamp: Uint8Array,
): { ok: true; packet: Uint8Array; state: InitiatorState } | { ok: false; reason: "bad_dh" } {
  if (timestamp.length !== TIMESTAMP_LENGTH) {
    throw new RangeError(`Cannot write HS_INIT: timestamp of ${timestamp.length} bytes`);
  }
  const payload = timestamp;
  const sym = Symmetric.init(suite);
  sym.mixHash(rs);
  const packet = new Uint8Array(INIT_LENGTH);
  header(SecType.HS_INIT, a, packet);
  sym.mixHash(hashedHeader(packet));
  let o = HEADER_LENGTH;
  packet.set(ephemeral.publicKey, o);
  sym.mixHash(ephemeral.publicKey);
  const es = dh(suite, ephemeral.privateKey, rs);
  if (es === null) return { ok: false, reason: "bad_dh" };
  sym.mixKey(es);
  o += KEY_LENGTH;
  packet.set(s.publicKey, o);
  sym.encryptAndHash(packet, o, KEY_LENGTH);
  o += KEY_LENGTH + TAG_LENGTH;
  const ss = dh(suite, s.privateKey, rs);
  if (ss === null) return { ok: false, reason: "bad_dh" };
  sym.mixKey(ss);
  sym.mixKeyAndHash(psk);
  packet.set(payload, o);
  sym.encryptAndHash(packet, o, payload.length);
  return { ok: true, packet, state: { sym, e: ephemeral, s, rs, keyId: a.keyId } };
}

/**
 * Reads HS_INIT (without macs or any relay trailer: exactly `INIT_LENGTH`
 * bytes). First step: decrypt the initiator's static key (fails `bad_static`
 * when the initiator used another responder key); then the timestamp
 * (`bad_secret` when the network secret differs). The caller decides whether
 * the static key may connect and whether the timestamp is new.
 */
export function readInit(
  suite: CryptoSuite,
  local: StaticKey,
  psk: Uint8Array,
  packet: Uint8Array,
):
  | { ok: true; state: ResponderState; remoteStatic: Uint8Array }
  | { ok: false; reason: HandshakeReason; remoteStatic?: Uint8Array } {
  const hd = checkHeader(packet);
  if (!hd.ok) return { ok: false, reason: hd.reason === "truncated" ? "truncated" : "bad_header" };
  if (hd.value.type !== SecType.HS_INIT) return { ok: false, reason: "bad_type" };
  if (packet.length !== INIT_LENGTH) return { ok: false, reason: "bad_length" };
  const plen = TIMESTAMP_LENGTH;
  const p = packet.slice();
  const sym = Symmetric.init(suite);
  sym.mixHash(local.publicKey);
  sym.mixHash(hashedHeader(p));
  let o = HEADER_LENGTH;
  const re = p.slice(o, o + KEY_LENGTH);
  sym.mixHash(re);
  const es = dh(suite, local.privateKey, re);
  if (es === null) return { ok: false, reason: "bad_dh" };
  sym.mixKey(es);
  o += KEY_LENGTH;
  if (!sym.decryptAndHash(p, o, KEY_LENGTH)) return { ok: false, reason: "bad_static" };
  const rs = p.slice(o, o + KEY_LENGTH);
  o += KEY_LENGTH + TAG_LENGTH;
  const ss = dh(suite, local.privateKey, rs);
  if (ss === null) return { ok: false, reason: "bad_dh", remoteStatic: rs };
  sym.mixKey(ss);
  sym.mixKeyAndHash(psk);
  if (!sym.decryptAndHash(p, o, plen)) {
    return { ok: false, reason: "bad_secret", remoteStatic: rs };
  }
  const h = hd.value;
  return {
    ok: true,
    remoteStatic: rs,
    state: {
      sym,
      remoteStatic: rs,
      remoteEphemeral: re,
      initiatorKeyId: h.keyId,
      network: h.network,
      sender: h.sender,
      receiver: h.receiver,
      timestamp: p.slice(o, o + plen),
    },
  };
}

function split(sym: Symmetric, initiator: boolean): SessionSecrets {
  const [i2r, r2i, hi2r, hr2i] = noiseHkdf(sym.suite, sym.ck, new Uint8Array(0), 4);
  return initiator
    ? { send: i2r, recv: r2i, hopSend: hi2r, hopRecv: hr2i, transcript: sym.h }
    : { send: r2i, recv: i2r, hopSend: hr2i, hopRecv: hi2r, transcript: sym.h };
}

/** Writes HS_RESP for a read HS_INIT; returns the packet and the responder's session keys. */
export function writeResp(
  suite: CryptoSuite,
  st: ResponderState,
  a: HsAddress,
  ephemeral: StaticKey,
  payload: Uint8Array = new Uint8Array(0),
): { ok: true; packet: Uint8Array; secrets: SessionSecrets } | { ok: false; reason: "bad_dh" } {
  const sym = st.sym.clone();
  const packet = new Uint8Array(HEADER_LENGTH + 4 + KEY_LENGTH + payload.length + TAG_LENGTH);
  header(SecType.HS_RESP, a, packet);
  new DataView(packet.buffer).setUint32(HEADER_LENGTH, st.initiatorKeyId);
  sym.mixHash(concat(hashedHeader(packet), packet.subarray(HEADER_LENGTH, HEADER_LENGTH + 4)));
  let o = HEADER_LENGTH + 4;
  packet.set(ephemeral.publicKey, o);
  sym.mixHash(ephemeral.publicKey);
  const ee = dh(suite, ephemeral.privateKey, st.remoteEphemeral);
  const se = dh(suite, ephemeral.privateKey, st.remoteStatic);
  if (ee === null || se === null) return { ok: false, reason: "bad_dh" };
  sym.mixKey(ee);
  sym.mixKey(se);
  o += KEY_LENGTH;
  packet.set(payload, o);
  sym.encryptAndHash(packet, o, payload.length);
  return { ok: true, packet, secrets: split(sym, false) };
}

/** Writes HS_REJECT: a refusal the initiator can authenticate (it knows the same keys). */
export function writeReject(
  st: ResponderState,
  a: HsAddress,
  code: number,
): Uint8Array {
  const sym = st.sym.clone();
  const packet = new Uint8Array(HEADER_LENGTH + 4 + 1 + TAG_LENGTH);
  header(SecType.HS_REJECT, a, packet);
  new DataView(packet.buffer).setUint32(HEADER_LENGTH, st.initiatorKeyId);
  sym.mixHash(concat(hashedHeader(packet), packet.subarray(HEADER_LENGTH, HEADER_LENGTH + 4)));
  packet[HEADER_LENGTH + 4] = code;
  sym.encryptAndHash(packet, HEADER_LENGTH + 4, 1);
  return packet;
}

/** The initiator key id an HS_RESP/HS_REJECT answers, or -1 when too short. */
export function answeredKeyId(packet: Uint8Array): number {
  if (packet.length < HEADER_LENGTH + 4 + TAG_LENGTH) return -1;
  return new DataView(packet.buffer, packet.byteOffset, packet.byteLength).getUint32(
    HEADER_LENGTH,
  );
}

/** Reads HS_RESP with the initiator's state: the session keys and payload, or a reason. */
export function readResp(
  suite: CryptoSuite,
  st: InitiatorState,
  packet: Uint8Array,
):
  | { ok: true; secrets: SessionSecrets; payload: Uint8Array; keyId: number }
  | { ok: false; reason: HandshakeReason } {
  const hd = checkHeader(packet);
  if (!hd.ok) return { ok: false, reason: hd.reason === "truncated" ? "truncated" : "bad_header" };
  if (hd.value.type !== SecType.HS_RESP) return { ok: false, reason: "bad_type" };
  const plen = packet.length - HEADER_LENGTH - 4 - KEY_LENGTH - TAG_LENGTH;
  if (plen < 0 || plen > MAX_PAYLOAD) return { ok: false, reason: "bad_length" };
  const p = packet.slice();
  const sym = st.sym.clone();
  sym.mixHash(concat(hashedHeader(p), p.subarray(HEADER_LENGTH, HEADER_LENGTH + 4)));
  let o = HEADER_LENGTH + 4;
  const re = p.slice(o, o + KEY_LENGTH);
  sym.mixHash(re);
  const ee = dh(suite, st.e.privateKey, re);
  const se = dh(suite, st.s.privateKey, re);
  if (ee === null || se === null) return { ok: false, reason: "bad_dh" };
  sym.mixKey(ee);
  sym.mixKey(se);
  o += KEY_LENGTH;
  if (!sym.decryptAndHash(p, o, plen)) return { ok: false, reason: "bad_tag" };
  return {
    ok: true,
    secrets: split(sym, true),
    payload: p.slice(o, o + plen),
    keyId: hd.value.keyId,
  };
}

/** Reads HS_REJECT with the initiator's state: the authenticated reason, or why not. */
export function readReject(
  st: InitiatorState,
  packet: Uint8Array,
): { ok: true; reason: RejectReason } | { ok: false; reason: HandshakeReason } {
  const hd = checkHeader(packet);
  if (!hd.ok) return { ok: false, reason: hd.reason === "truncated" ? "truncated" : "bad_header" };
  if (hd.value.type !== SecType.HS_REJECT) return { ok: false, reason: "bad_type" };
  if (packet.length !== HEADER_LENGTH + 4 + 1 + TAG_LENGTH) {
    return { ok: false, reason: "bad_length" };
  }
  const p = packet.slice();
  const sym = st.sym.clone();
  sym.mixHash(concat(hashedHeader(p), p.subarray(HEADER_LENGTH, HEADER_LENGTH + 4)));
  if (!sym.decryptAndHash(p, HEADER_LENGTH + 4, 1)) return { ok: false, reason: "bad_tag" };
  const r = REJECT_NAMES[p[HEADER_LENGTH + 4]];
  return r === undefined ? { ok: false, reason: "bad_reason" } : { ok: true, reason: r };
}
