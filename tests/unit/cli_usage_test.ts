/**
 * The command line as a whole (cmd/kit/cli.ts): bare `l2`, a misspelt flag
 * answered about its own subcommand, usage wrapped at term boundaries, help
 * pages with examples and prose that flows.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { formatMessage } from "@optique/core/message";
import {
  commandUsage,
  examples,
  preflight,
  prose,
  shortUsage,
  type Subcommand,
  wrapUsage,
} from "../../cmd/kit/cli.ts";
import { demoCommand } from "../../cmd/demo.ts";
import { supernodeCommand } from "../../cmd/supernode.ts";
import { nodeCommand } from "../../cmd/node.ts";
import { lasCommand } from "../../cmd/las.ts";
import { xconnectCommand } from "../../cmd/xconnect.ts";
import { statusCommand } from "../../cmd/status.ts";
import { keygenCommand } from "../../cmd/keygen.ts";
import { matCommand } from "../../cmd/mat.ts";

const SUBS: Subcommand[] = [
  { name: "demo", parser: demoCommand },
  { name: "supernode", parser: supernodeCommand },
  { name: "node", parser: nodeCommand },
  { name: "las", parser: lasCommand },
  { name: "xconnect", parser: xconnectCommand },
  { name: "status", parser: statusCommand },
  { name: "keygen", parser: keygenCommand },
  { name: "mat", parser: matCommand },
];

Deno.test("cli: bare l2 is a short usage, one line per subcommand, exit 2", () => {
  const r = preflight([], SUBS);
  assert(r !== null);
  assertEquals(r.code, 2);
  const lines = r.text.split("\n");
  assertEquals(lines[0], "Usage: l2 COMMAND [OPTIONS]");
  for (const s of SUBS) {
    assertEquals(lines.filter((l) => l.startsWith(`  ${s.name} `)).length, 1, s.name);
  }
  assertStringIncludes(r.text, "l2 COMMAND --help");
  assert(!r.text.includes("No matching"));
  assert(lines.length <= 16, `short: ${lines.length} lines`);
  for (const l of lines) assert(l.length <= 100, l);
});

Deno.test("cli: a misspelt flag suggests the flag, with the subcommand's own usage", () => {
  const r = preflight(["node", "--supernod", "192.0.2.1"], SUBS);
  assert(r !== null);
  assertEquals(r.code, 2);
  assertStringIncludes(r.text, "l2 node: ");
  assertStringIncludes(r.text, "--supernod");
  assertStringIncludes(r.text, "did you mean --supernode?".slice(4)); // "you mean --supernode?"
  assertStringIncludes(r.text, "Usage: l2 node [--supernode HOST:PORT]");
  assertStringIncludes(r.text, "Run 'l2 node --help'");
  // Not the top-level usage, and not the subcommand `supernode`.
  assert(!r.text.includes("l2 las"), r.text);
  assert(!r.text.includes("l2 supernode"), r.text);
  assert(!/did you mean `?supernode`?\?/i.test(r.text), r.text);
  for (const l of r.text.split("\n")) assert(l.length <= 100, l);
});

Deno.test("cli: an unknown subcommand gets the closest one; fine command lines pass", () => {
  const r = preflight(["nod"], SUBS);
  assertEquals(r?.code, 2);
  assertStringIncludes(r!.text, "unknown command nod; did you mean node?");
  assertEquals(preflight(["node", "--supernode", "192.0.2.1"], SUBS), null);
  assertEquals(preflight(["node", "--supernod", "x", "--help"], SUBS), null);
  assertEquals(preflight(["--help"], SUBS), null);
  assertEquals(preflight(["--version"], SUBS), null);
  assertEquals(preflight(["mat", "decode", "00:01:00:02:00:05"], SUBS), null);
  const m = preflight(["node", "--mtu"], SUBS);
  assertEquals(m?.code, 2);
  assertStringIncludes(m!.text, "l2 node: --mtu requires N");
});

Deno.test("cli: usage wraps at term boundaries, never inside [--key FILE]", () => {
  const u = commandUsage({ name: "node", parser: nodeCommand }, 60);
  for (const l of u.split("\n")) {
    assert(l.length <= 60, l);
    const open = (l.match(/\[/g) ?? []).length, close = (l.match(/]/g) ?? []).length;
    assertEquals(open, close, l);
  }
  assertEquals(wrapUsage("l2 x [--a B] [--c D]", 20), "Usage: l2 x [--a B]\n            [--c D]");
});

Deno.test("cli: prose flows (no source indentation in help); examples end with the exit codes", () => {
  assertEquals(
    formatMessage(prose`one sentence
        on two lines`),
    "one sentence on two lines",
  );
  const f = formatMessage(examples([["what", "l2 x"]]));
  assertEquals(
    f,
    "Examples:\n  # what\n  l2 x\n\nExit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.",
  );
  assert(shortUsage(SUBS).includes("keygen"));
});
