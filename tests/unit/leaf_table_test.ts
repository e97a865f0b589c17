import { assert, assertEquals, assertThrows } from "../assert.ts";
import fc from "fast-check";
import { LeafTable, type LeafTableOptions } from "../../core/leaf_table.ts";
import type { LeafMap } from "../../core/leaf_map.ts";
import type { MacKey } from "../../core/mac.ts";

const M1 = 0x00_11_22_33_44_01;
const M2 = 0x00_11_22_33_44_02;
const M3 = 0x00_11_22_33_44_03;
const M4 = 0x00_11_22_33_44_04;

const MIN = 60_000;

Deno.test("leaf table: ids from 1 on first sight, stable on every later sight", () => {
  const t: LeafMap = new LeafTable({ maxLeaves: 10 });
  assertEquals(t.leafFor(M1, 0), 1);
  assertEquals(t.leafFor(M2, 1), 2);
  assertEquals(t.leafFor(M1, 2), 1);
  assertEquals(t.leafFor(M3, 3), 3);
  assertEquals(t.realFor(1), M1);
  assertEquals(t.realFor(2), M2);
  assertEquals(t.realFor(3), M3);
  assertEquals(t.realFor(0), -1, "leaf 0 is the node's own TAP address");
  assertEquals(t.realFor(4), -1);
  assertEquals(t.realFor(11), -1);
  assertEquals(t.realFor(1.5), -1);
  assertEquals(t.realFor(-1), -1);
  assertEquals((t as LeafTable).counters().allocated, 3);
});

Deno.test("leaf table: group and zero MACs are refused and counted", () => {
  const t = new LeafTable();
  assertEquals(t.leafFor(0xff_ff_ff_ff_ff_ff, 0), -1);
  assertEquals(t.leafFor(0x33_33_00_00_00_01, 0), -1);
  assertEquals(t.leafFor(0, 0), -1);
  assertEquals(t.counters().refusedInvalid, 3);
  assertEquals(t.size, 0);
});

Deno.test("leaf table: idle ids are freed exactly idleMs after the last sight", () => {
  const t = new LeafTable({ idleMs: 10 * MIN });
  assertEquals(t.nextDeadline(), Infinity);
  t.leafFor(M1, 0);
  t.leafFor(M2, 1 * MIN);
  assertEquals(t.nextDeadline(), 10 * MIN);
  t.leafFor(M1, 5 * MIN); // refresh: M2 is now the least recently seen
  assertEquals(t.nextDeadline(), 11 * MIN);
  assertEquals(t.expire(11 * MIN - 1), 0);
  assertEquals(t.expire(11 * MIN), 1);
  assertEquals(t.realFor(2), -1);
  assertEquals(t.realFor(1), M1);
  assertEquals(t.nextDeadline(), 15 * MIN);
  assertEquals(t.expire(15 * MIN), 1);
  assertEquals(t.nextDeadline(), Infinity);
  assertEquals(t.size, 0);
  assertEquals(t.counters().expired, 2);
});

Deno.test("leaf table: a MAC back within quarantine gets its old id back", () => {
  const t = new LeafTable({ maxLeaves: 4, idleMs: 10 * MIN, quarantineMs: 30 * MIN });
  assertEquals(t.leafFor(M1, 0), 1);
  assertEquals(t.leafFor(M2, 0), 2);
  t.leafFor(M2, 5 * MIN);
  t.expire(10 * MIN); // id 1 freed at 10 min
  assertEquals(t.realFor(1), -1);
  assertEquals(t.leafFor(M3, 12 * MIN), 3, "a new MAC gets a never-used id");
  assertEquals(t.leafFor(M1, 20 * MIN), 1, "reclaimed");
  assertEquals(t.realFor(1), M1);
  assertEquals(t.counters(), {
    allocated: 3,
    expired: 1,
    reclaimed: 1,
    refusedFull: 0,
    refusedInvalid: 0,
  });
});

