/**
 * TCP headers (RFC 9293 section 3.1) and the TCP checksum over the IPv4
 * pseudo-header (RFC 9293 section 3.1, "Checksum") or the IPv6
 * pseudo-header (RFC 8200 section 8.1).
 *
 * TCP has no length field: a segment is what its IP header says follows, so
 * `check(buf, off, len)` takes `len` from the caller (the IP payload length)
 * and requires a Data Offset of at least 5 words whose header fits `len`.
 * The four reserved bits (RFC 9293; once NS, RFC 3540, now historic) and
 * unknown options pass through; options are kept as bytes.
 *
 * The setters (`seq`, `flags`, `checksum`) are for code that rewrites a
 * checked segment in place (`core/gso.ts` cuts and joins segments).
 *
 * Not done here: option parsing (MSS, window scale, SACK, timestamps), the
 * urgent-data semantics, connection state.
 *
 * @module
 */
import { internetChecksum, pseudoSumV4, pseudoSumV6 } from "../checksum.ts";
import { type Checked, EMPTY, put16, put32, u16, u32 } from "./checked.ts";

/** Offsets (RFC 9293 section 3.1, "Header Format"). */
export const TCP = {
  SRC_PORT: 0,
  DST_PORT: 2,
  /** Sequence Number. */
  SEQ: 4,
  /** Acknowledgment Number. */
  ACK: 8,
  /** Data Offset (4 bits, header length in 32-bit words) and 4 reserved bits. */
  DATA_OFFSET: 12,
  /** Control bits: CWR ECE URG ACK PSH RST SYN FIN. */
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  /** Urgent Pointer. */
  URGENT: 18,
  /** Options start here when Data Offset > 5. */
  OPTIONS: 20,
  /** Minimum header length. */
  MIN_LEN: 20,
} as const;

/** Control bits of the FLAGS octet (RFC 9293 section 3.1; CWR, ECE: RFC 3168). */
export const TCP_FLAG = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** IANA protocol number of TCP, the pseudo-header's protocol / next header. */
export const TCP_PROTOCOL = 6;

/** Why bytes are not a TCP segment. */
export type TcpReason = "ok" | "tcp-truncated" | "tcp-bad-data-offset";

/** The meaning of a TCP header. */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** The control bits octet, `TCP_FLAG` values or-ed. */
  flags: number;
  window: number;
  urgent: number;
  /** Raw option bytes (padding included), a multiple of 4 long (0..40). */
  options: Uint8Array;
  payloadLength: number;
}

/**
 * A view over a TCP segment.
 *
 * @example
 * ```ts
 * import { TCP_FLAG, TcpSegment } from "./tcp.ts";
 * const t = new TcpSegment();
 * const b = new Uint8Array(20);
 * b[12] = 0x50, b[13] = TCP_FLAG.SYN;
 * t.check(b); // "ok"; t.headerLength === 20, t.flags === TCP_FLAG.SYN
 * ```
 */
export class TcpSegment {
  buf: Uint8Array = EMPTY;
  off = 0;
  /** Segment length: header and payload, as the caller's IP header says. */
  len = 0;

