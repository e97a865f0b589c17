/**
 * Log lines of the supernode's federation (core/vpn/fed_supernode.ts
 * events): peers joining and leaving with id and key fingerprint, refused
 * handshakes, nodes that moved, id conflicts, member digest mismatches.
 *
 * @module
 */
import type { TopicLogger } from "../kit/log.ts";
import type { SupernodeFedEvent } from "../../core/vpn/fed_supernode.ts";

/**
 * One federation event to `log`. Refusals and failures are rate-limited by
 * the engine already (20 per second); peer up/down and conflicts always.
 *
 * @example
 * ```ts
 * // logFederationEvent(log, { type: "peer_up", peer: 2, key: "0123456789abcdef" });
 * ```
 */
export function logFederationEvent(log: TopicLogger, ev: SupernodeFedEvent): void {
  switch (ev.type) {
    case "peer_up":
      log.info(`federation peer ${ev.peer} is up (key ${ev.key})`, { peer: ev.peer, key: ev.key });
      break;
    case "peer_down":
      log.warn(
        `federation peer ${ev.peer} is down: silent for ${Math.round(ev.silentMs)} ms ` +
          `(key ${ev.key}); its nodes are kept as stale until they re-appear`,
        { peer: ev.peer, key: ev.key },
      );
      break;
    case "refused":
      log.limited(
        "fed_refused",
        "warn",
        `federation handshake refused from ${ev.endpoint} claiming supernode id ${ev.peer} ` +
          `with key ${ev.key}: ${ev.text}`,
        { peer: ev.peer, key: ev.key },
      );
      break;
    case "rejected_by_peer":
      log.limited(
        "fed_rejected",
        "warn",
        `federation peer ${ev.peer} (key ${ev.key}) refused our handshake (${ev.reason}): ` +
          "its federation entry for us lacks our id or has another key",
        { peer: ev.peer },
      );
      break;
    case "handshake_failed":
      log.limited(
        "fed_hs_failed",
        "warn",
        `federation handshake from ${ev.endpoint} failed: ${ev.reason}`,
      );
      break;
    case "moved":
      log.info(
        ev.conflict
          ? `node ${ev.node} (network ${ev.network}) lost an id conflict to supernode ${ev.to}: told id_in_use`
          : `node ${ev.node} (network ${ev.network}) moved to supernode ${ev.to}: registration dropped here`,
      );
      break;
    case "id_conflict":
      log.error(
        `node id ${ev.node} (network ${ev.network}) claimed by two keys: the one at supernode ` +
          `${ev.winner} stays, the one at supernode ${ev.loser} must register again`,
      );
      break;
    case "digest_mismatch":
      log.warn(
        `member lists differ: supernode ${ev.self} has digest ${ev.ours}, ` +
          `supernode ${ev.peer} has ${ev.theirs} (each vouches only for its own members)`,
        { peer: ev.peer },
      );
      break;
    case "sync_done":
      log.info(
        `federation peer ${ev.peer}: full sync, ${ev.entries} node(s), ${ev.removed} removed`,
      );
      break;
  }
}
