import { assert, assertEquals } from "../assert.ts";
import { loadFrame } from "../fixtures/frames/load.ts";
import { EthernetFrame, ETHERTYPE } from "../../core/wire/ethernet.ts";
import { Ipv4Packet } from "../../core/wire/ipv4.ts";
import { Ipv6Packet } from "../../core/wire/ipv6.ts";
import {
  emitTcp,
  parseTcp,
  TCP,
  TCP_FLAG,
  TCP_PROTOCOL,
  tcpHeaderLength,
  type TcpReason,
  TcpSegment,
} from "../../core/wire/tcp.ts";

/** Independent reference: sum of big-endian words of the parts, folded; odd tails padded. */
function refSum(parts: number[][]): number {
  const all = parts.flat();
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += all[i] * 256 + (all[i + 1] ?? 0);
  while (s > 0xffff) s = (s % 65536) + Math.floor(s / 65536);
  return s;
}

/** The TCP segment of a captured frame, with its IP view (v4 or v6) and pseudo-header bytes. */
function segmentOf(name: "tcp_syn_v4" | "tcp_data_v4" | "tcp_syn_v6" | "tcp_data_v6") {
  const b = loadFrame(name);
  const eth = new EthernetFrame();
  assertEquals(eth.check(b), "ok");
  const t = new TcpSegment();
  if (eth.etherType === ETHERTYPE.IPV4) {
    const ip = new Ipv4Packet();
    assertEquals(ip.check(b, eth.payloadOffset), "ok");
    assertEquals(ip.protocol, TCP_PROTOCOL);
    assertEquals(t.check(b, ip.payloadOffset, ip.payloadLength), "ok");
    const pseudo = [...b.subarray(ip.srcOffset, ip.srcOffset + 8), 0, 6, t.len >> 8, t.len & 0xff];
    return { b, t, v4: true, src: ip.srcOffset, dst: ip.dstOffset, pseudo };
  }
  const ip = new Ipv6Packet();
  assertEquals(ip.check(b, eth.payloadOffset), "ok");
  assertEquals(ip.upperProtocol, TCP_PROTOCOL);
  assertEquals(t.check(b, ip.upperOffset, ip.upperLength), "ok");
  const pseudo = [
    ...b.subarray(ip.srcOffset, ip.srcOffset + 32),
    0,
    0,
    t.len >> 8,
    t.len,
    0,
    0,
    0,
    6,
  ];
  return { b, t, v4: false, src: ip.srcOffset, dst: ip.dstOffset, pseudo };
}

Deno.test("tcp: captured SYNs name their ports, sequence number, flags, window and options", () => {
  for (const name of ["tcp_syn_v4", "tcp_syn_v6"] as const) {
    const { b, t } = segmentOf(name);
    assertEquals([t.srcPort, t.dstPort], [name === "tcp_syn_v4" ? 0xcbb2 : 0xd156, 5201], name);
    assertEquals(t.seq, name === "tcp_syn_v4" ? 0xca47a23c : 0xf093388e, name);
    assertEquals(t.ack, 0);
    assertEquals(t.flags, TCP_FLAG.SYN);
    assertEquals(t.headerLength, 40, "20 bytes of options");
    assertEquals(t.payloadLength, 0);
    assertEquals(t.window, name === "tcp_syn_v4" ? 64240 : 64800);
    assertEquals(t.urgent, 0);
    // MSS (kind 2), SACK-permitted (4), timestamps (8), NOP, window scale (3) 10.
    const opts = b.subarray(t.optionsOffset, t.payloadOffset);
    assertEquals([opts[0], opts[1]], [2, 4]);
    assertEquals([opts[4], opts[5], opts[6], opts[7]], [4, 2, 8, 10]);
    assertEquals([...opts.subarray(16)], [1, 3, 3, 10]);
  }
});

