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

/**
 * A UDP socket's counters (`<prefix>_socket_total{name}`); its on/off
 * states (`udp_gro_off`, `udp_gso_off`: the kernel refused the offload) as
 * the gauge `<prefix>_socket_offload_off{offload}`, and the size of its
 * endpoint cache as `<prefix>_socket_endpoints`.
 */
export function socketMetrics(
  w: MetricsWriter,
  prefix: string,
  socket: object,
): void {
  for (const [k, v] of Object.entries(socket) as [string, number][]) {
    const off = /^udp_(gro|gso)_off$/.exec(k);
    if (off) {
      w.gauge(
        `${prefix}_socket_offload_off`,
        "1 when the kernel refused the UDP offload (sent or received one datagram per call)",
        v,
        { offload: off[1] },
      );
    } else if (k === "endpoints") {
      w.gauge(`${prefix}_socket_endpoints`, "peer addresses in the socket's endpoint cache", v);
    } else w.counter(`${prefix}_socket_total`, "UDP socket counters by name", v, { name: k });
  }
}
