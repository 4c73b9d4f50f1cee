// Per-phase durations of one lifecycle step, for the daemon's debug log (`lxd serve --debug`):
// how a launch's time splits between storage, cgroups, templates, the monitor and devices.
import { readFileSync } from "node:fs";

export interface Phases {
  /** Ends the current phase under `name` and starts the next. */
  mark(name: string): void;
  /** `{phase: "1.2ms", …, total: "…ms"}` for a log record. */
  fields(): Record<string, string>;
}

export function phases(): Phases {
  const start = performance.now();
  let last = start;
  const out: Record<string, string> = {};
  return {
    mark(name) {
      const now = performance.now();
      out[name] = `${(now - last).toFixed(1)}ms`;
      last = now;
    },
    fields: () => ({ ...out, total: `${(last - start).toFixed(1)}ms` }),
  };
}

/** The calling thread's CPU time and run-queue wait so far, ms (schedstat; zeros without it). */
function threadTimes(): { cpu: number; wait: number } {
  try {
    const [cpu, wait] = readFileSync("/proc/thread-self/schedstat", "utf8").split(" ").map(Number);
    return { cpu: cpu / 1e6, wait: wait / 1e6 };
  } catch {
    return { cpu: 0, wait: 0 };
  }
}

/**
 * Phases with the main thread's CPU time beside each: a daemon start's wall time swings with the
 * host's load, its CPU time does not. `fields()` gives `name=12.3ms name_cpu=4.5ms`, and `since`
 * the wall and CPU time before the first phase (from the process's start).
 */
export function cpuPhases(): Phases {
  const wall = phases();
  let last = threadTimes();
  const cpu: Record<string, string> = { before: `${performance.now().toFixed(1)}ms`, before_cpu: `${last.cpu.toFixed(1)}ms` };
  const first = last;
  return {
    mark(name) {
      wall.mark(name);
      const now = threadTimes();
      cpu[`${name}_cpu`] = `${(now.cpu - last.cpu).toFixed(1)}ms`;
      last = now;
    },
    fields: () => ({ ...cpu, ...wall.fields(), total_cpu: `${(last.cpu - first.cpu).toFixed(1)}ms`, run_wait: `${(last.wait - first.wait).toFixed(1)}ms` }),
  };
}
