/**
 * The daemons' side of the VPN security layer (issue 6, docs/security.md):
 * configuration fields (`key`, `members`, `mode`, `secret`, `secret_file`,
 * `supernode_key`), key files (loaded, or created on first start at their
 * default path), the network secret, and the log lines for the security
 * events of `SecureSupernode` / `SecureNode`.
 *
 * Key files are the ones `l2 keygen` writes (cmd/keygen.ts); a key file
 * that group or others can read is refused (exit 2). A key file named
 * explicitly in the configuration must exist; only the default path in the
 * state directory is created when missing, so a typo in a path never
 * silently makes a new identity.
 *
 * The network secret (`secret` or the first line of `secret_file`) becomes
 * the handshake's 32-byte psk as SHA-256 of a label and the UTF-8 text;
 * without one the psk is all zeros (members mode needs none).
 *
 * @module
 */
import { isMap, isScalar, isSeq, type Node as YamlNode, type Scalar } from "yaml";
import {
  ConfigError,
  fail,
  type Field,
  locate,
  parseHostPort,
  unsafeMode,
  type Where,
} from "./kit/config.ts";
import { parseIp } from "../core/addr.ts";
import type { TopicLogger } from "./kit/log.ts";
import { fromBase64Key, loadKeyFile, toBase64, writeNewKeyFile } from "./keygen.ts";
import { aeadBackend, sha256, sodiumInfo } from "../ffi/crypto.ts";
import type { StaticKey } from "../core/vpn/handshake.ts";
import type { Member } from "../core/vpn/members.ts";
import { fingerprint } from "../core/vpn/crypto_suite.ts";
import type { SecuritySupernodeEvent } from "../core/vpn/secure_supernode.ts";
import type { SecurityNodeEvent } from "../core/vpn/secure_node.ts";
import { MAX_NODE_ID, MIN_NODE_ID } from "../core/vpn/constants.ts";

/** The AEAD of every session (both ends must agree; not configurable yet). */
export const CIPHER = "aes-256-gcm";

/**
 * Which library seals and opens packets with CIPHER, for logs and /status:
 * "libsodium 1.0.18", or "openssl" with why libsodium is not used.
 */
export function aeadImplementation(): string {
  const so = sodiumInfo();
  if (aeadBackend(CIPHER) === "libsodium") return `libsodium ${so.version}`;
  const why = so.error || (so.aes256gcm ? "L2_AEAD_BACKEND=openssl" : "no AES-NI for libsodium");
  return `openssl (${why})`;
}

/** One `members:` entry as configured (JSON-able, for --check-config and reload diffs). */
export interface MemberEntry {
  /** Base64 X25519 public key. */
  key: string;
  /** Node id pinned to this key, or null. */
  id: number | null;
  /** Label for logs ("" when none). */
  name: string;
}

function scalar(v: unknown): unknown {
  return isScalar(v) ? (v as Scalar).value : v;
}

function parseKeyText(v: unknown, w: Where): string {
  const x = scalar(v);
  if (typeof x !== "string" || fromBase64Key(x) === null) {
    fail(w, "expected a base64 X25519 public key (44 characters, as l2 keygen prints it)", x);
  }
  return x.trim();
}

/** The key/value pairs of a YAML mapping or a plain object, else null. */
function pairs(v: unknown): [string, unknown][] | null {
  if (isMap(v)) return v.items.map((p) => [String(scalar(p.key)), p.value]);
  if (v !== null && typeof v === "object" && !isScalar(v) && !Array.isArray(v) && !isSeq(v)) {
    return Object.entries(v as Record<string, unknown>);
  }
  return null;
}

/** One member: `BASE64` or a mapping `{ key: BASE64, id: N, name: TEXT }`. */
function memberEntry(v: unknown, w: Where): MemberEntry {
  const kv = pairs(v);
  if (kv === null) return { key: parseKeyText(v, w), id: null, name: "" };
  let key: string | null = null;
  let id: number | null = null;
  let name = "";
  for (const [k, value] of kv) {
    const kw: Where = {
      ...w,
      path: `${w.path}.${k}`,
      node: isScalar(value) ? (value as YamlNode) : w.node,
    };
    const x = scalar(value);
    if (k === "key") key = parseKeyText(value, kw);
    else if (k === "id") {
      if (typeof x !== "number" || !Number.isInteger(x) || x < MIN_NODE_ID || x > MAX_NODE_ID) {
        fail(kw, `expected an integer ${MIN_NODE_ID}..${MAX_NODE_ID}`, x);
      }
      id = x;
    } else if (k === "name") {
      if (typeof x !== "string") fail(kw, "expected a string", x);
      name = x;
    } else fail(kw, "unknown key; known keys: key, id, name");
  }
  if (key === null) fail(w, "missing required key key (the member's base64 public key)");
  return { key, id, name };
}

