/**
 * Small host facts and sources the daemons inject into `core/`: randomness,
 * the MD5/SHA-1 hash L2TP control authentication needs, the host name and
 * a Router ID.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { DigestAlgorithm } from "../../core/l2tp/auth.ts";
import { isLoopback, isV4, parseIp, v4Number } from "../../core/addr.ts";

const word = new Uint32Array(1);

/** A uniformly random uint32 from the system CSPRNG. */
export function random32(): number {
  crypto.getRandomValues(word);
  return word[0];
}

/** MD5 or SHA-1 of `data` (for HMAC in core/l2tp/auth.ts). */
export function hash(alg: DigestAlgorithm, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(alg).update(data).digest());
}

/** The system host name, or "l2" if it cannot be read. */
export function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "l2";
  }
}

/** An IPv4 address as a uint32 (parsed by `core/addr.ts`), or 0 if `text` is not one. */
export function v4ToNumber(text: string): number {
  const r = parseIp(text);
  return r.ok && isV4(r.value) && !text.includes(":") ? v4Number(r.value) : 0;
}

/**
 * A Router ID (RFC 3931 section 5.4.3, an IPv4-shaped 32-bit id): the first
 * IPv4 address given, else the first non-loopback IPv4 address of the
 * host, else a random non-zero value.
 */
export function routerId(preferred: readonly string[]): number {
  for (const a of preferred) {
    const n = v4ToNumber(a);
    if (n !== 0) return n;
  }
  try {
    for (const i of Deno.networkInterfaces()) {
      const r = parseIp(i.address);
      if (i.family === "IPv4" && r.ok && !isLoopback(r.value)) return v4ToNumber(i.address);
    }
  } catch { /* no permission or no interfaces */ }
  return random32() || 1;
}