Deno.test("tcp: captured data segments carry their payload; checksums verify and recompute", () => {
  for (const name of ["tcp_syn_v4", "tcp_data_v4", "tcp_syn_v6", "tcp_data_v6"] as const) {
    const { b, t, v4, src, dst, pseudo } = segmentOf(name);
    const seg = [...b.subarray(t.off, t.off + t.len)];
    assertEquals(refSum([pseudo, seg]), 0xffff, `${name}: the capture's checksum is real`);
    assert(v4 ? t.checksumValidV4(src, dst) : t.checksumValidV6(src, dst), name);
    const stored = t.checksum;
    assertEquals(v4 ? t.computeChecksumV4(src, dst) : t.computeChecksumV6(src, dst), stored, name);
    assertEquals(t.checksum, stored, "computing leaves the field as it was");
    b[t.payloadOffset - 1] ^= 0x40; // a bit of the last option (or payload) flips
    assert(!(v4 ? t.checksumValidV4(src, dst) : t.checksumValidV6(src, dst)), name);
    if (name.startsWith("tcp_data")) {
      assertEquals(t.flags, TCP_FLAG.PSH | TCP_FLAG.ACK);
      assertEquals(new TextDecoder().decode(b.subarray(t.payloadOffset)), "hello l2\n");
      assertEquals(t.payloadLength, 9);
    }
  }
});

Deno.test("tcp: every captured header re-emits byte for byte (checksum filled after)", () => {
  for (const name of ["tcp_syn_v4", "tcp_data_v4", "tcp_syn_v6", "tcp_data_v6"] as const) {
    const { b, t, v4, src, dst } = segmentOf(name);
    const r = parseTcp(t);
    assert(r.ok);
    assertEquals(tcpHeaderLength(r.value), t.headerLength);
    assertEquals(r.value.payloadLength, t.payloadLength);
    const copy = b.slice();
    copy.fill(0xee, t.off, t.payloadOffset);
    emitTcp(r.value, copy, t.off);
    const u = new TcpSegment();
    assertEquals(u.check(copy, t.off, t.len), "ok");
    assertEquals(u.checksum, 0);
    u.checksum = v4 ? u.computeChecksumV4(src, dst) : u.computeChecksumV6(src, dst);
    assertEquals(copy, b, name);
  }
});

Deno.test("tcp: setters rewrite sequence number, flags and checksum in place", () => {
  const { b, t, src, dst } = segmentOf("tcp_data_v4");
  t.seq = 0xffff_fffe;
  t.flags = TCP_FLAG.ACK | TCP_FLAG.FIN;
  assertEquals([...b.subarray(t.off + TCP.SEQ, t.off + TCP.SEQ + 4)], [0xff, 0xff, 0xff, 0xfe]);
  assertEquals(b[t.off + TCP.FLAGS], 0x11);
  assert(!t.checksumValidV4(src, dst));
  t.checksum = t.computeChecksumV4(src, dst);
  assert(t.checksumValidV4(src, dst));
});

Deno.test("tcp: invalid inputs give their reason codes and leave the view empty", () => {
  const good = segmentOf("tcp_syn_v4");
  const at = good.t.off;
  const cases: [string, Uint8Array, number, number, TcpReason][] = [
    ["empty", new Uint8Array(0), 0, 0, "tcp-truncated"],
    ["19 bytes", good.b, at, 19, "tcp-truncated"],
    ["negative offset", good.b, -1, 20, "tcp-truncated"],
    ["length beyond the buffer", good.b, at, good.b.length - at + 1, "tcp-truncated"],
    ["data offset 4", withByte(good.b, at + TCP.DATA_OFFSET, 0x40), at, 40, "tcp-bad-data-offset"],
    ["data offset 0", withByte(good.b, at + TCP.DATA_OFFSET, 0x00), at, 40, "tcp-bad-data-offset"],
    ["header beyond the segment", good.b, at, 39, "tcp-bad-data-offset"],
    [
      "data offset 15, 60 > 40",
      withByte(good.b, at + TCP.DATA_OFFSET, 0xf0),
      at,
      40,
      "tcp-bad-data-offset",
    ],
  ];
  for (const [what, b, off, len, reason] of cases) {
    const t = new TcpSegment();
    assertEquals(t.check(good.b, at, 40), "ok", "bound first, so that the failure must unbind");
    assertEquals(t.check(b, off, len), reason, what);
    assertEquals([t.buf.length, t.off, t.len], [0, 0, 0], `${what}: view left empty`);
  }
  // Exactly the header, no payload: fine.
  const t = new TcpSegment();
  assertEquals(t.check(good.b, at, 40), "ok");
  assertEquals(t.payloadLength, 0);
});

function withByte(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  c[at] = v;
  return c;
}
