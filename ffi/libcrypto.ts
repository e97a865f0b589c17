/**
 * The one `Deno.dlopen` table on the system libcrypto (OpenSSL 3,
 * `libcrypto.so.3`) and what every user of it shares: the constants,
 * `CryptoError` and the error-queue helpers, the accounting of the OpenSSL
 * objects created and freed (`cryptoHandles`, for leak tests), and the
 * algorithms fetched once (SHA-256, the two AEAD ciphers).
 *
 * The primitives built on it are in `ffi/aead.ts` (`Aead`) and
 * `ffi/crypto.ts` (hashes, HMAC, X25519, random bytes; it re-exports this
 * module's public names and `ffi/aead.ts`'s, so callers import from there).
 * The helpers marked "within ffi/" (`fail`, `ok`, `notNull`, `need`,
 * `intLen`, the `new*`/`free*` pairs) are for those two files only.
 *
 * Errors: a failing libcrypto call throws a {@link CryptoError} naming the
 * call and the drained OpenSSL error queue. Wrong buffer sizes are
 * programming errors and throw `RangeError` before any C call (C must never
 * write past a buffer).
 *
 * ABI notes (x86-64 System V): `size_t` is `usize`, passed as a BigInt (a
 * number would also convert exactly but leaves V8's fast-call path);
 * `int` lengths are `i32` (every length is checked below 2^31);
 * `unsigned long` (ERR_get_error) is `u64`.
 *
 * @module
 */

const SYMBOLS = {
  // errors
  ERR_get_error: { parameters: [], result: "u64" },
  ERR_error_string_n: { parameters: ["u64", "buffer", "usize"], result: "void" },
  ERR_peek_error: { parameters: [], result: "u64" },
  ERR_clear_error: { parameters: [], result: "void" },
  // algorithm fetches (done once per module instance)
  EVP_CIPHER_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  EVP_MD_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  // AEAD
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  EVP_CipherInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  /**
   * EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc): change only the nonce.
   * The three NULLs are declared `usize` and passed `0n` (see `NULL` in ffi/aead.ts).
   */
  EVP_CipherInit_nonce: {
    name: "EVP_CipherInit_ex",
    parameters: ["pointer", "usize", "usize", "usize", "buffer", "i32"],
    result: "i32",
  },
  /**
   * EVP_CipherInit_ex2(ctx, NULL, NULL, iv, enc, params): the nonce and, in
   * the same call, the expected tag (an OSSL_PARAM array) for opening. The
   * NULL cipher and key are declared `usize` and passed `0n`.
   */
  EVP_CipherInit_nonce_params: {
    name: "EVP_CipherInit_ex2",
    parameters: ["pointer", "usize", "usize", "buffer", "i32", "buffer"],
    result: "i32",
  },
  EVP_CipherUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  /**
   * EVP_CipherUpdate with a NULL output pointer, which feeds AAD. The output
   * is declared `usize` and always passed `0n` (see `NULL` in ffi/aead.ts).
   */
  EVP_CipherUpdate_aad: {
    name: "EVP_CipherUpdate",
    parameters: ["pointer", "usize", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_CipherFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // hashes and MACs
  EVP_Digest: {
    parameters: ["buffer", "usize", "buffer", "buffer", "pointer", "pointer"],
    result: "i32",
  },
  HMAC: {
    parameters: ["pointer", "buffer", "i32", "buffer", "usize", "buffer", "buffer"],
    result: "pointer",
  },
  CRYPTO_memcmp: { parameters: ["buffer", "buffer", "usize"], result: "i32" },
  RAND_bytes: { parameters: ["buffer", "i32"], result: "i32" },
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
  EVP_PKEY_CTX_new: { parameters: ["pointer", "pointer"], result: "pointer" },
  EVP_PKEY_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_derive_init: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_derive_set_peer: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_derive: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

function load(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  try {
    return Deno.dlopen("libcrypto.so.3", SYMBOLS).symbols;
  } catch (e) {
    throw new Error(
      `Cannot load libcrypto.so.3: ${e instanceof Error ? e.message : e} (install libssl3)`,
      { cause: e },
    );
  }
}

/** The libcrypto table. Loaded once per module instance (per worker). */
export const libcrypto: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] = load();

// OpenSSL constants (openssl/evp.h, obj_mac.h).
export const EVP_CTRL_AEAD_GET_TAG = 0x10;
// openssl/core.h, core_names.h: an OSSL_PARAM is { const char *key; unsigned
// int data_type; void *data; size_t data_size; size_t return_size; }, 40
// bytes on x86-64; an array ends with an entry whose key is NULL.
export const OSSL_PARAM_BYTES = 40;
export const OSSL_PARAM_OCTET_STRING = 5;
export const OSSL_PARAM_UNMODIFIED = 0xffff_ffff_ffff_ffffn;
export const PARAM_AEAD_TAG = "tag"; // OSSL_CIPHER_PARAM_AEAD_TAG
export const NID_X25519 = 1034;

/** AEAD key length in bytes (both algorithms). */
export const AEAD_KEY_BYTES = 32;
/** AEAD nonce length in bytes (both algorithms). */
export const AEAD_NONCE_BYTES = 12;
/** AEAD tag length in bytes (both algorithms). */
export const AEAD_TAG_BYTES = 16;
/** SHA-256 / HMAC-SHA256 output length. */
export const SHA256_BYTES = 32;
/** X25519 private, public and shared-secret length. */
export const X25519_BYTES = 32;

/**
 * A failed libcrypto call: which call, and the OpenSSL error queue drained
 * at the time (the first entry is the `code`).
 *
 * @example
 * ```ts
 * import { CryptoError } from "./crypto.ts";
 * const e = new CryptoError("EVP_CipherInit_ex(key)", ["error:1C800066:..."]);
 * e.message; // "EVP_CipherInit_ex(key) failed: error:1C800066:..."
 * ```
 */
export class CryptoError extends Error {
  override name = "CryptoError";
  /** The call and what it was for, e.g. "EVP_PKEY_derive(x25519)". */
  readonly call: string;
  /** The first OpenSSL error string, or "" when the queue was empty. */
  readonly code: string;
  /** Every OpenSSL error string that was queued, oldest first. */
  readonly errors: readonly string[];

  constructor(call: string, errors: readonly string[], options?: ErrorOptions) {
    const detail = errors.length > 0 ? errors.join("; ") : "no OpenSSL error queued";
    super(`${call} failed: ${detail}`, options);
    this.call = call;
    this.code = errors[0] ?? "";
    this.errors = errors;
  }

  /**
   * A CryptoError for `call` carrying the calling thread's OpenSSL error
   * queue, which it drains (at most 16 entries).
   */
  static fromQueue(call: string): CryptoError {
    return new CryptoError(call, drainErrors());
  }
}

const errText = new Uint8Array(256);

/** Drains the calling thread's OpenSSL error queue into strings (at most 16). */
function drainErrors(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 16; i++) {
    // Declared u64; Deno may hand back a number when it fits: normalise.
    const e = BigInt(libcrypto.ERR_get_error());
    if (e === 0n) break;
    errText.fill(0);
    libcrypto.ERR_error_string_n(e, errText, BigInt(errText.length));
    const end = errText.indexOf(0);
    out.push(new TextDecoder().decode(errText.subarray(0, end < 0 ? errText.length : end)));
  }
  libcrypto.ERR_clear_error();
  return out;
}

/** A CryptoError for `call` carrying the current error queue. */
export function fail(call: string): CryptoError {
  return CryptoError.fromQueue(call);
}

/** Throws a CryptoError for `call` unless `ret` is 1 (OpenSSL's success). */
export function ok(ret: number, call: string): void {
  if (ret !== 1) throw fail(call);
}

/** Within ffi/: `p`, or a CryptoError for `call` when it is NULL. */
export function notNull(p: Deno.PointerValue, call: string): Deno.PointerObject {
  if (p === null) throw fail(call);
  return p;
}

/** Within ffi/: RangeError unless `buf` has exactly `n` bytes. */
export function need(buf: Uint8Array, n: number, what: string): void {
  if (buf.length !== n) {
    throw new RangeError(`Cannot use ${what}: expected ${n} bytes, got ${buf.length}`);
  }
}

/** Within ffi/: `n` as an `int` length, RangeError outside 0..2^31-1. */
export function intLen(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fff_ffff) {
    throw new RangeError(`Cannot use ${what}: length ${n} is not in 0..2^31-1`);
  }
  return n;
}

