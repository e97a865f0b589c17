/**
 * DHCPv4 / BOOTP messages (RFC 2131 section 2, RFC 951) and their options
 * (RFC 2132), as carried in UDP between ports 67 and 68.
 *
 * `check()` requires the 236-octet fixed part and `hlen <= 16`. When the
 * magic cookie 99.130.83.99 follows (RFC 2131 section 3), it walks the
 * options once: Pad (0) is one octet, End (255) stops the walk, every other
 * option is code, length, data and must fit. A missing End is tolerated (the
 * options run to the end of the UDP payload). A message without the cookie is
 * plain BOOTP and has no options. Unknown option codes pass through.
 *
 * Not done here: Option Overload (52, RFC 2132 section 9.3): options carried
 * in `sname`/`file` are not walked, so a client identifier moved there is not
 * seen. Relay-agent information (82) is carried as an unknown option.
 * Long-option concatenation (RFC 3396) is not done.
 *
 * @module
 */
import { type Checked, EMPTY, put16, put32, u16, u32 } from "./checked.ts";

/** Offsets (RFC 2131 section 2, figure 1). */
export const DHCP = {
  /** op: 1 BOOTREQUEST, 2 BOOTREPLY. */
  OP: 0,
  /** htype: hardware address type (1 = Ethernet). */
  HTYPE: 1,
  /** hlen: hardware address length (6 for Ethernet). */
  HLEN: 2,
  HOPS: 3,
  /** xid: transaction id. */
  XID: 4,
  SECS: 8,
  /** flags: top bit BROADCAST. */
  FLAGS: 10,
  CIADDR: 12,
  YIADDR: 16,
  SIADDR: 20,
  GIADDR: 24,
  /** chaddr: client hardware address, 16 octets (first hlen used). */
  CHADDR: 28,
  /** sname: server host name, 64 octets. */
  SNAME: 44,
  /** file: boot file name, 128 octets. */
  FILE: 108,
  /** Magic cookie 99.130.83.99 (RFC 2131 section 3). */
  COOKIE: 236,
  /** Options after the cookie. */
  OPTIONS: 240,
} as const;

/** The magic cookie as a 32-bit number. */
export const MAGIC_COOKIE = 0x63825363;

/** BOOTP op codes. */
export const BOOTP_OP = { REQUEST: 1, REPLY: 2 } as const;
/** Well-known ports (RFC 2131 section 4.1). */
export const DHCP_PORT = { SERVER: 67, CLIENT: 68 } as const;

/** Option codes this code base names (RFC 2132). */
export const DHCP_OPTION = {
  PAD: 0,
  REQUESTED_IP: 50,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  /** Client identifier (9.14): type octet, then the identifier; type 1 = Ethernet + MAC. */
  CLIENT_ID: 61,
  END: 255,
} as const;

/** Why bytes are not a DHCP/BOOTP message. */
export type DhcpReason = "ok" | "dhcp-truncated" | "dhcp-bad-hlen" | "dhcp-option-truncated";

/** One option. */
export interface DhcpOptionRepr {
  code: number;
  data: Uint8Array;
}

/** The meaning of a message. */
export interface DhcpRepr {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** 16 octets. */
  chaddr: Uint8Array;
  /** 64 octets. */
  sname: Uint8Array;
  /** 128 octets. */
  file: Uint8Array;
  /** Options without Pad and End; null for plain BOOTP (no magic cookie). */
  options: DhcpOptionRepr[] | null;
  /** Bytes after End (or after the fixed part for BOOTP), usually zero padding. */
  trailer: Uint8Array;
}

/**
 * A view over a DHCP/BOOTP message.
 *
 * @example
 * ```ts
 * import { DhcpMessage, DHCP_OPTION } from "./dhcpv4.ts";
 * const b = new Uint8Array(244);
 * b.set([99, 130, 83, 99, 53, 1, 1, 255], 236);
 * const m = new DhcpMessage();
 * m.check(b); // "ok"; m.findOption(DHCP_OPTION.MESSAGE_TYPE) === 240
 * ```
 */
export class DhcpMessage {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;
  /** Absolute offset of the first option (== optionsEnd when there are none). */
  optionsOffset = 0;
  /** Absolute offset of the End option, or of the end of the message when End is missing. */
  optionsEnd = 0;
  /** True when the magic cookie is present (DHCP); false for plain BOOTP. */
  hasMagicCookie = false;

