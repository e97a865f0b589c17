/**
 * Allocator of random, non-zero, unique 32-bit identifiers: local Session
 * IDs (which must be unique across every peer, because a data packet
 * carries nothing else: RFC 3931 section 4.1, facts section 0 item 5) and
 * local Control Connection IDs.
 *
 * Random rather than sequential so that a stale or spoofed packet is
 * unlikely to hit a live id (RFC 3931 section 8.2 suggests the same). The
 * random source is injected; the core owns no randomness.
 *
 * Bounded: at most `capacity` ids are live; `allocate` returns 0 when full
 * or when 16 draws in a row collided, and counts it.
 *
 * @module
 */

/** Hands out unique non-zero uint32 ids from an injected random source. */
export class IdAllocator {
  private readonly live = new Set<number>();
  /** Allocation refusals (full, or too many collisions). */
  refused = 0;

  /**
   * @param random32 returns a uniformly random integer in 0..2^32-1
   * @param capacity largest number of ids live at once
   */
  constructor(private readonly random32: () => number, readonly capacity: number) {}

  /**
   * A fresh id, or 0 when none can be given.
   *
   * @example
   * ```ts
   * import { IdAllocator } from "./id_allocator.ts";
   * let x = 1;
   * const ids = new IdAllocator(() => (x = (x * 1103515245 + 12345) >>> 0), 10);
   * const id = ids.allocate(); // non-zero, unique until released
   * ids.release(id);
   * ```
   */
  allocate(): number {
    if (this.live.size >= this.capacity) {
      this.refused++;
      return 0;
    }
    for (let i = 0; i < 16; i++) {
      const id = this.random32() >>> 0;
      if (id !== 0 && !this.live.has(id)) {
        this.live.add(id);
        return id;
      }
    }
    this.refused++;
    return 0;
  }

  /** Returns `id` to the pool. Unknown ids are ignored. */
  release(id: number): void {
    this.live.delete(id);
  }

  /** True when `id` is currently allocated. */
  has(id: number): boolean {
    return this.live.has(id);
  }

  /** Number of ids in use. */
  get size(): number {
    return this.live.size;
  }
}
