/**
 * `--check-config` predicts the daemon (issue 16): the configurations an
 * operator gets wrong most are refused by both with exit 2 and the same
 * message, before anything is opened; a good one prints the paths the
 * daemon will use (relative to the config file, defaults filled). The
 * daemons here run with `--api off` and fail before they open a device or a
 * socket, so no namespace is needed; nothing is left behind.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runL2 } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";

const SN_KEY = toBase64(new Uint8Array(32).fill(9));

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "l2chk" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Both ways: `--check-config`, then the daemon itself; returns both results. */
async function both(role: string, cfg: string) {
  const check = await runL2([role, "--config", cfg, "--check-config"]);
  const run = await runL2([role, "--config", cfg, "--api", "off"], { timeoutMs: 30_000 });
  return { check, run };
}

function nodeYaml(dir: string, extra: string): string {
  return `node:\n  default:\n    supernode: 192.0.2.1\n    state_dir: ${dir}/state\n` +
    `    tap: l2chk0\n${extra}`;
}

Deno.test("check-config: a node without supernode_key fails like the daemon, naming key and flag", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(cfg, nodeYaml(dir, ""));
    const { check, run } = await both("node", cfg);
    assertEquals(check.code, 2, check.stdout + check.stderr);
    assertEquals(run.code, 2, run.stderr);
    for (const r of [check, run]) {
      assertStringIncludes(r.stderr, "node.supernode_key (--supernode-key): required");
    }
    // Refused before anything was opened or created.
    assert(!(await exists(`${dir}/state`)), "the state directory was created");
  });
});

Deno.test("check-config: supernode_key: notakey fails like the daemon", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(cfg, nodeYaml(dir, "    supernode_key: notakey\n"));
    const { check, run } = await both("node", cfg);
    assertEquals(check.code, 2, check.stdout + check.stderr);
    assertEquals(run.code, 2, run.stderr);
    for (const r of [check, run]) {
      assertStringIncludes(r.stderr, "expected a base64 X25519 public key");
    }
  });
});

Deno.test("check-config: a key file that does not exist, or that others can read, fails like the daemon", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      nodeYaml(dir, `    supernode_key: ${SN_KEY}\n    key: keys/node.key\n`),
    );
    let { check, run } = await both("node", cfg);
    assertEquals(check.code, 2, check.stdout + check.stderr);
    assertEquals(run.code, 2, run.stderr);
    for (const r of [check, run]) {
      // Relative to the config file, and what to do about it.
      assertStringIncludes(r.stderr, `${dir}/keys/node.key does not exist`);
      assertStringIncludes(r.stderr, `l2 keygen -o ${dir}/keys/node.key`);
    }
    await Deno.mkdir(`${dir}/keys`);
    writeNewKeyFile(`${dir}/keys/node.key`);
    await Deno.chmod(`${dir}/keys/node.key`, 0o644);
    ({ check, run } = await both("node", cfg));
    assertEquals(check.code, 2, check.stdout + check.stderr);
    assertEquals(run.code, 2, run.stderr);
    for (const r of [check, run]) assertStringIncludes(r.stderr, "chmod 600");
  });
});

