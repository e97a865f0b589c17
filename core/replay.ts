/**
 * Sliding anti-replay window over 64-bit packet counters, and the counter
 * nonce the VPN's AEAD uses.
 *
 * The window is the bitmap of RFC 6479 ("IPsec Anti-Replay Algorithm without
 * Bit Shifting"), as WireGuard uses it: a ring of `words` 32-bit words
 * (default 64 = 2048 bits). The word holding the highest counter seen is only
 * partly in use, so the window proper is `(words - 1) * 32` counters
 * (2016 by default): a counter is accepted when it is newer than the highest
 * one, or at most that far behind it and not seen before. Moving forward
 * clears only the words that come into use; nothing is ever shifted.
 *
 * Counters are two unsigned 32-bit halves (`hi`, `lo`), as read from the wire
 * with `DataView.getUint32`; nothing on the `check`/`accept` path allocates or
 * throws. BigInt is used only at the edges ({@link ReplayWindow.acceptBig},
 * tests). The ring index depends only on `lo` because `words * 32` divides
 * 2^32.
 *
 * Use: `check()` before decrypting (cheap early drop, no state change), then
 * `accept()` only after the AEAD tag verified, so forged packets can never move
 * the window.
 *
 * Not done here: the rekey limit on counters (a protocol decision: the sender
 * must stop and rekey before its counter wraps, see docs/crypto.md); per-peer
 * tables of windows (the owner of the session holds one window per key).
 *
 * @module
 */

/** What a window says about a counter. */
export type ReplayVerdict =
  /** Not seen and inside (or ahead of) the window. */
  | "ok"
  /** Already accepted. */
  | "replayed"
  /** Further behind the highest counter than the window reaches. */
  | "too_old";

/** Default ring size in 32-bit words: 2048 bits, a 2016-counter window. */
export const REPLAY_WORDS = 64;

/**
 * One receive key's anti-replay state. Fixed size (`words` 32-bit words,
 * 256 bytes by default); counts every verdict it gives from `accept()`.
 *
 * @example
 * ```ts
 * import { ReplayWindow } from "./replay.ts";
 * const w = new ReplayWindow();
 * w.accept(0, 5); // "ok"
 * w.accept(0, 5); // "replayed"
 * w.accept(0, 3000); // "ok", the window moves
 * w.accept(0, 6); // "too_old"
 * ```
 */
export class ReplayWindow {
  /** Counters behind the highest one that are still judged: `(words - 1) * 32`. */
  readonly size: number;
  /** Packets accepted. */
  accepted = 0;
  /** Packets refused by `accept()` as already seen. */
  replayed = 0;
  /** Packets refused by `accept()` as behind the window. */
  tooOld = 0;

  readonly #ring: Uint32Array;
  readonly #mask: number;
  #topHi = 0;
  #topLo = 0;

  /** `words` must be a power of two from 2 to 2^20. Throws RangeError otherwise. */
  constructor(words: number = REPLAY_WORDS) {
    if (!Number.isInteger(words) || words < 2 || words > 1 << 20 || (words & (words - 1)) !== 0) {
      throw new RangeError(
        `Cannot build replay window: ${words} words is not a power of two 2..2^20`,
      );
    }
    this.#ring = new Uint32Array(words);
    this.#mask = words - 1;
    this.size = (words - 1) * 32;
  }

  /** High 32 bits of the highest counter accepted (0 before the first). */
  get highestHi(): number {
    return this.#topHi;
  }

  /** Low 32 bits of the highest counter accepted (0 before the first). */
  get highestLo(): number {
    return this.#topLo;
  }

