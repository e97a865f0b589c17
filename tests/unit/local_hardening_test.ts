/**
 * Local hardening (issue 13, section 4), the pieces without daemons: the
 * token compare, which endpoint addresses count as loopback, config files
 * holding secrets, state directories and the state file writer and reader.
 * tests/integration/local_test.ts runs the daemons.
 */
import fc from "fast-check";
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../assert.ts";
import { apiExposure, isLoopbackHost, sameSecret, tokenCheck } from "../../cmd/kit/api.ts";
import {
  ConfigError,
  parseYaml,
  readConfigFile,
  secretsIn,
  unsafeMode,
} from "../../cmd/kit/config.ts";
import { readStateFile, unsafeStateDir, writeStateFile } from "../../cmd/vpn_state.ts";

Deno.test("api token: tokenCheck and sameSecret are string equality, whatever the lengths and bytes", () => {
  const table: [string, string, boolean][] = [
    ["t0k3n", "t0k3n", true],
    ["", "", true],
    ["t0k3n", "t0k3", false], // a prefix
    ["t0k3", "t0k3n", false],
    ["t0k3n", "t0k3n\0", false], // a trailing NUL is a byte like any other
    ["t0k3n", "T0k3n", false],
    ["x".repeat(4096), "x".repeat(4095) + "y", false], // differs in the last byte only
    ["\u00e9", "e\u0301", false], // no Unicode normalization
    ["", "t0k3n", false],
  ];
  for (const [a, b, want] of table) {
    assertEquals(sameSecret(a, b), want, `${a} vs ${b}`);
    assertEquals(tokenCheck(b)(a), want, `${a} vs ${b}`);
  }
  const check = tokenCheck("t0k3n");
  assert(check("t0k3n") && check("t0k3n"), "a check is reusable");
  fc.assert(
    fc.property(fc.string(), fc.string(), (a, b) => sameSecret(a, b) === (a === b)),
    { numRuns: 300 },
  );
  fc.assert(fc.property(fc.string(), (a) => sameSecret(a, a)), { numRuns: 100 });
});

Deno.test("api endpoint: which addresses are loopback", () => {
  const loopback = [
    "127.0.0.1",
    "127.0.0.53",
    "127.255.255.254",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::0:1",
    "::ffff:127.0.0.1", // IPv4-mapped loopback
    "::FFFF:7f00:1",
    "localhost",
    "LocalHost",
  ];
  const not = [
    "0.0.0.0", // every address
    "::",
    "::0",
    "0:0:0:0:0:0:0:0",
    "::ffff:0.0.0.0", // every IPv4 address, mapped
    "::ffff:10.0.0.1",
    "10.0.0.1",
    "128.0.0.1",
    "126.255.255.255",
    "::2",
    "::127.0.0.1", // IPv4-compatible (deprecated), not loopback
    "fe80::1",
    "fe80::1%lo",
    "::1%lo",
    "127.1", // forms only a resolver reads are not trusted
    "0x7f.0.0.1",
    "0177.0.0.1",
    "2130706433",
    "0",
    "localhost.example.net",
    "my-host",
    "",
  ];
  for (const h of loopback) assert(isLoopbackHost(h), `${h} is loopback`);
  for (const h of not) assert(!isLoopbackHost(h), `${h} is not loopback`);
});

Deno.test("api endpoint: off loopback without a token is refused, with the key to set", () => {
  assertEquals(apiExposure(null, null, "node.home"), null); // off
  assertEquals(apiExposure({ host: "127.0.0.1", port: 7656 }, null, "node.home"), null);
  assertEquals(apiExposure({ host: "::1", port: 7656 }, null, "node.home"), null);
  assertEquals(apiExposure({ host: "0.0.0.0", port: 7656 }, "t", "node.home"), null);
  // A token no request can carry (the header value is trimmed) is refused anywhere.
  assertStringIncludes(
    apiExposure({ host: "127.0.0.1", port: 7656 }, " t0k3n", "node.home") ?? "accepted",
    "node.home.api_token: begins or ends with white space",
  );
  for (const host of ["0.0.0.0", "::", "::ffff:0.0.0.0", "192.0.2.1"]) {
    const why = apiExposure({ host, port: 7656 }, null, "node.home");
    assert(why !== null, host);
    assertStringIncludes(why, "is not on loopback and has no token");
    assertStringIncludes(why, "set node.home.api_token");
    assertStringIncludes(why, "--api 127.0.0.1:7656");
    assertStringIncludes(why, "--api off");
  }
});

Deno.test("config: secretsIn finds every non-empty secret, in any section", () => {
  const cf = parseYaml(
    "log: { level: info }\n" +
      'las:\n  a:\n    secret: s\n  b:\n    secret: ""\n' +
      "node:\n  home:\n    api_token: t\n    secret_file: /etc/l2/secret\n" +
      "xconnect:\n  x:\n    secret:\n",
    "f.yaml",
  );
  assertEquals(secretsIn(cf), ["las.a.secret (line 4)", "node.home.api_token (line 9)"]);
  assertEquals(secretsIn(parseYaml("", "e.yaml")), []);
});

