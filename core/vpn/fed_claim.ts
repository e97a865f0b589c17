/**
 * The claim rule of the federation's attachment table
 * (core/vpn/federation.ts, docs/federation.md): which of two claims on one
 * (network, node id) wins. Every supernode applies the same rule, so all
 * converge on one winner.
 *
 * @module
 */
import { compareTimestamps } from "./init_timestamps.ts";
import type { ClaimSide } from "./fed_types.ts";

/** True when the two keys are byte-equal. */
export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * True when claim `a` beats claim `b` for one (network, node id): same key:
 * newer stamp, then lower supernode; different keys (id conflict): lower
 * allocator, then newer stamp, then lower supernode.
 *
 * @example
 * ```ts
 * import { claimWins } from "./fed_claim.ts";
 * import { tai64n } from "./init_timestamps.ts";
 * const key = new Uint8Array(32);
 * claimWins({ at: 2, allocator: 1, key, stamp: tai64n(2000) }, { at: 1, allocator: 1, key, stamp: tai64n(1000) }); // true
 * ```
 */
export function claimWins(
  a: ClaimSide & { stamp: Uint8Array },
  b: ClaimSide & { stamp: Uint8Array },
): boolean {
  if (!keysEqual(a.key, b.key) && a.allocator !== b.allocator) return a.allocator < b.allocator;
  const c = compareTimestamps(a.stamp, b.stamp);
  if (c !== 0) return c > 0;
  return a.at < b.at;
}
