/**
 * In-memory twins of the `ffi/` devices, for testing daemons and `core/`
 * wiring without root, namespaces or time: `MemFrameDevice` (a TAP/TUN),
 * `MemNet` + `MemTransport` (UDP or raw IP sockets on a virtual network),
 * and a lossy mode with a seeded PRNG (drop / duplicate / reorder rates) so
 * a failing run replays exactly from its seed.
 *
 * Same contracts as the real ones (`ffi/types.ts`): receive buffers are
 * owned by the twin and reused by the next receive; sends copy; receives
 * return 0 when nothing is queued; everything is synchronous and happens in
 * call order. Like wireguard-go's tuntest and bindtest.
 *
 * Bounds: every inbox holds at most `queueLimit` packets (default 4096);
 * overflow is dropped and counted.
 *
 * Not emulated: IP headers on raw IPv4 receive (offset is always 0), MTU
 * enforcement beyond the slot size, ICMP errors.
 *
 * @module
 */
import { formatEndpoint, type Ip16, isV4, parseIp } from "../../core/addr.ts";
import type {
  DatagramBatch,
  DatagramTransport,
  Endpoint,
  FrameBatch,
  FrameDevice,
} from "../../ffi/types.ts";

/** Seeded PRNG (mulberry32): returns floats in [0, 1). Same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EMSGSIZE = 90;

/** Options of a `MemFrameDevice`. */
export interface MemFrameOptions {
  name?: string;
  mode?: "tap" | "tun";
  mtu?: number;
  /** Frames per read() (default 64). */
  batch?: number;
  /** Most frames waiting to be read (default 4096). */
  queueLimit?: number;
  /** Free bytes before and after each receive slot, as `openTap` lays them out (default 0). */
  headroom?: number;
  tailroom?: number;
}

/** A TAP/TUN twin: `inject()` what the kernel would deliver, inspect what was written. */
export class MemFrameDevice implements FrameDevice {
  readonly fd = -1;
  readonly name: string;
  readonly mode: "tap" | "tun";
  readonly mtu: number;
  readonly rx: FrameBatch;
  /** Copies of every frame written, oldest first (see `takeWritten()`). */
  written: Uint8Array[] = [];
  /** Called with each written frame (a copy), e.g. to wire devices together. */
  onWrite: ((frame: Uint8Array) => void) | null = null;
  readonly stats = { injected: 0, overflow: 0, written: 0, read: 0 };
  closed = false;
  readonly #inbox: Uint8Array[] = [];
  readonly #limit: number;
  readonly #slot: number;

