/**
 * The federation as a supernode runs it (issue 17, docs/federation.md),
 * sans-IO: sessions with the configured federation peers (the node <->
 * supernode handshake, header network 0xFFFF, sender = the initiator's
 * supernode id), sealed FED_* messages through `FederationTable`, and the
 * paths that cross supernodes: relay (FED_RELAY), introductions (FED_INTRO),
 * rosters and peer keys of nodes attached elsewhere.
 *
 * ```
 *  datagram with network 0xFFFF --> receive(from, bytes, now)
 *     HS_INIT  -> mac1, per-peer budget, Noise, key == the configured key of its id?
 *                   yes: HS_RESP, session (confirmed by its first sealed packet)
 *                   no:  HS_REJECT not_member, event "refused" (id, fingerprint)
 *     HS_RESP / HS_REJECT -> our pending HS_INIT to that peer
 *     0x30..0x38 -> open with the peer's session (replay window), parse,
 *                   FederationTable / relay / intro
 *  SupernodeCore / SecureSupernode hooks --> FED_ATTACH, FED_DETACH, FED_RELAY, FED_INTRO
 *  poll(now): handshakes (every 1 s while down, re-key at 120 s), pings, syncs
 * ```
 *
 * Federation sessions live in a sealer of their own: a node's packet can
 * never open with one, and no federation packet reaches the node layers.
 * Both sides initiate; each keeps the newest confirmed session as current and
 * opens packets under any live one until it expires.
 *
 * What a peer supernode says is trusted only as far as its session proves
 * it is that peer: it may route (attachments), never vouch. A relayed
 * handshake from a node attached elsewhere is vouched for here only when the
 * sender's key is on our own member list (open mode: any, as for local nodes).
 *
 * Bounded: peers (32, configured), attachments (`FederationTable`), pending
 * introductions (`FedIntros`, 1024), handshakes answered per peer (5 per
 * second), events and outgoing queues. Counters: see `status()`.
 *
 * Not done here: FED_BIND and federation-wide `--id auto` (fed_ids.ts is not
 * wired: ids are allocated per supernode; REGISTER_ACK names the allocator
 * the attachment table knows, else this supernode).
 *
 * @module
 */
import type { KeyedEndpoint } from "../addr.ts";
import { Backlog, Counters, type Outgoing } from "./backlog.ts";
import {
  Flag,
  HEADER_LENGTH,
  HOP_TAG_RESERVE,
  MAGIC,
  MAX_ENDPOINTS,
  TAG_LENGTH,
} from "./constants.ts";
import { type CryptoSuite, fingerprint, hex } from "./crypto_suite.ts";
import { addMacs, mac1Key, mac1Ok, MACS_LENGTH } from "./cookie.ts";
import { formatEndpoint, fromEndpoint, parseEndpoint, toEndpoint } from "./endpoint.ts";
import {
  FED_NETWORK,
  fedBody,
  type FedMessage,
  FedType,
  parseFedBody,
  STAMP_LENGTH,
} from "./fed_messages.ts";
import { FedIntros } from "./fed_intro.ts";
import { membersDigest } from "./fed_digest.ts";
import {
  FederationTable,
  type FedEvent,
  type FedOutput,
  type FedPeerConfig,
  type FedPeerStatus,
} from "./federation.ts";
import {
  answeredKeyId,
  INIT_LENGTH,
  type InitiatorState,
  readInit,
  readReject,
  readResp,
  RejectCode,
  SecType,
  type StaticKey,
  writeInit,
  writeReject,
  writeResp,
} from "./handshake.ts";
import { checkHeader, emitHeader, HDR } from "./header.ts";
import { InitClock, tai64n, TimestampTable } from "./init_timestamps.ts";
import type { Members } from "./members.ts";
import { SecureSealer } from "./secure_sealer.ts";
import { Session, type SessionLimits } from "./session_keys.ts";
import { TokenBucket } from "../token_bucket.ts";

/** A configured federation peer with its address interned. */
export interface FedPeer extends FedPeerConfig {
  endpoint: KeyedEndpoint;
}

/** Options of `SupernodeFederation`. */
export interface SupernodeFederationConfig {
  suite: CryptoSuite;
  staticKey: StaticKey;
  selfId: number;
  peers: readonly FedPeer[];
  /** Our member list: digests, and which keys we vouch for. */
  members: Members;
  limits?: SessionLimits;
  /** Liveness and table options (tests shorten them). */
  pingIntervalMs?: number;
  downAfterMs?: number;
  retryMs?: number;
}

