/**
 * UDP sockets, IPv4 and IPv6, with batched receive and send
 * (recvmmsg/sendmmsg into preallocated slots, see `dgram.ts`).
 *
 * Binding to an IPv4 address makes an AF_INET socket. Binding to an IPv6
 * address makes an AF_INET6 socket; with `v6Only: false` (the default) it is
 * dual-stack (IPV6_V6ONLY=0, RFC 3493 section 5.3) and IPv4 peers appear as
 * ::ffff:a.b.c.d. Every socket reports the destination address of each
 * datagram (IP_PKTINFO / IPV6_RECVPKTINFO) so a reply can leave from the
 * address the peer used. UDP GSO on send (`udpGso`) and GRO on receive
 * (`udpGro`) are options of the batch (`dgram.ts`).
 *
 * Not done here: multicast membership, connected sockets.
 *
 * @module
 */
import { type Endpoint, formatEndpoint, isV4, parseEndpoint } from "../core/addr.ts";
import {
  type BatchOptions,
  bindSocket,
  DatagramSocket,
  openSocket,
  setDontFragment,
  setIntOpt,
} from "./dgram.ts";
import { C, closeQuietly } from "./libc.ts";

export { DatagramSocket };

/** How to open a UDP socket. */
export interface UdpOptions extends BatchOptions {
  /** Local address and port: an Endpoint or text "0.0.0.0:4789", "[::]:4789". Port 0 picks one. */
  bind: Endpoint | string;
  /** For IPv6 binds: refuse IPv4-mapped traffic (IPV6_V6ONLY=1). Default false (dual-stack). */
  v6Only?: boolean;
  /** SO_REUSEADDR. Default false. */
  reuseAddr?: boolean;
  /** SO_RCVBUF / SO_SNDBUF in bytes (the kernel doubles and caps them). */
  rcvbuf?: number;
  sndbuf?: number;
  /**
   * Don't Fragment on what this socket sends: true sets it (IP_PMTUDISC_DO),
   * false clears it (IP_PMTUDISC_DONT, as Cisco sends L2TPv3); absent: the
   * kernel default (Linux sets it, IP_PMTUDISC_WANT).
   */
  dontFragment?: boolean;
}

/**
 * Opens, configures and binds a non-blocking UDP socket. Throws `OsError`
 * (with the fd already closed) when any step fails.
 *
 * @example
 * ```ts
 * import { openUdp } from "./udp.ts";
 * const s = openUdp({ bind: "127.0.0.1:0" });
 * s.send(new Uint8Array([1, 2, 3]), s.local);
 * const n = s.recv(); // 1; s.rx.bufs[0].subarray(0, s.rx.lens[0]) is [1, 2, 3]
 * s.close();
 * if (n !== 1 || s.rx.lens[0] !== 3) throw new Error(`got ${n} datagrams`);
 * ```
 */
export function openUdp(opts: UdpOptions): DatagramSocket {
  let ep: Endpoint;
  if (typeof opts.bind === "string") {
    const r = parseEndpoint(opts.bind);
    if (!r.ok) throw new Error(`Cannot parse UDP bind address: ${r.reason}`);
    ep = r.value;
  } else {
    ep = opts.bind;
  }
  const family: 4 | 6 = isV4(ep.ip) ? 4 : 6;
  const what = `UDP ${formatEndpoint(ep)}`;
  const fd = openSocket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_DGRAM, 0, what);
  try {
    if (opts.reuseAddr) setIntOpt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1, "SO_REUSEADDR");
    if (opts.rcvbuf) setIntOpt(fd, C.SOL_SOCKET, C.SO_RCVBUF, opts.rcvbuf, "SO_RCVBUF");
    if (opts.sndbuf) setIntOpt(fd, C.SOL_SOCKET, C.SO_SNDBUF, opts.sndbuf, "SO_SNDBUF");
    if (opts.dontFragment !== undefined) setDontFragment(fd, family, opts.dontFragment);
    if (family === 4) {
      setIntOpt(fd, C.IPPROTO_IP, C.IP_PKTINFO, 1, "IP_PKTINFO");
    } else {
      setIntOpt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, opts.v6Only ? 1 : 0, "IPV6_V6ONLY");
      setIntOpt(fd, C.IPPROTO_IPV6, C.IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
      // IPv4 datagrams on a dual-stack socket then carry both IPV6_PKTINFO (the
      // address as ::ffff:a.b.c.d) and IP_PKTINFO; dgram.ts sizes its control buffer for both.
      if (!opts.v6Only) setIntOpt(fd, C.IPPROTO_IP, C.IP_PKTINFO, 1, "IP_PKTINFO");
    }
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
  const local = bindSocket(fd, family, ep.ip, ep.port, what);
  try {
    return new DatagramSocket(fd, family, "udp", local, opts);
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}
