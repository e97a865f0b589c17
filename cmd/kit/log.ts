/**
 * Logging for the daemons: levels, per-topic debug switches, text or JSON
 * lines on standard error, and rate limiting for messages the network can
 * trigger at will (one peer's garbage must not flood the log): per key (a
 * peer and a reason), and per topic whatever the keys, so many spoofed
 * sources cannot flood it either. A condition that goes on (`repeating`) is
 * reported at doubling intervals, each report saying how often it was seen
 * and when the next one comes, until `resolved`.
 *
 * Text:  `2026-11-21T10:00:00.000Z info  las: SCCRQ from 192.0.2.1 uses Cisco's pre-standard AVPs peer=192.0.2.1`
 * JSON:  `{"ts":"...","level":"info","topic":"las","msg":"...","peer":"192.0.2.1"}`
 *
 * Debug messages are printed when the level is `debug`, or when their topic
 * is listed in `debug:` (then only those topics), so an operator can follow
 * one subsystem without drowning in the others. `kill -USR1` re-reads the
 * config's `log:` section and calls `configure()`.
 *
 * @module
 */

/** Severity, most severe first. */
export type Level = "error" | "warn" | "info" | "debug";
const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Log configuration, as in the `log:` config section. */
export interface LogConfig {
  level: Level;
  format: "text" | "json";
  /** Topics whose debug messages are printed even when level is not debug. */
  debug: string[];
}

/** Structured fields attached to a message. */
export type Fields = Record<string, string | number | boolean | null | undefined>;

/** Where log lines go; tests capture them. */
export type Sink = (line: string) => void;

const encoder = new TextEncoder();
const stderrSink: Sink = (line) => {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr closed: nothing sensible to do, and logging must never crash a daemon
  }
};

/** A logger shared by a daemon; `topic()` makes cheap per-subsystem views. */
export class Logger {
  #cfg: LogConfig;
  #sink: Sink;
  #now: () => number;
  /** key -> [window start ms, count in window, suppressed] */
  #rates = new Map<string, [number, number, number]>();
  /** topic -> [window start ms, rate-limited lines printed in it, suppressed] */
  #topicRates = new Map<string, [number, number, number]>();
  /** Bound on distinct rate-limit keys, so peers cannot grow it without limit. */
  static readonly MAX_RATE_KEYS = 4096;
  /**
   * Most rate-limited lines of one topic per 10 s, whatever their keys: a
   * flood from many (spoofed) sources or ports, each with a fresh key, stays
   * bounded too. What it holds back is counted in one line after the window.
   */
  static readonly TOPIC_PER_WINDOW = 50;
  static readonly TOPIC_WINDOW_MS = 10_000;
  /** key -> a `repeating` condition: since, next print, interval, times seen, not printed */
  #repeats = new Map<
    string,
    { since: number; next: number; interval: number; count: number; held: number }
  >();
  /** The first interval of a `repeating` condition, doubled at each report. */
  static readonly REPEAT_FIRST_MS = 10_000;
  /** The longest interval between reports of a `repeating` condition. */
  static readonly REPEAT_CAP_MS = 300_000;

  constructor(cfg: LogConfig, sink: Sink = stderrSink, now: () => number = Date.now) {
    this.#cfg = { ...cfg, debug: [...cfg.debug] };
    this.#sink = sink;
    this.#now = now;
  }

  /** Replaces the configuration (SIGUSR1). */
  configure(cfg: LogConfig): void {
    this.#cfg = { ...cfg, debug: [...cfg.debug] };
  }

