/**
 * The node's sessions with its supernodes (docs/federation.md), for
 * `SecureNode` (secure_node.ts): one `Link` per configured supernode, first
 * preferred. The attached one's session is the sealer's current supernode
 * session; the standby's (and the first one's, probed every
 * `preferredHandshakeMs` while the node is elsewhere) are installed aside,
 * kept by a sealed KEEPALIVE every `standbyKeepaliveMs` and a new handshake
 * when silent for `standbyRefreshMs`. `failover` (the attached one fell
 * silent) and a return to the first after `returnAfterMs` of answers promote
 * such a session and hand NodeCore the move (`takeMove`); after the new
 * REGISTER_ACK (`registered`) the one left gets a DEREGISTER.
 *
 * HS_INITs to a supernode carry mac1/mac2 (cookie.ts); a COOKIE_REPLY is
 * kept for `COOKIE_USE_MS` and the HS_INIT sent again at once with mac2.
 *
 * Table: the links (bound: the configuration, at most 8).
 *
 * @module
 */
import { keyed, type KeyedEndpoint } from "../addr.ts";
import type { Backlog, Counters, Outgoing } from "./backlog.ts";
import { HEADER_LENGTH, MsgType, SUPERNODE_ID } from "./constants.ts";
import { type CryptoSuite, fingerprint } from "./crypto_suite.ts";
import { addMacs, COOKIE_USE_MS, cookieKey, mac1Key, mac1Of, readCookieReply } from "./cookie.ts";
import type { InitClock } from "./init_timestamps.ts";
import {
  answeredKeyId,
  type InitiatorState,
  readReject,
  readResp,
  REJECT_TEXT,
  SecType,
  type StaticKey,
  writeInit,
} from "./handshake.ts";
import { checkHeader, HDR } from "./header.ts";
import { encodePacket } from "./messages.ts";
import type { SecureSealer } from "./secure_sealer.ts";
import type { SecureNodeConfig, SecurityNodeEvent } from "./secure_node_types.ts";
import { Session } from "./session_keys.ts";

/** `SecureNodeConfig` with its defaults filled in (what `SecureNode` keeps). */
export type SecureNodeSettings = Required<
  Omit<
    SecureNodeConfig,
    "limits" | "psk" | "requestedId" | "trusted" | "supernode" | "supernodeKey" | "standbys"
  >
>;

/** What the links share with `SecureNode`: its suite, settings, sealer and outputs. */
export interface SecureNodeShared {
  suite: CryptoSuite;
  c: SecureNodeSettings;
  sealer: SecureSealer;
  counters: Counters;
  out: Backlog<Outgoing>;
  events: Backlog<SecurityNodeEvent>;
  psk: Uint8Array;
  initClock: InitClock;
  /** This node's id (assigned, else requested). */
  ownId(): number;
  /** A fresh ephemeral key pair. */
  ephemeral(): StaticKey;
}

/** One configured supernode: its address and key, handshake and session state. */
export interface Link {
  index: number;
  sn: KeyedEndpoint;
  key: Uint8Array;
  mac1key: Uint8Array;
  cookieKey: Uint8Array;
  /** Its last cookie (COOKIE_REPLY), used for mac2 for COOKIE_USE_MS. */
  cookie: { value: Uint8Array; at: number } | null;
  pending: Pending | null;
  /** Next handshake attempt (the attached one: when due; the others: see `pollLink`). */
  nextAt: number;
  /** The newest session with it (the attached one's is also the sealer's current). */
  session: Session | null;
  /** Last authenticated answer (HS_RESP, or any sealed packet opened). */
  lastAnswer: number;
  rttMs: number | null;
  /** Next KEEPALIVE to it while it is not the attached one. */
  kaNextAt: number;
  kaSeq: number;
  kaSentAt: number;
  /** Preferred supernode while not attached there: answering since (a run of answers). */
  runSince: number | null;
  /** Answers in that run (a move back needs at least two, `returnAfterMs` apart). */
  runAnswers: number;
  handshakes: number;
  answers: number;
}

