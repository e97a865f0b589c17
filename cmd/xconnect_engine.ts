/**
 * `l2 xconnect` without the event loop: what a Cisco router does for
 * `xconnect <las-ip> <vc-id> encapsulation l2tpv3`, for a Linux host. It
 * opens one L2TPv3 control connection to the LAS (the initiator side of
 * the state machines in core/l2tp), asks for one Ethernet session (PW type
 * 5) with the VC id as Remote End ID, and carries the frames of a
 * `FrameDevice` (a TAP) over it.
 *
 * ```
 *   idle --connect--> connecting --connection-up + ICRQ--> session-wait --session-up--> up
 *     ^                   |                                     |                         |
 *     '---- retry timer <-'------------- connection-down / session-down ------------------'
 * ```
 *
 * A lost connection or session is retried after 1 s, doubling to 30 s, and
 * reset once a session has stayed up. Frames read from the device while no
 * session is up are dropped and counted (`tx_no_session`).
 *
 * At shutdown (`stop`) the StopCCN is retransmitted every 300 ms until the
 * LAS acknowledges it, for at most about 2 s (`stopped`); a normal close is
 * logged at info.
 *
 * The VC id goes out as decimal ASCII ("1234"), as freeRtr sends it; the LAS
 * keys its switches so that this and a 4-byte binary id meet.
 *
 * @module
 */
import { L2tpEndpoint, SHUTDOWN_RTO_MS } from "../core/l2tp/endpoint.ts";
import type { L2tpEvent } from "../core/l2tp/events.ts";
import { writeDataHeader } from "../core/l2tp/data_header.ts";
import type { Transport } from "../core/l2tp/control_message.ts";
import type { DigestAlgorithm, HashFn } from "../core/l2tp/auth.ts";
import type { SessionInfo } from "../core/l2tp/session.ts";
import type { DatagramTransport, Endpoint, FrameDevice } from "../ffi/types.ts";
import type { TopicLogger } from "./kit/log.ts";
import type { MetricsWriter } from "./kit/metrics.ts";
import type { PacketErrorSink } from "./kit/contain.ts";
import { formatIp } from "../core/addr.ts";

/** How the edge is set up. */
export interface XconnectOptions {
  transport: DatagramTransport;
  kind: Transport;
  /** The LAS address (port 1701 over UDP, 0 over IP). */
  las: Endpoint;
  /** The LAS as the endpoint names peers: "192.0.2.1" (IP) or "192.0.2.1:1701" (UDP). */
  lasName: string;
  vcId: string;
  device: FrameDevice;
  /** Control message authentication: shared secret and hash, or null. */
  auth: { secret: Uint8Array; hash: HashFn; digest: DigestAlgorithm } | null;
  hostName: string;
  routerId: number;
  random32: () => number;
  helloIntervalMs: number;
  log: TopicLogger;
  /**
   * Hears what handling one datagram or frame threw: it is dropped, the
   * rest of the batch goes on (kit/contain.ts). Absent: the error propagates.
   */
  contain?: PacketErrorSink;
}

/** Where the edge is. */
export type XconnectState = "idle" | "connecting" | "session-wait" | "up";

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

/** The edge engine; see the module doc. */
export class XconnectEngine {
  readonly ep: L2tpEndpoint;
  readonly #o: XconnectOptions;
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
  readonly counters = {
    rx_frames: 0,
    rx_bytes: 0,
    tx_frames: 0,
    tx_bytes: 0,
    tx_no_session: 0,
    tx_errors: 0,
    rx_device_errors: 0,
    rx_other: 0,
    /** Datagrams and frames whose handling threw: dropped, contained. */
    handler_errors: 0,
    connects: 0,
    sessions_up: 0,
  };

