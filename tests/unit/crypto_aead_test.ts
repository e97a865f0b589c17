/**
 * ffi/crypto.ts (and tests/lab/crypto_extra.ts) beyond the published
 * vectors: AEAD cross-checked against @noble/ciphers and WebCrypto on random
 * inputs, tampering, buffer rules,
 * context reuse after failures, the other primitives against WebCrypto, and
 * handle accounting over many iterations (no leaks).
 */
import fc from "fast-check";
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  Aead,
  type AeadAlgorithm,
  type AeadBackend,
  aeadBackend,
  CryptoError,
  hmacSha256,
  libcrypto,
  randomBytes,
  sha256,
  sodiumInfo,
  timingSafeEqual,
  x25519,
  x25519PublicKey,
} from "../../ffi/crypto.ts";
import {
  cryptoHandles,
  ed25519KeyPair,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hkdfSha256,
  x25519KeyPair,
} from "../lab/crypto_extra.ts";
import { warmUpAead } from "../lab/crypto_warmup.ts";
import { writeCounterNonce } from "../../core/replay.ts";

const ALGS: AeadAlgorithm[] = ["aes-256-gcm", "chacha20-poly1305"];
/** CI installs libsodium: both backends must pass, none is skipped. */
const BACKENDS: AeadBackend[] = ["libsodium", "openssl"];

function noble(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) {
  return alg === "aes-256-gcm" ? gcm(key, nonce, aad) : chacha20poly1305(key, nonce, aad);
}

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const input = fc.record({
  key: bytes(32),
  nonce: bytes(12),
  aad: fc.uint8Array({ maxLength: 64 }),
  plaintext: fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    fc.uint8Array({ minLength: 1300, maxLength: 1500 }),
  ),
});

for (const alg of ALGS) {
  for (const backend of BACKENDS) {
    Deno.test(`aead ${alg} (${backend}): same bytes as @noble/ciphers, each opens the other's`, () => {
      fc.assert(
        fc.property(input, ({ key, nonce, aad, plaintext }) => {
          using a = new Aead(alg, key, backend);
          const ours = new Uint8Array(plaintext.length + 16);
          assertEquals(a.seal(nonce, aad, plaintext, ours), ours.length);
          const theirs = noble(alg, key, nonce, aad).encrypt(plaintext);
          assertEquals(ours, theirs);
          const back = new Uint8Array(plaintext.length);
          assert(a.open(nonce, aad, theirs, back), "ours opens noble's");
          assertEquals(back, plaintext);
          assertEquals(noble(alg, key, nonce, aad).decrypt(ours), plaintext);
        }),
        { numRuns: 150, seed: 8439 },
      );
    });

    Deno.test(`aead ${alg} (${backend}): any flipped bit in ciphertext, tag, AAD or nonce is refused`, () => {
      fc.assert(
        fc.property(
          input,
          fc.constantFrom("sealed", "aad", "nonce"),
          fc.nat(),
          fc.integer({ min: 0, max: 7 }),
          ({ key, nonce, aad, plaintext }, where, at, bit) => {
            using a = new Aead(alg, key, backend);
            const sealed = new Uint8Array(plaintext.length + 16);
            a.seal(nonce, aad, plaintext, sealed);
            const target = where === "sealed" ? sealed : where === "aad" ? aad : nonce;
            fc.pre(target.length > 0);
            target[at % target.length] ^= 1 << bit;
            const out = new Uint8Array(plaintext.length);
            assert(!a.open(nonce, aad, sealed, out), `flip in ${where} accepted`);
            target[at % target.length] ^= 1 << bit;
            assert(a.open(nonce, aad, sealed, out), "restored packet opens after a failure");
            assertEquals(out, plaintext);
          },
        ),
        { numRuns: 200, seed: 7 },
      );
    });

    Deno.test(`aead ${alg} (${backend}): wrong key, truncated and extended packets are refused`, () => {
      const key = randomBytes(new Uint8Array(32));
      const other = key.slice();
      other[31] ^= 1;
      using a = new Aead(alg, key, backend);
      using b = new Aead(alg, other, backend);
      const nonce = new Uint8Array(12);
      const msg = randomBytes(new Uint8Array(100));
      const sealed = new Uint8Array(116 + 1);
      a.seal(nonce, new Uint8Array(0), msg, sealed);
      const out = new Uint8Array(117);
      assert(a.open(nonce, new Uint8Array(0), sealed, out, 116), "length argument honoured");
      assert(!b.open(nonce, new Uint8Array(0), sealed, out, 116), "other key");
      for (const len of [0, 1, 15, 16, 17, 115, 117]) {
        assert(!a.open(nonce, new Uint8Array(0), sealed, out, len), `length ${len}`);
      }
      assert(!a.open(nonce, new Uint8Array(0), sealed.subarray(0, 10), out), "shorter than a tag");
      assert(!a.open(new Uint8Array(8), new Uint8Array(0), sealed, out, 116), "8-byte nonce");
    });

    Deno.test(`aead ${alg} (${backend}): one context, many packets, counter nonces, in place`, () => {
      const key = randomBytes(new Uint8Array(32));
      using a = new Aead(alg, key, backend);
      const nonce = new Uint8Array(12);
      const aad = new Uint8Array(16);
      const buf = new Uint8Array(1500 + 16);
      for (let i = 0; i < 300; i++) {
        const len = (i * 37) % 1500;
        writeCounterNonce(nonce, 0, i);
        new DataView(aad.buffer).setUint32(0, i);
        const msg = randomBytes(new Uint8Array(len));
        buf.set(msg);
        assertEquals(a.seal(nonce, aad, buf, buf, len), len + 16, "in-place seal");
        assertEquals(buf.subarray(0, len + 16), noble(alg, key, nonce, aad).encrypt(msg));
        if (i % 3 === 0) {
          const bad = buf.slice(0, len + 16);
          bad[0] ^= 0xff;
          assert(!a.open(nonce, aad, bad, bad), "forgery between good packets");
        }
        assert(a.open(nonce, aad, buf, buf, len + 16), "in-place open");
        assertEquals(buf.subarray(0, len), msg);
      }
    });
  }
}

