/**
 * The federation state of one supernode (issue 17, docs/federation.md),
 * sans-IO: its federation peers and their liveness, and the table of where
 * every node of the federation is attached. Messages in, `now` in; what to
 * send (bodies for the caller to seal with the peer's session), which peers
 * to handshake with, events to act on and log, and `nextDeadline()` out.
 *
 * Peers (configured: id, key, endpoint):
 *
 * ```
 *              sessionUp / heard               silent downAfterMs (3 s)
 *  connecting ----------------------> up ------------------------------> down
 *   (handshake every retryMs)          ^  (FED_PING every pingIntervalMs) |
 *                                      +----------------------------------+
 *                                        sessionUp / heard (handshake every retryMs)
 * ```
 *
 * RTT comes from FED_PONG (it echoes the ping's time). On the way up the
 * table asks the peer for a full sync (FED_SYNC_REQ, repeated every
 * `syncRetryMs` until a complete sync came). A peer's FED_PING carries the
 * set of supernodes it has a session with, so a node attached at a peer this
 * supernode cannot reach is still routed through one that can (`transit`).
 *
 * Attachments: (network, node id) -> { at, allocator, key, endpoint, stamp,
 * learnedAt, staleSince }, local registrations (`attachLocal`, at = own id)
 * and remote ones (FED_ATTACH) in one table holding the one winning claim.
 * Claim rule for one node key: the newer stamp wins, on a tie the lower
 * supernode id. Two keys claiming one (network, id) are an id conflict: the
 * lower allocator wins, then the newer stamp, then the lower supernode id.
 * Every supernode applies the same rule, so all converge on one winner; a
 * supernode whose own registration loses gets a `local_lost` event and drops
 * it (the node moved, or must register again: NAK id_in_use); the table
 * sends FED_DETACH for it at once, so a peer that missed the winner's claim
 * does not keep routing to us.
 *
 * Update sequence: every FED_ATTACH / FED_DETACH this supernode sends
 * carries the next number of one sequence (all peers see the same numbers);
 * a full sync carries the last number sent. A receiver that sees a gap asks
 * for a full sync, and so does one whose FED_PING names a last number it
 * did not get (a lost last update, or a peer that restarted). A complete
 * sync replaces everything learned from that peer (entries it no longer
 * names are removed).
 *
 * Bounds (each refusal counted): remote attachments `maxAttachments` (65 536)
 * in all, `maxPerNetworkPerPeer` (4096) per network per peer; peers: 32.
 * Ageing: a peer's entries are marked stale when it goes down and removed
 * `staleDropMs` (60 s) later unless a newer claim, a FED_ATTACH or a sync
 * refreshed them; FED_DETACH and newer claims remove at once.
 *
 * Counters: fed_peer_up, fed_peer_down, fed_ping_sent, fed_pong_bad,
 * fed_attach_learned, fed_attach_refused_full, fed_attach_refused_network_full,
 * fed_claim_lost, fed_claim_won, fed_local_lost, fed_id_conflict,
 * fed_detach_removed, fed_detach_ignored, fed_seq_gap, fed_seq_old,
 * fed_sync_requested, fed_sync_done, fed_sync_removed, fed_sync_answered,
 * fed_sync_req_limited, fed_stale_dropped, fed_unknown_peer,
 * fed_attach_unencodable (a local registration the wire cannot carry),
 * fed_digest_count_mismatch.
 *
 * Not here: sessions and sealing (the secure layer), id bindings and
 * allocation (`fed_ids.ts`), member digests (`fed_digest.ts`), relaying and
 * introductions themselves (the supernode, using `route` and `relayTarget`).
 *
 * Files: the table's values (options, peers' status, events, outputs) in
 * `fed_types.ts`, a peer's state in `fed_peer.ts`, the claim rule in
 * `fed_claim.ts`.
 *
 * @module
 */
