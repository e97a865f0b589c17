/**
 * The real `Sealer` (issue 6): seals and opens VPN packets with the sessions
 * the handshakes established (`secure_node.ts`, `secure_supernode.ts`).
 *
 * Sealing (`seal`), for a packet whose header and plaintext body the core
 * wrote:
 * - receiver 0xffff (broadcast) is refused on a node (`tx_broadcast_refused`):
 *   there is no key the supernode could relay a broadcast under without
 *   being able to read it; NodeCore fans broadcasts out over the peer
 *   sessions instead (`PeerDirectory`).
 * - the current session to (network, receiver); on a node,
 *   receiver 0 is the supernode session. Key id = the receiver's key id,
 *   counter = the session's send counter, nonce = 4 zero bytes | counter,
 *   AAD = the 24 header bytes with HOP_TAG cleared.
 * - flag HOP_TAG (set by `encodePacket` when a node sends a packet for
 *   another node to the supernode): after the end-to-end tag, a 16-byte hop
 *   trailer under the node's hop key of its supernode session
 *   (`sec_messages.ts` `writeHopTag`: counter low 32 bits and a 12-byte tag,
 *   nonce = the supernode session's send counter). The supernode checks it
 *   and relays the packet unchanged; it never has the end-to-end key.
 *
 * Opening (`open`), after `checkHeader`:
 * - on the supernode, a packet for another node (receiver not 0): receiver
 *   0xffff is refused (no fan-out); only the hop trailer of the sender's
 *   bound session is checked, against that session's replay window; the body
 *   stays sealed. A relayed packet never moves a session's endpoint.
 * - an unknown key id is refused before any AEAD work (`no_session`); the
 *   counter is checked against the session's replay window (`replay`)
 *   before the tag (`bad_tag`) and recorded only after it verified.
 * - the session must belong to the header's network and sender
 *   (`wrong_sender`); on the supernode a REGISTER must carry the session's
 *   public key as identity, ask for an id that key may hold, and come from
 *   the address the session's handshake came from
 *   (`rx_register_wrong_address`). The supernode never moves a session's
 *   endpoint (the handshake proved that address; a REGISTER binds it).
 *
 * Context is an argument, never state set beforehand (issue 15): `seal` takes
 * the time, `open` the time and the datagram's source endpoint, and every
 * question about a session's age (`currentFor`, `hopCandidates`,
 * `knownEndpoint`, `sweep`) takes `now`. The sealer keeps no clock and no
 * timers.
 *
 * Tables: sessions by key id (bound `maxSessions`, oldest evicted,
 * `sessions_evicted`); peers wanting a session and peers whose session just
 * became usable (`takeReady`) (bound 256 each).
 *
 * Not here: handshakes, who may connect, rotation decisions.
 *
 * @module
 */
import { Counters } from "./backlog.ts";
import {
  BROADCAST_ID,
  Flag,
  HEADER_LENGTH,
  HOP_TAG_RESERVE,
  IDENTITY_LENGTH,
  MsgType,
  SUPERNODE_ID,
  TAG_LENGTH,
} from "./constants.ts";
import type { CryptoSuite } from "./crypto_suite.ts";
import { HDR, writeCounter, writeKeyId } from "./header.ts";
import type { Members } from "./members.ts";
import { openHopTag, writeHopTag } from "./sec_messages.ts";
import type { OpenReason, Sealer, SealReason } from "./sealer.ts";
import { DEFAULT_LIMITS, type Session, type SessionLimits } from "./session_keys.ts";
import { u16, u32 } from "../wire/checked.ts";

/** Which end the sealer serves. */
export type SealerRole = "node" | "supernode";

/** Options of `SecureSealer`. */
export interface SecureSealerConfig {
  suite: CryptoSuite;
  role: SealerRole;
  limits?: SessionLimits;
  /** Supernode: id bindings (REGISTER checks, binding at REGISTER_ACK). */
  members?: Members;
  /** Most sessions (default 65 536). */
  maxSessions?: number;
}

const MAX_WANTED = 256;

