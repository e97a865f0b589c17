/**
 * One L2TPv3 session (a pseudowire): its record and the session state
 * machine of one control connection (`SessionMachine`): incoming calls
 * (RFC 3931 section 3.4.1, ICRQ/ICRP/ICCN in sections 6.6-6.8), outgoing
 * ICRQs for `l2 xconnect`, teardown by CDN (section 6.12) and the circuit
 * status in SLI (section 6.14), with the state names of RFC 3931 section
 * 7.4 (RFC 2661 section 7.4.1/7.4.2 for "wait-tunnel"). The control
 * connection (`control_connection.ts`) owns the reliable channel and hands
 * this machine the session messages it delivered, in order.
 *
 * Incoming (the peer sent ICRQ; what the LAS does):
 * ```
 *   idle --ICRQ ok / send ICRP--> wait-connect --ICCN--> established
 *    |  \--ICRQ refused / send CDN--> (gone)          |
 *    |            wait-connect --CDN or timeout--> (gone)
 *    |                          established --CDN (either way)--> (gone)
 * ```
 * Outgoing (we send ICRQ; what `l2 xconnect` does):
 * ```
 *   idle --open, connection not up--> wait-tunnel --connection up--+
 *     \--open, connection up------------------------------------> send ICRQ
 *   wait-reply --ICRP / send ICCN--> established --CDN--> (gone)
 *   wait-reply --CDN or timeout--> (gone)
 * ```
 * Any state goes (with CDN where one can be sent) when the control
 * connection goes down, on a setup timeout (`sessionSetupTimeoutMs`, CDN
 * result 16) or on an unknown AVP with the M bit set (CDN, error 8).
 * Transitions go through `transitionSession`, which appends to the owning
 * connection's bounded trace.
 *
 * An ICRQ is checked in a fixed order, each refusal a CDN with a bounded
 * text and a `rejected` event: Session ID, PW type, cookie size, sublayer
 * and sequencing, the per-connection limits, a free Session ID, and last the
 * daemon's `sessionPolicy` (asked with the Session ID, so a policy that
 * counts sessions in setup sees every one it admitted). Bounds: sessions per
 * connection `maxSessionsPerConnection`, in setup
 * `maxPendingSessionsPerConnection`, each setup `sessionSetupTimeoutMs`.
 *
 * Not done: outgoing calls (OCRQ/OCRP/OCCN, section 3.4.2), WEN (PPP only),
 * data sequencing checks (the sequence number is surfaced, not enforced),
 * tie breakers.
 *
 * @module
 */
import { type Fields, printableId } from "./avp_fields.ts";
import {
  CdnResult,
  CIRCUIT_ACTIVE,
  ErrorCode,
  MessageType as MT,
  pwTypeName,
  resultText,
} from "./constants.ts";
import type { DataLayout } from "./data_header.ts";
import type { ResolvedConfig } from "./endpoint_config.ts";
import type { L2tpEvent, RejectCode } from "./events.ts";

/** Session states, named as RFC 3931 / RFC 2661 name them. */
export type SessionState = "idle" | "wait-tunnel" | "wait-reply" | "wait-connect" | "established";

/** One session's state and negotiated parameters. */
export interface Session {
  state: SessionState;
  /** "incoming": the peer sent the ICRQ; "outgoing": we did. */
  direction: "incoming" | "outgoing";
  /** Peer address (as the daemon names it). */
  peer: string;
  /** Our Control Connection ID of the owning connection. */
  localCcid: number;
  /** Our Session ID: what the peer puts in data packets to us. */
  localSessionId: number;
  /** Peer's Session ID: what we put in data packets to it (0 until known). */
  remoteSessionId: number;
  /** Pseudowire type (5 Ethernet, 4 Ethernet VLAN). */
  pwType: number;
  /** Remote End ID bytes (the xconnect VC id), kept raw: its encoding from Cisco is unsure. */
  vcId: Uint8Array;
  /** How data we receive is framed: our cookie, our sublayer choice. */
  rx: DataLayout;
  /** How data we send is framed: the peer's cookie and sublayer choice. */
  tx: DataLayout;
  /** The peer asked for sequence numbers in the sublayer of data we send. */
  txSequencing: boolean;
  /** Next sublayer sequence number `encapsulate` sends (24 bits) when `txSequencing`. */
  txSeq: number;
  /** Peer's last Circuit Status A bit. */
  circuitActive: boolean;
  /** Call Serial Number of the ICRQ. */
  callSerial: number;
  /** When a session still being set up is given up, ms; `Infinity` once established. */
  setupDeadline: number;
}

