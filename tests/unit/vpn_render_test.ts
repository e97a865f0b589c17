/**
 * /status and /metrics of the VPN daemons rendered from hand-built
 * snapshots (cmd/render/node_status.ts, cmd/render/supernode_status.ts):
 * the renderers read only the snapshot, so every field can be checked
 * without an engine, a socket or a clock.
 */
import { assert, assertEquals } from "../assert.ts";
import { nodeMetrics, nodeStatus } from "../../cmd/render/node_status.ts";
import { supernodeMetrics, supernodeStatus } from "../../cmd/render/supernode_status.ts";
import type { NodeSnapshot } from "../../cmd/render/node_status.ts";
import type { SupernodeSnapshot } from "../../cmd/render/supernode_status.ts";
import type { SocketCounters } from "../../cmd/vpn_io.ts";
import { MetricsWriter } from "../../cmd/kit/metrics.ts";
import { LeafTable } from "../../core/leaf_table.ts";
import { matAddress } from "../../core/mac.ts";
import type { SessionInfo } from "../../core/vpn/session_keys.ts";
import { parseIp } from "../../core/addr.ts";

const IO = {
  rx_datagrams: 0,
  rx_truncated: 0,
  rx_gro_messages: 0,
  rx_gro_datagrams: 0,
  rx_handler_errors: 0,
};

const SOCKET: SocketCounters = {
  rx_datagrams: 7,
  rx_truncated: 0,
  rx_gro_messages: 0,
  rx_gro_datagrams: 0,
  rx_ctrunc: 0,
  tx_gso_messages: 0,
  tx_gso_datagrams: 0,
  udp_gro_off: 0,
  udp_gso_off: 0,
  tx_datagrams: 9,
  tx_in_place: 0,
  rx_handler_errors: 0,
  tx_errors: 0,
  endpoints: 2,
  endpoint_table_rotations: 0,
};

function session(peer: number, ageMs: number, key: string): SessionInfo {
  return {
    network: 0,
    peer,
    key,
    keyId: 1,
    initiator: true,
    confirmed: true,
    ageMs,
    txPackets: 3,
    rxPackets: 4,
    endpoint: "192.0.2.1:4000",
  };
}

function nodeSnapshot(secure: boolean): NodeSnapshot {
  const leaves = new LeafTable();
  leaves.leafFor(0x02_00_00_00_00_99, 0);
  return {
    core: {
      state: "registered",
      network: 0,
      nodeId: 2,
      supernodeId: 7,
      supernode: "198.51.100.1:7654",
      supernodeRttMs: 1.5,
      maxFrame: 1400,
      counters: { peers: 2, held_frames: 1 },
    },
    peers: [3, 4].map((node) => ({
      node,
      path: "direct" as const,
      state: "direct" as const,
      endpoint: `192.0.2.${node}:4000`,
      rttMs: node === 3 ? 0.8 : null,
      directRttMs: 0.8,
      relayRttMs: null,
      txFrames: 10,
      rxFrames: 11,
      txBytes: 1000,
      rxBytes: 1100,
      directUps: 1,
      directFailures: 0,
    })),
    tap: { name: "l2tap0", mac: 0x02_00_00_00_00_0a, mtu: 1382, offload: false },
    offloadDropped: {},
    coalesce: null,
    localPort: 40000,
    locals: ["10.0.0.2:7654"],
    security: secure
      ? {
        cipher: "aes-256-gcm",
        aead: "test",
        status: {
          ready: true,
          sessions: 3,
          initTimestamps: 1,
          cookie: false,
          roster: 2,
          rosterIds: [3, 4],
          rosterKnown: true,
          pins: 2,
          heldBroadcasts: 3,
          counters: { broadcast_held: 5 },
        },
        // Two sessions with the supernode (a re-key settling): the younger one's age shows.
        sessions: [
          session(0, 61_400, "aa"),
          session(0, 2_600, "bb"),
          session(3, 10_499, "cc"),
        ],
      }
      : null,
    mat: {
      prefix: matAddress(7, 2, 0),
      leaves: leaves.snapshot(0),
      size: leaves.size,
      egress: { forward: 4 },
      ingress: {},
      notes: {},
    },
    counters: {
      tap_rx_frames: 1,
      tap_rx_bytes: 60,
      tap_rx_handler_errors: 0,
      tap_tx_frames: 0,
      tap_tx_bytes: 0,
      tap_tx_handler_errors: 0,
      tap_tx_errors: 0,
      tx_not_registered: 0,
      tx_mat_dropped: 0,
      tx_filtered: 0,
      rx_mat_dropped: 0,
      save_errors: 0,
      tap_rx_gso_frames: 0,
      tap_rx_gso_segments: 0,
      tap_rx_offload_dropped: 0,
    },
    socket: SOCKET,
    io: {
      udp: { ...IO, rx_datagrams: 12 },
      tap: { ...IO, rx_datagrams: 1, rx_handler_errors: 1 },
    },
    filter: {
      egress: [
        { name: "no-iperf", kind: "bpf", action: "drop", hits: 2, dropped: 2 },
        { name: "default", kind: "default", action: "pass", hits: 5, dropped: 0 },
      ],
      ingress: [
        { name: "no-iperf", kind: "bpf", action: "drop", hits: 0, dropped: 0 },
        { name: "default", kind: "default", action: "pass", hits: 7, dropped: 0 },
      ],
    },
  };
}

