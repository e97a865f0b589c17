/**
 * `l2 node`'s /status JSON and /metrics text, rendered from one
 * `NodeSnapshot` (the engine's `NodeEngine.snapshot`, core/vpn/node_engine.ts,
 * with the TAP's and the socket's state, joined in cmd/node.ts): the one
 * place that names the fields and metric families a node shows. Reads only
 * the snapshot; keeps no state.
 *
 * @module
 */
import { formatMac, type MacKey } from "../../core/mac.ts";
import type {
  NodeEngineCounters,
  NodeEngineSnapshot,
  SecureNodeStatus,
} from "../../core/vpn/node_engine.ts";
import type { SessionInfo } from "../../core/vpn/session_keys.ts";
import type { SupernodeLinkStatus } from "../../core/vpn/secure_node.ts";
import type { MetricsWriter } from "../kit/metrics.ts";
import type { SocketCounters } from "../vpn_io.ts";
import { type IoCounters, ioMetrics, ioStatus, socketMetrics } from "./pump_counters.ts";

/** A node's state for /status and /metrics: plain data. */
export interface NodeSnapshot {
  core: NodeEngineSnapshot["core"];
  peers: NodeEngineSnapshot["peers"];
  tap: { name: string; mac: MacKey; mtu: number; offload: boolean };
  /** Offload refusals by reason (non-zero only). */
  offloadDropped: NodeEngineSnapshot["offloadDropped"];
  /** TAP write coalescing counters; null without offload. */
  coalesce: NodeEngineSnapshot["coalesce"];
  localPort: number;
  /** Local endpoints offered to peers. */
  locals: string[];
  /** Null without the security layer (in-memory protocol tests). */
  security: {
    cipher: string;
    aead: string;
    status: SecureNodeStatus;
    sessions: SessionInfo[];
    /** The configured supernodes (docs/federation.md), the attached one with NodeCore's RTT. */
    supernodes?: SupernodeLinkStatus[];
    attachment?: { attachedAt: string; standby: string | null; moves: number; since: number };
  } | null;
  mat: NodeEngineSnapshot["mat"];
  /** The engine's counters and the TAP pump's handler errors. */
  counters: NodeEngineCounters & { tap_rx_handler_errors: number };
  socket: SocketCounters;
  /** The pumps' own counters by fd name (`udp`, `tap`), as every role shows them. */
  io?: IoCounters;
  /** Hits per filter rule and direction; null (or absent) without a filter. */
  filter?: NodeEngineSnapshot["filter"];
}

/** What the host adds to the engine's snapshot: the TAP, the socket, the cipher. */
export interface NodeHost {
  tap: { name: string; mac: MacKey; mtu: number; offload: boolean };
  localPort: number;
  locals: string[];
  cipher: string;
  aead: string;
  /** TAP frames whose handling threw (the TAP pump's `rx_handler_errors`). */
  tapRxHandlerErrors: number;
  socket: SocketCounters;
  io: IoCounters;
}

/**
 * The node's snapshot: the engine's, joined with the host's parts.
 *
 * @example
 * ```ts
 * // status: () => nodeStatus(nodeSnapshot(engine.snapshot(now), host()))
 * ```
 */
export function nodeSnapshot(e: NodeEngineSnapshot, h: NodeHost): NodeSnapshot {
  return {
    core: e.core,
    peers: e.peers,
    tap: h.tap,
    offloadDropped: e.offloadDropped,
    coalesce: e.coalesce,
    localPort: h.localPort,
    locals: h.locals,
    security: e.security
      ? {
        cipher: h.cipher,
        aead: h.aead,
        ...e.security,
        // The attached supernode's liveness is NodeCore's (KEEPALIVE, REGISTER_ACK).
        supernodes: e.security.supernodes.map((x) =>
          x.state !== "attached" ? x : {
            ...x,
            rttMs: e.core.supernodeRttMs ?? x.rttMs,
            lastAnswerMs: e.core.supernodeLastRx != null
              ? e.now - e.core.supernodeLastRx
              : x.lastAnswerMs,
          }
        ),
        attachment: { ...e.security.attachment, since: e.now - e.security.attachment.since },
      }
      : null,
    mat: e.mat,
    counters: { ...e.counters, tap_rx_handler_errors: h.tapRxHandlerErrors },
    socket: h.socket,
    io: h.io,
    filter: e.filter,
  };
}

