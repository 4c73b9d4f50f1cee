// Logs other processes write (each container monitor's monitor.log and console.log, each
// network's dnsmasq.log) are rotated on a timer, so no container or network can fill the disk
// through them. The daemon's own log rotates as it writes (src/log.ts).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { logMaxBytes, rotateLog } from "../log.ts";
import { lxdDir } from "../paths.ts";

const subdirs = (dir: string) => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/** Checks every LXD_LOG_CHECK_MS (30 s by default); returns the stop function. */
export function startLogRotation(): () => void {
  const max = logMaxBytes();
  const tick = () => {
    for (const name of subdirs(join(lxdDir(), "containers"))) {
      for (const file of ["monitor.log", "console.log"]) rotateLog(join(lxdDir(), "containers", name, file), max, "others");
    }
    for (const name of subdirs(join(lxdDir(), "networks"))) rotateLog(join(lxdDir(), "networks", name, "dnsmasq.log"), max, "others");
  };
  const timer = setInterval(tick, Number(process.env.LXD_LOG_CHECK_MS) || 30_000);
  return () => clearInterval(timer);
}
