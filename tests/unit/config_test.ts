import { assert, assertEquals, assertStringIncludes, assertThrows } from "../assert.ts";
import fc from "fast-check";
import {
  ConfigError,
  hostPort,
  int,
  isIPv6,
  list,
  mac,
  parseCidr,
  parseHostPort,
  parseSection,
  parseYaml,
  str,
  topLevel,
} from "../../cmd/kit/config.ts";
import { loadSection } from "../../cmd/kit/load.ts";
import { nodeFields } from "../../cmd/node.ts";
import { lasFields } from "../../cmd/las_config.ts";

function section(text: string) {
  const cf = parseYaml(text, "/etc/l2/test.yaml");
  const t = topLevel(cf, "s");
  return { cf, node: t?.node ?? null };
}

const fields = {
  port: int({ doc: "p", min: 1, max: 65535, default: 7654 }),
  name: str({ doc: "n" }),
  addr: mac({ doc: "m", default: 0x000100020005 }),
  peers: list(hostPort({ doc: "h", defaultPort: 7654 }), { doc: "l", default: [] }),
};

function parse(text: string) {
  const { cf, node } = section(text);
  return parseSection(fields, node, { file: cf.file, lines: cf.lines, path: "s", node: null });
}

Deno.test("config: defaults fill in, values parse", () => {
  const c = parse("s:\n  name: x\n  peers: [a.example, '[2001:db8::1]:9', 10.0.0.1:5]\n");
  assertEquals(c.port, 7654);
  assertEquals(c.name, "x");
  assertEquals(c.addr, 0x000100020005);
  assertEquals(c.peers, [
    { host: "a.example", port: 7654 },
    { host: "2001:db8::1", port: 9 },
    { host: "10.0.0.1", port: 5 },
  ]);
});

Deno.test("config: errors name file, line, column, key path and what is expected", () => {
  const cases: [string, string][] = [
    [
      "s:\n  name: x\n  port: 70000\n",
      "/etc/l2/test.yaml:3:9: s.port: expected an integer 1..65535, got 70000",
    ],
    [
      "s:\n  name: x\n  prot: 1\n",
      "/etc/l2/test.yaml:3:3: s.prot: unknown key (did you mean port?)",
    ],
    ["s:\n  port: 1\n", "missing required key name"],
    ["s:\n  name: [1]\n", "s.name: expected a string, got a list"],
    ["s:\n  name: x\n  addr: 1234\n", "quote it"],
    ["s:\n  name: x\n  addr: '01:00:5e:00:00:1'\n", "s.addr"],
    [
      "s:\n  name: x\n  peers: ['[::1]:0']\n",
      "s.peers[0]: expected HOST[:PORT] (port 7654): port must be 1..65535",
    ],
    ["s:\n  name: x\n  peers: ['2001:db8::1']\n", "IPv6 addresses need brackets"],
  ];
  for (const [text, want] of cases) {
    const e = assertThrows(() => parse(text), ConfigError);
    assertStringIncludes(e.message, want);
  }
});

Deno.test("config: YAML syntax errors and duplicate keys have a position", () => {
  let e = assertThrows(() => parseYaml("s:\n  a: [1,\n", "f.yaml"), ConfigError);
  assertStringIncludes(e.message, "f.yaml:");
  e = assertThrows(() => parseYaml("s:\n  a: 1\n  a: 2\n", "f.yaml"), ConfigError);
  assertStringIncludes(e.message, "f.yaml:3:");
});

Deno.test("config: an unquoted MAC stays a string under YAML 1.2; YAML 1.1 is refused", () => {
  // YAML 1.1 reads 00:01:00:02:00:05 as the base-60 integer 1,000,805.
  const c = parse("s:\n  name: x\n  addr: 00:01:00:02:00:05\n");
  assertEquals(c.addr, 0x000100020005);
  const e = assertThrows(
    () => parseYaml("%YAML 1.1\n---\ns:\n  addr: 00:01:00:02:00:05\n", "old.yaml"),
    ConfigError,
  );
  assertStringIncludes(e.message, "YAML 1.1 is not accepted");
});