for (const alg of ALGS) {
  for (const backend of BACKENDS) {
    // Open sets the expected tag in the nonce call (one OSSL_PARAM array reused
    // by every open): a tag must never carry over from one packet to the next.
    Deno.test(`aead ${alg} (${backend}): open checks each packet's own tag across many nonces`, () => {
      const key = randomBytes(new Uint8Array(32));
      using a = new Aead(alg, key, backend);
      const nonce = new Uint8Array(12);
      const aad = randomBytes(new Uint8Array(24));
      let prev: Uint8Array | null = null;
      let prevNonce = new Uint8Array(12);
      for (let i = 0; i < 400; i++) {
        writeCounterNonce(nonce, 0, i * 977);
        const len = 14 + (i * 53) % 200;
        const msg = randomBytes(new Uint8Array(len));
        const sealed = noble(alg, key, nonce, aad).encrypt(msg);
        const out = new Uint8Array(len);
        if (prev !== null && prev.length === sealed.length) {
          // Same length, the previous packet's tag: refused under this nonce.
          const mixed = sealed.slice();
          mixed.set(prev.subarray(len), len);
          assert(!a.open(nonce, aad, mixed, out), `packet ${i} with the last packet's tag`);
        }
        if (i % 4 === 1) {
          const bad = sealed.slice();
          bad[len + (i % 16)] ^= 0x80;
          assert(!a.open(nonce, aad, bad, out), `packet ${i} with a flipped tag bit`);
        }
        assert(
          a.open(nonce, aad, sealed, out),
          `packet ${i} opens after ${i % 4 === 1 ? "a" : "no"} failure`,
        );
        assertEquals(out, msg);
        if (prev !== null) {
          const back = new Uint8Array(prev.length - 16);
          assert(!a.open(nonce, aad, prev, back), `old packet under new nonce ${i}`);
          assert(a.open(prevNonce, aad, prev, back), `old packet under its own nonce ${i}`);
        }
        prev = sealed;
        prevNonce = nonce.slice();
      }
    });
  }
}

