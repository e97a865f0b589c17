/**
 * Bodies of the sealed security messages (issue 6) and the hop-tag and
 * vouch trailers of relayed handshakes. Handshake bodies are in
 * `handshake.ts`.
 *
 * Sealed with the node's supernode session (types 0x23..0x25, 0x28, 0x29) or
 * with a node-to-node session (0x27), like any other message: header | body | tag.
 *
 * | type | direction | body |
 * |---|---|---|
 * | PEER_KEY_REQUEST 0x23 | node -> supernode | peer id (2) |
 * | PEER_KEY 0x24 | supernode -> node | peer id (2), status (1: 0 known, 1 unknown), reserved (1), public key (32) |
 * | REVOKE 0x25 | supernode -> node | node id (2), reserved (2), public key (32) |
 * | (0x26: GROUP_KEY until 2026-11; retired, refused as unknown_type) | | |
 * | SESSION_CONFIRM 0x27 | node -> node (relayed) | empty |
 * | ROSTER_REQUEST 0x28 | node -> supernode | digest of the roster the node holds (4) |
 * | ROSTER 0x29 | supernode -> node | digest (4), count (2), node ids (2 each, at most 512) |
 *
 * The roster is the list of the other nodes registered in the sender's
 * network, ascending; its digest is `rosterDigest` (FNV-1a over the ids).
 *
 * Relayed packets carry flag HOP_TAG. From the node to the supernode the
 * trailer is the sender's hop trailer (16, `writeHopTag`): the low 32 bits of
 * its supernode session's send counter and a 12-byte AEAD tag over everything
 * before it under that session's hop key, nonce = the counter. The supernode
 * checks it against the session's replay window (a replay is dropped there).
 * For relayed handshakes (HS_INIT/HS_RESP/HS_REJECT between nodes) the
 * supernode replaces it by the vouch (56, `addVouch`): its own counter for
 * the receiver's session (8) and the sender's public key sealed under the
 * hop key toward the receiver (32 + 16). Both nonces are counters of the
 * party that holds the key: no byte another node chooses enters a nonce
 * (issue 13: the old nonce, the inner packet's last tag, let a member repeat
 * it and recover the GHASH key of the receiver's hop key).
 *
 * Every parser returns a value or a reason and never throws.
 *
 * @module
 */
import { Flag, HEADER_LENGTH, HOP_TAG_RESERVE, TAG_LENGTH } from "./constants.ts";
import type { AeadKey } from "./crypto_suite.ts";
import { emitHeader, HDR } from "./header.ts";
import { KEY_LENGTH } from "./handshake.ts";
import { put16, put32, u16, u32 } from "../wire/checked.ts";
import { type ReplayWindow, writeCounterNonce } from "../replay.ts";

/** Sealed security message types (with handshake.ts `SecType`). */
export const SealedType = {
  PEER_KEY_REQUEST: 0x23,
  PEER_KEY: 0x24,
  REVOKE: 0x25,
  SESSION_CONFIRM: 0x27,
  ROSTER_REQUEST: 0x28,
  ROSTER: 0x29,
} as const;

/** Most node ids in one ROSTER (a node fans broadcasts out to at most these). */
export const MAX_ROSTER = 512;

/** Bytes of the vouch trailer: counter (8), the sender's public key sealed (32 + 16). */
export const VOUCH_LENGTH = 8 + KEY_LENGTH + TAG_LENGTH;

/** A parsed sealed security message. */
export type SecMessage =
  | { kind: "peer_key_request"; peer: number }
  | { kind: "peer_key"; peer: number; known: boolean; publicKey: Uint8Array }
  | { kind: "revoke"; node: number; publicKey: Uint8Array }
  | { kind: "session_confirm" }
  | { kind: "roster_request"; digest: number }
  | { kind: "roster"; digest: number; ids: readonly number[] };

/** Why a security body did not parse. */
export type SecReason = "bad_length" | "unknown_type";