  /** The one door for untrusted bytes. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): DhcpReason {
    this.buf = EMPTY;
    this.off =
      this.len =
      this.optionsOffset =
      this.optionsEnd =
        0;
    this.hasMagicCookie = false;
    if (off < 0 || off + len > buf.length || len < DHCP.COOKIE) return "dhcp-truncated";
    if (buf[off + DHCP.HLEN] > 16) return "dhcp-bad-hlen";
    const end = off + len;
    let start = end;
    let stop = end;
    let cookie = false;
    if (len >= DHCP.OPTIONS && u32(buf, off + DHCP.COOKIE) === MAGIC_COOKIE) {
      start = off + DHCP.OPTIONS;
      let o = start;
      while (o < end) {
        const c = buf[o];
        if (c === DHCP_OPTION.END) break;
        if (c === DHCP_OPTION.PAD) {
          o++;
          continue;
        }
        if (o + 2 > end || o + 2 + buf[o + 1] > end) return "dhcp-option-truncated";
        o += 2 + buf[o + 1];
      }
      stop = o;
      cookie = true;
    }
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.optionsOffset = start;
    this.optionsEnd = stop;
    this.hasMagicCookie = cookie;
    return "ok";
  }

  get op(): number {
    return this.buf[this.off + DHCP.OP];
  }
  get htype(): number {
    return this.buf[this.off + DHCP.HTYPE];
  }
  get hlen(): number {
    return this.buf[this.off + DHCP.HLEN];
  }
  get xid(): number {
    return u32(this.buf, this.off + DHCP.XID);
  }
  get flags(): number {
    return u16(this.buf, this.off + DHCP.FLAGS);
  }
  /** Absolute offset of chaddr. */
  get chaddrOffset(): number {
    return this.off + DHCP.CHADDR;
  }
  /** True when chaddr holds an Ethernet address (htype 1, hlen 6). */
  get isEthernet(): boolean {
    return this.htype === 1 && this.hlen === 6;
  }
  /** The option after the one at `o` (Pad is one octet). */
  nextOption(o: number): number {
    return this.buf[o] === DHCP_OPTION.PAD ? o + 1 : o + 2 + this.buf[o + 1];
  }
  optionCode(o: number): number {
    return this.buf[o];
  }
  /** Data length of the option at `o` (0 for Pad). */
  optionLength(o: number): number {
    return this.buf[o] === DHCP_OPTION.PAD ? 0 : this.buf[o + 1];
  }
  /**
   * Absolute offset of the MAC in the Client-identifier option (61, RFC 2132
   * section 9.14) when its type octet is 1 (Ethernet, the hardware type of
   * RFC 1700) and 6 octets follow, else -1.
   */
  clientIdEthernetOffset(): number {
    const o = this.findOption(DHCP_OPTION.CLIENT_ID);
    if (o < 0 || this.optionLength(o) !== 7 || this.buf[o + 2] !== 1) return -1;
    return o + 3;
  }
  /** Absolute offset of the first option with `code` (not Pad/End), or -1. */
  findOption(code: number): number {
    for (let o = this.optionsOffset; o < this.optionsEnd; o = this.nextOption(o)) {
      if (this.buf[o] === code) return o;
    }
    return -1;
  }
}

/** Parses a checked message. */
export function parseDhcp(m: DhcpMessage): Checked<DhcpRepr, DhcpReason> {
  const b = m.buf;
  const o = m.off;
  let options: DhcpOptionRepr[] | null = null;
  let trailerStart = o + DHCP.COOKIE;
  if (m.hasMagicCookie) {
    options = [];
    for (let p = m.optionsOffset; p < m.optionsEnd; p = m.nextOption(p)) {
      if (b[p] === DHCP_OPTION.PAD) continue;
      options.push({ code: b[p], data: b.slice(p + 2, p + 2 + b[p + 1]) });
    }
    trailerStart = m.optionsEnd < o + m.len ? m.optionsEnd + 1 : m.optionsEnd;
  }
  return {
    ok: true,
    value: {
      op: b[o + DHCP.OP],
      htype: b[o + DHCP.HTYPE],
      hlen: b[o + DHCP.HLEN],
      hops: b[o + DHCP.HOPS],
      xid: m.xid,
      secs: u16(b, o + DHCP.SECS),
      flags: m.flags,
      ciaddr: u32(b, o + DHCP.CIADDR),
      yiaddr: u32(b, o + DHCP.YIADDR),
      siaddr: u32(b, o + DHCP.SIADDR),
      giaddr: u32(b, o + DHCP.GIADDR),
      chaddr: b.slice(o + DHCP.CHADDR, o + DHCP.CHADDR + 16),
      sname: b.slice(o + DHCP.SNAME, o + DHCP.SNAME + 64),
      file: b.slice(o + DHCP.FILE, o + DHCP.FILE + 128),
      options,
      trailer: b.slice(trailerStart, o + m.len),
    },
  };
}

/** Bytes `emitDhcp` writes. */
export function dhcpLength(r: DhcpRepr): number {
  if (r.options === null) return DHCP.COOKIE + r.trailer.length;
  let n = DHCP.OPTIONS + 1 + r.trailer.length;
  for (const opt of r.options) n += 2 + opt.data.length;
  return n;
}

/** Writes `r` at `off`: fixed part, cookie, options, End, trailer (no Pad between options). */
export function emitDhcp(r: DhcpRepr, buf: Uint8Array, off: number): void {
  buf[off + DHCP.OP] = r.op;
  buf[off + DHCP.HTYPE] = r.htype;
  buf[off + DHCP.HLEN] = r.hlen;
  buf[off + DHCP.HOPS] = r.hops;
  put32(buf, off + DHCP.XID, r.xid);
  put16(buf, off + DHCP.SECS, r.secs);
  put16(buf, off + DHCP.FLAGS, r.flags);
  put32(buf, off + DHCP.CIADDR, r.ciaddr);
  put32(buf, off + DHCP.YIADDR, r.yiaddr);
  put32(buf, off + DHCP.SIADDR, r.siaddr);
  put32(buf, off + DHCP.GIADDR, r.giaddr);
  buf.set(r.chaddr, off + DHCP.CHADDR);
  buf.set(r.sname, off + DHCP.SNAME);
  buf.set(r.file, off + DHCP.FILE);
  if (r.options === null) {
    buf.set(r.trailer, off + DHCP.COOKIE);
    return;
  }
  put32(buf, off + DHCP.COOKIE, MAGIC_COOKIE);
  let p = off + DHCP.OPTIONS;
  for (const opt of r.options) {
    buf[p] = opt.code;
    buf[p + 1] = opt.data.length;
    buf.set(opt.data, p + 2);
    p += 2 + opt.data.length;
  }
  buf[p++] = DHCP_OPTION.END;
  buf.set(r.trailer, p);
}
