// Progress of long image work as LXD reports it: one operation metadata key per stage (e.g.
// `create_image_from_container_pack_progress`) holding "Label: 42% (12.30MB/s)", or
// "Label: 1.20GB (12.30MB/s)" when the total is unknown. Updates are throttled, because each
// one is an event to every listener.

import { bytesSI } from "../config/values.ts";

export type ProgressSink = (patch: Record<string, unknown>) => void;

/** Returns a callback taking the bytes done so far; `total` 0 means unknown. */
export function byteProgress(sink: ProgressSink, key: string, label: string, total: number, intervalMs = 250): (done: number) => void {
  const started = performance.now();
  let last = 0;
  return (done: number) => {
    const now = performance.now();
    if (now - last < intervalMs && !(total && done >= total)) return;
    last = now;
    const speed = bytesSI(Math.round(done / Math.max(0.001, (now - started) / 1000)));
    const amount = total ? `${Math.min(100, Math.floor((done * 100) / total))}%` : bytesSI(done);
    sink({ [key]: `${label}: ${amount} (${speed}/s)` });
  };
}
