/**
 * The socket side of the VPN daemons (`l2 supernode`, `l2 node`), as
 * /status and /metrics show it: one set of counters under the names they
 * always had, gathered from where each is now counted — the kit's pump
 * (receive: datagrams, truncated, GRO runs, contained handler errors;
 * cmd/kit/pump.ts), the engine (send: datagrams handed to the socket and
 * refused) and the socket itself (ffi/dgram.ts: MSG_CTRUNC, GSO runs, GRO or
 * GSO refused by the kernel). The engines speak `Endpoint` values, interned
 * in their `EndpointTable` (core/addr.ts): nothing here parses addresses.
 *
 * @module
 */
import { DatagramSocket } from "../ffi/dgram.ts";
import type { DatagramTransport } from "../ffi/types.ts";
import type { PumpCounters } from "./kit/pump.ts";
import type { EngineTxCounters } from "../core/vpn/node_engine.ts";

/** I/O counters of one daemon socket. */
export interface SocketCounters {
  /** Datagrams received (each datagram of a coalesced entry counts). */
  rx_datagrams: number;
  /** Entries cut because they did not fit a receive slot (dropped). */
  rx_truncated: number;
  /** UDP GRO: received entries that held two or more datagrams, and those datagrams. */
  rx_gro_messages: number;
  rx_gro_datagrams: number;
  /** Received messages whose control data was cut (MSG_CTRUNC; expected 0). */
  rx_ctrunc: number;
  /** UDP GSO: messages sent carrying two or more datagrams, and those datagrams. */
  tx_gso_messages: number;
  tx_gso_datagrams: number;
  /** 1 when GRO was asked for and the kernel refused it (the socket runs without). */
  udp_gro_off: number;
  /** 1 when GSO was asked for and the kernel refused it (the socket sends one by one). */
  udp_gso_off: number;
  /** Datagrams handed to the socket. */
  tx_datagrams: number;
  /**
   * Of those, datagrams the socket sent from where they were sealed (a TAP
   * slot, a TSO segment slot: `queueView`), without a copy.
   */
  tx_in_place: number;
  /** Datagrams whose handling threw: dropped, contained (kit/contain.ts). */
  rx_handler_errors: number;
  /** Datagrams the socket refused (transient errno: buffer full, no route...). */
  tx_errors: number;
  /** Endpoints interned (gauge; core/addr.ts `EndpointTable`). */
  endpoints: number;
  /** Times the endpoint table's current generation was full and turned over. */
  endpoint_table_rotations: number;
}

/**
 * The socket's counters from the pump's, the engine's and the socket's own
 * (its GRO, GSO and MSG_CTRUNC counts when it is an `ffi/dgram.ts` socket).
 *
 * @example
 * ```ts
 * // status: () => render({ ...engine.snapshot(now), socket: socketCounters(udp, pump.counters, snap.tx) })
 * ```
 */
export function socketCounters(
  socket: DatagramTransport,
  rx: PumpCounters,
  tx: EngineTxCounters,
): SocketCounters {
  const st = socket instanceof DatagramSocket ? socket.stats : null;
  return {
    rx_datagrams: rx.rx_datagrams,
    rx_truncated: rx.rx_truncated,
    rx_gro_messages: rx.rx_gro_messages,
    rx_gro_datagrams: rx.rx_gro_datagrams,
    rx_ctrunc: st?.rxCtrunc ?? 0,
    tx_gso_messages: st?.txGsoMessages ?? 0,
    tx_gso_datagrams: st?.txGsoDatagrams ?? 0,
    udp_gro_off: st?.rxGroOff ?? 0,
    udp_gso_off: st?.txGsoOff ?? 0,
    tx_datagrams: tx.tx_datagrams,
    tx_in_place: st?.txViews ?? 0,
    rx_handler_errors: rx.rx_handler_errors,
    tx_errors: tx.tx_errors,
    endpoints: tx.endpoints,
    endpoint_table_rotations: tx.endpoint_table_rotations,
  };
}
