/**
 * L2TPv3 control message codec: the control header (RFC 3931 section 3.2.1)
 * and the AVP list (section 5.1), over IP protocol 115 (section 4.1.1: four
 * zero bytes of Session ID first) and over UDP (section 4.1.2: the header
 * starts right after the UDP header).
 *
 * ```
 *  0                   1                   2                   3
 * |T|L|x|x|S|x|x|x|x|x|x|x|  Ver  |            Length             |  T=L=S=1, Ver=3
 * |                 Control Connection ID (receiver's)            |
 * |               Ns              |               Nr              |
 * |M|H| rsvd  |  AVP Length (10)  |           Vendor ID           |  one AVP;
 * |         Attribute Type        |        value ...              |  repeated
 * ```
 *
 * `Length` counts from the T bit to the end of the last AVP (not the four
 * zero bytes over IP). A message with no AVP is a ZLB (pure acknowledgement).
 *
 * One door, `parseControl`, returns a `ControlMessage` (a plain object whose
 * AVP values are views into the input) or a reason; it never throws.
 * `encodeControl` is its inverse: `parseControl(encodeControl(m).bytes) == m`
 * for every message without hidden AVPs; it returns an error instead of
 * throwing for a message that cannot be encoded (an AVP over 1023 bytes).
 *
 * Deliberately not done here: the meaning of AVPs (`avp_fields.ts`), the
 * M-bit rule for unknown AVPs (the caller acts on `unknownMandatory` from
 * `avp_fields.ts`), AVP hiding (section 5.3: hidden AVPs are rejected with
 * reason `hidden_avp`, we never share a secret to unhide them), and reserved
 * header bits, which are ignored on receipt and sent as zero.
 *
 * @module
 */

/** How control and data messages travel: IP protocol 115 or UDP (port 1701). */
export type Transport = "ip" | "udp";

/** One attribute-value pair, RFC 3931 section 5.1. */
export interface Avp {
  /** M bit: the receiver must understand this AVP or tear down. */
  mandatory: boolean;
  /** H bit: the value is hidden (encrypted); we reject such messages. */
  hidden: boolean;
  /** 0 = IETF, 9 = Cisco. */
  vendor: number;
  /** Attribute type within the vendor's space. */
  type: number;
  /** The value bytes (a view into the parsed buffer; copy to keep). */
  value: Uint8Array;
}

/** A parsed control message: header fields and AVPs in wire order. */
export interface ControlMessage {
  /** Control Connection ID of the receiver (0 in an SCCRQ). */
  ccid: number;
  /** Sequence number of this message. */
  ns: number;
  /** Next sequence number the sender expects to receive. */
  nr: number;
  /** AVPs in order; empty for a ZLB. The Message Type AVP is first otherwise. */
  avps: Avp[];
}

/** Why bytes are not an acceptable control message. */
export type ControlParseReason =
  | "truncated"
  | "session_id_not_zero"
  | "not_control"
  | "bad_version"
  | "missing_length_bit"
  | "missing_sequence_bit"
  | "bad_length"
  | "avp_truncated"
  | "avp_too_short"
  | "hidden_avp"
  | "message_type_not_first";

/** Result of `parseControl`. */
export type ControlParse =
  | { ok: true; msg: ControlMessage }
  | {
    ok: false;
    reason: ControlParseReason;
    /** Human-readable explanation ("AVP at offset 40 claims 900 bytes, 12 left"). */
    detail: string;
    /** The header's CCID when the header itself parsed (lets the caller answer). */
    ccid?: number;
  };

/** Size of the control header (flags..Nr). */
export const CONTROL_HEADER_LENGTH = 12;
/** Size of the AVP header (flags/length, vendor, type). */
export const AVP_HEADER_LENGTH = 6;
/** Largest AVP: the length field is 10 bits. */
export const AVP_MAX_LENGTH = 0x3ff;
const FLAGS_CONTROL = 0xc803; // T=1 L=1 S=1 Ver=3

