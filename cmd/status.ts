/**
 * `l2 status`: asks running daemons for their `/status` and prints a summary
 * an operator reads in five seconds: one headline (role, name, id, state,
 * uptime), the problems first, then the peers, nodes or sessions with their
 * health in a table that fits 100 columns (member names and leaf IP
 * addresses when the daemon reports them). `-v` adds every counter (the
 * whole document, as key/value lines and tables), `--json` prints the JSON
 * as the daemon sent it, `--metrics` the raw Prometheus text, `--health` one
 * line per daemon from its `/health` and exit status 0 only when every one
 * asked is healthy (keepalived's `vrrp_script`, docs/las-redundancy.md).
 *
 * Without `--api` it asks the default endpoints of every role on 127.0.0.1
 * (supernode 7655, node 7656, las 7657, xconnect 7658) and shows each that answers.
 *
 * @module
 */
import { command, constant, multiple, object, option, optional } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { formatHostPort, type HostPort, parseHostPort } from "./kit/config.ts";
import { fetchApi } from "./kit/api.ts";
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from "./kit/exit.ts";
import { examples } from "./kit/cli.ts";
import {
  commonProblems,
  duration,
  fit,
  num,
  type Obj,
  SUMMARY_WIDTH,
  txt,
  wrap,
} from "./render/summary_kit.ts";
import { nodeSummary, supernodeSummary } from "./render/summary_vpn.ts";
import { lasSummary, xconnectSummary } from "./render/summary_las.ts";

export { SUMMARY_WIDTH } from "./render/summary_kit.ts";

/** Default management endpoints, by role. */
export const DEFAULT_APIS: readonly { role: string; addr: HostPort }[] = [
  { role: "supernode", addr: { host: "127.0.0.1", port: 7655 } },
  { role: "node", addr: { host: "127.0.0.1", port: 7656 } },
  { role: "las", addr: { host: "127.0.0.1", port: 7657 } },
  { role: "xconnect", addr: { host: "127.0.0.1", port: 7658 } },
];

/** `l2 status` command line. */
export const statusCommand = command(
  "status",
  object({
    cmd: constant("status" as const),
    api: multiple(option("--api", string({ metavar: "HOST:PORT" }), {
      description:
        message`daemon management endpoint; repeat for several (default: every role's default on 127.0.0.1)`,
    })),
    json: option("--json", { description: message`print the status JSON as the daemon sent it` }),
    verbose: option("-v", "--verbose", {
      description: message`after the summary, every field and counter of the status`,
    }),
    metrics: option("--metrics", {
      description: message`print the Prometheus metrics text instead`,
    }),
    health: option("--health", {
      description:
        message`ask /health only: exit 0 when every daemon asked is healthy, else 1 (for keepalived)`,
    }),
    token: optional(option("--token", string({ metavar: "TOKEN" }), {
      description: message`bearer token (default: $L2_API_TOKEN)`,
    })),
  }),
  {
    brief: message`Show the status of running l2 daemons`,
    footer: examples([
      ["a summary of every daemon on this host's default endpoints", "l2 status"],
      ["one daemon, with all its counters", "l2 status --api 127.0.0.1:7656 -v"],
      [
        "a daemon in a network namespace, as JSON for a script",
        "ip netns exec site-a l2 status --json",
      ],
      ["a remote endpoint that wants a token", "L2_API_TOKEN=... l2 status --api 192.0.2.10:7656"],
    ]),
  },
);

/** Parsed `l2 status` arguments. */
export interface StatusArgs {
  cmd: "status";
  api: readonly string[];
  json?: boolean;
  verbose?: boolean;
  metrics?: boolean;
  health?: boolean;
  token?: string;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function table(rows: Record<string, unknown>[], indent: string): string[] {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const cells = rows.map((r) => cols.map((c) => cell(r[c])));
  const width = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]) =>
    indent + vals.map((v, i) => i === vals.length - 1 ? v : v.padEnd(width[i])).join("  ");
  return [line(cols), ...cells.map(line)];
}

