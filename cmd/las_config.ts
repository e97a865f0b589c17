/**
 * `l2 las` configuration: the `las:` section's keys (`lasFields`, with the
 * per-switch policy `switchFields`), the command line (`lasCommand`), how
 * flags override the file (`loadLas`), and what the keys become for the
 * engine (`switchOptions`). The wiring is cmd/las.ts; README.md is the
 * reference of every key.
 *
 * @module
 */
import { command, constant, merge, multiple, object, option } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  bool,
  cidr,
  ConfigError,
  fail,
  type Field,
  type Infer,
  int,
  intIn,
  ipAddress,
  isIPv4,
  list,
  mapOf,
  oneOf,
  overrides,
  parseSection,
  type Schema,
  section,
  str,
  type Where,
} from "./kit/config.ts";
import {
  apiFields,
  type CommonDaemonArgs,
  commonDaemonOptions,
  examples,
  loadDaemon,
} from "./kit/cli.ts";
import type { SwitchOptions } from "../core/switch.ts";
import { filterRules } from "./filter_config.ts";
import { peerOrigin } from "../core/las/vc_filter.ts";

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
    doc: "forward 01:80:C2:00:00:0x frames (LACP, LLDP, 802.1X; STP BPDUs also need allow_llc)",
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

/** Keys of an entry of `las: NAME: peers:`, another LAS server of the mesh. */
export const peerFields = {
  address: ipAddress({ doc: "the peer LAS's address (IPv4)" }),
  udp: bool({
    doc: "L2TPv3 over UDP port 1701 to this peer (needs udp: true) instead of IP protocol 115",
    default: false,
  }),
} satisfies Schema;

/** A `peers:` entry as loaded, with where it was written (for errors that span keys). */
export type PeerConfig = Infer<typeof peerFields> & { at: string };

function where(w: Where): string {
  const range = w.node?.range;
  if (w.lines && range) {
    const { line, col } = w.lines.linePos(range[0]);
    return `${w.file}:${line}:${col}: ${w.path}`;
  }
  return `${w.file}: ${w.path}`;
}

/** One `peers:` entry: `{ address: 192.0.2.2, udp: false }`. */
const peerEntry: Field<PeerConfig> = {
  type: "mapping",
  doc: "a peer LAS",
  default: undefined,
  defaultText: "",
  parse: (v: unknown, w: Where) => {
    const p = parseSection(peerFields, v, w);
    if (!isIPv4(p.address)) {
      fail(
        { ...w, path: `${w.path}.address` },
        "expected an IPv4 address (the LAS speaks L2TPv3 over IPv4 only)",
        p.address,
      );
    }
    return { ...p, at: where(w) };
  },
};

/** An L2TPv3 peer's IPv4 address, as the LAS's filter guards name an origin (core/las/vc_filter.ts). */
function peerAddress(): Field<number> {
  const a = ipAddress({ doc: "L2TPv3 peer IPv4 address" });
  return {
    ...a,
    type: "IPv4 address of an L2TPv3 peer",
    parse: (v, w) => {
      const n = peerOrigin(a.parse(v, w));
      if (n === 0) fail(w, "expected the IPv4 address of an L2TPv3 peer", a.parse(v, w));
      return n;
    },
  } as Field<number>;
}

/** Keys of `las: NAME: vcs: ID:`: the switch policy's, and the VC's frame filter. */
export const vcFields = {
  ...switchFields,
  filter: filterRules(peerAddress(), {
    doc: "frame filter of the VC (docs/filters.md): rules in order, each a tcpdump expression " +
      "or a guard (dhcp_server, ra_guard: allowed peer addresses; mdns, ssdp, llmnr), judging " +
      "frames entering the VC's switch; a string: pass only what it matches",
  }),
} satisfies Schema;

