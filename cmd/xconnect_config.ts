/**
 * `l2 xconnect` configuration: the `xconnect:` section's keys
 * (`xconnectFields`), the command line (`xconnectCommand`) and how the
 * positional arguments and flags override the file (`loadXconnect`). The
 * wiring is cmd/xconnect.ts; README.md is the reference of every key.
 *
 * @module
 */
import { argument, command, constant, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { bool, ifname, type Infer, int, ipAddress, oneOf, type Schema, str } from "./kit/config.ts";
import { apiFields, examples, loadDaemon } from "./kit/cli.ts";

/** Keys of an `xconnect:` section. */
export const xconnectFields = {
  las: ipAddress({ doc: "the LAS's IPv4 address" }),
  backup: ipAddress({
    doc: "a backup LAS (IPv4): the session moves there when the primary's connection dies, and " +
      "back once the primary has answered for backup_delay; empty: none",
    default: "",
  }),
  backup_delay: int({
    doc: "seconds the primary's session must be up before frames return to it from the backup",
    min: 0,
    max: 3600,
    default: 5,
  }),
  vc: str({ doc: "VC id (sent as the Remote End ID, decimal text)", nonEmpty: true }),
  tap: ifname({ doc: "TAP device carrying the edge's frames", default: "l2x0" }),
  interface: str({
    doc: "an existing interface whose frames the pseudowire carries (instead of a TAP; put in " +
      "promiscuous mode, GRO/LRO off while running); empty: use the TAP",
    default: "",
  }),
  mtu: int({
    doc: "TAP MTU; 0: what fits a 1500-byte underlay (1454 over IP, 1442 over UDP)",
    min: 0,
    max: 9000,
    default: 0,
  }),
  udp: bool({ doc: "L2TPv3 over UDP port 1701 instead of IP protocol 115", default: false }),
  secret: str({
    doc: "shared secret for control message authentication; empty: none",
    default: "",
  }),
  digest: oneOf(["md5", "sha1"] as const, {
    doc: "HMAC of the Message Digest AVP when a secret is set",
    default: "md5",
  }),
  df: bool({
    doc: "set Don't Fragment on the L2TPv3 packets the edge sends; default clear, as a Cisco sends",
    default: false,
  }),
  hello_interval: int({
    doc: "seconds between HELLOs on an idle connection",
    min: 5,
    max: 3600,
    default: 60,
  }),
  ...apiFields(7658),
} satisfies Schema;

/** `l2 xconnect` command line. */
export const xconnectCommand = command(
  "xconnect",
  object({
    cmd: constant("xconnect" as const),
    las: optional(argument(string({ metavar: "LAS-IP" }), {
      description: message`the LAS address (or xconnect.NAME.las in the config)`,
    })),
    vc: optional(argument(string({ metavar: "VC-ID" }), {
      description: message`the VC id: every edge with the same id is on one virtual switch`,
    })),
    tap: optional(option("--tap", string({ metavar: "NAME" }), {
      description: message`TAP device to create or attach (default l2x0)`,
    })),
    iface: optional(option("--interface", string({ metavar: "IF" }), {
      description: message`carry an existing interface's frames instead of a TAP's`,
    })),
    backup: optional(option("--backup", string({ metavar: "LAS2-IP" }), {
      description: message`a backup LAS: used while the primary is down`,
    })),
    backupDelay: optional(option("--backup-delay", string({ metavar: "S" }), {
      description: message`seconds the primary must be back before the edge returns (default 5)`,
    })),
    udp: option("--udp", {
      description:
        message`use UDP 1701 instead of IP protocol 115 (--udp yes still works, deprecated)`,
    }),
    mtu: optional(option("--mtu", string({ metavar: "N" }), {
      description: message`TAP MTU (default: what fits a 1500-byte underlay)`,
    })),
    section: optional(option("--section", string({ metavar: "NAME" }), {
      description: message`config section under xconnect: (default: the only one, or "default")`,
    })),
    config: optional(option("-c", "--config", string({ metavar: "FILE" }), {
      description: message`config file (default /etc/l2/l2.yaml, read if it exists)`,
    })),
    api: optional(option("--api", string({ metavar: "HOST:PORT" }), {
      description: message`management endpoint address, or "off" (default 127.0.0.1:7658)`,
    })),
    checkConfig: option("--check-config", {
      description: message`validate the configuration, print it as the edge would run it, exit`,
    }),
  }),
  {
    brief: message`L2TPv3 edge: a TAP device as an xconnect pseudowire to a LAS`,
    footer: examples([
      [
        "a TAP device pw100 on VC 100 of the LAS at 192.0.2.1",
        "l2 xconnect 192.0.2.1 100 --tap pw100",
      ],
      [
        "carry an existing interface's frames instead",
        "l2 xconnect 192.0.2.1 100 --interface eth1",
      ],
      ["over UDP 1701 (through NAT)", "l2 xconnect 192.0.2.1 100 --udp"],
      ["run the section xconnect.pw1 of the config file", "l2 xconnect --section pw1"],
    ]),
  },
);

/** Parsed `l2 xconnect` arguments. */
export interface XconnectArgs {
  cmd: "xconnect";
  las?: string;
  vc?: string;
  tap?: string;
  backup?: string;
  backupDelay?: string;
  iface?: string;
  udp?: boolean;
  mtu?: string;
  section?: string;
  config?: string;
  api?: string;
  checkConfig?: boolean;
}

/** Loads the xconnect configuration from file and flags. */
export function loadXconnect(args: XconnectArgs) {
  return loadDaemon("xconnect", xconnectFields, { ...args, name: args.section }, {
    las: { flag: "LAS-IP", value: args.las },
    vc: { flag: "VC-ID", value: args.vc },
    tap: { flag: "--tap", value: args.tap },
    backup: { flag: "--backup", value: args.backup },
    backup_delay: { flag: "--backup-delay", value: args.backupDelay },
    interface: { flag: "--interface", value: args.iface },
    mtu: { flag: "--mtu", value: args.mtu },
    udp: { flag: "--udp", value: args.udp ? "yes" : undefined },
  });
}

/** The `xconnect:` section as loaded. */
export type XConfig = Infer<typeof xconnectFields>;
