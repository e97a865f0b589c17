/**
 * The supernode's side of the VPN security layer (issue 6), sans-IO.
 *
 * It answers handshakes from nodes (HS_INIT to receiver 0), admits only keys
 * the member list allows (or, in open mode, anyone whose handshake proves
 * the network secret), refuses with an authenticated HS_REJECT naming the
 * reason, relays node-to-node handshakes with a vouch for the sender's
 * public key, answers PEER_KEY_REQUEST and ROSTER_REQUEST (which other nodes
 * are registered in the network: nodes fan broadcasts out to them over their
 * end-to-end sessions, so the supernode holds no key that opens node-to-node
 * payload, broadcasts included) and, on `setMembers()`, cuts removed keys off
 * at once: their sessions are dropped, every other node of their networks
 * gets REVOKE (repeated `revokeRepeats` times, 1 s apart).
 *
 * ```
 *   datagram --> receive(from, bytes, now)
 *                  |- type 0x20..0x2f: handled here ------------> takeOutgoing()
 *                  '- anything else: "core" -> SupernodeCore.receive (sealer.open)
 * ```
 *
 * Cheap rejection (issue 13): an answered handshake costs five X25519
 * operations, so an HS_INIT goes through, in order, before any of them:
 *
 * ```
 *  HS_INIT -> length, mac1 (one HMAC: the sender knows our public key)
 *          -> ephemeral of an HS_INIT answered lately? (replay, no crypto)
 *          -> under load and no valid mac2?  -> COOKIE_REPLY (cookie.ts)
 *          -> per-address and global budgets (rate_limit.ts; proven = valid mac2)
 *               refused without mac2         -> COOKIE_REPLY, under load 1 s
 *          -> Noise (es, ss), timestamp newer than the key's last? (init_timestamps.ts)
 *          -> members, then HS_RESP (ee, se) or HS_REJECT
 * ```
 *
 * Sources with a live session skip the global budgets. Per key and network
 * at most `maxSessionsPerKey` sessions (the oldest goes), at most one
 * unconfirmed, and at most `maxUnconfirmed` unconfirmed sessions in all (the
 * oldest goes), so one member cannot fill the tables. Packets for
 * established sessions are found by key id (a map lookup) and never reach
 * public-key code.
 *
 * Not done here: persistence of id bindings and of the supernode key (the
 * daemon), per-network member lists beyond `Member.networks`.
 *
 * @module
 */
import { Backlog, Counters, type Outgoing } from "./backlog.ts";
import { HEADER_LENGTH, MAGIC, SUPERNODE_ID, TAG_LENGTH } from "./constants.ts";
import { type CryptoSuite, fingerprint, hex } from "./crypto_suite.ts";
import { CookieJar, mac1Key, mac1Ok, MACS_LENGTH } from "./cookie.ts";
import {
  INIT_LENGTH,
  readInit,
  REJECT_TEXT,
  RejectCode,
  type RejectReason,
  SecType,
  type StaticKey,
  writeReject,
  writeResp,
} from "./handshake.ts";
import { checkHeader, HDR } from "./header.ts";
import type { Member, Members } from "./members.ts";
import { TimestampTable } from "./init_timestamps.ts";
import type { KeyedEndpoint } from "../addr.ts";
import { sourceKey, SourceLimiter, type SourceLimiterConfig } from "./rate_limit.ts";
import { type RateLimit, TokenBucket } from "../token_bucket.ts";
import {
  addVouch,
  checkHopTag,
  MAX_ROSTER,
  parseSecBody,
  rosterDigest,
  SealedType,
  type SecMessage,
  secPacket,
} from "./sec_messages.ts";
import { SecureSealer } from "./secure_sealer.ts";
import { Session, type SessionInfo, sessionInfo, type SessionLimits } from "./session_keys.ts";

