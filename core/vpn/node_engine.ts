/**
 * `l2 node` as one sans-IO engine (core/engine.ts `Engine`): the security
 * layer (`SecureNode`, secure_node.ts: handshakes, pins, sessions) in front
 * of the protocol (`NodeCore`, node.ts: registration, peers, paths), with
 * MAC Address Translation (`MatTranslator`, core/mat.ts) between the TAP
 * side and the VPN, and the TAP offloads (core/gso.ts) on the TAP side.
 *
 * ```
 *   TAP frame --> fromDevice(frame, now) --[vnet header, TSO cut]--> [filter egress] --> MAT egress
 *                  --> NodeCore.sendFrame
 *   datagram --> receive(bytes, from: Arrival, now) --> intern the source (EndpointTable)
 *                  --> SecureNode.receive --"core"--> NodeCore.receive ([filter ingress]: admitFrame)
 *   endBatch(now) / poll(now): events --> onEvent; datagrams --> DatagramPort (one flush);
 *                  frames from peers --> MAT ingress --> [TcpCoalescer] --> FramePort
 *   snapshot(now) --> /status, /metrics (cmd/render/node_status.ts)
 * ```
 *
 * Sources are interned in one `EndpointTable` shared with the cores: a
 * datagram from a known peer allocates no endpoint, and what the cores keep
 * is a copy, never the pump's reused receive slot. The wall clock (for the
 * HS_INIT timestamps, which must keep increasing across restarts) is
 * `clock.wall + (now - clock.now)`: one reading taken at start, given in the
 * configuration; the engine reads no clock.
 *
 * The translator needs the supernode id and the node id, which the node
 * learns at registration: until the first `registered` event, TAP frames are
 * dropped and counted (`tx_not_registered`). A registration with other ids (a
 * new supernode id, another auto id) builds a new translator on the same
 * leaf table, so leaf ids stay; the old translator's verdict counts are kept.
 *
 * With `offload` each TAP read is a `virtio_net_hdr` and a frame that may be
 * a TCP segment up to 64 KiB with a partial checksum (`openTap({ vnetHdr:
 * true })`); `offloadFrame` cuts it into MTU-sized frames with complete
 * checksums. Frames to the TAP then go through a `TcpCoalescer`: consecutive
 * segments of one TCP flow are written as one GSO frame (`writeVnet`).
 *
 * With `inPlace` the TAP's slots have room around each frame
 * (`DATA_HEADROOM`, `DATA_TAILROOM`, core/vpn/messages.ts) and that memory is
 * lent to the socket: a unicast frame is sealed where it lies and sent from
 * there (`queueView`), no copy. That holds because every batch is sent
 * (`endBatch`) before the pump's next `read()` reuses the slots. A TSO
 * segment is cut into a scratch buffer the next segment reuses: it is copied
 * once into one of `segmentSlots` (memory also lent to the socket, free again
 * after each send) and sealed there; when those are all in use it goes the
 * copying way.
 *
 * Frames from peers are views into the socket's receive slots
 * (`NodeCore` with `frameViews`): `endBatch` writes them all to the TAP
 * before the pump reads the next batch. Each runs in its own try/catch:
 * MAT ingress parses what peers send, and one frame's failure drops only it
 * (`tap_tx_handler_errors`, reported to `contain`).
 *
 * `nextDeadline()` is cached: every entry point marks it stale, and so must a
 * caller that changes the core, the security layer or the leaf table behind
 * the engine's back (`deadlineMoved()`, e.g. after re-reading the pin file).
 *
 * Without `security` (protocol tests only) the core must have been built
 * with `NullSealer`.
 *
 * @module
 */
