/**
 * Builds small C programs that a benchmark embeds as source text (reference
 * forwarders, syscall probes), so a comparison with C needs nothing but `cc`
 * on the machine and the one benchmark file: the source is written into a
 * temporary directory, compiled with `cc` (bounded in time), and the
 * directory is removed by `close()` (idempotent, meant for `finally`).
 *
 * @example
 * ```ts
 * import { CBuild } from "./cbuild.ts";
 * import { run } from "./netns.ts";
 * const cc = await run(["sh", "-c", "command -v cc"], { allowFail: true });
 * if (cc.code === 0) { // only where a C compiler is installed
 *   const cb = await CBuild.create();
 *   try {
 *     const exe = await cb.build("hello", "int main(void) { return 0; }");
 *     await run([exe]);
 *   } finally {
 *     await cb.close();
 *   }
 * }
 * ```
 *
 * @module
 */
import { run } from "./netns.ts";

/** Longest a single `cc` run may take before it is killed. */
const CC_TIMEOUT_MS = 60_000;

/** A temporary directory of C programs built from embedded source. */
export class CBuild {
  /** The temporary directory (sources and executables). */
  readonly dir: string;
  #closed = false;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Makes the temporary directory (`/tmp/<prefix>XXXX`). */
  static async create(prefix = "l2-bench-c-"): Promise<CBuild> {
    return new CBuild(await Deno.makeTempDir({ prefix }));
  }

  /**
   * Writes `source` to `<dir>/<name>.c`, compiles it with `cc <flags>` into
   * `<dir>/<name>` and returns that path. Throws with cc's messages when the
   * build fails, and when cc has not finished within a minute.
   */
  async build(name: string, source: string, flags: readonly string[] = ["-O2"]): Promise<string> {
    if (this.#closed) throw new Error(`Cannot build ${name}: the build directory is removed`);
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(name)) {
      throw new Error(`Cannot build "${name}": the name must be 1-40 of [A-Za-z0-9_-]`);
    }
    const src = `${this.dir}/${name}.c`;
    const exe = `${this.dir}/${name}`;
    await Deno.writeTextFile(src, source);
    const r = await run(["cc", ...flags, "-o", exe, src], {
      allowFail: true,
      timeoutMs: CC_TIMEOUT_MS,
    });
    if (r.code !== 0) {
      throw new Error(`Cannot build ${name}: cc exited ${r.code}\n${r.stderr.trim()}`);
    }
    return exe;
  }

  /** Removes the directory and everything built in it. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
