/**
 * Running synchronous code inside another network namespace (setns(2) with
 * CLONE_NEWNET on the calling thread only).
 *
 * Sockets and TAP devices belong to the namespace that was current on the
 * thread that created them, and keep it for life. So a process can open a
 * TAP in namespace A and a UDP socket in namespace B and serve both from one
 * loop: `inNetns("A", () => openTap(...))`. Only the JS thread switches, and
 * only for the duration of `fn`, which must be synchronous (no await): the
 * thread is switched back before anything else runs on it.
 *
 * Namespaces are found by name under /run/netns (as `ip netns add` makes
 * them) or by an absolute path (/proc/<pid>/ns/net).
 *
 * @module
 */
import { C, closeQuietly, cstr, errno, libc, OsError } from "./libc.ts";

function openNs(path: string): number {
  const fd = libc.open(cstr(path), C.O_RDONLY | C.O_CLOEXEC, 0);
  if (fd < 0) throw new OsError(`open(${path})`, errno());
  return fd;
}

/**
 * Calls `fn` with this thread in network namespace `ns` (a name under
 * /run/netns or an absolute path), then switches back, also when `fn` throws.
 *
 * @example
 * ```ts
 * import { inNetns } from "./netns.ts";
 * import { openUdp } from "./udp.ts";
 * if (Deno.uid() === 0) { // setns needs CAP_SYS_ADMIN
 *   const blue = `l2doc-blue-${Deno.pid}`; // as `ip netns add blue` makes it
 *   new Deno.Command("ip", { args: ["netns", "add", blue] }).outputSync();
 *   try {
 *     // Bound to the namespace's loopback; it stays in that namespace for life.
 *     const sock = inNetns(blue, () => openUdp({ bind: "127.0.0.1:4789" }));
 *     sock.close();
 *   } finally {
 *     new Deno.Command("ip", { args: ["netns", "del", blue] }).outputSync();
 *   }
 * }
 * ```
 */
export function inNetns<T>(ns: string, fn: () => T): T {
  const path = ns.startsWith("/") ? ns : `/run/netns/${ns}`;
  const self = openNs("/proc/thread-self/ns/net");
  let target = -1;
  try {
    target = openNs(path);
    if (libc.setns(target, C.CLONE_NEWNET) < 0) throw new OsError(`setns(${path})`, errno());
    try {
      const out = fn();
      if (out instanceof Promise) {
        throw new Error("inNetns: fn must be synchronous (it returned a Promise)");
      }
      return out;
    } finally {
      if (libc.setns(self, C.CLONE_NEWNET) < 0) {
        // The thread would stay in the wrong namespace: nothing sane can follow.
        const e = new OsError("setns(back to the original namespace)", errno());
        console.error(e.message);
        Deno.exit(70);
      }
    }
  } finally {
    closeQuietly(target);
    closeQuietly(self);
  }
}
