// Progress of long image work as LXD reports it: one operation metadata key per stage (e.g.
// `create_image_from_container_pack_progress`) holding "Label: 42% (12.30MB/s)", or
// "Label: 1.20GB (12.30MB/s)" when the total is unknown. Updates are throttled, because each
// one is an event to every listener.

/** LXD's byte units (decimal, as its ioprogress helper prints them). */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return i === 0 ? `${n}B` : `${n.toFixed(2)}${units[i]}`;
}

export type ProgressSink = (patch: Record<string, unknown>) => void;

/** Returns a callback taking the bytes done so far; `total` 0 means unknown. */
export function byteProgress(sink: ProgressSink, key: string, label: string, total: number, intervalMs = 250): (done: number) => void {
  const started = performance.now();
  let last = 0;
  return (done: number) => {
    const now = performance.now();
    if (now - last < intervalMs && !(total && done >= total)) return;
    last = now;
    const speed = formatBytes(Math.round(done / Math.max(0.001, (now - started) / 1000)));
    const amount = total ? `${Math.min(100, Math.floor((done * 100) / total))}%` : formatBytes(done);
    sink({ [key]: `${label}: ${amount} (${speed}/s)` });
  };
}
