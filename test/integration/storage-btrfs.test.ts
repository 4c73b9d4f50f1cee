// btrfs pools end to end on a real loop file inside the test daemon's own state dir (unmounted
// and detached by the harness, even on failure): images as read-only subvolumes, instances and
// snapshots as subvolume snapshots, data surviving snapshot/restore/copy byte for byte, qgroup
// size limits, the image cache per pool, and reconcile after a daemon killed mid-way.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
let fp: string;

beforeAll(async () => {
  d = await startInitializedDaemon();
  fp = (await d.api("GET", "/1.0/images/aliases/busybox")).body.metadata.target;
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);
const sh = (name: string, script: string) => ok("exec", name, "--", "sh", "-c", script);
const pool = () => join(d.dir, "storage-pools", "p1");
const isSubvolume = (path: string) => existsSync(path) && statSync(path).ino === 256;
const fingerprint = (name: string) =>
  sh(name, "sha256sum /root/blob /root/note; test -e /bin/vi && echo vi-present || echo vi-gone; ls -ln /root");

describe("btrfs pools", () => {
  test("create on a loop file; bad input is refused and loses nothing", async () => {
    const bad = await d.lxd("storage", "create", "tiny", "btrfs", "size=1MiB");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("too small");
    const bogus = await d.lxd("storage", "create", "b2", "btrfs", "source=/tmp");
    expect(bogus.code).not.toBe(0);
    expect(bogus.stderr).toContain("not a directory on a btrfs filesystem");
    expect((await d.api("GET", "/1.0/storage-pools/tiny")).status).toBe(404);

    await ok("storage", "create", "p1", "btrfs", "size=1GiB");
    const p = (await d.api("GET", "/1.0/storage-pools/p1")).body.metadata;
    expect(p.driver).toBe("btrfs");
    expect(p.config.source).toBe(join(d.dir, "disks", "p1.img"));
    expect(p.config.size).toBe("1GiB");
    expect(statSync(join(d.dir, "disks", "p1.img")).size).toBe(2 ** 30);
    const changed = await d.lxd("storage", "set", "p1", "size", "2GiB");
    expect(changed.code).not.toBe(0);
    expect(changed.stderr).toContain("cannot be changed");
  });

  test("create on an existing directory of a btrfs filesystem (source=)", async () => {
    // A btrfs filesystem of the test's own: a loop file and mount point inside the state dir.
    const img = join(d.dir, "own.img");
    const mnt = join(d.dir, "own");
    const host = (cmd: string[]) => expect(Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" }).exitCode).toBe(0);
    host(["truncate", "-s", "512M", img]);
    host(["mkfs.btrfs", "-q", img]);
    host(["mkdir", "-p", mnt]);
    host(["mount", "-o", "loop", img, mnt]);
    host(["mkdir", join(mnt, "lxd")]);
    await ok("storage", "create", "p2", "btrfs", `source=${join(mnt, "lxd")}`);
    await ok("launch", "busybox", "s1", "-s", "p2");
    expect(isSubvolume(join(mnt, "lxd", "containers", "s1"))).toBe(true);
    expect((await sh("s1", "echo ok")).trim()).toBe("ok");
    await ok("delete", "s1", "--force");
    await ok("storage", "delete", "p2");
    expect(existsSync(join(d.dir, "storage-pools", "p2"))).toBe(false);
    expect(readdirSync(join(mnt, "lxd", "containers"))).toEqual([]);
  });

  test("launch, snapshot, restore and copy keep data byte for byte", async () => {
    await ok("launch", "busybox", "c1", "-s", "p1");
    expect(isSubvolume(join(pool(), "images", fp))).toBe(true);
    expect(isSubvolume(join(pool(), "containers", "c1"))).toBe(true);
    // No chown of the image: files on disk stay owned by host root, container root sees them as its own.
    expect(statSync(join(pool(), "containers", "c1", "rootfs", "bin", "busybox")).uid).toBe(0);
    await sh("c1", "head -c 3000000 /dev/urandom > /root/blob && echo hello > /root/note && rm /bin/vi && chown 1000:1000 /root/note");
    const before = await fingerprint("c1");
    expect(before).toContain("vi-gone");
    expect(before).toMatch(/1000\s+1000 .* note/);

    await ok("snapshot", "c1", "s0");
    expect(isSubvolume(join(pool(), "containers-snapshots", "c1", "s0"))).toBe(true);
    await sh("c1", "head -c 1000 /dev/urandom > /root/blob && echo bye > /root/note && cp /bin/sh /bin/vi");
    expect(await fingerprint("c1")).not.toBe(before);
    await ok("restore", "c1", "s0");
    expect(await fingerprint("c1")).toBe(before);

    await ok("stop", "c1", "--force");
    await ok("restore", "c1", "s0");
    await ok("copy", "c1", "c2");
    await ok("copy", "c1/s0", "c3");
    for (const c of ["c1", "c2", "c3"]) await ok("start", c);
    for (const c of ["c1", "c2", "c3"]) expect(await fingerprint(c)).toBe(before);
    expect(isSubvolume(join(pool(), "containers-snapshots", "c2", "s0"))).toBe(true);
    await sh("c2", "echo changed > /root/note");
    expect(await fingerprint("c1")).toBe(before);
    // A subvolume nested in an instance (as a container may make) goes with it.
    expect(Bun.spawnSync(["btrfs", "subvolume", "create", join(pool(), "containers", "c2", "rootfs", "root", "nested")]).exitCode).toBe(0);
    for (const c of ["c2", "c3"]) await ok("delete", c, "--force");
    expect(readdirSync(join(pool(), "containers")).sort()).toEqual(["c1"]);
    expect(existsSync(join(pool(), "containers-snapshots", "c2"))).toBe(false);
  });

  test("size on the root disk is a qgroup limit", async () => {
    const created = await d.api("POST", "/1.0/instances", {
      name: "q1", source: { type: "image", alias: "busybox" },
      devices: { root: { type: "disk", path: "/", pool: "p1", size: "20MiB" } },
    });
    expect((await d.wait(created)).body.metadata.status).toBe("Success");
    await ok("start", "q1");
    const r = await d.lxd("exec", "q1", "--", "sh", "-c", "head -c 40000000 /dev/zero > /root/big && sync");
    expect(r.code).not.toBe(0);
    // busybox reports EDQUOT as an I/O error.
    expect(r.stderr).toMatch(/quota|space|I\/O error/i);
    // Raising the limit applies to the running container.
    const patched = await d.api("PATCH", "/1.0/instances/q1", { devices: { root: { type: "disk", path: "/", pool: "p1", size: "200MiB" } } });
    expect(patched.status).toBeLessThan(300);
    if (patched.status === 202) expect((await d.wait(patched)).body.metadata.status).toBe("Success");
    await sh("q1", "rm -f /root/big; head -c 40000000 /dev/zero > /root/big && sync");
    expect(Number((await d.api("GET", "/1.0/instances/q1/state")).body.metadata.disk.root.usage)).toBeGreaterThan(30_000_000);
    await ok("delete", "q1", "--force");
  });

  test("a dir pool refuses a size limit it cannot enforce", async () => {
    const r = await d.api("POST", "/1.0/instances", {
      name: "dq", source: { type: "image", alias: "busybox" },
      devices: { root: { type: "disk", path: "/", pool: "default", size: "20MiB" } },
    });
    const op = await d.wait(r);
    expect(op.body.metadata.status).toBe("Failure");
    expect(op.body.metadata.err).toContain("use a btrfs pool for size limits");
    expect((await d.api("GET", "/1.0/instances/dq")).status).toBe(404);
    expect(existsSync(join(d.dir, "storage-pools", "default", "containers", "dq"))).toBe(false);
  });

  test("an image's layer stays while an instance uses it, and goes with the last one", async () => {
    const r = await d.lxd("storage", "delete", "p1");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("in use");
    await ok("launch", "busybox", "keep", "-s", "p1");
    await ok("image", "delete", "busybox");
    expect(isSubvolume(join(pool(), "images", fp))).toBe(true);
    await ok("delete", "keep", "--force");
    expect(isSubvolume(join(pool(), "images", fp))).toBe(true); // c1 still builds on it
    await ok("delete", "c1", "--force");
    expect(existsSync(join(pool(), "images", fp))).toBe(false);
    expect(existsSync(join(d.dir, "storage-pools", "default", "images", fp))).toBe(false);
    const { importBusybox } = await import("../helpers/daemon.ts");
    await importBusybox(d);
  });

  test("a daemon killed mid-way leaves no orphan volume after restart", async () => {
    await ok("launch", "busybox", "k1", "-s", "p1");
    await sh("k1", "echo data > /root/note");
    await ok("snapshot", "k1", "s0");
    await ok("storage", "volume", "create", "p1", "vk");
    // A real kill right after a copy starts: either the copy is complete with its row, or it is gone.
    const copy = await d.api("POST", "/1.0/instances", { name: "k2", source: { type: "copy", source: "k1" } });
    expect(copy.status).toBe(202);
    await d.kill("SIGKILL");
    // And leftovers of every kind a crash can leave.
    const btrfs = (...a: string[]) => Bun.spawnSync(["btrfs", ...a], { stdout: "ignore", stderr: "pipe" });
    btrfs("subvolume", "snapshot", join(pool(), "containers", "k1"), join(pool(), "containers", "half.tmp-01ABC"));
    btrfs("subvolume", "snapshot", "-r", join(pool(), "containers", "k1"), join(pool(), "containers-snapshots", "k1", "s9.tmp-01ABC"));
    btrfs("subvolume", "snapshot", "-r", join(pool(), "containers", "k1"), join(pool(), "containers-snapshots", "k1", "ghost"));
    btrfs("subvolume", "create", join(pool(), "images", "f00.tmp-01ABC"));
    btrfs("subvolume", "create", join(pool(), "custom", "vghost"));
    btrfs("subvolume", "create", join(pool(), "custom", "vk2.tmp-01ABC"));
    mkdirSync(join(pool(), "custom-snapshots", "vk"));
    btrfs("subvolume", "snapshot", "-r", join(pool(), "custom", "vk"), join(pool(), "custom-snapshots", "vk", "s9.tmp-01ABC"));
    await d.restart();

    const k2 = (await d.api("GET", "/1.0/instances/k2")).status;
    const volumes = readdirSync(join(pool(), "containers")).sort();
    expect(volumes).toEqual(k2 === 200 ? ["k1", "k2"] : ["k1"]);
    expect(readdirSync(join(pool(), "containers-snapshots", "k1"))).toEqual(["s0"]);
    expect(readdirSync(join(pool(), "images"))).toEqual([fp]);
    expect(readdirSync(join(pool(), "custom"))).toEqual(["vk"]);
    expect(readdirSync(join(pool(), "custom-snapshots", "vk"))).toEqual([]);
    await ok("storage", "volume", "delete", "p1", "vk");
    expect((await sh("k1", "cat /root/note")).trim()).toBe("data");
    if (k2 === 200) await ok("delete", "k2", "--force");

    // A restore killed between its renames: only `k1.old-…` is left; reconcile puts it back.
    await ok("stop", "k1", "--force");
    await d.kill("SIGKILL");
    const { renameSync } = await import("node:fs");
    renameSync(join(pool(), "containers", "k1"), join(pool(), "containers", "k1.old-01XYZ"));
    // The pool comes back after its filesystem was unmounted too (a host reboot).
    expect(Bun.spawnSync(["umount", pool()]).exitCode).toBe(0);
    await d.restart();
    expect(readdirSync(join(pool(), "containers"))).toEqual(["k1"]);
    await ok("start", "k1");
    expect((await sh("k1", "cat /root/note")).trim()).toBe("data");
    await ok("delete", "k1", "--force");
  });
});
