// The pool layer and the custom volume manager over an in-memory driver: what reaches the driver,
// what the database keeps and which events go out, without root or a real filesystem.
import { beforeEach, describe, expect, test } from "bun:test";
import { ApiError } from "../../src/api/error.ts";
import { openDatabase, seedDefaults, type OpenDb } from "../../src/db/index.ts";
import { customVolume, instanceVolume } from "../../src/storage/backend.ts";
import { StoragePools } from "../../src/storage/pools.ts";
import { CustomVolumes } from "../../src/storage/volumes.ts";
import { FakeDriver } from "../helpers/fake-storage.ts";

let db: OpenDb;
let fake: FakeDriver;
let events: string[];
let pools: StoragePools;
let running: string[];
let volumes: CustomVolumes;

beforeEach(() => {
  db = openDatabase(":memory:");
  seedDefaults(db);
  fake = new FakeDriver();
  events = [];
  const hub = { send: (_type: "lifecycle", m: Record<string, unknown>) => void events.push(`${m.action} ${m.source}`) };
  pools = new StoragePools(db, hub, { fake });
  running = [];
  volumes = new CustomVolumes(db, hub, () => running, pools);
});

const status = async (p: Promise<unknown>) => p.then(() => 0, (err) => (err instanceof ApiError ? err.status : -1));

describe("storage pools", () => {
  test("create completes the config from the driver, stores the row and sends an event", async () => {
    const row = await pools.create({ name: "p1", driver: "fake", config: { size: "1GiB", "user.x": "y", empty: "" } });
    expect(row.config).toEqual({ size: "1GiB", "user.x": "y", source: "/fake/p1" });
    expect(pools.get("p1").driver).toBe("fake");
    expect(fake.calls).toEqual(["createPool p1"]);
    expect(events).toEqual(["storage-pool-created /1.0/storage-pools/p1"]);
  });

  test("bad names, drivers and keys are refused before the driver is asked", async () => {
    expect(await status(pools.create({ name: "a/b", driver: "fake" }))).toBe(400);
    expect(await status(pools.create({ name: "p", driver: "zfs" }))).toBe(400);
    expect(await status(pools.create({ name: "p", driver: "fake", config: { "volume.nope": "1" } }))).toBe(400);
    expect(fake.calls).toEqual([]);
    await pools.create({ name: "p", driver: "fake" });
    expect(await status(pools.create({ name: "p", driver: "fake" }))).toBe(409);
  });

  test("update keeps fixed keys, merges on PATCH and replaces on PUT", async () => {
    await pools.create({ name: "p", driver: "fake", description: "d", config: { size: "1GiB" } });
    expect(() => pools.update("p", { config: { source: "/elsewhere" } }, true)).toThrow(/cannot be changed/);
    pools.update("p", { config: { "user.a": "1" } }, true);
    expect(pools.get("p")).toMatchObject({ description: "d", config: { size: "1GiB", source: "/fake/p", "user.a": "1" } });
    pools.update("p", { config: { "user.b": "2" } }, false);
    expect(pools.get("p")).toMatchObject({ description: "", config: { source: "/fake/p", "user.b": "2" } });
  });

  test("a pool in use is not deleted; an unused one is, with its storage", async () => {
    await pools.create({ name: "p", driver: "fake" });
    await volumes.create("p", "v1");
    expect(await status(pools.delete("p"))).toBe(400);
    await volumes.delete("p", "v1");
    await pools.delete("p");
    expect(fake.calls.at(-1)).toBe("deletePool p");
    expect(await status(pools.delete("p"))).toBe(404);
  });

  test("the backend picks the driver method for the volume's kind", async () => {
    await pools.create({ name: "p", driver: "fake" });
    const b = pools.backend("p");
    await b.createFromImage("c1", "abc", async () => {});
    await b.copy(instanceVolume("c1"), instanceVolume("c1", "s0"));
    await b.rename(instanceVolume("c1", "s0"), "s1");
    await b.delete(instanceVolume("c1", "s1"));
    await b.create(customVolume("v"));
    await b.resize(customVolume("v"), 10);
    await b.restore(customVolume("v", "s"));
    expect(fake.calls.slice(1)).toEqual([
      "createInstanceFromImage p c1 abc", "copyVolume p instance/c1 -> p instance/c1/s0", "renameSnapshot p c1/s0 -> s1",
      "deleteSnapshot p c1/s1", "createCustom p v", "resize p custom/v 10", "restoreCustom p v/s",
    ]);
    expect(() => b.copy(instanceVolume("c1"), customVolume("v2"))).toThrow(/cannot copy/);
  });
});

