/**
 * `l2 demo` end to end (issue 7): every step succeeds and nothing is left
 * behind; `--keep` leaves the lab for `l2 demo down`; Ctrl-C in the middle
 * still cleans up. Root (it builds namespaces). The demo's names are fixed
 * (`l2demo-*`), so these tests run one after another, never in parallel.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";

async function demoNamespaces(): Promise<string[]> {
  const r = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
  return new TextDecoder().decode(r.stdout).split("\n").map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith("l2demo-"));
}

Deno.test("demo: a full run narrates every step and cleans up", async () => {
  assertEquals(Deno.uid(), 0, "l2 demo needs root");
  assertEquals(await demoNamespaces(), [], "a demo lab is already running");
  const r = await runL2(["demo"], { timeoutMs: 120_000 });
  try {
    assertEquals(r.code, 0, r.stdout + r.stderr);
    const steps = r.stdout.split("\n").filter((l) => /^\[\s*\d+\]/.test(l));
    assert(steps.length >= 15, r.stdout);
    for (const s of steps) assert(/: ok \(\d+\.\d s\)$/.test(s), `step failed: ${s}`);
    for (
      const want of [
        "Nodes register with the supernode",
        "end-to-end sealed copy (relayed by the supernode, which cannot read it)",
        "encrypted end to end: aes-256-gcm",
        "path direct",
        "pings to fd99::2: 0% loss",
        "on the VPN (node 1's own TAP)",
        "established",
        "pings to fd64:100::2: 0% loss",
        "behind 10.88.0.31",
        "cleaned up the lab",
        "l2demo-h1 192.168.100.1 behind l2demo-e1",
      ]
    ) assertStringIncludes(r.stdout, want);
    assertEquals(await demoNamespaces(), []);
  } finally {
    if ((await demoNamespaces()).length) await runL2(["demo", "down"]);
  }
});

Deno.test("demo: --keep leaves the lab; demo down removes it; a second demo is refused meanwhile", async () => {
  try {
    const r = await runL2(["demo", "--only", "las", "--keep"], { timeoutMs: 90_000 });
    assertEquals(r.code, 0, r.stdout + r.stderr);
    assertStringIncludes(r.stdout, "the lab is still running");
    const ns = await demoNamespaces();
    assert(ns.includes("l2demo-las"), ns.join(","));
    const st = await runL2(["status", "--api", "127.0.0.1:7657", "--json"], {
      wrap: ["ip", "netns", "exec", "l2demo-las"],
    });
    assertEquals(JSON.parse(st.stdout).sessions.length, 2, "the kept lab still serves");
    const again = await runL2(["demo"]);
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "already running");
    const down = await runL2(["demo", "down"]);
    assertEquals(down.code, 0);
    assertStringIncludes(down.stdout, "removed");
    assertEquals(await demoNamespaces(), []);
  } finally {
    if ((await demoNamespaces()).length) await runL2(["demo", "down"]);
  }
});

Deno.test("demo: Ctrl-C in the middle cleans up and says so", async () => {
  const d = new Daemon(MAIN, ["demo"]);
  try {
    // The demo prints to stdout; wait until the first daemons run, then interrupt.
    const end = Date.now() + 30_000;
    while (!d.stdout.includes("[ 4]") && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assertStringIncludes(d.stdout, "[ 4]");
    d.kill("SIGINT");
    const s = await d.exited(30_000);
    assertEquals(s.code, 1);
    assertStringIncludes(d.stdout, "interrupted: cleaning up");
    assertStringIncludes(d.stdout, "cleaned up the lab");
    assertEquals(await demoNamespaces(), []);
    assert(!(await Deno.stat("/run/l2demo").then(() => true, () => false)), "/run/l2demo is left");
  } finally {
    await d.close();
    if ((await demoNamespaces()).length) await runL2(["demo", "down"]);
  }
});
