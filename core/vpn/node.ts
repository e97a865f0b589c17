/**
 * `NodeCore`: the sans-IO edge node of the `l2` VPN (`l2 node`). It keeps
 * its registration with the supernode alive, moves Ethernet frames between
 * the TAP side (already MAT-translated by `core/mat.ts`) and the network,
 * and keeps one `Peer` (direct or relayed path) per remote node it talks to.
 *
 * ```
 *   TAP --frame--> sendFrame(frame, now)         takeFrames() --> TAP
 *   socket --(from, bytes)--> receive(from, bytes, now)
 *   takeOutgoing() --> socket     takeEvents() --> log
 *   timer at nextDeadline() --> poll(now)      SIGTERM --> deregister(now)
 * ```
 *
 * Registration state machine (`Registration`, node_registration.ts;
 * docs/protocol.md has the diagram):
 * - `registering`: REGISTER now, then after 1, 2, 4, 8, 8 ... s (back-off
 *   `registerRetryMinMs` doubling to `registerRetryMaxMs`, jittered down);
 * - `registered` on REGISTER_ACK: KEEPALIVE every interval the supernode
 *   gave (8 s by default); no KEEPALIVE_ACK within `keepaliveAckTimeoutMs`,
 *   NAK `not_registered` (the supernode restarted), or GOING_AWAY (the
 *   supernode stops) -> `registering`, asking for the same id;
 * - `refused` on any other NAK (the reason is an event): REGISTER again
 *   every `refusedRetryMs`;
 * - `stopped` after `deregister`.
 * Direct peer paths do not depend on the supernode: they keep working
 * while the node re-registers.
 *
 * Data: with a `PeerDirectory` (the security layer), a frame to a group
 * address goes to every other node of the network as its own end-to-end
 * sealed copy, over each peer's current path (direct or through the
 * supernode; a broadcast alone never starts hole punching); without one
 * (protocol tests with `NullSealer`), to the supernode with receiver 0xffff.
 * A frame for a peer without a session yet is held (at most `maxHeldFrames`
 * per peer, `holdMs`) and sent as soon as the directory reports the session
 * ready; a broadcast sent before the directory knows the other nodes waits
 * in the directory (`holdBroadcast`) and is fanned out when it does.
 * Unicast goes to the node that the MAT destination's BBBB names, directly
 * when its path is direct, else through the supernode, asking the supernode
 * for an introduction (PEER_REQUEST) so both sides can punch. Frames larger
 * than `maxFrame(underlayMtu, ipVersion)` are counted (`tx_too_big`) and
 * reported, never silently lost.
 *
 * Bounded: peers (`maxPeers`, least recently used evicted, idle ones
 * forgotten), frames for the TAP (`maxFrames`), outgoing and event queues
 * (`maxBacklog`), held frames (`maxHeldFrames` for each of at most
 * `maxPeers` peers, `holdMs`).
 *
 * Security sits behind `Sealer` and `PeerDirectory` (sealer.ts). In the
 * daemon they are `SecureSealer` and `SecureNode` (secure_sealer.ts,
 * secure_node.ts; docs/security.md): every packet this core sends or takes
 * is sealed with an AEAD session from a Noise IKpsk1 handshake (the
 * handshakes themselves never reach it), control messages under the node's
 * session with the supernode, DATA end to end under the session with the
 * peer, which the supernode relaying it cannot open. So a packet naming a
 * peer as sender is accepted only when it opens under that peer's session
 * with a counter not seen before, from whatever address it came (the
 * address decides only the path: a direct path changes on a probe echo); a
 * packet naming the supernode as sender must also come from its address.
 * With `NullSealer` (protocol tests) nothing is authenticated.
 *
 * Several supernodes (docs/federation.md): with `silentMs` the node sends
 * KEEPALIVE every `keepaliveIntervalMs` and, after `silentMs` without an
 * answer (or without a REGISTER_ACK while registering), emits
 * `supernode_silent`; its owner (the engine, asking the security layer for
 * a supernode with a ready session) calls `moveTo`, which registers there
 * at once. Peers, their paths and held frames do not move; relayed packets
 * go to the new supernode. The AA of the first REGISTER_ACK (`allocator`)
 * is kept and a later one that differs is an `allocator_changed` event.
 *
 * Not done: path MTU discovery.
 *
 * @module
 */
