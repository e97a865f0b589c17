/**
 * One L2TPv3 control connection to one peer: the control connection state
 * machine (RFC 3931 sections 3.3 and 7.2; state names from 7.2), its
 * establishment (3.3.1, 6.1-6.3), teardown (3.3.2, 6.4), keepalive (4.4,
 * 6.5), message authentication (4.3) and the M-bit rule (5.2). Reliable
 * delivery is `ReliableChannel`'s job; the sessions the connection carries
 * and their state machine (3.4.1, 6.6-6.8, 6.12, 6.14) are
 * `SessionMachine`'s (`session.ts`), to which it hands every session
 * message it delivers and which sends through it.
 *
 * Responder (the LAS):
 * ```
 *   idle --SCCRQ / send SCCRP--> wait-ctl-conn --SCCCN / ack--> established
 * ```
 * Initiator (`l2 xconnect`):
 * ```
 *   idle --start / send SCCRQ--> wait-ctl-reply --SCCRP / send SCCCN--> established
 * ```
 * Both:
 * ```
 *   any --StopCCN received / ack----------------------> closing --hold 31 s--> (gone)
 *   any --local close, FSM error, unknown M=1 AVP
 *         / send StopCCN------------------------------> closing
 *   any --retransmissions exhausted (peer dead)-------> (gone, sessions torn down)
 *   established --nothing heard for 60 s / send HELLO--> established
 *   established --ICRQ, ICRP, ICCN, CDN, SLI--> SessionMachine (ICRQ before: FSM error)
 * ```
 * "closing" is not an RFC state: it is the RFC 3931 section 3.3.2 wait
 * during which a closed connection still acknowledges retransmitted
 * StopCCNs. Every transition goes through `transition`, which appends to a
 * bounded trace.
 *
 * Dialect: a responder answers in the dialect of the SCCRQ (Cisco's
 * pre-standard vendor-9 AVPs if it carried any, IETF otherwise) and keeps
 * it for the connection's life; an initiator uses the configured one.
 *
 * Authentication (RFC 3931 section 4.3, `auth.ts`) when a shared secret is
 * configured: digests on everything we send (acks become ACK messages),
 * messages without a valid digest of the configured algorithm dropped before
 * reliable delivery sees them, and ZLBs (which cannot carry one) dropped too.
 *
 * Forged sources: a responder sends a peer that has not yet named our CCID
 * (`proven`) at most `amplificationFactor` times the bytes it received from
 * it, then drops the connection silently. Texts from the peer's bytes are
 * bounded (`peer_text.ts`); a message that cannot be encoded is dropped and
 * counted, never thrown.
 *
 * Not done: tie breakers (simultaneous SCCRQs between the same pair),
 * outgoing calls (OCRQ), WEN.
 *
 * @module
 */
import {
  type Decoded,
  decodeFields,
  type Dialect,
  encodeFields,
  type Fields,
} from "./avp_fields.ts";
import {
  CdnResult,
  ErrorCode,
  messageName,
  MessageType as MT,
  resultText,
  StopCcnResult,
} from "./constants.ts";
import { type AuthContext, digestPlaceholder, sharedKey, sign, verify } from "./auth.ts";
import {
  type Avp,
  type ControlMessage,
  encodeControl,
  isZlb,
  messageTypeOf,
  parseControl,
} from "./control_message.ts";
import type { ResolvedConfig } from "./endpoint_config.ts";
import type { L2tpEvent, RejectCode } from "./events.ts";
import { boundedList } from "./peer_text.ts";
import { ReliableChannel } from "./reliable_channel.ts";
import {
  type Session,
  SESSION_MESSAGES,
  SessionMachine,
  traceAppend,
  type TraceEntry,
} from "./session.ts";

/** Control connection states, RFC 3931 section 7.2 (plus "closing", see above). */
export type ConnectionState =
  | "idle"
  | "wait-ctl-reply"
  | "wait-ctl-conn"
  | "established"
  | "closing";

/** What a connection needs from the endpoint that owns it. */
export interface ConnectionContext {
  readonly config: ResolvedConfig;
  emit(ev: L2tpEvent): void;
  send(peer: string, bytes: Uint8Array): void;
  count(name: string): void;
  /** A fresh local Session ID registered for data lookup, or 0. */
  allocateSession(s: Session): number;
  /** Forgets a session for data lookup and frees its id. */
  releaseSession(s: Session): void;
  randomBytes(n: number): Uint8Array;
}

