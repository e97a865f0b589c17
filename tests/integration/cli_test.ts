/**
 * The real `l2` program as a subprocess: `l2 mat`, exit codes, help, the
 * daemons' config checking, and the one-file bundle.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { MAIN, runL2, runScript } from "../lab/l2proc.ts";

Deno.test("cli: l2 mat decode prints ids and node prefix; --json is one object", async () => {
  let r = await runL2(["mat", "decode", "00:01:00:02:00:05"]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(
    r.stdout,
    "00:01:00:02:00:05  supernode 1  node 2  leaf 5  node prefix 00:01:00:02:00:00/32\n",
  );
  r = await runL2(["mat", "decode", "--json", "0001.0002.0005"]);
  assertEquals(r.code, 0);
  const j = JSON.parse(r.stdout);
  assertEquals([j.supernode, j.node, j.leaf, j.node_prefix], [1, 2, 5, "00:01:00:02:00:00/32"]);
});

Deno.test("cli: l2 mat decode: every spelling, several at once, bad ones explained, exit 2", async () => {
  const r = await runL2([
    "mat",
    "decode",
    "00-01-00-02-00-05",
    "0001.0002.0005",
    "ff:ff:ff:ff:ff:ff",
    "33:33:00:00:00:01",
    "02:00:00:00:00:01",
    "00:01:00:02:00",
  ]);
  assertEquals(r.code, 2);
  assertEquals(r.stdout.trim().split("\n").length, 2);
  assertStringIncludes(r.stderr, "ff:ff:ff:ff:ff:ff: broadcast address, not a MAT address");
  assertStringIncludes(r.stderr, "33:33:00:00:00:01: multicast address");
  assertStringIncludes(r.stderr, "first octet is 02");
  assertStringIncludes(r.stderr, "00:01:00:02:00: cannot parse MAC address");
});

Deno.test("cli: l2 mat decode reads standard input, skipping blanks and comments", async () => {
  const r = await runL2(["mat", "decode", "--json"], {
    stdin: "# leaves\n00:01:00:02:00:05\n\n00:ff:ff:fe:ff:ff\r\nnope\n",
  });
  assertEquals(r.code, 2);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines.length, 3);
  assertEquals([lines[1].supernode, lines[1].node, lines[1].leaf], [255, 65534, 65535]);
  assertEquals(lines[2].input, "nope");
  assert(typeof lines[2].error === "string");
});

Deno.test("cli: l2 mat encode, styles, range errors", async () => {
  let r = await runL2(["mat", "encode", "--supernode", "1", "--node", "2", "--leaf", "5"]);
  assertEquals([r.code, r.stdout], [0, "00:01:00:02:00:05\n"]);
  r = await runL2(["mat", "encode", "--supernode", "1", "--node", "2", "--style", "dotted"]);
  assertEquals(r.stdout, "0001.0002.0000\n");
  r = await runL2(["mat", "encode", "--supernode", "256", "--node", "2"]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "--supernode");
  r = await runL2(["mat", "encode", "--supernode", "0", "--node", "0"]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "not a station address");
});

Deno.test("cli: usage errors exit 2; --help and --version exit 0", async () => {
  let r = await runL2(["frobnicate"]);
  assertEquals(r.code, 2);
  r = await runL2(["--help"]);
  assertEquals(r.code, 0);
  for (const sub of ["supernode", "node", "las", "status", "mat"]) {
    assertStringIncludes(r.stdout, sub);
  }
  r = await runL2(["--version"]);
  assertEquals(r.code, 0);
  // l2's version is deno.json's; then the runtime it runs on.
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assertEquals(
    r.stdout,
    `l2 ${denoJson.version} (Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ` +
      `TypeScript ${Deno.version.typescript}; runtime ${Deno.execPath()})\n`,
  );
});

Deno.test("cli: daemons check their config and refuse bad flags with exit 2", async () => {
  let r = await runL2([
    "node",
    "--supernode",
    "192.0.2.1",
    "--supernode-key",
    "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
    "--address",
    "10.9.0.1/24",
    "--check-config",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout);
  assertEquals(c.config.supernode, { host: "192.0.2.1", port: 7654 });
  assertEquals(c.config.address[0].prefix, 24);
  r = await runL2(["node", "--check-config"]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "with --supernode HOST:PORT");
  r = await runL2(["node", "--supernode", "192.0.2.1", "--mtu", "100", "--check-config"]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "--mtu: expected an integer 576..9000, got 100");
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/l2.yaml`;
    await Deno.writeTextFile(file, "las:\n  default:\n    hello_interval: 0\n");
    r = await runL2(["las", "--config", file, "--check-config"]);
    assertEquals(r.code, 2);
    assertStringIncludes(
      r.stderr,
      `${file}:3:21: las.default.hello_interval: expected an integer 1..3600`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: the bundle (dist-style single file) runs l2 mat decode", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/l2.js`;
    const b = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "-o", out, MAIN],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(b.code, 0, new TextDecoder().decode(b.stderr));
    const r = await runScript(out, ["mat", "decode", "00:01:00:02:00:05"]);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "supernode 1  node 2  leaf 5");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: deno task compile says what is missing when Deno's runtime archive is absent", async () => {
  const script = new URL("../../.ci/compile.ts", import.meta.url).pathname;
  const r = await runScript(script, [], { env: { DENORT_BIN: "/nonexistent/denort" } });
  assertEquals(r.code, 1);
  assertStringIncludes(r.stderr, "DENORT_BIN=/nonexistent/denort does not exist");
});

Deno.test("cli: --check-config never prints secrets", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      file,
      "las:\n  default:\n    secret: hunter2\n    api_token: t0ps3cret\n",
      { mode: 0o600 }, // it holds secrets
    );
    const r = await runL2(["las", "--config", file, "--check-config"]);
    assertEquals(r.code, 0, r.stderr);
    assert(!r.stdout.includes("hunter2") && !r.stdout.includes("t0ps3cret"), r.stdout);
    const c = JSON.parse(r.stdout).config;
    assertEquals([c.secret, c.api_token], ["(set)", "(set)"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: bare l2 and a misspelt flag are answered briefly, about the right thing", async () => {
  let r = await runL2([]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "Usage: l2 COMMAND [OPTIONS]");
  assertStringIncludes(r.stderr, "l2 COMMAND --help");
  assert(!r.stderr.includes("No matching"), r.stderr);
  r = await runL2(["node", "--supernod", "192.0.2.1"]);
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "you mean --supernode?");
  assertStringIncludes(r.stderr, "Usage: l2 node ");
  assert(!r.stderr.includes("l2 las"), r.stderr);
  for (const sub of ["demo", "keygen", "mat", "status"]) {
    r = await runL2([sub, "--help"]);
    assertEquals(r.code, 0);
    assertStringIncludes(r.stdout, "Examples:\n");
    assertStringIncludes(r.stdout, `  l2 ${sub}`);
    // Prose written over several source lines flows: no run of spaces inside a sentence.
    for (const l of r.stdout.split("\n").filter((l) => !l.startsWith(" "))) {
      assert(!/\S {2,}\S/.test(l), `${sub}: ${l}`);
    }
  }
});

Deno.test("cli: every daemon's --help has examples, each line within 78 columns", async () => {
  for (const sub of ["node", "supernode", "las", "xconnect"]) {
    const r = await runL2([sub, "--help"]);
    assertEquals(r.code, 0, r.stderr);
    const ex = r.stdout.slice(r.stdout.indexOf("Examples:"));
    assert(ex.startsWith("Examples:"), `${sub}: no examples\n${r.stdout}`);
    assertStringIncludes(ex, `\n  l2 ${sub} `);
    assertStringIncludes(ex, "--section");
    for (const l of ex.split("\n")) assert(l.length <= 78, `${sub}: ${l}`);
  }
});

Deno.test("cli: one spelling: --udp is a flag for las and xconnect (--udp yes|no still work, with a note); --section for every daemon", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      file,
      "las:\n  core: {}\n  other: {}\nxconnect:\n  pw1: { las: 192.0.2.1, vc: '7' }\n",
    );
    const las = async (...a: string[]) => {
      const r = await runL2(["las", "--config", file, ...a, "--check-config"]);
      assertEquals(r.code, 0, r.stderr);
      return { c: JSON.parse(r.stdout), stderr: r.stderr };
    };
    let x = await las("--section", "core", "--udp");
    assertEquals([x.c.section, x.c.config.udp, x.stderr], ["core", true, ""]);
    x = await las("--section", "core", "--udp", "yes");
    assertEquals(x.c.config.udp, true);
    assertStringIncludes(x.stderr, "--udp yes is deprecated: write --udp");
    x = await las("--section", "core", "--udp", "no");
    assertEquals(x.c.config.udp, false);
    assertStringIncludes(x.stderr, "--udp no is deprecated: leave --udp out");
    // The older positional section name still works, with a note.
    x = await las("other");
    assertEquals(x.c.section, "other");
    assertStringIncludes(x.stderr, "positional NAME is deprecated; use --section other");
    let r = await runL2(["las", "other", "--section", "core", "--config", file, "--check-config"]);
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "the section is named twice");
    r = await runL2([
      "xconnect",
      "--config",
      file,
      "--section",
      "pw1",
      "--udp=yes",
      "--check-config",
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(JSON.parse(r.stdout).config.udp, true);
    assertStringIncludes(r.stderr, "--udp yes is deprecated");
    r = await runL2([
      "node",
      "--section",
      "x",
      "--config",
      file,
      "--supernode",
      "192.0.2.9",
      "--check-config",
    ]);
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "no section node.x"); // --section is read
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
