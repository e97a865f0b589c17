/**
 * UDP echo throughput on loopback: the FFI readiness loop (`ffi/loop.ts` +
 * recvmmsg/sendmmsg) against `Deno.listenDatagram`.
 *
 *   deno run -A tests/bench/udp_echo_bench.ts [packets] [window]
 *
 * Each server runs in its own process; this process is the client: it keeps
 * `window` datagrams in flight (sendmmsg/recvmmsg, poll with a 1 ms
 * timeout when idle), sends `packets` in all, and counts echoes. A window that makes
 * no progress for 200 ms is written off as lost. The whole run is bounded
 * (30 s per server). Prints packets/s per server.
 *
 * Roles (internal): `--server ffi` and `--server deno` print "PORT <n>" and
 * echo until killed.
 *
 * @module
 */
import { Arena, C, libc, size } from "../../ffi/libc.ts";
import { IoLoop } from "../../ffi/loop.ts";
import { openUdp } from "../../ffi/udp.ts";

const PAYLOAD = 64;

interface DatagramConn {
  receive(p?: Uint8Array): Promise<[Uint8Array, Deno.Addr]>;
  send(p: Uint8Array, addr: Deno.Addr): Promise<number>;
  readonly addr: Deno.NetAddr;
}

async function serverFfi(): Promise<void> {
  const s = openUdp({ bind: "127.0.0.1:0", rcvbuf: 4 << 20, sndbuf: 4 << 20, batch: 64 });
  const loop = new IoLoop();
  loop.add(s.fd, () => {
    const n = s.recv();
    const rx = s.rx;
    for (let i = 0; i < n; i++) {
      s.queue(rx.bufs[i].subarray(0, rx.lens[i]), { ip: rx.src[i], port: rx.srcPort[i] });
    }
    s.flush();
    return n;
  }, () => s.close());
  console.log(`PORT ${s.local.port}`);
  Deno.addSignalListener("SIGTERM", () => loop.close());
  await loop.run();
}

async function serverDeno(): Promise<void> {
  const listen = (Deno as unknown as { listenDatagram(o: object): DatagramConn }).listenDatagram;
  const conn = listen({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  console.log(`PORT ${conn.addr.port}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  const buf = new Uint8Array(2048);
  for (;;) {
    const [data, addr] = await conn.receive(buf);
    await conn.send(data, addr);
  }
}

/** Runs the client against 127.0.0.1:port; returns echoes per second. */
function client(port: number, total: number, window: number) {
  const s = openUdp({ bind: "127.0.0.1:0", rcvbuf: 4 << 20, sndbuf: 4 << 20, batch: 64 });
  const pfd = new Arena(64);
  pfd.view.setInt32(0, s.fd, true);
  pfd.view.setInt16(4, C.POLLIN, true);
  const to = { ip: s.local.ip, port };
  const p = new Uint8Array(PAYLOAD);
  let sent = 0, got = 0, lost = 0, inFlight = 0;
  const start = performance.now();
  let lastProgress = start;
  const end = start + 30_000;
  try {
    while (got + lost < total) {
      const now = performance.now();
      if (now > end) {
        lost += total - got - lost;
        break;
      }
      while (inFlight < window && sent < total) {
        s.queue(p, to);
        sent++;
        inFlight++;
      }
      s.flush();
      let n = s.recv();
      if (n === 0) {
        libc.poll(pfd.ptr, size(1), 1);
        n = s.recv();
      }
      if (n > 0) {
        got += n;
        inFlight -= n;
        lastProgress = now;
      } else if (now - lastProgress > 200) {
        lost += inFlight;
        inFlight = 0;
        lastProgress = now;
      }
    }
  } finally {
    s.close();
  }
  const secs = (performance.now() - start) / 1000;
  return { got, lost, secs, pps: got / secs };
}

async function bench(kind: "ffi" | "deno", total: number, window: number) {
  const flags = kind === "deno" ? ["--unstable-net"] : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...flags, import.meta.filename!, "--server", kind],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    const deadline = performance.now() + 10_000;
    while (!line.includes("\n") && performance.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    reader.releaseLock();
    const m = /PORT (\d+)/.exec(line);
    if (!m) throw new Error(`server ${kind} did not report its port: ${line}`);
    client(Number(m[1]), Math.min(20_000, total), window); // warm-up
    return client(Number(m[1]), total, window);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--server");
  const against = Deno.args.indexOf("--against");
  if (against >= 0) {
    // Calibration: an echo server started elsewhere (e.g. a C recvmmsg loop).
    const port = Number(Deno.args[against + 1]);
    client(port, 20_000, 256);
    const r = client(port, Number(Deno.args[against + 2] ?? 200_000), 256);
    console.log(
      `external server: ${Math.round(r.pps).toLocaleString("en")} packets/s (${r.lost} lost)`,
    );
  } else if (i >= 0) {
    await (Deno.args[i + 1] === "deno" ? serverDeno() : serverFfi());
  } else {
    const total = Number(Deno.args[0] ?? 200_000);
    const window = Number(Deno.args[1] ?? 256);
    console.log(
      `UDP echo on loopback, ${PAYLOAD}-byte payloads, ${total} packets, window ${window}`,
    );
    for (const kind of ["ffi", "deno"] as const) {
      const r = await bench(kind, total, window);
      console.log(
        `${kind === "ffi" ? "FFI loop (recvmmsg/sendmmsg)" : "Deno.listenDatagram        "}: ` +
          `${
            Math.round(r.pps).toLocaleString("en")
          } packets/s  (${r.got} echoed, ${r.lost} lost, ` +
          `${r.secs.toFixed(2)} s)`,
      );
    }
  }
}
