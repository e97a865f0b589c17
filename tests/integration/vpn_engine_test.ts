/**
 * The VPN engines as the daemons wire them (`SupernodeEngine`,
 * `NodeEngine` on the kit's pumps, cmd/kit/pump.ts; snapshots joined and
 * rendered by cmd/render/) and the node state directory (cmd/vpn_state.ts),
 * in memory: a supernode and two nodes on a `MemNet`, TAP twins, a manual
 * clock. No root needed.
 *
 * Conversations: registration, an ARP request from node A's LAN reaching
 * node B's TAP with A's MAT address and B's reply coming back with A's real
 * MAC; an oversize frame counted, not sent; SIGTERM deregisters and saves
 * the leaf table; the leaf table survives a restart, mode 0600; a corrupt
 * leaf table is reported and replaced by an empty one. The same with the
 * security layer (keys, member list, AES-256-GCM) as the daemons run it.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemFrameDevice, MemNet, type MemTransport } from "../lab/twins.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { MetricsWriter } from "../../cmd/kit/metrics.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import {
  nodeMetrics,
  type NodeSnapshot,
  nodeSnapshot,
  nodeStatus,
} from "../../cmd/render/node_status.ts";
import {
  supernodeMetrics,
  type SupernodeSnapshot,
  supernodeSnapshot,
  supernodeStatus,
} from "../../cmd/render/supernode_status.ts";
import { nodeEventLog, supernodeEventLog } from "../../cmd/render/vpn_log.ts";
import { socketCounters } from "../../cmd/vpn_io.ts";
import { EndpointTable, keyedEndpoint } from "../../core/addr.ts";
import type { MatTranslator } from "../../core/mat.ts";
import { NodeEngine } from "../../core/vpn/node_engine.ts";
import { SupernodeEngine } from "../../core/vpn/supernode_engine.ts";
import { ensureStateDir, loadLeaves, saveLeaves } from "../../cmd/vpn_state.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { LeafTable } from "../../core/leaf_table.ts";
import { macAt, matAddress, writeMac } from "../../core/mac.ts";
import { MAGIC, maxFrame, MsgType } from "../../core/vpn/constants.ts";
import { HDR } from "../../core/vpn/header.ts";
import { DATA_HEADROOM, DATA_TAILROOM } from "../../core/vpn/messages.ts";
import { Members } from "../../core/vpn/members.ts";
import { SecureNode } from "../../core/vpn/secure_node.ts";
import { SecureSupernode } from "../../core/vpn/secure_supernode.ts";
import type { StaticKey } from "../../core/vpn/handshake.ts";
import { ffiCryptoSuite } from "../../cmd/vpn_crypto.ts";
import { x25519PublicKey } from "../../ffi/crypto.ts";

const logLines: string[] = [];
const logger = new Logger({ level: "debug", format: "text", debug: [] }, (l) => logLines.push(l));

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** A supernode engine with its pump, as cmd/supernode.ts wires it. */
interface SnWired {
  engine: SupernodeEngine;
  onSocketReadable(now: number): number;
  poll(now: number): void;
  stop(now: number): void;
  snapshot(now: number): SupernodeSnapshot;
}

/** A node engine with its pumps, as cmd/node.ts wires it. */
interface NodeWired {
  engine: NodeEngine;
  readonly mat: MatTranslator | null;
  onSocketReadable(now: number): number;
  onDeviceReadable(now: number): number;
  start(now: number): void;
  poll(now: number): void;
  stop(now: number): void;
  nextDeadline(): number;
  deadlineMoved(): void;
  snapshot(now: number): NodeSnapshot;
}

interface Net {
  sn: SnWired;
  snT: MemTransport;
  nodes: {
    engine: NodeWired;
    tap: MemFrameDevice;
    core: NodeCore;
    leaves: LeafTable;
    layer?: SecureNode;
  }[];
  saves: number[];
  /** Runs every engine until nothing moves, at `now`. */
  pump(now: number): void;
}

const TAP_MACS = [0x02_00_00_00_00_0a, 0x02_00_00_00_00_0b];

