/**
 * Live capture of a daemon's frames (`l2 capture`), sans-IO: which frames a
 * capture wants, the pcap bytes they become, and a bounded buffer between
 * the engine (which offers frames) and the reader (the management
 * endpoint's streaming answer, cmd/kit/capture_stream.ts).
 *
 * ```
 *  engine: if (hub.on) hub.offer(point, key, frame, now)   (one check per frame when idle)
 *            --> each open Capture whose target matches: a pcap record into its buffer
 *  reader: wake() --> take() --> bytes to the HTTP answer; done --> the answer ends
 * ```
 *
 * Tap points, by role (the `point` and `key` an engine offers):
 * - `l2 las`: `"vc"`, the VC's printed id (`vcKey(...).text`, "1234"), for
 *   every frame that enters the VC's switch from any of its ports, before
 *   the switch decides where it goes (core/las/engine.ts);
 * - `l2 node`: `"tap"`, 0, for the frames read from the TAP (as the host
 *   wrote them, TSO super-frames cut) and written to it (after MAT
 *   ingress); `"peer"`, the node id, for the frames sent to that node
 *   (after MAT egress, before sealing: group-addressed frames go to every
 *   peer, so every peer capture has them) and received from it (opened,
 *   before MAT ingress; the sender is the node id of the frame's MAT
 *   source address) (core/vpn/node_engine.ts);
 * - `l2 xconnect`: `"device"`, 0, for the frames read from its device and
 *   written to it (core/xconnect/engine.ts).
 *
 * The format is the classic pcap file (microsecond timestamps, link type
 * Ethernet, DLT_EN10MB = 1, snap length 65535): `tshark -r -` and
 * `wireshark -k -i -` read it from a pipe. Timestamps are the wall clock,
 * `now + wallOffset` (one reading of both clocks, given at construction);
 * every frame of one loop wakeup has that wakeup's `now`.
 *
 * Bounded: at most `maxCaptures` open at once (the next is refused); each
 * buffers at most `bufferBytes` of records the reader has not taken: a
 * frame that does not fit is dropped and counted (`frames_dropped`), never
 * waited for, so a slow reader never slows forwarding. A capture ends by
 * itself after `count` frames; the caller ends it at its time limit, when
 * the reader goes away, or at shutdown (`end`).
 *
 * @module
 */

import { isGroup, macAt, matNodeOf, matSupernodeOf } from "./mac.ts";

/** Where an engine offers frames; see the module doc. */
export type CapturePoint = "vc" | "peer" | "tap" | "device";

/** What one capture wants: a point, and the key there (VC text, node id; 0 for tap/device). */
export interface CaptureTarget {
  point: CapturePoint;
  key: string | number;
}

/** Why a capture ended. */
export type CaptureEnd = "count" | "seconds" | "closed" | "stopping";

/** The classic pcap link type for Ethernet (DLT_EN10MB). */
export const LINKTYPE_ETHERNET = 1;
/** The snap length in the file header: whole frames. */
export const SNAPLEN = 65535;
/** The pcap file header's length. */
export const PCAP_HEADER_LEN = 24;
/** A pcap record header's length. */
export const PCAP_RECORD_LEN = 16;

/**
 * The 24-byte pcap file header (little-endian, microseconds, version 2.4,
 * Ethernet).
 *
 * @example
 * ```ts
 * import { pcapHeader } from "./capture.ts";
 * const h = pcapHeader();
 * if (h.length !== 24 || h[0] !== 0xd4) throw new Error("magic a1b2c3d4, little-endian");
 * ```
 */
export function pcapHeader(): Uint8Array {
  const b = new Uint8Array(PCAP_HEADER_LEN);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setInt32(8, 0, true); // thiszone
  v.setUint32(12, 0, true); // sigfigs
  v.setUint32(16, SNAPLEN, true);
  v.setUint32(20, LINKTYPE_ETHERNET, true);
  return b;
}

/**
 * Writes one pcap record (header and frame, cut to `SNAPLEN`) at `off` in
 * `buf`, stamped `wallMs` (ms since 1970); returns the bytes written. The
 * caller has checked the room (`recordLength`).
 */
