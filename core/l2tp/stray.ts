/**
 * Control messages for a connection we do not know (issue 18, a LAS that
 * restarted or took over a virtual address), and the StopCCN that answers
 * them so the peer re-dials at once instead of waiting out its HELLO
 * retransmissions (docs/las-redundancy.md).
 *
 * The header of a control message names the *receiver's* Control
 * Connection ID, so a server that forgot the connection cannot address its
 * answer to the sender's id. The answer goes with Control Connection ID 0
 * in the header, and names the connection in its Assigned Control
 * Connection ID AVP by the id the peer called us by (the header's id of
 * the message that came in): the peer knows that id as its connection's
 * `remoteCcid`, so it can tell which connection is meant, and an off-path
 * sender would have to guess a random 32-bit id. With a shared secret the
 * answer carries a Message Digest computed without nonces (the server lost
 * them); it can be replayed only against a connection with the same
 * `remoteCcid`, which a re-dialled connection does not have (fresh random ids).
 *
 * Answers are bounded (`StrayLimiter`): at most `perSecond` (20) in all and
 * one per source per second, and an answer at most `AMPLIFICATION` (3)
 * times the size of the message it answers (the endpoint's budget for
 * unproven peers), so a forged source cannot turn a server into an
 * amplifier. Messages with no id to name (a ZLB or an ACK carries one too,
 * but a StopCCN answered with a StopCCN would ping-pong) are not answered:
 * only HELLO, ICRQ, ICRP, ICCN, CDN, SLI and the handshake's SCCCN.
 *
 * @module
 */
import { type Dialect, encodeFields } from "./avp_fields.ts";
import { type DigestAlgorithm, digestPlaceholder, type HashFn, sharedKey, sign } from "./auth.ts";
import {
  type Avp,
  type ControlMessage,
  encodeControl,
  parseControl,
  type Transport,
} from "./control_message.ts";
import { MessageType as MT, StopCcnResult } from "./constants.ts";

/** An answer is at most this many times the bytes of the message it answers. */
export const AMPLIFICATION = 3;

/** Message types a server that does not know the connection answers with a StopCCN. */
const ANSWERED: ReadonlySet<number> = new Set([
  MT.HELLO,
  MT.SCCCN,
  MT.ICRQ,
  MT.ICRP,
  MT.ICCN,
  MT.CDN,
  MT.SLI,
]);

/** True when a message of type `mt` for an unknown connection gets a StopCCN. */
export function answersStray(mt: number | undefined): boolean {
  return mt !== undefined && ANSWERED.has(mt);
}

/**
 * Rate limit of the answers: a budget of `perSecond` for everyone, refilled
 * each second, and one answer per source per second. The per-source table
 * holds at most `perSecond` entries (it cannot hold more than the answers
 * of one second) and is cleared each second.
 */
export class StrayLimiter {
  #second = -1;
  #spent = 0;
  readonly #sources = new Set<string>();

  constructor(readonly perSecond = 20) {}

  /** True when `source` may be answered at `now` (ms); counts the answer. */
  take(source: string, now: number): boolean {
    const s = Math.floor(now / 1000);
    if (s !== this.#second) {
      this.#second = s;
      this.#spent = 0;
      this.#sources.clear();
    }
    if (this.#spent >= this.perSecond || this.#sources.has(source)) return false;
    this.#spent++;
    this.#sources.add(source);
    return true;
  }
}

/** Signing material for a stray StopCCN: the secret's shared key and the digest. */
export interface StrayAuth {
  hash: HashFn;
  secret: Uint8Array;
  alg: DigestAlgorithm;
}

/**
 * The StopCCN (result 1, general clear) that tells a peer we do not know the
 * connection it calls `calledCcid` (the header id of its message), or null
 * when it cannot be encoded. Header id 0; Ns, Nr 0.
 */
export function strayStopCcn(
  transport: Transport,
  calledCcid: number,
  dialect: Dialect,
  auth: StrayAuth | null,
): Uint8Array | null {
  let avps: Avp[] = encodeFields({
    messageType: MT.StopCCN,
    // No message text: the answer must stay within AMPLIFICATION times a HELLO.
    resultCode: { result: StopCcnResult.GeneralClear },
    assignedControlConnectionId: calledCcid,
  }, dialect);
  if (auth) avps = [avps[0], digestPlaceholder(auth.alg, dialect === "cisco"), ...avps.slice(1)];
  const enc = encodeControl(transport, { ccid: 0, ns: 0, nr: 0, avps });
  if (!enc.ok) return null;
  if (auth) {
    const key = sharedKey(auth.hash, auth.secret);
    const back = parseAvpsOf(enc.bytes, transport);
    if (!back) return null;
    sign({ hash: auth.hash, alg: auth.alg, key }, enc.bytes, back.avps, transport, []);
  }
  return enc.bytes;
}

function parseAvpsOf(bytes: Uint8Array, transport: Transport): ControlMessage | null {
  const p = parseControl(bytes, transport);
  return p.ok ? p.msg : null;
}
