/**
 * The node's side of the VPN security layer (issue 6), sans-IO.
 *
 * - **Supernode session**: a Noise IKpsk1 handshake (`handshake.ts`) to the
 *   supernode, whose public key the node pins from its configuration.
 *   Started by `start()`, repeated when the session is due for re-keying
 *   (120 s or 2^40 packets), when nothing authenticated came from the
 *   supernode for `silenceMs` (12 s, longer than NodeCore's 8 s keepalive:
 *   the supernode restarted or dropped us),
 *   and `retryMs` (5 s) after an unanswered attempt. A refusal
 *   (HS_REJECT) is authenticated and names its reason; the next attempt
 *   waits `refusedRetryMs` (30 s).
 * - **Several supernodes** (`standbys`, docs/federation.md;
 *   `SupernodeLinks`, secure_node_supernodes.ts): one session per
 *   supernode in use. The attached one's is the sealer's current supernode
 *   session; the standby's (and the first one's, probed every
 *   `preferredHandshakeMs` while the node is elsewhere) are installed aside
 *   (`installAside`), kept by a sealed KEEPALIVE every `standbyKeepaliveMs`
 *   (answered NAK `not_registered`: a sign of life, nothing more) and a new
 *   handshake when silent for `standbyRefreshMs`. `failover` (the attached one
 *   fell silent) and a return to the first after `returnAfterMs` of answers
 *   promote such a session and hand NodeCore the move (`takeMove`); after
 *   the new REGISTER_ACK (`registered`) the one left gets a DEREGISTER.
 * - **Peer sessions** (end to end): when the sealer could not seal for a
 *   peer (`sealer.wanted`) or a peer session is due for re-keying, the node
 *   asks the supernode for the peer's public key (PEER_KEY_REQUEST), then
 *   sends HS_INIT to the peer through the supernode, which adds its vouch
 *   for the sender's key; the peer checks the vouch, answers HS_RESP the same
 *   way, and the initiator confirms with SESSION_CONFIRM under the new keys.
 *   Only the two nodes' ephemeral and static keys enter the session keys.
 * - **Revocation**: REVOKE from the supernode ends every session with that
 *   key at once; a peer session can never be renewed without a fresh vouch.
 * - **Roster** (`PeerDirectory` for NodeCore, `roster.ts`): the network's
 *   other registered nodes, asked for after each registration and every
 *   `rosterIntervalMs` (5 s), so NodeCore fans broadcasts out over the peer
 *   sessions; broadcasts sent before the first ROSTER are held for it
 *   (`holdBroadcast`, `takeBroadcasts`).
 * - **Peer keys are pinned** (`pins.ts`): a key the supernode vouches for
 *   (PEER_KEY or a relayed handshake) must match the node's own view (the
 *   daemon's `peers` list, or the key first seen for that id), so a
 *   compromised supernode cannot put itself between two nodes that have
 *   met. A refusal is reported (`peer_key_refused` event).
 *
 * ```
 *   datagram --> receive(from, bytes, now)
 *                  |- type 0x20..0x2f: handled here ------------> takeOutgoing()
 *                  '- anything else: "core" -> NodeCore.receive (sealer.open)
 * ```
 *
 * Tables: vouched peer keys (bound `maxPeers`, 10 min), pending handshakes
 * (bound `maxPeers`, 5 s), attempts per peer (bound `maxPeers`), newest peer
 * HS_INIT timestamps (bound `maxPins`, LRU), answered peer HS_INITs (bound
 * 1024); pins (`pins.ts`: bound `maxPins`, least recently seen evicted,
 * `pinAgeMs`), roster and held broadcasts (`roster.ts`: MAX_ROSTER;
 * `maxHeldBroadcasts`, `broadcastHoldMs`, newest dropped when full).
 *
 * - **Replay and cookies** (issue 13): every HS_INIT carries a TAI64N
 *   timestamp of the wall clock the caller passes (`wall`, ms since 1970;
 *   `InitClock` keeps them strictly increasing), so the responder refuses a
 *   recorded one. HS_INITs to the supernode carry mac1/mac2 (cookie.ts);
 *   a COOKIE_REPLY (the supernode is under load) is kept for
 *   `COOKIE_USE_MS` and the HS_INIT is sent again at once with mac2. As a
 *   responder to peers the node refuses an HS_INIT whose timestamp is not
 *   newer than the last one it answered for that key (`drop_peer_hs_replay`;
 *   a replay of one of the last answered is dropped before any X25519).
 *
 * Not done here: direct (not relayed) handshakes; cookies for peer
 * handshakes (they come through the supernode, which authenticates the
 * sender by its hop tag and limits them per sender id).
 *
 * @module
 */
