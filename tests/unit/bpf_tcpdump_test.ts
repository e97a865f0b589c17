/**
 * core/bpf.ts against libpcap and tcpdump: for a list of tcpdump
 * expressions, the program libpcap compiles (ffi/pcap.ts) is run by our
 * interpreter over real captured frames (tests/fixtures/captures, the golden
 * frames of tests/fixtures/frames) and frames built here, and its verdict per
 * frame must equal tcpdump's own (`tcpdump -r FILE -w - EXPR` on the very
 * files) and libpcap's `pcap_offline_filter` (tests/lab/pcap_ref.ts) on seeded random
 * mutations. Also: what ffi/pcap.ts compiles is what `tcpdump -ddd` prints.
 */
import { assert, assertEquals } from "../assert.ts";
import { type BpfInsn, type BpfProgram, verifyBpf } from "../../core/bpf.ts";
import { compileFilter, DEFAULT_SNAPLEN } from "../../ffi/pcap.ts";
import { readCapture } from "../lab/pcap.ts";
import { FRAME_NAMES, loadFrame } from "../fixtures/frames/load.ts";
import { ReferenceFilter } from "../lab/pcap_ref.ts";
import {
  dhcp4,
  DHCP_TYPE,
  ether,
  ext6,
  F,
  frag6,
  icmp6,
  ipv4,
  ipv6,
  tcp,
  udp,
  withTag,
  writePcap,
} from "../lab/frame_build.ts";

/** The expressions; each must compile, verify, and agree with tcpdump on every frame. */
const EXPRESSIONS = [
  "tcp port 80",
  "tcp dst port 5201",
  "port 53",
  "udp port 67 or udp port 68",
  "host 10.115.0.1",
  "src host 10.77.0.1 and dst host 10.77.0.2",
  "net 10.0.0.0/8",
  "ip proto 115",
  "vlan",
  "vlan 100",
  "vlan 100 and ip",
  "ip6",
  "icmp6",
  "icmp6 and ip6[40] == 134",
  "icmp6[icmp6type] == icmp6-routeradvert",
  "ip6 src net fe80::/10",
  "ether broadcast",
  "ether multicast",
  "ether proto 0x0806",
  "arp",
  "ether src 02:00:00:00:0a:01",
  "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
  "tcp[tcpflags] & tcp-rst != 0",
  "greater 200",
  "less 64",
  "len > 1000",
  "ip[6:2] & 0x3fff != 0",
  "udp dst port 5353 and (ip multicast or ip6 multicast)",
  "stp",
  "not ip and not ip6 and not arp",
  "tcp and (port 22 or portrange 8000-8100)",
  "ip[8] % 3 == 1 and ip[2:2] / 4 > 10",
];

const CAPTURES = [
  "freertr-two-edges-pw5-ip115.pcap",
  "freertr-edge-pw4-vlan-ip115.pcap",
  "xcesp-edge-udp1701-sccrq-retransmit.pcap",
];

function capturePath(name: string): string {
  return new URL(`../fixtures/captures/${name}`, import.meta.url).pathname;
}

/** Ethernet frames of a capture file, in order (cisco-sccrq.pcap is raw IP: not used). */
function captureFrames(name: string): Uint8Array[] {
  const pkts = readCapture(Deno.readFileSync(capturePath(name)));
  assert(pkts.every((p) => p.linkType === 1), `${name}: Ethernet only`);
  return pkts.map((p) => p.data);
}

const A = "02:00:00:00:0a:01";
const B = "02:00:00:00:0b:02";
const BCAST = "ff:ff:ff:ff:ff:ff";
const Q = (vid: number) => ({ tpid: 0x8100, vid });
const S = (vid: number) => ({ tpid: 0x88a8, vid });

