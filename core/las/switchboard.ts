/**
 * The LAS switchboard: one learning switch (core/switch.ts) per VC id, whose
 * ports are the L2TPv3 sessions on that VC. Sans-IO: sessions come up and go
 * down and frames come in with `now`; what goes out is, per frame, the ports
 * to send it to, and events for the log.
 *
 * ```
 *  ICRQ --> admit(sid, vcId) --reservation--> attach(session, link, now) --> port of VC's switch
 *  frame from session --> forward(sid, frame, now) --> out[0..n) (the links of the egress ports)
 *  CDN / dead peer --> release(sid) (reservation) / detach(sid) (port; last one removes the switch)
 * ```
 *
 * Admission (RFC 3931 §3.4.1: the LNS may refuse an ICRQ with a CDN) is
 * decided at the ICRQ, so a refused session never comes up:
 * - a Remote End ID longer than `MAX_REMOTE_END_ID` bytes;
 * - a VC with no switch yet while switches plus switches that sessions
 *   being set up will create reach `maxSwitches` (so two ICRQs for new VCs
 *   arriving together cannot both pass);
 * - a VC whose sessions up plus being set up fill its switch's ports
 *   (`maxPorts` of its policy, 1024 by default).
 * `attach` checks both limits again, so the bounds never depend on that
 * bookkeeping alone.
 *
 * A VC id is keyed so that both plausible forms of one number meet on one
 * switch (`vcKey`). The policy of a switch is asked for when it is created.
 *
 * It does not send, parse L2TP, or know peers' addresses: each port carries
 * an opaque `link` (the caller's send state), and `forward` hands the links
 * back. It logs nothing: `takeEvents()` says what is worth a line.
 *
 * Bounded: switches by `maxSwitches`, ports per switch by `maxPorts`,
 * reservations by the caller's pending-session limits (each leaves at
 * `attach`, `release`, or `prune`), MACs by each switch's policy.
 *
 * @example
 * ```ts
 * import { Switchboard } from "./switchboard.ts";
 * const sb = new Switchboard<string>({
 *   maxSwitches: 4,
 *   switchPolicy: () => ({ name: "switch", options: {} }),
 * });
 * const vc = new TextEncoder().encode("100");
 * for (const [sid, link] of [[1, "a"], [2, "b"]] as const) {
 *   if (sb.admit(sid, vc) !== null) throw new Error("refused");
 *   sb.attach({ localSessionId: sid, peer: link, pwType: 5, vcId: vc }, link, 0);
 * }
 * const broadcast = new Uint8Array(60).fill(0xff, 0, 6);
 * broadcast.set([0x02, 0, 0, 0, 0, 1], 6);
 * broadcast.set([0x08, 0x00], 12);
 * const n = sb.forward(1, broadcast, 0);
 * if (n !== 1 || sb.out[0] !== "b") throw new Error("flooded to b");
 * ```
 *
 * @module
 */
import {
  DEFAULT_MAX_PORTS,
  Drop,
  LearningSwitch,
  type MoveReport,
  type SwitchOptions,
} from "../switch.ts";
import { PASS } from "../filter.ts";
import type { VcFilter } from "./vc_filter.ts";

/** Longest Remote End ID (VC id) a session may carry, bytes; a Cisco VC id is a 32-bit number. */
export const MAX_REMOTE_END_ID = 64;

/** How the switchboard is set up. */
export interface SwitchboardOptions {
  /** Most virtual switches (VC ids). */
  maxSwitches: number;
  /**
   * The switch policy of a VC (by its printed id, e.g. "1234" or "0x0a0b"): a name, options,
   * and the VC's frame filter, if it has one (core/las/vc_filter.ts).
   */
  switchPolicy: (vc: string) => { name: string; options: SwitchOptions; filter?: VcFilter };
}

/** What the switchboard needs of a session that came up. */
export interface SessionUp {
  localSessionId: number;
  /** The peer as the caller names it, for events and status. */
  peer: string;
  /** PW type (4 Ethernet VLAN, 5 Ethernet). */
  pwType: number;
  /** Remote End ID: names the VC. */
  vcId: Uint8Array;
  /**
   * The peer LAS (mesh, docs/las-redundancy.md) whose session this is, by
   * name; absent for an edge. Peer-LAS ports share one split-horizon group:
   * a frame from one never goes to another.
   */
  meshPeer?: string;
}

