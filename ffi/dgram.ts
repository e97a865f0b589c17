/**
 * Batched, non-blocking datagram I/O over one socket fd: recvmmsg into a
 * preallocated ring of slots with source address and IP_PKTINFO /
 * IPV6_PKTINFO destination, sendmmsg from a preallocated send batch with an
 * optional chosen source address. Shared by UDP (`udp.ts`) and raw IP
 * (`raw.ts`) sockets.
 *
 * Control messages on receive: an AF_INET socket gets IP_PKTINFO; an
 * AF_INET6 socket gets IPV6_PKTINFO, and when it is dual-stack and the
 * datagram is IPv4 (::ffff:a.b.c.d) Linux delivers BOTH IPV6_PKTINFO and
 * IP_PKTINFO, since both options are set (`udp.ts`); with `udpGro` a
 * UDP_GRO cmsg comes first. Each message's control buffer (`CTRL`) holds all
 * three with room to spare; a message whose control data was cut anyway
 * (MSG_CTRUNC) is counted in `rxCtrunc` and keeps what did arrive.
 *
 * All iovecs, msghdrs, sockaddrs and cmsgs live in one {@link Arena} held in
 * `#arena` for the life of the socket; their pointers are written once at
 * construction. Per call only lengths are reset.
 *
 * Struct layouts (x86-64): iovec 16 bytes {base, len}; msghdr 56 bytes
 * {name@0, namelen@8, iov@16, iovlen@24, control@32, controllen@40,
 * flags@48}; mmsghdr 64 bytes {msghdr, msg_len@56}; cmsghdr 16 bytes
 * {len u64@0, level@8, type@12}, data 8-aligned; in_pktinfo 12 bytes
 * {ifindex, spec_dst, addr}; in6_pktinfo 20 bytes {addr[16], ifindex}.
 *
 * With `udpGso` (UDP only), `flush()` sends each run of queued datagrams to
 * the same address without a chosen source, all of one size but the last
 * (which may be shorter), as one message: the run's iovecs and a
 * UDP_SEGMENT cmsg with that size (Linux udp(7), 4.18+). The kernel carries
 * the run as one packet down the stack and cuts it where the device cannot
 * (Documentation/networking/segmentation-offloads.rst, "UDP GSO"): one trip
 * through IP output, veth and bridge instead of one per datagram. When the
 * kernel refuses (EIO without checksum offload on the route, EINVAL), the
 * socket falls back to one message per datagram for good.
 *
 * With `udpGro` (UDP only), the socket sets UDP_GRO (Linux udp(7), 5.0+): the
 * kernel may hand over a run of datagrams of one flow as one message, all of
 * one size but the last (which may be shorter), with a UDP_GRO cmsg giving
 * that size. Each receive slot is then 64 KiB, `rx.segs[i]` is the segment
 * size of a coalesced entry (0: one datagram) and the caller cuts it
 * (`groSegments`). A socket without `udpGro` never receives a coalesced
 * message: the kernel cuts GSO packets for sockets without UDP_GRO. When the
 * kernel refuses the option the socket runs without it (`rxGroOff`). A
 * datagram (or segment) larger than `slotSize` is still flagged truncated,
 * as without GRO.
 *
 * Sending without the copy: `lend(arena)` lets the socket point its send
 * iovecs into memory it does not own (a TAP's receive slots, `TapDevice.memory`),
 * and `queueView(data, ...)` of bytes in lent memory queues them where they
 * lie instead of copying them into a send slot. The socket keeps every lent
 * Arena in a field (rule 2); the caller keeps the bytes unchanged until the
 * next `flush()` (the one `queue`/`queueView` run when the batch is full, or
 * its own): `flush()` sends or drops everything queued and keeps nothing, so
 * after it the memory is the caller's again. Bytes outside lent memory are
 * copied as by `queue`.
 *
 * Not done here: timestamps, IP_RECVERR queues.
 *
 * @module
 */
import { type Endpoint, type Ip16, setV4 } from "../core/addr.ts";
import { readSockaddr, writeSockaddr } from "./addr.ts";
import {
  Arena,
  C,
  closeQuietly,
  E,
  errno,
  errnoName,
  libc,
  OsError,
  setPtr,
  size,
} from "./libc.ts";
import type { DatagramBatch, DatagramTransport } from "./types.ts";