Deno.test("config: host:port, CIDR and IPv6 parsing", () => {
  assertEquals(parseHostPort("[::]:7654"), { host: "::", port: 7654 });
  assertEquals(parseHostPort("vpn.example.net", 7654), { host: "vpn.example.net", port: 7654 });
  assertEquals(parseHostPort("127.0.0.1:0", undefined, true), { host: "127.0.0.1", port: 0 });
  assert(typeof parseHostPort("127.0.0.1:0") === "string");
  assert(typeof parseHostPort("host") === "string");
  assertEquals(parseCidr("10.0.0.1/24"), { address: "10.0.0.1", prefix: 24, family: 4 });
  assertEquals(parseCidr("fd00::1/64"), { address: "fd00::1", prefix: 64, family: 6 });
  for (
    const bad of ["10.0.0.1", "10.0.0.256/24", "10.0.0.1/33", "fd00::1/129", "x/1", "::1::2/64"]
  ) {
    assert(typeof parseCidr(bad) === "string", bad);
  }
  for (const good of ["::", "::1", "fe80::1", "2001:db8:0:0:0:0:0:1", "::ffff:10.0.0.1"]) {
    assert(isIPv6(good), good);
  }
  for (const bad of ["1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "1.2.3.4"]) {
    assert(!isIPv6(bad), bad);
  }
});

Deno.test("config: property: parsers never throw on arbitrary text", () => {
  fc.assert(fc.property(fc.string(), (s) => {
    parseHostPort(s, 7654);
    parseCidr(s);
    isIPv6(s);
    return true;
  }));
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      try {
        parseYaml(s, "fuzz.yaml");
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
      }
      return true;
    }),
    { numRuns: 300 },
  );
});