  /** The configuration in force. */
  get config(): LogConfig {
    return { ...this.#cfg, debug: [...this.#cfg.debug] };
  }

  /** Whether a message at `level` in `topic` would be printed (check before building costly text). */
  enabled(level: Level, topic: string): boolean {
    if (RANK[level] <= RANK[this.#cfg.level]) return true;
    return level === "debug" && this.#cfg.debug.includes(topic);
  }

  /** Prints one message if enabled. */
  log(level: Level, topic: string, msg: string, fields?: Fields): void {
    if (!this.enabled(level, topic)) return;
    const ts = new Date(this.#now()).toISOString();
    if (this.#cfg.format === "json") {
      const obj: Record<string, unknown> = { ts, level, topic, msg };
      if (fields) {
        for (const [k, v] of Object.entries(fields)) if (v !== undefined) obj[k] = v;
      }
      this.#sink(JSON.stringify(obj));
      return;
    }
    let line = `${ts} ${level.padEnd(5)} ${topic}: ${msg}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        const s = String(v);
        line += ` ${k}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
      }
    }
    this.#sink(line);
  }

  /**
   * Like `log`, but at most `perWindow` messages per `key` in each window of
   * `windowMs`; the first message after a window with suppressed ones says
   * how many were suppressed. Returns whether it printed.
   */
  limited(
    key: string,
    level: Level,
    topic: string,
    msg: string,
    fields?: Fields,
    perWindow = 5,
    windowMs = 10_000,
  ): boolean {
    if (!this.enabled(level, topic)) return false;
    const now = this.#now();
    let r = this.#rates.get(key);
    if (!r || now - r[0] >= windowMs) {
      const suppressed = r ? r[2] : 0;
      if (!r && this.#rates.size >= Logger.MAX_RATE_KEYS) {
        // Forget the oldest key (Map iterates in insertion order).
        const oldest = this.#rates.keys().next().value;
        if (oldest !== undefined) this.#rates.delete(oldest);
      }
      r = [now, 0, 0];
      this.#rates.delete(key);
      this.#rates.set(key, r);
      if (suppressed > 0) fields = { ...fields, suppressed };
    }
    if (r[1] >= perWindow) {
      r[2]++;
      return false;
    }
    if (!this.#topicAllows(topic, now)) return false;
    r[1]++;
    this.log(level, topic, msg, fields);
    return true;
  }

  /**
   * For a condition that goes on (a peer that keeps refusing, an address
   * that does not answer): printed the first time; while it repeats, printed
   * again only after an interval that doubles each time, from `firstMs` up
   * to `capMs`, saying how many were not printed since and when it will be
   * said next. `resolved(key)` ends the condition (and resets the interval).
   * Keys are bounded like `limited`'s. Returns whether it printed.
   */
  repeating(
    key: string,
    level: Level,
    topic: string,
    msg: string,
    fields?: Fields,
    opts: { firstMs?: number; capMs?: number } = {},
  ): boolean {
    const first = opts.firstMs ?? Logger.REPEAT_FIRST_MS;
    const cap = Math.max(first, opts.capMs ?? Logger.REPEAT_CAP_MS);
    const now = this.#now();
    const r = this.#repeats.get(key);
    if (!r) {
      if (this.#repeats.size >= Logger.MAX_RATE_KEYS) {
        const oldest = this.#repeats.keys().next().value;
        if (oldest !== undefined) this.#repeats.delete(oldest);
      }
      this.#repeats.set(key, { since: now, next: now + first, interval: first, count: 1, held: 0 });
      this.log(level, topic, msg, fields);
      return true;
    }
    r.count++;
    if (now < r.next) {
      r.held++;
      return false;
    }
    const interval = Math.min(r.interval * 2, cap);
    const held = r.held;
    r.interval = interval;
    r.next = now + interval;
    r.held = 0;
    this.log(
      level,
      topic,
      `${msg} (still, ${r.count} times in ${seconds(now - r.since)}` +
        `${held ? `, ${held} not logged` : ""}; next report in ${seconds(interval)} if it goes on)`,
      { ...fields, suppressed: held || undefined },
    );
    return true;
  }

  /**
   * Ends a `repeating` condition; with `msg`, says so at info (with how many
   * times it was seen) when it had been logged. Returns whether it was on.
   */
  resolved(key: string, topic: string, msg?: string, fields?: Fields): boolean {
    const r = this.#repeats.get(key);
    if (!r) return false;
    this.#repeats.delete(key);
    if (msg !== undefined) {
      this.log(
        "info",
        topic,
        `${msg} (after ${r.count} times in ${seconds(this.#now() - r.since)})`,
        fields,
      );
    }
    return true;
  }

  /** The per-topic budget of rate-limited lines (see TOPIC_PER_WINDOW). */
  #topicAllows(topic: string, now: number): boolean {
    let t = this.#topicRates.get(topic);
    if (!t || now - t[0] >= Logger.TOPIC_WINDOW_MS) {
      if (t && t[2] > 0) {
        this.log(
          "warn",
          topic,
          `${t[2]} more rate-limited messages were not logged in the last ` +
            `${Math.round((now - t[0]) / 1000)} s: too many peers or reasons at once`,
          { suppressed: t[2] },
        );
      }
      // Topics are names in the code, not peer data: this map stays small.
      t = [now, 0, 0];
      this.#topicRates.set(topic, t);
    }
    if (t[1] >= Logger.TOPIC_PER_WINDOW) {
      t[2]++;
      return false;
    }
    t[1]++;
    return true;
  }

  /** A view that fixes the topic. */
  topic(name: string): TopicLogger {
    return new TopicLogger(this, name);
  }
}

/** "12 s", "2.5 s", "5 min" for a message. */
function seconds(ms: number): string {
  const s = ms / 1000;
  if (s >= 120 && s % 60 === 0) return `${s / 60} min`;
  return `${Math.round(s * 10) / 10} s`;
}

/** A Logger bound to one topic. */
export class TopicLogger {
  constructor(readonly root: Logger, readonly name: string) {}
  error(msg: string, f?: Fields): void {
    this.root.log("error", this.name, msg, f);
  }
  warn(msg: string, f?: Fields): void {
    this.root.log("warn", this.name, msg, f);
  }
  info(msg: string, f?: Fields): void {
    this.root.log("info", this.name, msg, f);
  }
  debug(msg: string, f?: Fields): void {
    this.root.log("debug", this.name, msg, f);
  }
  /** Whether debug messages of this topic are printed. */
  get debugging(): boolean {
    return this.root.enabled("debug", this.name);
  }
  /** Rate-limited message, see `Logger.limited`. */
  limited(key: string, level: Level, msg: string, f?: Fields): boolean {
    return this.root.limited(`${this.name}:${key}`, level, this.name, msg, f);
  }
  /**
   * A condition that goes on, reported at doubling intervals; see `Logger.repeating`.
   *
   * @example
   * ```ts
   * import { Logger } from "./log.ts";
   * const log = new Logger({ level: "info", format: "text", debug: [] }).topic("node");
   * // on every failed attempt (every 3 s): printed at 0, 10, 30, 70 s... at most every 5 min
   * log.repeating("refused", "warn", "the supernode refused this node: add its key to members");
   * // when it works again:
   * log.resolved("refused", "registered with the supernode");
   * ```
   */
  repeating(
    key: string,
    level: Level,
    msg: string,
    f?: Fields,
    opts?: { firstMs?: number; capMs?: number },
  ): boolean {
    return this.root.repeating(`${this.name}:${key}`, level, this.name, msg, f, opts);
  }
  /** Ends a condition reported with `repeating`; see `Logger.resolved`. */
  resolved(key: string, msg?: string, f?: Fields): boolean {
    return this.root.resolved(`${this.name}:${key}`, this.name, msg, f);
  }
}
