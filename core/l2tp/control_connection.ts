/**
 * One L2TPv3 control connection with its sessions: the control connection
 * state machine (RFC 3931 sections 3.3 and 7.2; state names from 7.2),
 * the incoming-call session handshakes (sections 3.4.1, 6.6-6.8),
 * teardown (3.3.2, 6.4, 6.12), keepalive (4.4, 6.5), link info (6.14), and
 * the M-bit rule (5.2). Reliable delivery is `ReliableChannel`'s job.
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
  printableId,
} from "./avp_fields.ts";
import {
  CdnResult,
  CIRCUIT_ACTIVE,
  ErrorCode,
  messageName,
  MessageType as MT,
  pwTypeName,
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
  type SessionInfo,
  traceAppend,
  type TraceEntry,
  transitionSession,
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

/** What the caller asks for when opening a session (initiator side). */
export interface SessionOpen {
  pwType: number;
  /** Remote End ID (VC id) bytes to send. */
  vcId: Uint8Array;
}

const SESSION_MESSAGES: ReadonlySet<number> = new Set([
  MT.ICRQ,
  MT.ICRP,
  MT.ICCN,
  MT.CDN,
  MT.SLI,
  MT.WEN,
]);

const STOPCCN_TEXT: Record<number, string> = {
  1: "general request to clear",
  2: "general error",
  3: "control connection already exists",
  4: "requester is not authorized",
  5: "protocol version not supported",
  6: "requester is being shut down",
  7: "finite state machine error or timeout",
};
const CDN_TEXT: Record<number, string> = {
  1: "circuit disconnected",
  2: "general error",
  3: "administrative reasons",
  4: "temporary lack of facilities",
  5: "permanent lack of facilities",
  13: "lost tie breaker",
  14: "unsupported PW type",
  15: "sequencing required without a valid L2-Specific Sublayer",
  16: "finite state machine error or timeout",
};
const ERROR_TEXT: Record<number, string> = {
  1: "no control connection exists yet",
  2: "length is wrong",
  3: "a field value was out of range",
  4: "insufficient resources",
  5: "invalid Session ID",
  6: "vendor-specific error",
  7: "try another",
  8: "unknown AVP with the M bit set",
};

/** "result 14 (unsupported PW type), error 0, \"...\"" or "no Result Code". */
export function resultText(f: Fields, table: "stopccn" | "cdn"): string {
  const rc = f.resultCode;
  if (!rc) return "no Result Code";
  const names = table === "stopccn" ? STOPCCN_TEXT : CDN_TEXT;
  let t = `result ${rc.result} (${names[rc.result] ?? "unknown"})`;
  if (rc.error !== undefined && rc.error !== 0) {
    t += `, error ${rc.error} (${ERROR_TEXT[rc.error] ?? "unknown"})`;
  }
  if (rc.message) t += `: "${rc.message}"`;
  return t;
}

function copyMessage(m: ControlMessage): ControlMessage {
  return { ...m, avps: m.avps.map((a) => ({ ...a, value: a.value.slice() })) };
}

/** A snapshot of a session for events and lookups. */
export function sessionInfo(s: Session): SessionInfo {
  return {
    peer: s.peer,
    localCcid: s.localCcid,
    localSessionId: s.localSessionId,
    remoteSessionId: s.remoteSessionId,
    pwType: s.pwType,
    vcId: s.vcId,
    vcIdText: printableId(s.vcId),
    txCookie: s.tx.cookie,
    rxCookie: s.rx.cookie,
    txSublayer: s.tx.sublayer,
    rxSublayer: s.rx.sublayer,
    txSequencing: s.txSequencing,
    circuitActive: s.circuitActive,
  };
}

/** One control connection to one peer, and the sessions it carries. */
export class ControlConnection {
  state: ConnectionState = "idle";
  /** Peer's Control Connection ID (0 until its SCCRQ/SCCRP told us). */
  remoteCcid = 0;
  dialect: Dialect;
  /** Peer's Host Name AVP. */
  peerHostName = "";
  /** Set when the endpoint should forget this connection. */
  finished = false;
  readonly channel: ReliableChannel<ControlMessage>;
  /** Sessions by our Session ID. Bounded by `maxSessionsPerConnection`. */
  readonly sessions = new Map<number, Session>();
  /** Sessions by the peer's Session ID. Same bound. */
  private readonly byRemote = new Map<number, Session>();
  /** Sessions still in setup. Bounded by `maxPendingSessionsPerConnection`. */
  private readonly pending = new Set<Session>();
  /** State changes, bounded by `TRACE_LIMIT`. */
  readonly trace: TraceEntry[] = [];
  private helloDeadline = Infinity;
  private closeDeadline = Infinity;
  private callSerial = 0;
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
      for (const s of [...this.sessions.values()]) {
        this.removeSession(s, "control connection dropped: peer never answered", now);
      }
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

