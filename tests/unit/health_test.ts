/**
 * `GET /health` on the management endpoint (cmd/kit/api.ts): 200 `ok` while
 * the role's hook says it serves, 503 with the reason otherwise, no token
 * needed; for keepalived's vrrp_script (docs/las-redundancy.md).
 */
import { assertEquals } from "../assert.ts";
import { handle, tokenCheck } from "../../cmd/kit/api.ts";

const base = { status: () => ({}), metrics: () => "" };

Deno.test("health: 200 ok while serving, 503 with the reason otherwise", async () => {
  const req = () => new Request("http://127.0.0.1:7657/health");
  let why: string | null = null;
  const h = { ...base, health: () => why };
  let r = handle(req(), h, null);
  assertEquals([r.status, await r.text()], [200, "ok\n"]);
  why = "stopping";
  r = handle(req(), h, null);
  assertEquals([r.status, await r.text()], [503, "unhealthy: stopping\n"]);
  const throws = {
    ...base,
    health: (): string | null => {
      throw new Error("boom");
    },
  };
  r = handle(req(), throws, null);
  assertEquals(r.status, 503, "a hook that throws is unhealthy, not a crash");
  await r.body?.cancel();
});

Deno.test("health: needs no token, tells nothing else; /status still needs it", async () => {
  const h = { ...base, health: () => null };
  const check = tokenCheck("a-long-enough-token-1234");
  let r = handle(new Request("http://127.0.0.1:7657/health"), h, check);
  assertEquals([r.status, await r.text()], [200, "ok\n"]);
  r = handle(new Request("http://127.0.0.1:7657/status"), h, check);
  assertEquals(r.status, 401);
  await r.body?.cancel();
  r = handle(new Request("http://127.0.0.1:7657/health", { method: "POST" }), h, check);
  assertEquals(r.status, 405);
  await r.body?.cancel();
});
