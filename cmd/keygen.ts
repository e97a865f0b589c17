/**
 * `l2 keygen`: creates a node's (or supernode's) X25519 key pair for the
 * VPN security layer (issue 6, docs/security.md).
 *
 * Writes the private key to `--out FILE` with mode 0600 (refusing to
 * overwrite an existing file unless `--force`) and prints the public key,
 * which goes into the supernode's member list (or, for a supernode key, into
 * every node's configuration). `--public FILE` prints the public key of an
 * existing key file instead.
 *
 * Key file format (text, base64 as WireGuard keys are written):
 *
 * ```
 * # l2 X25519 private key (l2 keygen). Keep it secret: mode 0600.
 * # public key: <base64>
 * <private key, base64 of 32 bytes>
 * ```
 *
 * `loadKeyFile` refuses a key file that group or others can read, with a
 * message that says how to fix it.
 *
 * @module
 */
import { command, constant, object, option, or } from "@optique/core";
import { string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { randomBytes, x25519PublicKey } from "../ffi/crypto.ts";
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from "./kit/exit.ts";
import { unsafeMode } from "./kit/config.ts";
import { examples, prose } from "./kit/cli.ts";

/** `l2 keygen` command line. */
export const keygenCommand = command(
  "keygen",
  or(
    object({
      cmd: constant("keygen" as const),
      out: option("--out", "-o", string({ metavar: "FILE" }), {
        description: message`write the private key here (mode 0600); the public key is printed`,
      }),
      force: option("--force", { description: message`overwrite an existing key file` }),
    }),
    object({
      cmd: constant("keygen" as const),
      public: option("--public", string({ metavar: "FILE" }), {
        description: message`print the public key of an existing key file`,
      }),
    }),
  ),
  {
    brief: message`Create an X25519 key pair for the VPN (node or supernode identity)`,
    description: prose`Writes the private key to FILE with mode 0600 and prints the public key
      (base64) for the supernode's member list or the nodes' supernode_key. Directories of FILE
      that do not exist are created with mode 0700.`,
    footer: examples([
      [
        "a node's key; the printed public key goes into the supernode's members",
        "l2 keygen -o /etc/l2/node.key",
      ],
      ["the public key of an existing key file", "l2 keygen --public /etc/l2/node.key"],
    ]),
  },
);

/** Parsed `l2 keygen` arguments. */
export type KeygenArgs =
  | { cmd: "keygen"; out: string; force?: boolean }
  | { cmd: "keygen"; public: string };

/** Base64 of bytes. */
export function toBase64(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

/** 32 bytes from base64 text, or null. */
export function fromBase64Key(text: string): Uint8Array | null {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t)) return null;
  const s = atob(t);
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b.length === 32 ? b : null;
}

/** The text of a key file for `privateKey`. */
export function formatKeyFile(privateKey: Uint8Array, publicKey: Uint8Array): string {
  return "# l2 X25519 private key (l2 keygen). Keep it secret: mode 0600.\n" +
    `# public key: ${toBase64(publicKey)}\n${toBase64(privateKey)}\n`;
}

/**
 * The private key in a key file's text, or a message "Cannot use key file
 * PATH: reason" (line numbers as in config errors).
 */
export function parseKeyFile(
  text: string,
  path: string,
): { ok: true; privateKey: Uint8Array } | { ok: false; message: string } {
  const lines = text.split("\n");
  let key: Uint8Array | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l === "" || l.startsWith("#")) continue;
    if (key !== null) {
      return { ok: false, message: `Cannot use key file ${path}:${i + 1}: expected one key line` };
    }
    key = fromBase64Key(l);
    if (key === null) {
      return {
        ok: false,
        message: `Cannot use key file ${path}:${
          i + 1
        }: expected a base64 X25519 private key (44 characters), as l2 keygen writes it`,
      };
    }
  }
  if (key === null) return { ok: false, message: `Cannot use key file ${path}: no key in it` };
  return { ok: true, privateKey: key };
}