/** The supernode's `members:` list. */
export function memberList(doc: string): Field<MemberEntry[]> {
  return {
    type: "list of public keys",
    doc,
    default: [],
    defaultText: "[]",
    parse(v, w) {
      const items: unknown[] = isSeq(v)
        ? v.items
        : Array.isArray(v)
        ? v
        : scalar(v) === null || v === undefined
        ? []
        : [v];
      const out = items.map((it, i) =>
        memberEntry(it, { ...w, path: `${w.path}[${i}]`, node: (it as YamlNode) ?? w.node })
      );
      const seenIds = new Map<number, string>();
      for (const [i, m] of out.entries()) {
        if (m.id === null) continue;
        const other = seenIds.get(m.id);
        if (other !== undefined && other !== m.key) {
          fail({ ...w, path: `${w.path}[${i}].id` }, `node id ${m.id} is pinned to two keys`);
        }
        seenIds.set(m.id, m.key);
      }
      return out;
    },
  };
}

/** One `federation:` entry as configured (JSON-able). */
export interface FederationEntry {
  /** The peer's supernode id, 1..255. */
  id: number;
  /** Its UDP address, `IP:PORT` (an address, not a name). */
  address: string;
  /** Its base64 X25519 public key. */
  key: string;
  /** `file:line:col` of the entry, for checks made at start (own id, own key). */
  at: string;
}

/** Most federation peers (core/vpn/federation.ts MAX_FED_PEERS). */
const MAX_FEDERATION = 32;

function federationEntry(v: unknown, w: Where): FederationEntry {
  const kv = pairs(v);
  if (kv === null) fail(w, "expected a mapping { id, address, key }", scalar(v));
  let id: number | null = null, address: string | null = null, key: string | null = null;
  for (const [k, value] of kv) {
    const kw: Where = {
      ...w,
      path: `${w.path}.${k}`,
      node: isScalar(value) ? (value as YamlNode) : w.node,
    };
    const x = scalar(value);
    if (k === "key") key = parseKeyText(value, kw);
    else if (k === "id") {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 1 || x > 255) {
        fail(kw, "expected a supernode id 1..255", x);
      }
      id = x;
    } else if (k === "address") {
      if (typeof x !== "string") fail(kw, "expected IP:PORT", x);
      const hp = parseHostPort(x, 7654);
      if (typeof hp === "string") fail(kw, `expected IP:PORT: ${hp}`, x);
      if (!parseIp(hp.host).ok) fail(kw, "expected an IP address (not a name)", x);
      address = hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
    } else fail(kw, "unknown key; known keys: id, address, key");
  }
  if (id === null) fail(w, "missing required key id (the peer's supernode id)");
  if (address === null) fail(w, "missing required key address (the peer's IP:PORT)");
  if (key === null) fail(w, "missing required key key (the peer's base64 public key)");
  return { id, address, key, at: locate(w) };
}

/** The supernode's `federation:` list. */
export function federationList(doc: string): Field<FederationEntry[]> {
  return {
    type: "list of { id, address, key }",
    doc,
    default: [],
    defaultText: "[]",
    parse(v, w) {
      const items: unknown[] = isSeq(v)
        ? v.items
        : Array.isArray(v)
        ? v
        : scalar(v) === null || v === undefined
        ? []
        : fail(w, "expected a list of { id, address, key }", scalar(v));
      if (items.length > MAX_FEDERATION) {
        fail(w, `at most ${MAX_FEDERATION} federation peers`, items.length);
      }
      const out = items.map((it, i) =>
        federationEntry(it, { ...w, path: `${w.path}[${i}]`, node: (it as YamlNode) ?? w.node })
      );
      const ids = new Set<number>(), keys = new Set<string>(), addrs = new Set<string>();
      for (const [i, e] of out.entries()) {
        const iw = { ...w, path: `${w.path}[${i}]`, node: (items[i] as YamlNode) ?? w.node };
        if (ids.has(e.id)) fail(iw, `federation peer id ${e.id} is listed twice`);
        if (keys.has(e.key)) fail(iw, "this key is listed twice (one key per supernode)");
        if (addrs.has(e.address)) fail(iw, `address ${e.address} is listed twice`);
        ids.add(e.id);
        keys.add(e.key);
        addrs.add(e.address);
      }
      return out;
    },
  };
}

