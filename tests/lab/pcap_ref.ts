/**
 * libpcap's own matching, `pcap_offline_filter` (what tcpdump runs on each
 * packet of a file it reads; it calls libpcap's interpreter `bpf_filter`),
 * on its own small `dlopen` table, as the reference the tests hold
 * `core/bpf.ts` against. Tests only.
 *
 * `int pcap_offline_filter(const struct bpf_program *fp, const struct
 * pcap_pkthdr *h, const u_char *pkt)`. The `struct bpf_program` (16 bytes:
 * `u_int bf_len`, padding, `struct bpf_insn *bf_insns` at 8) holds the
 * address of the instructions, so both live in an `Arena` held by the
 * `ReferenceFilter` (docs/ffi.md, rules 1 and 2). The `struct pcap_pkthdr`
 * (24 bytes: `struct timeval ts`, `bpf_u_int32 caplen` at 16, `len` at 20)
 * and the frame are `"buffer"` arguments of a synchronous call (rule 4).
 *
 * @module
 */
import { type BpfInsn, encodeBpf } from "../../core/bpf.ts";
import { Arena, cbuf } from "../../ffi/libc.ts";
import { LIBPCAP } from "../../ffi/pcap.ts";

const lib = Deno.dlopen(LIBPCAP, {
  pcap_offline_filter: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
}).symbols;

/** A program ready for `pcap_offline_filter`. */
export class ReferenceFilter {
  /** The `struct bpf_program` at 0 and its instructions at 16. */
  readonly #arena: Arena;
  readonly #hdr = cbuf(24);
  readonly #hdrView = new DataView(this.#hdr.buffer, 0, 24);
  readonly #empty = cbuf(1);

  constructor(insns: readonly BpfInsn[]) {
    const code = encodeBpf(insns);
    this.#arena = new Arena(16 + code.length);
    const prog = this.#arena.alloc(16, 8);
    const at = this.#arena.alloc(code.length, 8);
    this.#arena.u8.set(code, at);
    this.#arena.view.setUint32(prog, insns.length, true);
    this.#arena.view.setBigUint64(prog + 8, BigInt(this.#arena.addr(at)), true);
  }

  /** libpcap's verdict on a whole frame (`caplen` = `len`): the program's `ret` value. */
  run(frame: Uint8Array): number {
    this.#hdrView.setUint32(16, frame.length, true);
    this.#hdrView.setUint32(20, frame.length, true);
    const p = frame.length === 0 ? this.#empty : frame;
    return lib.pcap_offline_filter(this.#arena.ptr, this.#hdr, p) >>> 0;
  }
}
