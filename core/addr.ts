/**
 * IP addresses, endpoints (address and port) and prefixes: the one typed
 * value every layer passes, and the one parser of their text.
 *
 * One representation for both families: an `Ip16`, 16 bytes in network
 * order, IPv6 as is and IPv4 as the IPv4-mapped IPv6 address `::ffff:a.b.c.d`
 * (RFC 4291 section 2.5.5.2). So `192.0.2.1` and `::ffff:192.0.2.1` are the
 * same value, as a dual-stack socket (which reports IPv4 peers mapped) sees
 * them; it prints as `192.0.2.1`. An `Endpoint` is an `Ip16` and a port.
 *
 * Text in: RFC 4291 section 2.2 (including `::` and a trailing dotted quad),
 * dotted quads without leading zeros, `a.b.c.d:port` and `[v6]:port`
 * (RFC 3986 brackets). Text out: RFC 5952 (lower case, the longest run of two
 * or more zero groups as `::`, the first run on a tie), IPv6 endpoints in
 * brackets. Parsers never throw: they return `{ ok: false, reason, why }`,
 * the reason "Cannot parse X: why" for logs, `why` alone for the config
 * layer, which names the place itself (file:line:col and the key).
 *
 * This file is pure: no Deno calls, no FFI. Receive paths copy addresses into
 * preallocated `Ip16` slots (`ffi/addr.ts` reads and writes sockaddrs), so a
 * packet does not allocate; parsing and formatting are for configuration,
 * control messages and logs.
 *
 * Not done here: zone indexes (`fe80::1%eth0`), host names (the config layer
 * keeps a name as text and resolves it), IPv4 forms only a resolver reads
 * (`127.1`, `0x7f.0.0.1`, `010.0.0.1`).
 *
 * @module
 */

/** An IP address: 16 bytes, IPv4 as ::ffff:a.b.c.d. */
export type Ip16 = Uint8Array;

/** A transport endpoint: address and port (0 for raw IP). */
export interface Endpoint {
  /** 16-byte address, IPv4 mapped. */
  ip: Ip16;
  /** UDP port, 0 for raw IP. */
  port: number;
}

/** An address prefix: the address and the prefix length over its 16-byte form. */
export interface Prefix {
  ip: Ip16;
  /** Prefix length over the 16 bytes (an IPv4 /24 is 96 + 24 = 120). */
  bits: number;
}

/**
 * Result of parsing text: the value, or a `reason` "Cannot parse X: why"
 * (for logs and errors) and the bare `why` (for the config layer, which
 * names the place itself: file:line:col and the key).
 */
export type ParsedAddr<T> = { ok: true; value: T } | { ok: false; reason: string; why: string };

function failed(
  what: string,
  text: string,
  why: string,
): { ok: false; reason: string; why: string } {
  return { ok: false, reason: `Cannot parse ${what} ${JSON.stringify(text)}: ${why}`, why };
}

/** True when `ip` is an IPv4-mapped address (::ffff:0:0/96). */
export function isV4(ip: Ip16): boolean {
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false;
  return ip[10] === 0xff && ip[11] === 0xff;
}

/** The IPv4 address of a mapped `Ip16` as an unsigned 32-bit number. */
export function v4Number(ip: Ip16): number {
  return ((ip[12] << 24) | (ip[13] << 16) | (ip[14] << 8) | ip[15]) >>> 0;
}

/** Writes IPv4 `a.b.c.d` (as a 32-bit number) into `out` as ::ffff:a.b.c.d; returns `out`. */
export function setV4(out: Ip16, v4: number): Ip16 {
  out.fill(0, 0, 10);
  out[10] = 0xff;
  out[11] = 0xff;
  out[12] = v4 >>> 24;
  out[13] = (v4 >>> 16) & 0xff;
  out[14] = (v4 >>> 8) & 0xff;
  out[15] = v4 & 0xff;
  return out;
}

/** True for the unspecified address (:: or 0.0.0.0). */
export function isUnspecified(ip: Ip16): boolean {
  if (isV4(ip)) return v4Number(ip) === 0;
  for (let i = 0; i < 16; i++) if (ip[i] !== 0) return false;
  return true;
}

