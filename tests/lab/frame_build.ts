/**
 * Small builders of Ethernet frames for filter tests: Ethernet with tags,
 * IPv4 and IPv6 (with extension headers), UDP, TCP with flags, ICMPv6,
 * DHCPv4 replies, and a pcap writer so tcpdump can read them. Checksums are
 * filled where core/wire can (IPv4 header); the filters never look at the
 * others. Trusted test input only.
 *
 * @module
 */
import { emitIpv4, type Ipv4Repr } from "../../core/wire/ipv4.ts";

/** `a.b.c.d` as a 32-bit number. */
export function v4(text: string): number {
  return text.split(".").reduce((n, p) => n * 256 + Number(p), 0);
}

/** An IPv6 address in text (with `::`) as 16 bytes. */
export function v6(text: string): Uint8Array {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, ""];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/** A MAC in text as 6 bytes. */
export function mac(text: string): number[] {
  return text.split(":").map((x) => parseInt(x, 16));
}

function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];

/** One VLAN tag: TPID and VID (priority 0). */
export interface Tag {
  tpid: number;
  vid: number;
}

/** An Ethernet frame; `tags` outermost first. Padded to 60 bytes like a real NIC. */
export function ether(
  dst: string,
  src: string,
  type: number,
  payload: Uint8Array,
  tags: Tag[] = [],
  pad = true,
): Uint8Array {
  const f = cat(
    mac(dst),
    mac(src),
    ...tags.map((t) => [...be16(t.tpid), ...be16(t.vid)]),
    be16(type),
    payload,
  );
  if (!pad || f.length >= 60) return f;
  const p = new Uint8Array(60);
  p.set(f);
  return p;
}

/** Inserts a tag after the source MAC of `frame` (a copy). */
export function withTag(frame: Uint8Array, tag: Tag): Uint8Array {
  return cat(frame.subarray(0, 12), [...be16(tag.tpid), ...be16(tag.vid)], frame.subarray(12));
}

/** An IPv4 packet with a correct header checksum. */
export function ipv4(
  proto: number,
  src: string,
  dst: string,
  payload: Uint8Array,
  o: { frag?: number; more?: boolean; ttl?: number; ident?: number } = {},
): Uint8Array {
  const r: Ipv4Repr = {
    tos: 0,
    ident: o.ident ?? 0x1234,
    dontFragment: false,
    moreFragments: o.more ?? false,
    fragmentOffset: o.frag ?? 0,
    ttl: o.ttl ?? 64,
    protocol: proto,
    src: v4(src),
    dst: v4(dst),
    options: new Uint8Array(0),
    payloadLength: payload.length,
  };
  const out = new Uint8Array(20 + payload.length);
  emitIpv4(r, out, 0);
  out.set(payload, 20);
  return out;
}

/** An IPv6 extension header (HBH 0, Routing 43, Dest Opts 60): `next`, padded to 8 bytes. */
export function ext6(next: number, bodyLen = 6): Uint8Array {
  const total = Math.ceil((bodyLen + 2) / 8) * 8;
  const out = new Uint8Array(total);
  out[0] = next;
  out[1] = total / 8 - 1;
  if (bodyLen >= 2) {
    out[2] = 1; // PadN over the rest
    out[3] = total - 4;
  }
  return out;
}

/** An IPv6 Fragment header. */
export function frag6(next: number, offset8: number, more: boolean, ident = 0x55aa): Uint8Array {
  const v = (offset8 << 3) | (more ? 1 : 0);
  return new Uint8Array([next, 0, ...be16(v), ...be16(ident >>> 16), ...be16(ident & 0xffff)]);
}

/** An IPv6 packet: `firstNext` names the first header of `rest` (extension headers + upper layer). */
export function ipv6(
  firstNext: number,
  src: string,
  dst: string,
  rest: Uint8Array,
  hopLimit = 64,
): Uint8Array {
  return cat(
    [0x60, 0, 0, 0, ...be16(rest.length), firstNext, hopLimit],
    v6(src),
    v6(dst),
    rest,
  );
}

/** A UDP datagram (checksum 0). */
export function udp(sport: number, dport: number, payload: Uint8Array): Uint8Array {
  return cat([...be16(sport), ...be16(dport), ...be16(8 + payload.length), 0, 0], payload);
}

/** TCP flag bits. */
export const F = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32 } as const;

/** A TCP segment with `flags` (20-byte header, no options). */
export function tcp(sport: number, dport: number, flags: number, payload = new Uint8Array(0)) {
  return cat(
    [...be16(sport), ...be16(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0],
    payload,
  );
}

/** An ICMPv6 message of `type` with `body` (checksum 0). */
export function icmp6(type: number, body: Uint8Array = new Uint8Array(12)): Uint8Array {
  return cat([type, 0, 0, 0], body);
}

/** A DHCPv4 message: op (1 request, 2 reply) and message type option 53. */
export function dhcp4(op: number, msgType: number): Uint8Array {
  const b = new Uint8Array(300);
  b[0] = op;
  b[1] = 1;
  b[2] = 6;
  b.set([0xde, 0xad, 0xbe, 0xef], 4);
  b.set([2, 0, 0, 0, 0x0a, 1], 28);
  b.set([99, 130, 83, 99, 53, 1, msgType, 255], 236);
  return b;
}

/** DHCP message types (RFC 2132 section 9.6). */
export const DHCP_TYPE = { DISCOVER: 1, OFFER: 2, REQUEST: 3, ACK: 5, NAK: 6 } as const;

/**
 * A classic pcap file (link type Ethernet, microseconds, snaplen 262144)
 * holding `frames` whole, frame `i` stamped at `i` seconds.
 */
export function writePcap(frames: readonly Uint8Array[]): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 262144, true);
  dv.setUint32(20, 1, true);
  let o = 24;
  frames.forEach((f, i) => {
    dv.setUint32(o, i, true);
    dv.setUint32(o + 4, 0, true);
    dv.setUint32(o + 8, f.length, true);
    dv.setUint32(o + 12, f.length, true);
    out.set(f, o + 16);
    o += 16 + f.length;
  });
  return out;
}
