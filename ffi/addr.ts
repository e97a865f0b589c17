/**
 * IP addresses and socket addresses as the `ffi/` layer passes them around.
 *
 * One representation for both families: an `Ip16`, 16 bytes in network
 * order, IPv6 as is and IPv4 as the IPv4-mapped IPv6 address `::ffff:a.b.c.d`
 * (RFC 4291 section 2.5.5.2). Receive paths copy addresses into preallocated
 * `Ip16` slots, so a packet does not allocate; text parsing and formatting
 * (RFC 4291 section 2.2 in, RFC 5952 out) are for configuration and logs.
 *
 * This file is pure: no Deno calls, no FFI.
 *
 * Not done here: zone indexes (`fe80::1%eth0`), host names.
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

/** Result of parsing address text. */
export type ParsedAddr<T> = { ok: true; value: T } | { ok: false; reason: string };

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

/** Byte equality of two addresses. */
export function ipEquals(a: Ip16, b: Ip16): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
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
 * including `::` and a trailing dotted quad) into an `Ip16`.
 *
 * @example
 * ```ts
 * import { formatIp, parseIp } from "./addr.ts";
 * const r = parseIp("10.0.0.1");
 * if (r.ok) formatIp(r.value); // "10.0.0.1"
 * parseIp("2001:db8::1"); // { ok: true, value: Uint8Array(16) [...] }
 * ```
 */
export function parseIp(text: string): ParsedAddr<Ip16> {
  const t = text.trim();
  const out = new Uint8Array(16);
  if (!t.includes(":")) {
    if (!parseV4Into(t, out, 12)) {
      return { ok: false, reason: `expected an IPv4 (a.b.c.d) or IPv6 address, got "${t}"` };
    }
    out[10] = 0xff;
    out[11] = 0xff;
    return { ok: true, value: out };
  }
  const bad = (why: string): ParsedAddr<Ip16> => ({
    ok: false,
    reason: `invalid IPv6 address "${t}": ${why}`,
  });
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

/**
 * Parses `a.b.c.d:port`, `[v6]:port`, or (with `defaultPort`) a bare address.
 *
 * @example
 * ```ts
 * import { parseEndpoint } from "./addr.ts";
 * parseEndpoint("[2001:db8::1]:4789"); // { ok: true, value: { ip, port: 4789 } }
 * parseEndpoint("192.0.2.1", 7654); // port 7654
 * ```
 */
export function parseEndpoint(text: string, defaultPort?: number): ParsedAddr<Endpoint> {
  const t = text.trim();
  let host = t, portText: string | undefined;
  if (t.startsWith("[")) {
    const close = t.indexOf("]");
    if (close === -1) return { ok: false, reason: `missing ']' in "${t}"` };
    host = t.slice(1, close);
    const rest = t.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) {
        return { ok: false, reason: `expected ':port' after ']' in "${t}"` };
      }
      portText = rest.slice(1);
    }
  } else if (t.indexOf(":") !== -1 && t.indexOf(":") === t.lastIndexOf(":")) {
    host = t.slice(0, t.indexOf(":"));
    portText = t.slice(t.indexOf(":") + 1);
  }
  const ip = parseIp(host);
  if (!ip.ok) return ip;
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) return { ok: false, reason: `missing port in "${t}"` };
    port = defaultPort;
  } else {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
      return { ok: false, reason: `port must be 0..65535, got "${portText}"` };
    }
    port = Number(portText);
  }
  return { ok: true, value: { ip: ip.value, port } };
}

/** `a.b.c.d:port` or `[v6]:port`. */
export function formatEndpoint(ep: Endpoint): string {
  return isV4(ep.ip) ? `${formatIp(ep.ip)}:${ep.port}` : `[${formatIp(ep.ip)}]:${ep.port}`;
}

/**
 * A string key for tables keyed by endpoint (allocates: call it when a table
 * needs it, not per packet on the hot path).
 */
export function endpointKey(ip: Ip16, port: number): string {
  return formatEndpoint({ ip, port });
}

// sockaddr_in (16 bytes): family u16 host order, port u16 BE, addr[4], zero[8].
// sockaddr_in6 (28 bytes): family, port BE, flowinfo u32, addr[16], scope_id u32.

/** Size of the sockaddr written for `family` (4 or 6). */
export function sockaddrLen(family: 4 | 6): number {
  return family === 4 ? 16 : 28;
}

/**
 * Writes `ip`/`port` as a sockaddr at `off`: sockaddr_in when `family` is 4
 * (the address must be IPv4-mapped), sockaddr_in6 otherwise (IPv4 then goes
 * as ::ffff:a.b.c.d, which a dual-stack socket accepts). Returns the length.
 */
export function writeSockaddr(
  u8: Uint8Array,
  off: number,
  family: 4 | 6,
  ip: Ip16,
  port: number,
): number {
  if (family === 4) {
    u8[off] = 2; // AF_INET, little-endian u16
    u8[off + 1] = 0;
    u8[off + 2] = port >>> 8;
    u8[off + 3] = port & 0xff;
    for (let i = 0; i < 4; i++) u8[off + 4 + i] = ip[12 + i];
    u8.fill(0, off + 8, off + 16);
    return 16;
  }
  u8[off] = 10; // AF_INET6
  u8[off + 1] = 0;
  u8[off + 2] = port >>> 8;
  u8[off + 3] = port & 0xff;
  u8.fill(0, off + 4, off + 8);
  for (let i = 0; i < 16; i++) u8[off + 8 + i] = ip[i];
  u8.fill(0, off + 24, off + 28);
  return 28;
}

/**
 * Reads a sockaddr_in or sockaddr_in6 at `off` into `ipOut` (mapped for
 * IPv4); returns the port, or -1 for another family.
 */
export function readSockaddr(u8: Uint8Array, off: number, ipOut: Ip16): number {
  const family = u8[off] | (u8[off + 1] << 8);
  const port = (u8[off + 2] << 8) | u8[off + 3];
  if (family === 2) {
    ipOut.fill(0, 0, 10);
    ipOut[10] = 0xff;
    ipOut[11] = 0xff;
    for (let i = 0; i < 4; i++) ipOut[12 + i] = u8[off + 4 + i];
    return port;
  }
  if (family === 10) {
    for (let i = 0; i < 16; i++) ipOut[i] = u8[off + 8 + i];
    return port;
  }
  return -1;
}
