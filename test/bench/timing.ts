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
