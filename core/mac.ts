/**
 * MAC addresses as numbers, and the MAT address scheme.
 *
 * A 48-bit MAC fits exactly in a JavaScript number (2^53 > 2^48), so tables
 * key on `MacKey` numbers instead of strings: no allocation per frame, and
 * masks are arithmetic.
 *
 * MAT (MAC Address Translation) addresses are `00:AA:BB:BB:CC:CC`:
 * AA = supernode id (8 bits), BBBB = node id (16 bits), CCCC = leaf id
 * (16 bits). Leaf 0 is the node's own TAP address. `FF:FF:FF:FF:00:00`
 * selects the node, `00:FF:00:00:00:00` the supernode.
 *
 * Not done here: vendor (OUI) lookups, EUI-64.
 *
 * @module
 */

/** A 48-bit MAC address as an integer, first octet most significant. */
export type MacKey = number;

const TWO_32 = 0x1_0000_0000;

/** ff:ff:ff:ff:ff:ff */
export const BROADCAST: MacKey = 0xffff_ffff_ffff;
/** Mask that keeps the supernode and node id of a MAT address. */
export const MAT_NODE_MASK: MacKey = 0xffff_ffff_0000;
/** Mask that keeps the supernode id of a MAT address. */
export const MAT_SUPERNODE_MASK: MacKey = 0x00ff_0000_0000;

/**
 * Reads six bytes at `off` as a MacKey. The caller has checked bounds.
 *
 * @example
 * ```ts
 * import { macAt } from "./mac.ts";
 * macAt(new Uint8Array([0, 1, 0, 2, 0, 5]), 0); // 0x000100020005
 * ```
 */
export function macAt(buf: Uint8Array, off: number): MacKey {
  const hi = (buf[off] << 8) | buf[off + 1];
  const lo = ((buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5]) >>>
    0;
  return hi * TWO_32 + lo;
}

/**
 * Writes a MacKey as six bytes at `off`. The caller has checked bounds.
 *
 * @example
 * ```ts
 * import { writeMac } from "./mac.ts";
 * const b = new Uint8Array(6);
 * writeMac(b, 0, 0x000100020005); // b = 00 01 00 02 00 05
 * ```
 */
export function writeMac(buf: Uint8Array, off: number, mac: MacKey): void {
  const hi = Math.floor(mac / TWO_32);
  const lo = mac >>> 0;
  buf[off] = hi >>> 8;
  buf[off + 1] = hi & 0xff;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = (lo >>> 16) & 0xff;
  buf[off + 4] = (lo >>> 8) & 0xff;
  buf[off + 5] = lo & 0xff;
}

/** True for group (multicast and broadcast) addresses: I/G bit of the first octet. */
export function isGroup(mac: MacKey): boolean {
  return (Math.floor(mac / 0x100_0000_0000) & 1) === 1;
}

/** True for locally administered addresses: U/L bit of the first octet. */
export function isLocal(mac: MacKey): boolean {
  return (Math.floor(mac / 0x100_0000_0000) & 2) === 2;
}

/** How `formatMac` spells an address. */
export type MacStyle = "colon" | "dash" | "dotted" | "plain";

/**
 * Formats a MacKey: `colon` 00:01:00:02:00:05 (default), `dash`
 * 00-01-00-02-00-05, `dotted` (Cisco) 0001.0002.0005, `plain` 000100020005.
 *
 * @example
 * ```ts
 * import { formatMac } from "./mac.ts";
 * formatMac(0x000100020005); // "00:01:00:02:00:05"
 * formatMac(0x000100020005, "dotted"); // "0001.0002.0005"
 * ```
 */
export function formatMac(mac: MacKey, style: MacStyle = "colon"): string {
  const hex = mac.toString(16).padStart(12, "0");
  switch (style) {
    case "plain":
      return hex;
    case "dotted":
      return `${hex.slice(0, 4)}.${hex.slice(4, 8)}.${hex.slice(8, 12)}`;
    case "dash":
    case "colon": {
      const sep = style === "dash" ? "-" : ":";
      const parts: string[] = [];
      for (let i = 0; i < 12; i += 2) parts.push(hex.slice(i, i + 2));
      return parts.join(sep);
    }
  }
}

/** Result of parsing text that should be a MAC or MAT address. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const COLON = /^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/;
const DASH = /^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/;
const DOTTED = /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/;
const PLAIN = /^[0-9a-f]{12}$/;

/**
 * Parses the usual MAC spellings, any case: `00:01:00:02:00:05` (octets of
 * one or two digits), `00-01-00-02-00-05`, Cisco `0001.0002.0005`, and
 * `000100020005`. Surrounding white space is ignored.
 *
 * @example
 * ```ts
 * import { parseMac } from "./mac.ts";
 * parseMac("0001.0002.0005"); // { ok: true, value: 0x000100020005 }
 * parseMac("00:01"); // { ok: false, reason: "..." }
 * ```
 */