import {
  BROADCAST_ID,
  DEFAULT_NETWORK,
  HEADER_LENGTH,
  IDENTITY_LENGTH,
  MAX_NODE_ID,
  maxFrame,
  MIN_FRAME,
  MIN_NODE_ID,
  MsgType,
  SUPERNODE_ID,
} from "./constants.ts";
import { Backlog, Counters, type Outgoing } from "./backlog.ts";
import type { NodeConfig, NodeEvent, NodeStatus, SendResult } from "./node_types.ts";
import { EndpointTable, formatEndpoint, type KeyedEndpoint } from "../addr.ts";
import { networkOf, receiverOf, senderOf, typeOf } from "./header.ts";
import { encodeDataPacket, encodePacket, type Message, openPacket, parseBody } from "./messages.ts";
import { Peer, PEER_TIMERS, type PeerStatus, type PeerTimers } from "./peer.ts";
import type { PeerDirectory } from "./sealer.ts";
import { isGroup, matNodeOf, matSupernodeOf } from "../mac.ts";
import { EthernetFrame } from "../wire/ethernet.ts";
import { Registration } from "./node_registration.ts";

export type { NodeConfig, NodeEvent, NodeStatus, RegState, SendResult } from "./node_types.ts";

/**
 * The node protocol engine.
 *
 * @example
 * ```ts
 * import { NodeCore } from "./node.ts";
 * import { NullSealer } from "./sealer.ts";
 * import { keyedEndpoint } from "../addr.ts";
 * const node = new NodeCore({
 *   supernode: keyedEndpoint("198.51.100.1:7654"),
 *   identity: new Uint8Array(32), // keep it on disk: it keeps the auto id
 *   sealer: new NullSealer(),
 *   random: () => 0.5, // the daemon injects a real uniform source
 * });
 * node.start(0);
 * node.takeOutgoing(); // [{ to: { ip, port: 7654, key: "198.51.100.1:7654" }, bytes: <REGISTER> }]
 * node.nextDeadline(); // about 1000: the next REGISTER unless an ACK comes
 * ```
 */
export class NodeCore {
  private readonly endpoints: EndpointTable;
  private readonly network: number;
  private readonly t: PeerTimers;
  private readonly cfg: Required<
    Omit<
      NodeConfig,
      | "nodeId"
      | "network"
      | "timers"
      | "directory"
      | "endpoints"
      | "localEndpoints"
      | "supernode"
      | "keepaliveIntervalMs"
      | "silentMs"
      | "allocator"
    >
  >;
  private readonly dir: PeerDirectory | undefined;
  /** Registration with the supernode (node_registration.ts). */
  private readonly reg: Registration;
  /** Frames waiting for a peer's session, by peer. Bound: maxPeers x maxHeldFrames, holdMs. */
  private readonly held = new Map<number, { at: number; frames: Uint8Array[] }>();
  private readonly frameLimit: number;
  private tooBig = 0;
  private tooBigReportedAt = -Infinity;
  /** At most `maxPeers`; least recently used evicted, idle ones forgotten. */
  private readonly peerTable = new Map<number, Peer>();
  private readonly frames: Backlog<Uint8Array>;
  private readonly out: Backlog<Outgoing>;
  private readonly events: Backlog<NodeEvent>;
  private readonly counters = new Counters();
  /** The view `sendFrame` reads each frame's Ethernet header through. */
  private readonly eth = new EthernetFrame();