/** The split-horizon group of peer-LAS ports (core/switch.ts `PortOptions.group`). */
export const MESH_GROUP = 1;

/** A session attached to a port of its VC's switch. */
export interface SessionPort<T> {
  readonly session: SessionUp;
  readonly vc: VirtualSwitch<T>;
  /** Port id in `vc.sw`. */
  readonly port: number;
  /** The caller's send state for this session. */
  readonly link: T;
  readonly upSince: number;
  /**
   * The origin of its frames for the VC's filter (its peer, `VcFilter.originOf`); -1 for a
   * peer LAS: its frames were judged by the LAS they entered the mesh at, not again here.
   */
  readonly origin: number;
  rxFrames: number;
  rxBytes: number;
  /** A VLAN-tagged frame from this session was dropped by policy and said (once). */
  vlanSaid: boolean;
}

/** One virtual switch: all sessions of one VC id. */
export interface VirtualSwitch<T> {
  readonly key: string;
  /** The VC id as printed ("1234", "0x0a0b"). */
  readonly text: string;
  /** Which policy it runs (the name `switchPolicy` gave, e.g. "switch" or "vcs.1234"). */
  readonly policy: string;
  readonly sw: LearningSwitch;
  /** The VC's frame filter, judging each frame before the switch; null: none. */
  readonly filter: VcFilter | null;
  /** Port id to session. */
  readonly ports: (SessionPort<T> | undefined)[];
  readonly created: number;
  /** A PW type 4 and a type 5 session met on this VC and it was said (once). */
  mixedSaid: boolean;
  /** Ports of local edges (not peer-LAS sessions). */
  edges: number;
}

/** What is worth a log line. */
export type SwitchboardEvent<T> =
  | { type: "switch-created"; vc: VirtualSwitch<T> }
  | { type: "switch-removed"; vc: VirtualSwitch<T> }
  /** Once per VC: sessions of PW type 4 and 5 met (tagged against untagged frames). */
  | { type: "mixed-pw-types"; vc: VirtualSwitch<T>; port: SessionPort<T>; other: SessionPort<T> }
  /** Once per session: its VLAN-tagged frames are dropped by the VC's policy. */
  | { type: "vlan-dropped"; port: SessionPort<T> }
  /** MAC moves between ports since the last report (at most one per switch per `expire`). */
  | { type: "mac-moves"; vc: VirtualSwitch<T>; report: MoveReport };

/** Why `attach` refused a session (the text goes into the CDN). */
export interface Refusal {
  refused: "switch_limit" | "port_limit";
  reason: string;
}

/** The counters of the switchboard (the switches have their own). */
export interface SwitchboardCounters {
  switches_created: number;
  switches_removed: number;
  sessions_refused_switch_limit: number;
  /** ICRQs (or, in a race, session-ups) for a VC whose switch has no free port. */
  sessions_refused_port_limit: number;
  sessions_refused_remote_end_id: number;
  vlan_frames_dropped: number;
  /** Frames a VC's filter dropped before its switch (by rule in the filter's counters). */
  filtered_frames: number;
}

/** A switch's line in a status snapshot. */
export interface SwitchStatus {
  vc: string;
  policy: string;
  ports: number;
  macs: number;
  rx_frames: number;
  flooded_frames: number;
  unicast_frames: number;
  /** Drops by reason, those above 0. */
  dropped: Record<string, number>;
  /** MAC entries shown in `mac_table`, "+" when cut at the per-switch cap. */
  macs_shown: string;
  /** Ports by server: "local" (edges on this LAS) and each peer LAS by name (its session). */
  ports_by_server: Record<string, number>;
}

/** A MAC entry in a status snapshot. */
export interface MacStatus {
  vc: string;
  mac: string;
  /** The session behind the port, null if none. */
  session: number | null;
  peer: string | null;
  age_s: number;
}

