// Image store and the /1.0/images + /1.0/images/aliases routes on a temp database: import, list,
// prefix lookup, aliases, update, export, unpack, delete; duplicate and corrupt uploads.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase, seedDefaults, type Db } from "../../src/db/index.ts";
import { buildBusyboxImage } from "../../src/image/build-busybox.ts";
import { sha256Files } from "../../src/image/fingerprint.ts";
import { ImageStore } from "../../src/image/store.ts";
import { imageAliasesRoutes } from "../../src/daemon/image-aliases.ts";
import { imagesRoutes } from "../../src/daemon/images.ts";
import { ImageManager } from "../../src/image/manager.ts";
import { EventHub } from "../../src/events/hub.ts";
import { OperationManager } from "../../src/daemon/operations.ts";
import { createServer } from "../../src/daemon/server.ts";

let dir: string;
let imageFile: string;
let fp: string;
let db: Db;
let store: ImageStore;

beforeAll(async () => {
  dir = mkdtempSync("/tmp/lxd-store-test-");
  imageFile = join(dir, "busybox.tar.gz");
  await buildBusyboxImage(imageFile);
  fp = await sha256Files(imageFile);
  db = openDatabase(":memory:");
  seedDefaults(db);
  store = new ImageStore(db, join(dir, "images"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const imagesDirEntries = () => readdirSync(join(dir, "images"));

describe("ImageStore", () => {
  test("import -> list -> prefix get -> alias -> API view", async () => {
    const row = await store.importUnified(imageFile, { filename: "busybox.tar.gz", properties: { description: "test image" } });
    expect(row.fingerprint).toBe(fp);
    expect(imagesDirEntries()).toEqual([fp]);
    expect(store.list().map((r) => r.fingerprint)).toEqual([fp]);
    expect(store.get(fp.slice(0, 12))?.fingerprint).toBe(fp);
    expect(store.get("zz")).toBeUndefined();
    store.createAlias("busybox", fp.slice(0, 8));
    expect(store.resolveAlias("busybox")?.fingerprint).toBe(fp);

    const api = store.toApi(store.get(fp)!);
    expect(Object.keys(api)).toEqual([
      "auto_update", "properties", "public", "expires_at", "profiles", "aliases", "architecture", "cached",
      "filename", "fingerprint", "size", "type", "created_at", "last_used_at", "uploaded_at",
    ]);
    expect(api).toMatchObject({
      auto_update: false, public: false, cached: false, type: "container", filename: "busybox.tar.gz",
      profiles: ["default"], aliases: [{ name: "busybox", description: "" }], expires_at: "1970-01-01T00:00:00Z",
      size: readFileSync(imageFile).length,
    });
    expect(api.properties).toMatchObject({ os: "busybox", description: "test image" });
    expect(api.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test("duplicate upload is refused and leaves no temp file", async () => {
    await expect(store.importUnified(imageFile)).rejects.toThrow("Image with same fingerprint already exists");
    expect(imagesDirEntries()).toEqual([fp]);
  });

  test("fingerprint mismatch, corrupt and metadata-less uploads fail clearly", async () => {
    await expect(store.importUnified(imageFile, { fingerprint: "ab".repeat(32) })).rejects.toThrow(/fingerprints don't match/);
    const truncated = join(dir, "trunc.tar.gz");
    writeFileSync(truncated, readFileSync(imageFile).subarray(0, 200));
    await expect(store.importUnified(truncated)).rejects.toThrow(/Invalid image file/);
    const noMeta = join(dir, "nometa.tar");
    Bun.spawnSync(["tar", "-cf", noMeta, "-C", dir, "trunc.tar.gz"]);
    await expect(store.importUnified(noMeta)).rejects.toThrow(/missing metadata.yaml/);
    expect(imagesDirEntries()).toEqual([fp]);
  });

  test("unpackTo gives metadata.yaml and rootfs/", async () => {
    const dest = join(dir, "pool", "images", fp);
    await store.unpackTo(fp, dest);
    expect(existsSync(join(dest, "metadata.yaml"))).toBe(true);
    expect(existsSync(join(dest, "rootfs/bin/busybox"))).toBe(true);
  });
});

describe("REST routes", () => {
  const events = new EventHub();
  const lifecycle: string[] = [];
  events.subscribe(["lifecycle"], (e) => lifecycle.push((e.metadata as { action: string }).action));
  const ops = new OperationManager(events);
  let app: ReturnType<typeof createServer>;
  let routesDb: Db;
  let routesStore: ImageStore;

  beforeAll(() => {
    routesDb = openDatabase(":memory:");
    seedDefaults(routesDb);
    routesStore = new ImageStore(routesDb, join(dir, "images2"));
    const ctx = { images: routesStore, imageManager: new ImageManager(routesDb, routesStore, events), ops, events };
    app = createServer([imagesRoutes(ctx), imageAliasesRoutes(ctx)]);
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body instanceof Uint8Array) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const res = await app.handle(new Request(`http://unix.socket${path}`, init));
    const text = await res.text();
    let json: any;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, json, text };
  }

  test("upload (octet-stream) -> 202 operation with {fingerprint, size}", async () => {
    const data = new Uint8Array(readFileSync(imageFile));
    const r = await call("POST", "/1.0/images", data, {
      "content-type": "application/octet-stream",
      "x-lxd-filename": "busybox.tar.gz",
      "x-lxd-public": "1",
      "x-lxd-fingerprint": fp,
      "x-lxd-properties": "name=bb&extra=a%20b",
    });
    expect(r.status).toBe(202);
    expect(r.json.type).toBe("async");
    const op = ops.get(r.json.metadata.id as string)!;
    await op.wait(-1);
    expect(op.toJSON()).toMatchObject({ status: "Success", metadata: { fingerprint: fp, size: String(readFileSync(imageFile).length) } });
    const img = await call("GET", `/1.0/images/${fp}`);
    expect(img.status).toBe(200);
    expect(img!.json.metadata).toMatchObject({ public: true, filename: "busybox.tar.gz", fingerprint: fp });
    expect(img!.json.metadata.properties).toMatchObject({ name: "bb", extra: "a b", os: "busybox" });
    expect(img!.headers.get("etag")).toBeTruthy();
    expect(lifecycle).toContain("image-created");
  });

  test("list, prefix, aliases CRUD, PATCH/PUT, export, delete", async () => {
    const list0 = await call("GET", "/1.0/images");
    expect(list0.json.metadata).toEqual([`/1.0/images/${fp}`]);
    const list1 = await call("GET", "/1.0/images?recursion=1");
    expect(list1.json.metadata[0].fingerprint).toBe(fp);
    expect((await call("GET", `/1.0/images/${fp.slice(0, 6)}`)).json.metadata.fingerprint).toBe(fp);
    expect((await call("GET", "/1.0/images/abcdef0")).status).toBe(404);

    const created = await call("POST", "/1.0/images/aliases", { name: "debian/12", target: fp.slice(0, 10), description: "d" });
    expect(created.status).toBe(201);
    expect((await call("POST", "/1.0/images/aliases", { name: "debian/12", target: fp })).status).toBe(409);
    const got = await call("GET", "/1.0/images/aliases/debian%2F12");
    expect(got.json.metadata).toEqual({ description: "d", target: fp, name: "debian/12", type: "container" });
    expect((await call("GET", "/1.0/images/aliases")).json.metadata).toEqual(["/1.0/images/aliases/debian%2F12"]);
    expect((await call("PATCH", "/1.0/images/aliases/debian%2F12", { description: "new" })).status).toBe(200);
    expect((await call("PUT", "/1.0/images/aliases/debian%2F12", { description: "x" })).status).toBe(400);
    const stale = await call("PUT", "/1.0/images/aliases/debian%2F12", { target: fp }, { "if-match": got.headers.get("etag")! });
    expect(stale.status).toBe(412);
    expect((await call("POST", "/1.0/images/aliases/debian%2F12", { name: "deb" })).status).toBe(201);
    expect((await call("GET", "/1.0/images/aliases?recursion=1")).json.metadata).toEqual([
      { description: "new", target: fp, name: "deb", type: "container" },
    ]);
    expect((await call("GET", `/1.0/images/${fp}`)).json.metadata.aliases).toEqual([{ name: "deb", description: "new" }]);

    expect((await call("PATCH", `/1.0/images/${fp}`, { properties: { extra: "patched" } })).status).toBe(200);
    let img = (await call("GET", `/1.0/images/${fp}`)).json.metadata;
    expect(img.properties).toMatchObject({ extra: "patched", os: "busybox" });
    expect((await call("PUT", `/1.0/images/${fp}`, { properties: { only: "this" }, public: false, profiles: ["nope"] })).status).toBe(400);
    expect((await call("PUT", `/1.0/images/${fp}`, { properties: { only: "this" }, public: false })).status).toBe(200);
    img = (await call("GET", `/1.0/images/${fp}`)).json.metadata;
    expect(img.properties).toEqual({ only: "this" });
    expect(img.public).toBe(false);

    const exp = await app.handle(new Request(`http://unix.socket/1.0/images/${fp}/export`));
    expect(exp.status).toBe(200);
    expect(exp.headers.get("content-disposition")).toBe(`attachment; filename=${fp}.tar.gz`);
    expect(new Bun.CryptoHasher("sha256").update(new Uint8Array(await exp.arrayBuffer())).digest("hex")).toBe(fp);

    const dup = await call("POST", "/1.0/images", new Uint8Array(readFileSync(imageFile)), { "content-type": "application/octet-stream" });
    expect(dup.status).toBe(202);
    const dupOp = ops.get(dup.json.metadata.id as string)!;
    await dupOp.wait(-1);
    expect(dupOp.toJSON()).toMatchObject({ status: "Failure", err: "Image with same fingerprint already exists", metadata: { fingerprint: fp } });

    const del = await call("DELETE", `/1.0/images/${fp}`);
    expect(del.status).toBe(202);
    expect(del.json.metadata.resources).toEqual({ images: [`/1.0/images/${fp}`] });
    await ops.get(del.json.metadata.id as string)!.wait(-1);
    expect((await call("GET", `/1.0/images/${fp}`)).status).toBe(404);
    expect((await call("GET", "/1.0/images/aliases/deb")).status).toBe(404);
    expect(readdirSync(join(dir, "images2"))).toEqual([]);
    expect(lifecycle).toContain("image-deleted");
  });

  test("empty split uploads and JSON sources without instances get a clear 400", async () => {
    const r = await call("POST", "/1.0/images", new TextEncoder().encode("--x--"), { "content-type": "multipart/form-data; boundary=x" });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/needs a metadata part and a rootfs part/);
    const j = await call("POST", "/1.0/images", { source: { type: "instance", name: "c1" } });
    expect(j.status).toBe(400);
    expect(j.json.error).toMatch(/not available here/);
    const u = await call("POST", "/1.0/images", { source: { type: "url", url: "https://x" } });
    expect(u.status).toBe(400);
    expect(u.json.error).toMatch(/Image source type "url" is not supported/);
  });

  test("a JSON body is validated against ImagesPost: wrong types get a 400 naming the field", async () => {
    const r = await call("POST", "/1.0/images", { source: { type: "instance", name: "c1" }, public: "yes" });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('Invalid request body "public": expected boolean');
    const a = await call("POST", "/1.0/images", { source: { type: "image", server: 5 } });
    expect(a.status).toBe(400);
    expect(a.json.error).toBe('Invalid request body "source.server": expected string');
    const m = await call("POST", "/1.0/images", new TextEncoder().encode("{nope"), { "content-type": "application/json" });
    expect(m.status).toBe(400);
    expect(m.json.error).toMatch(/Malformed JSON/);
  });
});
