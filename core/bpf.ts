/**
 * Classic BPF (the BSD Packet Filter of McCanne and Jacobson, 1993, as Linux
 * runs it for sockets and `TUNATTACHFILTER`): a verifier and an interpreter.
 *
 * The programs come from libpcap's compiler (`ffi/pcap.ts`, tcpdump's filter
 * language, link type Ethernet); this file knows nothing of the language. A
 * program is a list of instructions `{ code, jt, jf, k }` (`struct
 * sock_filter`, linux/filter.h; `struct bpf_insn`, pcap/bpf.h).
 *
 * `verifyBpf()` is the one door. It checks what the Linux kernel checks
 * before it attaches a classic program (`bpf_check_classic` and
 * `check_load_and_stores`, net/core/filter.c):
 *
 * - 1..4096 instructions (`BPF_MAXINSNS`);
 * - every opcode is one of the classic set (table `VALID` below);
 * - division or modulo by a constant 0 is refused, and so is a shift by a
 *   constant of 32 or more;
 * - scratch memory indexes (`M[k]`) are below 16 (`BPF_MEMWORDS`), and no
 *   path reads a word before a store to it;
 * - jumps only go forward (offsets are unsigned) and land inside the program
 *   (a `ja` whose k is negative as a signed number, which is how libpcap's
 *   `protochain` loops back, is reported as `bpf-backward-jump`);
 * - the last instruction is a `ret`.
 *
 * One rule is ours: an absolute load at a Linux ancillary offset
 * (`SKF_LL_OFF` = -0x200000 and above, read as unsigned: protocol, VLAN tag,
 * interface...) is refused, since a frame here carries no socket-buffer
 * metadata; libpcap emits them only for live Linux captures, never for
 * `pcap_open_dead`.
 *
 * `BpfProgram.run(frame)` never throws, for any frame: a load past the end
 * of the frame stops the program with 0 (drop), as the kernel and libpcap's
 * `bpf_filter` do, and so does a division by an X of 0. Shifts by X of 32 or
 * more give 0 (libpcap's rule). `len` is the frame's length. The result is
 * the `ret` value, as libpcap's `bpf_filter` returns it: 0 drops, anything
 * else accepts that many bytes (a caller that honours a snap length trims
 * the frame to it when shorter, as the kernel does; libpcap's programs
 * return the snap length, 262144, for "whole frame").
 *
 * The verified program is compiled once into typed arrays (a dense internal
 * opcode, absolute jump targets, the constants); `run` allocates nothing.
 *
 * Not done here: eBPF, the Linux ancillary loads, the BSD `BPF_COP`
 * coprocessor instructions, `BPF_EXTENSIONS` of other kernels.
 *
 * @module
 */

/** One classic BPF instruction (`struct sock_filter` / `struct bpf_insn`). */
export interface BpfInsn {
  /** Opcode: class | size | mode, or class | op | source. */
  code: number;
  /** Jump offset when the condition is true (conditional jumps). */
  jt: number;
  /** Jump offset when the condition is false. */
  jf: number;
  /** The generic field: constant, offset, memory index, jump offset of `ja`. */
  k: number;
}

/** Opcode parts (linux/bpf_common.h, linux/filter.h, pcap/bpf.h). */
export const BPF = {
  // classes
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  MISC: 0x07,
  // load sizes
  W: 0x00,
  H: 0x08,
  B: 0x10,
  // load modes
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  LEN: 0x80,
  MSH: 0xa0,
  // ALU operations
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  // jumps
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  // operand source
  K: 0x00,
  X: 0x08,
  // ret operand
  A: 0x10,
  // misc
  TAX: 0x00,
  TXA: 0x80,
} as const;

/** Most instructions a program may have (linux/bpf_common.h `BPF_MAXINSNS`). */
export const BPF_MAXINSNS = 4096;
/** Scratch memory words (`BPF_MEMWORDS`). */
export const BPF_MEMWORDS = 16;
/** Lowest (unsigned) absolute offset the Linux kernel reads as ancillary data (`SKF_LL_OFF`). */
export const SKF_LL_OFF = 0xffe0_0000;