/** A key pair from a seed byte (tests only). */
function keyOf(seed: number): StaticKey {
  const privateKey = new Uint8Array(32).fill(seed);
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

/**
 * A supernode and two nodes on a `MemNet`. `secure`: with the security
 * layer as the daemons run it (keys, member list, AES-256-GCM); else the
 * protocol alone (`NullSealer`). `frameViews`: the cores hand over views
 * into the receive slots, as the daemon builds them.
 */
function build(secure = false, frameViews = true): Net {
  const net = new MemNet({ seed: 3 });
  const snT = net.open("10.0.0.1", 7654);
  const suite = ffiCryptoSuite("aes-256-gcm");
  const snKey = keyOf(0x53);
  const nodeKeys = [keyOf(1), keyOf(2)];
  const security = secure
    ? new SecureSupernode({
      suite,
      staticKey: snKey,
      members: new Members({
        mode: "members",
        members: nodeKeys.map((k) => ({ publicKey: k.publicKey })),
      }),
    }, 0)
    : undefined;
  const snEngine = new SupernodeEngine({
    supernodeId: 7,
    random: seeded(7),
    ...(security ? { security } : {}),
    endpoints: new EndpointTable(),
    socket: snT,
    onEvent: supernodeEventLog(logger.topic("supernode")),
  });
  const snPump = socketWatch({ name: "udp", socket: snT, engine: snEngine });
  const sn: SnWired = {
    engine: snEngine,
    onSocketReadable: snPump.onReadable,
    poll: (now) => snEngine.poll(now),
    stop: (now) => snEngine.stop(now),
    snapshot: (now) => {
      const e = snEngine.snapshot(now);
      const socket = socketCounters(snT, snPump.counters, e.tx);
      return supernodeSnapshot(e, {
        local: snT.local,
        socket,
        io: { udp: snPump.counters },
        cipher: "aes-256-gcm",
        aead: "x",
      });
    },
  };
  const saves = [0, 0];
  const nodes = [0, 1].map((i) => {
    const t = net.open(`10.0.0.${i + 11}`, 0);
    // Room around each slot as cmd/node.ts opens its TAP: unicast frames are sealed in place.
    const room = { headroom: DATA_HEADROOM, tailroom: DATA_TAILROOM };
    const tap = new MemFrameDevice({ name: `v${i}`, mtu: 1382, ...room });
    const identity = secure ? nodeKeys[i].publicKey : new Uint8Array(32).fill(i + 1);
    const layer = secure
      ? new SecureNode({
        suite,
        staticKey: nodeKeys[i],
        supernodeKey: snKey.publicKey,
        supernode: keyedEndpoint("10.0.0.1:7654"),
        network: 0,
      }, 0)
      : undefined;
    const endpoints = new EndpointTable();
    const core = new NodeCore({
      endpoints,
      supernode: keyedEndpoint("10.0.0.1:7654"),
      identity,
      sealer: layer ? layer.sealer : new NullSealer(),
      ...(layer ? { directory: layer } : {}),
      random: seeded(i + 10),
      ipVersion: 4,
      frameViews,
    });
    const leaves = new LeafTable();
    const e = new NodeEngine({
      socket: t,
      device: tap,
      mtu: tap.mtu,
      // As cmd/node.ts: the TAP has room around each frame, sealed where it lies.
      inPlace: true,
      core,
      endpoints,
      leaves,
      tapMac: TAP_MACS[i],
      onEvent: nodeEventLog(logger.topic(`node${i}`), identity),
      save: () => saves[i]++,
      ...(layer ? { security: layer } : {}),
    });
    const udp = socketWatch({ name: "udp", socket: t, engine: e });
    const dev = deviceWatch({ name: "tap", device: tap, engine: e });
    const engine: NodeWired = {
      engine: e,
      get mat() {
        return e.mat;
      },
      onSocketReadable: udp.onReadable,
      onDeviceReadable: dev.onReadable,
      start: (now) => e.start(now),
      poll: (now) => e.poll(now),
      stop: (now) => e.stop(now),
      nextDeadline: () => e.nextDeadline(),
      deadlineMoved: () => e.deadlineMoved(),
      snapshot: (now) => {
        const x = e.snapshot(now);
        return nodeSnapshot(x, {
          tap: { name: tap.name, mac: TAP_MACS[i], mtu: tap.mtu, offload: false },
          localPort: t.local.port,
          locals: [],
          cipher: "aes-256-gcm",
          aead: "x",
          tapRxHandlerErrors: dev.counters.rx_handler_errors,
          socket: socketCounters(t, udp.counters, x.tx),
          io: { udp: udp.counters, tap: dev.counters },
        });
      },
    };
    return { engine, tap, core, leaves, ...(layer ? { layer } : {}) };
  });
  const pump = (now: number) => {
    for (let round = 0; round < 100; round++) {
      let moved = sn.onSocketReadable(now);
      for (const n of nodes) {
        moved += n.engine.onSocketReadable(now) + n.engine.onDeviceReadable(now);
      }
      if (moved === 0) return;
    }
    throw new Error("the engines kept exchanging packets for 100 rounds");
  };
  return { sn, snT, nodes, saves, pump };
}

/** An ARP request (or reply) frame, Ethernet/IPv4. */
function arp(op: 1 | 2, dst: number, src: number, spa: number[], tha: number, tpa: number[]) {
  const f = new Uint8Array(60);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, op], 12);
  writeMac(f, 22, src);
  f.set(spa, 28);
  writeMac(f, 32, tha);
  f.set(tpa, 38);
  return f;
}

