/**
 * IPv6 fixed headers (RFC 8200 section 3) and the walk over extension headers
 * (RFC 8200 section 4) to the upper-layer header.
 *
 * `check()` validates the fixed header and the payload length, then walks
 * Hop-by-Hop Options (0, only directly after the fixed header, 4.3), Routing
 * (43, 4.4), Fragment (44, 4.5) and Destination Options (60, 4.6). It stops
 * at the first other Next Header value (ICMPv6 58, UDP 17, No Next Header 59,
 * ESP, AH, anything unknown) and records where that header starts. In a
 * fragment other than the first, the upper-layer header is not in this
 * packet: `upperInThisPacket` is false. Bytes after the payload length
 * (Ethernet padding) are not payload.
 *
 * `checkHeader()` is the door for code that rewrites the Payload Length
 * itself (TCP segmentation and coalescing, `core/gso.ts`): version 6 and the
 * fixed header fit; the Payload Length is not judged and extension headers
 * are not walked. The `payloadLength` setter is for such rewriting; it
 * changes the bytes, not the view's extent.
 *
 * Not done here: Jumbo Payload (RFC 2675; payload length 0 with a Jumbo
 * option is read as an empty payload and the HBH header then fails to fit),
 * walking through AH (RFC 4302), option TLV parsing inside HBH/DestOpts, the
 * final destination of a Routing header for pseudo-headers (callers that
 * need it read the routing header themselves), reassembly.
 *
 * @module
 */
import { type Checked, EMPTY, put16, u16, u32 } from "./checked.ts";

/** Offsets of the fixed header (RFC 8200 section 3). */
export const IPV6 = {
  /** Version (4 bits), Traffic Class (8 bits), Flow Label (20 bits). */
  VER_TC_FL: 0,
  /** Payload Length: octets after the fixed header, extension headers included. */
  PAYLOAD_LEN: 4,
  /** Next Header. */
  NEXT_HEADER: 6,
  /** Hop Limit. */
  HOP_LIMIT: 7,
  /** Source Address (16 octets). */
  SRC: 8,
  /** Destination Address (16 octets). */
  DST: 24,
  /** Fixed header length. */
  HEADER_LEN: 40,
} as const;

/** Next Header values the walk understands (RFC 8200 section 4.1), and a few it stops at. */
export const NEXT_HEADER = {
  HOP_BY_HOP: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ICMPV6: 58,
  NO_NEXT: 59,
  DEST_OPTS: 60,
} as const;

/** Offsets inside the Fragment header (RFC 8200 section 4.5). */
export const IPV6_FRAG = {
  NEXT_HEADER: 0,
  /** Fragment Offset (13 bits, 8-octet units), 2 reserved bits, M flag. */
  OFFSET_M: 2,
  IDENT: 4,
  LEN: 8,
} as const;

/** Extension headers the walk follows before giving up. */
export const MAX_EXT_HEADERS = 8;

/** Why bytes are not an IPv6 packet we can walk. */
export type Ipv6Reason =
  | "ok"
  | "ipv6-truncated"
  | "ipv6-bad-version"
  | "ipv6-bad-payload-length"
  | "ipv6-ext-truncated"
  | "ipv6-hbh-not-first"
  | "ipv6-too-many-ext";

/** The meaning of the fixed header. */
export interface Ipv6Repr {
  trafficClass: number;
  flowLabel: number;
  nextHeader: number;
  hopLimit: number;
  /** 16-byte copies. */
  src: Uint8Array;
  dst: Uint8Array;
  payloadLength: number;
}

/**
 * A view over an IPv6 packet, with the result of the extension-header walk.
 *
 * @example
 * ```ts
 * import { Ipv6Packet } from "./ipv6.ts";
 * const p = new Ipv6Packet();
 * const b = new Uint8Array(48);
 * b[0] = 0x60, b[5] = 8, b[6] = 17;
 * p.check(b); // "ok"; p.upperProtocol === 17, p.upperOffset === 40
 * ```
 */
export class Ipv6Packet {
  buf: Uint8Array = EMPTY;
  off = 0;
  /**
   * Bytes of the packet in the view: fixed header + Payload Length after
   * `check()`; the bytes given after `checkHeader()`.
   */
  len = 0;
  /** Next Header value of the upper layer the walk stopped at; -1 after `checkHeader()`. */
  upperProtocol = 0;
  /** Absolute offset where the walk stopped; the end of the fixed header after `checkHeader()`. */
  upperOffset = 0;
  /** Number of extension headers walked. */
  extCount = 0;
  /** Absolute offset of the Fragment header, or -1. */
  fragmentHeaderOffset = -1;

