/**
 * TCP segmentation offload in user space: what a TAP device opened with
 * IFF_VNET_HDR and TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
 * hands over, turned back into wire-sized Ethernet frames.
 *
 * Each frame read from such a device starts with a `virtio_net_hdr` (virtio
 * 1.x section 5.1.6, Linux include/uapi/linux/virtio_net.h; 10 bytes, in the
 * host's byte order for a TAP, little-endian here):
 *
 * ```
 *  0 flags       u8   1 = NEEDS_CSUM: the L4 checksum is partial
 *  1 gso_type    u8   0 none, 1 TCPv4, 3 UDP, 4 TCPv6, 5 UDP_L4; 0x80 ECN
 *  2 hdr_len     u16  Ethernet + IP + TCP header bytes (a hint; recomputed here)
 *  4 gso_size    u16  payload bytes per segment (the MSS)
 *  6 csum_start  u16  where the checksummed data begins (the L4 header)
 *  8 csum_offset u16  where, from csum_start, the checksum field is
 * ```
 *
 * With `NEEDS_CSUM` the checksum field holds only the pseudo-header sum
 * (Linux Documentation/networking/checksum-offloads.rst): the sum from
 * csum_start to the end of the frame, complemented, completes it
 * (`completeChecksum`). A GSO frame (gso_type TCPv4/TCPv6) is one TCP
 * segment up to 64 KiB long; `segmentTcp` cuts its payload into gso_size
 * pieces, each a complete frame (Documentation/networking/segmentation-offloads.rst):
 * IPv4 total length, id (incremented per segment) and header checksum, or the
 * IPv6 payload length; TCP sequence number advanced by the payload before it;
 * FIN and PSH only on the last segment, CWR only on the first; and a full TCP
 * checksum over pseudo-header, header and payload (RFC 9293 section 3.1).
 *
 * Frames are untagged or carry one 802.1Q tag; IPv6 frames with extension
 * headers, IPv4 fragments, ECN-marked GSO (TUN_F_TSO_ECN is not asked for)
 * and UDP GSO are refused with a reason, never thrown.
 *
 * The other way, `TcpCoalescer` joins consecutive TCP segments of one flow
 * (the GRO rules of Linux net/ipv4/tcp_offload.c, in short: same Ethernet,
 * IP and TCP headers but for lengths, id, sequence number and checksums;
 * contiguous sequence numbers; only ACK (and PSH on the last) set; every
 * segment but the last of the same payload size) into one frame up to
 * 64 KiB with a GSO vnet header, for one TAP write. Each segment's TCP
 * checksum is verified before it joins (the joined frame carries a partial
 * checksum the kernel then trusts); a bad one is passed on alone, for the
 * kernel to drop and count.
 *
 * Not done here: UDP fragmentation offload, tunnel (encapsulated) GSO types,
 * coalescing more than one flow at a time, IPv4 options or IPv6 extension
 * headers in coalesced frames.
 *
 * @module
 */
import { internetChecksum, pseudoSumV4, pseudoSumV6 } from "./checksum.ts";

/** Bytes of `struct virtio_net_hdr` (without num_buffers). */
export const VNET_HDR_LEN = 10;
/** flags: the L4 checksum at csum_start + csum_offset is partial. */
export const VNET_F_NEEDS_CSUM = 1;
/** flags: the receiver already checked the checksum. */
export const VNET_F_DATA_VALID = 2;
/** gso_type values. */
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3;
export const GSO_TCPV6 = 4;
export const GSO_UDP_L4 = 5;
export const GSO_ECN = 0x80;

/** A decoded `virtio_net_hdr`. */
export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** A zeroed header ("no offload"), to fill with `readVnetHdr`. */
export function emptyVnetHdr(): VnetHdr {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

const u16le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);

/**
 * Decodes the 10-byte header at `off` of `buf` into `out`; false (and `out`
 * untouched) when fewer than 10 bytes are there.
 */
