// What the daemon reads of a running container's init through /proc/PID. The pid alone could name
// another process once init has gone and its pid was reused, so each read is confirmed afterwards
// through init's pidfd: a pidfd that still reaches its process proves the pid was init's while
// the read happened.
import { closeSync, openSync, readFileSync } from "node:fs";
import { pidfdSignal } from "../kernel/ffi.ts";
import type { RunningInstance } from "./devices.ts";

type Init = Pick<RunningInstance, "name" | "initPid" | "pidfd">;

function confirm(inst: Init): void {
  const pidfd = inst.pidfd();
  try {
    if (pidfd < 0) throw new Error("gone");
    pidfdSignal(pidfd, 0);
  } catch {
    throw new Error(`the init process of instance "${inst.name}" is gone`);
  }
}

/** /proc/PID/WHAT of the instance's init, as text. */
export function readInitProc(inst: Init, what: string): string {
  const text = readFileSync(`/proc/${inst.initPid}/${what}`, "utf8");
  confirm(inst);
  return text;
}

/** An open fd of init's network namespace (the caller closes it). */
export function openInitNetns(inst: Init): number {
  const fd = openSync(`/proc/${inst.initPid}/ns/net`, "r");
  try {
    confirm(inst);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** A path other processes (nsenter, ip) can open for an fd this daemon holds. */
export const fdPath = (fd: number) => `/proc/${process.pid}/fd/${fd}`;
