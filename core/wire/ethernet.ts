/**
 * Ethernet II and IEEE 802.3 frame headers, with up to two VLAN tags
 * (802.1Q C-tag, 802.1ad S-tag + C-tag).
 *
 * The frame as the TAP device and the VPN carry it: no preamble, no FCS.
 * The type/length field after the tags is an EtherType when >= 0x0600
 * (Ethernet II) and a payload length when <= 1500 (IEEE 802.3, an LLC header
 * follows: `core/wire/llc.ts`); 1501..1535 is undefined and rejected.
 * Frames may carry padding after the payload; it is not an error.
 *
 * Two doors: `check()` for code that interprets the payload (MAT, offload)
 * and judges the type/length; `checkHeader()` for code that forwards a frame
 * as a bridge does (the learning switch, the VPN node) and needs only the
 * addresses, the tags and the type/length, whatever its value. The bridge
 * door is also a function, `ethScan()`, with static accessors on (buf, off)
 * (`ethDstHi`...): the same reads without a view object, for the learning
 * switch's per-frame path.
 *
 * Not done here: jumbo 802.3 lengths, the FCS, more than two tags
 * ("eth-too-many-tags"), 802.1AE MACsec, PBB (802.1ah).
 *
 * @module
 */
import { macAt, type MacKey, writeMac } from "../mac.ts";
import { type Checked, EMPTY, put16, u16 } from "./checked.ts";
import { emitVlan, isTpid, TPID_8021AD, TPID_8021Q, VLAN, type VlanRepr } from "./vlan.ts";

/** Offsets of the untagged header (IEEE 802.3-2022 clause 3.2). */
export const ETH = {
  /** Destination address (3.2.4). */
  DST: 0,
  /** Source address (3.2.4). */
  SRC: 6,
  /** Length/Type (3.2.6), or the first tag's TPID in a tagged frame. */
  TYPE: 12,
  /** Untagged header length. */
  HEADER_LEN: 14,
} as const;

/** EtherTypes this code base names; any other passes through. */
export const ETHERTYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPV6: 0x86dd,
  QINQ: 0x88a8,
} as const;

/** Smallest value of the type/length field that is an EtherType (3.2.6). */
export const MIN_ETHERTYPE = 0x0600;
/** Largest value of the type/length field that is an 802.3 length. */
export const MAX_8023_LENGTH = 1500;
/** Tags `check()` walks before giving up. */
export const MAX_TAGS = 2;

/** Why bytes are not an Ethernet frame. */
export type EthernetReason =
  | "ok"
  | "eth-truncated"
  | "eth-tag-truncated"
  | "eth-too-many-tags"
  | "eth-bad-type-length"
  | "eth-length-exceeds-frame";

/** The meaning of an Ethernet header. */
export interface EthernetRepr {
  dst: MacKey;
  src: MacKey;
  /** Tags outermost first; empty for an untagged frame. */
  tags: VlanRepr[];
  /** EtherType (>= 0x0600) or 802.3 payload length (<= 1500). */
  typeOrLength: number;
}

/**
 * A view over an Ethernet frame.
 *
 * @example
 * ```ts
 * import { EthernetFrame } from "./ethernet.ts";
 * const f = new EthernetFrame();
 * const bytes = new Uint8Array(14 + 28);
 * bytes[12] = 0x08, bytes[13] = 0x06;
 * f.check(bytes); // "ok"; f.etherType === 0x0806, f.payloadOffset === 14
 * ```
 */
export class EthernetFrame {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;
  /** Number of VLAN tags, 0..MAX_TAGS. */
  tagCount = 0;
  /** Absolute offset in `buf` of the payload (after tags and type/length). */
  payloadOffset = 0;
  /** Type/length value after the tags. */
  typeOrLength = 0;

  /**
   * The one door for untrusted bytes: `"ok"` binds the view to `buf[off, off + len)`
   * when the header and its tags fit, at most `MAX_TAGS` tags precede the
   * type/length, and the type/length is an EtherType or an 802.3 length the
   * frame holds.
   */
  check(buf: Uint8Array, off = 0, len = buf.length - off): EthernetReason {
    const r = this.checkHeader(buf, off, len);
    if (r !== "ok") return r;
    const type = this.typeOrLength;
    let why: EthernetReason = "ok";
    if (isTpid(type)) why = "eth-too-many-tags";
    else if (type > MAX_8023_LENGTH && type < MIN_ETHERTYPE) why = "eth-bad-type-length";
    else if (type <= MAX_8023_LENGTH && this.payloadOffset + type > off + len) {
      why = "eth-length-exceeds-frame";
    }
    if (why !== "ok") this.unbind();
    return why;
  }

