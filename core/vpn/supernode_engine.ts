/**
 * `l2 supernode` as one sans-IO engine (core/engine.ts `Engine`): the
 * security layer (`SecureSupernode`, secure_supernode.ts: handshakes, member
 * checks, sessions) in front of the protocol (`SupernodeCore`, supernode.ts:
 * registration, relay, introductions), which seals and opens with the
 * layer's sealer.
 *
 * ```
 *   datagram --> receive(bytes, from: Arrival, now) --> intern the source (EndpointTable)
 *                  --> SecureSupernode.receive --"core"--> SupernodeCore.receive
 *   endBatch(now) / poll(now): datagrams --> DatagramPort (one flush); events --> onEvent
 *   every saveIntervalMs and at stop --> save(now)     SIGTERM --> stop(now): GOING_AWAY
 *   snapshot(now) --> /status, /metrics (cmd/render/supernode_status.ts)
 * ```
 *
 * Bytes with their source and `now` in; datagrams into the socket port,
 * events to the log sink, the next deadline and a typed snapshot out. No
 * sockets, clocks, timers or logs: cmd/supernode.ts hands it to the kit's
 * pump and runner (cmd/kit/pump.ts, runner.ts), which contain a datagram
 * whose handling throws. Without `security` (protocol tests only) the core
 * runs with `NullSealer`: no encryption.
 *
 * @module
 */
import type { EndpointTable } from "../addr.ts";
import type { Arrival, DatagramPort, Engine } from "../engine.ts";
import type { Outgoing } from "./backlog.ts";
import type { EngineTxCounters } from "./node_engine.ts";
import type { MemberMode } from "./members.ts";
import { NullSealer } from "./sealer.ts";
import type { SecureSupernode, SecuritySupernodeEvent } from "./secure_supernode.ts";
import type { SessionInfo } from "./session_keys.ts";
import {
  type CoreFederation,
  SupernodeCore,
  type SupernodeEvent,
  type SupernodeStatus,
} from "./supernode.ts";
import {
  type FedPeerReport,
  SupernodeFederation,
  type SupernodeFedEvent,
} from "./fed_supernode.ts";
import { tai64n } from "./init_timestamps.ts";

/** What `SupernodeEngine` is built from. */
export interface SupernodeEngineConfig {
  /** The supernode id (0..255), the AA of MAT addresses. */
  supernodeId: number;
  /** Uniform random numbers in [0, 1) (the daemon injects the system CSPRNG). */
  random: () => number;
  /** The security layer; absent: `NullSealer`, for protocol tests only. */
  security?: SecureSupernode;
  /** Where sources are interned. */
  endpoints: EndpointTable;
  /** Where datagrams go. */
  socket: DatagramPort;
  /** The log (events of both layers); absent: dropped. */
  onEvent?: (ev: SupernodeEngineEvent) => void;
  /** Saves the id bindings: every `saveIntervalMs` and at stop. */
  save?: (now: number) => void;
  /** Default 60 000. */
  saveIntervalMs?: number;
  /** The federation (docs/federation.md); needs `security`. Absent: this supernode alone. */
  federation?: SupernodeFederation;
  /** One clock reading at start: `now` (monotonic ms) and `wall` (ms since 1970), for HS_INIT timestamps. */
  clock?: { now: number; wall: number };
}

export type { EngineTxCounters } from "./node_engine.ts";

/** An event of either layer, for the log. */
export type SupernodeEngineEvent =
  | { layer: "security"; event: SecuritySupernodeEvent }
  | { layer: "core"; event: SupernodeEvent }
  | { layer: "federation"; event: SupernodeFedEvent };

/** `SecureSupernode.status()`. */
export type SecureSupernodeStatus = ReturnType<SecureSupernode["status"]>;

/** The engine's state at `now`, plain data (`SupernodeEngine.snapshot`). */
export interface SupernodeEngineSnapshot {
  /** When it was taken (ages and "under load" are relative to it). */
  now: number;
  core: SupernodeStatus;
  /** Null without the security layer. */
  security: { mode: MemberMode; status: SecureSupernodeStatus; sessions: SessionInfo[] } | null;
  tx: EngineTxCounters;
  /** Null without a federation. */
  federation: {
    selfId: number;
    peers: FedPeerReport[];
    /** Nodes attached at peers (all), and registered here, as the table holds them. */
    remote: number;
    local: number;
    counters: Record<string, number>;
  } | null;
}

