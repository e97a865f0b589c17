/**
 * Control message authentication (RFC 3931 section 4.3): HMAC against the
 * RFC 2202 vectors, two endpoints with a shared secret, failures, and an
 * independent check of our digests by Wireshark's L2TP dissector (tshark).
 */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { ipv4Packet, writeRawIpPcap } from "../lab/pcap.ts";
import { type DigestAlgorithm, hmac } from "../../core/l2tp/auth.ts";
import { L2tpEndpoint } from "../../core/l2tp/endpoint.ts";
import type { EndpointConfig } from "../../core/l2tp/endpoint_config.ts";
import { messageTypeOf, parseControl } from "../../core/l2tp/control_message.ts";
import { messageName } from "../../core/l2tp/constants.ts";

const hash = (alg: DigestAlgorithm, d: Uint8Array) =>
  new Uint8Array(createHash(alg).update(d).digest());
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const enc = (s: string) => new TextEncoder().encode(s);

function lcg(seed: number): () => number {
  let x = seed;
  return () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
}

Deno.test("hmac: RFC 2202 test vectors for HMAC-MD5 and HMAC-SHA-1", () => {
  assertEquals(
    hex(hmac(hash, "md5", new Uint8Array(16).fill(0x0b), enc("Hi There"))),
    "9294727a3638bb1c13f48ef8158bfc9d",
  );
  assertEquals(
    hex(hmac(hash, "md5", enc("Jefe"), enc("what do ya want for nothing?"))),
    "750c783e6ab0b503eaa86e310a5db738",
  );
  assertEquals(
    hex(hmac(hash, "sha1", new Uint8Array(20).fill(0x0b), enc("Hi There"))),
    "b617318655057264e28bc0b6fb378c8ef146be00",
  );
  // Key longer than the block: hashed first (RFC 2202 test case 6).
  assertEquals(
    hex(hmac(
      hash,
      "md5",
      new Uint8Array(80).fill(0xaa),
      enc("Test Using Larger Than Block-Size Key - Hash Key First"),
    )),
    "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
  );
});

function pair(
  alg: DigestAlgorithm,
  dialect: "ietf" | "cisco",
  lasSecret: string | null,
  edgeSecret: string | null,
): { las: L2tpEndpoint; edge: L2tpEndpoint } {
  const base = (name: string, seed: number, secret: string | null): EndpointConfig => ({
    transport: "ip",
    hostName: name,
    routerId: seed,
    random32: lcg(seed),
    digestAlgorithm: alg,
    ...(secret !== null ? { secret: enc(secret), hash } : {}),
  });
  return {
    las: new L2tpEndpoint(base("las", 1, lasSecret)),
    edge: new L2tpEndpoint({ ...base("edge", 2, edgeSecret), dialect }),
  };
}

const LAS = "192.0.2.2";
const EDGE = "10.0.0.1";

/** Runs the exchange; returns every packet (as IPv4) for tshark. */
function run(las: L2tpEndpoint, edge: L2tpEndpoint, until: number) {
  const wire: { time: number; ip: Uint8Array; type: string }[] = [];
  let t = 0;
  for (let i = 0; i < 200; i++) {
    let moved = false;
    for (const o of edge.takeOutgoing()) {
      wire.push({ time: t / 1000, ip: ipv4Packet(EDGE, LAS, 115, o.bytes), type: typeOf(o.bytes) });
      las.receive(EDGE, o.bytes, t);
      moved = true;
    }
    for (const o of las.takeOutgoing()) {
      wire.push({ time: t / 1000, ip: ipv4Packet(LAS, EDGE, 115, o.bytes), type: typeOf(o.bytes) });
      edge.receive(LAS, o.bytes, t);
      moved = true;
    }
    if (moved) continue;
    const next = Math.min(las.nextDeadline(), edge.nextDeadline());
    if (next > until) break;
    t = next;
    las.poll(t);
    edge.poll(t);
  }
  return wire;
}

function typeOf(bytes: Uint8Array): string {
  const p = parseControl(bytes, "ip");
  return p.ok ? messageName(messageTypeOf(p.msg)) : "?";
}

