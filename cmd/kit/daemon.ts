/**
 * The daemon kit: what every long-running subcommand (supernode, node, las,
 * xconnect) shares.
 *
 * - Loads its config section (exit 2 on a config error, before anything starts).
 *   A management endpoint off loopback without a token is such an error.
 * - Logging from the config's `log:` section.
 * - The management endpoint (`/status`, `/metrics`, `/capture` for the roles
 *   that offer capture points: `DaemonSpec.capture`), with a bearer token if set.
 *   It is bound first, before the daemon's `start()` makes any device, socket or
 *   peer contact: a taken port is refused (exit 1) with a message naming `--api`
 *   and the config key (kit/oserror.ts), and nothing has to be undone. Until
 *   `start()` returns, /status answers `"state": "starting"`.
 * - Signals: SIGUSR1 re-reads the config's `log:` section (and keeps the
 *   debugger Deno would open on SIGUSR1 closed: see inspector_guard.ts); SIGHUP reloads what
 *   the daemon can reload (and the log section); SIGTERM/SIGINT stop cleanly
 *   (the daemon's own `stop()`, e.g. StopCCN to every peer), then exit 0. A
 *   second SIGTERM/SIGINT during shutdown exits at once with code 1.
 * - A runtime failure while starting, or reported later through `fatal`,
 *   exits with code 1 and one log line saying why.
 * - Containment (kit/contain.ts): `contain` counts and logs, rate-limited,
 *   what a handler throws on one packet; the daemon goes on. The kit wraps
 *   its signal handlers and the management endpoint in it, and after start
 *   catches any uncaught error or unhandled rejection (`handler="uncaught"`)
 *   instead of letting it end the process. /metrics has
 *   `l2_packet_errors_total`, /status `packet_errors`.
 *
 * @module
 */
import { ConfigError, formatHostPort, type HostPort } from "./config.ts";
import { apiExposure, type ApiServer, serveApi, SHORT_TOKEN } from "./api.ts";
import { type LogConfig, Logger, type TopicLogger } from "./log.ts";
import { MetricsWriter } from "./metrics.ts";
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from "./exit.ts";
import { VERSION } from "./version.ts";
import { guardInspector } from "./inspector_guard.ts";
import { Containment } from "./contain.ts";
import { inUseMessage } from "./oserror.ts";
import { CaptureHub, type CapturePoint } from "../../core/capture.ts";
import { captureMetrics } from "./capture_stream.ts";

/** What a daemon's config loader returns. */
export interface DaemonConfig<C> {
  file: string | null;
  name: string;
  config: C;
  log: LogConfig;
  api: HostPort | null;
  apiToken: string | null;
}

/** What the kit gives a daemon. */
export interface DaemonContext {
  log: Logger;
  /** Call on an unrecoverable runtime failure: the daemon stops and exits 1. */
  fatal(reason: string): void;
  /** Counts and logs what a handler throws on one packet (kit/contain.ts). */
  contain: Containment;
  /** Live captures (`GET /capture`, core/capture.ts): the engine offers frames while `on`. */
  capture: CaptureHub;
}

/** A started daemon. */
export interface DaemonInstance<C> {
  /** Role-specific status fields (merged into /status). */
  status(): Record<string, unknown>;
  /** Role-specific metrics. */
  metrics(w: MetricsWriter): void;
  /** Null while the role serves (its loop runs, its sockets are open), else why not (/health). */
  health?(): string | null;
  /** Applies a re-read config (SIGHUP); returns one line per change or refusal to log. */
  reload?(config: C): Promise<string[]> | string[];
  /** Stops cleanly (SIGTERM/SIGINT). */
  stop(reason: string): Promise<void>;
}

/** A daemon as the kit runs it. */
export interface DaemonSpec<C> {
  role: string;
  load(): Promise<DaemonConfig<C>>;
  /**
   * Every check the daemon makes before it opens anything (keys parsed, key
   * and secret files read, the state directory's ownership, addresses of the
   * right family), without creating or opening anything; throws a
   * ConfigError (exit 2). Returns the effective configuration as the daemon
   * will use it (defaults filled, e.g. the state directory and key paths),
   * which `--check-config` prints. The kit runs it before the management
   * endpoint is bound, so `--check-config` and the daemon refuse the same
   * configurations with the same exit code.
   */
  check?(cfg: DaemonConfig<C>): Record<string, unknown> | Promise<Record<string, unknown>>;
  start(ctx: DaemonContext, cfg: DaemonConfig<C>): Promise<DaemonInstance<C>>;
  /** The capture points the role's engine offers (`l2 capture`); absent: none, no /capture. */
  capture?: readonly CapturePoint[];
}

