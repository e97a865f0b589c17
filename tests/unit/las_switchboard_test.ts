/**
 * The LAS switchboard (core/las/switchboard.ts) driven directly: admission,
 * sessions up and down, frames in and the ports they go out of, events and
 * the status snapshot, at explicit times, without sockets or L2TP.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import {
  MAX_REMOTE_END_ID,
  type SessionPort,
  Switchboard,
  type SwitchboardOptions,
} from "../../core/las/switchboard.ts";

const enc = new TextEncoder();

function board(o: Partial<SwitchboardOptions> & { maxPorts?: number } = {}) {
  const asked: string[] = [];
  const sb = new Switchboard<string>({
    maxSwitches: o.maxSwitches ?? 8,
    switchPolicy: o.switchPolicy ?? ((vc) => {
      asked.push(vc);
      return {
        name: vc === "7" ? "vcs.7" : "switch",
        options: o.maxPorts ? { maxPorts: o.maxPorts } : {},
      };
    }),
  });
  return { sb, asked };
}

/** Admits and attaches session `sid` on `vc` (its link is `link`), at `now`. */
function up(sb: Switchboard<string>, sid: number, vc: string, link: string, now = 0, pwType = 5) {
  const vcId = enc.encode(vc);
  const r = sb.admit(sid, vcId);
  assertEquals(r, null, `admit ${sid}`);
  const p = sb.attach({ localSessionId: sid, peer: link, pwType, vcId }, link, now);
  assert(!("refused" in p), `attach ${sid}`);
  return p as SessionPort<string>;
}

/** An Ethernet frame from MAC ...:src to MAC ...:dst (0xff: broadcast), IPv4 EtherType. */
function frame(dst: number, src: number, ethType = 0x0800): Uint8Array {
  const f = new Uint8Array(60);
  if (dst === 0xff) f.fill(0xff, 0, 6);
  else f.set([0x02, 0, 0, 0, 0, dst], 0);
  f.set([0x02, 0, 0, 0, 0, src], 6);
  f[12] = ethType >> 8;
  f[13] = ethType & 0xff;
  return f;
}

function outs(sb: Switchboard<string>, sid: number, f: Uint8Array, now = 0): string[] {
  const n = sb.forward(sid, f, now);
  return sb.out.slice(0, n).sort();
}

Deno.test("switchboard: sessions of one VC share a switch; frames go to their links, never to another VC", () => {
  const { sb } = board();
  up(sb, 1, "100", "a");
  up(sb, 2, "100", "b");
  up(sb, 3, "100", "c");
  up(sb, 4, "0200", "d"); // VC 200
  up(sb, 5, "200", "e");
  assertEquals(sb.switchCount, 2);
  assertEquals(sb.sessionCount, 5);
  assertEquals(outs(sb, 1, frame(0xff, 0xa1)), ["b", "c"], "broadcast floods VC 100 only");
  assertEquals(outs(sb, 2, frame(0xa1, 0xb2)), ["a"], "learned unicast");
  assertEquals(outs(sb, 4, frame(0xff, 0xd4)), ["e"], '"0200" and "200" are VC 200');
  assertEquals(outs(sb, 99, frame(0xff, 0x99)), [], "no such session: nothing");
  assertEquals(sb.session(1)?.rxFrames, 1);
  assertEquals(sb.session(1)?.rxBytes, 60);
});

Deno.test("switchboard: a new switch takes its VC's policy; the last session down removes it", () => {
  const { sb, asked } = board();
  up(sb, 1, "7", "a", 1000);
  up(sb, 2, "7", "b", 2000);
  // Asked for a VC without a switch only: its port limit at admission, its options at creation.
  assertEquals(asked, ["7", "7"]);
  const created = sb.takeEvents();
  assertEquals(created.map((e) => e.type), ["switch-created"]);
  assertEquals([...sb.switches()].map((v) => [v.text, v.policy, v.created]), [[
    "7",
    "vcs.7",
    1000,
  ]]);
  assertEquals(sb.detach(1)?.link, "a");
  assertEquals(sb.detach(1), undefined, "twice: nothing");
  assertEquals(sb.takeEvents(), []);
  sb.detach(2);
  assertEquals(sb.takeEvents().map((e) => [e.type, "vc" in e ? e.vc.text : ""]), [
    ["switch-removed", "7"],
  ]);
  assertEquals(sb.switchCount, 0);
  assertEquals([sb.counters.switches_created, sb.counters.switches_removed], [1, 1]);
});

