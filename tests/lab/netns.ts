/**
 * Test labs in network namespaces: build namespaces, veth pairs, bridges and
 * addresses with `ip`, run commands and long-running processes inside them,
 * and tear everything down in `close()` (idempotent, meant for `finally`).
 *
 * Names: every namespace is `l2t-<tag>-<pid>-<n>`, so parallel tests and
 * leftovers of crashed runs never collide; `sweepStale()` removes namespaces
 * whose pid is gone. Links are created directly inside the lab's
 * namespaces, so their names only need to be unique per namespace.
 *
 * Every wait is bounded (`waitFor`, command timeouts). Requires root; the
 * constructor throws when not root (nothing is skipped silently).
 *
 * @example
 * ```ts
 * import { Lab } from "./netns.ts";
 * if (Deno.uid() === 0) { // Lab.create throws when not root
 *   const lab = await Lab.create("doc");
 *   try {
 *     const a = await lab.netns("a"), b = await lab.netns("b");
 *     await lab.veth(a, "eth0", b, "eth0");
 *     await lab.addr(a, "eth0", "10.9.0.1/24");
 *     await lab.addr(b, "eth0", "10.9.0.2/24");
 *     const route = await lab.exec(a, ["ip", "route", "get", "10.9.0.2"]);
 *     if (!route.stdout.includes("dev eth0")) throw new Error(route.stdout);
 *   } finally {
 *     await lab.close();
 *   }
 * }
 * ```
 *
 * @module
 */

/** Output of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Throws unless running as root (integration tests must not skip silently). */
export function requireRoot(): void {
  if (Deno.uid() !== 0) {
    throw new Error("This integration test needs root (CAP_NET_ADMIN); run it as root");
  }
}

/**
 * Runs `cmd` and returns its output; throws on a non-zero exit unless
 * `allowFail`, and kills it after `timeoutMs`.
 */
