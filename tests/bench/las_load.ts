/**
 * LAS forwarding benchmark (not a test): the LAS alone, fed by a load
 * generator that speaks L2TPv3 itself. One process opens raw sockets in two
 * namespaces, brings up one session from each to a real `l2 las` on one VC
 * (the xconnect engine over in-memory frame devices), then offers frames
 * into session 1 at fixed rates and counts what the LAS switches to
 * session 2. No TAP, no inner IP stack: what is measured is the LAS.
 *
 * The LAS is measured from the kernel's side, so the generator's own limits
 * (it shares the machine's two cores) do not count against it: packets
 * into and out of the LAS's interface, and the LAS's CPU time per frame it
 * forwarded, which also gives the rate one core could sustain.
 * Run as root: `deno task bench:las` (BENCH_SECONDS per step, default 3).
 *
 * @module
 */
import { Lab } from "../lab/netns.ts";
import { Daemon, MAIN } from "../lab/l2proc.ts";
import { MemFrameDevice } from "../lab/twins.ts";
import { inNetns } from "../../ffi/netns.ts";
import { openRawIp } from "../../ffi/raw.ts";
import { parseIp } from "../../core/addr.ts";
import { IoLoop } from "../../ffi/loop.ts";
import { XconnectEngine } from "../../core/xconnect/engine.ts";
import { deviceWatch, socketWatch } from "../../cmd/kit/pump.ts";
import { writeDataHeader } from "../../core/l2tp/data_header.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { random32 } from "../../cmd/kit/host.ts";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "3");
/** BENCH_LAS_NICE=-10 runs the LAS at that priority, as if it had the machine to itself. */
const NICE = Deno.env.get("BENCH_LAS_NICE");
/** BENCH_RATES=80000,max and BENCH_SIZES=1400 pick steps (default: all). */
const RATES = (Deno.env.get("BENCH_RATES") ?? "20000,40000,80000,max").split(",")
  .map((r) => r === "max" ? 1_000_000 : Number(r));
const SIZES = (Deno.env.get("BENCH_SIZES") ?? "64,1400").split(",").map(Number);
/**
 * BENCH_LAS_WRAP: a command put in front of the LAS's `deno run ...` (space-separated), e.g. a
 * script that adds `--cpu-prof` or `--v8-flags=--trace-gc` to profile it.
 */
const WRAP = (Deno.env.get("BENCH_LAS_WRAP") ?? "").split(" ").filter((w) => w);
/**
 * BENCH_LAB=classic: the lab as first measured (the sink reads every frame through an xconnect
 * engine; the bridge runs br_netfilter). Default "lean": the sink namespace drops the LAS's data
 * on arrival (nftables) and the bridge namespace skips iptables, because on veth the receiver's work
 * runs inside the LAS's own sendmmsg and would be counted as the LAS's CPU.
 */
const LEAN = (Deno.env.get("BENCH_LAB") ?? "lean") !== "classic";
/**
 * BENCH_GEN=engine: frames go through the first edge's xconnect engine (a TAP twin, a header
 * per frame). Default "prebuilt": one data packet built once and sent in sendmmsg batches of
 * 256, so the generator spends its share of the two cores on the kernel, not on JavaScript.
 */
const PREBUILT = (Deno.env.get("BENCH_GEN") ?? "prebuilt") !== "engine";
/**
 * BENCH_FORWARDER=c: once the LAS has set the sessions up, it is killed and a minimal C
 * forwarder (C_SOURCE, built with `cc`: recvmmsg, rewrite the session id, sendmmsg) carries the
 * data in its place: the same lab's reference for what a raw-socket forwarder costs.
 */
const C_FORWARDER = Deno.env.get("BENCH_FORWARDER") === "c";
/**
 * BENCH_LAS_MAIN=/path/to/main.ts runs the LAS from another checkout (e.g. a `git worktree` of an
 * older revision), so two revisions of the LAS are measured by one generator, side by side.
 */
