/**
 * A minimal DHCPv4 client for labs (RFC 2131: DISCOVER, OFFER, REQUEST,
 * ACK, broadcast flag set), because no DHCP client (dhclient, udhcpc) is
 * installed on the test machines. Binds UDP 68 on every address; the
 * namespace needs a route for 255.255.255.255 (a default route on the
 * interface). Prints JSON: the leased address, the server identifier
 * (option 54) and the offers seen by server.
 *
 * Usage: `deno run -A dhcp_client.ts MAC` (bounded: 10 tries of 2 s per step).
 *
 * @module
 */
import dgram from "node:dgram";

const mac = Deno.args[0].split(":").map((h) => parseInt(h, 16));
const xid = crypto.getRandomValues(new Uint32Array(1))[0];
const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
const replies: Uint8Array[] = [];
let wake = () => {};
s.on("message", (m: Uint8Array) => {
  replies.push(new Uint8Array(m));
  wake();
});
await new Promise<void>((r) => s.bind(68, "0.0.0.0", r));
s.setBroadcast(true);

function msg(type: number, extra: number[]): Uint8Array {
  const b = new Uint8Array(300);
  const v = new DataView(b.buffer);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  v.setUint32(4, xid);
  v.setUint16(10, 0x8000);
  b.set(mac, 28);
  v.setUint32(236, 0x63825363);
  b.set([53, 1, type, ...extra, 55, 2, 1, 3, 255], 240);
  return b;
}

function opt(b: Uint8Array, code: number): Uint8Array | null {
  for (let i = 240; i < b.length && b[i] !== 255;) {
    if (b[i] === 0) {
      i++;
      continue;
    }
    if (b[i] === code) return b.subarray(i + 2, i + 2 + b[i + 1]);
    i += 2 + b[i + 1];
  }
  return null;
}

const servers = new Set<string>();
async function exchange(type: number, extra: number[], want: number): Promise<Uint8Array> {
  for (let attempt = 0; attempt < 10; attempt++) {
    s.send(msg(type, extra), 67, "255.255.255.255");
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      const r = replies.shift();
      if (!r) {
        await new Promise<void>((res) => {
          wake = res;
          setTimeout(res, 100);
        });
        continue;
      }
      const v = new DataView(r.buffer);
      if (r[0] !== 2 || v.getUint32(4) !== xid) continue;
      const t = opt(r, 53);
      if (t && t[0] === 2) servers.add([...(opt(r, 54) ?? [])].join("."));
      if (t && t[0] === want) return r;
    }
  }
  throw new Error("no DHCP reply of type " + want);
}

const offer = await exchange(1, [], 2);
const yiaddr = [...offer.subarray(16, 20)];
const server = [...(opt(offer, 54) ?? [])];
const ack = await exchange(3, [50, 4, ...yiaddr, 54, 4, ...server], 5);
console.log(JSON.stringify({
  address: [...ack.subarray(16, 20)].join("."),
  server: [...(opt(ack, 54) ?? [])].join("."),
  offers_from: [...servers],
}));
s.close();
