// Instance snapshots end to end: data written in a container survives snapshot and restore byte
// for byte (files, deletions of image files), through our CLI, LXD's `lxc` and the REST API;
// expiry and schedules are honoured by the daemon's timer; a crash leaves no orphan volume.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  // A fast timer so expiry and schedules are seen within seconds.
  d = await startDaemon({ env: { LXD_SNAPSHOT_TIMER_MS: "300" } });
  expect((await d.lxd("init", "--auto")).code).toBe(0);
  await importBusybox(d);
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);
const lxcOk = (...args: string[]) => d.lxcOk(...args);
const sh = (name: string, script: string) => ok("exec", name, "--", "sh", "-c", script);
const snapshotNames = async (name: string): Promise<string[]> =>
  (await d.api("GET", `/1.0/instances/${name}/snapshots?recursion=1`)).body.metadata.map((s: { name: string }) => s.name);
/** Hashes of the files the tests write, whether an image file deleted in the container exists
 *  (a whiteout), and what a replaced image directory holds (an opaque directory: an xattr). */
const fingerprint = (name: string) =>
  sh(name, "sha256sum /root/blob /root/note /etc/motd-like 2>&1; ls -l /root/link; test -e /bin/vi && echo vi-present || echo vi-gone; ls /etc/udhcpc");
const pool = () => join(d.dir, "storage-pools", "default");

