/**
 * `warmUpAead`: runs the AEAD path of `ffi/crypto.ts` until V8 has optimized
 * it, for benches that want to measure warm code from their first packet.
 * The daemons do not call it: a build whose `l2 node` did showed no gain in
 * the round trip (docs/performance.md, "Per-packet cost").
 *
 * @module
 */

import {
  Aead,
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type AeadAlgorithm,
} from "../../ffi/crypto.ts";

/**
 * Runs `rounds` seal/open pairs of a ping-sized packet (98 bytes behind a
 * 24-byte header) through `Aead.sealInPlace`/`openInPlace` on a throwaway
 * key, so that V8 compiles the AEAD path with its optimizing tier, whose
 * FFI calls take the fast path, before the first real packet. Without it a
 * daemon that sees a packet every few milliseconds runs these functions in
 * the interpreter or the mid tier for a long time: V8 optimizes `seal` only
 * after some 20,000 calls, and a paced seal then costs about twice as much
 * (docs/performance.md, "Per-packet cost"). Both branches of the in-place
 * calls (new and reused buffers) and a failing open are exercised, so real
 * traffic does not meet code without type feedback. About 8 µs a round
 * here; call it once before measuring, not per key.
 *
 * @example
 * ```ts
 * import { warmUpAead } from "./crypto_warmup.ts";
 * warmUpAead(100, ["aes-256-gcm", "chacha20-poly1305"]);
 * ```
 */
export function warmUpAead(
  rounds = 20_000,
  algorithms: readonly AeadAlgorithm[] = ["aes-256-gcm"],
): void {
  const nonce = new Uint8Array(AEAD_NONCE_BYTES);
  const aad = new Uint8Array(24);
  const rx = new Uint8Array(2048);
  const key = new Uint8Array(AEAD_KEY_BYTES).fill(0x5a);
  for (const alg of algorithms) {
    using a = new Aead(alg, key);
    for (let i = 0; i < rounds; i++) {
      nonce[11] = i & 0xff;
      nonce[10] = (i >>> 8) & 0xff;
      const p = new Uint8Array(24 + 98 + AEAD_TAG_BYTES);
      a.sealInPlace(nonce, aad, p, 24, 98);
      rx.set(p);
      if ((i & 63) === 0) rx[30] ^= 1;
      if (a.openInPlace(nonce, aad, rx, 24, 98 + AEAD_TAG_BYTES) !== ((i & 63) !== 0)) {
        throw new Error(`Cannot warm up ${alg}: a round trip did not open as expected`);
      }
    }
  }
}
