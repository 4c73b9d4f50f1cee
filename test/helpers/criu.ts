// CRIU 4.x for the stateful tests: the wrapper appliance/criu.sh makes around Debian trixie's criu
// (CI runs it; a fresh machine gets it here on first use, about 30 s, then it is cached).
import { join } from "node:path";
import { CACHE_DIR } from "./debian-image.ts";
import { repoRoot, run } from "./run.ts";

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
