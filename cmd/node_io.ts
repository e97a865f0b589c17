/**
 * Joins the sans-IO node engine (`NodeEngine`, core/vpn/node_engine.ts) to
 * its TAP (a `FrameDevice`), its UDP socket (`VpnSocket`, which contains a
 * datagram whose handling throws) and the log, without owning the event
 * loop (cmd/node.ts wires that):
 *
 * ```
 *   TAP --read--> [offload: vnet header, TSO cut] --> NodeEngine.fromDevice --> takeOutgoing --> UDP
 *   UDP --recv--> NodeEngine.receive --> takeFrames --> forDevice --> [offload: GRO] --> TAP write
 *   takeEvents() --> log lines, leaf table save
 * ```
 *
 * One frame's failure drops that frame only: each TAP frame (`fromDevice`,
 * or the segmenter) and each frame on its way to the TAP (`forDevice`, the
 * coalescer, the write) runs in its own try/catch that counts it and
 * reports it with its source MAC to the socket's sink (kit/contain.ts).
 *
 * With `offload` the TAP was opened with a vnet header and TSO
 * (`openTap({ vnetHdr: true })`): each read is a `virtio_net_hdr` and a
 * frame that may be a TCP segment up to 64 KiB with a partial checksum;
 * `offloadFrame` (core/gso.ts) cuts it into MTU-sized frames with complete
 * checksums, and each goes the usual way (`fromDevice`). Frames to the TAP
 * go through a `TcpCoalescer`: consecutive segments of a TCP flow are
 * written as one GSO frame (`writeVnet`), anything else plain (the device
 * adds a zero header).
 *
 * Frames read from a device with room around them (`rx.headroom` at least
 * `DATA_HEADROOM` and `rx.tailroom` at least `DATA_TAILROOM`: the TAP of
 * cmd/node.ts) go to the engine `inPlace`: a unicast frame is sealed where
 * it lies in the TAP's slot and sent from there (`VpnSocket.send` ->
 * `queueView`), no copy. That holds because every batch is drained (sent)
 * before the next `read()` reuses the slots. A TSO segment is cut into
 * `#scratch`, which the next segment reuses: it is copied once into a slot
 * of `segments` (an Arena with the same room, `SEGMENT_SLOTS` slots, free
 * again after each drain; cmd/node.ts lends it to the socket too) and
 * sealed there; when those are all in use it goes the copying way.
 *
 * Frames from the engine are consumed within the receive batch that carried
 * them (`#drain` right after it: MAT ingress rewrites in place, the
 * coalescer copies, the TAP write is synchronous), so the daemon builds the
 * core with `frameViews` (views into the socket's receive slots, no copy
 * per frame).
 *
 * Every drop is counted: MAT verdicts per direction, the core's send
 * results and `drop_*` reasons (`tx_too_big` for frames over the size the
 * underlay carries), TAP write failures, offload refusals by reason.
 * `snapshot(now)` joins the engine's snapshot with the TAP's, the offload
 * and the socket's state into a plain `NodeSnapshot`;
 * cmd/render/node_status.ts renders /status and /metrics from it.
 *
 * @module
 */
import type { LeafTable } from "../core/leaf_table.ts";
import { formatMac, macAt, type MacKey, matAddress } from "../core/mac.ts";
import type { MatTranslator } from "../core/mat.ts";
import type { NodeCore, NodeEvent } from "../core/vpn/node.ts";
import {
  NodeEngine,
  type NodeEngineCounters,
  type NodeEngineSnapshot,
  type SecureNodeStatus,
} from "../core/vpn/node_engine.ts";
import type { SecureNode } from "../core/vpn/secure_node.ts";
import type { SessionInfo } from "../core/vpn/session_keys.ts";
import {
  type CoalesceCounters,
  emptyVnetHdr,
  type GsoReason,
  offloadFrame,
  readVnetHdr,
  TcpCoalescer,
  VNET_HDR_LEN,
} from "../core/gso.ts";
import type { FrameDevice } from "../ffi/types.ts";
import type { TopicLogger } from "./kit/log.ts";
import type { SocketCounters, VpnSocket } from "./vpn_io.ts";
import { aeadImplementation, CIPHER, logNodeSecurity } from "./vpn_security.ts";
import { DATA_HEADROOM, DATA_TAILROOM } from "../core/vpn/messages.ts";
import { Arena } from "../ffi/libc.ts";

