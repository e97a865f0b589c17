/**
 * The one `Deno.dlopen` table on the system libcrypto (OpenSSL 3,
 * `libcrypto.so.3`) and the primitives the VPN's security is built from:
 *
 * - {@link Aead}: AES-256-GCM and ChaCha20-Poly1305 (RFC 8439) seal/open for
 *   the packet hot path. Where libsodium is installed (`ffi/sodium.ts`) and
 *   can serve the algorithm, each seal and open is one libsodium call on a
 *   key state prepared once; otherwise OpenSSL, as follows (same wire
 *   format either way). One `EVP_CIPHER_CTX` per direction, keyed once; per
 *   packet only the nonce is changed (`EVP_CipherInit_ex` with a NULL
 *   cipher and key; for opening `EVP_CipherInit_ex2`, which sets the
 *   expected tag in the same call through a prepared OSSL_PARAM array). Output goes into a caller-provided buffer; the out-length
 *   int and the tag live in scratch memory allocated with the object, so a
 *   seal or an open allocates nothing.
 * - X25519 (RFC 7748) public keys and shared secrets, SHA-256, HMAC-SHA256
 *   (RFC 2104), constant-time comparison (`CRYPTO_memcmp`) and random bytes
 *   (`RAND_bytes`).
 *
 * That is what the daemons use. HKDF-SHA256, Ed25519, fresh key pairs
 * (tests/lab/crypto_extra.ts) and the AEAD warm-up (tests/lab/crypto_warmup.ts)
 * are used only by tests and benches and live there.
 *
 * Errors: a failing libcrypto call throws a {@link CryptoError} naming the
 * call and the drained OpenSSL error queue. Bad *input* from the network never
 * throws: {@link Aead.open} returns `false`,
 * {@link x25519} returns `null` for a low-order peer key. Wrong buffer sizes
 * are programming errors and throw `RangeError` before any C call (C must
 * never write past a buffer).
 *
 * Memory: every OpenSSL object this module creates is freed on every path
 * (`try`/`finally`), and counted in {@link cryptoHandles} so tests can prove
 * it. `Aead` contexts are freed by `close()` (or `using`); a
 * `FinalizationRegistry` frees forgotten ones only as a safety net. All
 * buffers are passed as `"buffer"` arguments to synchronous calls (rule 2 of
 * `ffi/libc.ts`): C uses them only during the call.
 *
 * ABI notes (x86-64 System V): `size_t` is `usize`, passed as a BigInt (a
 * number would also convert exactly but leaves V8's fast-call path, see
 * {@link NULL}); `int` lengths are `i32` (every length is checked below 2^31);
 * `unsigned long` (ERR_get_error) is `u64`.
 *
 * Not done here: AES-GCM with nonces other than 12 bytes or tags shorter than
 * 16, streaming (multi-call) AEAD, key zeroisation of the JS copies callers
 * keep, other architectures.
 *
 * @module
 */

import { sodium, type SodiumSymbols, u64Of } from "./sodium.ts";

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
   * The three NULLs are declared `usize` and passed `0n` (see {@link NULL}).
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
   * is declared `usize` and always passed `0n` (see {@link NULL}).
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
const EVP_CTRL_AEAD_GET_TAG = 0x10;
// openssl/core.h, core_names.h: an OSSL_PARAM is { const char *key; unsigned
// int data_type; void *data; size_t data_size; size_t return_size; }, 40
// bytes on x86-64; an array ends with an entry whose key is NULL.
const OSSL_PARAM_BYTES = 40;
const OSSL_PARAM_OCTET_STRING = 5;
const OSSL_PARAM_UNMODIFIED = 0xffff_ffff_ffff_ffffn;
const PARAM_AEAD_TAG = "tag"; // OSSL_CIPHER_PARAM_AEAD_TAG
const NID_X25519 = 1034;

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
function fail(call: string): CryptoError {
  return CryptoError.fromQueue(call);
}

