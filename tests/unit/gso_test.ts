import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { onesSum } from "../../core/checksum.ts";
import {
  completeChecksum,
  emptyVnetHdr,
  fastSum,
  GSO_ECN,
  GSO_NONE,
  GSO_REASONS,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP,
  GSO_UDP_L4,
  offloadFrame,
  readVnetHdr,
  segmentTcp,
  TcpCoalescer,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  type VnetHdr,
  writeVnetHdr,
} from "../../core/gso.ts";

// --- An independent reference: plain 32-bit accumulation, no shared code with core/checksum.ts.

function refSum(parts: Uint8Array[]): number {
  // Concatenate, then sum big-endian words; an odd tail is padded on the right.
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += all[i] * 256 + (i + 1 < all.length ? all[i + 1] : 0);
  while (s > 0xffff) s = (s % 65536) + Math.floor(s / 65536);
  return s;
}

function pseudo(v4: boolean, ip: Uint8Array, proto: number, len: number): Uint8Array {
  if (v4) {
    return Uint8Array.of(...ip.subarray(12, 20), 0, proto, len >> 8, len & 0xff);
  }
  return Uint8Array.of(
    ...ip.subarray(8, 40),
    len >>> 24,
    (len >> 16) & 0xff,
    (len >> 8) & 0xff,
    len & 0xff,
    0,
    0,
    0,
    proto,
  );
}

/** True when the L4 checksum of `frame` (IP at l3, L4 at l4) verifies. */
function l4Valid(frame: Uint8Array, l3: number, l4: number, v4: boolean, proto: number): boolean {
  const ip = frame.subarray(l3, l4);
  const seg = frame.subarray(l4);
  return refSum([pseudo(v4, ip, proto, seg.length), seg]) === 0xffff;
}

function be16(b: Uint8Array, o: number): number {
  return b[o] * 256 + b[o + 1];
}
function be32(b: Uint8Array, o: number): number {
  return ((b[o] * 256 + b[o + 1]) * 256 + b[o + 2]) * 256 + b[o + 3];
}

interface Spec {
  v4: boolean;
  vlan: boolean;
  ipOpts: number; // IPv4 option words (0..10)
  tcpOpts: number; // TCP option words (0..10)
  payload: Uint8Array;
  seq: number;
  id: number;
  flags: number;
}

interface Built {
  frame: Uint8Array;
  l3: number;
  l4: number;
  hdrLen: number;
}

/** A TCP frame as the kernel hands it to a TSO device: partial checksum (pseudo-header sum). */
function build(s: Spec): Built {
  const l3 = s.vlan ? 18 : 14;
  const ipLen = s.v4 ? 20 + 4 * s.ipOpts : 40;
  const l4 = l3 + ipLen;
  const tcpLen = 20 + 4 * s.tcpOpts;
  const hdrLen = l4 + tcpLen;
  const f = new Uint8Array(hdrLen + s.payload.length);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
  if (s.vlan) f.set([0x81, 0x00, 0x00, 0x07], 12);
  f.set(s.v4 ? [0x08, 0x00] : [0x86, 0xdd], l3 - 2);
  if (s.v4) {
    const tot = f.length - l3;
    const h = Uint8Array.of(
      0x40 | (ipLen / 4),
      0,
      tot >> 8,
      tot & 0xff,
      s.id >> 8,
      s.id & 0xff,
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
    );
    f.set(h, l3);
    for (let i = 0; i < s.ipOpts * 4; i++) f[l3 + 20 + i] = 1; // NOP options
    const c = ~refSum([f.subarray(l3, l4)]) & 0xffff;
    f[l3 + 10] = c >> 8;
    f[l3 + 11] = c & 0xff;
  } else {
    const pl = f.length - l3 - 40;
    f.set([0x60, 0, 0, 0, pl >> 8, pl & 0xff, 6, 64], l3);
    for (let i = 0; i < 16; i++) {
      f[l3 + 8 + i] = 0x20 + i;
      f[l3 + 24 + i] = 0x40 + i;
    }
  }
  f.set([0x9c, 0x40, 0x14, 0x51], l4); // ports 40000 -> 5201
  f.set([s.seq >>> 24, (s.seq >> 16) & 0xff, (s.seq >> 8) & 0xff, s.seq & 0xff], l4 + 4);
  f.set([0, 0, 0x12, 0x34], l4 + 8); // ack
  f[l4 + 12] = (tcpLen / 4) << 4;
  f[l4 + 13] = s.flags;
  f.set([0xff, 0xff], l4 + 14); // window
  for (let i = 0; i < s.tcpOpts * 4; i++) f[l4 + 20 + i] = 1;
  f.set(s.payload, hdrLen);
  // Partial checksum: the folded pseudo-header sum (not complemented), as Linux leaves it.
  const ps = refSum([pseudo(s.v4, f.subarray(l3, l4), 6, f.length - l4)]);
  f[l4 + 16] = ps >> 8;
  f[l4 + 17] = ps & 0xff;
  return { frame: f, l3, l4, hdrLen };
}