/** Runs a daemon until it is stopped; returns the exit code. */
export async function runDaemon<C>(spec: DaemonSpec<C>): Promise<number> {
  let cfg: DaemonConfig<C>;
  try {
    cfg = await spec.load();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`l2 ${spec.role}: ${e.message}`);
      return EXIT_USAGE;
    }
    throw e;
  }
  // Again here for daemons whose load() is not loadDaemon: before anything starts.
  const exposed = apiExposure(cfg.api, cfg.apiToken, `${spec.role}.${cfg.name}`);
  if (exposed !== null) {
    console.error(`l2 ${spec.role}: ${exposed}`);
    return EXIT_USAGE;
  }
  try {
    await spec.check?.(cfg);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`l2 ${spec.role}: ${e.message}`);
      return EXIT_USAGE;
    }
    throw e;
  }
  const log = new Logger(cfg.log);
  const kit = log.topic(spec.role);
  const started = Date.now();
  let reloads = 0;
  let reloadErrors = 0;
  let fatalReason: string | null = null;
  let wake!: () => void;
  const stopRequested = new Promise<void>((r) => wake = r);
  let stopSignal = "";
  const contain = new Containment(spec.role, kit);
  // One reading of both clocks: capture timestamps are the wall clock of the loop's `now`.
  const capture = new CaptureHub({
    points: spec.capture ?? [],
    wallOffset: Date.now() - performance.now(),
  });
  const ctx: DaemonContext = {
    log,
    contain,
    capture,
    fatal(reason) {
      if (fatalReason === null) fatalReason = reason;
      wake();
    },
  };

  // Set once the daemon has started; /status and /metrics answer "starting" before.
  let inst: DaemonInstance<C> | null = null;

  const status = () => ({
    role: spec.role,
    version: VERSION,
    name: cfg.name,
    config_file: cfg.file,
    pid: Deno.pid,
    runningat: new Date(started).toISOString(),
    uptime_s: Math.round((Date.now() - started) / 1000),
    ...(inst ? inst.status() : { state: "starting" }),
    packet_errors: contain.status(),
  });
  const metrics = () => {
    const w = new MetricsWriter();
    w.gauge("l2_build_info", "l2 version and role of this daemon", 1, {
      version: VERSION,
      role: spec.role,
    });
    w.gauge("l2_uptime_seconds", "seconds since the daemon started", (Date.now() - started) / 1000);
    w.counter("l2_config_reloads_total", "configuration reloads (SIGHUP, SIGUSR1)", reloads);
    w.counter("l2_config_reload_errors_total", "reloads refused for a config error", reloadErrors);
    contain.metrics(w);
    if (spec.capture) captureMetrics(w, capture);
    inst?.metrics(w);
    return w.render();
  };

  let api: ApiServer | null = null;
  if (cfg.api) {
    if (cfg.apiToken !== null && cfg.apiToken.length < SHORT_TOKEN) {
      kit.warn(
        `api_token has ${cfg.apiToken.length} characters: short enough to guess; ` +
          `use ${SHORT_TOKEN} or more (e.g. openssl rand -base64 24)`,
      );
    }
    try {
      api = serveApi(cfg.api, {
        status,
        metrics,
        health: () => {
          if (fatalReason !== null) return `stopping: ${fatalReason}`;
          if (stopSignal) return `stopping: ${stopSignal} received`;
          if (!inst) return "starting";
          return inst.health ? inst.health() : null;
        },
        onError: (e) => contain.packet("api", e),
        ...(spec.capture ? { capture } : {}),
      }, cfg.apiToken);
      kit.info(`management endpoint on http://${formatHostPort(api.addr)}`, {
        auth: cfg.apiToken ? "bearer" : "none",
      });
    } catch (e) {
      // Before anything else started: no device made, no socket open, no peer contacted.
      const target = formatHostPort(cfg.api);
      kit.error(
        inUseMessage(e, {
          what: "the management endpoint",
          target,
          flag: "--api",
          key: `${spec.role}.${cfg.name}.api`,
          proto: "tcp",
        }) ?? `cannot serve the management endpoint on ${target}: ${(e as Error).message}`,
      );
      return EXIT_RUNTIME;
    }
  }

  let running: DaemonInstance<C>;
  try {
    running = await spec.start(ctx, cfg);
  } catch (e) {
    kit.error(`cannot start: ${(e as Error).message}`);
    capture.closeAll();
    await api?.close();
    return e instanceof ConfigError ? EXIT_USAGE : EXIT_RUNTIME;
  }
  inst = running;

  const reread = async (which: "SIGUSR1" | "SIGHUP") => {
    let next: DaemonConfig<C>;
    try {
      next = await spec.load();
    } catch (e) {
      reloadErrors++;
      kit.error(`${which}: config not reloaded, keeping the running one: ${(e as Error).message}`);
      return;
    }
    reloads++;
    log.configure(next.log);
    kit.info(`${which}: log configuration re-read`, {
      level: next.log.level,
      format: next.log.format,
      debug: next.log.debug.join(",") || undefined,
    });
    if (which === "SIGHUP") {
      if (!running.reload) {
        kit.info("SIGHUP: nothing else is reloadable in this daemon");
      } else {
        try {
          for (const line of await running.reload(next.config)) kit.info(`SIGHUP: ${line}`);
          cfg = { ...cfg, config: next.config, log: next.log };
        } catch (e) {
          reloadErrors++;
          kit.error(`SIGHUP: reload failed: ${(e as Error).message}`);
        }
      }
    }
    if (next.api?.port !== cfg.api?.port || next.api?.host !== cfg.api?.host) {
      kit.warn("the management endpoint address changed: it takes effect at restart");
    }
  };

  const guard = guardInspector(kit);
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGUSR1", () => {
      guard.afterUsr1();
      void reread("SIGUSR1");
    }],
    ["SIGHUP", () => void reread("SIGHUP")],
    ["SIGTERM", () => onStop("SIGTERM")],
    ["SIGINT", () => onStop("SIGINT")],
  ];
  let stopping = false;
  function onStop(sig: string) {
    if (stopping) {
      kit.warn(`${sig} again during shutdown: exiting now`);
      Deno.exit(EXIT_RUNTIME);
    }
    stopping = true;
    stopSignal = sig;
    wake();
  }
  // A signal handler that throws is contained like a packet handler.
  const listeners = handlers.map(([s, h]): [Deno.Signal, () => void] => [s, () => {
    try {
      h();
    } catch (e) {
      contain.packet("signal", e);
    }
  }]);
  for (const [s, h] of listeners) Deno.addSignalListener(s, h);
  // The last backstop: an error nobody caught (a timer callback, a promise) is contained.
  const onUncaught = (ev: ErrorEvent) => {
    ev.preventDefault();
    contain.packet("uncaught", ev.error ?? ev.message);
  };
  const onRejection = (ev: PromiseRejectionEvent) => {
    ev.preventDefault();
    contain.packet("uncaught", ev.reason);
  };
  globalThis.addEventListener("error", onUncaught);
  globalThis.addEventListener("unhandledrejection", onRejection);
  // Summary lines of rate-limited errors go out when their window ends, errors or not.
  const flushing = setInterval(() => contain.flush(), 5_000);
  Deno.unrefTimer(flushing);
  kit.info(`started`, { version: VERSION, section: cfg.name, config: cfg.file ?? "(none)" });

  await stopRequested;
  stopping = true;
  const reason = fatalReason ?? `${stopSignal} received`;
  if (fatalReason) kit.error(`stopping: ${fatalReason}`);
  else kit.info(`stopping: ${reason}`);
  try {
    await running.stop(reason);
  } catch (e) {
    kit.error(`error while stopping: ${(e as Error).message}`);
  }
  capture.closeAll(); // their streams end, so the endpoint can close
  await api?.close();
  for (const [s, h] of listeners) Deno.removeSignalListener(s, h);
  clearInterval(flushing);
  contain.flush();
  globalThis.removeEventListener("error", onUncaught);
  globalThis.removeEventListener("unhandledrejection", onRejection);
  guard.close();
  kit.info("stopped");
  return fatalReason ? EXIT_RUNTIME : EXIT_OK;
}

/** Re-export for daemons. */
export type { TopicLogger };