/** Options of `SecureSupernode`. */
export interface SecureSupernodeConfig {
  suite: CryptoSuite;
  /** The supernode's X25519 key pair (nodes pin its public key). */
  staticKey: StaticKey;
  members: Members;
  /** Network secret (open mode; all zeros when none). 32 bytes. */
  psk?: Uint8Array;
  limits?: SessionLimits;
  limiter?: SourceLimiterConfig;
  maxSessions?: number;
  maxBacklog?: number;
  /** How many times REVOKE is sent (default 3, 1 s apart). */
  revokeRepeats?: number;
  /**
   * The node ids registered in a network (`SupernodeCore.nodeIds`), for
   * ROSTER. Absent: the nodes with a bound session.
   */
  registered?: (network: number) => Iterable<number>;
  /** Most sessions of one key in one network (default 4; the oldest is removed). */
  maxSessionsPerKey?: number;
  /** Most unconfirmed sessions in all (default 1024; the oldest is removed). */
  maxUnconfirmed?: number;
  /** Most keys whose newest HS_INIT timestamp is kept (default 65 536, LRU). */
  maxInitTimestamps?: number;
  /** Most COOKIE_REPLYs sent (default 5000/s, burst 1000). */
  cookieReplies?: RateLimit;
  /** Recently answered HS_INIT ephemerals kept for cheap replay checks (default 4096). */
  maxRecentInits?: number;
}

/** What the security layer asks of the federation (fed_supernode.ts, set by the engine). */
export interface SecFederation {
  /** True when node `id` of `network` is registered here (else it may be attached elsewhere). */
  isLocal(network: number, id: number): boolean;
  /**
   * A relayed packet (hop trailer checked; `trailer`: still attached) for a
   * node not registered here; true when taken.
   */
  relay(
    network: number,
    receiver: number,
    packet: Uint8Array,
    now: number,
    trailer: boolean,
  ): boolean;
  /** The key of a node attached elsewhere, when we vouch for it (our member list). */
  remoteKey(network: number, id: number): Uint8Array | undefined;
  /** Nodes of `network` attached elsewhere, for rosters. */
  remoteIds(network: number): Iterable<number>;
}

/** The handshake guards as `/status` shows them (tables with their sizes). */
export interface HandshakeGuardStatus {
  /** HS_INITs need a valid mac2 now (a budget ran out within the last second). */
  underLoad: boolean;
  /** Addresses with rate-limit buckets (default bound 8192). */
  sources: number;
  /** Keys whose newest HS_INIT timestamp is kept (default bound 65 536). */
  initTimestamps: number;
  /** Answered HS_INITs remembered for cheap replay drops (default bound 4096). */
  recentInits: number;
  /** Unconfirmed responder sessions (default bound 1024). */
  unconfirmed: number;
}

/** What the security layer reports (the daemon logs these, rate-limited). */
export type SecuritySupernodeEvent =
  | { type: "session"; network: number; node: number; key: string; endpoint: string }
  | {
    type: "refused";
    network: number;
    requested: number;
    key: string;
    endpoint: string;
    reason: RejectReason;
    text: string;
  }
  | { type: "handshake_failed"; endpoint: string; reason: string; text: string }
  | { type: "revoked"; network: number; node: number; key: string; sessions: number };

interface Notice {
  network: number;
  msgs: SecMessage[];
  left: number;
  at: number;
}

/** How long the supernode stays "under load" (mac2 required) after a budget ran out. */
const UNDER_LOAD_MS = 1000;

const FAIL_TEXT: Record<string, string> = {
  bad_static:
    "cannot decrypt the initiator's identity although its mac1 is right: a forged or corrupted packet",
  bad_secret: "the network secret (psk) differs",
  bad_dh: "invalid public key (low-order point)",
  bad_length: "handshake message has a wrong length",
  truncated: "handshake message is truncated",
  bad_header: "not a handshake packet",
  replay:
    "its timestamp is not newer than the last HS_INIT accepted from this key: a replayed handshake, or the node's clock went back (it gets in once its clock passes the last one)",
  bad_mac1:
    "its mac1 is wrong: the node pinned another supernode public key, or the packet is forged",
  old_version: "the node speaks protocol version 1 (an l2 from before issue 13): upgrade it",
};

/**
 * The supernode's handshakes, member checks, revocation and rosters.
 *
 * @example
 * ```ts
 * // const sec = new SecureSupernode({ suite, staticKey, members }, now);
 * // const core = new SupernodeCore({ sealer: sec.sealer, random });
 * // if (sec.receive(from, bytes, now) === "core") core.receive(from, bytes, now);
 * ```
 */
