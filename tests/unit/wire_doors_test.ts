/**
 * The second doors and accessors added for the data path: `checkHeader()` of
 * the Ethernet, IPv4 and IPv6 views (structure only, lengths not judged),
 * the integer halves and offsets of the Ethernet addresses, the IP length
 * setters, DHCP option 61, the virtio_net header, and the allocation-free
 * MAT field readers.
 */
import { assert, assertEquals } from "../assert.ts";
import { loadFrame } from "../fixtures/frames/load.ts";
import { macAt, matNodeOf, matSupernodeOf } from "../../core/mac.ts";
import { DhcpMessage } from "../../core/wire/dhcpv4.ts";
import { EthernetFrame, type EthernetReason } from "../../core/wire/ethernet.ts";
import { IPV4, Ipv4Packet, type Ipv4Reason } from "../../core/wire/ipv4.ts";
import { IPV6, Ipv6Packet, type Ipv6Reason } from "../../core/wire/ipv6.ts";
import { UdpDatagram } from "../../core/wire/udp.ts";
import {
  emptyVnetHdr,
  readVnetHdr,
  VNET,
  type VnetHdr,
  writeVnetHdr,
} from "../../core/wire/virtio_net.ts";
import { TPID_8021AD, TPID_8021Q } from "../../core/wire/vlan.ts";

/** 12 address bytes, then `words` 16-bit words, then `pad` zero bytes. */
function frame(words: number[], pad = 0): Uint8Array {
  const b = new Uint8Array(12 + 2 * words.length + pad);
  b.set([0x01, 0x80, 0xc2, 0, 0, 0x0e, 0x02, 0, 0, 0, 0x0a, 0x01]);
  words.forEach((w, i) => b.set([w >> 8, w & 0xff], 12 + 2 * i));
  return b;
}

Deno.test("ethernet: check judges the type/length, checkHeader only that header and tags fit", () => {
  // [what, bytes, check(), checkHeader(), tags and type/length after checkHeader]
  const cases: [string, Uint8Array, EthernetReason, EthernetReason, number[]][] = [
    ["13 bytes", frame([]).subarray(0, 13), "eth-truncated", "eth-truncated", []],
    ["IPv4", frame([0x0800], 20), "ok", "ok", [0, 0x0800]],
    ["802.3 length beyond the frame", frame([100], 20), "eth-length-exceeds-frame", "ok", [0, 100]],
    ["undefined 1501", frame([1501], 40), "eth-bad-type-length", "ok", [0, 1501]],
    ["tag cut in its TCI", frame([TPID_8021Q, 7]), "eth-tag-truncated", "eth-tag-truncated", []],
    [
      "tag without the type after it",
      frame([TPID_8021Q, 7]).subarray(0, 16),
      "eth-tag-truncated",
      "eth-tag-truncated",
      [],
    ],
    ["one tag", frame([TPID_8021Q, 7, 0x86dd], 40), "ok", "ok", [1, 0x86dd]],
    ["S-tag + C-tag", frame([TPID_8021AD, 5, TPID_8021Q, 7, 0x0806], 28), "ok", "ok", [2, 0x0806]],
    // A bridge walks two tags and takes the third TPID as the type.
    [
      "three tags",
      frame([TPID_8021AD, 5, TPID_8021Q, 7, TPID_8021Q, 9, 0x0800], 20),
      "eth-too-many-tags",
      "ok",
      [2, TPID_8021Q],
    ],
  ];
  const f = new EthernetFrame();
  for (const [what, b, strict, header, after] of cases) {
    assertEquals(f.check(frame([0x0800], 46)), "ok");
    assertEquals(f.check(b), strict, `${what}: check`);
    if (strict !== "ok") {
      assertEquals([f.buf.length, f.len, f.tagCount], [0, 0, 0], `${what}: unbound`);
    }
    assertEquals(f.checkHeader(b), header, `${what}: checkHeader`);
    if (header === "ok") {
      assertEquals([f.tagCount, f.typeOrLength], after, what);
      assertEquals(f.payloadOffset, 14 + 4 * f.tagCount, what);
    } else assertEquals([f.buf.length, f.len], [0, 0], `${what}: unbound`);
  }
});

