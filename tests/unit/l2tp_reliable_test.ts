import fc from "fast-check";
import { assert, assertEquals } from "../assert.ts";
import { ReliableChannel, seqBefore, type Transmission } from "../../core/l2tp/reliable_channel.ts";

function shape(ts: Transmission<string>[]): [number, number, string | null, boolean][] {
  return ts.map((t) => [t.ns, t.nr, t.body, t.retransmit]);
}

Deno.test("seq: comparison is modulo 2^16", () => {
  assert(seqBefore(0, 1));
  assert(seqBefore(65535, 0));
  assert(seqBefore(65000, 100));
  assert(!seqBefore(100, 65000));
  assert(!seqBefore(7, 7));
});

Deno.test("reliable: in-order message delivered and acked by a ZLB that does not consume Ns", () => {
  const ch = new ReliableChannel<string>();
  const r = ch.receive(0, 0, "SCCRQ", 0);
  assertEquals(r, { verdict: "delivered", deliver: ["SCCRQ"] });
  assertEquals(ch.nextDeadline(), 0);
  ch.poll(0);
  assertEquals(shape(ch.takeOutgoing()), [[0, 1, null, false]]);
  ch.send("SCCRP", 0);
  assertEquals(shape(ch.takeOutgoing()), [[0, 1, "SCCRP", false]]); // same Ns as the ZLB
});

Deno.test("reliable: a reply piggybacks the ack, no ZLB", () => {
  const ch = new ReliableChannel<string>();
  ch.receive(0, 0, "ICRQ", 0);
  ch.send("ICRP", 0);
  ch.poll(0);
  assertEquals(shape(ch.takeOutgoing()), [[0, 1, "ICRP", false]]);
  assertEquals(ch.nextDeadline(), 1000); // only the retransmission timer
});

Deno.test("reliable: a duplicate is dropped and acknowledged again", () => {
  const ch = new ReliableChannel<string>();
  ch.receive(0, 0, "HELLO", 0);
  ch.poll(0);
  ch.takeOutgoing();
  const r = ch.receive(0, 0, "HELLO", 500);
  assertEquals(r, { verdict: "duplicate", deliver: [] });
  ch.poll(500);
  assertEquals(shape(ch.takeOutgoing()), [[0, 1, null, false]]);
  assertEquals(ch.counters.duplicates, 1);
});

Deno.test("reliable: out-of-order messages are held until the gap fills; far ones dropped", () => {
  const ch = new ReliableChannel<string>({ receiveWindow: 4 }, (b) => b + "'");
  assertEquals(ch.receive(2, 0, "c", 0).verdict, "held");
  assertEquals(ch.receive(1, 0, "b", 0).verdict, "held");
  assertEquals(ch.receive(2, 0, "c", 0).verdict, "already_held");
  assertEquals(ch.receive(9, 0, "z", 0).verdict, "out_of_window");
  assertEquals(ch.receive(0, 0, "a", 0), { verdict: "delivered", deliver: ["a", "b'", "c'"] });
  assertEquals(ch.nr, 3);
});

Deno.test("reliable: the peer's window limits messages in flight; the rest wait", () => {
  const ch = new ReliableChannel<string>();
  ch.setPeerWindow(2, 0);
  for (const m of ["m0", "m1", "m2", "m3"]) ch.send(m, 0);
  assertEquals(shape(ch.takeOutgoing()), [[0, 0, "m0", false], [1, 0, "m1", false]]);
  ch.receive(0, 1, null, 10); // ZLB acks m0
  assertEquals(shape(ch.takeOutgoing()), [[2, 0, "m2", false]]);
  ch.receive(0, 3, null, 20);
  assertEquals(shape(ch.takeOutgoing()), [[3, 0, "m3", false]]);
  assert(!ch.allAcked);
  ch.receive(0, 4, null, 30);
  assert(ch.allAcked);
});

Deno.test("reliable: an absent or zero window means 4", () => {
  const ch = new ReliableChannel<string>();
  ch.setPeerWindow(0, 0);
  for (let i = 0; i < 6; i++) ch.send(`m${i}`, 0);
  assertEquals(ch.takeOutgoing().length, 4);
});

