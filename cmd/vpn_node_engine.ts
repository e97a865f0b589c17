/**
 * `l2 node` without the event loop: joins `NodeCore` (core/vpn/node.ts) to a
 * UDP socket and a `FrameDevice` (the TAP), with MAC Address Translation
 * (`MatTranslator`, core/mat.ts) between the TAP side and the VPN.
 *
 * ```
 *   TAP --read--> MAT egress --> NodeCore.sendFrame --> takeOutgoing --> UDP
 *   UDP --recv--> NodeCore.receive --> takeFrames --> MAT ingress --> TAP write
 * ```
 *
 * The translator needs the supernode id and the node id, which the node
 * learns at registration: until the first `registered` event, frames from
 * the TAP are dropped and counted (`tx_not_registered`). A registration
 * with other ids (a new supernode id, another auto id) builds a new
 * translator on the same leaf table, so leaf ids stay.
 *
 * With `security` (`SecureNode`, core/vpn/secure_node.ts) every datagram
 * passes the security layer first and only what it does not consume reaches
 * the core, which seals and opens with the layer's sealer; the layer's
 * handshakes go out with the core's datagrams. Without it (in-memory tests
 * of the protocol only) the core must have been built with `NullSealer`.
 *
 * With `offload` the TAP was opened with a vnet header and TSO
 * (`openTap({ vnetHdr: true })`): each read is a `virtio_net_hdr` and a
 * frame that may be a TCP segment up to 64 KiB with a partial checksum;
 * `offloadFrame` (core/gso.ts) cuts it into MTU-sized frames with complete
 * checksums, and each goes the usual way (MAT egress, `sendFrame`). Frames
 * to the TAP go through a `TcpCoalescer`: consecutive segments of a TCP
 * flow are written as one GSO frame (`writeVnet`), anything else plain
 * (the device adds a zero header).
 *
 * `nextDeadline()` is cached: every entry point that can move a timer
 * (`start`, `onDeviceReadable`, `onSocketReadable`, `poll`, `stop`,
 * `snapshot`) marks it stale, and so must a caller that changes the
 * core, the security layer or the leaf table behind the engine's back
 * (`deadlineMoved()`, e.g. after re-reading the pin file). An idle wakeup
 * (the event loop's once-per-slice yield, a poll timeout) then costs no walk
 * of the peers, sessions and attempts.
 *
 * Frames from the core are consumed within the receive batch that carried
 * them (`#drain` right after it: MAT ingress rewrites in place, the
 * coalescer copies, the TAP write is synchronous), so the daemon builds the
 * core with `frameViews` (views into the socket's receive slots, no copy
 * per frame).
 *
 * Every drop is counted: MAT verdicts per direction, the core's send
 * results and `drop_*` reasons (`tx_too_big` for frames over the size the
 * underlay carries), TAP write failures, offload refusals by reason.
 *
 * `snapshot(now)` copies all of it, with the core's, the security layer's
 * and the socket's state, into a plain `NodeSnapshot`;
 * cmd/render/node_status.ts renders /status and /metrics from it.
 *
 * @module
 */
import { MatTranslator, type MatVerdict } from "../core/mat.ts";
import type { LeafTable, LeafTableSnapshot } from "../core/leaf_table.ts";
import { formatMac, macAt, type MacKey, matAddress } from "../core/mac.ts";
import type { NodeCore, NodeEvent, NodeStatus } from "../core/vpn/node.ts";
import type { PeerStatus } from "../core/vpn/peer.ts";
import type { SessionInfo } from "../core/vpn/session_keys.ts";
import type { FrameDevice } from "../ffi/types.ts";

/** A TAP opened with a vnet header (`TapDevice` with `vnetHdr`), for `offload`. */
export interface OffloadDevice extends FrameDevice {
  /** Writes a vnet header and a frame as they are; 0 or the errno of a dropped frame. */
  writeVnet(bytes: Uint8Array): number;
}
import type { TopicLogger } from "./kit/log.ts";
import type { SocketCounters, VpnSocket } from "./vpn_io.ts";
import type { SecureNode } from "../core/vpn/secure_node.ts";
import { aeadImplementation, CIPHER, logNodeSecurity } from "./vpn_security.ts";
import {
  type CoalesceCounters,
  emptyVnetHdr,
  type GsoReason,
  offloadFrame,
  readVnetHdr,
  TcpCoalescer,
  VNET_HDR_LEN,
} from "../core/gso.ts";