/** Keys of a `las:` section. */
export const lasFields = {
  listen: list(ipAddress({ doc: "address" }), {
    doc: "local addresses that accept L2TPv3 (IP protocol 115); empty: all of them",
    default: [],
  }),
  udp: bool({ doc: "also accept L2TPv3 over UDP port 1701", default: false }),
  allow: list(cidr({ doc: "prefix" }), {
    doc: "peer prefixes (IPv4 or IPv6 CIDR) whose control messages are taken; empty: any peer",
    default: [],
  }),
  max_pending_per_peer: int({
    doc: "control connection handshakes in progress from one peer address (IPv6: one /64)",
    min: 1,
    max: 256,
    default: 4,
  }),
  max_connections_per_peer: int({
    doc: "control connections from one peer address (IPv6: one /64)",
    min: 1,
    max: 256,
    default: 8,
  }),
  df: bool({
    doc: "set Don't Fragment on the L2TPv3 packets the LAS sends; default clear, as a Cisco sends",
    default: false,
  }),
  hostname: str({ doc: "Host Name AVP sent to peers; empty: the system host name", default: "" }),
  secret: str({
    doc: "shared secret for control message authentication (Message Digest AVP); empty: none",
    default: "",
  }),
  digest: oneOf(["md5", "sha1"] as const, {
    doc: "HMAC of the Message Digest AVP when a secret is set",
    default: "md5",
  }),
  hello_interval: int({
    doc: "seconds of silence from a peer before the LAS sends it a HELLO",
    min: 1,
    max: 3600,
    default: 60,
  }),
  retransmits: int({
    doc: "retransmissions (1 s doubling to 8 s) before a silent peer is declared dead",
    min: 1,
    max: 10,
    default: 5,
  }),
  cookie: intIn([0, 4, 8], {
    doc: "length of the cookie the LAS asks each peer to put in its data packets",
    default: 0,
  }),
  max_switches: int({ doc: "most virtual switches (VC ids)", min: 1, max: 65535, default: 1024 }),
  peers: list(peerEntry, {
    doc: "other LAS servers whose virtual switches this one joins (the mesh; needs secret)",
    default: [],
  }),
  peer_teardown: int({
    doc: "seconds a session with a peer LAS stays while neither side has edges on its VC",
    min: 1,
    max: 3600,
    default: 30,
  }),
  switch: section(switchFields, { doc: "policy of every virtual switch" }),
  vcs: mapOf(overrides(vcFields, { doc: "switch keys to override for this VC, and its filter" }), {
    doc: "per-VC overrides of the switch policy, by VC id (decimal, or 0x-hex for other ids)",
    keyText: "VC ids",
    key: (name) =>
      /^\d{1,10}$/.test(name) && Number(name) <= 0xffff_ffff || /^0x([0-9a-f]{2})+$/i.test(name)
        ? null
        : "expected a VC id: a decimal number up to 4294967295, or 0x followed by hex bytes",
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
      udp: option("--udp", {
        description: message`also accept L2TPv3 over UDP 1701 (--udp yes still works, deprecated)`,
      }),
    }),
    commonDaemonOptions(),
  ),
  {
    brief: message`L2TPv3 access switch for Cisco xconnect pseudowires`,
    footer: examples([
      ["accept pseudowires on one address, IP protocol 115", "l2 las --listen 192.0.2.1"],
      ["also accept L2TPv3 over UDP 1701 (edges behind NAT)", "l2 las --udp"],
      ["run the section las.core of the config file", "l2 las --section core"],
      ["sessions and switches of a running LAS", "l2 status --api 127.0.0.1:7657"],
    ]),
  },
);

/** Parsed `l2 las` arguments. */
export type LasArgs = CommonDaemonArgs & { cmd: "las"; listen: readonly string[]; udp?: boolean };

/** Loads the LAS configuration from file and flags. */
export async function loadLas(args: LasArgs) {
  const d = await loadDaemon("las", lasFields, args, {
    listen: { flag: "--listen", value: args.listen.length ? [...args.listen] : undefined },
    udp: { flag: "--udp", value: args.udp ? "yes" : undefined },
  });
  checkPeers(d.config);
  return d;
}

/**
 * The mesh's rules across keys: `peers` needs a `secret` (every peer-LAS
 * connection is authenticated), a UDP peer needs `udp: true`, and an address
 * is listed once per transport. Errors point at the peer entry.
 */
export function checkPeers(c: LasConfig): void {
  const peers = c.peers as PeerConfig[];
  if (peers.length > 0 && c.secret === "") {
    throw new ConfigError(
      `${peers[0].at}: a mesh of LAS servers needs a shared secret (las secret:), the same on ` +
        "every server: peer-LAS connections are authenticated with it",
    );
  }
  const seen = new Set<string>();
  for (const p of peers) {
    if (p.udp && !c.udp) {
      throw new ConfigError(`${p.at}: udp: true needs the LAS's own udp: true (UDP port 1701)`);
    }
    const k = `${p.udp ? "udp" : "ip"}|${p.address}`;
    if (seen.has(k)) throw new ConfigError(`${p.at}: peer ${p.address} is listed twice`);
    seen.add(k);
  }
}

/** The switch options of a `switch:` section. */
export function switchOptions(c: Infer<typeof switchFields>): SwitchOptions {
  const storm: SwitchOptions["storm"] = {};
  const limit = (rate: number) => ({ rate, burst: Math.max(1, Math.ceil(rate / 10)) });
  if (c.storm_broadcast > 0) storm.broadcast = limit(c.storm_broadcast);
  if (c.storm_multicast > 0) storm.multicast = limit(c.storm_multicast);
  if (c.storm_unknown_unicast > 0) storm.unknownUnicast = limit(c.storm_unknown_unicast);
  return {
    agingMs: c.aging * 1000,
    maxMacs: c.max_macs,
    maxMacsPerPort: Math.min(c.max_macs_per_session, c.max_macs),
    limitAction: c.limit_action,
    filter: {
      allowLinkLocal: c.allow_link_local,
      allowLlc: c.allow_llc,
      allowVlanTagged: c.allow_vlan_tagged,
      allowOtherEthertypes: c.allow_other_ethertypes,
    },
    storm,
  };
}

/** The `las:` section as loaded. */
export type LasConfig = Infer<typeof lasFields>;

/**
 * The start line that says which peers the LAS takes, e.g. "accepting
 * L2TPv3 peers from anywhere (no allow list, no secret)".
 */
export function acceptingLine(allow: readonly string[], secret: boolean): string {
  const who = allow.length === 0 ? "anywhere" : allow.join(", ");
  const how = allow.length === 0
    ? (secret ? "no allow list; shared secret required" : "no allow list, no secret")
    : (secret ? "shared secret required" : "no secret");
  return `accepting L2TPv3 peers from ${who} (${how})`;
}