  /** Tears down all sessions, reports the connection down, enters closing. */
  private goDown(reason: string, now: number): void {
    const wasUp = this.state === "established";
    for (const s of [...this.sessions.values()]) {
      this.removeSession(s, `control connection closed: ${reason}`, now);
    }
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

  /** Initiator: sends SCCRQ. */
  start(now: number): void {
    const c = this.ctx.config;
    this.sendMessage({
      messageType: MT.SCCRQ,
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
    this.transition("wait-ctl-reply", "sent SCCRQ", now);
    this.flush(now);
  }

  /** Initiator: asks for a session; it waits for the connection if needed. */
  openSession(
    req: SessionOpen,
    now: number,
  ): { ok: true; localSessionId: number } | { ok: false; reason: string } {
    const c = this.ctx.config;
    if (this.state === "closing") return { ok: false, reason: "control connection is closing" };
    if (this.sessions.size >= c.maxSessionsPerConnection) {
      return { ok: false, reason: `already ${this.sessions.size} sessions on this connection` };
    }
    if (this.pending.size >= c.maxPendingSessionsPerConnection) {
      return { ok: false, reason: `already ${this.pending.size} sessions being set up` };
    }
    const s: Session = {
      state: "idle",
      direction: "outgoing",
      peer: this.peer,
      localCcid: this.localCcid,
      localSessionId: 0,
      remoteSessionId: 0,
      pwType: req.pwType,
      vcId: req.vcId.slice(),
      rx: { cookie: this.ctx.randomBytes(c.cookieLength), sublayer: false },
      tx: { cookie: new Uint8Array(0), sublayer: false },
      txSequencing: false,
      txSeq: 0,
      circuitActive: false,
      callSerial: ++this.callSerial,
      setupDeadline: now + c.sessionSetupTimeoutMs,
    };
    const sid = this.ctx.allocateSession(s);
    if (sid === 0) return { ok: false, reason: "no free Session ID" };
    this.sessions.set(sid, s);
    this.pending.add(s);
    if (this.state === "established") this.sendIcrq(s, now);
    else transitionSession(s, "wait-tunnel", "control connection not up yet", now, this.trace);
    this.flush(now);
    return { ok: true, localSessionId: sid };
  }

  private sendIcrq(s: Session, now: number): void {
    this.sendMessage({
      messageType: MT.ICRQ,
      callSerialNumber: s.callSerial,
      localSessionId: s.localSessionId,
      remoteSessionId: 0,
      ...(s.rx.cookie.length > 0 ? { assignedCookie: s.rx.cookie } : {}),
      remoteEndId: s.vcId,
      pwType: s.pwType,
      l2SpecificSublayer: 0,
      dataSequencing: 0,
      circuitStatus: CIRCUIT_ACTIVE,
    }, now);
    transitionSession(s, "wait-reply", "sent ICRQ", now, this.trace);
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
        this.refuseSessionMessage(
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
        return this.onIcrq(f, now);
      case MT.ICRP:
        return this.onIcrp(f, now);
      case MT.ICCN:
        return this.onIccn(f, now);
      case MT.CDN:
        return this.onCdn(f, now);
      case MT.SLI:
        return this.onSli(f, now);
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
    this.channel.setPeerWindow(f.receiveWindowSize, now);
    this.sendMessage({ messageType: MT.SCCCN }, now);
    this.established("SCCRP received, sent SCCCN", now);
    for (const s of this.pending) if (s.state === "wait-tunnel") this.sendIcrq(s, now);
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
      note,
    });
  }

  // ---------------------------------------------------------------- sessions

  /** Sends CDN for a session message we cannot take (no session object yet, or one to drop). */
  private refuseSessionMessage(
    f: Fields,
    result: number,
    error: number | undefined,
    text: string,
    now: number,
  ): void {
    const s = this.findSession(f);
    if (s) {
      this.dropSession(s, result, error, text, now);
      return;
    }
    if (f.messageType === MT.CDN) return; // never answer a CDN with a CDN
    this.sendCdn(0, f.localSessionId ?? 0, result, error, text, now);
  }

  private sendCdn(
    localSid: number,
    remoteSid: number,
    result: number,
    error: number | undefined,
    text: string,
    now: number,
  ): void {
    this.sendMessage({
      messageType: MT.CDN,
      resultCode: error === undefined
        ? { result, message: text }
        : { result, error, message: text },
      localSessionId: localSid,
      remoteSessionId: remoteSid,
    }, now);
  }

  private refuseIcrq(
    f: Fields,
    code: RejectCode,
    result: number,
    error: number | undefined,
    text: string,
    now: number,
  ): void {
    this.reject(code, text);
    this.sendCdn(0, f.localSessionId ?? 0, result, error, text, now);
  }

  private onIcrq(f: Fields, now: number): void {
    const c = this.ctx.config;
    const peerSid = f.localSessionId ?? 0;
    const from = `ICRQ from ${this.peer}`;
    if (peerSid === 0) {
      return this.refuseIcrq(
        f,
        "bad_session_id",
        CdnResult.GeneralError,
        ErrorCode.InvalidSessionId,
        `${from} refused: it has no Local Session ID`,
        now,
      );
    }
    if (this.byRemote.has(peerSid)) {
      return this.refuseIcrq(
        f,
        "duplicate_session",
        CdnResult.GeneralError,
        ErrorCode.InvalidSessionId,
        `${from} refused: its Session ID ${peerSid} is already in use on this connection`,
        now,
      );
    }
    if (f.pwType === undefined) {
      return this.refuseIcrq(
        f,
        "no_pw_type",
        CdnResult.UnsupportedPwType,
        undefined,
        `${from} refused: it has no Pseudowire Type`,
        now,
      );
    }
    if (!c.pwTypes.includes(f.pwType)) {
      const allowed = c.pwTypes.map(pwTypeName).join(" and ");
      return this.refuseIcrq(
        f,
        "pw_type_refused",
        CdnResult.UnsupportedPwType,
        undefined,
        `ICRQ for PW type ${f.pwType} refused: only ${allowed} ${
          c.pwTypes.length > 1 ? "are" : "is"
        } supported`,
        now,
      );
    }
    const cookie = f.assignedCookie ?? new Uint8Array(0);
    if (cookie.length !== 0 && cookie.length !== 4 && cookie.length !== 8) {
      return this.refuseIcrq(
        f,
        "bad_cookie",
        CdnResult.GeneralError,
        ErrorCode.OutOfRange,
        `${from} refused: Assigned Cookie of ${cookie.length} bytes (must be 4 or 8)`,
        now,
      );
    }
    const l2ss = f.l2SpecificSublayer ?? 0;
    if (l2ss !== 0 && l2ss !== 1) {
      return this.refuseIcrq(
        f,
        "sublayer_refused",
        CdnResult.GeneralError,
        ErrorCode.OutOfRange,
        `${from} refused: L2-Specific Sublayer type ${l2ss} (only none (0) and default (1))`,
        now,
      );
    }
    const seq = f.dataSequencing ?? 0;
    if (seq !== 0 && l2ss === 0) {
      return this.refuseIcrq(
        f,
        "sublayer_refused",
        CdnResult.SequencingWithoutSublayer,
        undefined,
        `${from} refused: it asks for data sequencing without an L2-Specific Sublayer`,
        now,
      );
    }
    if (this.sessions.size >= c.maxSessionsPerConnection) {
      return this.refuseIcrq(
        f,
        "too_many_sessions",
        CdnResult.TemporaryNoFacilities,
        ErrorCode.InsufficientResources,
        `${from} refused: ${this.sessions.size} sessions on this connection (the limit)`,
        now,
      );
    }
    if (this.pending.size >= c.maxPendingSessionsPerConnection) {
      return this.refuseIcrq(
        f,
        "too_many_pending",
        CdnResult.TemporaryNoFacilities,
        ErrorCode.InsufficientResources,
        `${from} refused: ${this.pending.size} sessions already being set up (the limit)`,
        now,
      );
    }
    const vcId = (f.remoteEndId ?? new Uint8Array(0)).slice();
    const vcIdText = printableId(vcId);
    const s: Session = {
      state: "idle",
      direction: "incoming",
      peer: this.peer,
      localCcid: this.localCcid,
      localSessionId: 0,
      remoteSessionId: peerSid,
      pwType: f.pwType,
      vcId,
      rx: { cookie: this.ctx.randomBytes(c.cookieLength), sublayer: false },
      tx: { cookie: cookie.slice(), sublayer: l2ss === 1 },
      txSequencing: seq !== 0,
      txSeq: 0,
      circuitActive: ((f.circuitStatus ?? CIRCUIT_ACTIVE) & CIRCUIT_ACTIVE) !== 0,
      callSerial: f.callSerialNumber ?? 0,
      setupDeadline: now + c.sessionSetupTimeoutMs,
    };
    const sid = this.ctx.allocateSession(s);
    if (sid === 0) {
      return this.refuseIcrq(
        f,
        "session_ids_exhausted",
        CdnResult.TemporaryNoFacilities,
        ErrorCode.InsufficientResources,
        `${from} refused: no free Session ID (global session limit reached)`,
        now,
      );
    }
    // Asked last, with the Session ID, so a policy that counts what is being set up (the LAS's
    // switch limit) sees every session it admitted and nothing refused after it said yes.
    const refusal = c.sessionPolicy?.({
      peer: this.peer,
      hostName: this.peerHostName,
      pwType: f.pwType,
      vcId,
      vcIdText,
      localSessionId: sid,
    });
    if (refusal) {
      this.ctx.releaseSession(s);
      return this.refuseIcrq(
        f,
        "policy_refused",
        CdnResult.Administrative,
        undefined,
        `ICRQ from ${this.peer} for VC ${vcIdText} refused: ${refusal}`,
        now,
      );
    }
    this.sessions.set(sid, s);
    this.byRemote.set(peerSid, s);
    this.pending.add(s);
    this.sendMessage({
      messageType: MT.ICRP,
      localSessionId: sid,
      remoteSessionId: peerSid,
      ...(s.rx.cookie.length > 0 ? { assignedCookie: s.rx.cookie } : {}),
      pwType: s.pwType,
      l2SpecificSublayer: 0,
      dataSequencing: 0,
      circuitStatus: CIRCUIT_ACTIVE,
      // Echo the peer's MTU so a Cisco MTU check cannot fail (we carry any size).
      ...(f.interfaceMtu !== undefined ? { interfaceMtu: f.interfaceMtu } : {}),
    }, now);
    transitionSession(s, "wait-connect", `ICRQ for VC ${vcIdText}, sent ICRP`, now, this.trace);
  }

  /** The session a session message refers to: by our id, else by the peer's. */
  private findSession(f: Fields): Session | undefined {
    if (f.remoteSessionId) {
      const s = this.sessions.get(f.remoteSessionId);
      if (s) return s;
    }
    if (f.localSessionId) return this.byRemote.get(f.localSessionId);
    return undefined;
  }

  private unknownSession(name: string, f: Fields): void {
    this.ctx.count("rx_unknown_session");
    this.reject(
      "unknown_session",
      `${name} from ${this.peer} for unknown session ${f.remoteSessionId ?? 0} ignored`,
    );
  }

  private onIcrp(f: Fields, now: number): void {
    const s = f.remoteSessionId ? this.sessions.get(f.remoteSessionId) : undefined;
    if (!s || s.state !== "wait-reply") return this.unknownSession("ICRP", f);
    const peerSid = f.localSessionId ?? 0;
    const cookie = f.assignedCookie ?? new Uint8Array(0);
    const l2ss = f.l2SpecificSublayer ?? 0;
    let problem = "";
    if (peerSid === 0) problem = "it has no Local Session ID";
    else if (this.byRemote.has(peerSid)) problem = `its Session ID ${peerSid} is already in use`;
    else if (cookie.length !== 0 && cookie.length !== 4 && cookie.length !== 8) {
      problem = `Assigned Cookie of ${cookie.length} bytes`;
    } else if (l2ss !== 0 && l2ss !== 1) problem = `L2-Specific Sublayer type ${l2ss}`;
    if (problem) {
      s.remoteSessionId = peerSid;
      this.reject("bad_session_id", `ICRP from ${this.peer} refused: ${problem}`);
      return this.dropSession(s, CdnResult.GeneralError, ErrorCode.OutOfRange, problem, now);
    }
    s.remoteSessionId = peerSid;
    this.byRemote.set(peerSid, s);
    s.tx = { cookie: cookie.slice(), sublayer: l2ss === 1 };
    s.txSequencing = (f.dataSequencing ?? 0) !== 0;
    s.circuitActive = ((f.circuitStatus ?? CIRCUIT_ACTIVE) & CIRCUIT_ACTIVE) !== 0;
    this.sendMessage({
      messageType: MT.ICCN,
      localSessionId: s.localSessionId,
      remoteSessionId: peerSid,
      l2SpecificSublayer: 0,
      dataSequencing: 0,
      circuitStatus: CIRCUIT_ACTIVE,
    }, now);
    this.sessionUp(s, "ICRP received, sent ICCN", now);
  }

  private onIccn(f: Fields, now: number): void {
    const s = f.remoteSessionId ? this.sessions.get(f.remoteSessionId) : undefined;
    if (!s || s.state !== "wait-connect") return this.unknownSession("ICCN", f);
    if (f.circuitStatus !== undefined) {
      s.circuitActive = (f.circuitStatus & CIRCUIT_ACTIVE) !== 0;
    }
    this.sessionUp(s, "ICCN received", now);
  }

  private sessionUp(s: Session, why: string, now: number): void {
    transitionSession(s, "established", why, now, this.trace);
    this.pending.delete(s);
    s.setupDeadline = Infinity;
    this.ctx.emit({ type: "session-up", session: sessionInfo(s) });
  }

  private onCdn(f: Fields, now: number): void {
    this.ctx.count("rx_cdn");
    const s = this.findSession(f);
    if (!s) return this.unknownSession("CDN", f);
    this.removeSession(s, `peer sent CDN: ${resultText(f, "cdn")}`, now);
  }

  private onSli(f: Fields, now: number): void {
    const s = this.findSession(f);
    if (!s) return this.unknownSession("SLI", f);
    if (f.circuitStatus === undefined) return;
    const active = (f.circuitStatus & CIRCUIT_ACTIVE) !== 0;
    if (active !== s.circuitActive) {
      traceAppend(
        this.trace,
        now,
        `session ${s.localSessionId}: peer circuit ${active ? "up" : "down"}`,
      );
    }
    s.circuitActive = active;
    this.ctx.emit({
      type: "circuit-status",
      peer: this.peer,
      localSessionId: s.localSessionId,
      active,
    });
  }

  /** Sends CDN for a session and forgets it. */
  dropSession(
    s: Session,
    result: number,
    error: number | undefined,
    text: string,
    now: number,
  ): void {
    if (this.state !== "closing" && s.state !== "wait-tunnel") {
      this.sendCdn(s.localSessionId, s.remoteSessionId, result, error, text, now);
    }
    this.removeSession(s, `we sent CDN: ${text}`, now);
    this.flush(now);
  }

  /** Forgets a session (no message sent) and reports it down. */
  private removeSession(s: Session, reason: string, now: number): void {
    transitionSession(s, "idle", reason, now, this.trace);
    this.sessions.delete(s.localSessionId);
    if (this.byRemote.get(s.remoteSessionId) === s) this.byRemote.delete(s.remoteSessionId);
    this.pending.delete(s);
    this.ctx.releaseSession(s);
    this.ctx.emit({
      type: "session-down",
      peer: this.peer,
      localCcid: this.localCcid,
      localSessionId: s.localSessionId,
      remoteSessionId: s.remoteSessionId,
      vcIdText: printableId(s.vcId),
      reason,
    });
  }

  /** Sends SLI with our circuit status for an established session. */
  setCircuit(s: Session, active: boolean, now: number): void {
    if (s.state !== "established" || this.state !== "established") return;
    this.sendMessage({
      messageType: MT.SLI,
      localSessionId: s.localSessionId,
      remoteSessionId: s.remoteSessionId,
      circuitStatus: active ? CIRCUIT_ACTIVE : 0,
    }, now);
    this.flush(now);
  }

  // ---------------------------------------------------------------- timers

  /** Timers: retransmission, HELLO, session setup timeout, closing hold. */
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
    for (const s of [...this.pending]) {
      if (now >= s.setupDeadline) {
        this.ctx.count("session_setup_timeout");
        this.dropSession(
          s,
          CdnResult.FsmError,
          undefined,
          `session setup timed out in state ${s.state}`,
          now,
        );
      }
    }
    this.flush(now);
  }

  /** When `poll` next has work; `Infinity` when none. */
  nextDeadline(): number {
    if (this.finished) return Infinity;
    let t = Math.min(this.channel.nextDeadline(), this.closeDeadline);
    if (this.state === "established") t = Math.min(t, this.helloDeadline);
    for (const s of this.pending) if (s.setupDeadline < t) t = s.setupDeadline;
    return t;
  }
}
