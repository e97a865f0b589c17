/**
 * UDP over the FFI sockets between two namespaces: sendmmsg/recvmmsg batches
 * cross with no loss at a modest rate, IPv4, IPv6 and dual-stack, with the
 * right source, source port and destination (IP_PKTINFO / IPV6_PKTINFO),
 * and a chosen source address; a dual-stack socket receiving IPv4 gets both
 * pktinfo cmsgs without MSG_CTRUNC; UDP GSO on send; UDP GRO on receive
 * (coalesced entries cut back into the datagrams that were sent, only for
 * sockets that asked).
 */
import { assert, assertEquals } from "../assert.ts";
import { formatIp, type Ip16, parseIp } from "../../core/addr.ts";
import { inNetns } from "../../ffi/netns.ts";
import { type DatagramSocket, openUdp } from "../../ffi/udp.ts";
import { groSegments } from "../../ffi/dgram.ts";
import { Arena } from "../../ffi/libc.ts";
import { Lab, waitFor } from "../lab/netns.ts";

function ip(text: string): Ip16 {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

interface Got {
  seq: number;
  len: number;
  src: string;
  srcPort: number;
  dst: string;
  truncated: number;
}

/** Drains `s` into `into`, checking each payload against its sequence number. */
function drain(s: DatagramSocket, tag: number, into: Got[]): void {
  for (let guard = 0; guard < 100; guard++) {
    const n = s.recv();
    if (n === 0) return;
    for (let i = 0; i < n; i++) {
      const p = s.rx.bufs[i].subarray(s.rx.offsets[i], s.rx.lens[i]);
      if (p[0] !== tag) continue;
      const seq = new DataView(p.buffer, p.byteOffset).getUint32(1);
      for (let k = 5; k < p.length; k++) assertEquals(p[k], (seq + k) & 0xff, `payload byte ${k}`);
      into.push({
        seq,
        len: p.length,
        src: formatIp(s.rx.src[i]),
        srcPort: s.rx.srcPort[i],
        dst: formatIp(s.rx.dst[i]),
        truncated: s.rx.truncated[i],
      });
    }
  }
}

function payload(tag: number, seq: number): Uint8Array {
  const len = 5 + (seq * 7) % 1200;
  const p = new Uint8Array(len);
  p[0] = tag;
  new DataView(p.buffer).setUint32(1, seq);
  for (let k = 5; k < len; k++) p[k] = (seq + k) & 0xff;
  return p;
}

/** Sends `rounds` batches of `batch` datagrams, waiting for each batch to arrive. */
async function exchange(
  tx: DatagramSocket,
  rx: DatagramSocket,
  to: { ip: Ip16; port: number },
  from: Ip16 | null,
  tag: number,
  rounds: number,
  batch: number,
): Promise<Got[]> {
  const got: Got[] = [];
  let seq = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < batch; i++) assertEquals(tx.queue(payload(tag, seq++), to, from), 0);
    assertEquals(tx.flush(), 0, "flush reports no drop");
    const want = seq;
    await waitFor(
      () => {
        drain(rx, tag, got);
        return got.length >= want;
      },
      30_000,
      `round ${r}: ${want} datagrams (have ${got.length})`,
      2,
    );
  }
  return got;
}

function checkAll(got: Got[], total: number, src: string, srcPort: number, dst: string): void {
  assertEquals(got.length, total, "no loss, no duplicates");
  const seqs = got.map((g) => g.seq).sort((a, b) => a - b);
  assertEquals(seqs, Array.from({ length: total }, (_, i) => i));
  for (const g of got) {
    assertEquals(g.len, 5 + (g.seq * 7) % 1200);
    assertEquals(g.src, src);
    assertEquals(g.srcPort, srcPort);
    assertEquals(g.dst, dst);
    assertEquals(g.truncated, 0);
  }
}

