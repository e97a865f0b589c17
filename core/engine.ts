/**
 * The one shape of every daemon's engine (`l2 node`, `l2 supernode`,
 * `l2 las`, `l2 xconnect`): sans-IO, driven by the kit's runner
 * (cmd/kit/runner.ts, cmd/kit/pump.ts) and by tests without sockets.
 *
 * In: each datagram with where it came from (`Arrival`) and `now`; each
 * frame read from the role's device and `now`; `poll(now)` once
 * `nextDeadline()` has passed. Out: what the engine sends goes into the
 * ports it was built with (`DatagramPort`, `FramePort`), which only buffer:
 * `endBatch(now)` closes a batch of `receive`/`fromDevice` calls and
 * flushes them, so a batch costs one `sendmmsg`. `snapshot(now)` is the
 * typed state /status and /metrics are rendered from, in one place per
 * role (cmd/render/).
 *
 * Rules every engine keeps:
 * - `bytes`, `frame` and the `Arrival`'s addresses belong to the caller
 *   and are reused after the call: copy what is kept. One exception: a
 *   device whose slots have room around them (`FrameBatch.headroom`,
 *   `tailroom`, ffi/types.ts) lends the frame until `endBatch`, which is
 *   before the device reads again; the VPN node then seals a unicast frame
 *   where it lies and sends it with `queueView` (core/vpn/messages.ts
 *   `encodeDataPacket`, docs/ffi.md rule 8);
 * - a call may throw on a hostile packet: the runner drops that packet and
 *   counts it (kit/contain.ts); the engine must stay consistent, so state
 *   is changed only after a packet has been checked;
 * - time is the `now` argument (monotonic ms); an engine never reads a
 *   clock. Where a value must survive a restart (handshake timestamps),
 *   the wall clock is derived from `now` and the wall time at start, given
 *   in the engine's configuration.
 *
 * @module
 */
import type { Endpoint, Ip16 } from "./addr.ts";

/**
 * Where one datagram came from. Filled by the runner from the socket's
 * receive slot and reused for the next datagram: copy what is kept.
 */
export interface Arrival {
  /** Which of the engine's sockets, in the order the role lists them (0 for the first). */
  via: number;
  /** The sender's address (IPv4 mapped). */
  src: Ip16;
  /** The sender's UDP port; 0 over raw IP. */
  srcPort: number;
  /** Our address it was sent to (IP_PKTINFO), for answering from the same address. */
  dst: Ip16;
}

/**
 * A socket as an engine sends on it (ffi/dgram.ts `DatagramSocket` and the
 * in-memory twins fit): datagrams are copied into the send batch and go
 * out on `flush()`, one `sendmmsg`.
 */
export interface DatagramPort {
  /** Copies a datagram into the send batch, from `from` when given; 0 or a transient errno. */
  queue(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number;
  /**
   * Optional: `queue` without the copy, for bytes in memory lent to the
   * socket (`DatagramSocket.lend`); they stay unchanged until `flush()`.
   * Others are copied as by `queue`.
   */
  queueView?(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number;
  /** Sends what was queued; 0 or the first transient errno. */
  flush(): number;
}

/** A device as an engine writes frames to it (ffi/tap.ts `TapDevice`, ffi/packet.ts, twins). */
export interface FramePort {
  /** Writes one frame; 0, or a transient errno (the frame is dropped). */
  write(frame: Uint8Array): number;
}

/** What every engine offers the runner. `S` is its typed status snapshot. */
export interface Engine<S> {
  /** Called once before the loop runs (the first handshake or dial). */
  start(now: number): void;
  /** One datagram in. Throws only what handling this datagram threw. */
  receive(bytes: Uint8Array, from: Arrival, now: number): void;
  /** One frame read from the role's device (roles without a device never get one). */
  fromDevice(frame: Uint8Array, now: number): void;
  /** After a batch of `receive`/`fromDevice`: handles what the batch caused and flushes the ports. */
  endBatch(now: number): void;
  /** Runs the timers whose deadline has passed, and flushes what they sent. */
  poll(now: number): void;
  /** The next deadline in `now`'s clock; Infinity when idle. */
  nextDeadline(): number;
  /** Begins an orderly stop (StopCCN, deregistration, a last save). */
  stop(now: number): void;
  /** True once the stop is complete (its messages acknowledged or given up). */
  stopped(now: number): boolean;
  /** The typed state, for /status and /metrics. */
  snapshot(now: number): S;
}

/** Fields of a log line. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/**
 * Where an engine says what happened (the kit's `TopicLogger`, cmd/kit/log.ts,
 * fits). `limited` says a line at most so often per key; the logger keeps
 * the budget. Keys are per reason, never per peer, so forged sources cannot
 * multiply the lines.
 */
export interface EngineLog {
  info(msg: string, f?: LogFields): void;
  warn(msg: string, f?: LogFields): void;
  error(msg: string, f?: LogFields): void;
  limited(key: string, level: "warn" | "info", msg: string, f?: LogFields): boolean | void;
  /** A condition that goes on, said at doubling intervals (cmd/kit/log.ts `repeating`). */
  repeating?(key: string, level: "warn" | "error", msg: string, f?: LogFields): boolean | void;
  /** Ends a `repeating` condition, saying so at info. */
  resolved?(key: string, msg?: string): boolean | void;
}
