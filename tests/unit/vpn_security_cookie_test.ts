/**
 * The handshake guards of issue 13 one by one: TAI64N timestamps and the
 * newest-per-key table (core/vpn/init_timestamps.ts), mac1/mac2 and the
 * cookie reply (core/vpn/cookie.ts), per-address budgets
 * (core/vpn/rate_limit.ts). The conversations are in
 * vpn_security_replay_test.ts.
 */
import { keyedEndpoint } from "../../core/addr.ts";
import { assert, assertEquals } from "../assert.ts";
import { hex } from "../../core/vpn/crypto_suite.ts";
import {
  compareTimestamps,
  InitClock,
  tai64n,
  TimestampTable,
} from "../../core/vpn/init_timestamps.ts";
import {
  addMacs,
  COOKIE_REPLY_LENGTH,
  COOKIE_SECRET_MS,
  CookieJar,
  cookieKey,
  mac1Key,
  mac1Of,
  mac1Ok,
  readCookieReply,
} from "../../core/vpn/cookie.ts";
import { sourceKey, SourceLimiter } from "../../core/vpn/rate_limit.ts";
import { INIT_LENGTH, SecType, writeInit } from "../../core/vpn/handshake.ts";
import { keyOf, seededSuite } from "./vpn_security_lab.ts";

const suite = seededSuite(9);

Deno.test("timestamps: TAI64N golden bytes; the initiator's clock never repeats or goes back", () => {
  assertEquals(hex(tai64n(0)), "400000000000000a00000000");
  assertEquals(hex(tai64n(1_700_000_000_123)), "400000006553f10a0754d4c0");
  const c = new InitClock();
  const a = c.next(5000);
  const b = c.next(5000); // same millisecond
  const d = c.next(4000); // the wall clock stepped back
  assert(compareTimestamps(b, a) > 0 && compareTimestamps(d, b) > 0);
  assertEquals(compareTimestamps(a, a.slice()), 0);
});

Deno.test("timestamps: the responder's table refuses equal and older ones, is bounded and counts evictions", () => {
  const t = new TimestampTable(3);
  const k = (i: number) => new Uint8Array(32).fill(i);
  assert(t.isNewer(k(1), tai64n(2000)));
  t.accept(k(1), tai64n(2000));
  assert(!t.isNewer(k(1), tai64n(2000)), "a replay");
  assert(!t.isNewer(k(1), tai64n(1999)), "older");
  assert(t.isNewer(k(1), tai64n(2001)));
  assert(t.isNewer(k(2), tai64n(1)), "another key");
  for (let i = 2; i <= 5; i++) t.accept(k(i), tai64n(i));
  assertEquals(t.size, 3);
  assertEquals(t.counters.snapshot().init_timestamps_evicted, 2);
  assert(t.isNewer(k(1), tai64n(2000)), "evicted: compared with nothing");
});

function init(seed: number) {
  const sn = keyOf(suite, 0x53);
  const w = writeInit(
    suite,
    { network: 3, sender: 7, receiver: 0, keyId: 0xabcdef01 },
    keyOf(suite, seed),
    sn.publicKey,
    new Uint8Array(32),
    keyOf(suite, seed + 1),
    tai64n(1_700_000_000_000),
  );
  if (!w.ok) throw new Error("writeInit");
  assertEquals(w.packet.length, INIT_LENGTH);
  return { sn, packet: w.packet };
}

Deno.test("mac1: right only with the supernode's own public key; every bit of the HS_INIT counts", () => {
  const { sn, packet } = init(1);
  const k1 = mac1Key(suite, sn.publicKey);
  const p = addMacs(suite, k1, packet, null);
  assertEquals(p.length, 164);
  assert(mac1Ok(suite, k1, p));
  assert(!mac1Ok(suite, mac1Key(suite, keyOf(suite, 0x77).publicKey), p), "another key");
  for (let i = 0; i < p.length - 32; i++) {
    const q = p.slice();
    q[i] ^= 1 << (i % 8);
    assert(!mac1Ok(suite, k1, q), `bit flip at ${i}`);
  }
  assert(!mac1Ok(suite, k1, p.subarray(0, 20)));
  assertEquals(hex(p.subarray(148)), "00".repeat(16), "no cookie: mac2 is zero");
});

