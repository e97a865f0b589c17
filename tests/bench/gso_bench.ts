/**
 * User-space TCP offload (`core/gso.ts`) without the kernel: cutting one
 * 64 KiB GSO super-frame into MSS-sized frames (`segmentTcp`, the node's TAP
 * read path with `offload: true`), and joining 45 in-order segments of one
 * flow back into one super-frame (`TcpCoalescer`, the TAP write path).
 * Every iteration handles one super-frame, so MB/s = 64 KiB / (time per
 * iteration).
 *
 *   deno bench -A tests/bench/gso_bench.ts
 *
 * @module
 */
import {
  GSO_TCPV4,
  GSO_TCPV6,
  segmentTcp,
  TcpCoalescer,
  VNET_F_NEEDS_CSUM,
  type VnetHdr,
} from "../../core/gso.ts";
import { internetChecksum, pseudoSumV4, pseudoSumV6 } from "../../core/checksum.ts";

const MSS = 1448;
const PAYLOAD = 45 * MSS; // 65 160 bytes: a full super-frame

/** An untagged Ethernet + IPv4/IPv6 + TCP (12 option bytes) frame with `payload` bytes. */
function frame(v4: boolean, payload: number, seq: number, partial: boolean): Uint8Array {
  const l3 = 14;
  const l4 = l3 + (v4 ? 20 : 40);
  const hdrLen = l4 + 32;
  const f = new Uint8Array(hdrLen + payload);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, ...(v4 ? [0x08, 0x00] : [0x86, 0xdd])], 0);
  if (v4) {
    const tot = f.length - l3;
    f.set(
      [0x45, 0, tot >> 8, tot & 0xff, 0, 7, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2],
      l3,
    );
    const c = internetChecksum(f, l3, 20);
    f.set([c >> 8, c & 0xff], l3 + 10);
  } else {
    const pl = f.length - l3 - 40;
    f.set([0x60, 0, 0, 0, pl >> 8, pl & 0xff, 6, 64], l3);
    for (let i = 0; i < 16; i++) f[l3 + 8 + i] = 0x20 + i, f[l3 + 24 + i] = 0x40 + i;
  }
  f.set(
    [0x9c, 0x40, 0x14, 0x51, seq >>> 24, (seq >> 16) & 0xff, (seq >> 8) & 0xff, seq & 0xff],
    l4,
  );
  f.set([0, 0, 0x12, 0x34, 0x80, 0x10, 0xff, 0xff], l4 + 8);
  f.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], l4 + 20); // NOP NOP timestamps
  for (let i = hdrLen; i < f.length; i++) f[i] = i * 7;
  const tcpLen = f.length - l4;
  const ps = v4
    ? pseudoSumV4(f, l3 + 12, l3 + 16, 6, tcpLen)
    : pseudoSumV6(f, l3 + 8, l3 + 24, 6, tcpLen);
  if (partial) {
    f.set([ps >> 8, ps & 0xff], l4 + 16);
  } else {
    const c = internetChecksum(f, l4, tcpLen, ps);
    f.set([c >> 8, c & 0xff], l4 + 16);
  }
  return f;
}

for (const v4 of [true, false]) {
  const name = v4 ? "IPv4" : "IPv6";
  const l4 = v4 ? 34 : 54;
  const superFrame = frame(v4, PAYLOAD, 1000, true);
  const hdr: VnetHdr = {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: v4 ? GSO_TCPV4 : GSO_TCPV6,
    hdrLen: l4 + 32,
    gsoSize: MSS,
    csumStart: l4,
    csumOffset: 16,
  };
  const scratch = new Uint8Array(2048);
  let sink = 0;
  const emit = (s: Uint8Array) => {
    sink += s.length;
  };
  Deno.bench(`gso: segmentTcp 64 KiB ${name} super-frame, MSS ${MSS}`, { group: "segment" }, () => {
    if (segmentTcp(superFrame, hdr, scratch, emit) !== "ok") throw new Error("refused");
  });

  const segments: Uint8Array[] = [];
  for (let i = 0; i < 45; i++) segments.push(frame(v4, MSS, 1000 + i * MSS, false));
  const co = new TcpCoalescer((b) => {
    sink += b.length;
  });
  Deno.bench(`gso: TcpCoalescer joins 45 ${name} segments`, { group: "coalesce" }, () => {
    const joined = co.counters.super_frames;
    for (const s of segments) co.add(s);
    co.flush();
    if (co.counters.super_frames !== joined + 1) throw new Error("not joined");
  });
}
