/**
 * Frame filters: a named, counted, ordered rule set over Ethernet frames,
 * and the named guards operators need most.
 *
 * A rule is a name, a matcher and an action. `FilterSet.decide(frame,
 * origin, now)` tries the rules in order; the first rule whose matcher
 * matches decides, as in a router's access list:
 *
 * - `"drop"`: the frame is dropped;
 * - `"pass"`: the frame passes (an exception before later drops);
 * - `{ limit: { rate, burst } }`: the frame passes while the rule's token
 *   bucket has a token at `now`, else it is dropped. One bucket per rule,
 *   shared by every origin: it caps what the rule lets through in total.
 *
 * A frame no rule matches gets the set's default action (`"pass"` unless
 * told). Every rule counts its hits (frames it matched) and the frames it
 * dropped. Nothing throws on any frame.
 *
 * Matchers:
 *
 * - `bpfMatcher(program)`: a classic BPF program (`core/bpf.ts`), in
 *   practice a tcpdump expression compiled by libpcap (`ffi/pcap.ts`);
 *   matches when the program accepts the frame.
 * - `dhcpServerGuard(allowed)`: DHCP server messages from an origin that is
 *   not `allowed(origin)`. A DHCPv4 server message is UDP to the client port
 *   68, or from the server port 67 unless it is a whole BOOTREQUEST (a relay
 *   forwarding a client's request, RFC 2131 section 4.1, RFC 1542): OFFER,
 *   ACK, NAK and plain BOOTP replies alike. DHCPv6 (RFC 8415 section 7.2):
 *   UDP to the client port 546, or from the server/relay port 547 to any port
 *   but 547 (ADVERTISE, REPLY, RECONFIGURE; relay-to-relay traffic on 547 is
 *   not judged). The first fragment of a fragmented datagram is judged by
 *   its ports; later fragments cannot be (they carry no UDP header) and
 *   pass: without their first fragment they never reassemble.
 * - `raGuard(allowed)`: ICMPv6 Router Advertisements (type 134, RFC 4861
 *   section 4.2) from an origin that is not allowed, found behind the
 *   extension headers `core/wire/ipv6.ts` walks (Hop-by-Hop, Routing,
 *   Fragment, Destination Options; up to 8). As RFC 7113 asks, a packet
 *   with a link-local source whose header chain cannot be followed to its
 *   upper layer (truncated, too long, or cut by fragmentation inside the
 *   first fragment) is treated as an advertisement too; hosts accept RAs
 *   only from link-local sources (RFC 4861 section 6.1.2).
 * - `multicastUdpMatcher(name, port)` and the three presets `mdnsMatcher`
 *   (UDP 5353, RFC 6762), `ssdpMatcher` (UDP 1900, UPnP) and `llmnrMatcher`
 *   (UDP 5355, RFC 4795): UDP to that port whose IP destination is
 *   multicast (224.0.0.0/4 or ff00::/8), whoever sent it. Unicast replies
 *   (and mDNS's unicast queries) are not matched.
 *
 * Origin: a number the caller gives with each frame, e.g. the VPN node id a
 * frame came from (its own id for frames from its TAP) or a LAS session. The
 * guards' `allowed` is a predicate on it; `originIn(ids)` builds one.
 *
 * Headers are read through the `core/wire/` views, up to two VLAN tags
 * deep; one `FrameHeaders` is bound per frame for every guard of a set.
 *
 * Not done here: IPv4 options or fragments as guard evasion beyond the
 * first fragment, DHCPv6 relay messages between relays, per-origin rate
 * limits, IGMP/MLD snooping (the multicast part of issue 20), wiring into
 * the daemons (`docs/filters.md` says what is wired).
 *
 * @module
 */
