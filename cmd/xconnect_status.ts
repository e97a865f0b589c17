/**
 * The xconnect edge's /status and /metrics, rendered in one place from the
 * engine's typed snapshot (`XconnectEngine.snapshot`). docs/las.md lists
 * what they show.
 *
 * @module
 */
import type { XconnectSnapshot } from "../core/xconnect/engine.ts";
import type { MetricsWriter } from "./kit/metrics.ts";

/** What /status adds when the edge carries an existing interface (`interface:`) instead of a TAP. */
export interface XconnectInterfaceStatus {
  name: string;
  mtu: number;
  /** Frames read larger than the interface's MTU allows (merged by an offload), dropped. */
  oversize_dropped: number;
  /** Which of GRO and LRO were turned off while running (restored at exit). */
  offloads_turned_off: { gro: boolean; lro: boolean };
}

/** The /status document of the edge: the snapshot, then the interface when there is one. */
export function xconnectStatus(
  s: XconnectSnapshot,
  iface: XconnectInterfaceStatus | null,
): Record<string, unknown> {
  return iface === null ? { ...s } : { ...s, interface: iface };
}

/** Describes the edge's gauge and counters into `w` (/metrics). */
export function xconnectMetrics(w: MetricsWriter, s: XconnectSnapshot): void {
  w.gauge("l2_xconnect_up", "1 when the session is up", s.state === "up" ? 1 : 0);
  for (const [name, v] of Object.entries(s.counters)) {
    w.counter(`l2_xconnect_${name}_total`, `xconnect: ${name.replaceAll("_", " ")}`, v);
  }
}
