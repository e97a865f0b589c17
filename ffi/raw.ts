/**
 * Raw IP sockets for one IP protocol number (L2TPv3 is 115, RFC 3931
 * section 4.1.1.2), with batched receive and send (see `dgram.ts`).
 *
 * IPv4: the kernel hands us the whole IP header; `rx.offsets[i]` is IHL*4,
 * the start of the protocol payload. Sends carry only the payload (no
 * IP_HDRINCL); the kernel builds the header, with the source address chosen
 * per packet through an IP_PKTINFO cmsg (`send(data, to, from)`), or fixed by
 * binding. Every received packet reports its destination address
 * (IP_PKTINFO), so one socket serves many local addresses.
 *
 * IPv6: the same API; the kernel strips the header (offset 0) and
 * IPV6_PKTINFO carries the addresses.
 *
 * Needs CAP_NET_RAW.
 *
 * The DF bit is set or cleared with `dontFragment` (IP_MTU_DISCOVER).
 *
 * Not done here: IP_HDRINCL, BPF
 * filters by session id.
 *
 * @module
 */
import { type Ip16, isV4, parseIp } from "../core/addr.ts";
import {
  type BatchOptions,
  bindSocket,
  DatagramSocket,
  openSocket,
  setDontFragment,
  setIntOpt,
} from "./dgram.ts";
import { C, closeQuietly } from "./libc.ts";

/** How to open a raw IP socket. */
export interface RawIpOptions extends BatchOptions {
  /** IP protocol number, 1..255 (115 for L2TPv3). */
  protocol: number;
  /** Address family, 4 (default) or 6. */
  family?: 4 | 6;
  /** Local address to bind to (fixes the source and filters the destination). */
  bind?: Ip16 | string;
  /** SO_RCVBUF / SO_SNDBUF in bytes (the kernel doubles them, capped at net.core.[rw]mem_max). */
  rcvbuf?: number;
  sndbuf?: number;
  /**
   * Don't Fragment on what this socket sends: true sets it (IP_PMTUDISC_DO),
   * false clears it (IP_PMTUDISC_DONT, as Cisco sends L2TPv3); absent: the
   * kernel default (Linux sets it, IP_PMTUDISC_WANT).
   */
  dontFragment?: boolean;
  /**
   * Set the buffers with SO_RCVBUFFORCE / SO_SNDBUFFORCE, which may exceed
   * net.core.[rw]mem_max (needs CAP_NET_ADMIN; without it the capped
   * setting is used).
   */
  forceBuffers?: boolean;
}

/** Sets a buffer size, forced past the sysctl cap when asked and allowed. */
function setBuffer(fd: number, force: boolean, which: "rcv" | "snd", bytes: number): void {
  const [plain, forced, name] = which === "rcv"
    ? [C.SO_RCVBUF, C.SO_RCVBUFFORCE, "SO_RCVBUF"]
    : [C.SO_SNDBUF, C.SO_SNDBUFFORCE, "SO_SNDBUF"];
  if (force) {
    try {
      setIntOpt(fd, C.SOL_SOCKET, forced, bytes, `${name}FORCE`);
      return;
    } catch {
      // No CAP_NET_ADMIN: the capped option below.
    }
  }
  setIntOpt(fd, C.SOL_SOCKET, plain, bytes, name);
}

/**
 * Opens a non-blocking raw socket for `protocol`. Throws `OsError` (fd
 * closed) on failure, EPERM without CAP_NET_RAW.
 *
 * @example
 * ```ts
 * import { openRawIp } from "./raw.ts";
 * if (Deno.uid() === 0) { // needs CAP_NET_RAW
 *   const s = openRawIp({ protocol: 115, bind: "127.0.0.1" });
 *   s.send(new Uint8Array([0, 0, 0, 0]), s.local); // to itself, over loopback
 *   const n = s.recv();
 *   // payload of packet i: s.rx.bufs[i].subarray(s.rx.offsets[i], s.rx.lens[i])
 *   s.close();
 *   if (n < 1) throw new Error("the packet sent to loopback did not come back");
 * }
 * ```
 */
export function openRawIp(opts: RawIpOptions): DatagramSocket {
  const proto = opts.protocol;
  if (!Number.isInteger(proto) || proto < 1 || proto > 255) {
    throw new RangeError(`protocol must be 1..255, got ${proto}`);
  }
  let bindIp: Ip16 | undefined;
  if (typeof opts.bind === "string") {
    const r = parseIp(opts.bind);
    if (!r.ok) throw new Error(`Cannot parse raw socket bind address: ${r.reason}`);
    bindIp = r.value;
  } else {
    bindIp = opts.bind;
  }
  const family: 4 | 6 = opts.family ?? (bindIp && !isV4(bindIp) ? 6 : 4);
  if (bindIp && isV4(bindIp) !== (family === 4)) {
    throw new Error(`Cannot open raw socket: bind address family does not match IPv${family}`);
  }
  const what = `raw IPv${family} protocol ${proto}`;
  const fd = openSocket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_RAW, proto, what);
  try {
    if (opts.rcvbuf) setBuffer(fd, opts.forceBuffers ?? false, "rcv", opts.rcvbuf);
    if (opts.sndbuf) setBuffer(fd, opts.forceBuffers ?? false, "snd", opts.sndbuf);
    if (family === 4) setIntOpt(fd, C.IPPROTO_IP, C.IP_PKTINFO, 1, "IP_PKTINFO");
    else setIntOpt(fd, C.IPPROTO_IPV6, C.IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
    if (opts.dontFragment !== undefined) setDontFragment(fd, family, opts.dontFragment);
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
  let local = { ip: new Uint8Array(16), port: 0 };
  if (family === 4) local.ip[10] = local.ip[11] = 0xff;
  if (bindIp) local = bindSocket(fd, family, bindIp, 0, what);
  try {
    return new DatagramSocket(
      fd,
      family,
      family === 4 ? "raw4" : "raw6",
      { ...local, port: 0 },
      opts,
    );
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}
