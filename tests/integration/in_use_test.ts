/**
 * "In use" errors say what to change (issue 16): a supernode whose UDP port
 * another program holds, and a second `l2 xconnect` on a TAP the first one
 * has open, fail with a message naming the flag and the config key, and how
 * to find the holder. In a network namespace of this test's own
 * (`l2t-iu-*`, TAP `iux0`).
 */
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";

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

Deno.test("in use: a taken UDP port and a busy TAP name the flag and the key", async () => {
  assertEquals(Deno.uid(), 0, "this test needs root (it creates a network namespace)");
  const ns = `l2t-iu-${Deno.pid}`;
  const dir = await Deno.makeTempDir({ prefix: "l2t-iu-" });
  const wrap = ["ip", "netns", "exec", ns];
  const held: Daemon[] = [];
  await sh("ip", "netns", "add", ns);
  try {
    await sh("ip", "-n", ns, "link", "set", "lo", "up");
    // Another program holds UDP 127.0.0.1:7754.
    const holder = new Daemon(
      "data:application/typescript," + encodeURIComponent(
        `import dgram from "node:dgram";
         const s = dgram.createSocket("udp4");
         s.bind(7754, "127.0.0.1", () => console.error("holding"));`,
      ),
      [],
      {},
      wrap,
    );
    held.push(holder);
    await holder.waitLine(/holding/, 30_000);
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `supernode:\n  hub:\n    listen: 127.0.0.1:7754\n    state_dir: ${dir}/sn\n    api: off\n` +
        "xconnect:\n  pw:\n    las: 192.0.2.1\n    vc: '9'\n    tap: iux0\n    api: off\n",
    );
    let r = await runL2(["supernode", "--section", "hub", "--config", cfg], { wrap });
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, "127.0.0.1:7754 is in use by another program");
    assertStringIncludes(r.stderr, "ss -lunp 'sport = :7754'");
    assertStringIncludes(r.stderr, "--listen 127.0.0.1:PORT or supernode.hub.listen");
    // The first edge holds TAP iux0; the second is told which flag and key to change.
    const first = new Daemon(MAIN, ["xconnect", "--section", "pw", "--config", cfg], {}, wrap);
    held.push(first);
    await first.waitLine(/started/, 60_000);
    r = await runL2(["xconnect", "--section", "pw", "--config", cfg], { wrap });
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, "TAP device iux0 is busy");
    assertStringIncludes(r.stderr, "--tap NAME or xconnect.pw.tap");
  } finally {
    for (const d of held) await d.close();
    await new Deno.Command("ip", { args: ["netns", "del", ns] }).output();
    await Deno.remove(dir, { recursive: true });
  }
});
