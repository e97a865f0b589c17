/**
 * `l2 las`: the L2TPv3 access switch. Cisco routers configured with
 * `xconnect <las-ip> <vc-id> encapsulation l2tpv3` reach it over IP protocol
 * 115; every pseudowire with the same VC id lands on one virtual switch.
 *
 * The daemon wires the kit (config, logs, /status, /metrics, signals), a raw
 * IP protocol 115 socket (and UDP 1701 with `udp: true`), each read by the
 * kit's socket pump (kit/pump.ts) into the engine (core/las/engine.ts), and
 * the event loop (the kit's runner, kit/runner.ts); the config schema and
 * command line are in cmd/las_config.ts. SIGTERM sends StopCCN
 * to every peer, retransmitted until acknowledged (at most about 2 s), then
 * exits. Packets leave with DF clear unless `df: true`; `allow:` limits the
 * peers, and the start log says which peers it accepts. SIGHUP applies the log section; other changes
 * need a restart (it says which).
 *
 * @module
 */
import { buildRules } from "./filter_config.ts";
import { VcFilter } from "../core/las/vc_filter.ts";
import { vcFilterMetrics, vcFilterStatus } from "./render/filter_status.ts";
import { ConfigError } from "./kit/config.ts";
import { restartNeeded, runDaemonCommand } from "./kit/cli.ts";
import { opening } from "./kit/oserror.ts";
import { checkLas } from "./daemon_checks.ts";
import type { DaemonContext, DaemonInstance } from "./kit/daemon.ts";
import type { TopicLogger } from "./kit/log.ts";
import { hash, hostName, random32, routerId, v4ToNumber } from "./kit/host.ts";
import { Runner } from "./kit/runner.ts";
import { socketWatch } from "./kit/pump.ts";
import { LasEngine, type PeerPrefix, peerPrefix } from "../core/las/engine.ts";
import { lasMetrics, lasStatus } from "./las_status.ts";
import { meshOptions } from "./las_mesh.ts";
import {
  acceptingLine,
  type LasArgs,
  type LasConfig,
  loadLas,
  switchOptions,
} from "./las_config.ts";
import { openRawIp } from "../ffi/raw.ts";
import { sourceFor } from "../ffi/route.ts";
import { openUdp } from "../ffi/udp.ts";
import type { DatagramSocket } from "../ffi/dgram.ts";

export { type LasArgs, lasCommand } from "./las_config.ts";

