/**
 * `L2tpEndpoint`: the sans-IO L2TPv3 control plane of one node, holding all
 * its control connections and the table that maps data packets to
 * sessions. `l2 las` (responder) and `l2 xconnect` (initiator) both drive
 * one; the daemon does the I/O:
 *
 * ```
 *   socket --bytes--> classifyData(bytes, peer)
 *                       |- frame   -> switch it (session, VC id)
 *                       |- control -> receive(peer, bytes, now)
 *                       '- drop    -> counted
 *   takeOutgoing() --> socket        takeEvents() --> log / switch table
 *   timer at nextDeadline() --> poll(now)
 * ```
 *
 * Control demultiplexing (RFC 3931 sections 3.2.1, 3.3.1): a message with
 * Control Connection ID 0 must be an SCCRQ; it is keyed by (peer address,
 * peer's Assigned Control Connection ID) so a retransmitted SCCRQ reaches
 * the connection it already created. Every other message is found by our
 * CCID and must come from the connection's peer address.
 *
 * A message for an unknown connection is dropped and counted; with
 * `answerStray` (the LAS) it is answered with a StopCCN that names it by
 * its header id, rate-limited and size-bounded (stray.ts). With
 * `honourStray` (the edge) such a StopCCN, header id 0, takes the connection
 * it names down at once when it comes from that connection's peer and,
 * with a secret, its digest checks.
 *
 * Malformed messages (parse or AVP-size errors, hidden AVPs) are dropped
 * without acknowledgement, counted, and reported as `rejected` events;
 * they never disturb established sessions.
 *
 * Bounded: connections (`maxConnections`, `maxPendingConnections`, and
 * from one source address `maxConnectionsPerSource` and
 * `maxPendingPerSource` handshakes),
 * sessions (per connection, pending per connection, global via the Session
 * ID allocator), the undrained outgoing queue and event queue
 * (`maxBacklog`, oldest kept, newest dropped and counted).
 *
 * Control message authentication (RFC 3931 section 4.3) is on when the
 * config has a `secret` and a `hash` (see `auth.ts`).
 *
 * Forged sources: a responder connection sends a peer that has not yet
 * named our CCID at most `amplificationFactor` (3) times the bytes it got
 * from it (`ControlConnection.proven`), so a spoofed SCCRQ cannot turn the
 * LAS into an amplifier. Every text built from a peer's bytes is bounded
 * and printable (`peer_text.ts`); a message that cannot be encoded is
 * dropped and counted, never thrown.
 *
 * One connection never stops the others: `poll` and `closeConnection` run
 * each connection inside its own try/catch. An error one connection throws
 * (a bug some packet left behind) is counted (`connection_errors`),
 * reported through the config's `contain` hook (the daemon's containment,
 * cmd/kit/contain.ts, which logs it rate-limited with the peer), and the
 * loop goes on with the next connection, so every other connection still
 * retransmits and sends HELLO on time. A connection that has thrown
 * `MAX_CONNECTION_FAILURES` (3) times is closed with StopCCN (result 2,
 * general error), its sessions torn down and reported, counted
 * (`connections_failed_closed`) and said once in its connection-down
 * reason; if it throws again after that (or while closing), it is dropped
 * without a word (`connections_failed_dropped`): its sessions are released,
 * session-down and connection-down are emitted, and its CCID is freed.
 * Without a `contain` hook (tests), the remaining connections are still
 * served, then the first error is rethrown.
 *
 * Not done: tie breaking. Peers are opaque strings (IPv4 or IPv6 alike).
 *
 * @module
 */
