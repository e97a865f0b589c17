/**
 * A supernode and two nodes in namespaces the caller made (addresses on
 * their `up0` already), started from `main` (this tree, or an extracted
 * revision for a baseline), registered, pinging over the overlay and on a
 * direct path. Shared by the offload test and `bench:vpn`.
 *
 * Overlay addresses: 10.99.0.11 (first node), 10.99.0.12 (second), TAP
 * `v0`; every daemon's API on 127.0.0.1:`api` in its own namespace.
 *
 * @module
 */
import { type Lab, waitFor } from "./netns.ts";
import { Daemon, runL2 } from "./l2proc.ts";
import { toBase64, writeNewKeyFile } from "../../cmd/keygen.ts";

const wrap = (ns: string) => ["ip", "netns", "exec", ns];

/** Options of `startVpnPair`. */
export interface VpnPairOptions {
  main: string;
  /** State and config directory (created). */
  dir: string;
  sn: string;
  nodes: [string, string];
  /** The supernode's underlay address. */
  snAddr: string;
  api: number;
  /** Daemons started are pushed here (the caller closes them). */
  daemons: Daemon[];
  /** With the security layer (keys, members); false: a revision without it. */
  secure?: boolean;
  /** `offload` for both nodes; undefined: the node's default (and nothing a baseline rejects). */
  offload?: boolean;
  /** Label for wait messages. */
  label?: string;
}

/** `l2 status --json` of the daemon in `ns` ({} when it does not answer). */
export async function vpnStatus(ns: string, api: number) {
  const r = await runL2(["status", "--api", `127.0.0.1:${api}`, "--json"], { wrap: wrap(ns) });
  return JSON.parse(r.stdout || "{}");
}

/** Starts the three daemons and waits for a direct, pinging pair. */
export async function startVpnPair(lab: Lab, o: VpnPairOptions): Promise<void> {
  const secure = o.secure ?? true;
  const label = o.label ?? "vpn";
  await Deno.mkdir(o.dir, { recursive: true, mode: 0o700 });
  let snKey = "";
  const snArgs = ["supernode", "--listen", "0.0.0.0:7654", "--api", `127.0.0.1:${o.api}`];
  if (secure) {
    const keys: string[] = [];
    for (const d of ["sn", "n0", "n1"]) {
      await Deno.mkdir(`${o.dir}/${d}`, { mode: 0o700 });
      keys.push(
        toBase64(writeNewKeyFile(`${o.dir}/${d}/${d === "sn" ? "supernode" : "node"}.key`)),
      );
    }
    snKey = keys[0];
    await Deno.writeTextFile(
      `${o.dir}/sn.yaml`,
      `supernode:\n  default:\n    state_dir: ${o.dir}/sn\n    members: [${keys[1]}, ${keys[2]}]\n`,
    );
    snArgs.push("--config", `${o.dir}/sn.yaml`);
  }
  const snd = new Daemon(o.main, snArgs, {}, wrap(o.sn));
  o.daemons.push(snd);
  await snd.waitLine(/listening on UDP/, 15_000);
  for (const [i, ns] of o.nodes.entries()) {
    const cfg = `${o.dir}/n${i}.yaml`;
    await Deno.writeTextFile(
      cfg,
      `node:\n  default:\n    state_dir: ${o.dir}/n${i}\n` +
        (secure ? `    supernode_key: "${snKey}"\n` : "") +
        (o.offload !== undefined ? `    offload: ${o.offload}\n` : ""),
    );
    const d = new Daemon(
      o.main,
      [
        "node",
        "--config",
        cfg,
        "--supernode",
        `${o.snAddr}:7654`,
        "--tap",
        "v0",
        "--address",
        `10.99.0.1${i + 1}/24`,
        "--api",
        `127.0.0.1:${o.api}`,
      ],
      {},
      wrap(ns),
    );
    o.daemons.push(d);
    await d.waitLine(/registered as node/, 20_000);
  }
  const [n1] = o.nodes;
  await waitFor(
    async () =>
      (await lab.exec(n1, ["ping", "-c", "1", "-W", "1", "10.99.0.12"], { allowFail: true }))
        .code === 0,
    20_000,
    `${label} overlay`,
    200,
  );
  await waitFor(
    async () => (await vpnStatus(n1, o.api)).peers?.[0]?.path === "direct",
    20_000,
    `${label} direct path`,
    250,
  );
}
