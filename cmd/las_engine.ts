/**
 * The LAS data and control plane, without the event loop: L2TPv3 endpoints
 * (IP protocol 115, and UDP 1701 when enabled) whose sessions are ports of
 * one learning switch per VC id.
 *
 * ```
 *  transport.recv() --> classifyData --frame--> switch(VC).forward --> egress ports
 *                          |                                            |
 *                          '--control--> endpoint.receive               v
 *                                            |                 header + frame --> transport.queue
 *                                 takeOutgoing / takeEvents
 * ```
 *
 * The engine is driven by `onReadable(t, now)` for each readable transport,
 * `poll(now)` at `nextDeadline()`, and `stop(now)` at shutdown (StopCCN to
 * every peer, retransmitted until acknowledged: run the loop until
 * `stopped(now)`). It talks to the OS only through `DatagramTransport`, so
 * tests drive it with in-memory twins.
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
 * Bounded: connections and sessions by the endpoint's limits; switches by
 * `maxSwitches`, counting the switches that sessions still being set up will
 * create (the ICRQ for a VC beyond it is refused with a CDN that says why);
 * the peer address book by `maxPeers` (oldest forgotten).
 *
 * Data we send carries the default L2-Specific Sublayer when the peer asked
 * for it, numbered (S=1, 24-bit sequence per session) when it asked for
 * sequencing. We ask peers for no sublayer, so received data has no sequence
 * numbers to check.
 *
 * @module
 */
import { L2tpEndpoint, SHUTDOWN_RTO_MS } from "../core/l2tp/endpoint.ts";
import type { L2tpEvent } from "../core/l2tp/events.ts";
import type { SessionInfo } from "../core/l2tp/session.ts";
import { dataHeaderLength, writeDataHeader } from "../core/l2tp/data_header.ts";
import type { Transport } from "../core/l2tp/control_message.ts";
import type { DigestAlgorithm, HashFn } from "../core/l2tp/auth.ts";
import { IdAllocator } from "../core/l2tp/id_allocator.ts";
import {
  DEFAULT_MAX_PORTS,
  Drop,
  LearningSwitch,
  type SwitchOptions,
  type SwitchSnapshot,
} from "../core/switch.ts";
import { formatMac } from "../core/mac.ts";
import type { DatagramTransport, Endpoint, Ip16 } from "../ffi/types.ts";
import {
  formatIp,
  ipEquals,
  isV4,
  parseIp,
  parsePrefix,
  prefixContains as prefixHolds,
  v4Number,
} from "../core/addr.ts";
import type { TopicLogger } from "./kit/log.ts";
import type { MetricsWriter } from "./kit/metrics.ts";
import type { PacketErrorSink } from "./kit/contain.ts";

