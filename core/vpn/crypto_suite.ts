/**
 * The cryptography the VPN's security layer needs, as an interface the
 * caller injects (issue 6). `core/` cannot load libcrypto; `cmd/vpn_crypto.ts`
 * implements this with `ffi/crypto.ts`, tests may wrap it (a seeded random
 * source for reproducible transcripts, a spy that counts public-key work).
 *
 * Also here: the HMAC-based HKDF of the Noise framework (section 4.3), built
 * on the suite's HMAC so both ends and the tests share one definition.
 *
 * Not here: any algorithm choice (the suite decides AES-256-GCM or
 * ChaCha20-Poly1305; both ends of a network must agree).
 *
 * @module
 */

/** One AEAD key (32 bytes), 12-byte nonces, 16-byte tags. */
export interface AeadKey {
  /** Encrypts `packet[offset, offset+length)` in place, tag right after. Returns `length + 16`. */
  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    packet: Uint8Array,
    offset: number,
    length: number,
  ): number;
  /** Checks and decrypts `packet[offset, offset+length)` (ciphertext then tag) in place. */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    packet: Uint8Array,
    offset: number,
    length: number,
  ): boolean;
  /** Frees the key. */
  close(): void;
}

/** The primitives of the security layer. Methods throw only on bugs (wrong sizes). */
export interface CryptoSuite {
  /** A new AEAD key. */
  aead(key: Uint8Array): AeadKey;
  /** X25519 public key of a 32-byte private key. */
  x25519Public(privateKey: Uint8Array): Uint8Array;
  /** X25519 shared secret, or null for a low-order peer key. */
  x25519(privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array | null;
  /** HMAC-SHA256 (32 bytes). */
  hmac(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** SHA-256 (32 bytes). */
  sha256(data: Uint8Array): Uint8Array;
  /** Fills `out` with secure random bytes. */
  randomBytes(out: Uint8Array): void;
  /** Constant-time equality of two byte strings (false for different lengths). */
  equal(a: Uint8Array, b: Uint8Array): boolean;
}

/**
 * Noise's HKDF(chaining key, input key material, n) for n = 2..4: temp =
 * HMAC(ck, ikm); out1 = HMAC(temp, 0x01); out_i = HMAC(temp, out_{i-1} | i).
 * (RFC 5869 with the chaining key as salt and empty info.)
 *
 * @example
 * ```ts
 * // const [ck, k] = noiseHkdf(suite, ck, dh, 2);
 * ```
 */
export function noiseHkdf(
  suite: CryptoSuite,
  ck: Uint8Array,
  ikm: Uint8Array,
  n: number,
): Uint8Array[] {
  const temp = suite.hmac(ck, ikm);
  const out: Uint8Array[] = [];
  let prev = new Uint8Array(0);
  for (let i = 1; i <= n; i++) {
    const m = new Uint8Array(prev.length + 1);
    m.set(prev);
    m[prev.length] = i;
    prev = new Uint8Array(suite.hmac(temp, m));
    out.push(prev);
  }
  temp.fill(0);
  return out;
}

/** `a | b` as a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Lower-case hex of bytes (fingerprints, logs). */
export function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, "0");
  return s;
}

/** Short fingerprint of a public key for log lines: first 8 bytes in hex. */
export function fingerprint(publicKey: Uint8Array): string {
  return hex(publicKey.subarray(0, 8));
}
