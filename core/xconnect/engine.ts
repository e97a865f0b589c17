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
}

/** Where the edge is. */
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
}

/** The session in /status, while one is up. */
export interface XconnectSessionStatus {
  local_session: number;
  remote_session: number;
  /** Seconds since it came up. */
  up_s: number;
}

/**
 * A typed snapshot of the edge (`XconnectEngine.snapshot`), rendered to
 * /status and /metrics in one place, cmd/xconnect_status.ts.
 */
export interface XconnectSnapshot {
  /** The LAS as peers are named ("192.0.2.1", or "192.0.2.1:1701" over UDP). */
  las: string;
  vc: string;
  device: string;
  state: XconnectState;
  session: XconnectSessionStatus | null;
  counters: XconnectCounters;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** Longest a shutdown waits for the StopCCN's acknowledgement, ms. */
const STOP_WAIT_MS = 2000;

/** A datagram's source as logs name it (address; with :port over UDP). */
function sourceText(kind: Transport, src: Ip16, port: number): string {
  return kind === "udp" ? formatEndpoint({ ip: src, port }) : formatIp(src);
}

/** The edge engine; see the module doc. */
export class XconnectEngine implements Engine<XconnectSnapshot> {
  readonly ep: L2tpEndpoint;
  readonly #o: XconnectOptions;
  /** The LAS as the endpoint names it. */
  readonly #lasName: string;
  state: XconnectState = "idle";
  #ccid = 0;
  #session: SessionInfo | null = null;
  #tx: { cookie: Uint8Array; sublayer: boolean } = { cookie: new Uint8Array(0), sublayer: false };
  /** Next data sequence number when the LAS asked for sequencing, else -1. */
  #seq = -1;
  #retryAt = Infinity;
  #retryMs = RETRY_MIN_MS;
  #upSince = 0;
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
  };

  constructor(o: XconnectOptions) {
    this.#o = o;
    this.#lasName = o.lasName ??
      (o.kind === "udp" ? formatEndpoint(o.las) : formatIp(o.las.ip));
    this.ep = new L2tpEndpoint({
      transport: o.kind,
      hostName: o.hostName,
      routerId: o.routerId,
      random32: o.random32,
      helloIntervalMs: o.helloIntervalMs,
      acceptConnections: false,
      maxConnections: 4,
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

  /** Opens the control connection (SCCRQ). */
  start(now: number): void {
    this.#connect(now);
    this.#drain(now);
  }

  #connect(now: number): void {
    this.#retryAt = Infinity;
    const las = this.#lasName;
    const r = this.ep.connect(las, now);
    if (!r.ok) {
      this.#o.log.error(`cannot start a control connection to ${las}: ${r.reason}`);
      this.#scheduleRetry(now);
      return;
    }
    this.counters.connects++;
    this.#ccid = r.localCcid;
    this.state = "connecting";
    this.#o.log.info(`connecting to ${las} for VC ${this.#o.vcId}`, {
      transport: this.#o.kind,
    });
  }

