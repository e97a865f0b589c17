/**
 * Loading one daemon's section from the config file, with command-line flags
 * on top.
 *
 * - `--config FILE` must exist. Without it `/etc/l2/l2.yaml` is read if it
 *   exists; if it does not, the daemon runs on defaults and flags alone.
 * - `l2 node home` reads `node: { home: ... }`. With no name: the only
 *   section of that kind if there is exactly one, else the one called
 *   `default`, else defaults (no section at all) or an error listing them.
 * - The file's top-level `log:` applies to every daemon; a section's own
 *   `log:` replaces it for that daemon.
 * - Unknown top-level keys are errors, like unknown keys anywhere.
 *
 * @module
 */
import {
  ConfigError,
  type ConfigFile,
  fail,
  type Field,
  type Infer,
  list,
  oneOf,
  parseSection,
  readConfigFile,
  type Schema,
  section,
  sectionNames,
  sectionNode,
  str,
  suggest,
  topLevel,
} from "./config.ts";
import type { LogConfig } from "./log.ts";
import { isMap, isScalar, type Node as YamlNode } from "yaml";

/** Default config file path. */
export const DEFAULT_CONFIG = "/etc/l2/l2.yaml";

/** Daemon kinds that have sections in the config file. */
export const KINDS = ["supernode", "node", "las", "xconnect"] as const;
/** A daemon kind. */
export type Kind = typeof KINDS[number];

/** The `log:` schema, shared by the top level and every section. */
export const logFields = {
  level: oneOf(["error", "warn", "info", "debug"] as const, {
    doc: "least severe level printed",
    default: "info",
  }),
  format: oneOf(["text", "json"] as const, {
    doc: "text lines, or one JSON object per line",
    default: "text",
  }),
  debug: list(str({ doc: "topic", nonEmpty: true }), {
    doc: "topics whose debug messages are printed at any level (e.g. [l2tp, mat])",
    default: [],
  }),
} satisfies Schema;

/** The `log:` section as a field. */
export const logSection: Field<LogConfig> = section(logFields, {
  doc: "logging; `kill -USR1` re-reads it at run time",
});

/** The result of loading a daemon section. */
export interface Loaded<T> {
  /** The file read, or null when running on defaults and flags. */
  file: string | null;
  /** The section name (`default` when none). */
  name: string;
  config: T;
  log: LogConfig;
}

/** Where loading looks, and the flag values to apply on top. */
export interface LoadOptions {
  /** `--config`; when undefined the default path is tried. */
  configPath?: string;
  /** The NAME argument. */
  name?: string;
  /**
   * Command-line flags that set config keys, keyed by config key: the flag's
   * name (for messages, e.g. "--listen") and its raw value, undefined when
   * the flag was not given.
   */
  flags?: Record<string, { flag: string; value: string | string[] | undefined }>;
}

async function openConfig(path: string | undefined): Promise<ConfigFile | null> {
  if (path !== undefined) return await readConfigFile(path);
  try {
    await Deno.stat(DEFAULT_CONFIG);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new ConfigError(`${DEFAULT_CONFIG}: cannot read: ${(e as Error).message}`);
  }
  return await readConfigFile(DEFAULT_CONFIG);
}

function checkTopLevel(cf: ConfigFile): void {
  if (cf.root === null || cf.root === undefined) return;
  if (isScalar(cf.root) && cf.root.value === null) return;
  if (!isMap(cf.root)) {
    fail(
      { file: cf.file, lines: cf.lines, path: "", node: cf.root as YamlNode },
      "expected a mapping at the top of the file",
    );
  }
  const known = ["log", ...KINDS];
  for (const pair of cf.root.items) {
    const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
    if (!known.includes(key)) {
      const hint = suggest(key, known);
      fail(
        { file: cf.file, lines: cf.lines, path: key, node: pair.key as YamlNode },
        `unknown top-level key${hint ? ` (did you mean ${hint}?)` : ""}; known: ${
          known.join(", ")
        }`,
      );
    }
  }
}

/**
 * Loads the section of `kind` and applies flags. `fields` must not contain
 * `log` (it is added here). Throws ConfigError.
 */
export async function loadSection<S extends Schema>(
  kind: Kind,
  fields: S,
  opts: LoadOptions,
): Promise<Loaded<Infer<S>>> {
  const cf = await openConfig(opts.configPath);
  const withLog = { ...fields, log: logSection } as Schema;
  let file: string | null = null;
  let name = opts.name ?? "default";
  let raw: unknown = null;
  let globalLog: LogConfig = logSection.default!;
  if (cf) {
    file = cf.file;
    checkTopLevel(cf);
    const lg = topLevel(cf, "log");
    if (lg) {
      globalLog = logSection.parse(lg.node, {
        file: cf.file,
        lines: cf.lines,
        path: "log",
        node: (lg.node ?? lg.keyNode) as YamlNode,
      });
    }
    const names = sectionNames(cf, kind);
    if (opts.name !== undefined) {
      if (!names.includes(opts.name)) {
        const list = names.length ? `it has: ${names.join(", ")}` : `it has no ${kind} sections`;
        throw new ConfigError(`${cf.file}: no section ${kind}.${opts.name}; ${list}`);
      }
    } else if (names.length === 1) {
      name = names[0];
    } else if (names.length > 1 && !names.includes("default")) {
      throw new ConfigError(
        `${cf.file}: several ${kind} sections (${names.join(", ")}): say which, e.g. \`l2 ${kind} ${
          names[0]
        }\``,
      );
    }
    raw = sectionNode(cf, kind, name) ?? null;
  } else if (opts.name !== undefined && opts.name !== "default") {
    throw new ConfigError(
      `${DEFAULT_CONFIG} does not exist, so there is no section ${kind}.${opts.name}; ` +
        `give --config FILE or leave out the name`,
    );
  }
  const w = {
    file: file ?? "(defaults)",
    lines: cf?.lines ?? null,
    path: `${kind}.${name}`,
    node: raw as YamlNode | null,
  };
  const flags = opts.flags ?? {};
  const flagged = new Set(
    Object.entries(flags).filter(([, f]) => f.value !== undefined).map(([k]) => k),
  );
  for (const [key, f] of Object.entries(fields)) {
    const fl = flags[key];
    const inFile = isMap(raw) && raw.items.some((p) => isScalar(p.key) && p.key.value === key);
    if (f.default === undefined && !inFile && fl?.value === undefined) {
      const where = file
        ? `${file}: ${kind}.${name}`
        : `no config file (${DEFAULT_CONFIG} does not exist)`;
      throw new ConfigError(
        `${where}: ${key} is required (${f.doc})${fl ? `: give ${fl.flag} ${f.type}` : ""}${
          file ? ` or set ${kind}.${name}.${key}` : ""
        }`,
      );
    }
  }
  const parsed = parseSection(withLog, raw, w, flagged) as Record<string, unknown>;
  const sectionHasLog = isMap(raw) &&
    raw.items.some((p) => isScalar(p.key) && p.key.value === "log");
  const log = sectionHasLog ? parsed.log as LogConfig : globalLog;
  delete parsed.log;
  for (const [key, f] of Object.entries(flags)) {
    if (f.value === undefined) continue;
    const spec = fields[key];
    if (!spec) throw new Error(`flag ${f.flag} maps to unknown config key ${key}`);
    parsed[key] = spec.parse(f.value, {
      file: "command line",
      lines: null,
      path: f.flag,
      node: null,
    });
  }
  return { file, name, config: parsed as Infer<S>, log };
}