import type { KeyedEndpoint } from "../addr.ts";
import { Backlog, Counters, type Outgoing } from "./backlog.ts";
import { HEADER_LENGTH, MAGIC, SUPERNODE_ID, TAG_LENGTH } from "./constants.ts";
import { type CryptoSuite, fingerprint, hex } from "./crypto_suite.ts";
import { InitClock, TimestampTable } from "./init_timestamps.ts";
import {
  answeredKeyId,
  readInit,
  readReject,
  readResp,
  SecType,
  type StaticKey,
  writeInit,
  writeResp,
} from "./handshake.ts";
import { checkHeader, senderOf } from "./header.ts";
import { PeerPins, PIN_AGE_MS } from "./pins.ts";
import { SourceLimiter } from "./rate_limit.ts";
import { Roster } from "./roster.ts";
import {
  addHopTag,
  checkVouch,
  parseSecBody,
  SealedType,
  type SecMessage,
  secPacket,
} from "./sec_messages.ts";
import type { PeerDirectory } from "./sealer.ts";
import { SecureSealer } from "./secure_sealer.ts";
import type { SecureNodeConfig, SecureNodeState, SecurityNodeEvent } from "./secure_node_types.ts";
import {
  type Pending,
  type SecureNodeSettings,
  SupernodeLinks,
  type SupernodeLinkStatus,
} from "./secure_node_supernodes.ts";
import { Session, type SessionInfo, sessionInfo } from "./session_keys.ts";

export type { SecureNodeConfig, SecureNodeState, SecurityNodeEvent } from "./secure_node_types.ts";
export type { SupernodeLinkStatus };

/**
 * The node's handshakes and session upkeep.
 *
 * @example
 * ```ts
 * // const sec = new SecureNode({ suite, staticKey, supernodeKey, supernode, network: 0 });
 * // const core = new NodeCore({ ..., identity: staticKey.publicKey, sealer: sec.sealer });
 * // sec.start(now, Date.now()); core.start(now);
 * // if (sec.receive(from, bytes, now) === "core") core.receive(from, bytes, now);
 * ```
 */
export class SecureNode implements PeerDirectory {
  readonly sealer: SecureSealer;
  readonly counters: Counters = new Counters();
  private readonly suite: CryptoSuite;
  private readonly c: SecureNodeSettings;
  /** The configured supernodes: sessions, standby, failover (secure_node_supernodes.ts). */
  private readonly sns: SupernodeLinks;
  /** Trusted keys and first-use pins. Bound: maxPins. */
  private readonly pins: PeerPins;
  /** The network's other nodes, and broadcasts waiting for the first list. */
  private readonly roster: Roster;
  private readonly psk: Uint8Array;
  private readonly requestedId: number;
  private readonly out: Backlog<Outgoing>;
  private readonly events: Backlog<SecurityNodeEvent>;
  private readonly limiter: SourceLimiter;
  private started = false;
  /** Vouched peer keys. Bound: maxPeers, 10 min. */
  private readonly peerKeys = new Map<number, { key: Uint8Array; at: number }>();
  /** Our handshakes to peers in flight, by our key id. Bound: maxPeers. */
  private readonly pending = new Map<number, Pending>();
  /** Next attempt per peer and attempts left. Bound: maxPeers. */
  private readonly attempts = new Map<number, { at: number; left: number }>();
  /** Timestamps of the HS_INITs this node sends (strictly increasing). */
  private readonly initClock = new InitClock();
  /** Newest answered peer HS_INIT timestamp per key. Bound: maxPins (LRU). */
  private readonly peerTimestamps: TimestampTable;
  /** Ephemerals of peer HS_INITs answered lately: a replay is dropped before any X25519. Bound: 1024. */
  private readonly recentInits = new Set<string>();

