// The Debian systemd test image: `lxd image build debian` takes minutes (downloads and dpkg),
// so it is built once and kept under /var/cache/lxd-test, keyed by the recipe (release, the
// builder's source, the packages). A fresh machine (CI starts with an empty cache) builds it on
// first use; the downloaded .debs are kept beside it for the next recipe.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TestDaemon } from "./daemon.ts";
import { lxdBinary, repoRoot, run } from "./run.ts";

export const CACHE_DIR = process.env.LXD_TEST_CACHE || "/var/cache/lxd-test";
const RELEASE = "bookworm";

let built: Promise<string> | undefined;

async function recipeKey(): Promise<string> {
  const builder = await Bun.file(join(repoRoot, "src/image/build-debian.ts")).text();
  return new Bun.CryptoHasher("sha256").update(`${RELEASE}\n${builder}`).digest("hex").slice(0, 16);
}

/** Path of an uncompressed Debian bookworm image tarball (built on first use, then cached). */
export function debianImage(): Promise<string> {
  built ??= (async () => {
    const file = join(CACHE_DIR, `debian-${RELEASE}-${await recipeKey()}.tar`);
    if (existsSync(file)) return file;
    mkdirSync(CACHE_DIR, { recursive: true });
    // One build at a time across test processes (they share the cache): the others wait for
    // the lock, then find the file.
    const r = await run(
      ["flock", join(CACHE_DIR, ".debian.lock"), "sh", "-c", 'test -e "$0" || exec "$@"', file,
        lxdBinary(), "image", "build", "debian", "--release", RELEASE, "--compression", "none", "-q",
        "--cache-dir", join(CACHE_DIR, "debs"), "-o", file],
      { env: { LXD_DIR: join(CACHE_DIR, "lxd") }, timeoutMs: 1_200_000 },
    );
    // The builder writes FILE only when it is complete, so a failure leaves nothing behind.
    if (r.code !== 0) throw new Error(`lxd image build debian failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return file;
  })();
  built.catch(() => {
    built = undefined;
  });
  return built;
}

/** Imports the Debian image into `d` under `alias`. */
export async function importDebian(d: TestDaemon, alias = "debian"): Promise<void> {
  const file = await debianImage();
  const r = await d.lxd("image", "import", file, "--alias", alias);
  if (r.code !== 0) throw new Error(`lxd image import ${file} failed (${r.code}):\n${r.stderr}${r.stdout}`);
}

/** Polls `systemctl is-system-running` in `name` until it settles; returns the last state. */
export async function waitSystemd(d: TestDaemon, name: string, timeoutMs = 60_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let state = "";
  while (Date.now() < end) {
    const r = await d.lxd("exec", name, "--", "systemctl", "is-system-running");
    state = r.stdout.trim();
    if (state === "running" || state === "degraded") return state;
    await Bun.sleep(50);
  }
  return state;
}
