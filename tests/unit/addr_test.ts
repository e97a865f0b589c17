/**
 * core/addr.ts, the one parser of address text: one table of valid inputs
 * with their canonical text (RFC 5952), one table of invalid inputs with why
 * they fail, round-trip properties, and random text that never throws and
 * fails only with the documented "Cannot parse X: why". The callers that
 * used to have their own parser (the VPN endpoint text of core/vpn, the
 * config layer, the Router ID) are checked against the same tables.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import {
  endpointEquals,
  formatEndpoint,
  formatIp,
  ipEquals,
  isLoopback,
  isUnspecified,
  isV4,
  parseEndpoint,
  parseIp,
  parsePrefix,
  prefixContains,
  setV4,
  splitHostPort,
  v4Number,
} from "../../core/addr.ts";
import {
  canonicalEndpoint,
  formatEndpoint as formatVpnEndpoint,
  parseEndpoint as parseVpnEndpoint,
  readEndpoint,
} from "../../core/vpn/endpoint.ts";
import { isIPv4, isIPv6, parseCidr, parseHostPort } from "../../cmd/kit/config.ts";
import { v4ToNumber } from "../../cmd/kit/host.ts";

function ip(text: string): Uint8Array {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** Address text and its canonical form (RFC 5952; mapped addresses print as IPv4). */
const VALID_IPS: [string, string][] = [
  ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
  ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
  ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // longest run
  ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
  ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"],
  ["::", "::"],
  ["::1", "::1"],
  ["FE80::ABCD", "fe80::abcd"],
  ["1::", "1::"],
  ["::ffff:192.0.2.1", "192.0.2.1"],
  ["::FFFF:c000:0201", "192.0.2.1"],
  ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ["10.0.0.1", "10.0.0.1"],
  ["0.0.0.0", "0.0.0.0"],
  ["255.255.255.255", "255.255.255.255"],
  [" 10.0.0.1 ", "10.0.0.1"], // surrounding white space
];

/** Text that is not an address, and a phrase of why. */
const INVALID_IPS: [string, string][] = [
  ["", "expected an IPv4"],
  ["10.0.0", "expected an IPv4"],
  ["10.0.0.256", "expected an IPv4"],
  ["10.0.0.01", "expected an IPv4"], // leading zero: octal to some resolvers
  ["127.1", "expected an IPv4"],
  ["0x7f.0.0.1", "expected an IPv4"],
  ["host.example", "expected an IPv4"],
  ["1:2:3:4:5:6:7", "expected 8 groups"],
  ["1:2:3:4:5:6:7:8:9", "expected 8 groups"],
  ["1::2::3", "more than one '::'"],
  ["1:2:3:4::5:6:7:8", "at least one group"],
  ["12345::", "bad group"],
  ["g::", "bad group"],
  ["g::1", "bad group"],
  [":1:2:3:4:5:6:7", "empty group"],
  ["::1.2.3", "bad dotted quad"],
  ["fe80::1%eth0", "bad group"], // zones are not done
];

/** Endpoint text and its canonical form. */
const VALID_ENDPOINTS: [string, string][] = [
  ["192.0.2.1:7654", "192.0.2.1:7654"],
  ["[2001:DB8:0:0:0:0:0:1]:1", "[2001:db8::1]:1"],
  ["[::]:0", "[::]:0"],
  ["[2001:db8:0:1:0:0:0:1]:9", "[2001:db8:0:1::1]:9"],
  ["[2001:db8:0:0:1:0:0:1]:9", "[2001:db8::1:0:0:1]:9"],
  ["[2001:db8:1:1:1:1:0:1]:9", "[2001:db8:1:1:1:1:0:1]:9"],
  ["[2001:db8::1]:4789", "[2001:db8::1]:4789"],
  ["[::ffff:192.0.2.1]:5", "192.0.2.1:5"], // IPv4-mapped is IPv4
  ["1.2.3.4:65535", "1.2.3.4:65535"],
];

/** Text that is not an endpoint (no default port), and a phrase of why. */
const INVALID_ENDPOINTS: [string, string][] = [
  ["", "expected an IPv4"],
  ["192.0.2.1", "missing port"],
  ["[2001:db8::1]", "missing port"],
  ["192.0.2.256:1", "expected an IPv4"],
  ["192.0.2.1:65536", "port must be 0..65535"],
  ["1.2.3.4:-1", "port must be 0..65535"],
  ["1.2.3.4:", "port must be 0..65535"],
  ["192.0.2:1", "expected an IPv4"],
  ["2001:db8::1:7654x", "bad group"],
  ["[1:2:3:4:5:6:7:8:9]:1", "expected 8 groups"],
  ["[1::2::3]:1", "more than one '::'"],
  ["[12345::]:1", "bad group"],
  ["host.example:1", "expected an IPv4"],
  ["[::1", "missing ']'"],
  ["[::1]x", "expected ':port' after ']'"],
];