  /** The one door for untrusted bytes: `len` is the IP payload length. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): TcpReason {
    this.buf = EMPTY;
    this.off = this.len = 0;
    if (off < 0 || off + len > buf.length || len < TCP.MIN_LEN) return "tcp-truncated";
    const hl = (buf[off + TCP.DATA_OFFSET] >>> 4) * 4;
    if (hl < TCP.MIN_LEN || hl > len) return "tcp-bad-data-offset";
    this.buf = buf;
    this.off = off;
    this.len = len;
    return "ok";
  }

  get srcPort(): number {
    return u16(this.buf, this.off + TCP.SRC_PORT);
  }
  get dstPort(): number {
    return u16(this.buf, this.off + TCP.DST_PORT);
  }
  get seq(): number {
    return u32(this.buf, this.off + TCP.SEQ);
  }
  set seq(v: number) {
    put32(this.buf, this.off + TCP.SEQ, v);
  }
  get ack(): number {
    return u32(this.buf, this.off + TCP.ACK);
  }
  /** Header length in octets (Data Offset * 4), 20..60. */
  get headerLength(): number {
    return (this.buf[this.off + TCP.DATA_OFFSET] >>> 4) * 4;
  }
  /** The control bits octet. */
  get flags(): number {
    return this.buf[this.off + TCP.FLAGS];
  }
  set flags(v: number) {
    this.buf[this.off + TCP.FLAGS] = v;
  }
  get window(): number {
    return u16(this.buf, this.off + TCP.WINDOW);
  }
  get checksum(): number {
    return u16(this.buf, this.off + TCP.CHECKSUM);
  }
  set checksum(v: number) {
    put16(this.buf, this.off + TCP.CHECKSUM, v);
  }
  get urgent(): number {
    return u16(this.buf, this.off + TCP.URGENT);
  }
  get checksumOffset(): number {
    return this.off + TCP.CHECKSUM;
  }
  /** Absolute offset of the options (`headerLength - 20` bytes of them). */
  get optionsOffset(): number {
    return this.off + TCP.OPTIONS;
  }
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }
  get payloadLength(): number {
    return this.len - this.headerLength;
  }
  /** The checksum this segment should carry over IPv4 (addresses at `srcOff`/`dstOff`). */
  computeChecksumV4(srcOff: number, dstOff: number): number {
    return this.sumWithoutChecksum(pseudoSumV4(this.buf, srcOff, dstOff, TCP_PROTOCOL, this.len));
  }
  /** The checksum this segment should carry over IPv6. */
  computeChecksumV6(srcOff: number, dstOff: number): number {
    return this.sumWithoutChecksum(pseudoSumV6(this.buf, srcOff, dstOff, TCP_PROTOCOL, this.len));
  }
  /** True when the checksum verifies over IPv4. */
  checksumValidV4(srcOff: number, dstOff: number): boolean {
    const init = pseudoSumV4(this.buf, srcOff, dstOff, TCP_PROTOCOL, this.len);
    return internetChecksum(this.buf, this.off, this.len, init) === 0;
  }
  /** True when the checksum verifies over IPv6. */
  checksumValidV6(srcOff: number, dstOff: number): boolean {
    const init = pseudoSumV6(this.buf, srcOff, dstOff, TCP_PROTOCOL, this.len);
    return internetChecksum(this.buf, this.off, this.len, init) === 0;
  }

  private sumWithoutChecksum(init: number): number {
    const saved = this.checksum;
    this.checksum = 0;
    const c = internetChecksum(this.buf, this.off, this.len, init);
    this.checksum = saved;
    return c;
  }
}

/** Parses a checked segment's header. */
export function parseTcp(t: TcpSegment): Checked<TcpRepr, TcpReason> {
  return {
    ok: true,
    value: {
      srcPort: t.srcPort,
      dstPort: t.dstPort,
      seq: t.seq,
      ack: t.ack,
      flags: t.flags,
      window: t.window,
      urgent: t.urgent,
      options: t.buf.slice(t.optionsOffset, t.payloadOffset),
      payloadLength: t.payloadLength,
    },
  };
}

/** Header length `emitTcp` writes for `r`. */
export function tcpHeaderLength(r: TcpRepr): number {
  return TCP.MIN_LEN + r.options.length;
}

/**
 * Writes the header of `r` at `off` with checksum 0 and the reserved bits
 * clear; compute the checksum after the payload. The caller has made room
 * and keeps `r.options` a multiple of 4 bytes, at most 40.
 */
export function emitTcp(r: TcpRepr, buf: Uint8Array, off: number): void {
  put16(buf, off + TCP.SRC_PORT, r.srcPort);
  put16(buf, off + TCP.DST_PORT, r.dstPort);
  put32(buf, off + TCP.SEQ, r.seq);
  put32(buf, off + TCP.ACK, r.ack);
  buf[off + TCP.DATA_OFFSET] = (tcpHeaderLength(r) >>> 2) << 4;
  buf[off + TCP.FLAGS] = r.flags;
  put16(buf, off + TCP.WINDOW, r.window);
  put16(buf, off + TCP.CHECKSUM, 0);
  put16(buf, off + TCP.URGENT, r.urgent);
  buf.set(r.options, off + TCP.OPTIONS);
}
