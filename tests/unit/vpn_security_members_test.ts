/**
 * Members (admission, id bindings, bounds, ageing, removal) and the
 * per-source rate limiter (per-source and global budgets, trusted sources,
 * bounds, ageing), at explicit times.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { Members } from "../../core/vpn/members.ts";
import { SourceLimiter } from "../../core/vpn/rate_limit.ts";

const K = (n: number) => new Uint8Array(32).fill(n);

Deno.test("members: members mode admits listed keys only; pinned ids; bad ids", () => {
  const m = new Members({
    mode: "members",
    members: [{ publicKey: K(1) }, { publicKey: K(2), id: 7 }, { publicKey: K(3), networks: [5] }],
  });
  assertEquals(m.admit(0, K(1), 0), "ok");
  assertEquals(m.admit(0, K(9), 0), "not_member");
  assertEquals(m.admit(0, K(2), 7), "ok");
  assertEquals(m.admit(0, K(2), 8), "id_bound");
  assertEquals(m.admit(0, K(1), 7), "id_bound"); // pinned to key 2
  assertEquals(m.admit(0, K(3), 0), "not_member");
  assertEquals(m.admit(5, K(3), 0), "ok");
  assertEquals(m.admit(0, K(1), 65535), "bad_id");
});

Deno.test("members: an id is bound to the first key; others cannot take it until it ages out", () => {
  const m = new Members({ mode: "open", bindingAgeMs: 1000 });
  assert(m.bind(0, 5, K(1), 0));
  assertEquals(m.admit(0, K(2), 5), "id_bound");
  assertEquals(m.bind(0, 5, K(2), 10), false);
  assertEquals(m.admit(1, K(2), 5), "ok"); // another network
  assert(m.bind(0, 5, K(1), 900)); // refreshed by its owner
  m.sweep(1500);
  assertEquals(m.admit(0, K(2), 5), "id_bound");
  m.sweep(1900);
  assertEquals(m.admit(0, K(2), 5), "ok");
  assertEquals(m.counters.get("bindings_aged"), 1);
});

Deno.test("members: removing a key returns it and frees its ids", () => {
  const m = new Members({ mode: "members", members: [{ publicKey: K(1) }, { publicKey: K(2) }] });
  assert(m.bind(0, 5, K(1), 0));
  const removed = m.setMembers([{ publicKey: K(2) }]);
  assertEquals(removed.length, 1);
  assertEquals(removed[0][0], 1);
  assertEquals(m.admit(0, K(1), 0), "not_member");
  assertEquals(m.owner(0, 5), undefined);
  assertEquals(m.setMembers([{ publicKey: K(2) }]).length, 0);
});

Deno.test("members: the binding table stays within its bound (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 8 })), {
        maxLength: 300,
      }),
      (ops) => {
        const m = new Members({ mode: "open", maxBindings: 16 });
        let t = 0;
        for (const [id, k] of ops) {
          m.bind(0, id, K(k), t++);
          assert(m.bindingCount <= 16);
        }
      },
    ),
    { seed: 17, numRuns: 100 },
  );
});

Deno.test("rate limit: per source and global budgets; trusted sources skip the global one", () => {
  const l = new SourceLimiter({
    perSource: { rate: 1, burst: 2 },
    global: { rate: 10, burst: 5 },
  }, 0);
  assert(l.allow("a", 0));
  assert(l.allow("a", 0));
  assertEquals(l.allow("a", 0), false);
  assert(l.allow("a", 1000));
  // Strangers use up the global budget (refilled to its burst of 5 by t=1000, one used by "a").
  let ok = 0;
  for (let i = 0; i < 100; i++) if (l.allow(`s${i}`, 1000)) ok++;
  assertEquals(ok, 4);
  assertEquals(l.allow("member", 1000), false);
  assert(l.allow("member2", 1000, true));
  assertEquals(l.counters.get("limited_global"), 97);
});

Deno.test("rate limit: the source table is bounded and ages out", () => {
  const l = new SourceLimiter({ maxSources: 10, idleMs: 1000 }, 0);
  for (let i = 0; i < 100; i++) l.allow(`s${i}`, i);
  assertEquals(l.size, 10);
  assertEquals(l.counters.get("sources_evicted"), 90);
  l.sweep(2000);
  assertEquals(l.size, 0);
  assertEquals(l.counters.get("sources_aged"), 10);
});

Deno.test("members: bindings survive a restart through export/import; stale and foreign entries are skipped", () => {
  const m = new Members({
    mode: "members",
    members: [{ publicKey: K(1) }, { publicKey: K(2) }],
    bindingAgeMs: 10_000,
  });
  m.bind(0, 5, K(1), 1000);
  m.bind(3, 9, K(2), 4000);
  const saved = JSON.parse(JSON.stringify(m.exportBindings(5000)));
  assertEquals(saved.length, 2);
  const r = new Members({
    mode: "members",
    members: [{ publicKey: K(1) }, { publicKey: K(2) }],
    bindingAgeMs: 10_000,
  });
  assertEquals(r.importBindings(saved, 100), 2);
  assertEquals(r.admit(0, K(2), 5), "id_bound");
  assertEquals(r.admit(3, K(1), 9), "id_bound");
  r.sweep(100 + 10_000 - 4000); // the binding of id 5 was last seen 4 s before the export
  assertEquals(r.admit(0, K(2), 5), "ok");
  const onlyOne = new Members({ mode: "members", members: [{ publicKey: K(2) }] });
  assertEquals(onlyOne.importBindings(saved, 0), 1); // key 1 is no longer a member
  const junk = [
    [0, 0, "x", 1],
    "a",
    [0, 70000, "00".repeat(32), 1],
    [0, 5, "00".repeat(32), -1],
    null,
  ];
  assertEquals(new Members({ mode: "open" }).importBindings(junk, 0), 0);
  assertEquals(new Members({ mode: "open" }).importBindings({ not: "an array" }, 0), 0);
});
