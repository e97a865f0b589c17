/**
 * One established session between two ends of the VPN (node and supernode,
 * or two nodes), and the limits after which it is re-keyed or refused
 * (issue 6, docs/security.md "Key rotation").
 *
 * A session has a key id each side chose for its receive direction (the
 * sender writes the receiver's key id in the header), an AEAD key per
 * direction, a send counter that is the nonce (4 zero bytes | counter), and
 * a sliding replay window (`core/replay.ts`, RFC 6479) for the receive key,
 * which needs no clock.
 *
 * Limits (WireGuard's numbers for time; counters far below 2^53):
 * - `rekeyAfterMs` 120 s / `rekeyAfterPackets` 2^40: the owner starts a new
 *   handshake; the old session keeps working meanwhile.
 * - `rejectAfterMs` 180 s / `rejectAfterPackets` 2^48: the session neither
 *   seals nor opens any more and is removed.
 *
 * Not here: choosing sessions for packets (`secure_sealer.ts`), handshakes.
 *
 * @module
 */
import type { KeyedEndpoint } from "../addr.ts";
import { ReplayWindow } from "../replay.ts";
import { fingerprint } from "./crypto_suite.ts";
import type { AeadKey, CryptoSuite } from "./crypto_suite.ts";
import type { SessionSecrets } from "./handshake.ts";

/** When sessions are re-keyed and when they stop. */
export interface SessionLimits {
  rekeyAfterMs: number;
  rejectAfterMs: number;
  rekeyAfterPackets: number;
  rejectAfterPackets: number;
}

/** Default limits. */
export const DEFAULT_LIMITS: SessionLimits = {
  rekeyAfterMs: 120_000,
  rejectAfterMs: 180_000,
  rekeyAfterPackets: 2 ** 40,
  rejectAfterPackets: 2 ** 48,
};

/** What a session is created from. */
export interface SessionInit {
  network: number;
  /** The peer's node id (0: the supernode; on the supernode, the node's bound id or -1 before). */
  peer: number;
  localKeyId: number;
  remoteKeyId: number;
  remoteStatic: Uint8Array;
  initiator: boolean;
  secrets: SessionSecrets;
  now: number;
  /** Where the peer's handshake came from (supernode: the node's endpoint), as text. */
  endpoint?: string;
  /** The same address as a value, for sending (supernode: the node's endpoint). */
  addr?: KeyedEndpoint;
}

/** One session: keys, counters, replay window, age. */
export class Session {
  readonly network: number;
  /** Peer node id; on the supernode -1 until the registration binds it. */
  peer: number;
  readonly localKeyId: number;
  readonly remoteKeyId: number;
  readonly remoteStatic: Uint8Array;
  readonly initiator: boolean;
  readonly createdAt: number;
  readonly tx: AeadKey;
  readonly rx: AeadKey;
  /** Hop tags this side writes (node -> supernode relays; supernode vouches). */
  readonly hopTx: AeadKey;
  /** Hop tags this side checks. */
  readonly hopRx: AeadKey;
  readonly window: ReplayWindow = new ReplayWindow();
  txCounter = 0;
  rxPackets = 0;
  /** A responder's session is used for sending only after a packet arrived under it. */
  confirmed: boolean;
  lastRx: number;
  lastTx = -Infinity;
  endpoint: string;
  /**
   * Where to send to this peer (the supernode's sessions: the address the
   * handshake came from, which a relayed packet never moves); null when unknown.
   */
  readonly addr: KeyedEndpoint | null;
  closed = false;

  constructor(suite: CryptoSuite, i: SessionInit) {
    this.network = i.network;
    this.peer = i.peer;
    this.localKeyId = i.localKeyId;
    this.remoteKeyId = i.remoteKeyId;
    this.remoteStatic = i.remoteStatic.slice();
    this.initiator = i.initiator;
    this.createdAt = i.now;
    this.tx = suite.aead(i.secrets.send);
    this.rx = suite.aead(i.secrets.recv);
    this.hopTx = suite.aead(i.secrets.hopSend);
    this.hopRx = suite.aead(i.secrets.hopRecv);
    this.confirmed = i.initiator;
    this.lastRx = i.now;
    this.endpoint = i.endpoint ?? i.addr?.key ?? "";
    this.addr = i.addr ?? null;
    i.secrets.send.fill(0);
    i.secrets.recv.fill(0);
    i.secrets.hopSend.fill(0);
    i.secrets.hopRecv.fill(0);
  }

  /** True once the session may not seal or open any more. */
  dead(now: number, l: SessionLimits): boolean {
    return this.closed || now - this.createdAt >= l.rejectAfterMs ||
      this.txCounter >= l.rejectAfterPackets;
  }

  /** True when the owner should start a new handshake. */
  needsRekey(now: number, l: SessionLimits): boolean {
    return now - this.createdAt >= l.rekeyAfterMs || this.txCounter >= l.rekeyAfterPackets;
  }

  /** Frees the keys. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tx.close();
    this.rx.close();
    this.hopTx.close();
    this.hopRx.close();
  }
}

/** A session as the status report shows it. */
export interface SessionInfo {
  network: number;
  /** Peer node id (0: the supernode; -1: not bound yet). */
  peer: number;
  /** First 8 bytes of the peer's public key, hex. */
  key: string;
  keyId: number;
  initiator: boolean;
  confirmed: boolean;
  ageMs: number;
  txPackets: number;
  rxPackets: number;
  endpoint: string;
}

/** The status line of a session. */
export function sessionInfo(s: Session, now: number): SessionInfo {
  return {
    network: s.network,
    peer: s.peer,
    key: fingerprint(s.remoteStatic),
    keyId: s.localKeyId,
    initiator: s.initiator,
    confirmed: s.confirmed,
    ageMs: now - s.createdAt,
    txPackets: s.txCounter,
    rxPackets: s.rxPackets,
    endpoint: s.endpoint,
  };
}
