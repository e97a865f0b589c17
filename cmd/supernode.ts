/**
 * `l2 supernode`: the rendezvous and relay of the VPN. Nodes register with
 * it, broadcast through it, and fall back to it as a relay.
 *
 * The daemon wires the kit (config, logs, /status, /metrics, signals), one
 * UDP socket (dual-stack when bound to `::`; UDP GRO on receive and GSO on
 * send, see cmd/vpn_io.ts), the event loop (ffi/loop.ts),
 * the security layer (`SecureSupernode`, core/vpn/secure_supernode.ts:
 * handshakes, member checks, sessions; docs/security.md) and
 * `SupernodeCore` (core/vpn/supernode.ts) sealing with its sealer. Every
 * datagram passes the security layer first; what it does not consume goes
 * to the core.
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
import type { MetricsWriter } from "./kit/metrics.ts";
import { VpnSocket } from "./vpn_io.ts";
import { ensureStateDir, readStateFile, writeStateFile } from "./vpn_state.ts";
import { SupernodeCore, type SupernodeEvent } from "../core/vpn/supernode.ts";
import { NullSealer } from "../core/vpn/sealer.ts";
import { Members } from "../core/vpn/members.ts";
import { type HandshakeGuardStatus, SecureSupernode } from "../core/vpn/secure_supernode.ts";
import { ffiCryptoSuite } from "./vpn_crypto.ts";
import { toBase64 } from "./keygen.ts";
import {
  aeadImplementation,
  CIPHER,
  loadOrCreateKey,
  logSupernodeSecurity,
  memberList,
  networkSecret,
  toMembers,
} from "./vpn_security.ts";
import { formatIp, parseIp } from "../core/addr.ts";
import { openUdp } from "../ffi/udp.ts";
import { sha256 } from "../ffi/crypto.ts";
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

/** Uniform random numbers in [0, 1) from the system CSPRNG (for the cores). */
export function cryptoRandom(): number {
  const w = new Uint32Array(1);
  crypto.getRandomValues(w);
  return w[0] / 0x1_0000_0000;
}

/**
 * `SupernodeCore` behind the security layer, joined to a UDP socket, without
 * owning the event loop. Without `security` (in-memory tests of the
 * protocol only) the core runs with `NullSealer`: no encryption.
 */
export class SupernodeEngine {
  readonly core: SupernodeCore;
  readonly sock: VpnSocket;
  readonly security: SecureSupernode | null;
  readonly #log: TopicLogger;

  constructor(
    o: { socket: VpnSocket; supernodeId: number; log: TopicLogger; security?: SecureSupernode },
  ) {
    this.sock = o.socket;
    this.#log = o.log;
    const sec = o.security ?? null;
    this.security = sec;
    this.core = new SupernodeCore({
      sealer: sec ? sec.sealer : new NullSealer(),
      random: cryptoRandom,
      supernodeId: o.supernodeId,
      ...(sec ? { mayHold: (n, id, key) => sec.members.mayHold(n, id, key) } : {}),
    });
    if (sec) {
      const core = this.core;
      sec.registered = (network) => core.nodeIds(network);
    }
  }

  /** Handles one batch from the socket; returns how many datagrams (0: drained). */
  onReadable(now: number): number {
    const core = this.core;
    const sec = this.security;
    const n = sec
      ? this.sock.receive((from, bytes) => {
        if (sec.receive(from, bytes, now) === "core") core.receive(from, bytes, now);
      })
      : this.sock.receive((from, bytes) => core.receive(from, bytes, now));
    if (n > 0) this.#drain();
    return n;
  }

  /** Runs due timers. */
  poll(now: number): void {
    this.security?.poll(now);
    this.core.poll(now);
    this.#drain();
  }

  /** When `poll` next has work. */
  nextDeadline(): number {
    return Math.min(this.core.nextDeadline(), this.security?.nextDeadline() ?? Infinity);
  }

  /** SIGTERM: GOING_AWAY to every node. */
  stop(now: number): void {
    this.core.shutdown(now);
    this.#drain();
  }

  #drain(): void {
    const sec = this.security;
    if (sec) {
      this.sock.send(sec.takeOutgoing());
      for (const ev of sec.takeEvents()) logSupernodeSecurity(this.#log, ev);
    }
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

  /** The security layer's part of /status. */
  #securityStatus(now: number): Record<string, unknown> {
    const sec = this.security;
    if (!sec) return { encryption: "none" };
    const st = sec.status(now);
    const refused: Record<string, number> = {};
    for (const [k, v] of Object.entries(st.counters)) {
      if (k.startsWith("hs_refused_")) refused[k.slice(11)] = v;
      else if (k.startsWith("hs_failed_")) refused[k.slice(10)] = v;
    }
    return {
      encryption: CIPHER,
      aead: aeadImplementation(),
      mode: sec.members.mode,
      members: st.members,
      bindings: st.bindings,
      sessions: st.sessions,
      refusals: refused,
      handshakes: handshakeGuards(st.handshakes, st.counters),
      session_list: sec.sessionList(now).map((x) => ({
        network: x.network,
        node: x.peer,
        key: x.key,
        key_age_s: Math.round(x.ageMs / 1000),
        confirmed: x.confirmed,
        endpoint: x.endpoint,
        tx_packets: x.txPackets,
        rx_packets: x.rxPackets,
      })),
      counters: st.counters,
    };
  }

