/**
 * The namespace lab of tests/lab/netns.ts cleans up after itself: spawned
 * processes are stopped, processes it did not track are killed, namespaces
 * are deleted, `close()` is idempotent, and stale namespaces of dead runs
 * are swept.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { Lab, run, sweepStale, waitFor } from "../lab/netns.ts";

async function nsExists(name: string): Promise<boolean> {
  const list = await run(["ip", "netns", "list"]);
  return list.stdout.split("\n").some((l) => l.split(" ")[0] === name);
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/\) Z /.test(stat); // a zombie is dead
  } catch {
    return false;
  }
}

Deno.test("lab: close() stops processes, kills strays, deletes namespaces; idempotent", async () => {
  const lab = await Lab.create("lab");
  let ns = "";
  let strayPid = 0;
  let spawnedPid = 0;
  try {
    ns = await lab.netns("a");
    assert(ns.startsWith(`l2t-lab-${Deno.pid}-`), ns);
    assert(await nsExists(ns));
    const p = lab.spawn(ns, ["sleep", "300"]);
    spawnedPid = p.pid;
    // A process the lab did not start, left running in its namespace.
    const r = await lab.exec(ns, ["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"]);
    strayPid = Number(r.stdout.trim());
    assert(strayPid > 0 && alive(strayPid));
    await lab.veth(ns, "v0", ns, "v1");
    await lab.addr(ns, "v0", "10.82.0.1/24");
    const ping = await lab.exec(ns, ["ping", "-c", "1", "-W", "2", "10.82.0.1"]);
    assertEquals(ping.code, 0);
    await assertRejects(() => lab.exec(ns, ["false"]), Error, "exit 1");
  } finally {
    await lab.close();
  }
  await lab.close();
  assert(!(await nsExists(ns)), "namespace deleted");
  await waitFor(() => !alive(strayPid) && !alive(spawnedPid), 30_000, "processes to die");
  await assertRejects(() => lab.netns("b"), Error, "closed lab");
});

Deno.test("lab: sweepStale removes namespaces of dead runs only", async () => {
  const pidMax = Number(Deno.readTextFileSync("/proc/sys/kernel/pid_max").trim());
  const stale = `l2t-old-${pidMax + 1}-1-a`; // no process can have this pid
  await run(["ip", "netns", "add", stale]);
  const lab = await Lab.create("sweep"); // sweeps on creation
  try {
    const mine = await lab.netns("a");
    assert(!(await nsExists(stale)), "stale namespace swept");
    assert(!(await sweepStale()).includes(mine), "a live run is not stale");
    assert(await nsExists(mine), "a live run's namespace is kept");
  } finally {
    await lab.close();
    await run(["ip", "netns", "del", stale], { allowFail: true });
  }
});
