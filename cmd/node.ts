/**
 * `l2 node`: a VPN edge. Bridges a TAP device into the virtual Ethernet,
 * translating the MACs of the hosts behind it (MAT).
 *
 * The daemon wires the kit (config, logs, /status, /metrics, signals), a UDP
 * socket, a TAP device (created with a MAC derived from the node identity,
 * the MTU `tapMtu(1500)` by default, the configured addresses), the event
 * loop and the engine (core/vpn/node_engine.ts: `SecureNode` in front of
 * `NodeCore`, + MAT; cmd/node_io.ts joins it to the TAP and the socket). The node's X25519 key (`key`, default
 * `<state_dir>/node.key`, created on first start) is its identity: the
 * public key is what the supernode lists as a member and what keeps an
 * auto id. `supernode_key` (the supernode's public key) is required: the
 * handshake encrypts to it, and a supernode without the matching private
 * key cannot answer (docs/security.md). The MAT leaf table lives in the
 * state directory (cmd/vpn_state.ts). SIGTERM deregisters and saves the
 * leaf table.
 *
 * Local endpoints offered to peers for hole punching: the socket's port on
 * every non-loopback, non-link-local address of the host, except addresses
 * of the TAP and addresses inside the TAP's configured prefixes (at most 4;
 * read once at start).
 *
 * @module
 */
