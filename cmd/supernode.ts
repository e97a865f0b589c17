/**
 * `l2 supernode`: the rendezvous and relay of the VPN. Nodes register with
 * it, broadcast through it, and fall back to it as a relay.
 *
 * This version parses and validates the supernode's configuration
 * (`--check-config`); the daemon itself lands with the VPN work (see README,
 * "Not supported yet") and refuses to start rather than pretend.
 *
 * @module
 */
import { command, constant, merge, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { hostPort, int, type Schema } from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  configOnlyDaemon,
  loadDaemon,
} from "./kit/cli.ts";

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
    }),
    commonDaemonOptions(),
  ),
  { brief: message`VPN supernode: registration, broadcast and relay for nodes` },
);

/** Parsed `l2 supernode` arguments. */
export type SupernodeArgs = CommonDaemonArgs & { cmd: "supernode"; listen?: string; id?: string };

/** Loads the supernode configuration from file and flags. */
export function loadSupernode(args: SupernodeArgs) {
  return loadDaemon("supernode", supernodeFields, args, {
    listen: { flag: "--listen", value: args.listen },
    id: { flag: "--id", value: args.id },
  });
}

/** Runs `l2 supernode`. */
export function runSupernode(args: SupernodeArgs): Promise<number> {
  return configOnlyDaemon("supernode", () => loadSupernode(args), args.checkConfig);
}
