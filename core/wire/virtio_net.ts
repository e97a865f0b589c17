/**
 * The `virtio_net_hdr` that a TAP device opened with IFF_VNET_HDR puts in
 * front of every frame it hands over and expects in front of every frame
 * written to it (virtio 1.x section 5.1.6, Linux
 * include/uapi/linux/virtio_net.h). 10 bytes, without `num_buffers`, in the
 * host's byte order for a TAP: little-endian here.
 *
 * ```
 *  0 flags       u8   1 = NEEDS_CSUM: the L4 checksum is partial
 *  1 gso_type    u8   0 none, 1 TCPv4, 3 UDP, 4 TCPv6, 5 UDP_L4; 0x80 ECN
 *  2 hdr_len     u16  Ethernet + IP + TCP header bytes (a hint)
 *  4 gso_size    u16  payload bytes per segment (the MSS)
 *  6 csum_start  u16  where the checksummed data begins (the L4 header)
 *  8 csum_offset u16  where, from csum_start, the checksum field is
 * ```
 *
 * The header is read once per frame into a reused plain object
 * (`readVnetHdr`), the "repr" of this header: it has no variable parts to
 * view. What the fields mean for a frame is `core/gso.ts`'s business.
 *
 * Not done here: `num_buffers` (mergeable receive buffers), the hash report
 * fields of VIRTIO_NET_F_HASH_REPORT, big-endian (legacy) devices.
 *
 * @module
 */

/** Offsets (virtio 1.x section 5.1.6, `struct virtio_net_hdr`). */
export const VNET = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
  /** Header length without `num_buffers`. */
  LEN: 10,
} as const;

/** Bytes of `struct virtio_net_hdr` (without num_buffers). */
export const VNET_HDR_LEN = VNET.LEN;
/** flags: the L4 checksum at csum_start + csum_offset is partial. */
export const VNET_F_NEEDS_CSUM = 1;
/** flags: the receiver already checked the checksum. */
export const VNET_F_DATA_VALID = 2;
/** gso_type values. */
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3;
export const GSO_TCPV6 = 4;
export const GSO_UDP_L4 = 5;
export const GSO_ECN = 0x80;

/** A decoded `virtio_net_hdr`. */
export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** A zeroed header ("no offload"), to fill with `readVnetHdr`. */
export function emptyVnetHdr(): VnetHdr {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

function u16le(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function put16le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

/**
 * Decodes the 10-byte header at `off` of `buf` into `out`; false (and `out`
 * untouched) when fewer than 10 bytes are there. Never throws, never
 * allocates: the one door for the header's bytes.
 *
 * @example
 * ```ts
 * import { emptyVnetHdr, readVnetHdr } from "./virtio_net.ts";
 * const h = emptyVnetHdr();
 * readVnetHdr(new Uint8Array([1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0]), 0, h);
 * // true; h.gsoSize === 1448, h.csumStart === 34
 * ```
 */
export function readVnetHdr(buf: Uint8Array, off: number, out: VnetHdr): boolean {
  if (off < 0 || buf.length - off < VNET.LEN) return false;
  out.flags = buf[off + VNET.FLAGS];
  out.gsoType = buf[off + VNET.GSO_TYPE];
  out.hdrLen = u16le(buf, off + VNET.HDR_LEN);
  out.gsoSize = u16le(buf, off + VNET.GSO_SIZE);
  out.csumStart = u16le(buf, off + VNET.CSUM_START);
  out.csumOffset = u16le(buf, off + VNET.CSUM_OFFSET);
  return true;
}

/** Encodes `h` as 10 bytes at `off` of `buf` (the caller has made room). */
export function writeVnetHdr(buf: Uint8Array, off: number, h: VnetHdr): void {
  buf[off + VNET.FLAGS] = h.flags;
  buf[off + VNET.GSO_TYPE] = h.gsoType;
  put16le(buf, off + VNET.HDR_LEN, h.hdrLen);
  put16le(buf, off + VNET.GSO_SIZE, h.gsoSize);
  put16le(buf, off + VNET.CSUM_START, h.csumStart);
  put16le(buf, off + VNET.CSUM_OFFSET, h.csumOffset);
}
