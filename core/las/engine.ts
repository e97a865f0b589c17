/**
 * The LAS data and control plane, without the event loop: L2TPv3 endpoints
 * (IP protocol 115, and UDP 1701 when enabled) whose sessions are ports of
 * one learning switch per VC id.
 *
 * ```
 *  receive(bytes, from) --> classifyData --frame--> switchboard.forward --> egress ports
 *                              |                                             |
 *                              '--control--> endpoint.receive                v
 *                                                |                header + frame --> port.queue
 *                                     takeOutgoing / takeEvents
 * ```
 *
 * An `Engine` (core/engine.ts): the kit's socket pump (cmd/kit/pump.ts)
 * hands it each datagram with its `Arrival` (`via` 0: IP protocol 115, 1:
 * UDP) and `now`, then calls `endBatch(now)`, which handles what the batch
 * caused and flushes the ports; `poll(now)` at `nextDeadline()`; `stop(now)`
 * at shutdown (StopCCN to every peer, retransmitted until acknowledged: run
 * the loop until `stopped(now)`); `snapshot(now)` is its typed state for
 * /status and /metrics (core/las/status.ts, rendered in cmd/las_status.ts).
 * It sends only through the `DatagramPort`s it is given, so tests drive it
 * with in-memory twins. The LAS has no device: `fromDevice` is never called.
 *
 * Replies leave from the local address the peer used (IP_PKTINFO), so a LAS
 * with several addresses answers each peer from the one it called.
 *
 * Peers: control messages from outside the `allow` list (when one is set)
 * are dropped before parsing; handshakes are limited per source (an IPv4
 * address or an IPv6 /64, `sourceOf`); Remote End IDs longer than 64 bytes
 * are refused. Rejections are logged rate-limited per code, data drops per
 * reason (never per peer: forged sources cannot multiply the lines). A
 * VLAN-tagged frame dropped by a VC's filter is logged once per session; a
 * type 4 and a type 5 session on one VC once per VC.
 *
 * A control message for a connection the LAS does not know (it restarted,
 * or took over a virtual address) is answered with a StopCCN so the edge
 * re-dials at once (core/l2tp/stray.ts, docs/las-redundancy.md); data for
 * an unknown session is counted (`rx_unknown_session`), never forwarded.
 *
 * Which VC a session joins, whether it is admitted, and which ports a frame
 * goes out of are the switchboard's (core/las/switchboard.ts): it refuses
 * an ICRQ with a CDN that says why when the VC would pass `maxSwitches` or
 * its switch has no free port (1024 sessions per VC by default).
 *
 * Mesh (`mesh.peers`, docs/las-redundancy.md): the other LAS servers are
 * dialed and answered on the same endpoints (core/las/mesh.ts decides who
 * dials, which sessions to open and close, glare, circuit status); their
 * sessions are split-horizon ports of the VCs' switches, and frames to a
 * peer that said (SLI A=0) it has no edges on the VC are not sent.
 *
 * Bounded: connections and sessions by the endpoint's limits; switches and
 * ports by the switchboard; the peer address book by `maxPeers` (oldest
 * forgotten, core/las/peers.ts). Log texts: core/las/say.ts.
 *
 * Data we send carries the default L2-Specific Sublayer when the peer asked
 * for it, numbered (S=1, 24-bit sequence per session) when it asked for
 * sequencing. We ask peers for no sublayer, so received data has no sequence
 * numbers to check.
 *
 * Files: the options in core/las/engine_options.ts; a session's link (where
 * its data goes, its transmit counters, its /status row) in core/las/link.ts.
 *
 * @module
 */
import { L2tpEndpoint, SHUTDOWN_RTO_MS } from "../l2tp/endpoint.ts";
import type { L2tpEvent } from "../l2tp/events.ts";
import type { SessionInfo } from "../l2tp/session.ts";
import type { SessionRequest } from "../l2tp/endpoint_config.ts";
import { demux, writeDataHeader } from "../l2tp/data_header.ts";
import type { Transport } from "../l2tp/control_message.ts";
import { IdAllocator } from "../l2tp/id_allocator.ts";
import { MAX_REMOTE_END_ID, type SessionPort, Switchboard, vcKey } from "./switchboard.ts";
import type { Arrival, Engine } from "../engine.ts";
import { isV4, setV4, v4Number } from "../addr.ts";
import type { Ip16 } from "../addr.ts";
import {
  allowed,
  PeerBook,
  type PeerPrefix,
  peerPrefix,
  prefixContains,
  sourceOf,
} from "./peers.ts";
import type { LasConnectionStatus, LasRecent, LasSnapshot, LasStatus } from "./status.ts";
import { sayBoardEvent, sayDataDrop } from "./say.ts";
import { Mesh, MESH_HOST_PREFIX } from "./mesh.ts";
import type { LasEngineOptions } from "./engine_options.ts";
import { type Link, meshPeerTraffic, newLink, sessionStatus } from "./link.ts";

