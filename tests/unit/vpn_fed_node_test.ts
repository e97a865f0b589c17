/**
 * The node's side of the federation (docs/federation.md, "Node: attached,
 * standby, failover"), sans-IO: two supernode engines with their security
 * layers (independent, not federated: both list the same members) and two
 * node engines configured with [sn1, sn2], on an in-memory network that
 * this test carries datagrams over (5 ms latency, 10 ms steps, no sleeping).
 * A supernode is "killed" by dropping everything to and from it, and
 * "restarted" as a new engine with the same key and all state lost.
 */
import { assert, assertEquals } from "../assert.ts";
import { EndpointTable, keyedEndpoint } from "../../core/addr.ts";
import { LeafTable } from "../../core/leaf_table.ts";
import { matAddress } from "../../core/mac.ts";
import { Members } from "../../core/vpn/members.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { NodeEngine, type NodeEngineEvent } from "../../core/vpn/node_engine.ts";
import { SecureNode } from "../../core/vpn/secure_node.ts";
import { SecureSupernode } from "../../core/vpn/secure_supernode.ts";
import { SupernodeEngine } from "../../core/vpn/supernode_engine.ts";
import type { StaticKey } from "../../core/vpn/handshake.ts";
import { frame, keyOf, prng, seededSuite, WALL_EPOCH } from "./vpn_security_lab.ts";
import { arrival, MemDevice, MemSocket } from "./vpn_mem_port.ts";

const SNS = ["198.51.100.1:7654", "198.51.100.2:7654"];
const EPS = ["192.0.2.11:40001", "192.0.2.12:40002"];
const TAPS = [0x02_00_00_00_00_0a, 0x02_00_00_00_00_0b];

interface Sn {
  ep: string;
  engine: SupernodeEngine;
  socket: MemSocket;
  up: boolean;
}

interface Nd {
  ep: string;
  id: number;
  engine: NodeEngine;
  sec: SecureNode;
  core: NodeCore;
  socket: MemSocket;
  device: MemDevice;
  events: NodeEngineEvent[];
}

class FedLab {
  now = 0;
  readonly suite = seededSuite(17);
  readonly snKeys: StaticKey[];
  readonly nodeKeys: StaticKey[];
  readonly sns: Sn[] = [];
  readonly nodes: Nd[] = [];
  /** Node-to-node datagrams delivered (false: every frame is relayed). */
  direct = false;
  /** Polls after which the node still had a deadline due (must stay 0). */
  spins = 0;
  private queue: { at: number; from: string; to: string; bytes: Uint8Array }[] = [];

  private readonly allocator: number | undefined;
  private readonly unpinned: boolean;

  constructor(
    o: {
      snIds?: number[];
      direct?: boolean;
      allocator?: number;
      down?: number[];
      /** Member entries without an `id` (the standby cannot answer a KEEPALIVE). */
      unpinned?: boolean;
    } = {},
  ) {
    this.allocator = o.allocator;
    this.unpinned = o.unpinned ?? false;
    this.snKeys = [keyOf(this.suite, 0x51), keyOf(this.suite, 0x52)];
    this.nodeKeys = [keyOf(this.suite, 1), keyOf(this.suite, 2)];
    this.direct = o.direct ?? false;
    for (let i = 0; i < 2; i++) this.sns.push(this.supernode(i, o.snIds?.[i] ?? 1));
    for (const s of this.sns) s.engine.start(0);
    for (const i of o.down ?? []) this.sns[i].up = false;
    for (let i = 0; i < 2; i++) this.nodes.push(this.node(i));
    for (const n of this.nodes) n.engine.start(0);
  }

  supernode(i: number, id: number): Sn {
    const security = new SecureSupernode({
      suite: this.suite,
      staticKey: this.snKeys[i],
      members: new Members({
        mode: "members",
        members: this.nodeKeys.map((k, j) =>
          this.unpinned ? { publicKey: k.publicKey } : { publicKey: k.publicKey, id: j + 1 }
        ),
      }),
    }, this.now);
    const socket = new MemSocket();
    const engine = new SupernodeEngine({
      supernodeId: id,
      random: prng(40 + i + this.now),
      security,
      endpoints: new EndpointTable(),
      socket,
    });
    return { ep: SNS[i], engine, socket, up: true };
  }

