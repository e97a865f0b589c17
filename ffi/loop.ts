/**
 * The readiness loop: one `poll()` per wakeup, run on a worker thread
 * (`nonblocking: true`) so the JS thread stays free and timers and promises
 * keep running while we wait; then every ready fd is drained with
 * synchronous, non-blocking batch calls until it reports nothing more, in
 * round-robin passes with a per-fd budget so one busy fd cannot starve the
 * others.
 *
 * ```
 *   ┌──────────────► compute timeout from nextDeadline()
 *   │                       │
 *   │             await poll(fds + eventfd, timeout)   (worker thread)
 *   │                       │
 *   │   eventfd ready? ── read it (wake() / close())
 *   │                       │
 *   │   round-robin: call each ready handler once per pass,
 *   │   until it returns 0 or its budget is spent
 *   │                       │
 *   └──────────── onDeadline(now) when the deadline has passed
 * ```
 *
 * Clock reads: one when a poll returns, handed to the handlers and, when
 * the wakeup handled at most `STALE_OK_PACKETS` packets in one pass (a lone
 * packet: tens of microseconds of work), reused for the next deadline
 * check and poll timeout; after more work, or after `onDeadline`, the clock
 * is read again. A deadline is thus late by at most that little work (on
 * top of poll()'s millisecond rounding up); "packets" are what handlers
 * report, so a handler whose one packet is costly (a TAP read of a 64 KiB
 * TSO frame: tens of segments) may delay the next deadline by that much.
 *
 * Handlers are level-triggered: a handler that stops at its budget is
 * called again after the next (immediate) poll. A handler registered with
 * a `batch` size that returns fewer than that has drained its fd (a short
 * batch: the read met EAGAIN) and is not called again in this pass, which
 * saves the empty read that would say so; anything that arrives meanwhile
 * is seen by the next poll. A handler that throws stops the loop; `run()`
 * then rejects with that error after closing everything.
 *
 * The pollfd array lives in an Arena held by the loop (rule 1 and 3,
 * libc.ts): the worker thread reads and writes it while JS runs, so JS does
 * not touch it until the poll returns; registrations made meanwhile are
 * applied before the next poll.
 *
 * Not done here: write readiness (sends drop on EAGAIN and are counted),
 * epoll, signals.
 *
 * @module
 */
import { Arena, C, closeQuietly, E, errno, libc, OsError, size } from "./libc.ts";

/**
 * Handles one readable fd: receives one batch, processes it, returns how
 * many packets it handled (0 when the fd had nothing: drained). `now` is
 * `clock()` read once when the poll returned (one read per wakeup, not one
 * per handler; re-read for each further round-robin pass); a handler may
 * ignore it.
 */
export type ReadyHandler = (now: number) => number;

/** How to build an IoLoop. */
export interface LoopOptions {
  /** Next timer deadline in `clock()` milliseconds; Infinity when idle. */
  nextDeadline?: () => number;
  /** Called with `clock()` once the deadline has passed. */
  onDeadline?: (now: number) => void;
  /** Monotonic milliseconds. Default `performance.now()`. */
  clock?: () => number;
  /** Most packets one fd may handle per wakeup (default 1024). */
  budget?: number;
  /** Most fds (default 64). */
  maxFds?: number;
  /**
   * How to wait for readiness. "worker" (default): `poll()` on Deno's
   * worker thread, the JS thread stays free; each wakeup crosses threads
   * (about 0.4 ms median here). "inline": `poll()` on the JS thread itself,
   * for at most `sliceMs`, then one event-loop turn for timers, signals and
   * the HTTP API; a packet wakes the thread that handles it (about 0.04 ms).
   * For daemons whose JS thread is there for the data path.
   */
  wait?: "worker" | "inline";
  /** "inline": the longest the JS thread blocks before yielding, ms (default 10). */
  sliceMs?: number;
}

