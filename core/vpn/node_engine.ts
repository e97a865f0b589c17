/**
 * The VPN node as one sans-IO engine (issue 15): the security layer
 * (`SecureNode`, secure_node.ts: handshakes, pins, sessions) in front of the
 * protocol (`NodeCore`, node.ts: registration, peers, paths), with MAC
 * Address Translation (`MatTranslator`, core/mat.ts) between the device
 * (TAP) side and the VPN.
 *
 * ```
 *   device frame --> fromDevice(frame, now) --> MAT egress --> NodeCore.sendFrame
 *   datagram (from, bytes, now, wall) --> receive --> SecureNode.receive
 *                                                       '- "core" --> NodeCore.receive
 *   takeFrames() --> forDevice(frame, now) (MAT ingress, in place) --> device
 *   takeOutgoing() --> UDP    takeEvents() --> log, leaf table save
 *   timer at nextDeadline() --> poll(now, wall)     SIGTERM --> stop(now)
 *   snapshot(now) --> /status, /metrics
 * ```
 *
 * The translator needs the supernode id and the node id, which the node
 * learns at registration: until the first `registered` event (handled in
 * `takeEvents`), device frames are dropped and counted
 * (`tx_not_registered`). A registration with other ids (a new supernode id,
 * another auto id) builds a new translator on the same leaf table, so leaf
 * ids stay; the old translator's verdict counts are kept.
 *
 * `wall` (ms since 1970) is the wall clock for HS_INIT timestamps, which
 * must keep increasing across restarts; `now` is monotonic. Both are
 * arguments. Without `security` (protocol tests only) the core must have
 * been built with `NullSealer`.
 *
 * `nextDeadline()` is cached: every entry point marks it stale, and so must a
 * caller that changes the core, the security layer or the leaf table behind
 * the engine's back (`deadlineMoved()`, e.g. after re-reading the pin file).
 * An idle wakeup then costs no walk of the peers, sessions and attempts.
 *
 * The leaf table is saved by the caller: with `saveIntervalMs`, `poll` and
 * `stop` queue a `save` event (layer "node") when it is due.
 *
 * Frames from `takeFrames()` may be views into the caller's receive buffers
 * (`NodeCore` with `frameViews`): consume them before the next receive.
 *
 * Not here: the TAP, the socket, virtio_net headers and TSO/GRO (core/gso.ts
 * has the pure parts; cmd/node_io.ts runs them), the log, containment of a
 * throwing handler (the caller's try/catch around `receive`, `fromDevice`
 * and `forDevice`), rendering /status and /metrics.
 *
 * @module
 */
import type { LeafTable, LeafTableSnapshot } from "../leaf_table.ts";
import type { MacKey } from "../mac.ts";
import { matAddress } from "../mac.ts";
import { MatTranslator, type MatVerdict } from "../mat.ts";
import type { Outgoing } from "./backlog.ts";
import type { NodeCore, NodeEvent, NodeStatus } from "./node.ts";
import type { PeerStatus } from "./peer.ts";
import type { SecureNode, SecurityNodeEvent } from "./secure_node.ts";
import type { SessionInfo } from "./session_keys.ts";

/** What `NodeEngine` is built from. */
export interface NodeEngineConfig {
  core: NodeCore;
  leaves: LeafTable;
  /** The TAP's own MAC (leaf 0). */
  tapMac: MacKey;
  /** The security layer whose sealer `core` uses; absent: protocol tests only. */
  security?: SecureNode;
  /** Queue a `save` event this often (ms) and at stop; absent: never. */
  saveIntervalMs?: number;
}

/**
 * Node counters (the core and MAT keep their own). The device (`tap_*`)
 * and offload counters are the I/O adapter's to bump (cmd/node_io.ts): the
 * engine never sees the device; they live here so that one plain object,
 * in this order, is what /status and /metrics show.
 */
