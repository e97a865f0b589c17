/**
 * core/bpf.ts: each refusal of the verifier, the interpreter's edge cases,
 * and random verified programs run by ours and by libpcap's `pcap_offline_filter`
 * (tests/lab/pcap_ref.ts) giving the same value on random frames. The
 * comparison with tcpdump over captures is in bpf_tcpdump_test.ts.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import {
  BPF,
  BPF_MAXINSNS,
  type BpfInsn,
  BpfProgram,
  type BpfReason,
  decodeBpf,
  encodeBpf,
  verifyBpf,
} from "../../core/bpf.ts";
import { ReferenceFilter } from "../lab/pcap_ref.ts";

const I = (code: number, k = 0, jt = 0, jf = 0): BpfInsn => ({ code, jt, jf, k });
const RET_K = (k: number) => I(BPF.RET | BPF.K, k);
const RET_A = I(BPF.RET | BPF.A);
const LD_IMM = (k: number) => I(BPF.LD | BPF.IMM, k);
const LDX_IMM = (k: number) => I(BPF.LDX | BPF.IMM, k);
const ALU = (op: number, src: number, k = 0) => I(BPF.ALU | op | src, k);

function program(insns: BpfInsn[]): BpfProgram {
  const v = verifyBpf(insns);
  if (!v.ok) throw new Error(`refused: ${v.reason} at ${v.pc}`);
  return v.value;
}

Deno.test("bpf verifier: each refusal, with its reason and instruction", () => {
  const long = Array.from({ length: BPF_MAXINSNS + 1 }, () => RET_K(0));
  const cases: [string, BpfInsn[], BpfReason, number][] = [
    ["no instruction", [], "bpf-empty", 0],
    ["4097 instructions", long, "bpf-too-long", BPF_MAXINSNS],
    ["code above 16 bits", [I(0x10000), RET_K(0)], "bpf-bad-field", 0],
    ["jt above 8 bits", [I(BPF.JMP | BPF.JEQ, 0, 256), RET_K(0)], "bpf-bad-field", 0],
    ["negative k", [LD_IMM(-1), RET_K(0)], "bpf-bad-field", 0],
    ["k not an integer", [LD_IMM(1.5), RET_K(0)], "bpf-bad-field", 0],
    ["unknown opcode (ret X)", [I(BPF.RET | BPF.X)], "bpf-bad-opcode", 0],
    ["unknown opcode (ld H len)", [I(BPF.LD | BPF.H | BPF.LEN), RET_K(0)], "bpf-bad-opcode", 0],
    ["unknown opcode (ALU op 0xb0)", [I(BPF.ALU | 0xb0), RET_K(0)], "bpf-bad-opcode", 0],
    ["unknown opcode (ldx H ind)", [I(BPF.LDX | BPF.H | BPF.IND), RET_K(0)], "bpf-bad-opcode", 0],
    ["division by constant 0", [ALU(BPF.DIV, BPF.K, 0), RET_A], "bpf-div-by-zero", 0],
    ["modulo by constant 0", [ALU(BPF.MOD, BPF.K, 0), RET_A], "bpf-div-by-zero", 0],
    ["left shift by 32", [ALU(BPF.LSH, BPF.K, 32), RET_A], "bpf-shift-too-far", 0],
    ["right shift by 40", [ALU(BPF.RSH, BPF.K, 40), RET_A], "bpf-shift-too-far", 0],
    ["store to M[16]", [I(BPF.ST, 16), RET_K(0)], "bpf-bad-mem-index", 0],
    ["stx to M[16]", [I(BPF.STX, 16), RET_K(0)], "bpf-bad-mem-index", 0],
    ["load from M[16]", [I(BPF.LD | BPF.MEM, 16), RET_K(0)], "bpf-bad-mem-index", 0],
    ["ldx from M[99]", [I(BPF.LDX | BPF.MEM, 99), RET_K(0)], "bpf-bad-mem-index", 0],
    [
      "load of a word never stored",
      [I(BPF.LD | BPF.MEM, 3), RET_A],
      "bpf-mem-read-before-write",
      0,
    ],
    [
      "load of a word stored on one path only",
      [
        I(BPF.JMP | BPF.JEQ | BPF.K, 0, 0, 1), // jt -> 1, jf -> 2
        I(BPF.ST, 5),
        I(BPF.LD | BPF.MEM, 5),
        RET_A,
      ],
      "bpf-mem-read-before-write",
      2,
    ],
    ["ja past the end", [I(BPF.JMP | BPF.JA, 1), RET_K(0)], "bpf-jump-out-of-range", 0],
    [
      "ja backwards (libpcap's protochain loop)",
      [RET_K(0), I(BPF.JMP | BPF.JA, 0xffff_fffe), RET_K(0)],
      "bpf-backward-jump",
      1,
    ],
    [
      "jt past the end",
      [I(BPF.JMP | BPF.JEQ | BPF.K, 0, 1, 0), RET_K(0)],
      "bpf-jump-out-of-range",
      0,
    ],
    [
      "jf past the end",
      [I(BPF.JMP | BPF.JGT | BPF.X, 0, 0, 5), RET_K(0)],
      "bpf-jump-out-of-range",
      0,
    ],
    ["last is not a ret", [RET_K(0), LD_IMM(1)], "bpf-last-not-ret", 1],
    [
      "ancillary load (SKF_AD_OFF + protocol)",
      [I(BPF.LD | BPF.H | BPF.ABS, 0xffff_f000), RET_A],
      "bpf-ancillary-load",
      0,
    ],
    [
      "ancillary load (SKF_LL_OFF)",
      [I(BPF.LD | BPF.B | BPF.ABS, 0xffe0_0000), RET_A],
      "bpf-ancillary-load",
      0,
    ],
  ];
  for (const [what, insns, reason, pc] of cases) {
    assertEquals(verifyBpf(insns), { ok: false, reason, pc }, what);
  }
  // The edges that pass: 4096 instructions, M[15], shift by 31, a jump to the last instruction.
  assert(verifyBpf(long.slice(1)).ok, "4096 instructions");
  assert(verifyBpf([I(BPF.ST, 15), I(BPF.LDX | BPF.MEM, 15), RET_K(1)]).ok, "M[15]");
  assert(verifyBpf([ALU(BPF.LSH, BPF.K, 31), RET_A]).ok, "shift by 31");
  assert(verifyBpf([I(BPF.JMP | BPF.JA, 1), RET_K(0), RET_K(1)]).ok, "ja to the last");
  assert(verifyBpf([I(BPF.LD | BPF.W | BPF.ABS, 0xffd_ffff), RET_A]).ok, "a far but plain offset");
});

Deno.test("bpf: a BpfProgram is made only by verifyBpf", () => {
  const Ctor = BpfProgram as unknown as new (...a: unknown[]) => BpfProgram;
  const loop = [I(BPF.JMP | BPF.JA, 0xffff_ffff), RET_K(0)];
  assertThrows(
    () =>
      new Ctor(
        Symbol("verified by verifyBpf"),
        loop,
        new Uint8Array(2),
        new Uint32Array(2),
        new Uint16Array(2),
        new Uint16Array(2),
      ),
    TypeError,
    "use verifyBpf",
  );
});

Deno.test("bpf run: loads past the end drop (0), never throw", () => {
  const frame = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const ld = (code: number, k: number, x = 0) =>
    program([LDX_IMM(x), I(code, k), ALU(BPF.OR, BPF.K, 0x1000), RET_A]).run(frame);
  assertEquals(ld(BPF.LD | BPF.W | BPF.ABS, 2), 0x03040506 | 0x1000);
  assertEquals(ld(BPF.LD | BPF.W | BPF.ABS, 3), 0, "word past the end");
  assertEquals(ld(BPF.LD | BPF.H | BPF.ABS, 4), 0x0506 | 0x1000);
  assertEquals(ld(BPF.LD | BPF.H | BPF.ABS, 5), 0);
  assertEquals(ld(BPF.LD | BPF.B | BPF.ABS, 5), 6 | 0x1000);
  assertEquals(ld(BPF.LD | BPF.B | BPF.ABS, 6), 0);
  assertEquals(ld(BPF.LD | BPF.B | BPF.ABS, 0xffd_ffff), 0);
  assertEquals(ld(BPF.LD | BPF.B | BPF.IND, 1, 4), 6 | 0x1000);
  assertEquals(ld(BPF.LD | BPF.B | BPF.IND, 2, 4), 0);
  assertEquals(ld(BPF.LD | BPF.W | BPF.IND, 0xffff_ffff, 1), 0, "x + k does not wrap");
  assertEquals(ld(BPF.LD | BPF.H | BPF.IND, 0, 0xffff_ffff), 0);
  const msh = program([I(BPF.LDX | BPF.B | BPF.MSH, 0), I(BPF.MISC | BPF.TXA), RET_A]);
  assertEquals(msh.run(new Uint8Array([0x45])), 20, "4 * (0x45 & 0xf)");
  assertEquals(msh.run(new Uint8Array(0)), 0);
  const len = program([I(BPF.LD | BPF.W | BPF.LEN), RET_A]);
  assertEquals(len.run(new Uint8Array(77)), 77);
});

Deno.test("bpf run: ALU edge cases (unsigned, wrap, division by X = 0 drops, shifts by X >= 32 give 0)", () => {
  const alu = (a: number, op: number, x: number) =>
    program([LD_IMM(a), LDX_IMM(x), ALU(op, BPF.X), ALU(BPF.OR, BPF.K, 0), RET_A]).run(
      new Uint8Array(1),
    );
  assertEquals(alu(0xffff_ffff, BPF.ADD, 2), 1);
  assertEquals(alu(1, BPF.SUB, 2), 0xffff_ffff);
  assertEquals(alu(0x1_0001, BPF.MUL, 0x1_0001), 0x0002_0001);
  assertEquals(alu(0xffff_ffff, BPF.DIV, 2), 0x7fff_ffff);
  assertEquals(alu(7, BPF.DIV, 0), 0, "division by X = 0 stops the program with 0");
  assertEquals(alu(0xffff_ffff, BPF.MOD, 10), 5);
  assertEquals(alu(7, BPF.MOD, 0), 0);
  assertEquals(alu(1, BPF.LSH, 31), 0x8000_0000);
  assertEquals(alu(1, BPF.LSH, 32), 0);
  assertEquals(alu(0x8000_0000, BPF.RSH, 31), 1);
  assertEquals(alu(0x8000_0000, BPF.RSH, 33), 0);
  assertEquals(alu(0xf0f0_f0f0, BPF.XOR, 0xffff_ffff), 0x0f0f_0f0f);
  assertEquals(alu(0xf0f0_f0f0, BPF.AND, 0x0ff0_0000), 0x00f0_0000);
  const neg = program([LD_IMM(1), I(BPF.ALU | BPF.NEG), RET_A]);
  assertEquals(neg.run(new Uint8Array(1)), 0xffff_ffff);
  // Unsigned comparison: 0x80000000 > 1.
  const gt = program([
    LD_IMM(0x8000_0000),
    I(BPF.JMP | BPF.JGT | BPF.K, 1, 0, 1),
    RET_K(1),
    RET_K(2),
  ]);
  assertEquals(gt.run(new Uint8Array(1)), 1);
});

Deno.test("bpf encode/decode: struct sock_filter bytes round-trip", () => {
  const insns = [
    I(BPF.LD | BPF.H | BPF.ABS, 12),
    I(BPF.JMP | BPF.JEQ | BPF.K, 0x806, 0, 1),
    RET_K(0x40000),
    RET_K(0),
  ];
  const bytes = encodeBpf(insns);
  assertEquals(bytes.length, 32);
  assertEquals(Array.from(bytes.subarray(0, 8)), [0x28, 0, 0, 0, 12, 0, 0, 0]);
  assertEquals(decodeBpf(bytes), insns);
  assertEquals(program(insns).insns, insns);
});

/** A seeded xorshift32 source. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const CODES = [
  0x20,
  0x28,
  0x30,
  0x40,
  0x48,
  0x50,
  0x80,
  0x00,
  0x60,
  0x81,
  0xb1,
  0x01,
  0x61,
  0x02,
  0x03,
  0x04,
  0x0c,
  0x14,
  0x1c,
  0x24,
  0x2c,
  0x34,
  0x3c,
  0x94,
  0x9c,
  0x54,
  0x5c,
  0x44,
  0x4c,
  0xa4,
  0xac,
  0x64,
  0x6c,
  0x74,
  0x7c,
  0x84,
  0x05,
  0x15,
  0x1d,
  0x25,
  0x2d,
  0x35,
  0x3d,
  0x45,
  0x4d,
  0x06,
  0x16,
  0x07,
  0x87,
];

/** A random program, mostly one the verifier accepts. */
function randomProgram(r: () => number): BpfInsn[] {
  const n = 2 + (r() % 40);
  const out: BpfInsn[] = [];
  const ks = [0, 1, 2, 4, 12, 14, 23, 31, 32, 33, 64, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];
  for (let pc = 0; pc < n - 1; pc++) {
    const code = CODES[r() % CODES.length];
    let k = r() % 3 === 0 ? r() >>> 0 : ks[r() % ks.length];
    const cls = code & 7;
    if (cls === BPF.ST || cls === BPF.STX || (code & 0xe0) === BPF.MEM) k = r() % 16;
    if ((code & 0xe0) === BPF.ABS && cls <= 1) k = r() % 80;
    if (code === 0x34 || code === 0x94) k = k || 3;
    if (code === 0x64 || code === 0x74) k = k % 32;
    const room = n - pc - 2;
    if (code === 0x05) k = room > 0 ? r() % (room + 1) : 0;
    const jt = cls === BPF.JMP ? r() % (room + 1) : 0;
    const jf = cls === BPF.JMP ? r() % (room + 1) : 0;
    out.push({ code, jt: Math.min(jt, 255), jf: Math.min(jf, 255), k });
  }
  out.push(r() % 2 ? RET_A : RET_K(r() % 3 === 0 ? 0 : r() >>> 0));
  // Stores first, so most programs pass the load-before-store rule.
  return [...Array.from({ length: 16 }, (_, i) => I(BPF.ST, i)), ...out];
}

Deno.test("bpf run vs libpcap's pcap_offline_filter: random verified programs, random frames, same value; nothing throws", () => {
  const r = rng(0xbadc0de);
  let accepted = 0;
  let nonZero = 0;
  for (let p = 0; p < 2000; p++) {
    const insns = randomProgram(r);
    const v = verifyBpf(insns);
    if (!v.ok) continue;
    accepted++;
    const ref = new ReferenceFilter(insns);
    for (let f = 0; f < 20; f++) {
      const frame = new Uint8Array(r() % 100);
      for (let i = 0; i < frame.length; i++) frame[i] = r() & 0xff;
      const ours = v.value.run(frame);
      assertEquals(ours, ref.run(frame), `program ${JSON.stringify(insns)} frame ${frame}`);
      if (ours !== 0) nonZero++;
    }
  }
  assert(accepted > 1000, `only ${accepted} of 2000 random programs verified`);
  assert(nonZero > 5000, `only ${nonZero} runs accepted`);
});