/** Slot of (network, peer) in the current-session table. */
export function peerSlot(network: number, peer: number): number {
  return network * 0x1_0000 + peer;
}

/**
 * Seals and opens with established sessions.
 *
 * @example
 * ```ts
 * // const sealer = new SecureSealer({ suite, role: "node" });
 * // new NodeCore({ ..., sealer });
 * ```
 */
export class SecureSealer implements Sealer {
  /** Tells `encodePacket` to add a hop tag to packets relayed by the supernode. */
  readonly hopTag = true;
  /** Node: REGISTER's registration stamp (set by `SecureNode`: its `InitClock`). */
  registrationStamp?: () => Uint8Array;
  readonly counters: Counters = new Counters();
  readonly role: SealerRole;
  readonly limits: SessionLimits;
  private readonly suite: CryptoSuite;
  private readonly members?: Members;
  private readonly maxSessions: number;
  /** Node: our node id, learned from the supernode's REGISTER_ACK. */
  ownId = 0;
  /** Node: REGISTER_ACKs opened so far (the security layer asks for the roster after each). */
  registrations = 0;
  /**
   * Node: REGISTERs sealed since the last REGISTER_ACK. The supernode takes a
   * REGISTER only from the address its session's handshake came from; after
   * a NAT rebinding they go unanswered and the security layer handshakes
   * again from the new address.
   */
  registersUnanswered = 0;
  /** The session of the last packet opened (the supernode answers a REGISTER with it). */
  lastOpened: Session | null = null;
  /** Node: peers a packet could not be sealed for (the owner starts handshakes). Bound: 256. */
  readonly wanted: Set<number> = new Set();
  /** Node: peers whose session became usable for sending since `takeReady`. Bound: 256. */
  private readonly ready: Set<number> = new Set();
  /** key id -> session (every live session). Bound: maxSessions. */
  private readonly byKeyId = new Map<number, Session>();
  /** peerSlot -> the session used for sending. */
  private readonly current = new Map<number, Session>();
  /**
   * peerSlot -> the session `current` replaced, and the newest session even
   * if unconfirmed: hop tags are checked against these too while a re-key
   * settles (the two ends switch at different moments).
   */
  private readonly previous = new Map<number, Session>();
  private readonly newest = new Map<number, Session>();
  /** endpoint -> the session that last authenticated a packet from it. Bound: one per session. */
  private readonly byEndpoint = new Map<string, Session>();
  /** "network:key" -> the one unconfirmed responder session of a key. Bound: one per session. */
  private readonly unconfirmed = new Map<string, Session>();
  private readonly aad = new Uint8Array(HEADER_LENGTH);
  private readonly nonce = new Uint8Array(12);

  constructor(c: SecureSealerConfig) {
    this.suite = c.suite;
    this.role = c.role;
    this.limits = c.limits ?? DEFAULT_LIMITS;
    this.members = c.members;
    this.maxSessions = c.maxSessions ?? 65_536;
  }

  /** A fresh key id (non-zero, unused). */
  newKeyId(): number {
    const b = new Uint8Array(4);
    for (let i = 0; i < 64; i++) {
      this.suite.randomBytes(b);
      const id = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
      if (id !== 0 && !this.byKeyId.has(id)) return id;
    }
    throw new Error("Cannot allocate a key id: random source is broken");
  }

  /** Adds a session; a confirmed one becomes the current one for its peer. */
  install(s: Session): void {
    if (this.byKeyId.size >= this.maxSessions) {
      this.remove(this.byKeyId.values().next().value as Session);
      this.counters.add("sessions_evicted");
    }
    if (!s.confirmed) {
      // At most one unconfirmed session per key: a newer HS_INIT of the same
      // key replaces the previous one instead of filling the table (replays
      // are refused before, by their timestamp: init_timestamps.ts).
      const k = `${s.network}:${hexKey(s.remoteStatic)}`;
      const old = this.unconfirmed.get(k);
      if (old !== undefined && !old.confirmed) {
        this.remove(old);
        this.counters.add("sessions_replaced_unconfirmed");
      }
      this.unconfirmed.set(k, s);
    }
    this.byKeyId.set(s.localKeyId, s);
    if (s.endpoint !== "") this.byEndpoint.set(s.endpoint, s);
    if (s.peer >= 0) this.newest.set(peerSlot(s.network, s.peer), s);
    if (s.confirmed && s.peer >= 0) this.promote(s);
    this.counters.add("sessions_installed");
  }