  constructor(opts: MemFrameOptions = {}) {
    this.name = opts.name ?? "memtap0";
    this.mode = opts.mode ?? "tap";
    this.mtu = opts.mtu ?? 1500;
    this.#limit = opts.queueLimit ?? 4096;
    this.#slot = Math.max(2048, this.mtu + 64);
    const batch = opts.batch ?? 64;
    const headroom = opts.headroom ?? 0, tailroom = opts.tailroom ?? 0;
    const stride = headroom + this.#slot + tailroom;
    const mem = new ArrayBuffer(stride * batch);
    this.rx = {
      capacity: batch,
      count: 0,
      bufs: Array.from(
        { length: batch },
        (_, i) => new Uint8Array(mem, i * stride + headroom, this.#slot),
      ),
      lens: new Int32Array(batch),
      headroom,
      tailroom,
    };
  }

  /** Queues a frame to be read (copied). False when the inbox is full (counted). */
  inject(frame: Uint8Array): boolean {
    if (this.#inbox.length >= this.#limit) {
      this.stats.overflow++;
      return false;
    }
    this.#inbox.push(frame.slice(0, this.#slot));
    this.stats.injected++;
    return true;
  }

  /** Frames waiting to be read. */
  get pending(): number {
    return this.#inbox.length;
  }

  read(): number {
    if (this.closed) throw new Error(`read(${this.name}): device closed`);
    let n = 0;
    while (n < this.rx.capacity && this.#inbox.length > 0) {
      const f = this.#inbox.shift()!;
      this.rx.bufs[n].set(f);
      this.rx.lens[n++] = f.length;
    }
    this.rx.count = n;
    this.stats.read += n;
    return n;
  }

  write(frame: Uint8Array): number {
    if (this.closed) throw new Error(`write(${this.name}): device closed`);
    if (frame.length > this.#slot) return EMSGSIZE;
    const copy = frame.slice();
    this.written.push(copy);
    this.stats.written++;
    this.onWrite?.(copy);
    return 0;
  }

  /** Returns and forgets the frames written so far. */
  takeWritten(): Uint8Array[] {
    const w = this.written;
    this.written = [];
    return w;
  }

  close(): void {
    this.closed = true;
  }
}

/** Connects two frame twins like a cable: what one writes, the other reads. */
export function wireFrames(a: MemFrameDevice, b: MemFrameDevice): void {
  a.onWrite = (f) => b.inject(f);
  b.onWrite = (f) => a.inject(f);
}

/** Impairments applied to every datagram a `MemNet` carries. Rates are in [0, 1]. */
export interface LinkProfile {
  /** Probability a datagram is lost. */
  drop?: number;
  /** Probability a delivered datagram arrives twice. */
  duplicate?: number;
  /** Probability a datagram is held back and delivered after the next one to the same endpoint. */
  reorder?: number;
}

interface Datagram {
  data: Uint8Array;
  src: Ip16;
  srcPort: number;
  dst: Ip16;
}

/** Options of `MemNet`. */
export interface MemNetOptions {
  /** Seed of the impairment PRNG (default 1). */
  seed?: number;
  /** Impairments (default none). */
  link?: LinkProfile;
}

/**
 * A virtual IP network of `MemTransport`s. A datagram sent to ip:port lands
 * in the transport bound to exactly that, or to the unspecified address of
 * the same family with that port (a dual-stack `::` bind also takes IPv4).
 * The net has no notion of hosts: a wildcard bind takes every datagram to
 * its port that no exact bind claims.
 *
 * @example
 * ```ts
 * import { MemNet } from "./twins.ts";
 * const net = new MemNet({ seed: 7, link: { drop: 0.1 } });
 * const a = net.open("10.0.0.1", 4789), b = net.open("10.0.0.2", 4789);
 * a.send(new Uint8Array([1]), b.local);
 * const n = b.recv(); // 1, or 0 when the PRNG dropped it
 * if (n + net.stats.dropped !== 1) throw new Error("neither delivered nor dropped");
 * ```
 */
export class MemNet {
  readonly stats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    unreachable: 0,
  };
  link: LinkProfile;
  readonly #rand: () => number;
  readonly #bound = new Map<string, MemTransport>();
  readonly #held = new Map<MemTransport, Datagram[]>();
  #nextPort = 40000;

  constructor(opts: MemNetOptions = {}) {
    this.#rand = seededRandom(opts.seed ?? 1);
    this.link = opts.link ?? {};
  }

  /** Binds a transport at `ip`:`port` (port 0: the next free one from 40000; raw IP: use port 0 and `raw`). */
  open(
    ip: string | Ip16,
    port = 0,
    opts: { batch?: number; slotSize?: number; queueLimit?: number; raw?: boolean } = {},
  ): MemTransport {
    let addr: Ip16;
    if (typeof ip === "string") {
      const r = parseIp(ip);
      if (!r.ok) throw new Error(`Cannot parse address: ${r.reason}`);
      addr = r.value;
    } else {
      addr = ip.slice();
    }
    let p = port;
    if (p === 0 && !opts.raw) {
      while (this.#bound.has(formatEndpoint({ ip: addr, port: this.#nextPort }))) this.#nextPort++;
      p = this.#nextPort++;
    }
    const key = formatEndpoint({ ip: addr, port: p });
    if (this.#bound.has(key)) throw new Error(`Cannot bind ${key}: address in use`);
    const t = new MemTransport(this, { ip: addr, port: p }, opts);
    this.#bound.set(key, t);
    return t;
  }

  /** @internal Unbinds a transport (its close()). */
  unbind(t: MemTransport): void {
    this.#bound.delete(formatEndpoint(t.local));
    this.#held.delete(t);
  }

  #find(to: Endpoint): MemTransport | undefined {
    const exact = this.#bound.get(formatEndpoint(to));
    if (exact) return exact;
    const any = new Uint8Array(16);
    if (isV4(to.ip)) any[10] = any[11] = 0xff;
    return this.#bound.get(formatEndpoint({ ip: any, port: to.port })) ??
      // A dual-stack [::] socket also takes IPv4.
      (isV4(to.ip)
        ? this.#bound.get(formatEndpoint({ ip: new Uint8Array(16), port: to.port }))
        : undefined);
  }

  /** @internal Carries one datagram (already copied) through the impairments. */
  carry(d: Datagram, to: Endpoint): void {
    this.stats.sent++;
    const dest = this.#find(to);
    if (!dest) {
      this.stats.unreachable++;
      return;
    }
    const l = this.link;
    if (l.drop && this.#rand() < l.drop) {
      this.stats.dropped++;
      return;
    }
    if (l.reorder && this.#rand() < l.reorder) {
      const h = this.#held.get(dest) ?? [];
      h.push(d);
      this.#held.set(dest, h);
      this.stats.reordered++;
      return;
    }
    this.#deliver(dest, d);
    if (l.duplicate && this.#rand() < l.duplicate) {
      this.stats.duplicated++;
      this.#deliver(dest, { ...d, data: d.data.slice() });
    }
    const held = this.#held.get(dest);
    if (held && held.length > 0) {
      this.#held.delete(dest);
      for (const x of held) this.#deliver(dest, x);
    }
  }

  #deliver(dest: MemTransport, d: Datagram): void {
    if (dest.enqueue(d)) this.stats.delivered++;
  }

  /** Delivers every held-back (reordered) datagram now. */
  releaseHeld(): void {
    const all = [...this.#held.entries()];
    this.#held.clear();
    for (const [dest, list] of all) for (const d of list) this.#deliver(dest, d);
  }
}

/** A UDP (or raw IP, port 0) socket twin on a `MemNet`. */
export class MemTransport implements DatagramTransport {
  readonly fd = -1;
  readonly local: Endpoint;
  readonly rx: DatagramBatch;
  readonly stats = { received: 0, sent: 0, overflow: 0, truncated: 0 };
  closed = false;
  readonly #net: MemNet;
  readonly #inbox: Datagram[] = [];
  readonly #limit: number;
  readonly #slot: number;
  #queued: { data: Uint8Array; to: Endpoint; from: Ip16 | null }[] = [];

  constructor(
    net: MemNet,
    local: Endpoint,
    opts: { batch?: number; slotSize?: number; queueLimit?: number } = {},
  ) {
    this.#net = net;
    this.local = local;
    this.#limit = opts.queueLimit ?? 4096;
    this.#slot = opts.slotSize ?? 16384;
    const batch = opts.batch ?? 64;
    this.rx = {
      capacity: batch,
      count: 0,
      bufs: Array.from({ length: batch }, () => new Uint8Array(this.#slot)),
      lens: new Int32Array(batch),
      offsets: new Int32Array(batch),
      src: Array.from({ length: batch }, () => new Uint8Array(16)),
      srcPort: new Uint16Array(batch),
      dst: Array.from({ length: batch }, () => new Uint8Array(16)),
      ifindex: new Int32Array(batch),
      truncated: new Uint8Array(batch),
    };
  }

  /** @internal Called by the net. False when the inbox is full (counted). */
  enqueue(d: Datagram): boolean {
    if (this.closed || this.#inbox.length >= this.#limit) {
      this.stats.overflow++;
      return false;
    }
    this.#inbox.push(d);
    return true;
  }

  /** Datagrams waiting to be received. */
  get pending(): number {
    return this.#inbox.length;
  }

  recv(): number {
    if (this.closed) throw new Error(`recv(${formatEndpoint(this.local)}): transport closed`);
    const rx = this.rx;
    let n = 0;
    while (n < rx.capacity && this.#inbox.length > 0) {
      const d = this.#inbox.shift()!;
      const len = Math.min(d.data.length, this.#slot);
      rx.bufs[n].set(d.data.subarray(0, len));
      rx.lens[n] = len;
      rx.offsets[n] = 0;
      rx.truncated[n] = len < d.data.length ? 1 : 0;
      if (rx.truncated[n]) this.stats.truncated++;
      rx.src[n].set(d.src);
      rx.srcPort[n] = d.srcPort;
      rx.dst[n].set(d.dst);
      rx.ifindex[n] = 1;
      n++;
    }
    rx.count = n;
    this.stats.received += n;
    return n;
  }

  send(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number {
    if (this.closed) throw new Error(`send(${formatEndpoint(this.local)}): transport closed`);
    if (data.length > this.#slot) return EMSGSIZE;
    // A real kernel picks a source for an unspecified bind; the twin reports the bind address.
    const src = from ? from.slice() : this.local.ip.slice();
    this.stats.sent++;
    this.#net.carry(
      { data: data.slice(), src, srcPort: this.local.port, dst: to.ip.slice() },
      { ip: to.ip, port: to.port },
    );
    return 0;
  }

  queue(data: Uint8Array, to: Endpoint, from?: Ip16 | null): number {
    if (data.length > this.#slot) return EMSGSIZE;
    this.#queued.push({
      data: data.slice(),
      to: { ip: to.ip.slice(), port: to.port },
      from: from?.slice() ?? null,
    });
    return this.#queued.length >= this.rx.capacity ? this.flush() : 0;
  }

  flush(): number {
    const q = this.#queued;
    this.#queued = [];
    for (const m of q) this.send(m.data, m.to, m.from);
    return 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#net.unbind(this);
  }
}