for (const alg of ALGS) {
  for (const backend of BACKENDS) {
    Deno.test(`aead ${alg} (${backend}): sealInPlace/openInPlace inside packet buffers, switching buffers`, () => {
      fc.assert(
        fc.property(
          input,
          fc.integer({ min: 0, max: 40 }),
          fc.array(fc.nat(2), { minLength: 1, maxLength: 12 }),
          ({ key, nonce, aad, plaintext }, offset, picks) => {
            using a = new Aead(alg, key, backend);
            const len = plaintext.length;
            const bufs = [0, 1, 2].map(() => new Uint8Array(offset + len + 16 + 7));
            const expected = noble(alg, key, nonce, aad).encrypt(plaintext);
            for (const i of picks) {
              const b = bufs[i];
              b.fill(0xa5);
              b.set(plaintext, offset);
              assertEquals(a.sealInPlace(nonce, aad, b, offset, len), len + 16);
              assertEquals(b.subarray(offset, offset + len + 16), expected);
              assert(b.subarray(0, offset).every((x) => x === 0xa5), "bytes before untouched");
              assert(
                b.subarray(offset + len + 16).every((x) => x === 0xa5),
                "bytes after untouched",
              );
              assert(a.openInPlace(nonce, aad, b, offset, len + 16));
              assertEquals(b.subarray(offset, offset + len), plaintext);
            }
          },
        ),
        { numRuns: 100, seed: 6479 },
      );
      using a = new Aead(alg, new Uint8Array(32), backend);
      const p = new Uint8Array(64);
      const n = new Uint8Array(12);
      const z = new Uint8Array(0);
      assertThrows(() => a.sealInPlace(n, z, p, 65, 0), RangeError);
      assertThrows(() => a.sealInPlace(n, z, p, 40, 10), RangeError);
      assert(!a.openInPlace(n, z, p, 65, 16), "offset past the end");
      assert(!a.openInPlace(n, z, p, 50, 16), "length past the end");
      assert(!a.openInPlace(n, z, p, -1, 16), "negative offset");
    });
  }
}

Deno.test("aead: open never throws on arbitrary input and accepts none of it", () => {
  const keys = BACKENDS.flatMap((b) =>
    ALGS.map((alg) => new Aead(alg, randomBytes(new Uint8Array(32)), b))
  );
  try {
    fc.assert(
      fc.property(
        fc.nat(3),
        fc.uint8Array({ maxLength: 16 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.oneof(fc.integer({ min: -5, max: 260 }), fc.constant(Number.NaN)),
        (k, nonce, aad, sealed, length) => {
          const out = new Uint8Array(sealed.length);
          assertEquals(keys[k].open(nonce, aad, sealed, out, length), false);
          assertEquals(keys[k].openInPlace(nonce, aad, sealed, length & 7, length), false);
        },
      ),
      { numRuns: 500, seed: 115 },
    );
  } finally {
    for (const k of keys) k.close();
  }
});

Deno.test("aead aes-256-gcm: same bytes as WebCrypto", async () => {
  await fc.assert(
    fc.asyncProperty(input, async ({ key, nonce, aad, plaintext }) => {
      const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
      const web = new Uint8Array(
        await crypto.subtle.encrypt(
          { name: "AES-GCM", iv: nonce, additionalData: aad },
          k,
          plaintext,
        ),
      );
      using a = new Aead("aes-256-gcm", key);
      const ours = new Uint8Array(plaintext.length + 16);
      a.seal(nonce, aad, plaintext, ours);
      assertEquals(ours, web);
    }),
    { numRuns: 50, seed: 5116 },
  );
});

Deno.test("aead: programming errors throw before any C call", () => {
  assertThrows(() => new Aead("aes-256-gcm", new Uint8Array(16)), RangeError, "32 bytes");
  assertThrows(() => new Aead("rot13" as AeadAlgorithm, new Uint8Array(32)), RangeError, "unknown");
  assertThrows(
    () => new Aead("constructor" as AeadAlgorithm, new Uint8Array(32)),
    RangeError,
    "unknown",
  );
  const a = new Aead("chacha20-poly1305", new Uint8Array(32));
  const n = new Uint8Array(12);
  const z = new Uint8Array(0);
  assertThrows(() => a.seal(new Uint8Array(11), z, z, new Uint8Array(16)), RangeError, "nonce");
  assertThrows(() => a.seal(n, z, new Uint8Array(10), new Uint8Array(25)), RangeError, "needs 26");
  assertThrows(() => a.seal(n, z, new Uint8Array(10), new Uint8Array(40), 11), RangeError);
  const sealed = new Uint8Array(26);
  a.seal(n, z, new Uint8Array(10), sealed);
  assertThrows(() => a.open(n, z, sealed, new Uint8Array(9)), RangeError, "needs 10");
  a.close();
  a.close();
  assert(a.closed);
  assertThrows(() => a.seal(n, z, z, new Uint8Array(16)), Error, "closed");
  assertThrows(() => a.open(n, z, sealed, new Uint8Array(10)), Error, "closed");
});

Deno.test("sha256, hmac-sha256, hkdf-sha256: same bytes as WebCrypto", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.integer({ min: 1, max: 300 }),
      async (data, key, info, length) => {
        assertEquals(sha256(data), new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
        // WebCrypto refuses an empty HMAC key; HKDF with an empty IKM it takes.
        if (key.length > 0) {
          const hk = await crypto.subtle.importKey(
            "raw",
            key,
            { name: "HMAC", hash: "SHA-256" },
            false,
            ["sign"],
          );
          assertEquals(
            hmacSha256(key, data),
            new Uint8Array(await crypto.subtle.sign("HMAC", hk, data)),
          );
        }
        const dk = await crypto.subtle.importKey("raw", key, "HKDF", false, ["deriveBits"]);
        const web = await crypto.subtle.deriveBits(
          { name: "HKDF", hash: "SHA-256", salt: data, info },
          dk,
          length * 8,
        );
        assertEquals(hkdfSha256(key, data, info, length), new Uint8Array(web));
      },
    ),
    { numRuns: 100, seed: 5869 },
  );
});

