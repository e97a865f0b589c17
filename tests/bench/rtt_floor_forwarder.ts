/**
 * The minimal Deno forwarder of `tests/bench/rtt_floor.ts` (not a test, not
 * a tool): one TAP device and one UDP socket through this repository's
 * `ffi/`, every frame read from the TAP sent to one fixed peer, every
 * datagram received written to the TAP. No learning, no peers, no
 * timers, no logging: what is left is the cost of a Deno/FFI user-space
 * forwarder itself.
 *
 * Usage (inside the namespace that should own the TAP):
 *
 *     deno run -A rtt_floor_forwarder.ts <tap> <port> <peer-ip> <peer-port> \
 *       <wait> <crypto> <id> <max-seconds>
 *
 * - `wait`: `inline` waits in `libc.poll` on the JS thread (a synchronous
 *   FFI call: the loop never returns to the event loop); `worker` awaits
 *   `libc.poll_wait`, the same poll on Deno's FFI worker thread.
 * - `crypto`: `none`, or `aes`: one AES-256-GCM seal per frame sent and one
 *   open per datagram received (`ffi/crypto.ts` `Aead`, in place). The wire
 *   format is then a 12-byte header that is the nonce (the sender's `id`,
 *   1..255, in byte 0, a packet counter in bytes 4..11) and also the AAD,
 *   the sealed frame, the 16-byte tag. Both sides use the same fixed key;
 *   the id keeps their nonces apart. `warmUpAead()` runs first, so the
 *   crypto calls are on V8's optimizing tier from the first packet
 *   (`L2_BENCH_AES_WARM=0` skips it).
 * - `max-seconds`: the process exits on its own after this long, so a
 *   crashed benchmark never leaves it running.
 *
 * Prints `READY <tap>` once both are open (the TAP is left down and without
 * an address; the benchmark configures it).
 *
 * Work per wakeup: the time from poll's return (in JS) to the end of the
 * forwarding is recorded per wakeup (two `performance.now()` reads). A
 * 1-byte datagram to the forwarder's port is a command, not traffic: `R`
 * clears the record, `S` prints it as `STATS [µs, ...]` (one line); the
 * wakeup that carries a command is not recorded. Per wakeup it reads the TAP
 * until EAGAIN (`read()`, then `sendto()` per frame) only when poll says the
 * TAP is readable, and the socket (one `recvmmsg()`, then `write()` per
 * datagram) only when the socket is.
 *
 * @module
 */
import { openTap } from "../../ffi/tap.ts";
import { openUdp } from "../../ffi/udp.ts";
import { Arena, C, libc, size } from "../../ffi/libc.ts";
import { parseIp } from "../../core/addr.ts";
import { Aead, AEAD_TAG_BYTES } from "../../ffi/crypto.ts";
import { warmUpAead } from "../lab/crypto_warmup.ts";

/** Header of a sealed datagram: the 12-byte nonce. */
const HDR = 12;
/** The MTU of the forwarder's TAP: a frame, header and tag fit one underlay datagram. */
const TAP_MTU = 1400;

function usage(msg: string): never {
  console.error(`rtt_floor_forwarder: ${msg}`);
  console.error(
    "usage: rtt_floor_forwarder.ts <tap> <port> <peer-ip> <peer-port> <inline|worker> " +
      "<none|aes> <id> <max-seconds>",
  );
  Deno.exit(2);
}

const [tapName, portText, peerText, peerPortText, wait, crypto, idText, maxText] = Deno.args;
if (Deno.args.length !== 8) usage(`expected 8 arguments, got ${Deno.args.length}`);
if (wait !== "inline" && wait !== "worker") usage(`wait must be inline or worker, got ${wait}`);
if (crypto !== "none" && crypto !== "aes") usage(`crypto must be none or aes, got ${crypto}`);
const id = Number(idText);
if (!Number.isInteger(id) || id < 1 || id > 255) usage(`id must be 1..255, got ${idText}`);
const maxMs = Number(maxText) * 1000;
if (!(maxMs > 0)) usage(`max-seconds must be positive, got ${maxText}`);
const peerIp = parseIp(peerText);
if (!peerIp.ok) usage(`cannot parse peer address: ${peerIp.reason}`);
const to = { ip: peerIp.value, port: Number(peerPortText) };

