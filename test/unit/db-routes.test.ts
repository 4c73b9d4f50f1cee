// /1.0/profiles and /1.0/storage-pools through the real server plumbing (envelopes, ETags, errors),
// on a temporary database and LXD_DIR.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, seedDefaults, type OpenDb } from "../../src/db/index.ts";
import { instances } from "../../src/db/schema.ts";
import { profilesRoutes } from "../../src/daemon/profiles.ts";
import { createServer } from "../../src/daemon/server.ts";
import { storagePoolsRoutes } from "../../src/daemon/storage-pools.ts";
import { StoragePools } from "../../src/storage/pools.ts";
import { ProfileManager } from "../../src/profile/manager.ts";

let dir: string;
let db: OpenDb;
let app: ReturnType<typeof createServer>;
const events: { action: unknown }[] = [];
const savedLxdDir = process.env.LXD_DIR;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lxd-routes-"));
  process.env.LXD_DIR = dir;
  db = openDatabase(join(dir, "database", "lxd.db"));
  seedDefaults(db);
  const ctx = { db, events: { send: (_type: "lifecycle", metadata: Record<string, unknown>) => void events.push({ action: metadata.action }) } };
  app = createServer([profilesRoutes({ profiles: new ProfileManager(db, ctx.events) }), storagePoolsRoutes({ pools: new StoragePools(db, ctx.events) })]);
});
afterAll(() => {
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
  process.env.LXD_DIR = savedLxdDir;
});