/** Frames built here: what the captures lack (tags, flags, fragments, RAs behind headers, runts). */
function builtFrames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const v4 = (proto: number, p: Uint8Array, o = {}) =>
    ether(B, A, 0x0800, ipv4(proto, "10.77.0.1", "10.77.0.2", p, o));
  const v6 = (nh: number, p: Uint8Array, src = "fd77::1", dst = "fd77::2") =>
    ether(B, A, 0x86dd, ipv6(nh, src, dst, p));
  for (const flags of [F.SYN, F.SYN | F.ACK, F.ACK, F.FIN | F.ACK, F.RST, F.PSH | F.ACK, F.URG]) {
    for (const port of [22, 80, 443, 5201, 8080, 8100, 8101]) {
      out.push(v4(6, tcp(40000, port, flags)));
      out.push(v6(6, tcp(port, 40000, flags)));
    }
  }
  out.push(v4(6, tcp(1234, 80, F.ACK, new Uint8Array(1200)))); // long
  out.push(v4(17, udp(53, 5353, new Uint8Array(20))));
  out.push(v4(17, udp(40000, 53, new Uint8Array(30))));
  // DHCP: a server's OFFER to broadcast, a client's DISCOVER, a relay's request.
  out.push(
    ether(
      BCAST,
      A,
      0x0800,
      ipv4(17, "10.0.0.9", "255.255.255.255", udp(67, 68, dhcp4(2, DHCP_TYPE.OFFER))),
    ),
  );
  out.push(
    ether(
      BCAST,
      B,
      0x0800,
      ipv4(17, "0.0.0.0", "255.255.255.255", udp(68, 67, dhcp4(1, DHCP_TYPE.DISCOVER))),
    ),
  );
  out.push(v4(17, udp(67, 67, dhcp4(1, DHCP_TYPE.REQUEST))));
  // Fragments: a first fragment of UDP 53, a later one.
  out.push(v4(17, udp(40000, 53, new Uint8Array(40)), { more: true }));
  out.push(v4(17, new Uint8Array(40), { frag: 185 }));
  // Discovery multicast, v4 and v6.
  out.push(
    ether(
      "01:00:5e:00:00:fb",
      A,
      0x0800,
      ipv4(17, "10.77.0.1", "224.0.0.251", udp(5353, 5353, new Uint8Array(40))),
    ),
  );
  out.push(
    ether(
      "33:33:00:00:00:fb",
      A,
      0x86dd,
      ipv6(17, "fe80::1", "ff02::fb", udp(5353, 5353, new Uint8Array(40))),
    ),
  );
  out.push(
    ether(
      "01:00:5e:7f:ff:fa",
      A,
      0x0800,
      ipv4(17, "10.77.0.1", "239.255.255.250", udp(50000, 1900, new Uint8Array(90))),
    ),
  );
  // ICMPv6: types, RA plain, behind Hop-by-Hop, behind Dest Opts, in a fragment.
  for (const t of [128, 129, 133, 134, 135, 136, 137]) {
    out.push(v6(58, icmp6(t), "fe80::1", "ff02::1"));
  }
  out.push(v6(0, new Uint8Array([...ext6(58), ...icmp6(134)]), "fe80::1", "ff02::1"));
  out.push(v6(60, new Uint8Array([...ext6(58, 14), ...icmp6(134)]), "fe80::1", "ff02::1"));
  out.push(v6(44, new Uint8Array([...frag6(58, 0, true), ...icmp6(134)]), "fe80::1", "ff02::1"));
  out.push(v6(17, udp(546, 547, new Uint8Array(30)), "fe80::2", "ff02::1:2"));
  // ARP-like and odd EtherTypes, 802.3 length, broadcast and multicast destinations.
  out.push(ether(BCAST, A, 0x0806, new Uint8Array(28)));
  out.push(
    ether("01:80:c2:00:00:00", A, 38, new Uint8Array([0x42, 0x42, 0x03, ...new Array(35).fill(0)])),
  );
  out.push(ether("01:00:0c:cc:cc:cd", A, 0x88cc, new Uint8Array(40)));
  out.push(ether(B, A, 0x8847, new Uint8Array(40))); // MPLS
  return out;
}

/** Tagged copies (802.1Q vid 100 and 200, QinQ) and truncations of frames, and runts. */
function variants(frames: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of frames) {
    out.push(withTag(f, Q(100)));
    out.push(withTag(f, Q(200)));
    out.push(withTag(withTag(f, Q(100)), S(7)));
  }
  for (const f of frames.slice(0, 40)) {
    for (const cut of [13, 14, 20, 23, 34, 38, 40, 54, 55]) {
      if (cut < f.length) out.push(f.slice(0, cut));
    }
  }
  for (let n = 0; n < 14; n++) out.push(new Uint8Array(n).fill(0xff));
  return out;
}

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

/** Copies of `frames` with a few bytes changed in the first 80 (headers) by a seeded source. */
function mutations(frames: readonly Uint8Array[], count: number, seed: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const f = frames[r() % frames.length].slice();
    const flips = 1 + (r() % 4);
    for (let j = 0; j < flips && f.length > 0; j++) f[r() % Math.min(f.length, 80)] = r() & 0xff;
    out.push(r() % 8 === 0 ? f.subarray(0, r() % (f.length + 1)) : f);
  }
  return out;
}

function compile(expr: string): { insns: BpfInsn[]; program: BpfProgram } {
  const insns = compileFilter(expr);
  const v = verifyBpf(insns);
  if (!v.ok) {
    throw new Error(`${expr}: our verifier refused libpcap's program: ${v.reason} at ${v.pc}`);
  }
  return { insns, program: v.value };
}

