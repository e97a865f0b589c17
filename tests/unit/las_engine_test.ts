/**
 * The LAS engine in memory (no root): edges are xconnect engines over an
 * in-memory raw-IP network, frames go TAP twin -> edge -> LAS -> edge -> TAP
 * twin, and time is explicit.
 */
import { assert, assertEquals } from "../assert.ts";
import { MemFrameDevice, MemNet } from "../lab/twins.ts";
import { LasEngine, vcKey } from "../../cmd/las_engine.ts";
import { XconnectEngine } from "../../cmd/xconnect_engine.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { parseIp } from "../../ffi/addr.ts";
import { seededRandom } from "../lab/twins.ts";

const enc = new TextEncoder();

Deno.test("las: a VC id as decimal ASCII and as a 4-byte number key the same switch", () => {
  assertEquals(vcKey(enc.encode("1234")), { key: "vc:1234", text: "1234" });
  assertEquals(vcKey(new Uint8Array([0, 0, 4, 0xd2])), { key: "vc:1234", text: "1234" });
  assertEquals(vcKey(enc.encode("0042")).key, "vc:42");
  assertEquals(vcKey(new Uint8Array([0xde, 0xad, 0xbe])), { key: "raw:deadbe", text: "0xdeadbe" });
  assertEquals(vcKey(enc.encode("99999999999")).key, "raw:3939393939393939393939");
});

function lab(
  opts: {
    maxSwitches?: number;
    policies?: Record<string, boolean>;
    sourceFor?: (dest: Uint8Array) => Uint8Array | null;
  } = {},
) {
  const net = new MemNet({ seed: 3 });
  const lines: string[] = [];
  const logger = new Logger({ level: "info", format: "text", debug: [] }, (l) => lines.push(l));
  const rand = seededRandom(11);
  const random32 = () => Math.floor(rand() * 0x1_0000_0000) >>> 0 || 1;
  const lt = net.open("10.0.0.1", 0, { raw: true });
  const las = new LasEngine({
    ip: lt,
    hostName: "las",
    routerId: 1,
    random32,
    helloIntervalMs: 60_000,
    retransmits: 5,
    switchPolicy: (vc) => ({
      name: opts.policies?.[vc] ? `vcs.${vc}` : "switch",
      options: { filter: { allowLinkLocal: opts.policies?.[vc] ?? false } },
    }),
    maxSwitches: opts.maxSwitches ?? 16,
    cookieLength: 4,
    acceptDst: null,
    auth: null,
    sourceFor: opts.sourceFor,
    log: logger.topic("las"),
  });
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  const edges: { dev: MemFrameDevice; eng: XconnectEngine }[] = [];
  const edge = (ip: string, vc: string) => {
    const t = net.open(ip, 0, { raw: true });
    const dev = new MemFrameDevice();
    const eng = new XconnectEngine({
      transport: t,
      kind: "ip",
      las: { ip: lasIp.value, port: 0 },
      lasName: "10.0.0.1",
      vcId: vc,
      device: dev,
      hostName: ip,
      routerId: 2,
      random32,
      helloIntervalMs: 60_000,
      auth: null,
      log: logger.topic(ip),
    });
    edges.push({ dev, eng });
    return { dev, eng };
  };
  let now = 0;
  const run = (ms: number) => {
    for (const end = now + ms; now < end; now += 10) {
      while (las.onReadable(lt, now) > 0) { /* drain */ }
      for (const e of edges) {
        while (e.eng.onTransportReadable(now) > 0) { /* drain */ }
        while (e.eng.onDeviceReadable(now) > 0) { /* drain */ }
        e.eng.poll(now);
      }
      las.poll(now);
    }
  };
  const start = () => edges.forEach((e) => e.eng.start(now));
  return { las, lt, edge, run, start, lines };
}

