/**
 * The VPN's messages: one typed repr per message type, `encodePacket` to
 * build and seal a packet, `decodePacket` as the one door for received
 * bytes (header check, `Sealer.open`, body parse), returning the message or
 * a reason code. Nothing here throws on any input.
 *
 * Bodies (after the 24-byte header, before the 16-byte tag), big-endian;
 * diagrams in docs/protocol.md:
 *
 * | type | body |
 * |---|---|
 * | REGISTER 0x01 | flags(1: 0x01 auto) count(1) reserved(2) identity(32) endpoint*count |
 * | REGISTER_ACK 0x02 | supernode id(1) reserved(1) keepalive s(2) boot id(4) observed endpoint |
 * | REGISTER_NAK 0x03 | code(1) reserved(1) requested id(2) |
 * | DEREGISTER 0x04 | reason(1) |
 * | KEEPALIVE 0x05, KEEPALIVE_ACK 0x06, PROBE 0x09, PROBE_ECHO 0x0a | seq(4) time(4) |
 * | PEER_REQUEST 0x07 | peer id(2) |
 * | PEER_INTRO 0x08 | peer id(2) count(1) reserved(1) endpoint*count (first: public) |
 * | GOING_AWAY 0x0b | reason(1) reserved(1) retry s(2) |
 * | DATA 0x10 | Ethernet frame (>= 14 bytes) |
 *
 * Endpoints: family(1) port(2) address(4|16), see `endpoint.ts`. Fixed
 * bodies must have exactly their length; trailing bytes are `bad_length`.
 *
 * Not here: the security layer's messages (types 0x20..0x2f: handshakes in
 * handshake.ts, sealed security messages in sec_messages.ts), which
 * `SecureNode` / `SecureSupernode` take before a datagram reaches a core;
 * one that gets here parses as `unknown_type`.
 *
 * @module
 */
import {
  Flag,
  HEADER_LENGTH,
  HOP_TAG_RESERVE,
  IDENTITY_LENGTH,
  MAX_ENDPOINTS,
  MIN_FRAME,
  MsgType,
  NAK_NAMES,
  NakCode,
  type NakReason,
  TAG_LENGTH,
} from "./constants.ts";
import {
  endpointWireLength,
  formatEndpoint,
  parseEndpoint,
  readEndpoint,
  type WireEndpoint,
  writeEndpoint,
} from "./endpoint.ts";
import {
  checkHeader,
  emitHeaderFields,
  HDR,
  type HeaderReason,
  type HeaderRepr,
  headerWhy,
} from "./header.ts";
import type { OpenReason, Sealer, SealReason } from "./sealer.ts";

/** REGISTER flag: a registration stamp follows the endpoints. */
export const REGISTER_FLAG_STAMP = 0x02;
/** Bytes of REGISTER's registration stamp (TAI64N). */
export const REGISTER_STAMP_LENGTH = 12;
import { put16, put32, u16, u32 } from "../wire/checked.ts";

/** A sequence number and a sender timestamp (ms, low 32 bits), echoed back for RTT. */
export interface Echo {
  seq: number;
  time: number;
}

/** Every message, by kind. Endpoints are canonical `ip:port` text. */
export type Message =
  | {
    kind: "register";
    auto: boolean;
    identity: Uint8Array;
    locals: string[];
    /**
     * The node's registration stamp (TAI64N, 12 bytes, from its `InitClock`:
     * newer than every HS_INIT and REGISTER it sent before), flag 0x02, after
     * the endpoints. The federation's newer claim wins by it
     * (docs/federation.md). Absent: an older node.
     */
    stamp?: Uint8Array;
  }
  | {
    kind: "register_ack";
    supernodeId: number;
    keepaliveS: number;
    bootId: number;
    observed: string;
  }
  | { kind: "register_nak"; reason: NakReason; requested: number }
  | { kind: "deregister"; reason: number }
  | ({ kind: "keepalive" } & Echo)
  | ({ kind: "keepalive_ack" } & Echo)
  | { kind: "peer_request"; peer: number }
  | { kind: "peer_intro"; peer: number; endpoints: string[] }
  | ({ kind: "probe" } & Echo)
  | ({ kind: "probe_echo" } & Echo)
  | { kind: "going_away"; reason: number; retryS: number }
  | { kind: "data"; frame: Uint8Array };

