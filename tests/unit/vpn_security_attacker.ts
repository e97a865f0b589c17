/**
 * Test helper (not a test): what an attacker who knows the supernode's
 * public key sends (issue 13 floods): well-formed HS_INITs with a valid
 * mac1 from keys that are not members, so each one costs the supernode its
 * public-key work unless a limit stops it first.
 */
import { writeInit } from "../../core/vpn/handshake.ts";
import { addMacs, mac1Key } from "../../core/vpn/cookie.ts";
import { tai64n } from "../../core/vpn/init_timestamps.ts";
import { keyOf, type SecLab } from "./vpn_security_lab.ts";

/**
 * An HS_INIT to the supernode of `lab` from the key of `seed` (a non-member,
 * or with `psk` any key in open mode), mac1 valid, no mac2.
 */
export function forgedInit(lab: SecLab, seed: number, psk = new Uint8Array(32)): Uint8Array {
  const s = seed < 256 ? keyOf(lab.suite, seed) : keyFrom(lab, seed);
  const e = seed < 256 ? keyOf(lab.suite, (seed + 0x40) & 0xff) : keyFrom(lab, seed + 0x100000);
  const w = writeInit(
    lab.suite,
    { network: 0, sender: 0, receiver: 0, keyId: 0x1000 + seed },
    s,
    lab.snKey.publicKey,
    psk,
    e,
    tai64n(1_700_000_000_000 + seed),
  );
  if (!w.ok) throw new Error("cannot forge HS_INIT");
  return addMacs(lab.suite, mac1Key(lab.suite, lab.snKey.publicKey), w.packet, null);
}

function keyFrom(lab: SecLab, seed: number) {
  const privateKey = new Uint8Array(32);
  new DataView(privateKey.buffer).setUint32(0, seed);
  privateKey[31] = 0x40;
  return { privateKey, publicKey: lab.suite.x25519Public(privateKey) };
}