function hdrFor(b: Built, v4: boolean, mss: number): VnetHdr {
  return {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: v4 ? GSO_TCPV4 : GSO_TCPV6,
    hdrLen: b.hdrLen,
    gsoSize: mss,
    csumStart: b.l4,
    csumOffset: 16,
  };
}

/** Segments and checks every property of every segment against the original. */
function checkSegmentation(s: Spec, mss: number, scratchAt = 0): void {
  const b = build(s);
  const orig = b.frame.slice();
  const segs: Uint8Array[] = [];
  // The scratch may start anywhere in its buffer; 3 bytes of slack for alignment.
  const scratch = new Uint8Array(scratchAt + b.hdrLen + mss + 3).subarray(scratchAt);
  const r = segmentTcp(b.frame, hdrFor(b, s.v4, mss), scratch, (x) => {
    segs.push(x.slice());
    x.fill(0xee); // emit may scribble over the scratch frame; later segments must not care
  });
  assertEquals(r, "ok");
  assertEquals(b.frame, orig, "the input frame is not modified");
  const expected = s.payload.length === 0 ? 1 : Math.ceil(s.payload.length / mss);
  assertEquals(segs.length, expected, "segment count");
  const { l3, l4, hdrLen } = b;
  let sent = 0;
  const joined: number[] = [];
  for (const [i, g] of segs.entries()) {
    const last = i === segs.length - 1;
    const pl = g.length - hdrLen;
    if (!last) assertEquals(pl, mss, "full-size segments before the last");
    assert(pl <= mss, "no segment over the MSS");
    joined.push(...g.subarray(hdrLen));
    // Untouched bytes: Ethernet header, ports, ack, data offset, window, options.
    assertEquals(g.subarray(0, l3 + 2), orig.subarray(0, l3 + 2));
    assertEquals(g.subarray(l4, l4 + 4), orig.subarray(l4, l4 + 4));
    assertEquals(g.subarray(l4 + 8, l4 + 13), orig.subarray(l4 + 8, l4 + 13));
    assertEquals(g.subarray(l4 + 14, l4 + 16), orig.subarray(l4 + 14, l4 + 16));
    assertEquals(g.subarray(l4 + 18, hdrLen), orig.subarray(l4 + 18, hdrLen));
    if (s.v4) {
      assertEquals(be16(g, l3 + 2), g.length - l3, "IPv4 total length");
      assertEquals(be16(g, l3 + 4), (s.id + i) % 65536, "IPv4 id");
      assertEquals(refSum([g.subarray(l3, l4)]), 0xffff, "IPv4 header checksum");
      assertEquals(g.subarray(l3 + 6, l3 + 10), orig.subarray(l3 + 6, l3 + 10));
      assertEquals(g.subarray(l3 + 12, l4), orig.subarray(l3 + 12, l4));
    } else {
      assertEquals(be16(g, l3 + 4), g.length - l3 - 40, "IPv6 payload length");
      assertEquals(g.subarray(l3 + 6, l4), orig.subarray(l3 + 6, l4));
    }
    assertEquals(be32(g, l4 + 4), (s.seq + sent) % 2 ** 32, "sequence number");
    sent += pl;
    const fl = g[l4 + 13];
    const want = (s.flags & ~(last ? 0 : 0x09)) & ~(i === 0 ? 0 : 0x80);
    assertEquals(fl, want, `flags of segment ${i}`);
    assert(l4Valid(g, l3, l4, s.v4, 6), `TCP checksum of segment ${i}`);
  }
  assertEquals(new Uint8Array(joined), s.payload, "payload re-assembled");
}

