// Storage rows of `npm run bench`: snapshot, restore and copy of a busybox instance that has
// written WRITTEN_MB into its own layer (only that layer is copied; the image layer is shared).
import type { TestDaemon } from "../helpers/daemon.ts";

export const WRITTEN_MB = 10;

/** LXD 5.0.2 on a dir pool with a 100 MB Debian image (issue #3), for reference. */
export const LXD_502_STORAGE: Record<string, string> = {
  snapshot: "7.0 s (Debian)",
  restore: "0.5 s (Debian)",
  copy: "16.7 s (Debian)",
};

export interface StorageRow { key: string; what: string; times: number[] }

export async function storageTimings(d: TestDaemon, runs: number): Promise<StorageRow[]> {
  const cli = async (...args: string[]) => {
    const r = await d.lxd(...args);
    if (r.code !== 0) throw new Error(`lxd ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  };
  const timed = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const t = { snapRunning: [] as number[], snapStopped: [] as number[], restore: [] as number[], copy: [] as number[] };
  await cli("launch", "busybox", "st");
  await cli("exec", "st", "--", "sh", "-c", `head -c ${WRITTEN_MB * 1024 * 1024} /dev/urandom > /root/data`);
  for (let i = 0; i < runs; i++) t.snapRunning.push(await timed(() => cli("snapshot", "st", `r${i}`)));
  await cli("stop", "st", "--force");
  for (let i = 0; i < runs; i++) {
    t.snapStopped.push(await timed(() => cli("snapshot", "st", `s${i}`)));
    t.restore.push(await timed(() => cli("restore", "st", `s${i}`)));
    t.copy.push(await timed(() => cli("copy", "st", `cp${i}`, "--instance-only")));
    await cli("delete", `cp${i}`);
  }
  await cli("delete", "st");
  return [
    { key: "snapshot", what: `snapshot (stopped, ${WRITTEN_MB} MB written)`, times: t.snapStopped },
    { key: "snapshot-running", what: `snapshot (running, ${WRITTEN_MB} MB written)`, times: t.snapRunning },
    { key: "restore", what: `restore (stopped, ${WRITTEN_MB} MB written)`, times: t.restore },
    { key: "copy", what: `copy --instance-only (stopped, ${WRITTEN_MB} MB written)`, times: t.copy },
  ];
}