/** Bytes in front of the control header: 4 zero Session ID bytes over IP, none over UDP. */
export function controlPrefix(transport: Transport): number {
  return transport === "ip" ? 4 : 0;
}

function fail(
  reason: ControlParseReason,
  detail: string,
  ccid?: number,
): ControlParse {
  return ccid === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, ccid };
}

/**
 * Parses one control message. Over IP the input starts at the (zero)
 * Session ID, right after the IPv4 header; over UDP, right after the UDP
 * header. Bytes past `Length` (link padding) are ignored.
 *
 * @example
 * ```ts
 * import { emitControl, parseControl } from "./control_message.ts";
 * const bytes = emitControl("ip", { ccid: 7, ns: 0, nr: 1, avps: [] });
 * const r = parseControl(bytes, "ip"); // { ok: true, msg: { ccid: 7, ns: 0, nr: 1, avps: [] } }
 * ```
 */
export function parseControl(bytes: Uint8Array, transport: Transport): ControlParse {
  const base = controlPrefix(transport);
  if (bytes.length < base + CONTROL_HEADER_LENGTH) {
    return fail(
      "truncated",
      `${bytes.length} bytes, a control header needs ${base + CONTROL_HEADER_LENGTH}`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (base === 4 && dv.getUint32(0) !== 0) {
    return fail("session_id_not_zero", "Session ID is not zero: a data message");
  }
  const flags = dv.getUint16(base);
  if ((flags & 0x8000) === 0) return fail("not_control", "T bit is clear: a data message");
  if ((flags & 0x000f) !== 3) {
    return fail("bad_version", `version ${flags & 0x000f}, expected 3 (L2TPv3)`);
  }
  if ((flags & 0x4000) === 0) return fail("missing_length_bit", "L bit is clear");
  if ((flags & 0x0800) === 0) return fail("missing_sequence_bit", "S bit is clear");
  const length = dv.getUint16(base + 2);
  const ccid = dv.getUint32(base + 4);
  if (length < CONTROL_HEADER_LENGTH) {
    return fail("bad_length", `Length ${length} is shorter than the 12-byte header`, ccid);
  }
  if (base + length > bytes.length) {
    return fail("truncated", `Length ${length} but only ${bytes.length - base} bytes`, ccid);
  }
  const ns = dv.getUint16(base + 8);
  const nr = dv.getUint16(base + 10);
  const avps: Avp[] = [];
  const end = base + length;
  let off = base + CONTROL_HEADER_LENGTH;
  while (off < end) {
    if (end - off < AVP_HEADER_LENGTH) {
      return fail(
        "avp_truncated",
        `${end - off} stray bytes at offset ${off - base}, an AVP header needs 6`,
        ccid,
      );
    }
    const w = dv.getUint16(off);
    const alen = w & AVP_MAX_LENGTH;
    if (alen < AVP_HEADER_LENGTH) {
      return fail(
        "avp_too_short",
        `AVP at offset ${off - base} has length ${alen}, minimum 6`,
        ccid,
      );
    }
    if (off + alen > end) {
      return fail(
        "avp_truncated",
        `AVP at offset ${off - base} claims ${alen} bytes, ${end - off} left`,
        ccid,
      );
    }
    const vendor = dv.getUint16(off + 2);
    const type = dv.getUint16(off + 4);
    const hidden = (w & 0x4000) !== 0;
    if (hidden) {
      return fail(
        "hidden_avp",
        `AVP (${vendor},${type}) is hidden (H bit); hidden AVPs are not supported`,
        ccid,
      );
    }
    avps.push({
      mandatory: (w & 0x8000) !== 0,
      hidden,
      vendor,
      type,
      value: bytes.subarray(off + AVP_HEADER_LENGTH, off + alen),
    });
    off += alen;
  }
  if (avps.length > 0) {
    const first = avps[0];
    if (first.vendor !== 0 || first.type !== 0 || first.value.length !== 2) {
      return fail(
        "message_type_not_first",
        `first AVP is (${first.vendor},${first.type}) of ${first.value.length} bytes, ` +
          "expected the 2-byte Message Type (0,0)",
        ccid,
      );
    }
  }
  return { ok: true, msg: { ccid, ns, nr, avps } };
}

/** Size in bytes `emitControl` produces for `msg`. */
export function controlLength(transport: Transport, msg: ControlMessage): number {
  let n = controlPrefix(transport) + CONTROL_HEADER_LENGTH;
  for (const a of msg.avps) n += AVP_HEADER_LENGTH + a.value.length;
  return n;
}

/** Result of `encodeControl`: the bytes, or why they cannot be built. */
export type ControlEncode =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; reason: "avp_too_long" | "message_too_long"; detail: string };

/**
 * Encodes a control message, or says why it cannot: an AVP longer than the
 * 10-bit length allows (1023 bytes with its header) or a message longer
 * than 65535 bytes. Never throws; this is the door the daemons use, so a
 * reply built from a peer's data can fail to go out but cannot stop them.
 *
 * @example
 * ```ts
 * import { encodeControl } from "./control_message.ts";
 * const r = encodeControl("udp", { ccid: 1, ns: 2, nr: 3, avps: [] });
 * r.ok && r.bytes.length; // 12
 * ```
 */
export function encodeControl(transport: Transport, msg: ControlMessage): ControlEncode {
  for (const a of msg.avps) {
    const alen = AVP_HEADER_LENGTH + a.value.length;
    if (alen > AVP_MAX_LENGTH) {
      return {
        ok: false,
        reason: "avp_too_long",
        detail: `AVP (${a.vendor},${a.type}) of ${alen} bytes exceeds 1023`,
      };
    }
  }
  const total = controlLength(transport, msg);
  const base = controlPrefix(transport);
  const length = total - base;
  if (length > 0xffff) {
    return {
      ok: false,
      reason: "message_too_long",
      detail: `control message of ${length} bytes exceeds 65535`,
    };
  }
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint16(base, FLAGS_CONTROL);
  dv.setUint16(base + 2, length);
  dv.setUint32(base + 4, msg.ccid >>> 0);
  dv.setUint16(base + 8, msg.ns & 0xffff);
  dv.setUint16(base + 10, msg.nr & 0xffff);
  let off = base + CONTROL_HEADER_LENGTH;
  for (const a of msg.avps) {
    const alen = AVP_HEADER_LENGTH + a.value.length;
    dv.setUint16(off, (a.mandatory ? 0x8000 : 0) | (a.hidden ? 0x4000 : 0) | alen);
    dv.setUint16(off + 2, a.vendor & 0xffff);
    dv.setUint16(off + 4, a.type & 0xffff);
    out.set(a.value, off + AVP_HEADER_LENGTH);
    off += alen;
  }
  return { ok: true, bytes: out };
}

/**
 * `encodeControl` for messages known to fit (tests, scripted peers): throws
 * `RangeError` where `encodeControl` returns an error. The daemons never
 * call it.
 *
 * @example
 * ```ts
 * import { emitControl } from "./control_message.ts";
 * const zlb = emitControl("udp", { ccid: 1, ns: 2, nr: 3, avps: [] });
 * zlb.length; // 12
 * ```
 */
export function emitControl(transport: Transport, msg: ControlMessage): Uint8Array {
  const r = encodeControl(transport, msg);
  if (!r.ok) throw new RangeError(r.detail);
  return r.bytes;
}

/** The message type of a parsed message, `undefined` for a ZLB. */
export function messageTypeOf(msg: ControlMessage): number | undefined {
  if (msg.avps.length === 0) return undefined;
  const v = msg.avps[0].value;
  return (v[0] << 8) | v[1];
}

/** True when the message carries no AVP (a Zero-Length Body acknowledgement). */
export function isZlb(msg: ControlMessage): boolean {
  return msg.avps.length === 0;
}
