/** The README's configuration reference documents every key of every daemon schema. */
import { assert } from "../assert.ts";
import { supernodeFields } from "../../cmd/supernode.ts";
import { nodeFields } from "../../cmd/node.ts";
import { lasFields, switchFields } from "../../cmd/las.ts";
import { xconnectFields } from "../../cmd/xconnect.ts";
import { logFields } from "../../cmd/kit/load.ts";

const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));

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
