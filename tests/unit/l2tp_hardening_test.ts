/**
 * The L2TPv3 endpoint against hostile peers (issue 13, sections 1 and 3),
 * sans-IO at explicit times: the exact packets of each finding go in, the
 * test reads what would go out.
 *
 * - an SCCRQ with 120 unknown mandatory AVPs (the StopCCN's text once
 *   listed them all and the encoder threw: `l2 las` exited);
 * - an ICRQ with a 1000-byte Remote End ID refused by policy (copied into
 *   the CDN's text: the same throw);
 * - a 1000-byte Host Name with control characters (into events and logs);
 * - a 34-byte SCCRQ from a forged source (6 SCCRPs, 17x the bytes);
 * - 32 SCCRQs from one address (every pending slot);
 * - a digest with another algorithm than the configured one (accepted);
 * - a forged ZLB on an authenticated connection (acknowledged our SCCRP).
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { L2tpEndpoint } from "../../core/l2tp/endpoint.ts";
import type { EndpointConfig } from "../../core/l2tp/endpoint_config.ts";
import {
  type Avp,
  emitControl,
  messageTypeOf,
  parseControl,
} from "../../core/l2tp/control_message.ts";
import { decodeFields, encodeFields, type Fields } from "../../core/l2tp/avp_fields.ts";
import { messageName } from "../../core/l2tp/constants.ts";
import type { DigestAlgorithm } from "../../core/l2tp/auth.ts";
import { boundedList, safeBytes, safeText } from "../../core/l2tp/peer_text.ts";

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const EDGE = "10.115.0.1";
const enc = new TextEncoder();
const hash = (alg: DigestAlgorithm, d: Uint8Array) =>
  new Uint8Array(createHash(alg).update(d).digest());

function las(extra: Partial<EndpointConfig> = {}): L2tpEndpoint {
  return new L2tpEndpoint({
    transport: "ip",
    hostName: "l2-las",
    routerId: 0xc0000202,
    random32: rng(42),
    ...extra,
  });
}

interface Out {
  peer: string;
  type: string;
  ccid: number;
  f: Fields;
  bytes: Uint8Array;
}

function out(ep: L2tpEndpoint): Out[] {
  return ep.takeOutgoing().map(({ peer, bytes }) => {
    const p = parseControl(bytes, "ip");
    assert(p.ok, "the endpoint sent an unparsable control message");
    const d = decodeFields(p.msg);
    assert(d.ok);
    return {
      peer,
      type: messageName(messageTypeOf(p.msg)),
      ccid: p.msg.ccid,
      f: d.value.fields,
      bytes,
    };
  });
}

function msg(ccid: number, ns: number, nr: number, f: Fields, extra: Avp[] = []): Uint8Array {
  return emitControl("ip", { ccid, ns, nr, avps: [...encodeFields(f, "ietf"), ...extra] });
}

/** The smallest SCCRQ an endpoint takes: Message Type and Assigned CCID, 34 bytes over IP. */
function tinySccrq(ccid: number): Uint8Array {
  return msg(0, 0, 0, { messageType: 1, assignedControlConnectionId: ccid });
}

const printable = (s: string) => /^[\x20-\x7e]*$/.test(s);

