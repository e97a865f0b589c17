/**
 * `l2 supernode`: the rendezvous and relay of the VPN. Nodes register with
 * it, broadcast through it, and fall back to it as a relay.
 *
 * Configuration and wiring only: the config (cmd/supernode_config.ts), one
 * UDP socket (dual-stack when bound to `::`; UDP GRO on receive and GSO on
 * send), the sans-IO `SupernodeEngine` (core/vpn/supernode_engine.ts: the
 * security layer, `SecureSupernode`, handshakes, member checks, sessions,
 * docs/security.md, in front of `SupernodeCore`, core/vpn/supernode.ts,
 * which seals with its sealer), the kit's pump for the socket
 * (cmd/kit/pump.ts `socketWatch`) and runner (cmd/kit/runner.ts).
 *
 * Keys: the supernode's X25519 key file (`key`, default
 * `<state_dir>/supernode.key`, created on first start); its public key is
 * logged at start for the nodes' `supernode_key`. `mode: members` (default)
 * admits only the listed public keys; `mode: open` anyone proving the
 * network `secret`. SIGHUP re-reads `members` and the secret: a removed key
 * loses its sessions at once and the other nodes are told (REVOKE). Id
 * bindings (which key holds which node id) are saved in the state directory
 * every minute and at stop, and loaded at start (cmd/supernode_state.ts,
 * with the secret and the member names in /status). Federation peers
 * (docs/federation.md) are wired in cmd/supernode_federation.ts.
 *
 * SIGTERM sends GOING_AWAY to every registered node before exit.
 *
 * /status and /metrics: the engine's snapshot with the socket's address and
 * counters, rendered by cmd/render/supernode_status.ts.
 *
 * @module
 */
import { ConfigError, formatHostPort } from "./kit/config.ts";
import { runDaemonCommand } from "./kit/cli.ts";
import { opening } from "./kit/oserror.ts";
import { checkSupernode } from "./daemon_checks.ts";
import { loadBindings, saveBindings, snSecret, withMemberNames } from "./supernode_state.ts";
import { logFederationPeers, supernodeFederation } from "./supernode_federation.ts";
import type { DaemonContext, DaemonInstance } from "./kit/daemon.ts";
import { socketWatch } from "./kit/pump.ts";
import { Runner } from "./kit/runner.ts";
import { loadSupernode, type SnConfig, type SupernodeArgs } from "./supernode_config.ts";
import {
  supernodeMetrics,
  type SupernodeSnapshot,
  supernodeSnapshot,
  supernodeStatus,
} from "./render/supernode_status.ts";
import { supernodeEventLog } from "./render/vpn_log.ts";
import { socketCounters } from "./vpn_io.ts";
import { cryptoRandom } from "./vpn_host.ts";
import { ensureStateDir } from "./vpn_state.ts";
import { ffiCryptoSuite } from "./vpn_crypto.ts";
import { toBase64 } from "./keygen.ts";
import { aeadImplementation, CIPHER, loadOrCreateKey, toMembers } from "./vpn_security.ts";
import { EndpointTable, parseIp } from "../core/addr.ts";
import { Members } from "../core/vpn/members.ts";
import { SecureSupernode } from "../core/vpn/secure_supernode.ts";
import { SupernodeEngine } from "../core/vpn/supernode_engine.ts";
import { openUdp } from "../ffi/udp.ts";
import { sha256 } from "../ffi/crypto.ts";

export {
  loadSupernode,
  type SupernodeArgs,
  supernodeCommand,
  supernodeFields,
  VPN_PORT,
} from "./supernode_config.ts";
export { cryptoRandom } from "./vpn_host.ts";

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
  const suite = ffiCryptoSuite(CIPHER);
  const security = new SecureSupernode({
    suite,
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
  const udpAt = formatHostPort(c.listen);
  const udpWhat = {
    what: "the supernode's UDP port",
    target: udpAt,
    flag: "--listen",
    key: `supernode.${cfg.name}.listen`,
    proto: "udp" as const,
  };
  const udp = opening(udpWhat, () =>
    openUdp({
      bind: udpAt,
      batch: 64,
      slotSize: 2048,
      rcvbuf: 4 << 20,
      sndbuf: 4 << 20,
      // A relayed flow arrives as runs of one node's datagrams and leaves as runs to
      // another: GRO takes a run in one receive (the pump cuts it; each datagram is
      // checked on its own), GSO sends a run in one message. Off by themselves when
      // the kernel refuses (udp_gro_off, udp_gso_off in /status).
      udpGro: true,
      udpGso: true,
    }));
  if (!udp.gro) log.info("UDP GRO not available: receiving one datagram per message");
  const endpoints = new EndpointTable();
  const federation = supernodeFederation(c, { suite, staticKey, members, endpoints }, t0);
  const engine = new SupernodeEngine({
    supernodeId: c.id,
    random: cryptoRandom,
    security,
    endpoints,
    socket: udp,
    ...(federation ? { federation } : {}),
    clock: { now: t0, wall: Date.now() },
    onEvent: supernodeEventLog(log),
    save: (now) => {
      try {
        saveBindings(dir, members, now);
      } catch (e) {
        log.limited("save", "error", `cannot save the id bindings: ${(e as Error).message}`);
      }
    },
  });
  const contain = (h: string, e: unknown, peer: string | null) => ctx.contain.packet(h, e, peer);
  const pump = socketWatch({ name: "udp", socket: udp, engine, contain });
  const runner = new Runner(ctx, {
    watch: [pump],
    nextDeadline: () => engine.nextDeadline(),
    poll: (now) => engine.poll(now),
    start: (now) => engine.start(now),
    stop: (now) => engine.stop(now),
  });
  const clock = runner.clock;
  const io = { udp: pump.counters };
  const snapshot = (now: number): SupernodeSnapshot => {
    const e = engine.snapshot(now);
    const socket = socketCounters(udp, pump.counters, e.tx);
    return supernodeSnapshot(e, {
      local: udp.local,
      socket,
      io,
      cipher: CIPHER,
      aead: aeadImplementation(),
    });
  };
  log.info(`supernode ${c.id} listening on UDP ${formatHostPort(c.listen)}`, {
    port: udp.local.port,
    encryption: CIPHER,
    aead: aeadImplementation(),
    mode: c.mode,
    members: c.members.length,
  });
  logFederationPeers(c, log);
  log.info(
    `supernode public key: ${
      toBase64(staticKey.publicKey)
    } (give it to the nodes as supernode_key)`,
  );
  return Promise.resolve({
    status: () => withMemberNames(supernodeStatus(snapshot(clock())), c.members),
    metrics: (w) => supernodeMetrics(w, snapshot(clock())),
    reload(next) {
      const out: string[] = [];
      const live = new Set<keyof SnConfig>(["members", "secret", "secret_file"]);
      // The secret first: a config error there leaves the running members untouched too.
      const nextPsk = snSecret({ ...next, mode: c.mode });
      if (JSON.stringify(next.members) !== JSON.stringify(c.members)) {
        const removed = security.setMembers(toMembers(next.members), clock());
        federation?.membersChanged(clock());
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
    {
      role: "supernode",
      load: () => loadSupernode(args),
      check: checkSupernode,
      start: startSupernode,
    },
    args.checkConfig,
  );
}