/** True for loopback: 127.0.0.0/8 (also written ::ffff:127.x.y.z) and ::1. */
export function isLoopback(ip: Ip16): boolean {
  if (isV4(ip)) return ip[12] === 127;
  for (let i = 0; i < 15; i++) if (ip[i] !== 0) return false;
  return ip[15] === 1;
}

/** Byte equality of two addresses. */
export function ipEquals(a: Ip16, b: Ip16): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Equality of two endpoints (address and port). */
export function endpointEquals(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && ipEquals(a.ip, b.ip);
}

const V4_PART = /^(0|[1-9][0-9]{0,2})$/;

function parseV4Into(text: string, out: Uint8Array, off: number): boolean {
  const parts = text.split(".");
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    if (!V4_PART.test(parts[i])) return false;
    const n = Number(parts[i]);
    if (n > 255) return false;
    out[off + i] = n;
  }
  return true;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses an IPv4 dotted quad or an IPv6 address (RFC 4291 section 2.2,
 * including `::` and a trailing dotted quad) into an `Ip16`. Surrounding
 * white space is ignored.
 *
 * @example
 * ```ts
 * import { formatIp, parseIp } from "./addr.ts";
 * const r = parseIp("10.0.0.1");
 * if (r.ok) formatIp(r.value); // "10.0.0.1"
 * parseIp("2001:db8::1"); // { ok: true, value: Uint8Array(16) [...] }
 * parseIp("10.0.0.256"); // { ok: false, reason: 'Cannot parse IP address "10.0.0.256": ...' }
 * ```
 */
export function parseIp(text: string): ParsedAddr<Ip16> {
  const t = text.trim();
  const out = new Uint8Array(16);
  if (!t.includes(":")) {
    if (!parseV4Into(t, out, 12)) {
      return failed("IP address", t, "expected an IPv4 (a.b.c.d) or IPv6 address");
    }
    out[10] = 0xff;
    out[11] = 0xff;
    return { ok: true, value: out };
  }
  const bad = (why: string): ParsedAddr<Ip16> => failed("IPv6 address", t, why);
  const dbl = t.indexOf("::");
  if (dbl !== -1 && t.indexOf("::", dbl + 1) !== -1) return bad("more than one '::'");
  const head = dbl === -1 ? t : t.slice(0, dbl);
  const tail = dbl === -1 ? "" : t.slice(dbl + 2);
  const headParts = head === "" ? [] : head.split(":");
  const tailParts = tail === "" ? [] : tail.split(":");
  const groups: number[] = [];
  const tailGroups: number[] = [];
  const all = [
    ...headParts.map((p) => [p, groups] as const),
    ...tailParts.map((p) => [p, tailGroups] as const),
  ];
  for (let i = 0; i < all.length; i++) {
    const [p, into] = all[i];
    if (i === all.length - 1 && p.includes(".")) {
      const q = new Uint8Array(4);
      if (!parseV4Into(p, q, 0)) return bad(`bad dotted quad "${p}"`);
      into.push((q[0] << 8) | q[1], (q[2] << 8) | q[3]);
      continue;
    }
    if (!HEX_GROUP.test(p)) return bad(p === "" ? "empty group" : `bad group "${p}"`);
    into.push(parseInt(p, 16));
  }
  const total = groups.length + tailGroups.length;
  if (dbl === -1 && total !== 8) return bad(`expected 8 groups, got ${total}`);
  if (dbl !== -1 && total > 7) return bad("'::' must stand for at least one group");
  const words = [...groups, ...new Array(8 - total).fill(0), ...tailGroups];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >>> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return { ok: true, value: out };
}

/**
 * Formats an `Ip16`: dotted quad for IPv4-mapped addresses, RFC 5952 text
 * for IPv6 (lower case, longest run of two or more zero groups as `::`,
 * first run on a tie).
 *
 * @example
 * ```ts
 * import { formatIp, parseIp } from "./addr.ts";
 * const r = parseIp("2001:0db8:0:0:1:0:0:1");
 * if (r.ok) formatIp(r.value); // "2001:db8::1:0:0:1"
 * ```
 */
