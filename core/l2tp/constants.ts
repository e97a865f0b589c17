/**
 * L2TPv3 protocol numbers: control message types (RFC 3931 section 3.1),
 * AVP types (section 5.4, plus the L2TPv2 AVPs RFC 3931 keeps), Cisco's
 * pre-standard vendor-9 AVPs (the "draft" dialect), result and error codes
 * (section 5.4.2) with their meanings for log lines (`resultText`) and
 * pseudowire types (RFC 4719, IANA).
 *
 * Protocol constants only; local limits and timers live beside the code
 * that enforces them. Names are the RFC's, so logs read like the RFC.
 *
 * Not here: PPP, ATM, Frame Relay specific AVPs (we only ever carry
 * Ethernet), and the AVP hiding algorithm (section 5.3).
 *
 * @module
 */
import type { Fields } from "./avp_fields.ts";

/** Control message types, RFC 3931 section 3.1. */
export const MessageType = {
  SCCRQ: 1,
  SCCRP: 2,
  SCCCN: 3,
  StopCCN: 4,
  HELLO: 6,
  OCRQ: 7,
  OCRP: 8,
  OCCN: 9,
  ICRQ: 10,
  ICRP: 11,
  ICCN: 12,
  CDN: 14,
  WEN: 15,
  SLI: 16,
  FSQ: 18,
  FSR: 19,
  ACK: 20,
} as const;

const MESSAGE_NAMES: Record<number, string> = {
  1: "SCCRQ",
  2: "SCCRP",
  3: "SCCCN",
  4: "StopCCN",
  6: "HELLO",
  7: "OCRQ",
  8: "OCRP",
  9: "OCCN",
  10: "ICRQ",
  11: "ICRP",
  12: "ICCN",
  14: "CDN",
  15: "WEN",
  16: "SLI",
  18: "FSQ",
  19: "FSR",
  20: "ACK",
};

/**
 * Name of a message type for logs: "SCCRQ", "ZLB" for `undefined`, "type 99"
 * for types we do not know.
 *
 * @example
 * ```ts
 * import { messageName } from "./constants.ts";
 * messageName(10); // "ICRQ"
 * ```
 */
export function messageName(type: number | undefined): string {
  if (type === undefined) return "ZLB";
  return MESSAGE_NAMES[type] ?? `type ${type}`;
}

/** Vendor ids of the AVPs we understand: IETF and Cisco's pre-standard set. */
export const VENDOR_IETF = 0;
/** Cisco Systems, the vendor id of the pre-standard ("draft") L2TPv3 AVPs. */
export const VENDOR_CISCO = 9;

/** IETF AVP types (vendor 0), RFC 3931 section 5.4 and the RFC 2661 ones it keeps. */
export const Avp = {
  MessageType: 0,
  ResultCode: 1,
  ProtocolVersion: 2,
  FramingCapabilities: 3,
  BearerCapabilities: 4,
  TieBreaker: 5,
  FirmwareRevision: 6,
  HostName: 7,
  VendorName: 8,
  ReceiveWindowSize: 10,
  Challenge: 11,
  ChallengeResponse: 13,
  CallSerialNumber: 15,
  TxConnectSpeedV2: 24,
  RxConnectSpeedV2: 38,
  PppoeRelayResponse: 56,
  PppoeRelayForward: 57,
  ExtendedVendorId: 58,
  MessageDigest: 59,
  RouterId: 60,
  AssignedControlConnectionId: 61,
  PwCapabilitiesList: 62,
  LocalSessionId: 63,
  RemoteSessionId: 64,
  AssignedCookie: 65,
  RemoteEndId: 66,
  PwType: 68,
  L2SpecificSublayer: 69,
  DataSequencing: 70,
  CircuitStatus: 71,
  PreferredLanguage: 72,
  ControlMessageAuthNonce: 73,
  TxConnectSpeed: 74,
  RxConnectSpeed: 75,
  InterfaceMtu: 91,
} as const;

/** Cisco pre-standard AVP types (vendor 9); facts section 2.2. */
export const CiscoAvp = {
  AssignedConnectionId: 1,
  PwCapabilitiesList: 2,
  LocalSessionId: 3,
  RemoteSessionId: 4,
  AssignedCookie: 5,
  RemoteEndId: 6,
  PwType: 7,
  CircuitStatus: 8,
  SessionTieBreaker: 9,
  DraftAvpVersion: 10,
  MessageDigest: 12,
  ControlMessageAuthNonce: 13,
  InterfaceMtu: 14,
} as const;

/** How an AVP value is laid out, for validation and for printing. */
export type AvpShape =
  | "empty"
  | "u16"
  | "u32"
  | "u64"
  | "text"
  | "bytes"
  | "u16list"
  | "version"
  | "result";

