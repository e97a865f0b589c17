/**
 * "In use" and similar OS errors say which flag or key to change
 * (cmd/kit/oserror.ts), from Deno's errors and from ffi/'s OsError alike.
 */
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { errorCode, inUseMessage } from "../../cmd/kit/oserror.ts";
import { OsError } from "../../ffi/libc.ts";

Deno.test("oserror: a taken TCP port names the flag, the key and how to find the holder", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  try {
    let caught: unknown;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch (e) {
      caught = e;
    }
    assertEquals(errorCode(caught), "EADDRINUSE");
    const m = inUseMessage(caught, {
      what: "the management endpoint",
      target: `127.0.0.1:${port}`,
      flag: "--api",
      key: "node.home.api",
      proto: "tcp",
    })!;
    assertStringIncludes(m, `the management endpoint 127.0.0.1:${port} is in use`);
    assertStringIncludes(m, `ss -ltnp 'sport = :${port}'`);
    assertStringIncludes(m, "choose another with --api 127.0.0.1:PORT or node.home.api");
  } finally {
    l.close();
  }
  await Promise.resolve();
});

Deno.test("oserror: ffi's EBUSY (a TAP in use) and EADDRINUSE (UDP) name what to change", () => {
  const busy = inUseMessage(new OsError("ioctl(TUNSETIFF)", 16), {
    what: "TAP device l2tap0",
    target: "l2tap0",
    flag: "--tap",
    key: "node.home.tap",
  })!;
  assertStringIncludes(busy, "TAP device l2tap0 is busy");
  assertStringIncludes(busy, "choose another with --tap NAME or node.home.tap in the config file");
  const udp = inUseMessage(new OsError("bind([::]:7654)", 98), {
    what: "the UDP port",
    target: "[::]:7654",
    flag: "--listen",
    key: "supernode.default.listen",
    proto: "udp",
  })!;
  assertStringIncludes(udp, "ss -lunp 'sport = :7654'");
  assertStringIncludes(udp, "--listen [::]:PORT");
  assertEquals(inUseMessage(new Error("something else"), { what: "x", target: "y" }), null);
});
