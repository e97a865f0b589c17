/**
 * What the LAS says in its log about the switchboard and about data it
 * cannot use: the texts in one place, so the engine keeps only the
 * decisions. Lines a peer can provoke are rate-limited per reason or per VC,
 * never per peer (forged sources cannot multiply them).
 *
 * @module
 */
import type { EngineLog } from "../engine.ts";
import { formatMac } from "../mac.ts";
import type { SwitchboardEvent } from "./switchboard.ts";

/** Logs one switchboard event (core/las/switchboard.ts). */
export function sayBoardEvent<L>(log: EngineLog, ev: SwitchboardEvent<L>): void {
  switch (ev.type) {
    case "switch-created":
      log.info(`virtual switch for VC ${ev.vc.text} created`, { policy: ev.vc.policy });
      break;
    case "switch-removed":
      log.info(`virtual switch for VC ${ev.vc.text} removed: no sessions left`);
      break;
    case "mixed-pw-types": {
      const s = ev.port.session;
      const o = ev.other.session;
      log.warn(
        `VC ${ev.vc.text} mixes PW types: session ${s.localSessionId} from ${s.peer} is type ` +
          `${s.pwType}, session ${o.localSessionId} from ${o.peer} is type ` +
          `${o.pwType}. Type 4 (Ethernet VLAN) carries tagged frames, type 5 ` +
          "(Ethernet) untagged: hosts behind them will not reach each other unless both sides " +
          "agree on tagging",
      );
      break;
    }
    case "vlan-dropped": {
      const s = ev.port.session;
      log.warn(
        `session ${s.localSessionId} from ${s.peer} on VC ${ev.port.vc.text} sends ` +
          "VLAN-tagged frames, which this VC's policy drops (allow_vlan_tagged: false); " +
          `PW type ${s.pwType}${
            s.pwType === 4 ? " (Ethernet VLAN) carries tagged frames" : ""
          }. Said once per session; counted in vlan_frames_dropped`,
      );
      break;
    }
    case "mac-moves": {
      const m = ev.report;
      log.limited(
        `move:${ev.vc.key}`,
        "warn",
        `VC ${ev.vc.text}: ${m.moves} MAC move(s), last ${
          formatMac(m.mac)
        } from port ${m.from} to ${m.to}`,
      );
      break;
    }
  }
}

/**
 * A rate-limited line for a data packet that cannot be used (`reason` from
 * `L2tpEndpoint.classifyData`): limited per reason, not per peer. `sid` is
 * the session id its header named (0 when none), `where` the session as
 * the switchboard knows it, or null.
 */
export function sayDataDrop(
  log: EngineLog,
  reason: string,
  peer: string,
  sid: number,
  where: string | null,
): void {
  const at = where ?? `session ${sid}`;
  let text: string;
  switch (reason) {
    case "cookie_mismatch":
      text = `cookie mismatch on ${at} from ${peer}: the cookie does not match what was agreed`;
      break;
    case "wrong_peer":
      text = `data for ${at} came from ${peer}; dropped`;
      break;
    case "unknown_session":
      text =
        `data from ${peer} for unknown session ${sid}: a stale session (did the peer restart?)`;
      break;
    case "session_not_up":
      text = `data from ${peer} for ${at} before the session is up`;
      break;
    case "truncated":
      text = `truncated data packet from ${peer}`;
      break;
    case "bad_version":
      text = `data packet from ${peer} with a version other than 3`;
      break;
    default:
      text = `data from ${peer} dropped: ${reason}`;
  }
  log.limited(`data:${reason}`, "warn", text, { peer, reason });
}
