/**
 * TAP and TUN devices through `/dev/net/tun` (Linux
 * Documentation/networking/tuntap.rst), and interface settings (MTU, MAC,
 * up/down) through ioctls on an AF_INET datagram socket, the way `ifconfig`
 * does it: no `ip` subprocess.
 *
 * A TAP device carries Ethernet frames, a TUN device IP packets; both open
 * with IFF_NO_PI (no 4-byte packet-information prefix) and non-blocking, and
 * both implement `FrameDevice`. `TUNSETIFF` with the name of an existing
 * persistent device attaches to it; with IFF_MULTI_QUEUE each open adds one
 * queue (one fd) to the same device.
 *
 * struct ifreq (40 bytes on x86-64): ifr_name[16] at 0, then a union at 16:
 * ifr_flags (short), ifr_mtu (int), ifr_hwaddr (struct sockaddr: family u16
 * at 16, sa_data at 18).
 *
 * With `vnetHdr` (TAP only) the device opens with IFF_VNET_HDR, a 10-byte
 * `virtio_net_hdr` (core/gso.ts) before every frame (TUNSETVNETHDRSZ), and
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6): the kernel then hands
 * over TCP frames up to 64 KiB with partial checksums, to be cut and
 * completed in user space (`segmentTcp`, `offloadFrame`). Reads return header
 * and frame (`rx.bufs[i]` starts with the header); `write()` puts a zero
 * header ("no offload") before the frame itself, `writeVnet()` writes a
 * header of the caller's (a coalesced TCP frame, `TcpCoalescer`).
 *
 * With `headroom`/`tailroom`, each receive slot has that many free bytes
 * before and after it (`rx.headroom`, `rx.tailroom`): a reader can build a
 * packet around a frame where it lies (the VPN node writes its header
 * before the frame and the AEAD tag after it, and seals in place). The
 * slots live in an `Arena` (`memory`), whose address never changes, so a
 * socket can send such a packet without copying it (`DatagramSocket.lend`,
 * `queueView`).
 *
 * Not done here: TUNSETOWNER/GROUP, queue enable/disable (TUNSETQUEUE),
 * TUNSETSNDBUF, UDP offloads.
 *
 * @module
 */
import { formatMac, macAt, type MacKey, writeMac } from "../core/mac.ts";
import {
  Arena,
  C,
  cbuf,
  closeQuietly,
  cstr,
  E,
  errno,
  errnoName,
  libc,
  OsError,
  size,
} from "./libc.ts";
import type { FrameBatch, FrameDevice } from "./types.ts";

/** linux/if_tun.h: IFF_VNET_HDR, TUNSETOFFLOAD, TUNSETVNETHDRSZ and the offload bits. */
const IFF_VNET_HDR = 0x4000;
const TUNSETOFFLOAD = 0x400454d0; // _IOW('T', 208, unsigned int)
const TUNSETVNETHDRSZ = 0x400454d8; // _IOW('T', 216, int)
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
/** Bytes of the virtio_net_hdr with `vnetHdr` (core/gso.ts VNET_HDR_LEN). */
const VNET_HDR_SIZE = 10;
/** Largest frame a TSO TAP hands over: 64 KiB of IP plus Ethernet and a tag, rounded up. */
const GSO_SLOT = 65_536 + 1024;

/** How to open a TAP or TUN device. */
export interface TapOptions {
  /** Interface name (up to 15 bytes); "" or absent lets the kernel pick (tap%d / tun%d). */
  name?: string;
  /** "tap" (Ethernet frames, default) or "tun" (IP packets). */
  mode?: "tap" | "tun";
  /** Keep the device when the fd closes (TUNSETPERSIST). */
  persist?: boolean;
  /** IFF_MULTI_QUEUE: each open of the same name adds a queue. */
  multiQueue?: boolean;
  /** MTU to set (SIOCSIFMTU). Default: leave the kernel's (1500). */
  mtu?: number;
  /** MAC address to set (TAP only, SIOCSIFHWADDR). */
  mac?: MacKey;
  /** Bring the link up (SIOCSIFFLAGS). Default true. */
  up?: boolean;
  /** Frames per `read()` batch (default 64, at most 1024). */
  batch?: number;
  /**
   * TAP only: IFF_VNET_HDR with checksum and TSO offloads (see the module
   * doc). Default false.
   */
  vnetHdr?: boolean;
  /** Free bytes before each receive slot (module doc). Default 0, at most 256. */
  headroom?: number;
  /** Free bytes after each receive slot (module doc). Default 0, at most 256. */
  tailroom?: number;
}