/** What the supernode layers offer the federation (set by the engine). */
export interface FedLocal {
  /** Where a node registered here is (null: not registered here). */
  endpointOf(network: number, node: number): KeyedEndpoint | null;
  /** Its candidate endpoints (public first), for introductions. */
  candidatesOf(network: number, node: number): string[];
  /** Sends PEER_INTRO(peer, endpoints) to our node. */
  introduce(network: number, node: number, peer: number, endpoints: string[], now: number): void;
  /** Ends our registration of a node (it moved, or lost an id conflict). */
  drop(network: number, node: number, conflict: boolean, now: number): void;
  /** A relayed handshake for our node: adds our vouch for `senderKey` and sends it (false: cannot). */
  vouchAndSend(
    network: number,
    receiver: number,
    inner: Uint8Array,
    senderKey: Uint8Array,
    now: number,
  ): boolean;
}

/** What the federation reports for the log. */
export type SupernodeFedEvent =
  | { type: "peer_up"; peer: number; key: string }
  | { type: "peer_down"; peer: number; key: string; silentMs: number }
  | { type: "refused"; peer: number; key: string; endpoint: string; text: string }
  | { type: "rejected_by_peer"; peer: number; key: string; reason: string }
  | { type: "handshake_failed"; endpoint: string; reason: string }
  | { type: "moved"; network: number; node: number; to: number; conflict: boolean }
  | { type: "id_conflict"; network: number; node: number; winner: number; loser: number }
  | { type: "digest_mismatch"; self: number; peer: number; ours: string; theirs: string }
  | { type: "sync_done"; peer: number; entries: number; removed: number };

/** One federation peer in `/status`. */
export interface FedPeerReport extends FedPeerStatus {
  key: string;
  endpoint: string;
  relayedTo: number;
  relayedFrom: number;
  sessions: number;
}

interface PeerIo {
  cfg: FedPeer;
  pending: { state: InitiatorState; at: number } | null;
  budget: TokenBucket;
  relayedTo: number;
  relayedFrom: number;
  /** Our relayed handshakes / confirms / data to it (packets). */
}

const PSK = new Uint8Array(32);
const REJECT_TEXT_FED =
  "the initiator's key is not the key configured for that federation peer id (or the id is not configured)";

/**
 * The federation side of one supernode.
 *
 * @example
 * ```ts
 * // const fed = new SupernodeFederation({ suite, staticKey, selfId: 1, peers, members });
 * // fed.local = { endpointOf, candidatesOf, introduce, drop, vouchAndSend };
 * // if (SupernodeFederation.isFederation(bytes)) fed.receive(from, bytes, now, wall);
 * ```
 */
export class SupernodeFederation {
  readonly table: FederationTable;
  readonly intros: FedIntros = new FedIntros();
  readonly sealer: SecureSealer;
  readonly counters: Counters = new Counters();
  local: FedLocal | null = null;
  readonly #suite: CryptoSuite;
  readonly #key: StaticKey;
  readonly #selfId: number;
  readonly #members: Members;
  readonly #mac1key: Uint8Array;
  readonly #clock = new InitClock();
  /** Newest HS_INIT timestamp per peer key. Bound: the configured peers. */
  readonly #timestamps = new TimestampTable(64);
  /** Configured peers by id. Bound: 32. */
  readonly #peers = new Map<number, PeerIo>();
  readonly #out: Backlog<Outgoing> = new Backlog(65_536);
  readonly #events: Backlog<SupernodeFedEvent> = new Backlog(4096);
  readonly #eventBudget: TokenBucket;
  #digest: Uint8Array;
  /** Last mismatch logged per peer (backing off: once per 60 s). */
  readonly #mismatchLogged = new Map<number, number>();

