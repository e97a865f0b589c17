/**
 * The LAS data and control plane, without the event loop: L2TPv3 endpoints
 * (IP protocol 115, and UDP 1701 when enabled) whose sessions are ports of
 * one learning switch per VC id.
 *
 * ```
 *  transport.recv() --> classifyData --frame--> switchboard.forward --> egress ports
 *                          |                                            |
 *                          '--control--> endpoint.receive               v
 *                                            |                 header + frame --> transport.queue
 *                                 takeOutgoing / takeEvents
 * ```
 *
 * The engine is driven by `onSocketReadable(t, now)` for each readable transport
 * (which hands each datagram, with its source and `now`, to `receive`, then
 * calls `endBatch`), `poll(now)` at `nextDeadline()`, and `stop(now)` at
 * shutdown (StopCCN to every peer, retransmitted until acknowledged: run
 * the loop until `stopped(now)`); `snapshot(now)` is its typed state for
 * /status and /metrics (rendered in cmd/las_status.ts). It talks to the OS
 * only through `LasTransport`, so tests drive it with in-memory twins.
 *
 * Replies leave from the local address the peer used (IP_PKTINFO), so a LAS
 * with several addresses answers each peer from the one it called.
 *
 * Peers: control messages from outside the `allow` list (when one is set)
 * are dropped before parsing; handshakes are limited per source (an IPv4
 * address or an IPv6 /64, `sourceOf`); Remote End IDs longer than 64 bytes
 * are refused. Rejections are logged rate-limited per code, data drops per
 * reason (never per peer: forged sources cannot multiply the lines). A
 * VLAN-tagged frame dropped by a VC's filter is logged once per session; a
 * type 4 and a type 5 session on one VC once per VC.
 *
 * Which VC a session joins, whether it is admitted, and which ports a frame
 * goes out of are the switchboard's (core/las/switchboard.ts): it refuses
 * an ICRQ with a CDN that says why when the VC would pass `maxSwitches` or
 * its switch has no free port (1024 sessions per VC by default).
 *
 * Bounded: connections and sessions by the endpoint's limits; switches and
 * ports by the switchboard; the peer address book by `maxPeers` (oldest
 * forgotten).
 *
 * Data we send carries the default L2-Specific Sublayer when the peer asked
 * for it, numbered (S=1, 24-bit sequence per session) when it asked for
 * sequencing. We ask peers for no sublayer, so received data has no sequence
 * numbers to check.
 *
 * @module
 */
import { L2tpEndpoint, SHUTDOWN_RTO_MS } from "../l2tp/endpoint.ts";
import type { L2tpEvent } from "../l2tp/events.ts";
import type { SessionInfo } from "../l2tp/session.ts";
import { dataHeaderLength, writeDataHeader } from "../l2tp/data_header.ts";
import type { Transport } from "../l2tp/control_message.ts";
import type { DigestAlgorithm, HashFn } from "../l2tp/auth.ts";
import { IdAllocator } from "../l2tp/id_allocator.ts";
import type { SwitchOptions } from "../switch.ts";
import {
  type MacStatus,
  MAX_REMOTE_END_ID,
  type SessionPort,
  Switchboard,
  type SwitchboardEvent,
  type SwitchStatus,
  vcKey,
} from "./switchboard.ts";
import { formatMac } from "../mac.ts";
import {
  formatIp,
  ipEquals,
  isV4,
  parseIp,
  parsePrefix,
  prefixContains as prefixHolds,
  v4Number,
} from "../addr.ts";
import type { Endpoint, Ip16 } from "../addr.ts";

/**
 * Received datagrams, as a batch: the part of a socket's receive ring the
 * engine reads (ffi/types.ts `DatagramBatch` fits). Payload i is
 * `bufs[i].subarray(offsets[i], lens[i])`; the buffers are the
 * transport's and are reused by its next `recv()`.
 */
export interface LasRx {
  readonly bufs: readonly Uint8Array[];
  readonly offsets: Int32Array;
  readonly lens: Int32Array;
  readonly src: readonly Ip16[];
  /** 0 over raw IP. */
  readonly srcPort: Uint16Array;
  /** The local address each datagram was sent to. */
  readonly dst: readonly Ip16[];
  /** 1: cut to its slot (dropped, counted). */
  readonly truncated: Uint8Array;
}