async function withFile(text: string, fn: (path: string) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("config: sections by name, the only one by default, flags on top", async () => {
  const text = `log: { level: warn }
node:
  home:
    supernode: sn.example:7000
    address: [10.0.0.2/24]
    log: { level: debug, debug: [mat] }
  work:
    supernode: 192.0.2.1
`;
  await withFile(text, async (path) => {
    const home = await loadSection("node", nodeFields, { configPath: path, name: "home" });
    assertEquals(home.config.supernode, { host: "sn.example", port: 7000 });
    assertEquals(home.log.level, "debug");
    assertEquals(home.log.debug, ["mat"]);
    const work = await loadSection("node", nodeFields, {
      configPath: path,
      name: "work",
      flags: { mtu: { flag: "--mtu", value: "1300" }, id: { flag: "--id", value: undefined } },
    });
    assertEquals(work.config.supernode, { host: "192.0.2.1", port: 7654 });
    assertEquals(work.config.mtu, 1300);
    assertEquals(work.config.id, "auto");
    assertEquals(work.log.level, "warn");
    let e = await loadSection("node", nodeFields, { configPath: path }).catch((e) => e);
    assert(e instanceof ConfigError);
    assertStringIncludes(e.message, "several node sections (home, work)");
    e = await loadSection("node", nodeFields, { configPath: path, name: "nope" }).catch((e) => e);
    assertStringIncludes(e.message, "no section node.nope; it has: home, work");
    e = await loadSection("node", nodeFields, {
      configPath: path,
      name: "work",
      flags: { mtu: { flag: "--mtu", value: "99999" } },
    }).catch((e) => e);
    assertStringIncludes(e.message, "--mtu: expected an integer 576..9000");
  });
  await withFile("nodes:\n  a: {}\n", async (path) => {
    const e = await loadSection("node", nodeFields, { configPath: path }).catch((e) => e);
    assertStringIncludes(e.message, ":1:1: nodes: unknown top-level key (did you mean node?)");
  });
  const missing = await loadSection("node", nodeFields, { configPath: "/nonexistent/l2.yaml" })
    .catch((e) => e);
  assertStringIncludes(missing.message, "/nonexistent/l2.yaml: no such file");
});

Deno.test("config: per-VC overrides: a map of partial switch policies, keys checked", async () => {
  const text = `las:
  default:
    switch: { aging: 60 }
    vcs:
      "1234": { allow_link_local: true, allow_llc: true }
      0x0a0b: { max_macs: 10 }
`;
  await withFile(text, async (path) => {
    const l = await loadSection("las", lasFields, { configPath: path });
    assertEquals(l.config.switch.aging, 60);
    assertEquals(l.config.vcs, {
      "1234": { allow_link_local: true, allow_llc: true },
      "0x0a0b": { max_macs: 10 },
    });
  });
  for (
    const [bad, want] of [
      ['vcs:\n      "12x": {}', "las.default.vcs.12x: expected a VC id"],
      ['vcs:\n      "7": { agin: 5 }', "las.default.vcs.7.agin: unknown key (did you mean aging?)"],
      ['vcs:\n      "7": { aging: 1 }', "las.default.vcs.7.aging: expected an integer 10..86400"],
      ["vcs: [1, 2]", "las.default.vcs: expected a mapping of VC ids"],
    ]
  ) {
    await withFile(`las:\n  default:\n    ${bad}\n`, async (path) => {
      const e = await loadSection("las", lasFields, { configPath: path }).catch((e) => e);
      assert(e instanceof ConfigError, String(e));
      assertStringIncludes(e.message, want);
    });
  }
});

Deno.test("config: las allow list of IPv4/IPv6 prefixes, df and max_pending_per_peer; errors say where", async () => {
  const text = `las:
  default:
    allow: [192.0.2.0/24, "2001:db8::/32"]
    df: true
    max_pending_per_peer: 2
`;
  await withFile(text, async (path) => {
    const l = await loadSection("las", lasFields, { configPath: path });
    assertEquals(l.config.allow.map((c) => `${c.address}/${c.prefix}`), [
      "192.0.2.0/24",
      "2001:db8::/32",
    ]);
    assertEquals([l.config.df, l.config.max_pending_per_peer], [true, 2]);
  });
  await withFile(`las:\n  default:\n    df: false\n`, async (path) => {
    const l = await loadSection("las", lasFields, { configPath: path });
    assertEquals(l.config.allow, [], "no allow list: any peer");
  });
  await withFile(`las:\n  default:\n    allow: [10.0.0.0/8, 10.1.0.0/33]\n`, async (path) => {
    const e = await loadSection("las", lasFields, { configPath: path }).catch((e) => e);
    assert(e instanceof ConfigError, String(e));
    assertStringIncludes(e.message, ":3:");
    assertStringIncludes(e.message, "las.default.allow[1]: IPv4 prefix length is 0..32");
  });
});

Deno.test("config: las peers (the mesh) need a secret; errors point at the peer entry", async () => {
  const { checkPeers } = await import("../../cmd/las_config.ts");
  const { meshOptions } = await import("../../cmd/las_mesh.ts");
  const ok = `las:
  default:
    secret: s
    udp: true
    peer_teardown: 5
    peers:
      - { address: 192.0.2.2 }
      - { address: 192.0.2.3, udp: true }
`;
  await withFile(ok, async (path) => {
    const l = await loadSection("las", lasFields, { configPath: path });
    checkPeers(l.config);
    const m = meshOptions(l.config)!;
    assertEquals(m.teardownMs, 5000);
    assertEquals(m.peers.map((p) => [p.name, p.transport, p.to.port]), [
      ["192.0.2.2", "ip", 0],
      ["192.0.2.3:1701", "udp", 1701],
    ]);
  });
  for (
    const [bad, want] of [
      // No secret: refused, at the first peer's line and column.
      [
        "peers:\n      - { address: 192.0.2.2 }",
        ":4:9: las.default.peers[0]: a mesh of LAS servers needs a shared secret",
      ],
      [
        "secret: s\n    peers:\n      - { address: 192.0.2.2, udp: true }",
        ":5:9: las.default.peers[0]: udp: true needs",
      ],
      [
        "secret: s\n    peers:\n      - { address: 192.0.2.2 }\n      - { address: 192.0.2.2 }",
        ":6:9: las.default.peers[1]: peer 192.0.2.2 is listed twice",
      ],
      [
        'secret: s\n    peers:\n      - { address: "2001:db8::2" }',
        "las.default.peers[0].address: expected an IPv4 address",
      ],
      [
        "secret: s\n    peers:\n      - { adress: 192.0.2.2 }",
        "las.default.peers[0].adress: unknown key (did you mean address?)",
      ],
    ]
  ) {
    await withFile(`las:\n  default:\n    ${bad}\n`, async (path) => {
      const e = await loadSection("las", lasFields, { configPath: path }).then((l) =>
        checkPeers(l.config)
      ).catch((e) => e);
      assert(e instanceof ConfigError, String(e));
      assertStringIncludes(e.message, want);
    });
  }
});
