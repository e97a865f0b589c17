/**
 * The xconnect edge without the event loop: what a Cisco router does for
 * `xconnect <las-ip> <vc-id> encapsulation l2tpv3`, for a Linux host. It
 * opens one L2TPv3 control connection to the LAS (the initiator side of
 * the state machines in core/l2tp), asks for one Ethernet session (PW type
 * 5) with the VC id as Remote End ID, and carries the frames of a device
 * (a TAP, or an existing interface) over it.
 *
 * ```
 *   idle --connect--> connecting --connection-up + ICRQ--> session-wait --session-up--> up
 *     ^                   |                                     |                         |
 *     '---- retry timer <-'------------- connection-down / session-down ------------------'
 * ```
 *
 * The path of a frame, in one direction each:
 *
 * ```
 *  receive(bytes, from) --> classifyData --frame--> device.write
 *                              '--control--> endpoint.receive --> takeOutgoing/Events
 *  fromDevice(frame) --> data header + frame --> port.queue ... endBatch: flush
 * ```
 *
 * An `Engine` (core/engine.ts): the kit's pumps (cmd/kit/pump.ts) hand it
 * each datagram with its `Arrival` and `now` (`receive`) and each frame the
 * device read (`fromDevice`), then call `endBatch(now)`, which handles the
 * endpoint's events and flushes the socket; `poll(now)` at
 * `nextDeadline()`; `stop(now)` at shutdown; `snapshot(now)` is its typed
 * state for /status and /metrics (rendered in cmd/xconnect_status.ts). It
 * sends only through the `DatagramPort` and `FramePort` it is given (ffi's
 * socket and device fit; tests pass in-memory twins), and logs and contains
 * errors through hooks it is given: no `Deno.*`, no timers, no clock of its
 * own.
 *
 * A lost connection or session is retried after 1 s, doubling to 30 s, and
 * reset once a session has stayed up. Frames read from the device while no
 * session is up are dropped and counted (`tx_no_session`); datagrams from
 * another address than the LAS's (any port: a LAS may answer over UDP from
 * another port) are dropped before parsing and counted (`rx_other`). One datagram or
 * frame whose handling throws is dropped by the pump, counted and contained;
 * the rest of the batch goes on.
 *
 * At shutdown (`stop`) the StopCCN is retransmitted every 300 ms until the
 * LAS acknowledges it, for at most about 2 s (`stopped`); a normal close is
 * logged at info.
 *
 * The VC id goes out as decimal ASCII ("1234"), as freeRtr sends it; the LAS
 * keys its switches so that this and a 4-byte binary id meet.
 *
 * Liveness (docs/las-redundancy.md "A short restart"): an edge that sent
 * data and heard nothing from its LAS for `SILENT_MS` (3 s) sends a HELLO
 * at once (`probes`); when nothing at all comes back within `PROBE_WAIT_MS`
 * (1.5 s: the HELLO and its retransmission after 1 s) more, the connection is given up (`silent_las`) and re-dialled. A
 * LAS that restarted answers the HELLO with a StopCCN for an unknown
 * connection (core/l2tp/stray.ts), taken only from the LAS's address, only
 * when it names our connection by the LAS's id and, with a secret, only
 * when its digest checks; the edge re-dials at once. The other way, a
 * control message from the LAS for a connection the edge does not know (it
 * restarted) gets the same StopCCN, so the LAS drops the stale session. A connection that had
 * a session is re-dialled at once after any loss; the back-off applies from
 * the second try.
 *
 * Backup peer (`backup`, Cisco's `backup peer` with `backup delay`): when
 * the primary has no session (lost, or not up within `BACKUP_START_MS` of
 * the start), the edge dials the backup and moves its frames there once
 * that session is up (`failovers`); it keeps re-dialling the primary (back-off
 * capped at 8 s), and once the primary's session has been up for
 * `backupDelayMs`, frames move back to it and the backup's connection is
 * closed (make before break; `returns`). Frames from either LAS go to the
 * device while both are up.
 *
 * Not done here: sequence numbers on received data are not checked (the
 * edge asks the LAS for no sublayer).
 *
 * @module
 */
