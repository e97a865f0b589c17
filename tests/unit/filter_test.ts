/**
 * core/filter.ts: rule order and counters, the dhcp_server and ra_guard
 * guards on captured (dnsmasq) and built frames, tags, fragments and
 * extension headers, the discovery matchers dropping and rate-limiting on
 * caller time, a tcpdump expression as a rule, and no throw on any frame.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import fc from "fast-check";
import { verifyBpf } from "../../core/bpf.ts";
import {
  bpfMatcher,
  dhcpServerGuard,
  type FilterRule,
  FilterSet,
  FrameHeaders,
  guardRules,
  llmnrMatcher,
  mdnsMatcher,
  originIn,
  PASS,
  raGuard,
  ssdpMatcher,
} from "../../core/filter.ts";
import { compileFilter } from "../../ffi/pcap.ts";
import { FRAME_NAMES, loadFrame } from "../fixtures/frames/load.ts";
import {
  dhcp4,
  DHCP_TYPE,
  ether,
  ext6,
  F,
  frag6,
  icmp6,
  ipv4,
  ipv6,
  tcp,
  udp,
  withTag,
} from "../lab/frame_build.ts";

const A = "02:00:00:00:0a:01";
const BCAST = "ff:ff:ff:ff:ff:ff";
const SERVER = 3; // the node allowed to serve DHCP and send RAs
const ROGUE = 9;

const Q = { tpid: 0x8100, vid: 100 };
const S = { tpid: 0x88a8, vid: 7 };

function dhcpFrame(sport: number, dport: number, op: number, type: number): Uint8Array {
  return ether(
    BCAST,
    A,
    0x0800,
    ipv4(17, "10.0.0.9", "255.255.255.255", udp(sport, dport, dhcp4(op, type))),
  );
}

function v6(nh: number, rest: Uint8Array, src = "fe80::1", dst = "ff02::1"): Uint8Array {
  return ether("33:33:00:00:00:01", A, 0x86dd, ipv6(nh, src, dst, rest, 255));
}

/** One rule set with one guard; `decide` from `origin`: true when dropped. */
function dropper(rules: FilterRule[]) {
  const set = new FilterSet(rules, 0);
  return {
    set,
    drops: (f: Uint8Array, origin: number, now = 0) => set.decide(f, origin, now) !== PASS,
  };
}

Deno.test("dhcp_server: dnsmasq's OFFER and ACK are dropped from any other origin, pass from the named one", () => {
  const { set, drops } = dropper(guardRules({ dhcpServer: [SERVER] }));
  for (const name of ["dhcp_offer", "dhcp_ack"] as const) {
    const f = loadFrame(name);
    assert(drops(f, ROGUE), `${name} from a rogue node`);
    assert(!drops(f, SERVER), `${name} from the DHCP server's node`);
    assert(drops(withTag(f, Q), ROGUE), `${name} in 802.1Q`);
    assert(drops(withTag(withTag(f, Q), S), ROGUE), `${name} in QinQ`);
  }
  for (const name of ["dhcp_discover", "dhcp_request"] as const) {
    assert(!drops(loadFrame(name), ROGUE), `${name}: a client's message passes`);
  }
  // Every other golden frame passes from anyone.
  for (const name of FRAME_NAMES.filter((n) => !n.startsWith("dhcp_"))) {
    assert(!drops(loadFrame(name), ROGUE), name);
  }
  assertEquals(set.snapshot()[0], {
    name: "dhcp_server",
    kind: "dhcp_server",
    action: "drop",
    hits: 6,
    dropped: 6,
  });
});