Deno.test("reliable: retransmission backs off 1, 2, 4, 8, 8 s, then the peer is dead", () => {
  const ch = new ReliableChannel<string>();
  ch.send("SCCRQ", 0);
  ch.takeOutgoing();
  const sentAt: number[] = [];
  for (let i = 0; i < 10 && !ch.dead; i++) {
    const t = ch.nextDeadline();
    ch.poll(t);
    if (ch.takeOutgoing().some((m) => m.retransmit)) sentAt.push(t);
  }
  assertEquals(sentAt, [1000, 3000, 7000, 15000, 23000]);
  assert(ch.dead);
  assertEquals(ch.nextDeadline(), Infinity);
  assertEquals(ch.send("more", 40000), false);
});

Deno.test("reliable: an ack resets the back-off; retransmissions carry the current Nr", () => {
  const ch = new ReliableChannel<string>();
  ch.send("a", 0);
  ch.send("b", 0);
  ch.takeOutgoing();
  ch.poll(1000);
  assertEquals(shape(ch.takeOutgoing()), [[0, 0, "a", true], [1, 0, "b", true]]);
  ch.receive(0, 1, "x", 1500); // acks "a", delivers x
  ch.takeOutgoing();
  assertEquals(ch.nextDeadline(), 1500); // ZLB owed now
  ch.poll(1500);
  assertEquals(shape(ch.takeOutgoing()), [[2, 1, null, false]]);
  assertEquals(ch.nextDeadline(), 2500); // back to 1 s after progress
  ch.poll(2500);
  assertEquals(shape(ch.takeOutgoing()), [[1, 1, "b", true]]);
});

Deno.test("reliable: an Nr for messages never sent is ignored and counted", () => {
  const ch = new ReliableChannel<string>();
  ch.send("a", 0);
  ch.receive(0, 5, null, 10);
  assertEquals(ch.counters.badNr, 1);
  assert(!ch.allAcked);
});

/**
 * Two channels over a seeded lossy, duplicating, reordering link: every
 * message arrives exactly once and in order, across the 65535 -> 0 wrap.
 */
Deno.test("reliable: lossy link property: exactly-once in-order delivery across wrap-around", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 65500, max: 65535 }),
      fc.integer({ min: 1, max: 60 }),
      fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 64, maxLength: 64 }),
      fc.integer({ min: 1, max: 8 }),
      (start, count, dice, window) => {
        const a = new ReliableChannel<string>({ firstNs: start, maxRetransmits: 50 });
        const b = new ReliableChannel<string>({ firstNr: start, receiveWindow: window });
        a.setPeerWindow(window, 0);
        let roll = 0;
        const die = () => dice[roll++ % dice.length];
        type Pkt = { at: number; t: Transmission<string> };
        let toB: Pkt[] = [];
        let toA: Pkt[] = [];
        const got: string[] = [];
        const want = Array.from({ length: count }, (_, i) => `m${i}`);
        for (const m of want) a.send(m, 0);
        let now = 0;
        const carry = (ts: Transmission<string>[], q: Pkt[]) => {
          for (const t of ts) {
            const d = die();
            if (d < 20) continue; // lost
            q.push({ at: now + (d % 7) * 10, t }); // delayed, hence reordered
            if (d > 90) q.push({ at: now + 80, t }); // duplicated
          }
        };
        for (let step = 0; step < 5000 && (got.length < count || !a.allAcked); step++) {
          carry(a.takeOutgoing(), toB);
          carry(b.takeOutgoing(), toA);
          const next = Math.min(
            a.nextDeadline(),
            b.nextDeadline(),
            ...toB.map((p) => p.at),
            ...toA.map((p) => p.at),
          );
          assert(next < Infinity, "stalled");
          now = Math.max(now, next);
          for (const p of toB.filter((p) => p.at <= now)) {
            got.push(...b.receive(p.t.ns, p.t.nr, p.t.body, now).deliver);
          }
          toB = toB.filter((p) => p.at > now);
          for (const p of toA.filter((p) => p.at <= now)) a.receive(p.t.ns, p.t.nr, p.t.body, now);
          toA = toA.filter((p) => p.at > now);
          a.poll(now);
          b.poll(now);
        }
        assertEquals(got, want);
        assert(a.allAcked);
        assert(!a.dead);
      },
    ),
    { seed: 2661, numRuns: 150 },
  );
});
