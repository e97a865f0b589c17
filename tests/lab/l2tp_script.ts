/**
 * One end of an L2TPv3 control connection scripted by hand (IETF AVPs, over
 * IP), for tests that need a peer doing what our own engines never do: a
 * router asking for sequenced data, a LAS whose ICRP asks for it. It keeps
 * Ns/Nr, sends what the test says, and sorts what arrives into control
 * messages and data packets.
 *
 * @module
 */
import type { DatagramTransport, Endpoint } from "../../ffi/types.ts";
import { emitControl, parseControl } from "../../core/l2tp/control_message.ts";
import { decodeFields, encodeFields, type Fields } from "../../core/l2tp/avp_fields.ts";

/** A hand-scripted control connection towards `to` over `t`. */
export class ScriptedL2tp {
  #ns = 0;
  #nr = 0;
  /** The peer's control connection id, once the test learned it. */
  ccid = 0;

  constructor(readonly t: DatagramTransport, readonly to: Endpoint) {}

  /** Sends one control message (Ns counts up; Nr acknowledges what arrived). */
  send(f: Fields): void {
    const b = emitControl("ip", {
      ccid: this.ccid,
      ns: this.#ns,
      nr: this.#nr,
      avps: encodeFields(f, "ietf"),
    });
    this.t.send(b, this.to);
    this.#ns++;
  }

  /** Control messages (ZLBs left out) and data packets received since the last call. */
  take(): { control: Fields[]; data: Uint8Array[] } {
    const control: Fields[] = [];
    const data: Uint8Array[] = [];
    const t = this.t;
    for (let n = t.recv(); n > 0; n = t.recv()) {
      for (let i = 0; i < n; i++) {
        const b = t.rx.bufs[i].slice(t.rx.offsets[i], t.rx.lens[i]);
        const p = parseControl(b, "ip");
        if (!p.ok) {
          data.push(b);
          continue;
        }
        if (p.msg.avps.length === 0) continue; // ZLB
        this.#nr = (p.msg.ns + 1) & 0xffff;
        const d = decodeFields(p.msg);
        if (d.ok) control.push(d.value.fields);
      }
    }
    return { control, data };
  }
}