  /** Throws on a configuration error (not on the data path). */
  constructor(config: NodeConfig) {
    this.endpoints = config.endpoints ?? new EndpointTable();
    const sn = this.endpoints.of(config.supernode);
    if (config.identity.length !== IDENTITY_LENGTH) {
      throw new Error(`Cannot use node identity: expected ${IDENTITY_LENGTH} bytes`);
    }
    const locals: string[] = [];
    for (const l of config.localEndpoints ?? []) {
      if (locals.length < 4) locals.push(formatEndpoint(l));
    }
    const id = config.nodeId ?? "auto";
    if (id !== "auto" && !(Number.isInteger(id) && id >= MIN_NODE_ID && id <= MAX_NODE_ID)) {
      throw new Error(`Cannot use node id ${id}: expected 1..65534 or auto`);
    }
    this.network = config.network ?? DEFAULT_NETWORK;
    this.t = { ...PEER_TIMERS, ...config.timers };
    this.cfg = {
      maxPeers: 256,
      registerRetryMinMs: 1000,
      registerRetryMaxMs: 8000,
      keepaliveAckTimeoutMs: 3000,
      refusedRetryMs: 30_000,
      underlayMtu: 1500,
      ipVersion: 6,
      maxFrames: 4096,
      frameViews: false,
      admitFrame: null,
      maxBacklog: 65_536,
      holdMs: 5000,
      maxHeldFrames: 16,
      punchTtl: 2,
      ...config,
      identity: config.identity.slice(),
    };
    this.frameLimit = maxFrame(this.cfg.underlayMtu, this.cfg.ipVersion);
    if (config.silentMs !== undefined) this.cfg.keepaliveAckTimeoutMs = config.silentMs;
    this.dir = config.directory;
    this.reg = new Registration({
      supernode: sn,
      network: this.network,
      auto: id === "auto",
      nodeId: id !== "auto" ? id : 0,
      locals,
      keepaliveIntervalMs: config.keepaliveIntervalMs,
      silentMs: config.silentMs,
      allocator: config.allocator ?? -1,
      kaSeq: this.randomU32(),
    }, {
      cfg: this.cfg,
      endpoints: this.endpoints,
      counters: this.counters,
      send: (to, receiver, m, now) => this.send(to, receiver, m, now),
      emit: (ev) => this.emit(ev),
      poll: (now) => this.poll(now),
    });
    this.frames = new Backlog(this.cfg.maxFrames);
    this.out = new Backlog(this.cfg.maxBacklog);
    this.events = new Backlog(this.cfg.maxBacklog);
  }

  private randomU32(): number {
    return Math.floor(this.cfg.random() * 0x1_0000_0000) >>> 0;
  }

  private send(to: KeyedEndpoint, receiver: number, m: Message, now: number, ttl = 0): boolean {
    return this.sendWhy(to, receiver, m, now, ttl) === "ok";
  }

  /** Like `send`, with the reason a packet could not be made. */
  private sendWhy(to: KeyedEndpoint, receiver: number, m: Message, now: number, ttl = 0): string {
    const relay = to.key === this.reg.supernode.key && receiver !== SUPERNODE_ID;
    const r = encodePacket(
      { network: this.network, sender: this.reg.nodeId, receiver, relay },
      m,
      this.cfg.sealer,
      now,
    );
    if (!r.ok) {
      this.counters.add(`tx_${r.reason}`);
      return r.reason;
    }
    const o: Outgoing = ttl > 0 ? { to, bytes: r.packet, ttl } : { to, bytes: r.packet };
    return this.out.push(o) ? "ok" : "backlog_full";
  }

