/**
 * `l2 capture` against running daemons in namespaces this test makes (tag
 * `cap`, so its names are its own), read by tshark through a pipe as an
 * operator would (`l2 capture ... | tshark -r -`):
 *
 * - a LAS with two `l2 xconnect` edges on VC 1234: the frames of a ping
 *   between the edges, in order (request, reply, ...), with their lengths,
 *   from `--vc 1234` on the LAS and `--device` on one edge at once; `-c 6`
 *   ends both captures by themselves; a wrong token is refused with no
 *   bytes out; the counters say what happened; SIGTERM ends an open
 *   capture and the LAS stops cleanly;
 * - a supernode and two nodes: `--peer N` and `--tap` on one node at once,
 *   the same for a ping over the overlay (frames before sealing and after
 *   opening; as the host sent and got them).
 *
 * Only ICMP can cross during the captures: IPv6 is off on the devices and
 * the neighbours are permanent, so `-c` counts exactly the ping's frames.
 *
 *   e1 [x0 192.168.91.1] --\
 *                           core bridge -- [las 10.91.0.1, api with a token]
 *   e2 [x0 192.168.91.2] --/
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Lab, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";
import { startVpnPair, vpnStatus } from "../lab/vpn_pair.ts";
import { V8_FLAGS_ARG } from "../../cmd/v8_flags.ts";

const TOKEN = "capture-test-token-0123456789";
const wrap = (ns: string) => ["ip", "netns", "exec", ns];

/** `l2 capture ARGS | tshark -r - -T fields ...` in `ns`, as one shell pipeline. */
function capturePipe(lab: Lab, ns: string, args: string[], env: Record<string, string> = {}) {
  const l2 = [Deno.execPath(), "run", V8_FLAGS_ARG, "--allow-all", "--quiet", MAIN, "capture"];
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const fields = ["frame.len", "icmp.type", "icmp.seq", "ip.src"].flatMap((f) => ["-e", f]);
  const line = `set -o pipefail; ${[...l2, ...args].map(q).join(" ")} | ` +
    `tshark -r - -T fields -E separator=, ${fields.map(q).join(" ")}`;
  return lab.spawn(ns, ["bash", "-c", line], { ...Deno.env.toObject(), NO_COLOR: "1", ...env });
}

/** The stdout of a spawned pipeline once it ends (bounded), with its exit code. */
async function finish(p: ReturnType<Lab["spawn"]>, what: string, ms = 60_000) {
  const t = setTimeout(() => p.stop(500).catch(() => {}), ms);
  try {
    await p.status;
    const s = await p.stop(); // exited already: waits for the rest of its output
    return { code: s.status.code, out: s.stdout, err: s.stderr, what };
  } finally {
    clearTimeout(t);
  }
}

/** Rows of `frame.len,icmp.type,icmp.seq,ip.src`. */
function rows(out: string): string[][] {
  return out.trim().split("\n").filter(Boolean).map((l) => l.split(","));
}

/** The six frames of `ping -c 3 -s 100 A -> B`: request, reply, by sequence, 142 bytes each. */
function assertPing(out: string, a: string, b: string, what: string) {
  const want = [1, 2, 3].flatMap((s) => [
    ["142", "8", String(s), a],
    ["142", "0", String(s), b],
  ]);
  assertEquals(rows(out), want, `${what}: the ping's frames in order, with their lengths`);
}

async function metric(ns: string, api: number, name: string, token?: string): Promise<number> {
  const r = await runL2(
    ["status", "--metrics", "--api", `127.0.0.1:${api}`, ...(token ? ["--token", token] : [])],
    { wrap: wrap(ns) },
  );
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(r.stdout);
  return m ? Number(m[1]) : NaN;
}

/** Turns IPv6 off on `dev` and makes `ip`'s neighbour entry permanent (read from the table). */
async function quiet(lab: Lab, ns: string, dev: string, peerIp: string, mac?: string) {
  await lab.exec(ns, ["sysctl", "-qw", `net.ipv6.conf.${dev}.disable_ipv6=1`]);
  if (mac === undefined) {
    const n = await lab.exec(ns, ["ip", "-j", "neigh", "show", peerIp, "dev", dev]);
    mac = JSON.parse(n.stdout)[0]?.lladdr;
    assert(mac, `a neighbour entry for ${peerIp} in ${ns}`);
  }
  await lab.ip(ns, "neigh", "replace", peerIp, "lladdr", mac!, "dev", dev, "nud", "permanent");
}

