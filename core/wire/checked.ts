/**
 * Shared shapes of the `core/wire/` views.
 *
 * Every view in `core/wire/` follows the same pattern (after smoltcp's
 * `wire` module):
 *
 * - a table of offsets with the RFC section beside each field;
 * - a reusable view class whose `check(buf, off, len)` is the one door for
 *   untrusted bytes: it returns `"ok"` and binds the view, or returns a reason
 *   code and leaves the view empty. After `"ok"`, no getter reads outside
 *   `[off, off + len)`. `check()` never throws and never allocates, so a
 *   long-lived view can be re-checked per frame on the hot path. The
 *   Ethernet, IPv4, IPv6 and UDP views also have `checkHeader()`, a door
 *   that binds when the header itself fits and leaves its length fields
 *   unjudged (for bridging, for GSO, which rewrites them, and for the
 *   filter guards reading the ports of a first fragment);
 * - a plain "repr" object for the parsed meaning, with `parseX(view)`,
 *   `emitX(repr, buf, off)` and `xLength(repr)` so that parse, emit and length
 *   are symmetric. Reprs allocate; they are for tests, logs and control
 *   traffic, not for the per-frame path.
 *
 * Unknown code points (EtherTypes, ARP operations, ICMPv6 types, NDP or DHCP
 * options) pass through: they are reported, never rejected.
 *
 * @module
 */

/** Result of parsing a view into a repr: the value or the view's reason code. */
export type Checked<T, R extends string> = { ok: true; value: T } | { ok: false; reason: R };

/** The zero-length buffer an unbound view points at. */
export const EMPTY: Uint8Array = new Uint8Array(0);

/** Reads a big-endian 16-bit word. The caller has checked bounds. */
export function u16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/** Reads a big-endian 32-bit word as an unsigned number. The caller has checked bounds. */
export function u32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Writes a big-endian 16-bit word. The caller has checked bounds. */
export function put16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/** Writes a big-endian 32-bit word. The caller has checked bounds. */
export function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}
