/**
 * Text built from what a peer sent, made safe to quote: in a Result Code
 * message we send back (RFC 3931 section 5.4.2: the whole AVP must fit the
 * 10-bit AVP length, 1023 bytes), in events and in log lines.
 *
 * Every function here returns printable ASCII only (0x20..0x7e; anything
 * else becomes "?") and never more than the bound it is given, so a peer
 * can neither make a reply too long to encode nor write control characters
 * or megabytes into a log.
 *
 * Not done here: escaping for a particular log format (the logger quotes
 * values itself).
 *
 * @module
 */

/** Longest Result Code message we send (bytes); far below the 1013 the AVP could carry. */
export const RESULT_MESSAGE_MAX = 240;
/** Longest peer-supplied name (Host Name, Vendor Name) we keep for display. */
export const PEER_NAME_MAX = 64;
/** How many items of a peer-supplied list a text names before "and N more". */
export const LIST_ITEMS_MAX = 8;

/**
 * `text` with every character outside printable ASCII replaced by "?", cut
 * to `max` characters ("..." marks a cut).
 *
 * @example
 * ```ts
 * import { safeText } from "./peer_text.ts";
 * safeText("ok\nline", 20); // "ok?line"
 * safeText("x".repeat(100), 10); // "xxxxxxx..."
 * ```
 */
export function safeText(text: string, max: number): string {
  let out = "";
  const n = Math.min(text.length, max + 1);
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    out += c >= 0x20 && c <= 0x7e ? text[i] : "?";
  }
  if (text.length > max) out = out.slice(0, Math.max(0, max - 3)) + "...";
  return out;
}

/**
 * Bytes as text for display: printable ASCII as it is, anything else as
 * 0x-hex; at most `max` characters, and when cut, "... (N bytes)" after them.
 *
 * @example
 * ```ts
 * import { safeBytes } from "./peer_text.ts";
 * safeBytes(new TextEncoder().encode("1234"), 32); // "1234"
 * safeBytes(new Uint8Array(1000).fill(0x41), 16); // "AAAAAAAAAAAAA... (1000 bytes)"
 * ```
 */
export function safeBytes(bytes: Uint8Array, max: number): string {
  let printable = true;
  for (const b of bytes) if (b < 0x20 || b > 0x7e) printable = false;
  const limit = Math.min(bytes.length, max);
  let s: string;
  if (printable) s = String.fromCharCode(...bytes.subarray(0, limit));
  else {
    s = "0x";
    for (let i = 0; i < limit && s.length < max; i++) s += bytes[i].toString(16).padStart(2, "0");
  }
  const cut = printable ? bytes.length > max : s.length - 2 < bytes.length * 2;
  if (!cut) return s;
  return `${s.slice(0, Math.max(0, max - 3))}... (${bytes.length} bytes)`;
}

/**
 * "3 unknown mandatory AVPs: (0,201) (0,202) (0,203)", naming at most
 * `LIST_ITEMS_MAX` items and counting the rest ("... and 117 more").
 *
 * @example
 * ```ts
 * import { boundedList } from "./peer_text.ts";
 * boundedList(["a", "b", "c"], 2); // "a b ... and 1 more"
 * ```
 */
export function boundedList(items: readonly string[], max = LIST_ITEMS_MAX): string {
  const shown = items.slice(0, max).join(" ");
  return items.length > max ? `${shown} ... and ${items.length - max} more` : shown;
}
