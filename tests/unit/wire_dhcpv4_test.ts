import { assert, assertEquals } from "../assert.ts";
import { type FrameName, loadFrame } from "../fixtures/frames/load.ts";
import { macAt } from "../../core/mac.ts";
import {
  BOOTP_OP,
  DHCP,
  DHCP_OPTION,
  dhcpLength,
  DhcpMessage,
  type DhcpReason,
  emitDhcp,
  parseDhcp,
} from "../../core/wire/dhcpv4.ts";
import { EthernetFrame } from "../../core/wire/ethernet.ts";
import { Ipv4Packet } from "../../core/wire/ipv4.ts";
import { UdpDatagram } from "../../core/wire/udp.ts";

const DHCP_FRAMES: FrameName[] = ["dhcp_discover", "dhcp_offer", "dhcp_request", "dhcp_ack"];

function bootpOf(name: FrameName): { b: Uint8Array; off: number; len: number } {
  const b = loadFrame(name);
  const f = new EthernetFrame();
  assertEquals(f.check(b), "ok");
  const ip = new Ipv4Packet();
  assertEquals(ip.check(b, f.payloadOffset), "ok");
  const u = new UdpDatagram();
  assertEquals(u.check(b, ip.payloadOffset, ip.payloadLength), "ok");
  return { b, off: u.payloadOffset, len: u.payloadLength };
}

Deno.test("dhcpv4: captured DORA messages parse and re-emit byte for byte", () => {
  const m = new DhcpMessage();
  for (const name of DHCP_FRAMES) {
    const { b, off, len } = bootpOf(name);
    assertEquals(m.check(b, off, len), "ok", name);
    const r = parseDhcp(m);
    assert(r.ok);
    assertEquals(dhcpLength(r.value), len, name);
    const out = new Uint8Array(len);
    emitDhcp(r.value, out, 0);
    assertEquals(out, b.subarray(off, off + len), name);
  }
});

Deno.test("dhcpv4: captured fields: op, chaddr, message type, client identifier", () => {
  const want: Record<string, [number, number, boolean]> = {
    dhcp_discover: [BOOTP_OP.REQUEST, 1, true],
    dhcp_offer: [BOOTP_OP.REPLY, 2, false],
    dhcp_request: [BOOTP_OP.REQUEST, 3, true],
    dhcp_ack: [BOOTP_OP.REPLY, 5, false],
  };
  const m = new DhcpMessage();
  for (const name of DHCP_FRAMES) {
    const { b, off, len } = bootpOf(name);
    assertEquals(m.check(b, off, len), "ok");
    const [op, type, cid] = want[name];
    assertEquals(m.op, op, name);
    assert(m.isEthernet && m.hasMagicCookie);
    assertEquals(m.xid, 0x4c325432);
    assertEquals(macAt(b, m.chaddrOffset), 0x02_00_00_00_0a_01, name);
    const t = m.findOption(DHCP_OPTION.MESSAGE_TYPE);
    assert(t >= 0);
    assertEquals([m.optionLength(t), b[t + 2]], [1, type], name);
    const c = m.findOption(DHCP_OPTION.CLIENT_ID);
    assertEquals(c >= 0, cid, name);
    if (cid) {
      assertEquals([m.optionLength(c), b[c + 2], macAt(b, c + 3)], [7, 1, 0x02_00_00_00_0a_01]);
    }
  }
});

Deno.test("dhcpv4: Pad is one octet, End stops the walk, a missing End is tolerated", () => {
  const b = new Uint8Array(DHCP.OPTIONS + 12);
  b.set([99, 130, 83, 99], DHCP.COOKIE);
  b.set([0, 0, 53, 1, 3, 0, 61, 3, 9, 9, 9], DHCP.OPTIONS);
  b[DHCP.HTYPE] = 1;
  b[DHCP.HLEN] = 6;
  const m = new DhcpMessage();
  assertEquals(m.check(b.subarray(0, DHCP.OPTIONS + 11)), "ok");
  assertEquals(m.findOption(53), DHCP.OPTIONS + 2);
  assertEquals(m.findOption(61), DHCP.OPTIONS + 6);
  assertEquals(m.optionsEnd, DHCP.OPTIONS + 11, "no End: options run to the end");
  b[DHCP.OPTIONS + 11] = 255;
  assertEquals(m.check(b), "ok");
  assertEquals(m.optionsEnd, DHCP.OPTIONS + 11);
  const r = parseDhcp(m);
  assert(r.ok);
  assertEquals(r.value.options!.map((o) => o.code), [53, 61]);
});

Deno.test("dhcpv4: plain BOOTP (no magic cookie) has no options", () => {
  const b = new Uint8Array(300);
  b[0] = 1;
  const m = new DhcpMessage();
  assertEquals(m.check(b), "ok");
  assert(!m.hasMagicCookie);
  assertEquals(m.findOption(61), -1);
  const r = parseDhcp(m);
  assert(r.ok);
  assertEquals(r.value.options, null);
  const out = new Uint8Array(dhcpLength(r.value));
  emitDhcp(r.value, out, 0);
  assertEquals(out, b);
});

Deno.test("dhcpv4: invalid inputs give their reason codes", () => {
  const { b, off, len } = bootpOf("dhcp_discover");
  const d = b.slice(off, off + len);
  const hlen = d.slice();
  hlen[DHCP.HLEN] = 17;
  const over = d.slice();
  over[DHCP.OPTIONS + 1] = 200; // option 53 claims 200 bytes
  const cases: [string, Uint8Array, DhcpReason][] = [
    ["empty", new Uint8Array(0), "dhcp-truncated"],
    ["235 bytes", d.subarray(0, 235), "dhcp-truncated"],
    ["hlen 17", hlen, "dhcp-bad-hlen"],
    ["option past the end", over, "dhcp-option-truncated"],
    ["option code without length", d.subarray(0, DHCP.OPTIONS + 1), "dhcp-option-truncated"],
  ];
  const m = new DhcpMessage();
  for (const [name, bytes, reason] of cases) {
    assertEquals(m.check(bytes), reason, name);
    assertEquals(m.len, 0, `${name}: view left empty`);
  }
});