  /**
   * Node: adds a session with a supernode the node is not attached to (a
   * standby, or its preferred one while it probes it): it opens what that
   * supernode sends (`open`, by key id) but is not the current supernode
   * session until `promote`d (a move), so nothing else is sealed under it.
   */
  installAside(s: Session): void {
    if (this.byKeyId.size >= this.maxSessions) {
      this.remove(this.byKeyId.values().next().value as Session);
      this.counters.add("sessions_evicted");
    }
    this.byKeyId.set(s.localKeyId, s);
    if (s.endpoint !== "") this.byEndpoint.set(s.endpoint, s);
    this.counters.add("sessions_installed_aside");
  }

  /**
   * Node: seals `packet` (no hop tag) under `s`, a session `installAside`
   * holds (a KEEPALIVE or DEREGISTER to a supernode the node is not
   * attached to). As `seal` otherwise.
   */
  sealVia(s: Session, packet: Uint8Array, now: number): "ok" | SealReason {
    const len = packet.length;
    if (len < HEADER_LENGTH + TAG_LENGTH || (packet[HDR.FLAGS] & Flag.HOP_TAG) !== 0) {
      return "no_session";
    }
    if (s.closed || s.dead(now, this.limits)) return this.noSession("tx_aside_no_session");
    if (s.txCounter >= this.limits.rejectAfterPackets) return "counter_exhausted";
    writeKeyId(packet, s.remoteKeyId);
    writeCounter(packet, s.txCounter++);
    s.lastTx = now;
    this.setNonce(packet);
    s.tx.seal(
      this.nonce,
      this.maskedHeader(packet),
      packet,
      HEADER_LENGTH,
      len - HEADER_LENGTH - TAG_LENGTH,
    );
    return "ok";
  }

  /** Makes `s` the session used for sending to its peer. */
  promote(s: Session): void {
    if (s.peer < 0) return;
    const slot = peerSlot(s.network, s.peer);
    const old = this.current.get(slot);
    if (old !== undefined && old !== s) this.previous.set(slot, old);
    this.current.set(slot, s);
    this.newest.set(slot, s);
    if (this.role === "node" && s.peer !== SUPERNODE_ID) {
      this.wanted.delete(s.peer);
      if (this.ready.size < MAX_WANTED) this.ready.add(s.peer);
    }
  }

  /** Node: the peers whose session became usable since the last call (held frames can go). */
  takeReady(): number[] {
    if (this.ready.size === 0) return [];
    const r = [...this.ready];
    this.ready.clear();
    return r;
  }

  /** Node: true when peers became ready since the last `takeReady`. */
  hasReady(): boolean {
    return this.ready.size > 0;
  }

  private dropCurrent(s: Session): void {
    if (s.peer < 0) return;
    const slot = peerSlot(s.network, s.peer);
    if (this.current.get(slot) === s) this.current.delete(slot);
    if (this.previous.get(slot) === s) this.previous.delete(slot);
    if (this.newest.get(slot) === s) this.newest.delete(slot);
  }

  /**
   * The live sessions of (network, peer) whose hop keys may be in use: the
   * current one, the newest (maybe unconfirmed) and the one it replaced,
   * those not dead at `now`.
   */
  hopCandidates(network: number, peer: number, now: number): Session[] {
    const slot = peerSlot(network, peer);
    const out: Session[] = [];
    for (const s of [this.current.get(slot), this.newest.get(slot), this.previous.get(slot)]) {
      if (s !== undefined && !out.includes(s) && !s.dead(now, this.limits)) out.push(s);
    }
    return out;
  }