Deno.test("hostile: an SCCRQ with 120 unknown mandatory AVPs gets a bounded StopCCN, no throw", () => {
  const strange: Avp[] = [];
  for (let i = 0; i < 120; i++) {
    strange.push({
      mandatory: true,
      hidden: false,
      vendor: 0,
      type: 201 + i,
      value: new Uint8Array(0),
    });
  }
  const sccrq = msg(0, 0, 0, { messageType: 1, assignedControlConnectionId: 77 }, strange);
  assertEquals(sccrq.length, 34 + 120 * 6, "the packet of the finding (about 761 bytes)");
  const ep = las();
  ep.receive(EDGE, sccrq, 0); // threw RangeError in the connection's flush before
  const [stop] = out(ep);
  assertEquals(stop.type, "StopCCN");
  assertEquals([stop.ccid, stop.f.resultCode?.result, stop.f.resultCode?.error], [77, 2, 8]);
  const text = stop.f.resultCode!.message!;
  assertStringIncludes(text, "120 unknown AVPs with the M bit set: (0,201) (0,202)");
  assertStringIncludes(text, "... and 112 more");
  assert(text.length <= 240 && printable(text), text);
  const ev = ep.takeEvents().find((e) => e.type === "rejected");
  assert(ev?.type === "rejected" && ev.reason.length <= 300, "the event text is bounded too");
  // The endpoint keeps serving: a normal peer still gets its SCCRP.
  ep.receive("10.115.0.2", tinySccrq(5), 10);
  assertEquals(out(ep).map((o) => o.type), ["SCCRP"]);
});

/** SCCRQ, SCCRP, SCCCN: an established connection from `peer`; returns the LAS's CCID. */
function establish(ep: L2tpEndpoint, peer: string, hostName = "edge"): number {
  ep.receive(peer, msg(0, 0, 0, { messageType: 1, assignedControlConnectionId: 9, hostName }), 0);
  const [sccrp] = out(ep);
  assertEquals(sccrp.type, "SCCRP");
  const ccid = sccrp.f.assignedControlConnectionId!;
  ep.receive(peer, msg(ccid, 1, 1, { messageType: 3 }), 1);
  out(ep);
  return ccid;
}

Deno.test("hostile: an ICRQ with a 1000-byte Remote End ID refused by policy gets a bounded CDN", () => {
  const ep = las({ sessionPolicy: () => "the virtual switch limit is reached (max_switches 1)" });
  const ccid = establish(ep, EDGE);
  ep.takeEvents();
  for (const [i, fill] of [[0, 0x41], [1, 0x0a]] as const) {
    const icrq = msg(ccid, 2 + i, 1, {
      messageType: 10,
      localSessionId: 100 + i,
      remoteSessionId: 0,
      remoteEndId: new Uint8Array(1000).fill(fill),
      pwType: 5,
    });
    ep.receive(EDGE, icrq, 10 + i); // threw RangeError before
    const cdn = out(ep).find((o) => o.type === "CDN");
    assert(cdn, "a CDN is sent");
    const text = cdn.f.resultCode!.message!;
    assertStringIncludes(text, "refused: the virtual switch limit is reached");
    assertStringIncludes(text, "(1000 bytes)");
    assert(text.length <= 240 && printable(text), text);
  }
  for (const ev of ep.takeEvents()) {
    if (ev.type === "rejected") assert(ev.reason.length <= 400 && printable(ev.reason), ev.reason);
  }
  assertEquals(ep.connections()[0].state, "established");
});

Deno.test("hostile: a 1000-byte Host Name with control characters reaches events cut and printable", () => {
  const ep = las();
  establish(ep, EDGE, "evil\n\x1b[31m" + "h".repeat(1000));
  const host = ep.connections()[0].hostName;
  assert(host.length <= 64 && printable(host), JSON.stringify(host));
  assert(host.startsWith("evil??[31m"), host);
});

