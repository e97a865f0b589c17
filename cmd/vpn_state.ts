/**
 * The node's state directory: its 32-byte identity (`identity`, created
 * once from the system CSPRNG; the supernode keeps an `auto` id per
 * identity) and its MAT leaf table (`leaves.json`, `LeafTable.toJSON()`),
 * so hosts behind a restarted node keep their translated MACs. The
 * directory is mode 0700, the files 0600; files are written to a temporary
 * name and renamed, so a crash never leaves half a file.
 *
 * @module
 */
import { LeafTable, type LeafTableOptions } from "../core/leaf_table.ts";
import { IDENTITY_LENGTH } from "../core/vpn/constants.ts";

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
 * The node identity from `<dir>/identity`, created (32 random bytes) when
 * missing. Throws when the file exists with another length.
 */
export function loadIdentity(dir: string): { identity: Uint8Array; created: boolean } {
  const path = `${dir}/identity`;
  try {
    const b = Deno.readFileSync(path);
    if (b.length !== IDENTITY_LENGTH) {
      throw new Error(
        `Cannot use node identity ${path}: expected ${IDENTITY_LENGTH} bytes, found ${b.length}` +
          " (remove it to make a new one; an auto id then changes)",
      );
    }
    return { identity: b, created: false };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const id = new Uint8Array(IDENTITY_LENGTH);
  crypto.getRandomValues(id);
  writeAtomic(path, id);
  return { identity: id, created: true };
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