  /**
   * `sendWhy` for one DATA frame, without a message object (the hot path);
   * `inPlace`: sealed in the frame's own buffer (see `sendFrame`).
   */
  private sendFrameTo(
    to: KeyedEndpoint,
    receiver: number,
    frame: Uint8Array,
    now: number,
    inPlace = false,
  ): string {
    const relay = to.key === this.reg.supernode.key && receiver !== SUPERNODE_ID;
    const r = encodeDataPacket(
      this.network,
      this.reg.nodeId,
      receiver,
      relay,
      frame,
      this.cfg.sealer,
      now,
      inPlace,
    );
    if (typeof r === "string") {
      this.counters.add(`tx_${r}`);
      return r;
    }
    const o: Outgoing = r.buffer === frame.buffer
      ? { to, bytes: r, borrowed: true }
      : { to, bytes: r };
    return this.out.push(o) ? "ok" : "backlog_full";
  }

  /**
   * One DATA frame to `node` over `to`; held (a copy) for the peer's session
   * when there is none yet (with a directory).
   */
  private sendData(
    to: KeyedEndpoint,
    node: number,
    frame: Uint8Array,
    now: number,
    inPlace = false,
  ): void {
    if (this.sendFrameTo(to, node, frame, now, inPlace) !== "no_session" || !this.dir) return;
    let h = this.held.get(node);
    if (h === undefined) {
      if (this.held.size >= this.cfg.maxPeers) {
        const [first, old] = this.held.entries().next().value!;
        this.held.delete(first);
        this.counters.add("tx_held_dropped", old.frames.length);
      }
      h = { at: now, frames: [] };
      this.held.set(node, h);
    }
    if (h.frames.length >= this.cfg.maxHeldFrames) return this.counters.add("tx_held_dropped");
    h.frames.push(frame.slice());
    this.counters.add("tx_held");
  }

  /** The current path to `node` for data: its direct endpoint, or the supernode. */
  private pathTo(p: Peer | undefined): KeyedEndpoint {
    return p !== undefined && p.state === "direct" && p.unanswered < 2 && p.endpoint !== null
      ? p.endpoint
      : this.reg.supernode;
  }

  /**
   * Fans out the broadcasts the directory held for its roster, sends what
   * was held for peers whose session is now ready; expires the rest.
   */
  private flushHeld(now: number): void {
    if (this.dir === undefined) return;
    const bcasts = this.reg.nodeId !== 0 ? this.dir.takeBroadcasts(now) : [];
    for (const f of bcasts) this.fanOut(f, now);
    for (const node of this.dir.takeReady()) {
      const h = this.held.get(node);
      if (h === undefined) continue;
      this.held.delete(node);
      const to = this.pathTo(this.peerTable.get(node));
      for (const f of h.frames) {
        if (this.sendFrameTo(to, node, f, now) === "ok") {
          this.counters.add("tx_held_sent");
        } else this.counters.add("tx_held_dropped");
      }
    }
    for (const [node, h] of this.held) {
      if (now - h.at >= this.cfg.holdMs) {
        this.held.delete(node);
        this.counters.add("tx_held_expired", h.frames.length);
      }
    }
  }

  private emit(ev: NodeEvent): void {
    this.events.push(ev);
  }

  /** Starts registering. */
  start(now: number): void {
    this.reg.start(now);
  }

  /**
   * Registers with another supernode (a move, docs/federation.md: the
   * security layer has a ready session with it). Peers keep their paths;
   * relayed traffic goes through the new supernode from now on.
   */
  moveTo(supernode: KeyedEndpoint, now: number): void {
    this.reg.moveTo(supernode, now);
  }

  /** SIGTERM: tells the supernode this node leaves, then ignores everything. */
  deregister(now: number): void {
    if (this.reg.state === "stopped") return;
    if (this.reg.nodeId !== 0 && this.reg.state !== "idle") {
      this.send(this.reg.supernode, SUPERNODE_ID, { kind: "deregister", reason: 0 }, now);
      this.emit({ type: "deregistered", nodeId: this.reg.nodeId });
    }
    this.reg.state = "stopped";
    this.peerTable.clear();
  }

