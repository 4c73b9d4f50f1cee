// Custom volumes on a three-member cluster (one machine: each member its own LXD_DIR, HTTPS port and
// default pool), as LXD 5.0 has them on local pools: each volume belongs to one member (`location`),
// `--target` makes it on another, the same name may exist once per member (and then needs
// `--target`), requests about a volume go to its member, an instance uses only its member's volumes
// and cannot leave them behind (move refused, evacuation stops it), and copy/move `--target` carry
// the data between members. Driven by our CLI, the REST API and Debian's `lxc`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { importBusybox, type TestDaemon } from "../helpers/daemon.ts";
import { LIBDQLITE, joinMember, memberAddress, startMembers } from "../helpers/cluster.ts";
import { until } from "../helpers/until.ts";

const LIB = LIBDQLITE;

const m: TestDaemon[] = [];
const address = memberAddress;

interface Volume { name: string; type: string; location: string; config: Record<string, string>; used_by: string[] }

const volumes = async (d: TestDaemon): Promise<Volume[]> =>
  (await d.api("GET", "/1.0/storage-pools/default/volumes/custom?recursion=1")).body.metadata;
const where = async (d: TestDaemon, name: string) => (await volumes(d)).filter((v) => v.name === name).map((v) => v.location).sort();
/** A volume's tree in a member's own default pool. */
const volumeDir = (d: TestDaemon, name: string) => join(d.dir, "storage-pools/default/custom", name);
const AMBIGUOUS = "More than one cluster member has a volume named \"vol1\". Please target a specific member";


