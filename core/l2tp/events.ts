/**
 * What an `L2tpEndpoint` tells its daemon: connections and sessions going up
 * and down, circuit status changes, and refusals with a reason written for
 * an operator ("ICRQ for PW type 11 refused: only Ethernet (5) and Ethernet
 * VLAN (4) are supported").
 *
 * Events are plain data; the daemon drains them with `takeEvents()` and logs
 * or acts on them (e.g. attach the session to the switch keyed by `vcId`).
 *
 * Not here: rate limiting of `rejected` events (one per refused packet; the
 * daemon's log should rate-limit), localisation.
 *
 * @module
 */
import type { Dialect } from "./avp_fields.ts";
import type { SessionInfo } from "./session.ts";

/** Machine-readable refusal and drop codes (each also has a counter). */
export type RejectCode =
  | "malformed"
  | "hidden_avp"
  | "bad_avp_value"
  | "unknown_ccid"
  | "wrong_peer"
  | "not_sccrq"
  | "no_assigned_ccid"
  | "too_many_connections"
  | "too_many_pending"
  | "unknown_mandatory_avp"
  | "unknown_message_type"
  | "fsm_error"
  | "pw_type_refused"
  | "no_pw_type"
  | "bad_session_id"
  | "duplicate_session"
  | "too_many_sessions"
  | "session_ids_exhausted"
  | "bad_cookie"
  | "sublayer_refused"
  | "policy_refused"
  | "unknown_session"
  | "auth_failed"
  | "encode_error"
  | "amplification_budget"
  | "too_many_pending_peer"
  | "too_many_connections_peer";

/** Events in the order they happened. */
export type L2tpEvent =
  | {
    type: "connection-up";
    peer: string;
    localCcid: number;
    remoteCcid: number;
    dialect: Dialect;
    /** Peer's Host Name AVP. */
    hostName: string;
    /** Peer's Router ID AVP (0 when it sent none). */
    routerId: number;
    /** Who sent the SCCRQ: we ("initiator") or the peer ("responder"). */
    role: "initiator" | "responder";
    /** Operator note, e.g. "SCCRQ from 192.0.2.1 uses Cisco's pre-standard AVPs; ...". */
    note: string;
  }
  | {
    type: "connection-down";
    peer: string;
    localCcid: number;
    remoteCcid: number;
    /** Why, in an operator's words. */
    reason: string;
    /**
     * A normal close: we closed it (operator, shutdown) or the peer's StopCCN
     * said "general request to clear" (1) or "shutting down" (6).
     */
    normal: boolean;
  }
  | { type: "session-up"; session: SessionInfo }
  | {
    type: "session-down";
    peer: string;
    localCcid: number;
    localSessionId: number;
    remoteSessionId: number;
    vcIdText: string;
    reason: string;
  }
  | {
    type: "circuit-status";
    peer: string;
    localSessionId: number;
    active: boolean;
  }
  | {
    type: "rejected";
    peer: string;
    code: RejectCode;
    /** Why, in an operator's words. */
    reason: string;
  };
