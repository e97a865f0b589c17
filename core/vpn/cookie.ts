/**
 * mac1, mac2 and the cookie reply of HS_INITs sent to the supernode (issue
 * 13): WireGuard's idea (whitepaper section 5.4.4 and 5.4.7), built on
 * HMAC-SHA256 and the suite's AEAD.
 *
 * ```
 * HS_INIT to the supernode = noise message | mac1 (16) | mac2 (16)
 * mac1 = HMAC-SHA256(SHA-256("l2 mac1 v1" | supernode public key), bytes before mac1)[0, 16)
 * mac2 = HMAC-SHA256(cookie, bytes before mac2)[0, 16), or 16 zero bytes without a cookie
 * cookie = HMAC-SHA256(secret, source endpoint text)[0, 16); secret random, new every 120 s
 *
 * COOKIE_REPLY 0x2a (68 bytes), supernode -> the HS_INIT's source:
 * header 24 (flags HANDSHAKE, network and receiver of the HS_INIT, sender 0,
 *            key id = the initiator's key id) | nonce (12) | enc(cookie) 16 + tag 16
 * AEAD key = SHA-256("l2 cookie v1" | supernode public key), AAD = header | mac1 of the HS_INIT
 * ```
 *
 * mac1 lets the supernode drop, with one HMAC and before any X25519,
 * every HS_INIT from a sender that does not know its public key. Under load
 * the supernode processes only HS_INITs whose mac2 proves that their sender
 * receives at their source address, and answers the others with a
 * COOKIE_REPLY (smaller than the HS_INIT: no amplification), which the node
 * uses for its next HS_INIT (it sends one at once). A forged source never
 * sees its cookie. The reply is bound to the HS_INIT's mac1, so only someone
 * who saw that HS_INIT (and knows the supernode's key) could forge one.
 *
 * Not here: when the supernode is under load (`secure_supernode.ts`); peer
 * (node-to-node) handshakes carry no macs: they travel through the
 * supernode, which authenticates their sender by its hop tag.
 *
 * @module
 */
import { Flag, HEADER_LENGTH, SUPERNODE_ID, TAG_LENGTH } from "./constants.ts";
import { type AeadKey, concat, type CryptoSuite } from "./crypto_suite.ts";
import { emitHeader } from "./header.ts";

/** Bytes of mac1 and of mac2. */
export const MAC_LENGTH = 16;
/** Bytes after the Noise message of an HS_INIT to the supernode: mac1 and mac2. */
export const MACS_LENGTH = 2 * MAC_LENGTH;
/** Bytes of a cookie. */
export const COOKIE_LENGTH = 16;
/** Type octet of COOKIE_REPLY. */
export const COOKIE_REPLY = 0x2a;
/** Bytes of a COOKIE_REPLY. */
export const COOKIE_REPLY_LENGTH = HEADER_LENGTH + 12 + COOKIE_LENGTH + TAG_LENGTH;
/** How long a cookie secret is used before a new one (the old one is still accepted as long). */
export const COOKIE_SECRET_MS = 120_000;
/** How long a node uses a received cookie. */
export const COOKIE_USE_MS = 110_000;

const enc = new TextEncoder();

/** The key mac1 is computed with for a responder public key. */
export function mac1Key(suite: CryptoSuite, responderPublic: Uint8Array): Uint8Array {
  return suite.sha256(concat(enc.encode("l2 mac1 v1"), responderPublic));
}

/** The AEAD key of COOKIE_REPLY for a responder public key. */
export function cookieKey(suite: CryptoSuite, responderPublic: Uint8Array): Uint8Array {
  return suite.sha256(concat(enc.encode("l2 cookie v1"), responderPublic));
}

function mac(suite: CryptoSuite, key: Uint8Array, data: Uint8Array): Uint8Array {
  return suite.hmac(key, data).subarray(0, MAC_LENGTH);
}

/**
 * A copy of `noise` (an HS_INIT to the supernode) with mac1 and mac2
 * appended; mac2 is zero without a cookie.
 */
export function addMacs(
  suite: CryptoSuite,
  mac1key: Uint8Array,
  noise: Uint8Array,
  cookie: Uint8Array | null,
): Uint8Array {
  const out = new Uint8Array(noise.length + MACS_LENGTH);
  out.set(noise);
  out.set(mac(suite, mac1key, noise), noise.length);
  if (cookie !== null) {
    out.set(mac(suite, cookie, out.subarray(0, noise.length + MAC_LENGTH)), noise.length + 16);
  }
  return out;
}

/** mac1 of an HS_INIT with macs (a view). */
export function mac1Of(packet: Uint8Array): Uint8Array {
  return packet.subarray(packet.length - MACS_LENGTH, packet.length - MAC_LENGTH);
}

