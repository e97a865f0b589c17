/**
 * `l2 las`: the L2TPv3 access switch. Cisco routers configured with
 * `xconnect <las-ip> <vc-id> encapsulation l2tpv3` reach it over IP protocol
 * 115; every pseudowire with the same VC id lands on one virtual switch.
 *
 * The daemon wires the kit (config, logs, /status, /metrics, signals), a raw
 * IP protocol 115 socket (and UDP 1701 with `udp: true`), the event loop
 * (the kit's runner, kit/runner.ts) and the engine (core/las/engine.ts). SIGTERM sends StopCCN
 * to every peer, retransmitted until acknowledged (at most about 2 s), then
 * exits. Packets leave with DF clear unless `df: true`; `allow:` limits the
 * peers, and the start log says which peers it accepts. SIGHUP applies the log section; other changes
 * need a restart (it says which).
 *
 * @module
 */
import { command, constant, merge, multiple, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  bool,
  cidr,
  int,
  intIn,
  ipAddress,
  list,
  mapOf,
  oneOf,
  overrides,
  type Schema,
  section,
  str,
} from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  loadDaemon,
  restartNeeded,
  runDaemonCommand,
} from "./kit/cli.ts";
import { ConfigError, type Infer } from "./kit/config.ts";
import type { DaemonContext, DaemonInstance } from "./kit/daemon.ts";
import type { TopicLogger } from "./kit/log.ts";
import { hash, hostName, random32, routerId, v4ToNumber } from "./kit/host.ts";
import { LasEngine, type PeerPrefix, peerPrefix } from "../core/las/engine.ts";
import { lasMetrics, lasStatus } from "./las_status.ts";
import type { SwitchOptions } from "../core/switch.ts";
import { openRawIp } from "../ffi/raw.ts";
import { sourceFor } from "../ffi/route.ts";
import { openUdp } from "../ffi/udp.ts";
import { Runner } from "./kit/runner.ts";
import type { DatagramSocket } from "../ffi/dgram.ts";

const pps = (what: string) =>
  int({
    doc: `storm control: most ${what} frames per second a session may flood; 0: no limit`,
    min: 0,
    max: 10_000_000,
    default: 0,
  });

/** Keys of `las: NAME: switch:`, the policy of every virtual switch. */
export const switchFields = {
  aging: int({
    doc: "seconds a MAC entry lives after its last frame",
    min: 10,
    max: 86400,
    default: 300,
  }),
  max_macs: int({
    doc: "most MAC entries per virtual switch",
    min: 1,
    max: 1_000_000,
    default: 8192,
  }),
  max_macs_per_session: int({
    doc: "most MAC entries learned from one session",
    min: 1,
    max: 1_000_000,
    default: 1024,
  }),
  limit_action: oneOf(["restrict", "forward"] as const, {
    doc: "a frame from a MAC over a limit: dropped (restrict) or forwarded unlearned",
    default: "restrict",
  }),
  allow_link_local: bool({
    doc: "forward 01:80:C2:00:00:0x frames (LACP, LLDP, 802.1X; STP BPDUs also need allow_llc)",
    default: false,
  }),
  allow_llc: bool({ doc: "forward 802.3/LLC frames (NetBEUI, IPX over LLC...)", default: false }),
  allow_vlan_tagged: bool({ doc: "forward 802.1Q / 802.1ad tagged frames", default: false }),
  allow_other_ethertypes: bool({
    doc: "forward EtherTypes other than IPv4, ARP and IPv6",
    default: false,
  }),
  storm_broadcast: pps("broadcast"),
  storm_multicast: pps("multicast"),
  storm_unknown_unicast: pps("unknown unicast"),
} satisfies Schema;

/** Keys of a `las:` section. */
export const lasFields = {
  listen: list(ipAddress({ doc: "address" }), {
    doc: "local addresses that accept L2TPv3 (IP protocol 115); empty: all of them",
    default: [],
  }),
  udp: bool({ doc: "also accept L2TPv3 over UDP port 1701", default: false }),
  allow: list(cidr({ doc: "prefix" }), {
    doc: "peer prefixes (IPv4 or IPv6 CIDR) whose control messages are taken; empty: any peer",
    default: [],
  }),
  max_pending_per_peer: int({
    doc: "control connection handshakes in progress from one peer address (IPv6: one /64)",
    min: 1,
    max: 256,
    default: 4,
  }),
  max_connections_per_peer: int({
    doc: "control connections from one peer address (IPv6: one /64)",
    min: 1,
    max: 256,
    default: 8,
  }),
  df: bool({
    doc: "set Don't Fragment on the L2TPv3 packets the LAS sends; default clear, as a Cisco sends",
    default: false,
  }),
  hostname: str({ doc: "Host Name AVP sent to peers; empty: the system host name", default: "" }),
  secret: str({
    doc: "shared secret for control message authentication (Message Digest AVP); empty: none",
    default: "",
  }),
  digest: oneOf(["md5", "sha1"] as const, {
    doc: "HMAC of the Message Digest AVP when a secret is set",
    default: "md5",
  }),
  hello_interval: int({
    doc: "seconds of silence from a peer before the LAS sends it a HELLO",
    min: 1,
    max: 3600,
    default: 60,
  }),
  retransmits: int({
    doc: "retransmissions (1 s doubling to 8 s) before a silent peer is declared dead",
    min: 1,
    max: 10,
    default: 5,
  }),
  cookie: intIn([0, 4, 8], {
    doc: "length of the cookie the LAS asks each peer to put in its data packets",
    default: 0,
  }),
  max_switches: int({ doc: "most virtual switches (VC ids)", min: 1, max: 65535, default: 1024 }),
  switch: section(switchFields, { doc: "policy of every virtual switch" }),
  vcs: mapOf(overrides(switchFields, { doc: "switch keys to override for this VC" }), {
    doc: "per-VC overrides of the switch policy, by VC id (decimal, or 0x-hex for other ids)",
    keyText: "VC ids",
    key: (name) =>
      /^\d{1,10}$/.test(name) && Number(name) <= 0xffff_ffff || /^0x([0-9a-f]{2})+$/i.test(name)
        ? null
        : "expected a VC id: a decimal number up to 4294967295, or 0x followed by hex bytes",
  }),
  ...apiFields(7657),
} satisfies Schema;

