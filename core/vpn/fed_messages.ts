/**
 * Bodies of the federation messages (issue 17, docs/federation.md): what
 * supernodes of one federation send each other, sealed with their pair's
 * session under network id `FED_NETWORK` (0xFFFF), types 0x30..0x38. The
 * header and the sealing are the packet layer's (header.ts, secure_sealer.ts);
 * this file only turns bodies into reprs and back.
 *
 * | type | body |
 * |---|---|
 * | FED_PING 0x30 | seq (4), time ms low 32 (4), update seq (4: the last FED_ATTACH/FED_DETACH number sent), up-peers bitmap (32: bit `id` set when the sender's session with supernode `id` is up) |
 * | FED_PONG 0x31 | seq (4), echoed time (4) |
 * | FED_ATTACH 0x32 | update seq (4), flags (1), chunk (2), count (1), entries: network (2), node id (2), allocator (1), reserved (1), stamp (12), node key (32), endpoint (7 or 19) |
 * | FED_DETACH 0x33 | update seq (4), count (1), reserved (1), entries: network (2), node id (2), stamp (12) |
 * | FED_BIND 0x34 | flags (1), chunk (2), count (1), entries: network (2), node id (2), allocator (1), reserved (1), age s (4), node key (32) |
 * | FED_DIGEST 0x35 | members digest (32), bindings (4), attachments (4) |
 * | FED_RELAY 0x36 | flags (1: 0x01 transit allowed), the node packet (header checked, hop trailer removed) |
 * | FED_INTRO 0x37 | flags (1: 0x01 answer), count (1), network (2), requester (2), target (2), endpoints (max 5) |
 * | FED_SYNC_REQ 0x38 | empty |
 *
 * Flags of FED_ATTACH and FED_BIND: 0x01 SYNC (a chunk of a full sync: all
 * chunks of one sync carry the same update seq), 0x02 LAST (the last chunk
 * of that sync). The stamp is 12 bytes, TAI64N (init_timestamps.ts).
 * Endpoints: family (1) port (2) address (4 or 16), as in docs/protocol.md
 * (`endpoint.ts`).
 *
 * Bounds: every body but FED_RELAY's is at most `MAX_FED_BODY` (1200)
 * bytes; lists are split by the `...Chunks` functions into bodies that fit.
 * Every parser returns a value or a reason and never throws; node ids are
 * 1..65534, allocators (supernode ids) 1..255, and no entry may name the
 * federation's own network id.
 *
 * Not here: sealing, sequence tracking and what a message does (federation.ts).
 *
 * @module
 */
import type { Endpoint } from "../addr.ts";
import { HEADER_LENGTH, MAX_ENDPOINTS, MAX_NODE_ID, MIN_NODE_ID, TAG_LENGTH } from "./constants.ts";
import {
  endpointWireLength,
  fromEndpoint,
  readEndpoint,
  toEndpoint,
  writeEndpoint,
} from "./endpoint.ts";
import { checkHeader } from "./header.ts";
import { put16, put32, u16, u32 } from "../wire/checked.ts";

/** Federation message types (header octet 2). */
export const FedType = {
  PING: 0x30,
  PONG: 0x31,
  ATTACH: 0x32,
  DETACH: 0x33,
  BIND: 0x34,
  DIGEST: 0x35,
  RELAY: 0x36,
  INTRO: 0x37,
  SYNC_REQ: 0x38,
} as const;

/** Header network id of every federation packet (reserved: no node network may use it). */
export const FED_NETWORK = 0xffff;
/** Largest body of every federation message but FED_RELAY. */
export const MAX_FED_BODY = 1200;
/** Bytes of an attachment stamp (TAI64N). */
export const STAMP_LENGTH = 12;
/** Bytes of a node or supernode public key. */
export const FED_KEY_LENGTH = 32;
/** Bytes of a members digest (SHA-256). */
export const DIGEST_LENGTH = 32;
/** Highest supernode id (the AA byte of MAT addresses). */
export const MAX_SUPERNODE_ID = 255;

/** Flags of FED_ATTACH / FED_BIND. */
export const FedFlag = { SYNC: 0x01, LAST: 0x02 } as const;