import { type NetFilter, type NetFilterStatus } from "./net_filter.ts";
import { PASS } from "../filter.ts";
import type { Endpoint, EndpointTable } from "../addr.ts";
import type { Arrival, DatagramPort, Engine, FramePort } from "../engine.ts";
import {
  type CoalesceCounters,
  emptyVnetHdr,
  type GsoReason,
  offloadFrame,
  readVnetHdr,
  TcpCoalescer,
  VNET_HDR_LEN,
} from "../gso.ts";
import type { LeafTable, LeafTableSnapshot } from "../leaf_table.ts";
import type { MacKey } from "../mac.ts";
import { formatMac, macAt, matAddress } from "../mac.ts";
import { MatTranslator, type MatVerdict } from "../mat.ts";
import type { Outgoing } from "./backlog.ts";
import type { NodeCore, NodeEvent, NodeStatus } from "./node.ts";
import type { PeerStatus } from "./peer.ts";
import type { SecureNode, SecurityNodeEvent, SupernodeLinkStatus } from "./secure_node.ts";
import type { SessionInfo } from "./session_keys.ts";
import type { CaptureHub } from "../capture.ts";

/** A TAP opened with a vnet header: writes a vnet header and a frame as they are. */
export interface VnetFramePort extends FramePort {
  /** Writes a vnet header and a frame; 0, or the errno of a dropped frame. */
  writeVnet(bytes: Uint8Array): number;
}

/** Sends one datagram alone with its own IP TTL (hole punching): 0 or an errno. */
export type TtlSender = (bytes: Uint8Array, to: Endpoint, ttl: number) => number;

/** Hears a packet whose handling threw (kit/contain.ts `PacketErrorSink`). */
export type ErrorSink = (handler: string, err: unknown, peer: string | null) => void;

/** What `NodeEngine` is built from. */
export interface NodeEngineConfig {
  core: NodeCore;
  leaves: LeafTable;
  /** The TAP's own MAC (leaf 0). */
  tapMac: MacKey;
  /** The table the sources are interned in (the one `core` was built with). */
  endpoints: EndpointTable;
  /** Where datagrams go. */
  socket: DatagramPort;
  /** Probes with their own TTL; absent: sent with the socket's TTL. */
  sendTtl?: TtlSender;
  /** Where frames from peers go; with `offload`, a `VnetFramePort`. */
  device: FramePort | VnetFramePort;
  /** The TAP's MTU (the size of a segment cut from a TSO super-frame). */
  mtu: number;
  /**
   * The device lends each frame with room around it (`DATA_HEADROOM`
   * before, `DATA_TAILROOM` after, core/vpn/messages.ts) until `endBatch`,
   * and that memory is lent to the socket: a unicast frame is sealed where
   * it lies and sent with `queueView`. Default false (copies).
   */
  inPlace?: boolean;
  /**
   * With `offload` and `inPlace`: slots (each at least `segmentBytes(mtu)`
   * long, with the same room around them, in memory lent to the socket)
   * where TSO segments are sealed in place, free again after each send.
   */
  segmentSlots?: Uint8Array[];
  /** TAP frames start with a virtio_net header and may be TSO super-frames. Default false. */
  offload?: boolean;
  /** The security layer whose sealer `core` uses; absent: protocol tests only. */
  security?: SecureNode;
  /** One clock reading at start: `now` (monotonic ms) and `wall` (ms since 1970) at that moment. */
  clock?: { now: number; wall: number };
  /** The log (events of every layer); absent: dropped. */
  onEvent?: (ev: NodeEngineEvent) => void;
  /** Hears a frame whose way to the TAP threw; absent: the error propagates (tests). */
  contain?: ErrorSink;
  /** Saves the leaf table (and pins): every `saveIntervalMs` and at stop. */
  save?: () => void;
  /** Default 60 000. */
  saveIntervalMs?: number;
  /**
   * The network's filter (core/vpn/net_filter.ts): its egress set judges
   * TAP frames before MAT and sealing; its ingress set is the core's
   * `admitFrame` (the caller wires it). Absent: no filter.
   */
  filter?: NetFilter;
  /** Live captures (core/capture.ts): TAP and per-peer frames are offered while `on`. */
  capture?: CaptureHub;
}

