/**
 * The pumps: the one place a readable socket or device is read and its
 * packets handed to an engine (core/engine.ts), one at a time, each inside
 * its own containment. A role lists its sockets and devices; the runner
 * (runner.ts) watches the fds these pumps return.
 *
 * A socket pump reads one batch (`recv`, one `recvmmsg`), skips datagrams
 * cut to their slot (counted `rx_truncated`), cuts a UDP GRO entry back into
 * its datagrams (`groSegments`: each goes to the engine on its own, as if it
 * had come alone, so every datagram passes the same checks), fills one
 * reused `Arrival` per datagram, calls `engine.receive`, and after the batch
 * `engine.endBatch(now)`. A device pump does the same with `read()` and
 * `engine.fromDevice`. A packet whose handling throws is dropped and goes to
 * the containment sink (kit/contain.ts) with the handler's name and, for a
 * datagram, its source; the rest of the batch goes on.
 *
 * @module
 */
import { type Arrival, type Engine } from "../../core/engine.ts";
import { formatEndpoint, formatIp } from "../../core/addr.ts";
import { groSegments } from "../../ffi/dgram.ts";
import type { DatagramTransport, FrameDevice } from "../../ffi/types.ts";
import type { PacketErrorSink } from "./contain.ts";
import type { Watch } from "./runner.ts";

/** Receive counters of one pumped socket. */
export interface PumpCounters {
  /** Datagrams handed to the engine (each datagram of a GRO entry counts). */
  rx_datagrams: number;
  /** Datagrams cut because they did not fit a receive slot (dropped). */
  rx_truncated: number;
  /** UDP GRO: entries that held two or more datagrams, and those datagrams. */
  rx_gro_messages: number;
  rx_gro_datagrams: number;
  /** Packets whose handling threw: dropped, contained. */
  rx_handler_errors: number;
}

/** Fresh zeroed counters. */
export function pumpCounters(): PumpCounters {
  return {
    rx_datagrams: 0,
    rx_truncated: 0,
    rx_gro_messages: 0,
    rx_gro_datagrams: 0,
    rx_handler_errors: 0,
  };
}

/** The engine calls a pump makes. */
export type PumpedEngine = Pick<Engine<unknown>, "receive" | "fromDevice" | "endBatch">;

/** How a socket is pumped. */
export interface SocketPumpOptions {
  /** Its name in the containment counters and logs (`udp`, `ip`). */
  name: string;
  socket: DatagramTransport;
  engine: PumpedEngine;
  /** The `Arrival.via` of its datagrams (the engine's index for this socket); default 0. */
  via?: number;
  /** Hears a packet's error; absent: the error propagates (tests). */
  contain?: PacketErrorSink;
  /** Where its counters go (shared with /status); default fresh ones. */
  counters?: PumpCounters;
}

/**
 * Reads one batch from `o.socket` into `o.engine`; returns how many entries
 * it read (0: drained), as the event loop expects.
 */
export function pumpSocket(o: SocketPumpOptions, now: number, from: Arrival): number {
  const t = o.socket;
  const n = t.recv();
  if (n === 0) return 0;
  const rx = t.rx;
  const c = o.counters!;
  const engine = o.engine;
  // Only a batch that can coalesce has `segs` (ffi/dgram.ts GroBatch; not the twins).
  const segs = (rx as { segs?: Int32Array }).segs;
  for (let i = 0; i < n; i++) {
    if (rx.truncated[i]) {
      c.rx_truncated++;
      continue;
    }
    from.src = rx.src[i];
    from.srcPort = rx.srcPort[i];
    from.dst = rx.dst[i];
    const buf = rx.bufs[i], start = rx.offsets[i], end = rx.lens[i];
    const seg = segs === undefined ? 0 : segs[i];
    if (seg === 0 || groSegments(end - start, seg) <= 1) {
      c.rx_datagrams++;
      try {
        engine.receive(buf.subarray(start, end), from, now);
      } catch (e) {
        contained(o, c, e, from);
      }
      continue;
    }
    c.rx_gro_messages++;
    // Datagram j is seg bytes from start + j * seg; the last may be shorter.
    for (let off = start; off < end; off += seg) {
      c.rx_gro_datagrams++;
      c.rx_datagrams++;
      try {
        engine.receive(buf.subarray(off, off + seg < end ? off + seg : end), from, now);
      } catch (e) {
        contained(o, c, e, from);
      }
    }
  }
  engine.endBatch(now);
  return n;
}

function contained(o: SocketPumpOptions, c: PumpCounters, e: unknown, from: Arrival): void {
  c.rx_handler_errors++;
  if (!o.contain) throw e;
  // Over raw IP there is no port (0): the peer is its address, as the LAS names it.
  const peer = from.srcPort === 0
    ? formatIp(from.src)
    : formatEndpoint({ ip: from.src, port: from.srcPort });
  o.contain(o.name, e, peer);
}

/** The runner's watch for a pumped socket (`batch`: the socket's receive batch). */
export function socketWatch(o: SocketPumpOptions): Watch & { counters: PumpCounters } {
  const counters = o.counters ?? pumpCounters();
  const opts = { ...o, counters };
  // One Arrival per socket, refilled per datagram: no allocation per packet.
  const from: Arrival = {
    via: o.via ?? 0,
    src: new Uint8Array(16),
    srcPort: 0,
    dst: new Uint8Array(16),
  };
  return {
    fd: o.socket.fd,
    name: o.name,
    onReadable: (now) => pumpSocket(opts, now, from),
    close: () => o.socket.close(),
    batch: o.socket.rx.capacity,
    counters,
  };
}

/** How a device is pumped. */
export interface DevicePumpOptions {
  /** Its name in the containment counters and logs (`tap`, `dev`). */
  name: string;
  device: FrameDevice;
  engine: PumpedEngine;
  contain?: PacketErrorSink;
  counters?: PumpCounters;
}

/** Reads one batch of frames from `o.device` into `o.engine`; returns how many (0: drained). */
export function pumpDevice(o: DevicePumpOptions, now: number): number {
  const d = o.device;
  const n = d.read();
  if (n === 0) return 0;
  const rx = d.rx;
  const c = o.counters!;
  const engine = o.engine;
  for (let i = 0; i < n; i++) {
    c.rx_datagrams++;
    try {
      engine.fromDevice(rx.bufs[i].subarray(0, rx.lens[i]), now);
    } catch (e) {
      c.rx_handler_errors++;
      if (!o.contain) throw e;
      o.contain(o.name, e, null);
    }
  }
  engine.endBatch(now);
  return n;
}

/** The runner's watch for a pumped device. */
export function deviceWatch(o: DevicePumpOptions): Watch & { counters: PumpCounters } {
  const counters = o.counters ?? pumpCounters();
  const opts = { ...o, counters };
  return {
    fd: o.device.fd,
    name: o.name,
    onReadable: (now) => pumpDevice(opts, now),
    close: () => o.device.close(),
    batch: o.device.rx.capacity,
    counters,
  };
}
