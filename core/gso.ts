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
 * Not done here: UDP fragmentation offload, coalescing received segments
 * (GRO), tunnel (encapsulated) GSO types.
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
 * ```ts ignore
 * import { segmentTcp } from "./gso.ts";
 * segmentTcp(superFrame, hdr, new Uint8Array(2048), (seg) => send(seg));
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
