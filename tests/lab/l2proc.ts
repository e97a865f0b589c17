/**
 * Running the real `l2` program as a subprocess in tests: one-shot runs with
 * captured output, and long-running daemons whose log lines can be awaited
 * with a bounded wait.
 *
 * @module
 */

import { V8_FLAGS_ARG } from "../../cmd/v8_flags.ts";

const ROOT = new URL("../../", import.meta.url);

/**
 * Extra `deno run` flags for the daemons from `L2_BENCH_DENO_ARGS`
 * (space-separated), for profiling a bench, e.g.
 * `L2_BENCH_DENO_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`.
 */
function extraDenoArgs(): string[] {
  return (Deno.env.get("L2_BENCH_DENO_ARGS") ?? "").split(" ").filter((a) => a !== "");
}
/** Path of main.ts. */
export const MAIN = new URL("main.ts", ROOT).pathname;

/** Result of a finished run. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of a one-shot run. */
export interface RunOptions {
  stdin?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Prefix, e.g. `["ip", "netns", "exec", ns]`. */
  wrap?: string[];
}

/** Runs a Deno script (default: l2's main.ts) with arguments, optional stdin, bounded in time. */
export async function runScript(
  script: string,
  args: string[],
  opts: RunOptions = {},
): Promise<Ran> {
  const argv = [
    ...(opts.wrap ?? []),
    Deno.execPath(),
    "run",
    V8_FLAGS_ARG,
    "--allow-all",
    "--quiet",
    script,
    ...args,
  ];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...opts.env },
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, opts.timeoutMs ?? 30_000);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `l2 ...args`. */
export function runL2(args: string[], opts: RunOptions = {}): Promise<Ran> {
  return runScript(MAIN, args, opts);
}

/** A long-running child whose stderr lines are collected. */
export class Daemon {
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<Deno.CommandStatus>;
  #stdout = "";

  /** `wrap` prefixes the command, e.g. `["ip", "netns", "exec", ns]` (which execs, keeping the pid). */
  constructor(
    script: string,
    args: string[],
    env: Record<string, string> = {},
    wrap: string[] = [],
  ) {
    const argv = [
      ...wrap,
      Deno.execPath(),
      "run",
      V8_FLAGS_ARG,
      "--allow-all",
      "--quiet",
      ...extraDenoArgs(),
      script,
      ...args,
    ];
    this.#child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...env },
    }).spawn();
    void this.#pump(this.#child.stderr, (l) => this.lines.push(l));
    void this.#pump(this.#child.stdout, (l) => this.#stdout += l + "\n");
    this.#done = this.#child.status;
  }

  async #pump(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void) {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) onLine(buf);
  }

  /** The child's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Standard output so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Waits until a stderr line matches, at most `timeoutMs`; returns the match. */
  async waitLine(re: RegExp, timeoutMs = 30_000, from = 0): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      for (let i = from; i < this.lines.length; i++) {
        const m = re.exec(this.lines[i]);
        if (m) return m;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(
      `no log line matched ${re} within ${timeoutMs} ms; log:\n${this.lines.join("\n")}`,
    );
  }

  /** Sends a signal. */
  kill(sig: Deno.Signal = "SIGTERM"): void {
    this.#child.kill(sig);
  }

  /** Waits for exit, at most `timeoutMs`, then kills it hard. Returns the status. */
  async exited(timeoutMs = 30_000): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<null>((r) => timer = setTimeout(() => r(null), timeoutMs));
    const s = await Promise.race([this.#done, t]);
    clearTimeout(timer);
    if (s) return s;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
    return await this.#done;
  }

  /** Stops the child for good (used in `finally`). */
  async close(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#done;
  }
}
