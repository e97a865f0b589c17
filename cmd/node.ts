/**
 * `l2 node`: a VPN edge. Bridges a TAP device into the virtual Ethernet,
 * translating the MACs of the hosts behind it (MAT).
 *
 * This version parses and validates the node's configuration
 * (`--check-config`); the daemon itself lands with the VPN work (see README,
 * "Not supported yet") and refuses to start rather than pretend.
 *
 * @module
 */
import { command, constant, merge, multiple, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { cidr, hostPort, ifname, int, intOrAuto, list, type Schema } from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  configOnlyDaemon,
  loadDaemon,
} from "./kit/cli.ts";
import { VPN_PORT } from "./supernode.ts";

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
    doc: "TAP MTU; 1400 fits the encapsulation in a 1500-byte underlay",
    min: 576,
    max: 9000,
    default: 1400,
  }),
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
        description: message`TAP MTU (default 1400)`,
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
};

/** Loads the node configuration from file and flags. */
export function loadNode(args: NodeArgs) {
  return loadDaemon("node", nodeFields, args, {
    supernode: { flag: "--supernode", value: args.supernode },
    id: { flag: "--id", value: args.id },
    tap: { flag: "--tap", value: args.tap },
    mtu: { flag: "--mtu", value: args.mtu },
    address: { flag: "--address", value: args.address.length ? [...args.address] : undefined },
  });
}

/** Runs `l2 node`. */
export function runNode(args: NodeArgs): Promise<number> {
  return configOnlyDaemon("node", () => loadNode(args), args.checkConfig);
}
