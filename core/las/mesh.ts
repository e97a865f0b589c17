/**
 * The LAS mesh (issue 18, docs/las-redundancy.md "Mesh"): control
 * connections to the other LAS servers of `peers:` and one session per VC id
 * present on either side, so every VC's virtual switch spans all servers.
 * Sans-IO: the engine (core/las/engine.ts) hands it the endpoints' events
 * and `now`; it dials, opens, signals and closes through the endpoints
 * (`MeshHost`), and says when it next has work.
 *
 * ```
 *  no connection --dial (SCCRQ, Host Name l2-las/<router id>)--> connecting --up--> up
 *        ^   back-off 1, 2, 4, 8 s                                 |                |
 *        '------------------ connection-down ----------------------+----------------'
 *
 *  per VC, on an up connection:
 *   first local edge --ICRQ (Remote End ID = VC id)--> session up --SLI A=1/0--> peer
 *   no edges here and the peer says A=0 for `teardownMs` --CDN--> gone
 * ```
 *
 * - Which connections are the mesh: one we dialed to a configured peer, or
 *   one a configured peer address dialed with a Host Name starting
 *   `l2-las/`. The engine refuses a mesh without a shared secret, so every
 *   such connection is authenticated (Message Digest) before it counts.
 * - Who dials: a server dials a peer it has no connection with, unless it
 *   learned (from the Router ID of an earlier connection) that the peer's
 *   Router ID is lower: then it only answers, and dials itself only when
 *   the peer has been silent for `ANSWER_GRACE_MS`. When both dial at once
 *   (both start together) and two connections come up, the one dialed by the
 *   lower Router ID stays and the other is closed with StopCCN.
 * - Session glare (both sides send ICRQ for one VC at once): the ICRQ of the
 *   lower Router ID wins; the higher side takes it and closes its own with
 *   CDN, the lower side refuses the other's.
 * - Circuit Status: after a session comes up each side sends SLI with A=1
 *   when it has local edges on the VC, A=0 when not, and again on every
 *   change; the session is closed when both say "none" for `teardownMs`.
 *
 * Bounded: peers by the configuration; VC entries per peer by the sessions
 * of its one connection (the endpoint's per-connection limits); a failed
 * open is retried at most once a second per peer.
 *
 * @module
 */
import type { L2tpEndpoint } from "../l2tp/endpoint.ts";
import type { Transport } from "../l2tp/control_message.ts";
import type { SessionInfo } from "../l2tp/session.ts";
import type { Endpoint } from "../addr.ts";
import type { EngineLog } from "../engine.ts";
import { vcKey } from "./switchboard.ts";

/** A configured peer LAS. */
export interface MeshPeerConfig {
  /** As the endpoint names it: "198.51.100.2" over IP, "198.51.100.2:1701" over UDP. */
  name: string;
  transport: Transport;
  to: Endpoint;
}

/** Longest wait between dials, ms (1, 2, 4, 8 s). */
export const MAX_DIAL_BACKOFF_MS = 8000;
/** The higher Router ID dials a silent peer itself after this long, ms. */
export const ANSWER_GRACE_MS = 30_000;
/** A refused or failed session open is retried after this long, ms, doubling to `MAX_RETRY_MS`. */
export const RETRY_MS = 1000;
/** Longest wait before retrying a session the peer keeps refusing, ms. */
export const MAX_RETRY_MS = 60_000;
/**
 * Two mesh connections with one peer that came up within this long of each
 * other were dialed at once (both sides started together); a connection
 * that comes up later than this after the one in use means the peer lost
 * that one (it restarted), ms.
 */
export const DUPLICATE_WINDOW_MS = 5000;
/** Default: a session whose VC has no edges on either side is closed after this long, ms. */
export const DEFAULT_TEARDOWN_MS = 30_000;
/** The Host Name prefix of a LAS dialing a peer LAS. */
export const MESH_HOST_PREFIX = "l2-las/";

/** What the mesh asks of the engine. */
export interface MeshHost {
  endpoint(t: Transport): L2tpEndpoint | null;
  /** Local edge sessions on the VC with this switch key. */
  edges(key: string): number;
  /** Switch keys (and VC id text) of the VCs with local edges. */
  vcsWithEdges(): Iterable<{ key: string; text: string }>;
  log: EngineLog;
}

