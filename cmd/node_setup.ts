/**
 * `l2 node`'s setup pieces, for cmd/node.ts: the supernode list (checked and
 * resolved), the state directory (key, first supernode id, MAT leaves), the
 * security layer (`SecureNode` with its standbys and pins), the frame
 * filter, keeping the first supernode id, and why the node is not
 * registered (for /status).
 *
 * @module
 */
import { ConfigError } from "./kit/config.ts";
import type { TopicLogger } from "./kit/log.ts";
import type { NodeConfig } from "./node_config.ts";
import { resolveSupernode } from "./vpn_host.ts";
import {
  ensureStateDir,
  loadAllocator,
  loadLeaves,
  loadPins,
  PINS_FILE,
  saveAllocator,
} from "./vpn_state.ts";
import { buildRules } from "./filter_config.ts";
import { NetFilter } from "../core/vpn/net_filter.ts";
import { ffiCryptoSuite } from "./vpn_crypto.ts";
import { fromBase64Key } from "./keygen.ts";
import {
  CIPHER,
  keyText,
  loadOrCreateKey,
  REFUSED_RETRY_MS,
  supernodeKey,
  toMembers,
} from "./vpn_security.ts";
import { type Endpoint, formatEndpoint, formatIp, isV4, parseIp } from "../core/addr.ts";
import type { NodeEngineEvent } from "../core/vpn/node_engine.ts";
import { SecureNode } from "../core/vpn/secure_node.ts";

/**
 * Supernode handshake retry and answer timeout (SecureNode's default is 5 s;
 * with REGISTER backing off to 8 s that could take 13 s after a supernode's
 * return, and the node is to be back within 10 s).
 */
export const HANDSHAKE_RETRY_MS = 3000;
/** Longest REGISTER retry interval (NodeCore's default 8 s; see above). */
export const REGISTER_RETRY_MAX_MS = 4000;

/** A configured supernode, resolved: its address and public key. */
export type NodeSupernode = Endpoint & { key: Uint8Array };

/** A configured supernode before resolution: host and port, public key. */
export interface GivenSupernode {
  hp: NodeConfig["listen"];
  key: Uint8Array;
}

/**
 * The configured supernodes, first preferred (`supernode`/`supernode_key`
 * are a list of one). Throws a ConfigError for both forms or neither, or a
 * listen address that is not an IP.
 */
export function nodeSupernodeList(c: NodeConfig): GivenSupernode[] {
  if (c.supernodes.length > 0 && (c.supernode || c.supernode_key)) {
    throw new ConfigError(
      "node.supernodes: give either supernodes or supernode and supernode_key, not both",
    );
  }
  if (c.supernodes.length === 0 && !c.supernode) {
    throw new ConfigError(
      "node.supernode: required (or --supernode HOST:PORT, or a supernodes list)",
    );
  }
  if (!parseIp(c.listen.host).ok) {
    throw new ConfigError(`node.listen: expected an IP address, got ${c.listen.host}`);
  }
  return c.supernodes.length > 0
    ? c.supernodes.map((e) => ({ hp: e.address, key: fromBase64Key(e.key)! }))
    : [{ hp: c.supernode!, key: supernodeKey(c.supernode_key) }];
}

/**
 * `given` resolved. Throws a ConfigError for an IPv4 listen address with an
 * IPv6 supernode, or one listed twice.
 */
export async function resolveNodeSupernodes(
  c: NodeConfig,
  given: readonly GivenSupernode[],
): Promise<NodeSupernode[]> {
  const listenIp = parseIp(c.listen.host);
  const sns: NodeSupernode[] = [];
  for (const g of given) {
    const ip = await resolveSupernode(g.hp.host);
    if (listenIp.ok && isV4(listenIp.value) && !isV4(ip)) {
      throw new ConfigError(
        `node.listen: an IPv4 address (${c.listen.host}) cannot reach the IPv6 supernode ` +
          `${formatIp(ip)}; listen on :: (both) or an IPv6 address`,
      );
    }
    const ep = { ip, port: g.hp.port };
    if (sns.some((x) => formatEndpoint(x) === formatEndpoint(ep))) {
      throw new ConfigError(`node.supernodes: ${formatEndpoint(ep)} is listed twice`);
    }
    sns.push({ ...ep, key: g.key });
  }
  return sns;
}

/**
 * The node's state directory (`state_dir`, default /var/lib/l2/<name>),
 * created when missing, and the node's key (`key`, default
 * `<dir>/node.key`, created on first start; its public key logged).
 */
export function openNodeState(
  c: NodeConfig,
  name: string,
  log: TopicLogger,
): { dir: string; staticKey: ReturnType<typeof loadOrCreateKey> } {
  const dir = c.state_dir || `/var/lib/l2/${name}`;
  ensureStateDir(dir);
  const staticKey = loadOrCreateKey(c.key || `${dir}/node.key`, c.key === "", log, "node");
  log.info(
    `node public key: ${keyText(staticKey.publicKey)} (list it in the supernode's members)`,
  );
  return { dir, staticKey };
}

/**
 * The state directory's tables: the supernode id of the first registration
 * and the MAT leaf table. A file that does not read is logged and started
 * anew.
 */