  /** Handles one datagram from `from` (interned: its `key` names it). Never throws. */
  receive(from: KeyedEndpoint, bytes: Uint8Array, now: number): void {
    if (this.reg.state === "idle" || this.reg.state === "stopped") {
      this.counters.add("drop_not_running");
      return;
    }
    this.counters.add("rx_packets");
    // Header check and open allocate nothing; DATA (the hot type) is
    // delivered straight from the packet, other bodies are parsed.
    const end = openPacket(bytes, this.cfg.sealer, now, from.key);
    if (typeof end !== "number") return this.counters.add(`drop_${end}`);
    const type = typeOf(bytes);
    const sender = senderOf(bytes);
    const receiver = receiverOf(bytes);
    let msg: Message | undefined;
    if (type !== MsgType.DATA) {
      const m = parseBody(type, bytes.subarray(HEADER_LENGTH, end));
      if (!m.ok) return this.counters.add(`drop_${m.reason}`);
      msg = m.value;
    } else if (end - HEADER_LENGTH < MIN_FRAME) return this.counters.add("drop_bad_length");
    if (networkOf(bytes) !== this.network) return this.counters.add("drop_wrong_network");
    const fromSn = from.key === this.reg.supernode.key;
    if (sender === SUPERNODE_ID) {
      if (!fromSn) return this.counters.add("drop_supernode_spoofed");
      this.reg.snLastRx = now;
      return this.fromSupernode(
        receiver,
        msg ?? { kind: "data", frame: bytes.subarray(HEADER_LENGTH, end) },
        now,
      );
    }
    if (sender > MAX_NODE_ID) return this.counters.add("drop_bad_sender");
    if (this.reg.nodeId === 0) return this.counters.add("drop_not_registered");
    if (sender === this.reg.nodeId) return this.counters.add("drop_own_id");
    if (msg === undefined) return this.deliver(from, fromSn, sender, receiver, bytes, end, now);
    switch (msg.kind) {
      case "probe":
        if (receiver !== this.reg.nodeId) return this.counters.add("drop_bad_probe");
        // A probe through the supernode is answered through the supernode.
        this.send(from, sender, { kind: "probe_echo", seq: msg.seq, time: msg.time }, now);
        if (fromSn) return this.counters.add("relay_probes_answered");
        this.counters.add("probes_answered");
        {
          // Peer-reflexive candidate: while punching, the address a probe came
          // from (a symmetric NAT's per-destination port) is worth probing too.
          const p = this.peerTable.get(sender);
          if (
            p?.state === "punching" && p.candidates.length < 8 &&
            !p.candidates.some((c) => c.key === from.key)
          ) {
            p.candidates = [...p.candidates, from];
            this.probe(p, from, now);
          }
        }
        return;
      case "probe_echo": {
        const p = this.peerTable.get(sender);
        if (receiver !== this.reg.nodeId || !p || !p.seqIsRecent(msg.seq)) {
          return this.counters.add("drop_stale_echo");
        }
        const rtt = ((Math.floor(now) >>> 0) - msg.time) >>> 0;
        if (fromSn) {
          p.relayRttMs = rtt;
          return;
        }
        if (p.state === "direct" && p.endpoint?.key !== from.key) {
          return this.counters.add("echo_other_endpoint");
        }
        if (p.echo(from, rtt, now, this.t)) {
          this.emit({
            type: "path",
            peer: p.node,
            path: "direct",
            endpoint: from.key,
            cause: "echo",
            rttMs: rtt,
          });
        }
        return;
      }
      default:
        this.counters.add("drop_unexpected_type");
    }
  }

