/**
 * What `NodeCore` (node.ts) takes and gives as plain data: its
 * configuration, its registration states, the events it reports, what
 * `sendFrame` did with a frame, and `status()`. Apart from the state machine
 * so that the node's interface reads in one place.
 *
 * @module
 */
import type { Endpoint, EndpointTable } from "../addr.ts";
import type { NakReason } from "./constants.ts";
import type { PathKind, PeerTimers } from "./peer.ts";
import type { PeerDirectory, Sealer } from "./sealer.ts";

/** Node configuration. */
export interface NodeConfig {
  /** The supernode's address. */
  supernode: Endpoint;
  /**
   * 32 bytes naming this node across restarts: in the daemon its X25519 public key, which the
   * supernode checks against the key of the node's session. Keep it stable.
   */
  identity: Uint8Array;
  sealer: Sealer;
  /** Uniform random numbers in [0, 1) (probe sequence starts, jitter). */
  random: () => number;
  /** Network id. Default 0, the default network. */
  network?: number;
  /** A fixed node id 1..65534, or "auto" (default): the supernode allocates and remembers it. */
  nodeId?: number | "auto";
  /** Endpoints of this node on its local networks, offered to peers for punching (at most 4). */
  localEndpoints?: Endpoint[];
  /**
   * The table endpoints are interned in (the engine's, shared with the
   * security layer and the socket side); default a table of its own.
   */
  endpoints?: EndpointTable;
  /** Most peers. Default 256. */
  maxPeers?: number;
  /** Peer path timers (see `peer.ts`). */
  timers?: Partial<PeerTimers>;
  /** First REGISTER retry. Default 1000. */
  registerRetryMinMs?: number;
  /** Longest REGISTER retry interval. Default 8000 (back within 10 s of a supernode's return). */
  registerRetryMaxMs?: number;
  /** Wait for a KEEPALIVE_ACK. Default 3000. */
  keepaliveAckTimeoutMs?: number;
  /**
   * Federation (several supernodes): KEEPALIVE this often whatever the
   * supernode's REGISTER_ACK says (docs/federation.md: 1000).
   */
  keepaliveIntervalMs?: number;
  /**
   * Federation: this long without an answer (KEEPALIVE unanswered, or no
   * REGISTER_ACK while registering) emits `supernode_silent`, for the owner
   * to move the node (`moveTo`); it is also the KEEPALIVE_ACK wait. Absent:
   * one supernode, today's behaviour.
   */
  silentMs?: number;
  /**
   * The AA (supernode id) of the node's first REGISTER_ACK ever, kept in
   * its state directory: a later ACK with another is an error event
   * (`allocator_changed`), as it changes every MAT address. Absent: the first ACK sets it.
   */
  allocator?: number;
  /** REGISTER retry interval after a refusal. Default 30 000. */
  refusedRetryMs?: number;
  /** Underlay MTU for the frame size limit. Default 1500. */
  underlayMtu?: number;
  /** Underlay IP version for the frame size limit. Default 6 (the smaller limit). */
  ipVersion?: 4 | 6;
  /** Most frames waiting for `takeFrames`. Default 4096. */
  maxFrames?: number;
  /**
   * `takeFrames` returns views into the received datagrams instead of
   * copies (no allocation per frame): valid only until the caller reuses
   * that receive buffer. For a caller that takes and consumes every frame
   * after each receive batch, before its next receive (the node engine).
   * Default false: copies the caller owns.
   */
  frameViews?: boolean;
  /**
   * A frame from a peer, opened, before it is queued: false drops it
   * (counted `rx_filtered`). `sender` is the node id the frame came from.
   * The network's filter (core/vpn/net_filter.ts); default null: all pass.
   */
  admitFrame?: ((frame: Uint8Array, sender: number, now: number) => boolean) | null;
  /** Most queued outgoing datagrams and events each. Default 65 536. */
  maxBacklog?: number;
  /** Broadcast fan-out and session readiness (the security layer). */
  directory?: PeerDirectory;
  /** How long a frame waits for its peer's session. Default 5000 (a handshake's timeout). */
  holdMs?: number;
  /** Most frames held for one peer. Default 16. */
  maxHeldFrames?: number;
  /**
   * TTL of the first probe round to a peer's endpoints when punching starts
   * (0: the socket's default). Default 2: the probe opens this node's own
   * NAT mapping but expires before the peer's NAT, which would otherwise
   * track it as an unsolicited connection and map the peer's own probes to
   * another port. Later rounds go with the full TTL.
   */
  punchTtl?: number;
}

/** Registration states. */
export type RegState = "idle" | "registering" | "registered" | "refused" | "stopped";

/** Something a node operator wants in the log. */
export type NodeEvent =
  | {
    type: "registered";
    network: number;
    nodeId: number;
    supernodeId: number;
    /** This node's endpoint as the supernode sees it. */
    observed: string;
    /** The supernode's boot id changed since the last registration. */
    supernodeRestarted: boolean;
  }
  | { type: "refused"; reason: NakReason; requested: number; text: string }
  | {
    type: "reregistering";
    cause: "keepalive_timeout" | "not_registered" | "going_away";
    retryS?: number;
  }
  | {
    type: "path";
    peer: number;
    path: PathKind;
    endpoint: string;
    cause: "echo" | "punch_failed" | "no_echo";
    rttMs: number | null;
  }
  | { type: "frame_too_big"; length: number; max: number; count: number }
  | { type: "supernode_silent"; supernode: string; silentMs: number | null }
  | { type: "allocator_changed"; expected: number; got: number; supernode: string }
  | { type: "deregistered"; nodeId: number };

/** What `sendFrame` did with a frame. */
export type SendResult =
  | "direct"
  | "relay"
  | "broadcast"
  | "too_big"
  | "runt"
  | "not_registered"
  | "not_mat"
  | "to_self";

/** `status()` of a node. */
export interface NodeStatus {
  state: RegState;
  network: number;
  /** 0 before the first registration. */
  nodeId: number;
  /** -1 before the first registration. */
  supernodeId: number;
  supernode: string;
  supernodeRttMs: number | null;
  /** When (the `now` clock) the supernode last sent something authenticated; null: never. */
  supernodeLastRx?: number | null;
  /** The AA of the first REGISTER_ACK ever, -1 before. */
  allocator?: number;
  /** Moves to another supernode (`moveTo`) since start. */
  moves?: number;
  /** Largest frame `sendFrame` accepts. */
  maxFrame: number;
  counters: Record<string, number>;
}