export interface NodeEngineCounters {
  /** Frames read from the TAP. */
  tap_rx_frames: number;
  tap_rx_bytes: number;
  /** TAP frames whose handling threw: dropped, contained (kit/contain.ts). */
  tap_rx_handler_errors: number;
  /** Frames written to the TAP. */
  tap_tx_frames: number;
  tap_tx_bytes: number;
  /** Frames from peers whose way to the TAP threw (MAT ingress...): dropped, contained. */
  tap_tx_handler_errors: number;
  /** TAP writes that failed (frame dropped). */
  tap_tx_errors: number;
  /** TAP frames dropped before the first registration (no MAT ids yet). */
  tx_not_registered: number;
  /** TAP frames MAT egress dropped (by verdict in `mat.egress`). */
  tx_mat_dropped: number;
  /** VPN frames MAT ingress dropped (by verdict in `mat.ingress`). */
  rx_mat_dropped: number;
  /** Leaf table saves that failed. */
  save_errors: number;
  /** With offload: TAP reads that were TSO super-frames. */
  tap_rx_gso_frames: number;
  /** With offload: frames the super-frames were cut into. */
  tap_rx_gso_segments: number;
  /** With offload: TAP reads refused by the segmenter (by reason in `offload_dropped`). */
  tap_rx_offload_dropped: number;
}

/** MAT verdict counts of one direction (non-zero only). */
export type VerdictCounts = Partial<Record<MatVerdict, number>>;

/** `SecureNode.status()`. */
export type SecureNodeStatus = ReturnType<SecureNode["status"]>;

/** An event of a layer, for the log (and, "node" `save`, for the caller to save the leaf table). */
export type NodeEngineEvent =
  | { layer: "security"; event: SecurityNodeEvent }
  | { layer: "core"; event: NodeEvent }
  | { layer: "node"; event: { type: "save" } };

/** The engine's state at `now`, plain data (`NodeEngine.snapshot`). */
export interface NodeEngineSnapshot {
  /** When it was taken. */
  now: number;
  core: NodeStatus;
  peers: PeerStatus[];
  /** Null without the security layer. */
  security: { status: SecureNodeStatus; sessions: SessionInfo[] } | null;
  mat: {
    /** The MAT prefix (leaf 0); null before the first registration. */
    prefix: MacKey | null;
    leaves: LeafTableSnapshot;
    /** Leaf ids in use (`LeafTable.size`). */
    size: number;
    egress: VerdictCounts;
    ingress: VerdictCounts;
    notes: Record<string, number>;
  };
  counters: NodeEngineCounters;
}

const NO_EVENTS: readonly NodeEngineEvent[] = Object.freeze([]);
const SAVE: NodeEngineEvent = Object.freeze({
  layer: "node",
  event: Object.freeze({ type: "save" }),
});

/**
 * The node engine; see the module doc.
 *
 * @example
 * ```ts
 * import { NodeEngine } from "./node_engine.ts";
 * import { NodeCore } from "./node.ts";
 * import { NullSealer } from "./sealer.ts";
 * import { LeafTable } from "../leaf_table.ts";
 * const core = new NodeCore({
 *   supernode: "192.0.2.1:7654",
 *   identity: new Uint8Array(32).fill(1),
 *   sealer: new NullSealer(),
 *   random: () => 0.5,
 *   ipVersion: 4,
 * });
 * const node = new NodeEngine({ core, leaves: new LeafTable(), tapMac: 0x02_00_00_00_00_01 });
 * node.start(0, 1_700_000_000_000);
 * node.takeOutgoing(); // [{ to: "192.0.2.1:7654", bytes: <REGISTER> }]
 * // Per datagram: node.receive(from, bytes, now, wall); per TAP frame: node.fromDevice(frame, now).
 * // Then: node.takeEvents(), send node.takeOutgoing(), write each f of node.takeFrames()
 * // for which node.forDevice(f, now) is true.
 * ```
 */
