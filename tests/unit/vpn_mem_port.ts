/**
 * Test helper (not a test): in-memory ports for the VPN engines
 * (core/engine.ts `DatagramPort`, `FramePort`) and `Arrival`s from endpoint
 * text, so tests drive `receive(bytes, from, now)` without sockets.
 */
import type { Arrival, DatagramPort, FramePort } from "../../core/engine.ts";
import { type Endpoint, formatEndpoint, parseEndpoint } from "../../core/addr.ts";

/** A datagram an engine sent: destination text and a copy of the bytes. */
export interface Sent {
  to: string;
  bytes: Uint8Array;
  /** Queued with `queueView` (no copy in a real socket): where the bytes lay. */
  view?: { buffer: ArrayBufferLike; byteOffset: number };
}

/** A `DatagramPort` that records what was queued; `take()` returns the flushed datagrams. */
export class MemSocket implements DatagramPort {
  #queued: Sent[] = [];
  #flushed: Sent[] = [];
  flushes = 0;
  queue(data: Uint8Array, to: Endpoint): number {
    this.#queued.push({ to: formatEndpoint(to), bytes: data.slice() });
    return 0;
  }
  /** As a socket with lent memory: records where the bytes lay (and copies them, for the test). */
  queueView(data: Uint8Array, to: Endpoint): number {
    this.#queued.push({
      to: formatEndpoint(to),
      bytes: data.slice(),
      view: { buffer: data.buffer, byteOffset: data.byteOffset },
    });
    return 0;
  }
  flush(): number {
    this.flushes++;
    for (const s of this.#queued) this.#flushed.push(s);
    this.#queued = [];
    return 0;
  }
  /** Datagrams queued and not yet flushed. */
  get pending(): number {
    return this.#queued.length;
  }
  take(): Sent[] {
    const out = this.#flushed;
    this.#flushed = [];
    return out;
  }
}

/** A `FramePort` that keeps a copy of every frame written. */
export class MemDevice implements FramePort {
  frames: Uint8Array[] = [];
  write(frame: Uint8Array): number {
    this.frames.push(frame.slice());
    return 0;
  }
}

/** An `Arrival` from endpoint text, in a fresh slot (or written into `into`, as a pump reuses one). */
export function arrival(text: string, into?: Arrival): Arrival {
  const r = parseEndpoint(text);
  if (!r.ok) throw new Error(r.reason);
  const a = into ?? { via: 0, src: new Uint8Array(16), srcPort: 0, dst: new Uint8Array(16) };
  a.src.set(r.value.ip);
  a.srcPort = r.value.port;
  return a;
}
