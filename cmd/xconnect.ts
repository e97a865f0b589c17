/**
 * `l2 xconnect <las-ip> <vc-id>`: a Linux host as an L2TPv3 edge, doing what
 * Cisco's `xconnect <las-ip> <vc-id> encapsulation l2tpv3` does: one control
 * connection and one Ethernet pseudowire to a LAS, carrying the frames of a
 * TAP device. This file is configuration and wiring: the protocol side is
 * the sans-IO engine in core/xconnect/engine.ts, driven by the event loop
 * (the kit's runner, kit/runner.ts) over the socket and the device; /status and /metrics are
 * rendered from its snapshot in cmd/xconnect_status.ts.
 *
 * Config sections live under `xconnect:`; `--section NAME` picks one (the
 * positional arguments are the LAS and the VC id, as on a Cisco).
 *
 * @module
 */
import { argument, command, constant, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  bool,
  ConfigError,
  ifname,
  type Infer,
  int,
  ipAddress,
  oneOf,
  type Schema,
  str,
} from "./kit/config.ts";
import { apiFields, loadDaemon, restartNeeded, runDaemonCommand } from "./kit/cli.ts";
import type { DaemonContext, DaemonInstance } from "./kit/daemon.ts";
import { EXIT_USAGE } from "./kit/exit.ts";
import { hash, hostName, random32, routerId } from "./kit/host.ts";
import { XconnectEngine } from "../core/xconnect/engine.ts";
import { xconnectMetrics, xconnectStatus } from "./xconnect_status.ts";
import { openRawIp } from "../ffi/raw.ts";
import { openUdp } from "../ffi/udp.ts";
import { openTap } from "../ffi/tap.ts";
import { openPacket, type PacketDevice } from "../ffi/packet.ts";
import type { FrameDevice } from "../ffi/types.ts";
import { Runner } from "./kit/runner.ts";
import { parseIp } from "../core/addr.ts";
import type { DatagramSocket } from "../ffi/dgram.ts";

/** Keys of an `xconnect:` section. */
export const xconnectFields = {
  las: ipAddress({ doc: "the LAS's IPv4 address" }),
  vc: str({ doc: "VC id (sent as the Remote End ID, decimal text)", nonEmpty: true }),
  tap: ifname({ doc: "TAP device carrying the edge's frames", default: "l2x0" }),
  interface: str({
    doc: "an existing interface whose frames the pseudowire carries (instead of a TAP; put in " +
      "promiscuous mode, GRO/LRO off while running); empty: use the TAP",
    default: "",
  }),
  mtu: int({
    doc: "TAP MTU; 0: what fits a 1500-byte underlay (1454 over IP, 1442 over UDP)",
    min: 0,
    max: 9000,
    default: 0,
  }),
  udp: bool({ doc: "L2TPv3 over UDP port 1701 instead of IP protocol 115", default: false }),
  secret: str({
    doc: "shared secret for control message authentication; empty: none",
    default: "",
  }),
  digest: oneOf(["md5", "sha1"] as const, {
    doc: "HMAC of the Message Digest AVP when a secret is set",
    default: "md5",
  }),
  df: bool({
    doc: "set Don't Fragment on the L2TPv3 packets the edge sends; default clear, as a Cisco sends",
    default: false,
  }),
  hello_interval: int({
    doc: "seconds between HELLOs on an idle connection",
    min: 5,
    max: 3600,
    default: 60,
  }),
  ...apiFields(7658),
} satisfies Schema;

/** `l2 xconnect` command line. */
export const xconnectCommand = command(
  "xconnect",
  object({
    cmd: constant("xconnect" as const),
    las: optional(argument(string({ metavar: "LAS-IP" }), {
      description: message`the LAS address (or xconnect.NAME.las in the config)`,
    })),
    vc: optional(argument(string({ metavar: "VC-ID" }), {
      description: message`the VC id: every edge with the same id is on one virtual switch`,
    })),
    tap: optional(option("--tap", string({ metavar: "NAME" }), {
      description: message`TAP device to create or attach (default l2x0)`,
    })),
    iface: optional(option("--interface", string({ metavar: "IF" }), {
      description: message`carry an existing interface's frames instead of a TAP's`,
    })),
    udp: option("--udp", { description: message`use UDP 1701 instead of IP protocol 115` }),
    mtu: optional(option("--mtu", string({ metavar: "N" }), {
      description: message`TAP MTU (default: what fits a 1500-byte underlay)`,
    })),
    section: optional(option("--section", string({ metavar: "NAME" }), {
      description: message`config section under xconnect: (default: the only one, or "default")`,
    })),
    config: optional(option("-c", "--config", string({ metavar: "FILE" }), {
      description: message`config file (default /etc/l2/l2.yaml, read if it exists)`,
    })),
    api: optional(option("--api", string({ metavar: "HOST:PORT" }), {
      description: message`management endpoint address, or "off" (default 127.0.0.1:7658)`,
    })),
    checkConfig: option("--check-config", {
      description: message`validate the configuration, print it as the edge would run it, exit`,
    }),
  }),
  { brief: message`L2TPv3 edge: a TAP device as an xconnect pseudowire to a LAS` },
);