export class NodeEngine {
  readonly counters: NodeEngineCounters = {
    tap_rx_frames: 0,
    tap_rx_bytes: 0,
    tap_rx_handler_errors: 0,
    tap_tx_handler_errors: 0,
    tap_tx_frames: 0,
    tap_tx_bytes: 0,
    tap_tx_errors: 0,
    tx_not_registered: 0,
    tx_mat_dropped: 0,
    rx_mat_dropped: 0,
    save_errors: 0,
    tap_rx_gso_frames: 0,
    tap_rx_gso_segments: 0,
    tap_rx_offload_dropped: 0,
  };
  readonly core: NodeCore;
  readonly security: SecureNode | null;
  readonly leaves: LeafTable;
  readonly tapMac: MacKey;
  #mat: MatTranslator | null = null;
  /** MAT verdict counts of translators replaced by a new registration. */
  readonly #retired = { egress: {} as VerdictCounts, ingress: {} as VerdictCounts };
  readonly #saveEvery: number | null;
  #saveAt = Infinity;
  #saveDue = false;
  /** The last `nextDeadline()` result, until `#stale`. */
  #deadline = Infinity;
  #stale = true;

  constructor(c: NodeEngineConfig) {
    this.core = c.core;
    this.security = c.security ?? null;
    this.leaves = c.leaves;
    this.tapMac = c.tapMac;
    this.#saveEvery = c.saveIntervalMs ?? null;
    // Saving and not started: due at once (as before the split; `start` sets the first interval).
    this.#saveAt = this.#saveEvery !== null ? 0 : Infinity;
  }

  /** The translator, once registered. */
  get mat(): MatTranslator | null {
    return this.#mat;
  }

  /** Starts registering (and the security layer's handshakes) at `now`, wall time `wall`. */
  start(now: number, wall: number): void {
    this.#stale = true;
    this.security?.start(now, wall);
    this.core.start(now);
    this.#saveAt = this.#saveEvery !== null ? now + this.#saveEvery : Infinity;
  }

  /** Handles one datagram from `from` (canonical `ip:port`): the security layer first, then the core. */
  receive(from: string, bytes: Uint8Array, now: number, wall: number): void {
    this.#stale = true;
    const sec = this.security;
    if (sec === null || sec.receive(from, bytes, now, wall) === "core") {
      this.core.receive(from, bytes, now);
    }
  }

  /**
   * One wire-sized frame from the device: MAT egress (in place), then the
   * core. Dropped and counted before the first registration or on a MAT
   * verdict other than "forward". `inPlace`: the caller lends the frame's
   * buffer to be sealed in (`NodeCore.sendFrame`): send `takeOutgoing()`
   * before reusing it.
   */
  fromDevice(frame: Uint8Array, now: number, inPlace = false): void {
    this.#stale = true;
    const mat = this.#mat;
    if (mat === null) {
      this.counters.tx_not_registered++;
      return;
    }
    if (mat.egress(frame, now) !== "forward") {
      this.counters.tx_mat_dropped++;
      return;
    }
    this.core.sendFrame(frame, now, inPlace);
  }

  /**
   * Frames from peers for the device, oldest first, not yet translated:
   * pass each to `forDevice`. Views into the receive buffers with
   * `frameViews`: consume them before the next receive.
   */
  takeFrames(): Uint8Array[] {
    return this.core.takeFrames();
  }

  /**
   * MAT ingress on one frame from `takeFrames` (rewritten in place): true
   * when it goes to the device, false when dropped (counted `rx_mat_dropped`).
   */
  forDevice(frame: Uint8Array, now: number): boolean {
    const mat = this.#mat;
    if (mat === null || mat.ingress(frame, now) !== "forward") {
      this.counters.rx_mat_dropped++;
      return false;
    }
    return true;
  }