/** Node counters (the core, the security layer and MAT keep their own). */
export interface NodeEngineCounters {
  /** Frames read from the TAP. */
  tap_rx_frames: number;
  tap_rx_bytes: number;
  /** Frames written to the TAP. */
  tap_tx_frames: number;
  tap_tx_bytes: number;
  /** Frames from peers whose way to the TAP threw (MAT ingress...): dropped, contained. */
  tap_tx_handler_errors: number;
  /** TAP writes that failed (frame dropped). */
  tap_tx_errors: number;
  /** TAP frames dropped before the first registration (no MAT ids yet). */
  tx_not_registered: number;
  /** TAP frames MAT egress dropped (by verdict in `mat.egress`). */
  tx_mat_dropped: number;
  /** TAP frames the network's filter dropped (by rule in `filter.egress`). */
  tx_filtered: number;
  /** VPN frames MAT ingress dropped (by verdict in `mat.ingress`). */
  rx_mat_dropped: number;
  /** Leaf table saves that failed. */
  save_errors: number;
  /** With offload: TAP reads that were TSO super-frames. */
  tap_rx_gso_frames: number;
  /** With offload: frames the super-frames were cut into. */
  tap_rx_gso_segments: number;
  /** With offload: TAP reads refused by the segmenter (by reason in `offloadDropped`). */
  tap_rx_offload_dropped: number;
}

/** The engine's side of the socket counters (/status shows them with the socket's). */
export interface EngineTxCounters {
  /** Datagrams handed to the socket. */
  tx_datagrams: number;
  /** Datagrams the socket refused (transient errno: buffer full, no route...). */
  tx_errors: number;
  /** Endpoints interned (gauge), and times the table's generation turned over. */
  endpoints: number;
  endpoint_table_rotations: number;
}

/**
 * The bytes of one TSO segment cut from a super-frame for a TAP of `mtu`:
 * headers (Ethernet, tag, IP with options, TCP with options) plus an MSS.
 */
export function segmentBytes(mtu: number): number {
  return mtu + 256;
}

/** MAT verdict counts of one direction (non-zero only). */
export type VerdictCounts = Partial<Record<MatVerdict, number>>;

/** `SecureNode.status()`. */
export type SecureNodeStatus = ReturnType<SecureNode["status"]>;

/** An event of a layer, for the log. */
export type NodeEngineEvent =
  | { layer: "security"; event: SecurityNodeEvent }
  | { layer: "core"; event: NodeEvent }
  | { layer: "node"; event: { type: "save_failed"; error: string } };

/** The engine's state at `now`, plain data (`NodeEngine.snapshot`). */
export interface NodeEngineSnapshot {
  /** When it was taken. */
  now: number;
  core: NodeStatus;
  peers: PeerStatus[];
  /** Null without the security layer. */
  security: {
    status: SecureNodeStatus;
    sessions: SessionInfo[];
    /** The configured supernodes, first preferred (docs/federation.md). */
    supernodes: SupernodeLinkStatus[];
    attachment: { attachedAt: string; standby: string | null; moves: number; since: number };
  } | null;
  mat: {
    /** The MAT prefix (leaf 0); null before the first registration. */
    prefix: MacKey | null;
    leaves: LeafTableSnapshot;
    /** Leaf ids in use (`LeafTable.size`). */
    size: number;
    egress: VerdictCounts;
    ingress: VerdictCounts;
    notes: Record<string, number>;
  };
  counters: NodeEngineCounters;
  tx: EngineTxCounters;
  /** Offload refusals by reason (non-zero only). */
  offloadDropped: Partial<Record<GsoReason, number>>;
  /** TAP write coalescing counters; null without offload. */
  coalesce: CoalesceCounters | null;
  /** Hits per filter rule and direction; null without a filter. */
  filter: NetFilterStatus | null;
}

/**
 * The node engine; see the module doc.
 *
 * @example
 * ```ts
 * import { NodeEngine } from "./node_engine.ts";
 * import { NodeCore } from "./node.ts";
 * import { NullSealer } from "./sealer.ts";
 * import { LeafTable } from "../leaf_table.ts";
 * import { EndpointTable, keyedEndpoint } from "../addr.ts";
 * const endpoints = new EndpointTable();
 * const core = new NodeCore({
 *   supernode: keyedEndpoint("192.0.2.1:7654"),
 *   identity: new Uint8Array(32).fill(1),
 *   sealer: new NullSealer(),
 *   random: () => 0.5,
 *   endpoints,
 * });
 * const sent: Uint8Array[] = [];
 * const node = new NodeEngine({
 *   core,
 *   leaves: new LeafTable(),
 *   tapMac: 0x02_00_00_00_00_01,
 *   endpoints,
 *   socket: { queue: (d) => (sent.push(d.slice()), 0), flush: () => 0 },
 *   device: { write: () => 0 },
 *   mtu: 1382,
 * });
 * node.start(0);
 * sent.length; // 1: REGISTER
 * // The pumps (cmd/kit/pump.ts): node.receive(bytes, from, now) per datagram,
 * // node.fromDevice(frame, now) per TAP frame, node.endBatch(now) after each batch.
 * ```
 */
