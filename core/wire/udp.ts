/**
 * UDP headers (RFC 768) and the UDP checksum over the IPv4 pseudo-header
 * (RFC 768) or the IPv6 pseudo-header (RFC 8200 section 8.1).
 *
 * `check()` requires the header and a Length field that is at least 8 and
 * fits the buffer; bytes after Length (padding) are not payload. A checksum
 * of 0 means "no checksum" over IPv4 and is invalid over IPv6 (RFC 8200
 * section 8.1; RFC 6935 zero-checksum tunnels are not special-cased). A
 * computed 0 is transmitted as 0xffff.
 *
 * `checkHeader()` is the door for code that needs only the ports of a
 * datagram that may not be whole: the 8-byte header fits and the Length
 * field is not judged (the first fragment of a fragmented datagram; the
 * filter guards, `core/filter.ts`, read its ports).
 *
 * Not done here: UDP-Lite, jumbograms, port semantics.
 *
 * @module
 */
import { internetChecksum, pseudoSumV4, pseudoSumV6 } from "../checksum.ts";
import { type Checked, EMPTY, put16, u16 } from "./checked.ts";

/** Offsets (RFC 768, "Format"). */
export const UDP = {
  SRC_PORT: 0,
  DST_PORT: 2,
  /** Length of header and data in octets. */
  LENGTH: 4,
  CHECKSUM: 6,
  HEADER_LEN: 8,
} as const;

/** IANA protocol number of UDP, the pseudo-header's protocol / next header. */
export const UDP_PROTOCOL = 17;

/** Why bytes are not a UDP datagram. */
export type UdpReason = "ok" | "udp-truncated" | "udp-bad-length";

/** The meaning of a UDP header. */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payloadLength: number;
}

/**
 * A view over a UDP datagram.
 *
 * @example
 * ```ts
 * import { UdpDatagram } from "./udp.ts";
 * const u = new UdpDatagram();
 * u.check(new Uint8Array([0, 68, 0, 67, 0, 8, 0, 0])); // "ok"; u.dstPort === 67
 * ```
 */
export class UdpDatagram {
  buf: Uint8Array = EMPTY;
  off = 0;
  /** The Length field after `check()`; the bytes given after `checkHeader()`. */
  len = 0;

  /** The one door for untrusted bytes. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): UdpReason {
    this.buf = EMPTY;
    this.off = this.len = 0;
    if (off < 0 || off + len > buf.length || len < UDP.HEADER_LEN) return "udp-truncated";
    const l = u16(buf, off + UDP.LENGTH);
    if (l < UDP.HEADER_LEN || l > len) return "udp-bad-length";
    this.buf = buf;
    this.off = off;
    this.len = l;
    return "ok";
  }

  /**
   * The door for code that reads only the ports: the 8-byte header fits
   * `len`; the Length field is not judged and `len` is the bytes given.
   */
  checkHeader(buf: Uint8Array, off = 0, len = buf.length - off): UdpReason {
    this.buf = EMPTY;
    this.off = this.len = 0;
    if (off < 0 || off + len > buf.length || len < UDP.HEADER_LEN) return "udp-truncated";
    this.buf = buf;
    this.off = off;
    this.len = len;
    return "ok";
  }

  get srcPort(): number {
    return u16(this.buf, this.off + UDP.SRC_PORT);
  }
  get dstPort(): number {
    return u16(this.buf, this.off + UDP.DST_PORT);
  }
  get checksum(): number {
    return u16(this.buf, this.off + UDP.CHECKSUM);
  }
  get checksumOffset(): number {
    return this.off + UDP.CHECKSUM;
  }
  get payloadOffset(): number {
    return this.off + UDP.HEADER_LEN;
  }
  get payloadLength(): number {
    return this.len - UDP.HEADER_LEN;
  }
  /** The checksum this datagram should carry over IPv4 (addresses at `srcOff`/`dstOff`). */
  computeChecksumV4(srcOff: number, dstOff: number): number {
    return finish(
      this.sumWithoutChecksum(pseudoSumV4(this.buf, srcOff, dstOff, UDP_PROTOCOL, this.len)),
    );
  }
  /** The checksum this datagram should carry over IPv6. */
  computeChecksumV6(srcOff: number, dstOff: number): number {
    return finish(
      this.sumWithoutChecksum(pseudoSumV6(this.buf, srcOff, dstOff, UDP_PROTOCOL, this.len)),
    );
  }
  /** True when the checksum is 0 ("none") or verifies, over IPv4. */
  checksumValidV4(srcOff: number, dstOff: number): boolean {
    if (this.checksum === 0) return true;
    const init = pseudoSumV4(this.buf, srcOff, dstOff, UDP_PROTOCOL, this.len);
    return internetChecksum(this.buf, this.off, this.len, init) === 0;
  }
  /** True when the checksum verifies over IPv6; 0 is invalid there. */
  checksumValidV6(srcOff: number, dstOff: number): boolean {
    if (this.checksum === 0) return false;
    const init = pseudoSumV6(this.buf, srcOff, dstOff, UDP_PROTOCOL, this.len);
    return internetChecksum(this.buf, this.off, this.len, init) === 0;
  }

  private sumWithoutChecksum(init: number): number {
    const saved = this.checksum;
    put16(this.buf, this.checksumOffset, 0);
    const c = internetChecksum(this.buf, this.off, this.len, init);
    put16(this.buf, this.checksumOffset, saved);
    return c;
  }
}

function finish(c: number): number {
  return c === 0 ? 0xffff : c;
}

/** Parses a checked header. */
export function parseUdp(u: UdpDatagram): Checked<UdpRepr, UdpReason> {
  return {
    ok: true,
    value: { srcPort: u.srcPort, dstPort: u.dstPort, payloadLength: u.payloadLength },
  };
}

/** Header length `emitUdp` writes. */
export function udpHeaderLength(_r: UdpRepr): number {
  return UDP.HEADER_LEN;
}

/** Writes the header of `r` at `off` with checksum 0 (none); compute it after the payload. */
export function emitUdp(r: UdpRepr, buf: Uint8Array, off: number): void {
  put16(buf, off + UDP.SRC_PORT, r.srcPort);
  put16(buf, off + UDP.DST_PORT, r.dstPort);
  put16(buf, off + UDP.LENGTH, UDP.HEADER_LEN + r.payloadLength);
  put16(buf, off + UDP.CHECKSUM, 0);
}
