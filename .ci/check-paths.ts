/**
 * CI check: no file of the repository refers to a path outside it.
 *
 * `deno run --allow-read --allow-run=git .ci/check-paths.ts [ROOT]` scans every
 * file git knows in ROOT (default: this repository; tracked plus untracked
 * files that are not ignored; every file under ROOT but .git/ and the
 * ignored build output when ROOT is not a git checkout) and prints one line
 * per finding, `file:line:col: token: why`, then exits 1; with no finding it
 * prints a one-line summary and exits 0. A test in the suite
 * (tests/unit/check_paths_test.ts) runs it too, so `deno task test` alone
 * catches an offender.
 *
 * What it flags:
 * - an absolute path (after a quote, space, `(`, `=`, `:`, ... or in a
 *   `file://` URL) whose first component is not one of the system
 *   directories in `SYSTEM_DIRS` (/dev, /proc, /sys, /run, /usr, /etc, /tmp,
 *   /var, /opt, ...): /work/..., /home/..., /root/..., /mnt/..., /srv/...; // check-paths: allow
 * - a user's home: `~/...`, `$HOME`, `${HOME}`, `env.get("HOME")`, `homedir()`; // check-paths: allow
 * - a relative path that climbs out of the repository: more `../` than the
 *   file is deep (a doc in docs/ may link `../README.md`, a file at the top
 *   may not say `../x`), and the shared folder beside a clone (`..` then
 *   `/shared`) anywhere.
 *
 * What it does not take for a path: URLs (`https://host/x`), CIDR prefixes
 * (`10.0.0.0/24`, `fe80::/64`), `a/b` inside a word, comments (`//`, `/*`).
 *
 * A symbolic link is checked by its target: one that points outside the
 * repository (absolute, or climbing above its root) is flagged, whatever the
 * target holds.
 *
 * A line that must name such a path on purpose (a test of this check, say)
 * carries the marker `check-paths: allow` in a comment. Binary files are
 * skipped. Nothing can see a path assembled at run time from pieces; this
 * is a guard against the common mistake, not a proof.
 *
 * @module
 */

/** First path components that are the system's, not a user's or a machine's layout. */
export const SYSTEM_DIRS: ReadonlySet<string> = new Set([
  "dev", // /dev/net/tun, /dev/null, /dev/urandom
  "proc", // /proc/self/..., /proc/sys/net/...
  "sys", // /sys/class/net/...
  "run", // /run/netns, state directories
  "usr", // /usr/bin, /usr/local/bin, /usr/share
  "etc", // /etc/l2, /etc/systemd
  "tmp",
  "var", // /var/lib/l2, /var/log
  "bin",
  "sbin",
  "lib", // /lib/systemd, /lib/x86_64-linux-gnu
  "lib64",
  "opt", // an install prefix (/opt/l2), like /usr/local
  "nonexistent", // the conventional path that does not exist (tests of a missing file)
  "path", // the placeholder /path/to/...
  "json", // not a file: the V8 inspector's HTTP endpoint /json/list
]);

/**
 * First components that are never the system's: flagged even alone (`/work`), // check-paths: allow
 * where any other single component (`/status`, `/metrics`, a regex
 * `/listening/`) is taken for an HTTP path or a pattern, not a file.
 */
export const OUTSIDE_ROOTS: ReadonlySet<string> = new Set([
  "home",
  "root",
  "work",
  "mnt",
  "media",
  "srv",
  "scratch",
  "workspace",
  "Users",
]);

/** The marker that exempts one line. */
export const ALLOW_MARKER = "check-paths: allow";

/** One offending reference. */
export interface Finding {
  file: string;
  line: number;
  col: number;
  token: string;
  why: string;
}

