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
 * - **Peer sessions** (end to end): when the sealer could not seal for a
 *   peer (`sealer.wanted`) or a peer session is due for re-keying, the node
 *   asks the supernode for the peer's public key (PEER_KEY_REQUEST), then
 *   sends HS_INIT to the peer through the supernode, which adds its vouch
 *   for the sender's key; the peer checks the vouch, answers HS_RESP the same
 *   way, and the initiator confirms with SESSION_CONFIRM under the new keys.
 *   Only the two nodes' ephemeral and static keys enter the session keys.
 * - **Revocation**: REVOKE from the supernode ends every session with that
 *   key at once; a peer session can never be renewed without a fresh vouch.
 *
 * ```
 *   datagram --> receive(from, bytes, now)
 *                  |- type 0x20..0x2f: handled here ------------> takeOutgoing()
 *                  '- anything else: "core" -> NodeCore.receive (sealer.open)
 * ```
 *
 * Tables: vouched peer keys (bound `maxPeers`, 10 min), pending handshakes
 * (bound `maxPeers`, 5 s), attempts per peer (bound `maxPeers`).
 *
 * Not done here: direct (not relayed) handshakes, cookies.
 *
 * @module
 */
import { Backlog, Counters, type Outgoing } from "./backlog.ts";
import { HEADER_LENGTH, MAGIC, SUPERNODE_ID, TAG_LENGTH } from "./constants.ts";
import { type CryptoSuite, fingerprint } from "./crypto_suite.ts";
import {
  answeredKeyId,
  type InitiatorState,
  readInit,
  readReject,
  readResp,
  REJECT_TEXT,
  type RejectReason,
  SecType,
  type StaticKey,
  writeInit,
  writeResp,
} from "./handshake.ts";
import { checkHeader } from "./header.ts";
import { SourceLimiter } from "./rate_limit.ts";
import {
  addHopTag,
  checkVouch,
  parseSecBody,
  SealedType,
  type SecMessage,
  secPacket,
} from "./sec_messages.ts";
import { SecureSealer } from "./secure_sealer.ts";
import { Session, type SessionInfo, sessionInfo, type SessionLimits } from "./session_keys.ts";

/** Options of `SecureNode`. */
export interface SecureNodeConfig {
  suite: CryptoSuite;
  /** This node's X25519 key pair; its public key is the REGISTER identity. */
  staticKey: StaticKey;
  /** The supernode's public key (pinned). */
  supernodeKey: Uint8Array;
  /** The supernode's endpoint (canonical text, as NodeCore's `supernode`). */
  supernode: string;
  network: number;
  /** The node id NodeCore asks for (0: auto); later the id the supernode gave. */
  requestedId?: number;
  /** Network secret (open mode); all zeros when none. */
  psk?: Uint8Array;
  limits?: SessionLimits;
  retryMs?: number;
  refusedRetryMs?: number;
  silenceMs?: number;
  handshakeTimeoutMs?: number;
  maxPeers?: number;
  maxBacklog?: number;
}

/** What the node's security layer reports. */
export type SecurityNodeEvent =
  | { type: "supernode_session"; keyId: number }
  | { type: "refused"; by: "supernode" | number; reason: RejectReason; text: string }
  | { type: "no_answer"; text: string }
  | { type: "peer_session"; peer: number; key: string; initiator: boolean }
  | { type: "peer_refused"; peer: number; reason: string }
  | { type: "revoked"; node: number; key: string; sessions: number };

interface Pending {
  peer: number;
  state: InitiatorState;
  at: number;
}

/**
 * The node's handshakes and session upkeep.
 *
 * @example
 * ```ts
 * // const sec = new SecureNode({ suite, staticKey, supernodeKey, supernode, network: 0 });
 * // const core = new NodeCore({ ..., identity: staticKey.publicKey, sealer: sec.sealer });
 * // sec.start(now); core.start(now);
 * // if (sec.receive(from, bytes, now) === "core") core.receive(from, bytes, now);
 * ```
 */
export class SecureNode {
  readonly sealer: SecureSealer;
  readonly counters: Counters = new Counters();
  private readonly suite: CryptoSuite;
  private readonly c: Required<Omit<SecureNodeConfig, "limits" | "psk" | "requestedId">>;
  private readonly psk: Uint8Array;
  private readonly requestedId: number;
  private readonly out: Backlog<Outgoing>;
  private readonly events: Backlog<SecurityNodeEvent>;
  private readonly limiter: SourceLimiter;
  private started = false;
  private snPending: Pending | null = null;
  private nextSnAt = Infinity;
  /** Vouched peer keys. Bound: maxPeers, 10 min. */
  private readonly peerKeys = new Map<number, { key: Uint8Array; at: number }>();
  /** Our handshakes to peers in flight, by our key id. Bound: maxPeers. */
  private readonly pending = new Map<number, Pending>();
  /** Next attempt per peer and attempts left. Bound: maxPeers. */
  private readonly attempts = new Map<number, { at: number; left: number }>();

