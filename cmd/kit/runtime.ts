/**
 * How an `l2` process runs on Deno: the permissions it gets, the `deno run`
 * arguments, and the command line that starts this same l2 again (`l2 demo`
 * starts its daemons with it). One list, used by the installed launcher
 * (`cmd/install.ts`), the demo and `deno task l2` (a unit test checks the
 * task carries the same permissions).
 *
 * @module
 */
import { V8_FLAGS_ARG } from "../v8_flags.ts";

/**
 * The permissions every l2 process runs with (deno.json's `l2` task has the
 * same): all. l2 needs FFI (its own libc bindings) and running programs
 * (`ip`), and either one is all access already, so a list of permissions
 * would restrict nothing; and Deno 2.9 refuses /proc and /dev paths to
 * anything short of --allow-all (`l2 las` reads /proc/net/snmp for its
 * fragment warning, `l2 demo` finds its daemons under /proc). The sandbox
 * of an l2 daemon is the OS's: the systemd units (`cmd/install.ts`).
 */
export const DENO_PERMISSIONS: readonly string[] = ["--allow-all"];

/**
 * `deno run` arguments for l2's `script`. A bundle (`deno bundle` output,
 * every dependency inside) runs with `--no-config --no-remote`: no deno.json
 * of the working directory applies, and nothing is ever fetched.
 */
export function denoRunArgs(script: string, bundle: boolean): string[] {
  return [
    "run",
    "--quiet",
    ...(bundle ? ["--no-config", "--no-remote"] : []),
    V8_FLAGS_ARG,
    ...DENO_PERMISSIONS,
    script,
  ];
}

/**
 * The command line that runs this same l2: the binary itself when compiled
 * (`deno task compile`), else this Deno with the same flags and main module
 * (a `.js` main module is the bundle the installed launcher runs).
 */
export function selfArgv(): string[] {
  const exe = Deno.execPath();
  const base = exe.split("/").pop() ?? "";
  if (!base.startsWith("deno")) return [exe];
  const main = Deno.mainModule;
  const script = main.startsWith("file://") ? new URL(main).pathname : main;
  return [exe, ...denoRunArgs(script, script.endsWith(".js"))];
}

/** The first executable `name` on PATH (`path` overrides it), or null. */
export function findOnPath(name: string, path = Deno.env.get("PATH") ?? ""): string | null {
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const p = `${dir}/${name}`;
    try {
      const st = Deno.statSync(p);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return p;
    } catch {
      // not there
    }
  }
  return null;
}
