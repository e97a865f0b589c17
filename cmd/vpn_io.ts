/**
 * Shared I/O glue of the VPN daemons (`l2 supernode`, `l2 node`): turning the
 * canonical endpoint text the `core/vpn` cores speak into socket addresses
 * (a bounded cache), receiving a batch from a `DatagramTransport` into a core,
 * and sending a core's outgoing datagrams.
 *
 * The cores name endpoints as `ffi/addr.ts` `formatEndpoint` writes them
 * (`192.0.2.1:7654`, `[2001:db8::1]:7654`); a dual-stack socket reports IPv4
 * peers as `::ffff:a.b.c.d`, which `formatEndpoint` prints as `a.b.c.d`.
 *
 * @module
 */
import { type Endpoint, formatEndpoint, parseEndpoint } from "../ffi/addr.ts";
import type { DatagramTransport } from "../ffi/types.ts";
import type { Outgoing } from "../core/vpn/backlog.ts";
import { sendWithTtl } from "../ffi/ttl.ts";

/** I/O counters of one daemon socket. */
export interface SocketCounters {
  /** Datagrams received. */
  rx_datagrams: number;
  /** Datagrams cut because they did not fit a receive slot (dropped). */
  rx_truncated: number;
  /** Datagrams handed to the socket. */
  tx_datagrams: number;
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
    tx_datagrams: 0,
    tx_errors: 0,
    tx_bad_endpoint: 0,
    endpoint_cache_resets: 0,
  };
  readonly #cache = new EndpointCache();
  /** The last source seen, so a bulk flow formats its endpoint text once, not per datagram. */
  readonly #lastIp = new Uint8Array(16);
  #lastPort = -1;
  #lastText = "";

  constructor(readonly transport: DatagramTransport) {}

  /**
   * Receives one batch and hands each datagram to `onDatagram(from, bytes)`;
   * returns how many datagrams the batch had (0: drained).
   */
  receive(onDatagram: (from: string, bytes: Uint8Array) => void): number {
    const t = this.transport;
    const n = t.recv();
    if (n === 0) return 0;
    const rx = t.rx;
    for (let i = 0; i < n; i++) {
      this.counters.rx_datagrams++;
      if (rx.truncated[i]) {
        this.counters.rx_truncated++;
        continue;
      }
      const from = this.#source(rx.src[i], rx.srcPort[i]);
      onDatagram(from, rx.bufs[i].subarray(rx.offsets[i], rx.lens[i]));
    }
    return n;
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
      if (t.queue(o.bytes, ep) !== 0) this.counters.tx_errors++;
      else this.counters.tx_datagrams++;
    }
    if (t.flush() !== 0) this.counters.tx_errors++;
    this.counters.endpoint_cache_resets = this.#cache.resets;
  }
}