  constructor(c: SecureNodeConfig, now: number) {
    this.suite = c.suite;
    this.c = {
      standbyKeepaliveMs: 5000,
      standbyRefreshMs: 30_000,
      preferredHandshakeMs: 5000,
      returnAfterMs: 5000,
      answerSilenceMs: 3000,
      retryMs: 5000,
      refusedRetryMs: 30_000,
      silenceMs: 12_000,
      handshakeTimeoutMs: 5000,
      maxPeers: 256,
      maxBacklog: 65_536,
      rosterIntervalMs: 5000,
      broadcastHoldMs: 2000,
      maxHeldBroadcasts: 16,
      pinAgeMs: PIN_AGE_MS,
      maxPins: 4096,
      ...c,
    };
    this.pins = new PeerPins({
      suite: c.suite,
      trusted: c.trusted ?? [],
      pinAgeMs: this.c.pinAgeMs,
      maxPins: this.c.maxPins,
    }, this.counters);
    this.roster = new Roster({
      suite: c.suite,
      rosterIntervalMs: this.c.rosterIntervalMs,
      broadcastHoldMs: this.c.broadcastHoldMs,
      maxHeldBroadcasts: this.c.maxHeldBroadcasts,
    }, this.counters);
    this.psk = c.psk?.slice() ?? new Uint8Array(32);
    this.requestedId = c.requestedId ?? 0;
    this.sealer = new SecureSealer({ suite: c.suite, role: "node", limits: c.limits });
    // REGISTER's stamp: 1 ms after the newest HS_INIT timestamp or stamp, so
    // a REGISTER at any supernode is newer than every earlier one.
    this.sealer.registrationStamp = () => this.initClock.next(NaN);
    this.out = new Backlog(this.c.maxBacklog);
    this.events = new Backlog(this.c.maxBacklog);
    this.limiter = new SourceLimiter({ global: { rate: 200, burst: 50 } }, now);
    this.peerTimestamps = new TimestampTable(this.c.maxPins);
    this.sns = new SupernodeLinks(
      [{ supernode: c.supernode, supernodeKey: c.supernodeKey }, ...(c.standbys ?? [])],
      {
        suite: this.suite,
        c: this.c,
        sealer: this.sealer,
        counters: this.counters,
        out: this.out,
        events: this.events,
        psk: this.psk,
        initClock: this.initClock,
        ownId: () => this.ownId(),
        ephemeral: () => this.ephemeral(),
      },
    );
  }

  /** The attached supernode's address. */
  private get sn(): KeyedEndpoint {
    return this.sns.sn;
  }

  /**
   * Starts the supernode handshake. `wall`: the wall-clock time (ms since
   * 1970) for the HS_INIT timestamp, as for `poll` and `receive`.
   */
  start(now: number, wall: number): void {
    this.started = true;
    this.sns.start(now);
    this.poll(now, wall);
  }

  /**
   * True while a session with the supernode is current. One past its age
   * limit leaves at the next `poll`, which `nextDeadline` asks for in time.
   */
  ready(): boolean {
    return this.sealer.currentSession(this.c.network, SUPERNODE_ID) !== undefined;
  }

  private ownId(): number {
    return this.sealer.ownId !== 0 ? this.sealer.ownId : this.requestedId;
  }

  private ephemeral(): StaticKey {
    const privateKey = new Uint8Array(32);
    this.suite.randomBytes(privateKey);
    return { privateKey, publicKey: this.suite.x25519Public(privateKey) };
  }

