/**
 * `GET /capture` on the management endpoint (kit/api.ts): opens a capture
 * on the daemon's `CaptureHub` (core/capture.ts) and streams it as a pcap
 * file in the answer's body, until the capture's count is reached, its
 * seconds have passed, the client goes away or the daemon stops.
 *
 * Query (exactly one target):
 * - `vc=ID` (l2 las): the frames entering that VC's switch;
 * - `peer=N` (l2 node): the frames sent to and received from node N,
 *   before sealing and after opening;
 * - `tap` (l2 node), `device` (l2 xconnect): the frames read from and
 *   written to the device;
 * - `count=N`: end after N frames (1 to 1 000 000 000; default none);
 * - `seconds=S`: end after S seconds (1 to `MAX_SECONDS`; default
 *   `DEFAULT_SECONDS`).
 *
 * Bad queries answer 400 with the reason, a target the daemon does not
 * offer 400, too many captures 503. The token rule is the endpoint's (the
 * kit checks it before this runs).
 *
 * @module
 */
import type { CaptureHub, CaptureTarget } from "../../core/capture.ts";
import { pcapHeader, vcText } from "../../core/capture.ts";
import type { MetricsWriter } from "./metrics.ts";

/** A capture's time limit when the query gives none, s. */
export const DEFAULT_SECONDS = 60;
/** The longest a capture runs, s. */
export const MAX_SECONDS = 3600;
/** The most frames `count` may ask for. */
export const MAX_COUNT = 1_000_000_000;

/** What `/capture` answers: a refusal (status and text) or the pcap stream. */
export type CaptureAnswer =
  | { status: number; text: string }
  | { status: 200; body: ReadableStream<Uint8Array> };

/** The capture a query asks for, or why it is refused. */
export function captureQuery(
  q: URLSearchParams,
): { target: CaptureTarget; count: number; seconds: number } | string {
  const targets: CaptureTarget[] = [];
  const vc = q.get("vc");
  if (vc !== null) {
    const t = vcText(vc);
    if (t === null) return `vc=${vc.slice(0, 80)}: a VC id is decimal (1234) or hex (0x04d2)`;
    targets.push({ point: "vc", key: t });
  }
  const peer = q.get("peer");
  if (peer !== null) {
    if (!/^[0-9]{1,5}$/.test(peer) || Number(peer) < 1 || Number(peer) > 0xffff) {
      return `peer=${peer.slice(0, 80)}: a node id is 1 to 65535`;
    }
    targets.push({ point: "peer", key: Number(peer) });
  }
  if (q.has("tap")) targets.push({ point: "tap", key: 0 });
  if (q.has("device")) targets.push({ point: "device", key: 0 });
  if (targets.length !== 1) return "give one target: vc=ID, peer=N, tap or device";
  let count = Infinity;
  const cq = q.get("count");
  if (cq !== null) {
    if (!/^[0-9]{1,10}$/.test(cq) || Number(cq) < 1 || Number(cq) > MAX_COUNT) {
      return `count=${cq.slice(0, 80)}: a number of frames, 1 to ${MAX_COUNT}`;
    }
    count = Number(cq);
  }
  let seconds = DEFAULT_SECONDS;
  const sq = q.get("seconds");
  if (sq !== null) {
    if (!/^[0-9]{1,4}(\.[0-9]{1,3})?$/.test(sq) || Number(sq) <= 0 || Number(sq) > MAX_SECONDS) {
      return `seconds=${sq.slice(0, 80)}: more than 0, at most ${MAX_SECONDS}`;
    }
    seconds = Number(sq);
  }
  return { target: targets[0], count, seconds };
}

/**
 * Opens the capture a query asks for and returns its pcap stream: the file
 * header at once, then the records as the engine offers frames. The
 * capture is closed (and forgotten by the hub) when the stream ends or is
 * cancelled, so a client that goes away frees its place.
 */
export function captureAnswer(q: URLSearchParams, hub: CaptureHub): CaptureAnswer {
  const want = captureQuery(q);
  if (typeof want === "string") return { status: 400, text: `capture: ${want}\n` };
  let signal: (() => void) | null = null;
  let kicked = false;
  const wake = () => {
    kicked = true;
    signal?.();
  };
  const c = hub.open(want.target, want.count, wake);
  if (typeof c === "string") {
    return { status: c.includes("running already") ? 503 : 400, text: `capture: ${c}\n` };
  }
  const timer = setTimeout(() => hub.close(c, "seconds"), want.seconds * 1000);
  const finish = () => {
    clearTimeout(timer);
    hub.close(c, c.ended ?? "closed");
  };
  const body = new ReadableStream<Uint8Array>({
    start(ctl) {
      ctl.enqueue(pcapHeader());
    },
    async pull(ctl) {
      for (;;) {
        kicked = false;
        const d = c.take();
        if (d !== null) return ctl.enqueue(d);
        if (c.ended !== null) {
          finish();
          return ctl.close();
        }
        await new Promise<void>((r) => kicked ? r() : signal = r);
        signal = null;
      }
    },
    cancel() {
      finish();
    },
  });
  return { status: 200, body };
}

/** The hub's counters for /metrics. */
export function captureMetrics(w: MetricsWriter, hub: CaptureHub): void {
  const c = hub.counters;
  w.counter("l2_captures_started_total", "live captures opened (GET /capture)", c.captures_started);
  w.counter(
    "l2_captures_refused_total",
    "live captures refused: the most were running already",
    c.captures_refused,
  );
  w.gauge("l2_captures_active", "live captures running", hub.active);
  w.counter("l2_capture_frames_total", "frames written into live captures", c.frames_captured);
  w.counter(
    "l2_capture_frames_dropped_total",
    "frames a live capture missed: its reader was slower than the traffic",
    c.frames_dropped,
  );
}
