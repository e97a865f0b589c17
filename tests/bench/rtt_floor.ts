/**
 * Round-trip floor benchmark (not a test; root): the ping round trip that
 * any user-space TAP <-> UDP forwarder pays on this machine before it does
 * any work of its own, for C and for Deno through this repository's `ffi/`.
 *
 * Why: l2's ping RTT between two nodes (`L2_BENCH_RTT=1 deno task
 * bench:vpn`) is well above n2n's. Most of that gap is not l2's logic: a
 * forwarder with no logic at all, written with `ffi/`, already sits well
 * above the same forwarder in C, because the first FFI call after an idle
 * spell is much slower than the same syscall from C. This bench measures
 * that floor so a plan to shorten l2's RTT knows what it can win in l2 and
 * what only a different runtime or I/O model could.
 *
 * Lab: two namespaces joined by a veth pair (the underlay, 10.66.0.0/24).
 * For each forwarder row, one forwarder per namespace owns a TAP (MTU 1400,
 * 10.67.0.0/24) and sends every frame over UDP to the other; ping runs
 * from one namespace to the other's TAP address. Rows:
 *
 * 1. `underlay`: ping over the veth itself, no forwarder (the kernel's part).
 * 2. `c`: a minimal C forwarder (embedded below, built with `cc -O2` at run
 *    time): poll, then read()/sendto() or recv()/write().
 * 3. `deno`: `rtt_floor_forwarder.ts`, the same loop through `ffi/tap.ts`,
 *    `ffi/udp.ts` and `ffi/libc.ts`, waiting in `libc.poll` on the JS thread.
 * 4. `deno-aes`: the same with one AES-256-GCM seal per frame sent and one
 *    open per datagram received through `ffi/crypto.ts` `Aead` (what crypto
 *    through FFI adds to a lone packet: two seals and two opens per round
 *    trip), after `warmUpAead()`.
 * 5. `deno-worker`: row 3 waiting with `libc.poll_wait` (poll on Deno's FFI
 *    worker thread, the promise resolved on the JS thread) instead.
 * 6. `deno-hot`: row 3 after `L2_BENCH_FLOOD` flood pings (`ping -f`,
 *    default 5000) through it: V8 has then optimized the forwarding loop,
 *    its FFI calls take the fast path. Rows 3 to 5 run as a daemon does
 *    after a quiet start (only the 20 warm-up pings before the measured
 *    ones), so the difference between rows 3 and 6 is what V8's tiers cost.
 *
 * Each row: `L2_BENCH_PINGS` pings (default 300) at `L2_BENCH_PING_GAP`
 * seconds apart (default 0.01), then as many at `L2_BENCH_PING_GAP2`
 * (default 0.001; 0 skips it), after 20 warm-up pings that are not counted;
 * min / p50 / p90 / max in ms. `L2_BENCH_ROWS=underlay,c,deno,...` picks
 * rows. For forwarder rows, `work µs` is the time each forwarder spent per
 * wakeup from poll's return (in its own code) to the end of its forwarding,
 * pooled over both forwarders (each round trip is four such wakeups). It
 * includes the kernel's work inside the forwarder's syscalls, which on veth
 * is much of the path: a sendto() or TAP write() runs the receiving side's
 * stack (and the ICMP reply) before it returns. The rest of the RTT is
 * wakeup latency (the kernel waking the process, the return from poll into
 * JS) and whatever the kernel does outside those calls. The forwarders take
 * two clock reads per wakeup for it and treat a 1-byte datagram as a
 * command (reset / print the record).
 *
 * Under the table: the first syscall after an idle gap. A program sleeps
 * `L2_BENCH_IDLE_GAP_MS` (default 10) in poll() on an empty eventfd, then
 * times read() of it (EAGAIN), then the same read() again at once (warm), for
 * `L2_BENCH_IDLE_GAPS` rounds (default 200): from C (embedded, direct
 * calls) and from Deno through `ffi/libc.ts` (`rtt_floor_idle.ts`): slept in
 * the inline poll with the timed code in V8's lower tiers (JIT cold, as a
 * quiet daemon's) and optimized (JIT warm: 20,000 calls first), and slept
 * in `poll_wait`. p50 / p90 in µs, and what the pair of
 * clock reads around a call costs by itself.
 *
 * Numbers are for this machine only (two vCPUs shared with other work;
 * veth in one kernel): compare the rows of one run, and run it under
 * `flock /tmp/l2-bench.lock` with the load printed. Every wait is bounded;
 * the namespaces, processes and the build directory are removed at the end.
 *
 * Run: `deno run -A tests/bench/rtt_floor.ts`.
 *
 * @module
 */