describe("custom volumes", () => {
  beforeEach(async () => {
    await pools.create({ name: "p", driver: "fake" });
    await pools.create({ name: "q", driver: "fake" });
    events.length = 0;
  });

  test("create applies the size; a refused size leaves nothing behind", async () => {
    await volumes.create("p", "v1", "", { size: "1MiB" });
    expect(fake.limits.get("p/custom/v1")).toBe(2 ** 20);
    fake.failNext = "resize";
    expect(await status(volumes.create("p", "v2", "", { size: "1MiB" }))).toBe(400);
    expect(fake.has("p", "custom/v2")).toBe(false);
    expect(await status(Promise.resolve().then(() => volumes.get("p", "v2")))).toBe(404);
  });

  test("snapshots, a copy with its snapshots into another pool, rename and delete", async () => {
    await volumes.create("p", "v1");
    const snap = volumes.prepareSnapshot("p", "v1");
    await volumes.createSnapshot("p", "v1", snap);
    expect(snap).toBe("snap0");
    await volumes.copy("q", "v2", { pool: "p", volume: "v1" }, {});
    expect([...fake.pools.get("q")!].sort()).toEqual(["custom/v2", "custom/v2/snap0"]);
    expect(volumes.snapshots(volumes.get("q", "v2")).map((s) => s.name)).toEqual(["snap0"]);
    await volumes.rename("q", "v2", "v3");
    expect([...fake.pools.get("q")!].sort()).toEqual(["custom/v3", "custom/v3/snap0"]);
    await volumes.delete("q", "v3");
    expect(fake.pools.get("q")!.size).toBe(0);
    expect(events).toEqual([
      "storage-volume-created /1.0/storage-pools/p/volumes/custom/v1",
      "storage-volume-snapshot-created /1.0/storage-pools/p/volumes/custom/v1/snapshots/snap0",
      "storage-volume-created /1.0/storage-pools/q/volumes/custom/v2",
      "storage-volume-renamed /1.0/storage-pools/q/volumes/custom/v3",
      "storage-volume-deleted /1.0/storage-pools/q/volumes/custom/v3",
    ]);
  });

  test("a rename whose row cannot be written moves the trees back", async () => {
    await volumes.create("p", "v1");
    await volumes.create("p", "v2");
    db.$client.run("CREATE TRIGGER no_rename BEFORE UPDATE OF name ON storage_volumes BEGIN SELECT RAISE(ABORT, 'refused'); END");
    expect(await status(volumes.rename("p", "v1", "v9"))).toBe(500);
    expect(fake.has("p", "custom/v1")).toBe(true);
    expect(fake.has("p", "custom/v9")).toBe(false);
  });

  test("restore is refused while a running instance mounts the volume", async () => {
    await volumes.create("p", "v1");
    await volumes.createSnapshot("p", "v1", "s");
    running = ["c1"];
    expect(await status(volumes.restore("p", "v1", "s"))).toBe(400);
    running = [];
    await volumes.restore("p", "v1", "s");
    expect(fake.calls.at(-1)).toBe("restoreCustom p v1/s");
  });
});

describe("storage pools on a cluster (members m1 and m2 sharing one database)", () => {
  const as = (member: string) => { pools.member = () => member; };
  const message = async (p: Promise<unknown> | (() => unknown)) => {
    try {
      await (typeof p === "function" ? p() : p);
      return "";
    } catch (err) {
      return (err as Error).message;
    }
  };

  test("defined per member (Pending), created with each member's own keys, shown with or without a target", async () => {
    as("m1");
    expect(await message(() => pools.definePending({ name: "p", driver: "fake", config: { "user.x": "1" } }, "m1")))
      .toBe('Config key "user.x" may not be used as member-specific key');
    pools.definePending({ name: "p", driver: "fake", config: { source: "/a", size: "1GiB" } }, "m1");
    expect(await message(() => pools.definePending({ name: "p", driver: "fake" }, "m1"))).toBe('The storage pool already defined on member "m1"');
    expect(pools.toApi(pools.get("p"))).toMatchObject({ status: "Pending", locations: [], config: {} });
    expect(await message(() => pools.beginClusterCreate({ name: "p", driver: "fake" }, ["m1", "m2"]))).toBe("Pool not defined on nodes: m2");
    expect(await message(() => pools.beginClusterCreate({ name: "q", driver: "fake" }, ["m1"]))).toBe("Pool not pending on any node (use --target <node> first)");
    pools.definePending({ name: "p", driver: "fake", config: { source: "/b" } }, "m2");
    expect(await message(() => pools.beginClusterCreate({ name: "p", driver: "fake", config: { size: "2GiB" } }, ["m1", "m2"])))
      .toBe('Config key "size" is cluster member specific');
    pools.beginClusterCreate({ name: "p", driver: "fake", config: { "user.x": "1" } }, ["m1", "m2"]);
    await pools.createLocal("p");
    as("m2");
    await pools.createLocal("p");
    pools.finishClusterCreate("p", true);
    expect(fake.calls).toEqual(["createPool p", "createPool p"]);
    // Each member reads the pool with its own keys; without a target they stay out.
    expect(pools.get("p").config).toEqual({ "user.x": "1", source: "/b" });
    as("m1");
    expect(pools.get("p").config).toEqual({ "user.x": "1", source: "/a", size: "1GiB" });
    expect(pools.toApi(pools.get("p"))).toMatchObject({ status: "Created", locations: ["m1", "m2"], config: { "user.x": "1" } });
    expect(pools.toApi(pools.get("p"), true).config).toEqual({ "user.x": "1", source: "/a", size: "1GiB" });
    // Cluster keys change without a target, member keys with one only.
    expect(await message(() => pools.update("p", { config: { size: "3GiB" } }, true))).toBe('Config key "size" is cluster member specific');
    expect(await message(() => pools.update("p", { config: { "user.x": "2" } }, true, "m1")))
      .toBe('Config key "user.x" may not be used as cluster member specific key');
    pools.update("p", { config: { "user.x": "2" } }, false);
    pools.update("p", { config: { size: "3GiB" } }, true, "m1");
    expect(pools.get("p").config).toEqual({ "user.x": "2", source: "/a", size: "3GiB" });
    as("m2");
    expect(pools.get("p").config).toEqual({ "user.x": "2", source: "/b" });
  });

  test("enabling clustering makes a pool's member keys the first member's", async () => {
    await pools.create({ name: "p", driver: "fake", config: { size: "1GiB", "user.x": "y" } });
    pools.shareWith("m1");
    as("m1");
    expect(pools.toApi(pools.get("p"))).toMatchObject({ config: { "user.x": "y" }, locations: ["m1"], status: "Created" });
    expect(pools.get("p").config).toEqual({ "user.x": "y", size: "1GiB", source: "/fake/p" });
    as("m2");
    expect(pools.get("p").config).toEqual({ "user.x": "y" });
  });
});
