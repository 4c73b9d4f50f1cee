// Image rows of `npm run bench`: importing a ~100 MB unified tar.gz (upload, hashing and the full
// check of every entry) and the first launch from it (unpacking into the pool), each beside
// `tar -xzf` of the same file measured in the same run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { busyboxImage, run, type TestDaemon } from "../helpers/daemon.ts";
import { hostArchitecture } from "../../src/image/metadata.ts";
import { cliOf, timed } from "./timing.ts";

export interface ImageRow { key: string; what: string; times: number[]; floor: number[] }

/** A unified image of busybox plus 2000 small text files and 80 MiB of incompressible data. */
async function buildImage(dir: string): Promise<string> {
  const tree = join(dir, "tree");
  mkdirSync(join(tree, "rootfs/usr/share/bench"), { recursive: true });
  const sh = async (cmd: string) => {
    const r = await run(["sh", "-c", cmd], { cwd: dir, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  await sh(`tar -xzf ${await busyboxImage()} -C tree`);
  writeFileSync(join(tree, "metadata.yaml"), `architecture: ${hostArchitecture()}\ncreation_date: 1700000000\nproperties:\n  description: bench\n`);
  for (let i = 0; i < 2000; i++) writeFileSync(join(tree, `rootfs/usr/share/bench/doc${i}.txt`), `document ${i}\n`.repeat(200));
  await sh("for i in $(seq 1 20); do head -c 4194304 /dev/urandom > tree/rootfs/usr/share/bench/blob$i; done");
  await sh("tar --numeric-owner -czf bench.tar.gz -C tree metadata.yaml rootfs && rm -rf tree");
  return join(dir, "bench.tar.gz");
}

export async function imageTimings(d: TestDaemon, runs: number): Promise<ImageRow[]> {
  const dir = mkdtempSync(join(d.dir, "bench-image-"));
  const cli = cliOf(d);
  try {
    const file = await buildImage(dir);
    const rows = { imp: [] as number[], launch: [] as number[], tar: [] as number[] };
    for (let i = 0; i < runs; i++) {
      // Side by side: tar first, then ours, on the same (now cached) file.
      const out = join(dir, `x${i}`);
      mkdirSync(out);
      rows.tar.push(await timed(async () => {
        const r = await run(["tar", "-xzf", file, "-C", out]);
        if (r.code !== 0) throw new Error(`tar -xzf failed: ${r.stderr}`);
      }));
      rmSync(out, { recursive: true, force: true });
      rows.imp.push(await timed(() => cli("image", "import", file, "--alias", "bench")));
      rows.launch.push(await timed(() => cli("launch", "bench", "bench1")));
      await cli("delete", "bench1", "--force");
      await cli("image", "delete", "bench");
    }
    const size = Bun.file(file).size;
    const mb = (size / 1e6).toFixed(0);
    return [
      { key: "image-import", what: `image import, ${mb} MB tar.gz (upload, hash, check every entry)`, times: rows.imp, floor: rows.tar },
      { key: "image-launch", what: `first launch from it (unpack into the pool + start)`, times: rows.launch, floor: rows.tar },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