async function tcpdump(args: string[]): Promise<Uint8Array> {
  const r = await new Deno.Command("tcpdump", { args, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`tcpdump ${args.join(" ")} failed: ${new TextDecoder().decode(r.stderr)}`);
  }
  return r.stdout;
}

function hasTcpdump(): boolean {
  const r = new Deno.Command("sh", { args: ["-c", "command -v tcpdump"] }).outputSync();
  return r.success;
}

const key = (f: Uint8Array) => Array.from(f, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("bpf vs tcpdump: every expression's verdict per frame equals tcpdump's, on the captures and on built frames", async () => {
  assert(hasTcpdump(), "tcpdump is required for this test (apt-get install tcpdump)");
  const dir = await Deno.makeTempDir({ prefix: "l2t-bpf-" });
  try {
    const golden = FRAME_NAMES.map((n) => loadFrame(n));
    const built = builtFrames();
    const base = [...golden, ...built];
    const synthetic = [...base, ...variants(base), ...mutations(base, 300, 0xb0f)];
    const synthFile = `${dir}/built.pcap`;
    await Deno.writeFile(synthFile, writePcap(synthetic));
    const files: [string, Uint8Array[]][] = [
      ...CAPTURES.map((c): [string, Uint8Array[]] => [capturePath(c), captureFrames(c)]),
      [synthFile, synthetic],
    ];
    let compared = 0;
    const matchedSomewhere = new Set<string>();
    const missedSomewhere = new Set<string>();
    for (const expr of EXPRESSIONS) {
      const { program } = compile(expr);
      for (const [file, frames] of files) {
        const ours = frames.filter((f) => program.run(f) !== 0);
        const theirs = readCapture(await tcpdump(["-r", file, "-w", "-", expr])).map((p) => p.data);
        assertEquals(
          ours.map(key),
          theirs.map(key),
          `${expr} on ${file}: ${ours.length} frames matched here, ${theirs.length} by tcpdump`,
        );
        if (ours.length > 0) matchedSomewhere.add(expr);
        if (ours.length < frames.length) missedSomewhere.add(expr);
        compared += frames.length;
      }
    }
    // No expression may be vacuous on this corpus: each matches some frame and misses some.
    assertEquals(
      EXPRESSIONS.filter((e) => !matchedSomewhere.has(e)),
      [],
      "expressions matching nothing",
    );
    assertEquals(
      EXPRESSIONS.filter((e) => !missedSomewhere.has(e)),
      [],
      "expressions matching everything",
    );
    assert(compared > 10_000, `compared ${compared} verdicts`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bpf vs libpcap's pcap_offline_filter: same return value on seeded random frames, for every expression", () => {
  const base = [
    ...FRAME_NAMES.map((n) => loadFrame(n)),
    ...builtFrames(),
    ...CAPTURES.flatMap(captureFrames),
  ];
  const frames = [...base, ...mutations(base, 3000, 0x5eed)];
  const r = rng(77);
  for (let i = 0; i < 500; i++) {
    const n = r() % 200;
    const f = new Uint8Array(n);
    for (let j = 0; j < n; j++) f[j] = r() & 0xff;
    if (n > 14 && i % 2 === 0) f.set([0x08, 0x00, 0x45], 12); // random IPv4 behind a header
    if (n > 14 && i % 5 === 0) f.set([0x86, 0xdd, 0x60], 12);
    frames.push(f);
  }
  for (const expr of EXPRESSIONS) {
    const { insns, program } = compile(expr);
    const ref = new ReferenceFilter(insns);
    for (const f of frames) {
      const theirs = ref.run(f);
      assertEquals(program.run(f), theirs, `${expr} on ${key(f)}`);
    }
  }
});

Deno.test("ffi/pcap: the program compiled through FFI is the one tcpdump -ddd prints", async () => {
  assert(hasTcpdump(), "tcpdump is required for this test (apt-get install tcpdump)");
  const dir = await Deno.makeTempDir({ prefix: "l2t-bpf-" });
  try {
    const file = `${dir}/empty.pcap`;
    await Deno.writeFile(file, writePcap([])); // link type Ethernet, snaplen 262144
    for (const expr of EXPRESSIONS.slice(0, 12)) {
      const text = new TextDecoder().decode(await tcpdump(["-r", file, "-ddd", expr]));
      const [count, ...lines] = text.trim().split("\n");
      const theirs = lines.map((l) => {
        const [code, jt, jf, k] = l.trim().split(/\s+/).map(Number);
        return { code, jt, jf, k };
      });
      assertEquals(Number(count), theirs.length);
      assertEquals(compileFilter(expr), theirs, expr);
    }
    assertEquals(compileFilter("arp").at(-2)?.k, DEFAULT_SNAPLEN, "accept returns the snaplen");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
