/**
 * `deno task compile`: builds the single binary dist/l2 with `deno compile`.
 *
 * `deno compile` needs Deno's runtime archive (denort) for this exact Deno
 * version. It normally downloads it; machines without internet access cannot,
 * so this honours DENORT_BIN (a denort binary you provide) and says plainly
 * what is missing instead of failing on a network error.
 *
 * @module
 */
import { V8_FLAGS_ARG } from "../cmd/v8_flags.ts";

const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-ffi",
  "--allow-run",
  "--allow-sys",
];

const root = new URL("../", import.meta.url).pathname;
const version = Deno.version.deno;
const denort = Deno.env.get("DENORT_BIN");

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

async function cachedDenort(): Promise<boolean> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  })
    .output();
  const dir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
  return exists(`${dir}/dl/release/v${version}/denort-x86_64-unknown-linux-gnu.zip`);
}

if (denort !== undefined && !exists(denort)) {
  console.error(`compile: DENORT_BIN=${denort} does not exist or is not a file`);
  Deno.exit(1);
}
if (denort === undefined && !(await cachedDenort())) {
  console.error(
    `compile: deno compile needs Deno's runtime archive (denort ${version}), which it downloads ` +
      `and this machine cannot. Set DENORT_BIN to a denort ${version} binary for x86_64 Linux ` +
      "(from the denort-x86_64-unknown-linux-gnu.zip release asset), or use `deno task bundle`, " +
      "which makes dist/l2.js for `deno run`.",
  );
  Deno.exit(1);
}
const args = [
  "compile",
  V8_FLAGS_ARG,
  ...PERMISSIONS,
  "--output",
  `${root}dist/l2`,
  `${root}main.ts`,
];
const r = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
if (r.success) console.error(`compile: wrote ${root}dist/l2`);
Deno.exit(r.code);
