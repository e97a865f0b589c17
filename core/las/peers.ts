/**
 * Who the LAS talks to: the `allow:` prefixes, the source a peer counts
 * against for the per-source handshake limits, and the address book that
 * maps a peer's name (as `L2tpEndpoint` names peers: "192.0.2.1" over IP,
 * "192.0.2.1:1701" over UDP) back to where it is reached and which of our
 * addresses it called.
 *
 * Bounded: the address book by `maxPeers` (the oldest is forgotten), the
 * cache of formatted IPv4 names by 4096 entries (cleared when full).
 *
 * @module
 */
import type { Transport } from "../l2tp/control_message.ts";
import {
  type Endpoint,
  formatIp,
  type Ip16,
  isV4,
  parseIp,
  parsePrefix,
  prefixContains as prefixHolds,
  v4Number,
} from "../addr.ts";

/** An `allow:` entry: an address (16 bytes, IPv4 mapped) and a prefix length over it. */
export interface PeerPrefix {
  ip: Ip16;
  /** Prefix length over the 16-byte form (an IPv4 /24 is 96 + 24 = 120). */
  bits: number;
  /** As written, for logs. */
  text: string;
}

/**
 * Parses "192.0.2.0/24" or "2001:db8::/32" (or a bare address) into a
 * `PeerPrefix`, with `core/addr.ts` `parsePrefix`.
 */
export function peerPrefix(text: string): PeerPrefix | string {
  const r = parsePrefix(text, true);
  return r.ok ? { ...r.value, text } : r.reason;
}

/** True when `ip` is inside `p` (`core/addr.ts`). */
export function prefixContains(p: PeerPrefix, ip: Ip16): boolean {
  return prefixHolds(p, ip);
}

/** True when the allow list is empty (any peer) or holds `src`. */
export function allowed(list: readonly PeerPrefix[] | null | undefined, src: Ip16): boolean {
  if (!list || list.length === 0) return true;
  for (const p of list) if (prefixHolds(p, src)) return true;
  return false;
}

/**
 * The source a peer counts against for the per-source handshake limit: the
 * IPv4 address, or the IPv6 /64 (one host usually holds a whole /64).
 */
export function sourceOf(peer: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(peer) ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(peer);
  const addr = m ? m[1] : peer;
  const r = parseIp(addr);
  if (!r.ok || isV4(r.value)) return addr;
  return `${hex(r.value.subarray(0, 8))}/64`;
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Where to reach a peer and which local address it called. */
export interface PeerAddr {
  to: Endpoint;
  from: Ip16 | null;
}

/** Peer names and their addresses; see the module doc. */
export class PeerBook {
  /** Peer name to address, oldest first; bounded by `maxPeers`. */
  readonly #peers = new Map<string, PeerAddr>();
  /** IPv4 number to its text, so the data path does not format per packet. Bounded. */
  readonly #names = new Map<number, string>();

  constructor(readonly maxPeers: number) {}

  /** The name of a datagram's source over `t` ("192.0.2.1", "192.0.2.1:1701", "[2001:db8::1]:1701"). */
  name(t: Transport, src: Ip16, port: number): string {
    if (isV4(src)) {
      const n = v4Number(src);
      let s = this.#names.get(n);
      if (s === undefined) {
        if (this.#names.size >= 4096) this.#names.clear();
        s = formatIp(src);
        this.#names.set(n, s);
      }
      return t === "udp" ? `${s}:${port}` : s;
    }
    const s = formatIp(src);
    return t === "udp" ? `[${s}]:${port}` : s;
  }

  /** Notes that `name` reached us from `src`:`port` at our address `dst` (copied). */
  remember(name: string, src: Ip16, port: number, dst: Ip16): void {
    const known = this.#peers.get(name);
    if (known) {
      known.from = dst.slice();
      this.#peers.delete(name);
      this.#peers.set(name, known);
      return;
    }
    if (this.#peers.size >= this.maxPeers) {
      const oldest = this.#peers.keys().next().value;
      if (oldest !== undefined) this.#peers.delete(oldest);
    }
    this.#peers.set(name, { to: { ip: src.slice(), port }, from: dst.slice() });
  }

  get(name: string): PeerAddr | undefined {
    return this.#peers.get(name);
  }

  forget(name: string): void {
    this.#peers.delete(name);
  }
}
