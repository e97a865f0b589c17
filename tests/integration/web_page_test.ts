/**
 * The live status page (`GET /` on the management endpoint, issue 21) in a
 * real browser: headless Chromium, driven over the DevTools protocol
 * (tests/lab/browser.ts), loads the page of real daemons in namespace labs
 * and the test checks the DOM against what `/status` reports.
 *
 * - A node of a supernode + two nodes lab: its peers with their path and
 *   endpoint, every MAT leaf's MAC; after a ping flood a rate above what the
 *   flood must give appears, in the legend, on the peer's row and as a
 *   chart line. The supernode's page lists the nodes with their endpoints.
 *   Neither page shows a private key.
 * - A LAS with an `api_token`, on its lab address, seen from an edge's
 *   namespace: the page asks for the token, then shows both control
 *   connections with their dialect, the virtual switch with its ports and
 *   every MAC entry of its table, and a rate after traffic; an edge's page
 *   shows its session and a rate too. One edge's host
 *   name (which the LAS learns from the peer) is markup: it shows as text,
 *   and no element of it appears. The token lives in sessionStorage only
 *   and is never written into the document.
 * - Shapes the labs do not make, from a scripted `/status` served by the
 *   endpoint's own `serveApi` on loopback: fields this page does not name
 *   (federation peers, a node's supernodes) as tables, a MAC table longer
 *   than the page lists, a role it does not know; markup in every kind of
 *   field stays text.
 * - Every page requested only its own origin, threw nothing and broke no
 *   Content-Security-Policy rule (Chromium logs a violation).
 *
 * Screenshots (desktop and phone width), the DOM and the `/status` each
 * page was checked against are saved in the artefacts directory:
 * `$L2_TEST_ARTEFACTS/web_page/` when that is set, else a new temporary
 * directory; the test prints its path.
 *
 * ```
 *   VPN lab:  [sn 10.88.0.1] [n1 10.88.0.11] [n2 10.88.0.12]   core bridge; overlay 10.99.0.0/24
 *   LAS lab:  [las 10.77.0.1, api 10.77.0.1:7760] [e1 10.77.0.2] [e2 10.77.0.3]   core bridge
 *             e1, e2: xconnect VC 100, TAP x0 192.168.77.2/.3; Chromium in n1, sn, e1
 * ```
 *
 * Bounded waits only; no assertion on timing.
 *
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { Lab, requireRoot, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";
import { startVpnPair, vpnStatus } from "../lab/vpn_pair.ts";
import { Browser, CHROMIUM, haveChromium, type Tab } from "../lab/browser.ts";
import { serveApi } from "../../cmd/kit/api.ts";

const API = 7659;
const LAS_API = 7760;
const TOKEN = "web-page-test-token-0123456789";
/** A host name that is markup (sethostname takes any bytes, up to 64). */
const HOSTILE = '<img src=x id=pwn onerror="document.title=1">';
/** A flood of 1400-byte pings every 0.1 s is about 14 kB/s each way; the page must see a third. */
const FLOOD_BYTES_PER_S = 4000;

let artefactDir: Promise<string> | null = null;

/** The directory of this file's artefacts, made once per run. */
function artefacts(): Promise<string> {
  return artefactDir ??= makeArtefacts();
}

async function makeArtefacts(): Promise<string> {
  const base = Deno.env.get("L2_TEST_ARTEFACTS");
  let dir: string;
  if (base) {
    dir = `${base}/web_page`;
    await Deno.mkdir(dir, { recursive: true });
  } else {
    dir = await Deno.makeTempDir({ prefix: "l2-web-page-" });
  }
  console.log(`  web_page artefacts (screenshots, DOM, /status): ${dir}`);
  return dir;
}

async function needChromium(): Promise<void> {
  assert(
    await haveChromium(),
    `${CHROMIUM} is missing: apt-get install chromium (or set L2_CHROMIUM to a Chromium binary)`,
  );
}

/** Saves the tab's DOM and a screenshot as `<dir>/<name>.{html,png}`. */
async function save(tab: Tab, dir: string, name: string): Promise<void> {
  await Deno.writeTextFile(
    `${dir}/${name}.html`,
    await tab.eval<string>("document.documentElement.outerHTML"),
  );
  await tab.screenshot(`${dir}/${name}.png`);
}

