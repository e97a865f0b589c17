/**
 * Reliable delivery of control messages for one control connection:
 * sequence numbers, acknowledgements, receive window, retransmission
 * (RFC 3931 section 4.2; the mechanism is RFC 2661 section 5.8 and its
 * Appendix A, which RFC 3931 keeps).
 *
 * - Ns: 16-bit number of every non-ZLB message we send, from 0, +1 mod 2^16.
 *   A ZLB carries the next Ns but does not consume it.
 * - Nr: the next Ns we expect from the peer; every message we send carries
 *   it, and it acknowledges everything the peer sent before it.
 * - Comparison is modulo 2^16: `a` is before `b` when `(b - a) mod 2^16` is
 *   in 1..32767.
 * - A received message with Ns == Nr is delivered (and any held messages
 *   that now follow it); an older Ns is a duplicate, dropped but
 *   acknowledged again (our ack was lost); a newer Ns within our receive
 *   window is held until the gap fills, beyond it dropped.
 * - At most `peerWindow` unacknowledged messages are in flight (the peer's
 *   Receive Window Size AVP, 4 when absent); more wait in a bounded queue.
 * - The oldest unacknowledged message arms a timer: 1 s, then doubling to
 *   an 8 s cap; on expiry everything in flight is sent again with the
 *   current Nr; after `maxRetransmits` unanswered rounds the channel is dead
 *   and the caller tears the connection down.
 * - An acknowledgement is owed after every delivered message; it rides on
 *   the next message we send, or after `ackDelayMs` becomes a ZLB.
 *
 * ```
 *  send(body) --> [queue] --window open--> [in flight] --Nr covers it--> gone
 *                                              |  ^
 *                               timer expires  v  | retransmit, back off
 *                                        retries > max --> dead
 * ```
 *
 * Sans-IO: `receive`, `send` and `poll` take `now` (ms) and append to an
 * outbox the caller drains with `takeOutgoing()`; `nextDeadline()` says
 * when to call `poll` again. The channel does not encode: bodies are
 * opaque, the caller writes the header with the Ns/Nr it is given.
 *
 * Not done: the slow-start / congestion avoidance of RFC 2661 Appendix A
 * (we fill the peer's window at once); per-message retransmission timers
 * (one timer for the whole window, like most implementations).
 *
 * @module
 */

/** Tunables; the defaults are RFC 3931's recommendations and Cisco's defaults. */
export interface ReliableConfig {
  /** How many out-of-order messages we hold; also what we announce as Receive Window Size. */
  receiveWindow: number;
  /** First retransmission timeout, ms. */
  rtoInitialMs: number;
  /** Retransmission timeout cap, ms. */
  rtoMaxMs: number;
  /** Retransmission rounds before the peer is declared dead. */
  maxRetransmits: number;
  /** Messages waiting for the peer's window (bound; `send` refuses beyond it). */
  maxQueued: number;
  /** Delay before a lone acknowledgement is sent as a ZLB, ms (0: at the end of the call). */
  ackDelayMs: number;
  /** First Ns we send (RFC: 0; other values test wrap-around). */
  firstNs: number;
  /** First Ns we expect from the peer (RFC: 0). */
  firstNr: number;
}

/** RFC-recommended defaults: 1 s doubling to 8 s, 5 retransmissions, window 8. */
export const DEFAULT_RELIABLE: ReliableConfig = {
  receiveWindow: 8,
  rtoInitialMs: 1000,
  rtoMaxMs: 8000,
  maxRetransmits: 5,
  maxQueued: 256,
  ackDelayMs: 0,
  firstNs: 0,
  firstNr: 0,
};

/** Peer window when the Receive Window Size AVP is absent (RFC 3931 section 5.4.3). */
export const DEFAULT_PEER_WINDOW = 4;

/** One message to put on the wire: `body` null is a ZLB. */
export interface Transmission<T> {
  ns: number;
  nr: number;
  body: T | null;
  /** True when this is a retransmission. */
  retransmit: boolean;
}

/** What happened to a received message's sequence number. */
export type ReceiveVerdict =
  | "delivered"
  | "zlb"
  | "duplicate"
  | "held"
  | "already_held"
  | "out_of_window";

/** Counters, all monotonically increasing. */
export interface ReliableCounters {
  sent: number;
  retransmitted: number;
  zlbSent: number;
  delivered: number;
  duplicates: number;
  held: number;
  outOfWindow: number;
  badNr: number;
  queueFull: number;
}

