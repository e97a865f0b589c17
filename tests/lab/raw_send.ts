/**
 * Sends raw IP protocol 115 payloads, for tests that throw garbage,
 * truncated or replayed L2TPv3 packets at a daemon. Usage (inside a
 * namespace): `raw_send.ts DEST HEX [HEX...]`; prints how many were sent.
 *
 * @module
 */
import { openRawIp } from "../../ffi/raw.ts";
import { parseIp } from "../../core/addr.ts";

const [dest, ...payloads] = Deno.args;
const ip = parseIp(dest);
if (!ip.ok) throw new Error(`Cannot parse ${dest}: ${ip.reason}`);
const s = openRawIp({ protocol: 115, family: 4 });
let sent = 0;
try {
  for (const hex of payloads) {
    const bytes = new Uint8Array((hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
    if (s.send(bytes, { ip: ip.value, port: 0 }) === 0) sent++;
  }
} finally {
  s.close();
}
console.log(sent);
