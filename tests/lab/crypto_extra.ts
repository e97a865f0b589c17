/**
 * The libcrypto primitives only tests and benches use, kept out of
 * `ffi/crypto.ts` (which holds what the daemons call): HKDF-SHA256
 * (RFC 5869), Ed25519 (RFC 8032, pure) and fresh X25519/Ed25519 key pairs.
 * The VPN's Noise HKDF is built on HMAC-SHA256 (`core/vpn/crypto_suite.ts`)
 * and it signs nothing; these stay because the known-answer and cross-check tests
 * hold the system libcrypto to the published vectors for them, and the
 * crypto bench measures them.
 *
 * Its own `Deno.dlopen` table on `libcrypto.so.3` holds only the symbols
 * called here (the library is loaded once per process either way; errors
 * are `CryptoError`s carrying the same thread's OpenSSL error queue, through
 * `CryptoError.fromQueue`). Every object created here is freed on every path
 * and counted: {@link cryptoHandles} adds these counts to `ffi/crypto.ts`'s,
 * so one leak test covers both files.
 *
 * Bad input never throws: {@link ed25519Verify} returns false. Wrong sizes
 * and lengths are programming errors and throw `RangeError` before any C call.
 *
 * @module
 */

import {
  CryptoError,
  cryptoHandles as ffiHandles,
  hmacSha256,
  randomBytes,
  x25519PublicKey,
} from "../../ffi/crypto.ts";

