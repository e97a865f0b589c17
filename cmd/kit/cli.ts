/**
 * Command-line pieces every daemon subcommand shares: the section NAME,
 * `--config`, `--api`, `--check-config`, and the `api`/`api_token` config
 * keys they map to.
 *
 * @module
 */
import {
  argument,
  formatUsage,
  getDocPageSync,
  object,
  option,
  optional,
  type Parser,
  parseSync,
} from "@optique/core";
import { string } from "@optique/core/valueparser";
import {
  formatMessage,
  lineBreak,
  type Message,
  message,
  type MessageTerm,
  text,
} from "@optique/core/message";
import {
  type Field,
  type HostPort,
  hostPortOrOff,
  type Infer,
  normalizePath,
  type Schema,
  SECRET_KEYS,
  str,
  suggest,
} from "./config.ts";
import { apiExposure } from "./api.ts";
import { DEFAULT_CONFIG, type Kind, type LoadOptions, loadSection } from "./load.ts";
import { type DaemonConfig, type DaemonSpec, runDaemon } from "./daemon.ts";
import { ConfigError } from "./config.ts";
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from "./exit.ts";

/** Options shared by `l2 supernode|node|las|xconnect`. */
export function commonDaemonOptions() {
  return object({
    section: optional(option("--section", string({ metavar: "NAME" }), {
      description: message`config section to use (default: the only one, or "default")`,
    })),
    name: optional(argument(string({ metavar: "NAME" }), {
      description: message`the same as --section NAME (older spelling, deprecated)`,
    })),
    config: optional(option("-c", "--config", string({ metavar: "FILE" }), {
      description: message`config file (default ${DEFAULT_CONFIG}, read if it exists)`,
    })),
    api: optional(option("--api", string({ metavar: "HOST:PORT" }), {
      description: message`management endpoint address, or "off"`,
    })),
    checkConfig: option("--check-config", {
      description: message`validate the configuration, print it as the daemon would run it, exit`,
    }),
  });
}

/** The parsed shared options. */
export interface CommonDaemonArgs {
  /** `--section NAME`. */
  section?: string;
  /** The positional NAME: the older spelling of `--section`. */
  name?: string;
  config?: string;
  api?: string;
  checkConfig?: boolean;
}

/** `api` and `api_token` keys with a role's default port. */
export function apiFields(defaultPort: number) {
  return {
    api: hostPortOrOff({
      doc: "management endpoint (GET /status, GET /metrics); off disables it",
      default: { host: "127.0.0.1", port: defaultPort },
      defaultPort,
    }) as Field<HostPort | null>,
    api_token: str({
      doc: "bearer token the management endpoint requires; empty: none, allowed on loopback only",
      default: "",
    }),
  } satisfies Schema;
}

/**
 * Loads a daemon section whose schema includes `apiFields`, applying the
 * shared flags plus the daemon's own.
 */
export async function loadDaemon<S extends Schema & ReturnType<typeof apiFields>>(
  kind: Kind,
  fields: S,
  args: CommonDaemonArgs,
  flags: LoadOptions["flags"],
): Promise<DaemonConfig<Infer<S>>> {
  const l = await loadSection(kind, fields, {
    configPath: args.config,
    name: sectionName(kind, args),
    flags: { ...flags, api: { flag: "--api", value: args.api } },
  });
  const c = l.config as Record<string, unknown>;
  const api = c.api as HostPort | null;
  const apiToken = (c.api_token as string) === "" ? null : c.api_token as string;
  const exposed = apiExposure(api, apiToken, `${kind}.${l.name}`);
  if (exposed !== null) throw new ConfigError(exposed);
  return { file: l.file, name: l.name, config: l.config, log: l.log, api, apiToken };
}

const noted = new Set<string>();

/**
 * The section a daemon's command line names: `--section NAME`, or the older
 * positional NAME (said once on standard error: deprecated); both, when
 * they differ, is a ConfigError.
 */
