/**
 * Forwarding decisions of the learning switch. Every bench iteration makes
 * BATCH decisions, so decisions/s = BATCH / (time per iteration).
 *
 *   deno bench tests/bench/switch_bench.ts
 */
import { LearningSwitch } from "../../core/switch.ts";
import { BROADCAST, type MacKey, writeMac } from "../../core/mac.ts";

const BATCH = 1024;

function eth(dst: MacKey, src: MacKey, type = 0x0800): Uint8Array {
  const f = new Uint8Array(60);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

/** Host number i as a locally administered individual MAC. */
const host = (i: number): MacKey => 0x02_00_00_00_00_00 + i * 0x0101;

// 1. Known unicast: 64 hosts on each of 2 ports talking across.
{
  const sw = new LearningSwitch();
  const a = sw.addPort();
  const b = sw.addPort();
  for (let i = 0; i < 64; i++) {
    sw.forward(a, eth(BROADCAST, host(i), 0x0806), 0);
    sw.forward(b, eth(BROADCAST, host(1000 + i), 0x0806), 0);
  }
  const frames: Uint8Array[] = [];
  const ports: number[] = [];
  for (let k = 0; k < BATCH; k++) {
    const i = k % 64;
    if (k % 2 === 0) {
      frames.push(eth(host(1000 + i), host(i)));
      ports.push(a);
    } else {
      frames.push(eth(host(i), host(1000 + i)));
      ports.push(b);
    }
  }
  let now = 1;
  let sink = 0;
  Deno.bench(`switch: known unicast, ${BATCH} decisions`, { group: "switch" }, () => {
    now++;
    for (let k = 0; k < BATCH; k++) sink += sw.forward(ports[k], frames[k], now);
    if (sink === -1) throw new Error("unreachable");
  });
}

// 2. Broadcast flood from one port to 8 others (ARP requests from 64 hosts).
{
  const sw = new LearningSwitch();
  const ports: number[] = [];
  for (let p = 0; p < 9; p++) ports.push(sw.addPort());
  const frames: Uint8Array[] = [];
  for (let k = 0; k < BATCH; k++) frames.push(eth(BROADCAST, host(k % 64), 0x0806));
  let now = 1;
  Deno.bench(`switch: broadcast flood to 8 ports, ${BATCH} decisions`, { group: "switch" }, () => {
    now++;
    let copies = 0;
    for (let k = 0; k < BATCH; k++) copies += sw.forward(ports[0], frames[k], now);
    if (copies !== BATCH * 8) throw new Error("not 8 copies per frame");
  });
}

// 3a. Learning with churn: every source has aged out since its last frame,
// so each decision retires an entry and learns it again (delete + insert).
{
  const POOL = 8192;
  const sw = new LearningSwitch({ maxMacs: 8192, maxMacsPerPort: 8192, agingMs: 400 });
  const a = sw.addPort();
  const b = sw.addPort();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < POOL; i++) frames.push(eth(host(100_000 + i), host(i)));
  let iter = 0;
  let sink = 0;
  Deno.bench(`switch: learning with aging churn, ${BATCH} decisions`, { group: "switch" }, () => {
    iter++;
    const now = iter * 100;
    const base = (iter * BATCH) % POOL;
    for (let k = 0; k < BATCH; k++) sink += sw.forward(k & 1 ? a : b, frames[base + k], now);
    if (sink < 0) throw new Error("unreachable");
  });
}

// 3b. Learning with table churn: every source is new (the pool cycles through
// 64 batches), 1024 entries are learned per batch and the oldest 1024 are
// expired by expire() at the start of each batch (its table scan included).
{
  const POOL = 65536;
  const sw = new LearningSwitch({ maxMacs: 8192, maxMacsPerPort: 8192, agingMs: 650 });
  const a = sw.addPort();
  const b = sw.addPort();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < POOL; i++) frames.push(eth(host(200_000 + (i % 4096)), host(i)));
  let iter = 0;
  let sink = 0;
  Deno.bench(`switch: learning new MACs + expire, ${BATCH} decisions`, { group: "switch" }, () => {
    iter++;
    const now = iter * 100;
    sw.expire(now);
    const base = (iter * BATCH) % POOL;
    for (let k = 0; k < BATCH; k++) sink += sw.forward(k & 1 ? a : b, frames[base + k], now);
    if (sw.macCount > 8192 || sink < 0) throw new Error("unreachable");
  });
}

// 3c. MAC move churn: 1024 MACs flapping between two ports on every frame.
{
  const sw = new LearningSwitch();
  const a = sw.addPort();
  const b = sw.addPort();
  sw.addPort();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) frames.push(eth(host(50_000), host(i)));
  let iter = 0;
  let sink = 0;
  Deno.bench(`switch: MAC move on every frame, ${BATCH} decisions`, { group: "switch" }, () => {
    iter++;
    const port = iter & 1 ? a : b;
    for (let k = 0; k < BATCH; k++) sink += sw.forward(port, frames[k], iter);
    if (sw.takeMoveReport() === null && iter > 1) throw new Error("no moves");
    if (sink < 0) throw new Error("unreachable");
  });
}

// 4. Filtered: a VLAN-tagged frame dropped by the default policy.
{
  const sw = new LearningSwitch();
  const a = sw.addPort();
  sw.addPort();
  const f = eth(BROADCAST, host(1), 0x8100);
  let sink = 0;
  Deno.bench(`switch: filter drop (802.1Q), ${BATCH} decisions`, { group: "switch" }, () => {
    for (let k = 0; k < BATCH; k++) sink += sw.forward(a, f, 1);
    if (sink !== 0) throw new Error("forwarded a tagged frame");
  });
}