/** Kinds of messages. */
export type MessageKind = Message["kind"];

/** Why a body is not a valid message. */
export type BodyReason =
  | "unknown_type"
  | "bad_length"
  | "bad_endpoint"
  | "too_many_endpoints"
  | "bad_nak_code";

/** Why received bytes were dropped: header, seal or body. */
export type DecodeReason = HeaderReason | OpenReason | BodyReason;

/**
 * Header fields the caller chooses; key id and counter come from the sealer.
 * `relay`: a node sends this packet for another node through the supernode
 * (the sealer may add a hop tag, flag HOP_TAG).
 */
export type Address = Pick<HeaderRepr, "network" | "sender" | "receiver"> & { relay?: boolean };

const TYPE_OF: Record<MessageKind, number> = {
  register: MsgType.REGISTER,
  register_ack: MsgType.REGISTER_ACK,
  register_nak: MsgType.REGISTER_NAK,
  deregister: MsgType.DEREGISTER,
  keepalive: MsgType.KEEPALIVE,
  keepalive_ack: MsgType.KEEPALIVE_ACK,
  peer_request: MsgType.PEER_REQUEST,
  peer_intro: MsgType.PEER_INTRO,
  probe: MsgType.PROBE,
  probe_echo: MsgType.PROBE_ECHO,
  going_away: MsgType.GOING_AWAY,
  data: MsgType.DATA,
};

function endpoints(texts: string[]): WireEndpoint[] | null {
  const out: WireEndpoint[] = [];
  for (const t of texts) {
    const ep = parseEndpoint(t);
    if (!ep) return null;
    out.push(ep);
  }
  return out;
}

function eps(list: WireEndpoint[]): number {
  let n = 0;
  for (const e of list) n += endpointWireLength(e.family);
  return n;
}

/**
 * Bytes of the body of `m`, or -1 when `m` cannot be encoded (endpoint text
 * not an endpoint, too many endpoints, wrong identity length).
 */
export function bodyLength(m: Message): number {
  switch (m.kind) {
    case "register": {
      const l = endpoints(m.locals);
      if (!l || l.length > MAX_ENDPOINTS || m.identity.length !== IDENTITY_LENGTH) return -1;
      if (m.stamp !== undefined && m.stamp.length !== REGISTER_STAMP_LENGTH) return -1;
      return 4 + IDENTITY_LENGTH + eps(l) + (m.stamp ? REGISTER_STAMP_LENGTH : 0);
    }
    case "register_ack": {
      const o = parseEndpoint(m.observed);
      return o ? 8 + endpointWireLength(o.family) : -1;
    }
    case "register_nak":
      return 4;
    case "deregister":
      return 1;
    case "keepalive":
    case "keepalive_ack":
    case "probe":
    case "probe_echo":
      return 8;
    case "peer_request":
      return 2;
    case "peer_intro": {
      const l = endpoints(m.endpoints);
      return l && l.length <= MAX_ENDPOINTS ? 4 + eps(l) : -1;
    }
    case "going_away":
      return 4;
    case "data":
      return m.frame.length;
  }
}

