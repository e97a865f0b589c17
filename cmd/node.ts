/**
 * `l2 node`: a VPN edge. Bridges a TAP device into the virtual Ethernet,
 * translating the MACs of the hosts behind it (MAT).
 *
 * Configuration and wiring only: the config (cmd/node_config.ts), the
 * supernode list, state directory, `SecureNode` and filter set up by
 * cmd/node_setup.ts, a UDP
 * socket, a TAP device (created with a MAC derived from the node identity,
 * the MTU `tapMtu(1500)` by default, the configured addresses), the sans-IO
 * `NodeEngine` (core/vpn/node_engine.ts: `SecureNode` in front of
 * `NodeCore`, MAT, the TAP offloads), the kit's pumps for the socket and the
 * TAP (cmd/kit/pump.ts) and runner (cmd/kit/runner.ts). The node's X25519
 * key (`key`, default `<state_dir>/node.key`, created on first start) is its
 * identity: the public key is what the supernode lists as a member and what
 * keeps an auto id. `supernode_key` (the supernode's public key) is
 * required: the handshake encrypts to it, and a supernode without the
 * matching private key cannot answer (docs/security.md). The MAT leaf table
 * and the peer key pins live in the state directory (cmd/vpn_state.ts).
 * SIGTERM deregisters and saves them. Local endpoints offered to peers for
 * hole punching: cmd/vpn_host.ts `localEndpoints`.
 *
 * @module
 */
import { PASS } from "../core/filter.ts";
import { formatHostPort } from "./kit/config.ts";
import { restartNeeded, runDaemonCommand } from "./kit/cli.ts";
import { opening } from "./kit/oserror.ts";
import { checkNode } from "./daemon_checks.ts";
import type { DaemonContext, DaemonInstance } from "./kit/daemon.ts";
import { deviceWatch, socketWatch } from "./kit/pump.ts";
import { Runner } from "./kit/runner.ts";
import { loadNode, type NodeArgs, type NodeConfig } from "./node_config.ts";
import { nodeMetrics, type NodeSnapshot, nodeSnapshot, nodeStatus } from "./render/node_status.ts";
import { nodeEventLog } from "./render/vpn_log.ts";
import {
  allocatorKeeper,
  loadNodeTables,
  nodeFilter,
  nodeSecurity,
  nodeSupernodeList,
  NodeTrouble,
  openNodeState,
  REGISTER_RETRY_MAX_MS,
  resolveNodeSupernodes,
} from "./node_setup.ts";
import { socketCounters } from "./vpn_io.ts";
import {
  addAddresses,
  cryptoRandom,
  localEndpoints,
  openNodeTap,
  segmentArena,
  tapMacFrom,
} from "./vpn_host.ts";
import { loadPins, PINS_FILE, saveLeaves, savePins } from "./vpn_state.ts";
import { toBase64 } from "./keygen.ts";
import { aeadImplementation, CIPHER, networkSecret } from "./vpn_security.ts";
import { EndpointTable, formatEndpoint, isV4 } from "../core/addr.ts";
import { tapMtu } from "../core/vpn/constants.ts";
import { DATA_HEADROOM, DATA_TAILROOM } from "../core/vpn/messages.ts";
import { NodeCore } from "../core/vpn/node.ts";
import { NodeEngine } from "../core/vpn/node_engine.ts";
import { openUdp } from "../ffi/udp.ts";
import type { TapDevice } from "../ffi/tap.ts";
import { sendWithTtl } from "../ffi/ttl.ts";

export { loadNode, type NodeArgs, nodeCommand, nodeFields } from "./node_config.ts";

