/**
 * The meaning of AVPs: typed fields decoded from a `ControlMessage`'s AVP
 * list, and the AVP list built back from fields, in either dialect.
 *
 * Two dialects carry the same fields (facts section 2.2):
 * - IETF, RFC 3931 section 5.4 (vendor 0);
 * - Cisco's pre-standard "draft" L2TPv3 (vendor 9 twins of the IETF AVPs,
 *   e.g. (9,1) Assigned Connection ID for (0,61)), which a Cisco sends by
 *   default and marks mandatory.
 * Decoding accepts both and prefers the IETF value when both are present.
 * Encoding in the Cisco dialect sends both: the IETF AVP with M=0 and the
 * vendor-9 twin (M=1 for the control-connection ones, as Cisco itself does).
 *
 * The M-bit rule (RFC 3931 section 5.2) is left to the caller, who knows
 * whether the message belongs to a session (answer with CDN) or to the
 * control connection (answer with StopCCN): `decodeFields` lists the
 * unknown AVPs that carry M=1 in `unknownMandatory`. Unknown AVPs with M=0
 * are kept in `unknown` and otherwise ignored.
 *
 * The Message Digest AVP is handled on the encoded bytes by `auth.ts`.
 *
 * Not done: Challenge/Challenge Response (L2TPv2-style tunnel
 * authentication), Preferred Language.
 *
 * @module
 */
import { PEER_NAME_MAX, RESULT_MESSAGE_MAX, safeBytes, safeText } from "./peer_text.ts";
import { Avp as A, avpInfo, avpLabel, CiscoAvp as C, VENDOR_CISCO } from "./constants.ts";
import type { Avp, ControlMessage } from "./control_message.ts";

/** Result Code AVP (RFC 3931 section 5.4.2): result, optional error and message. */
export interface ResultCodeValue {
  result: number;
  error?: number;
  message?: string;
}

/** The AVP values this implementation reads or writes, by RFC name. */
export interface Fields {
  messageType?: number;
  resultCode?: ResultCodeValue;
  /** Protocol Version AVP (0,2): Cisco and freeRtr send 1.0 in SCCRQ/SCCRP. */
  protocolVersion?: { version: number; revision: number };
  framingCapabilities?: number;
  tieBreaker?: Uint8Array;
  firmwareRevision?: number;
  hostName?: string;
  vendorName?: string;
  receiveWindowSize?: number;
  callSerialNumber?: number;
  routerId?: number;
  assignedControlConnectionId?: number;
  pwCapabilities?: number[];
  localSessionId?: number;
  remoteSessionId?: number;
  assignedCookie?: Uint8Array;
  remoteEndId?: Uint8Array;
  pwType?: number;
  l2SpecificSublayer?: number;
  dataSequencing?: number;
  circuitStatus?: number;
  /** Cisco Draft AVP Version (9,10); 1 in every Cisco draft-mode SCCRQ/SCCRP. */
  ciscoDraftVersion?: number;
  /** Control Message Authentication Nonce (0,73) / (9,13), in SCCRQ and SCCRP. */
  nonce?: Uint8Array;
  /** Interface MTU (0,91) RFC 4667 / Cisco (9,14), in ICRQ and ICRP. */
  interfaceMtu?: number;
}

/** Which dialect AVPs are written in. */
export type Dialect = "ietf" | "cisco";

/** What `decodeFields` found besides the fields. */
export interface Decoded {
  fields: Fields;
  /** True when any vendor-9 AVP was present: the peer speaks Cisco's draft dialect. */
  cisco: boolean;
  /** Unknown AVPs with the M bit set: the caller must tear down (CDN or StopCCN). */
  unknownMandatory: Avp[];
  /** Unknown AVPs with M=0, ignored. */
  unknown: Avp[];
}

/** Result of `decodeFields`. */
export type DecodeResult =
  | { ok: true; value: Decoded }
  | { ok: false; reason: "bad_avp_value"; detail: string; avp: Avp };

/** Longest id `printableId` shows whole (bytes). */
export const PRINTABLE_ID_MAX = 64;
const utf8 = new TextDecoder("utf-8", { fatal: false });
const utf8enc = new TextEncoder();

function u16(v: Uint8Array): number {
  return (v[0] << 8) | v[1];
}
function u32(v: Uint8Array): number {
  return ((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]) >>> 0;
}

