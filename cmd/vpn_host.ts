/**
 * What the VPN daemons ask of the host besides their sockets and TAP:
 * resolving the supernode's name, the node's local addresses for hole
 * punching, addresses on the TAP (`ip addr`), the TAP's MAC from the node
 * identity, and random numbers for the cores.
 *
 * @module
 */
import type { Cidr } from "./kit/config.ts";
import type { TopicLogger } from "./kit/log.ts";
import { openTap, type TapDevice } from "../ffi/tap.ts";
import { Arena, E, OsError } from "../ffi/libc.ts";
import { DATA_HEADROOM, DATA_TAILROOM } from "../core/vpn/messages.ts";
import { segmentBytes } from "../core/vpn/node_engine.ts";
import type { MacKey } from "../core/mac.ts";
import {
  type Endpoint,
  type Ip16,
  ipEquals,
  isLoopback,
  isUnspecified,
  isV4,
  parseIp,
  parsePrefix,
  prefixContains,
} from "../core/addr.ts";

/** Uniform random numbers in [0, 1) from the system CSPRNG (for the cores). */
export function cryptoRandom(): number {
  const w = new Uint32Array(1);
  crypto.getRandomValues(w);
  return w[0] / 0x1_0000_0000;
}

/** Resolves the supernode host (an IP address, or a name: A first, then AAAA). */
export async function resolveSupernode(host: string): Promise<Ip16> {
  const ip = parseIp(host);
  if (ip.ok) return ip.value;
  for (const type of ["A", "AAAA"] as const) {
    try {
      const r = await Deno.resolveDns(host, type);
      if (r.length) {
        const p = parseIp(r[0]);
        if (p.ok) return p.value;
      }
    } catch { /* try the next type */ }
  }
  throw new Error(`Cannot resolve supernode ${host}: no A or AAAA record`);
}

function inPrefix(a: Ip16, p: Cidr): boolean {
  const b = parsePrefix(`${p.address}/${p.prefix}`);
  return b.ok && prefixContains(b.value, a);
}

/**
 * The node's local endpoints for punching: the socket's port on every
 * non-loopback, non-link-local address of the host, except addresses of the
 * TAP and addresses inside the TAP's configured prefixes (at most 4; read
 * once at start), of the family the socket is bound to.
 */
export function localEndpoints(
  tap: string,
  prefixes: readonly Cidr[],
  bound: Ip16,
  port: number,
): Endpoint[] {
  const out: Endpoint[] = [];
  const dual = !isV4(bound) && isUnspecified(bound);
  let ifs: Deno.NetworkInterfaceInfo[] = [];
  try {
    ifs = Deno.networkInterfaces();
  } catch { /* none */ }
  for (const i of ifs) {
    if (out.length >= 4) break;
    if (i.name === tap || i.name === "lo") continue;
    const r = parseIp(i.address);
    if (!r.ok) continue;
    const a = r.value;
    if (isLoopback(a) || isLinkLocalV6(a)) continue;
    if (prefixes.some((p) => inPrefix(a, p))) continue;
    if (isV4(bound)) {
      if (!isV4(a) || (!isUnspecified(bound) && !ipEquals(bound, a))) continue;
    } else if (!dual && !ipEquals(bound, a)) continue;
    out.push({ ip: a, port });
  }
  return out;
}

/** fe80::/10. */
function isLinkLocalV6(a: Ip16): boolean {
  return a[0] === 0xfe && (a[1] & 0xc0) === 0x80;
}

/** A locally administered unicast MAC from the identity, stable across restarts. */
export function tapMacFrom(identity: Uint8Array): MacKey {
  let mac = ((identity[0] & 0xfc) | 0x02) * 0x100_0000_0000;
  for (let i = 1; i < 6; i++) mac += identity[i] * 2 ** (8 * (5 - i));
  return mac;
}

/** Puts `addrs` on the TAP (`ip addr replace`). */
export async function addAddresses(tap: string, addrs: readonly Cidr[]): Promise<void> {
  for (const a of addrs) {
    const text = `${a.address}/${a.prefix}`;
    const out = await new Deno.Command("ip", {
      args: ["addr", "replace", text, "dev", tap],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `Cannot add ${text} to ${tap}: ip addr: ${new TextDecoder().decode(out.stderr).trim()}`,
      );
    }
  }
}

/**
 * Opens the node's TAP (up, batch 64, with room around each frame read for
 * the VPN header and tag: sealed and sent where it lies): with `offload`,
 * with a vnet header and TSO; when the kernel refuses those (not for lack of
 * permission or a busy name), without them, and says so.
 */
export function openNodeTap(
  o: { name: string; mtu: number; mac: MacKey },
  offload: boolean,
  log: TopicLogger,
): TapDevice {
  const room = { headroom: DATA_HEADROOM, tailroom: DATA_TAILROOM };
  const opts = { ...o, up: true, batch: 64, ...room };
  try {
    return openTap({ ...opts, vnetHdr: offload });
  } catch (e) {
    if (!offload || !(e instanceof OsError) || e.errno === E.EPERM || e.errno === E.EBUSY) {
      throw e;
    }
    log.warn(`TAP offloads not available (${e.message}): running without them`);
    return openTap(opts);
  }
}

/**
 * Slots for TSO segments sealed in place between two sends (a 64 KiB
 * super-frame of 1448-byte segments is 46 of them; more are copied the usual
 * way): one `Arena` (to lend to the socket) with the same room around each
 * slot as the TAP's.
 */
export function segmentArena(mtu: number, count = 64): { arena: Arena; slots: Uint8Array[] } {
  const len = segmentBytes(mtu);
  const stride = DATA_HEADROOM + len + DATA_TAILROOM;
  const arena = new Arena(stride * count);
  const slots: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * stride + DATA_HEADROOM;
    slots.push(arena.u8.subarray(at, at + len));
  }
  return { arena, slots };
}
