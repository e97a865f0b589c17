/**
 * ARP packets (RFC 826), as carried in Ethernet frames with EtherType 0x0806.
 *
 * The view accepts any hardware/protocol type and address lengths (the fields
 * are placed by `hlen`/`plen`, RFC 826 "packet format"); the repr and the
 * fixed offsets in `ARP_ETH_IPV4` cover the one combination in use, Ethernet
 * (htype 1, hlen 6) over IPv4 (ptype 0x0800, plen 4). Unknown operations
 * (RARP 3/4, InARP 8/9, ...) pass through.
 *
 * Not done here: RFC 5227 conflict detection, gratuitous-ARP policy, caches.
 *
 * @module
 */
import { macAt, type MacKey, writeMac } from "../mac.ts";
import { type Checked, EMPTY, put16, put32, u16, u32 } from "./checked.ts";

/** Offsets of the fixed part (RFC 826 "packet format"). */
export const ARP = {
  /** ar$hrd, hardware address space (1 = Ethernet). */
  HTYPE: 0,
  /** ar$pro, protocol address space (an EtherType; 0x0800 = IPv4). */
  PTYPE: 2,
  /** ar$hln, bytes per hardware address. */
  HLEN: 4,
  /** ar$pln, bytes per protocol address. */
  PLEN: 5,
  /** ar$op, 1 = request, 2 = reply. */
  OPER: 6,
  /** ar$sha starts here; the other addresses follow at hlen/plen steps. */
  ADDRS: 8,
} as const;

/** Offsets for Ethernet over IPv4 (hlen 6, plen 4). */
export const ARP_ETH_IPV4 = {
  /** ar$sha, sender hardware address. */
  SHA: 8,
  /** ar$spa, sender protocol address. */
  SPA: 14,
  /** ar$tha, target hardware address. */
  THA: 18,
  /** ar$tpa, target protocol address. */
  TPA: 24,
  /** Packet length. */
  LEN: 28,
} as const;

/** ares_op$REQUEST and ares_op$REPLY. */
export const ARP_OP = { REQUEST: 1, REPLY: 2 } as const;

/** Why bytes are not ARP, or not Ethernet/IPv4 ARP (`parseArp` only). */
export type ArpReason = "ok" | "arp-truncated" | "arp-not-ethernet-ipv4";

/** The meaning of an Ethernet/IPv4 ARP packet. */
export interface ArpRepr {
  op: number;
  senderHw: MacKey;
  /** IPv4 address as an unsigned 32-bit number. */
  senderIp: number;
  targetHw: MacKey;
  targetIp: number;
}

/**
 * A view over an ARP packet.
 *
 * @example
 * ```ts
 * import { ArpPacket } from "./arp.ts";
 * const a = new ArpPacket();
 * a.check(new Uint8Array(28)); // "ok" (htype 0, hlen 0: fields are all empty)
 * ```
 */
export class ArpPacket {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  /** The one door for untrusted bytes: the fixed part and all four addresses must fit. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): ArpReason {
    this.buf = EMPTY;
    this.off = this.len = 0;
    if (off < 0 || off + len > buf.length || len < ARP.ADDRS) return "arp-truncated";
    const need = ARP.ADDRS + 2 * (buf[off + ARP.HLEN] + buf[off + ARP.PLEN]);
    if (len < need) return "arp-truncated";
    this.buf = buf;
    this.off = off;
    this.len = need;
    return "ok";
  }

  get htype(): number {
    return u16(this.buf, this.off + ARP.HTYPE);
  }
  get ptype(): number {
    return u16(this.buf, this.off + ARP.PTYPE);
  }
  get hlen(): number {
    return this.buf[this.off + ARP.HLEN];
  }
  get plen(): number {
    return this.buf[this.off + ARP.PLEN];
  }
  get op(): number {
    return u16(this.buf, this.off + ARP.OPER);
  }
  /** True for Ethernet over IPv4, the only case the fixed offsets and MAT handle. */
  get isEthernetIpv4(): boolean {
    return this.htype === 1 && this.ptype === 0x0800 && this.hlen === 6 && this.plen === 4;
  }
  /** Absolute offsets of the four addresses, valid for any hlen/plen. */
  get shaOffset(): number {
    return this.off + ARP.ADDRS;
  }
  get spaOffset(): number {
    return this.shaOffset + this.hlen;
  }
  get thaOffset(): number {
    return this.spaOffset + this.plen;
  }
  get tpaOffset(): number {
    return this.thaOffset + this.hlen;
  }
}

/** Parses a checked packet; only Ethernet/IPv4 has a repr. */
export function parseArp(a: ArpPacket): Checked<ArpRepr, ArpReason> {
  if (!a.isEthernetIpv4) return { ok: false, reason: "arp-not-ethernet-ipv4" };
  return {
    ok: true,
    value: {
      op: a.op,
      senderHw: macAt(a.buf, a.shaOffset),
      senderIp: u32(a.buf, a.spaOffset),
      targetHw: macAt(a.buf, a.thaOffset),
      targetIp: u32(a.buf, a.tpaOffset),
    },
  };
}

/** Bytes `emitArp` writes. */
export function arpLength(_r: ArpRepr): number {
  return ARP_ETH_IPV4.LEN;
}

/** Writes `r` at `off`; the caller has made room for `arpLength(r)` bytes. */
export function emitArp(r: ArpRepr, buf: Uint8Array, off: number): void {
  put16(buf, off + ARP.HTYPE, 1);
  put16(buf, off + ARP.PTYPE, 0x0800);
  buf[off + ARP.HLEN] = 6;
  buf[off + ARP.PLEN] = 4;
  put16(buf, off + ARP.OPER, r.op);
  writeMac(buf, off + ARP_ETH_IPV4.SHA, r.senderHw);
  put32(buf, off + ARP_ETH_IPV4.SPA, r.senderIp);
  writeMac(buf, off + ARP_ETH_IPV4.THA, r.targetHw);
  put32(buf, off + ARP_ETH_IPV4.TPA, r.targetIp);
}