/** One attachment: (network, node id) is attached at the sender. */
export interface FedAttachEntry {
  network: number;
  nodeId: number;
  /** Supernode that allocated the node's id (its MAT AA byte). */
  allocator: number;
  /** TAI64N, 12 bytes: newer wins. */
  stamp: Uint8Array;
  /** The node's public key (32). */
  key: Uint8Array;
  /** The node's public endpoint as the sender sees it. */
  endpoint: Endpoint;
}

/** One detachment: the sender no longer holds the registration of that stamp. */
export interface FedDetachEntry {
  network: number;
  nodeId: number;
  stamp: Uint8Array;
}

/** One id binding: `key` holds `nodeId` in `network`, allocated by `allocator`. */
export interface FedBindEntry {
  network: number;
  nodeId: number;
  allocator: number;
  /** Seconds since the allocator last saw the owner (the receiver ages the binding from there). */
  ageS: number;
  key: Uint8Array;
}

/** Chunk fields of FED_ATTACH / FED_BIND. */
export interface FedChunk {
  /** Part of a full sync. */
  sync: boolean;
  /** The last chunk of that sync. */
  last: boolean;
  /** Index of this chunk within its sync (0 outside a sync). */
  chunk: number;
}

/** A parsed federation message. */
export type FedMessage =
  | {
    kind: "fed_ping";
    seq: number;
    time: number;
    /** The last update seq the sender used (a receiver that missed it asks for a sync). */
    updateSeq: number;
    /** Supernodes the sender has an up session with. */
    upPeers: readonly number[];
  }
  | { kind: "fed_pong"; seq: number; time: number }
  | ({ kind: "fed_attach"; seq: number; entries: FedAttachEntry[] } & FedChunk)
  | { kind: "fed_detach"; seq: number; entries: FedDetachEntry[] }
  | ({ kind: "fed_bind"; entries: FedBindEntry[] } & FedChunk)
  | { kind: "fed_digest"; digest: Uint8Array; bindings: number; attachments: number }
  | {
    kind: "fed_relay";
    transit: boolean;
    /** The inner node packet (a view into the body: copy it to keep it). */
    packet: Uint8Array;
    /** Network, sender and receiver of the inner packet's header. */
    network: number;
    sender: number;
    receiver: number;
  }
  | {
    kind: "fed_intro";
    answer: boolean;
    network: number;
    requester: number;
    target: number;
    endpoints: Endpoint[];
  }
  | { kind: "fed_sync_req" };

/** Why a federation body did not parse. */
export type FedReason =
  | "unknown_type"
  | "bad_length"
  | "too_long"
  | "bad_endpoint"
  | "too_many_endpoints"
  | "bad_id"
  | "bad_inner";

const ATTACH_HEAD = 8;
const DETACH_HEAD = 6;
const BIND_HEAD = 4;
const ATTACH_FIXED = 2 + 2 + 1 + 1 + STAMP_LENGTH + FED_KEY_LENGTH; // + endpoint
const DETACH_ENTRY = 2 + 2 + STAMP_LENGTH;
const BIND_ENTRY = 2 + 2 + 1 + 1 + 4 + FED_KEY_LENGTH;
const PING_LENGTH = 12 + 32;
const DIGEST_BODY = DIGEST_LENGTH + 8;
const INTRO_HEAD = 8;
/** Most entries one message holds (count is one byte). */
const MAX_COUNT = 255;

/** Type octet of a message kind. */
export function fedType(m: FedMessage): number {
  switch (m.kind) {
    case "fed_ping":
      return FedType.PING;
    case "fed_pong":
      return FedType.PONG;
    case "fed_attach":
      return FedType.ATTACH;
    case "fed_detach":
      return FedType.DETACH;
    case "fed_bind":
      return FedType.BIND;
    case "fed_digest":
      return FedType.DIGEST;
    case "fed_relay":
      return FedType.RELAY;
    case "fed_intro":
      return FedType.INTRO;
    case "fed_sync_req":
      return FedType.SYNC_REQ;
  }
}

/** True for a node id a node can hold (1..65534). */
function nodeIdOk(id: number): boolean {
  return Number.isInteger(id) && id >= MIN_NODE_ID && id <= MAX_NODE_ID;
}

/** True for a supernode id (1..255). */
export function supernodeIdOk(id: number): boolean {
  return Number.isInteger(id) && id >= 1 && id <= MAX_SUPERNODE_ID;
}

