/**
 * The live status page every management endpoint serves at `GET /`: one
 * HTML document, one style sheet and one script, kept here as strings so
 * `deno run`, `deno bundle` (the install) and `deno compile` all carry them
 * without a build step or a file read at run time. Nothing is fetched from
 * elsewhere; kit/page.ts serves them with a Content-Security-Policy that
 * allows only these same-origin files and `fetch("/status")`, and requires
 * Trusted Types, so no string can ever reach an HTML sink.
 *
 * The script polls `GET /status` every 2 s (not while the tab is hidden or
 * paused), keeps the last 5 minutes of counter deltas in memory and draws
 * them as an SVG chart. Every value from the daemon is inserted as text
 * (text nodes and attribute values), never as markup. With an `api_token`
 * the daemon answers 401; the page then asks for the token, keeps it in the
 * tab's sessionStorage only and sends it as `Authorization: Bearer`.
 *
 * The script is written without template literals (it lives in one).
 *
 * @module
 */

/** `GET /`: the document. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>l2</title>
<link rel="stylesheet" href="/page.css">
<script src="/page.js" defer></script>
</head>
<body>
<header>
  <h1 id="title">l2</h1>
  <span id="state" class="badge" role="status">loading</span>
  <span class="spacer"></span>
  <button id="pause" type="button">Pause</button>
  <button id="forget" type="button" hidden>Forget token</button>
</header>
<form id="login" hidden autocomplete="off">
  <label for="token">This endpoint needs its API token (<code>api_token</code>).</label>
  <div class="row">
    <input id="token" type="password" autocomplete="off" spellcheck="false" required>
    <button type="submit">Connect</button>
  </div>
  <p class="note">The token stays in this tab (sessionStorage) and goes only to this
  endpoint, as <code>Authorization: Bearer</code>. It travels in clear over plain HTTP.</p>
  <p id="login-error" class="bad"></p>
</form>
<main id="main"></main>
<noscript><p>This page needs JavaScript; <code>l2 status</code> shows the same.</p></noscript>
<footer>Polls <code>/status</code> every 2 s. <code>l2 status --json</code> shows everything;
<code>/metrics</code> is for Prometheus.</footer>
</body>
</html>
`;

/** `GET /page.css`. */
export const PAGE_CSS = `:root {
  color-scheme: light dark;
  --bg: #fafafa; --fg: #1d1f21; --muted: #666; --line: #d7d7d7; --card: #fff;
  --in: #1f77b4; --out: #d95f02; --good: #1a7f37; --bad: #b3261e; --warn: #9a6700;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #16181b; --fg: #e6e6e6; --muted: #9aa0a6; --line: #363a3f; --card: #1e2124;
    --in: #6baed6; --out: #fdae6b; --good: #57c27a; --bad: #f28b82; --warn: #e3b341;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: center; gap: .5rem;
  padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: var(--card);
  position: sticky; top: 0; z-index: 1;
}
h1 { font-size: 1.15rem; margin: 0; overflow-wrap: anywhere; }
h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
h3 { font-size: .95rem; margin: .8rem 0 .4rem; }
.spacer { flex: 1; }
button, input {
  font: inherit; padding: .35rem .7rem; border-radius: 6px;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg);
}
button { cursor: pointer; }
main { padding: .8rem; display: grid; gap: .8rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 30rem), 1fr)); }
section {
  background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: .8rem; min-width: 0;
}
section.wide { grid-column: 1 / -1; }
form#login { margin: 1rem; padding: 1rem; border: 1px solid var(--line); border-radius: 8px; background: var(--card); max-width: 36rem; }
form#login .row { display: flex; gap: .5rem; margin: .5rem 0; }
form#login input { flex: 1; min-width: 0; }
footer { padding: .5rem 1rem 1.5rem; color: var(--muted); font-size: .85rem; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
.badge { border-radius: 999px; padding: .1rem .6rem; font-size: .85rem; border: 1px solid var(--line); }
.good { color: var(--good); } .bad { color: var(--bad); } .warn { color: var(--warn); }
.badge.good { border-color: var(--good); } .badge.bad { border-color: var(--bad); } .badge.warn { border-color: var(--warn); }
.note, .empty { color: var(--muted); font-size: .85rem; margin: .3rem 0; }
.stale main { opacity: .55; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .8rem; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; white-space: nowrap; }
td { overflow-wrap: break-word; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
svg.chart { width: 100%; height: 9rem; display: block; border: 1px solid var(--line); border-radius: 4px; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart polyline { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
svg.chart polyline.in { stroke: var(--in); }
svg.chart polyline.out { stroke: var(--out); }
.legend { display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; margin: .4rem 0 0; font-size: .9rem; }
.key { display: inline-block; width: .8rem; height: .25rem; vertical-align: middle; margin-right: .3rem; }
.key.in { background: var(--in); } .key.out { background: var(--out); }
details summary { cursor: pointer; color: var(--muted); }
.switch { border-top: 1px solid var(--line); padding-top: .4rem; margin-top: .6rem; }
@media (max-width: 40rem) {
  main { padding: .4rem; gap: .5rem; }
  section { padding: .6rem; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
  table.cards thead { display: none; }
  table.cards tr { border-bottom: 2px solid var(--line); padding: .3rem 0; }
  table.cards td { border: 0; padding: .1rem .2rem; text-align: left; }
  table.cards td::before { content: attr(data-label) ": "; color: var(--muted); }
}
`;

