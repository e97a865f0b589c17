/**
 * `l2`: Layer-2 networking tool. This file only parses the command line and
 * dispatches to one `cmd/*.ts` module.
 *
 * @module
 */
import { or } from "@optique/core";
import { run } from "@optique/run";
import { message } from "@optique/core/message";
// The daemons' command lines come from their *_config.ts; their code (ffi,
// the engines, the kit's loop) is imported when one runs, so `l2 status
// --health` (keepalived runs it every 2 s), `l2 --version` or a shell
// completion does not load and compile every daemon. The small tools are
// imported whole.
import { matCommand, runMat } from "./cmd/mat.ts";
import { supernodeCommand } from "./cmd/supernode_config.ts";
import { nodeCommand } from "./cmd/node_config.ts";
import { lasCommand } from "./cmd/las_config.ts";
import { runStatus, statusCommand } from "./cmd/status.ts";
import { xconnectCommand } from "./cmd/xconnect_config.ts";
import { demoCommand } from "./cmd/demo.ts";
import { keygenCommand, runKeygen } from "./cmd/keygen.ts";
import { captureCommand, runCapture } from "./cmd/capture.ts";
import { EXIT_USAGE } from "./cmd/kit/exit.ts";
import { EXIT_CODES, modernArgs, preflight, type Subcommand } from "./cmd/kit/cli.ts";
import { versionLine } from "./cmd/kit/version.ts";

const subcommands: Subcommand[] = [
  { name: "demo", parser: demoCommand },
  { name: "supernode", parser: supernodeCommand },
  { name: "node", parser: nodeCommand },
  { name: "las", parser: lasCommand },
  { name: "xconnect", parser: xconnectCommand },
  { name: "status", parser: statusCommand },
  { name: "capture", parser: captureCommand },
  { name: "keygen", parser: keygenCommand },
  { name: "mat", parser: matCommand },
];

// Bare `l2`, an unknown subcommand, or a mistake inside one: answered about
// that subcommand (its usage, a flag suggested for a misspelt flag), exit 2.
// Older spellings (`--udp yes`) rewritten, with a note on what to write now.
const modern = modernArgs(Deno.args);
for (const n of modern.notes) console.error(n);
const refused = preflight(modern.argv, subcommands);
if (refused) {
  console.error(refused.text);
  Deno.exit(refused.code);
}

const args = run(
  or(
    demoCommand,
    supernodeCommand,
    nodeCommand,
    lasCommand,
    xconnectCommand,
    statusCommand,
    captureCommand,
    keygenCommand,
    matCommand,
  ),
  {
    programName: "l2",
    help: "both",
    version: versionLine(),
    completion: "both",
    errorExitCode: EXIT_USAGE,
    brief:
      message`l2: a peer-to-peer Ethernet VPN with MAC address translation, and an L2TPv3 access switch for Cisco xconnect.`,
    footer: EXIT_CODES,
    args: modern.argv,
  },
);

switch (args.cmd) {
  case "demo":
    Deno.exit(await (await import("./cmd/demo.ts")).runDemo(args));
    break;
  case "supernode":
    Deno.exit(await (await import("./cmd/supernode.ts")).runSupernode(args));
    break;
  case "node":
    Deno.exit(await (await import("./cmd/node.ts")).runNode(args));
    break;
  case "las":
    Deno.exit(await (await import("./cmd/las.ts")).runLas(args));
    break;
  case "xconnect":
    Deno.exit(await (await import("./cmd/xconnect.ts")).runXconnect(args));
    break;
  case "keygen":
    Deno.exit(await runKeygen(args));
    break;
  case "status":
    Deno.exit(await runStatus(args));
    break;
  case "capture":
    Deno.exit(await runCapture(args));
    break;
  case "mat-decode":
  case "mat-encode":
    Deno.exit(await runMat(args));
}