Deno.test("ffi udp: batches cross between namespaces, IPv4/IPv6/dual-stack, with pktinfo", async () => {
  const lab = await Lab.create("udp");
  const socks: DatagramSocket[] = [];
  try {
    const a = await lab.netns("a");
    const b = await lab.netns("b");
    await lab.veth(a, "eth0", b, "eth0");
    await lab.addr(a, "eth0", "10.77.0.1/24");
    await lab.addr(a, "eth0", "10.77.0.11/24");
    await lab.addr(a, "eth0", "fd00:77::1/64");
    await lab.addr(b, "eth0", "10.77.0.2/24");
    await lab.addr(b, "eth0", "fd00:77::2/64");

    const a4 = inNetns(a, () => openUdp({ bind: "0.0.0.0:0", rcvbuf: 1 << 20, batch: 32 }));
    socks.push(a4);
    const a6 = inNetns(a, () => openUdp({ bind: "[fd00:77::1]:0", v6Only: true, batch: 32 }));
    socks.push(a6);
    const bDual = inNetns(b, () => openUdp({ bind: "[::]:4789", rcvbuf: 1 << 21 }));
    socks.push(bDual);
    const b4 = inNetns(b, () => openUdp({ bind: "10.77.0.2:4790", rcvbuf: 1 << 21 }));
    socks.push(b4);
    assertEquals(bDual.local.port, 4789);
    assert(a4.local.port > 0, "port 0 gets an ephemeral port");

    // Warm the neighbour caches so the counted rounds measure the sockets.
    await exchange(a4, b4, { ip: ip("10.77.0.2"), port: 4790 }, null, 0xee, 1, 1);
    await exchange(a6, bDual, { ip: ip("fd00:77::2"), port: 4789 }, null, 0xef, 1, 1);

    // IPv4 to an AF_INET socket, from the primary address.
    const g1 = await exchange(a4, b4, { ip: ip("10.77.0.2"), port: 4790 }, null, 1, 16, 32);
    checkAll(g1, 512, "10.77.0.1", a4.local.port, "10.77.0.2");

    // IPv4 with a chosen source (IP_PKTINFO cmsg on sendmmsg) to the dual-stack socket.
    const g2 = await exchange(
      a4,
      bDual,
      { ip: ip("10.77.0.2"), port: 4789 },
      ip("10.77.0.11"),
      2,
      8,
      32,
    );
    checkAll(g2, 256, "10.77.0.11", a4.local.port, "10.77.0.2");

    // IPv6 to the dual-stack socket.
    const g3 = await exchange(a6, bDual, { ip: ip("fd00:77::2"), port: 4789 }, null, 3, 8, 32);
    checkAll(g3, 256, "fd00:77::1", a6.local.port, "fd00:77::2");

    // Dual-stack socket answering an IPv4 peer from a chosen (mapped) source, single sends.
    const got: Got[] = [];
    for (let seq = 0; seq < 64; seq++) {
      assertEquals(
        bDual.send(payload(4, seq), { ip: ip("10.77.0.1"), port: a4.local.port }, ip("10.77.0.2")),
        0,
      );
    }
    await waitFor(
      () => {
        drain(a4, 4, got);
        return got.length >= 64;
      },
      30_000,
      "64 single sends",
    );
    checkAll(got, 64, "10.77.0.2", 4789, "10.77.0.1");
    assertEquals(a4.stats.txDropped.size, 0);
    // IPv4 on the dual-stack socket came with IPV6_PKTINFO and IP_PKTINFO: both fit.
    for (const s of socks) assertEquals(s.stats.rxCtrunc, 0, "control data cut (MSG_CTRUNC)");
  } finally {
    for (const s of socks) s.close();
    await lab.close();
  }
});

