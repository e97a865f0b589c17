import { assert, assertEquals, assertThrows } from "../assert.ts";
import fc from "fast-check";
import { Drop, DROP_NAMES, LearningSwitch, type SwitchOptions } from "../../core/switch.ts";
import { BROADCAST, type MacKey, writeMac } from "../../core/mac.ts";

// Stations (individual, locally administered MACs) and a few group addresses.
const H1 = 0x02_00_00_00_00_01;
const H2 = 0x02_00_00_00_00_02;
const H3 = 0x02_00_00_00_00_03;
const H4 = 0x02_00_00_00_00_04;
const MCAST_V6 = 0x33_33_00_00_00_01;
const STP = 0x01_80_c2_00_00_00;
const LLDP = 0x01_80_c2_00_00_0e;

const IPV4 = 0x0800;
const ARP = 0x0806;
const IPV6 = 0x86dd;

/** An Ethernet frame: dst, src, type/length, padded to `len` bytes. */
function eth(dst: MacKey, src: MacKey, type = IPV4, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

/** A VLAN-tagged frame: TPID, TCI (VLAN 10), inner type. */
function tagged(dst: MacKey, src: MacKey, tpid: number, inner: number): Uint8Array {
  const f = eth(dst, src, tpid, 64);
  f[14] = 0x00;
  f[15] = 10;
  f[16] = inner >> 8;
  f[17] = inner & 0xff;
  return f;
}

/** Forwards and returns the egress ports (sorted), or the drop reason name. */
function send(sw: LearningSwitch, port: number, frame: Uint8Array, now: number): number[] | string {
  const n = sw.forward(port, frame, now);
  if (n === 0) return DROP_NAMES[sw.lastDrop];
  return Array.from(sw.egress.subarray(0, n)).sort((a, b) => a - b);
}

function threePorts(opts: SwitchOptions = {}) {
  const sw = new LearningSwitch(opts);
  const a = sw.addPort({ name: "a" });
  const b = sw.addPort({ name: "b" });
  const c = sw.addPort({ name: "c" });
  return { sw, a, b, c };
}

Deno.test("switch: ARP conversation learns both ends, then unicast goes to one port", () => {
  const { sw, a, b, c } = threePorts();
  assertEquals([a, b, c], [0, 1, 2]);
  // t=0: H1 on a asks who-has (broadcast): flooded to b and c, H1 learned on a.
  assertEquals(send(sw, a, eth(BROADCAST, H1, ARP), 0), [b, c]);
  assertEquals(sw.lookup(H1, 0), a);
  // t=1: H2 on b replies unicast to H1: known, goes to a only, H2 learned on b.
  assertEquals(send(sw, b, eth(H1, H2, ARP), 1), [a]);
  assertEquals(sw.lookup(H2, 1), b);
  // t=2: H1 -> H2 IPv4: unicast to b.
  assertEquals(send(sw, a, eth(H2, H1), 2), [b]);
  const k = sw.counters();
  assertEquals(k.rx_frames, 3);
  assertEquals(k.flooded_frames, 1);
  assertEquals(k.flooded_broadcast, 1);
  assertEquals(k.unicast_frames, 2);
  assertEquals(k.tx_frames, 4, "2 flood copies + 2 unicast");
  assertEquals(k.tx_bytes, 4 * 60);
  assertEquals(k.macs_learned, 2);
  assertEquals(sw.portCounters(c)!.tx_frames, 1);
  assertEquals(sw.portCounters(a)!.rx_bytes, 120);
});

Deno.test("switch: unknown unicast and multicast flood to all but the ingress", () => {
  const { sw, a, b, c } = threePorts();
  assertEquals(send(sw, b, eth(H3, H2), 0), [a, c]);
  assertEquals(send(sw, c, eth(MCAST_V6, H4, IPV6), 0), [a, b]);
  const k = sw.counters();
  assertEquals(k.flooded_unknown_unicast, 1);
  assertEquals(k.flooded_multicast, 1);
  assertEquals(k.flooded_broadcast, 0);
});

Deno.test("switch: entries age out exactly agingMs after the last frame", () => {
  const { sw, a, b, c } = threePorts({ agingMs: 1000 });
  assertEquals(sw.nextDeadline(), Infinity);
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  assertEquals(sw.nextDeadline(), 1000);
  // A frame from H1 at t=400 refreshes it.
  send(sw, a, eth(BROADCAST, H1, ARP), 400);
  assertEquals(send(sw, b, eth(H1, H2), 1399), [a], "still known 1 ms before the boundary");
  assertEquals(send(sw, b, eth(H1, H2), 1400), [a, c], "at the boundary: unknown, flooded");
  assertEquals(sw.lookup(H1, 1400), -1);
  // expire: the deadline may be early; an early call removes nothing.
  assert(sw.nextDeadline() <= 1400);
  assertEquals(sw.expire(1399), 0);
  assertEquals(sw.expire(1400), 1);
  assertEquals(sw.macCount, 1, "H2 (seen at 1400) stays");
  assertEquals(sw.nextDeadline(), 2400);
  assertEquals(sw.counters().macs_aged, 1);
  assertEquals(sw.portCounters(a)!.macs_aged, 1);
  assertEquals(sw.portMacCount(a), 0);
});

Deno.test("switch: nextDeadline asks for at most one scan per expireIntervalMs", () => {
  for (const [interval, second] of [[undefined, 2000], [1000, 2000], [0, 1100], [50, 1100]]) {
    const sw = new LearningSwitch({ agingMs: 1000, expireIntervalMs: interval });
    const a = sw.addPort();
    sw.addPort();
    // Five MACs learned at t = 0, 100, 200, 300, 400.
    for (let t = 0; t < 500; t += 100) sw.forward(a, eth(BROADCAST, H1 + t, ARP), t);
    assertEquals(sw.nextDeadline(), 1000);
    assertEquals(sw.expire(1000), 1);
    assertEquals(sw.nextDeadline(), second, `interval ${interval}`);
    assertEquals(sw.lookup(H1 + 100, 1100), -1, "forwarding ages exactly all the same");
    assertEquals(sw.expire(1100), 1, "an explicit call removes what is due");
    assertEquals(sw.expire(2000), 3);
    assertEquals(sw.nextDeadline(), Infinity);
  }
  assertThrows(() => new LearningSwitch({ expireIntervalMs: -1 }), RangeError, "expireIntervalMs");
});

Deno.test("switch: an aged entry seen again is learned afresh on its new port", () => {
  const { sw, a, b } = threePorts({ agingMs: 1000 });
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  // Not expired yet, but past aging: H1 appears on b at t=5000.
  send(sw, b, eth(BROADCAST, H1, ARP), 5000);
  assertEquals(sw.lookup(H1, 5000), b);
  const k = sw.counters();
  assertEquals(k.macs_aged, 1);
  assertEquals(k.macs_learned, 2);
  assertEquals(k.macs_moved, 0, "an aged entry does not count as a move");
  assertEquals(sw.portMacCount(a), 0);
  assertEquals(sw.portMacCount(b), 1);
});

Deno.test("switch: MAC move re-points the entry and is reported once per log tick", () => {
  const { sw, a, b, c } = threePorts();
  assertEquals(sw.takeMoveReport(), null);
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  send(sw, b, eth(BROADCAST, H1, ARP), 10);
  assertEquals(sw.lookup(H1, 10), b);
  assertEquals(send(sw, c, eth(H1, H3), 11), [b]);
  send(sw, a, eth(BROADCAST, H1, ARP), 12);
  send(sw, c, eth(BROADCAST, H1, ARP), 13);
  assertEquals(sw.takeMoveReport(), { moves: 3, mac: H1, from: a, to: c });
  assertEquals(sw.takeMoveReport(), null, "nothing new since the last report");
  assertEquals(sw.counters().macs_moved, 3);
  assertEquals(sw.portCounters(b)!.macs_moved, 1);
  assertEquals(sw.portMacCount(a) + sw.portMacCount(b), 0);
  assertEquals(sw.portMacCount(c), 2, "H1 and H3");
});

Deno.test("switch: unicast to a MAC on the ingress port is dropped (same_port)", () => {
  const { sw, a } = threePorts();
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  assertEquals(send(sw, a, eth(H1, H2), 1), "same_port");
  assertEquals(sw.counters().dropped_frames.same_port, 1);
  assertEquals(sw.counters().dropped_bytes.same_port, 60);
  assertEquals(sw.portCounters(a)!.dropped_frames.same_port, 1);
  assertEquals(sw.lastDrop, Drop.SAME_PORT);
  // H2 was learned from the hairpinned frame (learning precedes the decision).
  assertEquals(sw.lookup(H2, 1), a);
});

Deno.test("switch: split horizon: ports of one group never exchange frames", () => {
  const sw = new LearningSwitch();
  const s1 = sw.addPort({ name: "spoke1", group: 7 });
  const s2 = sw.addPort({ name: "spoke2", group: 7 });
  const hub = sw.addPort({ name: "hub" });
  const other = sw.addPort({ name: "other", group: 8 });
  assertEquals(send(sw, s1, eth(BROADCAST, H1, ARP), 0), [hub, other]);
  assertEquals(send(sw, s2, eth(BROADCAST, H2, ARP), 0), [hub, other]);
  assertEquals(send(sw, hub, eth(BROADCAST, H3, ARP), 0), [s1, s2, other]);
  assertEquals(send(sw, other, eth(MCAST_V6, H4, IPV6), 0), [s1, s2, hub]);
  // Known unicast across the group is dropped too.
  assertEquals(send(sw, s1, eth(H2, H1), 1), "split_horizon");
  assertEquals(send(sw, s1, eth(H3, H1), 1), [hub]);
  assertEquals(send(sw, hub, eth(H2, H3), 1), [s2]);
  assertEquals(sw.counters().dropped_frames.split_horizon, 1);
  // A lone group member with no other port to flood to.
  const lone = new LearningSwitch();
  const x = lone.addPort({ group: 1 });
  lone.addPort({ group: 1 });
  assertEquals(send(lone, x, eth(BROADCAST, H1, ARP), 0), "no_egress");
});

Deno.test("switch: a switch with one port drops floods as no_egress", () => {
  const sw = new LearningSwitch();
  const a = sw.addPort();
  assertEquals(send(sw, a, eth(BROADCAST, H1, ARP), 0), "no_egress");
  assertEquals(sw.lookup(H1, 0), a, "learned all the same");
});

Deno.test("switch: per-port MAC limit, restrict drops frames from new sources", () => {
  const sw = new LearningSwitch({ maxMacsPerPort: 2 });
  const a = sw.addPort();
  const b = sw.addPort();
  assertEquals(send(sw, a, eth(BROADCAST, H1, ARP), 0), [b]);
  assertEquals(send(sw, a, eth(BROADCAST, H2, ARP), 0), [b]);
  assertEquals(send(sw, a, eth(BROADCAST, H3, ARP), 0), "mac_limit");
  assertEquals(sw.lookup(H3, 0), -1);
  // Known sources keep working.
  assertEquals(send(sw, a, eth(BROADCAST, H1, ARP), 1), [b]);
  // Port b has its own budget.
  assertEquals(send(sw, b, eth(H1, H3), 1), [a]);
  assertEquals(sw.portCounters(a)!.mac_limit_reached, 1);
  assertEquals(sw.counters().dropped_frames.mac_limit, 1);
  // When an entry ages out the room comes back.
  sw.expire(300_000);
  assertEquals(send(sw, a, eth(BROADCAST, H4, ARP), 300_000), [b]);
});

Deno.test("switch: limitAction forward floods without learning", () => {
  const sw = new LearningSwitch({ maxMacs: 2, limitAction: "forward" });
  const a = sw.addPort();
  const b = sw.addPort();
  const c = sw.addPort();
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  send(sw, b, eth(BROADCAST, H2, ARP), 0);
  assertEquals(send(sw, c, eth(H1, H3), 0), [a], "forwarded, H3 not learned");
  assertEquals(sw.lookup(H3, 0), -1);
  assertEquals(send(sw, a, eth(H3, H1), 1), [b, c], "replies to H3 flood");
  assertEquals(sw.counters().mac_limit_reached, 1);
  assertEquals(sw.macCount, 2);
});

Deno.test("switch: per-switch MAC limit applies across ports", () => {
  const sw = new LearningSwitch({ maxMacs: 3 });
  const a = sw.addPort();
  const b = sw.addPort();
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  send(sw, a, eth(BROADCAST, H2, ARP), 0);
  send(sw, b, eth(BROADCAST, H3, ARP), 0);
  assertEquals(send(sw, b, eth(BROADCAST, H4, ARP), 0), "mac_limit");
  assertEquals(sw.macCount, 3);
});

Deno.test("switch: a move onto a full port forgets the entry", () => {
  const sw = new LearningSwitch({ maxMacsPerPort: 1 });
  const a = sw.addPort();
  const b = sw.addPort();
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  send(sw, b, eth(BROADCAST, H2, ARP), 0);
  // H1 shows up on b, which is full: not moved, stale entry on a removed.
  assertEquals(send(sw, b, eth(BROADCAST, H1, ARP), 1), "mac_limit");
  assertEquals(sw.lookup(H1, 1), -1);
  assertEquals(sw.portMacCount(a), 0);
  assertEquals(send(sw, b, eth(H1, H2), 2), [a], "unknown now: flooded to a");
});

Deno.test("switch: an aged entry reappearing on a full port is forgotten, not moved", () => {
  const sw = new LearningSwitch({ maxMacsPerPort: 1, agingMs: 1000 });
  const a = sw.addPort();
  const b = sw.addPort();
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  send(sw, b, eth(BROADCAST, H2, ARP), 1500);
  assertEquals(send(sw, b, eth(BROADCAST, H1, ARP), 1600), "mac_limit");
  assertEquals(sw.macCount, 1);
  assertEquals(sw.portMacCount(a), 0);
  assertEquals(sw.counters().macs_aged, 1);
  assertEquals(sw.counters().mac_limit_reached, 1);
});

Deno.test("switch: storm control per port and class, refilled by time", () => {
  const sw = new LearningSwitch({ storm: { broadcast: { rate: 10, burst: 2 } } });
  const a = sw.addPort();
  const b = sw.addPort({ storm: { multicast: { rate: 1, burst: 1 } } });
  const bc = eth(BROADCAST, H1, ARP);
  assertEquals(send(sw, a, bc, 0), [b]);
  assertEquals(send(sw, a, bc, 0), [b]);
  assertEquals(send(sw, a, bc, 0), "storm");
  assertEquals(send(sw, a, bc, 99), "storm", "0.99 token");
  assertEquals(send(sw, a, bc, 100), [b], "refilled one token after 100 ms");
  assertEquals(send(sw, a, bc, 100), "storm");
  // Other classes of a have no limit; known unicast is never storm-limited.
  for (let i = 0; i < 5; i++) assertEquals(send(sw, a, eth(MCAST_V6, H1, IPV6), 100), [b]);
  // b overrides the switch default: broadcast unlimited, multicast 1/s.
  for (let i = 0; i < 5; i++) assertEquals(send(sw, b, eth(BROADCAST, H2, ARP), 100), [a]);
  assertEquals(send(sw, b, eth(MCAST_V6, H2, IPV6), 100), [a]);
  assertEquals(send(sw, b, eth(MCAST_V6, H2, IPV6), 100), "storm");
  for (let i = 0; i < 5; i++) assertEquals(send(sw, b, eth(H1, H2), 100), [a]);
  assertEquals(sw.portCounters(a)!.dropped_frames.storm, 3);
  assertEquals(sw.portCounters(b)!.dropped_frames.storm, 1);
});

Deno.test("switch: default filter classes, each with its reason and its switch", () => {
  const cases: {
    name: string;
    frame: Uint8Array;
    reason: string;
    allow: SwitchOptions["filter"];
  }[] = [
    {
      name: "STP BPDU",
      frame: eth(STP, H1, 0x0026),
      reason: "link_local",
      allow: { allowLinkLocal: true, allowLlc: true },
    },
    {
      name: "LLDP",
      frame: eth(LLDP, H1, 0x88cc),
      reason: "link_local",
      allow: { allowLinkLocal: true, allowOtherEthertypes: true },
    },
    {
      name: "NetBEUI (LLC)",
      frame: eth(BROADCAST, H1, 0x0030),
      reason: "llc",
      allow: { allowLlc: true },
    },
    {
      name: "802.1Q",
      frame: tagged(BROADCAST, H1, 0x8100, IPV4),
      reason: "vlan",
      allow: { allowVlanTagged: true },
    },
    {
      name: "802.1ad",
      frame: tagged(BROADCAST, H1, 0x88a8, ARP),
      reason: "vlan",
      allow: { allowVlanTagged: true },
    },
    {
      name: "IPX",
      frame: eth(BROADCAST, H1, 0x8137),
      reason: "ethertype",
      allow: { allowOtherEthertypes: true },
    },
    {
      name: "MPLS via list",
      frame: eth(BROADCAST, H1, 0x8847),
      reason: "ethertype",
      allow: { ethertypes: [0x8847] },
    },
  ];
  for (const k of cases) {
    const { sw, a, b, c } = threePorts();
    assertEquals(send(sw, a, k.frame, 0), k.reason, k.name);
    assertEquals(sw.lookup(H1, 0), -1, `${k.name}: filtered frames are not learned from`);
    assertEquals(sw.counters().dropped_frames[k.reason as "llc"], 1, k.name);
    const open = new LearningSwitch({ filter: k.allow });
    const p = open.addPort();
    open.addPort();
    assertEquals(send(open, p, k.frame, 0), [1], `${k.name} allowed`);
    assertEquals([b, c], [1, 2]);
  }
  // Default passes IPv4, ARP, IPv6, and unknown multicast floods.
  const { sw, a } = threePorts();
  for (const t of [IPV4, ARP, IPV6]) assertEquals(send(sw, a, eth(BROADCAST, H1, t), 0), [1, 2]);
  assertEquals(send(sw, a, eth(0x01_00_5e_01_02_03, H1), 0), [1, 2]);
  // 01:80:C2:00:00:10 is outside the link-local block.
  assertEquals(send(sw, a, eth(0x01_80_c2_00_00_10, H1), 0), [1, 2]);
});

Deno.test("switch: only one class allowed is not enough for a frame in two", () => {
  const sw = new LearningSwitch({ filter: { allowLinkLocal: true } });
  const a = sw.addPort();
  sw.addPort();
  assertEquals(send(sw, a, eth(STP, H1, 0x0026), 0), "llc", "a BPDU is link-local and LLC");
  const v = new LearningSwitch({ filter: { allowVlanTagged: true } });
  const p = v.addPort();
  v.addPort();
  assertEquals(send(v, p, tagged(BROADCAST, H1, 0x8100, 0x8137), 0), "ethertype", "inner type");
  assertEquals(send(v, p, tagged(BROADCAST, H1, 0x8100, 0x0040), 0), "llc", "inner length");
  // 802.1ad outer + 802.1Q inner + IPv4.
  const qinq = eth(BROADCAST, H1, 0x88a8, 64);
  qinq.set([0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00], 14);
  assertEquals(send(v, p, qinq, 0), [1]);
});

Deno.test("switch: runts and bad sources are dropped and counted, never thrown", () => {
  const { sw, a } = threePorts({ filter: { allowVlanTagged: true, allowLlc: true } });
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(0), "runt"],
    [new Uint8Array(13), "runt"],
    [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 1]), "runt"],
    [new Uint8Array(14), "bad_source"], // junk seen from edges: 14 zero bytes
    [eth(BROADCAST, BROADCAST, ARP), "bad_source"],
    [eth(H1, MCAST_V6), "bad_source"],
    [eth(H1, 0), "bad_source"],
  ];
  for (const [f, reason] of cases) {
    const n = sw.forward(a, f, 0);
    assertEquals(n, 0);
    assertEquals(DROP_NAMES[sw.lastDrop], reason, `${f.length} bytes`);
  }
  assertEquals(sw.macCount, 0);
  assertEquals(sw.counters().dropped_frames.runt, 3);
  assertEquals(sw.counters().dropped_frames.bad_source, 4);
  assertEquals(sw.counters().rx_frames, 7);
});