  #scheduleRetry(now: number): void {
    if (this.#stopping) return;
    this.#retryAt = now + this.#retryMs;
    this.#o.log.info(`retrying in ${this.#retryMs / 1000} s`);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }

  /**
   * One datagram from `from.src` (`from.srcPort`: its UDP port, 0 over IP)
   * at `now`: one from another address than the LAS's is dropped and
   * counted (`rx_other`, logged rate-limited); a frame of our session goes
   * to the device, a control message to the endpoint (its answers are
   * queued and go at `endBatch`). Neither `bytes` nor `from` is kept past
   * the call. Throws what handling it threw: the pump drops that datagram
   * and contains the error.
   */
  receive(bytes: Uint8Array, from: Arrival, now: number): void {
    const src = from.src;
    // Only the LAS talks to us: anything else (a raw socket sees every IP
    // protocol 115 packet to the host) could otherwise put frames on the
    // device by guessing a session id, or reach the control connection.
    if (!ipEquals(src, this.#o.las.ip)) {
      this.counters.rx_other++;
      const who = sourceText(this.#o.kind, src, from.srcPort);
      this.#o.log.limited("not_las", "warn", `datagram from ${who} dropped: not the LAS`, {
        peer: who,
      });
      return;
    }
    const c = this.ep.classifyData(bytes, this.#lasName);
    if (c.kind === "frame") {
      this.counters.rx_frames++;
      this.counters.rx_bytes += c.frame.length;
      if (this.#o.device.write(c.frame) !== 0) this.counters.rx_device_errors++;
    } else if (c.kind === "control") {
      this.ep.receive(this.#lasName, bytes, now);
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
   * the session's data header, or dropped and counted (`tx_no_session`)
   * while no session is up. `frame` is copied; it goes at the next flush
   * (`endBatch`).
   */
  fromDevice(frame: Uint8Array, _now: number): void {
    const session = this.#session;
    if (this.state !== "up" || !session) {
      this.counters.tx_no_session++;
      return;
    }
    const buf = this.#scratch;
    // Numbered (S=1, 24 bits) when the LAS asked for sequencing; -1: no number.
    let seq = -1;
    if (this.#seq >= 0) {
      seq = this.#seq;
      this.#seq = (seq + 1) & 0xffffff;
    }
    const h = writeDataHeader(buf, 0, this.#o.kind, session.remoteSessionId, this.#tx, seq);
    buf.set(frame, h);
    if (this.#o.port.queue(buf.subarray(0, h + frame.length), this.#o.las) !== 0) {
      this.counters.tx_errors++;
      return;
    }
    this.counters.tx_frames++;
    this.counters.tx_bytes += frame.length;
  }

  /** Reports an error contained on one datagram or frame; rethrows without a hook. */
  #contained(handler: string, e: unknown, peer: string | null): void {
    this.counters.handler_errors++;
    if (!this.#o.contain) throw e;
    this.#o.contain(handler, e, peer);
  }

  #drain(now: number): void {
    const t = this.#o.port;
    for (const o of this.ep.takeOutgoing()) {
      if (t.queue(o.bytes, this.#o.las) !== 0) this.counters.tx_errors++;
    }
    for (const ev of this.ep.takeEvents()) this.#event(ev, now);
    // Events may have queued more (the ICRQ after connection-up).
    for (const o of this.ep.takeOutgoing()) {
      if (t.queue(o.bytes, this.#o.las) !== 0) this.counters.tx_errors++;
    }
    if (t.flush() !== 0) this.counters.tx_errors++;
  }

  #event(ev: L2tpEvent, now: number): void {
    const log = this.#o.log;
    switch (ev.type) {
      case "connection-up": {
        log.info(`control connection to ${ev.peer} (${ev.hostName || "no host name"}) is up`, {
          ccid: ev.localCcid,
        });
        const vcId = new TextEncoder().encode(this.#o.vcId);
        const r = this.ep.openSession(this.#ccid, { pwType: 5, vcId }, now);
        if (!r.ok) {
          log.error(`cannot ask for a session on VC ${this.#o.vcId}: ${r.reason}`);
          this.ep.closeConnection(this.#ccid, now, "could not open a session");
          return;
        }
        this.state = "session-wait";
        break;
      }
      case "connection-down":
        (ev.normal || this.#stopping ? log.info : log.warn).call(
          log,
          `control connection to ${ev.peer} is down: ${ev.reason}`,
        );
        this.#session = null;
        this.state = "idle";
        this.#scheduleRetry(now);
        break;
      case "session-up":
        this.#session = ev.session;
        this.#tx = { cookie: ev.session.txCookie, sublayer: ev.session.txSublayer };
        this.#seq = ev.session.txSublayer && ev.session.txSequencing ? 0 : -1;
        this.state = "up";
        this.#upSince = now;
        this.counters.sessions_up++;
        this.#retryMs = RETRY_MIN_MS;
        log.info(`session ${ev.session.localSessionId} on VC ${this.#o.vcId} is up`, {
          remote_session: ev.session.remoteSessionId,
          device: this.#o.deviceName,
        });
        break;
      case "session-down":
        (this.#stopping ? log.info : log.warn).call(
          log,
          `session on VC ${this.#o.vcId} is down: ${ev.reason}`,
        );
        this.#session = null;
        if (!this.#stopping) {
          this.state = "idle";
          this.ep.closeConnection(this.#ccid, now, "session lost; reconnecting");
        }
        break;
      case "circuit-status":
        log.info(`the LAS says the circuit is ${ev.active ? "up" : "down"}`);
        break;
      case "rejected":
        log.limited(`rejected:${ev.code}`, "warn", ev.reason, { peer: ev.peer });
        break;
    }
  }

  /** Runs timers due at `now`. */
  poll(now: number): void {
    this.ep.poll(now);
    if (now >= this.#retryAt) this.#connect(now);
    this.#drain(now);
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    return Math.min(this.ep.nextDeadline(), this.#retryAt);
  }

  /**
   * Sends StopCCN (shutdown), retransmitted every `SHUTDOWN_RTO_MS` until
   * acknowledged; keep the loop running until `stopped(now)`.
   */
  stop(now: number): void {
    this.#stopping = true;
    this.#retryAt = Infinity;
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

  /** A typed snapshot of the edge at `now`, for /status and /metrics (cmd/xconnect_status.ts). */
  snapshot(now: number): XconnectSnapshot {
    const s = this.#session;
    return {
      las: this.#lasName,
      vc: this.#o.vcId,
      device: this.#o.deviceName,
      state: this.state,
      session: s
        ? {
          local_session: s.localSessionId,
          remote_session: s.remoteSessionId,
          up_s: Math.round((now - this.#upSince) / 1000),
        }
        : null,
      counters: { ...this.counters },
    };
  }
}
