/**
 * The daemon kit, end to end: a small daemon built on it (tests/lab/kit_daemon.ts)
 * runs in a network namespace this test creates; `l2 status` talks to it;
 * signals reload, re-read logging and stop it. Needs root (ip netns).
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Daemon, runL2, runScript } from "../lab/l2proc.ts";

const KIT = new URL("../lab/kit_daemon.ts", import.meta.url).pathname;

async function sh(...argv: string[]): Promise<void> {
  const r = await new Deno.Command(argv[0], { args: argv.slice(1), stderr: "piped" }).output();
  if (r.code !== 0) {
    throw new Error(`${argv.join(" ")} failed: ${new TextDecoder().decode(r.stderr)}`);
  }
}

async function withNetns(tag: string, fn: (ns: string, wrap: string[]) => Promise<void>) {
  assertEquals(Deno.uid(), 0, "this test needs root (it creates a network namespace)");
  const ns = `l2t-${tag}-${Deno.pid}`;
  await sh("ip", "netns", "add", ns);
  try {
    await sh("ip", "-n", ns, "link", "set", "lo", "up");
    await fn(ns, ["ip", "netns", "exec", ns]);
  } finally {
    await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).output();
  }
}

function config(greeting: string, level = "info", extra = "") {
  return `log: { level: ${level} }
kit:
  greeting: ${greeting}
  api: 127.0.0.1:7755
  api_token: t0k3n
${extra}`;
}

Deno.test("daemon kit: status, metrics, token, USR1, HUP, bad reload, TERM", async () => {
  await withNetns("kit", async (_ns, wrap) => {
    const dir = await Deno.makeTempDir();
    const file = `${dir}/kit.yaml`;
    await Deno.writeTextFile(file, config("hi"), { mode: 0o600 }); // it holds a token
    const d = new Daemon(KIT, [file], {}, wrap);
    try {
      await d.waitLine(/kit-test: started/);
      // l2 status without the token is told why it is refused.
      let r = await runL2(["status", "--api", "127.0.0.1:7755"], { wrap });
      assertEquals(r.code, 1);
      assertStringIncludes(r.stderr, "wants a token");
      r = await runL2(["status", "--api", "127.0.0.1:7755", "--token", "t0k3n"], { wrap });
      assertEquals(r.code, 0, r.stderr);
      assertStringIncludes(r.stdout, 'kit-test "test" at 127.0.0.1:7755');
      assert(/\n {2}greeting +hi\n/.test(r.stdout), r.stdout);
      assertStringIncludes(r.stdout, "peers (1):");
      r = await runL2(["status", "--api", "127.0.0.1:7755", "--json"], {
        wrap,
        env: { L2_API_TOKEN: "t0k3n" },
      });
      const st = JSON.parse(r.stdout);
      assertEquals([st.role, st.greeting, st.pid], ["kit-test", "hi", d.pid]);
      r = await runL2(["status", "--api", "127.0.0.1:7755", "--metrics", "--token", "t0k3n"], {
        wrap,
      });
      assertStringIncludes(r.stdout, "# TYPE l2_test_frames_total counter");
      assertStringIncludes(r.stdout, 'l2_build_info{version="');

      // SIGUSR1: log section re-read, debug ticks appear; Deno's debugger stays shut.
      await Deno.writeTextFile(file, config("hi", "debug"));
      let mark = d.lines.length;
      d.kill("SIGUSR1");
      await d.waitLine(/SIGUSR1: log configuration re-read level=debug/, 10_000, mark);
      await d.waitLine(/debug kit-test: tick/, 10_000, mark);
      await new Promise((res) => setTimeout(res, 1200));
      assert(!d.lines.some((l) => l.includes("Debugger listening")), d.lines.join("\n"));
      const probe = await runScript(
        new URL("../lab/inspector_probe.ts", import.meta.url).pathname,
        [],
        { wrap },
      );
      assertEquals(probe.stdout.trim(), "closed", probe.stderr);

      // SIGHUP: the daemon applies what changed.
      await Deno.writeTextFile(file, config("bye"));
      mark = d.lines.length;
      d.kill("SIGHUP");
      await d.waitLine(/SIGHUP: greeting hi -> bye/, 10_000, mark);
      r = await runL2(["status", "--api", "127.0.0.1:7755", "--json", "--token", "t0k3n"], {
        wrap,
      });
      assertEquals(JSON.parse(r.stdout).greeting, "bye");

      // A broken config is refused; the daemon keeps running on the old one.
      await Deno.writeTextFile(file, config("bye", "info", "  surprise: 1\n"));
      mark = d.lines.length;
      d.kill("SIGHUP");
      const m = await d.waitLine(
        /config not reloaded, keeping the running one: (.*)/,
        10_000,
        mark,
      );
      assertStringIncludes(m[1], `${file}:6:3: kit.surprise: unknown key`);
      r = await runL2(["status", "--api", "127.0.0.1:7755", "--metrics", "--token", "t0k3n"], {
        wrap,
      });
      assertStringIncludes(r.stdout, "l2_config_reload_errors_total 1");

      mark = d.lines.length;
      d.kill("SIGTERM");
      const s = await d.exited();
      assertEquals(s.code, 0, d.lines.join("\n"));
      await d.waitLine(/clean stop \(SIGTERM received\)/, 30_000, mark);
    } finally {
      await d.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("daemon kit: exit 2 on a config error, 1 on a runtime failure", async () => {
  await withNetns("kitx", async (_ns, wrap) => {
    const dir = await Deno.makeTempDir();
    try {
      const bad = `${dir}/bad.yaml`;
      await Deno.writeTextFile(bad, "kit:\n  greeting: [x]\n");
      const d1 = new Daemon(KIT, [bad], {}, wrap);
      assertEquals((await d1.exited()).code, 2);
      assertStringIncludes(d1.lines.join("\n"), `${bad}:2:13: kit.greeting: expected a string`);

      const die = `${dir}/die.yaml`;
      await Deno.writeTextFile(die, "kit:\n  greeting: die\n  api: 127.0.0.1:7756\n");
      const d2 = new Daemon(KIT, [die], {}, wrap);
      assertEquals((await d2.exited()).code, 1);
      assertStringIncludes(d2.lines.join("\n"), "stopping: told to die");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("daemon kit: an error nobody catches is contained, counted and rate-limited; the daemon runs on", async () => {
  await withNetns("kitc", async (_ns, wrap) => {
    const dir = await Deno.makeTempDir();
    const file = `${dir}/kit.yaml`;
    await Deno.writeTextFile(file, "kit:\n  greeting: throw\n  api: 127.0.0.1:7759\n");
    const d = new Daemon(KIT, [file], {}, wrap);
    try {
      await d.waitLine(/the uncaught handler threw TypeError/, 10_000);
      const metrics = async () =>
        (await runL2(["status", "--api", "127.0.0.1:7759", "--metrics"], { wrap })).stdout;
      const count = async () =>
        Number(
          /l2_packet_errors_total\{daemon="kit-test",handler="uncaught",kind="TypeError"\} (\d+)/
            .exec(await metrics())?.[1] ?? 0,
        );
      const first = await count();
      // Ticks every 50 ms keep failing, and keep being counted: the process did not exit.
      const end = Date.now() + 10_000;
      while (await count() <= first + 5 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const n = await count();
      assert(n > first + 5, `errors counted: ${first} then ${n}`);
      const st = JSON.parse(
        (await runL2(["status", "--api", "127.0.0.1:7759", "--json"], { wrap })).stdout,
      );
      assert(st.packet_errors.total >= n, JSON.stringify(st.packet_errors));
      assertEquals(st.packet_errors.last.handler, "uncaught");
      // Rate-limited: 5 lines in the first 10 s window, however many errors.
      const said = d.lines.filter((l) => l.includes("handler=uncaught"));
      assert(said.length <= 6, said.join("\n"));
      d.kill("SIGTERM");
      assertEquals((await d.exited()).code, 0, d.lines.join("\n"));
    } finally {
      await d.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});