/** What we know about one AVP: its name and value shape. */
export interface AvpInfo {
  name: string;
  shape: AvpShape;
}

/** Key of an AVP in lookup tables: vendor * 65536 + type. */
export function avpKey(vendor: number, type: number): number {
  return vendor * 0x1_0000 + type;
}

const KNOWN: ReadonlyMap<number, AvpInfo> = new Map<number, AvpInfo>([
  [avpKey(0, 0), { name: "Message Type", shape: "u16" }],
  [avpKey(0, 1), { name: "Result Code", shape: "result" }],
  [avpKey(0, 2), { name: "Protocol Version", shape: "version" }],
  [avpKey(0, 3), { name: "Framing Capabilities", shape: "u32" }],
  [avpKey(0, 4), { name: "Bearer Capabilities", shape: "u32" }],
  [avpKey(0, 5), { name: "Tie Breaker", shape: "u64" }],
  [avpKey(0, 6), { name: "Firmware Revision", shape: "u16" }],
  [avpKey(0, 7), { name: "Host Name", shape: "text" }],
  [avpKey(0, 8), { name: "Vendor Name", shape: "text" }],
  [avpKey(0, 10), { name: "Receive Window Size", shape: "u16" }],
  [avpKey(0, 11), { name: "Challenge", shape: "bytes" }],
  [avpKey(0, 13), { name: "Challenge Response", shape: "bytes" }],
  [avpKey(0, 15), { name: "Call Serial Number", shape: "u32" }],
  [avpKey(0, 24), { name: "(Tx) Connect Speed", shape: "u32" }],
  [avpKey(0, 38), { name: "Rx Connect Speed", shape: "u32" }],
  [avpKey(0, 56), { name: "PPPoE Relay Response Capability", shape: "bytes" }],
  [avpKey(0, 57), { name: "PPPoE Relay Forward Capability", shape: "bytes" }],
  [avpKey(0, 58), { name: "Extended Vendor ID", shape: "bytes" }],
  [avpKey(0, 59), { name: "Message Digest", shape: "bytes" }],
  [avpKey(0, 60), { name: "Router ID", shape: "u32" }],
  [avpKey(0, 61), { name: "Assigned Control Connection ID", shape: "u32" }],
  [avpKey(0, 62), { name: "Pseudowire Capabilities List", shape: "u16list" }],
  [avpKey(0, 63), { name: "Local Session ID", shape: "u32" }],
  [avpKey(0, 64), { name: "Remote Session ID", shape: "u32" }],
  [avpKey(0, 65), { name: "Assigned Cookie", shape: "bytes" }],
  [avpKey(0, 66), { name: "Remote End ID", shape: "bytes" }],
  [avpKey(0, 68), { name: "Pseudowire Type", shape: "u16" }],
  [avpKey(0, 69), { name: "L2-Specific Sublayer", shape: "u16" }],
  [avpKey(0, 70), { name: "Data Sequencing", shape: "u16" }],
  [avpKey(0, 71), { name: "Circuit Status", shape: "u16" }],
  [avpKey(0, 72), { name: "Preferred Language", shape: "text" }],
  [avpKey(0, 73), { name: "Control Message Authentication Nonce", shape: "bytes" }],
  [avpKey(0, 74), { name: "Tx Connect Speed", shape: "u64" }],
  [avpKey(0, 75), { name: "Rx Connect Speed", shape: "u64" }],
  [avpKey(0, 91), { name: "Interface Maximum Transmission Unit", shape: "u16" }],
  [avpKey(9, 1), { name: "Cisco Assigned Connection ID", shape: "u32" }],
  [avpKey(9, 2), { name: "Cisco Pseudowire Capabilities List", shape: "u16list" }],
  [avpKey(9, 3), { name: "Cisco Local Session ID", shape: "u32" }],
  [avpKey(9, 4), { name: "Cisco Remote Session ID", shape: "u32" }],
  [avpKey(9, 5), { name: "Cisco Assigned Cookie", shape: "bytes" }],
  [avpKey(9, 6), { name: "Cisco Remote End ID", shape: "bytes" }],
  [avpKey(9, 7), { name: "Cisco Pseudowire Type", shape: "u16" }],
  [avpKey(9, 8), { name: "Cisco Circuit Status", shape: "u16" }],
  [avpKey(9, 9), { name: "Cisco Session Tie Breaker", shape: "u64" }],
  [avpKey(9, 10), { name: "Cisco Draft AVP Version", shape: "u16" }],
  [avpKey(9, 12), { name: "Cisco Message Digest", shape: "bytes" }],
  [avpKey(9, 13), { name: "Cisco Control Message Authentication Nonce", shape: "bytes" }],
  [avpKey(9, 14), { name: "Cisco Interface MTU", shape: "u16" }],
]);