  /**
   * Handles one datagram. "core" when it is for `NodeCore` (which opens it
   * with `sealer`), "done" otherwise. Never throws. `wall`: wall-clock ms
   * (an answer may start a handshake, whose HS_INIT carries it).
   */
  receive(from: KeyedEndpoint, bytes: Uint8Array, now: number, wall: number): "core" | "done" {
    if (!(bytes.length >= 3 && bytes[0] === MAGIC && (bytes[2] & 0xf0) === 0x20)) {
      // From a supernode this node is not attached to: its answers to our
      // KEEPALIVE (NAK not_registered) are liveness, never NodeCore's business.
      if (this.sns.links.length > 1 && from.key !== this.sn.key) {
        const l = this.sns.byKey(from.key);
        if (l !== undefined && bytes.length >= HEADER_LENGTH && senderOf(bytes) === SUPERNODE_ID) {
          this.sns.aside(l, from, bytes, now);
          return "done";
        }
      }
      return "core";
    }
    const hd = checkHeader(bytes);
    if (!hd.ok) {
      this.counters.add(`drop_${hd.reason}`);
      return "done";
    }
    const h = hd.value;
    if (h.network !== this.c.network) {
      this.counters.add("drop_wrong_network");
      return "done";
    }
    if (h.sender === SUPERNODE_ID) {
      const l = this.sns.byKey(from.key);
      if (l === undefined) {
        this.counters.add("drop_supernode_spoofed");
        return "done";
      }
      if (h.type === SecType.HS_RESP || h.type === SecType.HS_REJECT) {
        this.sns.snAnswer(l, bytes, h.type, now);
      } else if (h.type === SecType.COOKIE_REPLY) this.sns.cookieReply(l, bytes, now, wall);
      else if (this.sns.isAttached(l)) this.sealedFromSupernode(from, bytes, now, wall);
      else this.sns.aside(l, from, bytes, now);
      return "done";
    }
    switch (h.type) {
      case SecType.HS_INIT:
      case SecType.HS_RESP:
      case SecType.HS_REJECT:
        this.relayed(from, bytes, h.type, h.sender, h.receiver, now);
        return "done";
      case SealedType.SESSION_CONFIRM: {
        const r = this.sealer.open(bytes, now, from.key);
        this.counters.add(r === "ok" ? "rx_confirm" : `drop_${r}`);
        return "done";
      }
      default:
        this.counters.add("drop_unexpected_type");
        return "done";
    }
  }

  private clearEphemeral(p: Pending): void {
    p.state.e.privateKey.fill(0);
  }

  private sealedFromSupernode(
    from: KeyedEndpoint,
    bytes: Uint8Array,
    now: number,
    wall: number,
  ): void {
    const r = this.sealer.open(bytes, now, from.key);
    if (r !== "ok") return this.counters.add(`drop_${r}`);
    const m = parseSecBody(bytes[2], bytes.subarray(HEADER_LENGTH, bytes.length - TAG_LENGTH));
    if (!m.ok) return this.counters.add(`drop_${m.reason}`);
    const v = m.value;
    switch (v.kind) {
      case "peer_key":
        if (!v.known) {
          this.counters.add("peer_key_unknown");
          return;
        }
        if (!this.acceptKey(v.peer, v.publicKey, now)) return;
        this.rememberKey(v.peer, v.publicKey, now);
        if (this.sealer.wanted.has(v.peer) || this.needsRekey(v.peer, now)) {
          this.startPeer(v.peer, now, wall);
        }
        return;
      case "revoke": {
        const n = this.sealer.removeByStatic(v.publicKey);
        for (const [peer, k] of this.peerKeys) {
          if (this.suite.equal(k.key, v.publicKey)) this.peerKeys.delete(peer);
        }
        for (const [id, p] of this.pending) {
          if (this.suite.equal(p.state.rs, v.publicKey)) this.pending.delete(id);
        }
        // The supernode says this key is gone: its id may go to another key.
        this.pins.forgetKey(v.publicKey);
        this.counters.add("revoked");
        if (n > 0) {
          this.events.push({
            type: "revoked",
            node: v.node,
            key: fingerprint(v.publicKey),
            sessions: n,
          });
        }
        return;
      }
      case "roster": {
        const peers = this.roster.apply(v.ids, v.digest, this.ownId());
        this.events.push({ type: "roster", peers });
        return;
      }
      default:
        this.counters.add("drop_unexpected_type");
    }
  }