export type { NodeEngineCounters, SecureNodeStatus };

/** A TAP opened with a vnet header (`TapDevice` with `vnetHdr`), for `offload`. */
export interface OffloadDevice extends FrameDevice {
  /** Writes a vnet header and a frame as they are; 0 or the errno of a dropped frame. */
  writeVnet(bytes: Uint8Array): number;
}

/** What `NodeIo` is built from. */
export interface NodeIoOptions {
  socket: VpnSocket;
  /** With `offload`, an `OffloadDevice`. */
  device: FrameDevice | OffloadDevice;
  core: NodeCore;
  leaves: LeafTable;
  /** The TAP's own MAC (leaf 0). */
  tapMac: MacKey;
  log: TopicLogger;
  /** Local endpoints offered to peers (for /status). */
  locals?: string[];
  /** Saves the leaf table (called every `saveIntervalMs` and at stop). */
  save?: () => void;
  /** Default 60 000. */
  saveIntervalMs?: number;
  /** The security layer whose sealer `core` uses, and this node's public key. */
  security?: { layer: SecureNode; publicKey: Uint8Array };
  /**
   * The wall clock (ms since 1970) for HS_INIT timestamps, which must keep
   * increasing across restarts of the node. Default `Date.now`.
   */
  wallClock?: () => number;
  /**
   * The device reads a 10-byte virtio_net_hdr before each frame and may hand
   * over TSO super-frames (`openTap({ vnetHdr: true })`). Default false.
   */
  offload?: boolean;
}

/**
 * Slots for TSO segments sealed in place between two drains: a 64 KiB
 * super-frame of 1448-byte segments is 46 of them; smaller segments past
 * this many are copied the usual way.
 */
const SEGMENT_SLOTS = 64;

/** MAT verdict counts of one direction. */
type VerdictCounts = NodeEngineSnapshot["mat"]["egress"];

/** A node's state for /status and /metrics (`NodeIo.snapshot`): plain data. */
export interface NodeSnapshot {
  core: NodeEngineSnapshot["core"];
  peers: NodeEngineSnapshot["peers"];
  tap: { name: string; mac: MacKey; mtu: number; offload: boolean };
  /** Offload refusals by reason (non-zero only). */
  offloadDropped: Partial<Record<GsoReason, number>>;
  /** TAP write coalescing counters; null without offload. */
  coalesce: CoalesceCounters | null;
  localPort: number;
  /** Local endpoints offered to peers. */
  locals: string[];
  /** Null without the security layer (in-memory protocol tests). */
  security: {
    cipher: string;
    aead: string;
    status: SecureNodeStatus;
    sessions: SessionInfo[];
  } | null;
  mat: {
    /** The MAT prefix (leaf 0); null before the first registration. */
    prefix: MacKey | null;
    leaves: NodeEngineSnapshot["mat"]["leaves"];
    /** Leaf ids in use (`LeafTable.size`). */
    size: number;
    egress: VerdictCounts;
    ingress: VerdictCounts;
    notes: Record<string, number>;
  };
  counters: NodeEngineCounters;
  socket: SocketCounters;
}

/** The node engine on a TAP, a UDP socket and a log; see the module doc. */
export class NodeIo {
  readonly engine: NodeEngine;
  /** Offload refusals by reason (non-zero only). */
  readonly offloadDropped: Partial<Record<GsoReason, number>> = {};
  readonly #o: NodeIoOptions;
  readonly #wall: () => number;
  readonly #first = { supernode: false };
  readonly #offload: boolean;
  readonly #scratch: Uint8Array;
  /**
   * With offload and room: TSO segments sealed in place (module doc), one
   * per slot, `#segUsed` of them since the last drain. Null otherwise.
   */
  readonly segments: Arena | null = null;
  readonly #segSlots: Uint8Array[] = [];
  #segUsed = 0;
  /** The device's slots have room to seal a frame where it lies (module doc). */
  readonly #inPlace: boolean;
  readonly #hdr = emptyVnetHdr();
  #coalescer: TcpCoalescer | null = null;

