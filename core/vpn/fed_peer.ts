/**
 * A federation peer's state inside the table (core/vpn/federation.ts):
 * liveness (last heard, ping, RTT, handshake retry), what it sees, and
 * where its update sequence and sync stand. One per configured peer.
 *
 * @module
 */
import type { FedPeerConfig, PeerState } from "./fed_types.ts";

/** A configured peer as the table tracks it. */
export interface Peer {
  cfg: FedPeerConfig;
  state: PeerState;
  lastHeard: number;
  downSince: number;
  nextPingAt: number;
  nextHandshakeAt: number;
  pingSeq: number;
  rttMs: number | null;
  lastRttMs: number | null;
  /** Supernodes this peer had a session with at its last FED_PING. */
  sees: Set<number>;
  /** The update seq expected next; null until a sync completed. */
  expect: number | null;
  syncWanted: boolean;
  nextSyncReqAt: number;
  lastSyncAnswerAt: number;
  digestMatch: boolean | null;
  sync: { seq: number; gen: number; got: Set<number>; last: number } | null;
}

/** A peer as configured, before its first handshake: connecting, nothing heard. */
export function newPeer(p: FedPeerConfig): Peer {
  return {
    cfg: { id: p.id, key: p.key.slice(), endpoint: p.endpoint },
    state: "connecting",
    lastHeard: -Infinity,
    downSince: -Infinity,
    nextPingAt: Infinity,
    nextHandshakeAt: -Infinity,
    pingSeq: 0,
    rttMs: null,
    lastRttMs: null,
    sees: new Set(),
    expect: null,
    syncWanted: false,
    nextSyncReqAt: Infinity,
    lastSyncAnswerAt: -Infinity,
    digestMatch: null,
    sync: null,
  };
}
