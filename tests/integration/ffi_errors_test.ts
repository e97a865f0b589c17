/**
 * Failures come back as typed `OsError`s naming the call and errno, never as
 * crashes: closed fds, missing devices, busy ports,
 * unassigned addresses, missing namespaces. Also checks the `size()` number
 * bridge for 64-bit arguments on the fast-call path.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../assert.ts";
import { parseIp } from "../../core/addr.ts";
import { E, errnoName, isNonBlocking, OsError, setNonBlocking } from "../../ffi/libc.ts";
import { inNetns } from "../../ffi/netns.ts";
import { openRawIp } from "../../ffi/raw.ts";
import { getMtu, ifIndex, openTap, setMac, setMtu } from "../../ffi/tap.ts";
import { openUdp } from "../../ffi/udp.ts";
import { IoLoop } from "../../ffi/loop.ts";
import { Lab } from "../lab/netns.ts";

function osError(fn: () => unknown, code: string, callPart: string): OsError {
  const e = assertThrows(fn, OsError) as OsError;
  assertEquals(e.code, code, e.message);
  assertEquals(e.errno, E[code as keyof typeof E]);
  assertStringIncludes(e.message, callPart);
  assertStringIncludes(e.message, `failed: ${code} (`);
  return e;
}

Deno.test("ffi errors: OsError carries call, errno and name", () => {
  const e = new OsError("ioctl(TUNSETIFF)", E.EPERM);
  assertEquals(e.message, "ioctl(TUNSETIFF) failed: EPERM (Operation not permitted)");
  assertEquals([e.name, e.call, e.errno, e.code], ["OsError", "ioctl(TUNSETIFF)", 1, "EPERM"]);
  assert(e instanceof Error);
  assertEquals(errnoName(E.EAGAIN), "EAGAIN");
  assertEquals(errnoName(4095), "E4095");
});

Deno.test("ffi errors: closed fds, missing devices, busy ports give OsError and leak nothing", async () => {
  const lab = await Lab.create("err");
  try {
    const ns = await lab.netns("a");
    await lab.addr(ns, "lo", "10.81.0.1/32");
    const home = Deno.readLinkSync("/proc/thread-self/ns/net");
    inNetns(ns, () => {
      // Closed fds: the next call fails with EBADF instead of touching a reused fd.
      const u = openUdp({ bind: "127.0.0.1:0" });
      u.close();
      u.close(); // idempotent
      osError(() => u.recv(), "EBADF", "recvmmsg");
      osError(() => u.send(new Uint8Array(4), { ip: u.local.ip, port: 9 }), "EBADF", "send");
      const t = openTap({ name: "l2err0" });
      t.close();
      osError(() => t.read(), "EBADF", "read(tap l2err0)");
      assertThrows(() => t.write(new Uint8Array(60)), OsError);

      // Missing devices.
      osError(() => ifIndex("l2nope0"), "ENODEV", "if_nametoindex(l2nope0)");
      osError(() => setMtu("l2nope0", 1500), "ENODEV", "ioctl(SIOCSIFMTU) on l2nope0");
      osError(() => getMtu("l2nope0"), "ENODEV", "SIOCGIFMTU");
      osError(() => setMac("l2nope0", 0x020000000001), "ENODEV", "SIOCSIFHWADDR");
      // Attaching a TAP to an existing non-TUN device.
      osError(() => openTap({ name: "lo" }), "EINVAL", "ioctl(TUNSETIFF)");

      // Bind failures close the fd they opened.
      const held = openUdp({ bind: "10.81.0.1:0" });
      try {
        osError(() => openUdp({ bind: `10.81.0.1:${held.local.port}` }), "EADDRINUSE", "bind(UDP");
      } finally {
        held.close();
      }
      osError(() => openUdp({ bind: "10.81.9.9:0" }), "EADDRNOTAVAIL", "bind(UDP 10.81.9.9:0)");
      osError(() => openRawIp({ protocol: 115, bind: "10.81.9.9" }), "EADDRNOTAVAIL", "bind(raw");
      // A multicast MAC fails after TUNSETIFF: the queue fd is closed on that path too.
      osError(
        () => openTap({ name: "l2err1", mac: 0x010000000002 }),
        "EADDRNOTAVAIL",
        "SIOCSIFHWADDR",
      );
    });
    assertThrows(() => openRawIp({ protocol: 0 }), RangeError);
    assertThrows(() => openUdp({ bind: "10.0.0.1" }), Error, "missing port");
    osError(
      () => inNetns("l2t-does-not-exist", () => 1),
      "ENOENT",
      "open(/run/netns/l2t-does-not-exist)",
    );
    // A namespace switch is undone even when the function throws.
    assertThrows(
      () =>
        inNetns(ns, () => {
          throw new Error("boom");
        }),
      Error,
      "boom",
    );
    assertEquals(
      Deno.readLinkSync("/proc/thread-self/ns/net"),
      home,
      "back in the original namespace",
    );
    const inside = inNetns(ns, () => Deno.readLinkSync("/proc/thread-self/ns/net"));
    assert(inside !== home, "inNetns really switched");

    // A loop that never ran still closes its eventfd.
    const loop = new IoLoop();
    await loop.close();
  } finally {
    await lab.close();
  }
});

Deno.test("ffi libc: size() passes exact lengths on the fast-call path", () => {
  const a = openUdp({ bind: "127.0.0.1:0", batch: 64 });
  const b = openUdp({ bind: "127.0.0.1:0" });
  try {
    // Enough calls for V8 to optimise sendto into a fast call; every length must survive.
    let bad = 0, seen = 0;
    const buf = new Uint8Array(3000);
    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < 32; i++) {
        const len = 1 + ((round * 32 + i) * 97) % 2999;
        new DataView(buf.buffer).setUint16(0, len);
        assertEquals(b.send(buf.subarray(0, len), a.local), 0);
      }
      for (let guard = 0; guard < 100 && seen < (round + 1) * 32; guard++) {
        const n = a.recv();
        for (let i = 0; i < n; i++) {
          seen++;
          const len = a.rx.lens[i];
          const want = len >= 2
            ? new DataView(a.rx.bufs[i].buffer, a.rx.bufs[i].byteOffset).getUint16(0)
            : 1;
          if (len !== want) bad++;
        }
      }
    }
    assertEquals(bad, 0);
    assertEquals(seen, 400 * 32);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("ffi libc: fds are non-blocking; fcntl errors are typed", () => {
  const s = openUdp({ bind: "127.0.0.1:0" });
  try {
    assert(isNonBlocking(s.fd), "sockets open non-blocking");
    setNonBlocking(s.fd); // idempotent
    assert(isNonBlocking(s.fd));
  } finally {
    s.close();
  }
  osError(() => setNonBlocking(-1), "EBADF", "fcntl(fd -1, F_GETFL)");
});

Deno.test("ffi addr: endpoint parse feeds sockets", () => {
  const r = parseIp("::ffff:127.0.0.1");
  assert(r.ok);
  const s = openUdp({ bind: { ip: r.value, port: 0 } });
  try {
    assertEquals(s.local.ip, r.value);
  } finally {
    s.close();
  }
});
