/**
 * The `l2 status` summaries of the L2TPv3 roles: a LAS (its control
 * connections, sessions and switches) and an xconnect edge (its pseudowire
 * and backup LAS). Read from the loosely typed /status JSON; every line fits
 * the width given.
 *
 * @module
 */
import { ago, grid, num, type Obj, obj, plural, rows, type Summary, txt } from "./summary_kit.ts";

export function lasSummary(st: Obj, width: number): Summary {
  const conns = rows(st.connections);
  const sessions = rows(st.sessions);
  const switches = rows(st.switches);
  const mesh = rows(st.mesh);
  const problems: string[] = [];
  const meshDown = mesh.filter((p) => p.state !== "up");
  if (meshDown.length) {
    problems.push(
      `${meshDown.length} peer LAS not connected: ` +
        meshDown.map((p) => `${txt(p.peer)} (${txt(p.state)})`).join(", "),
    );
  }
  // A second peer-LAS connection closing (both servers dialed at once) is no problem.
  const down = conns.filter((c) =>
    c.state !== "established" && !(c.peer_las === true && c.state === "closing")
  );
  if (down.length) {
    problems.push(
      `${down.length} connections not established: ` +
        down.map((c) => `${txt(c.peer)} (${txt(c.state)})`).join(", "),
    );
  }
  const failing = sessions.filter((s) => num(s.tx_errors));
  if (failing.length) {
    problems.push(
      `send errors on ${failing.length} sessions: ` +
        failing.map((s) => `${txt(s.peer)} vc ${txt(s.vc)} (${s.tx_errors})`).join(", "),
    );
  }
  const headline = `las "${txt(st.name)}": ${conns.length} connections, ${sessions.length} ` +
    `sessions, ${plural(switches.length, "switch", "switches")}` +
    (num(st.sessions_setting_up) ? ` (${st.sessions_setting_up} sessions setting up)` : "");
  const body: string[] = [];
  const lc = obj(st.counters);
  const strays = num(lc.unknown_connection_stopccn) ?? 0;
  const unknownData = num(lc.rx_unknown_session) ?? 0;
  if (strays || unknownData) {
    // After a restart or a virtual address taken over: edges told to re-dial (issue 18).
    body.push(
      `unknown connections told to re-dial: ${strays} StopCCNs ` +
        `(${
          txt(lc.unknown_connection_limited, "0")
        } held back); unknown-session data: ${unknownData}`,
    );
  }
  if (mesh.length) {
    body.push(`peer LAS (${mesh.length}):`);
    body.push(...grid(
      ["PEER", "STATE", "ROUTER ID", "UP", "SESSIONS", "RX", "TX"],
      mesh.map((p) => [
        txt(p.peer),
        txt(p.state),
        txt(p.router_id, "-"),
        p.up_s === null ? "-" : ago(p.up_s),
        txt(p.sessions_up),
        `${txt(p.rx_frames)} fr`,
        `${txt(p.tx_frames)} fr`,
      ]),
      "  ",
      width,
    ));
  }
  if (switches.length) {
    body.push(`switches (${switches.length}):`);
    body.push(...grid(
      ["VC", "POLICY", "PORTS", "MACS", "FRAMES", "FLOODED", "DROPPED"],
      switches.map((s) => [
        txt(s.vc),
        txt(s.policy),
        // Ports by server when the switch spans peer LAS servers: "3 (local 1, 10.0.0.2 1...)".
        Object.keys(obj(s.ports_by_server)).length > 1
          ? `${txt(s.ports)} (` +
            Object.entries(obj(s.ports_by_server)).map(([k, n]) => `${k} ${n}`).join(", ") + ")"
          : txt(s.ports),
        txt(s.macs),
        txt(s.rx_frames),
        txt(s.flooded_frames),
        Object.entries(obj(s.dropped)).map(([r, n]) => `${r} ${n}`).join(", ") || "0",
      ]),
      "  ",
      width,
    ));
  }
  if (sessions.length) {
    // The established connection's host name where a peer has another one closing.
    const host = new Map(
      [...conns].sort((a, b) =>
        Number(a.state === "established") - Number(b.state === "established")
      )
        .map((c) => [txt(c.peer), txt(c.host_name)]),
    );
    body.push(`sessions (${sessions.length}):`);
    body.push(...grid(
      ["VC", "PEER", "HOST", "UP", "RX", "TX", "TX ERR", "SESSION"],
      sessions.map((s) => [
        txt(s.vc),
        txt(s.peer) + (s.peer_las ? " (peer LAS)" : ""),
        host.get(txt(s.peer)) ?? "-",
        ago(s.up_s),
        `${txt(s.rx_frames)} fr`,
        `${txt(s.tx_frames)} fr`,
        txt(s.tx_errors, "0"),
        txt(s.session),
      ]),
      "  ",
      width,
    ));
  } else if (conns.length) {
    body.push(`connections (${conns.length}):`);
    body.push(...grid(
      ["PEER", "HOST", "STATE", "TRANSPORT", "SESSIONS"],
      conns.map((
        c,
      ) => [txt(c.peer), txt(c.host_name), txt(c.state), txt(c.transport), txt(c.sessions)]),
      "  ",
      width,
    ));
  }
  return { headline, problems, body };
}

export function xconnectSummary(st: Obj): Summary {
  const state = txt(st.state);
  const session = obj(st.session);
  const c = obj(st.counters);
  const backup = st.backup && typeof st.backup === "object" ? obj(st.backup) : null;
  const onBackup = st.active === "backup" && backup !== null;
  const problems: string[] = [];
  if (onBackup) {
    problems.push(
      `on the backup LAS ${txt(backup.las)}: the primary ${txt(st.las)} is ${state}; ` +
        `frames return ${txt(backup.delay_s)} s after its session is up`,
    );
  } else if (state !== "up") {
    problems.push(
      `the pseudowire is not up (state ${state}): can this host reach the LAS ` +
        `${txt(st.las)}, and does the LAS allow it?`,
    );
  }
  const headline = `xconnect "${txt(st.name)}" vc ${txt(st.vc)} on ${txt(st.device)} to LAS ` +
    `${txt(st.las)}: ${state}` + (num(session.up_s) !== null ? ` for ${ago(session.up_s)}` : "");
  const body = [
    `rx ${txt(c.rx_frames, "0")} frames (${txt(c.rx_bytes, "0")} bytes), ` +
    `tx ${txt(c.tx_frames, "0")} frames (${txt(c.tx_bytes, "0")} bytes); ` +
    `connects ${txt(c.connects, "0")}, sessions up ${txt(c.sessions_up, "0")}`,
  ];
  if (backup) {
    body.push(
      `backup LAS ${txt(backup.las)}: ${txt(backup.state)}; failovers ${txt(c.failovers, "0")}, ` +
        `returns ${txt(c.returns, "0")}`,
    );
  }
  return { headline, problems, body };
}
