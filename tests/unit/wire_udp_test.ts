import { assert, assertEquals } from "../assert.ts";
import { type FrameName, loadFrame } from "../fixtures/frames/load.ts";
import { EthernetFrame } from "../../core/wire/ethernet.ts";
import { Ipv4Packet } from "../../core/wire/ipv4.ts";
import { emitIpv6, Ipv6Packet } from "../../core/wire/ipv6.ts";
import {
  emitUdp,
  parseUdp,
  UDP,
  UdpDatagram,
  udpHeaderLength,
  type UdpReason,
} from "../../core/wire/udp.ts";

const DHCP_FRAMES: FrameName[] = ["dhcp_discover", "dhcp_offer", "dhcp_request", "dhcp_ack"];

function udpOf(name: FrameName): { b: Uint8Array; ip: Ipv4Packet } {
  const b = loadFrame(name);
  const f = new EthernetFrame();
  assertEquals(f.check(b), "ok");
  const ip = new Ipv4Packet();
  assertEquals(ip.check(b, f.payloadOffset), "ok");
  return { b, ip };
}

Deno.test("udp: captured DHCP datagrams check, verify, and re-emit (checksum recomputed)", () => {
  const u = new UdpDatagram();
  for (const name of DHCP_FRAMES) {
    const { b, ip } = udpOf(name);
    assertEquals(u.check(b, ip.payloadOffset, ip.payloadLength), "ok", name);
    assert(u.checksumValidV4(ip.srcOffset, ip.dstOffset), name);
    assert(u.checksum !== 0, `${name} carries a checksum`);
    const r = parseUdp(u);
    assert(r.ok);
    const copy = b.slice();
    emitUdp(r.value, copy, ip.payloadOffset);
    const v = new UdpDatagram();
    assertEquals(v.check(copy, ip.payloadOffset, ip.payloadLength), "ok");
    const c = v.computeChecksumV4(ip.srcOffset, ip.dstOffset);
    copy[v.checksumOffset] = c >>> 8;
    copy[v.checksumOffset + 1] = c & 0xff;
    assertEquals(copy, b, name);
    assertEquals(udpHeaderLength(r.value), UDP.HEADER_LEN);
  }
});

Deno.test("udp: zero checksum means none over IPv4 and is invalid over IPv6", () => {
  const { b, ip } = udpOf("dhcp_discover");
  const u = new UdpDatagram();
  assertEquals(u.check(b, ip.payloadOffset, ip.payloadLength), "ok");
  b[u.checksumOffset] = b[u.checksumOffset + 1] = 0;
  assert(u.checksumValidV4(ip.srcOffset, ip.dstOffset));
  b[u.payloadOffset] ^= 1; // a payload change is not detected without a checksum
  assert(u.checksumValidV4(ip.srcOffset, ip.dstOffset));

  const v6 = new Uint8Array(40 + 12);
  emitIpv6(
    {
      trafficClass: 0,
      flowLabel: 0,
      nextHeader: 17,
      hopLimit: 1,
      src: new Uint8Array(16).fill(1),
      dst: new Uint8Array(16).fill(2),
      payloadLength: 12,
    },
    v6,
    0,
  );
  emitUdp({ srcPort: 546, dstPort: 547, payloadLength: 4 }, v6, 40);
  const ip6 = new Ipv6Packet();
  assertEquals(ip6.check(v6), "ok");
  assertEquals(u.check(v6, 40), "ok");
  assert(!u.checksumValidV6(ip6.srcOffset, ip6.dstOffset), "zero is invalid over IPv6");
  const c = u.computeChecksumV6(ip6.srcOffset, ip6.dstOffset);
  v6[46] = c >>> 8;
  v6[47] = c & 0xff;
  assert(u.checksumValidV6(ip6.srcOffset, ip6.dstOffset));
});

Deno.test("udp: a computed checksum of 0 is sent as 0xffff", () => {
  // Find a 2-byte payload that makes the sum come out as zero, then check the rule.
  const b = new Uint8Array(8 + 8 + 2);
  const ip = 0; // addresses at 0 and 4, all zero
  emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 2 }, b, 8);
  const u = new UdpDatagram();
  assertEquals(u.check(b, 8), "ok");
  const c0 = u.computeChecksumV4(ip, ip + 4);
  // put the checksum value into the payload: the sum then becomes 0xffff, checksum 0
  b[16] = c0 >>> 8;
  b[17] = c0 & 0xff;
  assertEquals(u.computeChecksumV4(ip, ip + 4), 0xffff);
});

Deno.test("udp: invalid inputs give their reason codes", () => {
  const { b, ip } = udpOf("dhcp_discover");
  const d = b.slice(ip.payloadOffset, ip.payloadOffset + ip.payloadLength);
  const short = d.slice();
  short[4] = 0;
  short[5] = 7;
  const long = d.slice();
  long[5] += 1;
  const cases: [string, Uint8Array, UdpReason][] = [
    ["empty", new Uint8Array(0), "udp-truncated"],
    ["7 bytes", d.subarray(0, 7), "udp-truncated"],
    ["length 7", short, "udp-bad-length"],
    ["length past the buffer", long, "udp-bad-length"],
  ];
  const u = new UdpDatagram();
  for (const [name, bytes, reason] of cases) assertEquals(u.check(bytes), reason, name);
});