const spec = (v4: boolean, n: number, extra: Partial<Spec> = {}): Spec => ({
  v4,
  vlan: false,
  ipOpts: 0,
  tcpOpts: 3,
  payload: Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff),
  seq: 1000,
  id: 77,
  flags: 0x18,
  ...extra,
});

Deno.test("vnet header round-trips and refuses a short buffer", () => {
  const h: VnetHdr = {
    flags: 1,
    gsoType: 4,
    hdrLen: 86,
    gsoSize: 1428,
    csumStart: 54,
    csumOffset: 16,
  };
  const b = new Uint8Array(12);
  writeVnetHdr(b, 2, h);
  assertEquals([...b.subarray(2)], [1, 4, 86, 0, 0x94, 0x05, 54, 0, 16, 0]);
  const out = emptyVnetHdr();
  assert(readVnetHdr(b, 2, out));
  assertEquals(out, h);
  assert(!readVnetHdr(b, 3, out));
  assertEquals(out, h, "untouched on failure");
});

Deno.test("segmentTcp: IPv4 and IPv6, 64 KiB super-frame at MSS 1342", () => {
  checkSegmentation(spec(true, 65000), 1342);
  checkSegmentation(spec(false, 65000), 1342);
});

Deno.test("segmentTcp: FIN/PSH only on the last, CWR only on the first", () => {
  checkSegmentation(spec(true, 5000, { flags: 0x80 | 0x10 | 0x08 | 0x01 }), 1000);
  checkSegmentation(spec(false, 3001, { flags: 0x80 | 0x10 | 0x08 | 0x01 }), 1000);
});

Deno.test("segmentTcp: sequence number wraps, IPv4 id wraps", () => {
  checkSegmentation(spec(true, 9000, { seq: 2 ** 32 - 3000, id: 65534 }), 1448);
});

Deno.test("segmentTcp: payload not above the MSS gives one segment, checksum completed", () => {
  checkSegmentation(spec(true, 100), 1448);
  checkSegmentation(spec(false, 0), 1448);
});

Deno.test("segmentTcp: 802.1Q-tagged frame, IPv4 options", () => {
  checkSegmentation(spec(true, 7000, { vlan: true, ipOpts: 3 }), 1200);
  checkSegmentation(spec(false, 7000, { vlan: true }), 1200);
});

Deno.test("segmentTcp property: any size, MSS, options, seq, id", () => {
  fc.assert(
    fc.property(
      fc.record({
        v4: fc.boolean(),
        vlan: fc.boolean(),
        ipOpts: fc.integer({ min: 0, max: 10 }),
        tcpOpts: fc.integer({ min: 0, max: 10 }),
        payload: fc.uint8Array({ minLength: 0, maxLength: 9000 }),
        seq: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        id: fc.integer({ min: 0, max: 65535 }),
        flags: fc.integer({ min: 0, max: 255 }),
      }),
      fc.integer({ min: 1, max: 3000 }),
      fc.integer({ min: 0, max: 7 }),
      (s, mss, at) => checkSegmentation(s, mss, at),
    ),
    { seed: 0x6e50, numRuns: 300 },
  );
});

