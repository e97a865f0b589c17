/**
 * `deno task install` and `deno task uninstall`: `l2` as a command, with its
 * shell completion and systemd units, runnable with no network and no npx.
 *
 * What install puts under PREFIX (default /usr/local), staged under DESTDIR
 * when one is given (paths inside the files are PREFIX paths):
 *
 * ```
 *   bin/l2                                    the launcher (sh): exec lib/l2/deno run ... lib/l2/l2.js "$@"
 *   lib/l2/deno                               a copy of the Deno running the install (2.9.6, pinned)
 *   lib/l2/l2.js                              `deno bundle` of main.ts: every dependency inside
 *   lib/l2/installed                          what install made, for uninstall
 *   lib/systemd/system/l2-node@.service       systemd template units, instance = config section
 *   lib/systemd/system/l2-supernode@.service
 *   lib/systemd/system/l2-las@.service
 *   lib/systemd/system/l2-xconnect@.service
 *   share/bash-completion/completions/l2      completion (`l2 completion bash|zsh|fish`)
 *   share/zsh/site-functions/_l2
 *   share/fish/vendor_completions.d/l2.fish
 * ```
 *
 * The launcher runs the bundle on its own Deno with `--no-config
 * --no-remote`, the V8 flags (`cmd/v8_flags.ts`) and l2's permissions
 * (`cmd/kit/runtime.ts`): nothing is fetched at run time, and a deno.json in
 * the working directory does not apply. It `exec`s the runtime, so the pid a
 * shell or systemd gets is l2 itself and signals reach it.
 *
 * Uninstall removes the files listed in `lib/l2/installed` (or, without it,
 * the list above) and the directories install created, if empty.
 *
 * Run from a clone: `deno run -A cmd/install.ts install|uninstall
 * [--prefix DIR] [--destdir DIR]` (PREFIX and DESTDIR from the environment
 * work too).
 *
 * @module
 */
import { denoRunArgs } from "./kit/runtime.ts";
import { VERSION } from "./kit/version.ts";

/** The daemons that get a systemd template unit. */
export const SERVICE_KINDS = ["node", "supernode", "las", "xconnect"] as const;
type ServiceKind = typeof SERVICE_KINDS[number];

/** The config file the units run with. */
export const UNIT_CONFIG = "/etc/l2/l2.yaml";

/** The first line after the shebang of every launcher install writes. */
const LAUNCHER_MARK = "# l2 launcher, written by `deno task install`";

/** Where things go. */
export interface InstallPaths {
  /** Installation prefix, absolute (default /usr/local). */
  prefix: string;
  /** Staging root prepended to every path written ("" for none). */
  destdir: string;
}

/** Files install writes, relative to PREFIX. */
export function installedFiles(): string[] {
  return [
    "bin/l2",
    "lib/l2/deno",
    "lib/l2/l2.js",
    ...SERVICE_KINDS.map((k) => `lib/systemd/system/l2-${k}@.service`),
    "share/bash-completion/completions/l2",
    "share/zsh/site-functions/_l2",
    "share/fish/vendor_completions.d/l2.fish",
    "lib/l2/installed",
  ];
}

/** The launcher script for PREFIX. */
export function launcherText(prefix: string): string {
  const lib = `${prefix}/lib/l2`;
  const args = [`${lib}/deno`, ...denoRunArgs(`${lib}/l2.js`, true)].map(shQuote).join(" ");
  return `#!/bin/sh
${LAUNCHER_MARK} (l2 ${VERSION}).
# Runs l2 on its own copy of Deno, with no network access needed; exec, so
# this process becomes l2 and signals sent to its pid reach l2 itself.
export DENO_NO_UPDATE_CHECK=1
exec ${args} "$@"
`;
}