export function formatIp(ip: Ip16): string {
  if (isV4(ip)) return `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((ip[2 * i] << 8) | ip[2 * i + 1]);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return w.map((x) => x.toString(16)).join(":");
  const left = w.slice(0, bestStart).map((x) => x.toString(16)).join(":");
  const right = w.slice(bestStart + bestLen).map((x) => x.toString(16)).join(":");
  return `${left}::${right}`;
}

/** Host and port text of `host:port`, `[v6]:port`, `[v6]` or a bare host; `port` absent when not given. */
export interface HostPortText {
  host: string;
  port?: string;
  /** The host was written in brackets. */
  bracketed: boolean;
}

/**
 * Splits endpoint text into its host and port text without judging either
 * (surrounding white space ignored). Text with two or more colons outside
 * brackets is taken as a bare host (an unbracketed IPv6 address). The one
 * splitter of `host:port` text: `parseEndpoint` and the config layer (which
 * also accepts host names) both use it.
 *
 * @example
 * ```ts
 * import { splitHostPort } from "./addr.ts";
 * splitHostPort("[2001:db8::1]:7654"); // { ok: true, value: { host: "2001:db8::1", port: "7654", bracketed: true } }
 * splitHostPort("vpn.example.net"); // { ok: true, value: { host: "vpn.example.net", bracketed: false } }
 * ```
 */
export function splitHostPort(text: string): ParsedAddr<HostPortText> {
  const t = text.trim();
  if (t.startsWith("[")) {
    const close = t.indexOf("]");
    if (close === -1) return failed("endpoint", t, "missing ']'");
    const host = t.slice(1, close);
    const rest = t.slice(close + 1);
    if (rest === "") return { ok: true, value: { host, bracketed: true } };
    if (!rest.startsWith(":")) {
      return failed("endpoint", t, "expected ':port' after ']'");
    }
    return { ok: true, value: { host, port: rest.slice(1), bracketed: true } };
  }
  const colon = t.indexOf(":");
  if (colon !== -1 && colon === t.lastIndexOf(":")) {
    return {
      ok: true,
      value: { host: t.slice(0, colon), port: t.slice(colon + 1), bracketed: false },
    };
  }
  return { ok: true, value: { host: t, bracketed: false } };
}

/**
 * Parses port text (decimal, 0..65535), or returns -1.
 *
 * @example
 * ```ts
 * import { parsePort } from "./addr.ts";
 * parsePort("7654"); // 7654
 * parsePort("65536"); // -1
 * ```
 */
export function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) return -1;
  const n = Number(text);
  return n > 65535 ? -1 : n;
}

/**
 * Parses `a.b.c.d:port`, `[v6]:port`, or (with `defaultPort`) a bare address
 * (`[v6]` or `v6` without brackets too).
 *
 * @example
 * ```ts
 * import { formatEndpoint, parseEndpoint } from "./addr.ts";
 * const e = parseEndpoint("[2001:db8::1]:4789");
 * if (e.ok) formatEndpoint(e.value); // "[2001:db8::1]:4789"
 * parseEndpoint("192.0.2.1", 7654); // port 7654
 * parseEndpoint("192.0.2.1"); // { ok: false, reason: 'Cannot parse endpoint "192.0.2.1": missing port' }
 * ```
 */
export function parseEndpoint(text: string, defaultPort?: number): ParsedAddr<Endpoint> {
  const s = splitHostPort(text);
  if (!s.ok) return s;
  const ip = parseIp(s.value.host);
  if (!ip.ok) return ip;
  const portText = s.value.port;
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) {
      return failed("endpoint", text.trim(), "missing port");
    }
    port = defaultPort;
  } else {
    port = parsePort(portText);
    if (port < 0) {
      return failed("endpoint", text.trim(), `port must be 0..65535, got "${portText}"`);
    }
  }
  return { ok: true, value: { ip: ip.value, port } };
}

/**
 * `a.b.c.d:port` or `[v6]:port`: the text of an endpoint in logs, status and
 * tables (allocates; the receive path keeps the last one it made).
 *
 * @example
 * ```ts
 * import { formatEndpoint, setV4 } from "./addr.ts";
 * formatEndpoint({ ip: setV4(new Uint8Array(16), 0xc0000201), port: 7654 }); // "192.0.2.1:7654"
 * ```
 */
export function formatEndpoint(ep: Endpoint): string {
  return isV4(ep.ip) ? `${formatIp(ep.ip)}:${ep.port}` : `[${formatIp(ep.ip)}]:${ep.port}`;
}

/**
 * A string key for tables keyed by endpoint: its canonical text (allocates:
 * call it when a table needs it, not per packet on the hot path).
 */
export function endpointKey(ip: Ip16, port: number): string {
  return formatEndpoint({ ip, port });
}

/**
 * Parses `address/length` (or, with `bareIsHost`, a bare address as a host
 * prefix). The length counts in the address's family: 0..32 for IPv4
 * (stored as 96 + length over the mapped form), 0..128 for IPv6.
 *
 * @example
 * ```ts
 * import { parsePrefix } from "./addr.ts";
 * parsePrefix("192.0.2.0/24"); // { ok: true, value: { ip, bits: 120 } }
 * parsePrefix("10.0.0.1/33"); // { ok: false, reason: 'Cannot parse prefix "10.0.0.1/33": IPv4 prefix length is 0..32' }
 * ```
 */
export function parsePrefix(text: string, bareIsHost = false): ParsedAddr<Prefix> {
  const t = text.trim();
  const parts = t.split("/");
  if (parts.length > 2 || (parts.length === 1 && !bareIsHost) || /\s/.test(t)) {
    return failed("prefix", t, "expected ADDRESS/PREFIX, e.g. 10.0.0.1/24 or fd00::1/64");
  }
  const ip = parseIp(parts[0]);
  if (!ip.ok) return ip;
  // Written as IPv6 (even ::ffff:a.b.c.d), the length counts over 128 bits.
  const v4 = !parts[0].includes(":");
  const max = v4 ? 32 : 128;
  const len = parts.length === 1 ? max : /^\d{1,3}$/.test(parts[1]) ? Number(parts[1]) : -1;
  if (len < 0 || len > max) {
    return failed("prefix", t, `IPv${v4 ? 4 : 6} prefix length is 0..${max}`);
  }
  return { ok: true, value: { ip: ip.value, bits: v4 ? 96 + len : len } };
}

/**
 * True when `ip` is inside `p`.
 *
 * @example
 * ```ts
 * import { parseIp, parsePrefix, prefixContains } from "./addr.ts";
 * const p = parsePrefix("192.0.2.0/24"), a = parseIp("192.0.2.9");
 * if (p.ok && a.ok) prefixContains(p.value, a.value); // true
 * ```
 */
export function prefixContains(p: Prefix, ip: Ip16): boolean {
  let bits = p.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((p.ip[i] & mask) !== (ip[i] & mask)) return false;
  }
  return true;
}

/**
 * An endpoint from an `EndpointTable`: shared, never modified, with its
 * canonical text (`formatEndpoint`) as `key`. Tables keyed by endpoint (peers,
 * registrations, sessions) use `key`, never the object's identity: a table
 * that was reset hands out a new object for the same endpoint.
 */
export interface KeyedEndpoint extends Endpoint {
  /** Canonical text, `a.b.c.d:port` or `[v6]:port`: the map key and what logs print. */
  readonly key: string;
}

interface TableEntry extends KeyedEndpoint {
  /** The next entry with the same hash. */
  next: TableEntry | null;
}

/** Most endpoints an `EndpointTable` holds in each of its two generations by default. */
export const ENDPOINT_TABLE_MAX = 8192;

/**
 * Interns endpoints: the one `KeyedEndpoint` per address and port, so a
 * datagram from a known peer allocates nothing (its source is looked up by
 * number, not formatted). The address is copied in: the receive slot the
 * caller passes is reused for the next datagram, so no entry ever changes
 * under a peer.
 *
 * Bounded: two generations of at most `max` entries each; when the current
 * one is full it becomes the old one and the old one is dropped
 * (`rotations` counts it). An endpoint still in use moves back to the current
 * generation on its next lookup, so a busy peer keeps its object.
 *
 * @example
 * ```ts
 * import { EndpointTable, setV4 } from "./addr.ts";
 * const t = new EndpointTable();
 * const slot = setV4(new Uint8Array(16), 0xc0000201);
 * const a = t.intern(slot, 7654);
 * a.key; // "192.0.2.1:7654"
 * t.intern(slot, 7654) === a; // true: no allocation for a known endpoint
 * ```
 */
export class EndpointTable {
  #cur = new Map<number, TableEntry>();
  #old = new Map<number, TableEntry>();
  #curSize = 0;
  readonly #max: number;
  /** Times the current generation was full and became the old one. */
  rotations = 0;

  constructor(max = ENDPOINT_TABLE_MAX) {
    this.#max = Math.max(1, max);
  }

  /** Endpoints held (both generations; an endpoint in both counts once per generation). */
  get size(): number {
    return this.#curSize + this.#old.size;
  }

  /** The shared endpoint for `ip` (copied when new) and `port`. */
  intern(ip: Ip16, port: number): KeyedEndpoint {
    const h = hashEndpoint(ip, port);
    const hit = find(this.#cur.get(h), ip, port);
    if (hit !== null) return hit;
    const old = find(this.#old.get(h), ip, port);
    const e: TableEntry = old !== null
      ? { ip: old.ip, port, key: old.key, next: null }
      : { ip: ip.slice(), port, key: formatEndpoint({ ip, port }), next: null };
    if (this.#curSize >= this.#max) {
      this.#old = this.#cur;
      this.#cur = new Map();
      this.#curSize = 0;
      this.rotations++;
    }
    e.next = this.#cur.get(h) ?? null;
    this.#cur.set(h, e);
    this.#curSize++;
    return e;
  }

  /** The shared endpoint equal to `ep`. */
  of(ep: Endpoint): KeyedEndpoint {
    return this.intern(ep.ip, ep.port);
  }

  /** Parses endpoint text (`parseEndpoint`) and interns it; null when it does not parse. */
  parse(text: string): KeyedEndpoint | null {
    const r = parseEndpoint(text);
    return r.ok ? this.of(r.value) : null;
  }
}

function find(e: TableEntry | undefined | null, ip: Ip16, port: number): TableEntry | null {
  for (let x = e ?? null; x !== null; x = x.next) {
    if (x.port === port && ipEquals(x.ip, ip)) return x;
  }
  return null;
}

/**
 * A 30-bit hash of an endpoint (a small integer: no number is boxed per
 * lookup); entries with the same hash are chained and told apart by
 * address and port.
 */
function hashEndpoint(ip: Ip16, port: number): number {
  let h = Math.imul(0x811c9dc5 ^ port, 0x01000193);
  for (let i = isV4(ip) ? 12 : 0; i < 16; i++) h = Math.imul(h ^ ip[i], 0x01000193);
  return (h ^ (h >>> 15)) & 0x3fffffff;
}

/**
 * A `KeyedEndpoint` made outside any table (configuration, tests): parses
 * `text` or throws with the parser's reason.
 */
export function keyedEndpoint(text: string): KeyedEndpoint {
  const r = parseEndpoint(text);
  if (!r.ok) throw new Error(r.reason);
  return { ip: r.value.ip, port: r.value.port, key: formatEndpoint(r.value) };
}

/** `ep` itself when it already has its `key`, else a `KeyedEndpoint` of it (a copy). */
export function keyed(ep: Endpoint): KeyedEndpoint {
  const k = (ep as Partial<KeyedEndpoint>).key;
  return k !== undefined ? ep as KeyedEndpoint : {
    ip: ep.ip.slice(),
    port: ep.port,
    key: formatEndpoint(ep),
  };
}
