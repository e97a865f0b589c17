/**
 * Configuration of an `L2tpEndpoint`: identity, dialect, timers and the
 * bounds on every table the network can grow. Defaults follow RFC 3931's
 * recommendations and Cisco's `l2tp-class` defaults where they exist.
 *
 * Not here: parsing a configuration file (that is `cmd/`'s job) or
 * validating ranges beyond the secret/hash pairing.
 *
 * @module
 */
import type { DigestAlgorithm, HashFn } from "./auth.ts";
import type { Dialect } from "./avp_fields.ts";
import type { Transport } from "./control_message.ts";
import type { IdAllocator } from "./id_allocator.ts";
import type { ReliableConfig } from "./reliable_channel.ts";

/** What `sessionPolicy` is asked about an incoming ICRQ. */
export interface SessionRequest {
  peer: string;
  /** Our Control Connection ID of the connection the ICRQ came on. */
  localCcid: number;
  /** Peer's Host Name from its SCCRQ/SCCRP. */
  hostName: string;
  /** Peer's Router ID from its SCCRQ/SCCRP (0 if none). */
  routerId: number;
  pwType: number;
  /** Remote End ID, raw (a copy; safe to keep). */
  vcId: Uint8Array;
  /** Remote End ID, printable. */
  vcIdText: string;
  /**
   * Our Session ID for it if admitted. A policy that says yes is told the
   * session's fate by the `session-up` or `session-down` event with this id.
   */
  localSessionId: number;
}

/** Everything an endpoint needs; see `resolveConfig` for the defaults. */
export interface EndpointConfig {
  /** IP protocol 115 ("ip") or UDP port 1701 ("udp"). */
  transport: Transport;
  /** Our Host Name AVP. */
  hostName: string;
  /** Our Router ID AVP: our IPv4 address as a uint32. */
  routerId: number;
  /** Returns a uniformly random uint32; used for ids and cookies. */
  random32: () => number;
  /** Our Vendor Name AVP. Default "l2". */
  vendorName?: string;
  /** Dialect of the SCCRQ/ICRQ we initiate; a responder answers in the peer's. Default "ietf". */
  dialect?: Dialect;
  /** Send HELLO after this long without hearing from the peer, ms. Default 60 000. */
  helloIntervalMs?: number;
  /** Length of the cookie we ask peers to put in data packets to us: 0, 4 or 8. Default 0. */
  cookieLength?: 0 | 4 | 8;
  /** Pseudowire types we accept and announce. Default [5, 4] (Ethernet, Ethernet VLAN). */
  pwTypes?: number[];
  /** Answer SCCRQs (LAS). Default true. */
  acceptConnections?: boolean;
  /** Return a refusal reason to refuse an incoming session (e.g. unknown VC id), or null. */
  sessionPolicy?: (req: SessionRequest) => string | null;
  /** Control connections at once (all states). Default 256. */
  maxConnections?: number;
  /** Control connections still in their handshake. Default 32. */
  maxPendingConnections?: number;
  /**
   * Control connections in their handshake from one source (`sourceOf`), so
   * one address cannot take every pending slot. Default 4.
   */
  maxPendingPerSource?: number;
  /** Control connections (not closing) from one source (`sourceOf`). Default 8. */
  maxConnectionsPerSource?: number;
  /**
   * The source a peer counts against for `maxPendingPerSource`. Default:
   * the peer name without a port ("192.0.2.1:1701" -> "192.0.2.1").
   */
  sourceOf?: (peer: string) => string;
  /**
   * A responder sends a peer that has not yet shown it receives (not yet
   * named our CCID) at most this many times the bytes it received from it;
   * past that the connection is dropped. Default 3.
   */
  amplificationFactor?: number;
  /** Sessions per control connection. Default 4096. */
  maxSessionsPerConnection?: number;
  /** Sessions per connection still being set up. Default 64. */
  maxPendingSessionsPerConnection?: number;
  /** Sessions across all connections (ignored when `sessionIds` is given). Default 65 536. */
  maxSessions?: number;
  /** A session not established after this long is given up with CDN, ms. Default 30 000. */
  sessionSetupTimeoutMs?: number;
  /** A closed connection is kept this long to re-acknowledge StopCCN, ms. Default 31 000. */
  closeHoldMs?: number;
  /** Reliable delivery tunables. */
  reliable?: Partial<ReliableConfig>;
  /** Shared Session ID allocator, when several endpoints must not collide. */
  sessionIds?: IdAllocator;
  /** Largest number of undrained outgoing packets or events kept. Default 65 536. */
  maxBacklog?: number;
  /**
   * Shared secret for control message authentication (RFC 3931 section 4.3).
   * When set, every message we send carries a Message Digest, acks are ACK
   * messages instead of ZLBs, and unauthenticated messages (except ZLBs) are dropped.
   */
  secret?: Uint8Array;
  /** Hash function for HMAC; required with `secret`. */
  hash?: HashFn;
  /** Digest we send and the only one we accept. Default "md5". */
  digestAlgorithm?: DigestAlgorithm;
  /**
   * Where an error thrown by one control connection's timers or close is
   * reported once contained (the daemon's `Containment.packet`,
   * cmd/kit/contain.ts, through its engine). `handler`: "l2tp-timer" or
   * "l2tp-close"; `peer`: the connection's peer. Without it the endpoint
   * still serves the other connections, then rethrows the first error.
   */
  contain?: (handler: string, err: unknown, peer: string | null) => void;
  /**
   * Answer a control message for a connection we do not know with a StopCCN
   * (stray.ts: Control Connection ID 0, rate-limited, bounded in size), so
   * the peer re-dials at once (a LAS that restarted). Default false.
   */
  answerStray?: boolean;
  /**
   * Take such a StopCCN (header id 0) from a connection's peer when it
   * names the connection by the id the peer has (`remoteCcid`) and, with a
   * secret, its digest checks: the connection goes down at once. Default false.
   */
  honourStray?: boolean;
}

