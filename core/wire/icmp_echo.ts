/**
 * ICMP echo request and reply, for IPv4 (RFC 792, "Echo or Echo Reply
 * Message") and IPv6 (RFC 4443 sections 4.1 and 4.2): one layout, two sets
 * of type numbers.
 *
 * ```
 *  0               1               2               3
 * +---------------+---------------+-------------------------------+
 * |     Type      |     Code      |           Checksum            |
 * +---------------+---------------+-------------------------------+
 * |           Identifier          |        Sequence Number        |
 * +-------------------------------+-------------------------------+
 * |     Data ...
 * ```
 *
 * IPv4: the checksum covers the ICMP message only (RFC 792). IPv6: it covers
 * a pseudo-header too (RFC 4443 section 2.3); on a raw ICMPv6 socket Linux
 * computes and checks it (RFC 3542 section 3.1), so `emitEcho` leaves it 0
 * for family 6 and `EchoPacket.check` does not verify it.
 *
 * Not done here: other ICMP messages (errors, timestamps), checksums of
 * ICMPv6 outside a raw socket (`core/wire/icmpv6.ts` has those).
 *
 * @module
 */
import { internetChecksum } from "../checksum.ts";
import { type Checked, EMPTY, put16, u16 } from "./checked.ts";

/** Offsets (RFC 792; RFC 4443 section 4.1). */
export const ECHO = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  IDENT: 4,
  SEQ: 6,
  DATA: 8,
  /** Header length. */
  HEADER_LEN: 8,
} as const;

/** Type numbers per family: ICMP 8/0 (RFC 792), ICMPv6 128/129 (RFC 4443). */
export const ECHO_TYPE = {
  4: { REQUEST: 8, REPLY: 0 },
  6: { REQUEST: 128, REPLY: 129 },
} as const;

/** Why bytes are not an echo message. */
export type EchoReason = "ok" | "echo-truncated" | "echo-not-echo" | "echo-bad-checksum";

/** The meaning of an echo message. */
export interface EchoRepr {
  family: 4 | 6;
  /** A reply (true) or a request. */
  reply: boolean;
  ident: number;
  seq: number;
  data: Uint8Array;
}

/**
 * A view over an echo request or reply.
 *
 * @example
 * ```ts
 * import { EchoPacket } from "./icmp_echo.ts";
 * const m = new EchoPacket();
 * m.check(new Uint8Array([0, 0, 0xff, 0xfc, 0, 1, 0, 2]), 4); // "ok": a reply, ident 1, seq 2
 * ```
 */
export class EchoPacket {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;
  family: 4 | 6 = 4;

  /**
   * The one door for untrusted bytes: an echo request or reply of `family`
   * (for 4, with a valid checksum).
   */
  check(buf: Uint8Array, family: 4 | 6, off = 0, len = buf.length - off): EchoReason {
    this.buf = EMPTY;
    this.off = this.len = 0;
    if (off < 0 || len < ECHO.HEADER_LEN || off + len > buf.length) return "echo-truncated";
    const t = buf[off + ECHO.TYPE], types = ECHO_TYPE[family];
    if ((t !== types.REQUEST && t !== types.REPLY) || buf[off + ECHO.CODE] !== 0) {
      return "echo-not-echo";
    }
    if (family === 4 && internetChecksum(buf, off, len) !== 0) return "echo-bad-checksum";
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.family = family;
    return "ok";
  }

  get reply(): boolean {
    return this.buf[this.off + ECHO.TYPE] === ECHO_TYPE[this.family].REPLY;
  }
  get ident(): number {
    return u16(this.buf, this.off + ECHO.IDENT);
  }
  get seq(): number {
    return u16(this.buf, this.off + ECHO.SEQ);
  }
  /** The data after the header (a view). */
  get data(): Uint8Array {
    return this.buf.subarray(this.off + ECHO.DATA, this.off + this.len);
  }
}

/** Parses a checked message. */
export function parseEcho(m: EchoPacket): Checked<EchoRepr, EchoReason> {
  return {
    ok: true,
    value: { family: m.family, reply: m.reply, ident: m.ident, seq: m.seq, data: m.data.slice() },
  };
}

/** Bytes `emitEcho` writes. */
export function echoLength(r: EchoRepr): number {
  return ECHO.HEADER_LEN + r.data.length;
}

/** Writes `r` at `off`; the checksum is filled for family 4, left 0 for 6 (module doc). */
export function emitEcho(r: EchoRepr, buf: Uint8Array, off: number): void {
  const types = ECHO_TYPE[r.family];
  buf[off + ECHO.TYPE] = r.reply ? types.REPLY : types.REQUEST;
  buf[off + ECHO.CODE] = 0;
  put16(buf, off + ECHO.CHECKSUM, 0);
  put16(buf, off + ECHO.IDENT, r.ident);
  put16(buf, off + ECHO.SEQ, r.seq);
  buf.set(r.data, off + ECHO.DATA);
  if (r.family === 4) {
    put16(buf, off + ECHO.CHECKSUM, internetChecksum(buf, off, echoLength(r)));
  }
}
