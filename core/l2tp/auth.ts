/**
 * Control message authentication, RFC 3931 section 4.3 with the Message
 * Digest AVP (section 5.4.1: IETF 59, Cisco 9,12) and the Control Message
 * Authentication Nonce AVP (IETF 73, Cisco 9,13).
 *
 * ```
 * Shared-Key = HMAC-MD5(secret, 0x02)
 * Digest     = HMAC-<MD5|SHA1>(Shared-Key, sender nonce || receiver nonce || message)
 * ```
 * `message` runs from the T bit to the end (over IP without the four zero
 * bytes) with the digest bytes zeroed. The SCCRQ, sent before the nonces
 * are exchanged, is digested without nonces. The Message Digest AVP value is
 * one Digest Type byte (0 HMAC-MD5, 16 bytes; 1 HMAC-SHA-1, 20 bytes) and
 * the digest. This matches the Wireshark L2TP dissector, which is used in
 * the tests as an independent check.
 *
 * The core has no crypto library: the hash function is injected
 * (`HashFn`); HMAC (RFC 2104) is built on it here.
 *
 * Not done: the older L2TPv2-style Challenge / Challenge Response tunnel
 * authentication (AVPs 11 and 13).
 *
 * @module
 */
import type { Avp } from "./control_message.ts";
import { controlPrefix, type Transport } from "./control_message.ts";
import { Avp as A, CiscoAvp as C, VENDOR_CISCO } from "./constants.ts";

/** Digest algorithms of the Message Digest AVP. */
export type DigestAlgorithm = "md5" | "sha1";

/** A plain hash (MD5 or SHA-1) of `data`, supplied by the caller (e.g. node:crypto). */
export type HashFn = (alg: DigestAlgorithm, data: Uint8Array) => Uint8Array;

const DIGEST_TYPE: Record<DigestAlgorithm, number> = { md5: 0, sha1: 1 };
const DIGEST_LEN: Record<DigestAlgorithm, number> = { md5: 16, sha1: 20 };
const BLOCK = 64; // MD5 and SHA-1 block size

/**
 * HMAC (RFC 2104) over an injected hash.
 *
 * @example
 * ```ts
 * import { createHash } from "node:crypto";
 * import { hmac } from "./auth.ts";
 * const h = (alg: "md5" | "sha1", d: Uint8Array) => new Uint8Array(createHash(alg).update(d).digest());
 * hmac(h, "md5", new TextEncoder().encode("key"), new Uint8Array([2])).length; // 16
 * ```
 */
export function hmac(
  hash: HashFn,
  alg: DigestAlgorithm,
  key: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  const k = new Uint8Array(BLOCK);
  k.set(key.length > BLOCK ? hash(alg, key) : key);
  const inner = new Uint8Array(BLOCK + data.length);
  const outer = new Uint8Array(BLOCK + DIGEST_LEN[alg]);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = k[i] ^ 0x36;
    outer[i] = k[i] ^ 0x5c;
  }
  inner.set(data, BLOCK);
  outer.set(hash(alg, inner), BLOCK);
  return hash(alg, outer);
}

/** Shared-Key = HMAC-MD5(secret, 0x02), RFC 3931 section 4.3. */
export function sharedKey(hash: HashFn, secret: Uint8Array): Uint8Array {
  return hmac(hash, "md5", secret, new Uint8Array([2]));
}

/** Everything needed to sign and check one connection's messages. */
export interface AuthContext {
  hash: HashFn;
  alg: DigestAlgorithm;
  key: Uint8Array;
}

/** A zeroed Message Digest AVP to put right after the Message Type AVP. */
export function digestPlaceholder(alg: DigestAlgorithm, cisco: boolean): Avp {
  const value = new Uint8Array(1 + DIGEST_LEN[alg]);
  value[0] = DIGEST_TYPE[alg];
  return {
    mandatory: false,
    hidden: false,
    vendor: cisco ? VENDOR_CISCO : 0,
    type: cisco ? C.MessageDigest : A.MessageDigest,
    value,
  };
}

function digestOver(
  a: AuthContext,
  alg: DigestAlgorithm,
  bytes: Uint8Array,
  transport: Transport,
  digestAt: number,
  digestLen: number,
  nonces: Uint8Array[],
): Uint8Array {
  const body = bytes.subarray(controlPrefix(transport));
  let n = 0;
  for (const x of nonces) n += x.length;
  const data = new Uint8Array(n + body.length);
  let o = 0;
  for (const x of nonces) {
    data.set(x, o);
    o += x.length;
  }
  data.set(body, o);
  data.fill(
    0,
    o + digestAt - controlPrefix(transport),
    o + digestAt - controlPrefix(transport) + digestLen,
  );
  return hmac(a.hash, alg, a.key, data);
}

/** Finds the Message Digest AVP value in encoded bytes: offset of the digest (after the type byte). */
function findDigest(
  bytes: Uint8Array,
  avps: Avp[],
): { at: number; alg: DigestAlgorithm; len: number } | null {
  for (const x of avps) {
    const ietf = x.vendor === 0 && x.type === A.MessageDigest;
    const cisco = x.vendor === VENDOR_CISCO && x.type === C.MessageDigest;
    if (!ietf && !cisco) continue;
    const v = x.value;
    if (v.length < 1) return null;
    const alg: DigestAlgorithm | null = v[0] === 0 ? "md5" : v[0] === 1 ? "sha1" : null;
    if (!alg || v.length !== 1 + DIGEST_LEN[alg]) return null;
    return { at: v.byteOffset - bytes.byteOffset + 1, alg, len: DIGEST_LEN[alg] };
  }
  return null;
}

/**
 * Fills in the digest of an encoded message (which carries a placeholder
 * from `digestPlaceholder`), in place. `nonces` is [sender's, receiver's],
 * or [] for an SCCRQ.
 */
export function sign(
  a: AuthContext,
  bytes: Uint8Array,
  avps: Avp[],
  transport: Transport,
  nonces: Uint8Array[],
): void {
  const d = findDigest(bytes, avps);
  if (!d) return;
  const mac = digestOver(a, d.alg, bytes, transport, d.at, d.len, nonces);
  bytes.set(mac.subarray(0, d.len), d.at);
}

/** Why a message failed authentication. */
export type AuthFailure = "no_digest" | "wrong_algorithm" | "bad_digest";

/**
 * Checks the digest of a received message (`avps` are the parsed views into
 * `bytes`). `nonces` is [sender's, receiver's], or [] for an SCCRQ. The
 * digest must use the configured algorithm (`a.alg`): the Digest Type byte
 * is chosen by the sender, and a receiver that let it pick would accept the
 * weakest algorithm it knows (RFC 3931 section 4.3 has both sides
 * configured alike).
 */
export function verify(
  a: AuthContext,
  bytes: Uint8Array,
  avps: Avp[],
  transport: Transport,
  nonces: Uint8Array[],
): AuthFailure | null {
  const d = findDigest(bytes, avps);
  if (!d) return "no_digest";
  if (d.alg !== a.alg) return "wrong_algorithm";
  const mac = digestOver(a, d.alg, bytes, transport, d.at, d.len, nonces);
  let diff = 0;
  for (let i = 0; i < d.len; i++) diff |= mac[i] ^ bytes[d.at + i];
  return diff === 0 ? null : "bad_digest";
}
