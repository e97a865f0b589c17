/**
 * The LAS's typed state (`LasEngine.snapshot`): what /status shows and, for
 * /metrics, the L2TP endpoints' counters. Rendered in one place,
 * cmd/las_status.ts; docs/las.md lists the fields.
 *
 * @module
 */
import type { Transport } from "../l2tp/control_message.ts";
import type { MacStatus, SwitchStatus } from "./switchboard.ts";
import type { MeshPeerStatus } from "./mesh.ts";

/** A peer LAS of the mesh in /status, with the frames and bytes exchanged with it. */
export type LasMeshPeerStatus = MeshPeerStatus & {
  rx_frames: number;
  rx_bytes: number;
  tx_frames: number;
  tx_bytes: number;
};

/** A control connection in /status. */
export interface LasConnectionStatus {
  peer: string;
  /** A connection with another LAS of the mesh (docs/las-redundancy.md), not an edge. */
  peer_las: boolean;
  transport: Transport;
  host_name: string;
  state: string;
  dialect: "ietf" | "cisco";
  local_ccid: number;
  remote_ccid: number;
  /** Its sessions (all states). */
  sessions: number;
}

/** A session on a switch port in /status. */
export interface LasSessionStatus {
  session: number;
  peer: string;
  /** A session with another LAS of the mesh: a split-horizon port of its VC's switch. */
  peer_las: boolean;
  vc: string;
  pw_type: number;
  remote_session: number;
  /** The local address the peer called, null if not known. */
  local: string | null;
  /** The sublayer on data we send. */
  tx_sublayer: "none" | "unsequenced" | "sequenced";
  up_s: number;
  rx_frames: number;
  rx_bytes: number;
  tx_frames: number;
  tx_bytes: number;
  tx_errors: number;
  /** Peer LAS sessions: frames not sent while the peer said it has no edges on the VC. */
  tx_idle: number;
}

/** What /status shows of the LAS. */
export interface LasStatus {
  connections: LasConnectionStatus[];
  sessions: LasSessionStatus[];
  /** Sessions admitted and not yet up. */
  sessions_setting_up: number;
  switches: SwitchStatus[];
  /** The peer LAS servers of the mesh (`peers:`); empty without. */
  mesh: LasMeshPeerStatus[];
  mac_table: MacStatus[];
  /** Recent ups and downs, newest last (at most 64). */
  recent: LasRecent[];
  /** Engine and switchboard counters. */
  counters: Record<string, number>;
}

/** A control connection or session that went up or down, for /status. */
export interface LasRecent {
  /** When, on the engine's clock (monotonic ms, the `now` it was given). */
  at: number;
  event: "connection-up" | "connection-down" | "session-up" | "session-down";
  peer: string;
  vc?: string;
  session?: number;
  /** Why it went down; for a connection up, the peer's host name. */
  reason?: string;
}

/** A typed snapshot of the LAS: /status and, for /metrics, the L2TP endpoints' counters. */
export interface LasSnapshot {
  /** The engine's clock when it was taken (`recent[].at` is on it). */
  now: number;
  status: LasStatus;
  l2tp: { transport: Transport; counters: Record<string, number> }[];
}
