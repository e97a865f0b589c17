/**
 * The pieces the summaries of `l2 status` share (cmd/status.ts `summarize`
 * and the per-role summaries, cmd/render/summary_vpn.ts and
 * cmd/render/summary_las.ts): readers of loosely typed /status JSON, a
 * table that fits the width, word wrap, and the problems every role shares.
 *
 * @module
 */

/** The width every summary line fits. */
export const SUMMARY_WIDTH = 100;

/** Seconds as "1d 2h 3m 4s", leading zero units left out. */
export function duration(s: number): string {
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  const parts = [d && `${d}d`, (d || h) && `${h}h`, (d || h || m) && `${m}m`, `${s % 60}s`];
  return parts.filter(Boolean).join(" ");
}

export type Obj = Record<string, unknown>;

export function obj(v: unknown): Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v as Obj : {};
}

export function rows(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter((x) => x !== null && typeof x === "object") as Obj[] : [];
}

export function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export function txt(v: unknown, none = "-"): string {
  if (v === null || v === undefined || v === "") return none;
  if (Array.isArray(v)) return v.length ? v.map((x) => txt(x)).join(" ") : none;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function ago(v: unknown): string {
  const n = num(v);
  return n === null ? "-" : duration(Math.round(n));
}

export function ms(v: unknown): string {
  const n = num(v);
  return n === null ? "-" : `${n} ms`;
}

/** Cuts `s` to `w` columns, marking the cut with "…". */
export function fit(s: string, w: number): string {
  return s.length <= w ? s : w <= 1 ? s.slice(0, w) : s.slice(0, w - 1) + "…";
}

/**
 * A table that fits `width`: when it would not, the widest column gives up
 * a column at a time (its cells cut with "…"), down to 6 columns each.
 */
export function grid(head: string[], body: string[][], indent: string, width: number): string[] {
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
export function troubleCounters(st: Obj): string[] {
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
export function commonProblems(st: Obj): string[] {
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

/** One role's summary: the headline, its problems, then the body lines. */
export interface Summary {
  headline: string;
  problems: string[];
  body: string[];
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Word-wraps one line to `width`, the first line after `first`, the rest after `rest`. */
export function wrap(line: string, width: number, first: string, rest: string): string[] {
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
