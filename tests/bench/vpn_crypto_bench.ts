/**
 * Packet rates of the VPN sealers: seal + open of one 1400-byte frame per
 * iteration (iter/s = packets/s through both ends), the real SecureSealer
 * (libcrypto AES-256-GCM and ChaCha20-Poly1305, sessions from a real
 * handshake) versus NullSealer, plus the relayed case with a hop tag
 * (one HMAC-SHA256 on each side) and the full encodePacket/decodePacket path.
 *
 * Run: deno bench -A tests/bench/vpn_crypto_bench.ts
 */
import { tai64n } from "../../core/vpn/init_timestamps.ts";
import { HEADER_LENGTH, TAG_LENGTH } from "../../core/vpn/constants.ts";
import { emitHeader } from "../../core/vpn/header.ts";
import { readInit, readResp, writeInit, writeResp } from "../../core/vpn/handshake.ts";
import { decodePacket, encodePacket } from "../../core/vpn/messages.ts";
import { NullSealer } from "../../core/vpn/sealer.ts";
import { SecureSealer } from "../../core/vpn/secure_sealer.ts";
import { Session } from "../../core/vpn/session_keys.ts";
import type { AeadAlgorithm } from "../../ffi/crypto.ts";
import { ffiCryptoSuite } from "../../cmd/vpn_crypto.ts";

const FRAME = 1400;

function key(suite: ReturnType<typeof ffiCryptoSuite>, n: number) {
  const privateKey = new Uint8Array(32).fill(n);
  return { privateKey, publicKey: suite.x25519Public(privateKey) };
}

/** Node sealers a (id 1) and b (id 2) with a session, and a supernode sealer for a's hop tags. */
function sealers(alg: AeadAlgorithm) {
  const suite = ffiCryptoSuite(alg);
  const mk = (
    ia: number,
    ib: number,
    peerA: number,
    peerB: number,
    a: SecureSealer,
    b: SecureSealer,
  ) => {
    const ka = key(suite, ia), kb = key(suite, ib);
    const ida = a.newKeyId(), idb = b.newKeyId();
    const psk = new Uint8Array(32);
    const w = writeInit(
      suite,
      { network: 0, sender: 1, receiver: peerA, keyId: ida },
      ka,
      kb.publicKey,
      psk,
      key(suite, 9),
      tai64n(1_700_000_000_000),
    );
    if (!w.ok) throw new Error();
    const r = readInit(suite, kb, psk, w.packet);
    if (!r.ok) throw new Error();
    const resp = writeResp(
      suite,
      r.state,
      { network: 0, sender: peerA, receiver: 1, keyId: idb },
      key(suite, 10),
    );
    if (!resp.ok) throw new Error();
    const back = readResp(suite, w.state, resp.packet);
    if (!back.ok) throw new Error();
    a.install(
      new Session(suite, {
        network: 0,
        peer: peerA,
        localKeyId: ida,
        remoteKeyId: idb,
        remoteStatic: kb.publicKey,
        initiator: true,
        secrets: back.secrets,
        now: 0,
      }),
    );
    const sb = new Session(suite, {
      network: 0,
      peer: peerB,
      localKeyId: idb,
      remoteKeyId: ida,
      remoteStatic: ka.publicKey,
      initiator: false,
      secrets: resp.secrets,
      now: 0,
    });
    sb.confirmed = true;
    b.install(sb);
  };
  const a = new SecureSealer({ suite, role: "node" });
  const b = new SecureSealer({ suite, role: "node" });
  const sn = new SecureSealer({ suite, role: "supernode" });
  mk(1, 2, 2, 1, a, b);
  mk(1, 3, 0, 1, a, sn);
  return { a, b, sn };
}

function packet(hop: boolean): Uint8Array {
  const p = new Uint8Array(HEADER_LENGTH + FRAME + TAG_LENGTH + (hop ? 16 : 0));
  emitHeader({
    type: 0x10,
    flags: hop ? 0x40 : 0,
    network: 0,
    sender: 1,
    receiver: 2,
    keyId: 0,
    counter: 0,
  }, p);
  return p;
}

const nul = new NullSealer();
const pn = packet(false);
Deno.bench("NullSealer seal+open 1400 B", { group: "seal+open", baseline: true }, () => {
  nul.seal(pn, 0);
  if (nul.open(pn, 0, "") !== "ok") throw new Error("open");
});

for (const alg of ["aes-256-gcm", "chacha20-poly1305"] as const) {
  const { a, b, sn } = sealers(alg);
  const p = packet(false);
  Deno.bench(`SecureSealer ${alg} seal+open 1400 B`, { group: "seal+open" }, () => {
    if (a.seal(p, 0) !== "ok") throw new Error("seal");
    if (b.open(p, 0, "") !== "ok") throw new Error("open");
  });
  const ph = packet(true);
  Deno.bench(`SecureSealer ${alg} relayed: seal+hop tag, supernode check, open`, {
    group: "seal+open",
  }, () => {
    if (a.seal(ph, 0) !== "ok") throw new Error("seal");
    if (sn.open(ph, 0, "") !== "ok") throw new Error("hop");
    if (b.open(ph, 0, "") !== "ok") throw new Error("open");
  });
  const frame = new Uint8Array(FRAME);
  Deno.bench(`SecureSealer ${alg} encodePacket+decodePacket 1400 B`, { group: "codec" }, () => {
    const r = encodePacket({ network: 0, sender: 1, receiver: 2 }, { kind: "data", frame }, a, 0);
    if (!r.ok) throw new Error(r.reason);
    if (!decodePacket(r.packet, b, 0, "").ok) throw new Error("decode");
  });
}

Deno.bench(
  "NullSealer encodePacket+decodePacket 1400 B",
  { group: "codec", baseline: true },
  () => {
    const r = encodePacket(
      { network: 0, sender: 1, receiver: 2 },
      {
        kind: "data",
        frame: new Uint8Array(FRAME),
      },
      nul,
      0,
    );
    if (!r.ok) throw new Error(r.reason);
    if (!decodePacket(r.packet, nul, 0, "").ok) throw new Error("decode");
  },
);