import { L2tpEndpoint, SHUTDOWN_RTO_MS } from "../l2tp/endpoint.ts";
import type { L2tpEvent } from "../l2tp/events.ts";
import { writeDataHeader } from "../l2tp/data_header.ts";
import type { Transport } from "../l2tp/control_message.ts";
import type { DigestAlgorithm, HashFn } from "../l2tp/auth.ts";
import type { SessionInfo } from "../l2tp/session.ts";
import { type Endpoint, formatEndpoint, formatIp, type Ip16, ipEquals } from "../addr.ts";
import type { Arrival, DatagramPort, Engine, EngineLog, FramePort } from "../engine.ts";
import type { CaptureHub } from "../capture.ts";

/** How the edge is set up. */
export interface XconnectOptions {
  /** The socket towards the LAS (raw IP 115, or UDP 1701 when `kind` is "udp"). */
  port: DatagramPort;
  kind: Transport;
  /** The LAS address (port 1701 over UDP, 0 over IP). */
  las: Endpoint;
  /**
   * The LAS as the endpoint names peers: "192.0.2.1" (IP) or
   * "192.0.2.1:1701" (UDP). Absent: formatted from `las`.
   */
  lasName?: string;
  /** A backup LAS (Cisco's `backup peer`), same transport; absent: none. */
  backup?: Endpoint;
  /** How long the primary's session must have been up before frames return to it, ms. Default 5000. */
  backupDelayMs?: number;
  vcId: string;
  /** The device whose frames the pseudowire carries (a TAP, or an existing interface). */
  device: FramePort;
  /** Its interface name, for logs and /status. */
  deviceName: string;
  /** Control message authentication: shared secret and hash, or null. */
  auth: { secret: Uint8Array; hash: HashFn; digest: DigestAlgorithm } | null;
  hostName: string;
  routerId: number;
  random32: () => number;
  helloIntervalMs: number;
  log: EngineLog;
  /**
   * Hears what one connection's timers threw (a datagram's or frame's own
   * error is the pump's, cmd/kit/pump.ts): the kit's `Containment.packet`,
   * kit/contain.ts. Absent: the error propagates (tests).
   */
  contain?: (handler: string, err: unknown, peer: string | null) => void;
  /** Live captures (core/capture.ts): device frames, both ways, are offered while `on`. */
  capture?: CaptureHub;
}

/** Where the edge is (towards one LAS). */
export type XconnectState = "idle" | "connecting" | "session-wait" | "up";

/** The edge's counters, in the order /status and /metrics show them. */
export interface XconnectCounters {
  rx_frames: number;
  rx_bytes: number;
  tx_frames: number;
  tx_bytes: number;
  /** Device frames read while no session was up (dropped). */
  tx_no_session: number;
  tx_errors: number;
  /** Frames from the LAS the device did not take. */
  rx_device_errors: number;
  /**
   * Datagrams not from the LAS's address, and ones neither our data nor
   * control (/status and /metrics add the pump's truncated datagrams).
   */
  rx_other: number;
  /**
   * Endpoint timer runs whose handling threw: contained (/status and
   * /metrics add the pumps' datagrams and frames that threw).
   */
  handler_errors: number;
  connects: number;
  sessions_up: number;
  /** HELLOs sent early: data went out and nothing came back for 3 s. */
  probes: number;
  /** Connections given up because the LAS stayed silent after a probe. */
  silent_las: number;
  /** StopCCNs taken from a LAS that did not know our connection (it restarted). */
  stray_stops: number;
  /** Moves of the frames from the primary to the backup. */
  failovers: number;
  /** Moves of the frames back to the primary. */
  returns: number;
}

/** The session in /status, while one is up. */
export interface XconnectSessionStatus {
  local_session: number;
  remote_session: number;
  /** Seconds since it came up. */
  up_s: number;
}

/** The backup LAS in /status (`XconnectSnapshot.backup`). */
export interface XconnectBackupStatus {
  las: string;
  state: XconnectState;
  session: XconnectSessionStatus | null;
  /** Seconds the primary's session must be up before frames return to it. */
  delay_s: number;
}

/**
 * A typed snapshot of the edge (`XconnectEngine.snapshot`), rendered to
 * /status and /metrics in one place, cmd/xconnect_status.ts.
 */