/**
 * What we know about AVP (vendor, type), or `undefined` when it is unknown
 * to us (an unknown AVP with the M bit set must end the session or the
 * control connection: RFC 3931 section 5.2).
 *
 * @example
 * ```ts
 * import { avpInfo } from "./constants.ts";
 * avpInfo(9, 1)?.name; // "Cisco Assigned Connection ID"
 * ```
 */
export function avpInfo(vendor: number, type: number): AvpInfo | undefined {
  return KNOWN.get(avpKey(vendor, type));
}

/** "Host Name (0,7)" or "unknown AVP (9,110)", for operator messages. */
export function avpLabel(vendor: number, type: number): string {
  const info = avpInfo(vendor, type);
  return `${info ? info.name : "unknown AVP"} (${vendor},${type})`;
}

/** StopCCN Result Code values, RFC 3931 section 5.4.2. */
export const StopCcnResult = {
  GeneralClear: 1,
  GeneralError: 2,
  AlreadyExists: 3,
  NotAuthorized: 4,
  ProtocolVersion: 5,
  ShuttingDown: 6,
  FsmError: 7,
} as const;

/** CDN Result Code values, RFC 3931 section 5.4.2 (and RFC 2661 for 1-5). */
export const CdnResult = {
  LostCarrier: 1,
  GeneralError: 2,
  Administrative: 3,
  TemporaryNoFacilities: 4,
  PermanentNoFacilities: 5,
  LostTieBreaker: 13,
  UnsupportedPwType: 14,
  SequencingWithoutSublayer: 15,
  FsmError: 16,
} as const;

/** General Error Codes carried after the Result Code, RFC 3931 section 5.4.2. */
export const ErrorCode = {
  NoError: 0,
  NoControlConnection: 1,
  LengthWrong: 2,
  OutOfRange: 3,
  InsufficientResources: 4,
  InvalidSessionId: 5,
  VendorError: 6,
  TryAnother: 7,
  UnknownMandatoryAvp: 8,
} as const;

const STOPCCN_TEXT: Record<number, string> = {
  1: "general request to clear",
  2: "general error",
  3: "control connection already exists",
  4: "requester is not authorized",
  5: "protocol version not supported",
  6: "requester is being shut down",
  7: "finite state machine error or timeout",
};
const CDN_TEXT: Record<number, string> = {
  1: "circuit disconnected",
  2: "general error",
  3: "administrative reasons",
  4: "temporary lack of facilities",
  5: "permanent lack of facilities",
  13: "lost tie breaker",
  14: "unsupported PW type",
  15: "sequencing required without a valid L2-Specific Sublayer",
  16: "finite state machine error or timeout",
};
const ERROR_TEXT: Record<number, string> = {
  1: "no control connection exists yet",
  2: "length is wrong",
  3: "a field value was out of range",
  4: "insufficient resources",
  5: "invalid Session ID",
  6: "vendor-specific error",
  7: "try another",
  8: "unknown AVP with the M bit set",
};

/** "result 14 (unsupported PW type), error 0, \"...\"" or "no Result Code". */
export function resultText(f: Fields, table: "stopccn" | "cdn"): string {
  const rc = f.resultCode;
  if (!rc) return "no Result Code";
  const names = table === "stopccn" ? STOPCCN_TEXT : CDN_TEXT;
  let t = `result ${rc.result} (${names[rc.result] ?? "unknown"})`;
  if (rc.error !== undefined && rc.error !== 0) {
    t += `, error ${rc.error} (${ERROR_TEXT[rc.error] ?? "unknown"})`;
  }
  if (rc.message) t += `: "${rc.message}"`;
  return t;
}

/** Pseudowire types (RFC 4719 and the IANA L2TPv3 registry) the LAS can carry. */
export const PwType = {
  EthernetVlan: 4,
  Ethernet: 5,
} as const;

const PW_NAMES: Record<number, string> = {
  1: "Frame Relay DLCI",
  2: "ATM AAL5 SDU VCC",
  3: "ATM Cell transparent Port",
  4: "Ethernet VLAN",
  5: "Ethernet",
  6: "HDLC",
  7: "PPP",
  9: "ATM Cell VCC",
  10: "ATM Cell VPC",
  11: "IP Layer2 Transport",
};

/** "Ethernet (5)", "PPP (7)", "PW type 99". */
export function pwTypeName(type: number): string {
  const n = PW_NAMES[type];
  return n ? `${n} (${type})` : `PW type ${type}`;
}

/** Circuit Status bits, RFC 3931 section 5.4.5: A = active, N = new. */
export const CIRCUIT_ACTIVE = 0x0001;
/** Circuit Status N bit: this status is about a new circuit. */
export const CIRCUIT_NEW = 0x0002;