Deno.test("ethernet: tag TPIDs, address halves and offsets of a captured and a tagged frame", () => {
  const f = new EthernetFrame();
  const arp = loadFrame("arp_request"); // ff:ff:ff:ff:ff:ff <- 02:00:00:00:0a:01
  assertEquals(f.check(arp), "ok");
  assertEquals([f.dstHi, f.dstLo, f.srcHi, f.srcLo], [0xffff, -1, 0x0200, 0x0a01]);
  assertEquals([f.dstOffset, f.srcOffset], [0, 6]);
  assertEquals([f.tagTpid(0), f.tagTpid(-1)], [-1, -1], "no tags");
  // The halves are the MacKey's: hi * 2^32 + (lo >>> 0).
  assertEquals(f.srcHi * 2 ** 32 + (f.srcLo >>> 0), f.src);
  assertEquals(f.dstHi * 2 ** 32 + (f.dstLo >>> 0), f.dst);

  const b = new Uint8Array(8 + 64);
  b.set(frame([TPID_8021AD, 5, TPID_8021Q, 7, 0x0800], 40), 8);
  assertEquals(f.check(b, 8), "ok");
  assertEquals([f.tagTpid(0), f.tagTpid(1), f.tagTpid(2)], [TPID_8021AD, TPID_8021Q, -1]);
  assertEquals([f.dstOffset, f.srcOffset, f.payloadOffset], [8, 14, 8 + 22]);
  assertEquals([f.dstHi, f.dstLo >>> 0], [0x0180, 0xc200000e]);
  assertEquals(macAt(b, f.srcOffset), f.src);
});

/** A 20-byte IPv4 header saying Total Length `total`, followed by `extra` bytes. */
function ipv4(total: number, extra: number): Uint8Array {
  const b = new Uint8Array(20 + extra);
  b.set([
    0x45,
    0,
    total >> 8,
    total & 0xff,
    0x12,
    0x34,
    0x40,
    0,
    64,
    6,
    0,
    0,
    10,
    0,
    0,
    1,
    10,
    0,
    0,
    2,
  ]);
  return b;
}

Deno.test("ipv4: checkHeader leaves Total Length unjudged; setters rewrite it, the id, the checksum", () => {
  const cases: [string, Uint8Array, Ipv4Reason, Ipv4Reason][] = [
    ["consistent", ipv4(60, 40), "ok", "ok"],
    [
      "Total Length beyond the bytes (a GSO super-frame cut)",
      ipv4(64000, 40),
      "ipv4-bad-total-length",
      "ok",
    ],
    ["Total Length below the header", ipv4(8, 40), "ipv4-bad-total-length", "ok"],
    ["19 bytes", ipv4(60, 40).subarray(0, 19), "ipv4-truncated", "ipv4-truncated"],
    [
      "version 6",
      (() => {
        const b = ipv4(60, 40);
        b[0] = 0x65;
        return b;
      })(),
      "ipv4-bad-version",
      "ipv4-bad-version",
    ],
    [
      "IHL 4",
      (() => {
        const b = ipv4(60, 40);
        b[0] = 0x44;
        return b;
      })(),
      "ipv4-bad-ihl",
      "ipv4-bad-ihl",
    ],
    [
      "IHL 15 in 40 bytes",
      (() => {
        const b = ipv4(40, 20);
        b[0] = 0x4f;
        return b;
      })(),
      "ipv4-truncated",
      "ipv4-truncated",
    ],
  ];
  const p = new Ipv4Packet();
  for (const [what, b, strict, header] of cases) {
    assertEquals(p.check(b), strict, `${what}: check`);
    assertEquals(p.checkHeader(b), header, `${what}: checkHeader`);
    if (header === "ok") assertEquals(p.len, b.length, `${what}: the view holds every byte given`);
    else assertEquals([p.buf.length, p.len], [0, 0], `${what}: unbound`);
  }
  const b = ipv4(64000, 40);
  assertEquals(p.checkHeader(b), "ok");
  assertEquals([p.totalLength, p.payloadLength, p.ident], [64000, 40, 0x1234]);
  p.totalLength = 60;
  p.ident = 0xbeef;
  p.fillChecksum();
  assertEquals([...b.subarray(IPV4.TOTAL_LEN, IPV4.TOTAL_LEN + 4)], [0, 60, 0xbe, 0xef]);
  assert(p.checksumValid());
  assertEquals(p.check(b), "ok", "consistent now");
  assertEquals([p.len, p.totalLength], [60, 60]);
});