export class NodeEngine implements Engine<NodeEngineSnapshot> {
  readonly counters: NodeEngineCounters = {
    tap_rx_frames: 0,
    tap_rx_bytes: 0,
    tap_tx_frames: 0,
    tap_tx_bytes: 0,
    tap_tx_handler_errors: 0,
    tap_tx_errors: 0,
    tx_not_registered: 0,
    tx_mat_dropped: 0,
    tx_filtered: 0,
    rx_mat_dropped: 0,
    save_errors: 0,
    tap_rx_gso_frames: 0,
    tap_rx_gso_segments: 0,
    tap_rx_offload_dropped: 0,
  };
  /** Send counters and the endpoint table's size. */
  readonly tx: EngineTxCounters = {
    tx_datagrams: 0,
    tx_errors: 0,
    endpoints: 0,
    endpoint_table_rotations: 0,
  };
  /** Offload refusals by reason (non-zero only). */
  readonly offloadDropped: Partial<Record<GsoReason, number>> = {};
  readonly core: NodeCore;
  readonly security: SecureNode | null;
  readonly leaves: LeafTable;
  readonly tapMac: MacKey;
  readonly endpoints: EndpointTable;
  readonly #c: NodeEngineConfig;
  readonly #socket: DatagramPort;
  readonly #device: FramePort;
  readonly #wallOffset: number;
  #mat: MatTranslator | null = null;
  /** This node's id (a TAP frame's origin for the filter), once registered. */
  #nodeId = 0;
  /** MAT verdict counts of translators replaced by a new registration. */
  readonly #retired = { egress: {} as VerdictCounts, ingress: {} as VerdictCounts };
  readonly #saveEvery: number | null;
  #saveAt = Infinity;
  /** The last `nextDeadline()` result, until `#stale`. */
  #deadline = Infinity;
  #stale = true;
  #stopped = false;
  // Offload.
  readonly #offload: boolean;
  readonly #inPlace: boolean;
  readonly #segSlots: Uint8Array[];
  /** Segment slots used since the last send. */
  #segUsed = 0;
  readonly #scratch: Uint8Array;
  readonly #hdr = emptyVnetHdr();
  readonly #coalescer: TcpCoalescer | null = null;
  /** `now` of the TAP frame `#emit` is cutting, and whether it is a super-frame. */
  #txNow = 0;
  #txGso = false;
  /** One wire-sized frame cut from a TAP read: to MAT and the core (made once). */
  readonly #emit = (frame: Uint8Array): void => {
    if (this.#txGso) this.counters.tap_rx_gso_segments++;
    if (!this.#inPlace) return this.#toVpn(frame, this.#txNow, false);
    // A frame in the TAP's slot is sealed there; a segment in the scratch moves to a slot
    // of its own (the next segment reuses the scratch), while there is one free.
    if (frame.buffer !== this.#scratch.buffer) return this.#toVpn(frame, this.#txNow, true);
    const slots = this.#segSlots;
    if (this.#segUsed >= slots.length) return this.#toVpn(frame, this.#txNow, false);
    const slot = slots[this.#segUsed++].subarray(0, frame.length);
    slot.set(frame);
    this.#toVpn(slot, this.#txNow, true);
  };

  constructor(c: NodeEngineConfig) {
    this.#c = c;
    this.core = c.core;
    this.security = c.security ?? null;
    this.leaves = c.leaves;
    this.tapMac = c.tapMac;
    this.endpoints = c.endpoints;
    this.#socket = c.socket;
    this.#device = c.device;
    this.#wallOffset = c.clock ? c.clock.wall - c.clock.now : 0;
    this.#saveEvery = c.save ? c.saveIntervalMs ?? 60_000 : null;
    this.#offload = c.offload ?? false;
    this.#inPlace = c.inPlace ?? false;
    this.#scratch = this.#offload ? new Uint8Array(segmentBytes(c.mtu)) : new Uint8Array(0);
    this.#segSlots = (c.segmentSlots ?? []).filter((s) => s.length >= this.#scratch.length);
    if (this.#offload) {
      const d = c.device;
      if (!("writeVnet" in d)) throw new Error("offload needs a TAP with a vnet header");
      this.#coalescer = new TcpCoalescer((bytes) => this.#writeVnet(d, bytes));
    }
  }

  /** The translator, once registered. */
  get mat(): MatTranslator | null {
    return this.#mat;
  }

  /** The wall clock (ms since 1970) at `now`, from the reading at start. */
  wall(now: number): number {
    return now + this.#wallOffset;
  }

  /** Starts registering (and the security layer's handshakes) at `now`. */
  start(now: number): void {
    this.#stale = true;
    this.security?.start(now, this.wall(now));
    this.core.start(now);
    this.#saveAt = this.#saveEvery !== null ? now + this.#saveEvery : Infinity;
    this.#drain(now);
  }

  /** One datagram: the security layer first, then the core. */
  receive(bytes: Uint8Array, from: Arrival, now: number): void {
    this.#stale = true;
    const ep = this.endpoints.intern(from.src, from.srcPort);
    const sec = this.security;
    if (sec === null || sec.receive(ep, bytes, now, this.wall(now)) === "core") {
      this.core.receive(ep, bytes, now);
    }
  }

  /**
   * One TAP read: with offload its vnet header is read and a super-frame cut
   * into wire-sized frames; each goes through MAT egress (in place) to the
   * core. Dropped and counted before the first registration or on a MAT
   * verdict other than "forward". With `inPlace` (config) a unicast frame
   * is sealed where it lies in the device's slot and sent from there
   * (module doc).
   */
  fromDevice(frame: Uint8Array, now: number): void {
    this.#stale = true;
    const c = this.counters;
    c.tap_rx_frames++;
    if (!this.#offload) {
      c.tap_rx_bytes += frame.length;
      return this.#toVpn(frame, now, this.#inPlace);
    }
    c.tap_rx_bytes += Math.max(0, frame.length - VNET_HDR_LEN);
    const h = this.#hdr;
    if (!readVnetHdr(frame, 0, h)) return this.#offloadDrop("short_vnet_header");
    if (this.#mat === null) {
      c.tx_not_registered++;
      return;
    }
    this.#txNow = now;
    this.#txGso = h.gsoType !== 0;
    if (this.#txGso) c.tap_rx_gso_frames++;
    const r = offloadFrame(frame.subarray(VNET_HDR_LEN), h, this.#scratch, this.#emit);
    if (r !== "ok") this.#offloadDrop(r);
    // A super-frame is up to 45 datagrams: send them now, in bursts the socket
    // buffers (ours, the peer's) take, not all at the end of a batch of them.
    if (this.#txGso) {
      this.#sendOut();
      if (this.#socket.flush() !== 0) this.tx.tx_errors++;
      this.#segUsed = 0; // sent: the segment slots are free again
    }
  }

  #toVpn(frame: Uint8Array, now: number, inPlace: boolean): void {
    const cap = this.#c.capture;
    if (cap?.on) cap.offer("tap", 0, frame, now);
    const mat = this.#mat;
    if (mat === null) {
      this.counters.tx_not_registered++;
      return;
    }
    const f = this.#c.filter;
    if (f !== undefined && f.egress.decide(frame, this.#nodeId, now) !== PASS) {
      this.counters.tx_filtered++;
      return;
    }
    if (mat.egress(frame, now) !== "forward") {
      this.counters.tx_mat_dropped++;
      return;
    }
    if (cap?.on) cap.offerPeer(frame, true, now); // before it is sealed, maybe in place
    this.core.sendFrame(frame, now, inPlace);
  }

  #offloadDrop(r: GsoReason): void {
    this.counters.tap_rx_offload_dropped++;
    this.offloadDropped[r] = (this.offloadDropped[r] ?? 0) + 1;
  }

  /** After a batch: events to the log, datagrams out (one flush), frames from peers to the TAP. */
  endBatch(now: number): void {
    this.#drain(now);
  }

  /** Runs due timers: the security layer's, the core's, leaf ageing, the periodic save. */
  poll(now: number): void {
    this.#stale = true;
    this.security?.poll(now, this.wall(now));
    this.#applyMove(now);
    this.core.poll(now);
    this.leaves.expire(now);
    if (now >= this.#saveAt) {
      this.#saveAt = now + this.#saveEvery!;
      this.#save();
    }
    this.#drain(now);
  }

  /** When `poll` next has work (cached until an entry point runs; see the module doc). */
  nextDeadline(): number {
    if (this.#stale) {
      this.#deadline = Math.min(
        this.core.nextDeadline(),
        this.security?.nextDeadline() ?? Infinity,
        this.leaves.nextDeadline(),
        this.#saveAt,
      );
      this.#stale = false;
    }
    return this.#deadline;
  }

  /**
   * Marks the cached deadline stale: call after changing the core, the
   * security layer or the leaf table other than through the engine.
   */
  deadlineMoved(): void {
    this.#stale = true;
  }

  /** SIGTERM: DEREGISTER, and a last save (when saving). */
  stop(now: number): void {
    this.#stale = true;
    this.core.deregister(now);
    this.#saveAt = Infinity;
    if (this.#saveEvery !== null) this.#save();
    this.#drain(now);
    this.#stopped = true;
  }

  /** True once `stop` ran (DEREGISTER is not acknowledged). */
  stopped(_now: number): boolean {
    return this.#stopped;
  }

  #save(): void {
    try {
      this.#c.save!();
    } catch (e) {
      this.counters.save_errors++;
      this.#c.onEvent?.({
        layer: "node",
        event: { type: "save_failed", error: (e as Error).message ?? String(e) },
      });
    }
  }

  /** Events (a `registered` one builds the translator first), datagrams out, frames to the TAP. */
  #drain(now: number): void {
    this.#events(now);
    this.#sendOut();
    if (this.#socket.flush() !== 0) this.tx.tx_errors++;
    this.#segUsed = 0; // sent: the segment slots are free again
    const frames = this.core.takeFrames();
    if (frames.length === 0) return;
    const d = this.#device;
    const c = this.counters;
    const gro = this.#coalescer;
    const cap = this.#c.capture;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      // One frame's failure (MAT ingress parses what peers send) drops that frame only.
      try {
        if (cap?.on) cap.offerPeer(f, false, now);
        const mat = this.#mat;
        if (mat === null || mat.ingress(f, now) !== "forward") {
          c.rx_mat_dropped++;
          continue;
        }
        if (cap?.on) cap.offer("tap", 0, f, now);
        if (gro !== null && gro.add(f) === "held") continue;
        if (d.write(f) !== 0) {
          c.tap_tx_errors++;
          continue;
        }
        c.tap_tx_frames++;
        c.tap_tx_bytes += f.length;
      } catch (e) {
        c.tap_tx_handler_errors++;
        const sink = this.#c.contain;
        if (!sink) throw e;
        sink("udp", e, f.length >= 12 ? `MAC ${formatMac(macAt(f, 6))}` : null);
      }
    }
    gro?.flush();
  }

  /** The layers' datagrams into the socket's batch (a TTL probe goes alone, in order). */
  #sendOut(): void {
    const sec = this.security;
    if (sec !== null) this.#send(sec.takeOutgoing());
    this.#send(this.core.takeOutgoing());
  }

  #send(out: Outgoing[]): void {
    const s = this.#socket, c = this.tx;
    for (let i = 0; i < out.length; i++) {
      const o = out[i];
      if (o.ttl !== undefined && this.#c.sendTtl) {
        if (s.flush() !== 0) c.tx_errors++;
        if (this.#c.sendTtl(o.bytes, o.to, o.ttl) !== 0) c.tx_errors++;
        else c.tx_datagrams++;
        continue;
      }
      // A packet sealed where the TAP read it goes from there (no copy) when the socket can.
      const r = o.borrowed === true && s.queueView !== undefined
        ? s.queueView(o.bytes, o.to)
        : s.queue(o.bytes, o.to);
      if (r !== 0) c.tx_errors++;
      else c.tx_datagrams++;
    }
  }

  #events(now: number): void {
    const c = this.core.takeEvents();
    const log = this.#c.onEvent;
    for (const event of c) {
      if (event.type === "registered") {
        this.#registered(event.supernodeId, event.nodeId);
        this.security?.registered(now);
      }
      log?.({ layer: "core", event });
      // The attached supernode fell silent: to the standby (federation).
      if (event.type === "supernode_silent" && this.security?.failover(now)) this.#applyMove(now);
    }
    const s = this.security?.takeEvents();
    if (s !== undefined && log) { for (const event of s) log({ layer: "security", event }); }
  }