const MMSG = 64;
const IOV = 16;
const NAME = 32;
/**
 * Control bytes per message: CMSG_SPACE of UDP_GRO (int, 24) + IPV6_PKTINFO
 * (in6_pktinfo, 40) + IP_PKTINFO (in_pktinfo, 32) = 96, rounded up.
 */
const CTRL = 128;
// msghdr field offsets
const M_NAME = 0, M_NAMELEN = 8, M_IOV = 16, M_IOVLEN = 24, M_CONTROL = 32, M_CONTROLLEN = 40;
const M_FLAGS = 48, M_LEN = 56;
/** linux/udp.h: SOL_UDP, UDP_SEGMENT; cmsghdr + u16: CMSG_LEN(2) = 18, CMSG_SPACE(2) = 24. */
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const GSO_CMSG = 24;
/** Most datagrams in one UDP_SEGMENT message (UDP_MAX_SEGMENTS is 64 before Linux 5.5). */
const GSO_MAX_SEGS = 64;
/** Most bytes in one (IPv6: 65535 - 8 UDP header; IPv4 leaves room for the 20-byte IP header). */
const GSO_MAX_BYTES = 65_535 - 8 - 40;
/** linux/udp.h: UDP_GRO (the option and the cmsg type; cmsg data is an int, the segment size). */
const UDP_GRO = 104;
/** Receive slot bytes with `udpGro`: the largest coalesced message (a UDP payload < 64 KiB). */
const GRO_SLOT = 65536;

/** errnos that kill a socket: thrown instead of returned. */
const FATAL_SEND = new Set<number>([E.EBADF, E.EFAULT, E.ENOTSOCK, E.EDESTADDRREQ]);

/** How the socket frames what it receives. */
export type DgramKind = "udp" | "raw4" | "raw6";

/** Sizes of a socket's buffers. */
export interface BatchOptions {
  /** Slots per receive batch and per send batch (default 64, at most 1024). */
  batch?: number;
  /** Bytes per slot: the largest datagram (default 16384); `udpGro` receive slots: 64 KiB. */
  slotSize?: number;
  /** UDP sockets: send runs of equal-size datagrams with UDP_SEGMENT (module doc). Default false. */
  udpGso?: boolean;
  /**
   * UDP sockets: receive runs of datagrams coalesced by the kernel (UDP_GRO,
   * module doc); entries may then hold several datagrams (`rx.segs`).
   * Default false.
   */
  udpGro?: boolean;
}

/** A receive batch that may hold coalesced datagrams (`udpGro`). */
export interface GroBatch extends DatagramBatch {
  /**
   * Per entry: the size of each datagram in a coalesced entry (the last may
   * be shorter), 0 when the entry is one datagram. Always 0 without `udpGro`.
   */
  readonly segs: Int32Array;
}

/**
 * How many datagrams a received entry of `len` bytes with segment size `seg`
 * holds: datagram k is bytes `k * seg` .. `min((k + 1) * seg, len)`. An entry
 * is one datagram when `seg` is 0, not a positive integer, or not below
 * `len` (nothing to cut); 0 for an empty entry.
 *
 * @example
 * ```ts
 * import { groSegments } from "./dgram.ts";
 * groSegments(3000, 1400); // 3: 1400 + 1400 + 200
 * groSegments(1400, 0); // 1
 * ```
 */
export function groSegments(len: number, seg: number): number {
  if (!(len > 0)) return 0;
  if (!(seg > 0) || !Number.isInteger(seg) || seg >= len) return 1;
  return Math.ceil(len / seg);
}

interface Ring {
  vec: number; // offset of mmsghdr[0]
  vecPtr: Deno.PointerObject; // its address, made once (no allocation per call)
  iovs: number; // offset of iovec[0]
  bufs: Uint8Array[];
  names: number[];
  ctrls: number[];
}

/** Send and receive counters of one socket. */
export interface DgramStats {
  /** Datagrams received (a coalesced entry counts each of its datagrams). */
  rxPackets: number;
  /** Entries cut because they were larger than a slot (or, with `udpGro`, than `slotSize`). */
  rxTruncated: number;
  /** Messages whose control data did not fit (MSG_CTRUNC); 0 unless the kernel adds a cmsg. */
  rxCtrunc: number;
  /** With `udpGro`: entries holding two or more datagrams, and those datagrams. */
  rxGroMessages: number;
  rxGroDatagrams: number;
  /** With `udpGro`: 1 when the kernel refused UDP_GRO (the socket runs without it). */
  rxGroOff: number;
  /** Datagrams sent. */
  txPackets: number;
  /** Datagrams queued from lent memory (`queueView`): sent without a copy into a send slot. */
  txViews: number;
  /** Datagrams dropped on send, by errno name. */
  txDropped: Map<string, number>;
  /** With `udpGso`: messages sent carrying two or more datagrams, and those datagrams. */
  txGsoMessages: number;
  txGsoDatagrams: number;
  /** With `udpGso`: 1 after the kernel refused UDP_SEGMENT (then no more tries). */
  txGsoOff: number;
}