/** Configured entries to the core's `Member` list. */
export function toMembers(list: readonly MemberEntry[]): Member[] {
  const out: Member[] = [];
  for (const m of list) {
    const publicKey = fromBase64Key(m.key);
    if (publicKey === null) continue; // parsed already; never happens
    out.push({
      publicKey,
      ...(m.id !== null ? { id: m.id } : {}),
      ...(m.name ? { name: m.name } : {}),
    });
  }
  return out;
}

/**
 * The key pair in `path`. The default path (`isDefault`) is created with
 * mode 0600 when missing; a missing explicit path, a malformed file or one
 * others can read is a `ConfigError` (exit 2).
 */
export function loadOrCreateKey(
  path: string,
  isDefault: boolean,
  log: TopicLogger,
  what: string,
): StaticKey {
  let exists = true;
  try {
    Deno.statSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new ConfigError(`Cannot use key file ${path}: ${(e as Error).message}`);
    }
    exists = false;
  }
  if (!exists) {
    if (!isDefault) {
      throw new ConfigError(
        `Cannot use key file ${path}: it does not exist (create it with l2 keygen -o ${path})`,
      );
    }
    const pub = writeNewKeyFile(path);
    log.info(`created the ${what} key ${path} (mode 0600)`, { public_key: toBase64(pub) });
  }
  try {
    return loadKeyFile(path);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/** The pinned supernode public key from `supernode_key` text. */
export function supernodeKey(text: string): Uint8Array {
  if (text === "") {
    throw new ConfigError(
      "node.supernode_key (--supernode-key): required: the supernode's base64 public key (its log prints it at " +
        "start; or run l2 keygen --public on its key file). The handshake encrypts to this key, " +
        "so it cannot be learned on first use",
    );
  }
  const k = fromBase64Key(text);
  if (k === null) {
    throw new ConfigError(
      `node.supernode_key (--supernode-key): expected a base64 X25519 public key (44 characters), got ${
        JSON.stringify(text)
      }`,
    );
  }
  return k;
}

const SECRET_LABEL = "l2 vpn network secret v1\0";

/**
 * The handshake psk from `secret` or `secret_file` (its first non-empty
 * line), or null when neither is set. Both set is a `ConfigError`.
 */
export function networkSecret(
  section: string,
  secret: string,
  secretFile: string,
): Uint8Array | null {
  if (secret !== "" && secretFile !== "") {
    throw new ConfigError(`${section}: set secret or secret_file, not both`);
  }
  let text = secret;
  if (secretFile !== "") {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(secretFile);
      text = Deno.readTextFileSync(secretFile).split("\n").map((l) =>
        l.trim()
      ).find((l) => l !== "") ?? "";
    } catch (e) {
      throw new ConfigError(
        `${section}.secret_file: cannot read ${secretFile}: ${(e as Error).message}`,
      );
    }
    const bad = unsafeMode(st.mode, secretFile, "secret file");
    if (bad !== null) throw new ConfigError(`${section}.secret_file: ${bad}`);
    if (text === "") throw new ConfigError(`${section}.secret_file: ${secretFile} is empty`);
  }
  if (text === "") return null;
  return sha256(new TextEncoder().encode(SECRET_LABEL + text));
}

/** Short text of a key for logs: base64 and the fingerprint the core's events carry. */
export function keyText(publicKey: Uint8Array): string {
  return `${toBase64(publicKey)} (fingerprint ${fingerprint(publicKey)})`;
}

const REFUSAL: Record<string, (network: number, requested: number) => string> = {
  not_member: (n) => `is not a member of network ${n}: add its public key to supernode.members`,
  id_bound: (_n, r) => `asked for node id ${r}, which belongs to another public key`,
  bad_id: (_n, r) => `asked for node id ${r}: node ids are 1..65534`,
  revoked: (n) => `was removed from network ${n}`,
  not_vouched: () => "is not vouched for",
  busy: () => "could not get a session: too many sessions",
};

