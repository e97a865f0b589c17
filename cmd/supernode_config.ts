/**
 * `l2 supernode`'s configuration: the keys of a `supernode:` section (with
 * their documentation, which README.md's reference is checked against), the
 * command line, and loading both (cmd/kit/cli.ts `loadDaemon`).
 *
 * @module
 */
import { command, constant, merge, multiple, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  ConfigError,
  hostPort,
  type Infer,
  int,
  oneOf,
  path,
  type Schema,
  str,
} from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  examples,
  loadDaemon,
} from "./kit/cli.ts";
import { type FederationEntry, federationList, memberList } from "./vpn_security.ts";

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
  key: path({
    doc: "the supernode's private key file (l2 keygen); empty: <state_dir>/supernode.key, " +
      "created on first start",
    default: "",
  }),
  mode: oneOf(["members", "open"] as const, {
    doc: "members: only the listed public keys join; open: any node proving the network secret",
    default: "members",
  }),
  members: memberList(
    "public keys (base64) admitted in members mode; an entry { key, id, name } pins a node id",
  ),
  federation: federationList(
    "the other supernodes of the federation (docs/federation.md): each { id, address, key } " +
      "with its supernode id, IP:PORT and base64 public key; every one lists the others",
  ),
  secret: str({
    doc: "network secret: required in open mode; when set, every node needs the same",
    default: "",
  }),
  secret_file: path({ doc: "file holding the network secret (instead of secret)", default: "" }),
  state_dir: path({
    doc: "directory for the key and the id bindings; empty: /var/lib/l2/<section>",
    default: "",
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
      key: optional(option("--key", string({ metavar: "FILE" }), {
        description: message`private key file (default <state_dir>/supernode.key, created)`,
      })),
      member: multiple(option("--member", string({ metavar: "PUBKEY" }), {
        description: message`base64 public key of a node that may join; repeat for more`,
      })),
    }),
    commonDaemonOptions(),
  ),
  {
    brief: message`VPN supernode: registration, broadcast and relay for nodes`,
    footer: examples([
      ["admit two nodes by their public keys", "l2 supernode --member BASE64A= --member BASE64B="],
      ["run the section supernode.hub of the config file", "l2 supernode --section hub"],
      [
        "after editing members in the config file: apply them without a restart",
        "systemctl reload l2-supernode@hub   # or: kill -HUP PID",
      ],
      [
        "check a configuration; prints the key nodes need",
        "l2 supernode --section hub --check-config",
      ],
    ]),
  },
);

/** Parsed `l2 supernode` arguments. */
export type SupernodeArgs = CommonDaemonArgs & {
  cmd: "supernode";
  listen?: string;
  id?: string;
  key?: string;
  member?: readonly string[];
};

/** Loads the supernode configuration from file and flags. */
export async function loadSupernode(args: SupernodeArgs) {
  const d = await loadDaemon("supernode", supernodeFields, args, {
    listen: { flag: "--listen", value: args.listen },
    id: { flag: "--id", value: args.id },
    key: { flag: "--key", value: args.key },
    members: {
      flag: "--member",
      value: args.member && args.member.length ? [...args.member] : undefined,
    },
  });
  checkFederation(d.config);
  return d;
}

/**
 * The federation entries against the rest (after --id): our own id is
 * refused at the entry's file:line:col, and a federation needs an id 1..255.
 */
function checkFederation(c: { id: number; federation: readonly FederationEntry[] }): void {
  if (c.federation.length > 0 && c.id === 0) {
    throw new ConfigError("supernode.id: a federation needs supernode ids 1..255, not 0");
  }
  for (const f of c.federation) {
    if (f.id === c.id) {
      throw new ConfigError(`${f.at}: id ${f.id} is this supernode's own id (supernode.id)`);
    }
  }
}

/** A `supernode:` section, parsed. */
export type SnConfig = Infer<typeof supernodeFields>;
