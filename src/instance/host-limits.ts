// Host-wide limits that many running containers reach, after LXD's "server settings for a
// production setup". They are the host's to set (sysctls shared by everything on it), so the
// daemon does not change them: when a start would pass one, it logs a warning naming the exact
// setting, once per daemon run and setting.
import { readFileSync } from "node:fs";

export interface HostLimit {
  /** sysctl name, or "nofile" for the daemon's open-file limit. */
  setting: string;
  current: number;
  /** How many running containers it allows, at the per-container use assumed below. */
  containers: number;
  suggested: number;
  why: string;
}

interface Rule {
  setting: string;
  /** Units one running container takes, and what the host or daemon takes besides. */
  perContainer: number;
  reserve: number;
  suggested: number;
  why: string;
}

// Per-container use: one neighbour entry per nic on the host's bridges; one keyring and one
// inotify instance per container root (all containers' roots share one host uid by default);
// pidfd and monitor connection in the daemon; init, shell, DHCP client and monitor as processes.
const RULES: Rule[] = [
  { setting: "net.ipv4.neigh.default.gc_thresh3", perContainer: 1, reserve: 16, suggested: 8192, why: "ARP table size (one entry per container nic)" },
  { setting: "net.ipv6.neigh.default.gc_thresh3", perContainer: 1, reserve: 16, suggested: 8192, why: "IPv6 neighbour table size (one entry per container nic)" },
  { setting: "kernel.keys.maxkeys", perContainer: 1, reserve: 0, suggested: 2000, why: "kernel keyrings per user (one per container)" },
  { setting: "fs.inotify.max_user_instances", perContainer: 1, reserve: 0, suggested: 1048576, why: "inotify instances per user (systemd guests use several)" },
  { setting: "kernel.pid_max", perContainer: 4, reserve: 2048, suggested: 4194304, why: "process ids (a busybox container runs 3 processes and a monitor)" },
  { setting: "nofile", perContainer: 2, reserve: 256, suggested: 1048576, why: "the daemon's open files (a pidfd and a monitor socket per container)" },
];

function read(setting: string): number | undefined {
  try {
    if (setting === "nofile") {
      const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
      const soft = line?.split(/\s{2,}/)[1];
      return soft === "unlimited" ? Infinity : Number(soft);
    }
    return Number(readFileSync(`/proc/sys/${setting.replaceAll(".", "/")}`, "utf8").trim());
  } catch {
    return undefined;
  }
}

/** The limits `running` containers would pass. */
export function limitsReached(running: number): HostLimit[] {
  const out: HostLimit[] = [];
  for (const r of RULES) {
    const current = read(r.setting);
    if (current === undefined || !Number.isFinite(current)) continue;
    const containers = Math.max(0, Math.floor((current - r.reserve) / r.perContainer));
    if (running > containers) out.push({ setting: r.setting, current, containers, suggested: r.suggested, why: r.why });
  }
  return out;
}

/** How to raise it, as an operator would type it. */
export function howToRaise(l: HostLimit): string {
  return l.setting === "nofile"
    ? `raise the daemon's open-file limit to ${l.suggested} (LimitNOFILE= in its systemd unit, or ulimit -n)`
    : `sysctl -w ${l.setting}=${l.suggested} (and in /etc/sysctl.d/ to keep it)`;
}

/** Checks before a start; each setting is reported once per daemon run. */
export function hostLimitWarner(warn: (msg: string, ctx: Record<string, unknown>) => void): (running: number) => void {
  const reported = new Set<string>();
  return (running) => {
    for (const l of limitsReached(running)) {
      if (reported.has(l.setting)) continue;
      reported.add(l.setting);
      warn(`Host limit reached: ${l.setting} = ${l.current} allows about ${l.containers} running containers (${l.why}); ${howToRaise(l)}`,
        { setting: l.setting, current: l.current, suggested: l.suggested, running });
    }
  };
}