  constructor(o: NodeIoOptions) {
    this.#o = o;
    this.#wall = o.wallClock ?? Date.now;
    this.engine = new NodeEngine({
      core: o.core,
      leaves: o.leaves,
      tapMac: o.tapMac,
      ...(o.security ? { security: o.security.layer } : {}),
      ...(o.save ? { saveIntervalMs: o.saveIntervalMs ?? 60_000 } : {}),
    });
    this.#offload = o.offload ?? false;
    const rx = o.device.rx;
    this.#inPlace = (rx.headroom ?? 0) >= DATA_HEADROOM && (rx.tailroom ?? 0) >= DATA_TAILROOM;
    // One segment: headers (Ethernet, tag, IP with options, TCP with options) plus an MSS.
    this.#scratch = this.#offload ? new Uint8Array(o.device.mtu + 256) : new Uint8Array(0);
    if (this.#offload && this.#inPlace) {
      const stride = DATA_HEADROOM + this.#scratch.length + DATA_TAILROOM;
      this.segments = new Arena(stride * SEGMENT_SLOTS);
      for (let i = 0; i < SEGMENT_SLOTS; i++) {
        const at = i * stride + DATA_HEADROOM;
        this.#segSlots.push(this.segments.u8.subarray(at, at + this.#scratch.length));
      }
    }
    if (this.#offload) {
      const d = o.device;
      if (!("writeVnet" in d)) throw new Error(`offload needs a vnet header TAP, not ${d.name}`);
      this.#coalescer = new TcpCoalescer((bytes) => this.#writeVnet(d, bytes));
    }
  }

  /** The engine's counters (the adapter bumps the `tap_*` ones). */
  get counters(): NodeEngineCounters {
    return this.engine.counters;
  }

  /** The translator, once registered. */
  get mat(): MatTranslator | null {
    return this.engine.mat;
  }

