/**
 * Node ids across a federation (issue 17): allocation (lowest free while all
 * peers are up, own stripe otherwise), the bindings peers announce (conflict
 * rule, ageing, bound), and the members digest.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { assert, assertEquals, assertNotEquals } from "../assert.ts";
import { allocateId, bindingWins, FedBindings, stripeOf } from "../../core/vpn/fed_ids.ts";
import { membersDigest } from "../../core/vpn/fed_digest.ts";
import type { FedBindEntry } from "../../core/vpn/fed_messages.ts";

const key = (n: number) => new Uint8Array(32).fill(n);
const DAY_S = 24 * 3600;

Deno.test("fed ids: the lowest free id while every peer is up, only the own stripe otherwise", () => {
  const used = new Set([1, 2, 3, 5, 7]);
  const taken = (id: number) => used.has(id);
  assertEquals(allocateId({ selfId: 7, allUp: true, taken }), 4);
  assertEquals(allocateId({ selfId: 7, allUp: false, taken }), 263); // 7 is taken
  assertEquals(allocateId({ selfId: 1, allUp: false, taken }), 257);
  assertEquals(allocateId({ selfId: 255, allUp: false, taken: () => false }), 255);
  assertEquals(stripeOf(263), 7);
  // Stripe 255 ends at 65279: 65535 (broadcast) is never handed out.
  const all255 = (id: number) => id !== 65_279;
  assertEquals(allocateId({ selfId: 255, allUp: false, taken: all255 }), 65_279);
  assertEquals(allocateId({ selfId: 255, allUp: false, taken: (id) => id <= 65_279 }), null);
  assertEquals(allocateId({ selfId: 3, allUp: true, taken: () => true }), null);
  assertEquals(allocateId({ selfId: 0, allUp: false, taken: () => false }), null);
});

Deno.test("fed ids: two sides of a split never allocate one id twice", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 255 }),
      fc.integer({ min: 1, max: 255 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 3000 }), { maxLength: 200 }),
      fc.integer({ min: 1, max: 60 }),
      (s1, s2, before, rounds) => {
        fc.pre(s1 !== s2);
        // Both knew the bindings made before the split; each then allocates alone.
        const a = new Set(before), b = new Set(before);
        const got = new Set<number>();
        for (let i = 0; i < rounds; i++) {
          for (const [self, mine] of [[s1, a], [s2, b]] as const) {
            const id = allocateId({ selfId: self, allUp: false, taken: (x) => mine.has(x) });
            assert(id !== null);
            assertEquals(stripeOf(id), self);
            assert(!got.has(id), `id ${id} handed out twice`);
            got.add(id);
            mine.add(id);
          }
        }
      },
    ),
    { numRuns: 300, seed: 1717 },
  );
});

Deno.test("fed ids: binding conflicts go to the lower allocator, then the lower key", () => {
  assert(bindingWins({ allocator: 1, key: key(9) }, { allocator: 2, key: key(1) }));
  assert(!bindingWins({ allocator: 3, key: key(1) }, { allocator: 2, key: key(9) }));
  assert(bindingWins({ allocator: 2, key: key(1) }, { allocator: 2, key: key(9) }));
  assert(!bindingWins({ allocator: 2, key: key(9) }, { allocator: 2, key: key(1) }));
});

function bind(nodeId: number, allocator: number, k: number, ageS = 0, network = 0): FedBindEntry {
  return { network, nodeId, allocator, ageS, key: key(k) };
}

Deno.test("fed ids: learned bindings, and a conflict with a local binding on healing", () => {
  const b = new FedBindings();
  const local = new Map([[5, { allocator: 3, key: key(50) }], [6, { allocator: 1, key: key(60) }]]);
  const lookup = (network: number, id: number) => (network === 0 ? local.get(id) : undefined);
  const c = b.learn(
    2,
    [bind(4, 2, 40), bind(5, 2, 51), bind(6, 2, 61), bind(6, 2, 60, 0, 1)],
    0,
    lookup,
  );
  // 5: theirs (allocator 2) beats ours (3): our node is NAKed. 6: ours (1) wins: theirs not kept.
  assertEquals(c, [
    {
      network: 0,
      nodeId: 5,
      winner: { allocator: 2, key: key(51) },
      loser: { allocator: 3, key: key(50) },
      localLoses: true,
    },
    {
      network: 0,
      nodeId: 6,
      winner: { allocator: 1, key: key(60) },
      loser: { allocator: 2, key: key(61) },
      localLoses: false,
    },
  ]);
  assertEquals(b.idsIn(0), [4, 5]);
  assertEquals(b.idsIn(1), [6]);
  assertEquals(b.holder(0, 5)?.allocator, 2);
  assertEquals(b.isBound(0, 6), false);
  assertEquals(b.idOf(0, key(40)), 4);
  assertEquals(b.idOf(1, key(40)), undefined);
  // Two peers' bindings for one id: the same rule, whoever announces first.
  const c2 = b.learn(3, [bind(4, 1, 41)], 10, () => undefined);
  assertEquals(c2.map((x) => [x.winner.allocator, x.localLoses]), [[1, false]]);
  assertEquals(b.holder(0, 4)?.key, key(41));
  assertEquals(b.learn(2, [bind(4, 2, 40)], 20, () => undefined).length, 1);
  assertEquals(b.holder(0, 4)?.key, key(41));
  assertEquals(b.counters.get("fed_binding_conflicts"), 4);
});

Deno.test("fed ids: bindings age from when their owner was last seen, and are bounded", () => {
  const week = 7 * DAY_S * 1000;
  const b = new FedBindings({ maxEntries: 3 });
  b.learn(
    2,
    [bind(1, 2, 1, 0), bind(2, 2, 2, 6 * DAY_S), bind(3, 2, 3, 7 * DAY_S)],
    0,
    () => undefined,
  );
  assertEquals(b.idsIn(0), [1, 2]); // 3 was last seen a week ago: not kept
  b.age(DAY_S * 1000 - 1);
  assertEquals(b.idsIn(0), [1, 2]);
  b.age(DAY_S * 1000);
  assertEquals(b.idsIn(0), [1]);
  assertEquals(b.counters.get("fed_bindings_aged"), 1);
  // A fresher announcement refreshes; an older one does not set it back.
  b.learn(2, [bind(1, 2, 1, 0)], week - 10, () => undefined);
  b.learn(2, [bind(1, 2, 1, 3 * DAY_S)], week, () => undefined);
  b.age(week + 1000);
  assertEquals(b.idsIn(0), [1]);
  // Full: the least recently announced goes.
  b.learn(2, [bind(10, 2, 10), bind(11, 2, 11), bind(12, 2, 12)], week, () => undefined);
  assertEquals(b.size, 3);
  assertEquals(b.idsIn(0), [10, 11, 12]);
  assertEquals(b.counters.get("fed_bindings_evicted"), 1);
  b.forget(0, 11);
  assertEquals(b.idsIn(0), [10, 12]);
});

const sha256 = {
  sha256: (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest()),
};
const identity = { sha256: (d: Uint8Array) => d.slice() };

Deno.test("fed digest: canonical input, order and labels do not matter, content does", () => {
  const a = { publicKey: key(2), id: 5, networks: [3, 1], name: "a" };
  const b = { publicKey: key(1) };
  const raw = membersDigest("members", [a, b], identity);
  const label = new TextEncoder().encode("l2 members v1");
  assertEquals(raw.subarray(0, label.length), label);
  assertEquals([...raw.subarray(label.length, label.length + 5)], [0, 0, 0, 0, 2]);
  let o = label.length + 5;
  assertEquals(raw.subarray(o, o + 32), key(1)); // sorted by key
  assertEquals([...raw.subarray(o + 32, o + 36)], [0, 0, 0xff, 0xff]); // no pinned id, all networks
  o += 36;
  assertEquals(raw.subarray(o, o + 32), key(2));
  assertEquals([...raw.subarray(o + 32)], [0, 5, 0, 2, 0, 1, 0, 3]);
  const d = membersDigest("members", [a, b], sha256);
  assertEquals(d.length, 32);
  assertEquals(membersDigest("members", [b, { ...a, name: "other", networks: [1, 3] }], sha256), d);
  for (
    const changed of [
      membersDigest("open", [a, b], sha256),
      membersDigest("members", [{ ...a, id: 6 }, b], sha256),
      membersDigest("members", [{ ...a, networks: [1] }, b], sha256),
      membersDigest("members", [{ ...a, networks: undefined }, b], sha256),
      membersDigest("members", [a, { publicKey: key(3) }], sha256),
      membersDigest("members", [a], sha256),
    ]
  ) assertNotEquals(changed, d);
});