import { endpointEquals } from "../addr.ts";
import { Counters } from "./backlog.ts";
import { compareTimestamps } from "./init_timestamps.ts";
import {
  attachChunks,
  detachChunks,
  type FedAttachEntry,
  fedBody,
  type FedDetachEntry,
  type FedMessage,
  FedType,
  STAMP_LENGTH,
  supernodeIdOk,
} from "./fed_messages.ts";
import { MAX_ROSTER } from "./sec_messages.ts";
import {
  type Attachment,
  type ClaimSide,
  emptyOutput as out,
  type FederationConfig,
  type FedOutput,
  type FedPeerConfig,
  type FedPeerStatus,
  MAX_FED_PEERS,
  mergeOutput as merge,
  type PeerState,
  type Route,
} from "./fed_types.ts";
import { newPeer, type Peer } from "./fed_peer.ts";
import { claimWins, keysEqual } from "./fed_claim.ts";

export {
  type Attachment,
  type ClaimSide,
  type FederationConfig,
  type FedEvent,
  type FedOutput,
  type FedPeerConfig,
  type FedPeerStatus,
  type FedSend,
  MAX_FED_PEERS,
  type PeerState,
  type Route,
} from "./fed_types.ts";
export { claimWins } from "./fed_claim.ts";

interface Entry extends Attachment {
  /** Sync generation that last confirmed it (remote entries). */
  gen: number;
}

const UINT32 = 0x1_0000_0000;

/**
 * One supernode's federation: peers, their liveness and the attachment table.
 *
 * @example
 * ```ts
 * import { FederationTable } from "./federation.ts";
 * import { tai64n } from "./init_timestamps.ts";
 * const ip = new Uint8Array(16);
 * const t = new FederationTable({
 *   selfId: 1,
 *   peers: [{ id: 2, key: new Uint8Array(32), endpoint: { ip, port: 7654 } }],
 * });
 * t.poll(0).handshakes; // [2]
 * t.sessionUp(2, 10).sends.length; // 2: FED_SYNC_REQ and FED_PING
 * t.attachLocal(
 *   { network: 0, nodeId: 5, allocator: 1, key: new Uint8Array(32), endpoint: { ip, port: 1 }, stamp: tai64n(1) },
 *   20,
 * ).sends.length; // 1: FED_ATTACH to peer 2
 * t.route(0, 5); // { kind: "local" }
 * ```
 */
export class FederationTable {
  readonly counters: Counters = new Counters();
  readonly selfId: number;
  readonly #pingIntervalMs: number;
  readonly #downAfterMs: number;
  readonly #retryMs: number;
  readonly #staleDropMs: number;
  readonly #maxAttachments: number;
  readonly #maxPerNetworkPerPeer: number;
  readonly #syncRetryMs: number;
  readonly #syncAnswerMinMs: number;
  /** Configured peers by id. Bound: MAX_FED_PEERS. */
  readonly #peers = new Map<number, Peer>();
  /** network -> node id -> the winning claim. Bound: remote entries maxAttachments (local: the supernode's registrations). */
  readonly #entries = new Map<number, Map<number, Entry>>();
  /** Remote entries in all. */
  #remote = 0;
  /** peer * 65536 + network -> remote entries. */
  readonly #perNetPeer = new Map<number, number>();
  /** The next update seq we send (one sequence for every peer). */
  #nextSeq = 1;
  #gen = 0;
  /** When the next stale entry expires. */
  #staleSweepAt = Infinity;

  constructor(c: FederationConfig) {
    if (!supernodeIdOk(c.selfId)) throw new RangeError(`supernode id ${c.selfId} is not 1..255`);
    if (c.peers.length > MAX_FED_PEERS) {
      throw new RangeError(`at most ${MAX_FED_PEERS} federation peers, got ${c.peers.length}`);
    }
    this.selfId = c.selfId;
    this.#pingIntervalMs = c.pingIntervalMs ?? 1000;
    this.#downAfterMs = c.downAfterMs ?? 3000;
    this.#retryMs = c.retryMs ?? 1000;
    this.#staleDropMs = c.staleDropMs ?? 60_000;
    this.#maxAttachments = c.maxAttachments ?? 65_536;
    this.#maxPerNetworkPerPeer = c.maxPerNetworkPerPeer ?? 4096;
    this.#syncRetryMs = c.syncRetryMs ?? 1000;
    this.#syncAnswerMinMs = c.syncAnswerMinMs ?? 1000;
    for (const p of c.peers) {
      if (!supernodeIdOk(p.id) || p.id === c.selfId || this.#peers.has(p.id)) {
        throw new RangeError(`federation peer id ${p.id}: 1..255, distinct, not our own`);
      }
      this.#peers.set(p.id, newPeer(p));
    }
  }

