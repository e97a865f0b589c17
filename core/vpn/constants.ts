/**
 * Protocol constants of the `l2` VPN (supernode and node), kept apart from
 * local limits and timer defaults (`limits.ts`).
 *
 * Every packet on the wire is `header (24) | body | tag (16)`; see
 * `header.ts` and docs/protocol.md. This file holds the numbers that both
 * ends must agree on; changing one is a protocol version change.
 *
 * Not here: timer defaults and table sizes, which each side may choose.
 *
 * @module
 */
import { ETH } from "../wire/ethernet.ts";

/** UDP port a supernode listens on by default. */
export const DEFAULT_PORT = 7654;

/** First octet of every packet: ASCII 'L'. */
export const MAGIC = 0x4c;
/**
 * The only header version this code speaks. 2 since issue 13: the hop and
 * vouch trailers of relayed packets changed (counter nonces, sealed vouch);
 * a version-1 peer's packets are dropped as `bad_version`.
 */
export const VERSION = 2;

/** Bytes of the fixed header (magic, version, type, flags, ids, key id, counter). */
export const HEADER_LENGTH = 24;
/** Bytes of the authentication tag every packet carries after its body (AES-GCM / ChaCha20-Poly1305 tag size). */
export const TAG_LENGTH = 16;
/**
 * Bytes kept free in the MTU budget for the hop trailer of relayed packets
 * (counter low 32 bits and a 12-byte tag, `sec_messages.ts`).
 */
export const HOP_TAG_RESERVE = 16;
/** Bytes one encapsulation adds around a body: header and tag. */
export const ENCAP_OVERHEAD = HEADER_LENGTH + TAG_LENGTH;
/** Bytes the MTU budget reserves per packet: header, tag and the hop tag reserve. */
export const ENCAP_BUDGET = ENCAP_OVERHEAD + HOP_TAG_RESERVE;
/** IPv4 (20, no options) plus UDP (8) header bytes. */
export const UNDERLAY_OVERHEAD_IPV4 = 28;
/** IPv6 (40, no extension headers) plus UDP (8) header bytes. */
export const UNDERLAY_OVERHEAD_IPV6 = 48;
/** Ethernet header inside a data packet: destination, source, EtherType (no 802.1Q tag). */
export const ETHERNET_HEADER = ETH.HEADER_LEN;
/** Smallest frame a data packet may carry: an Ethernet header. */
export const MIN_FRAME = ETHERNET_HEADER;

/**
 * The TAP MTU (IP MTU of the virtual interface) that keeps every data packet
 * within `underlayMtu`, whichever IP version the underlay uses: underlay MTU
 * minus IPv6+UDP (48), header+tag+hop reserve (56) and the Ethernet header
 * (14). For a 1500-byte underlay that is 1382. A full-size frame with an
 * 802.1Q tag needs 4 bytes more: it fits `maxFrame(mtu, 4)` on an IPv4
 * underlay; on IPv6 it is counted as `tx_too_big`, never silently lost.
 *
 * @example
 * ```ts
 * import { tapMtu } from "./constants.ts";
 * tapMtu(1500); // 1382
 * ```
 */
export function tapMtu(underlayMtu = 1500): number {
  return underlayMtu - UNDERLAY_OVERHEAD_IPV6 - ENCAP_BUDGET - ETHERNET_HEADER;
}

/**
 * Largest Ethernet frame (header included) that fits a data packet on an
 * underlay of `underlayMtu` bytes for the given IP version, keeping the hop
 * tag reserve free. 1500/IPv4: 1416, 1500/IPv6: 1396.
 */
export function maxFrame(underlayMtu = 1500, ipVersion: 4 | 6 = 6): number {
  const ip = ipVersion === 4 ? UNDERLAY_OVERHEAD_IPV4 : UNDERLAY_OVERHEAD_IPV6;
  return underlayMtu - ip - ENCAP_BUDGET;
}

/**
 * Message types of the protocol core (header octet 2). 0x20..0x2f are the
 * security layer's: handshakes (`SecType`, handshake.ts) and sealed security
 * messages (`SealedType`, sec_messages.ts); 0x30..0x3f the federation's,
 * between supernodes under network id 0xFFFF (`FedType`, fed_messages.ts).
 */
export const MsgType = {
  REGISTER: 0x01,
  REGISTER_ACK: 0x02,
  REGISTER_NAK: 0x03,
  DEREGISTER: 0x04,
  KEEPALIVE: 0x05,
  KEEPALIVE_ACK: 0x06,
  PEER_REQUEST: 0x07,
  PEER_INTRO: 0x08,
  PROBE: 0x09,
  PROBE_ECHO: 0x0a,
  GOING_AWAY: 0x0b,
  DATA: 0x10,
} as const;

/** Header flags (octet 3); the others are written 0 and ignored. */
export const Flag = {
  /** The body is a key-exchange message not sealed by a session (issue 6). */
  HANDSHAKE: 0x80,
  /** A relay trailer (hop trailer or vouch, `sec_messages.ts`) follows the tag. */
  HOP_TAG: 0x40,
} as const;

/** Node id of the supernode in the sender/receiver fields. Also "please allocate" in a REGISTER. */
export const SUPERNODE_ID = 0;
/** Receiver node id of a broadcast/multicast data packet. */
export const BROADCAST_ID = 0xffff;
/** Lowest node id a node can hold. */
export const MIN_NODE_ID = 1;
/** Highest node id a node can hold. */
export const MAX_NODE_ID = 0xfffe;
/** Network id of the default network, which needs no configuration. */
export const DEFAULT_NETWORK = 0;

/** Most endpoints a REGISTER (local endpoints) or PEER_INTRO (public + locals) carries. */
export const MAX_ENDPOINTS = 5;
/** Bytes of a node identity: its X25519 public key in the daemons. */
export const IDENTITY_LENGTH = 32;

/** Why a supernode refuses a registration (REGISTER_NAK octet 0). */
export const NakCode = {
  ID_IN_USE: 1,
  NETWORK_FULL: 2,
  UNKNOWN_NETWORK: 3,
  TOO_MANY_NETWORKS: 4,
  BAD_ID: 5,
  NOT_REGISTERED: 6,
} as const;

/** Names of the NAK codes, as events and status show them. */
export type NakReason =
  | "id_in_use"
  | "network_full"
  | "unknown_network"
  | "too_many_networks"
  | "bad_id"
  | "not_registered";

/** NakReason for each code, index = code. */
export const NAK_NAMES: readonly (NakReason | undefined)[] = [
  undefined,
  "id_in_use",
  "network_full",
  "unknown_network",
  "too_many_networks",
  "bad_id",
  "not_registered",
];

/** What each NAK reason means, for log lines on both sides. */
export const NAK_TEXT: Record<NakReason, string> = {
  id_in_use: "the node id is held by another live node of this network",
  network_full: "the network has as many nodes as the supernode allows",
  unknown_network: "the supernode does not serve this network id",
  too_many_networks: "the supernode serves as many networks as it allows",
  bad_id: "node ids are 1..65534",
  not_registered:
    "the supernode does not know this node (it restarted or the registration expired)",
};
