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

function duration(s: number): string {
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  const parts = [d && `${d}d`, (d || h) && `${h}h`, (d || h || m) && `${m}m`, `${s % 60}s`];
  return parts.filter(Boolean).join(" ");
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
// The summary.

/** Roles with a summary; any other role's status is shown whole. */
const SUMMARIZED = new Set(["node", "supernode", "las", "xconnect"]);

/** The width every summary line fits. */
export const SUMMARY_WIDTH = 100;

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v as Obj : {};
}

function rows(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter((x) => x !== null && typeof x === "object") as Obj[] : [];
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function txt(v: unknown, none = "-"): string {
  if (v === null || v === undefined || v === "") return none;
  if (Array.isArray(v)) return v.length ? v.map((x) => txt(x)).join(" ") : none;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function ago(v: unknown): string {
  const n = num(v);
  return n === null ? "-" : duration(Math.round(n));
}

function ms(v: unknown): string {
  const n = num(v);
  return n === null ? "-" : `${n} ms`;
}

/** Cuts `s` to `w` columns, marking the cut with "…". */
function fit(s: string, w: number): string {
  return s.length <= w ? s : w <= 1 ? s.slice(0, w) : s.slice(0, w - 1) + "…";
}

/**
 * A table that fits `width`: when it would not, the widest column gives up
 * a column at a time (its cells cut with "…"), down to 6 columns each.
 */
function grid(head: string[], body: string[][], indent: string, width: number): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const total = () => indent.length + w.reduce((a, b) => a + b, 0) + 2 * (w.length - 1);
  while (total() > width) {
    const i = w.indexOf(Math.max(...w));
    if (w[i] <= 6) break;
    w[i]--;
  }
  const line = (r: string[]) =>
    fit(
      indent + r.map((c, i) => i === r.length - 1 ? fit(c, w[i]) : fit(c, w[i]).padEnd(w[i]))
        .join("  "),
      width,
    );
  return [line(head), ...body.map(line)];
}

/** Names of counters whose non-zero value means something went wrong. */
const TROUBLE = /(^|_)(errors?|dropped|truncated|ctrunc|refused|bad|failures?|invalid)(_|$)/;

/** "name value" for each troubling non-zero counter, in every `counters` object of `st`. */
function troubleCounters(st: Obj): string[] {
  const found: string[] = [];
  const visit = (o: Obj, depth: number) => {
    for (const [k, v] of Object.entries(o)) {
      if (k === "counters") {
        for (const [c, n] of Object.entries(obj(v))) {
          if (TROUBLE.test(c) && typeof n === "number" && n > 0) found.push(`${c} ${n}`);
        }
      } else if (depth < 2 && v !== null && typeof v === "object" && !Array.isArray(v)) {
        visit(v as Obj, depth + 1);
      }
    }
  };
  visit(st, 0);
  return found;
}

/**
 * What every role shares: why the last attempt failed and when the next one
 * is (`last_error`, `retry_in_s`, when the daemon reports them), handler
 * failures, troubling counters.
 */
function commonProblems(st: Obj): string[] {
  const out: string[] = [];
  const retry = num(st.retry_in_s);
  if (st.last_error || retry !== null) {
    out.push(
      (st.last_error ? `last attempt: ${txt(st.last_error)}` : "waiting to retry") +
        (retry !== null ? `; next attempt in ${duration(Math.max(0, Math.round(retry)))}` : ""),
    );
  }
  const pe = obj(st.packet_errors);
  const total = num(pe.total);
  if (total) {
    const last = obj(pe.last);
    const by = Object.entries(obj(pe.by_handler)).map(([h, n]) => `${h} ${n}`).join(", ");
    out.push(
      `${total} packets made a handler fail (${by || "?"})` +
        (last.error ? `; last: ${txt(last.error)}` : ""),
    );
  }
  const c = troubleCounters(st);
  if (c.length) out.push(`counters since start: ${c.join(", ")}`);
  return out;
}

interface Summary {
  headline: string;
  problems: string[];
  body: string[];
}

function nodeSummary(st: Obj, width: number): Summary {
  const sec = obj(st.security);
  const state = txt(st.state);
  const peers = rows(st.peers);
  const problems: string[] = [];
  if (state !== "registered") {
    problems.push(
      `not registered with the supernode (state ${state})` +
        (state === "refused" ? ": is this node's public key in the supernode's members?" : ""),
    );
  } else if (sec.supernode_session === false) problems.push("no secure session with the supernode");
  if (state === "registered" && sec.roster_known === false) {
    problems.push("no roster from the supernode yet: broadcasts are held");
  }
  const relayed = peers.filter((p) => p.path !== "direct");
  if (relayed.length) {
    problems.push(
      `${relayed.length} of ${peers.length} peers only through the supernode's relay: ` +
        relayed.map((p) => txt(p.name ?? p.node)).join(", "),
    );
  }
  const headline = `node "${txt(st.name)}" id ${txt(st.id)}: ${state}` +
    (st.attached_at ?? st.supernode
      ? ` with supernode ${txt(st.attached_at ?? st.supernode)}`
      : "") +
    (num(st.supernode_rtt_ms) !== null ? ` (rtt ${ms(st.supernode_rtt_ms)})` : "");
  const body: string[] = [];
  body.push(
    `tap ${txt(st.tap)} mtu ${txt(st.tap_mtu)} ${txt(st.tap_mac)}; ` +
      `local endpoints ${txt(st.local_endpoints, "none")}`,
  );
  if (sec.encryption) {
    const roster = Array.isArray(sec.roster) ? sec.roster : [];
    body.push(
      `encryption ${txt(sec.encryption)}` +
        (sec.encryption === "none"
          ? ""
          : `; ${txt(sec.sessions)} sessions; roster ${
            sec.roster_known === false
              ? "not known yet"
              : roster.length
              ? `${plural(roster.length, "other node")} (${roster.join(", ")})`
              : "empty (no other node)"
          }`),
    );
  }
  // Several supernodes (docs/federation.md): where it is attached, its standby, the others.
  const sns = Array.isArray(st.supernodes) ? st.supernodes : [];
  if (sns.length > 1) {
    body.push(`supernodes: ${plural(num(st.moves) ?? 0, "move")} since start`);
    for (const x of sns as Record<string, unknown>[]) {
      body.push(
        `  ${txt(x.address)} ${txt(x.state)}` +
          (num(x.rtt_ms) !== null ? `, rtt ${ms(x.rtt_ms)}` : "") +
          (num(x.last_answer_s) !== null ? `, heard ${txt(x.last_answer_s)} s ago` : ""),
      );
    }
  }
  const direct = peers.length - relayed.length;
  body.push(`peers: ${peers.length} (${direct} direct, ${relayed.length} relayed)`);
  if (peers.length) {
    const named = peers.some((p) => p.name !== undefined);
    const head = [
      "NODE",
      ...(named ? ["NAME"] : []),
      "PATH",
      "ENDPOINT",
      "RTT",
      "KEY AGE",
      "TX",
      "RX",
    ];
    body.push(...grid(
      head,
      peers.map((p) => [
        txt(p.node),
        ...(named ? [txt(p.name)] : []),
        txt(p.state === p.path || p.state === undefined ? p.path : `${p.path} (${p.state})`),
        txt(p.endpoint),
        ms(p.rtt_ms),
        ago(p.key_age_s),
        `${txt(p.tx_frames)} fr`,
        `${txt(p.rx_frames)} fr`,
      ]),
      "  ",
      width,
    ));
  }
  const mat = obj(st.mat);
  const leaves = rows(mat.leaves);
  if (leaves.length) {
    body.push(
      `leaves: ${leaves.length} of ${txt(mat.max_leaves)} (MAT prefix ${txt(mat.prefix)})` +
        (num(mat.quarantined) ? `, ${mat.quarantined} quarantined` : ""),
    );
    const ips = (l: Obj) => txt(l.ips ?? l.ip ?? l.addresses);
    body.push(...grid(
      ["LEAF", "MAC", "MAT", "IP", "IDLE"],
      leaves.map((l) => [txt(l.leaf), txt(l.mac), txt(l.mat), ips(l), ago(l.age_s)]),
      "  ",
      width,
    ));
  }
  return { headline, problems, body };
}

function supernodeSummary(st: Obj, width: number): Summary {
  const sec = obj(st.security);
  const nodes = rows(st.nodes);
  const problems: string[] = [];
  const refusals = Object.entries(obj(sec.refusals)).filter(([, n]) => num(n));
  if (refusals.length) {
    problems.push(
      `handshakes refused since start: ${refusals.map(([r, n]) => `${r} ${n}`).join(", ")}`,
    );
  }
  const hs = obj(sec.handshakes);
  if (hs.under_load === true) problems.push("under load: handshakes answered with cookies");
  const quiet = nodes.filter((n) => (num(n.last_seen_s) ?? 0) > 60);
  if (quiet.length) {
    problems.push(
      `${quiet.length} nodes silent for over a minute: ` +
        quiet.map((n) => `${txt(n.name ?? n.id)} (${ago(n.last_seen_s)})`).join(", "),
    );
  }
  const sessions = rows(sec.session_list);
  const unconfirmed = sessions.filter((s) => s.confirmed === false);
  if (unconfirmed.length) {
    problems.push(`${unconfirmed.length} sessions not confirmed by their node yet`);
  }
  const headline = `supernode "${txt(st.name)}" id ${txt(st.supernode_id)} on ${txt(st.listen)}: ` +
    `${nodes.length} nodes registered` +
    (sec.mode ? `, mode ${txt(sec.mode)}` : "") +
    (num(sec.members) !== null ? ` (${sec.members} members)` : "");
  const body: string[] = [];
  const relayed = num(st.relayed_frames);
  body.push(
    `encryption ${txt(sec.encryption, "none")}; ${txt(sec.sessions, "0")} sessions; ` +
      `relayed ${relayed ?? 0} frames (${txt(st.relayed_bytes, "0")} bytes); ` +
      `${txt(st.broadcast_frames, "0")} broadcast frames`,
  );
  if (nodes.length) {
    const byNode = new Map(sessions.map((s) => [`${txt(s.network)}/${txt(s.node)}`, s]));
    const named = nodes.some((n) => n.name !== undefined) ||
      sessions.some((s) => s.name !== undefined);
    const multiNet = new Set(nodes.map((n) => txt(n.network))).size > 1;
    const head = [
      "ID",
      ...(named ? ["NAME"] : []),
      ...(multiNet ? ["NET"] : []),
      "ENDPOINT",
      "SEEN",
      "UP",
      "SESSION",
      "RELAYED",
    ];
    body.push(...grid(
      head,
      nodes.map((n) => {
        const s = byNode.get(`${txt(n.network)}/${txt(n.id)}`);
        return [
          txt(n.id),
          ...(named ? [txt(n.name ?? s?.name)] : []),
          ...(multiNet ? [txt(n.network)] : []),
          txt(n.endpoint),
          `${ago(n.last_seen_s)} ago`,
          ago(n.registered_s),
          s ? (s.confirmed === false ? "unconfirmed" : `key ${ago(s.key_age_s)} old`) : "-",
          `${txt(n.relayed_frames, "0")} fr`,
        ];
      }),
      "  ",
      width,
    ));
  }
  federationSummary(obj(st.federation), problems, body, width);
  return { headline, problems, body };
}

/** A supernode's federation peers (docs/federation.md): a problem per peer not up, and a table. */
function federationSummary(f: Obj, problems: string[], body: string[], width: number): void {
  const peers = rows(f.peers);
  if (!peers.length) return;
  const down = peers.filter((p) => p.state !== "up");
  if (down.length) {
    problems.push(
      `federation peers not up: ${down.map((p) => `${txt(p.id)} (${txt(p.state)})`).join(", ")}`,
    );
  }
  const mismatch = peers.filter((p) => p.digest_match === false);
  if (mismatch.length) {
    problems.push(
      `member lists differ from federation peers ${mismatch.map((p) => txt(p.id)).join(", ")}`,
    );
  }
  body.push(
    `federation id ${txt(f.id)}: ${txt(f.attached_here, "0")} nodes here, ` +
      `${txt(f.attached_elsewhere, "0")} attached at peers`,
  );
  body.push(...grid(
    ["PEER", "STATE", "KEY", "ENDPOINT", "RTT", "NODES", "RELAYED TO/FROM", "DIGEST"],
    peers.map((p) => [
      txt(p.id),
      txt(p.state),
      txt(p.key),
      txt(p.endpoint),
      num(p.rtt_ms) !== null ? ms(p.rtt_ms) : "-",
      `${txt(p.nodes, "0")}${num(p.stale_nodes) ? ` (${txt(p.stale_nodes)} stale)` : ""}`,
      `${txt(p.relayed_to, "0")}/${txt(p.relayed_from, "0")}`,
      p.digest_match === null || p.digest_match === undefined
        ? "-"
        : p.digest_match
        ? "match"
        : "differs",
    ]),
    "  ",
    width,
  ));
}

function lasSummary(st: Obj, width: number): Summary {
  const conns = rows(st.connections);
  const sessions = rows(st.sessions);
  const switches = rows(st.switches);
  const mesh = rows(st.mesh);
  const problems: string[] = [];
  const meshDown = mesh.filter((p) => p.state !== "up");
  if (meshDown.length) {
    problems.push(
      `${meshDown.length} peer LAS not connected: ` +
        meshDown.map((p) => `${txt(p.peer)} (${txt(p.state)})`).join(", "),
    );
  }
  // A second peer-LAS connection closing (both servers dialed at once) is no problem.
  const down = conns.filter((c) =>
    c.state !== "established" && !(c.peer_las === true && c.state === "closing")
  );
  if (down.length) {
    problems.push(
      `${down.length} connections not established: ` +
        down.map((c) => `${txt(c.peer)} (${txt(c.state)})`).join(", "),
    );
  }
  const failing = sessions.filter((s) => num(s.tx_errors));
  if (failing.length) {
    problems.push(
      `send errors on ${failing.length} sessions: ` +
        failing.map((s) => `${txt(s.peer)} vc ${txt(s.vc)} (${s.tx_errors})`).join(", "),
    );
  }
  const headline = `las "${txt(st.name)}": ${conns.length} connections, ${sessions.length} ` +
    `sessions, ${plural(switches.length, "switch", "switches")}` +
    (num(st.sessions_setting_up) ? ` (${st.sessions_setting_up} sessions setting up)` : "");
  const body: string[] = [];
  const lc = obj(st.counters);
  const strays = num(lc.unknown_connection_stopccn) ?? 0;
  const unknownData = num(lc.rx_unknown_session) ?? 0;
  if (strays || unknownData) {
    // After a restart or a virtual address taken over: edges told to re-dial (issue 18).
    body.push(
      `unknown connections told to re-dial: ${strays} StopCCNs ` +
        `(${
          txt(lc.unknown_connection_limited, "0")
        } held back); unknown-session data: ${unknownData}`,
    );
  }
  if (mesh.length) {
    body.push(`peer LAS (${mesh.length}):`);
    body.push(...grid(
      ["PEER", "STATE", "ROUTER ID", "UP", "SESSIONS", "RX", "TX"],
      mesh.map((p) => [
        txt(p.peer),
        txt(p.state),
        txt(p.router_id, "-"),
        p.up_s === null ? "-" : ago(p.up_s),
        txt(p.sessions_up),
        `${txt(p.rx_frames)} fr`,
        `${txt(p.tx_frames)} fr`,
      ]),
      "  ",
      width,
    ));
  }
  if (switches.length) {
    body.push(`switches (${switches.length}):`);
    body.push(...grid(
      ["VC", "POLICY", "PORTS", "MACS", "FRAMES", "FLOODED", "DROPPED"],
      switches.map((s) => [
        txt(s.vc),
        txt(s.policy),
        // Ports by server when the switch spans peer LAS servers: "3 (local 1, 10.0.0.2 1...)".
        Object.keys(obj(s.ports_by_server)).length > 1
          ? `${txt(s.ports)} (` +
            Object.entries(obj(s.ports_by_server)).map(([k, n]) => `${k} ${n}`).join(", ") + ")"
          : txt(s.ports),
        txt(s.macs),
        txt(s.rx_frames),
        txt(s.flooded_frames),
        Object.entries(obj(s.dropped)).map(([r, n]) => `${r} ${n}`).join(", ") || "0",
      ]),
      "  ",
      width,
    ));
  }
  if (sessions.length) {
    // The established connection's host name where a peer has another one closing.
    const host = new Map(
      [...conns].sort((a, b) =>
        Number(a.state === "established") - Number(b.state === "established")
      )
        .map((c) => [txt(c.peer), txt(c.host_name)]),
    );
    body.push(`sessions (${sessions.length}):`);
    body.push(...grid(
      ["VC", "PEER", "HOST", "UP", "RX", "TX", "TX ERR", "SESSION"],
      sessions.map((s) => [
        txt(s.vc),
        txt(s.peer) + (s.peer_las ? " (peer LAS)" : ""),
        host.get(txt(s.peer)) ?? "-",
        ago(s.up_s),
        `${txt(s.rx_frames)} fr`,
        `${txt(s.tx_frames)} fr`,
        txt(s.tx_errors, "0"),
        txt(s.session),
      ]),
      "  ",
      width,
    ));
  } else if (conns.length) {
    body.push(`connections (${conns.length}):`);
    body.push(...grid(
      ["PEER", "HOST", "STATE", "TRANSPORT", "SESSIONS"],
      conns.map((
        c,
      ) => [txt(c.peer), txt(c.host_name), txt(c.state), txt(c.transport), txt(c.sessions)]),
      "  ",
      width,
    ));
  }
  return { headline, problems, body };
}

function xconnectSummary(st: Obj): Summary {
  const state = txt(st.state);
  const session = obj(st.session);
  const c = obj(st.counters);
  const backup = st.backup && typeof st.backup === "object" ? obj(st.backup) : null;
  const onBackup = st.active === "backup" && backup !== null;
  const problems: string[] = [];
  if (onBackup) {
    problems.push(
      `on the backup LAS ${txt(backup.las)}: the primary ${txt(st.las)} is ${state}; ` +
        `frames return ${txt(backup.delay_s)} s after its session is up`,
    );
  } else if (state !== "up") {
    problems.push(
      `the pseudowire is not up (state ${state}): can this host reach the LAS ` +
        `${txt(st.las)}, and does the LAS allow it?`,
    );
  }
  const headline = `xconnect "${txt(st.name)}" vc ${txt(st.vc)} on ${txt(st.device)} to LAS ` +
    `${txt(st.las)}: ${state}` + (num(session.up_s) !== null ? ` for ${ago(session.up_s)}` : "");
  const body = [
    `rx ${txt(c.rx_frames, "0")} frames (${txt(c.rx_bytes, "0")} bytes), ` +
    `tx ${txt(c.tx_frames, "0")} frames (${txt(c.tx_bytes, "0")} bytes); ` +
    `connects ${txt(c.connects, "0")}, sessions up ${txt(c.sessions_up, "0")}`,
  ];
  if (backup) {
    body.push(
      `backup LAS ${txt(backup.las)}: ${txt(backup.state)}; failovers ${txt(c.failovers, "0")}, ` +
        `returns ${txt(c.returns, "0")}`,
    );
  }
  return { headline, problems, body };
}

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

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Word-wraps one line to `width`, the first line after `first`, the rest after `rest`. */
function wrap(line: string, width: number, first: string, rest: string): string[] {
  const out: string[] = [];
  let cur = first;
  for (const word of line.split(" ")) {
    const lead = cur === first || cur === rest ? "" : " ";
    if (cur.length + lead.length + word.length > width && cur.trim() !== "") {
      out.push(cur);
      cur = rest + fit(word, width - rest.length);
    } else cur += lead + word;
  }
  out.push(cur);
  return out;
}