  /**
   * The verdict for counter `hi * 2^32 + lo`, without changing anything.
   * `hi` and `lo` are unsigned 32-bit integers.
   */
  check(hi: number, lo: number): ReplayVerdict {
    const dHi = hi - this.#topHi;
    if (dHi > 0 || (dHi === 0 && lo > this.#topLo)) return "ok";
    if (dHi < -1) return "too_old";
    // behind = top - counter, exact: |dHi| <= 1 keeps it below 2^33.
    const behind = -dHi * 0x1_0000_0000 + this.#topLo - lo;
    if (behind > this.size) return "too_old";
    return (this.#ring[(lo >>> 5) & this.#mask] >>> (lo & 31)) & 1 ? "replayed" : "ok";
  }

  /**
   * Tests and sets: the verdict for the counter, and when it is "ok" the
   * counter is recorded (moving the window forward if it is the newest).
   * Call only for packets whose tag verified.
   */
  accept(hi: number, lo: number): ReplayVerdict {
    const ring = this.#ring;
    const mask = this.#mask;
    const dHi = hi - this.#topHi;
    if (dHi > 0 || (dHi === 0 && lo > this.#topLo)) {
      // Ahead: clear the words between the old top's word and the new one's.
      // ahead is exact when dHi <= 1; anything further clears the whole ring.
      const ahead = dHi > 1 ? Infinity : dHi * 0x1_0000_0000 + lo - this.#topLo;
      const steps = Math.floor(((this.#topLo & 31) + ahead) / 32);
      if (steps > mask) {
        ring.fill(0);
      } else {
        let w = this.#topLo >>> 5;
        for (let i = 0; i < steps; i++) {
          w = (w + 1) & mask;
          ring[w] = 0;
        }
      }
      this.#topHi = hi;
      this.#topLo = lo;
    } else {
      if (dHi < -1) {
        this.tooOld++;
        return "too_old";
      }
      const behind = -dHi * 0x1_0000_0000 + this.#topLo - lo;
      if (behind > this.size) {
        this.tooOld++;
        return "too_old";
      }
    }
    const i = (lo >>> 5) & mask;
    const bit = 1 << (lo & 31);
    if (ring[i] & bit) {
      this.replayed++;
      return "replayed";
    }
    ring[i] |= bit;
    this.accepted++;
    return "ok";
  }

  /** `check()` for a counter given as a bigint in 0..2^64-1 (tests, logs). */
  checkBig(counter: bigint): ReplayVerdict {
    return this.check(Number(counter >> 32n) >>> 0, Number(counter & 0xffff_ffffn));
  }

  /** `accept()` for a counter given as a bigint in 0..2^64-1 (tests, logs). */
  acceptBig(counter: bigint): ReplayVerdict {
    return this.accept(Number(counter >> 32n) >>> 0, Number(counter & 0xffff_ffffn));
  }

  /** Forgets every counter (for a new key); the verdict counters are kept. */
  reset(): void {
    this.#ring.fill(0);
    this.#topHi = 0;
    this.#topLo = 0;
  }
}

/** Bytes in an AEAD nonce. */
export const NONCE_BYTES = 12;

/**
 * Writes the 12-byte AEAD nonce for counter `hi * 2^32 + lo`: four zero
 * bytes, then the counter big-endian (network order, as a packet header
 * carries it, so the last 8 bytes can also be copied from the header). Each
 * counter value gives a different nonce, so a sender that never repeats a
 * counter under a key never repeats a nonce.
 *
 * @example
 * ```ts
 * import { writeCounterNonce } from "./replay.ts";
 * const n = new Uint8Array(12);
 * writeCounterNonce(n, 0, 1); // n = 00000000 00000000 00000001
 * ```
 */
export function writeCounterNonce(nonce: Uint8Array, hi: number, lo: number): void {
  nonce[0] = 0;
  nonce[1] = 0;
  nonce[2] = 0;
  nonce[3] = 0;
  nonce[4] = hi >>> 24;
  nonce[5] = (hi >>> 16) & 0xff;
  nonce[6] = (hi >>> 8) & 0xff;
  nonce[7] = hi & 0xff;
  nonce[8] = lo >>> 24;
  nonce[9] = (lo >>> 16) & 0xff;
  nonce[10] = (lo >>> 8) & 0xff;
  nonce[11] = lo & 0xff;
}