/** True when the mac1 of `packet` (with macs) is right for `mac1key`. */
export function mac1Ok(suite: CryptoSuite, mac1key: Uint8Array, packet: Uint8Array): boolean {
  if (packet.length < HEADER_LENGTH + MACS_LENGTH) return false;
  const end = packet.length - MACS_LENGTH;
  return suite.equal(mac(suite, mac1key, packet.subarray(0, end)), mac1Of(packet));
}

/**
 * The supernode's cookies: a random secret, replaced every
 * `COOKIE_SECRET_MS`; a cookie made with the current or the previous secret
 * is accepted.
 *
 * @example
 * ```ts
 * // const c = new CookieJar(suite, staticKey.publicKey, now);
 * // c.mac2Ok(packet, from, now) || out.push({ to: from, bytes: c.reply(packet, from, now) });
 * ```
 */
export class CookieJar {
  private secret = new Uint8Array(32);
  private previous: Uint8Array | null = null;
  private rotatedAt: number;
  /** The COOKIE_REPLY key, made once (it lives as long as the supernode's key). */
  private readonly aead: AeadKey;
  private readonly nonce = new Uint8Array(12);

  constructor(private readonly suite: CryptoSuite, responderPublic: Uint8Array, now: number) {
    suite.randomBytes(this.secret);
    this.rotatedAt = now;
    this.aead = suite.aead(cookieKey(suite, responderPublic));
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < COOKIE_SECRET_MS) return;
    this.previous = now - this.rotatedAt < 2 * COOKIE_SECRET_MS ? this.secret : null;
    this.secret = new Uint8Array(32);
    this.suite.randomBytes(this.secret);
    this.rotatedAt = now;
  }

  private cookie(secret: Uint8Array, source: string): Uint8Array {
    return mac(this.suite, secret, enc.encode(source));
  }

  /** True when `packet` (an HS_INIT with macs) carries a valid mac2 for `source`. */
  mac2Ok(packet: Uint8Array, source: string, now: number): boolean {
    this.rotate(now);
    if (packet.length < HEADER_LENGTH + MACS_LENGTH) return false;
    const m2 = packet.subarray(packet.length - MAC_LENGTH);
    if (m2.every((b) => b === 0)) return false;
    const covered = packet.subarray(0, packet.length - MAC_LENGTH);
    for (const s of [this.secret, this.previous]) {
      if (s === null) continue;
      if (this.suite.equal(mac(this.suite, this.cookie(s, source), covered), m2)) return true;
    }
    return false;
  }

  /** COOKIE_REPLY to `source` for `init` (an HS_INIT with macs, header already checked). */
  reply(init: Uint8Array, source: string, now: number): Uint8Array {
    this.rotate(now);
    const v = new DataView(init.buffer, init.byteOffset, init.byteLength);
    const out = new Uint8Array(COOKIE_REPLY_LENGTH);
    emitHeader({
      type: COOKIE_REPLY,
      flags: Flag.HANDSHAKE,
      network: v.getUint16(4),
      sender: SUPERNODE_ID,
      receiver: v.getUint16(6),
      keyId: v.getUint32(12),
      counter: 0,
    }, out);
    this.suite.randomBytes(this.nonce);
    out.set(this.nonce, HEADER_LENGTH);
    out.set(this.cookie(this.secret, source), HEADER_LENGTH + 12);
    const aad = concat(out.subarray(0, HEADER_LENGTH), mac1Of(init));
    this.aead.seal(this.nonce, aad, out, HEADER_LENGTH + 12, COOKIE_LENGTH);
    return out;
  }
}

/**
 * Node: the cookie in a COOKIE_REPLY answering the HS_INIT whose mac1 is
 * `mac1`, or null when it does not authenticate (wrong length, forged, or
 * for another HS_INIT). `key` is `cookieKey` of the supernode.
 */
export function readCookieReply(
  suite: CryptoSuite,
  key: Uint8Array,
  packet: Uint8Array,
  mac1: Uint8Array,
): Uint8Array | null {
  if (packet.length !== COOKIE_REPLY_LENGTH) return null;
  const p = packet.slice();
  const a = suite.aead(key);
  let ok: boolean;
  try {
    ok = a.open(
      p.subarray(HEADER_LENGTH, HEADER_LENGTH + 12),
      concat(p.subarray(0, HEADER_LENGTH), mac1),
      p,
      HEADER_LENGTH + 12,
      COOKIE_LENGTH + TAG_LENGTH,
    );
  } finally {
    a.close();
  }
  return ok ? p.slice(HEADER_LENGTH + 12, HEADER_LENGTH + 12 + COOKIE_LENGTH) : null;
}
