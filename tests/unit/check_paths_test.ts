/**
 * The CI path check (.ci/check-paths.ts): the repository refers to no path
 * outside its clone, planted offenders are found with file:line, and what
 * only looks like a path (URLs, CIDR prefixes, HTTP paths, regexes,
 * comments, system paths) is left alone.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { scanRepository, scanText, symlinkWhy } from "../../.ci/check-paths.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SCRIPT = new URL("../../.ci/check-paths.ts", import.meta.url).pathname;

Deno.test("check-paths: no file of the repository refers to a path outside it", async () => {
  const { files, findings } = await scanRepository(ROOT);
  assert(files > 100, `only ${files} files scanned`);
  assertEquals(
    findings.map((f) => `${f.file}:${f.line}:${f.col}: ${f.token}: ${f.why}`),
    [],
  );
});

// Each line below names a path outside the repository on purpose; the
// marker keeps the repository scan above from flagging this file, and the
// strings that name the team's shared folder are split so that a plain grep
// for such paths over the repository finds none either.
const OFFENDERS: [file: string, line: string][] = [
  ["tests/unit/x_test.ts", `const CAPTURES = "/work/` + `shared/captures";`], // check-paths: allow
  ["tests/unit/x_test.ts", `Deno.readFileSync("/home/alice/x.pcap")`], // check-paths: allow
  ["tests/unit/x_test.ts", `const dir = "/root/.cache/l2";`], // check-paths: allow
  ["tests/unit/x_test.ts", "const w = `/work`;"], // check-paths: allow
  ["tests/unit/x_test.ts", `new URL("file:///work/x.pcap")`], // check-paths: allow
  ["tests/unit/x_test.ts", `const d = Deno.env.get("HOME") + "/x";`], // check-paths: allow
  ["tests/unit/x_test.ts", "const d = `${Deno.cwd()}/../" + "shared/x`;"], // check-paths: allow
  ["tests/unit/x_test.ts", `import { x } from "../../../elsewhere/x.ts";`], // check-paths: allow
  ["README.md", "Read `../" + "shared/STYLE.md` first."], // check-paths: allow
  ["README.md", "Copy it to ~/bin/l2."], // check-paths: allow
  ["README.md", "PATH=/usr/bin:/work/deno/bin deno task test"], // check-paths: allow
  [".ci/run", 'cp -r "$HOME"/captures tests/'], // check-paths: allow
  ["docs/x.md", "See [the notes](../../notes/x.md)."], // check-paths: allow
];

Deno.test("check-paths: finds each planted reference, with its line and column", () => {
  for (const [file, line] of OFFENDERS) {
    const text = `first line\n${line}\nlast line\n`;
    const found = scanText(file, text);
    assertEquals(found.length >= 1, true, `not found in ${file}: ${line}`);
    assertEquals(found[0].line, 2, line);
    assertEquals(line.slice(found[0].col - 1).startsWith(found[0].token), true, line);
  }
});

const INNOCENT: [file: string, line: string][] = [
  ["ffi/tap.ts", `libc.open(cstr("/dev/net/tun"), C.O_RDWR, 0);`],
  ["ffi/netns.ts", 'const path = ns.startsWith("/") ? ns : `/run/netns/${ns}`;'],
  ["ffi/netns.ts", `openNs("/proc/thread-self/ns/net")`],
  ["cmd/x.ts", `const state = "/var/lib/l2"; // and /etc/l2/l2.yaml, /usr/local/bin/l2`],
  ["cmd/x.ts", "apt-get install x >/dev/null 2>&1 && cat /sys/class/net/eth0/mtu"],
  ["cmd/kit/api.ts", `if (url.pathname === "/status") return status(); // GET /metrics`],
  ["cmd/x.ts", "const key = `${stateDir}/node.key`; // <state_dir>/peer_pins.json"],
  ["cmd/x.ts", `const subnet = "10.0.0.0/24", v6 = "fe80::/64", all = "::/0";`],
  ["cmd/x.ts", "const url = `https://example.org/work/x`; // http://[::1]:8080/home/x"],
  ["tests/x_test.ts", `assertMatch(out, /listening/); if (/READY/.test(s)) x(/a b/g);`],
  ["tests/x_test.ts", `const n = a / b; // comments /* and */ and and/or`],
  ["tests/unit/x_test.ts", `import { x } from "../../core/x.ts"; // ../fixtures/x.hex`],
  ["docs/x.md", "See [the README](../README.md) and `/proc/<pid>/ns/net`."],
  ["README.md", "DENORT_BIN=/path/to/denort deno task compile; see /tmp/l2demo"],
  ["tests/x_test.ts", `Deno.readFileSync("/nonexistent/l2.yaml")`],
  ["tests/unit/install_test.ts", `launcherText("/opt/x"); // exec /opt/x/lib/l2/deno`],
];

Deno.test("check-paths: leaves system paths, URLs, prefixes, HTTP paths and regexes alone", () => {
  for (const [file, line] of INNOCENT) {
    assertEquals(scanText(file, line), [], `${file}: ${line}`);
  }
});

Deno.test("check-paths: a symbolic link is judged by where it points", () => {
  const out = "/work/" + "shared/captures"; // check-paths: allow
  assert(symlinkWhy("tests/fixtures/captures", out) !== null);
  assert(symlinkWhy("tests/fixtures/x", "../../../elsewhere/x") !== null); // check-paths: allow
  assert(symlinkWhy("x.pcap", "../x.pcap") !== null);
  assertEquals(symlinkWhy("tests/fixtures/x.pcap", "captures/cisco-sccrq.pcap"), null);
  assertEquals(symlinkWhy("tests/fixtures/x.pcap", "../../docs/../README.md"), null);
});

Deno.test("check-paths: the script fails on a planted line and names file:line; passes without it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "l2-check-paths-" });
  try {
    await Deno.mkdir(`${dir}/tests/unit`, { recursive: true });
    await Deno.writeTextFile(`${dir}/main.ts`, `console.log("/dev/null");\n`);
    const planted = `const CAPTURES = "/work/` + `shared/captures";\n`; // check-paths: allow
    await Deno.writeTextFile(`${dir}/tests/unit/golden_test.ts`, `// golden\n${planted}`);
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-run=git", SCRIPT, dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
    // Not a git checkout: every file under the directory is read.
    const bad = await run();
    const out = new TextDecoder().decode(bad.stdout);
    assertEquals(bad.code, 1, out);
    assertStringIncludes(out, "tests/unit/golden_test.ts:2:19: /work/" + "shared/captures"); // check-paths: allow

    await Deno.writeTextFile(`${dir}/tests/unit/golden_test.ts`, "// golden\n");
    const good = await run();
    assertEquals(good.code, 0, new TextDecoder().decode(good.stdout));

    // A symbolic link out of the clone is found too, whatever it points at.
    await Deno.symlink("/tmp", `${dir}/tests/fixtures`);
    const link = await run();
    assertEquals(link.code, 1);
    assertStringIncludes(new TextDecoder().decode(link.stdout), "tests/fixtures:1:1: /tmp");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
