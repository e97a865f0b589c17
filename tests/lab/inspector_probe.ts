/**
 * Prints "open" if something serves the V8 inspector's /json/list on
 * 127.0.0.1:9229 (in the caller's network namespace), else "closed".
 *
 * @module
 */
try {
  const res = await fetch("http://127.0.0.1:9229/json/list", { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  console.log(text.includes("webSocketDebuggerUrl") ? "open" : "closed");
} catch {
  console.log("closed");
}
