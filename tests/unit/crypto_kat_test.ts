/**
 * Known-answer tests for ffi/crypto.ts (and tests/lab/crypto_extra.ts: HKDF,
 * Ed25519) from the published vectors:
 * RFC 8439 2.8.2, McGrew-Viega GCM test cases 13-16 (AES-256, 96-bit IV),
 * RFC 7748 5.2 and 6.1, RFC 5869 A.1-A.3, RFC 4231 4.2-4.8, RFC 8032 7.1
 * (tests 1-3 and SHA(abc)), FIPS 180-2 SHA-256 examples.
 */
import { assert, assertEquals } from "../assert.ts";
import {
  Aead,
  type AeadAlgorithm,
  type AeadBackend,
  hmacSha256,
  sha256,
  x25519,
  x25519PublicKey,
} from "../../ffi/crypto.ts";
import {
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hkdfExpand,
  hkdfExtract,
  hkdfSha256,
} from "../lab/crypto_extra.ts";

function hex(s: string): Uint8Array {
  const t = s.replace(/[\s:]/g, "");
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}
const ascii = (s: string) => new TextEncoder().encode(s);
const range = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => from + i);

interface AeadVector {
  name: string;
  alg: AeadAlgorithm;
  key: Uint8Array;
  nonce: Uint8Array;
  aad: Uint8Array;
  plaintext: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

const GCM_K15 = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
const GCM_P15 = hex(
  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
);
const GCM_C15 = hex(
  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
);

/** CI installs libsodium: both backends must pass, none is skipped. */
const AEAD_BACKENDS: AeadBackend[] = ["libsodium", "openssl"];

const AEAD_VECTORS: AeadVector[] = [
  {
    name: "RFC 8439 2.8.2",
    alg: "chacha20-poly1305",
    key: range(0x80, 32),
    nonce: hex("07000000 4041424344454647"),
    aad: hex("50515253c0c1c2c3c4c5c6c7"),
    plaintext: ascii(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for " +
        "the future, sunscreen would be it.",
    ),
    ciphertext: hex(`
      d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2 a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
      3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b 1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
      92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58 fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
      3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b 61 16`),
    tag: hex("1ae10b594f09e26a7e902ecbd0600691"),
  },
  {
    name: "GCM test case 13",
    alg: "aes-256-gcm",
    key: new Uint8Array(32),
    nonce: new Uint8Array(12),
    aad: new Uint8Array(0),
    plaintext: new Uint8Array(0),
    ciphertext: new Uint8Array(0),
    tag: hex("530f8afbc74536b9a963b4f1c4cb738b"),
  },
  {
    name: "GCM test case 14",
    alg: "aes-256-gcm",
    key: new Uint8Array(32),
    nonce: new Uint8Array(12),
    aad: new Uint8Array(0),
    plaintext: new Uint8Array(16),
    ciphertext: hex("cea7403d4d606b6e074ec5d3baf39d18"),
    tag: hex("d0d1c8a799996bf0265b98b5d48ab919"),
  },
  {
    name: "GCM test case 15",
    alg: "aes-256-gcm",
    key: GCM_K15,
    nonce: hex("cafebabefacedbaddecaf888"),
    aad: new Uint8Array(0),
    plaintext: GCM_P15,
    ciphertext: GCM_C15,
    tag: hex("b094dac5d93471bdec1a502270e3cc6c"),
  },
  {
    name: "GCM test case 16 (AAD)",
    alg: "aes-256-gcm",
    key: GCM_K15,
    nonce: hex("cafebabefacedbaddecaf888"),
    aad: hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
    plaintext: GCM_P15.subarray(0, 60),
    ciphertext: GCM_C15.subarray(0, 60),
    tag: hex("76fc6ece0f4e1768cddf8853bb2d551b"),
  },
];

for (const v of AEAD_VECTORS) {
  for (const backend of AEAD_BACKENDS) {
    Deno.test(`aead KAT (${backend}): ${v.name} seals to the published bytes and opens back`, () => {
      using a = new Aead(v.alg, v.key, backend);
      assertEquals(a.backend, backend);
      const sealed = new Uint8Array(v.plaintext.length + 16);
      assertEquals(a.seal(v.nonce, v.aad, v.plaintext, sealed), v.plaintext.length + 16);
      assertEquals(sealed.subarray(0, v.plaintext.length), v.ciphertext, "ciphertext");
      assertEquals(sealed.subarray(v.plaintext.length), v.tag, "tag");
      const opened = new Uint8Array(v.plaintext.length);
      assert(a.open(v.nonce, v.aad, sealed, opened), "published vector opens");
      assertEquals(opened, v.plaintext);
      sealed[sealed.length - 1] ^= 0x80;
      assert(!a.open(v.nonce, v.aad, sealed, opened), "flipped tag bit is refused");
    });
  }
}

Deno.test("x25519 KAT: RFC 7748 6.1 Alice and Bob", () => {
  const alicePriv = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const alicePub = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  const bobPriv = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const bobPub = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  const shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  assertEquals(x25519PublicKey(alicePriv), alicePub);
  assertEquals(x25519PublicKey(bobPriv), bobPub);
  assertEquals(x25519(alicePriv, bobPub), shared);
  assertEquals(x25519(bobPriv, alicePub), shared);
});

Deno.test("x25519 KAT: RFC 7748 5.2 single-iteration vectors", () => {
  const cases = [
    [
      "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
      "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ],
    [
      "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
      "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
      "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ],
  ];
  for (const [k, u, out] of cases) assertEquals(x25519(hex(k), hex(u)), hex(out));
});

Deno.test("x25519 KAT: RFC 7748 5.2 iterated, 1 and 1000 iterations", () => {
  let k: Uint8Array = new Uint8Array(32);
  k[0] = 9;
  let u: Uint8Array = k.slice();
  for (let i = 1; i <= 1000; i++) {
    const r = x25519(k, u);
    assert(r !== null);
    u = k;
    k = r;
    if (i === 1) {
      assertEquals(k, hex("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"));
    }
  }
  assertEquals(k, hex("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"));
});

Deno.test("x25519: a low-order peer key gives null, not a zero secret", () => {
  const priv = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  // u = 0 and u = 1 are points of small order (RFC 7748 6.1: check for all-zero output).
  assertEquals(x25519(priv, new Uint8Array(32)), null);
  const one = new Uint8Array(32);
  one[0] = 1;
  assertEquals(x25519(priv, one), null);
});

const RFC5869 = [
  {
    name: "A.1",
    ikm: new Uint8Array(22).fill(0x0b),
    salt: range(0x00, 13),
    info: range(0xf0, 10),
    length: 42,
    prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
    okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  },
  {
    name: "A.2",
    ikm: range(0x00, 80),
    salt: range(0x60, 80),
    info: range(0xb0, 80),
    length: 82,
    prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
    okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c" +
      "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71" +
      "cc30c58179ec3e87c14c01d5c1f3434f1d87",
  },
  {
    name: "A.3 (no salt, no info)",
    ikm: new Uint8Array(22).fill(0x0b),
    salt: new Uint8Array(0),
    info: new Uint8Array(0),
    length: 42,
    prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
    okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
  },
];

for (const v of RFC5869) {
  Deno.test(`hkdf KAT: RFC 5869 ${v.name}`, () => {
    assertEquals(hkdfSha256(v.ikm, v.salt, v.info, v.length), hex(v.okm));
    const prk = hkdfExtract(v.salt, v.ikm);
    assertEquals(prk, hex(v.prk));
    assertEquals(hkdfExpand(prk, v.info, v.length), hex(v.okm));
  });
}

Deno.test("hmac-sha256 KAT: RFC 4231 test cases 1-7", () => {
  const aa131 = new Uint8Array(131).fill(0xaa);
  const cases: [Uint8Array, Uint8Array, string][] = [
    [
      new Uint8Array(20).fill(0x0b),
      ascii("Hi There"),
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ],
    [
      ascii("Jefe"),
      ascii("what do ya want for nothing?"),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ],
    [
      new Uint8Array(20).fill(0xaa),
      new Uint8Array(50).fill(0xdd),
      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ],
    [
      range(0x01, 25),
      new Uint8Array(50).fill(0xcd),
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ],
    [
      new Uint8Array(20).fill(0x0c),
      ascii("Test With Truncation"),
      "a3b6167473100ee06e0c796c2955552b", // the RFC gives only the first 128 bits
    ],
    [
      aa131,
      ascii("Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ],
    [
      aa131,
      ascii(
        "This is a test using a larger than block-size key and a larger than block-size data." +
          " The key needs to be hashed before being used by the HMAC algorithm.",
      ),
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ],
  ];
  for (const [i, [key, data, mac]] of cases.entries()) {
    const want = hex(mac);
    assertEquals(hmacSha256(key, data).subarray(0, want.length), want, `test case ${i + 1}`);
  }
});

Deno.test("sha256 KAT: FIPS 180-2 examples and the empty string", () => {
  assertEquals(
    sha256(ascii("abc")),
    hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
  );
  assertEquals(
    sha256(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
  );
  assertEquals(
    sha256(new Uint8Array(0)),
    hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
  );
  const out = new Uint8Array(32);
  assert(sha256(ascii("abc"), out) === out, "writes into the given buffer");
});

const RFC8032 = [
  {
    name: "test 1 (empty message)",
    secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "test 2",
    secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
      "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "test 3",
    secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac" +
      "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

for (const v of RFC8032) {
  Deno.test(`ed25519 KAT: RFC 8032 7.1 ${v.name}`, () => {
    const secret = hex(v.secret);
    const pub = hex(v.public);
    const msg = hex(v.message);
    const sig = hex(v.signature);
    assertEquals(ed25519PublicKey(secret), pub);
    assertEquals(ed25519Sign(secret, msg), sig);
    assert(ed25519Verify(pub, msg, sig), "published signature verifies");
    const bad = sig.slice();
    bad[5] ^= 1;
    assert(!ed25519Verify(pub, msg, bad), "flipped signature bit is refused");
    assert(!ed25519Verify(pub, ascii("other"), sig), "other message is refused");
  });
}