/** `EndpointConfig` with every default filled in. */
export type ResolvedConfig =
  & Required<
    Omit<
      EndpointConfig,
      | "sessionPolicy"
      | "sessionIds"
      | "reliable"
      | "secret"
      | "hash"
      | "sourceOf"
      | "contain"
      | "answerStray"
      | "honourStray"
    >
  >
  & Pick<
    EndpointConfig,
    | "sessionPolicy"
    | "sessionIds"
    | "secret"
    | "hash"
    | "sourceOf"
    | "contain"
    | "answerStray"
    | "honourStray"
  >
  & { reliable: Partial<ReliableConfig> };

/** Fills in defaults. Throws `TypeError` for a secret without a hash function. */
export function resolveConfig(config: EndpointConfig): ResolvedConfig {
  if (config.secret && !config.hash) {
    throw new TypeError("Cannot use an L2TP shared secret: no hash function was given");
  }
  const c = Object.fromEntries(
    Object.entries(config).filter(([, v]) => v !== undefined),
  ) as unknown as EndpointConfig;
  return {
    vendorName: "l2",
    dialect: "ietf",
    helloIntervalMs: 60_000,
    cookieLength: 0,
    pwTypes: [5, 4],
    acceptConnections: true,
    maxConnections: 256,
    maxPendingConnections: 32,
    maxPendingPerSource: 4,
    maxConnectionsPerSource: 8,
    amplificationFactor: 3,
    maxSessionsPerConnection: 4096,
    maxPendingSessionsPerConnection: 64,
    maxSessions: 65_536,
    sessionSetupTimeoutMs: 30_000,
    closeHoldMs: 31_000,
    maxBacklog: 65_536,
    digestAlgorithm: "md5",
    ...c,
    reliable: c.reliable ?? {},
  };
}