/** The texts of a table's cells, by row then column label. */
function rowsOf(tab: Tab, id: string): Promise<Record<string, string>[]> {
  return tab.eval<Record<string, string>[]>(`(() => {
    const t = document.getElementById(${JSON.stringify(id)});
    if (!t || t.tagName !== "TABLE") return [];
    return [...t.tBodies[0].rows].map((r) => Object.fromEntries(
      [...r.cells].map((c) => [c.dataset.label, c.textContent])));
  })()`);
}

/** The page's current rate (bytes/s or packets/s) in the legend, or 0 when none yet. */
function rate(tab: Tab, which: "in" | "out"): Promise<number> {
  return tab.eval<number>(
    `Number(document.getElementById("rate-${which}")?.dataset.value || 0)`,
  );
}

/**
 * What must hold for any page: no "null", "undefined", "NaN" or "[object
 * Object]" shown, only its own origin requested, no exception,
 * no CSP violation or other error but a resource answering 401/404 (the
 * favicon, `/status` before the token).
 */
async function assertClean(tab: Tab, origin: string): Promise<void> {
  const text = await tab.eval<string>("document.getElementById('main').innerText");
  const junk = /\b(null|undefined|NaN|\[object Object\])\b/.exec(text);
  assert(junk === null, `the page shows "${junk?.[0]}": ${text}`);
  for (const u of tab.requests) {
    assert(u.startsWith(origin + "/"), `the page requested ${u}, outside ${origin}`);
  }
  const bad = tab.events.filter((e) =>
    e.kind === "exception" || e.source === "security" ||
    (e.level === "error" &&
      !(e.source === "network" && /status of (401|404)/.test(e.text)))
  );
  assertEquals(bad, [], "the page threw, broke its CSP or logged an error");
}

/** Base64 strings of a key file (the private key is one of them). */
async function keyStrings(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  return [...text.matchAll(/[A-Za-z0-9+/]{40,}={0,2}/g)].map((m) => m[0]);
}