export interface XconnectSnapshot {
  /** The (primary) LAS as peers are named ("192.0.2.1", or "192.0.2.1:1701" over UDP). */
  las: string;
  vc: string;
  device: string;
  /** The primary LAS's state. */
  state: XconnectState;
  /** The primary's session, while one is up. */
  session: XconnectSessionStatus | null;
  /** Where frames go: "primary", or "backup" while on the backup. */
  active: "primary" | "backup";
  /** The backup LAS, when one is configured. */
  backup: XconnectBackupStatus | null;
  counters: XconnectCounters;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** The primary's retry cap while a backup is configured, ms. */
const RETRY_MAX_WITH_BACKUP_MS = 8000;
/** Longest a shutdown waits for the StopCCN's acknowledgement, ms. */
const STOP_WAIT_MS = 2000;
/** Data sent and nothing heard from the LAS for this long: a HELLO at once, ms. */
export const SILENT_MS = 3000;
/** After that HELLO, nothing heard for this long: the LAS is gone, ms. */
export const PROBE_WAIT_MS = 1500;
/** At start, the backup is dialled when the primary has no session after this long, ms. */
export const BACKUP_START_MS = 3000;

/** A datagram's source as logs name it (address; with :port over UDP). */
function sourceText(kind: Transport, src: Ip16, port: number): string {
  return kind === "udp" ? formatEndpoint({ ip: src, port }) : formatIp(src);
}

/** The edge towards one LAS: its connection, session, retry and liveness timers. */
interface Leg {
  role: "primary" | "backup";
  las: Endpoint;
  /** The LAS as the endpoint names it. */
  name: string;
  state: XconnectState;
  ccid: number;
  session: SessionInfo | null;
  tx: { cookie: Uint8Array; sublayer: boolean };
  /** Next data sequence number when the LAS asked for sequencing, else -1. */
  seq: number;
  retryAt: number;
  retryMs: number;
  retryMaxMs: number;
  upSince: number;
  /** Last datagram (data of our session, or control) from this LAS. */
  heardAt: number;
  /** Last data frame sent to this LAS. */
  sentAt: number;
  /** When the last early HELLO went (-Infinity: none since `heardAt`). */
  probedAt: number;
}

function newLeg(role: Leg["role"], las: Endpoint, name: string, retryMaxMs: number): Leg {
  return {
    role,
    las,
    name,
    state: "idle",
    ccid: 0,
    session: null,
    tx: { cookie: new Uint8Array(0), sublayer: false },
    seq: -1,
    retryAt: Infinity,
    retryMs: RETRY_MIN_MS,
    retryMaxMs,
    upSince: 0,
    heardAt: -Infinity,
    sentAt: -Infinity,
    probedAt: -Infinity,
  };
}

/** The edge engine; see the module doc. */
export class XconnectEngine implements Engine<XconnectSnapshot> {
  readonly ep: L2tpEndpoint;
  readonly #o: XconnectOptions;
  readonly #primary: Leg;
  readonly #backup: Leg | null;
  readonly #delayMs: number;
  /** True while frames go to the backup. */
  #onBackup = false;
  /** When the backup is wanted if the primary still has no session. */
  #backupAt = Infinity;
  #stopping = false;
  /** When a shutdown stops waiting for the StopCCN's acknowledgement (ms). */
  #stopDeadline = Infinity;
  readonly #scratch = new Uint8Array(65535 + 64);
  readonly counters: XconnectCounters = {
    rx_frames: 0,
    rx_bytes: 0,
    tx_frames: 0,
    tx_bytes: 0,
    tx_no_session: 0,
    tx_errors: 0,
    rx_device_errors: 0,
    rx_other: 0,
    handler_errors: 0,
    connects: 0,
    sessions_up: 0,
    probes: 0,
    silent_las: 0,
    stray_stops: 0,
    failovers: 0,
    returns: 0,
  };