  /**
   * True when `key` may be `peer`'s key by this node's own view (trusted
   * list or pin); pins it on first use. A refusal is counted and reported.
   */
  private acceptKey(peer: number, key: Uint8Array, now: number): boolean {
    const r = this.pins.accept(peer, key, now);
    if (r === null) return true;
    this.events.push({
      type: "peer_key_refused",
      peer,
      key: fingerprint(key),
      ...(r.pinned ? { pinned: fingerprint(r.pinned) } : {}),
      reason: r.reason,
    });
    return false;
  }

  /**
   * The pins for the daemon's state file: [node id, key (hex), ms since last
   * seen]. Nothing secret (public keys).
   */
  exportPins(now: number): [number, string, number][] {
    return this.pins.exportPins(now);
  }

  /**
   * Replaces the pins with `data` (as `exportPins` wrote it, maybe edited by
   * the operator). Entries that do not parse or have aged out are skipped;
   * returns how many were taken.
   */
  importPins(data: unknown, now: number): number {
    return this.pins.importPins(data, now);
  }

  /** Pinned node ids (tests, status). */
  get pinCount(): number {
    return this.pins.size;
  }

  /** PeerDirectory: the other registered nodes of the network (from the last ROSTER). */
  broadcastPeers(): readonly number[] {
    return this.roster.ids;
  }

  /** PeerDirectory: peers whose session became usable since the last call. */
  takeReady(): number[] {
    return this.sealer.takeReady();
  }

  /** PeerDirectory: true when `takeReady` or `takeBroadcasts` has something. */
  hasReady(): boolean {
    return this.sealer.hasReady() || this.roster.hasHeld();
  }

  /**
   * PeerDirectory: keeps a copy of a broadcast `frame` while this node has
   * had no roster yet (true: kept, or dropped when full, counted); false when
   * the roster is known and the caller fans it out to `broadcastPeers` now.
   */
  holdBroadcast(frame: Uint8Array, now: number): boolean {
    return this.roster.hold(frame, now);
  }

  /**
   * PeerDirectory: the held broadcasts to fan out now that the roster is
   * known, oldest first (the caller owns them); those older than
   * `broadcastHoldMs` are dropped and counted instead.
   */
  takeBroadcasts(now: number): Uint8Array[] {
    return this.roster.take(now);
  }

  private rememberKey(peer: number, key: Uint8Array, now: number): void {
    this.peerKeys.delete(peer);
    if (this.peerKeys.size >= this.c.maxPeers) {
      this.peerKeys.delete(this.peerKeys.keys().next().value as number);
      this.counters.add("peer_keys_evicted");
    }
    this.peerKeys.set(peer, { key: key.slice(), at: now });
  }

  private needsRekey(peer: number, now: number): boolean {
    const s = this.sealer.currentFor(this.c.network, peer, now);
    return s !== undefined && s.needsRekey(now, this.sealer.limits);
  }

  private snSession(now: number): Session | undefined {
    return this.sealer.currentFor(this.c.network, SUPERNODE_ID, now);
  }

  private startPeer(peer: number, now: number, wall: number): void {
    const k = this.peerKeys.get(peer);
    const sn = this.snSession(now);
    if (k === undefined || sn === undefined || this.ownId() === 0) return;
    for (const p of this.pending.values()) {
      if (p.peer === peer && now - p.at < this.c.handshakeTimeoutMs) return;
    }
    if (this.pending.size >= this.c.maxPeers) return this.counters.add("hs_pending_full");
    const keyId = this.sealer.newKeyId();
    const w = writeInit(
      this.suite,
      { network: this.c.network, sender: this.ownId(), receiver: peer, keyId },
      this.c.staticKey,
      k.key,
      this.psk,
      this.ephemeral(),
      this.initClock.next(wall),
    );
    if (!w.ok) return this.counters.add("hs_bad_peer_key");
    const tagged = addHopTag(sn, w.packet);
    if (tagged === null) return this.counters.add("hs_counter_exhausted");
    this.pending.set(keyId, { peer, state: w.state, at: now });
    this.out.push({ to: this.sn, bytes: tagged });
    this.counters.add("hs_peer_sent");
  }