Deno.test("amplification: a 34-byte SCCRQ from a forged source draws at most 3x its bytes", () => {
  const ep = las();
  const sccrq = tinySccrq(1234);
  assertEquals(sccrq.length, 34);
  let rx = sccrq.length;
  let tx = 0;
  ep.receive("198.51.100.7", sccrq, 0);
  for (let i = 0; i < 50; i++) {
    for (const o of ep.takeOutgoing()) tx += o.bytes.length;
    const t = ep.nextDeadline();
    if (t === Infinity) break;
    ep.poll(t);
  }
  for (const o of ep.takeOutgoing()) tx += o.bytes.length;
  assert(tx > 0, "the SCCRP went out once");
  assert(tx <= 3 * rx, `sent ${tx} bytes for ${rx} received (${(tx / rx).toFixed(1)}x)`);
  assertEquals(ep.connections(), [], "the connection is dropped when the budget is spent");
  assertEquals(ep.counters["drop_amplification_budget"], 1);
  // The same peer retransmitting its SCCRQ earns more: a real peer that lost our SCCRP.
  const ep2 = las();
  ep2.receive(EDGE, sccrq, 0);
  rx = sccrq.length;
  tx = 0;
  for (let t = 0; t <= 3000; t += 500) {
    if (t > 0 && t % 1000 === 0) {
      ep2.receive(EDGE, sccrq, t);
      rx += sccrq.length;
    }
    ep2.poll(t);
    for (const o of ep2.takeOutgoing()) tx += o.bytes.length;
  }
  assert(tx <= 3 * rx, `${tx} for ${rx}`);
  // A peer that answered (named our CCID) is no longer limited.
  const ep3 = las();
  const ccid = establish(ep3, EDGE);
  ep3.closeConnection(ccid, 10);
  let stops = 0;
  for (let i = 0; i < 10; i++) {
    stops += out(ep3).filter((o) => o.type === "StopCCN").length;
    const t = ep3.nextDeadline();
    if (t === Infinity || t > 60_000) break;
    ep3.poll(t);
  }
  assert(stops >= 5, `a proven peer gets every retransmission (${stops})`);
});

Deno.test("limits: 32 SCCRQs from one address cannot take every pending slot", () => {
  const ep = las({ amplificationFactor: Infinity });
  for (let i = 1; i <= 32; i++) ep.receive("203.0.113.9", tinySccrq(i), 0);
  // UDP peers are counted by address, whatever their port.
  for (let i = 1; i <= 8; i++) ep.receive(`203.0.113.9:${1000 + i}`, tinySccrq(i), 0);
  assert(ep.connections().length <= 4, `${ep.connections().length} handshakes from one address`);
  assert((ep.counters["rejected_too_many_pending_peer"] ?? 0) >= 28);
  out(ep);
  ep.receive(EDGE, tinySccrq(1), 1);
  assertEquals(out(ep).map((o) => [o.peer, o.type]), [[EDGE, "SCCRP"]], "another peer is served");
});

function authPair(lasAlg: DigestAlgorithm, edgeAlg: DigestAlgorithm) {
  const secret = enc.encode("s3cret");
  const base = { transport: "ip" as const, routerId: 1, secret, hash };
  return {
    las: new L2tpEndpoint({
      ...base,
      hostName: "las",
      random32: rng(1),
      digestAlgorithm: lasAlg,
      amplificationFactor: Infinity,
    }),
    edge: new L2tpEndpoint({
      ...base,
      hostName: "edge",
      random32: rng(2),
      digestAlgorithm: edgeAlg,
    }),
  };
}

Deno.test("auth: with digest sha1 configured, an MD5-digested SCCRQ is refused", () => {
  const { las: l, edge } = authPair("sha1", "md5");
  assert(edge.connect("192.0.2.2", 0).ok);
  const [sccrq] = edge.takeOutgoing();
  l.receive(EDGE, sccrq.bytes, 0);
  assertEquals(l.takeOutgoing(), [], "no SCCRP for a digest of the other algorithm");
  const rej = l.takeEvents().find((e) => e.type === "rejected");
  assert(rej?.type === "rejected");
  assertStringIncludes(rej.reason, "not HMAC-SHA1, the configured digest");
  // The same algorithm is still taken.
  const ok = authPair("sha1", "sha1");
  assert(ok.edge.connect("192.0.2.2", 0).ok);
  ok.las.receive(EDGE, ok.edge.takeOutgoing()[0].bytes, 0);
  assertEquals(out(ok.las).map((o) => o.type), ["SCCRP"]);
});

