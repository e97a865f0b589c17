/**
 * `node.supernodes` (docs/federation.md): a list of at most 8
 * `{ address, key }`, the first preferred; errors name file:line:col.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../assert.ts";
import { ConfigError, parseSection, parseYaml, topLevel } from "../../cmd/kit/config.ts";
import { nodeFields } from "../../cmd/node.ts";

const K1 = "p8Hn4Q3kVx2cR7mT0aL9sE5yB1dF6gJ2hK4wN8zX3vU=";
const K2 = "Zq4m7Yc2Lr9Tb1Wn6Hs3Kd8Fv0Jp5Xg2Ae7Uy4Ro1Ci=";

function parse(text: string) {
  const cf = parseYaml(text, "/etc/l2/test.yaml");
  const node = topLevel(cf, "s")?.node ?? null;
  return parseSection(nodeFields, node, { file: cf.file, lines: cf.lines, path: "s", node: null });
}

function entries(n: number): string {
  let s = "s:\n  supernodes:\n";
  for (let i = 0; i < n; i++) s += `    - { address: "192.0.2.${i + 1}", key: "${K1}" }\n`;
  return s;
}

Deno.test("node config: supernodes parse, the port defaults to 7654, supernode is not required", () => {
  const c = parse(
    `s:\n  supernodes:\n    - { address: "192.0.2.1:7000", key: "${K1}" }\n` +
      `    - address: "[2001:db8::2]"\n      key: "${K2}"\n`,
  );
  assertEquals(c.supernodes, [
    { address: { host: "192.0.2.1", port: 7000 }, key: K1 },
    { address: { host: "2001:db8::2", port: 7654 }, key: K2 },
  ]);
  assertEquals(c.supernode, null);
  assertEquals(parse("s:\n  supernode: 192.0.2.9\n").supernodes, []);
});

Deno.test("node config: supernodes errors name the place", () => {
  let e = assertThrows(() => parse(entries(9)), ConfigError);
  assertStringIncludes(e.message, "at most 8 supernodes");
  assertStringIncludes(e.message, "/etc/l2/test.yaml:3:");
  assertEquals(parse(entries(8)).supernodes.length, 8);
  e = assertThrows(
    () => parse(`s:\n  supernodes:\n    - { address: "192.0.2.1" }\n`),
    ConfigError,
  );
  assertStringIncludes(e.message, "key");
  assertStringIncludes(e.message, "/etc/l2/test.yaml:3:");
  e = assertThrows(
    () =>
      parse(
        `s:\n  supernodes:\n    - { address: "192.0.2.1", key: "${K1}" }\n` +
          `    - { address: "192.0.2.2", key: "not a key" }\n`,
      ),
    ConfigError,
  );
  assertStringIncludes(e.message, "base64 X25519 public key");
  assertStringIncludes(e.message, "/etc/l2/test.yaml:4:");
  e = assertThrows(
    () =>
      parse(
        `s:\n  supernodes:\n    - { address: "192.0.2.1", key: "${K1}" }\n` +
          `    - { address: "192.0.2.1:7654", key: "${K2}" }\n`,
      ),
    ConfigError,
  );
  assertStringIncludes(e.message, "each supernode once");
  e = assertThrows(
    () => parse(`s:\n  supernodes:\n    - { address: "192.0.2.1", key: "${K1}", id: 3 }\n`),
    ConfigError,
  );
  assert(e.message.includes("unknown key"), e.message);
});