import { decodeFields, printableId } from "./avp_fields.ts";
import { MessageType as MT } from "./constants.ts";
import { type ConnectionState, ControlConnection } from "./control_connection.ts";
import { emitData, parseData } from "./data_header.ts";
import { demux } from "./data_header.ts";
import { type ControlMessage, messageTypeOf, parseControl } from "./control_message.ts";
import { type EndpointConfig, resolveConfig, type ResolvedConfig } from "./endpoint_config.ts";
import type { L2tpEvent, RejectCode } from "./events.ts";
import { IdAllocator } from "./id_allocator.ts";
import { AMPLIFICATION, answersStray, StrayLimiter, strayStopCcn } from "./stray.ts";
import { sharedKey, verify } from "./auth.ts";
import { CdnResult, StopCcnResult } from "./constants.ts";
import {
  type Session,
  type SessionInfo,
  sessionInfo,
  type SessionOpen,
  type TraceEntry,
} from "./session.ts";

/**
 * StopCCN retransmission timer at shutdown: six tries (the default five
 * retransmissions) within about 2 s, instead of a back-off from 1 s to 8 s.
 */
export const SHUTDOWN_RTO_MS = 300;

/**
 * Errors one control connection may throw (timers, close) before it is
 * closed with StopCCN; one more after that and it is dropped outright.
 */
export const MAX_CONNECTION_FAILURES = 3;

/** Result of `classifyData`. */
export type DataClass =
  | {
    kind: "frame";
    /** The session (read it, do not change it). */
    session: Readonly<Session>;
    /** The Ethernet frame, a view into the input. */
    frame: Uint8Array;
    /** Sublayer sequence number, -1 when none. */
    seq: number;
  }
  | { kind: "control" }
  | {
    kind: "drop";
    reason:
      | "truncated"
      | "bad_version"
      | "unknown_session"
      | "session_not_up"
      | "wrong_peer"
      | "cookie_mismatch";
  };

/** One line per connection, for `show` commands. */
export interface ConnectionSummary {
  peer: string;
  localCcid: number;
  remoteCcid: number;
  state: ConnectionState;
  role: "initiator" | "responder";
  dialect: "ietf" | "cisco";
  hostName: string;
  sessions: number;
}

/** The L2TPv3 control plane of one node; see the module doc. */
export class L2tpEndpoint {
  readonly config: ResolvedConfig;
  /** Local Session IDs; shared when passed in the config. */
  readonly sessionIds: IdAllocator;
  /** Named counters (rx_*, tx_*, drop_*, rejected_*, data_*...). */
  readonly counters: Record<string, number> = {};
  /** Connections by our CCID. Bounded by `maxConnections`. */
  private readonly byLocal = new Map<number, ControlConnection>();
  /** Responder connections by `peer|peer's CCID`, for SCCRQ dedup. Same bound. */
  private readonly byPeerKey = new Map<string, ControlConnection>();
  /** Sessions by our Session ID, for data. Bounded by the Session ID allocator. */
  private readonly sessionsById = new Map<number, Session>();
  private readonly ccids: IdAllocator;
  private outgoing: { peer: string; bytes: Uint8Array }[] = [];
  private events: L2tpEvent[] = [];
  /** Errors thrown per connection (our CCID), over its life. Bounded like `byLocal`. */
  private readonly failures = new Map<number, number>();
  /** Rate limit of StopCCNs for unknown connections (`answerStray`), made on first use. */
  private strayLimit: StrayLimiter | null = null;

  constructor(config: EndpointConfig) {
    this.config = resolveConfig(config);
    this.sessionIds = config.sessionIds ??
      new IdAllocator(this.config.random32, this.config.maxSessions);
    this.ccids = new IdAllocator(this.config.random32, this.config.maxConnections);
  }