Deno.test("auth: with a secret, a forged ZLB does not acknowledge the SCCRP", () => {
  const { las: l, edge } = authPair("md5", "md5");
  assert(edge.connect("192.0.2.2", 0).ok);
  l.receive(EDGE, edge.takeOutgoing()[0].bytes, 0);
  const [sccrp] = out(l);
  const ccid = sccrp.f.assignedControlConnectionId!;
  // Anyone who learns the CCID could send this: Ns 1, Nr 1 acknowledges the SCCRP (Ns 0).
  l.receive(EDGE, emitControl("ip", { ccid, ns: 1, nr: 1, avps: [] }), 10);
  assertEquals(l.counters["drop_auth_zlb"], 1);
  l.poll(1000);
  assertEquals(out(l).map((o) => o.type), ["SCCRP"], "still unacknowledged: retransmitted");
});

Deno.test("limits: one address holds at most 8 control connections; another is still served", () => {
  const ep = las();
  for (let i = 1; i <= 10; i++) {
    const sccrq = msg(0, 0, 0, { messageType: 1, assignedControlConnectionId: i, hostName: "e" });
    ep.receive("203.0.113.9", sccrq, i);
    const sccrp = out(ep).find((o) => o.type === "SCCRP");
    if (!sccrp) continue;
    ep.receive(
      "203.0.113.9",
      msg(sccrp.f.assignedControlConnectionId!, 1, 1, { messageType: 3 }),
      i,
    );
    out(ep);
  }
  assertEquals(ep.connections().filter((c) => c.state === "established").length, 8);
  assertEquals(ep.counters["rejected_too_many_connections_peer"], 2);
  ep.receive(EDGE, tinySccrq(1), 20);
  assertEquals(out(ep).map((o) => o.type), ["SCCRP"]);
});

Deno.test("peer text: printable, bounded, lists counted", () => {
  assertEquals(safeText("a\x00b\u00e9\n", 10), "a?b??");
  assertEquals(safeText("x".repeat(300), 240).length, 240);
  assertEquals(safeBytes(enc.encode("1234"), 64), "1234");
  assertEquals(safeBytes(new Uint8Array([0, 1]), 64), "0x0001");
  const cut = safeBytes(new Uint8Array(500), 32);
  assert(cut.endsWith("... (500 bytes)") && cut.length <= 32 + 16, cut);
  assertEquals(boundedList(["a", "b", "c"], 2), "a b ... and 1 more");
  assertEquals(boundedList(["a", "b"], 2), "a b");
});

Deno.test("property: random AVPs (M bits, any size) in every message type never throw; every reply parses and is printable", () => {
  const avp = fc.record({
    mandatory: fc.boolean(),
    hidden: fc.constant(false),
    vendor: fc.constantFrom(0, 9, 311),
    type: fc.integer({ min: 1, max: 400 }),
    value: fc.oneof(
      { weight: 6, arbitrary: fc.uint8Array({ maxLength: 4 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 1017 }) },
    ),
  });
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          type: fc.integer({ min: 1, max: 21 }),
          avps: fc.array(avp, { maxLength: 150 }),
        }),
        {
          minLength: 1,
          maxLength: 6,
        },
      ),
      (script) => {
        const ep = las({ sessionPolicy: () => "refused by the test policy" });
        const ccid = establish(ep, EDGE);
        let ns = 2;
        for (const m of script) {
          const avps = [...encodeFields({ messageType: m.type }, "ietf"), ...m.avps];
          let total = 16;
          for (const a of avps) total += 6 + a.value.length;
          if (total > 0xffff) continue;
          const bytes = emitControl("ip", { ccid: m.type === 1 ? 0 : ccid, ns: ns++, nr: 1, avps });
          ep.receive(EDGE, bytes, ns * 10);
          ep.poll(ns * 10 + 5);
          for (const o of out(ep)) {
            const text = o.f.resultCode?.message ?? "";
            assert(text.length <= 240 && printable(text), text);
          }
          for (const e of ep.takeEvents()) {
            const r = e.type === "rejected" || e.type === "connection-down" ? e.reason : "";
            assert(r.length <= 600 && printable(r), r);
          }
        }
      },
    ),
    { seed: 13, numRuns: 150 },
  );
});
