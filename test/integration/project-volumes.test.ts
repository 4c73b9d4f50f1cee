// Custom volumes per project (`features.storage.volumes`, on by default for new projects as in LXD
// 5.0) through our CLI, LXD's `lxc` and REST: two projects each with a `v1` in one pool, stored
// as LXD names them (`<project>_<name>` outside default), disks of an instance attaching its
// project's volume, used_by, snapshots, rename, backups, copy into another project, limits.disk
// and restricted snapshots; a project with the feature off uses default's volumes.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
  // p1 uses default's images and profiles but has its own volumes; p2 uses default's volumes.
  await d.lxcOk("project", "create", "p1", "-c", "features.images=false", "-c", "features.profiles=false");
  await d.lxcOk("project", "create", "p2", "-c", "features.images=false", "-c", "features.profiles=false", "-c", "features.storage.volumes=false");
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);
const custom = (name: string) => join(d.dir, "storage-pools", "default", "custom", name);
const names = async (project: string) =>
  ((await d.api("GET", `/1.0/storage-pools/default/volumes/custom?recursion=1&project=${project}`)).body.metadata as { name: string; project: string }[])
    .map((v) => `${v.project}/${v.name}`);

test("each project has its own v1 in one pool, stored as <project>_<name>; without the feature default's", async () => {
  expect((await d.api("GET", "/1.0/projects/p1")).body.metadata.config["features.storage.volumes"]).toBe("true");
  await d.lxcOk("--project", "p1", "storage", "volume", "create", "default", "v1", "user.who=p1");
  await ok("storage", "volume", "create", "default", "v1", "user.who=default");
  expect(existsSync(custom("p1_v1"))).toBe(true);
  expect(existsSync(custom("v1"))).toBe(true);
  expect(await names("p1")).toEqual(["p1/v1"]);
  expect(await names("default")).toEqual(["default/v1"]);
  // p2 has the feature off: it sees and uses default's.
  expect(await names("p2")).toEqual(["default/v1"]);
  expect(await ok("--project", "p1", "storage", "volume", "list", "default", "-f", "csv")).toContain("custom,v1,");
  expect((await ok("--project", "p2", "storage", "volume", "get", "default", "v1", "user.who")).trim()).toBe("default");
  expect((await ok("--project", "p1", "storage", "volume", "get", "default", "v1", "user.who")).trim()).toBe("p1");
  expect((await d.lxcOk("--project", "p1", "storage", "volume", "get", "default", "v1", "user.who")).trim()).toBe("p1");
  const shown = (await d.api("GET", "/1.0/storage-pools/default/volumes/custom/v1?project=p1")).body.metadata;
  expect(shown).toMatchObject({ name: "v1", project: "p1", config: { "user.who": "p1" } });
  expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom?project=p1")).body.metadata)
    .toEqual(["/1.0/storage-pools/default/volumes/custom/v1?project=p1"]);
  expect((await d.api("GET", "/1.0/projects/p1")).body.metadata.used_by).toContain("/1.0/storage-pools/default/volumes/custom/v1?project=p1");
  // Names stay p1's: a second v1 in p1 is refused, and default cannot take p1's storage name.
  expect((await d.lxc("--project", "p1", "storage", "volume", "create", "default", "v1")).stderr).toContain('Storage volume "v1" already exists');
  expect((await d.api("POST", "/1.0/storage-pools/default/volumes/custom", { name: "p1_v1" })).status).toBe(400);
  // The feature cannot change while the project has volumes (LXD's rule).
  expect((await d.lxc("project", "set", "p1", "features.storage.volumes", "false")).stderr).toContain("cannot be disabled on non-empty projects");
});

test("all-projects lists every project's volumes, each with its project (API, our CLI, lxc)", async () => {
  const all = (await d.api("GET", "/1.0/storage-pools/default/volumes?all-projects=true&recursion=1")).body.metadata as { name: string; project: string; type: string }[];
  expect(all.filter((v) => v.type === "custom").map((v) => `${v.project}/${v.name}`).sort()).toEqual(["default/v1", "p1/v1"]);
  const urls = (await d.api("GET", "/1.0/storage-pools/default/volumes/custom?all-projects=true")).body.metadata;
  expect(urls.sort()).toEqual(["/1.0/storage-pools/default/volumes/custom/v1", "/1.0/storage-pools/default/volumes/custom/v1?project=p1"]);
  // Without it, the request's project only.
  expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom")).body.metadata).toEqual(["/1.0/storage-pools/default/volumes/custom/v1"]);
  expect((await d.api("GET", "/1.0")).body.metadata.api_extensions).toContain("storage_volumes_all_projects");

  const ours = await ok("storage", "volume", "list", "default", "--all-projects", "-f", "csv");
  expect(ours).toContain("default,custom,v1,");
  expect(ours).toContain("p1,custom,v1,");
  expect((await ok("storage", "volume", "list", "default", "--all-projects")).split("\n").find((l) => l.includes("TYPE"))).toMatch(/^\|\s*PROJECT\s*\|\s*TYPE\s*\|/);
  expect(await ok("storage", "volume", "list", "default", "-f", "csv")).not.toContain("p1,");
  const theirs = await d.lxcOk("storage", "volume", "list", "default", "--all-projects", "-f", "csv");
  expect(theirs).toContain("default,custom,v1,");
  expect(theirs).toContain("p1,custom,v1,");
});

