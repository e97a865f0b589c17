/**
 * VPN conversations: a supernode and three nodes over an in-memory network
 * with NAT boxes (full cone, port-restricted cone, symmetric), link blocks,
 * seeded loss and latency, run at explicit times by a discrete-event loop.
 * No test sleeps; time is the simulation's `now`.
 */
import { assert, assertEquals } from "../assert.ts";
import { matAddress, writeMac } from "../../core/mac.ts";
import { BROADCAST } from "../../core/mac.ts";
import { DEFAULT_PORT, maxFrame } from "../../core/vpn/constants.ts";
import { type NodeConfig, NodeCore, type NodeEvent } from "../../core/vpn/node.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { encodePacket, type Message } from "../../core/vpn/messages.ts";
import fc from "fast-check";
import { PEER_TIMERS } from "../../core/vpn/peer.ts";
import {
  type SupernodeConfig,
  SupernodeCore,
  type SupernodeEvent,
} from "../../core/vpn/supernode.ts";
import type { Outgoing } from "../../core/vpn/backlog.ts";
import { type KeyedEndpoint, keyedEndpoint as k } from "../../core/addr.ts";

// ---------------------------------------------------------------- the lab

/** mulberry32: a small seeded PRNG, [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Core {
  receive(from: KeyedEndpoint, bytes: Uint8Array, now: number): void;
  poll(now: number): void;
  nextDeadline(): number;
  takeOutgoing(): Outgoing[];
  takeEvents(): unknown[];
}

type NatKind = "full_cone" | "port_restricted" | "symmetric";

interface Nat {
  name: string;
  publicIp: string;
  kind: NatKind;
  nextPort: number;
  /** mapping key -> public port */
  out: Map<string, number>;
  /** public port -> { inside endpoint, destinations sent to } */
  in: Map<number, { inside: string; allowed: Set<string> }>;
}

interface Host {
  name: string;
  ip: string;
  port: number;
  nat: Nat | null;
  core: Core | null;
  events: { at: number; ev: unknown }[];
  frames: { at: number; frame: Uint8Array }[];
}

interface Packet {
  at: number;
  seq: number;
  from: string;
  to: string;
  bytes: Uint8Array;
  /** Which host sent it (for NAT lookups on the way). */
  src: Host | null;
}

const SN_IP = "198.51.100.1";
const SN = `${SN_IP}:${DEFAULT_PORT}`;

function split(ep: string): [string, number] {
  const i = ep.lastIndexOf(":");
  return [ep.slice(0, i), Number(ep.slice(i + 1))];
}

class Lab {
  now = 0;
  private seq = 0;
  private queue: Packet[] = [];
  readonly hosts = new Map<string, Host>();
  private readonly byEndpoint = new Map<string, Host>();
  readonly nats = new Map<string, Nat>();
  /** Dropped public-address pairs "a>b" (both directions when blocked with `block`). */
  private readonly blocked = new Set<string>();
  readonly rng: () => number;
  loss = 0;
  latencyMs = 10;
  delivered = 0;
  dropped = 0;
  /** Datagrams sent with their own TTL: [host, destination, ttl]. */
  readonly ttls: [string, string, number][] = [];
  private identitySeq = 0;
  private readonly identities = new Map<string, Uint8Array>();

  /** The supernode's endpoint. */
  readonly sn: string;

  constructor(seed = 1, readonly snIp = SN_IP) {
    this.rng = prng(seed);
    this.sn = `${snIp}:${DEFAULT_PORT}`;
  }

  nat(name: string, publicIp: string, kind: NatKind): Nat {
    const n: Nat = { name, publicIp, kind, nextPort: 40000, out: new Map(), in: new Map() };
    this.nats.set(name, n);
    return n;
  }

  private addHost(
    name: string,
    ip: string,
    port: number,
    nat: Nat | null,
    core: Core | null,
  ): Host {
    const h: Host = { name, ip, port, nat, core, events: [], frames: [] };
    this.hosts.set(name, h);
    this.byEndpoint.set(`${ip}:${port}`, h);
    return h;
  }

  supernode(overrides: Partial<SupernodeConfig> = {}, seed = 99): SupernodeCore {
    const core = new SupernodeCore({
      sealer: new NullSealer(),
      random: prng(seed),
      ...overrides,
    });
    const h = this.hosts.get("sn");
    if (h) h.core = core;
    else this.addHost("sn", this.snIp, DEFAULT_PORT, null, core);
    return core;
  }

  /** Stops the supernode host: packets to it vanish. */
  supernodeDown(): void {
    this.hosts.get("sn")!.core = null;
  }

  identity(): Uint8Array {
    const id = new Uint8Array(32);
    id[0] = 0xee;
    id[31] = ++this.identitySeq;
    return id;
  }

  /** The identity the node named `name` was first started with. */
  identityOf(name: string): Uint8Array {
    return this.identities.get(name)!;
  }

  /** A node host behind `nat` (or public when null) at private `ip`, started now. */
  node(
    name: string,
    ip: string,
    nat: Nat | null,
    config: Partial<NodeConfig> = {},
  ): NodeCore {
    const identity = config.identity ?? this.identity();
    if (!this.identities.has(name)) this.identities.set(name, identity);
    const core = new NodeCore({
      supernode: k(this.sn),
      identity,
      sealer: new NullSealer(),
      random: prng(name.charCodeAt(0) * 7919 + this.identitySeq),
      localEndpoints: [k(`${ip}:${DEFAULT_PORT}`)],
      ...config,
    });
    const h = this.hosts.get(name);
    if (h) h.core = core;
    else this.addHost(name, ip, DEFAULT_PORT, nat, core);
    core.start(this.now);
    this.drain(this.hosts.get(name)!);
    return core;
  }

  host(name: string): Host {
    return this.hosts.get(name)!;
  }

  block(a: string, b: string): void {
    this.blocked.add(`${a}>${b}`);
    this.blocked.add(`${b}>${a}`);
  }

  unblock(a: string, b: string): void {
    this.blocked.delete(`${a}>${b}`);
    this.blocked.delete(`${b}>${a}`);
  }

  /** Public address a host's traffic shows up with. */
  publicIp(h: Host): string {
    return h.nat ? h.nat.publicIp : h.ip;
  }

  /** Sends `bytes` from an arbitrary endpoint (an attacker on the Internet). */
  inject(from: string, to: string, bytes: Uint8Array): void {
    this.route(null, from, to, bytes);
  }

  private route(src: Host | null, fromInside: string, to: string, bytes: Uint8Array): void {
    let from = fromInside;
    const [dstIp] = split(to);
    if (src?.nat) {
      const nat = src.nat;
      const sameLan = [...this.hosts.values()].some((h) => h.nat === nat && h.ip === dstIp);
      // No hairpinning: a packet to the NAT's own public address is lost.
      if (dstIp === nat.publicIp) return void this.dropped++;
      if (!sameLan) {
        const key = nat.kind === "symmetric" ? `${fromInside}->${to}` : fromInside;
        let port = nat.out.get(key);
        if (port === undefined) {
          port = nat.nextPort++;
          nat.out.set(key, port);
          nat.in.set(port, { inside: fromInside, allowed: new Set() });
        }
        nat.in.get(port)!.allowed.add(to);
        from = `${nat.publicIp}:${port}`;
      }
    }
    if (this.blocked.has(`${split(from)[0]}>${dstIp}`)) return void this.dropped++;
    if (this.loss > 0 && this.rng() < this.loss) return void this.dropped++;
    this.queue.push({
      at: this.now + this.latencyMs,
      seq: this.seq++,
      from,
      to,
      bytes: bytes.slice(),
      src,
    });
  }