  constructor(c: SecureNodeConfig, now: number) {
    this.suite = c.suite;
    this.c = {
      retryMs: 5000,
      refusedRetryMs: 30_000,
      silenceMs: 12_000,
      handshakeTimeoutMs: 5000,
      maxPeers: 256,
      maxBacklog: 65_536,
      ...c,
    };
    this.psk = c.psk?.slice() ?? new Uint8Array(32);
    this.requestedId = c.requestedId ?? 0;
    this.sealer = new SecureSealer({ suite: c.suite, role: "node", limits: c.limits });
    this.out = new Backlog(this.c.maxBacklog);
    this.events = new Backlog(this.c.maxBacklog);
    this.limiter = new SourceLimiter({ global: { rate: 200, burst: 50 } }, now);
  }

  /** Starts the supernode handshake. */
  start(now: number): void {
    this.started = true;
    this.nextSnAt = now;
    this.poll(now);
  }

  /** True while a session with the supernode is live. */
  ready(): boolean {
    return this.sealer.currentFor(this.c.network, SUPERNODE_ID) !== undefined;
  }

  private ownId(): number {
    return this.sealer.ownId !== 0 ? this.sealer.ownId : this.requestedId;
  }

  private ephemeral(): StaticKey {
    const privateKey = new Uint8Array(32);
    this.suite.randomBytes(privateKey);
    return { privateKey, publicKey: this.suite.x25519Public(privateKey) };
  }

  private startSn(now: number): void {
    const keyId = this.sealer.newKeyId();
    const w = writeInit(
      this.suite,
      { network: this.c.network, sender: this.ownId(), receiver: SUPERNODE_ID, keyId },
      this.c.staticKey,
      this.c.supernodeKey,
      this.psk,
      this.ephemeral(),
    );
    this.nextSnAt = now + this.c.retryMs;
    if (!w.ok) {
      this.counters.add("hs_bad_supernode_key");
      return;
    }
    this.snPending = { peer: SUPERNODE_ID, state: w.state, at: now };
    this.out.push({ to: this.c.supernode, bytes: w.packet });
    this.counters.add("hs_sent");
  }

