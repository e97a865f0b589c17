/**
 * A tiny capture-file reader for tests: classic pcap (both byte orders,
 * micro- and nanosecond stamps) and pcapng (Section Header, Interface
 * Description, Enhanced and Simple Packet blocks), plus helpers that peel
 * Ethernet (with 802.1Q tags), raw IP and Linux cooked (SLL, SLL2) link
 * layers down to the IPv4 payload and to UDP.
 *
 * Throws `Error("Cannot parse pcap: ...")` on malformed files: it reads
 * trusted test fixtures, not network input.
 *
 * Not done: IPv6, IP fragment reassembly, pcapng options and compressed files.
 *
 * @module
 */

/** One captured packet. */
export interface CapturedPacket {
  /** Capture time in seconds (fractional). */
  time: number;
  /** Link type (1 Ethernet, 101/228 raw IPv4, 113 Linux SLL, 276 SLL2). */
  linkType: number;
  /** The captured bytes, starting with the link-layer header. */
  data: Uint8Array;
}

/** An IPv4 packet peeled from a capture. */
export interface Ipv4Packet {
  src: string;
  dst: string;
  protocol: number;
  /** The bytes after the IPv4 header (IHL * 4), cut at Total Length. */
  payload: Uint8Array;
}

/**
 * Reads every packet of a classic pcap or pcapng file.
 *
 * @example
 * ```ts
 * import { readCapture } from "./pcap.ts";
 * const file = new URL("../fixtures/captures/cisco-sccrq.pcap", import.meta.url);
 * const pkts = readCapture(Deno.readFileSync(file));
 * if (pkts.length !== 1 || pkts[0].linkType !== 101) throw new Error("unexpected capture");
 * ```
 */
export function readCapture(file: Uint8Array): CapturedPacket[] {
  if (file.length < 24) throw new Error("Cannot parse pcap: file shorter than a header");
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicBe = dv.getUint32(0, false);
  if (magicBe === 0x0a0d0d0a) return readPcapng(file, dv);
  return readClassic(file, dv);
}

function readClassic(file: Uint8Array, dv: DataView): CapturedPacket[] {
  const m = dv.getUint32(0, true);
  let le: boolean;
  let nano: boolean;
  if (m === 0xa1b2c3d4) [le, nano] = [true, false];
  else if (m === 0xa1b23c4d) [le, nano] = [true, true];
  else if (dv.getUint32(0, false) === 0xa1b2c3d4) [le, nano] = [false, false];
  else if (dv.getUint32(0, false) === 0xa1b23c4d) [le, nano] = [false, true];
  else throw new Error(`Cannot parse pcap: unknown magic 0x${m.toString(16)}`);
  const linkType = dv.getUint32(20, le) & 0x0fffffff;
  const out: CapturedPacket[] = [];
  let off = 24;
  while (off + 16 <= file.length) {
    const sec = dv.getUint32(off, le);
    const frac = dv.getUint32(off + 4, le);
    const incl = dv.getUint32(off + 8, le);
    if (off + 16 + incl > file.length) {
      throw new Error(`Cannot parse pcap: record at offset ${off} runs past the end`);
    }
    out.push({
      time: sec + frac / (nano ? 1e9 : 1e6),
      linkType,
      data: file.subarray(off + 16, off + 16 + incl),
    });
    off += 16 + incl;
  }
  return out;
}

function readPcapng(file: Uint8Array, dv: DataView): CapturedPacket[] {
  const out: CapturedPacket[] = [];
  let le = true;
  let interfaces: { linkType: number; tsDiv: number }[] = [];
  let off = 0;
  while (off + 12 <= file.length) {
    const typeBe = dv.getUint32(off, false);
    if (typeBe === 0x0a0d0d0a) {
      const bom = dv.getUint32(off + 8, true);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new Error("Cannot parse pcap: bad pcapng byte-order magic");
      interfaces = [];
    }
    const type = dv.getUint32(off, le);
    const len = dv.getUint32(off + 4, le);
    if (len < 12 || len % 4 !== 0 || off + len > file.length) {
      throw new Error(`Cannot parse pcap: bad pcapng block length ${len} at offset ${off}`);
    }
    const body = off + 8;
    if (type === 1) {
      interfaces.push({
        linkType: dv.getUint16(body, le),
        tsDiv: interfaceTsDiv(dv, off, len, le),
      });
    } else if (type === 6) {
      const ifc = interfaces[dv.getUint32(body, le)];
      if (!ifc) throw new Error(`Cannot parse pcap: packet for unknown interface at ${off}`);
      const ts = dv.getUint32(body + 4, le) * 2 ** 32 + dv.getUint32(body + 8, le);
      const capLen = dv.getUint32(body + 12, le);
      out.push({
        time: ts / ifc.tsDiv,
        linkType: ifc.linkType,
        data: file.subarray(body + 20, body + 20 + capLen),
      });
    } else if (type === 3) {
      const ifc = interfaces[0];
      const origLen = dv.getUint32(body, le);
      const capLen = Math.min(origLen, len - 16);
      out.push({
        time: 0,
        linkType: ifc?.linkType ?? 1,
        data: file.subarray(body + 4, body + 4 + capLen),
      });
    }
    off += len;
  }
  return out;
}