/** How the LAS is set up. */
export interface LasEngineOptions {
  /** Raw IP protocol 115 socket; absent: no L2TPv3 over IP. */
  ip?: DatagramTransport;
  /** UDP port 1701 socket; absent: no L2TPv3 over UDP. */
  udp?: DatagramTransport;
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
  log: TopicLogger;
  /**
   * Hears what handling one datagram (or one event) threw: that datagram
   * is dropped, the rest of the batch goes on (kit/contain.ts). Absent: the
   * error propagates (tests).
   */
  contain?: PacketErrorSink;
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

/** Longest Remote End ID (VC id) a session may carry, bytes; a Cisco VC id is a 32-bit number. */
export const MAX_REMOTE_END_ID = 64;

/** A session attached to a switch port. */
interface Attached {
  info: SessionInfo;
  transport: Transport;
  sw: VcSwitch;
  port: number;
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
  upSince: number;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  txErrors: number;
  /** A VLAN-tagged frame from this session was dropped by policy and logged (once). */
  vlanLogged: boolean;
}

/** One virtual switch: all sessions of one VC id. */
interface VcSwitch {
  key: string;
  text: string;
  /** Which config policy it runs ("switch" or "vcs.<id>"). */
  policy: string;
  sw: LearningSwitch;
  /** Port id to attached session. */
  ports: (Attached | undefined)[];
  created: number;
  /** A PW type 4 and a type 5 session met on this VC and it was logged (once). */
  mixedLogged: boolean;
}

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

/**
 * The switch key of a Remote End ID. How a Cisco encodes the xconnect VC id
 * there is not settled (freeRtr sends decimal ASCII, "1234"; a 4-byte binary
 * number is the other plausible form), so both forms of the same number
 * meet on one switch: ASCII decimal digits (1..10 of them, value < 2^32)
 * and 4-byte values both key as `vc:<number>`; anything else keys on its
 * bytes.
 */
export function vcKey(id: Uint8Array): { key: string; text: string } {
  if (id.length >= 1 && id.length <= 10 && id.every((b) => b >= 0x30 && b <= 0x39)) {
    const n = Number(new TextDecoder().decode(id));
    if (n <= 0xffff_ffff) return { key: `vc:${n}`, text: String(n) };
  }
  if (id.length === 4) {
    const n = ((id[0] << 24) | (id[1] << 16) | (id[2] << 8) | id[3]) >>> 0;
    return { key: `vc:${n}`, text: String(n) };
  }
  return { key: `raw:${hex(id)}`, text: `0x${hex(id)}` };
}

/** The LAS engine; see the module doc. */
export class LasEngine {
  readonly ipEp: L2tpEndpoint | null;
  readonly udpEp: L2tpEndpoint | null;
  readonly #o: LasEngineOptions;
  readonly #switches = new Map<string, VcSwitch>();
  readonly #attached = new Map<number, Attached>();
  /**
   * Sessions admitted and not yet up, by our session id, to the switch key
   * they will join: the switches they may create count against
   * `maxSwitches`. Bounded by the endpoints' pending-session limits; an
   * entry leaves at session-up or session-down, and `poll` drops any whose
   * session is gone.
   */
  readonly #settingUp = new Map<number, string>();
  /** Peer name ("192.0.2.1" or "192.0.2.1:1701") to address; bounded by maxPeers. */
  readonly #peers = new Map<string, PeerAddr>();
  readonly maxPeers: number;
  /** IPv4 number to its text, so the data path does not format per packet. Bounded. */
  readonly #names = new Map<number, string>();
  readonly #scratch = new Uint8Array(MAX_FRAME + 64);
  /** Engine counters (the endpoints and switches have their own). */
  readonly counters = {
    rx_truncated: 0,
    rx_unusable: 0,
    rx_not_listening: 0,
    tx_errors: 0,
    /** Datagrams, events and endpoint timer runs whose handling threw: contained (kit/contain.ts). */
    rx_handler_errors: 0,
    switches_created: 0,
    switches_removed: 0,
    sessions_refused_switch_limit: 0,
    /** ICRQs (or, in a race, session-ups) for a VC whose switch has no free port. */
    sessions_refused_port_limit: 0,
    sessions_refused_remote_end_id: 0,
    rx_not_allowed: 0,
    vlan_frames_dropped: 0,
  };
  #stopping = false;
  /** When a shutdown stops waiting for StopCCN acknowledgements (ms). */
  #stopDeadline = Infinity;
  /** Recent session and connection ups and downs, newest last; bounded by RECENT_MAX. */
  readonly #recent: Record<string, unknown>[] = [];

  constructor(o: LasEngineOptions) {
    this.#o = o;
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
      sessionPolicy: (req: { vcId: Uint8Array; localSessionId: number }) => this.#admit(req),
      maxPendingPerSource: o.maxPendingPerPeer ?? 4,
      maxConnectionsPerSource: o.maxConnectionsPerPeer ?? 8,
      sourceOf: sourceOf,
    };
    this.ipEp = o.ip ? new L2tpEndpoint({ transport: "ip", ...common }) : null;
    this.udpEp = o.udp ? new L2tpEndpoint({ transport: "udp", ...common }) : null;
    this.maxPeers = 2 * 256 + 64;
  }

  /** Switches that sessions being set up will create (their VC has no switch now). */
  #creating(except?: string): number {
    const keys = new Set<string>();
    for (const k of this.#settingUp.values()) {
      if (k !== except && !this.#switches.has(k)) keys.add(k);
    }
    return keys.size;
  }