// Elysia finds the path by searching for "/" from index 11, so a host as short as "lxd" breaks routing.
async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await app.handle(new Request(`http://unix.socket${path}`, {
    method, headers: { "content-type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
  }));
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

const addInstance = (name: string, profiles: string[]) =>
  db.insert(instances).values({ name, architecture: "x86_64", createdAt: "t", lastUsedAt: "t", profiles }).run();

describe("storage pools", () => {
  test("create a dir pool: 201 + Location, directories made, source recorded", async () => {
    const r = await api("POST", "/1.0/storage-pools", { name: "default", driver: "dir" });
    expect(r.status).toBe(201);
    expect(r.headers.get("location")).toBe("/1.0/storage-pools/default");
    for (const sub of ["containers", "images", "custom"]) expect(existsSync(join(dir, "storage-pools/default", sub))).toBe(true);
    const pool = (await api("GET", "/1.0/storage-pools/default")).body.metadata;
    expect(pool).toEqual({
      name: "default", driver: "dir", description: "", config: { source: join(dir, "storage-pools/default") },
      status: "Created", locations: ["none"], used_by: [],
    });
  });

  test("list at recursion 0 and 1", async () => {
    expect((await api("GET", "/1.0/storage-pools")).body.metadata).toEqual(["/1.0/storage-pools/default"]);
    expect((await api("GET", "/1.0/storage-pools?recursion=1")).body.metadata[0].name).toBe("default");
  });

  test("refusals: duplicate, bad driver, bad name, unknown key, missing", async () => {
    expect((await api("POST", "/1.0/storage-pools", { name: "default", driver: "dir" })).status).toBe(409);
    const zfs = await api("POST", "/1.0/storage-pools", { name: "z", driver: "zfs" });
    expect(zfs.status).toBe(400);
    expect(zfs.body.error).toMatch(/zfs.*not supported/);
    expect((await api("POST", "/1.0/storage-pools", { name: "a/b", driver: "dir" })).status).toBe(400);
    const key = await api("POST", "/1.0/storage-pools", { name: "k", driver: "dir", config: { "zfs.pool_name": "x" } });
    expect(key.body.error).toBe("Invalid config: Unknown configuration key: zfs.pool_name");
    expect((await api("GET", "/1.0/storage-pools/ghost")).status).toBe(404);
    expect((await api("GET", "/1.0/storage-pools?recursion=1")).body.metadata.length).toBe(1);
  });

  test("PATCH keeps the source; changing it is refused", async () => {
    expect((await api("PATCH", "/1.0/storage-pools/default", { description: "main" })).status).toBe(200);
    expect((await api("GET", "/1.0/storage-pools/default")).body.metadata.description).toBe("main");
    expect((await api("PUT", "/1.0/storage-pools/default", { config: { source: "/elsewhere" } })).status).toBe(400);
  });

  test("delete: refused while used, then removes the directory", async () => {
    await api("POST", "/1.0/storage-pools", { name: "tmp", driver: "dir" });
    await api("POST", "/1.0/profiles", { name: "ontmp", devices: { root: { type: "disk", path: "/", pool: "tmp" } } });
    expect((await api("GET", "/1.0/storage-pools/tmp")).body.metadata.used_by).toEqual(["/1.0/profiles/ontmp"]);
    const refused = await api("DELETE", "/1.0/storage-pools/tmp");
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe("The storage pool is currently in use");
    await api("DELETE", "/1.0/profiles/ontmp");
    expect((await api("DELETE", "/1.0/storage-pools/tmp")).status).toBe(200);
    expect((await api("GET", "/1.0/storage-pools/tmp")).status).toBe(404);
  });
});

describe("profiles", () => {
  test("default exists; list at recursion 0 and 1", async () => {
    expect((await api("GET", "/1.0/profiles")).body.metadata).toEqual(["/1.0/profiles/default"]);
    expect((await api("GET", "/1.0/profiles?recursion=1")).body.metadata).toEqual([{
      name: "default", description: "Default LXD profile", config: {}, devices: {}, used_by: [], project: "default",
    }]);
  });

  test("lxd init --auto's step: PUT a root disk into default, with ETag", async () => {
    const r = await api("GET", "/1.0/profiles/default");
    const etag = r.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    const body = { description: r.body.metadata.description, config: {}, devices: { root: { type: "disk", path: "/", pool: "default" } } };
    expect((await api("PUT", "/1.0/profiles/default", body, { "If-Match": "stale" })).status).toBe(412);
    expect((await api("PUT", "/1.0/profiles/default", body, { "If-Match": etag })).status).toBe(200);
    expect((await api("GET", "/1.0/profiles/default")).body.metadata.devices.root.pool).toBe("default");
  });

  test("create, PATCH merges, empty value unsets", async () => {
    const r = await api("POST", "/1.0/profiles", { name: "web", description: "Web", config: { "limits.cpu": "2", "user.a": "1" } });
    expect(r.status).toBe(201);
    expect(r.headers.get("location")).toBe("/1.0/profiles/web");
    await api("PATCH", "/1.0/profiles/web", { config: { "limits.memory": "1GiB", "user.a": "" }, devices: { n: { type: "none" } } });
    const p = (await api("GET", "/1.0/profiles/web")).body.metadata;
    expect(p).toMatchObject({ description: "Web", config: { "limits.cpu": "2", "limits.memory": "1GiB" }, devices: { n: { type: "none" } } });
    expect(p.config["user.a"]).toBeUndefined();
  });

  test("refusals: invalid config, devices, names, duplicates", async () => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ["POST", "/1.0/profiles", { name: "x", config: { foo: "1" } }, 400, /Invalid config: Unknown configuration key: foo/],
      ["POST", "/1.0/profiles", { name: "x", config: { "volatile.base_image": "a" } }, 400, /Volatile keys/],
      ["POST", "/1.0/profiles", { name: "x", devices: { d: { type: "warp" } } }, 400, /Invalid devices:.*"d"/],
      ["POST", "/1.0/profiles", { name: "a/b" }, 400, /slashes/],
      ["POST", "/1.0/profiles", { name: "web" }, 409, /already exists/],
      ["PUT", "/1.0/profiles/web", { config: { "limits.memory": "lots" } }, 400, /limits\.memory/],
      ["GET", "/1.0/profiles/ghost", undefined, 404, /not found/],
    ];
    for (const [method, path, body, status, match] of cases) {
      const r = await api(method, path, body);
      expect(r.status).toBe(status);
      expect(r.body.error).toMatch(match);
    }
    expect((await api("GET", "/1.0/profiles")).body.metadata.length).toBe(2);
  });

  test("used_by, delete in use, root disk removal refused, rename follows", async () => {
    addInstance("c1", ["default", "web"]);
    expect((await api("GET", "/1.0/profiles/web")).body.metadata.used_by).toEqual(["/1.0/instances/c1"]);
    expect((await api("GET", "/1.0/storage-pools/default")).body.metadata.used_by).toEqual(["/1.0/instances/c1", "/1.0/profiles/default"]);
    const inUse = await api("DELETE", "/1.0/profiles/web");
    expect(inUse.status).toBe(400);
    expect(inUse.body.error).toBe("Profile is currently in use");
    const noRoot = await api("PUT", "/1.0/profiles/default", { description: "", config: {}, devices: {} });
    expect(noRoot.status).toBe(400);
    expect(noRoot.body.error).toMatch(/c1.*root disk/);
    const renamed = await api("POST", "/1.0/profiles/web", { name: "www" });
    expect(renamed.status).toBe(201);
    expect(renamed.headers.get("location")).toBe("/1.0/profiles/www");
    expect(db.select().from(instances).get()?.profiles).toEqual(["default", "www"]);
    expect((await api("POST", "/1.0/profiles/www", { name: "default" })).status).toBe(409);
    db.delete(instances).run();
    expect((await api("DELETE", "/1.0/profiles/www")).status).toBe(200);
  });

  test("default can be neither renamed nor deleted", async () => {
    expect((await api("POST", "/1.0/profiles/default", { name: "other" })).status).toBe(403);
    expect((await api("DELETE", "/1.0/profiles/default")).status).toBe(403);
  });

  test("lifecycle events are sent", () => {
    expect(events.map((e) => e.action)).toContain("profile-created");
    expect(events.map((e) => e.action)).toContain("storage-pool-created");
    expect(events.map((e) => e.action)).toContain("profile-renamed");
  });
});