export function readVnetHdr(buf: Uint8Array, off: number, out: VnetHdr): boolean {
  if (off < 0 || buf.length - off < VNET_HDR_LEN) return false;
  out.flags = buf[off];
  out.gsoType = buf[off + 1];
  out.hdrLen = u16le(buf, off + 2);
  out.gsoSize = u16le(buf, off + 4);
  out.csumStart = u16le(buf, off + 6);
  out.csumOffset = u16le(buf, off + 8);
  return true;
}

/** Encodes `h` as 10 bytes at `off` of `buf` (the caller has checked room). */
export function writeVnetHdr(buf: Uint8Array, off: number, h: VnetHdr): void {
  const put = (o: number, v: number) => {
    buf[off + o] = v & 0xff;
    buf[off + o + 1] = (v >>> 8) & 0xff;
  };
  buf[off] = h.flags;
  buf[off + 1] = h.gsoType;
  put(2, h.hdrLen);
  put(4, h.gsoSize);
  put(6, h.csumStart);
  put(8, h.csumOffset);
}

/** Why a frame was refused. */
export type GsoReason =
  | "short_vnet_header"
  | "csum_out_of_frame"
  | "unsupported_gso_type"
  | "gso_ecn"
  | "gso_size_zero"
  | "not_ip"
  | "ip_version_mismatch"
  | "bad_ip_header"
  | "ip_fragment"
  | "not_tcp"
  | "csum_start_mismatch"
  | "bad_tcp_header"
  | "hdr_len_beyond_frame"
  | "scratch_too_small";

/** Every `GsoReason`, for counters. */
export const GSO_REASONS: readonly GsoReason[] = [
  "short_vnet_header",
  "csum_out_of_frame",
  "unsupported_gso_type",
  "gso_ecn",
  "gso_size_zero",
  "not_ip",
  "ip_version_mismatch",
  "bad_ip_header",
  "ip_fragment",
  "not_tcp",
  "csum_start_mismatch",
  "bad_tcp_header",
  "hdr_len_beyond_frame",
  "scratch_too_small",
];

/**
 * Completes a partial checksum in place (`NEEDS_CSUM`): the one's complement
 * of the sum from `csumStart` to the end of `frame`, stored at `csumStart +
 * csumOffset`; a result of 0 is stored as 0xffff (the same value in one's
 * complement; UDP's "no checksum" must not appear). Returns "ok" or why not.
 *
 * @example
 * ```ts
 * import { completeChecksum } from "./gso.ts";
 * const f = new Uint8Array([0, 0, 0x12, 0x34]);
 * completeChecksum(f, 0, 0); // "ok"; f[0..1] = ~0x1234 = 0xedcb
 * ```
 */
export function completeChecksum(
  frame: Uint8Array,
  csumStart: number,
  csumOffset: number,
): "ok" | "csum_out_of_frame" {
  const at = csumStart + csumOffset;
  if (csumStart >= frame.length || at + 2 > frame.length) return "csum_out_of_frame";
  let c = internetChecksum(frame, csumStart, frame.length - csumStart);
  if (c === 0) c = 0xffff;
  frame[at] = c >>> 8;
  frame[at + 1] = c & 0xff;
  return "ok";
}

/** Where the headers of a TCP frame are, from `parseTcpFrame`. */
interface TcpLayout {
  l3: number;
  l4: number;
  hdrLen: number;
  v4: boolean;
}

