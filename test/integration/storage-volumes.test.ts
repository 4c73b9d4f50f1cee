// Custom volumes and disk devices end to end, on a dir pool and on a btrfs pool (a loop file in
// the test daemon's own state dir): a volume shared by two running containers, hot-plug and
// hot-unplug, ownership through idmapped mounts, snapshot/restore/copy byte for byte, read-only
// host directories, and bad input refused without losing anything; also through LXD's `lxc`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
  await d.ok("storage", "create", "bt", "btrfs", "size=512MiB");
  await d.ok("launch", "busybox", "c1");
  await d.ok("launch", "busybox", "c2");
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);
const sh = (name: string, script: string) => ok("exec", name, "--", "sh", "-c", script);
const mounted = async (name: string, path: string) => (await sh(name, "cat /proc/mounts")).split("\n").some((l) => l.split(" ")[1] === path);

describe.each(["default", "bt"])("custom volumes on pool %s", (pool) => {
  const vol = `v-${pool}`;
  const volDir = () => join(d.dir, "storage-pools", pool, "custom", vol);

  test("create, list and show in LXD's shapes", async () => {
    await ok("storage", "volume", "create", pool, vol, "user.note=hi");
    const shown = (await d.api("GET", `/1.0/storage-pools/${pool}/volumes/custom/${vol}`)).body.metadata;
    expect(shown).toMatchObject({ name: vol, type: "custom", content_type: "filesystem", config: { "user.note": "hi" }, used_by: [], location: "none" });
    expect((await d.api("GET", `/1.0/storage-pools/${pool}/volumes`)).body.metadata).toContain(`/1.0/storage-pools/${pool}/volumes/custom/${vol}`);
    expect(await ok("storage", "volume", "list", pool)).toContain(vol);
    expect(statSync(volDir()).isDirectory()).toBe(true);
  });

  test("shared by two running containers, hot-plugged, owned by container root", async () => {
    await ok("storage", "volume", "attach", pool, vol, "c1", "/data");
    await ok("storage", "volume", "attach", pool, vol, "c2", "shared", "/mnt/shared");
    await sh("c1", "head -c 2000000 /dev/urandom > /data/blob && echo one > /data/note && mkdir /data/dir && chown 1000:1000 /data/dir");
    const sum = await sh("c1", "sha256sum /data/blob");
    expect(await sh("c2", "sha256sum /mnt/shared/blob")).toBe(sum.replace("/data/", "/mnt/shared/"));
    const listing = await sh("c2", "ls -lnd /mnt/shared/note /mnt/shared/dir");
    expect(listing).toMatch(/0\s+0 .*note/);
    expect(listing).toMatch(/1000\s+1000 .*dir/);
    // On the host the files stay owned by host root (idmapped mount, no shifting).
    expect(statSync(join(volDir(), "note")).uid).toBe(0);
    expect(statSync(join(volDir(), "dir")).uid).toBe(1000);
    expect((await d.api("GET", `/1.0/storage-pools/${pool}/volumes/custom/${vol}`)).body.metadata.used_by.sort())
      .toEqual(["/1.0/instances/c1", "/1.0/instances/c2"]);

    const busy = await d.lxd("storage", "volume", "delete", pool, vol);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain("still in use");

    await ok("storage", "volume", "detach", pool, vol, "c2");
    expect(await mounted("c2", "/mnt/shared")).toBe(false);
    expect(await mounted("c1", "/data")).toBe(true);
  });

  test("snapshot, restore (refused while in use) and copy keep data byte for byte", async () => {
    const before = await sh("c1", "sha256sum /data/blob /data/note");
    await ok("storage", "volume", "snapshot", pool, vol, "s0");
    await sh("c1", "echo two > /data/note && rm /data/blob");
    const refused = await d.lxd("storage", "volume", "restore", pool, vol, "s0");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("running instance(s) c1");
    await ok("stop", "c1", "--force");
    await ok("storage", "volume", "restore", pool, vol, "s0");
    await ok("start", "c1");
    expect(await mounted("c1", "/data")).toBe(true);
    expect(await sh("c1", "sha256sum /data/blob /data/note")).toBe(before);

    await ok("storage", "volume", "copy", `${pool}/${vol}`, `${pool}/${vol}-copy`);
    expect((await d.api("GET", `/1.0/storage-pools/${pool}/volumes/custom/${vol}-copy/snapshots`)).body.metadata)
      .toEqual([`/1.0/storage-pools/${pool}/volumes/custom/${vol}-copy/snapshots/s0`]);
    await ok("storage", "volume", "copy", `${pool}/${vol}/s0`, `${pool}/${vol}-snapcopy`, "--volume-only");
    await ok("storage", "volume", "attach", pool, `${vol}-snapcopy`, "c2", "/snap");
    expect(await sh("c2", "sha256sum /snap/blob /snap/note")).toBe(before.replaceAll("/data/", "/snap/"));
    await ok("storage", "volume", "detach", pool, `${vol}-snapcopy`, "c2");
    await ok("storage", "volume", "delete", pool, `${vol}-snapcopy`);
    await ok("storage", "volume", "delete", pool, `${vol}-copy/s0`);
    await ok("storage", "volume", "delete", pool, `${vol}-copy`);
    expect(existsSync(join(d.dir, "storage-pools", pool, "custom", `${vol}-copy`))).toBe(false);
    expect(existsSync(join(d.dir, "storage-pools", pool, "custom-snapshots", `${vol}-copy`))).toBe(false);

    await ok("storage", "volume", "detach", pool, vol, "c1");
    expect(await mounted("c1", "/data")).toBe(false);
    await ok("storage", "volume", "delete", pool, vol);
    expect(existsSync(volDir())).toBe(false);
  });

  test("rename carries data and snapshots; refused while in use; a cut-short rename is repaired", async () => {
    const [from, to] = [`r-${pool}`, `r2-${pool}`];
    const dir = (kind: string, name: string) => join(d.dir, "storage-pools", pool, kind, name);
    await ok("storage", "volume", "create", pool, from);
    await ok("storage", "volume", "attach", pool, from, "c1", "/ren");
    await sh("c1", "echo kept > /ren/note");
    await ok("storage", "volume", "snapshot", pool, from, "s0");
    const busy = await d.lxd("storage", "volume", "rename", pool, from, to);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain("still in use by /1.0/instances/c1");
    await ok("storage", "volume", "detach", pool, from, "c1");
    await ok("storage", "volume", "create", pool, "taken");
    expect((await d.api("POST", `/1.0/storage-pools/${pool}/volumes/custom/${from}`, { name: "taken" })).status).toBe(409);
    expect((await d.api("POST", `/1.0/storage-pools/${pool}/volumes/custom/${from}`, { name: "bad/name" })).status).toBe(400);
    expect((await d.api("POST", `/1.0/storage-pools/${pool}/volumes/custom/${from}`, { name: to, pool: "elsewhere" })).status).toBe(400);
    await ok("storage", "volume", "delete", pool, "taken");

    await ok("storage", "volume", "rename", pool, from, to);
    expect(existsSync(dir("custom", from))).toBe(false);
    expect(readFileSync(join(dir("custom", to), "note"), "utf8")).toBe("kept\n");
    expect(existsSync(dir("custom-snapshots", to))).toBe(true);
    expect((await d.api("GET", `/1.0/storage-pools/${pool}/volumes/custom/${to}/snapshots`)).body.metadata)
      .toEqual([`/1.0/storage-pools/${pool}/volumes/custom/${to}/snapshots/s0`]);
    expect((await d.api("GET", `/1.0/storage-pools/${pool}/volumes/custom/${from}`)).status).toBe(404);

    // Killed after moving the volume, before the database knew: the restart moves it back.
    await d.kill("SIGKILL");
    mkdirSync(join(d.dir, "storage-pools", pool, "custom-renames"), { recursive: true });
    writeFileSync(join(d.dir, "storage-pools", pool, "custom-renames", "01CUT"), JSON.stringify({ from: to, to: "r3" }));
    const { renameSync } = await import("node:fs");
    renameSync(dir("custom", to), dir("custom", "r3"));
    await d.restart();
    expect(readFileSync(join(dir("custom", to), "note"), "utf8")).toBe("kept\n");
    expect(existsSync(dir("custom", "r3"))).toBe(false);
    await ok("storage", "volume", "delete", pool, `${to}/s0`);
    await ok("storage", "volume", "delete", pool, to);
  });

  test("a snapshot is renamed with its data (API, our CLI, lxc); a taken name is refused", async () => {
    const v = `sr-${pool}`;
    const url = `/1.0/storage-pools/${pool}/volumes/custom/${v}`;
    const snapDir = (s: string) => join(d.dir, "storage-pools", pool, "custom-snapshots", v, s);
    const names = async () => ((await d.api("GET", `${url}/snapshots`)).body.metadata as string[]).map((u) => u.split("/").pop()).sort();
    await ok("storage", "volume", "create", pool, v);
    writeFileSync(join(d.dir, "storage-pools", pool, "custom", v, "data"), "one\n");
    await ok("storage", "volume", "snapshot", pool, v, "s0");
    await ok("storage", "volume", "snapshot", pool, v, "s1");

    const taken = await d.api("POST", `${url}/snapshots/s0`, { name: "s1" });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toBe(`Name '${v}/s1' already in use`);
    expect((await d.api("POST", `${url}/snapshots/nope`, { name: "s9" })).status).toBe(404);
    expect((await d.api("POST", `${url}/snapshots/s0`, { name: "bad/name" })).status).toBe(400);
    const byLxc = await d.lxc("storage", "volume", "rename", pool, `${v}/s0`, `${v}/s1`);
    expect(byLxc.code).not.toBe(0);
    expect(byLxc.stderr).toContain("already in use");

    expect(await ok("storage", "volume", "rename", pool, `${v}/s0`, `${v}/s2`)).toContain(`Renamed storage volume snapshot from "${v}/s0" to "${v}/s2"`);
    expect(await names()).toEqual(["s1", "s2"]);
    expect(existsSync(snapDir("s0"))).toBe(false);
    expect(readFileSync(join(snapDir("s2"), "data"), "utf8")).toBe("one\n");
    expect((await d.lxc("storage", "volume", "rename", pool, `${v}/s2`, `${v}/s3`)).code).toBe(0);
    const op = await d.api("POST", `${url}/snapshots/s3`, { name: "s4" });
    expect(op.status).toBe(202);
    await d.wait(op);
    expect(await names()).toEqual(["s1", "s4"]);
    expect((await d.api("GET", `${url}/snapshots/s4`)).body.metadata.name).toBe("s4");

    // The renamed snapshot is the one restored.
    writeFileSync(join(d.dir, "storage-pools", pool, "custom", v, "data"), "two\n");
    await ok("storage", "volume", "restore", pool, v, "s4");
    expect(readFileSync(join(d.dir, "storage-pools", pool, "custom", v, "data"), "utf8")).toBe("one\n");
    // Survives a restart (reconcile keeps the renamed tree).
    await d.restart();
    expect(readFileSync(join(snapDir("s4"), "data"), "utf8")).toBe("one\n");
    await ok("storage", "volume", "delete", pool, v);
  });
});

