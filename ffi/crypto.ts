/**
 * The cryptographic primitives the VPN's security is built from, on the
 * system libcrypto (OpenSSL 3): X25519 (RFC 7748) public keys and shared
 * secrets, SHA-256, HMAC-SHA256 (RFC 2104), constant-time comparison
 * (`CRYPTO_memcmp`) and random bytes (`RAND_bytes`) are here; the AEAD
 * (`Aead`, `aeadBackend`, `sodiumInfo`) is in `ffi/aead.ts`, the `dlopen`
 * table, `CryptoError`, the constants and `cryptoHandles` in
 * `ffi/libcrypto.ts`. This module re-exports both, so callers import every
 * cryptographic name from here.
 *
 * That is what the daemons use. HKDF-SHA256, Ed25519, fresh key pairs
 * (tests/lab/crypto_extra.ts) and the AEAD warm-up (tests/lab/crypto_warmup.ts)
 * are used only by tests and benches and live there.
 *
 * Errors: a failing libcrypto call throws a `CryptoError` naming the call
 * and the drained OpenSSL error queue. Bad *input* from the network never
 * throws: {@link x25519} returns `null` for a low-order peer key. Wrong
 * buffer sizes throw `RangeError` before any C call.
 *
 * Memory: every OpenSSL object this module creates is freed on every path
 * (`try`/`finally`) and counted in `cryptoHandles`. All buffers are passed
 * as `"buffer"` arguments to synchronous calls (rule 4 of docs/ffi.md).
 *
 * Not done here: key zeroisation of the JS copies callers keep, other
 * architectures.
 *
 * @module
 */

import {
  freePkey,
  freePkeyCtx,
  intLen,
  libcrypto,
  need,
  newPkey,
  newPkeyCtx,
  NID_X25519,
  notNull,
  ok,
  SHA256,
  SHA256_BYTES,
} from "./libcrypto.ts";

export {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type AeadAlgorithm,
  CryptoError,
  cryptoHandles,
  libcrypto,
  SHA256_BYTES,
  X25519_BYTES,
} from "./libcrypto.ts";
export { Aead, type AeadBackend, aeadBackend, sodiumInfo } from "./aead.ts";

// ---------------------------------------------------------------------------
// Hashes, MAC, comparison, randomness

/**
 * SHA-256 of `data` into `out` (32 bytes, allocated when not given).
 *
 * @example
 * ```ts
 * import { sha256 } from "./crypto.ts";
 * sha256(new TextEncoder().encode("abc")); // ba7816bf...
 * ```
 */
export function sha256<T extends Uint8Array = Uint8Array<ArrayBuffer>>(
  data: Uint8Array,
  out: T = new Uint8Array(SHA256_BYTES) as T,
): T {
  need(out, SHA256_BYTES, "SHA-256 output");
  ok(
    libcrypto.EVP_Digest(data, BigInt(data.length), out, null, SHA256, null),
    "EVP_Digest(SHA256)",
  );
  return out;
}

/**
 * HMAC-SHA256 (RFC 2104) of `data` under `key` into `out` (32 bytes,
 * allocated when not given).
 *
 * @example
 * ```ts
 * import { hmacSha256 } from "./crypto.ts";
 * hmacSha256(new Uint8Array(32), new Uint8Array(0)).length; // 32
 * ```
 */
export function hmacSha256<T extends Uint8Array = Uint8Array<ArrayBuffer>>(
  key: Uint8Array,
  data: Uint8Array,
  out: T = new Uint8Array(SHA256_BYTES) as T,
): T {
  need(out, SHA256_BYTES, "HMAC-SHA256 output");
  // OpenSSL 3.0 refuses a zero-length key. RFC 2104 pads the key with zeros
  // to the block size, so the empty key and a single zero byte are one key.
  const k = key.length === 0 ? ZERO_KEY : key;
  notNull(
    libcrypto.HMAC(SHA256, k, intLen(k.length, "HMAC key"), data, BigInt(data.length), out, null),
    "HMAC(SHA256)",
  );
  return out;
}

/** The HMAC key equivalent to an empty one (see `hmacSha256`). Never written. */
const ZERO_KEY = new Uint8Array(1);