function emitBody(m: Message, b: Uint8Array, o: number): void {
  switch (m.kind) {
    case "register": {
      const l = endpoints(m.locals)!;
      b[o] = (m.auto ? 1 : 0) | (m.stamp ? REGISTER_FLAG_STAMP : 0);
      b[o + 1] = l.length;
      b.set(m.identity, o + 4);
      let p = o + 4 + IDENTITY_LENGTH;
      for (const e of l) p = writeEndpoint(b, p, e);
      if (m.stamp) b.set(m.stamp, p);
      return;
    }
    case "register_ack":
      b[o] = m.supernodeId;
      put16(b, o + 2, m.keepaliveS);
      put32(b, o + 4, m.bootId);
      writeEndpoint(b, o + 8, parseEndpoint(m.observed)!);
      return;
    case "register_nak":
      b[o] = NakCode[m.reason.toUpperCase() as keyof typeof NakCode];
      put16(b, o + 2, m.requested);
      return;
    case "deregister":
      b[o] = m.reason;
      return;
    case "keepalive":
    case "keepalive_ack":
    case "probe":
    case "probe_echo":
      put32(b, o, m.seq);
      put32(b, o + 4, m.time);
      return;
    case "peer_request":
      put16(b, o, m.peer);
      return;
    case "peer_intro": {
      const l = endpoints(m.endpoints)!;
      put16(b, o, m.peer);
      b[o + 2] = l.length;
      let p = o + 4;
      for (const e of l) p = writeEndpoint(b, p, e);
      return;
    }
    case "going_away":
      b[o] = m.reason;
      put16(b, o + 2, m.retryS);
      return;
    case "data":
      b.set(m.frame, o);
      return;
  }
}

/**
 * Builds and seals a packet at `now` (monotonic ms), or returns why it
 * cannot: `bad_message` (see `bodyLength`) or the sealer's reason.
 *
 * @example
 * ```ts
 * import { encodePacket, decodePacket } from "./messages.ts";
 * import { NullSealer } from "./sealer.ts";
 * const s = new NullSealer();
 * const r = encodePacket({ network: 0, sender: 3, receiver: 0 }, { kind: "peer_request", peer: 9 }, s, 0);
 * if (r.ok) decodePacket(r.packet, s, 0, "192.0.2.7:40000"); // { ok: true, header: ..., msg: { kind: "peer_request", peer: 9 } }
 * ```
 */
export function encodePacket(
  addr: Address,
  m: Message,
  sealer: Sealer,
  now: number,
): { ok: true; packet: Uint8Array } | { ok: false; reason: "bad_message" | SealReason } {
  const n = bodyLength(m);
  if (n < 0) return { ok: false, reason: "bad_message" };
  const packet = newPacket(
    addr.network,
    addr.sender,
    addr.receiver,
    addr.relay === true,
    m,
    n,
    sealer,
  );
  const s = sealer.seal(packet, now);
  return s === "ok" ? { ok: true, packet } : { ok: false, reason: s };
}

function newPacket(
  network: number,
  sender: number,
  receiver: number,
  relay: boolean,
  m: Message,
  n: number,
  sealer: Sealer,
): Uint8Array {
  const hop = relay && sealer.hopTag === true;
  const packet = new Uint8Array(HEADER_LENGTH + n + TAG_LENGTH + (hop ? HOP_TAG_RESERVE : 0));
  emitHeaderFields(packet, TYPE_OF[m.kind], hop ? Flag.HOP_TAG : 0, network, sender, receiver);
  emitBody(m, packet, HEADER_LENGTH);
  return packet;
}

/**
 * Bytes a frame needs free before it to be sealed where it lies
 * (`encodeDataPacket` with `inPlace`): the VPN header.
 */
export const DATA_HEADROOM = HEADER_LENGTH;
/** Bytes it needs free after it: the AEAD tag and a relay's hop trailer. */
export const DATA_TAILROOM = TAG_LENGTH + HOP_TAG_RESERVE;

