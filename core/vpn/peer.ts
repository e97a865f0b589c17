/**
 * The path from one node to one peer node: direct (UDP straight to the
 * peer's endpoint) or relay (through the supernode), and the hole-punching
 * state machine that moves between them.
 *
 * ```
 *            PEER_INTRO                       PROBE_ECHO from E
 *   relay ---------------> punching ----------------------------> direct(E)
 *     ^  ^                    |  probes to every candidate              |
 *     |  |  punch window over |  every punchIntervalMs                  |
 *     |  '--------------------'  (retry after back-off)                 |
 *     |                                                                 |
 *     '---- no echo to probeRetries probes, probeTimeoutMs apart -------'
 *              (retry after back-off: retryBaseMs doubling to retryMaxMs)
 * ```
 *
 * A direct path is probed every `keepaliveMs` (holds NAT mappings, measures
 * RTT), and early when data was sent but nothing came back from the peer for
 * `silenceMs`. The echo is awaited 4 x RTT (200 ms .. `probeTimeoutMs`);
 * from the first unanswered check probe on, data goes through the relay, so
 * a dead path loses at most `silenceMs` + one probe timeout of traffic. An echo is accepted only for one of the last
 * `SEQ_WINDOW` probe sequence numbers (random start per peer).
 *
 * A relayed peer that carries unicast traffic is probed through the
 * supernode every `keepaliveMs` (PROBE relayed like data), for its RTT.
 *
 * This module holds state and decides; `node.ts` sends.
 *
 * @module
 */
import type { KeyedEndpoint } from "../addr.ts";

/** How data to this peer travels. */
export type PathKind = "direct" | "relay";

/** Peer state machine states. */
export type PeerState = "relay" | "punching" | "direct";

/** Echoes for up to this many recent probe sequence numbers are accepted. */
export const SEQ_WINDOW = 16;

/** Timer settings of peer paths. */
export interface PeerTimers {
  /** Probe interval on a direct path. Default 20 000 (NAT mappings usually live 30 s or more). */
  keepaliveMs: number;
  /** How long punching lasts after an introduction. Default 10 000. */
  punchWindowMs: number;
  /** Probe round interval while punching. Default 500. */
  punchIntervalMs: number;
  /** Longest wait for an echo before re-probing a direct path (4 x RTT once known, at least 200 ms). Default 1500. */
  probeTimeoutMs: number;
  /** Unanswered probes after which a direct path is dead. Default 3. */
  probeRetries: number;
  /** Data sent but nothing heard from the peer for this long: check the path. Default 2000. */
  silenceMs: number;
  /** First wait before trying direct again. Default 15 000. */
  retryBaseMs: number;
  /** Longest wait before trying direct again. Default 300 000. */
  retryMaxMs: number;
  /** A peer not used (no frame either way) for this long is forgotten. Default 600 000. */
  idleMs: number;
}

/** Default peer timers. */
export const PEER_TIMERS: PeerTimers = {
  keepaliveMs: 20_000,
  punchWindowMs: 10_000,
  punchIntervalMs: 500,
  probeTimeoutMs: 1500,
  probeRetries: 3,
  silenceMs: 2000,
  retryBaseMs: 15_000,
  retryMaxMs: 300_000,
  idleMs: 600_000,
};

/** One peer as `NodeCore.peers()` shows it. */
export interface PeerStatus {
  node: number;
  path: PathKind;
  state: PeerState;
  /** Direct endpoint, or the supernode's when relayed (text). */
  endpoint: string;
  /** Round-trip time of the path in use, ms: `directRttMs` or `relayRttMs`. */
  rttMs: number | null;
  /** Last round-trip time of a direct probe, ms; null before the first echo. */
  directRttMs: number | null;
  /** Last round-trip time of a probe through the supernode, ms; null before the first echo. */
  relayRttMs: number | null;
  txFrames: number;
  rxFrames: number;
  txBytes: number;
  rxBytes: number;
  /** Direct paths established with this peer. */
  directUps: number;
  /** Direct paths lost (no echo) or punches that failed. */
  directFailures: number;
}

