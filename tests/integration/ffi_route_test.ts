/** `sourceFor`: the kernel's source address towards a destination, by route lookup only. */
import { assert, assertEquals } from "../assert.ts";
import { sourceFor } from "../../ffi/route.ts";
import { formatIp, parseIp } from "../../core/addr.ts";
import { countFds } from "../lab/netns.ts";

function ip(text: string) {
  const r = parseIp(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

Deno.test("ffi route: loopback destinations get loopback sources; no fd is left open", () => {
  const s = sourceFor(ip("127.0.0.7"));
  assert(s !== null);
  assertEquals(formatIp(s), "127.0.0.1");
  const before = countFds({ excludeUnix: true });
  for (let i = 0; i < 200; i++) sourceFor(ip("127.0.0.1"));
  assertEquals(countFds({ excludeUnix: true }), before);
});