/** True for a node network id (0..65534: 0xFFFF is the federation's). */
function networkOk(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < FED_NETWORK;
}

function u16Ok(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff;
}

function u32Ok(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
}

/** Wire bytes of one FED_ATTACH entry. */
export function attachEntryLength(e: FedAttachEntry): number {
  return ATTACH_FIXED + endpointWireLength(fromEndpoint(e.endpoint).family);
}

function attachEntryOk(e: FedAttachEntry): boolean {
  return networkOk(e.network) && nodeIdOk(e.nodeId) && supernodeIdOk(e.allocator) &&
    e.stamp.length === STAMP_LENGTH && e.key.length === FED_KEY_LENGTH &&
    e.endpoint.ip.length === 16 &&
    u16Ok(e.endpoint.port);
}

function detachEntryOk(e: FedDetachEntry): boolean {
  return networkOk(e.network) && nodeIdOk(e.nodeId) && e.stamp.length === STAMP_LENGTH;
}

function bindEntryOk(e: FedBindEntry): boolean {
  return networkOk(e.network) && nodeIdOk(e.nodeId) && supernodeIdOk(e.allocator) &&
    u32Ok(e.ageS) && e.key.length === FED_KEY_LENGTH;
}

function chunkOk(c: FedChunk): boolean {
  return u16Ok(c.chunk);
}

/**
 * The body of `m`, or null when `m` cannot be encoded (a field out of
 * range, a wrong key or stamp length, too many endpoints or entries, or a
 * body above `MAX_FED_BODY`; FED_RELAY: an inner packet without a valid
 * header).
 *
 * @example
 * ```ts
 * import { fedBody, parseFedBody, FedType } from "./fed_messages.ts";
 * const b = fedBody({ kind: "fed_pong", seq: 7, time: 1234 })!;
 * parseFedBody(FedType.PONG, b); // { ok: true, value: { kind: "fed_pong", seq: 7, time: 1234 } }
 * ```
 */