/** What the daemon learns about a session when it comes up or changes. */
export interface SessionInfo {
  peer: string;
  localCcid: number;
  localSessionId: number;
  remoteSessionId: number;
  pwType: number;
  /** Remote End ID as received (raw bytes): key the virtual switch on these. */
  vcId: Uint8Array;
  /** Printable VC id: the text if printable ASCII, else hex (and uint32 if 4 bytes). */
  vcIdText: string;
  /** Cookie we must put in every data packet we send (0, 4 or 8 bytes). */
  txCookie: Uint8Array;
  /** Cookie the peer puts in data packets to us (checked by `classifyData`). */
  rxCookie: Uint8Array;
  txSublayer: boolean;
  rxSublayer: boolean;
  txSequencing: boolean;
  circuitActive: boolean;
}

/** A bounded log of state changes, oldest first. */
export interface TraceEntry {
  at: number;
  what: string;
}

/** Longest trace kept per connection; older entries are dropped. */
export const TRACE_LIMIT = 64;

/** Appends to a bounded trace. */
export function traceAppend(trace: TraceEntry[], at: number, what: string): void {
  trace.push({ at, what });
  if (trace.length > TRACE_LIMIT) trace.splice(0, trace.length - TRACE_LIMIT);
}

/** The one place a session changes state; records `from -> to (why)`. */
export function transitionSession(
  s: Session,
  to: SessionState,
  why: string,
  now: number,
  trace: TraceEntry[],
): void {
  traceAppend(trace, now, `session ${s.localSessionId}: ${s.state} -> ${to} (${why})`);
  s.state = to;
}

/** What the caller asks for when opening a session (initiator side). */
export interface SessionOpen {
  pwType: number;
  /** Remote End ID (VC id) bytes to send. */
  vcId: Uint8Array;
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

/** The message types the session machine handles (RFC 3931 section 3.4). */
export const SESSION_MESSAGES: ReadonlySet<number> = new Set([
  MT.ICRQ,
  MT.ICRP,
  MT.ICCN,
  MT.CDN,
  MT.SLI,
  MT.WEN,
]);

/** What the session machine needs from the control connection that carries its messages. */
export interface SessionCarrier {
  readonly config: ResolvedConfig;
  /** Peer address (as the daemon names it). */
  readonly peer: string;
  /** Our Control Connection ID. */
  readonly localCcid: number;
  /** The connection's bounded trace; session transitions go there too. */
  readonly trace: TraceEntry[];
  /** The peer's Host Name AVP (for the session policy). */
  peerHostName(): string;
  /** The peer's Router ID AVP (0 if none). */
  peerRouterId(): number;
  /** The connection is established (ICRQs and SLIs may go out). */
  established(): boolean;
  /** The connection is closing (no more CDNs). */
  closing(): boolean;
  /** Queues a control message for reliable delivery. */
  send(f: Fields, now: number): void;
  /** Puts what is queued on the wire. */
  flush(now: number): void;
  /** Counts and reports a refusal (`rejected_<code>`, a `rejected` event). */
  reject(code: RejectCode, reason: string): void;
  count(name: string): void;
  emit(ev: L2tpEvent): void;
  /** A fresh local Session ID registered for data lookup, or 0. */
  allocateSession(s: Session): number;
  /** Forgets a session for data lookup and frees its id. */
  releaseSession(s: Session): void;
  randomBytes(n: number): Uint8Array;
}

/**
 * The sessions of one control connection and their state machine (see the
 * module doc). Bounded by `maxSessionsPerConnection` and
 * `maxPendingSessionsPerConnection`.
 */
export class SessionMachine {
  /** Sessions by our Session ID. Bounded by `maxSessionsPerConnection`. */
  private readonly byLocal = new Map<number, Session>();
  /** Sessions by the peer's Session ID. Same bound. */
  private readonly byRemote = new Map<number, Session>();
  /** Sessions still in setup. Bounded by `maxPendingSessionsPerConnection`. */
  private readonly pending = new Set<Session>();
  private callSerial = 0;

  constructor(private readonly conn: SessionCarrier) {}

  /** How many sessions the connection carries (in setup or established). */
  get size(): number {
    return this.byLocal.size;
  }

  /**
   * A session message the connection delivered (ICRQ only once the
   * connection is established: the connection checks that).
   */
  receive(f: Fields, now: number): void {
    switch (f.messageType) {
      case MT.ICRQ:
        return this.onIcrq(f, now);
      case MT.ICRP:
        return this.onIcrp(f, now);
      case MT.ICCN:
        return this.onIccn(f, now);
      case MT.CDN:
        return this.onCdn(f, now);
      case MT.SLI:
        return this.onSli(f, now);
    }
  }