/**
 * `l2 status --health`: one line per endpoint, exit 0 when every endpoint
 * given with `--api` answers `/health` with 200 (without `--api`: every
 * default endpoint that answers, and at least one), else 1. A 2-second
 * timeout, so a stuck daemon fails the check instead of hanging it.
 */
async function healthOf(
  targets: { role?: string; addr: HostPort }[],
  explicit: boolean,
  token: string | null,
): Promise<number> {
  let healthy = 0;
  let bad = 0;
  for (const t of targets) {
    const at = formatHostPort(t.addr) + (t.role ? ` (${t.role})` : "");
    try {
      const res = await fetchApi(t.addr, "/health", token, 2000);
      const body = (await res.text()).trim().slice(0, 200);
      if (res.status === 200) {
        healthy++;
        console.log(`${at}: ok`);
      } else {
        bad++;
        console.log(`${at}: HTTP ${res.status}: ${body}`);
      }
    } catch (e) {
      if (!explicit) continue;
      bad++;
      const why = (e as Error).name === "TimeoutError"
        ? "no answer within 2 s"
        : "nothing answers there";
      console.log(`${at}: ${why}`);
    }
  }
  if (!explicit && healthy + bad === 0) {
    console.log("no l2 daemon answers on the default endpoints");
  }
  return bad === 0 && healthy > 0 ? EXIT_OK : EXIT_RUNTIME;
}

/**
 * Renders a status object as text: a header, then scalars as aligned
 * key/value lines, objects as indented blocks, lists of objects as tables.
 *
 * @example
 * ```ts
 * import { renderStatus } from "./status.ts";
 * renderStatus({ role: "las", name: "default", version: "0.1.0", pid: 1, uptime_s: 61 }, "127.0.0.1:7657");
 * ```
 */
export function renderStatus(st: Record<string, unknown>, from: string): string {
  const out: string[] = [];
  const up = typeof st.uptime_s === "number" ? `, up ${duration(st.uptime_s)}` : "";
  out.push(
    `${cell(st.role)} "${cell(st.name)}" at ${from} (l2 ${cell(st.version)}, pid ${
      cell(st.pid)
    }${up})`,
  );
  const skip = new Set(["role", "name", "version", "pid", "uptime_s"]);
  const render = (obj: Record<string, unknown>, indent: string) => {
    const scalars = Object.entries(obj).filter(([k, v]) =>
      !skip.has(k) && (v === null || typeof v !== "object")
    );
    const w = Math.max(0, ...scalars.map(([k]) => k.length));
    for (const [k, v] of scalars) out.push(`${indent}${k.padEnd(w)}  ${cell(v)}`);
    for (const [k, v] of Object.entries(obj)) {
      if (skip.has(k) || v === null || typeof v !== "object") continue;
      if (Array.isArray(v)) {
        if (v.length === 0) out.push(`${indent}${k}: none`);
        else if (v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x))) {
          out.push(`${indent}${k} (${v.length}):`);
          out.push(...table(v as Record<string, unknown>[], indent + "  "));
        } else out.push(`${indent}${k}: ${v.map(cell).join(", ")}`);
      } else {
        out.push(`${indent}${k}:`);
        render(v as Record<string, unknown>, indent + "  ");
      }
    }
  };
  render(st, "  ");
  skip.clear();
  return out.join("\n");
}