/** A supernode as /status shows it (`SecureNode.supernodes`). */
export interface SupernodeLinkStatus {
  address: string;
  /** Fingerprint of its public key. */
  key: string;
  state: "attached" | "standby" | "down" | "idle";
  /** Its session is ready (handshake answered, not expired). */
  ready: boolean;
  rttMs: number | null;
  /** ms since its last authenticated answer, null: never. */
  lastAnswerMs: number | null;
}

export interface Pending {
  peer: number;
  state: InitiatorState;
  at: number;
  /** HS_INIT to the supernode: its mac1 (a COOKIE_REPLY is bound to it). */
  mac1?: Uint8Array;
  /** Sent again at once after a COOKIE_REPLY already. */
  cookieRetry?: boolean;
}

/**
 * The node's handshakes and session upkeep.

/** The configured supernodes: sessions, standby, failover and return. */
export class SupernodeLinks {
  /** The configured supernodes, first preferred. Bound: the configuration (at most 8). */
  readonly links: Link[];
  private readonly linkByKey = new Map<string, Link>();
  /** Index of the supernode this node is attached to (registers with). */
  private att = 0;
  /** Index of the standby (-1 with one supernode). */
  private sb = -1;
  /** Moves from one supernode to another since start. */
  private moves = 0;
  private attachedSince = 0;
  /** After a move: the supernode left, told DEREGISTER once the new one acknowledged. */
  private leftFrom = -1;
  /** A move the owner applies to NodeCore (`takeMove`). */
  private move: KeyedEndpoint | null = null;
  private readonly suite: CryptoSuite;
  private readonly c: SecureNodeSettings;
  private readonly sealer: SecureSealer;
  private readonly counters: Counters;
  private readonly out: Backlog<Outgoing>;
  private readonly events: Backlog<SecurityNodeEvent>;
  private readonly psk: Uint8Array;
  private readonly initClock: InitClock;

  /** Throws when a supernode is configured twice. */
  constructor(
    list: readonly { supernode: SecureNodeConfig["supernode"]; supernodeKey: Uint8Array }[],
    private readonly x: SecureNodeShared,
  ) {
    this.suite = x.suite;
    this.c = x.c;
    this.sealer = x.sealer;
    this.counters = x.counters;
    this.out = x.out;
    this.events = x.events;
    this.psk = x.psk;
    this.initClock = x.initClock;
    this.links = list.map((l, index) => ({
      index,
      sn: keyed(l.supernode),
      key: l.supernodeKey.slice(),
      mac1key: mac1Key(x.suite, l.supernodeKey),
      cookieKey: cookieKey(x.suite, l.supernodeKey),
      cookie: null,
      pending: null,
      nextAt: Infinity,
      session: null,
      lastAnswer: -Infinity,
      rttMs: null,
      kaNextAt: Infinity,
      kaSeq: 0,
      kaSentAt: -Infinity,
      runSince: null,
      runAnswers: 0,
      handshakes: 0,
      answers: 0,
    }));
    for (const l of this.links) {
      if (this.linkByKey.has(l.sn.key)) {
        throw new Error(`Cannot use supernode ${l.sn.key} twice`);
      }
      this.linkByKey.set(l.sn.key, l);
    }
    this.sb = this.links.length > 1 ? 1 : -1;
  }

  /** The attached supernode's address. */
  get sn(): KeyedEndpoint {
    return this.links[this.att].sn;
  }

  /** The attached supernode's link. */
  get attached(): Link {
    return this.links[this.att];
  }

  /** The link of the supernode at `key` ("ip:port"), if configured. */
  byKey(key: string): Link | undefined {
    return this.linkByKey.get(key);
  }

  /** True when `l` is the attached supernode's link. */
  isAttached(l: Link): boolean {
    return l.index === this.att;
  }

  /** True while the attached supernode's last COOKIE_REPLY is kept. */
  hasCookie(): boolean {
    return this.links[this.att].cookie !== null;
  }

  /** Every handshake due at once (`SecureNode.start`). */
  start(now: number): void {
    this.attachedSince = now;
    for (const l of this.links) l.nextAt = now;
  }

  private ownId(): number {
    return this.x.ownId();
  }

  private ephemeral(): StaticKey {
    return this.x.ephemeral();
  }

