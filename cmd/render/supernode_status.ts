/**
 * `l2 supernode`'s /status JSON and /metrics text, rendered from one
 * `SupernodeSnapshot` (the engine's `SupernodeEngine.snapshot`,
 * core/vpn/supernode_engine.ts, with the socket's address and counters,
 * joined in cmd/supernode.ts): the one place that names the fields and
 * metric families a supernode shows. Reads only the snapshot; keeps no state.
 *
 * @module
 */
import { formatHostPort } from "../kit/config.ts";
import type { MetricsWriter } from "../kit/metrics.ts";
import type { SocketCounters } from "../vpn_io.ts";
import { type IoCounters, ioMetrics, ioStatus, socketMetrics } from "./pump_counters.ts";
import type { Endpoint } from "../../core/addr.ts";
import type { MemberMode } from "../../core/vpn/members.ts";
import type { SessionInfo } from "../../core/vpn/session_keys.ts";
import type { SupernodeStatus } from "../../core/vpn/supernode.ts";
import type {
  SecureSupernodeStatus,
  SupernodeEngineSnapshot,
} from "../../core/vpn/supernode_engine.ts";

/** A supernode's state for /status and /metrics: plain data. */
export interface SupernodeSnapshot {
  /** When it was taken (ages and "under load" are relative to it). */
  now: number;
  core: SupernodeStatus;
  /** The UDP socket's local address. */
  local: Endpoint;
  socket: SocketCounters;
  /** The pump's own counters by fd name (`udp`), as every role shows them. */
  io?: IoCounters;
  /** Null without the security layer (in-memory protocol tests). */
  security: {
    cipher: string;
    aead: string;
    mode: MemberMode;
    status: SecureSupernodeStatus;
    sessions: SessionInfo[];
  } | null;
  /** Null without a federation. */
  federation?: SupernodeEngineSnapshot["federation"];
}
import type { HandshakeGuardStatus } from "../../core/vpn/secure_supernode.ts";
import { formatIp } from "../../core/addr.ts";

/**
 * The supernode's snapshot: the engine's, joined with the socket's address
 * and counters and the cipher.
 *
 * @example
 * ```ts
 * // status: () => supernodeStatus(supernodeSnapshot(engine.snapshot(now), host))
 * ```
 */
export function supernodeSnapshot(
  e: SupernodeEngineSnapshot,
  h: { local: Endpoint; socket: SocketCounters; io: IoCounters; cipher: string; aead: string },
): SupernodeSnapshot {
  return {
    now: e.now,
    core: e.core,
    local: h.local,
    socket: h.socket,
    io: h.io,
    security: e.security ? { cipher: h.cipher, aead: h.aead, ...e.security } : null,
    federation: e.federation,
  };
}

/** The federation's part of /status (docs/federation.md): per peer state, RTT, nodes, relays. */
function federationStatus(sn: SupernodeSnapshot): Record<string, unknown> | null {
  const f = sn.federation;
  if (!f) return null;
  return {
    id: f.selfId,
    attached_here: f.local,
    attached_elsewhere: f.remote,
    peers: f.peers.map((p) => ({
      id: p.id,
      state: p.state,
      key: p.key,
      endpoint: p.endpoint,
      rtt_ms: p.rttMs,
      last_heard_s: p.lastHeard === null
        ? null
        : Math.max(0, Math.round((sn.now - p.lastHeard) / 100) / 10),
      nodes: p.attached,
      stale_nodes: p.stale,
      relayed_to: p.relayedTo,
      relayed_from: p.relayedFrom,
      digest_match: p.digestMatch,
      sessions: p.sessions,
    })),
    counters: f.counters,
  };
}

/** The federation's /metrics families. */
function federationMetrics(w: MetricsWriter, sn: SupernodeSnapshot): void {
  const f = sn.federation;
  if (!f) return;
  for (const p of f.peers) {
    const peer = { peer: p.id };
    w.gauge(
      "l2_supernode_federation_peer_up",
      "1 while the federation peer is up",
      p.state === "up" ? 1 : 0,
      peer,
    );
    if (p.rttMs !== null) {
      w.gauge(
        "l2_supernode_federation_rtt_seconds",
        "smoothed RTT to the federation peer",
        p.rttMs / 1000,
        peer,
      );
    }
    w.gauge(
      "l2_supernode_federation_remote_nodes",
      "nodes attached at the federation peer",
      p.attached,
      peer,
    );
    w.counter(
      "l2_supernode_federation_relayed_total",
      "packets relayed across supernodes",
      p.relayedTo,
      { ...peer, direction: "to" },
    );
    w.counter(
      "l2_supernode_federation_relayed_total",
      "packets relayed across supernodes",
      p.relayedFrom,
      { ...peer, direction: "from" },
    );
  }
  for (const [k, v] of Object.entries(f.counters)) {
    w.counter("l2_supernode_federation_total", "federation counters by name", v, { name: k });
  }
}