/** What the engine is built from. */
export interface NodeEngineOptions {
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

/** Engine counters (the core and MAT keep their own). */
export interface NodeEngineCounters {
  /** Frames read from the TAP. */
  tap_rx_frames: number;
  tap_rx_bytes: number;
  /** TAP frames whose handling threw: dropped, contained (kit/contain.ts). */
  tap_rx_handler_errors: number;
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
  /** VPN frames MAT ingress dropped (by verdict in `mat.ingress`). */
  rx_mat_dropped: number;
  /** Leaf table saves that failed. */
  save_errors: number;
  /** With offload: TAP reads that were TSO super-frames. */
  tap_rx_gso_frames: number;
  /** With offload: frames the super-frames were cut into. */
  tap_rx_gso_segments: number;
  /** With offload: TAP reads refused by the segmenter (by reason in `offload_dropped`). */
  tap_rx_offload_dropped: number;
}

type VerdictCounts = Partial<Record<MatVerdict, number>>;

/** A node's state for /status and /metrics (`NodeEngine.snapshot`): plain data. */
export interface NodeSnapshot {
  core: NodeStatus;
  peers: PeerStatus[];
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
    leaves: LeafTableSnapshot;
    /** Leaf ids in use (`LeafTable.size`). */
    size: number;
    egress: VerdictCounts;
    ingress: VerdictCounts;
    notes: Record<string, number>;
  };
  counters: NodeEngineCounters;
  socket: SocketCounters;
}

/** `SecureNode.status()`. */
export type SecureNodeStatus = ReturnType<SecureNode["status"]>;

/** The node engine; see the module doc. */
export class NodeEngine {
  readonly counters: NodeEngineCounters = {
    tap_rx_frames: 0,
    tap_rx_bytes: 0,
    tap_rx_handler_errors: 0,
    tap_tx_handler_errors: 0,
    tap_tx_frames: 0,
    tap_tx_bytes: 0,
    tap_tx_errors: 0,
    tx_not_registered: 0,
    tx_mat_dropped: 0,
    rx_mat_dropped: 0,
    save_errors: 0,
    tap_rx_gso_frames: 0,
    tap_rx_gso_segments: 0,
    tap_rx_offload_dropped: 0,
  };
  /** Offload refusals by reason (non-zero only). */
  readonly offloadDropped: Partial<Record<GsoReason, number>> = {};
  readonly #o: NodeEngineOptions;
  #mat: MatTranslator | null = null;
  /** MAT verdict counts of translators replaced by a new registration. */
  readonly #retired = { egress: {} as VerdictCounts, ingress: {} as VerdictCounts };
  #saveAt: number;
  readonly #saveEvery: number;
  readonly #sec: SecureNode | null;
  readonly #wall: () => number;
  readonly #first = { supernode: false };

  constructor(o: NodeEngineOptions) {
    this.#o = o;
    this.#saveEvery = o.saveIntervalMs ?? 60_000;
    this.#saveAt = o.save ? 0 : Infinity;
    this.#sec = o.security?.layer ?? null;
    this.#wall = o.wallClock ?? Date.now;
    this.#offload = o.offload ?? false;
    // One segment: headers (Ethernet, tag, IP with options, TCP with options) plus an MSS.
    this.#scratch = this.#offload ? new Uint8Array(o.device.mtu + 256) : new Uint8Array(0);
    if (this.#offload) {
      const d = o.device;
      if (!("writeVnet" in d)) throw new Error(`offload needs a vnet header TAP, not ${d.name}`);
      this.#coalescer = new TcpCoalescer((bytes) => this.#writeVnet(d, bytes));
    }
  }

  #coalescer: TcpCoalescer | null = null;

