/**
 * `SupernodeCore`: the sans-IO supernode of the `l2` VPN (`l2 supernode`).
 * It registers nodes into isolated networks, introduces peers for hole
 * punching, and relays data between nodes that have no direct path,
 * fanning broadcasts and multicasts out to every node of the network.
 *
 * ```
 *   socket --(from, bytes)--> receive(from, bytes, now)
 *   takeOutgoing() --> socket         takeEvents() --> log
 *   timer at nextDeadline() --> poll(now)       SIGTERM --> shutdown(now)
 * ```
 *
 * Registration (REGISTER -> REGISTER_ACK / REGISTER_NAK): the header's
 * sender field is the id the node asks for (0: allocate one). A node
 * identity (32 bytes, later the node's public key) keys both duplicate
 * detection and `auto` allocation:
 * - a manual id held by a live node of another identity: NAK `id_in_use`;
 *   the same identity re-registering (restart, NAT rebinding) takes over;
 * - `auto`: the id this identity holds live (crash restart) or held before
 *   (remembered in `IdTable` from the end of its registration), else the id
 *   the node asks for (its id before a supernode restart), when free; else
 *   the lowest id neither live nor remembered for another identity.
 * A registration lives `registrationTtlMs` after the node's last packet.
 *
 * Forwarding: DATA with receiver 0xffff goes to every other node of the
 * sender's network (protocol tests with `NullSealer` only: behind the
 * security layer nodes fan broadcasts out themselves); DATA, PROBE and
 * PROBE_ECHO to a node id go to that node (probes measure the relayed
 * path's RTT). The bytes are forwarded unchanged: in the daemons they are
 * sealed end to end between the two nodes and the sealer here only checks
 * the sender's hop trailer (secure_sealer.ts). Packets claiming a
 * sender that is not registered from that endpoint are dropped and counted,
 * and answered with NAK `not_registered` (so a node whose NAT mapping
 * changed, or that registered before a supernode restart, re-registers).
 *
 * Bounded: networks (`maxNetworks`), nodes per network
 * (`maxNodesPerNetwork`), remembered identities per network
 * (`maxIdentities`, `identityAgeMs`), recent introductions
 * (`maxIntros`, one per pair per `introIntervalMs`), outgoing and event
 * queues (`maxBacklog`). Timers are swept every `sweepMs`.
 *
 * Authentication and encryption sit behind `Sealer`: in the daemon
 * `SecureSealer` with `SecureSupernode` in front (docs/security.md).
 *
 * Not done: persistence of the identity table, several supernodes per
 * network.
 *
 * @module
 */
import {
  BROADCAST_ID,
  DEFAULT_NETWORK,
  MAX_ENDPOINTS,
  MAX_NODE_ID,
  MIN_NODE_ID,
  NAK_TEXT,
  type NakReason,
  SUPERNODE_ID,
} from "./constants.ts";
import { Backlog, Counters, type Outgoing } from "./backlog.ts";
import type { KeyedEndpoint } from "../addr.ts";
import { hex, IdTable } from "./id_table.ts";
import { type Address, decodePacket, encodePacket, type Message } from "./messages.ts";
import type { Sealer } from "./sealer.ts";

