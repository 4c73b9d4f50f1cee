// The safety net behind cleanupDaemon(). bun test fires no 'exit' event, kills the children it
// still tracks when it ends, and a run can be killed outright; so each test process gets one
// detached watchdog that outlives it. The test process records every daemon it starts in a run
// directory; once the test process is gone, however it went, the watchdog cleans up whatever is
// still recorded there and removes the run directory.
//
//   library side:  runDir(), register(leftovers), unregister(tag)
//   watchdog side: bun reaper.ts PID STARTTIME RUN_DIR   (started by runDir(), never by hand)
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupLeftovers, type Leftovers } from "./cleanup.ts";

const LOG = "/tmp/lxd-test-reaper.log";

/** Field 22 of /proc/PID/stat: tells a live process from a later one that reused its pid. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

let dir: string | undefined;

/** This test process's run directory (created, with its watchdog, on first use). */
export function runDir(): string {
  if (dir) return dir;
  dir = mkdtempSync("/tmp/lxd-test-run-");
  mkdirSync(join(dir, "daemons"));
  // Through `sh ... &` so the watchdog is not our child: bun would kill it on exit.
  Bun.spawnSync(["sh", "-c", 'setsid "$@" </dev/null >/dev/null 2>&1 &', "sh",
    process.execPath, import.meta.path, String(process.pid), startTime(process.pid) ?? "", dir]);
  return dir;
}

export function register(l: Leftovers): void {
  writeFileSync(join(runDir(), "daemons", `${l.tag}.json`), JSON.stringify(l));
}

export function unregister(tag: string): void {
  rmSync(join(runDir(), "daemons", `${tag}.json`), { force: true });
}

async function watch(pid: number, start: string, run: string) {
  while (existsSync(run) && startTime(pid) === start) await Bun.sleep(250);
  if (!existsSync(run)) return;
  for (const f of readdirSync(join(run, "daemons"))) {
    const l = JSON.parse(readFileSync(join(run, "daemons", f), "utf8")) as Leftovers;
    const problems = cleanupLeftovers(l);
    const report = problems.length ? `incomplete:\n- ${problems.join("\n- ")}` : "done";
    appendFileSync(LOG, `${new Date().toISOString()} test process ${pid} left ${l.dir} behind; cleanup ${report}\n`);
  }
  rmSync(run, { recursive: true, force: true });
}

if (import.meta.main) {
  const [pid, start, run] = process.argv.slice(2);
  if (!pid || !start || !run) throw new Error("usage: reaper.ts PID STARTTIME RUN_DIR");
  await watch(Number(pid), start, run);
}
