/**
 * TCP segmentation offload in user space: what a TAP device opened with
 * IFF_VNET_HDR and TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
 * hands over, turned back into wire-sized Ethernet frames.
 *
 * Each frame read from such a device starts with a `virtio_net_hdr`
 * (`core/wire/virtio_net.ts`, re-exported here). Every other header is read
 * and rewritten through the views of `core/wire/` (Ethernet, IPv4, IPv6,
 * TCP), checked once per frame.
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
 * The IP length fields of a super-frame are not judged (the IPv4 and IPv6
 * views' `checkHeader()`): as in Linux's inet_gso_segment and
 * ipv6_gso_segment, the frame's length is the truth and every segment gets
 * its own. Frames are untagged or carry one 802.1Q tag; IPv6 frames with extension
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
import { ETH, EthernetFrame, ETHERTYPE } from "./wire/ethernet.ts";
import { IPV4, Ipv4Packet } from "./wire/ipv4.ts";
import { IPV6, Ipv6Packet } from "./wire/ipv6.ts";
import { TCP, TCP_FLAG, TCP_PROTOCOL, TcpSegment } from "./wire/tcp.ts";
import { TPID_8021Q } from "./wire/vlan.ts";
import {
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  type VnetHdr,
  writeVnetHdr,
} from "./wire/virtio_net.ts";

export {
  emptyVnetHdr,
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP,
  GSO_UDP_L4,
  readVnetHdr,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  writeVnetHdr,
} from "./wire/virtio_net.ts";
export type { VnetHdr } from "./wire/virtio_net.ts";

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
  // Untagged or one 802.1Q tag.
  const eth = new EthernetFrame();
  if (eth.check(frame) !== "ok" || eth.tagCount > 1) return "not_ip";
  if (eth.tagCount === 1 && eth.tagTpid(0) !== TPID_8021Q) return "not_ip";
  const l3 = eth.payloadOffset;
  // The IP lengths are not judged: as Linux's GSO does, the frame's length is
  // the truth and every segment gets its own.
  let ip4: Ipv4Packet | null = null;
  let ip6: Ipv6Packet | null = null;
  let l4: number;
  if (eth.etherType === ETHERTYPE.IPV4) {
    if (h.gsoType !== GSO_TCPV4) return "ip_version_mismatch";
    ip4 = new Ipv4Packet();
    if (ip4.checkHeader(frame, l3) !== "ok") return "bad_ip_header";
    // MF set or a fragment offset: not a whole TCP segment.
    if (ip4.isFragment) return "ip_fragment";
    if (ip4.protocol !== TCP_PROTOCOL) return "not_tcp";
    l4 = ip4.payloadOffset;
  } else if (eth.etherType === ETHERTYPE.IPV6) {
    if (h.gsoType !== GSO_TCPV6) return "ip_version_mismatch";
    ip6 = new Ipv6Packet();
    if (ip6.checkHeader(frame, l3) !== "ok") return "bad_ip_header";
    // Extension headers are refused too.
    if (ip6.nextHeader !== TCP_PROTOCOL) return "not_tcp";
    l4 = ip6.upperOffset;
  } else {
    return "not_ip";
  }
  const tcp = new TcpSegment();
  if (tcp.check(frame, l4, frame.length - l4) !== "ok") return "bad_tcp_header";
  const hdrLen = tcp.payloadOffset;
  if ((h.flags & VNET_F_NEEDS_CSUM) && (h.csumStart !== l4 || h.csumOffset !== TCP.CHECKSUM)) {
    return "csum_start_mismatch";
  }
  const mss = h.gsoSize;
  // The segment starts `base` bytes into `scratch` so that its TCP header sits on a
  // 4-byte boundary of the underlying memory, for the word-wise checksum.
  const base = (4 - ((scratch.byteOffset + l4) & 3)) & 3;
  if (scratch.length < base + hdrLen + Math.min(mss, frame.length - hdrLen)) {
    return "scratch_too_small";
  }
  const seq0 = tcp.seq;
  const flags0 = tcp.flags;
  const id0 = ip4 !== null ? ip4.ident : 0;
  // From here the views point at the copy of the headers in `scratch`, rewritten per segment.
  scratch.set(frame.subarray(0, hdrLen), base);
  if (ip4 !== null) ip4.checkHeader(scratch, base + l3, hdrLen - l3);
  else ip6!.checkHeader(scratch, base + l3, hdrLen - l3);
  tcp.check(scratch, base + l4, hdrLen - l4);
  const words = new Uint32Array(
    scratch.buffer,
    scratch.byteOffset + base + l4,
    (scratch.length - base - l4) >>> 2,
  );
  const payload = frame.length - hdrLen;
  const count = payload === 0 ? 1 : Math.ceil(payload / mss);
  for (let i = 0; i < count; i++) {
    const off = hdrLen + i * mss;
    const len = Math.min(mss, frame.length - off);
    const segLen = hdrLen + len;
    // `emit` may have changed the previous segment's headers: copy them again.
    scratch.set(frame.subarray(0, hdrLen), base);
    scratch.set(frame.subarray(off, off + len), base + hdrLen);
    const tcpLen = segLen - l4;
    let pseudo: number;
    if (ip4 !== null) {
      ip4.totalLength = segLen - l3;
      ip4.ident = (id0 + i) & 0xffff;
      ip4.fillChecksum();
      pseudo = pseudoSumV4(scratch, ip4.srcOffset, ip4.dstOffset, TCP_PROTOCOL, tcpLen);
    } else {
      ip6!.payloadLength = segLen - l3 - IPV6.HEADER_LEN;
      pseudo = pseudoSumV6(scratch, ip6!.srcOffset, ip6!.dstOffset, TCP_PROTOCOL, tcpLen);
    }
    tcp.seq = (seq0 + i * mss) % TWO_32;
    let fl = flags0;
    if (i !== count - 1) fl &= ~(TCP_FLAG.FIN | TCP_FLAG.PSH); // on the last segment only
    if (i !== 0) fl &= ~TCP_FLAG.CWR; // on the first only
    tcp.flags = fl;
    tcp.checksum = 0;
    tcp.checksum = ~sumAligned(scratch, words, base + l4, tcpLen, pseudo) & 0xffff;
    emit(scratch.subarray(base, base + segLen));
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
  /** Views over the frame `add` is given. */
  readonly #eth = new EthernetFrame();
  readonly #ip4 = new Ipv4Packet();
  readonly #ip6 = new Ipv6Packet();
  readonly #tcp = new TcpSegment();
  /** Views over the pending frame's headers in `#buf`, bound when it starts. */
  readonly #held4 = new Ipv4Packet();
  readonly #held6 = new Ipv6Packet();
  readonly #heldTcp = new TcpSegment();
  readonly #vnet: VnetHdr = {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: GSO_NONE,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: 0,
    csumOffset: TCP.CHECKSUM,
  };
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
    this.#buf = new Uint8Array(VNET_HDR_LEN + ETH.HEADER_LEN + 65_535);
  }

  /** Keeps `frame` (an Ethernet frame) to join with the next ones, or passes it on. */
  add(frame: Uint8Array): CoalesceResult {
    if (!this.#candidate(frame)) {
      this.flush();
      return "pass";
    }
    const v4 = this.#eth.etherType === ETHERTYPE.IPV4;
    const t = this.#tcp;
    const l3 = this.#eth.payloadOffset;
    const l4 = t.off;
    const hdrLen = t.payloadOffset;
    const payload = t.payloadLength;
    const ps = v4
      ? pseudoSumV4(frame, this.#ip4.srcOffset, this.#ip4.dstOffset, TCP_PROTOCOL, t.len)
      : pseudoSumV6(frame, this.#ip6.srcOffset, this.#ip6.dstOffset, TCP_PROTOCOL, t.len);
    if (fastSum(frame, l4, t.len, ps) !== 0xffff) {
      this.counters.csum_bad++;
      this.flush();
      return "pass";
    }
    const seq = t.seq;
    const push = (t.flags & TCP_FLAG.PSH) !== 0;
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
      // The copy of headers `#candidate` checked: these cannot fail.
      if (v4) this.#held4.checkHeader(b, at + l3, frame.length - l3);
      else this.#held6.checkHeader(b, at + l3, frame.length - l3);
      this.#heldTcp.check(b, at + l4, hdrLen - l4);
    } else {
      b.set(frame.subarray(hdrLen), at + this.#len);
      this.#len += payload;
      this.#count++;
      // PSH of a later segment goes on the joined header.
      if (push) this.#heldTcp.flags |= TCP_FLAG.PSH;
    }
    this.counters.segments++;
    this.#nextSeq = (seq + payload) % TWO_32;
    // A short segment or PSH ends the frame, as does not having room for another segment.
    if (payload < this.#gsoSize || push || this.#len - l3 + this.#gsoSize > 65_535) {
      this.flush();
    }
    return "held";
  }

  /**
   * Binds the views to `f` and says whether it may join a coalesced frame:
   * untagged; IPv4 without options or fragments, or IPv6 without extension
   * headers; IP lengths equal to the frame's (no padding); TCP with payload
   * and only ACK (or ACK|PSH) set.
   */
  #candidate(f: Uint8Array): boolean {
    const eth = this.#eth;
    if (eth.check(f) !== "ok" || eth.tagCount !== 0) return false;
    const l3 = eth.payloadOffset;
    let l4: number;
    if (eth.etherType === ETHERTYPE.IPV4) {
      const ip = this.#ip4;
      if (ip.check(f, l3) !== "ok" || ip.len !== f.length - l3) return false;
      if (ip.headerLength !== IPV4.MIN_LEN || ip.isFragment || ip.protocol !== TCP_PROTOCOL) {
        return false;
      }
      l4 = ip.payloadOffset;
    } else if (eth.etherType === ETHERTYPE.IPV6) {
      const ip = this.#ip6;
      if (ip.check(f, l3) !== "ok" || ip.len !== f.length - l3) return false;
      if (ip.nextHeader !== TCP_PROTOCOL) return false;
      l4 = ip.upperOffset;
    } else {
      return false;
    }
    const t = this.#tcp;
    if (t.check(f, l4, f.length - l4) !== "ok" || t.payloadLength === 0) return false;
    return t.flags === TCP_FLAG.ACK || t.flags === (TCP_FLAG.ACK | TCP_FLAG.PSH);
  }

  #joins(f: Uint8Array, l4: number, v4: boolean, hdrLen: number, pl: number, seq: number): boolean {
    if (v4 !== this.#v4 || l4 !== this.#l4 || hdrLen !== this.#hdrLen) return false;
    if (seq !== this.#nextSeq || pl > this.#gsoSize) return false;
    const l3 = ETH.HEADER_LEN;
    if (this.#len - l3 + pl > 65_535) return false;
    const b = this.#buf;
    const at = VNET_HDR_LEN;
    // The GRO rule: every header byte the same but the IP lengths, the IPv4 id and
    // checksum, the sequence number, the flags (ACK, or ACK|PSH: `#candidate`), the TCP
    // checksum and urgent pointer (URG is not set). Ranges named by core/wire's tables.
    const ipSame = v4
      ? same(b, at, f, 0, l3 + IPV4.TOTAL_LEN) &&
        same(b, at, f, l3 + IPV4.FLAGS_FRAG, l3 + IPV4.CHECKSUM) &&
        same(b, at, f, l3 + IPV4.SRC, l4)
      : same(b, at, f, 0, l3 + IPV6.PAYLOAD_LEN) && same(b, at, f, l3 + IPV6.NEXT_HEADER, l4);
    return ipSame && same(b, at, f, l4 + TCP.SRC_PORT, l4 + TCP.SEQ) &&
      same(b, at, f, l4 + TCP.ACK, l4 + TCP.FLAGS) &&
      same(b, at, f, l4 + TCP.WINDOW, l4 + TCP.CHECKSUM) &&
      same(b, at, f, l4 + TCP.OPTIONS, hdrLen);
  }

  /** Hands the pending frame (if any) to `out`. */
  flush(): void {
    const n = this.#len;
    if (n === 0) return;
    const b = this.#buf;
    const at = VNET_HDR_LEN;
    b.fill(0, 0, at);
    if (this.#count === 1) {
      this.counters.single++;
    } else {
      this.counters.super_frames++;
      const l3 = ETH.HEADER_LEN;
      const tcpLen = n - this.#l4;
      let ps: number;
      if (this.#v4) {
        const ip = this.#held4;
        ip.totalLength = n - l3;
        ip.fillChecksum();
        ps = pseudoSumV4(b, ip.srcOffset, ip.dstOffset, TCP_PROTOCOL, tcpLen);
      } else {
        const ip = this.#held6;
        ip.payloadLength = n - l3 - IPV6.HEADER_LEN;
        ps = pseudoSumV6(b, ip.srcOffset, ip.dstOffset, TCP_PROTOCOL, tcpLen);
      }
      // A partial checksum: the pseudo-header sum, for the kernel to complete or trust.
      this.#heldTcp.checksum = ps;
      const v = this.#vnet;
      v.gsoType = this.#v4 ? GSO_TCPV4 : GSO_TCPV6;
      v.hdrLen = this.#hdrLen;
      v.gsoSize = this.#gsoSize;
      v.csumStart = this.#l4;
      writeVnetHdr(b, 0, v);
    }
    this.#len = 0;
    this.#count = 0;
    this.#out(b.subarray(0, at + n));
  }
}

/** True when `a[aAt + i] === f[i]` for every i in [from, to). */
function same(a: Uint8Array, aAt: number, f: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (a[aAt + i] !== f[i]) return false;
  return true;
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