  private ready(): boolean {
    return this.sealer.currentSession(this.c.network, SUPERNODE_ID) !== undefined;
  }

  /**
   * The supernodes' timers in `SecureNode.poll`: the attached one's handshake
   * (`sn`: its current session before this poll), the others' (`pollLink`).
   */
  poll(sn: Session | undefined, now: number, wall: number): void {
    const a = this.links[this.att];
    const p = a.pending;
    if (p !== null && now - p.at >= this.c.handshakeTimeoutMs) {
      a.pending = null;
      this.counters.add("hs_no_answer");
      this.events.push({
        type: "no_answer",
        text: `no handshake answer from the supernode ${this.sn.key} within ${
          this.c.handshakeTimeoutMs / 1000
        } s: check that it runs, its public key, the network secret and this host's clock`,
      });
    }
    // Two REGISTERs without an answer: the supernode may take them only from
    // the address our handshake came from (a NAT rebinding moved us), or it
    // lost our session: a new handshake from where we are now.
    const due = sn === undefined || sn.needsRekey(now, this.sealer.limits) ||
      now - sn.lastRx >= this.c.silenceMs || this.sealer.registersUnanswered >= 2;
    if (due && a.pending === null && now >= a.nextAt) this.startSn(a, now, wall);
    for (const l of this.links) if (l.index !== this.att) this.pollLink(l, now, wall);
  }

  /** True while a move waits for `takeMove` (`nextDeadline` is 0 then). */
  get moving(): boolean {
    return this.move !== null;
  }

  /** When the supernodes' timers are due next (the attached one's and the others'). */
  deadline(): number {
    const a = this.links[this.att];
    let d = a.nextAt;
    // Whatever its age: one past its limit is swept at its expiry (below).
    const sn = this.sealer.currentSession(this.c.network, SUPERNODE_ID);
    if (sn !== undefined) {
      d = Math.min(
        Math.max(d, sn.createdAt + this.sealer.limits.rekeyAfterMs),
        Math.max(d, sn.lastRx + this.c.silenceMs),
        sn.createdAt + this.sealer.limits.rejectAfterMs,
      );
    }
    if (a.pending !== null) d = Math.min(d, a.pending.at + this.c.handshakeTimeoutMs);
    else if (this.sealer.registersUnanswered >= 2) d = Math.min(d, a.nextAt);
    for (const l of this.links) if (l.index !== this.att) d = Math.min(d, this.linkDeadline(l));
    return d;
  }

  private startSn(l: Link, now: number, wall: number, cookieRetry = false): void {
    if (l.index === this.att) this.sealer.registersUnanswered = 0;
    const keyId = this.sealer.newKeyId();
    const w = writeInit(
      this.suite,
      { network: this.c.network, sender: this.ownId(), receiver: SUPERNODE_ID, keyId },
      this.c.staticKey,
      l.key,
      this.psk,
      this.ephemeral(),
      this.initClock.next(wall),
    );
    l.nextAt = now +
      (l.index === 0 && this.att !== 0 ? this.c.preferredHandshakeMs : this.c.retryMs);
    if (!w.ok) {
      this.counters.add("hs_bad_supernode_key");
      return;
    }
    if (l.cookie !== null && now - l.cookie.at >= COOKIE_USE_MS) l.cookie = null;
    const packet = addMacs(this.suite, l.mac1key, w.packet, l.cookie?.value ?? null);
    if (l.pending !== null) this.clearEphemeral(l.pending);
    l.handshakes++;
    l.pending = {
      peer: SUPERNODE_ID,
      state: w.state,
      at: now,
      mac1: mac1Of(packet).slice(),
      cookieRetry,
    };
    this.out.push({ to: l.sn, bytes: packet });
    this.counters.add(l.cookie !== null ? "hs_sent_with_cookie" : "hs_sent");
  }

