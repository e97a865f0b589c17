/**
 * `l2 supernode`: the rendezvous and relay of the VPN. Nodes register with
 * it, broadcast through it, and fall back to it as a relay.
 *
 * The daemon wires the kit (config, logs, /status, /metrics, signals), one
 * UDP socket (dual-stack when bound to `::`; UDP GRO on receive and GSO on
 * send, see cmd/vpn_io.ts), the event loop (kit/runner.ts) and the sans-IO
 * `SupernodeEngine` (core/vpn/supernode_engine.ts: the security layer,
 * `SecureSupernode`, handshakes, member checks, sessions, docs/security.md,
 * in front of `SupernodeCore`, core/vpn/supernode.ts, which seals with its
 * sealer), joined to the socket and the log by `SupernodeIo`
 * (cmd/supernode_io.ts).
 *
 * Keys: the supernode's X25519 key file (`key`, default
 * `<state_dir>/supernode.key`, created on first start); its public key is
 * logged at start for the nodes' `supernode_key`. `mode: members` (default)
 * admits only the listed public keys; `mode: open` anyone proving the
 * network `secret`. SIGHUP re-reads `members` and the secret: a removed key
 * loses its sessions at once and the other nodes are told (REVOKE). Id
 * bindings (which key holds which node id) are saved in the state directory
 * every minute and at stop, and loaded at start.
 *
 * SIGTERM sends GOING_AWAY to every registered node before exit.
 *
 * /status and /metrics: `SupernodeIo.snapshot(now)` (plain data),
 * rendered by cmd/render/supernode_status.ts.
 *
 * @module
 */
import { command, constant, merge, multiple, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  ConfigError,
  formatHostPort,
  hostPort,
  type Infer,
  int,
  oneOf,
  type Schema,
  str,
} from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  loadDaemon,
  runDaemonCommand,
} from "./kit/cli.ts";
import type { DaemonContext, DaemonInstance } from "./kit/daemon.ts";
import type { TopicLogger } from "./kit/log.ts";
import { VpnSocket } from "./vpn_io.ts";
import { SupernodeIo } from "./supernode_io.ts";
import { supernodeMetrics, supernodeStatus } from "./render/supernode_status.ts";
import { ensureStateDir, readStateFile, writeStateFile } from "./vpn_state.ts";
import { Members } from "../core/vpn/members.ts";
import { SecureSupernode } from "../core/vpn/secure_supernode.ts";
import { ffiCryptoSuite } from "./vpn_crypto.ts";
import { toBase64 } from "./keygen.ts";
import {
  aeadImplementation,
  CIPHER,
  loadOrCreateKey,
  memberList,
  networkSecret,
  toMembers,
} from "./vpn_security.ts";
import { parseIp } from "../core/addr.ts";
import { openUdp } from "../ffi/udp.ts";
import { sha256 } from "../ffi/crypto.ts";
import { Runner } from "./kit/runner.ts";

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
  key: str({
    doc: "the supernode's private key file (l2 keygen); empty: <state_dir>/supernode.key, " +
      "created on first start",
    default: "",
  }),
  mode: oneOf(["members", "open"] as const, {
    doc: "members: only the listed public keys join; open: any node proving the network secret",
    default: "members",
  }),
  members: memberList(
    "public keys (base64) admitted in members mode; an entry { key, id, name } pins a node id",
  ),
  secret: str({
    doc: "network secret: required in open mode; when set, every node needs the same",
    default: "",
  }),
  secret_file: str({ doc: "file holding the network secret (instead of secret)", default: "" }),
  state_dir: str({
    doc: "directory for the key and the id bindings; empty: /var/lib/l2/<section>",
    default: "",
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
      key: optional(option("--key", string({ metavar: "FILE" }), {
        description: message`private key file (default <state_dir>/supernode.key, created)`,
      })),
      member: multiple(option("--member", string({ metavar: "PUBKEY" }), {
        description: message`base64 public key of a node that may join; repeat for more`,
      })),
    }),
    commonDaemonOptions(),
  ),
  { brief: message`VPN supernode: registration, broadcast and relay for nodes` },
);

/** Parsed `l2 supernode` arguments. */
export type SupernodeArgs = CommonDaemonArgs & {
  cmd: "supernode";
  listen?: string;
  id?: string;
  key?: string;
  member?: readonly string[];
};

/** Loads the supernode configuration from file and flags. */
export function loadSupernode(args: SupernodeArgs) {
  return loadDaemon("supernode", supernodeFields, args, {
    listen: { flag: "--listen", value: args.listen },
    id: { flag: "--id", value: args.id },
    key: { flag: "--key", value: args.key },
    members: {
      flag: "--member",
      value: args.member && args.member.length ? [...args.member] : undefined,
    },
  });
}

type SnConfig = Infer<typeof supernodeFields>;

export { cryptoRandom } from "./supernode_io.ts";

/** The network secret of a supernode config; open mode requires one. */
function snSecret(c: SnConfig): Uint8Array | null {
  const psk = networkSecret("supernode", c.secret, c.secret_file);
  if (c.mode === "open" && psk === null) {
    throw new ConfigError(
      "supernode.secret: required in open mode (or secret_file): without it anyone who knows " +
        "the supernode's public key could join",
    );
  }
  return psk;
}

const BINDINGS_FILE = "bindings.json";

function loadBindings(dir: string, members: Members, now: number, log: TopicLogger): void {
  let text: string | null;
  try {
    text = readStateFile(`${dir}/${BINDINGS_FILE}`);
  } catch (e) {
    log.error(`id bindings not loaded: ${(e as Error).message}`);
    return;
  }
  if (text === null) return;
  try {
    const n = members.importBindings(JSON.parse(text), now);
    if (n > 0) log.info(`loaded ${n} node id binding(s) from ${dir}`);
  } catch (e) {
    log.error(`id bindings not loaded from ${dir}/${BINDINGS_FILE}: ${(e as Error).message}`);
  }
}

