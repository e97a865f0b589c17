import { assert, assertEquals } from "../assert.ts";
import fc from "fast-check";
import {
  BROADCAST,
  formatMac,
  isGroup,
  macAt,
  matDecode,
  matEncode,
  matNodePrefix,
  parseMac,
  writeMac,
} from "../../core/mac.ts";

Deno.test("mac: macAt/writeMac round-trip at an offset", () => {
  const buf = new Uint8Array([9, 9, 0x00, 0x01, 0x00, 0x02, 0x00, 0x05, 9]);
  assertEquals(macAt(buf, 2), 0x000100020005);
  const out = new Uint8Array(9);
  writeMac(out, 2, 0xfedcba987654);
  assertEquals([...out.subarray(2, 8)], [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54]);
  assertEquals(macAt(out, 2), 0xfedcba987654);
});

Deno.test("mac: every spelling parses to the same key", () => {
  for (
    const s of [
      "00:01:00:02:00:05",
      "0:1:0:2:0:5",
      "00-01-00-02-00-05",
      "0001.0002.0005",
      "000100020005",
      "  00:01:00:02:00:05\n",
    ]
  ) {
    const r = parseMac(s);
    assert(r.ok, s);
    assertEquals(r.value, 0x000100020005, s);
  }
  assertEquals(parseMac("AB:CD:EF:01:23:45"), { ok: true, value: 0xabcdef012345 });
});

Deno.test("mac: invalid spellings are rejected with a reason", () => {
  const bad = [
    "",
    "00:01:00:02:00",
    "00:01:00:02:00:05:06",
    "0001.0002",
    "zz:01:00:02:00:05",
    "00:01-00:02:00:05",
    "000:01:00:02:00:05",
    "0001000200051",
  ];
  for (const s of bad) {
    const r = parseMac(s);
    assert(!r.ok, `accepted ${JSON.stringify(s)}`);
    assert(r.reason.length > 0);
  }
});

Deno.test("mac: format styles", () => {
  assertEquals(formatMac(0x000100020005), "00:01:00:02:00:05");
  assertEquals(formatMac(0x000100020005, "dash"), "00-01-00-02-00-05");
  assertEquals(formatMac(0x000100020005, "dotted"), "0001.0002.0005");
  assertEquals(formatMac(0x000100020005, "plain"), "000100020005");
});

Deno.test("mac: MAT encode/decode and why an address is not MAT", () => {
  const e = matEncode({ supernode: 1, node: 2, leaf: 5 });
  assert(e.ok);
  assertEquals(formatMac(e.value), "00:01:00:02:00:05");
  assertEquals(matDecode(e.value), { ok: true, value: { supernode: 1, node: 2, leaf: 5 } });
  assertEquals(formatMac(matNodePrefix(e.value)), "00:01:00:02:00:00");
  assert(!matEncode({ supernode: 256, node: 0, leaf: 1 }).ok);
  assert(!matEncode({ supernode: 0, node: 0, leaf: 0 }).ok);
  assert(!matEncode({ supernode: 1, node: 1.5, leaf: 0 }).ok);
  const bc = matDecode(BROADCAST);
  assert(!bc.ok && bc.reason.includes("broadcast"));
  const mc = matDecode(0x01005e000001);
  assert(!mc.ok && mc.reason.includes("multicast"));
  const la = matDecode(0x020000000001);
  assert(!la.ok && la.reason.includes("first octet is 02"));
  assert(isGroup(0x333300000001));
  assert(!isGroup(0x000100020005));
});

Deno.test("mac: property: parse(format(x)) == x for every style", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff_ffff_ffff }),
      fc.constantFrom("colon", "dash", "dotted", "plain" as const),
      (mac, style) => {
        const r = parseMac(formatMac(mac, style));
        return r.ok && r.value === mac;
      },
    ),
  );
});

Deno.test("mac: property: MAT encode/decode round-trip", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 0, max: 65535 }),
      (supernode, node, leaf) => {
        const e = matEncode({ supernode, node, leaf });
        if (supernode === 0 && node === 0 && leaf === 0) return !e.ok;
        if (!e.ok) return false;
        const d = matDecode(e.value);
        return d.ok && d.value.supernode === supernode && d.value.node === node &&
          d.value.leaf === leaf;
      },
    ),
  );
});
