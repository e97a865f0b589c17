/**
 * The one `Deno.dlopen` table on libc.so.6, typed errno errors, and the
 * memory helpers every other `ffi/` file uses to hand memory to the kernel.
 *
 * Memory-safety rules (the long version is in docs/ffi.md):
 *
 * 1. Memory whose address is stored inside a C struct (iovec, msghdr,
 *    mmsghdr, sockaddr, cmsg, pollfd given to a non-blocking call) comes from
 *    an {@link Arena}: one explicit `ArrayBuffer` (off the V8 heap, never
 *    moved), held in a field of the object that owns the fd for as long as
 *    the kernel may read or write it. Never take `UnsafePointer.of()` of a
 *    small `new Uint8Array(n)`: V8 keeps those on its heap and moves them.
 * 2. Buffers passed directly as `"buffer"` arguments to synchronous calls are
 *    only used by C during that call; any `Uint8Array` is fine there.
 * 3. A non-blocking (threaded) call gets only arena memory, and JS does not
 *    touch that memory until the promise settles.
 * 4. errno is read right after the failing synchronous call, on the same
 *    thread. It is not readable for `nonblocking: true` calls (they run on a
 *    worker thread); their failures are treated as "retry".
 * 5. A socket points an iovec at memory it does not own only when that
 *    memory is an Arena lent to it (`DatagramSocket.lend`, held in its
 *    field); bytes queued from there (`queueView`) stay unchanged until the
 *    next `flush()`, which keeps nothing queued.
 *
 * ABI notes (x86-64 System V, the only target): `ioctl`, `fcntl` and `open`
 * are variadic in C but are declared here with fixed arguments. That is safe
 * on this ABI because variadic integer and pointer arguments travel in the
 * same registers (rdi, rsi, rdx, ...) as fixed ones; the only extra is %al,
 * the count of vector registers used, which the callee reads only to decide
 * whether to spill xmm registers. `ssize_t` results are read as `i32`: the
 * value is in rax and every length we ask for is below 2^31, so eax holds it
 * exactly (and -1 stays -1). `size_t` arguments are declared `usize`, never
 * `u32`, because the upper half of a 64-bit register is not zeroed for us.
 *
 * Not done here: other architectures, other libcs (musl would load under a
 * different name), signal-safe errno capture for threaded calls.
 *
 * @module
 */

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** ioctl with a pointer third argument (struct ifreq, int *). */
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  /** ioctl with an integer third argument passed by value (TUNSETPERSIST). */
  ioctl_int: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "i32" },
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "i32" },
  sendmsg: { parameters: ["i32", "pointer", "i32"], result: "i32" },
  recvmsg: { parameters: ["i32", "pointer", "i32"], result: "i32" },
  sendmmsg: { parameters: ["i32", "pointer", "u32", "i32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "pointer", "u32", "i32", "pointer"], result: "i32" },
  /** Blocking poll on a worker thread: the JS thread stays free. */
  poll_wait: {
    name: "poll",
    parameters: ["pointer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  /** Synchronous poll, for timeout 0 checks. */
  poll: { parameters: ["pointer", "u64", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libc table. Loaded once per module instance (per worker). */
export const libc: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] = Deno.dlopen(
  "libc.so.6",
  SYMBOLS,
).symbols;

// errno lives in thread-local storage; the address for this (JS) thread never
// changes, so one view is enough.
const errnoPtr = libc.__errno_location();
if (errnoPtr === null) throw new Error("Cannot load libc: __errno_location returned NULL");
const errnoView = new Deno.UnsafePointerView(errnoPtr);

/** errno of the last failed synchronous call on this thread. */
export function errno(): number {
  return errnoView.getInt32();
}

/** Linux errno numbers (asm-generic/errno-base.h, errno.h) we name in errors. */
export const E = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  EPIPE: 32,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENONET: 64,
  ENOLINK: 67,
  EBADFD: 77,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
} as const;

const NAMES: Map<number, string> = new Map(Object.entries(E).map(([k, v]) => [v, k]));

/** The symbolic name of an errno ("EAGAIN"), or "E<number>" when unnamed. */
export function errnoName(n: number): string {
  return NAMES.get(n) ?? `E${n}`;
}

/** libc's text for an errno ("Operation not permitted"). */
export function errnoText(n: number): string {
  const p = libc.strerror(n);
  return p === null ? `errno ${n}` : Deno.UnsafePointerView.getCString(p);
}

/**
 * A failed system call: which call, the errno and its name.
 *
 * @example
 * ```ts
 * import { OsError } from "./libc.ts";
 * const e = new OsError("ioctl(TUNSETIFF)", 1);
 * e.code; // "EPERM"
 * e.message; // "ioctl(TUNSETIFF) failed: EPERM (Operation not permitted)"
 * ```
 */
export class OsError extends Error {
  override name = "OsError";
  /** The call and what it was for, e.g. "ioctl(TUNSETIFF)" or "open(/dev/net/tun)". */
  readonly call: string;
  /** The errno number. */
  readonly errno: number;
  /** The errno name, e.g. "EAGAIN". */
  readonly code: string;

  constructor(call: string, errnoValue: number, options?: ErrorOptions) {
    const code = errnoName(errnoValue);
    super(`${call} failed: ${code} (${errnoText(errnoValue)})`, options);
    this.call = call;
    this.errno = errnoValue;
    this.code = code;
  }
}

/** Throws an OsError for `call` with the current errno when `ret` is negative; returns `ret`. */
export function check(ret: number, call: string): number {
  if (ret < 0) throw new OsError(call, errno());
  return ret;
}

/** Closes `fd`, ignoring errors (used on error paths and in `close()` methods). */
export function closeQuietly(fd: number): void {
  if (fd >= 0) libc.close(fd);
}

/** Sets O_NONBLOCK on `fd` (for fds made elsewhere; ffi/ opens its own non-blocking). */
export function setNonBlocking(fd: number): void {
  const flags = libc.fcntl(fd, C.F_GETFL, 0);
  if (flags < 0) throw new OsError(`fcntl(fd ${fd}, F_GETFL)`, errno());
  if (libc.fcntl(fd, C.F_SETFL, flags | C.O_NONBLOCK) < 0) {
    throw new OsError(`fcntl(fd ${fd}, F_SETFL O_NONBLOCK)`, errno());
  }
}

/** True when `fd` has O_NONBLOCK. */
export function isNonBlocking(fd: number): boolean {
  const flags = libc.fcntl(fd, C.F_GETFL, 0);
  if (flags < 0) throw new OsError(`fcntl(fd ${fd}, F_GETFL)`, errno());
  return (flags & C.O_NONBLOCK) !== 0;
}

/** A NUL-terminated C string in a fresh buffer, for synchronous calls only. */
export function cstr(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  if (bytes.includes(0)) throw new Error(`Cannot pass string to C: it contains NUL: ${s}`);
  const out = cbuf(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * A zeroed buffer of `n` bytes backed by its own explicit `ArrayBuffer` (off
 * the V8 heap, so it never moves). Use for structs passed to synchronous
 * calls (ifreq, sockaddr, option values).
 */
export function cbuf(n: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(Math.max(n, 128)), 0, n);
}

/**
 * A `size_t` argument, as a BigInt. Deno 2.9 also accepts a plain number for
 * a 64-bit parameter, but that leaves its fast call path: measured here,
 * `write(2)` of 64 bytes to /dev/null took about 850 ns with a number, 580
 * ns with `BigInt(n)` made per call and 450 ns with a constant BigInt. Hot
 * paths with a fixed length keep a constant.
 */
export function size(n: number): bigint {
  return BigInt(n);
}

/** Writes a 64-bit pointer (given as a number below 2^53) little-endian. */
export function setPtr(view: DataView, off: number, addr: number): void {
  view.setUint32(off, addr % 0x1_0000_0000, true);
  view.setUint32(off + 4, Math.floor(addr / 0x1_0000_0000), true);
}

/**
 * One block of C-visible memory, carved into structs and packet buffers.
 * The block is an explicit `ArrayBuffer` allocated once; its address never
 * changes. Whoever holds the Arena keeps the memory alive: keep it in a field
 * of the object that owns the fd for as long as the kernel may use it.
 *
 * @example
 * ```ts
 * import { Arena } from "./libc.ts";
 * const a = new Arena(4096);
 * const off = a.alloc(16);
 * a.addr(off); // absolute address, e.g. for an iovec
 * ```
 */
export class Arena {
  /** The backing memory. */
  readonly buffer: ArrayBuffer;
  /** Byte view over the whole arena. */
  readonly u8: Uint8Array;
  /** Little-endian struct access over the whole arena. */
  readonly view: DataView;
  /** The arena's pointer, for `"pointer"` arguments. */
  readonly ptr: Deno.PointerObject;
  /** The arena's address as a number (user-space addresses are below 2^47). */
  readonly base: number;
  #used = 0;

  constructor(size: number) {
    this.buffer = new ArrayBuffer(Math.max(size, 4096));
    this.u8 = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    const p = Deno.UnsafePointer.of(this.u8);
    if (p === null) throw new Error("Cannot allocate arena: null pointer");
    this.ptr = p;
    this.base = Number(Deno.UnsafePointer.value(p));
  }

  /** Reserves `size` bytes aligned to `align`; returns the offset. Throws when full. */
  alloc(size: number, align = 16): number {
    const off = Math.ceil(this.#used / align) * align;
    if (off + size > this.buffer.byteLength) {
      throw new Error(`Cannot allocate ${size} bytes: arena of ${this.buffer.byteLength} is full`);
    }
    this.#used = off + size;
    return off;
  }

  /** Absolute address of `off`. */
  addr(off: number): number {
    return this.base + off;
  }

  /** A pointer object for `off`, for `"pointer"` arguments. */
  pointer(off: number): Deno.PointerObject {
    return Deno.UnsafePointer.offset(this.ptr, off) as Deno.PointerObject;
  }
}

/** Constants from Linux UAPI headers, x86-64. */
export const C = {
  // fcntl.h
  O_RDONLY: 0,
  O_RDWR: 2,
  O_NONBLOCK: 0x800,
  O_CLOEXEC: 0x80000,
  F_GETFL: 3,
  F_SETFL: 4,
  // socket.h
  AF_INET: 2,
  AF_INET6: 10,
  AF_PACKET: 17,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_NONBLOCK: 0x800,
  SOCK_CLOEXEC: 0x80000,
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_SNDBUFFORCE: 32,
  SO_RCVBUFFORCE: 33,
  MSG_CTRUNC: 0x8,
  MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40,
  // in.h / in6.h
  IPPROTO_IP: 0,
  IPPROTO_UDP: 17,
  IPPROTO_IPV6: 41,
  IP_TTL: 2,
  IP_PKTINFO: 8,
  IP_MTU_DISCOVER: 10,
  /** IP_MTU_DISCOVER values: never set DF (fragment locally), or always set it. */
  IP_PMTUDISC_DONT: 0,
  IP_PMTUDISC_DO: 2,
  IPV6_MTU_DISCOVER: 23,
  IP_FREEBIND: 15,
  IPV6_UNICAST_HOPS: 16,
  IPV6_V6ONLY: 26,
  IPV6_RECVPKTINFO: 49,
  IPV6_PKTINFO: 50,
  // poll.h
  POLLIN: 0x1,
  POLLERR: 0x8,
  POLLHUP: 0x10,
  POLLNVAL: 0x20,
  // eventfd.h
  EFD_NONBLOCK: 0x800,
  EFD_CLOEXEC: 0x80000,
  // sched.h
  CLONE_NEWNET: 0x40000000,
  // if_tun.h
  TUNSETIFF: 0x400454ca,
  TUNSETPERSIST: 0x400454cb,
  TUNGETIFF: 0x800454d2,
  IFF_TUN: 0x0001,
  IFF_TAP: 0x0002,
  IFF_MULTI_QUEUE: 0x0100,
  IFF_NO_PI: 0x1000,
  // sockios.h, if.h, if_arp.h
  SIOCGIFFLAGS: 0x8913,
  SIOCSIFFLAGS: 0x8914,
  SIOCGIFMTU: 0x8921,
  SIOCSIFMTU: 0x8922,
  SIOCSIFHWADDR: 0x8924,
  SIOCGIFHWADDR: 0x8927,
  IFF_UP: 0x1,
  IFNAMSIZ: 16,
  ARPHRD_ETHER: 1,
} as const;