/** `(b - a) mod 2^16`: how far `b` is ahead of `a`. */
export function seqDistance(a: number, b: number): number {
  return (b - a) & 0xffff;
}

/**
 * True when sequence number `a` comes before `b` (mod 2^16, half-range rule).
 *
 * @example
 * ```ts
 * import { seqBefore } from "./reliable_channel.ts";
 * seqBefore(65535, 0); // true
 * seqBefore(0, 65535); // false
 * ```
 */
export function seqBefore(a: number, b: number): boolean {
  const d = seqDistance(a, b);
  return d !== 0 && d < 0x8000;
}

/** The Ns/Nr engine of one control connection. `T` is the message body type. */
export class ReliableChannel<T> {
  readonly config: ReliableConfig;
  /** Ns the next new message will get. */
  private nextNs = 0;
  /** Next Ns expected from the peer (what we send as Nr). */
  private expected = 0;
  /** Peer's receive window: max messages in flight. */
  private peerWindow = DEFAULT_PEER_WINDOW;
  /** Sent, not yet acknowledged, in Ns order. Bounded by `peerWindow`. */
  private inFlight: { ns: number; body: T }[] = [];
  /** Waiting for window space. Bounded by `config.maxQueued`. */
  private queue: T[] = [];
  /** Out-of-order messages held by Ns. Bounded by `config.receiveWindow`. */
  private held = new Map<number, T>();
  private rtoDeadline = Infinity;
  private retries = 0;
  private ackDeadline = Infinity;
  private outbox: Transmission<T>[] = [];
  private deadFlag = false;
  private readonly copy: (body: T) => T;
  /** Counters for this channel. */
  readonly counters: ReliableCounters = {
    sent: 0,
    retransmitted: 0,
    zlbSent: 0,
    delivered: 0,
    duplicates: 0,
    held: 0,
    outOfWindow: 0,
    badNr: 0,
    queueFull: 0,
  };

  /**
   * @param copy makes a body safe to keep past the call (bodies usually view
   *   the caller's receive buffer); used for held out-of-order messages.
   */
  constructor(config: Partial<ReliableConfig> = {}, copy: (body: T) => T = (b) => b) {
    this.config = { ...DEFAULT_RELIABLE, ...config };
    this.nextNs = this.config.firstNs & 0xffff;
    this.expected = this.config.firstNr & 0xffff;
    this.copy = copy;
  }

  /** True once retransmissions were exhausted: the peer is gone. */
  get dead(): boolean {
    return this.deadFlag;
  }

  /** The Nr we would send now. */
  get nr(): number {
    return this.expected;
  }

  /** The Ns the next new message will carry. */
  get ns(): number {
    return this.nextNs;
  }

  /** True when nothing is in flight or queued. */
  get allAcked(): boolean {
    return this.inFlight.length === 0 && this.queue.length === 0;
  }

  /** The oldest message sent and not yet acknowledged (what a dead peer left unanswered). */
  get oldestUnacked(): T | undefined {
    return this.inFlight[0]?.body;
  }

  /** Sets the peer's window from its Receive Window Size AVP (0 or absent: 4). */
  setPeerWindow(size: number | undefined, now: number): void {
    this.peerWindow = size && size > 0 ? size : DEFAULT_PEER_WINDOW;
    this.pump(now);
  }

  /**
   * Queues a message for reliable delivery; it goes out at once when the
   * peer's window has room. Returns false (and counts) when the queue is full.
   */
  send(body: T, now: number): boolean {
    if (this.deadFlag) return false;
    if (this.queue.length >= this.config.maxQueued) {
      this.counters.queueFull++;
      return false;
    }
    this.queue.push(body);
    this.pump(now);
    return true;
  }