  private setEndpoint(s: Session, from: string): void {
    if (from === "" || s.endpoint === from) return;
    if (this.byEndpoint.get(s.endpoint) === s) this.byEndpoint.delete(s.endpoint);
    s.endpoint = from;
    this.byEndpoint.set(from, s);
  }

  /** The unconfirmed responder session of `publicKey` in `network`, if any. */
  unconfirmedFor(network: number, publicKey: Uint8Array): Session | undefined {
    const s = this.unconfirmed.get(`${network}:${hexKey(publicKey)}`);
    return s !== undefined && !s.confirmed && !s.closed ? s : undefined;
  }

  /** True when a session live at `now` last authenticated a packet from `endpoint`. */
  knownEndpoint(endpoint: string, now: number): boolean {
    const s = this.byEndpoint.get(endpoint);
    return s !== undefined && s.confirmed && !s.dead(now, this.limits);
  }

  /** Removes and closes a session. */
  remove(s: Session): void {
    if (this.byKeyId.get(s.localKeyId) === s) this.byKeyId.delete(s.localKeyId);
    if (this.byEndpoint.get(s.endpoint) === s) this.byEndpoint.delete(s.endpoint);
    const uk = `${s.network}:${hexKey(s.remoteStatic)}`;
    if (this.unconfirmed.get(uk) === s) this.unconfirmed.delete(uk);
    this.dropCurrent(s);
    if (this.lastOpened === s) this.lastOpened = null;
    s.close();
  }

  /** Removes every session whose peer holds `publicKey`; returns how many. */
  removeByStatic(publicKey: Uint8Array): number {
    let n = 0;
    for (const s of [...this.byKeyId.values()]) {
      if (this.suite.equal(s.remoteStatic, publicKey)) {
        this.remove(s);
        n++;
      }
    }
    return n;
  }

  /** The session used for sending to (network, peer), if live at `now`. */
  currentFor(network: number, peer: number, now: number): Session | undefined {
    const s = this.current.get(peerSlot(network, peer));
    return s !== undefined && !s.dead(now, this.limits) ? s : undefined;
  }

  /**
   * The current session of (network, peer) whatever its age, unless closed
   * or out of counters: for deadlines and status between two `sweep`s, which
   * remove the ones past their age. Sealing and opening use `currentFor`.
   */
  currentSession(network: number, peer: number): Session | undefined {
    const s = this.current.get(peerSlot(network, peer));
    return s !== undefined && !s.closed && s.txCounter < this.limits.rejectAfterPackets
      ? s
      : undefined;
  }

  /** The session with local key id `keyId`. */
  byKey(keyId: number): Session | undefined {
    return this.byKeyId.get(keyId);
  }

  /** Every live session. */
  sessions(): IterableIterator<Session> {
    return this.byKeyId.values();
  }

  /** The current sessions (one per peer). */
  currentSessions(): IterableIterator<Session> {
    return this.current.values();
  }

  /** Removes dead sessions (age or volume). Returns how many. */
  sweep(now: number): number {
    let n = 0;
    for (const s of [...this.byKeyId.values()]) {
      if (s.dead(now, this.limits)) {
        this.remove(s);
        this.counters.add("sessions_expired");
        n++;
      }
    }
    return n;
  }

  private maskedHeader(packet: Uint8Array): Uint8Array {
    const a = this.aad;
    for (let i = 0; i < HEADER_LENGTH; i++) a[i] = packet[i];
    a[HDR.FLAGS] &= ~Flag.HOP_TAG;
    return a;
  }

  private setNonce(packet: Uint8Array): void {
    const n = this.nonce;
    n[0] =
      n[1] =
      n[2] =
      n[3] =
        0;
    for (let i = 0; i < 8; i++) n[4 + i] = packet[HDR.COUNTER + i];
  }