async function macOf(lab: Lab, ns: string, dev: string): Promise<string> {
  const r = await lab.exec(ns, ["ip", "-j", "link", "show", dev]);
  return JSON.parse(r.stdout)[0].address;
}

Deno.test("capture: a LAS VC and an xconnect device, read by tshark", async () => {
  const lab = await Lab.create("cap");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const core = await lab.netns("core");
    const las = await lab.netns("las");
    const e = [await lab.netns("e1"), await lab.netns("e2")];
    const members: string[] = [];
    for (const [i, ns] of [las, ...e].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.91.0.${i + 1}/24`);
      members.push(`p${i}`);
    }
    await lab.bridge(core, "br0", members);
    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `las:\n  default:\n    api: 127.0.0.1:7857\n    api_token: ${TOKEN}\n`,
      { mode: 0o600 },
    );
    const lasd = new Daemon(MAIN, ["las", "--config", cfg], {}, wrap(las));
    daemons.push(lasd);
    await lasd.waitLine(/listening for L2TPv3/);
    for (const ns of e) {
      await lab.exec(ns, ["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
      const d = new Daemon(
        MAIN,
        ["xconnect", "10.91.0.1", "1234", "--tap", "x0", "--api", "127.0.0.1:7858"],
        {},
        wrap(ns),
      );
      daemons.push(d);
      await d.waitLine(/session \d+ on VC \d+ is up/, 15_000);
    }
    await lab.addr(e[0], "x0", "192.168.91.1/24");
    await lab.addr(e[1], "x0", "192.168.91.2/24");
    await quiet(lab, e[0], "x0", "192.168.91.2", await macOf(lab, e[1], "x0"));
    await quiet(lab, e[1], "x0", "192.168.91.1", await macOf(lab, e[0], "x0"));
    await waitFor(
      async () =>
        (await lab.exec(e[0], ["ping", "-c", "1", "-W", "1", "192.168.91.2"], { allowFail: true }))
          .code === 0,
      20_000,
      "e1 to reach e2 over VC 1234",
    );

    // A wrong token: refused, nothing written, nothing started.
    const bad = await runL2(
      ["capture", "--api", "127.0.0.1:7857", "--vc", "1234", "--token", "wrong-token-0123456789"],
      { wrap: wrap(las) },
    );
    assertEquals(bad.code, 1, bad.stderr);
    assertStringIncludes(bad.stderr, "refused the token");
    assertEquals(bad.stdout, "");
    const none = await runL2(["capture", "--api", "127.0.0.1:7857", "--vc", "1234"], {
      wrap: wrap(las),
    });
    assertEquals(none.code, 1, "no token at all is refused too");
    assertEquals(await metric(las, 7857, "l2_captures_started_total", TOKEN), 0);

    // Both captures end by themselves after -c 6; --seconds is only the backstop.
    const onLas = capturePipe(
      lab,
      las,
      ["--api", "127.0.0.1:7857", "--vc", "1234", "-c", "6", "--seconds", "120"],
      { L2_API_TOKEN: TOKEN },
    );
    const onEdge = capturePipe(
      lab,
      e[0],
      ["--api", "127.0.0.1:7858", "--device", "-c", "6", "--seconds", "120"],
    );
    await waitFor(
      async () =>
        (await metric(las, 7857, "l2_captures_active", TOKEN)) === 1 &&
        (await metric(e[0], 7858, "l2_captures_active")) === 1,
      20_000,
      "both captures to be open",
    );
    const ping = await lab.exec(e[0], [
      "ping",
      "-c",
      "3",
      "-i",
      "0.3",
      "-s",
      "100",
      "192.168.91.2",
    ]);
    assertEquals(ping.code, 0);
    for (const r of [await finish(onLas, "LAS VC 1234"), await finish(onEdge, "e1 device")]) {
      assertEquals(r.code, 0, `${r.what}: ${r.err}`);
      assertPing(r.out, "192.168.91.1", "192.168.91.2", r.what);
      assertStringIncludes(r.err, "l2 capture: 6 frames");
    }
    assertEquals(await metric(las, 7857, "l2_captures_started_total", TOKEN), 1);
    assertEquals(await metric(las, 7857, "l2_capture_frames_total", TOKEN), 6);
    assertEquals(await metric(las, 7857, "l2_capture_frames_dropped_total", TOKEN), 0);
    assertEquals(await metric(las, 7857, "l2_captures_active", TOKEN), 0, "the capture closed");

    // A VC with no traffic: the time limit ends it, a valid empty pcap.
    const idle = capturePipe(
      lab,
      las,
      ["--api", "127.0.0.1:7857", "--vc", "999", "--seconds", "1"],
      { L2_API_TOKEN: TOKEN },
    );
    const r = await finish(idle, "idle VC");
    assertEquals([r.code, r.out.trim()], [0, ""], r.err);
    assertStringIncludes(r.err, "l2 capture: 0 frames");

    // SIGTERM while a capture runs: the capture ends (a valid pcap, exit 0), the LAS stops
    // cleanly; an open capture does not hold the shutdown up.
    const open = capturePipe(
      lab,
      las,
      ["--api", "127.0.0.1:7857", "--vc", "1234", "--seconds", "600"],
      { L2_API_TOKEN: TOKEN },
    );
    await waitFor(
      async () => (await metric(las, 7857, "l2_captures_active", TOKEN)) === 1,
      20_000,
      "the capture to be open",
    );
    lasd.kill("SIGTERM");
    const st = await lasd.exited(30_000);
    assertEquals(st.code, 0, lasd.lines.join("\n"));
    const o = await finish(open, "capture at shutdown");
    assertEquals(o.code, 0, o.err);
    assertStringIncludes(o.err, "l2 capture: 0 frames");
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("capture: one peer of a node, before sealing, read by tshark", async () => {
  const lab = await Lab.create("capn");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const sn = await lab.netns("sn");
    const n1 = await lab.netns("n1");
    const n2 = await lab.netns("n2");
    const core = await lab.netns("core");
    const members: string[] = [];
    for (const [i, ns] of [sn, n1, n2].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.92.0.${i + 1}/24`);
      members.push(`p${i}`);
    }
    await lab.bridge(core, "br0", members);
    await startVpnPair(lab, {
      main: MAIN,
      dir: `${dir}/vpn`,
      sn,
      nodes: [n1, n2],
      snAddr: "10.92.0.1",
      api: 7859,
      daemons,
      label: "capture",
    });
    await quiet(lab, n1, "v0", "10.99.0.12");
    await quiet(lab, n2, "v0", "10.99.0.11");
    const st2 = await vpnStatus(n2, 7859);
    const peerId = st2.id as number;
    assert(peerId > 0, "n2 has a node id");

    const cap = capturePipe(lab, n1, [
      "--api",
      "127.0.0.1:7859",
      "--peer",
      String(peerId),
      "-c",
      "6",
      "--seconds",
      "120",
    ]);
    // And the TAP at the same time: the same six frames, as the host sent and got them.
    const tap = capturePipe(lab, n1, ["--api", "127.0.0.1:7859", "--tap", "-c", "6"]);
    await waitFor(
      async () => (await metric(n1, 7859, "l2_captures_active")) === 2,
      20_000,
      "the captures to be open",
    );
    const ping = await lab.exec(n1, ["ping", "-c", "3", "-i", "0.3", "-s", "100", "10.99.0.12"]);
    assertEquals(ping.code, 0);
    for (const r of [await finish(cap, `node 1, peer ${peerId}`), await finish(tap, "TAP")]) {
      assertEquals(r.code, 0, r.err);
      assertPing(r.out, "10.99.0.11", "10.99.0.12", r.what);
    }
    assertEquals(await metric(n1, 7859, "l2_capture_frames_total"), 12);
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
