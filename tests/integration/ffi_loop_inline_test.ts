/**
 * The readiness loop with `wait: "inline"`: poll() on the JS thread itself,
 * yielding one event-loop turn per slice. Packets flow; the JS side (timers,
 * an HTTP server, close() from a timer) still progresses while it runs;
 * deadlines fire.
 */
import { assert, assertEquals } from "../assert.ts";
import { IoLoop, runtimeEpollFds } from "../../ffi/loop.ts";
import { openUdp } from "../../ffi/udp.ts";
import { waitFor } from "../lab/netns.ts";

Deno.test("ffi loop inline: UDP echo, timers and an HTTP server keep running alongside", async () => {
  const server = openUdp({ bind: "127.0.0.1:0" });
  const client = openUdp({ bind: "127.0.0.1:0" });
  let deadline = performance.now() + 30;
  let deadlines = 0;
  const loop = new IoLoop({
    wait: "inline",
    sliceMs: 10,
    idleYieldMs: 20, // this test's own waits are timers, which an inline loop at rest runs late
    nextDeadline: () => deadline,
    onDeadline: (now) => {
      deadlines++;
      deadline = now + 30;
    },
  });
  let echoes = 0;
  loop.add(server.fd, () => {
    const n = server.recv();
    for (let i = 0; i < n; i++) {
      server.queue(server.rx.bufs[i].subarray(0, server.rx.lens[i]), {
        ip: server.rx.src[i],
        port: server.rx.srcPort[i],
      });
    }
    server.flush();
    return n;
  }, () => server.close());
  loop.add(client.fd, () => {
    const n = client.recv();
    echoes += n;
    return n;
  }, () => client.close());
  let ticks = 0;
  const interval = setInterval(() => ticks++, 5);
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  const done = loop.run();
  try {
    const p = new Uint8Array(64);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) client.queue(p, server.local);
      assertEquals(client.flush(), 0);
      await waitFor(() => echoes >= (round + 1) * 50, 30_000, `${(round + 1) * 50} echoes`, 1);
    }
    assertEquals(echoes, 1000);
    // Liveness, not speed: each of these only has to happen while the loop runs (the bounds
    // are generous, for a busy machine; how fast is the benchmarks' business).
    const res = await fetch(`http://127.0.0.1:${http.addr.port}/`, {
      signal: AbortSignal.timeout(30_000),
    });
    assertEquals(await res.text(), "ok", "the HTTP server answered while the loop ran inline");
    const ticks0 = ticks;
    await waitFor(() => ticks >= ticks0 + 5, 30_000, "5 more interval timer ticks", 5);
    await waitFor(() => deadlines >= 3, 30_000, "3 deadlines to fire", 5);
    assert(loop.stats.yields > 0, JSON.stringify(loop.stats));
  } finally {
    clearInterval(interval);
    setTimeout(() => void loop.close(), 1); // close() from a timer, as a signal handler would
    await done;
    await http.shutdown();
  }
  assertEquals([server.fd, client.fd], [-1, -1], "onClose closed the sockets");
});