import { Lab, run, waitFor } from "../lab/netns.ts";
import { CBuild } from "../lab/cbuild.ts";

const env = (k: string, d: string) => Deno.env.get(k) ?? d;
const PINGS = Number(env("L2_BENCH_PINGS", "300"));
const GAPS = [env("L2_BENCH_PING_GAP", "0.01"), env("L2_BENCH_PING_GAP2", "0.001")]
  .filter((g) => Number(g) > 0);
const WARM_PINGS = 20;
/** Flood pings (`ping -f`) before the warm-up pings of row deno-hot. */
const FLOOD = Number(env("L2_BENCH_FLOOD", "5000"));
const IDLE_GAPS = Number(env("L2_BENCH_IDLE_GAPS", "200"));
const IDLE_GAP_MS = Number(env("L2_BENCH_IDLE_GAP_MS", "10"));
/** Back-to-back calls before the idle rounds of the "JIT warm" probes (and of C's). */
const JIT_WARM_CALLS = 20_000;
const ALL_ROWS = ["underlay", "c", "deno", "deno-aes", "deno-worker", "deno-hot"] as const;
type RowKey = typeof ALL_ROWS[number];
const ROWS = env("L2_BENCH_ROWS", ALL_ROWS.join(",")).split(",").map((r) => r.trim());
for (const r of ROWS) {
  if (!(ALL_ROWS as readonly string[]).includes(r)) {
    throw new Error(`Cannot parse L2_BENCH_ROWS: unknown row "${r}" (${ALL_ROWS.join(", ")})`);
  }
}
if (!(Number.isInteger(PINGS) && PINGS > 0 && Number.isInteger(IDLE_GAPS) && IDLE_GAPS > 0)) {
  throw new Error("Cannot parse L2_BENCH_PINGS / L2_BENCH_IDLE_GAPS: expected positive integers");
}
if (GAPS.length === 0 || GAPS.some((g) => !(Number(g) < 10))) {
  throw new Error("Cannot parse L2_BENCH_PING_GAP: expected seconds between 0 and 10");
}
if (!(Number.isInteger(FLOOD) && FLOOD >= 0)) {
  throw new Error("Cannot parse L2_BENCH_FLOOD: expected a count of pings");
}
if (!(Number.isInteger(IDLE_GAP_MS) && IDLE_GAP_MS >= 0)) {
  throw new Error("Cannot parse L2_BENCH_IDLE_GAP_MS: expected a whole number of ms");
}

const UNDER = ["10.66.0.1", "10.66.0.2"];
const OVER = ["10.67.0.1", "10.67.0.2"];
const PORT = 7000;
const TAP_MTU = 1400;
/** Longest one ping run may take (the slowest spacing, lost pings, start-up). */
const PING_TIMEOUT_MS = 15_000 + 2 * PINGS * Math.max(...GAPS.map(Number)) * 1000;
/** Longest the flood of row deno-hot may take (`ping -w`). */
const FLOOD_MAX_S = 60;
/** A forwarder exits on its own after this long, whatever happens to the bench. */
const FWD_MAX_S = Math.ceil(
  60 + FLOOD_MAX_S + (WARM_PINGS + PINGS * GAPS.length) * 2 * Math.max(...GAPS.map(Number)),
);
const HERE = new URL(".", import.meta.url).pathname;

