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
 * tag (16: HMAC-SHA256 of everything before it under the hop key of its
 * supernode session, truncated). From the supernode to the receiving node
 * it is replaced by the vouch: the sender's public key as the supernode
 * knows it (32) and the supernode's hop tag for the receiver (16).
 *
 * Every parser returns a value or a reason and never throws.
 *
 * @module
 */
import { Flag, HEADER_LENGTH, HOP_TAG_RESERVE, TAG_LENGTH } from "./constants.ts";
import type { CryptoSuite } from "./crypto_suite.ts";
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

/** The 16-byte hop tag of `bytes` under `key`. */
export function hopTag(suite: CryptoSuite, key: Uint8Array, bytes: Uint8Array): Uint8Array {
  return suite.hmac(key, bytes).subarray(0, HOP_TAG_RESERVE);
}

/** A copy of `packet` with flag HOP_TAG set and its hop tag appended. */
export function addHopTag(suite: CryptoSuite, key: Uint8Array, packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(packet.length + HOP_TAG_RESERVE);
  out.set(packet);
  out[HDR.FLAGS] |= Flag.HOP_TAG;
  out.set(hopTag(suite, key, out.subarray(0, packet.length)), packet.length);
  return out;
}

/** Checks the hop tag at the end of `packet` (flag HOP_TAG); the packet without it, or null. */
export function checkHopTag(
  suite: CryptoSuite,
  key: Uint8Array,
  packet: Uint8Array,
): Uint8Array | null {
  if ((packet[HDR.FLAGS] & Flag.HOP_TAG) === 0) return null;
  if (packet.length < HEADER_LENGTH + TAG_LENGTH + HOP_TAG_RESERVE) return null;
  const end = packet.length - HOP_TAG_RESERVE;
  const t = hopTag(suite, key, packet.subarray(0, end));
  return suite.equal(t, packet.subarray(end)) ? packet.subarray(0, end) : null;
}

/** Supernode: replaces a checked hop tag with the vouch for the receiver. */
export function addVouch(
  suite: CryptoSuite,
  receiverHopKey: Uint8Array,
  inner: Uint8Array,
  senderKey: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(inner.length + VOUCH_LENGTH);
  out.set(inner);
  out[HDR.FLAGS] |= Flag.HOP_TAG;
  out.set(senderKey.subarray(0, KEY_LENGTH), inner.length);
  const end = inner.length + KEY_LENGTH;
  out.set(hopTag(suite, receiverHopKey, out.subarray(0, end)), end);
  return out;
}

/** Node: checks a vouch trailer; the inner packet and the vouched key, or null. */
export function checkVouch(
  suite: CryptoSuite,
  hopKey: Uint8Array,
  packet: Uint8Array,
): { inner: Uint8Array; vouched: Uint8Array } | null {
  if ((packet[HDR.FLAGS] & Flag.HOP_TAG) === 0) return null;
  if (packet.length < HEADER_LENGTH + TAG_LENGTH + VOUCH_LENGTH) return null;
  const end = packet.length - HOP_TAG_RESERVE;
  const t = hopTag(suite, hopKey, packet.subarray(0, end));
  if (!suite.equal(t, packet.subarray(end))) return null;
  const k = end - KEY_LENGTH;
  return { inner: packet.subarray(0, k), vouched: packet.slice(k, end) };
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