  /** A move the security layer decided (failover, or back to the preferred supernode). */
  #applyMove(now: number): void {
    const to = this.security?.takeMove();
    if (to) this.core.moveTo(to, now);
  }

  #registered(supernode: number, node: number): void {
    this.#nodeId = node;
    const m = this.#mat;
    if (m !== null && m.prefix === matAddress(supernode, node, 0)) return;
    if (m !== null) this.#retire(m);
    this.#mat = new MatTranslator({ supernode, node, tapMac: this.tapMac, leaves: this.leaves });
  }

  #retire(m: MatTranslator): void {
    for (const dir of ["egress", "ingress"] as const) {
      for (const [k, v] of Object.entries(m.counters[dir]) as [MatVerdict, number][]) {
        if (v) this.#retired[dir][k] = (this.#retired[dir][k] ?? 0) + v;
      }
    }
  }

  /** A coalesced (or single) frame with its vnet header to the TAP. */
  #writeVnet(d: VnetFramePort, bytes: Uint8Array): void {
    const c = this.counters;
    if (d.writeVnet(bytes) !== 0) {
      c.tap_tx_errors++;
      return;
    }
    c.tap_tx_frames++;
    c.tap_tx_bytes += bytes.length - VNET_HDR_LEN;
  }

  /** MAT verdict counts, both directions, including replaced translators (non-zero only). */
  matCounters(): { egress: VerdictCounts; ingress: VerdictCounts; notes: Record<string, number> } {
    const out = {
      egress: { ...this.#retired.egress },
      ingress: { ...this.#retired.ingress },
      notes: {} as Record<string, number>,
    };
    const m = this.#mat;
    if (m) {
      for (const dir of ["egress", "ingress"] as const) {
        for (const [k, v] of Object.entries(m.counters[dir]) as [MatVerdict, number][]) {
          if (v) out[dir][k] = (out[dir][k] ?? 0) + v;
        }
      }
      for (const [k, v] of Object.entries(m.counters.notes)) if (v) out.notes[k] = v;
    }
    return out;
  }

  /** The state /status and /metrics show, at `now`: plain data copied out. */
  snapshot(now: number): NodeEngineSnapshot {
    const sec = this.security;
    const m = this.#mat;
    this.tx.endpoints = this.endpoints.size;
    this.tx.endpoint_table_rotations = this.endpoints.rotations;
    return {
      now,
      core: this.core.status(),
      peers: this.core.peers(),
      security: sec
        ? {
          status: sec.status(),
          sessions: sec.sessionList(now),
          supernodes: sec.supernodes(now),
          attachment: sec.attachment(),
        }
        : null,
      mat: {
        prefix: m ? m.prefix : null,
        leaves: this.leaves.snapshot(now),
        size: this.leaves.size,
        ...this.matCounters(),
      },
      counters: { ...this.counters },
      tx: { ...this.tx },
      offloadDropped: { ...this.offloadDropped },
      coalesce: this.#coalescer ? { ...this.#coalescer.counters } : null,
      filter: this.#c.filter?.snapshot() ?? null,
    };
  }
}