/** Checks a known AVP's value size against its shape; returns a complaint or "". */
function shapeProblem(a: Avp): string {
  const info = avpInfo(a.vendor, a.type);
  if (!info) return "";
  const n = a.value.length;
  switch (info.shape) {
    case "u16":
    case "version":
      return n === 2 ? "" : "must be 2 bytes";
    case "u32":
      return n === 4 ? "" : "must be 4 bytes";
    case "u64":
      return n === 8 ? "" : "must be 8 bytes";
    case "u16list":
      return n % 2 === 0 ? "" : "must be a list of 2-byte values";
    case "result":
      return n === 2 || n >= 4 ? "" : "must be 2 bytes, or 4 and more";
    case "empty":
      return n === 0 ? "" : "must be empty";
    default:
      return "";
  }
}

/**
 * Decodes the AVPs of a parsed message into typed fields. Fails only when a
 * known AVP has a value of the wrong size (e.g. a 2-byte Local Session ID);
 * the value views point into the message's buffer.
 *
 * @example
 * ```ts
 * import { decodeFields, encodeFields } from "./avp_fields.ts";
 * const avps = encodeFields({ messageType: 6 }, "ietf");
 * const r = decodeFields({ ccid: 1, ns: 0, nr: 0, avps });
 * if (r.ok) r.value.fields.messageType; // 6
 * ```
 */
export function decodeFields(msg: ControlMessage): DecodeResult {
  const f: Fields = {};
  let cisco = false;
  const unknownMandatory: Avp[] = [];
  const unknown: Avp[] = [];
  for (const a of msg.avps) {
    const problem = shapeProblem(a);
    if (problem !== "") {
      return {
        ok: false,
        reason: "bad_avp_value",
        detail: `${avpLabel(a.vendor, a.type)} ${problem}, got ${a.value.length}`,
        avp: a,
      };
    }
    const v = a.value;
    if (a.vendor === 0) {
      switch (a.type) {
        case A.MessageType:
          f.messageType = u16(v);
          continue;
        case A.ResultCode: {
          const rc: ResultCodeValue = { result: u16(v) };
          if (v.length >= 4) rc.error = u16(v.subarray(2));
          if (v.length > 4) rc.message = safeText(utf8.decode(v.subarray(4)), RESULT_MESSAGE_MAX);
          f.resultCode = rc;
          continue;
        }
        case A.ProtocolVersion:
          f.protocolVersion = { version: v[0], revision: v[1] };
          continue;
        case A.FramingCapabilities:
          f.framingCapabilities = u32(v);
          continue;
        case A.TieBreaker:
          f.tieBreaker = v;
          continue;
        case A.FirmwareRevision:
          f.firmwareRevision = u16(v);
          continue;
        case A.HostName:
          f.hostName = safeText(utf8.decode(v), PEER_NAME_MAX);
          continue;
        case A.VendorName:
          f.vendorName = safeText(utf8.decode(v), PEER_NAME_MAX);
          continue;
        case A.ReceiveWindowSize:
          f.receiveWindowSize = u16(v);
          continue;
        case A.CallSerialNumber:
          f.callSerialNumber = u32(v);
          continue;
        case A.RouterId:
          f.routerId = u32(v);
          continue;
        case A.AssignedControlConnectionId:
          f.assignedControlConnectionId = u32(v);
          continue;
        case A.PwCapabilitiesList:
          f.pwCapabilities = u16list(v);
          continue;
        case A.LocalSessionId:
          f.localSessionId = u32(v);
          continue;
        case A.RemoteSessionId:
          f.remoteSessionId = u32(v);
          continue;
        case A.AssignedCookie:
          f.assignedCookie = v;
          continue;
        case A.RemoteEndId:
          f.remoteEndId = v;
          continue;
        case A.PwType:
          f.pwType = u16(v);
          continue;
        case A.L2SpecificSublayer:
          f.l2SpecificSublayer = u16(v);
          continue;
        case A.DataSequencing:
          f.dataSequencing = u16(v);
          continue;
        case A.CircuitStatus:
          f.circuitStatus = u16(v);
          continue;
        case A.ControlMessageAuthNonce:
          f.nonce = v;
          continue;
        case A.InterfaceMtu:
          f.interfaceMtu = u16(v);
          continue;
      }
    } else if (a.vendor === VENDOR_CISCO) {
      cisco = true;
      // Cisco twins fill a field only when no IETF AVP did (IETF wins, any order).
      switch (a.type) {
        case C.AssignedConnectionId:
          if (!hasIetf(msg, A.AssignedControlConnectionId)) {
            f.assignedControlConnectionId = u32(v);
          }
          continue;
        case C.PwCapabilitiesList:
          if (!hasIetf(msg, A.PwCapabilitiesList)) f.pwCapabilities = u16list(v);
          continue;
        case C.LocalSessionId:
          if (!hasIetf(msg, A.LocalSessionId)) f.localSessionId = u32(v);
          continue;
        case C.RemoteSessionId:
          if (!hasIetf(msg, A.RemoteSessionId)) f.remoteSessionId = u32(v);
          continue;
        case C.AssignedCookie:
          if (!hasIetf(msg, A.AssignedCookie)) f.assignedCookie = v;
          continue;
        case C.RemoteEndId:
          if (!hasIetf(msg, A.RemoteEndId)) f.remoteEndId = v;
          continue;
        case C.PwType:
          if (!hasIetf(msg, A.PwType)) f.pwType = u16(v);
          continue;
        case C.CircuitStatus:
          if (!hasIetf(msg, A.CircuitStatus)) f.circuitStatus = u16(v);
          continue;
        case C.DraftAvpVersion:
          f.ciscoDraftVersion = u16(v);
          continue;
        case C.ControlMessageAuthNonce:
          if (!hasIetf(msg, A.ControlMessageAuthNonce)) f.nonce = v;
          continue;
        case C.InterfaceMtu:
          if (!hasIetf(msg, A.InterfaceMtu)) f.interfaceMtu = u16(v);
          continue;
      }
    }
    if (avpInfo(a.vendor, a.type)) continue; // known, carried for information only
    if (a.mandatory) unknownMandatory.push(a);
    else unknown.push(a);
  }
  return { ok: true, value: { fields: f, cisco, unknownMandatory, unknown } };
}

