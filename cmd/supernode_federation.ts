/**
 * The federation wiring of `l2 supernode` (docs/federation.md): the
 * configured `federation` peers turned into `SupernodeFederation`'s peers
 * (their addresses interned in the engine's endpoint table), and the log
 * line naming each peer at start. The federation itself is sans-IO, in
 * core/vpn/fed_supernode.ts; the engine owns it (core/vpn/supernode_engine.ts).
 *
 * @module
 */
import { ConfigError } from "./kit/config.ts";
import type { TopicLogger } from "./kit/log.ts";
import type { SnConfig } from "./supernode_config.ts";
import { fromBase64Key, toBase64 } from "./keygen.ts";
import type { EndpointTable } from "../core/addr.ts";
import type { CryptoSuite } from "../core/vpn/crypto_suite.ts";
import { fingerprint } from "../core/vpn/crypto_suite.ts";
import type { StaticKey } from "../core/vpn/handshake.ts";
import type { Members } from "../core/vpn/members.ts";
import { type FedPeer, SupernodeFederation } from "../core/vpn/fed_supernode.ts";

/**
 * The supernode's federation, or undefined when no peer is configured. A
 * peer naming our own key is a ConfigError at its file:line:col.
 */
export function supernodeFederation(
  c: SnConfig,
  o: {
    suite: CryptoSuite;
    staticKey: StaticKey;
    members: Members;
    endpoints: EndpointTable;
  },
  now: number,
): SupernodeFederation | undefined {
  if (c.federation.length === 0) return undefined;
  return new SupernodeFederation({
    suite: o.suite,
    staticKey: o.staticKey,
    selfId: c.id,
    peers: federationPeers(c, o.staticKey.publicKey, o.endpoints),
    members: o.members,
  }, now);
}

/** Logs each configured federation peer: id, address, key fingerprint. */
export function logFederationPeers(c: SnConfig, log: TopicLogger): void {
  for (const f of c.federation) {
    log.info(`federation peer ${f.id} at ${f.address}, key ${fedFingerprint(f.key)}`);
  }
}

function fedFingerprint(base64: string): string {
  const k = fromBase64Key(base64);
  return k === null ? "?" : fingerprint(k);
}

/**
 * The configured federation peers; an entry naming our own key is a
 * ConfigError at its file:line:col.
 */
function federationPeers(c: SnConfig, ownKey: Uint8Array, endpoints: EndpointTable): FedPeer[] {
  // Own id and id 0 were refused at load (supernode_config.ts).
  return c.federation.map((f) => {
    const key = fromBase64Key(f.key)!;
    if (toBase64(key) === toBase64(ownKey)) {
      throw new ConfigError(`${f.at}: key is this supernode's own public key`);
    }
    const ep = endpoints.parse(f.address);
    if (ep === null) throw new ConfigError(`${f.at}: address ${f.address} is not IP:PORT`);
    return { id: f.id, key, endpoint: ep };
  });
}