Deno.test("addr: valid addresses and their canonical text", () => {
  for (const [input, want] of VALID_IPS) {
    assertEquals(formatIp(ip(input)), want, input);
    assertEquals(formatIp(ip(want)), want, `${want} is canonical`);
    assertEquals(isIPv4(input) || isIPv6(input), input === input.trim(), `config: ${input}`);
  }
});

Deno.test("addr: invalid addresses say why, as 'Cannot parse X: why'", () => {
  for (const [input, why] of INVALID_IPS) {
    const r = parseIp(input);
    assert(!r.ok, `${input} should not parse`);
    assert(r.reason.includes(why), `${input}: ${r.reason}`);
    assert(r.reason.startsWith("Cannot parse "), r.reason);
    assert(r.reason.endsWith(`: ${r.why}`), r.reason);
    assert(!isIPv4(input) && !isIPv6(input), `config: ${input}`);
    assertEquals(v4ToNumber(input), 0, `Router ID: ${input}`);
  }
});

Deno.test("addr: endpoints, here and as the VPN core and the config layer read them", () => {
  for (const [input, want] of VALID_ENDPOINTS) {
    const r = parseEndpoint(input);
    assert(r.ok, input);
    assertEquals(formatEndpoint(r.value), want, input);
    assertEquals(canonicalEndpoint(input), want, `vpn: ${input}`);
    const hp = parseHostPort(input, undefined, true);
    assert(typeof hp !== "string", `config: ${input}: ${hp}`);
    assertEquals(hp.port, r.value.port, input);
  }
  for (const [input, why] of INVALID_ENDPOINTS) {
    const r = parseEndpoint(input);
    assert(!r.ok, `${input} should not parse`);
    assert(r.reason.includes(why), `${input}: ${r.reason}`);
    assert(r.reason.startsWith("Cannot parse "), r.reason);
    assertEquals(parseVpnEndpoint(input), null, `vpn: ${input}`);
    assertEquals(canonicalEndpoint(input), null, `vpn: ${input}`);
  }
  // A default port for a bare address, with or without brackets.
  const f = parseEndpoint("192.0.2.1", 7654);
  assert(f.ok);
  assertEquals([formatIp(f.value.ip), f.value.port], ["192.0.2.1", 7654]);
  const g = parseEndpoint("2001:db8::2", 1);
  assert(g.ok && g.value.port === 1);
  const h = parseEndpoint("[2001:db8::2]", 1);
  assert(h.ok && g.ok && endpointEquals(h.value, g.value));
  // The VPN core's wire form: IPv4-mapped goes as family 4.
  assertEquals(parseVpnEndpoint("[::ffff:192.0.2.1]:5")?.family, 4);
  assertEquals(parseVpnEndpoint("[2001:db8::1]:5")?.addr.length, 16);
});

