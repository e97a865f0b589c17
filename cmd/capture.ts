/**
 * `l2 capture`: a live capture from a running daemon, as a pcap stream on
 * standard output (or into a file with `-w`), for tshark, Wireshark or
 * tcpdump: one VC's switch on a LAS (`--vc`), the TAP (`--tap`) or one
 * peer (`--peer`, frames before sealing and after opening) on a node, the
 * device of an xconnect (`--device`).
 *
 * It asks the daemon's management endpoint for `GET /capture`
 * (cmd/kit/capture_stream.ts; the token rule is the API's, `--token` or
 * `$L2_API_TOKEN` as for `l2 status`) and copies the answer's body out as
 * it comes. The daemon ends the capture after `-c` frames or `--seconds`
 * (default 60, at most 3600); Ctrl-C or a reader that goes away (tshark
 * done) ends it sooner. At the end one line on standard error says how
 * many frames came. Standard output that is a terminal is refused: pcap is
 * binary.
 *
 * @module
 */
import { command, constant, object, option, optional } from "@optique/core";
import { integer, string } from "@optique/core/valueparser";
import { message } from "@optique/core/message";
import { formatHostPort, type HostPort, parseHostPort } from "./kit/config.ts";
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from "./kit/exit.ts";
import { examples } from "./kit/cli.ts";
import { DEFAULT_APIS } from "./status.ts";
import { MAX_COUNT, MAX_SECONDS } from "./kit/capture_stream.ts";
import { PCAP_HEADER_LEN, PCAP_RECORD_LEN, vcText } from "../core/capture.ts";

/** `l2 capture` command line. */
export const captureCommand = command(
  "capture",
  object({
    cmd: constant("capture" as const),
    vc: optional(option("--vc", string({ metavar: "ID" }), {
      description: message`l2 las: the frames entering this VC's switch from any port`,
    })),
    peer: optional(option("--peer", integer({ min: 1, max: 65535, metavar: "NODE" }), {
      description: message`l2 node: the frames sent to and received from this node id, in clear`,
    })),
    tap: option("--tap", {
      description: message`l2 node: the frames read from and written to the TAP`,
    }),
    device: option("--device", {
      description: message`l2 xconnect: the frames read from and written to its device`,
    }),
    count: optional(option("-c", "--count", integer({ min: 1, max: MAX_COUNT, metavar: "N" }), {
      description: message`stop after N frames`,
    })),
    seconds: optional(
      option("--seconds", integer({ min: 1, max: MAX_SECONDS, metavar: "S" }), {
        // Literal numbers: a value in a message is shown quoted. Kept equal by a unit test.
        description: message`stop after S seconds (default 60, at most 3600)`,
      }),
    ),
    write: optional(option("-w", "--write", string({ metavar: "FILE" }), {
      description: message`write the pcap into FILE (mode 0600) instead of standard output`,
    })),
    api: optional(option("--api", string({ metavar: "HOST:PORT" }), {
      description:
        message`daemon management endpoint (default: 127.0.0.1 and the role's default port: las 7657, node 7656, xconnect 7658)`,
    })),
    token: optional(option("--token", string({ metavar: "TOKEN" }), {
      description: message`bearer token (default: $L2_API_TOKEN)`,
    })),
  }),
  {
    brief: message`Capture live frames from a running daemon as pcap`,
    footer: examples([
      ["watch VC 1234 of the LAS in Wireshark", "l2 capture --vc 1234 | wireshark -k -i -"],
      ["100 frames to and from node 3, read by tshark", "l2 capture --peer 3 -c 100 | tshark -r -"],
      ["the node's TAP for 10 s into a file", "l2 capture --tap --seconds 10 -w tap.pcap"],
      [
        "a node in a namespace, its endpoint wanting a token",
        "L2_API_TOKEN=... ip netns exec site-a l2 capture --peer 2 | tshark -r -",
      ],
    ]),
  },
);

/** Parsed `l2 capture` arguments. */
export interface CaptureArgs {
  cmd: "capture";
  vc?: string;
  peer?: number;
  tap?: boolean;
  device?: boolean;
  count?: number;
  seconds?: number;
  write?: string;
  api?: string;
  token?: string;
}

/** The query and default endpoint for the arguments, or why they are refused. */
export function captureRequest(
  a: CaptureArgs,
): { query: URLSearchParams; role: string } | string {
  const q = new URLSearchParams();
  const given: string[] = [];
  let role = "";
  if (a.vc !== undefined) {
    const t = vcText(a.vc);
    if (t === null) return `--vc ${a.vc}: a VC id is decimal (1234) or hex (0x04d2)`;
    q.set("vc", t);
    given.push("--vc");
    role = "las";
  }
  if (a.peer !== undefined) {
    q.set("peer", String(a.peer));
    given.push("--peer");
    role = "node";
  }
  if (a.tap) {
    q.set("tap", "");
    given.push("--tap");
    role = "node";
  }
  if (a.device) {
    q.set("device", "");
    given.push("--device");
    role = "xconnect";
  }
  if (given.length !== 1) {
    return given.length === 0
      ? "say what to capture: --vc ID (las), --peer NODE or --tap (node), --device (xconnect)"
      : `capture one thing at a time, not ${given.join(" and ")}`;
  }
  if (a.count !== undefined) q.set("count", String(a.count));
  if (a.seconds !== undefined) q.set("seconds", String(a.seconds));
  return { query: q, role };
}