/** `l2 las` command line. */
export const lasCommand = command(
  "las",
  merge(
    object({
      cmd: constant("las" as const),
      listen: multiple(option("--listen", string({ metavar: "ADDRESS" }), {
        description: message`local address for IP protocol 115; repeat for more (default: all)`,
      })),
      udp: optional(option("--udp", string({ metavar: "yes|no" }), {
        description: message`also accept L2TPv3 over UDP 1701`,
      })),
    }),
    commonDaemonOptions(),
  ),
  { brief: message`L2TPv3 access switch for Cisco xconnect pseudowires` },
);

/** Parsed `l2 las` arguments. */
export type LasArgs = CommonDaemonArgs & { cmd: "las"; listen: readonly string[]; udp?: string };

/** Loads the LAS configuration from file and flags. */
export function loadLas(args: LasArgs) {
  return loadDaemon("las", lasFields, args, {
    listen: { flag: "--listen", value: args.listen.length ? [...args.listen] : undefined },
    udp: { flag: "--udp", value: args.udp },
  });
}

/** The switch options of a `switch:` section. */
export function switchOptions(c: Infer<typeof switchFields>): SwitchOptions {
  const storm: SwitchOptions["storm"] = {};
  const limit = (rate: number) => ({ rate, burst: Math.max(1, Math.ceil(rate / 10)) });
  if (c.storm_broadcast > 0) storm.broadcast = limit(c.storm_broadcast);
  if (c.storm_multicast > 0) storm.multicast = limit(c.storm_multicast);
  if (c.storm_unknown_unicast > 0) storm.unknownUnicast = limit(c.storm_unknown_unicast);
  return {
    agingMs: c.aging * 1000,
    maxMacs: c.max_macs,
    maxMacsPerPort: Math.min(c.max_macs_per_session, c.max_macs),
    limitAction: c.limit_action,
    filter: {
      allowLinkLocal: c.allow_link_local,
      allowLlc: c.allow_llc,
      allowVlanTagged: c.allow_vlan_tagged,
      allowOtherEthertypes: c.allow_other_ethertypes,
    },
    storm,
  };
}

type LasConfig = Infer<typeof lasFields>;

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
      udp = openUdp({
        bind: "0.0.0.0:1701",
        batch: 64,
        slotSize: 9216,
        rcvbuf: 4 << 20,
        dontFragment: c.df,
      });
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
    contain: (h, e, peer) => ctx.contain.packet(h, e, peer),
  });
  const runner = new Runner(ctx, {
    // With the receive batch size, a short batch ends the socket's turn: no empty recvmmsg per wakeup.
    watch: sockets.map((s) => ({
      fd: s.fd,
      name: s === ip ? "ip" : "udp",
      onReadable: (now: number) => engine.onSocketReadable(s, now),
      close: () => s.close(),
      batch: s.rx.capacity,
    })),
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
    status: () => lasStatus(engine.snapshot(clock()), Date.now()),
    metrics: (w) => lasMetrics(w, engine.snapshot(clock())),
    reload: (next) => restartNeeded(c, next, "LAS"),
    async stop() {
      clearInterval(frag);
      await runner.stop();
    },
  });
}

/**
 * The start line that says which peers the LAS takes, e.g. "accepting
 * L2TPv3 peers from anywhere (no allow list, no secret)".
 */
export function acceptingLine(allow: readonly string[], secret: boolean): string {
  const who = allow.length === 0 ? "anywhere" : allow.join(", ");
  const how = allow.length === 0
    ? (secret ? "no allow list; shared secret required" : "no allow list, no secret")
    : (secret ? "shared secret required" : "no secret");
  return `accepting L2TPv3 peers from ${who} (${how})`;
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
    load: () => loadLas(args),
    start: startLas,
  }, args.checkConfig);
}
