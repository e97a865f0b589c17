/**
 * The node engine's own cost per frame, without the kernel: a supernode and
 * two `NodeEngine`s on the kit's pumps (security layer on, AES-256-GCM, direct path between the
 * nodes) on in-memory twins (`MemNet`, `MemFrameDevice`), and one 98-byte
 * ICMP-sized frame carried from node A's TAP to node B's TAP, timing
 * the TAP pump on A (MAT egress, encode, seal) and the socket pump
 * on B (open, decode, MAT ingress) separately.
 *
 *   deno run -A tests/bench/vpn_engine_bench.ts
 *
 * Three paces: one frame every 10 ms before anything ran hot (a daemon
 * that only sees pings: V8 has not optimized the path; `L2_BENCH_WARM=1`
 * calls `warmUpAead()` first, as a daemon may at start), back to back (the
 * JIT and caches hot, like a bulk transfer), and one frame every 10 ms (like `ping -i 0.01`: whatever else the machine
 * runs in between evicts our code and data). The twins copy frames, so
 * this is an upper bound on the engine's share of a hop. Then, paced, the
 * stages of that frame one by one (MAT egress, `NodeCore.sendFrame` with the
 * seal, `SecureNode.receive` + `NodeCore.receive` with the open, MAT
 * ingress), and the bytes each direction allocates per frame (heap growth
 * over 500 frames between collections; the twins' own copies, about 100
 * bytes per datagram and per frame written, are included).
 *
 * @module
 */
import { MemFrameDevice, MemNet } from "../lab/twins.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import { nodeSnapshot } from "../../cmd/render/node_status.ts";
import { nodeEventLog, supernodeEventLog } from "../../cmd/render/vpn_log.ts";
import { EndpointTable, keyedEndpoint } from "../../core/addr.ts";
import { NodeEngine } from "../../core/vpn/node_engine.ts";
import { SupernodeEngine } from "../../core/vpn/supernode_engine.ts";
import { nodeStatus } from "../../cmd/render/node_status.ts";
import { socketCounters } from "../../cmd/vpn_io.ts";
import { NodeCore } from "../../core/vpn/node.ts";
import { LeafTable } from "../../core/leaf_table.ts";
import { matAddress, writeMac } from "../../core/mac.ts";
import { Members } from "../../core/vpn/members.ts";
import { SecureNode } from "../../core/vpn/secure_node.ts";
import { SecureSupernode } from "../../core/vpn/secure_supernode.ts";
import type { StaticKey } from "../../core/vpn/handshake.ts";
import { ffiCryptoSuite } from "../../cmd/vpn_crypto.ts";
import { x25519PublicKey } from "../../ffi/crypto.ts";
import { warmUpAead } from "../lab/crypto_warmup.ts";
import { NetFilter } from "../../core/vpn/net_filter.ts";
import { bpfMatcher, PASS } from "../../core/filter.ts";
import { verifyBpf } from "../../core/bpf.ts";
import { compileFilter } from "../../ffi/pcap.ts";

/** `L2_BENCH_WARM=1`: call `warmUpAead()` first, as a daemon may at start. */
const WARM = Deno.env.get("L2_BENCH_WARM") === "1";

const logger = new Logger({ level: "warn", format: "text", debug: [] }, () => {});
const TAP_MACS = [0x02_00_00_00_00_0a, 0x02_00_00_00_00_0b];

