// LXCFS: a FUSE filesystem on the host that renders /proc files (meminfo, cpuinfo, stat, ...)
// from the reading process's cgroups, so `free` and `nproc` in a container show its limits.
// When it runs, containers get its files bound over their own (as LXD does); when it does not,
// they see the host's numbers and the server environment says so.
import { readFileSync } from "node:fs";

/** Where LXCFS is expected: LXD_LXCFS_DIR (tests run their own), else Debian's mountpoint. */
export const lxcfsPath = (): string => process.env.LXD_LXCFS_DIR || "/var/lib/lxcfs";

/** The mountpoint when an LXCFS is mounted there now, else undefined. */
export function lxcfsDir(mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): string | undefined {
  const want = lxcfsPath().replace(/\/+$/, "");
  for (const line of mountinfo.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!post?.startsWith("fuse.lxcfs ")) continue;
    const point = pre.split(" ")[4]?.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (point === want) return want;
  }
  return undefined;
}