for (const alg of ["md5", "sha1"] as const) {
  for (const dialect of ["ietf", "cisco"] as const) {
    Deno.test(`auth ${alg}/${dialect}: both ends with the secret establish a session; acks are ACK messages`, () => {
      const { las, edge } = pair(alg, dialect, "s3cret", "s3cret");
      const c = edge.connect(LAS, 0);
      assert(c.ok);
      edge.openSession(c.localCcid, { pwType: 5, vcId: enc("9") }, 0);
      const wire = run(las, edge, 130_000); // includes HELLOs
      assertEquals(las.takeEvents().map((e) => e.type), ["connection-up", "session-up"]);
      assertEquals(edge.takeEvents().map((e) => e.type), ["connection-up", "session-up"]);
      assert(!wire.some((w) => w.type === "ZLB"), "no unauthenticated ZLB is sent");
      assert(wire.some((w) => w.type === "ACK"));
      assert(wire.some((w) => w.type === "HELLO"));
      assertEquals(las.counters["drop_auth_bad_digest"], undefined);
    });
  }
}

Deno.test("auth: a wrong secret is refused at the SCCRQ; nothing is answered", () => {
  const { las, edge } = pair("md5", "ietf", "right", "wrong");
  edge.connect(LAS, 0);
  run(las, edge, 40_000);
  assertEquals(las.connections(), []);
  const ev = las.takeEvents();
  assert(ev.length > 0 && ev.every((e) => e.type === "rejected"));
  assert(ev[0].type === "rejected");
  assertEquals(ev[0].code, "auth_failed");
  assertEquals(
    ev[0].reason,
    "SCCRQ from 10.0.0.1 dropped: wrong Message Digest (shared secret mismatch?)",
  );
  assertEquals(edge.takeEvents().map((e) => e.type), ["connection-down"]);
});

Deno.test("auth: a peer without the secret is told apart from a wrong secret", () => {
  const { las, edge } = pair("md5", "ietf", "right", null);
  edge.connect(LAS, 0);
  run(las, edge, 100);
  const [ev] = las.takeEvents();
  assert(ev.type === "rejected");
  assertStringIncludes(ev.reason, "no Message Digest, but a shared secret is configured");
});

Deno.test("auth: a tampered message is dropped and counted; the connection stays up", () => {
  const { las, edge } = pair("sha1", "ietf", "k", "k");
  edge.connect(LAS, 0);
  run(las, edge, 10);
  las.takeEvents();
  edge.closeConnection(edge.connections()[0].localCcid, 20, "bye");
  const [stop] = edge.takeOutgoing();
  const bad = stop.bytes.slice();
  bad[bad.length - 1] ^= 1; // last byte of the Result Code message
  las.receive(EDGE, bad, 21);
  assertEquals(las.takeOutgoing(), []); // not acknowledged
  assertEquals(las.counters["drop_auth_bad_digest"], 1);
  assertEquals(las.connections()[0].state, "established");
  las.receive(EDGE, stop.bytes, 22); // the genuine one works
  assertEquals(las.connections()[0].state, "closing");
});

Deno.test("auth: Wireshark's dissector accepts our IETF digests (MD5 and SHA-1) and rejects a wrong secret", async () => {
  const which = new Deno.Command("sh", { args: ["-c", "command -v tshark"] }).outputSync();
  assert(which.success, "tshark is required for this test (apt-get install tshark)");
  for (const alg of ["md5", "sha1"] as const) {
    const { las, edge } = pair(alg, "ietf", "s3cret", "s3cret");
    const c = edge.connect(LAS, 0);
    assert(c.ok);
    edge.openSession(c.localCcid, { pwType: 5, vcId: enc("9") }, 0);
    const wire = run(las, edge, 10);
    assert(wire.length >= 8);
    const dir = await Deno.makeTempDir({ prefix: "l2t-auth-" });
    try {
      const file = `${dir}/auth.pcap`;
      await Deno.writeFile(file, writeRawIpPcap(wire));
      const incorrect = async (secret: string) => {
        const out = await new Deno.Command("tshark", {
          args: ["-r", file, "-o", `l2tp.shared_secret:${secret}`, "-V"],
          stdout: "piped",
          stderr: "null",
        }).output();
        assert(out.success, "tshark failed");
        const text = new TextDecoder().decode(out.stdout);
        assertEquals((text.match(/Message Digest AVP/g) ?? []).length, wire.length);
        return (text.match(/Expert Info \(Warning\/Checksum\): Incorrect Digest/g) ?? []).length;
      };
      assertEquals(await incorrect("s3cret"), 0, `${alg}: tshark flags our digests`);
      assertEquals(await incorrect("not-it"), wire.length, `${alg}: tshark cannot tell`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