/** Why a program was refused. */
export type BpfReason =
  | "bpf-empty"
  | "bpf-too-long"
  | "bpf-bad-field"
  | "bpf-bad-opcode"
  | "bpf-div-by-zero"
  | "bpf-shift-too-far"
  | "bpf-bad-mem-index"
  | "bpf-mem-read-before-write"
  | "bpf-jump-out-of-range"
  | "bpf-backward-jump"
  | "bpf-last-not-ret"
  | "bpf-ancillary-load";

/** The result of `verifyBpf`: the runnable program, or why not and at which instruction. */
export type BpfVerdict =
  | { ok: true; value: BpfProgram }
  | { ok: false; reason: BpfReason; pc: number };

// Internal opcodes: dense, so `run`'s switch is a jump table.
const enum Op {
  LD_W_ABS,
  LD_H_ABS,
  LD_B_ABS,
  LD_W_IND,
  LD_H_IND,
  LD_B_IND,
  LD_W_LEN,
  LD_IMM,
  LD_MEM,
  LDX_W_LEN,
  LDX_B_MSH,
  LDX_IMM,
  LDX_MEM,
  ST,
  STX,
  ADD_K,
  ADD_X,
  SUB_K,
  SUB_X,
  MUL_K,
  MUL_X,
  DIV_K,
  DIV_X,
  MOD_K,
  MOD_X,
  AND_K,
  AND_X,
  OR_K,
  OR_X,
  XOR_K,
  XOR_X,
  LSH_K,
  LSH_X,
  RSH_K,
  RSH_X,
  NEG,
  JA,
  JEQ_K,
  JEQ_X,
  JGT_K,
  JGT_X,
  JGE_K,
  JGE_X,
  JSET_K,
  JSET_X,
  RET_K,
  RET_A,
  TAX,
  TXA,
}

