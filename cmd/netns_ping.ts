/**
 * ICMP and ICMPv6 echo from inside a network namespace, with l2's own raw
 * sockets: what `ip netns exec NS ping -c COUNT -i INTERVAL -W TIMEOUT ADDR`
 * does, without iputils-ping (not installed on a minimal Debian). `l2 demo`
 * pings with it.
 *
 * The socket is opened inside the namespace (`inNetns`: a socket keeps the
 * namespace it was made in) and served from this process, so no child
 * process and no `ping` binary are needed. The session logic (sequence
 * numbers, matching, RTT figures) is `core/ping.ts`; here are only the
 * socket, the clock and the loop. Root (CAP_NET_RAW in the namespace).
 *
 * @module
 */
import { ipEquals, isV4, parseIp } from "../core/addr.ts";
import { IoLoop } from "../ffi/loop.ts";
import { inNetns } from "../ffi/netns.ts";
import { openRawIp } from "../ffi/raw.ts";
import { Pinger, type PingSummary } from "../core/ping.ts";
import { IP_PROTO } from "../core/wire/ipv4.ts";

/** How to ping. */
export interface NetnsPingOptions {
  /** Requests (default 1). */
  count?: number;
  /** Milliseconds between requests (default 200). */
  intervalMs?: number;
  /** Wait for replies after the last request, ms (default 2000). */
  timeoutMs?: number;
}

/**
 * Pings `target` (IPv4 or IPv6 text) from network namespace `ns` (a name
 * under /run/netns, or a path; null: this process's namespace) and returns
 * ping's figures. Throws on a bad address or when the socket cannot be opened.
 */
export async function pingFromNetns(
  ns: string | null,
  target: string,
  opts: NetnsPingOptions = {},
): Promise<PingSummary> {
  const parsed = parseIp(target);
  if (!parsed.ok) throw new Error(`Cannot parse ping target ${target}: ${parsed.reason}`);
  const to = { ip: parsed.value, port: 0 };
  const family: 4 | 6 = isV4(to.ip) ? 4 : 6;
  const protocol = family === 4 ? IP_PROTO.ICMP : IP_PROTO.IPV6_ICMP;
  const clock = () => performance.now();
  const pinger = new Pinger({
    family,
    ident: crypto.getRandomValues(new Uint16Array(1))[0],
    count: opts.count ?? 1,
    intervalMs: opts.intervalMs ?? 200,
    timeoutMs: opts.timeoutMs ?? 2000,
  }, clock());
  const open = () => openRawIp({ protocol, family, batch: 8, slotSize: 2048 });
  const sock = ns === null ? open() : inNetns(ns, open);
  let loop: IoLoop | null = null;
  const tick = (_late: number) => {
    // A fresh clock read: the send time is the start of the round trip.
    const now = clock();
    const req = pinger.poll(now);
    // A failed send (no route yet, neighbour table full) is a lost ping, as for ping.
    if (req) sock.send(req, to);
    if (pinger.done(now)) void loop?.close();
  };
  try {
    loop = new IoLoop({
      nextDeadline: () => pinger.nextDeadline(),
      onDeadline: tick,
      clock,
      wait: "inline",
      sliceMs: 20,
    });
    loop.add(
      sock.fd,
      (now) => {
        const n = sock.recv();
        const rx = sock.rx;
        for (let i = 0; i < n; i++) {
          if (rx.truncated[i] || !ipEquals(rx.src[i], to.ip)) continue;
          pinger.onPacket(rx.bufs[i], rx.offsets[i], rx.lens[i] - rx.offsets[i], now);
        }
        if (pinger.done(now)) void loop?.close();
        return n;
      },
      undefined,
      8,
    );
    tick(clock());
    await loop.run();
  } finally {
    await loop?.close();
    sock.close(); // on every path
  }
  return pinger.summary();
}

/**
 * One line in ping's terms: "5 pings to ADDR: 5/5 answered, 0% loss, rtt
 * min/avg/max/mdev = 0.301/0.412/0.588/0.094 ms" ("rtt 0.412 ms" for one).
 */
export function formatPing(target: string, s: PingSummary): string {
  const ms = (v: number | null) => (v ?? 0).toFixed(3);
  const rtt = s.received === 0
    ? ""
    : s.sent === 1
    ? `, rtt ${ms(s.avgMs)} ms`
    : `, rtt min/avg/max/mdev = ${[s.minMs, s.avgMs, s.maxMs, s.mdevMs].map(ms).join("/")} ms`;
  const dup = s.duplicates ? ` (+${s.duplicates} duplicates)` : "";
  return `${s.sent} ping${s.sent === 1 ? "" : "s"} to ${target}: ${s.received}/${s.sent} ` +
    `answered${dup}, ${s.lossPct}% loss${rtt}`;
}
