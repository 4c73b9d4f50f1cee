// The busybox test image: built once per test run with the real binary, imported into each
// test daemon that needs it.
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { TestDaemon } from "./daemon.ts";
import { runDir } from "./reaper.ts";
import { lxdBinary, run } from "./run.ts";

let built: Promise<string> | undefined;

/** Path of a unified image tarball built by `lxd image build busybox -o FILE` (cached per run). */
export function busyboxImage(): Promise<string> {
  built ??= (async () => {
    // In the run directory: the reaper deletes it once the test process is gone.
    const workDir = mkdtempSync(join(runDir(), "image-"));
    const file = join(workDir, "busybox.tar.gz");
    // Its own LXD_DIR so that a build never touches /var/lib/lxd.
    const r = await run([lxdBinary(), "image", "build", "busybox", "-o", file], { env: { LXD_DIR: join(workDir, "lxd") }, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`lxd image build busybox failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return file;
  })();
  built.catch(() => {
    built = undefined; // let the next caller retry and see the error itself
  });
  return built;
}

/** Imports the busybox image into `d` under `alias`; returns its fingerprint. */
export async function importBusybox(d: TestDaemon, alias = "busybox"): Promise<string> {
  const file = await busyboxImage();
  const r = await d.lxd("image", "import", file, "--alias", alias);
  if (r.code !== 0) throw new Error(`lxd image import ${file} --alias ${alias} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  // A unified image's fingerprint is the sha256 of its tarball.
  const fingerprint = new Bun.CryptoHasher("sha256").update(await Bun.file(file).bytes()).digest("hex");
  const found = await d.api("GET", `/1.0/images/${fingerprint}`);
  if (found.status !== 200) throw new Error(`image ${fingerprint} missing after import: ${JSON.stringify(found.body)}`);
  return fingerprint;
}
