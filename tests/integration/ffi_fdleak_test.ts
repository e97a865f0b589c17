/**
 * No fd leaks: every open/close cycle and every failure path of ffi/ leaves
 * the process with the fds it had. Counting /proc/self/fd needs a process of
 * its own (`deno test --parallel` runs other test files in this one), so the
 * test runs this file again as a child (`L2T_FDLEAK_CHILD=1`), which
 * exercises everything inside a namespace it makes and prints its counts.
 * Unix-domain sockets are not counted: the Deno runtime opens a socketpair
 * lazily for itself at some point, and ffi/ never creates one.
 */
import { assert, assertEquals } from "../assert.ts";
import { parseIp } from "../../core/addr.ts";
import { OsError } from "../../ffi/libc.ts";
import { IoLoop } from "../../ffi/loop.ts";
import { inNetns } from "../../ffi/netns.ts";
import { openRawIp } from "../../ffi/raw.ts";
import { getMtu, ifIndex, openTap, setMac } from "../../ffi/tap.ts";
import { openUdp } from "../../ffi/udp.ts";
import { countFds, Lab, requireRoot, run } from "../lab/netns.ts";

function expectOsError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof OsError) return;
    throw e;
  }
  throw new Error("expected an OsError");
}

async function scenario(ns: string): Promise<void> {
  const r = parseIp("10.83.0.1");
  if (!r.ok) throw new Error(r.reason);
  inNetns(ns, () => {
    for (let round = 0; round < 3; round++) {
      const u4 = openUdp({ bind: "10.83.0.1:0" });
      const u6 = openUdp({ bind: "[::]:0" });
      u4.send(new Uint8Array(10), u6.local.port ? { ip: r.value, port: u6.local.port } : u4.local);
      u4.queue(new Uint8Array(10), u4.local, r.value);
      u4.flush();
      u6.recv();
      u4.recv();
      u4.close();
      u6.close();
      const raw4 = openRawIp({ protocol: 115 });
      const raw6 = openRawIp({ protocol: 115, family: 6 });
      raw4.send(new Uint8Array(4), { ip: r.value, port: 0 }, r.value);
      raw4.recv();
      raw4.close();
      raw6.close();
      const tap = openTap({ name: "l2leak0", mtu: 1400, mac: 0x020000000011 });
      tap.read();
      tap.write(new Uint8Array(60));
      const q = openTap({ name: "l2mq0", multiQueue: true });
      expectOsError(() => openTap({ name: "l2mq0" })); // single-queue attach refused
      q.close();
      tap.close();
      const tun = openTap({ name: "l2tun0", mode: "tun" });
      tun.close();
      // Failure paths.
      expectOsError(() => tap.read());
      expectOsError(() => u4.recv());
      expectOsError(() => openTap({ name: "lo" }));
      expectOsError(() => openTap({ name: "l2bad0", mac: 0x010000000001 }));
      expectOsError(() => openUdp({ bind: "10.83.9.9:0" }));
      expectOsError(() => openRawIp({ protocol: 115, bind: "10.83.9.9" }));
      expectOsError(() => getMtu("l2nope0"));
      expectOsError(() => setMac("l2nope0", 0x020000000001));
      expectOsError(() => ifIndex("l2nope0"));
    }
  });
  expectOsError(() => inNetns("l2t-does-not-exist", () => 0));
  // Loops: closed normally, and stopped by a failing handler.
  for (let round = 0; round < 3; round++) {
    const s = inNetns(ns, () => openUdp({ bind: "10.83.0.1:0" }));
    const loop = new IoLoop();
    loop.add(s.fd, () => s.recv(), () => s.close());
    const done = loop.run();
    await new Promise((res) => setTimeout(res, 5));
    await loop.close();
    await done;
    const t = inNetns(ns, () => openUdp({ bind: "10.83.0.1:0" }));
    const bad = new IoLoop();
    bad.add(t.fd, () => {
      throw new Error("stop");
    }, () => t.close());
    const failed = bad.run().catch(() => {});
    t.send(new Uint8Array(1), t.local);
    await failed;
    await bad.close();
  }
}

if (Deno.env.get("L2T_FDLEAK_CHILD") === "1") {
  const lab = await Lab.create("fdleak");
  let out = "";
  try {
    const ns = await lab.netns("a");
    await lab.addr(ns, "lo", "10.83.0.1/32");
    await scenario(ns); // first run loads libraries and warms caches
    const links = () =>
      [...Deno.readDirSync("/proc/self/fd")].map((e) => {
        try {
          return `${e.name}=${Deno.readLinkSync(`/proc/self/fd/${e.name}`)}`;
        } catch {
          return e.name;
        }
      });
    const beforeLinks = links();
    const before = countFds({ excludeUnix: true });
    await scenario(ns);
    const after = countFds({ excludeUnix: true });
    const afterLinks = links();
    const diff = [
      ...beforeLinks.filter((l) => !afterLinks.includes(l)).map((l) => `-${l}`),
      ...afterLinks.filter((l) => !beforeLinks.includes(l)).map((l) => `+${l}`),
    ];
    // The counter itself works: one socket left open shows up.
    const probe = inNetns(ns, () => openUdp({ bind: "10.83.0.1:0" }));
    const withProbe = countFds({ excludeUnix: true });
    probe.close();
    out = JSON.stringify({ before, after, withProbe, diff });
  } finally {
    await lab.close();
  }
  console.log(out);
}

Deno.test("ffi: no fd leaks across open/close cycles and failure paths (own process)", async () => {
  requireRoot();
  const res = await run([Deno.execPath(), "run", "-A", import.meta.filename!], {
    timeoutMs: 60_000,
    env: { L2T_FDLEAK_CHILD: "1" },
  });
  const line = res.stdout.trim().split("\n").at(-1) ?? "";
  const counts = JSON.parse(line) as {
    before: number;
    after: number;
    withProbe: number;
    diff: string[];
  };
  assert(counts.before > 0, res.stdout);
  assertEquals(counts.withProbe, counts.after + 1, "the fd counter sees one open socket");
  assertEquals(counts.after, counts.before, `no fd leaks; changed: ${counts.diff.join(" ")}`);
});