/** Why a key file's mode is unsafe, or null: group and others must have no access. */
export { unsafeMode };

/**
 * Loads a key pair from a key file; throws Error with a clear message when
 * the file is missing, readable by others, or malformed (config time).
 */
export function loadKeyFile(path: string): { privateKey: Uint8Array; publicKey: Uint8Array } {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch (e) {
    throw new Error(`Cannot use key file ${path}: ${(e as Error).message}`);
  }
  const bad = unsafeMode(st.mode, path);
  if (bad !== null) throw new Error(bad);
  const r = parseKeyFile(Deno.readTextFileSync(path), path);
  if (!r.ok) throw new Error(r.message);
  return { privateKey: r.privateKey, publicKey: x25519PublicKey(r.privateKey) };
}

/** Writes a new key file (0600, never readable by others in between) and returns the public key. */
export function writeNewKeyFile(path: string, force = false): Uint8Array {
  const privateKey = randomBytes(new Uint8Array(32));
  const publicKey = x25519PublicKey(privateKey);
  const text = new TextEncoder().encode(formatKeyFile(privateKey, publicKey));
  privateKey.fill(0);
  const f = Deno.openSync(
    path,
    force
      ? { write: true, create: true, truncate: true, mode: 0o600 }
      : { write: true, createNew: true, mode: 0o600 },
  );
  try {
    Deno.chmodSync(path, 0o600); // an existing file (--force) keeps its old mode otherwise
    let off = 0;
    while (off < text.length) off += f.writeSync(text.subarray(off));
  } finally {
    f.close();
  }
  return publicKey;
}

/** Runs `l2 keygen`; returns the exit code. */
export function runKeygen(
  args: KeygenArgs,
  out: (line: string) => void = console.log,
  err: (line: string) => void = console.error,
): Promise<number> {
  if ("public" in args) {
    try {
      out(toBase64(loadKeyFile(args.public).publicKey));
      return Promise.resolve(EXIT_OK);
    } catch (e) {
      err((e as Error).message);
      return Promise.resolve(EXIT_USAGE);
    }
  }
  try {
    const made = ensureKeyDir(args.out);
    if (made !== null) err(`created directory ${made} (mode 0700) for the key file`);
    const pub = writeNewKeyFile(args.out, args.force === true);
    out(toBase64(pub));
    return Promise.resolve(EXIT_OK);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      err(
        `Cannot write key file ${args.out}: it exists; keep it (l2 keygen --public ${args.out} ` +
          "prints its public key) or replace it with --force",
      );
      return Promise.resolve(EXIT_USAGE);
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      err(
        `Cannot write key file ${args.out}: permission denied; run as root (sudo) or ` +
          "choose a directory you can write",
      );
      return Promise.resolve(EXIT_RUNTIME);
    }
    err(`Cannot write key file ${args.out}: ${(e as Error).message}`);
    return Promise.resolve(EXIT_RUNTIME);
  }
}

/**
 * Creates the directory of a key file when it does not exist, with mode
 * 0700 (and any missing parents, also 0700); returns the topmost directory
 * it created, or null when there was nothing to create.
 */
export function ensureKeyDir(file: string): string | null {
  const abs = file.startsWith("/") ? file : `${Deno.cwd()}/${file}`;
  const dir = abs.slice(0, abs.lastIndexOf("/")) || "/";
  let top: string | null = null;
  for (let d = dir; d !== "" && d !== "/"; d = d.slice(0, d.lastIndexOf("/"))) {
    try {
      Deno.statSync(d);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      top = d;
    }
  }
  if (top === null) return null;
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode passes through the umask; the key's directory is 0700 whatever it is.
  for (let d = dir; d.length >= top.length; d = d.slice(0, d.lastIndexOf("/"))) {
    Deno.chmodSync(d, 0o700);
  }
  return top;
}
