/**
 * Live capture (core/capture.ts, cmd/kit/capture_stream.ts, the `/capture`
 * route of cmd/kit/api.ts, `l2 capture`'s arguments): the pcap bytes, the
 * bounds (count, buffer, concurrent captures), which frames each target
 * gets, the token rule, and the streamed answer.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import {
  CaptureHub,
  PCAP_HEADER_LEN,
  pcapHeader,
  vcText,
  writeRecord,
} from "../../core/capture.ts";
import {
  captureAnswer,
  captureQuery,
  DEFAULT_SECONDS,
  MAX_SECONDS,
} from "../../cmd/kit/capture_stream.ts";
import { handle, tokenCheck } from "../../cmd/kit/api.ts";
import { captureRequest } from "../../cmd/capture.ts";
import { matAddress, writeMac } from "../../core/mac.ts";

function frame(len: number, fill = 0xab): Uint8Array {
  return new Uint8Array(len).fill(fill);
}

Deno.test("capture: the pcap file header and a record, as libpcap writes them", () => {
  const h = new DataView(pcapHeader().buffer);
  assertEquals(
    [h.getUint32(0, true), h.getUint16(4, true), h.getUint16(6, true)],
    [0xa1b2c3d4, 2, 4],
  );
  assertEquals([h.getUint32(16, true), h.getUint32(20, true)], [65535, 1], "snaplen, Ethernet");
  const buf = new Uint8Array(100);
  const n = writeRecord(buf, 4, frame(60), 1_700_000_000_123.456);
  assertEquals(n, 76);
  const r = new DataView(buf.buffer, 4);
  assertEquals(
    [r.getUint32(0, true), r.getUint32(4, true), r.getUint32(8, true), r.getUint32(12, true)],
    [1_700_000_000, 123_456, 60, 60],
  );
  assertEquals(buf[4 + 16], 0xab);
  // Longer than the snap length: cut, with the original length kept.
  const big = new Uint8Array(70_000);
  assertEquals(writeRecord(big, 0, new Uint8Array(66_000), 0), 16 + 65535);
  const b = new DataView(big.buffer);
  assertEquals([b.getUint32(8, true), b.getUint32(12, true)], [65535, 66_000]);
});

Deno.test("capture: a target gets its own frames only, stamped with the wall clock", () => {
  const hub = new CaptureHub({ points: ["vc"], wallOffset: 1_000_000 });
  assertEquals(hub.on, false, "off until someone captures");
  const c = hub.open({ point: "vc", key: "1234" }, Infinity, () => {});
  assert(typeof c !== "string");
  assert(hub.on);
  hub.offer("vc", "200", frame(60, 1), 5);
  hub.offer("vc", "1234", frame(61, 2), 7.5);
  const got = c.take()!;
  assertEquals(got.length, 16 + 61);
  const v = new DataView(got.buffer);
  assertEquals([v.getUint32(0, true), v.getUint32(4, true)], [1000, 7500], "now + wallOffset");
  assertEquals(c.take(), null, "taken: empty");
  assertEquals(hub.counters.frames_captured, 1);
  hub.close(c);
  assertEquals([hub.on, hub.active], [false, 0], "off again once the last capture closes");
  hub.offer("vc", "1234", frame(60), 9);
  assertEquals(hub.counters.frames_captured, 1, "a closed capture records nothing");
});

Deno.test("capture: -c ends it, a slow reader loses frames (counted), never blocks", () => {
  const hub = new CaptureHub({ points: ["tap"], wallOffset: 0, bufferBytes: 3 * (16 + 100) });
  let wakes = 0;
  const c = hub.open({ point: "tap", key: 0 }, 5, () => wakes++);
  assert(typeof c !== "string");
  for (let i = 0; i < 4; i++) hub.offer("tap", 0, frame(100), i);
  assertEquals([c.frames, c.dropped], [3, 1], "three fit, the fourth is dropped");
  assertEquals(hub.counters.frames_dropped, 1);
  assertEquals(wakes, 1, "woken when the buffer stopped being empty");
  assertEquals(c.take()!.length, 3 * 116);
  hub.offer("tap", 0, frame(100), 5);
  assertEquals(c.ended, null);
  hub.offer("tap", 0, frame(100), 6);
  assertEquals([c.frames, c.ended], [5, "count"], "the fifth frame ends it");
  hub.offer("tap", 0, frame(100), 7);
  assertEquals(c.frames, 5, "nothing after the count");
  assertEquals(c.take()!.length, 2 * 116, "what was buffered is still read");
});

Deno.test("capture: at most maxCaptures at once; a point the daemon lacks is refused", () => {
  const hub = new CaptureHub({ points: ["vc"], wallOffset: 0, maxCaptures: 2 });
  const a = hub.open({ point: "vc", key: "1" }, 1, () => {});
  const b = hub.open({ point: "vc", key: "1" }, 1, () => {});
  assert(typeof a !== "string" && typeof b !== "string");
  assertStringIncludes(hub.open({ point: "vc", key: "1" }, 1, () => {}) as string, "running");
  assertEquals(hub.counters.captures_refused, 1);
  assertStringIncludes(hub.open({ point: "peer", key: 3 }, 1, () => {}) as string, "not peer");
  hub.offer("vc", "1", frame(60), 0);
  assertEquals(hub.counters.frames_captured, 2, "both captures of the VC get the frame");
  hub.closeAll();
  assertEquals([a.ended, b.ended, hub.active], ["count", "count", 0]);
});

Deno.test("capture: a peer's frames by MAT address; group frames to every peer", () => {
  const hub = new CaptureHub({ points: ["peer"], wallOffset: 0 });
  const p3 = hub.open({ point: "peer", key: 3 }, Infinity, () => {});
  const p4 = hub.open({ point: "peer", key: 4 }, Infinity, () => {});
  assert(typeof p3 !== "string" && typeof p4 !== "string");
  const f = (dst: number, src: number) => {
    const b = new Uint8Array(60);
    writeMac(b, 0, dst);
    writeMac(b, 6, src);
    return b;
  };
  const me = matAddress(1, 2, 0x10);
  hub.offerPeer(f(matAddress(1, 3, 7), me), true, 0); // to 3
  hub.offerPeer(f(me, matAddress(1, 4, 9)), false, 0); // from 4
  hub.offerPeer(f(0xffff_ffff_ffff, me), true, 0); // broadcast: to every peer
  hub.offerPeer(f(0x0200_0000_0003, me), true, 0); // not a MAT address: the core drops it
  hub.offerPeer(new Uint8Array(10), false, 0); // too short
  assertEquals([p3.frames, p4.frames], [2, 2]);
});

Deno.test("capture: the VC id as the LAS prints it", () => {
  assertEquals(vcText("1234"), "1234");
  assertEquals(vcText("0001234"), "1234");
  assertEquals(vcText("0x4d2"), "1234");
  assertEquals(vcText("0x000004D2"), "1234");
  assertEquals(vcText("0x0A0B0C0D0E"), "0x0a0b0c0d0e");
  assertEquals(vcText("0xabc0def"), String(0xabc0def));
  for (const bad of ["", "x", "12a", "99999999999", "0x", "0xabcdefabc", "-1"]) {
    assertEquals(vcText(bad), null, bad);
  }
});

Deno.test("capture: the query: one target, count and seconds bounded", () => {
  const q = (s: string) => captureQuery(new URLSearchParams(s));
  assertEquals(q("vc=01234&count=100&seconds=10"), {
    target: { point: "vc", key: "1234" },
    count: 100,
    seconds: 10,
  });
  assertEquals(q("peer=3"), {
    target: { point: "peer", key: 3 },
    count: Infinity,
    seconds: DEFAULT_SECONDS,
  });
  assertEquals((q("tap") as { target: unknown }).target, { point: "tap", key: 0 });
  for (
    const bad of [
      "",
      "vc=1&tap",
      "peer=0",
      "peer=70000",
      "vc=zz",
      "tap&count=0",
      "tap&count=-1",
      `tap&seconds=${MAX_SECONDS + 1}`,
      "tap&seconds=0",
      "tap&seconds=1e3",
    ]
  ) {
    assertEquals(typeof q(bad), "string", bad);
  }
});

Deno.test("capture: GET /capture streams pcap, needs the token, is refused to HEAD", async () => {
  const hub = new CaptureHub({ points: ["vc"], wallOffset: 0 });
  const h = { status: () => ({}), metrics: () => "", capture: hub };
  const tok = tokenCheck("a-long-enough-token");
  const url = "http://127.0.0.1:7657/capture?vc=1234&count=2";
  const get = (auth?: string, method = "GET") =>
    handle(
      new Request(url, { method, headers: auth ? { authorization: `Bearer ${auth}` } : {} }),
      h,
      tok,
    );
  assertEquals(get().status, 401);
  assertEquals(get("wrong").status, 401);
  assertEquals(hub.counters.captures_started, 0, "nothing opened without the token");
  assertEquals(get("a-long-enough-token", "HEAD").status, 405);
  assertEquals(
    handle(new Request(url), { status: () => ({}), metrics: () => "" }, null).status,
    404,
    "a daemon without capture points",
  );
  const r = get("a-long-enough-token");
  assertEquals(r.status, 200);
  assertEquals(r.headers.get("content-type"), "application/vnd.tcpdump.pcap");
  assertEquals(r.headers.get("cache-control"), "no-store");
  assert(hub.on);
  const reader = r.body!.getReader();
  const head = await reader.read();
  assertEquals(head.value!.length, PCAP_HEADER_LEN, "the file header comes at once");
  const next = reader.read(); // waits for a frame
  hub.offer("vc", "1234", frame(60), 0);
  hub.offer("vc", "1234", frame(70), 0);
  assertEquals((await next).value!.length, 16 + 60 + 16 + 70);
  assertEquals((await reader.read()).done, true, "count=2 ends the answer");
  assertEquals([hub.on, hub.active], [false, 0], "and frees its place");
});

Deno.test("capture: a reader that goes away frees its place", async () => {
  const hub = new CaptureHub({ points: ["tap"], wallOffset: 0 });
  const a = captureAnswer(new URLSearchParams("tap&seconds=5"), hub);
  assert("body" in a);
  assertEquals(hub.active, 1);
  await a.body.cancel();
  assertEquals(hub.active, 0);
  const busy = new CaptureHub({ points: ["tap"], wallOffset: 0, maxCaptures: 0 });
  const r = captureAnswer(new URLSearchParams("tap"), busy);
  assertEquals("status" in r && r.status, 503);
});

Deno.test("capture: the command line: one target, its role's default endpoint", () => {
  assertEquals(captureRequest({ cmd: "capture", vc: "0x4d2", count: 5 }), {
    query: new URLSearchParams("vc=1234&count=5"),
    role: "las",
  });
  assertEquals((captureRequest({ cmd: "capture", peer: 3 }) as { role: string }).role, "node");
  assertEquals(
    (captureRequest({ cmd: "capture", device: true }) as { role: string }).role,
    "xconnect",
  );
  assertStringIncludes(captureRequest({ cmd: "capture" }) as string, "say what to capture");
  assertStringIncludes(
    captureRequest({ cmd: "capture", tap: true, peer: 2 }) as string,
    "one thing",
  );
  // The help's default and maximum are the endpoint's.
  assertEquals([DEFAULT_SECONDS, MAX_SECONDS], [60, 3600], "as `l2 capture --help` says");
});