/** The broadcast-hold counters of the security layer, all four even when zero. */
function broadcastHold(c: Record<string, number>): {
  held: number;
  sent: number;
  dropped_age: number;
  dropped_overflow: number;
} {
  return {
    held: c.broadcast_held ?? 0,
    sent: c.broadcast_held_sent ?? 0,
    dropped_age: c.broadcast_held_dropped_age ?? 0,
    dropped_overflow: c.broadcast_held_dropped_overflow ?? 0,
  };
}

/**
 * The /status document of a node.
 *
 * @example
 * ```ts
 * // api: { status: () => nodeStatus(engine.snapshot(clock())) }
 * ```
 */
export function nodeStatus(n: NodeSnapshot): Record<string, unknown> {
  const s = n.core;
  const m = n.mat.prefix;
  const snap = n.mat.leaves;
  const sec = n.security;
  const sessions = new Map<number, { key: string; key_age_s: number; confirmed: boolean }>();
  if (sec) {
    for (const x of sec.sessions) {
      const age = Math.round(x.ageMs / 1000);
      const had = sessions.get(x.peer);
      if (had === undefined || age < had.key_age_s) {
        sessions.set(x.peer, { key: x.key, key_age_s: age, confirmed: x.confirmed });
      }
    }
  }
  const secSt = sec?.status;
  return {
    id: s.nodeId,
    state: s.state,
    network: s.network,
    supernode: s.supernode,
    supernode_id: s.supernodeId,
    supernode_rtt_ms: s.supernodeRttMs,
    // The federation (docs/federation.md): every configured supernode, first preferred.
    supernodes: (sec?.supernodes ?? []).map((x) => ({
      address: x.address,
      key: x.key,
      state: x.state,
      rtt_ms: x.rttMs,
      last_answer_s: x.lastAnswerMs !== null ? Math.round(x.lastAnswerMs / 100) / 10 : null,
    })),
    attached_at: sec?.attachment?.attachedAt ?? s.supernode,
    attached_for_s: sec?.attachment ? Math.round(sec.attachment.since / 1000) : null,
    standby: sec?.attachment?.standby ?? null,
    moves: s.moves ?? 0,
    allocator: s.allocator ?? -1,
    tap: n.tap.name,
    tap_mac: formatMac(n.tap.mac),
    tap_mtu: n.tap.mtu,
    tap_offload: n.tap.offload,
    offload_dropped: { ...n.offloadDropped },
    coalesce: n.coalesce ? { ...n.coalesce } : null,
    max_frame: s.maxFrame,
    local_port: n.localPort,
    local_endpoints: n.locals,
    security: sec && secSt
      ? {
        encryption: sec.cipher,
        aead: sec.aead,
        supernode_session: secSt.ready,
        supernode_key_age_s: sessions.get(0)?.key_age_s ?? null,
        sessions: secSt.sessions,
        // The other nodes a broadcast goes to (at most MAX_ROSTER); known once a ROSTER came.
        roster: secSt.rosterIds,
        roster_known: secSt.rosterKnown,
        pins: secSt.pins,
        // Replay check of peer handshakes; a cookie while the supernode is under load.
        handshakes: { peer_init_timestamps: secSt.initTimestamps, cookie: secSt.cookie },
        held_frames: { peers: s.counters.held_frames ?? 0, broadcasts: secSt.heldBroadcasts },
        broadcast_hold: broadcastHold(secSt.counters),
        counters: secSt.counters,
      }
      : { encryption: "none" },
    peers: n.peers.map((p) => ({
      node: p.node,
      cipher: sec ? (sessions.has(p.node) ? sec.cipher : null) : "none",
      key: sessions.get(p.node)?.key ?? null,
      key_age_s: sessions.get(p.node)?.key_age_s ?? null,
      path: p.path,
      state: p.state,
      endpoint: p.endpoint,
      rtt_ms: p.rttMs,
      direct_rtt_ms: p.directRttMs,
      relay_rtt_ms: p.relayRttMs,
      tx_frames: p.txFrames,
      rx_frames: p.rxFrames,
      tx_bytes: p.txBytes,
      rx_bytes: p.rxBytes,
      direct_ups: p.directUps,
      direct_failures: p.directFailures,
    })),
    mat: {
      prefix: m !== null ? formatMac(m) : null,
      leaves: [
        {
          leaf: 0,
          mac: formatMac(n.tap.mac),
          mat: m !== null ? formatMac(m) : null,
          age_s: 0,
        },
        ...snap.leaves.map((l) => ({
          leaf: l.leaf,
          mac: l.mac,
          mat: m !== null ? formatMac(m + l.leaf) : null,
          age_s: Math.round(l.idleMs / 1000),
        })),
      ],
      in_use: snap.inUse,
      quarantined: snap.quarantined,
      max_leaves: snap.maxLeaves,
      table: snap.counters,
      egress: n.mat.egress,
      ingress: n.mat.ingress,
      notes: n.mat.notes,
    },
    counters: { ...s.counters, ...n.counters, ...n.socket },
    io: ioStatus(n.io ?? {}),
    filter: n.filter ?? null,
  };
}

