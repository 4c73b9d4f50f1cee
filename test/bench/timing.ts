// What every group of benchmark rows needs: a CLI call that must succeed, and a stopwatch.
import type { TestDaemon } from "../helpers/daemon.ts";

/** `lxd ARGS...` against `d`, returning stdout; a failure stops the benchmark with its stderr. */
export function cliOf(d: TestDaemon): (...args: string[]) => Promise<string> {
  return async (...args) => {
    const r = await d.lxd(...args);
    if (r.code !== 0) throw new Error(`lxd ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
}

/** Milliseconds `fn` took. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** One line of the benchmark's table: our figure beside the same run's floor. */
export interface BenchRow {
  key: string;
  what: string;
  ours: string;
  floor: string;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** `lxc list` against `d` (LXD's own client), failing loudly. */
export async function lxcList(d: TestDaemon): Promise<void> {
  const r = await d.lxc("list");
  if (r.code !== 0) throw new Error(`lxc list failed: ${r.stderr}`);
}