/** Logs one event of `SecureSupernode` (refusals and failures rate-limited per source). */
export function logSupernodeSecurity(log: TopicLogger, ev: SecuritySupernodeEvent): void {
  switch (ev.type) {
    case "session":
      // Every re-key (2 min) makes one: debug; the registration is logged at info.
      log.debug(`encrypted session with node key ${ev.key}...`, {
        network: ev.network,
        endpoint: ev.endpoint,
        cipher: CIPHER,
      });
      break;
    case "refused":
      // A refused node retries every 30 s, for as long as it is not listed: at doubling intervals.
      log.repeating(
        `refused:${ev.endpoint}`,
        "warn",
        `refused node key ${ev.key}... from ${ev.endpoint}: it ${
          (REFUSAL[ev.reason] ?? (() => ev.text))(ev.network, ev.requested)
        }`,
        { network: ev.network, requested: ev.requested, reason: ev.reason },
      );
      break;
    case "handshake_failed":
      // A node with a wrong key tries every 3 s: reported at doubling intervals, not each time.
      log.repeating(
        `hsfail:${ev.endpoint}`,
        "warn",
        `handshake from ${ev.endpoint} failed: ${ev.text}` +
          (ev.reason === "bad_mac1"
            ? " (the node's supernode_key must be this supernode's public key)"
            : ev.reason === "bad_secret"
            ? " (the node's secret must match supernode.secret)"
            : ""),
        { reason: ev.reason },
      );
      break;
    case "revoked":
      log.warn(
        `revoked node ${ev.node} (key ${ev.key}...): removed from the members, ` +
          `${ev.sessions} session(s) ended, the others told`,
        { network: ev.network },
      );
      break;
  }
}

/** How long a node waits after the supernode refused its key (SecureNode's refusedRetryMs). */
export const REFUSED_RETRY_MS = 30_000;

/** Logs one event of `SecureNode`. `self` is this node's public key (for refusal hints). */
export function logNodeSecurity(
  log: TopicLogger,
  ev: SecurityNodeEvent,
  self: Uint8Array,
  first: { supernode: boolean },
): void {
  switch (ev.type) {
    case "supernode_session":
      log.resolved("refused", "the supernode accepted this node's key");
      log.resolved("no_answer", "the supernode answers handshakes again");
      if (!first.supernode) {
        first.supernode = true;
        log.info(`encrypted session with the supernode (${CIPHER}, its key pinned)`);
      } else log.debug("new session with the supernode (re-key)", { key_id: ev.keyId });
      break;
    case "refused":
      log.repeating(
        "refused",
        "error",
        `the supernode refused this node's key ${keyText(self)}: ${ev.text}` +
          (ev.reason === "not_member"
            ? "; add the public key to the supernode's members and send it SIGHUP"
            : "") +
          `; next attempt in ${REFUSED_RETRY_MS / 1000} s`,
        { reason: ev.reason, retry_in_s: REFUSED_RETRY_MS / 1000 },
      );
      break;
    case "no_answer":
      log.repeating(
        "no_answer",
        "warn",
        `${ev.text} (a wrong supernode key cannot be answered: check node.supernode_key, ` +
          "--supernode-key; and that the supernode runs at node.supernode)",
      );
      break;
    case "peer_session":
      log.debug(`encrypted session with node ${ev.peer} (key ${ev.key}...)`, {
        initiator: ev.initiator,
      });
      break;
    case "peer_refused":
      log.limited(`peer_refused:${ev.peer}`, "warn", `node ${ev.peer} refused a session`, {
        reason: ev.reason,
      });
      break;
    case "revoked":
      log.warn(
        `the supernode revoked node ${ev.node} (key ${ev.key}...): ${ev.sessions} session(s) ended`,
      );
      break;
    case "peer_key_refused":
      log.limited(`peer_key:${ev.peer}`, "error", peerKeyRefusedText(ev), {
        reason: ev.reason,
      });
      break;
    case "roster":
      log.debug(`the supernode lists ${ev.peers} other node(s) in this network`);
      break;
    case "moved":
      log.warn(
        `attached to supernode ${ev.to} now, was ${ev.from} (${
          ev.cause === "silent" ? "it fell silent" : "back to the preferred one"
        }; move ${ev.moves})`,
      );
      break;
  }
}

/** The operator's line for a refused peer key: what happened and what to do. */
export function peerKeyRefusedText(
  ev: Extract<SecurityNodeEvent, { type: "peer_key_refused" }>,
): string {
  switch (ev.reason) {
    case "pin_mismatch":
      return `the supernode vouches key ${ev.key}... for node ${ev.peer}, but this node pinned ` +
        `key ${ev.pinned}... for it: refusing (a compromised supernode, or node ${ev.peer} has a ` +
        `new key: then delete its line from <state_dir>/peer_pins.json and send SIGHUP)`;
    case "not_trusted":
      return `node ${ev.peer} holds key ${ev.key}..., which is not in this node's peers list: ` +
        "refusing (add it to peers to talk to that node)";
    case "trusted_for_other_id":
      return `key ${ev.key}... is in this node's peers list for another node id than ${ev.peer}: ` +
        "refusing";
  }
}
