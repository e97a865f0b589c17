/**
 * The frame filter of one configured VC on the LAS (issue 20,
 * docs/filters.md): a counted `FilterSet` that judges every frame entering
 * the VC's virtual switch, before learning and forwarding. The set lives
 * as long as the configuration, not the switch: its counters survive the
 * switch going away with its last session and coming back.
 *
 * A frame's origin is the L2TPv3 peer it came from: the peer's IPv4
 * address as a 32-bit number (`peerOrigin`), so the guards'
 * allow lists (`dhcp_server`, `ra_guard`) name peers by address. A peer
 * that is not IPv4 has origin 0, which no allow list holds.
 *
 * @example
 * ```ts
 * import { peerOrigin, VcFilter } from "./vc_filter.ts";
 * import { guardRules } from "../filter.ts";
 * const f = new VcFilter(guardRules({ dhcpServer: [peerOrigin("192.0.2.1")] }), 0);
 * peerOrigin("192.0.2.1:1701") === peerOrigin("192.0.2.1"); // true
 * f.set.size; // 1
 * ```
 *
 * @module
 */
import { type FilterRule, type FilterRuleStatus, FilterSet } from "../filter.ts";

/**
 * A LAS peer's name (`192.0.2.1`, or `192.0.2.1:1701` over UDP) as a
 * frame origin: its IPv4 address as an unsigned 32-bit number; 0 when it
 * is not an IPv4 address.
 */
export function peerOrigin(peer: string): number {
  const colon = peer.indexOf(":");
  const host = colon >= 0 && peer.indexOf(":", colon + 1) < 0 ? peer.slice(0, colon) : peer;
  const parts = host.split(".");
  if (parts.length !== 4) return 0;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return 0;
    n = n * 256 + Number(p);
  }
  return n;
}

/** One VC's filter: the set and how a session's peer becomes an origin. */
export class VcFilter {
  readonly set: FilterSet;

  constructor(rules: FilterRule[], now: number) {
    this.set = new FilterSet(rules, now);
  }

  /** The origin of frames from `peer` (taken once, when its session attaches). */
  originOf(peer: string): number {
    return peerOrigin(peer);
  }

  /** Hits per rule, then "default". */
  snapshot(): FilterRuleStatus[] {
    return this.set.snapshot();
  }
}