Deno.test("ipv6: checkHeader leaves Payload Length unjudged and walks nothing", () => {
  const b = new Uint8Array(40 + 20);
  b.set([0x60, 0, 0, 0, 0xff, 0x00, 6, 64]);
  const p = new Ipv6Packet();
  assertEquals(p.check(b), "ipv6-bad-payload-length");
  assertEquals(p.checkHeader(b), "ok");
  assertEquals([p.len, p.payloadLength, p.nextHeader, p.upperProtocol, p.upperOffset], [
    60,
    0xff00,
    6,
    -1,
    40,
  ]);
  p.payloadLength = 20;
  assertEquals([b[IPV6.PAYLOAD_LEN], b[IPV6.PAYLOAD_LEN + 1]], [0, 20]);
  assertEquals(p.check(b), "ok");
  assertEquals([p.upperProtocol, p.upperLength, p.payloadLength], [6, 20, 20]);
  const bad: [string, Uint8Array, Ipv6Reason][] = [
    ["39 bytes", b.subarray(0, 39), "ipv6-truncated"],
    ["version 4", Uint8Array.from(b, (x, i) => (i === 0 ? 0x45 : x)), "ipv6-bad-version"],
  ];
  for (const [what, bytes, reason] of bad) {
    assertEquals(p.checkHeader(b), "ok");
    assertEquals(p.checkHeader(bytes), reason, what);
    assertEquals([p.buf.length, p.len, p.upperProtocol], [0, 0, 0], `${what}: unbound`);
  }
});

/** The DHCP message of a captured frame, checked. */
function dhcpOf(name: "dhcp_discover" | "dhcp_offer"): { b: Uint8Array; m: DhcpMessage } {
  const b = loadFrame(name);
  const ip = new Ipv4Packet();
  assertEquals(ip.check(b, 14), "ok");
  const u = new UdpDatagram();
  assertEquals(u.check(b, ip.payloadOffset, ip.payloadLength), "ok");
  const m = new DhcpMessage();
  assertEquals(m.check(b, u.payloadOffset, u.payloadLength), "ok");
  return { b, m };
}

Deno.test("dhcp: option 61 type 1 gives its MAC; other shapes give -1", () => {
  const { b, m } = dhcpOf("dhcp_discover");
  const at = m.clientIdEthernetOffset();
  assert(at > 0);
  assertEquals(macAt(b, at), 0x02_00_00_00_0a_01, "the client's MAC, as in chaddr");
  assertEquals(macAt(b, at), macAt(b, m.chaddrOffset));
  const o = m.findOption(61);
  b[o + 2] = 0; // type 0: not an Ethernet address
  assertEquals(m.clientIdEthernetOffset(), -1);
  b[o + 2] = 1;
  b[o + 1] = 6; // 6 octets: type and only 5 of a MAC (the walk still fits: the option shrank)
  assertEquals(m.clientIdEthernetOffset(), -1);
  assertEquals(dhcpOf("dhcp_offer").m.clientIdEthernetOffset(), -1, "dnsmasq sends no option 61");
});

