/**
 * The Internet checksum: full computation (RFC 1071) and incremental update
 * (RFC 1624, equation 3).
 *
 * The checksum is the one's complement of the one's complement sum of the
 * covered data taken as 16-bit big-endian words. Two properties carry the
 * whole module (RFC 1071 section 2):
 *
 * - the sum is commutative and associative, so a changed field can be taken
 *   out of an existing checksum and the new value put in without re-reading
 *   the packet: `HC' = ~(~HC + ~m + m')` (RFC 1624 eqn. 3);
 * - the sum is byte-order independent: the sum of bytes that sit one byte off
 *   the word grid (an odd offset from the start of the covered data) is the
 *   byte-swapped sum of the same bytes taken on the grid. A 6-byte MAC at an
 *   odd offset therefore contributes `swap16(sum of its three words)`.
 *
 * Sums here are "folded" 16-bit values (0..0xffff) with end-around carry.
 *
 * The UDP rules (a stored 0 means "no checksum"; a computed 0 is sent as
 * 0xffff, RFC 768) are applied only by the `udp` variants of the patch
 * functions; `internetChecksum` returns the raw value.
 *
 * Not done here: SIMD or 64-bit accumulation tricks.
 *
 * @module
 */
import type { MacKey } from "./mac.ts";

const TWO_32 = 0x1_0000_0000;

/** Folds a non-negative sum of 16-bit words (below 2^53) to 16 bits with end-around carry. */
export function fold16(sum: number): number {
  // Bring the value below 2^32 first without bit operations (which truncate).
  if (sum > 0xffff_ffff) sum = (sum % TWO_32) + Math.floor(sum / TWO_32);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * One's complement sum (folded, not complemented) of `len` bytes of `buf` at
 * `off`, added to `initial`. An odd trailing byte is padded with zero on the
 * right (RFC 1071 section 4.1). The caller has checked bounds.
 *
 * @example
 * ```ts
 * import { onesSum } from "./checksum.ts";
 * onesSum(new Uint8Array([0x00, 0x01, 0xf2, 0x03]), 0, 4); // 0xf204
 * ```
 */
export function onesSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + len - 1;
  let i = off;
  // Words are at most 0xffff; 2^53 / 2^16 words is far beyond any frame, but
  // fold every 32 Ki words to keep the accumulator a small integer anyway.
  let n = 0;
  for (; i < end; i += 2) {
    sum += (buf[i] << 8) | buf[i + 1];
    if (++n === 0x8000) {
      sum = fold16(sum);
      n = 0;
    }
  }
  if (i === end) sum += buf[i] << 8;
  return fold16(sum);
}

/**
 * The Internet checksum of `len` bytes at `off` (RFC 1071): `~sum & 0xffff`.
 * Pass a pseudo-header sum as `initial`. Verifying data that contains its own
 * checksum gives 0.
 *
 * @example
 * ```ts
 * import { internetChecksum } from "./checksum.ts";
 * // RFC 1071 section 3 example words 0001 f203 f4f5 f6f7 sum to ddf2.
 * internetChecksum(new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0, 8); // 0x220d
 * ```
 */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~onesSum(buf, off, len, initial) & 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header (RFC 768; RFC 9293 section 3.1): source and
 * destination addresses read from `buf` at `srcOff`/`dstOff`, zero, protocol,
 * and the upper-layer length.
 */
export function pseudoSumV4(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  protocol: number,
  length: number,
): number {
  let s = ((buf[srcOff] << 8) | buf[srcOff + 1]) + ((buf[srcOff + 2] << 8) | buf[srcOff + 3]);
  s += ((buf[dstOff] << 8) | buf[dstOff + 1]) + ((buf[dstOff + 2] << 8) | buf[dstOff + 3]);
  return fold16(s + protocol + length);
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 section 8.1): 16-byte source and
 * destination addresses at `srcOff`/`dstOff`, the 32-bit upper-layer length
 * and the next-header value.
 */
export function pseudoSumV6(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  nextHeader: number,
  length: number,
): number {
  const s = onesSum(buf, srcOff, 16, onesSum(buf, dstOff, 16));
  return fold16(s + Math.floor(length / 0x10000) + (length & 0xffff) + nextHeader);
}

