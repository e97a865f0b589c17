/**
 * The `filter:` key (cmd/filter_config.ts) of a node section and of a LAS
 * VC: rules parsed and compiled at load time, their errors at
 * file:line:col, and what the built rules do with real frames.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  ConfigError,
  int,
  parseSection,
  parseYaml,
  sectionNode,
  topLevel,
} from "../../cmd/kit/config.ts";
import { buildRules, filterRules } from "../../cmd/filter_config.ts";
import { FilterSet, PASS } from "../../core/filter.ts";
import { lasFields } from "../../cmd/las_config.ts";
import { nodeFields } from "../../cmd/node_config.ts";
import { loadFrame } from "../fixtures/frames/load.ts";

const fields = { filter: filterRules(int({ doc: "node id", min: 1, max: 65534 }), { doc: "f" }) };

function parse(text: string) {
  const cf = parseYaml(text, "/etc/l2/l2.yaml");
  const node = topLevel(cf, "s")?.node ?? null;
  return parseSection(fields, node, { file: cf.file, lines: cf.lines, path: "s", node: null })
    .filter;
}

Deno.test("filter config: guards, expressions and actions, in order, named", () => {
  const rules = parse(`s:
  filter:
    - dhcp_server: [1, 2]
    - ra_guard: 1
    - mdns: { rate: 10 }
    - ssdp: drop
    - name: web
      expression: "tcp port 80"
      action: pass
    - name: no-iperf
      expression: tcp port 5201
`);
  assertEquals(rules.map((r) => [r.name, r.kind]), [
    ["dhcp_server", "dhcp_server"],
    ["ra_guard", "ra_guard"],
    ["mdns", "mdns"],
    ["ssdp", "ssdp"],
    ["web", "expression"],
    ["no-iperf", "expression"],
  ]);
  assertEquals(rules[0], { name: "dhcp_server", kind: "dhcp_server", allow: [1, 2] });
  assertEquals(rules[1], { name: "ra_guard", kind: "ra_guard", allow: [1] });
  assertEquals(rules[2], {
    name: "mdns",
    kind: "mdns",
    action: { limit: { rate: 10, burst: 10 } },
  });
  assert(rules[5].kind === "expression" && rules[5].action === "drop", "drop is the default");
  // Built: origin 1 may serve DHCP, origin 3 may not; port 5201 is dropped, ARP passes.
  const set = new FilterSet(buildRules(rules), 0);
  const offer = loadFrame("dhcp_offer");
  assertEquals(set.decide(offer, 1, 0), PASS);
  assertEquals(set.ruleName(set.decide(offer, 3, 0)), "dhcp_server");
  assertEquals(set.decide(loadFrame("arp_request"), 3, 0), PASS);
  assertEquals(set.ruleName(set.decide(loadFrame("tcp_syn_v4"), 3, 0)), "no-iperf");
  assertEquals(set.snapshot().map((r) => [r.name, r.hits, r.dropped]), [
    ["dhcp_server", 1, 1],
    ["ra_guard", 0, 0],
    ["mdns", 0, 0],
    ["ssdp", 0, 0],
    ["web", 0, 0],
    ["no-iperf", 1, 1],
    ["default", 2, 0],
  ]);
});

Deno.test("filter config: a string is one rule that passes what it matches", () => {
  const rules = parse("s:\n  filter: not icmp\n");
  assertEquals(rules.map((r) => [r.name, r.kind]), [["filter", "select"]]);
  const set = new FilterSet(buildRules(rules), 0);
  assertEquals(set.ruleName(set.decide(loadFrame("ipv4_icmp_echo"), 0, 0)), "filter");
  assertEquals(set.decide(loadFrame("arp_request"), 0, 0), PASS);
  assertEquals(parse("s:\n  x: 1\n".replace("x: 1", "filter: []")), []);
});

Deno.test("filter config: errors at file:line:col", () => {
  const cases: [string, string][] = [
    [
      "s:\n  filter:\n    - name: a\n      expression: tcp port 99999\n",
      '/etc/l2/l2.yaml:4:19: s.filter[0].expression: cannot compile filter "tcp port 99999": illegal port number 99999 > 65535',
    ],
    [
      "s:\n  filter: tcp and and\n",
      '/etc/l2/l2.yaml:2:11: s.filter: cannot compile filter "tcp and and": can\'t parse filter expression: syntax error',
    ],
    [
      "s:\n  filter:\n    - expression: arp\n",
      "/etc/l2/l2.yaml:3:7: s.filter[0]: an expression rule needs a name (shown in status and metrics)",
    ],
    [
      "s:\n  filter:\n    - { name: a, expression: arp, mdns: drop }\n",
      "/etc/l2/l2.yaml:3:7: s.filter[0]: expected exactly one of expression, dhcp_server, ra_guard, mdns, ssdp, llmnr in a rule, got 2",
    ],
    [
      "s:\n  filter:\n    - { dhcp_server: [1], action: pass }\n",
      "/etc/l2/l2.yaml:3:7: s.filter[0]: action goes with expression; dhcp_server's value is its action or allow list",
    ],
    [
      "s:\n  filter:\n    - { name: a, expression: arp }\n    - { name: a, expression: ip }\n",
      "/etc/l2/l2.yaml:3:5: s.filter: two rules named a (names must be unique)",
    ],
    [
      "s:\n  filter:\n    - dhcp_server: [0]\n",
      "/etc/l2/l2.yaml:3:21: s.filter[0].dhcp_server[0]: expected an integer 1..65534, got 0",
    ],
    [
      "s:\n  filter:\n    - mdns: { rate: 0 }\n",
      "/etc/l2/l2.yaml:3:21: s.filter[0].mdns.rate: expected an integer 1..10000000, got 0",
    ],
    [
      "s:\n  filter:\n    - { name: 'a b', expression: arp }\n",
      '/etc/l2/l2.yaml:3:7: s.filter[0]: expected a rule name of 1..48 letters, digits, _ . -, got "a b"',
    ],
    [
      "s:\n  filter:\n    - { name: a, expresion: arp }\n",
      "/etc/l2/l2.yaml:3:18: s.filter[0].expresion: unknown key (did you mean expression?); known keys: name, expression, action, dhcp_server, ra_guard, mdns, ssdp, llmnr",
    ],
  ];
  for (const [text, message] of cases) {
    const e = assertThrows(() => parse(text), ConfigError);
    assertEquals(e.message, message);
  }
});

Deno.test("filter config: the node's and the LAS VC's schemas have it; LAS guards name peer addresses", () => {
  assert("filter" in nodeFields);
  const cf = parseYaml(
    `las:
  default:
    vcs:
      "300":
        aging: 60
        filter:
          - dhcp_server: [192.0.2.1]
      "301":
        filter:
          - ra_guard: [fd00::1]
`,
    "/etc/l2/l2.yaml",
  );
  const node = sectionNode(cf, "las", "default");
  const e = assertThrows(
    () =>
      parseSection(lasFields, node, {
        file: cf.file,
        lines: cf.lines,
        path: "las.default",
        node: null,
      }),
    ConfigError,
  );
  assertEquals(
    e.message,
    '/etc/l2/l2.yaml:10:24: las.default.vcs.301.filter[0].ra_guard[0]: expected the IPv4 address of an L2TPv3 peer, got "fd00::1"',
  );
});