Deno.test("check-config: a supernode in open mode without a secret fails like the daemon", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n    mode: open\n    listen: 127.0.0.1:1\n`,
    );
    const { check, run } = await both("supernode", cfg);
    assertEquals(check.code, 2, check.stdout + check.stderr);
    assertEquals(run.code, 2, run.stderr);
    for (const r of [check, run]) {
      assertStringIncludes(r.stderr, "supernode.secret: required in open mode");
    }
  });
});

Deno.test("check-config: effective values: state_dir and key as the daemon uses them, relative to the file", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/etc`);
    const cfg = `${dir}/etc/l2.yaml`;
    // Relative paths: against the config file's directory, not the working directory.
    await Deno.writeTextFile(
      cfg,
      `node:\n  site-a:\n    supernode: 192.0.2.1\n    supernode_key: ${SN_KEY}\n` +
        "    state_dir: state/../var\n" +
        `supernode:\n  hub:\n    state_dir: ${dir}/sn\n    members: [${SN_KEY}]\n`,
    );
    let r = await runL2(["node", "--config", cfg, "--check-config"], { wrap: ["env", "-C", "/"] });
    assertEquals(r.code, 0, r.stderr);
    let c = JSON.parse(r.stdout).config;
    assertEquals(c.state_dir, `${dir}/etc/var`);
    assertEquals(c.key, `${dir}/etc/var/node.key`);
    assertStringIncludes(c.public_key, "created at the first start");
    // The default state directory is filled in too.
    await Deno.writeTextFile(
      cfg,
      `node:\n  site-a:\n    supernode: 192.0.2.1\n    supernode_key: ${SN_KEY}\n`,
    );
    r = await runL2(["node", "--config", cfg, "--check-config"]);
    assertEquals(r.code, 0, r.stderr);
    c = JSON.parse(r.stdout).config;
    assertEquals([c.state_dir, c.key], ["/var/lib/l2/site-a", "/var/lib/l2/site-a/node.key"]);
    // A supernode's existing key: its public half is printed (what the nodes need).
    await Deno.mkdir(`${dir}/sn`, { mode: 0o700 });
    const pub = toBase64(writeNewKeyFile(`${dir}/sn/supernode.key`));
    await Deno.writeTextFile(
      cfg,
      `supernode:\n  hub:\n    state_dir: ${dir}/sn\n    members: [${SN_KEY}]\n`,
    );
    r = await runL2(["supernode", "--config", cfg, "--check-config"]);
    assertEquals(r.code, 0, r.stderr);
    c = JSON.parse(r.stdout).config;
    assertEquals([c.state_dir, c.key, c.public_key], [`${dir}/sn`, `${dir}/sn/supernode.key`, pub]);
  });
});

Deno.test("check-config: xconnect fills the MTU it will use; an IPv6 LAS fails like the edge", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(cfg, "xconnect:\n  e1:\n    las: 192.0.2.1\n    vc: '100'\n");
    const r = await runL2(["xconnect", "--config", cfg, "--check-config"]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(JSON.parse(r.stdout).config.mtu, 1454);
    await Deno.writeTextFile(cfg, "xconnect:\n  e1:\n    las: '2001:db8::1'\n    vc: '100'\n");
    const { check, run } = await both("xconnect", cfg);
    assertEquals(check.code, 2, check.stdout + check.stderr);
    assertEquals(run.code, 2, run.stderr);
    for (const x of [check, run]) assertStringIncludes(x.stderr, "only IPv4 LAS addresses");
  });
});

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("check-config: supernodes instead of supernode; both at once fails like the daemon", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    const list = `    supernodes:\n      - { address: 192.0.2.1, key: "${SN_KEY}" }\n` +
      `      - { address: "192.0.2.2:7000", key: "${SN_KEY}" }\n`;
    await Deno.writeTextFile(
      cfg,
      `node:\n  default:\n    state_dir: ${dir}/state\n    tap: l2chk0\n${list}`,
    );
    const ok = await runL2(["node", "--config", cfg, "--check-config"]);
    assertEquals(ok.code, 0, ok.stdout + ok.stderr);
    assertStringIncludes(ok.stdout, "192.0.2.2");
    await Deno.writeTextFile(cfg, nodeYaml(dir, `    supernode_key: "${SN_KEY}"\n${list}`));
    const { check, run } = await both("node", cfg);
    assertEquals(check.code, 2, check.stdout + check.stderr);
    assertEquals(run.code, 2, run.stderr);
    for (const r of [check, run]) {
      assertStringIncludes(r.stderr, "give either supernodes or supernode and supernode_key");
    }
  });
});