Deno.test("ffi udp: oversize datagrams are flagged truncated, not overrun", () => {
  const rx = openUdp({ bind: "127.0.0.1:0", slotSize: 256, batch: 4 });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  try {
    assertEquals(tx.send(new Uint8Array(1000).fill(7), rx.local), 0);
    assertEquals(tx.send(new Uint8Array(100).fill(8), rx.local), 0);
    let n = 0;
    for (let i = 0; i < 1000 && n === 0; i++) n = rx.recv();
    assert(n >= 1);
    if (n === 1) n += rx.recv();
    assertEquals(n, 2);
    assertEquals([rx.rx.truncated[0], rx.rx.lens[0]], [1, 256]);
    assertEquals([rx.rx.truncated[1], rx.rx.lens[1]], [0, 100]);
    assertEquals(rx.stats.rxTruncated, 1);
    // A datagram larger than a send slot is refused with EMSGSIZE and counted.
    const small = openUdp({ bind: "127.0.0.1:0", slotSize: 256 });
    try {
      assertEquals(small.queue(new Uint8Array(300), rx.local), 90);
      assertEquals(small.stats.txDropped.get("EMSGSIZE"), 1);
    } finally {
      small.close();
    }
  } finally {
    rx.close();
    tx.close();
  }
});

Deno.test("ffi udp: udpGso sends runs of equal-size datagrams as one message, in order", async () => {
  const lab = await Lab.create("udpg");
  const socks: DatagramSocket[] = [];
  try {
    const a = await lab.netns("a");
    const b = await lab.netns("b");
    await lab.veth(a, "eth0", b, "eth0");
    await lab.addr(a, "eth0", "10.78.0.1/24");
    await lab.addr(a, "eth0", "fd00:78::1/64");
    await lab.addr(b, "eth0", "10.78.0.2/24");
    await lab.addr(b, "eth0", "fd00:78::2/64");
    const tx = inNetns(a, () => openUdp({ bind: "[::]:0", udpGso: true, batch: 64 }));
    socks.push(tx);
    const r1 = inNetns(b, () => openUdp({ bind: "10.78.0.2:0", rcvbuf: 1 << 21 }));
    socks.push(r1);
    const r2 = inNetns(b, () => openUdp({ bind: "[fd00:78::2]:0", v6Only: true, rcvbuf: 1 << 21 }));
    socks.push(r2);
    const to1 = { ip: ip("10.78.0.2"), port: r1.local.port };
    const to2 = { ip: ip("fd00:78::2"), port: r2.local.port };
    // Warm the neighbour caches.
    for (const [to, rx] of [[to1, r1], [to2, r2]] as const) {
      assertEquals(tx.send(Uint8Array.of(0xee), to), 0);
      await waitFor(() => rx.recv() > 0, 30_000, "warm-up datagram");
    }
    // Per destination: runs of 1000-byte datagrams, every 7th one 300 bytes (a run's end);
    // the destinations alternate in blocks of 20, so runs also end at a new address.
    const lens = (seq: number) => seq % 7 === 6 ? 300 : 1000;
    const make = (tag: number, seq: number) => {
      const p = new Uint8Array(lens(seq));
      p[0] = tag;
      new DataView(p.buffer).setUint32(1, seq);
      for (let k = 5; k < p.length; k++) p[k] = (seq + k) & 0xff;
      return p;
    };
    const got = new Map<number, number[]>([[1, []], [2, []]]);
    const collect = (rx: DatagramSocket, tag: number) => {
      for (let guard = 0; guard < 100; guard++) {
        const n = rx.recv();
        if (n === 0) return;
        for (let i = 0; i < n; i++) {
          const p = rx.rx.bufs[i].subarray(0, rx.rx.lens[i]);
          assertEquals(p[0], tag);
          const seq = new DataView(p.buffer, p.byteOffset).getUint32(1);
          assertEquals(p.length, lens(seq), `length of ${seq}`);
          for (let k = 5; k < p.length; k++) assertEquals(p[k], (seq + k) & 0xff);
          assertEquals(rx.rx.srcPort[i], tx.local.port);
          got.get(tag)!.push(seq);
        }
      }
    };
    const seq = new Map([[1, 0], [2, 0]]);
    for (let round = 0; round < 10; round++) {
      for (let block = 0; block < 6; block++) {
        const tag = block % 2 === 0 ? 1 : 2;
        for (let k = 0; k < 10; k++) {
          const s = seq.get(tag)!;
          seq.set(tag, s + 1);
          assertEquals(tx.queue(make(tag, s), tag === 1 ? to1 : to2), 0);
        }
      }
      assertEquals(tx.flush(), 0);
      await waitFor(
        () => {
          collect(r1, 1);
          collect(r2, 2);
          return got.get(1)!.length === seq.get(1) && got.get(2)!.length === seq.get(2);
        },
        30_000,
        `round ${round}`,
        2,
      );
    }
    for (const tag of [1, 2]) {
      assertEquals(got.get(tag), Array.from({ length: seq.get(tag)! }, (_, i) => i), "in order");
    }
    assertEquals(tx.stats.txGsoOff, 0, "the kernel took UDP_SEGMENT");
    assert(tx.stats.txGsoMessages > 0, "runs went as one message");
    assert(tx.stats.txGsoDatagrams >= 2 * tx.stats.txGsoMessages);
    assertEquals(tx.stats.txPackets, 2 + 600);
    assertEquals(tx.stats.txDropped.size, 0);
  } finally {
    for (const s of socks) s.close();
    await lab.close();
  }
});

