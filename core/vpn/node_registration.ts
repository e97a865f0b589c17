/**
 * `NodeCore`'s registration with its supernode (node.ts; docs/protocol.md
 * has the diagram): REGISTER with back-off, REGISTER_ACK, NAK, KEEPALIVE and
 * its ACK, GOING_AWAY, and with several supernodes (docs/federation.md)
 * `supernode_silent` and `moveTo`. Holds the state the rest of the core
 * reads: `state`, `nodeId`, `supernodeId`, `supernode`.
 *
 * @module
 */
import { MAX_NODE_ID, MIN_NODE_ID, NAK_TEXT, SUPERNODE_ID } from "./constants.ts";
import type { Counters } from "./backlog.ts";
import type { NodeConfig, NodeEvent, RegState } from "./node_types.ts";
import type { EndpointTable, KeyedEndpoint } from "../addr.ts";
import type { Message } from "./messages.ts";

/** What the registration takes from `NodeCore`. */
export interface RegistrationShared {
  cfg: Required<
    Pick<
      NodeConfig,
      | "identity"
      | "sealer"
      | "random"
      | "registerRetryMinMs"
      | "registerRetryMaxMs"
      | "keepaliveAckTimeoutMs"
      | "refusedRetryMs"
    >
  >;
  endpoints: EndpointTable;
  counters: Counters;
  /** Sends `m` to `to` (false: not sent, counted). */
  send(to: KeyedEndpoint, receiver: number, m: Message, now: number): boolean;
  emit(ev: NodeEvent): void;
  /** `NodeCore.poll`: runs the timers due (a new registration sends at once). */
  poll(now: number): void;
}

/** The node's registration state machine. */
export class Registration {
  /** The supernode this node registers with now (`moveTo` changes it). */
  supernode: KeyedEndpoint;
  state: RegState = "idle";
  nodeId = 0;
  supernodeId = -1;
  /** Last authenticated packet from the supernode (`NodeCore.receive` sets it). */
  snLastRx = -Infinity;
  /** The AA of the first REGISTER_ACK ever (-1: none yet): MAT addresses keep it. */
  allocator: number;
  moves = 0;
  snRttMs: number | null = null;
  /** Federation: silence before a move (undefined: one supernode). */
  readonly silentMs: number | undefined;
  private bootId = -1;
  private keepaliveMs = 8000;
  private nextRegisterAt = Infinity;
  private regBackoff = 0;
  private nextKeepaliveAt = Infinity;
  private kaDueAt = Infinity;
  private kaSeq: number;
  /** Federation: KEEPALIVE interval (else the one the supernode gives). */
  private readonly fedKeepaliveMs: number | undefined;
  /** Registering with the current supernode since (federation: silent again after `silentMs`). */
  private registeringSince = Infinity;
  private readonly network: number;
  private readonly auto: boolean;
  /** Local endpoints offered in REGISTER, as text (at most 4). */
  private readonly locals: string[];
  private readonly counters: Counters;
  private readonly cfg: RegistrationShared["cfg"];
  private readonly endpoints: EndpointTable;

  constructor(
    o: {
      supernode: KeyedEndpoint;
      network: number;
      auto: boolean;
      nodeId: number;
      /** Local endpoints offered in REGISTER, as text (at most 4). */
      locals: string[];
      keepaliveIntervalMs: number | undefined;
      silentMs: number | undefined;
      allocator: number;
      kaSeq: number;
    },
    private readonly x: RegistrationShared,
  ) {
    this.supernode = o.supernode;
    this.network = o.network;
    this.auto = o.auto;
    this.nodeId = o.nodeId;
    this.locals = o.locals;
    this.fedKeepaliveMs = o.keepaliveIntervalMs;
    this.silentMs = o.silentMs;
    this.allocator = o.allocator;
    this.kaSeq = o.kaSeq;
    this.counters = x.counters;
    this.cfg = x.cfg;
    this.endpoints = x.endpoints;
  }