function hasIetf(msg: ControlMessage, type: number): boolean {
  for (const a of msg.avps) if (a.vendor === 0 && a.type === type) return true;
  return false;
}

function u16list(v: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < v.length; i += 2) out.push(u16(v.subarray(i)));
  return out;
}

function avp(vendor: number, type: number, value: Uint8Array, mandatory: boolean): Avp {
  return { mandatory, hidden: false, vendor, type, value };
}
function b16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}
function b32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}
function b16list(list: number[]): Uint8Array {
  const out = new Uint8Array(list.length * 2);
  list.forEach((n, i) => out.set(b16(n), i * 2));
  return out;
}

/**
 * Builds the AVP list for `fields` in a fixed order: Message Type first,
 * IETF AVPs by type number, then (Cisco dialect) the vendor-9 twins of the
 * fields that have one and the Draft AVP Version. M bits: set on Message
 * Type, Result Code, Protocol Version, Framing Capabilities, Host Name,
 * Receive Window Size and on Cisco (9,1), (9,2), (9,10), as Cisco does;
 * clear on the other L2TPv3 AVPs, as Cisco and freeRtr do (a peer that does
 * not know one then ignores it instead of tearing down).
 *
 * @example
 * ```ts
 * import { encodeFields } from "./avp_fields.ts";
 * encodeFields({ messageType: 2, assignedControlConnectionId: 5 }, "cisco").length; // 3
 * ```
 */
