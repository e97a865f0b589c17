/**
 * The base of configuration values: `ConfigError`, where a value came from
 * (`Where`, for file:line:col), the typed and documented `Field`, and the
 * scalar fields (strings, paths, integers, booleans, choices). The network
 * values are in cmd/kit/config_values.ts, the schema (sections, lists, maps)
 * in cmd/kit/config.ts, the files in cmd/kit/config_file.ts.
 *
 * @module
 */
import { isScalar, isSeq, LineCounter, type Node as YamlNode, type Scalar } from "yaml";

/** A configuration or command-line value that cannot be used; exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Where a value came from, to point at it in messages. */
export interface Where {
  file: string;
  lines: LineCounter | null;
  path: string;
  node: YamlNode | null;
}

/** `file:line:col: path` of `w` (for checks made after parsing, which keep it). */
export function locate(w: Where): string {
  const range = w.node?.range;
  if (w.lines && range) {
    const { line, col } = w.lines.linePos(range[0]);
    return `${w.file}:${line}:${col}: ${w.path}`;
  }
  return w.path ? `${w.file}: ${w.path}` : w.file;
}

/** Throws a ConfigError pointing at `w`. */
export function fail(w: Where, expected: string, got?: unknown): never {
  const tail = got === undefined ? "" : `, got ${show(got)}`;
  throw new ConfigError(`${locate(w)}: ${expected}${tail}`);
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v) || isSeq(v)) return "a list";
  if (isScalar(v)) return show((v as Scalar).value);
  if (typeof v === "object") return "a mapping";
  return String(v);
}

/** One typed, documented configuration key. */
export interface Field<T> {
  /** Human description of the accepted values, e.g. "integer 1..65535". */
  readonly type: string;
  /** One line for the config reference. */
  readonly doc: string;
  /** The value when the key is absent; `undefined` makes the key required. */
  readonly default: T | undefined;
  /** How the default reads in docs. */
  readonly defaultText: string;
  /** Converts a YAML node (or a command-line string when node is a plain string) to T. */
  parse(value: unknown, w: Where): T;
}

/** The options every field takes: its doc line and default. */
export type Opt<T> = { doc: string; default?: T; defaultText?: string };

/** A field of `type` with the options `o`, parsed by `parse`. */
export function field<T>(type: string, o: Opt<T>, parse: (v: unknown, w: Where) => T): Field<T> {
  return {
    type,
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText ??
      (o.default === undefined ? "(required)" : JSON.stringify(o.default)),
    parse,
  };
}

/** A YAML scalar node's value, anything else as it is. */
export function scalarValue(v: unknown): unknown {
  return isScalar(v) ? (v as Scalar).value : v;
}

/** A free-form string. */
export function str(o: Opt<string> & { nonEmpty?: boolean }): Field<string> {
  return field("string", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string") fail(w, "expected a string", x);
    if (o.nonEmpty && x === "") fail(w, "expected a non-empty string");
    return x;
  });
}

/**
 * A file or directory path. A relative path in a config file is taken
 * relative to the directory of that file (`key: keys/node.key` in
 * /etc/l2/l2.yaml is /etc/l2/keys/node.key); one given on the command line,
 * relative to the shell's working directory. The result is absolute, so
 * `--check-config` prints the path the daemon will use. An empty string
 * stays empty (it means "the default" where a role says so).
 */
export function path(o: Opt<string>): Field<string> {
  return field("path", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string") fail(w, "expected a path (a string)", x);
    if (x.includes("\0")) fail(w, "expected a path without NUL characters");
    if (x === "" || x.startsWith("/")) return normalizePath(x);
    const base = w.lines !== null ? dirOf(absolute(w.file)) : Deno.cwd();
    return normalizePath(`${base}/${x}`);
  });
}

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}

function dirOf(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

/** `/etc/./l2/../l2//x` → `/etc/l2/x` (text only: symbolic links are not followed). */
export function normalizePath(p: string): string {
  if (p === "") return p;
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** An integer in [min, max]. Command-line strings are accepted if they are decimal. */
export function int(o: Opt<number> & { min: number; max: number }): Field<number> {
  const type = `integer ${o.min}..${o.max}`;
  return field(type, o, (v, w) => {
    let x = scalarValue(v);
    if (typeof x === "string" && /^-?\d+$/.test(x.trim())) x = Number(x.trim());
    if (typeof x !== "number" || !Number.isInteger(x) || x < o.min || x > o.max) {
      fail(w, `expected an ${type}`, x);
    }
    return x;
  });
}

/** An integer from a fixed set (e.g. cookie lengths 0, 4, 8). */
export function intIn(values: readonly number[], o: Opt<number>): Field<number> {
  const type = values.join(" | ");
  return field(type, o, (v, w) => {
    let x = scalarValue(v);
    if (typeof x === "string" && /^\d+$/.test(x.trim())) x = Number(x.trim());
    if (typeof x !== "number" || !values.includes(x)) fail(w, `expected one of ${type}`, x);
    return x;
  });
}

/** true or false (command line: true/false/yes/no/on/off). */
export function bool(o: Opt<boolean>): Field<boolean> {
  return field("boolean", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x === "boolean") return x;
    if (typeof x === "string" && !isScalar(v)) {
      const t = x.toLowerCase();
      if (["true", "yes", "on", "1"].includes(t)) return true;
      if (["false", "no", "off", "0"].includes(t)) return false;
    }
    return fail(w, "expected true or false", x);
  });
}

/** One of a fixed set of strings. */
export function oneOf<const V extends string>(values: readonly V[], o: Opt<V>): Field<V> {
  const type = values.join(" | ");
  return field(type, o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string" || !values.includes(x as V)) {
      fail(w, `expected one of ${values.join(", ")}`, x);
    }
    return x as V;
  });
}

/** An integer in [min, max], or the word `auto` (returned as "auto"). */
export function intOrAuto(o: Opt<number | "auto"> & { min: number; max: number }): Field<
  number | "auto"
> {
  const inner = int({ doc: o.doc, min: o.min, max: o.max });
  return field(`${inner.type} or auto`, o, (v, w) => {
    const x = scalarValue(v);
    if (x === "auto") return "auto";
    try {
      return inner.parse(v, w);
    } catch {
      return fail(w, `expected an ${inner.type}, or auto`, x);
    }
  });
}