function saveBindings(dir: string, members: Members, now: number): void {
  const text = JSON.stringify(members.exportBindings(now));
  writeStateFile(`${dir}/${BINDINGS_FILE}`, new TextEncoder().encode(text));
}

function startSupernode(
  ctx: DaemonContext,
  cfg: { name: string; config: SnConfig },
): Promise<DaemonInstance<SnConfig>> {
  let c = cfg.config;
  const log = ctx.log.topic("supernode");
  if (!parseIp(c.listen.host).ok) {
    throw new ConfigError(`supernode.listen: expected an IP address, got ${c.listen.host}`);
  }
  const dir = c.state_dir || `/var/lib/l2/${cfg.name}`;
  ensureStateDir(dir);
  const staticKey = loadOrCreateKey(
    c.key || `${dir}/supernode.key`,
    c.key === "",
    log,
    "supernode",
  );
  const psk = snSecret(c);
  let pskHash = psk ? toBase64(sha256(psk)) : "";
  const t0 = performance.now();
  const members = new Members({ mode: c.mode, members: toMembers(c.members) });
  loadBindings(dir, members, t0, log);
  const security = new SecureSupernode({
    suite: ffiCryptoSuite(CIPHER),
    staticKey,
    members,
    ...(psk ? { psk } : {}),
  }, t0);
  psk?.fill(0);
  if (c.mode === "members" && c.members.length === 0) {
    log.warn(
      "no members: every node is refused; list the nodes' public keys in supernode.members " +
        "(l2 keygen prints them) and send SIGHUP",
    );
  }
  const udp = openUdp({
    bind: formatHostPort(c.listen),
    batch: 64,
    slotSize: 2048,
    rcvbuf: 4 << 20,
    sndbuf: 4 << 20,
    // A relayed flow arrives as runs of one node's datagrams and leaves as runs to
    // another: GRO takes a run in one receive (VpnSocket cuts it; each datagram is
    // checked on its own), GSO sends a run in one message. Off by themselves when
    // the kernel refuses (udp_gro_off, udp_gso_off in /status).
    udpGro: true,
    udpGso: true,
  });
  if (!udp.gro) log.info("UDP GRO not available: receiving one datagram per message");
  const engine = new SupernodeIo({
    socket: new VpnSocket(udp, (h, e, peer) => ctx.contain.packet(h, e, peer)),
    supernodeId: c.id,
    log,
    security,
  });
  let saveAt = t0 + 60_000;
  const save = (now: number) => {
    try {
      saveBindings(dir, members, now);
    } catch (e) {
      log.limited("save", "error", `cannot save the id bindings: ${(e as Error).message}`);
    }
  };
  const runner = new Runner(ctx, {
    watch: [{
      fd: udp.fd,
      name: "udp",
      onReadable: (now) => engine.onSocketReadable(now),
      close: () => udp.close(),
    }],
    nextDeadline: () => Math.min(engine.nextDeadline(), saveAt),
    poll: (now) => {
      engine.poll(now);
      if (now >= saveAt) {
        save(now);
        saveAt = now + 60_000;
      }
    },
    start: (now) => engine.poll(now),
    stop: (now) => {
      engine.stop(now);
      save(now);
    },
  });
  const clock = runner.clock;
  log.info(`supernode ${c.id} listening on UDP ${formatHostPort(c.listen)}`, {
    port: udp.local.port,
    encryption: CIPHER,
    aead: aeadImplementation(),
    mode: c.mode,
    members: c.members.length,
  });
  log.info(
    `supernode public key: ${
      toBase64(staticKey.publicKey)
    } (give it to the nodes as supernode_key)`,
  );
  return Promise.resolve({
    status: () => supernodeStatus(engine.snapshot(clock())),
    metrics: (w) => supernodeMetrics(w, engine.snapshot(clock())),
    reload(next) {
      const out: string[] = [];
      const live = new Set<keyof SnConfig>(["members", "secret", "secret_file"]);
      // The secret first: a config error there leaves the running members untouched too.
      const nextPsk = snSecret({ ...next, mode: c.mode });
      if (JSON.stringify(next.members) !== JSON.stringify(c.members)) {
        const removed = security.setMembers(toMembers(next.members), clock());
        out.push(
          `members: ${next.members.length} key(s), ${removed} removed (their sessions ended)`,
        );
      }
      const nextHash = nextPsk ? toBase64(sha256(nextPsk)) : "";
      if (nextHash !== pskHash) {
        security.setSecret(nextPsk ?? new Uint8Array(32), clock());
        pskHash = nextHash;
        out.push("network secret changed: every session ends, nodes handshake again");
      }
      nextPsk?.fill(0);
      engine.poll(clock()); // sends the REVOKE notices now
      runner.wake();
      const changed = (Object.keys(next) as (keyof SnConfig)[]).filter((k) =>
        !live.has(k) && JSON.stringify(next[k]) !== JSON.stringify(c[k])
      );
      if (changed.length) out.push(`changes to ${changed.join(", ")} take effect at restart`);
      c = { ...c, members: next.members, secret: next.secret, secret_file: next.secret_file };
      return out.length ? out : ["no supernode settings changed"];
    },
    stop: () => runner.stop(),
  });
}

/** Runs `l2 supernode`. */
export async function runSupernode(args: SupernodeArgs): Promise<number> {
  return await runDaemonCommand<SnConfig>(
    { role: "supernode", load: () => loadSupernode(args), start: startSupernode },
    args.checkConfig,
  );
}