  private relayed(
    from: KeyedEndpoint,
    bytes: Uint8Array,
    type: number,
    sender: number,
    receiver: number,
    now: number,
  ) {
    const sn = this.snSession(now);
    if (sn === undefined) return this.counters.add("drop_no_supernode_session");
    if (from.key !== this.sn.key) return this.counters.add("drop_supernode_spoofed");
    let v: { inner: Uint8Array; vouched: Uint8Array } | null = null;
    let replay = false;
    for (const c of this.sealer.hopCandidates(this.c.network, SUPERNODE_ID, now)) {
      const r = checkVouch(c, bytes);
      if (r === "replay") replay = true;
      if (typeof r === "string") continue;
      v = r;
      break;
    }
    if (v === null) return this.counters.add(replay ? "drop_vouch_replay" : "drop_bad_vouch");
    if (receiver !== this.ownId() || sender === 0) return this.counters.add("drop_not_for_us");
    if (type === SecType.HS_INIT) {
      // A replay of an HS_INIT answered lately: dropped before any X25519 or budget.
      const tag = hex(v.inner.subarray(HEADER_LENGTH, HEADER_LENGTH + 32));
      if (this.recentInits.has(tag)) return this.counters.add("drop_peer_hs_replay");
      if (!this.limiter.allow(`peer ${sender}`, now)) return this.counters.add("drop_rate_limited");
      const r = readInit(this.suite, this.c.staticKey, this.psk, v.inner);
      if (!r.ok) return this.counters.add(`drop_peer_hs_${r.reason}`);
      if (!this.suite.equal(r.remoteStatic, v.vouched)) {
        return this.counters.add("drop_not_vouched");
      }
      // Newer than the last HS_INIT answered for this key, or a replay.
      if (!this.peerTimestamps.isNewer(r.remoteStatic, r.state.timestamp)) {
        return this.counters.add("drop_peer_hs_replay");
      }
      if (!this.acceptKey(sender, v.vouched, now)) return;
      this.rememberKey(sender, v.vouched, now);
      const keyId = this.sealer.newKeyId();
      const e = this.ephemeral();
      const w = writeResp(
        this.suite,
        r.state,
        { network: this.c.network, sender: this.ownId(), receiver: sender, keyId },
        e,
      );
      e.privateKey.fill(0);
      if (!w.ok) return this.counters.add("drop_peer_hs_bad_dh");
      this.peerTimestamps.accept(r.remoteStatic, r.state.timestamp);
      if (this.recentInits.size >= 1024) {
        this.recentInits.delete(this.recentInits.values().next().value as string);
      }
      this.recentInits.add(tag);
      this.sealer.install(
        new Session(this.suite, {
          network: this.c.network,
          peer: sender,
          localKeyId: keyId,
          remoteKeyId: r.state.initiatorKeyId,
          remoteStatic: r.remoteStatic,
          initiator: false,
          secrets: w.secrets,
          now,
        }),
      );
      const tagged = addHopTag(sn, w.packet);
      if (tagged === null) return this.counters.add("hs_counter_exhausted");
      this.out.push({ to: this.sn, bytes: tagged });
      this.counters.add("hs_peer_answered");
      this.roster.learn(sender);
      this.events.push({
        type: "peer_session",
        peer: sender,
        key: fingerprint(r.remoteStatic),
        initiator: false,
      });
      return;
    }
    const p = this.pending.get(answeredKeyId(v.inner));
    if (p === undefined || p.peer !== sender) return this.counters.add("drop_unexpected_answer");
    if (!this.suite.equal(p.state.rs, v.vouched)) return this.counters.add("drop_not_vouched");
    if (type === SecType.HS_REJECT) {
      const r = readReject(p.state, v.inner);
      if (!r.ok) return this.counters.add(`drop_reject_${r.reason}`);
      this.pending.delete(p.state.keyId);
      this.events.push({ type: "peer_refused", peer: sender, reason: r.reason });
      return;
    }
    const r = readResp(this.suite, p.state, v.inner);
    if (!r.ok) return this.counters.add(`drop_peer_resp_${r.reason}`);
    this.pending.delete(p.state.keyId);
    this.clearEphemeral(p);
    const s = new Session(this.suite, {
      network: this.c.network,
      peer: sender,
      localKeyId: p.state.keyId,
      remoteKeyId: r.keyId,
      remoteStatic: p.state.rs,
      initiator: true,
      secrets: r.secrets,
      now,
    });
    this.sealer.install(s);
    this.attempts.delete(sender);
    // Confirms the session to the responder, which sends under it only then.
    const c = secPacket(
      { kind: "session_confirm" },
      { network: this.c.network, sender: this.ownId(), receiver: sender },
      true,
    );
    if (this.sealer.seal(c, now) === "ok") this.out.push({ to: this.sn, bytes: c });
    this.counters.add("hs_peer_done");
    this.events.push({
      type: "peer_session",
      peer: sender,
      key: fingerprint(p.state.rs),
      initiator: true,
    });
  }

