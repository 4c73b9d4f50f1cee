// Migration rows of `npm run bench` (`-- --only migration`): a cold copy of a stopped instance on
// the 100 MB image from one daemon to another over HTTPS on loopback (pull mode, our CLI), beside
// its floor, `rsync -a` of the same tree between two local directories, and — when Debian's
// `lxd` is installed — LXD 5.0.2 copying the same instance between two LXD daemons.
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { RealLxd, realLxdMissing } from "../helpers/real-lxd.ts";
import { Clients, listenHttps } from "../helpers/migration.ts";
import { bigImage, BIG_IMAGE_MB } from "./storage.ts";
import { cliOf, timed } from "./timing.ts";

export interface MigrationRow { key: string; what: string; times: number[]; floor: number[]; lxd5: number[] }

async function ok(p: Promise<{ code: number; stderr: string }>, what: string): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
}

/** LXD 5.0.2 between two of its own daemons (undefined when it is not installed). */
async function lxd5Copies(runs: number, image: string): Promise<number[]> {
  if (await realLxdMissing()) return [];
  const [x, y] = [new RealLxd(), new RealLxd()];
  const clients = new Clients();
  try {
    await Promise.all([x.start(), y.start()]);
    for (const [name, d] of [["x", x], ["y", y]] as const) {
      await ok(clients.lxc("remote", "add", name, await d.listen(`bench-${name}`)), `lxc remote add ${name}`);
    }
    await x.ok("image", "import", image, "--alias", "big");
    await x.ok("init", "big", "m");
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      times.push(await timed(() => ok(clients.lxc("copy", "x:m", `y:m${i}`), "lxc copy (LXD 5)")));
      await y.ok("delete", `m${i}`);
    }
    return times;
  } finally {
    clients.cleanup();
    await Promise.all([x.stop(), y.stop()]);
  }
}

export async function migrationTimings(d: TestDaemon, runs: number, busyboxTarball: string): Promise<MigrationRow[]> {
  const other = await startInitializedDaemon();
  const clients = new Clients();
  const work = mkdtempSync(join(d.dir, "bench-migration-"));
  try {
    await Promise.all([listenHttps(d), listenHttps(other)]);
    await clients.addRemote("a", d);
    await clients.addRemote("b", other);
    const cli = cliOf(d);
    const image = await bigImage(busyboxTarball, work);
    await cli("image", "import", image, "--alias", "bigm");
    // A unified image's fingerprint is the sha256 of its tarball.
    const fingerprint = new Bun.CryptoHasher("sha256").update(await Bun.file(image).bytes()).digest("hex");
    await cli("init", "bigm", "mig");
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      times.push(await timed(() => ok(clients.lxd("copy", "a:mig", `b:mig${i}`), "lxd copy")));
      await ok(other.lxd("delete", `mig${i}`), "delete");
    }
    // The same tree (the instance wrote nothing: it is its image's), copied by rsync alone.
    const tree = join(d.dir, "storage-pools/default/images", fingerprint);
    const floor: number[] = [];
    for (let i = 0; i < runs; i++) {
      const dest = join(work, `rsync${i}`);
      floor.push(await timed(() => ok(Bun.spawn(["rsync", "-a", `${tree}/`, `${dest}/`], { stderr: "pipe" }).exited.then((code) => ({ code, stderr: "" })), "rsync -a")));
      rmSync(dest, { recursive: true, force: true });
    }
    const lxd5 = await lxd5Copies(runs, image);
    await cli("delete", "mig");
    await cli("image", "delete", "bigm");
    return [{ key: "migration-copy", what: `copy to another daemon (stopped, ${BIG_IMAGE_MB} MB image, pull over HTTPS)`, times, floor, lxd5 }];
  } finally {
    clients.cleanup();
    rmSync(work, { recursive: true, force: true });
    await other.stop();
  }
}