/** Parsed `l2 xconnect` arguments. */
export interface XconnectArgs {
  cmd: "xconnect";
  las?: string;
  vc?: string;
  tap?: string;
  iface?: string;
  udp?: boolean;
  mtu?: string;
  section?: string;
  config?: string;
  api?: string;
  checkConfig?: boolean;
}

/** Loads the xconnect configuration from file and flags. */
export function loadXconnect(args: XconnectArgs) {
  return loadDaemon("xconnect", xconnectFields, { ...args, name: args.section }, {
    las: { flag: "LAS-IP", value: args.las },
    vc: { flag: "VC-ID", value: args.vc },
    tap: { flag: "--tap", value: args.tap },
    interface: { flag: "--interface", value: args.iface },
    mtu: { flag: "--mtu", value: args.mtu },
    udp: { flag: "--udp", value: args.udp ? "yes" : undefined },
  });
}

type XConfig = Infer<typeof xconnectFields>;

function startXconnect(
  ctx: DaemonContext,
  cfg: { config: XConfig },
): Promise<DaemonInstance<XConfig>> {
  const c = cfg.config;
  const log = ctx.log.topic("xconnect");
  const lasIp = parseIp(c.las);
  if (!lasIp.ok || c.las.includes(":")) {
    throw new ConfigError(`xconnect.las: only IPv4 LAS addresses are supported yet, got ${c.las}`);
  }
  if (!/^\d{1,10}$/.test(c.vc) || Number(c.vc) > 0xffff_ffff) {
    log.warn(`VC id ${c.vc} is not a number 0..4294967295; it is sent as text as it is`);
  }
  const fits = c.udp ? 1442 : 1454;
  let mtu = c.mtu || fits;
  let sock: DatagramSocket;
  const dontFragment = c.df;
  if (c.udp) sock = openUdp({ bind: "0.0.0.0:1701", batch: 64, slotSize: 9216, dontFragment });
  else sock = openRawIp({ protocol: 115, family: 4, batch: 64, slotSize: 9216, dontFragment });
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
    } else tap = openTap({ name: c.tap, mtu, up: true, batch: 64 });
  } catch (e) {
    sock.close();
    throw e;
  }
  const engine = new XconnectEngine({
    transport: sock,
    kind: c.udp ? "udp" : "ip",
    las: { ip: lasIp.value, port: c.udp ? 1701 : 0 },
    vcId: c.vc,
    device: tap,
    hostName: hostName(),
    routerId: routerId([]),
    random32,
    helloIntervalMs: c.hello_interval * 1000,
    auth: c.secret ? { secret: new TextEncoder().encode(c.secret), hash, digest: c.digest } : null,
    log,
    contain: (h, e, peer) => ctx.contain.packet(h, e, peer),
  });
  const runner = new Runner(ctx, {
    watch: [
      {
        fd: sock.fd,
        name: c.udp ? "udp" : "ip",
        onReadable: (now) => engine.onSocketReadable(now),
        close: () => sock.close(),
      },
      {
        fd: tap.fd,
        name: "tap",
        onReadable: (now) => engine.onDeviceReadable(now),
        close: () => tap.close(),
      },
    ],
    nextDeadline: () => engine.nextDeadline(),
    poll: (now) => engine.poll(now),
    start: (now) => engine.start(now),
    // SIGTERM: StopCCN, retransmitted until acknowledged or given up on.
    stop: (now) => engine.stop(now),
    stopped: (now) => engine.stopped(now),
  });
  const clock = runner.clock;
  const what = c.interface ? `interface ${tap.name}, promiscuous` : tap.name;
  log.info(`edge for VC ${c.vc} on ${what} (MTU ${mtu}) towards ${c.las}`, {
    transport: c.udp ? "udp" : "ip",
  });
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
      ),
    metrics: (w) => xconnectMetrics(w, engine.snapshot(clock())),
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
    { role: "xconnect", load: () => loadXconnect(args), start: startXconnect },
    args.checkConfig,
  );
}
