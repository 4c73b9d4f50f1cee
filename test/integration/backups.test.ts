// Instance backups end to end: `lxd export`/`lxd import` and LXD's `lxc export`/`lxc import`
// round trips with snapshots keep files, deletions, owners and modes; the tarball has LXD's
// layout with ids shifted as LXD stores them; bad tarballs leave nothing behind; expiry; the
// backups API (list, rename, delete).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { run } from "../helpers/run.ts";

let d: TestDaemon;
let work: string;

beforeAll(async () => {
  d = await startDaemon({ env: { LXD_SNAPSHOT_TIMER_MS: "300" } });
  expect((await d.lxd("init", "--auto")).code).toBe(0);
  await importBusybox(d);
  work = mkdtempSync("/tmp/lxd-backups-test-");
});

afterAll(async () => {
  await d?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const ok = (...args: string[]) => d.ok(...args);
const lxcOk = (...args: string[]) => d.lxcOk(...args);
const sh = (name: string, script: string) => ok("exec", name, "--", "sh", "-c", script);
/** What the tests write: contents, an owner and mode, a deleted image file, a symlink. */
const state = (name: string) =>
  sh(name, "cat /root/note; stat -c '%u:%g %a' /home/u/x; test -e /bin/vi && echo vi-present || echo vi-gone; ls -l /root/link | sed 's/.*-> //'");
const tarList = async (file: string) => {
  const r = await run(["tar", "-tvf", file]);
  if (r.code !== 0) throw new Error(`tar -tvf ${file}: ${r.stderr}`);
  return r.stdout;
};

describe("instance backups", () => {
  test("export and import keep the instance and its snapshots, in LXD's layout with shifted ids", async () => {
    await ok("launch", "busybox", "c1");
    await sh("c1", "echo one > /root/note && mkdir -p /home/u && touch /home/u/x && chown 1000:1000 /home/u/x && chmod 4750 /home/u/x && ln -s note /root/link");
    await ok("snapshot", "c1", "s0");
    await sh("c1", "echo two > /root/note && rm /bin/vi");
    const live = await state("c1");
    expect(live).toContain("two");
    expect(live).toContain("vi-gone");

    const file = join(work, "c1.tar.gz");
    await ok("export", "c1", file);
    const listing = await tarList(file);
    const lines = listing.split("\n");
    expect(lines[0]).toContain("backup/index.yaml");
    expect(listing).toContain("backup/snapshots/s0/rootfs/bin/busybox");
    expect(listing).toContain("backup/container/rootfs/bin/busybox");
    expect(listing).toContain("backup/container/metadata.yaml");
    // Owners as LXD stores an unprivileged container's files: shifted into its host range.
    const config = (await d.api("GET", "/1.0/instances/c1")).body.metadata.config;
    const base = JSON.parse(config["volatile.idmap.next"])[0].Hostid as number;
    const x = lines.find((l) => l.endsWith("backup/container/rootfs/home/u/x"))!;
    expect(x).toContain(`${base + 1000}/${base + 1000}`);
    expect(x.startsWith("-rwsr-x---")).toBe(true);
    const index = Bun.YAML.parse((await run(["tar", "-xOzf", file, "backup/index.yaml"])).stdout) as any;
    expect(index.name).toBe("c1");
    expect(index.snapshots).toEqual(["s0"]);
    expect(index.backend).toBe("dir");
    expect(index.config.container.config["volatile.last_state.idmap"]).toBe(config["volatile.idmap.next"]);
    expect(index.config.snapshots[0].name).toBe("s0");
    // lxd export cleans up the backup it made on the server.
    expect((await d.api("GET", "/1.0/instances/c1/backups")).body.metadata).toEqual([]);

    await ok("import", file, "c2");
    await ok("start", "c2");
    expect(await state("c2")).toBe(live);
    expect((await d.api("GET", "/1.0/instances/c2/snapshots")).body.metadata).toEqual(["/1.0/instances/c2/snapshots/s0"]);
    await ok("stop", "c2", "--force");
    await ok("restore", "c2", "s0");
    await ok("start", "c2");
    const restored = await state("c2");
    expect(restored).toContain("one");
    expect(restored).toContain("vi-present");
    // An imported instance can itself be snapshotted, copied and exported again.
    await ok("snapshot", "c2", "s1");
    await ok("copy", "c2", "c3");
    await ok("start", "c3");
    expect(await state("c3")).toBe(restored);
    const again = join(work, "c2.tar.xz");
    await ok("export", "c2", again, "--instance-only", "--compression", "xz");
    expect(await tarList(again)).not.toContain("backup/snapshots/");
    for (const c of ["c2", "c3"]) await ok("delete", "-f", c);
  });

  test("lxc export and lxc import against this daemon", async () => {
    const file = join(work, "lxc-c1.tar.gz");
    await lxcOk("export", "c1", file);
    expect(await tarList(file)).toContain("backup/container/rootfs/root/note");
    await lxcOk("import", file, "c4");
    await lxcOk("start", "c4");
    expect(await state("c4")).toBe(await state("c1"));
    await ok("delete", "-f", "c4");
  });

  test("the backups API: create with expiry, list, rename, download, delete; expired backups go", async () => {
    const made = await d.api("POST", "/1.0/instances/c1/backups", { name: "b1", instance_only: true, compression_algorithm: "none" });
    expect(made.status).toBe(202);
    expect((await d.wait(made)).body.metadata.status).toBe("Success");
    const list = (await d.api("GET", "/1.0/instances/c1/backups?recursion=1")).body.metadata;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: "b1", instance_only: true, optimized_storage: false, expires_at: "0001-01-01T00:00:00Z" });
    expect((await d.api("GET", "/1.0/instances/c1?recursion=1")).body.metadata.backups.map((b: { name: string }) => b.name)).toEqual(["b1"]);
    expect((await d.wait(await d.api("POST", "/1.0/instances/c1/backups/b1", { name: "b2" }))).body.metadata.status).toBe("Success");
    const exported = await fetch("http://lxd/1.0/instances/c1/backups/b2/export", { unix: d.socket });
    expect(exported.status).toBe(200);
    const bytes = new Uint8Array(await exported.arrayBuffer());
    // Uncompressed tar: the first member's name at offset 0.
    expect(new TextDecoder().decode(bytes.subarray(0, 17))).toBe("backup/index.yaml");
    expect((await d.api("POST", "/1.0/instances/c1/backups", { name: "b2" })).status).toBe(409);
    expect((await d.api("POST", "/1.0/instances/c1/backups", { compression_algorithm: "lz4" })).status).toBe(400);
    expect((await d.wait(await d.api("DELETE", "/1.0/instances/c1/backups/b2"))).body.metadata.status).toBe("Success");
    expect(existsSync(join(d.dir, "backups/instances/c1/b2"))).toBe(false);

    const soon = new Date(Date.now() + 1500).toISOString();
    await d.wait(await d.api("POST", "/1.0/instances/c1/backups", { name: "short", expires_at: soon }));
    expect((await d.api("GET", "/1.0/instances/c1/backups/short")).status).toBe(200);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await d.api("GET", "/1.0/instances/c1/backups/short")).status === 200) await Bun.sleep(300);
    expect((await d.api("GET", "/1.0/instances/c1/backups/short")).status).toBe(404);
    expect(existsSync(join(d.dir, "backups/instances/c1/short"))).toBe(false);
  });

  test("btrfs: export and import with snapshots, into btrfs and into dir", async () => {
    await ok("storage", "create", "fast", "btrfs", "size=512MiB");
    await ok("launch", "busybox", "b1", "-s", "fast");
    await sh("b1", "echo one > /root/note && mkdir -p /home/u && touch /home/u/x && chown 1000:1000 /home/u/x && chmod 4750 /home/u/x && ln -s note /root/link");
    await ok("snapshot", "b1", "s0");
    await sh("b1", "echo two > /root/note && rm /bin/vi");
    const live = await state("b1");
    const file = join(work, "b1.tar.gz");
    await ok("export", "b1", file);
    const index = Bun.YAML.parse((await run(["tar", "-xOzf", file, "backup/index.yaml"])).stdout) as any;
    expect(index).toMatchObject({ backend: "btrfs", pool: "fast", snapshots: ["s0"] });
    // Optimized: btrfs send streams, each snapshot against the one before, the instance last.
    const opt = join(work, "b1-opt.tar.gz");
    await ok("export", "b1", opt, "--optimized-storage");
    const optList = await tarList(opt);
    expect(optList).toContain("backup/snapshots/s0.bin");
    expect(optList).toContain("backup/container.bin");
    expect(optList).not.toContain("rootfs");
    const optIndex = Bun.YAML.parse((await run(["tar", "-xOzf", opt, "backup/index.yaml"])).stdout) as any;
    expect(optIndex).toMatchObject({ optimized: true, backend: "btrfs", snapshots: ["s0"] });
    await ok("import", opt, "b4");
    await ok("start", "b4");
    expect(await state("b4")).toBe(live);
    await ok("restore", "b4", "s0");
    expect(await state("b4")).toContain("one\n");
    await ok("delete", "-f", "b4");
    const intoDir = await d.lxd("import", opt, "b5", "-s", "default");
    expect(intoDir.stderr).toContain("can only be imported into a btrfs pool");
    expect((await d.api("GET", "/1.0/instances/b5")).status).toBe(404);
    expect((await d.lxd("export", "c1", join(work, "dir-opt.tar.gz"), "--optimized-storage")).stderr).toContain("Optimized backups are not supported");

    await ok("import", file, "b2");
    expect((await d.api("GET", "/1.0/instances/b2")).body.metadata.expanded_devices.root.pool).toBe("fast");
    await ok("import", file, "b3", "-s", "default");
    expect((await d.api("GET", "/1.0/instances/b3")).body.metadata.expanded_devices.root.pool).toBe("default");
    for (const c of ["b2", "b3"]) {
      await ok("start", c);
      expect(await state(c)).toBe(live);
      await ok("restore", c, "s0");
      expect(await state(c)).toContain("one\n");
      await ok("delete", "-f", c);
    }
    await ok("delete", "-f", "b1");
  });

  test("custom volume export and import, by lxd and by lxc, keep files, owners and snapshots", async () => {
    await ok("storage", "volume", "create", "default", "vol1");
    await ok("storage", "volume", "attach", "default", "vol1", "c1", "/data");
    await sh("c1", "echo first > /data/f && chown 1000:2000 /data/f");
    await ok("storage", "volume", "snapshot", "default", "vol1", "vs0");
    await sh("c1", "echo second > /data/f && echo more > /data/g");
    const file = join(work, "vol1.tar.gz");
    await ok("storage", "volume", "export", "default", "vol1", file);
    const listing = await tarList(file);
    expect(listing.split("\n")[0]).toContain("backup/index.yaml");
    expect(listing).toContain("backup/volume-snapshots/vs0/f");
    // Volumes keep the ids the container sees (LXD reads a volume without volatile.idmap.last so).
    expect(listing.split("\n").find((l) => l.endsWith("backup/volume/f"))).toContain("1000/2000");
    const index = Bun.YAML.parse((await run(["tar", "-xOzf", file, "backup/index.yaml"])).stdout) as any;
    expect(index).toMatchObject({ name: "vol1", type: "custom", snapshots: ["vs0"], backend: "dir" });
    expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/vol1/backups")).body.metadata).toEqual([]);

    await ok("storage", "volume", "import", "default", file, "vol2");
    expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/vol2/snapshots")).body.metadata)
      .toEqual(["/1.0/storage-pools/default/volumes/custom/vol2/snapshots/vs0"]);
    await ok("storage", "volume", "attach", "default", "vol2", "c1", "/data2");
    expect(await sh("c1", "cat /data2/f /data2/g; stat -c '%u:%g' /data2/f")).toBe("second\nmore\n1000:2000\n");
    await ok("storage", "volume", "detach", "default", "vol2", "c1");
    await ok("storage", "volume", "restore", "default", "vol2", "vs0");
    await ok("storage", "volume", "attach", "default", "vol2", "c1", "/data2");
    expect(await sh("c1", "cat /data2/f; test -e /data2/g || echo no-g")).toBe("first\nno-g\n");
    expect((await d.lxd("storage", "volume", "import", "default", file, "vol2")).stderr).toContain('Storage volume "vol2" already exists');

    const byLxc = join(work, "vol1-lxc.tar.gz");
    await lxcOk("storage", "volume", "export", "default", "vol1", byLxc, "--volume-only");
    expect(await tarList(byLxc)).not.toContain("volume-snapshots");
    await lxcOk("storage", "volume", "import", "default", byLxc, "vol3");
    await ok("storage", "volume", "attach", "default", "vol3", "c1", "/data3");
    expect(await sh("c1", "cat /data3/f")).toBe("second\n");
  });

  test("bad tarballs are refused with a clear error and leave nothing behind", async () => {
    const poolDir = join(d.dir, "storage-pools", "default");
    const before = { containers: readdirSync(join(poolDir, "containers")).sort(), layers: readdirSync(join(poolDir, "layers")).sort() };
    const bad = async (name: string, files: Record<string, string>, expected: RegExp) => {
      const dir = mkdtempSync(join(work, "bad-"));
      for (const [p, body] of Object.entries(files)) {
        await run(["mkdir", "-p", join(dir, p, "..")]);
        writeFileSync(join(dir, p), body);
      }
      const file = join(work, `${name}.tar`);
      // --transform lets a member name escape (../), as a hostile tarball would.
      const r = await run(["tar", "-cf", file, "-C", dir, "--transform", "s,^evil/,../,", ...Object.keys(files)]);
      expect(r.code).toBe(0);
      const res = await d.lxd("import", file, name);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(expected);
      expect((await d.api("GET", `/1.0/instances/${name}`)).status).toBe(404);
    };
    await bad("nothing", { "hello.txt": "hi" }, /does not start with backup\/index.yaml/);
    const index = "name: x\nbackend: dir\npool: default\nsnapshots: []\noptimized: false\noptimized_header: false\ntype: container\nconfig:\n  container:\n    architecture: x86_64\n    config: {}\n    devices: {}\n    profiles: [default]\n";
    await bad("escape", { "backup/index.yaml": index, "backup/container/rootfs/etc/x": "a", "evil/evil.txt": "x" }, /refusing "\.\.\/evil.txt"/);
    await bad("norootfs", { "backup/index.yaml": index, "backup/container/metadata.yaml": "architecture: x86_64\n" }, /rootfs is missing/);
    await bad("stray", { "backup/index.yaml": index, "backup/container/rootfs/etc/x": "a", "backup/other": "x" }, /not part of a backup/);
    expect(readdirSync(join(poolDir, "containers")).sort()).toEqual(before.containers);
    expect(readdirSync(join(poolDir, "layers")).sort()).toEqual(before.layers);
    expect(readdirSync(join(d.dir, "backups")).filter((f) => f.startsWith("."))).toEqual([]);
    // A name already taken is refused before anything is unpacked.
    const file = join(work, "c1.tar.gz");
    const taken = await d.lxd("import", file, "c1");
    expect(taken.stderr).toContain('Instance "c1" already exists');
  });
});