/** The C reference forwarder: argv tap port peer-ip peer-port max-seconds. */
const C_FORWARDER = `/* Minimal TAP <-> UDP forwarder, the C row of bench rtt_floor. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
static char buf[65536];
/* Work per wakeup in µs, and the 1-byte commands, as in rtt_floor_forwarder.ts. */
static double work[8192];
static int nwork, command_seen;
static void command(char c) {
  command_seen = 1;
  if (c == 'R') nwork = 0;
  if (c == 'S') {
    printf("STATS [");
    for (int i = 0; i < nwork; i++) printf(i ? ",%.3f" : "%.3f", work[i]);
    printf("]\\n");
    fflush(stdout);
  }
}
int main(int argc, char **argv) {
  if (argc != 6) return 2;
  int t = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (t < 0 || ioctl(t, TUNSETIFF, &ifr) < 0) { perror("tap"); return 1; }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("udp"); return 1; }
  struct sockaddr_in p = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[4]))};
  if (inet_pton(AF_INET, argv[3], &p.sin_addr) != 1) return 2;
  double end = now_s() + atof(argv[5]);
  printf("READY %s\\n", ifr.ifr_name);
  fflush(stdout);
  struct pollfd f[2] = {{t, POLLIN, 0}, {s, POLLIN, 0}};
  while (now_s() < end) {
    if (poll(f, 2, 200) <= 0) continue;
    double t0 = now_s();
    ssize_t n;
    if (f[0].revents)
      while ((n = read(t, buf, sizeof buf)) > 0)
        sendto(s, buf, n, 0, (struct sockaddr *)&p, sizeof p);
    if (f[1].revents)
      while ((n = recv(s, buf, sizeof buf, 0)) > 0) {
        if (n == 1) command(buf[0]);
        else if (write(t, buf, n) < 0) perror("write");
      }
    double us = (now_s() - t0) * 1e6;
    if (command_seen) command_seen = 0;
    else if (nwork < 8192) work[nwork++] = us;
  }
  return 0;
}
`;

/** The C side of the idle-call measurement (rtt_floor_idle.ts does the same in Deno). */
const C_IDLE = `/* First syscall after an idle gap, from C: argv gaps gap-ms. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#define WARMUP_ROUNDS 10
static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static void print(const char *name, const double *x, int n, const char *end) {
  printf("\\"%s\\":[", name);
  for (int i = 0; i < n; i++) printf(i ? ",%.3f" : "%.3f", x[i]);
  printf("]%s", end);
}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  int gaps = atoi(argv[1]), gap = atoi(argv[2]);
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  double *first = calloc(gaps, sizeof *first), *warm = calloc(gaps, sizeof *warm);
  double *clk = calloc(gaps, sizeof *clk);
  if (fd < 0 || gaps < 1 || !first || !warm || !clk) return 1;
  struct pollfd p = {fd, POLLIN, 0};
  char b[8];
  for (int i = 0; i < ${JIT_WARM_CALLS}; i++) /* as rtt_floor_idle.ts warms V8 */
    if (read(fd, b, 8) > 0) return 1;
  for (int i = 0; i < gaps + WARMUP_ROUNDS; i++) {
    poll(&p, 1, gap);
    double t0 = now_us();
    ssize_t r1 = read(fd, b, 8);
    double t1 = now_us();
    ssize_t r2 = read(fd, b, 8);
    double t2 = now_us();
    double t3 = now_us();
    if (r1 > 0 || r2 > 0) return 1; /* the eventfd must stay empty */
    if (i < WARMUP_ROUNDS) continue;
    int k = i - WARMUP_ROUNDS;
    first[k] = t1 - t0;
    warm[k] = t2 - t1;
    clk[k] = t3 - t2;
  }
  printf("{");
  print("first", first, gaps, ",");
  print("warm", warm, gaps, ",");
  print("clock", clk, gaps, "}\\n");
  return 0;
}
`;

