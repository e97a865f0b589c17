/**
 * A bounded, seeded packet fuzzer for the daemon fuzz test
 * (tests/integration/daemon_fuzz_test.ts), run inside a namespace:
 *
 * - `fuzz_send.ts sniff PROTO STOPFILE MAX`: records up to MAX packets of IP
 *   protocol PROTO (17: UDP, 115: L2TPv3) arriving in this namespace, until
 *   STOPFILE exists (or 30 s), then prints one JSON line per packet:
 *   `{"src","sport","dport","hex"}` (UDP: the UDP payload; 115: the IP payload).
 *   A raw socket sees a copy of every packet of its protocol: real packets of
 *   real daemons, the seeds of the mutations.
 * - `fuzz_send.ts echo BIND STOPFILE` / `probe TARGET TIMEOUT_MS`: a UDP echo
 *   and a probe of it (exit 0 once answered), for traffic through a tunnel
 *   on a machine without `ping`.
 * - `fuzz_send.ts send` with a JSON `FuzzPlan` on standard input: sends
 *   `extra` as they are from every source socket, then `count` mutations of
 *   the seeds from the `sources` addresses in turn, over UDP (a few source
 *   ports each) or raw IP protocol 115; prints how many went out.
 *
 * Mutations: truncation, bit flips, bytes set to 0x00/0xff/random, 16-bit
 * fields maxed or zeroed, a length field maxed, splices of two seeds,
 * replays, random bytes; for L2TPv3 control messages also AVP lengths
 * maxed or cut, M/H bits toggled, random AVPs appended and random message
 * types; for the VPN header random message types and flags.
 *
 * @module
 */
import { openRawIp } from "../../ffi/raw.ts";
import { openUdp } from "../../ffi/udp.ts";
import { formatIp, parseEndpoint, parseIp } from "../../core/addr.ts";
import type { DatagramSocket } from "../../ffi/dgram.ts";
import { seededRandom } from "./twins.ts";

/** What `send` does. */
export interface FuzzPlan {
  proto: "udp" | "ip";
  dst: string;
  /** UDP destination port (ignored for "ip"). */
  dport: number;
  /** Local addresses to send from (each must be on an interface of the namespace). */
  sources: string[];
  /** Valid packets to mutate, hex. */
  seeds: string[];
  /** Packets sent as they are first, once from every source socket, hex (e.g. a crash packet). */
  extra?: string[];
  count: number;
  seed: number;
  /** "l2tp-ip", "l2tp-udp" or "vpn": which structure-aware mutations apply. */
  shape: "l2tp-ip" | "l2tp-udp" | "vpn";
}

const fromHex = (h: string) => new Uint8Array((h.match(/../g) ?? []).map((x) => parseInt(x, 16)));
const toHex = (b: Uint8Array) => [...b].map((v) => v.toString(16).padStart(2, "0")).join("");

