/**
 * What `deno task install` writes, as text: the launcher runs the bundle on
 * its own Deno with the V8 flags and l2's permissions (the same list as
 * deno.json's `l2` task), and the systemd units run each daemon on its config
 * section with the capabilities it needs and no others.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { launcherText, SERVICE_KINDS, unitText } from "../../cmd/install.ts";
import { DENO_PERMISSIONS } from "../../cmd/kit/runtime.ts";
import { V8_FLAGS_ARG } from "../../cmd/v8_flags.ts";
import { VERSION } from "../../cmd/kit/version.ts";

const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));

Deno.test("install: deno.json's l2 task has exactly l2's permissions; VERSION is deno.json's", () => {
  const task = String(denoJson.tasks.l2).split(/\s+/);
  assertEquals(task.filter((a) => a.startsWith("--allow-")), [...DENO_PERMISSIONS]);
  assertEquals(VERSION, denoJson.version);
  assertStringIncludes(String(denoJson.tasks.install), "cmd/install.ts install");
  assertStringIncludes(String(denoJson.tasks.uninstall), "cmd/install.ts uninstall");
});

Deno.test("install: the launcher execs its own Deno on the bundle, offline, with flags and permissions", () => {
  const t = launcherText("/opt/x");
  const lines = t.trim().split("\n");
  assertEquals(lines[0], "#!/bin/sh");
  const exec = lines.at(-1)!.split(" ");
  assertEquals(exec.slice(0, 3), ["exec", "/opt/x/lib/l2/deno", "run"]);
  for (const want of ["--no-config", "--no-remote", V8_FLAGS_ARG, ...DENO_PERMISSIONS]) {
    assert(exec.includes(want), `launcher lacks ${want}: ${t}`);
  }
  assertEquals(exec.slice(-2), ["/opt/x/lib/l2/l2.js", '"$@"']);
  assertStringIncludes(t, "DENO_NO_UPDATE_CHECK=1");
});

Deno.test("install: systemd units: instance = config section, sandbox with what each daemon needs", () => {
  for (const kind of SERVICE_KINDS) {
    const u = unitText(kind, "/usr/local");
    const keys = new Map<string, string[]>();
    for (const line of u.split("\n")) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m) keys.set(m[1], [...(keys.get(m[1]) ?? []), m[2]]);
    }
    const one = (k: string) => (keys.get(k) ?? [""])[0];
    // One spelling of the section for every daemon: --section (issue 16).
    const start = `/usr/local/bin/l2 ${kind} --section %i --config /etc/l2/l2.yaml`;
    assertEquals(one("ExecStart"), start, kind);
    assertEquals(one("ExecReload"), '/bin/sh -c "kill -HUP $MAINPID"', kind);
    assertEquals(one("CapabilityBoundingSet"), "CAP_NET_ADMIN CAP_NET_RAW", kind);
    assertEquals(one("DeviceAllow"), "/dev/net/tun rw", kind);
    assertEquals(one("DevicePolicy"), "closed", kind);
    assertEquals(one("NoNewPrivileges"), "yes", kind);
    assertEquals(one("ProtectSystem"), "strict", kind);
    assertEquals(one("RestartPreventExitStatus"), "2", kind);
    assertEquals(one("Environment"), "DENO_DIR=/var/cache/l2", kind);
    assertEquals(one("CacheDirectory"), "l2", kind);
    assert(!keys.has("MemoryDenyWriteExecute"), "V8 needs W+X pages");
    assert(!keys.has("PrivateDevices"), "PrivateDevices would hide /dev/net/tun");
    for (const fam of ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNIX"]) {
      assert(one("RestrictAddressFamilies").split(" ").includes(fam), `${kind}: ${fam}`);
    }
    // The VPN daemons keep keys, bindings, pins and leaf tables in /var/lib/l2/SECTION.
    const vpn = kind === "node" || kind === "supernode";
    assertEquals(one("StateDirectory"), vpn ? "l2/%i" : "", kind);
  }
});
