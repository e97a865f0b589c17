/**
 * Introductions across supernodes (issue 17): one FED_INTRO per pair per
 * 2 s each way, answers only for pending requests from the peer asked,
 * expiry and bounds, driven with `now`.
 */
import { assertEquals } from "../assert.ts";
import { FedIntros } from "../../core/vpn/fed_intro.ts";

Deno.test("fed intro: one request per pair per 2 s; only a matching answer counts, once", () => {
  const f = new FedIntros();
  assertEquals(f.request(0, 5, 9, 2, 0), true);
  assertEquals(f.request(0, 5, 9, 2, 1999), false); // the same pair again
  assertEquals(f.request(0, 9, 5, 2, 10), true); // the other direction is another pair
  assertEquals(f.request(1, 5, 9, 2, 10), true); // another network too
  assertEquals(f.answer(0, 5, 9, 3, 100), false); // from a supernode we did not ask
  assertEquals(f.answer(0, 5, 8, 2, 100), false); // a pair we did not ask for
  assertEquals(f.answer(0, 5, 9, 2, 100), true);
  assertEquals(f.answer(0, 5, 9, 2, 110), false); // a replayed answer
  assertEquals(f.request(0, 5, 9, 2, 1000), false); // answered, still limited
  assertEquals(f.nextDeadline(), 2000);
  assertEquals(f.request(0, 5, 9, 2, 2000), true);
  assertEquals(f.counters.get("fed_intro_unexpected"), 3);
  assertEquals(f.counters.get("fed_intro_limited"), 2);
});

Deno.test("fed intro: an answer after the timeout is refused; unanswered requests expire, counted", () => {
  const f = new FedIntros({ timeoutMs: 500, pairIntervalMs: 2000 });
  f.request(0, 1, 2, 4, 0);
  assertEquals(f.answer(0, 1, 2, 4, 500), false);
  f.expire(1999);
  assertEquals(f.size.out, 1);
  f.expire(2000);
  assertEquals(f.size.out, 0);
  assertEquals(f.counters.get("fed_intro_expired"), 1);
  assertEquals(f.nextDeadline(), Infinity);
});

Deno.test("fed intro: incoming requests are limited per pair and bounded", () => {
  const f = new FedIntros({ maxPending: 3 });
  assertEquals(f.incoming(0, 1, 2, 0), true);
  assertEquals(f.incoming(0, 1, 2, 1999), false);
  assertEquals(f.incoming(0, 1, 3, 10), true);
  assertEquals(f.incoming(0, 1, 4, 10), true);
  assertEquals(f.incoming(0, 1, 5, 10), false); // full
  assertEquals(f.counters.get("fed_intro_in_full"), 1);
  assertEquals(f.incoming(0, 1, 2, 2000), true); // the first pair aged out: room again
  assertEquals(f.size.in, 3);
  for (let i = 0; i < 3; i++) f.request(0, 7, 10 + i, 2, 3000);
  assertEquals(f.request(0, 7, 20, 2, 3000), false);
  assertEquals(f.counters.get("fed_intro_full"), 1);
});