/** A typed snapshot of the switches and their MAC tables. */
export interface SwitchboardStatus {
  switches: SwitchStatus[];
  mac_table: MacStatus[];
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The switch key of a Remote End ID. How a Cisco encodes the xconnect VC id
 * there is not settled (freeRtr sends decimal ASCII, "1234"; a 4-byte binary
 * number is the other plausible form), so both forms of the same number
 * meet on one switch: ASCII decimal digits (1..10 of them, value < 2^32)
 * and 4-byte values both key as `vc:<number>`; anything else keys on its
 * bytes.
 *
 * @example
 * ```ts
 * import { vcKey } from "./switchboard.ts";
 * const a = vcKey(new TextEncoder().encode("1234")).key;
 * const b = vcKey(new Uint8Array([0, 0, 4, 0xd2])).key;
 * if (a !== b || a !== "vc:1234") throw new Error("one switch");
 * ```
 */
export function vcKey(id: Uint8Array): { key: string; text: string } {
  if (id.length >= 1 && id.length <= 10 && id.every((b) => b >= 0x30 && b <= 0x39)) {
    const n = Number(new TextDecoder().decode(id));
    if (n <= 0xffff_ffff) return { key: `vc:${n}`, text: String(n) };
  }
  if (id.length === 4) {
    const n = ((id[0] << 24) | (id[1] << 16) | (id[2] << 8) | id[3]) >>> 0;
    return { key: `vc:${n}`, text: String(n) };
  }
  return { key: `raw:${hex(id)}`, text: `0x${hex(id)}` };
}

/** Virtual switches per VC id and the sessions on their ports; see the module doc. */
export class Switchboard<T> {
  readonly #o: SwitchboardOptions;
  readonly #switches = new Map<string, VirtualSwitch<T>>();
  readonly #bySession = new Map<number, SessionPort<T>>();
  /**
   * Sessions admitted and not yet up, by our session id, to the switch key
   * they will join: the switches they may create count against
   * `maxSwitches`, and they count against their VC's ports. Bounded by the
   * caller's pending-session limits.
   */
  readonly #settingUp = new Map<number, string>();
  #events: SwitchboardEvent<T>[] = [];
  /** After `forward`: the links of the ports the frame goes to, `out[0..n)`. */
  readonly out: T[] = [];
  readonly counters: SwitchboardCounters = {
    switches_created: 0,
    switches_removed: 0,
    sessions_refused_switch_limit: 0,
    sessions_refused_port_limit: 0,
    sessions_refused_remote_end_id: 0,
    vlan_frames_dropped: 0,
    filtered_frames: 0,
  };

  constructor(o: SwitchboardOptions) {
    this.#o = o;
  }

  /** Number of virtual switches. */
  get switchCount(): number {
    return this.#switches.size;
  }

  /** Number of sessions attached to a port. */
  get sessionCount(): number {
    return this.#bySession.size;
  }

  /** Number of sessions admitted and not yet up. */
  get settingUpCount(): number {
    return this.#settingUp.size;
  }

  /** The switches, in creation order. */
  switches(): IterableIterator<VirtualSwitch<T>> {
    return this.#switches.values();
  }

  /** The attached sessions, in attach order. */
  sessions(): IterableIterator<SessionPort<T>> {
    return this.#bySession.values();
  }

  /** The switch of a VC key (`vcKey(id).key`), if it exists. */
  switchOf(key: string): VirtualSwitch<T> | undefined {
    return this.#switches.get(key);
  }

  /** The session with our id `localSessionId`, if attached. */
  session(localSessionId: number): SessionPort<T> | undefined {
    return this.#bySession.get(localSessionId);
  }

  /** Switches that sessions being set up will create (their VC has no switch now). */
  #creating(except?: string): number {
    const keys = new Set<string>();
    for (const k of this.#settingUp.values()) {
      if (k !== except && !this.#switches.has(k)) keys.add(k);
    }
    return keys.size;
  }