function keyOf(seed: number): StaticKey {
  const privateKey = new Uint8Array(32).fill(seed);
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/**
 * `rules` BPF rules on each node (`tcp port 1000`, `tcp port 1001`...: none
 * matches the ICMP frame, so every one runs): A's egress and B's ingress
 * judge each frame. 0: no filter at all.
 */
function netFilter(rules: number): NetFilter | undefined {
  if (rules === 0) return undefined;
  const programs = Array.from({ length: rules }, (_, i) => {
    const r = verifyBpf(compileFilter(`tcp port ${1000 + i}`));
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  });
  return new NetFilter(
    () => programs.map((p, i) => ({ name: `r${i}`, match: bpfMatcher(p), action: "drop" })),
    0,
  );
}

function build(rules = 0) {
  const net = new MemNet({ seed: 3 });
  const snT = net.open("10.0.0.1", 7654);
  const suite = ffiCryptoSuite("aes-256-gcm");
  const snKey = keyOf(0x53);
  const nodeKeys = [keyOf(1), keyOf(2)];
  const snEngine = new SupernodeEngine({
    socket: snT,
    endpoints: new EndpointTable(),
    random: seeded(7),
    supernodeId: 7,
    onEvent: supernodeEventLog(logger.topic("supernode")),
    security: new SecureSupernode({
      suite,
      staticKey: snKey,
      members: new Members({
        mode: "members",
        members: nodeKeys.map((k) => ({ publicKey: k.publicKey })),
      }),
    }, 0),
  });
  const snPump = socketWatch({ name: "udp", socket: snT, engine: snEngine });
  const sn = { onSocketReadable: snPump.onReadable, poll: (now: number) => snEngine.poll(now) };
  const nodes = [0, 1].map((i) => {
    const t = net.open(`10.0.0.${i + 11}`, 0);
    const tap = new MemFrameDevice({ name: `v${i}`, mtu: 1382 });
    const layer = new SecureNode({
      suite,
      staticKey: nodeKeys[i],
      supernodeKey: snKey.publicKey,
      supernode: keyedEndpoint("10.0.0.1:7654"),
      network: 0,
    }, 0);
    const endpoints = new EndpointTable();
    const filter = netFilter(rules);
    const core = new NodeCore({
      admitFrame: filter
        ? (f, sender, now) => filter.ingress.decide(f, sender, now) === PASS
        : null,
      endpoints,
      supernode: keyedEndpoint("10.0.0.1:7654"),
      identity: nodeKeys[i].publicKey,
      sealer: layer.sealer,
      directory: layer,
      random: seeded(i + 10),
      ipVersion: 4,
    });
    const e = new NodeEngine({
      socket: t,
      device: tap,
      mtu: tap.mtu,
      core,
      endpoints,
      leaves: new LeafTable(),
      tapMac: TAP_MACS[i],
      onEvent: nodeEventLog(logger.topic(`node${i}`), nodeKeys[i].publicKey),
      security: layer,
      ...(filter ? { filter } : {}),
    });
    const udp = socketWatch({ name: "udp", socket: t, engine: e });
    const dev = deviceWatch({ name: "tap", device: tap, engine: e });
    // The node as cmd/node.ts wires it: the engine on the kit's pumps.
    const engine = {
      get mat() {
        return e.mat;
      },
      onSocketReadable: udp.onReadable,
      onDeviceReadable: dev.onReadable,
      start: (now: number) => e.start(now),
      poll: (now: number) => e.poll(now),
      snapshot: (now: number) => {
        const x = e.snapshot(now);
        return nodeSnapshot(x, {
          tap: { name: tap.name, mac: TAP_MACS[i], mtu: tap.mtu, offload: false },
          localPort: t.local.port,
          locals: [],
          cipher: "aes-256-gcm",
          aead: "",
          tapRxHandlerErrors: dev.counters.rx_handler_errors,
          socket: socketCounters(t, udp.counters, x.tx),
          io: { udp: udp.counters, tap: dev.counters },
        });
      },
    };
    return { engine, tap, core, layer };
  });
  const pump = (now: number) => {
    for (let round = 0; round < 100; round++) {
      let moved = sn.onSocketReadable(now);
      for (const n of nodes) {
        moved += n.engine.onSocketReadable(now) + n.engine.onDeviceReadable(now);
      }
      if (moved === 0) return;
    }
  };
  const step = (now: number) => {
    sn.poll(now);
    for (const x of nodes) x.engine.poll(now);
    pump(now);
  };
  return { sn, nodes, pump, step };
}

/** An Ethernet + IPv4 + ICMP echo frame of 98 bytes (ping's default). */
function icmp(dst: number, src: number): Uint8Array {
  const f = new Uint8Array(98);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  f.set([0x08, 0x00, 0x45, 0, 0, 84, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 99, 0, 11, 10, 99, 0, 12], 12);
  f[34] = 8; // echo request
  return f;
}

function stats(us: number[]): string {
  const s = us.slice().sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1);
  return `min ${q(0)}  p50 ${q(0.5)}  p90 ${q(0.9)}  max ${q(1)} µs`;
}

/** Builds the lab with `rules` and waits for the direct path; returns it and the frame. */
function connected(rules: number) {
  const n = build(rules);
  let now = 1000;
  n.sn.poll(now);
  for (const x of n.nodes) x.engine.start(now);
  n.pump(now);
  for (let i = 0; i < 200 && n.nodes.some((x) => x.engine.mat === null); i++) n.step(now += 100);
  const ids = n.nodes.map((x) => nodeStatus(x.engine.snapshot(now)).id as number);
  const [a, b] = n.nodes;
  const frame = icmp(matAddress(7, ids[1], 0), TAP_MACS[0]);
  // Until B's TAP gets frames over the direct path (session, introduction, punch); bounded.
  for (let i = 0; i < 300; i++) {
    a.tap.inject(frame);
    n.pump(now);
    b.tap.takeWritten();
    // deno-lint-ignore no-explicit-any
    const peers = (nodeStatus(a.engine.snapshot(now)) as any).peers as { path: string }[];
    if (peers.length && peers[0].path === "direct") break;
    n.step(now += 100);
  }
  // deno-lint-ignore no-explicit-any
  const path = ((nodeStatus(a.engine.snapshot(now)) as any).peers as { path: string }[])[0]?.path;
  if (path !== "direct") throw new Error(`no direct path between the nodes (${path})`);
  return { n, a, b, frame, now };
}