const LAS_MAIN = Deno.env.get("BENCH_LAS_MAIN") ?? MAIN;
const C_SOURCE =
  `/* Reference forwarder for bench:las: L2TPv3 over IP data from one session to another. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#define B 64
#define SLOT 9216
static unsigned char buf[B][SLOT];
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  uint32_t in = htonl(strtoul(argv[1], 0, 0)), out = htonl(strtoul(argv[2], 0, 0));
  struct sockaddr_in to = {.sin_family = AF_INET};
  inet_pton(AF_INET, argv[3], &to.sin_addr);
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, 115);
  int sz = 8 << 20;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0) return 1;
  struct mmsghdr rx[B], tx[B];
  struct iovec riov[B], tiov[B];
  memset(rx, 0, sizeof rx);
  memset(tx, 0, sizeof tx);
  for (int i = 0; i < B; i++) {
    riov[i] = (struct iovec){buf[i], SLOT};
    rx[i].msg_hdr.msg_iov = &riov[i];
    rx[i].msg_hdr.msg_iovlen = 1;
    tx[i].msg_hdr.msg_iov = &tiov[i];
    tx[i].msg_hdr.msg_iovlen = 1;
    tx[i].msg_hdr.msg_name = &to;
    tx[i].msg_hdr.msg_namelen = sizeof to;
  }
  struct pollfd p = {fd, POLLIN, 0};
  for (;;) {
    int n = recvmmsg(fd, rx, B, MSG_DONTWAIT, 0);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EINTR) return 1;
      poll(&p, 1, -1);
      continue;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
      unsigned char *b = buf[i];
      unsigned ihl = (b[0] & 15) * 4, len = rx[i].msg_len;
      if (len < ihl + 4 || memcmp(b + ihl, &in, 4) != 0) continue;
      memcpy(b + ihl, &out, 4);
      tiov[k] = (struct iovec){b + ihl, len - ihl};
      k++;
    }
    for (int s = 0; s < k;) {
      int r = sendmmsg(fd, tx + s, k - s, 0);
      s += r > 0 ? r : 1;
    }
  }
}
`;

async function linkPackets(lab: Lab, ns: string, dev: string): Promise<[number, number]> {
  const r = await lab.exec(ns, [
    "cat",
    `/sys/class/net/${dev}/statistics/rx_packets`,
    `/sys/class/net/${dev}/statistics/tx_packets`,
  ]);
  const [rx, tx] = r.stdout.trim().split("\n").map(Number);
  return [rx, tx];
}

/** Packets the namespace's IP protocol 115 raw sockets dropped (receive buffer full). */
async function rawDrops(lab: Lab, ns: string): Promise<number> {
  const r = await lab.exec(ns, ["cat", "/proc/net/raw"]);
  let drops = 0;
  for (const line of r.stdout.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 5 && f[1]?.endsWith(":0073")) drops += Number(f[f.length - 1]) || 0;
  }
  return drops;
}

/** Packets the kernel dropped because a CPU's input backlog was full (all namespaces). */
function backlogDrops(): number {
  let drops = 0;
  for (const line of Deno.readTextFileSync("/proc/net/softnet_stat").trim().split("\n")) {
    drops += parseInt(line.split(" ")[1], 16) || 0;
  }
  return drops;
}

/** CPU seconds of a process in user space and in the kernel. */
function cpuSeconds(pid: number): { user: number; sys: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
}

function frame(dst: number[], src: number[], len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08; // IPv4 EtherType: passes the default filter
  f[13] = 0x00;
  return f;
}