function copyMessage(m: ControlMessage): ControlMessage {
  return { ...m, avps: m.avps.map((a) => ({ ...a, value: a.value.slice() })) };
}

/** One control connection to one peer, and the sessions it carries. */
export class ControlConnection {
  state: ConnectionState = "idle";
  /** Peer's Control Connection ID (0 until its SCCRQ/SCCRP told us). */
  remoteCcid = 0;
  dialect: Dialect;
  /** Peer's Host Name AVP. */
  peerHostName = "";
  /** Peer's Router ID AVP (0 until its SCCRQ/SCCRP told us). */
  peerRouterId = 0;
  /** Our Host Name for this connection when it is not the endpoint's (`start`). */
  private hostName = "";
  /** Set when the endpoint should forget this connection. */
  finished = false;
  readonly channel: ReliableChannel<ControlMessage>;
  /** The sessions this connection carries and their state machine (session.ts). */
  readonly sessions: SessionMachine;
  /** State changes, bounded by `TRACE_LIMIT`. */
  readonly trace: TraceEntry[] = [];
  private helloDeadline = Infinity;
  private closeDeadline = Infinity;
  private overflow = false;
  private lastSent = "";
  /** Set when a shared secret is configured. */
  private readonly auth: AuthContext | null = null;
  /** Our authentication nonce (sent in SCCRQ/SCCRP). */
  private readonly ourNonce: Uint8Array = new Uint8Array(0);
  /** The peer's authentication nonce, once its SCCRQ/SCCRP told us. */
  private peerNonce: Uint8Array | null = null;
  /**
   * True once the peer showed it receives what we send: a message that
   * names our (random) Control Connection ID, which only a peer that got our
   * SCCRP knows. Until then a responder is talking to a source address that
   * may be forged, and sends it at most `amplificationFactor` times the
   * bytes it received from it. An initiator chose its peer: proven at once.
   */
  proven: boolean;
  /** Control bytes received from the peer while not proven. */
  private rxUnproven = 0;
  /** Control bytes sent to the peer while not proven. */
  private txUnproven = 0;
  /** A local `stop` (operator, shutdown) or the peer's StopCCN "clear" or "shutting down". */
  private normalClose = false;

  constructor(
    private readonly ctx: ConnectionContext,
    readonly peer: string,
    readonly localCcid: number,
    readonly role: "initiator" | "responder",
    now: number,
  ) {
    this.dialect = ctx.config.dialect;
    this.proven = role === "initiator";
    const cfg = ctx.config.reliable;
    this.channel = new ReliableChannel<ControlMessage>(cfg, copyMessage);
    const c = ctx.config;
    if (c.secret && c.hash) {
      this.auth = { hash: c.hash, alg: c.digestAlgorithm, key: sharedKey(c.hash, c.secret) };
      this.ourNonce = ctx.randomBytes(16);
    }
    this.sessions = new SessionMachine({
      config: c,
      peer,
      localCcid,
      trace: this.trace,
      peerHostName: () => this.peerHostName,
      peerRouterId: () => this.peerRouterId,
      established: () => this.state === "established",
      closing: () => this.state === "closing",
      send: (f, t) => this.sendMessage(f, t),
      flush: (t) => this.flush(t),
      reject: (code, reason) => this.reject(code, reason),
      count: (name) => ctx.count(name),
      emit: (ev) => ctx.emit(ev),
      allocateSession: (s) => ctx.allocateSession(s),
      releaseSession: (s) => ctx.releaseSession(s),
      randomBytes: (n) => ctx.randomBytes(n),
    });
    traceAppend(this.trace, now, `created as ${role} for ${peer}, local CCID ${localCcid}`);
  }

  /** True while the handshake is not finished. */
  get handshaking(): boolean {
    return this.state === "idle" || this.state === "wait-ctl-reply" ||
      this.state === "wait-ctl-conn";
  }

  /** The one place the connection changes state. */
  private transition(to: ConnectionState, why: string, now: number): void {
    traceAppend(this.trace, now, `${this.state} -> ${to} (${why})`);
    this.state = to;
  }

  // ---------------------------------------------------------------- sending

  private sendMessage(f: Fields, now: number): void {
    const avps = encodeFields(f, this.dialect);
    this.lastSent = messageName(f.messageType);
    if (!this.channel.send({ ccid: this.remoteCcid, ns: 0, nr: 0, avps }, now)) {
      this.overflow = true;
    }
  }