/**
 * A UDP or raw IP socket as the engine uses it (ffi/types.ts
 * `DatagramTransport` fits; tests pass in-memory twins): a batch in,
 * datagrams queued out from a chosen local address, one flush per batch.
 */
export interface LasTransport {
  readonly rx: LasRx;
  /** Receives a batch without blocking; how many (0: none). */
  recv(): number;
  /** Copies a datagram into the send batch; 0 or a transient errno. */
  queue(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number;
  /** Sends the queued datagrams; 0 or the first transient errno. */
  flush(): number;
}

/** How the LAS is set up. */
export interface LasEngineOptions {
  /** Raw IP protocol 115 socket; absent: no L2TPv3 over IP. */
  ip?: LasTransport;
  /** UDP port 1701 socket; absent: no L2TPv3 over UDP. */
  udp?: LasTransport;
  hostName: string;
  /** Our Router ID AVP (an IPv4 address as uint32). */
  routerId: number;
  random32: () => number;
  helloIntervalMs: number;
  /** Retransmissions before a silent peer is dead. */
  retransmits: number;
  /** The switch policy of a VC (by its printed id, e.g. "1234" or "0x0a0b"): a name and options. */
  switchPolicy: (vc: string) => { name: string; options: SwitchOptions };
  /** Most virtual switches (VC ids). */
  maxSwitches: number;
  /** Cookie length we ask peers to use (0, 4, 8). */
  cookieLength: 0 | 4 | 8;
  /** Only accept packets sent to these local IPv4 addresses (as numbers); null: any. */
  acceptDst: ReadonlySet<number> | null;
  /**
   * Peers whose control messages are taken (IPv4 or IPv6 prefixes); null or
   * empty: any peer. Anything else is dropped and counted before parsing.
   */
  allow?: readonly PeerPrefix[] | null;
  /** Handshakes in progress from one source (IPv4 address, IPv6 /64). Default 4. */
  maxPendingPerPeer?: number;
  /** Control connections from one source (IPv4 address, IPv6 /64). Default 8. */
  maxConnectionsPerPeer?: number;
  /** Control message authentication: shared secret and hash (node:crypto), or null. */
  auth: { secret: Uint8Array; hash: HashFn; digest: DigestAlgorithm } | null;
  /**
   * The kernel's source address towards a peer (ffi/route.ts). When it is
   * the address the peer called, a session's data goes without IP_PKTINFO
   * (about 1.5 µs less per frame). Absent: always pin the source.
   */
  sourceFor?: (dest: Ip16) => Ip16 | null;
  log: LasLog;
  /**
   * Hears what handling one datagram (or one event) threw: that datagram
   * is dropped, the rest of the batch goes on (the kit's
   * `Containment.packet`, kit/contain.ts). `peer`: the source where known.
   * Absent: the error propagates (tests).
   */
  contain?: (handler: string, err: unknown, peer: string | null) => void;
}

/** Fields of a log line. */
export type LasLogFields = Record<string, string | number | boolean | null | undefined>;

/**
 * Where the engine says what happened: the kit's `TopicLogger` (kit/log.ts)
 * fits. `limited` says a line at most so often per key (the logger keeps
 * the budget).
 */
export interface LasLog {
  info(msg: string, f?: LasLogFields): void;
  warn(msg: string, f?: LasLogFields): void;
  limited(key: string, level: "warn" | "info", msg: string, f?: LasLogFields): boolean | void;
}

/** A control connection in /status. */
export interface LasConnectionStatus {
  peer: string;
  transport: Transport;
  host_name: string;
  state: string;
  dialect: "ietf" | "cisco";
  local_ccid: number;
  remote_ccid: number;
  /** Its sessions (all states). */
  sessions: number;
}

/** A session on a switch port in /status. */
export interface LasSessionStatus {
  session: number;
  peer: string;
  vc: string;
  pw_type: number;
  remote_session: number;
  /** The local address the peer called, null if not known. */
  local: string | null;
  /** The sublayer on data we send. */
  tx_sublayer: "none" | "unsequenced" | "sequenced";
  up_s: number;
  rx_frames: number;
  rx_bytes: number;
  tx_frames: number;
  tx_bytes: number;
  tx_errors: number;
}

/** What /status shows of the LAS. */
export interface LasStatus {
  connections: LasConnectionStatus[];
  sessions: LasSessionStatus[];
  /** Sessions admitted and not yet up. */
  sessions_setting_up: number;
  switches: SwitchStatus[];
  mac_table: MacStatus[];
  /** Recent ups and downs, newest last (at most 64). */
  recent: LasRecent[];
  /** Engine and switchboard counters. */
  counters: Record<string, number>;
}

/** A control connection or session that went up or down, for /status. */
export interface LasRecent {
  /** When, on the engine's clock (monotonic ms, the `now` it was given). */
  at: number;
  event: "connection-up" | "connection-down" | "session-up" | "session-down";
  peer: string;
  vc?: string;
  session?: number;
  /** Why it went down; for a connection up, the peer's host name. */
  reason?: string;
}

/** A typed snapshot of the LAS: /status and, for /metrics, the L2TP endpoints' counters. */
export interface LasSnapshot {
  /** The engine's clock when it was taken (`recent[].at` is on it). */
  now: number;
  status: LasStatus;
  l2tp: { transport: Transport; counters: Record<string, number> }[];
}

/** An `allow:` entry: an address (16 bytes, IPv4 mapped) and a prefix length over it. */
export interface PeerPrefix {
  ip: Ip16;
  /** Prefix length over the 16-byte form (an IPv4 /24 is 96 + 24 = 120). */
  bits: number;
  /** As written, for logs. */
  text: string;
}

/**
 * Parses "192.0.2.0/24" or "2001:db8::/32" (or a bare address) into a
 * `PeerPrefix`, with `core/addr.ts` `parsePrefix`.
 */
export function peerPrefix(text: string): PeerPrefix | string {
  const r = parsePrefix(text, true);
  return r.ok ? { ...r.value, text } : r.reason;
}

/** True when `ip` is inside `p` (`core/addr.ts`). */
export function prefixContains(p: PeerPrefix, ip: Ip16): boolean {
  return prefixHolds(p, ip);
}

export { MAX_REMOTE_END_ID, vcKey };

/** How data reaches the peer of a session on a switch port (the switchboard's link). */
interface Link {
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
}

/** A session attached to a switch port. */
type Attached = SessionPort<Link>;

/** Where to reach a peer and which local address it called. */
interface PeerAddr {
  to: Endpoint;
  from: Ip16 | null;
}

const MAX_FRAME = 65535;
/** Longest a shutdown waits for StopCCN acknowledgements, ms. */
export const STOP_WAIT_MS = 2000;

/**
 * The source a peer counts against for the per-source handshake limit: the
 * IPv4 address, or the IPv6 /64 (one host usually holds a whole /64).
 */
export function sourceOf(peer: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(peer) ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(peer);
  const addr = m ? m[1] : peer;
  const r = parseIp(addr);
  if (!r.ok || isV4(r.value)) return addr;
  return `${hex(r.value.subarray(0, 8))}/64`;
}
/** Recent up/down events kept for /status. */
const RECENT_MAX = 64;

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** A datagram's source as the LAS names peers (address; with :port over UDP), for logs. */
function formatEndpointOf(kind: Transport, src: Ip16, port: number): string {
  const a = formatIp(src);
  return kind === "udp" ? (a.includes(":") ? `[${a}]:${port}` : `${a}:${port}`) : a;
}

/** The LAS engine; see the module doc. */
export class LasEngine {
  readonly ipEp: L2tpEndpoint | null;
  readonly udpEp: L2tpEndpoint | null;
  readonly #o: LasEngineOptions;
  /**
   * The virtual switches and admission (core/las/switchboard.ts). Its
   * reservations for sessions being set up leave at session-up or
   * session-down, and `poll` prunes any whose session is gone.
   */
  readonly #board: Switchboard<Link>;
  /** Peer name ("192.0.2.1" or "192.0.2.1:1701") to address; bounded by maxPeers. */
  readonly #peers = new Map<string, PeerAddr>();
  readonly maxPeers: number;
  /** IPv4 number to its text, so the data path does not format per packet. Bounded. */
  readonly #names = new Map<number, string>();
  readonly #scratch = new Uint8Array(MAX_FRAME + 64);
  /** Engine counters (the switchboard, endpoints and switches have their own). */
  readonly #c = {
    rx_truncated: 0,
    rx_unusable: 0,
    rx_not_listening: 0,
    tx_errors: 0,
    /** Datagrams, events and endpoint timer runs whose handling threw: contained (kit/contain.ts). */
    rx_handler_errors: 0,
    rx_not_allowed: 0,
  };
  #stopping = false;
  /** When a shutdown stops waiting for StopCCN acknowledgements (ms). */
  #stopDeadline = Infinity;
  /** Recent session and connection ups and downs, newest last; bounded by RECENT_MAX. */
  readonly #recent: LasRecent[] = [];