function ifreq(name: string): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  if (nameBytes.length >= C.IFNAMSIZ) {
    throw new Error(`Cannot use interface name "${name}": longer than 15 bytes`);
  }
  const r = cbuf(40);
  r.set(nameBytes);
  return r;
}

function readName(r: Uint8Array): string {
  const end = r.indexOf(0);
  return new TextDecoder().decode(r.subarray(0, end < 0 ? 16 : Math.min(end, 16)));
}

/** Runs `fn` with a throwaway AF_INET datagram socket for interface ioctls. */
function withCtlSocket<T>(fn: (fd: number) => T): T {
  const fd = libc.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new OsError("socket(AF_INET, SOCK_DGRAM) for interface ioctls", errno());
  try {
    return fn(fd);
  } finally {
    closeQuietly(fd);
  }
}

function ifIoctl(fd: number, req: number, r: Uint8Array, what: string, name: string): void {
  if (libc.ioctl(fd, BigInt(req), r) < 0) throw new OsError(`ioctl(${what}) on ${name}`, errno());
}

/** Sets the MTU of interface `name` (in this thread's network namespace). */
export function setMtu(name: string, mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new RangeError(`MTU must be 68..65535, got ${mtu}`);
  }
  const r = ifreq(name);
  new DataView(r.buffer, r.byteOffset).setInt32(16, mtu, true);
  withCtlSocket((fd) => ifIoctl(fd, C.SIOCSIFMTU, r, "SIOCSIFMTU", name));
}

/** Reads the MTU of interface `name`. */
export function getMtu(name: string): number {
  const r = ifreq(name);
  withCtlSocket((fd) => ifIoctl(fd, C.SIOCGIFMTU, r, "SIOCGIFMTU", name));
  return new DataView(r.buffer, r.byteOffset).getInt32(16, true);
}

/** Sets the Ethernet address of interface `name`. */
export function setMac(name: string, mac: MacKey): void {
  const r = ifreq(name);
  r[16] = C.ARPHRD_ETHER; // sa_family, little-endian u16
  writeMac(r, 18, mac);
  withCtlSocket((fd) => ifIoctl(fd, C.SIOCSIFHWADDR, r, `SIOCSIFHWADDR ${formatMac(mac)}`, name));
}

/** Reads the Ethernet address of interface `name`. */
export function getMac(name: string): MacKey {
  const r = ifreq(name);
  withCtlSocket((fd) => ifIoctl(fd, C.SIOCGIFHWADDR, r, "SIOCGIFHWADDR", name));
  return macAt(r, 18);
}

/** Sets or clears IFF_UP on interface `name`, keeping its other flags. */
export function setLinkUp(name: string, up: boolean): void {
  const r = ifreq(name);
  const v = new DataView(r.buffer, r.byteOffset);
  withCtlSocket((fd) => {
    ifIoctl(fd, C.SIOCGIFFLAGS, r, "SIOCGIFFLAGS", name);
    const flags = v.getUint16(16, true);
    v.setUint16(16, up ? flags | C.IFF_UP : flags & ~C.IFF_UP, true);
    ifIoctl(fd, C.SIOCSIFFLAGS, r, "SIOCSIFFLAGS", name);
  });
}

/** True when interface `name` has IFF_UP. */
export function isLinkUp(name: string): boolean {
  const r = ifreq(name);
  withCtlSocket((fd) => ifIoctl(fd, C.SIOCGIFFLAGS, r, "SIOCGIFFLAGS", name));
  return (new DataView(r.buffer, r.byteOffset).getUint16(16, true) & C.IFF_UP) !== 0;
}

/** Interface index of `name`; throws OsError (ENODEV) when there is none. */
export function ifIndex(name: string): number {
  const i = libc.if_nametoindex(cstr(name));
  if (i === 0) throw new OsError(`if_nametoindex(${name})`, errno());
  return i;
}

/**
 * Opens (creates, or attaches to) a TAP or TUN device and configures it.
 * Throws `OsError` with the fd closed when any step fails: ENOENT without
 * /dev/net/tun, EPERM without CAP_NET_ADMIN, EBUSY when a non-multi-queue
 * device is already attached.
 *
 * @example
 * ```ts
 * import { openTap } from "./tap.ts";
 * import { inNetns } from "./netns.ts";
 * if (Deno.uid() === 0) { // needs CAP_NET_ADMIN; made in a namespace of its own here
 *   const ns = `l2doc-tap-${Deno.pid}`;
 *   new Deno.Command("ip", { args: ["netns", "add", ns] }).outputSync();
 *   try {
 *     const opts = { name: "l2tap0", mtu: 1500, mac: 0x02_00_00_00_00_01 };
 *     const tap = inNetns(ns, () => openTap(opts));
 *     const n = tap.read(); // frames in tap.rx (none here: the device is down)
 *     tap.close();
 *     if (n !== 0) throw new Error(`${n} frames on a device that is down`);
 *   } finally {
 *     new Deno.Command("ip", { args: ["netns", "del", ns] }).outputSync();
 *   }
 * }
 * ```
 */
