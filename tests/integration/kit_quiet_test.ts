/**
 * Warnings mean something is wrong: a second daemon on the host (whose
 * inspector port 127.0.0.1:9229 the first one holds) starts without a
 * warning, and a SIGTERM stops it with info lines only. Two kit daemons
 * (tests/lab/kit_daemon.ts) in a namespace of this test's own (`l2t-kq-*`).
 */
import { assert, assertEquals } from "../assert.ts";
import { Daemon } from "../lab/l2proc.ts";

const KIT = new URL("../lab/kit_daemon.ts", import.meta.url).pathname;

Deno.test("daemon kit: a second daemon on the host and a normal SIGTERM log no warnings", async () => {
  assertEquals(Deno.uid(), 0, "this test needs root (it creates a network namespace)");
  const ns = `l2t-kq-${Deno.pid}`;
  const dir = await Deno.makeTempDir({ prefix: "l2t-kq-" });
  const wrap = ["ip", "netns", "exec", ns];
  const daemons: Daemon[] = [];
  const add = await new Deno.Command("ip", { args: ["netns", "add", ns] }).output();
  assertEquals(add.code, 0);
  try {
    await new Deno.Command("ip", { args: ["-n", ns, "link", "set", "lo", "up"] }).output();
    for (const [i, port] of [[1, 7761], [2, 7762]]) {
      const file = `${dir}/kit${i}.yaml`;
      await Deno.writeTextFile(file, `log: { level: info }\nkit:\n  api: 127.0.0.1:${port}\n`);
      const d = new Daemon(KIT, [file], {}, wrap);
      daemons.push(d);
      await d.waitLine(/kit-test: started/);
    }
    const second = daemons[1];
    second.kill("SIGTERM");
    const st = await second.exited();
    assertEquals(st.code, 0, second.lines.join("\n"));
    const text = second.lines.join("\n");
    assert(text.includes("stopped"), text);
    const loud = second.lines.filter((l) => / (warn|error) /.test(l));
    assertEquals(loud, [], text);
  } finally {
    for (const d of daemons) {
      try {
        d.kill("SIGKILL");
        await d.exited();
      } catch { /* gone */ }
    }
    await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).output();
    await Deno.remove(dir, { recursive: true });
  }
});