Deno.test("leaf table: when full, a freed id is reused only after quarantine, oldest first", () => {
  const t = new LeafTable({ maxLeaves: 3, idleMs: 10 * MIN, quarantineMs: 30 * MIN });
  t.leafFor(M1, 0);
  t.leafFor(M2, 1 * MIN);
  t.leafFor(M3, 2 * MIN);
  assertEquals(t.expire(10 * MIN), 1); // id 1 freed at 10 min
  assertEquals(t.expire(12 * MIN), 2); // ids 2, 3 freed at 12 min
  assertEquals(t.leafFor(M4, 39 * MIN), -1, "every id is used or quarantined");
  assertEquals(t.leafFor(M4, 40 * MIN - 1), -1);
  assertEquals(t.counters().refusedFull, 2);
  assertEquals(t.leafFor(M4, 40 * MIN), 1, "id 1: quarantined longest, 30 min passed");
  assertEquals(t.realFor(1), M4);
  // M1 lost its id for good: it is a new MAC now and must wait for id 2.
  assertEquals(t.leafFor(M1, 41 * MIN), -1);
  assertEquals(t.leafFor(M1, 42 * MIN), 2);
  // M3 still holds id 3 in quarantine memory: it comes back to 3.
  assertEquals(t.leafFor(M3, 50 * MIN), 3);
  assertEquals(t.counters().reclaimed, 1);
  assertEquals(t.counters().allocated, 5);
});

Deno.test("leaf table: never-used ids go before quarantined ones whose time has passed", () => {
  const t = new LeafTable({ maxLeaves: 3, idleMs: 1 * MIN, quarantineMs: 1 * MIN });
  t.leafFor(M1, 0);
  t.expire(1 * MIN);
  assertEquals(t.leafFor(M2, 100 * MIN), 2);
  assertEquals(t.leafFor(M3, 100 * MIN), 3);
  assertEquals(t.leafFor(M4, 100 * MIN), 1, "now the quarantined id");
});

Deno.test("leaf table: bad options are rejected", () => {
  const bad: [LeafTableOptions, string][] = [
    [{ maxLeaves: 0 }, "maxLeaves"],
    [{ maxLeaves: 65536 }, "maxLeaves"],
    [{ maxLeaves: 2.5 }, "maxLeaves"],
    [{ idleMs: 0 }, "idleMs"],
    [{ idleMs: NaN }, "idleMs"],
    [{ quarantineMs: -1 }, "quarantineMs"],
  ];
  for (const [o, word] of bad) assertThrows(() => new LeafTable(o), RangeError, word);
  assertEquals(new LeafTable({ quarantineMs: 0 }).quarantineMs, 0);
});

Deno.test("leaf table: save and load keep every id, in use and quarantined", () => {
  const opts = { maxLeaves: 5, idleMs: 10 * MIN, quarantineMs: 30 * MIN };
  const t = new LeafTable(opts);
  t.leafFor(M1, 0);
  t.leafFor(M2, 1 * MIN);
  t.leafFor(M3, 2 * MIN);
  t.leafFor(M1, 3 * MIN);
  t.expire(11 * MIN); // M2 (id 2) quarantined
  const saved = JSON.parse(JSON.stringify(t));
  assertEquals(saved, {
    version: 1,
    leaves: [{ leaf: 3, mac: "00:11:22:33:44:03" }, { leaf: 1, mac: "00:11:22:33:44:01" }],
    quarantined: [{ leaf: 2, mac: "00:11:22:33:44:02" }],
  });
  // A restarted node with a new monotonic clock.
  const r = LeafTable.fromJSON(saved, opts, 5_000);
  assertEquals(r.toJSON(), t.toJSON());
  assertEquals(r.realFor(1), M1);
  assertEquals(r.realFor(3), M3);
  assertEquals(r.realFor(2), -1);
  assertEquals(r.size, 2);
  assertEquals(r.nextDeadline(), 5_000 + 10 * MIN, "a fresh idle period from the load");
  assertEquals(r.leafFor(M4, 5_000), 4, "next never-used id, no collision");
  assertEquals(r.leafFor(M2, 5_001), 2, "quarantined MAC gets its id back after a restart");
  assertEquals(r.leafFor(M1, 5_002), 1);
});

