// Profile, storage pool and server config queries and their API views.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, seedDefaults, type OpenDb } from "../../src/db/index.ts";
import * as profiles from "../../src/db/profiles.ts";
import * as pools from "../../src/db/storage-pools.ts";
import { getServerConfig, getServerConfigValue, patchServerConfig, replaceServerConfig } from "../../src/db/server-config.ts";
import { images, instances } from "../../src/db/schema.ts";

let dir: string;
let db: OpenDb;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "lxd-db-"));
  db = openDatabase(join(dir, "lxd.db"));
  seedDefaults(db);
});
afterEach(() => {
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

const addInstance = (name: string, profileList: string[], devices: Record<string, Record<string, string>> = {}) =>
  db.insert(instances).values({ name, architecture: "x86_64", createdAt: "t", lastUsedAt: "t", profiles: profileList, devices }).run();
const addImage = (fp: string, profileList: string[]) =>
  db.insert(images).values({ fingerprint: fp, size: 1, architecture: "x86_64", createdAt: "", uploadedAt: "", lastUsedAt: "", expiresAt: "", profiles: profileList }).run();

test("profile API view: LXD fields and used_by", () => {
  profiles.createProfile(db, "web", { description: "Web", config: { "limits.cpu": "2" }, devices: {} });
  addInstance("c2", ["default", "web"]);
  addInstance("c1", ["default"]);
  expect(profiles.listProfiles(db).map((p) => p.name)).toEqual(["default", "web"]);
  expect(profiles.profileToApi(db, profiles.getProfile(db, "default")!)).toEqual({
    name: "default", description: "Default LXD profile", config: {}, devices: {},
    used_by: ["/1.0/instances/c1", "/1.0/instances/c2"], project: "default",
  });
  expect(profiles.profileToApi(db, profiles.getProfile(db, "web")!).used_by).toEqual(["/1.0/instances/c2"]);
});

test("update, rename (references follow) and delete", () => {
  profiles.createProfile(db, "web", { description: "", config: {}, devices: {} });
  profiles.updateProfile(db, "web", { description: "d", config: { "user.x": "1" }, devices: { n: { type: "none" } } });
  expect(profiles.getProfile(db, "web")).toEqual({ name: "web", project: "default", description: "d", config: { "user.x": "1" }, devices: { n: { type: "none" } } });
  addInstance("c1", ["default", "web"]);
  addImage("fp1", ["web"]);
  profiles.renameProfile(db, "web", "www");
  expect(profiles.getProfile(db, "web")).toBeUndefined();
  expect(profiles.getProfile(db, "www")?.description).toBe("d");
  expect(db.select().from(instances).get()?.profiles).toEqual(["default", "www"]);
  expect(db.select().from(images).get()?.profiles).toEqual(["www"]);
  expect(profiles.instancesUsingProfile(db, "www")).toEqual(["c1"]);
  db.delete(instances).run();
  profiles.deleteProfile(db, "www");
  expect(profiles.getProfile(db, "www")).toBeUndefined();
  expect(db.select().from(images).get()?.profiles).toEqual([]);
});

test("storage pools: API view and used_by through profiles and local devices", () => {
  pools.createPool(db, { name: "default", driver: "dir", config: { source: "/var/lib/lxd/storage-pools/default" } });
  pools.createPool(db, { name: "fast", driver: "dir", description: "SSD", config: { source: "/ssd" } });
  profiles.updateProfile(db, "default", { description: "", config: {}, devices: { root: { type: "disk", path: "/", pool: "default" } } });
  addInstance("c1", ["default"]);
  addInstance("c2", ["default"], { root: { type: "disk", path: "/", pool: "fast" } });
  addInstance("c3", ["missing-profile"]);
  expect(pools.listPools(db).map((p) => p.name)).toEqual(["default", "fast"]);
  expect(pools.poolToApi(db, pools.getPool(db, "default")!)).toEqual({
    name: "default", driver: "dir", description: "", config: { source: "/var/lib/lxd/storage-pools/default" },
    status: "Created", locations: ["none"], used_by: ["/1.0/instances/c1", "/1.0/profiles/default"],
  });
  expect(pools.poolUsedBy(db, "fast")).toEqual(["/1.0/instances/c2"]);
  pools.updatePool(db, "fast", { description: "NVMe", config: { source: "/ssd", "rsync.bwlimit": "10" } });
  expect(pools.getPool(db, "fast")?.config["rsync.bwlimit"]).toBe("10");
  db.delete(instances).run();
  pools.deletePool(db, "fast");
  expect(pools.getPool(db, "fast")).toBeUndefined();
});

test("server config: replace and patch", () => {
  expect(getServerConfig(db)).toEqual({});
  replaceServerConfig(db, { "core.https_address": ":8443", "images.auto_update_interval": "6", empty: "" });
  expect(getServerConfig(db)).toEqual({ "core.https_address": ":8443", "images.auto_update_interval": "6" });
  patchServerConfig(db, { "core.https_address": "", "images.auto_update_interval": "12", "core.trust_password": "x" });
  expect(getServerConfig(db)).toEqual({ "images.auto_update_interval": "12", "core.trust_password": "x" });
  expect(getServerConfigValue(db, "core.trust_password")).toBe("x");
  expect(getServerConfigValue(db, "nope")).toBeUndefined();
  replaceServerConfig(db, {});
  expect(getServerConfig(db)).toEqual({});
});

