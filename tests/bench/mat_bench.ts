/**
 * MAT throughput: one iteration is an egress and an ingress of the same
 * captured frame (two translations), with the Ethernet addresses reset in
 * between as a real VPN path would present them. Translations/s = 2 x the
 * iterations/s that `deno bench` prints.
 *
 * Run: deno bench -A tests/bench/mat_bench.ts
 */
import { loadFrame } from "../fixtures/frames/load.ts";
import type { LeafMap } from "../../core/leaf_map.ts";
import { type MacKey, matAddress, writeMac } from "../../core/mac.ts";
import { MatTranslator } from "../../core/mat.ts";

class MapLeaves implements LeafMap {
  private readonly byReal = new Map<MacKey, number>();
  private readonly byLeaf: MacKey[] = [0];
  leafFor(real: MacKey, _now: number): number {
    let l = this.byReal.get(real);
    if (l === undefined) {
      l = this.byLeaf.length;
      this.byLeaf.push(real);
      this.byReal.set(real, l);
    }
    return l;
  }
  realFor(leaf: number): MacKey | -1 {
    return leaf > 0 && leaf < this.byLeaf.length ? this.byLeaf[leaf] : -1;
  }
}

const REMOTE = matAddress(1, 7, 3);
const HOST_A = 0x02_00_00_00_0a_01;
const HOST_B = 0x02_00_00_00_0b_02;

function setup(name: "arp_request" | "ndp_ns" | "ipv4_icmp_echo") {
  const leaves = new MapLeaves();
  const mat = new MatTranslator({ supernode: 1, node: 2, tapMac: 0x02_aa_00_00_00_01, leaves });
  leaves.leafFor(HOST_A, 0);
  const bLeaf = leaves.leafFor(HOST_B, 0);
  const frame = loadFrame(name);
  const dst = name === "ipv4_icmp_echo" ? mat.prefix + bLeaf : -1;
  return { mat, frame, dst };
}

function run(name: "arp_request" | "ndp_ns" | "ipv4_icmp_echo") {
  const { mat, frame, dst } = setup(name);
  let now = 0;
  return () => {
    if (dst >= 0) writeMac(frame, 0, dst);
    if (mat.egress(frame, now) !== "forward") throw new Error("egress dropped");
    writeMac(frame, 6, REMOTE);
    if (mat.ingress(frame, now) !== "forward") throw new Error("ingress dropped");
    writeMac(frame, 6, HOST_A);
    now++;
  };
}

Deno.bench("MAT egress+ingress: ARP request (SHA, THA)", { group: "mat" }, run("arp_request"));
Deno.bench(
  "MAT egress+ingress: NDP NS with SLLA (ICMPv6 checksum patch)",
  { group: "mat" },
  run("ndp_ns"),
);
Deno.bench("MAT egress+ingress: plain IPv4 ICMP echo", { group: "mat" }, run("ipv4_icmp_echo"));
