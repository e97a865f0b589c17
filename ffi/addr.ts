/**
 * Socket addresses: the `core/addr.ts` value (`Ip16` and a port) to and from
 * the kernel's sockaddr_in / sockaddr_in6 bytes. Nothing else: address text
 * is parsed and formatted in `core/addr.ts` only.
 *
 * This file is pure: no Deno calls, no FFI.
 *
 * Not done here: the IPv6 scope id (written as 0, ignored when read).
 *
 * @module
 */
import type { Ip16 } from "../core/addr.ts";

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