/** Every classic opcode the kernel accepts (net/core/filter.c, `codes[]`), to our internal one. */
const VALID: ReadonlyMap<number, Op> = new Map<number, Op>([
  [BPF.LD | BPF.W | BPF.ABS, Op.LD_W_ABS],
  [BPF.LD | BPF.H | BPF.ABS, Op.LD_H_ABS],
  [BPF.LD | BPF.B | BPF.ABS, Op.LD_B_ABS],
  [BPF.LD | BPF.W | BPF.IND, Op.LD_W_IND],
  [BPF.LD | BPF.H | BPF.IND, Op.LD_H_IND],
  [BPF.LD | BPF.B | BPF.IND, Op.LD_B_IND],
  [BPF.LD | BPF.W | BPF.LEN, Op.LD_W_LEN],
  [BPF.LD | BPF.IMM, Op.LD_IMM],
  [BPF.LD | BPF.MEM, Op.LD_MEM],
  [BPF.LDX | BPF.W | BPF.LEN, Op.LDX_W_LEN],
  [BPF.LDX | BPF.B | BPF.MSH, Op.LDX_B_MSH],
  [BPF.LDX | BPF.IMM, Op.LDX_IMM],
  [BPF.LDX | BPF.MEM, Op.LDX_MEM],
  [BPF.ST, Op.ST],
  [BPF.STX, Op.STX],
  [BPF.ALU | BPF.ADD | BPF.K, Op.ADD_K],
  [BPF.ALU | BPF.ADD | BPF.X, Op.ADD_X],
  [BPF.ALU | BPF.SUB | BPF.K, Op.SUB_K],
  [BPF.ALU | BPF.SUB | BPF.X, Op.SUB_X],
  [BPF.ALU | BPF.MUL | BPF.K, Op.MUL_K],
  [BPF.ALU | BPF.MUL | BPF.X, Op.MUL_X],
  [BPF.ALU | BPF.DIV | BPF.K, Op.DIV_K],
  [BPF.ALU | BPF.DIV | BPF.X, Op.DIV_X],
  [BPF.ALU | BPF.MOD | BPF.K, Op.MOD_K],
  [BPF.ALU | BPF.MOD | BPF.X, Op.MOD_X],
  [BPF.ALU | BPF.AND | BPF.K, Op.AND_K],
  [BPF.ALU | BPF.AND | BPF.X, Op.AND_X],
  [BPF.ALU | BPF.OR | BPF.K, Op.OR_K],
  [BPF.ALU | BPF.OR | BPF.X, Op.OR_X],
  [BPF.ALU | BPF.XOR | BPF.K, Op.XOR_K],
  [BPF.ALU | BPF.XOR | BPF.X, Op.XOR_X],
  [BPF.ALU | BPF.LSH | BPF.K, Op.LSH_K],
  [BPF.ALU | BPF.LSH | BPF.X, Op.LSH_X],
  [BPF.ALU | BPF.RSH | BPF.K, Op.RSH_K],
  [BPF.ALU | BPF.RSH | BPF.X, Op.RSH_X],
  [BPF.ALU | BPF.NEG, Op.NEG],
  [BPF.JMP | BPF.JA, Op.JA],
  [BPF.JMP | BPF.JEQ | BPF.K, Op.JEQ_K],
  [BPF.JMP | BPF.JEQ | BPF.X, Op.JEQ_X],
  [BPF.JMP | BPF.JGT | BPF.K, Op.JGT_K],
  [BPF.JMP | BPF.JGT | BPF.X, Op.JGT_X],
  [BPF.JMP | BPF.JGE | BPF.K, Op.JGE_K],
  [BPF.JMP | BPF.JGE | BPF.X, Op.JGE_X],
  [BPF.JMP | BPF.JSET | BPF.K, Op.JSET_K],
  [BPF.JMP | BPF.JSET | BPF.X, Op.JSET_X],
  [BPF.RET | BPF.K, Op.RET_K],
  [BPF.RET | BPF.A, Op.RET_A],
  [BPF.MISC | BPF.TAX, Op.TAX],
  [BPF.MISC | BPF.TXA, Op.TXA],
]);

const isU = (v: number, max: number) => Number.isInteger(v) && v >= 0 && v <= max;

/**
 * Checks `insns` as the kernel does and compiles them for `run`.
 *
 * @example
 * ```ts
 * import { BPF, verifyBpf } from "./bpf.ts";
 * // ldh [12]; jeq #0x806, L1, L2; L1: ret #65535; L2: ret #0  (tcpdump "arp")
 * const v = verifyBpf([
 *   { code: BPF.LD | BPF.H | BPF.ABS, jt: 0, jf: 0, k: 12 },
 *   { code: BPF.JMP | BPF.JEQ | BPF.K, jt: 0, jf: 1, k: 0x0806 },
 *   { code: BPF.RET | BPF.K, jt: 0, jf: 0, k: 65535 },
 *   { code: BPF.RET | BPF.K, jt: 0, jf: 0, k: 0 },
 * ]);
 * const arp = new Uint8Array(42);
 * arp[12] = 0x08, arp[13] = 0x06;
 * if (v.ok) v.value.run(arp); // 65535: accepted
 * verifyBpf([]); // { ok: false, reason: "bpf-empty", pc: 0 }
 * ```
 */
