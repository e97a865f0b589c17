/**
 * Paths in a config file resolve against the directory of that file; on the
 * command line, against the working directory; bad values point at
 * file:line:col. And `l2 keygen -o DIR/FILE` creates DIR (0700).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { loadSection } from "../../cmd/kit/load.ts";
import { ConfigError, normalizePath, path } from "../../cmd/kit/config.ts";
import { runKeygen } from "../../cmd/keygen.ts";

const fields = {
  key: path({ doc: "key file", default: "" }),
  state_dir: path({ doc: "state directory", default: "" }),
};

Deno.test("config: relative paths in a file resolve against the file's directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "l2t-paths-" });
  const cwd = Deno.cwd();
  try {
    await Deno.mkdir(`${dir}/etc`);
    const file = `${dir}/etc/l2.yaml`;
    await Deno.writeTextFile(
      file,
      "node:\n  home:\n    key: keys/node.key\n    state_dir: ../var/./l2/\n",
    );
    // From another working directory, and with the file named relatively.
    Deno.chdir(dir);
    const l = await loadSection("node", fields, { configPath: "etc/l2.yaml" });
    assertEquals(l.config.key, `${dir}/etc/keys/node.key`);
    assertEquals(l.config.state_dir, `${dir}/var/l2`);
    // A flag's relative path is the shell's: against the working directory.
    const f = await loadSection("node", fields, {
      configPath: file,
      flags: { key: { flag: "--key", value: "mine.key" } },
    });
    assertEquals(f.config.key, `${dir}/mine.key`);
    assertEquals(f.config.state_dir, `${dir}/var/l2`);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: a path that is not a string is refused at file:line:col", async () => {
  const dir = await Deno.makeTempDir({ prefix: "l2t-paths-" });
  try {
    const file = `${dir}/l2.yaml`;
    await Deno.writeTextFile(file, "node:\n  home:\n    key: [a, b]\n");
    const e = await assertRejects(
      () => loadSection("node", fields, { configPath: file }),
      ConfigError,
    );
    assertStringIncludes(e.message, `${file}:3:10: node.home.key: expected a path`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: normalizePath", () => {
  assertEquals(normalizePath("/etc/./x/../l2//keys/"), "/etc/l2/keys");
  assertEquals(normalizePath("/.."), "/");
  assertEquals(normalizePath(""), "");
});

Deno.test("keygen: -o DIR/FILE creates the missing directories with mode 0700 and says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "l2t-keygen-dir-" });
  try {
    const path = `${dir}/etc/l2/node.key`;
    const out: string[] = [], err: string[] = [];
    const code = await runKeygen(
      { cmd: "keygen", out: path },
      (l) => out.push(l),
      (l) => err.push(l),
    );
    assertEquals(code, 0, err.join("\n"));
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    assertEquals(Deno.statSync(`${dir}/etc/l2`).mode! & 0o777, 0o700);
    assertEquals(Deno.statSync(`${dir}/etc`).mode! & 0o777, 0o700);
    assertEquals(err, [`created directory ${dir}/etc (mode 0700) for the key file`]);
    assertEquals(out.length, 1);
    // Existing directory: nothing created, nothing said; an existing key: what to do.
    err.length = 0;
    assertEquals(
      await runKeygen({ cmd: "keygen", out: path }, (l) => out.push(l), (l) => err.push(l)),
      2,
    );
    assert(err[0].includes("--force") && err[0].includes("--public"), err[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
