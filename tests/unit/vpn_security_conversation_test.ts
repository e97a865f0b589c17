/**
 * The security layer in conversation: a supernode and nodes with
 * `SecureSupernode`/`SecureNode` in front of the protocol cores, over an
 * in-memory network at explicit times (`vpn_security_lab.ts`).
 */
import { assert, assertEquals } from "../assert.ts";
import { contains, frame, keyOf, mat, SecLab } from "./vpn_security_lab.ts";

const MARKER = new TextEncoder().encode("SECRET-MARKER-7f3a");

Deno.test("security: members register, exchange unicast and broadcast; the relaying supernode never sees plaintext", () => {
  const probe = new SecLab();
  const ka = keyOf(probe.suite, 1), kb = keyOf(probe.suite, 2);
  const lab = new SecLab({ members: [{ publicKey: ka.publicKey }, { publicKey: kb.publicKey }] });
  lab.addNode("a", ka);
  lab.addNode("b", kb);
  lab.run(3000);
  const a = lab.idOf("a"), b = lab.idOf("b");
  assert(a > 0 && b > 0, `registered: a=${a} b=${b}`);
  // Unicast a -> b: the first frames trigger the peer handshake through the supernode.
  for (let i = 0; i < 5; i++) {
    lab.send("a", frame(mat(b), mat(a), MARKER));
    lab.run(500);
  }
  const got = lab.node("b").frames.filter((f) => contains(f, MARKER));
  assert(got.length >= 3, `b received ${got.length} marked frames`);
  // Broadcast from b.
  lab.send("b", frame(0xffff_ffff_ffff, mat(b), MARKER));
  lab.run(200);
  assert(lab.node("a").frames.some((f) => f[0] === 0xff && contains(f, MARKER)), "broadcast");
  for (const bytes of lab.snSeen) assert(!contains(bytes, MARKER), "plaintext seen by the supernode");
  assert(lab.snSeen.length > 20);
  const c = lab.sec.status().counters;
  assert((c.relayed_handshakes ?? 0) >= 2, JSON.stringify(c));
});
