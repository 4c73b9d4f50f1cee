// Waiting for something a daemon does in the background (a supervised child coming up, a shell
// echoing on the console): tests poll for the outcome instead of assuming how long it takes.

/** Resolves once `fn` is true; throws `what` after `ms`. */
export async function until(fn: () => boolean | Promise<boolean>, what = "condition", ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; ; await Bun.sleep(100)) {
    if (await fn()) return;
    if (Date.now() >= end) throw new Error(`${what}: not met within ${ms} ms`);
  }
}
