/**
 * The log lines of the VPN engines' events (`NodeEngine` and
 * `SupernodeEngine` call `onEvent`): the one place that words them. The
 * security layers' events are worded in cmd/vpn_security.ts.
 *
 * @module
 */
import { logFederationEvent } from "./fed_log.ts";
import { formatMac, matAddress } from "../../core/mac.ts";
import type { NodeEvent } from "../../core/vpn/node.ts";
import type { NodeEngineEvent } from "../../core/vpn/node_engine.ts";
import type { SupernodeEvent } from "../../core/vpn/supernode.ts";
import type { SupernodeEngineEvent } from "../../core/vpn/supernode_engine.ts";
import type { TopicLogger } from "../kit/log.ts";
import { logNodeSecurity, logSupernodeSecurity } from "../vpn_security.ts";

/**
 * A node engine's `onEvent`: every layer's events to `log`. `self` is the
 * node's public key (for refusal hints).
 *
 * @example
 * ```ts
 * // new NodeEngine({ ..., onEvent: nodeEventLog(log, identity) })
 * ```
 */
export function nodeEventLog(
  log: TopicLogger,
  self: Uint8Array,
): (ev: NodeEngineEvent) => void {
  const first = { supernode: false };
  return (ev) => {
    if (ev.layer === "security") logNodeSecurity(log, ev.event, self, first);
    else if (ev.layer === "core") logNodeEvent(log, ev.event);
    else log.limited("save", "error", `cannot save the leaf table: ${ev.event.error}`);
  };
}

function logNodeEvent(log: TopicLogger, ev: NodeEvent): void {
  switch (ev.type) {
    case "registered": {
      log.info(
        `registered as node ${ev.nodeId} with supernode id ${ev.supernodeId}, seen as ${ev.observed}`,
        {
          network: ev.network,
          mat: formatMac(matAddress(ev.supernodeId, ev.nodeId, 0)),
          supernode_restarted: ev.supernodeRestarted,
        },
      );
      break;
    }
    case "refused":
      log.warn(`the supernode refused node id ${ev.requested}: ${ev.text}`, {
        reason: ev.reason,
      });
      break;
    case "reregistering":
      log.warn(`registering again: ${ev.cause.replaceAll("_", " ")}`, { retry_s: ev.retryS });
      break;
    case "path":
      log.info(
        `path to node ${ev.peer} is ${ev.path} via ${ev.endpoint} (${ev.cause.replace("_", " ")})`,
        { rtt_ms: ev.rttMs },
      );
      break;
    case "frame_too_big":
      log.warn(
        `frames larger than ${ev.max} bytes do not fit the underlay and are dropped ` +
          `(${ev.count} so far; last ${ev.length} bytes): lower the TAP MTU`,
      );
      break;
    case "deregistered":
      log.info(`deregistered node ${ev.nodeId}`);
      break;
    case "supernode_silent":
      log.warn(
        ev.silentMs !== null
          ? `supernode ${ev.supernode} silent for ${(ev.silentMs / 1000).toFixed(1)} s`
          : `supernode ${ev.supernode} does not acknowledge REGISTER`,
      );
      break;
    case "allocator_changed":
      log.limited(
        "allocator",
        "error",
        `supernode ${ev.supernode} acknowledged with supernode id ${ev.got}, not ${ev.expected} ` +
          "as the first registration: the MAT addresses of this node change (stale ARP and ND " +
          "caches); the supernodes of one federation must be configured with the others",
      );
      break;
  }
}

/**
 * A supernode engine's `onEvent`: both layers' events to `log`.
 *
 * @example
 * ```ts
 * // new SupernodeEngine({ ..., onEvent: supernodeEventLog(log) })
 * ```
 */
export function supernodeEventLog(log: TopicLogger): (ev: SupernodeEngineEvent) => void {
  return (ev) => {
    if (ev.layer === "security") logSupernodeSecurity(log, ev.event);
    else if (ev.layer === "federation") logFederationEvent(log, ev.event);
    else logSupernodeEvent(log, ev.event);
  };
}

function logSupernodeEvent(log: TopicLogger, ev: SupernodeEvent): void {
  switch (ev.type) {
    case "registered":
      log.info(
        `node ${ev.node} registered from ${ev.endpoint}${ev.moved ? " (moved)" : ""}`,
        { network: ev.network, auto: ev.auto },
      );
      break;
    case "refused":
      log.limited(`refused:${ev.endpoint}`, "warn", `refused ${ev.endpoint}: ${ev.text}`, {
        network: ev.network,
        requested: ev.requested,
        reason: ev.reason,
      });
      break;
    case "deregistered":
      log.info(`node ${ev.node} deregistered`, { network: ev.network, endpoint: ev.endpoint });
      break;
    case "expired":
      log.info(`node ${ev.node} expired (silent)`, {
        network: ev.network,
        endpoint: ev.endpoint,
      });
      break;
    case "introduced":
      log.debug(`introduced nodes ${ev.a} and ${ev.b}`, { network: ev.network });
      break;
    case "network_created":
      log.info(`network ${ev.network} created`);
      break;
    case "network_removed":
      log.info(`network ${ev.network} removed (empty)`);
      break;
    case "going_away":
      log.info(`told ${ev.nodes} node(s) the supernode is going away`);
      break;
  }
}
