/**
 * The members digest supernodes of a federation compare (FED_DIGEST, issue
 * 17, docs/federation.md "Member digests"): SHA-256 over the member list in
 * a canonical order, so two supernodes with the same list get the same 32
 * bytes whatever order their configuration files use, and a mismatch is
 * logged naming both.
 *
 * Canonical input: "l2 members v1" (ASCII), the mode (1: 0 members, 1 open),
 * the member count (4), then per member sorted by key, then pinned id:
 * public key (32), pinned id (2, 0 when none), networks (2: 0xFFFF for
 * "all", else the count, then the sorted networks, 2 each). Labels (`name`)
 * are left out: they may differ without changing who is admitted.
 *
 * `core/` holds no cryptography: the caller passes SHA-256 (the suite's
 * `sha256`, crypto_suite.ts).
 *
 * @module
 */
import type { CryptoSuite } from "./crypto_suite.ts";
import type { Member, MemberMode } from "./members.ts";
import { put16, put32 } from "../wire/checked.ts";

const LABEL = new TextEncoder().encode("l2 members v1");

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}

/**
 * The 32-byte digest of a member list.
 *
 * @example
 * ```ts
 * import { membersDigest } from "./fed_digest.ts";
 * const sha256 = (d: Uint8Array) => new Uint8Array(32).fill(d.length & 0xff); // the suite's in real use
 * const a = { publicKey: new Uint8Array(32).fill(1), id: 5 };
 * const b = { publicKey: new Uint8Array(32).fill(2) };
 * membersDigest("members", [a, b], { sha256 }); // the same bytes as for [b, a]
 * ```
 */
export function membersDigest(
  mode: MemberMode,
  members: readonly Member[],
  suite: Pick<CryptoSuite, "sha256">,
): Uint8Array {
  const sorted = [...members].sort((x, y) =>
    compareBytes(x.publicKey, y.publicKey) || (x.id ?? 0) - (y.id ?? 0)
  );
  let n = LABEL.length + 5;
  for (const m of sorted) n += m.publicKey.length + 4 + 2 * (m.networks?.length ?? 0);
  const b = new Uint8Array(n);
  b.set(LABEL, 0);
  let o = LABEL.length;
  b[o] = mode === "open" ? 1 : 0;
  put32(b, o + 1, sorted.length);
  o += 5;
  for (const m of sorted) {
    b.set(m.publicKey, o);
    o += m.publicKey.length;
    put16(b, o, m.id ?? 0);
    if (m.networks === undefined) {
      put16(b, o + 2, 0xffff);
      o += 4;
      continue;
    }
    const nets = [...m.networks].sort((x, y) => x - y);
    put16(b, o + 2, nets.length);
    o += 4;
    for (const net of nets) {
      put16(b, o, net);
      o += 2;
    }
  }
  return suite.sha256(b);
}
