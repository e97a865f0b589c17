/**
 * IPv4 headers (RFC 791 section 3.1) with the header checksum (RFC 791,
 * computed as in RFC 1071).
 *
 * `check()` validates structure only: version 4, IHL >= 5, the header and the
 * total length fit the buffer. The header checksum is verified separately
 * (`checksumValid()`), so that a translator that patches checksums
 * incrementally (RFC 1624) carries a sender's error through instead of hiding
 * it. Bytes after the total length (Ethernet padding) are not payload.
 * Unknown protocol numbers and options pass through.
 *
 * `checkHeader()` is the door for code that rewrites the lengths itself (TCP
 * segmentation and coalescing, `core/gso.ts`, as Linux's GSO does): the
 * header must be an IPv4 header that fits, and the Total Length is not
 * judged. The setters (`totalLength`, `ident`) and `fillChecksum()` are for
 * such rewriting; they change the bytes, not the view's extent.
 *
 * Not done here: option parsing (options are kept as bytes), reassembly,
 * source-route handling.
 *
 * @module
 */
import { internetChecksum } from "../checksum.ts";
import { type Checked, EMPTY, put16, put32, u16, u32 } from "./checked.ts";

/** Offsets (RFC 791 section 3.1, "Internet Header Format"). */
export const IPV4 = {
  /** Version (4 bits) and IHL (4 bits, header length in 32-bit words). */
  VER_IHL: 0,
  /** Type of Service, now DSCP + ECN (RFC 2474, RFC 3168). */
  TOS: 1,
  /** Total Length of header and data in octets. */
  TOTAL_LEN: 2,
  /** Identification. */
  IDENT: 4,
  /** Flags (3 bits: 0, DF, MF) and Fragment Offset (13 bits, 8-octet units). */
  FLAGS_FRAG: 6,
  /** Time to Live. */
  TTL: 8,
  /** Protocol (IANA protocol numbers; 17 = UDP). */
  PROTOCOL: 9,
  /** Header Checksum. */
  CHECKSUM: 10,
  /** Source Address. */
  SRC: 12,
  /** Destination Address. */
  DST: 16,
  /** Options start here when IHL > 5. */
  OPTIONS: 20,
  /** Minimum header length. */
  MIN_LEN: 20,
} as const;

/** Protocol numbers this code base names. */
export const IP_PROTO = { ICMP: 1, TCP: 6, UDP: 17, IPV6_ICMP: 58, L2TP: 115 } as const;

/** Why bytes are not an IPv4 packet. */
export type Ipv4Reason =
  | "ok"
  | "ipv4-truncated"
  | "ipv4-bad-version"
  | "ipv4-bad-ihl"
  | "ipv4-bad-total-length";

/** The meaning of an IPv4 header. */
export interface Ipv4Repr {
  tos: number;
  ident: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In 8-octet units. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  /** Addresses as unsigned 32-bit numbers. */
  src: number;
  dst: number;
  /** Raw option bytes, a multiple of 4 long (0..40). */
  options: Uint8Array;
  payloadLength: number;
}

/**
 * A view over an IPv4 packet.
 *
 * @example
 * ```ts
 * import { Ipv4Packet } from "./ipv4.ts";
 * const p = new Ipv4Packet();
 * const b = new Uint8Array(20);
 * b[0] = 0x45, b[3] = 20;
 * p.check(b); // "ok"; p.payloadLength === 0
 * ```
 */
export class Ipv4Packet {
  buf: Uint8Array = EMPTY;
  off = 0;
  /**
   * Bytes of the packet in the view: the Total Length after `check()`; the
   * bytes given after `checkHeader()`.
   */
  len = 0;

  /** The one door for untrusted bytes: the header and the Total Length fit `len`. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): Ipv4Reason {
    const r = this.checkHeader(buf, off, len);
    if (r !== "ok") return r;
    const total = u16(buf, off + IPV4.TOTAL_LEN);
    if (total < this.headerLength || total > len) {
      this.unbind();
      return "ipv4-bad-total-length";
    }
    this.len = total;
    return "ok";
  }

  /**
   * The door for code that rewrites the lengths: version 4, IHL >= 5 and the
   * header (options included) fit `len`; the Total Length is not judged and
   * the view holds all `len` bytes.
   */
  checkHeader(buf: Uint8Array, off = 0, len = buf.length - off): Ipv4Reason {
    this.unbind();
    if (off < 0 || off + len > buf.length || len < IPV4.MIN_LEN) return "ipv4-truncated";
    if (buf[off] >>> 4 !== 4) return "ipv4-bad-version";
    const hl = (buf[off] & 0x0f) * 4;
    if (hl < IPV4.MIN_LEN) return "ipv4-bad-ihl";
    if (hl > len) return "ipv4-truncated";
    this.buf = buf;
    this.off = off;
    this.len = len;
    return "ok";
  }

  private unbind(): void {
    this.buf = EMPTY;
    this.off = this.len = 0;
  }