  constructor(o: LasEngineOptions) {
    this.#o = o;
    this.#board = new Switchboard({ maxSwitches: o.maxSwitches, switchPolicy: o.switchPolicy });
    const sessionIds = new IdAllocator(o.random32, 65_536);
    const common = {
      hostName: o.hostName,
      routerId: o.routerId,
      random32: o.random32,
      helloIntervalMs: o.helloIntervalMs,
      cookieLength: o.cookieLength,
      reliable: { maxRetransmits: o.retransmits },
      sessionIds,
      ...(o.auth
        ? { secret: o.auth.secret, hash: o.auth.hash, digestAlgorithm: o.auth.digest }
        : {}),
      sessionPolicy: (req: { vcId: Uint8Array; localSessionId: number }) =>
        this.#board.admit(req.localSessionId, req.vcId),
      maxPendingPerSource: o.maxPendingPerPeer ?? 4,
      maxConnectionsPerSource: o.maxConnectionsPerPeer ?? 8,
      sourceOf: sourceOf,
      // One connection whose timers or close throw is contained by the endpoint
      // (core/l2tp/endpoint.ts) and reported here, like a datagram's error.
      ...(o.contain
        ? { contain: (h: string, e: unknown, p: string | null) => this.#contained(h, e, p) }
        : {}),
    };
    this.ipEp = o.ip ? new L2tpEndpoint({ transport: "ip", ...common }) : null;
    this.udpEp = o.udp ? new L2tpEndpoint({ transport: "udp", ...common }) : null;
    this.maxPeers = 2 * 256 + 64;
  }

  /** Engine counters, then the switchboard's, in the order /status and /metrics show them. */
  get counters(): Record<string, number> {
    const b = this.#board.counters;
    const c = this.#c;
    return {
      rx_truncated: c.rx_truncated,
      rx_unusable: c.rx_unusable,
      rx_not_listening: c.rx_not_listening,
      tx_errors: c.tx_errors,
      rx_handler_errors: c.rx_handler_errors,
      switches_created: b.switches_created,
      switches_removed: b.switches_removed,
      sessions_refused_switch_limit: b.sessions_refused_switch_limit,
      sessions_refused_port_limit: b.sessions_refused_port_limit,
      sessions_refused_remote_end_id: b.sessions_refused_remote_end_id,
      rx_not_allowed: c.rx_not_allowed,
      vlan_frames_dropped: b.vlan_frames_dropped,
    };
  }

  #peerName(t: Transport, src: Ip16, port: number): string {
    if (isV4(src)) {
      const n = v4Number(src);
      let s = this.#names.get(n);
      if (s === undefined) {
        if (this.#names.size >= 4096) this.#names.clear();
        s = formatIp(src);
        this.#names.set(n, s);
      }
      return t === "udp" ? `${s}:${port}` : s;
    }
    const s = formatIp(src);
    return t === "udp" ? `[${s}]:${port}` : s;
  }

  #remember(name: string, src: Ip16, port: number, dst: Ip16): void {
    const known = this.#peers.get(name);
    if (known) {
      known.from = dst.slice();
      this.#peers.delete(name);
      this.#peers.set(name, known);
      return;
    }
    if (this.#peers.size >= this.maxPeers) {
      const oldest = this.#peers.keys().next().value;
      if (oldest !== undefined) this.#peers.delete(oldest);
    }
    this.#peers.set(name, { to: { ip: src.slice(), port }, from: dst.slice() });
  }

