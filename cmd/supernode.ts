/**
 * `l2 supernode`: the rendezvous and relay of the VPN. Nodes register with
 * it, broadcast through it, and fall back to it as a relay.
 *
 * The daemon wires the kit (config, logs, /status, /metrics, signals), one
 * UDP socket (dual-stack when bound to `::`), the event loop (ffi/loop.ts)
 * and `SupernodeCore` (core/vpn/supernode.ts) with `NullSealer` (no
 * encryption yet: issue 6). SIGTERM sends GOING_AWAY to every registered
 * node before exit.
 *
 * @module
 */
import { command, constant, merge, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  ConfigError,
  formatHostPort,
  hostPort,
  type Infer,
  int,
  type Schema,
} from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  loadDaemon,
  printCheckedConfig,
} from "./kit/cli.ts";
import { type DaemonContext, type DaemonInstance, runDaemon } from "./kit/daemon.ts";
import { EXIT_OK, EXIT_USAGE } from "./kit/exit.ts";
import type { TopicLogger } from "./kit/log.ts";
import type { MetricsWriter } from "./kit/metrics.ts";
import { VpnSocket } from "./vpn_io.ts";
import { SupernodeCore, type SupernodeEvent } from "../core/vpn/supernode.ts";
import { NullSealer } from "../core/vpn/sealer.ts";
import { formatIp, parseIp } from "../ffi/addr.ts";
import { openUdp } from "../ffi/udp.ts";
import { IoLoop } from "../ffi/loop.ts";

/** Default UDP port of the VPN. */
export const VPN_PORT = 7654;

/** Keys of a `supernode:` section. */
export const supernodeFields = {
  listen: hostPort({
    doc: "UDP address nodes register with",
    default: { host: "::", port: VPN_PORT },
    defaultPort: VPN_PORT,
  }),
  id: int({
    doc: "supernode id, the AA of MAT addresses 00:AA:BB:BB:CC:CC",
    min: 0,
    max: 255,
    default: 1,
  }),
  ...apiFields(7655),
} satisfies Schema;

/** `l2 supernode` command line. */
export const supernodeCommand = command(
  "supernode",
  merge(
    object({
      cmd: constant("supernode" as const),
      listen: optional(option("--listen", string({ metavar: "HOST:PORT" }), {
        description: message`UDP address to listen on (default [::]:7654)`,
      })),
      id: optional(option("--id", string({ metavar: "N" }), {
        description: message`supernode id 0..255 (default 1)`,
      })),
    }),
    commonDaemonOptions(),
  ),
  { brief: message`VPN supernode: registration, broadcast and relay for nodes` },
);

/** Parsed `l2 supernode` arguments. */
export type SupernodeArgs = CommonDaemonArgs & { cmd: "supernode"; listen?: string; id?: string };

/** Loads the supernode configuration from file and flags. */
export function loadSupernode(args: SupernodeArgs) {
  return loadDaemon("supernode", supernodeFields, args, {
    listen: { flag: "--listen", value: args.listen },
    id: { flag: "--id", value: args.id },
  });
}

type SnConfig = Infer<typeof supernodeFields>;

/** Uniform random numbers in [0, 1) from the system CSPRNG (for the cores). */
export function cryptoRandom(): number {
  const w = new Uint32Array(1);
  crypto.getRandomValues(w);
  return w[0] / 0x1_0000_0000;
}

/** `SupernodeCore` joined to a UDP socket, without owning the event loop. */
export class SupernodeEngine {
  readonly core: SupernodeCore;
  readonly sock: VpnSocket;
  readonly #log: TopicLogger;

  constructor(o: { socket: VpnSocket; supernodeId: number; log: TopicLogger }) {
    this.sock = o.socket;
    this.#log = o.log;
    this.core = new SupernodeCore({
      sealer: new NullSealer(),
      random: cryptoRandom,
      supernodeId: o.supernodeId,
    });
  }

  /** Handles one batch from the socket; returns how many datagrams (0: drained). */
  onReadable(now: number): number {
    const n = this.sock.receive((from, bytes) => this.core.receive(from, bytes, now));
    if (n > 0) this.#drain();
    return n;
  }

  /** Runs due timers. */
  poll(now: number): void {
    this.core.poll(now);
    this.#drain();
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    return this.core.nextDeadline();
  }

  /** SIGTERM: GOING_AWAY to every node. */
  stop(now: number): void {
    this.core.shutdown(now);
    this.#drain();
  }

