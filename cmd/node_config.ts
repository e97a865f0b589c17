/**
 * `l2 node`'s configuration: the keys of a `node:` section (with their
 * documentation, which README.md's reference is checked against), the
 * command line, and loading both (cmd/kit/cli.ts `loadDaemon`).
 *
 * @module
 */
import { command, constant, merge, multiple, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  bool,
  cidr,
  fail,
  type Field,
  formatHostPort,
  type HostPort,
  hostPort,
  ifname,
  type Infer,
  int,
  intOrAuto,
  list,
  path,
  type Schema,
  section,
  str,
} from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  examples,
  loadDaemon,
} from "./kit/cli.ts";
import { memberList } from "./vpn_security.ts";
import { filterRules } from "./filter_config.ts";
import { fromBase64Key } from "./keygen.ts";
import { tapMtu } from "../core/vpn/constants.ts";
import { VPN_PORT } from "./supernode_config.ts";

/** Most supernodes a node lists (docs/federation.md). */
export const MAX_SUPERNODES = 8;

/** A base64 X25519 public key (required). */
const publicKeyField: Field<string> = {
  type: "base64 public key",
  doc: "the supernode's base64 public key (its log prints it at start)",
  default: undefined,
  defaultText: "(required)",
  parse(v, w) {
    const x = str({ doc: "" }).parse(v, w);
    if (fromBase64Key(x) === null) fail(w, "a base64 X25519 public key (44 characters)", x);
    return x;
  },
};

const supernodeEntry = section({
  address: hostPort({
    doc: "the supernode's UDP address (port 7654 if left out)",
    defaultPort: VPN_PORT,
  }),
  key: publicKeyField,
}, { doc: "a supernode: { address, key }" });

/** `supernodes:` a list of at most MAX_SUPERNODES `{ address, key }`, the first preferred. */
const supernodeList: Field<{ address: HostPort; key: string }[]> = {
  type: "list of { address, key }",
  doc: "supernodes, the first preferred: attached to one, a ready standby with the next, " +
    "moves in seconds when its supernode falls silent (docs/federation.md); instead of " +
    "supernode and supernode_key",
  default: [],
  defaultText: "[]",
  parse(v, w) {
    const out = list(supernodeEntry, { doc: "" }).parse(v, w);
    if (out.length > MAX_SUPERNODES) {
      fail(w, `at most ${MAX_SUPERNODES} supernodes`, `${out.length}`);
    }
    const seen = new Set<string>();
    for (const [i, e] of out.entries()) {
      const a = formatHostPort(e.address);
      if (seen.has(a)) fail({ ...w, path: `${w.path}[${i}].address` }, "each supernode once", a);
      seen.add(a);
    }
    return out;
  },
};

/** `supernode:` required unless `supernodes` is given (startNode checks: one of the two). */
const optionalSupernode: Field<HostPort | null> = {
  ...hostPort({
    doc: "the supernode's UDP address (port 7654 if left out)",
    defaultPort: VPN_PORT,
  }),
  default: null,
  defaultText: "(required unless supernodes)",
};

/** Keys of a `node:` section. */
export const nodeFields = {
  supernode: optionalSupernode,
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
    doc: `TAP MTU; ${tapMtu(1500)} fits the encapsulation in a 1500-byte IPv4 or IPv6 underlay`,
    min: 576,
    max: 9000,
    default: tapMtu(1500),
  }),
  offload: bool({
    doc: "TAP checksum and TCP segmentation offloads (IFF_VNET_HDR), UDP GSO and GRO: the kernel " +
      "hands over TCP segments up to 64 KiB, cut to the MTU in l2 (about twice the TCP " +
      "throughput); falls back without when the kernel refuses",
    default: true,
  }),
  listen: hostPort({
    doc: "local UDP address of the node; port 0: any free port",
    default: { host: "::", port: 0 },
    defaultPort: 0,
    allowZero: true,
  }),
  network: int({
    doc: "network id (n2n's community): nodes see only nodes of their network",
    min: 0,
    max: 65535,
    default: 0,
  }),
  state_dir: path({
    doc: "directory for the node key and the MAT leaf table; empty: /var/lib/l2/<section>",
    default: "",
  }),
  key: path({
    doc: "the node's private key file (l2 keygen); empty: <state_dir>/node.key, created on " +
      "first start",
    default: "",
  }),
  supernodes: supernodeList,
  supernode_key: str({
    doc: "the supernode's base64 public key (required: its log prints it at start)",
    default: "",
  }),
  punch_ttl: int({
    doc: "TTL of the first hole punching probes: enough to pass this node's own NAT routers, " +
      "too little to reach the peer's (whose NAT would track them as unsolicited); 0: full TTL",
    min: 0,
    max: 255,
    default: 2,
  }),
  peers: memberList(
    "public keys (base64) of the peers this node accepts (an entry { key, id, name } also " +
      "fixes the node id); empty: trust the first key seen for each node id and pin it " +
      "(<state_dir>/peer_pins.json)",
  ),
  secret: str({ doc: "network secret, when the supernode has one (open mode)", default: "" }),
  secret_file: path({ doc: "file holding the network secret (instead of secret)", default: "" }),
  filter: filterRules(int({ doc: "node id", min: 1, max: 65534 }), {
    doc: "frame filter of the network (docs/filters.md): rules in order, each a tcpdump " +
      "expression or a guard (dhcp_server, ra_guard: allowed node ids; mdns, ssdp, llmnr); " +
      "judges frames from the TAP before sealing and frames from peers after opening",
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
        description: message`TAP MTU (default 1382)`,
      })),
      key: optional(option("--key", string({ metavar: "FILE" }), {
        description: message`private key file (default <state_dir>/node.key, created)`,
      })),
      supernodeKey: optional(option("--supernode-key", string({ metavar: "PUBKEY" }), {
        description: message`the supernode's base64 public key (required)`,
      })),
    }),
    commonDaemonOptions(),
  ),
  {
    brief: message`VPN node: bridges a TAP device into the virtual Ethernet, with MAT`,
    footer: examples([
      [
        "join the supernode at 203.0.113.1 with an address on the VPN",
        "l2 node --supernode 203.0.113.1 --supernode-key KEY= --address 10.9.0.2/24",
      ],
      ["run the section node.site-b of the config file", "l2 node --section site-b"],
      [
        "check a configuration and see the paths and key it will use",
        "l2 node --section site-b --check-config",
      ],
      [
        "print the node's public key (for the supernode's members)",
        "l2 keygen --public /var/lib/l2/site-b/node.key",
      ],
    ]),
  },
);

/** Parsed `l2 node` arguments. */
export type NodeArgs = CommonDaemonArgs & {
  cmd: "node";
  supernode?: string;
  id?: string;
  tap?: string;
  address: readonly string[];
  mtu?: string;
  key?: string;
  supernodeKey?: string;
};

/** Loads the node configuration from file and flags. */
export function loadNode(args: NodeArgs) {
  return loadDaemon("node", nodeFields, args, {
    supernode: { flag: "--supernode", value: args.supernode },
    id: { flag: "--id", value: args.id },
    tap: { flag: "--tap", value: args.tap },
    mtu: { flag: "--mtu", value: args.mtu },
    key: { flag: "--key", value: args.key },
    supernode_key: { flag: "--supernode-key", value: args.supernodeKey },
    address: { flag: "--address", value: args.address.length ? [...args.address] : undefined },
  });
}

/** A `node:` section, parsed. */
export type NodeConfig = Infer<typeof nodeFields>;