Deno.test("ffi udp: a dual-stack socket takes IPv4 with both pktinfo cmsgs, no MSG_CTRUNC", async () => {
  const lab = await Lab.create("udpc");
  const socks: DatagramSocket[] = [];
  try {
    const a = await lab.netns("a");
    // Linux gives an AF_INET6 socket IPV6_PKTINFO and IP_PKTINFO for an IPv4 datagram
    // (40 + 32 control bytes); with UDP_GRO on, a 24-byte UDP_GRO cmsg may come first.
    for (const udpGro of [false, true]) {
      const dual = inNetns(a, () => openUdp({ bind: "[::]:0", batch: 8, udpGro }));
      socks.push(dual);
      const v4 = inNetns(a, () => openUdp({ bind: "127.0.0.1:0" }));
      socks.push(v4);
      for (let seq = 0; seq < 20; seq++) {
        assertEquals(v4.send(payload(9, seq), { ip: ip("127.0.0.1"), port: dual.local.port }), 0);
      }
      const got: Got[] = [];
      await waitFor(
        () => {
          drain(dual, 9, got);
          return got.length >= 20;
        },
        30_000,
        "20 IPv4 datagrams on the dual-stack socket",
        2,
      );
      checkAll(got, 20, "127.0.0.1", v4.local.port, "127.0.0.1");
      assertEquals(dual.stats.rxCtrunc, 0, `udpGro ${udpGro}: control data cut (MSG_CTRUNC)`);
      assertEquals(dual.rx.ifindex[0], 1, "ifindex of lo from the pktinfo");
    }
  } finally {
    for (const s of socks) s.close();
    await lab.close();
  }
});

/** Datagram `seq` of the GRO test: `len` bytes, tag, sequence number, then a pattern. */
function groPayload(tag: number, seq: number, len: number): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = tag;
  new DataView(p.buffer).setUint32(1, seq);
  for (let k = 5; k < len; k++) p[k] = (seq * 3 + k) & 0xff;
  return p;
}

