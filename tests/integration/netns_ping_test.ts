/**
 * cmd/netns_ping.ts against the kernel: l2's own ICMP/ICMPv6 echo from a
 * raw socket opened inside a namespace this test makes (`l2in-pa`, with a
 * veth to `l2in-pb`), as `l2 demo` uses it instead of iputils-ping. Root.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { formatPing, pingFromNetns } from "../../cmd/netns_ping.ts";

const A = "l2in-pa", B = "l2in-pb";

async function ip(...args: string[]): Promise<void> {
  const r = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!r.success) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

async function cleanup(): Promise<void> {
  for (const ns of [A, B]) {
    await new Deno.Command("ip", { args: ["netns", "del", ns], stderr: "null" }).output();
  }
}

function openFds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

Deno.test("netns ping: IPv4 and IPv6 echo from inside a namespace, loss counted, no fd left", async () => {
  await cleanup();
  try {
    await ip("netns", "add", A);
    await ip("netns", "add", B);
    await ip("link", "add", "eth0", "netns", A, "type", "veth", "peer", "name", "eth0", "netns", B);
    for (const [ns, i] of [[A, 1], [B, 2]] as const) {
      await ip("-n", ns, "addr", "add", `10.77.0.${i}/24`, "dev", "eth0");
      await ip("-n", ns, "addr", "add", `fd77::${i}/64`, "dev", "eth0", "nodad");
      await ip("-n", ns, "link", "set", "eth0", "up");
      await ip("-n", ns, "link", "set", "lo", "up");
    }
    const fds = openFds();
    for (const target of ["10.77.0.2", "fd77::2"]) {
      // Generous wait: the link has just come up (IPv6 neighbour discovery may retry once).
      const r = await pingFromNetns(A, target, { count: 3, intervalMs: 100, timeoutMs: 15_000 });
      assertEquals(
        [r.sent, r.received, r.lossPct, r.duplicates],
        [3, 3, 0, 0],
        formatPing(target, r),
      );
      assert(r.minMs! >= 0 && r.minMs! <= r.avgMs! && r.avgMs! <= r.maxMs!, formatPing(target, r));
    }
    // The target answers from the namespace; this process's own namespace has no such address.
    const lost = await pingFromNetns(A, "10.77.0.9", { count: 2, intervalMs: 100, timeoutMs: 300 });
    assertEquals([lost.sent, lost.received, lost.lossPct, lost.minMs], [2, 0, 100, null]);
    assertEquals(formatPing("10.77.0.9", lost), "2 pings to 10.77.0.9: 0/2 answered, 100% loss");
    // Loopback: the socket sees its own requests too; they are not replies.
    const lo = await pingFromNetns(B, "127.0.0.1", { count: 2, intervalMs: 50, timeoutMs: 15_000 });
    assertEquals([lo.received, lo.ignored["not-echo-reply"]], [2, 2]);
    await assertRejects(() => pingFromNetns("l2in-nonexistent", "10.77.0.2"));
    await assertRejects(() => pingFromNetns(A, "10.77.0"), Error, "Cannot parse ping target");
    assertEquals(openFds(), fds, "every socket closed, on success and on failure");
  } finally {
    await cleanup();
  }
});
