/**
 * The `filter:` key of a node section and of a LAS VC (issue 20): a list of
 * rules, each a tcpdump expression or a named guard, parsed and compiled at
 * load time (`filterRules`), and the `core/filter.ts` rules they become
 * (`buildRules`). docs/filters.md is the reference.
 *
 * ```yaml
 * filter:
 *   - dhcp_server: [1]            # only origin 1 may answer DHCP (v4 and v6)
 *   - ra_guard: [1]               # only origin 1 may send IPv6 router advertisements
 *   - mdns: { rate: 20, burst: 40 }
 *   - ssdp: drop
 *   - name: no-iperf
 *     expression: "tcp port 5201"
 *     action: drop                # drop (default) | pass | { rate, burst }
 * ```
 *
 * A plain string instead of the list (`filter: "not icmp"`) is one rule
 * named `filter` that passes the frames the expression matches and drops
 * the others, as a socket filter does.
 *
 * What an origin is depends on the daemon: a node id on the VPN, a peer's
 * IPv4 address on the LAS; the caller gives the field that parses one.
 *
 * @module
 */
import {
  fail,
  type Field,
  type FilterExpression,
  filterExpression,
  int,
  list,
  oneOf,
  parseSection,
  type Schema,
  str,
  type Where,
} from "./kit/config.ts";
import {
  bpfMatcher,
  dhcpServerGuard,
  type FilterRule,
  type FrameMatcher,
  llmnrMatcher,
  MAX_RULES,
  mdnsMatcher,
  originIn,
  raGuard,
  type RuleAction,
  ssdpMatcher,
} from "../core/filter.ts";
import type { BpfProgram } from "../core/bpf.ts";
import { isMap, isScalar } from "yaml";

/** The guards that name allowed origins. */
export const ORIGIN_GUARDS = ["dhcp_server", "ra_guard"] as const;
/** The multicast discovery guards, whose value is their action. */
export const DISCOVERY_GUARDS = ["mdns", "ssdp", "llmnr"] as const;

/** One configured rule, compiled. */
export type FilterRuleConfig =
  | { name: string; kind: "expression"; filter: FilterExpression; action: RuleAction }
  /** The string shorthand: drops what the expression does not match. */
  | { name: string; kind: "select"; filter: FilterExpression }
  | { name: string; kind: (typeof ORIGIN_GUARDS)[number]; allow: number[] }
  | { name: string; kind: (typeof DISCOVERY_GUARDS)[number]; action: RuleAction };

function optional<T>(f: Field<T>): Field<T | null> {
  return { ...f, default: null, defaultText: "none" } as Field<T | null>;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,48}$/;

/** `drop`, `pass`, or a rate limit `{ rate, burst }` (burst defaults to the rate). */
export function ruleAction(o: { doc: string; default?: RuleAction }): Field<RuleAction> {
  const limitFields = {
    rate: int({ doc: "frames per second let through", min: 1, max: 10_000_000 }),
    burst: int({ doc: "frames back to back; 0: the rate", min: 0, max: 10_000_000, default: 0 }),
  } satisfies Schema;
  const words = oneOf(["drop", "pass"] as const, { doc: o.doc });
  return {
    type: "drop, pass or { rate, burst }",
    doc: o.doc,
    default: o.default,
    defaultText: o.default === undefined ? "(required)" : JSON.stringify(o.default),
    parse(v: unknown, w: Where): RuleAction {
      if (isMap(v)) {
        const l = parseSection(limitFields, v, w);
        return { limit: { rate: l.rate, burst: l.burst === 0 ? l.rate : l.burst } };
      }
      return words.parse(v, w);
    },
  };
}

/**
 * The `filter:` field: a list of rules (or one expression as a string, see
 * the module doc). `origin` parses one entry of a guard's allow list into
 * the number the daemon gives as a frame's origin.
 */