/** One VC's session with a peer. */
interface PeerVc {
  key: string;
  text: string;
  sid: number;
  ccid: number;
  outgoing: boolean;
  up: boolean;
  /** The peer said it has edges on the VC (SLI A bit). */
  remoteActive: boolean;
  /** Since when neither side has edges (Infinity: one has). */
  quietSince: number;
  /** Torn down for idleness: its CDN is on the way. */
  closing?: boolean;
}

/** Counters of one peer. */
export interface MeshPeerCounters {
  dials: number;
  connections_up: number;
  duplicate_connections_closed: number;
  sessions_opened: number;
  sessions_glare_won: number;
  sessions_glare_lost: number;
  sessions_torn_down_idle: number;
  sessions_refused_duplicate: number;
}

interface PeerState {
  readonly cfg: MeshPeerConfig;
  /** The mesh connection in use (established), our CCID; 0: none. */
  ccid: number;
  /** Our dial still in its handshake, our CCID; 0: none. */
  dialing: number;
  /** The peer's Router ID, once a connection told us; 0: not known. */
  routerId: number;
  nextDial: number;
  backoff: number;
  /** Reconcile (open missing sessions) at or after this time. */
  retryAt: number;
  /** The next retry's delay after a refusal, ms (RETRY_MS doubling to MAX_RETRY_MS). */
  retryDelay: number;
  upSince: number;
  readonly vcs: Map<string, PeerVc>;
  /** Frames and bytes of sessions gone (live ones are summed from the switchboard). */
  readonly retired: { rx_frames: number; rx_bytes: number; tx_frames: number; tx_bytes: number };
  readonly c: MeshPeerCounters;
}

/** A peer in /status. */
export interface MeshPeerStatus {
  peer: string;
  transport: Transport;
  state: "up" | "connecting" | "waiting";
  /** The peer's Router ID as dotted quad; null until a connection told us. */
  router_id: string | null;
  /** Who dials: "us" (our Router ID is lower or the peer's is not known) or "peer". */
  dials: "us" | "peer";
  local_ccid: number;
  up_s: number | null;
  sessions: number;
  sessions_up: number;
  counters: MeshPeerCounters;
}

function dotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The Remote End ID bytes we send for a switch key (`vcKey`): decimal text, or the raw bytes. */
export function vcIdBytes(key: string): Uint8Array {
  if (key.startsWith("vc:")) return new TextEncoder().encode(key.slice(3));
  const hex = key.slice(4);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Something the engine runs after the current event (never inside the endpoint's call). */
type Deferred =
  | { kind: "close-session"; t: Transport; sid: number; reason: string }
  | { kind: "close-connection"; t: Transport; ccid: number; reason: string };

/** The mesh of one LAS; see the module doc. */
export class Mesh {
  readonly #peers: PeerState[];
  readonly #byName = new Map<string, PeerState>();
  #deferred: Deferred[] = [];
  #stopping = false;
  /** Something changed: recompute quiet timers at the next `tick`. */
  #dirty = false;

  constructor(
    private readonly host: MeshHost,
    readonly routerId: number,
    peers: readonly MeshPeerConfig[],
    readonly teardownMs = DEFAULT_TEARDOWN_MS,
  ) {
    this.#peers = peers.map((cfg) => ({
      cfg,
      ccid: 0,
      dialing: 0,
      routerId: 0,
      nextDial: Infinity,
      backoff: 1000,
      retryAt: Infinity,
      retryDelay: RETRY_MS,
      upSince: 0,
      vcs: new Map(),
      retired: { rx_frames: 0, rx_bytes: 0, tx_frames: 0, tx_bytes: 0 },
      c: {
        dials: 0,
        connections_up: 0,
        duplicate_connections_closed: 0,
        sessions_opened: 0,
        sessions_glare_won: 0,
        sessions_glare_lost: 0,
        sessions_torn_down_idle: 0,
        sessions_refused_duplicate: 0,
      },
    }));
    for (const p of this.#peers) this.#byName.set(`${p.cfg.transport}|${p.cfg.name}`, p);
  }

  get size(): number {
    return this.#peers.length;
  }

  /** The configured address of a peer by transport and name, for control messages. */
  addressOf(t: Transport, name: string): Endpoint | undefined {
    return this.#byName.get(`${t}|${name}`)?.cfg.to;
  }

  /** True for a configured peer's name over `t`. */
  isPeer(t: Transport, name: string): boolean {
    return this.#byName.has(`${t}|${name}`);
  }

  /** Starts dialing every peer. */
  start(now: number): void {
    for (const p of this.#peers) p.nextDial = now;
  }

  /** No more dials or opens (shutdown). */
  stop(): void {
    this.#stopping = true;
  }

  /** Whether we dial `p` now: its Router ID is not known or ours is lower. */
  #weDial(p: PeerState): boolean {
    return p.routerId === 0 || this.routerId < p.routerId;
  }

  /** The peer whose mesh connection (up) is our CCID `ccid` over `t`. */
  #peerOfCcid(t: Transport, ccid: number): PeerState | undefined {
    if (ccid === 0) return undefined;
    for (const p of this.#peers) if (p.ccid === ccid && p.cfg.transport === t) return p;
    return undefined;
  }

  /** The peer name of a mesh session (by its connection), or undefined for an edge. */
  peerOfSession(t: Transport, s: { localCcid: number }): string | undefined {
    return this.#peerOfCcid(t, s.localCcid)?.cfg.name;
  }

  /**
   * True when a connection (in any state, closing included) is with a peer
   * LAS: with a configured peer, and dialed by us (we dial only peers) or
   * named `l2-las/...` by the peer.
   */
  isPeerLas(t: Transport, c: { peer: string; role: string; hostName: string }): boolean {
    return this.#byName.has(`${t}|${c.peer}`) &&
      (c.role === "initiator" || c.hostName.startsWith(MESH_HOST_PREFIX));
  }

  /** True when connection `ccid` over `t` is a mesh connection (up). */
  isMeshConnection(t: Transport, ccid: number): boolean {
    return this.#peerOfCcid(t, ccid) !== undefined;
  }

  /**
   * A control connection came up. Returns true when it is a mesh
   * connection (handled here), false for an edge.
   */
  connectionUp(
    t: Transport,
    ev: { peer: string; localCcid: number; hostName: string; routerId: number; role: string },
    now: number,
  ): boolean {
    const p = this.#byName.get(`${t}|${ev.peer}`);
    if (!p) return false;
    if (p.ccid === ev.localCcid) return true; // taken already, at its first ICRQ (`admit`)
    if (
      ev.role === "initiator" ? ev.localCcid !== p.dialing : !ev.hostName.startsWith(
        MESH_HOST_PREFIX,
      )
    ) return false;
    if (ev.role === "initiator") p.dialing = 0;
    if (ev.routerId === 0 || ev.routerId === this.routerId) {
      this.host.log.limited(
        "mesh_router_id",
        "warn",
        `peer LAS ${ev.peer} has ${
          ev.routerId === 0 ? "no Router ID" : `our own Router ID ${dotted(this.routerId)}`
        }: the mesh needs a distinct Router ID on each server; connection closed`,
        { peer: ev.peer },
      );
      this.#deferred.push({
        kind: "close-connection",
        t,
        ccid: ev.localCcid,
        reason: "the peer LAS has no distinct Router ID",
      });
      this.#redial(p, now);
      return true;
    }
    p.routerId = ev.routerId;
    // Two connections that came up together (both dialed at once): the one the lower Router
    // ID dialed stays. A new one well after the one in use: the peer lost that (it restarted).
    const lowerDials = this.routerId < p.routerId ? "initiator" : "responder";
    if (p.ccid !== 0 && p.ccid !== ev.localCcid) {
      const restarted = now - p.upSince > DUPLICATE_WINDOW_MS;
      const keepNew = ev.role === lowerDials || restarted;
      const loser = keepNew ? p.ccid : ev.localCcid;
      p.c.duplicate_connections_closed++;
      this.#deferred.push({
        kind: "close-connection",
        t,
        ccid: loser,
        reason: restarted
          ? "the peer LAS dialed again: this older connection is stale"
          : "a second connection between the two LAS: the one the lower Router ID dialed stays",
      });
      if (!keepNew) return true;
      this.#dropEntries(p, p.ccid);
    }
    if (p.dialing !== 0 && ev.role === "responder" && lowerDials === "responder") {
      // The peer's dial wins: ours, still in its handshake, is not needed.
      this.#deferred.push({
        kind: "close-connection",
        t,
        ccid: p.dialing,
        reason: "the peer LAS (lower Router ID) dialed us",
      });
      p.dialing = 0;
    }
    p.ccid = ev.localCcid;
    p.upSince = now;
    p.backoff = 1000;
    p.nextDial = Infinity;
    p.retryAt = now;
    p.c.connections_up++;
    this.host.log.info(
      `mesh: connection with peer LAS ${ev.peer} (Router ID ${dotted(p.routerId)}) is up`,
      { ccid: ev.localCcid, dialed_by: ev.role === "initiator" ? "us" : "peer" },
    );
    // Sessions are opened by `tick`, after the event: never inside an endpoint's call.
    this.#dirty = true;
    return true;
  }

  /** A control connection went down. */
  connectionDown(t: Transport, ev: { peer: string; localCcid: number }, now: number): void {
    const p = this.#byName.get(`${t}|${ev.peer}`);
    if (!p) return;
    if (ev.localCcid === p.dialing) {
      p.dialing = 0;
      if (p.ccid === 0) this.#redial(p, now);
    }
    if (ev.localCcid === p.ccid) {
      p.ccid = 0;
      this.#dropEntries(p, ev.localCcid);
      this.#redial(p, now);
    }
  }

  #redial(p: PeerState, now: number): void {
    if (this.#weDial(p)) {
      p.nextDial = now + p.backoff;
      p.backoff = Math.min(2 * p.backoff, MAX_DIAL_BACKOFF_MS);
    } else {
      p.nextDial = now + ANSWER_GRACE_MS;
    }
  }

  #dropEntries(p: PeerState, ccid: number): void {
    for (const [k, e] of p.vcs) if (e.ccid === ccid) p.vcs.delete(k);
  }

  /**
   * Admission of an ICRQ that came on a mesh connection: duplicates and
   * glare here, the switchboard's limits through `board` (whose reservation
   * `release` gives back). Returns the CDN reason, or null to take it.
   * Undefined: not a mesh connection (the caller asks the switchboard).
   */
  admit(
    t: Transport,
    req: {
      peer: string;
      hostName: string;
      routerId: number;
      localCcid: number;
      vcId: Uint8Array;
      localSessionId: number;
    },
    board: () => string | null,
    release: () => void,
    now: number,
  ): string | null | undefined {
    let p = this.#peerOfCcid(t, req.localCcid);
    if (!p) {
      // An ICRQ can arrive in the same batch as the message that brought the connection up,
      // before its connection-up event is handled: take the connection up now.
      const q = this.#byName.get(`${t}|${req.peer}`);
      if (!q) return undefined;
      const role = req.localCcid === q.dialing ? "initiator" : "responder";
      if (!this.connectionUp(t, { ...req, role }, now)) return undefined;
      p = this.#peerOfCcid(t, req.localCcid);
      if (!p) return "this connection between the two LAS is being closed";
    }
    const { key, text } = vcKey(req.vcId);
    const e = p.vcs.get(key);
    if (e && !(e.outgoing && !e.up)) {
      p.c.sessions_refused_duplicate++;
      return `a session for VC ${text} already exists on this peer LAS connection`;
    }
    const refusal = board();
    if (refusal !== null) return refusal;
    if (e) {
      // Glare: both sent ICRQ for this VC. The ICRQ of the lower Router ID wins.
      if (this.routerId < p.routerId) {
        release();
        p.c.sessions_glare_won++;
        return `glare on VC ${text}: our ICRQ stands (the lower Router ID wins)`;
      }
      p.c.sessions_glare_lost++;
      this.#deferred.push({
        kind: "close-session",
        t,
        sid: e.sid,
        reason: `glare on VC ${text}: the peer's ICRQ stands (the lower Router ID wins)`,
      });
    }
    p.vcs.set(key, {
      key,
      text,
      sid: req.localSessionId,
      ccid: req.localCcid,
      outgoing: false,
      up: false,
      remoteActive: true,
      quietSince: Infinity,
    });
    return null;
  }

  /** A mesh session came up and is on its switch port: tell the peer our circuit status. */
  sessionUp(t: Transport, s: SessionInfo, now: number): void {
    const p = this.#peerOfCcid(t, s.localCcid);
    if (!p) return;
    const { key, text } = vcKey(s.vcId);
    let e = p.vcs.get(key);
    if (e && e.sid !== s.localSessionId) {
      // A second session for the VC on this connection (an ICRQ taken before the mesh knew the
      // connection): one is closed, by the glare rule, so frames do not cross twice.
      const keepOurs = e.outgoing && this.routerId < p.routerId;
      this.#deferred.push({
        kind: "close-session",
        t,
        sid: keepOurs ? s.localSessionId : e.sid,
        reason: `a second session for VC ${text} between the two LAS`,
      });
      if (keepOurs) return;
      e = undefined;
    }
    if (!e) {
      e = {
        key,
        text,
        sid: s.localSessionId,
        ccid: s.localCcid,
        outgoing: false,
        up: false,
        remoteActive: s.circuitActive,
        quietSince: Infinity,
      };
      p.vcs.set(key, e);
    }
    e.up = true;
    p.retryDelay = RETRY_MS;
    // An outgoing session's ICRP says A=1 whatever the peer has; the peer's SLI follows.
    if (!e.outgoing) e.remoteActive = s.circuitActive;
    this.host.endpoint(t)?.setCircuitStatus(s.localSessionId, this.host.edges(key) > 0, now);
    this.#dirty = true;
  }

  /** A session went down (any: the mesh forgets it if it was one of its own). */
  sessionDown(t: Transport, ccid: number, sid: number, now: number): boolean {
    for (const p of this.#peers) {
      if (p.cfg.transport !== t) continue;
      for (const [k, e] of p.vcs) {
        if (e.sid !== sid || e.ccid !== ccid) continue;
        p.vcs.delete(k);
        // One that never came up was refused (or timed out): retry later each time.
        const delay = e.up ? RETRY_MS : p.retryDelay;
        if (!e.up) p.retryDelay = Math.min(2 * p.retryDelay, MAX_RETRY_MS);
        p.retryAt = Math.min(p.retryAt, now + delay);
        return true;
      }
    }
    return false;
  }

  /** Adds the counters of a mesh session going away to its peer's totals. */
  retire(
    peerName: string,
    c: { rx_frames: number; rx_bytes: number; tx_frames: number; tx_bytes: number },
  ): void {
    for (const p of this.#peers) {
      if (p.cfg.name !== peerName) continue;
      p.retired.rx_frames += c.rx_frames;
      p.retired.rx_bytes += c.rx_bytes;
      p.retired.tx_frames += c.tx_frames;
      p.retired.tx_bytes += c.tx_bytes;
      return;
    }
  }

  /** The peer said whether it has edges on a session's VC. */
  circuitStatus(sid: number, active: boolean): void {
    for (const p of this.#peers) {
      for (const e of p.vcs.values()) {
        if (e.sid !== sid) continue;
        e.remoteActive = active;
        this.#dirty = true;
        return;
      }
    }
  }

  /** The number of local edges on VC `key` went from `before` to `after`. */
  edgesChanged(key: string, text: string, before: number, after: number, now: number): void {
    if ((before > 0) === (after > 0)) return;
    this.#dirty = true;
    for (const p of this.#peers) {
      const ep = this.host.endpoint(p.cfg.transport);
      if (!ep || p.ccid === 0) continue;
      const e = p.vcs.get(key);
      if (e) {
        if (e.up) ep.setCircuitStatus(e.sid, after > 0, now);
      } else if (after > 0 && !this.#stopping) {
        this.#open(p, ep, key, text, now);
      }
    }
  }

  #open(p: PeerState, ep: L2tpEndpoint, key: string, text: string, now: number): boolean {
    const r = ep.openSession(p.ccid, { pwType: 5, vcId: vcIdBytes(key) }, now);
    if (!r.ok) {
      this.host.log.limited(
        "mesh_open",
        "warn",
        `mesh: cannot open a session for VC ${text} to peer LAS ${p.cfg.name}: ${r.reason}`,
        { peer: p.cfg.name },
      );
      p.retryAt = now + RETRY_MS;
      return false;
    }
    p.c.sessions_opened++;
    p.vcs.set(key, {
      key,
      text,
      sid: r.localSessionId,
      ccid: p.ccid,
      outgoing: true,
      up: false,
      remoteActive: true,
      quietSince: Infinity,
    });
    return true;
  }

  /** Opens a session for every VC with local edges that has none with `p`. */
  #reconcile(p: PeerState, ep: L2tpEndpoint, now: number): void {
    p.retryAt = Infinity;
    if (this.#stopping || p.ccid === 0) return;
    for (const v of this.host.vcsWithEdges()) {
      if (p.vcs.has(v.key)) continue;
      if (!this.#open(p, ep, v.key, v.text, now)) return;
    }
  }

  /** What the engine must run now (closes decided inside an endpoint's call). */
  takeDeferred(): Deferred[] {
    const d = this.#deferred;
    this.#deferred = [];
    return d;
  }

  get hasDeferred(): boolean {
    return this.#deferred.length > 0;
  }

  /** Dials, retries opens, runs the quiet timers; after events (`dirty`) or at the deadline. */
  tick(now: number, force: boolean): void {
    if (!force && !this.#dirty) return;
    this.#dirty = false;
    for (const p of this.#peers) {
      const ep = this.host.endpoint(p.cfg.transport);
      if (!ep) continue;
      if (!this.#stopping && p.ccid === 0 && p.dialing === 0 && now >= p.nextDial) {
        const r = ep.connect(p.cfg.name, now, `${MESH_HOST_PREFIX}${dotted(this.routerId)}`);
        p.c.dials++;
        if (r.ok) {
          p.dialing = r.localCcid;
          p.nextDial = Infinity;
        } else {
          this.#redial(p, now);
        }
      }
      if (p.ccid !== 0 && now >= p.retryAt) this.#reconcile(p, ep, now);
      for (const e of p.vcs.values()) {
        if (!e.up || e.closing) continue;
        const quiet = !e.remoteActive && this.host.edges(e.key) === 0;
        if (!quiet) {
          e.quietSince = Infinity;
          continue;
        }
        if (e.quietSince === Infinity) e.quietSince = now;
        if (now - e.quietSince >= this.teardownMs) {
          p.c.sessions_torn_down_idle++;
          e.closing = true;
          e.quietSince = Infinity;
          this.#deferred.push({
            kind: "close-session",
            t: p.cfg.transport,
            sid: e.sid,
            reason: `no edges on VC ${e.text} on either LAS for ${
              Math.round(this.teardownMs / 1000)
            } s`,
          });
        }
      }
    }
  }

  /** When `tick` next has work; Infinity when none. */
  nextDeadline(): number {
    let t = Infinity;
    for (const p of this.#peers) {
      if (!this.#stopping && p.ccid === 0 && p.dialing === 0) t = Math.min(t, p.nextDial);
      if (p.ccid !== 0) t = Math.min(t, p.retryAt);
      for (const e of p.vcs.values()) {
        if (e.up && !e.closing && e.quietSince !== Infinity) {
          t = Math.min(t, e.quietSince + this.teardownMs);
        }
      }
    }
    return t;
  }

  /** The peers for /status; `live` sums the frames of a peer's sessions now up. */
  status(
    now: number,
    live: (peer: string) => {
      rx_frames: number;
      rx_bytes: number;
      tx_frames: number;
      tx_bytes: number;
    },
  ): (MeshPeerStatus & {
    rx_frames: number;
    rx_bytes: number;
    tx_frames: number;
    tx_bytes: number;
  })[] {
    return this.#peers.map((p) => {
      const l = live(p.cfg.name);
      let up = 0;
      for (const e of p.vcs.values()) if (e.up) up++;
      return {
        peer: p.cfg.name,
        transport: p.cfg.transport,
        state: p.ccid !== 0 ? "up" : p.dialing !== 0 ? "connecting" : "waiting",
        router_id: p.routerId ? dotted(p.routerId) : null,
        dials: this.#weDial(p) ? "us" : "peer",
        local_ccid: p.ccid,
        up_s: p.ccid !== 0 ? Math.round((now - p.upSince) / 1000) : null,
        sessions: p.vcs.size,
        sessions_up: up,
        rx_frames: p.retired.rx_frames + l.rx_frames,
        rx_bytes: p.retired.rx_bytes + l.rx_bytes,
        tx_frames: p.retired.tx_frames + l.tx_frames,
        tx_bytes: p.retired.tx_bytes + l.tx_bytes,
        counters: { ...p.c },
      };
    });
  }
}
