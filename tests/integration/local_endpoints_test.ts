/**
 * Hole punching never offers the VPN's own addresses (issue 16): the
 * node's local endpoints, read in a namespace of this test's own (`l2t-lep-*`,
 * devices `lept0`, `lepbr`, `lepd0`/`lepd1`), leave out the TAP's addresses, those
 * of the bridge the TAP is a port of, and any address inside their prefixes
 * or the configured ones, whatever interface carries it.
 */
import { assertEquals } from "../assert.ts";
import { pickLocalEndpoints } from "../../cmd/vpn_host.ts";
import { formatEndpoint, parseIp } from "../../core/addr.ts";

async function sh(...argv: string[]): Promise<string> {
  const r = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

const HOST = new URL("../../cmd/vpn_host.ts", import.meta.url).href;
const ADDR = new URL("../../core/addr.ts", import.meta.url).href;

Deno.test("local endpoints: the TAP's, its bridge's and the VPN prefixes' addresses are left out", async () => {
  assertEquals(Deno.uid(), 0, "this test needs root (it creates a network namespace)");
  const ns = `l2t-lep-${Deno.pid}`;
  await sh("ip", "netns", "add", ns);
  try {
    const ip = (...a: string[]) => sh("ip", "-n", ns, ...a);
    await ip("link", "set", "lo", "up");
    // The TAP (as the node leaves it: addresses configured, up), a port of a bridge
    // that carries the VPN's LAN address.
    await ip("tuntap", "add", "lept0", "mode", "tap");
    await ip("addr", "add", "10.78.0.1/24", "dev", "lept0");
    await ip("link", "add", "lepbr", "type", "bridge");
    await ip("link", "set", "lept0", "master", "lepbr");
    await ip("addr", "add", "10.77.0.1/24", "dev", "lepbr");
    // The underlay, plus a stray address inside the VPN's LAN prefix on it.
    await ip("link", "add", "lepd0", "type", "veth", "peer", "name", "lepd1");
    await ip("addr", "add", "192.0.2.10/24", "dev", "lepd0");
    await ip("addr", "add", "10.77.0.9/32", "dev", "lepd0");
    await ip("addr", "add", "10.79.0.5/32", "dev", "lepd0");
    for (const d of ["lept0", "lepbr", "lepd0"]) await ip("link", "set", d, "up");
    const script = `import { localEndpoints } from ${JSON.stringify(HOST)};
      import { formatEndpoint, parseIp } from ${JSON.stringify(ADDR)};
      const b = parseIp("::");
      if (!b.ok) throw new Error("::");
      const cfg = [{ address: "10.79.0.1", prefix: 16 }];
      console.log(JSON.stringify(localEndpoints("lept0", cfg, b.value, 5000).map(formatEndpoint)));`;
    const out = await sh("ip", "netns", "exec", ns, Deno.execPath(), "eval", "--quiet", script);
    assertEquals(JSON.parse(out), ["192.0.2.10:5000"]);
  } finally {
    await new Deno.Command("ip", { args: ["netns", "del", ns] }).output();
  }
});

Deno.test("local endpoints: family of the bound socket, at most four, loopback and link-local out", () => {
  const ifs = [
    { name: "lo", address: "127.0.0.1", cidr: "127.0.0.1/8" },
    { name: "eth0", address: "fe80::1", cidr: "fe80::1/64" },
    { name: "eth0", address: "2001:db8::5", cidr: "2001:db8::5/64" },
    { name: "tap", address: "fd00::1", cidr: "fd00::1/64" },
    { name: "eth1", address: "fd00::7", cidr: "fd00::7/128" },
    ...[1, 2, 3, 4, 5].map((i) => ({
      name: `eth${i + 1}`,
      address: `198.51.100.${i}`,
      cidr: `198.51.100.${i}/32`,
    })),
  ];
  const ip = (t: string) => {
    const r = parseIp(t);
    if (!r.ok) throw new Error(t);
    return r.value;
  };
  const pick = (bound: string) =>
    pickLocalEndpoints(ifs, { tap: "tap", master: null, prefixes: [], bound: ip(bound), port: 9 })
      .map(formatEndpoint);
  assertEquals(pick("::"), [
    "[2001:db8::5]:9",
    "198.51.100.1:9",
    "198.51.100.2:9",
    "198.51.100.3:9",
  ]);
  assertEquals(pick("0.0.0.0").length, 4);
  assertEquals(pick("2001:db8::5"), ["[2001:db8::5]:9"]);
});
