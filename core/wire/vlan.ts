/**
 * IEEE 802.1Q VLAN tags (C-tag, TPID 0x8100) and IEEE 802.1ad service tags
 * (S-tag, TPID 0x88a8): a 4-byte TPID + TCI pair inserted after the source
 * MAC of an Ethernet frame (IEEE 802.1Q-2018 clause 9).
 *
 * `core/wire/ethernet.ts` walks the tags of a frame; this file names the
 * fields. Not done here: the legacy 0x9100 "QinQ" TPID (passes through as an
 * unknown EtherType), priority mapping, VLAN membership.
 *
 * @module
 */
import { type Checked, EMPTY, put16, u16 } from "./checked.ts";

/** Offsets within one tag (IEEE 802.1Q clause 9.5). */
export const VLAN = {
  /** Tag Protocol Identifier, 0x8100 or 0x88a8. */
  TPID: 0,
  /** Tag Control Information: PCP (3 bits), DEI (1 bit), VID (12 bits). */
  TCI: 2,
  /** Bytes per tag. */
  LEN: 4,
} as const;

/** TPID of an 802.1Q customer tag. */
export const TPID_8021Q = 0x8100;
/** TPID of an 802.1ad service tag. */
export const TPID_8021AD = 0x88a8;

/** True for the TPIDs this module treats as tags. */
export function isTpid(type: number): boolean {
  return type === TPID_8021Q || type === TPID_8021AD;
}

/** Why 4 bytes are not a tag. */
export type VlanReason = "ok" | "vlan-truncated" | "vlan-bad-tpid";

/** The meaning of one tag. */
export interface VlanRepr {
  tpid: number;
  /** Priority Code Point, 0..7. */
  pcp: number;
  /** Drop Eligible Indicator, 0 or 1. */
  dei: number;
  /** VLAN id, 0..4095 (0 = priority tag, 4095 reserved; both pass through). */
  vid: number;
}

/**
 * A view over one tag.
 *
 * @example
 * ```ts
 * import { VlanTag } from "./vlan.ts";
 * const t = new VlanTag();
 * t.check(new Uint8Array([0x81, 0x00, 0x20, 0x64])); // "ok"; t.vid === 100, t.pcp === 1
 * ```
 */
export class VlanTag {
  buf: Uint8Array = EMPTY;
  off = 0;

  /** The door for untrusted bytes: binds the view when a tag fits and its TPID is known. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): VlanReason {
    this.buf = EMPTY;
    this.off = 0;
    if (off < 0 || len < VLAN.LEN || off + len > buf.length) return "vlan-truncated";
    if (!isTpid(u16(buf, off))) return "vlan-bad-tpid";
    this.buf = buf;
    this.off = off;
    return "ok";
  }

  get tpid(): number {
    return u16(this.buf, this.off + VLAN.TPID);
  }
  get tci(): number {
    return u16(this.buf, this.off + VLAN.TCI);
  }
  get pcp(): number {
    return this.buf[this.off + VLAN.TCI] >>> 5;
  }
  get dei(): number {
    return (this.buf[this.off + VLAN.TCI] >>> 4) & 1;
  }
  get vid(): number {
    return this.tci & 0x0fff;
  }
}

/** Parses a checked tag. */
export function parseVlan(t: VlanTag): Checked<VlanRepr, VlanReason> {
  return { ok: true, value: { tpid: t.tpid, pcp: t.pcp, dei: t.dei, vid: t.vid } };
}

/** Writes a tag at `off`; the caller has made room for `VLAN.LEN` bytes. */
export function emitVlan(r: VlanRepr, buf: Uint8Array, off: number): void {
  put16(buf, off + VLAN.TPID, r.tpid);
  put16(buf, off + VLAN.TCI, ((r.pcp & 7) << 13) | ((r.dei & 1) << 12) | (r.vid & 0x0fff));
}