Deno.test("switch: removing a port forgets its MACs; its id is reused", () => {
  const { sw, a, b, c } = threePorts();
  send(sw, a, eth(BROADCAST, H1, ARP), 0);
  send(sw, a, eth(BROADCAST, H2, ARP), 0);
  send(sw, b, eth(BROADCAST, H3, ARP), 0);
  assert(sw.removePort(a));
  assert(!sw.removePort(a), "already gone");
  assertEquals(sw.ports(), [b, c]);
  assertEquals(sw.lookup(H1, 1), -1);
  assertEquals(sw.lookup(H2, 1), -1);
  assertEquals(sw.lookup(H3, 1), b);
  assertEquals(sw.counters().macs_flushed, 2);
  assertEquals(send(sw, c, eth(H1, H4), 1), [b], "unknown now: flooded to what is left");
  assertEquals(send(sw, a, eth(H3, H1), 1), "no_port");
  assertEquals(sw.counters().dropped_frames.no_port, 1);
  assertEquals(send(sw, 99999, eth(H3, H1), 1), "no_port");
  assertEquals(send(sw, -1, eth(H3, H1), 1), "no_port");
  // The lowest free id comes back, with fresh counters and no MACs.
  const d = sw.addPort({ name: "d" });
  assertEquals(d, a);
  assertEquals(sw.portMacCount(d), 0);
  assertEquals(sw.portCounters(d)!.rx_frames, 0);
  assertEquals(send(sw, b, eth(BROADCAST, H3, ARP), 2), [d, c]);
});