/** Counts the records of a pcap stream as its bytes go by (the file header first). */
class RecordCounter {
  records = 0;
  #skip = PCAP_HEADER_LEN;
  readonly #hdr = new Uint8Array(PCAP_RECORD_LEN);
  #have = 0;

  feed(b: Uint8Array): void {
    let i = 0;
    while (i < b.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, b.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      const n = Math.min(PCAP_RECORD_LEN - this.#have, b.length - i);
      this.#hdr.set(b.subarray(i, i + n), this.#have);
      this.#have += n;
      i += n;
      if (this.#have === PCAP_RECORD_LEN) {
        this.#have = 0;
        this.records++;
        this.#skip = new DataView(this.#hdr.buffer).getUint32(8, true);
      }
    }
  }
}

async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  b: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < b.length) off += await w.write(b.subarray(off));
}

/** Runs `l2 capture`. */
export async function runCapture(args: CaptureArgs): Promise<number> {
  const req = captureRequest(args);
  if (typeof req === "string") {
    console.error(`l2 capture: ${req}`);
    return EXIT_USAGE;
  }
  let addr: HostPort;
  if (args.api !== undefined) {
    const r = parseHostPort(args.api);
    if (typeof r === "string") {
      console.error(`l2 capture: --api ${args.api}: ${r}`);
      return EXIT_USAGE;
    }
    addr = r;
  } else addr = DEFAULT_APIS.find((d) => d.role === req.role)!.addr;
  const toFile = args.write !== undefined && args.write !== "-";
  if (!toFile && Deno.stdout.isTerminal()) {
    console.error(
      "l2 capture: standard output is a terminal and pcap is binary: pipe it into tshark " +
        "(l2 capture ... | tshark -r -) or Wireshark (| wireshark -k -i -), or write a file " +
        "with -w FILE",
    );
    return EXIT_USAGE;
  }
  const token = args.token ?? Deno.env.get("L2_API_TOKEN") ?? null;
  const at = formatHostPort(addr);
  const host = addr.host.includes(":") ? `[${addr.host}]` : addr.host;
  const ac = new AbortController();
  // Connecting and the answer's head get 5 s; the body runs as long as the capture.
  const connecting = setTimeout(() => ac.abort(new Error("no answer within 5 s")), 5000);
  let res: Response;
  try {
    res = await fetch(`http://${host}:${addr.port}/capture?${req.query}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: ac.signal,
    });
  } catch (e) {
    const why = ac.signal.aborted
      ? "no answer within 5 s"
      : `nothing answers there (${(e as Error).message})`;
    console.error(`l2 capture: ${at}: ${why}; is the ${req.role} running with its API there?`);
    return EXIT_RUNTIME;
  } finally {
    clearTimeout(connecting);
  }
  if (res.status !== 200) {
    const body = (await res.text()).trim().slice(0, 300);
    if (res.status === 401) {
      console.error(
        `l2 capture: ${at}: the endpoint refused the token (or wants one): ` +
          `give --token or set L2_API_TOKEN`,
      );
    } else if (res.status === 404) {
      console.error(`l2 capture: ${at}: this daemon offers no capture (${body})`);
    } else console.error(`l2 capture: ${at}: HTTP ${res.status}: ${body}`);
    return res.status === 400 ? EXIT_USAGE : EXIT_RUNTIME;
  }
  let out: { write(p: Uint8Array): Promise<number> } = Deno.stdout;
  let file: Deno.FsFile | null = null;
  if (toFile) {
    try {
      out = file = await Deno.open(args.write!, {
        write: true,
        create: true,
        truncate: true,
        mode: 0o600,
      });
    } catch (e) {
      await res.body?.cancel();
      console.error(`l2 capture: -w ${args.write}: ${(e as Error).message}`);
      return EXIT_RUNTIME;
    }
  }
  const counter = new RecordCounter();
  let stopped = "";
  const onSignal = () => {
    stopped = "interrupted";
    ac.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let code = EXIT_OK;
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      counter.feed(value);
      await writeAll(out, value);
    }
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) stopped = "the reader closed its end";
    else if (!ac.signal.aborted) {
      console.error(`l2 capture: ${(e as Error).message}`);
      code = EXIT_RUNTIME;
    }
    await reader.cancel().catch(() => {});
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    file?.close();
  }
  const n = counter.records;
  console.error(
    `l2 capture: ${n} frame${n === 1 ? "" : "s"} from ${at}${stopped ? ` (${stopped})` : ""}`,
  );
  return code;
}
