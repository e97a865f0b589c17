/**
 * Golden vectors: real control messages captured from a Cisco router, from
 * freeRtr and from an xcesp edge (tests/fixtures/captures, whose README
 * says where each came from), decoded and re-emitted.
 */
import { assert, assertEquals } from "../assert.ts";
import {
  type CapturedPacket,
  ipv4Of,
  ipv4Packet,
  readCapture,
  udpOf,
  writeRawIpPcap,
} from "../lab/pcap.ts";
import {
  type ControlMessage,
  emitControl,
  messageTypeOf,
  parseControl,
  type Transport,
} from "../../core/l2tp/control_message.ts";
import { decodeFields, printableId } from "../../core/l2tp/avp_fields.ts";
import { messageName } from "../../core/l2tp/constants.ts";
import { demux } from "../../core/l2tp/data_header.ts";
import { L2tpEndpoint } from "../../core/l2tp/endpoint.ts";

const CAPTURES = new URL("../fixtures/captures/", import.meta.url);

/** Control messages (as bytes after the IP/UDP header) found in a capture. */
function controlBytes(
  file: string,
): { bytes: Uint8Array; transport: Transport; src: string; dst: string; time: number }[] {
  const out = [];
  const pkts: CapturedPacket[] = readCapture(Deno.readFileSync(new URL(file, CAPTURES)));
  for (const p of pkts) {
    const ip = ipv4Of(p);
    if (!ip) continue;
    if (ip.protocol === 115) {
      if (demux(ip.payload, "ip").kind !== "control") continue;
      out.push({
        bytes: ip.payload,
        transport: "ip" as const,
        src: ip.src,
        dst: ip.dst,
        time: p.time,
      });
    } else {
      const u = udpOf(ip);
      if (!u || u.dstPort !== 1701 || demux(u.payload, "udp").kind !== "control") continue;
      out.push({
        bytes: u.payload,
        transport: "udp" as const,
        src: ip.src,
        dst: ip.dst,
        time: p.time,
      });
    }
  }
  return out;
}

/** The Cisco SCCRQ from the capture, parsed. */
function ciscoSccrq(): { bytes: Uint8Array; msg: ControlMessage; src: string } {
  const [c] = controlBytes("cisco-sccrq.pcap");
  const r = parseControl(c.bytes, "ip");
  assert(r.ok);
  return { bytes: c.bytes, msg: r.msg, src: c.src };
}

Deno.test("golden: the real Cisco SCCRQ decodes to exactly the AVPs of facts section 2.1", () => {
  const { bytes, msg } = ciscoSccrq();
  assertEquals(bytes.length, 221);
  assertEquals([msg.ccid, msg.ns, msg.nr], [0, 0, 0]);
  assertEquals((bytes[6] << 8) | bytes[7], 217); // Length excludes the 4 zero bytes
  assertEquals(
    msg.avps.map((a) => [a.mandatory ? 1 : 0, a.vendor, a.type]),
    [
      [1, 0, 0],
      [1, 0, 2],
      [1, 0, 3],
      [0, 0, 5],
      [0, 0, 6],
      [1, 0, 7],
      [0, 0, 8],
      [1, 0, 10],
      [0, 0, 56],
      [0, 0, 57],
      [0, 0, 60],
      [0, 0, 61],
      [0, 0, 62],
      [1, 9, 1],
      [1, 9, 2],
      [1, 9, 10],
      [0, 9, 110],
      [0, 9, 111],
    ],
  );
  const d = decodeFields(msg);
  assert(d.ok);
  const f = d.value.fields;
  assertEquals(f.messageType, 1);
  assertEquals(f.protocolVersion, { version: 1, revision: 0 });
  assertEquals(f.framingCapabilities, 0);
  assertEquals(f.tieBreaker?.length, 8);
  assertEquals(f.firmwareRevision, 0x1130);
  assertEquals(f.hostName, "ar1.bru1");
  assertEquals(f.vendorName, "Cisco Systems, Inc.");
  assertEquals(f.receiveWindowSize, 1024);
  assertEquals(f.assignedControlConnectionId, 0xa6ef0776);
  assertEquals(f.pwCapabilities, [5, 4, 6, 7, 1, 3, 10, 9, 11]);
  assertEquals(f.ciscoDraftVersion, 1);
  assertEquals(d.value.cisco, true);
  assertEquals(d.value.unknownMandatory, []);
  assertEquals(d.value.unknown.map((a) => [a.vendor, a.type]), [[9, 110], [9, 111]]);
  // The Cisco twins carry the same values as the IETF AVPs.
  const twin = (t: number) => msg.avps.find((a) => a.vendor === 9 && a.type === t)!.value;
  const ietf = (t: number) => msg.avps.find((a) => a.vendor === 0 && a.type === t)!.value;
  assertEquals(twin(1), ietf(61));
  assertEquals(twin(2), ietf(62));
  assertEquals(emitControl("ip", msg), bytes);
});

