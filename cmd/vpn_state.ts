/**
 * The VPN daemons' state directories and the one way state files are read
 * and written.
 *
 * The node's state directory holds its MAT leaf table (`leaves.json`,
 * `LeafTable.toJSON()`), so hosts behind a restarted node keep their
 * translated MACs, and its peer key pins; the supernode's holds its id
 * bindings (cmd/supernode.ts). Both hold the daemon's key (`node.key`,
 * `supernode.key`), created there by cmd/vpn_security.ts.
 *
 * A daemon runs as root, so a state directory another user can write to
 * would let that user point a state file at any file of the host:
 * `ensureStateDir` refuses a directory others can write to or that another
 * user owns, and one reached through a directory others could replace it
 * in. Files are written by `writeStateFile`: a new temporary file (created
 * exclusively, so a symbolic link in its place is never followed), synced,
 * then renamed over the target (which replaces a link, never writes through
 * it); a crash never leaves half a file. `readStateFile` reads a regular
 * file only, never through a link. The directory is mode 0700, the files
 * 0600.
 *
 * @module
 */
import { LeafTable, type LeafTableOptions } from "../core/leaf_table.ts";
import { ConfigError } from "./kit/config.ts";

function octal(mode: number): string {
  return "0" + (mode & 0o7777).toString(8).padStart(3, "0");
}

/**
 * Why `dir` (an existing directory) may not hold state, or null. The
 * directory must be owned by this user (`uid`) and writable by no one else;
 * every directory above it (after links are resolved) must be owned by root
 * or this user and, unless sticky (`/tmp`), writable by no one else; a link
 * on the way must be owned by root or this user. Exported for tests.
 */
export function unsafeStateDir(dir: string, uid: number): string | null {
  const cannot = `Cannot use state directory ${dir}`;
  const trusted = (owner: number | null) => owner === null || owner === 0 || owner === uid;
  // Links as written: whoever owns a link chooses where it leads.
  const given = dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;
  let at = "";
  for (const part of given.split("/").filter((p) => p !== "" && p !== ".")) {
    at = part === ".." ? at.slice(0, Math.max(0, at.lastIndexOf("/"))) : `${at}/${part}`;
    const l = Deno.lstatSync(at || "/");
    if (l.isSymlink && !trusted(l.uid)) {
      return `${cannot}: the link ${at} on its path is owned by uid ${l.uid}, not by root ` +
        `or this user (uid ${uid})`;
    }
  }
  const real = Deno.realPathSync(dir);
  const parts = real.split("/").filter((p) => p !== "");
  for (let i = 0; i <= parts.length; i++) {
    const p = "/" + parts.slice(0, i).join("/");
    const st = Deno.statSync(p);
    const mode = st.mode ?? 0;
    const last = i === parts.length;
    const shown = p === dir ? "it" : p;
    if (last ? st.uid !== null && st.uid !== uid : !trusted(st.uid)) {
      return `${cannot}: ${shown} is owned by uid ${st.uid}, not by this user (uid ${uid})` +
        (last ? `; run chown ${uid} ${p}` : "");
    }
    if ((mode & 0o022) !== 0 && (last || (mode & 0o1000) === 0)) {
      return `${cannot}: other users can write to ${shown} (mode ${octal(mode)})` +
        (last
          ? `; run chmod 700 ${p}`
          : ", so they could replace the state directory; use a directory only root can change");
    }
  }
  return null;
}

/**
 * Creates the state directory if needed (mode 0700) and checks it
 * (`unsafeStateDir`); throws a ConfigError when it may not be used.
 */
export function ensureStateDir(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bad = unsafeStateDir(dir, Deno.uid() ?? 0);
  if (bad !== null) throw new ConfigError(bad);
}

/**
 * Writes `data` to `path` (mode 0600) through `<path>.tmp`: created
 * exclusively (O_CREAT|O_EXCL: a link or file left in its place is removed,
 * not followed), synced, renamed over `path`, and the directory synced.
 */
