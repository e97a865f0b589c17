/**
 * `l2 xconnect --interface`: an existing interface (a veth to a host
 * namespace) carried over a pseudowire to `l2 las`, meeting a TAP edge on the
 * same VC. In namespaces this test creates:
 *
 *   h1 [eth0 192.168.78.1] --veth-- [hv0] e1: xconnect --interface hv0 --\
 *                                        e2: xconnect --tap x0 ------------ core br0 -- las
 *                                            [x0 192.168.78.2]
 */
import { assert, assertEquals } from "../assert.ts";
import { Lab, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";

const wrap = (ns: string) => ["ip", "netns", "exec", ns];

async function linkInfo(lab: Lab, ns: string, dev: string) {
  const r = await lab.exec(ns, ["ip", "-d", "-j", "link", "show", dev]);
  return JSON.parse(r.stdout)[0];
}

async function gro(lab: Lab, ns: string, dev: string): Promise<string> {
  const r = await lab.exec(ns, ["ethtool", "-k", dev]);
  return /generic-receive-offload: (\w+)/.exec(r.stdout)?.[1] ?? "unknown";
}

Deno.test("xconnect --interface: a host behind a real interface pings a TAP edge on the same VC; promiscuous and GRO off only while running", async () => {
  const lab = await Lab.create("xif");
  const daemons: Daemon[] = [];
  try {
    const core = await lab.netns("core");
    const las = await lab.netns("las");
    const e1 = await lab.netns("e1");
    const e2 = await lab.netns("e2");
    const h1 = await lab.netns("h1");
    const ports: string[] = [];
    for (const [i, ns] of [las, e1, e2].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.78.0.${i + 1}/24`);
      ports.push(`p${i}`);
    }
    await lab.bridge(core, "br0", ports);
    await lab.veth(e1, "hv0", h1, "eth0");
    await lab.addr(h1, "eth0", "192.168.78.1/24");
    await lab.addr(h1, "eth0", "fd78::1/64");
    // GRO on, as on many real NICs: the edge must turn it off while it runs and restore it.
    await lab.exec(e1, ["ethtool", "-K", "hv0", "gro", "on"]);
    assertEquals(await gro(lab, e1, "hv0"), "on");
    assertEquals((await linkInfo(lab, e1, "hv0")).promiscuity, 0);

    const lasd = new Daemon(MAIN, ["las", "--api", "127.0.0.1:7761"], {}, wrap(las));
    daemons.push(lasd);
    await lasd.waitLine(/listening for L2TPv3/);
    const x1 = new Daemon(
      MAIN,
      ["xconnect", "10.78.0.1", "300", "--interface", "hv0", "--api", "127.0.0.1:7762"],
      {},
      wrap(e1),
    );
    daemons.push(x1);
    const x2 = new Daemon(
      MAIN,
      ["xconnect", "10.78.0.1", "300", "--tap", "x0", "--api", "127.0.0.1:7763"],
      {},
      wrap(e2),
    );
    daemons.push(x2);
    for (const d of [x1, x2]) await d.waitLine(/session \d+ on VC \d+ is up/, 15_000);
    await x1.waitLine(/edge for VC 300 on interface hv0, promiscuous/, 30_000);
    await x1.waitLine(/turned GRO off on hv0/, 30_000);
    await lab.addr(e2, "x0", "192.168.78.2/24");
    await lab.addr(e2, "x0", "fd78::2/64");

    assertEquals((await linkInfo(lab, e1, "hv0")).promiscuity, 1, "promiscuous while running");
    assertEquals(await gro(lab, e1, "hv0"), "off", "GRO off while running");
    for (const addr of ["192.168.78.2", "fd78::2"]) {
      await waitFor(
        async () =>
          (await lab.exec(h1, ["ping", "-c", "1", "-W", "1", addr], { allowFail: true }))
            .code === 0,
        15_000,
        `h1 to reach ${addr}`,
        200,
      );
      const r = await lab.exec(h1, ["ping", "-c", "20", "-i", "0.05", "-W", "2", addr], {
        allowFail: true,
        timeoutMs: 20_000,
      });
      assertEquals(r.code, 0, r.stdout); // replies came (no loss figure: a busy machine drops)
    }
    // A 1400-byte payload crosses too (the interface's MTU is 1500; the underlay fragments).
    const big = await lab.exec(h1, ["ping", "-c", "3", "-s", "1400", "-W", "2", "192.168.78.2"], {
      allowFail: true,
    });
    assertEquals(big.code, 0, big.stdout);
    const st = await runL2(["status", "--api", "127.0.0.1:7762", "--json"], { wrap: wrap(e1) });
    assertEquals(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout);
    assertEquals(s.interface.name, "hv0");
    assertEquals(s.interface.offloads_turned_off.gro, true);
    assertEquals(s.interface.oversize_dropped, 0);
    // 43 echo requests and their replies at least (plus ARP/ND) each way through the interface.
    assert(s.counters.tx_frames >= 43 && s.counters.rx_frames >= 43, JSON.stringify(s.counters));

    // Stopped: the membership goes with the socket and GRO comes back.
    x1.kill("SIGTERM");
    assertEquals((await x1.exited()).code, 0, x1.lines.join("\n"));
    assertEquals((await linkInfo(lab, e1, "hv0")).promiscuity, 0, "promiscuous mode dropped");
    assertEquals(await gro(lab, e1, "hv0"), "on", "GRO restored");
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
  }
});

Deno.test("xconnect: --tap and --interface together are refused (exit 2)", async () => {
  const r = await runL2(["xconnect", "10.0.0.1", "1", "--tap", "x0", "--interface", "eth9"]);
  assertEquals(r.code, 2, r.stderr);
  assert(r.stderr.includes("exclude each other"), r.stderr);
});
