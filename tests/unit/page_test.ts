/**
 * The management endpoint's page (`GET /`, kit/page_assets.ts) and the
 * headers of every answer: what is served without a token and what is not,
 * the Content-Security-Policy, no caching, and the Host check of an
 * endpoint without a token (DNS rebinding). tests/integration/web_page_test.ts
 * loads the page in a real browser.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { handle, hostIsLocalLiteral, PAGE_CSP, tokenCheck } from "../../cmd/kit/api.ts";
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from "../../cmd/kit/page_assets.ts";

const h = { status: () => ({ role: "node", secret_looking: "x" }), metrics: () => "m 1\n" };

function get(
  url: string,
  token: string | null,
  headers: Record<string, string> = {},
  method = "GET",
): Response {
  return handle(new Request(url, { method, headers }), h, token ? tokenCheck(token) : null);
}

Deno.test("page: the script parses, and the page loads only its own files", () => {
  // A syntax error would only show in a browser: parse it here too.
  new Function(PAGE_JS);
  assertStringIncludes(PAGE_HTML, '<script src="/page.js" defer></script>');
  assertStringIncludes(PAGE_HTML, '<link rel="stylesheet" href="/page.css">');
  // Nothing from elsewhere: no absolute URL in any of the three files but the SVG namespace.
  for (const [name, text] of [["html", PAGE_HTML], ["css", PAGE_CSS], ["js", PAGE_JS]]) {
    const urls = [...text.matchAll(/\b(?:https?:)?\/\/[a-z0-9.-]+/gi)].map((m) => m[0])
      .filter((u) => u !== "http://www.w3.org");
    assertEquals(urls, [], `${name} names another origin`);
  }
  // No inline script or style the CSP would have to allow, no HTML sink in the script.
  assert(!/<script>|<style|\sstyle=|\son[a-z]+=/i.test(PAGE_HTML), "inline script or style");
  assert(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/.test(PAGE_JS));
});

Deno.test("page: served without a token, with a strict CSP; /status still needs it", async () => {
  for (const path of ["/", "/page.css", "/page.js"]) {
    const r = get(`http://192.0.2.1:7657${path}`, "s3cret-s3cret-s3cret");
    assertEquals(r.status, 200, path);
    assertEquals(r.headers.get("content-security-policy"), PAGE_CSP);
    assertEquals(r.headers.get("x-content-type-options"), "nosniff");
    assertEquals(r.headers.get("x-frame-options"), "DENY");
    assertEquals(r.headers.get("cache-control"), "no-store");
    const body = await r.text();
    assert(!body.includes("s3cret"), "the page holds no data");
  }
  assertEquals(
    get("http://192.0.2.1:7657/", null).headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  assertEquals(
    get("http://127.0.0.1:7657/page.js", null).headers.get("content-type"),
    "text/javascript; charset=utf-8",
  );
  assertStringIncludes(PAGE_CSP, "default-src 'self'");
  assertStringIncludes(PAGE_CSP, "script-src 'self';");
  assertStringIncludes(PAGE_CSP, "require-trusted-types-for 'script'");
  assert(!PAGE_CSP.includes("unsafe"), "no unsafe-inline or unsafe-eval");

  const t = "s3cret-s3cret-s3cret";
  const denied = get("http://192.0.2.1:7657/status", t);
  assertEquals(denied.status, 401);
  assertEquals(denied.headers.get("cache-control"), "no-store");
  assertEquals(denied.headers.get("x-content-type-options"), "nosniff");
  assertEquals(get("http://192.0.2.1:7657/metrics", t).status, 401);
  const ok = get("http://192.0.2.1:7657/status", t, { authorization: `Bearer ${t}` });
  assertEquals(ok.status, 200);
  assertEquals(ok.headers.get("cache-control"), "no-store");
  assertEquals(ok.headers.get("x-content-type-options"), "nosniff");
  assertStringIncludes(ok.headers.get("content-security-policy")!, "default-src 'none'");
  assertEquals((await ok.json()).role, "node");
  // Only GET and HEAD, for the page too.
  assertEquals(get("http://127.0.0.1:7657/", null, {}, "POST").status, 405);
  assertEquals(get("http://127.0.0.1:7657/", null, {}, "HEAD").status, 200);
  // Other paths are not the page.
  assertEquals(get("http://127.0.0.1:7657/index.html", null).status, 404);
  assertEquals(get("http://127.0.0.1:7657/page.js/x", null).status, 404);
});

Deno.test("page: an endpoint without a token answers only an address or localhost as Host", () => {
  // A page of attacker.example whose DNS name was rebound to 127.0.0.1 sends Host: attacker.example.
  for (const host of ["attacker.example", "attacker.example:7657", "127.0.0.1.nip.example"]) {
    for (const path of ["/status", "/metrics", "/"]) {
      const r = get(`http://${host}${path}`, null);
      assertEquals(r.status, 421, `${host}${path}`);
    }
  }
  for (const host of ["127.0.0.1:7657", "[::1]:7657", "localhost:7657", "l2.localhost", "127.1"]) {
    assertEquals(get(`http://${host}/status`, null).status, 200, host);
  }
  // With a token, a name is fine (the token is the guard); a management network may use names.
  const t = "s3cret-s3cret-s3cret";
  assertEquals(
    get("http://mgmt.example:7657/status", t, { authorization: `Bearer ${t}` }).status,
    200,
  );
  assert(hostIsLocalLiteral("[::ffff:127.0.0.1]"));
  assert(hostIsLocalLiteral("LOCALHOST."));
  assert(!hostIsLocalLiteral("localhost.example"));
  assert(!hostIsLocalLiteral("0x7f.1"), "a form only a resolver reads is a name");
});