  node(i: number): Nd {
    const endpoints = new EndpointTable();
    const sec = new SecureNode({
      suite: this.suite,
      staticKey: this.nodeKeys[i],
      supernodeKey: this.snKeys[0].publicKey,
      supernode: keyedEndpoint(SNS[0]),
      standbys: [{ supernode: keyedEndpoint(SNS[1]), supernodeKey: this.snKeys[1].publicKey }],
      network: 0,
      requestedId: i + 1,
      retryMs: 3000,
      handshakeTimeoutMs: 3000,
    }, 0);
    const core = new NodeCore({
      supernode: keyedEndpoint(SNS[0]),
      endpoints,
      identity: this.nodeKeys[i].publicKey,
      sealer: sec.sealer,
      directory: sec,
      random: prng(60 + i),
      nodeId: i + 1,
      ipVersion: 4,
      keepaliveIntervalMs: 1000,
      silentMs: 3000,
      registerRetryMaxMs: 4000,
      ...(this.allocator !== undefined ? { allocator: this.allocator } : {}),
      frameViews: true,
    });
    const socket = new MemSocket();
    const device = new MemDevice();
    const events: NodeEngineEvent[] = [];
    const engine = new NodeEngine({
      core,
      security: sec,
      leaves: new LeafTable(),
      tapMac: TAPS[i],
      endpoints,
      socket,
      device,
      mtu: 1382,
      clock: { now: 0, wall: WALL_EPOCH },
      onEvent: (e) => events.push(e),
    });
    return { ep: EPS[i], id: i + 1, engine, sec, core, socket, device, events };
  }

  kill(i: number): void {
    this.sns[i].up = false;
  }

  restart(i: number): void {
    const s = this.supernode(i, this.sns[i].engine.snapshot(this.now).core.supernodeId);
    this.sns[i] = s;
    s.engine.start(this.now);
  }

  private collect(): void {
    for (const s of this.sns) {
      const out = s.socket.take();
      if (!s.up) continue;
      for (const o of out) {
        this.queue.push({ at: this.now + 5, from: s.ep, to: o.to, bytes: o.bytes });
      }
    }
    for (const n of this.nodes) {
      for (const o of n.socket.take()) {
        this.queue.push({ at: this.now + 5, from: n.ep, to: o.to, bytes: o.bytes });
      }
    }
  }

  private deliver(): void {
    const due = this.queue.filter((f) => f.at <= this.now);
    this.queue = this.queue.filter((f) => f.at > this.now);
    for (const f of due) {
      const s = this.sns.find((x) => x.ep === f.to);
      if (s !== undefined) {
        if (!s.up) continue;
        s.engine.receive(f.bytes, arrival(f.from), this.now);
        s.engine.endBatch(this.now);
        continue;
      }
      const n = this.nodes.find((x) => x.ep === f.to);
      if (n === undefined) continue;
      const fromNode = this.nodes.some((x) => x.ep === f.from);
      if (fromNode && !this.direct) continue;
      n.engine.receive(f.bytes, arrival(f.from), this.now);
      n.engine.endBatch(this.now);
    }
  }

  run(ms: number, each?: () => void): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 10;
      this.deliver();
      for (const s of this.sns) {
        if (s.up && s.engine.nextDeadline() <= this.now) s.engine.poll(this.now);
      }
      for (const n of this.nodes) {
        // As a daemon's loop: polled again while a deadline is due; still due after 3 = a spin.
        for (let k = 0; k < 3 && n.engine.nextDeadline() <= this.now; k++) n.engine.poll(this.now);
        if (n.engine.nextDeadline() <= this.now) this.spins++;
      }
      each?.();
      this.collect();
    }
  }

  runUntil(done: () => boolean, ms: number): boolean {
    const end = this.now + ms;
    while (!done() && this.now < end) this.run(10);
    return done();
  }

  attachedAt(n: Nd): string {
    return n.engine.snapshot(this.now).security!.attachment.attachedAt;
  }

  /** A frame from node a's TAP to node b's MAT address; true when b's device got it. */
  ping(a: number, b: number, mark: number): boolean {
    const dst = matAddress(1, this.nodes[b].id, 0);
    const before = this.nodes[b].device.frames.length;
    const f = frame(dst, TAPS[a], new Uint8Array([0xfe, mark & 0xff, mark >> 8]));
    this.nodes[a].engine.fromDevice(f, this.now);
    this.nodes[a].engine.endBatch(this.now);
    this.collect();
    this.run(100);
    return this.nodes[b].device.frames.slice(before).some((x) =>
      x[20] === 0xfe && x[21] === (mark & 0xff) && x[22] === mark >> 8
    );
  }

  /** Nodes registered at supernode `i`. */
  registeredAt(i: number): number {
    let n = 0;
    for (const x of this.sns[i].engine.snapshot(this.now).core.networks) n += x.nodes.length;
    return n;
  }

  registered(): boolean {
    assertEquals(this.spins, 0, "no deadline left due after a poll");
    return this.nodes.every((n) => n.core.status().state === "registered");
  }
}

function coreEvents(n: Nd, type: string): number {
  return n.events.filter((e) => e.layer === "core" && e.event.type === type).length;
}