export function sectionName(kind: string, args: CommonDaemonArgs): string | undefined {
  if (args.name === undefined) return args.section;
  if (args.section !== undefined && args.section !== args.name) {
    throw new ConfigError(
      `the section is named twice, ${args.name} (positional) and --section ${args.section}: ` +
        "give --section NAME only",
    );
  }
  if (!noted.has(kind)) {
    noted.add(kind);
    console.error(
      `l2 ${kind}: note: the section as a positional NAME is deprecated; use --section ${args.name}`,
    );
  }
  return args.name;
}

/** Values `--udp` took when it was `--udp yes|no`. */
const OLD_BOOL: Record<string, boolean> = {
  yes: true,
  no: false,
  true: true,
  false: false,
  on: true,
  off: false,
};

/**
 * Rewrites spellings this version replaced, so old scripts and units keep
 * working, with one note each on what to write instead:
 * `--udp yes|no` (and `--udp=yes|no`) of `l2 las` and `l2 xconnect` is now
 * the boolean flag `--udp` (present: on; absent: the config's value).
 * Returns the new argument list and the notes to print.
 */
export function modernArgs(argv: readonly string[]): { argv: string[]; notes: string[] } {
  const sub = argv[0];
  if (sub !== "las" && sub !== "xconnect") return { argv: [...argv], notes: [] };
  const out: string[] = [];
  const notes: string[] = [];
  const end = argv.indexOf("--");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (end !== -1 && i >= end) {
      out.push(a);
      continue;
    }
    let v: string | undefined;
    if (a === "--udp" && argv[i + 1]?.toLowerCase() in OLD_BOOL) v = argv[++i];
    else if (a.startsWith("--udp=")) v = a.slice(6);
    if (v === undefined) {
      out.push(a);
      continue;
    }
    const on = OLD_BOOL[v.toLowerCase()];
    if (on === undefined) {
      out.push(a); // the parser says what is wrong
      continue;
    }
    if (on) out.push("--udp");
    notes.push(
      `l2 ${sub}: note: --udp ${v} is deprecated: ` +
        (on ? "write --udp" : "leave --udp out (off unless the config file sets udp: true)"),
    );
  }
  return { argv: out, notes };
}

function absolutePath(p: string): string {
  return normalizePath(p.startsWith("/") ? p : `${Deno.cwd()}/${p}`);
}

/**
 * Prints the effective configuration as JSON for `--check-config`, secrets
 * masked, the config file's path absolute (as are values of `path` keys).
 */
export function printCheckedConfig(
  kind: string,
  cfg: DaemonConfig<unknown>,
  effective?: Record<string, unknown>,
): void {
  const c = { ...(effective ?? cfg.config as Record<string, unknown>) };
  for (const k of SECRET_KEYS) if (c[k]) c[k] = "(set)";
  console.log(JSON.stringify(
    { kind, section: cfg.name, file: cfg.file && absolutePath(cfg.file), config: c, log: cfg.log },
    null,
    2,
  ));
}

/**
 * For a daemon that is not in this version yet: validate its configuration
 * (and print it with `--check-config`), then refuse to start with exit 1
 * rather than pretend to run.
 */
export async function configOnlyDaemon(
  kind: Kind,
  load: () => Promise<DaemonConfig<unknown>>,
  checkConfig: boolean | undefined,
): Promise<number> {
  try {
    const cfg = await load();
    if (checkConfig) {
      printCheckedConfig(kind, cfg);
      return EXIT_OK;
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`l2 ${kind}: ${e.message}`);
      return EXIT_USAGE;
    }
    throw e;
  }
  console.error(
    `l2 ${kind}: this daemon is not in this version yet; the configuration is valid ` +
      "(see README, 'Not supported yet')",
  );
  return EXIT_RUNTIME;
}