/** Counters of NodeCore that are gauges (a size, a queue length): not in l2_node_events_total. */
const NODE_CORE_GAUGES = new Set(["peers", "held_frames"]);

/**
 * The core's counters present from the start (0 until they count): the
 * ones a dashboard or an alert is written against. Others (a drop reason)
 * appear when they first count.
 */
const NODE_EVENTS_ZERO: Record<string, number> = Object.fromEntries(
  [
    "rx_packets",
    "rx_frames",
    "rx_broadcast",
    "tx_register",
    "tx_keepalive",
    "tx_direct",
    "tx_relay",
    "tx_broadcast",
    "tx_too_big",
    "frames_dropped",
    "outgoing_dropped",
    "events_dropped",
    "peers_aged",
    "peers_evicted",
  ].map((k) => [k, 0]),
);

const NODE_SECURITY_ZERO: Record<string, number> = Object.fromEntries(
  ["hs_sent", "hs_supernode_done", "sessions_installed", "sessions_confirmed", "tx_no_session"]
    .map((k) => [k, 0]),
);

/**
 * The /metrics families of a node.
 *
 * @example
 * ```ts
 * // api: { metrics: (w) => nodeMetrics(w, engine.snapshot(clock())) }
 * ```
 */
export function nodeMetrics(w: MetricsWriter, n: NodeSnapshot): void {
  const s = n.core;
  w.gauge("l2_node_registered", "1 while registered", s.state === "registered" ? 1 : 0);
  w.gauge("l2_node_peers", "peers known", s.counters.peers ?? 0);
  w.gauge("l2_node_leaves", "MAT leaf ids in use", n.mat.size);
  // Per peer: one label, the node id (bounded by the peer table); the path is a gauge of
  // its own, so a path that flips does not start new counter series.
  for (const p of n.peers) {
    const l = { peer: p.node };
    w.counter("l2_node_peer_tx_frames_total", "frames sent to a peer", p.txFrames, l);
    w.counter("l2_node_peer_rx_frames_total", "frames received from a peer", p.rxFrames, l);
    w.counter("l2_node_peer_tx_bytes_total", "bytes of frames sent to a peer", p.txBytes, l);
    w.counter("l2_node_peer_rx_bytes_total", "bytes of frames from a peer", p.rxBytes, l);
    w.gauge(
      "l2_node_peer_direct",
      "1 while frames to the peer go direct, 0 while the supernode relays them",
      p.path === "direct" ? 1 : 0,
      l,
    );
    if (p.rttMs !== null) {
      w.gauge("l2_node_peer_rtt_seconds", "RTT of the path in use", p.rttMs / 1000, l);
    }
  }
  if (s.supernodeRttMs !== null && s.supernodeRttMs !== undefined) {
    w.gauge("l2_node_supernode_rtt_seconds", "RTT to the supernode", s.supernodeRttMs / 1000);
  }
  // Gauges the core reports among its counters are gauges here (l2_node_peers above).
  for (const [k, v] of Object.entries({ ...NODE_EVENTS_ZERO, ...s.counters })) {
    if (NODE_CORE_GAUGES.has(k)) continue;
    w.counter("l2_node_events_total", "node protocol counters by name", v, { name: k });
  }
  for (const [k, v] of Object.entries(n.counters)) {
    w.counter(`l2_node_${k}_total`, `node: ${k.replaceAll("_", " ")}`, v);
  }
  for (const [k, v] of Object.entries(n.coalesce ?? {})) {
    w.counter("l2_node_coalesce_total", "TAP write coalescing (offload) by name", v, { name: k });
  }
  for (const [k, v] of Object.entries(n.offloadDropped)) {
    w.counter("l2_node_offload_dropped_total", "TAP reads the segmenter refused", v ?? 0, {
      reason: k,
    });
  }
  ioMetrics(w, "l2_node", n.io ?? {});
  socketMetrics(w, "l2_node", n.socket);
  w.counter("l2_node_supernode_moves_total", "moves to another supernode", s.moves ?? 0);
  for (const x of n.security?.supernodes ?? []) {
    const l = { supernode: x.address };
    w.gauge(
      "l2_node_attached",
      "1 for the supernode the node is attached to",
      x.state === "attached" ? 1 : 0,
      l,
    );
    w.gauge(
      "l2_node_supernode_standby",
      "1 for the standby supernode with a ready session",
      x.state === "standby" ? 1 : 0,
      l,
    );
    if (x.rttMs !== null) {
      w.gauge(
        "l2_node_supernode_link_rtt_seconds",
        "RTT to each configured supernode",
        x.rttMs / 1000,
        l,
      );
    }
  }
  const sec = n.security?.status;
  if (sec) {
    w.gauge(
      "l2_node_supernode_session",
      "1 while the supernode session is live",
      sec.ready ? 1 : 0,
    );
    w.gauge("l2_node_sessions", "live encrypted sessions", sec.sessions);
    w.gauge(
      "l2_node_roster_nodes",
      "other nodes of the network in the roster (a broadcast goes to each)",
      sec.roster,
    );
    w.gauge(
      "l2_node_roster_known",
      "1 once the supernode sent a roster",
      sec.rosterKnown ? 1 : 0,
    );
    w.gauge("l2_node_pins", "peer keys pinned on first use", sec.pins);
    w.gauge(
      "l2_node_peer_init_timestamps",
      "peer keys whose newest HS_INIT timestamp is kept (replay check)",
      sec.initTimestamps,
    );
    w.gauge(
      "l2_node_supernode_cookie",
      "1 while a cookie from the supernode is in use",
      sec.cookie ? 1 : 0,
    );
    const held = "frames waiting: for a peer's session (peer), for the first roster (broadcast)";
    w.gauge("l2_node_held_frames", held, s.counters.held_frames ?? 0, { kind: "peer" });
    w.gauge("l2_node_held_frames", held, sec.heldBroadcasts, { kind: "broadcast" });
  } else {
    w.gauge(
      "l2_node_held_frames",
      "frames waiting for a peer's session",
      s.counters.held_frames ?? 0,
      {
        kind: "peer",
      },
    );
  }
  if (sec) {
    for (const [k, v] of Object.entries(broadcastHold(sec.counters))) {
      w.counter(
        "l2_node_broadcast_hold_total",
        "broadcasts sent before the first roster, by outcome (held, sent, dropped_age, dropped_overflow)",
        v,
        { outcome: k },
      );
    }
    for (const [k, v] of Object.entries({ ...NODE_SECURITY_ZERO, ...sec.counters })) {
      w.counter("l2_node_security_total", "security layer counters by name", v, { name: k });
    }
  }
  for (const dir of ["egress", "ingress"] as const) {
    for (const [k, v] of Object.entries(n.mat[dir])) {
      w.counter("l2_node_mat_frames_total", "MAT verdicts", v ?? 0, { dir, verdict: k });
    }
  }
  // Labels bounded by the configuration: the rule names of the node's `filter:`.
  for (const dir of ["egress", "ingress"] as const) {
    for (const r of n.filter?.[dir] ?? []) {
      const l = { dir, rule: r.name };
      w.counter("l2_node_filter_hits_total", "frames a filter rule matched", r.hits, l);
      w.counter("l2_node_filter_dropped_total", "frames a filter rule dropped", r.dropped, l);
    }
  }
}