import type { BpfProgram } from "./bpf.ts";
import { checkRateLimit, type RateLimit, TokenBucket } from "./token_bucket.ts";
import { BOOTP_OP, DHCP_PORT, DhcpMessage } from "./wire/dhcpv4.ts";
import { EthernetFrame, ETHERTYPE } from "./wire/ethernet.ts";
import { ICMPV6_TYPE, Icmpv6Packet } from "./wire/icmpv6.ts";
import { IP_PROTO, Ipv4Packet } from "./wire/ipv4.ts";
import { Ipv6Packet, NEXT_HEADER } from "./wire/ipv6.ts";
import { UdpDatagram } from "./wire/udp.ts";

/** What a rule does with a frame it matches. */
export type RuleAction = "drop" | "pass" | { limit: RateLimit };

/** Decides whether a frame is one a rule is about. */
export interface FrameMatcher {
  /** What kind of matcher, for status ("bpf", "dhcp_server", "ra_guard", "mdns", ...). */
  readonly kind: string;
  /** True when `matches` reads `headers` (the set then binds them once per frame). */
  readonly usesHeaders: boolean;
  /** True when `frame` (from `origin`) is one the rule is about. Never throws. */
  matches(frame: Uint8Array, origin: number, headers: FrameHeaders): boolean;
}

/** One rule of a set. */
export interface FilterRule {
  /** Shown in status and logs; unique in a set. */
  name: string;
  match: FrameMatcher;
  action: RuleAction;
}

/** A rule's counters, as status shows them. */
export interface FilterRuleStatus {
  name: string;
  kind: string;
  /** "drop", "pass" or "limit RATE/s burst BURST". */
  action: string;
  /** Frames the rule matched (and so decided). */
  hits: number;
  /** Of those, frames dropped (all of them for "drop"; over the rate for a limit). */
  dropped: number;
}

/** Most rules in one set (config-time bound; guards count as rules). */
export const MAX_RULES = 256;

/** UDP ports of the DHCPv6 client and server/relay agents (RFC 8415 section 7.2). */
export const DHCPV6_PORT = { CLIENT: 546, SERVER: 547 } as const;
/** UDP ports of the multicast discovery protocols the presets match. */
export const DISCOVERY_PORT = { MDNS: 5353, SSDP: 1900, LLMNR: 5355 } as const;

/** `decide()`'s result when the frame passes. */
export const PASS = -1;

/**
 * An ordered, counted rule set.
 *
 * @example
 * ```ts
 * import { FilterSet, mdnsMatcher, PASS } from "./filter.ts";
 * const set = new FilterSet([{ name: "mdns", match: mdnsMatcher(), action: "drop" }], 0);
 * set.decide(new Uint8Array(60), 7, 0) === PASS; // true: not mDNS
 * set.snapshot()[0].hits; // 0
 * ```
 */
export class FilterSet {
  readonly #rules: FilterRule[];
  readonly #matchers: FrameMatcher[];
  readonly #drop: boolean[];
  readonly #buckets: (TokenBucket | null)[];
  readonly #hits: Float64Array;
  readonly #dropped: Float64Array;
  readonly #defaultDrop: boolean;
  readonly #headers = new FrameHeaders();
  readonly #bindHeaders: boolean;
  #defaultHits = 0;

