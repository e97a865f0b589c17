/**
 * Shared I/O glue of the VPN daemons (`l2 supernode`, `l2 node`): turning the
 * canonical endpoint text the `core/vpn` cores speak into socket addresses
 * (a bounded cache), receiving a batch from a `DatagramTransport` into a core,
 * and sending a core's outgoing datagrams.
 *
 * The cores name endpoints as `core/addr.ts` `formatEndpoint` writes them
 * (`192.0.2.1:7654`, `[2001:db8::1]:7654`); a dual-stack socket reports IPv4
 * peers as `::ffff:a.b.c.d`, which `formatEndpoint` prints as `a.b.c.d`.
 *
 * A socket opened with `udpGro` (ffi/dgram.ts) may receive a run of one
 * peer's datagrams as one coalesced entry (`rx.segs`): `VpnSocket.receive`
 * cuts it back into its datagrams and hands each to the caller on its own,
 * exactly as if they had come one per entry, so every datagram still passes
 * the same checks and counters. A socket opened with `udpGso` sends runs of
 * equal-size datagrams queued for one peer as one message.
 *
 * @module
 */
import { type Endpoint, formatEndpoint, parseEndpoint } from "../core/addr.ts";
import type { DatagramTransport } from "../ffi/types.ts";
import { DatagramSocket, groSegments } from "../ffi/dgram.ts";
import type { Outgoing } from "../core/vpn/backlog.ts";
import { sendWithTtl } from "../ffi/ttl.ts";
import type { PacketErrorSink } from "./kit/contain.ts";

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
  /** Outgoing datagrams whose endpoint text did not parse (a core bug; never expected). */
  tx_bad_endpoint: number;
  /** Times the endpoint cache was full and emptied. */
  endpoint_cache_resets: number;
}

/** Most endpoints remembered by `EndpointCache` before it is emptied. */
const MAX_CACHED_ENDPOINTS = 4096;

/** Endpoint text to socket address; bounded at 4096 entries, emptied (and counted) when full. */
export class EndpointCache {
  readonly #map = new Map<string, Endpoint>();
  resets = 0;

  /** The socket address for canonical endpoint text, or null when it does not parse. */
  get(text: string): Endpoint | null {
    let ep = this.#map.get(text);
    if (ep) return ep;
    const r = parseEndpoint(text);
    if (!r.ok) return null;
    if (this.#map.size >= MAX_CACHED_ENDPOINTS) {
      this.#map.clear();
      this.resets++;
    }
    ep = r.value;
    this.#map.set(text, ep);
    return ep;
  }
}

/** A UDP socket of a VPN daemon with its counters. */
export class VpnSocket {
  readonly counters: SocketCounters = {
    rx_datagrams: 0,
    rx_truncated: 0,
    rx_gro_messages: 0,
    rx_gro_datagrams: 0,
    rx_ctrunc: 0,
    tx_gso_messages: 0,
    tx_gso_datagrams: 0,
    udp_gro_off: 0,
    udp_gso_off: 0,
    rx_handler_errors: 0,
    tx_datagrams: 0,
    tx_in_place: 0,
    tx_errors: 0,
    tx_bad_endpoint: 0,
    endpoint_cache_resets: 0,
  };
  readonly #cache = new EndpointCache();
  /** The last source seen, so a bulk flow formats its endpoint text once, not per datagram. */
  readonly #lastIp = new Uint8Array(16);
  #lastPort = -1;
  #lastText = "";

  /** The socket's own counters when it is an `ffi/dgram.ts` socket (GRO, GSO, MSG_CTRUNC). */
  readonly #socket: DatagramSocket | null;

  /**
   * `contain`: hears what `onDatagram` throws on one datagram, which is then
   * dropped while the rest of the batch goes on (kit/contain.ts); absent,
   * the error propagates (tests).
   */
  constructor(readonly transport: DatagramTransport, readonly contain?: PacketErrorSink) {
    this.#socket = transport instanceof DatagramSocket ? transport : null;
  }