Deno.test("dhcp_server: NAK, BOOTP replies, relayed replies, first fragments and DHCPv6 replies are server messages too", () => {
  const { drops } = dropper([{
    name: "dhcp_server",
    match: dhcpServerGuard(originIn([SERVER])),
    action: "drop",
  }]);
  const cases: [string, Uint8Array, boolean][] = [
    ["NAK 67->68", dhcpFrame(67, 68, 2, DHCP_TYPE.NAK), true],
    ["plain BOOTP reply 67->68", dhcpFrame(67, 68, 2, 0), true],
    ["anything to the client port", dhcpFrame(5000, 68, 1, DHCP_TYPE.REQUEST), true],
    ["reply to a relay 67->67", dhcpFrame(67, 67, 2, DHCP_TYPE.OFFER), true],
    ["relay forwarding a request 67->67", dhcpFrame(67, 67, 1, DHCP_TYPE.REQUEST), false],
    ["OFFER from 67 to an odd port", dhcpFrame(67, 6767, 2, DHCP_TYPE.OFFER), true],
    [
      "truncated message from 67",
      dhcpFrame(67, 67, 2, DHCP_TYPE.OFFER).subarray(0, 14 + 20 + 8 + 100),
      false,
    ],
    [
      "first fragment of an OFFER",
      ether(
        BCAST,
        A,
        0x0800,
        ipv4(17, "10.0.0.9", "255.255.255.255", udp(67, 68, dhcp4(2, 2)).subarray(0, 64), {
          more: true,
        }),
      ),
      true,
    ],
    [
      "a later fragment (no UDP header to judge)",
      ether(
        BCAST,
        A,
        0x0800,
        ipv4(17, "10.0.0.9", "255.255.255.255", new Uint8Array(64), { frag: 8 }),
      ),
      false,
    ],
    [
      "DHCPv6 ADVERTISE 547->546",
      v6(17, udp(547, 546, new Uint8Array([2, 0, 0, 1])), "fe80::9", "fe80::1"),
      true,
    ],
    [
      "DHCPv6 SOLICIT 546->547",
      v6(17, udp(546, 547, new Uint8Array([1, 0, 0, 1])), "fe80::1", "ff02::1:2"),
      false,
    ],
    [
      "DHCPv6 relay to relay 547->547",
      v6(17, udp(547, 547, new Uint8Array([12, 0])), "fd00::1", "fd00::2"),
      false,
    ],
    ["DNS", dhcpFrame(53, 40000, 2, 2), false],
  ];
  for (const [what, frame, dropped] of cases) {
    assertEquals(drops(frame, ROGUE), dropped, what);
    assert(!drops(frame, SERVER), `${what}: allowed origin`);
  }
  // The truncated one: the view refuses it (UDP Length past the IP payload), hosts drop it too.
});

Deno.test("ra_guard: RAs (captured, behind extension headers, in a first fragment) dropped from other origins", () => {
  const { set, drops } = dropper(guardRules({ raGuard: [SERVER] }));
  const ra = loadFrame("ndp_ra");
  assert(drops(ra, ROGUE), "dnsmasq's RA from a rogue node");
  assert(!drops(ra, SERVER), "from the router's node");
  assert(drops(withTag(ra, Q), ROGUE), "in 802.1Q");
  for (
    const name of [
      "ndp_rs",
      "ndp_ns",
      "ndp_na",
      "ndp_redirect",
      "ipv6_echo",
      "ipv6_hbh_mld",
      "ipv6_frag_first",
    ] as const
  ) {
    assert(!drops(loadFrame(name), ROGUE), name);
  }
  const RA = icmp6(134);
  const cases: [string, Uint8Array, boolean][] = [
    ["plain", v6(58, RA), true],
    ["behind Hop-by-Hop", v6(0, new Uint8Array([...ext6(58), ...RA])), true],
    [
      "behind Destination Options (16 bytes)",
      v6(60, new Uint8Array([...ext6(58, 14), ...RA])),
      true,
    ],
    [
      "behind Routing + Destination Options",
      v6(43, new Uint8Array([...ext6(60), ...ext6(58), ...RA])),
      true,
    ],
    ["in an atomic fragment", v6(44, new Uint8Array([...frag6(58, 0, false), ...RA])), true],
    ["in a first fragment", v6(44, new Uint8Array([...frag6(58, 0, true), ...RA])), true],
    [
      "first fragment cut before the ICMPv6 type (RFC 7113)",
      v6(44, new Uint8Array([...frag6(58, 0, true)])),
      true,
    ],
    [
      "first fragment whose Destination Options run past it (RFC 7113)",
      v6(44, new Uint8Array([...frag6(60, 0, true), 58, 4, 1, 2, 0, 0, 0, 0])),
      true,
    ],
    [
      "nine Destination Options headers (more than the walk follows)",
      v6(
        60,
        new Uint8Array([
          ...Array.from({ length: 8 }, () => [...ext6(60)]).flat(),
          ...ext6(58),
          ...RA,
        ]),
      ),
      true,
    ],
    [
      "the same from a global source (hosts ignore it)",
      v6(
        60,
        new Uint8Array([
          ...Array.from({ length: 8 }, () => [...ext6(60)]).flat(),
          ...ext6(58),
          ...RA,
        ]),
        "fd00::1",
      ),
      false,
    ],
    ["a later fragment", v6(44, new Uint8Array([...frag6(58, 2, false), ...RA])), false],
    ["RS", v6(58, icmp6(133)), false],
    ["echo request", v6(58, icmp6(128)), false],
    ["UDP", v6(17, udp(1, 2, new Uint8Array(8))), false],
  ];
  for (const [what, frame, dropped] of cases) {
    assertEquals(drops(frame, ROGUE), dropped, what);
    assert(!drops(frame, SERVER), `${what}: allowed origin`);
  }
  assert(set.snapshot()[0].dropped >= 11);
});