export class SecureSupernode {
  readonly sealer: SecureSealer;
  readonly counters: Counters = new Counters();
  readonly members: Members;
  private readonly suite: CryptoSuite;
  private readonly staticKey: StaticKey;
  private psk: Uint8Array;
  private readonly limiter: SourceLimiter;
  private readonly out: Backlog<Outgoing>;
  private readonly events: Backlog<SecuritySupernodeEvent>;
  /** Pending REVOKE repeats. Bound: 1024, oldest dropped. */
  private notices: Notice[] = [];
  private readonly revokeRepeats: number;
  /** Set by the daemon once `SupernodeCore` exists (ROSTER). */
  registered: ((network: number) => Iterable<number>) | undefined;
  /** The federation, when configured (set by the engine). */
  federation: SecFederation | null = null;
  /** network -> digest of its roster at the last sweep. Bound: networks with sessions. */
  private readonly rosterSeen = new Map<number, number>();
  private nextSweep = 0;
  /** Failure and refusal events: at most 20 per second (a flood is counted, not logged). */
  private readonly eventBudget: TokenBucket;
  /** mac1 key of our public key (cookie.ts). */
  private readonly mac1key: Uint8Array;
  private readonly cookies: CookieJar;
  private readonly cookieBudget: TokenBucket;
  /** Newest accepted HS_INIT timestamp per key. Bound: maxInitTimestamps. */
  private readonly timestamps: TimestampTable;
  /** Ephemerals of recently answered HS_INITs: a replay of one is dropped before any X25519. Bound: maxRecentInits. */
  private readonly recentInits = new Set<string>();
  private readonly maxRecentInits: number;
  /** Until when HS_INITs need a valid mac2 (a budget ran out). */
  private underLoadUntil = -Infinity;
  /** "network:key" -> that key's sessions, oldest first. Bound: maxSessionsPerKey per entry, keys with sessions. */
  private readonly keySessions = new Map<string, Session[]>();
  private readonly maxSessionsPerKey: number;
  /** Unconfirmed sessions, oldest first. Bound: maxUnconfirmed. */
  private readonly unconfirmed = new Set<Session>();
  private readonly maxUnconfirmed: number;

  constructor(c: SecureSupernodeConfig, now: number) {
    this.eventBudget = new TokenBucket({ rate: 20, burst: 20 }, now);
    this.mac1key = mac1Key(c.suite, c.staticKey.publicKey);
    this.cookies = new CookieJar(c.suite, c.staticKey.publicKey, now);
    this.cookieBudget = new TokenBucket(c.cookieReplies ?? { rate: 5000, burst: 1000 }, now);
    this.timestamps = new TimestampTable(c.maxInitTimestamps ?? 65_536);
    this.maxRecentInits = c.maxRecentInits ?? 4096;
    this.maxSessionsPerKey = c.maxSessionsPerKey ?? 4;
    this.maxUnconfirmed = c.maxUnconfirmed ?? 1024;
    this.suite = c.suite;
    this.staticKey = c.staticKey;
    this.members = c.members;
    this.psk = c.psk?.slice() ?? new Uint8Array(32);
    this.sealer = new SecureSealer({
      suite: c.suite,
      role: "supernode",
      limits: c.limits,
      members: c.members,
      maxSessions: c.maxSessions,
    });
    this.limiter = new SourceLimiter(c.limiter ?? {}, now);
    this.out = new Backlog(c.maxBacklog ?? 65_536);
    this.events = new Backlog(c.maxBacklog ?? 65_536);
    this.revokeRepeats = c.revokeRepeats ?? 3;
    this.registered = c.registered;
  }

  /** True for packets of the security layer (types 0x20..0x2f). */
  static isSecurity(bytes: Uint8Array): boolean {
    return bytes.length >= 3 && bytes[0] === MAGIC && (bytes[2] & 0xf0) === 0x20;
  }