export function encodeFields(f: Fields, dialect: Dialect): Avp[] {
  const out: Avp[] = [];
  if (f.messageType !== undefined) out.push(avp(0, A.MessageType, b16(f.messageType), true));
  if (f.resultCode) {
    const rc = f.resultCode;
    // Bounded and printable whatever the caller built it from: the AVP always fits.
    const msg = rc.message !== undefined
      ? utf8enc.encode(safeText(rc.message, RESULT_MESSAGE_MAX))
      : new Uint8Array(0);
    const hasError = rc.error !== undefined || rc.message !== undefined;
    const v = new Uint8Array(hasError ? 4 + msg.length : 2);
    v.set(b16(rc.result), 0);
    if (hasError) {
      v.set(b16(rc.error ?? 0), 2);
      v.set(msg, 4);
    }
    out.push(avp(0, A.ResultCode, v, true));
  }
  if (f.protocolVersion) {
    const p = f.protocolVersion;
    out.push(avp(0, A.ProtocolVersion, new Uint8Array([p.version, p.revision]), true));
  }
  if (f.framingCapabilities !== undefined) {
    out.push(avp(0, A.FramingCapabilities, b32(f.framingCapabilities), true));
  }
  if (f.tieBreaker) out.push(avp(0, A.TieBreaker, f.tieBreaker, false));
  if (f.firmwareRevision !== undefined) {
    out.push(avp(0, A.FirmwareRevision, b16(f.firmwareRevision), false));
  }
  if (f.hostName !== undefined) out.push(avp(0, A.HostName, utf8enc.encode(f.hostName), true));
  if (f.vendorName !== undefined) {
    out.push(avp(0, A.VendorName, utf8enc.encode(f.vendorName), false));
  }
  if (f.receiveWindowSize !== undefined) {
    out.push(avp(0, A.ReceiveWindowSize, b16(f.receiveWindowSize), true));
  }
  if (f.callSerialNumber !== undefined) {
    out.push(avp(0, A.CallSerialNumber, b32(f.callSerialNumber), false));
  }
  if (f.routerId !== undefined) out.push(avp(0, A.RouterId, b32(f.routerId), false));
  if (f.assignedControlConnectionId !== undefined) {
    out.push(avp(0, A.AssignedControlConnectionId, b32(f.assignedControlConnectionId), false));
  }
  if (f.pwCapabilities) {
    out.push(avp(0, A.PwCapabilitiesList, b16list(f.pwCapabilities), false));
  }
  if (f.localSessionId !== undefined) {
    out.push(avp(0, A.LocalSessionId, b32(f.localSessionId), false));
  }
  if (f.remoteSessionId !== undefined) {
    out.push(avp(0, A.RemoteSessionId, b32(f.remoteSessionId), false));
  }
  if (f.assignedCookie) out.push(avp(0, A.AssignedCookie, f.assignedCookie, false));
  if (f.remoteEndId) out.push(avp(0, A.RemoteEndId, f.remoteEndId, false));
  if (f.pwType !== undefined) out.push(avp(0, A.PwType, b16(f.pwType), false));
  if (f.l2SpecificSublayer !== undefined) {
    out.push(avp(0, A.L2SpecificSublayer, b16(f.l2SpecificSublayer), false));
  }
  if (f.dataSequencing !== undefined) {
    out.push(avp(0, A.DataSequencing, b16(f.dataSequencing), false));
  }
  if (f.circuitStatus !== undefined) {
    out.push(avp(0, A.CircuitStatus, b16(f.circuitStatus), false));
  }
  if (f.nonce) out.push(avp(0, A.ControlMessageAuthNonce, f.nonce, false));
  if (f.interfaceMtu !== undefined) out.push(avp(0, A.InterfaceMtu, b16(f.interfaceMtu), false));
  if (dialect === "cisco") {
    const c = VENDOR_CISCO;
    if (f.assignedControlConnectionId !== undefined) {
      out.push(avp(c, C.AssignedConnectionId, b32(f.assignedControlConnectionId), true));
    }
    if (f.pwCapabilities) out.push(avp(c, C.PwCapabilitiesList, b16list(f.pwCapabilities), true));
    if (f.localSessionId !== undefined) {
      out.push(avp(c, C.LocalSessionId, b32(f.localSessionId), false));
    }
    if (f.remoteSessionId !== undefined) {
      out.push(avp(c, C.RemoteSessionId, b32(f.remoteSessionId), false));
    }
    if (f.assignedCookie) out.push(avp(c, C.AssignedCookie, f.assignedCookie, false));
    if (f.remoteEndId) out.push(avp(c, C.RemoteEndId, f.remoteEndId, false));
    if (f.pwType !== undefined) out.push(avp(c, C.PwType, b16(f.pwType), false));
    if (f.ciscoDraftVersion !== undefined) {
      out.push(avp(c, C.DraftAvpVersion, b16(f.ciscoDraftVersion), true));
    }
    if (f.nonce) out.push(avp(c, C.ControlMessageAuthNonce, f.nonce, false));
    if (f.interfaceMtu !== undefined) {
      out.push(avp(c, C.InterfaceMtu, b16(f.interfaceMtu), false));
    }
  }
  return out;
}

/**
 * Printable form of an opaque identifier such as the Remote End ID: the text
 * itself when every byte is printable ASCII ("1234"), otherwise hex with the
 * uint32 value when it is four bytes ("0x000004d2 (1234)"). An id longer
 * than `PRINTABLE_ID_MAX` bytes is shown cut, with its length.
 *
 * @example
 * ```ts
 * import { printableId } from "./avp_fields.ts";
 * printableId(new TextEncoder().encode("1234")); // "1234"
 * printableId(new Uint8Array([0, 0, 4, 210])); // "0x000004d2 (1234)"
 * ```
 */
export function printableId(bytes: Uint8Array): string {
  if (bytes.length === 0) return "(empty)";
  if (bytes.length > PRINTABLE_ID_MAX) return safeBytes(bytes, 2 * PRINTABLE_ID_MAX);
  let printable = true;
  for (const b of bytes) if (b < 0x20 || b > 0x7e) printable = false;
  if (printable) return String.fromCharCode(...bytes);
  let hex = "0x";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return bytes.length === 4 ? `${hex} (${u32(bytes)})` : hex;
}