Deno.test("fed node: registers with the first, holds a ready standby with the second", () => {
  const lab = new FedLab();
  assert(lab.runUntil(() => lab.registered(), 10_000), "both register");
  lab.run(3000);
  for (const n of lab.nodes) {
    assertEquals(lab.attachedAt(n), SNS[0]);
    const s = n.engine.snapshot(lab.now).security!;
    assertEquals(s.supernodes.map((x) => x.state), ["attached", "standby"]);
    assertEquals(s.attachment.standby, SNS[1]);
    assertEquals(s.attachment.moves, 0);
    assert(s.supernodes[1].lastAnswerMs !== null && s.supernodes[1].lastAnswerMs < 6000);
    // Its NAK not_registered to the sealed KEEPALIVE is the standby's sign of life.
    assert((n.sec.status().counters.rx_standby_answer ?? 0) >= 1, "the standby answered");
    // The standby is not a registration: sn2 has no node registered.
    assertEquals(n.core.status().moves, 0);
  }
  assertEquals(lab.registeredAt(1), 0, "nobody registered at sn2");
  assertEquals(lab.registeredAt(0), 2);
  assert(lab.ping(0, 1, 1), "A reaches B through sn1");
});

Deno.test("fed node: sn1 silent -> both nodes REGISTER with the standby; relayed frames resume", () => {
  const lab = new FedLab();
  assert(lab.runUntil(() => lab.registered(), 10_000));
  lab.run(3000);
  assert(lab.ping(0, 1, 1));
  const killedAt = lab.now;
  lab.kill(0);
  assert(
    lab.runUntil(
      () => lab.nodes.every((n) => lab.attachedAt(n) === SNS[1]) && lab.registered(),
      15_000,
    ),
    "both moved to sn2",
  );
  const took = lab.now - killedAt;
  // Deterministic simulated time: 3 s of silence, then one round trip.
  assert(took >= 3000 && took <= 4500, `moved after ${took} ms`);
  for (const n of lab.nodes) {
    assertEquals(n.core.status().moves, 1);
    assertEquals(n.engine.snapshot(lab.now).security!.attachment.moves, 1);
    assertEquals(coreEvents(n, "supernode_silent") >= 1, true);
    assertEquals(coreEvents(n, "allocator_changed"), 0, "same AA: no error");
  }
  assertEquals(lab.registeredAt(1), 2);
  let ok = false;
  for (let i = 0; i < 20 && !ok; i++) ok = lab.ping(0, 1, 100 + i);
  assert(ok, "A reaches B through sn2");
  assert(lab.ping(1, 0, 200), "B reaches A through sn2");
});

Deno.test("fed node: back to the preferred sn1 after 5 s of answers, not before; frames keep flowing", () => {
  const lab = new FedLab();
  assert(lab.runUntil(() => lab.registered(), 10_000));
  lab.run(3000);
  lab.kill(0);
  assert(lab.runUntil(() => lab.nodes.every((n) => lab.attachedAt(n) === SNS[1]), 15_000));
  lab.run(10_000);
  lab.restart(0);
  const back = lab.now;
  // Its first answer is at the next 5 s handshake at the latest; then 5 s of answers.
  lab.run(4900);
  for (const n of lab.nodes) assertEquals(lab.attachedAt(n), SNS[1], "not back before 5 s");
  assert(
    lab.runUntil(
      () => lab.nodes.every((n) => lab.attachedAt(n) === SNS[0]) && lab.registered(),
      20_000,
    ),
    "both back at sn1",
  );
  assert(lab.now - back <= 12_000, `back after ${lab.now - back} ms`);
  for (const n of lab.nodes) assertEquals(n.core.status().moves, 2);
  // Make before break: registered at sn1, then DEREGISTER at sn2.
  lab.run(1000);
  assertEquals(lab.registeredAt(0), 2);
  assertEquals(lab.registeredAt(1), 0, "sn2 told DEREGISTER");
  let ok = false;
  for (let i = 0; i < 20 && !ok; i++) ok = lab.ping(0, 1, 300 + i);
  assert(ok, "A reaches B through sn1 again");
  for (const n of lab.nodes) {
    const s = n.engine.snapshot(lab.now).security!;
    assertEquals(s.supernodes.map((x) => x.state), ["attached", "standby"]);
  }
});