  /**
   * Handles one datagram. Returns "core" when it is for `SupernodeCore`
   * (which opens it with `sealer`), "done" otherwise. Never throws.
   */
  receive(from: KeyedEndpoint, bytes: Uint8Array, now: number): "core" | "done" {
    if (!SecureSupernode.isSecurity(bytes)) return "core";
    const hd = checkHeader(bytes);
    if (!hd.ok) {
      this.counters.add(`drop_${hd.reason}`);
      if (hd.reason === "bad_version" && bytes[HDR.TYPE] === SecType.HS_INIT) {
        this.handshakeFailed(from, "old_version", now);
      }
      return "done";
    }
    const h = hd.value;
    switch (h.type) {
      case SecType.HS_INIT:
        if (h.receiver === SUPERNODE_ID) this.handshake(from, bytes, h.network, h.sender, now);
        else this.relayHandshake(from, bytes, h.network, h.sender, h.receiver, now);
        return "done";
      case SecType.HS_RESP:
      case SecType.HS_REJECT:
        if (h.receiver === SUPERNODE_ID) this.counters.add("drop_unexpected_type");
        else this.relayHandshake(from, bytes, h.network, h.sender, h.receiver, now);
        return "done";
      case SealedType.SESSION_CONFIRM:
        this.relaySealed(from, bytes, h.network, h.receiver, now);
        return "done";
      case SealedType.PEER_KEY_REQUEST:
      case SealedType.ROSTER_REQUEST:
        this.sealedFromNode(from, bytes, now);
        return "done";
      default:
        this.counters.add("drop_unexpected_type");
        return "done";
    }
  }

  private trusted(from: KeyedEndpoint, now: number): boolean {
    return this.sealer.knownEndpoint(from.key, now);
  }

  private handshakeFailed(from: KeyedEndpoint, reason: string, now: number, key = ""): void {
    if (reason !== "replay") this.counters.add(`hs_failed_${reason}`);
    if (!this.eventBudget.take(now)) return this.counters.add("events_suppressed");
    const text = FAIL_TEXT[reason] ?? reason;
    this.events.push({
      type: "handshake_failed",
      endpoint: from.key,
      reason,
      text: key === "" ? text : `node key ${key}...: ${text}`,
    });
  }

  private cookieReply(from: KeyedEndpoint, init: Uint8Array, now: number): void {
    if (!this.cookieBudget.take(now)) return this.counters.add("cookie_replies_limited");
    this.out.push({ to: from, bytes: this.cookies.reply(init, from.key, now) });
    this.counters.add("cookie_replies");
  }

