/**
 * IEEE 802.2 LLC header, found in IEEE 802.3 frames whose type/length field
 * is a length (< 0x0600): DSAP, SSAP and a control field of one octet
 * (U-format, low two bits 11) or two octets (I- and S-format).
 *
 * Not done here: SNAP (DSAP = SSAP = 0xAA; OUI + protocol id follow, and pass
 * through as payload), LLC type 2 connection state.
 *
 * @module
 */
import { type Checked, EMPTY } from "./checked.ts";

/** Offsets (IEEE 802.2 clause 3.2). */
export const LLC = {
  /** Destination Service Access Point. */
  DSAP: 0,
  /** Source Service Access Point (low bit: command/response). */
  SSAP: 1,
  /** Control field, 1 octet (U-format) or 2 octets (I/S-format). */
  CONTROL: 2,
} as const;

/** DSAP/SSAP of the Spanning Tree Protocol (BPDUs). */
export const SAP_STP = 0x42;
/** DSAP/SSAP announcing a SNAP header. */
export const SAP_SNAP = 0xaa;

/** Why bytes are not an LLC header. */
export type LlcReason = "ok" | "llc-truncated";

/** The meaning of an LLC header. */
export interface LlcRepr {
  dsap: number;
  ssap: number;
  /** Control field, one octet for U-format or a 16-bit value for I/S-format. */
  control: number;
  /** 1 (U-format) or 2 (I/S-format). */
  controlOctets: 1 | 2;
}

/**
 * A view over an LLC header.
 *
 * @example
 * ```ts
 * import { LlcHeader } from "./llc.ts";
 * const h = new LlcHeader();
 * h.check(new Uint8Array([0x42, 0x42, 0x03])); // "ok"; h.headerLength === 3
 * ```
 */
export class LlcHeader {
  buf: Uint8Array = EMPTY;
  off = 0;
  len = 0;

  /** The door for untrusted bytes. */
  check(buf: Uint8Array, off = 0, len = buf.length - off): LlcReason {
    this.buf = EMPTY;
    this.off = this.len = 0;
    if (off < 0 || len < 3 || off + len > buf.length) return "llc-truncated";
    const u = (buf[off + LLC.CONTROL] & 3) === 3;
    if (!u && len < 4) return "llc-truncated";
    this.buf = buf;
    this.off = off;
    this.len = len;
    return "ok";
  }

  get dsap(): number {
    return this.buf[this.off + LLC.DSAP];
  }
  get ssap(): number {
    return this.buf[this.off + LLC.SSAP];
  }
  /** True for a one-octet (unnumbered) control field. */
  get isUFormat(): boolean {
    return (this.buf[this.off + LLC.CONTROL] & 3) === 3;
  }
  get control(): number {
    const c = this.off + LLC.CONTROL;
    return this.isUFormat ? this.buf[c] : (this.buf[c] << 8) | this.buf[c + 1];
  }
  /** 3 or 4. */
  get headerLength(): number {
    return this.isUFormat ? 3 : 4;
  }
}

/** Parses a checked header. */
export function parseLlc(h: LlcHeader): Checked<LlcRepr, LlcReason> {
  return {
    ok: true,
    value: { dsap: h.dsap, ssap: h.ssap, control: h.control, controlOctets: h.isUFormat ? 1 : 2 },
  };
}

/** Header length `emitLlc` writes for `r`. */
export function llcLength(r: LlcRepr): number {
  return 2 + r.controlOctets;
}

/** Writes `r` at `off`; the caller has made room for `llcLength(r)` bytes. */
export function emitLlc(r: LlcRepr, buf: Uint8Array, off: number): void {
  buf[off + LLC.DSAP] = r.dsap;
  buf[off + LLC.SSAP] = r.ssap;
  if (llcLength(r) === 3) buf[off + LLC.CONTROL] = r.control;
  else {
    buf[off + LLC.CONTROL] = r.control >>> 8;
    buf[off + LLC.CONTROL + 1] = r.control & 0xff;
  }
}