test("a disk of an instance in p1 attaches p1's volume; used_by names it there", async () => {
  await ok("--project", "p1", "launch", "busybox", "c1");
  await ok("--project", "p1", "storage", "volume", "attach", "default", "v1", "c1", "/data");
  await ok("--project", "p1", "exec", "c1", "--", "sh", "-c", "echo from-p1 > /data/f");
  expect(readFileSync(join(custom("p1_v1"), "f"), "utf8")).toBe("from-p1\n");
  expect(existsSync(join(custom("v1"), "f"))).toBe(false);
  expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/v1?project=p1")).body.metadata.used_by).toEqual(["/1.0/instances/c1?project=p1"]);
  expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/v1")).body.metadata.used_by).toEqual([]);
  expect((await d.lxc("--project", "p1", "storage", "volume", "delete", "default", "v1")).stderr).toContain("still in use");
  await ok("--project", "p1", "storage", "volume", "detach", "default", "v1", "c1");
  await ok("--project", "p1", "delete", "-f", "c1");
});

test("snapshots, rename, backups and copy into another project act on the project's volume", async () => {
  await d.lxcOk("--project", "p1", "storage", "volume", "snapshot", "default", "v1", "s0");
  expect(existsSync(join(d.dir, "storage-pools", "default", "custom-snapshots", "p1_v1", "s0"))).toBe(true);
  expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/v1/snapshots?project=p1")).body.metadata)
    .toEqual(["/1.0/storage-pools/default/volumes/custom/v1/snapshots/s0?project=p1"]);
  expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/v1/snapshots")).body.metadata).toEqual([]);

  await d.lxcOk("--project", "p1", "storage", "volume", "rename", "default", "v1", "v2");
  expect(existsSync(custom("p1_v2"))).toBe(true);
  expect(await names("p1")).toEqual(["p1/v2"]);

  const file = join(d.dir, "v2.tar.gz");
  await ok("--project", "p1", "storage", "volume", "export", "default", "v2", file);
  await ok("--project", "p1", "storage", "volume", "import", "default", file, "v3");
  expect(readFileSync(join(custom("p1_v3"), "f"), "utf8")).toBe("from-p1\n");
  expect(await names("p1")).toEqual(["p1/v2", "p1/v3"]);

  // Copy from p1 into default (lxc's --target-project: the request is the target's, naming the source's).
  const copy = await d.api("POST", "/1.0/storage-pools/default/volumes/custom", { name: "fromp1", source: { type: "copy", name: "v2", project: "p1" } });
  expect((await d.wait(copy)).body.metadata.status).toBe("Success");
  expect(readFileSync(join(custom("fromp1"), "f"), "utf8")).toBe("from-p1\n");
  expect((await d.api("POST", "/1.0/storage-pools/default/volumes/custom", { name: "x", source: { type: "copy", name: "v2", project: "nope" } })).status).toBe(404);

  // --target-project with our CLI and lxc.
  await ok("--project", "p1", "storage", "volume", "copy", "default/v2", "default/ours", "--target-project", "default");
  expect(readFileSync(join(custom("ours"), "f"), "utf8")).toBe("from-p1\n");
  await d.lxcOk("storage", "volume", "copy", "default/v1", "default/fromdefault", "--target-project", "p1");
  expect(existsSync(custom("p1_fromdefault"))).toBe(true);
  await ok("storage", "volume", "move", "default/ours", "default/ours", "--target-project", "p1");
  expect(readFileSync(join(custom("p1_ours"), "f"), "utf8")).toBe("from-p1\n");
  expect(existsSync(custom("ours"))).toBe(false);

  await d.lxcOk("--project", "p1", "storage", "volume", "move", "default/fromdefault", "default/back", "--target-project", "default");
  expect(existsSync(custom("p1_fromdefault"))).toBe(false);
  expect(existsSync(custom("back"))).toBe(true);

  for (const v of ["v2", "v3", "ours"]) await d.lxcOk("--project", "p1", "storage", "volume", "delete", "default", v);
  for (const v of ["fromp1", "back"]) await ok("storage", "volume", "delete", "default", v);
  expect(existsSync(custom("p1_v2"))).toBe(false);
  expect(await names("p1")).toEqual([]);
  expect(await names("default")).toEqual(["default/v1"]);
});

test("limits.disk counts the project's volumes; restricted projects refuse volume snapshots", async () => {
  await ok("storage", "create", "bt", "btrfs", "size=512MiB"); // a dir pool cannot limit a volume's size
  await d.lxcOk("project", "create", "p3", "-c", "limits.disk=100MiB", "-c", "restricted=true");
  await d.lxcOk("--project", "p3", "storage", "volume", "create", "bt", "a", "size=60MiB");
  expect((await d.lxc("--project", "p3", "storage", "volume", "create", "bt", "b", "size=60MiB")).stderr)
    .toContain('Failed checking if volume creation allowed: Reached maximum aggregate value "100MiB" for "limits.disk" in project "p3"');
  expect((await d.lxc("--project", "p3", "storage", "volume", "set", "bt", "a", "size=200MiB")).stderr)
    .toContain('Reached maximum aggregate value "100MiB" for "limits.disk"');
  expect((await d.api("GET", "/1.0/projects/p3/state")).body.metadata.resources.disk).toEqual({ Limit: 100 * 2 ** 20, Usage: 60 * 2 ** 20 });
  expect((await d.lxc("project", "set", "p3", "limits.disk", "10MiB")).stderr).toContain('"limits.disk" is too low');
  expect((await d.lxc("--project", "p3", "storage", "volume", "snapshot", "bt", "a")).stderr).toContain(`Project "p3" doesn't allow for snapshot creation`);
  await d.lxcOk("--project", "p3", "storage", "volume", "delete", "bt", "a");
  await d.lxcOk("project", "delete", "p3");
});
