/**
 * Bodies of the sealed security messages (issue 6) and the hop-tag and
 * vouch trailers of relayed handshakes. Handshake bodies are in
 * `handshake.ts`.
 *
 * Sealed with the node's supernode session (types 0x23..0x26) or with a
 * node-to-node session (0x27), like any other message: header | body | tag.
 *
 * | type | direction | body |
 * |---|---|---|
 * | PEER_KEY_REQUEST 0x23 | node -> supernode | peer id (2) |
 * | PEER_KEY 0x24 | supernode -> node | peer id (2), status (1: 0 known, 1 unknown), reserved (1), public key (32) |
 * | REVOKE 0x25 | supernode -> node | node id (2), reserved (2), public key (32) |
 * | GROUP_KEY 0x26 | supernode -> node | group key (32), generation (1), sender epoch (3) |
 * | SESSION_CONFIRM 0x27 | node -> node (relayed) | empty |
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

/** Sealed security message types (with handshake.ts `SecType`). */
export const SealedType = {
  PEER_KEY_REQUEST: 0x23,
  PEER_KEY: 0x24,
  REVOKE: 0x25,
  GROUP_KEY: 0x26,
  SESSION_CONFIRM: 0x27,
} as const;

/** Bytes of the vouch trailer: public key and hop tag. */
export const VOUCH_LENGTH = KEY_LENGTH + HOP_TAG_RESERVE;

/** A parsed sealed security message. */
export type SecMessage =
  | { kind: "peer_key_request"; peer: number }
  | { kind: "peer_key"; peer: number; known: boolean; publicKey: Uint8Array }
  | { kind: "revoke"; node: number; publicKey: Uint8Array }
  | { kind: "group_key"; key: Uint8Array; gen: number; epoch: number }
  | { kind: "session_confirm" };

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
    case SealedType.GROUP_KEY:
      if (n !== KEY_LENGTH + 4) return bad;
      return {
        ok: true,
        value: {
          kind: "group_key",
          key: b.slice(0, KEY_LENGTH),
          gen: b[KEY_LENGTH],
          epoch: (b[KEY_LENGTH + 1] << 16) | (b[KEY_LENGTH + 2] << 8) | b[KEY_LENGTH + 3],
        },
      };
    case SealedType.SESSION_CONFIRM:
      return n === 0 ? { ok: true, value: { kind: "session_confirm" } } : bad;
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
    case "group_key": {
      const b = new Uint8Array(KEY_LENGTH + 4);
      b.set(m.key.subarray(0, KEY_LENGTH));
      b[KEY_LENGTH] = m.gen & 0xff;
      b[KEY_LENGTH + 1] = (m.epoch >>> 16) & 0xff;
      b[KEY_LENGTH + 2] = (m.epoch >>> 8) & 0xff;
      b[KEY_LENGTH + 3] = m.epoch & 0xff;
      return b;
    }
    case "session_confirm":
      return new Uint8Array(0);
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
    case "group_key":
      return SealedType.GROUP_KEY;
    case "session_confirm":
      return SealedType.SESSION_CONFIRM;
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

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
