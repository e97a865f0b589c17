/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools protocol,
 * for tests that load a page the way an operator does. The protocol runs
 * over a pipe (`--remote-debugging-pipe`: fd 3 in, fd 4 out, messages ended
 * by a NUL byte), so no port is opened, and the browser can run inside a
 * lab namespace (`ip netns exec`), where it reaches only what the lab made.
 *
 * A `Tab` records what the page did that a test wants to know about: every
 * request's URL, exceptions thrown by its scripts, and console or browser
 * log entries (a Content-Security-Policy violation is one).
 *
 * Every wait is bounded; `close()` ends the browser and removes its profile.
 *
 * @module
 */
import { waitFor } from "./netns.ts";

/** The browser to run: `$L2_CHROMIUM`, else `chromium` on PATH. */
export const CHROMIUM = Deno.env.get("L2_CHROMIUM") ?? "chromium";

/** True when the browser can be started (for a clear error instead of a cryptic one). */
export async function haveChromium(): Promise<boolean> {
  try {
    const out = await new Deno.Command(CHROMIUM, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

interface Pending {
  resolve(v: Record<string, unknown>): void;
  reject(e: Error): void;
  method: string;
}

/** A log entry, exception or console message the page produced. */
export interface PageEvent {
  kind: "exception" | "log" | "console";
  level: string;
  source: string;
  text: string;
}

/** One headless Chromium. */
export class Browser {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<
    string,
    (method: string, params: Record<string, unknown>) => void
  >();
  readonly #profile: string;
  #stderr = "";
  #nextId = 1;
  #closed = false;

  private constructor(child: Deno.ChildProcess, profile: string) {
    this.#child = child;
    this.#profile = profile;
    this.#writer = child.stdin.getWriter();
    void this.#read();
    void (async () => {
      try {
        for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
          // Keep the end only: Chromium is chatty (D-Bus, GPU) on stderr.
          this.#stderr = (this.#stderr + c).slice(-20_000);
        }
      } catch {
        // gone
      }
    })();
  }

  /**
   * Starts Chromium, in namespace `ns` when given, with its profile in a new
   * directory under `dir`. `width`x`height` is the window (the viewport of
   * new tabs); `args` are more Chromium switches.
   */
  static async launch(
    o: { ns?: string; dir: string; width?: number; height?: number; args?: string[] },
  ): Promise<Browser> {
    const profile = await Deno.makeTempDir({ dir: o.dir, prefix: "chromium-profile-" });
    const chromium = [
      CHROMIUM,
      "--headless",
      "--no-sandbox", // as root, Chromium refuses to start with its sandbox
      "--remote-debugging-pipe",
      `--user-data-dir=${profile}`,
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-gpu",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--password-store=basic",
      "--use-mock-keychain",
      `--window-size=${o.width ?? 1280},${o.height ?? 1000}`,
      ...(o.args ?? []),
      "about:blank",
    ];
    // fd 3 (commands to the browser) is our stdin pipe, fd 4 (its answers) our stdout pipe.
    const shell = ["sh", "-c", 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null', "sh", ...chromium];
    const argv = o.ns ? ["ip", "netns", "exec", o.ns, ...shell] : shell;
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { HOME: profile },
    }).spawn();
    const b = new Browser(child, profile);
    try {
      await b.send("Browser.getVersion", {}, undefined, 30_000);
    } catch (e) {
      await b.close();
      throw new Error(`Chromium did not answer: ${(e as Error).message}\n${b.#stderr}`);
    }
    return b;
  }

  async #read(): Promise<void> {
    let buf = "";
    try {
      for await (const c of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
        buf += c;
        let i;
        while ((i = buf.indexOf("\0")) >= 0) {
          const msg = JSON.parse(buf.slice(0, i));
          buf = buf.slice(i + 1);
          this.#dispatch(msg);
        }
      }
    } catch {
      // the browser went away
    }
    for (const p of this.#pending.values()) p.reject(new Error(`${p.method}: browser exited`));
    this.#pending.clear();
  }

  #dispatch(msg: Record<string, unknown>): void {
    if (typeof msg.id === "number") {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      const err = msg.error as { message?: string } | undefined;
      if (err) p.reject(new Error(`${p.method}: ${err.message ?? JSON.stringify(err)}`));
      else p.resolve((msg.result ?? {}) as Record<string, unknown>);
      return;
    }
    if (typeof msg.method === "string") {
      const l = this.#listeners.get(String(msg.sessionId ?? ""));
      l?.(msg.method, (msg.params ?? {}) as Record<string, unknown>);
    }
  }

  /** Sends one protocol command (to a tab's session when given); bounded. */
  async send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
    timeoutMs = 20_000,
  ): Promise<Record<string, unknown>> {
    if (this.#closed) throw new Error(`${method}: browser closed`);
    const id = this.#nextId++;
    const msg: Record<string, unknown> = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      await this.#writer.write(new TextEncoder().encode(JSON.stringify(msg) + "\0"));
      return await answer;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A new tab (about:blank), its events recorded; `width`x`height` overrides the viewport. */
  async newTab(viewport?: { width: number; height: number; mobile?: boolean }): Promise<Tab> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const tab = new Tab(this, String(sessionId));
    this.#listeners.set(String(sessionId), (m, p) => tab.onEvent(m, p));
    for (const d of ["Page", "Runtime", "Log", "Network"]) {
      await this.send(`${d}.enable`, {}, String(sessionId));
    }
    if (viewport) {
      await this.send("Emulation.setDeviceMetricsOverride", {
        width: viewport.width,
        height: viewport.height,
        deviceScaleFactor: 1,
        mobile: viewport.mobile ?? false,
      }, String(sessionId));
    }
    return tab;
  }

  /** What Chromium wrote on stderr lately (for failure messages). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Ends the browser (politely, then SIGKILL) and removes its profile. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      try {
        await this.send("Browser.close", {}, undefined, 3000);
      } catch {
        // not answering: killed below
      }
      this.#closed = true;
    }
    const t = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 3000);
    try {
      await this.#writer.close().catch(() => {});
      await this.#child.status;
    } finally {
      clearTimeout(t);
    }
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** One tab of a `Browser`. */
export class Tab {
  /** Every URL the tab requested, in order. */
  readonly requests: string[] = [];
  /** Exceptions, console messages and browser log entries, in order. */
  readonly events: PageEvent[] = [];

  constructor(readonly browser: Browser, readonly sessionId: string) {}

  /** @internal The browser hands this tab's protocol events here. */
  onEvent(method: string, p: Record<string, unknown>): void {
    if (method === "Network.requestWillBeSent") {
      this.requests.push(String((p.request as { url?: string })?.url));
    } else if (method === "Runtime.exceptionThrown") {
      const d = p.exceptionDetails as { text?: string; exception?: { description?: string } };
      this.events.push({
        kind: "exception",
        level: "error",
        source: "javascript",
        text: `${d?.text ?? ""} ${d?.exception?.description ?? ""}`.trim(),
      });
    } else if (method === "Log.entryAdded") {
      const e = p.entry as { level?: string; source?: string; text?: string };
      this.events.push({
        kind: "log",
        level: String(e?.level),
        source: String(e?.source),
        text: String(e?.text),
      });
    } else if (method === "Runtime.consoleAPICalled") {
      const args = (p.args as { value?: unknown; description?: string }[] | undefined) ?? [];
      this.events.push({
        kind: "console",
        level: String(p.type),
        source: "console-api",
        text: args.map((a) => a.description ?? String(a.value)).join(" "),
      });
    }
  }

  #send(method: string, params: Record<string, unknown> = {}, timeoutMs?: number) {
    return this.browser.send(method, params, this.sessionId, timeoutMs);
  }

  /** Loads `url` and waits (bounded) until the document has loaded. */
  async goto(url: string, timeoutMs = 30_000): Promise<void> {
    const r = await this.#send("Page.navigate", { url }, timeoutMs);
    if (r.errorText) throw new Error(`Cannot load ${url}: ${r.errorText}`);
    await waitFor(
      async () => (await this.eval<string>("document.readyState")) === "complete",
      timeoutMs,
      `${url} to load`,
      100,
    );
  }

  /** Makes this the visible tab (the others' `document.hidden` becomes true). */
  async front(): Promise<void> {
    await this.#send("Page.bringToFront");
  }

  /** Evaluates `expression` in the page (promises awaited) and returns its value as JSON. */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.#send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    const ex = r.exceptionDetails as { exception?: { description?: string }; text?: string };
    if (ex) {
      throw new Error(`In the page: ${ex.exception?.description ?? ex.text}\n${expression}`);
    }
    return (r.result as { value?: T })?.value as T;
  }

  /** Evaluates `expression` until it is truthy (bounded); returns that value. */
  async waitFor<T>(expression: string, timeoutMs: number, what: string): Promise<T> {
    let v: T | undefined;
    try {
      await waitFor(async () => !!(v = await this.eval<T>(expression)), timeoutMs, what, 250);
    } catch (e) {
      const body = await this.eval<string>("document.body && document.body.innerText")
        .catch(() => "(no text)");
      throw new Error(`${(e as Error).message}\npage text:\n${body}`);
    }
    return v as T;
  }

  /** A PNG of the whole page, written to `path`. */
  async screenshot(path: string): Promise<void> {
    const r = await this.#send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    }, 60_000);
    const bin = atob(String(r.data));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    await Deno.writeFile(path, bytes);
  }
}