/** One row of the RTT table. */
interface Row {
  name: string;
  /** Sorted round trips in ms, one array per spacing in GAPS. */
  times: number[][];
  /** Sorted µs of work per wakeup of both forwarders, per spacing (null: no forwarder). */
  work: (number[] | null)[];
  note: string;
}

/** Samples of one idle-call run, µs. */
interface Idle {
  first: number[];
  warm: number[];
  clock: number[];
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const fmt = (x: number, d: number) => Number.isNaN(x) ? "-" : x.toFixed(d);

function spread(sorted: number[]): string {
  return [0, 0.5, 0.9, 1].map((q) => fmt(quantile(sorted, q), 3)).join(" / ");
}

async function loadavg(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

/** Round trips of one ping run, ms, sorted. */
async function pings(lab: Lab, ns: string, addr: string, count: number, gap: string) {
  const r = await lab.exec(ns, ["ping", "-c", String(count), "-i", gap, "-W", "2", addr], {
    allowFail: true,
    timeoutMs: PING_TIMEOUT_MS,
  });
  return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

/** What `measure` needs from a row's forwarders. */
interface Forwarders {
  /** Clears their work records. */
  reset(): Promise<void>;
  /** Their work per wakeup since the reset, µs, sorted. */
  collect(): Promise<number[]>;
  /** What to add to the note once done (a forwarder that died). */
  after(): string;
}

/**
 * Waits until `addr` answers, sends the warm-up pings, then one ping run per
 * spacing, recording the forwarders' work per spacing when there are any.
 */
async function measure(
  lab: Lab,
  ns: string,
  addr: string,
  name: string,
  note: string,
  fwd: Forwarders | null = null,
  flood = 0,
): Promise<Row> {
  await waitFor(
    async () =>
      (await lab.exec(ns, ["ping", "-c", "1", "-W", "1", addr], { allowFail: true })).code === 0,
    20_000,
    `${name}: ${addr} reachable`,
    100,
  );
  if (flood > 0) {
    const args = ["-f", "-q", "-c", String(flood), "-w", String(FLOOD_MAX_S), addr];
    await lab.exec(ns, ["ping", ...args], {
      allowFail: true,
      timeoutMs: FLOOD_MAX_S * 1000 + 10_000,
    });
  }
  await pings(lab, ns, addr, WARM_PINGS, GAPS[0]);
  const times: number[][] = [];
  const work: (number[] | null)[] = [];
  for (const gap of GAPS) {
    await fwd?.reset();
    times.push(await pings(lab, ns, addr, PINGS, gap));
    work.push(fwd ? await fwd.collect() : null);
  }
  return { name, times, work, note: [note, fwd?.after() ?? ""].filter(Boolean).join("; ") };
}

/** Starts one forwarder per namespace (cmd(i) for node i), wires their TAPs, measures, stops them. */
async function forwarderRow(
  lab: Lab,
  ns: string[],
  tap: string,
  name: string,
  note: string,
  cmd: (i: number) => string[],
  flood = 0,
): Promise<Row> {
  const procs = ns.map((n, i) => lab.spawn(n, cmd(i)));
  const exited = procs.map(() => false);
  procs.forEach((p, i) => p.status.then(() => exited[i] = true));
  // Commands are 1-byte datagrams to each forwarder's port from its own namespace.
  const send = async (c: string) => {
    for (const n of ns) {
      await lab.exec(n, ["bash", "-c", `printf ${c} > /dev/udp/127.0.0.1/${PORT}`]);
    }
  };
  let collected = 0;
  const fwd: Forwarders = {
    reset: () => send("R"),
    async collect() {
      await send("S");
      collected++;
      const all: number[] = [];
      for (const p of procs) {
        const lines = () => p.stdout.split("\n").filter((l) => l.startsWith("STATS "));
        await waitFor(() => lines().length >= collected, 5000, `${name}: STATS`, 10);
        all.push(...JSON.parse(lines()[collected - 1].slice(6)) as number[]);
      }
      return all.sort((a, b) => a - b);
    },
    after: () =>
      procs.filter((_, i) => exited[i]).map((p) =>
        `a forwarder exited early: ${p.stderr.trim().split("\n").pop()}`
      ).join("; "),
  };
  try {
    for (const [i, p] of procs.entries()) {
      try {
        await waitFor(() => exited[i] || p.stdout.includes("READY"), 30_000, `${name}: READY`, 20);
      } catch (e) {
        throw new Error(`${name}: forwarder did not start: ${p.stderr.trim()}`, { cause: e });
      }
      if (!p.stdout.includes("READY")) {
        throw new Error(`${name}: forwarder exited at start: ${p.stderr.trim()}`);
      }
    }
    for (const [i, n] of ns.entries()) {
      await lab.ip(n, "link", "set", tap, "mtu", String(TAP_MTU), "up");
      await lab.addr(n, tap, `${OVER[i]}/24`);
    }
    return await measure(lab, ns[0], OVER[1], name, note, fwd, flood);
  } finally {
    for (const p of procs) await p.stop(1000);
  }
}

async function idle(cmd: string[]): Promise<Idle> {
  const r = await run(cmd, { timeoutMs: 30_000 + 3 * IDLE_GAPS * (IDLE_GAP_MS + 2) });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  const j = JSON.parse(last) as Idle;
  for (const k of ["first", "warm", "clock"] as const) j[k].sort((a, b) => a - b);
  return j;
}

function table(head: string[], cells: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => "| " + c.map((x, i) => x.padEnd(w[i])).join(" | ") + " |";
  return [line(head), line(w.map((n) => "-".repeat(n))), ...cells.map(line)].join("\n");
}

async function main(): Promise<void> {
  const loadStart = await loadavg();
  const started = new Date().toISOString();
  const deno = Deno.execPath();
  const cb = await CBuild.create("l2-bench-rtt-");
  let lab: Lab | null = null;
  const rows: Row[] = [];
  const idles: { name: string; r: Idle }[] = [];
  try {
    const cIdle = await cb.build("idle", C_IDLE);
    const cFwd = ROWS.includes("c") ? await cb.build("fwd", C_FORWARDER) : "";
    const idleTs = `${HERE}rtt_floor_idle.ts`;
    const g = [String(IDLE_GAPS), String(IDLE_GAP_MS)];
    idles.push({ name: "C, direct syscall", r: await idle([cIdle, ...g]) });
    for (
      const [name, wait, warm] of [
        ["Deno FFI, inline poll, JIT cold", "inline", "0"],
        ["Deno FFI, inline poll, JIT warm", "inline", String(JIT_WARM_CALLS)],
        ["Deno FFI, poll_wait, JIT warm", "worker", String(JIT_WARM_CALLS)],
      ]
    ) {
      idles.push({ name, r: await idle([deno, "run", "-A", idleTs, ...g, wait, warm]) });
    }

    lab = await Lab.create("rttfloor");
    const ns = [await lab.netns("a"), await lab.netns("b")];
    await lab.veth(ns[0], "up0", ns[1], "up0");
    await lab.addr(ns[0], "up0", `${UNDER[0]}/24`);
    await lab.addr(ns[1], "up0", `${UNDER[1]}/24`);

    const fwdTs = `${HERE}rtt_floor_forwarder.ts`;
    const denoFwd = (tap: string, wait: string, crypto: string) => (i: number) => [
      deno,
      "run",
      "-A",
      fwdTs,
      tap,
      String(PORT),
      UNDER[1 - i],
      String(PORT),
      wait,
      crypto,
      String(i + 1),
      String(FWD_MAX_S),
    ];
    for (const key of ROWS as RowKey[]) {
      switch (key) {
        case "underlay":
          rows.push(await measure(lab, ns[0], UNDER[1], "underlay (veth, no forwarder)", ""));
          break;
        case "c":
          rows.push(
            await forwarderRow(
              lab,
              ns,
              "rttc",
              "C forwarder",
              "cc -O2; poll, read/sendto, recv/write",
              (i) => [cFwd, "rttc", String(PORT), UNDER[1 - i], String(PORT), String(FWD_MAX_S)],
            ),
          );
          break;
        case "deno":
          rows.push(
            await forwarderRow(
              lab,
              ns,
              "rttin",
              "Deno forwarder, inline poll",
              "ffi/ tap + udp; libc.poll on the JS thread",
              denoFwd("rttin", "inline", "none"),
            ),
          );
          break;
        case "deno-aes":
          rows.push(
            await forwarderRow(
              lab,
              ns,
              "rttia",
              "Deno forwarder, inline poll, AES-256-GCM",
              "one seal and one open per packet (ffi/crypto.ts Aead), after warmUpAead()",
              denoFwd("rttia", "inline", "aes"),
            ),
          );
          break;
        case "deno-hot":
          rows.push(
            await forwarderRow(
              lab,
              ns,
              "rttih",
              "Deno forwarder, inline poll, JIT warm",
              `as "inline poll", after ${FLOOD} flood pings through it`,
              denoFwd("rttih", "inline", "none"),
              FLOOD,
            ),
          );
          break;
        case "deno-worker":
          rows.push(
            await forwarderRow(
              lab,
              ns,
              "rttwn",
              "Deno forwarder, poll_wait",
              "poll on the FFI worker thread, awaited",
              denoFwd("rttwn", "worker", "none"),
            ),
          );
          break;
      }
    }
  } finally {
    await lab?.close();
    await cb.close();
  }

  const loadEnd = await loadavg();
  const gapMs = GAPS.map((g) => Number(g) * 1000);
  const base = rows.find((r) => r.name.startsWith("underlay"));
  const head = ["path"];
  for (const [k, ms] of gapMs.entries()) {
    head.push(`gap ${ms} ms: min / p50 / p90 / max ms`);
    if (k === 0 && base) head.push("p50 - underlay ms");
    head.push(`work µs p50 / p90 (${ms} ms)`);
  }
  head.push("lost", "note");
  const cells = rows.map((r) => {
    const c = [r.name];
    for (const [k, t] of r.times.entries()) {
      c.push(spread(t));
      if (k === 0 && base) {
        c.push(r === base ? "-" : fmt(quantile(t, 0.5) - quantile(base.times[0], 0.5), 3));
      }
      const w = r.work[k];
      c.push(w ? `${fmt(quantile(w, 0.5), 1)} / ${fmt(quantile(w, 0.9), 1)}` : "-");
    }
    const lost = r.times.map((t) => PINGS - t.length);
    c.push(lost.some((l) => l > 0) ? lost.join(" / ") : "0", r.note);
    return c;
  });
  console.log(
    `\nRTT floor, ${PINGS} pings per spacing after ${WARM_PINGS} warm-up pings, ${started}, ` +
      `load ${loadStart} (start) ${loadEnd} (end)\n`,
  );
  console.log(table(head, cells));
  console.log(
    `\nFirst syscall after a ${IDLE_GAP_MS} ms idle gap: read() of an empty eventfd (EAGAIN) ` +
      `right after poll() timed out, then the same read() again (warm); ${IDLE_GAPS} gaps, µs\n`,
  );
  const q = (xs: number[]) => `${fmt(quantile(xs, 0.5), 2)} / ${fmt(quantile(xs, 0.9), 2)}`;
  console.log(table(
    ["caller", "first call p50 / p90", "warm call p50 / p90", "clock pair p50 / p90"],
    idles.map(({ name, r }) => [name, q(r.first), q(r.warm), q(r.clock)]),
  ));
  console.log(
    "\nCompare with l2 and n2n from the same period: L2_BENCH_RTT=1 deno task bench:vpn",
  );
}

if (import.meta.main) await main();