/**
 * Runs a daemon subcommand: with `--check-config`, validate the
 * configuration with every check the daemon makes before it opens anything
 * (`spec.check`) and print it as the daemon would run it (exit 0, or 2 on a
 * config error, as the daemon would); otherwise run it with the daemon kit.
 */
export async function runDaemonCommand<C>(
  spec: DaemonSpec<C>,
  checkConfig: boolean | undefined,
): Promise<number> {
  if (!checkConfig) return await runDaemon(spec);
  try {
    const cfg = await spec.load();
    const effective = spec.check ? await spec.check(cfg) : undefined;
    printCheckedConfig(spec.role, cfg, effective);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`l2 ${spec.role}: ${e.message}`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

/**
 * For SIGHUP in a daemon that applies nothing but its log section at run
 * time: one line saying which settings changed and wait for a restart.
 */
export function restartNeeded<C extends Record<string, unknown>>(
  running: C,
  next: C,
  what: string,
): string[] {
  const changed = Object.keys(next).filter((k) =>
    JSON.stringify(next[k]) !== JSON.stringify(running[k])
  );
  return changed.length
    ? [`changes to ${changed.join(", ")} take effect at restart`]
    : [`no ${what} settings changed`];
}

// ---------------------------------------------------------------------------
// The command line as a whole: short usage, per-subcommand errors, examples.

/** One subcommand as `main.ts` dispatches it. */
export interface Subcommand {
  /** The word after `l2`. */
  name: string;
  /** Its parser (a `command(...)`). */
  parser: Parser<"sync", unknown, unknown>;
}

/**
 * A `message` tag for prose written over several source lines: runs of
 * white space (the line break and the next line's indentation) become one
 * space, so help text flows and wraps only where the terminal needs it.
 *
 * @example
 * ```ts
 * import { prose } from "./cli.ts";
 * import { formatMessage } from "@optique/core/message";
 * formatMessage(prose`one sentence
 *   on two lines`); // "one sentence on two lines"
 * ```
 */
export function prose(strings: TemplateStringsArray, ...values: readonly unknown[]): Message {
  const flat = strings.map((s) => s.replace(/\s+/g, " "));
  const raw = Object.assign([...flat], { raw: flat }) as unknown as TemplateStringsArray;
  return (message as (s: TemplateStringsArray, ...v: readonly unknown[]) => Message)(
    raw,
    ...values,
  );
}

/** The exit-code line every help page ends with. */
export const EXIT_CODES_LINE =
  "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.";

/** The help footer of a subcommand without examples, and of `l2 --help`. */
export const EXIT_CODES: Message = [text(EXIT_CODES_LINE)];

/**
 * The footer of a subcommand's `--help`: its examples, each a comment line
 * (`# what it does`) and the command, then the exit codes. A role passes it
 * as `command(name, parser, { brief, footer: examples([...]) })`. Keep each
 * line within 78 columns so an 80-column terminal does not wrap it.
 *
 * @example
 * ```ts
 * import { examples } from "./cli.ts";
 * examples([["print a key's public half", "l2 keygen --public /etc/l2/node.key"]]);
 * ```
 */
export function examples(list: readonly (readonly [what: string, cmd: string])[]): Message {
  const out: MessageTerm[] = [text("Examples:")];
  for (const [what, cmd] of list) {
    out.push(lineBreak(), text(`  # ${what}`), lineBreak(), text(`  ${cmd}`));
  }
  out.push(lineBreak(), lineBreak(), text(EXIT_CODES_LINE));
  return out;
}

/**
 * Wraps a usage line at term boundaries (never inside `[--key FILE]`), the
 * continuation lines indented under the first term after the program name.
 */
export function wrapUsage(line: string, width: number, prefix = "Usage: "): string {
  // Split at spaces outside brackets.
  const terms: string[] = [];
  let depth = 0, cur = "";
  for (const ch of line) {
    if (ch === "[" || ch === "(") depth++;
    if (ch === "]" || ch === ")") depth--;
    if (ch === " " && depth === 0) {
      if (cur) terms.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur) terms.push(cur);
  const head = terms.slice(0, 2).join(" ");
  const indent = " ".repeat(prefix.length + head.length + 1);
  const lines: string[] = [];
  let l = prefix + head;
  for (const t of terms.slice(2)) {
    if (l.length + 1 + t.length > width && l.trim() !== "") {
      lines.push(l);
      l = indent + t;
    } else l += " " + t;
  }
  lines.push(l);
  return lines.join("\n");
}

/** The usage lines of one subcommand (`l2 node [--supernode HOST:PORT] ...`), wrapped. */
export function commandUsage(sub: Subcommand, width = 100, program = "l2"): string {
  const lines = formatUsage(program, sub.parser.usage, { expandCommands: true }).split("\n");
  return lines.map((l, i) => wrapUsage(l, width, i === 0 ? "Usage: " : "       ")).join("\n");
}

/**
 * The short usage of bare `l2`: one line per subcommand with its brief, and
 * how to get more.
 */
export function shortUsage(subs: readonly Subcommand[], program = "l2"): string {
  const w = Math.max(...subs.map((s) => s.name.length));
  const lines = [`Usage: ${program} COMMAND [OPTIONS]`, "", "Commands:"];
  for (const s of subs) {
    const page = getDocPageSync(s.parser, [s.name]);
    const brief = page?.brief ? formatMessage(page.brief, { quotes: false }) : "";
    lines.push(`  ${s.name.padEnd(w)}  ${brief}`);
  }
  lines.push(
    "",
    `Run '${program} COMMAND --help' for a command's options and examples, ` +
      `'${program} --help' for everything.`,
  );
  return lines.join("\n");
}

/** What `preflight` decided: print `text` on standard error and exit with `code`. */
export interface Refusal {
  code: number;
  text: string;
}

const PASS_THROUGH = new Set(["--help", "-h", "help", "--version", "completion", "--completion"]);

/**
 * Checks a command line before the full parser runs, so that a mistake is
 * answered about the subcommand it was made in: bare `l2` gets the short
 * usage (exit 2: a command line that does nothing is a usage error, and a
 * script calling `l2` without arguments must not look successful); an
 * unknown subcommand gets the closest one; a mistake after a known
 * subcommand gets that subcommand's own error (with a flag suggested for a
 * misspelt flag), its usage and where its help is. Returns null when the
 * command line parses (or asks for help, version or completion): the full
 * parser takes over.
 */
export function preflight(
  argv: readonly string[],
  subs: readonly Subcommand[],
  program = "l2",
): Refusal | null {
  if (argv.length === 0) return { code: EXIT_USAGE, text: shortUsage(subs, program) };
  const first = argv[0];
  if (PASS_THROUGH.has(first) || first.startsWith("--completion=")) return null;
  const sub = subs.find((s) => s.name === first);
  if (!sub) {
    const names = subs.map((s) => s.name);
    const hint = first.startsWith("-") ? undefined : suggest(first, names);
    const what = first.startsWith("-") ? `unknown option ${first}` : `unknown command ${first}`;
    return {
      code: EXIT_USAGE,
      text: `${program}: ${what}${hint ? `; did you mean ${hint}?` : ""}\n\n` +
        shortUsage(subs, program),
    };
  }
  const end = argv.indexOf("--");
  const opts = end === -1 ? argv : argv.slice(0, end);
  if (opts.includes("--help") || opts.includes("-h")) return null;
  const r = parseSync(sub.parser, argv);
  if (r.success) return null;
  let why = formatMessage(r.error, { quotes: false }).replace(/\n+/g, " ").trim();
  why = why.charAt(0).toLowerCase() + why.slice(1);
  return {
    code: EXIT_USAGE,
    text: `${program} ${first}: ${why}\n${commandUsage(sub, 100, program)}\n` +
      `Run '${program} ${first} --help' for every option, with examples.`,
  };
}