  private deliver(p: Packet): void {
    let [dstIp, dstPort] = split(p.to);
    const nat = [...this.nats.values()].find((n) => n.publicIp === dstIp);
    let to = p.to;
    if (nat) {
      const m = nat.in.get(dstPort);
      if (!m) return void this.dropped++;
      if (nat.kind !== "full_cone" && !m.allowed.has(p.from)) return void this.dropped++;
      to = m.inside;
      [dstIp, dstPort] = split(to);
    }
    const h = this.byEndpoint.get(to);
    if (!h || !h.core) return void this.dropped++;
    // Private addresses are reachable only from the same LAN (or after NAT translation).
    const senderIp = split(p.from)[0];
    if (h.nat && !nat) {
      const sameLan = [...this.hosts.values()].some((x) => x.nat === h.nat && x.ip === senderIp);
      if (!sameLan) return void this.dropped++;
    }
    this.delivered++;
    // The daemon reuses its receive buffer: scribble over it after the call.
    const buf = p.bytes;
    h.core.receive(k(p.from), buf, this.now);
    buf.fill(0xa5);
    this.drain(h);
  }

  drain(h: Host): void {
    if (!h.core) return;
    for (const o of h.core.takeOutgoing()) {
      if (o.ttl !== undefined) this.ttls.push([h.name, o.to.key, o.ttl]);
      this.route(h, `${h.ip}:${h.port}`, o.to.key, o.bytes);
    }
    for (const ev of h.core.takeEvents()) h.events.push({ at: this.now, ev });
    if (h.core instanceof NodeCore) {
      for (const f of h.core.takeFrames()) h.frames.push({ at: this.now, frame: f });
    }
  }

  /** Runs the world until `until` (ms), bounded in steps. */
  runUntil(until: number): void {
    for (let steps = 0; steps < 2_000_000; steps++) {
      let next = Infinity;
      for (const p of this.queue) if (p.at < next) next = p.at;
      for (const h of this.hosts.values()) if (h.core) next = Math.min(next, h.core.nextDeadline());
      if (next > until) {
        this.now = until;
        return;
      }
      this.now = Math.max(this.now, next);
      const due = this.queue.filter((p) => p.at <= this.now).sort((a, b) =>
        a.at - b.at || a.seq - b.seq
      );
      this.queue = this.queue.filter((p) => p.at > this.now);
      for (const p of due) this.deliver(p);
      for (const h of this.hosts.values()) {
        if (h.core && h.core.nextDeadline() <= this.now) {
          h.core.poll(this.now);
          this.drain(h);
        }
      }
    }
    throw new Error("lab: step bound reached");
  }

  run(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /** Runs until `cond()` holds, at most `maxMs`; returns the time it held or -1. */
  runUntilTrue(cond: () => boolean, maxMs: number, stepMs = 10): number {
    const end = this.now + maxMs;
    while (this.now < end) {
      if (cond()) return this.now;
      this.runUntil(Math.min(end, this.now + stepMs));
    }
    return cond() ? this.now : -1;
  }

  /** Hands a frame from a host's TAP to its node core. */
  send(name: string, frame: Uint8Array): string {
    const h = this.host(name);
    const r = (h.core as NodeCore).sendFrame(frame, this.now);
    this.drain(h);
    return r;
  }

  nodeEvents(name: string): NodeEvent[] {
    return this.host(name).events.map((e) => e.ev as NodeEvent);
  }

  snEvents(): SupernodeEvent[] {
    return this.host("sn").events.map((e) => e.ev as SupernodeEvent);
  }
}

const ETHERTYPE_TEST = 0x88b5; // IEEE local experimental

/** A 64-byte frame to `dst` from `src` whose payload starts with `tag` (u32). */
function frame(dst: number, src: number, tag: number, size = 64): Uint8Array {
  const f = new Uint8Array(size);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  f[12] = ETHERTYPE_TEST >> 8;
  f[13] = ETHERTYPE_TEST & 0xff;
  new DataView(f.buffer).setUint32(14, tag);
  return f;
}

function tagOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset).getUint32(14);
}

function tags(h: Host): number[] {
  return h.frames.map((f) => tagOf(f.frame));
}

/** MAT address of leaf 1 behind node `id` of supernode 1. */
function mat(id: number): number {
  return matAddress(1, id, 1);
}

function idOf(n: NodeCore): number {
  return n.status().nodeId;
}

function peerOf(n: NodeCore, id: number) {
  return n.peers().find((p) => p.node === id);
}

/** Supernode + three nodes behind three port-restricted NATs, registered. */
function threeNodes(
  seed = 1,
  kinds: NatKind[] = ["port_restricted", "port_restricted", "port_restricted"],
) {
  const lab = new Lab(seed);
  const sn = lab.supernode();
  const natA = lab.nat("natA", "203.0.113.1", kinds[0]);
  const natB = lab.nat("natB", "203.0.113.2", kinds[1]);
  const natC = lab.nat("natC", "203.0.113.3", kinds[2]);
  const a = lab.node("a", "10.0.1.2", natA);
  const b = lab.node("b", "10.0.2.2", natB);
  const c = lab.node("c", "10.0.3.2", natC);
  lab.run(100);
  return { lab, sn, a, b, c };
}

// ---------------------------------------------------------------- tests

Deno.test("vpn: three nodes register with auto ids; each learns its MAT supernode id and public endpoint", () => {
  const { lab, sn, a, b, c } = threeNodes();
  for (const n of [a, b, c]) {
    assertEquals(n.status().state, "registered");
    assertEquals(n.status().supernodeId, 1);
  }
  const ids = [a, b, c].map(idOf);
  assertEquals(new Set(ids).size, 3);
  for (const id of ids) assert(id >= 1 && id <= 0xfffe);
  const net = sn.status().networks.find((n) => n.network === 0)!;
  assertEquals(net.nodes.map((n) => n.node).sort(), [...ids].sort());
  // The observed endpoint is the NAT mapping toward the supernode.
  const ev = lab.nodeEvents("a").find((e) => e.type === "registered");
  assert(ev && ev.type === "registered");
  assertEquals(ev.observed, net.nodes.find((n) => n.node === idOf(a))!.endpoint);
  assert(ev.observed.startsWith("203.0.113.1:"));
  // Keepalives hold the registration: a minute later nothing expired.
  lab.run(60_000);
  assertEquals(sn.status().networks[0].nodes.length, 3);
  assertEquals(sn.status().counters.registrations_expired ?? 0, 0);
  assert(a.status().counters.tx_keepalive >= 6);
  assert(a.status().supernodeRttMs === 2 * lab.latencyMs);
});

Deno.test("vpn: an auto id is kept across a node restart (clean and crash), a new identity gets another", () => {
  const { lab, a, b } = threeNodes();
  const idB = idOf(b);
  // Clean restart: deregister, start a new core with the same identity.
  const bIdentity = lab.identityOf("b");
  b.deregister(lab.now);
  lab.drain(lab.host("b"));
  lab.run(1000);
  const b2 = lab.node("b", "10.0.2.2", lab.host("b").nat, { identity: bIdentity });
  lab.run(1000);
  assertEquals(b2.status().state, "registered");
  assertEquals(idOf(b2), idB);
  // Crash: no deregistration; the old registration is still live at the supernode.
  const b3 = lab.node("b", "10.0.2.2", lab.host("b").nat, { identity: bIdentity });
  lab.run(1000);
  assertEquals(idOf(b3), idB);
  // A node with a new identity does not get B's id even while B is away.
  b3.deregister(lab.now);
  lab.drain(lab.host("b"));
  lab.run(1000);
  const natD = lab.nat("natD", "203.0.113.4", "full_cone");
  const d = lab.node("d", "10.0.4.2", natD);
  lab.run(1000);
  assertEquals(d.status().state, "registered");
  assert(idOf(d) !== idB && idOf(d) !== idOf(a));
});