/**
 * The hot path of `encodePacket` for DATA: builds and seals a packet
 * carrying `frame` without a message, header or result object. Returns the
 * packet, or the sealer's reason. The same bytes as
 * `encodePacket(addr, { kind: "data", frame }, sealer, now)`.
 *
 * Without `inPlace` the frame is copied into a new exact-size buffer. With
 * `inPlace` the caller lends the frame's own buffer: `DATA_HEADROOM` bytes
 * before the frame and `DATA_TAILROOM` after it are free for the packet to
 * use, and the frame is sent once, before the buffer is reused. The packet
 * is then a view of that buffer (`packet.buffer === frame.buffer`): the
 * header goes into the headroom, the frame is encrypted where it lies (its
 * plaintext is gone once this returns "ok"), the tag and hop trailer go into
 * the tailroom. No allocation but the view, no copy. A frame without the
 * room (at the start or end of its buffer) is copied as without `inPlace`.
 * On a seal failure the frame's bytes are unchanged (sealers refuse before
 * they write), so the caller may still hold them.
 */
export function encodeDataPacket(
  network: number,
  sender: number,
  receiver: number,
  relay: boolean,
  frame: Uint8Array,
  sealer: Sealer,
  now: number,
  inPlace = false,
): Uint8Array | SealReason {
  const hop = relay && sealer.hopTag === true;
  const len = HEADER_LENGTH + frame.length + TAG_LENGTH + (hop ? HOP_TAG_RESERVE : 0);
  let packet: Uint8Array;
  const start = frame.byteOffset - HEADER_LENGTH;
  if (inPlace && start >= 0 && start + len <= frame.buffer.byteLength) {
    packet = new Uint8Array(frame.buffer, start, len);
    // The tailroom holds whatever the buffer held: zero it as a new packet is.
    packet.fill(0, HEADER_LENGTH + frame.length);
  } else {
    packet = new Uint8Array(len);
    packet.set(frame, HEADER_LENGTH);
  }
  emitHeaderFields(packet, MsgType.DATA, hop ? Flag.HOP_TAG : 0, network, sender, receiver);
  const s = sealer.seal(packet, now);
  return s === "ok" ? packet : s;
}

/** Result of `decodePacket`. A data frame is a view into the packet: copy it to keep it. */
export type Decoded =
  | { ok: true; header: HeaderRepr; msg: Message }
  | { ok: false; reason: DecodeReason };

/**
 * The first half of `decodePacket`, allocating nothing: checks the header
 * and opens the body in place (at `now`, for a datagram from `from`, as
 * `Sealer.open` takes them). Returns the end of the body (the body is
 * `packet[HEADER_LENGTH, end)`; read the header with `typeOf`, `senderOf`,
 * ... from header.ts) or the reason the packet is dropped. A DATA body is
 * the frame; `parseBody` parses any other.
 */
export function openPacket(
  packet: Uint8Array,
  sealer: Sealer,
  now: number,
  from: string,
): number | HeaderReason | OpenReason {
  const why = headerWhy(packet);
  if (why !== null) return why;
  const open = sealer.open(packet, now, from);
  if (open !== "ok") return open;
  // A relay trailer (flag HOP_TAG) follows the tag; the body ends before both.
  const end = packet.length - TAG_LENGTH -
    ((packet[HDR.FLAGS] & Flag.HOP_TAG) !== 0 ? HOP_TAG_RESERVE : 0);
  return end < HEADER_LENGTH ? "truncated" : end;
}

/**
 * Checks, opens and parses received bytes (a datagram from `from`, at
 * `now`). The sealer opens the body in place.
 */
export function decodePacket(
  packet: Uint8Array,
  sealer: Sealer,
  now: number,
  from: string,
): Decoded {
  const end = openPacket(packet, sealer, now, from);
  if (typeof end !== "number") return { ok: false, reason: end };
  const h = checkHeader(packet);
  if (!h.ok) return h; // cannot happen: openPacket checked it
  const m = parseBody(h.value.type, packet.subarray(HEADER_LENGTH, end));
  return m.ok ? { ok: true, header: h.value, msg: m.value } : m;
}