  /**
   * Handles one datagram. "core" when it is for `NodeCore` (which opens it
   * with `sealer`), "done" otherwise. Never throws.
   */
  receive(from: string, bytes: Uint8Array, now: number): "core" | "done" {
    this.sealer.setContext(now, from);
    if (!(bytes.length >= 3 && bytes[0] === MAGIC && (bytes[2] & 0xf0) === 0x20)) return "core";
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
      if (from !== this.c.supernode) {
        this.counters.add("drop_supernode_spoofed");
        return "done";
      }
      if (h.type === SecType.HS_RESP || h.type === SecType.HS_REJECT) {
        this.snAnswer(bytes, h.type, now);
      } else this.sealedFromSupernode(bytes, now);
      return "done";
    }
    switch (h.type) {
      case SecType.HS_INIT:
      case SecType.HS_RESP:
      case SecType.HS_REJECT:
        this.relayed(bytes, h.type, h.sender, h.receiver, now);
        return "done";
      case SealedType.SESSION_CONFIRM: {
        const r = this.sealer.open(bytes);
        this.counters.add(r === "ok" ? "rx_confirm" : `drop_${r}`);
        return "done";
      }
      default:
        this.counters.add("drop_unexpected_type");
        return "done";
    }
  }

  private snAnswer(bytes: Uint8Array, type: number, now: number): void {
    const p = this.snPending;
    if (p === null || answeredKeyId(bytes) !== p.state.keyId) {
      return this.counters.add("drop_unexpected_answer");
    }
    if (type === SecType.HS_REJECT) {
      const r = readReject(p.state, bytes);
      if (!r.ok) return this.counters.add(`drop_reject_${r.reason}`);
      this.snPending = null;
      this.nextSnAt = now + this.c.refusedRetryMs;
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
    this.snPending = null;
    this.clearEphemeral(p);
    const s = new Session(this.suite, {
      network: this.c.network,
      peer: SUPERNODE_ID,
      localKeyId: p.state.keyId,
      remoteKeyId: r.keyId,
      remoteStatic: this.c.supernodeKey,
      initiator: true,
      secrets: r.secrets,
      now,
      endpoint: this.c.supernode,
    });
    this.sealer.install(s);
    const g = parseSecBody(SealedType.GROUP_KEY, r.payload);
    if (g.ok && g.value.kind === "group_key") {
      this.sealer.setGroupKey(this.c.network, g.value.gen, g.value.epoch, g.value.key);
    }
    this.counters.add("hs_supernode_done");
    this.events.push({ type: "supernode_session", keyId: s.localKeyId });
  }

  private clearEphemeral(p: Pending): void {
    p.state.e.privateKey.fill(0);
  }

  private sealedFromSupernode(bytes: Uint8Array, now: number): void {
    const r = this.sealer.open(bytes);
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
        this.rememberKey(v.peer, v.publicKey, now);
        if (this.sealer.wanted.has(v.peer) || this.needsRekey(v.peer, now)) {
          this.startPeer(v.peer, now);
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
      case "group_key":
        this.sealer.setGroupKey(this.c.network, v.gen, v.epoch, v.key);
        this.counters.add("group_keys");
        return;
      default:
        this.counters.add("drop_unexpected_type");
    }
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
    const s = this.sealer.currentFor(this.c.network, peer);
    return s !== undefined && s.needsRekey(now, this.sealer.limits);
  }

  private snSession(): Session | undefined {
    return this.sealer.currentFor(this.c.network, SUPERNODE_ID);
  }

  private startPeer(peer: number, now: number): void {
    const k = this.peerKeys.get(peer);
    const sn = this.snSession();
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
    );
    if (!w.ok) return this.counters.add("hs_bad_peer_key");
    this.pending.set(keyId, { peer, state: w.state, at: now });
    this.out.push({ to: this.c.supernode, bytes: addHopTag(sn.hopTx, w.packet) });
    this.counters.add("hs_peer_sent");
  }

  private relayed(bytes: Uint8Array, type: number, sender: number, receiver: number, now: number) {
    const sn = this.snSession();
    if (sn === undefined) return this.counters.add("drop_no_supernode_session");
    let v: ReturnType<typeof checkVouch> = null;
    for (const c of this.sealer.hopCandidates(this.c.network, SUPERNODE_ID)) {
      v = checkVouch(c.hopRx, bytes);
      if (v !== null) break;
    }
    if (v === null) return this.counters.add("drop_bad_vouch");
    if (receiver !== this.ownId() || sender === 0) return this.counters.add("drop_not_for_us");
    if (type === SecType.HS_INIT) {
      if (!this.limiter.allow(`peer ${sender}`, now)) return this.counters.add("drop_rate_limited");
      const r = readInit(this.suite, this.c.staticKey, this.psk, v.inner);
      if (!r.ok) return this.counters.add(`drop_peer_hs_${r.reason}`);
      if (!this.suite.equal(r.remoteStatic, v.vouched)) {
        return this.counters.add("drop_not_vouched");
      }
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
      this.out.push({ to: this.c.supernode, bytes: addHopTag(sn.hopTx, w.packet) });
      this.counters.add("hs_peer_answered");
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
    if (this.sealer.seal(c) === "ok") this.out.push({ to: this.c.supernode, bytes: c });
    this.counters.add("hs_peer_done");
    this.events.push({
      type: "peer_session",
      peer: sender,
      key: fingerprint(p.state.rs),
      initiator: true,
    });
  }

  private sendToSupernode(m: SecMessage): void {
    const p = secPacket(m, {
      network: this.c.network,
      sender: this.ownId(),
      receiver: SUPERNODE_ID,
    }, false);
    if (this.sealer.seal(p) === "ok") this.out.push({ to: this.c.supernode, bytes: p });
  }

  /** Timers: supernode (re)handshakes, peer handshakes and re-keys, expiry. */
  poll(now: number): void {
    this.sealer.setNow(now);
    if (!this.started) return;
    this.sealer.sweep(now);
    const sn = this.snSession();
    const p = this.snPending;
    if (p !== null && now - p.at >= this.c.handshakeTimeoutMs) {
      this.snPending = null;
      this.counters.add("hs_no_answer");
      this.events.push({
        type: "no_answer",
        text: `no handshake answer from the supernode ${this.c.supernode} within ${
          this.c.handshakeTimeoutMs / 1000
        } s: check that it runs, its public key and the network secret`,
      });
    }
    const due = sn === undefined || sn.needsRekey(now, this.sealer.limits) ||
      now - sn.lastRx >= this.c.silenceMs;
    if (due && this.snPending === null && now >= this.nextSnAt) this.startSn(now);
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
      this.sendToSupernode({ kind: "peer_key_request", peer });
      this.counters.add("peer_key_requests");
    }
  }

  /** When `poll` should run next. */
  nextDeadline(): number {
    if (!this.started) return Infinity;
    let d = this.nextSnAt;
    const sn = this.snSession();
    if (sn !== undefined) {
      d = Math.min(
        Math.max(d, sn.createdAt + this.sealer.limits.rekeyAfterMs),
        Math.max(d, sn.lastRx + this.c.silenceMs),
      );
    }
    if (this.snPending !== null) d = Math.min(d, this.snPending.at + this.c.handshakeTimeoutMs);
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

  /** Sessions and counters. */
  status(): { ready: boolean; sessions: number; counters: Record<string, number> } {
    let sessions = 0;
    for (const _ of this.sealer.sessions()) sessions++;
    return {
      ready: this.ready(),
      sessions,
      counters: {
        ...this.counters.snapshot(),
        ...this.sealer.counters.snapshot(),
        ...this.limiter.counters.snapshot(),
      },
    };
  }
}