describe.skipIf(!LIB)("cluster custom volumes", () => {
  beforeAll(async () => {
    await startMembers(m, 3);
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    await m1.ok("storage", "create", "default", "dir");
    await m1.ok("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
    // A volume made standalone becomes the first member's.
    await m1.ok("storage", "volume", "create", "default", "old");
    await m1.ok("config", "set", "core.https_address", address.get(m1)!);
    await importBusybox(m1);
    await m1.ok("cluster", "enable", "m1");
    await joinMember(m1, m2, "m2");
    await joinMember(m1, m3, "m3");
  }, 180_000);

  afterAll(async () => {
    await Promise.all(m.map((d) => d.stop()));
  });

  test("create --target, the same name on two members, LOCATION in lists (our CLI and lxc)", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    expect(await where(m2, "old")).toEqual(["m1"]);
    await m1.ok("storage", "volume", "create", "default", "vol1", "--target", "m2");
    expect(existsSync(volumeDir(m2, "vol1"))).toBe(true);
    expect(existsSync(volumeDir(m1, "vol1"))).toBe(false);
    // Without a target: the member that takes the request.
    await m1.ok("storage", "volume", "create", "default", "vol1", "user.on=m1");
    expect(existsSync(volumeDir(m1, "vol1"))).toBe(true);
    expect(await where(m3, "vol1")).toEqual(["m1", "m2"]);
    // Once per member: a second on m2 is refused.
    expect((await m3.lxd("storage", "volume", "create", "default", "vol1", "--target", "m2")).stderr).toContain("already exists");
    // REST: ?target= on the create.
    const made = await m3.api("POST", "/1.0/storage-pools/default/volumes/custom?target=m3", { name: "vol2" });
    expect(made.status).toBe(201);
    expect(await where(m1, "vol2")).toEqual(["m3"]);
    const table = await m2.ok("storage", "volume", "list", "default");
    expect(table).toContain("LOCATION");
    expect(table).toMatch(/vol1 .*\| m1 /);
    expect(table).toMatch(/vol1 .*\| m2 /);
    const onM3 = await m2.ok("storage", "volume", "list", "default", "--target", "m3");
    expect(onM3).toMatch(/vol2 .*\| m3 /);
    expect(onM3).not.toContain("vol1");
    // The server filters (?target=; lxc 5.0.2's list has no --target), asked from any member.
    const on = async (d: TestDaemon, member: string) =>
      ((await d.api("GET", `/1.0/storage-pools/default/volumes/custom?recursion=1&target=${member}`)).body.metadata as Volume[])
        .map((v) => `${v.name}@${v.location}`).sort();
    expect(await on(m1, "m2")).toEqual(["vol1@m2"]);
    expect(await on(m2, "m2")).toEqual(["vol1@m2"]);
    expect(await on(m3, "m1")).toEqual(["old@m1", "vol1@m1"]);
    const lxcTable = await m1.lxcOk("storage", "volume", "list", "default");
    expect(lxcTable).toContain("LOCATION");
    expect(lxcTable).toMatch(/vol2 .*\| m3 /);
  }, 120_000);

  test("show/get/set/snapshot/rename/delete go to the volume's member; an ambiguous name needs --target", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    expect((await m3.lxd("storage", "volume", "show", "default", "vol1")).stderr).toContain(AMBIGUOUS);
    expect((await m3.api("GET", "/1.0/storage-pools/default/volumes/custom/vol1")).body.error).toBe(AMBIGUOUS);
    expect(await m3.ok("storage", "volume", "show", "default", "vol1", "--target", "m2")).toContain("location: m2");
    expect(await m3.lxcOk("storage", "volume", "show", "default", "vol1", "--target", "m1")).toContain("location: m1");
    await m3.ok("storage", "volume", "set", "default", "vol1", "user.who=m2", "--target", "m2");
    expect(await m1.ok("storage", "volume", "get", "default", "vol1", "user.who", "--target", "m2")).toBe("m2\n");
    expect(await m1.ok("storage", "volume", "get", "default", "vol1", "user.who", "--target", "m1")).toBe("");
    // A name on one member only: no target needed, from any member.
    await m1.ok("storage", "volume", "set", "default", "vol2", "user.x=1");
    expect((await m2.api("GET", "/1.0/storage-pools/default/volumes/custom/vol2")).body.metadata).toMatchObject({ location: "m3", config: { "user.x": "1" } });
    await m1.ok("storage", "volume", "snapshot", "default", "vol2", "snap0");
    expect(existsSync(join(m3.dir, "storage-pools/default/custom-snapshots/vol2/snap0"))).toBe(true);
    await m2.ok("storage", "volume", "rename", "default", "vol1", "vol1b", "--target", "m1");
    expect(await where(m3, "vol1b")).toEqual(["m1"]);
    expect(existsSync(volumeDir(m1, "vol1b"))).toBe(true);
    await m2.ok("storage", "volume", "delete", "default", "vol1b");
    expect(existsSync(volumeDir(m1, "vol1b"))).toBe(false);
    expect(await where(m1, "vol1")).toEqual(["m2"]);
    // lxc deletes by --target too.
    await m1.ok("storage", "volume", "create", "default", "tmp", "--target", "m2");
    await m1.ok("storage", "volume", "create", "default", "tmp", "--target", "m3");
    await m1.lxcOk("storage", "volume", "delete", "default", "tmp", "--target", "m3");
    expect(await where(m1, "tmp")).toEqual(["m2"]);
    await m1.ok("storage", "volume", "delete", "default", "tmp");
  }, 120_000);

  test("an instance uses only its member's volumes; it cannot move away from them; evacuation stops it", async () => {
    const [m1, m2] = m as [TestDaemon, TestDaemon];
    await m1.ok("launch", "busybox", "c1", "--target", "m1");
    const refused = await m1.lxd("storage", "volume", "attach", "default", "vol2", "c1", "/data");
    expect(refused.stderr).toContain("Failed loading custom volume");
    expect(refused.stderr).toContain("\"m3\"");
    await m2.ok("storage", "volume", "attach", "default", "old", "c1", "/data");
    expect((await volumes(m2)).find((v) => v.name === "old")!.used_by).toEqual(["/1.0/instances/c1"]);
    expect((await m2.lxd("move", "c1", "--target", "m3")).stderr).toContain("Instance \"c1\" uses custom volume \"default/old\" of cluster member \"m1\"");
    // cluster.evacuate=migrate cannot take it: refused before anything changes.
    await m1.ok("config", "set", "c1", "cluster.evacuate", "migrate");
    expect((await m2.lxd("cluster", "evacuate", "m1", "--force")).stderr).toContain("uses custom volume");
    expect((await m2.api("GET", "/1.0/cluster/members/m1")).body.metadata.status).toBe("Online");
    // auto: stopped where it is, started again by restore.
    await m1.ok("config", "unset", "c1", "cluster.evacuate");
    await m2.ok("cluster", "evacuate", "m1", "--force");
    const c1 = async () => (await m2.api("GET", "/1.0/instances/c1")).body.metadata;
    expect(await c1()).toMatchObject({ location: "m1", status: "Stopped" });
    await m2.ok("cluster", "restore", "m1", "--force");
    await until(async () => (await c1()).status === "Running", "c1 running again", 30_000);
    await m1.ok("delete", "c1", "--force");
  }, 180_000);

  test("copy and move --destination-target carry the data between members (our CLI, REST)", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    writeFileSync(join(volumeDir(m3, "vol2"), "hello"), "from m3\n");
    await m1.ok("storage", "volume", "copy", "default/vol2", "default/vol2", "--destination-target", "m2");
    expect(await where(m1, "vol2")).toEqual(["m2", "m3"]);
    expect(readFileSync(join(volumeDir(m2, "vol2"), "hello"), "utf8")).toBe("from m3\n");
    const snaps = await m1.api("GET", "/1.0/storage-pools/default/volumes/custom/vol2/snapshots?target=m2");
    expect(snaps.body.metadata).toEqual(["/1.0/storage-pools/default/volumes/custom/vol2/snapshots/snap0"]);
    expect(existsSync(join(m2.dir, "storage-pools/default/custom-snapshots/vol2/snap0"))).toBe(true);
    const copied = (await m1.api("GET", "/1.0/storage-pools/default/volumes/custom/vol2?target=m2")).body.metadata;
    expect(copied).toMatchObject({ location: "m2", config: { "user.x": "1" } });
    await m1.ok("storage", "volume", "delete", "default", "vol2", "--target", "m2");
    // Move: copied there, then the source deleted.
    await m2.ok("storage", "volume", "move", "default/vol2", "default/vol2", "--destination-target", "m1");
    expect(await where(m2, "vol2")).toEqual(["m1"]);
    expect(existsSync(volumeDir(m3, "vol2"))).toBe(false);
    expect(readFileSync(join(volumeDir(m1, "vol2"), "hello"), "utf8")).toBe("from m3\n");
    // REST, as LXD's client sends it: the source's member in source.location.
    const op = await m3.api("POST", "/1.0/storage-pools/default/volumes/custom?target=m3", {
      name: "vol3", source: { type: "copy", pool: "default", name: "vol2", location: "m1", volume_only: true },
    });
    expect((await m3.wait(op)).body.metadata.status).toBe("Success");
    expect(await where(m1, "vol3")).toEqual(["m3"]);
    expect(readFileSync(join(volumeDir(m3, "vol3"), "hello"), "utf8")).toBe("from m3\n");
    expect(existsSync(join(m3.dir, "storage-pools/default/custom-snapshots/vol3"))).toBe(false);
    // --refresh across members: the copy there gets the source's new content.
    writeFileSync(join(volumeDir(m1, "vol2"), "hello"), "refreshed\n");
    await m2.ok("storage", "volume", "copy", "default/vol2", "default/vol3", "--destination-target", "m3", "--refresh", "--volume-only");
    expect(readFileSync(join(volumeDir(m3, "vol3"), "hello"), "utf8")).toBe("refreshed\n");
    writeFileSync(join(volumeDir(m1, "vol2"), "hello"), "from m3\n");
  }, 180_000);

  test("Debian's lxc: copy --target within a member, move --destination-target between members", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    // lxc 5.0 reads `copy --target` as the member of the source and of the copy.
    await m2.lxcOk("storage", "volume", "copy", "default/vol2", "default/vol4", "--target", "m1");
    expect(await where(m1, "vol4")).toEqual(["m1"]);
    expect(readFileSync(join(volumeDir(m1, "vol4"), "hello"), "utf8")).toBe("from m3\n");
    // Its move between members: the source member sends, the destination pulls, the source's copy goes.
    await m1.lxcOk("storage", "volume", "move", "default/vol3", "default/vol3", "--destination-target", "m2");
    expect(await where(m1, "vol3")).toEqual(["m2"]);
    expect(existsSync(volumeDir(m3, "vol3"))).toBe(false);
    expect(readFileSync(join(volumeDir(m2, "vol3"), "hello"), "utf8")).toBe("refreshed\n");
    // Ours reads the flags as lxc does: --target is the source's member (and the copy's).
    await m3.ok("storage", "volume", "move", "default/vol3", "default/vol3", "--destination-target", "m3");
    expect(await where(m1, "vol3")).toEqual(["m3"]);
    await m2.ok("storage", "volume", "copy", "default/vol3", "default/vol5", "--target", "m3");
    expect(await where(m1, "vol5")).toEqual(["m3"]);
    await m1.ok("storage", "volume", "delete", "default", "vol5", "--target", "m3");
  }, 120_000);

  test("export and import --target: a member's volume out, into another member", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    writeFileSync(join(volumeDir(m2, "vol1"), "data"), "on m2\n");
    const file = join(m1.dir, "vol1.tar.gz");
    await m1.ok("storage", "volume", "export", "default", "vol1", file, "--target", "m2");
    await m1.ok("storage", "volume", "import", "default", file, "vol1", "--target", "m3");
    expect(await where(m1, "vol1")).toEqual(["m2", "m3"]);
    expect(readFileSync(join(volumeDir(m3, "vol1"), "data"), "utf8")).toBe("on m2\n");
    await m2.ok("storage", "volume", "delete", "default", "vol1", "--target", "m3");
  }, 120_000);

  test("a member holding volumes is removed only with --force, which forgets them", async () => {
    const [m1] = m as [TestDaemon];
    expect((await m1.lxd("cluster", "remove", "m3")).stderr).toContain("Member \"m3\" still has custom volume(s) default/vol3");
    await m1.ok("cluster", "remove", "m3", "--force");
    expect(await where(m1, "vol3")).toEqual([]);
  }, 120_000);
});