Deno.test("vpn: a long-lived auto node keeps its id on a crash restart even when its memory aged out and a lower id is free", () => {
  const lab = new Lab(52);
  const sn = lab.supernode({ identityAgeMs: 60_000 });
  const a = lab.node("a", "10.0.1.2", null);
  lab.run(100);
  const b = lab.node("b", "10.0.2.2", null);
  lab.run(100);
  const idA = idOf(a), idB = idOf(b);
  assert(idA < idB);
  a.deregister(lab.now);
  lab.drain(lab.host("a"));
  // Two minutes of keepalives: every memory of the REGISTERs has aged out.
  lab.run(120_000);
  assertEquals(sn.status().networks[0].identities, 0);
  // b crashes and comes back at once: its registration is still live.
  const b2 = lab.node("b", "10.0.2.2", null, { identity: lab.identityOf("b") });
  lab.run(100);
  assertEquals(idOf(b2), idB);
  // b leaves cleanly: its id is remembered from that moment for identityAgeMs.
  b2.deregister(lab.now);
  lab.drain(lab.host("b"));
  lab.run(30_000);
  const b3 = lab.node("b", "10.0.2.2", null, { identity: lab.identityOf("b") });
  lab.run(100);
  assertEquals(idOf(b3), idB);
});

Deno.test("vpn: a second node claiming a live id is refused with a reason on both sides; it gets the id once free", () => {
  const lab = new Lab(3);
  const sn = lab.supernode();
  const natA = lab.nat("natA", "203.0.113.1", "full_cone");
  const natB = lab.nat("natB", "203.0.113.2", "full_cone");
  const a = lab.node("a", "10.0.1.2", natA, { nodeId: 5 });
  lab.run(100);
  const b = lab.node("b", "10.0.2.2", natB, { nodeId: 5 });
  lab.run(100);
  assertEquals(a.status().state, "registered");
  assertEquals(b.status().state, "refused");
  const nodeSide = lab.nodeEvents("b").find((e) => e.type === "refused");
  assert(nodeSide && nodeSide.type === "refused");
  assertEquals(nodeSide.reason, "id_in_use");
  assertEquals(nodeSide.requested, 5);
  assert(nodeSide.text.includes("another live node"));
  const snSide = lab.snEvents().find((e) => e.type === "refused");
  assert(snSide && snSide.type === "refused");
  assertEquals([snSide.reason, snSide.requested, snSide.endpoint.startsWith("203.0.113.2:")], [
    "id_in_use",
    5,
    true,
  ]);
  // A's registration is untouched.
  assertEquals(sn.status().networks[0].nodes.map((n) => n.endpoint.split(":")[0]), ["203.0.113.1"]);
  // Retries every 30 s; after A leaves, B gets id 5.
  lab.run(31_000);
  assertEquals(b.status().state, "refused");
  a.deregister(lab.now);
  lab.drain(lab.host("a"));
  const t = lab.runUntilTrue(() => b.status().state === "registered", 40_000, 100);
  assert(t >= 0);
  assertEquals(idOf(b), 5);
  // Only one "refused" event on the node, not one per retry.
  assertEquals(lab.nodeEvents("b").filter((e) => e.type === "refused").length, 1);
});

Deno.test("vpn: broadcast and multicast go through the supernode to every other node", () => {
  const { lab, sn, a } = threeNodes();
  assertEquals(lab.send("a", frame(BROADCAST, mat(idOf(a)), 1)), "broadcast");
  assertEquals(lab.send("a", frame(0x0100_5e00_0001, mat(idOf(a)), 2)), "broadcast");
  lab.run(100);
  assertEquals(tags(lab.host("b")), [1, 2]);
  assertEquals(tags(lab.host("c")), [1, 2]);
  assertEquals(tags(lab.host("a")), []);
  assertEquals(sn.status().counters.broadcast_frames, 2);
  assertEquals(sn.status().counters.relayed_frames, 0);
  // The frame arrives unchanged.
  assertEquals(lab.host("b").frames[0].frame, frame(BROADCAST, mat(idOf(a)), 1));
});