export function writeRecord(
  buf: Uint8Array,
  off: number,
  frame: Uint8Array,
  wallMs: number,
): number {
  const incl = Math.min(frame.length, SNAPLEN);
  const v = new DataView(buf.buffer, buf.byteOffset + off, PCAP_RECORD_LEN);
  const ms = Math.max(0, wallMs);
  const sec = Math.floor(ms / 1000);
  const usec = Math.min(999_999, Math.floor((ms - sec * 1000) * 1000));
  v.setUint32(0, sec >>> 0, true);
  v.setUint32(4, usec, true);
  v.setUint32(8, incl, true);
  v.setUint32(12, frame.length, true);
  buf.set(incl === frame.length ? frame : frame.subarray(0, incl), off + PCAP_RECORD_LEN);
  return PCAP_RECORD_LEN + incl;
}

/** The bytes `writeRecord` writes for `frame`. */
export function recordLength(frame: Uint8Array): number {
  return PCAP_RECORD_LEN + Math.min(frame.length, SNAPLEN);
}

/**
 * The VC id as the LAS prints it (`vcKey(...).text`, core/las/switchboard.ts)
 * from what an operator types: a decimal id ("01234" is "1234"), or hex
 * ("0x4d2" and "0x000004d2" are "1234" when they fit 32 bits as 8 digits
 * or fewer; a longer raw id stays "0x..." in lower case). Null when it is
 * neither.
 *
 * @example
 * ```ts
 * import { vcText } from "./capture.ts";
 * vcText("01234"); // "1234"
 * vcText("0x000004D2"); // "1234"
 * vcText("0x0a0b0c0d0e"); // "0x0a0b0c0d0e"
 * vcText("x"); // null
 * ```
 */
export function vcText(s: string): string | null {
  if (/^[0-9]{1,10}$/.test(s)) {
    const n = Number(s);
    return n <= 0xffff_ffff ? String(n) : null;
  }
  const m = /^0x([0-9a-fA-F]{1,64})$/.exec(s);
  if (!m) return null;
  const hex = m[1].toLowerCase();
  if (hex.length <= 8) return String(parseInt(hex, 16));
  return hex.length % 2 === 0 ? `0x${hex}` : null;
}

/** Capture counters (the hub's, for /metrics and /status). */
export interface CaptureCounters {
  /** Captures opened. */
  captures_started: number;
  /** Captures refused because `maxCaptures` were open. */
  captures_refused: number;
  /** Frames written into a capture's buffer. */
  frames_captured: number;
  /** Frames a capture wanted but its buffer was full (the reader was slow). */
  frames_dropped: number;
}

/** How a hub is set up. */
export interface CaptureHubOptions {
  /** The points this daemon offers (the others are refused when opening). */
  points: readonly CapturePoint[];
  /** `wall ms - now ms`: one reading of both clocks at start. */
  wallOffset: number;
  /** Most captures open at once. Default 4. */
  maxCaptures?: number;
  /** Most bytes one capture buffers for its reader. Default 4 MiB. */
  bufferBytes?: number;
}

/** One open capture: its target, limit, buffer and counts. */
export class Capture {
  readonly target: CaptureTarget;
  /** Frames after which it ends by itself; Infinity: none. */
  readonly count: number;
  /** Frames captured (in the buffer or taken). */
  frames = 0;
  /** Frames dropped for a full buffer. */
  dropped = 0;
  /** Why it ended; null while open. */
  ended: CaptureEnd | null = null;
  readonly #buf: Uint8Array;
  #used = 0;
  readonly #wake: () => void;

  constructor(target: CaptureTarget, count: number, bufferBytes: number, wake: () => void) {
    this.target = target;
    this.count = count;
    this.#buf = new Uint8Array(bufferBytes);
    this.#wake = wake;
  }

  /** Bytes waiting for the reader. */
  get buffered(): number {
    return this.#used;
  }

  /** Records one frame; false when the buffer had no room (dropped). */
  add(frame: Uint8Array, wallMs: number): boolean {
    const n = recordLength(frame);
    if (this.#used + n > this.#buf.length) {
      this.dropped++;
      return false;
    }
    const was = this.#used;
    this.#used += writeRecord(this.#buf, this.#used, frame, wallMs);
    this.frames++;
    if (this.frames >= this.count) this.ended = "count";
    if (was === 0 || this.ended !== null) this.#wake();
    return true;
  }

