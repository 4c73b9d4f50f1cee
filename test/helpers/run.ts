// Running the real binaries from tests: bounded in time, output captured, never a tty.
import { existsSync } from "node:fs";
import { resolve } from "node:path";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to (and overriding) the test process's environment. */
  env?: Record<string, string | undefined>;
  /** Written to the command's stdin, then closed; default: /dev/null. */
  stdin?: string | Uint8Array;
  /** Killed (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  cwd?: string;
}

export const repoRoot = resolve(import.meta.dir, "../..");

/** The compiled binary under test (`LXD_TEST_BINARY` overrides dist/lxd). */
export function lxdBinary(): string {
  const bin = process.env.LXD_TEST_BINARY ?? resolve(repoRoot, "dist/lxd");
  if (!existsSync(bin)) throw new Error(`${bin} does not exist: run \`npm run build\` first`);
  return bin;
}

export async function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
  const proc = Bun.spawn(argv, {
    env,
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const timedOut = proc.signalCode === "SIGKILL" && proc.killed;
  return {
    code,
    stdout,
    stderr: timedOut ? `${stderr}\n[harness] \`${argv.join(" ")}\` killed after ${timeoutMs} ms` : stderr,
  };
}
