/**
 * What each daemon checks before it opens anything, shared by the daemon
 * (the kit runs it before the management endpoint is bound) and
 * `--check-config` (which prints the effective values it returns): so a
 * configuration `--check-config` accepts is one the daemon starts with, and
 * one it refuses exits 2 in both. Nothing here creates, binds or opens a
 * device: it parses keys, reads key and secret files, checks the state
 * directory's ownership and mode when it exists, and compares address
 * families. What it cannot know without opening (a port in use, a TAP held
 * by another process, a supernode name that does not resolve) the daemon
 * reports when it opens it (cmd/kit/oserror.ts).
 *
 * @module
 */
import { ConfigError } from "./kit/config.ts";
import type { DaemonConfig } from "./kit/daemon.ts";
import { loadKeyFile, toBase64 } from "./keygen.ts";
import { hostName, v4ToNumber } from "./kit/host.ts";
import { networkSecret, supernodeKey } from "./vpn_security.ts";
import { unsafeStateDir } from "./vpn_state.ts";
import type { NodeConfig } from "./node_config.ts";
import type { SnConfig } from "./supernode_config.ts";
import type { LasConfig } from "./las_config.ts";
import type { XConfig } from "./xconnect_config.ts";
import { isV4, parseIp } from "../core/addr.ts";
import { peerPrefix } from "../core/las/engine.ts";

/** Where a VPN daemon keeps its state and its key, defaults filled. */
export interface VpnPaths {
  /** The state directory (`state_dir`, or /var/lib/l2/<section>). */
  dir: string;
  /** The private key file (`key`, or <dir>/<role>.key). */
  key: string;
  /** True when `key` was left empty: a missing file is created at start. */
  keyIsDefault: boolean;
}

/** The state directory and key file a node or supernode uses. */
export function vpnPaths(
  role: "node" | "supernode",
  section: string,
  c: { state_dir: string; key: string },
): VpnPaths {
  const dir = c.state_dir || `/var/lib/l2/${section}`;
  return { dir, key: c.key || `${dir}/${role}.key`, keyIsDefault: c.key === "" };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new ConfigError(`Cannot use ${path}: ${(e as Error).message}`);
  }
}

/**
 * Checks the state directory (when it exists: created 0700 at start
 * otherwise) and the key file (parsed, its mode checked; a missing one is
 * an error unless it is the default, which is created at start). Returns
 * the key's public half, or null when it will be created.
 */
function checkPaths(role: "node" | "supernode", p: VpnPaths): string | null {
  if (exists(p.dir)) {
    const bad = unsafeStateDir(p.dir, Deno.uid() ?? 0);
    if (bad !== null) throw new ConfigError(`${role}.state_dir: ${bad}`);
  }
  if (!exists(p.key)) {
    if (p.keyIsDefault) return null;
    throw new ConfigError(
      `${role}.key (--key): ${p.key} does not exist: create it with l2 keygen -o ${p.key}, or ` +
        `leave key empty to have ${role === "node" ? "the node" : "the supernode"} create ` +
        `<state_dir>/${role}.key at its first start`,
    );
  }
  try {
    return toBase64(loadKeyFile(p.key).publicKey);
  } catch (e) {
    throw new ConfigError(`${role}.key (--key): ${(e as Error).message}`);
  }
}

/** What `l2 node` checks before it opens anything; the effective config. */
export function checkNode(cfg: DaemonConfig<NodeConfig>): Record<string, unknown> {
  const c = cfg.config;
  // Several supernodes (docs/federation.md) or one: not both.
  if (c.supernodes.length > 0 && (c.supernode || c.supernode_key)) {
    throw new ConfigError(
      `node.${cfg.name}.supernodes: give either supernodes or supernode and supernode_key, ` +
        "not both",
    );
  }
  if (c.supernodes.length === 0 && !c.supernode) {
    throw new ConfigError(
      `node.${cfg.name}.supernode: required: the supernode's UDP address; set it in the ` +
        "config file or with --supernode HOST:PORT (or list several in supernodes)",
    );
  }
  const listen = parseIp(c.listen.host);
  if (!listen.ok) {
    throw new ConfigError(
      `node.${cfg.name}.listen: expected an IP address (e.g. :: or 0.0.0.0), got ${c.listen.host}`,
    );
  }
  const hosts = c.supernodes.length > 0 ? c.supernodes.map((e) => e.address) : [c.supernode!];
  for (const h of hosts) {
    const sn = parseIp(h.host);
    if (sn.ok && isV4(listen.value) && !isV4(sn.value)) {
      throw new ConfigError(
        `node.${cfg.name}.listen: an IPv4 address (${c.listen.host}) cannot reach the IPv6 ` +
          `supernode ${h.host}; listen on :: (both) or an IPv6 address`,
      );
    }
  }
  // The keys of `supernodes` were checked when the file was read (with their line and column).
  if (c.supernodes.length === 0) supernodeKey(c.supernode_key);
  networkSecret("node", c.secret, c.secret_file)?.fill(0);
  const p = vpnPaths("node", cfg.name, c);
  const pub = checkPaths("node", p);
  return {
    ...c,
    state_dir: p.dir,
    key: p.key,
    public_key: pub ?? `(${p.key} is created at the first start)`,
  };
}

/** What `l2 supernode` checks before it opens anything; the effective config. */
export function checkSupernode(cfg: DaemonConfig<SnConfig>): Record<string, unknown> {
  const c = cfg.config;
  if (!parseIp(c.listen.host).ok) {
    throw new ConfigError(
      `supernode.${cfg.name}.listen (--listen): expected an IP address (e.g. [::]:7654), got ` +
        c.listen.host,
    );
  }
  const psk = networkSecret("supernode", c.secret, c.secret_file);
  if (c.mode === "open" && psk === null) {
    throw new ConfigError(
      "supernode.secret: required in open mode (or secret_file): without it anyone who knows " +
        "the supernode's public key could join",
    );
  }
  psk?.fill(0);
  const p = vpnPaths("supernode", cfg.name, c);
  const pub = checkPaths("supernode", p);
  return {
    ...c,
    state_dir: p.dir,
    key: p.key,
    public_key: pub ?? `(${p.key} is created at the first start)`,
  };
}

/** What `l2 las` checks before it opens anything; the effective config. */
export function checkLas(cfg: DaemonConfig<LasConfig>): Record<string, unknown> {
  const c = cfg.config;
  if (c.listen.some((a) => v4ToNumber(a) === 0)) {
    throw new ConfigError(
      `las.${cfg.name}.listen (--listen): IPv6 addresses are not supported yet for L2TPv3; ` +
        "list IPv4 addresses, or none for all of them",
    );
  }
  for (const a of c.allow) {
    const p = peerPrefix(`${a.address}/${a.prefix}`);
    if (typeof p === "string") throw new ConfigError(`las.${cfg.name}.allow: ${p}`);
  }
  return { ...c, hostname: c.hostname || hostName() };
}

/** What `l2 xconnect` checks before it opens anything; the effective config. */
export function checkXconnect(cfg: DaemonConfig<XConfig>): Record<string, unknown> {
  const c = cfg.config;
  const las = parseIp(c.las);
  if (!las.ok || !isV4(las.value) || c.las.includes(":")) {
    throw new ConfigError(
      `xconnect.${cfg.name}.las (LAS-IP): only IPv4 LAS addresses are supported yet, got ${c.las}`,
    );
  }
  const fits = c.udp ? 1442 : 1454;
  return c.interface ? c : { ...c, mtu: c.mtu || fits };
}
