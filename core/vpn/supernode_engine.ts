/**
 * The supernode as one sans-IO engine (issue 15): the security layer
 * (`SecureSupernode`, secure_supernode.ts: handshakes, member checks,
 * sessions) in front of the protocol (`SupernodeCore`, supernode.ts:
 * registration, relay, introductions), which seals and opens with the
 * layer's sealer.
 *
 * ```
 *   datagram (from, bytes, now) --> receive --> SecureSupernode.receive
 *                                                 '- "core" --> SupernodeCore.receive
 *   timer at nextDeadline() --> poll(now)       SIGTERM --> stop(now)
 *   takeOutgoing() --> UDP    takeEvents() --> log    snapshot(now) --> /status, /metrics
 * ```
 *
 * Bytes with their source and `now` in; datagrams to send, events, the
 * next deadline and a typed snapshot out. No sockets, clocks, timers or
 * logs: cmd/supernode_io.ts joins it to a UDP socket and the log, and
 * contains a datagram whose handling throws. Without `security` (protocol
 * tests only) the core runs with `NullSealer`: no encryption.
 *
 * Not here: the socket, the event loop, rendering /status and /metrics
 * (cmd/render/supernode_status.ts), saving id bindings.
 *
 * @module
 */
import type { Outgoing } from "./backlog.ts";
import type { MemberMode } from "./members.ts";
import { NullSealer } from "./sealer.ts";
import type { SecureSupernode, SecuritySupernodeEvent } from "./secure_supernode.ts";
import type { SessionInfo } from "./session_keys.ts";
import { SupernodeCore, type SupernodeEvent, type SupernodeStatus } from "./supernode.ts";

/** What `SupernodeEngine` is built from. */
export interface SupernodeEngineConfig {
  /** The supernode id (0..255), the AA of MAT addresses. */
  supernodeId: number;
  /** Uniform random numbers in [0, 1) (the daemon injects the system CSPRNG). */
  random: () => number;
  /** The security layer; absent: `NullSealer`, for protocol tests only. */
  security?: SecureSupernode;
}

/** An event of either layer, for the log. */
export type SupernodeEngineEvent =
  | { layer: "security"; event: SecuritySupernodeEvent }
  | { layer: "core"; event: SupernodeEvent };

/** `SecureSupernode.status()`. */
export type SecureSupernodeStatus = ReturnType<SecureSupernode["status"]>;

/** The engine's state at `now`, plain data (`SupernodeEngine.snapshot`). */
export interface SupernodeEngineSnapshot {
  /** When it was taken (ages and "under load" are relative to it). */
  now: number;
  core: SupernodeStatus;
  /** Null without the security layer. */
  security: { mode: MemberMode; status: SecureSupernodeStatus; sessions: SessionInfo[] } | null;
}

/**
 * The supernode engine; see the module doc.
 *
 * @example
 * ```ts
 * import { SupernodeEngine } from "./supernode_engine.ts";
 * const sn = new SupernodeEngine({ supernodeId: 1, random: () => 0.5 });
 * sn.poll(0);
 * // Per datagram: sn.receive("192.0.2.7:40000", bytes, now); then send sn.takeOutgoing().
 * sn.nextDeadline(); // 1000: the next sweep
 * sn.snapshot(0).core.counters.relayed_frames; // 0
 * ```
 */
export class SupernodeEngine {
  readonly core: SupernodeCore;
  readonly security: SecureSupernode | null;

  constructor(c: SupernodeEngineConfig) {
    const sec = c.security ?? null;
    this.security = sec;
    this.core = new SupernodeCore({
      sealer: sec ? sec.sealer : new NullSealer(),
      random: c.random,
      supernodeId: c.supernodeId,
      ...(sec ? { mayHold: (n, id, key) => sec.members.mayHold(n, id, key) } : {}),
    });
    if (sec) {
      const core = this.core;
      sec.registered = (network) => core.nodeIds(network);
    }
  }

  /** Handles one datagram from `from` (canonical `ip:port`) at `now`. Never throws on bytes. */
  receive(from: string, bytes: Uint8Array, now: number): void {
    const sec = this.security;
    if (sec === null || sec.receive(from, bytes, now) === "core") {
      this.core.receive(from, bytes, now);
    }
  }

  /** Runs due timers. */
  poll(now: number): void {
    this.security?.poll(now);
    this.core.poll(now);
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    return Math.min(this.core.nextDeadline(), this.security?.nextDeadline() ?? Infinity);
  }

  /** SIGTERM: GOING_AWAY to every node. */
  stop(now: number): void {
    this.core.shutdown(now);
  }

  /** Datagrams to send: the security layer's, then the core's. */
  takeOutgoing(): Outgoing[] {
    const a = this.security?.takeOutgoing() ?? [];
    const b = this.core.takeOutgoing();
    if (a.length === 0) return b;
    if (b.length === 0) return a;
    for (const o of b) a.push(o);
    return a;
  }

  /** Events since the last call: the security layer's, then the core's. */
  takeEvents(): SupernodeEngineEvent[] {
    const s = this.security?.takeEvents() ?? [];
    const c = this.core.takeEvents();
    if (s.length === 0 && c.length === 0) return [];
    const out: SupernodeEngineEvent[] = [];
    for (const event of s) out.push({ layer: "security", event });
    for (const event of c) out.push({ layer: "core", event });
    return out;
  }

  /** The state /status and /metrics show, at `now`. */
  snapshot(now: number): SupernodeEngineSnapshot {
    const sec = this.security;
    return {
      now,
      core: this.core.status(),
      security: sec
        ? { mode: sec.members.mode, status: sec.status(now), sessions: sec.sessionList(now) }
        : null,
    };
  }
}