/** Supernode configuration. Every field but `sealer` and `random` is optional. */
export interface SupernodeConfig {
  /** Seals and opens packets (`SecureSealer` in the daemon, `NullSealer` in protocol tests). */
  sealer: Sealer;
  /** Uniform random numbers in [0, 1) (boot id). */
  random: () => number;
  /** The MAT supernode id (AA of 00:AA:BB:BB:CC:CC) told to nodes. Default 1. */
  supernodeId?: number;
  /** Network ids served. Default: any id, created on first registration (up to `maxNetworks`). */
  networks?: number[];
  /** Most networks at once. Default 64. */
  maxNetworks?: number;
  /** Most registered nodes per network. Default 1024. */
  maxNodesPerNetwork?: number;
  /** Most identities remembered per network for `auto` ids. Default 4096. */
  maxIdentities?: number;
  /** How long an identity's id is remembered after its last registration. Default 7 days. */
  identityAgeMs?: number;
  /** A registration ends this long after the node's last packet. Default 30 000. */
  registrationTtlMs?: number;
  /** Keepalive interval told to nodes, s. Default 8 (a node is back within ~10 s of a supernode restart). */
  keepaliveS?: number;
  /** A network created on demand is removed after this long without nodes. Default 600 000. */
  networkIdleMs?: number;
  /** Least time between two introductions of the same pair. Default 2000. */
  introIntervalMs?: number;
  /** Most remembered recent introductions. Default 4096. */
  maxIntros?: number;
  /** Most queued outgoing datagrams and events each. Default 65 536. */
  maxBacklog?: number;
  /** Timer sweep period. Default 1000. */
  sweepMs?: number;
  /** Most NAK `not_registered` answers per second, all sources together. Default 200. */
  maxNaksPerSecond?: number;
  /**
   * May this identity hold this id (issue 6: ids bound or pinned to public
   * keys, `Members.mayHold`)? Auto allocation skips ids it may not hold; a
   * manual request for one is refused `id_in_use`. Default: any.
   */
  mayHold?: (network: number, id: number, identity: Uint8Array) => boolean;
  /** The federation (docs/federation.md); absent: this supernode alone. */
  federation?: CoreFederation;
}

/** What `SupernodeCore` asks of the federation (fed_supernode.ts through the engine). */
export interface CoreFederation {
  /**
   * A REGISTER is being acknowledged (new, moved or refreshed); `stamp` is
   * its registration stamp (undefined from an older node). False: a newer
   * claim elsewhere holds the node (it is NAKed `id_in_use`).
   */
  attached(
    network: number,
    node: number,
    identity: Uint8Array,
    stamp: Uint8Array | undefined,
    endpoint: KeyedEndpoint,
    now: number,
  ): boolean;
  /** Our registration of a node ended. */
  detached(network: number, node: number, now: number): void;
  /** The supernode id REGISTER_ACK names: the allocator of the node's id. */
  allocator(network: number, node: number, identity: Uint8Array): number;
  /** A unicast packet for a node not registered here; true when the federation took it. */
  relay(network: number, receiver: number, bytes: Uint8Array, now: number): boolean;
  /** PEER_REQUEST for a node not registered here; true when the federation took it. */
  introduce(network: number, node: number, peer: number, now: number): boolean;
}

/** Something a supernode operator wants in the log. */
export type SupernodeEvent =
  | {
    type: "registered";
    network: number;
    node: number;
    endpoint: string;
    auto: boolean;
    /** Set when the node was already registered (from another endpoint, or a restart). */
    moved: boolean;
  }
  | {
    type: "refused";
    network: number;
    requested: number;
    endpoint: string;
    reason: NakReason;
    text: string;
  }
  | { type: "deregistered"; network: number; node: number; endpoint: string }
  | { type: "expired"; network: number; node: number; endpoint: string }
  | { type: "introduced"; network: number; a: number; b: number }
  | { type: "network_created"; network: number }
  | { type: "network_removed"; network: number }
  | { type: "going_away"; nodes: number };

/** One registered node as `status()` shows it. */
export interface NodeRecord {
  node: number;
  endpoint: string;
  locals: string[];
  identity: string;
  registeredAt: number;
  lastSeen: number;
  rxPackets: number;
  relayedFrames: number;
}

/** `status()` of a supernode. */
export interface SupernodeStatus {
  supernodeId: number;
  bootId: number;
  networks: { network: number; nodes: NodeRecord[]; identities: number }[];
  /** relayed_frames, relayed_bytes, broadcast_frames, drops by reason, table evictions... */
  counters: Record<string, number>;
}

interface NodeEntry extends Omit<NodeRecord, "endpoint"> {
  /** Where it registered from (interned; `key` is its text). */
  endpoint: KeyedEndpoint;
  /** Registered with an `auto` id: the identity table remembers it when it ends. */
  auto: boolean;
}

