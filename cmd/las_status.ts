/**
 * The LAS's /status and /metrics, rendered in one place from the engine's
 * typed snapshot (`LasEngine.snapshot`). docs/las.md lists what they show.
 *
 * @module
 */
import type { LasSnapshot, LasStatus } from "../core/las/engine.ts";
import type { MetricsWriter } from "./kit/metrics.ts";

/**
 * The /status document of the LAS: the snapshot's `status`, with each
 * recent event's time on the wall clock (`wallNow`, ms since the epoch, is
 * the moment the snapshot was taken).
 */
export function lasStatus(s: LasSnapshot, wallNow: number): Record<string, unknown> {
  const st: LasStatus = s.status;
  const recent = st.recent.map(({ at, ...e }) => ({
    time: new Date(wallNow - (s.now - at)).toISOString(),
    ...e,
  }));
  return { ...st, recent };
}

/** Describes the LAS's gauges and counters into `w` (/metrics). */
export function lasMetrics(w: MetricsWriter, s: LasSnapshot): void {
  const st = s.status;
  w.gauge("l2_las_connections", "L2TPv3 control connections (all states)", st.connections.length);
  w.gauge("l2_las_sessions", "sessions attached to a virtual switch", st.sessions.length);
  w.gauge("l2_las_switches", "virtual switches (VC ids)", st.switches.length);
  w.gauge(
    "l2_las_sessions_setting_up",
    "sessions admitted and not yet up (their new VCs count against max_switches)",
    st.sessions_setting_up,
  );
  for (const [name, v] of Object.entries(st.counters)) {
    w.counter(`l2_las_${name}_total`, `LAS engine: ${name.replaceAll("_", " ")}`, v);
  }
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
  for (const a of st.sessions) {
    const l = { vc: a.vc, session: a.session, peer: a.peer };
    w.counter("l2_las_session_rx_frames_total", "frames received on a session", a.rx_frames, l);
    w.counter("l2_las_session_rx_bytes_total", "bytes received on a session", a.rx_bytes, l);
    w.counter("l2_las_session_tx_frames_total", "frames sent on a session", a.tx_frames, l);
    w.counter("l2_las_session_tx_bytes_total", "bytes sent on a session", a.tx_bytes, l);
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
    // `dropped` holds the reasons above 0 only, as /metrics always showed them.
    for (const [reason, v] of Object.entries(sw.dropped)) {
      w.counter("l2_las_switch_dropped_frames_total", "frames dropped by reason", v, {
        vc: sw.vc,
        reason,
      });
    }
  }
}
