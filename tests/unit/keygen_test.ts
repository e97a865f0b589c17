/**
 * `l2 keygen`: key files are created 0600 and never overwritten by accident,
 * loading refuses files others can read with a clear message, malformed files
 * name the line, and the command line parses.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { parse } from "@optique/core/parser";
import {
  formatKeyFile,
  fromBase64Key,
  keygenCommand,
  loadKeyFile,
  parseKeyFile,
  runKeygen,
  toBase64,
  unsafeMode,
} from "../../cmd/keygen.ts";
import { x25519PublicKey } from "../../ffi/crypto.ts";

Deno.test("keygen: writes a 0600 key file, prints its public key, refuses to overwrite", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "l2t-keygen-" });
  try {
    const path = `${dir}/node.key`;
    const out: string[] = [], err: string[] = [];
    assertEquals(
      await runKeygen({ cmd: "keygen", out: path }, (l) => out.push(l), (l) => err.push(l)),
      0,
    );
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    const k = loadKeyFile(path);
    assertEquals(out, [toBase64(k.publicKey)]);
    assertEquals(toBase64(x25519PublicKey(k.privateKey)), out[0]);
    assert(Deno.readTextFileSync(path).includes(`# public key: ${out[0]}`));
    assertEquals(
      await runKeygen({ cmd: "keygen", out: path }, (l) => out.push(l), (l) => err.push(l)),
      2,
    );
    assertEquals(err, [
      `Cannot write key file ${path}: it exists; keep it (l2 keygen --public ${path} prints ` +
      "its public key) or replace it with --force",
    ]);
    assertEquals(toBase64(loadKeyFile(path).publicKey), out[0]); // unchanged
    Deno.chmodSync(path, 0o644);
    assertEquals(await runKeygen({ cmd: "keygen", out: path, force: true }, (l) => out.push(l)), 0);
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
    assert(out[1] !== out[0], "--force made a new key");
    const pub: string[] = [];
    assertEquals(await runKeygen({ cmd: "keygen", public: path }, (l) => pub.push(l)), 0);
    assertEquals(pub, [out[1]]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("keygen: loading refuses key files that other users can read", () => {
  const dir = Deno.makeTempDirSync({ prefix: "l2t-keygen-" });
  try {
    const path = `${dir}/k`;
    const priv = new Uint8Array(32).fill(3);
    Deno.writeTextFileSync(path, formatKeyFile(priv, x25519PublicKey(priv)), { mode: 0o600 });
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      Deno.chmodSync(path, mode);
      const m = mode.toString(8);
      assertThrows(
        () => loadKeyFile(path),
        Error,
        `Cannot use key file ${path}: other users can access it (mode 0${m}); run chmod 600 ${path}`,
      );
    }
    Deno.chmodSync(path, 0o400);
    assertEquals(toBase64(loadKeyFile(path).privateKey), toBase64(priv));
    assertThrows(() => loadKeyFile(`${dir}/missing`), Error, `Cannot use key file ${dir}/missing`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("keygen: malformed key files name the line and what is expected", () => {
  const table: [string, string][] = [
    ["", "Cannot use key file f: no key in it"],
    ["# only a comment\n", "Cannot use key file f: no key in it"],
    [
      "not base64!\n",
      "Cannot use key file f:1: expected a base64 X25519 private key (44 characters), as l2 keygen writes it",
    ],
    [
      "# c\nAAAA\n",
      "Cannot use key file f:2: expected a base64 X25519 private key (44 characters), as l2 keygen writes it",
    ],
    [
      `${toBase64(new Uint8Array(32))}\n${toBase64(new Uint8Array(32))}\n`,
      "Cannot use key file f:2: expected one key line",
    ],
  ];
  for (const [text, msg] of table) {
    const r = parseKeyFile(text, "f");
    assertEquals(r.ok ? "ok" : r.message, msg);
  }
  assertEquals(fromBase64Key(toBase64(new Uint8Array(31))), null);
  assertEquals(unsafeMode(0o100600, "f"), null);
  assertEquals(
    unsafeMode(0o100644, "f"),
    "Cannot use key file f: other users can access it (mode 0644); run chmod 600 f",
  );
});

Deno.test("keygen: command line", () => {
  const a = parse(keygenCommand, ["keygen", "--out", "/tmp/x.key"]);
  assert(a.success);
  assertEquals(a.value, { cmd: "keygen", out: "/tmp/x.key", force: false });
  const b = parse(keygenCommand, ["keygen", "--public", "k"]);
  assert(b.success && "public" in b.value && b.value.public === "k");
  assertEquals(parse(keygenCommand, ["keygen"]).success, false);
});