interface Network {
  id: number;
  nodes: Map<number, NodeEntry>;
  ids: IdTable;
  emptySince: number;
  configured: boolean;
}

/**
 * The supernode protocol engine.
 *
 * @example
 * ```ts
 * import { SupernodeCore } from "./supernode.ts";
 * import { NullSealer } from "./sealer.ts";
 * const sn = new SupernodeCore({ sealer: new NullSealer(), random: () => 0.5 });
 * // Per datagram: sn.receive("192.0.2.7:40000", bytes, now); then send sn.takeOutgoing().
 * sn.poll(0);
 * sn.nextDeadline(); // 1000: the next sweep
 * sn.status().counters.relayed_frames; // 0
 * ```
 */
export class SupernodeCore {
  /** Random id of this supernode run, in every REGISTER_ACK. */
  readonly bootId: number;
  private readonly cfg:
    & Required<Omit<SupernodeConfig, "networks" | "mayHold" | "federation">>
    & Pick<SupernodeConfig, "mayHold" | "federation">;
  /** At most `maxNetworks`. */
  private readonly networks = new Map<number, Network>();
  /** "network/a/b" -> time of the last introduction; at most `maxIntros`, aged after `introIntervalMs`. */
  private readonly intros = new Map<string, number>();
  private readonly out: Backlog<Outgoing>;
  private readonly events: Backlog<SupernodeEvent>;
  private readonly counters = new Counters();
  private readonly fixedNetworks: boolean;
  private nextSweep = 0;
  private nakWindowStart = -Infinity;
  private naksInWindow = 0;
  private stopped = false;

  constructor(config: SupernodeConfig) {
    this.cfg = {
      supernodeId: 1,
      maxNetworks: 64,
      maxNodesPerNetwork: 1024,
      maxIdentities: 4096,
      identityAgeMs: 7 * 24 * 3600_000,
      registrationTtlMs: 30_000,
      keepaliveS: 8,
      networkIdleMs: 600_000,
      introIntervalMs: 2000,
      maxIntros: 4096,
      maxBacklog: 65_536,
      sweepMs: 1000,
      maxNaksPerSecond: 200,
      ...config,
    };
    this.bootId = Math.floor(config.random() * 0x1_0000_0000) >>> 0;
    this.out = new Backlog(this.cfg.maxBacklog);
    this.events = new Backlog(this.cfg.maxBacklog);
    this.fixedNetworks = config.networks !== undefined;
    for (const id of config.networks ?? [DEFAULT_NETWORK]) {
      this.networks.set(id, this.newNetwork(id, true, 0));
    }
  }

  private newNetwork(id: number, configured: boolean, now: number): Network {
    return {
      id,
      nodes: new Map(),
      ids: new IdTable(this.cfg.maxIdentities, this.cfg.identityAgeMs),
      emptySince: now,
      configured,
    };
  }

  private send(to: KeyedEndpoint, addr: Address, m: Message, now: number): void {
    const r = encodePacket(addr, m, this.cfg.sealer, now);
    if (!r.ok) {
      this.counters.add(`tx_${r.reason}`);
      return;
    }
    this.out.push({ to, bytes: r.packet });
  }

  private emit(ev: SupernodeEvent): void {
    this.events.push(ev);
  }