/** `GET /page.js`. */
export const PAGE_JS = String.raw`"use strict";
(() => {
  const POLL_MS = 2000;
  const WINDOW_MS = 300000;
  const MAX_ROWS = 500;
  const MAX_SWITCHES = 100;
  const MAX_TEXT = 300;
  const TOKEN_KEY = "l2-api-token";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const byId = (id) => document.getElementById(id);
  const main = byId("main");

  let token = readToken();
  let paused = false;
  let timer = 0;
  let waitingForToken = false;
  let busy = false;
  let identity = "";
  let prevTotals = null;
  let history = [];
  let prevRows = new Map();
  let nextRows = new Map();

  function readToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (_) {
      return "";
    }
  }
  function saveToken(t) {
    token = t;
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      // storage refused: the token lives in this page only
    }
    byId("forget").hidden = !t;
  }

  // ---- DOM helpers: text nodes and attribute values only ----
  function add(e, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) add(e, k);
      else if (k instanceof Node) e.appendChild(k);
      else e.appendChild(document.createTextNode(String(k)));
    }
  }
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    add(e, kids);
    return e;
  }
  function s(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (const k of Object.keys(attrs)) {
      const v = attrs[k];
      if (v !== null && v !== undefined && v !== false) e.setAttribute(k, String(v));
    }
  }

  // ---- values ----
  const arr = (x) => (Array.isArray(x) ? x : []);
  const obj = (x) => (x !== null && typeof x === "object" && !Array.isArray(x) ? x : {});
  const num = (x) => (typeof x === "number" && isFinite(x) ? x : 0);
  function text(v) {
    if (v === null || v === undefined || v === "") return "\u2013";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "number") return String(v);
    if (Array.isArray(v)) return v.map(text).join(", ");
    if (typeof v === "object") return JSON.stringify(v);
    const t = String(v);
    return t.length > MAX_TEXT ? t.slice(0, MAX_TEXT) + "\u2026" : t;
  }
  const count = (v) => (typeof v === "number" && isFinite(v) ? v.toLocaleString("en-US") : text(v));
  function scaled(v, units, base) {
    let i = 0;
    while (Math.abs(v) >= base && i < units.length - 1) {
      v /= base;
      i++;
    }
    const d = i === 0 || Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
    return v.toFixed(d) + " " + units[i];
  }
  const bitRate = (bytesPerS) => scaled(bytesPerS * 8, ["b/s", "kb/s", "Mb/s", "Gb/s", "Tb/s"], 1000);
  const pktRate = (v) => scaled(v, ["pkt/s", "kpkt/s", "Mpkt/s"], 1000);
  const bytes = (n) => scaled(num(n), ["B", "KiB", "MiB", "GiB", "TiB"], 1024);
  function ms(v) {
    if (typeof v !== "number" || !isFinite(v)) return "\u2013";
    return (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)) + " ms";
  }
  function age(v) {
    if (typeof v !== "number" || !isFinite(v)) return "\u2013";
    if (v < 60) return (v < 10 && v % 1 ? v.toFixed(1) : Math.round(v)) + " s";
    const m = Math.floor(v / 60);
    if (m < 60) return m + " min " + Math.round(v % 60) + " s";
    const hr = Math.floor(m / 60);
    if (hr < 24) return hr + " h " + (m % 60) + " min";
    return Math.floor(hr / 24) + " d " + (hr % 24) + " h";
  }

  // ---- rates: per row and for the chart ----
  function rates(key, a, b, now) {
    nextRows.set(key, { t: now, a: num(a), b: num(b) });
    const p = prevRows.get(key);
    if (!p || now <= p.t) return { a: null, b: null };
    const dt = (now - p.t) / 1000;
    const ra = num(a) - p.a;
    const rb = num(b) - p.b;
    return { a: ra >= 0 ? ra / dt : null, b: rb >= 0 ? rb / dt : null };
  }
  const orDash = (v, f) => (v === null ? "\u2013" : f(v));

  // ---- building blocks ----
  function section(title, cls, ...kids) {
    return h("section", { class: cls || null }, h("h2", null, title), kids);
  }
  function kv(pairs, id) {
    const dl = h("dl", { class: "kv", id: id || null });
    for (const [k, v] of pairs) {
      if (v === undefined) continue;
      dl.appendChild(h("dt", null, k));
      dl.appendChild(h("dd", null, v instanceof Node ? v : text(v)));
    }
    return dl;
  }
  function badge(label, good) {
    return h("span", { class: "badge " + (good === null ? "warn" : good ? "good" : "bad") }, label);
  }
  // cols: [label, (row) => value | Node, "num" | "mono" | null]
  function table(id, cols, rows, empty) {
    if (rows.length === 0) return h("p", { class: "empty", id }, empty);
    const head = h("tr", null, cols.map(([l, , c]) => h("th", { scope: "col", class: c === "num" ? "num" : null }, l)));
    const body = h("tbody");
    for (const r of rows.slice(0, MAX_ROWS)) {
      body.appendChild(h("tr", null, cols.map(([l, get, c]) => {
        const v = get(r);
        return h("td", { class: c || null, "data-label": l }, v instanceof Node ? v : text(v));
      })));
    }
    const out = [h("div", { class: "scroll" }, h("table", { id, class: "cards" }, h("thead", null, head), body))];
    if (rows.length > MAX_ROWS) {
      out.push(h("p", { class: "note" }, (rows.length - MAX_ROWS) + " more not shown; l2 status --json has them all"));
    }
    return out;
  }
  function counters(id, c, now) {
    const rows = Object.keys(obj(c)).sort().map((k) => ({ k, v: obj(c)[k] }));
    return h("details", null, h("summary", null, "All counters (" + rows.length + ")"),
      table(id, [
        ["counter", (r) => r.k, "mono"],
        ["value", (r) => count(r.v), "num"],
        ["per s", (r) => orDash(rates("c:" + id + ":" + r.k, r.v, 0, now).a, (x) => x.toFixed(1)), "num"],
      ], rows, "no counters"));
  }

  // A list (or a map by id) of objects whose fields this page does not name: one column per field.
  function anyTable(id, list, idName, empty) {
    let rows = list;
    if (!Array.isArray(list)) {
      rows = Object.keys(obj(list)).map((k) => Object.assign({ [idName]: k }, obj(obj(list)[k])));
    }
    rows = rows.map(obj);
    const keys = [];
    for (const r of rows.slice(0, 50)) {
      for (const k of Object.keys(r)) if (!keys.includes(k) && keys.length < 12) keys.push(k);
    }
    return table(id, keys.map((k) => [k.replace(/_/g, " "), (r) => r[k], null]), rows, empty);
  }
  const present = (x) => (Array.isArray(x) ? x.length > 0 : Object.keys(obj(x)).length > 0);

  // ---- the chart ----
  function chart(labels, fmt, now) {
    const W = 600, H = 140, PAD = 4;
    // The chart spans what the page has seen, from 20 s up to 5 min, so a new page shows a line.
    const span = Math.min(WINDOW_MS, Math.max(20000, history.length ? now - history[0].t + history[0].dt : 0));
    const t0 = now - span;
    let max = 0;
    for (const p of history) max = Math.max(max, p.a, p.b);
    const top = max > 0 ? max * 1.1 : 1;
    const x = (t) => (((t - t0) / span) * W).toFixed(1);
    const y = (v) => (H - PAD - (v / top) * (H - 2 * PAD)).toFixed(1);
    const svg = s("svg", {
      class: "chart", id: "chart", viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none",
      role: "img", "aria-label": "traffic over the last " + age(span / 1000),
    });
    for (const f of [0.25, 0.5, 0.75]) {
      const gy = (PAD + f * (H - 2 * PAD)).toFixed(1);
      svg.appendChild(s("line", { class: "grid", x1: 0, x2: W, y1: gy, y2: gy }));
    }
    for (const k of ["a", "b"]) {
      svg.appendChild(s("polyline", {
        class: k === "a" ? "in" : "out", "data-points": history.length,
        // Steps: each rate is the mean over its interval, drawn across it.
        points: history.map((p) => x(Math.max(t0, p.t - p.dt)) + "," + y(p[k]) + " " + x(p.t) + "," + y(p[k])).join(" "),
      }));
    }
    const last = history.length ? history[history.length - 1] : null;
    const cur = (k, id, label, cls) =>
      h("span", null, h("span", { class: "key " + cls }), label + " ",
        h("b", { id, "data-value": last ? last[k] : "" }, last ? fmt(last[k]) : "\u2013"));
    return section("Traffic", "wide", svg,
      h("p", { class: "legend" },
        cur("a", "rate-in", labels[0], "in"), cur("b", "rate-out", labels[1], "out"),
        h("span", { class: "note" }, "last " + age(Math.round(span / 1000)) + ", top of the chart " + (max > 0 ? fmt(top) : "\u2013"))));
  }

  // ---- roles ----
  const roles = {
    node: {
      labels: ["from peers", "to peers"], fmt: bitRate,
      totals: (d) => arr(d.peers).reduce((t, p) => ({ a: t.a + num(p.rx_bytes), b: t.b + num(p.tx_bytes) }), { a: 0, b: 0 }),
      render(d, now) {
        const sec = obj(d.security);
        const mat = obj(d.mat);
        const peers = arr(d.peers).map((p) => ({ p, r: rates("peer:" + p.node, p.rx_bytes, p.tx_bytes, now) }));
        return [
          section("Node", null, kv([
            ["id", d.id], ["state", badge(text(d.state), d.state === "registered")],
            ["network", d.network], ["supernode", d.supernode], ["supernode id", d.supernode_id],
            ["supernode RTT", ms(d.supernode_rtt_ms)],
            ["supernode session", sec.encryption === "none" ? "unencrypted" : badge(sec.supernode_session ? "up" : "down", !!sec.supernode_session)],
            ["encryption", sec.encryption], ["sessions", sec.sessions],
            ["TAP", text(d.tap) + " " + text(d.tap_mac) + " mtu " + text(d.tap_mtu)],
            ["local port", d.local_port],
          ], "summary")),
          present(d.supernodes) ? section("Supernodes", "wide", anyTable("supernodes", d.supernodes, "supernode", "none")) : null,
          section("Peers (" + peers.length + ")", "wide", table("peers", [
            ["node", (x) => x.p.node, "num"],
            ["path", (x) => x.p.path],
            ["state", (x) => x.p.state],
            ["endpoint", (x) => x.p.endpoint, "mono"],
            ["RTT", (x) => ms(x.p.rtt_ms), "num"],
            ["direct / relay RTT", (x) => ms(x.p.direct_rtt_ms) + " / " + ms(x.p.relay_rtt_ms), "num"],
            ["in", (x) => orDash(x.r.a, bitRate), "num"],
            ["out", (x) => orDash(x.r.b, bitRate), "num"],
            ["received", (x) => bytes(x.p.rx_bytes) + " (" + count(x.p.rx_frames) + " frames)", "num"],
            ["sent", (x) => bytes(x.p.tx_bytes) + " (" + count(x.p.tx_frames) + " frames)", "num"],
            ["cipher", (x) => x.p.cipher],
            ["key", (x) => x.p.key, "mono"],
          ], peers, "no peers yet")),
          section("MAT table", "wide",
            kv([["prefix", mat.prefix], ["leaves in use", text(mat.in_use) + " of " + text(mat.max_leaves)], ["quarantined", mat.quarantined]]),
            table("mat", [
              ["leaf", (l) => l.leaf, "num"],
              ["MAC", (l) => l.mac, "mono"],
              ["MAT address", (l) => l.mat, "mono"],
              ["idle", (l) => age(l.age_s), "num"],
            ], arr(mat.leaves), "no leaves")),
          section("Counters", null, counters("counters", d.counters, now)),
        ];
      },
    },
    supernode: {
      labels: ["datagrams in", "datagrams out"], fmt: pktRate,
      totals: (d) => ({ a: num(obj(d.counters).rx_datagrams), b: num(obj(d.counters).tx_datagrams) }),
      render(d, now) {
        const sec = obj(d.security);
        const relay = rates("relay", d.relayed_bytes, d.broadcast_frames, now);
        const relayFrames = rates("relay-frames", d.relayed_frames, 0, now);
        const nodes = arr(d.nodes).map((n) => ({ n, r: rates("node:" + n.network + ":" + n.id, n.rx_packets, n.relayed_frames, now) }));
        return [
          section("Supernode", null, kv([
            ["id", d.supernode_id], ["listen", d.listen], ["encryption", sec.encryption], ["mode", sec.mode],
            ["members", sec.members], ["sessions", sec.sessions],
          ], "summary")),
          section("Relay and broadcast", null, kv([
            ["relayed frames", d.relayed_frames], ["relayed bytes", bytes(d.relayed_bytes)],
            ["relay rate", orDash(relay.a, bitRate) + ", " + orDash(relayFrames.a, (v) => v.toFixed(1) + " frames/s")],
            ["broadcast frames", d.broadcast_frames],
            ["broadcast rate", orDash(relay.b, (v) => v.toFixed(1) + " frames/s")],
          ], "relay")),
          present(d.federation) ? section("Federation peers", "wide", anyTable("federation", d.federation, "peer", "none")) : null,
          section("Networks (" + arr(d.networks).length + ")", null, table("networks", [
            ["network", (n) => n.network, "num"], ["nodes", (n) => n.nodes, "num"], ["identities", (n) => n.identities, "num"],
          ], arr(d.networks), "no networks yet")),
          section("Nodes (" + nodes.length + ")", "wide", table("nodes", [
            ["node", (x) => x.n.id, "num"],
            ["network", (x) => x.n.network, "num"],
            ["endpoint", (x) => x.n.endpoint, "mono"],
            ["local endpoints", (x) => x.n.locals, "mono"],
            ["last seen", (x) => age(x.n.last_seen_s) + " ago", "num"],
            ["registered", (x) => age(x.n.registered_s), "num"],
            ["packets in", (x) => count(x.n.rx_packets) + " (" + orDash(x.r.a, (v) => v.toFixed(1) + "/s") + ")", "num"],
            ["relayed", (x) => count(x.n.relayed_frames) + " (" + orDash(x.r.b, (v) => v.toFixed(1) + "/s") + ")", "num"],
          ], nodes, "no nodes registered")),
          section("Sessions", "wide", table("sessions", [
            ["network", (x) => x.network, "num"], ["node", (x) => x.node, "num"], ["key", (x) => x.key, "mono"],
            ["key age", (x) => age(x.key_age_s), "num"], ["confirmed", (x) => x.confirmed],
            ["endpoint", (x) => x.endpoint, "mono"], ["packets in / out", (x) => count(x.rx_packets) + " / " + count(x.tx_packets), "num"],
          ], arr(sec.session_list), sec.encryption === "none" ? "unencrypted" : "no sessions")),
          section("Counters", null, counters("counters", d.counters, now)),
        ];
      },
    },
    las: {
      labels: ["from edges", "to edges"], fmt: bitRate,
      totals: (d) => arr(d.sessions).reduce((t, x) => ({ a: t.a + num(x.rx_bytes), b: t.b + num(x.tx_bytes) }), { a: 0, b: 0 }),
      render(d, now) {
        const sessions = arr(d.sessions).map((x) => ({ x, r: rates("session:" + x.session, x.rx_bytes, x.tx_bytes, now) }));
        const macs = arr(d.mac_table);
        const byVc = (list, vcOf) => {
          const m = new Map();
          for (const x of list) {
            const k = String(vcOf(x));
            if (!m.has(k)) m.set(k, []);
            m.get(k).push(x);
          }
          return m;
        };
        const portsOf = byVc(sessions, (x) => x.x.vc);
        const macsOf = byVc(macs, (m) => m.vc);
        const allSwitches = arr(d.switches);
        const switches = allSwitches.slice(0, MAX_SWITCHES).map((sw) => h("div", { class: "switch", "data-vc": text(sw.vc) },
          h("h3", null, "VC " + text(sw.vc) + " (" + text(sw.policy) + ")"),
          kv([
            ["ports", text(sw.ports) + (Object.keys(obj(sw.ports_by_server)).length > 1 ? " (" + Object.keys(obj(sw.ports_by_server)).map((k) => k + " " + text(sw.ports_by_server[k])).join(", ") + ")" : "")], ["MAC entries", text(sw.macs) + (sw.macs_shown && String(sw.macs_shown) !== String(sw.macs) ? " (shown " + text(sw.macs_shown) + ")" : "")],
            ["frames in", sw.rx_frames], ["flooded", sw.flooded_frames], ["unicast", sw.unicast_frames],
            ["dropped", Object.keys(obj(sw.dropped)).length ? Object.keys(obj(sw.dropped)).map((k) => k + " " + text(sw.dropped[k])).join(", ") : "none"],
          ]),
          table("ports-" + text(sw.vc), [
            ["session", (x) => x.x.session, "num"], ["peer", (x) => x.x.peer + (x.x.peer_las ? " (peer LAS)" : ""), "mono"],
            ["in", (x) => orDash(x.r.a, bitRate), "num"], ["out", (x) => orDash(x.r.b, bitRate), "num"],
          ], portsOf.get(String(sw.vc)) || [], "no ports"),
          table("macs-" + text(sw.vc), [
            ["MAC", (m) => m.mac, "mono"], ["session", (m) => m.session, "num"], ["peer", (m) => m.peer, "mono"],
            ["idle", (m) => age(m.age_s), "num"],
          ], macsOf.get(String(sw.vc)) || [], "no MAC entries")));
        if (allSwitches.length > MAX_SWITCHES) {
          switches.push(h("p", { class: "note" }, (allSwitches.length - MAX_SWITCHES) + " more virtual switches not shown; l2 status --json has them all"));
        }
        return [
          section("LAS", null, kv([
            ["connections", arr(d.connections).length], ["sessions", arr(d.sessions).length],
            ["setting up", d.sessions_setting_up], ["virtual switches", arr(d.switches).length],
            ["MAC entries", macs.length],
          ], "summary")),
          ...(arr(d.mesh).length ? [section("Peer LAS servers", "wide", table("mesh", [
            ["peer", (p) => p.peer, "mono"], ["transport", (p) => p.transport], ["state", (p) => p.state],
            ["router id", (p) => p.router_id, "mono"], ["up", (p) => p.up_s === null ? "\u2013" : age(p.up_s), "num"],
            ["sessions", (p) => p.sessions_up, "num"],
            ["received", (p) => bytes(p.rx_bytes) + " (" + count(p.rx_frames) + " frames)", "num"],
            ["sent", (p) => bytes(p.tx_bytes) + " (" + count(p.tx_frames) + " frames)", "num"],
          ], arr(d.mesh), "no peer LAS"))] : []),
          section("Connections", "wide", table("connections", [
            ["peer", (c) => c.peer + (c.peer_las ? " (peer LAS)" : ""), "mono"], ["transport", (c) => c.transport], ["host name", (c) => c.host_name],
            ["state", (c) => c.state], ["dialect", (c) => c.dialect],
            ["ccid local / remote", (c) => text(c.local_ccid) + " / " + text(c.remote_ccid), "num"],
            ["sessions", (c) => c.sessions, "num"],
          ], arr(d.connections), "no control connections")),
          section("Sessions", "wide", table("sessions", [
            ["session", (x) => x.x.session, "num"], ["peer", (x) => x.x.peer + (x.x.peer_las ? " (peer LAS)" : ""), "mono"], ["VC", (x) => x.x.vc, "mono"],
            ["pw type", (x) => x.x.pw_type, "num"], ["remote session", (x) => x.x.remote_session, "num"],
            ["local", (x) => x.x.local, "mono"], ["sublayer", (x) => x.x.tx_sublayer], ["up", (x) => age(x.x.up_s), "num"],
            ["in", (x) => orDash(x.r.a, bitRate), "num"], ["out", (x) => orDash(x.r.b, bitRate), "num"],
            ["received", (x) => bytes(x.x.rx_bytes) + " (" + count(x.x.rx_frames) + " frames)", "num"],
            ["sent", (x) => bytes(x.x.tx_bytes) + " (" + count(x.x.tx_frames) + " frames)", "num"],
            ["send errors", (x) => x.x.tx_errors, "num"],
          ], sessions, "no sessions")),
          section("Virtual switches (" + allSwitches.length + ")", "wide", switches.length ? switches : h("p", { class: "empty", id: "switches" }, "no virtual switches")),
          section("Recent events", "wide", table("recent", [
            ["time", (e) => e.time, "mono"], ["event", (e) => e.event], ["peer", (e) => e.peer, "mono"],
            ["VC", (e) => e.vc, "mono"], ["session", (e) => e.session, "num"], ["reason", (e) => e.reason],
          ], arr(d.recent).slice().reverse(), "nothing yet")),
          section("Counters", null, counters("counters", d.counters, now)),
        ];
      },
    },
    xconnect: {
      labels: ["from the LAS", "to the LAS"], fmt: bitRate,
      totals: (d) => ({ a: num(obj(d.counters).rx_bytes), b: num(obj(d.counters).tx_bytes) }),
      render(d, now) {
        const se = d.session ? obj(d.session) : null;
        const c = obj(d.counters);
        const r = rates("frames", c.rx_frames, c.tx_frames, now);
        const iface = d.interface ? obj(d.interface) : null;
        const bk = d.backup ? obj(d.backup) : null;
        return [
          section("Session", null, kv([
            ["LAS", d.las], ["VC", d.vc], ["device", d.device],
            ["state", badge(text(d.state), d.state === "up" ? true : d.state === "idle" ? false : null)],
            ["local session", se ? se.local_session : null], ["remote session", se ? se.remote_session : null],
            ["up", se ? age(se.up_s) : null],
            ["interface", iface ? text(iface.name) + " mtu " + text(iface.mtu) : undefined],
            ["backup LAS", bk ? text(bk.las) + " (" + text(bk.state) + ", returns after " + text(bk.delay_s) + " s)" : undefined],
            ["frames go to", bk ? badge(d.active === "backup" ? "the backup" : "the primary", d.active === "backup" ? null : true) : undefined],
          ], "summary")),
          section("Traffic counters", null, kv([
            ["frames in", count(c.rx_frames) + " (" + orDash(r.a, (v) => v.toFixed(1) + "/s") + ")"],
            ["frames out", count(c.tx_frames) + " (" + orDash(r.b, (v) => v.toFixed(1) + "/s") + ")"],
            ["bytes in / out", bytes(c.rx_bytes) + " / " + bytes(c.tx_bytes)],
            ["sent without session", c.tx_no_session], ["send errors", c.tx_errors],
            ["connects", c.connects], ["sessions up", c.sessions_up],
          ], "traffic")),
          section("Counters", null, counters("counters", d.counters, now)),
        ];
      },
    },
  };

  function header(d) {
    const pe = obj(d.packet_errors);
    return section("Daemon", null, kv([
      ["role", d.role], ["name", d.name], ["version", d.version], ["pid", d.pid],
      ["up", age(d.uptime_s)], ["config", d.config_file],
      ["packet errors", pe.total === undefined ? undefined : badge(text(pe.total), num(pe.total) === 0 ? true : null)],
    ], "daemon"));
  }

  function render(d, now) {
    d = obj(d);
    const id = [d.role, d.pid, d.started_at].join("|");
    if (id !== identity) {
      identity = id;
      history = [];
      prevTotals = null;
      prevRows = new Map();
    }
    nextRows = new Map();
    const role = Object.prototype.hasOwnProperty.call(roles, d.role) ? roles[d.role] : null;
    const kids = [header(d)];
    if (role) {
      const t = role.totals(d);
      if (prevTotals && now > prevTotals.t && t.a >= prevTotals.a && t.b >= prevTotals.b) {
        const dt = (now - prevTotals.t) / 1000;
        history.push({ t: now, dt: now - prevTotals.t, a: (t.a - prevTotals.a) / dt, b: (t.b - prevTotals.b) / dt });
      }
      prevTotals = { t: now, a: t.a, b: t.b };
      history = history.filter((p) => p.t >= now - WINDOW_MS);
      kids.push(chart(role.labels, role.fmt, now));
      kids.push(...role.render(d, now).filter((k) => k !== null));
    } else {
      kids.push(section("Status", null, h("p", null, "This page does not know the role " + text(d.role) + "; l2 status shows it.")));
    }
    main.replaceChildren(...kids);
    prevRows = nextRows;
    document.title = "l2 " + text(d.role) + " " + text(d.name);
    byId("title").textContent = "l2 " + text(d.role) + " \u00b7 " + text(d.name);
  }

  function setState(label, cls) {
    const e = byId("state");
    e.textContent = label;
    e.className = "badge " + cls;
    document.body.classList.toggle("stale", cls === "bad");
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    clearTimeout(timer);
    if (paused || waitingForToken || document.hidden || busy) return;
    busy = true;
    try {
      await pollOnce();
    } finally {
      busy = false;
    }
  }

  async function pollOnce() {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    let res;
    try {
      res = await fetch("/status", { headers, cache: "no-store", credentials: "omit", redirect: "error" });
    } catch (e) {
      setState("unreachable, retrying", "bad");
      schedule();
      return;
    }
    if (res.status === 401) {
      waitingForToken = true;
      const refused = !!token;
      saveToken("");
      byId("login").hidden = false;
      byId("login-error").textContent = refused ? "The daemon refused that token." : "";
      setState("needs the API token", "warn");
      byId("token").focus();
      return;
    }
    if (!res.ok) {
      setState("HTTP " + res.status + ", retrying", "bad");
      schedule();
      return;
    }
    try {
      render(await res.json(), performance.now());
      setState("live", "good");
    } catch (e) {
      setState("cannot show this answer: " + text(e && e.message), "bad");
    }
    schedule();
  }

  byId("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = byId("token");
    const t = input.value.trim();
    input.value = "";
    if (!t) return;
    saveToken(t);
    byId("login").hidden = true;
    waitingForToken = false;
    setState("connecting", "warn");
    poll();
  });
  byId("forget").addEventListener("click", () => {
    saveToken("");
    main.replaceChildren();
    identity = "";
    poll();
  });
  byId("pause").addEventListener("click", () => {
    paused = !paused;
    byId("pause").textContent = paused ? "Resume" : "Pause";
    if (paused) setState("paused", "warn");
    else poll();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) poll();
  });
  byId("forget").hidden = !token;
  poll();
})();
`;