describe("size limits on custom volumes", () => {
  test("btrfs enforces size (set at creation, changed later, kept by restore); dir refuses it", async () => {
    await ok("storage", "volume", "create", "bt", "lim", "size=20MiB");
    await ok("storage", "volume", "attach", "bt", "lim", "c1", "/lim");
    const state = (await d.api("GET", "/1.0/storage-pools/bt/volumes/custom/lim/state")).body.metadata;
    expect(state.usage.total).toBe(20 * 1024 * 1024);
    const tooBig = "head -c 40000000 /dev/zero > /lim/big && sync /lim/big && echo wrote || echo refused";
    expect(await sh("c1", tooBig)).toContain("refused");
    await ok("storage", "volume", "snapshot", "bt", "lim", "s0");
    await ok("storage", "volume", "detach", "bt", "lim", "c1");
    await ok("storage", "volume", "restore", "bt", "lim", "s0");
    await ok("storage", "volume", "attach", "bt", "lim", "c1", "/lim");
    expect(await sh("c1", tooBig)).toContain("refused");
    expect((await d.api("PATCH", "/1.0/storage-pools/bt/volumes/custom/lim", { config: { size: "100MiB" } })).status).toBe(200);
    expect(await sh("c1", tooBig)).toContain("wrote");

    const bad = await d.api("PATCH", "/1.0/storage-pools/bt/volumes/custom/lim", { config: { size: "lots" } });
    expect(bad.status).toBe(400);
    expect((await d.api("GET", "/1.0/storage-pools/bt/volumes/custom/lim")).body.metadata.config.size).toBe("100MiB");
    await ok("storage", "volume", "detach", "bt", "lim", "c1");
    await ok("storage", "volume", "delete", "bt", "lim/s0");
    await ok("storage", "volume", "delete", "bt", "lim");

    const onDir = await d.lxd("storage", "volume", "create", "default", "dlim", "size=20MiB");
    expect(onDir.code).not.toBe(0);
    expect(onDir.stderr).toContain("cannot limit the size");
    expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/dlim")).status).toBe(404);
  });
});