  /** The connection came up (initiator): sends the ICRQs of sessions waiting for it. */
  connectionUp(now: number): void {
    for (const s of this.pending) if (s.state === "wait-tunnel") this.sendIcrq(s, now);
  }

  /** The connection is going: every session goes, with `reason`, no message sent. */
  removeAll(reason: string, now: number): void {
    for (const s of [...this.byLocal.values()]) this.removeSession(s, reason, now);
  }

  /** Initiator: asks for a session; it waits for the connection if needed. */
  openSession(
    req: SessionOpen,
    now: number,
  ): { ok: true; localSessionId: number } | { ok: false; reason: string } {
    const c = this.conn.config;
    if (this.conn.closing()) return { ok: false, reason: "control connection is closing" };
    if (this.byLocal.size >= c.maxSessionsPerConnection) {
      return { ok: false, reason: `already ${this.byLocal.size} sessions on this connection` };
    }
    if (this.pending.size >= c.maxPendingSessionsPerConnection) {
      return { ok: false, reason: `already ${this.pending.size} sessions being set up` };
    }
    const s: Session = {
      state: "idle",
      direction: "outgoing",
      peer: this.conn.peer,
      localCcid: this.conn.localCcid,
      localSessionId: 0,
      remoteSessionId: 0,
      pwType: req.pwType,
      vcId: req.vcId.slice(),
      rx: { cookie: this.conn.randomBytes(c.cookieLength), sublayer: false },
      tx: { cookie: new Uint8Array(0), sublayer: false },
      txSequencing: false,
      txSeq: 0,
      circuitActive: false,
      callSerial: ++this.callSerial,
      setupDeadline: now + c.sessionSetupTimeoutMs,
    };
    const sid = this.conn.allocateSession(s);
    if (sid === 0) return { ok: false, reason: "no free Session ID" };
    this.byLocal.set(sid, s);
    this.pending.add(s);
    if (this.conn.established()) this.sendIcrq(s, now);
    else transitionSession(s, "wait-tunnel", "control connection not up yet", now, this.conn.trace);
    this.conn.flush(now);
    return { ok: true, localSessionId: sid };
  }