  /**
   * Builds the set at time `now` (rate-limit buckets start full). Throws
   * RangeError on more than `MAX_RULES` rules, a repeated or empty name, or
   * an unusable rate limit (config time).
   */
  constructor(rules: readonly FilterRule[], now: number, defaultAction: "pass" | "drop" = "pass") {
    if (rules.length > MAX_RULES) {
      throw new RangeError(`Cannot build filter: ${rules.length} rules, at most ${MAX_RULES}`);
    }
    const names = new Set<string>();
    for (const r of rules) {
      if (typeof r.name !== "string" || r.name === "") {
        throw new RangeError("Cannot build filter: a rule has no name");
      }
      if (names.has(r.name)) throw new RangeError(`Cannot build filter: two rules named ${r.name}`);
      names.add(r.name);
      if (typeof r.action === "object") {
        const bad = checkRateLimit(r.action.limit);
        if (bad !== null) throw new RangeError(`Cannot build filter: rule ${r.name}: ${bad}`);
      }
    }
    this.#rules = rules.map((r) => ({ ...r }));
    this.#matchers = rules.map((r) => r.match);
    this.#drop = rules.map((r) => r.action === "drop");
    this.#buckets = rules.map((r) =>
      typeof r.action === "object" ? new TokenBucket(r.action.limit, now) : null
    );
    this.#hits = new Float64Array(rules.length);
    this.#dropped = new Float64Array(rules.length);
    this.#defaultDrop = defaultAction === "drop";
    this.#bindHeaders = rules.some((r) => r.match.usesHeaders);
  }

  /** Number of rules. */
  get size(): number {
    return this.#rules.length;
  }

  /**
   * The verdict on `frame` from `origin` at `now`: `PASS` (-1), or the index
   * of the rule that dropped it (`size` when no rule matched and the default
   * drops). Counts. Never throws; allocates nothing.
   */
  decide(frame: Uint8Array, origin: number, now: number): number {
    const ms = this.#matchers;
    const h = this.#headers;
    if (this.#bindHeaders) h.bind(frame);
    for (let i = 0; i < ms.length; i++) {
      if (!ms[i].matches(frame, origin, h)) continue;
      this.#hits[i]++;
      const b = this.#buckets[i];
      if (this.#drop[i] || (b !== null && !b.take(now))) {
        this.#dropped[i]++;
        return i;
      }
      return PASS;
    }
    this.#defaultHits++;
    return this.#defaultDrop ? ms.length : PASS;
  }

  /** The name of rule `i` (what `decide` returned), or "default". */
  ruleName(i: number): string {
    return i >= 0 && i < this.#rules.length ? this.#rules[i].name : "default";
  }

  /** Counters per rule, in order, then the default as a last entry named "default". */
  snapshot(): FilterRuleStatus[] {
    const out = this.#rules.map((r, i) => ({
      name: r.name,
      kind: r.match.kind,
      action: actionText(r.action),
      hits: this.#hits[i],
      dropped: this.#dropped[i],
    }));
    out.push({
      name: "default",
      kind: "default",
      action: this.#defaultDrop ? "drop" : "pass",
      hits: this.#defaultHits,
      dropped: this.#defaultDrop ? this.#defaultHits : 0,
    });
    return out;
  }
}

/** How an action reads in status. */
export function actionText(a: RuleAction): string {
  return typeof a === "string" ? a : `limit ${a.limit.rate}/s burst ${a.limit.burst}`;
}

/**
 * The headers of one frame as the guards need them, found once per frame
 * through the `core/wire/` views: the IP version, the upper-layer protocol
 * and where it starts, whether it is in this packet (not a later fragment),
 * and the UDP ports.
 */
export class FrameHeaders {
  readonly eth = new EthernetFrame();
  readonly ipv4 = new Ipv4Packet();
  readonly ipv6 = new Ipv6Packet();
  readonly udp = new UdpDatagram();
  /** 4, 6, or 0 when the frame is not an IP packet the views accept. */
  ip = 0;
  /** Upper-layer protocol (IPv4 protocol, IPv6 last Next Header), or -1. */
  proto = -1;
  /** Absolute offset of the upper-layer header. */
  upperOffset = 0;
  /** Bytes of the upper layer in this packet. */
  upperLength = 0;
  /** False in an IP fragment other than the first: the upper-layer header is elsewhere. */
  upperHere = false;
  /** True in a first fragment (more fragments follow): the upper layer is cut short. */
  firstFragment = false;
  /** IPv6 whose extension header chain could not be followed (`ip6` then holds the fixed header). */
  chainBroken = false;
  /** UDP ports when `proto` is UDP and its header is here, else -1. */
  srcPort = -1;
  dstPort = -1;