  /**
   * The door for code that forwards frames without judging their contents,
   * as a bridge does: `"ok"` binds the view when the 14-byte header and the
   * tags it walks (at most `MAX_TAGS`) fit. The type/length after them is
   * not judged: an 802.3 length the frame does not hold, the undefined
   * 1501..1535, or a third TPID (left as the type) all pass. Getters read
   * in bounds after either door; `payloadLength` is then what the
   * type/length field says, which may exceed the frame.
   */
  checkHeader(buf: Uint8Array, off = 0, len = buf.length - off): EthernetReason {
    // Unbound only on failure: a per-frame door stores each field once.
    const scan = ethScan(buf, off, len);
    if (scan < 0) {
      this.unbind();
      return scan === SCAN_TRUNCATED ? "eth-truncated" : "eth-tag-truncated";
    }
    const tags = scan >>> 16;
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.tagCount = tags;
    this.payloadOffset = off + ETH.HEADER_LEN + tags * VLAN.LEN;
    this.typeOrLength = scan & 0xffff;
    return "ok";
  }

  private unbind(): void {
    this.buf = EMPTY;
    this.off =
      this.len =
      this.tagCount =
      this.payloadOffset =
      this.typeOrLength =
        0;
  }

  get dst(): MacKey {
    return macAt(this.buf, this.off + ETH.DST);
  }
  set dst(m: MacKey) {
    writeMac(this.buf, this.off + ETH.DST, m);
  }
  get src(): MacKey {
    return macAt(this.buf, this.off + ETH.SRC);
  }
  set src(m: MacKey) {
    writeMac(this.buf, this.off + ETH.SRC, m);
  }
  /** Absolute offsets of the addresses, for code that rewrites them with `writeMac`. */
  get dstOffset(): number {
    return this.off + ETH.DST;
  }
  get srcOffset(): number {
    return this.off + ETH.SRC;
  }
  /**
   * The destination as two integers, the first two octets (`dstHi`, the
   * MacKey's high 16 bits) and the last four (`dstLo`, its low 32 bits as a
   * signed 32-bit integer): for per-frame code and tables keyed on the
   * halves, where a 48-bit MacKey would be a double (boxed when it crosses a
   * call).
   */
  get dstHi(): number {
    return u16(this.buf, this.off + ETH.DST);
  }
  get dstLo(): number {
    return i32(this.buf, this.off + ETH.DST + 2);
  }
  /** The source as two integers, as `dstHi`/`dstLo`. */
  get srcHi(): number {
    return u16(this.buf, this.off + ETH.SRC);
  }
  get srcLo(): number {
    return i32(this.buf, this.off + ETH.SRC + 2);
  }
  /** True for an IEEE 802.3 frame (type/length is a length; LLC follows). */
  get isLengthFrame(): boolean {
    return this.typeOrLength <= MAX_8023_LENGTH;
  }
  /** The EtherType, or -1 for an 802.3 length frame. */
  get etherType(): number {
    return this.typeOrLength <= MAX_8023_LENGTH ? -1 : this.typeOrLength;
  }
  /** Absolute offset of tag `i` (0 = outermost); the caller keeps `i < tagCount`. */
  tagOffset(i: number): number {
    return this.off + ETH.TYPE + i * VLAN.LEN;
  }
  /** TPID of tag `i` (0 = outermost), or -1 when the frame has no tag `i`. */
  tagTpid(i: number): number {
    return i >= 0 && i < this.tagCount ? u16(this.buf, this.tagOffset(i) + VLAN.TPID) : -1;
  }
  /** Payload bytes: the 802.3 length, or everything after the header (padding included). */
  get payloadLength(): number {
    return this.isLengthFrame ? this.typeOrLength : this.off + this.len - this.payloadOffset;
  }
}

// ---------------------------------------------------------------- static accessors
//
// The reads of `EthernetFrame`'s bridge door and getters as plain functions on (buf, off),
// for the per-frame path that must not pay a view's field loads and stores (the learning
// switch, core/switch.ts). Same rules: `ethScan` is the door, and the accessors read in
// bounds only after it said the header fits. Their bodies read the bytes themselves, with
// the offsets as module constants, rather than through `u16`: the switch's `forward` is
// large, and calls nested one level deeper no longer fit V8's inlining budget (measured:
// about 8 ns a decision, a third of it).

