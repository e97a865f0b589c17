/**
 * Address text and sockaddr handling of ffi/addr.ts: RFC 5952 golden
 * strings, named invalid inputs, and round-trip properties.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import {
  formatEndpoint,
  formatIp,
  ipEquals,
  isV4,
  parseEndpoint,
  parseIp,
  readSockaddr,
  setV4,
  v4Number,
  writeSockaddr,
} from "../../ffi/addr.ts";

function ip(text: string): Uint8Array {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

Deno.test("addr: RFC 5952 canonical text", () => {
  const cases: [string, string][] = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // longest run
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["::", "::"],
    ["::1", "::1"],
    ["FE80::ABCD", "fe80::abcd"],
    ["1::", "1::"],
    ["::ffff:192.0.2.1", "192.0.2.1"], // mapped addresses print as IPv4
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["10.0.0.1", "10.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
  ];
  for (const [input, want] of cases) assertEquals(formatIp(ip(input)), want, input);
});

Deno.test("addr: invalid inputs say why", () => {
  const bad: [string, string][] = [
    ["", "expected an IPv4"],
    ["10.0.0", "expected an IPv4"],
    ["10.0.0.256", "expected an IPv4"],
    ["10.0.0.01", "expected an IPv4"],
    ["1:2:3:4:5:6:7", "expected 8 groups"],
    ["1:2:3:4:5:6:7:8:9", "expected 8 groups"],
    ["1::2::3", "more than one '::'"],
    ["1:2:3:4::5:6:7:8", "at least one group"],
    ["12345::", "bad group"],
    ["g::", "bad group"],
    [":1:2:3:4:5:6:7", "empty group"],
    ["::1.2.3", "bad dotted quad"],
  ];
  for (const [input, why] of bad) {
    const r = parseIp(input);
    assert(!r.ok, `${input} should not parse`);
    assert(r.reason.includes(why), `${input}: ${r.reason}`);
  }
});

Deno.test("addr: endpoints", () => {
  const e = parseEndpoint("[2001:db8::1]:4789");
  assert(e.ok);
  assertEquals(formatEndpoint(e.value), "[2001:db8::1]:4789");
  const f = parseEndpoint("192.0.2.1", 7654);
  assert(f.ok);
  assertEquals([formatIp(f.value.ip), f.value.port], ["192.0.2.1", 7654]);
  const g = parseEndpoint("2001:db8::2", 1);
  assert(g.ok && g.value.port === 1);
  for (const t of ["192.0.2.1", "192.0.2.1:65536", "[::1", "[::1]x", "1.2.3.4:-1"]) {
    assert(!parseEndpoint(t).ok, t);
  }
});

Deno.test("addr: format/parse round-trips for any address (property)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      const r = parseIp(formatIp(bytes));
      return r.ok && ipEquals(r.value, bytes);
    }),
    { seed: 5952, numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.nat({ max: 0xffff_ffff }), (v4) => {
      const a = setV4(new Uint8Array(16), v4);
      const r = parseIp(formatIp(a));
      return isV4(a) && r.ok && v4Number(r.value) === v4;
    }),
    { seed: 791, numRuns: 2000 },
  );
});

Deno.test("addr: random text never throws (property)", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(..."0123456789abcdef:.[]x "), maxLength: 48 }),
      (t) => {
        parseIp(t);
        parseEndpoint(t, 1);
        return true;
      },
    ),
    { seed: 42, numRuns: 5000 },
  );
});

Deno.test("addr: sockaddr write/read round-trips (property)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.nat({ max: 0xffff_ffff }),
      fc.nat({ max: 65535 }),
      fc.boolean(),
      (v6, v4, port, useV4) => {
        const addr = useV4 ? setV4(new Uint8Array(16), v4) : v6;
        const buf = new Uint8Array(40).fill(0xaa);
        const len = writeSockaddr(buf, 4, useV4 ? 4 : 6, addr, port);
        const out = new Uint8Array(16);
        const p = readSockaddr(buf, 4, out);
        return len === (useV4 ? 16 : 28) && p === port && ipEquals(out, addr) &&
          buf[3] === 0xaa && buf[4 + len] === 0xaa;
      },
    ),
    { seed: 3493, numRuns: 1000 },
  );
  // An IPv4 address through an AF_INET6 sockaddr stays mapped.
  const b = new Uint8Array(28);
  writeSockaddr(b, 0, 6, ip("10.1.2.3"), 9);
  assertEquals([b[0], b[1], b[2], b[3]], [10, 0, 0, 9]);
  assertEquals(formatIp(b.subarray(8, 24)), "10.1.2.3");
  assertEquals(readSockaddr(new Uint8Array(16), 0, new Uint8Array(16)), -1, "AF_UNSPEC");
});
