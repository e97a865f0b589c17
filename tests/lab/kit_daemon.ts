/**
 * A small daemon built on the daemon kit (cmd/kit/daemon.ts), for testing
 * what every l2 daemon shares: config loading, logging, the management
 * endpoint, signals and exit codes. Usage: `kit_daemon.ts CONFIG.yaml`.
 *
 * @module
 */
import { runDaemon } from "../../cmd/kit/daemon.ts";
import { parseSection, readConfigFile, section, str, topLevel } from "../../cmd/kit/config.ts";
import { apiFields } from "../../cmd/kit/cli.ts";
import { logSection } from "../../cmd/kit/load.ts";

const file = Deno.args[0];
const fields = { greeting: str({ doc: "a word", default: "hello" }), ...apiFields(0) };
const schema = section(fields, { doc: "test" });

async function load() {
  const cf = await readConfigFile(file);
  const t = topLevel(cf, "kit");
  const l = topLevel(cf, "log");
  const w = { file, lines: cf.lines, path: "kit", node: null };
  const c = parseSection(fields, t?.node ?? null, w);
  const log = l ? logSection.parse(l.node, { ...w, path: "log" }) : logSection.default!;
  void schema;
  return {
    file,
    name: "test",
    config: c,
    log,
    api: c.api,
    apiToken: c.api_token === "" ? null : c.api_token,
  };
}

let frames = 0;
const code = await runDaemon({
  role: "kit-test",
  load,
  start(ctx, cfg) {
    let greeting = cfg.config.greeting;
    const log = ctx.log.topic("kit-test");
    const timer = setInterval(() => {
      frames++;
      log.debug("tick", { frames });
      if (greeting === "die") ctx.fatal("told to die");
      // A bug nobody catches, on every tick: the kit's last backstop contains it.
      if (greeting === "throw") throw new TypeError(`tick ${frames} failed`);
    }, 50);
    return Promise.resolve({
      status: () => ({ greeting, frames, peers: [{ id: 1, path: "direct" }] }),
      metrics: (w) => void w.counter("l2_test_frames_total", "ticks", frames),
      reload: (c) => {
        const lines = c.greeting === greeting ? [] : [`greeting ${greeting} -> ${c.greeting}`];
        greeting = c.greeting;
        return lines;
      },
      stop: (reason) => {
        clearInterval(timer);
        log.info(`clean stop (${reason})`);
        return Promise.resolve();
      },
    });
  },
});
Deno.exit(code);
