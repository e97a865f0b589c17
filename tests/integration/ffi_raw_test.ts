/**
 * Raw IP protocol-115 sockets between two namespaces: the receiver sees the
 * right source and destination (IP_PKTINFO, and the IP header agrees), the
 * payload offset skips the IPv4 header, and the sender picks its source
 * address per packet (IP_PKTINFO cmsg) or by binding. IPv6 too.
 */
import { assert, assertEquals } from "../assert.ts";
import { formatIp, type Ip16, parseIp } from "../../core/addr.ts";
import { inNetns } from "../../ffi/netns.ts";
import { openRawIp } from "../../ffi/raw.ts";
import { type DatagramSocket, getIntOpt } from "../../ffi/dgram.ts";
import { C } from "../../ffi/libc.ts";
import { openUdp } from "../../ffi/udp.ts";
import { Lab, waitFor } from "../lab/netns.ts";

const L2TP = 115;

function ip(text: string): Ip16 {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

interface Pkt {
  src: string;
  dst: string;
  payload: Uint8Array;
  header: Uint8Array;
}

async function collect(s: DatagramSocket, want: number, tag: number): Promise<Pkt[]> {
  const out: Pkt[] = [];
  await waitFor(
    () => {
      const n = s.recv();
      for (let i = 0; i < n; i++) {
        const b = s.rx.bufs[i];
        const p = b.subarray(s.rx.offsets[i], s.rx.lens[i]);
        if (p[0] !== tag) continue;
        out.push({
          src: formatIp(s.rx.src[i]),
          dst: formatIp(s.rx.dst[i]),
          payload: p.slice(),
          header: b.slice(0, s.rx.offsets[i]),
        });
      }
      return out.length >= want;
    },
    30_000,
    `${want} raw packets tagged ${tag} (have ${out.length})`,
    2,
  );
  return out;
}

function body(tag: number, seq: number): Uint8Array {
  const p = new Uint8Array(12 + seq);
  p[0] = tag;
  p[1] = seq;
  for (let i = 2; i < p.length; i++) p[i] = (i * 31 + seq) & 0xff;
  return p;
}

Deno.test("ffi raw: protocol 115 crosses namespaces with pktinfo addresses and chosen source", async () => {
  const lab = await Lab.create("raw");
  const socks: DatagramSocket[] = [];
  try {
    const a = await lab.netns("a");
    const b = await lab.netns("b");
    await lab.veth(a, "eth0", b, "eth0");
    for (
      const [ns, addrs] of [[a, ["10.78.0.1/24", "10.78.0.11/24", "fd00:78::1/64"]], [b, [
        "10.78.0.2/24",
        "10.78.0.12/24",
        "fd00:78::2/64",
      ]]] as const
    ) {
      for (const cidr of addrs) await lab.addr(ns, "eth0", cidr);
    }
    const ra = inNetns(a, () => openRawIp({ protocol: L2TP }));
    socks.push(ra);
    const rb = inNetns(b, () => openRawIp({ protocol: L2TP }));
    socks.push(rb);

    // A -> B's secondary address, from A's secondary address (IP_PKTINFO on sendmsg).
    for (let seq = 0; seq < 20; seq++) {
      assertEquals(ra.send(body(1, seq), { ip: ip("10.78.0.12"), port: 0 }, ip("10.78.0.11")), 0);
    }
    const got1 = await collect(rb, 20, 1);
    assertEquals(got1.length, 20);
    for (const p of got1) {
      assertEquals(p.src, "10.78.0.11");
      assertEquals(p.dst, "10.78.0.12");
      assertEquals(p.header.length, 20, "payload offset = IHL*4");
      assertEquals(p.header[9], L2TP, "IP protocol field");
      assertEquals(formatIp(ipFromV4(p.header, 12)), p.src, "header source agrees with recvmsg");
      assertEquals(
        formatIp(ipFromV4(p.header, 16)),
        p.dst,
        "header destination agrees with pktinfo",
      );
      assertEquals(p.payload, body(1, p.payload[1]));
    }
    assertEquals(new Set(got1.map((p) => p.payload[1])).size, 20, "every packet once");

    // B -> A in one sendmmsg batch from B's primary address, to A's primary.
    for (let seq = 0; seq < 32; seq++) {
      assertEquals(rb.queue(body(2, seq), { ip: ip("10.78.0.1"), port: 0 }, ip("10.78.0.2")), 0);
    }
    assertEquals(rb.flush(), 0);
    const got2 = await collect(ra, 32, 2);
    assertEquals(got2.length, 32);
    for (const p of got2) assertEquals([p.src, p.dst], ["10.78.0.2", "10.78.0.1"]);

    // A socket bound to one address: that address is the source without a cmsg.
    const bound = inNetns(a, () => openRawIp({ protocol: L2TP, bind: "10.78.0.11" }));
    socks.push(bound);
    assertEquals(formatIp(bound.local.ip), "10.78.0.11");
    assertEquals(bound.send(body(3, 0), { ip: ip("10.78.0.2"), port: 0 }), 0);
    const got3 = await collect(rb, 1, 3);
    assertEquals([got3[0].src, got3[0].dst], ["10.78.0.11", "10.78.0.2"]);

    // IPv6: no header on receive, addresses from IPV6_PKTINFO.
    const r6a = inNetns(a, () => openRawIp({ protocol: L2TP, family: 6 }));
    socks.push(r6a);
    const r6b = inNetns(b, () => openRawIp({ protocol: L2TP, family: 6 }));
    socks.push(r6b);
    for (let seq = 0; seq < 8; seq++) {
      assertEquals(r6a.send(body(4, seq), { ip: ip("fd00:78::2"), port: 0 }, ip("fd00:78::1")), 0);
    }
    const got4 = await collect(r6b, 8, 4);
    for (const p of got4) {
      assertEquals([p.src, p.dst, p.header.length], ["fd00:78::1", "fd00:78::2", 0]);
      assertEquals(p.payload, body(4, p.payload[1]));
    }
    assert(rb.stats.rxPackets >= 21);
  } finally {
    for (const s of socks) s.close();
    await lab.close();
  }
});

function ipFromV4(b: Uint8Array, off: number): Ip16 {
  const out = new Uint8Array(16);
  out[10] = out[11] = 0xff;
  out.set(b.subarray(off, off + 4), 12);
  return out;
}

Deno.test("raw and UDP sockets: dontFragment sets IP_MTU_DISCOVER (DO / DONT), absent keeps the kernel's", () => {
  const opt = (s: DatagramSocket, v6 = false) =>
    v6
      ? getIntOpt(s.fd, C.IPPROTO_IPV6, C.IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER")
      : getIntOpt(s.fd, C.IPPROTO_IP, C.IP_MTU_DISCOVER, "IP_MTU_DISCOVER");
  const cases: [() => DatagramSocket, number, boolean][] = [
    [() => openRawIp({ protocol: L2TP, dontFragment: false }), C.IP_PMTUDISC_DONT, false],
    [() => openRawIp({ protocol: L2TP, dontFragment: true }), C.IP_PMTUDISC_DO, false],
    [() => openRawIp({ protocol: L2TP, family: 6, dontFragment: false }), 0, true],
    [() => openUdp({ bind: "127.0.0.1:0", dontFragment: false }), C.IP_PMTUDISC_DONT, false],
    [() => openUdp({ bind: "127.0.0.1:0", dontFragment: true }), C.IP_PMTUDISC_DO, false],
  ];
  for (const [open, want, v6] of cases) {
    const s = open();
    try {
      assertEquals(opt(s, v6), want);
    } finally {
      s.close();
    }
  }
  const s = openRawIp({ protocol: L2TP });
  try {
    assert(opt(s) !== C.IP_PMTUDISC_DONT, "the kernel default sets DF (IP_PMTUDISC_WANT)");
  } finally {
    s.close();
  }
});
