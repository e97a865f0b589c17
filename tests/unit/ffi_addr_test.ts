/**
 * Sockaddr handling of ffi/addr.ts: write/read round trips. Address text is
 * core/addr.ts's, tested in addr_test.ts.
 */
import fc from "fast-check";
import { assertEquals } from "../assert.ts";
import { formatIp, ipEquals, parseIp, setV4 } from "../../core/addr.ts";
import { readSockaddr, writeSockaddr } from "../../ffi/addr.ts";

function ip(text: string): Uint8Array {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

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