export function fedBody(m: FedMessage): Uint8Array | null {
  switch (m.kind) {
    case "fed_ping": {
      if (!u32Ok(m.seq) || !u32Ok(m.time) || !u32Ok(m.updateSeq)) return null;
      const b = new Uint8Array(PING_LENGTH);
      put32(b, 0, m.seq);
      put32(b, 4, m.time);
      put32(b, 8, m.updateSeq);
      for (const id of m.upPeers) {
        if (!supernodeIdOk(id)) return null;
        b[12 + (id >>> 3)] |= 0x80 >>> (id & 7);
      }
      return b;
    }
    case "fed_pong": {
      if (!u32Ok(m.seq) || !u32Ok(m.time)) return null;
      const b = new Uint8Array(8);
      put32(b, 0, m.seq);
      put32(b, 4, m.time);
      return b;
    }
    case "fed_attach": {
      if (!u32Ok(m.seq) || !chunkOk(m) || m.entries.length > MAX_COUNT) return null;
      let n = ATTACH_HEAD;
      for (const e of m.entries) {
        if (!attachEntryOk(e)) return null;
        n += attachEntryLength(e);
      }
      if (n > MAX_FED_BODY) return null;
      const b = new Uint8Array(n);
      put32(b, 0, m.seq);
      b[4] = flagsOf(m);
      put16(b, 5, m.chunk);
      b[7] = m.entries.length;
      let o = ATTACH_HEAD;
      for (const e of m.entries) {
        put16(b, o, e.network);
        put16(b, o + 2, e.nodeId);
        b[o + 4] = e.allocator;
        b.set(e.stamp, o + 6);
        b.set(e.key, o + 6 + STAMP_LENGTH);
        o = writeEndpoint(b, o + ATTACH_FIXED, fromEndpoint(e.endpoint));
      }
      return b;
    }
    case "fed_detach": {
      if (!u32Ok(m.seq) || m.entries.length > MAX_COUNT) return null;
      const n = DETACH_HEAD + DETACH_ENTRY * m.entries.length;
      if (n > MAX_FED_BODY || !m.entries.every(detachEntryOk)) return null;
      const b = new Uint8Array(n);
      put32(b, 0, m.seq);
      b[4] = m.entries.length;
      let o = DETACH_HEAD;
      for (const e of m.entries) {
        put16(b, o, e.network);
        put16(b, o + 2, e.nodeId);
        b.set(e.stamp, o + 4);
        o += DETACH_ENTRY;
      }
      return b;
    }
    case "fed_bind": {
      if (!chunkOk(m) || m.entries.length > MAX_COUNT) return null;
      const n = BIND_HEAD + BIND_ENTRY * m.entries.length;
      if (n > MAX_FED_BODY || !m.entries.every(bindEntryOk)) return null;
      const b = new Uint8Array(n);
      b[0] = flagsOf(m);
      put16(b, 1, m.chunk);
      b[3] = m.entries.length;
      let o = BIND_HEAD;
      for (const e of m.entries) {
        put16(b, o, e.network);
        put16(b, o + 2, e.nodeId);
        b[o + 4] = e.allocator;
        put32(b, o + 6, e.ageS);
        b.set(e.key, o + 10);
        o += BIND_ENTRY;
      }
      return b;
    }
    case "fed_digest": {
      if (m.digest.length !== DIGEST_LENGTH || !u32Ok(m.bindings) || !u32Ok(m.attachments)) {
        return null;
      }
      const b = new Uint8Array(DIGEST_BODY);
      b.set(m.digest, 0);
      put32(b, DIGEST_LENGTH, m.bindings);
      put32(b, DIGEST_LENGTH + 4, m.attachments);
      return b;
    }
    case "fed_relay": {
      if (!checkHeader(m.packet).ok) return null;
      const b = new Uint8Array(1 + m.packet.length);
      b[0] = m.transit ? 1 : 0;
      b.set(m.packet, 1);
      return b;
    }
    case "fed_intro": {
      if (
        !networkOk(m.network) || !nodeIdOk(m.requester) || !nodeIdOk(m.target) ||
        m.endpoints.length > MAX_ENDPOINTS
      ) return null;
      const wire = m.endpoints.map(fromEndpoint);
      if (!m.endpoints.every((e) => e.ip.length === 16 && u16Ok(e.port))) return null;
      let n = INTRO_HEAD;
      for (const w of wire) n += endpointWireLength(w.family);
      const b = new Uint8Array(n);
      b[0] = m.answer ? 1 : 0;
      b[1] = wire.length;
      put16(b, 2, m.network);
      put16(b, 4, m.requester);
      put16(b, 6, m.target);
      let o = INTRO_HEAD;
      for (const w of wire) o = writeEndpoint(b, o, w);
      return b;
    }
    case "fed_sync_req":
      return new Uint8Array(0);
  }
}

/** Why `readEndpoint` found no endpoint at `off`: an unknown family, else truncation. */
function endpointWhy(b: Uint8Array, off: number, n: number): FedReason {
  return off < n && b[off] !== 4 && b[off] !== 6 ? "bad_endpoint" : "bad_length";
}

function flagsOf(c: FedChunk): number {
  return (c.sync ? FedFlag.SYNC : 0) | (c.last ? FedFlag.LAST : 0);
}

/**
 * Splits `entries` into groups that each fit one body of `head` bytes plus
 * their `size`, at most `MAX_FED_BODY` bytes and 255 entries. An empty list
 * gives one empty group (a sync of nothing is still one chunk).
 */
function split<T>(entries: readonly T[], head: number, size: (e: T) => number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let n = head;
  for (const e of entries) {
    const s = size(e);
    if (cur.length > 0 && (n + s > MAX_FED_BODY || cur.length >= MAX_COUNT)) {
      out.push(cur);
      cur = [];
      n = head;
    }
    cur.push(e);
    n += s;
  }
  out.push(cur);
  return out;
}

/**
 * FED_ATTACH bodies for `entries`. With `sync`, the chunks of one full sync:
 * all carry `seq`, chunk 0..n-1, the last one flag LAST. Without, update
 * messages carrying `seq`, `seq + 1`, ... (one update seq per message: the
 * caller advances its sequence by the number of bodies). Entries that
 * cannot be encoded are left out and counted in `skipped`.
 *
 * @example
 * ```ts
 * import { attachChunks } from "./fed_messages.ts";
 * attachChunks([], 5, true).bodies.length; // 1: an empty sync is one chunk, flag LAST
 * ```
 */
