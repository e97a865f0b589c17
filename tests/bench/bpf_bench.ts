/**
 * Cost per frame of the BPF interpreter (core/bpf.ts) and of rule sets
 * (core/filter.ts), beside references: the same program in libpcap's own
 * interpreter (`pcap_offline_filter`, which runs `bpf_filter`, through
 * FFI, so one FFI call per frame is in its number) and the switch's hand-written EtherType filter
 * (core/switch_filter.ts). One iteration is one frame.
 *
 * Run: deno bench -A tests/bench/bpf_bench.ts
 * Results and the machine they came from: docs/filters.md.
 */
import { type BpfProgram, verifyBpf } from "../../core/bpf.ts";
import { bpfMatcher, type FilterRule, FilterSet, guardRules } from "../../core/filter.ts";
import { FrameFilter } from "../../core/switch_filter.ts";
import { compileFilter } from "../../ffi/pcap.ts";
import { loadFrame } from "../fixtures/frames/load.ts";
import { ReferenceFilter } from "../lab/pcap_ref.ts";

function program(expr: string): BpfProgram {
  const v = verifyBpf(compileFilter(expr));
  if (!v.ok) throw new Error(v.reason);
  return v.value;
}

const tcp4 = loadFrame("tcp_data_v4");
const tcp6 = loadFrame("tcp_data_v6");
const offer = loadFrame("dhcp_offer");
let sink = 0;

const typical = "tcp port 80"; // 20 instructions; a TCP/IPv4 frame to 5201 walks 14 of them
const complex = "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn or udp port 67 or icmp6 or vlan 100";
for (
  const [expr, frame, what] of [
    [typical, tcp4, "TCP/IPv4 frame"],
    [typical, tcp6, "TCP/IPv6 frame"],
    [complex, offer, "DHCP offer"],
  ] as const
) {
  const p = program(expr);
  const ref = new ReferenceFilter(p.insns);
  const group = `${expr} (${p.length} insns), ${what}`;
  Deno.bench(`core/bpf.ts run`, { group, baseline: true }, () => {
    sink ^= p.run(frame);
  });
  Deno.bench(`libpcap pcap_offline_filter via FFI`, { group }, () => {
    sink ^= ref.run(frame);
  });
}

const ethertype = new FrameFilter({});
Deno.bench("switch_filter EtherType check (reference)", { group: "hand-written" }, () => {
  sink ^= ethertype.check(tcp4);
});

const tenExprs = [
  "tcp port 22",
  "tcp port 23",
  "udp port 53",
  "tcp port 445",
  "udp port 137",
  "udp port 138",
  "tcp port 139",
  "udp port 161",
  "tcp port 3389",
  "tcp port 80",
];
const bpfRules = (n: number): FilterRule[] =>
  tenExprs.slice(0, n).map((e, i) => ({
    name: `r${i}`,
    match: bpfMatcher(program(e)),
    action: "drop",
  }));
for (const n of [0, 1, 10]) {
  const set = new FilterSet(bpfRules(n), 0);
  Deno.bench(
    `FilterSet, ${n} BPF rules`,
    { group: "rule sets (TCP/IPv4 frame, no rule matches)" },
    () => {
      sink ^= set.decide(tcp4, 1, 0);
    },
  );
}
const guards = new FilterSet(
  guardRules({
    dhcpServer: [1],
    raGuard: [1],
    mdns: { rate: 100, burst: 100 },
    ssdp: "drop",
    llmnr: "drop",
  }),
  0,
);
Deno.bench(
  "FilterSet, the 5 guards",
  { group: "rule sets (TCP/IPv4 frame, no rule matches)" },
  () => {
    sink ^= guards.decide(tcp4, 2, 0);
  },
);

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink);
});
