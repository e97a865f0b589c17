/**
 * Turns an error from opening a port or a device into a message that says
 * which flag or config key to change, and how to find who holds it. The
 * roles call it where they bind their UDP ports and create TAP devices; the
 * kit calls it for the management endpoint.
 *
 * @module
 */

/** What was being opened, for the message. */
export interface Opening {
  /** "the management endpoint", "the UDP port", "TAP device l2tap0". */
  what: string;
  /** The address or name as the operator wrote it, e.g. "127.0.0.1:7656". */
  target: string;
  /** The flag that sets it, e.g. "--api". */
  flag?: string;
  /** The config key that sets it, e.g. "node.home.api". */
  key?: string;
  /** "tcp" or "udp" for ports (for the `ss` hint); absent for devices. */
  proto?: "tcp" | "udp";
}

/** The errno name of an error from Deno or from ffi/ (OsError.code), or null. */
export function errorCode(e: unknown): string | null {
  if (e === null || typeof e !== "object") return null;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
  if (e instanceof Deno.errors.AddrInUse) return "EADDRINUSE";
  if (e instanceof Deno.errors.AddrNotAvailable) return "EADDRNOTAVAIL";
  if (e instanceof Deno.errors.PermissionDenied) return "EACCES";
  if (e instanceof Deno.errors.Busy) return "EBUSY";
  const m = /\(os error (\d+)\)/.exec(String((e as Error).message));
  const n = m ? Number(m[1]) : 0;
  return ({
    1: "EPERM",
    13: "EACCES",
    16: "EBUSY",
    98: "EADDRINUSE",
    99: "EADDRNOTAVAIL",
  } as Record<number, string>)[n] ?? null;
}

function port(target: string): string | null {
  const m = /:(\d+)$/.exec(target);
  return m ? m[1] : null;
}

function change(o: Opening, example: string): string {
  const ways = [
    o.flag ? `${o.flag} ${example}` : null,
    o.key ? `${o.key} in the config file` : null,
  ].filter(Boolean);
  return ways.length ? `; choose another with ${ways.join(" or ")}` : "";
}

/**
 * The message for an error while opening `o`, naming what to do, or null
 * when the error is not one of the "in use / not here / not allowed" kind
 * (the caller then reports it as it is).
 *
 * @example
 * ```ts
 * import { inUseMessage } from "./oserror.ts";
 * inUseMessage(new Deno.errors.AddrInUse("Address already in use (os error 98)"), {
 *   what: "the management endpoint", target: "127.0.0.1:7656", flag: "--api",
 *   key: "node.home.api", proto: "tcp",
 * });
 * // "the management endpoint 127.0.0.1:7656 is in use by another program (another l2 daemon?
 * //  `ss -ltnp 'sport = :7656'` shows which); choose another with --api 127.0.0.1:PORT or
 * //  node.home.api in the config file" (one line)
 * ```
 */
export function inUseMessage(e: unknown, o: Opening): string | null {
  const code = errorCode(e);
  const p = port(o.target);
  const host = p ? o.target.slice(0, -(p.length + 1)) : o.target;
  switch (code) {
    case "EADDRINUSE": {
      const ss = p && o.proto
        ? ` \`ss -${o.proto === "tcp" ? "lt" : "lu"}np 'sport = :${p}'\` shows which`
        : "";
      return `${o.what} ${o.target} is in use by another program (another l2 daemon?${ss})` +
        change(o, `${host}:PORT`);
    }
    case "EBUSY":
      return `${o.what} is busy: another process has it open (another l2 daemon with the same ` +
        `device name?)` + change(o, "NAME");
    case "EADDRNOTAVAIL":
      return `${o.what} ${o.target}: ${host} is not an address of this host (see \`ip addr\`)` +
        change(o, `ADDRESS${p ? `:${p}` : ""}`);
    case "EACCES":
    case "EPERM":
      return `${o.what} ${o.target}: permission denied: run as root, or give the program ` +
        "CAP_NET_ADMIN (devices) and CAP_NET_BIND_SERVICE (ports below 1024)";
    default:
      return null;
  }
}

/**
 * Runs `open` (binding a port, creating a device); an error of the "in use
 * / not here / not allowed" kind comes back as an Error whose message names
 * what to change (`inUseMessage`), any other as it was.
 *
 * @example
 * ```ts ignore
 * const udp = opening(
 *   { what: "the UDP port", target: "[::]:7654", flag: "--listen", key: "supernode.hub.listen", proto: "udp" },
 *   () => openUdp({ bind: "[::]:7654" }),
 * );
 * ```
 */
export function opening<T>(o: Opening, open: () => T): T {
  try {
    return open();
  } catch (e) {
    const m = inUseMessage(e, o);
    if (m === null) throw e;
    throw new Error(m, { cause: e });
  }
}
