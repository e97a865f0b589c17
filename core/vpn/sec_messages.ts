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
 * Relayed handshakes (HS_INIT/HS_RESP/HS_REJECT between nodes) carry flag
 * HOP_TAG. From the node to the supernode the trailer is the sender's hop
 * tag (16, `writeHopTag`: an AEAD tag over everything before it under the
 * hop key of its supernode session). From the supernode to the receiving
 * node it is replaced by the vouch: the sender's public key as the supernode
 * knows it (32) and the supernode's hop tag for the receiver (16).
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

/** Bytes of the vouch trailer: public key and hop tag. */
export const VOUCH_LENGTH = KEY_LENGTH + HOP_TAG_RESERVE;

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

/**
 * Writes the hop tag at `p[end, end + 16)`: the AEAD tag (GMAC for AES-GCM)
 * of an empty plaintext with `p[0, end)` as additional data, under the hop
 * key, with the first 12 bytes of the 16-byte tag that ends at `nonceEnd` as
 * nonce. That tag is the packet's own AEAD tag (end to end, group or
 * handshake), pseudo-random and different for every packet, so hop nonces
 * repeat only by chance (2^-96 per pair) or for a replay of the same bytes
 * (same nonce, same input: nothing leaks).
 */
export function writeHopTag(key: AeadKey, p: Uint8Array, end: number, nonceEnd = end): void {
  key.seal(p.subarray(nonceEnd - TAG_LENGTH, nonceEnd - 4), p.subarray(0, end), p, end, 0);
}

/** Checks the hop tag at `p[end, end + 16)` (see `writeHopTag`). */
export function hopTagOk(key: AeadKey, p: Uint8Array, end: number, nonceEnd = end): boolean {
  if (nonceEnd < HEADER_LENGTH + TAG_LENGTH || end + HOP_TAG_RESERVE > p.length) return false;
  return key.open(
    p.subarray(nonceEnd - TAG_LENGTH, nonceEnd - 4),
    p.subarray(0, end),
    p,
    end,
    HOP_TAG_RESERVE,
  );
}

/** A copy of `packet` with flag HOP_TAG set and its hop tag appended. */
export function addHopTag(key: AeadKey, packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(packet.length + HOP_TAG_RESERVE);
  out.set(packet);
  out[HDR.FLAGS] |= Flag.HOP_TAG;
  writeHopTag(key, out, packet.length);
  return out;
}

/** Checks the hop tag at the end of `packet` (flag HOP_TAG); the packet without it, or null. */
export function checkHopTag(key: AeadKey, packet: Uint8Array): Uint8Array | null {
  if ((packet[HDR.FLAGS] & Flag.HOP_TAG) === 0) return null;
  if (packet.length < HEADER_LENGTH + TAG_LENGTH + HOP_TAG_RESERVE) return null;
  const end = packet.length - HOP_TAG_RESERVE;
  // Checked on a copy: a failed open must not leave anything behind in the packet.
  return hopTagOk(key, packet.slice(), end) ? packet.subarray(0, end) : null;
}

/** Supernode: replaces a checked hop tag with the vouch for the receiver. */
export function addVouch(
  receiverHopKey: AeadKey,
  inner: Uint8Array,
  senderKey: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(inner.length + VOUCH_LENGTH);
  out.set(inner);
  out[HDR.FLAGS] |= Flag.HOP_TAG;
  out.set(senderKey.subarray(0, KEY_LENGTH), inner.length);
  writeHopTag(receiverHopKey, out, inner.length + KEY_LENGTH, inner.length);
  return out;
}

/** Node: checks a vouch trailer; the inner packet and the vouched key, or null. */
export function checkVouch(
  hopKey: AeadKey,
  packet: Uint8Array,
): { inner: Uint8Array; vouched: Uint8Array } | null {
  if ((packet[HDR.FLAGS] & Flag.HOP_TAG) === 0) return null;
  if (packet.length < HEADER_LENGTH + TAG_LENGTH + VOUCH_LENGTH) return null;
  const end = packet.length - HOP_TAG_RESERVE;
  const k = end - KEY_LENGTH;
  if (!hopTagOk(hopKey, packet.slice(), end, k)) return null;
  return { inner: packet.subarray(0, k), vouched: packet.slice(k, end) };
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
