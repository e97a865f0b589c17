/**
 * `l2 las` with three `l2 xconnect` edges on two VC ids, in namespaces this
 * test creates (issue 8's proof): pings over IPv4 and IPv6 between hosts of
 * one VC and not across VCs; STP BPDUs not forwarded; every control message
 * decodes in tshark without a malformed flag; garbage, truncated, replayed
 * and misdirected packets counted while sessions keep working; a killed edge
 * torn down within the dead-peer time; SIGTERM sends StopCCN to every peer.
 *
 *   h1 --veth-- [e1: br(x0, veth), STP on] --\
 *               [e2: x0 192.168.77.2]     ----- core bridge ----- [las 10.77.0.1]
 *               [e3: x0 192.168.77.3]     --/      (tshark)
 *               [e4: x0 192.168.77.4, L2TPv3 over UDP 1701] --/
 *   e1, e2, e4: VC 100    e3: VC 200
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Lab, waitFor } from "../lab/netns.ts";
import { Daemon, MAIN, runL2, runScript } from "../lab/l2proc.ts";
import { ipv4Of, readCapture } from "../lab/pcap.ts";

const RAW_SEND = new URL("../lab/raw_send.ts", import.meta.url).pathname;

async function status(lab: Lab, ns: string, port: number) {
  const r = await runL2(["status", "--api", `127.0.0.1:${port}`, "--json"], {
    wrap: ["ip", "netns", "exec", ns],
  });
  assertEquals(r.code, 0, r.stderr);
  void lab;
  return JSON.parse(r.stdout);
}

async function ping(lab: Lab, ns: string, addr: string, count = 3) {
  const v6 = addr.includes(":") ? ["-6"] : [];
  return await lab.exec(ns, ["ping", ...v6, "-c", String(count), "-i", "0.2", "-W", "2", addr], {
    allowFail: true,
    timeoutMs: 15_000,
  });
}

Deno.test("las: three xconnect edges, two VCs, end to end", async () => {
  const lab = await Lab.create("las");
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
    const h1 = await lab.netns("h1");
    const members: string[] = [];
    for (const [i, ns] of [las, ...e].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.77.0.${i + 1}/24`);
      members.push(`p${i}`);
    }
    await lab.bridge(core, "br0", members);

    const pcap = `${dir}/control.pcap`;
    const tshark = lab.spawn(core, [
      "tshark",
      "-q",
      "-i",
      "br0",
      "-f",
      "ip proto 115 or udp port 1701",
      "-w",
      pcap,
    ]);
    await waitFor(
      async () => {
        try {
          return (await Deno.stat(pcap)).size > 0;
        } catch {
          return false;
        }
      },
      10_000,
      "tshark to start",
    );

    const cfg = `${dir}/l2.yaml`;
    await Deno.writeTextFile(
      cfg,
      `las:
  default:
    hello_interval: 1
    retransmits: 2
    cookie: 4
    udp: true
    api: 127.0.0.1:7757
    vcs:
      "200": { allow_link_local: true, allow_llc: true }
`,
    );
    const wrap = (ns: string) => ["ip", "netns", "exec", ns];
    const lasd = new Daemon(MAIN, ["las", "--config", cfg], {}, wrap(las));
    daemons.push(lasd);
    await lasd.waitLine(/listening for L2TPv3/);
    const edge = (i: number, vc: string, ...extra: string[]) => {
      const d = new Daemon(
        MAIN,
        ["xconnect", "10.77.0.1", vc, "--tap", "x0", "--api", "127.0.0.1:7758", ...extra],
        {},
        wrap(e[i]),
      );
      daemons.push(d);
      return d;
    };
    // e4 speaks L2TPv3 over UDP 1701 and shares VC 100 with e1 and e2 (over IP 115).
    const x = [edge(0, "100"), edge(1, "100"), edge(2, "200"), edge(3, "100", "--udp")];
    for (const d of x) await d.waitLine(/session \d+ on VC \d+ is up/, 15_000);

    // e1 bridges its TAP with a host namespace behind it; the bridge runs STP (sends BPDUs).
    await lab.veth(e[0], "hv0", h1, "eth0");
    await lab.ip(e[0], "link", "add", "br1", "type", "bridge", "stp_state", "1");
    await lab.ip(e[0], "link", "set", "x0", "master", "br1");
    await lab.ip(e[0], "link", "set", "hv0", "master", "br1");
    await lab.ip(e[0], "link", "set", "br1", "up");
    await lab.addr(h1, "eth0", "192.168.77.1/24");
    await lab.addr(h1, "eth0", "fd77::1/64");
    for (const i of [1, 2, 3]) {
      await lab.addr(e[i], "x0", `192.168.77.${i + 1}/24`);
      await lab.addr(e[i], "x0", `fd77::${i + 1}/64`);
    }
    // STP keeps a new bridge port in listening/learning for 2 x forward delay (15 s):
    // force it to forward now so the test does not wait.
    await lab.ip(e[0], "link", "set", "br1", "type", "bridge", "forward_delay", "200");
    await waitFor(
      async () => (await ping(lab, h1, "192.168.77.2", 1)).code === 0,
      20_000,
      "h1 to reach e2",
    );

    let r = await ping(lab, h1, "192.168.77.2");
    assertEquals(r.code, 0, `IPv4 h1 -> e2 over VC 100: ${r.stdout}`);
    r = await ping(lab, h1, "fd77::2");
    assertEquals(r.code, 0, `IPv6 h1 -> e2 over VC 100: ${r.stdout}`);
    r = await ping(lab, e[1], "192.168.77.1");
    assertEquals(r.code, 0, "IPv4 e2 -> h1");
    r = await ping(lab, h1, "192.168.77.4");
    assertEquals(r.code, 0, `IPv4 h1 -> e4 (UDP 1701 edge on VC 100): ${r.stdout}`);
    r = await ping(lab, e[3], "fd77::2");
    assertEquals(r.code, 0, `IPv6 e4 (UDP) -> e2 (IP): ${r.stdout}`);
    r = await ping(lab, h1, "192.168.77.3", 2);
    assert(r.code !== 0, "VC 100 must not reach VC 200");
    r = await ping(lab, e[2], "fd77::2", 2);
    assert(r.code !== 0, "VC 200 must not reach VC 100 over IPv6");

    // STP BPDUs from e1's bridge are dropped by the VC 100 switch, and counted.
    let st = await status(lab, las, 7757);
    await waitFor(
      async () => {
        st = await status(lab, las, 7757);
        const vc = st.switches.find((s: { vc: string }) => s.vc === "100");
        return (vc.dropped.link_local ?? 0) + (vc.dropped.llc ?? 0) > 0;
      },
      10_000,
      "a BPDU to be dropped by the VC 100 switch",
    );
    assertEquals(st.sessions.length, 4);
    assertEquals(st.switches.length, 2);
    const policy = (vc: string) => st.switches.find((s: { vc: string }) => s.vc === vc).policy;
    assertEquals([policy("100"), policy("200")], ["switch", "vcs.200"], "per-VC policy in force");
    assert(
      st.connections.some((c: { transport: string; peer: string }) =>
        c.transport === "udp" && c.peer === "10.77.0.5:1701"
      ),
      "the UDP edge has a control connection over UDP",
    );
    const e2session = st.sessions.find((s: { peer: string }) => s.peer === "10.77.0.3");
    assert(e2session.rx_frames > 0 && e2session.tx_frames > 0);

    // Every control message either side sent decodes in tshark, none malformed.
    await new Promise((res) => setTimeout(res, 1500)); // a HELLO round
    await tshark.stop();
    const types = await lab.exec(core, [
      "tshark",
      "-r",
      pcap,
      "-Y",
      "l2tp.sid == 0",
      "-T",
      "fields",
      "-e",
      "l2tp.avp.message_type",
    ]);
    const seen = new Set(types.stdout.split(/[\n,]/).filter(Boolean).map(Number));
    for (const t of [1, 2, 3, 6, 10, 11, 12]) {
      assert(seen.has(t), `tshark saw no message type ${t}`);
    }
    const malformed = await lab.exec(core, [
      "tshark",
      "-r",
      pcap,
      "-Y",
      "_ws.malformed || _ws.expert.severity >= error",
    ]);
    assertEquals(malformed.stdout.trim(), "", "malformed L2TP packets in the capture");

    // Garbage, truncated, replayed and misdirected packets: counted, nothing breaks.
    const ips = readCapture(await Deno.readFile(pcap)).map(ipv4Of);
    // e3's first control message is its SCCRQ (session id 0, T bit, CCID 0).
    const sccrq = ips.find((p) =>
      p !== null && p.src === "10.77.0.4" && p.protocol === 115 && p.payload[4] === 0xc8 &&
      p.payload.subarray(0, 4).every((b) => b === 0) && p.payload.subarray(8, 12).every((b) =>
        b === 0
      )
    );
    assert(sccrq, "the capture holds e3's SCCRQ");
    const hex = (b: Uint8Array) => [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
    const wrongCookie = `${e2session.session.toString(16).padStart(8, "0")}deadbeef` +
      "ff".repeat(60);
    const payloads = [
      "00000000c803", // truncated control header
      "00000000" + "ab".repeat(40), // garbage control
      "0badcafe" + "00".repeat(64), // data for an unknown session
      wrongCookie, // data for e2's session from e3's address
      hex(sccrq.payload), // replayed SCCRQ
    ];
    const sent = await runScript(RAW_SEND, ["10.77.0.1", ...payloads], { wrap: wrap(e[2]) });
    assertEquals(sent.stdout.trim(), String(payloads.length), sent.stderr);
    const sent2 = await runScript(RAW_SEND, ["10.77.0.1", wrongCookie], { wrap: wrap(e[1]) });
    assertEquals(sent2.stdout.trim(), "1", sent2.stderr); // from e2 itself, with the wrong cookie
    r = await ping(lab, h1, "192.168.77.2");
    assertEquals(r.code, 0, "sessions keep working after garbage");
    st = await status(lab, las, 7757);
    assert(st.counters.rx_unusable >= 2, JSON.stringify(st.counters));
    const metrics = await runL2(["status", "--api", "127.0.0.1:7757", "--metrics"], {
      wrap: wrap(las),
    });
    assertStringIncludes(metrics.stdout, 'name="data_drop_unknown_session"');
    assertStringIncludes(metrics.stdout, 'name="data_drop_cookie_mismatch"');
    assertStringIncludes(metrics.stdout, 'name="data_drop_wrong_peer"');
    assertStringIncludes(metrics.stdout, 'name="rx_duplicate"');
    assertEquals(st.sessions.length, 4, "the replayed SCCRQ did not add a connection");
    assertEquals(st.connections.length, 4);
    // ... and said in an operator's words, once per peer and reason.
    await lasd.waitLine(/cookie mismatch on VC 100, session \d+ of 10\.77\.0\.3 from 10\.77\.0\.3/);
    await lasd.waitLine(/data from 10\.77\.0\.4 for unknown session 195939070/);
    await lasd.waitLine(/data for VC 100, session \d+ of 10\.77\.0\.3 came from 10\.77\.0\.4/);

    // A killed edge (no StopCCN) is torn down within the dead-peer time.
    const mark = lasd.lines.length;
    x[1].kill("SIGKILL");
    await lasd.waitLine(/session \d+ from 10\.77\.0\.3 on VC 100 is down/, 20_000, mark);
    st = await status(lab, las, 7757);
    assertEquals(st.sessions.length, 3);
    const downs = st.recent.filter((r: { event: string; peer: string }) =>
      r.event === "session-down" && r.peer === "10.77.0.3"
    );
    assertEquals(downs.length, 1, JSON.stringify(st.recent));
    assert(!Number.isNaN(Date.parse(downs[0].time)));

    // SIGTERM on the LAS: StopCCN to every peer; the edges hear it.
    const m0 = x[0].lines.length;
    lasd.kill("SIGTERM");
    assertEquals((await lasd.exited()).code, 0, lasd.lines.join("\n"));
    await x[0].waitLine(/peer sent StopCCN.*the LAS is shutting down/, 30_000, m0);
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("las: a shared secret admits the edge that has it and refuses one with the wrong one", async () => {
  const lab = await Lab.create("lasauth");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir();
  try {
    const core = await lab.netns("core");
    const las = await lab.netns("las");
    const good = await lab.netns("good");
    const bad = await lab.netns("bad");
    const members: string[] = [];
    for (const [i, ns] of [las, good, bad].entries()) {
      await lab.veth(ns, "up0", core, `p${i}`);
      await lab.addr(ns, "up0", `10.76.0.${i + 1}/24`);
      members.push(`p${i}`);
    }
    await lab.bridge(core, "br0", members);
    const conf = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}.yaml`, text, { mode: 0o600 }); // secrets
      return `${dir}/${name}.yaml`;
    };
    const wrap = (ns: string) => ["ip", "netns", "exec", ns];
    const lasd = new Daemon(
      MAIN,
      [
        "las",
        "-c",
        await conf("las", "las:\n  default:\n    secret: s3cret\n    digest: sha1\n"),
      ],
      {},
      wrap(las),
    );
    daemons.push(lasd);
    await lasd.waitLine(/listening for L2TPv3.*auth=sha1/);
    const edge = async (ns: string, secret: string) => {
      const d = new Daemon(
        MAIN,
        [
          "xconnect",
          "10.76.0.1",
          "42",
          "-c",
          await conf(
            ns.slice(-4),
            `xconnect:\n  default:\n    secret: ${secret}\n    digest: sha1\n`,
          ),
        ],
        {},
        wrap(ns),
      );
      daemons.push(d);
      return d;
    };
    const g = await edge(good, "s3cret");
    await g.waitLine(/session \d+ on VC 42 is up/, 15_000);
    await edge(bad, "wrong");
    await lasd.waitLine(
      /SCCRQ from 10\.76\.0\.3 dropped: wrong Message Digest \(shared secret mismatch\?\)/,
      15_000,
    );
    const st = await runL2(["status", "--api", "127.0.0.1:7657", "--json"], { wrap: wrap(las) });
    const s = JSON.parse(st.stdout);
    assertEquals(s.sessions.length, 1);
    assertEquals(s.sessions[0].peer, "10.76.0.2");
  } finally {
    for (const d of daemons) await d.close();
    await lab.close();
    await Deno.remove(dir, { recursive: true });
  }
});
