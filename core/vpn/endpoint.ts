/**
 * UDP endpoints as the VPN core names them: text `a.b.c.d:port` or
 * `[v6]:port` (RFC 5952 canonical form for IPv6, RFC 3986 brackets), and
 * their wire encoding inside REGISTER, REGISTER_ACK and PEER_INTRO:
 *
 * ```
 * family (1: 4 or 6) | port (2) | address (4 or 16)
 * ```
 *
 * The text is parsed and formatted by `core/addr.ts` only (the one address
 * parser); this file adds the wire form and its conversion to and from
 * `core/addr.ts` `Endpoint` values, which is what the cores and the daemons
 * pass (interned as `KeyedEndpoint` by `EndpointTable`). Text is for logs,
 * /status and the endpoint lists inside control messages. An IPv4-mapped
 * IPv6 address (`[::ffff:192.0.2.1]:5`) is the IPv4 endpoint `192.0.2.1:5`,
 * on the wire too (family 4).
 *
 * Not done: zone ids (`fe80::1%eth0`), host names.
 *
 * @module
 */
import {
  type Endpoint,
  formatEndpoint as formatAddrEndpoint,
  isV4,
  parseEndpoint as parseAddrEndpoint,
} from "../addr.ts";

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

/**
 * Parses `a.b.c.d:port` or `[v6]:port` with `core/addr.ts`, or returns null.
 * An IPv4-mapped IPv6 address is IPv4 (family 4), as everywhere.
 *
 * @example
 * ```ts
 * import { parseEndpoint } from "./endpoint.ts";
 * parseEndpoint("192.0.2.1:7654"); // { family: 4, addr: [192,0,2,1], port: 7654 }
 * parseEndpoint("[2001:db8::1]:7654")?.family; // 6
 * ```
 */
export function parseEndpoint(text: string): WireEndpoint | null {
  const r = parseAddrEndpoint(text);
  return r.ok ? fromEndpoint(r.value) : null;
}

/** The wire form of an endpoint: family 4 with 4 bytes when IPv4(-mapped), else 6 with 16. */
export function fromEndpoint(ep: Endpoint): WireEndpoint {
  const ip = ep.ip;
  return isV4(ip)
    ? { family: 4, addr: ip.slice(12, 16), port: ep.port }
    : { family: 6, addr: ip.slice(0, 16), port: ep.port };
}

/** The `core/addr.ts` value of a wire endpoint. */
export function toEndpoint(ep: WireEndpoint): Endpoint {
  const ip = new Uint8Array(16);
  if (ep.family === 4) {
    ip[10] = ip[11] = 0xff;
    ip.set(ep.addr.subarray(0, 4), 12);
  } else ip.set(ep.addr.subarray(0, 16));
  return { ip, port: ep.port };
}

/**
 * Canonical text of an endpoint (`core/addr.ts` `formatEndpoint`: RFC 5952,
 * IPv6 in brackets, IPv4-mapped as IPv4).
 *
 * @example
 * ```ts
 * import { formatEndpoint } from "./endpoint.ts";
 * formatEndpoint({ family: 4, addr: new Uint8Array([192, 0, 2, 1]), port: 7654 }); // "192.0.2.1:7654"
 * ```
 */
export function formatEndpoint(ep: WireEndpoint): string {
  return formatAddrEndpoint(toEndpoint(ep));
}

/** The canonical form of endpoint text, or null when it is not an endpoint. */
export function canonicalEndpoint(text: string): string | null {
  const r = parseAddrEndpoint(text);
  return r.ok ? formatAddrEndpoint(r.value) : null;
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