/** HS_INITs dropped before any public-key work, by reason (all reasons, zero included). */
function handshakeDrops(c: Record<string, number>): Record<string, number> {
  return {
    bad_mac1: c.hs_failed_bad_mac1 ?? 0,
    replay_ephemeral: c.hs_replay_ephemeral ?? 0,
    under_load: c.hs_under_load ?? 0,
    rate_limited: c.drop_rate_limited ?? 0,
  };
}

/** The handshake guards for /status: tables with their sizes, drops by reason. */
function handshakeGuards(
  h: HandshakeGuardStatus,
  c: Record<string, number>,
): Record<string, unknown> {
  return {
    under_load: h.underLoad,
    sources: h.sources,
    init_timestamps: h.initTimestamps,
    recent_inits: h.recentInits,
    unconfirmed_sessions: h.unconfirmed,
    cookie_replies: c.cookie_replies ?? 0,
    cookie_replies_limited: c.cookie_replies_limited ?? 0,
    replays_refused: (c.hs_replay_timestamp ?? 0) + (c.hs_replay_ephemeral ?? 0),
    drops: handshakeDrops(c),
  };
}

/** The security layer's part of /status. */
function securityStatus(sn: SupernodeSnapshot): Record<string, unknown> {
  const sec = sn.security;
  if (!sec) return { encryption: "none" };
  const st = sec.status;
  const refused: Record<string, number> = {};
  for (const [k, v] of Object.entries(st.counters)) {
    if (k.startsWith("hs_refused_")) refused[k.slice(11)] = v;
    else if (k.startsWith("hs_failed_")) refused[k.slice(10)] = v;
  }
  return {
    encryption: sec.cipher,
    aead: sec.aead,
    mode: sec.mode,
    members: st.members,
    bindings: st.bindings,
    sessions: st.sessions,
    refusals: refused,
    handshakes: handshakeGuards(st.handshakes, st.counters),
    session_list: sec.sessions.map((x) => ({
      network: x.network,
      node: x.peer,
      key: x.key,
      key_age_s: Math.round(x.ageMs / 1000),
      confirmed: x.confirmed,
      endpoint: x.endpoint,
      tx_packets: x.txPackets,
      rx_packets: x.rxPackets,
    })),
    counters: st.counters,
  };
}

/**
 * The /status document of a supernode.
 *
 * @example
 * ```ts
 * // api: { status: () => supernodeStatus(engine.snapshot(clock())) }
 * ```
 */
export function supernodeStatus(sn: SupernodeSnapshot): Record<string, unknown> {
  const s = sn.core;
  const c = s.counters;
  const now = sn.now;
  return {
    security: securityStatus(sn),
    supernode_id: s.supernodeId,
    boot_id: s.bootId,
    listen: formatHostPort({ host: formatIp(sn.local.ip), port: sn.local.port }),
    nodes: s.networks.flatMap((n) =>
      n.nodes.map((e) => ({
        id: e.node,
        network: n.network,
        endpoint: e.endpoint,
        locals: e.locals,
        last_seen_s: Math.max(0, Math.round((now - e.lastSeen) / 100) / 10),
        registered_s: Math.max(0, Math.round((now - e.registeredAt) / 1000)),
        rx_packets: e.rxPackets,
        relayed_frames: e.relayedFrames,
      }))
    ),
    networks: s.networks.map((n) => ({
      network: n.network,
      nodes: n.nodes.length,
      identities: n.identities,
    })),
    relayed_frames: c.relayed_frames ?? 0,
    relayed_bytes: c.relayed_bytes ?? 0,
    broadcast_frames: c.broadcast_frames ?? 0,
    counters: { ...c, ...sn.socket },
    io: ioStatus(sn.io ?? {}),
    ...(sn.federation ? { federation: federationStatus(sn) } : {}),
  };
}