Deno.test("vpn engines: registration, ARP across MAT, oversize frames counted, SIGTERM", () => {
  const n = build();
  let now = 1000;
  n.sn.poll(now);
  for (const x of n.nodes) x.engine.start(now);
  n.pump(now);
  const ids = n.nodes.map((x) => nodeStatus(x.engine.snapshot(now)).id as number);
  assert(ids[0] > 0 && ids[1] > 0 && ids[0] !== ids[1], `ids ${ids}`);
  for (const x of n.nodes) assert(x.engine.mat !== null, "registered: MAT ready");
  assertEquals((supernodeStatus(n.sn.snapshot(now)).nodes as unknown[]).length, 2);

  // A host behind node A (real MAC 02:..:99) asks for 10.9.0.2 (node B's TAP).
  const host = 0x02_00_00_00_00_99;
  n.nodes[0].tap.inject(arp(1, 0xffff_ffff_ffff, host, [10, 9, 0, 1], 0, [10, 9, 0, 2]));
  n.pump(now);
  const got = n.nodes[1].tap.takeWritten();
  assertEquals(got.length, 1, "node B's TAP got the broadcast ARP request");
  const leaf = n.nodes[0].leaves.leafFor(host, now);
  const hostMat = matAddress(7, ids[0], leaf);
  assertEquals(macAt(got[0], 6), hostMat, "Ethernet source is the host's MAT address");
  assertEquals(macAt(got[0], 22), hostMat, "ARP sender hardware address too");
  assertEquals(supernodeStatus(n.sn.snapshot(now)).broadcast_frames, 1);

  // Node B's TAP answers the MAT address; the host behind A gets its real MAC back.
  n.nodes[1].tap.inject(arp(2, hostMat, TAP_MACS[1], [10, 9, 0, 2], hostMat, [10, 9, 0, 1]));
  n.pump(now);
  const back = n.nodes[0].tap.takeWritten();
  assertEquals(back.length, 1, "the reply reached node A's TAP");
  assertEquals(macAt(back[0], 0), host, "destination translated back to the real MAC");
  assertEquals(macAt(back[0], 32), host, "ARP target hardware address too");
  assertEquals(macAt(back[0], 6), matAddress(7, ids[1], 0), "B's TAP appears as leaf 0");
  const stA = nodeStatus(n.nodes[0].engine.snapshot(now));
  // deno-lint-ignore no-explicit-any
  const mat = stA.mat as any;
  assert(
    mat.leaves.some((l: { mac: string; mat: string }) =>
      l.mac === "02:00:00:00:00:99" && l.mat === `00:07:00:0${ids[0]}:00:0${leaf}`
    ),
    JSON.stringify(mat.leaves),
  );

  // A frame larger than the underlay carries: counted, never sent.
  // deno-lint-ignore no-explicit-any
  const sentBefore = (nodeStatus(n.nodes[0].engine.snapshot(now)) as any).counters.tx_datagrams;
  const big = new Uint8Array(maxFrame(1500, 4) + 1);
  writeMac(big, 0, matAddress(7, ids[1], 0));
  writeMac(big, 6, TAP_MACS[0]);
  big.set([0x88, 0xb5], 12); // local experimental EtherType: MAT forwards it as it is
  n.nodes[0].tap.inject(big);
  n.pump(now);
  // deno-lint-ignore no-explicit-any
  const c = (nodeStatus(n.nodes[0].engine.snapshot(now)) as any).counters;
  assertEquals(c.tx_too_big, 1, JSON.stringify(c));
  assertEquals(c.tx_datagrams, sentBefore, "nothing went out for the big frame");
  assertEquals(n.nodes[1].tap.takeWritten().length, 0);
  assert(logLines.some((l) => l.includes("do not fit the underlay")), "logged once");

  // Timers: keepalives go out and are answered; nothing is left overdue.
  for (let i = 0; i < 40; i++) {
    now += 1000;
    n.sn.poll(now);
    for (const x of n.nodes) x.engine.poll(now);
    n.pump(now);
  }
  assertEquals(nodeStatus(n.nodes[0].engine.snapshot(now)).state, "registered");
  for (const x of n.nodes) assert(x.engine.nextDeadline() > now, "no timer left overdue");
  assert(n.saves[0] === 0, "the periodic save is due after 60 s, not before");
  now += 30_000;
  n.nodes[0].engine.poll(now);
  assertEquals(n.saves[0], 1, "periodic save");

  // SIGTERM: node A deregisters (the supernode forgets it at once) and saves.
  n.nodes[0].engine.stop(now);
  n.pump(now);
  assertEquals(n.saves[0], 2);
  assertEquals((supernodeStatus(n.sn.snapshot(now)).nodes as unknown[]).length, 1);
  // SIGTERM on the supernode: node B hears GOING_AWAY and registers again.
  n.sn.stop(now);
  n.pump(now);
  assert(logLines.some((l) => l.includes("registering again: going away")), logLines.join("\n"));
});

