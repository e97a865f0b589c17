/**
 * libpcap's own BPF interpreter (`bpf_filter`, the one `pcap_offline_filter`
 * and tcpdump's offline reads run), on its own small `dlopen` table, as the
 * reference the tests hold `core/bpf.ts` against. Tests only.
 *
 * `bpf_filter(const struct bpf_insn *pc, const u_char *p, u_int wirelen,
 * u_int buflen)`: both pointers are passed as `"buffer"` arguments of a
 * synchronous call, used by C only during it (docs/ffi.md, rule 4).
 *
 * @module
 */
import { type BpfInsn, encodeBpf } from "../../core/bpf.ts";
import { LIBPCAP } from "../../ffi/pcap.ts";

const lib = Deno.dlopen(LIBPCAP, {
  bpf_filter: { parameters: ["buffer", "buffer", "u32", "u32"], result: "u32" },
}).symbols;

/** A program ready for `bpf_filter`: its instructions as `struct bpf_insn` bytes. */
export class ReferenceFilter {
  readonly #code: Uint8Array;

  constructor(insns: readonly BpfInsn[]) {
    this.#code = encodeBpf(insns);
  }

  /** libpcap's verdict on a whole frame (wire length = captured length): its `ret` value. */
  run(frame: Uint8Array): number {
    // An empty frame still needs a valid pointer.
    const p = frame.length === 0 ? new Uint8Array(1) : frame;
    return lib.bpf_filter(this.#code, p, frame.length, frame.length);
  }
}
