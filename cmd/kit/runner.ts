/**
 * The runner: the one place a daemon's event loop is wired. A role hands
 * it its parts — the fds to watch, each with its handler and its name for
 * the containment counters, the engine's `poll(now)` and `nextDeadline()`,
 * and its start and stop hooks — and the runner owns the rest:
 *
 * - the clock (`performance.now()`, monotonic ms): the loop reads it once
 *   per wakeup and hands that `now` to every handler of the wakeup and to
 *   `poll`; the deadline is asked for again only after work (ffi/loop.ts);
 * - the fds: registered with their receive batch size, closed by the loop
 *   when it closes (after the last handler call, never under one);
 * - containment: a handler or `poll` that throws is counted and logged
 *   through `ctx.contain.loopHook()` under the fd's name (`timer` for
 *   `poll`), and held off if it keeps failing; the daemon keeps serving;
 * - the runtime's turns (ffi/loop.ts, "inline"): the loop blocks in
 *   `poll()` on the JS thread beside the runtime's own epoll, so an API
 *   request or a signal ends the block with an event-loop turn at once;
 *   while packets flow it also yields every 10 ms, and at rest once a second
 *   (for JavaScript timers), so an idle daemon does not wake otherwise;
 * - shutdown: the role's `stop(now)` hook runs, then, if the role has a
 *   `stopped(now)` (las and xconnect: their StopCCNs are retransmitted and
 *   acknowledged), the loop keeps running until it says true (asked at the
 *   loop's deadlines, every 20 ms at least), and only then closes and the
 *   fds with it.
 *
 * Signals, the management API, logs and config reload stay in
 * kit/daemon.ts, which calls the role's `stop()` and `reload()`; the role
 * calls `runner.stop()` from its `stop()`.
 *
 * @module
 */

import { IoLoop, type LoopStats, type ReadyHandler } from "../../ffi/loop.ts";
import type { DaemonContext } from "./daemon.ts";

/** One fd the runner watches. */
export interface Watch {
  fd: number;
  /** Its name in the containment counters and logs (`udp`, `ip`, `tap`). */
  name: string;
  /** Handles what is readable at `now`; returns how many packets it took. */
  onReadable: ReadyHandler;
  /** Closes the fd; called once, when the loop closes. */
  close: () => void;
  /** The most packets one call takes (its receive batch); default 1 (see IoLoop.add). */
  batch?: number;
}

/** A role's parts, as the runner takes them. */
export interface RunnerParts {
  watch: readonly Watch[];
  /** The engine's next deadline, in clock() ms; Infinity when idle. */
  nextDeadline(): number;
  /** Runs the engine's timers once their deadline has passed. */
  poll(now: number): void;
  /** Called once before the loop runs (e.g. the first handshake); the loop is then woken. */
  start?(now: number): void;
  /** Called first by `stop()` (e.g. send StopCCN, save state). */
  stop?(now: number): void;
  /** When given, `stop()` keeps the loop running until it returns true. */
  stopped?(now: number): boolean;
}

/**
 * Runs a role's loop.
 *
 * @example
 * ```ts ignore
 * const runner = new Runner(ctx, {
 *   watch: [{ fd: udp.fd, name: "udp", onReadable: (now) => io.onSocketReadable(now), close: () => udp.close() }],
 *   nextDeadline: () => engine.nextDeadline(),
 *   poll: (now) => engine.poll(now),
 * });
 * // ... in the role's stop():
 * await runner.stop();
 * ```
 */
export class Runner {
  /** The daemon's clock: monotonic ms, the one every engine call is given. */
  readonly clock: () => number = () => performance.now();
  readonly #loop: IoLoop;
  readonly #parts: RunnerParts;
  readonly #running: Promise<void>;
  /** Why the loop no longer serves (stopping, failed), or null while it runs. */
  #down: string | null = null;
  /** While stopping with a `stopped()` hook: when to ask it next (clock ms); else Infinity. */
  #stopCheck = Infinity;
  /** Resolves stop()'s wait once `stopped()` said true. */
  #onStopped: (() => void) | null = null;

  constructor(ctx: Pick<DaemonContext, "fatal" | "contain">, parts: RunnerParts) {
    this.#parts = parts;
    const names: Record<number, string> = {};
    for (const w of parts.watch) names[w.fd] = w.name;
    this.#loop = new IoLoop({
      wait: "inline",
      clock: this.clock,
      nextDeadline: () => {
        const d = parts.nextDeadline();
        return this.#stopCheck < d ? this.#stopCheck : d;
      },
      onDeadline: (now) => this.#onDeadline(now),
      onError: ctx.contain.loopHook(names),
    });
    for (const w of parts.watch) this.#loop.add(w.fd, w.onReadable, w.close, w.batch);
    if (parts.start) {
      parts.start(this.clock());
      this.#loop.wake();
    }
    this.#running = this.#loop.run().catch((e) => {
      this.#down = `event loop failed: ${(e as Error).message}`;
      ctx.fatal(this.#down);
    });
  }

  /** The loop's counters (wakeups, handler calls, yields...). */
  get stats(): LoopStats {
    return this.#loop.stats;
  }

  /** Makes the loop ask for the deadline again now (it moved outside a handler). */
  wake(): void {
    this.#loop.wake();
  }

  /**
   * Null while the loop runs with its fds open; else why not ("stopping",
   * "event loop failed: ..."). The management endpoint's `/health`.
   */
  health(): string | null {
    return this.#down;
  }

  /** The loop's deadline: the engine's timers, and while stopping, the `stopped()` check. */
  #onDeadline(now: number): void {
    if (this.#stopCheck <= now) {
      if (this.#parts.stopped!(now)) {
        this.#stopCheck = Infinity;
        this.#onStopped?.();
        void this.#loop.close(); // ends the loop at its next iteration; stop() awaits it
        return;
      }
      this.#stopCheck = now + STOP_CHECK_MS;
    }
    if (this.#parts.nextDeadline() <= now) this.#parts.poll(now);
  }

  /** Runs the stop hook, waits for `stopped()` if given, then closes the loop and its fds. */
  async stop(): Promise<void> {
    this.#down ??= "stopping";
    this.#parts.stop?.(this.clock());
    if (this.#parts.stopped) {
      // The loop keeps running: it retransmits and reads the acknowledgements, and asks
      // stopped() at its deadlines (every STOP_CHECK_MS at least), so no JavaScript timer
      // (which an inline loop at rest runs late) is involved.
      const done = new Promise<void>((r) => this.#onStopped = r);
      this.#stopCheck = this.clock();
      this.#loop.wake(); // the stop hook's deadlines (a StopCCN's retransmission) are new
      await Promise.race([done, this.#running]);
    }
    await this.#loop.close();
    await this.#running;
  }
}

/** While stopping: how often `stopped()` is asked at least, ms. */
const STOP_CHECK_MS = 20;