  /**
   * The session policy: a session for a VC that has a switch, or will have
   * one when a session being set up comes up, is admitted; one for a new VC
   * only while switches plus switches being created stay under the limit.
   */
  #admit(req: { vcId: Uint8Array; localSessionId: number }): string | null {
    if (req.vcId.length > MAX_REMOTE_END_ID) {
      this.counters.sessions_refused_remote_end_id++;
      return `its Remote End ID of ${req.vcId.length} bytes is too long (at most ` +
        `${MAX_REMOTE_END_ID})`;
    }
    const { key, text } = vcKey(req.vcId);
    let pending = 0;
    for (const k of this.#settingUp.values()) if (k === key) pending++;
    const vc = this.#switches.get(key);
    if (!vc && pending === 0) {
      const creating = this.#creating();
      if (this.#switches.size + creating >= this.#o.maxSwitches) {
        this.counters.sessions_refused_switch_limit++;
        return `the virtual switch limit is reached (max_switches ${this.#o.maxSwitches}: ` +
          `${this.#switches.size} exist, ${creating} being set up)`;
      }
    }
    // Every session is a port of its VC's switch: sessions up plus sessions being set up
    // on the VC stay within the switch's ports, so a session never comes up without one.
    const up = vc ? vc.sw.portCount : 0;
    const maxPorts = vc ? vc.sw.maxPorts : (this.#o.switchPolicy(text).options.maxPorts ??
      DEFAULT_MAX_PORTS);
    if (up + pending >= maxPorts) {
      this.counters.sessions_refused_port_limit++;
      return `VC ${text} has no free port (a virtual switch takes at most ${maxPorts} ` +
        `sessions: ${up} up, ${pending} being set up)`;
    }
    this.#settingUp.set(req.localSessionId, key);
    return null;
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
   * many datagrams it took (0: drained), as the event loop expects.
   */
  onReadable(t: DatagramTransport, now: number): number {
    const kind: Transport = t === this.#o.udp ? "udp" : "ip";
    const ep = kind === "udp" ? this.udpEp! : this.ipEp!;
    const n = t.recv();
    if (n === 0) return 0;
    const rx = t.rx;
    const only = this.#o.acceptDst;
    for (let i = 0; i < n; i++) {
      if (rx.truncated[i]) {
        this.counters.rx_truncated++;
        continue;
      }
      if (only && !(isV4(rx.dst[i]) && only.has(v4Number(rx.dst[i])))) {
        this.counters.rx_not_listening++;
        continue;
      }
      // One datagram's failure drops that datagram only (kit/contain.ts).
      try {
        const bytes = rx.bufs[i].subarray(rx.offsets[i], rx.lens[i]);
        const peer = this.#peerName(kind, rx.src[i], rx.srcPort[i]);
        const c = ep.classifyData(bytes, peer);
        if (c.kind === "frame") {
          this.#switchFrame(c.session.localSessionId, c.frame, now);
        } else if (c.kind === "control") {
          if (!this.#allowed(rx.src[i])) {
            this.counters.rx_not_allowed++;
            this.#o.log.limited(
              "not_allowed",
              "warn",
              `control message from ${peer} dropped: not in the allow list`,
              { peer },
            );
            continue;
          }
          this.#remember(peer, rx.src[i], rx.srcPort[i], rx.dst[i]);
          ep.receive(peer, bytes, now);
        } else {
          this.counters.rx_unusable++;
          this.#logDrop(c.reason, peer, bytes, kind);
        }
      } catch (e) {
        this.#contained(kind, e, formatEndpointOf(kind, rx.src[i], rx.srcPort[i]));
      }
    }
    this.#drain(now);
    this.#flush();
    return n;
  }