  /** The configured peer `id`, or undefined. */
  peerConfig(id: number): FedPeerConfig | undefined {
    return this.#peers.get(id)?.cfg;
  }

  /** State of peer `id`, undefined when not configured. */
  peerState(id: number): PeerState | undefined {
    return this.#peers.get(id)?.state;
  }

  /** True when every configured peer is up (then `--id auto` may use any id). */
  allUp(): boolean {
    for (const p of this.#peers.values()) if (p.state !== "up") return false;
    return true;
  }

  /** Ids of the peers that are up, ascending. */
  upPeers(): number[] {
    return [...this.#peers.values()].filter((p) => p.state === "up").map((p) => p.cfg.id)
      .sort((a, b) => a - b);
  }

  /** A session with `peer` is confirmed (either side initiated) at `now`. */
  sessionUp(peer: number, now: number): FedOutput {
    const p = this.#peer(peer);
    const o = out();
    if (!p) return o;
    p.lastHeard = now;
    if (p.state !== "up") this.#up(p, now, o);
    return merge(o, this.#sendDue(p, now));
  }

  /** Any authenticated packet from `peer` at `now` (a sealed one opened with its session). */
  heard(peer: number, now: number): FedOutput {
    const p = this.#peer(peer);
    const o = out();
    if (!p) return o;
    p.lastHeard = Math.max(p.lastHeard, now);
    if (p.state !== "up") {
      this.#up(p, now, o);
      merge(o, this.#sendDue(p, now));
    }
    return o;
  }

  #up(p: Peer, now: number, o: FedOutput): void {
    p.state = "up";
    p.nextPingAt = now;
    p.syncWanted = true;
    p.nextSyncReqAt = now;
    p.expect = null;
    p.sync = null;
    this.counters.add("fed_peer_up");
    o.events.push({ kind: "peer_up", peer: p.cfg.id });
  }

  /**
   * A message from `peer` (authenticated by its session) at `now`: the
   * kinds this table handles (ping, pong, attach, detach, sync request);
   * others are the caller's (nothing is done with them here but `heard`).
   */
  receive(peer: number, m: FedMessage, now: number): FedOutput {
    const o = this.heard(peer, now);
    const p = this.#peers.get(peer);
    if (!p) return o;
    switch (m.kind) {
      case "fed_ping": {
        p.sees = new Set(m.upPeers);
        const body = fedBody({ kind: "fed_pong", seq: m.seq, time: m.time })!;
        o.sends.push({ peer, type: FedType.PONG, body });
        // Its last update number: a lost last update, or a restart, shows here.
        if (p.expect !== null && (m.updateSeq + 1) % UINT32 !== p.expect) {
          this.counters.add("fed_seq_gap");
          o.events.push({ kind: "sequence_gap", peer, expected: p.expect, got: m.updateSeq });
          p.expect = null;
          this.#wantSync(p);
          merge(o, this.#sendDue(p, now));
        }
        return o;
      }
      case "fed_pong": {
        const sample = ((now >>> 0) - m.time + UINT32) % UINT32;
        if (m.seq > p.pingSeq || p.pingSeq - m.seq > 16 || sample > 60_000) {
          this.counters.add("fed_pong_bad");
          return o;
        }
        p.lastRttMs = sample;
        p.rttMs = p.rttMs === null ? sample : Math.round((7 * p.rttMs + sample) / 8);
        return o;
      }
      case "fed_attach":
        return merge(o, this.#onAttach(p, m, now));
      case "fed_detach":
        return merge(o, this.#onDetach(p, m.seq, m.entries, now));
      case "fed_sync_req":
        return merge(o, this.#onSyncRequest(p, now));
      default:
        return o;
    }
  }

  /** Registers (or refreshes) our own registration of a node; announces it to up peers. */
  attachLocal(
    a: Omit<Attachment, "at" | "learnedAt" | "staleSince">,
    now: number,
  ): FedOutput & { accepted: boolean } {
    const o = out();
    const cur = this.#get(a.network, a.nodeId);
    const mine: Entry = {
      ...a,
      key: a.key.slice(),
      stamp: a.stamp.slice(0, STAMP_LENGTH),
      at: this.selfId,
      learnedAt: now,
      staleSince: null,
      gen: 0,
    };
    if (cur && cur.at !== this.selfId && !claimWins(mine, cur)) {
      this.#lost(mine, cur, o);
      return { ...o, accepted: false };
    }
    if (cur && cur.at !== this.selfId) {
      if (!keysEqual(cur.key, mine.key)) this.#conflict(mine, cur, o);
      this.#remove(cur);
    } else if (
      cur && keysEqual(cur.key, mine.key) && compareTimestamps(cur.stamp, mine.stamp) === 0 &&
      cur.allocator === mine.allocator && endpointEquals(cur.endpoint, mine.endpoint)
    ) return { ...o, accepted: true }; // nothing new: no announcement
    this.#set(mine);
    this.#announce([a], o);
    return { ...o, accepted: true };
  }

  /** Our registration of a node ended (deregistered, expired, lost): FED_DETACH to up peers. */
  detachLocal(network: number, nodeId: number): FedOutput {
    const o = out();
    const cur = this.#get(network, nodeId);
    if (!cur || cur.at !== this.selfId) return o;
    this.#remove(cur);
    this.#announceDetach(cur, o);
    return o;
  }

  #announceDetach(e: Entry, o: FedOutput): void {
    const d = { network: e.network, nodeId: e.nodeId, stamp: e.stamp };
    const { bodies } = detachChunks([d], this.#nextSeq);
    this.#nextSeq = (this.#nextSeq + bodies.length) % UINT32;
    for (const p of this.#peers.values()) {
      if (p.state !== "up") continue;
      for (const body of bodies) o.sends.push({ peer: p.cfg.id, type: FedType.DETACH, body });
    }
  }

  #announce(entries: FedAttachEntry[], o: FedOutput): void {
    const { bodies, skipped } = attachChunks(entries, this.#nextSeq, false);
    if (skipped > 0) this.counters.add("fed_attach_unencodable", skipped);
    this.#nextSeq = (this.#nextSeq + bodies.length) % UINT32;
    for (const p of this.#peers.values()) {
      if (p.state !== "up") continue;
      for (const body of bodies) o.sends.push({ peer: p.cfg.id, type: FedType.ATTACH, body });
    }
  }

  /** Where traffic for (network, node id) goes. */
  route(network: number, nodeId: number): Route {
    const e = this.#get(network, nodeId);
    if (!e) return { kind: "unknown" };
    if (e.at === this.selfId) return { kind: "local" };
    const p = this.#peers.get(e.at);
    if (p && p.state === "up") return { kind: "peer", peer: e.at };
    let via = -1, best = Infinity;
    for (const q of this.#peers.values()) {
      if (q.state !== "up" || !q.sees.has(e.at)) continue;
      const r = q.rttMs ?? 1e9;
      if (r < best) {
        best = r;
        via = q.cfg.id;
      }
    }
    return via >= 0 ? { kind: "transit", peer: e.at, via } : { kind: "stale", peer: e.at };
  }

  /**
   * What to do with a FED_RELAY for (network, receiver) that came from a
   * peer: deliver to our node, forward once (only when the sender allowed
   * transit, and never back into transit), or drop with a counter name.
   */
  relayTarget(
    network: number,
    receiver: number,
    transit: boolean,
  ): { kind: "deliver" } | { kind: "forward"; peer: number } | { kind: "drop"; reason: string } {
    const r = this.route(network, receiver);
    if (r.kind === "local") return { kind: "deliver" };
    if (transit && r.kind === "peer") return { kind: "forward", peer: r.peer };
    return { kind: "drop", reason: "fed_relay_not_here" };
  }

  /** The attachment of (network, node id), if known (do not modify). */
  attachment(network: number, nodeId: number): Readonly<Attachment> | undefined {
    return this.#get(network, nodeId);
  }

  /**
   * The ids a ROSTER to node `exclude` of `network` lists: every node of the
   * network attached anywhere in the federation, ascending, at most
   * MAX_ROSTER. Stale remote entries are included unless `includeStale` is
   * false (a node whose supernode we cannot reach may still be reachable
   * directly: see docs/federation.md, partial partitions); when over the
   * bound, local and fresh entries are kept before stale ones.
   */
  rosterIds(network: number, exclude: number, includeStale = true): number[] {
    const m = this.#entries.get(network);
    if (!m) return [];
    const fresh: number[] = [], stale: number[] = [];
    for (const e of m.values()) {
      if (e.nodeId === exclude) continue;
      if (e.at !== this.selfId && this.#isStale(e)) {
        if (includeStale) stale.push(e.nodeId);
      } else fresh.push(e.nodeId);
    }
    const pick = fresh.length >= MAX_ROSTER
      ? fresh.sort((a, b) => a - b).slice(0, MAX_ROSTER)
      : fresh.concat(stale.sort((a, b) => a - b).slice(0, MAX_ROSTER - fresh.length));
    return pick.sort((a, b) => a - b);
  }

  #isStale(e: Entry): boolean {
    return e.staleSince !== null || this.#peers.get(e.at)?.state !== "up";
  }

  /**
   * Our FED_DIGEST body: `members` (membersDigest, fed_digest.ts), our
   * `bindings` count, and the count of our local registrations (what a
   * peer's complete sync from us holds).
   */
  digestBody(members: Uint8Array, bindings: number): Uint8Array | null {
    return fedBody({ kind: "fed_digest", digest: members, bindings, attachments: this.localCount });
  }

  /**
   * A FED_DIGEST from `peer` at `now`, compared with our members digest
   * `ours`: `membersMatch` for the caller to log a mismatch (naming both
   * supernodes and both digests). When the peer's count of its own
   * registrations differs from what we hold from it (in step, no sync
   * pending), we ask for a full sync (`fed_digest_count_mismatch`): that
   * catches a divergence no update number shows.
   */
  digest(
    peer: number,
    m: Extract<FedMessage, { kind: "fed_digest" }>,
    ours: Uint8Array,
    now: number,
  ): FedOutput & { membersMatch: boolean } {
    const o = this.heard(peer, now);
    const p = this.#peers.get(peer);
    const membersMatch = keysEqual(m.digest, ours);
    if (!p) return { ...o, membersMatch };
    p.digestMatch = membersMatch;
    if (p.expect !== null && !p.syncWanted) {
      let held = 0;
      for (const map of this.#entries.values()) {
        for (const e of map.values()) if (e.at === peer) held++;
      }
      if (held !== m.attachments) {
        this.counters.add("fed_digest_count_mismatch");
        this.#wantSync(p);
        merge(o, this.#sendDue(p, now));
      }
    }
    return { ...o, membersMatch };
  }

  /** Every local registration, for a full sync (do not modify). */
  localAttachments(): Attachment[] {
    const res: Attachment[] = [];
    for (const m of this.#entries.values()) {
      for (const e of m.values()) if (e.at === this.selfId) res.push(e);
    }
    return res;
  }

  /** Remote entries held (all peers). */
  get remoteCount(): number {
    return this.#remote;
  }

  /** Local registrations held. */
  get localCount(): number {
    let n = 0;
    for (const m of this.#entries.values()) {
      for (const e of m.values()) if (e.at === this.selfId) n++;
    }
    return n;
  }

  /** Status of every peer, by id. */
  peers(): FedPeerStatus[] {
    const count = new Map<number, { n: number; s: number }>();
    for (const m of this.#entries.values()) {
      for (const e of m.values()) {
        if (e.at === this.selfId) continue;
        const c = count.get(e.at) ?? { n: 0, s: 0 };
        c.n++;
        if (this.#isStale(e)) c.s++;
        count.set(e.at, c);
      }
    }
    return [...this.#peers.values()].sort((a, b) => a.cfg.id - b.cfg.id).map((p) => ({
      id: p.cfg.id,
      state: p.state,
      rttMs: p.rttMs,
      lastRttMs: p.lastRttMs,
      lastHeard: Number.isFinite(p.lastHeard) ? p.lastHeard : null,
      attached: count.get(p.cfg.id)?.n ?? 0,
      stale: count.get(p.cfg.id)?.s ?? 0,
      digestMatch: p.digestMatch,
    }));
  }

  /** Timers at `now`: handshakes, pings, down transitions, sync requests, stale removal. */
  poll(now: number): FedOutput {
    const o = out();
    for (const p of this.#peers.values()) {
      if (p.state === "up" && now - p.lastHeard >= this.#downAfterMs) this.#down(p, now, o);
      if (p.state !== "up") {
        if (now >= p.nextHandshakeAt) {
          o.handshakes.push(p.cfg.id);
          p.nextHandshakeAt = now + this.#retryMs;
        }
        continue;
      }
      merge(o, this.#sendDue(p, now));
    }
    if (now >= this.#staleSweepAt) this.#sweep(now);
    return o;
  }

  /** When `poll` should run next (Infinity: nothing pending). */
  nextDeadline(): number {
    let t = this.#staleSweepAt;
    for (const p of this.#peers.values()) {
      if (p.state === "up") {
        t = Math.min(t, p.nextPingAt, p.lastHeard + this.#downAfterMs);
        if (p.syncWanted) t = Math.min(t, p.nextSyncReqAt);
      } else t = Math.min(t, p.nextHandshakeAt);
    }
    return t;
  }

  #sendDue(p: Peer, now: number): FedOutput {
    const o = out();
    if (p.syncWanted && now >= p.nextSyncReqAt) {
      o.sends.push({ peer: p.cfg.id, type: FedType.SYNC_REQ, body: new Uint8Array(0) });
      p.nextSyncReqAt = now + this.#syncRetryMs;
      this.counters.add("fed_sync_requested");
    }
    if (now >= p.nextPingAt) {
      p.pingSeq = (p.pingSeq + 1) % UINT32;
      const body = fedBody({
        kind: "fed_ping",
        seq: p.pingSeq,
        time: now >>> 0,
        updateSeq: (this.#nextSeq - 1 + UINT32) % UINT32,
        upPeers: this.upPeers(),
      })!;
      o.sends.push({ peer: p.cfg.id, type: FedType.PING, body });
      p.nextPingAt = now + this.#pingIntervalMs;
      this.counters.add("fed_ping_sent");
    }
    return o;
  }

  #down(p: Peer, now: number, o: FedOutput): void {
    p.state = "down";
    p.downSince = now;
    p.nextHandshakeAt = now;
    p.syncWanted = false;
    p.sync = null;
    p.expect = null;
    p.sees = new Set();
    this.counters.add("fed_peer_down");
    o.events.push({ kind: "peer_down", peer: p.cfg.id, silentMs: now - p.lastHeard });
    for (const m of this.#entries.values()) {
      for (const e of m.values()) {
        if (e.at === p.cfg.id && e.staleSince === null) e.staleSince = now;
      }
    }
    this.#staleSweepAt = Math.min(this.#staleSweepAt, now + this.#staleDropMs);
  }

  #sweep(now: number): void {
    let next = Infinity;
    for (const m of this.#entries.values()) {
      for (const e of [...m.values()]) {
        if (e.staleSince === null) continue;
        const due = e.staleSince + this.#staleDropMs;
        if (now >= due) {
          this.#remove(e);
          this.counters.add("fed_stale_dropped");
        } else next = Math.min(next, due);
      }
    }
    this.#staleSweepAt = next;
  }

  #seq(p: Peer, seq: number, o: FedOutput): void {
    if (p.expect === null) return; // a sync is pending: it sets the sequence
    const ahead = (seq - p.expect + UINT32) % UINT32;
    if (ahead === 0) {
      p.expect = (seq + 1) % UINT32;
    } else if (ahead < UINT32 / 2) {
      this.counters.add("fed_seq_gap");
      o.events.push({ kind: "sequence_gap", peer: p.cfg.id, expected: p.expect, got: seq });
      p.expect = (seq + 1) % UINT32;
      this.#wantSync(p);
    } else this.counters.add("fed_seq_old");
  }

  #wantSync(p: Peer): void {
    if (p.syncWanted) return;
    p.syncWanted = true;
    p.nextSyncReqAt = -Infinity;
  }

  #onAttach(p: Peer, m: Extract<FedMessage, { kind: "fed_attach" }>, now: number): FedOutput {
    const o = out();
    if (!m.sync) {
      this.#seq(p, m.seq, o);
      const gen = p.sync?.gen ?? 0;
      for (const e of m.entries) this.#claim(p, e, now, gen, o);
      return o;
    }
    let s = p.sync;
    if (!s || s.seq !== m.seq) {
      s = p.sync = { seq: m.seq, gen: ++this.#gen, got: new Set(), last: -1 };
    }
    for (const e of m.entries) this.#claim(p, e, now, s.gen, o);
    s.got.add(m.chunk);
    if (m.last) s.last = m.chunk;
    if (s.last < 0 || s.got.size !== s.last + 1) return o;
    // Complete: the sync is the peer's whole truth.
    let removed = 0, entries = 0;
    for (const map of this.#entries.values()) {
      for (const e of [...map.values()]) {
        if (e.at !== p.cfg.id) continue;
        if (e.gen !== s.gen) {
          this.#remove(e);
          removed++;
        } else entries++;
      }
    }
    p.expect = (s.seq + 1) % UINT32;
    p.syncWanted = false;
    p.sync = null;
    this.counters.add("fed_sync_done");
    this.counters.add("fed_sync_removed", removed);
    o.events.push({ kind: "sync_done", peer: p.cfg.id, entries, removed });
    return o;
  }

  #claim(p: Peer, a: FedAttachEntry, now: number, gen: number, o: FedOutput): void {
    const cur = this.#get(a.network, a.nodeId);
    const theirs: Entry = {
      ...a,
      at: p.cfg.id,
      learnedAt: now,
      staleSince: null,
      gen,
    };
    if (cur && cur.at === p.cfg.id && keysEqual(cur.key, a.key)) {
      // The same peer again: refresh, unless an older stamp came late.
      if (compareTimestamps(a.stamp, cur.stamp) < 0) {
        this.counters.add("fed_claim_lost");
        return;
      }
      Object.assign(cur, theirs);
      return;
    }
    if (cur && !claimWins(theirs, cur)) {
      this.counters.add("fed_claim_lost");
      if (!keysEqual(cur.key, a.key)) this.#conflict(cur, theirs, o);
      return;
    }
    if (!this.#room(p.cfg.id, a.network, cur)) return;
    if (cur) {
      this.counters.add("fed_claim_won");
      if (!keysEqual(cur.key, a.key)) this.#conflict(theirs, cur, o);
      this.#remove(cur);
      if (cur.at === this.selfId) {
        // Ours lost: say so, so that a peer that missed the winner's claim (a link
        // down between those two) does not keep routing here.
        this.#lost(cur, theirs, o);
        this.#announceDetach(cur, o);
      }
    }
    this.#set(theirs);
    this.counters.add("fed_attach_learned");
  }

  /** True when a new remote entry of `peer` in `network` fits (after `replacing` goes). */
  #room(peer: number, network: number, replacing: Entry | undefined): boolean {
    const freed = replacing && replacing.at !== this.selfId ? 1 : 0;
    const samePeerNet = freed === 1 && replacing!.at === peer ? 1 : 0;
    if (this.#remote - freed >= this.#maxAttachments) {
      this.counters.add("fed_attach_refused_full");
      return false;
    }
    if (
      (this.#perNetPeer.get(peer * 65536 + network) ?? 0) - samePeerNet >=
        this.#maxPerNetworkPerPeer
    ) {
      this.counters.add("fed_attach_refused_network_full");
      return false;
    }
    return true;
  }

  #lost(mine: Entry, winner: Entry, o: FedOutput): void {
    const conflict = !keysEqual(mine.key, winner.key);
    this.counters.add("fed_local_lost");
    o.events.push({
      kind: "local_lost",
      network: mine.network,
      nodeId: mine.nodeId,
      to: winner.at,
      conflict,
    });
  }

  #conflict(winner: Entry, loser: Entry, o: FedOutput): void {
    this.counters.add("fed_id_conflict");
    const side = (e: Entry): ClaimSide => ({ at: e.at, allocator: e.allocator, key: e.key });
    o.events.push({
      kind: "id_conflict",
      network: winner.network,
      nodeId: winner.nodeId,
      winner: side(winner),
      loser: side(loser),
    });
  }

  #onDetach(p: Peer, seq: number, entries: readonly FedDetachEntry[], _now: number): FedOutput {
    const o = out();
    this.#seq(p, seq, o);
    for (const d of entries) {
      const cur = this.#get(d.network, d.nodeId);
      if (cur && cur.at === p.cfg.id && compareTimestamps(cur.stamp, d.stamp) <= 0) {
        this.#remove(cur);
        this.counters.add("fed_detach_removed");
      } else this.counters.add("fed_detach_ignored");
    }
    return o;
  }

  #onSyncRequest(p: Peer, now: number): FedOutput {
    const o = out();
    if (now - p.lastSyncAnswerAt < this.#syncAnswerMinMs) {
      this.counters.add("fed_sync_req_limited");
      return o;
    }
    p.lastSyncAnswerAt = now;
    this.counters.add("fed_sync_answered");
    for (const body of this.syncChunks()) {
      o.sends.push({ peer: p.cfg.id, type: FedType.ATTACH, body });
    }
    return o;
  }

  /**
   * The FED_ATTACH bodies of a full sync of our local registrations: one
   * update seq (the last one sent), chunks numbered, the last flagged. The
   * caller sends FED_BIND chunks (`fed_ids.ts`) after them.
   */
  syncChunks(): Uint8Array[] {
    const seq = (this.#nextSeq - 1 + UINT32) % UINT32;
    return attachChunks(this.localAttachments(), seq, true).bodies;
  }

  #peer(id: number): Peer | undefined {
    const p = this.#peers.get(id);
    if (!p) this.counters.add("fed_unknown_peer");
    return p;
  }

  #get(network: number, nodeId: number): Entry | undefined {
    return this.#entries.get(network)?.get(nodeId);
  }

  #set(e: Entry): void {
    let m = this.#entries.get(e.network);
    if (!m) this.#entries.set(e.network, m = new Map());
    m.set(e.nodeId, e);
    if (e.at !== this.selfId) {
      this.#remote++;
      const k = e.at * 65536 + e.network;
      this.#perNetPeer.set(k, (this.#perNetPeer.get(k) ?? 0) + 1);
    }
  }

  #remove(e: Entry): void {
    const m = this.#entries.get(e.network);
    if (!m || m.get(e.nodeId) !== e) return;
    m.delete(e.nodeId);
    if (m.size === 0) this.#entries.delete(e.network);
    if (e.at !== this.selfId) {
      this.#remote--;
      const k = e.at * 65536 + e.network;
      const n = (this.#perNetPeer.get(k) ?? 1) - 1;
      if (n === 0) this.#perNetPeer.delete(k);
      else this.#perNetPeer.set(k, n);
    }
  }
}
