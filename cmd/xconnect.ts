/**
 * `l2 xconnect <las-ip> <vc-id>`: a Linux host as an L2TPv3 edge, doing what
 * Cisco's `xconnect <las-ip> <vc-id> encapsulation l2tpv3` does: one control
 * connection and one Ethernet pseudowire to a LAS, carrying the frames of a
 * TAP device. This file is configuration and wiring: the protocol side is
 * the sans-IO engine in core/xconnect/engine.ts, fed by the kit's pumps
 * (kit/pump.ts) from the socket and the device under the event loop (the
 * kit's runner, kit/runner.ts); /status and /metrics are rendered from its
 * snapshot in cmd/xconnect_status.ts; the config schema and command line
 * are in cmd/xconnect_config.ts.
 *
 * Config sections live under `xconnect:`; `--section NAME` picks one (the
 * positional arguments are the LAS and the VC id, as on a Cisco).
 *
 * @module
 */
import { ConfigError } from "./kit/config.ts";
import { restartNeeded, runDaemonCommand } from "./kit/cli.ts";
import { opening } from "./kit/oserror.ts";
import { checkXconnect } from "./daemon_checks.ts";
import type { DaemonContext, DaemonInstance } from "./kit/daemon.ts";
import { EXIT_USAGE } from "./kit/exit.ts";
import { hash, hostName, random32, routerId } from "./kit/host.ts";
import { Runner } from "./kit/runner.ts";
import { deviceWatch, socketWatch } from "./kit/pump.ts";
import { XconnectEngine } from "../core/xconnect/engine.ts";
import { xconnectMetrics, xconnectStatus } from "./xconnect_status.ts";
import { loadXconnect, type XConfig, type XconnectArgs } from "./xconnect_config.ts";
import { openRawIp } from "../ffi/raw.ts";
import { openUdp } from "../ffi/udp.ts";
import { openTap } from "../ffi/tap.ts";
import { openPacket, type PacketDevice } from "../ffi/packet.ts";
import type { FrameDevice } from "../ffi/types.ts";
import { type Endpoint, parseIp } from "../core/addr.ts";
import type { DatagramSocket } from "../ffi/dgram.ts";

export { type XconnectArgs, xconnectCommand } from "./xconnect_config.ts";

