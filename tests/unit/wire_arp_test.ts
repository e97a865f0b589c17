import { assert, assertEquals } from "../assert.ts";
import { loadFrame } from "../fixtures/frames/load.ts";
import {
  ARP_OP,
  arpLength,
  ArpPacket,
  type ArpReason,
  emitArp,
  parseArp,
} from "../../core/wire/arp.ts";
import { EthernetFrame } from "../../core/wire/ethernet.ts";

function arpOf(name: "arp_request" | "arp_reply"): [Uint8Array, number] {
  const b = loadFrame(name);
  const f = new EthernetFrame();
  assertEquals(f.check(b), "ok");
  return [b, f.payloadOffset];
}

Deno.test("arp: captured request and reply parse and re-emit byte for byte", () => {
  const a = new ArpPacket();
  for (const name of ["arp_request", "arp_reply"] as const) {
    const [b, po] = arpOf(name);
    assertEquals(a.check(b, po), "ok", name);
    const r = parseArp(a);
    assert(r.ok, name);
    const out = new Uint8Array(arpLength(r.value));
    emitArp(r.value, out, 0);
    assertEquals(out, b.subarray(po, po + 28), name);
  }
});

Deno.test("arp: captured request fields (who has 10.77.0.2, tell 10.77.0.1)", () => {
  const [b, po] = arpOf("arp_request");
  const a = new ArpPacket();
  assertEquals(a.check(b, po), "ok");
  const r = parseArp(a);
  assert(r.ok);
  assertEquals(r.value.op, ARP_OP.REQUEST);
  assertEquals(r.value.senderHw, 0x02_00_00_00_0a_01);
  assertEquals(r.value.senderIp, 0x0a4d0001);
  assertEquals(r.value.targetIp, 0x0a4d0002);
  const [c, pc] = arpOf("arp_reply");
  assertEquals(a.check(c, pc), "ok");
  const q = parseArp(a);
  assert(q.ok);
  assertEquals([q.value.op, q.value.senderHw, q.value.targetHw], [
    ARP_OP.REPLY,
    0x02_00_00_00_0b_02,
    0x02_00_00_00_0a_01,
  ]);
});

Deno.test("arp: invalid inputs give their reason codes", () => {
  const [b, po] = arpOf("arp_request");
  const body = b.slice(po);
  const bigHlen = body.slice();
  bigHlen[4] = 16; // needs 8 + 2 * (16 + 4) = 48 bytes
  const cases: [string, Uint8Array, ArpReason][] = [
    ["empty", new Uint8Array(0), "arp-truncated"],
    ["fixed part short", body.subarray(0, 7), "arp-truncated"],
    ["one byte short of the addresses", body.subarray(0, 27), "arp-truncated"],
    ["hlen 16 in 28 bytes", bigHlen, "arp-truncated"],
  ];
  const a = new ArpPacket();
  for (const [name, bytes, reason] of cases) assertEquals(a.check(bytes), reason, name);
});

Deno.test("arp: other address spaces check but have no Ethernet/IPv4 repr; unknown ops pass", () => {
  const [b, po] = arpOf("arp_request");
  const body = b.slice(po);
  body[1] = 6; // IEEE 802 hardware type
  const a = new ArpPacket();
  assertEquals(a.check(body), "ok");
  assertEquals(parseArp(a), { ok: false, reason: "arp-not-ethernet-ipv4" });
  const inarp = b.slice(po);
  inarp[7] = 8; // InARP request
  assertEquals(a.check(inarp), "ok");
  const r = parseArp(a);
  assert(r.ok);
  assertEquals(r.value.op, 8);
  // Variable-length layout: hlen 8, plen 16 places the addresses accordingly.
  const v = new Uint8Array(8 + 2 * 24);
  v[4] = 8;
  v[5] = 16;
  assertEquals(a.check(v), "ok");
  assertEquals([a.shaOffset, a.spaOffset, a.thaOffset, a.tpaOffset], [8, 16, 32, 40]);
});
