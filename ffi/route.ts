/**
 * The source address the kernel would choose towards a destination: a UDP
 * socket is `connect()`ed (a route lookup; nothing is sent) and asked with
 * `getsockname()`. The LAS uses it once per session to find out whether it
 * must pin the source of its data packets with IP_PKTINFO (a multi-homed
 * host where the peer called another address) or can leave it to the
 * kernel, which costs less per packet.
 *
 * @module
 */
import { type Ip16, isV4 } from "../core/addr.ts";
import { readSockaddr, sockaddrLen, writeSockaddr } from "./addr.ts";
import { C, cbuf, closeQuietly, libc } from "./libc.ts";

/** The kernel's source address for packets to `dest`, or null when there is no route. */
export function sourceFor(dest: Ip16): Ip16 | null {
  const family: 4 | 6 = isV4(dest) ? 4 : 6;
  const fd = libc.socket(
    family === 4 ? C.AF_INET : C.AF_INET6,
    C.SOCK_DGRAM | C.SOCK_CLOEXEC,
    0,
  );
  if (fd < 0) return null;
  try {
    const sa = cbuf(32);
    const len = writeSockaddr(sa, 0, family, dest, 9);
    if (libc.connect(fd, sa, len) < 0) return null;
    const out = cbuf(32);
    const outLen = new Uint32Array([sockaddrLen(family)]);
    if (libc.getsockname(fd, out, new Uint8Array(outLen.buffer)) < 0) return null;
    const ip = new Uint8Array(16);
    return readSockaddr(out, 0, ip) < 0 ? null : ip;
  } finally {
    closeQuietly(fd);
  }
}