export function attachChunks(
  entries: readonly FedAttachEntry[],
  seq: number,
  sync: boolean,
): { bodies: Uint8Array[]; skipped: number } {
  const good = entries.filter(attachEntryOk);
  const groups = split(good, ATTACH_HEAD, attachEntryLength);
  if (!sync && good.length === 0) return { bodies: [], skipped: entries.length };
  const bodies = groups.map((g, i) =>
    fedBody({
      kind: "fed_attach",
      seq: sync ? seq : (seq + i) >>> 0,
      sync,
      last: !sync || i === groups.length - 1,
      chunk: sync ? i : 0,
      entries: g,
    })!
  );
  return { bodies, skipped: entries.length - good.length };
}

/** FED_DETACH bodies for `entries`, carrying update seqs `seq`, `seq + 1`, ... */
export function detachChunks(
  entries: readonly FedDetachEntry[],
  seq: number,
): { bodies: Uint8Array[]; skipped: number } {
  const good = entries.filter(detachEntryOk);
  if (good.length === 0) return { bodies: [], skipped: entries.length };
  const groups = split(good, DETACH_HEAD, () => DETACH_ENTRY);
  const bodies = groups.map((g, i) =>
    fedBody({ kind: "fed_detach", seq: (seq + i) >>> 0, entries: g })!
  );
  return { bodies, skipped: entries.length - good.length };
}

/** FED_BIND bodies for `entries`; with `sync`, numbered chunks, the last flagged LAST. */
export function bindChunks(
  entries: readonly FedBindEntry[],
  sync: boolean,
): { bodies: Uint8Array[]; skipped: number } {
  const good = entries.filter(bindEntryOk);
  if (!sync && good.length === 0) return { bodies: [], skipped: entries.length };
  const groups = split(good, BIND_HEAD, () => BIND_ENTRY);
  const bodies = groups.map((g, i) =>
    fedBody({
      kind: "fed_bind",
      sync,
      last: !sync || i === groups.length - 1,
      chunk: sync ? i : 0,
      entries: g,
    })!
  );
  return { bodies, skipped: entries.length - good.length };
}

/**
 * Parses the (opened) body of a federation message of `type`. Never throws.
 * A FED_RELAY's `packet` is a view into `b`; everything else is copied.
 */
