/**
 * The LAS's per-VC filter counters in /status and /metrics (issue 20,
 * docs/filters.md). Labels are bounded by the configuration: the VC ids
 * that have a `filter:` and the names of their rules.
 *
 * @module
 */
import type { VcFilter } from "../../core/las/vc_filter.ts";
import type { FilterRuleStatus } from "../../core/filter.ts";
import type { MetricsWriter } from "../kit/metrics.ts";

/** `filters` in the LAS's /status: one entry per configured VC filter. */
export function vcFilterStatus(
  filters: ReadonlyMap<string, VcFilter>,
): { vc: string; rules: FilterRuleStatus[] }[] {
  return [...filters].map(([vc, f]) => ({ vc, rules: f.snapshot() }));
}

/** `l2_las_filter_hits_total` and `l2_las_filter_dropped_total` by VC and rule. */
export function vcFilterMetrics(w: MetricsWriter, filters: ReadonlyMap<string, VcFilter>): void {
  for (const [vc, f] of filters) {
    for (const r of f.snapshot()) {
      const l = { vc, rule: r.name };
      w.counter("l2_las_filter_hits_total", "frames a VC filter rule matched", r.hits, l);
      w.counter("l2_las_filter_dropped_total", "frames a VC filter rule dropped", r.dropped, l);
    }
  }
}
