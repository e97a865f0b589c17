/**
 * Relay attacks (issue 13) against a real `l2 supernode` daemon through real
 * UDP sockets, in a namespace this test makes (`l2t-l2rv-*`, loopback only).
 * The attacker is a script in the same namespace that runs 21 member nodes
 * (`SecureNode` + `NodeCore` on their own sockets, keys listed in the
 * supernode's members) and plays:
 *
 * - amplification: 20 of its nodes send a sealed, fresh REGISTER from the
 *   victim's address (127.0.0.9:9999, a socket the script binds and counts
 *   on), then one DATA to receiver 0xffff with a valid hop trailer; the
 *   bytes the victim receives are counted against the bytes sent;
 * - relay replay: a relayed DATA from node 0 to node 1 sent again from node
 *   0's own address; node 1's socket counts what the supernode forwards.
 *
 * Before issue 13 the victim got a REGISTER_ACK per spoofed REGISTER and a
 * copy of the fan-out per node registered there, and the replay was
 * forwarded; now nothing reaches the victim and the replay stops at the
 * supernode.
 *
 * @module
 */
import { assert, assertEquals } from "../assert.ts";
import { Lab } from "../lab/netns.ts";
import { Daemon, MAIN, runL2, runScript } from "../lab/l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";
import { x25519PublicKey } from "../../ffi/crypto.ts";

const API = 7755;
const ROOT = new URL("../../", import.meta.url).href;

const wrap = (ns: string) => ["ip", "netns", "exec", ns];

/** The attacker: 21 member nodes over real sockets; prints what the victim and node 1 received. */
const ATTACK = `
import dgram from "node:dgram";
import { ffiCryptoSuite } from "${ROOT}cmd/vpn_crypto.ts";
import { SecureNode } from "${ROOT}core/vpn/secure_node.ts";
import { NodeCore } from "${ROOT}core/vpn/node.ts";
import { encodePacket } from "${ROOT}core/vpn/messages.ts";
import { addHopTag } from "${ROOT}core/vpn/sec_messages.ts";
import { HEADER_LENGTH, VERSION } from "${ROOT}core/vpn/constants.ts";
import { matAddress, writeMac } from "${ROOT}core/mac.ts";
import { keyedEndpoint } from "${ROOT}core/addr.ts";

const [snKeyB64, ...privs] = Deno.args;
const SN = "127.0.0.1:7654";
const SN_EP = keyedEndpoint(SN);
const suite = ffiCryptoSuite();
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const hexb = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
const t0 = performance.now();
const now = () => performance.now() - t0;
const to = (ep) => { const i = ep.lastIndexOf(":"); return [Number(ep.slice(i + 1)), ep.slice(0, i)]; };
async function udp(host, port, onMessage) {
  const s = dgram.createSocket("udp4");
  s.on("message", (m, r) => onMessage(new Uint8Array(m), r.address + ":" + r.port));
  await new Promise((res) => s.bind(port, host, res));
  return { send: (b, [p, h]) => new Promise((res) => s.send(b, p, h, res)), close: () => s.close() };
}
const nodes = [];
for (const [i, p] of privs.entries()) {
  const privateKey = hexb(p);
  const key = { privateKey, publicKey: suite.x25519Public(privateKey) };
  const sec = new SecureNode({ suite, staticKey: key, supernodeKey: b64(snKeyB64), supernode: SN_EP, network: 0 }, now());
  let x = i + 1;
  const random = () => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648; };
  const core = new NodeCore({ directory: sec, supernode: SN_EP, identity: key.publicKey, sealer: sec.sealer, random, nodeId: "auto", localEndpoints: [] });
  const n = { key, sec, core, rx: 0, sent: [] };
  n.sock = await udp("127.0.0.1", 20000 + i, (data, from) => {
    if (data[2] === 0x10) n.rx++; // DATA (relayed through the supernode here)
    const ep = keyedEndpoint(from);
    if (sec.receive(ep, data, now(), Date.now()) === "core") core.receive(ep, data, now());
  });
  sec.start(now(), Date.now()); core.start(now());
  nodes.push(n);
}
async function flush() {
  for (const n of nodes) {
    const t = now();
    n.sec.poll(t, Date.now());
    n.core.poll(t);
    n.core.takeFrames();
    for (const o of [...n.sec.takeOutgoing(), ...n.core.takeOutgoing()]) {
      n.sent.push(o.bytes.slice());
      await n.sock.send(o.bytes, to(o.to.key));
    }
  }
}
async function run(ms) {
  const end = now() + ms;
  while (now() < end) { await flush(); await new Promise((r) => setTimeout(r, 10)); }
}
const ids = () => nodes.map((n) => n.core.status().nodeId);
for (let i = 0; i < 300 && !ids().every((x) => x > 0); i++) await run(100);
if (!ids().every((x) => x > 0)) { console.log(JSON.stringify({ error: "not registered", ids: ids() })); Deno.exit(1); }

// Relay replay: node 0 -> node 1 through the supernode (nodes 0 and 1 never probe directly: no locals, loopback is fine either way).
const frame = (dst, src) => { const f = new Uint8Array(100); writeMac(f, 0, matAddress(1, dst, 1)); writeMac(f, 6, matAddress(1, src, 1)); f[12] = 0x88; f[13] = 0xb5; return f; };
const [a, b] = nodes;
for (let i = 0; i < 30 && !(a.sec.sealer.currentFor(0, ids()[1], now())); i++) {
  a.core.sendFrame(frame(ids()[1], ids()[0]), now());
  await run(100);
}
a.sent.length = 0;
const how = a.core.sendFrame(frame(ids()[1], ids()[0]), now());
await run(300);
const relayed = a.sent.filter((p) => p[2] === 0x10 && (p[3] & 0x40) !== 0);
const rxBefore = b.rx;
let replays = 0;
for (const p of relayed) { await a.sock.send(p, to(SN)); replays++; }
await run(500);
const replayRx = b.rx - rxBefore;

// Amplification: 20 REGISTERs from the victim's address, then one fan-out datagram.
let vBytes = 0, vDatagrams = 0, sentBytes = 0;
const victim = await udp("127.0.0.9", 9999, (d) => { vBytes += d.length; vDatagrams++; });
for (const n of nodes.slice(1)) {
  const r = encodePacket({ network: 0, sender: n.core.status().nodeId, receiver: 0 }, { kind: "register", auto: false, identity: n.key.publicKey, locals: [] }, n.sec.sealer, now());
  if (!r.ok) throw new Error("seal " + r.reason);
  sentBytes += r.packet.length;
  await victim.send(r.packet, to(SN));
}
await run(300);
const p = new Uint8Array(HEADER_LENGTH + 100 + 16);
p[0] = 0x4c; p[1] = VERSION; p[2] = 0x10;
p[6] = ids()[0] >> 8; p[7] = ids()[0] & 0xff; p[8] = 0xff; p[9] = 0xff; p[15] = 1;
const fan = addHopTag(a.sec.sealer.currentFor(0, 0, now()), p);
sentBytes += fan.length;
await a.sock.send(fan, to(SN));
await run(1000);
console.log(JSON.stringify({ ids: ids(), how, relayed: relayed.length, replays, replayRx, vBytes, vDatagrams, sentBytes }));
Deno.exit(0);
`;

