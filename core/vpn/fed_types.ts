/**
 * The federation table's values (core/vpn/federation.ts): its options, a
 * configured peer, a peer's state and status, an attachment, a route, and
 * what a call wants done (sends, handshakes, events).
 *
 * @module
 */
import type { Endpoint } from "../addr.ts";

/** Most federation peers a supernode is configured with. */
export const MAX_FED_PEERS = 32;

/** A configured federation peer. */
export interface FedPeerConfig {
  /** Its supernode id (1..255, not ours). */
  id: number;
  /** Its static public key (32). */
  key: Uint8Array;
  endpoint: Endpoint;
}

/** Options of `FederationTable`; the defaults are docs/federation.md's. */
export interface FederationConfig {
  /** Our supernode id (1..255). */
  selfId: number;
  peers: readonly FedPeerConfig[];
  /** FED_PING interval (1000). */
  pingIntervalMs?: number;
  /** A peer silent this long is down (3000). */
  downAfterMs?: number;
  /** Handshake retry toward a peer that is not up (1000). */
  retryMs?: number;
  /** Stale entries are removed this long after they went stale (60 000). */
  staleDropMs?: number;
  /** Most remote attachments (65 536). */
  maxAttachments?: number;
  /** Most remote attachments per network per peer (4096). */
  maxPerNetworkPerPeer?: number;
  /** FED_SYNC_REQ repeat while a sync is wanted (1000). */
  syncRetryMs?: number;
  /** A peer's FED_SYNC_REQ is answered at most this often (1000). */
  syncAnswerMinMs?: number;
}

/** State of a federation peer. */
export type PeerState = "connecting" | "up" | "down";

/** Where a node is attached, as the table knows it. */
export interface Attachment {
  network: number;
  nodeId: number;
  /** Supernode the node is registered with (our id for a local registration). */
  at: number;
  allocator: number;
  key: Uint8Array;
  endpoint: Endpoint;
  stamp: Uint8Array;
  /** When we learned it (monotonic ms). */
  learnedAt: number;
  /** When its supernode went down; null while fresh. */
  staleSince: number | null;
}

/** Where to send traffic for a node. */
export type Route =
  | { kind: "local" }
  | { kind: "peer"; peer: number }
  /** Attached at `peer`, which we cannot reach but `via` (up) can. */
  | { kind: "transit"; peer: number; via: number }
  | { kind: "unknown" }
  /** Attached at `peer`, down, and no up peer reaches it. */
  | { kind: "stale"; peer: number };

/** A body to seal with the session of `peer` and send to it. */
export interface FedSend {
  peer: number;
  type: number;
  body: Uint8Array;
}

/** Who held a claim, for conflict events. */
export interface ClaimSide {
  at: number;
  allocator: number;
  key: Uint8Array;
}

/** Something the supernode acts on or logs. */
export type FedEvent =
  | { kind: "peer_up"; peer: number }
  | { kind: "peer_down"; peer: number; silentMs: number }
  /** Drop our registration of this node: it is attached at `to` now (or lost an id conflict). */
  | { kind: "local_lost"; network: number; nodeId: number; to: number; conflict: boolean }
  /** Two keys claimed one (network, id): `winner` stays. */
  | { kind: "id_conflict"; network: number; nodeId: number; winner: ClaimSide; loser: ClaimSide }
  | { kind: "sequence_gap"; peer: number; expected: number; got: number }
  | { kind: "sync_done"; peer: number; entries: number; removed: number };

/** What a call wants done. */
export interface FedOutput {
  sends: FedSend[];
  /** Peers to start a handshake with now. */
  handshakes: number[];
  events: FedEvent[];
}

/** Status of one peer. */
export interface FedPeerStatus {
  id: number;
  state: PeerState;
  /** Smoothed RTT (ms), null before the first pong. */
  rttMs: number | null;
  /** Last RTT sample (ms). */
  lastRttMs: number | null;
  /** When it was last heard (monotonic ms), null never. */
  lastHeard: number | null;
  /** Nodes attached there (stale included). */
  attached: number;
  /** Of those, stale. */
  stale: number;
  /** Its members digest matched ours at its last FED_DIGEST; null before one came. */
  digestMatch: boolean | null;
}

/** An output with nothing to do. */
export function emptyOutput(): FedOutput {
  return { sends: [], handshakes: [], events: [] };
}

/** Appends what `b` wants done to `a`; returns `a`. */
export function mergeOutput(a: FedOutput, b: FedOutput): FedOutput {
  a.sends.push(...b.sends);
  a.handshakes.push(...b.handshakes);
  a.events.push(...b.events);
  return a;
}
