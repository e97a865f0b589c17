/**
 * Local hardening (issue 13, section 4), with the real daemons in a
 * namespace this test creates (`l2t-l2lo-*`, TAP names `l2lo*`):
 *
 * - a management endpoint off loopback without a token is refused at start
 *   (exit 2, the key to set named), before any TAP device, socket or state
 *   directory is made; with a token it serves;
 * - a config file holding a secret or token that other users can read is
 *   refused (exit 2, `chmod 600 FILE`), whichever daemon's section holds it;
 * - state files are written and read without following symbolic links: a
 *   link planted at a state file's name or its temporary name leaves its
 *   target untouched and unread;
 * - a state directory others can write to, owned by another user, or below
 *   a directory others can write to, is refused (exit 2) before anything is
 *   created in it.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Lab } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";
import { toBase64 } from "../../cmd/keygen.ts";

/** A refused daemon exits at once; one that starts (the bug) is killed after this. */
const REFUSED_WITHIN_MS = 20_000;
const SOME_KEY = toBase64(new Uint8Array(32).fill(9));

async function withLab(fn: (lab: Lab, ns: string, dir: string) => Promise<void>): Promise<void> {
  const lab = await Lab.create("l2lo");
  const dir = await Deno.makeTempDir({ prefix: "l2lo-" });
  try {
    const ns = await lab.netns("a");
    await fn(lab, ns, dir);
  } finally {
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const wrap = (ns: string) => ["ip", "netns", "exec", ns];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The names of the links in `ns` (to see that no TAP device was made). */
async function links(lab: Lab, ns: string): Promise<string> {
  return (await lab.ip(ns, "-o", "link", "show")).stdout;
}

Deno.test("local: a management endpoint off loopback without a token is refused before anything starts", async () => {
  await withLab(async (lab, ns, dir) => {
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `node:\n  default:\n    state_dir: ${dir}/n\n    supernode_key: "${SOME_KEY}"\n` +
        `supernode:\n  default:\n    state_dir: ${dir}/sn\n` +
        `las:\n  default:\n    udp: true\n`,
    );
    const cases: [string[], string, string][] = [
      [
        ["node", "--supernode", "127.0.0.1:9", "--tap", "l2lo0", "--api", "0.0.0.0:7791"],
        "0.0.0.0:7791",
        "node.default.api_token",
      ],
      [
        ["supernode", "--listen", "127.0.0.1:7792", "--member", SOME_KEY, "--api", "[::]:7793"],
        "[::]:7793",
        "supernode.default.api_token",
      ],
      [["las", "--api", "[::ffff:0.0.0.0]:7794"], "[::ffff:0.0.0.0]:7794", "las.default.api_token"],
    ];
    for (const [args, shown, key] of cases) {
      const r = await runL2([...args, "--config", cfg], {
        wrap: wrap(ns),
        timeoutMs: REFUSED_WITHIN_MS,
      });
      assertEquals(r.code, 2, `${args[0]}: ${r.stderr}`);
      assertStringIncludes(r.stderr, `management endpoint ${shown} is not on loopback`);
      assertStringIncludes(r.stderr, `set ${key}`);
      assertStringIncludes(r.stderr, "--api off");
    }
    // Nothing was made: no TAP device, no state directory (nor key) for either VPN daemon.
    assert(!(await links(lab, ns)).includes("l2lo0"), await links(lab, ns));
    assert(!(await exists(`${dir}/n`)), "the node created its state directory");
    assert(!(await exists(`${dir}/sn`)), "the supernode created its state directory");
    // --check-config says the same.
    const c = await runL2(["las", "--config", cfg, "--api", "0.0.0.0:7794", "--check-config"]);
    assertEquals(c.code, 2, c.stderr);
    assertStringIncludes(c.stderr, "is not on loopback");

    // With a token (in a 0600 file) the endpoint serves off loopback, and asks for the token.
    const tokened = `${dir}/tokened.yaml`;
    await Deno.writeTextFile(
      tokened,
      `las:\n  default:\n    api: 0.0.0.0:7795\n    api_token: l2lo-t0k3n\n`,
      { mode: 0o600 },
    );
    const las = new Daemon(MAIN, ["las", "--config", tokened], {}, wrap(ns));
    try {
      await las.waitLine(/management endpoint on http:\/\/0\.0\.0\.0:7795/, 20_000);
      await las.waitLine(/ started version=/, 20_000);
      let s = await runL2(["status", "--api", "127.0.0.1:7795"], { wrap: wrap(ns) });
      assert(s.code !== 0, s.stdout);
      assertStringIncludes(s.stderr, "wants a token");
      s = await runL2(["status", "--api", "127.0.0.1:7795", "--json", "--token", "l2lo-t0k3n"], {
        wrap: wrap(ns),
      });
      assertEquals(s.code, 0, s.stderr);
      assertEquals(JSON.parse(s.stdout).role, "las");
      las.kill("SIGTERM");
      assertEquals((await las.exited()).code, 0, las.lines.join("\n"));
    } finally {
      await las.close();
    }
  });
});

Deno.test("local: a config file holding a secret that others can read is refused", async () => {
  await withLab(async (_lab, ns, dir) => {
    // The las's own secret, world-readable: the daemon does not start.
    const lasCfg = `${dir}/las.yaml`;
    await Deno.writeTextFile(lasCfg, `las:\n  default:\n    secret: l2lo-s3cret\n`);
    await Deno.chmod(lasCfg, 0o644);
    let r = await runL2(["las", "--config", lasCfg, "--api", "off"], {
      wrap: wrap(ns),
      timeoutMs: REFUSED_WITHIN_MS,
    });
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(
      r.stderr,
      `Cannot use config file ${lasCfg}: other users can access it (mode 0644) and it holds a ` +
        `secret: las.default.secret (line 3); run chmod 600 ${lasCfg}`,
    );
    assert(!r.stderr.includes("l2lo-s3cret"), "the message must not quote the secret");
    // An api_token readable by the group, in the node's section.
    const nodeCfg = `${dir}/node.yaml`;
    await Deno.writeTextFile(
      nodeCfg,
      `node:\n  default:\n    state_dir: ${dir}/n\n    supernode_key: "${SOME_KEY}"\n` +
        `    api_token: l2lo-t0k3n\n`,
    );
    await Deno.chmod(nodeCfg, 0o640);
    r = await runL2(
      ["node", "--config", nodeCfg, "--supernode", "127.0.0.1:9", "--tap", "l2lo1"],
      { wrap: wrap(ns), timeoutMs: REFUSED_WITHIN_MS },
    );
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `(mode 0640) and it holds a secret: node.default.api_token`);
    assert(!(await exists(`${dir}/n`)), "the node created its state directory");
    // Another daemon's secret in the same file: the file is refused to every daemon.
    const shared = `${dir}/shared.yaml`;
    await Deno.writeTextFile(
      shared,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n` +
        `xconnect:\n  default:\n    secret: l2lo-s3cret\n`,
    );
    await Deno.chmod(shared, 0o604);
    r = await runL2(
      ["supernode", "--config", shared, "--listen", "127.0.0.1:7796", "--member", SOME_KEY],
      { wrap: wrap(ns), timeoutMs: REFUSED_WITHIN_MS },
    );
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "xconnect.default.secret (line 6); run chmod 600");
    // The same files at mode 0600 are accepted; a world-readable file without secrets is too.
    for (const f of [lasCfg, nodeCfg, shared]) await Deno.chmod(f, 0o600);
    r = await runL2(["las", "--config", lasCfg, "--check-config"]);
    assertEquals(r.code, 0, r.stderr);
    const plain = `${dir}/plain.yaml`;
    await Deno.writeTextFile(plain, `las:\n  default:\n    secret: ""\n    hello_interval: 30\n`);
    await Deno.chmod(plain, 0o644);
    r = await runL2(["las", "--config", plain, "--check-config"]);
    assertEquals(r.code, 0, r.stderr);
  });
});

Deno.test("local: state files are written and read without following symbolic links", async () => {
  await withLab(async (lab, ns, dir) => {
    const victim = (name: string) => `${dir}/${name}`;
    const precious = "precious l2lo: not JSON, not yours\n";
    for (const v of ["v1", "v2", "v3", "v4", "v5"]) {
      await Deno.writeTextFile(victim(v), precious);
      await Deno.chmod(victim(v), 0o644);
    }
    // Supernode: links at the bindings file and at its temporary name.
    await Deno.mkdir(`${dir}/sn`, { mode: 0o700 });
    await Deno.symlink(victim("v1"), `${dir}/sn/bindings.json.tmp`);
    await Deno.symlink(victim("v2"), `${dir}/sn/bindings.json`);
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n    api: off\n` +
        `node:\n  default:\n    state_dir: ${dir}/n\n    supernode_key: "${SOME_KEY}"\n` +
        `    api: off\n`,
    );
    const sn = new Daemon(
      MAIN,
      ["supernode", "--config", cfg, "--listen", "127.0.0.1:7797", "--member", SOME_KEY],
      {},
      wrap(ns),
    );
    try {
      // "started": the signal handlers are in place.
      await sn.waitLine(/listening on UDP/, 20_000);
      await sn.waitLine(/ started version=/, 20_000);
      sn.kill("SIGTERM"); // saves the bindings
      assertEquals((await sn.exited()).code, 0, sn.lines.join("\n"));
    } finally {
      await sn.close();
    }
    // Node: links at the leaf table, the pins and their temporary names.
    await Deno.mkdir(`${dir}/n`, { mode: 0o700 });
    await Deno.symlink(victim("v3"), `${dir}/n/leaves.json.tmp`);
    await Deno.symlink(victim("v4"), `${dir}/n/peer_pins.json.tmp`);
    await Deno.symlink(victim("v5"), `${dir}/n/leaves.json`);
    const node = new Daemon(
      MAIN,
      ["node", "--config", cfg, "--supernode", "127.0.0.1:9", "--tap", "l2lo2"],
      {},
      wrap(ns),
    );
    try {
      await node.waitLine(/node on l2lo2/, 20_000);
      await node.waitLine(/ started version=/, 20_000);
      node.kill("SIGTERM"); // saves the leaf table and the pins
      assertEquals((await node.exited()).code, 0, node.lines.join("\n"));
    } finally {
      await node.close();
    }
    const logs = sn.lines.concat(node.lines).join("\n");
    for (const v of ["v1", "v2", "v3", "v4", "v5"]) {
      assertEquals(await Deno.readTextFile(victim(v)), precious, `${v} was written through a link`);
      assertEquals((await Deno.stat(victim(v))).mode! & 0o777, 0o644, `${v}'s mode changed`);
    }
    // What a link pointed at was never read into the log either.
    assert(!logs.includes("precious"), logs);
    assertStringIncludes(logs, `${dir}/n/leaves.json: not a regular file (a symbolic link)`);
    // The state files are now regular files of the daemons, mode 0600.
    for (const f of ["sn/bindings.json", "n/leaves.json", "n/peer_pins.json"]) {
      const st = await Deno.lstat(`${dir}/${f}`);
      assert(st.isFile, `${f} is not a regular file`);
      assertEquals(st.mode! & 0o777, 0o600, f);
      JSON.parse(await Deno.readTextFile(`${dir}/${f}`));
      assert(!(await exists(`${dir}/${f}.tmp`)), `${f}.tmp left behind`);
    }
    void lab;
  });
});