  private sendToSupernode(m: SecMessage, now: number): void {
    const p = secPacket(m, {
      network: this.c.network,
      sender: this.ownId(),
      receiver: SUPERNODE_ID,
    }, false);
    if (this.sealer.seal(p, now) === "ok") this.out.push({ to: this.sn, bytes: p });
  }

  /**
   * Timers: supernode (re)handshakes, peer handshakes and re-keys, expiry.
   * `wall`: the wall-clock time (ms since 1970) for HS_INIT timestamps; it
   * must keep increasing across restarts of the node (the daemon passes
   * `Date.now()`), never `now`.
   */
  poll(now: number, wall: number): void {
    if (!this.started) return;
    this.sealer.sweep(now);
    this.roster.expire(now);
    const sn = this.snSession(now);
    this.sns.poll(sn, now, wall);
    for (const [id, q] of this.pending) {
      if (now - q.at >= this.c.handshakeTimeoutMs) {
        this.pending.delete(id);
        this.counters.add("hs_peer_no_answer");
      }
    }
    for (const [peer, k] of this.peerKeys) {
      if (now - k.at >= 600_000) this.peerKeys.delete(peer);
    }
    if (sn === undefined || this.ownId() === 0) return;
    if (this.roster.requestDue(now, this.sealer.registrations)) {
      this.sendToSupernode({ kind: "roster_request", digest: this.roster.requestDigest() }, now);
      this.counters.add("roster_requests");
      // Pins of peers we have a session with stay fresh.
      this.pins.refresh(
        now,
        (peer) => this.sealer.currentFor(this.c.network, peer, now) !== undefined,
      );
    }
    const want = new Set(this.sealer.wanted);
    for (const s of this.sealer.currentSessions()) {
      if (
        s.peer !== SUPERNODE_ID && s.needsRekey(now, this.sealer.limits) && now - s.lastTx < 60_000
      ) {
        // The initiator re-keys on time; the responder a third of the grace
        // period later if nothing came; whoever sends the volume re-keys for it.
        const l = this.sealer.limits;
        const late = now - s.createdAt >= l.rekeyAfterMs + (l.rejectAfterMs - l.rekeyAfterMs) / 3;
        if (s.initiator || late || s.txCounter >= l.rekeyAfterPackets) want.add(s.peer);
      }
    }
    for (const peer of want) {
      let a = this.attempts.get(peer);
      if (a !== undefined && now < a.at) continue;
      if (a === undefined) {
        if (this.attempts.size >= this.c.maxPeers) {
          this.attempts.delete(this.attempts.keys().next().value as number);
        }
        a = { at: now, left: 3 };
        this.attempts.set(peer, a);
      }
      if (a.left <= 0) {
        this.attempts.delete(peer);
        this.sealer.wanted.delete(peer);
        this.counters.add("peer_gave_up");
        continue;
      }
      a.left--;
      a.at = now + this.c.retryMs;
      // A fresh vouch for every handshake: the supernode may have revoked the key.
      this.peerKeys.delete(peer);
      this.sendToSupernode({ kind: "peer_key_request", peer }, now);
      this.counters.add("peer_key_requests");
    }
  }

