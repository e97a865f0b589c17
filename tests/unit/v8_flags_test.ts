/**
 * cmd/v8_flags.ts is the one list of V8 flags; deno.json's `l2` task cannot
 * import it, so this checks the task carries exactly that list, and that
 * V8 accepts every flag (an unknown flag stops deno before l2 starts).
 */
import { assert, assertEquals } from "../assert.ts";
import { V8_FLAGS, V8_FLAGS_ARG } from "../../cmd/v8_flags.ts";

Deno.test("v8 flags: deno.json's l2 task passes exactly V8_FLAGS", async () => {
  const cfg = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const task = String(cfg.tasks.l2);
  const args = task.split(/\s+/);
  const given = args.filter((a) => a.startsWith("--v8-flags="));
  assertEquals(given, [V8_FLAGS_ARG], `l2 task: ${task}`);
  assertEquals(V8_FLAGS_ARG.slice("--v8-flags=".length).split(","), [...V8_FLAGS]);
});

Deno.test("v8 flags: V8 knows every flag (deno starts with them)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", V8_FLAGS_ARG, "console.log('started')"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert(out.success, `deno refused ${V8_FLAGS_ARG}: ${err}`);
  assertEquals(new TextDecoder().decode(out.stdout).trim(), "started");
  assert(!/did not recognize/.test(err), err);
});
