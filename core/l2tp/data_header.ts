/**
 * L2TPv3 data message header (RFC 3931 section 4.1) and the demultiplexing
 * of control vs data (sections 4.1.1 and 4.1.2).
 *
 * Over IP protocol 115 (section 4.1.1.1):
 * ```
 * | Session ID (32, receiver's, non-zero; 0 means a control message follows) |
 * | Cookie (0, 4 or 8 bytes, only if the receiver assigned one)              |
 * | L2-Specific Sublayer (0 or 4 bytes, only if negotiated)                  |
 * | Ethernet frame (no preamble, no FCS)                                      |
 * ```
 * Over UDP (section 4.1.2.1) the same follows a 32-bit word
 * `|T=0|x..x|Ver=3|Reserved(16)|`; T=1 there means a control message.
 *
 * Default L2-Specific Sublayer (section 4.6): `|x|S|x x x x x x| Sequence (24) |`.
 *
 * Functions here work on views (`subarray`) and never allocate on receive;
 * they never throw on input bytes.
 *
 * Not done: other sublayers (ATM, Frame Relay), sequence-number checking
 * (that is the caller's policy; the number is surfaced).
 *
 * @module
 */
import type { Transport } from "./control_message.ts";

/** What a received L2TPv3 packet is. */
export type Demux =
  | { kind: "control" }
  | { kind: "data"; sessionId: number; offset: number }
  | { kind: "invalid"; reason: "truncated" | "bad_version" };

/**
 * Says whether `bytes` (after the IPv4 header for IP, after the UDP header
 * for UDP) is a control message or a data message, and for data the
 * Session ID and the offset of what follows it (cookie, sublayer, frame).
 *
 * @example
 * ```ts
 * import { demux } from "./data_header.ts";
 * demux(new Uint8Array([0, 0, 0, 7, 1, 2]), "ip"); // { kind: "data", sessionId: 7, offset: 4 }
 * ```
 */
export function demux(bytes: Uint8Array, transport: Transport): Demux {
  if (transport === "ip") {
    if (bytes.length < 4) return { kind: "invalid", reason: "truncated" };
    const sid = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    if (sid === 0) return { kind: "control" };
    return { kind: "data", sessionId: sid, offset: 4 };
  }
  if (bytes.length < 2) return { kind: "invalid", reason: "truncated" };
  if ((bytes[1] & 0x0f) !== 3) return { kind: "invalid", reason: "bad_version" };
  if ((bytes[0] & 0x80) !== 0) return { kind: "control" };
  if (bytes.length < 8) return { kind: "invalid", reason: "truncated" };
  const sid = ((bytes[4] << 24) | (bytes[5] << 16) | (bytes[6] << 8) | bytes[7]) >>> 0;
  return { kind: "data", sessionId: sid, offset: 8 };
}

/** How a session's data header is shaped in one direction. */
export interface DataLayout {
  /** Cookie bytes expected (receive) or to send (transmit): length 0, 4 or 8. */
  cookie: Uint8Array;
  /** Whether the 4-byte Default L2-Specific Sublayer is present. */
  sublayer: boolean;
}

/** Why a data packet was dropped after its session was found. */
export type DataReason = "truncated" | "cookie_mismatch";

/** Result of `parseData`: the frame as a view, or why not. */
export type DataParse =
  | {
    ok: true;
    /** Ethernet frame (view into the input). */
    frame: Uint8Array;
    /** Sequence number from the sublayer, or -1 when absent or S=0. */
    seq: number;
  }
  | { ok: false; reason: DataReason };

/**
 * Checks the cookie and strips the header of a data packet whose session
 * `demux` found: `offset` is the value `demux` returned.
 *
 * @example
 * ```ts
 * import { parseData } from "./data_header.ts";
 * const pkt = new Uint8Array([0, 0, 0, 7, 0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3]);
 * parseData(pkt, 4, { cookie: new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd]), sublayer: false });
 * // { ok: true, frame: [1, 2, 3], seq: -1 }
 * ```
 */
export function parseData(bytes: Uint8Array, offset: number, rx: DataLayout): DataParse {
  const c = rx.cookie;
  let off = offset;
  if (bytes.length < off + c.length + (rx.sublayer ? 4 : 0)) {
    return { ok: false, reason: "truncated" };
  }
  for (let i = 0; i < c.length; i++) {
    if (bytes[off + i] !== c[i]) return { ok: false, reason: "cookie_mismatch" };
  }
  off += c.length;
  let seq = -1;
  if (rx.sublayer) {
    if ((bytes[off] & 0x40) !== 0) {
      seq = (bytes[off + 1] << 16) | (bytes[off + 2] << 8) | bytes[off + 3];
    }
    off += 4;
  }
  return { ok: true, frame: bytes.subarray(off), seq };
}

/** Bytes of L2TPv3 header in front of a frame for this transport and layout. */
export function dataHeaderLength(transport: Transport, tx: DataLayout): number {
  return (transport === "udp" ? 8 : 4) + tx.cookie.length + (tx.sublayer ? 4 : 0);
}

/**
 * Writes the data header at `buf[off]` (the caller reserved
 * `dataHeaderLength` bytes, typically in front of the frame in the same
 * buffer) and returns its length. `seq` < 0 sends the sublayer with S=0.
 *
 * @example
 * ```ts
 * import { writeDataHeader } from "./data_header.ts";
 * const b = new Uint8Array(4);
 * writeDataHeader(b, 0, "ip", 0x01020304, { cookie: new Uint8Array(0), sublayer: false }, -1);
 * // b = 01 02 03 04
 * ```
 */
export function writeDataHeader(
  buf: Uint8Array,
  off: number,
  transport: Transport,
  sessionId: number,
  tx: DataLayout,
  seq: number,
): number {
  let o = off;
  if (transport === "udp") {
    buf[o] = 0;
    buf[o + 1] = 3;
    buf[o + 2] = 0;
    buf[o + 3] = 0;
    o += 4;
  }
  buf[o] = sessionId >>> 24;
  buf[o + 1] = (sessionId >>> 16) & 0xff;
  buf[o + 2] = (sessionId >>> 8) & 0xff;
  buf[o + 3] = sessionId & 0xff;
  o += 4;
  buf.set(tx.cookie, o);
  o += tx.cookie.length;
  if (tx.sublayer) {
    buf[o] = seq >= 0 ? 0x40 : 0;
    const s = seq >= 0 ? seq & 0xffffff : 0;
    buf[o + 1] = s >>> 16;
    buf[o + 2] = (s >>> 8) & 0xff;
    buf[o + 3] = s & 0xff;
    o += 4;
  }
  return o - off;
}

/**
 * Convenience for tests and slow paths: a new buffer with header + frame.
 *
 * @example
 * ```ts
 * import { emitData } from "./data_header.ts";
 * emitData("ip", 9, { cookie: new Uint8Array(0), sublayer: false }, -1, new Uint8Array([1])).length; // 5
 * ```
 */
export function emitData(
  transport: Transport,
  sessionId: number,
  tx: DataLayout,
  seq: number,
  frame: Uint8Array,
): Uint8Array {
  const h = dataHeaderLength(transport, tx);
  const out = new Uint8Array(h + frame.length);
  writeDataHeader(out, 0, transport, sessionId, tx, seq);
  out.set(frame, h);
  return out;
}