Deno.test("leaf table: restored quarantine still protects the id", () => {
  const opts = { maxLeaves: 1, idleMs: MIN, quarantineMs: 30 * MIN };
  const saved = { version: 1, leaves: [], quarantined: [{ leaf: 1, mac: "00:11:22:33:44:01" }] };
  const r = LeafTable.fromJSON(saved, opts, 1000);
  assertEquals(r.leafFor(M2, 1000 + 30 * MIN - 1), -1);
  assertEquals(r.leafFor(M2, 1000 + 30 * MIN), 1);
});

Deno.test("leaf table: corrupt saves are rejected with the place and the reason", () => {
  const ok = (leaf: number, mac: string) => ({ leaf, mac });
  const cases: [string, unknown, string][] = [
    ["not an object", [1, 2], "top level: expected an object"],
    ["null", null, "top level"],
    ["wrong version", { version: 2, leaves: [] }, "version: expected 1, got 2"],
    ["no version", { leaves: [] }, "version: expected 1"],
    ["leaves not an array", { version: 1, leaves: {} }, "leaves: expected an array"],
    ["entry not an object", { version: 1, leaves: [7] }, "leaves[0]: expected an object"],
    [
      "leaf not integer",
      { version: 1, leaves: [ok(1.5, "00:00:00:00:00:01")] },
      "leaves[0].leaf: expected an integer",
    ],
    [
      "leaf as string",
      { version: 1, leaves: [{ leaf: "1", mac: "00:00:00:00:00:01" }] },
      "leaves[0].leaf",
    ],
    [
      "leaf 0",
      { version: 1, leaves: [ok(0, "00:00:00:00:00:01")] },
      "leaves[0].leaf: leaf id 0 out of range 1..8",
    ],
    [
      "leaf too big",
      { version: 1, leaves: [ok(9, "00:00:00:00:00:01")] },
      "leaf id 9 out of range 1..8",
    ],
    [
      "duplicate id",
      { version: 1, leaves: [ok(3, "00:00:00:00:00:01"), ok(3, "00:00:00:00:00:02")] },
      "leaves[1].leaf: duplicate leaf id 3 (also leaves[0])",
    ],
    [
      "duplicate id across lists",
      {
        version: 1,
        leaves: [ok(3, "00:00:00:00:00:01")],
        quarantined: [ok(3, "00:00:00:00:00:02")],
      },
      "quarantined[0].leaf: duplicate leaf id 3 (also leaves[0])",
    ],
    [
      "duplicate MAC",
      { version: 1, leaves: [ok(1, "00:00:00:00:00:01"), ok(2, "0000.0000.0001")] },
      "leaves[1].mac: duplicate MAC 0000.0000.0001 (also leaves[0])",
    ],
    ["mac missing", { version: 1, leaves: [{ leaf: 1 }] }, "leaves[0].mac: expected a string"],
    [
      "mac junk",
      { version: 1, leaves: [ok(1, "00:11")] },
      'leaves[0].mac: "00:11": expected six hex octets',
    ],
    [
      "group mac",
      { version: 1, leaves: [ok(1, "01:00:5e:00:00:01")] },
      "is a group (multicast) address",
    ],
    ["broadcast", { version: 1, quarantined: [ok(1, "ff:ff:ff:ff:ff:ff")] }, "quarantined[0].mac"],
    ["zero mac", { version: 1, leaves: [ok(1, "00:00:00:00:00:00")] }, "all-zero address"],
  ];
  for (const [name, data, msg] of cases) {
    assertThrows(() => LeafTable.fromJSON(data, { maxLeaves: 8 }, 0), Error, msg);
    assertThrows(
      () => LeafTable.fromJSON(data, { maxLeaves: 8 }, 0),
      Error,
      "Cannot load leaf table: ",
    );
    assert(name.length > 0);
  }
});

