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
import {
  bool,
  int,
  intIn,
  ipAddress,
  list,
  oneOf,
  type Schema,
  section,
  str,
} from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  configOnlyDaemon,
  loadDaemon,
} from "./kit/cli.ts";

const pps = (what: string) =>
  int({
    doc: `storm control: most ${what} frames per second a session may flood; 0: no limit`,
    min: 0,
    max: 10_000_000,
    default: 0,
  });

/** Keys of `las: NAME: switch:`, the policy of every virtual switch. */
export const switchFields = {
  aging: int({
    doc: "seconds a MAC entry lives after its last frame",
    min: 10,
    max: 86400,
    default: 300,
  }),
  max_macs: int({
    doc: "most MAC entries per virtual switch",
    min: 1,
    max: 1_000_000,
    default: 8192,
  }),
  max_macs_per_session: int({
    doc: "most MAC entries learned from one session",
    min: 1,
    max: 1_000_000,
    default: 1024,
  }),
  limit_action: oneOf(["restrict", "forward"] as const, {
    doc: "a frame from a MAC over a limit: dropped (restrict) or forwarded unlearned",
    default: "restrict",
  }),
  allow_link_local: bool({
    doc: "forward 01:80:C2:00:00:0x frames (STP BPDUs, LACP, LLDP, 802.1X)",
    default: false,
  }),
  allow_llc: bool({ doc: "forward 802.3/LLC frames (NetBEUI, IPX over LLC...)", default: false }),
  allow_vlan_tagged: bool({ doc: "forward 802.1Q / 802.1ad tagged frames", default: false }),
  allow_other_ethertypes: bool({
    doc: "forward EtherTypes other than IPv4, ARP and IPv6",
    default: false,
  }),
  storm_broadcast: pps("broadcast"),
  storm_multicast: pps("multicast"),
  storm_unknown_unicast: pps("unknown unicast"),
} satisfies Schema;

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
  cookie: intIn([0, 4, 8], {
    doc: "length of the cookie the LAS asks each peer to put in its data packets",
    default: 0,
  }),
  max_switches: int({ doc: "most virtual switches (VC ids)", min: 1, max: 65535, default: 1024 }),
  switch: section(switchFields, { doc: "policy of every virtual switch" }),
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