Deno.test("addr: an IPv4-mapped endpoint read off the wire is the text the socket reports", () => {
  // REGISTER locals / PEER_INTRO: family 6, port 5, ::ffff:192.0.2.1. The socket names that
  // peer's datagrams 192.0.2.1:5, so the core must name the endpoint the same way to match
  // a probe's echo to it.
  const wire = new Uint8Array([6, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
  const r = readEndpoint(wire, 0, wire.length);
  assert(r !== null);
  assertEquals(formatVpnEndpoint(r.ep), "192.0.2.1:5");
  const sock = parseEndpoint("192.0.2.1:5");
  assert(sock.ok);
  assertEquals(formatVpnEndpoint(r.ep), formatEndpoint(sock.value));
});

Deno.test("addr: the config layer: host names, zones, and addresses checked by the one parser", () => {
  assertEquals(parseHostPort("vpn.example.net:1"), { host: "vpn.example.net", port: 1 });
  assertEquals(parseHostPort("[fe80::1%eth0]:1"), { host: "fe80::1%eth0", port: 1 });
  const cases: [string, string][] = [
    ["10.0.0.256:1", "expected an IPv4"],
    ["[1::2::3]:1", "more than one '::'"],
    ["[::1", "missing ']'"],
    ["bad_host!:1", "bad host"],
    ["[fe80::1%]:1", "bad zone"],
    ["-x.example:1", "bad host"],
  ];
  for (const [input, why] of cases) {
    const r = parseHostPort(input);
    assert(typeof r === "string" && r.includes(why), `${input}: ${r}`);
  }
});

Deno.test("addr: prefixes", () => {
  const table: [string, string, boolean][] = [
    ["192.0.2.0/24", "192.0.2.255", true],
    ["192.0.2.0/24", "192.0.3.0", false],
    ["192.0.2.0/24", "::ffff:192.0.2.9", true],
    ["0.0.0.0/0", "203.0.113.1", true],
    ["0.0.0.0/0", "2001:db8::1", false], // an IPv4 prefix holds only IPv4
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["::/0", "2001:db8::1", true],
    ["10.0.0.1/32", "10.0.0.1", true],
    ["10.0.0.1/32", "10.0.0.2", false],
    ["fd00::1/127", "fd00::", true],
  ];
  for (const [p, a, inside] of table) {
    const r = parsePrefix(p);
    assert(r.ok, p);
    assertEquals(prefixContains(r.value, ip(a)), inside, `${a} in ${p}`);
  }
  const bare = parsePrefix("10.0.0.1", true);
  assert(bare.ok && bare.value.bits === 128);
  const bad: [string, string][] = [
    ["10.0.0.1", "expected ADDRESS/PREFIX"],
    ["10.0.0.256/24", "expected an IPv4"],
    ["10.0.0.1/33", "IPv4 prefix length is 0..32"],
    ["fd00::1/129", "IPv6 prefix length is 0..128"],
    ["x/1", "expected an IPv4"],
    ["::1::2/64", "more than one '::'"],
    ["10.0.0.1/24/1", "expected ADDRESS/PREFIX"],
    ["10.0.0.1/a", "prefix length"],
    ["10.0.0.1 /24", "expected ADDRESS/PREFIX"],
  ];
  for (const [input, why] of bad) {
    const r = parsePrefix(input);
    assert(!r.ok && r.reason.includes(why), `${input}: ${r.ok || r.reason}`);
    const c = parseCidr(input);
    assert(typeof c === "string" && c.includes(why), `config: ${input}: ${c}`);
  }
});

Deno.test("addr: kinds of address", () => {
  assert(isLoopback(ip("127.0.0.1")) && isLoopback(ip("127.9.9.9")) && isLoopback(ip("::1")));
  assert(isLoopback(ip("::ffff:127.0.0.1")));
  assert(!isLoopback(ip("0.0.0.0")) && !isLoopback(ip("::")) && !isLoopback(ip("::2")));
  assert(isUnspecified(ip("0.0.0.0")) && isUnspecified(ip("::")));
  assert(!isUnspecified(ip("::1")) && !isUnspecified(ip("10.0.0.1")));
  assert(isV4(ip("10.0.0.1")) && !isV4(ip("::a00:1")));
  assertEquals(v4Number(ip("192.0.2.1")), 0xc0000201);
  assertEquals(v4ToNumber("192.0.2.1"), 0xc0000201);
  assertEquals(v4ToNumber("::ffff:192.0.2.1"), 0, "written as IPv6: not an IPv4 Router ID");
});

Deno.test("addr: format/parse round-trips for any address and endpoint (property)", () => {
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
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.nat({ max: 65535 }),
      (bytes, port) => {
        const text = formatEndpoint({ ip: bytes, port });
        const r = parseEndpoint(text);
        const s = splitHostPort(text);
        return r.ok && endpointEquals(r.value, { ip: bytes, port }) && s.ok &&
          s.value.port === String(port);
      },
    ),
    { seed: 3986, numRuns: 2000 },
  );
});

Deno.test("addr: random text never throws and fails only as documented (property)", () => {
  const failsAsDocumented = (r: { ok: boolean; reason?: string; why?: string }) =>
    r.ok || (r.reason!.startsWith("Cannot parse ") && r.reason!.endsWith(`: ${r.why}`));
  const check = (t: string) =>
    failsAsDocumented(parseIp(t)) && failsAsDocumented(parseEndpoint(t)) &&
    failsAsDocumented(parseEndpoint(t, 1)) && failsAsDocumented(parsePrefix(t)) &&
    failsAsDocumented(parsePrefix(t, true)) && failsAsDocumented(splitHostPort(t)) &&
    typeof parseHostPort(t, 7654) !== "undefined" && typeof v4ToNumber(t) === "number" &&
    (parseVpnEndpoint(t) === null) === !parseEndpoint(t).ok;
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(..."0123456789abcdef:.[]/%x -"), maxLength: 48 }),
      check,
    ),
    { seed: 42, numRuns: 5000 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 64 }), check), { seed: 43, numRuns: 2000 });
});
