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
 * is seen by the next poll.
 *
 * A handler that throws: without an `onError` hook it stops the loop and
 * `run()` rejects with that error after closing everything. With the hook
 * (every daemon sets one, through cmd/kit/contain.ts) the error is
 * contained: the hook hears it, the loop goes on. This is the backstop:
 * daemons contain errors per packet inside their handlers, so what reaches
 * the loop is a failure outside any one packet. A handler that fails again
 * and again must not spin the CPU: a readable handler that throws is done
 * for that wakeup, and from its second failure in a row its fd leaves the
 * poll set for a hold-off that doubles per failure (2 ms, 4 ms, ... at most
 * `MAX_HOLD_MS`, 1 s); a throwing `onDeadline` is not called again before
 * the same hold-off, and neither is one that returns with its deadline
 * still due (a timer that contained its own error and so never moves: it
 * would spin just the same). One call that returns (and, for the
 * deadline, moves it) resets the count. So a handler
 * that always throws costs about one call a second, and its fd's data waits
 * in the socket buffer (or drops there) meanwhile.
 *
 * The pollfd array lives in an Arena held by the loop (rule 1 and 3,
 * libc.ts): the worker thread reads and writes it while JS runs, so JS does
 * not touch it until the poll returns; registrations made meanwhile are
 * applied before the next poll.
 *
 * `wait: "inline"` polls on the JS thread itself, beside the runtime's own
 * epoll fds (`runtimeEpollFds()`), and gives the runtime an event-loop turn
 * when its epoll is ready (an API request, a signal, a worker-thread
 * result), every `sliceMs` while packets flow, and every `idleYieldMs` at
 * rest (JavaScript timers, which no fd announces): an idle loop wakes twice
 * a second, not a hundred times (docs/ffi.md, "Two ways to wait").
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

/**
 * Hears an error a handler threw (see the module doc): `source` says which
 * kind, `fd` which registration (-1 for the deadline), `consecutive` how
 * many times in a row that handler has now failed. An error the hook
 * itself throws stops the loop.
 */
export type LoopErrorHook = (
  err: unknown,
  source: "readable" | "deadline",
  fd: number,
  consecutive: number,
) => void;

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
   * (about 0.4 ms median here). "inline": `poll()` on the JS thread itself
   * (and on the runtime's epoll), with an event-loop turn for the HTTP API,
   * signals and timers when the runtime's I/O is ready, every `sliceMs`
   * while busy and every `idleYieldMs` at rest; a packet wakes the thread
   * that handles it (about 0.04 ms). For daemons whose JS thread is there
   * for the data path: JavaScript timers beside it run up to `idleYieldMs`
   * late at rest.
   */
  wait?: "worker" | "inline";
  /**
   * "inline": while busy (packets handled or runtime work seen within the
   * last `activeMs`), the longest the JS thread goes without an event-loop
   * turn, ms (default 10).
   */
  sliceMs?: number;
  /**
   * "inline": at rest, the longest the JS thread blocks without an
   * event-loop turn, ms (default 1000). Only JavaScript timers need it (the
   * runtime's I/O, signals and worker-thread results wake the poll through
   * `runtimeFds`): a timer may fire this much late while nothing happens.
   */
  idleYieldMs?: number;
  /** "inline": how long after the last packet or runtime turn the loop counts as busy, ms (default 100). */
  activeMs?: number;
  /**
   * "inline": the runtime's own epoll fds, polled beside ours so that I/O
   * for the runtime (an HTTP request, a signal, a worker-thread call's
   * result) ends the block at once with a turn. Default: found with
   * `runtimeEpollFds()`; [] falls back to a turn every `sliceMs`, busy or not.
   */
  runtimeFds?: readonly number[];
  /** Contains handler errors (see the module doc); absent: a handler error stops the loop. */
  onError?: LoopErrorHook;
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
  /** "inline" wait: of those, turns taken because the runtime had I/O ready (`runtimeFds`). */
  runtimeYields: number;
  /** Readable handler calls that threw (contained by `onError`). */
  handlerErrors: number;
  /** onDeadline calls that threw (contained by `onError`). */
  deadlineErrors: number;
  /** onDeadline calls after which the deadline was still due (held off like a failure). */
  deadlineStuck: number;
  /** Hold-offs started for a handler failing again and again (an fd out of the poll set, or the deadline). */
  holds: number;
}

