/**
 * The `Deno.dlopen` table on libpcap (`libpcap.so.0.8`, Debian package
 * `libpcap0.8`), for one thing only: compiling a filter expression in
 * tcpdump's language into a classic BPF program for Ethernet frames.
 *
 * Nothing is captured: `pcap_open_dead(DLT_EN10MB, snaplen)` gives a handle
 * with no device, `pcap_compile` (optimizer on, netmask
 * `PCAP_NETMASK_UNKNOWN`) fills a `struct bpf_program`, its instructions are
 * copied out, then `pcap_freecode` and `pcap_close` run on every path. The
 * program is run by `core/bpf.ts`, never by libpcap.
 *
 * The library is loaded on the first compile, not at import: a daemon with
 * no filter in its configuration needs no libpcap.
 *
 * Memory: `struct bpf_program` (16 bytes: `u_int bf_len` at 0, 4 bytes of
 * padding, `struct bpf_insn *bf_insns` at 8) lives in a `cbuf` passed as a
 * `"buffer"` to synchronous calls only; the instruction array it points at
 * is libpcap's (malloc) and is read through an `UnsafePointerView` before
 * `pcap_freecode` frees it. `struct bpf_insn` is 8 bytes: `u_short code`,
 * `u_char jt`, `u_char jf`, `bpf_u_int32 k`.
 *
 * Not done here: live captures, other link types, `pcap_compile`'s netmask
 * for `ip broadcast` (an expression using it fails with libpcap's own
 * message), other libpcap sonames.
 *
 * @module
 */
import { BPF_MAXINSNS, type BpfInsn } from "../core/bpf.ts";
import { cbuf, cstr } from "./libc.ts";

const SYMBOLS = {
  pcap_open_dead: { parameters: ["i32", "i32"], result: "pointer" },
  pcap_compile: { parameters: ["pointer", "buffer", "buffer", "i32", "u32"], result: "i32" },
  pcap_geterr: { parameters: ["pointer"], result: "pointer" },
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  pcap_close: { parameters: ["pointer"], result: "void" },
  pcap_lib_version: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The file name `dlopen` loads. */
export const LIBPCAP = "libpcap.so.0.8";
/** Link type Ethernet (`DLT_EN10MB`, pcap/dlt.h). */
export const DLT_EN10MB = 1;
/** `PCAP_NETMASK_UNKNOWN`: no netmask (pcap/pcap.h). */
export const PCAP_NETMASK_UNKNOWN = 0xffff_ffff;
/** The snap length the programs return for "accept": tcpdump's default (`MAXIMUM_SNAPLEN`). */
export const DEFAULT_SNAPLEN = 262144;
/** Longest expression accepted, in bytes (a config value, not a program). */
export const MAX_EXPRESSION = 4096;

/** Why a compile failed: libpcap missing, no handle, or the expression. */
export type PcapErrorKind = "load" | "open" | "compile" | "too-long";

/**
 * A libpcap failure. `kind` says which step; for "compile", `pcapMessage` is
 * libpcap's own text ("syntax error", "unknown host 'x'", ...).
 *
 * @example
 * ```ts
 * import { PcapError } from "./pcap.ts";
 * const e = new PcapError("compile", "port 99999", "illegal port number 99999 > 65535");
 * e.message; // 'Cannot compile filter "port 99999": illegal port number 99999 > 65535'
 * ```
 */
export class PcapError extends Error {
  override name = "PcapError";
  /** Which step failed. */
  readonly kind: PcapErrorKind;
  /** The expression (empty for "load"). */
  readonly expression: string;
  /** libpcap's message, or ours when libpcap gave none. */
  readonly pcapMessage: string;

  constructor(kind: PcapErrorKind, expression: string, pcapMessage: string) {
    const what = kind === "load"
      ? `Cannot load ${LIBPCAP}`
      : `Cannot compile filter ${
        JSON.stringify(expression.length > 200 ? expression.slice(0, 200) + "..." : expression)
      }`;
    super(`${what}: ${pcapMessage}`);
    this.kind = kind;
    this.expression = expression;
    this.pcapMessage = pcapMessage;
  }
}

let table: Symbols | null = null;
let loadError: string | null = null;

function lib(): Symbols {
  if (table) return table;
  if (loadError !== null) throw new PcapError("load", "", loadError);
  try {
    table = Deno.dlopen(LIBPCAP, SYMBOLS).symbols;
    return table;
  } catch (e) {
    loadError = `${e instanceof Error ? e.message : e} (install the Debian package libpcap0.8)`;
    throw new PcapError("load", "", loadError);
  }
}

/** libpcap's version text ("libpcap version 1.10.3 (with TPACKET_V3)"). Loads the library. */
export function pcapVersion(): string {
  const p = lib().pcap_lib_version();
  return p === null ? "unknown" : Deno.UnsafePointerView.getCString(p);
}

/**
 * Compiles `expression` (tcpdump's filter language, pcap-filter(7)) for
 * Ethernet frames into classic BPF instructions. Throws `PcapError`.
 *
 * @example
 * ```ts ignore
 * import { compileFilter } from "./pcap.ts";
 * compileFilter("arp").length; // 4: ldh [12]; jeq #0x806; ret #262144; ret #0
 * ```
 */
export function compileFilter(expression: string, snaplen = DEFAULT_SNAPLEN): BpfInsn[] {
  if (new TextEncoder().encode(expression).length > MAX_EXPRESSION) {
    throw new PcapError("too-long", expression, `longer than ${MAX_EXPRESSION} bytes`);
  }
  let text: Uint8Array;
  try {
    text = cstr(expression);
  } catch {
    throw new PcapError("compile", expression, "the expression contains a NUL character");
  }
  const pcap = lib();
  const handle = pcap.pcap_open_dead(DLT_EN10MB, snaplen);
  if (handle === null) throw new PcapError("open", expression, "pcap_open_dead returned NULL");
  try {
    const prog = cbuf(16);
    if (pcap.pcap_compile(handle, prog, text, 1, PCAP_NETMASK_UNKNOWN) !== 0) {
      const m = pcap.pcap_geterr(handle);
      throw new PcapError(
        "compile",
        expression,
        m === null ? "pcap_compile failed" : Deno.UnsafePointerView.getCString(m),
      );
    }
    try {
      return copyProgram(prog, expression);
    } finally {
      pcap.pcap_freecode(prog);
    }
  } finally {
    pcap.pcap_close(handle);
  }
}

/** The instructions of a filled `struct bpf_program`, copied into JS values. */
function copyProgram(prog: Uint8Array, expression: string): BpfInsn[] {
  const dv = new DataView(prog.buffer, prog.byteOffset, 16);
  const count = dv.getUint32(0, true);
  const at = dv.getBigUint64(8, true);
  if (count === 0 || count > BPF_MAXINSNS || at === 0n) {
    throw new PcapError("compile", expression, `libpcap made a program of ${count} instructions`);
  }
  const ptr = Deno.UnsafePointer.create(at);
  if (ptr === null) throw new PcapError("compile", expression, "libpcap made no program");
  const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, count * 8).slice(0));
  const v = new DataView(bytes.buffer);
  const out: BpfInsn[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      code: v.getUint16(i * 8, true),
      jt: v.getUint8(i * 8 + 2),
      jf: v.getUint8(i * 8 + 3),
      k: v.getUint32(i * 8 + 4, true),
    });
  }
  return out;
}
