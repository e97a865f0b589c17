/**
 * What headroom saves a node per unicast TAP frame (issue 15): building and
 * sealing one DATA packet the old way (`encodeDataPacket` allocates a
 * packet and copies the frame into it, then `DatagramSocket.queue` copies
 * the packet into a send slot: one allocation, two copies) against sealing
 * it where the TAP read it (`encodeDataPacket` with `inPlace`, then
 * `queueView`: no allocation but a view, no copy). Frames of 1400 and 64
 * bytes; a sealer that only writes the counter (the copies alone) and one
 * that seals with AES-256-GCM (the copies next to the crypto). The send
 * slot copy is done here by hand, as `DatagramSocket.queue` does it; the
 * sendmmsg itself is the same either way and not measured.
 *
 * Run: deno bench -A tests/bench/headroom_bench.ts
 */
import { DATA_HEADROOM, DATA_TAILROOM, encodeDataPacket } from "../../core/vpn/messages.ts";
import { HEADER_LENGTH, TAG_LENGTH } from "../../core/vpn/constants.ts";
import type { Sealer } from "../../core/vpn/sealer.ts";
import { ffiCryptoSuite } from "../../cmd/vpn_crypto.ts";

/** Writes the counter only: what is left is the packet building and the copies. */
function countingSealer(): Sealer {
  let n = 0;
  return {
    seal: (p) => {
      p[16] = n++ & 0xff;
      return "ok";
    },
    open: () => "ok",
  };
}

/** AES-256-GCM over the body, as `SecureSealer` calls it (`FfiAeadKey.seal`). */
function aesSealer(): Sealer {
  const key = ffiCryptoSuite("aes-256-gcm").aead(new Uint8Array(32).fill(7));
  const nonce = new Uint8Array(12), aad = new Uint8Array(HEADER_LENGTH);
  let n = 0;
  return {
    seal: (p) => {
      nonce[11] = n++ & 0xff;
      aad.set(p.subarray(0, HEADER_LENGTH));
      key.seal(nonce, aad, p, HEADER_LENGTH, p.length - HEADER_LENGTH - TAG_LENGTH);
      return "ok";
    },
    open: () => "ok",
  };
}

for (const len of [1400, 64]) {
  for (
    const [name, sealer] of [["counter only", countingSealer()], [
      "aes-256-gcm",
      aesSealer(),
    ]] as const
  ) {
    // A TAP slot as cmd/node.ts lays it out, and a send slot as DatagramSocket has it.
    const slot = new Uint8Array(DATA_HEADROOM + 2048 + DATA_TAILROOM).fill(0x42);
    const frame = slot.subarray(DATA_HEADROOM, DATA_HEADROOM + len);
    const sendSlot = new Uint8Array(2048);
    Deno.bench({
      name: `${len} B, ${name}: copy (new packet + send slot copy)`,
      group: `${len} ${name}`,
      baseline: true,
      fn: () => {
        const p = encodeDataPacket(1, 2, 3, false, frame, sealer, 0);
        if (typeof p === "string") throw new Error(p);
        sendSlot.set(p);
      },
    });
    Deno.bench({
      name: `${len} B, ${name}: in place (view, no copy)`,
      group: `${len} ${name}`,
      fn: () => {
        frame[0] = 0x42; // the TAP's next frame: the header and tag room are rewritten anyway
        const p = encodeDataPacket(1, 2, 3, false, frame, sealer, 0, true);
        if (typeof p === "string" || p.buffer !== slot.buffer) throw new Error("copied");
      },
    });
  }
}
