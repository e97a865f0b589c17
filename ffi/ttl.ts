/**
 * One datagram with its own TTL (IPv4) / hop limit (IPv6): the VPN's hole
 * punching opens its NAT mapping with a probe that expires before it
 * reaches the peer's NAT (core/vpn/node.ts `punchTtl`).
 *
 * The socket's unicast TTL is set, the datagram sent, and the default
 * restored (-1: the kernel's `ip_default_ttl` / the route's hop limit). A
 * dual-stack socket sends IPv4-mapped destinations with IP_TTL, so both
 * options are set where they apply. Rare (the first punch round to a peer),
 * so three system calls more do not matter.
 *
 * @module
 */
import { C } from "./libc.ts";
import { setIntOpt } from "./dgram.ts";
import type { Endpoint } from "../core/addr.ts";
import type { DatagramTransport } from "./types.ts";

/**
 * Sends `data` to `to` now with hop limit `ttl` (1..255). 0 on success, else
 * the transient errno of the send; an in-memory transport (fd -1) just sends.
 */
export function sendWithTtl(
  t: DatagramTransport,
  data: Uint8Array,
  to: Endpoint,
  ttl: number,
): number {
  if (t.fd < 0) return t.send(data, to);
  const v4 = setHops(t.fd, C.IPPROTO_IP, C.IP_TTL, ttl);
  const v6 = setHops(t.fd, C.IPPROTO_IPV6, C.IPV6_UNICAST_HOPS, ttl);
  try {
    return t.send(data, to);
  } finally {
    if (v4) setHops(t.fd, C.IPPROTO_IP, C.IP_TTL, -1);
    if (v6) setHops(t.fd, C.IPPROTO_IPV6, C.IPV6_UNICAST_HOPS, -1);
  }
}

/** Sets one hop option; false when the socket's family has no such option. */
function setHops(fd: number, level: number, name: number, value: number): boolean {
  try {
    setIntOpt(fd, level, name, value, name === C.IP_TTL ? "IP_TTL" : "IPV6_UNICAST_HOPS");
    return true;
  } catch {
    return false;
  }
}