  /**
   * Decides an ICRQ for `vcId` that would be our session `localSessionId`:
   * null admits it (and reserves its place: a new switch, a port) until
   * `attach` or `release`; otherwise the reason for the CDN.
   */
  admit(localSessionId: number, vcId: Uint8Array): string | null {
    if (vcId.length > MAX_REMOTE_END_ID) {
      this.counters.sessions_refused_remote_end_id++;
      return `its Remote End ID of ${vcId.length} bytes is too long (at most ` +
        `${MAX_REMOTE_END_ID})`;
    }
    const { key, text } = vcKey(vcId);
    let pending = 0;
    for (const k of this.#settingUp.values()) if (k === key) pending++;
    const vc = this.#switches.get(key);
    if (!vc && pending === 0) {
      const creating = this.#creating();
      if (this.#switches.size + creating >= this.#o.maxSwitches) {
        this.counters.sessions_refused_switch_limit++;
        return `the virtual switch limit is reached (max_switches ${this.#o.maxSwitches}: ` +
          `${this.#switches.size} exist, ${creating} being set up)`;
      }
    }
    // Every session is a port of its VC's switch: sessions up plus sessions being set up
    // on the VC stay within the switch's ports, so a session never comes up without one.
    const up = vc ? vc.sw.portCount : 0;
    const maxPorts = vc
      ? vc.sw.maxPorts
      : (this.#o.switchPolicy(text).options.maxPorts ?? DEFAULT_MAX_PORTS);
    if (up + pending >= maxPorts) {
      this.counters.sessions_refused_port_limit++;
      return `VC ${text} has no free port (a virtual switch takes at most ${maxPorts} ` +
        `sessions: ${up} up, ${pending} being set up)`;
    }
    this.#settingUp.set(localSessionId, key);
    return null;
  }

  /** Gives back the reservation of a session that will not come up (or went down). */
  release(localSessionId: number): void {
    this.#settingUp.delete(localSessionId);
  }

  /** Gives back the reservations of sessions `alive` no longer knows. */
  prune(alive: (localSessionId: number) => boolean): void {
    for (const sid of this.#settingUp.keys()) if (!alive(sid)) this.#settingUp.delete(sid);
  }

  /**
   * Puts a session that came up on a port of its VC's switch (creating the
   * switch with its VC's policy); `link` is what `forward` hands back for
   * it. A refusal (a limit reached another way than through `admit`) says
   * why, for the CDN.
   */
  attach(s: SessionUp, link: T, now: number): SessionPort<T> | Refusal {
    const { key, text } = vcKey(s.vcId);
    this.#settingUp.delete(s.localSessionId);
    let vc = this.#switches.get(key);
    if (!vc) {
      const creating = this.#creating(key);
      if (this.#switches.size + creating >= this.#o.maxSwitches) {
        this.counters.sessions_refused_switch_limit++;
        return {
          refused: "switch_limit",
          reason: `VC ${text}: the virtual switch limit is reached (max_switches ` +
            `${this.#o.maxSwitches})`,
        };
      }
      const policy = this.#o.switchPolicy(text);
      vc = {
        key,
        text,
        policy: policy.name,
        sw: new LearningSwitch(policy.options),
        filter: policy.filter ?? null,
        ports: [],
        created: now,
        mixedSaid: false,
        edges: 0,
      };
      this.#switches.set(key, vc);
      this.counters.switches_created++;
      this.#events.push({ type: "switch-created", vc });
    }
    const port = vc.sw.addPort({
      name: `${s.peer} session ${s.localSessionId}`,
      // A peer LAS carries the MACs of a whole server: bounded by the switch's table, not
      // by the per-session limit.
      ...(s.meshPeer !== undefined ? { group: MESH_GROUP, maxMacs: vc.sw.maxMacs } : {}),
    }, now);
    if (port < 0) {
      this.counters.sessions_refused_port_limit++;
      return {
        refused: "port_limit",
        reason: `VC ${text} has no free port (a virtual switch takes at most ` +
          `${vc.sw.maxPorts} sessions)`,
      };
    }
    const p: SessionPort<T> = {
      session: s,
      vc,
      port,
      link,
      upSince: now,
      origin: s.meshPeer !== undefined ? -1 : vc.filter?.originOf(s.peer) ?? 0,
      rxFrames: 0,
      rxBytes: 0,
      vlanSaid: false,
    };
    const other = vc.ports.find((x) => x !== undefined && x.session.pwType !== s.pwType);
    if (other && !vc.mixedSaid) {
      vc.mixedSaid = true;
      this.#events.push({ type: "mixed-pw-types", vc, port: p, other });
    }
    vc.ports[port] = p;
    if (s.meshPeer === undefined) vc.edges++;
    this.#bySession.set(s.localSessionId, p);
    return p;
  }

  /**
   * Takes a session off its port (its MACs are forgotten); the last one
   * removes the switch. Returns what was attached, if anything.
   */
  detach(localSessionId: number): SessionPort<T> | undefined {
    this.#settingUp.delete(localSessionId);
    const p = this.#bySession.get(localSessionId);
    if (!p) return undefined;
    this.#bySession.delete(localSessionId);
    p.vc.sw.removePort(p.port);
    p.vc.ports[p.port] = undefined;
    if (p.session.meshPeer === undefined) p.vc.edges--;
    if (p.vc.sw.portCount === 0) {
      this.#switches.delete(p.vc.key);
      this.counters.switches_removed++;
      this.#events.push({ type: "switch-removed", vc: p.vc });
    }
    return p;
  }

  /**
   * Switches `frame`, received at `now` on session `localSessionId`: returns
   * how many ports it goes to, their links in `out[0..n)` (valid until the
   * next call). The frame is not kept.
   */
  forward(localSessionId: number, frame: Uint8Array, now: number): number {
    const p = this.#bySession.get(localSessionId);
    if (!p) return 0;
    p.rxFrames++;
    p.rxBytes += frame.length;
    const vc = p.vc;
    if (
      vc.filter !== null && p.origin >= 0 && vc.filter.set.decide(frame, p.origin, now) !== PASS
    ) {
      this.counters.filtered_frames++;
      return 0;
    }
    const n = vc.sw.forward(p.port, frame, now);
    if (n === 0 && vc.sw.lastDrop === Drop.VLAN) {
      this.counters.vlan_frames_dropped++;
      if (!p.vlanSaid) {
        p.vlanSaid = true;
        this.#events.push({ type: "vlan-dropped", port: p });
      }
    }
    const egress = vc.sw.egress;
    const out = this.out;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const q = vc.ports[egress[k]];
      if (q) out[m++] = q.link;
    }
    return m;
  }

  /** Ages out MACs due at `now` in every switch and reports MAC moves. */
  expire(now: number): void {
    for (const vc of this.#switches.values()) {
      vc.sw.expire(now);
      const report = vc.sw.takeMoveReport();
      if (report) this.#events.push({ type: "mac-moves", vc, report });
    }
  }

  /** When `expire` next has work. */
  nextDeadline(): number {
    let t = Infinity;
    for (const vc of this.#switches.values()) t = Math.min(t, vc.sw.nextDeadline());
    return t;
  }

  /** True when events wait to be taken. */
  get hasEvents(): boolean {
    return this.#events.length > 0;
  }

  /** The events since the last call, oldest first. */
  takeEvents(): SwitchboardEvent<T>[] {
    const e = this.#events;
    this.#events = [];
    return e;
  }

  /** The switches and up to `maxMacs` MAC entries of each, at `now`. */
  status(now: number, maxMacs = 256): SwitchboardStatus {
    const macTable: MacStatus[] = [];
    const switches = [...this.#switches.values()].map((vc): SwitchStatus => {
      const s = vc.sw.snapshot(now, maxMacs);
      for (const m of s.macs) {
        macTable.push({
          vc: vc.text,
          mac: m.mac,
          session: vc.ports[m.port]?.session.localSessionId ?? null,
          peer: vc.ports[m.port]?.session.peer ?? null,
          age_s: Math.round(m.ageMs / 1000),
        });
      }
      const dropped = Object.fromEntries(
        Object.entries(s.counters.dropped_frames).filter(([, v]) => v > 0),
      );
      const byServer: Record<string, number> = { local: 0 };
      for (const q of vc.ports) {
        if (!q) continue;
        const k = q.session.meshPeer ?? "local";
        byServer[k] = (byServer[k] ?? 0) + 1;
      }
      return {
        vc: vc.text,
        policy: vc.policy,
        ports: s.ports.length,
        macs: s.macCount,
        rx_frames: s.counters.rx_frames,
        flooded_frames: s.counters.flooded_frames,
        unicast_frames: s.counters.unicast_frames,
        dropped,
        macs_shown: s.macs.length + (s.macsTruncated ? "+" : ""),
        ports_by_server: byServer,
      };
    });
    return { switches, mac_table: macTable };
  }
}
