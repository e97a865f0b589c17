/**
 * Test helper (not a test): a supernode and nodes with the security layer
 * (`SecureSupernode`/`SecureNode` in front of `SupernodeCore`/`NodeCore`)
 * over an in-memory network, stepped at explicit times. Everything the
 * supernode receives or sends is recorded, so tests can look for plaintext.
 */
import { matAddress, writeMac } from "../../core/mac.ts";
import type { CryptoSuite } from "../../core/vpn/crypto_suite.ts";
import type { StaticKey } from "../../core/vpn/handshake.ts";
import { type Member, type MemberMode, Members } from "../../core/vpn/members.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import type { TrustedPeer } from "../../core/vpn/pins.ts";
import { SecureNode, type SecurityNodeEvent } from "../../core/vpn/secure_node.ts";
import { SecureSupernode, type SecuritySupernodeEvent } from "../../core/vpn/secure_supernode.ts";
import type { SessionLimits } from "../../core/vpn/session_keys.ts";
import { SupernodeCore } from "../../core/vpn/supernode.ts";
import { ffiCryptoSuite } from "../../cmd/vpn_crypto.ts";
import { keyedEndpoint } from "../../core/addr.ts";

/** mulberry32, [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The libcrypto suite with a seeded random source (reproducible key ids and ephemerals). */
export function seededSuite(seed: number): CryptoSuite & { x25519Calls: number } {
  const base = ffiCryptoSuite();
  const r = prng(seed);
  const s = {
    ...base,
    x25519Calls: 0,
    randomBytes(out: Uint8Array) {
      for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256);
    },
    x25519(priv: Uint8Array, pub: Uint8Array) {
      s.x25519Calls++;
      return base.x25519(priv, pub);
    },
  };
  return s;
}

/** A key pair from a seed byte. */
export function keyOf(suite: CryptoSuite, seed: number): StaticKey {
  const privateKey = new Uint8Array(32).fill(seed);
  return { privateKey, publicKey: suite.x25519Public(privateKey) };
}

export const SN_EP = "198.51.100.1:7654";
/** The lab's wall clock at `now` = 0 (2023-11-14). */
export const WALL_EPOCH = 1_700_000_000_000;
export const ETHERTYPE_TEST = 0x88b5;

/** An Ethernet frame from `src` to `dst` with `marker` in its payload. */
export function frame(dst: number, src: number, marker: Uint8Array, size = 200): Uint8Array {
  const f = new Uint8Array(size);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  f[12] = ETHERTYPE_TEST >> 8;
  f[13] = ETHERTYPE_TEST & 0xff;
  f.set(marker, 20);
  return f;
}

/** MAT address of a node's first leaf (supernode id 1). */
export function mat(node: number): number {
  return matAddress(1, node, 1);
}

export interface LabNode {
  name: string;
  ep: string;
  key: StaticKey;
  sec: SecureNode;
  core: NodeCore;
  frames: Uint8Array[];
  events: SecurityNodeEvent[];
  up: boolean;
}

interface Flight {
  at: number;
  from: string;
  to: string;
  bytes: Uint8Array;
}

/** The lab. Step 10 ms, latency 10 ms, no loss unless a filter drops. */
export class SecLab {
  now = 0;
  readonly suite: ReturnType<typeof seededSuite>;
  readonly snKey: StaticKey;
  readonly members: Members;
  private readonly memberList: Member[];
  sec: SecureSupernode;
  core: SupernodeCore;
  private readonly snOpts: { psk?: Uint8Array; limits?: SessionLimits; maxSessions?: number };
  readonly nodes = new Map<string, LabNode>();
  readonly snEvents: SecuritySupernodeEvent[] = [];
  /** Copies of every datagram the supernode received or sent. */
  readonly snSeen: Uint8Array[] = [];
  /** Optional filter: return false to drop a datagram in flight. */
  filter: (f: Flight) => boolean = () => true;
  private queue: Flight[] = [];
  private nextPort = 40000;

  constructor(
    opts: {
      seed?: number;
      mode?: MemberMode;
      members?: Member[];
      psk?: Uint8Array;
      limits?: SessionLimits;
      /** Most sessions the supernode keeps (default 65 536). */
      maxSessions?: number;
    } = {},
  ) {
    this.suite = seededSuite(opts.seed ?? 1);
    this.snKey = keyOf(this.suite, 0x53);
    this.memberList = opts.members ?? [];
    this.members = new Members({ mode: opts.mode ?? "members", members: this.memberList });
    this.sec = new SecureSupernode({
      suite: this.suite,
      staticKey: this.snKey,
      members: this.members,
      psk: opts.psk,
      limits: opts.limits,
      maxSessions: opts.maxSessions,
    }, 0);
    this.core = new SupernodeCore({
      sealer: this.sec.sealer,
      random: prng(7),
      mayHold: (n, id, key) => this.members.mayHold(n, id, key),
    });
    const core7 = this.core;
    this.sec.registered = (n) => core7.nodeIds(n);
    this.snOpts = { psk: opts.psk, limits: opts.limits, maxSessions: opts.maxSessions };
  }

  /** A supernode crash and restart: same key and member list, all state lost. */
  restartSupernode(): void {
    const members = new Members({ mode: this.members.mode, members: this.memberList });
    this.sec = new SecureSupernode({
      suite: this.suite,
      staticKey: this.snKey,
      members,
      psk: this.snOpts.psk,
      limits: this.snOpts.limits,
      maxSessions: this.snOpts.maxSessions,
    }, this.now);
    this.core = new SupernodeCore({
      sealer: this.sec.sealer,
      random: prng(8),
      mayHold: (n, id, key) => members.mayHold(n, id, key),
    });
    const core8 = this.core;
    this.sec.registered = (n) => core8.nodeIds(n);
  }