  /** COOKIE_REPLY from the supernode: keep the cookie, send the HS_INIT again with mac2 (once). */
  cookieReply(l: Link, bytes: Uint8Array, now: number, wall: number): void {
    const p = l.pending;
    if (p === null || p.mac1 === undefined || answeredKeyIdOfHeader(bytes) !== p.state.keyId) {
      return this.counters.add("drop_unexpected_cookie");
    }
    const cookie = readCookieReply(this.suite, l.cookieKey, bytes, p.mac1);
    if (cookie === null) return this.counters.add("drop_bad_cookie");
    l.cookie = { value: cookie, at: now };
    this.counters.add("cookies_received");
    if (p.cookieRetry) return;
    this.counters.add("hs_cookie_retry");
    this.startSn(l, now, wall, true);
  }

  snAnswer(l: Link, bytes: Uint8Array, type: number, now: number): void {
    const p = l.pending;
    if (p === null || answeredKeyId(bytes) !== p.state.keyId) {
      return this.counters.add("drop_unexpected_answer");
    }
    if (type === SecType.HS_REJECT) {
      const r = readReject(p.state, bytes);
      if (!r.ok) return this.counters.add(`drop_reject_${r.reason}`);
      l.pending = null;
      l.nextAt = now + this.c.refusedRetryMs;
      l.runSince = null;
      this.counters.add(`refused_${r.reason}`);
      this.events.push({
        type: "refused",
        by: "supernode",
        reason: r.reason,
        text: REJECT_TEXT[r.reason],
      });
      return;
    }
    const r = readResp(this.suite, p.state, bytes);
    if (!r.ok) return this.counters.add(`drop_resp_${r.reason}`);
    l.pending = null;
    this.clearEphemeral(p);
    this.answered(l, now);
    l.rttMs = now - p.at;
    const s = new Session(this.suite, {
      network: this.c.network,
      peer: SUPERNODE_ID,
      localKeyId: p.state.keyId,
      remoteKeyId: r.keyId,
      remoteStatic: l.key,
      initiator: true,
      secrets: r.secrets,
      now,
      endpoint: l.sn.key,
    });
    const old = l.session;
    l.session = s;
    if (l.index !== this.att) {
      // A standby (or the preferred one probed): ready, not current.
      if (old !== null && this.sealer.currentSession(this.c.network, SUPERNODE_ID) !== old) {
        this.sealer.remove(old);
      }
      this.sealer.installAside(s);
      this.counters.add("hs_standby_done");
      return;
    }
    this.sealer.install(s);
    this.counters.add("hs_supernode_done");
    this.events.push({ type: "supernode_session", keyId: s.localKeyId });
  }

  /** An authenticated answer from `l`: its liveness (and the preferred one's run of answers). */
  private answered(l: Link, now: number): void {
    l.lastAnswer = now;
    l.answers++;
    if (l.runSince === null) {
      l.runSince = now;
      l.runAnswers = 0;
    }
    l.runAnswers++;
  }

  /**
   * A sealed packet from a supernode this node is not attached to: opened
   * (so it is authentic and fresh) and taken as a sign of life, nothing more.
   * Its answer to our KEEPALIVE is NAK `not_registered` (we are not
   * registered there) or a KEEPALIVE_ACK; the rest is dropped.
   */
  aside(l: Link, from: KeyedEndpoint, bytes: Uint8Array, now: number): void {
    const hd = checkHeader(bytes);
    if (!hd.ok) return this.counters.add(`drop_${hd.reason}`);
    if (hd.value.network !== this.c.network) return this.counters.add("drop_wrong_network");
    // Registration is NodeCore's, with the attached supernode only (an ACK would set our id).
    if (hd.value.type === MsgType.REGISTER_ACK) return this.counters.add("drop_standby_ack");
    const r = this.sealer.open(bytes, now, from.key);
    if (r !== "ok") return this.counters.add(`drop_standby_${r}`);
    if (this.sealer.lastOpened !== l.session) return this.counters.add("drop_standby_session");
    this.answered(l, now);
    const t = hd.value.type;
    if (t === MsgType.REGISTER_NAK || t === MsgType.KEEPALIVE_ACK) {
      if (l.kaSentAt > -Infinity) l.rttMs = now - l.kaSentAt;
      l.kaSentAt = -Infinity;
      this.counters.add("rx_standby_answer");
    } else this.counters.add("rx_standby_other");
  }

  private clearEphemeral(p: Pending): void {
    p.state.e.privateKey.fill(0);
  }

