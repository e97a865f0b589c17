/**
 * The README: its configuration reference documents every key of every
 * daemon schema, and its commands work as written for root on a minimal
 * Debian (no sudo, the pinned Deno, tasks that exist, real subcommands).
 */
import { assert } from "../assert.ts";
import { supernodeFields } from "../../cmd/supernode.ts";
import { nodeFields } from "../../cmd/node.ts";
import { lasFields, switchFields } from "../../cmd/las_config.ts";
import { xconnectFields } from "../../cmd/xconnect_config.ts";
import { logFields } from "../../cmd/kit/load.ts";

const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));

function tableFor(heading: string): string {
  const start = readme.indexOf(heading);
  assert(start >= 0, `README has no reference table under ${heading}`);
  const rest = readme.slice(start + heading.length);
  const end = rest.search(/\n\n(?!\|)/);
  return rest.slice(0, end < 0 ? undefined : end);
}

Deno.test("readme: every config key is in the reference, and nothing else is", () => {
  const cases: [string, Record<string, unknown>][] = [
    ["`log:` (top level, or inside any section)", logFields],
    ["`supernode: NAME:`", supernodeFields],
    ["`node: NAME:`", nodeFields],
    ["`las: NAME:`", lasFields],
    ["`las: NAME: switch:`", switchFields],
    ["`xconnect: NAME:`", xconnectFields],
  ];
  for (const [heading, fields] of cases) {
    const table = tableFor(heading);
    const documented = [...table.matchAll(/^\|\s*`([a-z_]+)`\s*\|/gm)].map((m) => m[1]);
    for (const key of Object.keys(fields)) {
      assert(documented.includes(key), `README ${heading} does not document ${key}`);
    }
    for (const key of documented) {
      assert(key in fields, `README ${heading} documents ${key}, which the schema does not have`);
    }
  }
});

/** Lines of the README's ```sh and ```console blocks. */
function commandLines(): string[] {
  const out: string[] = [];
  for (const m of readme.matchAll(/```(?:sh|console)\n([\s\S]*?)```/g)) {
    out.push(...m[1].split("\n").filter((l) => l.trim() !== ""));
  }
  return out;
}

Deno.test("readme: commands work for root on a minimal Debian: no sudo, pinned Deno, install step", () => {
  const lines = commandLines();
  assert(lines.length > 10, "README has command blocks");
  for (const l of lines) {
    assert(
      !/(^|[\s$#;&|])sudo\s/.test(l),
      `README command uses sudo (none on a minimal Debian): ${l}`,
    );
    const npx = /npx\s+(?:-y\s+)?(deno@\S+)/.exec(l);
    if (npx) assert(npx[1] === "deno@2.9.6", `README pins another Deno: ${l}`);
    const task = /deno@2\.9\.6 task ([\w:-]+)/.exec(l);
    if (task) {
      assert(task[1] in denoJson.tasks, `README runs a task deno.json does not have: ${l}`);
    }
  }
  assert(lines.some((l) => /^npx -y deno@2\.9\.6 task install\b/.test(l)), "README installs l2");
  assert(readme.includes("npx -y deno@2.9.6 task uninstall"), "README says how to uninstall");
  assert(lines.some((l) => /^l2 --version\b/.test(l)), "README shows l2 --version");
});

Deno.test("readme: every `l2 ...` example names a real subcommand; every task is in the table", () => {
  const subcommands = [
    "demo",
    "supernode",
    "node",
    "las",
    "xconnect",
    "status",
    "capture",
    "keygen",
    "mat",
    "completion",
    "--version",
  ];
  let seen = 0;
  for (const line of commandLines()) {
    // The prompt ("# " root, "$ " user) goes, then a trailing comment.
    const l = line.replace(/^[#$] /, "").replace(/\s+#.*$/, "");
    for (const m of l.matchAll(/(?:^|\bnetns exec \S+ |\|\s*|\btask )l2 (\S+)/g)) {
      seen++;
      assert(subcommands.includes(m[1]), `README example runs l2 ${m[1]}: ${line}`);
    }
  }
  assert(seen >= 15, `only ${seen} l2 examples found`);
  for (const task of Object.keys(denoJson.tasks)) {
    if (task === "l2") continue; // shown in Install and run
    assert(readme.includes(`| \`deno task ${task}\``), `README's task table lacks ${task}`);
  }
});
