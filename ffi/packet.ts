/**
 * An existing Ethernet interface as a `FrameDevice`, through a packet socket
 * (AF_PACKET, SOCK_RAW): `l2 xconnect --interface IF` carries the frames of
 * a real port the way Cisco's `xconnect` on an interface does.
 *
 * - The socket is opened with protocol 0 (it receives nothing) and then
 *   bound to the interface with ETH_P_ALL, so no frame of another interface
 *   is ever read.
 * - The interface is put in promiscuous mode by a packet membership
 *   (PACKET_MR_PROMISC): the kernel drops it when the socket closes, also
 *   when the process dies, and counts memberships, so it never clears a
 *   promiscuous mode somebody else set.
 * - PACKET_IGNORE_OUTGOING: frames the host sends out of the interface
 *   (ours included) are not read back; only what arrives from the wire is.
 * - GRO and LRO merge TCP segments into frames larger than the MTU before a
 *   packet socket sees them, and such frames cannot cross a pseudowire.
 *   `gro: "off"` (the default) turns both off on the interface while the
 *   device is open (SIOCETHTOOL) and restores them on `close()`; frames that
 *   are still larger than the MTU allows are dropped and counted (`oversize`).
 *
 * Reads are one `read()` per frame until EAGAIN, as for a TAP; writes are
 * one `write()` (the bound interface; the kernel takes the protocol from
 * the Ethernet header).
 *
 * Not done: VLAN tags the driver strips into metadata (rx-vlan-offload) are
 * not put back (PACKET_AUXDATA); turn rx-vlan-offload off to carry tagged
 * frames. Link state changes (the interface going down) are not reported.
 *
 * @module
 */
import { C, closeQuietly, cstr, E, errno, errnoName, libc, OsError, size } from "./libc.ts";
import { getMtu, ifIndex, isLinkUp } from "./tap.ts";
import type { FrameBatch, FrameDevice } from "./types.ts";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_ALL = 0x0003;
const SOL_PACKET = 263;
const PACKET_ADD_MEMBERSHIP = 1;
const PACKET_MR_PROMISC = 1;
const PACKET_IGNORE_OUTGOING = 23;
const SIOCETHTOOL = 0x8946;
const ETHTOOL_GFLAGS = 0x25;
const ETHTOOL_SFLAGS = 0x26;
const ETHTOOL_GGRO = 0x2b;
const ETHTOOL_SGRO = 0x2c;
const ETH_FLAG_LRO = 1 << 15;
/** Largest frame a slot takes: a GRO super-frame is read whole, then counted and dropped. */
const SLOT = 65_536;

/** Options of `openPacket`. */
export interface PacketOptions {
  /** The interface (must exist). */
  name: string;
  /** Frames per `read()` batch (default 32, at most 256). */
  batch?: number;
  /** "off" (default): turn GRO and LRO off while open; "leave": do not touch them. */
  gro?: "off" | "leave";
}

/** What `openPacket` changed on the interface (restored at close). */
export interface OffloadChange {
  gro: boolean;
  lro: boolean;
}

/**
 * Opens interface `name` as a frame device. Throws `OsError` (fd closed)
 * when the interface does not exist (ENODEV) or without CAP_NET_RAW (EPERM).
 *
 * @example
 * ```ts
 * import { openPacket } from "./packet.ts";
 * import { inNetns } from "./netns.ts";
 * if (Deno.uid() === 0) { // needs CAP_NET_RAW; a namespace of its own, as GRO is turned off
 *   const ns = `l2doc-packet-${Deno.pid}`;
 *   new Deno.Command("ip", { args: ["netns", "add", ns] }).outputSync();
 *   try {
 *     const dev = inNetns(ns, () => openPacket({ name: "lo" })); // e.g. "eth1"
 *     const n = dev.read(); // frames from the wire in dev.rx
 *     dev.close();
 *     if (n !== 0) throw new Error(`${n} frames on a loopback that is down`);
 *   } finally {
 *     new Deno.Command("ip", { args: ["netns", "del", ns] }).outputSync();
 *   }
 * }
 * ```
 */
export function openPacket(opts: PacketOptions): PacketDevice {
  const batch = opts.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1 || batch > 256) {
    throw new RangeError(`batch must be 1..256, got ${batch}`);
  }
  const index = ifIndex(opts.name);
  const fd = libc.socket(AF_PACKET, SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new OsError(`socket(AF_PACKET) for ${opts.name}`, errno());
  let changed: OffloadChange = { gro: false, lro: false };
  try {
    const sll = new Uint8Array(20);
    const v = new DataView(sll.buffer);
    v.setUint16(0, AF_PACKET, true);
    v.setUint16(2, ETH_P_ALL, false); // network order
    v.setInt32(4, index, true);
    if (libc.bind(fd, sll, sll.length) < 0) {
      throw new OsError(`bind(AF_PACKET) to ${opts.name}`, errno());
    }
    const mreq = new Uint8Array(16);
    const m = new DataView(mreq.buffer);
    m.setInt32(0, index, true);
    m.setUint16(4, PACKET_MR_PROMISC, true);
    if (libc.setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq, mreq.length) < 0) {
      throw new OsError(`setsockopt(PACKET_ADD_MEMBERSHIP) on ${opts.name}`, errno());
    }
    const one = new Uint8Array(4);
    new DataView(one.buffer).setInt32(0, 1, true);
    if (libc.setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, one, 4) < 0) {
      throw new OsError(`setsockopt(PACKET_IGNORE_OUTGOING) on ${opts.name}`, errno());
    }
    if ((opts.gro ?? "off") === "off") changed = offloadsOff(fd, opts.name);
    return new PacketDevice(fd, opts.name, getMtu(opts.name), batch, changed);
  } catch (e) {
    restoreOffloads(fd, opts.name, changed);
    closeQuietly(fd);
    throw e;
  }
}

