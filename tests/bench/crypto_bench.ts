/**
 * AEAD packet rates: one iteration is one packet sealed (or opened) with a
 * 12-byte counter nonce and 16 bytes of AAD (a header), so iter/s =
 * packets/s. libcrypto through FFI (`ffi/crypto.ts`, context reused, output
 * into a preallocated buffer) against @noble/ciphers (pure JS) and WebCrypto
 * (`crypto.subtle`, one promise per packet). Plus the fixed costs around it:
 * one FFI call, the replay window, and the handshake primitives.
 *
 * Run: deno bench -A tests/bench/crypto_bench.ts
 * Results and the machine they came from: docs/crypto.md.
 */
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import {
  Aead,
  type AeadAlgorithm,
  hmacSha256,
  libcrypto,
  randomBytes,
  x25519,
} from "../../ffi/crypto.ts";
import { hkdfSha256, x25519KeyPair } from "../lab/crypto_extra.ts";
import { ReplayWindow, writeCounterNonce } from "../../core/replay.ts";

const KEY = randomBytes(new Uint8Array(32));
const AAD = randomBytes(new Uint8Array(16));

function nobleFor(alg: AeadAlgorithm, nonce: Uint8Array) {
  return alg === "aes-256-gcm" ? gcm(KEY, nonce, AAD) : chacha20poly1305(KEY, nonce, AAD);
}

for (const size of [1400, 64]) {
  for (const alg of ["aes-256-gcm", "chacha20-poly1305"] as const) {
    // Both backends side by side (ffi/sodium.ts); the default is the first.
    for (const backend of ["libsodium", "openssl"] as const) {
      const be = new Aead(alg, KEY, backend);
      const n = new Uint8Array(12);
      const p = randomBytes(new Uint8Array(size));
      const out = new Uint8Array(size + 16);
      be.seal(n, AAD, p, out);
      const back = new Uint8Array(size);
      let c = 0;
      Deno.bench(`${backend} ${alg} seal`, { group: `seal ${size} B` }, () => {
        writeCounterNonce(n, 0, 1 + (c++ >>> 0));
        be.seal(n, AAD, p, p, size - 16);
      });
      const fixed = new Uint8Array(12);
      Deno.bench(`${backend} ${alg} open`, { group: `open ${size} B` }, () => {
        if (!be.open(fixed, AAD, out, back)) throw new Error("open failed");
      });
    }
    const aead = new Aead(alg, KEY);
    const nonce = new Uint8Array(12);
    const plaintext = randomBytes(new Uint8Array(size));
    const sealed = new Uint8Array(size + 16);
    const opened = new Uint8Array(size);
    // The open benchmarks use their own nonce and packet (the seal ones move theirs).
    const openNonce = nonce.slice();
    const toOpen = new Uint8Array(size + 16);
    aead.seal(openNonce, AAD, plaintext, toOpen);
    let counter = 0;

    Deno.bench(
      `ffi ${alg} seal`,
      { group: `seal ${size} B`, baseline: alg === "aes-256-gcm" },
      () => {
        writeCounterNonce(nonce, 0, counter++ >>> 0);
        aead.seal(nonce, AAD, plaintext, sealed);
      },
    );
    Deno.bench(
      `ffi ${alg} open`,
      { group: `open ${size} B`, baseline: alg === "aes-256-gcm" },
      () => {
        if (!aead.open(openNonce, AAD, toOpen, opened)) throw new Error("open failed");
      },
    );

    // The VPN's shape: header | body | tag in one reused buffer, sealed in place.
    const packet = new Uint8Array(24 + size + 16);
    Deno.bench(`ffi ${alg} sealInPlace`, { group: `seal ${size} B` }, () => {
      writeCounterNonce(nonce, 0, counter++ >>> 0);
      aead.sealInPlace(nonce, AAD, packet, 24, size);
    });

    const nobleSealed = nobleFor(alg, openNonce).encrypt(plaintext);
    Deno.bench(`noble ${alg} seal`, { group: `seal ${size} B` }, () => {
      writeCounterNonce(nonce, 0, counter++ >>> 0);
      nobleFor(alg, nonce).encrypt(plaintext);
    });
    Deno.bench(`noble ${alg} open`, { group: `open ${size} B` }, () => {
      nobleFor(alg, openNonce).decrypt(nobleSealed);
    });
  }

  const plaintext = randomBytes(new Uint8Array(size));
  const nonce = new Uint8Array(12);
  const keyP = crypto.subtle.importKey("raw", KEY, "AES-GCM", false, ["encrypt", "decrypt"]);
  let webSealed: ArrayBuffer | undefined;
  Deno.bench("webcrypto aes-256-gcm seal", { group: `seal ${size} B` }, async () => {
    webSealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: AAD },
      await keyP,
      plaintext,
    );
  });
  Deno.bench("webcrypto aes-256-gcm open", { group: `open ${size} B` }, async () => {
    const key = await keyP;
    webSealed ??= await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: AAD },
      key,
      plaintext,
    );
    await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: AAD },
      key,
      webSealed,
    );
  });
}

// Fixed costs.
const a16 = new Uint8Array(16);
const b16 = new Uint8Array(16);
const SIXTEEN = 16n;
Deno.bench("one FFI call (CRYPTO_memcmp, 16 B)", { group: "fixed" }, () => {
  libcrypto.CRYPTO_memcmp(a16, b16, SIXTEEN);
});
const win = new ReplayWindow();
let rc = 0;
Deno.bench("replay window accept (in order)", { group: "fixed" }, () => {
  win.accept(0, rc++ >>> 0);
});
const hmacOut = new Uint8Array(32);
Deno.bench("hmac-sha256 64 B", { group: "fixed" }, () => {
  hmacSha256(KEY, a16, hmacOut);
});

const alice = x25519KeyPair();
const bob = x25519KeyPair();
Deno.bench("x25519 shared secret", { group: "handshake" }, () => {
  x25519(alice.privateKey, bob.publicKey);
});
Deno.bench("x25519 key pair", { group: "handshake" }, () => {
  x25519KeyPair();
});
Deno.bench("hkdf-sha256 64 B", { group: "handshake" }, () => {
  hkdfSha256(KEY, AAD, a16, 64);
});