/**
 * A socket with batched receive and send. Build one with `openUdp()` or
 * `openRawIp()`.
 */
export class DatagramSocket implements DatagramTransport {
  /** The socket fd; -1 after close. */
  fd: number;
  readonly local: Endpoint;
  readonly rx: GroBatch;
  readonly stats: DgramStats = {
    rxPackets: 0,
    rxTruncated: 0,
    rxCtrunc: 0,
    rxGroMessages: 0,
    rxGroDatagrams: 0,
    rxGroOff: 0,
    txPackets: 0,
    txViews: 0,
    txDropped: new Map(),
    txGsoMessages: 0,
    txGsoDatagrams: 0,
    txGsoOff: 0,
  };
  readonly #family: 4 | 6;
  readonly #kind: DgramKind;
  /** Largest datagram (`slotSize`): send slots, and the receive limit. */
  readonly #slot: number;
  /** Bytes per receive slot: `#slot`, or 64 KiB with UDP_GRO on. */
  readonly #rxSlot: number;
  /** UDP_GRO set on the socket. */
  readonly #gro: boolean;
  /** Holds every struct and buffer the kernel points into (rule 1, libc.ts). */
  readonly #arena: Arena;
  readonly #rxRing: Ring;
  readonly #txRing: Ring;
  readonly #solo: Ring;
  #txCount = 0;
  /** Arenas lent by `lend` (held so their memory outlives every iovec into it). */
  readonly #lent: Arena[] = [];
  /** Per send slot: 1 while its iovec points into lent memory (`queueView`). */
  readonly #txBorrowed: Uint8Array;
  /** Queued datagrams with a chosen source (a control message of their own). */
  #txWithFrom = 0;
  /** UDP_SEGMENT sends: on until the kernel refuses one. */
  #gso: boolean;
  /** mmsghdrs of the grouped messages and their UDP_SEGMENT cmsgs (one per group). */
  #gvec = 0;
  #gvecPtr: Deno.PointerObject | null = null;
  #gctrl = 0;
  /** Datagrams of each group in `#gvec`, and where in the ring it starts. */
  #gsize: Int32Array;
  #gstart: Int32Array;
  #rxUsed: number;
  #sockaddr: Uint8Array = new Uint8Array(new ArrayBuffer(128), 0, 32);

  /** Takes ownership of `fd` (a non-blocking datagram socket, already bound). */
  constructor(
    fd: number,
    family: 4 | 6,
    kind: DgramKind,
    local: Endpoint,
    opts: BatchOptions = {},
  ) {
    const batch = opts.batch ?? 64;
    const slot = opts.slotSize ?? 16384;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1024) {
      throw new RangeError(`batch must be 1..1024, got ${batch}`);
    }
    if (!Number.isInteger(slot) || slot < 64 || slot > 65536) {
      throw new RangeError(`slotSize must be 64..65536, got ${slot}`);
    }
    this.fd = fd;
    this.local = local;
    this.#family = family;
    this.#kind = kind;
    this.#slot = slot;
    this.#gro = (opts.udpGro ?? false) && kind === "udp" && this.#setGro(fd);
    this.#rxSlot = this.#gro ? GRO_SLOT : slot;
    const per = NAME + CTRL + IOV + MMSG + 64;
    this.#gso = (opts.udpGso ?? false) && kind === "udp";
    this.#arena = new Arena(
      batch * (this.#rxSlot + per) + (batch + 1) * (slot + per) + 4096 +
        (this.#gso ? batch * 128 : 0),
    );
    this.#gsize = new Int32Array(this.#gso ? batch : 0);
    this.#gstart = new Int32Array(this.#gso ? batch : 0);
    this.#txBorrowed = new Uint8Array(batch);
    this.#rxRing = this.#ring(batch, this.#rxSlot);
    this.#txRing = this.#ring(batch, slot);
    this.#solo = this.#ring(1, slot);
    if (this.#gso) {
      this.#gvec = this.#arena.alloc(batch * MMSG, 64);
      this.#gvecPtr = this.#arena.pointer(this.#gvec);
      this.#gctrl = this.#arena.alloc(batch * GSO_CMSG, 8);
    }
    this.#rxUsed = batch;
    this.rx = {
      capacity: batch,
      count: 0,
      bufs: this.#rxRing.bufs,
      lens: new Int32Array(batch),
      offsets: new Int32Array(batch),
      src: Array.from({ length: batch }, () => new Uint8Array(16)),
      srcPort: new Uint16Array(batch),
      dst: Array.from({ length: batch }, () => new Uint8Array(16)),
      ifindex: new Int32Array(batch),
      truncated: new Uint8Array(batch),
      segs: new Int32Array(batch),
    };
  }

