/**
 * {@link Aead}: AES-256-GCM and ChaCha20-Poly1305 (RFC 8439) seal/open for
 * the packet hot path, on the libcrypto table of `ffi/libcrypto.ts`.
 *
 * Where libsodium is installed (`ffi/sodium.ts`) and can serve the
 * algorithm, each seal and open is one libsodium call on a key state
 * prepared once; otherwise OpenSSL, as follows (same wire format either
 * way). One `EVP_CIPHER_CTX` per direction, keyed once; per packet only the
 * nonce is changed (`EVP_CipherInit_ex` with a NULL cipher and key; for
 * opening `EVP_CipherInit_ex2`, which sets the expected tag in the same call
 * through a prepared OSSL_PARAM array). Output goes into a caller-provided
 * buffer; the out-length int and the tag live in scratch memory allocated
 * with the object, so a seal or an open allocates nothing.
 *
 * Bad input from the network never throws: {@link Aead.open} returns
 * `false`. `Aead` contexts are freed by `close()` (or `using`); a
 * `FinalizationRegistry` frees forgotten ones only as a safety net, and
 * both are counted in `cryptoHandles`. All buffers are passed as `"buffer"`
 * arguments to synchronous calls (rule 4 of docs/ffi.md): C uses them only
 * during the call, so a packet may be sealed where it lies (a view into a
 * TAP slot, `sealInPlace`).
 *
 * Not done here: AES-GCM with nonces other than 12 bytes or tags shorter
 * than 16, streaming (multi-call) AEAD.
 *
 * @module
 */

import { sodium, type SodiumSymbols, u64Of } from "./sodium.ts";
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type AeadAlgorithm,
  CIPHERS,
  CryptoError,
  EVP_CTRL_AEAD_GET_TAG,
  fail,
  freeCipherCtx,
  libcrypto,
  live,
  need,
  notNull,
  ok,
  OSSL_PARAM_BYTES,
  OSSL_PARAM_OCTET_STRING,
  OSSL_PARAM_UNMODIFIED,
  PARAM_AEAD_TAG,
} from "./libcrypto.ts";

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
 * import { Aead } from "./aead.ts";
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