/**
 * The supernode engine; see the module doc.
 *
 * @example
 * ```ts
 * import { SupernodeEngine } from "./supernode_engine.ts";
 * import { EndpointTable } from "../addr.ts";
 * const sn = new SupernodeEngine({
 *   supernodeId: 1,
 *   random: () => 0.5,
 *   endpoints: new EndpointTable(),
 *   socket: { queue: () => 0, flush: () => 0 },
 * });
 * sn.start(0);
 * // The pump: sn.receive(bytes, from, now) per datagram, sn.endBatch(now) after each batch.
 * sn.nextDeadline(); // 1000: the next sweep
 * sn.snapshot(0).core.counters.relayed_frames; // 0
 * ```
 */
export class SupernodeEngine implements Engine<SupernodeEngineSnapshot> {
  readonly core: SupernodeCore;
  readonly security: SecureSupernode | null;
  readonly federation: SupernodeFederation | null;
  readonly endpoints: EndpointTable;
  readonly tx: EngineTxCounters = {
    tx_datagrams: 0,
    tx_errors: 0,
    endpoints: 0,
    endpoint_table_rotations: 0,
  };
  readonly #c: SupernodeEngineConfig;
  readonly #saveEvery: number | null;
  #saveAt = Infinity;
  #stopped = false;
  readonly #wallOffset: number;
  /** Datagrams for network 0xFFFF without a federation configured. */
  #fedUnconfigured = 0;

  constructor(c: SupernodeEngineConfig) {
    this.#c = c;
    const sec = c.security ?? null;
    this.security = sec;
    this.endpoints = c.endpoints;
    this.#saveEvery = c.save ? c.saveIntervalMs ?? 60_000 : null;
    this.#wallOffset = c.clock ? c.clock.wall - c.clock.now : 0;
    const fed = sec ? c.federation ?? null : null;
    this.federation = fed;
    this.core = new SupernodeCore({
      sealer: sec ? sec.sealer : new NullSealer(),
      random: c.random,
      supernodeId: c.supernodeId,
      ...(sec ? { mayHold: (n, id, key) => sec.members.mayHold(n, id, key) } : {}),
      ...(fed && sec ? { federation: coreFederation(fed, sec) } : {}),
    });
    if (sec) {
      const core = this.core;
      sec.registered = (network) => core.nodeIds(network);
      if (fed) {
        sec.federation = {
          isLocal: (network, id) => core.endpointOf(network, id) !== null,
          relay: (network, receiver, packet, now, trailer) =>
            fed.relayOut(network, receiver, packet, now, trailer),
          remoteKey: (network, id) => fed.remoteKey(network, id),
          remoteIds: (network) => fed.remoteIds(network),
        };
        fed.local = {
          endpointOf: (network, id) => core.endpointOf(network, id),
          candidatesOf: (network, id) => core.candidatesOf(network, id),
          introduce: (network, id, peer, endpoints, now) =>
            core.sendIntro(network, id, peer, endpoints, now),
          drop: (network, id, conflict, now) => core.dropMoved(network, id, conflict, now),
          vouchAndSend: (network, receiver, inner, key, now) =>
            sec.vouchAndSend(network, receiver, inner, key, now),
        };
      }
    }
  }

  /** The wall clock (ms since 1970) at `now`, from the reading at start. */
  wall(now: number): number {
    return now + this.#wallOffset;
  }

  /** Starts the timers (the first sweep, the save interval). */
  start(now: number): void {
    this.#saveAt = this.#saveEvery !== null ? now + this.#saveEvery : Infinity;
    this.poll(now);
  }