  /** Puts everything the channel produced on the wire. */
  private flush(now: number): void {
    this.channel.poll(now);
    for (const t of this.channel.takeOutgoing()) {
      let avps: Avp[] = t.body ? t.body.avps : [];
      if (this.auth) {
        // Authenticated: a digest right after the Message Type; a ZLB becomes an ACK.
        const placeholder = digestPlaceholder(this.auth.alg, this.dialect === "cisco");
        avps = avps.length > 0
          ? [avps[0], placeholder, ...avps.slice(1)]
          : [...encodeFields({ messageType: MT.ACK }, "ietf"), placeholder];
      }
      const enc = encodeControl(this.ctx.config.transport, {
        ccid: t.body ? t.body.ccid : this.remoteCcid,
        ns: t.ns,
        nr: t.nr,
        avps,
      });
      if (!enc.ok) {
        // Every text we send is bounded (peer_text.ts), so this is a bug; it costs the
        // message, never the daemon.
        this.ctx.count("tx_encode_error");
        this.reject("encode_error", `cannot send ${this.lastSent} to ${this.peer}: ${enc.detail}`);
        continue;
      }
      const bytes = enc.bytes;
      if (this.auth) this.signBytes(bytes);
      if (!this.proven) {
        const budget = this.ctx.config.amplificationFactor * this.rxUnproven;
        if (this.txUnproven + bytes.length > budget) {
          this.budgetSpent(now);
          return;
        }
        this.txUnproven += bytes.length;
      }
      this.ctx.count(t.body ? (t.retransmit ? "tx_retransmit" : "tx_control") : "tx_zlb");
      this.ctx.send(this.peer, bytes);
    }
    if (this.channel.dead && !this.finished) this.die(now);
    else if (this.overflow && this.state !== "closing") {
      this.overflow = false;
      this.ctx.count("send_queue_full");
      this.goDown(`send queue to ${this.peer} is full: the peer is not acknowledging`, now);
      this.finished = true;
    }
  }

  /**
   * An unproven peer would get more than `amplificationFactor` times what it
   * sent: the source is likely forged (or the peer is not answering). Drop
   * the connection without a word (nothing more goes to that address).
   */
  private budgetSpent(now: number): void {
    this.ctx.count("drop_amplification_budget");
    this.reject(
      "amplification_budget",
      `${this.peer} never answered what we sent (${this.txUnproven} bytes for ` +
        `${this.rxUnproven} received, the limit is ${this.ctx.config.amplificationFactor}x): ` +
        "connection dropped (a forged source address?)",
    );
    this.channel.stop();
    this.channel.takeOutgoing();
    if (this.state !== "closing") {
      this.transition("closing", "amplification budget spent", now);
      this.helloDeadline = Infinity;
      this.sessions.removeAll("control connection dropped: peer never answered", now);
    }
    this.finished = true;
  }

  /** The nonces a digest covers: none for SCCRQ, else [sender's, receiver's]. */
  private nonces(type: number | undefined, fromUs: boolean): Uint8Array[] {
    if (type === MT.SCCRQ || !this.peerNonce) return [];
    return fromUs ? [this.ourNonce, this.peerNonce] : [this.peerNonce, this.ourNonce];
  }

  private signBytes(bytes: Uint8Array): void {
    const t = this.ctx.config.transport;
    const p = parseControl(bytes, t);
    if (!p.ok || !this.auth) return;
    sign(this.auth, bytes, p.msg.avps, t, this.nonces(messageTypeOf(p.msg), true));
  }

  /** Retransmissions exhausted: the peer is gone. */
  private die(now: number): void {
    if (this.state === "closing") {
      this.finished = true;
      return;
    }
    const n = this.channel.config.maxRetransmits;
    const oldest = this.channel.oldestUnacked;
    const what = oldest ? messageName(messageTypeOf(oldest)) : this.lastSent;
    this.goDown(
      `peer ${this.peer} stopped answering: ${n} retransmissions of ${what} unacknowledged`,
      now,
    );
    this.ctx.count("peer_dead");
    this.finished = true;
  }

  /**
   * The peer says it does not know this connection (a stray StopCCN,
   * stray.ts, checked by the endpoint): down at once, without a word back
   * (the peer has nothing to acknowledge it with) and without a closing hold.
   */
  lost(reason: string, now: number): void {
    if (this.state === "closing") return;
    this.goDown(reason, now);
    this.finished = true;
  }