describe("instance snapshots", () => {
  test("snapshot and restore a running container keep its data byte for byte", async () => {
    await ok("launch", "busybox", "c1");
    await sh("c1", "head -c 3000000 /dev/urandom > /root/blob && echo hello > /root/note && ln -s note /root/link && rm /bin/vi && echo one > /etc/motd-like && rm -r /etc/udhcpc && mkdir /etc/udhcpc && echo mine > /etc/udhcpc/mine");
    const before = await fingerprint("c1");
    expect(before).toContain("vi-gone");
    expect(before.trim().endsWith("\nmine")).toBe(true);

    await ok("snapshot", "c1");
    expect(await snapshotNames("c1")).toEqual(["snap0"]);
    await ok("config", "set", "c1", "user.after", "1");

    // Change everything the snapshot holds, including bringing back the deleted image file.
    await sh("c1", "head -c 1000 /dev/urandom > /root/blob && echo bye > /root/note && rm /root/link && echo two > /etc/motd-like && cp /bin/sh /bin/vi");
    expect(await fingerprint("c1")).not.toBe(before);

    const pidBefore = (await d.api("GET", "/1.0/instances/c1/state")).body.metadata.pid;
    await ok("restore", "c1", "snap0");
    const state = (await d.api("GET", "/1.0/instances/c1/state")).body.metadata;
    expect(state.status).toBe("Running");
    expect(state.pid).not.toBe(pidBefore);
    expect(await fingerprint("c1")).toBe(before);
    // The snapshot's configuration comes back too.
    expect((await d.api("GET", "/1.0/instances/c1")).body.metadata.config["user.after"]).toBeUndefined();
  });

  test("restore of a stopped container, twice from the same snapshot", async () => {
    const before = await fingerprint("c1");
    await ok("stop", "c1", "--force");
    await ok("restore", "c1", "snap0");
    await ok("start", "c1");
    await sh("c1", "echo scribble > /root/note");
    await ok("stop", "c1", "--force");
    await ok("restore", "c1", "snap0");
    await ok("start", "c1");
    expect(await fingerprint("c1")).toBe(before);
  });

  test("REST shapes: list by recursion, show, PATCH expiry, rename, delete", async () => {
    const created = await d.api("POST", "/1.0/instances/c1/snapshots", { name: "api1", stateful: false });
    expect(created.status).toBe(202);
    expect((await d.wait(created)).body.metadata.status).toBe("Success");

    const urls = (await d.api("GET", "/1.0/instances/c1/snapshots")).body.metadata;
    expect(urls).toEqual(["/1.0/instances/c1/snapshots/snap0", "/1.0/instances/c1/snapshots/api1"]);
    const snap = (await d.api("GET", "/1.0/instances/c1/snapshots/api1")).body.metadata;
    expect(snap.name).toBe("api1");
    expect(snap.expires_at).toBe("0001-01-01T00:00:00Z");
    expect(snap.stateful).toBe(false);
    expect(snap.expanded_devices.root.pool).toBe("default");
    expect(typeof snap.created_at).toBe("string");

    const at = "2099-01-02T03:04:05.000Z";
    expect((await d.api("PATCH", "/1.0/instances/c1/snapshots/api1", { expires_at: at })).status).toBe(200);
    expect((await d.api("GET", "/1.0/instances/c1/snapshots/api1")).body.metadata.expires_at).toBe(at);

    expect((await d.wait(await d.api("POST", "/1.0/instances/c1/snapshots/api1", { name: "api2" }))).body.metadata.status).toBe("Success");
    expect(await snapshotNames("c1")).toEqual(["snap0", "api2"]);
    expect(existsSync(join(pool(), "containers-snapshots", "c1", "api2", "layers"))).toBe(true);

    // Instance at recursion 1 carries the snapshots.
    const full = (await d.api("GET", "/1.0/instances/c1?recursion=1")).body.metadata;
    expect(full.snapshots.map((s: { name: string }) => s.name)).toEqual(["snap0", "api2"]);

    expect((await d.wait(await d.api("DELETE", "/1.0/instances/c1/snapshots/api2"))).body.metadata.status).toBe("Success");
    expect(existsSync(join(pool(), "containers-snapshots", "c1", "api2"))).toBe(false);
  });

  test("bad names and duplicates are refused before anything is made", async () => {
    const slash = await d.api("POST", "/1.0/instances/c1/snapshots", { name: "a/b" });
    expect(slash.status).toBe(400);
    expect(slash.body.error).toContain("/");
    const dup = await d.api("POST", "/1.0/instances/c1/snapshots", { name: "snap0" });
    expect(dup.status).toBe(409);
    expect((await d.api("POST", "/1.0/instances/nope/snapshots", { name: "x" })).status).toBe(404);
    expect((await d.api("GET", "/1.0/instances/c1/snapshots/nope")).status).toBe(404);
    expect((await d.lxd("snapshot", "c1", "x/y")).code).not.toBe(0);
  });

  test("CLI: default names, move (rename), info lists, delete NAME/SNAP", async () => {
    await ok("snapshot", "c1");
    // One past the highest number in use, as LXD.
    expect(await snapshotNames("c1")).toEqual(["snap0", "snap1"]);
    await ok("move", "c1/snap1", "c1/kept");
    const info = await ok("info", "c1");
    expect(info).toContain("Snapshots:");
    expect(info).toMatch(/\| kept +\|/);
    expect(info).toMatch(/\| snap0 +\|/);
    await ok("delete", "c1/kept");
    expect(await snapshotNames("c1")).toEqual(["snap0"]);
    expect((await d.lxd("delete", "c1/kept")).code).not.toBe(0);
  });

  test("LXD's lxc client: snapshot, restore, rename, delete", async () => {
    await sh("c1", "echo lxc-era > /root/note");
    const before = await fingerprint("c1");
    await lxcOk("snapshot", "c1", "fromlxc");
    await sh("c1", "echo later > /root/note");
    await lxcOk("restore", "c1", "fromlxc");
    expect(await fingerprint("c1")).toBe(before);
    await lxcOk("move", "c1/fromlxc", "c1/renamed");
    expect(await snapshotNames("c1")).toContain("renamed");
    await lxcOk("delete", "c1/renamed");
    expect(await snapshotNames("c1")).toEqual(["snap0"]);
  });

  test("snapshots.expiry sets expires_at; the daemon deletes expired snapshots", async () => {
    await ok("config", "set", "c1", "snapshots.expiry", "2d");
    await ok("snapshot", "c1", "expiring");
    const snap = (await d.api("GET", "/1.0/instances/c1/snapshots/expiring")).body.metadata;
    const days = (Date.parse(snap.expires_at) - Date.parse(snap.created_at)) / 86_400_000;
    expect(days).toBeCloseTo(2, 3);
    // --no-expiry overrides the config.
    await ok("snapshot", "c1", "forever", "--no-expiry");
    expect((await d.api("GET", "/1.0/instances/c1/snapshots/forever")).body.metadata.expires_at).toBe("0001-01-01T00:00:00Z");
    await ok("config", "unset", "c1", "snapshots.expiry");

    const soon = new Date(Date.now() + 1000).toISOString();
    await d.wait(await d.api("POST", "/1.0/instances/c1/snapshots", { name: "short", expires_at: soon }));
    expect(await snapshotNames("c1")).toContain("short");
    const deadline = Date.now() + 10_000;
    while ((await snapshotNames("c1")).includes("short") && Date.now() < deadline) await Bun.sleep(200);
    expect(await snapshotNames("c1")).not.toContain("short");
    expect(existsSync(join(pool(), "containers-snapshots", "c1", "short"))).toBe(false);
    for (const s of ["expiring", "forever"]) await ok("delete", `c1/${s}`);
  });

  test("snapshots.schedule takes one snapshot per due minute, named by snapshots.pattern", async () => {
    await ok("launch", "busybox", "sched");
    await ok("config", "set", "sched", "snapshots.pattern", "auto%d");
    await ok("config", "set", "sched", "snapshots.schedule", "* * * * *");
    const deadline = Date.now() + 10_000;
    while ((await snapshotNames("sched")).length === 0 && Date.now() < deadline) await Bun.sleep(200);
    expect(await snapshotNames("sched")).toEqual(["auto0"]);
    // The fast timer keeps ticking in the same minute without taking another one (unless the
    // minute just turned).
    await Bun.sleep(1000);
    expect((await snapshotNames("sched")).length).toBeLessThanOrEqual(2);
    await ok("config", "unset", "sched", "snapshots.schedule");
    await ok("delete", "sched", "--force");
    expect(existsSync(join(pool(), "containers-snapshots", "sched"))).toBe(false);
  });

  test("deleting an instance deletes its snapshots; renaming carries them", async () => {
    await ok("launch", "busybox", "r1");
    await ok("snapshot", "r1");
    await ok("stop", "r1", "--force");
    await ok("move", "r1", "r2");
    expect(await snapshotNames("r2")).toEqual(["snap0"]);
    expect(existsSync(join(pool(), "containers-snapshots", "r2", "snap0", "layers"))).toBe(true);
    expect(existsSync(join(pool(), "containers-snapshots", "r1"))).toBe(false);
    await ok("restore", "r2", "snap0");
    await ok("delete", "r2");
    expect(existsSync(join(pool(), "containers-snapshots", "r2"))).toBe(false);
    expect((await d.api("GET", "/1.0/instances/r2/snapshots")).status).toBe(404);
  });

  test("a daemon restart removes half-made and orphan volumes, and completes a cut-short restore", async () => {
    await d.kill("SIGKILL");
    const snaps = join(pool(), "containers-snapshots");
    // A snapshot copy cut short, a snapshot volume without a row, an instance that never got a
    // row, and a restore killed between its two renames (no `upper`, only `upper.old-…`).
    mkdirSync(join(snaps, "c1", "snap9.tmp-01ABC"), { recursive: true });
    mkdirSync(join(snaps, "c1", "ghost", "upper"), { recursive: true });
    mkdirSync(join(snaps, "gone", "snap0", "upper"), { recursive: true });
    mkdirSync(join(pool(), "containers", "half.tmp-01ABC", "upper"), { recursive: true });
    mkdirSync(join(pool(), "containers", "c1", "upper.tmp-01XYZ"), { recursive: true });
    writeFileSync(join(pool(), "containers", "c1", "upper.tmp-01XYZ", "junk"), "x");
    const before = await (async () => {
      await d.restart();
      return fingerprint("c1");
    })();
    await d.kill("SIGKILL");
    const vol = join(pool(), "containers", "c1");
    // Simulate the restore crash: move the complete upper aside.
    const { renameSync } = await import("node:fs");
    renameSync(join(vol, "upper"), join(vol, "upper.old-01XYZ"));
    await d.restart();

    expect(readdirSync(join(snaps, "c1")).sort()).toEqual(["snap0"]);
    expect(existsSync(join(snaps, "gone"))).toBe(false);
    expect(readdirSync(join(pool(), "containers")).sort()).toEqual(["c1"]);
    expect(readdirSync(vol).sort()).toEqual(["backup.yaml", "layers", "upper", "work"]);
    // c1 was running before the kills and keeps running under its monitor; its data is intact.
    expect(await fingerprint("c1")).toBe(before);
  });
});