Deno.test("hmac-sha256 with an empty key is RFC 2104's zero-padded key", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
      // HMAC(K, m) = H((K ^ opad) | H((K ^ ipad) | m)) with K = 64 zero bytes.
      const inner = new Uint8Array(64 + data.length).fill(0x36, 0, 64);
      inner.set(data, 64);
      const outer = new Uint8Array(64 + 32).fill(0x5c, 0, 64);
      outer.set(sha256(inner), 64);
      const expected = sha256(outer);
      assertEquals(hmacSha256(new Uint8Array(0), data), expected);
      assertEquals(hmacSha256(new Uint8Array(32), data), expected);
    }),
  );
});

Deno.test("hkdf: output lengths outside 1..8160 and over-long info are refused", () => {
  const k = new Uint8Array(32);
  const z = new Uint8Array(0);
  assertThrows(() => hkdfSha256(k, z, z, 0), RangeError);
  assertThrows(() => hkdfSha256(k, z, z, 8161), RangeError);
  assertThrows(() => hkdfSha256(k, z, new Uint8Array(1025), 32), RangeError);
  assertEquals(hkdfSha256(k, z, z, 8160).length, 8160);
});

Deno.test("x25519: public = X25519(k, 9) and both sides agree; ed25519 round trips", () => {
  const nine = new Uint8Array(32);
  nine[0] = 9;
  fc.assert(
    fc.property(bytes(32), bytes(32), fc.uint8Array({ maxLength: 200 }), (p1, p2, msg) => {
      const pub1 = x25519PublicKey(p1);
      const pub2 = x25519PublicKey(p2);
      assertEquals(x25519(p1, nine), pub1, "RFC 7748 6.1: the public key is k * 9");
      const s = x25519(p1, pub2);
      assert(s !== null);
      assertEquals(x25519(p2, pub1), s);
      const e = { privateKey: p1, publicKey: ed25519PublicKey(p1) };
      const sig = ed25519Sign(e.privateKey, msg);
      assert(ed25519Verify(e.publicKey, msg, sig));
      assert(!ed25519Verify(ed25519PublicKey(p2), msg, sig), "other key");
      const longer = new Uint8Array(msg.length + 1);
      longer.set(msg);
      assert(!ed25519Verify(e.publicKey, longer, sig), "other message");
      assert(!ed25519Verify(e.publicKey, msg, sig.subarray(0, 63)), "short signature");
      assert(!ed25519Verify(new Uint8Array(31), msg, sig), "short key");
    }),
    { numRuns: 60, seed: 25519 },
  );
  const a = x25519KeyPair();
  const b = x25519KeyPair();
  assertEquals(x25519(a.privateKey, b.publicKey), x25519(b.privateKey, a.publicKey));
});