  private deliver(
    from: KeyedEndpoint,
    fromSn: boolean,
    sender: number,
    receiver: number,
    packet: Uint8Array,
    end: number,
    now: number,
  ): void {
    const toAll = receiver === BROADCAST_ID;
    if (!toAll && receiver !== this.reg.nodeId) return this.counters.add("drop_not_for_us");
    if (toAll && !fromSn) return this.counters.add("drop_direct_broadcast");
    // A broadcast (relayed, or a peer's own copy for us) does not make its sender a peer.
    const broadcast = toAll || (packet[HEADER_LENGTH] & 1) === 1;
    const p = broadcast ? this.peerTable.get(sender) : this.peer(sender, now);
    if (p) {
      p.rxFrames++;
      p.rxBytes += end - HEADER_LENGTH;
      p.lastUsed = now;
      if (!fromSn && p.state === "direct" && from.key === p.endpoint?.key) p.lastDirectRx = now;
    }
    const admit = this.cfg.admitFrame;
    if (admit !== null && !admit(packet.subarray(HEADER_LENGTH, end), sender, now)) {
      return this.counters.add("rx_filtered");
    }
    // The daemon reuses its receive buffer: keep a copy, unless told the frame is consumed first.
    const frame = this.cfg.frameViews
      ? packet.subarray(HEADER_LENGTH, end)
      : packet.slice(HEADER_LENGTH, end);
    if (this.frames.push(frame)) {
      this.counters.add(broadcast ? "rx_broadcast" : "rx_frames");
    }
  }

  private fromSupernode(receiver: number, msg: Message, now: number): void {
    switch (msg.kind) {
      case "peer_intro": {
        if (this.reg.state !== "registered" || msg.peer === this.reg.nodeId) {
          return this.counters.add("drop_unexpected_intro");
        }
        if (msg.peer < MIN_NODE_ID || msg.peer > MAX_NODE_ID || msg.endpoints.length === 0) {
          return this.counters.add("drop_bad_intro");
        }
        const eps: KeyedEndpoint[] = [];
        for (const t of msg.endpoints) {
          const e = this.endpoints.parse(t);
          if (e !== null) eps.push(e);
        }
        if (eps.length === 0) return this.counters.add("drop_bad_intro");
        const p = this.peer(msg.peer, now);
        if (!p) return;
        this.counters.add("intros_received");
        p.startPunch(eps, now, this.t);
        this.pollPeer(p, now);
        return;
      }
      default:
        this.reg.fromSupernode(receiver, msg, now);
    }
  }

  /** The peer for `node`, created (evicting the least recently used when full) if new. */
  private peer(node: number, now: number): Peer | undefined {
    let p = this.peerTable.get(node);
    if (p) return p;
    if (this.peerTable.size >= this.cfg.maxPeers) {
      let lru: Peer | undefined;
      for (const q of this.peerTable.values()) if (!lru || q.lastUsed < lru.lastUsed) lru = q;
      if (lru) this.peerTable.delete(lru.node);
      this.counters.add("peers_evicted");
    }
    p = new Peer(node, now, this.randomU32());
    this.peerTable.set(node, p);
    return p;
  }