Deno.test("config: a file holding a secret is refused when others can access it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f = `${dir}/l2.yaml`;
    await Deno.writeTextFile(f, "las:\n  default:\n    secret: s3cret\n");
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o610]) {
      await Deno.chmod(f, mode);
      const e = await readConfigFile(f).then(() => null, (e) => e);
      assert(e instanceof ConfigError, `mode ${mode.toString(8)} accepted`);
      assertEquals(
        e.message,
        `Cannot use config file ${f}: other users can access it (mode 0${mode.toString(8)}) ` +
          `and it holds a secret: las.default.secret (line 3); run chmod 600 ${f}`,
      );
    }
    for (const mode of [0o600, 0o400]) {
      await Deno.chmod(f, mode);
      assertEquals(secretsIn(await readConfigFile(f)), ["las.default.secret (line 3)"]);
    }
    // No secret: any mode.
    await Deno.writeTextFile(f, "las:\n  default:\n    udp: true\n");
    await Deno.chmod(f, 0o644);
    await readConfigFile(f);
    // The one mode check: key files read the same.
    assertEquals(
      unsafeMode(0o100644, "k"),
      "Cannot use key file k: other users can access it (mode 0644); run chmod 600 k",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state directory: owned by this user and writable by no one else, nor its parents", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sd = `${dir}/state`;
    await Deno.mkdir(sd, { mode: 0o700 });
    assertEquals(unsafeStateDir(sd, 0), null);
    await Deno.chmod(sd, 0o755);
    assertEquals(unsafeStateDir(sd, 0), null); // others may read (the files are 0600)
    for (const mode of [0o777, 0o770, 0o702, 0o1777]) {
      await Deno.chmod(sd, mode);
      assertStringIncludes(
        unsafeStateDir(sd, 0) ?? "accepted",
        `Cannot use state directory ${sd}: other users can write to it (mode 0${
          mode.toString(8)
        }); run chmod 700 ${sd}`,
      );
    }
    await Deno.chmod(sd, 0o700);
    // Another owner: as seen by a daemon running as uid 1234.
    assertStringIncludes(
      unsafeStateDir(sd, 1234) ?? "accepted",
      `${sd}: it is owned by uid 0, not by this user (uid 1234); run chown 1234 ${sd}`,
    );
    // A parent others can write to (not sticky) is refused; a sticky one (/tmp) is not.
    await Deno.chmod(dir, 0o777);
    assertStringIncludes(unsafeStateDir(sd, 0) ?? "accepted", `other users can write to ${dir}`);
    await Deno.chmod(dir, 0o1777);
    assertEquals(unsafeStateDir(sd, 0), null);
    await Deno.chmod(dir, 0o700);
    // Through a link of ours: the directory it leads to is checked.
    await Deno.symlink(sd, `${dir}/link`);
    assertEquals(unsafeStateDir(`${dir}/link`, 0), null);
    await Deno.chmod(sd, 0o777);
    assertStringIncludes(unsafeStateDir(`${dir}/link`, 0) ?? "accepted", "other users can write");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state files: written through a new file and a rename, never through a link", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const victim = `${dir}/victim`;
    await Deno.writeTextFile(victim, "mine\n");
    const enc = (s: string) => new TextEncoder().encode(s);
    // A link at the temporary name: removed, not followed.
    await Deno.symlink(victim, `${dir}/a.json.tmp`);
    writeStateFile(`${dir}/a.json`, enc("[1]"));
    assertEquals(await Deno.readTextFile(victim), "mine\n");
    assertEquals(await Deno.readTextFile(`${dir}/a.json`), "[1]");
    assertEquals((await Deno.lstat(`${dir}/a.json`)).mode! & 0o777, 0o600);
    // A dangling link at the temporary name: nothing is created where it points.
    await Deno.symlink(`${dir}/made-through-link`, `${dir}/e.json.tmp`);
    writeStateFile(`${dir}/e.json`, enc("[5]"));
    assertEquals(await Deno.lstat(`${dir}/made-through-link`).then(() => true, () => false), false);
    assertEquals(await Deno.readTextFile(`${dir}/e.json`), "[5]");
    // A link at the name itself: replaced by the file.
    await Deno.symlink(victim, `${dir}/b.json`);
    writeStateFile(`${dir}/b.json`, enc("[2]"));
    assert((await Deno.lstat(`${dir}/b.json`)).isFile);
    assertEquals(await Deno.readTextFile(victim), "mine\n");
    // A stale temporary file (a crash): replaced; an existing file's mode does not carry over.
    await Deno.writeTextFile(`${dir}/c.json.tmp`, "half");
    await Deno.writeTextFile(`${dir}/c.json`, "old", { mode: 0o644 });
    await Deno.chmod(`${dir}/c.json`, 0o644);
    writeStateFile(`${dir}/c.json`, enc("[3]"));
    assertEquals(await Deno.readTextFile(`${dir}/c.json`), "[3]");
    assertEquals((await Deno.lstat(`${dir}/c.json`)).mode! & 0o777, 0o600);
    for (const f of ["a", "b", "c"]) {
      assertEquals(await Deno.lstat(`${dir}/${f}.json.tmp`).then(() => true, () => false), false);
    }
    // Reading: a regular file, nothing for a missing one, never through a link.
    assertEquals(readStateFile(`${dir}/a.json`), "[1]");
    assertEquals(readStateFile(`${dir}/missing.json`), null);
    await Deno.symlink(victim, `${dir}/d.json`);
    assertThrows(
      () => readStateFile(`${dir}/d.json`),
      Error,
      `${dir}/d.json: not a regular file (a symbolic link)`,
    );
    assertThrows(() => readStateFile(dir), Error, "not a regular file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
