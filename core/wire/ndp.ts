/**
 * Neighbor Discovery messages (RFC 4861 section 4): Router Solicitation (133),
 * Router Advertisement (134), Neighbor Solicitation (135), Neighbor
 * Advertisement (136) and Redirect (137), and their options (section 4.6).
 *
 * The view starts at the ICMPv6 header. `check()` validates the fixed part of
 * the message type and walks every option once: an option of length 0 or one
 * that runs past the message is rejected (RFC 4861 section 4.6: "Nodes MUST
 * silently discard an ND packet that contains an option with length zero").
 * After that, option iteration (`optionsOffset`, `nextOption`) cannot leave
 * the message. Unknown option types pass through.
 *
 * Not done here: the other validity checks of sections 6.1 and 7.1 (hop limit
 * 255, code 0, source address rules): they are the receiving host's job, not a
 * translator's. SEND (RFC 3971) options are carried as unknown options; a
 * translator that rewrites link-layer addresses breaks their signatures.
 *
 * @module
 */
import { macAt, type MacKey, writeMac } from "../mac.ts";
import { type Checked, EMPTY, put16 } from "./checked.ts";
import { ICMPV6, ICMPV6_TYPE } from "./icmpv6.ts";

/** Offsets in the messages, counted from the ICMPv6 type (RFC 4861 sections 4.1-4.5). */
export const NDP = {
  /** RA (4.2): Cur Hop Limit. */
  RA_CUR_HOP_LIMIT: 4,
  /** RA (4.2): M, O flags and reserved bits. */
  RA_FLAGS: 5,
  /** RA (4.2): Router Lifetime, seconds. */
  RA_ROUTER_LIFETIME: 6,
  /** RA (4.2): Reachable Time, ms. */
  RA_REACHABLE_TIME: 8,
  /** RA (4.2): Retrans Timer, ms. */
  RA_RETRANS_TIMER: 12,
  /** NA (4.4): R, S, O flags in the top bits. */
  NA_FLAGS: 4,
  /** NS (4.3), NA (4.4), Redirect (4.5): Target Address. */
  TARGET: 8,
  /** Redirect (4.5): Destination Address. */
  REDIRECT_DEST: 24,
} as const;

/** Where options start in each message (the fixed part's length), by ICMPv6 type. */
export function ndpOptionsStart(type: number): number {
  switch (type) {
    case ICMPV6_TYPE.ROUTER_SOLICIT:
      return 8; // 4.1: type, code, checksum, reserved
    case ICMPV6_TYPE.ROUTER_ADVERT:
      return 16; // 4.2
    case ICMPV6_TYPE.NEIGHBOR_SOLICIT:
    case ICMPV6_TYPE.NEIGHBOR_ADVERT:
      return 24; // 4.3, 4.4: reserved/flags + target
    case ICMPV6_TYPE.REDIRECT:
      return 40; // 4.5: reserved + target + destination
    default:
      return -1;
  }
}

/** Option layout (RFC 4861 section 4.6). */
export const NDP_OPT = {
  TYPE: 0,
  /** Length of the whole option in units of 8 octets; 0 is invalid. */
  LENGTH: 1,
  /** Link-layer address in SLLA/TLLA options (4.6.1). */
  LLA: 2,
} as const;

/** Option types (RFC 4861 section 4.6). */
export const NDP_OPTION = {
  SOURCE_LLA: 1,
  TARGET_LLA: 2,
  PREFIX_INFO: 3,
  REDIRECTED_HEADER: 4,
  MTU: 5,
} as const;

/** Why bytes are not an NDP message. */
export type NdpReason =
  | "ok"
  | "ndp-not-ndp"
  | "ndp-truncated"
  | "ndp-option-zero-length"
  | "ndp-option-truncated";

/** One option: link-layer address options of 8 octets as a MAC, others as bytes. */
export type NdpOptionRepr =
  | { type: 1 | 2; lla: MacKey }
  | { type: number; data: Uint8Array };

/** The meaning of an NDP message. */
export interface NdpRepr {
  type: number;
  code: number;
  /** The fixed part after the checksum (flags, lifetimes, target, destination), raw. */
  fixed: Uint8Array;
  options: NdpOptionRepr[];
}

/**
 * A view over an NDP message.
 *
 * @example
 * ```ts
 * import { NdpMessage } from "./ndp.ts";
 * const m = new NdpMessage();
 * const rs = new Uint8Array([133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1]);
 * m.check(rs); // "ok"
 * for (let o = m.optionsOffset; o < m.end; o = m.nextOption(o)) m.optionType(o); // 1
 * ```
 */
