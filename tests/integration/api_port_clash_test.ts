/**
 * A daemon whose management port is taken refuses to start before it makes
 * anything: no TAP device appears (watched with `ip monitor link` in the
 * namespace), and the message names --api and the config key. Runs `l2 node`
 * in a network namespace of its own (names `l2t-apc-*`, TAP `apc0`).
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { runL2 } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";
import { randomBytes, x25519PublicKey } from "../../ffi/crypto.ts";

async function sh(...argv: string[]): Promise<string> {
  const r = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

Deno.test("daemon kit: a taken management port is refused before any TAP device is made", async () => {
  assertEquals(Deno.uid(), 0, "this test needs root (it creates a network namespace)");
  const ns = `l2t-apc-${Deno.pid}`;
  const dir = await Deno.makeTempDir({ prefix: "l2t-apc-" });
  const port = 7799;
  let holder: Deno.ChildProcess | null = null;
  let monitor: Deno.ChildProcess | null = null;
  await sh("ip", "netns", "add", ns);
  try {
    await sh("ip", "-n", ns, "link", "set", "lo", "up");
    // Something else holds the port (inside the namespace: nothing outside is touched).
    holder = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns,
        Deno.execPath(),
        "eval",
        `Deno.listen({ hostname: "127.0.0.1", port: ${port} }); setInterval(() => {}, 1e6);`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let held = false;
    for (let i = 0; i < 100 && !held; i++) {
      held = (await sh("ip", "netns", "exec", ns, "ss", "-Hltn", `sport = :${port}`)).trim() !== "";
      if (!held) await new Promise((r) => setTimeout(r, 200));
    }
    assert(held, "the holder never listened");
    monitor = new Deno.Command("ip", {
      args: ["-n", ns, "monitor", "link"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // The monitor is live once it reports a marker link made and removed after it started.
    let seen = "";
    const reading = (async () => {
      for await (const chunk of monitor.stdout.pipeThrough(new TextDecoderStream())) {
        seen += chunk;
      }
    })();
    let live = false;
    for (let i = 0; i < 50 && !live; i++) {
      await sh("ip", "-n", ns, "link", "add", "apcm0", "type", "veth", "peer", "name", "apcm1");
      await sh("ip", "-n", ns, "link", "del", "apcm0");
      await new Promise((r) => setTimeout(r, 100));
      live = seen.includes("apcm0");
    }
    assert(live, "ip monitor never reported the marker link");
    const snKey = toBase64(x25519PublicKey(randomBytes(new Uint8Array(32))));
    writeNewKeyFile(`${dir}/node.key`); // so that nothing but the port stops it
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `node:\n  apc:\n    supernode: 127.0.0.1:7654\n    supernode_key: ${snKey}\n` +
        `    tap: apc0\n    state_dir: ${dir}/state\n    key: ${dir}/node.key\n` +
        `    api: 127.0.0.1:${port}\n`,
    );
    const r = await runL2(["node", "--config", cfg], {
      wrap: ["ip", "netns", "exec", ns],
      timeoutMs: 60_000,
    });
    monitor.kill("SIGTERM");
    await monitor.status;
    await reading;
    monitor = null;
    assert(!seen.includes("apc0"), `a TAP device was made:\n${seen}`);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, `the management endpoint 127.0.0.1:${port} is in use`);
    assertStringIncludes(r.stderr, "--api 127.0.0.1:PORT");
    assertStringIncludes(r.stderr, "node.apc.api in the config file");
    // Nothing came before the refusal: no TAP, no supernode contact.
    assert(!/apc0|tap|supernode 127/i.test(r.stderr.split("is in use")[0]), r.stderr);
  } finally {
    try {
      monitor?.kill("SIGKILL");
      await monitor?.status;
    } catch { /* gone */ }
    try {
      holder?.kill("SIGKILL");
      await holder?.status;
    } catch { /* gone */ }
    await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).output();
    await Deno.remove(dir, { recursive: true });
  }
});
