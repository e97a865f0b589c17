/**
 * `VpnSocket.receive` with UDP GRO (cmd/vpn_io.ts): a coalesced entry
 * (`rx.segs[i]` > 0) reaches the caller as its datagrams, one call each, in
 * order, with the same source; a short last segment, nonsense segment
 * sizes, truncated entries and batches without `segs` (the in-memory twins)
 * behave as the module doc says. A scripted transport stands in for the
 * socket, so these run without root.
 */
import { assert, assertEquals } from "../assert.ts";
import fc from "fast-check";
import { VpnSocket } from "../../cmd/vpn_io.ts";
import { groSegments } from "../../ffi/dgram.ts";
import { type Endpoint, type Ip16, parseIp } from "../../core/addr.ts";
import type { DatagramBatch, DatagramTransport } from "../../ffi/types.ts";

function ip(text: string): Ip16 {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** One scripted receive entry. */
interface Entry {
  bytes: Uint8Array;
  seg: number;
  src?: string;
  port?: number;
  truncated?: boolean;
}

/** A transport whose `recv()` returns the next scripted batch; `segs` only when `gro`. */
class ScriptedTransport implements DatagramTransport {
  readonly fd = -1;
  readonly local: Endpoint = { ip: ip("127.0.0.1"), port: 7654 };
  readonly rx: DatagramBatch & { segs?: Int32Array };
  readonly #batches: Entry[][];

  constructor(batches: Entry[][], gro: boolean, capacity = 8) {
    this.#batches = batches;
    const rx = {
      capacity,
      count: 0,
      bufs: Array.from({ length: capacity }, () => new Uint8Array(65536)),
      lens: new Int32Array(capacity),
      offsets: new Int32Array(capacity),
      src: Array.from({ length: capacity }, () => new Uint8Array(16)),
      srcPort: new Uint16Array(capacity),
      dst: Array.from({ length: capacity }, () => new Uint8Array(16)),
      ifindex: new Int32Array(capacity),
      truncated: new Uint8Array(capacity),
    };
    this.rx = gro ? { ...rx, segs: new Int32Array(capacity) } : rx;
  }

  recv(): number {
    const batch = this.#batches.shift();
    if (!batch) return 0;
    const rx = this.rx;
    batch.forEach((e, i) => {
      rx.bufs[i].set(e.bytes);
      rx.lens[i] = e.bytes.length;
      rx.offsets[i] = 0;
      rx.src[i].set(ip(e.src ?? "192.0.2.1"));
      rx.srcPort[i] = e.port ?? 5000;
      rx.truncated[i] = e.truncated ? 1 : 0;
      if (rx.segs) rx.segs[i] = e.seg;
    });
    rx.count = batch.length;
    return batch.length;
  }
  send(): number {
    return 0;
  }
  queue(): number {
    return 0;
  }
  flush(): number {
    return 0;
  }
  close(): void {}
}

/** `n` bytes counting up from `first`. */
function bytes(n: number, first = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, k) => (first + k) & 0xff);
}

/** Receives everything the transport has; what the callback saw, copied. */
function receiveAll(sock: VpnSocket): { from: string; bytes: number[] }[] {
  const seen: { from: string; bytes: number[] }[] = [];
  for (let guard = 0; guard < 100; guard++) {
    if (sock.receive((from, b) => seen.push({ from, bytes: [...b] })) === 0) break;
  }
  return seen;
}

Deno.test("vpn_io gro: a coalesced entry is handed over datagram by datagram, last one shorter", () => {
  const data = bytes(3 * 100 + 37);
  const sock = new VpnSocket(new ScriptedTransport([[{ bytes: data, seg: 100 }]], true));
  const seen = receiveAll(sock);
  assertEquals(seen.map((s) => s.bytes.length), [100, 100, 100, 37]);
  assertEquals(seen.flatMap((s) => s.bytes), [...data], "the pieces are the entry, in order");
  for (const s of seen) assertEquals(s.from, "192.0.2.1:5000");
  const c = sock.counters;
  assertEquals([c.rx_datagrams, c.rx_gro_messages, c.rx_gro_datagrams], [4, 1, 4]);
});

Deno.test("vpn_io gro: an exact multiple of the segment size has no short tail", () => {
  const sock = new VpnSocket(new ScriptedTransport([[{ bytes: bytes(4 * 64), seg: 64 }]], true));
  assertEquals(receiveAll(sock).map((s) => s.bytes.length), [64, 64, 64, 64]);
});