const lab = await Lab.create("lasload");
let lasd: Daemon | null = null;
let fwdDir: string | null = null;
try {
  const core = await lab.netns("core");
  const las = await lab.netns("las");
  const g1 = await lab.netns("g1");
  const g2 = await lab.netns("g2");
  const members: string[] = [];
  for (const [i, ns] of [las, g1, g2].entries()) {
    await lab.veth(ns, "up0", core, `p${i}`);
    await lab.addr(ns, "up0", `10.79.0.${i + 1}/24`);
    members.push(`p${i}`);
  }
  await lab.bridge(core, "br0", members);
  if (LEAN) {
    for (const k of ["iptables", "ip6tables", "arptables"]) {
      await lab.exec(core, ["sysctl", "-qw", `net.bridge.bridge-nf-call-${k}=0`]);
    }
  }
  lasd = new Daemon(LAS_MAIN, ["las", "--api", "off"], {}, [
    "ip",
    "netns",
    "exec",
    las,
    ...WRAP,
  ]);
  await lasd.waitLine(/listening for L2TPv3/);
  if (NICE) {
    await new Deno.Command("renice", { args: ["-n", NICE, "-p", String(lasd.pid)] }).output();
  }

  const log = new Logger({ level: "warn", format: "text", debug: [] }).topic("load");
  const lasIp = parseIp("10.79.0.1");
  if (!lasIp.ok) throw new Error(lasIp.reason);
  const edges = [g1, g2].map((ns) => {
    const sock = inNetns(
      ns,
      () => openRawIp({ protocol: 115, family: 4, batch: 256, slotSize: 2048, rcvbuf: 8 << 20 }),
    );
    const dev = new MemFrameDevice({ batch: 256, queueLimit: 4096 });
    const eng = new XconnectEngine({
      port: sock,
      kind: "ip",
      las: { ip: lasIp.value, port: 0 },
      lasName: "10.79.0.1",
      vcId: "9",
      device: dev,
      deviceName: dev.name,
      hostName: `load-${ns.slice(-2)}`,
      routerId: 1,
      random32,
      helloIntervalMs: 60_000,
      auth: null,
      log,
    });
    const sw = socketWatch({ name: "ip", socket: sock, engine: eng });
    const dw = deviceWatch({ name: "tap", device: dev, engine: eng });
    return { sock, dev, eng, sw, dw };
  });
  const clock = () => performance.now();
  let stop: () => Promise<void> = () => Promise.resolve();
  const loopDone = (async () => {
    const l = new IoLoop({
      clock,
      nextDeadline: () => Math.min(...edges.map((e) => e.eng.nextDeadline())),
      onDeadline: (now) => edges.forEach((e) => e.eng.poll(now)),
    });
    for (const e of edges) {
      l.add(e.sock.fd, () => e.sw.onReadable(clock()), () => e.sock.close());
    }
    for (const e of edges) e.eng.start(clock());
    stop = () => l.close();
    await l.run();
  })();
  const t0 = clock();
  while (edges.some((e) => e.eng.state !== "up")) {
    if (clock() - t0 > 15_000) throw new Error("sessions did not come up within 15 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  const A = [0x02, 0, 0, 0, 0, 0xa1];
  const B = [0x02, 0, 0, 0, 0, 0xb2];
  // Let the LAS learn B on session 2.
  edges[1].dev.inject(frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], B, 60));
  edges[1].dw.onReadable(clock());
  await new Promise((r) => setTimeout(r, 100));
  if (LEAN) {
    // The sink drops data for its session (IP protocol 115, session id at offset 20) before
    // routing (nftables, prerouting);
    // control messages (session id 0) still reach its engine.
    const st = edges[1].eng.snapshot(clock()) as { session: { local_session: number } };
    const sid = st.session.local_session >>> 0;
    const hook = "{ type filter hook prerouting priority -300; }";
    await lab.exec(g2, ["nft", "add", "table", "ip", "sink"]);
    await lab.exec(g2, ["nft", "add", "chain", "ip", "sink", "pre", hook]);
    await lab.exec(g2, [
      "nft",
      ...`add rule ip sink pre ip protocol 115 @nh,160,32 0x${sid.toString(16)} counter drop`
        .split(" "),
    ]);
  }

  let fwdPid = lasd.pid;
  if (C_FORWARDER) {
    fwdDir = await Deno.makeTempDir({ prefix: "l2-bench-fwd-" });
    await Deno.writeTextFile(`${fwdDir}/fwd.c`, C_SOURCE);
    const cc = await new Deno.Command("cc", {
      args: ["-O2", "-o", `${fwdDir}/fwd`, `${fwdDir}/fwd.c`],
    }).output();
    if (!cc.success) throw new Error(`cc failed: ${new TextDecoder().decode(cc.stderr)}`);
    const s0 = edges[0].eng.snapshot(clock()) as { session: { remote_session: number } };
    const s1 = edges[1].eng.snapshot(clock()) as { session: { local_session: number } };
    await lasd.close(); // the edges notice nothing within the run (HELLO after 60 s)
    const p = lab.spawn(las, [
      `${fwdDir}/fwd`,
      String(s0.session.remote_session),
      String(s1.session.local_session),
      "10.79.0.3",
    ]);
    fwdPid = p.pid;
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(
    `${
      C_FORWARDER ? "C reference forwarder" : "l2 las"
    } alone: L2TPv3 generator -> LAS -> sink, one VC, ${SECONDS} s per step` +
      (NICE ? `, LAS at nice ${NICE}` : "") + (LEAN ? ", lean lab" : ", classic lab") +
      (PREBUILT ? ", prebuilt packets" : ", generator through an xconnect engine"),
  );
  console.log(
    "frame  offered/s  LAS in/s  LAS out/s  LAS loss  LAS CPU  CPU us/frame  one-core frames/s" +
      "  socket drops  backlog drops  user us/frame",
  );
  for (const len of SIZES) {
    const f = frame(B, A, len);
    // The LAS runs with its default config: it assigns no cookie and wants no sublayer.
    const st0 = edges[0].eng.snapshot(clock()) as { session: { remote_session: number } };
    const pkt = new Uint8Array(4 + len);
    writeDataHeader(pkt, 0, "ip", st0.session.remote_session, {
      cookie: new Uint8Array(0),
      sublayer: false,
    }, -1);
    pkt.set(f, 4);
    const las0 = { ip: lasIp.value, port: 0 };
    for (const rate of RATES) {
      const [rx0, tx0] = await linkPackets(lab, las, "up0");
      const d0 = await rawDrops(lab, las);
      const b0 = backlogDrops();
      const c0 = cpuSeconds(fwdPid);
      const start = clock();
      let sent = 0;
      while (clock() - start < SECONDS * 1000) {
        const due = Math.floor((clock() - start) / 1000 * rate);
        while (sent < due) {
          const n = Math.min(due - sent, 256);
          if (PREBUILT) {
            for (let i = 0; i < n; i++) edges[0].sock.queue(pkt, las0);
            edges[0].sock.flush();
          } else {
            for (let i = 0; i < n; i++) edges[0].dev.inject(f);
            edges[0].dw.onReadable(clock());
          }
          sent += n;
          if (clock() - start >= SECONDS * 1000) break;
        }
        edges[1].dev.takeWritten();
        await new Promise((r) => setTimeout(r, 0));
      }
      await new Promise((r) => setTimeout(r, 300)); // let the LAS finish its queue
      const secs = (clock() - start - 300) / 1000;
      const [rx1, tx1] = await linkPackets(lab, las, "up0");
      const drops = await rawDrops(lab, las) - d0;
      const backlog = backlogDrops() - b0;
      const c1 = cpuSeconds(fwdPid);
      const cpu = c1.user + c1.sys - c0.user - c0.sys;
      const inn = rx1 - rx0, out = tx1 - tx0;
      const userUs = out > 0 ? (c1.user - c0.user) / out * 1e6 : NaN;
      const us = out > 0 ? cpu / out * 1e6 : NaN;
      console.log(
        `${String(len).padStart(5)}  ${(rate >= 1_000_000 ? "max" : String(rate)).padStart(9)}  ${
          Math.round(inn / secs).toString().padStart(8)
        }  ${Math.round(out / secs).toString().padStart(9)}  ${
          (inn > 0 ? (1 - out / inn) * 100 : 0).toFixed(1).padStart(7)
        }%  ${Math.round(cpu / secs * 100).toString().padStart(6)}%  ${
          us.toFixed(1).padStart(12)
        }  ${Math.round(1e6 / us).toString().padStart(17)}  ${String(drops).padStart(12)}  ${
          String(backlog).padStart(13)
        }  ${userUs.toFixed(1).padStart(13)}`,
      );
    }
  }
  if (LEAN) {
    const r = await lab.exec(g2, ["nft", "list", "table", "ip", "sink"]);
    const m = /counter packets (\d+)/.exec(r.stdout);
    console.log(`sink: ${m ? m[1] : "?"} data packets dropped on arrival (all steps)`);
  }
  await stop();
  await loopDone;
  if (!C_FORWARDER) {
    lasd.kill("SIGTERM"); // a clean exit, so a profiler (BENCH_LAS_WRAP) writes its output
    await lasd.exited(5000);
  }
} catch (e) {
  // Say what the LAS said last, e.g. when it exited under load.
  console.error(`LAS log (last lines):\n${lasd?.lines.slice(-20).join("\n")}`);
  throw e;
} finally {
  await lasd?.close();
  await lab.close();
  if (fwdDir) await Deno.remove(fwdDir, { recursive: true });
}
