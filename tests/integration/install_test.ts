/**
 * `deno task install` for real, into temporary prefixes (never the real
 * /usr/local): the launcher runs with no network (a fresh namespace with only
 * loopback, an empty DENO_DIR), `kill` of the pid it was started as stops
 * the daemon, the systemd units pass `systemd-analyze verify`, a DESTDIR
 * install is staged with PREFIX paths inside, and uninstall removes exactly
 * what install made. Root (namespaces). Names: `l2in-*`.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { findOnPath } from "../../cmd/kit/runtime.ts";
import { SERVICE_KINDS } from "../../cmd/install.ts";

const INSTALL = new URL("../../cmd/install.ts", import.meta.url).pathname;
const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
const dec = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

function installer(args: string[]) {
  return run(Deno.execPath(), ["run", "--allow-all", "--quiet", INSTALL, ...args]);
}

/** Every path under `dir`, relative, sorted. */
function tree(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${dir}${rel}`)) {
    const p = `${rel}/${e.name}`;
    out.push(p);
    if (e.isDirectory) out.push(...tree(dir, p));
  }
  return out.sort();
}

async function delNs(ns: string) {
  await run("ip", ["netns", "del", ns]);
}

async function waitFor(what: string, ms: number, fn: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("install: into a temp prefix; runs offline; kill reaches the daemon; units verify; uninstall removes it all", async (t) => {
  assertEquals(Deno.uid(), 0, "needs root (network namespaces)");
  const base = await Deno.makeTempDir({ prefix: "l2in-" });
  const prefix = `${base}/usr/local`;
  const l2 = `${prefix}/bin/l2`;
  const ns = "l2in-offline";
  try {
    // Something of someone else's that must survive the uninstall.
    await Deno.mkdir(`${prefix}/share/zsh/site-functions`, { recursive: true });
    await Deno.writeTextFile(`${prefix}/share/zsh/site-functions/_other`, "#compdef other\n");
    const before = tree(base);

    await t.step("install writes the launcher, runtime, bundle, units, completion", async () => {
      const r = await installer(["install", "--prefix", prefix]);
      assertEquals(r.code, 0, r.out + r.err);
      for (
        const f of [
          "bin/l2",
          "lib/l2/deno",
          "lib/l2/l2.js",
          "lib/l2/installed",
          "share/bash-completion/completions/l2",
          "share/zsh/site-functions/_l2",
          "share/fish/vendor_completions.d/l2.fish",
          ...SERVICE_KINDS.map((k) => `lib/systemd/system/l2-${k}@.service`),
        ]
      ) assert((await Deno.stat(`${prefix}/${f}`)).isFile, f);
      assertEquals((await Deno.stat(l2)).mode! & 0o777, 0o755);
      assertStringIncludes(
        await Deno.readTextFile(`${prefix}/share/bash-completion/completions/l2`),
        "complete",
      );
    });

    await t.step("the installed bash completion completes through the installed l2", async () => {
      const script = `source "$COMP"; COMP_WORDS=(l2 de); COMP_CWORD=1; COMP_LINE="l2 de"; ` +
        `COMP_POINT=5; _l2 l2 de l2; echo "[\${COMPREPLY[*]}]"`;
      const r = await run("bash", ["-c", script], {
        COMP: `${prefix}/share/bash-completion/completions/l2`,
        PATH: `${prefix}/bin:${Deno.env.get("PATH")}`,
      });
      assertEquals(r.out.trim(), "[demo]", r.err);
    });

    await t.step("--version with no network and an empty Deno cache", async () => {
      await delNs(ns);
      assertEquals((await run("ip", ["netns", "add", ns])).code, 0);
      const cache = `${base}/empty-cache`;
      const r = await run("ip", ["netns", "exec", ns, l2, "--version"], {
        DENO_DIR: cache,
        HOME: cache,
      });
      assertEquals(r.code, 0, r.err);
      const want = new RegExp(
        `^l2 ${denoJson.version.replaceAll(".", "\\.")} \\(Deno ${Deno.version.deno}, V8 \\S+, ` +
          `TypeScript \\S+; runtime ${prefix}/lib/l2/deno\\)$`,
      );
      assert(want.test(r.out.trim()), r.out);
      // An example from the README, through the launcher, offline too.
      const m = await run("ip", ["netns", "exec", ns, l2, "mat", "decode", "00:01:00:02:00:05"], {
        DENO_DIR: cache,
      });
      assertEquals(
        m.out,
        "00:01:00:02:00:05  supernode 1  node 2  leaf 5  node prefix 00:01:00:02:00:00/32\n",
      );
    });

    await t.step(
      "the pid the launcher was started as is the daemon: SIGTERM stops it",
      async () => {
        const child = new Deno.Command("ip", {
          args: ["netns", "exec", ns, l2, "las", "--api", "127.0.0.1:7657"],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        let err = "";
        const pump = (async () => {
          for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) err += c;
        })();
        try {
          await waitFor("las started", 30_000, () => / started /.test(err));
          // ip netns exec and the launcher both exec: the pid runs the installed Deno. Compared
          // as files (device and inode), not as link text: under a chroot the kernel names the
          // executable from the real root.
          const exe = await Deno.stat(`/proc/${child.pid}/exe`);
          const installed = await Deno.stat(`${prefix}/lib/l2/deno`);
          assertEquals(
            [exe.dev, exe.ino],
            [installed.dev, installed.ino],
            "the pid runs lib/l2/deno",
          );
          child.kill("SIGTERM");
          const s = await child.status;
          await pump;
          assertEquals(s.code, 0, err);
          assertStringIncludes(err, "stopping: SIGTERM received");
          const left = await run("ip", ["netns", "pids", ns]);
          assertEquals(left.out.trim(), "", "nothing left running in the namespace");
        } finally {
          try {
            child.kill("SIGKILL");
          } catch { /* exited */ }
          await child.status;
        }
      },
    );

    await t.step("a shell's `l2 las & kill $!` stops the LAS itself", async () => {
      const log = `${base}/las.log`;
      const script = `"$L2" las --api 127.0.0.1:7657 2>"$LOG" & pid=$!
i=0
until grep -q ' started ' "$LOG"; do
  sleep 0.1; i=$((i + 1)); [ $i -lt 300 ] || { kill -9 $pid; exit 9; }
done
kill $pid; wait $pid; echo "exit $?"`;
      const r = await run("ip", ["netns", "exec", ns, "sh", "-c", script], { L2: l2, LOG: log });
      const text = await Deno.readTextFile(log);
      assertEquals(r.out.trim(), "exit 0", r.err + text);
      assertStringIncludes(text, "stopping: SIGTERM received");
      assertEquals((await run("ip", ["netns", "pids", ns])).out.trim(), "", "nothing left");
    });

    await t.step("systemd-analyze verify passes on every unit", async (s) => {
      const tool = findOnPath("systemd-analyze");
      if (!tool) {
        // CI installs it (.ci/run: systemd, L2_CI=1); there a missing tool is a failure.
        const ci = Deno.env.get("L2_CI") || Deno.env.get("CI");
        assert(!ci, "systemd-analyze is missing: apt-get install systemd");
        console.log("  systemd-analyze not installed here: not verified");
        return;
      }
      for (const kind of SERVICE_KINDS) {
        await s.step(kind, async () => {
          const unit = `${prefix}/lib/systemd/system/l2-${kind}@.service`;
          const r = await run(tool, ["verify", "--man=no", unit]);
          assertEquals(r.code, 0, r.out + r.err);
          // verify exits 0 on unknown keys and bad values too: any word from it is a finding.
          assertEquals((r.out + r.err).trim(), "", `${kind}: ${r.out}${r.err}`);
        });
      }
    });

    await t.step("install refuses to replace a bin/l2 it did not write", async () => {
      const other = `${base}/other`;
      await Deno.mkdir(`${other}/bin`, { recursive: true });
      await Deno.writeTextFile(`${other}/bin/l2`, "#!/bin/sh\necho someone else's l2\n");
      const r = await installer(["install", "--prefix", other]);
      assertEquals(r.code, 1);
      assertStringIncludes(r.err, "is not an l2 launcher");
      assertEquals(tree(other), ["/bin", "/bin/l2"], "nothing written");
      await Deno.remove(other, { recursive: true });
    });

    await t.step("uninstall removes exactly what install made", async () => {
      const r = await installer(["uninstall", "--prefix", prefix]);
      assertEquals(r.code, 0, r.out + r.err);
      const mine = (p: string) => p.startsWith("/empty-cache") || p === "/las.log";
      assertEquals(tree(base).filter((p) => !mine(p)), before);
      const again = await installer(["uninstall", "--prefix", prefix]);
      assertEquals(again.code, 0);
      assertStringIncludes(again.out, "nothing installed");
    });
  } finally {
    await delNs(ns);
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("install: DESTDIR stages the files; the paths inside are PREFIX paths", async () => {
  const dest = await Deno.makeTempDir({ prefix: "l2in-dest-" });
  try {
    const r = await installer(["install", "--destdir", dest, "--prefix", "/usr/local"]);
    assertEquals(r.code, 0, r.out + r.err);
    const launcher = await Deno.readTextFile(`${dest}/usr/local/bin/l2`);
    assertStringIncludes(launcher, "exec /usr/local/lib/l2/deno run ");
    assert(!launcher.includes(dest), "no staging path in the launcher");
    const unit = await Deno.readTextFile(`${dest}/usr/local/lib/systemd/system/l2-node@.service`);
    assertStringIncludes(unit, "ExecStart=/usr/local/bin/l2 node --section %i");
    const manifest = await Deno.readTextFile(`${dest}/usr/local/lib/l2/installed`);
    assert(!manifest.includes(dest), "manifest paths are relative to PREFIX");
    const u = await installer(["uninstall", "--destdir", dest, "--prefix", "/usr/local"]);
    assertEquals(u.code, 0, u.out + u.err);
    // Only the prefix itself stays (install does not own it).
    assertEquals(tree(dest), ["/usr", "/usr/local"], "everything staged is gone, directories too");
  } finally {
    await Deno.remove(dest, { recursive: true });
  }
});
