/**
 * The xconnect edge's /status and /metrics, rendered in one place from the
 * engine's typed snapshot (`XconnectEngine.snapshot`). docs/las.md lists
 * what they show.
 *
 * @module
 */
import type { XconnectSnapshot } from "../core/xconnect/engine.ts";
import type { MetricsWriter } from "./kit/metrics.ts";
import { type IoCounters, ioMetrics, ioStatus, ioSum } from "./render/pump_counters.ts";

/**
 * The engine's counters with the pumps' folded in, under the names /status
 * and /metrics always had: `rx_other` also counts the datagrams cut to
 * their receive slot, `handler_errors` the datagrams and frames whose
 * handling threw.
 */
function withIo(s: XconnectSnapshot, io: IoCounters): XconnectSnapshot["counters"] {
  const c = s.counters;
  return {
    ...c,
    rx_other: c.rx_other + ioSum(io, "rx_truncated"),
    handler_errors: c.handler_errors + ioSum(io, "rx_handler_errors"),
  };
}

/** What /status adds when the edge carries an existing interface (`interface:`) instead of a TAP. */
export interface XconnectInterfaceStatus {
  name: string;
  mtu: number;
  /** Frames read larger than the interface's MTU allows (merged by an offload), dropped. */
  oversize_dropped: number;
  /** Which of GRO and LRO were turned off while running (restored at exit). */
  offloads_turned_off: { gro: boolean; lro: boolean };
}

/**
 * The /status document of the edge: the snapshot with the pumps' counters
 * folded in (`io`: the socket's and the device's pump counters by name,
 * cmd/kit/pump.ts) and shown per fd under `io`, then the interface when
 * there is one.
 */
export function xconnectStatus(
  s: XconnectSnapshot,
  iface: XconnectInterfaceStatus | null,
  io: IoCounters = {},
): Record<string, unknown> {
  const doc = { ...s, counters: withIo(s, io), io: ioStatus(io) };
  return iface === null ? doc : { ...doc, interface: iface };
}

/** Describes the edge's gauge and counters into `w` (/metrics); `io` as for `xconnectStatus`. */
export function xconnectMetrics(w: MetricsWriter, s: XconnectSnapshot, io: IoCounters = {}): void {
  const onBackup = s.active === "backup" && s.backup !== null;
  const up = onBackup ? s.backup?.state === "up" : s.state === "up";
  w.gauge("l2_xconnect_up", "1 when the session frames go to is up", up ? 1 : 0);
  if (s.backup) {
    w.gauge("l2_xconnect_on_backup", "1 while frames go to the backup LAS", onBackup ? 1 : 0);
  }
  for (const [name, v] of Object.entries(withIo(s, io))) {
    w.counter(`l2_xconnect_${name}_total`, `xconnect: ${name.replaceAll("_", " ")}`, v);
  }
  ioMetrics(w, "l2_xconnect", io);
}