for (
  const file of [
    "freertr-two-edges-pw5-ip115.pcap",
    "freertr-edge-pw4-vlan-ip115.pcap",
    "xcesp-edge-udp1701-sccrq-retransmit.pcap",
  ]
) {
  Deno.test(`golden: every control message in ${file} decodes and re-emits byte for byte`, () => {
    const msgs = controlBytes(file);
    assert(msgs.length >= 6, `expected control messages in ${file}, found ${msgs.length}`);
    const seen = new Set<string>();
    for (const c of msgs) {
      const r = parseControl(c.bytes, c.transport);
      assert(r.ok, `${file}: ${!r.ok && r.detail}`);
      const d = decodeFields(r.msg);
      assert(d.ok, `${file}: ${!d.ok && d.detail}`);
      assertEquals(d.value.unknownMandatory, []);
      assertEquals(d.value.cisco, false);
      assertEquals(emitControl(c.transport, r.msg), c.bytes);
      seen.add(messageName(messageTypeOf(r.msg)));
    }
    if (file.startsWith("freertr")) {
      for (const m of ["SCCRQ", "SCCRP", "SCCCN", "ZLB", "ICRQ", "ICRP", "ICCN", "SLI"]) {
        assert(seen.has(m), `${file}: no ${m} decoded (saw ${[...seen]})`);
      }
    } else {
      assertEquals([...seen].sort(), ["SCCRQ", "StopCCN"]);
    }
  });
}

Deno.test("golden: freeRtr ICRQ carries VC 1234 as ASCII Remote End ID and PW type 5", () => {
  const icrq = controlBytes("freertr-two-edges-pw5-ip115.pcap")
    .map((c) => parseControl(c.bytes, "ip"))
    .find((r) => r.ok && messageTypeOf(r.msg) === 10);
  assert(icrq?.ok);
  const d = decodeFields(icrq.msg);
  assert(d.ok);
  assertEquals(d.value.fields.pwType, 5);
  assertEquals(d.value.fields.remoteSessionId, 0);
  assertEquals(printableId(d.value.fields.remoteEndId!), "1234");
  assertEquals(d.value.fields.circuitStatus, 1);
});

Deno.test("golden: freeRtr PW type 4 edge asks for Ethernet VLAN", () => {
  const types = controlBytes("freertr-edge-pw4-vlan-ip115.pcap")
    .map((c) => parseControl(c.bytes, "ip"))
    .filter((r) => r.ok && messageTypeOf(r.msg) === 10)
    .map((r) => {
      assert(r.ok);
      const d = decodeFields(r.msg);
      assert(d.ok);
      return d.value.fields.pwType;
    });
  assertEquals(types, [4]);
});