Deno.test("vpn: unicast starts relayed, the supernode introduces, both punch, traffic goes direct", () => {
  const { lab, sn, a, b } = threeNodes();
  const idA = idOf(a), idB = idOf(b);
  assertEquals(lab.send("a", frame(mat(idB), mat(idA), 1)), "relay");
  lab.run(2 * lab.latencyMs);
  assertEquals(tags(lab.host("b")), [1]);
  assertEquals(sn.status().counters.relayed_frames, 1);
  assertEquals(sn.status().counters.introductions, 1);
  // Punching through two port-restricted NATs takes a few probe rounds.
  const t = lab.runUntilTrue(
    () => peerOf(a, idB)?.path === "direct" && peerOf(b, idA)?.path === "direct",
    3000,
  );
  assert(t >= 0, "direct both ways");
  assert(t - 0 < 2000);
  const pa = peerOf(a, idB)!;
  assertEquals(pa.endpoint.startsWith("203.0.113.2:"), true);
  assertEquals(pa.rttMs, 2 * lab.latencyMs);
  const relayedBefore = sn.status().counters.relayed_frames;
  for (let i = 2; i <= 11; i++) {
    assertEquals(lab.send("a", frame(mat(idB), mat(idA), i)), "direct");
    assertEquals(lab.send("b", frame(mat(idA), mat(idB), 100 + i)), "direct");
    lab.run(50);
  }
  assertEquals(tags(lab.host("b")), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assertEquals(tags(lab.host("a")).length, 10);
  assertEquals(sn.status().counters.relayed_frames, relayedBefore);
  assertEquals(peerOf(a, idB)!.txFrames, 11);
  assertEquals(peerOf(b, idA)!.rxFrames, 11);
  const ev = lab.nodeEvents("a").find((e) => e.type === "path");
  assert(ev && ev.type === "path" && ev.path === "direct" && ev.cause === "echo");
  // The first punch round of each side went with TTL 2 (one probe per candidate), no later one.
  const low = (name: string) => lab.ttls.filter(([h]) => h === name);
  assert(low("a").length >= 1 && low("b").length >= 1, JSON.stringify(lab.ttls));
  assert(lab.ttls.every(([, , ttl]) => ttl === 2), JSON.stringify(lab.ttls));
  assertEquals(a.status().counters.tx_probe_low_ttl, low("a").length);
  // Keepalive probes hold the path while idle.
  lab.run(120_000);
  assertEquals(peerOf(a, idB)!.path, "direct");
  assertEquals(peerOf(a, idB)!.directFailures, 0);
});

/** a and b direct; a streams frames to b every `everyMs`, returns a sender. */
function directPair(seed = 1) {
  const env = threeNodes(seed);
  const { lab, a, b } = env;
  const idA = idOf(a), idB = idOf(b);
  lab.send("a", frame(mat(idB), mat(idA), 0));
  const t = lab.runUntilTrue(
    () => peerOf(a, idB)?.path === "direct" && peerOf(b, idA)?.path === "direct",
    3000,
  );
  assert(t >= 0);
  let tag = 1;
  const stream = (ms: number, everyMs = 100) => {
    const sent: number[] = [];
    const end = lab.now + ms;
    while (lab.now < end) {
      lab.send("a", frame(mat(idB), mat(idA), tag));
      sent.push(tag++);
      lab.run(everyMs);
    }
    return sent;
  };
  return { ...env, idA, idB, stream };
}

Deno.test("vpn: a direct path that stops answering falls back to relay; traffic keeps flowing", () => {
  const { lab, sn, a, idB, stream } = directPair();
  stream(1000);
  const before = lab.host("b").frames.length;
  lab.block("203.0.113.1", "203.0.113.2");
  const blockedAt = lab.now;
  const sent = stream(15_000);
  const p = peerOf(a, idB)!;
  assertEquals(p.path, "relay");
  assertEquals(p.directFailures, 1);
  const ev = lab.nodeEvents("a").find((e) => e.type === "path" && e.path === "relay");
  assert(ev && ev.type === "path" && ev.cause === "no_echo");
  const failAt = lab.host("a").events.find((e) =>
    (e.ev as NodeEvent).type === "path" &&
    (e.ev as NodeEvent as { path: string }).path === "relay"
  )!.at;
  // Detected within silence + 3 probe timeouts.
  assert(
    failAt - blockedAt <= PEER_TIMERS.silenceMs + 3 * PEER_TIMERS.probeTimeoutMs + 100,
    `detected after ${failAt - blockedAt} ms`,
  );
  // Frames sent once the check probe went unanswered went through the relay:
  // only frames sent in the silence window and one probe timeout are lost.
  const got = new Set(tags(lab.host("b")).slice(before));
  const lost = sent.filter((t) => !got.has(t));
  const bound = (PEER_TIMERS.silenceMs + PEER_TIMERS.probeTimeoutMs) / 100 + 2;
  assert(lost.length <= bound, `lost ${lost.length}, bound ${bound}`);
  assert(sent.slice(-50).every((t) => got.has(t)), "the last 5 s all arrived");
  assert(sn.status().counters.relayed_frames >= 50);
});

Deno.test("vpn: after a failure the direct path is retried with back-off and recovers", () => {
  const { lab, a, b, idA, idB, stream } = directPair();
  lab.block("203.0.113.1", "203.0.113.2");
  stream(12_000);
  assertEquals(peerOf(a, idB)!.path, "relay");
  // Still blocked: the retry (15 s back-off) punches and fails; back-off doubles.
  stream(30_000);
  assertEquals(peerOf(a, idB)!.path, "relay");
  assert(peerOf(a, idB)!.directFailures >= 2);
  lab.unblock("203.0.113.1", "203.0.113.2");
  const t0 = lab.now;
  let t = -1;
  for (let i = 0; i < 1200 && t < 0; i++) {
    stream(100);
    if (peerOf(a, idB)!.path === "direct") t = lab.now;
  }
  assert(t >= 0, "recovered");
  // Back-off after two failures is 30 s (jittered down to 24 s) at most from the last failure.
  assert(t - t0 <= 31_000, `recovered after ${t - t0} ms`);
  assertEquals(peerOf(a, idB)!.directUps, 2);
  void b;
  void idA;
});

Deno.test("vpn: supernode restart: nodes re-register within 10 s of its return; direct paths keep working", () => {
  for (const downMs of [2000, 30_000]) {
    const { lab, a, b, idA, idB, stream } = directPair(7);
    lab.supernodeDown();
    const sent = stream(downMs);
    // Direct traffic is untouched while the supernode is away.
    const got = new Set(tags(lab.host("b")));
    assert(sent.every((t) => got.has(t)), `down ${downMs}: direct frames lost`);
    assertEquals(peerOf(a, idB)!.path, "direct");
    const back = lab.now;
    const sn2 = lab.supernode({}, 1234);
    const t = lab.runUntilTrue(
      () => {
        const ids = sn2.status().networks[0].nodes.map((n) => n.node);
        return ids.includes(idA) && ids.includes(idB) && a.status().state === "registered" &&
          b.status().state === "registered";
      },
      20_000,
      50,
    );
    assert(t >= 0, `down ${downMs}: re-registered`);
    assert(t - back <= 10_000, `down ${downMs}: re-registered after ${t - back} ms`);
    // Same ids (the nodes ask for them), and the nodes saw the new boot id.
    assertEquals(idOf(a), idA);
    const ev = lab.nodeEvents("a").filter((e) => e.type === "registered").at(-1);
    assert(ev && ev.type === "registered" && ev.supernodeRestarted);
    assertEquals(peerOf(a, idB)!.path, "direct");
  }
});

Deno.test("vpn: supernode SIGTERM says going-away; nodes re-register with back-off until it is back", () => {
  const { lab, sn, a, b, c } = threeNodes(5);
  sn.shutdown(lab.now);
  lab.drain(lab.host("sn"));
  lab.run(50);
  lab.supernodeDown();
  for (const n of ["a", "b", "c"]) {
    const ev = lab.nodeEvents(n).find((e) => e.type === "reregistering");
    assert(ev && ev.type === "reregistering" && ev.cause === "going_away" && ev.retryS === 5, n);
  }
  assertEquals(a.status().state, "registering");
  lab.run(60_000);
  // Back-off capped at 8 s: about 1+2+4+8*6 s -> 9..12 REGISTERs in 60 s, not one per second.
  const regs = a.status().counters.tx_register;
  assert(regs >= 8 && regs <= 14, `sent ${regs} REGISTERs`);
  const back = lab.now;
  lab.supernode({}, 4321);
  const t = lab.runUntilTrue(
    () => [a, b, c].every((n) => n.status().state === "registered"),
    20_000,
    50,
  );
  assert(t >= 0 && t - back <= 10_000, `back after ${t - back}`);
});

Deno.test("vpn: symmetric NATs on both sides: punching fails, traffic stays relayed", () => {
  const { lab, sn, a, b } = threeNodes(11, ["symmetric", "symmetric", "full_cone"]);
  const idA = idOf(a), idB = idOf(b);
  const sent: number[] = [];
  for (let i = 0; i < 150; i++) {
    lab.send("a", frame(mat(idB), mat(idA), i));
    sent.push(i);
    lab.run(100);
  }
  assertEquals(peerOf(a, idB)!.path, "relay");
  assertEquals(peerOf(a, idB)!.directUps, 0);
  assert(peerOf(a, idB)!.directFailures >= 1);
  assertEquals(tags(lab.host("b")), sent);
  assertEquals(sn.status().counters.relayed_frames, 150);
  // The relayed path's RTT, from probes through the supernode: four hops.
  assertEquals(peerOf(a, idB)!.rttMs, 4 * lab.latencyMs);
  assertEquals(peerOf(a, idB)!.relayRttMs, 4 * lab.latencyMs);
  assertEquals(peerOf(a, idB)!.directRttMs, null);
  assert(sn.status().counters.relayed_probes >= 2);
  assert(a.status().counters.path_punch_failed >= 1);
  const ev = lab.nodeEvents("a").find((e) => e.type === "path");
  assert(ev && ev.type === "path" && ev.cause === "punch_failed");
});

Deno.test("vpn: symmetric on one side, full cone on the other: direct works via the peer-seen port", () => {
  const { lab, a, c } = threeNodes(12, ["symmetric", "port_restricted", "full_cone"]);
  const idA = idOf(a), idC = idOf(c);
  lab.send("a", frame(mat(idC), mat(idA), 1));
  const t = lab.runUntilTrue(
    () => peerOf(a, idC)?.path === "direct" && peerOf(c, idA)?.path === "direct",
    5000,
  );
  assert(t >= 0);
  // C reaches A at the port A's symmetric NAT opened toward C, not the one the supernode saw.
  const seenBySn = lab.nodeEvents("a").find((e) => e.type === "registered");
  assert(seenBySn && seenBySn.type === "registered");
  assert(peerOf(c, idA)!.endpoint !== seenBySn.observed);
  assert(peerOf(c, idA)!.endpoint.startsWith("203.0.113.1:"));
});

Deno.test("vpn: a slow path (1 s one way) still punches, stays direct under traffic and idles", () => {
  const lab = new Lab(41);
  lab.latencyMs = 1000;
  lab.supernode();
  const a = lab.node("a", "10.0.1.2", lab.nat("na", "203.0.113.1", "port_restricted"));
  const b = lab.node("b", "10.0.2.2", lab.nat("nb", "203.0.113.2", "port_restricted"));
  lab.run(3000);
  const idA = idOf(a), idB = idOf(b);
  lab.send("a", frame(mat(idB), mat(idA), 0));
  const t = lab.runUntilTrue(
    () => peerOf(a, idB)?.path === "direct" && peerOf(b, idA)?.path === "direct",
    20_000,
    100,
  );
  assert(t >= 0);
  assertEquals(peerOf(a, idB)!.rttMs, 2000);
  for (let i = 1; i <= 300; i++) {
    lab.send("a", frame(mat(idB), mat(idA), i));
    lab.run(100);
  }
  lab.run(120_000);
  assertEquals(peerOf(a, idB)!.directFailures, 0);
  assertEquals(peerOf(a, idB)!.path, "direct");
  assertEquals(tags(lab.host("b")).length, 301);
});

Deno.test("vpn: an IPv6 underlay: registration, IPv6 endpoints in introductions, direct path", () => {
  const lab = new Lab(51, "[2001:db8::1]");
  const sn = lab.supernode();
  const a = lab.node("a", "[2001:db8:a::2]", null);
  const b = lab.node("b", "[2001:db8:b::2]", null);
  lab.run(100);
  assertEquals([a.status().state, b.status().state], ["registered", "registered"]);
  assertEquals(a.status().supernode, "[2001:db8::1]:7654");
  assertEquals(
    sn.status().networks[0].nodes.map((n) => n.endpoint).sort(),
    ["[2001:db8:a::2]:7654", "[2001:db8:b::2]:7654"],
  );
  lab.send("a", frame(mat(idOf(b)), mat(idOf(a)), 1));
  const t = lab.runUntilTrue(() => peerOf(a, idOf(b))?.path === "direct", 3000);
  assert(t >= 0);
  assertEquals(peerOf(a, idOf(b))!.endpoint, "[2001:db8:b::2]:7654");
  assertEquals(tags(lab.host("b")), [1]);
});

Deno.test("vpn: two nodes behind the same NAT (no hairpinning) go direct over their local endpoints", () => {
  const lab = new Lab(4);
  lab.supernode();
  const nat = lab.nat("home", "203.0.113.9", "port_restricted");
  const a = lab.node("a", "192.168.1.10", nat);
  const b = lab.node("b", "192.168.1.11", nat);
  lab.run(100);
  lab.send("a", frame(mat(idOf(b)), mat(idOf(a)), 1));
  const t = lab.runUntilTrue(() => peerOf(a, idOf(b))?.path === "direct", 3000);
  assert(t >= 0);
  assertEquals(peerOf(a, idOf(b))!.endpoint, `192.168.1.11:${DEFAULT_PORT}`);
});

Deno.test("vpn: deregistration removes the node at once; frames to it are counted at the supernode", () => {
  const { lab, sn, a, b } = threeNodes();
  const idA = idOf(a), idB = idOf(b);
  b.deregister(lab.now);
  lab.drain(lab.host("b"));
  lab.run(50);
  assertEquals(b.status().state, "stopped");
  const ev = lab.snEvents().find((e) => e.type === "deregistered");
  assert(ev && ev.type === "deregistered" && ev.node === idB);
  assert(!sn.status().networks[0].nodes.some((n) => n.node === idB));
  lab.send("a", frame(mat(idB), mat(idA), 1));
  lab.send("a", frame(mat(idB), mat(idA), 2));
  lab.run(50);
  // Both frames and a's relay RTT probe for b are counted and dropped.
  assertEquals(sn.status().counters.drop_relay_no_receiver, 3);
  assertEquals(sn.status().counters.relayed_frames, 0);
  assertEquals(b.nextDeadline(), Infinity);
});

Deno.test("vpn: garbage from an attacker is counted and dropped; nobody loses traffic", () => {
  const { lab, sn, a, b, c } = threeNodes(21);
  const idA = idOf(a), idB = idOf(b), idC = idOf(c);
  const rnd = prng(0x6a7b);
  // Captured valid packets to mutate: a data packet and a register.
  const sample: Uint8Array[] = [];
  const hostA = lab.host("a");
  (a as NodeCore).sendFrame(frame(mat(idB), mat(idA), 999), lab.now);
  for (const o of a.takeOutgoing()) sample.push(o.bytes);
  void hostA;
  const attacker = "192.0.2.66:5555";
  const targets = [
    SN,
    ...["a", "b", "c"].map((n) => {
      const nat = lab.host(n).nat!;
      return `${nat.publicIp}:40000`;
    }),
  ];
  const sent: number[] = [];
  for (let i = 0; i < 300; i++) {
    for (let k = 0; k < 20; k++) {
      let bytes: Uint8Array;
      if (rnd() < 0.5) {
        bytes = new Uint8Array(Math.floor(rnd() * 120));
        for (let j = 0; j < bytes.length; j++) bytes[j] = rnd() * 256;
        if (bytes.length > 2 && rnd() < 0.5) [bytes[0], bytes[1]] = [0x4c, 2];
      } else {
        bytes = sample[Math.floor(rnd() * sample.length)].slice();
        bytes[Math.floor(rnd() * bytes.length)] ^= 1 + Math.floor(rnd() * 255);
      }
      lab.inject(attacker, targets[Math.floor(rnd() * targets.length)], bytes);
    }
    lab.send("a", frame(mat(idB), mat(idA), i));
    lab.send("c", frame(BROADCAST, mat(idC), 10_000 + i));
    sent.push(i);
    lab.run(100);
  }
  assertEquals(tags(lab.host("b")).filter((t) => t < 10_000), sent);
  assertEquals(tags(lab.host("a")).filter((t) => t >= 10_000).length, 300);
  assertEquals(tags(lab.host("b")).filter((t) => t >= 10_000).length, 300);
  const snc = sn.status().counters;
  const dropped = Object.entries(snc).filter(([k]) => k.startsWith("drop_")).reduce(
    (s, [, v]) => s + v,
    0,
  );
  assert(dropped > 500, `supernode dropped ${dropped}`);
  assertEquals(sn.status().networks[0].nodes.length, 3);
  for (const n of [a, b, c]) assertEquals(n.status().state, "registered");
});

Deno.test("vpn: registration survives 20% seeded loss and punching still goes direct", () => {
  const lab = new Lab(77);
  lab.loss = 0.2;
  lab.supernode();
  const a = lab.node("a", "10.0.1.2", lab.nat("na", "203.0.113.1", "port_restricted"));
  const b = lab.node("b", "10.0.2.2", lab.nat("nb", "203.0.113.2", "port_restricted"));
  const t = lab.runUntilTrue(
    () => a.status().state === "registered" && b.status().state === "registered",
    30_000,
  );
  assert(t >= 0);
  let ok = -1;
  for (let i = 0; i < 600 && ok < 0; i++) {
    lab.send("a", frame(mat(idOf(b)), mat(idOf(a)), i));
    lab.send("b", frame(mat(idOf(a)), mat(idOf(b)), i));
    lab.run(100);
    if (peerOf(a, idOf(b))?.path === "direct" && peerOf(b, idOf(a))?.path === "direct") ok = i;
  }
  assert(ok >= 0, "direct despite loss");
  assert(lab.dropped > 0);
});

Deno.test("vpn: frames larger than the MTU budget are counted and reported, not lost silently", () => {
  const { lab, a, b } = threeNodes();
  const max = maxFrame(1500, 6);
  assertEquals(a.status().maxFrame, max);
  assertEquals(lab.send("a", frame(mat(idOf(b)), mat(idOf(a)), 1, max)), "relay");
  assertEquals(lab.send("a", frame(mat(idOf(b)), mat(idOf(a)), 2, max + 1)), "too_big");
  assertEquals(lab.send("a", frame(mat(idOf(b)), mat(idOf(a)), 3, max + 100)), "too_big");
  assertEquals(a.status().counters.tx_too_big, 2);
  const ev = lab.nodeEvents("a").filter((e) => e.type === "frame_too_big");
  assertEquals(ev.length, 1);
  assert(ev[0].type === "frame_too_big" && ev[0].max === max && ev[0].length === max + 1);
  lab.run(50);
  assertEquals(tags(lab.host("b")), [1]);
  // Not MAT, self: each counted. Another AA (the allocator of a node's id in a
  // federation, docs/federation.md) reaches the node by its BBBB.
  assertEquals(lab.send("a", frame(0x0200_0000_0001, mat(idOf(a)), 4)), "not_mat");
  assertEquals(lab.send("a", frame(matAddress(2, idOf(b), 1), mat(idOf(a)), 5)), "direct");
  assertEquals(lab.send("a", frame(mat(idOf(a)), mat(idOf(a)), 6)), "to_self");
  assertEquals(lab.send("a", new Uint8Array(10)), "runt");
  const cnt = a.status().counters;
  assertEquals([
    cnt.tx_drop_not_mat,
    cnt.tx_drop_foreign_supernode,
    cnt.tx_drop_to_self,
    cnt.tx_drop_runt,
  ], [1, undefined, 1, 1]);
  lab.run(50);
  assertEquals(tags(lab.host("b")), [1, 5]);
});

Deno.test("vpn: isolated networks: same ids in two networks, broadcasts stay inside", () => {
  const lab = new Lab(8);
  const sn = lab.supernode({ networks: [0, 7] });
  const a = lab.node("a", "10.0.1.2", null, { network: 7, nodeId: 3 });
  const b = lab.node("b", "10.0.2.2", null, { network: 7, nodeId: 4 });
  const c = lab.node("c", "10.0.3.2", null, { network: 0, nodeId: 3 });
  const d = lab.node("d", "10.0.4.2", null, { network: 9 });
  lab.run(100);
  for (const n of [a, b, c]) assertEquals(n.status().state, "registered");
  assertEquals(d.status().state, "refused");
  const ev = lab.nodeEvents("d").find((e) => e.type === "refused");
  assert(ev && ev.type === "refused" && ev.reason === "unknown_network");
  lab.send("a", frame(BROADCAST, mat(3), 1));
  lab.run(50);
  assertEquals(tags(lab.host("b")), [1]);
  assertEquals(tags(lab.host("c")), []);
  assertEquals(sn.status().networks.map((n) => n.network).sort(), [0, 7]);
});

// ---------------------------------------------------------------- bounds

Deno.test("vpn bounds: nodes per network, networks, and idle network removal", () => {
  const lab = new Lab(31);
  const sn = lab.supernode({ maxNodesPerNetwork: 3, maxNetworks: 2, networkIdleMs: 60_000 });
  const nodes = ["a", "b", "c", "d"].map((n, i) => lab.node(n, `10.0.${i + 1}.2`, null));
  lab.run(100);
  assertEquals(nodes.map((n) => n.status().state), [
    "registered",
    "registered",
    "registered",
    "refused",
  ]);
  const ev = lab.nodeEvents("d").find((e) => e.type === "refused");
  assert(ev && ev.type === "refused" && ev.reason === "network_full");
  assertEquals(sn.status().counters.refused_network_full, 1);
  // Network 0 is configured; one more network may be created on demand, not two.
  const e = lab.node("e", "10.0.5.2", null, { network: 5 });
  const f = lab.node("f", "10.0.6.2", null, { network: 6 });
  lab.run(100);
  assertEquals([e.status().state, f.status().state], ["registered", "refused"]);
  assertEquals(lab.nodeEvents("f").find((x) => x.type === "refused")?.type, "refused");
  assertEquals(sn.status().networks.length, 2);
  // Network 5 empties, is removed after networkIdleMs; f's next retry gets in.
  e.deregister(lab.now);
  lab.drain(lab.host("e"));
  const t = lab.runUntilTrue(() => f.status().state === "registered", 120_000, 500);
  assert(t >= 60_000, `registered at ${t}`);
  assertEquals(sn.status().counters.networks_removed, 1);
  assert(lab.snEvents().some((x) => x.type === "network_removed" && x.network === 5));
  assertEquals(sn.status().networks.map((n) => n.network).sort(), [0, 6]);
});

Deno.test("vpn bounds: the auto-id identity table evicts the oldest and ages out", () => {
  const lab = new Lab(32);
  const sn = lab.supernode({ maxIdentities: 2, identityAgeMs: 3_600_000 });
  const a = lab.node("a", "10.0.1.2", null);
  lab.run(100);
  lab.node("b", "10.0.2.2", null);
  lab.run(100);
  lab.node("c", "10.0.3.2", null);
  lab.run(100);
  assertEquals(sn.status().networks[0].identities, 2);
  assertEquals(sn.status().counters.identities_evicted, 1);
  // The evicted identity (a's) is still registered; it keeps its live id.
  assertEquals(a.status().state, "registered");
  // Everyone leaves; after an hour the remembered ids are gone.
  for (const n of ["a", "b", "c"]) {
    (lab.host(n).core as NodeCore).deregister(lab.now);
    lab.drain(lab.host(n));
  }
  lab.run(3_601_000);
  assertEquals(sn.status().networks[0].identities, 0);
  assertEquals(sn.status().counters.identities_aged, 2);
});

Deno.test("vpn bounds: introductions are rate-limited per pair and the table is bounded", () => {
  const lab = new Lab(33);
  const sn = lab.supernode({ maxIntros: 2, introIntervalMs: 2000 });
  const ns = ["a", "b", "c", "d"].map((n, i) =>
    lab.node(n, `10.0.${i + 1}.2`, lab.nat(`n${n}`, `203.0.113.${i + 1}`, "symmetric"))
  );
  lab.run(100);
  const ids = ns.map(idOf);
  // a -> b, c, d: three pairs, the table keeps two.
  for (const id of ids.slice(1)) lab.send("a", frame(mat(id), mat(ids[0]), id));
  lab.run(100);
  assertEquals(sn.status().counters.introductions, 3);
  assertEquals(sn.status().counters.intros_evicted, 1);
  assertEquals(sn.status().counters.intros_table, 2);
  // d asks for a within 2 s of a's request: rate-limited, no second introduction.
  // (d's own node core would not ask: a's introduction already set it punching.)
  // The a-b pair was evicted from the table, so the newest pair a-d is used.
  assertEquals(peerOf(ns[3], ids[0])?.state, "punching");
  const bAt = sn.status().networks[0].nodes.find((n) => n.node === ids[3])!.endpoint;
  const req = encodePacket(
    { network: 0, sender: ids[3], receiver: 0 },
    {
      kind: "peer_request",
      peer: ids[0],
    },
    new NullSealer(),
    0,
  );
  assert(req.ok);
  lab.inject(bAt, SN, req.packet);
  lab.run(100);
  assertEquals(sn.status().counters.intro_rate_limited, 1);
  assertEquals(sn.status().counters.introductions, 3);
  lab.run(5000);
  assertEquals(sn.status().counters.intros_table, 0);
});

Deno.test("vpn bounds: node peers (LRU eviction, idle ageing) and the frame queue", () => {
  const lab = new Lab(34);
  lab.supernode();
  const a = lab.node("a", "10.0.1.2", null, { maxPeers: 2, timers: { idleMs: 30_000 } });
  lab.run(100);
  for (const id of [101, 102, 103]) {
    lab.send("a", frame(mat(id), mat(idOf(a)), id));
    lab.run(10);
  }
  assertEquals(a.peers().map((p) => p.node).sort(), [102, 103]);
  assertEquals(a.status().counters.peers_evicted, 1);
  lab.run(31_000);
  assertEquals(a.peers().length, 0);
  assertEquals(a.status().counters.peers_aged, 2);

  // Frames for the TAP: at most maxFrames wait; the rest are counted.
  const sealer = new NullSealer();
  const n = new NodeCore({
    supernode: k(SN),
    identity: lab.identity(),
    sealer,
    random: prng(5),
    nodeId: 9,
    maxFrames: 4,
  });
  n.start(0);
  n.takeOutgoing();
  const ack = encodePacket(
    { network: 0, sender: 0, receiver: 9 },
    {
      kind: "register_ack",
      supernodeId: 1,
      keepaliveS: 8,
      bootId: 1,
      observed: "192.0.2.9:7654",
    },
    sealer,
    0,
  );
  assert(ack.ok);
  n.receive(k(SN), ack.packet, 10);
  assertEquals(n.status().state, "registered");
  for (let i = 0; i < 10; i++) {
    const d = encodePacket(
      { network: 0, sender: 5, receiver: 0xffff },
      {
        kind: "data",
        frame: frame(BROADCAST, mat(5), i),
      },
      sealer,
      0,
    );
    assert(d.ok);
    n.receive(k(SN), d.packet, 20);
  }
  assertEquals(n.takeFrames().map(tagOf), [0, 1, 2, 3]);
  assertEquals(n.status().counters.frames_dropped, 6);
});

Deno.test("vpn bounds: the supernode's outgoing queue is bounded when the daemon does not drain", () => {
  const sealer = new NullSealer();
  const sn = new SupernodeCore({ sealer, random: prng(1), maxBacklog: 5 });
  const reg = (id: number) => {
    const identity = new Uint8Array(32);
    identity[0] = id;
    const r = encodePacket(
      { network: 0, sender: id, receiver: 0 },
      {
        kind: "register",
        auto: false,
        identity,
        locals: [],
      },
      sealer,
      0,
    );
    assert(r.ok);
    return r.packet;
  };
  for (let id = 1; id <= 8; id++) sn.receive(k(`192.0.2.${id}:7654`), reg(id), 0);
  assertEquals(sn.takeOutgoing().length, 5);
  assertEquals(sn.status().counters.outgoing_dropped, 3);
  assertEquals(sn.status().networks[0].nodes.length, 8);
});

Deno.test("vpn: a silent node's registration expires; a node whose NAT mapping changed re-registers", () => {
  const { lab, sn, a, b } = threeNodes(35);
  const idB = idOf(b);
  lab.host("b").core = null; // b vanishes without a word
  lab.run(31_000);
  const ev = lab.snEvents().find((e) => e.type === "expired");
  assert(ev && ev.type === "expired" && ev.node === idB);
  assertEquals(sn.status().counters.registrations_expired, 1);
  // a's NAT reboots: new public port. The supernode NAKs its keepalive
  // (not registered from there) and a registers again from the new port.
  const natA = lab.nats.get("natA")!;
  natA.out.clear();
  natA.in.clear();
  natA.nextPort = 50000;
  lab.run(10_000);
  const mine = sn.status().networks[0].nodes.find((n) => n.node === idOf(a))!;
  assertEquals(mine.endpoint, "203.0.113.1:50000");
  assert(
    lab.nodeEvents("a").some((e) => e.type === "reregistering" && e.cause === "not_registered"),
  );
  assert(lab.snEvents().some((e) => e.type === "registered" && e.moved));
});

Deno.test("vpn: a spoofed REGISTER or keepalive for a live id does not take it over", () => {
  const { lab, sn, a, b } = threeNodes(36);
  const idB = idOf(b);
  const sealer = new NullSealer();
  const evil = new Uint8Array(32).fill(0x66);
  const reg = encodePacket(
    { network: 0, sender: idB, receiver: 0 },
    {
      kind: "register",
      auto: false,
      identity: evil,
      locals: [],
    },
    sealer,
    0,
  );
  const ka = encodePacket(
    { network: 0, sender: idB, receiver: 0 },
    {
      kind: "keepalive",
      seq: 1,
      time: 1,
    },
    sealer,
    0,
  );
  const dereg = encodePacket(
    { network: 0, sender: idB, receiver: 0 },
    {
      kind: "deregister",
      reason: 0,
    },
    sealer,
    0,
  );
  assert(reg.ok && ka.ok && dereg.ok);
  for (const p of [reg.packet, ka.packet, dereg.packet]) lab.inject("192.0.2.66:1", SN, p);
  lab.run(100);
  const entry = sn.status().networks[0].nodes.find((n) => n.node === idB)!;
  assert(entry.endpoint.startsWith("203.0.113.2:"));
  assertEquals(sn.status().counters.refused_id_in_use, 1);
  assertEquals(sn.status().counters.drop_not_registered, 2);
  // NAKs to strangers are rate-limited: 1000 keepalives in one second, 200 NAKs.
  lab.run(1000);
  const before = lab.host("sn").events.length;
  for (let i = 0; i < 1000; i++) lab.inject("192.0.2.66:1", SN, ka.packet);
  lab.run(lab.latencyMs);
  assertEquals(sn.status().counters.nak_rate_limited, 800);
  assertEquals(lab.host("sn").events.length, before);
  // b still gets a's frames through the relay.
  lab.send("a", frame(mat(idB), mat(idOf(a)), 42));
  lab.run(50);
  assertEquals(tags(lab.host("b")), [42]);
});

Deno.test("vpn bounds: any sequence of registrations, junk and time keeps every supernode table in bounds (property)", () => {
  const limits = { maxNetworks: 3, maxNodesPerNetwork: 4, maxIdentities: 5, maxIntros: 3 };
  const action = fc.oneof(
    fc.record({
      kind: fc.constant("register" as const),
      network: fc.integer({ min: 0, max: 5 }),
      id: fc.integer({ min: 0, max: 12 }),
      auto: fc.boolean(),
      who: fc.integer({ min: 0, max: 15 }),
    }),
    fc.record({
      kind: fc.constant("request" as const),
      network: fc.integer({ min: 0, max: 5 }),
      id: fc.integer({ min: 1, max: 12 }),
      peer: fc.integer({ min: 1, max: 12 }),
      who: fc.integer({ min: 0, max: 15 }),
    }),
    fc.record({ kind: fc.constant("junk" as const), bytes: fc.uint8Array({ maxLength: 80 }) }),
    fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 120_000 }) }),
  );
  fc.assert(
    fc.property(fc.array(action, { maxLength: 120 }), (actions) => {
      const sealer = new NullSealer();
      const sn = new SupernodeCore({
        sealer,
        random: prng(3),
        identityAgeMs: 300_000,
        networkIdleMs: 60_000,
        ...limits,
      });
      let now = 0;
      for (const a of actions) {
        if (a.kind === "wait") now += a.ms;
        else if (a.kind === "junk") sn.receive(k("192.0.2.1:1"), a.bytes, now);
        else {
          const identity = new Uint8Array(32);
          identity[0] = a.who;
          const m: Message = a.kind === "register"
            ? { kind: "register", auto: a.auto, identity, locals: [] }
            : { kind: "peer_request", peer: a.peer };
          const r = encodePacket({ network: a.network, sender: a.id, receiver: 0 }, m, sealer, 0);
          assert(r.ok);
          sn.receive(k(`192.0.2.${a.who}:7654`), r.packet, now);
        }
        sn.poll(now);
        sn.takeOutgoing();
        sn.takeEvents();
        assert(sn.nextDeadline() > now);
        const st = sn.status();
        assert(st.networks.length <= limits.maxNetworks);
        for (const n of st.networks) {
          assert(n.nodes.length <= limits.maxNodesPerNetwork);
          assert(n.identities <= limits.maxIdentities);
          assertEquals(new Set(n.nodes.map((x) => x.node)).size, n.nodes.length);
          // One live registration per identity.
          assertEquals(new Set(n.nodes.map((x) => x.identity)).size, n.nodes.length);
        }
        assert(st.counters.intros_table <= limits.maxIntros);
      }
    }),
    { seed: 0xb0b, numRuns: 300 },
  );
});