Deno.test("switch: maxPorts bounds addPort", () => {
  const sw = new LearningSwitch({ maxPorts: 2 });
  assertEquals(sw.addPort(), 0);
  assertEquals(sw.addPort(), 1);
  assertEquals(sw.addPort(), -1);
});

Deno.test("switch: snapshot is plain JSON with the table sorted by port", () => {
  const { sw, a, b } = threePorts({ agingMs: 10_000 });
  sw.addPort({ name: "spoke", group: 3 });
  send(sw, b, eth(BROADCAST, H3, ARP), 100);
  send(sw, a, eth(BROADCAST, H2, ARP), 200);
  send(sw, a, eth(BROADCAST, H1, ARP), 300);
  send(sw, a, eth(STP, H1, 0x26), 300);
  const s = sw.snapshot(1000);
  assertEquals(JSON.parse(JSON.stringify(s)), s);
  assertEquals(s.macs, [
    { mac: "02:00:00:00:00:01", port: a, ageMs: 700 },
    { mac: "02:00:00:00:00:02", port: a, ageMs: 800 },
    { mac: "02:00:00:00:00:03", port: b, ageMs: 900 },
  ]);
  assertEquals(s.macCount, 3);
  assertEquals(s.ports.map((p) => [p.name, p.group, p.macs]), [
    ["a", null, 2],
    ["b", null, 1],
    ["c", null, 0],
    ["spoke", 3, 0],
  ]);
  assertEquals(s.counters.dropped_frames.link_local, 1);
  assertEquals(s.filter.ethertypes, [IPV4, ARP, IPV6]);
  const cut = sw.snapshot(1000, 1);
  assertEquals(cut.macs.length, 1);
  assert(cut.macsTruncated);
});