export function verifyBpf(insns: readonly BpfInsn[]): BpfVerdict {
  const n = insns.length;
  if (n === 0) return { ok: false, reason: "bpf-empty", pc: 0 };
  if (n > BPF_MAXINSNS) return { ok: false, reason: "bpf-too-long", pc: BPF_MAXINSNS };
  const op = new Uint8Array(n);
  const ks = new Uint32Array(n);
  const jt = new Uint16Array(n);
  const jf = new Uint16Array(n);
  const bad = (reason: BpfReason, pc: number): BpfVerdict => ({ ok: false, reason, pc });
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc];
    if (
      typeof i !== "object" || i === null || !isU(i.code, 0xffff) || !isU(i.jt, 0xff) ||
      !isU(i.jf, 0xff) || !isU(i.k, 0xffff_ffff)
    ) return bad("bpf-bad-field", pc);
    const o = VALID.get(i.code);
    if (o === undefined) return bad("bpf-bad-opcode", pc);
    const k = i.k;
    switch (o) {
      case Op.DIV_K:
      case Op.MOD_K:
        if (k === 0) return bad("bpf-div-by-zero", pc);
        break;
      case Op.LSH_K:
      case Op.RSH_K:
        if (k >= 32) return bad("bpf-shift-too-far", pc);
        break;
      case Op.LD_MEM:
      case Op.LDX_MEM:
      case Op.ST:
      case Op.STX:
        if (k >= BPF_MEMWORDS) return bad("bpf-bad-mem-index", pc);
        break;
      case Op.LD_W_ABS:
      case Op.LD_H_ABS:
      case Op.LD_B_ABS:
        if (k >= SKF_LL_OFF) return bad("bpf-ancillary-load", pc);
        break;
      case Op.JA:
        // libpcap writes a backward jump (its `protochain` loop) as a negative k.
        if (k >= 0x8000_0000) return bad("bpf-backward-jump", pc);
        if (k >= n - pc - 1) return bad("bpf-jump-out-of-range", pc);
        jt[pc] = jf[pc] = pc + 1 + k;
        break;
      case Op.JEQ_K:
      case Op.JEQ_X:
      case Op.JGT_K:
      case Op.JGT_X:
      case Op.JGE_K:
      case Op.JGE_X:
      case Op.JSET_K:
      case Op.JSET_X:
        if (pc + 1 + i.jt >= n || pc + 1 + i.jf >= n) return bad("bpf-jump-out-of-range", pc);
        jt[pc] = pc + 1 + i.jt;
        jf[pc] = pc + 1 + i.jf;
        break;
    }
    op[pc] = o;
    ks[pc] = k;
  }
  if (op[n - 1] !== Op.RET_K && op[n - 1] !== Op.RET_A) return bad("bpf-last-not-ret", n - 1);
  const unread = firstReadBeforeWrite(op, ks, jt, jf);
  if (unread >= 0) return bad("bpf-mem-read-before-write", unread);
  return { ok: true, value: new BpfProgram(VERIFIED, insns, op, ks, jt, jf) };
}

/**
 * The kernel's `check_load_and_stores`, step for step: walking forward, the
 * set of scratch words stored on every path into each instruction (a jump
 * narrows its targets' sets; what follows a jump starts from all words and
 * is narrowed by the jumps into it); a load of a word not in the set is
 * refused. Returns that instruction, or -1.
 */
function firstReadBeforeWrite(
  op: Uint8Array,
  ks: Uint32Array,
  jt: Uint16Array,
  jf: Uint16Array,
): number {
  const n = op.length;
  const masks = new Uint16Array(n).fill(0xffff);
  let valid = 0;
  for (let pc = 0; pc < n; pc++) {
    valid &= masks[pc];
    switch (op[pc]) {
      case Op.ST:
      case Op.STX:
        valid |= 1 << ks[pc];
        break;
      case Op.LD_MEM:
      case Op.LDX_MEM:
        if ((valid & (1 << ks[pc])) === 0) return pc;
        break;
      case Op.JA:
      case Op.JEQ_K:
      case Op.JEQ_X:
      case Op.JGT_K:
      case Op.JGT_X:
      case Op.JGE_K:
      case Op.JGE_X:
      case Op.JSET_K:
      case Op.JSET_X:
        masks[jt[pc]] &= valid;
        masks[jf[pc]] &= valid;
        valid = 0xffff;
        break;
    }
  }
  return -1;
}

/** Proof that a `BpfProgram` comes from `verifyBpf`: `run` relies on what it checked. */
const VERIFIED: unique symbol = Symbol("verified by verifyBpf");