Deno.test("web page: a node and its supernode, live in Chromium", async () => {
  requireRoot();
  await needChromium();
  const out = await artefacts();
  const lab = await Lab.create("webvpn");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir({ prefix: "l2-web-vpn-" });
  let browser: Browser | null = null;
  try {
    const core = await lab.netns("core");
    const sn = await lab.netns("sn");
    const n1 = await lab.netns("n1");
    const n2 = await lab.netns("n2");
    for (const [i, ns] of [sn, n1, n2].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", i === 0 ? "10.88.0.1/24" : `10.88.0.1${i}/24`);
    }
    await lab.bridge(core, "br0", ["p0", "p1", "p2"]);
    await startVpnPair(lab, {
      main: MAIN,
      dir,
      sn,
      nodes: [n1, n2],
      snAddr: "10.88.0.1",
      api: API,
      daemons,
      label: "web",
    });
    const origin = `http://127.0.0.1:${API}`;

    // The node's page, from inside the node's namespace. rebind.test resolves to the node's
    // loopback, as an attacker's name would after DNS rebinding.
    browser = await Browser.launch({
      ns: n1,
      dir,
      args: ["--host-resolver-rules=MAP rebind.test 127.0.0.1"],
    });
    const tab = await browser.newTab();
    await tab.goto(`${origin}/`);
    let st = await vpnStatus(n1, API);
    assertEquals(st.role, "node");
    assert(st.peers.length >= 1, "the node knows its peer");
    // Every peer /status reports is a row with its path and endpoint (bounded wait: the page polls).
    const peersShown = async () => {
      st = await vpnStatus(n1, API);
      const rows = await rowsOf(tab, "peers");
      return st.peers.every((p: { node: number; path: string; endpoint: string }) =>
        rows.some((r) =>
          r.node === String(p.node) && r.path === p.path && r.endpoint === p.endpoint
        )
      ) && rows.length === st.peers.length;
    };
    await waitFor(peersShown, 30_000, "the page to show the peers /status reports", 500);
    assert(st.peers.some((p: { path: string }) => p.path === "direct"), "a direct path");
    // Every MAT leaf's MAC, with its leaf id.
    const macs = st.mat.leaves as { leaf: number; mac: string }[];
    assert(macs.length >= 1, "the TAP's own MAC is leaf 0");
    await tab.waitFor(
      `(() => { const t = document.getElementById("mat"); return !!t && ${
        JSON.stringify(macs.map((l) => [String(l.leaf), l.mac]))
      }.every(([leaf, mac]) => [...t.tBodies[0].rows].some((r) =>
        r.cells[0].textContent === leaf && r.cells[1].textContent === mac)); })()`,
      30_000,
      "every MAT leaf on the page",
    );
    assertEquals(
      await tab.eval("document.getElementById('title').textContent"),
      "l2 node · default",
    );

    // Traffic: a rate above what the flood must give appears, both ways, on the chart too.
    const flood = lab.spawn(n1, [
      "ping",
      "-q",
      "-s",
      "1400",
      "-i",
      "0.1",
      "-c",
      "600",
      "10.99.0.12",
    ]);
    try {
      await waitFor(
        async () =>
          (await rate(tab, "out")) > FLOOD_BYTES_PER_S &&
          (await rate(tab, "in")) > FLOOD_BYTES_PER_S,
        45_000,
        `a traffic rate above ${FLOOD_BYTES_PER_S} B/s each way on the page`,
        500,
      );
      const rows = await rowsOf(tab, "peers");
      assert(
        rows.some((r) => /[kM]b\/s$/.test(r.out) && /[kM]b\/s$/.test(r.in)),
        `a peer's row shows its rates: ${JSON.stringify(rows)}`,
      );
      // The chart's lines rise above the baseline (y grows downwards; the baseline is 136).
      for (const cls of ["in", "out"]) {
        const pts = await tab.eval<string>(
          `document.querySelector("#chart polyline.${cls}").getAttribute("points")`,
        );
        const ys = pts.split(" ").map((p) => Number(p.split(",")[1]));
        assert(ys.length >= 2 && Math.min(...ys) < 100, `the chart's ${cls} line: ${pts}`);
      }
      await save(tab, out, "node");
    } finally {
      await flood.stop(1000);
    }
    await Deno.writeTextFile(`${out}/node.status.json`, JSON.stringify(st, null, 2));
    const html = await tab.eval<string>("document.documentElement.outerHTML");
    for (const k of await keyStrings(`${dir}/n0/node.key`)) {
      assert(!html.includes(k), "the node's page shows a string of its key file");
    }
    await assertClean(tab, origin);
    // DNS rebinding: the same endpoint, reached under a name, answers neither page nor data.
    const rebound = await browser.newTab();
    for (const path of ["/", "/status"]) {
      await rebound.goto(`http://rebind.test:${API}${path}`);
      const body = await rebound.eval<string>("document.body.innerText");
      assert(body.startsWith("misdirected"), `rebind.test${path} answered: ${body.slice(0, 200)}`);
      assert(!body.includes('"peers"') && !body.includes("<script"), "neither data nor page");
    }
    await browser.close();
    browser = null;

    // The supernode's page, from the supernode's namespace, at phone width.
    browser = await Browser.launch({ ns: sn, dir });
    const stab = await browser.newTab({ width: 390, height: 844, mobile: true });
    await stab.goto(`${origin}/`);
    const snSt = await vpnStatus(sn, API);
    assertEquals(snSt.role, "supernode");
    assertEquals(snSt.nodes.length, 2);
    await stab.waitFor(
      `(() => { const t = document.getElementById("nodes"); return !!t && ${
        JSON.stringify(
          snSt.nodes.map((n: { id: number; endpoint: string }) => [String(n.id), n.endpoint]),
        )
      }.every(([id, ep]) => [...t.tBodies[0].rows].some((r) =>
        r.cells[0].textContent === id && r.cells[2].textContent === ep)); })()`,
      30_000,
      "the nodes /status reports, with their endpoints, on the supernode's page",
    );
    const nets = await rowsOf(stab, "networks");
    assertEquals(
      nets.map((r) => r.network),
      snSt.networks.map((n: { network: number }) => String(n.network)),
    );
    // At phone width the tables turn into cards: no horizontal scrolling of the page.
    const overflow = await stab.eval<number>(
      "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    assert(overflow <= 0, `the page is wider than a phone by ${overflow} px`);
    await save(stab, out, "supernode-phone");
    await Deno.writeTextFile(`${out}/supernode.status.json`, JSON.stringify(snSt, null, 2));
    const snHtml = await stab.eval<string>("document.documentElement.outerHTML");
    for (const k of await keyStrings(`${dir}/sn/supernode.key`)) {
      assert(!snHtml.includes(k), "the supernode's page shows a string of its key file");
    }
    await assertClean(stab, origin);
  } finally {
    await browser?.close();
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("web page: a LAS behind a token, its switch and MAC table, a hostile host name", async () => {
  requireRoot();
  await needChromium();
  const out = await artefacts();
  const lab = await Lab.create("weblas");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir({ prefix: "l2-web-las-" });
  let browser: Browser | null = null;
  try {
    const core = await lab.netns("core");
    const las = await lab.netns("las");
    const e1 = await lab.netns("e1");
    const e2 = await lab.netns("e2");
    for (const [i, ns] of [las, e1, e2].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.77.0.${i + 1}/24`);
    }
    await lab.bridge(core, "br0", ["p0", "p1", "p2"]);
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `las:\n  default:\n    hello_interval: 1\n    api: 10.77.0.1:${LAS_API}\n    api_token: ${TOKEN}\n`,
      { mode: 0o600 }, // it holds a token
    );
    const wrap = (ns: string) => ["ip", "netns", "exec", ns];
    const lasd = new Daemon(MAIN, ["las", "--config", cfg], {}, wrap(las));
    daemons.push(lasd);
    await lasd.waitLine(/listening for L2TPv3/);
    const edge = (w: string[]) => {
      const d = new Daemon(
        MAIN,
        ["xconnect", "10.77.0.1", "100", "--tap", "x0", "--api", "127.0.0.1:7761"],
        {},
        w,
      );
      daemons.push(d);
      return d;
    };
    // e2 runs in its own UTS namespace whose host name is markup.
    const hostile = [
      ...wrap(e2),
      "unshare",
      "--uts",
      "sh",
      "-c",
      'printf %s "$1" > /proc/sys/kernel/hostname && shift && exec "$@"',
      "sh",
      HOSTILE,
    ];
    const x = [edge(wrap(e1)), edge(hostile)];
    for (const d of x) await d.waitLine(/session \d+ on VC \d+ is up/, 20_000);
    await lab.addr(e1, "x0", "192.168.77.2/24");
    await lab.addr(e2, "x0", "192.168.77.3/24");
    await waitFor(
      async () =>
        (await lab.exec(e1, ["ping", "-c", "1", "-W", "1", "192.168.77.3"], { allowFail: true }))
          .code === 0,
      20_000,
      "e1 to reach e2 over VC 100",
      200,
    );
    const status = async () => {
      const r = await runL2(
        ["status", "--api", `10.77.0.1:${LAS_API}`, "--token", TOKEN, "--json"],
        { wrap: wrap(e1) },
      );
      assertEquals(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };

    // The operator's browser on the management network (e1's namespace), without the token yet.
    browser = await Browser.launch({ ns: e1, dir });
    const tab = await browser.newTab();
    const origin = `http://10.77.0.1:${LAS_API}`;
    await tab.goto(`${origin}/`);
    await tab.waitFor(
      "!document.getElementById('login').hidden",
      20_000,
      "the page to ask for the token",
    );
    assertEquals(await tab.eval("document.querySelectorAll('#main section').length"), 0);
    await tab.eval(`(() => {
      document.getElementById("token").value = ${JSON.stringify(TOKEN)};
      document.getElementById("login").requestSubmit();
    })()`);

    let st = await status();
    assertEquals(st.role, "las");
    assertEquals(st.connections.length, 2);
    // Both connections with their dialect and host name, the one that is markup as text.
    await waitFor(
      async () => {
        st = await status();
        const rows = await rowsOf(tab, "connections");
        return rows.length === st.connections.length &&
          st.connections.every((c: { peer: string; dialect: string; host_name: string }) =>
            rows.some((r) =>
              r.peer === c.peer && r.dialect === c.dialect && r["host name"] === c.host_name
            )
          );
      },
      30_000,
      "the page to show the connections /status reports",
      500,
    );
    assert(
      st.connections.some((c: { host_name: string }) => c.host_name === HOSTILE),
      `the LAS learned the hostile host name: ${JSON.stringify(st.connections)}`,
    );
    assertEquals(await tab.eval("document.querySelectorAll('img, #pwn').length"), 0, "no markup");
    assert(await tab.eval<string>("document.title") !== "1", "no script ran");

    // Every switch with its ports, and every MAC entry of its table.
    const sw = st.switches as { vc: string; ports: number }[];
    assertEquals(sw.map((s) => s.vc), ["100"]);
    await waitFor(
      async () => {
        st = await status();
        const macs = st.mac_table as { vc: string; mac: string; session: number }[];
        if (macs.length < 2) return false; // both TAPs have spoken (the ping above)
        for (const s of st.switches as { vc: string }[]) {
          const ports = await rowsOf(tab, `ports-${s.vc}`);
          const want = st.sessions.filter((x: { vc: string }) => x.vc === s.vc);
          if (ports.length !== want.length) return false;
          const rows = await rowsOf(tab, `macs-${s.vc}`);
          const mine = macs.filter((m) => m.vc === s.vc);
          if (
            !mine.every((m) => rows.some((r) => r.MAC === m.mac && r.session === String(m.session)))
          ) return false;
        }
        return true;
      },
      30_000,
      "the page to show every switch's ports and MAC entries /status reports",
      500,
    );

    // Traffic over the switch: a rate appears.
    const flood = lab.spawn(e1, [
      "ping",
      "-q",
      "-s",
      "1400",
      "-i",
      "0.1",
      "-c",
      "600",
      "192.168.77.3",
    ]);
    try {
      await waitFor(
        async () =>
          (await rate(tab, "in")) > FLOOD_BYTES_PER_S &&
          (await rate(tab, "out")) > FLOOD_BYTES_PER_S,
        45_000,
        `a traffic rate above ${FLOOD_BYTES_PER_S} B/s each way on the LAS's page`,
        500,
      );
      await save(tab, out, "las");
      await Deno.writeTextFile(`${out}/las.status.json`, JSON.stringify(await status(), null, 2));

      // e1's xconnect edge (its endpoint on e1's loopback, no token): session state and rate.
      const xOrigin = "http://127.0.0.1:7761";
      const xtab = await browser.newTab();
      await xtab.goto(`${xOrigin}/`);
      const xr = await runL2(["status", "--api", "127.0.0.1:7761", "--json"], { wrap: wrap(e1) });
      assertEquals(xr.code, 0, xr.stderr);
      const xst = JSON.parse(xr.stdout);
      assertEquals([xst.role, xst.state], ["xconnect", "up"]);
      const want = {
        LAS: xst.las,
        VC: xst.vc,
        state: "up",
        "local session": String(xst.session.local_session),
        "remote session": String(xst.session.remote_session),
      };
      await xtab.waitFor(
        `(() => { const dl = document.getElementById("summary"); if (!dl) return false;
          const got = {}; for (const dt of dl.querySelectorAll("dt"))
            got[dt.textContent] = dt.nextElementSibling.textContent;
          return Object.entries(${JSON.stringify(want)}).every(([k, v]) => got[k] === v); })()`,
        20_000,
        `the edge's session on its page: ${JSON.stringify(want)}`,
      );
      await waitFor(
        async () =>
          (await rate(xtab, "in")) > FLOOD_BYTES_PER_S / 2 &&
          (await rate(xtab, "out")) > FLOOD_BYTES_PER_S / 2,
        45_000,
        "a traffic rate on the edge's page",
        500,
      );
      await save(xtab, out, "xconnect");
      await assertClean(xtab, xOrigin);
    } finally {
      await flood.stop(1000);
    }

    // Back to the LAS's tab (a hidden tab does not poll).
    await tab.front();
    // The token: in this tab's sessionStorage only, never in the document or localStorage.
    assertEquals(await tab.eval("sessionStorage.getItem('l2-api-token')"), TOKEN);
    assertEquals(await tab.eval("localStorage.length"), 0);
    assert(
      !(await tab.eval<string>("document.documentElement.outerHTML")).includes(TOKEN),
      "the token is in the document",
    );
    assertEquals(await tab.eval("document.getElementById('token').value"), "");
    // Forgetting it asks again.
    await tab.eval("document.getElementById('forget').click()");
    await tab.waitFor("!document.getElementById('login').hidden", 20_000, "the token form again");
    assertEquals(await tab.eval("sessionStorage.length"), 0);
    await assertClean(tab, origin);

    // The same page at phone width, with the token again.
    const phone = await browser.newTab({ width: 390, height: 844, mobile: true });
    await phone.goto(`${origin}/`);
    await phone.waitFor("!document.getElementById('login').hidden", 20_000, "the token form");
    await phone.eval(`(() => {
      document.getElementById("token").value = ${JSON.stringify(TOKEN)};
      document.getElementById("login").requestSubmit();
    })()`);
    await phone.waitFor(
      "document.querySelectorAll('#macs-100 tbody tr').length >= 2",
      20_000,
      "the MAC table at phone width",
    );
    const overflow = await phone.eval<number>(
      "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    assert(overflow <= 0, `the page is wider than a phone by ${overflow} px`);
    await save(phone, out, "las-phone");
    await assertClean(phone, origin);
    // A wrong token is refused, and said so.
    const wrong = await browser.newTab();
    await wrong.goto(`${origin}/`);
    await wrong.waitFor("!document.getElementById('login').hidden", 20_000, "the token form");
    await wrong.eval(`(() => {
      document.getElementById("token").value = "not-the-token-not-the-token";
      document.getElementById("login").requestSubmit();
    })()`);
    await wrong.waitFor(
      "document.getElementById('login-error').textContent.includes('refused')",
      20_000,
      "the page to say the token was refused",
    );
    assertEquals(await wrong.eval("document.querySelectorAll('#main section').length"), 0);
  } finally {
    await browser?.close();
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("web page: what a later or hostile /status may hold (served by the endpoint's own code on loopback)", async () => {
  await needChromium();
  const dir = await Deno.makeTempDir({ prefix: "l2-web-shapes-" });
  let doc: Record<string, unknown> = {};
  const api = serveApi({ host: "127.0.0.1", port: 0 }, {
    status: () => doc,
    metrics: () => "",
  }, null);
  let browser: Browser | null = null;
  try {
    const origin = `http://127.0.0.1:${api.addr.port}`;
    browser = await Browser.launch({ dir });
    const tab = await browser.newTab();
    const mark = "<b id=mk>x</b>";
    const base = { version: "0.1.0", name: mark, pid: 1, started_at: "t0", uptime_s: 5 };

    // A supernode with federation peers (a map by peer id, fields this page does not name).
    doc = {
      ...base,
      role: "supernode",
      federation: { "7": { state: "up", rtt_ms: 3.5, key: mark, remote_nodes: 4 } },
      nodes: [{ id: 3, network: 0, endpoint: mark, last_seen_s: 0.5 }],
      networks: [{ network: 0, nodes: 1, identities: 1 }],
    };
    await tab.goto(`${origin}/`);
    const fed = await tab.waitFor<Record<string, string>[]>(
      `(() => { const t = document.getElementById("federation"); return t && t.tagName === "TABLE" &&
        [...t.tBodies[0].rows].map((r) => Object.fromEntries([...r.cells].map((c) =>
          [c.dataset.label, c.textContent]))); })()`,
      20_000,
      "the federation peers",
    );
    assertEquals(fed, [{
      peer: "7",
      state: "up",
      "rtt ms": "3.5",
      key: mark,
      "remote nodes": "4",
    }]);
    assertEquals((await rowsOf(tab, "nodes"))[0].endpoint, mark);

    // A node with its supernodes (a list), and no federation on the supernode any more.
    doc = {
      ...base,
      role: "node",
      pid: 2,
      supernodes: [{ supernode: "192.0.2.1:7654", state: "attached", rtt_ms: 1 }],
      peers: [],
      mat: { leaves: [] },
    };
    await tab.waitFor(
      "document.getElementById('supernodes')?.tBodies[0].rows.length === 1",
      20_000,
      "the node's supernodes",
    );
    assertEquals(await tab.eval("document.getElementById('federation')"), null);
    assertEquals((await rowsOf(tab, "supernodes"))[0].state, "attached");
    assertEquals(await tab.eval("document.getElementById('peers').textContent"), "no peers yet");
    await assertClean(tab, origin);

    // A LAS with more MAC entries than the page lists: 500 rows and a note of the rest.
    const macs = Array.from({ length: 620 }, (_, i) => ({
      vc: "9",
      mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${
        (i & 255).toString(16).padStart(2, "0")
      }`,
      session: 1,
      peer: mark,
      age_s: i,
    }));
    doc = {
      ...base,
      role: "las",
      pid: 3,
      connections: [],
      sessions: [],
      switches: [{ vc: "9", policy: mark, ports: 0, macs: 620, dropped: {} }],
      mac_table: macs,
      recent: [],
    };
    await tab.waitFor(
      "document.getElementById('macs-9')?.tBodies[0].rows.length === 500",
      20_000,
      "the LAS's MAC table, cut at 500 rows",
    );
    assert(
      (await tab.eval<string>("document.body.innerText")).includes(
        "120 more not shown; l2 status --json has them all",
      ),
      "the rows left out are said",
    );

    // A role this page does not know: said, nothing else.
    doc = { ...base, role: "fnord", pid: 4 };
    await tab.waitFor(
      "document.body.innerText.includes('does not know the role fnord')",
      20_000,
      "the unknown role",
    );

    // Through all of it, the markup stayed text: no element of it, in any shape.
    assertEquals(await tab.eval("document.querySelectorAll('#mk, b#mk').length"), 0);
    assertEquals(await tab.eval("document.title"), `l2 fnord ${mark}`);
    await assertClean(tab, origin);
  } finally {
    await browser?.close();
    await api.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
