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
 * @module
 */
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node as YamlNode,
  parseDocument,
  type Scalar,
} from "yaml";
import { formatMac, isGroup, type MacKey, parseMac } from "../../core/mac.ts";
import { parseIp, parsePort, parsePrefix, splitHostPort } from "../../core/addr.ts";
import { type BpfProgram, type BpfReason, verifyBpf } from "../../core/bpf.ts";
import { compileFilter, PcapError } from "../../ffi/pcap.ts";

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

type Opt<T> = { doc: string; default?: T; defaultText?: string };

function field<T>(type: string, o: Opt<T>, parse: (v: unknown, w: Where) => T): Field<T> {
  return {
    type,
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText ??
      (o.default === undefined ? "(required)" : JSON.stringify(o.default)),
    parse,
  };
}

function scalarValue(v: unknown): unknown {
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

/** A socket address: host and port. */
export interface HostPort {
  host: string;
  port: number;
}

/** Formats a HostPort, with brackets around IPv6 hosts. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

const HOST_NAME =
  /^[A-Za-z0-9](?:[A-Za-z0-9\-_]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-_]*[A-Za-z0-9])?)*\.?$/;

/**
 * Parses `host:port`, `[v6]:port`, or `host` alone when a default port is
 * known. The text is split and an address checked by `core/addr.ts` (the one
 * address parser); a host that is not an address must be a DNS name (it is
 * resolved later). An IPv6 host may carry a zone (`[fe80::1%eth0]`), kept as
 * written. Returns the reason as a string on failure.
 */
export function parseHostPort(
  text: string,
  defaultPort?: number,
  /** Port 0 (a listener: the OS picks a free port). */
  allowZero = false,
): HostPort | string {
  const s = splitHostPort(text);
  if (!s.ok) return s.why;
  const { host, port, bracketed } = s.value;
  if (!bracketed && host.includes(":")) return "IPv6 addresses need brackets: [2001:db8::1]:7654";
  if (host === "") return "missing host";
  const zone = bracketed ? host.indexOf("%") : -1;
  const addr = zone === -1 ? host : host.slice(0, zone);
  if (zone !== -1 && !/^%[A-Za-z0-9.\-_]+$/.test(host.slice(zone))) {
    return `bad zone in ${JSON.stringify(host)}`;
  }
  // Written like an address (IPv6, or only digits and dots): it must parse as one.
  if (bracketed || /^[0-9.]+$/.test(addr)) {
    const ip = parseIp(addr);
    if (!ip.ok) return ip.why;
  } else if (!HOST_NAME.test(host)) return `bad host ${JSON.stringify(host)}`;
  if (port === undefined) {
    if (defaultPort === undefined) return "missing :port";
    return { host, port: defaultPort };
  }
  const n = parsePort(port);
  const min = allowZero ? 0 : 1;
  if (n < min) return `port must be ${min}..65535, not ${port}`;
  return { host, port: n };
}

/** `host:port`; the port may be left out when `defaultPort` is given. */
export function hostPort(
  o: Opt<HostPort> & { defaultPort?: number; allowZero?: boolean },
): Field<HostPort> {
  const type = o.defaultPort === undefined ? "HOST:PORT" : `HOST[:PORT] (port ${o.defaultPort})`;
  return field(type, {
    ...o,
    defaultText: o.defaultText ?? (o.default ? formatHostPort(o.default) : undefined),
  }, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string") fail(w, `expected ${type}`, x);
    const r = parseHostPort(x, o.defaultPort, o.allowZero);
    if (typeof r === "string") fail(w, `expected ${type}: ${r} in ${JSON.stringify(x)}`);
    return r;
  });
}

/** `host:port` or `off` (returned as null): for optional listeners such as the API. */
export function hostPortOrOff(
  o: Opt<HostPort | null> & { defaultPort?: number },
): Field<HostPort | null> {
  const inner = hostPort({ doc: o.doc, defaultPort: o.defaultPort, allowZero: true });
  return field(`${inner.type} or off`, {
    ...o,
    defaultText: o.defaultText ??
      (o.default === null ? "off" : o.default ? formatHostPort(o.default) : undefined),
  }, (v, w) => {
    const x = scalarValue(v);
    if (x === "off" || x === false) return null;
    return inner.parse(v, w);
  });
}

/** An IP prefix in CIDR notation, IPv4 or IPv6. */
export interface Cidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

/** True if `s` is a dotted-quad IPv4 address (`core/addr.ts` parses it). */
export function isIPv4(s: string): boolean {
  return s === s.trim() && !s.includes(":") && parseIp(s).ok;
}

/** True if `s` is an IPv6 address (RFC 4291 text form, with optional embedded IPv4). */
export function isIPv6(s: string): boolean {
  return s === s.trim() && s.includes(":") && parseIp(s).ok;
}

