/**
 * The node's state directory: its MAT leaf table (`leaves.json`,
 * `LeafTable.toJSON()`), so hosts behind a restarted node keep their
 * translated MACs. The node's key (`node.key`, whose public key is the
 * identity the supernode keeps an `auto` id for) is created there by
 * cmd/vpn_security.ts. The directory is mode 0700, the files 0600; files
 * are written to a temporary name and renamed, so a crash never leaves half
 * a file.
 *
 * @module
 */
import { LeafTable, type LeafTableOptions } from "../core/leaf_table.ts";

/** Creates the state directory if needed (mode 0700). */
export function ensureStateDir(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function writeAtomic(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp`;
  Deno.writeFileSync(tmp, data, { mode: 0o600 });
  Deno.chmodSync(tmp, 0o600);
  Deno.renameSync(tmp, path);
}

/**
 * The leaf table from `<dir>/leaves.json`, or an empty one when the file is
 * missing. A file that does not load is reported (`error`) and an empty
 * table used: losing leaf ids costs remote ARP caches a refresh, refusing
 * to start would cost the VPN.
 */
export function loadLeaves(
  dir: string,
  opts: LeafTableOptions,
  now: number,
): { table: LeafTable; loaded: number; error: string | null } {
  const path = `${dir}/leaves.json`;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { table: new LeafTable(opts), loaded: 0, error: null };
    }
    return { table: new LeafTable(opts), loaded: 0, error: `${path}: ${(e as Error).message}` };
  }
  try {
    const table = LeafTable.fromJSON(JSON.parse(text), opts, now);
    return { table, loaded: table.size, error: null };
  } catch (e) {
    return { table: new LeafTable(opts), loaded: 0, error: `${path}: ${(e as Error).message}` };
  }
}

/** Writes the leaf table to `<dir>/leaves.json` (mode 0600). */
export function saveLeaves(dir: string, table: LeafTable): void {
  writeAtomic(`${dir}/leaves.json`, new TextEncoder().encode(JSON.stringify(table.toJSON())));
}

/** The pin table's file in the state directory. */
export const PINS_FILE = "peer_pins.json";

/** What holds pins (`SecureNode`). */
export interface PinStore {
  exportPins(now: number): [number, string, number][];
  importPins(data: unknown, now: number): number;
}

/**
 * Loads `<dir>/peer_pins.json` into `store` (replacing what it held): how
 * many pins were taken, or the reason it could not be read. A missing file
 * is no error (a new node pins on first use).
 */
export function loadPins(
  dir: string,
  store: PinStore,
  now: number,
): { loaded: number; error: string | null } {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${dir}/${PINS_FILE}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { loaded: store.importPins([], now), error: null };
    }
    return { loaded: 0, error: (e as Error).message };
  }
  try {
    return { loaded: store.importPins(JSON.parse(text), now), error: null };
  } catch (e) {
    return { loaded: 0, error: `${dir}/${PINS_FILE}: ${(e as Error).message}` };
  }
}

/**
 * Writes the pins to `<dir>/peer_pins.json` (0600, atomically), one entry a
 * line so an operator can find and delete one: `[node id, "public key in
 * hex", ms since last seen]`.
 */
export function savePins(dir: string, store: PinStore, now: number): void {
  const lines = store.exportPins(now).map((e) => "  " + JSON.stringify(e));
  const text = lines.length ? `[\n${lines.join(",\n")}\n]\n` : "[]\n";
  writeAtomic(`${dir}/${PINS_FILE}`, new TextEncoder().encode(text));
}