  addNode(
    name: string,
    key: StaticKey,
    o: {
      nodeId?: number;
      psk?: Uint8Array;
      snKey?: Uint8Array;
      limits?: SessionLimits;
      trusted?: TrustedPeer[];
    } = {},
  ): LabNode {
    const ep = `192.0.2.${this.nodes.size + 10}:${this.nextPort++}`;
    const sec = new SecureNode({
      suite: this.suite,
      staticKey: key,
      supernodeKey: o.snKey ?? this.snKey.publicKey,
      supernode: keyedEndpoint(SN_EP),
      network: 0,
      requestedId: o.nodeId ?? 0,
      psk: o.psk,
      limits: o.limits,
      trusted: o.trusted,
    }, this.now);
    const core = new NodeCore({
      directory: sec,
      supernode: keyedEndpoint(SN_EP),
      identity: key.publicKey,
      sealer: sec.sealer,
      random: prng(this.nodes.size + 100),
      nodeId: o.nodeId ?? "auto",
      localEndpoints: [],
    });
    const n: LabNode = { name, ep, key, sec, core, frames: [], events: [], up: true };
    this.nodes.set(name, n);
    sec.start(this.now, this.wall());
    core.start(this.now);
    this.flush();
    return n;
  }

  node(name: string): LabNode {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  /** Injects a datagram as if `from` sent it. */
  inject(from: string, to: string, bytes: Uint8Array): void {
    this.queue.push({ at: this.now, from, to, bytes });
  }

  private push(from: string, to: string, bytes: Uint8Array): void {
    const f = { at: this.now + 10, from, to, bytes };
    if (from === SN_EP) this.snSeen.push(bytes.slice());
    if (this.filter(f)) this.queue.push(f);
  }

  flush(): void {
    for (const o of this.sec.takeOutgoing()) this.push(SN_EP, o.to.key, o.bytes);
    for (const o of this.core.takeOutgoing()) this.push(SN_EP, o.to.key, o.bytes);
    this.snEvents.push(...this.sec.takeEvents());
    this.core.takeEvents();
    for (const n of this.nodes.values()) {
      const outs = [...n.sec.takeOutgoing(), ...n.core.takeOutgoing()];
      n.events.push(...n.sec.takeEvents());
      n.core.takeEvents();
      for (const f of n.core.takeFrames()) n.frames.push(f.slice());
      if (n.up) { for (const o of outs) this.push(n.ep, o.to.key, o.bytes); }
    }
  }

  private deliver(f: Flight): void {
    if (f.to === SN_EP) {
      this.snSeen.push(f.bytes.slice());
      const from = keyedEndpoint(f.from);
      if (this.sec.receive(from, f.bytes, this.now) === "core") {
        this.core.receive(from, f.bytes, this.now);
      }
      return;
    }
    for (const n of this.nodes.values()) {
      if (n.ep === f.to && n.up) {
        const from = keyedEndpoint(f.from);
        if (n.sec.receive(from, f.bytes, this.now, this.wall()) === "core") {
          n.core.receive(from, f.bytes, this.now);
        }
      }
    }
  }

  /** Wall-clock time of the lab (ms since 1970): a fixed date plus `now`. */
  wall(): number {
    return WALL_EPOCH + this.now;
  }

  /** Runs the network until `now + ms`. */
  run(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 10;
      // In the order they were due (an injected packet before one sent later).
      const due = this.queue.filter((f) => f.at <= this.now).sort((x, y) => x.at - y.at);
      this.queue = this.queue.filter((f) => f.at > this.now);
      for (const f of due) this.deliver(f);
      this.sec.poll(this.now);
      this.core.poll(this.now);
      for (const n of this.nodes.values()) {
        if (!n.up) continue;
        n.sec.poll(this.now, this.wall());
        n.core.poll(this.now);
      }
      this.flush();
    }
  }

  /** Runs 10 ms at a time until `done()` or `ms` passed; returns `done()`. */
  runUntil(done: () => boolean, ms: number): boolean {
    const end = this.now + ms;
    while (!done() && this.now < end) this.run(10);
    return done();
  }

  /**
   * Runs until `now + ms` the way a daemon's loop does: time jumps to the
   * next packet arrival or the earliest `nextDeadline()` of any core or
   * security layer, and only what is due is polled. Returns the number of
   * wake-ups (bounded).
   */
  runByDeadlines(ms: number): number {
    const end = this.now + ms;
    let wakeups = 0;
    for (; wakeups < 100_000; wakeups++) {
      let t = Infinity;
      for (const f of this.queue) t = Math.min(t, f.at);
      const all: { poll(now: number): void; nextDeadline(): number }[] = [this.sec, this.core];
      for (const n of this.nodes.values()) {
        if (!n.up) continue;
        const sec = n.sec;
        all.push({
          poll: (t) => sec.poll(t, WALL_EPOCH + t),
          nextDeadline: () => sec.nextDeadline(),
        });
        all.push(n.core);
      }
      for (const x of all) t = Math.min(t, x.nextDeadline());
      if (t > end) break;
      this.now = Math.max(this.now, t);
      const due = this.queue.filter((f) => f.at <= this.now);
      this.queue = this.queue.filter((f) => f.at > this.now);
      for (const f of due) this.deliver(f);
      for (const x of all) if (x.nextDeadline() <= this.now) x.poll(this.now);
      this.flush();
    }
    this.now = end;
    return wakeups;
  }

  /** Sends a frame from a node's TAP. */
  send(name: string, f: Uint8Array): string {
    const n = this.node(name);
    const r = n.core.sendFrame(f, this.now);
    this.flush();
    return r;
  }

  idOf(name: string): number {
    return this.node(name).core.status().nodeId;
  }
}

/** True when `needle` occurs in `hay`. */
export function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
