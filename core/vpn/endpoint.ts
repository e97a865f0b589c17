/**
 * UDP endpoints as the VPN core names them: text `a.b.c.d:port` or
 * `[v6]:port` (RFC 5952 canonical form for IPv6, RFC 3986 brackets), and
 * their wire encoding inside REGISTER, REGISTER_ACK and PEER_INTRO:
 *
 * ```
 * family (1: 4 or 6) | port (2) | address (4 or 16)
 * ```
 *
 * The daemon passes the sender of every datagram as this text and sends to
 * the text the core returns, so both must use the canonical form that
 * `formatEndpoint` produces (the same as `ffi/addr.ts` formats).
 *
 * Not done: zone ids (`fe80::1%eth0`), host names, IPv4-mapped IPv6 text.
 *
 * @module
 */

/** A parsed endpoint. `addr` holds 4 or 16 bytes. */
export interface WireEndpoint {
  family: 4 | 6;
  addr: Uint8Array;
  port: number;
}

/** Bytes of an encoded endpoint of the given family. */
export function endpointWireLength(family: 4 | 6): number {
  return family === 4 ? 7 : 19;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(text: string, out: Uint8Array): boolean {
  const m = V4.exec(text);
  if (!m) return false;
  for (let i = 0; i < 4; i++) {
    const v = Number(m[i + 1]);
    if (v > 255) return false;
    out[i] = v;
  }
  return true;
}

function parseV6(text: string, out: Uint8Array): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const words = (s: string): number[] | null => {
    if (s === "") return [];
    const parts = s.split(":");
    const w: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = new Uint8Array(4);
        if (!parseV4(p, v4)) return null;
        w.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        w.push(parseInt(p, 16));
      }
    }
    return w;
  };
  const left = words(halves[0]);
  const right = halves.length === 2 ? words(halves[1]) : [];
  if (!left || !right) return false;
  const n = left.length + right.length;
  if (halves.length === 1 ? n !== 8 : n > 7) return false;
  const all = [...left, ...new Array<number>(8 - n).fill(0), ...right];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >>> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return true;
}

/**
 * Parses `a.b.c.d:port` or `[v6]:port`, or returns null.
 *
 * @example
 * ```ts
 * import { parseEndpoint } from "./endpoint.ts";
 * parseEndpoint("192.0.2.1:7654"); // { family: 4, addr: [192,0,2,1], port: 7654 }
 * parseEndpoint("[2001:db8::1]:7654")?.family; // 6
 * ```
 */
export function parseEndpoint(text: string): WireEndpoint | null {
  let host: string, portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]:");
    if (close < 0) return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  if (text.startsWith("[")) {
    const addr = new Uint8Array(16);
    return parseV6(host, addr) ? { family: 6, addr, port } : null;
  }
  const addr = new Uint8Array(4);
  return parseV4(host, addr) ? { family: 4, addr, port } : null;
}

/**
 * Canonical text of an endpoint (RFC 5952: lower case, longest run of two
 * or more zero words compressed, first run on a tie).
 *
 * @example
 * ```ts
 * import { formatEndpoint } from "./endpoint.ts";
 * formatEndpoint({ family: 4, addr: new Uint8Array([192, 0, 2, 1]), port: 7654 }); // "192.0.2.1:7654"
 * ```
 */
export function formatEndpoint(ep: WireEndpoint): string {
  const a = ep.addr;
  if (ep.family === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}:${ep.port}`;
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((a[2 * i] << 8) | a[2 * i + 1]);
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] !== 0) continue;
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  const host = bestLen < 2 ? hex(w) : `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
  return `[${host}]:${ep.port}`;
}

/** The canonical form of endpoint text, or null when it is not an endpoint. */
export function canonicalEndpoint(text: string): string | null {
  const ep = parseEndpoint(text);
  return ep ? formatEndpoint(ep) : null;
}

/** Writes `ep` at `off`; returns the offset after it. The caller has checked room. */
export function writeEndpoint(buf: Uint8Array, off: number, ep: WireEndpoint): number {
  buf[off] = ep.family;
  buf[off + 1] = ep.port >>> 8;
  buf[off + 2] = ep.port & 0xff;
  buf.set(ep.addr.subarray(0, ep.family === 4 ? 4 : 16), off + 3);
  return off + endpointWireLength(ep.family);
}

/** Reads an endpoint at `off` within `buf[0..end)`, or null when truncated or of an unknown family. */
export function readEndpoint(
  buf: Uint8Array,
  off: number,
  end: number,
): { ep: WireEndpoint; next: number } | null {
  if (off + 3 > end) return null;
  const family = buf[off];
  if (family !== 4 && family !== 6) return null;
  const len = endpointWireLength(family);
  if (off + len > end) return null;
  const addr = buf.slice(off + 3, off + len);
  return { ep: { family, addr, port: (buf[off + 1] << 8) | buf[off + 2] }, next: off + len };
}