/** Mutable state of one peer. */
export class Peer {
  state: PeerState = "relay";
  /** Direct endpoint when `state === "direct"`. */
  endpoint: KeyedEndpoint | null = null;
  /** Candidate endpoints from the last introduction. */
  candidates: KeyedEndpoint[] = [];
  /** Probe rounds sent since punching started (the first goes with a low TTL). */
  punchRounds = 0;
  rttMs: number | null = null;
  relayRttMs: number | null = null;
  /** Next probe through the supernode (relayed peers in use); Infinity: none planned. */
  nextRelayProbeAt = Infinity;
  /** Next probe sequence number (random start). */
  seq: number;
  /** Punching: end of the window; direct: -. */
  punchUntil = 0;
  /** Next probe round (punching) or keepalive probe (direct). */
  nextProbeAt = Infinity;
  /** Unanswered probes on the direct path since the last echo. */
  unanswered = 0;
  /** Earliest time a new introduction may be requested. */
  retryAt = 0;
  /** Current back-off, ms (0: none yet). */
  backoffMs = 0;
  /** Last packet received directly from the peer. */
  lastDirectRx = 0;
  /** Last frame either way. */
  lastUsed: number;
  txFrames = 0;
  rxFrames = 0;
  txBytes = 0;
  rxBytes = 0;
  directUps = 0;
  directFailures = 0;

  constructor(readonly node: number, now: number, seq: number) {
    this.lastUsed = now;
    this.seq = seq >>> 0;
  }

  /** True when data should go straight to `endpoint` now (direct and not being checked). */
  get sendsDirect(): boolean {
    return this.state === "direct" && this.unanswered === 0;
  }

  /** Takes a fresh probe sequence number. */
  takeSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) >>> 0;
    return s;
  }

  /** True when `seq` is one of the last `SEQ_WINDOW` numbers handed out. */
  seqIsRecent(seq: number): boolean {
    const age = (this.seq - 1 - seq) >>> 0;
    return age < SEQ_WINDOW;
  }

  /** An introduction arrived: start punching toward `candidates`. */
  startPunch(candidates: KeyedEndpoint[], now: number, t: PeerTimers): void {
    if (this.state === "direct") return;
    this.state = "punching";
    this.candidates = candidates;
    this.punchRounds = 0;
    this.punchUntil = now + t.punchWindowMs;
    this.nextProbeAt = now;
  }

  /** An echo arrived from `from`: the path to `from` works. Returns true when the path changed. */
  echo(from: KeyedEndpoint, rttMs: number, now: number, t: PeerTimers): boolean {
    this.rttMs = rttMs;
    this.lastDirectRx = now;
    this.unanswered = 0;
    if (this.state === "direct") {
      this.nextProbeAt = now + t.keepaliveMs;
      return false;
    }
    this.state = "direct";
    this.endpoint = from;
    this.backoffMs = 0;
    this.directUps++;
    this.nextProbeAt = now + t.keepaliveMs;
    return true;
  }

  /** Back to relay after a failed punch or a dead direct path; schedules the retry. */
  fail(now: number, t: PeerTimers, jitter: number): void {
    this.state = "relay";
    this.endpoint = null;
    this.unanswered = 0;
    this.nextProbeAt = Infinity;
    this.backoffMs = this.backoffMs === 0
      ? t.retryBaseMs
      : Math.min(this.backoffMs * 2, t.retryMaxMs);
    // Jitter in [0.8, 1.0) of the back-off so peers do not retry in lockstep.
    this.retryAt = now + Math.floor(this.backoffMs * (0.8 + 0.2 * jitter));
    this.directFailures++;
  }

  /**
   * How long to wait for an echo on the direct path: 4 x RTT, at least
   * 200 ms, at most `probeTimeoutMs` unless the RTT itself is longer (then
   * 2 x RTT, so a slow path is not declared dead).
   */
  probeTimeout(t: PeerTimers): number {
    if (this.rttMs === null) return t.probeTimeoutMs;
    const cap = Math.max(t.probeTimeoutMs, 2 * this.rttMs);
    return Math.max(200, Math.min(4 * this.rttMs, cap));
  }

  /** When this peer's timers next need `poll`. */
  deadline(t: PeerTimers): number {
    const idle = this.lastUsed + t.idleMs;
    if (this.state === "punching") {
      return Math.min(this.nextProbeAt, this.punchUntil, this.nextRelayProbeAt, idle);
    }
    if (this.state === "direct") return Math.min(this.nextProbeAt, idle);
    return Math.min(this.nextRelayProbeAt, idle);
  }
}