  /**
   * Processes the Ns/Nr of a received message (`body` null for a ZLB) and
   * returns the verdict and the bodies now deliverable in order (the
   * received one, then any held ones it unblocked).
   */
  receive(
    ns: number,
    nr: number,
    body: T | null,
    now: number,
  ): { verdict: ReceiveVerdict; deliver: T[] } {
    this.ack(nr, now);
    if (body === null) return { verdict: "zlb", deliver: [] };
    const d = seqDistance(this.expected, ns);
    if (d === 0) {
      const deliver: T[] = [body];
      this.expected = (this.expected + 1) & 0xffff;
      while (this.held.has(this.expected)) {
        deliver.push(this.held.get(this.expected) as T);
        this.held.delete(this.expected);
        this.expected = (this.expected + 1) & 0xffff;
      }
      this.counters.delivered += deliver.length;
      this.owe(now + this.config.ackDelayMs);
      return { verdict: "delivered", deliver };
    }
    if (d >= 0x8000) {
      // Older than expected: the peer did not see our ack. Ack again, now.
      this.counters.duplicates++;
      this.owe(now);
      return { verdict: "duplicate", deliver: [] };
    }
    if (d < this.config.receiveWindow) {
      if (this.held.has(ns)) return { verdict: "already_held", deliver: [] };
      this.held.set(ns, this.copy(body));
      this.counters.held++;
      return { verdict: "held", deliver: [] };
    }
    this.counters.outOfWindow++;
    return { verdict: "out_of_window", deliver: [] };
  }

  /** Timers: retransmission and delayed acknowledgement. Call at `nextDeadline()`. */
  poll(now: number): void {
    if (this.deadFlag) return;
    if (now >= this.rtoDeadline && this.inFlight.length > 0) {
      if (this.retries >= this.config.maxRetransmits) {
        this.deadFlag = true;
        this.rtoDeadline = Infinity;
        this.ackDeadline = Infinity;
        return;
      }
      this.retries++;
      for (const m of this.inFlight) {
        this.outbox.push({ ns: m.ns, nr: this.expected, body: m.body, retransmit: true });
        this.counters.retransmitted++;
      }
      this.ackDeadline = Infinity;
      this.rtoDeadline = now + this.rto();
    }
    if (now >= this.ackDeadline) {
      this.outbox.push({ ns: this.nextNs, nr: this.expected, body: null, retransmit: false });
      this.counters.zlbSent++;
      this.ackDeadline = Infinity;
    }
  }

  /** Earliest time `poll` has work; `Infinity` when idle. */
  nextDeadline(): number {
    if (this.deadFlag) return Infinity;
    return Math.min(this.rtoDeadline, this.ackDeadline);
  }

  /** Drains what must be sent, in order. */
  takeOutgoing(): Transmission<T>[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /**
   * Drops everything queued and in flight and stops retransmission (the
   * connection is closing). Acknowledgements keep working: a closed
   * connection still acks a retransmitted StopCCN (RFC 3931 section 3.3.2).
   */
  stop(): void {
    this.inFlight = [];
    this.queue = [];
    this.held.clear();
    this.rtoDeadline = Infinity;
    this.retries = 0;
  }

  /**
   * Changes the retransmission timer (e.g. a StopCCN at shutdown, retried
   * every 250 ms instead of backing off from 1 s); the running timer is
   * re-armed from the last send.
   */
  setTimer(initialMs: number, maxMs: number): void {
    const c = this.config as { rtoInitialMs: number; rtoMaxMs: number };
    c.rtoInitialMs = initialMs;
    c.rtoMaxMs = maxMs;
  }

  private rto(): number {
    return Math.min(this.config.rtoInitialMs * 2 ** this.retries, this.config.rtoMaxMs);
  }

  private owe(at: number): void {
    if (at < this.ackDeadline) this.ackDeadline = at;
  }

  /** Applies a received Nr: frees acknowledged messages, restarts the timer. */
  private ack(nr: number, now: number): void {
    const base = this.inFlight.length > 0 ? this.inFlight[0].ns : this.nextNs;
    const acked = seqDistance(base, nr);
    if (acked > seqDistance(base, this.nextNs)) {
      this.counters.badNr++; // acknowledges something we never sent
      return;
    }
    if (acked === 0) return;
    this.inFlight.splice(0, acked);
    this.retries = 0;
    this.rtoDeadline = this.inFlight.length > 0 ? now + this.rto() : Infinity;
    this.pump(now);
  }

  /** Moves queued messages into flight while the peer's window has room. */
  private pump(now: number): void {
    while (this.queue.length > 0 && this.inFlight.length < this.peerWindow && !this.deadFlag) {
      const body = this.queue.shift()!;
      const ns = this.nextNs;
      this.nextNs = (this.nextNs + 1) & 0xffff;
      this.inFlight.push({ ns, body });
      this.outbox.push({ ns, nr: this.expected, body, retransmit: false });
      this.counters.sent++;
      this.ackDeadline = Infinity; // the ack rides on this message
      if (this.rtoDeadline === Infinity) this.rtoDeadline = now + this.rto();
    }
  }
}