Deno.test("vpn bounds: a node fed any mix of valid, mutated and random packets and frames stays in bounds (property)", () => {
  const sealer = new NullSealer();
  const ack = encodePacket(
    { network: 0, sender: 0, receiver: 9 },
    {
      kind: "register_ack",
      supernodeId: 1,
      keepaliveS: 8,
      bootId: 7,
      observed: "192.0.2.9:7654",
    },
    sealer,
    0,
  );
  assert(ack.ok);
  const msg: fc.Arbitrary<Message> = fc.oneof(
    fc.record({
      kind: fc.constant("peer_intro" as const),
      peer: fc.integer({ min: 0, max: 40 }),
      endpoints: fc.array(fc.integer({ min: 1, max: 9 }).map((i) => `192.0.2.${i}:7654`), {
        maxLength: 5,
      }),
    }),
    fc.record({
      kind: fc.constant("probe" as const),
      seq: fc.nat(),
      time: fc.nat(),
    }),
    fc.record({
      kind: fc.constant("probe_echo" as const),
      seq: fc.nat(),
      time: fc.nat(),
    }),
    fc.record({
      kind: fc.constant("data" as const),
      frame: fc.uint8Array({ minLength: 14, maxLength: 80 }),
    }),
    fc.record({
      kind: fc.constant("register_nak" as const),
      reason: fc.constantFrom("id_in_use", "not_registered") as fc.Arbitrary<"id_in_use">,
      requested: fc.constant(9),
    }),
    fc.record({
      kind: fc.constant("going_away" as const),
      reason: fc.constant(0),
      retryS: fc.integer({ min: 0, max: 10 }),
    }),
  );
  const step = fc.oneof(
    fc.record({
      kind: fc.constant("packet" as const),
      msg,
      sender: fc.integer({ min: 0, max: 40 }),
      receiver: fc.constantFrom(9, 0xffff, 3),
      fromSn: fc.boolean(),
      flip: fc.option(fc.nat()),
    }),
    fc.record({
      kind: fc.constant("frame" as const),
      to: fc.integer({ min: 0, max: 40 }),
      group: fc.boolean(),
      size: fc.integer({ min: 0, max: 1500 }),
    }),
    fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 150 }), (steps) => {
      const n = new NodeCore({
        supernode: k(SN),
        identity: new Uint8Array(32),
        sealer,
        random: prng(9),
        maxPeers: 4,
        maxFrames: 8,
      });
      let now = 0;
      n.start(now);
      n.receive(k(SN), ack.packet.slice(), now);
      for (const s of steps) {
        if (s.kind === "wait") now += s.ms;
        else if (s.kind === "frame") {
          const dst = s.group ? BROADCAST : mat(s.to);
          const f = s.size >= 18 ? frame(dst, mat(9), 1, s.size) : new Uint8Array(s.size).fill(0);
          n.sendFrame(f, now);
        } else {
          const r = encodePacket(
            { network: 0, sender: s.sender, receiver: s.receiver },
            s.msg,
            sealer,
            0,
          );
          if (!r.ok) continue;
          if (s.flip !== null) r.packet[s.flip % r.packet.length] ^= 0x41;
          n.receive(k(s.fromSn ? SN : "192.0.2.5:7654"), r.packet, now);
        }
        n.poll(now);
        n.takeOutgoing();
        n.takeEvents();
        assert(n.peers().length <= 4);
        // After poll nothing is overdue (the daemon never spins).
        assert(n.nextDeadline() > now, `deadline ${n.nextDeadline()} at ${now}`);
      }
      assert(n.takeFrames().length <= 8);
    }),
    { seed: 0x90de, numRuns: 300 },
  );
});