Deno.test("virtio_net: golden header bytes decode and encode; short input is refused", () => {
  // A TCPv4 GSO header as Linux hands it over: NEEDS_CSUM, hdr_len 66, MSS 1448, csum at 34+16.
  const golden = new Uint8Array([1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0]);
  const h = emptyVnetHdr();
  assert(readVnetHdr(golden, 0, h));
  const want: VnetHdr = {
    flags: 1,
    gsoType: 1,
    hdrLen: 66,
    gsoSize: 1448,
    csumStart: 34,
    csumOffset: 16,
  };
  assertEquals(h, want);
  const out = new Uint8Array(VNET.LEN);
  writeVnetHdr(out, 0, h);
  assertEquals(out, golden);
  for (const [b, off] of [[golden.subarray(0, 9), 0], [golden, 1], [golden, -1]] as const) {
    const x = emptyVnetHdr();
    assert(!readVnetHdr(b, off, x));
    assertEquals(x, emptyVnetHdr(), "untouched");
  }
});

Deno.test("mac: MAT supernode and node ids read without allocating objects", () => {
  const cases: [number, number, number][] = [
    [0x00_01_00_02_00_05, 1, 2],
    [0x00_ff_ff_fe_ff_ff, 255, 0xfffe],
    [0x00_00_00_00_00_01, 0, 0],
    [0x02_01_00_02_00_05, -1, 2], // first octet not 00: not MAT
    [0xff_ff_ff_ff_ff_ff, -1, 0xffff],
  ];
  for (const [mac, sn, node] of cases) {
    assertEquals([matSupernodeOf(mac), matNodeOf(mac)], [sn, node], mac.toString(16));
  }
});

Deno.test("udp: checkHeader binds when the 8-byte header fits, whatever the Length field says", () => {
  // [what, bytes, check(), checkHeader()]
  const cases: [string, number[], string, string][] = [
    ["whole", [0, 67, 0, 68, 0, 10, 0, 0, 1, 2], "ok", "ok"],
    [
      "Length past the bytes (a first fragment)",
      [0, 67, 0, 68, 1, 0, 0, 0],
      "udp-bad-length",
      "ok",
    ],
    ["Length below 8", [0, 67, 0, 68, 0, 4, 0, 0], "udp-bad-length", "ok"],
    ["7 bytes", [0, 67, 0, 68, 0, 8, 0], "udp-truncated", "udp-truncated"],
  ];
  const u = new UdpDatagram();
  for (const [what, bytes, check, header] of cases) {
    const b = new Uint8Array(bytes);
    assertEquals(u.check(b), check, `${what}: check`);
    assertEquals(u.checkHeader(b), header, `${what}: checkHeader`);
    if (header === "ok") {
      assertEquals([u.srcPort, u.dstPort, u.len], [67, 68, b.length], what);
    } else assertEquals(u.len, 0, `${what}: unbound`);
  }
});

Deno.test("ip: multicast destination and link-local source getters", () => {
  const p4 = new Ipv4Packet();
  const b4 = new Uint8Array(20);
  b4.set([0x45, 0, 0, 20]);
  for (
    const [dst, multicast] of [[[224, 0, 0, 251], true], [[239, 255, 255, 250], true], [[
      240,
      0,
      0,
      1,
    ], false], [[223, 255, 255, 255], false]] as const
  ) {
    b4.set(dst, 16);
    assertEquals(p4.check(b4), "ok");
    assertEquals(p4.dstIsMulticast, multicast, dst.join("."));
  }
  const p6 = new Ipv6Packet();
  const b6 = new Uint8Array(40);
  b6[0] = 0x60;
  b6[6] = 59;
  const cases: [number[], boolean, number[], boolean][] = [
    [[0xfe, 0x80], true, [0xff, 0x02], true],
    [[0xfe, 0xbf], true, [0xff, 0x0e], true],
    [[0xfe, 0xc0], false, [0xfe, 0x80], false],
    [[0xfd, 0x00], false, [0x20, 0x01], false],
  ];
  for (const [src, ll, dst, mc] of cases) {
    b6.set(src, 8);
    b6.set(dst, 24);
    assertEquals(p6.check(b6), "ok");
    assertEquals([p6.srcIsLinkLocal, p6.dstIsMulticast], [ll, mc], `${src} ${dst}`);
  }
});