const DST = ETH.DST;
const SRC = ETH.SRC;
const TYPE = ETH.TYPE;
const HEADER_LEN = ETH.HEADER_LEN;
const TAG_LEN = VLAN.LEN;
const TPID_Q = TPID_8021Q;
const TPID_AD = TPID_8021AD;

/** `ethScan`: the frame is shorter than the 14-byte header. */
export const SCAN_TRUNCATED = -1;
/** `ethScan`: a tag the walk reached does not fit. */
export const SCAN_TAG_TRUNCATED = -2;

/**
 * The door of `checkHeader()` as a function: walks the header of the frame
 * at `buf[off, off + len)` and its tags (at most `MAX_TAGS`). Returns
 * `SCAN_TRUNCATED` or `SCAN_TAG_TRUNCATED` when they do not fit, else
 * `tagCount << 16 | typeOrLength` (`scanTags`, `scanType`; a result above
 * 0xffff has tags); the type/length is not judged. Never throws, allocates
 * nothing.
 */
export function ethScan(buf: Uint8Array, off: number, len: number): number {
  if (off < 0 || off + len > buf.length || len < HEADER_LEN) return SCAN_TRUNCATED;
  let p = off + TYPE;
  let type = (buf[p] << 8) | buf[p + 1];
  if (type !== TPID_Q && type !== TPID_AD) return type;
  const end = off + len;
  let tags = 0;
  do {
    tags++;
    p += TAG_LEN;
    if (p + 2 > end) return SCAN_TAG_TRUNCATED;
    type = (buf[p] << 8) | buf[p + 1];
  } while ((type === TPID_Q || type === TPID_AD) && tags < MAX_TAGS);
  return (tags << 16) | type;
}

/** The tag count of an `ethScan` result that is >= 0. */
export function scanTags(scan: number): number {
  return scan >>> 16;
}

/** The type/length after the tags of an `ethScan` result that is >= 0. */
export function scanType(scan: number): number {
  return scan & 0xffff;
}

/** `EthernetFrame.dstHi` of the frame at `off` (after `ethScan`). */
export function ethDstHi(buf: Uint8Array, off: number): number {
  return (buf[off + DST] << 8) | buf[off + DST + 1];
}

/** `EthernetFrame.dstLo` of the frame at `off` (after `ethScan`). */
export function ethDstLo(buf: Uint8Array, off: number): number {
  const p = off + DST + 2;
  return (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
}

/** `EthernetFrame.srcHi` of the frame at `off` (after `ethScan`). */
export function ethSrcHi(buf: Uint8Array, off: number): number {
  return (buf[off + SRC] << 8) | buf[off + SRC + 1];
}

/** `EthernetFrame.srcLo` of the frame at `off` (after `ethScan`). */
export function ethSrcLo(buf: Uint8Array, off: number): number {
  const p = off + SRC + 2;
  return (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
}

/** Reads a big-endian 32-bit word as a signed integer. The caller has checked bounds. */
function i32(buf: Uint8Array, off: number): number {
  return (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

/** Parses a checked frame's header. */
export function parseEthernet(f: EthernetFrame): Checked<EthernetRepr, EthernetReason> {
  const tags: VlanRepr[] = [];
  for (let i = 0; i < f.tagCount; i++) {
    const t = f.tagOffset(i);
    const tci = u16(f.buf, t + VLAN.TCI);
    tags.push({ tpid: u16(f.buf, t), pcp: tci >>> 13, dei: (tci >>> 12) & 1, vid: tci & 0xfff });
  }
  return { ok: true, value: { dst: f.dst, src: f.src, tags, typeOrLength: f.typeOrLength } };
}

/** Header length `emitEthernet` writes for `r`. */
export function ethernetHeaderLength(r: EthernetRepr): number {
  return ETH.HEADER_LEN + r.tags.length * VLAN.LEN;
}

/** Writes the header of `r` at `off`; the caller has made room. */
export function emitEthernet(r: EthernetRepr, buf: Uint8Array, off: number): void {
  writeMac(buf, off + ETH.DST, r.dst);
  writeMac(buf, off + ETH.SRC, r.src);
  let p = off + ETH.TYPE;
  for (const t of r.tags) {
    emitVlan(t, buf, p);
    p += VLAN.LEN;
  }
  put16(buf, p, r.typeOrLength);
}
