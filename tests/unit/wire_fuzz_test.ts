import { assert } from "../assert.ts";
import fc from "fast-check";
import { FRAME_NAMES, loadFrame } from "../fixtures/frames/load.ts";
import { ArpPacket, parseArp } from "../../core/wire/arp.ts";
import { DhcpMessage, parseDhcp } from "../../core/wire/dhcpv4.ts";
import { EthernetFrame, parseEthernet } from "../../core/wire/ethernet.ts";
import { Icmpv6Packet, parseIcmpv6 } from "../../core/wire/icmpv6.ts";
import { Ipv4Packet, parseIpv4 } from "../../core/wire/ipv4.ts";
import { Ipv6Packet, parseIpv6 } from "../../core/wire/ipv6.ts";
import { LlcHeader, parseLlc } from "../../core/wire/llc.ts";
import { NdpMessage, parseNdp } from "../../core/wire/ndp.ts";
import { parseUdp, UdpDatagram } from "../../core/wire/udp.ts";
import { parseVlan, VlanTag } from "../../core/wire/vlan.ts";
import { parseTcp, TcpSegment } from "../../core/wire/tcp.ts";

const GOLDEN = FRAME_NAMES.map((n) => loadFrame(n));

/** A finite integer, which an out-of-bounds read (undefined -> NaN) would not give. */
function finite(v: number, what: string): void {
  assert(Number.isInteger(v), `${what} = ${v}`);
}

/** Runs every view over `b` at every layer offset it reaches; asserts in-bounds results. */
function exercise(b: Uint8Array): void {
  const eth = new EthernetFrame();
  if (eth.check(b) === "ok") {
    parseEthernet(eth);
    finite(eth.src + eth.dst + eth.payloadLength, "eth");
    assert(eth.payloadOffset <= b.length);
  }
  const bridge = new EthernetFrame();
  if (bridge.checkHeader(b) === "ok") {
    finite(bridge.dstHi + bridge.dstLo + bridge.srcHi + bridge.srcLo, "eth halves");
    finite(bridge.tagTpid(0) + bridge.tagTpid(1) + bridge.typeOrLength, "eth tags");
    assert(bridge.payloadOffset <= b.length);
  }
  const start = eth.len > 0 ? eth.payloadOffset : 14;
  for (const off of [0, start, start + 20, start + 28, start + 40, start + 48]) {
    if (off > b.length) continue;
    const arp = new ArpPacket();
    if (arp.check(b, off) === "ok") {
      parseArp(arp);
      assert(arp.tpaOffset + arp.plen <= b.length);
    }
    const v = new VlanTag();
    if (v.check(b, off) === "ok") parseVlan(v);
    const l = new LlcHeader();
    if (l.check(b, off) === "ok") parseLlc(l);
    const ip4 = new Ipv4Packet();
    if (ip4.check(b, off) === "ok") {
      parseIpv4(ip4);
      ip4.checksumValid();
      assert(ip4.payloadOffset + ip4.payloadLength <= b.length);
      const t = new TcpSegment();
      if (t.check(b, ip4.payloadOffset, ip4.payloadLength) === "ok") {
        parseTcp(t);
        t.checksumValidV4(ip4.srcOffset, ip4.dstOffset);
        assert(t.payloadOffset + t.payloadLength <= b.length && t.payloadLength >= 0);
      }
      const u = new UdpDatagram();
      if (u.check(b, ip4.payloadOffset, ip4.payloadLength) === "ok") {
        parseUdp(u);
        u.checksumValidV4(ip4.srcOffset, ip4.dstOffset);
        const d = new DhcpMessage();
        if (d.check(b, u.payloadOffset, u.payloadLength) === "ok") {
          parseDhcp(d);
          for (let o = d.optionsOffset; o < d.optionsEnd; o = d.nextOption(o)) {
            assert(o + (d.optionCode(o) === 0 ? 1 : 2 + d.optionLength(o)) <= d.off + d.len);
          }
        }
      }
    }
    if (ip4.checkHeader(b, off) === "ok") {
      finite(ip4.totalLength + ip4.ident + ip4.protocol, "ipv4 header");
      assert(ip4.payloadOffset <= b.length && ip4.payloadOffset + ip4.payloadLength === b.length);
    }
    const ip6 = new Ipv6Packet();
    if (ip6.checkHeader(b, off) === "ok") finite(ip6.payloadLength + ip6.nextHeader, "ipv6 header");
    if (ip6.check(b, off) === "ok") {
      parseIpv6(ip6);
      const t = new TcpSegment();
      if (t.check(b, ip6.upperOffset, ip6.upperLength) === "ok") {
        parseTcp(t);
        t.checksumValidV6(ip6.srcOffset, ip6.dstOffset);
      }
      assert(ip6.upperOffset + ip6.upperLength <= b.length && ip6.upperLength >= 0);
      const m = new Icmpv6Packet();
      if (m.check(b, ip6.upperOffset, ip6.upperLength) === "ok") {
        parseIcmpv6(m);
        m.checksumValid(ip6.srcOffset, ip6.dstOffset);
      }
      const n = new NdpMessage();
      if (n.check(b, ip6.upperOffset, ip6.upperLength) === "ok") {
        parseNdp(n);
        for (let o = n.optionsOffset; o < n.end; o = n.nextOption(o)) {
          assert(n.optionLength(o) > 0 && o + n.optionLength(o) <= n.end);
        }
      }
    }
    const n = new NdpMessage();
    if (n.check(b, off) === "ok") parseNdp(n);
    const d = new DhcpMessage();
    if (d.check(b, off) === "ok") parseDhcp(d);
    const u = new UdpDatagram();
    if (u.check(b, off) === "ok") parseUdp(u);
    const t = new TcpSegment();
    if (t.check(b, off) === "ok") finite(parseTcp(t).ok ? t.seq + t.ack + t.window : 0, "tcp");
  }
}

Deno.test("wire: seeded random bytes never throw and never read out of bounds", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (b) => exercise(b)),
    { seed: 0x5eed, numRuns: 3000 },
  );
});

Deno.test("wire: mutated and truncated captured frames never throw", () => {
  fc.assert(
    fc.property(
      fc.nat(GOLDEN.length - 1),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.nat(),
      (which, flips, cut) => {
        const b = GOLDEN[which].slice(0, GOLDEN[which].length - (cut % 40));
        for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
        exercise(b);
      },
    ),
    { seed: 0xf1ee, numRuns: 3000 },
  );
});