  /**
   * The attached supernode stopped answering (NodeCore's `supernode_silent`):
   * moves to the standby when its session is ready, else to the next
   * supernode in the list with one. False when none is ready (the node stays
   * and keeps trying; the others' handshakes go on).
   */
  failover(now: number): boolean {
    return this.sns.failover(now);
  }

  /** The supernode NodeCore is to register with now, after a move (once). */
  takeMove(): KeyedEndpoint | null {
    return this.sns.takeMove();
  }

  /**
   * NodeCore registered (REGISTER_ACK): after a move, the supernode left is
   * told DEREGISTER (make before break), when its session is still there.
   */
  registered(now: number): void {
    this.sns.registered(now);
  }

  /** The configured supernodes as /status shows them, first preferred. */
  supernodes(now: number): SupernodeLinkStatus[] {
    return this.sns.supernodes(now);
  }

  /** Where this node is attached, its standby, moves so far, attached since (ms, `now` clock). */
  attachment(): { attachedAt: string; standby: string | null; moves: number; since: number } {
    return this.sns.attachment();
  }

  /** When `poll` should run next. */
  nextDeadline(): number {
    if (!this.started) return Infinity;
    // A move waits for `takeMove`.
    if (this.sns.moving) return 0;
    let d = this.sns.deadline();
    const sn = this.sealer.currentSession(this.c.network, SUPERNODE_ID);
    if (sn !== undefined && this.ownId() !== 0) d = Math.min(d, this.roster.nextRequestAt);
    d = Math.min(d, this.roster.heldDeadline());
    if (this.roster.registeredSinceRequest(this.sealer.registrations)) return 0; // ask for the roster now
    for (const p of this.pending.values()) d = Math.min(d, p.at + this.c.handshakeTimeoutMs);
    for (const a of this.attempts.values()) d = Math.min(d, a.at);
    for (const peer of this.sealer.wanted) if (!this.attempts.has(peer)) return 0; // due now
    return d;
  }

  /** Datagrams to send. */
  takeOutgoing(): Outgoing[] {
    return this.out.take();
  }

  /** Events since the last call. */
  takeEvents(): SecurityNodeEvent[] {
    return this.events.take();
  }

  /** One line per live session, for the status report (no key material). */
  sessionList(now: number): SessionInfo[] {
    return [...this.sealer.sessions()].map((s) => sessionInfo(s, now));
  }

  /**
   * Sessions, roster (the other nodes' ids, at most MAX_ROSTER; `rosterKnown`
   * false until the first ROSTER), pins, held broadcasts and counters.
   */
  status(): SecureNodeState {
    let sessions = 0;
    for (const _ of this.sealer.sessions()) sessions++;
    return {
      ready: this.ready(),
      sessions,
      initTimestamps: this.peerTimestamps.size,
      cookie: this.sns.hasCookie(),
      roster: this.roster.ids.length,
      rosterIds: this.roster.ids.slice(),
      rosterKnown: this.roster.known,
      pins: this.pins.size,
      heldBroadcasts: this.roster.heldCount,
      counters: {
        ...this.counters.snapshot(),
        ...this.sealer.counters.snapshot(),
        ...this.limiter.counters.snapshot(),
        ...this.peerTimestamps.counters.snapshot(),
      },
    };
  }
}
