/**
 * The LAS's /status and /metrics, rendered in one place from the engine's
 * typed snapshot (`LasEngine.snapshot`). docs/las.md lists what they show.
 *
 * @module
 */
import type { LasSnapshot, LasStatus } from "../core/las/status.ts";
import type { MetricsWriter } from "./kit/metrics.ts";
import { DROP_NAMES } from "../core/switch_filter.ts";
import { type IoCounters, ioMetrics, ioStatus, ioSum } from "./render/pump_counters.ts";

/**
 * The engine's counters with the sockets' pumps folded in, under the names
 * /status and /metrics always had: `rx_truncated` (datagrams cut to their
 * receive slot) and `rx_handler_errors` (the engine's contained events and
 * timer runs, plus the datagrams whose handling threw).
 */
function counters(s: LasSnapshot, io: IoCounters): Record<string, number> {
  const c = s.status.counters;
  return {
    rx_truncated: ioSum(io, "rx_truncated"),
    ...c,
    rx_handler_errors: (c.rx_handler_errors ?? 0) + ioSum(io, "rx_handler_errors"),
  };
}

/**
 * The /status document of the LAS: the snapshot's `status`, with each
 * recent event's time on the wall clock (`wallNow`, ms since the epoch, is
 * the moment the snapshot was taken), its counters with the pumps' (`io`:
 * each socket's pump counters by name, cmd/kit/pump.ts), and those per
 * socket under `io`.
 */
export function lasStatus(
  s: LasSnapshot,
  wallNow: number,
  io: IoCounters = {},
): Record<string, unknown> {
  const st: LasStatus = s.status;
  const recent = st.recent.map(({ at, ...e }) => ({
    time: new Date(wallNow - (s.now - at)).toISOString(),
    ...e,
  }));
  return { ...st, counters: counters(s, io), recent, io: ioStatus(io) };
}

/** Describes the LAS's gauges and counters into `w` (/metrics); `io` as for `lasStatus`. */
export function lasMetrics(w: MetricsWriter, s: LasSnapshot, io: IoCounters = {}): void {
  const st = s.status;
  w.gauge("l2_las_connections", "L2TPv3 control connections (all states)", st.connections.length);
  w.gauge("l2_las_sessions", "sessions attached to a virtual switch", st.sessions.length);
  w.gauge("l2_las_switches", "virtual switches (VC ids)", st.switches.length);
  w.gauge(
    "l2_las_sessions_setting_up",
    "sessions admitted and not yet up (their new VCs count against max_switches)",
    st.sessions_setting_up,
  );
  for (const [name, v] of Object.entries(counters(s, io))) {
    w.counter(`l2_las_${name}_total`, `LAS engine: ${name.replaceAll("_", " ")}`, v);
  }
  ioMetrics(w, "l2_las", io);
  for (const ep of s.l2tp) {
    for (const [name, v] of Object.entries(ep.counters)) {
      w.counter(
        "l2_las_l2tp_total",
        "L2TPv3 endpoint counters (packets, drops, refusals) by name",
        v,
        { transport: ep.transport, name },
      );
    }
  }
  // Per pseudowire: the VC id and the peer's address, stable across reconnects (a session id
  // is random per session: every reconnect would start new series); sessions of one peer on
  // one VC are summed. Bounded: max_switches VCs, max_connections_per_peer per address.
  const pw = new Map<string, { vc: string; peer: string; v: number[] }>();
  for (const a of st.sessions) {
    const k = `${a.vc}\0${a.peer}`;
    let e = pw.get(k);
    if (!e) pw.set(k, e = { vc: a.vc, peer: a.peer, v: [0, 0, 0, 0] });
    e.v[0] += a.rx_frames;
    e.v[1] += a.rx_bytes;
    e.v[2] += a.tx_frames;
    e.v[3] += a.tx_bytes;
  }
  for (const { vc, peer, v } of pw.values()) {
    const l = { vc, peer };
    w.counter("l2_las_pseudowire_rx_frames_total", "frames received on a pseudowire", v[0], l);
    w.counter("l2_las_pseudowire_rx_bytes_total", "bytes received on a pseudowire", v[1], l);
    w.counter("l2_las_pseudowire_tx_frames_total", "frames sent on a pseudowire", v[2], l);
    w.counter("l2_las_pseudowire_tx_bytes_total", "bytes sent on a pseudowire", v[3], l);
  }
  // Peer LAS servers (the mesh): configured, so the label set is bounded.
  for (const p of st.mesh) {
    const l = { peer: p.peer };
    w.gauge(
      "l2_las_mesh_peer_up",
      "1 while the connection to a peer LAS is up",
      p.state === "up" ? 1 : 0,
      l,
    );
    w.gauge("l2_las_mesh_sessions", "sessions up with a peer LAS (one per VC)", p.sessions_up, l);
    for (const d of ["rx", "tx"] as const) {
      w.counter(
        "l2_las_mesh_frames_total",
        "frames between this LAS and a peer LAS (rx: from it, tx: to it)",
        d === "rx" ? p.rx_frames : p.tx_frames,
        { peer: p.peer, direction: d },
      );
      w.counter(
        "l2_las_mesh_bytes_total",
        "frame bytes between this LAS and a peer LAS (rx: from it, tx: to it)",
        d === "rx" ? p.rx_bytes : p.tx_bytes,
        { peer: p.peer, direction: d },
      );
    }
    for (const [name, v] of Object.entries(p.counters)) {
      w.counter("l2_las_mesh_events_total", "mesh events with a peer LAS by name", v, {
        peer: p.peer,
        name,
      });
    }
  }
  for (const sw of st.switches) {
    const l = { vc: sw.vc };
    w.gauge("l2_las_switch_macs", "MAC entries in a virtual switch", sw.macs, l);
    w.counter("l2_las_switch_rx_frames_total", "frames into a virtual switch", sw.rx_frames, l);
    w.counter("l2_las_switch_flooded_frames_total", "frames flooded", sw.flooded_frames, l);
    w.counter(
      "l2_las_switch_unicast_frames_total",
      "frames forwarded as known unicast",
      sw.unicast_frames,
      l,
    );
    // `dropped` holds the reasons above 0 only: every reason is shown, from 0.
    for (const reason of DROP_NAMES) {
      const v = (sw.dropped as Partial<Record<string, number>>)[reason] ?? 0;
      w.counter("l2_las_switch_dropped_frames_total", "frames dropped by reason", v, {
        vc: sw.vc,
        reason,
      });
    }
  }
}