  private handshake(
    from: KeyedEndpoint,
    bytes: Uint8Array,
    network: number,
    requested: number,
    now: number,
  ) {
    // 1. One HMAC: only senders that know our public key go on.
    if (bytes.length !== INIT_LENGTH + MACS_LENGTH) {
      return this.handshakeFailed(from, "bad_length", now);
    }
    if (!mac1Ok(this.suite, this.mac1key, bytes)) {
      return this.handshakeFailed(from, "bad_mac1", now);
    }
    // 2. A replay of an HS_INIT answered lately: no crypto, no budget.
    const tag = hex(bytes.subarray(HEADER_LENGTH, HEADER_LENGTH + 32));
    if (this.recentInits.has(tag)) return this.counters.add("hs_replay_ephemeral");
    // 3. Under load only HS_INITs that prove their source address (mac2) go on.
    const proven = this.cookies.mac2Ok(bytes, from.key, now);
    if (proven) this.counters.add("hs_mac2_ok");
    if (!proven && now < this.underLoadUntil) {
      this.counters.add("hs_under_load");
      return this.cookieReply(from, bytes, now);
    }
    // 4. Budgets per address and in all, before any X25519.
    const verdict = this.limiter.check(sourceKey(from), now, this.trusted(from, now), proven);
    if (verdict !== "ok") {
      this.counters.add("drop_rate_limited");
      if (verdict === "global") this.underLoadUntil = now + UNDER_LOAD_MS;
      if (!proven) this.cookieReply(from, bytes, now);
      return;
    }
    this.counters.add("hs_init");
    const r = readInit(this.suite, this.staticKey, this.psk, bytes.subarray(0, INIT_LENGTH));
    if (!r.ok) return this.handshakeFailed(from, r.reason, now);
    const st = r.state;
    // 5. Newer than the last HS_INIT accepted from this key, or a replay.
    if (!this.timestamps.isNewer(r.remoteStatic, st.timestamp)) {
      this.counters.add("hs_replay_timestamp");
      return this.handshakeFailed(from, "replay", now, fingerprint(r.remoteStatic));
    }
    const key = fingerprint(r.remoteStatic);
    const admitted = this.members.admit(network, r.remoteStatic, requested);
    const a = { network, sender: SUPERNODE_ID, receiver: requested, keyId: 0 };
    if (admitted !== "ok") {
      this.counters.add(`hs_refused_${admitted}`);
      this.out.push({ to: from, bytes: writeReject(st, a, REJECT_CODE[admitted]) });
      if (!this.eventBudget.take(now)) return this.counters.add("events_suppressed");
      this.events.push({
        type: "refused",
        network,
        requested,
        key,
        endpoint: from.key,
        reason: admitted,
        text: REJECT_TEXT[admitted],
      });
      return;
    }
    a.keyId = this.sealer.newKeyId();
    const e = this.ephemeral();
    const w = writeResp(this.suite, st, a, e);
    e.privateKey.fill(0);
    if (!w.ok) {
      this.counters.add("hs_failed_bad_dh");
      return;
    }
    this.timestamps.accept(r.remoteStatic, st.timestamp);
    this.rememberInit(tag);
    const bound = requested !== 0 && this.members.owner(network, requested) === hex(r.remoteStatic);
    const s = new Session(this.suite, {
      network,
      peer: bound ? requested : -1,
      localKeyId: a.keyId,
      remoteKeyId: st.initiatorKeyId,
      remoteStatic: r.remoteStatic,
      initiator: false,
      secrets: w.secrets,
      now,
      addr: from,
    });
    this.sealer.install(s);
    this.bound(s);
    this.counters.add("hs_completed");
    this.out.push({ to: from, bytes: w.packet });
    this.events.push({ type: "session", network, node: requested, key, endpoint: from.key });
  }

  private rememberInit(tag: string): void {
    if (this.recentInits.size >= this.maxRecentInits) {
      this.recentInits.delete(this.recentInits.values().next().value as string);
    }
    this.recentInits.add(tag);
  }

  /**
   * Keeps the new responder session `s` within the per-key and unconfirmed
   * bounds: the key's oldest sessions beyond `maxSessionsPerKey`, and the
   * oldest unconfirmed sessions beyond `maxUnconfirmed`, are removed.
   */
  private bound(s: Session): void {
    const k = `${s.network}:${hex(s.remoteStatic)}`;
    const list = (this.keySessions.get(k) ?? []).filter((x) => !x.closed);
    list.push(s);
    while (list.length > this.maxSessionsPerKey) {
      this.sealer.remove(list.shift()!);
      this.counters.add("sessions_key_limit");
    }
    this.keySessions.set(k, list);
    this.unconfirmed.add(s);
    if (this.unconfirmed.size <= this.maxUnconfirmed) return;
    for (const u of this.unconfirmed) if (u.confirmed || u.closed) this.unconfirmed.delete(u);
    for (const u of this.unconfirmed) {
      if (this.unconfirmed.size <= this.maxUnconfirmed) break;
      this.unconfirmed.delete(u);
      this.sealer.remove(u);
      this.counters.add("unconfirmed_evicted");
    }
  }

  /** Drops closed sessions from the per-key and unconfirmed indexes (the 1 s sweep). */
  private sweepIndexes(): void {
    for (const u of this.unconfirmed) if (u.confirmed || u.closed) this.unconfirmed.delete(u);
    for (const [k, list] of this.keySessions) {
      const live = list.filter((x) => !x.closed);
      if (live.length === 0) this.keySessions.delete(k);
      else if (live.length !== list.length) this.keySessions.set(k, live);
    }
  }

  private ephemeral(): StaticKey {
    const privateKey = new Uint8Array(32);
    this.suite.randomBytes(privateKey);
    return { privateKey, publicKey: this.suite.x25519Public(privateKey) };
  }