  /** Handles one datagram from `from` (interned: its `key` names it). Never throws. */
  receive(from: KeyedEndpoint, bytes: Uint8Array, now: number): void {
    if (this.stopped) return this.counters.add("drop_stopped");
    this.counters.add("rx_packets");
    const d = decodePacket(bytes, this.cfg.sealer, now, from.key);
    if (!d.ok) {
      this.counters.add(`drop_${d.reason}`);
      return;
    }
    const { header: h, msg } = d;
    if (msg.kind === "register") return this.register(from, h.network, h.sender, msg, now);
    const net = this.networks.get(h.network);
    const node = net?.nodes.get(h.sender);
    if (!net || !node || node.endpoint.key !== from.key) {
      this.counters.add("drop_not_registered");
      // Only for messages at least as large as the NAK (no amplification),
      // and at most `maxNaksPerSecond` (a node streaming relayed data through
      // a restarted supernode must not get one NAK per frame).
      if ((msg.kind === "keepalive" || msg.kind === "data") && this.nakAllowed(now)) {
        this.send(from, { network: h.network, sender: SUPERNODE_ID, receiver: h.sender }, {
          kind: "register_nak",
          reason: "not_registered",
          requested: h.sender,
        }, now);
      }
      return;
    }
    node.lastSeen = now;
    node.rxPackets++;
    switch (msg.kind) {
      case "data":
        return this.relay(net, node, h.receiver, bytes, now);
      case "probe":
      case "probe_echo": {
        // Relay-path RTT probes between nodes: unicast only, counted apart from frames.
        const dst = h.receiver === BROADCAST_ID ? undefined : net.nodes.get(h.receiver);
        if (
          !dst && h.receiver !== BROADCAST_ID && this.viaFederation(net, h.receiver, bytes, now)
        ) {
          return;
        }
        if (!dst || dst === node) return this.counters.add("drop_relay_no_receiver");
        if (this.out.push({ to: dst.endpoint, bytes: bytes.slice() })) {
          this.counters.add("relayed_probes");
        }
        return;
      }
      case "keepalive":
        return this.send(from, { network: net.id, sender: SUPERNODE_ID, receiver: node.node }, {
          kind: "keepalive_ack",
          seq: msg.seq,
          time: msg.time,
        }, now);
      case "deregister":
        this.forgetNode(net, node, now);
        this.emit({ type: "deregistered", network: net.id, node: node.node, endpoint: from.key });
        return;
      case "peer_request":
        return this.introduce(net, node, msg.peer, now);
      default:
        this.counters.add("drop_unexpected_type");
    }
  }

  /** Ends a registration; an auto id is remembered from now (identityAgeMs). */
  private forgetNode(net: Network, e: NodeEntry, now: number, announce = true): void {
    net.nodes.delete(e.node);
    if (announce) this.cfg.federation?.detached(net.id, e.node, now);
    if (e.auto) net.ids.touch(e.identity, e.node, now);
    if (net.nodes.size === 0) net.emptySince = now;
  }

  private nakAllowed(now: number): boolean {
    if (now - this.nakWindowStart >= 1000) {
      this.nakWindowStart = now;
      this.naksInWindow = 0;
    }
    if (this.naksInWindow >= this.cfg.maxNaksPerSecond) {
      this.counters.add("nak_rate_limited");
      return false;
    }
    this.naksInWindow++;
    return true;
  }

  private refuse(
    from: KeyedEndpoint,
    network: number,
    requested: number,
    reason: NakReason,
    now: number,
  ): void {
    this.counters.add(`refused_${reason}`);
    this.emit({
      type: "refused",
      network,
      requested,
      endpoint: from.key,
      reason,
      text: NAK_TEXT[reason],
    });
    this.send(from, { network, sender: SUPERNODE_ID, receiver: requested }, {
      kind: "register_nak",
      reason,
      requested,
    }, now);
  }