const aead = crypto === "aes" ? new Aead("aes-256-gcm", new Uint8Array(32).fill(0x42)) : null;
if (aead !== null && Deno.env.get("L2_BENCH_AES_WARM") !== "0") warmUpAead();

const tap = openTap({ name: tapName, mtu: TAP_MTU, up: false, batch: 8 });
const sock = openUdp({ bind: `0.0.0.0:${portText}`, batch: 8 });

// struct pollfd[2] { int fd; short events; short revents; }: TAP at 0, socket at 8.
const pfd = new Arena(16);
pfd.view.setInt32(0, tap.fd, true);
pfd.view.setInt16(4, C.POLLIN, true);
pfd.view.setInt32(8, sock.fd, true);
pfd.view.setInt16(12, C.POLLIN, true);
const nfds = size(2);

// Sealing: the datagram is built in `tx` (header, then the sealed frame, then the tag).
const tx = new Uint8Array(HDR + TAP_MTU + 64 + AEAD_TAG_BYTES);
const txNonce = tx.subarray(0, HDR);
const txBody = tx.subarray(HDR);
const rxNonce = new Uint8Array(HDR);
const txView = new DataView(tx.buffer);
tx[0] = id;
let counter = 0;

/** µs of work per wakeup since the last `R` command (the first 8192). */
const work = new Float64Array(8192);
let nWork = 0;
/** Set when the current wakeup carried a command: it is not recorded. */
let commandSeen = false;

function command(c: number): void {
  commandSeen = true;
  if (c === 0x52) nWork = 0; // "R"
  if (c === 0x53) { // "S"
    const xs = Array.from(work.subarray(0, nWork), (x) => Math.round(x * 1000) / 1000);
    console.log(`STATS ${JSON.stringify(xs)}`);
  }
}

function fromTap(): void {
  const n = tap.read();
  const rx = tap.rx;
  for (let i = 0; i < n; i++) {
    const len = rx.lens[i];
    if (aead === null) {
      sock.send(rx.bufs[i].subarray(0, len), to);
      continue;
    }
    if (len + HDR + AEAD_TAG_BYTES > tx.length) continue;
    counter++;
    txView.setUint32(4, Math.floor(counter / 2 ** 32));
    txView.setUint32(8, counter >>> 0);
    const sealed = aead.seal(txNonce, txNonce, rx.bufs[i], txBody, len);
    sock.send(tx.subarray(0, HDR + sealed), to);
  }
}

function fromSocket(): void {
  const n = sock.recv();
  const rx = sock.rx;
  for (let i = 0; i < n; i++) {
    const buf = rx.bufs[i], off = rx.offsets[i], end = rx.lens[i];
    if (end - off === 1) {
      command(buf[off]);
      continue;
    }
    if (aead === null) {
      tap.write(buf.subarray(off, end));
      continue;
    }
    if (end - off < HDR + AEAD_TAG_BYTES) continue;
    for (let k = 0; k < HDR; k++) rxNonce[k] = buf[off + k];
    const sealedLen = end - off - HDR;
    if (!aead.openInPlace(rxNonce, rxNonce, buf, off + HDR, sealedLen)) continue;
    tap.write(buf.subarray(off + HDR, off + HDR + sealedLen - AEAD_TAG_BYTES));
  }
}

function onWake(): void {
  const t0 = performance.now();
  const v = pfd.view;
  if (v.getInt16(6, true) !== 0) fromTap();
  if (v.getInt16(14, true) !== 0) fromSocket();
  const us = (performance.now() - t0) * 1000;
  if (commandSeen) commandSeen = false;
  else if (nWork < work.length) work[nWork++] = us;
}

console.log(`READY ${tap.name}`);
const deadline = performance.now() + maxMs;
try {
  if (wait === "inline") {
    while (performance.now() < deadline) {
      if (libc.poll(pfd.ptr, nfds, 200) > 0) onWake();
    }
  } else {
    while (performance.now() < deadline) {
      if (await libc.poll_wait(pfd.ptr, nfds, 200) > 0) onWake();
    }
  }
} finally {
  tap.close();
  sock.close();
  aead?.close();
}