/** Timestamp units per second of a pcapng interface (option if_tsresol, default 10^6). */
function interfaceTsDiv(dv: DataView, off: number, len: number, le: boolean): number {
  let o = off + 16;
  const end = off + len - 4;
  while (o + 4 <= end) {
    const code = dv.getUint16(o, le);
    const olen = dv.getUint16(o + 2, le);
    if (code === 0) break;
    if (code === 9 && olen === 1) {
      const v = dv.getUint8(o + 4);
      return (v & 0x80) ? 2 ** (v & 0x7f) : 10 ** v;
    }
    o += 4 + ((olen + 3) & ~3);
  }
  return 1e6;
}

function ipString(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * The IPv4 packet inside a captured frame, or `null` when the frame is not
 * IPv4 (ARP, IPv6, unknown link type) or is an IP fragment other than the first.
 */
export function ipv4Of(p: CapturedPacket): Ipv4Packet | null {
  const d = p.data;
  let off: number;
  let etherType: number;
  switch (p.linkType) {
    case 1: {
      if (d.length < 14) return null;
      off = 12;
      etherType = (d[off] << 8) | d[off + 1];
      while ((etherType === 0x8100 || etherType === 0x88a8) && d.length >= off + 6) {
        off += 4;
        etherType = (d[off] << 8) | d[off + 1];
      }
      off += 2;
      break;
    }
    case 101:
    case 228:
    case 12:
      off = 0;
      etherType = 0x0800;
      break;
    case 113:
      if (d.length < 16) return null;
      etherType = (d[14] << 8) | d[15];
      off = 16;
      break;
    case 276:
      if (d.length < 20) return null;
      etherType = (d[0] << 8) | d[1];
      off = 20;
      break;
    default:
      return null;
  }
  if (etherType !== 0x0800 || d.length < off + 20 || (d[off] >> 4) !== 4) return null;
  const ihl = (d[off] & 0x0f) * 4;
  const total = (d[off + 2] << 8) | d[off + 3];
  const fragOffset = ((d[off + 6] & 0x1f) << 8) | d[off + 7];
  if (fragOffset !== 0 || total < ihl || d.length < off + total) return null;
  return {
    src: ipString(d, off + 12),
    dst: ipString(d, off + 16),
    protocol: d[off + 9],
    payload: d.subarray(off + ihl, off + total),
  };
}

/** The UDP payload and ports of an IPv4 packet, or `null` when it is not UDP. */
export function udpOf(
  ip: Ipv4Packet,
): { srcPort: number; dstPort: number; payload: Uint8Array } | null {
  if (ip.protocol !== 17 || ip.payload.length < 8) return null;
  const p = ip.payload;
  const len = (p[4] << 8) | p[5];
  return {
    srcPort: (p[0] << 8) | p[1],
    dstPort: (p[2] << 8) | p[3],
    payload: p.subarray(8, Math.min(len, p.length)),
  };
}

/**
 * Writes a classic pcap (microsecond stamps, little-endian) of raw IPv4
 * packets (link type 101), for feeding our own packets to tshark in tests.
 */
export function writeRawIpPcap(packets: { time: number; ip: Uint8Array }[]): Uint8Array {
  let size = 24;
  for (const p of packets) size += 16 + p.ip.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, 101, true);
  let off = 24;
  for (const p of packets) {
    dv.setUint32(off, Math.floor(p.time), true);
    dv.setUint32(off + 4, Math.round((p.time % 1) * 1e6), true);
    dv.setUint32(off + 8, p.ip.length, true);
    dv.setUint32(off + 12, p.ip.length, true);
    out.set(p.ip, off + 16);
    off += 16 + p.ip.length;
  }
  return out;
}

/** An IPv4 header (no options, checksum filled) in front of `payload`. */
export function ipv4Packet(
  src: string,
  dst: string,
  protocol: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(20 + payload.length);
  out[0] = 0x45;
  out[2] = out.length >> 8;
  out[3] = out.length & 0xff;
  out[8] = 64;
  out[9] = protocol;
  out.set(src.split(".").map(Number), 12);
  out.set(dst.split(".").map(Number), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (out[i] << 8) | out[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const ck = ~sum & 0xffff;
  out[10] = ck >> 8;
  out[11] = ck & 0xff;
  out.set(payload, 20);
  return out;
}
