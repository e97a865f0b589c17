/**
 * Test helper (not a test): arithmetic in GF(2^128) as AES-GCM's GHASH uses
 * it (NIST SP 800-38D section 6.3: bit 0 of a block is the coefficient of
 * x^0, reduction by x^128 + x^7 + x^2 + x + 1), for tests that play an
 * attacker who sees two GMAC tags under one key and one nonce.
 *
 * With one nonce N, tag = E_K(J0_N) xor GHASH_H(A). Two tags for
 * additional data that differ in one block j only give
 * t1 xor t2 = (A1_j xor A2_j) * H^e, e = (blocks from j to the end,
 * length block included); H follows as an e-th root (unique when e is prime
 * to 2^128 - 1), then E_K(J0_N) = t1 xor GHASH_H(A1), and any additional
 * data can be tagged under N.
 */

const R = 0xe1n << 120n;
const ORDER = (1n << 128n) - 1n;
/** The field's 1 (coefficient of x^0 is the leftmost bit). */
export const ONE = 1n << 127n;

/** A 16-byte block as a field element. */
export function toEl(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = 0; i < 16; i++) x = (x << 8n) | BigInt(b[i] ?? 0);
  return x;
}

/** A field element as 16 bytes. */
export function fromEl(x: bigint): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

/** Product (SP 800-38D Algorithm 1). */
export function gmul(x: bigint, y: bigint): bigint {
  let z = 0n, v = y;
  for (let i = 127n; i >= 0n; i--) {
    if ((x >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z;
}

/** x^n. */
export function gpow(x: bigint, n: bigint): bigint {
  let r = ONE, b = x;
  while (n > 0n) {
    if (n & 1n) r = gmul(r, b);
    b = gmul(b, b);
    n >>= 1n;
  }
  return r;
}

/** 1 / x (x non-zero). */
export function ginv(x: bigint): bigint {
  return gpow(x, ORDER - 1n);
}

/** The e-th root of y (e prime to 2^128 - 1). */
export function groot(y: bigint, e: bigint): bigint {
  // d = e^-1 mod (2^128 - 1), by the extended Euclidean algorithm.
  let [a, b, u, v] = [e % ORDER, ORDER, 1n, 0n];
  while (b !== 0n) {
    const q = a / b;
    [a, b] = [b, a - q * b];
    [u, v] = [v, u - q * v];
  }
  if (a !== 1n) throw new Error(`exponent ${e} is not prime to 2^128 - 1`);
  return gpow(y, ((u % ORDER) + ORDER) % ORDER);
}

/** GHASH_H(aad, empty ciphertext). */
export function ghash(h: bigint, aad: Uint8Array): bigint {
  let y = 0n;
  for (let o = 0; o < aad.length; o += 16) {
    const blk = new Uint8Array(16);
    blk.set(aad.subarray(o, Math.min(o + 16, aad.length)));
    y = gmul(y ^ toEl(blk), h);
  }
  return gmul(y ^ (BigInt(aad.length * 8) << 64n), h);
}

/** Number of GHASH blocks of `aadLength` bytes of additional data, the length block excluded. */
export function blocks(aadLength: number): number {
  return Math.ceil(aadLength / 16);
}
