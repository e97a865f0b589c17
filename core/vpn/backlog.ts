/**
 * Bounded queues between a VPN core and its daemon: datagrams to send and
 * events to log. When the daemon does not drain them, the newest item is
 * dropped and counted (`dropped`), so memory stays bounded.
 *
 * @module
 */
import type { KeyedEndpoint } from "../addr.ts";

/**
 * A datagram for the daemon to send. The core no longer touches `bytes`;
 * the copies of one broadcast share one array, so the daemon must not
 * modify it.
 */
export interface Outgoing {
  /** Destination (interned: shared, never modified). */
  to: KeyedEndpoint;
  bytes: Uint8Array;
  /**
   * IP TTL / hop limit for this datagram only (hole punching's opening
   * probes); absent: the socket's default.
   */
  ttl?: number;
  /**
   * `bytes` is a view into the daemon's own device buffer: a frame sealed
   * where it was read (`encodeDataPacket` with `inPlace`). Valid only until
   * the daemon's next read of that device: send it (or copy it) before.
   */
  borrowed?: true;
}

/** A FIFO of at most `max` items; pushing to a full queue drops the item and counts it. */
export class Backlog<T> {
  private items: T[] = [];
  /** Items dropped because the queue was full. */
  dropped = 0;

  constructor(private readonly max: number) {}

  /** Appends `item`, or drops it (returning false) when full. */
  push(item: T): boolean {
    if (this.items.length >= this.max) {
      this.dropped++;
      return false;
    }
    this.items.push(item);
    return true;
  }

  /** Removes and returns everything queued. */
  take(): T[] {
    const out = this.items;
    this.items = [];
    return out;
  }

  /** Number of queued items. */
  get length(): number {
    return this.items.length;
  }
}

/** Named counters; unknown names read as 0. */
export class Counters {
  private readonly values = new Map<string, number>();

  /** Adds `n` (default 1) to counter `name`. */
  add(name: string, n = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + n);
  }

  /** The value of counter `name`. */
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** All counters, sorted by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.values.keys()].sort()) out[k] = this.values.get(k)!;
    return out;
  }
}