/**
 * `L2_BENCH_FILTER=1`: frames/s from A's TAP to B's TAP (both engines'
 * work, back to back) with 0, 1 and 10 filter rules on each node, side by
 * side. Each count runs in a process of its own (in one process the first
 * lab built runs fastest: V8's feedback is shared by the engines of every
 * lab), twice, interleaved; the best of each is shown.
 */
async function filterBench(): Promise<void> {
  const counts = [0, 1, 10];
  const best = new Map<number, number>();
  for (let round = 0; round < 2; round++) {
    for (const rules of counts) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname],
        env: { L2_BENCH_FILTER_RULES: String(rules) },
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const fps = Number(new TextDecoder().decode(out.stdout).trim());
      if (!out.success || !(fps > 0)) throw new Error(`the run with ${rules} rules failed`);
      best.set(rules, Math.max(best.get(rules) ?? 0, fps));
    }
  }
  console.log(`node engine, A's TAP to B's TAP (98-byte ICMP frame, AES-256-GCM, direct path),`);
  console.log(`rules on A's egress and B's ingress, none matching (best of 2 processes):`);
  console.log(`  ${counts.map((r) => `${r} rules: ${best.get(r)} frames/s`).join("   ")}`);
}

/** One count of `filterBench`, in this process: prints frames/s (best of 3 runs). */
function filterRun(rules: number): void {
  const frames = 20_000;
  const { a, b, frame, now } = connected(rules);
  const run = () => {
    const t0 = performance.now();
    for (let i = 0; i < frames; i++) {
      a.tap.inject(frame);
      a.engine.onDeviceReadable(now);
      b.engine.onSocketReadable(now);
      b.tap.written.length = 0;
    }
    return performance.now() - t0;
  };
  // deno-lint-ignore no-explicit-any
  const written = () => (nodeStatus(b.engine.snapshot(now)) as any).counters.tap_tx_frames;
  const before = written();
  run(); // warm
  const ms = Math.min(run(), run(), run());
  if (written() - before !== 4 * frames) throw new Error(`frames lost with ${rules} rules`);
  console.log(Math.round(frames / (ms / 1000)));
}