  /** A coalesced (or single) frame with its vnet header to the TAP. */
  #writeVnet(d: OffloadDevice, bytes: Uint8Array): void {
    const c = this.counters;
    if (d.writeVnet(bytes) !== 0) {
      c.tap_tx_errors++;
      return;
    }
    c.tap_tx_frames++;
    c.tap_tx_bytes += bytes.length - VNET_HDR_LEN;
  }

  readonly #offload: boolean;
  readonly #scratch: Uint8Array;
  readonly #hdr = emptyVnetHdr();
  /** `now` and translator of the TAP batch `#emit` is handling. */
  #txNow = 0;
  #txMat: MatTranslator | null = null;
  /** The TAP read being cut is a TSO super-frame. */
  #txGso = false;
  /** One wire-sized frame cut from a TAP read: MAT egress, then the core (made once). */
  readonly #emit = (frame: Uint8Array): void => {
    if (this.#txGso) this.counters.tap_rx_gso_segments++;
    if (this.#txMat!.egress(frame, this.#txNow) !== "forward") {
      this.counters.tx_mat_dropped++;
      return;
    }
    this.#o.core.sendFrame(frame, this.#txNow);
  };

  /** The translator, once registered. */
  get mat(): MatTranslator | null {
    return this.#mat;
  }

  /** Starts registering. */
  start(now: number): void {
    this.#stale = true;
    this.#sec?.start(now, this.#wall());
    this.#o.core.start(now);
    this.#saveAt = this.#o.save ? now + this.#saveEvery : Infinity;
    this.#drain(now);
  }

  /** Handles one batch of TAP frames; returns how many (0: drained). */
  onDeviceReadable(now: number): number {
    const d = this.#o.device;
    this.#stale = true;
    const n = d.read();
    if (n === 0) return 0;
    const core = this.#o.core;
    const mat = this.#mat;
    const c = this.counters;
    if (this.#offload) {
      this.#readOffloaded(n, now);
      this.#drain(now);
      return n;
    }
    for (let i = 0; i < n; i++) {
      const frame = d.rx.bufs[i].subarray(0, d.rx.lens[i]);
      c.tap_rx_frames++;
      c.tap_rx_bytes += frame.length;
      if (!mat) {
        c.tx_not_registered++;
        continue;
      }
      // One frame's failure drops that frame only (kit/contain.ts).
      try {
        if (mat.egress(frame, now) !== "forward") {
          c.tx_mat_dropped++;
          continue;
        }
        core.sendFrame(frame, now);
      } catch (e) {
        this.#contained(e, frame);
      }
    }
    this.#drain(now);
    return n;
  }

  /** `n` TAP reads, each a vnet header and a frame (maybe a TSO super-frame). */
  #readOffloaded(n: number, now: number): void {
    const rx = this.#o.device.rx;
    const c = this.counters;
    const h = this.#hdr;
    this.#txNow = now;
    this.#txMat = this.#mat;
    for (let i = 0; i < n; i++) {
      const raw = rx.bufs[i].subarray(0, rx.lens[i]);
      c.tap_rx_frames++;
      c.tap_rx_bytes += Math.max(0, raw.length - VNET_HDR_LEN);
      if (!readVnetHdr(raw, 0, h)) {
        this.#offloadDrop("short_vnet_header");
        continue;
      }
      if (!this.#txMat) {
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

  /**
   * A frame whose handling threw (read from the TAP, or from a peer on its
   * way to the TAP: `handler` "udp"): counted, dropped, reported with its
   * source MAC to the socket's sink (kit/contain.ts); rethrown without one.
   */
  #contained(e: unknown, frame: Uint8Array, handler: "tap" | "udp" = "tap"): void {
    if (handler === "tap") this.counters.tap_rx_handler_errors++;
    else this.counters.tap_tx_handler_errors++;
    const sink = this.#o.socket.contain;
    if (!sink) throw e;
    sink(handler, e, frame.length >= 12 ? `MAC ${formatMac(macAt(frame, 6))}` : null);
  }

  #offloadDrop(r: GsoReason): void {
    this.counters.tap_rx_offload_dropped++;
    this.offloadDropped[r] = (this.offloadDropped[r] ?? 0) + 1;
  }

  /** Handles one batch of datagrams; returns how many (0: drained). */
  onSocketReadable(now: number): number {
    this.#rxNow = now;
    this.#rxWall = this.#sec !== null ? this.#wall() : 0;
    this.#stale = true;
    const n = this.#o.socket.receive(this.#onDatagram);
    if (n > 0) this.#drain(now);
    return n;
  }

  /** `now` and wall-clock time of the batch `#onDatagram` is handling. */
  #rxNow = 0;
  #rxWall = 0;
  /** One datagram of a received batch: the security layer first, then the core (made once). */
  readonly #onDatagram = (from: string, bytes: Uint8Array): void => {
    const now = this.#rxNow;
    const sec = this.#sec;
    if (sec === null || sec.receive(from, bytes, now, this.#rxWall) === "core") {
      this.#o.core.receive(from, bytes, now);
    }
  };

  #drain(now: number): void {
    const core = this.#o.core;
    const sec = this.#sec;
    if (sec) {
      this.#o.socket.send(sec.takeOutgoing());
      const self = this.#o.security!.publicKey;
      for (const ev of sec.takeEvents()) logNodeSecurity(this.#o.log, ev, self, this.#first);
    }
    for (const ev of core.takeEvents()) this.#event(ev, now);
    this.#o.socket.send(core.takeOutgoing());
    const frames = core.takeFrames();
    if (frames.length === 0) return;
    const mat = this.#mat;
    const d = this.#o.device;
    const c = this.counters;
    const gro = this.#coalescer;
    for (const f of frames) {
      // One frame's failure (MAT ingress parses what peers send) drops that frame only.
      try {
        if (!mat || mat.ingress(f, now) !== "forward") {
          c.rx_mat_dropped++;
          continue;
        }
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

  #event(ev: NodeEvent, now: number): void {
    const log = this.#o.log;
    switch (ev.type) {
      case "registered": {
        const m = this.#mat;
        const prefix = matAddress(ev.supernodeId, ev.nodeId, 0);
        if (!m || m.prefix !== prefix) {
          if (m) this.#retire(m);
          this.#mat = new MatTranslator({
            supernode: ev.supernodeId,
            node: ev.nodeId,
            tapMac: this.#o.tapMac,
            leaves: this.#o.leaves,
          });
        }
        log.info(
          `registered as node ${ev.nodeId} with supernode id ${ev.supernodeId}, seen as ${ev.observed}`,
          {
            network: ev.network,
            mat: formatMac(prefix),
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
    void now;
  }

  #retire(m: MatTranslator): void {
    for (const dir of ["egress", "ingress"] as const) {
      for (const [k, v] of Object.entries(m.counters[dir]) as [MatVerdict, number][]) {
        if (v) this.#retired[dir][k] = (this.#retired[dir][k] ?? 0) + v;
      }
    }
  }

  /** Runs due timers: the core's, leaf ageing, the periodic save. */
  poll(now: number): void {
    this.#stale = true;
    this.#sec?.poll(now, this.#wall());
    this.#o.core.poll(now);
    this.#o.leaves.expire(now);
    if (now >= this.#saveAt) {
      this.#save();
      this.#saveAt = now + this.#saveEvery;
    }
    this.#drain(now);
  }

  #save(): void {
    if (!this.#o.save) return;
    try {
      this.#o.save();
    } catch (e) {
      this.counters.save_errors++;
      this.#o.log.limited("save", "error", `cannot save the leaf table: ${(e as Error).message}`);
    }
  }

  /** When `poll` next has work (cached until an entry point runs; see the module doc). */
  nextDeadline(): number {
    if (this.#stale) {
      this.#deadline = Math.min(
        this.#o.core.nextDeadline(),
        this.#sec?.nextDeadline() ?? Infinity,
        this.#o.leaves.nextDeadline(),
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

  /** The last `nextDeadline()` result, until `#stale`. */
  #deadline = Infinity;
  #stale = true;

  /** SIGTERM: DEREGISTER, then saves the leaf table. */
  stop(now: number): void {
    this.#stale = true;
    this.#o.core.deregister(now);
    this.#drain(now);
    this.#save();
    this.#saveAt = Infinity;
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

  /**
   * What /status and /metrics show (cmd/render/node_status.ts renders it):
   * plain data copied out of the core, the security layer, MAT and the
   * socket at `now`.
   */
  snapshot(now: number): NodeSnapshot {
    this.#stale = true; // reads only, as far as known; cheap insurance
    const core = this.#o.core;
    const m = this.#mat;
    const sec = this.#sec;
    const d = this.#o.device;
    return {
      core: core.status(),
      peers: core.peers(),
      tap: { name: d.name, mac: this.#o.tapMac, mtu: d.mtu, offload: this.#offload },
      offloadDropped: { ...this.offloadDropped },
      coalesce: this.#coalescer ? { ...this.#coalescer.counters } : null,
      localPort: this.#o.socket.transport.local.port,
      locals: this.#o.locals ?? [],
      security: sec
        ? {
          cipher: CIPHER,
          aead: aeadImplementation(),
          status: sec.status(),
          sessions: sec.sessionList(now),
        }
        : null,
      mat: {
        prefix: m ? m.prefix : null,
        leaves: this.#o.leaves.snapshot(now),
        size: this.#o.leaves.size,
        ...this.matCounters(),
      },
      counters: { ...this.counters },
      socket: { ...this.#o.socket.counters },
    };
  }
}