  private relayHandshake(
    from: KeyedEndpoint,
    bytes: Uint8Array,
    network: number,
    sender: number,
    receiver: number,
    now: number,
  ): void {
    let src: Session | undefined;
    let inner: Uint8Array | null = null;
    let replay = false;
    const equal = (x: Uint8Array, y: Uint8Array) => this.suite.equal(x, y);
    for (const c of this.sealer.hopCandidates(network, sender, now)) {
      const r = checkHopTag(c, equal, bytes);
      if (r === "replay") replay = true;
      if (typeof r === "string") continue;
      inner = r;
      src = c;
      break;
    }
    if (src === undefined || inner === null) {
      return this.counters.add(replay ? "drop_relay_replay" : "drop_bad_hop_tag");
    }
    if (from.key !== src.endpoint) {
      // Authentic and fresh, but not from where the sender's handshake came:
      // relayed only from the address the session proved.
      return this.counters.add("drop_relay_wrong_address");
    }
    if (!this.limiter.allow(`node ${network}:${sender}`, now, true)) {
      return this.counters.add("drop_rate_limited");
    }
    const fed = this.federation;
    if (fed !== null && !fed.isLocal(network, receiver)) {
      if (fed.relay(network, receiver, inner, now, false)) {
        this.counters.add("relayed_handshakes_federation");
      } else this.counters.add("drop_relay_no_receiver");
      return;
    }
    const dst = this.sealer.currentFor(network, receiver, now);
    if (dst === undefined || dst === src) return this.counters.add("drop_relay_no_receiver");
    const vouched = addVouch(dst, inner, src.remoteStatic, this.sealer.limits.rejectAfterPackets);
    if (vouched === null) return this.counters.add("drop_relay_counter_exhausted");
    if (dst.addr === null) return this.counters.add("drop_relay_no_receiver");
    this.out.push({ to: dst.addr, bytes: vouched });
    this.counters.add("relayed_handshakes");
  }

  private relaySealed(
    from: KeyedEndpoint,
    bytes: Uint8Array,
    network: number,
    receiver: number,
    now: number,
  ): void {
    const r = this.sealer.open(bytes, now, from.key);
    if (r !== "ok") return this.counters.add(`drop_${r}`);
    if (this.sealer.lastOpened?.endpoint !== from.key) {
      return this.counters.add("drop_relay_wrong_address");
    }
    const fed = this.federation;
    if (fed !== null && !fed.isLocal(network, receiver)) {
      if (fed.relay(network, receiver, bytes, now, true)) {
        this.counters.add("relayed_confirms_federation");
      } else this.counters.add("drop_relay_no_receiver");
      return;
    }
    const dst = this.sealer.currentFor(network, receiver, now);
    if (dst === undefined || dst.addr === null) {
      return this.counters.add("drop_relay_no_receiver");
    }
    this.out.push({ to: dst.addr, bytes: bytes.slice() });
    this.counters.add("relayed_confirms");
  }

  private sealedFromNode(from: KeyedEndpoint, bytes: Uint8Array, now: number): void {
    const r = this.sealer.open(bytes, now, from.key);
    if (r !== "ok") return this.counters.add(`drop_${r}`);
    const s = this.sealer.lastOpened;
    if (s === null || s.peer < 0) return this.counters.add("drop_not_registered");
    const m = parseSecBody(bytes[2], bytes.subarray(HEADER_LENGTH, bytes.length - TAG_LENGTH));
    if (!m.ok) return this.counters.add(`drop_${m.reason}`);
    if (m.value.kind === "roster_request") {
      return this.roster(s.network, s.peer, m.value.digest, now);
    }
    if (m.value.kind !== "peer_key_request") return this.counters.add("drop_unexpected_type");
    const fed = this.federation;
    const remote = fed !== null && !fed.isLocal(s.network, m.value.peer);
    const key = remote
      ? fed!.remoteKey(s.network, m.value.peer)
      : this.sealer.currentFor(s.network, m.value.peer, now)?.remoteStatic;
    this.counters.add("peer_key_requests");
    this.sendSealed(s.network, s.peer, {
      kind: "peer_key",
      peer: m.value.peer,
      known: key !== undefined,
      publicKey: key ?? new Uint8Array(32),
    }, now);
  }