  private register(
    from: KeyedEndpoint,
    network: number,
    requested: number,
    msg: Extract<Message, { kind: "register" }>,
    now: number,
  ): void {
    if (requested > MAX_NODE_ID || (!msg.auto && requested < MIN_NODE_ID)) {
      return this.refuse(from, network, requested, "bad_id", now);
    }
    let net = this.networks.get(network);
    if (!net) {
      if (this.fixedNetworks) return this.refuse(from, network, requested, "unknown_network", now);
      if (this.networks.size >= this.cfg.maxNetworks) {
        return this.refuse(from, network, requested, "too_many_networks", now);
      }
      net = this.newNetwork(network, false, now);
      this.networks.set(network, net);
      this.emit({ type: "network_created", network });
    }
    const identity = hex(msg.identity);
    // A full network refuses newcomers before any id search (cheap under a flood).
    if (net.nodes.size >= this.cfg.maxNodesPerNetwork) {
      let known = false;
      for (const e of net.nodes.values()) if (e.identity === identity) known = true;
      if (!known) return this.refuse(from, network, requested, "network_full", now);
    }
    const liveOther = (id: number) => {
      const e = net!.nodes.get(id);
      return e !== undefined && e.identity !== identity;
    };
    const mayHold = this.cfg.mayHold;
    const barred = (x: number) => mayHold !== undefined && !mayHold(network, x, msg.identity);
    let id: number;
    if (!msg.auto) {
      if (liveOther(requested) || barred(requested)) {
        return this.refuse(from, network, requested, "id_in_use", now);
      }
      id = requested;
    } else {
      const free = (x: number) => {
        if (x < MIN_NODE_ID || x > MAX_NODE_ID || liveOther(x) || barred(x)) return false;
        const holder = net!.ids.holderOf(x);
        return holder === undefined || holder === identity;
      };
      let live: number | undefined;
      for (const e of net.nodes.values()) if (e.identity === identity) live = e.node;
      const remembered = live ?? net.ids.idOf(identity);
      if (remembered !== undefined && free(remembered)) id = remembered;
      else if (requested !== SUPERNODE_ID && free(requested)) id = requested;
      else {
        id = -1;
        for (let x = MIN_NODE_ID; x <= MAX_NODE_ID; x++) {
          if (free(x)) {
            id = x;
            break;
          }
        }
        if (id < 0) return this.refuse(from, network, requested, "network_full", now);
      }
    }
    // The same identity registered under another id: that registration ends.
    for (const e of net.nodes.values()) {
      if (e.identity === identity && e.node !== id) {
        net.nodes.delete(e.node);
        this.cfg.federation?.detached(network, e.node, now);
      }
    }
    const existing = net.nodes.get(id);
    if (!existing && net.nodes.size >= this.cfg.maxNodesPerNetwork) {
      return this.refuse(from, network, requested, "network_full", now);
    }
    const locals = msg.locals.slice(0, MAX_ENDPOINTS);
    if (existing) {
      const moved = existing.endpoint.key !== from.key;
      existing.endpoint = from;
      existing.locals = locals;
      existing.auto = msg.auto;
      existing.lastSeen = now;
      if (moved) {
        this.emit({
          type: "registered",
          network,
          node: id,
          endpoint: from.key,
          auto: msg.auto,
          moved,
        });
      }
    } else {
      net.nodes.set(id, {
        node: id,
        endpoint: from,
        locals,
        identity,
        auto: msg.auto,
        registeredAt: now,
        lastSeen: now,
        rxPackets: 1,
        relayedFrames: 0,
      });
      this.counters.add("registrations");
      this.emit({
        type: "registered",
        network,
        node: id,
        endpoint: from.key,
        auto: msg.auto,
        moved: false,
      });
    }
    if (msg.auto) net.ids.touch(identity, id, now);
    const fed = this.cfg.federation;
    if (fed !== undefined && !fed.attached(network, id, msg.identity, msg.stamp, from, now)) {
      // A newer registration of this node (or an id conflict it lost) elsewhere.
      const e = net.nodes.get(id);
      if (e !== undefined) this.forgetNode(net, e, now, false);
      return this.refuse(from, network, requested, "id_in_use", now);
    }
    this.send(from, { network, sender: SUPERNODE_ID, receiver: id }, {
      kind: "register_ack",
      supernodeId: fed?.allocator(network, id, msg.identity) ?? this.cfg.supernodeId,
      keepaliveS: this.cfg.keepaliveS,
      bootId: this.bootId,
      observed: from.key,
    }, now);
  }

  /** A unicast for a node not registered here, to the federation; true when it took it. */
  private viaFederation(net: Network, receiver: number, bytes: Uint8Array, now: number): boolean {
    const fed = this.cfg.federation;
    if (fed === undefined || !fed.relay(net.id, receiver, bytes, now)) return false;
    this.counters.add("relayed_federation");
    return true;
  }