Deno.test("fed node: a direct path does not notice the move (no frame lost)", () => {
  const lab = new FedLab({ direct: true });
  assert(lab.runUntil(() => lab.registered(), 10_000));
  lab.run(2000);
  // A few frames make the pair punch a direct path.
  for (let i = 0; i < 30; i++) lab.ping(0, 1, i);
  assert(
    lab.runUntil(() => lab.nodes[0].core.peers().some((p) => p.path === "direct"), 10_000),
    "direct path",
  );
  lab.kill(0);
  let lost = 0;
  for (let i = 0; i < 80; i++) if (!lab.ping(0, 1, 1000 + i)) lost++;
  assertEquals(lost, 0, "every frame over the direct path arrived during the move");
  for (const n of lab.nodes) assertEquals(lab.attachedAt(n), SNS[1]);
});

Deno.test("fed node: the AA of the first REGISTER_ACK is kept; another one is an error event", () => {
  const lab = new FedLab({ snIds: [1, 2] });
  assert(lab.runUntil(() => lab.registered(), 10_000));
  lab.run(2000);
  lab.kill(0);
  assert(
    lab.runUntil(
      () => lab.nodes.every((n) => lab.attachedAt(n) === SNS[1]) && lab.registered(),
      15_000,
    ),
  );
  for (const n of lab.nodes) {
    assertEquals(n.core.status().allocator, 1, "kept");
    const ev = n.events.find((e) => e.layer === "core" && e.event.type === "allocator_changed");
    assert(ev !== undefined && ev.layer === "core" && ev.event.type === "allocator_changed");
    assertEquals([ev.event.expected, ev.event.got], [1, 2]);
  }
});

Deno.test("fed node: a saved AA is checked from the first REGISTER_ACK", () => {
  // The state directory says this node's MAT addresses carry AA 7; the supernode says 1.
  const lab = new FedLab({ allocator: 7 });
  assert(lab.runUntil(() => lab.registered(), 10_000));
  for (const n of lab.nodes) {
    assertEquals(n.core.status().allocator, 7);
    const ev = n.events.find((e) => e.layer === "core" && e.event.type === "allocator_changed");
    assert(ev !== undefined && ev.layer === "core" && ev.event.type === "allocator_changed");
    assertEquals([ev.event.expected, ev.event.got], [7, 1]);
  }
});

Deno.test("fed node: the first supernode down at start: registered at the second within seconds", () => {
  const lab = new FedLab({ down: [0] });
  assert(
    lab.runUntil(
      () => lab.registered() && lab.nodes.every((n) => lab.attachedAt(n) === SNS[1]),
      10_000,
    ),
    "attached at sn2",
  );
  assert(lab.now <= 5000, `after ${lab.now} ms`);
  let ok = false;
  for (let i = 0; i < 20 && !ok; i++) ok = lab.ping(0, 1, 500 + i);
  assert(ok, "A reaches B through sn2");
  for (const n of lab.nodes) {
    const s = n.engine.snapshot(lab.now).security!;
    assertEquals(s.supernodes.map((x) => x.state), ["down", "attached"]);
  }
  // sn1 comes up: the nodes go there (it is the first).
  lab.restart(0);
  assert(lab.runUntil(() => lab.nodes.every((n) => lab.attachedAt(n) === SNS[0]), 20_000));
  assert(lab.runUntil(() => lab.registered(), 5000));
});

Deno.test("fed node: GOING_AWAY from the attached supernode moves the nodes at once", () => {
  const lab = new FedLab();
  assert(lab.runUntil(() => lab.registered(), 10_000));
  lab.run(3000);
  const at = lab.now;
  lab.sns[0].engine.stop(lab.now); // SIGTERM: GOING_AWAY to every node
  lab.run(20);
  lab.kill(0);
  assert(
    lab.runUntil(
      () => lab.nodes.every((n) => lab.attachedAt(n) === SNS[1]) && lab.registered(),
      10_000,
    ),
  );
  assert(lab.now - at < 1000, `moved after ${lab.now - at} ms, not after 3 s of silence`);
});

Deno.test("fed node: ids not pinned: the standby does not answer KEEPALIVE, the move still works", () => {
  const lab = new FedLab({ unpinned: true });
  assert(lab.runUntil(() => lab.registered(), 10_000));
  lab.run(20_000);
  for (const n of lab.nodes) {
    const c = n.sec.status().counters;
    assert((c.tx_standby_keepalive ?? 0) >= 3, JSON.stringify(c));
    assertEquals(c.rx_standby_answer ?? 0, 0, "no NAK: the session is not bound to an id there");
    assertEquals(n.engine.snapshot(lab.now).security!.supernodes[1].state, "standby");
  }
  lab.kill(0);
  assert(
    lab.runUntil(
      () => lab.nodes.every((n) => lab.attachedAt(n) === SNS[1]) && lab.registered(),
      15_000,
    ),
  );
  let ok = false;
  for (let i = 0; i < 20 && !ok; i++) ok = lab.ping(0, 1, 700 + i);
  assert(ok, "A reaches B through sn2");
});