async function main() {
  if (WARM) warmUpAead();
  const rules = Deno.env.get("L2_BENCH_FILTER_RULES");
  if (rules !== undefined) return filterRun(Number(rules));
  if (Deno.env.get("L2_BENCH_FILTER") === "1") return await filterBench();
  const c = connected(0);
  const { a, b, frame, now } = c;

  const one = (txUs: number[], rxUs: number[]) => {
    a.tap.inject(frame);
    const t0 = performance.now();
    a.engine.onDeviceReadable(now);
    const t1 = performance.now();
    b.engine.onSocketReadable(now);
    const t2 = performance.now();
    if (b.tap.takeWritten().length !== 1) throw new Error("frame lost");
    txUs.push((t1 - t0) * 1000);
    rxUs.push((t2 - t1) * 1000);
  };
  // First, paced, before anything has run hot: the state of a daemon that
  // only sees pings (V8 has not optimized the path yet; see warmUpAead).
  const fresh = { tx: [] as number[], rx: [] as number[] };
  for (let i = 0; i < 300; i++) {
    await new Promise((r) => setTimeout(r, 10));
    one(fresh.tx, fresh.rx);
  }
  const hot = { tx: [] as number[], rx: [] as number[] };
  for (let i = 0; i < 20_000; i++) one(hot.tx, hot.rx);
  const paced = { tx: [] as number[], rx: [] as number[] };
  for (let i = 0; i < 300; i++) {
    await new Promise((r) => setTimeout(r, 10));
    one(paced.tx, paced.rx);
  }
  // Stages, paced: the engine's steps by hand on a copy of the frame.
  const st = {
    egress: [] as number[],
    send: [] as number[],
    rx: [] as number[],
    ingress: [] as number[],
  };
  const fromA = keyedEndpoint(
    // deno-lint-ignore no-explicit-any
    `10.0.0.11:${(nodeStatus(a.engine.snapshot(now)) as any).local_port}`,
  );
  for (let i = 0; i < 300; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const f = frame.slice();
    const t0 = performance.now();
    a.engine.mat!.egress(f, now);
    const t1 = performance.now();
    a.core.sendFrame(f, now);
    const t2 = performance.now();
    const out = a.core.takeOutgoing();
    const t3 = performance.now();
    for (const o of out) {
      if (b.layer.receive(fromA, o.bytes, now, 1_700_000_000_000 + now) === "core") {
        b.core.receive(fromA, o.bytes, now);
      }
    }
    const t4 = performance.now();
    for (const g of b.core.takeFrames()) b.engine.mat!.ingress(g, now);
    const t5 = performance.now();
    if (out.length !== 1) throw new Error(`expected one datagram, got ${out.length}`);
    st.egress.push((t1 - t0) * 1000);
    st.send.push((t2 - t1) * 1000);
    st.rx.push((t4 - t3) * 1000);
    st.ingress.push((t5 - t4) * 1000);
  }
  // Allocation per frame and direction: heap growth over 500 frames, the least of 5 tries
  // (a collection in between makes a try come out low or negative; those are dropped).
  const alloc = (fn: () => void) => {
    let best = Infinity;
    for (let k = 0; k < 5; k++) {
      const h0 = Deno.memoryUsage().heapUsed;
      for (let i = 0; i < 500; i++) fn();
      const d = (Deno.memoryUsage().heapUsed - h0) / 500;
      if (d > 0 && d < best) best = d;
    }
    return best === Infinity ? NaN : Math.round(best);
  };
  const txBytes = alloc(() => {
    a.tap.inject(frame);
    a.engine.onDeviceReadable(now);
    b.tap.written.length = 0;
  });
  const bothBytes = alloc(() => {
    a.tap.inject(frame);
    a.engine.onDeviceReadable(now);
    b.engine.onSocketReadable(now);
    b.tap.written.length = 0;
  });
  const rxBytes = Number(bothBytes) - Number(txBytes);
  // The same by stage, on the engine's steps by hand (a copy of the frame per try).
  const f2 = frame.slice();
  const egressBytes = alloc(() => {
    f2.set(frame);
    a.engine.mat!.egress(f2, now);
  });
  f2.set(frame);
  a.engine.mat!.egress(f2, now);
  const sendBytes = alloc(() => {
    a.core.sendFrame(f2, now);
    a.core.takeOutgoing();
  });
  a.core.sendFrame(f2, now);
  const dgram = a.core.takeOutgoing()[0].bytes;
  const recvBuf = new Uint8Array(2048);
  const recvView = recvBuf.subarray(0, dgram.length);
  // The receiving side's replay window refuses repeats: a fresh sealed packet per try.
  const sealed: Uint8Array[] = [];
  for (let i = 0; i < 2500; i++) {
    a.core.sendFrame(f2, now);
    sealed.push(a.core.takeOutgoing()[0].bytes);
  }
  let next = 0;
  const receiveBytes = alloc(() => {
    recvView.set(sealed[next++]);
    if (b.layer.receive(fromA, recvView, now, 1_700_000_000_000 + now) === "core") {
      b.core.receive(fromA, recvView, now);
    }
    b.core.takeFrames();
  });
  b.core.takeFrames();

  console.log(
    `node engine per frame (98 bytes, AES-256-GCM, direct path), in memory` +
      (WARM ? ", after warmUpAead():" : ":"),
  );
  console.log(`  back to back, TAP->UDP (A): ${stats(hot.tx.slice(5000))}`);
  console.log(`  back to back, UDP->TAP (B): ${stats(hot.rx.slice(5000))}`);
  console.log(`  every 10 ms, before any hot run, TAP->UDP (A): ${stats(fresh.tx)}`);
  console.log(`  every 10 ms, before any hot run, UDP->TAP (B): ${stats(fresh.rx)}`);
  console.log(`  every 10 ms,  TAP->UDP (A): ${stats(paced.tx)}`);
  console.log(`  every 10 ms,  UDP->TAP (B): ${stats(paced.rx)}`);
  console.log(`stages, every 10 ms:`);
  console.log(`  MAT egress (A):                    ${stats(st.egress)}`);
  console.log(`  NodeCore.sendFrame, seal (A):      ${stats(st.send)}`);
  console.log(`  SecureNode + NodeCore.receive (B): ${stats(st.rx)}`);
  console.log(`  MAT ingress (B):                   ${stats(st.ingress)}`);
  console.log(`heap allocated per frame: TAP->UDP ${txBytes} bytes, UDP->TAP ${rxBytes} bytes`);
  console.log(
    `  by stage: MAT egress ${egressBytes}, NodeCore.sendFrame + takeOutgoing ${sendBytes}, ` +
      `SecureNode + NodeCore.receive + takeFrames ${receiveBytes} bytes`,
  );
}

if (import.meta.main) await main();