Deno.test("discovery: mDNS, SSDP and LLMNR to their groups are matched; unicast to the port is not", () => {
  const mdns4 = ether(
    "01:00:5e:00:00:fb",
    A,
    0x0800,
    ipv4(17, "10.0.0.1", "224.0.0.251", udp(5353, 5353, new Uint8Array(30))),
  );
  const mdns6 = v6(17, udp(5353, 5353, new Uint8Array(30)), "fe80::1", "ff02::fb");
  const mdnsUnicast = ether(
    A,
    A,
    0x0800,
    ipv4(17, "10.0.0.1", "10.0.0.2", udp(5353, 5353, new Uint8Array(30))),
  );
  const ssdp = ether(
    "01:00:5e:7f:ff:fa",
    A,
    0x0800,
    ipv4(17, "10.0.0.1", "239.255.255.250", udp(50000, 1900, new Uint8Array(90))),
  );
  const ssdpReply = ether(
    A,
    A,
    0x0800,
    ipv4(17, "10.0.0.2", "10.0.0.1", udp(1900, 50000, new Uint8Array(90))),
  );
  const llmnr6 = v6(17, udp(50001, 5355, new Uint8Array(30)), "fe80::1", "ff02::1:3");
  const llmnr4 = ether(
    "01:00:5e:00:00:fc",
    A,
    0x0800,
    ipv4(17, "10.0.0.1", "224.0.0.252", udp(50001, 5355, new Uint8Array(30))),
  );
  const m = { mdns: mdnsMatcher(), ssdp: ssdpMatcher(), llmnr: llmnrMatcher() };
  const set = new FilterSet(guardRules({ mdns: "drop", ssdp: "drop", llmnr: "drop" }), 0);
  const cases: [string, Uint8Array, string | null][] = [
    ["mDNS v4", mdns4, "mdns"],
    ["mDNS v6", mdns6, "mdns"],
    ["mDNS v4 in 802.1Q", withTag(mdns4, Q), "mdns"],
    ["mDNS unicast", mdnsUnicast, null],
    ["SSDP M-SEARCH", ssdp, "ssdp"],
    ["SSDP unicast reply", ssdpReply, null],
    ["LLMNR v6", llmnr6, "llmnr"],
    ["LLMNR v4", llmnr4, "llmnr"],
    ["ARP", loadFrame("arp_request"), null],
  ];
  for (const [what, frame, which] of cases) {
    const i = set.decide(frame, ROGUE, 0);
    assertEquals(i === PASS ? null : set.ruleName(i), which, what);
    for (const [name, matcher] of Object.entries(m)) {
      assertEquals(
        matcher.matches(frame, ROGUE, headersOf(frame)),
        which === name,
        `${what}: ${name}`,
      );
    }
  }
});

function headersOf(frame: Uint8Array): FrameHeaders {
  const h = new FrameHeaders();
  h.bind(frame);
  return h;
}

Deno.test("discovery rate limit: burst, then the rate, on the caller's clock; counted per rule", () => {
  const mdns = ether(
    "01:00:5e:00:00:fb",
    A,
    0x0800,
    ipv4(17, "10.0.0.1", "224.0.0.251", udp(5353, 5353, new Uint8Array(30))),
  );
  const set = new FilterSet(guardRules({ mdns: { rate: 10, burst: 3 } }), 1000);
  const pass = (now: number) => set.decide(mdns, ROGUE, now) === PASS;
  assert(pass(1000) && pass(1000) && pass(1000), "the burst of 3");
  assert(!pass(1000), "4th at once");
  assert(!pass(1099), "99 ms is under one token at 10/s");
  assert(pass(1100), "100 ms refilled one");
  assert(!pass(1100));
  assert(pass(5000) && pass(5000) && pass(5000) && !pass(5000), "refill is capped at the burst");
  assertEquals(set.snapshot()[0], {
    name: "mdns",
    kind: "mdns",
    action: "limit 10/s burst 3",
    hits: 11,
    dropped: 4,
  });
});