Deno.test("vpn relay attacks on a real supernode: no copies to a spoofed victim, replays not forwarded", async () => {
  const lab = await Lab.create("l2rv");
  const daemons: Daemon[] = [];
  const dir = await Deno.makeTempDir({ prefix: "l2rv-" });
  try {
    const ns = await lab.netns("u");
    await Deno.mkdir(`${dir}/sn`, { mode: 0o700 });
    const snKey = toBase64(writeNewKeyFile(`${dir}/sn/supernode.key`));
    const privs: string[] = [];
    const pubs: string[] = [];
    for (let i = 0; i < 21; i++) {
      const k = crypto.getRandomValues(new Uint8Array(32));
      privs.push([...k].map((x) => x.toString(16).padStart(2, "0")).join(""));
      pubs.push(toBase64(x25519PublicKey(k)));
    }
    await Deno.writeTextFile(
      `${dir}/sn.yaml`,
      `supernode:\n  default:\n    state_dir: ${dir}/sn\n    members:\n` +
        pubs.map((m) => `      - ${m}\n`).join(""),
    );
    const sn = new Daemon(
      MAIN,
      [
        "supernode",
        "--listen",
        "127.0.0.1:7654",
        "--api",
        `127.0.0.1:${API}`,
        "--config",
        `${dir}/sn.yaml`,
      ],
      {},
      wrap(ns),
    );
    daemons.push(sn);
    await sn.waitLine(/listening on UDP/, 15_000);
    const script = `${dir}/attack.ts`;
    await Deno.writeTextFile(script, ATTACK);
    const r = await runScript(script, [snKey, ...privs], { wrap: wrap(ns), timeoutMs: 90_000 });
    assertEquals(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
    assert(out.relayed >= 1, `a relayed packet was captured: ${r.stdout}`);
    assertEquals(
      out.replayRx,
      0,
      `the supernode forwarded ${out.replayRx} replayed datagrams: ${r.stdout}`,
    );
    assert(
      out.vBytes <= out.sentBytes,
      `the victim got ${out.vBytes} bytes (${out.vDatagrams} datagrams) for ${out.sentBytes} sent`,
    );
    assertEquals(out.vDatagrams, 0, r.stdout);
    const st = await runL2(["status", "--api", `127.0.0.1:${API}`, "--json"], { wrap: wrap(ns) });
    const c = JSON.parse(st.stdout).security.counters;
    assert((c.rx_register_wrong_address ?? 0) >= 20, JSON.stringify(c));
    assert((c.rx_relay_broadcast ?? 0) >= 1, JSON.stringify(c));
    assert((c.rx_relay_replay ?? 0) >= 1, JSON.stringify(c));
  } finally {
    for (const d of daemons) await d.close().catch(() => {});
    await lab.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