interface Reg {
  fd: number;
  onReadable: ReadyHandler;
  onClose?: () => void;
  /** A handler result below this is a short batch: drained (1: only 0 is). */
  batch: number;
  /** Failures in a row (contained errors). */
  fails: number;
  /** While failing again and again: out of the poll set until this clock() time; 0: polled. */
  holdUntil: number;
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
/** Most runtime epoll fds an "inline" loop polls beside its own. */
const MAX_RUNTIME_FDS = 8;
/** "inline": how long after a turn the runtime's I/O asked for the loop turns every millisecond. */
const FOLLOW_MS = 4;

/**
 * The fds of this process's epoll instances (`anon_inode:[eventpoll]` in
 * /proc/self/fd): the Deno runtime's I/O driver (tokio's, through mio) and
 * its duplicates. The driver registers every socket the runtime serves (the
 * HTTP API), its signal pipe and its wakeup eventfd (a worker-thread call's
 * result, a message from a worker) there, and an epoll fd is readable while
 * its ready list is not empty: so while the JS thread blocks in `poll()` on
 * these beside its own fds, anything the runtime must handle ends the block.
 * Polling them reads nothing: the runtime still collects its events itself.
 * One fd per instance (duplicates list the same registrations in
 * /proc/self/fdinfo). [] when /proc cannot be read (no --allow-read). In a
 * process with several runtimes (Workers; `deno test` has three) the
 * others' epolls are listed too: their readiness costs a turn, not
 * correctness. At most `MAX_RUNTIME_FDS` (8) are polled.
 */
export function runtimeEpollFds(): number[] {
  const fds: number[] = [];
  // Duplicates of one instance (mio keeps one) list the same registrations: one of them is enough.
  const seen = new Set<string>();
  try {
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      const fd = Number(e.name);
      try {
        if (Deno.readLinkSync(`/proc/self/fd/${fd}`) !== "anon_inode:[eventpoll]") continue;
        const regs = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`).split("\n")
          .filter((l) => l.startsWith("tfd:")).join("\n");
        if (regs !== "" && seen.has(regs)) continue;
        seen.add(regs);
        fds.push(fd);
      } catch {
        // closed meanwhile (the directory's own fd)
      }
    }
  } catch {
    return [];
  }
  return fds.sort((a, b) => a - b);
}

/** Longest hold-off of a handler that keeps failing (see the module doc). */
export const MAX_HOLD_MS = 1000;

/** The hold-off after `fails` failures in a row: none after one, then 2, 4, ... MAX_HOLD_MS. */
export function holdMs(fails: number): number {
  return fails < 2 ? 0 : Math.min(MAX_HOLD_MS, 2 ** Math.min(fails - 1, 10));
}

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
    runtimeYields: 0,
    handlerErrors: 0,
    deadlineErrors: 0,
    deadlineStuck: 0,
    holds: 0,
  };
  readonly #nextDeadline: () => number;
  readonly #onDeadline: (now: number) => void;
  readonly #clock: () => number;
  readonly #budget: number;
  readonly #maxFds: number;
  readonly #inline: boolean;
  readonly #sliceMs: number;
  readonly #idleYieldMs: number;
  readonly #activeMs: number;
  /** "inline": the runtime's epoll fds, after ours in the pollfd array. */
  readonly #runtimeFds: readonly number[];
  readonly #onError: LoopErrorHook | null;
  /** onDeadline failures in a row, and the hold-off that follows them (clock() time; 0: none). */
  #deadlineFails = 0;
  #deadlineHold = 0;
  /** Registrations held out of the poll set (holdUntil > 0). */
  #held = 0;
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
    this.#idleYieldMs = Math.max(this.#sliceMs, opts.idleYieldMs ?? 1000);
    this.#activeMs = opts.activeMs ?? 100;
    this.#runtimeFds = this.#inline
      ? (opts.runtimeFds ?? runtimeEpollFds()).slice(0, MAX_RUNTIME_FDS)
      : [];
    this.#onError = opts.onError ?? null;
    this.#arena = new Arena((this.#maxFds + 1 + MAX_RUNTIME_FDS) * POLLFD);
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
    this.#regs.push({ fd, onReadable, onClose, batch, fails: 0, holdUntil: 0 });
    this.#dirty = true;
    this.wake();
  }

  /** Unregisters `fd` without closing it. */
  remove(fd: number): void {
    for (const r of this.#regs) if (r.fd === fd && r.holdUntil > 0) this.#held--;
    this.#regs = this.#regs.filter((r) => r.fd !== fd);
    this.#dirty = true;
    this.wake();
  }

  /** Interrupts a poll in progress (e.g. after a timer was moved earlier). */
  wake(): void {
    if (this.#eventfd >= 0) libc.write(this.#eventfd, this.#wakeBuf, size(8));
  }

  /**
   * Runs until `close()`, or until a handler throws without an `onError`
   * hook (then rejects). Call once.
   */
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
    // "inline": when packets or runtime work were last seen; whether the runtime's fds were
    // ready at the last inline poll, and whether the last turn was taken for that.
    let lastActive = now;
    let runtimeReady = false;
    let lastTurnRuntime = false;
    let lastRuntimeTurn = -Infinity;
    const rt = this.#runtimeFds.length;
    try {
      while (!this.#closing) {
        // Held fds whose hold-off is over go back into the poll set; the next one
        // to come back bounds the poll timeout like a deadline.
        let resume = Infinity;
        if (this.#held > 0) resume = this.#resume(now);
        if (this.#dirty) this.#rebuild();
        let deadline = this.#nextDeadline();
        if (this.#deadlineHold > deadline) deadline = this.#deadlineHold;
        if (deadline <= now) {
          this.stats.deadlines++;
          const due = now;
          const ok = this.#deadline(due);
          now = this.#clock();
          deadline = this.#nextDeadline();
          if (ok) {
            if (deadline <= due && this.#onError !== null) {
              // Still due at the time it ran for: the timer did not move (e.g. it contained
              // its own error). Held off like a failure, so it cannot spin.
              this.stats.deadlineStuck++;
              this.#holdDeadline(due);
            } else {
              this.#deadlineFails = 0;
              this.#deadlineHold = 0;
            }
          }
          if (this.#deadlineHold > deadline) deadline = this.#deadlineHold;
        }
        if (resume < deadline) deadline = resume;
        const timeout = deadline === Infinity
          ? -1
          : deadline <= now
          ? 0
          : Math.min(MAX_TIMEOUT, Math.ceil(deadline - now));
        const nfds = this.#polled.length + 1;
        let n: number;
        let yielded = false;
        let turnDue = !this.#inline;
        let cap = 0;
        if (this.#inline) {
          // Busy (packets or runtime work lately): a turn every slice. At rest: a turn only when
          // the runtime has I/O ready, or after idleYieldMs for the JavaScript timers.
          cap = rt === 0 || now - lastActive < this.#activeMs ? this.#sliceMs : this.#idleYieldMs;
          // Shortly after a turn the runtime's I/O asked for, a turn every millisecond: what
          // that I/O started may continue on the runtime's own run queue (a response being
          // written), which no fd announces.
          if (rt > 0 && now - lastRuntimeTurn < FOLLOW_MS) cap = 1;
          turnDue = runtimeReady || now - lastYield >= cap;
        }
        if (!turnDue) {
          // Block on the JS thread itself, at most until the next turn is due. The runtime's
          // fds are polled too, except within a millisecond of a turn they caused (so a
          // runtime that stays ready costs at most a turn per millisecond, not a spin).
          let left = Math.max(0, Math.ceil(cap - (now - lastYield)));
          const withRt = rt > 0 && !(lastTurnRuntime && now - lastYield < 1);
          if (rt > 0 && !withRt) left = Math.min(left, 1);
          n = libc.poll(
            this.#arena.ptr,
            size(withRt ? nfds + rt : nfds),
            timeout < 0 ? left : Math.min(timeout, left),
          );
          if (withRt && n > 0) {
            for (let i = 0; i < rt; i++) {
              if (v.getInt16((nfds + i) * POLLFD + 6, true) !== 0) runtimeReady = true;
            }
          }
        } else {
          // The worker-thread poll. In "inline" mode it is the event-loop turn, with a zero
          // timeout: the runtime parks while the worker answers, so the HTTP API, signals and
          // timers progress (a timer turn costs about 2 ms here; this one 0.1-0.4 ms), and
          // its result is this iteration's readiness check.
          n = await libc.poll_wait(this.#arena.ptr, size(nfds), this.#inline ? 0 : timeout);
          if (this.#inline) {
            this.stats.yields++;
            yielded = true;
            lastTurnRuntime = runtimeReady;
            if (runtimeReady) {
              this.stats.runtimeYields++;
              runtimeReady = false;
            }
          }
        }
        // The one clock read of this wakeup (until the work is more than a lone packet's).
        now = this.#clock();
        if (yielded) {
          lastYield = now;
          if (lastTurnRuntime) lastActive = lastRuntimeTurn = now;
        }
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
        if (ready.length > 0) {
          lastActive = now;
          if (!this.#drain(ready, now)) now = this.#clock();
        }
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
        const reg = ready[i];
        let got: number;
        try {
          got = reg.onReadable(now);
        } catch (e) {
          // Rethrown without a hook; else contained, and this fd is done for the wakeup.
          this.#failed(reg, e, now);
          spent[i] = -1;
          active--;
          continue;
        }
        if (reg.fails !== 0) reg.fails = 0;
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

  /** A readable handler threw: rethrown without a hook; else counted, held off, reported. */
  #failed(reg: Reg, e: unknown, now: number): void {
    if (this.#onError === null) throw e;
    this.stats.handlerErrors++;
    const fails = ++reg.fails;
    const hold = holdMs(fails);
    if (hold > 0 && !this.#closing) {
      if (reg.holdUntil === 0) this.#held++;
      reg.holdUntil = now + hold;
      this.stats.holds++;
      this.#dirty = true;
    }
    this.#onError(e, "readable", reg.fd, fails);
  }

  /**
   * Calls onDeadline; true when it returned (the caller then checks that the
   * deadline moved). A throw is rethrown without a hook, else contained and
   * held off.
   */
  #deadline(now: number): boolean {
    try {
      this.#onDeadline(now);
    } catch (e) {
      if (this.#onError === null) throw e;
      this.stats.deadlineErrors++;
      this.#onError(e, "deadline", -1, this.#holdDeadline(now));
      return false;
    }
    return true;
  }

  /** One more deadline failure in a row: the hold-off after it; returns the count. */
  #holdDeadline(now: number): number {
    const fails = ++this.#deadlineFails;
    const hold = holdMs(fails);
    // Even a first failure waits a millisecond: a deadline left in the past must not spin.
    this.#deadlineHold = now + Math.max(1, hold);
    if (hold > 0) this.stats.holds++;
    return fails;
  }

  /** Puts back held registrations whose hold-off ended; returns the next end still ahead. */
  #resume(now: number): number {
    let next = Infinity;
    for (const r of this.#regs) {
      if (r.holdUntil === 0) continue;
      if (r.holdUntil <= now) {
        r.holdUntil = 0;
        this.#held--;
        this.#dirty = true;
      } else if (r.holdUntil < next) next = r.holdUntil;
    }
    return next;
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
      // A held fd stays in its slot with fd -1: poll() skips it (revents 0).
      const r = this.#polled[i];
      v.setInt32(off, r.holdUntil > 0 ? -1 : r.fd, true);
      v.setInt16(off + 4, C.POLLIN, true);
      v.setInt16(off + 6, 0, true);
    }
    for (let i = 0; i < this.#runtimeFds.length; i++) {
      const off = (this.#polled.length + 1 + i) * POLLFD;
      v.setInt32(off, this.#runtimeFds[i], true);
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
