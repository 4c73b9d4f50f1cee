// `lxd storage create|list|show|set|unset|info|delete` over /1.0/storage-pools, and an instance
// with snapshots and a copy on a second dir pool.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { busyboxImage, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
let source = "";

beforeAll(async () => {
  d = await startInitializedDaemon();
  source = mkdtempSync(join(d.dir, "pool-src-"));
});

afterAll(async () => {
  await d?.stop();
  rmSync(source, { recursive: true, force: true });
});

const ok = (...args: string[]) => d.ok(...args);

describe("storage pools through the CLI", () => {
  test("create, list, show, set, unset, info", async () => {
    expect(await ok("storage", "create", "p2", "dir", `source=${source}`, "--description", "second")).toContain("p2 created");
    expect(existsSync(join(source, "containers"))).toBe(true);
    const list = JSON.parse(await ok("storage", "list", "--format", "json"));
    expect(list.map((p: { name: string }) => p.name)).toEqual(["default", "p2"]);
    await ok("storage", "set", "p2", "rsync.bwlimit", "10MB");
    await ok("storage", "set", "p2", "rsync.compression=true");
    const show = await ok("storage", "show", "p2");
    expect(show).toContain("rsync.bwlimit: 10MB");
    expect(show).toContain("rsync.compression:");
    expect(show).toContain("description: second");
    await ok("storage", "unset", "p2", "rsync.bwlimit");
    expect(await ok("storage", "show", "p2")).not.toContain("rsync.bwlimit");
    const badKey = await d.lxd("storage", "set", "p2", "nonsense.key", "1");
    expect(badKey.code).not.toBe(0);
    expect(badKey.stderr).toContain("Unknown configuration key");
    const bad = await d.lxd("storage", "create", "p3", "zfs");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("not supported");
  });

  test("copy and move between pools keep data and snapshots byte for byte", async () => {
    const data = (name: string) => ok("exec", name, "--", "sh", "-c", "sha256sum /root/blob; ls /bin/vi 2>&1; true");
    const defaultPool = join(d.dir, "storage-pools", "default");
    await ok("launch", "busybox", "mv1");
    await ok("exec", "mv1", "--", "sh", "-c", "head -c 1000000 /dev/urandom > /root/blob && rm /bin/vi");
    const before = await data("mv1");
    await ok("snapshot", "mv1");
    await ok("stop", "mv1", "--force");
    expect((await d.lxd("move", "mv1", "--storage", "p2")).code).toBe(0);
    const moved = (await d.api("GET", "/1.0/instances/mv1")).body.metadata;
    expect(moved.expanded_devices.root.pool).toBe("p2");
    expect(readdirSync(join(source, "containers"))).toEqual(["mv1"]);
    expect(readdirSync(join(source, "containers-snapshots", "mv1"))).toEqual(["snap0"]);
    expect(existsSync(join(defaultPool, "containers", "mv1"))).toBe(false);
    await ok("start", "mv1");
    expect(await data("mv1")).toBe(before);

    await ok("copy", "mv1", "back", "--storage", "default", "--instance-only");
    expect((await d.api("GET", "/1.0/instances/back")).body.metadata.expanded_devices.root.pool).toBe("default");
    await ok("start", "back");
    expect(await data("back")).toBe(before);
    await ok("delete", "mv1", "back", "--force");
    expect(readdirSync(join(source, "containers"))).toEqual([]);
  });

  test("an instance on the second pool: snapshot, copy, in-use pool refused, delete", async () => {
    await ok("init", "busybox", "on2", "--storage", "p2");
    await ok("snapshot", "on2");
    await ok("copy", "on2", "on2b");
    expect(readdirSync(join(source, "containers")).sort()).toEqual(["on2", "on2b"]);
    expect(readdirSync(join(source, "containers-snapshots")).sort()).toEqual(["on2", "on2b"]);
    const info = await ok("storage", "info", "p2");
    expect(info).toContain("driver: dir");
    expect(info).toContain("- on2");
    const refused = await d.lxd("storage", "delete", "p2");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("in use");
    await ok("delete", "on2", "on2b");
    expect(readdirSync(join(source, "containers"))).toEqual([]);
    expect(readdirSync(join(source, "containers-snapshots"))).toEqual([]);
    expect(await ok("storage", "delete", "p2")).toContain("p2 deleted");
    // A user-given source directory is left in place.
    expect(existsSync(source)).toBe(true);
  });
});

describe("a full disk", () => {
  let small = "";
  let work = "";

  afterAll(() => {
    // Even after a failure: the tmpfs must not outlive the test.
    if (small) Bun.spawnSync(["umount", "-l", small]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("an image that does not fit the pool fails the create, leaves nothing half-unpacked, and the pool stays usable", async () => {
    // A 16 MiB tmpfs as the pool's source, and an image with 40 MiB of incompressible data.
    small = mkdtempSync(join(d.dir, "small-"));
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", small]).exitCode).toBe(0);
    work = mkdtempSync(join(d.dir, "big-image-"));
    const big = Bun.spawnSync(["sh", "-c", `mkdir -p "$1/t" && tar -xzf "$2" -C "$1/t" && head -c 41943040 /dev/urandom > "$1/t/rootfs/blob" && tar -cf "$1/big.tar" -C "$1/t" .`,
      "sh", work, await busyboxImage()], { stderr: "pipe" });
    expect(big.stderr.toString()).toBe("");
    await ok("image", "import", join(work, "big.tar"), "--alias", "big");
    await ok("storage", "create", "tiny", "dir", `source=${small}`);

    const r = await d.lxd("init", "big", "full1", "--storage", "tiny");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no space left on device/i);
    expect(r.stderr).not.toMatch(/^\s+at /m); // a message, not a stack trace
    // Nothing of the image or the instance is left on the pool, and no instance was recorded.
    expect(readdirSync(join(small, "images"))).toEqual([]);
    expect(readdirSync(join(small, "containers"))).toEqual([]);
    expect((await d.api("GET", "/1.0/instances/full1")).status).toBe(404);
    // The space is free again: a small image still launches there.
    await ok("launch", "busybox", "fits", "--storage", "tiny");
    expect((await ok("exec", "fits", "--", "echo", "ok")).trim()).toBe("ok");
    await ok("delete", "fits", "--force");
    await ok("storage", "delete", "tiny");
    await ok("image", "delete", "big");
  });
});