export function writeStateFile(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp`;
  const create = () => Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
  let f: Deno.FsFile;
  try {
    f = create();
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    Deno.removeSync(tmp); // a leftover of a crash, or a link: unlink removes the name only
    f = create();
  }
  try {
    let off = 0;
    while (off < data.length) off += f.writeSync(data.subarray(off));
    f.syncSync();
  } catch (e) {
    f.close();
    Deno.removeSync(tmp);
    throw e;
  }
  f.close();
  Deno.renameSync(tmp, path);
  // The rename itself on disk too (a power loss would otherwise keep the old file).
  const slash = path.lastIndexOf("/");
  const d = Deno.openSync(slash < 0 ? "." : path.slice(0, slash) || "/", { read: true });
  try {
    d.syncSync();
  } finally {
    d.close();
  }
}

/** Largest state file read (the tables are bounded far below). */
const MAX_STATE_FILE = 64 << 20;

/**
 * The text of the regular file `path`, or null when it does not exist.
 * Throws when it is a link or anything but a regular file (and says so),
 * or changed between the check and the open: never reads through a link.
 */
export function readStateFile(path: string): string | null {
  let l: Deno.FileInfo;
  try {
    l = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  if (!l.isFile) {
    throw new Error(`${path}: not a regular file${l.isSymlink ? " (a symbolic link)" : ""}`);
  }
  const f = Deno.openSync(path, { read: true });
  try {
    const st = f.statSync();
    if (st.dev !== l.dev || st.ino !== l.ino) throw new Error(`${path}: replaced while opened`);
    if (st.size > MAX_STATE_FILE) throw new Error(`${path}: larger than ${MAX_STATE_FILE} bytes`);
    const buf = new Uint8Array(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = f.readSync(buf.subarray(off));
      if (n === null) break;
      off += n;
    }
    return new TextDecoder().decode(buf.subarray(0, off));
  } finally {
    f.close();
  }
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
  let text: string | null;
  try {
    text = readStateFile(path);
  } catch (e) {
    return { table: new LeafTable(opts), loaded: 0, error: (e as Error).message };
  }
  if (text === null) return { table: new LeafTable(opts), loaded: 0, error: null };
  try {
    const table = LeafTable.fromJSON(JSON.parse(text), opts, now);
    return { table, loaded: table.size, error: null };
  } catch (e) {
    return { table: new LeafTable(opts), loaded: 0, error: `${path}: ${(e as Error).message}` };
  }
}

/** Writes the leaf table to `<dir>/leaves.json` (mode 0600). */
export function saveLeaves(dir: string, table: LeafTable): void {
  writeStateFile(`${dir}/leaves.json`, new TextEncoder().encode(JSON.stringify(table.toJSON())));
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
  let text: string | null;
  try {
    text = readStateFile(`${dir}/${PINS_FILE}`);
  } catch (e) {
    return { loaded: 0, error: (e as Error).message };
  }
  if (text === null) return { loaded: store.importPins([], now), error: null };
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
  writeStateFile(`${dir}/${PINS_FILE}`, new TextEncoder().encode(text));
}

/** The AA (supernode id) of the node's first REGISTER_ACK: `<state_dir>/allocator`. */
export const ALLOCATOR_FILE = "allocator";

/**
 * The saved AA of the node's MAT addresses (docs/federation.md: they keep
 * the AA of the first REGISTER_ACK, wherever the node is attached later),
 * null when none was saved yet, or the reason the file does not read.
 */
export function loadAllocator(dir: string): { value: number | null; error?: string } {
  let text: string | null;
  try {
    text = readStateFile(`${dir}/${ALLOCATOR_FILE}`);
  } catch (e) {
    return { value: null, error: (e as Error).message };
  }
  if (text === null) return { value: null };
  const t = text.trim();
  const n = /^\d{1,3}$/.test(t) ? Number(t) : NaN;
  if (!(n >= 0 && n <= 255)) {
    return {
      value: null,
      error: `${dir}/${ALLOCATOR_FILE}: expected 0..255, got ${JSON.stringify(t.slice(0, 16))}`,
    };
  }
  return { value: n };
}

/** Writes the AA of the first REGISTER_ACK to `<dir>/allocator` (0600, atomically). */
export function saveAllocator(dir: string, aa: number): void {
  writeStateFile(`${dir}/${ALLOCATOR_FILE}`, new TextEncoder().encode(`${aa}\n`));
}