function frame(dst: number, src: number, type = 0x0800, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f[5] = dst;
  f[11] = src;
  f[0] = dst === 0xff ? 0xff : 0x02;
  if (dst === 0xff) f.fill(0xff, 0, 6);
  f[6] = 0x02;
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

Deno.test("las engine: frames switch between the sessions of one VC, never to another VC", () => {
  const l = lab();
  const a = l.edge("10.0.0.2", "100");
  const b = l.edge("10.0.0.3", "100");
  const c = l.edge("10.0.0.4", "200");
  l.start();
  l.run(500);
  assertEquals([a.eng.state, b.eng.state, c.eng.state], ["up", "up", "up"]);
  const st = l.las.status(0) as { sessions: unknown[]; switches: { vc: string }[] };
  assertEquals(st.sessions.length, 3);
  assertEquals(st.switches.map((s) => s.vc).sort(), ["100", "200"]);

  a.dev.inject(frame(0xff, 0xa1)); // broadcast from A
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 1, "B got A's broadcast");
  assertEquals(c.dev.takeWritten().length, 0, "VC 200 did not");
  b.dev.inject(frame(0xa1, 0xb2)); // unicast reply to A's MAC
  l.run(50);
  const got = a.dev.takeWritten();
  assertEquals(got.length, 1);
  assertEquals(got[0][11], 0xb2);
  a.dev.inject(frame(0xb2, 0xa1, 0x88cc)); // LLDP EtherType: filtered by default
  l.run(50);
  assertEquals(b.dev.takeWritten().length, 0, "other EtherTypes are dropped by default");
});

Deno.test("las engine: the switch limit refuses a new VC with a reason; per-VC policy is applied", () => {
  const l = lab({ maxSwitches: 1, policies: { "100": true } });
  const a = l.edge("10.0.0.2", "100");
  const c = l.edge("10.0.0.4", "200");
  l.start();
  l.run(500);
  assertEquals(a.eng.state, "up");
  // Both ICRQs arrive before any switch exists, so the refusal comes when the second
  // session would create a second switch: a CDN that says why.
  assert(
    l.lines.some((x) =>
      x.includes("VC 200: virtual switch limit reached") ||
      x.includes("VC 200 refused: 1 virtual switches exist (the limit)")
    ),
    l.lines.join("\n"),
  );
  const st = l.las.status(0) as {
    sessions: { vc: string }[];
    switches: { vc: string; policy: string }[];
  };
  assertEquals(st.sessions.map((s) => s.vc), ["100"]);
  assertEquals(st.switches, [{ ...st.switches[0], vc: "100", policy: "vcs.100" }]);
  // The edge keeps trying (with back-off); now the switch exists, so the ICRQ itself is refused.
  l.run(3000);
  assert(
    l.lines.some((x) => x.includes("VC 200 refused: 1 virtual switches exist (the limit)")),
    l.lines.join("\n"),
  );
  assert(c.eng.state !== "up");
});

Deno.test("las engine: data goes without a pinned source when the kernel would pick the same one", () => {
  const asked: string[] = [];
  const lasIp = parseIp("10.0.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  // The kernel would answer 10.0.0.2 from 10.0.0.1 (the address it called), 10.0.0.3 from elsewhere.
  const elsewhere = parseIp("10.9.9.9");
  if (!elsewhere.ok) throw new Error(elsewhere.reason);
  const l = lab({
    sourceFor: (dest) => {
      asked.push(dest.join("."));
      return dest[15] === 2 ? lasIp.value : elsewhere.value;
    },
  });
  const a = l.edge("10.0.0.2", "5");
  const b = l.edge("10.0.0.3", "5");
  l.start();
  l.run(500);
  assertEquals([a.eng.state, b.eng.state], ["up", "up"]);
  assertEquals(asked.length, 2, "asked once per session");
  const sent: { to: string; from: string | null }[] = [];
  const queue = l.lt.queue.bind(l.lt);
  l.lt.queue = (data, to, from) => {
    if (data[0] !== 0 || data[1] !== 0 || data[2] !== 0 || data[3] !== 0) {
      sent.push({ to: to.ip.slice(12).join("."), from: from ? from.slice(12).join(".") : null });
    }
    return queue(data, to, from);
  };
  a.dev.inject(frame(0xff, 0xa1));
  b.dev.inject(frame(0xff, 0xb2));
  l.run(50);
  assertEquals(sent.find((x) => x.to === "10.0.0.2")?.from, null, "not pinned: kernel agrees");
  assertEquals(
    sent.find((x) => x.to === "10.0.0.3")?.from,
    "10.0.0.1",
    "pinned: kernel would differ",
  );
  const st = l.las.status(0) as { sessions: { local: string }[] };
  assertEquals(st.sessions.map((x) => x.local), ["10.0.0.1", "10.0.0.1"]);
});
