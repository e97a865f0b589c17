/**
 * The VPN security layer's `CryptoSuite` (core/vpn/crypto_suite.ts) on the
 * system libcrypto (`ffi/crypto.ts`): AES-256-GCM or ChaCha20-Poly1305,
 * X25519, HMAC-SHA256, SHA-256, `RAND_bytes`, `CRYPTO_memcmp`.
 *
 * `core/` cannot import FFI, so the daemons build this suite and hand it to
 * `SecureNode` / `SecureSupernode`.
 *
 * @module
 */
import {
  Aead,
  type AeadAlgorithm,
  hmacSha256,
  randomBytes,
  sha256,
  timingSafeEqual,
  x25519,
  x25519PublicKey,
} from "../ffi/crypto.ts";
import type { AeadKey, CryptoSuite } from "../core/vpn/crypto_suite.ts";

/** One libcrypto AEAD key behind the core's `AeadKey`. */
class FfiAeadKey implements AeadKey {
  readonly #a: Aead;
  constructor(algorithm: AeadAlgorithm, key: Uint8Array) {
    this.#a = new Aead(algorithm, key);
  }
  seal(n: Uint8Array, aad: Uint8Array, p: Uint8Array, off: number, len: number): number {
    return this.#a.sealInPlace(n, aad, p, off, len);
  }
  open(n: Uint8Array, aad: Uint8Array, p: Uint8Array, off: number, len: number): boolean {
    return this.#a.openInPlace(n, aad, p, off, len);
  }
  close(): void {
    this.#a.close();
  }
}

/**
 * The libcrypto suite. `algorithm` is the AEAD for sessions and handshakes
 * (default AES-256-GCM; both ends must use the same).
 *
 * @example
 * ```ts
 * import { ffiCryptoSuite } from "./vpn_crypto.ts";
 * const suite = ffiCryptoSuite();
 * suite.sha256(new Uint8Array(0)).length; // 32
 * ```
 */
export function ffiCryptoSuite(algorithm: AeadAlgorithm = "aes-256-gcm"): CryptoSuite {
  return {
    aead: (key) => new FfiAeadKey(algorithm, key),
    x25519Public: (priv) => x25519PublicKey(priv),
    x25519: (priv, pub) => x25519(priv, pub),
    hmac: (key, data) => hmacSha256(key, data),
    sha256: (data) => sha256(data),
    randomBytes: (out) => void randomBytes(out),
    equal: (a, b) => a.length === b.length && timingSafeEqual(a, b),
  };
}
