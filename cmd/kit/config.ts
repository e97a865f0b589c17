/**
 * Configuration files: YAML 1.2 (core schema), one file with named sections
 * per daemon kind, every key typed, documented and defaulted.
 *
 * ```yaml
 * log: { level: info, format: text, debug: [] }   # for every daemon in the file
 * node:
 *   home:                                          # `l2 node home`
 *     supernode: vpn.example.net:7654
 *     id: auto
 * ```
 *
 * Errors name the file, line and column, the key path and what is expected,
 * for example `/etc/l2/l2.yaml:7:9: node.home.mtu: expected an integer
 * 576..9000, got 70000`. Unknown keys are errors (with a "did you mean").
 *
 * YAML 1.1 reads an unquoted `00:01:00:02:00:05` as a base-60 number. The
 * parser is pinned to YAML 1.2 (a `%YAML 1.1` directive is refused), and MAC
 * fields read the scalar's source text and refuse non-string scalars, so an
 * address can never silently turn into a number.
 *
 * This module is the schema (sections, lists, maps, overrides, the parse of
 * a section with "did you mean") and the one import for every config
 * module; the pieces are in cmd/kit/config_field.ts (`ConfigError`,
 * `Where`, `Field`, scalar fields), cmd/kit/config_values.ts (host:port,
 * CIDR, IP, MAC, interface, pcap filter) and cmd/kit/config_file.ts
 * (reading and parsing a file, its sections, secret-file modes).
 *
 * @module
 */
import { isMap, isScalar, isSeq, type Node as YamlNode, type Scalar } from "yaml";
import { fail, type Field, field, type Opt, scalarValue, type Where } from "./config_field.ts";

export {
  bool,
  ConfigError,
  fail,
  type Field,
  int,
  intIn,
  intOrAuto,
  locate,
  normalizePath,
  oneOf,
  path,
  str,
  type Where,
} from "./config_field.ts";
export {
  type Cidr,
  cidr,
  type FilterExpression,
  filterExpression,
  formatHostPort,
  type HostPort,
  hostPort,
  hostPortOrOff,
  ifname,
  ipAddress,
  isIPv4,
  isIPv6,
  mac,
  parseCidr,
  parseHostPort,
} from "./config_values.ts";
export {
  type ConfigFile,
  parseYaml,
  readConfigFile,
  SECRET_KEYS,
  secretsIn,
  sectionNames,
  sectionNode,
  topLevel,
  unsafeMode,
} from "./config_file.ts";

/** A list of `item`; a single scalar is accepted as a list of one. */
export function list<T>(item: Field<T>, o: Opt<T[]>): Field<T[]> {
  return field(`list of ${item.type}`, o, (v, w) => {
    if (isSeq(v)) {
      return v.items.map((it, i) =>
        item.parse(it, { ...w, path: `${w.path}[${i}]`, node: it as YamlNode })
      );
    }
    if (Array.isArray(v)) {
      return v.map((it, i) => item.parse(it, { ...w, path: `${w.path}[${i}]` }));
    }
    if (v === null || scalarValue(v) === null) return [];
    return [item.parse(v, w)];
  });
}

/** A mapping with a fixed set of keys. */
export type Schema = Record<string, Field<unknown>>;
/** The parsed value of a schema. */
export type Infer<S extends Schema> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

/** A nested mapping of fields, with defaults filled in. */
export function section<S extends Schema>(fields: S, o: { doc: string }): Field<Infer<S>> {
  const f: Field<Infer<S>> = {
    type: "mapping",
    doc: o.doc,
    default: undefined,
    defaultText: "",
    parse: (v, w) => parseSection(fields, v, w),
  };
  (f as { default: unknown }).default = defaultsOf(fields);
  (f as { fields?: Schema }).fields = fields;
  return f;
}

/**
 * A mapping of some of `fields`, each overriding a value given elsewhere
 * (e.g. per-VC switch policy over the common one): keys left out are left
 * out of the result, nothing is required, unknown keys are errors.
 */