  #drain(): void {
    this.sock.send(this.core.takeOutgoing());
    for (const ev of this.core.takeEvents()) this.#event(ev);
  }

  #event(ev: SupernodeEvent): void {
    const log = this.#log;
    switch (ev.type) {
      case "registered":
        log.info(
          `node ${ev.node} registered from ${ev.endpoint}${ev.moved ? " (moved)" : ""}`,
          { network: ev.network, auto: ev.auto },
        );
        break;
      case "refused":
        log.limited(`refused:${ev.endpoint}`, "warn", `refused ${ev.endpoint}: ${ev.text}`, {
          network: ev.network,
          requested: ev.requested,
          reason: ev.reason,
        });
        break;
      case "deregistered":
        log.info(`node ${ev.node} deregistered`, { network: ev.network, endpoint: ev.endpoint });
        break;
      case "expired":
        log.info(`node ${ev.node} expired (silent)`, {
          network: ev.network,
          endpoint: ev.endpoint,
        });
        break;
      case "introduced":
        log.debug(`introduced nodes ${ev.a} and ${ev.b}`, { network: ev.network });
        break;
      case "network_created":
        log.info(`network ${ev.network} created`);
        break;
      case "network_removed":
        log.info(`network ${ev.network} removed (empty)`);
        break;
      case "going_away":
        log.info(`told ${ev.nodes} node(s) the supernode is going away`);
        break;
    }
  }

  /** For /status. */
  status(now: number): Record<string, unknown> {
    const s = this.core.status();
    const c = s.counters;
    return {
      supernode_id: s.supernodeId,
      boot_id: s.bootId,
      listen: formatHostPort({
        host: formatIp(this.sock.transport.local.ip),
        port: this.sock.transport.local.port,
      }),
      nodes: s.networks.flatMap((n) =>
        n.nodes.map((e) => ({
          id: e.node,
          network: n.network,
          endpoint: e.endpoint,
          locals: e.locals,
          last_seen_s: Math.max(0, Math.round((now - e.lastSeen) / 100) / 10),
          registered_s: Math.max(0, Math.round((now - e.registeredAt) / 1000)),
          rx_packets: e.rxPackets,
          relayed_frames: e.relayedFrames,
        }))
      ),
      networks: s.networks.map((n) => ({
        network: n.network,
        nodes: n.nodes.length,
        identities: n.identities,
      })),
      relayed_frames: c.relayed_frames ?? 0,
      relayed_bytes: c.relayed_bytes ?? 0,
      broadcast_frames: c.broadcast_frames ?? 0,
      counters: { ...c, ...this.sock.counters },
    };
  }

  /** For /metrics. */
  metrics(w: MetricsWriter): void {
    const s = this.core.status();
    const c = s.counters;
    for (const n of s.networks) {
      w.gauge("l2_supernode_nodes", "registered nodes", n.nodes.length, { network: n.network });
    }
    w.counter("l2_supernode_relayed_frames_total", "unicast frames relayed", c.relayed_frames ?? 0);
    w.counter("l2_supernode_relayed_bytes_total", "bytes of relayed frames", c.relayed_bytes ?? 0);
    w.counter(
      "l2_supernode_broadcast_frames_total",
      "broadcast/multicast frames fanned out",
      c.broadcast_frames ?? 0,
    );
    for (const [k, v] of Object.entries(c)) {
      if (k === "relayed_frames" || k === "relayed_bytes" || k === "broadcast_frames") continue;
      w.counter("l2_supernode_events_total", "supernode counters by name", v, { name: k });
    }
    for (const [k, v] of Object.entries(this.sock.counters)) {
      w.counter("l2_supernode_socket_total", "UDP socket counters by name", v, { name: k });
    }
  }
}

function startSupernode(
  ctx: DaemonContext,
  cfg: { config: SnConfig },
): Promise<DaemonInstance<SnConfig>> {
  const c = cfg.config;
  const log = ctx.log.topic("supernode");
  if (!parseIp(c.listen.host).ok) {
    throw new ConfigError(`supernode.listen: expected an IP address, got ${c.listen.host}`);
  }
  const udp = openUdp({
    bind: formatHostPort(c.listen),
    batch: 64,
    slotSize: 2048,
    rcvbuf: 4 << 20,
    sndbuf: 4 << 20,
  });
  const engine = new SupernodeEngine({ socket: new VpnSocket(udp), supernodeId: c.id, log });
  const clock = () => performance.now();
  const loop = new IoLoop({
    wait: "inline",
    clock,
    nextDeadline: () => engine.nextDeadline(),
    onDeadline: (now) => engine.poll(now),
  });
  loop.add(udp.fd, () => engine.onReadable(clock()), () => udp.close());
  engine.poll(clock());
  const running = loop.run().catch((e) => ctx.fatal(`event loop failed: ${(e as Error).message}`));
  log.info(`supernode ${c.id} listening on UDP ${formatHostPort(c.listen)}`, {
    port: udp.local.port,
    encryption: "none",
  });
  return Promise.resolve({
    status: () => engine.status(clock()),
    metrics: (w) => engine.metrics(w),
    reload(next) {
      const changed = (Object.keys(next) as (keyof SnConfig)[]).filter((k) =>
        JSON.stringify(next[k]) !== JSON.stringify(c[k])
      );
      return changed.length
        ? [`changes to ${changed.join(", ")} take effect at restart`]
        : ["no supernode settings changed"];
    },
    async stop() {
      engine.stop(clock());
      await loop.close();
      await running;
    },
  });
}

/** Runs `l2 supernode`. */
export async function runSupernode(args: SupernodeArgs): Promise<number> {
  if (args.checkConfig) {
    try {
      printCheckedConfig("supernode", await loadSupernode(args));
      return EXIT_OK;
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(`l2 supernode: ${e.message}`);
        return EXIT_USAGE;
      }
      throw e;
    }
  }
  return await runDaemon<SnConfig>({
    role: "supernode",
    load: () => loadSupernode(args),
    start: startSupernode,
  });
}