Deno.test("vpn state: the leaf table persists (mode 0600); a corrupt table is reported", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sd = `${dir}/state/node`;
    ensureStateDir(sd);
    assertEquals((await Deno.stat(sd)).mode! & 0o777, 0o700);

    const t = new LeafTable();
    const macs = [0x02_11_22_33_44_01, 0x02_11_22_33_44_02, 0x02_11_22_33_44_03];
    const leafIds = macs.map((m, i) => t.leafFor(m, i));
    saveLeaves(sd, t);
    assertEquals((await Deno.stat(`${sd}/leaves.json`)).mode! & 0o777, 0o600);
    const l = loadLeaves(sd, {}, 5000);
    assertEquals(l.error, null);
    assertEquals(l.loaded, 3);
    assertEquals(macs.map((m) => l.table.leafFor(m, 6000)), leafIds, "same leaf ids after restart");

    await Deno.writeTextFile(`${sd}/leaves.json`, '{"version": 1, "leaves": [{"leaf": 0}]}');
    const bad = loadLeaves(sd, {}, 0);
    assert(bad.error !== null && bad.error.includes("leaves.json"), String(bad.error));
    assertEquals(bad.table.size, 0);
    const missing = loadLeaves(`${dir}/nowhere`, {}, 0);
    assertEquals([missing.error, missing.loaded], [null, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vpn engines with the security layer: handshakes, registration, ARP across MAT sealed; status shows the cipher", () => {
  const n = build(true);
  let now = 1000;
  const step = (ms: number) => {
    now += ms;
    n.sn.poll(now);
    for (const x of n.nodes) x.engine.poll(now);
    n.pump(now);
  };
  n.sn.poll(now);
  for (const x of n.nodes) x.engine.start(now);
  n.pump(now);
  // Registration waits for the supernode session; bounded: 20 s of 100 ms steps.
  for (let i = 0; i < 200 && n.nodes.some((x) => x.engine.mat === null); i++) step(100);
  for (const x of n.nodes) assert(x.engine.mat !== null, "registered after the handshake");
  const ids = n.nodes.map((x) => nodeStatus(x.engine.snapshot(now)).id as number);
  // deno-lint-ignore no-explicit-any
  const snSec = supernodeStatus(n.sn.snapshot(now)).security as any;
  assertEquals([snSec.encryption, snSec.members, snSec.sessions], ["aes-256-gcm", 2, 2]);
  // The handshake guards in /status and /metrics (issue 13): two keys' timestamps kept, no drops.
  assertEquals(snSec.handshakes.under_load, false);
  assertEquals(snSec.handshakes.init_timestamps, 2);
  assertEquals(snSec.handshakes.unconfirmed_sessions, 0);
  assertEquals(snSec.handshakes.drops, {
    bad_mac1: 0,
    replay_ephemeral: 0,
    under_load: 0,
    rate_limited: 0,
  });
  const mw = new MetricsWriter();
  supernodeMetrics(mw, n.sn.snapshot(now));
  nodeMetrics(mw, n.nodes[0].engine.snapshot(now));
  const text = mw.render();
  for (
    const line of [
      "l2_supernode_under_load 0",
      "l2_supernode_init_timestamps 2",
      "l2_supernode_unconfirmed_sessions 0",
      'l2_supernode_handshake_drops_total{reason="bad_mac1"} 0',
      "l2_supernode_cookie_replies_total 0",
      "l2_node_supernode_cookie 0",
    ]
  ) assert(text.includes(line), `${line} not in /metrics`);

  // One broadcast ARP from A's LAN, sent right after registering, reaches B exactly once: it
  // waits for A's first roster (asked right after registering), then A's copy for B waits for
  // their end-to-end session. B's unicast reply reaches A over the same session.
  const host = 0x02_00_00_00_00_99;
  n.nodes[0].tap.inject(arp(1, 0xffff_ffff_ffff, host, [10, 9, 0, 1], 0, [10, 9, 0, 2]));
  n.pump(now);
  let got: Uint8Array[] = [];
  for (let i = 0; i < 50 && got.length === 0; i++) {
    got = n.nodes[1].tap.takeWritten();
    if (got.length === 0) step(100);
  }
  for (let i = 0; i < 10; i++) {
    step(100);
    got.push(...n.nodes[1].tap.takeWritten());
  }
  assertEquals(got.length, 1, "node B's TAP got the broadcast ARP request, once");
  assertEquals(n.nodes[0].core.status().counters.tx_held_sent, 1, "held, then sent");
  const hostMat = matAddress(7, ids[0], n.nodes[0].leaves.leafFor(host, now));
  assertEquals(macAt(got[0], 6), hostMat);
  let back: Uint8Array[] = [];
  for (let i = 0; i < 50 && back.length === 0; i++) {
    n.nodes[1].tap.inject(arp(2, hostMat, TAP_MACS[1], [10, 9, 0, 2], hostMat, [10, 9, 0, 1]));
    n.pump(now);
    back = n.nodes[0].tap.takeWritten();
    if (back.length === 0) step(100);
  }
  assertEquals(back.length, 1, "the reply reached node A's TAP");
  assertEquals(macAt(back[0], 0), host, "destination translated back to the real MAC");
  // B sealed the reply where its TAP read it: the slot holds the header and the ciphertext.
  const slotB = n.nodes[1].tap.rx.bufs[0];
  const reply = arp(2, hostMat, TAP_MACS[1], [10, 9, 0, 2], hostMat, [10, 9, 0, 1]);
  const wire = new Uint8Array(slotB.buffer, slotB.byteOffset - DATA_HEADROOM, 24 + 42);
  assertEquals([wire[HDR.MAGIC], wire[HDR.TYPE]], [MAGIC, MsgType.DATA], "header in the headroom");
  assert(
    reply.subarray(14, 42).some((b, k) => b !== slotB[14 + k]),
    "the frame was encrypted where it lies",
  );
  // deno-lint-ignore no-explicit-any
  const stB = nodeStatus(n.nodes[1].engine.snapshot(now)) as any;
  assertEquals(stB.security.encryption, "aes-256-gcm");
  assertEquals(stB.security.supernode_session, true);
  // B answered A's peer handshake: A's newest HS_INIT timestamp is kept (replay check).
  assertEquals(stB.security.handshakes, { peer_init_timestamps: 1, cookie: false });
  const peer = stB.peers.find((p: { node: number }) => p.node === ids[0]);
  assertEquals(peer?.cipher, "aes-256-gcm", JSON.stringify(stB.peers));
  assert(typeof peer.key_age_s === "number", JSON.stringify(peer));
  assert(
    logLines.some((l) => l.includes("encrypted session with the supernode (aes-256-gcm")),
    "the node logs its supernode session",
  );
});

Deno.test("vpn engine: the cached nextDeadline is the fresh one after every entry point", () => {
  for (const seed of [1, 2, 3]) {
    const n = build(true);
    const rnd = seeded(seed);
    let now = 1000;
    let checks = 0;
    /** The cache against a recomputation; and never later than any part's deadline. */
    const check = (what: string) => {
      for (const [i, x] of n.nodes.entries()) {
        const cached = x.engine.nextDeadline();
        const parts = Math.min(
          x.core.nextDeadline(),
          x.layer!.nextDeadline(),
          x.leaves.nextDeadline(),
        );
        assert(cached <= parts, `node ${i} after ${what} (seed ${seed}): ${cached} > ${parts}`);
        x.engine.deadlineMoved();
        assertEquals(cached, x.engine.nextDeadline(), `node ${i} after ${what} (seed ${seed})`);
        checks++;
      }
    };
    /** Every engine entry point a daemon calls, one at a time, checking after each. */
    const pump = () => {
      for (let round = 0; round < 100; round++) {
        let moved = n.sn.onSocketReadable(now);
        for (const x of n.nodes) {
          moved += x.engine.onSocketReadable(now);
          check("onSocketReadable");
          moved += x.engine.onDeviceReadable(now);
          check("onDeviceReadable");
        }
        if (moved === 0) return;
      }
      throw new Error("the engines kept exchanging packets for 100 rounds");
    };
    n.sn.poll(now);
    for (const x of n.nodes) x.engine.start(now);
    check("start");
    pump();
    for (let op = 0; op < 400; op++) {
      const r = rnd();
      if (r < 0.4) {
        // Time passes to somewhere around the next deadline (timers fire as in the loop).
        const next = Math.min(...n.nodes.map((x) => x.engine.nextDeadline()));
        now = Math.max(now, Math.min(next, now + 5000)) + Math.floor(rnd() * 50);
        n.sn.poll(now);
        for (const x of n.nodes) {
          if (x.engine.nextDeadline() <= now) x.engine.poll(now);
          check("poll");
        }
        pump();
      } else if (r < 0.75) {
        // A frame from a host behind a node: broadcast ARP or unicast to the other side.
        const i = rnd() < 0.5 ? 0 : 1;
        const host = 0x02_00_00_00_01_00 + Math.floor(rnd() * 8);
        const dst = rnd() < 0.5 ? 0xffff_ffff_ffff : matAddress(7, 1 + (1 - i), 0);
        n.nodes[i].tap.inject(arp(1, dst, host, [10, 9, 0, 1], 0, [10, 9, 0, 2]));
        pump();
      } else if (r < 0.9) {
        for (const x of n.nodes) {
          nodeStatus(x.engine.snapshot(now));
          check("status");
        }
      } else {
        now += Math.floor(rnd() * 700_000); // long silence: sessions, leaves, peers age out
        for (const x of n.nodes) {
          x.engine.poll(now);
          check("poll after silence");
        }
        pump();
      }
      for (const x of n.nodes) x.tap.takeWritten();
    }
    for (const x of n.nodes) {
      x.engine.stop(now);
      check("stop");
    }
    assert(checks > 1000, `checks: ${checks}`);
  }
});

Deno.test("vpn engine: frames as views into the receive slots reach the TAP intact, a burst over two receive batches too", () => {
  for (const views of [true, false]) {
    const n = build(false, views);
    const now = 1000;
    n.sn.poll(now);
    for (const x of n.nodes) x.engine.start(now);
    n.pump(now);
    for (const x of n.nodes) assert(x.engine.mat !== null, "registered");
    const tapB = n.nodes[1].tap;
    const write = tapB.write.bind(tapB);
    let viewed = 0, written = 0;
    tapB.write = (f: Uint8Array) => {
      written++;
      if (f.buffer.byteLength !== f.length) viewed++;
      return write(f);
    };
    // Broadcasts from as many hosts behind A, relayed by the supernode.
    const count = 100; // more than a receive batch (64): the slots are reused
    for (let i = 0; i < count; i++) {
      n.nodes[0].tap.inject(
        arp(1, 0xffff_ffff_ffff, 0x02_00_00_00_02_00 + i, [10, 9, 1, i], 0, [10, 9, 0, 2]),
      );
    }
    n.pump(now);
    const got = tapB.takeWritten();
    assertEquals(got.length, count, `views ${views}: every frame arrived`);
    assertEquals(
      got.map((f) => f[31]),
      Array.from({ length: count }, (_, i) => i),
      `views ${views}: each frame its own bytes, in order`,
    );
    assertEquals(written, count);
    assertEquals(viewed, views ? count : 0, `views ${views}: written straight from the slots`);
  }
});
