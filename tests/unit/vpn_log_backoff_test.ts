/**
 * Issue 16: a refused node says when it tries again, and the conditions that
 * go on (the supernode refusing a key every 30 s, a wrong supernode key
 * unanswered every 3 s, the supernode failing that node's handshakes) are
 * logged at doubling intervals, not on every attempt; an accepted key ends
 * them with one info line.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { Logger } from "../../cmd/kit/log.ts";
import { logNodeSecurity, logSupernodeSecurity } from "../../cmd/vpn_security.ts";

function clocked() {
  let now = 1_000_000;
  const lines: string[] = [];
  const log = new Logger(
    { level: "info", format: "text", debug: [] },
    (l) => lines.push(l),
    () => now,
  );
  return { log, lines, tick: (ms: number) => now += ms };
}

const SELF = new Uint8Array(32).fill(7);

Deno.test("vpn log: a refused node says when it tries again; the refusal backs off and ends in one line", () => {
  const { log, lines, tick } = clocked();
  const t = log.topic("node");
  const first = { supernode: false };
  for (let i = 0; i < 10; i++) {
    logNodeSecurity(
      t,
      {
        type: "refused",
        by: "supernode",
        reason: "not_member",
        text: "not a member",
      },
      SELF,
      first,
    );
    tick(30_000);
  }
  assertStringIncludes(lines[0], "add the public key to the supernode's members");
  assertStringIncludes(lines[0], "next attempt in 30 s");
  assertStringIncludes(lines[0], "retry_in_s=30");
  assert(lines.length < 10, `every refusal logged:\n${lines.join("\n")}`);
  logNodeSecurity(t, { type: "supernode_session" } as never, SELF, first);
  assertStringIncludes(lines.join("\n"), "the supernode accepted this node's key (after 10 times");
});

Deno.test("vpn log: a wrong supernode key (no answer every 3 s) backs off on both sides", () => {
  const { log, lines, tick } = clocked();
  const node = log.topic("node");
  const sn = log.topic("supernode");
  for (let s = 0; s < 120; s += 3) {
    logNodeSecurity(node, { type: "no_answer", text: "no handshake answer" }, SELF, {
      supernode: false,
    });
    logSupernodeSecurity(sn, {
      type: "handshake_failed",
      endpoint: "192.0.2.7:4000",
      reason: "bad_mac1",
      text: "bad mac1",
    });
    tick(3000);
  }
  const nodeLines = lines.filter((l) => l.includes("node: no handshake answer"));
  const snLines = lines.filter((l) => l.includes("handshake from 192.0.2.7:4000 failed"));
  // 40 attempts in 2 minutes: at 0, 12, 33, 75 s; not 40 lines.
  assertEquals(nodeLines.length, 4, nodeLines.join("\n"));
  assertEquals(snLines.length, 4, snLines.join("\n"));
  assertStringIncludes(nodeLines[0], "check node.supernode_key, --supernode-key");
  assertStringIncludes(snLines[0], "supernode_key must be this supernode's public key");
});