export class NdpMessage {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;
  /** Absolute offset of the first option. */
  optionsOffset = 0;

  /** The one door for untrusted bytes: fixed part and every option must fit. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): NdpReason {
    this.buf = EMPTY;
    this.off = this.len = this.optionsOffset = 0;
    if (off < 0 || off + len > buf.length || len < ICMPV6.HEADER_LEN) return "ndp-truncated";
    const start = ndpOptionsStart(buf[off]);
    if (start < 0) return "ndp-not-ndp";
    if (len < start) return "ndp-truncated";
    const end = off + len;
    for (let o = off + start; o < end;) {
      if (o + 2 > end) return "ndp-option-truncated";
      const l = buf[o + NDP_OPT.LENGTH] * 8;
      if (l === 0) return "ndp-option-zero-length";
      if (o + l > end) return "ndp-option-truncated";
      o += l;
    }
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.optionsOffset = off + start;
    return "ok";
  }

  get type(): number {
    return this.buf[this.off + ICMPV6.TYPE];
  }
  get code(): number {
    return this.buf[this.off + ICMPV6.CODE];
  }
  /** Absolute offset of the ICMPv6 checksum. */
  get checksumOffset(): number {
    return this.off + ICMPV6.CHECKSUM;
  }
  /** Absolute end of the message. */
  get end(): number {
    return this.off + this.len;
  }
  /** Absolute offset of the Target Address (NS, NA, Redirect), or -1. */
  get targetOffset(): number {
    const t = this.type;
    return t === ICMPV6_TYPE.NEIGHBOR_SOLICIT || t === ICMPV6_TYPE.NEIGHBOR_ADVERT ||
        t === ICMPV6_TYPE.REDIRECT
      ? this.off + NDP.TARGET
      : -1;
  }
  /** The option after the one at `o`. */
  nextOption(o: number): number {
    return o + this.buf[o + NDP_OPT.LENGTH] * 8;
  }
  optionType(o: number): number {
    return this.buf[o + NDP_OPT.TYPE];
  }
  /** Option length in octets. */
  optionLength(o: number): number {
    return this.buf[o + NDP_OPT.LENGTH] * 8;
  }
  /** True when the option at `o` is an SLLA/TLLA carrying exactly a 6-octet (Ethernet) address. */
  isEthernetLla(o: number): boolean {
    const t = this.buf[o];
    return (t === NDP_OPTION.SOURCE_LLA || t === NDP_OPTION.TARGET_LLA) &&
      this.buf[o + NDP_OPT.LENGTH] === 1;
  }
}

/** Parses a checked message. */
export function parseNdp(m: NdpMessage): Checked<NdpRepr, NdpReason> {
  const options: NdpOptionRepr[] = [];
  for (let o = m.optionsOffset; o < m.end; o = m.nextOption(o)) {
    const t = m.optionType(o);
    if (m.isEthernetLla(o)) options.push({ type: t as 1 | 2, lla: macAt(m.buf, o + NDP_OPT.LLA) });
    else options.push({ type: t, data: m.buf.slice(o + 2, o + m.optionLength(o)) });
  }
  return {
    ok: true,
    value: {
      type: m.type,
      code: m.code,
      fixed: m.buf.slice(m.off + ICMPV6.BODY, m.optionsOffset),
      options,
    },
  };
}

function optionBytes(o: NdpOptionRepr): number {
  return "lla" in o ? 8 : 2 + o.data.length;
}

/** Bytes `emitNdp` writes. Option data must make each option a multiple of 8 octets. */
export function ndpLength(r: NdpRepr): number {
  let n = ICMPV6.HEADER_LEN + r.fixed.length;
  for (const o of r.options) n += optionBytes(o);
  return n;
}

/** Writes `r` at `off` with a zero checksum; fill it with `Icmpv6Packet.fillChecksum`. */
export function emitNdp(r: NdpRepr, buf: Uint8Array, off: number): void {
  buf[off + ICMPV6.TYPE] = r.type;
  buf[off + ICMPV6.CODE] = r.code;
  put16(buf, off + ICMPV6.CHECKSUM, 0);
  buf.set(r.fixed, off + ICMPV6.BODY);
  let p = off + ICMPV6.BODY + r.fixed.length;
  for (const o of r.options) {
    const n = optionBytes(o);
    buf[p + NDP_OPT.TYPE] = o.type;
    buf[p + NDP_OPT.LENGTH] = n >>> 3;
    if ("lla" in o) writeMac(buf, p + NDP_OPT.LLA, o.lla);
    else buf.set(o.data, p + 2);
    p += n;
  }
}