  /**
   * Receives and handles one batch from a readable transport; returns how
   * many datagrams it took (0: drained), as the event loop expects. Each
   * datagram goes to `receive` on its own: one that throws is dropped and
   * contained (kit/contain.ts), the rest of the batch goes on; then
   * `endBatch`.
   */
  onSocketReadable(t: LasTransport, now: number): number {
    const kind: Transport = t === this.#o.udp ? "udp" : "ip";
    const n = t.recv();
    if (n === 0) return 0;
    const rx = t.rx;
    for (let i = 0; i < n; i++) {
      if (rx.truncated[i]) {
        this.#c.rx_truncated++;
        continue;
      }
      try {
        const bytes = rx.bufs[i].subarray(rx.offsets[i], rx.lens[i]);
        this.receive(kind, bytes, rx.src[i], rx.srcPort[i], rx.dst[i], now);
      } catch (e) {
        this.#contained(kind, e, formatEndpointOf(kind, rx.src[i], rx.srcPort[i]));
      }
    }
    this.endBatch(now);
    return n;
  }

  /**
   * Handles one datagram that arrived over `kind` from `src` (`srcPort`:
   * its UDP port, 0 over IP) to our address `dst`, at `now`. `bytes` is
   * not kept past the call. What it answers or forwards is queued on the
   * transports and goes at `endBatch`. Throws what handling it threw: the
   * caller drops that datagram and contains the error.
   */
  receive(
    kind: Transport,
    bytes: Uint8Array,
    src: Ip16,
    srcPort: number,
    dst: Ip16,
    now: number,
  ): void {
    const only = this.#o.acceptDst;
    if (only && !(isV4(dst) && only.has(v4Number(dst)))) {
      this.#c.rx_not_listening++;
      return;
    }
    const ep = kind === "udp" ? this.udpEp! : this.ipEp!;
    const peer = this.#peerName(kind, src, srcPort);
    const c = ep.classifyData(bytes, peer);
    if (c.kind === "frame") {
      this.#switchFrame(c.session.localSessionId, c.frame, now);
    } else if (c.kind === "control") {
      if (!this.#allowed(src)) {
        this.#c.rx_not_allowed++;
        this.#o.log.limited(
          "not_allowed",
          "warn",
          `control message from ${peer} dropped: not in the allow list`,
          { peer },
        );
        return;
      }
      this.#remember(peer, src, srcPort, dst);
      ep.receive(peer, bytes, now);
    } else {
      this.#c.rx_unusable++;
      this.#logDrop(c.reason, peer, bytes, kind);
    }
  }

  /** After a batch of `receive`s: sends what they queued, handles the endpoints' events. */
  endBatch(now: number): void {
    this.#drain(now);
    this.#flush();
  }

  /** Reports an error contained on one datagram or event; rethrows without a sink. */
  #contained(handler: string, e: unknown, peer: string | null): void {
    this.#c.rx_handler_errors++;
    const sink = this.#o.contain;
    if (!sink) throw e;
    sink(handler, e, peer);
  }

  /** True when the allow list (if any) holds `src`. */
  #allowed(src: Ip16): boolean {
    const list = this.#o.allow;
    if (!list || list.length === 0) return true;
    for (const p of list) if (prefixContains(p, src)) return true;
    return false;
  }

  /**
   * A rate-limited line for data packets that cannot be used: limited per
   * reason, not per peer, so forged sources cannot multiply the lines.
   */
  #logDrop(reason: string, peer: string, bytes: Uint8Array, kind: Transport): void {
    const off = kind === "udp" ? 4 : 0;
    const sid = bytes.length >= off + 4
      ? ((bytes[off] << 24) | (bytes[off + 1] << 16) | (bytes[off + 2] << 8) | bytes[off + 3]) >>> 0
      : 0;
    const a = this.#board.session(sid);
    const where = a ? `VC ${a.vc.text}, session ${sid} of ${a.session.peer}` : `session ${sid}`;
    const text: Record<string, string> = {
      cookie_mismatch:
        `cookie mismatch on ${where} from ${peer}: the cookie does not match what was agreed`,
      wrong_peer: `data for ${where} came from ${peer}; dropped`,
      unknown_session:
        `data from ${peer} for unknown session ${sid}: a stale session (did the peer restart?)`,
      session_not_up: `data from ${peer} for ${where} before the session is up`,
      truncated: `truncated data packet from ${peer}`,
      bad_version: `data packet from ${peer} with a version other than 3`,
    };
    this.#o.log.limited(
      `data:${reason}`,
      "warn",
      text[reason] ?? `data from ${peer} dropped: ${reason}`,
      {
        peer,
        reason,
      },
    );
  }

  #switchFrame(localSessionId: number, frame: Uint8Array, now: number): void {
    const board = this.#board;
    const n = board.forward(localSessionId, frame, now);
    const out = board.out;
    for (let k = 0; k < n; k++) this.#sendFrame(out[k], frame);
    if (board.hasEvents) this.#sayBoard();
  }

  /** Logs what the switchboard says (core/las/switchboard.ts). */
  #sayBoard(): void {
    for (const ev of this.#board.takeEvents()) this.#sayBoardEvent(ev);
  }

  #sayBoardEvent(ev: SwitchboardEvent<Link>): void {
    const log = this.#o.log;
    switch (ev.type) {
      case "switch-created":
        log.info(`virtual switch for VC ${ev.vc.text} created`, { policy: ev.vc.policy });
        break;
      case "switch-removed":
        log.info(`virtual switch for VC ${ev.vc.text} removed: no sessions left`);
        break;
      case "mixed-pw-types": {
        const s = ev.port.session;
        const o = ev.other.session;
        log.warn(
          `VC ${ev.vc.text} mixes PW types: session ${s.localSessionId} from ${s.peer} is type ` +
            `${s.pwType}, session ${o.localSessionId} from ${o.peer} is type ` +
            `${o.pwType}. Type 4 (Ethernet VLAN) carries tagged frames, type 5 ` +
            "(Ethernet) untagged: hosts behind them will not reach each other unless both sides " +
            "agree on tagging",
        );
        break;
      }
      case "vlan-dropped": {
        const s = ev.port.session;
        log.warn(
          `session ${s.localSessionId} from ${s.peer} on VC ${ev.port.vc.text} sends ` +
            "VLAN-tagged frames, which this VC's policy drops (allow_vlan_tagged: false); " +
            `PW type ${s.pwType}${
              s.pwType === 4 ? " (Ethernet VLAN) carries tagged frames" : ""
            }. Said once per session; counted in vlan_frames_dropped`,
        );
        break;
      }
      case "mac-moves": {
        const m = ev.report;
        log.limited(
          `move:${ev.vc.key}`,
          "warn",
          `VC ${ev.vc.text}: ${m.moves} MAC move(s), last ${
            formatMac(m.mac)
          } from port ${m.from} to ${m.to}`,
        );
        break;
      }
    }
  }

  #sendFrame(a: Link, frame: Uint8Array): void {
    const t = a.transport === "udp" ? this.#o.udp! : this.#o.ip!;
    const buf = this.#scratch;
    let seq = -1;
    if (a.seq) {
      seq = a.txSeq;
      a.txSeq = (seq + 1) & 0xffffff;
    }
    const h = writeDataHeader(buf, 0, a.transport, a.remoteSessionId, a.tx, seq);
    if (h + frame.length > buf.length) {
      a.txErrors++;
      return;
    }
    buf.set(frame, h);
    const err = t.queue(buf.subarray(0, h + frame.length), a.to, a.from);
    if (err !== 0) {
      a.txErrors++;
      this.#c.tx_errors++;
      return;
    }
    a.txFrames++;
    a.txBytes += frame.length;
  }

  #flush(): void {
    for (const t of [this.#o.ip, this.#o.udp]) {
      if (t && t.flush() !== 0) this.#c.tx_errors++;
    }
  }

  /** Sends what the endpoints queued and handles their events. */
  #drain(now: number): void {
    for (const [kind, ep] of [["ip", this.ipEp], ["udp", this.udpEp]] as const) {
      if (!ep) continue;
      const t = kind === "udp" ? this.#o.udp! : this.#o.ip!;
      for (const o of ep.takeOutgoing()) {
        const p = this.#peers.get(o.peer);
        if (!p) {
          this.#c.tx_errors++;
          continue;
        }
        if (t.queue(o.bytes, p.to, p.from) !== 0) this.#c.tx_errors++;
      }
      for (const ev of ep.takeEvents()) {
        // Each event on its own: one that throws must not lose the others' (another peer's).
        try {
          this.#event(kind, ev, now);
        } catch (e) {
          this.#contained(kind, e, "peer" in ev ? ev.peer : ev.session.peer);
        }
      }
    }
  }

  #note(now: number, what: LasRecent["event"], fields: Omit<LasRecent, "at" | "event">): void {
    if (this.#recent.length >= RECENT_MAX) this.#recent.shift();
    this.#recent.push({ at: now, event: what, ...fields });
  }

  #event(kind: Transport, ev: L2tpEvent, now: number): void {
    const log = this.#o.log;
    if (ev.type === "connection-up" || ev.type === "connection-down") {
      this.#note(now, ev.type, {
        peer: ev.peer,
        reason: ev.type === "connection-down" ? ev.reason : ev.hostName,
      });
    } else if (ev.type === "session-up") {
      this.#note(now, "session-up", {
        peer: ev.session.peer,
        vc: vcKey(ev.session.vcId).text,
        session: ev.session.localSessionId,
      });
    } else if (ev.type === "session-down") {
      this.#note(now, "session-down", {
        peer: ev.peer,
        vc: ev.vcIdText,
        session: ev.localSessionId,
        reason: ev.reason,
      });
    }
    switch (ev.type) {
      case "connection-up":
        log.info(`control connection from ${ev.peer} (${ev.hostName || "no host name"}) is up`, {
          ccid: ev.localCcid,
          dialect: ev.dialect,
          transport: kind,
          note: ev.note || undefined,
        });
        break;
      case "connection-down":
        // A close we made or the peer's normal StopCCN is information, not a warning.
        (ev.normal || this.#stopping ? log.info : log.warn).call(
          log,
          `control connection with ${ev.peer} is down: ${ev.reason}`,
          { ccid: ev.localCcid },
        );
        if (!this.#stopping) this.#peers.delete(ev.peer);
        break;
      case "session-up":
        this.#attach(kind, ev.session, now);
        break;
      case "session-down":
        this.#board.release(ev.localSessionId);
        this.#detach(ev.localSessionId, ev.reason, ev.vcIdText, ev.peer);
        break;
      case "circuit-status":
        log.info(
          `${ev.peer} says the circuit of session ${ev.localSessionId} is ${
            ev.active ? "up" : "down"
          }`,
        );
        break;
      case "rejected":
        // Limited per code, not per peer: a forged source per packet cannot multiply lines.
        log.limited(`rejected:${ev.code}`, "warn", ev.reason, { peer: ev.peer, code: ev.code });
        break;
    }
  }

  #attach(kind: Transport, s: SessionInfo, now: number): void {
    const p = this.#peers.get(s.peer);
    // Pin the source of data packets only where the kernel would pick another one
    // (a multi-homed LAS); decided once, at session-up.
    let from = p?.from ?? null;
    if (from && p && this.#o.sourceFor) {
      const k = this.#o.sourceFor(p.to.ip);
      if (k && ipEquals(k, from)) from = null;
    }
    const link: Link = {
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
    };
    const a = this.#board.attach(s, link, now);
    this.#sayBoard();
    if ("refused" in a) {
      // Admission reserved a switch and a port for this session, so this holds unless a
      // limit was reached another way; kept so the bounds never depend on that bookkeeping.
      if (a.refused === "port_limit") {
        this.#o.log.limited(
          `port_limit:${vcKey(s.vcId).key}`,
          "warn",
          `session ${s.localSessionId} from ${s.peer} refused: ${a.reason}`,
          { peer: s.peer },
        );
      }
      const ep = kind === "udp" ? this.udpEp! : this.ipEp!;
      ep.closeSession(s.localSessionId, now, a.reason);
      return;
    }
    this.#o.log.info(
      `session ${s.localSessionId} from ${s.peer} is up on VC ${a.vc.text}`,
      {
        pw_type: s.pwType,
        remote_session: s.remoteSessionId,
        cookie_tx: s.txCookie.length,
        cookie_rx: s.rxCookie.length,
        ports: a.vc.sw.portCount,
      },
    );
  }

  #detach(localSessionId: number, reason: string, vcText: string, peer: string): void {
    this.#o.log.info(`session ${localSessionId} from ${peer} on VC ${vcText} is down: ${reason}`);
    this.#board.detach(localSessionId);
    this.#sayBoard();
  }

  /** Runs timers due at `now`. */
  poll(now: number): void {
    // Each endpoint on its own: one whose timers throw must not stop the other's, the
    // MAC ageing or the drain. (One that throws on every call is held off by the loop's
    // stuck-deadline guard, ffi/loop.ts.)
    for (const ep of [this.ipEp, this.udpEp]) {
      try {
        ep?.poll(now);
      } catch (e) {
        this.#contained("timer", e, null);
      }
    }
    this.#board.prune((sid) => !!(this.ipEp?.session(sid) || this.udpEp?.session(sid)));
    this.#board.expire(now);
    this.#sayBoard();
    this.#drain(now);
    this.#flush();
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    const t = Math.min(
      this.ipEp?.nextDeadline() ?? Infinity,
      this.udpEp?.nextDeadline() ?? Infinity,
    );
    return Math.min(t, this.#board.nextDeadline());
  }

  /**
   * Sends StopCCN on every control connection (SIGTERM), retransmitted every
   * `SHUTDOWN_RTO_MS` until acknowledged; keep calling `onSocketReadable` and
   * `poll` until `stopped(now)`.
   */
  stop(now: number): void {
    this.#stopping = true;
    this.#stopDeadline = now + STOP_WAIT_MS;
    for (const ep of [this.ipEp, this.udpEp]) {
      if (!ep) continue;
      for (const c of ep.connections()) {
        if (c.state === "closing") continue;
        ep.closeConnection(c.localCcid, now, "the LAS is shutting down", 1, SHUTDOWN_RTO_MS);
      }
    }
    this.#drain(now);
    this.#flush();
  }

  /** After `stop`: true once every StopCCN was acknowledged or about 2 s passed. */
  stopped(now: number): boolean {
    if (!this.#stopping) return false;
    if (now >= this.#stopDeadline) return true;
    return (this.ipEp?.allAcknowledged() ?? true) && (this.udpEp?.allAcknowledged() ?? true);
  }

  /**
   * A typed snapshot of the LAS at `now`: what /status shows (`LasStatus`)
   * and the L2TP endpoints' counters for /metrics. Rendered in one place,
   * cmd/las_status.ts.
   */
  snapshot(now: number): LasSnapshot {
    const connections: LasConnectionStatus[] = [
      ...(this.ipEp?.connections().map((c) => ({ ...c, transport: "ip" as const })) ?? []),
      ...(this.udpEp?.connections().map((c) => ({ ...c, transport: "udp" as const })) ?? []),
    ].map((c) => ({
      peer: c.peer,
      transport: c.transport,
      host_name: c.hostName,
      state: c.state,
      dialect: c.dialect,
      local_ccid: c.localCcid,
      remote_ccid: c.remoteCcid,
      sessions: c.sessions,
    }));
    const sessions = [...this.#board.sessions()].map((a): LasSessionStatus => ({
      session: a.session.localSessionId,
      peer: a.session.peer,
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
    }));
    const board = this.#board.status(now, 256);
    const l2tp: LasSnapshot["l2tp"] = [];
    if (this.ipEp) l2tp.push({ transport: "ip", counters: { ...this.ipEp.counters } });
    if (this.udpEp) l2tp.push({ transport: "udp", counters: { ...this.udpEp.counters } });
    return {
      now,
      status: {
        connections,
        sessions,
        sessions_setting_up: this.#board.settingUpCount,
        switches: board.switches,
        mac_table: board.mac_table,
        recent: [...this.#recent],
        counters: this.counters,
      },
      l2tp,
    };
  }

  /** What /status shows (the snapshot's `status`). */
  status(now: number): LasStatus {
    return this.snapshot(now).status;
  }
}
