/**
 * The `peers:` of a `las:` section (cmd/las_config.ts) as the engine's mesh
 * options (core/las/mesh.ts): each peer named as the endpoint names it
 * ("192.0.2.2" over IP protocol 115, "192.0.2.2:1701" over UDP) and where
 * it is reached. The wiring is cmd/las.ts.
 *
 * @module
 */
import { parseIp } from "../core/addr.ts";
import type { MeshPeerConfig } from "../core/las/engine.ts";
import { ConfigError } from "./kit/config.ts";
import type { LasConfig, PeerConfig } from "./las_config.ts";

/** The engine's `mesh` option of a loaded `las:` section; undefined without peers. */
export function meshOptions(
  c: LasConfig,
): { peers: MeshPeerConfig[]; teardownMs: number } | undefined {
  const peers = c.peers as PeerConfig[];
  if (peers.length === 0) return undefined;
  return {
    peers: peers.map((p) => {
      const ip = parseIp(p.address);
      if (!ip.ok) throw new ConfigError(`${p.at}: ${ip.reason}`);
      return p.udp
        ? { name: `${p.address}:1701`, transport: "udp", to: { ip: ip.value, port: 1701 } }
        : { name: p.address, transport: "ip", to: { ip: ip.value, port: 0 } };
    }),
    teardownMs: c.peer_teardown * 1000,
  };
}