Deno.test("completeChecksum: finishes TCP and UDP partial checksums like a full compute", () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean(),
      fc.uint8Array({ minLength: 0, maxLength: 1400 }),
      (v4, udp, data) => {
        const b = build(spec(v4, data.length, { payload: data }));
        const f = b.frame;
        const proto = udp ? 17 : 6;
        let csumOff = 16;
        if (udp) {
          // Turn it into UDP: protocol, an 8-byte header; the rest is payload.
          if (v4) {
            f[b.l3 + 9] = 17;
            f[b.l3 + 10] = f[b.l3 + 11] = 0;
            const c = ~refSum([f.subarray(b.l3, b.l4)]) & 0xffff;
            f[b.l3 + 10] = c >> 8;
            f[b.l3 + 11] = c & 0xff;
          } else f[b.l3 + 6] = 17;
          const len = f.length - b.l4;
          f[b.l4 + 4] = len >> 8;
          f[b.l4 + 5] = len & 0xff;
          csumOff = 6;
          const ps = refSum([pseudo(v4, f.subarray(b.l3, b.l4), 17, len)]);
          f[b.l4 + 6] = ps >> 8;
          f[b.l4 + 7] = ps & 0xff;
        }
        const hdr = emptyVnetHdr();
        hdr.flags = VNET_F_NEEDS_CSUM;
        hdr.csumStart = b.l4;
        hdr.csumOffset = csumOff;
        const out: Uint8Array[] = [];
        assertEquals(offloadFrame(f, hdr, new Uint8Array(0), (x) => out.push(x)), "ok");
        assertEquals(out.length, 1);
        assert(l4Valid(out[0], b.l3, b.l4, v4, proto), "checksum verifies");
        assert(be16(out[0], b.l4 + csumOff) !== 0, "never a zero checksum");
      },
    ),
    { seed: 0xc5, numRuns: 200 },
  );
});

Deno.test("offloadFrame: no flags, no GSO passes the frame through untouched", () => {
  const b = build(spec(true, 50));
  const before = b.frame.slice();
  const out: Uint8Array[] = [];
  assertEquals(offloadFrame(b.frame, emptyVnetHdr(), new Uint8Array(0), (x) => out.push(x)), "ok");
  assertEquals(out, [before]);
});

Deno.test("malformed headers are refused with a reason, nothing emitted", () => {
  const b = build(spec(true, 4000));
  const b6 = build(spec(false, 4000));
  const scratch = new Uint8Array(4049);
  assertEquals(b.l4 % 4, 2, "the IPv4 test frame needs 2 bytes to align its TCP header");
  const cases: [Uint8Array, Partial<VnetHdr>, string][] = [
    [b.frame, { hdrLen: b.frame.length + 1 }, "hdr_len_beyond_frame"],
    [b.frame, { gsoSize: 0 }, "gso_size_zero"],
    [b.frame, { gsoType: GSO_UDP }, "unsupported_gso_type"],
    [b.frame, { gsoType: GSO_UDP_L4 }, "unsupported_gso_type"],
    [b.frame, { gsoType: 2 }, "unsupported_gso_type"],
    [b.frame, { gsoType: GSO_TCPV4 | GSO_ECN }, "gso_ecn"],
    [b.frame, { gsoType: GSO_TCPV6 }, "ip_version_mismatch"],
    [b6.frame, {}, "ip_version_mismatch"],
    [b.frame, { csumStart: b.l4 + 2 }, "csum_start_mismatch"],
    [b.frame, { csumOffset: 6 }, "csum_start_mismatch"],
    [b.frame.subarray(0, b.l4 + 10), { hdrLen: 0 }, "bad_tcp_header"],
    [b.frame.subarray(0, 30), { hdrLen: 0 }, "bad_ip_header"],
    [b.frame.subarray(0, 10), { hdrLen: 0 }, "not_ip"],
    [b.frame, { gsoSize: 4049 - b.hdrLen }, "scratch_too_small"], // no room to align
  ];
  for (const [f, patch, reason] of cases) {
    const h = { ...hdrFor(b, true, 1000), ...patch };
    let n = 0;
    assertEquals(segmentTcp(f, h, scratch, () => n++), reason, JSON.stringify(patch));
    assertEquals(n, 0);
  }
  const notTcp = b.frame.slice();
  notTcp[b.l3 + 9] = 17;
  assertEquals(segmentTcp(notTcp, hdrFor(b, true, 1000), scratch, () => {}), "not_tcp");
  const frag = b.frame.slice();
  frag[b.l3 + 6] = 0x20; // MF
  assertEquals(segmentTcp(frag, hdrFor(b, true, 1000), scratch, () => {}), "ip_fragment");
  const arp = b.frame.slice();
  arp[12] = 0x08;
  arp[13] = 0x06;
  assertEquals(segmentTcp(arp, hdrFor(b, true, 1000), scratch, () => {}), "not_ip");
  const badDoff = b.frame.slice();
  badDoff[b.l4 + 12] = 0x40;
  assertEquals(segmentTcp(badDoff, hdrFor(b, true, 1000), scratch, () => {}), "bad_tcp_header");
  const h = emptyVnetHdr();
  h.flags = VNET_F_NEEDS_CSUM;
  h.csumStart = 60;
  h.csumOffset = 0;
  assertEquals(offloadFrame(new Uint8Array(61), h, scratch, () => {}), "csum_out_of_frame");
  h.csumStart = 61;
  assertEquals(completeChecksum(new Uint8Array(61), 61, 0), "csum_out_of_frame");
  assertEquals(h.gsoType, GSO_NONE);
});