Deno.test("local: a state directory others can write to, or owned by another user, is refused", async () => {
  await withLab(async (lab, ns, dir) => {
    const cfg = (stateDir: string) =>
      `supernode:\n  default:\n    state_dir: ${stateDir}\n    api: off\n` +
      `node:\n  default:\n    state_dir: ${stateDir}\n    supernode_key: "${SOME_KEY}"\n` +
      `    api: off\n`;
    const sn = (file: string) =>
      runL2(
        ["supernode", "--config", file, "--listen", "127.0.0.1:7798", "--member", SOME_KEY],
        { wrap: wrap(ns), timeoutMs: REFUSED_WITHIN_MS },
      );
    // World-writable.
    await Deno.mkdir(`${dir}/open`);
    await Deno.chmod(`${dir}/open`, 0o777);
    await Deno.writeTextFile(`${dir}/open.yaml`, cfg(`${dir}/open`));
    let r = await sn(`${dir}/open.yaml`);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(
      r.stderr,
      `Cannot use state directory ${dir}/open: other users can write to it (mode 0777); ` +
        `run chmod 700 ${dir}/open`,
    );
    assert(!(await exists(`${dir}/open/supernode.key`)), "a key was created in it");
    // Group-writable, for the node: refused before its TAP device is made.
    await Deno.mkdir(`${dir}/grp`);
    await Deno.chmod(`${dir}/grp`, 0o770);
    await Deno.writeTextFile(`${dir}/grp.yaml`, cfg(`${dir}/grp`));
    r = await runL2(
      ["node", "--config", `${dir}/grp.yaml`, "--supernode", "127.0.0.1:9", "--tap", "l2lo3"],
      { wrap: wrap(ns), timeoutMs: REFUSED_WITHIN_MS },
    );
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `other users can write to it (mode 0770)`);
    assert(!(await links(lab, ns)).includes("l2lo3"), await links(lab, ns));
    assert(!(await exists(`${dir}/grp/node.key`)), "a key was created in it");
    // Owned by another user (nobody), mode 0700.
    await Deno.mkdir(`${dir}/theirs`, { mode: 0o700 });
    await Deno.chown(`${dir}/theirs`, 65534, 65534);
    await Deno.writeTextFile(`${dir}/theirs.yaml`, cfg(`${dir}/theirs`));
    r = await sn(`${dir}/theirs.yaml`);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(
      r.stderr,
      `Cannot use state directory ${dir}/theirs: it is owned by uid 65534, not by this user (uid 0)`,
    );
    // Below a directory others can write to (not sticky): they could swap it.
    await Deno.mkdir(`${dir}/pub/sn`, { recursive: true, mode: 0o700 });
    await Deno.chmod(`${dir}/pub`, 0o777);
    await Deno.writeTextFile(`${dir}/pub.yaml`, cfg(`${dir}/pub/sn`));
    r = await sn(`${dir}/pub.yaml`);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `other users can write to ${dir}/pub (mode 0777)`);
    // Reached through a link another user owns.
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${dir}/via`);
    await run(["chown", "-h", "65534", `${dir}/via`]);
    await Deno.writeTextFile(`${dir}/via.yaml`, cfg(`${dir}/via`));
    r = await sn(`${dir}/via.yaml`);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `the link ${dir}/via on its path is owned by uid 65534`);
  });
});

async function run(cmd: string[]): Promise<void> {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1) }).output();
  if (out.code !== 0) throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}