Deno.test("render: node /status from a snapshot, with and without the security layer", () => {
  // deno-lint-ignore no-explicit-any
  const plain = nodeStatus(nodeSnapshot(false)) as any;
  assertEquals(plain.tap_mac, "02:00:00:00:00:0a");
  assertEquals(plain.io.udp.rx_datagrams, 12, "each pump's counters by fd name");
  assertEquals(plain.io.tap.rx_handler_errors, 1);
  assertEquals(plain.security, { encryption: "none" });
  assertEquals(plain.peers.map((p: { cipher: string }) => p.cipher), ["none", "none"]);
  assertEquals(plain.mat.prefix, "00:07:00:02:00:00");
  assertEquals(plain.mat.leaves.map((l: { mat: string }) => l.mat), [
    "00:07:00:02:00:00",
    "00:07:00:02:00:01",
  ]);
  assertEquals(plain.mat.leaves[1].mac, "02:00:00:00:00:99");
  assertEquals(plain.counters.tx_datagrams, 9, "socket counters merged in");
  assertEquals(plain.counters.tap_rx_frames, 1, "engine counters merged in");
  assertEquals(plain.filter.egress[0], {
    name: "no-iperf",
    kind: "bpf",
    action: "drop",
    hits: 2,
    dropped: 2,
  });
  // deno-lint-ignore no-explicit-any
  const sec = nodeStatus(nodeSnapshot(true)) as any;
  assertEquals(sec.security.encryption, "aes-256-gcm");
  assertEquals(sec.security.supernode_key_age_s, 3, "the younger supernode session, rounded");
  assertEquals(sec.security.held_frames, { peers: 1, broadcasts: 3 });
  assertEquals(sec.security.broadcast_hold, {
    held: 5,
    sent: 0,
    dropped_age: 0,
    dropped_overflow: 0,
  });
  assertEquals(
    sec.peers.map((p: { cipher: string | null; key: string | null; key_age_s: number | null }) => [
      p.cipher,
      p.key,
      p.key_age_s,
    ]),
    [["aes-256-gcm", "cc", 10], [null, null, null]],
  );
});

