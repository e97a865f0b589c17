/**
 * A network's frame filter on a node (issue 20, docs/filters.md): the same
 * rules as two counted `FilterSet`s, one for frames leaving through the
 * VPN (read from the TAP, judged before MAT and sealing, origin: this
 * node's id) and one for frames arriving (judged after opening, before
 * they are queued for the TAP, origin: the sending node's id).
 *
 * Each direction has its own counters and its own rate-limit buckets.
 *
 * @example
 * ```ts
 * import { NetFilter } from "./net_filter.ts";
 * import { guardRules, PASS } from "../filter.ts";
 * const f = new NetFilter(() => guardRules({ dhcpServer: [1] }), 0);
 * f.ingress.decide(new Uint8Array(60), 2, 0) === PASS; // true: not DHCP
 * f.snapshot().ingress[0].name; // "dhcp_server"
 * ```
 *
 * @module
 */
import { type FilterRule, type FilterRuleStatus, FilterSet } from "../filter.ts";

/** Hits per rule per direction (each list ends with the "default" entry). */
export interface NetFilterStatus {
  egress: FilterRuleStatus[];
  ingress: FilterRuleStatus[];
}

/** The two directions of one network's filter. */
export class NetFilter {
  /** Frames from the TAP, origin: this node's id. */
  readonly egress: FilterSet;
  /** Frames from peers, origin: the sender's node id. */
  readonly ingress: FilterSet;

  /** `rules` is called once per direction (each set gets its own matchers and buckets). */
  constructor(rules: () => FilterRule[], now: number) {
    this.egress = new FilterSet(rules(), now);
    this.ingress = new FilterSet(rules(), now);
  }

  /** Number of rules (per direction). */
  get size(): number {
    return this.egress.size;
  }

  /** Counters of both directions. */
  snapshot(): NetFilterStatus {
    return { egress: this.egress.snapshot(), ingress: this.ingress.snapshot() };
  }
}