/** Parses the (opened) body of a sealed security message of `type`. */
export function parseSecBody(
  type: number,
  b: Uint8Array,
): { ok: true; value: SecMessage } | { ok: false; reason: SecReason } {
  const n = b.length;
  const bad = { ok: false as const, reason: "bad_length" as const };
  switch (type) {
    case SealedType.PEER_KEY_REQUEST:
      return n === 2 ? { ok: true, value: { kind: "peer_key_request", peer: u16(b, 0) } } : bad;
    case SealedType.PEER_KEY:
      if (n !== 4 + KEY_LENGTH) return bad;
      return {
        ok: true,
        value: { kind: "peer_key", peer: u16(b, 0), known: b[2] === 0, publicKey: b.slice(4) },
      };
    case SealedType.REVOKE:
      if (n !== 4 + KEY_LENGTH) return bad;
      return { ok: true, value: { kind: "revoke", node: u16(b, 0), publicKey: b.slice(4) } };
    case SealedType.SESSION_CONFIRM:
      return n === 0 ? { ok: true, value: { kind: "session_confirm" } } : bad;
    case SealedType.ROSTER_REQUEST:
      return n === 4 ? { ok: true, value: { kind: "roster_request", digest: u32(b, 0) } } : bad;
    case SealedType.ROSTER: {
      if (n < 6) return bad;
      const count = u16(b, 4);
      if (count > MAX_ROSTER || n !== 6 + 2 * count) return bad;
      const ids: number[] = [];
      for (let i = 0; i < count; i++) ids.push(u16(b, 6 + 2 * i));
      return { ok: true, value: { kind: "roster", digest: u32(b, 0), ids } };
    }
    default:
      return { ok: false, reason: "unknown_type" };
  }
}

/** Writes the body of `m`; returns the bytes. */
export function secBody(m: SecMessage): Uint8Array {
  switch (m.kind) {
    case "peer_key_request": {
      const b = new Uint8Array(2);
      put16(b, 0, m.peer);
      return b;
    }
    case "peer_key": {
      const b = new Uint8Array(4 + KEY_LENGTH);
      put16(b, 0, m.peer);
      b[2] = m.known ? 0 : 1;
      b.set(m.publicKey.subarray(0, KEY_LENGTH), 4);
      return b;
    }
    case "revoke": {
      const b = new Uint8Array(4 + KEY_LENGTH);
      put16(b, 0, m.node);
      b.set(m.publicKey.subarray(0, KEY_LENGTH), 4);
      return b;
    }
    case "session_confirm":
      return new Uint8Array(0);
    case "roster_request": {
      const b = new Uint8Array(4);
      put32(b, 0, m.digest);
      return b;
    }
    case "roster": {
      const count = Math.min(m.ids.length, MAX_ROSTER);
      const b = new Uint8Array(6 + 2 * count);
      put32(b, 0, m.digest);
      put16(b, 4, count);
      for (let i = 0; i < count; i++) put16(b, 6 + 2 * i, m.ids[i]);
      return b;
    }
  }
}

/** Type octet of a message kind. */
export function secType(m: SecMessage): number {
  switch (m.kind) {
    case "peer_key_request":
      return SealedType.PEER_KEY_REQUEST;
    case "peer_key":
      return SealedType.PEER_KEY;
    case "revoke":
      return SealedType.REVOKE;
    case "session_confirm":
      return SealedType.SESSION_CONFIRM;
    case "roster_request":
      return SealedType.ROSTER_REQUEST;
    case "roster":
      return SealedType.ROSTER;
  }
}

/**
 * An unsealed packet for `m`: header, body, room for the tag (and for a hop
 * tag when `hop`, flag HOP_TAG set). The caller seals it.
 */
export function secPacket(
  m: SecMessage,
  a: { network: number; sender: number; receiver: number },
  hop: boolean,
): Uint8Array {
  const body = secBody(m);
  const p = new Uint8Array(HEADER_LENGTH + body.length + TAG_LENGTH + (hop ? HOP_TAG_RESERVE : 0));
  emitHeader({
    type: secType(m),
    flags: hop ? Flag.HOP_TAG : 0,
    ...a,
    keyId: 0,
    counter: 0,
  }, p);
  p.set(body, HEADER_LENGTH);
  return p;
}

/** Bytes of the counter in a hop trailer: the low 32 bits of the sender's session counter. */
export const HOP_COUNTER_LENGTH = 4;
/** Bytes of the (truncated) AEAD tag in a hop trailer. */
export const HOP_MAC_LENGTH = HOP_TAG_RESERVE - HOP_COUNTER_LENGTH;
/** Bytes of the counter in a vouch trailer (the whole 64-bit counter). */
export const VOUCH_COUNTER_LENGTH = 8;

