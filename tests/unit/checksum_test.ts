import { assert, assertEquals } from "../assert.ts";
import fc from "fast-check";
import {
  adjustChecksum,
  fold16,
  internetChecksum,
  macSum,
  onesSum,
  patchChecksum16,
  patchChecksumMac,
  patchUdpChecksumMac,
  pseudoSumV4,
  pseudoSumV6,
  swap16,
} from "../../core/checksum.ts";
import { macAt, writeMac } from "../../core/mac.ts";

/** The slow reference: sum 16-bit words one at a time with an explicit carry loop. */
function slowChecksum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    s += (bytes[i] << 8) + (i + 1 < bytes.length ? bytes[i + 1] : 0);
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  }
  return (~s) & 0xffff;
}

Deno.test("checksum: RFC 1071 section 3 worked example", () => {
  const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assertEquals(onesSum(b, 0, 8), 0xddf2);
  assertEquals(internetChecksum(b, 0, 8), 0x220d);
});

Deno.test("checksum: RFC 1624 section 4 example (eqn. 3 gives 0x0000, not -0)", () => {
  assertEquals(adjustChecksum(0xdd2f, 0x5555, 0x3285), 0x0000);
});

Deno.test("checksum: odd length pads with a zero byte on the right", () => {
  assertEquals(onesSum(new Uint8Array([0xab]), 0, 1), 0xab00);
  assertEquals(onesSum(new Uint8Array([0x12, 0x34, 0x56]), 0, 3), 0x6834);
});

Deno.test("checksum: fold16 handles sums above 2^32", () => {
  assertEquals(fold16(0x1_0000_0000), 1);
  assertEquals(fold16(0xffff * 70000), fold16((0xffff * 70000) % 0xffff || 0xffff));
});

Deno.test("checksum: full compute equals the slow reference on random data", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(3), (data, off) => {
      const buf = new Uint8Array(off + data.length);
      buf.set(data, off);
      assertEquals(internetChecksum(buf, off, data.length), slowChecksum([...data]));
    }),
    { seed: 0x1071, numRuns: 500 },
  );
});

Deno.test("checksum: data with its checksum inserted verifies to 0", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 200 }), fc.nat(), (data, at) => {
      const b = data.slice();
      const c = (at % (b.length >> 1)) * 2;
      b[c] = b[c + 1] = 0;
      const ck = internetChecksum(b, 0, b.length);
      b[c] = ck >>> 8;
      b[c + 1] = ck & 0xff;
      assertEquals(internetChecksum(b, 0, b.length), 0);
    }),
    { seed: 0x1072, numRuns: 300 },
  );
});

Deno.test("checksum: macSum at an odd offset is the byte swap (RFC 1071 byte-order independence)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff_ffff_ffff }), (mac) => {
      const b = new Uint8Array(8);
      writeMac(b, 0, mac);
      assertEquals(onesSum(b, 0, 6), macSum(mac));
      const o = new Uint8Array(8);
      writeMac(o, 1, mac);
      assertEquals(norm(onesSum(o, 0, 8)), norm(swap16(macSum(mac))));
    }),
    { seed: 0x1073, numRuns: 300 },
  );
});

/** Normalises one's complement zero: 0xffff and 0x0000 both mean zero. */
function norm(c: number): number {
  return c === 0xffff ? 0 : c;
}

Deno.test("checksum: incremental MAC patch equals full recompute, even and odd offsets", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 400 }),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffff_ffff_ffff }),
      (data, at, newMac) => {
        const b = data.slice();
        // checksum field at 0..1, MAC anywhere after it, odd or even
        b[0] = b[1] = 0;
        put(b, internetChecksum(b, 0, b.length));
        const macOff = 2 + (at % (b.length - 8));
        const old = macAt(b, macOff);
        writeMac(b, macOff, newMac);
        patchChecksumMac(b, 0, old, newMac, macOff & 1);
        const inc = (b[0] << 8) | b[1];
        b[0] = b[1] = 0;
        const full = internetChecksum(b, 0, b.length);
        assertEquals(norm(inc), norm(full), `mac at ${macOff}`);
        put(b, inc);
        assertEquals(norm(internetChecksum(b, 0, b.length)), 0);
      },
    ),
    { seed: 0x1624, numRuns: 1000 },
  );
});

Deno.test("checksum: incremental 16-bit patch equals full recompute", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 100 }),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffff }),
      (data, at, w) => {
        const b = data.slice();
        b[0] = b[1] = 0;
        put(b, internetChecksum(b, 0, b.length));
        const off = 2 + (at % (b.length - 3));
        const old = (b[off] << 8) | b[off + 1];
        b[off] = w >>> 8;
        b[off + 1] = w & 0xff;
        const inc = patchChecksum16(b, 0, old, w, off & 1);
        b[0] = b[1] = 0;
        assertEquals(norm(inc), norm(internetChecksum(b, 0, b.length)));
      },
    ),
    { seed: 0x1625, numRuns: 500 },
  );
});

Deno.test("checksum: UDP patch keeps 0 ('no checksum') and never produces 0", () => {
  const b = new Uint8Array(16);
  writeMac(b, 4, 0x020000000001);
  assertEquals(patchUdpChecksumMac(b, 0, 0x020000000001, 0x000100020003, 0), 0);
  assertEquals([b[0], b[1]], [0, 0]);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff_ffff_ffff }),
      fc.integer({ min: 0, max: 0xffff_ffff_ffff }),
      (hc, a, z) => {
        const x = new Uint8Array(2);
        put(x, hc);
        const c = patchUdpChecksumMac(x, 0, a, z, 1);
        assert(c !== 0);
        assertEquals((x[0] << 8) | x[1], c);
      },
    ),
    { seed: 0x768, numRuns: 300 },
  );
});

Deno.test("checksum: pseudo-header sums match summing the laid-out pseudo-header", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 0, max: 0xfffff }),
      fc.nat(255),
      (addrs, len, proto) => {
        const v4 = new Uint8Array(12);
        v4.set(addrs.subarray(0, 8), 0);
        v4[9] = proto;
        v4[10] = (len & 0xffff) >>> 8;
        v4[11] = len & 0xff;
        assertEquals(pseudoSumV4(addrs, 0, 4, proto, len & 0xffff), onesSum(v4, 0, 12));
        const v6 = new Uint8Array(40);
        v6.set(addrs, 0);
        v6[32] = 0;
        v6[33] = len >>> 16;
        v6[34] = (len >>> 8) & 0xff;
        v6[35] = len & 0xff;
        v6[39] = proto;
        assertEquals(pseudoSumV6(addrs, 0, 16, proto, len), onesSum(v6, 0, 40));
      },
    ),
    { seed: 0x8200, numRuns: 300 },
  );
});

function put(b: Uint8Array, c: number): void {
  b[0] = c >>> 8;
  b[1] = c & 0xff;
}