export async function run(
  cmd: string[],
  opts: { allowFail?: boolean; timeoutMs?: number; stdin?: string; env?: Record<string, string> } =
    {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
    stdin: opts.stdin === undefined ? "null" : "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let out: Deno.CommandOutput;
  try {
    out = await child.output();
  } finally {
    clearTimeout(timer);
  }
  const res = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if (res.code !== 0 && !opts.allowFail) {
    throw new Error(`Command failed (exit ${res.code}): ${cmd.join(" ")}\n${res.stderr.trim()}`);
  }
  return res;
}

/**
 * Polls `cond` every `stepMs` until it is true; throws after `timeoutMs`
 * naming `what`.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = "condition",
  stepMs = 20,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (performance.now() >= end) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A process started inside a namespace; `stop()` is idempotent. */
export class LabProcess {
  readonly child: Deno.ChildProcess;
  readonly cmd: string[];
  #stopped = false;
  #status: Promise<Deno.CommandStatus>;
  #stdout = "";
  #stderr = "";
  #pumps: Promise<void>;

  constructor(child: Deno.ChildProcess, cmd: string[]) {
    this.child = child;
    this.cmd = cmd;
    this.#status = child.status;
    this.#pumps = Promise.all([
      pump(child.stdout, (t) => this.#stdout += t),
      pump(child.stderr, (t) => this.#stderr += t),
    ]).then(() => {});
  }

  /** The process id (of `ip netns exec`, which execs the command: same pid). */
  get pid(): number {
    return this.child.pid;
  }

  /** Resolves when the process exits. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#status;
  }

  /** Standard output so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Standard error so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Waits (bounded) until standard output matches `re`; returns the match. */
  async waitOutput(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    let m: RegExpExecArray | null = null;
    await waitFor(
      () => (m = re.exec(this.#stdout)) !== null,
      timeoutMs,
      `output ${re} from ${this.cmd.join(" ")}`,
    );
    return m!;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; returns status and output. */
  async stop(
    graceMs = 2000,
  ): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }> {
    if (!this.#stopped) {
      this.#stopped = true;
      try {
        this.child.kill("SIGTERM");
      } catch {
        // already exited
      }
      const timer = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch {
          // already exited
        }
      }, graceMs);
      try {
        await this.#status;
      } finally {
        clearTimeout(timer);
      }
    }
    const status = await this.#status;
    await this.#pumps;
    return { status, stdout: this.#stdout, stderr: this.#stderr };
  }
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  onText: (t: string) => void,
): Promise<void> {
  const dec = new TextDecoder();
  try {
    for await (const chunk of stream) onText(dec.decode(chunk, { stream: true }));
  } catch {
    // the process went away
  }
}

let labCounter = 0;

/** A set of namespaces and processes that `close()` removes. */
export class Lab {
  /** Prefix of every namespace of this lab: l2t-<tag>-<pid>-<n>. */
  readonly prefix: string;
  readonly #namespaces: string[] = [];
  readonly #procs: LabProcess[] = [];
  #closed = false;

  private constructor(tag: string) {
    if (!/^[a-z0-9]{1,12}$/.test(tag)) {
      throw new Error(`Lab tag must be 1-12 of [a-z0-9], got "${tag}"`);
    }
    this.prefix = `l2t-${tag}-${Deno.pid}-${++labCounter}`;
  }

  /** A new lab; throws when not root. Also sweeps namespaces left by dead runs. */
  static async create(tag: string): Promise<Lab> {
    requireRoot();
    await sweepStale();
    return new Lab(tag);
  }

  /** Creates namespace `<prefix>-<short>` with loopback up; returns its name. */
  async netns(short: string): Promise<string> {
    if (this.#closed) throw new Error("Cannot add to a closed lab");
    const name = `${this.prefix}-${short}`;
    await run(["ip", "netns", "add", name]);
    this.#namespaces.push(name);
    await run(["ip", "-n", name, "link", "set", "lo", "up"]);
    return name;
  }

  /** Runs `ip -n <ns> <args>` (or in the test's namespace when ns is null). */
  ip(ns: string | null, ...args: string[]): Promise<RunResult> {
    return run(ns === null ? ["ip", ...args] : ["ip", "-n", ns, ...args]);
  }

  /** A veth pair with one end in each namespace, both up. */
  async veth(nsA: string, nameA: string, nsB: string, nameB: string): Promise<void> {
    await run([
      "ip",
      "link",
      "add",
      nameA,
      "netns",
      nsA,
      "type",
      "veth",
      "peer",
      "name",
      nameB,
      "netns",
      nsB,
    ]);
    await this.ip(nsA, "link", "set", nameA, "up");
    await this.ip(nsB, "link", "set", nameB, "up");
  }

  /** A bridge in `ns` with `members` enslaved, all up. */
  async bridge(ns: string, name: string, members: string[]): Promise<void> {
    await this.ip(ns, "link", "add", name, "type", "bridge");
    for (const m of members) await this.ip(ns, "link", "set", m, "master", name);
    await this.ip(ns, "link", "set", name, "up");
  }

  /** Adds `cidr` to `dev` (nodad for IPv6, so it is usable at once). */
  async addr(ns: string, dev: string, cidr: string): Promise<void> {
    const extra = cidr.includes(":") ? ["nodad"] : [];
    await this.ip(ns, "addr", "add", cidr, "dev", dev, ...extra);
  }

  /** Runs `cmd` inside `ns` and waits for it (bounded). */
  exec(
    ns: string,
    cmd: string[],
    opts: { allowFail?: boolean; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    return run(["ip", "netns", "exec", ns, ...cmd], opts);
  }

  /** Starts `cmd` inside `ns`; `close()` stops it if still running. */
  spawn(ns: string, cmd: string[], env?: Record<string, string>): LabProcess {
    if (this.#closed) throw new Error("Cannot spawn in a closed lab");
    const full = ["ip", "netns", "exec", ns, ...cmd];
    const child = new Deno.Command(full[0], {
      args: full.slice(1),
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      env,
    }).spawn();
    const p = new LabProcess(child, full);
    this.#procs.push(p);
    return p;
  }

  /** Namespaces made so far. */
  get namespaces(): readonly string[] {
    return this.#namespaces;
  }

  /**
   * Stops every process it spawned, kills anything else still running in
   * its namespaces (the leftover guard), and deletes the namespaces (which
   * removes their links). Idempotent; never throws on a half-built lab.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#procs.map((p) => p.stop(1000).catch(() => {})));
    for (const ns of this.#namespaces) await removeNetns(ns);
  }
}

/** Kills every process in `ns` and deletes it (bounded; ignores a missing namespace). */
export async function removeNetns(ns: string): Promise<void> {
  const pids = await run(["ip", "netns", "pids", ns], { allowFail: true });
  for (const line of pids.stdout.split("\n")) {
    const pid = Number(line.trim());
    if (Number.isInteger(pid) && pid > 1 && pid !== Deno.pid) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  await run(["ip", "netns", "del", ns], { allowFail: true });
}

/** Deletes `l2t-*` namespaces whose creating pid no longer exists. Returns their names. */
export async function sweepStale(): Promise<string[]> {
  const list = await run(["ip", "netns", "list"], { allowFail: true });
  const gone: string[] = [];
  for (const line of list.stdout.split("\n")) {
    const name = line.trim().split(/\s+/)[0];
    const m = /^l2t-[a-z0-9]+-(\d+)-/.exec(name ?? "");
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = false;
    try {
      Deno.statSync(`/proc/${pid}`);
      alive = true;
    } catch {
      alive = false;
    }
    if (!alive) {
      await removeNetns(name);
      gone.push(name);
    }
  }
  return gone;
}

/**
 * Number of open fds of this process (for leak checks). With `excludeUnix`,
 * Unix-domain sockets are not counted: the Deno runtime creates socketpairs
 * lazily for itself, and `ffi/` never makes one.
 */
export function countFds(opts: { excludeUnix?: boolean } = {}): number {
  const links: string[] = [];
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      links.push(Deno.readLinkSync(`/proc/self/fd/${e.name}`));
    } catch {
      // closed meanwhile (e.g. the directory fd itself)
    }
  }
  if (!opts.excludeUnix) return links.length;
  // Read the table after the fds, so a socket made in between is in it.
  const table = Deno.readTextFileSync("/proc/self/net/unix").split("\n").slice(1);
  const unix = new Set(table.map((l) => l.trim().split(/\s+/)[6]).filter((x) => x !== undefined));
  return links.filter((l) => {
    const m = /^socket:\[(\d+)\]$/.exec(l);
    return !(m && unix.has(m[1]));
  }).length;
}