Deno.test("switchboard: admission refuses what no switch or port is left for, counting sessions being set up", () => {
  const { sb } = board({ maxSwitches: 2, maxPorts: 2 });
  assertEquals(sb.admit(1, enc.encode("1")), null);
  assertEquals(sb.admit(2, enc.encode("2")), null);
  // Two switches are being created: a third VC is refused before either session is up.
  const r = sb.admit(3, enc.encode("3"));
  assertStringIncludes(r ?? "", "max_switches 2: 0 exist, 2 being set up");
  // A VC already being set up takes more sessions, up to its ports.
  assertEquals(sb.admit(4, enc.encode("1")), null);
  assertStringIncludes(
    sb.admit(5, enc.encode("1")) ?? "",
    "VC 1 has no free port (a virtual switch takes at most 2 sessions: 0 up, 2 being set up)",
  );
  assertEquals(sb.settingUpCount, 3);
  // A reservation that will not come up is given back; one whose session is gone is pruned.
  sb.release(4);
  sb.prune((sid) => sid !== 2);
  assertEquals(sb.settingUpCount, 1);
  assertEquals(sb.admit(6, enc.encode("3")), null, "VC 2's reservation was pruned");
  const long = sb.admit(7, new Uint8Array(MAX_REMOTE_END_ID + 1));
  assertStringIncludes(long ?? "", "Remote End ID of 65 bytes is too long");
  assertEquals(sb.counters.sessions_refused_switch_limit, 1);
  assertEquals(sb.counters.sessions_refused_port_limit, 1);
  assertEquals(sb.counters.sessions_refused_remote_end_id, 1);
});

Deno.test("switchboard: attach past a limit without admission is refused, never a session without a port", () => {
  const { sb } = board({ maxSwitches: 1, maxPorts: 1 });
  const s = (sid: number, vc: string) => ({
    localSessionId: sid,
    peer: `p${sid}`,
    pwType: 5,
    vcId: enc.encode(vc),
  });
  const a = sb.attach(s(1, "1"), "a", 0);
  assert(!("refused" in a));
  const b = sb.attach(s(2, "1"), "b", 0);
  assert("refused" in b && b.refused === "port_limit", "the switch has no free port");
  assertStringIncludes(b.reason, "VC 1 has no free port");
  const c = sb.attach(s(3, "2"), "c", 0);
  assert("refused" in c && c.refused === "switch_limit");
  assertEquals(sb.sessionCount, 1);
  assertEquals([...sb.sessions()].map((p) => p.link), ["a"]);
});

Deno.test("switchboard: VLAN drops and mixed PW types are said once; MAC moves are reported at expire", () => {
  const { sb } = board();
  up(sb, 1, "5", "a", 0, 5);
  up(sb, 2, "5", "b", 0, 4);
  const mixed = sb.takeEvents().filter((e) => e.type === "mixed-pw-types");
  assertEquals(mixed.length, 1);
  up(sb, 3, "5", "c", 0, 4);
  assertEquals(sb.takeEvents().filter((e) => e.type === "mixed-pw-types"), [], "once per VC");
  for (let i = 0; i < 3; i++) assertEquals(sb.forward(2, frame(0xff, 0xb2, 0x8100), 0), 0);
  const vlan = sb.takeEvents();
  assertEquals(vlan.map((e) => e.type), ["vlan-dropped"], "once per session");
  assertEquals(sb.counters.vlan_frames_dropped, 3);
  assert(!sb.hasEvents);
  // A MAC learned on A shows up on B: a move, reported by expire.
  sb.forward(1, frame(0xff, 0x42), 10);
  sb.forward(2, frame(0xff, 0x42), 20);
  sb.expire(2000);
  const moves = sb.takeEvents().filter((e) => e.type === "mac-moves");
  assertEquals(moves.length, 1);
  const m = moves[0];
  assert(m.type === "mac-moves");
  assertEquals([m.report.from, m.report.to], [sb.session(1)!.port, sb.session(2)!.port]);
  assert(Number.isFinite(sb.nextDeadline()), "MACs age out");
});