Deno.test("switch: bad options are rejected at construction", () => {
  const bad: [SwitchOptions, string][] = [
    [{ maxMacs: 0 }, "maxMacs"],
    [{ maxMacsPerPort: 1.5 }, "maxMacsPerPort"],
    [{ maxPorts: -1 }, "maxPorts"],
    [{ agingMs: 0 }, "agingMs"],
    [{ agingMs: Infinity }, "agingMs"],
    [{ limitAction: "shutdown" as "forward" }, "limitAction"],
    [{ filter: { ethertypes: [0x0100] } }, "ethertype"],
    [{ storm: { broadcast: { rate: 0, burst: 1 } } }, "storm.broadcast"],
  ];
  for (const [opts, word] of bad) {
    assertThrows(() => new LearningSwitch(opts), RangeError, word);
  }
  const sw = new LearningSwitch({ maxMacs: 10 });
  assertThrows(() => sw.addPort({ group: -2 }), RangeError, "group");
  assertThrows(() => sw.addPort({ maxMacs: 11 }), RangeError, "maxMacs");
});

Deno.test("switch: the table grows to its bound and every entry stays findable", () => {
  const sw = new LearningSwitch({ maxMacs: 5000, maxMacsPerPort: 5000, agingMs: 1e9 });
  const a = sw.addPort();
  const b = sw.addPort();
  const macs: MacKey[] = [];
  // A deterministic spread of individual addresses (even first octet).
  let x = 12345;
  for (let i = 0; i < 6000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    macs.push(((x & 0xfe00) * 0x1_0000_0000 + ((x * 2654435761) >>> 0) + i) % 0xfeff_ffff_ffff);
  }
  const distinct = [...new Set(macs)].filter((m) => Math.floor(m / 2 ** 40) % 2 === 0 && m !== 0);
  for (let i = 0; i < distinct.length; i++) {
    sw.forward(i % 2 === 0 ? a : b, eth(BROADCAST, distinct[i], ARP), i);
  }
  const learned = Math.min(5000, distinct.length);
  assertEquals(sw.macCount, learned);
  for (let i = 0; i < learned; i++) assertEquals(sw.lookup(distinct[i], 1e6), i % 2 === 0 ? a : b);
  assert(sw.removePort(a));
  assertEquals(sw.macCount, Math.floor(learned / 2));
  for (let i = 0; i < learned; i++) assertEquals(sw.lookup(distinct[i], 1e6), i % 2 === 0 ? -1 : b);
  // Age out the first half of b's entries (seen at t < 2500) at exactly the boundary.
  assertEquals(sw.expire(2500 + 1e9), 1250);
  for (let i = 1; i < learned; i += 2) {
    assertEquals(sw.lookup(distinct[i], 2500 + 1e9), i < 2500 ? -1 : b);
  }
});