export function filterRules(
  origin: Field<number>,
  o: { doc: string },
): Field<FilterRuleConfig[]> {
  const ruleFields = {
    name: str({ doc: "the rule's name in status and metrics", default: "" }),
    expression: optional(filterExpression({ doc: "tcpdump expression the rule matches" })),
    action: optional(ruleAction({ doc: "what an expression rule does with a match" })),
    dhcp_server: optional(list(origin, { doc: "origins allowed to answer DHCP" })),
    ra_guard: optional(list(origin, { doc: "origins allowed to send router advertisements" })),
    mdns: optional(ruleAction({ doc: "mDNS (UDP 5353 multicast): drop or { rate, burst }" })),
    ssdp: optional(ruleAction({ doc: "SSDP (UDP 1900 multicast): drop or { rate, burst }" })),
    llmnr: optional(ruleAction({ doc: "LLMNR (UDP 5355 multicast): drop or { rate, burst }" })),
  } satisfies Schema;
  const kinds = ["expression", ...ORIGIN_GUARDS, ...DISCOVERY_GUARDS] as const;
  const rule: Field<FilterRuleConfig> = {
    type: "filter rule",
    doc: "one rule",
    default: undefined,
    defaultText: "(required)",
    parse(v: unknown, w: Where): FilterRuleConfig {
      const r = parseSection(ruleFields, v, w);
      const given = kinds.filter((k) => r[k] !== null);
      if (given.length !== 1) {
        fail(w, `expected exactly one of ${kinds.join(", ")} in a rule, got ${given.length}`);
      }
      const kind = given[0];
      if (r.action !== null && kind !== "expression") {
        fail(w, `action goes with expression; ${kind}'s value is its action or allow list`);
      }
      const name = r.name || (kind === "expression" ? "" : kind);
      if (name === "") fail(w, "an expression rule needs a name (shown in status and metrics)");
      if (!NAME_RE.test(name)) {
        fail(w, "expected a rule name of 1..48 letters, digits, _ . -", name);
      }
      if (kind === "expression") {
        return { name, kind, filter: r.expression!, action: r.action ?? "drop" };
      }
      if (kind === "dhcp_server" || kind === "ra_guard") return { name, kind, allow: r[kind]! };
      return { name, kind, action: r[kind]! };
    },
  };
  const rules = list(rule, { doc: o.doc });
  const select = filterExpression({ doc: "expression" });
  return {
    type: "list of filter rules, or a tcpdump expression",
    doc: o.doc,
    default: [],
    defaultText: "[]",
    parse(v: unknown, w: Where): FilterRuleConfig[] {
      if (isScalar(v) && typeof v.value === "string") {
        return [{ name: "filter", kind: "select", filter: select.parse(v, w) }];
      }
      const out = rules.parse(v, w);
      if (out.length > MAX_RULES) fail(w, `at most ${MAX_RULES} rules, got ${out.length}`);
      const seen = new Set<string>();
      for (const r of out) {
        if (seen.has(r.name)) fail(w, `two rules named ${r.name} (names must be unique)`);
        seen.add(r.name);
      }
      return out;
    },
  };
}

function selectMatcher(program: BpfProgram): FrameMatcher {
  return { kind: "bpf-select", usesHeaders: false, matches: (frame) => program.run(frame) === 0 };
}

/**
 * The `core/filter.ts` rules of a configured list; call once per
 * `FilterSet` (a set's rate-limit buckets are its own).
 */
export function buildRules(cfg: readonly FilterRuleConfig[]): FilterRule[] {
  return cfg.map((r): FilterRule => {
    switch (r.kind) {
      case "expression":
        return { name: r.name, match: bpfMatcher(r.filter.program), action: r.action };
      case "select":
        return { name: r.name, match: selectMatcher(r.filter.program), action: "drop" };
      case "dhcp_server":
        return { name: r.name, match: dhcpServerGuard(originIn(r.allow)), action: "drop" };
      case "ra_guard":
        return { name: r.name, match: raGuard(originIn(r.allow)), action: "drop" };
      case "mdns":
        return { name: r.name, match: mdnsMatcher(), action: r.action };
      case "ssdp":
        return { name: r.name, match: ssdpMatcher(), action: r.action };
      case "llmnr":
        return { name: r.name, match: llmnrMatcher(), action: r.action };
    }
  });
}
