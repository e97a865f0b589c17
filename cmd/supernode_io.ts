/**
 * Joins the sans-IO supernode engine (`SupernodeEngine`,
 * core/vpn/supernode_engine.ts) to its UDP socket (`VpnSocket`, which
 * contains a datagram whose handling throws) and to the log, without owning
 * the event loop (cmd/supernode.ts wires that):
 *
 * ```
 *   UDP --recv--> SupernodeEngine.receive(from, bytes, now)
 *   takeOutgoing() --> UDP send      takeEvents() --> log lines
 * ```
 *
 * Without `security` (in-memory protocol tests only) the engine runs with
 * `NullSealer`: no encryption.
 *
 * @module
 */
import type { TopicLogger } from "./kit/log.ts";
import type { SocketCounters, VpnSocket } from "./vpn_io.ts";
import { aeadImplementation, CIPHER, logSupernodeSecurity } from "./vpn_security.ts";
import type { Endpoint } from "../core/addr.ts";
import type { MemberMode } from "../core/vpn/members.ts";
import type { SecureSupernode } from "../core/vpn/secure_supernode.ts";
import type { SessionInfo } from "../core/vpn/session_keys.ts";
import type { SupernodeEvent, SupernodeStatus } from "../core/vpn/supernode.ts";
import { type SecureSupernodeStatus, SupernodeEngine } from "../core/vpn/supernode_engine.ts";

/** Uniform random numbers in [0, 1) from the system CSPRNG (for the cores). */
export function cryptoRandom(): number {
  const w = new Uint32Array(1);
  crypto.getRandomValues(w);
  return w[0] / 0x1_0000_0000;
}

/** A supernode's state for /status and /metrics (`SupernodeIo.snapshot`): plain data. */
export interface SupernodeSnapshot {
  /** When it was taken (ages and "under load" are relative to it). */
  now: number;
  core: SupernodeStatus;
  /** The UDP socket's local address. */
  local: Endpoint;
  socket: SocketCounters;
  /** Null without the security layer (in-memory protocol tests). */
  security: {
    cipher: string;
    aead: string;
    mode: MemberMode;
    status: SecureSupernodeStatus;
    sessions: SessionInfo[];
  } | null;
}

/** The supernode engine on a UDP socket and a log; see the module doc. */
export class SupernodeIo {
  readonly engine: SupernodeEngine;
  readonly sock: VpnSocket;
  readonly #log: TopicLogger;

  constructor(
    o: { socket: VpnSocket; supernodeId: number; log: TopicLogger; security?: SecureSupernode },
  ) {
    this.sock = o.socket;
    this.#log = o.log;
    this.engine = new SupernodeEngine({
      supernodeId: o.supernodeId,
      random: cryptoRandom,
      ...(o.security ? { security: o.security } : {}),
    });
  }

  /** Handles one batch from the socket; returns how many datagrams (0: drained). */
  onSocketReadable(now: number): number {
    const engine = this.engine;
    const n = this.sock.receive((from, bytes) => engine.receive(from, bytes, now));
    if (n > 0) this.#drain();
    return n;
  }

  /** Runs due timers. */
  poll(now: number): void {
    this.engine.poll(now);
    this.#drain();
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    return this.engine.nextDeadline();
  }

  /** SIGTERM: GOING_AWAY to every node. */
  stop(now: number): void {
    this.engine.stop(now);
    this.#drain();
  }

  /**
   * What /status and /metrics show (cmd/render/supernode_status.ts renders
   * it): the engine's snapshot with the socket's address and counters.
   */
  snapshot(now: number): SupernodeSnapshot {
    const e = this.engine.snapshot(now);
    return {
      now,
      core: e.core,
      local: this.sock.transport.local,
      socket: { ...this.sock.counters },
      security: e.security ? { cipher: CIPHER, aead: aeadImplementation(), ...e.security } : null,
    };
  }

  #drain(): void {
    this.sock.send(this.engine.takeOutgoing());
    for (const ev of this.engine.takeEvents()) {
      if (ev.layer === "security") logSupernodeSecurity(this.#log, ev.event);
      else this.#event(ev.event);
    }
  }

  #event(ev: SupernodeEvent): void {
    const log = this.#log;
    switch (ev.type) {
      case "registered":
        log.info(
          `node ${ev.node} registered from ${ev.endpoint}${ev.moved ? " (moved)" : ""}`,
          { network: ev.network, auto: ev.auto },
        );
        break;
      case "refused":
        log.limited(`refused:${ev.endpoint}`, "warn", `refused ${ev.endpoint}: ${ev.text}`, {
          network: ev.network,
          requested: ev.requested,
          reason: ev.reason,
        });
        break;
      case "deregistered":
        log.info(`node ${ev.node} deregistered`, { network: ev.network, endpoint: ev.endpoint });
        break;
      case "expired":
        log.info(`node ${ev.node} expired (silent)`, {
          network: ev.network,
          endpoint: ev.endpoint,
        });
        break;
      case "introduced":
        log.debug(`introduced nodes ${ev.a} and ${ev.b}`, { network: ev.network });
        break;
      case "network_created":
        log.info(`network ${ev.network} created`);
        break;
      case "network_removed":
        log.info(`network ${ev.network} removed (empty)`);
        break;
      case "going_away":
        log.info(`told ${ev.nodes} node(s) the supernode is going away`);
        break;
    }
  }
}