/** Finds the IP and TCP headers of an untagged or 802.1Q-tagged Ethernet frame. */
function parseTcpFrame(frame: Uint8Array, gsoType: number, out: TcpLayout): "ok" | GsoReason {
  if (frame.length < 14) return "not_ip";
  let l3 = 14;
  let type = (frame[12] << 8) | frame[13];
  if (type === 0x8100) {
    if (frame.length < 18) return "not_ip";
    type = (frame[16] << 8) | frame[17];
    l3 = 18;
  }
  let l4: number;
  if (type === 0x0800) {
    if (gsoType !== GSO_TCPV4) return "ip_version_mismatch";
    if (frame.length < l3 + 20 || frame[l3] >> 4 !== 4) return "bad_ip_header";
    const ihl = (frame[l3] & 0x0f) * 4;
    if (ihl < 20 || frame.length < l3 + ihl) return "bad_ip_header";
    // MF set or a fragment offset: not a whole TCP segment.
    if ((frame[l3 + 6] & 0x3f) !== 0 || frame[l3 + 7] !== 0) return "ip_fragment";
    if (frame[l3 + 9] !== 6) return "not_tcp";
    l4 = l3 + ihl;
  } else if (type === 0x86dd) {
    if (gsoType !== GSO_TCPV6) return "ip_version_mismatch";
    if (frame.length < l3 + 40 || frame[l3] >> 4 !== 6) return "bad_ip_header";
    if (frame[l3 + 6] !== 6) return "not_tcp"; // extension headers are refused too
    l4 = l3 + 40;
  } else {
    return "not_ip";
  }
  if (frame.length < l4 + 20) return "bad_tcp_header";
  const doff = (frame[l4 + 12] >> 4) * 4;
  if (doff < 20 || frame.length < l4 + doff) return "bad_tcp_header";
  out.l3 = l3;
  out.l4 = l4;
  out.hdrLen = l4 + doff;
  out.v4 = type === 0x0800;
  return "ok";
}

const TWO_32 = 0x1_0000_0000;
/** Byte order of typed-array words on this machine (a constant, read once). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * Folded big-endian one's complement sum of `len` bytes of `buf` at `off`
 * plus `initial`, where `off` is a multiple of 4 from the start of `words`'
 * buffer (`words` is a Uint32Array over the same memory as `buf`): 32-bit
 * little-endian words summed, folded, then byte-swapped (RFC 1071 section
 * 2(B): the sum is byte-order independent). Four bytes per step instead of
 * two; the same value as `onesSum` (core/checksum.ts).
 */
function sumAligned(
  buf: Uint8Array,
  words: Uint32Array,
  off: number,
  len: number,
  initial: number,
): number {
  let s = 0;
  const w0 = (buf.byteOffset + off - words.byteOffset) >>> 2;
  const nw = len >>> 2;
  // Each word is below 2^32: 2^21 words stay below 2^53, far more than a segment.
  for (let i = w0, end = w0 + nw; i < end; i++) s += words[i];
  let t = off + nw * 4;
  const end = off + len;
  // The tail (0..3 bytes), little-endian 16-bit lanes like the words above.
  const le = LITTLE_ENDIAN;
  if (t + 1 < end) {
    s += le ? buf[t] | (buf[t + 1] << 8) : (buf[t] << 8) | buf[t + 1];
    t += 2;
  }
  if (t < end) s += le ? buf[t] : buf[t] << 8;
  // Fold the 32-bit lanes to 16 bits, then (little-endian words) swap to big-endian.
  s = (s % TWO_32) + Math.floor(s / TWO_32);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  const be = le ? ((s & 0xff) << 8) | (s >>> 8) : s;
  let r = be + initial;
  r = (r & 0xffff) + (r >>> 16);
  return (r & 0xffff) + (r >>> 16);
}