describe("host directories as disk devices", () => {
  test("read-only, visible with host root's files as container root's, kept across restarts", async () => {
    const host = join(d.dir, "hostdir");
    mkdirSync(host, { mode: 0o755 });
    writeFileSync(join(host, "hello"), "from the host\n");
    await ok("config", "device", "add", "c1", "hd", "disk", `source=${host}`, "path=/mnt/x", "readonly=true");
    expect(await sh("c1", "cat /mnt/x/hello")).toBe("from the host\n");
    expect(await sh("c1", "ls -ln /mnt/x/hello")).toMatch(/0\s+0 /);
    const write = await d.lxd("exec", "c1", "--", "sh", "-c", "echo x > /mnt/x/new");
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/read-only/i);
    await ok("restart", "c1", "--force");
    expect(await sh("c1", "cat /mnt/x/hello")).toBe("from the host\n");
    // Writable when not read-only: what container root writes is host root's on the host.
    await ok("config", "device", "add", "c2", "rw", "disk", `source=${host}`, "path=/rw");
    await sh("c2", "echo back > /rw/new");
    expect(readFileSync(join(host, "new"), "utf8")).toBe("back\n");
    expect(statSync(join(host, "new")).uid).toBe(0);
    await ok("config", "device", "remove", "c1", "hd");
    await ok("config", "device", "remove", "c2", "rw");
    expect(await mounted("c1", "/mnt/x")).toBe(false);
  });

  test("attached before init runs: init's own boot script can come from a disk device", async () => {
    const initd = join(d.dir, "initd");
    mkdirSync(initd, { mode: 0o755 });
    writeFileSync(join(initd, "rcS"), "#!/bin/sh\necho booted > /root/marker\n", { mode: 0o755 });
    await ok("init", "busybox", "early");
    await ok("config", "device", "add", "early", "rc", "disk", `source=${initd}`, "path=/etc/init.d", "readonly=true");
    await ok("start", "early");
    let marker = "";
    for (let i = 0; i < 50 && !marker; i++) {
      marker = (await d.lxd("exec", "early", "--", "cat", "/root/marker")).stdout;
      if (!marker) await Bun.sleep(100);
    }
    expect(marker).toBe("booted\n");
    await ok("delete", "early", "--force");
  });

  test("bad input is refused and changes nothing", async () => {
    const before = (await d.api("GET", "/1.0/instances/c1")).body.metadata.devices;
    const missing = await d.lxd("config", "device", "add", "c1", "m", "disk", `source=${join(d.dir, "nope")}`, "path=/m");
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("does not exist");
    const relative = await d.lxd("config", "device", "add", "c1", "r", "disk", "source=rel/dir", "path=/r");
    expect(relative.code).not.toBe(0);
    expect(relative.stderr).toContain("absolute");
    const novol = await d.lxd("storage", "volume", "attach", "default", "ghost", "c1", "/g");
    expect(novol.code).not.toBe(0);
    expect(novol.stderr).toContain(`storage volume "ghost" not found`);
    const badName = await d.lxd("storage", "volume", "create", "default", "bad/name");
    expect(badName.code).not.toBe(0);
    const badKey = await d.lxd("storage", "volume", "create", "default", "v", "bogus=1");
    expect(badKey.code).not.toBe(0);
    expect(badKey.stderr).toContain("Unknown configuration key");
    expect((await d.api("GET", "/1.0/instances/c1")).body.metadata.devices).toEqual(before);
    expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom")).body.metadata).toEqual([]);
  });

  test("LXD's lxc drives custom volumes", async () => {
    const lxc = (...args: string[]) => d.lxcOk(...args);
    await lxc("storage", "volume", "create", "bt", "lv");
    expect(await lxc("storage", "volume", "list", "bt")).toContain("lv");
    await lxc("storage", "volume", "attach", "bt", "lv", "c1", "/lv");
    await sh("c1", "echo via-lxc > /lv/f");
    await lxc("storage", "volume", "snapshot", "bt", "lv", "snap0");
    expect(await lxc("storage", "volume", "show", "bt", "lv")).toContain("/1.0/instances/c1");
    await lxc("storage", "volume", "detach", "bt", "lv", "c1");
    await lxc("storage", "volume", "rename", "bt", "lv", "lv2");
    await lxc("storage", "volume", "rename", "bt", "lv2", "lv");
    expect(await lxc("storage", "volume", "list", "bt")).toContain("lv");
    const inUse = await d.lxd("storage", "delete", "bt");
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr).toContain("in use");
    expect((await d.api("GET", "/1.0/storage-pools/bt")).body.metadata.used_by).toEqual(["/1.0/storage-pools/bt/volumes/custom/lv"]);
    await lxc("storage", "volume", "delete", "bt", "lv");
    const r = await d.lxd("storage", "delete", "bt");
    expect(r.code).toBe(0);
    expect(existsSync(join(d.dir, "disks", "bt.img"))).toBe(false);
  });
});
