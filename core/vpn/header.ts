/**
 * The versioned header every VPN packet starts with (docs/protocol.md,
 * "Header"). 24 bytes, big-endian:
 *
 * ```
 *  0       1       2       3
 * +-------+-------+-------+-------+
 * | 'L'   | ver=1 | type  | flags |   0
 * +-------+-------+-------+-------+
 * |  network id   |   sender id   |   4
 * +-------+-------+-------+-------+
 * |  receiver id  |   reserved    |   8
 * +-------+-------+-------+-------+
 * |            key id             |  12
 * +-------+-------+-------+-------+
 * |        counter (64 bits)      |  16
 * |                               |
 * +-------+-------+-------+-------+
 * ```
 *
 * The whole header, with flag HOP_TAG masked, is the AEAD additional data;
 * the counter is the AEAD nonce and replay sequence of the session `key id`
 * names (secure_sealer.ts). Every packet has a 16-byte tag after the body
 * (and a relay trailer after that when flag HOP_TAG is set).
 *
 * `checkHeader` is the only door for untrusted bytes: it returns the header
 * fields or a reason code, never throws, and allocates only the result;
 * `headerWhy` makes the same checks and allocates nothing (then the `...Of`
 * accessors read the fields).
 * Counters of 2^53 and above are rejected (`bad_counter`): sessions re-key
 * long before (see docs/protocol.md).
 *
 * Not done here: sealing (`sealer.ts`), bodies (`messages.ts`).
 *
 * @module
 */
import { HEADER_LENGTH, MAGIC, TAG_LENGTH, VERSION } from "./constants.ts";
import { put16, put32, u16, u32 } from "../wire/checked.ts";

/** Offsets of the header fields. */
export const HDR = {
  MAGIC: 0,
  VERSION: 1,
  TYPE: 2,
  FLAGS: 3,
  NETWORK: 4,
  SENDER: 6,
  RECEIVER: 8,
  RESERVED: 10,
  KEY_ID: 12,
  COUNTER: 16,
} as const;

/** The meaning of a header. */
export interface HeaderRepr {
  type: number;
  flags: number;
  network: number;
  sender: number;
  receiver: number;
  keyId: number;
  /** 0 .. 2^53-1. */
  counter: number;
}

/** Why bytes are not a packet of ours. */
export type HeaderReason = "truncated" | "bad_magic" | "bad_version" | "bad_counter";

const TWO_32 = 0x1_0000_0000;

/**
 * Checks the header of `packet` (which must also have room for the tag).
 *
 * @example
 * ```ts
 * import { checkHeader, emitHeader } from "./header.ts";
 * const p = new Uint8Array(40);
 * emitHeader({ type: 5, flags: 0, network: 0, sender: 7, receiver: 0, keyId: 0, counter: 1 }, p);
 * checkHeader(p); // { ok: true, value: { type: 5, ... } }
 * ```
 */
export function checkHeader(
  packet: Uint8Array,
): { ok: true; value: HeaderRepr } | { ok: false; reason: HeaderReason } {
  const why = headerWhy(packet);
  if (why !== null) return { ok: false, reason: why };
  return {
    ok: true,
    value: {
      type: packet[HDR.TYPE],
      flags: packet[HDR.FLAGS],
      network: u16(packet, HDR.NETWORK),
      sender: u16(packet, HDR.SENDER),
      receiver: u16(packet, HDR.RECEIVER),
      keyId: u32(packet, HDR.KEY_ID),
      counter: u32(packet, HDR.COUNTER) * TWO_32 + u32(packet, HDR.COUNTER + 4),
    },
  };
}

/**
 * The same checks as `checkHeader` without building a result: null when the
 * header is good (then `typeOf`, `senderOf`, ... read it), else the reason.
 * Allocates nothing (the receive hot path).
 */
export function headerWhy(packet: Uint8Array): HeaderReason | null {
  if (packet.length < HEADER_LENGTH + TAG_LENGTH) return "truncated";
  if (packet[HDR.MAGIC] !== MAGIC) return "bad_magic";
  if (packet[HDR.VERSION] !== VERSION) return "bad_version";
  if (u32(packet, HDR.COUNTER) >= 0x20_0000) return "bad_counter";
  return null;
}

/** Writes the header at the start of `packet` (length >= 24). Reserved bytes are zero. */
export function emitHeader(h: HeaderRepr, packet: Uint8Array): void {
  emitHeaderFields(packet, h.type, h.flags, h.network, h.sender, h.receiver, h.keyId);
  writeCounter(packet, h.counter);
}

/**
 * `emitHeader` from the fields themselves, with counter 0 (the sealer fills
 * key id and counter): no header object on the send hot path.
 */
export function emitHeaderFields(
  packet: Uint8Array,
  type: number,
  flags: number,
  network: number,
  sender: number,
  receiver: number,
  keyId = 0,
): void {
  packet[HDR.MAGIC] = MAGIC;
  packet[HDR.VERSION] = VERSION;
  packet[HDR.TYPE] = type;
  packet[HDR.FLAGS] = flags;
  put16(packet, HDR.NETWORK, network);
  put16(packet, HDR.SENDER, sender);
  put16(packet, HDR.RECEIVER, receiver);
  put16(packet, HDR.RESERVED, 0);
  put32(packet, HDR.KEY_ID, keyId);
  put32(packet, HDR.COUNTER, 0);
  put32(packet, HDR.COUNTER + 4, 0);
}

/** Flags of a packet whose header was checked. */
export function flagsOf(packet: Uint8Array): number {
  return packet[HDR.FLAGS];
}

/** Writes the key id field (sealers fill it). */
export function writeKeyId(packet: Uint8Array, keyId: number): void {
  put32(packet, HDR.KEY_ID, keyId);
}

/** Writes the 64-bit counter field from a number below 2^53 (sealers fill it). */
export function writeCounter(packet: Uint8Array, counter: number): void {
  put32(packet, HDR.COUNTER, Math.floor(counter / TWO_32));
  put32(packet, HDR.COUNTER + 4, counter >>> 0);
}

/** Message type of a packet whose header was checked. */
export function typeOf(packet: Uint8Array): number {
  return packet[HDR.TYPE];
}

/** Receiver id of a packet whose header was checked. */
export function receiverOf(packet: Uint8Array): number {
  return u16(packet, HDR.RECEIVER);
}

/** Sender id of a packet whose header was checked. */
export function senderOf(packet: Uint8Array): number {
  return u16(packet, HDR.SENDER);
}

/** Network id of a packet whose header was checked. */
export function networkOf(packet: Uint8Array): number {
  return u16(packet, HDR.NETWORK);
}