  /**
   * Sends one Ethernet frame from the TAP side (already MAT-translated).
   * Never throws. The frame is copied (the caller may reuse its buffer),
   * unless `inPlace`: then the caller lends the frame's buffer as
   * `encodeDataPacket` describes (`DATA_HEADROOM` before the frame,
   * `DATA_TAILROOM` after it), a unicast frame is sealed where it lies and
   * queued as a `borrowed` view, and the caller must send what
   * `takeOutgoing` returns before it reuses the buffer. A broadcast is
   * still copied (one packet per peer), and so is a frame held for a
   * session.
   */
  sendFrame(frame: Uint8Array, now: number, inPlace = false): SendResult {
    const eth = this.eth;
    if (eth.checkHeader(frame) !== "ok") return this.txDrop("runt");
    if (frame.length > this.frameLimit) {
      this.tooBig++;
      if (now - this.tooBigReportedAt >= 10_000) {
        this.tooBigReportedAt = now;
        this.emit({
          type: "frame_too_big",
          length: frame.length,
          max: this.frameLimit,
          count: this.tooBig,
        });
      }
      return this.txDrop("too_big");
    }
    if (
      this.reg.nodeId === 0 || this.reg.supernodeId < 0 || this.reg.state === "idle" ||
      this.reg.state === "stopped"
    ) {
      return this.txDrop("not_registered");
    }
    const dst = eth.dst;
    if (isGroup(dst)) {
      this.counters.add("tx_broadcast");
      if (this.dir === undefined) {
        this.sendFrameTo(this.reg.supernode, BROADCAST_ID, frame, now);
        return "broadcast";
      }
      // No list of the other nodes yet: the directory keeps it (and counts).
      if (!this.dir.holdBroadcast(frame, now)) this.fanOut(frame, now);
      return "broadcast";
    }
    // Unicast goes to MAT addresses 00:AA:BB:BB:CC:CC: BBBB the node. AA names
    // the supernode that allocated its id (in a federation not ours, and it
    // never changes when the node moves: docs/federation.md); node ids are
    // unique per network, so AA does not select the node.
    if (matSupernodeOf(dst) < 0) return this.txDrop("not_mat");
    const node = matNodeOf(dst);
    if (node < MIN_NODE_ID || node > MAX_NODE_ID) return this.txDrop("not_mat");
    if (node === this.reg.nodeId) return this.txDrop("to_self");
    const p = this.peer(node, now)!;
    p.txFrames++;
    p.txBytes += frame.length;
    p.lastUsed = now;
    if (p.state === "direct" && p.unanswered === 0 && now - p.lastDirectRx >= this.t.silenceMs) {
      // Data goes out but nothing came back for a while: check the path now.
      this.probe(p, p.endpoint!, now);
      p.unanswered = 1;
      p.nextProbeAt = now + p.probeTimeout(this.t);
    }
    if (p.state === "direct" && p.unanswered < 2) {
      this.sendData(p.endpoint!, node, frame, now, inPlace);
      this.counters.add("tx_direct");
      return "direct";
    }
    this.sendData(this.reg.supernode, node, frame, now, inPlace);
    this.counters.add("tx_relay");
    if (p.nextRelayProbeAt === Infinity) p.nextRelayProbeAt = now;
    if (p.state === "relay" && now >= p.retryAt && this.reg.state === "registered") {
      this.send(this.reg.supernode, SUPERNODE_ID, { kind: "peer_request", peer: node }, now);
      this.counters.add("tx_peer_request");
      p.retryAt = now + this.t.punchWindowMs;
    }
    return "relay";
  }

  /** One end-to-end copy per peer: the supernode holds no key that opens it. */
  private fanOut(frame: Uint8Array, now: number): void {
    let copies = 0;
    for (const node of this.dir!.broadcastPeers()) {
      if (node === this.reg.nodeId) continue;
      this.sendData(this.pathTo(this.peerTable.get(node)), node, frame, now);
      copies++;
    }
    if (copies === 0) this.counters.add("tx_broadcast_no_peers");
    this.counters.add("tx_broadcast_copies", copies);
  }

  private txDrop(reason: SendResult): SendResult {
    this.counters.add(`tx_drop_${reason}`);
    return reason;
  }

  private probe(p: Peer, to: KeyedEndpoint, now: number, seq = p.takeSeq(), ttl = 0): void {
    this.send(to, p.node, { kind: "probe", seq, time: Math.floor(now) >>> 0 }, now, ttl);
    this.counters.add(ttl > 0 ? "tx_probe_low_ttl" : "tx_probe");
  }

  /** Runs due timers. */
  poll(now: number): void {
    if (this.reg.state === "idle" || this.reg.state === "stopped") return;
    this.flushHeld(now);
    this.reg.poll(now);
    for (const p of this.peerTable.values()) this.pollPeer(p, now);
  }