function startLas(
  ctx: DaemonContext,
  cfg: { config: LasConfig },
): Promise<DaemonInstance<LasConfig>> {
  const c = cfg.config;
  const log = ctx.log.topic("las");
  const listenV4 = c.listen.filter((a) => v4ToNumber(a) !== 0);
  if (listenV4.length !== c.listen.length) {
    throw new ConfigError("las.listen: IPv6 addresses are not supported yet for L2TPv3");
  }
  // Per-VC overrides, keyed as the engine names VCs: decimal ids without leading zeros.
  const vcPolicies = new Map(
    Object.entries(c.vcs).map((
      [k, v],
    ) => [/^\d+$/.test(k) ? String(Number(k)) : k.toLowerCase(), v]),
  );
  // Per-VC filters, built once: their counters outlive the switches (sessions come and go).
  const vcFilters = new Map<string, VcFilter>();
  for (const [vc, o] of vcPolicies) {
    if (o.filter && o.filter.length > 0) {
      vcFilters.set(vc, new VcFilter(buildRules(o.filter), performance.now()));
      log.info(`VC ${vc} filter: ${o.filter.map((r) => r.name).join(", ")}`);
    }
  }
  const sockets: DatagramSocket[] = [];
  let ip: DatagramSocket;
  let udp: DatagramSocket | undefined;
  try {
    // 8 MB asked, forced past net.core.rmem_max when root (the kernel doubles it): about
    // 50 ms of 1400-byte frames at 115 k/s, so a scheduler stall of that length drops nothing
    // at the socket (4 MB, capped by rmem_max, lost 10% at the peak), and an overload queues
    // no longer than that before it drops.
    ip = openRawIp({
      protocol: 115,
      family: 4,
      batch: 64,
      slotSize: 9216,
      rcvbuf: 8 << 20,
      forceBuffers: true,
      dontFragment: c.df,
    });
    sockets.push(ip);
    if (c.udp) {
      const l2tpUdp = { what: "UDP port 1701 (udp: L2TPv3 over UDP)", target: "0.0.0.0:1701" };
      udp = opening({ ...l2tpUdp, proto: "udp" }, () =>
        openUdp({
          bind: "0.0.0.0:1701",
          batch: 64,
          slotSize: 9216,
          rcvbuf: 4 << 20,
          dontFragment: c.df,
        }));
      sockets.push(udp);
    }
  } catch (e) {
    for (const s of sockets) s.close();
    throw e;
  }
  const allow: PeerPrefix[] = [];
  for (const a of c.allow) {
    const p = peerPrefix(`${a.address}/${a.prefix}`);
    if (typeof p === "string") throw new ConfigError(`las.allow: ${p}`);
    allow.push(p);
  }
  // Containment of one packet's, event's or connection timer's failure (kit/contain.ts).
  const contain = (h: string, e: unknown, peer: string | null) => ctx.contain.packet(h, e, peer);
  const engine = new LasEngine({
    ip,
    udp,
    hostName: c.hostname || hostName(),
    routerId: routerId(listenV4),
    random32,
    helloIntervalMs: c.hello_interval * 1000,
    retransmits: c.retransmits,
    switchPolicy: (vc) => {
      const o = vcPolicies.get(vc);
      return {
        name: o ? `vcs.${vc}` : "switch",
        options: switchOptions(o ? { ...c.switch, ...o } : c.switch),
        filter: vcFilters.get(vc),
      };
    },
    maxSwitches: c.max_switches,
    cookieLength: c.cookie as 0 | 4 | 8,
    acceptDst: listenV4.length ? new Set(listenV4.map(v4ToNumber)) : null,
    allow,
    maxPendingPerPeer: c.max_pending_per_peer,
    maxConnectionsPerPeer: c.max_connections_per_peer,
    auth: c.secret ? { secret: new TextEncoder().encode(c.secret), hash, digest: c.digest } : null,
    sourceFor,
    log,
    contain,
    mesh: meshOptions(c),
    capture: ctx.capture,
  });
  // Each socket's pump: one recvmmsg per wakeup, each datagram to the engine with its
  // Arrival (via 0: IP 115, 1: UDP), contained on its own; then endBatch.
  const watch = sockets.map((s) =>
    socketWatch({
      name: s === ip ? "ip" : "udp",
      socket: s,
      engine,
      via: s === ip ? 0 : 1,
      contain,
    })
  );
  const io = Object.fromEntries(watch.map((w) => [w.name, w.counters]));
  const runner = new Runner(ctx, {
    watch,
    // The mesh's first dials (peers:); without peers it does nothing.
    start: (now) => engine.start(now),
    nextDeadline: () => engine.nextDeadline(),
    poll: (now) => engine.poll(now),
    // SIGTERM: StopCCN to every peer, retransmitted until acknowledged or given up on.
    stop: (now) => engine.stop(now),
    stopped: (now) => engine.stopped(now),
  });
  const clock = runner.clock;
  log.info(
    `listening for L2TPv3 on IP protocol 115${udp ? " and UDP 1701" : ""}` +
      (listenV4.length ? ` at ${listenV4.join(", ")}` : " on every address"),
    { auth: c.secret ? c.digest : "none", cookie: c.cookie, df: c.df },
  );
  log.info(acceptingLine(allow.map((p) => p.text), c.secret !== ""));
  const frag = fragmentWatch(log);
  return Promise.resolve({
    // keepalived's vrrp_script (docs/las-redundancy.md): the loop runs and its sockets are open.
    health: () => runner.health(),
    status: () => ({
      ...lasStatus(engine.snapshot(clock()), Date.now(), io),
      filters: vcFilterStatus(vcFilters),
    }),
    metrics: (w) => {
      lasMetrics(w, engine.snapshot(clock()), io);
      vcFilterMetrics(w, vcFilters);
    },
    reload: (next) => restartNeeded(c, next, "LAS"),
    async stop() {
      clearInterval(frag);
      await runner.stop();
    },
  });
}

/** Reads the namespace's IPv4 reassembly counter (`/proc/net/snmp`, Ip: ReasmReqds). */
function reassemblies(): number {
  try {
    const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((l) =>
      l.startsWith("Ip:")
    );
    const names = lines[0].split(/\s+/);
    return Number(lines[1].split(/\s+/)[names.indexOf("ReasmReqds")]) || 0;
  } catch {
    return 0;
  }
}

/**
 * Every 10 s, says so when the kernel had to reassemble fragmented IPv4
 * packets: a raw socket only sees whole packets, so fragments mean some
 * peer's path MTU is smaller than its frames plus the L2TPv3 overhead.
 */
function fragmentWatch(log: TopicLogger): ReturnType<typeof setInterval> {
  let last = reassemblies();
  return setInterval(() => {
    const now = reassemblies();
    if (now > last) {
      log.warn(
        `${
          now - last
        } fragmented IPv4 packets arrived in the last 10 s: the path MTU to a peer is ` +
          "too small for its frames; lower the MTU on the peer's attachment circuit or raise the path MTU",
        { fragments: now - last },
      );
    }
    last = now;
  }, 10_000);
}

/** Runs `l2 las`. */
export async function runLas(args: LasArgs): Promise<number> {
  return await runDaemonCommand<LasConfig>({
    role: "las",
    capture: ["vc"],
    load: () => loadLas(args),
    check: checkLas,
    start: startLas,
  }, args.checkConfig);
}