Deno.test("ffi loop inline: handlers get the post-poll clock read; a deadline passed during heavy work fires at once", async () => {
  // Real time plus what the "heavy" handler work adds (50 ms per call with data).
  let extra = 0;
  let reads = 0;
  let last = 0;
  const clock = () => {
    reads++;
    return last = performance.now() + extra;
  };
  const s = openUdp({ bind: "127.0.0.1:0", rcvbuf: 1 << 20, batch: 4 });
  const tx = openUdp({ bind: "127.0.0.1:0" });
  let deadline = Infinity;
  const fired: { now: number; wakeups: number }[] = [];
  let workDoneAt = -1;
  const loop = new IoLoop({
    wait: "inline",
    sliceMs: 10,
    idleYieldMs: 20, // this test's own waits are timers, which an inline loop at rest runs late
    clock,
    nextDeadline: () => deadline,
    onDeadline: (now) => {
      fired.push({ now, wakeups: loop.stats.wakeups });
      deadline = Infinity;
    },
  });
  const got: number[] = [];
  let heavy = false;
  loop.add(
    s.fd,
    (now) => {
      const n = s.recv();
      if (n > 0) {
        got.push(now - last);
        if (heavy) extra += 50;
        workDoneAt = loop.stats.wakeups;
      }
      return n;
    },
    () => s.close(),
    s.rx.capacity,
  );
  const done = loop.run();
  const p = new Uint8Array(16);
  let lonePerWakeup = 0;
  let deadline0 = 0;
  try {
    // Lone packets, no deadline, no time passing: one read per wakeup.
    await new Promise((r) => setTimeout(r, 20));
    const before = { reads, wakeups: loop.stats.wakeups };
    for (let i = 0; i < 10; i++) {
      tx.queue(p, s.local);
      assertEquals(tx.flush(), 0);
      await waitFor(() => got.length === i + 1, 30_000, `packet ${i + 1}`, 1);
    }
    lonePerWakeup = (reads - before.reads) / (loop.stats.wakeups - before.wakeups);
    heavy = true;
    deadline = deadline0 = clock() + 30;
    loop.wake();
    for (let i = 0; i < 12; i++) tx.queue(p, s.local);
    assertEquals(tx.flush(), 0);
    await waitFor(() => fired.length === 1, 30_000, "the deadline");
  } finally {
    tx.close();
    await loop.close();
    await done;
  }
  assertEquals(lonePerWakeup, 1, "clock reads per wakeup");
  assertEquals(got.slice(0, 10), new Array(10).fill(0), "each handler got the loop's latest read");
  assert(fired[0].now >= deadline0, `never early: ${fired[0].now} < ${deadline0}`);
  assertEquals(fired[0].wakeups, workDoneAt, "fired right after the work, no poll in between");
});

Deno.test("ffi loop inline: at rest it does not wake", async () => {
  // The idle wakeups of issue 19: the loop used to poll in 10 ms slices and take an event-loop
  // turn after each, about 200 wakeups a second with nothing to do. Now it blocks until a
  // packet, a deadline, the runtime's own I/O (its epoll, polled beside ours) or, at rest,
  // idleYieldMs (1 s by default, for JavaScript timers).
  const s = openUdp({ bind: "127.0.0.1:0" });
  const loop = new IoLoop({ wait: "inline", nextDeadline: () => Infinity });
  loop.add(s.fd, () => s.recv(), () => s.close(), 8);
  const done = loop.run();
  try {
    await new Promise((r) => setTimeout(r, 200)); // start-up settles
    const before = loop.stats.wakeups;
    const t0 = performance.now();
    // A timer is all that ends this wait: it fires at the next turn (within about a second).
    await new Promise((r) => setTimeout(r, 3000));
    const seconds = (performance.now() - t0) / 1000;
    const wakeups = loop.stats.wakeups - before;
    // Generous: 2 a second is what an idle loop takes (a poll and a turn per idleYieldMs);
    // the 10 ms slices made about 200.
    assert(
      wakeups <= 10 * seconds,
      `${wakeups} wakeups in ${seconds.toFixed(1)} s at rest: ${JSON.stringify(loop.stats)}`,
    );
  } finally {
    await loop.close();
    await done;
  }
  assertEquals(s.fd, -1, "onClose closed the socket");
});

Deno.test("ffi loop inline: with no timed turns at all, the runtime's own I/O still gets its turns (an HTTP request from another process)", async () => {
  assert(runtimeEpollFds().length > 0, "the runtime's epoll fd is visible in /proc/self/fd");
  const s = openUdp({ bind: "127.0.0.1:0" });
  // idleYieldMs of a minute: at rest only the runtime's epoll (polled beside ours) ends the block
  // sooner (without it this test fails after a minute, it does not hang).
  const loop = new IoLoop({ wait: "inline", idleYieldMs: 60_000 });
  loop.add(s.fd, () => s.recv(), () => s.close(), 8);
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  const url = `http://127.0.0.1:${http.addr.port}/`;
  // The client is another process, started before the loop blocks: its request, its output
  // and its exit reach this runtime only through its epoll.
  const client = new Deno.Command(Deno.execPath(), {
    args: ["eval", `const r = await fetch("${url}"); console.log(await r.text());`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const done = loop.run(); // blocks on the JS thread until the runtime's epoll is readable
  try {
    const out = await client;
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "ok", "answered");
    assert(loop.stats.runtimeYields > 0, `runtime turns: ${JSON.stringify(loop.stats)}`);
  } finally {
    await loop.close();
    await done;
    await http.shutdown();
  }
});