export function openTap(opts: TapOptions = {}): TapDevice {
  const mode = opts.mode ?? "tap";
  const batch = opts.batch ?? 64;
  if (!Number.isInteger(batch) || batch < 1 || batch > 1024) {
    throw new RangeError(`batch must be 1..1024, got ${batch}`);
  }
  if (mode === "tun" && opts.vnetHdr) {
    throw new Error("Cannot open a TUN device with vnetHdr: only TAP devices are supported");
  }
  if (mode === "tun" && opts.mac !== undefined) {
    throw new Error("Cannot set a MAC address on a TUN device: it has no link layer");
  }
  const room = { headroom: opts.headroom ?? 0, tailroom: opts.tailroom ?? 0 };
  for (const [k, v] of Object.entries(room)) {
    if (!Number.isInteger(v) || v < 0 || v > 256) {
      throw new RangeError(`${k} must be 0..256, got ${v}`);
    }
  }
  const r = ifreq(opts.name ?? "");
  const fd = libc.open(cstr("/dev/net/tun"), C.O_RDWR | C.O_NONBLOCK | C.O_CLOEXEC, 0);
  if (fd < 0) throw new OsError("open(/dev/net/tun)", errno());
  try {
    let flags = (mode === "tap" ? C.IFF_TAP : C.IFF_TUN) | C.IFF_NO_PI;
    if (opts.multiQueue) flags |= C.IFF_MULTI_QUEUE;
    if (opts.vnetHdr) flags |= IFF_VNET_HDR;
    new DataView(r.buffer, r.byteOffset).setUint16(16, flags, true);
    if (libc.ioctl(fd, BigInt(C.TUNSETIFF), r) < 0) {
      throw new OsError(`ioctl(TUNSETIFF) for ${mode} "${opts.name ?? ""}"`, errno());
    }
    const name = readName(r);
    if (opts.vnetHdr) {
      const sz = cbuf(4);
      new DataView(sz.buffer, sz.byteOffset).setInt32(0, VNET_HDR_SIZE, true);
      if (libc.ioctl(fd, BigInt(TUNSETVNETHDRSZ), sz) < 0) {
        throw new OsError(`ioctl(TUNSETVNETHDRSZ) on ${name}`, errno());
      }
      const off = BigInt(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
      if (libc.ioctl_int(fd, BigInt(TUNSETOFFLOAD), off) < 0) {
        throw new OsError(`ioctl(TUNSETOFFLOAD) on ${name}`, errno());
      }
    }
    if (
      opts.persist !== undefined &&
      libc.ioctl_int(fd, BigInt(C.TUNSETPERSIST), opts.persist ? 1n : 0n) < 0
    ) {
      throw new OsError(`ioctl(TUNSETPERSIST) on ${name}`, errno());
    }
    if (opts.mtu !== undefined) setMtu(name, opts.mtu);
    if (opts.mac !== undefined) setMac(name, opts.mac);
    if (opts.up ?? true) setLinkUp(name, true);
    const mtu = getMtu(name);
    return new TapDevice(fd, name, mode, mtu, batch, opts.vnetHdr ? VNET_HDR_SIZE : 0, room);
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

/** An open TAP or TUN queue. Build with `openTap()`. */
export class TapDevice implements FrameDevice {
  /** The queue fd; -1 after close. */
  fd: number;
  readonly name: string;
  readonly mode: "tap" | "tun";
  readonly mtu: number;
  readonly rx: FrameBatch;
  /** Frames dropped on write, by errno name. */
  readonly txDropped: Map<string, number> = new Map();
  /**
   * Bytes of virtio_net_hdr before each frame read (0: none, 10 with
   * `vnetHdr`); `write()` adds a zero one itself.
   */
  readonly vnetHdrLen: number;
  /**
   * The receive slots with their head- and tailroom: one block whose address
   * never changes, for a socket to send from (`DatagramSocket.lend`).
   */
  readonly memory: Arena;
  readonly #slot: number;
  readonly #slotLen: bigint;
  /** With a vnet header: the frame being written, after a zero header. */
  readonly #tx: Uint8Array | null;

  /**
   * Takes ownership of `fd`, an attached /dev/net/tun queue; `vnetHdrLen`
   * as set on it with TUNSETVNETHDRSZ (0 without IFF_VNET_HDR); `room`:
   * free bytes around each receive slot.
   */
  constructor(
    fd: number,
    name: string,
    mode: "tap" | "tun",
    mtu: number,
    batch: number,
    vnetHdrLen = 0,
    room: { headroom: number; tailroom: number } = { headroom: 0, tailroom: 0 },
  ) {
    this.fd = fd;
    this.name = name;
    this.mode = mode;
    this.mtu = mtu;
    this.vnetHdrLen = vnetHdrLen;
    // Ethernet header + two VLAN tags, rounded; a frame that does not fit is cut by the kernel.
    // With offloads a frame can be a 64 KiB TCP segment.
    this.#slot = vnetHdrLen ? GSO_SLOT : Math.max(2048, mtu + 64);
    this.#tx = vnetHdrLen ? new Uint8Array(vnetHdrLen + Math.max(2048, mtu + 64)) : null;
    this.#slotLen = BigInt(this.#slot);
    // read() takes these as "buffer" arguments of synchronous calls (rule 4,
    // docs/ffi.md); they live in an Arena because a socket may send from them
    // (rule 1). Slot i: [headroom][slot][tailroom].
    const { headroom, tailroom } = room;
    const stride = headroom + this.#slot + tailroom;
    this.memory = new Arena(stride * batch);
    const u8 = this.memory.u8;
    this.rx = {
      capacity: batch,
      count: 0,
      bufs: Array.from({ length: batch }, (_, i) => {
        const at = i * stride + headroom;
        return u8.subarray(at, at + this.#slot);
      }),
      lens: new Int32Array(batch),
      headroom,
      tailroom,
    };
  }

  /** Reads up to `rx.capacity` frames (one read() each) until EAGAIN; returns how many. */
  read(): number {
    const rx = this.rx;
    let n = 0;
    rx.count = 0;
    while (n < rx.capacity) {
      const r = libc.read(this.fd, rx.bufs[n], this.#slotLen);
      if (r < 0) {
        const e = errno();
        if (e === E.EAGAIN || e === E.EINTR) break;
        throw new OsError(`read(${this.mode} ${this.name})`, e);
      }
      if (r === 0) break;
      rx.lens[n++] = r;
    }
    rx.count = n;
    return n;
  }

  /** Writes one frame (with a zero vnet header first when the device has one). */
  write(frame: Uint8Array): number {
    let buf = frame;
    const tx = this.#tx;
    if (tx !== null) {
      const h = this.vnetHdrLen;
      if (frame.length + h > tx.length) return this.#drop(E.EMSGSIZE);
      // The header stays zero: only frames go after it.
      tx.set(frame, h);
      buf = tx.subarray(0, h + frame.length);
    }
    const r = libc.write(this.fd, buf, size(buf.length));
    if (r >= 0) return 0;
    const e = errno();
    // EBADF: closed; EBADFD: the device is gone from under the fd. Others (EIO while
    // the link is down, ENOMEM, EINVAL for a runt frame) drop this frame only.
    if (e === E.EBADF || e === E.EFAULT || e === E.EBADFD) {
      throw new OsError(`write(${this.mode} ${this.name})`, e);
    }
    return this.#drop(e);
  }

  /**
   * Writes `bytes` as they are: a vnet header (e.g. a GSO frame from
   * `TcpCoalescer`) and a frame. Only on a device opened with `vnetHdr`;
   * errors as for `write()`.
   */
  writeVnet(bytes: Uint8Array): number {
    if (this.#tx === null) {
      throw new Error(`Cannot write a vnet header to ${this.name}: no vnetHdr`);
    }
    const r = libc.write(this.fd, bytes, size(bytes.length));
    if (r >= 0) return 0;
    const e = errno();
    if (e === E.EBADF || e === E.EFAULT || e === E.EBADFD) {
      throw new OsError(`write(${this.mode} ${this.name})`, e);
    }
    return this.#drop(e);
  }

  #drop(e: number): number {
    const k = errnoName(e);
    this.txDropped.set(k, (this.txDropped.get(k) ?? 0) + 1);
    return e;
  }

  /** Sets or clears TUNSETPERSIST on this device. */
  setPersist(on: boolean): void {
    if (libc.ioctl_int(this.fd, BigInt(C.TUNSETPERSIST), on ? 1n : 0n) < 0) {
      throw new OsError(`ioctl(TUNSETPERSIST) on ${this.name}`, errno());
    }
  }

  close(): void {
    if (this.fd >= 0) {
      closeQuietly(this.fd);
      this.fd = -1;
    }
  }
}