  /**
   * Receives one batch and hands each datagram to `onDatagram(from, bytes)`,
   * each datagram of a coalesced (GRO) entry on its own, in order; returns
   * how many entries the batch had (0: drained). A datagram whose handler
   * throws is dropped and reported to `contain`.
   */
  receive(onDatagram: (from: string, bytes: Uint8Array) => void): number {
    const t = this.transport;
    const n = t.recv();
    if (n === 0) return 0;
    const rx = t.rx;
    // Only a batch that can coalesce has `segs` (ffi/dgram.ts GroBatch; not the twins).
    const segs = rx.segs;
    const c = this.counters;
    for (let i = 0; i < n; i++) {
      if (rx.truncated[i]) {
        c.rx_datagrams++;
        c.rx_truncated++;
        continue;
      }
      const from = this.#source(rx.src[i], rx.srcPort[i]);
      const buf = rx.bufs[i], start = rx.offsets[i], end = rx.lens[i];
      const seg = segs === undefined ? 0 : segs[i];
      const k = seg > 0 ? groSegments(end - start, seg) : 1;
      if (k <= 1) {
        c.rx_datagrams++;
        try {
          onDatagram(from, buf.subarray(start, end));
        } catch (e) {
          this.#contained(e, from);
        }
        continue;
      }
      c.rx_gro_messages++;
      c.rx_gro_datagrams += k;
      c.rx_datagrams += k;
      // Datagram j is seg bytes from start + j * seg; the last may be shorter.
      for (let off = start; off < end; off += seg) {
        try {
          onDatagram(from, buf.subarray(off, off + seg < end ? off + seg : end));
        } catch (e) {
          this.#contained(e, from);
        }
      }
    }
    this.#syncSocket();
    return n;
  }

  /** A datagram's handler threw: counted and reported; rethrown without a sink. */
  #contained(e: unknown, from: string): void {
    this.counters.rx_handler_errors++;
    if (!this.contain) throw e;
    this.contain("udp", e, from);
  }

  /** Copies the socket's GRO/GSO/MSG_CTRUNC counters into `counters`. */
  #syncSocket(): void {
    const s = this.#socket;
    if (s === null) return;
    const st = s.stats, c = this.counters;
    c.rx_ctrunc = st.rxCtrunc;
    c.tx_gso_messages = st.txGsoMessages;
    c.tx_in_place = st.txViews;
    c.tx_gso_datagrams = st.txGsoDatagrams;
    c.udp_gro_off = st.rxGroOff;
    c.udp_gso_off = st.txGsoOff;
  }

  #source(ip: Uint8Array, port: number): string {
    const last = this.#lastIp;
    if (port === this.#lastPort) {
      let same = true;
      for (let k = 0; k < 16; k++) {
        if (ip[k] !== last[k]) {
          same = false;
          break;
        }
      }
      if (same) return this.#lastText;
    }
    last.set(ip);
    this.#lastPort = port;
    this.#lastText = formatEndpoint({ ip, port });
    return this.#lastText;
  }

  /** Queues every outgoing datagram and flushes. */
  send(out: Outgoing[]): void {
    if (out.length === 0) return;
    const t = this.transport;
    for (const o of out) {
      const ep = this.#cache.get(o.to);
      if (!ep) {
        this.counters.tx_bad_endpoint++;
        continue;
      }
      if (o.ttl !== undefined) {
        // A hole punching probe with its own TTL goes alone, after what was queued.
        if (t.flush() !== 0) this.counters.tx_errors++;
        if (sendWithTtl(t, o.bytes, ep, o.ttl) !== 0) this.counters.tx_errors++;
        else this.counters.tx_datagrams++;
        continue;
      }
      // A packet sealed where the TAP read it goes from there (no copy) when the socket can.
      const r = o.borrowed === true && t.queueView !== undefined
        ? t.queueView(o.bytes, ep)
        : t.queue(o.bytes, ep);
      if (r !== 0) this.counters.tx_errors++;
      else this.counters.tx_datagrams++;
    }
    if (t.flush() !== 0) this.counters.tx_errors++;
    this.counters.endpoint_cache_resets = this.#cache.resets;
    this.#syncSocket();
  }
}