/**
 * Cuts a GSO TCP frame (gso_type TCPv4 or TCPv6) into frames of at most
 * `h.gsoSize` payload bytes, each written into `scratch` (which must hold
 * the headers plus one segment plus 3 bytes: each segment starts 0..3 bytes
 * in, where its TCP header is 4-byte aligned) and handed to `emit` before the next one
 * overwrites it; `emit` may change the frame (a MAC rewrite) and must copy
 * what it keeps. `frame` itself is not modified. Returns "ok" or why the
 * frame was refused (then nothing was emitted).
 *
 * @example
 * ```ts
 * import { GSO_TCPV4, segmentTcp, VNET_F_NEEDS_CSUM } from "./gso.ts";
 * // Ethernet + IPv4 + TCP headers (54 bytes) and 3000 payload bytes, as a TAP hands them over.
 * const superFrame = new Uint8Array(54 + 3000);
 * superFrame.set([0x08, 0x00], 12); // EtherType IPv4
 * superFrame.set([0x45, 0, 3040 >> 8, 3040 & 0xff, 0, 0, 0x40, 0, 64, 6], 14); // DF, TTL 64, TCP
 * superFrame.set([10, 0, 0, 1, 10, 0, 0, 2], 26); // source, destination
 * superFrame.set([0x50, 0x10], 46); // TCP data offset 5, ACK
 * const hdr = {
 *   flags: VNET_F_NEEDS_CSUM,
 *   gsoType: GSO_TCPV4,
 *   hdrLen: 54,
 *   gsoSize: 1000, // payload bytes per segment
 *   csumStart: 34,
 *   csumOffset: 16,
 * };
 * const sent: number[] = [];
 * const r = segmentTcp(superFrame, hdr, new Uint8Array(2048), (seg) => sent.push(seg.length));
 * if (r !== "ok" || sent.join() !== "1054,1054,1054") throw new Error(`${r} ${sent}`);
 * ```
 */
export function segmentTcp(
  frame: Uint8Array,
  h: VnetHdr,
  scratch: Uint8Array,
  emit: (segment: Uint8Array) => void,
): "ok" | GsoReason {
  if (h.gsoType & GSO_ECN) return "gso_ecn";
  if (h.gsoType !== GSO_TCPV4 && h.gsoType !== GSO_TCPV6) return "unsupported_gso_type";
  if (h.gsoSize === 0) return "gso_size_zero";
  if (h.hdrLen > frame.length) return "hdr_len_beyond_frame";
  const L: TcpLayout = { l3: 0, l4: 0, hdrLen: 0, v4: false };
  const p = parseTcpFrame(frame, h.gsoType, L);
  if (p !== "ok") return p;
  if ((h.flags & VNET_F_NEEDS_CSUM) && (h.csumStart !== L.l4 || h.csumOffset !== 16)) {
    return "csum_start_mismatch";
  }
  const { l3, l4, hdrLen, v4 } = L;
  const mss = h.gsoSize;
  // The segment starts `base` bytes into `scratch` so that its TCP header sits on a
  // 4-byte boundary of the underlying memory, for the word-wise checksum.
  const base = (4 - ((scratch.byteOffset + l4) & 3)) & 3;
  if (scratch.length < base + hdrLen + Math.min(mss, frame.length - hdrLen)) {
    return "scratch_too_small";
  }
  const out = scratch.subarray(base);
  const words = new Uint32Array(out.buffer, out.byteOffset + l4, (out.length - l4) >>> 2);
  const payload = frame.length - hdrLen;
  const count = payload === 0 ? 1 : Math.ceil(payload / mss);
  const seq0 = ((frame[l4 + 4] << 24) >>> 0) + (frame[l4 + 5] << 16) + (frame[l4 + 6] << 8) +
    frame[l4 + 7];
  const flags0 = frame[l4 + 13];
  const id0 = v4 ? (frame[l3 + 4] << 8) | frame[l3 + 5] : 0;
  const ipHdr = l4 - l3;
  for (let i = 0; i < count; i++) {
    const off = hdrLen + i * mss;
    const len = Math.min(mss, frame.length - off);
    const segLen = hdrLen + len;
    out.set(frame.subarray(0, hdrLen), 0);
    out.set(frame.subarray(off, off + len), hdrLen);
    if (v4) {
      const tot = segLen - l3;
      const id = (id0 + i) & 0xffff;
      out[l3 + 2] = tot >>> 8;
      out[l3 + 3] = tot & 0xff;
      out[l3 + 4] = id >>> 8;
      out[l3 + 5] = id & 0xff;
      out[l3 + 10] = 0;
      out[l3 + 11] = 0;
      const c = internetChecksum(out, l3, ipHdr);
      out[l3 + 10] = c >>> 8;
      out[l3 + 11] = c & 0xff;
    } else {
      const pl = segLen - l3 - 40;
      out[l3 + 4] = pl >>> 8;
      out[l3 + 5] = pl & 0xff;
    }
    const seq = (seq0 + i * mss) % TWO_32;
    out[l4 + 4] = seq >>> 24;
    out[l4 + 5] = (seq >>> 16) & 0xff;
    out[l4 + 6] = (seq >>> 8) & 0xff;
    out[l4 + 7] = seq & 0xff;
    let fl = flags0;
    if (i !== count - 1) fl &= ~0x09; // FIN, PSH on the last segment only
    if (i !== 0) fl &= ~0x80; // CWR on the first only
    out[l4 + 13] = fl;
    const tcpLen = segLen - l4;
    out[l4 + 16] = 0;
    out[l4 + 17] = 0;
    const pseudo = v4
      ? pseudoSumV4(out, l3 + 12, l3 + 16, 6, tcpLen)
      : pseudoSumV6(out, l3 + 8, l3 + 24, 6, tcpLen);
    const c = ~sumAligned(out, words, l4, tcpLen, pseudo) & 0xffff;
    out[l4 + 16] = c >>> 8;
    out[l4 + 17] = c & 0xff;
    emit(out.subarray(0, segLen));
  }
  return "ok";
}