  seal(packet: Uint8Array, now: number): "ok" | SealReason {
    const len = packet.length;
    if (len < HEADER_LENGTH + TAG_LENGTH) return "no_session";
    const flags = packet[HDR.FLAGS];
    const hop = (flags & Flag.HOP_TAG) !== 0;
    const tail = hop ? HOP_TAG_RESERVE : 0;
    const bodyLen = len - HEADER_LENGTH - TAG_LENGTH - tail;
    if (bodyLen < 0) return "no_session";
    const network = u16(packet, HDR.NETWORK);
    const receiver = u16(packet, HDR.RECEIVER);
    const type = packet[HDR.TYPE];
    let hopSession: Session | undefined;
    if (hop) {
      hopSession = this.currentFor(network, SUPERNODE_ID, now);
      if (hopSession === undefined) return this.noSession("tx_no_hop_session");
      if (hopSession.txCounter >= this.limits.rejectAfterPackets) return "counter_exhausted";
    }
    if (this.role === "node" && receiver === BROADCAST_ID) {
      return this.noSession("tx_broadcast_refused");
    }
    {
      let s: Session | undefined | null;
      if (this.role === "supernode" && type === MsgType.REGISTER_ACK) {
        s = this.lastOpened;
        if (s === null || s.network !== network || s.dead(now, this.limits)) {
          return this.noSession("tx_ack_no_session");
        }
        if (
          this.members !== undefined &&
          !this.members.bind(network, receiver, s.remoteStatic, now)
        ) {
          return this.noSession("tx_ack_id_bound");
        }
        if (s.peer !== receiver) {
          const old = this.currentFor(network, receiver, now);
          if (old !== undefined && !this.suite.equal(old.remoteStatic, s.remoteStatic)) {
            this.remove(old);
          }
          this.dropCurrent(s); // bound to another id before: that slot no longer points here
          s.peer = receiver;
        }
        this.promote(s);
      } else if (this.role === "supernode" && type === MsgType.REGISTER_NAK) {
        s = this.lastOpened !== null && this.lastOpened.network === network
          ? this.lastOpened
          : this.currentFor(network, receiver, now);
      } else {
        s = this.currentFor(network, receiver, now);
      }
      if (s === undefined || s === null) {
        if (this.role === "node" && receiver !== SUPERNODE_ID && this.wanted.size < MAX_WANTED) {
          this.wanted.add(receiver);
        }
        return this.noSession("tx_no_session");
      }
      if (s.txCounter >= this.limits.rejectAfterPackets) return "counter_exhausted";
      if (this.role === "node" && type === MsgType.REGISTER) this.registersUnanswered++;
      writeKeyId(packet, s.remoteKeyId);
      writeCounter(packet, s.txCounter++);
      s.lastTx = now;
      this.setNonce(packet);
      s.tx.seal(this.nonce, this.maskedHeader(packet), packet, HEADER_LENGTH, bodyLen);
    }
    if (hopSession !== undefined) {
      writeHopTag(hopSession, packet, len - HOP_TAG_RESERVE, this.limits.rejectAfterPackets);
    }
    return "ok";
  }

  private noSession(counter: string): "no_session" {
    this.counters.add(counter);
    return "no_session";
  }