/**
 * A verified classic BPF program, compiled for the interpreter. Made only
 * by `verifyBpf` (the constructor refuses anything else: `run` trusts the
 * checks, e.g. that every jump goes forward, so the loop ends). Not
 * re-entrant (its scratch memory is its own), which a single-threaded
 * caller never notices.
 */
export class BpfProgram {
  /** The instructions as given (a copy), for display and for attaching to a kernel socket. */
  readonly insns: readonly BpfInsn[];
  readonly #op: Uint8Array;
  readonly #k: Uint32Array;
  readonly #jt: Uint16Array;
  readonly #jf: Uint16Array;
  readonly #mem = new Uint32Array(BPF_MEMWORDS);

  /** @internal Use `verifyBpf`. */
  constructor(
    proof: typeof VERIFIED,
    insns: readonly BpfInsn[],
    op: Uint8Array,
    k: Uint32Array,
    jt: Uint16Array,
    jf: Uint16Array,
  ) {
    if (proof !== VERIFIED) throw new TypeError("Cannot make a BpfProgram: use verifyBpf");
    this.insns = Object.freeze(insns.map((i) => Object.freeze({ ...i })));
    this.#op = op;
    this.#k = k;
    this.#jt = jt;
    this.#jf = jf;
  }

  /** Number of instructions. */
  get length(): number {
    return this.#op.length;
  }