Deno.test("timingSafeEqual and randomBytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
      const same = a.length === b.length && a.every((x, i) => x === b[i]);
      assertEquals(timingSafeEqual(a, b), same);
      assert(timingSafeEqual(a, a.slice()));
    }),
  );
  const r1 = randomBytes(new Uint8Array(32));
  const r2 = randomBytes(new Uint8Array(32));
  assert(!timingSafeEqual(r1, r2), "two 256-bit draws differ");
  assertEquals(randomBytes(new Uint8Array(0)).length, 0);
});

Deno.test("CryptoError names the call and OpenSSL's errors", () => {
  const e = new CryptoError("EVP_PKEY_derive(X25519)", ["error:1:a", "error:2:b"]);
  assertEquals(e.name, "CryptoError");
  assertEquals(e.call, "EVP_PKEY_derive(X25519)");
  assertEquals(e.code, "error:1:a");
  assertEquals(e.message, "EVP_PKEY_derive(X25519) failed: error:1:a; error:2:b");
  assertEquals(
    new CryptoError("RAND_bytes", []).message,
    "RAND_bytes failed: no OpenSSL error queued",
  );
});

Deno.test("every OpenSSL object is freed: 2000 rounds of every primitive, good and bad inputs", () => {
  const before = cryptoHandles();
  const z = new Uint8Array(0);
  const nonce = new Uint8Array(12);
  const msg = new Uint8Array(64);
  const sealed = new Uint8Array(80);
  const lowOrder = new Uint8Array(32);
  for (let i = 0; i < 2000; i++) {
    const a = new Aead(ALGS[i % 2], randomBytes(new Uint8Array(32)), BACKENDS[(i >> 1) % 2]);
    a.seal(nonce, z, msg, sealed);
    assert(a.open(nonce, z, sealed, msg));
    sealed[0] ^= 1;
    assert(!a.open(nonce, z, sealed, msg));
    a.close();
    const k = x25519KeyPair();
    assert(x25519(k.privateKey, k.publicKey) !== null);
    assert(x25519(k.privateKey, lowOrder) === null);
    hkdfSha256(k.privateKey, z, z, 64);
    const e = ed25519KeyPair();
    const sig = ed25519Sign(e.privateKey, msg);
    assert(ed25519Verify(e.publicKey, msg, sig));
    sig[0] ^= 1;
    assert(!ed25519Verify(e.publicKey, msg, sig));
    assertThrows(() => new Aead("aes-256-gcm", new Uint8Array(31)), RangeError);
  }
  assertEquals(cryptoHandles(), before);
  const open = new Aead("aes-256-gcm", new Uint8Array(32), "openssl");
  assertEquals(cryptoHandles().cipherCtx, before.cipherCtx + 2, "the counter does count");
  open.close();
  assertEquals(cryptoHandles(), before);
});