  open(packet: Uint8Array, now: number, from: string): "ok" | OpenReason {
    const len = packet.length;
    const flags = packet[HDR.FLAGS];
    if ((flags & Flag.HANDSHAKE) !== 0) return this.reject("no_session", "rx_handshake_flag");
    const hop = (flags & Flag.HOP_TAG) !== 0;
    const tail = hop ? HOP_TAG_RESERVE : 0;
    const sealedLen = len - HEADER_LENGTH - tail; // body + tag
    if (sealedLen < TAG_LENGTH) return this.reject("bad_tag", "rx_short");
    const network = u16(packet, HDR.NETWORK);
    const sender = u16(packet, HDR.SENDER);
    const receiver = u16(packet, HDR.RECEIVER);
    const type = packet[HDR.TYPE];
    const keyId = u32(packet, HDR.KEY_ID);
    const hi = u32(packet, HDR.COUNTER);
    const lo = u32(packet, HDR.COUNTER + 4);

    if (this.role === "supernode" && receiver !== SUPERNODE_ID) {
      // For another node: authenticate the hop; the body stays sealed end to end.
      // No fan-out: broadcasts are per-peer copies, and one datagram must
      // never become a copy for every node of a network (amplification).
      if (receiver === BROADCAST_ID) return this.reject("no_session", "rx_relay_broadcast");
      if (!hop) return this.reject("bad_hop_tag", "rx_relay_without_hop_tag");
      const end = len - HOP_TAG_RESERVE;
      // The current session, else (while a re-key settles) the newest or previous one.
      const cands = this.hopCandidates(network, sender, now);
      if (cands.length === 0) return this.reject("no_session", "rx_relay_no_session");
      let replay = false;
      for (const s of cands) {
        const r = openHopTag(s, (x, y) => this.suite.equal(x, y), packet, end);
        if (r === "replay") replay = true;
        if (r !== "ok") continue;
        // Fresh and authentic, but the session's endpoint stays the address
        // its handshake proved: a relayed packet never moves it.
        s.lastRx = now;
        this.lastOpened = s;
        return "ok";
      }
      return replay
        ? this.reject("replay", "rx_relay_replay")
        : this.reject("bad_hop_tag", "rx_bad_hop_tag");
    }

    if (this.role === "node" && receiver === BROADCAST_ID) {
      // Broadcasts travel as unicast copies over peer sessions; nothing opens these.
      return this.reject("no_session", "rx_broadcast_unsealable");
    }

    const s = this.byKeyId.get(keyId);
    if (s === undefined || s.network !== network) return this.reject("no_session", "rx_no_session");
    if (s.dead(now, this.limits)) return this.reject("no_session", "rx_session_expired");
    const isRegister = this.role === "supernode" && type === MsgType.REGISTER;
    if (!isRegister && s.peer !== sender) return this.reject("wrong_sender", "rx_wrong_sender");
    if (s.window.check(hi, lo) !== "ok") return this.reject("replay", "rx_replay");
    this.setNonce(packet);
    if (!s.rx.open(this.nonce, this.maskedHeader(packet), packet, HEADER_LENGTH, sealedLen)) {
      return this.reject("bad_tag", "rx_bad_tag");
    }
    if (isRegister && !this.registerAllowed(s, packet, network, sender)) {
      return this.reject("wrong_sender", "rx_register_wrong_identity");
    }
    if (isRegister && from !== s.endpoint) {
      // A REGISTER binds the node's registration to an address: only the
      // address that did the handshake (it received HS_RESP there) may be it.
      return this.reject("wrong_sender", "rx_register_wrong_address");
    }
    s.window.accept(hi, lo);
    s.rxPackets++;
    s.lastRx = now;
    // A node follows where its peers' packets come from (status only); the
    // supernode keeps every session at its handshake's address.
    if (this.role === "node") this.setEndpoint(s, from);
    if (!s.confirmed) {
      s.confirmed = true;
      const uk = `${s.network}:${hexKey(s.remoteStatic)}`;
      if (this.unconfirmed.get(uk) === s) this.unconfirmed.delete(uk);
      this.promote(s);
      this.counters.add("sessions_confirmed");
    }
    this.lastOpened = s;
    if (this.role === "node" && sender === SUPERNODE_ID && type === MsgType.REGISTER_ACK) {
      this.ownId = receiver;
      this.registrations++;
      this.registersUnanswered = 0;
    }
    return "ok";
  }

  private registerAllowed(
    s: Session,
    packet: Uint8Array,
    network: number,
    sender: number,
  ): boolean {
    const b = HEADER_LENGTH + 4;
    if (packet.length < b + IDENTITY_LENGTH + TAG_LENGTH) return false;
    if (!this.suite.equal(packet.subarray(b, b + IDENTITY_LENGTH), s.remoteStatic)) return false;
    if (sender !== 0 && this.members !== undefined) {
      return this.members.mayHold(network, sender, s.remoteStatic);
    }
    return true;
  }

  private reject(reason: OpenReason, counter: string): OpenReason {
    this.counters.add(counter);
    return reason;
  }
}

function hexKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, "0");
  return s;
}