/** Counters of the supernode core present from the start (0 until they count). */
const SN_EVENTS_ZERO: Record<string, number> = Object.fromEntries(
  ["rx_packets", "registrations", "registrations_expired", "introductions", "outgoing_dropped"]
    .map((k) => [k, 0]),
);

/** The handshake refusal reasons (RejectReason of core/vpn/secure_supernode.ts), each from the start. */
const SN_REFUSALS_ZERO: Record<string, number> = Object.fromEntries(
  ["not_member", "id_bound", "bad_id", "revoked", "not_vouched", "busy"]
    .map((r) => [`hs_refused_${r}`, 0]),
);

/**
 * The /metrics families of a supernode.
 *
 * @example
 * ```ts
 * // api: { metrics: (w) => supernodeMetrics(w, engine.snapshot(clock())) }
 * ```
 */
export function supernodeMetrics(w: MetricsWriter, sn: SupernodeSnapshot): void {
  const s = sn.core;
  const c = s.counters;
  for (const n of s.networks) {
    w.gauge("l2_supernode_nodes", "registered nodes", n.nodes.length, { network: n.network });
  }
  w.counter("l2_supernode_relayed_frames_total", "unicast frames relayed", c.relayed_frames ?? 0);
  w.counter("l2_supernode_relayed_bytes_total", "bytes of relayed frames", c.relayed_bytes ?? 0);
  w.counter(
    "l2_supernode_broadcast_frames_total",
    "broadcast/multicast frames fanned out",
    c.broadcast_frames ?? 0,
  );
  // intros_table is a size: a gauge, not one of the counters.
  w.gauge(
    "l2_supernode_intros",
    "introductions remembered (rate limit table)",
    c.intros_table ?? 0,
  );
  for (const [k, v] of Object.entries({ ...SN_EVENTS_ZERO, ...c })) {
    if (k === "relayed_frames" || k === "relayed_bytes" || k === "broadcast_frames") continue;
    if (k === "intros_table") continue;
    w.counter("l2_supernode_events_total", "supernode counters by name", v, { name: k });
  }
  ioMetrics(w, "l2_supernode", sn.io ?? {});
  federationMetrics(w, sn);
  socketMetrics(w, "l2_supernode", sn.socket);
  const sec = sn.security;
  if (sec) {
    const st = sec.status;
    w.gauge("l2_supernode_members", "public keys in the member list", st.members);
    const hs = st.handshakes;
    w.gauge(
      "l2_supernode_under_load",
      "1 while HS_INITs need a valid mac2 (a handshake budget ran out within 1 s)",
      hs.underLoad ? 1 : 0,
    );
    w.gauge("l2_supernode_handshake_sources", "addresses with handshake budgets", hs.sources);
    w.gauge(
      "l2_supernode_init_timestamps",
      "keys whose newest HS_INIT timestamp is kept (replay check)",
      hs.initTimestamps,
    );
    w.gauge(
      "l2_supernode_unconfirmed_sessions",
      "sessions no packet came under yet",
      hs.unconfirmed,
    );
    for (const [reason, v] of Object.entries(handshakeDrops(st.counters))) {
      w.counter(
        "l2_supernode_handshake_drops_total",
        "HS_INITs dropped before any work, by reason",
        v,
        { reason },
      );
    }
    w.counter(
      "l2_supernode_cookie_replies_total",
      "COOKIE_REPLYs sent (under load, or a source over its budget)",
      st.counters.cookie_replies ?? 0,
    );
    w.gauge("l2_supernode_sessions", "live encrypted sessions", st.sessions);
    w.gauge("l2_supernode_bindings", "node ids bound to public keys", st.bindings);
    // Every refusal reason from the start (0 until it happens), then the counters by name.
    for (const [k, v] of Object.entries({ ...SN_REFUSALS_ZERO, ...st.counters })) {
      if (k.startsWith("hs_refused_")) {
        w.counter("l2_supernode_refusals_total", "handshakes refused, by reason", v, {
          reason: k.slice(11),
        });
      } else if (k.startsWith("hs_failed_")) {
        w.counter(
          "l2_supernode_handshake_failures_total",
          "handshakes that failed, by reason",
          v,
          {
            reason: k.slice(10),
          },
        );
      }
      w.counter("l2_supernode_security_total", "security layer counters by name", v, {
        name: k,
      });
    }
  }
}
