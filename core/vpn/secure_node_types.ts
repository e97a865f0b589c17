/**
 * What `SecureNode` (secure_node.ts), the node's security layer, takes and
 * reports as plain data: its options and its events.
 *
 * @module
 */
import type { Endpoint } from "../addr.ts";
import type { CryptoSuite } from "./crypto_suite.ts";
import type { RejectReason, StaticKey } from "./handshake.ts";
import type { PeerKeyRefusal, TrustedPeer } from "./pins.ts";
import type { SessionLimits } from "./session_keys.ts";

/** Options of `SecureNode`. */
export interface SecureNodeConfig {
  suite: CryptoSuite;
  /** This node's X25519 key pair; its public key is the REGISTER identity. */
  staticKey: StaticKey;
  /** The supernode's public key (pinned). */
  supernodeKey: Uint8Array;
  /** The supernode's address (as NodeCore's `supernode`): the first, preferred. */
  supernode: Endpoint;
  /**
   * Further supernodes, in order of preference after `supernode` (a
   * federation, docs/federation.md): the node holds a ready session with a
   * standby and moves there when the attached one falls silent.
   */
  standbys?: readonly { supernode: Endpoint; supernodeKey: Uint8Array }[];
  /** KEEPALIVE to the standby (default 5000 ms). */
  standbyKeepaliveMs?: number;
  /** A new handshake with a standby that has not answered for this long (default 30 s). */
  standbyRefreshMs?: number;
  /** Handshake with the preferred supernode while not attached there (default 5000 ms). */
  preferredHandshakeMs?: number;
  /** Answers from the preferred supernode for this long move the node back (default 5000 ms). */
  returnAfterMs?: number;
  /** Silence after which a link's run of answers ends (default 3000 ms). */
  answerSilenceMs?: number;
  network: number;
  /** The node id NodeCore asks for (0: auto); later the id the supernode gave. */
  requestedId?: number;
  /** Network secret (open mode); all zeros when none. */
  psk?: Uint8Array;
  limits?: SessionLimits;
  retryMs?: number;
  refusedRetryMs?: number;
  silenceMs?: number;
  handshakeTimeoutMs?: number;
  maxPeers?: number;
  maxBacklog?: number;
  /** How often the node asks for the roster (default 5000 ms). */
  rosterIntervalMs?: number;
  /** How long a broadcast waits for the first roster (default 2000 ms). */
  broadcastHoldMs?: number;
  /** Most broadcasts waiting for the first roster (default 16). */
  maxHeldBroadcasts?: number;
  /**
   * Peer keys this node accepts (the daemon's `peers` list). Non-empty: only
   * these, each for its `id` when given. Empty or absent: trust on first use.
   */
  trusted?: readonly TrustedPeer[];
  /** How long a pin lives after its key was last seen (default 7 days). */
  pinAgeMs?: number;
  /** Most pins (default 4096). */
  maxPins?: number;
}

/** What the node's security layer reports. */
export type SecurityNodeEvent =
  | { type: "supernode_session"; keyId: number }
  | { type: "refused"; by: "supernode" | number; reason: RejectReason; text: string }
  | { type: "no_answer"; text: string }
  | { type: "peer_session"; peer: number; key: string; initiator: boolean }
  | { type: "peer_refused"; peer: number; reason: string }
  | { type: "revoked"; node: number; key: string; sessions: number }
  | {
    type: "peer_key_refused";
    peer: number;
    /** Fingerprint of the key the supernode vouched for. */
    key: string;
    /** Fingerprint of the pinned key (pin_mismatch). */
    pinned?: string;
    reason: PeerKeyRefusal;
  }
  | { type: "roster"; peers: number }
  | { type: "moved"; from: string; to: string; cause: "silent" | "preferred"; moves: number };

/** `SecureNode.status()`: the layer's state for /status and /metrics. */
export interface SecureNodeState {
  /** The supernode session is live. */
  ready: boolean;
  sessions: number;
  /** Peer keys whose newest HS_INIT timestamp is kept (replay check). */
  initTimestamps: number;
  /** A cookie from the supernode is in use (it was under load). */
  cookie: boolean;
  roster: number;
  rosterIds: readonly number[];
  rosterKnown: boolean;
  pins: number;
  heldBroadcasts: number;
  counters: Record<string, number>;
}
