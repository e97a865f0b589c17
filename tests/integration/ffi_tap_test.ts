/**
 * TAP and TUN devices: a TAP in namespace A bridged with a veth whose peer
 * is in namespace B carries an ARP exchange and a ping between a host we
 * play on the TAP and B's kernel; a TUN device answers a real `ping`; MTU,
 * MAC and link state are set by ioctl; persistent and multi-queue devices;
 * a TAP with IFF_VNET_HDR and offloads (header before each frame, partial
 * checksums completed in user space).
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { formatMac, macAt, type MacKey, writeMac } from "../../core/mac.ts";
import { OsError } from "../../ffi/libc.ts";
import { inNetns } from "../../ffi/netns.ts";
import { getMac, getMtu, isLinkUp, openTap, setLinkUp, type TapDevice } from "../../ffi/tap.ts";
import { Lab, waitFor } from "../lab/netns.ts";
import {
  emptyVnetHdr,
  offloadFrame,
  readVnetHdr,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
} from "../../core/gso.ts";

const HOST_MAC: MacKey = 0x02_00_00_79_00_01; // the host we play behind the TAP
const TAP_MAC: MacKey = 0x02_00_00_79_00_fe;
const HOST_IP = [10, 79, 0, 1];
const PEER_IP = [10, 79, 0, 2];

function checksum(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (b[off + i] << 8) | (i + 1 < len ? b[off + i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function arp(op: 1 | 2, dstMac: MacKey, sha: MacKey, spa: number[], tha: MacKey, tpa: number[]) {
  const f = new Uint8Array(42);
  writeMac(f, 0, dstMac);
  writeMac(f, 6, sha);
  f.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, op], 12);
  writeMac(f, 22, sha);
  f.set(spa, 28);
  writeMac(f, 32, tha);
  f.set(tpa, 38);
  return f;
}

function echoRequest(dstMac: MacKey, seq: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + 16);
  writeMac(f, 0, dstMac);
  writeMac(f, 6, HOST_MAC);
  f.set([0x08, 0x00], 12);
  const ip = 14;
  f.set([0x45, 0, 0, 44, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, ...HOST_IP, ...PEER_IP], ip);
  const c = checksum(f, ip, 20);
  f[ip + 10] = c >>> 8;
  f[ip + 11] = c & 0xff;
  const icmp = ip + 20;
  f.set([8, 0, 0, 0, 0x4c, 0x32, 0, seq], icmp);
  for (let i = 0; i < 16; i++) f[icmp + 8 + i] = i;
  const ic = checksum(f, icmp, 24);
  f[icmp + 2] = ic >>> 8;
  f[icmp + 3] = ic & 0xff;
  return f;
}

function sameIp(f: Uint8Array, off: number, want: number[]): boolean {
  return want.every((x, i) => f[off + i] === x);
}

Deno.test("ffi tap: frames written to a TAP cross a bridge to a veth and back (ARP, ping)", async () => {
  const lab = await Lab.create("tap");
  let tap: TapDevice | null = null;
  try {
    const a = await lab.netns("a");
    const b = await lab.netns("b");
    const room = { headroom: 24, tailroom: 32 }; // as the VPN node reads: header and tag room
    tap = inNetns(a, () => openTap({ name: "l2tap0", mtu: 1400, mac: TAP_MAC, ...room }));
    assertEquals(tap.name, "l2tap0");
    // Each slot lies in the device's Arena with its room free around it.
    const rx = tap.rx, slot = rx.bufs[0].length;
    assertEquals([rx.headroom, rx.tailroom], [24, 32]);
    for (let i = 0; i < rx.capacity; i++) {
      assert(rx.bufs[i].buffer === tap.memory.buffer);
      assertEquals(rx.bufs[i].byteOffset, i * (24 + slot + 32) + 24);
    }
    assertThrows(() => openTap({ headroom: 300 }), RangeError);
    assertEquals(tap.mode, "tap");
    assertEquals(tap.mtu, 1400);
    const t = tap;
    assertEquals(inNetns(a, () => getMtu("l2tap0")), 1400);
    assertEquals(inNetns(a, () => getMac("l2tap0")), TAP_MAC);
    assert(inNetns(a, () => isLinkUp("l2tap0")));
    // The kernel's own view agrees with the ioctls.
    const shown = JSON.parse((await lab.ip(a, "-j", "link", "show", "l2tap0")).stdout)[0];
    assertEquals([shown.mtu, shown.address], [1400, formatMac(TAP_MAC)]);
    assert(shown.flags.includes("UP"));

    await lab.veth(a, "veth0", b, "eth0");
    await lab.bridge(a, "br0", ["l2tap0", "veth0"]);
    await lab.addr(b, "eth0", "10.79.0.2/24");

    // Who has 10.79.0.2? B answers through veth -> bridge -> TAP.
    let peerMac: MacKey = -1;
    const echoed = new Set<number>();
    const pump = () => {
      const n = t.read();
      for (let i = 0; i < n; i++) {
        const f = t.rx.bufs[i].subarray(0, t.rx.lens[i]);
        if (f.length < 42) continue;
        const type = (f[12] << 8) | f[13];
        if (type === 0x0806 && f[21] === 2 && sameIp(f, 28, PEER_IP)) peerMac = macAt(f, 22);
        if (type === 0x0806 && f[21] === 1 && sameIp(f, 38, HOST_IP)) {
          // B asks for us: answer, as the host behind the TAP would.
          assertEquals(t.write(arp(2, macAt(f, 22), HOST_MAC, HOST_IP, macAt(f, 22), PEER_IP)), 0);
        }
        if (type === 0x0800 && f[14 + 9] === 1 && f[34] === 0 && sameIp(f, 26, PEER_IP)) {
          assertEquals(checksum(f, 34, f.length - 34), 0, "echo reply checksum");
          echoed.add(f[41]);
        }
      }
    };
    await waitFor(
      () => {
        // Repeat the request now and then: the bridge may still be settling.
        assertEquals(t.write(arp(1, 0xffff_ffff_ffff, HOST_MAC, HOST_IP, 0, PEER_IP)), 0);
        pump();
        return peerMac !== -1;
      },
      30_000,
      "ARP reply from namespace B",
      50,
    );
    const vethMac = JSON.parse((await lab.ip(b, "-j", "link", "show", "eth0")).stdout)[0].address;
    assertEquals(formatMac(peerMac), vethMac, "the reply carries B's veth MAC");

    for (let seq = 1; seq <= 5; seq++) assertEquals(t.write(echoRequest(peerMac, seq)), 0);
    await waitFor(
      () => {
        pump();
        return echoed.size === 5;
      },
      30_000,
      "5 echo replies",
      10,
    );
    assertEquals([...echoed].sort(), [1, 2, 3, 4, 5]);

    inNetns(a, () => setLinkUp("l2tap0", false));
    assert(!inNetns(a, () => isLinkUp("l2tap0")));
  } finally {
    tap?.close();
    await lab.close();
  }
});

Deno.test("ffi tun: a TUN device answers a real ping", async () => {
  const lab = await Lab.create("tun");
  let tun: TapDevice | null = null;
  try {
    const a = await lab.netns("a");
    tun = inNetns(a, () => openTap({ name: "l2tun0", mode: "tun" }));
    const t = tun;
    assertEquals(t.mode, "tun");
    await lab.addr(a, "l2tun0", "10.80.0.1/24");
    // -W 10: a reply this test is slow to write still counts (liveness, not speed).
    const ping = lab.spawn(a, ["ping", "-c", "3", "-i", "0.2", "-W", "10", "10.80.0.2"]);
    let answered = 0;
    let exited = false;
    ping.status.then(() => exited = true);
    await waitFor(
      () => {
        const n = t.read();
        for (let i = 0; i < n; i++) {
          const p = t.rx.bufs[i].subarray(0, t.rx.lens[i]);
          // IPv4 ICMP echo request to 10.80.0.2: swap addresses, make it a reply.
          if (p[0] >> 4 !== 4 || p[9] !== 1 || !sameIp(p, 16, [10, 80, 0, 2])) continue;
          const ihl = (p[0] & 0xf) * 4;
          if (p[ihl] !== 8) continue;
          const reply = p.slice();
          reply.set(p.subarray(16, 20), 12);
          reply.set(p.subarray(12, 16), 16);
          reply[ihl] = 0;
          reply[ihl + 2] = reply[ihl + 3] = 0;
          const c = checksum(reply, ihl, reply.length - ihl);
          reply[ihl + 2] = c >>> 8;
          reply[ihl + 3] = c & 0xff;
          assertEquals(t.write(reply), 0);
          answered++;
        }
        return exited;
      },
      30_000,
      "ping to finish",
      10,
    );
    const res = await ping.stop();
    assertEquals(res.status.code, 0, `ping succeeded: ${res.stdout}`);
    assert(res.stdout.includes("3 received"), res.stdout);
    assertEquals(answered, 3);
  } finally {
    tun?.close();
    await lab.close();
  }
});

Deno.test("ffi tap: persistent devices survive close and re-attach by name; multi-queue", async () => {
  const lab = await Lab.create("tapp");
  const open: TapDevice[] = [];
  try {
    const a = await lab.netns("a");
    const p = inNetns(a, () => openTap({ name: "l2per0", persist: true, up: false }));
    p.close();
    assertEquals((await lab.ip(a, "link", "show", "l2per0")).code, 0, "still there after close");
    const again = inNetns(a, () => openTap({ name: "l2per0" }));
    open.push(again);
    assertEquals(again.name, "l2per0");
    again.setPersist(false);
    again.close();
    await waitFor(
      async () => (await lab.ip(a, "link", "show", "l2per0").catch(() => null)) === null,
      30_000,
      "non-persistent device to vanish",
    );

    const q1 = inNetns(a, () => openTap({ name: "l2mq0", multiQueue: true }));
    open.push(q1);
    const q2 = inNetns(a, () => openTap({ name: "l2mq0", multiQueue: true }));
    open.push(q2);
    assert(q1.fd !== q2.fd && q2.name === "l2mq0");
    // A second plain (single-queue) attach to a multi-queue device is refused.
    const e = assertThrows(() => inNetns(a, () => openTap({ name: "l2mq0" })), OsError);
    assertEquals((e as OsError).code, "EINVAL");
  } finally {
    for (const d of open) d.close();
    await lab.close();
  }
});

Deno.test("ffi tap vnetHdr: offloads on, header before each frame, partial UDP checksum, ping", async () => {
  const lab = await Lab.create("tapv");
  let tap: TapDevice | null = null;
  try {
    const a = await lab.netns("a");
    assertThrows(() => inNetns(a, () => openTap({ mode: "tun", vnetHdr: true })), Error);
    tap = inNetns(a, () => openTap({ name: "l2vh0", mtu: 1400, mac: TAP_MAC, vnetHdr: true }));
    const t = tap;
    assertEquals(t.vnetHdrLen, VNET_HDR_LEN);
    await lab.addr(a, "l2vh0", "10.79.0.2/24");
    await lab.ip(a, "neigh", "replace", "10.79.0.1", "lladdr", formatMac(HOST_MAC), "dev", "l2vh0");
    const feats = (await lab.exec(a, ["ethtool", "-k", "l2vh0"])).stdout;
    assert(/tcp-segmentation-offload: on/.test(feats), feats);
    assert(/tx-checksumming: on/.test(feats), feats);

    // A UDP datagram from the kernel: partial checksum, completed by offloadFrame.
    await lab.exec(a, ["bash", "-c", "echo -n hello-offload > /dev/udp/10.79.0.1/9999"]);
    const h = emptyVnetHdr();
    let udp: Uint8Array | null = null;
    await waitFor(
      () => {
        const n = t.read();
        for (let i = 0; i < n && udp === null; i++) {
          const raw = t.rx.bufs[i].subarray(0, t.rx.lens[i]);
          assert(readVnetHdr(raw, 0, h));
          const f = raw.subarray(VNET_HDR_LEN);
          if (f.length > 42 && f[12] === 0x08 && f[13] === 0 && f[23] === 17) {
            assertEquals(h.flags & VNET_F_NEEDS_CSUM, VNET_F_NEEDS_CSUM, "partial checksum");
            assertEquals([h.gsoType, h.csumStart, h.csumOffset], [0, 34, 6]);
            assertEquals(offloadFrame(f, h, new Uint8Array(0), (x) => udp = x.slice()), "ok");
          }
        }
        return udp !== null;
      },
      30_000,
      "the UDP datagram on the TAP",
      20,
    );
    const u = udp!;
    const pseudoSum = Uint8Array.of(...u.subarray(26, 34), 0, 17, 0, u.length - 34);
    const whole = new Uint8Array(pseudoSum.length + u.length - 34);
    whole.set(pseudoSum);
    whole.set(u.subarray(34), pseudoSum.length);
    assertEquals(checksum(whole, 0, whole.length), 0, "completed UDP checksum verifies");
    assertEquals(new TextDecoder().decode(u.subarray(42)), "hello-offload");

    // A ping from the kernel, answered through write() (which adds the zero header).
    const ping = lab.spawn(a, ["ping", "-c", "3", "-i", "0.2", "-W", "10", "10.79.0.1"]);
    let exited = false;
    ping.status.then(() => exited = true);
    let answered = 0;
    await waitFor(
      () => {
        const n = t.read();
        for (let i = 0; i < n; i++) {
          const f = t.rx.bufs[i].subarray(VNET_HDR_LEN, t.rx.lens[i]);
          if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0 || f[23] !== 1 || f[34] !== 8) {
            continue;
          }
          const r = f.slice();
          writeMac(r, 0, TAP_MAC);
          writeMac(r, 6, HOST_MAC);
          r.set(f.subarray(30, 34), 26);
          r.set(f.subarray(26, 30), 30);
          r[34] = 0;
          r[36] = r[37] = 0;
          const c = checksum(r, 34, r.length - 34);
          r[36] = c >>> 8;
          r[37] = c & 0xff;
          assertEquals(t.write(r), 0);
          answered++;
        }
        return exited;
      },
      30_000,
      "ping to finish",
      10,
    );
    const res = await ping.stop();
    assertEquals(res.status.code, 0, `ping succeeded: ${res.stdout}`);
    assertEquals(answered, 3);
  } finally {
    tap?.close();
    await lab.close();
  }
});