/** Mutates `seeds` deterministically from `rnd`. */
export function mutator(seeds: Uint8Array[], shape: FuzzPlan["shape"], rnd: () => number) {
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(a: T[]) => a[int(a.length)];
  const ctlOff = shape === "l2tp-ip" ? 4 : 0;
  /** AVP offsets of an L2TPv3 control message (walks while lengths are sane). */
  const avps = (p: Uint8Array): number[] => {
    const out: number[] = [];
    let off = ctlOff + 12;
    while (off + 6 <= p.length) {
      const len = ((p[off] << 8) | p[off + 1]) & 0x3ff;
      out.push(off);
      if (len < 6) break;
      off += len;
    }
    return out;
  };
  const isControl = (p: Uint8Array) =>
    p.length >= ctlOff + 12 && (p[ctlOff] & 0x80) !== 0 &&
    (shape !== "l2tp-ip" || (p[0] | p[1] | p[2] | p[3]) === 0);
  const ops: ((p: Uint8Array) => Uint8Array)[] = [
    (p) => p.subarray(0, int(p.length + 1)), // truncation
    (p) => {
      for (let k = 1 + int(8); k > 0 && p.length; k--) p[int(p.length)] ^= 1 << int(8);
      return p;
    },
    (p) => {
      if (p.length) p[int(p.length)] = pick([0, 0xff, int(256)]);
      return p;
    },
    (p) => {
      if (p.length >= 2) {
        const o = int(p.length - 1);
        const v = pick([0xffff, 0, 0x8000, int(65536)]);
        p[o] = v >> 8;
        p[o + 1] = v & 0xff;
      }
      return p;
    },
    (p) => {
      // a splice: this one's head, another seed's tail
      const q = pick(seeds);
      const out = new Uint8Array(int(p.length + 1) + int(q.length + 1));
      const h = out.length > p.length ? p.length : out.length;
      out.set(p.subarray(0, h));
      out.set(q.subarray(q.length - (out.length - h)), h);
      return out;
    },
    (p) => p, // replay
    (p) => {
      const r = new Uint8Array(int(p.length * 2 + 8));
      for (let i = 0; i < r.length; i++) r[i] = int(256);
      return r;
    },
  ];
  if (shape !== "vpn") {
    ops.push(
      (p) => {
        // the control header's length field maxed (or the data session id mangled)
        if (p.length >= ctlOff + 4) {
          p[ctlOff + 2] = 0xff;
          p[ctlOff + 3] = pick([0xff, 0x00, int(256)]);
        }
        return p;
      },
      (p) => {
        if (!isControl(p)) return p;
        const a = avps(p);
        if (!a.length) return p;
        const o = pick(a);
        const v = pick([0x3ff, 0, 5, 6, 7, int(1024)]);
        p[o] = (p[o] & 0xfc) | (v >> 8);
        p[o + 1] = v & 0xff;
        return p;
      },
      (p) => {
        if (!isControl(p)) return p;
        const a = avps(p);
        if (a.length) p[pick(a)] ^= pick([0x80, 0x40, 0xc0]); // M / H bits
        return p;
      },
      (p) => {
        if (!isControl(p)) return p;
        // random AVPs appended, header length fixed up
        const parts: number[] = [];
        for (let k = 1 + int(20); k > 0; k--) {
          const len = 6 + int(40);
          const flags = pick([0x80, 0, 0x40, 0xc0]);
          parts.push(
            flags | (len >> 8),
            len & 0xff,
            ...pick([[0, 0], [0, 9], [int(256), int(256)]]),
          );
          parts.push(int(256), pick([int(256), int(100)]));
          for (let i = 6; i < len; i++) parts.push(int(256));
        }
        const out = new Uint8Array(p.length + parts.length);
        out.set(p);
        out.set(parts, p.length);
        const total = out.length - ctlOff;
        out[ctlOff + 2] = (total >> 8) & 0xff;
        out[ctlOff + 3] = total & 0xff;
        return out;
      },
      (p) => {
        // a random message type (the first AVP's value)
        const a = isControl(p) ? avps(p) : [];
        if (a.length && a[0] + 8 <= p.length) {
          p[a[0] + 6] = 0;
          p[a[0] + 7] = pick([int(24), int(256), 1, 2, 3, 4, 6, 10, 11, 12, 14, 16, 20]);
        }
        return p;
      },
    );
  } else {
    ops.push((p) => {
      // a random message type and flags in the 24-byte header
      if (p.length >= 4) {
        p[2] = pick([int(0x30), int(256), 0x20, 0x21, 0x22, 0x23, 1, 2, 3, 4, 5, 6, 7, 8]);
        if (rnd() < 0.5) p[3] = pick([0x80, 0x40, 0xc0, int(256)]);
      }
      return p;
    });
  }
  return (): Uint8Array => {
    let p: Uint8Array = pick(seeds).slice();
    for (let k = 1 + int(3); k > 0; k--) p = pick(ops)(p);
    return p;
  };
}

