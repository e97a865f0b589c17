/**
 * The learning switch's configuration and what it shows: options of the
 * switch and its ports, its counters and its /status snapshot. The switch
 * itself is core/switch.ts.
 *
 * @module
 */
import type { MacKey } from "./mac.ts";
import type { DropName, FilterPolicy } from "./switch_filter.ts";
import type { RateLimit } from "./token_bucket.ts";

/** Storm control of one port: flooded frames per class, each limited by a token bucket. */
export interface StormPolicy {
  /** Frames to ff:ff:ff:ff:ff:ff. */
  broadcast?: RateLimit;
  /** Frames to other group addresses. */
  multicast?: RateLimit;
  /** Unicast frames to a MAC the switch does not know. */
  unknownUnicast?: RateLimit;
}

/** Ports of a switch unless `maxPorts` says otherwise. */
export const DEFAULT_MAX_PORTS = 1024;

/** Switch configuration. Every field is optional. */
export interface SwitchOptions {
  /** Most MAC entries in the switch. Default 8192. */
  maxMacs?: number;
  /** Most MAC entries per port, unless the port says otherwise. Default 1024, capped at `maxMacs`. */
  maxMacsPerPort?: number;
  /** Idle time after which a MAC entry is gone, ms. Default 300 000 (300 s). */
  agingMs?: number;
  /**
   * Least time between two expire scans that `nextDeadline()` asks for, ms.
   * Default 1000. A scan reads the whole table, so under MAC churn this bounds
   * its cost; forwarding ignores aged entries exactly at the boundary anyway.
   */
  expireIntervalMs?: number;
  /** Most ports; port ids are 0..maxPorts-1. Default `DEFAULT_MAX_PORTS` (1024). */
  maxPorts?: number;
  /** What happens to a frame whose new source MAC cannot be learned. Default "restrict". */
  limitAction?: "restrict" | "forward";
  /** Frame classes let through. Default: IPv4, ARP, IPv6 only. */
  filter?: FilterPolicy;
  /** Storm control for every port that does not set its own. Default none. */
  storm?: StormPolicy;
}

/** Port configuration. */
export interface PortOptions {
  /** Label for snapshots and logs (e.g. session or peer name). */
  name?: string;
  /** Split-horizon group, integer >= 1; ports of one group never exchange frames. Default none. */
  group?: number;
  /** Most MAC entries on this port. Default: the switch's `maxMacsPerPort`. */
  maxMacs?: number;
  /** Storm control of this port. Default: the switch's `storm`. */
  storm?: StormPolicy;
}

/** What `takeMoveReport()` returns: MAC moves since the previous report. */
export interface MoveReport {
  /** Moves since the last report. */
  moves: number;
  /** The MAC of the latest move. */
  mac: MacKey;
  /** Port it moved from. */
  from: number;
  /** Port it moved to. */
  to: number;
}

/** Counters of a switch or a port, by name. Frames and bytes are received frames unless named tx. */
export interface SwitchCounters {
  /** Frames (and bytes) received. */
  rx_frames: number;
  rx_bytes: number;
  /** Copies sent (a flood to 3 ports counts 3). */
  tx_frames: number;
  tx_bytes: number;
  /** Frames forwarded as known unicast. */
  unicast_frames: number;
  unicast_bytes: number;
  /** Frames flooded (counted once, however many copies). */
  flooded_frames: number;
  flooded_bytes: number;
  /** Of the flooded frames: broadcast, multicast, unknown unicast. */
  flooded_broadcast: number;
  flooded_multicast: number;
  flooded_unknown_unicast: number;
  /** MAC entries created. */
  macs_learned: number;
  /** MAC entries moved to this port (per port) or between ports (switch). */
  macs_moved: number;
  /** MAC entries aged out. */
  macs_aged: number;
  /** MAC entries forgotten because their port was removed (switch only). */
  macs_flushed: number;
  /** New source MACs not learned because a limit was reached. */
  mac_limit_reached: number;
  /** Dropped frames and bytes by reason. */
  dropped_frames: Record<DropName, number>;
  dropped_bytes: Record<DropName, number>;
}

/** One MAC table entry in a snapshot. */
export interface MacEntrySnapshot {
  mac: string;
  port: number;
  /** Milliseconds since the last frame from this MAC. */
  ageMs: number;
}

/** One port in a snapshot. */
export interface PortSnapshot {
  port: number;
  name: string;
  group: number | null;
  macs: number;
  maxMacs: number;
  counters: SwitchCounters;
}

/** Plain JSON-able state of a switch for /status. */
export interface SwitchSnapshot {
  agingMs: number;
  maxMacs: number;
  macCount: number;
  limitAction: "restrict" | "forward";
  filter: Required<FilterPolicy>;
  counters: SwitchCounters;
  ports: PortSnapshot[];
  /** MAC table, sorted by port then MAC; at most `maxEntries` rows (see `snapshot`). */
  macs: MacEntrySnapshot[];
  /** True when `macs` was cut short. */
  macsTruncated: boolean;
}