Deno.test("vpn node receive: DATA fast path delivers a copy and counts every drop as before", () => {
  const sealer = new NullSealer();
  const n = new NodeCore({
    supernode: k(SN),
    identity: new Uint8Array(32).fill(4),
    sealer,
    random: prng(11),
    nodeId: 9,
  });
  n.start(0);
  n.takeOutgoing();
  const ack = encodePacket(
    { network: 0, sender: 0, receiver: 9 },
    {
      kind: "register_ack",
      supernodeId: 1,
      keepaliveS: 8,
      bootId: 1,
      observed: "192.0.2.9:7654",
    },
    sealer,
    0,
  );
  assert(ack.ok);
  n.receive(k(SN), ack.packet, 10);
  assertEquals(n.status().state, "registered");
  const data = (network: number, sender: number, f: Uint8Array) => {
    const r = encodePacket({ network, sender, receiver: 9 }, { kind: "data", frame: f }, sealer, 0);
    assert(r.ok);
    return r.packet;
  };
  const good = frame(mat(9), mat(5), 7, 98);
  const pkt = data(0, 5, good);
  n.receive(k("192.0.2.5:7654"), pkt, 20);
  pkt.fill(0); // the daemon reuses its buffer: the delivered frame is a copy
  assertEquals(n.takeFrames(), [good]);
  const c0 = n.status().counters;
  assertEquals([c0.rx_frames, c0.rx_packets], [1, 2]);
  assertEquals(n.peers().find((p) => p.node === 5)?.rxBytes, 98);
  // A DATA body shorter than an Ethernet header, another network, a bad tag.
  n.receive(k("192.0.2.5:7654"), data(0, 5, new Uint8Array(13)), 30);
  n.receive(k("192.0.2.5:7654"), data(3, 5, good), 30);
  const forged = data(0, 5, good);
  forged[HEADER_OFFSET_BODY] ^= 1;
  n.receive(k("192.0.2.5:7654"), forged, 30);
  n.receive(k("192.0.2.5:7654"), data(0, 9, good), 30);
  const c = n.status().counters;
  assertEquals(
    [c.drop_bad_length, c.drop_wrong_network, c.drop_bad_tag, c.drop_own_id, c.rx_frames],
    [1, 1, 1, 1, 1],
  );
  assertEquals(n.takeFrames(), []);
});

/** Where a packet's body starts (the 24-byte header). */
const HEADER_OFFSET_BODY = 24;
