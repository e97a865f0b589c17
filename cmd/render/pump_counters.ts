/**
 * The socket and device pumps' counters (cmd/kit/pump.ts) in /status and
 * /metrics, the same for every role that lists its pumps by name ("ip",
 * "udp", "tap"...).
 *
 * @module
 */
import type { PumpCounters } from "../kit/pump.ts";
import type { MetricsWriter } from "../kit/metrics.ts";

/** Each pumped fd's counters, by the watch's name. */
export type IoCounters = Readonly<Record<string, Readonly<PumpCounters>>>;

/** The sum of one counter over every pump. */
export function ioSum(io: IoCounters, k: keyof PumpCounters): number {
  let n = 0;
  for (const c of Object.values(io)) n += c[k];
  return n;
}

/** A copy of the pumps' counters for /status (`io: { ip: {...}, udp: {...} }`). */
export function ioStatus(io: IoCounters): Record<string, PumpCounters> {
  return Object.fromEntries(Object.entries(io).map(([k, v]) => [k, { ...v }]));
}

/** `<prefix>_io_<counter>_total{fd="<name>"}` for every pump and counter. */
export function ioMetrics(w: MetricsWriter, prefix: string, io: IoCounters): void {
  for (const [fd, c] of Object.entries(io)) {
    for (const [name, v] of Object.entries(c)) {
      w.counter(
        `${prefix}_io_${name}_total`,
        `pump of a socket or device: ${name.replaceAll("_", " ")}`,
        v,
        {
          fd,
        },
      );
    }
  }
}