/** Throws a CryptoError for `call` unless `ret` is 1 (OpenSSL's success). */
function ok(ret: number, call: string): void {
  if (ret !== 1) throw fail(call);
}

function notNull(p: Deno.PointerValue, call: string): Deno.PointerObject {
  if (p === null) throw fail(call);
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

// ---------------------------------------------------------------------------
// Handle accounting: every new/free pair below goes through these.

const live = { cipherCtx: 0, pkey: 0, pkeyCtx: 0 };

/** Live OpenSSL objects this module created and has not freed yet (for leak tests). */
export function cryptoHandles(): { cipherCtx: number; pkey: number; pkeyCtx: number } {
  return { ...live };
}

function freeCipherCtx(p: Deno.PointerObject): void {
  libcrypto.EVP_CIPHER_CTX_free(p);
  live.cipherCtx--;
}

function newPkey(p: Deno.PointerValue, call: string): Deno.PointerObject {
  const k = notNull(p, call);
  live.pkey++;
  return k;
}

function freePkey(p: Deno.PointerObject | null): void {
  if (p === null) return;
  libcrypto.EVP_PKEY_free(p);
  live.pkey--;
}

function newPkeyCtx(p: Deno.PointerValue, call: string): Deno.PointerObject {
  const c = notNull(p, call);
  live.pkeyCtx++;
  return c;
}

function freePkeyCtx(p: Deno.PointerObject | null): void {
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

const SHA256 = notNull(
  libcrypto.EVP_MD_fetch(null, new TextEncoder().encode("SHA256\0"), null),
  "EVP_MD_fetch(SHA256)",
);

/** The two AEADs. Both take a 32-byte key, a 12-byte nonce and give a 16-byte tag. */
export type AeadAlgorithm = "aes-256-gcm" | "chacha20-poly1305";

const CIPHERS: Record<AeadAlgorithm, Deno.PointerObject> = {
  "aes-256-gcm": fetchCipher("AES-256-GCM"),
  "chacha20-poly1305": fetchCipher("ChaCha20-Poly1305"),
};

// ---------------------------------------------------------------------------
// AEAD

interface AeadHandles {
  enc: Deno.PointerObject | null;
  dec: Deno.PointerObject | null;
}

function freeHandles(h: AeadHandles): void {
  if (h.enc !== null) freeCipherCtx(h.enc);
  if (h.dec !== null) freeCipherCtx(h.dec);
  h.enc = null;
  h.dec = null;
}

/** Frees the contexts of an `Aead` that was dropped without `close()`. */
const aeadRegistry = new FinalizationRegistry<AeadHandles>(freeHandles);

/**
 * A NULL pointer for hot-path arguments declared `usize`. Measured on Deno
 * 2.9.6: a 64-bit argument given a BigInt stays on V8's fast-call path (30-50
 * ns per libcrypto call here), while a plain number takes the slow path (about
 * 600 ns); `null` for a `"pointer"` measured some 70 ns slower than `0n` too.
 * One shared constant, so nothing is allocated per call.
 */
const NULL = 0n;

/** Where the tag bytes sit in the buffer `openTagParams` builds. */
const OPEN_TAG_AT = 2 * OSSL_PARAM_BYTES + 8;

/**
 * An OSSL_PARAM array `{ "tag": octet string of 16 bytes }` and its strings,
 * in one buffer of its own (off the V8 heap, never moved while referenced):
 * entry at 0, the terminating NULL entry at 40, "tag\0" at 80, tag at 88.
 */
function openTagParams(): Uint8Array<ArrayBuffer> {
  const buf = new ArrayBuffer(256); // large enough to be allocated outside the heap
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
  if (base === 0n) throw new Error("Cannot build OSSL_PARAM array: no backing store");
  const key = new Uint8Array(buf, 2 * OSSL_PARAM_BYTES, 8);
  key.set(new TextEncoder().encode(PARAM_AEAD_TAG + "\0"));
  const v = new DataView(buf);
  v.setBigUint64(0, base + BigInt(2 * OSSL_PARAM_BYTES), true);
  v.setUint32(8, OSSL_PARAM_OCTET_STRING, true);
  v.setBigUint64(16, base + BigInt(OPEN_TAG_AT), true);
  v.setBigUint64(24, BigInt(AEAD_TAG_BYTES), true);
  v.setBigUint64(32, OSSL_PARAM_UNMODIFIED, true);
  // Entry 2 (bytes 40..79) stays all zero: the end marker.
  return new Uint8Array(buf);
}

/** Which library seals and opens an `Aead`. */
export type AeadBackend = "libsodium" | "openssl";

function sodiumServes(algorithm: AeadAlgorithm): boolean {
  if (sodium.symbols === null) return false;
  return algorithm === "chacha20-poly1305" || sodium.aes256gcm;
}

/**
 * The backend a new `Aead` for `algorithm` uses: libsodium's one-call AEAD
 * where it is loaded and can serve the algorithm (AES-256-GCM needs AES-NI
 * and PCLMUL), else OpenSSL (see ffi/sodium.ts for why). The environment
 * variable `L2_AEAD_BACKEND=openssl` (or `libsodium`) overrides the choice
 * for the whole process, read once at start: a diagnostic switch for
 * comparing the two, not a setting.
 */
export function aeadBackend(algorithm: AeadAlgorithm): AeadBackend {
  if (FORCED !== "") return FORCED; // "libsodium" where it cannot serve: the constructor says so
  return sodiumServes(algorithm) ? "libsodium" : "openssl";
}

/** libsodium's version, or why it is not used ("" / the load error). */
export function sodiumInfo(): { version: string; error: string; aes256gcm: boolean } {
  return { version: sodium.version, error: sodium.error, aes256gcm: sodium.aes256gcm };
}

function forcedBackend(): AeadBackend | "" {
  const q = Deno.permissions.querySync({ name: "env", variable: "L2_AEAD_BACKEND" });
  if (q.state !== "granted") return ""; // no env permission: the default, and no prompt
  const v = Deno.env.get("L2_AEAD_BACKEND");
  if (v === undefined || v === "" || v === "auto") return "";
  if (v === "openssl" || v === "libsodium") return v;
  throw new Error(`L2_AEAD_BACKEND must be auto, openssl or libsodium, not "${v}"`);
}

const FORCED = forcedBackend();

/**
 * One AEAD key, ready to seal and open packets. Sealing and opening each have
 * their own `EVP_CIPHER_CTX`, keyed once in the constructor.
 *
 * Nonce rule: never seal two messages with the same nonce under one key. Use
 * the packet counter as the nonce (`writeCounterNonce` in `core/replay.ts`),
 * and re-key before the counter would wrap.
 *
 * Buffers: `plaintext`/`sealed` and `out` may be the same memory with the
 * same start (in place) or not overlap at all; a partial overlap is
 * undefined. For a body inside a larger packet buffer use `sealInPlace` /
 * `openInPlace`, which take an offset.
 *
 * @example
 * ```ts
 * import { Aead } from "./crypto.ts";
 * using a = new Aead("chacha20-poly1305", new Uint8Array(32));
 * const nonce = new Uint8Array(12), aad = new Uint8Array(8), msg = new Uint8Array(100);
 * const sealed = new Uint8Array(msg.length + 16);
 * a.seal(nonce, aad, msg, sealed); // 116
 * const back = new Uint8Array(msg.length);
 * a.open(nonce, aad, sealed, back); // true
 * ```
 */
export class Aead {
  /** Which AEAD this key is for. */
  readonly algorithm: AeadAlgorithm;
  /** Which library seals and opens (`aeadBackend()` picks). */
  readonly backend: AeadBackend;
  readonly #h: AeadHandles;
  /** libsodium: its table, else null (OpenSSL contexts in `#h`). */
  readonly #so: SodiumSymbols | null;
  /** libsodium AES-256-GCM: the expanded key state (16-byte aligned); ChaCha20-Poly1305: the key. */
  readonly #soKey: Uint8Array<ArrayBuffer>;
  readonly #soAes: boolean;
  #closed = false;
  /** Scratch for the `int *outl` argument and for the tag; reused by every call. */
  readonly #outl = new Uint8Array(new ArrayBuffer(16));
  readonly #outlView = new Int32Array(this.#outl.buffer, 0, 1);
  readonly #tag = new Uint8Array(new ArrayBuffer(AEAD_TAG_BYTES));
  /**
   * Open's parameters for `EVP_CipherInit_ex2`: an OSSL_PARAM array of one
   * entry, the expected tag, pointing into the same (never moved, kept alive
   * by this field) buffer: [param][end][key "tag\0"][tag bytes].
   */
  readonly #openParams = openTagParams();
  /** The 16 tag bytes inside `#openParams`' buffer, written before each open. */
  readonly #openTag = new Uint8Array(this.#openParams.buffer, OPEN_TAG_AT, AEAD_TAG_BYTES);
  readonly #final = new Uint8Array(new ArrayBuffer(32));
  // Last packet buffer and offset seen by sealInPlace/openInPlace, and the view.
  #sealBuf: Uint8Array | null = null;
  #sealOff = -1;
  #sealView: Uint8Array = this.#final;
  #openBuf: Uint8Array | null = null;
  #openOff = -1;
  #openView: Uint8Array = this.#final;

  /**
   * Keys the backend: libsodium's state, or OpenSSL's two contexts.
   * `backend` forces one ("libsodium" throws when it cannot serve
   * `algorithm`); default: `aeadBackend(algorithm)`. Throws RangeError for a
   * key that is not 32 bytes, CryptoError if the library fails.
   */
  constructor(algorithm: AeadAlgorithm, key: Uint8Array, backend?: AeadBackend) {
    if (!Object.hasOwn(CIPHERS, algorithm)) {
      throw new RangeError(`Cannot use AEAD ${algorithm}: unknown`);
    }
    const cipher = CIPHERS[algorithm];
    need(key, AEAD_KEY_BYTES, `${algorithm} key`);
    this.algorithm = algorithm;
    this.#h = { enc: null, dec: null };
    this.backend = backend ?? aeadBackend(algorithm);
    this.#soAes = algorithm === "aes-256-gcm";
    if (this.backend === "libsodium") {
      if (!sodiumServes(algorithm)) {
        throw new Error(
          `Cannot use libsodium for ${algorithm}: ${
            sodium.error || "this CPU lacks AES-NI/PCLMUL"
          }`,
        );
      }
      this.#so = sodium.symbols;
      if (this.#soAes) {
        // libsodium wants the state 16-byte aligned; the backing store is malloc'd (16-aligned)
        // but the offset is checked rather than assumed.
        const mem = new Uint8Array(new ArrayBuffer(sodium.aesStateBytes + 16));
        const pad = (16 - Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(mem)))) & 15;
        this.#soKey = mem.subarray(pad, pad + sodium.aesStateBytes);
        if (this.#so!.crypto_aead_aes256gcm_beforenm(this.#soKey, key) !== 0) {
          throw new CryptoError("crypto_aead_aes256gcm_beforenm", []);
        }
      } else {
        this.#soKey = new Uint8Array(new ArrayBuffer(AEAD_KEY_BYTES));
        this.#soKey.set(key);
      }
      return;
    }
    this.#so = null;
    this.#soKey = new Uint8Array(new ArrayBuffer(0));
    try {
      this.#h.enc = notNull(libcrypto.EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new");
      live.cipherCtx++;
      this.#h.dec = notNull(libcrypto.EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new");
      live.cipherCtx++;
      ok(
        libcrypto.EVP_CipherInit_ex(this.#h.enc, cipher, null, key, null, 1),
        `EVP_CipherInit_ex(${algorithm}, seal key)`,
      );
      ok(
        libcrypto.EVP_CipherInit_ex(this.#h.dec, cipher, null, key, null, 0),
        `EVP_CipherInit_ex(${algorithm}, open key)`,
      );
    } catch (e) {
      freeHandles(this.#h);
      throw e;
    }
    aeadRegistry.register(this, this.#h, this);
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Encrypts `plaintext[0, length)` and authenticates it with `aad`, writing
   * ciphertext then the 16-byte tag to `out[0, length + 16)`. `out` may be
   * the same memory as `plaintext` (same start). Returns `length + 16`.
   * Allocates nothing. Throws RangeError for wrong sizes (a bug, not input).
   */
  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    length: number = plaintext.length,
  ): number {
    if (this.#closed) throw new Error("Cannot seal: the AEAD context is closed");
    if (nonce.length !== AEAD_NONCE_BYTES) need(nonce, AEAD_NONCE_BYTES, "nonce");
    if (!(length >= 0 && length <= plaintext.length && length + AEAD_TAG_BYTES <= out.length)) {
      throw new RangeError(
        `Cannot seal ${length} bytes: plaintext has ${plaintext.length}, out has ${out.length} (needs ${
          length + AEAD_TAG_BYTES
        })`,
      );
    }
    const so = this.#so;
    if (so !== null) {
      // One call: ciphertext then tag into `out` (in place allowed). Two spelled-out
      // calls on purpose: V8 makes a fast FFI call only when it sees which symbol is
      // called; the same call through a function kept in a field measured 513 ns
      // instead of 353 for 64 bytes (the slow path).
      const r = this.#soAes
        ? so.crypto_aead_aes256gcm_encrypt_afternm(
          out,
          NULL,
          plaintext,
          u64Of(length),
          aad,
          u64Of(aad.length),
          NULL,
          nonce,
          this.#soKey,
        )
        : so.crypto_aead_chacha20poly1305_ietf_encrypt(
          out,
          NULL,
          plaintext,
          u64Of(length),
          aad,
          u64Of(aad.length),
          NULL,
          nonce,
          this.#soKey,
        );
      if (r !== 0) throw new CryptoError(`libsodium ${this.algorithm} seal`, []);
      return length + AEAD_TAG_BYTES;
    }
    const ctx = this.#h.enc!;
    const c = libcrypto;
    const outl = this.#outl;
    if (c.EVP_CipherInit_nonce(ctx, NULL, NULL, NULL, nonce, 1) !== 1) {
      throw fail("EVP_CipherInit_ex(seal nonce)");
    }
    if (aad.length > 0 && c.EVP_CipherUpdate_aad(ctx, NULL, outl, aad, aad.length) !== 1) {
      throw fail("EVP_CipherUpdate(seal aad)");
    }
    let n = 0;
    if (length > 0) {
      if (c.EVP_CipherUpdate(ctx, out, outl, plaintext, length) !== 1) {
        throw fail("EVP_CipherUpdate(seal)");
      }
      n = this.#outlView[0];
    }
    // Stream-like AEADs emit nothing at final; scratch takes the (empty) output.
    if (c.EVP_CipherFinal_ex(ctx, this.#final, outl) !== 1) throw fail("EVP_CipherFinal_ex(seal)");
    if (c.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_BYTES, this.#tag) !== 1) {
      throw fail("EVP_CIPHER_CTX_ctrl(GET_TAG)");
    }
    out.set(this.#tag, n);
    return n + AEAD_TAG_BYTES;
  }

  /**
   * Checks and decrypts `sealed[0, length)` (ciphertext then 16-byte tag)
   * with `aad`, writing the plaintext to `out[0, length - 16)`. Returns false
   * (and leaves `out` unspecified) when the input is shorter than a tag or
   * does not authenticate; never throws on bad input. `out` may be the same
   * memory as `sealed` (same start). Allocates nothing. Throws RangeError
   * when `out` is too small for `length - 16` bytes (a bug, not input).
   */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
    out: Uint8Array,
    length: number = sealed.length,
  ): boolean {
    if (this.#closed) throw new Error("Cannot open: the AEAD context is closed");
    if (nonce.length !== AEAD_NONCE_BYTES) return false;
    if (!(length >= AEAD_TAG_BYTES && length <= sealed.length)) return false;
    const n = length - AEAD_TAG_BYTES;
    if (n > out.length) {
      throw new RangeError(`Cannot open ${length} bytes: out has ${out.length}, needs ${n}`);
    }
    const so = this.#so;
    if (so !== null) {
      return (this.#soAes
        ? so.crypto_aead_aes256gcm_decrypt_afternm(
          out,
          NULL,
          NULL,
          sealed,
          u64Of(length),
          aad,
          u64Of(aad.length),
          nonce,
          this.#soKey,
        )
        : so.crypto_aead_chacha20poly1305_ietf_decrypt(
          out,
          NULL,
          NULL,
          sealed,
          u64Of(length),
          aad,
          u64Of(aad.length),
          nonce,
          this.#soKey,
        )) === 0;
    }
    const ctx = this.#h.dec!;
    const c = libcrypto;
    const outl = this.#outl;
    const tag = this.#openTag;
    for (let i = 0; i < AEAD_TAG_BYTES; i++) tag[i] = sealed[n + i];
    if (
      c.EVP_CipherInit_nonce_params(ctx, NULL, NULL, nonce, 0, this.#openParams) !== 1 ||
      (aad.length > 0 && c.EVP_CipherUpdate_aad(ctx, NULL, outl, aad, aad.length) !== 1) ||
      (n > 0 && c.EVP_CipherUpdate(ctx, out, outl, sealed, n) !== 1) ||
      c.EVP_CipherFinal_ex(ctx, this.#final, outl) !== 1
    ) {
      // A failed tag check queues no error; anything else that did is cleared
      // so the queue cannot carry it into an unrelated CryptoError later.
      if (Number(c.ERR_peek_error()) !== 0) c.ERR_clear_error();
      return false;
    }
    return true;
  }

  /**
   * `seal()` in place inside a packet buffer: encrypts
   * `packet[offset, offset + length)` and writes the tag right after it, at
   * `packet[offset + length, offset + length + 16)`. Returns `length + 16`.
   * The view of the body is cached per (buffer, offset), so an I/O loop that
   * reuses its packet buffers allocates nothing here either.
   */
  sealInPlace(
    nonce: Uint8Array,
    aad: Uint8Array,
    packet: Uint8Array,
    offset: number,
    length: number,
  ): number {
    if (packet !== this.#sealBuf || offset !== this.#sealOff) {
      if (!(offset >= 0 && offset <= packet.length)) {
        throw new RangeError(`Cannot seal at ${offset}: the packet has ${packet.length} bytes`);
      }
      this.#sealView = packet.subarray(offset);
      this.#sealBuf = packet;
      this.#sealOff = offset;
    }
    return this.seal(nonce, aad, this.#sealView, this.#sealView, length);
  }

  /**
   * `open()` in place inside a packet buffer: `packet[offset, offset + length)`
   * is ciphertext then tag; on success the plaintext is at
   * `packet[offset, offset + length - 16)`. False for anything that does not
   * authenticate (including an offset or length outside the buffer); never
   * throws on bad input. Cached view as for `sealInPlace`.
   */
  openInPlace(
    nonce: Uint8Array,
    aad: Uint8Array,
    packet: Uint8Array,
    offset: number,
    length: number,
  ): boolean {
    if (packet !== this.#openBuf || offset !== this.#openOff) {
      if (!(offset >= 0 && offset <= packet.length)) return false;
      this.#openView = packet.subarray(offset);
      this.#openBuf = packet;
      this.#openOff = offset;
    }
    return this.open(nonce, aad, this.#openView, this.#openView, length);
  }

  /**
   * Frees both contexts (OpenSSL wipes the key schedule) or wipes libsodium's
   * state. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#soKey.fill(0);
    aeadRegistry.unregister(this);
    freeHandles(this.#h);
    this.#sealBuf = this.#openBuf = null;
    this.#sealView = this.#openView = this.#final;
  }

  /** `using a = new Aead(...)` closes at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }
}

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