Deno.test("leaf table: fromJSON on arbitrary JSON either loads or throws a load error (property)", () => {
  const entry = fc.record({
    leaf: fc.oneof(fc.integer({ min: -2, max: 10 }), fc.double(), fc.string()),
    mac: fc.oneof(
      fc.constantFrom("00:00:00:00:00:01", "02:00:00:00:00:02", "01:00:00:00:00:00", "x"),
      fc.string(),
    ),
  }, { requiredKeys: [] });
  const save = fc.record({
    version: fc.oneof(fc.constant(1), fc.jsonValue()),
    leaves: fc.oneof(fc.array(entry, { maxLength: 6 }), fc.jsonValue()),
    quarantined: fc.oneof(fc.array(entry, { maxLength: 6 }), fc.jsonValue()),
  }, { requiredKeys: [] });
  fc.assert(
    fc.property(fc.oneof(save, fc.jsonValue()), (data) => {
      try {
        const t = LeafTable.fromJSON(data, { maxLeaves: 8 }, 0);
        // Whatever loads must save back to the same allocation.
        const again = LeafTable.fromJSON(JSON.parse(JSON.stringify(t)), { maxLeaves: 8 }, 0);
        assertEquals(again.toJSON(), t.toJSON());
      } catch (e) {
        assert(e instanceof Error && e.message.startsWith("Cannot load leaf table: "), String(e));
      }
    }),
    { seed: 0x1eaf, numRuns: 1000 },
  );
});

type LeafOp = { k: "see"; mac: number; dt: number } | { k: "expire"; dt: number };

Deno.test("leaf table: ids unique, within bounds, never handed to another MAC inside idle + quarantine (property)", () => {
  const IDLE = 1000;
  const QUAR = 3000;
  const opArb: fc.Arbitrary<LeafOp> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        k: fc.constant("see" as const),
        mac: fc.integer({ min: 1, max: 24 }),
        dt: fc.integer({ min: 0, max: 300 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant("expire" as const),
        dt: fc.integer({ min: 0, max: 2000 }),
      }),
    },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.array(opArb, { minLength: 50, maxLength: 300 }),
      (maxLeaves, ops) => {
        const t = new LeafTable({ maxLeaves, idleMs: IDLE, quarantineMs: QUAR });
        /** For every id: the MAC that last held it and when it was last handed out. */
        const holder = new Map<number, { mac: MacKey; at: number }>();
        let now = 0;
        for (const op of ops) {
          now += op.dt;
          if (op.k === "expire") {
            t.expire(now);
            assert(t.nextDeadline() > now);
            continue;
          }
          const mac = 0x02_00_00_00_00_00 + op.mac;
          const id = t.leafFor(mac, now);
          if (id === -1) {
            assertEquals(t.snapshot(now).neverUsed, 0, "refused while never-used ids remain");
            continue;
          }
          assert(id >= 1 && id <= maxLeaves, `id ${id} out of range`);
          assertEquals(t.realFor(id), mac);
          const h = holder.get(id);
          if (h !== undefined && h.mac !== mac) {
            assert(now >= h.at + IDLE + QUAR, `id ${id} reused at ${now}, last used at ${h.at}`);
          }
          holder.set(id, { mac, at: now });
          // Uniqueness: no other id maps to this MAC.
          let count = 0;
          for (let l = 1; l <= maxLeaves; l++) if (t.realFor(l) === mac) count++;
          assertEquals(count, 1);
          assert(t.size <= maxLeaves);
        }
        const c = t.counters();
        assertEquals(c.allocated - c.expired + c.reclaimed, t.size);
      },
    ),
    { seed: 0xc0ffee, numRuns: 300 },
  );
});
