/**
 * Configuration files: reading one (size-bounded; a file holding a secret
 * must be mode 0600), parsing its YAML strictly (1.2 core schema, unique
 * keys, errors at file:line:col), and finding its top-level keys and named
 * sections.
 *
 * @module
 */
import { isMap, isSeq, LineCounter, type Node as YamlNode, parseDocument } from "yaml";
import { ConfigError, fail, scalarValue } from "./config_field.ts";

/** A parsed config file: its path, YAML document root, and a line counter. */
export interface ConfigFile {
  file: string;
  root: unknown;
  lines: LineCounter;
}

/**
 * Parses YAML text strictly (YAML 1.2 core schema, unique keys). Throws
 * ConfigError with file:line:col for syntax errors.
 */
export function parseYaml(text: string, file: string): ConfigFile {
  const lines = new LineCounter();
  if (/^%YAML\s+1\.1\b/m.test(text)) {
    throw new ConfigError(
      `${file}: YAML 1.1 is not accepted (it reads 00:01:00:02:00:05 as a number); remove the %YAML 1.1 directive`,
    );
  }
  const doc = parseDocument(text, {
    version: "1.2",
    schema: "core",
    uniqueKeys: true,
    lineCounter: lines,
    prettyErrors: false,
    keepSourceTokens: false,
  });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lines.linePos(first.pos[0]);
    throw new ConfigError(
      `${file}:${line}:${col}: cannot parse YAML: ${first.message.split("\n")[0]}`,
    );
  }
  return { file, root: doc.contents, lines };
}

/**
 * Why a file holding a secret (a key, a secret, a token) may not be used
 * because group or others have any access to it, or null when only its
 * owner has. `mode` is `st_mode` (null where the OS has none). The one
 * check for key files, secret files and config files that hold a secret.
 *
 * @example
 * ```ts
 * import { unsafeMode } from "./config_file.ts";
 * unsafeMode(0o100600, "/etc/l2/node.key"); // null
 * unsafeMode(0o100644, "/etc/l2/node.key");
 * // "Cannot use key file /etc/l2/node.key: other users can access it (mode 0644); run chmod 600 /etc/l2/node.key"
 * ```
 */
export function unsafeMode(
  mode: number | null,
  path: string,
  what = "key file",
  /** Why the file is secret, e.g. " and it holds las.default.secret (line 3)". */
  holds = "",
): string | null {
  if (mode === null) return null;
  if ((mode & 0o077) === 0) return null;
  const m = (mode & 0o777).toString(8).padStart(3, "0");
  return `Cannot use ${what} ${path}: other users can access it (mode 0${m})${holds}; ` +
    `run chmod 600 ${path}`;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Config keys whose values are secrets: a file holding one must be mode 0600. */
export const SECRET_KEYS: readonly string[] = ["secret", "api_token"];

/**
 * Where a parsed file sets a secret key (`SECRET_KEYS`) to a non-empty
 * value, anywhere in it (any daemon's section): `path (line N)` each.
 */
export function secretsIn(cf: ConfigFile): string[] {
  const found: string[] = [];
  const visit = (n: unknown, path: string) => {
    if (isMap(n)) {
      for (const pair of n.items) {
        const key = String(scalarValue(pair.key));
        const p = path ? `${path}.${key}` : key;
        const v = pair.value;
        if (SECRET_KEYS.includes(key) && v !== null && v !== undefined) {
          const x = scalarValue(v);
          if (x !== null && x !== "") {
            const range = (pair.key as YamlNode).range;
            found.push(range ? `${p} (line ${cf.lines.linePos(range[0]).line})` : p);
          }
        }
        visit(v, p);
      }
    } else if (isSeq(n)) {
      n.items.forEach((it, i) => visit(it, `${path}[${i}]`));
    }
  };
  visit(cf.root, "");
  return found;
}

/**
 * Reads and parses a config file. A missing file is an error here; callers
 * decide. A file that sets a secret (`SECRET_KEYS`) is refused when other
 * users can access it (`unsafeMode`); the mode is taken from the open file,
 * so it is the mode of what was read.
 */
export async function readConfigFile(file: string): Promise<ConfigFile> {
  let text: string;
  let mode: number | null;
  try {
    const f = await Deno.open(file, { read: true });
    try {
      mode = (await f.stat()).mode;
      const chunks: Uint8Array[] = [];
      for (;;) {
        const buf = new Uint8Array(65536);
        const n = await f.read(buf);
        if (n === null) break;
        chunks.push(buf.subarray(0, n));
      }
      text = new TextDecoder().decode(concat(chunks));
    } finally {
      f.close();
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ConfigError(`${file}: no such file`);
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(`${file}: permission denied`);
    }
    throw new ConfigError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const cf = parseYaml(text, file);
  if (unsafeMode(mode, file) !== null) {
    const secrets = secretsIn(cf);
    if (secrets.length) {
      throw new ConfigError(
        unsafeMode(mode, file, "config file", ` and it holds a secret: ${secrets.join(", ")}`)!,
      );
    }
  }
  return cf;
}

/** Finds a top-level key's value node in a parsed file, or undefined. */
export function topLevel(
  cf: ConfigFile,
  key: string,
): { node: unknown; keyNode: YamlNode } | undefined {
  if (cf.root === null || cf.root === undefined) return undefined;
  if (!isMap(cf.root)) {
    fail(
      { file: cf.file, lines: cf.lines, path: "", node: cf.root as YamlNode },
      "expected a mapping at the top of the file",
    );
  }
  for (const pair of cf.root.items) {
    if (scalarValue(pair.key) === key) return { node: pair.value, keyNode: pair.key as YamlNode };
  }
  return undefined;
}

/** The names of the sections under a daemon kind (`node:` → ["home", ...]). */
export function sectionNames(cf: ConfigFile, kind: string): string[] {
  const t = topLevel(cf, kind);
  if (!t || t.node === null) return [];
  if (!isMap(t.node)) {
    fail(
      { file: cf.file, lines: cf.lines, path: kind, node: t.keyNode },
      `expected a mapping of named ${kind} sections`,
    );
  }
  return t.node.items.map((p) => String(scalarValue(p.key)));
}

/** The YAML node of section `name` under `kind`, or undefined. */
export function sectionNode(cf: ConfigFile, kind: string, name: string): unknown {
  const t = topLevel(cf, kind);
  if (!t || !isMap(t.node)) return undefined;
  const pair = t.node.items.find((p) => String(scalarValue(p.key)) === name);
  return pair ? (pair.value ?? null) : undefined;
}