// ------------------------------------------------------------------ properties

type Op =
  | { k: "frame"; port: number; src: number; dst: number; type: number; dt: number }
  | { k: "add"; group: number }
  | { k: "remove"; port: number }
  | { k: "expire"; dt: number };

const POOL_SIZE = 48;
const GROUP_DSTS: MacKey[] = [BROADCAST, MCAST_V6, 0x01_00_5e_00_00_01];
/** 48 distinct individual (I/G bit clear), non-zero MACs, new ones for every run. */
const poolArb = fc.uniqueArray(
  fc.integer({ min: 1, max: 2 ** 47 - 1 }).map((x) =>
    Math.floor(x / 2 ** 40) * 2 ** 41 + (x % 2 ** 40)
  ),
  { minLength: POOL_SIZE, maxLength: POOL_SIZE },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record({
      k: fc.constant("frame" as const),
      port: fc.integer({ min: 0, max: 7 }),
      src: fc.integer({ min: 0, max: POOL_SIZE - 1 }),
      // 0..23: a station of the pool; 24..26: a group address.
      dst: fc.integer({ min: 0, max: 26 }),
      type: fc.constantFrom(IPV4, ARP, IPV6, 0x8100, 0x0026),
      dt: fc.integer({ min: 0, max: 400 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("add" as const), group: fc.integer({ min: 0, max: 2 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("remove" as const),
      port: fc.integer({ min: 0, max: 7 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("expire" as const),
      dt: fc.integer({ min: 0, max: 1000 }),
    }),
  },
);

Deno.test("switch: never back to the ingress or a same-group port; bounds hold; table stays consistent (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 32 }), // 32: the 64-slot table at its full load of 1/2
      fc.integer({ min: 1, max: 16 }),
      fc.constantFrom("restrict" as const, "forward" as const),
      fc.array(opArb, { minLength: 100, maxLength: 300 }),
      poolArb,
      (maxMacs, perPort, limitAction, ops, pool) => {
        const sw = new LearningSwitch({
          maxMacs,
          maxMacsPerPort: perPort,
          maxPorts: 8,
          agingMs: 1500,
          limitAction,
        });
        const groups = new Map<number, number>();
        for (let i = 0; i < 3; i++) {
          groups.set(sw.addPort({ group: i === 2 ? 1 : 0 }), i === 2 ? 1 : 0);
        }
        let now = 0;
        for (const op of ops) {
          if (op.k === "add") {
            const id = sw.addPort({ group: op.group });
            if (id >= 0) groups.set(id, op.group);
          } else if (op.k === "remove") {
            const had = sw.hasPort(op.port);
            assertEquals(sw.removePort(op.port), had);
            groups.delete(op.port);
            for (const m of pool) {
              assert(sw.lookup(m, now) !== op.port, "MAC left on a removed port");
            }
          } else if (op.k === "expire") {
            now += op.dt;
            sw.expire(now);
            assert(sw.nextDeadline() > now);
          } else {
            now += op.dt;
            const src = pool[op.src];
            const dst = op.dst < 24 ? pool[op.dst] : GROUP_DSTS[op.dst - 24];
            const n = sw.forward(op.port, eth(dst, src, op.type), now);
            const g = groups.get(op.port);
            const out = Array.from(sw.egress.subarray(0, n));
            assertEquals(new Set(out).size, n, "egress ports distinct");
            for (const p of out) {
              assert(p !== op.port, "sent back to the ingress port");
              assert(groups.has(p), "sent to a port that does not exist");
              assert(!(g !== undefined && g !== 0 && groups.get(p) === g), "split horizon broken");
            }
            if (n > 0) {
              const at = sw.lookup(src, now);
              assert(
                at === op.port || (limitAction === "forward" && at === -1),
                "source not learned",
              );
            }
          }
          // Bounds and internal consistency of the hash table.
          assert(sw.macCount <= maxMacs);
          let sum = 0;
          for (const p of sw.ports()) {
            assert(sw.portMacCount(p) <= perPort);
            sum += sw.portMacCount(p);
          }
          assertEquals(sum, sw.macCount);
          const snap = sw.snapshot(now);
          assertEquals(snap.macs.length, sw.macCount);
          for (const row of snap.macs) {
            if (row.ageMs < 1500) {
              const mac = parseInt(row.mac.replaceAll(":", ""), 16);
              assertEquals(sw.lookup(mac, now), row.port, `lookup of ${row.mac}`);
            }
          }
        }
      },
    ),
    { seed: 0x5317c4, numRuns: 200 },
  );
});

Deno.test("switch: random bytes on random ports never throw and always give a reason (property)", () => {
  const sw = new LearningSwitch({ maxMacs: 64, filter: { allowVlanTagged: true, allowLlc: true } });
  for (let i = 0; i < 4; i++) sw.addPort({ group: i % 2 });
  fc.assert(
    fc.property(
      fc.integer({ min: -2, max: 6 }),
      fc.uint8Array({ minLength: 0, maxLength: 40 }),
      fc.nat({ max: 1e9 }),
      (port, bytes, now) => {
        const n = sw.forward(port, bytes, now);
        if (n === 0) return sw.lastDrop >= 0 && sw.lastDrop < DROP_NAMES.length;
        return n <= 3;
      },
    ),
    { seed: 42, numRuns: 2000 },
  );
  assert(sw.macCount <= 64);
});

/**
 * A deliberately simple second implementation of the documented behaviour
 * (Map-based, no hashing tricks), used as an oracle. It reuses the real
 * filter, which the table-driven tests above cover on their own.
 */
class ModelSwitch {
  table = new Map<MacKey, { port: number; seen: number }>();
  ports = new Map<number, { group: number; max: number }>();
  filter;
  constructor(
    readonly sw: LearningSwitch,
    readonly opts: Required<Pick<SwitchOptions, "maxMacs" | "agingMs" | "limitAction">>,
  ) {
    this.filter = sw.filter;
  }
  onPort(p: number): number {
    let n = 0;
    for (const e of this.table.values()) if (e.port === p) n++;
    return n;
  }
  forward(
    ingress: number,
    f: Uint8Array,
    dst: MacKey,
    src: MacKey,
    now: number,
  ): string | number[] {
    const ip = this.ports.get(ingress);
    if (ip === undefined) return "no_port";
    const v = this.filter.check(f);
    if (v >= 0) return DROP_NAMES[v];
    if (Math.floor(src / 2 ** 40) % 2 === 1 || src === 0) return "bad_source";
    const room = () => this.onPort(ingress) < ip.max;
    let e = this.table.get(src);
    let relearned = false;
    if (e !== undefined && e.seen + this.opts.agingMs <= now) {
      if (e.port === ingress || room()) {
        e.port = ingress;
        e.seen = now;
        relearned = true;
      } else {
        this.table.delete(src);
        e = undefined;
      }
    }
    if (relearned) {
      // done
    } else if (e !== undefined) {
      if (e.port !== ingress) {
        if (room()) {
          e.port = ingress;
          e.seen = now;
        } else {
          this.table.delete(src);
          if (this.opts.limitAction === "restrict") return "mac_limit";
        }
      } else e.seen = now;
    } else if (this.table.size < this.opts.maxMacs && room()) {
      this.table.set(src, { port: ingress, seen: now });
    } else if (this.opts.limitAction === "restrict") return "mac_limit";
    const d = this.table.get(dst);
    if (
      Math.floor(dst / 2 ** 40) % 2 === 0 && d !== undefined && d.seen + this.opts.agingMs > now
    ) {
      if (d.port === ingress) return "same_port";
      if (ip.group !== 0 && this.ports.get(d.port)!.group === ip.group) return "split_horizon";
      return [d.port];
    }
    const out = [...this.ports.entries()]
      .filter(([p, o]) => p !== ingress && !(ip.group !== 0 && o.group === ip.group))
      .map(([p]) => p)
      .sort((a, b) => a - b);
    return out.length === 0 ? "no_egress" : out;
  }
  expire(now: number): void {
    for (const [m, e] of this.table) if (e.seen + this.opts.agingMs <= now) this.table.delete(m);
  }
  remove(p: number): void {
    this.ports.delete(p);
    for (const [m, e] of this.table) if (e.port === p) this.table.delete(m);
  }
}

Deno.test("switch: every decision and the whole table match a simple reference model (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 32 }),
      fc.integer({ min: 0, max: 12 }),
      fc.constantFrom("restrict" as const, "forward" as const),
      fc.array(opArb, { minLength: 100, maxLength: 300 }),
      poolArb,
      (maxMacs, perPort, limitAction, ops, pool) => {
        const opts = { maxMacs, agingMs: 1500, limitAction };
        const sw = new LearningSwitch({ ...opts, maxPorts: 8 });
        const model = new ModelSwitch(sw, opts);
        const add = (group: number) => {
          const max = Math.min(perPort, maxMacs);
          const id = sw.addPort({ group, maxMacs: max });
          if (id >= 0) model.ports.set(id, { group, max });
        };
        add(0);
        add(1);
        add(1);
        let now = 0;
        for (const op of ops) {
          if (op.k === "add") add(op.group);
          else if (op.k === "remove") {
            sw.removePort(op.port);
            model.remove(op.port);
          } else if (op.k === "expire") {
            now += op.dt;
            sw.expire(now);
            model.expire(now);
          } else {
            now += op.dt;
            const src = pool[op.src];
            const dst = op.dst < 24 ? pool[op.dst] : GROUP_DSTS[op.dst - 24];
            const f = eth(dst, src, op.type);
            const want = model.forward(op.port, f, dst, src, now);
            assertEquals(
              send(sw, op.port, f, now),
              want,
              `frame ${formatMacSafe(src)} -> ${formatMacSafe(dst)} on ${op.port} at ${now}`,
            );
          }
          // The live part of the table (entries not aged) must be identical.
          const live = (rows: [MacKey, number][]) => rows.sort((a, b) => a[0] - b[0]);
          const got = live(
            sw.snapshot(now).macs.filter((r) => r.ageMs < 1500).map((
              r,
            ) => [parseInt(r.mac.replaceAll(":", ""), 16), r.port]),
          );
          const exp = live(
            [...model.table].filter(([, e]) => e.seen + 1500 > now).map(([m, e]) => [m, e.port]),
          );
          assertEquals(got, exp);
          assertEquals(sw.macCount, model.table.size);
        }
      },
    ),
    { seed: 0x0dd1e, numRuns: 200 },
  );
});