/**
 * One end of a supernode session as the hop trailers use it: the hop keys,
 * the session's send counter (hop trailers and vouches take their nonces from
 * it, so a nonce never repeats under a key) and its replay window (shared
 * with the session's sealed packets: one counter sequence per direction).
 */
export interface HopSession {
  readonly hopTx: AeadKey;
  readonly hopRx: AeadKey;
  txCounter: number;
  readonly window: ReplayWindow;
}

/**
 * The full counter of a received hop trailer from its low 32 bits: the one
 * closest to the highest counter the window accepted (RFC 4303 appendix A's
 * idea). A wrong guess only fails the tag, which covers the full counter.
 */
export function hopCounterHi(window: ReplayWindow, lo: number): number {
  const hi = window.highestHi, top = window.highestLo;
  if (lo < top && top - lo > 0x8000_0000) return hi + 1;
  if (lo > top && lo - top > 0x8000_0000 && hi > 0) return hi - 1;
  return hi;
}

/**
 * Writes the hop trailer at `p[end, end + 16)`: the low 32 bits of counter
 * `s.txCounter` (taken and advanced), then the first 12 bytes of the AEAD tag
 * (GMAC for AES-GCM) of an empty plaintext under the hop key `s.hopTx`, nonce
 * = 4 zero bytes | the counter (8), additional data `p[0, end + 4)` (every
 * byte before the tag). The nonce is the sender's own counter, never a byte
 * another party chose, so it never repeats under a key. Returns false when
 * the session's counter is used up (`rejectAfterPackets` is far below 2^53).
 */
export function writeHopTag(s: HopSession, p: Uint8Array, end: number, limit = 2 ** 48): boolean {
  if (s.txCounter >= limit || end + HOP_TAG_RESERVE > p.length) return false;
  const c = s.txCounter++;
  const hi = Math.floor(c / 0x1_0000_0000), lo = c >>> 0;
  const scratchTag = new Uint8Array(TAG_LENGTH), scratchNonce = new Uint8Array(12);
  put32(p, end, lo);
  writeCounterNonce(scratchNonce, hi, lo);
  s.hopTx.seal(scratchNonce, p.subarray(0, end + HOP_COUNTER_LENGTH), scratchTag, 0, 0);
  p.set(scratchTag.subarray(0, HOP_MAC_LENGTH), end + HOP_COUNTER_LENGTH);
  return true;
}

/**
 * Checks the hop trailer at `p[end, end + 16)` (see `writeHopTag`) against
 * the session's replay window and hop key `s.hopRx`: "ok" (the counter is
 * then recorded), "replay" (seen before or too old, no cryptography done) or
 * "bad_tag". The packet is not changed.
 */
export function openHopTag(
  s: HopSession,
  equal: (a: Uint8Array, b: Uint8Array) => boolean,
  p: Uint8Array,
  end: number,
): "ok" | "replay" | "bad_tag" {
  if (end < HEADER_LENGTH || end + HOP_TAG_RESERVE > p.length) return "bad_tag";
  const lo = u32(p, end);
  const hi = hopCounterHi(s.window, lo);
  if (s.window.check(hi, lo) !== "ok") return "replay";
  const scratchTag = new Uint8Array(TAG_LENGTH), scratchNonce = new Uint8Array(12);
  writeCounterNonce(scratchNonce, hi, lo);
  s.hopRx.seal(scratchNonce, p.subarray(0, end + HOP_COUNTER_LENGTH), scratchTag, 0, 0);
  const got = p.subarray(end + HOP_COUNTER_LENGTH, end + HOP_TAG_RESERVE);
  if (!equal(scratchTag.subarray(0, HOP_MAC_LENGTH), got)) return "bad_tag";
  s.window.accept(hi, lo);
  return "ok";
}

/** A copy of `packet` with flag HOP_TAG set and the hop trailer of `s` appended (null: counter used up). */
export function addHopTag(s: HopSession, packet: Uint8Array): Uint8Array | null {
  const out = new Uint8Array(packet.length + HOP_TAG_RESERVE);
  out.set(packet);
  out[HDR.FLAGS] |= Flag.HOP_TAG;
  return writeHopTag(s, out, packet.length) ? out : null;
}