Deno.test("ffi udp: udpGro receives GSO runs coalesced; cut by rx.segs they are what was sent", async () => {
  const lab = await Lab.create("udpr");
  const socks: DatagramSocket[] = [];
  try {
    const a = await lab.netns("a");
    const tx = inNetns(a, () => openUdp({ bind: "127.0.0.1:0", udpGso: true, batch: 64 }));
    socks.push(tx);
    const gro = inNetns(
      a,
      () =>
        openUdp({ bind: "127.0.0.1:0", udpGro: true, slotSize: 2048, rcvbuf: 1 << 22, batch: 16 }),
    );
    socks.push(gro);
    const plain = inNetns(
      a,
      () => openUdp({ bind: "127.0.0.1:0", slotSize: 2048, rcvbuf: 1 << 22, batch: 16 }),
    );
    socks.push(plain);
    // Dual-stack, as the supernode's default `::`: UDP_GRO + IPV6_PKTINFO + IP_PKTINFO cmsgs.
    const dual = inNetns(
      a,
      () => openUdp({ bind: "[::]:0", udpGro: true, slotSize: 2048, rcvbuf: 1 << 22, batch: 16 }),
    );
    socks.push(dual);
    assert(gro.gro && dual.gro, "the kernel took UDP_GRO");
    assertEquals(gro.stats.rxGroOff, 0);
    assert(!plain.gro);
    // Runs of 1200-byte datagrams ending in a shorter one (every 9th: 77 bytes); each
    // flush of 40 goes out as UDP_SEGMENT messages, which loopback hands to a GRO
    // socket whole and cuts for the others.
    const lens = (seq: number) => seq % 9 === 8 ? 77 : 1200;
    const want = 200;
    for (const [rx, tag] of [[gro, 1], [plain, 2], [dual, 3]] as const) {
      const to = { ip: ip("127.0.0.1"), port: rx.local.port };
      const got: number[] = [];
      let coalesced = 0, shortLast = 0;
      const collect = () => {
        for (let guard = 0; guard < 100; guard++) {
          const n = rx.recv();
          if (n === 0) return;
          for (let i = 0; i < n; i++) {
            assertEquals(rx.rx.truncated[i], 0);
            assertEquals(formatIp(rx.rx.dst[i]), "127.0.0.1", "pktinfo destination");
            const len = rx.rx.lens[i], seg = rx.rx.segs[i];
            if (rx === plain) assertEquals(seg, 0, "no coalesced entry without udpGro");
            const k = groSegments(len, seg);
            if (k > 1) {
              coalesced++;
              if (len % seg !== 0) shortLast++;
            }
            for (let j = 0; j < k; j++) {
              const end = seg > 0 ? Math.min(len, (j + 1) * seg) : len;
              const p = rx.rx.bufs[i].subarray(seg > 0 ? j * seg : 0, end);
              assertEquals(p[0], tag);
              const s = new DataView(p.buffer, p.byteOffset).getUint32(1);
              assertEquals(p.length, lens(s), `length of ${s}`);
              for (let b = 5; b < p.length; b++) assertEquals(p[b], (s * 3 + b) & 0xff);
              got.push(s);
            }
          }
        }
      };
      for (let seq = 0; seq < want;) {
        for (let k = 0; k < 40; k++, seq++) {
          assertEquals(tx.queue(groPayload(tag, seq, lens(seq)), to), 0);
        }
        assertEquals(tx.flush(), 0);
        await waitFor(
          () => {
            collect();
            return got.length >= seq;
          },
          30_000,
          `${seq} datagrams (have ${got.length})`,
          2,
        );
      }
      assertEquals(got, Array.from({ length: want }, (_, i) => i), "all, in order, once");
      assertEquals(rx.stats.rxPackets, want);
      if (rx !== plain) {
        assert(coalesced > 0, "some entries held several datagrams");
        assert(shortLast > 0, "some coalesced entries ended in a shorter datagram");
        assertEquals(rx.stats.rxGroMessages, coalesced);
        assert(rx.stats.rxGroDatagrams > rx.stats.rxGroMessages);
      } else {
        assertEquals([coalesced, rx.stats.rxGroMessages, rx.stats.rxGroDatagrams], [0, 0, 0]);
      }
      assertEquals(rx.stats.rxCtrunc, 0);
    }
    assert(tx.stats.txGsoMessages > 0, "the sender used UDP_SEGMENT");
  } finally {
    for (const s of socks) s.close();
    await lab.close();
  }
});