/**
 * Folded big-endian one's complement sum of `len` bytes at `off` of `buf`,
 * wherever they sit in memory: up to 3 bytes one at a time until the address
 * is 4-byte aligned, then `sumAligned` (byte-swapped when that start is an
 * odd number of bytes in: RFC 1071 section 2(B)).
 */
export function fastSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  const abs = buf.byteOffset + off;
  const lead = Math.min(len, (4 - (abs & 3)) & 3);
  let s = initial;
  for (let i = 0; i < lead; i++) s += (i & 1) ? buf[off + i] : buf[off + i] << 8;
  const rest = len - lead;
  if (rest > 0) {
    const start = abs + lead;
    const words = new Uint32Array(buf.buffer, start, rest >>> 2);
    let r = sumAligned(buf, words, off + lead, rest, 0);
    if (lead & 1) r = ((r & 0xff) << 8) | (r >>> 8);
    s += r;
  }
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** What `TcpCoalescer.add` did with a frame. */
export type CoalesceResult = "held" | "pass";

/** TcpCoalescer counters. */
export interface CoalesceCounters {
  /** Segments that joined a pending frame (or started one). */
  segments: number;
  /** Frames written with a GSO header (two or more segments). */
  super_frames: number;
  /** Frames flushed as they came (a single segment). */
  single: number;
  /** Segments whose TCP checksum did not verify (passed on alone). */
  csum_bad: number;
}

/**
 * Joins consecutive segments of one TCP flow into GSO frames (see the module
 * doc). `add` either keeps the frame (a copy) or flushes what it held
 * and says "pass": the caller then writes that frame itself, after the
 * flushed one (order is kept). `flush` ends the pending frame; call it after
 * each batch. Flushed frames reach `out` with their 10-byte vnet header in
 * front (all zero for a single segment), valid until `out` returns.
 *
 * Bounded: one pending frame of at most 64 KiB.
 */
export class TcpCoalescer {
  readonly counters: CoalesceCounters = { segments: 0, super_frames: 0, single: 0, csum_bad: 0 };
  /** vnet header + frame. */
  readonly #buf: Uint8Array;
  readonly #out: (bytes: Uint8Array) => void;
  /** Bytes of frame held (0: nothing pending). */
  #len = 0;
  #count = 0;
  #l4 = 0;
  #hdrLen = 0;
  #v4 = false;
  #gsoSize = 0;
  #nextSeq = 0;