  /**
   * Answers ROSTER_REQUEST: the other registered nodes of the network that
   * hold a session (ascending, at most MAX_ROSTER), unless the node's
   * digest shows it has that list already.
   */
  private roster(network: number, node: number, digest: number, now: number): void {
    this.counters.add("roster_requests");
    this.sendRoster(network, node, this.rosterIds(network, now), digest, now);
  }

  /**
   * The registered nodes of `network` that hold a session, and the nodes
   * attached at federation peers, ascending.
   */
  private rosterIds(network: number, now: number): number[] {
    const ids: number[] = [];
    for (const id of this.registered?.(network) ?? this.boundIds(network)) {
      if (this.sealer.currentFor(network, id, now) !== undefined) ids.push(id);
    }
    if (this.federation !== null) {
      const local = new Set(ids);
      for (const id of this.federation.remoteIds(network)) if (!local.has(id)) ids.push(id);
    }
    return ids.sort((a, b) => a - b);
  }

  /** ROSTER to `node`: `all` without itself, unless its `digest` shows it has that. */
  private sendRoster(
    network: number,
    node: number,
    all: number[],
    digest: number | null,
    now: number,
  ): void {
    const ids = all.filter((id) => id !== node);
    if (ids.length > MAX_ROSTER) {
      ids.length = MAX_ROSTER;
      this.counters.add("roster_truncated");
    }
    const d = rosterDigest(ids);
    if (d === digest) return this.counters.add("roster_unchanged");
    if (this.sendSealed(network, node, { kind: "roster", digest: d, ids }, now)) {
      this.counters.add("rosters_sent");
    }
  }

  /**
   * Pushes the roster to every node of a network whose membership changed
   * since the last sweep, so nodes learn of a newcomer within a second
   * (they also ask every 5 s). Bounded: one digest per network with sessions.
   */
  private pushRosters(now: number): void {
    const networks = new Set<number>();
    for (const s of this.sealer.currentSessions()) if (s.peer > 0) networks.add(s.network);
    for (const n of [...this.rosterSeen.keys()]) if (!networks.has(n)) this.rosterSeen.delete(n);
    for (const network of networks) {
      const all = this.rosterIds(network, now);
      const d = rosterDigest(all);
      const before = this.rosterSeen.get(network);
      this.rosterSeen.set(network, d);
      if (before === d) continue;
      this.counters.add("roster_pushes");
      for (const id of all) this.sendRoster(network, id, all, null, now);
    }
  }

  private *boundIds(network: number): Iterable<number> {
    for (const s of this.sealer.currentSessions()) {
      if (s.network === network && s.peer > 0) yield s.peer;
    }
  }

  private sendSealed(network: number, node: number, m: SecMessage, now: number): boolean {
    const s = this.sealer.currentFor(network, node, now);
    if (s === undefined) return false;
    const p = secPacket(m, { network, sender: SUPERNODE_ID, receiver: node }, false);
    if (s.addr === null || this.sealer.seal(p, now) !== "ok") return false;
    return this.out.push({ to: s.addr, bytes: p });
  }

  /** The newest HS_INIT timestamp accepted from `key` (a REGISTER without a stamp). */
  initTimestamp(key: Uint8Array): Uint8Array | undefined {
    return this.timestamps.latest(key);
  }

  /**
   * A relayed handshake from a node attached at a federation peer for our
   * node `receiver`: our vouch for `senderKey` (the caller checked it is on
   * our member list) and out to the receiver. False when it has no session.
   */
  vouchAndSend(
    network: number,
    receiver: number,
    inner: Uint8Array,
    senderKey: Uint8Array,
    _now: number,
  ): boolean {
    const dst = this.sealer.currentFor(network, receiver, _now);
    if (dst === undefined || dst.addr === null) {
      this.counters.add("drop_relay_no_receiver");
      return false;
    }
    const vouched = addVouch(dst, inner, senderKey, this.sealer.limits.rejectAfterPackets);
    if (vouched === null) {
      this.counters.add("drop_relay_counter_exhausted");
      return false;
    }
    this.counters.add("relayed_handshakes");
    return this.out.push({ to: dst.addr, bytes: vouched });
  }