Deno.test("vpn_io gro: nonsense segment sizes leave the entry whole (one datagram)", () => {
  const cases = [
    { name: "negative", seg: -1 },
    { name: "int32 min", seg: -0x8000_0000 },
    { name: "zero", seg: 0 },
    { name: "equal to the length", seg: 200 },
    { name: "larger than the length", seg: 70_000 },
  ];
  for (const { name, seg } of cases) {
    const data = bytes(200, 7);
    const sock = new VpnSocket(new ScriptedTransport([[{ bytes: data, seg }]], true));
    const seen = receiveAll(sock);
    assertEquals(seen.map((s) => s.bytes), [[...data]], name);
    assertEquals([sock.counters.rx_datagrams, sock.counters.rx_gro_messages], [1, 0], name);
  }
});

Deno.test("vpn_io gro: a truncated coalesced entry is dropped and counted, nothing handed over", () => {
  const sock = new VpnSocket(
    new ScriptedTransport([[{ bytes: bytes(300), seg: 100, truncated: true }]], true),
  );
  assertEquals(receiveAll(sock), []);
  assertEquals([sock.counters.rx_truncated, sock.counters.rx_gro_messages], [1, 0]);
});

Deno.test("vpn_io gro: a mixed batch keeps entry order and each entry's source", () => {
  const batch: Entry[] = [
    { bytes: bytes(50, 1), seg: 0, src: "192.0.2.1", port: 1 },
    { bytes: bytes(250, 2), seg: 100, src: "2001:db8::2", port: 2 },
    { bytes: bytes(10, 3), seg: 0, src: "192.0.2.3", port: 3 },
  ];
  const sock = new VpnSocket(new ScriptedTransport([batch], true));
  const seen = receiveAll(sock);
  assertEquals(seen.map((s) => [s.from, s.bytes.length]), [
    ["192.0.2.1:1", 50],
    ["[2001:db8::2]:2", 100],
    ["[2001:db8::2]:2", 100],
    ["[2001:db8::2]:2", 50],
    ["192.0.2.3:3", 10],
  ]);
  assertEquals(seen.flatMap((s) => s.bytes), batch.flatMap((e) => [...e.bytes]));
  const c = sock.counters;
  assertEquals([c.rx_datagrams, c.rx_gro_messages, c.rx_gro_datagrams], [5, 1, 3]);
});

Deno.test("vpn_io gro: a batch without segs (no GRO) hands each entry over whole", () => {
  // `seg` is ignored: the batch has no `segs` array, as with the in-memory twins.
  const sock = new VpnSocket(new ScriptedTransport([[{ bytes: bytes(300), seg: 100 }]], false));
  assertEquals(receiveAll(sock).map((s) => s.bytes.length), [300]);
  assertEquals(sock.counters.rx_gro_messages, 0);
});

Deno.test("vpn_io gro: property: the pieces rebuild the entry, all but the last are seg bytes", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3000 }),
      fc.oneof(fc.integer({ min: -5, max: 3500 }), fc.integer({ min: 1, max: 40 })),
      (data, seg) => {
        const sock = new VpnSocket(new ScriptedTransport([[{ bytes: data, seg }]], true, 1));
        const seen = receiveAll(sock).map((s) => s.bytes);
        // Cut only when 0 < seg < length; an empty entry is still one (empty) datagram.
        const n = data.length;
        const want = seg > 0 && seg < n ? Math.floor((n + seg - 1) / seg) : 1;
        assertEquals(seen.length, want);
        assertEquals(seen.flat(), [...data]);
        if (want > 1) {
          for (const p of seen.slice(0, -1)) assertEquals(p.length, seg);
          const last = seen[seen.length - 1].length;
          assert(last > 0 && last <= seg, `last piece ${last} of seg ${seg}`);
        }
        assertEquals(sock.counters.rx_datagrams, want);
      },
    ),
    { seed: 0x6e0, numRuns: 500 },
  );
});

Deno.test("groSegments: table", () => {
  const table: [number, number, number][] = [
    [0, 100, 0],
    [-1, 100, 0],
    [1, 0, 1],
    [100, 100, 1],
    [101, 100, 2],
    [300, 100, 3],
    [337, 100, 4],
    [337, 1.5, 1], // not an integer: nonsense, one datagram
    [337, -100, 1],
  ];
  for (const [len, seg, want] of table) assertEquals(groSegments(len, seg), want, `${len}/${seg}`);
});