  constructor(out: (bytes: Uint8Array) => void) {
    this.#out = out;
    this.#buf = new Uint8Array(VNET_HDR_LEN + 14 + 65_535);
  }

  /** Keeps `frame` (an Ethernet frame) to join with the next ones, or passes it on. */
  add(frame: Uint8Array): CoalesceResult {
    const t = tcpCandidate(frame);
    if (t === 0) {
      this.flush();
      return "pass";
    }
    const l4 = t >>> 8;
    const v4 = (t & 1) === 1;
    const hdrLen = l4 + (frame[l4 + 12] >> 4) * 4;
    const payload = frame.length - hdrLen;
    const l3 = 14;
    const tcpLen = frame.length - l4;
    const ps = v4
      ? pseudoSumV4(frame, l3 + 12, l3 + 16, 6, tcpLen)
      : pseudoSumV6(frame, l3 + 8, l3 + 24, 6, tcpLen);
    if (fastSum(frame, l4, tcpLen, ps) !== 0xffff) {
      this.counters.csum_bad++;
      this.flush();
      return "pass";
    }
    const seq = be32(frame, l4 + 4);
    if (this.#len > 0 && !this.#joins(frame, l4, v4, hdrLen, payload, seq)) this.flush();
    const b = this.#buf;
    const at = VNET_HDR_LEN;
    if (this.#len === 0) {
      b.set(frame, at);
      this.#len = frame.length;
      this.#count = 1;
      this.#l4 = l4;
      this.#hdrLen = hdrLen;
      this.#v4 = v4;
      this.#gsoSize = payload;
    } else {
      b.set(frame.subarray(hdrLen), at + this.#len);
      this.#len += payload;
      this.#count++;
      // PSH of a later segment goes on the joined header.
      b[at + l4 + 13] |= frame[l4 + 13] & 0x08;
    }
    this.counters.segments++;
    this.#nextSeq = (seq + payload) % TWO_32;
    // A short segment or PSH ends the frame, as does not having room for another segment.
    if (
      payload < this.#gsoSize || (frame[l4 + 13] & 0x08) ||
      this.#len - l3 + this.#gsoSize > 65_535
    ) {
      this.flush();
    }
    return "held";
  }

  #joins(f: Uint8Array, l4: number, v4: boolean, hdrLen: number, pl: number, seq: number): boolean {
    if (v4 !== this.#v4 || l4 !== this.#l4 || hdrLen !== this.#hdrLen) return false;
    if (seq !== this.#nextSeq || pl > this.#gsoSize) return false;
    if (this.#len - 14 + pl > 65_535) return false;
    const b = this.#buf;
    const at = VNET_HDR_LEN;
    const same = (from: number, to: number) => {
      for (let i = from; i < to; i++) if (b[at + i] !== f[i]) return false;
      return true;
    };
    // Ethernet header; IP fields but lengths, id, checksum; ports; ack, offset, window;
    // options. The flag byte (l4 + 13) is ACK alone here, or ACK|PSH (checked by tcpCandidate).
    const ipSame = v4 ? same(0, 16) && same(20, 24) && same(26, 34) : same(0, 18) && same(20, 54);
    return ipSame && same(l4, l4 + 4) && same(l4 + 8, l4 + 13) && same(l4 + 14, l4 + 16) &&
      same(l4 + 20, hdrLen);
  }

  /** Hands the pending frame (if any) to `out`. */
  flush(): void {
    const n = this.#len;
    if (n === 0) return;
    const b = this.#buf;
    const at = VNET_HDR_LEN;
    const f = b.subarray(at, at + n);
    b.fill(0, 0, VNET_HDR_LEN);
    if (this.#count === 1) {
      this.counters.single++;
    } else {
      this.counters.super_frames++;
      const l3 = 14;
      const l4 = this.#l4;
      if (this.#v4) {
        const tot = n - l3;
        f[l3 + 2] = tot >>> 8;
        f[l3 + 3] = tot & 0xff;
        f[l3 + 10] = 0;
        f[l3 + 11] = 0;
        const c = internetChecksum(f, l3, l4 - l3);
        f[l3 + 10] = c >>> 8;
        f[l3 + 11] = c & 0xff;
      } else {
        const pl = n - l3 - 40;
        f[l3 + 4] = pl >>> 8;
        f[l3 + 5] = pl & 0xff;
      }
      // A partial checksum: the pseudo-header sum, for the kernel to complete or trust.
      const tcpLen = n - l4;
      const ps = this.#v4
        ? pseudoSumV4(f, l3 + 12, l3 + 16, 6, tcpLen)
        : pseudoSumV6(f, l3 + 8, l3 + 24, 6, tcpLen);
      f[l4 + 16] = ps >>> 8;
      f[l4 + 17] = ps & 0xff;
      writeVnetHdr(b, 0, {
        flags: VNET_F_NEEDS_CSUM,
        gsoType: this.#v4 ? GSO_TCPV4 : GSO_TCPV6,
        hdrLen: this.#hdrLen,
        gsoSize: this.#gsoSize,
        csumStart: l4,
        csumOffset: 16,
      });
    }
    this.#len = 0;
    this.#count = 0;
    this.#out(b.subarray(0, at + n));
  }
}

const be32 = (b: Uint8Array, o: number) =>
  ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];

/**
 * 0 when `frame` cannot be coalesced; else (TCP header offset << 8) | (1 for
 * IPv4): untagged, IPv4 without options or fragments or IPv6 without
 * extension headers, lengths consistent with the frame, TCP with payload and
 * only ACK (or ACK|PSH) set.
 */
function tcpCandidate(f: Uint8Array): number {
  if (f.length < 14 + 20 + 20 + 1) return 0;
  const type = (f[12] << 8) | f[13];
  let l4: number;
  let v4 = 0;
  if (type === 0x0800) {
    if (f[14] !== 0x45 || f[23] !== 6) return 0;
    if ((f[20] & 0x3f) !== 0 || f[21] !== 0) return 0;
    if (((f[16] << 8) | f[17]) !== f.length - 14) return 0;
    l4 = 34;
    v4 = 1;
  } else if (type === 0x86dd) {
    if (f[14] >> 4 !== 6 || f[20] !== 6) return 0;
    if (((f[18] << 8) | f[19]) !== f.length - 54) return 0;
    l4 = 54;
  } else {
    return 0;
  }
  if (f.length < l4 + 21) return 0;
  const doff = (f[l4 + 12] >> 4) * 4;
  if (doff < 20 || f.length <= l4 + doff) return 0;
  const fl = f[l4 + 13];
  if (fl !== 0x10 && fl !== 0x18) return 0;
  return (l4 << 8) | v4;
}

/**
 * One frame as read from a vnet-header TAP (header already decoded into
 * `h`, `frame` the bytes after it), turned into wire frames for `emit`:
 * a GSO frame through `segmentTcp`, a `NEEDS_CSUM` frame completed in place
 * (`frame` is modified) and emitted, anything else emitted as is. Returns
 * "ok" or why the frame was refused (then nothing was emitted).
 */
export function offloadFrame(
  frame: Uint8Array,
  h: VnetHdr,
  scratch: Uint8Array,
  emit: (segment: Uint8Array) => void,
): "ok" | GsoReason {
  if (h.gsoType !== GSO_NONE) return segmentTcp(frame, h, scratch, emit);
  if (h.flags & VNET_F_NEEDS_CSUM) {
    const r = completeChecksum(frame, h.csumStart, h.csumOffset);
    if (r !== "ok") return r;
  }
  emit(frame);
  return "ok";
}