/** Runs `l2 status`. */
export async function runStatus(args: StatusArgs): Promise<number> {
  const token = args.token ?? Deno.env.get("L2_API_TOKEN") ?? null;
  const explicit = args.api.length > 0;
  const targets: { role?: string; addr: HostPort }[] = [];
  for (const a of args.api) {
    const r = parseHostPort(a);
    if (typeof r === "string") {
      console.error(`l2 status: --api ${a}: ${r}`);
      return EXIT_USAGE;
    }
    targets.push({ addr: r });
  }
  if (!explicit) targets.push(...DEFAULT_APIS);
  if (args.health) return await healthOf(targets, explicit, token);
  let answered = 0;
  const failures: string[] = [];
  const texts: string[] = [];
  const jsons: unknown[] = [];
  for (const t of targets) {
    const at = formatHostPort(t.addr);
    let res: Response;
    try {
      res = await fetchApi(t.addr, args.metrics ? "/metrics" : "/status", token);
    } catch (e) {
      const why = e instanceof TypeError || (e as Error).name === "ConnectionRefused"
        ? "nothing answers there"
        : (e as Error).name === "TimeoutError"
        ? "no answer within 3 s"
        : (e as Error).message;
      failures.push(`${at}${t.role ? ` (${t.role})` : ""}: ${why}`);
      continue;
    }
    const body = await res.text();
    if (res.status === 401) {
      failures.push(`${at}: the endpoint wants a token: give --token or set L2_API_TOKEN`);
      continue;
    }
    if (!res.ok) {
      failures.push(`${at}: HTTP ${res.status}: ${body.trim()}`);
      continue;
    }
    answered++;
    if (args.metrics) texts.push(body.trimEnd());
    else {
      let st: Record<string, unknown>;
      try {
        st = JSON.parse(body);
      } catch {
        failures.push(`${at}: the answer is not JSON; is this an l2 daemon?`);
        answered--;
        continue;
      }
      if (args.json) jsons.push(st);
      else if (!SUMMARIZED.has(String(st.role))) texts.push(renderStatus(st, at));
      else if (args.verbose) texts.push(summarize(st, at) + "\n\n" + renderStatus(st, at));
      else texts.push(summarize(st, at));
    }
  }
  if (args.json) {
    console.log(JSON.stringify(jsons.length === 1 && explicit ? jsons[0] : jsons, null, 2));
  } else if (texts.length) console.log(texts.join("\n\n"));
  if (answered === 0 || (explicit && failures.length > 0)) {
    for (const f of failures) console.error(`l2 status: ${f}`);
    if (answered === 0 && !explicit) {
      console.error(
        "l2 status: no l2 daemon answered on the default endpoints; give --api HOST:PORT",
      );
    }
    return EXIT_RUNTIME;
  }
  return EXIT_OK;
}

// ---------------------------------------------------------------------------
// The summary: the shared pieces in cmd/render/summary_kit.ts, each role's in
// cmd/render/summary_vpn.ts and cmd/render/summary_las.ts.

/** Roles with a summary; any other role's status is shown whole. */
const SUMMARIZED = new Set(["node", "supernode", "las", "xconnect"]);

/**
 * The five-second summary of one daemon's /status: a headline, the
 * problems first (or "no problems seen"), then the peers, nodes, sessions
 * or switches with their health; every line fits `width` columns.
 *
 * @example
 * ```ts
 * import { summarize } from "./status.ts";
 * summarize({ role: "xconnect", name: "default", vc: "100", las: "192.0.2.1", state: "up" }, "127.0.0.1:7658");
 * ```
 */
export function summarize(st: Obj, from: string, width = SUMMARY_WIDTH): string {
  const s = st.role === "node"
    ? nodeSummary(st, width)
    : st.role === "supernode"
    ? supernodeSummary(st, width)
    : st.role === "las"
    ? lasSummary(st, width)
    : st.role === "xconnect"
    ? xconnectSummary(st)
    : { headline: `${txt(st.role)} "${txt(st.name)}"`, problems: [], body: [] };
  const problems = [...s.problems, ...commonProblems(st)];
  const up = num(st.uptime_s) !== null
    ? `; running ${duration(Math.round(st.uptime_s as number))}`
    : "";
  const out = [fit(s.headline + up, width)];
  if (problems.length) {
    for (const p of problems) {
      out.push(...wrap(`! ${p}`, width, "  ", "    "));
    }
  } else out.push("  no problems seen");
  for (const l of s.body) {
    out.push(l.startsWith("  ") ? fit(`  ${l}`, width) : fit(`  ${l}`, width));
  }
  out.push(fit(
    `  l2 ${txt(st.version)}, pid ${
      txt(st.pid)
    }, ${from}; -v for every counter, --json for the raw status`,
    width,
  ));
  return out.join("\n");
}