  private relay(
    net: Network,
    node: NodeEntry,
    receiver: number,
    bytes: Uint8Array,
    now: number,
  ): void {
    // The daemon reuses its receive buffer: keep one copy for every recipient.
    if (receiver === BROADCAST_ID) {
      const copy = bytes.slice();
      let n = 0;
      for (const e of net.nodes.values()) {
        if (e === node) continue;
        if (this.out.push({ to: e.endpoint, bytes: copy })) n++;
      }
      this.counters.add("broadcast_frames");
      this.counters.add("broadcast_copies", n);
      return;
    }
    const dst = net.nodes.get(receiver);
    if (!dst && this.viaFederation(net, receiver, bytes, now)) {
      node.relayedFrames++;
      this.counters.add("relayed_bytes", bytes.length);
      return;
    }
    if (!dst || dst === node) {
      this.counters.add("drop_relay_no_receiver");
      return;
    }
    if (!this.out.push({ to: dst.endpoint, bytes: bytes.slice() })) return;
    node.relayedFrames++;
    this.counters.add("relayed_frames");
    this.counters.add("relayed_bytes", bytes.length);
  }

  private introduce(net: Network, a: NodeEntry, peer: number, now: number): void {
    const b = net.nodes.get(peer);
    if (!b && this.cfg.federation?.introduce(net.id, a.node, peer, now)) {
      return this.counters.add("introductions_federation");
    }
    if (!b || b === a) {
      this.counters.add("drop_intro_unknown_peer");
      return;
    }
    const key = a.node < b.node ? `${net.id}/${a.node}/${b.node}` : `${net.id}/${b.node}/${a.node}`;
    const last = this.intros.get(key);
    if (last !== undefined && now - last < this.cfg.introIntervalMs) {
      this.counters.add("intro_rate_limited");
      return;
    }
    if (last === undefined && this.intros.size >= this.cfg.maxIntros) {
      const oldest = this.intros.keys().next().value;
      if (oldest !== undefined) this.intros.delete(oldest);
      this.counters.add("intros_evicted");
    }
    this.intros.delete(key);
    this.intros.set(key, now);
    const candidates = (e: NodeEntry) => [e.endpoint.key, ...e.locals].slice(0, MAX_ENDPOINTS);
    this.send(a.endpoint, { network: net.id, sender: SUPERNODE_ID, receiver: a.node }, {
      kind: "peer_intro",
      peer: b.node,
      endpoints: candidates(b),
    }, now);
    this.send(b.endpoint, { network: net.id, sender: SUPERNODE_ID, receiver: b.node }, {
      kind: "peer_intro",
      peer: a.node,
      endpoints: candidates(a),
    }, now);
    this.counters.add("introductions");
    this.emit({ type: "introduced", network: net.id, a: a.node, b: b.node });
  }

  /** Runs due timers: registration expiry, table ageing. */
  poll(now: number): void {
    if (this.stopped || now < this.nextSweep) return;
    this.nextSweep = now + this.cfg.sweepMs;
    for (const net of this.networks.values()) {
      for (const e of net.nodes.values()) {
        if (now - e.lastSeen >= this.cfg.registrationTtlMs) {
          this.forgetNode(net, e, now);
          this.counters.add("registrations_expired");
          this.emit({ type: "expired", network: net.id, node: e.node, endpoint: e.endpoint.key });
        }
      }
      net.ids.age(now);
      if (
        !net.configured && net.nodes.size === 0 && now - net.emptySince >= this.cfg.networkIdleMs
      ) {
        this.networks.delete(net.id);
        this.counters.add("networks_removed");
        this.emit({ type: "network_removed", network: net.id });
      }
    }
    for (const [key, t] of this.intros) {
      if (now - t < this.cfg.introIntervalMs) break;
      this.intros.delete(key);
    }
  }

  /** When `poll` wants to run next (`Infinity` once shut down). */
  nextDeadline(): number {
    return this.stopped ? Infinity : this.nextSweep;
  }

