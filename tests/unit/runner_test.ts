/**
 * The runner (cmd/kit/runner.ts) over a real loopback UDP socket: it calls
 * the start hook, hands readable fds and deadlines the clock's `now`,
 * contains a handler that throws under the fd's name, and on `stop()` keeps
 * the loop running until `stopped(now)` before it closes the fd.
 */
import { assert, assertEquals } from "../assert.ts";
import { Runner } from "../../cmd/kit/runner.ts";
import { Containment } from "../../cmd/kit/contain.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { openUdp } from "../../ffi/udp.ts";

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert(cond(), `never happened (30 s): ${what}`);
}

Deno.test("runner: start, readable, contained throw, deadlines, stop waits for stopped() then closes", async () => {
  const lines: string[] = [];
  const log = new Logger({ level: "info", format: "text", debug: [] }, (l) => lines.push(l));
  const contain = new Containment("test", log.topic("test"));
  const fatal: string[] = [];
  const sock = openUdp({ bind: "127.0.0.1:0" });
  const client = openUdp({ bind: "127.0.0.1:0" });
  const got: number[] = [];
  let started = -1;
  let stopping = false;
  let pollsAfterStop = 0;
  let closed = 0;
  let due = Infinity;
  const runner = new Runner({ fatal: (r) => fatal.push(r), contain }, {
    watch: [{
      fd: sock.fd,
      name: "udp",
      onReadable: (now) => {
        assert(Number.isFinite(now) && now >= started, "handlers get the runner's clock");
        const n = sock.recv();
        for (let i = 0; i < n; i++) {
          const b = sock.rx.bufs[i][0];
          if (b === 0xff) throw new RangeError("bad first byte");
          got.push(b);
        }
        return n;
      },
      close: () => {
        closed++;
        sock.close();
      },
    }],
    nextDeadline: () => due,
    poll: (now) => {
      if (stopping) {
        pollsAfterStop++;
        due = now + 5; // a retransmission timer, as a StopCCN's
      } else due = Infinity;
    },
    start: (now) => {
      started = now;
      due = now; // a deadline due at once: poll runs
    },
    stop: (now) => {
      stopping = true;
      due = now;
    },
    stopped: () => pollsAfterStop >= 3,
  });
  try {
    assert(started >= 0, "start hook ran");
    client.send(new Uint8Array([1]), sock.local);
    await until(() => got.length === 1, "first datagram handled");
    client.send(new Uint8Array([0xff]), sock.local);
    await until(() => contain.total === 1, "the throwing datagram was contained");
    assertEquals(
      (contain.status().by_handler as Record<string, Record<string, number>>).udp,
      { RangeError: 1 },
      "counted under the fd's name",
    );
    client.send(new Uint8Array([2]), sock.local);
    await until(() => got.length === 2, "served on after the throw");
    assertEquals(got, [1, 2]);
    assertEquals(closed, 0);
  } finally {
    await runner.stop();
    client.close();
  }
  assert(pollsAfterStop >= 3, "the loop ran the stop hook's deadlines until stopped()");
  assertEquals(closed, 1, "the fd is closed once, when the loop closes");
  assertEquals(fatal, []);
});
