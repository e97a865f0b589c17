/**
 * cmd/kit/config.ts `filterExpression`: compiled by libpcap at load time;
 * libpcap's own message and the verifier's refusal come with file:line:col.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  ConfigError,
  filterExpression,
  list,
  parseSection,
  parseYaml,
  topLevel,
} from "../../cmd/kit/config.ts";
import { loadFrame } from "../fixtures/frames/load.ts";

const fields = {
  filter: filterExpression({ doc: "f" }),
  more: list(filterExpression({ doc: "g" }), { doc: "l", default: [] }),
};

function parse(text: string) {
  const cf = parseYaml(text, "/etc/l2/test.yaml");
  const node = topLevel(cf, "s")?.node ?? null;
  return parseSection(fields, node, { file: cf.file, lines: cf.lines, path: "s", node: null });
}

Deno.test("config filter: an expression compiles at load time into a program that runs", () => {
  const c = parse('s:\n  filter: "tcp dst port 5201"\n  more: [arp, "udp port 67"]\n');
  assertEquals(c.filter.expression, "tcp dst port 5201");
  assert(c.filter.program.run(loadFrame("tcp_syn_v4")) !== 0);
  assertEquals(c.filter.program.run(loadFrame("arp_request")), 0);
  assertEquals(c.more.map((f) => f.expression), ["arp", "udp port 67"]);
  assert(c.more[0].program.run(loadFrame("arp_request")) !== 0);
});

Deno.test("config filter: libpcap's message with file:line:col of the value", () => {
  const cases: [string, string][] = [
    [
      "s:\n  filter: tcp port 99999\n",
      '/etc/l2/test.yaml:2:11: s.filter: cannot compile filter "tcp port 99999": illegal port number 99999 > 65535',
    ],
    [
      "s:\n  filter: 'tcp and and udp'\n",
      '/etc/l2/test.yaml:2:11: s.filter: cannot compile filter "tcp and and udp": can\'t parse filter expression: syntax error',
    ],
    [
      "s:\n  filter: arp\n  more:\n    - ip\n    - ip broadcast\n",
      "/etc/l2/test.yaml:5:7: s.more[1]: cannot compile filter \"ip broadcast\": netmask not known, so 'ip broadcast' not supported",
    ],
    [
      "s:\n  filter:   ip6 protochain 58\n",
      '/etc/l2/test.yaml:2:13: s.filter: cannot use filter "ip6 protochain 58": the BPF verifier refuses ' +
      "libpcap's program: it jumps backwards (a loop, as `protochain` makes) (instruction 18)",
    ],
    [
      "s:\n  filter: 80\n",
      "/etc/l2/test.yaml:2:11: s.filter: expected a filter expression in tcpdump syntax, as a string, got 80",
    ],
    [
      "s:\n  filter: ''\n",
      '/etc/l2/test.yaml:2:11: s.filter: expected a filter expression in tcpdump syntax, as a string, got ""',
    ],
  ];
  for (const [text, message] of cases) {
    const e = assertThrows(() => parse(text), ConfigError);
    assertEquals(e.message, message);
  }
});
