/**
 * `l2 mat decode|encode`: the MAT address tool.
 *
 * decode: MAC addresses from the arguments, or from standard input one per
 * line (`-` or no argument), to supernode/node/leaf ids. Text output is one
 * line per address; `--json` prints one JSON object per line (JSON Lines), so
 * a single address gives a single object. A bad address prints its reason and
 * makes the exit code 2, but the other addresses are still decoded.
 *
 * encode: ids to the address, in the chosen spelling.
 *
 * @module
 */
import { argument, command, constant, object, option, or, withDefault } from "@optique/core";
import { multiple } from "@optique/core";
import { choice, integer, string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import {
  formatMac,
  type MacStyle,
  matDecode,
  matEncode,
  matNodePrefix,
  parseMac,
} from "../core/mac.ts";
import { EXIT_OK, EXIT_USAGE } from "./kit/exit.ts";
import { examples, prose } from "./kit/cli.ts";

const STYLES = ["colon", "dash", "dotted", "plain"] as const;

const decodeParser = command(
  "decode",
  object({
    cmd: constant("mat-decode" as const),
    addresses: multiple(argument(string({ metavar: "MAC" }), {
      description: message`a MAT address; none or -: read one per line from standard input`,
    })),
    json: option("--json", { description: message`one JSON object per address (JSON Lines)` }),
  }),
  {
    brief: message`Split MAT addresses into supernode, node and leaf ids`,
    description: prose`Reads the addresses given, or one per line from standard input when none
      (or -) is given. Accepts 00:01:00:02:00:05, 00-01-00-02-00-05, 0001.0002.0005 and
      000100020005, any case.`,
    footer: examples([
      ["which supernode, node and leaf an address belongs to", "l2 mat decode 00:01:00:02:00:05"],
      [
        "every MAT source address in a capture, one JSON object each",
        "tcpdump -enr cap.pcap | grep -o '00:..:..:..:..:..' | l2 mat decode --json",
      ],
    ]),
  },
);

const encodeParser = command(
  "encode",
  object({
    cmd: constant("mat-encode" as const),
    supernode: option("--supernode", integer({ min: 0, max: 255, metavar: "ID" }), {
      description: message`supernode id, 0..255`,
    }),
    node: option("--node", integer({ min: 0, max: 65535, metavar: "ID" }), {
      description: message`node id, 0..65535`,
    }),
    leaf: withDefault(
      option("--leaf", integer({ min: 0, max: 65535, metavar: "ID" }), {
        description: message`leaf id, 0..65535 (0, the default, is the node's own address)`,
      }),
      0,
    ),
    style: withDefault(
      option("--style", choice(STYLES, { metavar: "STYLE" }), {
        description: message`colon (default), dash, dotted (Cisco) or plain`,
      }),
      "colon" as const,
    ),
    json: option("--json", { description: message`print a JSON object` }),
  }),
  {
    brief: message`Build the MAT address of a supernode, node and leaf id`,
    footer: examples([
      [
        "the address of leaf 5 behind node 2 of supernode 1",
        "l2 mat encode --supernode 1 --node 2 --leaf 5",
      ],
      [
        "the same, as a Cisco switch prints it",
        "l2 mat encode --supernode 1 --node 2 --leaf 5 --style dotted",
      ],
    ]),
  },
);

/** The `l2 mat` command line. */
export const matCommand = command("mat", or(decodeParser, encodeParser), {
  brief: message`MAT address tool: decode and encode 00:AA:BB:BB:CC:CC addresses`,
  footer: examples([
    ["split an address into supernode, node and leaf ids", "l2 mat decode 00:01:00:02:00:05"],
    ["build one", "l2 mat encode --supernode 1 --node 2 --leaf 5"],
  ]),
});

/** Parsed `l2 mat ...` arguments. */
export type MatArgs =
  | { cmd: "mat-decode"; addresses: readonly string[]; json: boolean }
  | {
    cmd: "mat-encode";
    supernode: number;
    node: number;
    leaf: number;
    style: MacStyle;
    json: boolean;
  };

/** One decoded line, as text or JSON. */
export type DecodeLine =
  | { ok: true; text: string; json: Record<string, unknown> }
  | { ok: false; text: string; json: Record<string, unknown> };

/**
 * Decodes one address to its output line. Pure, so tests and the CLI agree.
 *
 * @example
 * ```ts
 * import { decodeLine } from "./mat.ts";
 * decodeLine("00:01:00:02:00:05").text;
 * // "00:01:00:02:00:05  supernode 1  node 2  leaf 5  node prefix 00:01:00:02:00:00/32"
 * ```
 */
export function decodeLine(input: string): DecodeLine {
  const parsed = parseMac(input);
  if (!parsed.ok) {
    return {
      ok: false,
      text: `${input.trim()}: cannot parse MAC address: ${parsed.reason}`,
      json: { input: input.trim(), error: `cannot parse MAC address: ${parsed.reason}` },
    };
  }
  const mac = formatMac(parsed.value);
  const mat = matDecode(parsed.value);
  if (!mat.ok) {
    return {
      ok: false,
      text: `${mac}: ${mat.reason}`,
      json: { input: input.trim(), mac, error: mat.reason },
    };
  }
  const { supernode, node, leaf } = mat.value;
  const prefix = `${formatMac(matNodePrefix(parsed.value))}/32`;
  const leafNote = leaf === 0 ? " (the node's own address)" : "";
  return {
    ok: true,
    text: `${mac}  supernode ${supernode}  node ${node}  leaf ${leaf}${leafNote}  ` +
      `node prefix ${prefix}`,
    json: { input: input.trim(), mac, supernode, node, leaf, node_prefix: prefix },
  };
}

async function readStdinLines(): Promise<string[]> {
  const text = await new Response(Deno.stdin.readable).text();
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

/** Runs `l2 mat ...`; returns the exit code. */
export async function runMat(args: MatArgs): Promise<number> {
  if (args.cmd === "mat-encode") {
    const r = matEncode(args);
    if (!r.ok) {
      console.error(`l2 mat encode: ${r.reason}`);
      return EXIT_USAGE;
    }
    const mac = formatMac(r.value, args.style);
    if (args.json) {
      const { supernode, node, leaf } = args;
      console.log(JSON.stringify({ mac, supernode, node, leaf }));
    } else {
      console.log(mac);
    }
    return EXIT_OK;
  }
  let inputs = [...args.addresses];
  if (inputs.length === 0 || (inputs.length === 1 && inputs[0] === "-")) {
    if (inputs.length === 0 && Deno.stdin.isTerminal()) {
      console.error(
        "l2 mat decode: give one or more MAC addresses, or pipe them in one per line",
      );
      return EXIT_USAGE;
    }
    inputs = await readStdinLines();
  }
  let code = EXIT_OK;
  for (const input of inputs) {
    const line = decodeLine(input);
    if (!line.ok) code = EXIT_USAGE;
    if (args.json) console.log(JSON.stringify(line.json));
    else if (line.ok) console.log(line.text);
    else console.error(`l2 mat decode: ${line.text}`);
  }
  return code;
}