  /** The link's session when ready at `now` (handshake answered, not expired). */
  private linkSession(l: Link, now: number): Session | null {
    const s = l.session;
    return s !== null && !s.closed && !s.dead(now, this.sealer.limits) ? s : null;
  }

  /** What a supernode other than the attached one is to this node now. */
  private roleOf(l: Link): "standby" | "preferred" | "idle" {
    // The first one while not attached there is probed for a return (and may also be the standby).
    if (l.index === 0 && this.att !== 0) return "preferred";
    if (l.index === this.sb) return "standby";
    return "idle";
  }

  /**
   * Timers of a supernode this node is not attached to. The standby: a
   * handshake when it has no ready session, on re-key, or when it has not
   * answered for `standbyRefreshMs` (it may have restarted and lost our
   * session: a node it has not bound to an id gets no answer to a KEEPALIVE,
   * see docs/federation.md); a KEEPALIVE every `standbyKeepaliveMs` (keeps
   * our NAT mapping to it, and its NAK `not_registered` is a sign of life).
   * The preferred one (the first, while not attached there): a handshake
   * every `preferredHandshakeMs`; after `returnAfterMs` of answers with no
   * handshake left unanswered, the node moves back to it.
   */
  private pollLink(l: Link, now: number, wall: number): void {
    const role = this.roleOf(l);
    const p = l.pending;
    if (p !== null && now - p.at >= this.c.handshakeTimeoutMs) {
      l.pending = null;
      l.runSince = null;
      this.counters.add("hs_standby_no_answer");
    }
    if (role === "idle") {
      l.runSince = null;
      return;
    }
    const s = this.linkSession(l, now);
    if (l.pending === null && now >= this.handshakeDue(l, s, role)) this.startSn(l, now, wall);
    if (s !== null && now >= l.kaNextAt) {
      l.kaNextAt = now + this.c.standbyKeepaliveMs;
      const r = encodePacket(
        { network: this.c.network, sender: this.ownId(), receiver: SUPERNODE_ID },
        { kind: "keepalive", seq: l.kaSeq, time: Math.floor(now) >>> 0 },
        { seal: (b, t) => this.sealer.sealVia(s, b, t), open: () => "no_session" },
        now,
      );
      l.kaSeq = (l.kaSeq + 1) >>> 0;
      if (r.ok) {
        this.out.push({ to: l.sn, bytes: r.packet });
        if (l.kaSentAt === -Infinity) l.kaSentAt = now;
        this.counters.add("tx_standby_keepalive");
      }
    } else if (s === null) l.kaNextAt = now;
    if (
      role === "preferred" && l.runSince !== null && l.runAnswers >= 2 &&
      now - l.runSince >= this.c.returnAfterMs
    ) {
      if (s !== null && now - l.lastAnswer < this.c.answerSilenceMs + this.c.preferredHandshakeMs) {
        this.moveTo(l.index, now, "preferred");
      } else l.runSince = null;
    }
  }

  private handshakeDue(l: Link, s: Session | null, role: "standby" | "preferred"): number {
    if (role === "preferred" || s === null) return l.nextAt;
    return Math.max(
      l.nextAt,
      Math.min(
        s.createdAt + this.sealer.limits.rekeyAfterMs,
        Math.max(l.lastAnswer, s.createdAt) + this.c.standbyRefreshMs,
      ),
    );
  }

  private linkDeadline(l: Link): number {
    const role = this.roleOf(l);
    let d = l.pending !== null ? l.pending.at + this.c.handshakeTimeoutMs : Infinity;
    if (role === "idle") return d;
    const s = l.session !== null && !l.session.closed ? l.session : null;
    if (l.pending === null) d = Math.min(d, this.handshakeDue(l, s, role));
    if (s !== null) {
      d = Math.min(d, l.kaNextAt, s.createdAt + this.sealer.limits.rejectAfterMs);
    }
    if (role === "preferred" && l.runSince !== null && l.runAnswers >= 2) {
      d = Math.min(d, l.runSince + this.c.returnAfterMs);
    }
    return d;
  }