  /** Starts registering. */
  start(now: number): void {
    this.engine.start(now, this.#wall());
    this.#drain(now);
  }

  /** Handles one batch of TAP frames; returns how many (0: drained). */
  onDeviceReadable(now: number): number {
    const d = this.#o.device;
    this.engine.deadlineMoved();
    const n = d.read();
    if (n === 0) return 0;
    if (this.#offload) {
      this.#readOffloaded(n, now);
      this.#drain(now);
      return n;
    }
    const engine = this.engine;
    const c = engine.counters;
    const inPlace = this.#inPlace;
    for (let i = 0; i < n; i++) {
      const frame = d.rx.bufs[i].subarray(0, d.rx.lens[i]);
      c.tap_rx_frames++;
      c.tap_rx_bytes += frame.length;
      // One frame's failure drops that frame only (kit/contain.ts).
      try {
        engine.fromDevice(frame, now, inPlace);
      } catch (e) {
        this.#contained(e, frame);
      }
    }
    this.#drain(now);
    return n;
  }

  /** `now` of the TAP batch `#emit` is handling. */
  #txNow = 0;
  /** The TAP read being cut is a TSO super-frame. */
  #txGso = false;
  /** One wire-sized frame cut from a TAP read: to the engine (made once). */
  readonly #emit = (frame: Uint8Array): void => {
    if (this.#txGso) this.engine.counters.tap_rx_gso_segments++;
    if (!this.#inPlace) return this.engine.fromDevice(frame, this.#txNow);
    // A frame in the TAP's slot is sealed there; a segment in the scratch moves to a slot
    // of its own (the next segment reuses the scratch), while there is one free.
    if (frame.buffer !== this.#scratch.buffer) {
      return this.engine.fromDevice(frame, this.#txNow, true);
    }
    if (this.#segUsed === SEGMENT_SLOTS) return this.engine.fromDevice(frame, this.#txNow);
    const slot = this.#segSlots[this.#segUsed++].subarray(0, frame.length);
    slot.set(frame);
    this.engine.fromDevice(slot, this.#txNow, true);
  };

  /** `n` TAP reads, each a vnet header and a frame (maybe a TSO super-frame). */
  #readOffloaded(n: number, now: number): void {
    const rx = this.#o.device.rx;
    const c = this.engine.counters;
    const h = this.#hdr;
    this.#txNow = now;
    const registered = this.engine.mat !== null;
    for (let i = 0; i < n; i++) {
      const raw = rx.bufs[i].subarray(0, rx.lens[i]);
      c.tap_rx_frames++;
      c.tap_rx_bytes += Math.max(0, raw.length - VNET_HDR_LEN);
      if (!readVnetHdr(raw, 0, h)) {
        this.#offloadDrop("short_vnet_header");
        continue;
      }
      if (!registered) {
        c.tx_not_registered++;
        continue;
      }
      const frame = raw.subarray(VNET_HDR_LEN);
      this.#txGso = h.gsoType !== 0;
      if (this.#txGso) c.tap_rx_gso_frames++;
      let r: GsoReason | "ok";
      try {
        r = offloadFrame(frame, h, this.#scratch, this.#emit);
      } catch (e) {
        this.#contained(e, frame);
        continue;
      }
      if (r !== "ok") this.#offloadDrop(r);
      // A batch of super-frames is thousands of datagrams: send them in bursts the
      // socket buffers (ours, the peer's) take, not all at the end of the batch.
      if (this.#txGso && i < n - 1) this.#drain(now);
    }
  }

  #offloadDrop(r: GsoReason): void {
    this.engine.counters.tap_rx_offload_dropped++;
    this.offloadDropped[r] = (this.offloadDropped[r] ?? 0) + 1;
  }

  /**
   * A frame whose handling threw (read from the TAP, or from a peer on its
   * way to the TAP: `handler` "udp"): counted, dropped, reported with its
   * source MAC to the socket's sink (kit/contain.ts); rethrown without one.
   */
  #contained(e: unknown, frame: Uint8Array, handler: "tap" | "udp" = "tap"): void {
    if (handler === "tap") this.engine.counters.tap_rx_handler_errors++;
    else this.engine.counters.tap_tx_handler_errors++;
    const sink = this.#o.socket.contain;
    if (!sink) throw e;
    sink(handler, e, frame.length >= 12 ? `MAC ${formatMac(macAt(frame, 6))}` : null);
  }

  /** A coalesced (or single) frame with its vnet header to the TAP. */
  #writeVnet(d: OffloadDevice, bytes: Uint8Array): void {
    const c = this.engine.counters;
    if (d.writeVnet(bytes) !== 0) {
      c.tap_tx_errors++;
      return;
    }
    c.tap_tx_frames++;
    c.tap_tx_bytes += bytes.length - VNET_HDR_LEN;
  }

  /** Handles one batch of datagrams; returns how many (0: drained). */
  onSocketReadable(now: number): number {
    this.#rxNow = now;
    this.#rxWall = this.engine.security !== null ? this.#wall() : 0;
    const n = this.#o.socket.receive(this.#onDatagram);
    if (n > 0) this.#drain(now);
    return n;
  }

  /** `now` and wall-clock time of the batch `#onDatagram` is handling. */
  #rxNow = 0;
  #rxWall = 0;
  /** One datagram of a received batch, to the engine (made once). */
  readonly #onDatagram = (from: string, bytes: Uint8Array): void => {
    this.engine.receive(from, bytes, this.#rxNow, this.#rxWall);
  };

  /** Events to the log (a `registered` one builds the translator first), datagrams out, frames to the TAP. */
  #drain(now: number): void {
    const engine = this.engine;
    const events = engine.takeEvents();
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      if (ev.layer === "security") {
        logNodeSecurity(this.#o.log, ev.event, this.#o.security!.publicKey, this.#first);
      } else if (ev.layer === "core") this.#event(ev.event);
      else this.#save();
    }
    this.#o.socket.send(engine.takeOutgoing());
    this.#segUsed = 0; // sent: the segment slots are free again
    const frames = engine.takeFrames();
    if (frames.length === 0) return;
    const d = this.#o.device;
    const c = engine.counters;
    const gro = this.#coalescer;
    for (const f of frames) {
      // One frame's failure (MAT ingress parses what peers send) drops that frame only.
      try {
        if (!engine.forDevice(f, now)) continue;
        if (gro !== null && gro.add(f) === "held") continue;
        if (d.write(f) !== 0) {
          c.tap_tx_errors++;
          continue;
        }
        c.tap_tx_frames++;
        c.tap_tx_bytes += f.length;
      } catch (e) {
        this.#contained(e, f, "udp");
      }
    }
    gro?.flush();
  }

  #event(ev: NodeEvent): void {
    const log = this.#o.log;
    switch (ev.type) {
      case "registered": {
        log.info(
          `registered as node ${ev.nodeId} with supernode id ${ev.supernodeId}, seen as ${ev.observed}`,
          {
            network: ev.network,
            mat: formatMac(matAddress(ev.supernodeId, ev.nodeId, 0)),
            supernode_restarted: ev.supernodeRestarted,
          },
        );
        break;
      }
      case "refused":
        log.warn(`the supernode refused node id ${ev.requested}: ${ev.text}`, {
          reason: ev.reason,
        });
        break;
      case "reregistering":
        log.warn(`registering again: ${ev.cause.replaceAll("_", " ")}`, { retry_s: ev.retryS });
        break;
      case "path":
        log.info(
          `path to node ${ev.peer} is ${ev.path} via ${ev.endpoint} (${
            ev.cause.replace("_", " ")
          })`,
          { rtt_ms: ev.rttMs },
        );
        break;
      case "frame_too_big":
        log.warn(
          `frames larger than ${ev.max} bytes do not fit the underlay and are dropped ` +
            `(${ev.count} so far; last ${ev.length} bytes): lower the TAP MTU`,
        );
        break;
      case "deregistered":
        log.info(`deregistered node ${ev.nodeId}`);
        break;
    }
  }

  #save(): void {
    if (!this.#o.save) return;
    try {
      this.#o.save();
    } catch (e) {
      this.engine.counters.save_errors++;
      this.#o.log.limited("save", "error", `cannot save the leaf table: ${(e as Error).message}`);
    }
  }

  /** Runs due timers: the engine's (core, security layer, leaf ageing, the periodic save). */
  poll(now: number): void {
    this.engine.poll(now, this.#wall());
    this.#drain(now);
  }

  /** When `poll` next has work (cached in the engine; see core/vpn/node_engine.ts). */
  nextDeadline(): number {
    return this.engine.nextDeadline();
  }

  /**
   * Marks the cached deadline stale: call after changing the core, the
   * security layer or the leaf table other than through the engine.
   */
  deadlineMoved(): void {
    this.engine.deadlineMoved();
  }

  /** SIGTERM: DEREGISTER, then saves the leaf table. */
  stop(now: number): void {
    this.engine.stop(now);
    this.#drain(now);
  }

  /**
   * What /status and /metrics show (cmd/render/node_status.ts renders it):
   * the engine's snapshot with the TAP's, the offload's and the socket's state.
   */
  snapshot(now: number): NodeSnapshot {
    const e = this.engine.snapshot(now);
    const d = this.#o.device;
    return {
      core: e.core,
      peers: e.peers,
      tap: { name: d.name, mac: this.#o.tapMac, mtu: d.mtu, offload: this.#offload },
      offloadDropped: { ...this.offloadDropped },
      coalesce: this.#coalescer ? { ...this.#coalescer.counters } : null,
      localPort: this.#o.socket.transport.local.port,
      locals: this.#o.locals ?? [],
      security: e.security ? { cipher: CIPHER, aead: aeadImplementation(), ...e.security } : null,
      mat: e.mat,
      counters: e.counters,
      socket: { ...this.#o.socket.counters },
    };
  }
}