async function sniff(proto: number, stopFile: string, max: number): Promise<void> {
  const s = openRawIp({ protocol: proto, family: 4, batch: 16, slotSize: 9216 });
  const lines: string[] = [];
  const end = Date.now() + 30_000;
  try {
    while (lines.length < max && Date.now() < end) {
      try {
        await Deno.stat(stopFile);
        break;
      } catch { /* not yet */ }
      const n = s.recv();
      for (let i = 0; i < n && lines.length < max; i++) {
        const b = s.rx.bufs[i].subarray(s.rx.offsets[i], s.rx.lens[i]);
        const src = formatIp(s.rx.src[i]);
        if (proto === 17) {
          if (b.length < 8) continue;
          const sport = (b[0] << 8) | b[1], dport = (b[2] << 8) | b[3];
          lines.push(JSON.stringify({ src, sport, dport, hex: toHex(b.subarray(8)) }));
        } else lines.push(JSON.stringify({ src, sport: 0, dport: 0, hex: toHex(b) }));
      }
      if (n === 0) await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    s.close();
  }
  console.log(lines.join("\n"));
}

async function send(plan: FuzzPlan): Promise<void> {
  const dst = parseIp(plan.dst);
  if (!dst.ok) throw new Error(`Cannot parse ${plan.dst}`);
  const to = { ip: dst.value, port: plan.proto === "udp" ? plan.dport : 0 };
  const socks: DatagramSocket[] = [];
  let sent = 0;
  try {
    for (const a of plan.sources) {
      if (plan.proto === "ip") socks.push(openRawIp({ protocol: 115, family: 4, bind: a }));
      else for (let k = 0; k < 3; k++) socks.push(openUdp({ bind: `${a}:0` }));
    }
    const rnd = seededRandom(plan.seed);
    const next = mutator(plan.seeds.map(fromHex), plan.shape, rnd);
    // The extra packets from every source socket first, then the mutations round-robin.
    const out: Uint8Array[] = [];
    for (const x of plan.extra ?? []) for (let k = 0; k < socks.length; k++) out.push(fromHex(x));
    for (let i = 0; i < plan.count; i++) out.push(next());
    for (let i = 0; i < out.length; i++) {
      // Over raw IP an empty payload is still a packet; UDP too.
      const s = socks[i % socks.length];
      if (s.send(out[i], to) === 0) sent++;
      // Paced so the daemon's socket buffer holds a burst: the fuzz is not a flood test.
      if (i % 64 === 63) await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    for (const s of socks) s.close();
  }
  console.log(sent);
}

/** Echoes every UDP datagram back to its sender until STOPFILE exists (or 120 s). */
async function echo(bind: string, stopFile: string): Promise<void> {
  const s = openUdp({ bind });
  const end = Date.now() + 120_000;
  try {
    while (Date.now() < end) {
      try {
        await Deno.stat(stopFile);
        break;
      } catch { /* not yet */ }
      const n = s.recv();
      for (let i = 0; i < n; i++) {
        s.send(s.rx.bufs[i].subarray(0, s.rx.lens[i]), { ip: s.rx.src[i], port: s.rx.srcPort[i] });
      }
      if (n === 0) await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    s.close();
  }
}

/**
 * Sends a datagram to TARGET (an `echo`) every 200 ms until one comes back
 * (exit 0, prints "ok") or TIMEOUT_MS passes (exit 1): traffic through a
 * tunnel without `ping`.
 */
async function probe(target: string, timeoutMs: number): Promise<void> {
  const to = parseEndpoint(target);
  if (!to.ok) throw new Error(`Cannot parse ${target}`);
  const s = openUdp({ bind: "0.0.0.0:0" });
  const end = Date.now() + timeoutMs;
  const msg = new TextEncoder().encode(`probe ${Deno.pid}`);
  try {
    let next = 0;
    while (Date.now() < end) {
      if (Date.now() >= next) {
        s.send(msg, to.value);
        next = Date.now() + 200;
      }
      const n = s.recv();
      for (let i = 0; i < n; i++) {
        if (
          new TextDecoder().decode(s.rx.bufs[i].subarray(0, s.rx.lens[i])) === `probe ${Deno.pid}`
        ) {
          console.log("ok");
          return;
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    s.close();
  }
  Deno.exit(1);
}

if (import.meta.main) {
  const [mode, ...args] = Deno.args;
  if (mode === "sniff") await sniff(Number(args[0]), args[1], Number(args[2]));
  else if (mode === "echo") await echo(args[0], args[1]);
  else if (mode === "probe") await probe(args[0], Number(args[1]));
  else if (mode === "send") {
    const text = await new Response(Deno.stdin.readable).text();
    await send(JSON.parse(text) as FuzzPlan);
  } else {
    throw new Error(
      "usage: fuzz_send.ts sniff PROTO STOPFILE MAX | send < plan.json | echo BIND STOPFILE | probe TARGET MS",
    );
  }
}