async function startNode(
  ctx: DaemonContext,
  cfg: { name: string; config: NodeConfig },
): Promise<DaemonInstance<NodeConfig>> {
  const c = cfg.config;
  const log = ctx.log.topic("node");
  // The first is preferred; `supernode`/`supernode_key` are a list of one.
  const given = nodeSupernodeList(c);
  const psk = networkSecret("node", c.secret, c.secret_file);
  const { dir, staticKey } = openNodeState(c, cfg.name, log);
  const identity = staticKey.publicKey;
  const sns = await resolveNodeSupernodes(c, given);
  const snKey = sns[0].key;
  const supernode = { ip: sns[0].ip, port: sns[0].port };
  const federation = sns.length > 1;
  const now0 = performance.now();
  const { allocator, leaves } = loadNodeTables(dir, log, now0);

  const udpAt = formatHostPort(c.listen);
  const udpWhat = {
    what: "the node's UDP port",
    target: udpAt,
    key: `node.${cfg.name}.listen`,
    proto: "udp" as const,
  };
  const udp = opening(udpWhat, () =>
    openUdp({
      bind: udpAt,
      batch: 64,
      slotSize: 2048,
      rcvbuf: 4 << 20,
      sndbuf: 4 << 20,
      udpGso: c.offload,
      // Runs of one peer's datagrams in one receive (the pump cuts them); off when refused.
      udpGro: c.offload,
    }));
  const tapMac = tapMacFrom(identity);
  let tap: TapDevice | undefined;
  try {
    tap = opening(
      { what: `TAP device ${c.tap}`, target: c.tap, flag: "--tap", key: `node.${cfg.name}.tap` },
      () => openNodeTap({ name: c.tap, mtu: c.mtu, mac: tapMac }, c.offload, log),
    );
    await addAddresses(tap.name, c.address);
    udp.lend(tap.memory);
  } catch (e) {
    tap?.close();
    udp.close();
    throw e;
  }
  if (c.mtu > tapMtu(1500)) {
    log.warn(
      `TAP MTU ${c.mtu} is above ${tapMtu(1500)}: frames that do not fit a 1500-byte underlay ` +
        "are dropped and counted (tx_too_big)",
    );
  }
  const locals = localEndpoints(tap.name, c.address, udp.local.ip, udp.local.port);
  const security = nodeSecurity(c, sns, { staticKey, psk, dir, log, now: now0 });
  psk?.fill(0);
  const endpoints = new EndpointTable();
  const netFilter = nodeFilter(c, log);
  const core = new NodeCore({
    supernode,
    endpoints,
    identity,
    sealer: security.sealer,
    directory: security,
    random: cryptoRandom,
    network: c.network,
    nodeId: c.id,
    localEndpoints: locals,
    punchTtl: c.punch_ttl,
    ipVersion: sns.every((x) => isV4(x.ip)) ? 4 : 6,
    // Several supernodes: KEEPALIVE every second, a move after 3 s of silence.
    ...(federation ? { keepaliveIntervalMs: 1000, silentMs: 3000 } : {}),
    ...(allocator.value !== null ? { allocator: allocator.value } : {}),
    // ...and REGISTER (which needs that session) at most 4 s later: back within 10 s.
    registerRetryMaxMs: REGISTER_RETRY_MAX_MS,
    // The engine writes every frame to the TAP right after each receive batch: no copies.
    frameViews: true,
    admitFrame: netFilter
      ? (f, sender, now) => netFilter.ingress.decide(f, sender, now) === PASS
      : null,
  });
  const t = tap;
  const offload = t.vnetHdrLen > 0;
  const inPlace = (t.rx.headroom ?? 0) >= DATA_HEADROOM && (t.rx.tailroom ?? 0) >= DATA_TAILROOM;
  // TSO segments are sealed in slots of the engine's own and sent from there too.
  const seg = offload && inPlace ? segmentArena(t.mtu) : null;
  if (seg !== null) udp.lend(seg.arena);
  const contain = (h: string, e: unknown, peer: string | null) => ctx.contain.packet(h, e, peer);
  // Why the node is not registered, and when it tries again: /status `last_error`, `retry_in_s`.
  const trouble = new NodeTrouble();
  const logEvent = nodeEventLog(log, identity);
  const keepAllocator = allocatorKeeper(dir, allocator.value, log);
  const engine = new NodeEngine({
    core,
    leaves: leaves.table,
    tapMac,
    endpoints,
    socket: udp,
    sendTtl: (bytes, to, ttl) => sendWithTtl(udp, bytes, to, ttl),
    device: t,
    mtu: t.mtu,
    offload,
    inPlace,
    ...(seg !== null ? { segmentSlots: seg.slots } : {}),
    security,
    // One reading of both clocks: the engine derives the wall clock from `now`.
    clock: { now: performance.now(), wall: Date.now() },
    onEvent: (ev) => {
      trouble.see(ev, performance.now());
      logEvent(ev);
      keepAllocator(ev);
    },
    contain,
    ...(netFilter ? { filter: netFilter } : {}),
    capture: ctx.capture,
    save: () => {
      saveLeaves(dir, leaves.table);
      if (c.peers.length === 0) savePins(dir, security, performance.now());
    },
  });
  // With their batch sizes: a short batch means drained, no empty read to learn it.
  const udpPump = socketWatch({ name: "udp", socket: udp, engine, contain });
  const tapPump = deviceWatch({ name: "tap", device: t, engine, contain });
  const runner = new Runner(ctx, {
    watch: [udpPump, tapPump],
    nextDeadline: () => engine.nextDeadline(),
    poll: (now) => engine.poll(now),
    start: (now) => engine.start(now),
    stop: (now) => engine.stop(now),
  });
  const clock = runner.clock;
  const snText = sns.map(formatEndpoint).join(", ");
  const localTexts = locals.map(formatEndpoint);
  const io = { udp: udpPump.counters, tap: tapPump.counters };
  const tapInfo = { name: t.name, mac: tapMac, mtu: t.mtu, offload };
  const snapshot = (now: number): NodeSnapshot => {
    const e = engine.snapshot(now);
    return nodeSnapshot(e, {
      tap: tapInfo,
      localPort: udp.local.port,
      locals: localTexts,
      cipher: CIPHER,
      aead: aeadImplementation(),
      tapRxHandlerErrors: tapPump.counters.rx_handler_errors,
      socket: socketCounters(udp, udpPump.counters, e.tx),
      io,
    });
  };
  log.info(`node on ${t.name} (MTU ${t.mtu}) towards supernode${federation ? "s" : ""} ${snText}`, {
    port: udp.local.port,
    id: String(c.id),
    network: c.network,
    locals: localTexts.join(",") || "none",
    encryption: CIPHER,
    aead: aeadImplementation(),
    supernode_key: toBase64(snKey),
  });
  return {
    status: () => {
      const st = nodeStatus(snapshot(clock()));
      return trouble.add(st, performance.now());
    },
    metrics: (w) => nodeMetrics(w, snapshot(clock())),
    reload: (next) => {
      // The pin file is the operator's way to accept a peer's new key: re-read it.
      const p = loadPins(dir, security, clock());
      engine.deadlineMoved();
      if (p.error) log.error(`peer key pins not re-read: ${p.error}`);
      else log.info(`re-read ${p.loaded} peer key pin(s) from ${dir}/${PINS_FILE}`);
      return restartNeeded(c, next, "node");
    },
    stop: () => runner.stop(),
  };
}

/** Runs `l2 node`. */
export async function runNode(args: NodeArgs): Promise<number> {
  return await runDaemonCommand<NodeConfig>(
    {
      role: "node",
      load: () => loadNode(args),
      check: checkNode,
      start: startNode,
      capture: ["tap", "peer"],
    },
    args.checkConfig,
  );
}