export type { MeshPeerConfig } from "./mesh.ts";
export type { LasEngineOptions } from "./engine_options.ts";
export type {
  LasConnectionStatus,
  LasRecent,
  LasSessionStatus,
  LasSnapshot,
  LasStatus,
} from "./status.ts";
export { type PeerPrefix, peerPrefix, prefixContains, sourceOf };

export { MAX_REMOTE_END_ID, vcKey };

/** A session attached to a switch port. */
type Attached = SessionPort<Link>;

const MAX_FRAME = 65535;
/** Longest a shutdown waits for StopCCN acknowledgements, ms. */
export const STOP_WAIT_MS = 2000;

/** Recent up/down events kept for /status. */
const RECENT_MAX = 64;

/** The LAS engine; see the module doc. */
export class LasEngine implements Engine<LasSnapshot> {
  readonly ipEp: L2tpEndpoint | null;
  readonly udpEp: L2tpEndpoint | null;
  readonly #o: LasEngineOptions;
  /**
   * The virtual switches and admission (core/las/switchboard.ts). Its
   * reservations for sessions being set up leave at session-up or
   * session-down, and `poll` prunes any whose session is gone.
   */
  readonly #board: Switchboard<Link>;
  /** Peer names ("192.0.2.1" or "192.0.2.1:1701") and their addresses (core/las/peers.ts). */
  readonly #peers = new PeerBook(2 * 256 + 64);
  readonly #scratch = new Uint8Array(MAX_FRAME + 64);
  /** Engine counters (the switchboard, endpoints and switches have their own). */
  readonly #c = {
    rx_unusable: 0,
    rx_not_listening: 0,
    tx_errors: 0,
    /** Events and endpoint timer runs whose handling threw: contained (kit/contain.ts). */
    rx_handler_errors: 0,
    rx_not_allowed: 0,
    /** Connections from a LAS (Host Name l2-las/...) not in `peers`, closed. */
    mesh_refused_not_peer: 0,
  };
  #stopping = false;
  /** The `now` of the datagram being handled (the endpoint's session policy has none). */
  #now = 0;
  /** The peer LAS servers (core/las/mesh.ts); null without `peers`. */
  readonly #mesh: Mesh | null = null;
  /** Where the mesh's dials leave from: the first accepted local address, or null (any). */
  readonly #dialFrom: Ip16 | null = null;
  /** When a shutdown stops waiting for StopCCN acknowledgements (ms). */
  #stopDeadline = Infinity;
  /** Recent session and connection ups and downs, newest last; bounded by RECENT_MAX. */
  readonly #recent: LasRecent[] = [];

  constructor(o: LasEngineOptions) {
    this.#o = o;
    this.#board = new Switchboard({ maxSwitches: o.maxSwitches, switchPolicy: o.switchPolicy });
    const sessionIds = new IdAllocator(o.random32, 65_536);
    const common = {
      hostName: o.hostName,
      routerId: o.routerId,
      random32: o.random32,
      helloIntervalMs: o.helloIntervalMs,
      cookieLength: o.cookieLength,
      reliable: { maxRetransmits: o.retransmits },
      sessionIds,
      ...(o.auth
        ? { secret: o.auth.secret, hash: o.auth.hash, digestAlgorithm: o.auth.digest }
        : {}),
      maxPendingPerSource: o.maxPendingPerPeer ?? 4,
      maxConnectionsPerSource: o.maxConnectionsPerPeer ?? 8,
      sourceOf: sourceOf,
      // A control message for a connection we do not know (we restarted, or took over a
      // virtual address) gets a StopCCN, so the edge re-dials at once (core/l2tp/stray.ts).
      answerStray: true,
      // And the other way: a peer that restarted (a meshed LAS, an edge) tells us so.
      honourStray: true,
      // One connection whose timers or close throw is contained by the endpoint
      // (core/l2tp/endpoint.ts) and reported here, like a datagram's error.
      ...(o.contain
        ? { contain: (h: string, e: unknown, p: string | null) => this.#contained(h, e, p) }
        : {}),
    };
    // Each endpoint's own policy: the mesh tells connections apart by transport and CCID.
    const policy = (t: Transport) => (req: SessionRequest) => this.#admit(t, req);
    this.ipEp = o.ip
      ? new L2tpEndpoint({ transport: "ip", ...common, sessionPolicy: policy("ip") })
      : null;
    this.udpEp = o.udp
      ? new L2tpEndpoint({ transport: "udp", ...common, sessionPolicy: policy("udp") })
      : null;
    const peers = o.mesh?.peers ?? [];
    if (peers.length > 0) {
      if (!o.auth) throw new TypeError("a LAS mesh needs a shared secret (las.secret)");
      for (const p of peers) {
        if (!(p.transport === "udp" ? this.udpEp : this.ipEp)) {
          throw new TypeError(`peer LAS ${p.name}: this LAS does not listen on ${p.transport}`);
        }
      }
      const first = o.acceptDst?.values().next();
      if (first && !first.done) this.#dialFrom = setV4(new Uint8Array(16), first.value);
      const board = this.#board;
      this.#mesh = new Mesh(
        {
          endpoint: (t) => t === "udp" ? this.udpEp : this.ipEp,
          edges: (key) => board.switchOf(key)?.edges ?? 0,
          vcsWithEdges: function* () {
            for (const vc of board.switches()) if (vc.edges > 0) yield vc;
          },
          log: o.log,
        },
        o.routerId,
        peers,
        o.mesh?.teardownMs,
      );
    }
  }

  /** Admission of an ICRQ: the switchboard's limits, and for a peer LAS the mesh's rules. */
  #admit(t: Transport, req: SessionRequest): string | null {
    const board = () => this.#board.admit(req.localSessionId, req.vcId);
    const r = this.#mesh?.admit(
      t,
      req,
      board,
      () => this.#board.release(req.localSessionId),
      this.#now,
    );
    return r === undefined ? board() : r;
  }

  /**
   * Engine counters, then the switchboard's, in the order /status and
   * /metrics show them (the socket pumps' `rx_truncated` and datagram
   * errors are added there, cmd/las_status.ts).
   */
  get counters(): Record<string, number> {
    const b = this.#board.counters;
    const c = this.#c;
    return {
      rx_unusable: c.rx_unusable,
      rx_not_listening: c.rx_not_listening,
      tx_errors: c.tx_errors,
      rx_handler_errors: c.rx_handler_errors,
      switches_created: b.switches_created,
      switches_removed: b.switches_removed,
      sessions_refused_switch_limit: b.sessions_refused_switch_limit,
      sessions_refused_port_limit: b.sessions_refused_port_limit,
      sessions_refused_remote_end_id: b.sessions_refused_remote_end_id,
      rx_not_allowed: c.rx_not_allowed,
      vlan_frames_dropped: b.vlan_frames_dropped,
      // Issue 18: what a restarted LAS (or one that took a virtual address over) did not know.
      unknown_connection_stopccn: this.#epSum("tx_stray_stopccn"),
      unknown_connection_limited: this.#epSum("stray_rate_limited") +
        this.#epSum("stray_too_large"),
      rx_unknown_session: this.#epSum("data_drop_unknown_session"),
      mesh_refused_not_peer: c.mesh_refused_not_peer,
      filtered_frames: b.filtered_frames,
    };
  }

  /** An L2TP endpoint counter summed over both transports. */
  #epSum(name: string): number {
    return (this.ipEp?.counters[name] ?? 0) + (this.udpEp?.counters[name] ?? 0);
  }

  /**
   * One datagram that arrived over the socket `from.via` (0: IP protocol
   * 115, 1: UDP) from `from.src`:`from.srcPort` (0 over IP) to our address
   * `from.dst`, at `now`. Neither `bytes` nor `from` is kept past the call.
   * What it answers or forwards is queued on the ports and goes at
   * `endBatch`. Throws what handling it threw: the pump drops that datagram
   * and contains the error.
   */
  receive(bytes: Uint8Array, from: Arrival, now: number): void {
    const only = this.#o.acceptDst;
    const dst = from.dst;
    if (only && !(isV4(dst) && only.has(v4Number(dst)))) {
      this.#c.rx_not_listening++;
      return;
    }
    const kind: Transport = from.via === 1 ? "udp" : "ip";
    const ep = kind === "udp" ? this.udpEp : this.ipEp;
    this.#now = now;
    if (ep === null) throw new Error(`a datagram via ${kind}, which this LAS does not listen on`);
    const src = from.src;
    const peer = this.#peers.name(kind, src, from.srcPort);
    const c = ep.classifyData(bytes, peer);
    if (c.kind === "frame") {
      this.#switchFrame(c.session.localSessionId, c.frame, now);
    } else if (c.kind === "control") {
      if (!allowed(this.#o.allow, src) && !this.#mesh?.isPeer(kind, peer)) {
        this.#c.rx_not_allowed++;
        this.#o.log.limited(
          "not_allowed",
          "warn",
          `control message from ${peer} dropped: not in the allow list`,
          { peer },
        );
        return;
      }
      this.#peers.remember(peer, src, from.srcPort, dst);
      ep.receive(peer, bytes, now);
    } else {
      this.#c.rx_unusable++;
      // The session id as the data header names it (core/l2tp/data_header.ts), for the line.
      const d = demux(bytes, kind);
      const sid = d.kind === "data" ? d.sessionId : 0;
      const a = this.#board.session(sid);
      sayDataDrop(
        this.#o.log,
        c.reason,
        peer,
        sid,
        a ? `VC ${a.vc.text}, session ${sid} of ${a.session.peer}` : null,
      );
    }
  }

  /** Dials the peer LAS servers of the mesh, if any; edges dial us. */
  start(now: number): void {
    this.#mesh?.start(now);
    this.#mesh?.tick(now, true);
    this.#drain(now);
    this.#flush();
  }

  /** The LAS has no device; the runner never calls this. */
  fromDevice(_frame: Uint8Array, _now: number): void {}

  /** After a batch of `receive`s: sends what they queued, handles the endpoints' events. */
  endBatch(now: number): void {
    this.#drain(now);
    this.#flush();
  }

  /** Reports an error contained on one event or timer run; rethrows without a sink. */
  #contained(handler: string, e: unknown, peer: string | null): void {
    this.#c.rx_handler_errors++;
    const sink = this.#o.contain;
    if (!sink) throw e;
    sink(handler, e, peer);
  }

  #switchFrame(localSessionId: number, frame: Uint8Array, now: number): void {
    const board = this.#board;
    if (this.#o.capture?.on) this.#capture(localSessionId, frame, now);
    const n = board.forward(localSessionId, frame, now);
    const out = board.out;
    for (let k = 0; k < n; k++) this.#sendFrame(out[k], frame);
    if (board.hasEvents) this.#sayBoard();
  }

  /** Offers a frame entering a VC's switch to the captures of that VC (`l2 capture --vc`). */
  #capture(localSessionId: number, frame: Uint8Array, now: number): void {
    const a = this.#board.session(localSessionId);
    if (a) this.#o.capture!.offer("vc", a.vc.text, frame, now);
  }

  /** Logs what the switchboard says (core/las/switchboard.ts). */
  #sayBoard(): void {
    for (const ev of this.#board.takeEvents()) sayBoardEvent(this.#o.log, ev);
  }

  #sendFrame(a: Link, frame: Uint8Array): void {
    if (a.idle) {
      a.txIdle++;
      return;
    }
    const t = a.transport === "udp" ? this.#o.udp! : this.#o.ip!;
    const buf = this.#scratch;
    let seq = -1;
    if (a.seq) {
      seq = a.txSeq;
      a.txSeq = (seq + 1) & 0xffffff;
    }
    const h = writeDataHeader(buf, 0, a.transport, a.remoteSessionId, a.tx, seq);
    if (h + frame.length > buf.length) {
      a.txErrors++;
      return;
    }
    buf.set(frame, h);
    const err = t.queue(buf.subarray(0, h + frame.length), a.to, a.from);
    if (err !== 0) {
      a.txErrors++;
      this.#c.tx_errors++;
      return;
    }
    a.txFrames++;
    a.txBytes += frame.length;
  }

  #flush(): void {
    for (const t of [this.#o.ip, this.#o.udp]) {
      if (t && t.flush() !== 0) this.#c.tx_errors++;
    }
  }

  /**
   * Sends what the endpoints queued and handles their events, and what
   * handling them caused (a CDN, an SLI, the mesh's closes), a few rounds.
   */
  #drain(now: number): void {
    for (let round = 0; round < 4; round++) {
      const events = this.#drainOnce(now);
      const mesh = this.#mesh;
      let deferred = false;
      if (mesh !== null) {
        mesh.tick(now, false);
        deferred = mesh.hasDeferred;
        for (const d of mesh.takeDeferred()) {
          const ep = d.t === "udp" ? this.udpEp : this.ipEp;
          try {
            if (d.kind === "close-session") ep?.closeSession(d.sid, now, d.reason);
            else ep?.closeConnection(d.ccid, now, d.reason);
          } catch (e) {
            this.#contained("mesh", e, null);
          }
        }
      }
      // Handling events may have queued messages (a CDN, an SLI, an ICRQ): another round.
      if (events === 0 && !deferred) return;
    }
    this.#drainOnce(now);
  }

  /** One round of `#drain`; returns how many events it handled. */
  #drainOnce(now: number): number {
    let events = 0;
    for (const [kind, ep] of [["ip", this.ipEp], ["udp", this.udpEp]] as const) {
      if (!ep) continue;
      const t = kind === "udp" ? this.#o.udp! : this.#o.ip!;
      for (const o of ep.takeOutgoing()) {
        // A peer LAS is reached at its configured address even before it spoke, from our
        // first `listen` address when there is one (its answer must reach an address we take).
        const p = this.#peers.get(o.peer) ??
          (this.#mesh?.isPeer(kind, o.peer)
            ? { to: this.#mesh.addressOf(kind, o.peer)!, from: this.#dialFrom }
            : undefined);
        if (!p) {
          this.#c.tx_errors++;
          continue;
        }
        if (t.queue(o.bytes, p.to, p.from) !== 0) this.#c.tx_errors++;
      }
      for (const ev of ep.takeEvents()) {
        events++;
        // Each event on its own: one that throws must not lose the others' (another peer's).
        try {
          this.#event(kind, ev, now);
        } catch (e) {
          this.#contained(kind, e, "peer" in ev ? ev.peer : ev.session.peer);
        }
      }
    }
    return events;
  }

  #note(now: number, what: LasRecent["event"], fields: Omit<LasRecent, "at" | "event">): void {
    if (this.#recent.length >= RECENT_MAX) this.#recent.shift();
    this.#recent.push({ at: now, event: what, ...fields });
  }

  #event(kind: Transport, ev: L2tpEvent, now: number): void {
    const log = this.#o.log;
    if (ev.type === "connection-up" || ev.type === "connection-down") {
      this.#note(now, ev.type, {
        peer: ev.peer,
        reason: ev.type === "connection-down" ? ev.reason : ev.hostName,
      });
    } else if (ev.type === "session-up") {
      this.#note(now, "session-up", {
        peer: ev.session.peer,
        vc: vcKey(ev.session.vcId).text,
        session: ev.session.localSessionId,
      });
    } else if (ev.type === "session-down") {
      this.#note(now, "session-down", {
        peer: ev.peer,
        vc: ev.vcIdText,
        session: ev.localSessionId,
        reason: ev.reason,
      });
    }
    const mesh = this.#mesh;
    switch (ev.type) {
      case "connection-up":
        if (mesh?.connectionUp(kind, ev, now)) break;
        if (ev.role === "responder" && ev.hostName.startsWith(MESH_HOST_PREFIX)) {
          // A LAS that takes us for its peer while we do not list it: as an edge its sessions
          // would carry frames between servers without split horizon. Refused, said.
          this.#c.mesh_refused_not_peer++;
          log.limited(
            "mesh_not_peer",
            "warn",
            `control connection from ${ev.peer} refused: it is a LAS (${ev.hostName}) that ` +
              "lists this one in its peers, and this one does not list it: add each to the " +
              "other's peers",
            { peer: ev.peer },
          );
          (kind === "udp" ? this.udpEp : this.ipEp)?.closeConnection(
            ev.localCcid,
            now,
            "this LAS does not list you in its peers",
          );
          break;
        }
        log.info(`control connection from ${ev.peer} (${ev.hostName || "no host name"}) is up`, {
          ccid: ev.localCcid,
          dialect: ev.dialect,
          transport: kind,
          note: ev.note || undefined,
        });
        break;
      case "connection-down":
        // A close we made or the peer's normal StopCCN is information, not a warning.
        (ev.normal || this.#stopping ? log.info : log.warn).call(
          log,
          `control connection with ${ev.peer} is down: ${ev.reason}`,
          { ccid: ev.localCcid },
        );
        mesh?.connectionDown(kind, ev, now);
        // Forgotten unless another connection (a peer LAS's second one) still uses the name.
        if (!this.#stopping && !this.#peerInUse(kind, ev.peer, ev.localCcid)) {
          this.#peers.forget(ev.peer);
        }
        break;
      case "session-up":
        this.#attach(kind, ev.session, now);
        break;
      case "session-down":
        this.#board.release(ev.localSessionId);
        this.#detach(ev.localSessionId, ev.reason, ev.vcIdText, ev.peer, now);
        mesh?.sessionDown(kind, ev.localCcid, ev.localSessionId, now);
        break;
      case "circuit-status": {
        const a = this.#board.session(ev.localSessionId);
        if (a?.session.meshPeer !== undefined) a.link.idle = !ev.active;
        mesh?.circuitStatus(ev.localSessionId, ev.active);
        log.info(
          `${ev.peer} says the circuit of session ${ev.localSessionId} is ${
            ev.active ? "up" : "down"
          }`,
        );
        break;
      }
      case "rejected":
        // Limited per code, not per peer: a forged source per packet cannot multiply lines.
        log.limited(`rejected:${ev.code}`, "warn", ev.reason, { peer: ev.peer, code: ev.code });
        break;
    }
  }

  /** True when a connection other than `ccid` over `kind` has the peer name `peer`. */
  #peerInUse(kind: Transport, peer: string, ccid: number): boolean {
    const ep = kind === "udp" ? this.udpEp : this.ipEp;
    return ep?.connections().some((c) => c.peer === peer && c.localCcid !== ccid) ?? false;
  }

  #attach(kind: Transport, s: SessionInfo, now: number): void {
    const link = newLink(kind, s, this.#peers.get(s.peer), this.#o.sourceFor);
    const meshPeer = this.#mesh?.peerOfSession(kind, s);
    const a = this.#board.attach(meshPeer !== undefined ? { ...s, meshPeer } : s, link, now);
    this.#sayBoard();
    if ("refused" in a) {
      // Admission reserved a switch and a port for this session, so this holds unless a
      // limit was reached another way; kept so the bounds never depend on that bookkeeping.
      if (a.refused === "port_limit") {
        this.#o.log.limited(
          `port_limit:${vcKey(s.vcId).key}`,
          "warn",
          `session ${s.localSessionId} from ${s.peer} refused: ${a.reason}`,
          { peer: s.peer },
        );
      }
      const ep = kind === "udp" ? this.udpEp! : this.ipEp!;
      ep.closeSession(s.localSessionId, now, a.reason);
      return;
    }
    if (meshPeer !== undefined) this.#mesh!.sessionUp(kind, s, now);
    else this.#mesh?.edgesChanged(a.vc.key, a.vc.text, a.vc.edges - 1, a.vc.edges, now);
    this.#o.log.info(
      `${meshPeer !== undefined ? "peer LAS " : ""}session ${s.localSessionId} from ${s.peer} ` +
        `is up on VC ${a.vc.text}`,
      {
        pw_type: s.pwType,
        remote_session: s.remoteSessionId,
        cookie_tx: s.txCookie.length,
        cookie_rx: s.rxCookie.length,
        ports: a.vc.sw.portCount,
      },
    );
  }

  #detach(
    localSessionId: number,
    reason: string,
    vcText: string,
    peer: string,
    now: number,
  ): void {
    this.#o.log.info(`session ${localSessionId} from ${peer} on VC ${vcText} is down: ${reason}`);
    const p = this.#board.detach(localSessionId);
    this.#sayBoard();
    const mesh = this.#mesh;
    if (!p || mesh === null) return;
    const mp = p.session.meshPeer;
    if (mp !== undefined) {
      mesh.retire(mp, {
        rx_frames: p.rxFrames,
        rx_bytes: p.rxBytes,
        tx_frames: p.link.txFrames,
        tx_bytes: p.link.txBytes,
      });
    } else {
      mesh.edgesChanged(p.vc.key, p.vc.text, p.vc.edges + 1, p.vc.edges, now);
    }
  }

  /** Runs timers due at `now`. */
  poll(now: number): void {
    // Each endpoint on its own: one whose timers throw must not stop the other's, the
    // MAC ageing or the drain. (One that throws on every call is held off by the loop's
    // stuck-deadline guard, ffi/loop.ts.)
    for (const ep of [this.ipEp, this.udpEp]) {
      try {
        ep?.poll(now);
      } catch (e) {
        this.#contained("timer", e, null);
      }
    }
    this.#board.prune((sid) => !!(this.ipEp?.session(sid) || this.udpEp?.session(sid)));
    this.#board.expire(now);
    this.#mesh?.tick(now, true);
    this.#sayBoard();
    this.#drain(now);
    this.#flush();
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    const t = Math.min(
      this.ipEp?.nextDeadline() ?? Infinity,
      this.udpEp?.nextDeadline() ?? Infinity,
    );
    return Math.min(t, this.#board.nextDeadline(), this.#mesh?.nextDeadline() ?? Infinity);
  }

  /**
   * Sends StopCCN on every control connection (SIGTERM), retransmitted every
   * `SHUTDOWN_RTO_MS` until acknowledged; keep pumping the sockets and
   * calling `poll` until `stopped(now)`.
   */
  stop(now: number): void {
    this.#stopping = true;
    this.#mesh?.stop();
    this.#stopDeadline = now + STOP_WAIT_MS;
    for (const ep of [this.ipEp, this.udpEp]) {
      if (!ep) continue;
      for (const c of ep.connections()) {
        if (c.state === "closing") continue;
        ep.closeConnection(c.localCcid, now, "the LAS is shutting down", 1, SHUTDOWN_RTO_MS);
      }
    }
    this.#drain(now);
    this.#flush();
  }

  /** After `stop`: true once every StopCCN was acknowledged or about 2 s passed. */
  stopped(now: number): boolean {
    if (!this.#stopping) return false;
    if (now >= this.#stopDeadline) return true;
    return (this.ipEp?.allAcknowledged() ?? true) && (this.udpEp?.allAcknowledged() ?? true);
  }

  /**
   * A typed snapshot of the LAS at `now`: what /status shows (`LasStatus`)
   * and the L2TP endpoints' counters for /metrics. Rendered in one place,
   * cmd/las_status.ts.
   */
  snapshot(now: number): LasSnapshot {
    const connections: LasConnectionStatus[] = [
      ...(this.ipEp?.connections().map((c) => ({ ...c, transport: "ip" as const })) ?? []),
      ...(this.udpEp?.connections().map((c) => ({ ...c, transport: "udp" as const })) ?? []),
    ].map((c) => ({
      peer: c.peer,
      peer_las: this.#mesh?.isPeerLas(c.transport, c) ?? false,
      transport: c.transport,
      host_name: c.hostName,
      state: c.state,
      dialect: c.dialect,
      local_ccid: c.localCcid,
      remote_ccid: c.remoteCcid,
      sessions: c.sessions,
    }));
    const sessions = [...this.#board.sessions()].map((a) => sessionStatus(a, now));
    const board = this.#board.status(now, 256);
    const l2tp: LasSnapshot["l2tp"] = [];
    if (this.ipEp) l2tp.push({ transport: "ip", counters: { ...this.ipEp.counters } });
    if (this.udpEp) l2tp.push({ transport: "udp", counters: { ...this.udpEp.counters } });
    return {
      now,
      status: {
        connections,
        sessions,
        sessions_setting_up: this.#board.settingUpCount,
        switches: board.switches,
        mesh: this.#meshStatus(now),
        mac_table: board.mac_table,
        recent: [...this.#recent],
        counters: this.counters,
      },
      l2tp,
    };
  }

  /** The peer LAS servers, with the frames of their sessions now up summed in. */
  #meshStatus(now: number): LasStatus["mesh"] {
    const mesh = this.#mesh;
    if (mesh === null) return [];
    const live = meshPeerTraffic(this.#board.sessions());
    const zero = { rx_frames: 0, rx_bytes: 0, tx_frames: 0, tx_bytes: 0 };
    return mesh.status(now, (p) => live.get(p) ?? zero);
  }

  /** What /status shows (the snapshot's `status`). */
  status(now: number): LasStatus {
    return this.snapshot(now).status;
  }
}