function shQuote(s: string): string {
  return /^[A-Za-z0-9_./=,:+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

const UNIT_WHAT: Record<ServiceKind, string> = {
  node: "VPN node",
  supernode: "VPN supernode",
  las: "L2TPv3 access switch",
  xconnect: "L2TPv3 edge (xconnect)",
};

/**
 * The systemd template unit of `kind` for an l2 installed under PREFIX: the
 * instance is the config section (`l2-node@home` runs `node: home:` of
 * /etc/l2/l2.yaml). Sandboxed to what the daemon needs: CAP_NET_ADMIN (TAP
 * devices, addresses, buffer sizes, interface flags) and CAP_NET_RAW (raw IP
 * and packet sockets) and nothing else, /dev/net/tun, a private state
 * directory (/var/lib/l2/SECTION, the default `state_dir`, for the VPN
 * daemons), a cache directory for Deno (DENO_DIR), the rest of the file
 * system read-only. `systemctl reload` sends SIGHUP. No
 * MemoryDenyWriteExecute: V8 compiles JavaScript at run time.
 */
export function unitText(kind: ServiceKind, prefix: string): string {
  const l2 = `${prefix}/bin/l2`;
  const exec = `${l2} ${kind} --section %i --config ${UNIT_CONFIG}`;
  const state = kind === "node" || kind === "supernode"
    ? "StateDirectory=l2/%i\nStateDirectoryMode=0700\n"
    : "";
  return `# Written by \`deno task install\` (l2 ${VERSION}); \`deno task uninstall\` removes it.
[Unit]
Description=l2 ${UNIT_WHAT[kind]}, config section ${kind}.%i
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
ExecStart=${exec}
ExecReload=/bin/sh -c "kill -HUP $MAINPID"
Restart=on-failure
RestartSec=2
# Exit code 2 is a configuration error: restarting does not help.
RestartPreventExitStatus=2
Environment=DENO_DIR=/var/cache/l2
CacheDirectory=l2
CacheDirectoryMode=0700
${state}UMask=0077
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
DevicePolicy=closed
DeviceAllow=/dev/net/tun rw
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET

[Install]
WantedBy=multi-user.target
`;
}

/** Directories of `path` (absolute) that do not exist yet, outermost first. */
function missingDirs(path: string): string[] {
  const out: string[] = [];
  let p = path;
  while (p !== "/" && p !== "") {
    try {
      Deno.statSync(p);
      break;
    } catch {
      out.unshift(p);
      p = p.slice(0, p.lastIndexOf("/")) || "/";
    }
  }
  return out;
}

/** Writes `data` at `path` through a temporary file and a rename. */
function writeAtomic(path: string, data: string | Uint8Array, mode: number): void {
  const tmp = `${path}.new-${Deno.pid}`;
  if (typeof data === "string") Deno.writeTextFileSync(tmp, data, { mode });
  else Deno.writeFileSync(tmp, data, { mode });
  Deno.chmodSync(tmp, mode);
  Deno.renameSync(tmp, path);
}

/**
 * The manifest `lib/l2/installed`: lines `file REL` and `dir REL`, paths
 * relative to PREFIX (so a staged install reads right once copied in place).
 * Returns absolute paths under `root`; a line leaving the prefix is ignored.
 */
function readManifest(root: string): { files: string[]; dirs: string[] } | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${root}/lib/l2/installed`);
  } catch {
    return null;
  }
  const files: string[] = [], dirs: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^(file|dir) ([^/].*)$/.exec(line);
    if (!m || m[2].split("/").some((c) => c === ".." || c === "." || c === "")) continue;
    (m[1] === "file" ? files : dirs).push(`${root}/${m[2]}`);
  }
  return { files, dirs };
}

function checkPaths(p: InstallPaths): void {
  if (!p.prefix.startsWith("/") || p.prefix.includes("\n")) {
    throw new Error(`the prefix must be an absolute path, got ${p.prefix}`);
  }
  if (p.destdir !== "" && !p.destdir.startsWith("/")) {
    throw new Error(`DESTDIR must be an absolute path, got ${p.destdir}`);
  }
}

/** Options of `install`. */
export interface InstallOptions extends InstallPaths {
  /** main.ts of the clone to bundle. */
  main: string;
  /** Replace a `bin/l2` that this installer did not write. */
  force?: boolean;
  /** Progress lines (default: console.log). */
  say?: (line: string) => void;
}

/**
 * Installs l2 under PREFIX (staged under DESTDIR); returns the files
 * written (with DESTDIR). Throws with a one-line reason.
 */
export async function install(o: InstallOptions): Promise<string[]> {
  checkPaths(o);
  const say = o.say ?? ((l: string) => console.log(l));
  const root = `${o.destdir}${o.prefix}`.replace(/\/+$/, "");
  const lib = `${root}/lib/l2`;
  const bin = `${root}/bin/l2`;
  try {
    const old = Deno.readTextFileSync(bin);
    if (!old.includes(LAUNCHER_MARK) && !o.force) {
      throw new Error(`${bin} exists and is not an l2 launcher; --force replaces it`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const manifestPath = `${lib}/installed`;
  const before = readManifest(root);
  const created = new Set(before?.dirs ?? []);
  const files = installedFiles().map((f) => `${root}/${f}`);
  for (const f of files) {
    const dir = f.slice(0, f.lastIndexOf("/"));
    for (const d of missingDirs(dir)) if (d.startsWith(`${root}/`)) created.add(d);
    Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
  }

  // The bundle, made with this Deno from the clone (its deno.json and lock file apply).
  // The temporary name ends in .js: deno bundle picks its output format by the extension.
  const tmpJs = `${lib}/l2.new-${Deno.pid}.js`;
  const b = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "-o", tmpJs, o.main],
    cwd: o.main.slice(0, o.main.lastIndexOf("/")) || "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!b.success) {
    await Deno.remove(tmpJs).catch(() => {});
    throw new Error(`deno bundle failed: ${new TextDecoder().decode(b.stderr).trim()}`);
  }
  Deno.chmodSync(tmpJs, 0o644);
  Deno.renameSync(tmpJs, `${lib}/l2.js`);
  say(`wrote ${lib}/l2.js (deno bundle of ${o.main})`);

  // The runtime: a copy of this Deno (the pinned version the tasks run on).
  const tmpDeno = `${lib}/deno.new-${Deno.pid}`;
  Deno.copyFileSync(Deno.execPath(), tmpDeno);
  Deno.chmodSync(tmpDeno, 0o755);
  Deno.renameSync(tmpDeno, `${lib}/deno`);
  say(`wrote ${lib}/deno (Deno ${Deno.version.deno}, copied from ${Deno.execPath()})`);

  writeAtomic(bin, launcherText(o.prefix), 0o755);
  say(`wrote ${bin}`);

  for (const kind of SERVICE_KINDS) {
    const f = `${root}/lib/systemd/system/l2-${kind}@.service`;
    writeAtomic(f, unitText(kind, o.prefix), 0o644);
  }
  say(`wrote ${root}/lib/systemd/system/l2-{${SERVICE_KINDS.join(",")}}@.service`);

  // Completion scripts, from the installed l2 itself (staged paths: it need not be on PATH).
  const shells: [string, string][] = [
    ["bash", "share/bash-completion/completions/l2"],
    ["zsh", "share/zsh/site-functions/_l2"],
    ["fish", "share/fish/vendor_completions.d/l2.fish"],
  ];
  for (const [shell, rel] of shells) {
    const r = await new Deno.Command(`${lib}/deno`, {
      args: [...denoRunArgs(`${lib}/l2.js`, true), "completion", shell],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success || r.stdout.length === 0) {
      throw new Error(
        `l2 completion ${shell} failed: ${new TextDecoder().decode(r.stderr).trim()}`,
      );
    }
    writeAtomic(`${root}/${rel}`, r.stdout, 0o644);
  }
  say(`wrote completion for bash, zsh and fish under ${root}/share`);

  const manifest = [
    `# What \`deno task install\` (l2 ${VERSION}) made; \`deno task uninstall\` removes it.`,
    ...installedFiles().map((f) => `file ${f}`),
    ...[...created].map((d) => `dir ${d.slice(root.length + 1)}`),
  ].join("\n") + "\n";
  writeAtomic(manifestPath, manifest, 0o644);
  if (o.destdir === "") await systemdReload(say);
  return files;
}