/** ethtool get/set of one 32-bit value; null when the driver does not support it. */
function ethtool(fd: number, name: string, cmd: number, data = 0): number | null {
  const ev = new Uint8Array(8);
  const d = new DataView(ev.buffer);
  d.setUint32(0, cmd, true);
  d.setUint32(4, data, true);
  const ifr = new Uint8Array(40);
  ifr.set(cstr(name).subarray(0, 15));
  // ifr_data: a pointer to `ev`, which stays alive across this synchronous call.
  const ptr = Deno.UnsafePointer.value(Deno.UnsafePointer.of(ev));
  new DataView(ifr.buffer).setBigUint64(16, BigInt(ptr), true);
  if (libc.ioctl(fd, BigInt(SIOCETHTOOL), ifr) < 0) {
    const e = errno();
    if (e === E.EOPNOTSUPP || e === E.EINVAL || e === E.ENODEV) return null;
    throw new OsError(`ioctl(SIOCETHTOOL ${cmd.toString(16)}) on ${name}`, e);
  }
  return d.getUint32(4, true);
}

function offloadsOff(fd: number, name: string): OffloadChange {
  const out = { gro: false, lro: false };
  if (ethtool(fd, name, ETHTOOL_GGRO) === 1) {
    ethtool(fd, name, ETHTOOL_SGRO, 0);
    out.gro = ethtool(fd, name, ETHTOOL_GGRO) === 0;
  }
  const flags = ethtool(fd, name, ETHTOOL_GFLAGS);
  if (flags !== null && (flags & ETH_FLAG_LRO) !== 0) {
    ethtool(fd, name, ETHTOOL_SFLAGS, flags & ~ETH_FLAG_LRO);
    out.lro = ((ethtool(fd, name, ETHTOOL_GFLAGS) ?? ETH_FLAG_LRO) & ETH_FLAG_LRO) === 0;
  }
  return out;
}

function restoreOffloads(fd: number, name: string, c: OffloadChange): void {
  try {
    if (c.gro) ethtool(fd, name, ETHTOOL_SGRO, 1);
    if (c.lro) {
      const flags = ethtool(fd, name, ETHTOOL_GFLAGS);
      if (flags !== null) ethtool(fd, name, ETHTOOL_SFLAGS, flags | ETH_FLAG_LRO);
    }
  } catch {
    // The interface may be gone; nothing to restore then.
  }
}

/** An interface opened by `openPacket`. */
export class PacketDevice implements FrameDevice {
  /** The packet socket; -1 after close. */
  fd: number;
  readonly name: string;
  readonly mode = "tap" as const;
  /** The interface's MTU at open. */
  readonly mtu: number;
  readonly rx: FrameBatch;
  /** Offloads turned off at open (restored at close). */
  readonly offloads: OffloadChange;
  /** Frames read that were larger than the MTU allows (GRO/LRO still on): dropped. */
  oversize = 0;
  /** Frames dropped on write, by errno name. */
  readonly txDropped: Map<string, number> = new Map();
  readonly #maxFrame: number;

  /** Takes ownership of `fd`, a bound packet socket. */
  constructor(fd: number, name: string, mtu: number, batch: number, offloads: OffloadChange) {
    this.fd = fd;
    this.name = name;
    this.mtu = mtu;
    this.offloads = offloads;
    // Ethernet header, two VLAN tags.
    this.#maxFrame = mtu + 22;
    const mem = new ArrayBuffer(SLOT * batch);
    this.rx = {
      capacity: batch,
      count: 0,
      bufs: Array.from({ length: batch }, (_, i) => new Uint8Array(mem, i * SLOT, SLOT)),
      lens: new Int32Array(batch),
    };
  }

  /** True while the interface is administratively up. */
  up(): boolean {
    return isLinkUp(this.name);
  }

  /** Reads up to `rx.capacity` frames (one read() each) until EAGAIN; returns how many. */
  read(): number {
    const rx = this.rx;
    let n = 0;
    rx.count = 0;
    // Bounded: at most capacity frames plus as many oversize ones.
    for (let tries = 0; n < rx.capacity && tries < 2 * rx.capacity; tries++) {
      const r = libc.read(this.fd, rx.bufs[n], size(SLOT));
      if (r < 0) {
        const e = errno();
        if (e === E.EAGAIN || e === E.EINTR) break;
        if (e === E.ENETDOWN) break; // the interface went down: nothing to read
        throw new OsError(`read(packet ${this.name})`, e);
      }
      if (r === 0) break;
      if (r > this.#maxFrame) {
        this.oversize++;
        continue;
      }
      rx.lens[n++] = r;
    }
    rx.count = n;
    return n;
  }

  write(frame: Uint8Array): number {
    const r = libc.write(this.fd, frame, size(frame.length));
    if (r >= 0) return 0;
    const e = errno();
    if (e === E.EBADF || e === E.EFAULT) throw new OsError(`write(packet ${this.name})`, e);
    const k = errnoName(e);
    this.txDropped.set(k, (this.txDropped.get(k) ?? 0) + 1);
    return e;
  }

  /** Closes the socket (the promiscuous membership goes with it) and restores offloads. */
  close(): void {
    if (this.fd >= 0) {
      restoreOffloads(this.fd, this.name, this.offloads);
      closeQuietly(this.fd);
      this.fd = -1;
    }
  }
}