import { command, constant, merge, multiple, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  bool,
  type Cidr,
  cidr,
  ConfigError,
  formatHostPort,
  hostPort,
  ifname,
  type Infer,
  int,
  intOrAuto,
  list,
  type Schema,
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
import type { DaemonContext, DaemonInstance } from "./kit/daemon.ts";
import { cryptoRandom, VPN_PORT } from "./supernode.ts";
import { VpnSocket } from "./vpn_io.ts";
import { NodeIo } from "./node_io.ts";
import { nodeMetrics, nodeStatus } from "./render/node_status.ts";
import {
  ensureStateDir,
  loadLeaves,
  loadPins,
  PINS_FILE,
  saveLeaves,
  savePins,
} from "./vpn_state.ts";
import { NodeCore } from "../core/vpn/node.ts";
import { SecureNode } from "../core/vpn/secure_node.ts";
import { ffiCryptoSuite } from "./vpn_crypto.ts";
import { toBase64 } from "./keygen.ts";
import {
  aeadImplementation,
  CIPHER,
  keyText,
  loadOrCreateKey,
  memberList,
  networkSecret,
  supernodeKey,
  toMembers,
} from "./vpn_security.ts";
import { tapMtu } from "../core/vpn/constants.ts";
import type { MacKey } from "../core/mac.ts";
import {
  formatEndpoint,
  formatIp,
  type Ip16,
  ipEquals,
  isLoopback,
  isUnspecified,
  isV4,
  parseIp,
  parsePrefix,
  prefixContains,
} from "../core/addr.ts";
import { openUdp } from "../ffi/udp.ts";
import { DATA_HEADROOM, DATA_TAILROOM } from "../core/vpn/messages.ts";
import { openTap, type TapDevice } from "../ffi/tap.ts";
import { E, OsError } from "../ffi/libc.ts";
import { Runner } from "./kit/runner.ts";

/**
 * Supernode handshake retry and answer timeout (SecureNode's default is 5 s;
 * with REGISTER backing off to 8 s that could take 13 s after a supernode's
 * return, and the node is to be back within 10 s).
 */
const HANDSHAKE_RETRY_MS = 3000;
/** Longest REGISTER retry interval (NodeCore's default 8 s; see above). */
const REGISTER_RETRY_MAX_MS = 4000;

/** Keys of a `node:` section. */
export const nodeFields = {
  supernode: hostPort({
    doc: "the supernode's UDP address (port 7654 if left out)",
    defaultPort: VPN_PORT,
  }),
  id: intOrAuto({
    doc: "node id (the BBBB of MAT addresses); auto: the supernode allocates one and keeps it",
    min: 1,
    max: 65534,
    default: "auto",
  }),
  tap: ifname({ doc: "TAP device to create or attach", default: "l2tap0" }),
  address: list(cidr({ doc: "address" }), {
    doc: "addresses (CIDR, IPv4 or IPv6) to put on the TAP device",
    default: [],
  }),
  mtu: int({
    doc: `TAP MTU; ${tapMtu(1500)} fits the encapsulation in a 1500-byte IPv4 or IPv6 underlay`,
    min: 576,
    max: 9000,
    default: tapMtu(1500),
  }),
  offload: bool({
    doc: "TAP checksum and TCP segmentation offloads (IFF_VNET_HDR), UDP GSO and GRO: the kernel " +
      "hands over TCP segments up to 64 KiB, cut to the MTU in l2 (about twice the TCP " +
      "throughput); falls back without when the kernel refuses",
    default: true,
  }),
  listen: hostPort({
    doc: "local UDP address of the node; port 0: any free port",
    default: { host: "::", port: 0 },
    defaultPort: 0,
    allowZero: true,
  }),
  network: int({
    doc: "network id (n2n's community): nodes see only nodes of their network",
    min: 0,
    max: 65535,
    default: 0,
  }),
  state_dir: str({
    doc: "directory for the node key and the MAT leaf table; empty: /var/lib/l2/<section>",
    default: "",
  }),
  key: str({
    doc: "the node's private key file (l2 keygen); empty: <state_dir>/node.key, created on " +
      "first start",
    default: "",
  }),
  supernode_key: str({
    doc: "the supernode's base64 public key (required: its log prints it at start)",
    default: "",
  }),
  punch_ttl: int({
    doc: "TTL of the first hole punching probes: enough to pass this node's own NAT routers, " +
      "too little to reach the peer's (whose NAT would track them as unsolicited); 0: full TTL",
    min: 0,
    max: 255,
    default: 2,
  }),
  peers: memberList(
    "public keys (base64) of the peers this node accepts (an entry { key, id, name } also " +
      "fixes the node id); empty: trust the first key seen for each node id and pin it " +
      "(<state_dir>/peer_pins.json)",
  ),
  secret: str({ doc: "network secret, when the supernode has one (open mode)", default: "" }),
  secret_file: str({ doc: "file holding the network secret (instead of secret)", default: "" }),
  ...apiFields(7656),
} satisfies Schema;

/** `l2 node` command line. */
export const nodeCommand = command(
  "node",
  merge(
    object({
      cmd: constant("node" as const),
      supernode: optional(option("--supernode", string({ metavar: "HOST:PORT" }), {
        description: message`supernode address (required unless in the config)`,
      })),
      id: optional(option("--id", string({ metavar: "N|auto" }), {
        description: message`node id 1..65534, or auto (default)`,
      })),
      tap: optional(option("--tap", string({ metavar: "NAME" }), {
        description: message`TAP device name (default l2tap0)`,
      })),
      address: multiple(option("--address", string({ metavar: "CIDR" }), {
        description: message`address for the TAP device; repeat for more`,
      })),
      mtu: optional(option("--mtu", string({ metavar: "N" }), {
        description: message`TAP MTU (default 1382)`,
      })),
      key: optional(option("--key", string({ metavar: "FILE" }), {
        description: message`private key file (default <state_dir>/node.key, created)`,
      })),
      supernodeKey: optional(option("--supernode-key", string({ metavar: "PUBKEY" }), {
        description: message`the supernode's base64 public key (required)`,
      })),
    }),
    commonDaemonOptions(),
  ),
  { brief: message`VPN node: bridges a TAP device into the virtual Ethernet, with MAT` },
);

/** Parsed `l2 node` arguments. */
export type NodeArgs = CommonDaemonArgs & {
  cmd: "node";
  supernode?: string;
  id?: string;
  tap?: string;
  address: readonly string[];
  mtu?: string;
  key?: string;
  supernodeKey?: string;
};

/** Loads the node configuration from file and flags. */
export function loadNode(args: NodeArgs) {
  return loadDaemon("node", nodeFields, args, {
    supernode: { flag: "--supernode", value: args.supernode },
    id: { flag: "--id", value: args.id },
    tap: { flag: "--tap", value: args.tap },
    mtu: { flag: "--mtu", value: args.mtu },
    key: { flag: "--key", value: args.key },
    supernode_key: { flag: "--supernode-key", value: args.supernodeKey },
    address: { flag: "--address", value: args.address.length ? [...args.address] : undefined },
  });
}

type NodeConfig = Infer<typeof nodeFields>;

/** Resolves the supernode host (an IP address, or a name: A first, then AAAA). */
async function resolveSupernode(host: string): Promise<Ip16> {
  const ip = parseIp(host);
  if (ip.ok) return ip.value;
  for (const type of ["A", "AAAA"] as const) {
    try {
      const r = await Deno.resolveDns(host, type);
      if (r.length) {
        const p = parseIp(r[0]);
        if (p.ok) return p.value;
      }
    } catch { /* try the next type */ }
  }
  throw new Error(`Cannot resolve supernode ${host}: no A or AAAA record`);
}

function inPrefix(a: Ip16, p: Cidr): boolean {
  const b = parsePrefix(`${p.address}/${p.prefix}`);
  return b.ok && prefixContains(b.value, a);
}

/** The node's local endpoints for punching (see the module doc). */
function localEndpoints(
  tap: string,
  prefixes: readonly Cidr[],
  bound: Ip16,
  port: number,
): string[] {
  const out: string[] = [];
  const dual = !isV4(bound) && isUnspecified(bound);
  let ifs: Deno.NetworkInterfaceInfo[] = [];
  try {
    ifs = Deno.networkInterfaces();
  } catch { /* none */ }
  for (const i of ifs) {
    if (out.length >= 4) break;
    if (i.name === tap || i.name === "lo") continue;
    const r = parseIp(i.address);
    if (!r.ok) continue;
    const a = r.value;
    if (isLoopback(a) || isLinkLocalV6(a)) continue;
    if (prefixes.some((p) => inPrefix(a, p))) continue;
    if (isV4(bound)) {
      if (!isV4(a) || (!isUnspecified(bound) && !ipEquals(bound, a))) continue;
    } else if (!dual && !ipEquals(bound, a)) continue;
    out.push(formatEndpoint({ ip: a, port }));
  }
  return out;
}

/** fe80::/10. */
function isLinkLocalV6(a: Ip16): boolean {
  return a[0] === 0xfe && (a[1] & 0xc0) === 0x80;
}

/** A locally administered unicast MAC from the identity, stable across restarts. */
function tapMacFrom(identity: Uint8Array): MacKey {
  let mac = ((identity[0] & 0xfc) | 0x02) * 0x100_0000_0000;
  for (let i = 1; i < 6; i++) mac += identity[i] * 2 ** (8 * (5 - i));
  return mac;
}

async function addAddresses(tap: string, addrs: readonly Cidr[]): Promise<void> {
  for (const a of addrs) {
    const text = `${a.address}/${a.prefix}`;
    const out = await new Deno.Command("ip", {
      args: ["addr", "replace", text, "dev", tap],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `Cannot add ${text} to ${tap}: ip addr: ${new TextDecoder().decode(out.stderr).trim()}`,
      );
    }
  }
}

async function startNode(
  ctx: DaemonContext,
  cfg: { name: string; config: NodeConfig },
): Promise<DaemonInstance<NodeConfig>> {
  const c = cfg.config;
  const log = ctx.log.topic("node");
  if (!c.supernode) throw new ConfigError("node.supernode: required (or --supernode HOST:PORT)");
  if (!parseIp(c.listen.host).ok) {
    throw new ConfigError(`node.listen: expected an IP address, got ${c.listen.host}`);
  }
  const snKey = supernodeKey(c.supernode_key);
  const psk = networkSecret("node", c.secret, c.secret_file);
  const dir = c.state_dir || `/var/lib/l2/${cfg.name}`;
  ensureStateDir(dir);
  const staticKey = loadOrCreateKey(c.key || `${dir}/node.key`, c.key === "", log, "node");
  const identity = staticKey.publicKey;
  log.info(
    `node public key: ${keyText(identity)} (list it in the supernode's members)`,
  );
  const snIp = await resolveSupernode(c.supernode.host);
  const listenIp = parseIp(c.listen.host);
  if (listenIp.ok && isV4(listenIp.value) && !isV4(snIp)) {
    throw new ConfigError(
      `node.listen: an IPv4 address (${c.listen.host}) cannot reach the IPv6 supernode ` +
        `${formatIp(snIp)}; listen on :: (both) or an IPv6 address`,
    );
  }
  const supernode = formatHostPort({ host: formatIp(snIp), port: c.supernode.port });
  const now0 = performance.now();
  const leaves = loadLeaves(dir, {}, now0);
  if (leaves.error) log.error(`leaf table not loaded, starting empty: ${leaves.error}`);
  else if (leaves.loaded) log.info(`loaded ${leaves.loaded} MAT leaf id(s) from ${dir}`);

  const udp = openUdp({
    bind: formatHostPort(c.listen),
    batch: 64,
    slotSize: 2048,
    rcvbuf: 4 << 20,
    sndbuf: 4 << 20,
    udpGso: c.offload,
    // Runs of one peer's datagrams in one receive (VpnSocket cuts them); off when refused.
    udpGro: c.offload,
  });
  const tapMac = tapMacFrom(identity);
  let tap: TapDevice | undefined;
  try {
    // Room around each frame read for the VPN header and tag: sealed and sent where it lies.
    const room = { headroom: DATA_HEADROOM, tailroom: DATA_TAILROOM };
    const opts = { name: c.tap, mtu: c.mtu, mac: tapMac, up: true, batch: 64, ...room };
    try {
      tap = openTap({ ...opts, vnetHdr: c.offload });
    } catch (e) {
      if (!c.offload || !(e instanceof OsError) || e.errno === E.EPERM || e.errno === E.EBUSY) {
        throw e;
      }
      log.warn(`TAP offloads not available (${e.message}): running without them`);
      tap = openTap(opts);
    }
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
  const security = new SecureNode({
    suite: ffiCryptoSuite(CIPHER),
    staticKey,
    supernodeKey: snKey,
    supernode,
    network: c.network,
    requestedId: c.id === "auto" ? 0 : c.id,
    ...(psk ? { psk } : {}),
    // A returning supernode: a handshake every 3 s while it is silent...
    retryMs: HANDSHAKE_RETRY_MS,
    handshakeTimeoutMs: HANDSHAKE_RETRY_MS,
    trusted: toMembers(c.peers).map((m) => ({
      key: m.publicKey,
      ...(m.id !== undefined ? { id: m.id } : {}),
    })),
  }, now0);
  const pins = loadPins(dir, security, now0);
  if (pins.error) log.error(`peer key pins not loaded, pinning anew: ${pins.error}`);
  else if (c.peers.length > 0) {
    log.info(`accepting only the ${c.peers.length} peer key(s) listed in peers`);
  } else if (pins.loaded) {
    log.info(`loaded ${pins.loaded} peer key pin(s) from ${dir}/${PINS_FILE}`);
  }
  psk?.fill(0);
  const core = new NodeCore({
    supernode,
    identity,
    sealer: security.sealer,
    directory: security,
    random: cryptoRandom,
    network: c.network,
    nodeId: c.id,
    localEndpoints: locals,
    punchTtl: c.punch_ttl,
    ipVersion: isV4(snIp) ? 4 : 6,
    // ...and REGISTER (which needs that session) at most 4 s later: back within 10 s.
    registerRetryMaxMs: REGISTER_RETRY_MAX_MS,
    // The engine writes every frame to the TAP right after each receive batch: no copies.
    frameViews: true,
  });
  const engine = new NodeIo({
    socket: new VpnSocket(udp, (h, e, peer) => ctx.contain.packet(h, e, peer)),
    device: tap,
    core,
    leaves: leaves.table,
    tapMac,
    log,
    locals,
    save: () => {
      saveLeaves(dir, leaves.table);
      if (c.peers.length === 0) savePins(dir, security, performance.now());
    },
    security: { layer: security, publicKey: identity },
    offload: tap.vnetHdrLen > 0,
  });
  // TSO segments are sealed in slots of the engine's own and sent from there too.
  if (engine.segments !== null) udp.lend(engine.segments);
  const t = tap;
  const runner = new Runner(ctx, {
    // With their batch sizes: a short batch means drained, no empty read to learn it.
    watch: [
      {
        fd: udp.fd,
        name: "udp",
        onReadable: (now) => engine.onSocketReadable(now),
        close: () => udp.close(),
        batch: udp.rx.capacity,
      },
      {
        fd: t.fd,
        name: "tap",
        onReadable: (now) => engine.onDeviceReadable(now),
        close: () => t.close(),
        batch: t.rx.capacity,
      },
    ],
    nextDeadline: () => engine.nextDeadline(),
    poll: (now) => engine.poll(now),
    start: (now) => engine.start(now),
    stop: (now) => engine.stop(now),
  });
  const clock = runner.clock;
  log.info(`node on ${t.name} (MTU ${t.mtu}) towards supernode ${supernode}`, {
    port: udp.local.port,
    id: String(c.id),
    network: c.network,
    locals: locals.join(",") || "none",
    encryption: CIPHER,
    aead: aeadImplementation(),
    supernode_key: toBase64(snKey),
  });
  return {
    status: () => nodeStatus(engine.snapshot(clock())),
    metrics: (w) => nodeMetrics(w, engine.snapshot(clock())),
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
    { role: "node", load: () => loadNode(args), start: startNode },
    args.checkConfig,
  );
}
