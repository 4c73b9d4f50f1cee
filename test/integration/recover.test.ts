// `lxd recover` after the database file is gone: the daemon keeps the instance volumes it no
// longer knows (they carry backup.yaml), and recover brings them back from a dir and a btrfs
// pool (both named again, as the lost database knew neither) with config and snapshots.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { importBusybox, run, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

/** Debian's real LXD 5.0.2: its `lxd recover` is a client of the daemon's unix socket. */
const LXD_DAEMON = "/usr/bin/lxd";

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon();
  await d.ok("init", "--auto");
  await importBusybox(d);
});

afterAll(async () => {
  await d?.stop();
});

const sh = (name: string, script: string) => d.ok("exec", name, "--", "sh", "-c", script);

describe("lxd recover", () => {
  test("instances on dir and btrfs pools come back after the database file is deleted", async () => {
    await d.ok("storage", "create", "p2", "btrfs", "size=512MiB");
    await d.ok("launch", "busybox", "r1");
    await sh("r1", "echo one > /root/note");
    await d.ok("snapshot", "r1", "s0");
    await sh("r1", "echo two > /root/note");
    await d.ok("config", "set", "r1", "user.kept", "yes");
    await d.ok("launch", "busybox", "r2", "-s", "p2");
    await sh("r2", "echo btrfs > /root/note");
    await d.ok("storage", "volume", "create", "default", "keep");
    await d.ok("storage", "volume", "attach", "default", "keep", "r1", "/keep");
    await sh("r1", "echo kept > /keep/f");
    await d.ok("storage", "volume", "snapshot", "default", "keep", "ks0");
    // A project's instance and custom volume (stored as p1_pc, p1_pv) come back into it.
    const p1 = ["-c", "features.images=false", "-c", "features.profiles=false"];
    await d.ok("project", "create", "p1", ...p1);
    await d.ok("init", "busybox", "pc", "--project", "p1", "-c", "user.in=p1");
    await d.ok("storage", "volume", "create", "default", "pv", "--project", "p1");
    for (const c of ["r1", "r2"]) await d.ok("stop", c, "--force");
    const defaultSource = join(d.dir, "storage-pools", "default");
    expect(existsSync(join(defaultSource, "containers", "r1", "backup.yaml"))).toBe(true);

    await d.kill("SIGTERM");
    for (const f of ["lxd.db", "lxd.db-wal", "lxd.db-shm"]) rmSync(join(d.dir, "database", f), { force: true });
    await d.start();
    expect((await d.api("GET", "/1.0/instances")).body.metadata).toEqual([]);
    // The restart kept what the database no longer names.
    expect(existsSync(join(defaultSource, "containers", "r1", "backup.yaml"))).toBe(true);

    const validate = await d.api("POST", "/internal/recover/validate", {
      pools: [{ name: "default", driver: "dir", config: { source: defaultSource } }],
    });
    // The project went with the database: recover names it until it exists again.
    expect(validate.body.metadata.DependencyErrors).toEqual(['Failed to find project "p1" (instance "pc")']);
    await d.ok("project", "create", "p1", ...p1);
    const again = await d.api("POST", "/internal/recover/validate", {
      pools: [{ name: "default", driver: "dir", config: { source: defaultSource } }],
    });
    expect(again.body.metadata).toEqual({
      UnknownVolumes: [
        { name: "r1", type: "container", snapshotCount: 1, project: "default", pool: "default" },
        { name: "pc", type: "container", snapshotCount: 0, project: "p1", pool: "default" },
        { name: "pv", type: "custom", snapshotCount: 0, project: "p1", pool: "default" },
        { name: "keep", type: "custom", snapshotCount: 1, project: "default", pool: "default" },
      ],
      DependencyErrors: null,
    });

    const answers = [
      "yes", "default", "dir", defaultSource, "",
      "yes", "p2", "btrfs", join(d.dir, "disks", "p2.img"), "",
      "no", "", "yes",
    ].join("\n") + "\n";
    const r = await d.lxdWith({ stdin: answers, timeoutMs: 60_000 }, "recover");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('Container "r1" on pool "default" in project "default" (includes 1 snapshots)');
    expect(r.stdout).toContain('Container "r2" on pool "p2"');
    expect(r.stdout).toContain('Volume "keep" on pool "default" in project "default" (includes 1 snapshots)');
    expect(r.stdout).toContain('Container "pc" on pool "default" in project "p1"');
    expect((await d.api("GET", "/1.0/instances/pc?project=p1")).body.metadata).toMatchObject({ name: "pc", project: "p1", config: { "user.in": "p1" } });
    expect((await d.api("GET", "/1.0/instances/pc")).status).toBe(404);
    expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/pv?project=p1")).body.metadata).toMatchObject({ name: "pv", project: "p1" });
    await d.ok("start", "pc", "--project", "p1");
    await d.ok("delete", "pc", "--force", "--project", "p1");
    await d.ok("storage", "volume", "delete", "default", "pv", "--project", "p1");

    const pools = (await d.api("GET", "/1.0/storage-pools")).body.metadata.sort();
    expect(pools).toEqual(["/1.0/storage-pools/default", "/1.0/storage-pools/p2"]);
    expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/keep/snapshots")).body.metadata)
      .toEqual(["/1.0/storage-pools/default/volumes/custom/keep/snapshots/ks0"]);
    await d.ok("start", "r1");
    expect(await sh("r1", "cat /root/note /keep/f")).toBe("two\nkept\n");
    expect((await d.ok("config", "get", "r1", "user.kept")).trim()).toBe("yes");
    expect((await d.api("GET", "/1.0/instances/r1/snapshots")).body.metadata).toEqual(["/1.0/instances/r1/snapshots/s0"]);
    await d.ok("restore", "r1", "s0");
    expect(await sh("r1", "cat /root/note")).toBe("one\n");
    await d.ok("start", "r2");
    expect(await sh("r2", "cat /root/note")).toBe("btrfs\n");
    // Nothing left to find.
    const none = await d.lxdWith({ stdin: "no\n\n", timeoutMs: 60_000 }, "recover");
    expect(none.stdout).toContain("No unknown volumes found");
    for (const c of ["r1", "r2"]) await d.ok("stop", "-f", c);
  });

  test.skipIf(!existsSync(LXD_DAEMON))("LXD 5.0.2's own `lxd recover` works against this daemon", async () => {
    await d.kill("SIGTERM");
    for (const f of ["lxd.db", "lxd.db-wal", "lxd.db-shm"]) rmSync(join(d.dir, "database", f), { force: true });
    await d.start();
    const answers = ["yes", "default", "dir", join(d.dir, "storage-pools", "default"), "", "no", "", "yes"].join("\n") + "\n";
    const r = await run([LXD_DAEMON, "recover"], { env: { LXD_DIR: d.dir }, stdin: answers, timeoutMs: 60_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain("r1");
    await d.ok("start", "r1");
    expect(await sh("r1", "cat /root/note")).toBe("one\n");
    await d.ok("delete", "-f", "r1");
  });
});