  /** The buffered records as one copy the caller owns, or null when empty; empties the buffer. */
  take(): Uint8Array | null {
    if (this.#used === 0) return null;
    const out = this.#buf.slice(0, this.#used);
    this.#used = 0;
    return out;
  }

  /** Ends it (the reader still takes what is buffered). */
  end(why: CaptureEnd): void {
    if (this.ended !== null) return;
    this.ended = why;
    this.#wake();
  }
}

/**
 * The captures of one daemon; see the module doc. Engines hold it and
 * offer frames only while `on`.
 *
 * @example
 * ```ts
 * import { CaptureHub } from "./capture.ts";
 * const hub = new CaptureHub({ points: ["vc"], wallOffset: 0 });
 * const c = hub.open({ point: "vc", key: "1234" }, 1, () => {});
 * if (typeof c === "string") throw new Error(c);
 * const frame = new Uint8Array(60);
 * if (hub.on) hub.offer("vc", "1234", frame, 1000);
 * if (c.take()?.length !== 16 + 60 || c.ended !== "count") throw new Error("one record");
 * ```
 */
export class CaptureHub {
  /** True while a capture is open: the one check an engine makes per frame. */
  on = false;
  readonly points: readonly CapturePoint[];
  readonly maxCaptures: number;
  readonly bufferBytes: number;
  readonly counters: CaptureCounters = {
    captures_started: 0,
    captures_refused: 0,
    frames_captured: 0,
    frames_dropped: 0,
  };
  readonly #wallOffset: number;
  readonly #open: Capture[] = [];

  constructor(o: CaptureHubOptions) {
    this.points = o.points;
    this.#wallOffset = o.wallOffset;
    this.maxCaptures = o.maxCaptures ?? 4;
    this.bufferBytes = o.bufferBytes ?? 4 << 20;
  }

  /** Captures open now. */
  get active(): number {
    return this.#open.length;
  }

  /**
   * Opens a capture of `target` that ends after `count` frames (Infinity:
   * only when ended); `wake` is called when its buffer stops being empty
   * and when it ends. A string says why not: a point this daemon does not
   * offer, or `maxCaptures` already open.
   */
  open(target: CaptureTarget, count: number, wake: () => void): Capture | string {
    if (!this.points.includes(target.point)) {
      return `this daemon captures ${this.points.join(", ") || "nothing"}, not ${target.point}`;
    }
    if (this.#open.length >= this.maxCaptures) {
      this.counters.captures_refused++;
      return `${this.maxCaptures} captures are running already: try again when one ends`;
    }
    const c = new Capture(target, count, this.bufferBytes, wake);
    this.#open.push(c);
    this.counters.captures_started++;
    this.on = true;
    return c;
  }

  /** Ends `c` (if open) and forgets it: the reader has what it took. */
  close(c: Capture, why: CaptureEnd = "closed"): void {
    c.end(why);
    const i = this.#open.indexOf(c);
    if (i >= 0) this.#open.splice(i, 1);
    this.on = this.#open.length > 0;
  }

  /** Ends every capture (shutdown). */
  closeAll(why: CaptureEnd = "stopping"): void {
    for (const c of [...this.#open]) this.close(c, why);
  }

  /**
   * One frame at a tap point (call only while `on`): a record in every open
   * capture of that point and key. `frame` is copied, not kept.
   */
  offer(point: CapturePoint, key: string | number, frame: Uint8Array, now: number): void {
    const open = this.#open;
    for (let i = 0; i < open.length; i++) {
      const c = open[i];
      if (c.ended !== null || c.target.point !== point) continue;
      if (key !== ANY_KEY && c.target.key !== key) continue;
      if (c.add(frame, now + this.#wallOffset)) this.counters.frames_captured++;
      else this.counters.frames_dropped++;
    }
  }

  /**
   * A VPN frame (Ethernet, MAT addresses) at the node's `"peer"` point
   * (call only while `on`): `sent` frames go to the node of their MAT
   * destination, or to every peer capture when group-addressed; received
   * ones come from the node of their MAT source. A frame without a MAT
   * address there (the core drops those) is not offered.
   */
  offerPeer(frame: Uint8Array, sent: boolean, now: number): void {
    if (frame.length < 14) return;
    const mac = macAt(frame, sent ? 0 : 6);
    if (sent && isGroup(mac)) return this.offer("peer", ANY_KEY, frame, now);
    if (matSupernodeOf(mac) >= 0) this.offer("peer", matNodeOf(mac), frame, now);
  }
}

/** The key `offer` matches every capture of its point with (a frame sent to every peer). */
export const ANY_KEY = -1;