  constructor(c: SupernodeFederationConfig, now: number) {
    this.#suite = c.suite;
    this.#key = c.staticKey;
    this.#selfId = c.selfId;
    this.#members = c.members;
    this.#mac1key = mac1Key(c.suite, c.staticKey.publicKey);
    this.#eventBudget = new TokenBucket({ rate: 20, burst: 20 }, now);
    this.table = new FederationTable({
      selfId: c.selfId,
      peers: c.peers,
      pingIntervalMs: c.pingIntervalMs,
      downAfterMs: c.downAfterMs,
      retryMs: c.retryMs,
    });
    this.sealer = new SecureSealer({ suite: c.suite, role: "node", limits: c.limits });
    for (const p of c.peers) {
      this.#peers.set(p.id, {
        cfg: p,
        pending: null,
        budget: new TokenBucket({ rate: 5, burst: 5 }, now),
        relayedTo: 0,
        relayedFrom: 0,
      });
    }
    this.#digest = membersDigest(c.members.mode, c.members.listed(), c.suite);
  }

  /** True for a datagram of the federation (header network 0xFFFF). */
  static isFederation(bytes: Uint8Array): boolean {
    return bytes.length >= HEADER_LENGTH && bytes[HDR.MAGIC] === MAGIC &&
      bytes[HDR.NETWORK] === 0xff && bytes[HDR.NETWORK + 1] === 0xff;
  }

  /** The member list changed (SIGHUP): a new digest, sent to every up peer. */
  membersChanged(now: number): void {
    this.#digest = membersDigest(this.#members.mode, this.#members.listed(), this.#suite);
    for (const id of this.table.upPeers()) this.#sendDigest(id, now);
  }

  // ---- datagrams -------------------------------------------------------

  /** One datagram with header network 0xFFFF. Never throws on its content. */
  receive(from: KeyedEndpoint, bytes: Uint8Array, now: number, wall: number): void {
    const hd = checkHeader(bytes);
    if (!hd.ok) return this.counters.add(`fed_drop_${hd.reason}`);
    const h = hd.value;
    switch (h.type) {
      case SecType.HS_INIT:
        return this.#handshake(from, bytes, h.sender, now);
      case SecType.HS_RESP:
      case SecType.HS_REJECT:
        return this.#answer(bytes, h.type, h.sender, now, wall);
      default:
        if (h.type < 0x30 || h.type > 0x38) return this.counters.add("fed_drop_unexpected_type");
        return this.#sealed(from, bytes, h.sender, h.type, now);
    }
  }

  #handshake(from: KeyedEndpoint, bytes: Uint8Array, sender: number, now: number): void {
    if (bytes.length !== INIT_LENGTH + MACS_LENGTH) return this.counters.add("fed_hs_bad_length");
    if (!mac1Ok(this.#suite, this.#mac1key, bytes)) return this.counters.add("fed_hs_bad_mac1");
    const p = this.#peers.get(sender);
    // Budget before any X25519: 5 per second per configured id; unknown ids cost one lookup.
    if (p !== undefined && !p.budget.take(now)) return this.counters.add("fed_hs_rate_limited");
    if (p === undefined && !this.#eventBudget.take(now)) {
      return this.counters.add("fed_hs_rate_limited");
    }
    const r = readInit(this.#suite, this.#key, PSK, bytes.subarray(0, INIT_LENGTH));
    if (!r.ok) {
      this.counters.add(`fed_hs_failed_${r.reason}`);
      return this.#event({ type: "handshake_failed", endpoint: from.key, reason: r.reason }, now);
    }
    const st = r.state;
    const a = { network: FED_NETWORK, sender: this.#selfId, receiver: sender, keyId: 0 };
    if (p === undefined || !this.#suite.equal(p.cfg.key, r.remoteStatic)) {
      this.counters.add("fed_hs_refused");
      this.#out.push({ to: from, bytes: writeReject(st, a, RejectCode.NOT_MEMBER) });
      return this.#event({
        type: "refused",
        peer: sender,
        key: fingerprint(r.remoteStatic),
        endpoint: from.key,
        text: REJECT_TEXT_FED,
      }, now);
    }
    if (!this.#timestamps.isNewer(r.remoteStatic, st.timestamp)) {
      return this.counters.add("fed_hs_replay");
    }
    a.keyId = this.sealer.newKeyId();
    const e = this.#ephemeral();
    const w = writeResp(this.#suite, st, a, e);
    e.privateKey.fill(0);
    if (!w.ok) return this.counters.add("fed_hs_failed_bad_dh");
    this.#timestamps.accept(r.remoteStatic, st.timestamp);
    this.sealer.install(
      new Session(this.#suite, {
        network: FED_NETWORK,
        peer: sender,
        localKeyId: a.keyId,
        remoteKeyId: st.initiatorKeyId,
        remoteStatic: r.remoteStatic,
        initiator: false,
        secrets: w.secrets,
        now,
        addr: p.cfg.endpoint,
      }),
    );
    this.counters.add("fed_hs_answered");
    this.#out.push({ to: from, bytes: w.packet });
  }

  #answer(bytes: Uint8Array, type: number, sender: number, now: number, _wall: number): void {
    const p = this.#peers.get(sender);
    const pend = p?.pending;
    if (!p || !pend || answeredKeyId(bytes) !== pend.state.keyId) {
      return this.counters.add("fed_drop_unexpected_answer");
    }
    if (type === SecType.HS_REJECT) {
      const r = readReject(pend.state, bytes);
      if (!r.ok) return this.counters.add(`fed_drop_reject_${r.reason}`);
      p.pending = null;
      this.counters.add("fed_rejected_by_peer");
      return this.#event({
        type: "rejected_by_peer",
        peer: sender,
        key: fingerprint(p.cfg.key),
        reason: r.reason,
      }, now);
    }
    const r = readResp(this.#suite, pend.state, bytes);
    if (!r.ok) return this.counters.add(`fed_drop_resp_${r.reason}`);
    p.pending = null;
    pend.state.e.privateKey.fill(0);
    this.sealer.install(
      new Session(this.#suite, {
        network: FED_NETWORK,
        peer: sender,
        localKeyId: pend.state.keyId,
        remoteKeyId: r.keyId,
        remoteStatic: p.cfg.key,
        initiator: true,
        secrets: r.secrets,
        now,
        addr: p.cfg.endpoint,
      }),
    );
    this.counters.add("fed_hs_completed");
    this.#apply(this.table.sessionUp(sender, now), now);
  }

  #sealed(from: KeyedEndpoint, bytes: Uint8Array, sender: number, type: number, now: number): void {
    const p = this.#peers.get(sender);
    if (p === undefined) return this.counters.add("fed_drop_unknown_peer");
    const r = this.sealer.open(bytes, now, from.key);
    if (r !== "ok") return this.counters.add(`fed_drop_${r}`);
    const m = parseFedBody(type, bytes.subarray(HEADER_LENGTH, bytes.length - TAG_LENGTH));
    if (!m.ok) {
      this.#apply(this.table.heard(sender, now), now);
      return this.counters.add(`fed_drop_${m.reason}`);
    }
    this.counters.add("fed_rx");
    const v = m.value;
    switch (v.kind) {
      case "fed_relay":
        this.#apply(this.table.heard(sender, now), now);
        return this.#relayIn(p, v, now);
      case "fed_intro":
        this.#apply(this.table.heard(sender, now), now);
        return this.#introIn(sender, v, now);
      case "fed_digest": {
        const d = this.table.digest(sender, v, this.#digest, now);
        if (!d.membersMatch) this.#mismatch(sender, v.digest, now);
        return this.#apply(d, now);
      }
      case "fed_bind":
        this.counters.add("fed_bind_ignored");
        return this.#apply(this.table.heard(sender, now), now);
      default:
        return this.#apply(this.table.receive(sender, v, now), now);
    }
  }

  #mismatch(peer: number, theirs: Uint8Array, now: number): void {
    this.counters.add("fed_digest_mismatch");
    const last = this.#mismatchLogged.get(peer);
    if (last !== undefined && now - last < 60_000) return;
    this.#mismatchLogged.set(peer, now);
    this.#event(
      {
        type: "digest_mismatch",
        self: this.#selfId,
        peer,
        ours: hex(this.#digest.subarray(0, 4)),
        theirs: hex(theirs.subarray(0, 4)),
      },
      now,
      true,
    );
  }

  // ---- relay -------------------------------------------------------------

  /**
   * A node packet for `receiver`, not registered here, already authenticated
   * by the ingress checks (hop trailer): FED_RELAY to the supernode it is
   * attached at (or through a transit peer). With `trailer`, a packet with
   * flag HOP_TAG still carries its hop trailer (removed here, with the
   * flag); without, it was removed already (a relayed handshake). False
   * when the federation does not know the receiver.
   */
  relayOut(
    network: number,
    receiver: number,
    packet: Uint8Array,
    now: number,
    trailer = true,
  ): boolean {
    const route = this.table.route(network, receiver);
    let to: number, transit = false;
    if (route.kind === "peer") to = route.peer;
    else if (route.kind === "transit") {
      to = route.via;
      transit = true;
    } else {
      if (route.kind === "stale") this.counters.add("fed_peer_down");
      return false;
    }
    const inner = trailer ? stripHop(packet) : packet;
    const body = fedBody({
      kind: "fed_relay",
      transit,
      packet: inner,
      network,
      sender: 0,
      receiver,
    });
    if (body === null) {
      this.counters.add("fed_relay_bad_inner");
      return true;
    }
    if (this.#send(to, FedType.RELAY, body, now)) {
      this.#peers.get(to)!.relayedTo++;
      this.counters.add("fed_relayed_out");
    }
    return true;
  }

  #relayIn(p: PeerIo, m: Extract<FedMessage, { kind: "fed_relay" }>, now: number): void {
    const t = this.table.relayTarget(m.network, m.receiver, m.transit);
    if (t.kind === "drop") return this.counters.add(t.reason);
    if (t.kind === "forward") {
      const body = fedBody({ ...m, transit: false });
      if (body !== null && this.#send(t.peer, FedType.RELAY, body, now)) {
        this.counters.add("fed_relay_forwarded");
      }
      return;
    }
    const type = m.packet[2];
    p.relayedFrom++;
    if (type >= SecType.HS_INIT && type <= SecType.HS_REJECT) {
      // A relayed handshake: our vouch, only for a key of our own member list.
      const sender = this.table.attachment(m.network, m.sender);
      if (sender === undefined || sender.at !== p.cfg.id) {
        return this.counters.add("fed_relay_unknown_sender");
      }
      if (this.#members.mode !== "open" && this.#members.member(sender.key) === undefined) {
        return this.counters.add("fed_relay_not_vouched");
      }
      if (this.local?.vouchAndSend(m.network, m.receiver, m.packet, sender.key, now)) {
        this.counters.add("fed_relayed_in_handshakes");
      }
      return;
    }
    const ep = this.local?.endpointOf(m.network, m.receiver) ?? null;
    if (ep === null) return this.counters.add("fed_relay_not_here");
    this.#out.push({ to: ep, bytes: m.packet.slice() });
    this.counters.add("fed_relayed_in");
  }

  /** The key of a node attached at a peer, when we vouch for it (our member list). */
  remoteKey(network: number, node: number): Uint8Array | undefined {
    const a = this.table.attachment(network, node);
    if (a === undefined || a.at === this.#selfId) return undefined;
    if (this.#members.mode !== "open" && this.#members.member(a.key) === undefined) {
      this.counters.add("fed_peer_key_not_vouched");
      return undefined;
    }
    return a.key;
  }

  /** Nodes of `network` attached at peers (stale included), for rosters. */
  remoteIds(network: number): number[] {
    const out: number[] = [];
    for (const id of this.table.rosterIds(network, -1)) {
      const a = this.table.attachment(network, id);
      if (a !== undefined && a.at !== this.#selfId) out.push(id);
    }
    return out;
  }

  // ---- introductions -----------------------------------------------------

  /** PEER_REQUEST of our `node` for `target` attached at a peer: FED_INTRO. False: unknown here. */
  introduceOut(network: number, node: number, target: number, now: number): boolean {
    const r = this.table.route(network, target);
    if (r.kind !== "peer") return false;
    if (!this.intros.request(network, node, target, r.peer, now)) return true;
    const endpoints = this.#endpoints(this.local?.candidatesOf(network, node) ?? []);
    const body = fedBody({
      kind: "fed_intro",
      answer: false,
      network,
      requester: node,
      target,
      endpoints,
    });
    if (body !== null) this.#send(r.peer, FedType.INTRO, body, now);
    return true;
  }

  #introIn(peer: number, m: Extract<FedMessage, { kind: "fed_intro" }>, now: number): void {
    const texts = m.endpoints.map((e) => formatEndpoint(fromEndpoint(e))).slice(0, MAX_ENDPOINTS);
    if (m.answer) {
      if (!this.intros.answer(m.network, m.requester, m.target, peer, now)) return;
      if (this.local?.endpointOf(m.network, m.requester) == null) return;
      this.local.introduce(m.network, m.requester, m.target, texts, now);
      return;
    }
    // A request: the requester must be attached at the asking peer, the target here.
    const a = this.table.attachment(m.network, m.requester);
    if (a === undefined || a.at !== peer) return this.counters.add("fed_intro_bad_requester");
    if (this.local?.endpointOf(m.network, m.target) == null) {
      return this.counters.add("fed_intro_not_here");
    }
    if (!this.intros.incoming(m.network, m.requester, m.target, now)) return;
    this.local.introduce(m.network, m.target, m.requester, texts, now);
    const body = fedBody({
      kind: "fed_intro",
      answer: true,
      network: m.network,
      requester: m.requester,
      target: m.target,
      endpoints: this.#endpoints(this.local.candidatesOf(m.network, m.target)),
    });
    if (body !== null) this.#send(peer, FedType.INTRO, body, now);
  }

  #endpoints(texts: string[]) {
    const out = [];
    for (const t of texts.slice(0, MAX_ENDPOINTS)) {
      const w = parseEndpoint(t);
      if (w !== null) out.push(toEndpoint(w));
    }
    return out;
  }

  // ---- attachments -------------------------------------------------------

  /** Our node registered (or re-registered): FED_ATTACH when new or changed. */
  attached(
    network: number,
    node: number,
    key: Uint8Array,
    stamp: Uint8Array,
    endpoint: KeyedEndpoint,
    now: number,
  ): boolean {
    const o = this.table.attachLocal({
      network,
      nodeId: node,
      allocator: this.allocator(network, node, key),
      key,
      endpoint: { ip: endpoint.ip, port: endpoint.port },
      stamp: stamp.length === STAMP_LENGTH ? stamp : tai64n(0),
    }, now);
    this.#apply(o, now);
    return o.accepted;
  }

  /** Our registration of a node ended: FED_DETACH. */
  detached(network: number, node: number, now: number): void {
    this.#apply(this.table.detachLocal(network, node), now);
  }

  /** The allocator of a node's id as the federation knows it (else us). */
  allocator(network: number, node: number, key: Uint8Array): number {
    const a = this.table.attachment(network, node);
    return a !== undefined && this.#suite.equal(a.key, key) ? a.allocator : this.#selfId;
  }

  // ---- timers and output -------------------------------------------------

  /** Timers: handshakes with peers that are down, re-keys, pings, syncs. */
  poll(now: number, wall: number): void {
    const o = this.table.poll(now);
    for (const id of o.handshakes) this.#initiate(id, now, wall);
    o.handshakes = [];
    this.#apply(o, now);
    for (const p of this.#peers.values()) {
      const s = this.sealer.currentSession(FED_NETWORK, p.cfg.id);
      if (
        s !== undefined && s.initiator && s.needsRekey(now, this.sealer.limits) &&
        (p.pending === null || now - p.pending.at >= 1000)
      ) {
        this.#initiate(p.cfg.id, now, wall);
      }
    }
    this.sealer.sweep(now);
  }

  nextDeadline(): number {
    return this.table.nextDeadline();
  }

  #initiate(id: number, now: number, wall: number): void {
    const p = this.#peers.get(id);
    if (!p) return;
    if (p.pending !== null) p.pending.state.e.privateKey.fill(0);
    const keyId = this.sealer.newKeyId();
    const w = writeInit(
      this.#suite,
      { network: FED_NETWORK, sender: this.#selfId, receiver: id, keyId },
      this.#key,
      p.cfg.key,
      PSK,
      this.#ephemeral(),
      this.#clock.next(wall),
    );
    if (!w.ok) return this.counters.add("fed_hs_bad_peer_key");
    p.pending = { state: w.state, at: now };
    this.#out.push({
      to: p.cfg.endpoint,
      bytes: addMacs(this.#suite, mac1Key(this.#suite, p.cfg.key), w.packet, null),
    });
    this.counters.add("fed_hs_sent");
  }

  #ephemeral(): StaticKey {
    const privateKey = new Uint8Array(32);
    this.#suite.randomBytes(privateKey);
    return { privateKey, publicKey: this.#suite.x25519Public(privateKey) };
  }

  #send(peer: number, type: number, body: Uint8Array, now: number): boolean {
    const p = this.#peers.get(peer);
    if (p === undefined) return false;
    const packet = new Uint8Array(HEADER_LENGTH + body.length + TAG_LENGTH);
    emitHeader({
      type,
      flags: 0,
      network: FED_NETWORK,
      sender: this.#selfId,
      receiver: peer,
      keyId: 0,
      counter: 0,
    }, packet);
    packet.set(body, HEADER_LENGTH);
    const r = this.sealer.seal(packet, now);
    if (r !== "ok") {
      this.counters.add(`fed_tx_${r}`);
      return false;
    }
    this.counters.add("fed_tx");
    return this.#out.push({ to: p.cfg.endpoint, bytes: packet });
  }

  #sendDigest(peer: number, now: number): void {
    const body = this.table.digestBody(this.#digest, this.#members.bindingCount);
    if (body !== null) this.#send(peer, FedType.DIGEST, body, now);
  }

  #apply(o: FedOutput, now: number): void {
    for (const s of o.sends) this.#send(s.peer, s.type, s.body, now);
    for (const ev of o.events) this.#onEvent(ev, now);
  }

  #onEvent(ev: FedEvent, now: number): void {
    const key = (id: number) => {
      const k = this.#peers.get(id)?.cfg.key;
      return k ? fingerprint(k) : "";
    };
    switch (ev.kind) {
      case "peer_up":
        this.#sendDigest(ev.peer, now);
        // Everything local, for a peer that came (back): the table sends the
        // sync only on request; it asked for ours on its side too.
        return this.#event({ type: "peer_up", peer: ev.peer, key: key(ev.peer) }, now, true);
      case "peer_down":
        return this.#event(
          {
            type: "peer_down",
            peer: ev.peer,
            key: key(ev.peer),
            silentMs: ev.silentMs,
          },
          now,
          true,
        );
      case "local_lost":
        this.local?.drop(ev.network, ev.nodeId, ev.conflict, now);
        return this.#event({
          type: "moved",
          network: ev.network,
          node: ev.nodeId,
          to: ev.to,
          conflict: ev.conflict,
        }, now);
      case "id_conflict":
        return this.#event(
          {
            type: "id_conflict",
            network: ev.network,
            node: ev.nodeId,
            winner: ev.winner.at,
            loser: ev.loser.at,
          },
          now,
          true,
        );
      case "sync_done":
        return this.#event({
          type: "sync_done",
          peer: ev.peer,
          entries: ev.entries,
          removed: ev.removed,
        }, now);
      case "sequence_gap":
        return;
    }
  }

  #event(ev: SupernodeFedEvent, now: number, always = false): void {
    if (!always && !this.#eventBudget.take(now)) return this.counters.add("fed_events_suppressed");
    this.#events.push(ev);
  }

  /** Datagrams to send. */
  takeOutgoing(): Outgoing[] {
    return this.#out.take();
  }

  /** Events since the last call. */
  takeEvents(): SupernodeFedEvent[] {
    return this.#events.take();
  }

  /** Per peer, for /status. */
  peers(): FedPeerReport[] {
    return this.table.peers().map((s) => {
      const p = this.#peers.get(s.id)!;
      let sessions = 0;
      for (const x of this.sealer.sessions()) if (x.peer === s.id) sessions++;
      return {
        ...s,
        key: fingerprint(p.cfg.key),
        endpoint: p.cfg.endpoint.key,
        relayedTo: p.relayedTo,
        relayedFrom: p.relayedFrom,
        sessions,
      };
    });
  }

  /** Counters of the federation, its table, sessions and introductions. */
  status(): { remote: number; local: number; counters: Record<string, number> } {
    return {
      remote: this.table.remoteCount,
      local: this.table.localCount,
      counters: {
        ...this.counters.snapshot(),
        ...this.table.counters.snapshot(),
        ...this.intros.counters.snapshot(),
        ...prefixed(this.sealer.counters.snapshot()),
        fed_outgoing_dropped: this.#out.dropped,
        fed_events_dropped: this.#events.dropped,
      },
    };
  }
}

function prefixed(c: Record<string, number>): Record<string, number> {
  const o: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) o[`fed_${k}`] = v;
  return o;
}

/** `packet` without its hop trailer and flag (the e2e tag does not cover the flag). */
function stripHop(packet: Uint8Array): Uint8Array {
  if ((packet[HDR.FLAGS] & Flag.HOP_TAG) === 0) return packet;
  const out = packet.slice(0, packet.length - HOP_TAG_RESERVE);
  out[HDR.FLAGS] &= ~Flag.HOP_TAG;
  return out;
}
