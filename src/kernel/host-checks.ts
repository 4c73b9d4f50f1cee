// Host conditions worth a warning at daemon start (LXD's /1.0/warnings): missing kernel or
// userspace features the daemon works without, and limits too low for many containers.
import { readFileSync } from "node:fs";
import { criuStatus } from "./criu.ts";
import { lxcfsDir } from "./lxcfs.ts";

export interface HostCondition { type: string; message: string; severity: "low" | "moderate" }

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
};

/** Limits below which many containers run into trouble (LXD's production setup guide). */
const LIMITS: [path: string, min: number, what: string][] = [
  ["/proc/sys/fs/inotify/max_user_instances", 1024, "fs.inotify.max_user_instances"],
  ["/proc/sys/fs/inotify/max_user_watches", 65536, "fs.inotify.max_user_watches"],
  ["/proc/sys/kernel/keys/maxkeys", 2000, "kernel.keys.maxkeys"],
];

export function hostConditions(): HostCondition[] {
  const found: HostCondition[] = [];
  if (read("/sys/module/apparmor/parameters/enabled") !== "Y") {
    found.push({ type: "AppArmor support has been disabled", message: "Disabled because of lack of kernel support", severity: "low" });
  }
  const criu = criuStatus();
  if (!criu.available) {
    found.push({ type: "CRIU isn't available", message: `Stateful snapshots and live migration are unavailable: ${criu.reason}`, severity: "low" });
  }
  if (!lxcfsDir()) {
    found.push({ type: "LXCFS isn't running", message: "Containers see the host's /proc/meminfo, /proc/cpuinfo and uptime instead of their limits", severity: "low" });
  }
  for (const [path, min, what] of LIMITS) {
    const value = Number(read(path));
    if (Number.isFinite(value) && read(path) !== "" && value < min) {
      found.push({ type: `Low ${what}`, message: `${what} is ${value}, below ${min}: raise it (sysctl) to run many containers`, severity: "low" });
    }
  }
  return found;
}