Deno.test("render: node /metrics from a snapshot", () => {
  const w = new MetricsWriter();
  nodeMetrics(w, nodeSnapshot(true));
  const t = w.render();
  for (
    const line of [
      "l2_node_registered 1",
      "l2_node_leaves 1",
      'l2_node_peer_rtt_seconds{peer="3"} 0.0008',
      'l2_node_peer_direct{peer="3"} 1',
      'l2_node_held_frames{kind="broadcast"} 3',
      'l2_node_broadcast_hold_total{outcome="held"} 5',
      'l2_node_mat_frames_total{dir="egress",verdict="forward"} 4',
      'l2_node_socket_total{name="tx_datagrams"} 9',
      'l2_node_io_rx_datagrams_total{fd="udp"} 12',
      'l2_node_io_rx_handler_errors_total{fd="tap"} 1',
      'l2_node_filter_dropped_total{dir="egress",rule="no-iperf"} 2',
      'l2_node_filter_hits_total{dir="ingress",rule="default"} 7',
    ]
  ) assert(t.includes(`\n${line}\n`), `${line} in\n${t}`);
  assert(!t.includes('l2_node_peer_rtt_seconds{peer="4"'), "no RTT gauge without an RTT");
  // Prometheus naming: no path label on per-peer series, no size inside a counter family.
  assert(!/path="/.test(t), t);
  assert(!/l2_node_events_total\{name="(peers|held_frames)"\}/.test(t), t);
  assert(!/_ms[{ ]/.test(t), t);
});

function snSnapshot(secure: boolean): SupernodeSnapshot {
  const ip = parseIp("::");
  assert(ip.ok);
  return {
    now: 10_000,
    core: {
      supernodeId: 1,
      bootId: 42,
      networks: [{
        network: 0,
        identities: 2,
        nodes: [{
          node: 5,
          endpoint: "192.0.2.5:4000",
          identity: "00".repeat(32),
          locals: [],
          registeredAt: 2_400,
          lastSeen: 9_240,
          rxPackets: 6,
          relayedFrames: 2,
        }],
      }],
      counters: { relayed_frames: 2, relayed_bytes: 200, rx_packets: 6 },
    },
    local: { ip: ip.value, port: 7654 },
    socket: SOCKET,
    security: secure
      ? {
        cipher: "aes-256-gcm",
        aead: "test",
        mode: "members",
        status: {
          sessions: 1,
          members: 2,
          bindings: 1,
          handshakes: {
            underLoad: true,
            sources: 3,
            initTimestamps: 1,
            recentInits: 1,
            unconfirmed: 0,
          },
          counters: { hs_refused_unknown_key: 2, hs_failed_bad_mac1: 4, cookie_replies: 1 },
        },
        sessions: [session(5, 1_600, "dd")],
      }
      : null,
  };
}

Deno.test("render: supernode /status and /metrics from a snapshot", () => {
  // deno-lint-ignore no-explicit-any
  const st = supernodeStatus(snSnapshot(true)) as any;
  assertEquals(st.listen, "[::]:7654");
  assertEquals(st.nodes[0].last_seen_s, 0.8);
  assertEquals(st.nodes[0].registered_s, 8);
  assertEquals(st.broadcast_frames, 0);
  assertEquals(st.security.refusals, { unknown_key: 2, bad_mac1: 4 });
  assertEquals(st.security.handshakes.drops.bad_mac1, 4);
  assertEquals(st.security.session_list[0].key_age_s, 2);
  assertEquals(
    // deno-lint-ignore no-explicit-any
    (supernodeStatus(snSnapshot(false)) as any).security,
    { encryption: "none" },
  );
  const w = new MetricsWriter();
  supernodeMetrics(w, snSnapshot(true));
  const t = w.render();
  for (
    const line of [
      'l2_supernode_nodes{network="0"} 1',
      "l2_supernode_relayed_frames_total 2",
      'l2_supernode_events_total{name="rx_packets"} 6',
      "l2_supernode_under_load 1",
      'l2_supernode_refusals_total{reason="unknown_key"} 2',
      'l2_supernode_handshake_failures_total{reason="bad_mac1"} 4',
      "l2_supernode_cookie_replies_total 1",
    ]
  ) assert(t.includes(`\n${line}\n`), `${line} in\n${t}`);
  assert(!t.includes('l2_supernode_events_total{name="relayed_frames"}'), "not twice");
});