/**
 * RFC 1624 eqn. 3: the checksum after the data whose folded sum was `oldSum`
 * is replaced by data whose folded sum is `newSum`: `~(~HC + ~m + m')`.
 *
 * @example
 * ```ts
 * import { adjustChecksum } from "./checksum.ts";
 * // RFC 1624 section 4: HC 0xdd2f, word 0x5555 -> 0x3285 gives 0x0000.
 * adjustChecksum(0xdd2f, 0x5555, 0x3285); // 0x0000
 * ```
 */
export function adjustChecksum(hc: number, oldSum: number, newSum: number): number {
  return ~fold16((~hc & 0xffff) + (~oldSum & 0xffff) + newSum) & 0xffff;
}

/** Swaps the two bytes of a 16-bit value. */
export function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

/**
 * Folded sum of a MAC's three big-endian words as it contributes at an even
 * offset from the start of the checksummed data; at an odd offset the
 * contribution is `swap16` of this (RFC 1071 byte-order independence).
 */
export function macSum(mac: MacKey): number {
  const hi = Math.floor(mac / TWO_32);
  const lo = mac >>> 0;
  return fold16(hi + (lo >>> 16) + (lo & 0xffff));
}

/**
 * Patches the 16-bit checksum stored at `csumOff` after a region of the data
 * changed: `oldSum`/`newSum` are the folded sums of the region before and
 * after (e.g. `onesSum(buf, regionOff, 6)` taken around the write), `odd` the
 * region's parity within the checksummed data (`(regionOff - start) & 1`).
 * With `udp`, a stored 0 ("no checksum", RFC 768) stays 0 and a result of 0
 * is stored as 0xffff. Returns the stored checksum. Works on small integers
 * only, so the hot path does not box 48-bit MACs.
 *
 * @example
 * ```ts
 * import { onesSum, patchChecksumSum } from "./checksum.ts";
 * const pkt = new Uint8Array([0xff, 0xff, 1, 2, 3, 4, 5, 6]); // checksum 0xffff over zeros + MAC
 * const before = onesSum(pkt, 3, 4);
 * pkt[3] = 9;
 * patchChecksumSum(pkt, 0, before, onesSum(pkt, 3, 4), 1, false);
 * ```
 */
export function patchChecksumSum(
  buf: Uint8Array,
  csumOff: number,
  oldSum: number,
  newSum: number,
  odd: number,
  udp: boolean,
): number {
  const hc = (buf[csumOff] << 8) | buf[csumOff + 1];
  if (udp && hc === 0) return 0;
  if (odd & 1) {
    oldSum = swap16(oldSum);
    newSum = swap16(newSum);
  }
  let c = adjustChecksum(hc, oldSum, newSum);
  if (udp && c === 0) c = 0xffff;
  buf[csumOff] = c >>> 8;
  buf[csumOff + 1] = c & 0xff;
  return c;
}

/**
 * Patches the 16-bit checksum stored at `csumOff` in `buf` for a MAC that
 * changed from `oldMac` to `newMac` at a position `odd` bytes off the word
 * grid of the checksummed data (`(macOff - start) & 1`). Returns the new checksum.
 * Does not apply the UDP zero rule; see `patchUdpChecksumMac`.
 *
 * @example
 * ```ts
 * import { patchChecksumMac } from "./checksum.ts";
 * const pkt = new Uint8Array(10); // checksum at 0, MAC at 2..7
 * patchChecksumMac(pkt, 0, 0, 0x020000000001, 0);
 * ```
 */
export function patchChecksumMac(
  buf: Uint8Array,
  csumOff: number,
  oldMac: MacKey,
  newMac: MacKey,
  odd: number,
): number {
  return patchChecksumSum(buf, csumOff, macSum(oldMac), macSum(newMac), odd, false);
}

/**
 * Like `patchChecksumMac` for a 16-bit word at an even position (odd = 0) or
 * one byte off the grid (odd = 1).
 */
export function patchChecksum16(
  buf: Uint8Array,
  csumOff: number,
  oldWord: number,
  newWord: number,
  odd: number,
): number {
  return patchChecksumSum(buf, csumOff, oldWord, newWord, odd, false);
}

/**
 * UDP flavour of `patchChecksumMac` (RFC 768): a stored 0 means "no checksum"
 * and stays 0; a computed 0 is sent as 0xffff.
 */
export function patchUdpChecksumMac(
  buf: Uint8Array,
  csumOff: number,
  oldMac: MacKey,
  newMac: MacKey,
  odd: number,
): number {
  return patchChecksumSum(buf, csumOff, macSum(oldMac), macSum(newMac), odd, true);
}
