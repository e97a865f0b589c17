/**
 * One L2TPv3 session (a pseudowire) and its state machine, RFC 3931
 * section 3.4.1 (incoming call establishment) with the state names of
 * RFC 3931 section 7.4 (RFC 2661 section 7.4.1/7.4.2 for "wait-tunnel").
 *
 * Incoming (the peer sent ICRQ; what the LAS does):
 * ```
 *   idle --ICRQ ok / send ICRP--> wait-connect --ICCN--> established
 *    |  \--ICRQ refused / send CDN--> (gone)          |
 *    |            wait-connect --CDN or timeout--> (gone)
 *    |                          established --CDN (either way)--> (gone)
 * ```
 * Outgoing (we send ICRQ; what `l2 xconnect` does):
 * ```
 *   idle --open, connection not up--> wait-tunnel --connection up--+
 *     \--open, connection up------------------------------------> send ICRQ
 *   wait-reply --ICRP / send ICCN--> established --CDN--> (gone)
 *   wait-reply --CDN or timeout--> (gone)
 * ```
 * Transitions go through `transitionSession`, which appends to the owning
 * connection's bounded trace.
 *
 * Not done: outgoing calls (OCRQ/OCRP/OCCN, section 3.4.2), WEN (PPP only),
 * data sequencing checks (the sequence number is surfaced, not enforced).
 *
 * @module
 */
import type { DataLayout } from "./data_header.ts";

/** Session states, named as RFC 3931 / RFC 2661 name them. */
export type SessionState = "idle" | "wait-tunnel" | "wait-reply" | "wait-connect" | "established";

/** One session's state and negotiated parameters. */
export interface Session {
  state: SessionState;
  /** "incoming": the peer sent the ICRQ; "outgoing": we did. */
  direction: "incoming" | "outgoing";
  /** Peer address (as the daemon names it). */
  peer: string;
  /** Our Control Connection ID of the owning connection. */
  localCcid: number;
  /** Our Session ID: what the peer puts in data packets to us. */
  localSessionId: number;
  /** Peer's Session ID: what we put in data packets to it (0 until known). */
  remoteSessionId: number;
  /** Pseudowire type (5 Ethernet, 4 Ethernet VLAN). */
  pwType: number;
  /** Remote End ID bytes (the xconnect VC id), kept raw: its encoding from Cisco is unsure. */
  vcId: Uint8Array;
  /** How data we receive is framed: our cookie, our sublayer choice. */
  rx: DataLayout;
  /** How data we send is framed: the peer's cookie and sublayer choice. */
  tx: DataLayout;
  /** The peer asked for sequence numbers in the sublayer of data we send. */
  txSequencing: boolean;
  /** Next sublayer sequence number `encapsulate` sends (24 bits) when `txSequencing`. */
  txSeq: number;
  /** Peer's last Circuit Status A bit. */
  circuitActive: boolean;
  /** Call Serial Number of the ICRQ. */
  callSerial: number;
  /** When a session still being set up is given up, ms; `Infinity` once established. */
  setupDeadline: number;
}

/** What the daemon learns about a session when it comes up or changes. */
export interface SessionInfo {
  peer: string;
  localCcid: number;
  localSessionId: number;
  remoteSessionId: number;
  pwType: number;
  /** Remote End ID as received (raw bytes): key the virtual switch on these. */
  vcId: Uint8Array;
  /** Printable VC id: the text if printable ASCII, else hex (and uint32 if 4 bytes). */
  vcIdText: string;
  /** Cookie we must put in every data packet we send (0, 4 or 8 bytes). */
  txCookie: Uint8Array;
  /** Cookie the peer puts in data packets to us (checked by `classifyData`). */
  rxCookie: Uint8Array;
  txSublayer: boolean;
  rxSublayer: boolean;
  txSequencing: boolean;
  circuitActive: boolean;
}

/** A bounded log of state changes, oldest first. */
export interface TraceEntry {
  at: number;
  what: string;
}

/** Longest trace kept per connection; older entries are dropped. */
export const TRACE_LIMIT = 64;

/** Appends to a bounded trace. */
export function traceAppend(trace: TraceEntry[], at: number, what: string): void {
  trace.push({ at, what });
  if (trace.length > TRACE_LIMIT) trace.splice(0, trace.length - TRACE_LIMIT);
}

/** The one place a session changes state; records `from -> to (why)`. */
export function transitionSession(
  s: Session,
  to: SessionState,
  why: string,
  now: number,
  trace: TraceEntry[],
): void {
  traceAppend(trace, now, `session ${s.localSessionId}: ${s.state} -> ${to} (${why})`);
  s.state = to;
}