function startXconnect(
  ctx: DaemonContext,
  cfg: { name: string; config: XConfig },
): Promise<DaemonInstance<XConfig>> {
  const c = cfg.config;
  const log = ctx.log.topic("xconnect");
  const lasIp = parseIp(c.las);
  if (!lasIp.ok || c.las.includes(":")) {
    throw new ConfigError(`xconnect.las: only IPv4 LAS addresses are supported yet, got ${c.las}`);
  }
  let backup: Endpoint | undefined;
  if (c.backup) {
    const b = parseIp(c.backup);
    if (!b.ok || c.backup.includes(":")) {
      throw new ConfigError(
        `xconnect.backup: only IPv4 LAS addresses are supported yet, got ${c.backup}`,
      );
    }
    if (c.backup === c.las) {
      throw new ConfigError(`xconnect.backup: the backup LAS must differ from the LAS (${c.las})`);
    }
    backup = { ip: b.value, port: c.udp ? 1701 : 0 };
  }
  if (!/^\d{1,10}$/.test(c.vc) || Number(c.vc) > 0xffff_ffff) {
    log.warn(`VC id ${c.vc} is not a number 0..4294967295; it is sent as text as it is`);
  }
  const fits = c.udp ? 1442 : 1454;
  let mtu = c.mtu || fits;
  let sock: DatagramSocket;
  const dontFragment = c.df;
  const l2tpUdp = { what: "UDP port 1701 (udp: L2TPv3 over UDP)", target: "0.0.0.0:1701" };
  if (c.udp) {
    sock = opening(
      { ...l2tpUdp, proto: "udp" },
      () => openUdp({ bind: "0.0.0.0:1701", batch: 64, slotSize: 9216, dontFragment }),
    );
  } else sock = openRawIp({ protocol: 115, family: 4, batch: 64, slotSize: 9216, dontFragment });
  let tap: FrameDevice;
  let packet: PacketDevice | null = null;
  try {
    if (c.interface) {
      const dev = openPacket({ name: c.interface });
      tap = packet = dev;
      mtu = dev.mtu;
      const off = [dev.offloads.gro ? "GRO" : "", dev.offloads.lro ? "LRO" : ""].filter((x) => x);
      if (off.length) {
        log.info(
          `turned ${off.join(" and ")} off on ${dev.name} while running: merged frames cannot ` +
            "cross a pseudowire",
        );
      }
      if (mtu > fits) {
        log.warn(
          `${dev.name} has MTU ${mtu}, more than ${fits} fits a 1500-byte underlay: full-size ` +
            "frames will be fragmented on the way to the LAS (raise the underlay MTU or lower " +
            `${dev.name}'s)`,
        );
      }
      if (!dev.up()) log.warn(`${dev.name} is down: no frames until it is up`);
    } else {
      tap = opening(
        {
          what: `TAP device ${c.tap}`,
          target: c.tap,
          flag: "--tap",
          key: `xconnect.${cfg.name}.tap`,
        },
        () => openTap({ name: c.tap, mtu, up: true, batch: 64 }),
      );
    }
  } catch (e) {
    sock.close();
    throw e;
  }
  // Containment of one packet's, event's or connection timer's failure (kit/contain.ts).
  const contain = (h: string, e: unknown, peer: string | null) => ctx.contain.packet(h, e, peer);
  const engine = new XconnectEngine({
    port: sock,
    kind: c.udp ? "udp" : "ip",
    las: { ip: lasIp.value, port: c.udp ? 1701 : 0 },
    ...(backup ? { backup, backupDelayMs: c.backup_delay * 1000 } : {}),
    vcId: c.vc,
    device: tap,
    deviceName: tap.name,
    hostName: hostName(),
    routerId: routerId([]),
    random32,
    helloIntervalMs: c.hello_interval * 1000,
    auth: c.secret ? { secret: new TextEncoder().encode(c.secret), hash, digest: c.digest } : null,
    log,
    contain,
    capture: ctx.capture,
  });
  // The pumps: each datagram and each frame to the engine on its own, contained; then endBatch.
  const watch = [
    socketWatch({ name: c.udp ? "udp" : "ip", socket: sock, engine, contain }),
    deviceWatch({ name: "tap", device: tap, engine, contain }),
  ];
  const io = Object.fromEntries(watch.map((w) => [w.name, w.counters]));
  const runner = new Runner(ctx, {
    watch,
    nextDeadline: () => engine.nextDeadline(),
    poll: (now) => engine.poll(now),
    start: (now) => engine.start(now),
    // SIGTERM: StopCCN, retransmitted until acknowledged or given up on.
    stop: (now) => engine.stop(now),
    stopped: (now) => engine.stopped(now),
  });
  const clock = runner.clock;
  const what = c.interface ? `interface ${tap.name}, promiscuous` : tap.name;
  log.info(
    `edge for VC ${c.vc} on ${what} (MTU ${mtu}) towards ${c.las}` +
      (backup ? `, backup ${c.backup} (returning after ${c.backup_delay} s)` : ""),
    {
      transport: c.udp ? "udp" : "ip",
    },
  );
  return Promise.resolve({
    status: () =>
      xconnectStatus(
        engine.snapshot(clock()),
        packet && {
          name: packet.name,
          mtu: packet.mtu,
          oversize_dropped: packet.oversize,
          offloads_turned_off: packet.offloads,
        },
        io,
      ),
    metrics: (w) => xconnectMetrics(w, engine.snapshot(clock()), io),
    health: () => runner.health(),
    reload: (next) => restartNeeded(c, next, "xconnect"),
    stop: () => runner.stop(),
  });
}

/** Runs `l2 xconnect`. */
export async function runXconnect(args: XconnectArgs): Promise<number> {
  if (args.iface !== undefined && args.tap !== undefined) {
    console.error("l2 xconnect: --tap and --interface exclude each other: pick one");
    return EXIT_USAGE;
  }
  return await runDaemonCommand<XConfig>(
    {
      role: "xconnect",
      load: () => loadXconnect(args),
      check: checkXconnect,
      start: startXconnect,
      capture: ["device"],
    },
    args.checkConfig,
  );
}
