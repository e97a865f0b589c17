/**
 * `l2 status`'s summary, rendered from /status JSON recorded from the demo
 * lab (tests/fixtures/status/NOTE.md): headline, problems first, tables
 * within 100 columns, member names and leaf addresses when the JSON has
 * them.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { renderStatus, summarize, SUMMARY_WIDTH } from "../../cmd/status.ts";

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(
    Deno.readTextFileSync(new URL(`../fixtures/status/${name}.json`, import.meta.url)),
  );
}

const FIXTURES = ["supernode", "node_n1", "node_n2", "las", "xconnect"];

function assertFits(text: string) {
  for (const l of text.split("\n")) {
    assert(l.length <= SUMMARY_WIDTH, `${l.length} columns: ${l}`);
  }
}

Deno.test("status: every recorded role's summary is short, fits 100 columns, says it is fine", () => {
  for (const f of FIXTURES) {
    const st = fixture(f);
    const s = summarize(st, "127.0.0.1:7656");
    assertFits(s);
    const lines = s.split("\n");
    assert(lines.length <= 16, `${f}: ${lines.length} lines`);
    assert(lines[0].startsWith(`${st.role} "${st.name}"`), lines[0]);
    assertEquals(lines[1], "  no problems seen", f);
    // The old report: raw counters, zeros included, and empty headings.
    assert(!s.includes("tx_gso_datagrams"), f);
    assert(!/^\s*\w+:$/m.test(s), `${f}: an empty heading in\n${s}`);
  }
  // The whole document is still there with -v (renderStatus), counters included.
  assertStringIncludes(renderStatus(fixture("node_n1"), "x"), "tx_gso_datagrams");
});

Deno.test("status: a node's summary: state, supernode, peers with path and rtt, leaves", () => {
  const s = summarize(fixture("node_n1"), "127.0.0.1:7656");
  assertStringIncludes(s, 'node "n1" id 1: registered with supernode 10.88.0.1:7654 (rtt 3 ms)');
  assert(/^ {4}2 +direct +10\.88\.0\.12:43684 +5 ms/m.test(s), s);
  assertStringIncludes(s, "leaves: 2 of 4096 (MAT prefix 00:01:00:01:00:00)");
  assert(/^ {4}1 +5a:87:bd:01:e2:9b +00:01:00:01:00:01/m.test(s), s);
});

Deno.test("status: problems come first: refused node, relayed peer, handler failures, errors", () => {
  const st = fixture("node_n1");
  st.state = "refused";
  (st.peers as Record<string, unknown>[])[0].path = "relay";
  st.packet_errors = { total: 3, by_handler: { udp: 3 }, last: { error: "boom" } };
  (st.counters as Record<string, number>).tx_errors = 7;
  const lines = summarize(st, "x").split("\n");
  assertStringIncludes(lines[0], "refused");
  assertStringIncludes(lines[1], "! not registered with the supernode (state refused)");
  assertStringIncludes(lines[1] + lines[2], "members");
  const text = lines.join("\n");
  assertStringIncludes(text, "1 of 1 peers only through the supernode's relay: 2");
  assertStringIncludes(text, "3 packets made a handler fail (udp 3); last: boom");
  assertStringIncludes(text, "counters since start: tx_errors 7");
  assert(text.indexOf("! ") < text.indexOf("peers:"));
  assertFits(text);
});

Deno.test("status: a retry says why the last attempt failed and when the next is", () => {
  const st = fixture("xconnect");
  st.state = "connecting";
  st.last_error = "no answer from 10.88.0.21 within 3 s";
  st.retry_in_s = 27.4;
  const lines = summarize(st, "x").split("\n");
  assertStringIncludes(lines[1], "! the pseudowire is not up (state connecting)");
  assert(
    lines.includes("  ! last attempt: no answer from 10.88.0.21 within 3 s; next attempt in 27s"),
    lines.join("\n"),
  );
  assert(lines.every((l) => l.length <= SUMMARY_WIDTH));
});

Deno.test("status: member names and leaf IP addresses are shown when the JSON has them", () => {
  const node = fixture("node_n1");
  (node.peers as Record<string, unknown>[])[0].name = "site-b";
  const leaves = (node.mat as { leaves: Record<string, unknown>[] }).leaves;
  leaves[1].ips = ["10.99.0.50", "fd99::50"];
  const s = summarize(node, "x");
  assert(/^ {4}NODE +NAME +PATH/m.test(s), s);
  assert(/^ {4}2 +site-b +direct/m.test(s), s);
  assertStringIncludes(s, "10.99.0.50 fd99::50");
  const sn = fixture("supernode");
  (sn.nodes as Record<string, unknown>[])[1].name = "site-b";
  assert(/^ {4}2 +site-b +10\.88\.0\.12:43684/m.test(summarize(sn, "x")));
});

Deno.test("status: long values are cut to fit 100 columns, never wrapped mid-row", () => {
  const las = fixture("las");
  const sessions = las.sessions as Record<string, unknown>[];
  for (let i = 0; i < 3; i++) {
    sessions.push({
      ...sessions[0],
      peer: `2001:db8:${i}:ffff:ffff:ffff:ffff:ffff`,
      vc: "a-very-long-vc-name-that-an-operator-chose-".repeat(2),
    });
  }
  const s = summarize(las, "127.0.0.1:7657");
  assertFits(s);
  assertStringIncludes(s, "…");
  const sn = fixture("supernode");
  sn.security = {
    ...(sn.security as object),
    refusals: { not_member: 12, bad_mac1: 4 },
    handshakes: { under_load: true },
  };
  const t = summarize(sn, "x");
  assertStringIncludes(t, "! handshakes refused since start: not_member 12, bad_mac1 4");
  assertStringIncludes(t, "! under load");
  assertFits(t);
});

Deno.test("status: the README's example is what l2 status prints for the recorded node", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const start = "$ l2 status --api 127.0.0.1:7656\n";
  const i = readme.indexOf(start);
  assert(i >= 0, "README has no l2 status example");
  const shown = readme.slice(i + start.length, readme.indexOf("\n$ ", i + start.length));
  assertEquals(shown, summarize(fixture("node_n1"), "127.0.0.1:7656"));
});

Deno.test("status: an xconnect edge on its backup LAS says so first; a LAS says whom it told to re-dial", () => {
  const st = fixture("xconnect");
  st.state = "connecting";
  st.active = "backup";
  st.backup = { las: "10.0.0.9", state: "up", session: null, delay_s: 5 };
  st.counters = { ...(st.counters as object), failovers: 1, returns: 0 };
  const s = summarize(st, "127.0.0.1:7658");
  const lines = s.split("\n");
  assertStringIncludes(lines[1], "! on the backup LAS 10.0.0.9: the primary");
  assertStringIncludes(s, "backup LAS 10.0.0.9: up; failovers 1, returns 0");
  assertFits(s);
  const las = fixture("las");
  las.counters = {
    ...(las.counters as object),
    unknown_connection_stopccn: 4,
    unknown_connection_limited: 1,
    rx_unknown_session: 37,
  };
  const t = summarize(las, "127.0.0.1:7657");
  assertStringIncludes(t, "unknown connections told to re-dial: 4 StopCCNs (1 held back)");
  assertStringIncludes(t, "unknown-session data: 37");
  assertFits(t);
});

Deno.test("status: a node with several supernodes shows each, its state and the moves", () => {
  const st = fixture("node_n1");
  st.supernodes = [
    { address: "10.87.0.1:7654", key: "ab", state: "down", rtt_ms: null, last_answer_s: 9.5 },
    { address: "10.87.0.2:7654", key: "cd", state: "attached", rtt_ms: 0.4, last_answer_s: 0.2 },
  ];
  st.attached_at = "10.87.0.2:7654";
  st.moves = 1;
  const s = summarize(st, "127.0.0.1:7656");
  assertFits(s);
  assertStringIncludes(s, "with supernode 10.87.0.2:7654");
  assertStringIncludes(s, "supernodes: 1 move since start");
  assertStringIncludes(s, "10.87.0.1:7654 down, heard 9.5 s ago");
  assertStringIncludes(s, "10.87.0.2:7654 attached, rtt");
});