function formatMacSafe(m: MacKey): string {
  return m.toString(16).padStart(12, "0");
}

Deno.test("switch: tags are walked as core/wire's Ethernet view walks them", () => {
  const v = new LearningSwitch({ filter: { allowVlanTagged: true } });
  const p = v.addPort();
  v.addPort();
  // 802.1Q outer + 802.1ad inner (odd order, still two tags) + IPv4: the inner type decides.
  const odd = eth(BROADCAST, H1, 0x8100, 64);
  odd.set([0, 10, 0x88, 0xa8, 0, 20, 0x08, 0x00], 14);
  assertEquals(send(v, p, odd, 0), [1]);
  // Three tags: the third TPID is the type after two, not an allowed EtherType.
  const three = eth(BROADCAST, H1, 0x88a8, 64);
  three.set([0, 10, 0x81, 0x00, 0, 20, 0x81, 0x00, 0, 30, 0x08, 0x00], 14);
  assertEquals(send(v, p, three, 0), "ethertype");
  // A tagged frame too short for its tag is a runt whatever the policy.
  const d = new LearningSwitch({});
  const q = d.addPort();
  d.addPort();
  const cut = tagged(BROADCAST, H1, 0x8100, IPV4).subarray(0, 16);
  assertEquals(send(d, q, cut, 0), "runt");
  assertEquals(d.filter.check(cut), Drop.RUNT);
  // An 802.3 length the frame does not hold is still LLC to a bridge.
  const l = new LearningSwitch({ filter: { allowLlc: true } });
  const r = l.addPort();
  l.addPort();
  assertEquals(send(l, r, eth(BROADCAST, H1, 1400, 60), 0), [1]);
});
