/**
 * The seam between the VPN protocol core and its cryptography (issue 6).
 *
 * Every packet is `header (24) | body | tag (16)`, plus a 16-byte relay
 * trailer when flag HOP_TAG is set (docs/protocol.md "Relay trailers"). Before a packet leaves, the core has written the
 * header (all fields except key id and counter) and the plaintext body, and
 * calls `seal(packet, now)`. The sealer picks the session for (network,
 * receiver), writes its key id and next counter into the header, encrypts
 * the body in place with the header as additional data and writes the tag.
 * On receipt, after `checkHeader`, the core calls `open(packet, now, from)`
 * with the datagram's source endpoint; the sealer
 * finds the session by key id, rejects a counter outside its replay window,
 * checks the tag, decrypts the body in place and only then accepts the
 * counter.
 *
 * Two sealers implement it:
 * - `SecureSealer` (secure_sealer.ts), what the daemons run, with the
 *   sessions `SecureNode` / `SecureSupernode` establish (Noise IKpsk1 over
 *   X25519, handshake.ts; message types 0x20..0x2f, flag HANDSHAKE). AEAD
 *   AES-256-GCM (ChaCha20-Poly1305 is built too; the injected `CryptoSuite`
 *   decides, cmd/vpn_crypto.ts on the system libcrypto and libsodium); nonce
 *   = 4 zero bytes | counter (8, big-endian); AAD = the 24 header bytes with
 *   HOP_TAG masked. Node-to-node packets (DATA, PROBE, PROBE_ECHO) are sealed
 *   end to end with the pair's session: a relaying supernode checks only the
 *   sender's hop trailer (its counter against the sender's replay window,
 *   then its tag) and forwards the bytes unchanged, unable to read or
 *   alter them; broadcasts are fanned out by the sending node, one copy per
 *   peer session (`PeerDirectory`). Control messages between a node and the
 *   supernode are sealed with the node's supernode session. Each session
 *   (a new key id per handshake, re-keyed every 120 s) has its own replay
 *   window (RFC 6479 bitmap, core/replay.ts, no clock); an unknown key id is
 *   dropped before any AEAD work. docs/security.md has the whole design.
 * - `NullSealer` below: no secret, for protocol tests.
 *
 * @module
 */
import { HEADER_LENGTH, TAG_LENGTH } from "./constants.ts";
import { writeCounter, writeKeyId } from "./header.ts";

/** Why a packet could not be sealed. */
export type SealReason = "no_session" | "counter_exhausted";
/** Why a received packet was rejected. */
export type OpenReason = "bad_tag" | "no_session" | "replay" | "wrong_sender" | "bad_hop_tag";

/** Seals outgoing and opens incoming packets in place. */
export interface Sealer {
  /**
   * True when packets a node sends to the supernode for another node carry a
   * 16-byte hop trailer after the tag (flag HOP_TAG; `encodePacket` makes room
   * and sets the flag, the sealer writes it). Absent: no hop trailers.
   */
  readonly hopTag?: boolean;
  /**
   * Fills key id and counter, seals `packet[24 .. length-16)` in place and
   * writes the tag into the last 16 bytes. `now` (monotonic ms) decides
   * which sessions are still alive and stamps the one used. Never throws.
   */
  seal(packet: Uint8Array, now: number): "ok" | SealReason;
  /**
   * Verifies and opens a packet whose header passed `checkHeader`. `now`
   * (monotonic ms) ages the sessions; `from` is the canonical `ip:port` the
   * datagram came from ("" when there is none, as in tests that drive a
   * sealer alone): a node's session follows it (not to ""), and the
   * supernode takes a REGISTER only from its session's handshake address
   * (never from ""). Never throws.
   */
  open(packet: Uint8Array, now: number, from: string): "ok" | OpenReason;
  /**
   * Node: the stamp its next REGISTER carries (TAI64N, strictly newer than
   * every HS_INIT timestamp and stamp before; docs/federation.md). Absent:
   * REGISTER goes without one.
   */
  registrationStamp?: () => Uint8Array;
}

/**
 * Who a node fans a broadcast out to, and when held frames can go
 * (`SecureNode` implements it). With one, `NodeCore` sends a broadcast as one
 * end-to-end sealed copy per peer (directly where the path is direct, else
 * through the supernode) instead of once to the supernode, holds frames
 * for a peer without a session until `takeReady` names it, and lets the
 * directory hold broadcasts until it knows the other nodes (`holdBroadcast`).
 */
export interface PeerDirectory {
  /** The other nodes of the network (ids). */
  broadcastPeers(): readonly number[];
  /** Peers whose session became usable since the last call. */
  takeReady(): number[];
  /** True when `takeReady` or `takeBroadcasts` would return something. */
  hasReady(): boolean;
  /**
   * Offers a broadcast frame before the fan-out. True: the directory has no
   * list of the other nodes yet and keeps a copy for `takeBroadcasts` (or
   * dropped it when full; it counts either). False: fan it out to
   * `broadcastPeers` now.
   */
  holdBroadcast(frame: Uint8Array, now: number): boolean;
  /** Held broadcast frames to fan out now (the list came), oldest first; the caller owns them. */
  takeBroadcasts(now: number): Uint8Array[];
}

/**
 * A sealer with no secret: key id 0, a running counter, and a 32-bit FNV-1a
 * check of header and body in the first four tag bytes (the rest zero). It
 * catches accidents (truncation, bit flips), not attackers. For the protocol
 * tests of the cores; the daemons always run `SecureSealer`.
 *
 * @example
 * ```ts
 * import { NullSealer } from "./sealer.ts";
 * const s = new NullSealer();
 * const p = new Uint8Array(44);
 * p[0] = 0x4c;
 * s.seal(p, 0); // "ok"
 * s.open(p, 0, ""); // "ok"
 * ```
 */
export class NullSealer implements Sealer {
  private counter = 0;

  seal(packet: Uint8Array, _now: number): "ok" | SealReason {
    if (packet.length < HEADER_LENGTH + TAG_LENGTH) return "no_session";
    if (this.counter >= Number.MAX_SAFE_INTEGER) return "counter_exhausted";
    writeKeyId(packet, 0);
    writeCounter(packet, this.counter++);
    const end = packet.length - TAG_LENGTH;
    const h = fnv1a(packet, end);
    packet.fill(0, end);
    packet[end] = h >>> 24;
    packet[end + 1] = (h >>> 16) & 0xff;
    packet[end + 2] = (h >>> 8) & 0xff;
    packet[end + 3] = h & 0xff;
    return "ok";
  }

  open(packet: Uint8Array, _now: number, _from: string): "ok" | OpenReason {
    if (packet.length < HEADER_LENGTH + TAG_LENGTH) return "bad_tag";
    const end = packet.length - TAG_LENGTH;
    const h = fnv1a(packet, end);
    let diff = (packet[end] ^ (h >>> 24)) | (packet[end + 1] ^ ((h >>> 16) & 0xff)) |
      (packet[end + 2] ^ ((h >>> 8) & 0xff)) | (packet[end + 3] ^ (h & 0xff));
    for (let i = end + 4; i < packet.length; i++) diff |= packet[i];
    return diff === 0 ? "ok" : "bad_tag";
  }
}

function fnv1a(b: Uint8Array, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
