/**
 * `l2 las`: the L2TPv3 access switch. Cisco routers configured with
 * `xconnect <las-ip> <vc-id> encapsulation l2tpv3` reach it over IP protocol
 * 115; every pseudowire with the same VC id lands on one virtual switch.
 *
 * This version parses and validates the LAS configuration
 * (`--check-config`); the daemon itself lands with the LAS work (see README,
 * "Not supported yet") and refuses to start rather than pretend.
 *
 * @module
 */
import { command, constant, merge, multiple, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { bool, int, ipAddress, list, type Schema, str } from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  configOnlyDaemon,
  loadDaemon,
} from "./kit/cli.ts";

/** Keys of a `las:` section. */
export const lasFields = {
  listen: list(ipAddress({ doc: "address" }), {
    doc: "local addresses that accept L2TPv3 (IP protocol 115); empty: all of them",
    default: [],
  }),
  udp: bool({ doc: "also accept L2TPv3 over UDP port 1701", default: false }),
  hostname: str({ doc: "Host Name AVP sent to peers; empty: the system host name", default: "" }),
  secret: str({
    doc: "shared secret for control message authentication (Message Digest AVP); empty: none",
    default: "",
  }),
  hello_interval: int({
    doc: "seconds between HELLOs on an idle connection",
    min: 5,
    max: 3600,
    default: 60,
  }),
  ...apiFields(7657),
} satisfies Schema;

/** `l2 las` command line. */
export const lasCommand = command(
  "las",
  merge(
    object({
      cmd: constant("las" as const),
      listen: multiple(option("--listen", string({ metavar: "ADDRESS" }), {
        description: message`local address for IP protocol 115; repeat for more (default: all)`,
      })),
      udp: optional(option("--udp", string({ metavar: "yes|no" }), {
        description: message`also accept L2TPv3 over UDP 1701`,
      })),
    }),
    commonDaemonOptions(),
  ),
  { brief: message`L2TPv3 access switch for Cisco xconnect pseudowires` },
);

/** Parsed `l2 las` arguments. */
export type LasArgs = CommonDaemonArgs & { cmd: "las"; listen: readonly string[]; udp?: string };

/** Loads the LAS configuration from file and flags. */
export function loadLas(args: LasArgs) {
  return loadDaemon("las", lasFields, args, {
    listen: { flag: "--listen", value: args.listen.length ? [...args.listen] : undefined },
    udp: { flag: "--udp", value: args.udp },
  });
}

/** Runs `l2 las`. */
export function runLas(args: LasArgs): Promise<number> {
  return configOnlyDaemon("las", () => loadLas(args), args.checkConfig);
}
