/**
 * Keeps Deno's debugger closed in the daemons.
 *
 * Since Deno 2.9.2 the runtime starts its V8 inspector on 127.0.0.1:9229 when
 * the process receives SIGUSR1 (as Node does), even when the program has its
 * own SIGUSR1 listener, and whatever the permission flags. Our daemons run as
 * root and use SIGUSR1 to re-read their log settings, so an operator's
 * routine `kill -USR1` would open a debugger through which any local user
 * could run code as root.
 *
 * Two layers close that:
 * 1. While the daemon runs it holds 127.0.0.1:9229 itself (accepting and
 *    closing every connection), so the runtime cannot bind the inspector
 *    there ("Failed to start inspector server" on stderr, nothing else).
 * 2. If the port could not be held (another process has it, and may give it
 *    up later), every SIGUSR1 is followed by checks over one second that
 *    close the inspector through `node:inspector` should it have opened.
 *    A port held by another process is the normal case of a second daemon
 *    on one host (the first holds it): that is said at debug level only;
 *    any other reason the port cannot be held is a warning.
 *
 * A daemon started with `--inspect` on purpose is left alone.
 *
 * @module
 */
import inspector from "node:inspector";
import type { TopicLogger } from "./log.ts";

/** The address the runtime's SIGUSR1 inspector binds. */
export const INSPECTOR_PORT = 9229;

/** A running guard. */
export interface InspectorGuard {
  /** Whether 127.0.0.1:9229 is held by this process. */
  readonly holding: boolean;
  /** Call from the SIGUSR1 listener. */
  afterUsr1(): void;
  close(): void;
}

/** Starts the guard. */
export function guardInspector(log: TopicLogger): InspectorGuard {
  if (inspector.url()) {
    log.warn(`the debugger is open on purpose (${inspector.url()}); not guarding it`);
    return { holding: false, afterUsr1() {}, close() {} };
  }
  let listener: Deno.Listener | null = null;
  try {
    listener = Deno.listen({ hostname: "127.0.0.1", port: INSPECTOR_PORT });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      // The normal case for a second daemon on the host: the first holds it, and the
      // runtime cannot bind it either. Layer 2 covers the holder going away.
      log.debug(
        `127.0.0.1:${INSPECTOR_PORT} is held by another process (another l2 daemon?); ` +
          "the debugger Deno opens on SIGUSR1 will be closed when seen",
      );
    } else {
      log.warn(
        `cannot hold 127.0.0.1:${INSPECTOR_PORT} (${(e as Error).message}); ` +
          "the debugger Deno opens on SIGUSR1 will be closed when seen",
      );
    }
  }
  if (listener) {
    const l = listener;
    (async () => {
      try {
        for await (const conn of l) {
          try {
            conn.close();
          } catch { /* peer already gone */ }
        }
      } catch { /* listener closed */ }
    })();
  }
  const timers = new Set<ReturnType<typeof setTimeout>>();
  return {
    holding: listener !== null,
    afterUsr1() {
      for (const ms of [0, 1, 5, 20, 100, 300, 1000]) {
        const t = setTimeout(() => {
          timers.delete(t);
          if (inspector.url()) {
            inspector.close();
            log.warn("closed the debugger the Deno runtime opened on SIGUSR1");
          }
        }, ms);
        timers.add(t);
      }
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      try {
        listener?.close();
      } catch { /* already closed */ }
    },
  };
}
