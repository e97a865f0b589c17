/**
 * The `l2 status` summaries of the VPN roles: a node (its supernodes, peers
 * and paths) and a supernode (its nodes and federation peers). Read from
 * the loosely typed /status JSON, so a field a daemon does not report shows
 * as "-"; every line fits the width given.
 *
 * @module
 */
import {
  ago,
  grid,
  ms,
  num,
  type Obj,
  obj,
  plural,
  rows,
  type Summary,
  txt,
} from "./summary_kit.ts";

export function nodeSummary(st: Obj, width: number): Summary {
  const sec = obj(st.security);
  const state = txt(st.state);
  const peers = rows(st.peers);
  const problems: string[] = [];
  if (state !== "registered") {
    problems.push(
      `not registered with the supernode (state ${state})` +
        (state === "refused" ? ": is this node's public key in the supernode's members?" : ""),
    );
  } else if (sec.supernode_session === false) problems.push("no secure session with the supernode");
  if (state === "registered" && sec.roster_known === false) {
    problems.push("no roster from the supernode yet: broadcasts are held");
  }
  const relayed = peers.filter((p) => p.path !== "direct");
  if (relayed.length) {
    problems.push(
      `${relayed.length} of ${peers.length} peers only through the supernode's relay: ` +
        relayed.map((p) => txt(p.name ?? p.node)).join(", "),
    );
  }
  const headline = `node "${txt(st.name)}" id ${txt(st.id)}: ${state}` +
    (st.attached_at ?? st.supernode
      ? ` with supernode ${txt(st.attached_at ?? st.supernode)}`
      : "") +
    (num(st.supernode_rtt_ms) !== null ? ` (rtt ${ms(st.supernode_rtt_ms)})` : "");
  const body: string[] = [];
  body.push(
    `tap ${txt(st.tap)} mtu ${txt(st.tap_mtu)} ${txt(st.tap_mac)}; ` +
      `local endpoints ${txt(st.local_endpoints, "none")}`,
  );
  if (sec.encryption) {
    const roster = Array.isArray(sec.roster) ? sec.roster : [];
    body.push(
      `encryption ${txt(sec.encryption)}` +
        (sec.encryption === "none"
          ? ""
          : `; ${txt(sec.sessions)} sessions; roster ${
            sec.roster_known === false
              ? "not known yet"
              : roster.length
              ? `${plural(roster.length, "other node")} (${roster.join(", ")})`
              : "empty (no other node)"
          }`),
    );
  }
  // Several supernodes (docs/federation.md): where it is attached, its standby, the others.
  const sns = Array.isArray(st.supernodes) ? st.supernodes : [];
  if (sns.length > 1) {
    body.push(`supernodes: ${plural(num(st.moves) ?? 0, "move")} since start`);
    for (const x of sns as Record<string, unknown>[]) {
      body.push(
        `  ${txt(x.address)} ${txt(x.state)}` +
          (num(x.rtt_ms) !== null ? `, rtt ${ms(x.rtt_ms)}` : "") +
          (num(x.last_answer_s) !== null ? `, heard ${txt(x.last_answer_s)} s ago` : ""),
      );
    }
  }
  const direct = peers.length - relayed.length;
  body.push(`peers: ${peers.length} (${direct} direct, ${relayed.length} relayed)`);
  if (peers.length) {
    const named = peers.some((p) => p.name !== undefined);
    const head = [
      "NODE",
      ...(named ? ["NAME"] : []),
      "PATH",
      "ENDPOINT",
      "RTT",
      "KEY AGE",
      "TX",
      "RX",
    ];
    body.push(...grid(
      head,
      peers.map((p) => [
        txt(p.node),
        ...(named ? [txt(p.name)] : []),
        txt(p.state === p.path || p.state === undefined ? p.path : `${p.path} (${p.state})`),
        txt(p.endpoint),
        ms(p.rtt_ms),
        ago(p.key_age_s),
        `${txt(p.tx_frames)} fr`,
        `${txt(p.rx_frames)} fr`,
      ]),
      "  ",
      width,
    ));
  }
  const mat = obj(st.mat);
  const leaves = rows(mat.leaves);
  if (leaves.length) {
    body.push(
      `leaves: ${leaves.length} of ${txt(mat.max_leaves)} (MAT prefix ${txt(mat.prefix)})` +
        (num(mat.quarantined) ? `, ${mat.quarantined} quarantined` : ""),
    );
    const ips = (l: Obj) => txt(l.ips ?? l.ip ?? l.addresses);
    body.push(...grid(
      ["LEAF", "MAC", "MAT", "IP", "IDLE"],
      leaves.map((l) => [txt(l.leaf), txt(l.mac), txt(l.mat), ips(l), ago(l.age_s)]),
      "  ",
      width,
    ));
  }
  return { headline, problems, body };
}