  /**
   * Replaces the member list (SIGHUP). Removed keys lose their sessions at
   * once; the other nodes of their networks get REVOKE.
   * Returns the number of keys removed.
   */
  setMembers(list: readonly Member[], now: number): number {
    const removed = this.members.setMembers(list);
    for (const key of removed) this.cutOff(key, now);
    return removed.length;
  }

  /**
   * Open mode: a new network secret. Every session ends now; nodes with the
   * new secret handshake again (others are refused: `bad_secret`).
   */
  setSecret(psk: Uint8Array, now: number): void {
    this.psk = psk.slice();
    for (const s of [...this.sealer.sessions()]) this.sealer.remove(s);
    this.sealer.sweep(now);
  }

  private cutOff(key: Uint8Array, now: number): void {
    const hit = new Map<number, number>(); // network -> node id
    for (const s of this.sealer.sessions()) {
      if (this.suite.equal(s.remoteStatic, key)) hit.set(s.network, s.peer);
    }
    const n = this.sealer.removeByStatic(key);
    this.counters.add("revoked_keys");
    for (const [network, node] of hit) {
      this.events.push({ type: "revoked", network, node, key: fingerprint(key), sessions: n });
      const revoke: SecMessage = { kind: "revoke", node, publicKey: key.slice() };
      if (this.notices.length >= 1024) this.notices.shift();
      this.notices.push({ network, msgs: [revoke], left: this.revokeRepeats, at: now });
    }
    this.poll(now);
  }

  /** Timers: REVOKE repeats, session expiry, table ageing. */
  poll(now: number): void {
    for (const n of this.notices) {
      if (n.left <= 0 || now < n.at) continue;
      for (const s of [...this.sealer.currentSessions()]) {
        if (s.network !== n.network || s.peer < 0) continue;
        for (const m of n.msgs) this.sendSealed(n.network, s.peer, m, now);
      }
      n.left--;
      n.at = now + 1000;
      this.counters.add("revoke_notices");
    }
    this.notices = this.notices.filter((n) => n.left > 0);
    if (now >= this.nextSweep) {
      this.nextSweep = now + 1000;
      this.sealer.sweep(now);
      this.sweepIndexes();
      this.pushRosters(now);
      this.members.sweep(now);
      this.limiter.sweep(now);
    }
  }

  /** When `poll` should run next. */
  nextDeadline(): number {
    let d = this.nextSweep;
    for (const n of this.notices) if (n.at < d) d = n.at;
    return d;
  }

  /** Datagrams to send. */
  takeOutgoing(): Outgoing[] {
    return this.out.take();
  }

  /** Events since the last call. */
  takeEvents(): SecuritySupernodeEvent[] {
    return this.events.take();
  }

  /** One line per live session, for the status report (no key material). */
  sessionList(now: number): SessionInfo[] {
    return [...this.sealer.sessions()].map((s) => sessionInfo(s, now));
  }

  /** Sessions and counters (sealer, members, limiter and own). */
  status(now = -Infinity): {
    sessions: number;
    members: number;
    bindings: number;
    handshakes: HandshakeGuardStatus;
    counters: Record<string, number>;
  } {
    let sessions = 0;
    for (const _ of this.sealer.sessions()) sessions++;
    let unconfirmed = 0;
    for (const u of this.unconfirmed) if (!u.confirmed && !u.closed) unconfirmed++;
    return {
      sessions,
      members: this.members.size,
      bindings: this.members.bindingCount,
      handshakes: {
        underLoad: now < this.underLoadUntil,
        sources: this.limiter.size,
        initTimestamps: this.timestamps.size,
        recentInits: this.recentInits.size,
        unconfirmed,
      },
      counters: {
        ...this.counters.snapshot(),
        ...this.sealer.counters.snapshot(),
        ...this.members.counters.snapshot(),
        ...this.limiter.counters.snapshot(),
        ...this.timestamps.counters.snapshot(),
      },
    };
  }
}

const REJECT_CODE: Record<RejectReason, number> = {
  not_member: RejectCode.NOT_MEMBER,
  id_bound: RejectCode.ID_BOUND,
  bad_id: RejectCode.BAD_ID,
  revoked: RejectCode.REVOKED,
  not_vouched: RejectCode.NOT_VOUCHED,
  busy: RejectCode.BUSY,
};