  /** Reports an error contained on one datagram or event; rethrows without a sink. */
  #contained(handler: string, e: unknown, peer: string | null): void {
    this.counters.rx_handler_errors++;
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
    const a = this.#attached.get(sid);
    const where = a ? `VC ${a.sw.text}, session ${sid} of ${a.info.peer}` : `session ${sid}`;
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
    const a = this.#attached.get(localSessionId);
    if (!a) return;
    a.rxFrames++;
    a.rxBytes += frame.length;
    const n = a.sw.sw.forward(a.port, frame, now);
    if (n === 0 && a.sw.sw.lastDrop === Drop.VLAN) {
      this.counters.vlan_frames_dropped++;
      if (!a.vlanLogged) {
        a.vlanLogged = true;
        this.#o.log.warn(
          `session ${a.info.localSessionId} from ${a.info.peer} on VC ${a.sw.text} sends ` +
            "VLAN-tagged frames, which this VC's policy drops (allow_vlan_tagged: false); " +
            `PW type ${a.info.pwType}${
              a.info.pwType === 4 ? " (Ethernet VLAN) carries tagged frames" : ""
            }. Said once per session; counted in vlan_frames_dropped`,
        );
      }
    }
    const egress = a.sw.sw.egress;
    for (let k = 0; k < n; k++) {
      const out = a.sw.ports[egress[k]];
      if (out) this.#sendFrame(out, frame);
    }
  }

  #sendFrame(a: Attached, frame: Uint8Array): void {
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
      this.counters.tx_errors++;
      return;
    }
    a.txFrames++;
    a.txBytes += frame.length;
  }

  #flush(): void {
    for (const t of [this.#o.ip, this.#o.udp]) {
      if (t && t.flush() !== 0) this.counters.tx_errors++;
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
          this.counters.tx_errors++;
          continue;
        }
        if (t.queue(o.bytes, p.to, p.from) !== 0) this.counters.tx_errors++;
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

  #note(what: string, fields: Record<string, unknown>): void {
    if (this.#recent.length >= RECENT_MAX) this.#recent.shift();
    this.#recent.push({ time: new Date().toISOString(), event: what, ...fields });
  }

  #event(kind: Transport, ev: L2tpEvent, now: number): void {
    const log = this.#o.log;
    if (ev.type === "connection-up" || ev.type === "connection-down") {
      this.#note(ev.type, {
        peer: ev.peer,
        reason: ev.type === "connection-down" ? ev.reason : ev.hostName,
      });
    } else if (ev.type === "session-up") {
      this.#note("session-up", {
        peer: ev.session.peer,
        vc: vcKey(ev.session.vcId).text,
        session: ev.session.localSessionId,
      });
    } else if (ev.type === "session-down") {
      this.#note("session-down", {
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
        this.#settingUp.delete(ev.localSessionId);
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
    const { key, text } = vcKey(s.vcId);
    this.#settingUp.delete(s.localSessionId);
    let vc = this.#switches.get(key);
    if (!vc) {
      // Admission reserved a switch for this session's VC, so this holds unless the limit
      // was reached another way; kept so the bound never depends on that bookkeeping.
      const creating = this.#creating(key);
      if (this.#switches.size + creating >= this.#o.maxSwitches) {
        this.counters.sessions_refused_switch_limit++;
        const ep = kind === "udp" ? this.udpEp! : this.ipEp!;
        ep.closeSession(
          s.localSessionId,
          now,
          `VC ${text}: the virtual switch limit is reached (max_switches ${this.#o.maxSwitches})`,
        );
        return;
      }
      const policy = this.#o.switchPolicy(text);
      vc = {
        key,
        text,
        policy: policy.name,
        sw: new LearningSwitch(policy.options),
        ports: [],
        created: now,
        mixedLogged: false,
      };
      this.#switches.set(key, vc);
      this.counters.switches_created++;
      this.#o.log.info(`virtual switch for VC ${text} created`, { policy: policy.name });
    }
    const p = this.#peers.get(s.peer);
    // Pin the source of data packets only where the kernel would pick another one
    // (a multi-homed LAS); decided once, at session-up.
    let from = p?.from ?? null;
    if (from && p && this.#o.sourceFor) {
      const k = this.#o.sourceFor(p.to.ip);
      if (k && ipEquals(k, from)) from = null;
    }
    const port = vc.sw.addPort({ name: `${s.peer} session ${s.localSessionId}` }, now);
    if (port < 0) {
      // Admission counts ports as it counts switches; kept so a full switch never leaves a
      // session up without a port (shown attached, its frames going nowhere).
      this.counters.sessions_refused_port_limit++;
      const reason = `VC ${text} has no free port (a virtual switch takes at most ` +
        `${vc.sw.maxPorts} sessions)`;
      this.#o.log.limited(
        `port_limit:${key}`,
        "warn",
        `session ${s.localSessionId} from ` +
          `${s.peer} refused: ${reason}`,
        { peer: s.peer },
      );
      const ep = kind === "udp" ? this.udpEp! : this.ipEp!;
      ep.closeSession(s.localSessionId, now, reason);
      return;
    }
    const a: Attached = {
      info: s,
      transport: kind,
      sw: vc,
      port,
      to: p?.to ?? { ip: new Uint8Array(16), port: 0 },
      from,
      local: p?.from ? formatIp(p.from) : null,
      headerLen: dataHeaderLength(kind, { cookie: s.txCookie, sublayer: s.txSublayer }),
      tx: { cookie: s.txCookie, sublayer: s.txSublayer },
      seq: s.txSublayer && s.txSequencing,
      txSeq: 0,
      remoteSessionId: s.remoteSessionId,
      upSince: now,
      rxFrames: 0,
      rxBytes: 0,
      txFrames: 0,
      txBytes: 0,
      txErrors: 0,
      vlanLogged: false,
    };
    const other = vc.ports.find((x) => x !== undefined && x.info.pwType !== s.pwType);
    if (other && !vc.mixedLogged) {
      vc.mixedLogged = true;
      this.#o.log.warn(
        `VC ${text} mixes PW types: session ${s.localSessionId} from ${s.peer} is type ` +
          `${s.pwType}, session ${other.info.localSessionId} from ${other.info.peer} is type ` +
          `${other.info.pwType}. Type 4 (Ethernet VLAN) carries tagged frames, type 5 ` +
          "(Ethernet) untagged: hosts behind them will not reach each other unless both sides " +
          "agree on tagging",
      );
    }
    vc.ports[port] = a;
    this.#attached.set(s.localSessionId, a);
    this.#o.log.info(
      `session ${s.localSessionId} from ${s.peer} is up on VC ${text}`,
      {
        pw_type: s.pwType,
        remote_session: s.remoteSessionId,
        cookie_tx: s.txCookie.length,
        cookie_rx: s.rxCookie.length,
        ports: vc.sw.ports().length,
      },
    );
  }

  #detach(localSessionId: number, reason: string, vcText: string, peer: string): void {
    const a = this.#attached.get(localSessionId);
    this.#o.log.info(`session ${localSessionId} from ${peer} on VC ${vcText} is down: ${reason}`);
    if (!a) return;
    this.#attached.delete(localSessionId);
    a.sw.sw.removePort(a.port);
    a.sw.ports[a.port] = undefined;
    if (a.sw.sw.ports().length === 0) {
      this.#switches.delete(a.sw.key);
      this.counters.switches_removed++;
      this.#o.log.info(`virtual switch for VC ${a.sw.text} removed: no sessions left`);
    }
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
    for (const sid of this.#settingUp.keys()) {
      if (!this.ipEp?.session(sid) && !this.udpEp?.session(sid)) this.#settingUp.delete(sid);
    }
    for (const vc of this.#switches.values()) {
      vc.sw.expire(now);
      const m = vc.sw.takeMoveReport();
      if (m) {
        this.#o.log.limited(
          `move:${vc.key}`,
          "warn",
          `VC ${vc.text}: ${m.moves} MAC move(s), last ${
            formatMac(m.mac)
          } from port ${m.from} to ${m.to}`,
        );
      }
    }
    this.#drain(now);
    this.#flush();
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    let t = Math.min(this.ipEp?.nextDeadline() ?? Infinity, this.udpEp?.nextDeadline() ?? Infinity);
    for (const vc of this.#switches.values()) t = Math.min(t, vc.sw.nextDeadline());
    return t;
  }

  /**
   * Sends StopCCN on every control connection (SIGTERM), retransmitted every
   * `SHUTDOWN_RTO_MS` until acknowledged; keep calling `onReadable` and
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

  /** Number of control connections (all states). */
  connectionCount(): number {
    return (this.ipEp?.connections().length ?? 0) + (this.udpEp?.connections().length ?? 0);
  }

  /** For /status. */
  status(now: number): Record<string, unknown> {
    const connections = [
      ...(this.ipEp?.connections().map((c) => ({ ...c, transport: "ip" })) ?? []),
      ...(this.udpEp?.connections().map((c) => ({ ...c, transport: "udp" })) ?? []),
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
    const sessions = [...this.#attached.values()].map((a) => ({
      session: a.info.localSessionId,
      peer: a.info.peer,
      vc: a.sw.text,
      pw_type: a.info.pwType,
      remote_session: a.remoteSessionId,
      local: a.local,
      tx_sublayer: a.tx.sublayer ? (a.seq ? "sequenced" : "unsequenced") : "none",
      up_s: Math.round((now - a.upSince) / 1000),
      rx_frames: a.rxFrames,
      rx_bytes: a.rxBytes,
      tx_frames: a.txFrames,
      tx_bytes: a.txBytes,
      tx_errors: a.txErrors,
    }));
    const macTables: Record<string, unknown>[] = [];
    const switches = [...this.#switches.values()].map((vc) => {
      const s: SwitchSnapshot = vc.sw.snapshot(now, 256);
      for (const m of s.macs) {
        macTables.push({
          vc: vc.text,
          mac: m.mac,
          session: vc.ports[m.port]?.info.localSessionId ?? null,
          peer: vc.ports[m.port]?.info.peer ?? null,
          age_s: Math.round(m.ageMs / 1000),
        });
      }
      const dropped = Object.fromEntries(
        Object.entries(s.counters.dropped_frames).filter(([, v]) => v > 0),
      );
      return {
        vc: vc.text,
        policy: vc.policy,
        ports: s.ports.length,
        macs: s.macCount,
        rx_frames: s.counters.rx_frames,
        flooded_frames: s.counters.flooded_frames,
        unicast_frames: s.counters.unicast_frames,
        dropped,
        macs_shown: s.macs.length + (s.macsTruncated ? "+" : ""),
      };
    });
    return {
      connections,
      sessions,
      sessions_setting_up: this.#settingUp.size,
      switches,
      mac_table: macTables,
      recent: [...this.#recent],
      counters: { ...this.counters },
    };
  }

  /** For /metrics. */
  metrics(w: MetricsWriter, now: number): void {
    w.gauge(
      "l2_las_connections",
      "L2TPv3 control connections (all states)",
      this.connectionCount(),
    );
    w.gauge("l2_las_sessions", "sessions attached to a virtual switch", this.#attached.size);
    w.gauge("l2_las_switches", "virtual switches (VC ids)", this.#switches.size);
    w.gauge(
      "l2_las_sessions_setting_up",
      "sessions admitted and not yet up (their new VCs count against max_switches)",
      this.#settingUp.size,
    );
    for (const [name, v] of Object.entries(this.counters)) {
      w.counter(`l2_las_${name}_total`, `LAS engine: ${name.replaceAll("_", " ")}`, v);
    }
    for (const [kind, ep] of [["ip", this.ipEp], ["udp", this.udpEp]] as const) {
      if (!ep) continue;
      for (const [name, v] of Object.entries(ep.counters)) {
        w.counter(
          "l2_las_l2tp_total",
          "L2TPv3 endpoint counters (packets, drops, refusals) by name",
          v,
          {
            transport: kind,
            name,
          },
        );
      }
    }
    for (const a of this.#attached.values()) {
      const l = { vc: a.sw.text, session: a.info.localSessionId, peer: a.info.peer };
      w.counter("l2_las_session_rx_frames_total", "frames received on a session", a.rxFrames, l);
      w.counter("l2_las_session_rx_bytes_total", "bytes received on a session", a.rxBytes, l);
      w.counter("l2_las_session_tx_frames_total", "frames sent on a session", a.txFrames, l);
      w.counter("l2_las_session_tx_bytes_total", "bytes sent on a session", a.txBytes, l);
    }
    for (const vc of this.#switches.values()) {
      const c = vc.sw.counters();
      const l = { vc: vc.text };
      w.gauge("l2_las_switch_macs", "MAC entries in a virtual switch", vc.sw.macCount, l);
      w.counter("l2_las_switch_rx_frames_total", "frames into a virtual switch", c.rx_frames, l);
      w.counter("l2_las_switch_flooded_frames_total", "frames flooded", c.flooded_frames, l);
      w.counter(
        "l2_las_switch_unicast_frames_total",
        "frames forwarded as known unicast",
        c.unicast_frames,
        l,
      );
      for (const [reason, v] of Object.entries(c.dropped_frames)) {
        if (v > 0) {
          w.counter("l2_las_switch_dropped_frames_total", "frames dropped by reason", v, {
            vc: vc.text,
            reason,
          });
        }
      }
    }
    void now;
  }
}