export function supernodeSummary(st: Obj, width: number): Summary {
  const sec = obj(st.security);
  const nodes = rows(st.nodes);
  const problems: string[] = [];
  const refusals = Object.entries(obj(sec.refusals)).filter(([, n]) => num(n));
  if (refusals.length) {
    problems.push(
      `handshakes refused since start: ${refusals.map(([r, n]) => `${r} ${n}`).join(", ")}`,
    );
  }
  const hs = obj(sec.handshakes);
  if (hs.under_load === true) problems.push("under load: handshakes answered with cookies");
  const quiet = nodes.filter((n) => (num(n.last_seen_s) ?? 0) > 60);
  if (quiet.length) {
    problems.push(
      `${quiet.length} nodes silent for over a minute: ` +
        quiet.map((n) => `${txt(n.name ?? n.id)} (${ago(n.last_seen_s)})`).join(", "),
    );
  }
  const sessions = rows(sec.session_list);
  const unconfirmed = sessions.filter((s) => s.confirmed === false);
  if (unconfirmed.length) {
    problems.push(`${unconfirmed.length} sessions not confirmed by their node yet`);
  }
  const headline = `supernode "${txt(st.name)}" id ${txt(st.supernode_id)} on ${txt(st.listen)}: ` +
    `${nodes.length} nodes registered` +
    (sec.mode ? `, mode ${txt(sec.mode)}` : "") +
    (num(sec.members) !== null ? ` (${sec.members} members)` : "");
  const body: string[] = [];
  const relayed = num(st.relayed_frames);
  body.push(
    `encryption ${txt(sec.encryption, "none")}; ${txt(sec.sessions, "0")} sessions; ` +
      `relayed ${relayed ?? 0} frames (${txt(st.relayed_bytes, "0")} bytes); ` +
      `${txt(st.broadcast_frames, "0")} broadcast frames`,
  );
  if (nodes.length) {
    const byNode = new Map(sessions.map((s) => [`${txt(s.network)}/${txt(s.node)}`, s]));
    const named = nodes.some((n) => n.name !== undefined) ||
      sessions.some((s) => s.name !== undefined);
    const multiNet = new Set(nodes.map((n) => txt(n.network))).size > 1;
    const head = [
      "ID",
      ...(named ? ["NAME"] : []),
      ...(multiNet ? ["NET"] : []),
      "ENDPOINT",
      "SEEN",
      "UP",
      "SESSION",
      "RELAYED",
    ];
    body.push(...grid(
      head,
      nodes.map((n) => {
        const s = byNode.get(`${txt(n.network)}/${txt(n.id)}`);
        return [
          txt(n.id),
          ...(named ? [txt(n.name ?? s?.name)] : []),
          ...(multiNet ? [txt(n.network)] : []),
          txt(n.endpoint),
          `${ago(n.last_seen_s)} ago`,
          ago(n.registered_s),
          s ? (s.confirmed === false ? "unconfirmed" : `key ${ago(s.key_age_s)} old`) : "-",
          `${txt(n.relayed_frames, "0")} fr`,
        ];
      }),
      "  ",
      width,
    ));
  }
  federationSummary(obj(st.federation), problems, body, width);
  return { headline, problems, body };
}

/** A supernode's federation peers (docs/federation.md): a problem per peer not up, and a table. */
function federationSummary(f: Obj, problems: string[], body: string[], width: number): void {
  const peers = rows(f.peers);
  if (!peers.length) return;
  const down = peers.filter((p) => p.state !== "up");
  if (down.length) {
    problems.push(
      `federation peers not up: ${down.map((p) => `${txt(p.id)} (${txt(p.state)})`).join(", ")}`,
    );
  }
  const mismatch = peers.filter((p) => p.digest_match === false);
  if (mismatch.length) {
    problems.push(
      `member lists differ from federation peers ${mismatch.map((p) => txt(p.id)).join(", ")}`,
    );
  }
  body.push(
    `federation id ${txt(f.id)}: ${txt(f.attached_here, "0")} nodes here, ` +
      `${txt(f.attached_elsewhere, "0")} attached at peers`,
  );
  body.push(...grid(
    ["PEER", "STATE", "KEY", "ENDPOINT", "RTT", "NODES", "RELAYED TO/FROM", "DIGEST"],
    peers.map((p) => [
      txt(p.id),
      txt(p.state),
      txt(p.key),
      txt(p.endpoint),
      num(p.rtt_ms) !== null ? ms(p.rtt_ms) : "-",
      `${txt(p.nodes, "0")}${num(p.stale_nodes) ? ` (${txt(p.stale_nodes)} stale)` : ""}`,
      `${txt(p.relayed_to, "0")}/${txt(p.relayed_from, "0")}`,
      p.digest_match === null || p.digest_match === undefined
        ? "-"
        : p.digest_match
        ? "match"
        : "differs",
    ]),
    "  ",
    width,
  ));
}