export function parseMac(text: string): Parsed<MacKey> {
  const t = text.trim().toLowerCase();
  if (t === "") return { ok: false, reason: "empty address" };
  let hex: string;
  if (COLON.test(t)) hex = t.split(":").map((o) => o.padStart(2, "0")).join("");
  else if (DASH.test(t)) hex = t.replaceAll("-", "");
  else if (DOTTED.test(t)) hex = t.replaceAll(".", "");
  else if (PLAIN.test(t)) hex = t;
  else {
    return {
      ok: false,
      reason: "expected six hex octets: 00:01:00:02:00:05, 00-01-00-02-00-05, " +
        "0001.0002.0005 or 000100020005",
    };
  }
  return { ok: true, value: parseInt(hex, 16) };
}

/** The three fields of a MAT address. */
export interface MatAddress {
  /** Supernode id, 0..255. */
  supernode: number;
  /** Node id, 0..65535. */
  node: number;
  /** Leaf id, 0..65535; 0 is the node's own TAP address. */
  leaf: number;
}

/** Largest ids each MAT field can hold. */
export const MAT_MAX = { supernode: 0xff, node: 0xffff, leaf: 0xffff } as const;

/**
 * Builds the MAT address `00:AA:BB:BB:CC:CC`. Rejects out-of-range fields and
 * the all-zero address (supernode 0, node 0, leaf 0), which is not a valid
 * station address.
 *
 * @example
 * ```ts
 * import { formatMac, matEncode } from "./mac.ts";
 * const r = matEncode({ supernode: 1, node: 2, leaf: 5 });
 * if (r.ok) formatMac(r.value); // "00:01:00:02:00:05"
 * ```
 */
export function matEncode(a: MatAddress): Parsed<MacKey> {
  for (const field of ["supernode", "node", "leaf"] as const) {
    const v = a[field];
    if (!Number.isInteger(v) || v < 0 || v > MAT_MAX[field]) {
      return { ok: false, reason: `${field} id must be an integer 0..${MAT_MAX[field]}, got ${v}` };
    }
  }
  const mac = a.supernode * 0x1_0000_0000 + a.node * 0x1_0000 + a.leaf;
  if (mac === 0) return { ok: false, reason: "00:00:00:00:00:00 is not a station address" };
  return { ok: true, value: mac };
}

/** MAT address from ids already known to be in range (hot path, no checks). */
export function matAddress(supernode: number, node: number, leaf: number): MacKey {
  return supernode * 0x1_0000_0000 + node * 0x1_0000 + leaf;
}

/**
 * Splits a MAT address into its fields, or says why the address is not one:
 * broadcast, multicast, a first octet other than 00, or all zeros.
 *
 * @example
 * ```ts
 * import { matDecode } from "./mac.ts";
 * matDecode(0x000100020005); // { ok: true, value: { supernode: 1, node: 2, leaf: 5 } }
 * ```
 */
export function matDecode(mac: MacKey): Parsed<MatAddress> {
  if (mac === BROADCAST) {
    return { ok: false, reason: "broadcast address, not a MAT address" };
  }
  if (isGroup(mac)) {
    return {
      ok: false,
      reason: "multicast address (group bit set in the first octet), not a MAT address",
    };
  }
  const first = Math.floor(mac / 0x100_0000_0000);
  if (first !== 0) {
    const hex = first.toString(16).padStart(2, "0");
    return {
      ok: false,
      reason: `first octet is ${hex}; MAT addresses start with 00 (00:AA:BB:BB:CC:CC)`,
    };
  }
  if (mac === 0) return { ok: false, reason: "the all-zero address is not a MAT address" };
  return {
    ok: true,
    value: {
      supernode: Math.floor(mac / 0x1_0000_0000),
      node: Math.floor(mac / 0x1_0000) & 0xffff,
      leaf: mac & 0xffff,
    },
  };
}

/**
 * The supernode id (AA) of a MAT address, or -1 when the first octet is not
 * 00 (not a MAT address). Allocates nothing (the data path's `matDecode`).
 *
 * @example
 * ```ts
 * import { matSupernodeOf } from "./mac.ts";
 * matSupernodeOf(0x000100020005); // 1
 * matSupernodeOf(0x020100020005); // -1
 * ```
 */
export function matSupernodeOf(mac: MacKey): number {
  return mac < 0x100_0000_0000 ? Math.floor(mac / 0x1_0000_0000) : -1;
}

/** The node id (BBBB) of a MAT address. Allocates nothing. */
export function matNodeOf(mac: MacKey): number {
  return Math.floor(mac / 0x1_0000) & 0xffff;
}

/** The node part of a MAT address (`mac & FF:FF:FF:FF:00:00`). */
export function matNodePrefix(mac: MacKey): MacKey {
  return mac - (mac & 0xffff);
}