/**
 * True when `a` and `b` have the same length and bytes; the time taken
 * depends only on the length (`CRYPTO_memcmp`).
 *
 * @example
 * ```ts
 * import { timingSafeEqual } from "./crypto.ts";
 * timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return libcrypto.CRYPTO_memcmp(a, b, BigInt(a.length)) === 0;
}

/**
 * Fills `out` from OpenSSL's CSPRNG and returns it.
 *
 * @example
 * ```ts
 * import { randomBytes } from "./crypto.ts";
 * randomBytes(new Uint8Array(32));
 * ```
 */
export function randomBytes<T extends Uint8Array>(out: T): T {
  const n = intLen(out.length, "random buffer");
  if (n > 0) ok(libcrypto.RAND_bytes(out, n), "RAND_bytes");
  return out;
}

// ---------------------------------------------------------------------------
// X25519 (RFC 7748)

function rawPublic(pkey: Deno.PointerObject, what: string): Uint8Array<ArrayBuffer> {
  const pub = new Uint8Array(32);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setUint32(0, pub.length, true);
  ok(libcrypto.EVP_PKEY_get_raw_public_key(pkey, pub, len), `EVP_PKEY_get_raw_public_key(${what})`);
  return pub;
}

function publicOf(nid: number, privateKey: Uint8Array, what: string): Uint8Array<ArrayBuffer> {
  need(privateKey, 32, `${what} private key`);
  const pkey = newPkey(
    libcrypto.EVP_PKEY_new_raw_private_key(nid, null, privateKey, BigInt(32)),
    `EVP_PKEY_new_raw_private_key(${what})`,
  );
  try {
    return rawPublic(pkey, what);
  } finally {
    freePkey(pkey);
  }
}

/**
 * The X25519 public key of a 32-byte private key (any 32 bytes; clamping is
 * part of X25519).
 *
 * @example
 * ```ts
 * import { x25519PublicKey } from "./crypto.ts";
 * x25519PublicKey(new Uint8Array(32).fill(7)).length; // 32
 * ```
 */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array<ArrayBuffer> {
  return publicOf(NID_X25519, privateKey, "X25519");
}

/**
 * The X25519 shared secret of our `privateKey` and the peer's public key
 * (32 bytes each). Returns null when OpenSSL refuses the derivation, which
 * for well-formed sizes means the peer sent a low-order point (the result
 * would be all zeros, RFC 7748 section 6.1): treat that as a failed
 * handshake, not a bug.
 *
 * @example
 * ```ts
 * import { randomBytes, x25519, x25519PublicKey } from "./crypto.ts";
 * const a = randomBytes(new Uint8Array(32)), b = randomBytes(new Uint8Array(32));
 * x25519(a, x25519PublicKey(b)); // equals x25519(b, x25519PublicKey(a))
 * ```
 */
export function x25519(
  privateKey: Uint8Array,
  peerPublicKey: Uint8Array,
): Uint8Array<ArrayBuffer> | null {
  need(privateKey, 32, "X25519 private key");
  need(peerPublicKey, 32, "X25519 peer public key");
  let ours: Deno.PointerObject | null = null;
  let theirs: Deno.PointerObject | null = null;
  let ctx: Deno.PointerObject | null = null;
  try {
    ours = newPkey(
      libcrypto.EVP_PKEY_new_raw_private_key(NID_X25519, null, privateKey, BigInt(32)),
      "EVP_PKEY_new_raw_private_key(X25519)",
    );
    theirs = newPkey(
      libcrypto.EVP_PKEY_new_raw_public_key(NID_X25519, null, peerPublicKey, BigInt(32)),
      "EVP_PKEY_new_raw_public_key(X25519)",
    );
    ctx = newPkeyCtx(libcrypto.EVP_PKEY_CTX_new(ours, null), "EVP_PKEY_CTX_new(X25519)");
    ok(libcrypto.EVP_PKEY_derive_init(ctx), "EVP_PKEY_derive_init(X25519)");
    const out = new Uint8Array(32);
    const len = new Uint8Array(8);
    new DataView(len.buffer).setUint32(0, out.length, true);
    if (
      libcrypto.EVP_PKEY_derive_set_peer(ctx, theirs) !== 1 ||
      libcrypto.EVP_PKEY_derive(ctx, out, len) !== 1
    ) {
      libcrypto.ERR_clear_error();
      return null;
    }
    return out;
  } finally {
    freePkeyCtx(ctx);
    freePkey(theirs);
    freePkey(ours);
  }
}
