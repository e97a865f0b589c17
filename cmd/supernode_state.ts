/**
 * The state and secrets of `l2 supernode` around its engine: the network
 * secret from the config (required in open mode), the id bindings (which
 * key holds which node id) loaded from and saved to `bindings.json` in the
 * state directory, and the member names added to /status.
 *
 * @module
 */
import { ConfigError } from "./kit/config.ts";
import type { TopicLogger } from "./kit/log.ts";
import type { SnConfig } from "./supernode_config.ts";
import { readStateFile, writeStateFile } from "./vpn_state.ts";
import { networkSecret, toMembers } from "./vpn_security.ts";
import type { Members } from "../core/vpn/members.ts";
import { fingerprint } from "../core/vpn/crypto_suite.ts";

/** The network secret of a supernode config; open mode requires one. */
export function snSecret(c: SnConfig): Uint8Array | null {
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

/** Loads the id bindings saved in `dir`; a bad file is logged, not fatal. */
export function loadBindings(dir: string, members: Members, now: number, log: TopicLogger): void {
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

/** Saves the id bindings to `dir` (throws on a write error). */
export function saveBindings(dir: string, members: Members, now: number): void {
  const text = JSON.stringify(members.exportBindings(now));
  writeStateFile(`${dir}/${BINDINGS_FILE}`, new TextEncoder().encode(text));
}

/**
 * `nodes[].name`: the `name` of the member whose key holds the node's
 * session (matched by the key's fingerprint in `security.session_list`),
 * for `l2 status`; nodes without a named member are left as they are.
 */
export function withMemberNames(
  st: Record<string, unknown>,
  members: SnConfig["members"],
): Record<string, unknown> {
  const names = new Map<string, string>();
  for (const m of toMembers(members)) if (m.name) names.set(fingerprint(m.publicKey), m.name);
  if (names.size === 0) return st;
  const sessions = ((st.security as { session_list?: unknown } | undefined)?.session_list ??
    []) as { network: number; node: number; key: string }[];
  const keyOf = new Map(sessions.map((x) => [`${x.network}/${x.node}`, x.key]));
  const nodes = (st.nodes ?? []) as { id: number; network: number }[];
  return {
    ...st,
    nodes: nodes.map((n) => {
      const name = names.get(keyOf.get(`${n.network}/${n.id}`) ?? "");
      return name === undefined ? n : { ...n, name };
    }),
  };
}
