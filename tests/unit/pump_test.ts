/**
 * The kit's pumps (cmd/kit/pump.ts): one datagram or frame per engine call,
 * GRO entries cut, truncated datagrams skipped, a throwing packet contained
 * while the rest of the batch goes on, one endBatch per batch.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import type { Arrival } from "../../core/engine.ts";
import { formatEndpoint, parseIp } from "../../core/addr.ts";
import type { DatagramBatch, DatagramTransport, FrameDevice } from "../../ffi/types.ts";

function ip(text: string): Uint8Array {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** A socket whose next recv() returns the given entries once. */
function fakeSocket(
  entries: { bytes: number[]; src: string; port: number; seg?: number; truncated?: boolean }[],
): DatagramTransport & { rx: DatagramBatch & { segs: Int32Array } } {
  const cap = 8;
  const rx = {
    capacity: cap,
    count: 0,
    bufs: Array.from({ length: cap }, () => new Uint8Array(64)),
    lens: new Int32Array(cap),
    offsets: new Int32Array(cap),
    src: Array.from({ length: cap }, () => new Uint8Array(16)),
    srcPort: new Uint16Array(cap),
    dst: Array.from({ length: cap }, () => ip("192.0.2.254")),
    ifindex: new Int32Array(cap),
    truncated: new Uint8Array(cap),
    segs: new Int32Array(cap),
  };
  let pending = entries;
  return {
    fd: -1,
    local: { ip: ip("192.0.2.254"), port: 1 },
    rx,
    recv() {
      const n = pending.length;
      pending.forEach((e, i) => {
        rx.bufs[i].set(e.bytes, 2);
        rx.offsets[i] = 2;
        rx.lens[i] = 2 + e.bytes.length;
        rx.src[i].set(ip(e.src));
        rx.srcPort[i] = e.port;
        rx.segs[i] = e.seg ?? 0;
        rx.truncated[i] = e.truncated ? 1 : 0;
      });
      pending = [];
      rx.count = n;
      return n;
    },
    send: () => 0,
    queue: () => 0,
    flush: () => 0,
    close() {},
  };
}

function recorder(throwOn = -1) {
  const got: { bytes: number[]; from: string; via: number }[] = [];
  let batches = 0;
  return {
    got,
    get batches() {
      return batches;
    },
    receive(bytes: Uint8Array, from: Arrival) {
      if (bytes[0] === throwOn) throw new Error(`bad packet ${throwOn}`);
      got.push({
        bytes: [...bytes],
        from: formatEndpoint({ ip: from.src, port: from.srcPort }),
        via: from.via,
      });
    },
    fromDevice(frame: Uint8Array) {
      if (frame[0] === throwOn) throw new Error(`bad frame ${throwOn}`);
      got.push({ bytes: [...frame], from: "dev", via: -1 });
    },
    endBatch() {
      batches++;
    },
  };
}

Deno.test("socket pump: datagrams in order with their source, GRO cut, truncated skipped", () => {
  const s = fakeSocket([
    { bytes: [1, 1], src: "192.0.2.1", port: 7 },
    { bytes: [9], src: "192.0.2.9", port: 9, truncated: true },
    { bytes: [2, 2, 3, 3, 4], src: "2001:db8::2", port: 8, seg: 2 },
  ]);
  const e = recorder();
  const w = socketWatch({ name: "udp", socket: s, engine: e, via: 1 });
  assertEquals(w.onReadable(5), 3);
  assertEquals(e.got, [
    { bytes: [1, 1], from: "192.0.2.1:7", via: 1 },
    { bytes: [2, 2], from: "[2001:db8::2]:8", via: 1 },
    { bytes: [3, 3], from: "[2001:db8::2]:8", via: 1 },
    { bytes: [4], from: "[2001:db8::2]:8", via: 1 },
  ]);
  assertEquals(e.batches, 1);
  assertEquals(w.counters, {
    rx_datagrams: 4,
    rx_truncated: 1,
    rx_gro_messages: 1,
    rx_gro_datagrams: 3,
    rx_handler_errors: 0,
  });
  assertEquals(w.onReadable(6), 0);
  assertEquals(e.batches, 1);
});

Deno.test("socket pump: a throwing datagram is contained, the batch goes on", () => {
  const s = fakeSocket([
    { bytes: [1], src: "192.0.2.1", port: 7 },
    { bytes: [66], src: "198.51.100.6", port: 666 },
    { bytes: [3], src: "192.0.2.3", port: 7 },
  ]);
  const e = recorder(66);
  const seen: string[] = [];
  const w = socketWatch({
    name: "udp",
    socket: s,
    engine: e,
    contain: (h, err, peer) => seen.push(`${h} ${(err as Error).message} ${peer}`),
  });
  assertEquals(w.onReadable(1), 3);
  assertEquals(e.got.map((g) => g.bytes[0]), [1, 3]);
  assertEquals(seen, ["udp bad packet 66 198.51.100.6:666"]);
  assertEquals(w.counters.rx_handler_errors, 1);
  assertEquals(e.batches, 1);
  // Without a containment sink the error reaches the caller (tests see it).
  const bare = socketWatch({
    name: "udp",
    socket: fakeSocket([{ bytes: [66], src: "192.0.2.1", port: 1 }]),
    engine: recorder(66),
  });
  assertThrows(() => bare.onReadable(1), Error, "bad packet 66");
});

Deno.test("device pump: frames to fromDevice, one endBatch, errors contained", () => {
  const frames = [[1, 2], [66], [3]];
  const dev: FrameDevice = {
    name: "t0",
    mode: "tap",
    mtu: 1500,
    fd: -1,
    rx: {
      capacity: 4,
      count: 0,
      bufs: Array.from({ length: 4 }, () => new Uint8Array(16)),
      lens: new Int32Array(4),
    },
    read() {
      const n = frames.length;
      frames.forEach((f, i) => {
        this.rx.bufs[i].set(f);
        this.rx.lens[i] = f.length;
      });
      frames.length = 0;
      return n;
    },
    write: () => 0,
    close() {},
  };
  const e = recorder(66);
  const errs: string[] = [];
  const w = deviceWatch({ name: "tap", device: dev, engine: e, contain: (h) => errs.push(h) });
  assertEquals(w.onReadable(1), 3);
  assertEquals(e.got.map((g) => g.bytes), [[1, 2], [3]]);
  assertEquals(errs, ["tap"]);
  assertEquals(e.batches, 1);
  assertEquals(w.onReadable(2), 0);
});
