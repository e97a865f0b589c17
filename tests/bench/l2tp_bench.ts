/**
 * L2TPv3 core benchmarks: the data-path lookup, control parsing, and a
 * full connection + session setup through two in-memory endpoints.
 * Run: deno bench -A tests/bench/l2tp_bench.ts
 */
import { L2tpEndpoint } from "../../core/l2tp/endpoint.ts";
import { emitData } from "../../core/l2tp/data_header.ts";
import { parseControl } from "../../core/l2tp/control_message.ts";
import { decodeFields } from "../../core/l2tp/avp_fields.ts";
import { ipv4Of, readCapture } from "../lab/pcap.ts";

function lcg(seed: number): () => number {
  let x = seed;
  return () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
}

function pump(a: L2tpEndpoint, b: L2tpEndpoint): void {
  for (let i = 0; i < 100; i++) {
    const ao = a.takeOutgoing();
    const bo = b.takeOutgoing();
    if (ao.length === 0 && bo.length === 0) return;
    for (const o of ao) b.receive("10.0.0.1", o.bytes, 0);
    for (const o of bo) a.receive("192.0.2.2", o.bytes, 0);
  }
}

function setup(sessions: number, cookie: 0 | 4 | 8) {
  const las = new L2tpEndpoint({
    transport: "ip",
    hostName: "las",
    routerId: 1,
    random32: lcg(1),
    cookieLength: cookie,
  });
  const edge = new L2tpEndpoint({ transport: "ip", hostName: "e", routerId: 2, random32: lcg(2) });
  const c = edge.connect("192.0.2.2", 0);
  if (!c.ok) throw new Error(c.reason);
  for (let i = 0; i < sessions; i++) {
    edge.openSession(c.localCcid, { pwType: 5, vcId: new Uint8Array([i]) }, 0);
    pump(edge, las);
  }
  const ups = las.takeEvents().filter((e) => e.type === "session-up");
  return { las, edge, ups };
}

const { las, ups } = setup(1000, 4);
const frame = new Uint8Array(1500).fill(0x42);
const packets = ups.slice(0, 64).map((e) => {
  if (e.type !== "session-up") throw new Error();
  return emitData(
    "ip",
    e.session.localSessionId,
    {
      cookie: e.session.rxCookie,
      sublayer: false,
    },
    -1,
    frame,
  );
});
let k = 0;

Deno.bench("classifyData: 1500-byte frame, 4-byte cookie, 1000 sessions", () => {
  const r = las.classifyData(packets[k++ & 63], "10.0.0.1");
  if (r.kind !== "frame") throw new Error(r.kind);
});

const [cap] = readCapture(Deno.readFileSync(
  new URL("../fixtures/captures/cisco-sccrq.pcap", import.meta.url),
));
const sccrq = ipv4Of(cap)!.payload;

Deno.bench("parseControl + decodeFields: the 221-byte Cisco SCCRQ", () => {
  const p = parseControl(sccrq, "ip");
  if (!p.ok || !decodeFields(p.msg).ok) throw new Error();
});

Deno.bench("setup: SCCRQ..SCCCN + 10 sessions through two endpoints", () => {
  setup(10, 0);
});