  /**
   * Sends a HELLO now instead of at the idle timer (the edge heard nothing
   * for a while although it sent data), unless a message is already waiting
   * for its acknowledgement: its retransmissions probe the peer as well.
   * False when the connection is not established.
   */
  probe(now: number): boolean {
    if (this.state !== "established") return false;
    if (this.channel.allAcked) {
      this.sendMessage({ messageType: MT.HELLO }, now);
      this.ctx.count("tx_hello");
      this.ctx.count("tx_probe_hello");
    }
    this.helloDeadline = now + this.ctx.config.helloIntervalMs;
    this.flush(now);
    return true;
  }

  /** Tears down all sessions, reports the connection down, enters closing. */
  private goDown(reason: string, now: number): void {
    const wasUp = this.state === "established";
    this.sessions.removeAll(`control connection closed: ${reason}`, now);
    this.transition("closing", reason, now);
    this.channel.stop();
    this.helloDeadline = Infinity;
    this.closeDeadline = now + this.ctx.config.closeHoldMs;
    this.ctx.emit({
      type: "connection-down",
      peer: this.peer,
      localCcid: this.localCcid,
      remoteCcid: this.remoteCcid,
      reason: wasUp ? reason : `during handshake: ${reason}`,
      normal: this.normalClose,
    });
  }

  /**
   * Sends StopCCN and closes (local decision or protocol error). `local`
   * marks an operator's or shutdown close (a normal connection-down);
   * `rtoMs` retransmits the StopCCN on a shorter timer (shutdown: a few
   * tries within about 2 s instead of the usual back-off).
   */
  stop(
    result: number,
    error: number | undefined,
    message: string,
    now: number,
    opts: { local?: boolean; rtoMs?: number } = {},
  ): void {
    if (this.state === "closing") return;
    this.normalClose = opts.local ?? false;
    this.goDown(message, now);
    if (opts.rtoMs !== undefined) this.channel.setTimer(opts.rtoMs, opts.rtoMs);
    const f: Fields = {
      messageType: MT.StopCCN,
      resultCode: error === undefined ? { result, message } : { result, error, message },
      assignedControlConnectionId: this.localCcid,
    };
    // goDown stopped the channel; the StopCCN itself is still delivered reliably.
    this.sendMessage(f, now);
    this.flush(now);
  }

  private reject(code: RejectCode, reason: string): void {
    this.ctx.count(`rejected_${code}`);
    this.ctx.emit({ type: "rejected", peer: this.peer, code, reason });
  }

  // ---------------------------------------------------------------- initiator

  /** Initiator: sends SCCRQ, with `hostName` instead of the endpoint's when given. */
  start(now: number, hostName?: string): void {
    const c = this.ctx.config;
    if (hostName) this.hostName = hostName;
    this.sendMessage({
      messageType: MT.SCCRQ,
      protocolVersion: { version: 1, revision: 0 },
      hostName: this.hostName || c.hostName,
      vendorName: c.vendorName,
      receiveWindowSize: this.channel.config.receiveWindow,
      routerId: c.routerId,
      assignedControlConnectionId: this.localCcid,
      pwCapabilities: c.pwTypes,
      ...(this.dialect === "cisco" ? { ciscoDraftVersion: 1 } : {}),
      ...(this.auth ? { nonce: this.ourNonce } : {}),
    }, now);
    this.transition("wait-ctl-reply", "sent SCCRQ", now);
    this.flush(now);
  }

  // ---------------------------------------------------------------- receiving

  /**
   * A control message for this connection (parsed and validated by the
   * endpoint). Runs it through reliable delivery, then the state machine.
   */
  receive(msg: ControlMessage, bytes: Uint8Array, now: number): void {
    const mt = messageTypeOf(msg);
    if (this.auth) {
      if (mt === undefined) {
        // A ZLB cannot carry a digest: with a secret, acknowledgements are ACK messages.
        // Taking a ZLB would let anyone who guesses Ns/Nr acknowledge (and so silence) our
        // retransmissions.
        this.ctx.count("drop_auth_zlb");
        this.reject(
          "auth_failed",
          `ZLB from ${this.peer} dropped: a shared secret is configured, so acknowledgements ` +
            "must be authenticated ACK messages",
        );
        return;
      }
      if (!this.authentic(msg, bytes, mt)) return;
    }
    if (!this.proven) {
      this.rxUnproven += bytes.length;
      // Only a peer that received our SCCRP knows our (random) CCID.
      if (msg.ccid !== 0 && msg.ccid === this.localCcid) this.proven = true;
    }
    if (this.state === "established") this.helloDeadline = now + this.ctx.config.helloIntervalMs;
    const body = isZlb(msg) || mt === MT.ACK ? null : msg;
    const r = this.channel.receive(msg.ns, msg.nr, body, now);
    this.ctx.count(`rx_${r.verdict}`);
    for (const m of r.deliver) {
      if (this.state === "closing") break; // acknowledged, but nothing more to do
      const d = decodeFields(m);
      if (!d.ok) continue; // the endpoint decoded it once already
      this.handle(m, d.value, now);
    }
    this.flush(now);
  }