export function overrides<S extends Schema>(
  fields: S,
  o: { doc: string },
): Field<Partial<Infer<S>>> {
  const optional = Object.fromEntries(
    Object.entries(fields).map(([k, f]) => [k, { ...f, default: undefined }]),
  ) as Schema;
  return field("mapping", { doc: o.doc, default: {}, defaultText: "{}" }, (v, w) => {
    const given = new Set<string>();
    if (isMap(v)) { for (const p of v.items) given.add(String(scalarValue(p.key))); }
    const parsed = parseSection(optional, v, w, new Set(Object.keys(fields))) as Record<
      string,
      unknown
    >;
    return Object.fromEntries(
      Object.entries(parsed).filter(([k]) => given.has(k)),
    ) as Partial<Infer<S>>;
  });
}

/** A mapping from names (checked by `key`) to values of one field type. */
export function mapOf<T>(
  value: Field<T>,
  o: { doc: string; key: (name: string) => string | null; keyText: string },
): Field<Record<string, T>> {
  return field(`mapping of ${o.keyText} to ${value.type}`, {
    doc: o.doc,
    default: {},
    defaultText: "{}",
  }, (v, w) => {
    const out: Record<string, T> = {};
    if (v === null || v === undefined || (isScalar(v) && (v as Scalar).value === null)) return out;
    if (!isMap(v)) fail(w, `expected a mapping of ${o.keyText}`, scalarValue(v));
    for (const pair of v.items) {
      const keyNode = pair.key as YamlNode;
      // The key as written: YAML 1.2 would read an unquoted 0x0a0b as the number 2571.
      const name = isScalar(keyNode) && typeof (keyNode as Scalar).source === "string"
        ? (keyNode as Scalar).source as string
        : String(scalarValue(keyNode));
      const kw: Where = { ...w, path: `${w.path}.${name}`, node: keyNode };
      const bad = o.key(name);
      if (bad) fail(kw, bad);
      out[name] = value.parse(pair.value, { ...kw, node: (pair.value as YamlNode) ?? keyNode });
    }
    return out;
  });
}

/** The fields of a `section` field, for docs. */
export function sectionFields(f: Field<unknown>): Schema | undefined {
  return (f as { fields?: Schema }).fields;
}

function defaultsOf<S extends Schema>(fields: S): Infer<S> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(fields)) {
    if (f.default === undefined) return undefined;
    out[k] = f.default;
  }
  return out as Infer<S>;
}

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The closest known name, if close enough to be a likely typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dd = distance(name, k);
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** Parses a YAML mapping node (or null for "all defaults") against `fields`. */
export function parseSection<S extends Schema>(
  fields: S,
  v: unknown,
  w: Where,
  /** Keys given elsewhere (command-line flags): not required here. */
  provided: ReadonlySet<string> = new Set(),
): Infer<S> {
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  if (v !== null && v !== undefined && !(isScalar(v) && (v as Scalar).value === null)) {
    if (!isMap(v)) fail(w, "expected a mapping of keys", scalarValue(v));
    for (const pair of v.items) {
      const keyNode = pair.key as YamlNode;
      const key = String(scalarValue(keyNode));
      const kw: Where = { ...w, path: w.path ? `${w.path}.${key}` : key, node: keyNode };
      const f = fields[key];
      if (!f) {
        const hint = suggest(key, Object.keys(fields));
        fail(
          kw,
          `unknown key${hint ? ` (did you mean ${hint}?)` : ""}; known keys: ${
            Object.keys(fields).join(", ")
          }`,
        );
      }
      seen.add(key);
      const valueNode = pair.value as YamlNode | null;
      out[key] = f.parse(valueNode, { ...kw, node: valueNode ?? keyNode });
    }
  }
  for (const [key, f] of Object.entries(fields)) {
    if (seen.has(key)) continue;
    if (f.default === undefined) {
      if (provided.has(key)) continue;
      fail(w, `missing required key ${key} (${f.type}: ${f.doc})`);
    }
    out[key] = structuredClone(f.default);
  }
  return out as Infer<S>;
}
