/**
 * The two small interfaces the daemons program against, shaped after
 * wireguard-go's `tun.Device` and `conn.Bind`: a `FrameDevice` (a TAP or TUN
 * device: Ethernet frames or IP packets in and out) and a
 * `DatagramTransport` (a UDP socket or a raw IP socket: datagrams with
 * addresses). Real ones live in `ffi/tap.ts`, `ffi/udp.ts`, `ffi/raw.ts`;
 * in-memory twins in `tests/lab/twins.ts`.
 *
 * Ownership: receive buffers belong to the device or transport and are
 * reused by the next receive call. Code that keeps a frame past the handler
 * copies it. Send calls copy (or finish with) the bytes before returning.
 *
 * Errors: receive calls return 0 when nothing is ready; send calls return 0
 * or an errno for transient failures (queue full, no route, message too big)
 * that the caller drops and counts. Programming errors and a dead device
 * (EBADF, ENODEV...) throw an `OsError`.
 *
 * Types only: no Deno calls here.
 *
 * @module
 */
import type { Endpoint, Ip16 } from "../core/addr.ts";

export type { Endpoint, Ip16 };

/** Frames read by one `FrameDevice.read()` call; reused by the next call. */
export interface FrameBatch {
  /** How many slots the batch has (the most one `read()` returns). */
  readonly capacity: number;
  /** Valid slots after the last `read()`. */
  count: number;
  /** Full-size slot buffers; frame i is `bufs[i].subarray(0, lens[i])`. */
  readonly bufs: readonly Uint8Array[];
  /** Length of each frame. */
  readonly lens: Int32Array;
  /**
   * Bytes of the slot's memory free before `bufs[i]` and after its end
   * (`TapDevice` with `headroom`/`tailroom`; absent: 0). The reader may
   * write there and in the frame until the next `read()`, e.g. to build a
   * packet around the frame where it lies.
   */
  readonly headroom?: number;
  readonly tailroom?: number;
}

/** A TAP (Ethernet frames) or TUN (IP packets) device. */
export interface FrameDevice {
  /** Interface name, e.g. "l2tap0". */
  readonly name: string;
  /** "tap": Ethernet frames; "tun": IP packets. */
  readonly mode: "tap" | "tun";
  /** MTU the device was configured with (IP payload size). */
  readonly mtu: number;
  /** File descriptor to poll for readability; -1 for in-memory twins. */
  readonly fd: number;
  /** Receive slots, filled by `read()`. */
  readonly rx: FrameBatch;
  /** Reads up to `rx.capacity` frames without blocking; returns how many (0 when none). */
  read(): number;
  /** Writes one frame; 0 on success, else the errno of a transient failure (frame dropped). */
  write(frame: Uint8Array): number;
  /** Releases the device. Idempotent. */
  close(): void;
}

/** Datagrams received by one `DatagramTransport.recv()` call; reused by the next call. */
export interface DatagramBatch {
  /** How many slots the batch has. */
  readonly capacity: number;
  /** Valid slots after the last `recv()`. */
  count: number;
  /** Full-size slot buffers. Payload i is `bufs[i].subarray(offsets[i], lens[i])`. */
  readonly bufs: readonly Uint8Array[];
  /** End of the received bytes in each slot (bytes received). */
  readonly lens: Int32Array;
  /** Start of the payload in each slot (IPv4 raw sockets: the IP header length). */
  readonly offsets: Int32Array;
  /** Source address per slot. */
  readonly src: readonly Ip16[];
  /** Source port per slot (0 for raw IP). */
  readonly srcPort: Uint16Array;
  /** Destination address the packet was sent to (from IP_PKTINFO / IPV6_PKTINFO). */
  readonly dst: readonly Ip16[];
  /** Interface index the packet arrived on. */
  readonly ifindex: Int32Array;
  /** 1 when the datagram did not fit its slot and was cut (drop it). */
  readonly truncated: Uint8Array;
  /**
   * With UDP GRO (ffi/dgram.ts `udpGro`): the segment size of each entry that
   * holds several coalesced datagrams, 0 for a single one. Absent: never
   * coalesced (in-memory twins, sockets without GRO).
   */
  readonly segs?: Int32Array;
}

/** A UDP socket or raw IP socket with batched, non-blocking I/O. */
export interface DatagramTransport {
  /** File descriptor to poll for readability; -1 for in-memory twins. */
  readonly fd: number;
  /** The bound address and port (port 0 for raw IP). */
  readonly local: Endpoint;
  /** Receive slots, filled by `recv()`. */
  readonly rx: DatagramBatch;
  /** Receives up to `rx.capacity` datagrams without blocking; returns how many (0 when none). */
  recv(): number;
  /**
   * Sends one datagram now, from `from` when given (a local address; the
   * kernel picks one otherwise). 0 on success, else a transient errno.
   */
  send(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number;
  /**
   * Copies a datagram into the send batch; the batch goes out on `flush()`,
   * or by itself when full. Returns 0, or a transient errno from that
   * automatic flush.
   */
  queue(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number;
  /**
   * Like `queue`, without the copy where the transport can (`DatagramSocket`
   * with the memory lent by `lend`): `data` is sent from where it lies and
   * must stay unchanged until the next `flush()` (or the one this call runs
   * when the batch is full). Optional: callers fall back to `queue`.
   */
  queueView?(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number;
  /** Sends the queued datagrams (one sendmmsg); 0, or the first transient errno (rest dropped). */
  flush(): number;
  /** Releases the socket. Idempotent. */
  close(): void;
}