Deno.test("rule set: first match decides, pass before drop, default action, counters, bad sets refused", () => {
  const bpf = (expr: string) => {
    const v = verifyBpf(compileFilter(expr));
    if (!v.ok) throw new Error(v.reason);
    return bpfMatcher(v.value);
  };
  const rules: FilterRule[] = [
    { name: "keep-ssh", match: bpf("tcp port 22"), action: "pass" },
    { name: "no-iperf", match: bpf("tcp dst port 5201"), action: "drop" },
    { name: "arp", match: bpf("arp"), action: "pass" },
  ];
  const set = new FilterSet(rules, 0, "drop");
  assertEquals(set.decide(loadFrame("tcp_syn_v4"), 1, 0), 1, "iperf dropped by rule 1");
  assertEquals(set.decide(loadFrame("tcp_data_v6"), 1, 0), 1);
  assertEquals(set.decide(loadFrame("arp_request"), 1, 0), PASS);
  assertEquals(set.decide(loadFrame("ipv4_icmp_echo"), 1, 0), 3, "default drops");
  assertEquals(set.ruleName(3), "default");
  assertEquals(set.ruleName(1), "no-iperf");
  assertEquals(set.snapshot().map((r) => [r.name, r.hits, r.dropped]), [
    ["keep-ssh", 0, 0],
    ["no-iperf", 2, 2],
    ["arp", 1, 0],
    ["default", 1, 1],
  ]);
  // Order matters: from port 22 to 5201 matches both; the pass rule ahead of the drop wins.
  const sshToIperf = ether(
    "02:00:00:00:0b:02",
    A,
    0x0800,
    ipv4(6, "10.0.0.1", "10.0.0.2", tcp(22, 5201, F.SYN)),
  );
  assertEquals(set.decide(sshToIperf, 1, 0), PASS);
  assertEquals(new FilterSet([rules[1], rules[0]], 0).decide(sshToIperf, 1, 0), 0);
  const m = mdnsMatcher();
  assertThrows(
    () => new FilterSet([{ name: "", match: m, action: "drop" }], 0),
    RangeError,
    "no name",
  );
  assertThrows(
    () =>
      new FilterSet([{ name: "a", match: m, action: "drop" }, {
        name: "a",
        match: m,
        action: "pass",
      }], 0),
    RangeError,
    "two rules named a",
  );
  assertThrows(
    () => new FilterSet([{ name: "a", match: m, action: { limit: { rate: 0, burst: 1 } } }], 0),
    RangeError,
    "rate",
  );
  assertThrows(
    () =>
      new FilterSet(
        Array.from(
          { length: 257 },
          (_, i) => ({ name: `r${i}`, match: m, action: "drop" as const }),
        ),
        0,
      ),
    RangeError,
    "at most 256",
  );
});

Deno.test("rule set: never throws on any bytes, with every guard and a BPF rule", () => {
  const v = verifyBpf(compileFilter("udp port 67 or icmp6 or vlan 5"));
  assert(v.ok);
  const set = new FilterSet([
    ...guardRules({
      dhcpServer: [1],
      raGuard: [1],
      mdns: { rate: 5, burst: 5 },
      ssdp: "drop",
      llmnr: "drop",
    }),
    { name: "expr", match: bpfMatcher(v.value), action: "drop" },
  ], 0);
  const seeds = FRAME_NAMES.map((n) => loadFrame(n));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(
          fc.constantFrom(...seeds),
          fc.array(fc.tuple(fc.nat(120), fc.nat(255)), { maxLength: 6 }),
          fc.nat(400),
        )
          .map(([f, flips, cut]) => {
            const g = f.slice(0, Math.max(cut, 0));
            for (const [at, b] of flips) if (at < g.length) g[at] = b;
            return g;
          }),
      ),
      fc.integer(),
      fc.nat(),
      (frame, origin, now) => {
        const r = set.decide(frame, origin, now);
        return r === PASS || (r >= 0 && r <= set.size);
      },
    ),
    { numRuns: 3000, seed: 20 },
  );
});

Deno.test("ra_guard and dhcp_server take any origin predicate", () => {
  const even = (o: number) => o % 2 === 0;
  const set = new FilterSet([
    { name: "ra", match: raGuard(even), action: "drop" },
    { name: "dhcp", match: dhcpServerGuard(even), action: "drop" },
  ], 0);
  assertEquals(set.decide(loadFrame("ndp_ra"), 4, 0), PASS);
  assertEquals(set.decide(loadFrame("ndp_ra"), 5, 0), 0);
  assertEquals(set.decide(loadFrame("dhcp_offer"), 5, 0), 1);
});