  /** One datagram: the security layer first, then the core. */
  receive(bytes: Uint8Array, from: Arrival, now: number): void {
    const ep = this.endpoints.intern(from.src, from.srcPort);
    if (SupernodeFederation.isFederation(bytes)) {
      // Network 0xFFFF is the federation's: never a node's.
      if (this.federation !== null) this.federation.receive(ep, bytes, now, this.wall(now));
      else this.#fedUnconfigured++;
      return;
    }
    const sec = this.security;
    if (sec === null || sec.receive(ep, bytes, now) === "core") {
      this.core.receive(ep, bytes, now);
    }
  }

  /** The supernode has no device. */
  fromDevice(_frame: Uint8Array, _now: number): void {}

  /** After a batch: datagrams out (one flush), events to the log. */
  endBatch(_now: number): void {
    this.#drain();
  }

  /** Runs due timers (and the periodic save), then sends what they made. */
  poll(now: number): void {
    this.security?.poll(now);
    this.core.poll(now);
    this.federation?.poll(now, this.wall(now));
    if (now >= this.#saveAt) {
      this.#saveAt = now + this.#saveEvery!;
      this.#c.save!(now);
    }
    this.#drain();
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    return Math.min(
      this.core.nextDeadline(),
      this.security?.nextDeadline() ?? Infinity,
      this.federation?.nextDeadline() ?? Infinity,
      this.#saveAt,
    );
  }

  /** SIGTERM: GOING_AWAY to every node, and a last save. */
  stop(now: number): void {
    this.core.shutdown(now);
    this.#drain();
    this.#saveAt = Infinity;
    this.#c.save?.(now);
    this.#stopped = true;
  }

  /** True once `stop` ran (GOING_AWAY is not acknowledged). */
  stopped(_now: number): boolean {
    return this.#stopped;
  }

  #drain(): void {
    const sec = this.security;
    if (sec !== null) this.#send(sec.takeOutgoing());
    this.#send(this.core.takeOutgoing());
    const fed = this.federation;
    if (fed !== null) this.#send(fed.takeOutgoing());
    if (this.#c.socket.flush() !== 0) this.tx.tx_errors++;
    const log = this.#c.onEvent;
    const s = sec?.takeEvents();
    const c = this.core.takeEvents();
    if (!log) return;
    if (s !== undefined) { for (const event of s) log({ layer: "security", event }); }
    for (const event of c) log({ layer: "core", event });
    if (fed !== null) { for (const event of fed.takeEvents()) log({ layer: "federation", event }); }
  }

  #send(out: Outgoing[]): void {
    const s = this.#c.socket, c = this.tx;
    for (let i = 0; i < out.length; i++) {
      if (s.queue(out[i].bytes, out[i].to) !== 0) c.tx_errors++;
      else c.tx_datagrams++;
    }
  }

  /** The state /status and /metrics show, at `now`. */
  snapshot(now: number): SupernodeEngineSnapshot {
    const sec = this.security;
    this.tx.endpoints = this.endpoints.size;
    this.tx.endpoint_table_rotations = this.endpoints.rotations;
    const core = this.core.status();
    if (this.#fedUnconfigured > 0) {
      core.counters.drop_federation_unconfigured = this.#fedUnconfigured;
    }
    return {
      now,
      core,
      security: sec
        ? { mode: sec.members.mode, status: sec.status(now), sessions: sec.sessionList(now) }
        : null,
      tx: { ...this.tx },
      federation: this.federation === null ? null : {
        selfId: this.#c.supernodeId,
        peers: this.federation.peers(),
        ...this.federation.status(),
      },
    };
  }
}

/** The core's federation hooks over `fed`, with the security layer's HS_INIT timestamps. */
function coreFederation(fed: SupernodeFederation, sec: SecureSupernode): CoreFederation {
  return {
    attached(network, node, identity, stamp, endpoint, now) {
      // An older node's REGISTER has no stamp: its newest handshake stands in.
      const s = stamp ?? sec.initTimestamp(identity) ?? tai64n(0);
      return fed.attached(network, node, identity, s, endpoint, now);
    },
    detached: (network, node, now) => fed.detached(network, node, now),
    allocator: (network, node, identity) => fed.allocator(network, node, identity),
    relay: (network, receiver, bytes, now) => fed.relayOut(network, receiver, bytes, now),
    introduce: (network, node, peer, now) => fed.introduceOut(network, node, peer, now),
  };
}