Deno.test("property: random bytes and random vnet headers never throw; reasons are known", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.uint8Array({ minLength: 10, maxLength: 10 }),
      fc.integer({ min: 0, max: 400 }),
      (frame, raw, scratchLen) => {
        const h = emptyVnetHdr();
        readVnetHdr(raw, 0, h);
        const r = offloadFrame(frame, h, new Uint8Array(scratchLen), (x) => {
          assert(x.length <= Math.max(frame.length, scratchLen));
        });
        assert(r === "ok" || GSO_REASONS.includes(r), r);
      },
    ),
    { seed: 0xbad, numRuns: 2000 },
  );
});

Deno.test("fastSum equals onesSum at any offset and alignment", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 600 }),
      fc.integer({ min: 0, max: 7 }),
      fc.nat(600),
      fc.nat(600),
      fc.integer({ min: 0, max: 0xffff }),
      (data, shift, a, b, initial) => {
        const buf = new Uint8Array(data.length + shift).subarray(shift);
        buf.set(data);
        const off = Math.min(a, buf.length);
        const len = Math.min(b, buf.length - off);
        assertEquals(fastSum(buf, off, len, initial), onesSum(buf, off, len, initial));
      },
    ),
    { seed: 0xf5, numRuns: 1000 },
  );
});

/** Runs `segs` through a coalescer; returns what it wrote, in order, and the counters. */
function coalesce(segs: Uint8Array[]) {
  const out: { hdr: VnetHdr; frame: Uint8Array }[] = [];
  const c = new TcpCoalescer((bytes) => {
    const hdr = emptyVnetHdr();
    assert(readVnetHdr(bytes, 0, hdr));
    out.push({ hdr, frame: bytes.slice(VNET_HDR_LEN) });
  });
  for (const s of segs) {
    if (c.add(s) === "pass") out.push({ hdr: emptyVnetHdr(), frame: s.slice() });
  }
  c.flush();
  return { out, counters: c.counters };
}

/** What the kernel would see: each written frame, cut again where it carries a GSO header. */
function resegment(out: { hdr: VnetHdr; frame: Uint8Array }[]): Uint8Array[] {
  const again: Uint8Array[] = [];
  for (const { hdr, frame } of out) {
    if (hdr.gsoType === GSO_NONE) {
      again.push(frame);
      continue;
    }
    assertEquals(hdr.flags, VNET_F_NEEDS_CSUM);
    assertEquals(hdr.csumOffset, 16);
    const r = segmentTcp(frame, hdr, new Uint8Array(hdr.hdrLen + hdr.gsoSize + 3), (s) => {
      again.push(s.slice());
    });
    assertEquals(r, "ok");
  }
  return again;
}

function segmentsOf(s: Spec, mss: number): Uint8Array[] {
  const b = build(s);
  const segs: Uint8Array[] = [];
  const r = segmentTcp(b.frame, hdrFor(b, s.v4, mss), new Uint8Array(b.hdrLen + mss + 3), (x) => {
    segs.push(x.slice());
  });
  assertEquals(r, "ok");
  return segs;
}

