/**
 * /metrics of the four daemons, as they run, pass `promtool check metrics`
 * (Prometheus's own linter: names, units, counters ending in _total, HELP
 * and TYPE), and follow the rest of Prometheus's naming guide that promtool
 * cannot see: seconds not milliseconds, no path label on per-peer counters,
 * no random session ids as labels, the documented series there from the
 * start. A supernode, two nodes, a LAS and an xconnect edge in one network
 * namespace of this test's own (`l2t-prm-*`, TAPs `prm0`, `prm1`, `prmx0`),
 * on loopback.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Daemon, MAIN, runL2 } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";

async function sh(...argv: string[]): Promise<string> {
  const r = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

async function promtool(text: string): Promise<{ code: number; out: string }> {
  const p = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const o = await p.output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

function havePromtool(): boolean {
  try {
    new Deno.Command("promtool", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

/** Every sample's name and labels, for the checks promtool does not make. */
function samples(text: string): { name: string; labels: string }[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? /.exec(l);
    if (!m) throw new Error(`not a sample: ${l}`);
    return { name: m[1], labels: m[2] ?? "" };
  });
}

Deno.test({
  name: "metrics: every daemon's /metrics passes promtool check metrics and the naming guide",
  ignore: !havePromtool() && Deno.env.get("L2_CI") !== "1",
  async fn() {
    assertEquals(Deno.uid(), 0, "this test needs root (it creates a network namespace)");
    const ns = `l2t-prm-${Deno.pid}`;
    const dir = await Deno.makeTempDir({ prefix: "l2t-prm-" });
    const daemons: Daemon[] = [];
    await sh("ip", "netns", "add", ns);
    try {
      await sh("ip", "-n", ns, "link", "set", "lo", "up");
      const snKey = toBase64(writeNewKeyFile(`${dir}/sn.key`));
      const n1 = toBase64(writeNewKeyFile(`${dir}/n1.key`));
      const n2 = toBase64(writeNewKeyFile(`${dir}/n2.key`));
      const cfg = `${dir}/l2.yaml`;
      const node = (name: string, tap: string, ip: string, api: number) =>
        `  ${name}:\n    supernode: 127.0.0.1:7654\n    supernode_key: ${snKey}\n` +
        `    key: ${name}.key\n    state_dir: st-${name}\n    tap: ${tap}\n` +
        `    address: [${ip}/24]\n    api: 127.0.0.1:${api}\n`;
      await Deno.writeTextFile(
        cfg,
        `supernode:\n  sn:\n    listen: 127.0.0.1:7654\n    key: sn.key\n    state_dir: st-sn\n` +
          `    members: [{ key: ${n1}, name: site-a }, ${n2}]\n` +
          `node:\n${node("n1", "prm0", "10.233.0.1", 7656)}${
            node("n2", "prm1", "10.233.0.2", 7659)
          }` +
          "las:\n  core: {}\n" +
          "xconnect:\n  pw:\n    las: 127.0.0.1\n    vc: '100'\n    tap: prmx0\n",
        { mode: 0o600 },
      );
      const wrap = ["ip", "netns", "exec", ns];
      const start = (kind: string, section: string) => {
        const d = new Daemon(MAIN, [kind, "--section", section, "--config", cfg], {}, wrap);
        daemons.push(d);
        return d;
      };
      const sn = start("supernode", "sn");
      await sn.waitLine(/started/, 60_000);
      for (const [kind, section] of [["node", "n1"], ["node", "n2"], ["las", "core"]]) {
        await start(kind, section).waitLine(/started/, 60_000);
      }
      await start("xconnect", "pw").waitLine(/started/, 60_000);
      const metrics = async (port: number) => {
        const r = await runL2(["status", "--api", `127.0.0.1:${port}`, "--metrics"], { wrap });
        assertEquals(r.code, 0, r.stderr);
        return r.stdout;
      };
      // Bounded waits: registered nodes, a session (per-pseudowire series).
      const until = async (port: number, re: RegExp) => {
        for (let i = 0; i < 120; i++) {
          const t = await metrics(port);
          if (re.test(t)) return t;
          await new Promise((r) => setTimeout(r, 500));
        }
        throw new Error(`no ${re} on port ${port}:\n${await metrics(port)}`);
      };
      const texts: Record<string, string> = {
        node: await until(7656, /^l2_node_registered 1$/m),
        supernode: await until(7655, /^l2_supernode_nodes\{network="0"\} 2$/m),
        xconnect: await until(7658, /^l2_xconnect_up 1$/m),
        las: await until(7657, /^l2_las_pseudowire_rx_frames_total\{/m),
      };
      // l2 status's summary names nodes by their members entry (issue 16).
      const st = await runL2(["status", "--api", "127.0.0.1:7655", "--json"], { wrap });
      assertEquals(st.code, 0, st.stderr);
      const nodes = (JSON.parse(st.stdout).nodes ?? JSON.parse(st.stdout)[0]?.nodes) as {
        id: number;
        name?: string;
      }[];
      assertEquals(nodes.map((n) => n.name ?? null).sort(), [null, "site-a"].sort());
      for (const [role, text] of Object.entries(texts)) {
        const r = await promtool(text);
        assertEquals(r.code, 0, `${role}: promtool check metrics:\n${r.out}\n${text}`);
        assertEquals(r.out.trim(), "", `${role}: promtool found problems:\n${r.out}`);
        for (const s of samples(text)) {
          assert(!/_ms(_|$)/.test(s.name), `${role}: ${s.name} is not in base units`);
          assert(!/[{,]path="/.test(s.labels), `${role}: a path label: ${s.name}${s.labels}`);
          assert(!/[{,]session="/.test(s.labels), `${role}: a session label: ${s.name}${s.labels}`);
        }
      }
      // Gauges are gauges: no size inside a counter family.
      assert(!/l2_node_events_total\{name="(peers|held_frames)"\}/.test(texts.node), texts.node);
      assert(!/name="intros_table"/.test(texts.supernode), texts.supernode);
      assert(!/_socket_total\{name="endpoints"\}/.test(texts.node), texts.node);
      assertStringIncludes(texts.node, "# TYPE l2_node_socket_endpoints gauge");
      assertStringIncludes(texts.node, "# TYPE l2_node_socket_offload_off gauge");
      assertStringIncludes(texts.supernode, "# TYPE l2_supernode_intros gauge");
      // Present from the start, at 0: every refusal reason, every switch drop reason.
      assertStringIncludes(texts.supernode, 'l2_supernode_refusals_total{reason="not_member"} 0');
      assertStringIncludes(texts.las, 'reason="storm"} 0');
      assertStringIncludes(
        texts.las,
        'l2_las_pseudowire_rx_frames_total{vc="100",peer="127.0.0.1"}',
      );
    } finally {
      for (const d of daemons) d.kill("SIGTERM");
      for (const d of daemons) await d.exited(20_000);
      await new Deno.Command("ip", { args: ["netns", "del", ns] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