  /** SIGTERM: tells every node the supernode is going (retry in `retryS`), then ignores input. */
  shutdown(now: number, retryS = 5): void {
    if (this.stopped) return;
    let n = 0;
    for (const net of this.networks.values()) {
      for (const e of net.nodes.values()) {
        this.send(e.endpoint, { network: net.id, sender: SUPERNODE_ID, receiver: e.node }, {
          kind: "going_away",
          reason: 0,
          retryS,
        }, now);
        n++;
      }
    }
    this.emit({ type: "going_away", nodes: n });
    this.stopped = true;
    void now;
  }

  /** Where node `id` of `network` registered from, null when it is not registered here. */
  endpointOf(network: number, id: number): KeyedEndpoint | null {
    return this.networks.get(network)?.nodes.get(id)?.endpoint ?? null;
  }

  /** Its introduction candidates: public endpoint first, then its locals (max 5). */
  candidatesOf(network: number, id: number): string[] {
    const e = this.networks.get(network)?.nodes.get(id);
    return e === undefined ? [] : [e.endpoint.key, ...e.locals].slice(0, MAX_ENDPOINTS);
  }

  /** PEER_INTRO(peer, endpoints) to our node (an introduction across supernodes). */
  sendIntro(network: number, id: number, peer: number, endpoints: string[], now: number): void {
    const e = this.networks.get(network)?.nodes.get(id);
    if (e === undefined) return;
    this.send(e.endpoint, { network, sender: SUPERNODE_ID, receiver: id }, {
      kind: "peer_intro",
      peer,
      endpoints: endpoints.slice(0, MAX_ENDPOINTS),
    }, now);
    this.counters.add("introductions_federation_in");
  }

  /**
   * Ends our registration of a node that registered elsewhere with a newer
   * stamp (no FED_DETACH: the federation table did that); with `conflict`,
   * the node is told NAK id_in_use.
   */
  dropMoved(network: number, id: number, conflict: boolean, now: number): void {
    const net = this.networks.get(network);
    const e = net?.nodes.get(id);
    if (!net || !e) return;
    this.forgetNode(net, e, now, false);
    this.counters.add("registrations_moved");
    if (conflict) {
      this.send(e.endpoint, { network, sender: SUPERNODE_ID, receiver: id }, {
        kind: "register_nak",
        reason: "id_in_use",
        requested: id,
      }, now);
    }
  }

  /** Ids of the nodes registered in `network` now (any order; empty for an unknown network). */
  nodeIds(network: number): number[] {
    const n = this.networks.get(network);
    return n === undefined ? [] : [...n.nodes.keys()];
  }

  /** Datagrams to send, oldest first. */
  takeOutgoing(): Outgoing[] {
    return this.out.take();
  }

  /** Events since the last call. */
  takeEvents(): SupernodeEvent[] {
    return this.events.take();
  }

  /** Networks, nodes and counters. */
  status(): SupernodeStatus {
    const counters = this.counters.snapshot();
    counters.relayed_frames ??= 0;
    counters.relayed_bytes ??= 0;
    counters.broadcast_frames ??= 0;
    counters.outgoing_dropped = this.out.dropped;
    counters.events_dropped = this.events.dropped;
    let evicted = 0, aged = 0;
    for (const n of this.networks.values()) {
      evicted += n.ids.evicted;
      aged += n.ids.aged;
    }
    counters.identities_evicted = evicted;
    counters.identities_aged = aged;
    counters.intros_table = this.intros.size;
    return {
      supernodeId: this.cfg.supernodeId,
      bootId: this.bootId,
      networks: [...this.networks.values()].map((n) => ({
        network: n.id,
        identities: n.ids.size,
        nodes: [...n.nodes.values()].map((e) => ({
          node: e.node,
          endpoint: e.endpoint.key,
          locals: [...e.locals],
          identity: e.identity,
          registeredAt: e.registeredAt,
          lastSeen: e.lastSeen,
          rxPackets: e.rxPackets,
          relayedFrames: e.relayedFrames,
        })),
      })),
      counters,
    };
  }
}