export function loadNodeTables(
  dir: string,
  log: TopicLogger,
  now: number,
): { allocator: ReturnType<typeof loadAllocator>; leaves: ReturnType<typeof loadLeaves> } {
  const allocator = loadAllocator(dir);
  if (allocator.error) {
    log.error(`supernode id of the first registration not read: ${allocator.error}`);
  }
  const leaves = loadLeaves(dir, {}, now);
  if (leaves.error) log.error(`leaf table not loaded, starting empty: ${leaves.error}`);
  else if (leaves.loaded) log.info(`loaded ${leaves.loaded} MAT leaf id(s) from ${dir}`);
  return { allocator, leaves };
}

/**
 * The node's security layer: `SecureNode` towards `sns` (the first attached,
 * the rest standbys), the `peers` list trusted, and the peer key pins of the
 * state directory `dir` loaded (logged).
 */
export function nodeSecurity(
  c: NodeConfig,
  sns: readonly NodeSupernode[],
  o: {
    staticKey: ReturnType<typeof loadOrCreateKey>;
    psk: Uint8Array | null;
    dir: string;
    log: TopicLogger;
    now: number;
  },
): SecureNode {
  const security = new SecureNode({
    suite: ffiCryptoSuite(CIPHER),
    staticKey: o.staticKey,
    supernodeKey: sns[0].key,
    supernode: { ip: sns[0].ip, port: sns[0].port },
    standbys: sns.slice(1).map((x) => ({
      supernode: { ip: x.ip, port: x.port },
      supernodeKey: x.key,
    })),
    network: c.network,
    requestedId: c.id === "auto" ? 0 : c.id,
    ...(o.psk ? { psk: o.psk } : {}),
    // A returning supernode: a handshake every 3 s while it is silent...
    retryMs: HANDSHAKE_RETRY_MS,
    handshakeTimeoutMs: HANDSHAKE_RETRY_MS,
    // After a refusal (the key not in members yet): said in the log and in /status.
    refusedRetryMs: REFUSED_RETRY_MS,
    trusted: toMembers(c.peers).map((m) => ({
      key: m.publicKey,
      ...(m.id !== undefined ? { id: m.id } : {}),
    })),
  }, o.now);
  const pins = loadPins(o.dir, security, o.now);
  if (pins.error) o.log.error(`peer key pins not loaded, pinning anew: ${pins.error}`);
  else if (c.peers.length > 0) {
    o.log.info(`accepting only the ${c.peers.length} peer key(s) listed in peers`);
  } else if (pins.loaded) {
    o.log.info(`loaded ${pins.loaded} peer key pin(s) from ${o.dir}/${PINS_FILE}`);
  }
  return security;
}

/** The `filter` rules on frames to and from the VPN, when any (logged). */
export function nodeFilter(c: NodeConfig, log: TopicLogger): NetFilter | undefined {
  const netFilter = c.filter.length > 0
    ? new NetFilter(() => buildRules(c.filter), performance.now())
    : undefined;
  if (netFilter) {
    log.info(
      `filter: ${c.filter.map((r) => r.name).join(", ")} on frames to and from the VPN`,
    );
  }
  return netFilter;
}

/**
 * The engine event handler that keeps the AA (supernode id) of the first
 * REGISTER_ACK in the state directory `dir`, once (`saved`: the one loaded,
 * null: none yet): MAT addresses must not change.
 */
export function allocatorKeeper(
  dir: string,
  saved: number | null,
  log: TopicLogger,
): (ev: NodeEngineEvent) => void {
  return (ev) => {
    if (ev.layer === "core" && ev.event.type === "registered" && saved === null) {
      saved = ev.event.supernodeId;
      try {
        saveAllocator(dir, saved);
      } catch (e) {
        log.error(`cannot save the supernode id: ${(e as Error).message}`);
      }
    }
  };
}

/**
 * Why the node is not registered, and when it tries again: /status
 * `last_error`, `retry_in_s`. `see` takes every engine event; `add` adds
 * them to a status while the node is not registered.
 */
export class NodeTrouble {
  private problem: { text: string; retryAt: number } | null = null;

  /** Takes an engine event (`at`: performance.now()). */
  see(ev: NodeEngineEvent, at: number): void {
    if (ev.layer !== "security") return;
    const e = ev.event;
    if (e.type === "refused") {
      this.problem = {
        text: `the supernode refused this node's key: ${e.text}`,
        retryAt: at + REFUSED_RETRY_MS,
      };
    } else if (e.type === "no_answer") {
      this.problem = { text: e.text, retryAt: at + HANDSHAKE_RETRY_MS };
    } else if (e.type === "supernode_session") this.problem = null;
  }

  /** `st` with `last_error` and `retry_in_s` while not registered (`at`: performance.now()). */
  add(st: Record<string, unknown>, at: number): Record<string, unknown> {
    const p = this.problem;
    if (p === null || st.state === "registered") return st;
    const retry = Math.max(0, Math.ceil((p.retryAt - at) / 1000));
    return { ...st, last_error: p.text, retry_in_s: retry };
  }
}
