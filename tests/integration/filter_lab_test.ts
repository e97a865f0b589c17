/**
 * Issue 20's filters in daemons, in namespaces this test creates (names
 * `l2t-fltvpn-*`, `l2t-fltlas-*`):
 *
 * - VPN: a supernode and three nodes (ids 1, 2, 3) on one underlay bridge.
 *   dnsmasq serves DHCP on the TAPs of nodes 1 and 2 (different ranges);
 *   node 3's `filter:` has `dhcp_server: [1]` and a rule dropping
 *   `tcp port 5201`. A DHCP client on node 3 is leased only by node 1
 *   (node 2's offers reach node 3 and are dropped, counted); iperf3 to port
 *   5202 on node 1 passes while port 5201 is dropped on node 3's egress.
 * - LAS: two `l2 xconnect` edges on VC 300, whose `filter: "not icmp"`
 *   drops ICMP while ARP passes (the neighbours resolve, pings fail), and
 *   VC 301 without a filter pings.
 *
 * Liveness only: bounded waits, no timing assertions.
 *
 * ```
 *   [sn 10.87.0.1] [n1 .11] [n2 .12] [n3 .13]      overlay (TAP v0): 10.97.0.1N/24
 *        \__________|________|________|            dnsmasq on n1 (.150-.159) and n2 (.160-.169)
 *                 core: bridge br0
 * ```
 *
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { Lab, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2, runScript } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";

const API_PORT = 7761;
const SN_PORT = 7654;
const DHCP_CLIENT = new URL("../lab/dhcp_client.ts", import.meta.url).pathname;

function wrap(ns: string): string[] {
  return ["ip", "netns", "exec", ns];
}

// deno-lint-ignore no-explicit-any
async function status(ns: string, port = API_PORT): Promise<any> {
  const r = await runL2(["status", "--api", `127.0.0.1:${port}`, "--json"], {
    wrap: wrap(ns),
    timeoutMs: 15_000,
  });
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

interface RuleCount {
  name: string;
  hits: number;
  dropped: number;
}

function rule(list: RuleCount[] | undefined, name: string): RuleCount {
  const r = list?.find((x) => x.name === name);
  assert(r, `rule ${name} in ${JSON.stringify(list)}`);
  return r;
}

async function ping(lab: Lab, ns: string, addr: string, count = 1) {
  return await lab.exec(ns, ["ping", "-c", String(count), "-i", "0.2", "-W", "2", addr], {
    allowFail: true,
    timeoutMs: 20_000,
  });
}

Deno.test("filter: node filter: dhcp_server guard and a tcpdump expression, in daemons", async () => {
  const lab = await Lab.create("fltvpn");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const core = await lab.netns("core");
    const sn = await lab.netns("sn");
    const n = [await lab.netns("n1"), await lab.netns("n2"), await lab.netns("n3")];
    const ports: string[] = [];
    for (const [i, ns] of [sn, ...n].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.87.0.${i === 0 ? 1 : 10 + i}/24`);
      ports.push(`p${i}`);
    }
    await lab.bridge(core, "br0", ports);
    // Keys: the supernode's, and one per node, all members.
    const mk = async (d: string) => await Deno.mkdir(d, { recursive: true, mode: 0o700 });
    await mk(`${dir}/sn`);
    const snKey = toBase64(writeNewKeyFile(`${dir}/sn/supernode.key`));
    const members: string[] = [];
    for (let i = 1; i <= 3; i++) {
      await mk(`${dir}/n${i}`);
      members.push(toBase64(writeNewKeyFile(`${dir}/n${i}/node.key`)));
    }
    await Deno.writeTextFile(
      `${dir}/sn.yaml`,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n    members:\n` +
        members.map((m) => `      - ${m}\n`).join(""),
    );
    const snd = new Daemon(
      MAIN,
      [
        "supernode",
        "--listen",
        `0.0.0.0:${SN_PORT}`,
        "--api",
        `127.0.0.1:${API_PORT}`,
        "--config",
        `${dir}/sn.yaml`,
      ],
      {},
      wrap(sn),
    );
    daemons.push(snd);
    await snd.waitLine(/listening on UDP/, 15_000);
    const filter3 = `    filter:
      - dhcp_server: [1]
      - name: no-5201
        expression: "tcp port 5201"
        action: drop
`;
    for (const [i, ns] of n.entries()) {
      const id = i + 1;
      const cfg = `${dir}/n${id}.yaml`;
      await Deno.writeTextFile(
        cfg,
        `node:\n  default:\n    state_dir: ${dir}/n${id}\n    supernode_key: "${snKey}"\n` +
          (id === 3 ? filter3 : ""),
        { mode: 0o600 },
      );
      const d = new Daemon(
        MAIN,
        [
          "node",
          "--supernode",
          `10.87.0.1:${SN_PORT}`,
          "--id",
          String(id),
          "--tap",
          "v0",
          "--api",
          `127.0.0.1:${API_PORT}`,
          ...(id === 3 ? [] : ["--address", `10.97.0.1${id}/24`]),
          "--config",
          cfg,
        ],
        {},
        wrap(ns),
      );
      daemons.push(d);
      await d.waitLine(/registered as node \d+/, 20_000);
    }
    // dnsmasq on the TAPs of nodes 1 and 2, each with its own range.
    for (const [i, range] of [[0, "150,10.97.0.159"], [1, "160,10.97.0.169"]] as const) {
      const d = `${dir}/dhcp${i + 1}`;
      await Deno.mkdir(d);
      lab.spawn(n[i], [
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--interface=v0",
        "--bind-interfaces",
        `--dhcp-range=10.97.0.${range},255.255.255.0,1h`,
        `--dhcp-leasefile=${d}/leases`,
        `--pid-file=${d}/pid`,
        "--log-dhcp",
      ]);
    }
    // Node 3's TAP has no address: its broadcasts go out there.
    await lab.ip(n[2], "route", "add", "default", "dev", "v0");
    const mac = JSON.parse(
      (await lab.exec(n[2], ["ip", "-j", "link", "show", "v0"])).stdout,
    )[0].address as string;
    // Several leases, each from node 1 only (dnsmasq on node 2 offers to every DISCOVER).
    for (let k = 0; k < 3; k++) {
      const r = await runScript(DHCP_CLIENT, [mac], { wrap: wrap(n[2]), timeoutMs: 60_000 });
      assertEquals(r.code, 0, r.stderr);
      const lease = JSON.parse(r.stdout);
      assert(/^10\.97\.0\.15\d$/.test(lease.address), `leased by node 1: ${r.stdout}`);
      assertEquals(lease.server, "10.97.0.11", r.stdout);
      assertEquals(lease.offers_from, ["10.97.0.11"], `node 2's offers never arrive: ${r.stdout}`);
    }
    // Node 2's offers did reach node 3, and its filter dropped them.
    await waitFor(
      async () => rule((await status(n[2])).filter?.ingress, "dhcp_server").dropped >= 1,
      20_000,
      "node 3's dhcp_server guard to drop an offer of node 2",
      250,
    );
    const leases2 = await Deno.readTextFile(`${dir}/dhcp2/leases`).catch(() => "");
    assertEquals(leases2.trim(), "", "node 2 acknowledged no lease");

    // TCP: 5202 passes, 5201 is dropped on node 3's egress.
    await lab.ip(n[2], "route", "del", "default", "dev", "v0");
    await lab.addr(n[2], "v0", "10.97.0.13/24");
    for (const port of ["5201", "5202"]) lab.spawn(n[0], ["iperf3", "-s", "-p", port]);
    await waitFor(
      async () => (await ping(lab, n[2], "10.97.0.11")).code === 0,
      20_000,
      "node 3 to reach node 1",
      200,
    );
    const iperf = (port: string) =>
      lab.exec(n[2], [
        "iperf3",
        "-c",
        "10.97.0.11",
        "-p",
        port,
        "-n",
        "200K",
        "--connect-timeout",
        "3000",
      ], { allowFail: true, timeoutMs: 30_000 });
    let ok = await iperf("5202");
    for (let k = 0; k < 5 && ok.code !== 0; k++) ok = await iperf("5202"); // server start race
    assertEquals(ok.code, 0, `port 5202 passes: ${ok.stdout} ${ok.stderr}`);
    const blocked = await iperf("5201");
    assert(blocked.code !== 0, `port 5201 is dropped: ${blocked.stdout}`);
    const st3 = await status(n[2]);
    assert(rule(st3.filter.egress, "no-5201").dropped >= 1, JSON.stringify(st3.filter));
    assertEquals(rule(st3.filter.egress, "dhcp_server").dropped, 0, "node 3 serves no DHCP");
    assert(st3.counters.tx_filtered >= 1, JSON.stringify(st3.counters));
    assert(st3.counters.rx_filtered >= 1, JSON.stringify(st3.counters));
    // Metrics: one series per direction and rule.
    const m = await runL2(["status", "--api", `127.0.0.1:${API_PORT}`, "--metrics"], {
      wrap: wrap(n[2]),
      timeoutMs: 15_000,
    });
    assert(
      /l2_node_filter_dropped_total\{dir="egress",rule="no-5201"\} [1-9]/.test(m.stdout),
      m.stdout,
    );
    // `l2 status -v` shows the rules.
    const v = await runL2(["status", "--api", `127.0.0.1:${API_PORT}`, "-v"], {
      wrap: wrap(n[2]),
      timeoutMs: 15_000,
    });
    assertEquals(v.code, 0, v.stderr);
    assert(v.stdout.includes("no-5201"), v.stdout);
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("filter: LAS per-VC filter drops ICMP while ARP passes", async () => {
  const lab = await Lab.create("fltlas");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const core = await lab.netns("core");
    const las = await lab.netns("las");
    const e = [
      await lab.netns("e1"),
      await lab.netns("e2"),
      await lab.netns("e3"),
      await lab.netns("e4"),
    ];
    const members: string[] = [];
    for (const [i, ns] of [las, ...e].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.76.0.${i + 1}/24`);
      members.push(`p${i}`);
    }
    await lab.bridge(core, "br0", members);
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `las:
  default:
    api: 127.0.0.1:7762
    vcs:
      "300":
        filter: "not icmp"
`,
    );
    const lasd = new Daemon(MAIN, ["las", "--config", cfg], {}, wrap(las));
    daemons.push(lasd);
    await lasd.waitLine(/listening for L2TPv3/);
    const x = e.map((ns, i) => {
      const d = new Daemon(
        MAIN,
        ["xconnect", "10.76.0.1", i < 2 ? "300" : "301", "--tap", "x0", "--api", "127.0.0.1:7763"],
        {},
        wrap(ns),
      );
      daemons.push(d);
      return d;
    });
    for (const d of x) await d.waitLine(/session \d+ on VC \d+ is up/, 15_000);
    for (const [i, ns] of e.entries()) await lab.addr(ns, "x0", `192.168.76.${i + 1}/24`);
    // VC 301 has no filter: pings pass.
    await waitFor(
      async () => (await ping(lab, e[2], "192.168.76.4")).code === 0,
      20_000,
      "e3 to reach e4 on VC 301",
      200,
    );
    // VC 300: ARP resolves (the neighbour entry gets a MAC), ICMP never arrives.
    const r = await ping(lab, e[0], "192.168.76.2", 3);
    assert(r.code !== 0, `ICMP on VC 300 is dropped: ${r.stdout}`);
    const neigh = await lab.exec(e[0], ["ip", "-j", "neigh", "show", "192.168.76.2", "dev", "x0"]);
    const e2mac = JSON.parse(
      (await lab.exec(e[1], ["ip", "-j", "link", "show", "x0"])).stdout,
    )[0].address as string;
    const entry = JSON.parse(neigh.stdout)[0];
    assertEquals(entry?.lladdr, e2mac, `ARP passed: ${neigh.stdout}`);
    const st = await status(las, 7762);
    const f = st.filters.find((x: { vc: string }) => x.vc === "300");
    assert(f, JSON.stringify(st.filters));
    const sel = rule(f.rules, "filter");
    assert(sel.dropped >= 3, `the echo requests counted: ${JSON.stringify(f)}`);
    assertEquals(rule(f.rules, "default").hits > 0, true, "ARP went through the default");
    assert(st.counters.filtered_frames >= 3, JSON.stringify(st.counters));
    const m = await runL2(["status", "--api", "127.0.0.1:7762", "--metrics"], {
      wrap: wrap(las),
      timeoutMs: 15_000,
    });
    assert(/l2_las_filter_dropped_total\{vc="300",rule="filter"\} [1-9]/.test(m.stdout), m.stdout);
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
});