  private send(to: KeyedEndpoint, receiver: number, m: Message, now: number): boolean {
    return this.x.send(to, receiver, m, now);
  }

  private emit(ev: NodeEvent): void {
    this.x.emit(ev);
  }

  private poll0(now: number): void {
    this.x.poll(now);
  }

  /** Starts registering. */
  start(now: number): void {
    if (this.state !== "idle") return;
    this.toRegistering(now, now);
  }

  /**
   * Registers with another supernode (a move, docs/federation.md: the
   * security layer has a ready session with it). Peers keep their paths;
   * relayed traffic goes through the new supernode from now on.
   */
  moveTo(supernode: KeyedEndpoint, now: number): void {
    if (this.state === "idle" || this.state === "stopped") return;
    if (supernode.key === this.supernode.key) return;
    this.supernode = this.endpoints.of(supernode);
    this.moves++;
    this.snRttMs = null;
    this.counters.add("supernode_moves");
    this.toRegistering(now, now);
  }

  toRegistering(now: number, firstAt: number): void {
    this.state = "registering";
    this.registeringSince = now;
    this.regBackoff = 0;
    this.nextRegisterAt = firstAt;
    this.kaDueAt = Infinity;
    this.nextKeepaliveAt = Infinity;
    this.poll0(now);
  }

  private sendRegister(now: number): void {
    // `auto` nodes ask for the id they held (after a supernode restart); 0 before the first.
    this.send(this.supernode, SUPERNODE_ID, {
      kind: "register",
      auto: this.auto,
      identity: this.cfg.identity,
      locals: this.locals,
      ...(this.cfg.sealer.registrationStamp ? { stamp: this.cfg.sealer.registrationStamp() } : {}),
    }, now);
    this.counters.add("tx_register");
  }

  /** A message from the supernode about the registration (else counted as unexpected). */
  fromSupernode(receiver: number, msg: Message, now: number): void {
    switch (msg.kind) {
      case "register_ack": {
        if (this.state === "idle" || receiver < MIN_NODE_ID || receiver > MAX_NODE_ID) {
          return this.counters.add("drop_unexpected_ack");
        }
        if (!this.auto && receiver !== this.nodeId) return this.counters.add("drop_unexpected_ack");
        const restarted = this.bootId !== -1 && this.bootId !== msg.bootId;
        const changed = this.state !== "registered" || this.nodeId !== receiver;
        if (this.allocator < 0) this.allocator = msg.supernodeId;
        else if (msg.supernodeId !== this.allocator) {
          // MAT addresses carry the AA: another one changes every address.
          this.counters.add("allocator_changed");
          this.emit({
            type: "allocator_changed",
            expected: this.allocator,
            got: msg.supernodeId,
            supernode: this.supernode.key,
          });
        }
        this.state = "registered";
        this.registeringSince = Infinity;
        this.nodeId = receiver;
        this.supernodeId = msg.supernodeId;
        this.bootId = msg.bootId;
        this.keepaliveMs = this.fedKeepaliveMs ?? Math.max(1, msg.keepaliveS || 8) * 1000;
        this.nextKeepaliveAt = now + this.keepaliveMs;
        this.kaDueAt = Infinity;
        this.nextRegisterAt = Infinity;
        this.regBackoff = 0;
        if (changed || restarted) {
          this.emit({
            type: "registered",
            network: this.network,
            nodeId: receiver,
            supernodeId: msg.supernodeId,
            observed: msg.observed,
            supernodeRestarted: restarted,
          });
        }
        return;
      }
      case "register_nak":
        if (msg.reason === "not_registered") {
          if (this.state !== "registered" || msg.requested !== this.nodeId) {
            return this.counters.add("drop_stale_nak");
          }
          this.emit({ type: "reregistering", cause: "not_registered" });
          return this.toRegistering(now, now);
        }
        if (this.state !== "registering" && this.state !== "refused") {
          return this.counters.add("drop_stale_nak");
        }
        this.counters.add(`refused_${msg.reason}`);
        if (this.state !== "refused") {
          this.emit({
            type: "refused",
            reason: msg.reason,
            requested: msg.requested,
            text: NAK_TEXT[msg.reason],
          });
        }
        this.state = "refused";
        this.nextRegisterAt = now + this.cfg.refusedRetryMs;
        return;
      case "keepalive_ack": {
        // One of the last four sent (at 1 s, an answer may come after the next one left).
        const back = (this.kaSeq - msg.seq) >>> 0;
        if (this.kaDueAt === Infinity || back < 1 || back > 4) {
          return this.counters.add("drop_stale_keepalive_ack");
        }
        this.kaDueAt = Infinity;
        this.snRttMs = ((Math.floor(now) >>> 0) - msg.time) >>> 0;
        return;
      }
      case "going_away":
        if (this.state !== "registered" && this.state !== "registering") {
          return this.counters.add("drop_unexpected_going_away");
        }
        this.emit({ type: "reregistering", cause: "going_away", retryS: msg.retryS });
        this.toRegistering(now, now + this.cfg.registerRetryMinMs);
        // Several supernodes: it said it stops, so no need to wait for its silence.
        if (this.silentMs !== undefined) {
          this.emit({ type: "supernode_silent", supernode: this.supernode.key, silentMs: null });
        }
        return;
      default:
        this.counters.add("drop_unexpected_type");
    }
  }