  private pollPeer(p: Peer, now: number): void {
    if (now - p.lastUsed >= this.t.idleMs) {
      this.peerTable.delete(p.node);
      this.counters.add("peers_aged");
      return;
    }
    if (p.state !== "direct" && now >= p.nextRelayProbeAt) {
      this.probe(p, this.reg.supernode, now);
      p.nextRelayProbeAt = now + this.t.keepaliveMs;
    }
    if (p.state === "punching") {
      if (now >= p.punchUntil) return this.pathFailed(p, now, "punch_failed");
      if (now >= p.nextProbeAt) {
        // One sequence number per round, so slow echoes stay within SEQ_WINDOW.
        const seq = p.takeSeq();
        // The first round opens our NAT without reaching the peer's (see `punchTtl`).
        const ttl = p.punchRounds++ === 0 ? this.cfg.punchTtl : 0;
        for (const c of p.candidates) this.probe(p, c, now, seq, ttl);
        p.nextProbeAt = now + this.t.punchIntervalMs;
      }
    } else if (p.state === "direct" && now >= p.nextProbeAt) {
      if (p.unanswered >= this.t.probeRetries) return this.pathFailed(p, now, "no_echo");
      this.probe(p, p.endpoint!, now);
      p.unanswered++;
      p.nextProbeAt = now + p.probeTimeout(this.t);
    }
  }

  private pathFailed(p: Peer, now: number, cause: "punch_failed" | "no_echo"): void {
    p.fail(now, this.t, this.cfg.random());
    this.counters.add(`path_${cause}`);
    this.emit({
      type: "path",
      peer: p.node,
      path: "relay",
      endpoint: this.reg.supernode.key,
      cause,
      rttMs: null,
    });
  }

  /** When `poll` wants to run next (`Infinity` when idle or stopped). */
  nextDeadline(): number {
    if (this.reg.state === "idle" || this.reg.state === "stopped") return Infinity;
    let d = this.reg.deadline();
    for (const p of this.peerTable.values()) d = Math.min(d, p.deadline(this.t));
    if (this.dir?.hasReady()) return 0; // held frames can go now
    for (const h of this.held.values()) d = Math.min(d, h.at + this.cfg.holdMs);
    return d;
  }

  /** Datagrams to send, oldest first. */
  takeOutgoing(): Outgoing[] {
    return this.out.take();
  }

  /** Frames for the TAP, oldest first (each a copy the caller owns, unless `frameViews`). */
  takeFrames(): Uint8Array[] {
    return this.frames.take();
  }

  /** Events since the last call. */
  takeEvents(): NodeEvent[] {
    return this.events.take();
  }

  /** Every peer: path, endpoint, RTT, counters. */
  peers(): PeerStatus[] {
    return [...this.peerTable.values()].map((p) => ({
      node: p.node,
      path: p.sendsDirect ? "direct" : "relay",
      state: p.state,
      endpoint: (p.state === "direct" && p.endpoint !== null ? p.endpoint : this.reg.supernode).key,
      rttMs: p.sendsDirect ? p.rttMs : p.relayRttMs,
      directRttMs: p.rttMs,
      relayRttMs: p.relayRttMs,
      txFrames: p.txFrames,
      rxFrames: p.rxFrames,
      txBytes: p.txBytes,
      rxBytes: p.rxBytes,
      directUps: p.directUps,
      directFailures: p.directFailures,
    }));
  }

  /** Registration and counters. */
  status(): NodeStatus {
    const counters = this.counters.snapshot();
    counters.tx_too_big = this.tooBig;
    counters.frames_dropped = this.frames.dropped;
    counters.outgoing_dropped = this.out.dropped;
    counters.events_dropped = this.events.dropped;
    counters.peers = this.peerTable.size;
    let held = 0;
    for (const h of this.held.values()) held += h.frames.length;
    counters.held_frames = held;
    return {
      state: this.reg.state,
      network: this.network,
      nodeId: this.reg.nodeId,
      supernodeId: this.reg.supernodeId,
      supernode: this.reg.supernode.key,
      supernodeRttMs: this.reg.snRttMs,
      supernodeLastRx: this.reg.snLastRx === -Infinity ? null : this.reg.snLastRx,
      allocator: this.reg.allocator,
      moves: this.reg.moves,
      maxFrame: this.frameLimit,
      counters,
    };
  }
}