  /** Checks the Message Digest; counts and reports failures. ZLBs cannot carry one. */
  private authentic(msg: ControlMessage, bytes: Uint8Array, mt: number): boolean {
    if (!this.auth) return true;
    if (mt === MT.SCCRP && this.state === "wait-ctl-reply" && !this.peerNonce) {
      // The SCCRP's digest covers the nonce it carries.
      const d = decodeFields(msg);
      if (d.ok && d.value.fields.nonce) this.peerNonce = d.value.fields.nonce.slice();
    }
    const t = this.ctx.config.transport;
    const bad = verify(this.auth, bytes, msg.avps, t, this.nonces(mt, false));
    if (bad === null) return true;
    if (mt === MT.SCCRP && this.state === "wait-ctl-reply") this.peerNonce = null;
    this.ctx.count(`drop_auth_${bad}`);
    const why = bad === "no_digest"
      ? "no Message Digest, but a shared secret is configured"
      : bad === "wrong_algorithm"
      ? `its Message Digest is not HMAC-${this.auth.alg.toUpperCase()}, the configured digest`
      : "wrong Message Digest (shared secret mismatch?)";
    this.reject("auth_failed", `${messageName(mt)} from ${this.peer} dropped: ${why}`);
    return false;
  }

  private handle(m: ControlMessage, d: Decoded, now: number): void {
    const f = d.fields;
    const mt = f.messageType!;
    const name = messageName(mt);
    if (d.unknownMandatory.length > 0) {
      // Bounded: a peer may send a hundred of them; the reply names a few and counts the rest.
      const n = d.unknownMandatory.length;
      const which = boundedList(d.unknownMandatory.map((a) => `(${a.vendor},${a.type})`));
      const text = `${name} from ${this.peer} carries ${n} unknown AVP${
        n > 1 ? "s" : ""
      } with the M bit set: ${which}`;
      this.reject("unknown_mandatory_avp", text);
      if (SESSION_MESSAGES.has(mt)) {
        this.sessions.refuseSessionMessage(
          f,
          CdnResult.GeneralError,
          ErrorCode.UnknownMandatoryAvp,
          text,
          now,
        );
      } else {
        this.stop(StopCcnResult.GeneralError, ErrorCode.UnknownMandatoryAvp, text, now);
      }
      return;
    }
    switch (mt) {
      case MT.SCCRQ:
        return this.onSccrq(f, d, now);
      case MT.SCCRP:
        return this.onSccrp(f, d, now);
      case MT.SCCCN:
        return this.onScccn(now);
      case MT.StopCCN:
        this.ctx.count("rx_stopccn");
        this.normalClose = f.resultCode?.result === StopCcnResult.GeneralClear ||
          f.resultCode?.result === StopCcnResult.ShuttingDown;
        this.goDown(`peer sent StopCCN: ${resultText(f, "stopccn")}`, now);
        return;
      case MT.HELLO:
        this.ctx.count("rx_hello");
        return; // the channel acknowledges it
      case MT.ICRQ:
        if (this.state !== "established") return this.fsmError(name, now);
        return this.sessions.receive(f, now);
      case MT.ICRP:
      case MT.ICCN:
      case MT.CDN:
      case MT.SLI:
        return this.sessions.receive(f, now);
      default:
        if (m.avps[0].mandatory && messageName(mt).startsWith("type ")) {
          const text = `${this.peer} sent unknown message type ${mt} with the M bit set`;
          this.reject("unknown_message_type", text);
          this.stop(StopCcnResult.GeneralError, ErrorCode.OutOfRange, text, now);
        } else {
          this.ctx.count("rx_ignored_message");
        }
    }
  }