/** `systemctl daemon-reload` when systemd runs this machine (it then sees new or removed units). */
async function systemdReload(say: (l: string) => void): Promise<void> {
  try {
    Deno.statSync("/run/systemd/system");
  } catch {
    return;
  }
  const r = await new Deno.Command("systemctl", { args: ["daemon-reload"], stdin: "null" })
    .output().catch(() => null);
  say(r?.success ? "systemctl daemon-reload: done" : "systemctl daemon-reload failed");
}

/**
 * Removes what install wrote under PREFIX (staged under DESTDIR): the files
 * of its manifest (or the known list), then the directories it created when
 * they are empty. Returns the paths removed.
 */
export async function uninstall(
  p: InstallPaths & { say?: (line: string) => void },
): Promise<string[]> {
  checkPaths(p);
  const say = p.say ?? ((l: string) => console.log(l));
  const root = `${p.destdir}${p.prefix}`.replace(/\/+$/, "");
  const bin = `${root}/bin/l2`;
  try {
    if (!Deno.readTextFileSync(bin).includes(LAUNCHER_MARK)) {
      throw new Error(`${bin} is not an l2 launcher: not removing anything`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const m = readManifest(root);
  const files = m?.files ?? installedFiles().map((f) => `${root}/${f}`);
  const removed: string[] = [];
  for (const f of files) {
    try {
      Deno.removeSync(f);
      removed.push(f);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  // lib/l2 is install's own; the others only if install created them and they are empty.
  const dirs = [...(m?.dirs ?? []), `${root}/lib/l2`].sort((a, b) => b.length - a.length);
  for (const d of dirs) {
    try {
      Deno.removeSync(d);
      removed.push(d);
    } catch {
      // not empty (someone else's files), or gone
    }
  }
  say(
    removed.length
      ? `removed ${removed.length} paths under ${root}`
      : `nothing installed under ${root}`,
  );
  if (p.destdir === "") await systemdReload(say);
  return removed;
}

function parseArgs(
  args: string[],
): { action: string; prefix: string; destdir: string; force: boolean } {
  let prefix = Deno.env.get("PREFIX") || "/usr/local";
  let destdir = Deno.env.get("DESTDIR") ?? "";
  let force = false;
  const action = args[0] ?? "";
  for (let i = 1; i < args.length; i++) {
    const a = args[i];
    const val = (name: string) => {
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
      const v = args[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    if (a === "--prefix" || a.startsWith("--prefix=")) prefix = val("--prefix");
    else if (a === "--destdir" || a.startsWith("--destdir=")) destdir = val("--destdir");
    else if (a === "--force") force = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return {
    action,
    prefix: prefix.replace(/\/+$/, "") || "/",
    destdir: destdir.replace(/\/+$/, ""),
    force,
  };
}

if (import.meta.main) {
  const usage = "usage: deno run -A cmd/install.ts install|uninstall [--prefix DIR] " +
    "[--destdir DIR] [--force]";
  try {
    const a = parseArgs(Deno.args);
    if (a.action === "install") {
      const main = new URL("../main.ts", import.meta.url).pathname;
      await install({ prefix: a.prefix, destdir: a.destdir, force: a.force, main });
      const l2 = `${a.destdir}${a.prefix}/bin/l2`;
      if (a.destdir === "") {
        const v = await new Deno.Command(l2, { args: ["--version"], stdin: "null" }).output();
        console.log(new TextDecoder().decode(v.stdout).trim());
      }
      console.log(`installed: ${l2}; \`deno task uninstall\` removes it`);
    } else if (a.action === "uninstall") {
      await uninstall({ prefix: a.prefix, destdir: a.destdir });
    } else {
      console.error(usage);
      Deno.exit(2);
    }
  } catch (e) {
    console.error(`l2 ${Deno.args[0] ?? "install"}: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