Deno.test("cookies: the reply authenticates for its HS_INIT only; mac2 proves the source address and outlives one secret change", () => {
  const { sn, packet } = init(3);
  const k1 = mac1Key(suite, sn.publicKey);
  const jar = new CookieJar(suite, sn.publicKey, 0);
  const first = addMacs(suite, k1, packet, null);
  assert(!jar.mac2Ok(first, "192.0.2.5:4000", 0), "zero mac2");
  const reply = jar.reply(first, "192.0.2.5:4000", 0);
  assertEquals(reply.length, COOKIE_REPLY_LENGTH);
  assertEquals(reply[2], SecType.COOKIE_REPLY);
  assert(reply.length < first.length, "smaller than what it answers");
  const ck = cookieKey(suite, sn.publicKey);
  assertEquals(readCookieReply(suite, ck, reply, new Uint8Array(16)), null, "other mac1");
  assertEquals(
    readCookieReply(suite, cookieKey(suite, keyOf(suite, 9).publicKey), reply, mac1Of(first)),
    null,
  );
  const bad = reply.slice();
  bad[30] ^= 1;
  assertEquals(readCookieReply(suite, ck, bad, mac1Of(first)), null, "tampered");
  const cookie = readCookieReply(suite, ck, reply, mac1Of(first));
  assert(cookie !== null);
  const second = addMacs(suite, k1, init(5).packet, cookie);
  assert(jar.mac2Ok(second, "192.0.2.5:4000", 10), "same source");
  assert(!jar.mac2Ok(second, "192.0.2.6:4000", 10), "another address");
  assert(!jar.mac2Ok(second, "192.0.2.5:4001", 10), "another port");
  assert(jar.mac2Ok(second, "192.0.2.5:4000", COOKIE_SECRET_MS + 1), "one secret change");
  assert(!jar.mac2Ok(second, "192.0.2.5:4000", 3 * COOKIE_SECRET_MS), "two changes");
});

Deno.test("budgets: per address (IPv4, IPv6 /64) whatever the port; proven packets have their own buckets", () => {
  assertEquals(sourceKey(keyedEndpoint("192.0.2.1:40000")), "192.0.2.1");
  assertEquals(sourceKey(keyedEndpoint("192.0.2.1:1")), "192.0.2.1");
  assertEquals(sourceKey(keyedEndpoint("[2001:db8:1:2::7]:7654")), "2001:db8:1:2::/64");
  assertEquals(sourceKey(keyedEndpoint("[2001:db8:1:2:ffff::1]:9")), "2001:db8:1:2::/64");
  const l = new SourceLimiter(
    { perSource: { rate: 1, burst: 2 }, global: { rate: 1, burst: 3 } },
    0,
  );
  assert(l.allow(sourceKey(keyedEndpoint("192.0.2.1:1")), 0));
  assert(l.allow(sourceKey(keyedEndpoint("192.0.2.1:2")), 0));
  assertEquals(
    l.check(sourceKey(keyedEndpoint("192.0.2.1:3")), 0),
    "source",
    "same address, another port",
  );
  assertEquals(l.check("192.0.2.2", 0), "ok");
  assertEquals(l.check("192.0.2.3", 0), "global");
  // A spoofer emptied the unproven buckets; a sender that proves its address still gets in.
  assertEquals(l.check("192.0.2.1", 0, false, true), "ok");
  assertEquals(l.check("192.0.2.3", 0, false, true), "ok");
  const c = l.counters.snapshot();
  assertEquals([c.limited_source, c.limited_global], [1, 1]);
});