  get headerLength(): number {
    return (this.buf[this.off] & 0x0f) * 4;
  }
  get tos(): number {
    return this.buf[this.off + IPV4.TOS];
  }
  /** The Total Length field (equal to `len` after `check()`). */
  get totalLength(): number {
    return u16(this.buf, this.off + IPV4.TOTAL_LEN);
  }
  set totalLength(v: number) {
    put16(this.buf, this.off + IPV4.TOTAL_LEN, v);
  }
  get ident(): number {
    return u16(this.buf, this.off + IPV4.IDENT);
  }
  set ident(v: number) {
    put16(this.buf, this.off + IPV4.IDENT, v);
  }
  get dontFragment(): boolean {
    return (this.buf[this.off + IPV4.FLAGS_FRAG] & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.buf[this.off + IPV4.FLAGS_FRAG] & 0x20) !== 0;
  }
  /** Fragment offset in 8-octet units. */
  get fragmentOffset(): number {
    return u16(this.buf, this.off + IPV4.FLAGS_FRAG) & 0x1fff;
  }
  /** True when this packet is a fragment (MF set or offset non-zero). */
  get isFragment(): boolean {
    return this.moreFragments || this.fragmentOffset !== 0;
  }
  get ttl(): number {
    return this.buf[this.off + IPV4.TTL];
  }
  get protocol(): number {
    return this.buf[this.off + IPV4.PROTOCOL];
  }
  get checksum(): number {
    return u16(this.buf, this.off + IPV4.CHECKSUM);
  }
  get src(): number {
    return u32(this.buf, this.off + IPV4.SRC);
  }
  get dst(): number {
    return u32(this.buf, this.off + IPV4.DST);
  }
  /** True when the destination is a multicast address (224.0.0.0/4, RFC 5771). */
  get dstIsMulticast(): boolean {
    return this.buf[this.off + IPV4.DST] >>> 4 === 0xe;
  }
  /** Absolute offset of the source address (for pseudo-headers). */
  get srcOffset(): number {
    return this.off + IPV4.SRC;
  }
  /** Absolute offset of the destination address. */
  get dstOffset(): number {
    return this.off + IPV4.DST;
  }
  /** Absolute offset of the payload. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }
  /** Payload bytes in the view (`len` less the header). */
  get payloadLength(): number {
    return this.len - this.headerLength;
  }
  /** True when the header checksum verifies (RFC 791; sum over the header is 0xffff). */
  checksumValid(): boolean {
    return internetChecksum(this.buf, this.off, this.headerLength) === 0;
  }
  /** Recomputes and stores the header checksum. */
  fillChecksum(): void {
    put16(this.buf, this.off + IPV4.CHECKSUM, 0);
    put16(
      this.buf,
      this.off + IPV4.CHECKSUM,
      internetChecksum(this.buf, this.off, this.headerLength),
    );
  }
}

/** Parses a checked header. */
export function parseIpv4(p: Ipv4Packet): Checked<Ipv4Repr, Ipv4Reason> {
  return {
    ok: true,
    value: {
      tos: p.tos,
      ident: p.ident,
      dontFragment: p.dontFragment,
      moreFragments: p.moreFragments,
      fragmentOffset: p.fragmentOffset,
      ttl: p.ttl,
      protocol: p.protocol,
      src: p.src,
      dst: p.dst,
      options: p.buf.slice(p.off + IPV4.OPTIONS, p.off + p.headerLength),
      payloadLength: p.payloadLength,
    },
  };
}

/** Header length `emitIpv4` writes. */
export function ipv4HeaderLength(r: Ipv4Repr): number {
  return IPV4.MIN_LEN + r.options.length;
}

/** Writes the header of `r` at `off` with a correct header checksum. */
export function emitIpv4(r: Ipv4Repr, buf: Uint8Array, off: number): void {
  const hl = ipv4HeaderLength(r);
  buf[off + IPV4.VER_IHL] = 0x40 | (hl >>> 2);
  buf[off + IPV4.TOS] = r.tos;
  put16(buf, off + IPV4.TOTAL_LEN, hl + r.payloadLength);
  put16(buf, off + IPV4.IDENT, r.ident);
  put16(
    buf,
    off + IPV4.FLAGS_FRAG,
    (r.dontFragment ? 0x4000 : 0) | (r.moreFragments ? 0x2000 : 0) | (r.fragmentOffset & 0x1fff),
  );
  buf[off + IPV4.TTL] = r.ttl;
  buf[off + IPV4.PROTOCOL] = r.protocol;
  put16(buf, off + IPV4.CHECKSUM, 0);
  put32(buf, off + IPV4.SRC, r.src);
  put32(buf, off + IPV4.DST, r.dst);
  buf.set(r.options, off + IPV4.OPTIONS);
  put16(buf, off + IPV4.CHECKSUM, internetChecksum(buf, off, hl));
}