const FREERTR_EDGES = [
  { file: "freertr-two-edges-pw5-ip115.pcap", pwType: 5, vc: "1234" },
  { file: "freertr-edge-pw4-vlan-ip115.pcap", pwType: 4, vc: "1235" },
];
for (const { file, pwType, vc } of FREERTR_EDGES) {
  Deno.test(`golden conversation: the freeRtr edge's own messages from ${file} bring up a session on our LAS`, () => {
    const edge = "10.115.0.1";
    const msgs = controlBytes(file).filter((c) => c.src === edge);
    let x = 11;
    const ep = new L2tpEndpoint({
      transport: "ip",
      hostName: "l2-las",
      routerId: 0x0a730002,
      random32: () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0),
    });
    let lasCcid = 0;
    let localSid = 0;
    let ourNextNs = 0;
    const answers: string[][] = [];
    const t0 = msgs[0].time;
    for (const c of msgs) {
      const p = parseControl(c.bytes, "ip");
      assert(p.ok);
      // Rewrite what the freeRtr server chose (its CCID, its session id, its Ns) to ours.
      const avps = p.msg.avps.map((a) =>
        a.vendor === 0 && a.type === 64 && localSid !== 0
          ? {
            ...a,
            value: new Uint8Array([
              localSid >>> 24,
              (localSid >>> 16) & 255,
              (localSid >>> 8) & 255,
              localSid & 255,
            ]),
          }
          : a
      );
      const bytes = emitControl("ip", {
        ccid: p.msg.ccid === 0 ? 0 : lasCcid,
        ns: p.msg.ns,
        nr: ourNextNs,
        avps,
      });
      const now = Math.round((c.time - t0) * 1000);
      ep.poll(now);
      ep.receive(edge, bytes, now);
      const out = ep.takeOutgoing().map((o) => {
        const r = parseControl(o.bytes, "ip");
        assert(r.ok);
        const d = decodeFields(r.msg);
        assert(d.ok);
        const type = messageName(messageTypeOf(r.msg));
        if (type === "SCCRP") lasCcid = d.value.fields.assignedControlConnectionId!;
        if (type === "ICRP") localSid = d.value.fields.localSessionId!;
        if (type !== "ZLB") ourNextNs = (r.msg.ns + 1) & 0xffff;
        return type;
      });
      answers.push(out);
    }
    const want = [["SCCRP"], ["ZLB"], ["ICRP"], [], ["ZLB"], [], ["ZLB"]];
    while (want.length < msgs.length) want.push(["ZLB"]); // the edge's HELLOs
    assertEquals(answers, want);
    const ev = ep.takeEvents();
    assertEquals(ev.map((e) => e.type), ["connection-up", "session-up", "circuit-status"]);
    assert(ev[1].type === "session-up");
    assertEquals([ev[1].session.pwType, ev[1].session.vcIdText], [pwType, vc]);
    assertEquals(ep.connections()[0].state, "established");
    assertEquals(ep.counters["rx_hello"], msgs.length - 7);
  });
}

Deno.test("pcap helper: raw-IP pcap round trip, Linux cooked and VLAN-tagged Ethernet frames", () => {
  const payload = new Uint8Array([0, 0, 0, 7, 1, 2, 3]);
  const ip = ipv4Packet("192.0.2.1", "192.0.2.2", 115, payload);
  const [p] = readCapture(writeRawIpPcap([{ time: 1.5, ip }]));
  assertEquals(p.time, 1.5);
  assertEquals(ipv4Of(p), { src: "192.0.2.1", dst: "192.0.2.2", protocol: 115, payload });
  const sll = new Uint8Array(16 + ip.length);
  sll[14] = 0x08; // protocol 0x0800
  sll.set(ip, 16);
  assertEquals(ipv4Of({ time: 0, linkType: 113, data: sll })?.payload, payload);
  const eth = new Uint8Array(18 + ip.length);
  eth.set([0x81, 0x00, 0x00, 0x0a, 0x08, 0x00], 12); // 802.1Q VLAN 10, then IPv4
  eth.set(ip, 18);
  assertEquals(ipv4Of({ time: 0, linkType: 1, data: eth })?.src, "192.0.2.1");
});