export function parseFedBody(
  type: number,
  b: Uint8Array,
): { ok: true; value: FedMessage } | { ok: false; reason: FedReason } {
  const bad = (reason: FedReason) => ({ ok: false as const, reason });
  const ok = (value: FedMessage) => ({ ok: true as const, value });
  const n = b.length;
  if (type !== FedType.RELAY && n > MAX_FED_BODY) {
    return type >= FedType.PING && type <= FedType.SYNC_REQ ? bad("too_long") : bad("unknown_type");
  }
  switch (type) {
    case FedType.PING: {
      if (n !== PING_LENGTH) return bad("bad_length");
      const upPeers: number[] = [];
      for (let id = 1; id <= MAX_SUPERNODE_ID; id++) {
        if ((b[12 + (id >>> 3)] & (0x80 >>> (id & 7))) !== 0) upPeers.push(id);
      }
      return ok({
        kind: "fed_ping",
        seq: u32(b, 0),
        time: u32(b, 4),
        updateSeq: u32(b, 8),
        upPeers,
      });
    }
    case FedType.PONG:
      return n === 8
        ? ok({ kind: "fed_pong", seq: u32(b, 0), time: u32(b, 4) })
        : bad("bad_length");
    case FedType.ATTACH: {
      if (n < ATTACH_HEAD) return bad("bad_length");
      const count = b[7];
      const entries: FedAttachEntry[] = [];
      let o = ATTACH_HEAD;
      for (let i = 0; i < count; i++) {
        if (o + ATTACH_FIXED > n) return bad("bad_length");
        const e = readEndpoint(b, o + ATTACH_FIXED, n);
        if (!e) return bad(endpointWhy(b, o + ATTACH_FIXED, n));
        const entry: FedAttachEntry = {
          network: u16(b, o),
          nodeId: u16(b, o + 2),
          allocator: b[o + 4],
          stamp: b.slice(o + 6, o + 6 + STAMP_LENGTH),
          key: b.slice(o + 6 + STAMP_LENGTH, o + ATTACH_FIXED),
          endpoint: toEndpoint(e.ep),
        };
        if (
          !networkOk(entry.network) || !nodeIdOk(entry.nodeId) || !supernodeIdOk(entry.allocator)
        ) {
          return bad("bad_id");
        }
        entries.push(entry);
        o = e.next;
      }
      if (o !== n) return bad("bad_length");
      return ok({
        kind: "fed_attach",
        seq: u32(b, 0),
        sync: (b[4] & FedFlag.SYNC) !== 0,
        last: (b[4] & FedFlag.LAST) !== 0,
        chunk: u16(b, 5),
        entries,
      });
    }
    case FedType.DETACH: {
      if (n < DETACH_HEAD || n !== DETACH_HEAD + DETACH_ENTRY * b[4]) return bad("bad_length");
      const entries: FedDetachEntry[] = [];
      for (let o = DETACH_HEAD; o < n; o += DETACH_ENTRY) {
        const e = {
          network: u16(b, o),
          nodeId: u16(b, o + 2),
          stamp: b.slice(o + 4, o + 4 + STAMP_LENGTH),
        };
        if (!networkOk(e.network) || !nodeIdOk(e.nodeId)) return bad("bad_id");
        entries.push(e);
      }
      return ok({ kind: "fed_detach", seq: u32(b, 0), entries });
    }
    case FedType.BIND: {
      if (n < BIND_HEAD || n !== BIND_HEAD + BIND_ENTRY * b[3]) return bad("bad_length");
      const entries: FedBindEntry[] = [];
      for (let o = BIND_HEAD; o < n; o += BIND_ENTRY) {
        const e = {
          network: u16(b, o),
          nodeId: u16(b, o + 2),
          allocator: b[o + 4],
          ageS: u32(b, o + 6),
          key: b.slice(o + 10, o + BIND_ENTRY),
        };
        if (!networkOk(e.network) || !nodeIdOk(e.nodeId) || !supernodeIdOk(e.allocator)) {
          return bad("bad_id");
        }
        entries.push(e);
      }
      return ok({
        kind: "fed_bind",
        sync: (b[0] & FedFlag.SYNC) !== 0,
        last: (b[0] & FedFlag.LAST) !== 0,
        chunk: u16(b, 1),
        entries,
      });
    }
    case FedType.DIGEST:
      return n === DIGEST_BODY
        ? ok({
          kind: "fed_digest",
          digest: b.slice(0, DIGEST_LENGTH),
          bindings: u32(b, DIGEST_LENGTH),
          attachments: u32(b, DIGEST_LENGTH + 4),
        })
        : bad("bad_length");
    case FedType.RELAY: {
      if (n < 1 + HEADER_LENGTH + TAG_LENGTH) return bad("bad_length");
      const packet = b.subarray(1);
      const h = checkHeader(packet);
      if (!h.ok || h.value.network === FED_NETWORK) return bad("bad_inner");
      return ok({
        kind: "fed_relay",
        transit: (b[0] & 1) !== 0,
        packet,
        network: h.value.network,
        sender: h.value.sender,
        receiver: h.value.receiver,
      });
    }
    case FedType.INTRO: {
      if (n < INTRO_HEAD) return bad("bad_length");
      const count = b[1];
      if (count > MAX_ENDPOINTS) return bad("too_many_endpoints");
      const endpoints: Endpoint[] = [];
      let o = INTRO_HEAD;
      for (let i = 0; i < count; i++) {
        const e = readEndpoint(b, o, n);
        if (!e) return bad(endpointWhy(b, o, n));
        endpoints.push(toEndpoint(e.ep));
        o = e.next;
      }
      if (o !== n) return bad("bad_length");
      const m = {
        kind: "fed_intro" as const,
        answer: (b[0] & 1) !== 0,
        network: u16(b, 2),
        requester: u16(b, 4),
        target: u16(b, 6),
        endpoints,
      };
      if (!networkOk(m.network) || !nodeIdOk(m.requester) || !nodeIdOk(m.target)) {
        return bad("bad_id");
      }
      return ok(m);
    }
    case FedType.SYNC_REQ:
      return n === 0 ? ok({ kind: "fed_sync_req" }) : bad("bad_length");
    default:
      return bad("unknown_type");
  }
}
