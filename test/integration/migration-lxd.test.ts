// Interoperability with a real LXD 5.0.2 (Debian's `lxd` package): Debian's `lxc` copies stopped
// containers, with a snapshot, from LXD to our daemon and back, on dir pools in each mode (rsync)
// and between btrfs pools (btrfs send/receive).
// LXD runs on its own temporary LXD_DIR without any network; skipped only when it is not installed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { busyboxImage, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { RealLxd, realLxdMissing } from "../helpers/real-lxd.ts";
import { Clients, listenHttps } from "../helpers/migration.ts";

const missing = (await realLxdMissing()) ?? (existsSync("/usr/bin/rsync") ? undefined : "rsync is missing (apt-get install rsync)");
if (missing) console.warn(`[skip] LXD 5 interoperability: ${missing}`);

describe.skipIf(Boolean(missing))("LXD 5.0.2 interoperability", () => {
  let ours: TestDaemon;
  let lxd5: RealLxd;
  let clients: Clients;

  beforeAll(async () => {
    lxd5 = new RealLxd();
    [ours] = await Promise.all([startInitializedDaemon(), lxd5.start()]);
    await listenHttps(ours);
    clients = new Clients();
    await clients.addRemote("ours", ours);
    await clients.ok(clients.lxc("remote", "add", "lxd5", await lxd5.listen("migration-test")), "lxc remote add lxd5");
    await lxd5.ok("image", "import", await busyboxImage(), "--alias", "busybox");
  }, 180_000);

  afterAll(async () => {
    // Both go whatever happens to the other.
    const results = await Promise.allSettled([ours?.stop(), lxd5?.stop()]);
    clients?.cleanup();
    for (const r of results) if (r.status === "rejected") throw r.reason;
  });

  const lxc = (...args: string[]) => clients.ok(clients.lxc(...args), `lxc ${args.join(" ")}`);
  const lxdRootfs = (name: string) => join(lxd5.dir, "storage-pools/default/containers", name, "rootfs");
  const lxdSnapRootfs = (name: string, snap: string) => join(lxd5.dir, "storage-pools/default/containers-snapshots", name, snap, "rootfs");

  test("btrfs pools on both sides: btrfs send/receive both ways, with a snapshot", async () => {
    await Promise.all([lxd5.ok("storage", "create", "bt", "btrfs", "size=1GiB"), ours.ok("storage", "create", "bt", "btrfs", "size=1GiB")]);
    await lxd5.ok("init", "busybox", "b1", "-s", "bt");
    const root = join(lxd5.dir, "storage-pools/bt/containers/b1/rootfs");
    writeFileSync(join(root, "root/note"), "at-snapshot\n");
    await lxd5.ok("snapshot", "b1", "s0");
    writeFileSync(join(root, "root/note"), "latest\n");
    await lxc("copy", "lxd5:b1", "ours:b1", "-s", "bt");
    // A btrfs stream leaves a received UUID on the snapshot (rsync would not).
    const show = Bun.spawnSync(["btrfs", "subvolume", "show", join(ours.dir, "storage-pools/bt/containers-snapshots/b1/s0")]).stdout.toString();
    expect(show).toMatch(/Received UUID:\s+[0-9a-f-]{36}/);
    await ours.ok("start", "b1");
    expect((await ours.ok("exec", "b1", "--", "cat", "/root/note")).trim()).toBe("latest");
    await ours.ok("exec", "b1", "--", "sh", "-c", "echo from-ours > /root/back");
    await ours.ok("restore", "b1", "s0");
    expect((await ours.ok("exec", "b1", "--", "cat", "/root/note")).trim()).toBe("at-snapshot");
    await ours.ok("stop", "b1", "--force");

    await lxc("copy", "ours:b1", "lxd5:b1-back", "-s", "bt");
    const back = join(lxd5.dir, "storage-pools/bt/containers/b1-back/rootfs");
    expect(readFileSync(join(back, "root/note"), "utf8")).toBe("at-snapshot\n");
    expect(readFileSync(join(lxd5.dir, "storage-pools/bt/containers-snapshots/b1-back/s0/rootfs/root/note"), "utf8")).toBe("at-snapshot\n");
    const lxdShow = Bun.spawnSync(["btrfs", "subvolume", "show", join(lxd5.dir, "storage-pools/bt/containers-snapshots/b1-back/s0")]).stdout.toString();
    expect(lxdShow).toMatch(/Received UUID:\s+[0-9a-f-]{36}/);
    await lxd5.ok("delete", "b1", "b1-back");
    await ours.ok("delete", "b1");
    await lxd5.ok("image", "delete", "busybox");
    await Promise.all([lxd5.ok("storage", "delete", "bt"), ours.ok("storage", "delete", "bt")]);
    await lxd5.ok("image", "import", await busyboxImage(), "--alias", "busybox");
  }, 120_000);

  test("copy --refresh both ways: only the missing snapshot travels, the content follows", async () => {
    await lxd5.ok("init", "busybox", "rf", "-c", "user.origin=lxd5");
    writeFileSync(join(lxdRootfs("rf"), "root/note"), "one\n");
    await lxd5.ok("snapshot", "rf", "s0");
    await lxc("copy", "lxd5:rf", "ours:rf");
    const s0 = statSync(join(ours.dir, "storage-pools/default/containers-snapshots/rf/s0")).ino;
    writeFileSync(join(lxdRootfs("rf"), "root/note"), "two\n");
    await lxd5.ok("snapshot", "rf", "s1");
    writeFileSync(join(lxdRootfs("rf"), "root/note"), "three\n");
    // LXD's client, LXD as the source, ours refreshing.
    await lxc("copy", "lxd5:rf", "ours:rf", "--refresh");
    expect((await ours.api("GET", "/1.0/instances/rf/snapshots")).body.metadata).toEqual(["/1.0/instances/rf/snapshots/s0", "/1.0/instances/rf/snapshots/s1"]);
    expect(statSync(join(ours.dir, "storage-pools/default/containers-snapshots/rf/s0")).ino).toBe(s0);
    expect(readFileSync(join(ours.dir, "storage-pools/default/containers/rf/rootfs/root/note"), "utf8")).toBe("three\n");

    // Ours as the source, LXD refreshing (rsync: LXD never answers our tar extension).
    await lxc("copy", "ours:rf", "lxd5:rf-back");
    await ours.ok("start", "rf");
    await ours.ok("exec", "rf", "--", "sh", "-c", "echo four > /root/note");
    await ours.ok("stop", "rf", "--force");
    await ours.ok("snapshot", "rf", "s2");
    await lxc("copy", "ours:rf", "lxd5:rf-back", "--refresh");
    expect(JSON.parse(await lxd5.ok("query", "/1.0/instances/rf-back/snapshots"))).toEqual([
      "/1.0/instances/rf-back/snapshots/s0", "/1.0/instances/rf-back/snapshots/s1", "/1.0/instances/rf-back/snapshots/s2",
    ]);
    expect(readFileSync(join(lxdRootfs("rf-back"), "root/note"), "utf8")).toBe("four\n");
    await lxd5.ok("delete", "rf", "rf-back");
    await ours.ok("delete", "rf");
  }, 120_000);

  for (const mode of ["pull", "push", "relay"]) {
    test(`${mode}: a container from LXD to ours and back`, async () => {
      const name = `c-${mode}`;
      // LXD need not run containers here: the files go in on its disk, as its dir driver keeps them.
      await lxd5.ok("init", "busybox", name, "-c", "user.origin=lxd5");
      writeFileSync(join(lxdRootfs(name), "root/note"), "at-snapshot\n");
      await lxd5.ok("snapshot", name, "s0");
      writeFileSync(join(lxdRootfs(name), "root/note"), "latest\n");
      await lxd5.ok("config", "set", name, "user.later", "yes");

      await lxc("copy", `lxd5:${name}`, `ours:${name}`, "--mode", mode);
      const got = (await ours.api("GET", `/1.0/instances/${name}`)).body.metadata;
      expect(got.config["user.origin"]).toBe("lxd5");
      expect(got.config["user.later"]).toBe("yes");
      expect((await ours.api("GET", `/1.0/instances/${name}/snapshots`)).body.metadata).toEqual([`/1.0/instances/${name}/snapshots/s0`]);
      await ours.ok("start", name);
      expect((await ours.ok("exec", name, "--", "cat", "/root/note")).trim()).toBe("latest");
      expect((await ours.ok("exec", name, "--", "stat", "-c", "%u", "/bin/busybox")).trim()).toBe("0");
      await ours.ok("restore", name, "s0");
      expect((await ours.ok("exec", name, "--", "cat", "/root/note")).trim()).toBe("at-snapshot");
      await ours.ok("exec", name, "--", "sh", "-c", "echo from-ours > /root/back && chown 1000:1000 /root/back");
      await ours.ok("stop", name, "--force");

      await lxc("copy", `ours:${name}`, `lxd5:${name}-back`, "--mode", mode);
      expect(readFileSync(join(lxdRootfs(`${name}-back`), "root/back"), "utf8")).toBe("from-ours\n");
      expect(statSync(join(lxdRootfs(`${name}-back`), "root/back")).uid).toBe(1000);
      expect(readFileSync(join(lxdSnapRootfs(`${name}-back`, "s0"), "root/note"), "utf8")).toBe("at-snapshot\n");
      const back = JSON.parse(await lxd5.ok("query", `/1.0/instances/${name}-back`));
      expect(back.config["user.origin"]).toBe("lxd5");
      await lxd5.ok("delete", name, `${name}-back`);
      await ours.ok("delete", name);
    }, 120_000);
  }
});