  constructor(o: XconnectOptions) {
    this.#o = o;
    const name = (e: Endpoint) => o.kind === "udp" ? formatEndpoint(e) : formatIp(e.ip);
    this.#primary = newLeg(
      "primary",
      o.las,
      o.lasName ?? name(o.las),
      o.backup ? RETRY_MAX_WITH_BACKUP_MS : RETRY_MAX_MS,
    );
    this.#backup = o.backup ? newLeg("backup", o.backup, name(o.backup), RETRY_MAX_MS) : null;
    if (this.#backup && ipEquals(this.#backup.las.ip, o.las.ip)) {
      throw new RangeError("the backup LAS must not be the primary LAS");
    }
    this.#delayMs = o.backupDelayMs ?? 5000;
    this.ep = new L2tpEndpoint({
      transport: o.kind,
      hostName: o.hostName,
      routerId: o.routerId,
      random32: o.random32,
      helloIntervalMs: o.helloIntervalMs,
      acceptConnections: false,
      maxConnections: 8,
      // A StopCCN for a connection the LAS does not know (it restarted): re-dial at once.
      honourStray: true,
      // The LAS's HELLO on a connection of ours from before a restart gets a StopCCN, so the
      // LAS drops the stale session now instead of after its retransmissions.
      answerStray: true,
      // One connection whose timers or close throw is contained by the endpoint
      // (core/l2tp/endpoint.ts) and reported here, like a datagram's error.
      ...(o.contain
        ? { contain: (h: string, e: unknown, p: string | null) => this.#contained(h, e, p) }
        : {}),
      ...(o.auth
        ? { secret: o.auth.secret, hash: o.auth.hash, digestAlgorithm: o.auth.digest }
        : {}),
    });
  }

  /** The primary's state (what /status has always shown as `state`). */
  get state(): XconnectState {
    return this.#primary.state;
  }

  /** The leg frames go to. */
  get #active(): Leg {
    return this.#onBackup && this.#backup ? this.#backup : this.#primary;
  }

  /** Opens the control connection (SCCRQ) to the primary. */
  start(now: number): void {
    this.#connect(this.#primary, now);
    if (this.#backup) this.#backupAt = now + BACKUP_START_MS;
    this.#drain(now);
  }

  #connect(leg: Leg, now: number): void {
    leg.retryAt = Infinity;
    const r = this.ep.connect(leg.name, now);
    if (!r.ok) {
      this.#o.log.error(`cannot start a control connection to ${leg.name}: ${r.reason}`);
      this.#scheduleRetry(leg, now);
      return;
    }
    this.counters.connects++;
    leg.ccid = r.localCcid;
    leg.state = "connecting";
    this.#o.log.info(
      `connecting to ${leg.role === "backup" ? "the backup LAS " : ""}${leg.name} for VC ` +
        this.#o.vcId,
      { transport: this.#o.kind },
    );
  }

  #scheduleRetry(leg: Leg, now: number): void {
    if (this.#stopping) return;
    leg.retryAt = now + leg.retryMs;
    this.#o.log.info(`retrying ${leg.name} in ${leg.retryMs / 1000} s`);
    leg.retryMs = Math.min(leg.retryMs * 2, leg.retryMaxMs);
  }