  /**
   * Runs the program over `frame` (an Ethernet frame, no FCS). Returns the
   * program's `ret` value, an unsigned 32-bit accepted length: 0 drops.
   * Never throws; allocates nothing.
   */
  run(frame: Uint8Array): number {
    const op = this.#op;
    const ks = this.#k;
    const jt = this.#jt;
    const jf = this.#jf;
    const mem = this.#mem;
    const len = frame.length;
    let a = 0; // A and X as unsigned 32-bit values
    let x = 0;
    let pc = 0;
    for (;;) {
      const k = ks[pc];
      switch (op[pc]) {
        case Op.LD_W_ABS:
          if (k + 4 > len) return 0;
          a = ((frame[k] << 24) | (frame[k + 1] << 16) | (frame[k + 2] << 8) | frame[k + 3]) >>> 0;
          break;
        case Op.LD_H_ABS:
          if (k + 2 > len) return 0;
          a = (frame[k] << 8) | frame[k + 1];
          break;
        case Op.LD_B_ABS:
          if (k >= len) return 0;
          a = frame[k];
          break;
        case Op.LD_W_IND: {
          const p = x + k;
          if (p + 4 > len) return 0;
          a = ((frame[p] << 24) | (frame[p + 1] << 16) | (frame[p + 2] << 8) | frame[p + 3]) >>> 0;
          break;
        }
        case Op.LD_H_IND: {
          const p = x + k;
          if (p + 2 > len) return 0;
          a = (frame[p] << 8) | frame[p + 1];
          break;
        }
        case Op.LD_B_IND: {
          const p = x + k;
          if (p >= len) return 0;
          a = frame[p];
          break;
        }
        case Op.LD_W_LEN:
          a = len;
          break;
        case Op.LD_IMM:
          a = k;
          break;
        case Op.LD_MEM:
          a = mem[k];
          break;
        case Op.LDX_W_LEN:
          x = len;
          break;
        case Op.LDX_B_MSH:
          if (k >= len) return 0;
          x = (frame[k] & 0xf) << 2;
          break;
        case Op.LDX_IMM:
          x = k;
          break;
        case Op.LDX_MEM:
          x = mem[k];
          break;
        case Op.ST:
          mem[k] = a;
          break;
        case Op.STX:
          mem[k] = x;
          break;
        case Op.ADD_K:
          a = (a + k) >>> 0;
          break;
        case Op.ADD_X:
          a = (a + x) >>> 0;
          break;
        case Op.SUB_K:
          a = (a - k) >>> 0;
          break;
        case Op.SUB_X:
          a = (a - x) >>> 0;
          break;
        case Op.MUL_K:
          a = Math.imul(a, k) >>> 0;
          break;
        case Op.MUL_X:
          a = Math.imul(a, x) >>> 0;
          break;
        case Op.DIV_K:
          a = Math.floor(a / k);
          break;
        case Op.DIV_X:
          if (x === 0) return 0;
          a = Math.floor(a / x);
          break;
        case Op.MOD_K:
          a = a % k;
          break;
        case Op.MOD_X:
          if (x === 0) return 0;
          a = a % x;
          break;
        case Op.AND_K:
          a = (a & k) >>> 0;
          break;
        case Op.AND_X:
          a = (a & x) >>> 0;
          break;
        case Op.OR_K:
          a = (a | k) >>> 0;
          break;
        case Op.OR_X:
          a = (a | x) >>> 0;
          break;
        case Op.XOR_K:
          a = (a ^ k) >>> 0;
          break;
        case Op.XOR_X:
          a = (a ^ x) >>> 0;
          break;
        case Op.LSH_K:
          a = (a << k) >>> 0;
          break;
        case Op.LSH_X:
          a = x < 32 ? (a << x) >>> 0 : 0;
          break;
        case Op.RSH_K:
          a = a >>> k;
          break;
        case Op.RSH_X:
          a = x < 32 ? a >>> x : 0;
          break;
        case Op.NEG:
          a = -a >>> 0;
          break;
        case Op.JA:
          pc = jt[pc];
          continue;
        case Op.JEQ_K:
          pc = a === k ? jt[pc] : jf[pc];
          continue;
        case Op.JEQ_X:
          pc = a === x ? jt[pc] : jf[pc];
          continue;
        case Op.JGT_K:
          pc = a > k ? jt[pc] : jf[pc];
          continue;
        case Op.JGT_X:
          pc = a > x ? jt[pc] : jf[pc];
          continue;
        case Op.JGE_K:
          pc = a >= k ? jt[pc] : jf[pc];
          continue;
        case Op.JGE_X:
          pc = a >= x ? jt[pc] : jf[pc];
          continue;
        case Op.JSET_K:
          pc = (a & k) !== 0 ? jt[pc] : jf[pc];
          continue;
        case Op.JSET_X:
          pc = (a & x) !== 0 ? jt[pc] : jf[pc];
          continue;
        case Op.RET_K:
          return k;
        case Op.RET_A:
          return a;
        case Op.TAX:
          x = a;
          break;
        case Op.TXA:
          a = x;
          break;
        default:
          return 0; // unreachable: verifyBpf admits only the opcodes above
      }
      pc++;
    }
  }
}

/**
 * The instructions as `struct sock_filter` bytes (8 per instruction, host
 * byte order: code u16, jt u8, jf u8, k u32), as `SO_ATTACH_FILTER`,
 * `TUNATTACHFILTER` and libpcap's `bpf_filter` read them. Little-endian
 * hosts only (x86-64, the one target).
 */
export function encodeBpf(insns: readonly BpfInsn[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const dv = new DataView(out.buffer);
  insns.forEach((i, n) => {
    dv.setUint16(n * 8, i.code, true);
    dv.setUint8(n * 8 + 2, i.jt);
    dv.setUint8(n * 8 + 3, i.jf);
    dv.setUint32(n * 8 + 4, i.k, true);
  });
  return out;
}

/** Reads `struct sock_filter` bytes (little-endian) back into instructions. */
export function decodeBpf(bytes: Uint8Array): BpfInsn[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: BpfInsn[] = [];
  for (let o = 0; o + 8 <= bytes.length; o += 8) {
    out.push({
      code: dv.getUint16(o, true),
      jt: dv.getUint8(o + 2),
      jf: dv.getUint8(o + 3),
      k: dv.getUint32(o + 4, true),
    });
  }
  return out;
}
