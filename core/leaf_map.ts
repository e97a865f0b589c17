/**
 * The narrow contract between MAT translation (`core/mat.ts`) and the leaf
 * table that allocates leaf ids (`core/leaf_table.ts`). Translation only ever
 * needs these two lookups; allocation policy (aging, quarantine, limits,
 * persistence) stays behind them.
 *
 * @module
 */
import type { MacKey } from "./mac.ts";

/** Maps the real MACs of hosts behind a node ("leaves") to leaf ids and back. */
export interface LeafMap {
  /**
   * The leaf id of a real MAC seen on the LAN side, allocated on first sight
   * and refreshed (last seen = `now`) on every call. Returns -1 when no id can
   * be given (table full, every free id still in quarantine); the table counts
   * that refusal.
   */
  leafFor(real: MacKey, now: number): number;
  /** The real MAC currently holding `leaf`, or -1 when that leaf id is not in use. */
  realFor(leaf: number): MacKey | -1;
}
