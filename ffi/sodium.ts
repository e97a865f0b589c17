/**
 * The one `Deno.dlopen` table on libsodium (`libsodium.so.23`, Debian
 * package `libsodium23`), for one thing only: one-call AEAD seal and open on
 * the packet hot path. Everything else (X25519, Ed25519, HKDF, hashes,
 * random bytes) stays on libcrypto (`ffi/crypto.ts`), which also remains the
 * AEAD fallback when libsodium is missing.
 *
 * Why a second library: OpenSSL 3 has no one-shot AEAD, so a seal is five
 * calls through its provider dispatch (nonce, AAD, update, final, get tag)
 * and an open four. For a lone packet, which is what a ping is, every call
 * and every cache line it touches costs: measured here with one operation
 * every 10 ms (98-byte packet, p50), an OpenSSL seal takes 28 µs and an open
 * 30 µs, libsodium's one call 6 and 14 µs. In a stream: 98 bytes 0.62 µs
 * (OpenSSL) against 0.29 µs; 1400 bytes about equal (1.06 against 1.17 µs).
 * The wire format is the same standard AES-256-GCM / ChaCha20-Poly1305
 * (ciphertext then 16-byte tag), so the two backends interoperate; the tests
 * seal with one and open with the other.
 *
 * Calls used (libsodium 1.0.18 API, stable since 1.0.12):
 * - `crypto_aead_aes256gcm_beforenm` once per key (the expanded key and
 *   GHASH table in a 512-byte, 16-byte-aligned state), then
 *   `crypto_aead_aes256gcm_encrypt_afternm` / `decrypt_afternm` per packet.
 *   Only where `crypto_aead_aes256gcm_is_available()` says the CPU has
 *   AES-NI and PCLMUL; otherwise AES-GCM stays on OpenSSL.
 * - `crypto_aead_chacha20poly1305_ietf_encrypt` / `decrypt` (RFC 8439, 12-byte
 *   nonce), key per call.
 * In place is allowed by libsodium (output may be the input). A failed open
 * returns -1 and leaves the output zeroed or unspecified.
 *
 * ABI (x86-64 System V): `unsigned long long` lengths are `u64`, passed as
 * BigInts from a cache (`u64Of`) so nothing is allocated per packet and the
 * call stays on V8's fast path; NULL pointers (`clen_p`, `nsec`, `mlen_p`)
 * are declared `usize` and passed `0n` (see `NULL` in ffi/crypto.ts).
 *
 * @module
 */

const SYMBOLS = {
  sodium_init: { parameters: [], result: "i32" },
  sodium_version_string: { parameters: [], result: "pointer" },
  sodium_memzero: { parameters: ["buffer", "usize"], result: "void" },
  crypto_aead_aes256gcm_is_available: { parameters: [], result: "i32" },
  crypto_aead_aes256gcm_statebytes: { parameters: [], result: "usize" },
  crypto_aead_aes256gcm_beforenm: { parameters: ["buffer", "buffer"], result: "i32" },
  /** (c, clen_p NULL, m, mlen, ad, adlen, nsec NULL, npub, ctx) */
  crypto_aead_aes256gcm_encrypt_afternm: {
    parameters: ["buffer", "usize", "buffer", "u64", "buffer", "u64", "usize", "buffer", "buffer"],
    result: "i32",
  },
  /** (m, mlen_p NULL, nsec NULL, c, clen, ad, adlen, npub, ctx) */
  crypto_aead_aes256gcm_decrypt_afternm: {
    parameters: ["buffer", "usize", "usize", "buffer", "u64", "buffer", "u64", "buffer", "buffer"],
    result: "i32",
  },
  /** (c, clen_p NULL, m, mlen, ad, adlen, nsec NULL, npub, k) */
  crypto_aead_chacha20poly1305_ietf_encrypt: {
    parameters: ["buffer", "usize", "buffer", "u64", "buffer", "u64", "usize", "buffer", "buffer"],
    result: "i32",
  },
  /** (m, mlen_p NULL, nsec NULL, c, clen, ad, adlen, npub, k) */
  crypto_aead_chacha20poly1305_ietf_decrypt: {
    parameters: ["buffer", "usize", "usize", "buffer", "u64", "buffer", "u64", "buffer", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libsodium symbols. */
export type SodiumSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** What loading libsodium gave: the table, or why there is none. */
export interface SodiumLoad {
  /** The table, or null when libsodium could not be loaded or initialised. */
  symbols: SodiumSymbols | null;
  /** libsodium's version ("1.0.18"), or "" without it. */
  version: string;
  /** Why `symbols` is null ("" when loaded). */
  error: string;
  /** AES-256-GCM in libsodium needs AES-NI and PCLMUL: whether this CPU has them. */
  aes256gcm: boolean;
  /** Bytes of `crypto_aead_aes256gcm_state` (512 in 1.0.18). */
  aesStateBytes: number;
}

function load(): SodiumLoad {
  const none = (error: string): SodiumLoad => ({
    symbols: null,
    version: "",
    error,
    aes256gcm: false,
    aesStateBytes: 0,
  });
  let s: SodiumSymbols;
  try {
    s = Deno.dlopen("libsodium.so.23", SYMBOLS).symbols;
  } catch (e) {
    // Deno says "Could not open library: " twice before dlopen's own text.
    const why = (e instanceof Error ? e.message : String(e)).replace(
      /^(Could not open library: )+/,
      "",
    );
    return none(`cannot load libsodium.so.23 (Debian package libsodium23): ${why}`);
  }
  // 0: initialised now, 1: already; -1: failure (no entropy source, say).
  if (s.sodium_init() < 0) return none("sodium_init() failed");
  const v = s.sodium_version_string();
  const version = v === null ? "" : Deno.UnsafePointerView.getCString(v);
  return {
    symbols: s,
    version,
    error: "",
    aes256gcm: s.crypto_aead_aes256gcm_is_available() === 1,
    aesStateBytes: Number(s.crypto_aead_aes256gcm_statebytes()),
  };
}

/**
 * libsodium, loaded once per module instance (per worker). Absent is not an
 * error: `ffi/crypto.ts` then uses OpenSSL for the AEAD too.
 */
export const sodium: SodiumLoad = load();

/** Lengths up to this have a cached BigInt (a TSO super-frame is below 64 KiB). */
const U64_CACHE = 65_536;
const u64Cache: bigint[] = [];

/**
 * `BigInt(n)` for a packet length, from a cache so the hot path allocates
 * nothing (BigInts are immutable; one per distinct length seen).
 */
export function u64Of(n: number): bigint {
  if (n >= 0 && n < U64_CACHE) return u64Cache[n] ??= BigInt(n);
  return BigInt(n);
}