/** Parses the body of a message of `type`. */
export function parseBody(
  type: number,
  b: Uint8Array,
): { ok: true; value: Message } | { ok: false; reason: BodyReason } {
  const bad = (reason: BodyReason) => ({ ok: false as const, reason });
  const n = b.length;
  const echo = () => ({ seq: u32(b, 0), time: u32(b, 4) });
  switch (type) {
    case MsgType.REGISTER: {
      if (n < 4 + IDENTITY_LENGTH) return bad("bad_length");
      const count = b[1];
      if (count > MAX_ENDPOINTS) return bad("too_many_endpoints");
      const stamped = (b[0] & REGISTER_FLAG_STAMP) !== 0;
      if (stamped && n < 4 + IDENTITY_LENGTH + REGISTER_STAMP_LENGTH) return bad("bad_length");
      const end = stamped ? n - REGISTER_STAMP_LENGTH : n;
      const l = readList(b.subarray(0, end), 4 + IDENTITY_LENGTH, count);
      if (typeof l === "string") return bad(l);
      const value: Message = {
        kind: "register",
        auto: (b[0] & 1) === 1,
        identity: b.slice(4, 4 + IDENTITY_LENGTH),
        locals: l,
      };
      if (stamped) value.stamp = b.slice(end, n);
      return { ok: true, value };
    }
    case MsgType.REGISTER_ACK: {
      if (n < 8) return bad("bad_length");
      const e = readEndpoint(b, 8, n);
      if (!e) return bad("bad_endpoint");
      if (e.next !== n) return bad("bad_length");
      return {
        ok: true,
        value: {
          kind: "register_ack",
          supernodeId: b[0],
          keepaliveS: u16(b, 2),
          bootId: u32(b, 4),
          observed: formatEndpoint(e.ep),
        },
      };
    }
    case MsgType.REGISTER_NAK: {
      if (n !== 4) return bad("bad_length");
      const reason = NAK_NAMES[b[0]];
      if (!reason) return bad("bad_nak_code");
      return { ok: true, value: { kind: "register_nak", reason, requested: u16(b, 2) } };
    }
    case MsgType.DEREGISTER:
      return n === 1
        ? { ok: true, value: { kind: "deregister", reason: b[0] } }
        : bad("bad_length");
    case MsgType.KEEPALIVE:
      return n === 8 ? { ok: true, value: { kind: "keepalive", ...echo() } } : bad("bad_length");
    case MsgType.KEEPALIVE_ACK:
      return n === 8
        ? { ok: true, value: { kind: "keepalive_ack", ...echo() } }
        : bad("bad_length");
    case MsgType.PROBE:
      return n === 8 ? { ok: true, value: { kind: "probe", ...echo() } } : bad("bad_length");
    case MsgType.PROBE_ECHO:
      return n === 8 ? { ok: true, value: { kind: "probe_echo", ...echo() } } : bad("bad_length");
    case MsgType.PEER_REQUEST:
      return n === 2
        ? { ok: true, value: { kind: "peer_request", peer: u16(b, 0) } }
        : bad("bad_length");
    case MsgType.PEER_INTRO: {
      if (n < 4) return bad("bad_length");
      const count = b[2];
      if (count > MAX_ENDPOINTS) return bad("too_many_endpoints");
      const l = readList(b, 4, count);
      if (typeof l === "string") return bad(l);
      return { ok: true, value: { kind: "peer_intro", peer: u16(b, 0), endpoints: l } };
    }
    case MsgType.GOING_AWAY:
      return n === 4
        ? { ok: true, value: { kind: "going_away", reason: b[0], retryS: u16(b, 2) } }
        : bad("bad_length");
    case MsgType.DATA:
      return n >= MIN_FRAME ? { ok: true, value: { kind: "data", frame: b } } : bad("bad_length");
    default:
      return bad("unknown_type");
  }
}

function readList(
  b: Uint8Array,
  off: number,
  count: number,
): string[] | "bad_endpoint" | "bad_length" {
  const out: string[] = [];
  let p = off;
  for (let i = 0; i < count; i++) {
    const e = readEndpoint(b, p, b.length);
    if (!e) return "bad_endpoint";
    out.push(formatEndpoint(e.ep));
    p = e.next;
  }
  return p === b.length ? out : "bad_length";
}
