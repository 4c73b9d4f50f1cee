// Named crash points for the fault tests. With LXD_TEST_CRASH_AT="start:after-launch" the daemon
// SIGKILLs itself when a start reaches that step; with LXD_TEST_KILL_MONITOR_AT it kills the
// container's monitor there instead and carries on. Both are honoured only under the test harness
// (LXD_TEST_TAG set), so no production environment can trip them. Every point an operation
// passes is listed here: the fault test walks the whole table.
import { readFileSync } from "node:fs";

export const CRASH_POINTS = {
  start: ["after-idmap", "after-cgroup", "after-templates", "after-launch", "after-devices"],
  stop: ["after-signal", "after-devices", "after-cgroup"],
  snapshot: ["frozen", "after-volume"],
  copy: ["after-volume"],
  rename: ["after-volume", "after-row"],
  delete: ["after-row", "after-volume"],
  "volume-create": ["after-volume"],
  "volume-snapshot": ["after-volume"],
  "volume-rename": ["after-row"],
  "volume-delete": ["after-row"],
} as const;

export type CrashOp = keyof typeof CRASH_POINTS;

const armed = process.env.LXD_TEST_TAG ? process.env.LXD_TEST_CRASH_AT : undefined;
const monitorArmed = process.env.LXD_TEST_TAG ? process.env.LXD_TEST_KILL_MONITOR_AT : undefined;

/** Marks a step of an operation; `initPid` (when a container runs) lets the monitor be the victim. */
export function crashPoint<O extends CrashOp>(op: O, step: (typeof CRASH_POINTS)[O][number], initPid?: number): void {
  const here = `${op}:${step}`;
  if (monitorArmed === here && initPid) {
    // The monitor is init's parent.
    const stat = readFileSync(`/proc/${initPid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid > 1) process.kill(ppid, "SIGKILL");
  }
  if (armed === here) process.kill(process.pid, "SIGKILL");
}