/** Counters of one loop. */
export interface LoopStats {
  /** poll() calls that returned. */
  wakeups: number;
  /** poll() calls that failed (errno is not readable from the worker thread). */
  pollErrors: number;
  /** Handler calls. */
  handlerCalls: number;
  /** Packets handlers reported. */
  packets: number;
  /** Times an fd stopped at its budget with data left. */
  budgetHits: number;
  /** onDeadline calls. */
  deadlines: number;
  /** "inline" wait: event-loop turns given to timers, signals and the API. */
  yields: number;
}

interface Reg {
  fd: number;
  onReadable: ReadyHandler;
  onClose?: () => void;
  /** A handler result below this is a short batch: drained (1: only 0 is). */
  batch: number;
}

const POLLFD = 8;
const MAX_TIMEOUT = 0x7fff_ffff;
const MAX_POLL_ERRORS = 100;
/**
 * Most packets a wakeup may handle (in one round-robin pass) for its
 * post-poll clock read to be reused for the next timeout; more work: read
 * again (see the module doc).
 */
const STALE_OK_PACKETS = 2;

/**
 * @example
 * ```ts
 * import { IoLoop } from "./loop.ts";
 * import { openUdp } from "./udp.ts";
 * const sock = openUdp({ bind: "127.0.0.1:0" });
 * const loop = new IoLoop({ nextDeadline: () => Infinity });
 * loop.add(sock.fd, () => { // a UDP echo server
 *   const n = sock.recv();
 *   for (let i = 0; i < n; i++) {
 *     const from = { ip: sock.rx.src[i], port: sock.rx.srcPort[i] };
 *     sock.queue(sock.rx.bufs[i].subarray(0, sock.rx.lens[i]), from);
 *   }
 *   sock.flush();
 *   return n;
 * }, () => sock.close());
 * const done = loop.run();
 * // ... later: a client's datagram comes back (waiting at most 30 s)
 * const client = openUdp({ bind: "127.0.0.1:0" });
 * client.send(new Uint8Array([1, 2, 3]), sock.local);
 * let echoed = 0;
 * for (let i = 0; i < 3000 && echoed === 0; i++) {
 *   await new Promise((r) => setTimeout(r, 10));
 *   echoed = client.recv();
 * }
 * client.close();
 * await loop.close();
 * await done;
 * if (echoed !== 1) throw new Error("no echo");
 * ```
 */
export class IoLoop {
  readonly stats: LoopStats = {
    wakeups: 0,
    pollErrors: 0,
    handlerCalls: 0,
    packets: 0,
    budgetHits: 0,
    deadlines: 0,
    yields: 0,
  };
  readonly #nextDeadline: () => number;
  readonly #onDeadline: (now: number) => void;
  readonly #clock: () => number;
  readonly #budget: number;
  readonly #maxFds: number;
  readonly #inline: boolean;
  readonly #sliceMs: number;
  /** pollfd[0] is the eventfd, then one per registration; held for the worker thread. */
  readonly #arena: Arena;
  readonly #wakeBuf = new Uint8Array(new ArrayBuffer(128), 0, 8);
  readonly #drainBuf = new Uint8Array(new ArrayBuffer(128), 0, 8);
  #eventfd: number;
  #regs: Reg[] = [];
  /** Registrations in pollfd order (index + 1), rebuilt between polls. */
  #polled: Reg[] = [];
  /** Per wakeup: the ready registrations and what each handled; reused, maxFds long. */
  readonly #ready: Reg[] = [];
  readonly #spent: Int32Array;
  #dirty = true;
  #closing = false;
  #closed = false;
  #running: Promise<void> | null = null;