Deno.test("TcpCoalescer property: coalescing segments and cutting again gives the same segments", () => {
  fc.assert(
    fc.property(
      fc.record({
        v4: fc.boolean(),
        vlan: fc.constant(false),
        ipOpts: fc.constant(0),
        tcpOpts: fc.integer({ min: 0, max: 10 }),
        payload: fc.uint8Array({ minLength: 1, maxLength: 70_000 }),
        seq: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        id: fc.integer({ min: 0, max: 65535 }),
        flags: fc.constantFrom(0x10, 0x18),
      }),
      fc.integer({ min: 200, max: 3000 }),
      (s, mss) => {
        const segs = segmentsOf(s, mss);
        const { out, counters } = coalesce(segs);
        assertEquals(counters.segments, segs.length);
        assertEquals(counters.csum_bad, 0);
        if (segs.length > 1) assert(out.length < segs.length, "something was joined");
        for (const o of out) assert(o.frame.length <= 14 + 65_535);
        assertEquals(resegment(out), segs);
      },
    ),
    { seed: 0x960, numRuns: 60 },
  );
});

Deno.test("TcpCoalescer: gaps, other flows, bad checksums, SYN/FIN and non-TCP are not joined", () => {
  const a = segmentsOf(spec(true, 6000, { flags: 0x10 }), 1000);
  const b = segmentsOf(spec(true, 3000, { flags: 0x10, seq: 5 }), 1000);
  b.forEach((x) => x[14 + 20 + 1] ^= 1); // another source port: another flow
  for (const x of b) {
    // ...with its TCP checksum fixed for the new port.
    x[50] = x[51] = 0;
    const c = ~refSum([pseudo(true, x.subarray(14, 34), 6, x.length - 34), x.subarray(34)]) &
      0xffff;
    x[50] = c >> 8;
    x[51] = c & 0xff;
  }
  // a0 a1 | gap (a2 missing) | a3 | b0 | a4 a5
  const order = [a[0], a[1], a[3], b[0], a[4], a[5]];
  const r = coalesce(order);
  assertEquals(r.out.map((o) => [o.hdr.gsoType, o.frame.length]), [
    [GSO_TCPV4, 2066],
    [GSO_NONE, 1066],
    [GSO_NONE, 1066],
    [GSO_TCPV4, 2066],
  ]);
  assertEquals(resegment(r.out), order);

  const bad = a[1].slice();
  bad[bad.length - 1] ^= 0xff;
  const r2 = coalesce([a[0], bad, a[2]]);
  assertEquals(r2.counters.csum_bad, 1);
  assertEquals(r2.out.map((o) => o.frame), [a[0], bad, a[2]], "bad checksum passed on alone");

  const syn = a[1].slice();
  syn[47] = 0x12;
  const fin = a[1].slice();
  fin[47] = 0x11;
  for (const odd of [syn, fin, new Uint8Array(60)]) {
    const r3 = coalesce([a[0], odd]);
    assertEquals(r3.out.map((o) => o.hdr.gsoType), [GSO_NONE, GSO_NONE]);
    assertEquals(r3.out[1].frame, odd);
  }
});

Deno.test("TcpCoalescer property: random frames never throw; what it writes fits a TAP write", () => {
  const base = segmentsOf(spec(true, 5000, { flags: 0x10 }), 1000);
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 200 }),
          // Real segments with one byte changed: headers that almost match.
          fc.tuple(fc.nat(base.length - 1), fc.nat(2000), fc.nat(255)).map(([i, at, b]) => {
            const f = base[i].slice();
            f[at % f.length] = b;
            return f;
          }),
          fc.nat(base.length - 1).map((i) => base[i]),
        ),
        { maxLength: 30 },
      ),
      (frames) => {
        let held = 0;
        const c = new TcpCoalescer((bytes) => {
          assert(bytes.length >= VNET_HDR_LEN && bytes.length <= VNET_HDR_LEN + 14 + 65_535);
        });
        for (const f of frames) if (c.add(f) === "held") held++;
        c.flush();
        assertEquals(c.counters.segments, held);
      },
    ),
    { seed: 0xc0a1, numRuns: 300 },
  );
});