  /** Finds the headers of `frame`. Never throws. */
  bind(frame: Uint8Array): void {
    this.ip = 0;
    this.proto = -1;
    this.upperOffset = this.upperLength = 0;
    this.upperHere = this.firstFragment = this.chainBroken = false;
    this.srcPort = this.dstPort = -1;
    const eth = this.eth;
    if (eth.checkHeader(frame) !== "ok") return;
    const type = eth.typeOrLength;
    const off = eth.payloadOffset;
    if (type === ETHERTYPE.IPV4) {
      const p = this.ipv4;
      if (p.check(frame, off) !== "ok") return;
      this.ip = 4;
      this.proto = p.protocol;
      this.upperOffset = p.payloadOffset;
      this.upperLength = p.payloadLength;
      this.upperHere = p.fragmentOffset === 0;
      this.firstFragment = this.upperHere && p.moreFragments;
    } else if (type === ETHERTYPE.IPV6) {
      const p = this.ipv6;
      const why = p.check(frame, off);
      if (why === "ok") {
        this.ip = 6;
        this.proto = p.upperProtocol;
        this.upperOffset = p.upperOffset;
        this.upperLength = p.upperLength;
        this.upperHere = p.upperInThisPacket;
        this.firstFragment = this.upperHere && p.isFragment;
      } else if (
        why === "ipv6-ext-truncated" || why === "ipv6-too-many-ext" || why === "ipv6-hbh-not-first"
      ) {
        if (p.checkHeader(frame, off) !== "ok") return;
        this.ip = 6;
        this.chainBroken = true;
        return;
      } else return;
    } else return;
    if (this.proto === IP_PROTO.UDP && this.upperHere) {
      const u = this.udp;
      // A first fragment holds the ports but not the whole datagram.
      if (u.checkHeader(frame, this.upperOffset, this.upperLength) === "ok") {
        this.srcPort = u.srcPort;
        this.dstPort = u.dstPort;
      }
    }
  }

  /** True when the IP destination is multicast. */
  get dstIsMulticast(): boolean {
    return this.ip === 4 ? this.ipv4.dstIsMulticast : this.ip === 6 && this.ipv6.dstIsMulticast;
  }
}

/** A matcher for a verified BPF program: matches when it accepts the frame. */
export function bpfMatcher(program: BpfProgram): FrameMatcher {
  return {
    kind: "bpf",
    usesHeaders: false,
    matches: (frame) => program.run(frame) !== 0,
  };
}

/** An origin predicate from a list of ids. */
export function originIn(ids: Iterable<number>): (origin: number) => boolean {
  const set = new Set(ids);
  return (origin) => set.has(origin);
}

/** DHCP server messages (v4 and v6) from an origin `allowed` refuses. */
export function dhcpServerGuard(allowed: (origin: number) => boolean): FrameMatcher {
  const dhcp = new DhcpMessage();
  const udp = new UdpDatagram();
  const isServerMessage = (frame: Uint8Array, h: FrameHeaders): boolean => {
    if (h.srcPort < 0) return false;
    if (h.ip === 4) {
      if (h.dstPort === DHCP_PORT.CLIENT) return true;
      if (h.srcPort !== DHCP_PORT.SERVER) return false;
      // From port 67: only a whole BOOTREQUEST (a relay forwarding to a server) is not a server's.
      if (h.firstFragment || udp.check(frame, h.upperOffset, h.upperLength) !== "ok") return true;
      if (dhcp.check(frame, udp.payloadOffset, udp.payloadLength) !== "ok") return true;
      return dhcp.op !== BOOTP_OP.REQUEST;
    }
    return h.dstPort === DHCPV6_PORT.CLIENT ||
      (h.srcPort === DHCPV6_PORT.SERVER && h.dstPort !== DHCPV6_PORT.SERVER);
  };
  return {
    kind: "dhcp_server",
    usesHeaders: true,
    matches: (frame, origin, h) => isServerMessage(frame, h) && !allowed(origin),
  };
}

