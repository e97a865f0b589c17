/**
 * A LAS session's way out (core/las/engine.ts): the `Link` the switchboard
 * keeps with each switch port (where and how the session's data goes, and
 * its transmit counters), built at session-up, and the per-session and
 * per-peer-LAS rows of /status read from the ports.
 *
 * @module
 */
import { dataHeaderLength } from "../l2tp/data_header.ts";
import type { Transport } from "../l2tp/control_message.ts";
import type { SessionInfo } from "../l2tp/session.ts";
import { formatIp, ipEquals } from "../addr.ts";
import type { Endpoint, Ip16 } from "../addr.ts";
import type { SessionPort } from "./switchboard.ts";
import type { LasSessionStatus } from "./status.ts";

/** How data reaches the peer of a session on a switch port (the switchboard's link). */
export interface Link {
  transport: Transport;
  to: Endpoint;
  /** Source to pin on data packets (IP_PKTINFO), or null to let the kernel choose. */
  from: Ip16 | null;
  /** The local address the peer called. */
  local: string | null;
  headerLen: number;
  tx: { cookie: Uint8Array; sublayer: boolean };
  /** The peer asked for sequenced data (sublayer with S=1). */
  seq: boolean;
  /** Next sequence number (24 bits) when `seq`. */
  txSeq: number;
  remoteSessionId: number;
  txFrames: number;
  txBytes: number;
  txErrors: number;
  /**
   * A peer LAS that said (SLI, A=0) it has no edges on the VC: frames to it
   * would be dropped there (split horizon), so they are not sent.
   */
  idle: boolean;
  /** Frames not sent while `idle`. */
  txIdle: number;
}

/**
 * The link of session `s` over `kind`, to the peer's address `p` (from the
 * peer book; absent: nowhere yet). The source of data packets is pinned
 * only where the kernel would pick another one (`sourceFor`, a multi-homed
 * LAS); decided once, at session-up.
 */
export function newLink(
  kind: Transport,
  s: SessionInfo,
  p: { to: Endpoint; from: Ip16 | null } | undefined,
  sourceFor: ((dest: Ip16) => Ip16 | null) | undefined,
): Link {
  let from = p?.from ?? null;
  if (from && p && sourceFor) {
    const k = sourceFor(p.to.ip);
    if (k && ipEquals(k, from)) from = null;
  }
  return {
    transport: kind,
    to: p?.to ?? { ip: new Uint8Array(16), port: 0 },
    from,
    local: p?.from ? formatIp(p.from) : null,
    headerLen: dataHeaderLength(kind, { cookie: s.txCookie, sublayer: s.txSublayer }),
    tx: { cookie: s.txCookie, sublayer: s.txSublayer },
    seq: s.txSublayer && s.txSequencing,
    txSeq: 0,
    remoteSessionId: s.remoteSessionId,
    txFrames: 0,
    txBytes: 0,
    txErrors: 0,
    idle: false,
    txIdle: 0,
  };
}

/** The /status row of a session on a switch port at `now`. */
export function sessionStatus(a: SessionPort<Link>, now: number): LasSessionStatus {
  return {
    session: a.session.localSessionId,
    peer: a.session.peer,
    peer_las: a.session.meshPeer !== undefined,
    vc: a.vc.text,
    pw_type: a.session.pwType,
    remote_session: a.link.remoteSessionId,
    local: a.link.local,
    tx_sublayer: a.link.tx.sublayer ? (a.link.seq ? "sequenced" : "unsequenced") : "none",
    up_s: Math.round((now - a.upSince) / 1000),
    rx_frames: a.rxFrames,
    rx_bytes: a.rxBytes,
    tx_frames: a.link.txFrames,
    tx_bytes: a.link.txBytes,
    tx_errors: a.link.txErrors,
    tx_idle: a.link.txIdle,
  };
}

/** Frames and bytes of a peer LAS's sessions now up. */
export interface PeerTraffic {
  rx_frames: number;
  rx_bytes: number;
  tx_frames: number;
  tx_bytes: number;
}

/** The frames of the sessions now up with each peer LAS, summed by peer name. */
export function meshPeerTraffic(sessions: Iterable<SessionPort<Link>>): Map<string, PeerTraffic> {
  const live = new Map<string, PeerTraffic>();
  for (const a of sessions) {
    const mp = a.session.meshPeer;
    if (mp === undefined) continue;
    const l = live.get(mp) ?? { rx_frames: 0, rx_bytes: 0, tx_frames: 0, tx_bytes: 0 };
    l.rx_frames += a.rxFrames;
    l.rx_bytes += a.rxBytes;
    l.tx_frames += a.link.txFrames;
    l.tx_bytes += a.link.txBytes;
    live.set(mp, l);
  }
  return live;
}