  constructor(opts: LoopOptions = {}) {
    this.#nextDeadline = opts.nextDeadline ?? (() => Infinity);
    this.#onDeadline = opts.onDeadline ?? (() => {});
    this.#clock = opts.clock ?? (() => performance.now());
    this.#budget = opts.budget ?? 1024;
    this.#maxFds = opts.maxFds ?? 64;
    this.#inline = opts.wait === "inline";
    this.#sliceMs = opts.sliceMs ?? 10;
    this.#arena = new Arena((this.#maxFds + 1) * POLLFD);
    this.#spent = new Int32Array(this.#maxFds);
    this.#eventfd = libc.eventfd(0, C.EFD_NONBLOCK | C.EFD_CLOEXEC);
    if (this.#eventfd < 0) throw new OsError("eventfd", errno());
    new DataView(this.#wakeBuf.buffer).setBigUint64(0, 1n, true);
  }

  /**
   * Registers `fd`; `onClose` runs when the loop closes (e.g. to close the
   * device). `batch`: the most packets one handler call takes (its receive
   * batch); a call that returns fewer has drained the fd (see the module
   * doc). Default 1: the handler is called until it returns 0.
   */
  add(fd: number, onReadable: ReadyHandler, onClose?: () => void, batch = 1): void {
    if (this.#closing) throw new Error("Cannot add fd: loop is closing");
    if (fd < 0) throw new RangeError(`Cannot add fd ${fd}: not an open fd`);
    if (this.#regs.some((r) => r.fd === fd)) throw new Error(`Cannot add fd ${fd}: already added`);
    if (this.#regs.length >= this.#maxFds) {
      throw new Error(`Cannot add fd ${fd}: loop holds at most ${this.#maxFds} fds`);
    }
    if (!(batch >= 1 && Number.isInteger(batch))) {
      throw new RangeError(`Cannot add fd ${fd}: batch must be an integer of at least 1`);
    }
    this.#regs.push({ fd, onReadable, onClose, batch });
    this.#dirty = true;
    this.wake();
  }

  /** Unregisters `fd` without closing it. */
  remove(fd: number): void {
    this.#regs = this.#regs.filter((r) => r.fd !== fd);
    this.#dirty = true;
    this.wake();
  }

  /** Interrupts a poll in progress (e.g. after a timer was moved earlier). */
  wake(): void {
    if (this.#eventfd >= 0) libc.write(this.#eventfd, this.#wakeBuf, size(8));
  }

  /** Runs until `close()`, or until a handler throws (then rejects). Call once. */
  run(): Promise<void> {
    if (this.#running) throw new Error("Cannot run loop: already running");
    if (this.#closed) throw new Error("Cannot run loop: closed");
    this.#running = this.#run();
    return this.#running;
  }

  async #run(): Promise<void> {
    const v = this.#arena.view;
    let pollErrors = 0;
    // The current time for the deadline check and the timeout: fresh, or the
    // post-poll read of a wakeup with little work since (see the module doc).
    let now = this.#clock();
    let lastYield = now;
    try {
      while (!this.#closing) {
        if (this.#dirty) this.#rebuild();
        let deadline = this.#nextDeadline();
        if (deadline <= now) {
          this.stats.deadlines++;
          this.#onDeadline(now);
          now = this.#clock();
          deadline = this.#nextDeadline();
        }
        const timeout = deadline === Infinity
          ? -1
          : deadline <= now
          ? 0
          : Math.min(MAX_TIMEOUT, Math.ceil(deadline - now));
        const nfds = this.#polled.length + 1;
        let n: number;
        let yielded = false;
        if (this.#inline && now - lastYield < this.#sliceMs) {
          // Block on the JS thread itself, at most until the slice ends.
          const left = Math.max(0, Math.ceil(this.#sliceMs - (now - lastYield)));
          n = libc.poll(this.#arena.ptr, size(nfds), timeout < 0 ? left : Math.min(timeout, left));
        } else {
          // The worker-thread poll. In "inline" mode it is the once-per-slice
          // event-loop turn, with a zero timeout: the runtime parks while the
          // worker answers, so the HTTP API, signals and timers progress
          // (a timer turn costs about 2 ms here; this one 0.1-0.4 ms), and
          // its result is this iteration's readiness check.
          n = await libc.poll_wait(this.#arena.ptr, size(nfds), this.#inline ? 0 : timeout);
          if (this.#inline) {
            this.stats.yields++;
            yielded = true;
          }
        }
        // The one clock read of this wakeup (until the work is more than a lone packet's).
        now = this.#clock();
        if (yielded) lastYield = now;
        this.stats.wakeups++;
        if (this.#closing) break;
        if (n < 0) {
          this.stats.pollErrors++;
          if (++pollErrors >= MAX_POLL_ERRORS) {
            throw new Error(`poll failed ${MAX_POLL_ERRORS} times in a row`);
          }
          continue;
        }
        pollErrors = 0;
        if (n === 0) continue;
        if (v.getInt16(6, true) !== 0) this.#drainEventfd();
        const ready = this.#ready;
        ready.length = 0;
        for (let i = 0; i < this.#polled.length; i++) {
          const revents = v.getInt16((i + 1) * POLLFD + 6, true);
          if (revents === 0) continue;
          const reg = this.#polled[i];
          // Removed while the poll ran: its fd may be closed or even reused.
          if (this.#dirty && !this.#regs.includes(reg)) continue;
          if (revents & C.POLLNVAL) throw new OsError(`poll(fd ${reg.fd})`, E.EBADF);
          ready.push(reg);
        }
        if (ready.length > 0 && !this.#drain(ready, now)) now = this.#clock();
      }
    } finally {
      this.#shutdown();
    }
  }

  /**
   * Calls the ready handlers, `now` for the first pass, a fresh clock read
   * for each further one. True when the work was light enough for `now` to
   * stand for the current time still (see STALE_OK_PACKETS).
   */
  #drain(ready: Reg[], now: number): boolean {
    const spent = this.#spent;
    spent.fill(0, 0, ready.length);
    let active = ready.length;
    let passes = 0;
    let handled = 0;
    // Each pass calls every active handler once; a handler leaves when it
    // returns 0 or a short batch, or spends its budget. Bounded: budget *
    // fds calls at most.
    while (active > 0 && !this.#closing) {
      if (passes++ > 0) now = this.#clock();
      for (let i = 0; i < ready.length; i++) {
        if (spent[i] < 0) continue;
        this.stats.handlerCalls++;
        const got = ready[i].onReadable(now);
        handled += got;
        this.stats.packets += got;
        if (got < ready[i].batch) {
          spent[i] = -1;
          active--;
        } else if ((spent[i] += got) >= this.#budget) {
          this.stats.budgetHits++;
          spent[i] = -1;
          active--;
        }
      }
    }
    return passes <= 1 && handled <= STALE_OK_PACKETS;
  }

  #drainEventfd(): void {
    libc.read(this.#eventfd, this.#drainBuf, size(8));
  }

  #rebuild(): void {
    const v = this.#arena.view;
    v.setInt32(0, this.#eventfd, true);
    v.setInt16(4, C.POLLIN, true);
    v.setInt16(6, 0, true);
    this.#polled = [...this.#regs];
    for (let i = 0; i < this.#polled.length; i++) {
      const off = (i + 1) * POLLFD;
      v.setInt32(off, this.#polled[i].fd, true);
      v.setInt16(off + 4, C.POLLIN, true);
      v.setInt16(off + 6, 0, true);
    }
    this.#dirty = false;
  }

  #shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    const regs = this.#regs;
    this.#regs = [];
    this.#polled = [];
    for (const r of regs) {
      try {
        r.onClose?.();
      } catch {
        // A failing close must not keep the other fds open or hide run()'s error.
      }
    }
    closeQuietly(this.#eventfd);
    this.#eventfd = -1;
  }

  /**
   * Stops the loop (interrupting a poll in progress), runs every `onClose`,
   * closes the eventfd. Resolves when the loop has stopped; never rejects
   * (the error of a failed loop is `run()`'s). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    if (this.#running) {
      this.wake();
      try {
        await this.#running;
      } catch {
        // reported by run()
      }
    } else {
      this.#shutdown();
    }
  }
}
