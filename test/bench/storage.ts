// Storage rows of `npm run bench`: snapshot, restore and copy of a busybox instance that has
// written WRITTEN_MB into its own layer (only that layer is copied; the image layer is shared).
import type { TestDaemon } from "../helpers/daemon.ts";
import { cliOf, timed } from "./timing.ts";

export const WRITTEN_MB = 10;

/** LXD 5.0.2 on a dir pool with a 100 MB Debian image (issue #3), for reference. */
export const LXD_502_STORAGE: Record<string, string> = {
  snapshot: "7.0 s (Debian)",
  restore: "0.5 s (Debian)",
  copy: "16.7 s (Debian)",
};

export interface StorageRow { key: string; what: string; times: number[] }

export async function storageTimings(d: TestDaemon, runs: number): Promise<StorageRow[]> {
  const cli = cliOf(d);
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

/** Size of the rootfs image the btrfs rows launch from (the target image). */
export const BIG_IMAGE_MB = 100;

/** LXD 5.0.2 on btrfs with a 100 MB rootfs image, and the targets for dir (issue #3). */
export const LXD_502_BTRFS: Record<string, string> = {
  "btrfs-launch": "1.2 s",
  "btrfs-snapshot": "0.18 s",
  "btrfs-copy": "0.27 s",
  "btrfs-restore": "0.17 s",
  "dir-launch": "target ≤ 100 ms",
  "dir-snapshot": "target ≤ 100 ms",
  "dir-copy": "target ≤ 200 ms",
  "dir-restore": "target ≤ 200 ms",
};

/** The busybox image with BIG_IMAGE_MB of random data added to its rootfs, as an uncompressed tarball. */
export async function bigImage(busyboxTarball: string, workDir: string): Promise<string> {
  const sh = (script: string) => {
    const r = Bun.spawnSync(["sh", "-c", script], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building the ${BIG_IMAGE_MB} MB image failed: ${r.stderr.toString()}`);
  };
  const dir = `${workDir}/big`;
  sh(`mkdir -p ${dir} && tar -xzf ${busyboxTarball} -C ${dir} && mkdir -p ${dir}/rootfs/opt && head -c ${BIG_IMAGE_MB * 1024 * 1024} /dev/urandom > ${dir}/rootfs/opt/blob && tar -cf ${workDir}/big.tar -C ${dir} . && rm -rf ${dir}`);
  return `${workDir}/big.tar`;
}

/** Launch, snapshot, copy and restore from the 100 MB image on a new pool of `driver` (btrfs: a
 *  loop file in the daemon's state dir). The instance has written WRITTEN_MB before each snapshot. */
export async function bigImageTimings(d: TestDaemon, runs: number, busyboxTarball: string, driver: "btrfs" | "dir"): Promise<StorageRow[]> {
  const cli = cliOf(d);
  await cli("storage", "create", "bbench", driver, ...(driver === "btrfs" ? ["size=2GiB"] : []));
  await cli("image", "import", await bigImage(busyboxTarball, d.dir), "--alias", "big");
  // The first launch unpacks the image into the pool once; the timed ones reuse it.
  await cli("init", "big", "warm", "-s", "bbench");
  const t = { launch: [] as number[], snapshot: [] as number[], copy: [] as number[], restore: [] as number[] };
  for (let i = 0; i < runs; i++) t.launch.push(await timed(() => cli("launch", "big", `bl${i}`, "-s", "bbench")));
  for (let i = 0; i < runs; i++) await cli("delete", `bl${i}`, "--force");
  for (let i = 0; i < runs; i++) {
    // Each snapshot has fresh data to take: what the container wrote since the last one.
    await cli("start", "warm");
    await cli("exec", "warm", "--", "sh", "-c", `head -c ${WRITTEN_MB * 1024 * 1024} /dev/urandom > /root/data${i}`);
    await cli("stop", "warm", "--force");
    t.snapshot.push(await timed(() => cli("snapshot", "warm", `s${i}`)));
    t.copy.push(await timed(() => cli("copy", "warm", `bc${i}`, "--instance-only")));
    t.restore.push(await timed(() => cli("restore", "warm", `s${i}`)));
    await cli("delete", `bc${i}`);
  }
  await cli("delete", "warm");
  await cli("image", "delete", "big");
  await cli("storage", "delete", "bbench");
  const img = `${BIG_IMAGE_MB} MB image`;
  return [
    { key: `${driver}-launch`, what: `${driver}: launch (${img})`, times: t.launch },
    { key: `${driver}-snapshot`, what: `${driver}: snapshot (stopped, ${img}, +${WRITTEN_MB} MB)`, times: t.snapshot },
    { key: `${driver}-copy`, what: `${driver}: copy --instance-only (${img})`, times: t.copy },
    { key: `${driver}-restore`, what: `${driver}: restore (stopped, ${img})`, times: t.restore },
  ];
}