/**
 * Supernode: checks the hop trailer at the end of `packet` (flag HOP_TAG)
 * against one of the sender's sessions; the packet without it, or why not.
 */
export function checkHopTag(
  s: HopSession,
  equal: (a: Uint8Array, b: Uint8Array) => boolean,
  packet: Uint8Array,
): Uint8Array | "replay" | "bad_tag" {
  if ((packet[HDR.FLAGS] & Flag.HOP_TAG) === 0) return "bad_tag";
  if (packet.length < HEADER_LENGTH + TAG_LENGTH + HOP_TAG_RESERVE) return "bad_tag";
  const end = packet.length - HOP_TAG_RESERVE;
  const r = openHopTag(s, equal, packet, end);
  return r === "ok" ? packet.subarray(0, end) : r;
}

/**
 * Supernode: the relayed handshake `inner` (its hop trailer removed) with the
 * vouch for the receiver appended and flag HOP_TAG set:
 * `counter (8) | sealed sender key (32 + 16)`, one AEAD seal under the hop
 * key toward the receiver (`dst.hopTx`), nonce = 4 zero bytes | counter (the
 * supernode's send counter of that session, taken and advanced: never
 * repeated), additional data = every byte before the sealed key. The key is
 * encrypted, so the relayed handshake does not show who is talking. Null when
 * the session's counter is used up.
 */
export function addVouch(
  dst: HopSession,
  inner: Uint8Array,
  senderKey: Uint8Array,
  limit = 2 ** 48,
): Uint8Array | null {
  if (dst.txCounter >= limit) return null;
  const c = dst.txCounter++;
  const out = new Uint8Array(inner.length + VOUCH_LENGTH);
  out.set(inner);
  out[HDR.FLAGS] |= Flag.HOP_TAG;
  const hi = Math.floor(c / 0x1_0000_0000), lo = c >>> 0;
  const k = inner.length + VOUCH_COUNTER_LENGTH;
  put32(out, inner.length, hi);
  put32(out, inner.length + 4, lo);
  out.set(senderKey.subarray(0, KEY_LENGTH), k);
  const nonce = new Uint8Array(12);
  writeCounterNonce(nonce, hi, lo);
  dst.hopTx.seal(nonce, out.subarray(0, k), out, k, KEY_LENGTH);
  return out;
}

/**
 * Node: checks a vouch trailer against one of its supernode sessions (replay
 * window first, then the AEAD); the inner packet and the vouched key, or why
 * not. The counter is recorded only when the vouch opened.
 */
export function checkVouch(
  s: HopSession,
  packet: Uint8Array,
): { inner: Uint8Array; vouched: Uint8Array } | "replay" | "bad_tag" {
  if ((packet[HDR.FLAGS] & Flag.HOP_TAG) === 0) return "bad_tag";
  if (packet.length < HEADER_LENGTH + TAG_LENGTH + VOUCH_LENGTH) return "bad_tag";
  const i = packet.length - VOUCH_LENGTH;
  const hi = u32(packet, i), lo = u32(packet, i + 4);
  if (hi >= 0x20_0000) return "bad_tag"; // counters stay below 2^53
  if (s.window.check(hi, lo) !== "ok") return "replay";
  const k = i + VOUCH_COUNTER_LENGTH;
  // Opened on a copy: a failed open must leave nothing behind in the packet.
  const sealed = packet.slice(k);
  const nonce = new Uint8Array(12);
  writeCounterNonce(nonce, hi, lo);
  if (!s.hopRx.open(nonce, packet.subarray(0, k), sealed, 0, KEY_LENGTH + TAG_LENGTH)) {
    return "bad_tag";
  }
  s.window.accept(hi, lo);
  return { inner: packet.subarray(0, i), vouched: sealed.slice(0, KEY_LENGTH) };
}

/**
 * Digest of a roster (node ids, in any order): FNV-1a (32 bits) over the
 * ascending ids, two bytes each. Not a security check (the roster is
 * sealed); it lets a node ask "has it changed?" in four bytes.
 */
export function rosterDigest(ids: Iterable<number>): number {
  const sorted = [...ids].sort((a, b) => a - b);
  let h = 0x811c9dc5;
  for (const id of sorted) {
    h = Math.imul(h ^ (id >>> 8), 0x01000193);
    h = Math.imul(h ^ (id & 0xff), 0x01000193);
  }
  return h >>> 0;
}