  /** The one door for untrusted bytes: fixed header, payload and extension headers fit. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): Ipv6Reason {
    this.unbind();
    if (off < 0 || off + len > buf.length || len < IPV6.HEADER_LEN) return "ipv6-truncated";
    if (buf[off] >>> 4 !== 6) return "ipv6-bad-version";
    const plen = u16(buf, off + IPV6.PAYLOAD_LEN);
    if (IPV6.HEADER_LEN + plen > len) return "ipv6-bad-payload-length";
    const end = off + IPV6.HEADER_LEN + plen;
    let nh = buf[off + IPV6.NEXT_HEADER];
    let p = off + IPV6.HEADER_LEN;
    let count = 0;
    let frag = -1;
    for (;;) {
      if (
        nh !== NEXT_HEADER.HOP_BY_HOP && nh !== NEXT_HEADER.ROUTING &&
        nh !== NEXT_HEADER.FRAGMENT && nh !== NEXT_HEADER.DEST_OPTS
      ) break;
      if (nh === NEXT_HEADER.HOP_BY_HOP && count !== 0) return "ipv6-hbh-not-first";
      if (count === MAX_EXT_HEADERS) return "ipv6-too-many-ext";
      if (p + 8 > end) return "ipv6-ext-truncated";
      count++;
      if (nh === NEXT_HEADER.FRAGMENT) {
        frag = p;
        nh = buf[p + IPV6_FRAG.NEXT_HEADER];
        p += IPV6_FRAG.LEN;
        // In a fragment other than the first, what follows is not a header.
        if ((u16(buf, frag + IPV6_FRAG.OFFSET_M) & 0xfff8) !== 0) break;
        continue;
      }
      const hl = (buf[p + 1] + 1) * 8;
      if (p + hl > end) return "ipv6-ext-truncated";
      nh = buf[p];
      p += hl;
    }
    this.buf = buf;
    this.off = off;
    this.len = IPV6.HEADER_LEN + plen;
    this.upperProtocol = nh;
    this.upperOffset = p;
    this.extCount = count;
    this.fragmentHeaderOffset = frag;
    return "ok";
  }

  /**
   * The door for code that rewrites the Payload Length: version 6 and the
   * fixed header fit `len`; the Payload Length is not judged, extension
   * headers are not walked (`upperProtocol` is -1; read `nextHeader`), and
   * the view holds all `len` bytes.
   */
  checkHeader(buf: Uint8Array, off = 0, len = buf.length - off): Ipv6Reason {
    this.unbind();
    if (off < 0 || off + len > buf.length || len < IPV6.HEADER_LEN) return "ipv6-truncated";
    if (buf[off] >>> 4 !== 6) return "ipv6-bad-version";
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.upperProtocol = -1;
    this.upperOffset = off + IPV6.HEADER_LEN;
    return "ok";
  }

  private unbind(): void {
    this.buf = EMPTY;
    this.off =
      this.len =
      this.upperProtocol =
      this.upperOffset =
      this.extCount =
        0;
    this.fragmentHeaderOffset = -1;
  }

  get trafficClass(): number {
    return (u16(this.buf, this.off) >>> 4) & 0xff;
  }
  get flowLabel(): number {
    return u32(this.buf, this.off) & 0xfffff;
  }
  /** The Payload Length field (`len` less the fixed header after `check()`). */
  get payloadLength(): number {
    return u16(this.buf, this.off + IPV6.PAYLOAD_LEN);
  }
  set payloadLength(v: number) {
    put16(this.buf, this.off + IPV6.PAYLOAD_LEN, v);
  }
  get nextHeader(): number {
    return this.buf[this.off + IPV6.NEXT_HEADER];
  }
  get hopLimit(): number {
    return this.buf[this.off + IPV6.HOP_LIMIT];
  }
  /** Absolute offsets of the addresses (for pseudo-headers). */
  get srcOffset(): number {
    return this.off + IPV6.SRC;
  }
  get dstOffset(): number {
    return this.off + IPV6.DST;
  }
  /** True when the destination is a multicast address (ff00::/8, RFC 4291 section 2.7). */
  get dstIsMulticast(): boolean {
    return this.buf[this.off + IPV6.DST] === 0xff;
  }
  /** True when the source is link-local unicast (fe80::/10, RFC 4291 section 2.5.6). */
  get srcIsLinkLocal(): boolean {
    return this.buf[this.off + IPV6.SRC] === 0xfe &&
      (this.buf[this.off + IPV6.SRC + 1] & 0xc0) === 0x80;
  }
  /** Bytes from the upper-layer header to the end of the payload. */
  get upperLength(): number {
    return this.off + this.len - this.upperOffset;
  }
  /** True when a Fragment header is present (even an atomic one, RFC 8200 4.5). */
  get hasFragmentHeader(): boolean {
    return this.fragmentHeaderOffset >= 0;
  }
  /** True when the packet is a real fragment (offset non-zero or M set). */
  get isFragment(): boolean {
    const f = this.fragmentHeaderOffset;
    return f >= 0 && (u16(this.buf, f + IPV6_FRAG.OFFSET_M) & 0xfff9) !== 0;
  }
  /** False in fragments other than the first: the upper-layer header is elsewhere. */
  get upperInThisPacket(): boolean {
    const f = this.fragmentHeaderOffset;
    return f < 0 || (u16(this.buf, f + IPV6_FRAG.OFFSET_M) & 0xfff8) === 0;
  }
}

/** Parses a checked packet's fixed header. */
export function parseIpv6(p: Ipv6Packet): Checked<Ipv6Repr, Ipv6Reason> {
  return {
    ok: true,
    value: {
      trafficClass: p.trafficClass,
      flowLabel: p.flowLabel,
      nextHeader: p.nextHeader,
      hopLimit: p.hopLimit,
      src: p.buf.slice(p.srcOffset, p.srcOffset + 16),
      dst: p.buf.slice(p.dstOffset, p.dstOffset + 16),
      payloadLength: p.payloadLength,
    },
  };
}

/** Header length `emitIpv6` writes. */
export function ipv6HeaderLength(_r: Ipv6Repr): number {
  return IPV6.HEADER_LEN;
}

/** Writes the fixed header of `r` at `off`. */
export function emitIpv6(r: Ipv6Repr, buf: Uint8Array, off: number): void {
  const w = (0x6 << 28) | ((r.trafficClass & 0xff) << 20) | (r.flowLabel & 0xfffff);
  put16(buf, off, w >>> 16);
  put16(buf, off + 2, w & 0xffff);
  put16(buf, off + IPV6.PAYLOAD_LEN, r.payloadLength);
  buf[off + IPV6.NEXT_HEADER] = r.nextHeader;
  buf[off + IPV6.HOP_LIMIT] = r.hopLimit;
  buf.set(r.src, off + IPV6.SRC);
  buf.set(r.dst, off + IPV6.DST);
}
