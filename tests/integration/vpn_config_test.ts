/**
 * The VPN daemons' security configuration (issue 6), without namespaces:
 * key files others can read, a missing or malformed `supernode_key`, open
 * mode without a secret, malformed member lists (file, line and column)
 * are refused with exit 2 before any socket or TAP device is opened; the
 * default key is created with mode 0600 and its public key logged; the
 * member list parser accepts exactly the 32-byte base64 keys (property).
 */
import fc from "fast-check";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runL2 } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";
import { memberList } from "../../cmd/vpn_security.ts";
import { ConfigError } from "../../cmd/kit/config.ts";

/** A loopback UDP port for the one test that binds (unique per process). */
const PORT = 20_000 + Deno.pid % 20_000;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("vpn config: key files others can read are refused (exit 2, with the chmod to run)", async () => {
  await withDir(async (dir) => {
    const key = `${dir}/sn.key`;
    writeNewKeyFile(key);
    await Deno.chmod(key, 0o644);
    // State directories inside the test's directory (nothing under /var/lib).
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n` +
        `node:\n  default:\n    state_dir: ${dir}/n\n`,
    );
    let r = await runL2([
      "supernode",
      "--listen",
      `127.0.0.1:${PORT}`,
      "--api",
      "off",
      "--key",
      key,
      "--config",
      cfg,
      "--member",
      toBase64(new Uint8Array(32).fill(7)),
    ]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `other users can access it (mode 0644); run chmod 600 ${key}`);
    r = await runL2([
      "node",
      "--supernode",
      "127.0.0.1:9",
      "--supernode-key",
      toBase64(new Uint8Array(32).fill(9)),
      "--key",
      key,
      "--config",
      cfg,
      "--api",
      "off",
    ]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "other users can access it");
    // An explicit key path that does not exist is not created.
    r = await runL2([
      "supernode",
      "--listen",
      `127.0.0.1:${PORT}`,
      "--api",
      "off",
      "--key",
      `${dir}/missing.key`,
      "--config",
      cfg,
    ]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "does not exist: create it with l2 keygen -o");
    let exists = true;
    await Deno.stat(`${dir}/missing.key`).catch(() => exists = false);
    assert(!exists, "an explicit key path must not be created");
  });
});

Deno.test("vpn config: the node requires a well-formed supernode_key", async () => {
  let r = await runL2(["node", "--supernode", "127.0.0.1:9", "--api", "off"]);
  assertEquals(r.code, 2, r.stderr);
  assertStringIncludes(r.stderr, "node.supernode_key (--supernode-key): required");
  r = await runL2([
    "node",
    "--supernode",
    "127.0.0.1:9",
    "--supernode-key",
    "not-a-key",
    "--api",
    "off",
  ]);
  assertEquals(r.code, 2, r.stderr);
  assertStringIncludes(
    r.stderr,
    "node.supernode_key (--supernode-key): expected a base64 X25519 public key",
  );
});

Deno.test("vpn config: open mode needs a secret; member list errors name file, line and column", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n    mode: open\n    listen: 127.0.0.1:${PORT}\n    api: off\n`,
    );
    let r = await runL2(["supernode", "--config", cfg]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "supernode.secret: required in open mode");
    await Deno.writeTextFile(
      cfg,
      "supernode:\n  default:\n    members:\n" +
        `      - ${toBase64(new Uint8Array(32).fill(1))}\n` +
        "      - key: tooshort=\n",
    );
    r = await runL2(["supernode", "--config", cfg, "--check-config"]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `${cfg}:5:14: supernode.default.members[1].key`);
    assertStringIncludes(r.stderr, "expected a base64 X25519 public key");
    await Deno.writeTextFile(
      cfg,
      "supernode:\n  default:\n    members:\n" +
        `      - { key: ${toBase64(new Uint8Array(32).fill(1))}, id: 4 }\n` +
        `      - { key: ${toBase64(new Uint8Array(32).fill(2))}, id: 4 }\n`,
    );
    r = await runL2(["supernode", "--config", cfg, "--check-config"]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "node id 4 is pinned to two keys");
  });
});