  private count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }

  private emit(ev: L2tpEvent): void {
    if (this.events.length >= this.config.maxBacklog) return this.count("events_dropped");
    this.events.push(ev);
  }

  private reject(peer: string, code: RejectCode, reason: string): void {
    this.count(`rejected_${code}`);
    this.emit({ type: "rejected", peer, code, reason });
  }

  private randomBytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const r = this.config.random32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (r >>> (8 * j)) & 0xff;
    }
    return out;
  }

  private newConnection(
    peer: string,
    role: "initiator" | "responder",
    now: number,
  ): ControlConnection | null {
    const ccid = this.ccids.allocate();
    if (ccid === 0) return null;
    const ctx = {
      config: this.config,
      emit: (ev: L2tpEvent) => this.emit(ev),
      send: (p: string, bytes: Uint8Array) => {
        if (this.outgoing.length >= this.config.maxBacklog) return this.count("tx_dropped");
        this.outgoing.push({ peer: p, bytes });
      },
      count: (n: string) => this.count(n),
      allocateSession: (s: Session) => {
        const id = this.sessionIds.allocate();
        if (id !== 0) {
          s.localSessionId = id;
          this.sessionsById.set(id, s);
        }
        return id;
      },
      releaseSession: (s: Session) => {
        if (this.sessionsById.get(s.localSessionId) === s) {
          this.sessionsById.delete(s.localSessionId);
          this.sessionIds.release(s.localSessionId);
        }
      },
      randomBytes: (n: number) => this.randomBytes(n),
    };
    const c = new ControlConnection(ctx, peer, ccid, role, now);
    this.byLocal.set(ccid, c);
    return c;
  }

  private forget(c: ControlConnection): void {
    if (this.byLocal.get(c.localCcid) !== c) return;
    this.failures.delete(c.localCcid);
    this.byLocal.delete(c.localCcid);
    const key = `${c.peer}|${c.remoteCcid}`;
    if (this.byPeerKey.get(key) === c) this.byPeerKey.delete(key);
    this.ccids.release(c.localCcid);
  }

  private pendingCount(): number {
    let n = 0;
    for (const c of this.byLocal.values()) if (c.handshaking) n++;
    return n;
  }

  /** Handshakes in progress, and connections not closing, from `source` (see `sourceOf`). */
  private countFrom(source: string): { pending: number; open: number } {
    let pending = 0;
    let open = 0;
    for (const c of this.byLocal.values()) {
      if (c.state === "closing" || this.sourceOf(c.peer) !== source) continue;
      open++;
      if (c.handshaking) pending++;
    }
    return { pending, open };
  }

  /** The source a peer counts against: the config's `sourceOf`, else the name without a port. */
  private sourceOf(peer: string): string {
    if (this.config.sourceOf) return this.config.sourceOf(peer);
    const v6 = /^\[(.*)\]:\d+$/.exec(peer);
    if (v6) return v6[1];
    const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(peer);
    return v4 ? v4[1] : peer;
  }

  /**
   * A control message from `peer` (over IP: the bytes after the IPv4
   * header; over UDP: the UDP payload). Never throws; what cannot be used
   * is counted and, where an operator should know, reported.
   */
  receive(peer: string, bytes: Uint8Array, now: number): void {
    this.count("rx_packets");
    const p = parseControl(bytes, this.config.transport);
    if (!p.ok) {
      this.count(`drop_${p.reason}`);
      const code: RejectCode = p.reason === "hidden_avp" ? "hidden_avp" : "malformed";
      this.reject(peer, code, `control message from ${peer} dropped: ${p.detail}`);
      return;
    }
    const msg = p.msg;
    const d = decodeFields(msg);
    if (!d.ok) {
      this.count("drop_bad_avp_value");
      this.reject(peer, "bad_avp_value", `control message from ${peer} dropped: ${d.detail}`);
      return;
    }
    if (msg.ccid === 0) {
      if (messageTypeOf(msg) === MT.StopCCN && this.config.honourStray) {
        return this.onStrayStop(peer, msg, bytes, d.value.fields.assignedControlConnectionId, now);
      }
      if (messageTypeOf(msg) !== MT.SCCRQ) {
        this.count("drop_ccid_zero");
        return this.reject(
          peer,
          "not_sccrq",
          `message with Control Connection ID 0 from ${peer} is not an SCCRQ; dropped`,
        );
      }
      return this.onSccrq(peer, msg, bytes, d.value.fields.assignedControlConnectionId ?? 0, now);
    }
    const c = this.byLocal.get(msg.ccid);
    if (!c) {
      this.count("drop_unknown_ccid");
      if (this.config.answerStray) this.answerStray(peer, msg, bytes.length, d.value.cisco, now);
      return this.reject(
        peer,
        "unknown_ccid",
        `message for unknown Control Connection ID ${msg.ccid} from ${peer} dropped`,
      );
    }
    if (c.peer !== peer) {
      this.count("drop_wrong_peer");
      return this.reject(
        peer,
        "wrong_peer",
        `message for Control Connection ${msg.ccid} came from ${peer}, not ${c.peer}; dropped`,
      );
    }
    c.receive(msg, bytes, now);
    if (c.finished) this.forget(c);
  }

  /**
   * A control message for a connection we do not know: a StopCCN back
   * (stray.ts), within the rate and size bounds; each outcome counted.
   */
  private answerStray(
    peer: string,
    msg: ControlMessage,
    inLength: number,
    cisco: boolean,
    now: number,
  ): void {
    if (!answersStray(messageTypeOf(msg))) return;
    this.strayLimit ??= new StrayLimiter();
    if (!this.strayLimit.take(this.sourceOf(peer), now)) return this.count("stray_rate_limited");
    const c = this.config;
    const auth = c.secret && c.hash
      ? { hash: c.hash, secret: c.secret, alg: c.digestAlgorithm }
      : null;
    const out = strayStopCcn(c.transport, msg.ccid, cisco ? "cisco" : "ietf", auth);
    if (!out || out.length > AMPLIFICATION * inLength) return this.count("stray_too_large");
    if (this.outgoing.length >= c.maxBacklog) return this.count("tx_dropped");
    this.outgoing.push({ peer, bytes: out });
    this.count("tx_stray_stopccn");
  }

  /**
   * A StopCCN with Control Connection ID 0 (stray.ts): taken only from the
   * peer of a connection it names by that connection's `remoteCcid` and,
   * with a secret, only with a digest that checks (no nonces: the sender
   * lost them). The connection goes down at once.
   */
  private onStrayStop(
    peer: string,
    msg: ControlMessage,
    bytes: Uint8Array,
    named: number | undefined,
    now: number,
  ): void {
    let c: ControlConnection | undefined;
    for (const x of this.byLocal.values()) {
      if (x.peer === peer && named && x.remoteCcid === named && x.state !== "closing") c = x;
    }
    if (!c) {
      this.count("drop_stray_stopccn_unmatched");
      return;
    }
    const cfg = this.config;
    if (cfg.secret && cfg.hash) {
      const a = { hash: cfg.hash, alg: cfg.digestAlgorithm, key: sharedKey(cfg.hash, cfg.secret) };
      const bad = verify(a, bytes, msg.avps, cfg.transport, []);
      if (bad) {
        this.count("drop_stray_stopccn_auth");
        return this.reject(
          peer,
          "auth_failed",
          `StopCCN for an unknown connection from ${peer} ` +
            `dropped: ${bad.replaceAll("_", " ")}`,
        );
      }
    }
    this.count("rx_stray_stopccn");
    const c2 = c;
    this.guarded(
      c2,
      "l2tp-stray",
      now,
      () => c2.lost(`${peer} does not know this connection (it restarted?)`, now),
    );
  }

  private onSccrq(
    peer: string,
    msg: ControlMessage,
    bytes: Uint8Array,
    assigned: number,
    now: number,
  ): void {
    if (assigned === 0) {
      this.count("drop_no_assigned_ccid");
      return this.reject(
        peer,
        "no_assigned_ccid",
        `SCCRQ from ${peer} has no Assigned Control Connection ID; dropped`,
      );
    }
    const key = `${peer}|${assigned}`;
    const known = this.byPeerKey.get(key);
    if (known && known.state === "closing") {
      // The peer closed and is starting over with the same CCID: a new
      // connection. The closing one keeps acknowledging under its own CCID.
      this.byPeerKey.delete(key);
    } else if (known) {
      known.receive(msg, bytes, now); // a retransmission: the channel re-acknowledges it
      if (known.finished) this.forget(known);
      return;
    }
    if (!this.config.acceptConnections) {
      this.count("drop_not_accepting");
      return this.reject(
        peer,
        "fsm_error",
        `SCCRQ from ${peer} ignored: not accepting connections`,
      );
    }
    if (this.byLocal.size >= this.config.maxConnections) {
      return this.reject(
        peer,
        "too_many_connections",
        `SCCRQ from ${peer} dropped: ${this.byLocal.size} control connections (the limit)`,
      );
    }
    const pending = this.pendingCount();
    if (pending >= this.config.maxPendingConnections) {
      return this.reject(
        peer,
        "too_many_pending",
        `SCCRQ from ${peer} dropped: ${pending} handshakes in progress (the limit)`,
      );
    }
    const source = this.sourceOf(peer);
    const mine = this.countFrom(source);
    if (mine.pending >= this.config.maxPendingPerSource) {
      return this.reject(
        peer,
        "too_many_pending_peer",
        `SCCRQ from ${peer} dropped: ${mine.pending} handshakes from ${source} in progress (the ` +
          "limit per source)",
      );
    }
    if (mine.open >= this.config.maxConnectionsPerSource) {
      return this.reject(
        peer,
        "too_many_connections_peer",
        `SCCRQ from ${peer} dropped: ${mine.open} control connections from ${source} (the limit ` +
          "per source)",
      );
    }
    const c = this.newConnection(peer, "responder", now);
    if (!c) {
      return this.reject(peer, "too_many_connections", `SCCRQ from ${peer} dropped: no free CCID`);
    }
    c.remoteCcid = assigned;
    this.byPeerKey.set(key, c);
    c.receive(msg, bytes, now);
    // Not taken (e.g. failed authentication): forget it, nothing was sent.
    if (c.finished || c.state === "idle") this.forget(c);
  }

  /**
   * Maps a received packet to its session and strips the L2TPv3 header.
   * With `peer`, data from any other address is dropped. Cheap: one
   * demux, one map lookup, the cookie compare.
   */
  classifyData(bytes: Uint8Array, peer?: string): DataClass {
    const d = demux(bytes, this.config.transport);
    if (d.kind === "control") return { kind: "control" };
    if (d.kind === "invalid") return this.dataDrop(d.reason);
    const s = this.sessionsById.get(d.sessionId);
    if (!s) return this.dataDrop("unknown_session");
    if (s.state !== "established") return this.dataDrop("session_not_up");
    if (peer !== undefined && peer !== s.peer) return this.dataDrop("wrong_peer");
    const r = parseData(bytes, d.offset, s.rx);
    if (!r.ok) return this.dataDrop(r.reason);
    this.count("data_rx");
    return { kind: "frame", session: s, frame: r.frame, seq: r.seq };
  }

  private dataDrop(reason: Extract<DataClass, { kind: "drop" }>["reason"]): DataClass {
    this.count(`data_drop_${reason}`);
    return { kind: "drop", reason };
  }

  /**
   * An encapsulated data packet for an established session (slow path
   * convenience; the daemon may write the header itself with
   * `writeDataHeader` and the session's `tx` layout). When the peer asked
   * for sequenced data (default sublayer with Data Sequencing), each call
   * sends the next 24-bit sequence number; `seq` >= 0 overrides it.
   */
  encapsulate(
    localSessionId: number,
    frame: Uint8Array,
    seq = -1,
  ): { peer: string; bytes: Uint8Array } | null {
    const s = this.sessionsById.get(localSessionId);
    if (!s || s.state !== "established") return null;
    if (seq < 0 && s.tx.sublayer && s.txSequencing) {
      seq = s.txSeq;
      s.txSeq = (s.txSeq + 1) & 0xffffff;
    }
    return {
      peer: s.peer,
      bytes: emitData(this.config.transport, s.remoteSessionId, s.tx, seq, frame),
    };
  }

  /**
   * Initiator: opens a control connection to `peer` (sends SCCRQ), naming
   * us `hostName` instead of the configured Host Name when given.
   */
  connect(
    peer: string,
    now: number,
    hostName?: string,
  ): { ok: true; localCcid: number } | { ok: false; reason: string } {
    if (this.byLocal.size >= this.config.maxConnections) {
      return { ok: false, reason: `${this.byLocal.size} control connections (the limit)` };
    }
    const c = this.newConnection(peer, "initiator", now);
    if (!c) return { ok: false, reason: "no free Control Connection ID" };
    c.start(now, hostName);
    return { ok: true, localCcid: c.localCcid };
  }

  /** Initiator: asks for a session on a connection (sent once it is up). */
  openSession(
    localCcid: number,
    req: SessionOpen,
    now: number,
  ): { ok: true; localSessionId: number } | { ok: false; reason: string } {
    const c = this.byLocal.get(localCcid);
    if (!c) return { ok: false, reason: `no control connection ${localCcid}` };
    return c.sessions.openSession(req, now);
  }

  /** Tears a session down with CDN (result 3, administrative, unless given). */
  closeSession(
    localSessionId: number,
    now: number,
    why = "closed by the operator",
    result: number = CdnResult.Administrative,
  ): boolean {
    const s = this.sessionsById.get(localSessionId);
    const c = s && this.byLocal.get(s.localCcid);
    if (!s || !c) return false;
    c.sessions.dropSession(s, result, undefined, why, now);
    return true;
  }

  /**
   * Tears a control connection and all its sessions down with StopCCN (a
   * normal close). `rtoMs` retransmits the StopCCN on that fixed timer
   * until acknowledged (shutdown: `SHUTDOWN_RTO_MS`).
   */
  closeConnection(
    localCcid: number,
    now: number,
    why = "closed by the operator",
    result: number = StopCcnResult.GeneralClear,
    rtoMs?: number,
  ): boolean {
    const c = this.byLocal.get(localCcid);
    if (!c) return false;
    const opts = { local: true, ...(rtoMs !== undefined ? { rtoMs } : {}) };
    const err = this.guarded(c, "l2tp-close", now, () => c.stop(result, undefined, why, now, opts));
    if (err.length && !this.config.contain) throw err[0];
    return true;
  }

  /** Tells the peer our attachment circuit went up or down (SLI). */
  setCircuitStatus(localSessionId: number, active: boolean, now: number): boolean {
    const s = this.sessionsById.get(localSessionId);
    const c = s && this.byLocal.get(s.localCcid);
    if (!s || !c || s.state !== "established") return false;
    c.sessions.setCircuit(s, active, now);
    return true;
  }

  /**
   * Sends a HELLO on an established connection now (`ControlConnection.probe`):
   * an edge that sent data and heard nothing asks whether the peer is there.
   */
  probe(localCcid: number, now: number): boolean {
    const c = this.byLocal.get(localCcid);
    if (!c) return false;
    let ok = false;
    const err = this.guarded(c, "l2tp-timer", now, () => {
      ok = c.probe(now);
    });
    if (err.length && !this.config.contain) throw err[0];
    return ok;
  }

  /**
   * True when nothing we sent waits for an acknowledgement: every StopCCN
   * of a shutdown was acknowledged or given up (the daemon can exit).
   */
  allAcknowledged(): boolean {
    for (const c of this.byLocal.values()) if (!c.finished && !c.channel.allAcked) return false;
    return true;
  }

  /**
   * Runs every timer due at `now`, each connection contained on its own
   * (see the module doc): one that throws does not stop the others.
   */
  poll(now: number): void {
    const errors: unknown[] = [];
    for (const c of [...this.byLocal.values()]) {
      errors.push(...this.guarded(c, "l2tp-timer", now, () => c.poll(now)));
    }
    if (errors.length && !this.config.contain) throw errors[0];
  }

  /**
   * Runs `fn` on connection `c`; an error it throws is counted, reported
   * and returned, and the connection pays for it (closed with StopCCN at
   * `MAX_CONNECTION_FAILURES`, dropped past it). Forgets `c` once finished.
   */
  private guarded(c: ControlConnection, handler: string, now: number, fn: () => void): unknown[] {
    const errors: unknown[] = [];
    try {
      fn();
    } catch (e) {
      errors.push(e);
      this.count("connection_errors");
      this.config.contain?.(handler, e, c.peer);
      const n = (this.failures.get(c.localCcid) ?? 0) + 1;
      this.failures.set(c.localCcid, n);
      if (n === MAX_CONNECTION_FAILURES && c.state !== "closing") {
        this.count("connections_failed_closed");
        try {
          c.stop(
            StopCcnResult.GeneralError,
            undefined,
            `internal error: this connection failed ${n} times (an l2 bug); closed`,
            now,
          );
        } catch (e2) {
          errors.push(e2);
          this.count("connection_errors");
          this.config.contain?.(handler, e2, c.peer);
          this.drop(c);
        }
      } else if (n >= MAX_CONNECTION_FAILURES) {
        this.drop(c);
      }
    }
    if (c.finished) this.forget(c);
    return errors;
  }

  /**
   * Drops a connection that keeps failing without another word to its peer:
   * releases its sessions (session-down each), says connection-down, forgets it.
   */
  private drop(c: ControlConnection): void {
    if (this.byLocal.get(c.localCcid) !== c) return;
    this.count("connections_failed_dropped");
    const reason = "internal error: the connection kept failing (an l2 bug); dropped";
    for (const s of [...this.sessionsById.values()]) {
      if (s.localCcid !== c.localCcid) continue;
      this.sessionsById.delete(s.localSessionId);
      this.sessionIds.release(s.localSessionId);
      this.emit({
        type: "session-down",
        peer: s.peer,
        localCcid: s.localCcid,
        localSessionId: s.localSessionId,
        remoteSessionId: s.remoteSessionId,
        vcIdText: printableId(s.vcId),
        reason,
      });
    }
    if (c.state !== "closing") {
      this.emit({
        type: "connection-down",
        peer: c.peer,
        localCcid: c.localCcid,
        remoteCcid: c.remoteCcid,
        reason,
        normal: false,
      });
    }
    c.finished = true;
    this.forget(c);
  }

  /** When `poll` next has work; `Infinity` when idle. */
  nextDeadline(): number {
    let t = Infinity;
    for (const c of this.byLocal.values()) t = Math.min(t, c.nextDeadline());
    return t;
  }

  /** Packets to send, oldest first; the caller owns the bytes. */
  takeOutgoing(): { peer: string; bytes: Uint8Array }[] {
    const o = this.outgoing;
    this.outgoing = [];
    return o;
  }

  /** Events since the last call, oldest first. */
  takeEvents(): L2tpEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  /** A session's current parameters, or undefined. */
  session(localSessionId: number): SessionInfo | undefined {
    const s = this.sessionsById.get(localSessionId);
    return s ? sessionInfo(s) : undefined;
  }

  /** All connections, for `show` output. */
  connections(): ConnectionSummary[] {
    return [...this.byLocal.values()].map((c) => ({
      peer: c.peer,
      localCcid: c.localCcid,
      remoteCcid: c.remoteCcid,
      state: c.state,
      role: c.role,
      dialect: c.dialect,
      hostName: c.peerHostName,
      sessions: c.sessions.size,
    }));
  }

  /** The bounded state-change trace of a connection (copy). */
  trace(localCcid: number): TraceEntry[] {
    return [...(this.byLocal.get(localCcid)?.trace ?? [])];
  }

  /** Printable form of an id, re-exported for daemons. */
  static printableId(bytes: Uint8Array): string {
    return printableId(bytes);
  }
}
