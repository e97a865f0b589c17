/**
 * ICMPv6 message headers (RFC 4443 section 2.1) and the checksum over the
 * IPv6 pseudo-header (RFC 4443 section 2.3, RFC 8200 section 8.1).
 *
 * The view names type, code and checksum; message bodies are read by the
 * modules that understand them (NDP: `core/wire/ndp.ts`). Unknown types pass
 * through.
 *
 * Not done here: error-message bodies, rate limiting, MLD. Echo request and
 * reply are in `icmp_echo.ts`.
 *
 * @module
 */
import { internetChecksum, pseudoSumV6 } from "../checksum.ts";
import { type Checked, EMPTY, put16, u16 } from "./checked.ts";
import { NEXT_HEADER } from "./ipv6.ts";

/** Offsets (RFC 4443 section 2.1). */
export const ICMPV6 = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  /** Message body. */
  BODY: 4,
  /** Header length. */
  HEADER_LEN: 4,
} as const;

/** ICMPv6 types this code base names (IANA registry). */
export const ICMPV6_TYPE = {
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  ROUTER_SOLICIT: 133,
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
  REDIRECT: 137,
} as const;

/** Why bytes are not an ICMPv6 message. */
export type Icmpv6Reason = "ok" | "icmpv6-truncated";

/** The meaning of a generic ICMPv6 message. */
export interface Icmpv6Repr {
  type: number;
  code: number;
  /** Everything after the checksum. */
  body: Uint8Array;
}

/**
 * The ICMPv6 checksum of `len` bytes at `off` for the IPv6 addresses at
 * `srcOff`/`dstOff` of the same buffer. The checksum field must hold 0 to
 * compute, or the stored value to verify (then the result is 0).
 */
export function icmpv6Checksum(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  off: number,
  len: number,
): number {
  return internetChecksum(buf, off, len, pseudoSumV6(buf, srcOff, dstOff, NEXT_HEADER.ICMPV6, len));
}

/**
 * A view over an ICMPv6 message.
 *
 * @example
 * ```ts
 * import { Icmpv6Packet } from "./icmpv6.ts";
 * const m = new Icmpv6Packet();
 * m.check(new Uint8Array([128, 0, 0, 0, 0, 1, 0, 1])); // "ok"; m.type === 128
 * ```
 */
export class Icmpv6Packet {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  /** The one door for untrusted bytes. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): Icmpv6Reason {
    this.buf = EMPTY;
    this.off = this.len = 0;
    if (off < 0 || off + len > buf.length || len < ICMPV6.HEADER_LEN) return "icmpv6-truncated";
    this.buf = buf;
    this.off = off;
    this.len = len;
    return "ok";
  }

  get type(): number {
    return this.buf[this.off + ICMPV6.TYPE];
  }
  get code(): number {
    return this.buf[this.off + ICMPV6.CODE];
  }
  get checksum(): number {
    return u16(this.buf, this.off + ICMPV6.CHECKSUM);
  }
  /** Absolute offset of the checksum field. */
  get checksumOffset(): number {
    return this.off + ICMPV6.CHECKSUM;
  }
  /** True when the checksum verifies with the pseudo-header of addresses at `srcOff`/`dstOff`. */
  checksumValid(srcOff: number, dstOff: number): boolean {
    return icmpv6Checksum(this.buf, srcOff, dstOff, this.off, this.len) === 0;
  }
  /** Recomputes and stores the checksum. */
  fillChecksum(srcOff: number, dstOff: number): void {
    put16(this.buf, this.checksumOffset, 0);
    put16(
      this.buf,
      this.checksumOffset,
      icmpv6Checksum(this.buf, srcOff, dstOff, this.off, this.len),
    );
  }
}

/** Parses a checked message. */
export function parseIcmpv6(m: Icmpv6Packet): Checked<Icmpv6Repr, Icmpv6Reason> {
  return {
    ok: true,
    value: { type: m.type, code: m.code, body: m.buf.slice(m.off + ICMPV6.BODY, m.off + m.len) },
  };
}

/** Bytes `emitIcmpv6` writes. */
export function icmpv6Length(r: Icmpv6Repr): number {
  return ICMPV6.HEADER_LEN + r.body.length;
}

/** Writes `r` at `off` with a zero checksum; fill it with `Icmpv6Packet.fillChecksum`. */
export function emitIcmpv6(r: Icmpv6Repr, buf: Uint8Array, off: number): void {
  buf[off + ICMPV6.TYPE] = r.type;
  buf[off + ICMPV6.CODE] = r.code;
  put16(buf, off + ICMPV6.CHECKSUM, 0);
  buf.set(r.body, off + ICMPV6.BODY);
}
