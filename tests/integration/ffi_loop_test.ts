/**
 * The readiness loop: echo over loopback through IoLoop handlers, timers
 * from `nextDeadline`, `wake()`, round-robin fairness under a budget, a
 * throwing handler stopping the loop, and `close()` interrupting a poll.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { IoLoop } from "../../ffi/loop.ts";
import { type DatagramSocket, openUdp } from "../../ffi/udp.ts";
import { waitFor } from "../lab/netns.ts";

Deno.test("ffi loop: UDP echo through handlers, no loss at a modest rate", async () => {
  const server = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 20 });
  const client = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 20 });
  const loop = new IoLoop();
  const seen = new Uint8Array(4000);
  let echoes = 0;
  loop.add(server.fd, () => {
    const n = server.recv();
    const rx = server.rx;
    for (let i = 0; i < n; i++) {
      server.queue(rx.bufs[i].subarray(0, rx.lens[i]), { ip: rx.src[i], port: rx.srcPort[i] });
    }
    server.flush();
    return n;
  }, () => server.close());
  loop.add(client.fd, () => {
    const n = client.recv();
    for (let i = 0; i < n; i++) {
      const seq = new DataView(client.rx.bufs[i].buffer, client.rx.bufs[i].byteOffset).getUint32(0);
      seen[seq]++;
      echoes++;
    }
    return n;
  }, () => client.close());
  const done = loop.run();
  try {
    const p = new Uint8Array(64);
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 100; i++) {
        new DataView(p.buffer).setUint32(0, round * 100 + i);
        client.queue(p, server.local);
      }
      assertEquals(client.flush(), 0);
      const want = (round + 1) * 100;
      await waitFor(() => echoes >= want, 30_000, `${want} echoes`, 1);
    }
    assertEquals(echoes, 4000);
    assert(seen.every((x) => x === 1), "every datagram echoed exactly once");
    assert(loop.stats.wakeups > 0 && loop.stats.packets === 8000, JSON.stringify(loop.stats));
  } finally {
    await loop.close();
    await done;
  }
  assertEquals([server.fd, client.fd], [-1, -1], "onClose closed the sockets");
});

Deno.test("ffi loop: deadlines fire from nextDeadline, and wake() re-reads it", async () => {
  let deadline = performance.now() + 20;
  const fired: number[] = [];
  let early = 0;
  const loop = new IoLoop({
    nextDeadline: () => deadline,
    onDeadline: (now) => {
      fired.push(now);
      if (now < deadline) early++;
      deadline = Infinity;
    },
  });
  const done = loop.run();
  try {
    await waitFor(() => fired.length === 1, 30_000, "first deadline");
    // The loop now sleeps with no timeout; moving the deadline needs a wake().
    deadline = performance.now();
    loop.wake();
    await waitFor(() => fired.length === 2, 30_000, "deadline after wake()");
    // JS timers keep running while the loop waits in poll().
    let timerRan = false;
    await new Promise<void>((r) =>
      setTimeout(() => {
        timerRan = true;
        r();
      }, 5)
    );
    assert(timerRan);
  } finally {
    await loop.close();
    await done;
  }
  assertEquals(loop.stats.deadlines, 2);
  assertEquals(early, 0, "onDeadline never runs before the deadline");
});

Deno.test("ffi loop: a busy fd cannot starve another (round-robin under a budget)", async () => {
  const a = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 21, batch: 16 });
  const b = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 21, batch: 16 });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  const p = new Uint8Array(32);
  for (let i = 0; i < 640; i++) tx.queue(p, a.local);
  for (let i = 0; i < 64; i++) tx.queue(p, b.local);
  assertEquals(tx.flush(), 0);
  tx.close();
  const order: string[] = [];
  let got = 0;
  const loop = new IoLoop({ budget: 64 });
  loop.add(a.fd, () => {
    const n = a.recv();
    if (n) order.push("a");
    got += n;
    return n;
  }, () => a.close());
  loop.add(b.fd, () => {
    const n = b.recv();
    if (n) order.push("b");
    got += n;
    return n;
  }, () => b.close());
  const done = loop.run();
  try {
    await waitFor(() => got === 704, 30_000, "all 704 datagrams");
  } finally {
    await loop.close();
    await done;
  }
  // b's 64 datagrams (4 batches) are served interleaved with a's first
  // batches, not after a's 640 (40 batches).
  const lastB = order.lastIndexOf("b");
  assertEquals(order.slice(0, 8), ["a", "b", "a", "b", "a", "b", "a", "b"]);
  assert(lastB < 10, order.join(""));
  assert(loop.stats.budgetHits >= 1, "a stopped at its budget at least once");
});

Deno.test("ffi loop: with a batch size, a short batch ends the fd's turn (no empty read)", async () => {
  // Two sockets, batch 8: `hinted` tells the loop, `plain` does not. Both get a burst of 20
  // (8 + 8 + 4) and then 3 datagrams; only `plain` is called again to find nothing.
  const hinted = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 20, batch: 8 });
  const plain = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 20, batch: 8 });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  const calls = { hinted: [] as number[], plain: [] as number[] };
  const loop = new IoLoop();
  loop.add(
    hinted.fd,
    () => {
      const n = hinted.recv();
      calls.hinted.push(n);
      return n;
    },
    () => hinted.close(),
    hinted.rx.capacity,
  );
  loop.add(plain.fd, () => {
    const n = plain.recv();
    calls.plain.push(n);
    return n;
  }, () => plain.close());
  const total = (a: number[]) => a.reduce((x, y) => x + y, 0);
  const done = loop.run();
  try {
    const p = new Uint8Array(32);
    for (const burst of [20, 3]) {
      for (let i = 0; i < burst; i++) {
        tx.queue(p, hinted.local);
        tx.queue(p, plain.local);
      }
      assertEquals(tx.flush(), 0);
      const want = total(calls.hinted) + burst;
      await waitFor(
        () => total(calls.hinted) === want && total(calls.plain) === want,
        30_000,
        `${want} datagrams on each socket`,
        1,
      );
      await waitFor(() => calls.plain.at(-1) === 0, 30_000, "plain socket drained", 1);
    }
  } finally {
    tx.close();
    await loop.close();
    await done;
  }
  assertEquals(total(calls.hinted), 23);
  assertEquals(calls.hinted.filter((n) => n === 0).length, 0, `hinted: ${calls.hinted}`);
  assert(calls.hinted.filter((n) => n === 8).length >= 2, `full batches went on: ${calls.hinted}`);
  assert(calls.plain.filter((n) => n === 0).length >= 2, `plain: ${calls.plain}`);
  const other = new IoLoop();
  try {
    assertThrows(() => other.add(1, () => 0, undefined, 0), RangeError, "batch must be an integer");
  } finally {
    await other.close();
  }
});

Deno.test("ffi loop: a throwing handler stops the loop; run() rejects; fds are closed", async () => {
  const s = openUdp({ bind: "127.0.0.1:0" });
  const loop = new IoLoop();
  let closed = false;
  loop.add(s.fd, () => {
    throw new Error("handler failed");
  }, () => {
    closed = true;
    s.close();
  });
  const done = loop.run();
  const tx: DatagramSocket = openUdp({ bind: "127.0.0.1:0" });
  tx.send(new Uint8Array(8), s.local);
  tx.close();
  await assertRejects(() => done, Error, "handler failed");
  assert(closed);
  await loop.close(); // idempotent after a failure
});

Deno.test("ffi loop: close() interrupts a poll with no timeout", async () => {
  const s = openUdp({ bind: "127.0.0.1:0" });
  const loop = new IoLoop();
  loop.add(s.fd, () => s.recv(), () => s.close());
  const done = loop.run();
  await new Promise((r) => setTimeout(r, 20));
  await loop.close();
  await done;
  assertEquals(s.fd, -1);
});

Deno.test("ffi loop: remove() during a poll, then close the fd: the loop carries on", async () => {
  const gone = openUdp({ bind: "127.0.0.1:0" });
  const kept = openUdp({ bind: "127.0.0.1:0" });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  let calledGone = 0, got = 0;
  const loop = new IoLoop();
  loop.add(gone.fd, () => {
    calledGone++;
    return gone.recv();
  });
  loop.add(kept.fd, () => {
    const n = kept.recv();
    got += n;
    return n;
  }, () => kept.close());
  const done = loop.run();
  try {
    await new Promise((r) => setTimeout(r, 10)); // the poll is in flight
    loop.remove(gone.fd);
    gone.close();
    for (let i = 0; i < 5; i++) tx.send(new Uint8Array(4), kept.local);
    await waitFor(() => got === 5, 30_000, "datagrams on the kept fd");
  } finally {
    tx.close();
    await loop.close();
    await done;
  }
  assertEquals(calledGone, 0);
  assertEquals(kept.fd, -1);
});

Deno.test("ffi loop: handlers get the clock read when the poll returned, one read per lone-packet wakeup", async () => {
  const s = openUdp({ bind: "127.0.0.1:0" });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  let reads = 0;
  let last = 0;
  const clock = () => {
    reads++;
    return last = performance.now();
  };
  const loop = new IoLoop({ clock });
  const seen: { now: number; last: number; sentAt: number; at: number }[] = [];
  let sentAt = 0;
  loop.add(
    s.fd,
    (now) => {
      const n = s.recv();
      if (n > 0) seen.push({ now, last, sentAt, at: performance.now() });
      return n;
    },
    () => s.close(),
    s.rx.capacity,
  );
  const done = loop.run();
  let readsPerPacket = 0;
  try {
    const p = new Uint8Array(16);
    for (let i = 0; i < 20; i++) {
      sentAt = performance.now();
      tx.queue(p, s.local);
      assertEquals(tx.flush(), 0);
      await waitFor(() => seen.length === i + 1, 30_000, `packet ${i + 1}`, 1);
    }
    const before = { reads, wakeups: loop.stats.wakeups };
    for (let i = 0; i < 20; i++) {
      tx.queue(p, s.local);
      assertEquals(tx.flush(), 0);
      await waitFor(() => seen.length === 21 + i, 30_000, `packet ${21 + i}`, 1);
    }
    readsPerPacket = (reads - before.reads) / (loop.stats.wakeups - before.wakeups);
  } finally {
    tx.close();
    await loop.close();
    await done;
  }
  for (const x of seen) {
    assertEquals(x.now, x.last, "the handler's now is the loop's latest clock read");
    assert(x.now >= x.sentAt && x.now <= x.at, "read after the poll returned, before the handler");
  }
  // No deadlines, lone packets: the post-poll read is the only one.
  assertEquals(readsPerPacket, 1, `clock reads per wakeup`);
});

Deno.test("ffi loop: after heavy work the clock is read again, so an overdue deadline fires without another poll", async () => {
  // A fake clock: only handler work moves it (50 ms per call), so the
  // deadline falls inside that work.
  let t = 1000;
  const clock = () => t;
  const a = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 20, batch: 4 });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  let deadline = Infinity;
  const fired: { now: number; wakeups: number }[] = [];
  let workDoneAt = -1;
  const loop = new IoLoop({
    clock,
    nextDeadline: () => deadline,
    onDeadline: (now) => {
      fired.push({ now, wakeups: loop.stats.wakeups });
      deadline = Infinity;
    },
  });
  const passNow: number[] = [];
  loop.add(
    a.fd,
    (now) => {
      const n = a.recv();
      if (n > 0) {
        passNow.push(now);
        t += 50;
        workDoneAt = loop.stats.wakeups;
      }
      return n;
    },
    () => a.close(),
    a.rx.capacity,
  );
  const done = loop.run();
  try {
    deadline = t + 30;
    loop.wake();
    const p = new Uint8Array(16);
    for (let i = 0; i < 12; i++) tx.queue(p, a.local);
    assertEquals(tx.flush(), 0);
    await waitFor(() => fired.length === 1, 30_000, "the deadline");
  } finally {
    tx.close();
    await loop.close();
    await done;
  }
  assert(fired[0].now >= 1030, `never early: fired at ${fired[0].now}`);
  // Without a fresh read the loop would have slept the 30 ms it computed from the stale time.
  assertEquals(fired[0].wakeups, workDoneAt, "fired right after the work, no poll in between");
  // Every further pass of one wakeup sees a fresh time.
  assert(passNow.length >= 2, `passes: ${passNow}`);
  assertEquals(new Set(passNow).size, passNow.length, `a fresh now per pass: ${passNow}`);
});
