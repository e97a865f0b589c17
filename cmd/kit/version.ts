/**
 * The version `l2 --version` prints and `/status` reports: deno.json's
 * `version`, the one place it is written.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };

/** Release version of l2. */
export const VERSION: string = denoJson.version;

/**
 * The `l2 --version` line: l2's version, the Deno, V8 and TypeScript it runs
 * on, and the runtime binary (the installed copy, or the Deno it was started
 * with).
 */
export function versionLine(): string {
  const v = Deno.version;
  return `l2 ${VERSION} (Deno ${v.deno}, V8 ${v.v8}, TypeScript ${v.typescript}; ` +
    `runtime ${Deno.execPath()})`;
}