// ---------------------------------------------------------------------------
// Handle accounting: every new/free pair below goes through these.

/** Live object counts (within ffi/: the `new*`/`free*` pairs and `Aead`). */
export const live = { cipherCtx: 0, pkey: 0, pkeyCtx: 0 };

/** Live OpenSSL objects this module created and has not freed yet (for leak tests). */
export function cryptoHandles(): { cipherCtx: number; pkey: number; pkeyCtx: number } {
  return { ...live };
}

/** Within ffi/: frees and uncounts an EVP_CIPHER_CTX. */
export function freeCipherCtx(p: Deno.PointerObject): void {
  libcrypto.EVP_CIPHER_CTX_free(p);
  live.cipherCtx--;
}

/** Within ffi/: counts a new EVP_PKEY (CryptoError for NULL). */
export function newPkey(p: Deno.PointerValue, call: string): Deno.PointerObject {
  const k = notNull(p, call);
  live.pkey++;
  return k;
}

/** Within ffi/: frees and uncounts an EVP_PKEY (null: nothing). */
export function freePkey(p: Deno.PointerObject | null): void {
  if (p === null) return;
  libcrypto.EVP_PKEY_free(p);
  live.pkey--;
}

/** Within ffi/: counts a new EVP_PKEY_CTX (CryptoError for NULL). */
export function newPkeyCtx(p: Deno.PointerValue, call: string): Deno.PointerObject {
  const c = notNull(p, call);
  live.pkeyCtx++;
  return c;
}

/** Within ffi/: frees and uncounts an EVP_PKEY_CTX (null: nothing). */
export function freePkeyCtx(p: Deno.PointerObject | null): void {
  if (p === null) return;
  libcrypto.EVP_PKEY_CTX_free(p);
  live.pkeyCtx--;
}

// ---------------------------------------------------------------------------
// Algorithms, fetched once (an explicit fetch avoids a provider lookup per init).

function fetchCipher(name: string): Deno.PointerObject {
  return notNull(
    libcrypto.EVP_CIPHER_fetch(null, new TextEncoder().encode(name + "\0"), null),
    `EVP_CIPHER_fetch(${name})`,
  );
}

export const SHA256 = notNull(
  libcrypto.EVP_MD_fetch(null, new TextEncoder().encode("SHA256\0"), null),
  "EVP_MD_fetch(SHA256)",
);

/** The two AEADs. Both take a 32-byte key, a 12-byte nonce and give a 16-byte tag. */
export type AeadAlgorithm = "aes-256-gcm" | "chacha20-poly1305";

export const CIPHERS: Record<AeadAlgorithm, Deno.PointerObject> = {
  "aes-256-gcm": fetchCipher("AES-256-GCM"),
  "chacha20-poly1305": fetchCipher("ChaCha20-Poly1305"),
};