  /** The registration's timers: KEEPALIVE and its answer, REGISTER (again). */
  poll(now: number): void {
    if (this.state === "registered" && now >= this.kaDueAt) {
      if (this.silentMs !== undefined) {
        this.emit({
          type: "supernode_silent",
          supernode: this.supernode.key,
          silentMs: now - Math.max(this.snLastRx, this.kaDueAt - this.silentMs),
        });
      }
      this.emit({ type: "reregistering", cause: "keepalive_timeout" });
      this.state = "registering";
      this.registeringSince = now;
      this.regBackoff = 0;
      this.nextRegisterAt = now;
      this.kaDueAt = Infinity;
      this.nextKeepaliveAt = Infinity;
    } else if (
      this.silentMs !== undefined && this.state === "registering" &&
      now - this.registeringSince >= this.silentMs
    ) {
      // Still no REGISTER_ACK: the owner may move on to the next supernode.
      this.registeringSince = now;
      this.emit({ type: "supernode_silent", supernode: this.supernode.key, silentMs: null });
    }
    if (this.state === "registering" && now >= this.nextRegisterAt) {
      this.sendRegister(now);
      this.regBackoff = this.regBackoff === 0
        ? this.cfg.registerRetryMinMs
        : Math.min(this.regBackoff * 2, this.cfg.registerRetryMaxMs);
      this.nextRegisterAt = now + Math.floor(this.regBackoff * (0.8 + 0.2 * this.cfg.random()));
    } else if (this.state === "refused" && now >= this.nextRegisterAt) {
      this.sendRegister(now);
      this.nextRegisterAt = now + this.cfg.refusedRetryMs;
    } else if (this.state === "registered" && now >= this.nextKeepaliveAt) {
      const seq = this.kaSeq;
      this.kaSeq = (this.kaSeq + 1) >>> 0;
      this.send(this.supernode, SUPERNODE_ID, {
        kind: "keepalive",
        seq,
        time: Math.floor(now) >>> 0,
      }, now);
      this.counters.add("tx_keepalive");
      // Counted from the first KEEPALIVE left unanswered.
      if (this.kaDueAt === Infinity) this.kaDueAt = now + this.cfg.keepaliveAckTimeoutMs;
      this.nextKeepaliveAt = now + this.keepaliveMs;
    }
  }

  /** When the registration's timers are due next. */
  deadline(): number {
    let d = Math.min(
      this.nextRegisterAt,
      this.state === "registered" ? Math.min(this.nextKeepaliveAt, this.kaDueAt) : Infinity,
    );
    if (this.silentMs !== undefined && this.state === "registering") {
      d = Math.min(d, this.registeringSince + this.silentMs);
    }
    return d;
  }
}