  /**
   * Events since the last call: the security layer's, then the core's,
   * then a due save. A `registered` event (re)builds the translator here,
   * so call this after each batch, before `takeFrames`.
   */
  takeEvents(): readonly NodeEngineEvent[] {
    const s = this.security?.takeEvents();
    const c = this.core.takeEvents();
    if ((s === undefined || s.length === 0) && c.length === 0 && !this.#saveDue) return NO_EVENTS;
    const out: NodeEngineEvent[] = [];
    if (s !== undefined) { for (const event of s) out.push({ layer: "security", event }); }
    for (const event of c) {
      if (event.type === "registered") this.#registered(event.supernodeId, event.nodeId);
      out.push({ layer: "core", event });
    }
    if (this.#saveDue) {
      this.#saveDue = false;
      out.push(SAVE);
    }
    return out;
  }

  #registered(supernode: number, node: number): void {
    const m = this.#mat;
    if (m !== null && m.prefix === matAddress(supernode, node, 0)) return;
    if (m !== null) this.#retire(m);
    this.#mat = new MatTranslator({ supernode, node, tapMac: this.tapMac, leaves: this.leaves });
  }

  #retire(m: MatTranslator): void {
    for (const dir of ["egress", "ingress"] as const) {
      for (const [k, v] of Object.entries(m.counters[dir]) as [MatVerdict, number][]) {
        if (v) this.#retired[dir][k] = (this.#retired[dir][k] ?? 0) + v;
      }
    }
  }

  /** Datagrams to send: the security layer's, then the core's. */
  takeOutgoing(): Outgoing[] {
    const b = this.core.takeOutgoing();
    const sec = this.security;
    if (sec === null) return b;
    const a = sec.takeOutgoing();
    if (a.length === 0) return b;
    if (b.length === 0) return a;
    for (const o of b) a.push(o);
    return a;
  }

  /** Runs due timers: the security layer's, the core's, leaf ageing, the periodic save. */
  poll(now: number, wall: number): void {
    this.#stale = true;
    this.security?.poll(now, wall);
    this.core.poll(now);
    this.leaves.expire(now);
    if (now >= this.#saveAt) {
      this.#saveDue = true;
      this.#saveAt = now + this.#saveEvery!;
    }
  }

  /** When `poll` next has work (cached until an entry point runs; see the module doc). */
  nextDeadline(): number {
    if (this.#stale) {
      this.#deadline = Math.min(
        this.core.nextDeadline(),
        this.security?.nextDeadline() ?? Infinity,
        this.leaves.nextDeadline(),
        this.#saveAt,
      );
      this.#stale = false;
    }
    return this.#deadline;
  }

  /**
   * Marks the cached deadline stale: call after changing the core, the
   * security layer or the leaf table other than through the engine.
   */
  deadlineMoved(): void {
    this.#stale = true;
  }

  /** SIGTERM: DEREGISTER, and a last save (when saving). */
  stop(now: number): void {
    this.#stale = true;
    this.core.deregister(now);
    if (this.#saveEvery !== null) this.#saveDue = true;
    this.#saveAt = Infinity;
  }

  /** MAT verdict counts, both directions, including replaced translators (non-zero only). */
  matCounters(): { egress: VerdictCounts; ingress: VerdictCounts; notes: Record<string, number> } {
    const out = {
      egress: { ...this.#retired.egress },
      ingress: { ...this.#retired.ingress },
      notes: {} as Record<string, number>,
    };
    const m = this.#mat;
    if (m) {
      for (const dir of ["egress", "ingress"] as const) {
        for (const [k, v] of Object.entries(m.counters[dir]) as [MatVerdict, number][]) {
          if (v) out[dir][k] = (out[dir][k] ?? 0) + v;
        }
      }
      for (const [k, v] of Object.entries(m.counters.notes)) if (v) out.notes[k] = v;
    }
    return out;
  }

  /** The state /status and /metrics show, at `now`: plain data copied out. */
  snapshot(now: number): NodeEngineSnapshot {
    this.#stale = true; // reads only, as far as known; cheap insurance
    const sec = this.security;
    const m = this.#mat;
    return {
      now,
      core: this.core.status(),
      peers: this.core.peers(),
      security: sec ? { status: sec.status(), sessions: sec.sessionList(now) } : null,
      mat: {
        prefix: m ? m.prefix : null,
        leaves: this.leaves.snapshot(now),
        size: this.leaves.size,
        ...this.matCounters(),
      },
      counters: { ...this.counters },
    };
  }
}