/** Parses `address/prefix` with `core/addr.ts`; the address is kept as written. */
export function parseCidr(text: string): Cidr | string {
  const t = text.trim();
  const r = parsePrefix(t);
  if (!r.ok) return r.why;
  const address = t.slice(0, t.indexOf("/"));
  const family = address.includes(":") ? 6 : 4;
  return { address, prefix: family === 4 ? r.value.bits - 96 : r.value.bits, family };
}

/** One CIDR prefix. */
export function cidr(o: Opt<Cidr>): Field<Cidr> {
  return field("ADDRESS/PREFIX", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string") fail(w, "expected ADDRESS/PREFIX", x);
    const r = parseCidr(x);
    if (typeof r === "string") fail(w, r, x);
    return r;
  });
}

/** An IPv4 or IPv6 address without prefix. */
export function ipAddress(o: Opt<string>): Field<string> {
  return field("IP address", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string" || !(isIPv4(x) || isIPv6(x))) {
      fail(w, "expected an IPv4 or IPv6 address", x);
    }
    return x;
  });
}

/**
 * A unicast MAC address as a string in any usual spelling. Reads the YAML
 * source text, and refuses numbers (an unquoted MAC under YAML 1.1 rules).
 */
export function mac(o: Opt<MacKey>): Field<MacKey> {
  return field("MAC address", {
    ...o,
    defaultText: o.defaultText ?? (o.default === undefined ? undefined : formatMac(o.default)),
  }, (v, w) => {
    let text: unknown = scalarValue(v);
    if (isScalar(v)) {
      const s = v as Scalar;
      if (typeof s.value !== "string") {
        fail(w, 'expected a MAC address as a string (quote it: "00:01:00:02:00:05")', s.value);
      }
      text = s.value;
    }
    if (typeof text !== "string") fail(w, "expected a MAC address", text);
    const r = parseMac(text);
    if (!r.ok) fail(w, `expected a MAC address: ${r.reason}`, text);
    if (isGroup(r.value)) fail(w, "expected a unicast MAC address, not a group address", text);
    return r.value;
  });
}

/** A Linux interface name: 1..15 characters, no '/', ':' or white space. */
export function ifname(o: Opt<string>): Field<string> {
  return field("interface name", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string" || !/^[^/:\s]{1,15}$/.test(x) || x === "." || x === "..") {
      fail(w, "expected an interface name of 1..15 characters without '/', ':' or spaces", x);
    }
    return x;
  });
}

/** A filter expression and the verified program libpcap compiled from it. */
export interface FilterExpression {
  /** The expression as written. */
  expression: string;
  /** The classic BPF program, verified (`core/bpf.ts`), ready to run. */
  program: BpfProgram;
}

const VERIFIER_WORDS: Record<BpfReason, string> = {
  "bpf-empty": "it is empty",
  "bpf-too-long": "it has more than 4096 instructions",
  "bpf-bad-field": "an instruction field is out of range",
  "bpf-bad-opcode": "it uses an unknown instruction",
  "bpf-div-by-zero": "it divides by a constant 0",
  "bpf-shift-too-far": "it shifts by 32 or more",
  "bpf-bad-mem-index": "it addresses scratch memory beyond M[15]",
  "bpf-mem-read-before-write": "it reads scratch memory before writing it",
  "bpf-jump-out-of-range": "it jumps past its end",
  "bpf-backward-jump": "it jumps backwards (a loop, as `protochain` makes)",
  "bpf-last-not-ret": "its last instruction is not a return",
  "bpf-ancillary-load": "it reads Linux socket metadata, which frames here do not have",
};

/**
 * A filter expression in tcpdump's language (pcap-filter(7)), compiled by
 * libpcap (`ffi/pcap.ts`, link type Ethernet) and checked by the BPF
 * verifier (`core/bpf.ts`) when the configuration is loaded. A bad
 * expression is a config error at the value's file:line:col with libpcap's
 * own message. Host and port names in the expression are resolved by
 * libpcap at load time.
 */
export function filterExpression(o: Opt<FilterExpression>): Field<FilterExpression> {
  return field("filter expression (tcpdump syntax)", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string" || x.trim() === "") {
      fail(w, "expected a filter expression in tcpdump syntax, as a string", x);
    }
    let insns;
    try {
      insns = compileFilter(x);
    } catch (e) {
      if (!(e instanceof PcapError)) throw e;
      if (e.kind === "load") fail(w, `cannot compile filter: ${e.message}`);
      fail(w, `cannot compile filter ${JSON.stringify(x)}: ${e.pcapMessage}`);
    }
    const r = verifyBpf(insns);
    if (!r.ok) {
      fail(
        w,
        `cannot use filter ${JSON.stringify(x)}: the BPF verifier refuses libpcap's program: ` +
          `${VERIFIER_WORDS[r.reason]} (instruction ${r.pc})`,
      );
    }
    return { expression: x, program: r.value };
  });
}

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
 * import { unsafeMode } from "./config.ts";
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