  private moveTo(to: number, now: number, cause: "silent" | "preferred"): void {
    const l = this.links[to];
    const s = this.linkSession(l, now);
    if (s === null || to === this.att) return;
    const from = this.att;
    this.sealer.promote(s);
    this.sealer.registersUnanswered = 0;
    this.att = to;
    this.sb = (to + 1) % this.links.length;
    this.moves++;
    this.attachedSince = now;
    this.leftFrom = from;
    l.runSince = null;
    l.pending = null;
    const old = this.links[from];
    old.runSince = null;
    // Silent: its session is no sign of life; the next handshake answered is.
    if (cause === "silent") old.session = null;
    old.kaNextAt = now + this.c.standbyKeepaliveMs;
    old.nextAt = now;
    this.move = l.sn;
    this.counters.add(`moves_${cause}`);
    this.events.push({ type: "moved", from: old.sn.key, to: l.sn.key, cause, moves: this.moves });
  }

  /**
   * The attached supernode stopped answering (NodeCore's `supernode_silent`):
   * moves to the standby when its session is ready, else to the next
   * supernode in the list with one. False when none is ready (the node stays
   * and keeps trying; the others' handshakes go on).
   */
  failover(now: number): boolean {
    const n = this.links.length;
    if (n < 2) return false;
    const order = [this.sb];
    for (let i = 1; i < n; i++) order.push((this.att + i) % n);
    // One that answered lately first, then any with a session.
    const fresh = this.c.standbyRefreshMs + this.c.handshakeTimeoutMs;
    for (const needFresh of [true, false]) {
      for (const i of order) {
        if (i < 0 || i === this.att) continue;
        const l = this.links[i];
        if (this.linkSession(l, now) === null || (needFresh && now - l.lastAnswer >= fresh)) {
          continue;
        }
        this.moveTo(i, now, "silent");
        return true;
      }
    }
    this.counters.add("failover_no_standby");
    return false;
  }

  /** The supernode NodeCore is to register with now, after a move (once). */
  takeMove(): KeyedEndpoint | null {
    const m = this.move;
    this.move = null;
    return m;
  }

  /**
   * NodeCore registered (REGISTER_ACK): after a move, the supernode left is
   * told DEREGISTER (make before break), when its session is still there.
   */
  registered(now: number): void {
    if (this.leftFrom < 0) return;
    const old = this.links[this.leftFrom];
    this.leftFrom = -1;
    const s = this.linkSession(old, now);
    if (s === null || this.ownId() === 0) return;
    const r = encodePacket(
      { network: this.c.network, sender: this.ownId(), receiver: SUPERNODE_ID },
      { kind: "deregister", reason: 0 },
      { seal: (b, t) => this.sealer.sealVia(s, b, t), open: () => "no_session" },
      now,
    );
    if (r.ok) {
      this.out.push({ to: old.sn, bytes: r.packet });
      this.counters.add("tx_deregister_left");
    }
  }

  /** The configured supernodes as /status shows them, first preferred. */
  supernodes(now: number): SupernodeLinkStatus[] {
    return this.links.map((l) => {
      const ready = l.index === this.att ? this.ready() : this.linkSession(l, now) !== null;
      const state = l.index === this.att
        ? "attached"
        : this.roleOf(l) === "idle"
        ? "idle"
        : l.index === this.sb && ready
        ? "standby"
        : "down";
      return {
        address: l.sn.key,
        key: fingerprint(l.key),
        state,
        ready,
        rttMs: l.rttMs,
        lastAnswerMs: l.lastAnswer === -Infinity ? null : now - l.lastAnswer,
      };
    });
  }

  /** Where this node is attached, its standby, moves so far, attached since (ms, `now` clock). */
  attachment(): { attachedAt: string; standby: string | null; moves: number; since: number } {
    return {
      attachedAt: this.sn.key,
      standby: this.sb >= 0 ? this.links[this.sb].sn.key : null,
      moves: this.moves,
      since: this.attachedSince,
    };
  }
}

/** The key id in the header of a COOKIE_REPLY (the initiator's), or -1 when too short. */
function answeredKeyIdOfHeader(p: Uint8Array): number {
  if (p.length < HEADER_LENGTH) return -1;
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(HDR.KEY_ID);
}