Deno.test("vpn config: federation entries: own id, duplicates, bad fields name file, line and column", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    const k = (n: number) => toBase64(new Uint8Array(32).fill(n));
    const cases: [string, string][] = [
      [
        `      - { id: 2, address: "192.0.2.2:7654", key: ${k(2)} }\n` +
        `      - { id: 1, address: "192.0.2.3:7654", key: ${k(3)} }\n`,
        `${cfg}:6:9: supernode.default.federation[1]: id 1 is this supernode's own id`,
      ],
      [
        `      - { id: 2, address: "192.0.2.2:7654", key: ${k(2)} }\n` +
        `      - { id: 2, address: "192.0.2.3:7654", key: ${k(3)} }\n`,
        `${cfg}:6:9: supernode.default.federation[1]: federation peer id 2 is listed twice`,
      ],
      [
        `      - { id: 2, address: "192.0.2.2:7654", key: ${k(2)} }\n` +
        `      - { id: 3, address: "192.0.2.3:7654", key: ${k(2)} }\n`,
        "federation[1]: this key is listed twice",
      ],
      [
        `      - { id: 2, address: "sn2.example:7654", key: ${k(2)} }\n`,
        `${cfg}:5:27: supernode.default.federation[0].address: expected an IP address`,
      ],
      [
        `      - { id: 256, address: "192.0.2.2:7654", key: ${k(2)} }\n`,
        `${cfg}:5:15: supernode.default.federation[0].id: expected a supernode id 1..255`,
      ],
      [`      - { id: 2, address: "192.0.2.2:7654" }\n`, "missing required key key"],
    ];
    for (const [entries, want] of cases) {
      await Deno.writeTextFile(
        cfg,
        `supernode:\n  default:\n    id: 1\n    federation:\n${entries}`,
      );
      const r = await runL2(["supernode", "--config", cfg, "--check-config"]);
      assertEquals(r.code, 2, r.stderr);
      assertStringIncludes(r.stderr, want);
    }
    // --id overrides the file: the entry naming it is refused then too.
    await Deno.writeTextFile(
      cfg,
      `supernode:\n  default:\n    id: 1\n    federation:\n` +
        `      - { id: 2, address: "192.0.2.2:7654", key: ${k(2)} }\n`,
    );
    let r = await runL2(["supernode", "--config", cfg, "--check-config", "--id", "2"]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "federation[0]: id 2 is this supernode's own id");
    r = await runL2(["supernode", "--config", cfg, "--check-config"]);
    assertEquals(r.code, 0, r.stderr);
  });
});

Deno.test("vpn config: a node's peers list: errors name file, line and column; a good one checks", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    const snKey = toBase64(new Uint8Array(32).fill(9));
    const head = `node:\n  default:\n    supernode: 127.0.0.1:9\n    supernode_key: ${snKey}\n` +
      "    peers:\n";
    await Deno.writeTextFile(
      cfg,
      head + `      - ${toBase64(new Uint8Array(32).fill(1))}\n      - key: nope\n`,
    );
    let r = await runL2(["node", "--config", cfg, "--check-config"]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `${cfg}:7:14: node.default.peers[1].key`);
    await Deno.writeTextFile(
      cfg,
      head + `      - { key: ${toBase64(new Uint8Array(32).fill(1))}, id: 5, name: office }\n`,
    );
    r = await runL2(["node", "--config", cfg, "--check-config"]);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "peers");
  });
});

Deno.test("vpn config: the default key is created 0600 and its public key logged", async () => {
  await withDir(async (dir) => {
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n    mode: open\n    secret: s3cret\n` +
        `    listen: 127.0.0.1:${PORT}\n    api: off\n`,
      { mode: 0o600 }, // it holds a secret
    );
    // Started, then stopped by SIGTERM once it listens.
    const p = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, "supernode"].concat(
        ["--config", cfg],
      ),
      stderr: "piped",
      stdout: "piped",
    }).spawn();
    let text = "";
    const reader = p.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const end = Date.now() + 15_000;
    while (!/supernode public key: (\S+)/.test(text) && Date.now() < end) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    p.kill("SIGTERM");
    await p.status;
    reader.releaseLock();
    await p.stdout.cancel();
    const m = /supernode public key: (\S+)/.exec(text);
    assert(m, text);
    assertEquals((await Deno.stat(`${dir}/sn/supernode.key`)).mode! & 0o777, 0o600);
    const pub = await runL2(["keygen", "--public", `${dir}/sn/supernode.key`]);
    assertEquals(pub.stdout.trim(), m[1]);
  });
});

Deno.test("vpn config: members accept exactly base64 of 32 bytes (property)", () => {
  const field = memberList("test");
  const where = { file: "t.yaml", lines: null, path: "members", node: null };
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
      const k = toBase64(b);
      const out = field.parse([k, { key: k, id: 3, name: "x" }], where);
      return out.length === 2 && out[0].key === k && out[1].id === 3;
    }),
    { seed: 6 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      let ok = true;
      try {
        field.parse([s], where);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        ok = false;
      }
      // Accepted only when it decodes to 32 bytes.
      return ok === /^[A-Za-z0-9+/]{43}=$/.test(s.trim());
    }),
    { seed: 7 },
  );
});
