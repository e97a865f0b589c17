/**
 * How a LAS engine (core/las/engine.ts) is set up: its sockets, identity,
 * limits, peers, authentication, mesh and captures. Filled from the config
 * by cmd/las.ts.
 *
 * @module
 */
import type { DigestAlgorithm, HashFn } from "../l2tp/auth.ts";
import type { Ip16 } from "../addr.ts";
import type { DatagramPort, EngineLog } from "../engine.ts";
import type { SwitchOptions } from "../switch.ts";
import type { CaptureHub } from "../capture.ts";
import type { VcFilter } from "./vc_filter.ts";
import type { PeerPrefix } from "./peers.ts";
import type { MeshPeerConfig } from "./mesh.ts";

/** How the LAS is set up. */
export interface LasEngineOptions {
  /** Raw IP protocol 115 socket (`Arrival.via` 0); absent: no L2TPv3 over IP. */
  ip?: DatagramPort;
  /** UDP port 1701 socket (`Arrival.via` 1); absent: no L2TPv3 over UDP. */
  udp?: DatagramPort;
  hostName: string;
  /** Our Router ID AVP (an IPv4 address as uint32). */
  routerId: number;
  random32: () => number;
  helloIntervalMs: number;
  /** Retransmissions before a silent peer is dead. */
  retransmits: number;
  /** The switch policy of a VC (by its printed id, e.g. "1234" or "0x0a0b"): a name and options. */
  switchPolicy: (vc: string) => { name: string; options: SwitchOptions; filter?: VcFilter };
  /** Most virtual switches (VC ids). */
  maxSwitches: number;
  /** Cookie length we ask peers to use (0, 4, 8). */
  cookieLength: 0 | 4 | 8;
  /** Only accept packets sent to these local IPv4 addresses (as numbers); null: any. */
  acceptDst: ReadonlySet<number> | null;
  /**
   * Peers whose control messages are taken (IPv4 or IPv6 prefixes); null or
   * empty: any peer. Anything else is dropped and counted before parsing.
   */
  allow?: readonly PeerPrefix[] | null;
  /** Handshakes in progress from one source (IPv4 address, IPv6 /64). Default 4. */
  maxPendingPerPeer?: number;
  /** Control connections from one source (IPv4 address, IPv6 /64). Default 8. */
  maxConnectionsPerPeer?: number;
  /** Control message authentication: shared secret and hash (node:crypto), or null. */
  auth: { secret: Uint8Array; hash: HashFn; digest: DigestAlgorithm } | null;
  /**
   * The kernel's source address towards a peer (ffi/route.ts). When it is
   * the address the peer called, a session's data goes without IP_PKTINFO
   * (about 1.5 µs less per frame). Absent: always pin the source.
   */
  sourceFor?: (dest: Ip16) => Ip16 | null;
  log: EngineLog;
  /**
   * The mesh (docs/las-redundancy.md): the other LAS servers, and how long a
   * session to one stays while neither side has edges on its VC (ms,
   * default 30 000). Needs `auth`: the constructor throws without it.
   */
  mesh?: { peers: readonly MeshPeerConfig[]; teardownMs?: number };
  /**
   * Hears what handling one event or one connection's timers threw (a
   * datagram's own error is the pump's, cmd/kit/pump.ts): it is dropped,
   * the rest goes on (the kit's `Containment.packet`, kit/contain.ts).
   * `peer`: the peer where known. Absent: the error propagates (tests).
   */
  contain?: (handler: string, err: unknown, peer: string | null) => void;
  /** Live captures (core/capture.ts): each frame entering a VC's switch is offered while `on`. */
  capture?: CaptureHub;
}