/** IPv6 Router Advertisements (and RA-capable packets hiding their header chain) from an origin `allowed` refuses. */
export function raGuard(allowed: (origin: number) => boolean): FrameMatcher {
  const icmp = new Icmpv6Packet();
  const isRa = (frame: Uint8Array, h: FrameHeaders): boolean => {
    if (h.ip !== 6) return false;
    if (h.chainBroken) return h.ipv6.srcIsLinkLocal;
    if (h.proto !== NEXT_HEADER.ICMPV6 || !h.upperHere) return false;
    if (icmp.check(frame, h.upperOffset, h.upperLength) !== "ok") {
      // The ICMPv6 header is cut off: in a first fragment this hides the type (RFC 7113).
      return h.firstFragment && h.ipv6.srcIsLinkLocal;
    }
    return icmp.type === ICMPV6_TYPE.ROUTER_ADVERT;
  };
  return {
    kind: "ra_guard",
    usesHeaders: true,
    matches: (frame, origin, h) => isRa(frame, h) && !allowed(origin),
  };
}

/** UDP to `port` with a multicast IP destination (v4 or v6), from anyone. */
export function multicastUdpMatcher(kind: string, port: number): FrameMatcher {
  return {
    kind,
    usesHeaders: true,
    matches: (_frame, _origin, h) =>
      h.proto === IP_PROTO.UDP && h.dstPort === port && h.dstIsMulticast,
  };
}

/** mDNS (RFC 6762): UDP 5353 to a multicast group (224.0.0.251, ff02::fb). */
export function mdnsMatcher(): FrameMatcher {
  return multicastUdpMatcher("mdns", DISCOVERY_PORT.MDNS);
}

/** SSDP (UPnP discovery): UDP 1900 to a multicast group (239.255.255.250, ff0X::c). */
export function ssdpMatcher(): FrameMatcher {
  return multicastUdpMatcher("ssdp", DISCOVERY_PORT.SSDP);
}

/** LLMNR (RFC 4795): UDP 5355 to a multicast group (224.0.0.252, ff02::1:3). */
export function llmnrMatcher(): FrameMatcher {
  return multicastUdpMatcher("llmnr", DISCOVERY_PORT.LLMNR);
}

/** What the discovery guards do: drop, or let through at most a rate. */
export type DiscoveryAction = "drop" | RateLimit;

/** The named guards of a network or VC, as configuration gives them. */
export interface GuardConfig {
  /** Origins allowed to serve DHCP (v4 and v6); others' server messages are dropped. */
  dhcpServer?: readonly number[];
  /** Origins allowed to send IPv6 Router Advertisements. */
  raGuard?: readonly number[];
  mdns?: DiscoveryAction;
  ssdp?: DiscoveryAction;
  llmnr?: DiscoveryAction;
}

/**
 * The rules for `g`, in a fixed order (dhcp_server, ra_guard, mdns, ssdp,
 * llmnr), each named as its key; keys left out make no rule.
 *
 * @example
 * ```ts
 * import { FilterSet, guardRules } from "./filter.ts";
 * const rules = guardRules({ dhcpServer: [3], mdns: { rate: 10, burst: 20 } });
 * rules.map((r) => r.name); // ["dhcp_server", "mdns"]
 * new FilterSet(rules, 0).size; // 2
 * ```
 */
export function guardRules(g: GuardConfig): FilterRule[] {
  const out: FilterRule[] = [];
  if (g.dhcpServer) {
    out.push({
      name: "dhcp_server",
      match: dhcpServerGuard(originIn(g.dhcpServer)),
      action: "drop",
    });
  }
  if (g.raGuard) {
    out.push({ name: "ra_guard", match: raGuard(originIn(g.raGuard)), action: "drop" });
  }
  const discovery = (name: string, m: FrameMatcher, a: DiscoveryAction | undefined) => {
    if (a !== undefined) out.push({ name, match: m, action: a === "drop" ? "drop" : { limit: a } });
  };
  discovery("mdns", mdnsMatcher(), g.mdns);
  discovery("ssdp", ssdpMatcher(), g.ssdp);
  discovery("llmnr", llmnrMatcher(), g.llmnr);
  return out;
}