const SYMBOLS = {
  ERR_clear_error: { parameters: [], result: "void" },
  EVP_MD_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  // keys
  EVP_PKEY_new_raw_private_key: {
    parameters: ["i32", "pointer", "buffer", "usize"],
    result: "pointer",
  },
  EVP_PKEY_new_raw_public_key: {
    parameters: ["i32", "pointer", "buffer", "usize"],
    result: "pointer",
  },
  EVP_PKEY_get_raw_public_key: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_PKEY_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_CTX_new_id: { parameters: ["i32", "pointer"], result: "pointer" },
  EVP_PKEY_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_derive_init: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_derive: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // HKDF through the EVP_PKEY interface
  EVP_PKEY_CTX_set_hkdf_mode: { parameters: ["pointer", "i32"], result: "i32" },
  EVP_PKEY_CTX_set_hkdf_md: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_CTX_set1_hkdf_salt: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  EVP_PKEY_CTX_set1_hkdf_key: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  EVP_PKEY_CTX_add1_hkdf_info: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  // Ed25519 (one-shot digest-sign: md NULL)
  EVP_MD_CTX_new: { parameters: [], result: "pointer" },
  EVP_MD_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_DigestSignInit: {
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  EVP_DigestSign: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "usize"],
    result: "i32",
  },
  EVP_DigestVerifyInit: {
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  EVP_DigestVerify: {
    parameters: ["pointer", "buffer", "usize", "buffer", "usize"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

const lib = Deno.dlopen("libcrypto.so.3", SYMBOLS).symbols;

// OpenSSL constants (openssl/obj_mac.h, kdf.h).
const NID_ED25519 = 1087;
const NID_HKDF = 1036;
const HKDF_MODE_EXTRACT_AND_EXPAND = 0;
const HKDF_MODE_EXPAND_ONLY = 2;

/** Ed25519 signature length. */
export const ED25519_SIGNATURE_BYTES = 64;

/** Throws a CryptoError for `call` unless `ret` is 1 (OpenSSL's success). */
function ok(ret: number, call: string): void {
  if (ret !== 1) throw CryptoError.fromQueue(call);
}

function notNull(p: Deno.PointerValue, call: string): Deno.PointerObject {
  if (p === null) throw CryptoError.fromQueue(call);
  return p;
}

function need(buf: Uint8Array, n: number, what: string): void {
  if (buf.length !== n) {
    throw new RangeError(`Cannot use ${what}: expected ${n} bytes, got ${buf.length}`);
  }
}

function intLen(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fff_ffff) {
    throw new RangeError(`Cannot use ${what}: length ${n} is not in 0..2^31-1`);
  }
  return n;
}

const SHA256 = notNull(
  lib.EVP_MD_fetch(null, new TextEncoder().encode("SHA256\0"), null),
  "EVP_MD_fetch(SHA256)",
);

/** The HMAC key equivalent to an empty one (RFC 2104 zero padding). Never written. */
const ZERO_KEY = new Uint8Array(1);

// ---------------------------------------------------------------------------
// Handle accounting

const live = { pkey: 0, pkeyCtx: 0, mdCtx: 0 };

/**
 * Live OpenSSL objects created and not freed yet, `ffi/crypto.ts`'s and this
 * module's together (for leak tests).
 *
 * @example
 * ```ts
 * import { cryptoHandles, hkdfSha256 } from "./crypto_extra.ts";
 * const before = cryptoHandles();
 * hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 32);
 * JSON.stringify(cryptoHandles()) === JSON.stringify(before); // true
 * ```
 */
export function cryptoHandles(): {
  cipherCtx: number;
  pkey: number;
  pkeyCtx: number;
  mdCtx: number;
} {
  const f = ffiHandles();
  return {
    cipherCtx: f.cipherCtx,
    pkey: f.pkey + live.pkey,
    pkeyCtx: f.pkeyCtx + live.pkeyCtx,
    mdCtx: live.mdCtx,
  };
}

function newPkey(p: Deno.PointerValue, call: string): Deno.PointerObject {
  const k = notNull(p, call);
  live.pkey++;
  return k;
}

function freePkey(p: Deno.PointerObject | null): void {
  if (p === null) return;
  lib.EVP_PKEY_free(p);
  live.pkey--;
}

function newPkeyCtx(p: Deno.PointerValue, call: string): Deno.PointerObject {
  const c = notNull(p, call);
  live.pkeyCtx++;
  return c;
}

function freePkeyCtx(p: Deno.PointerObject | null): void {
  if (p === null) return;
  lib.EVP_PKEY_CTX_free(p);
  live.pkeyCtx--;
}

function withMdCtx<T>(fn: (md: Deno.PointerObject) => T): T {
  const md = notNull(lib.EVP_MD_CTX_new(), "EVP_MD_CTX_new");
  live.mdCtx++;
  try {
    return fn(md);
  } finally {
    lib.EVP_MD_CTX_free(md);
    live.mdCtx--;
  }
}

// ---------------------------------------------------------------------------
// HKDF-SHA256 (RFC 5869)

function hkdf(
  mode: number,
  key: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array<ArrayBuffer> {
  if (!(Number.isInteger(length) && length >= 1 && length <= 255 * 32)) {
    throw new RangeError(`Cannot derive ${length} bytes with HKDF-SHA256: allowed 1..8160`);
  }
  if (info.length > 1024) throw new RangeError("Cannot use HKDF info: over 1024 bytes");
  const out = new Uint8Array(length);
  const outLen = new Uint8Array(8);
  new DataView(outLen.buffer).setUint32(0, out.length, true);
  const ctx = newPkeyCtx(lib.EVP_PKEY_CTX_new_id(NID_HKDF, null), "EVP_PKEY_CTX_new_id(HKDF)");
  try {
    ok(lib.EVP_PKEY_derive_init(ctx), "EVP_PKEY_derive_init(HKDF)");
    ok(lib.EVP_PKEY_CTX_set_hkdf_mode(ctx, mode), "EVP_PKEY_CTX_set_hkdf_mode");
    ok(lib.EVP_PKEY_CTX_set_hkdf_md(ctx, SHA256), "EVP_PKEY_CTX_set_hkdf_md(SHA256)");
    // An absent salt is the same as HashLen zero bytes (RFC 5869 2.2); OpenSSL
    // gets none rather than an empty one.
    if (salt.length > 0) {
      ok(
        lib.EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, intLen(salt.length, "HKDF salt")),
        "EVP_PKEY_CTX_set1_hkdf_salt",
      );
    }
    ok(
      lib.EVP_PKEY_CTX_set1_hkdf_key(ctx, key, intLen(key.length, "HKDF key")),
      "EVP_PKEY_CTX_set1_hkdf_key",
    );
    if (info.length > 0) {
      ok(lib.EVP_PKEY_CTX_add1_hkdf_info(ctx, info, info.length), "EVP_PKEY_CTX_add1_hkdf_info");
    }
    ok(lib.EVP_PKEY_derive(ctx, out, outLen), "EVP_PKEY_derive(HKDF)");
    return out;
  } finally {
    freePkeyCtx(ctx);
  }
}

/**
 * HKDF-SHA256 (RFC 5869): extract with `salt` (empty = 32 zero bytes), then
 * expand with `info` (at most 1024 bytes) to `length` bytes (1..8160).
 *
 * @example
 * ```ts
 * import { hkdfSha256 } from "./crypto_extra.ts";
 * hkdfSha256(new Uint8Array(32), new Uint8Array(0), new TextEncoder().encode("l2 keys"), 64);
 * ```
 */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array<ArrayBuffer> {
  // OpenSSL 3.0 refuses an empty IKM, which RFC 5869 allows: extract by hand.
  if (ikm.length === 0) return hkdfExpand(hkdfExtract(salt, ikm), info, length);
  return hkdf(HKDF_MODE_EXTRACT_AND_EXPAND, ikm, salt, info, length);
}

/** HKDF-Extract (RFC 5869 2.2): the 32-byte PRK from `salt` and `ikm`. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array<ArrayBuffer> {
  // PRK = HMAC-Hash(salt, IKM); an empty salt is HashLen zeros, the same HMAC key.
  return hmacSha256(salt, ikm);
}

/** HKDF-Expand (RFC 5869 2.3): `length` bytes (1..8160) from `prk` and `info`. */
export function hkdfExpand(
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array<ArrayBuffer> {
  return hkdf(
    HKDF_MODE_EXPAND_ONLY,
    prk.length === 0 ? ZERO_KEY : prk,
    new Uint8Array(0),
    info,
    length,
  );
}

// ---------------------------------------------------------------------------
// Key pairs, Ed25519 (RFC 8032)

/** A private key and its public key, 32 bytes each. */
export interface KeyPair {
  privateKey: Uint8Array<ArrayBuffer>;
  publicKey: Uint8Array<ArrayBuffer>;
}

/** A fresh X25519 key pair from `RAND_bytes`. */
export function x25519KeyPair(): KeyPair {
  const privateKey = randomBytes(new Uint8Array(32));
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

/** The Ed25519 public key of a 32-byte private key (the RFC 8032 seed). */
export function ed25519PublicKey(privateKey: Uint8Array): Uint8Array<ArrayBuffer> {
  need(privateKey, 32, "Ed25519 private key");
  const pkey = newPkey(
    lib.EVP_PKEY_new_raw_private_key(NID_ED25519, null, privateKey, BigInt(32)),
    "EVP_PKEY_new_raw_private_key(Ed25519)",
  );
  try {
    const pub = new Uint8Array(32);
    const len = new Uint8Array(8);
    new DataView(len.buffer).setUint32(0, pub.length, true);
    ok(lib.EVP_PKEY_get_raw_public_key(pkey, pub, len), "EVP_PKEY_get_raw_public_key(Ed25519)");
    return pub;
  } finally {
    freePkey(pkey);
  }
}

/** A fresh Ed25519 key pair (32-byte seed and 32-byte public key). */
export function ed25519KeyPair(): KeyPair {
  const privateKey = randomBytes(new Uint8Array(32));
  return { privateKey, publicKey: ed25519PublicKey(privateKey) };
}

/**
 * The 64-byte Ed25519 signature (RFC 8032 5.1.6, pure Ed25519) of `message`.
 *
 * @example
 * ```ts
 * import { ed25519KeyPair, ed25519Sign, ed25519Verify } from "./crypto_extra.ts";
 * const k = ed25519KeyPair(), m = new Uint8Array([1, 2, 3]);
 * ed25519Verify(k.publicKey, m, ed25519Sign(k.privateKey, m)); // true
 * ```
 */
export function ed25519Sign(privateKey: Uint8Array, message: Uint8Array): Uint8Array<ArrayBuffer> {
  need(privateKey, 32, "Ed25519 private key");
  const pkey = newPkey(
    lib.EVP_PKEY_new_raw_private_key(NID_ED25519, null, privateKey, BigInt(32)),
    "EVP_PKEY_new_raw_private_key(Ed25519)",
  );
  try {
    return withMdCtx((md) => {
      ok(lib.EVP_DigestSignInit(md, null, null, null, pkey), "EVP_DigestSignInit(Ed25519)");
      const sig = new Uint8Array(ED25519_SIGNATURE_BYTES);
      const len = new Uint8Array(8);
      new DataView(len.buffer).setUint32(0, sig.length, true);
      ok(
        lib.EVP_DigestSign(md, sig, len, message, BigInt(message.length)),
        "EVP_DigestSign(Ed25519)",
      );
      return sig;
    });
  } finally {
    freePkey(pkey);
  }
}

/**
 * True when `signature` is a valid Ed25519 signature of `message` under
 * `publicKey`. Wrong sizes, invalid points and bad signatures give false.
 */
export function ed25519Verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== 32 || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  const p = lib.EVP_PKEY_new_raw_public_key(NID_ED25519, null, publicKey, BigInt(32));
  if (p === null) {
    lib.ERR_clear_error();
    return false;
  }
  const pkey = newPkey(p, "EVP_PKEY_new_raw_public_key(Ed25519)");
  try {
    return withMdCtx((md) => {
      ok(lib.EVP_DigestVerifyInit(md, null, null, null, pkey), "EVP_DigestVerifyInit(Ed25519)");
      const r = lib.EVP_DigestVerify(
        md,
        signature,
        BigInt(signature.length),
        message,
        BigInt(message.length),
      );
      if (r !== 1) lib.ERR_clear_error();
      return r === 1;
    });
  } finally {
    freePkey(pkey);
  }
}