// An absolute path: a slash at a token start, then components. Before it:
// start of line or a character that can begin a path in code, shell, YAML or
// Markdown. Not after a word character, `.`, `/`, `~`, `-`, `$`, `}`, `)` or
// `>` (division, `a/b`, `${dir}/x`, `<dir>/x`), so comments and URLs (`//`)
// and CIDR prefixes (`0/24`) never start one.
const ABSOLUTE = /(?<=^|[\s"'`(=,:;\[{|!*&])\/([A-Za-z0-9_][\w.@+-]*)((?:\/[\w.@+-]*)*)/g;
// A file URL names a local path whatever precedes it.
const FILE_URL = /\bfile:\/\/\/([\w.@+-]*)((?:\/[\w.@+-]*)*)/g;
// A user's home directory.
const HOME = /(?<![\w.~/-])~\/|\$\{?HOME\b|env\.get\(\s*["']HOME["']\s*\)|\bhomedir\(\)/g;
// A run of `../` (at a token start) and what it leads to.
const CLIMB = /(?<![\w.\/-])((?:\.\.\/)+)([\w.-]*)/g;
// A directory named "shared" reached by climbing, however the path starts.
const SHARED = /\.\.\/shared\b/g;
// Flags after a regex literal's closing slash (`/x/g`), not a path component.
const REGEX_FLAGS = /^[dgimsuvy]{1,8}$/;

/**
 * Why an absolute path with first component `first` and the other
 * components `rest` (each with its leading slash, or "") is outside the
 * repository, or null when it is not.
 */
function absoluteWhy(first: string, rest: string): string | null {
  if (first === "home" || first === "root") return "a user's home directory";
  if (OUTSIDE_ROOTS.has(first)) return "an absolute path outside the repository";
  if (SYSTEM_DIRS.has(first) || /^\d+$/.test(first)) return null; // fe80::/64
  const second = rest.split("/")[1] ?? "";
  // One component (`/status`), or a regex (`/ready/`, `/ready/g`, `/ready/.test`).
  if (second === "" || REGEX_FLAGS.test(second) || second.startsWith(".")) return null;
  return "an absolute path outside the repository";
}

/**
 * Findings in the text of one file. `file` is its path relative to the
 * repository root (with `/`), which gives how deep it is.
 */
export function scanText(file: string, text: string): Finding[] {
  const out: Finding[] = [];
  const depth = file.split("/").length - 1;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.includes(ALLOW_MARKER)) continue;
    const add = (index: number, token: string, why: string) =>
      out.push({ file, line: i + 1, col: index + 1, token, why });
    for (const m of line.matchAll(ABSOLUTE)) {
      const why = absoluteWhy(m[1], m[2]);
      if (why) add(m.index, m[0], why);
    }
    for (const m of line.matchAll(FILE_URL)) {
      const why = absoluteWhy(m[1], m[2] === "" ? "/x" : m[2]);
      if (why) add(m.index, m[0], `a file URL: ${why}`);
    }
    for (const m of line.matchAll(HOME)) add(m.index, m[0], "a user's home directory");
    for (const m of line.matchAll(SHARED)) {
      add(m.index, m[0], "a shared directory next to the clone");
    }
    for (const m of line.matchAll(CLIMB)) {
      const ups = m[1].length / 3;
      if (ups > depth && m[2] !== "shared") {
        add(m.index, m[0], `climbs ${ups} levels from a file ${depth} deep`);
      }
    }
  }
  return out;
}

/**
 * Why a symbolic link at `file` (relative to the root) with target `target`
 * leads outside the repository, or null when it stays inside.
 */
export function symlinkWhy(file: string, target: string): string | null {
  if (target.startsWith("/")) return "a symbolic link to an absolute path";
  const parts = file.split("/").slice(0, -1);
  for (const p of target.split("/")) {
    if (p === "..") {
      if (parts.length === 0) return "a symbolic link that climbs out of the repository";
      parts.pop();
    } else if (p !== "." && p !== "") parts.push(p);
  }
  return null;
}

async function listFiles(root: string): Promise<string[]> {
  try {
    const r = await new Deno.Command("git", {
      args: ["-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (r.success) {
      return new TextDecoder().decode(r.stdout).split("\0").filter((f) => f !== "");
    }
  } catch {
    // no git: walk the tree below
  }
  const out: string[] = [];
  const skip = new Set([".git", "dist", "node_modules"]);
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(`${root}/${dir}`)) {
      const rel = dir === "" ? e.name : `${dir}/${e.name}`;
      if (e.isDirectory && !skip.has(e.name)) walk(rel);
      else if (e.isFile || e.isSymlink) out.push(rel);
    }
  };
  walk("");
  return out.sort();
}

/** Scans every file of the repository at `root`; returns the findings and how many files were read. */
export async function scanRepository(
  root: string,
): Promise<{ files: number; findings: Finding[] }> {
  const findings: Finding[] = [];
  let files = 0;
  for (const file of await listFiles(root)) {
    const path = `${root}/${file}`;
    let bytes: Uint8Array;
    try {
      if ((await Deno.lstat(path)).isSymlink) {
        files++;
        const target = await Deno.readLink(path);
        const why = symlinkWhy(file, target);
        if (why) findings.push({ file, line: 1, col: 1, token: target, why });
        continue;
      }
      bytes = await Deno.readFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // deleted but not yet staged
      throw e;
    }
    if (bytes.subarray(0, 8000).includes(0)) continue; // binary (captures)
    files++;
    findings.push(...scanText(file, new TextDecoder().decode(bytes)));
  }
  return { files, findings };
}

if (import.meta.main) {
  const root = Deno.args[0] ?? new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const { files, findings } = await scanRepository(root);
  for (const f of findings) console.log(`${f.file}:${f.line}:${f.col}: ${f.token}: ${f.why}`);
  if (findings.length > 0) {
    console.log(
      `check-paths: ${findings.length} reference(s) to paths outside the repository in ${files} files` +
        ` (fix them, or mark a deliberate one with "${ALLOW_MARKER}")`,
    );
    Deno.exit(1);
  }
  console.log(`check-paths: ${files} files, no path outside the repository`);
}