Deno.test("switchboard: the status snapshot names switches, MACs and the sessions behind them", () => {
  const { sb } = board();
  up(sb, 11, "9", "a");
  up(sb, 12, "9", "b");
  sb.forward(11, frame(0xff, 0xa1), 1000);
  sb.forward(12, frame(0xff, 0xb2, 0x88cc), 1000); // LLDP: dropped by the default filter
  const st = sb.status(3600, 256);
  assertEquals(st.switches.length, 1);
  const s = st.switches[0];
  assertEquals(
    [s.vc, s.policy, s.ports, s.macs, s.rx_frames, s.flooded_frames, s.macs_shown],
    ["9", "switch", 2, 1, 2, 1, "1"],
  );
  assertEquals(Object.values(s.dropped).reduce((x, y) => x + y, 0), 1);
  assertEquals(st.mac_table, [
    { vc: "9", mac: "02:00:00:00:00:a1", session: 11, peer: "a", age_s: 3 },
  ]);
});

Deno.test("switchboard: seeded random frames from random sessions never throw and go only to their VC", () => {
  const { sb } = board();
  const vcOf = new Map<string, string>();
  for (let sid = 1; sid <= 6; sid++) {
    const vc = sid <= 3 ? "1" : "2";
    up(sb, sid, vc, `s${sid}`);
    vcOf.set(`s${sid}`, vc);
  }
  let x = 12345;
  const rnd = () => (x = (x * 1103515245 + 12345) >>> 0) / 0x1_0000_0000;
  for (let i = 0; i < 2000; i++) {
    const f = new Uint8Array(14 + Math.floor(rnd() * 100));
    for (let k = 0; k < f.length; k++) f[k] = Math.floor(rnd() * 256);
    const sid = 1 + Math.floor(rnd() * 6);
    const n = sb.forward(sid, f, i);
    for (let k = 0; k < n; k++) {
      assertEquals(vcOf.get(sb.out[k]), vcOf.get(`s${sid}`));
      assert(sb.out[k] !== `s${sid}`, "never back out of its own port");
    }
  }
});

Deno.test("switchboard: a VC's filter judges frames before its switch, by the peer they came from", async () => {
  const { VcFilter, peerOrigin } = await import("../../core/las/vc_filter.ts");
  const { guardRules } = await import("../../core/filter.ts");
  const { loadFrame } = await import("../fixtures/frames/load.ts");
  const f = new VcFilter(guardRules({ dhcpServer: [peerOrigin("192.0.2.1")] }), 0);
  const sb = new Switchboard<string>({
    maxSwitches: 8,
    switchPolicy: (vc) => ({ name: "switch", options: {}, ...(vc === "300" ? { filter: f } : {}) }),
  });
  const on = (sid: number, vc: string, peer: string) => {
    const vcId = enc.encode(vc);
    assertEquals(sb.admit(sid, vcId), null);
    const p = sb.attach({ localSessionId: sid, peer, pwType: 5, vcId }, peer, 0);
    assert(!("refused" in p));
  };
  on(1, "300", "192.0.2.1");
  on(2, "300", "192.0.2.2:1701");
  on(3, "300", "192.0.2.3");
  // A peer LAS of the mesh: what it sends was judged where it entered the mesh.
  const vcId = enc.encode("300");
  assertEquals(sb.admit(8, vcId), null);
  const mesh = sb.attach(
    { localSessionId: 8, peer: "198.51.100.9", pwType: 5, vcId, meshPeer: "las-b" },
    "198.51.100.9",
    0,
  );
  assert(!("refused" in mesh));
  on(4, "301", "192.0.2.4");
  on(5, "301", "192.0.2.5");
  const offer = loadFrame("dhcp_offer");
  assertEquals(
    outs(sb, 1, offer),
    ["192.0.2.2:1701", "192.0.2.3", "198.51.100.9"],
    "the allowed server's offer",
  );
  assertEquals(outs(sb, 2, offer), [], "another peer's offer is dropped");
  assertEquals(outs(sb, 8, offer).length, 3, "a peer LAS's frame is not judged again");
  assertEquals(outs(sb, 4, offer), ["192.0.2.5"], "VC 301 has no filter");
  assertEquals(outs(sb, 3, frame(0xff, 0x33, 0x0806)), [
    "192.0.2.1",
    "192.0.2.2:1701",
    "198.51.100.9",
  ]);
  assertEquals(sb.counters.filtered_frames, 1);
  assertEquals(sb.session(2)?.rxFrames, 1, "counted as received on its session");
  // The filter outlives the switch: its counters are the configuration's.
  for (const sid of [1, 2, 3, 8]) sb.detach(sid);
  on(6, "300", "192.0.2.6");
  on(7, "300", "192.0.2.1");
  assertEquals(outs(sb, 6, offer), []);
  assertEquals(f.snapshot().map((r) => [r.name, r.hits, r.dropped]), [
    ["dhcp_server", 2, 2],
    ["default", 2, 0],
  ]);
});