Deno.test("ffi udp: with udpGro a datagram or segment larger than slotSize is still flagged truncated", () => {
  const rx = openUdp({ bind: "127.0.0.1:0", slotSize: 256, batch: 4, udpGro: true });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  try {
    assert(rx.gro);
    assertEquals(tx.send(new Uint8Array(1000).fill(7), rx.local), 0);
    assertEquals(tx.send(new Uint8Array(100).fill(8), rx.local), 0);
    let n = 0;
    for (let i = 0; i < 1000 && n === 0; i++) n = rx.recv();
    assert(n >= 1);
    if (n === 1) n += rx.recv();
    assertEquals(n, 2);
    assertEquals([rx.rx.truncated[0], rx.rx.lens[0], rx.rx.segs[0]], [1, 256, 0]);
    assertEquals([rx.rx.truncated[1], rx.rx.lens[1], rx.rx.segs[1]], [0, 100, 0]);
    assertEquals(rx.stats.rxTruncated, 1);
    // A GSO run of 1000-byte datagrams: coalesced or not, each is above slotSize, so
    // whatever arrives is flagged truncated whole, never handed over as segments.
    const gso = openUdp({ bind: "127.0.0.1:0", udpGso: true });
    try {
      for (let k = 0; k < 4; k++) {
        assertEquals(gso.queue(new Uint8Array(1000).fill(k), rx.local), 0);
      }
      assertEquals(gso.flush(), 0);
      assertEquals(gso.stats.txGsoMessages, 1);
      let entries = 0;
      for (let i = 0; i < 1000 && entries < 1; i++) entries = rx.recv();
      assert(entries >= 1);
      for (let i = 0; i < entries; i++) {
        assertEquals([rx.rx.truncated[i], rx.rx.lens[i], rx.rx.segs[i]], [1, 256, 0]);
      }
      assertEquals(rx.stats.rxGroMessages, 0);
    } finally {
      gso.close();
    }
  } finally {
    rx.close();
    tx.close();
  }
});

Deno.test("ffi udp: queueView sends lent memory where it lies (no copy), other bytes copied; plain and GSO", () => {
  const rx = openUdp({ bind: "127.0.0.1:0", batch: 64, rcvbuf: 1 << 20 });
  const lent = new Arena(64 * 1024);
  const other = new Uint8Array(new ArrayBuffer(4096));
  try {
    for (const udpGso of [false, true]) {
      const tx = openUdp({ bind: "127.0.0.1:0", batch: 4, udpGso });
      try {
        tx.lend(lent);
        const got: number[][] = [];
        const drain = () => {
          for (let guard = 0; guard < 1000 && got.length < 9; guard++) {
            const n = rx.recv();
            for (let i = 0; i < n; i++) {
              const d = rx.rx.bufs[i].subarray(0, rx.rx.lens[i]);
              got.push([d.length, d[0], d[d.length - 1]]);
            }
          }
        };
        // Three views of the Arena (1000 bytes at 100-byte offsets), then one copy of other
        // memory: the batch of 4 fills and goes by itself.
        const views = [0, 1, 2].map((k) => lent.u8.subarray(100 + k * 2000, 1100 + k * 2000));
        views.forEach((v, k) => {
          v.fill(k + 1);
          assertEquals(tx.queueView(v, rx.local), 0);
          v.fill(0x40 + k); // after queueing: what goes is what lies there at the flush
        });
        other.fill(9);
        assertEquals(tx.queueView(other.subarray(0, 1000), rx.local), 0, "flushed the full batch");
        drain();
        assertEquals(got, [[1000, 0x40, 0x40], [1000, 0x41, 0x41], [1000, 0x42, 0x42], [
          1000,
          9,
          9,
        ]]);
        // The slots used for views take copies again: queue() after queueView().
        const copied = new Uint8Array(new ArrayBuffer(1000)).fill(7);
        for (let k = 0; k < 3; k++) assertEquals(tx.queue(copied, rx.local), 0);
        copied.fill(8); // after queueing: a copy keeps what was queued
        views[0].fill(0x50);
        assertEquals(tx.queueView(views[0], rx.local), 0);
        drain();
        assertEquals(got.slice(4), [[1000, 7, 7], [1000, 7, 7], [1000, 7, 7], [1000, 0x50, 0x50]]);
        // Not lent: copied at queue time.
        other.fill(3);
        assertEquals(tx.queueView(other.subarray(0, 500), rx.local), 0);
        other.fill(4);
        assertEquals(tx.flush(), 0);
        drain();
        assertEquals(got.slice(8), [[500, 3, 3]]);
        assertEquals(tx.stats.txPackets, 9);
        assertEquals(tx.stats.txViews, 4, "the views of lent memory, not the others");
        assertEquals(tx.stats.txDropped.size, 0);
        if (udpGso) assert(tx.stats.txGsoMessages >= 1, "views went as GSO runs");
      } finally {
        tx.close();
      }
    }
  } finally {
    rx.close();
  }
});