  private fsmError(name: string, now: number): void {
    const text = `${name} from ${this.peer} is not expected in state ${this.state}`;
    this.reject("fsm_error", text);
    this.stop(StopCcnResult.FsmError, undefined, text, now);
  }

  private onSccrq(f: Fields, d: Decoded, now: number): void {
    if (this.role !== "responder" || this.state !== "idle") return this.fsmError("SCCRQ", now);
    const c = this.ctx.config;
    this.remoteCcid = f.assignedControlConnectionId!;
    this.peerHostName = f.hostName ?? "";
    this.peerRouterId = f.routerId ?? 0;
    this.dialect = d.cisco ? "cisco" : "ietf";
    this.peerNonce = f.nonce ? f.nonce.slice() : null;
    this.channel.setPeerWindow(f.receiveWindowSize, now);
    this.sendMessage({
      messageType: MT.SCCRP,
      protocolVersion: { version: 1, revision: 0 },
      hostName: c.hostName,
      vendorName: c.vendorName,
      receiveWindowSize: this.channel.config.receiveWindow,
      routerId: c.routerId,
      assignedControlConnectionId: this.localCcid,
      pwCapabilities: c.pwTypes,
      ...(this.dialect === "cisco" ? { ciscoDraftVersion: 1 } : {}),
      ...(this.auth ? { nonce: this.ourNonce } : {}),
    }, now);
    this.transition("wait-ctl-conn", `SCCRQ from ${this.peerHostName || "?"}, sent SCCRP`, now);
  }

  private onSccrp(f: Fields, _d: Decoded, now: number): void {
    if (this.role !== "initiator" || this.state !== "wait-ctl-reply") {
      return this.fsmError("SCCRP", now);
    }
    if (!f.assignedControlConnectionId) {
      const text = `SCCRP from ${this.peer} has no Assigned Control Connection ID`;
      this.reject("no_assigned_ccid", text);
      return this.stop(StopCcnResult.GeneralError, ErrorCode.OutOfRange, text, now);
    }
    this.remoteCcid = f.assignedControlConnectionId;
    this.peerHostName = f.hostName ?? "";
    this.peerRouterId = f.routerId ?? 0;
    this.channel.setPeerWindow(f.receiveWindowSize, now);
    this.sendMessage({ messageType: MT.SCCCN }, now);
    this.established("SCCRP received, sent SCCCN", now);
    this.sessions.connectionUp(now);
  }

  private onScccn(now: number): void {
    if (this.role !== "responder" || this.state !== "wait-ctl-conn") {
      return this.fsmError("SCCCN", now);
    }
    this.established("SCCCN received", now);
  }

  private established(why: string, now: number): void {
    this.transition("established", why, now);
    this.helloDeadline = now + this.ctx.config.helloIntervalMs;
    let note = "IETF (RFC 3931) AVPs";
    if (this.dialect === "cisco") {
      note = this.role === "responder"
        ? `SCCRQ from ${this.peer} uses Cisco's pre-standard AVPs; answered in that dialect`
        : "speaking Cisco's pre-standard dialect, as configured";
    }
    this.ctx.emit({
      type: "connection-up",
      peer: this.peer,
      localCcid: this.localCcid,
      remoteCcid: this.remoteCcid,
      dialect: this.dialect,
      hostName: this.peerHostName,
      routerId: this.peerRouterId,
      role: this.role,
      note,
    });
  }

  // ---------------------------------------------------------------- timers

  /** Timers: retransmission, HELLO, session setup timeouts (session.ts), closing hold. */
  poll(now: number): void {
    if (this.finished) return;
    if (this.state === "closing" && now >= this.closeDeadline) {
      traceAppend(this.trace, now, "closing hold over; forgotten");
      this.finished = true;
      return;
    }
    if (this.state === "established" && now >= this.helloDeadline) {
      if (this.channel.allAcked) {
        this.sendMessage({ messageType: MT.HELLO }, now);
        this.ctx.count("tx_hello");
      }
      this.helloDeadline = now + this.ctx.config.helloIntervalMs;
    }
    this.sessions.poll(now);
    this.flush(now);
  }

  /** When `poll` next has work; `Infinity` when none. */
  nextDeadline(): number {
    if (this.finished) return Infinity;
    let t = Math.min(this.channel.nextDeadline(), this.closeDeadline);
    if (this.state === "established") t = Math.min(t, this.helloDeadline);
    return Math.min(t, this.sessions.nextDeadline());
  }
}
