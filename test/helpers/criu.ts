// CRIU 4.x for the stateful tests: the wrapper appliance/criu.sh makes around Debian trixie's criu
// (CI runs it; a fresh machine gets it here on first use, about 30 s, then it is cached), and
// the state the tests check survives a checkpoint.
import { join } from "node:path";
import type { TestDaemon } from "./daemon.ts";
import { CACHE_DIR } from "./debian-image.ts";
import { repoRoot, run } from "./run.ts";
import { until } from "./until.ts";

let made: Promise<string> | undefined;

/** Path of the `criu` wrapper to give daemons as LXD_CRIU. */
export function criuWrapper(): Promise<string> {
  made ??= (async () => {
    const dir = join(CACHE_DIR, "criu");
    const r = await run([join(repoRoot, "appliance/criu.sh"), dir], { timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`appliance/criu.sh failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return join(dir, "criu");
  })();
  return made;
}

/** Starts in a running stock busybox container (its console shell included) what a checkpoint must
 *  keep: a counter in a shell variable (/run/count) and another shell's variable (/run/secret),
 *  each in a session of its own under init. */
export async function startCounting(d: TestDaemon, name: string): Promise<void> {
  const loop = (body: string) => `setsid sh -c '${body}' </dev/null >/dev/null 2>&1 &`;
  await d.ok("exec", name, "--", "sh", "-c", [
    loop("i=0; while true; do i=$((i+1)); echo $i > /run/count; sleep 0.1; done"),
    loop("secret=v$$-kept; while true; do echo \"$secret\" > /run/secret; sleep 0.1; done"),
  ].join(" "));
  await until(async () => (await d.lxd("exec", name, "--", "cat", "/run/count", "/run/secret")).code === 0, `${name} counts`);
  await until(async () => (await d.ok("exec", name, "--", "ps")).includes("-/bin/sh"), `${name}'s console shell`);
}

/** Types `input` into the container's console shell; its output. */
export async function typeOnConsole(d: TestDaemon, name: string, input: string): Promise<string> {
  const r = await d.lxdWith({ stdin: input, timeoutMs: 30_000 }, "console", name);
  if (r.code !== 0) throw new Error(`lxd console ${name} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}