  constructor(o: XconnectOptions) {
    this.#o = o;
    this.ep = new L2tpEndpoint({
      transport: o.kind,
      hostName: o.hostName,
      routerId: o.routerId,
      random32: o.random32,
      helloIntervalMs: o.helloIntervalMs,
      acceptConnections: false,
      maxConnections: 4,
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
    const r = this.ep.connect(this.#o.lasName, now);
    if (!r.ok) {
      this.#o.log.error(`cannot start a control connection to ${this.#o.lasName}: ${r.reason}`);
      this.#scheduleRetry(now);
      return;
    }
    this.counters.connects++;
    this.#ccid = r.localCcid;
    this.state = "connecting";
    this.#o.log.info(`connecting to ${this.#o.lasName} for VC ${this.#o.vcId}`, {
      transport: this.#o.kind,
    });
  }

  #scheduleRetry(now: number): void {
    if (this.#stopping) return;
    this.#retryAt = now + this.#retryMs;
    this.#o.log.info(`retrying in ${this.#retryMs / 1000} s`);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }

  /** Handles one batch from the transport; returns how many datagrams (0: drained). */
  onTransportReadable(now: number): number {
    const t = this.#o.transport;
    const n = t.recv();
    if (n === 0) return 0;
    const rx = t.rx;
    for (let i = 0; i < n; i++) {
      if (rx.truncated[i]) {
        this.counters.rx_other++;
        continue;
      }
      // One datagram's failure drops that datagram only (kit/contain.ts).
      try {
        const bytes = rx.bufs[i].subarray(rx.offsets[i], rx.lens[i]);
        const c = this.ep.classifyData(bytes, this.#o.lasName);
        if (c.kind === "frame") {
          this.counters.rx_frames++;
          this.counters.rx_bytes += c.frame.length;
          if (this.#o.device.write(c.frame) !== 0) this.counters.rx_device_errors++;
        } else if (c.kind === "control") {
          this.ep.receive(this.#o.lasName, bytes, now);
        } else {
          this.counters.rx_other++;
        }
      } catch (e) {
        const port = this.#o.kind === "udp" ? `:${rx.srcPort[i]}` : "";
        this.#contained(this.#o.kind, e, formatIp(rx.src[i]) + port);
      }
    }
    this.#drain(now);
    return n;
  }

  /** Sends one batch of device frames into the session; returns how many frames (0: drained). */
  onDeviceReadable(_now: number): number {
    const d = this.#o.device;
    const t = this.#o.transport;
    const n = d.read();
    if (n === 0) return 0;
    for (let i = 0; i < n; i++) {
      if (this.state !== "up" || !this.#session) {
        this.counters.tx_no_session++;
        continue;
      }
      try {
        this.#sendFrame(d.rx.bufs[i].subarray(0, d.rx.lens[i]), this.#session);
      } catch (e) {
        this.#contained("tap", e, null);
      }
    }
    if (t.flush() !== 0) this.counters.tx_errors++;
    return n;
  }

  /** Reports an error contained on one datagram or frame; rethrows without a sink. */
  #contained(handler: string, e: unknown, peer: string | null): void {
    this.counters.handler_errors++;
    if (!this.#o.contain) throw e;
    this.#o.contain(handler, e, peer);
  }

  /** One device frame into the session. */
  #sendFrame(frame: Uint8Array, session: SessionInfo): void {
    const t = this.#o.transport;
    const buf = this.#scratch;
    // Numbered (S=1, 24 bits) when the LAS asked for sequencing; -1: no number.
    let seq = -1;
    if (this.#seq >= 0) {
      seq = this.#seq;
      this.#seq = (seq + 1) & 0xffffff;
    }
    const h = writeDataHeader(buf, 0, this.#o.kind, session.remoteSessionId, this.#tx, seq);
    buf.set(frame, h);
    if (t.queue(buf.subarray(0, h + frame.length), this.#o.las) !== 0) {
      this.counters.tx_errors++;
      return;
    }
    this.counters.tx_frames++;
    this.counters.tx_bytes += frame.length;
  }

  #drain(now: number): void {
    const t = this.#o.transport;
    for (const o of this.ep.takeOutgoing()) {
      if (t.queue(o.bytes, this.#o.las) !== 0) this.counters.tx_errors++;
    }
    for (const ev of this.ep.takeEvents()) this.#event(ev, now);
    // Events may have queued more (the ICRQ after connection-up).
    for (const o of this.ep.takeOutgoing()) {
      if (t.queue(o.bytes, this.#o.las) !== 0) this.counters.tx_errors++;
    }
    t.flush();
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
          device: this.#o.device.name,
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
    this.#stopDeadline = now + 2000;
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

  /** For /status. */
  status(now: number): Record<string, unknown> {
    const s = this.#session;
    return {
      las: this.#o.lasName,
      vc: this.#o.vcId,
      device: this.#o.device.name,
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

  /** For /metrics. */
  metrics(w: MetricsWriter): void {
    w.gauge("l2_xconnect_up", "1 when the session is up", this.state === "up" ? 1 : 0);
    for (const [name, v] of Object.entries(this.counters)) {
      w.counter(`l2_xconnect_${name}_total`, `xconnect: ${name.replaceAll("_", " ")}`, v);
    }
  }
}
