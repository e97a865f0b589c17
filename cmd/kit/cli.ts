/**
 * Command-line pieces every daemon subcommand shares: the section NAME,
 * `--config`, `--api`, `--check-config`, and the `api`/`api_token` config
 * keys they map to.
 *
 * @module
 */
import { argument, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  type Field,
  type HostPort,
  hostPortOrOff,
  type Infer,
  type Schema,
  SECRET_KEYS,
  str,
} from "./config.ts";
import { apiExposure } from "./api.ts";
import { DEFAULT_CONFIG, type Kind, type LoadOptions, loadSection } from "./load.ts";
import { type DaemonConfig, type DaemonSpec, runDaemon } from "./daemon.ts";
import { ConfigError } from "./config.ts";
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from "./exit.ts";

/** Options shared by `l2 supernode|node|las|xconnect`. */
export function commonDaemonOptions() {
  return object({
    name: optional(argument(string({ metavar: "NAME" }), {
      description: message`config section to use (default: the only one, or "default")`,
    })),
    config: optional(option("-c", "--config", string({ metavar: "FILE" }), {
      description: message`config file (default ${DEFAULT_CONFIG}, read if it exists)`,
    })),
    api: optional(option("--api", string({ metavar: "HOST:PORT" }), {
      description: message`management endpoint address, or "off"`,
    })),
    checkConfig: option("--check-config", {
      description: message`validate the configuration, print it as the daemon would run it, exit`,
    }),
  });
}

/** The parsed shared options. */
export interface CommonDaemonArgs {
  name?: string;
  config?: string;
  api?: string;
  checkConfig?: boolean;
}

/** `api` and `api_token` keys with a role's default port. */
export function apiFields(defaultPort: number) {
  return {
    api: hostPortOrOff({
      doc: "management endpoint (GET /status, GET /metrics); off disables it",
      default: { host: "127.0.0.1", port: defaultPort },
      defaultPort,
    }) as Field<HostPort | null>,
    api_token: str({
      doc: "bearer token the management endpoint requires; empty: none, allowed on loopback only",
      default: "",
    }),
  } satisfies Schema;
}

/**
 * Loads a daemon section whose schema includes `apiFields`, applying the
 * shared flags plus the daemon's own.
 */
export async function loadDaemon<S extends Schema & ReturnType<typeof apiFields>>(
  kind: Kind,
  fields: S,
  args: CommonDaemonArgs,
  flags: LoadOptions["flags"],
): Promise<DaemonConfig<Infer<S>>> {
  const l = await loadSection(kind, fields, {
    configPath: args.config,
    name: args.name,
    flags: { ...flags, api: { flag: "--api", value: args.api } },
  });
  const c = l.config as Record<string, unknown>;
  const api = c.api as HostPort | null;
  const apiToken = (c.api_token as string) === "" ? null : c.api_token as string;
  const exposed = apiExposure(api, apiToken, `${kind}.${l.name}`);
  if (exposed !== null) throw new ConfigError(exposed);
  return { file: l.file, name: l.name, config: l.config, log: l.log, api, apiToken };
}

/** Prints the effective configuration as JSON for `--check-config`, secrets masked. */
export function printCheckedConfig(kind: string, cfg: DaemonConfig<unknown>): void {
  const c = { ...(cfg.config as Record<string, unknown>) };
  for (const k of SECRET_KEYS) if (c[k]) c[k] = "(set)";
  console.log(JSON.stringify(
    { kind, section: cfg.name, file: cfg.file, config: c, log: cfg.log },
    null,
    2,
  ));
}

/**
 * For a daemon that is not in this version yet: validate its configuration
 * (and print it with `--check-config`), then refuse to start with exit 1
 * rather than pretend to run.
 */
export async function configOnlyDaemon(
  kind: Kind,
  load: () => Promise<DaemonConfig<unknown>>,
  checkConfig: boolean | undefined,
): Promise<number> {
  try {
    const cfg = await load();
    if (checkConfig) {
      printCheckedConfig(kind, cfg);
      return EXIT_OK;
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`l2 ${kind}: ${e.message}`);
      return EXIT_USAGE;
    }
    throw e;
  }
  console.error(
    `l2 ${kind}: this daemon is not in this version yet; the configuration is valid ` +
      "(see README, 'Not supported yet')",
  );
  return EXIT_RUNTIME;
}

/**
 * Runs a daemon subcommand: with `--check-config`, validate and print the
 * configuration (exit 0, or 2 on a config error); otherwise run it with the
 * daemon kit.
 */
export async function runDaemonCommand<C>(
  spec: DaemonSpec<C>,
  checkConfig: boolean | undefined,
): Promise<number> {
  if (!checkConfig) return await runDaemon(spec);
  try {
    printCheckedConfig(spec.role, await spec.load());
    return EXIT_OK;
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`l2 ${spec.role}: ${e.message}`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

/**
 * For SIGHUP in a daemon that applies nothing but its log section at run
 * time: one line saying which settings changed and wait for a restart.
 */
export function restartNeeded<C extends Record<string, unknown>>(
  running: C,
  next: C,
  what: string,
): string[] {
  const changed = Object.keys(next).filter((k) =>
    JSON.stringify(next[k]) !== JSON.stringify(running[k])
  );
  return changed.length
    ? [`changes to ${changed.join(", ")} take effect at restart`]
    : [`no ${what} settings changed`];
}