  /** The leg whose LAS has address `src`, or null. */
  #legFrom(src: Ip16): Leg | null {
    if (ipEquals(src, this.#primary.las.ip)) return this.#primary;
    if (this.#backup && ipEquals(src, this.#backup.las.ip)) return this.#backup;
    return null;
  }

  #legNamed(peer: string): Leg | null {
    if (peer === this.#primary.name) return this.#primary;
    if (this.#backup && peer === this.#backup.name) return this.#backup;
    return null;
  }

  /**
   * One datagram from `from.src` (`from.srcPort`: its UDP port, 0 over IP)
   * at `now`: one from another address than the LAS's (or the backup's) is
   * dropped and counted (`rx_other`, logged rate-limited); a frame of our
   * session goes to the device, a control message to the endpoint (its
   * answers are queued and go at `endBatch`). Neither `bytes` nor `from` is
   * kept past the call. Throws what handling it threw: the pump drops that
   * datagram and contains the error.
   */
  receive(bytes: Uint8Array, from: Arrival, now: number): void {
    // Only the LAS talks to us: anything else (a raw socket sees every IP
    // protocol 115 packet to the host) could otherwise put frames on the
    // device by guessing a session id, or reach the control connection.
    const leg = this.#legFrom(from.src);
    if (!leg) {
      this.counters.rx_other++;
      const who = sourceText(this.#o.kind, from.src, from.srcPort);
      this.#o.log.limited("not_las", "warn", `datagram from ${who} dropped: not the LAS`, {
        peer: who,
      });
      return;
    }
    const c = this.ep.classifyData(bytes, leg.name);
    if (c.kind === "frame") {
      leg.heardAt = now;
      this.counters.rx_frames++;
      this.counters.rx_bytes += c.frame.length;
      if (this.#o.capture?.on) this.#o.capture.offer("device", 0, c.frame, now);
      if (this.#o.device.write(c.frame) !== 0) this.counters.rx_device_errors++;
    } else if (c.kind === "control") {
      leg.heardAt = now;
      const before = this.ep.counters.rx_stray_stopccn ?? 0;
      this.ep.receive(leg.name, bytes, now);
      if ((this.ep.counters.rx_stray_stopccn ?? 0) > before) this.counters.stray_stops++;
    } else {
      this.counters.rx_other++;
    }
  }

  /**
   * After a batch of `receive`s or `fromDevice`s: handles the endpoint's
   * events and sends what was queued (one flush).
   */
  endBatch(now: number): void {
    this.#drain(now);
  }

  /**
   * One frame read from the device at `now`: queued on the transport with
   * the session's data header towards the active LAS, or dropped and
   * counted (`tx_no_session`) while it has no session. `frame` is copied;
   * it goes at the next flush (`endBatch`).
   */
  fromDevice(frame: Uint8Array, now: number): void {
    if (this.#o.capture?.on) this.#o.capture.offer("device", 0, frame, now);
    const leg = this.#active;
    const session = leg.session;
    if (leg.state !== "up" || !session) {
      this.counters.tx_no_session++;
      return;
    }
    const buf = this.#scratch;
    // Numbered (S=1, 24 bits) when the LAS asked for sequencing; -1: no number.
    let seq = -1;
    if (leg.seq >= 0) {
      seq = leg.seq;
      leg.seq = (seq + 1) & 0xffffff;
    }
    const h = writeDataHeader(buf, 0, this.#o.kind, session.remoteSessionId, leg.tx, seq);
    buf.set(frame, h);
    if (this.#o.port.queue(buf.subarray(0, h + frame.length), leg.las) !== 0) {
      this.counters.tx_errors++;
      return;
    }
    leg.sentAt = now;
    this.counters.tx_frames++;
    this.counters.tx_bytes += frame.length;
  }

  /** Reports an error contained on one datagram or frame; rethrows without a hook. */
  #contained(handler: string, e: unknown, peer: string | null): void {
    this.counters.handler_errors++;
    if (!this.#o.contain) throw e;
    this.#o.contain(handler, e, peer);
  }

  #sendOutgoing(): void {
    const t = this.#o.port;
    for (const o of this.ep.takeOutgoing()) {
      const leg = this.#legNamed(o.peer);
      if (!leg || t.queue(o.bytes, leg.las) !== 0) this.counters.tx_errors++;
    }
  }

  #drain(now: number): void {
    this.#sendOutgoing();
    for (const ev of this.ep.takeEvents()) this.#event(ev, now);
    this.#steer(now);
    // Events may have queued more (the ICRQ after connection-up, a backup's SCCRQ).
    this.#sendOutgoing();
    for (const ev of this.ep.takeEvents()) this.#event(ev, now);
    this.#sendOutgoing();
    if (this.#o.port.flush() !== 0) this.counters.tx_errors++;
  }

  /** True while the backup should be dialled or kept: the primary has no session. */
  #backupWanted(now: number): boolean {
    return this.#primary.state !== "up" && now >= this.#backupAt;
  }

  /**
   * Where frames go, and whether the backup is dialled (module doc): to the
   * backup once its session is up while the primary has none; back to the
   * primary once its session has been up for the delay, then the backup is
   * closed.
   */
  #steer(now: number): void {
    const b = this.#backup;
    if (!b || this.#stopping) return;
    const p = this.#primary;
    const log = this.#o.log;
    if (this.#onBackup) {
      if (b.state !== "up") {
        this.#onBackup = false;
      } else if (p.state === "up" && now >= p.upSince + this.#delayMs) {
        this.#onBackup = false;
        this.counters.returns++;
        log.info(
          `back on the primary LAS ${p.name} (up for ${Math.round((now - p.upSince) / 1000)} s); ` +
            `closing the backup ${b.name}`,
        );
        this.#closeLeg(b, now, "the primary LAS is back");
      }
    } else if (b.state === "up" && p.state !== "up") {
      this.#onBackup = true;
      this.counters.failovers++;
      log.warn(`the primary LAS ${p.name} has no session: frames go to the backup ${b.name}`);
    }
    if (this.#backupWanted(now)) {
      if (b.state === "idle" && b.retryAt === Infinity) this.#connect(b, now);
    } else if (!this.#onBackup) {
      // Not wanted: closed, and no retry pending (one the backup's own loss scheduled).
      if (b.state !== "idle") this.#closeLeg(b, now, "the primary LAS has the session");
      b.retryAt = Infinity;
    }
  }

  /** Closes a leg's connection without retrying it. */
  #closeLeg(leg: Leg, now: number, why: string): void {
    leg.retryAt = Infinity;
    leg.retryMs = RETRY_MIN_MS;
    const ccid = leg.ccid;
    leg.state = "idle";
    leg.session = null;
    leg.ccid = 0;
    if (ccid) this.ep.closeConnection(ccid, now, why);
  }

  #event(ev: L2tpEvent, now: number): void {
    const log = this.#o.log;
    if (ev.type === "rejected") {
      log.limited(`rejected:${ev.code}`, "warn", ev.reason, { peer: ev.peer });
      return;
    }
    const peer = "peer" in ev ? ev.peer : ev.session.peer;
    const leg = this.#legNamed(peer);
    // Events of a connection the leg already left (closed by us): nothing to do.
    if (!leg) return;
    const ccid = "localCcid" in ev
      ? ev.localCcid
      : ev.type === "session-up"
      ? ev.session.localCcid
      : leg.ccid;
    if (ccid !== leg.ccid) return;
    switch (ev.type) {
      case "connection-up": {
        log.resolved?.(`no_las:${ev.peer}`, `the LAS at ${ev.peer} answers again`);
        log.info(`control connection to ${ev.peer} (${ev.hostName || "no host name"}) is up`, {
          ccid: ev.localCcid,
        });
        const vcId = new TextEncoder().encode(this.#o.vcId);
        const r = this.ep.openSession(leg.ccid, { pwType: 5, vcId }, now);
        if (!r.ok) {
          log.error(`cannot ask for a session on VC ${this.#o.vcId}: ${r.reason}`);
          this.ep.closeConnection(leg.ccid, now, "could not open a session");
          return;
        }
        leg.state = "session-wait";
        break;
      }
      case "connection-down": {
        if (!ev.normal && !this.#stopping && leg.state === "connecting" && log.repeating) {
          // Never came up: a wrong or unreachable LAS. Said at doubling intervals while it lasts.
          log.repeating(
            `no_las:${ev.peer}`,
            "warn",
            `no control connection to the LAS at ${ev.peer}: ${ev.reason}; check the LAS address ` +
              `(LAS-IP, xconnect.las), that l2 las runs there and that ${
                this.#o.kind === "udp" ? "UDP port 1701" : "IP protocol 115"
              } passes between them`,
          );
        } else {
          (ev.normal || this.#stopping ? log.info : log.warn).call(
            log,
            `control connection to ${ev.peer} is down: ${ev.reason}`,
          );
        }
        const wasUp = leg.state === "up";
        leg.session = null;
        leg.state = "idle";
        leg.ccid = 0;
        if (leg.role === "primary" && wasUp && this.#backup) this.#backupAt = now;
        if (leg.role === "backup" && !this.#backupWanted(now) && !this.#onBackup) break;
        if (wasUp && !this.#stopping) {
          // It worked until now (a LAS restart, a lost path): try again at once.
          leg.retryAt = now;
          leg.retryMs = RETRY_MIN_MS;
        } else this.#scheduleRetry(leg, now);
        break;
      }
      case "session-up":
        leg.session = ev.session;
        leg.tx = { cookie: ev.session.txCookie, sublayer: ev.session.txSublayer };
        leg.seq = ev.session.txSublayer && ev.session.txSequencing ? 0 : -1;
        leg.state = "up";
        leg.upSince = now;
        leg.heardAt = now;
        leg.probedAt = -Infinity;
        this.counters.sessions_up++;
        leg.retryMs = RETRY_MIN_MS;
        log.info(
          `session ${ev.session.localSessionId} on VC ${this.#o.vcId} is up` +
            (leg.role === "backup" ? ` on the backup LAS ${leg.name}` : ""),
          { remote_session: ev.session.remoteSessionId, device: this.#o.deviceName },
        );
        break;
      case "session-down":
        (this.#stopping ? log.info : log.warn).call(
          log,
          `session on VC ${this.#o.vcId} is down: ${ev.reason}`,
        );
        leg.session = null;
        if (!this.#stopping && leg.state !== "idle") {
          // The connection-down that follows re-dials (at once: it was up).
          this.ep.closeConnection(leg.ccid, now, "session lost; reconnecting");
        }
        break;
      case "circuit-status":
        log.info(`the LAS says the circuit is ${ev.active ? "up" : "down"}`);
        break;
    }
  }

  /** When the leg's liveness timer is due: an early HELLO, or giving up. */
  #liveDeadline(leg: Leg): number {
    if (leg.state !== "up") return Infinity;
    if (leg.probedAt > leg.heardAt) return leg.probedAt + PROBE_WAIT_MS;
    if (leg.sentAt > leg.heardAt) return leg.heardAt + SILENT_MS;
    return Infinity;
  }

  /** Early HELLO after `SILENT_MS` of silence while sending; gives up `PROBE_WAIT_MS` later. */
  #live(leg: Leg, now: number): void {
    if (now < this.#liveDeadline(leg)) return;
    if (leg.probedAt > leg.heardAt) {
      this.counters.silent_las++;
      this.#o.log.warn(
        `${leg.name} did not answer for ${
          Math.round((now - leg.heardAt) / 100) / 10
        } s although frames went to it (a HELLO too): giving the connection up`,
      );
      leg.probedAt = -Infinity;
      this.ep.closeConnection(leg.ccid, now, "the LAS stopped answering");
      return;
    }
    leg.probedAt = now;
    this.counters.probes++;
    this.ep.probe(leg.ccid, now);
  }

  /** Runs timers due at `now`. */
  poll(now: number): void {
    this.ep.poll(now);
    for (const leg of this.#legs()) {
      this.#live(leg, now);
      if (now >= leg.retryAt) this.#connect(leg, now);
    }
    this.#drain(now);
  }

  #legs(): Leg[] {
    return this.#backup ? [this.#primary, this.#backup] : [this.#primary];
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    let t = this.ep.nextDeadline();
    for (const leg of this.#legs()) t = Math.min(t, leg.retryAt, this.#liveDeadline(leg));
    const b = this.#backup;
    if (b && !this.#stopping) {
      const p = this.#primary;
      if (this.#onBackup && p.state === "up") t = Math.min(t, p.upSince + this.#delayMs);
      if (p.state !== "up" && b.state === "idle" && b.retryAt === Infinity) {
        t = Math.min(t, this.#backupAt);
      }
    }
    return t;
  }

  /**
   * Sends StopCCN (shutdown), retransmitted every `SHUTDOWN_RTO_MS` until
   * acknowledged; keep the loop running until `stopped(now)`.
   */
  stop(now: number): void {
    this.#stopping = true;
    for (const leg of this.#legs()) leg.retryAt = Infinity;
    this.#stopDeadline = now + STOP_WAIT_MS;
    for (const c of this.ep.connections()) {
      if (c.state === "closing") continue;
      this.ep.closeConnection(c.localCcid, now, "the edge is shutting down", 1, SHUTDOWN_RTO_MS);
    }
    this.#drain(now);
  }

  /** After `stop`: true once the StopCCN was acknowledged or about 2 s passed. */
  stopped(now: number): boolean {
    return this.#stopping && (now >= this.#stopDeadline || this.ep.allAcknowledged());
  }

  #sessionStatus(leg: Leg, now: number): XconnectSessionStatus | null {
    const s = leg.session;
    return s
      ? {
        local_session: s.localSessionId,
        remote_session: s.remoteSessionId,
        up_s: Math.round((now - leg.upSince) / 1000),
      }
      : null;
  }

  /** A typed snapshot of the edge at `now`, for /status and /metrics (cmd/xconnect_status.ts). */
  snapshot(now: number): XconnectSnapshot {
    const b = this.#backup;
    return {
      las: this.#primary.name,
      vc: this.#o.vcId,
      device: this.#o.deviceName,
      state: this.#primary.state,
      session: this.#sessionStatus(this.#primary, now),
      active: this.#onBackup ? "backup" : "primary",
      backup: b
        ? {
          las: b.name,
          state: b.state,
          session: this.#sessionStatus(b, now),
          delay_s: this.#delayMs / 1000,
        }
        : null,
      counters: { ...this.counters },
    };
  }
}