  /** Sets UDP_GRO on `fd`; false (counted in `rxGroOff`) when the kernel refuses. */
  #setGro(fd: number): boolean {
    try {
      setIntOpt(fd, SOL_UDP, UDP_GRO, 1, "UDP_GRO");
      return true;
    } catch (e) {
      if (!(e instanceof OsError)) throw e;
      this.stats.rxGroOff = 1;
      return false;
    }
  }

  /** Whether UDP_GRO is on (asked for with `udpGro` and accepted by the kernel). */
  get gro(): boolean {
    return this.#gro;
  }

  #ring(n: number, slot: number): Ring {
    const a = this.#arena;
    const v = a.view;
    const vec = a.alloc(n * MMSG, 64);
    const iovs = a.alloc(n * IOV, 16);
    const ring: Ring = { vec, vecPtr: a.pointer(vec), iovs, bufs: [], names: [], ctrls: [] };
    for (let i = 0; i < n; i++) {
      const buf = a.alloc(slot, 64);
      const name = a.alloc(NAME, 8);
      const ctrl = a.alloc(CTRL, 8);
      const iov = iovs + i * IOV;
      setPtr(v, iov, a.addr(buf));
      setPtr(v, iov + 8, slot);
      const m = vec + i * MMSG;
      setPtr(v, m + M_NAME, a.addr(name));
      v.setUint32(m + M_NAMELEN, NAME, true);
      setPtr(v, m + M_IOV, a.addr(iov));
      setPtr(v, m + M_IOVLEN, 1);
      setPtr(v, m + M_CONTROL, a.addr(ctrl));
      setPtr(v, m + M_CONTROLLEN, CTRL);
      ring.bufs.push(a.u8.subarray(buf, buf + slot));
      ring.names.push(name);
      ring.ctrls.push(ctrl);
    }
    return ring;
  }

  /**
   * Receives up to `rx.capacity` entries (one recvmmsg; with `udpGro` an
   * entry may hold several datagrams, `rx.segs`); 0 when none are ready.
   */
  recv(): number {
    const a = this.#arena, v = a.view, u8 = a.u8, ring = this.#rxRing, rx = this.rx;
    // Reset what the kernel overwrote last time.
    for (let i = 0; i < this.#rxUsed; i++) {
      const m = ring.vec + i * MMSG;
      v.setUint32(m + M_NAMELEN, NAME, true);
      setPtr(v, m + M_CONTROLLEN, CTRL);
    }
    this.#rxUsed = 0;
    rx.count = 0;
    const n = libc.recvmmsg(this.fd, ring.vecPtr, rx.capacity, C.MSG_DONTWAIT, null);
    if (n < 0) {
      const e = errno();
      if (e === E.EAGAIN || e === E.EINTR) return 0;
      // ICMP errors reported on the socket (connected use) are not fatal.
      if (e === E.ECONNREFUSED || e === E.EHOSTUNREACH || e === E.ENETUNREACH) return 0;
      throw new OsError(`recvmmsg(fd ${this.fd})`, e);
    }
    this.#rxUsed = n;
    const st = this.stats, max = this.#slot, cap = this.#rxSlot;
    let datagrams = 0;
    for (let i = 0; i < n; i++) {
      const m = ring.vec + i * MMSG;
      const len = v.getUint32(m + M_LEN, true);
      const flags = v.getInt32(m + M_FLAGS, true);
      if ((flags & C.MSG_CTRUNC) !== 0) st.rxCtrunc++;
      const port = readSockaddr(u8, ring.names[i], rx.src[i]);
      rx.srcPort[i] = port < 0 ? 0 : port;
      // Sets rx.segs[i] to the UDP_GRO size, 0 without one.
      this.#parseCmsgs(ring.ctrls[i], v.getUint32(m + M_CONTROLLEN, true), i);
      let got = len > cap ? cap : len;
      let trunc = (flags & C.MSG_TRUNC) !== 0;
      let seg = rx.segs[i];
      if (seg >= got) seg = rx.segs[i] = 0; // one datagram: nothing to cut
      // With GRO the slot is larger than `slotSize`; a datagram above it is cut as without.
      if (seg > max || (seg === 0 && got > max)) {
        trunc = true;
        got = got > max ? max : got;
      }
      if (trunc) seg = rx.segs[i] = 0; // dropped by the caller whole
      rx.truncated[i] = trunc ? 1 : 0;
      if (trunc) st.rxTruncated++;
      rx.lens[i] = got;
      if (seg > 0) {
        const k = groSegments(got, seg);
        st.rxGroMessages++;
        st.rxGroDatagrams += k;
        datagrams += k;
      } else {
        datagrams++;
      }
      if (this.#kind === "raw4") {
        const ihl = (ring.bufs[i][0] & 0x0f) * 4;
        rx.offsets[i] = ihl > got ? got : ihl;
      } else {
        rx.offsets[i] = 0;
      }
    }
    rx.count = n;
    st.rxPackets += datagrams;
    return n;
  }

  #parseCmsgs(ctrl: number, len: number, i: number): void {
    const v = this.#arena.view, u8 = this.#arena.u8, rx = this.rx;
    rx.dst[i].fill(0);
    rx.ifindex[i] = 0;
    rx.segs[i] = 0;
    const end = ctrl + (len > CTRL ? CTRL : len);
    let off = ctrl;
    for (let guard = 0; guard < 8 && off + 16 <= end; guard++) {
      const clen = v.getUint32(off, true);
      if (clen < 16 || off + clen > end) break;
      const level = v.getInt32(off + 8, true);
      const type = v.getInt32(off + 12, true);
      const data = off + 16;
      if (level === SOL_UDP && type === UDP_GRO && clen >= 20) {
        const seg = v.getInt32(data, true);
        rx.segs[i] = seg > 0 ? seg : 0;
      } else if (level === C.IPPROTO_IP && type === C.IP_PKTINFO && clen >= 28) {
        rx.ifindex[i] = v.getInt32(data, true);
        setV4(rx.dst[i], v.getUint32(data + 8, false));
      } else if (level === C.IPPROTO_IPV6 && type === C.IPV6_PKTINFO && clen >= 36) {
        const dst = rx.dst[i];
        for (let k = 0; k < 16; k++) dst[k] = u8[data + k];
        rx.ifindex[i] = v.getInt32(data + 16, true);
      }
      off += (clen + 7) & ~7;
    }
  }

  /** Fills slot `i` of `ring` for sending `len` bytes already in its buffer. */
  #prepare(
    ring: Ring,
    i: number,
    len: number,
    to: Endpoint,
    from: Ip16 | null | undefined,
  ): number {
    const a = this.#arena, v = a.view, u8 = a.u8;
    const m = ring.vec + i * MMSG;
    if (this.#family === 4 && !isMapped(to.ip)) return E.EAFNOSUPPORT;
    const nlen = writeSockaddr(u8, ring.names[i], this.#family, to.ip, to.port);
    v.setUint32(m + M_NAMELEN, nlen, true);
    setPtr(v, ring.iovs + i * IOV + 8, len); // iov_base is fixed; only iov_len changes
    const ctrl = ring.ctrls[i];
    if (from) {
      if (this.#family === 4) {
        if (!isMapped(from)) return E.EAFNOSUPPORT;
        // cmsghdr + in_pktinfo: CMSG_LEN(12) = 28, CMSG_SPACE(12) = 32.
        setPtr(v, ctrl, 28);
        v.setInt32(ctrl + 8, C.IPPROTO_IP, true);
        v.setInt32(ctrl + 12, C.IP_PKTINFO, true);
        v.setInt32(ctrl + 16, 0, true); // ipi_ifindex: let routing choose
        u8.set(from.subarray(12, 16), ctrl + 20); // ipi_spec_dst: our source
        v.setUint32(ctrl + 24, 0, true); // ipi_addr: ignored on send
        setPtr(v, m + M_CONTROLLEN, 32);
      } else {
        // cmsghdr + in6_pktinfo: CMSG_LEN(20) = 36, CMSG_SPACE(20) = 40.
        setPtr(v, ctrl, 36);
        v.setInt32(ctrl + 8, C.IPPROTO_IPV6, true);
        v.setInt32(ctrl + 12, C.IPV6_PKTINFO, true);
        u8.set(from, ctrl + 16);
        v.setUint32(ctrl + 32, 0, true);
        setPtr(v, m + M_CONTROLLEN, 40);
      }
    } else {
      setPtr(v, m + M_CONTROLLEN, 0);
    }
    return 0;
  }

  #dropped(e: number): void {
    const name = errnoName(e);
    this.stats.txDropped.set(name, (this.stats.txDropped.get(name) ?? 0) + 1);
  }

  send(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number {
    if (data.length > this.#slot) {
      this.#dropped(E.EMSGSIZE);
      return E.EMSGSIZE;
    }
    let r: number;
    if (!from) {
      // Zero-copy path: the data and sockaddr are used only during the call.
      if (this.#family === 4 && !isMapped(to.ip)) {
        this.#dropped(E.EAFNOSUPPORT);
        return E.EAFNOSUPPORT;
      }
      const nlen = writeSockaddr(this.#sockaddr, 0, this.#family, to.ip, to.port);
      r = libc.sendto(this.fd, data, size(data.length), 0, this.#sockaddr, nlen);
    } else {
      const ring = this.#solo;
      ring.bufs[0].set(data);
      const bad = this.#prepare(ring, 0, data.length, to, from);
      if (bad !== 0) {
        this.#dropped(bad);
        return bad;
      }
      r = libc.sendmsg(this.fd, ring.vecPtr, 0);
    }
    if (r >= 0) {
      this.stats.txPackets++;
      return 0;
    }
    const e = errno();
    if (FATAL_SEND.has(e)) throw new OsError(`send(fd ${this.fd})`, e);
    this.#dropped(e);
    return e;
  }

  queue(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number {
    if (data.length > this.#slot) {
      this.#dropped(E.EMSGSIZE);
      return E.EMSGSIZE;
    }
    const ring = this.#txRing;
    const i = this.#txCount;
    if (this.#txBorrowed[i] !== 0) {
      // The slot's iovec pointed into lent memory last time: back to its own buffer.
      setPtr(this.#arena.view, ring.iovs + i * IOV, this.#arena.addr(ring.bufs[i].byteOffset));
      this.#txBorrowed[i] = 0;
    }
    ring.bufs[i].set(data);
    return this.#queued(ring, i, data.length, to, from);
  }

  /**
   * Lets `queueView` send from `arena` without copying (module doc). The
   * socket holds the Arena until it is garbage itself. At most 8.
   */
  lend(arena: Arena): void {
    if (this.#lent.includes(arena)) return;
    if (this.#lent.length >= 8) throw new RangeError("Cannot lend more than 8 arenas to a socket");
    this.#lent.push(arena);
  }

  /**
   * `queue` without the copy for `data` inside an Arena given to `lend`:
   * the send slot's iovec points at `data` where it lies, which must stay
   * unchanged until the next `flush()` (module doc). Other bytes are copied
   * as by `queue`.
   */
  queueView(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number {
    const lent = this.#lent;
    let arena: Arena | null = null;
    for (let k = 0; k < lent.length; k++) {
      if (lent[k].buffer === data.buffer) {
        arena = lent[k];
        break;
      }
    }
    if (arena === null || data.length > this.#slot) return this.queue(data, to, from);
    const ring = this.#txRing;
    const i = this.#txCount;
    setPtr(this.#arena.view, ring.iovs + i * IOV, arena.addr(data.byteOffset));
    this.#txBorrowed[i] = 1;
    this.stats.txViews++;
    return this.#queued(ring, i, data.length, to, from);
  }

  /** Slot `i` holds (or points at) `len` bytes: address it, count it, flush a full batch. */
  #queued(ring: Ring, i: number, len: number, to: Endpoint, from?: Ip16 | null): number {
    const bad = this.#prepare(ring, i, len, to, from);
    if (bad !== 0) {
      this.#dropped(bad);
      return bad;
    }
    if (from) this.#txWithFrom++;
    this.#txCount++;
    return this.#txCount === ring.bufs.length ? this.flush() : 0;
  }

  /** Slots queued and not yet flushed. */
  get queued(): number {
    return this.#txCount;
  }

  flush(): number {
    const total = this.#txCount;
    const plain = this.#txWithFrom !== 0;
    this.#txCount = 0;
    this.#txWithFrom = 0;
    if (this.#gso && total > 1 && !plain) return this.#flushGso(total);
    return this.#flushPlain(0, total);
  }

  /** sendmmsg of queued datagrams `from` .. `total - 1`, one message each; the first errno. */
  #flushPlain(from: number, total: number): number {
    let sent = from, first = 0;
    const ring = this.#txRing;
    // Each pass sends at least one message or skips the one that failed.
    while (sent < total) {
      const at = sent === 0 ? ring.vecPtr : this.#arena.pointer(ring.vec + sent * MMSG);
      const r = libc.sendmmsg(this.fd, at, total - sent, 0);
      if (r > 0) {
        sent += r;
        this.stats.txPackets += r;
        continue;
      }
      const e = r < 0 ? errno() : E.EAGAIN;
      if (FATAL_SEND.has(e)) throw new OsError(`sendmmsg(fd ${this.fd})`, e);
      if (first === 0) first = e;
      this.#dropped(e);
      sent++; // the message at `sent` failed; skip it
    }
    return first;
  }

  /**
   * Sends the `total` queued datagrams as runs with UDP_SEGMENT; returns the
   * first errno (0: all sent). When the kernel refuses UDP_SEGMENT, `#gso`
   * goes off and what is left goes one message each.
   */
  #flushGso(total: number): number {
    const a = this.#arena, v = a.view, u8 = a.u8, ring = this.#txRing;
    const segs = this.#gsize, start = this.#gstart;
    let groups = 0;
    let i = 0;
    while (i < total) {
      const m = ring.vec + i * MMSG;
      const len = v.getUint32(ring.iovs + i * IOV + 8, true); // iov_len < 2^32
      const nlen = v.getUint32(m + M_NAMELEN, true);
      const name = ring.names[i];
      let j = i + 1;
      let bytes = len;
      while (j < total && j - i < GSO_MAX_SEGS) {
        const lj = v.getUint32(ring.iovs + j * IOV + 8, true);
        if (lj > len || bytes + lj > GSO_MAX_BYTES) break;
        if (v.getUint32(ring.vec + j * MMSG + M_NAMELEN, true) !== nlen) break;
        const nj = ring.names[j];
        let same = true;
        for (let k = 0; k < nlen; k++) {
          if (u8[name + k] !== u8[nj + k]) {
            same = false;
            break;
          }
        }
        if (!same) break;
        bytes += lj;
        j++;
        if (lj < len) break; // a shorter datagram ends the run
      }
      const g = this.#gvec + groups * MMSG;
      u8.copyWithin(g, m, m + MMSG);
      setPtr(v, g + M_IOVLEN, j - i);
      if (j - i > 1) {
        const c = this.#gctrl + groups * GSO_CMSG;
        setPtr(v, c, 18);
        v.setInt32(c + 8, SOL_UDP, true);
        v.setInt32(c + 12, UDP_SEGMENT, true);
        v.setUint16(c + 16, len, true);
        setPtr(v, g + M_CONTROL, a.addr(c));
        setPtr(v, g + M_CONTROLLEN, GSO_CMSG);
      } else {
        setPtr(v, g + M_CONTROLLEN, 0);
      }
      segs[groups] = j - i;
      start[groups] = i;
      groups++;
      i = j;
    }
    let sent = 0, first = 0;
    while (sent < groups) {
      const at = sent === 0 ? this.#gvecPtr! : a.pointer(this.#gvec + sent * MMSG);
      const r = libc.sendmmsg(this.fd, at, groups - sent, 0);
      if (r > 0) {
        for (let k = sent; k < sent + r; k++) {
          this.stats.txPackets += segs[k];
          if (segs[k] > 1) {
            this.stats.txGsoMessages++;
            this.stats.txGsoDatagrams += segs[k];
          }
        }
        sent += r;
        continue;
      }
      const e = r < 0 ? errno() : E.EAGAIN;
      if (FATAL_SEND.has(e)) throw new OsError(`sendmmsg(fd ${this.fd})`, e);
      if ((e === E.EIO || e === E.EINVAL) && segs[sent] > 1) {
        // No UDP_SEGMENT here (no checksum offload on the route, an old kernel): stop trying.
        this.#gso = false;
        this.stats.txGsoOff = 1;
        const r2 = this.#flushPlain(start[sent], total);
        return first || r2;
      }
      if (first === 0) first = e;
      for (let k = 0; k < segs[sent]; k++) this.#dropped(e);
      sent++; // the message at `sent` failed; skip it
    }
    return first;
  }

  close(): void {
    if (this.fd >= 0) {
      closeQuietly(this.fd);
      this.fd = -1;
    }
  }
}

function isMapped(ip: Ip16): boolean {
  return ip[10] === 0xff && ip[11] === 0xff && ip[0] === 0 && ip[1] === 0 && ip[2] === 0 &&
    ip[3] === 0 && ip[4] === 0 && ip[5] === 0 && ip[6] === 0 && ip[7] === 0 && ip[8] === 0 &&
    ip[9] === 0;
}

/** Sets an int socket option; throws OsError naming `what`. */
export function setIntOpt(fd: number, level: number, name: number, value: number, what: string) {
  const b = new Uint8Array(new ArrayBuffer(128), 0, 4);
  new DataView(b.buffer).setInt32(0, value, true);
  if (libc.setsockopt(fd, level, name, b, 4) < 0) {
    throw new OsError(`setsockopt(${what})`, errno());
  }
}

/**
 * Sets whether datagrams leave with the IPv4 Don't Fragment bit:
 * IP_MTU_DISCOVER = IP_PMTUDISC_DO (`df` true: DF set, an oversize send
 * fails with EMSGSIZE) or IP_PMTUDISC_DONT (false: DF clear, the kernel
 * fragments an oversize packet). Linux's default (IP_PMTUDISC_WANT) sets DF
 * on everything. On an IPv6 socket IPV6_MTU_DISCOVER takes the same values
 * (IPv6 has no DF bit: DONT lets the kernel fragment at the source to the
 * path MTU it knows). Throws OsError.
 */
export function setDontFragment(fd: number, family: 4 | 6, df: boolean): void {
  const v = df ? C.IP_PMTUDISC_DO : C.IP_PMTUDISC_DONT;
  if (family === 4) setIntOpt(fd, C.IPPROTO_IP, C.IP_MTU_DISCOVER, v, "IP_MTU_DISCOVER");
  else setIntOpt(fd, C.IPPROTO_IPV6, C.IPV6_MTU_DISCOVER, v, "IPV6_MTU_DISCOVER");
}

/** Reads an int socket option. */
export function getIntOpt(fd: number, level: number, name: number, what: string): number {
  const b = new Uint8Array(new ArrayBuffer(128), 0, 8);
  const len = new Uint8Array(new ArrayBuffer(128), 0, 4);
  new DataView(len.buffer).setUint32(0, 4, true);
  if (libc.getsockopt(fd, level, name, b, len) < 0) {
    throw new OsError(`getsockopt(${what})`, errno());
  }
  return new DataView(b.buffer).getInt32(0, true);
}

/** Creates a non-blocking, close-on-exec socket; throws OsError. */
export function openSocket(domain: number, type: number, protocol: number, what: string): number {
  const fd = libc.socket(domain, type | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, protocol);
  if (fd < 0) throw new OsError(`socket(${what})`, errno());
  return fd;
}

/**
 * Binds `fd` to `ip`/`port` and returns the bound endpoint (with the port the
 * kernel chose for port 0). Closes `fd` and throws on failure.
 */
export function bindSocket(fd: number, family: 4 | 6, ip: Ip16, port: number, what: string) {
  const sa = new Uint8Array(new ArrayBuffer(128), 0, 32);
  const len = writeSockaddr(sa, 0, family, ip, port);
  if (libc.bind(fd, sa, len) < 0) {
    const e = errno();
    closeQuietly(fd);
    throw new OsError(`bind(${what})`, e);
  }
  const out = new Uint8Array(new ArrayBuffer(128), 0, 32);
  const olen = new Uint8Array(new ArrayBuffer(128), 0, 4);
  new DataView(olen.buffer).setUint32(0, 32, true);
  if (libc.getsockname(fd, out, olen) < 0) {
    const e = errno();
    closeQuietly(fd);
    throw new OsError(`getsockname(${what})`, e);
  }
  const got = new Uint8Array(16);
  const p = readSockaddr(out, 0, got);
  return { ip: got, port: p < 0 ? 0 : p };
}