  private sendIcrq(s: Session, now: number): void {
    this.conn.send({
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
    transitionSession(s, "wait-reply", "sent ICRQ", now, this.conn.trace);
  }

  /** Sends CDN for a session message we cannot take (no session object yet, or one to drop). */
  refuseSessionMessage(
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
    this.conn.send({
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
    this.conn.reject(code, text);
    this.sendCdn(0, f.localSessionId ?? 0, result, error, text, now);
  }

  private onIcrq(f: Fields, now: number): void {
    const c = this.conn.config;
    const peerSid = f.localSessionId ?? 0;
    const from = `ICRQ from ${this.conn.peer}`;
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
    if (this.byLocal.size >= c.maxSessionsPerConnection) {
      return this.refuseIcrq(
        f,
        "too_many_sessions",
        CdnResult.TemporaryNoFacilities,
        ErrorCode.InsufficientResources,
        `${from} refused: ${this.byLocal.size} sessions on this connection (the limit)`,
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
      peer: this.conn.peer,
      localCcid: this.conn.localCcid,
      localSessionId: 0,
      remoteSessionId: peerSid,
      pwType: f.pwType,
      vcId,
      rx: { cookie: this.conn.randomBytes(c.cookieLength), sublayer: false },
      tx: { cookie: cookie.slice(), sublayer: l2ss === 1 },
      txSequencing: seq !== 0,
      txSeq: 0,
      circuitActive: ((f.circuitStatus ?? CIRCUIT_ACTIVE) & CIRCUIT_ACTIVE) !== 0,
      callSerial: f.callSerialNumber ?? 0,
      setupDeadline: now + c.sessionSetupTimeoutMs,
    };
    const sid = this.conn.allocateSession(s);
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
      peer: this.conn.peer,
      localCcid: this.conn.localCcid,
      hostName: this.conn.peerHostName(),
      routerId: this.conn.peerRouterId(),
      pwType: f.pwType,
      vcId,
      vcIdText,
      localSessionId: sid,
    });
    if (refusal) {
      this.conn.releaseSession(s);
      return this.refuseIcrq(
        f,
        "policy_refused",
        CdnResult.Administrative,
        undefined,
        `ICRQ from ${this.conn.peer} for VC ${vcIdText} refused: ${refusal}`,
        now,
      );
    }
    this.byLocal.set(sid, s);
    this.byRemote.set(peerSid, s);
    this.pending.add(s);
    this.conn.send({
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
    transitionSession(
      s,
      "wait-connect",
      `ICRQ for VC ${vcIdText}, sent ICRP`,
      now,
      this.conn.trace,
    );
  }

  /** The session a session message refers to: by our id, else by the peer's. */
  private findSession(f: Fields): Session | undefined {
    if (f.remoteSessionId) {
      const s = this.byLocal.get(f.remoteSessionId);
      if (s) return s;
    }
    if (f.localSessionId) return this.byRemote.get(f.localSessionId);
    return undefined;
  }

  private unknownSession(name: string, f: Fields): void {
    this.conn.count("rx_unknown_session");
    this.conn.reject(
      "unknown_session",
      `${name} from ${this.conn.peer} for unknown session ${f.remoteSessionId ?? 0} ignored`,
    );
  }

  private onIcrp(f: Fields, now: number): void {
    const s = f.remoteSessionId ? this.byLocal.get(f.remoteSessionId) : undefined;
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
      this.conn.reject("bad_session_id", `ICRP from ${this.conn.peer} refused: ${problem}`);
      return this.dropSession(s, CdnResult.GeneralError, ErrorCode.OutOfRange, problem, now);
    }
    s.remoteSessionId = peerSid;
    this.byRemote.set(peerSid, s);
    s.tx = { cookie: cookie.slice(), sublayer: l2ss === 1 };
    s.txSequencing = (f.dataSequencing ?? 0) !== 0;
    s.circuitActive = ((f.circuitStatus ?? CIRCUIT_ACTIVE) & CIRCUIT_ACTIVE) !== 0;
    this.conn.send({
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
    const s = f.remoteSessionId ? this.byLocal.get(f.remoteSessionId) : undefined;
    if (!s || s.state !== "wait-connect") return this.unknownSession("ICCN", f);
    if (f.circuitStatus !== undefined) {
      s.circuitActive = (f.circuitStatus & CIRCUIT_ACTIVE) !== 0;
    }
    this.sessionUp(s, "ICCN received", now);
  }

  private sessionUp(s: Session, why: string, now: number): void {
    transitionSession(s, "established", why, now, this.conn.trace);
    this.pending.delete(s);
    s.setupDeadline = Infinity;
    this.conn.emit({ type: "session-up", session: sessionInfo(s) });
  }

  private onCdn(f: Fields, now: number): void {
    this.conn.count("rx_cdn");
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
        this.conn.trace,
        now,
        `session ${s.localSessionId}: peer circuit ${active ? "up" : "down"}`,
      );
    }
    s.circuitActive = active;
    this.conn.emit({
      type: "circuit-status",
      peer: this.conn.peer,
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
    if (!this.conn.closing() && s.state !== "wait-tunnel") {
      this.sendCdn(s.localSessionId, s.remoteSessionId, result, error, text, now);
    }
    this.removeSession(s, `we sent CDN: ${text}`, now);
    this.conn.flush(now);
  }

  /** Forgets a session (no message sent) and reports it down. */
  private removeSession(s: Session, reason: string, now: number): void {
    transitionSession(s, "idle", reason, now, this.conn.trace);
    this.byLocal.delete(s.localSessionId);
    if (this.byRemote.get(s.remoteSessionId) === s) this.byRemote.delete(s.remoteSessionId);
    this.pending.delete(s);
    this.conn.releaseSession(s);
    this.conn.emit({
      type: "session-down",
      peer: this.conn.peer,
      localCcid: this.conn.localCcid,
      localSessionId: s.localSessionId,
      remoteSessionId: s.remoteSessionId,
      vcIdText: printableId(s.vcId),
      reason,
    });
  }

  /** Sends SLI with our circuit status for an established session. */
  setCircuit(s: Session, active: boolean, now: number): void {
    if (s.state !== "established" || !this.conn.established()) return;
    this.conn.send({
      messageType: MT.SLI,
      localSessionId: s.localSessionId,
      remoteSessionId: s.remoteSessionId,
      circuitStatus: active ? CIRCUIT_ACTIVE : 0,
    }, now);
    this.conn.flush(now);
  }

  /** Session setup timeouts (CDN result 16). */
  poll(now: number): void {
    for (const s of [...this.pending]) {
      if (now >= s.setupDeadline) {
        this.conn.count("session_setup_timeout");
        this.dropSession(
          s,
          CdnResult.FsmError,
          undefined,
          `session setup timed out in state ${s.state}`,
          now,
        );
      }
    }
  }

  /** The earliest setup deadline; `Infinity` when no session is in setup. */
  nextDeadline(): number {
    let t = Infinity;
    for (const s of this.pending) if (s.setupDeadline < t) t = s.setupDeadline;
    return t;
  }
}
