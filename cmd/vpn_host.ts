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
  type Prefix,
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

/**
 * The node's local endpoints for punching: the socket's port on every
 * non-loopback, non-link-local address of the host (at most 4; read once
 * at start), of the family the socket is bound to, except the VPN's own
 * addresses: those of the TAP and of the bridge the TAP is a port of
 * (`/sys/class/net/TAP/master`), and any address inside their prefixes or
 * the TAP's configured ones (a peer reaching such an address would be
 * sending the VPN through itself).
 */
export function localEndpoints(
  tap: string,
  prefixes: readonly Cidr[],
  bound: Ip16,
  port: number,
): Endpoint[] {
  let ifs: Deno.NetworkInterfaceInfo[] = [];
  try {
    ifs = Deno.networkInterfaces();
  } catch { /* none */ }
  let master: string | null = null;
  try {
    const l = Deno.readLinkSync(`/sys/class/net/${tap}/master`);
    master = l.slice(l.lastIndexOf("/") + 1) || null;
  } catch { /* not a bridge port */ }
  return pickLocalEndpoints(ifs, { tap, master, prefixes, bound, port });
}

/** `localEndpoints` on a given list of interfaces (tests give their own). */
export function pickLocalEndpoints(
  ifs: readonly Pick<Deno.NetworkInterfaceInfo, "name" | "address" | "cidr">[],
  o: {
    tap: string;
    master: string | null;
    prefixes: readonly Cidr[];
    bound: Ip16;
    port: number;
  },
): Endpoint[] {
  const { bound, port } = o;
  const own = (n: string) => n === o.tap || (o.master !== null && n === o.master);
  // The VPN's prefixes: configured, and those of every address on the TAP or its bridge.
  const vpn: Prefix[] = [];
  for (const p of o.prefixes) {
    const b = parsePrefix(`${p.address}/${p.prefix}`);
    if (b.ok) vpn.push(b.value);
  }
  for (const i of ifs) {
    if (!own(i.name)) continue;
    const b = parsePrefix(i.cidr);
    if (b.ok) vpn.push(b.value);
  }
  const out: Endpoint[] = [];
  const dual = !isV4(bound) && isUnspecified(bound);
  for (const i of ifs) {
    if (out.length >= 4) break;
    if (own(i.name) || i.name === "lo") continue;
    const r = parseIp(i.address);
    if (!r.ok) continue;
    const a = r.value;
    if (isLoopback(a) || isLinkLocalV6(a)) continue;
    if (vpn.some((p) => prefixContains(p, a))) continue;
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