Deno.test("a dropped Aead is freed by the FinalizationRegistry safety net (child with --expose-gc)", async () => {
  const mod = new URL("../../ffi/crypto.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ prefix: "l2t-crypto-fr-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { Aead, cryptoHandles } from ${JSON.stringify(mod)};
const gc = (globalThis as unknown as { gc: () => void }).gc;
(() => { for (let i = 0; i < 10; i++) new Aead("aes-256-gcm", new Uint8Array(32), "openssl"); })();
const before = cryptoHandles().cipherCtx;
for (let i = 0; i < 100 && cryptoHandles().cipherCtx > 0; i++) {
  gc();
  await new Promise((r) => setTimeout(r, 10));
}
console.log(JSON.stringify({ before, after: cryptoHandles().cipherCtx }));
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-ffi", "--allow-read", "--v8-flags=--expose-gc", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert(out.success, new TextDecoder().decode(out.stderr));
    assertEquals(JSON.parse(text), { before: 20, after: 0 });
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("warmUpAead: frees its key, queues no OpenSSL error, leaves real keys working", () => {
  const before = cryptoHandles().cipherCtx;
  warmUpAead(300, ["aes-256-gcm", "chacha20-poly1305"]);
  assertEquals(cryptoHandles().cipherCtx, before);
  assertEquals(BigInt(libcrypto.ERR_peek_error()), 0n);
  for (const alg of ALGS) {
    const key = randomBytes(new Uint8Array(32));
    using a = new Aead(alg, key);
    const nonce = randomBytes(new Uint8Array(12));
    const aad = randomBytes(new Uint8Array(24));
    const msg = randomBytes(new Uint8Array(98));
    const p = new Uint8Array(24 + 98 + 16);
    p.set(msg, 24);
    a.sealInPlace(nonce, aad, p, 24, 98);
    assertEquals(p.subarray(24), noble(alg, key, nonce, aad).encrypt(msg));
  }
});

Deno.test("aead backends: libsodium is loaded here and is the default for both algorithms", () => {
  // CI installs libsodium23 and runs on CPUs with AES-NI: a silent fallback to
  // OpenSSL would hide a packaging mistake, so this fails instead.
  const info = sodiumInfo();
  assertEquals(info.error, "");
  assert(/^1\.0\.\d+$/.test(info.version), `libsodium version ${info.version}`);
  assert(info.aes256gcm, "libsodium AES-256-GCM available on this CPU");
  for (const alg of ALGS) {
    assertEquals(aeadBackend(alg), "libsodium");
    using a = new Aead(alg, new Uint8Array(32));
    assertEquals(a.backend, "libsodium");
  }
});

Deno.test("aead backends: each opens what the other sealed, in place, any size and offset", () => {
  fc.assert(
    fc.property(
      input,
      fc.constantFrom(...ALGS),
      fc.integer({ min: 0, max: 40 }),
      fc.boolean(),
      ({ key, nonce, aad, plaintext }, alg, offset, sodiumSeals) => {
        using so = new Aead(alg, key, "libsodium");
        using ossl = new Aead(alg, key, "openssl");
        const [sealer, opener] = sodiumSeals ? [so, ossl] : [ossl, so];
        const len = plaintext.length;
        const p = new Uint8Array(offset + len + 16);
        p.set(plaintext, offset);
        assertEquals(sealer.sealInPlace(nonce, aad, p, offset, len), len + 16);
        const copy = p.slice();
        assert(opener.openInPlace(nonce, aad, p, offset, len + 16), "the other backend opens");
        assertEquals(p.subarray(offset, offset + len), plaintext);
        copy[offset + (len + 15) % (len + 16)] ^= 0x10;
        assert(!opener.openInPlace(nonce, aad, copy, offset, len + 16), "tampered refused");
      },
    ),
    { numRuns: 300, seed: 23 },
  );
});

Deno.test("aead backends: L2_AEAD_BACKEND=openssl forces OpenSSL, a bad value is refused", async () => {
  const mod = new URL("../../ffi/crypto.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ prefix: "l2t-crypto-be-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { Aead, aeadBackend } from ${JSON.stringify(mod)};
const a = new Aead("chacha20-poly1305", new Uint8Array(32));
console.log(JSON.stringify({ pick: aeadBackend("aes-256-gcm"), used: a.backend }));
`,
    );
    const run = (value: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-ffi", "--allow-read", "--allow-env", script],
        env: { L2_AEAD_BACKEND: value },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    const forced = await run("openssl");
    assert(forced.success, new TextDecoder().decode(forced.stderr));
    assertEquals(JSON.parse(new TextDecoder().decode(forced.stdout)), {
      pick: "openssl",
      used: "openssl",
    });
    const auto = await run("auto");
    assertEquals(JSON.parse(new TextDecoder().decode(auto.stdout)), {
      pick: "libsodium",
      used: "libsodium",
    });
    const bad = await run("rot13");
    assert(!bad.success, "a bad value must not start");
    assert(new TextDecoder().decode(bad.stderr).includes("L2_AEAD_BACKEND must be"));
  } finally {
    await Deno.remove(script);
  }
});