  /** For /status. */
  status(now: number): Record<string, unknown> {
    const s = this.core.status();
    const c = s.counters;
    return {
      security: this.#securityStatus(now),
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

  /** For /metrics. `now`: for the "under load" gauge. */
  metrics(w: MetricsWriter, now = -Infinity): void {
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
    const sec = this.security;
    if (sec) {
      const st = sec.status(now);
      w.gauge("l2_supernode_members", "public keys in the member list", st.members);
      const hs = st.handshakes;
      w.gauge(
        "l2_supernode_under_load",
        "1 while HS_INITs need a valid mac2 (a handshake budget ran out within 1 s)",
        hs.underLoad ? 1 : 0,
      );
      w.gauge("l2_supernode_handshake_sources", "addresses with handshake budgets", hs.sources);
      w.gauge(
        "l2_supernode_init_timestamps",
        "keys whose newest HS_INIT timestamp is kept (replay check)",
        hs.initTimestamps,
      );
      w.gauge(
        "l2_supernode_unconfirmed_sessions",
        "sessions no packet came under yet",
        hs.unconfirmed,
      );
      for (const [reason, v] of Object.entries(handshakeDrops(st.counters))) {
        w.counter(
          "l2_supernode_handshake_drops_total",
          "HS_INITs dropped before any work, by reason",
          v,
          { reason },
        );
      }
      w.counter(
        "l2_supernode_cookie_replies_total",
        "COOKIE_REPLYs sent (under load, or a source over its budget)",
        st.counters.cookie_replies ?? 0,
      );
      w.gauge("l2_supernode_sessions", "live encrypted sessions", st.sessions);
      w.gauge("l2_supernode_bindings", "node ids bound to public keys", st.bindings);
      for (const [k, v] of Object.entries(st.counters)) {
        if (k.startsWith("hs_refused_")) {
          w.counter("l2_supernode_refusals_total", "handshakes refused, by reason", v, {
            reason: k.slice(11),
          });
        } else if (k.startsWith("hs_failed_")) {
          w.counter(
            "l2_supernode_handshake_failures_total",
            "handshakes that failed, by reason",
            v,
            {
              reason: k.slice(10),
            },
          );
        }
        w.counter("l2_supernode_security_total", "security layer counters by name", v, {
          name: k,
        });
      }
    }
  }
}

/** HS_INITs dropped before any public-key work, by reason (all reasons, zero included). */
function handshakeDrops(c: Record<string, number>): Record<string, number> {
  return {
    bad_mac1: c.hs_failed_bad_mac1 ?? 0,
    replay_ephemeral: c.hs_replay_ephemeral ?? 0,
    under_load: c.hs_under_load ?? 0,
    rate_limited: c.drop_rate_limited ?? 0,
  };
}

/** The handshake guards for /status: tables with their sizes, drops by reason. */
function handshakeGuards(
  h: HandshakeGuardStatus,
  c: Record<string, number>,
): Record<string, unknown> {
  return {
    under_load: h.underLoad,
    sources: h.sources,
    init_timestamps: h.initTimestamps,
    recent_inits: h.recentInits,
    unconfirmed_sessions: h.unconfirmed,
    cookie_replies: c.cookie_replies ?? 0,
    cookie_replies_limited: c.cookie_replies_limited ?? 0,
    replays_refused: (c.hs_replay_timestamp ?? 0) + (c.hs_replay_ephemeral ?? 0),
    drops: handshakeDrops(c),
  };
}

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
  const engine = new SupernodeEngine({
    socket: new VpnSocket(udp, (h, e, peer) => ctx.contain.packet(h, e, peer)),
    supernodeId: c.id,
    log,
    security,
  });
  const clock = () => performance.now();
  let saveAt = t0 + 60_000;
  const save = (now: number) => {
    try {
      saveBindings(dir, members, now);
    } catch (e) {
      log.limited("save", "error", `cannot save the id bindings: ${(e as Error).message}`);
    }
  };
  const loop = new IoLoop({
    wait: "inline",
    clock,
    nextDeadline: () => Math.min(engine.nextDeadline(), saveAt),
    onDeadline: (now) => {
      engine.poll(now);
      if (now >= saveAt) {
        save(now);
        saveAt = now + 60_000;
      }
    },
    onError: ctx.contain.loopHook({ [udp.fd]: "udp" }),
  });
  loop.add(udp.fd, (now) => engine.onReadable(now), () => udp.close());
  engine.poll(clock());
  const running = loop.run().catch((e) => ctx.fatal(`event loop failed: ${(e as Error).message}`));
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
    status: () => engine.status(clock()),
    metrics: (w) => engine.metrics(w, clock()),
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
      loop.wake();
      const changed = (Object.keys(next) as (keyof SnConfig)[]).filter((k) =>
        !live.has(k) && JSON.stringify(next[k]) !== JSON.stringify(c[k])
      );
      if (changed.length) out.push(`changes to ${changed.join(", ")} take effect at restart`);
      c = { ...c, members: next.members, secret: next.secret, secret_file: next.secret_file };
      return out.length ? out : ["no supernode settings changed"];
    },
    async stop() {
      const now = clock();
      engine.stop(now);
      save(now);
      await loop.close();
      await running;
    },
  });
}

/** Runs `l2 supernode`. */
export async function runSupernode(args: SupernodeArgs): Promise<number> {
  return await runDaemonCommand<SnConfig>(
    { role: "supernode", load: () => loadSupernode(args), start: startSupernode },
    args.checkConfig,
  );
}
