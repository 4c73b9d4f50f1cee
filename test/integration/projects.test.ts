// Projects: /1.0/projects through our CLI, LXD's `lxc` and the REST API; instances and profiles
// isolated per project, limits and restrictions refused with LXD's messages, the current project
// kept per remote in the client config, and a restricted certificate that sees only its project.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/net.ts";

let d: TestDaemon;
/** Our client's own config dir (so `project switch` never touches the host's). */
const conf = mkdtempSync("/tmp/lxd-projects-conf-");

beforeAll(async () => {
  d = await startInitializedDaemon();
});

afterAll(async () => {
  await d?.stop();
  rmSync(conf, { recursive: true, force: true });
});

const lxd = (...args: string[]) => d.lxdWith({ env: { LXD_CONF: conf } }, ...args);
async function ok(...args: string[]): Promise<string> {
  const r = await lxd(...args);
  if (r.code !== 0) throw new Error(`lxd ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

test("the default project exists with LXD's features and holds what was there", async () => {
  const p = await d.api("GET", "/1.0/projects/default");
  expect(p.status).toBe(200);
  expect(p.body.metadata.config).toEqual({
    "features.images": "true", "features.networks": "true", "features.profiles": "true", "features.storage.volumes": "true",
  });
  expect(p.body.metadata.used_by).toContain("/1.0/profiles/default");
  expect((await d.api("GET", "/1.0/projects")).body.metadata).toEqual(["/1.0/projects/default"]);
  const ext: string[] = (await d.api("GET", "/1.0")).body.metadata.api_extensions;
  for (const e of ["projects", "projects_limits", "projects_restrictions", "project_usage", "projects_limits_instances"]) expect(ext).toContain(e);
  expect((await d.api("DELETE", "/1.0/projects/default")).body.error).toBe("The 'default' project cannot be deleted");
  expect((await d.api("POST", "/1.0/projects/default", { name: "x" })).body.error).toBe("The 'default' project cannot be renamed");
});

test("lxc project create/set/get/show/list, names and keys checked as LXD does", async () => {
  await d.lxcOk("project", "create", "p1");
  const p = (await d.api("GET", "/1.0/projects/p1")).body.metadata;
  // Own images, profiles and custom volumes, as in LXD 5.0; buckets are default's (there are none here).
  expect(p.config).toEqual({ "features.images": "true", "features.profiles": "true", "features.storage.volumes": "true" });
  expect((await d.lxc("project", "set", "p1", "features.storage.buckets", "true")).stderr)
    .toContain(`Project feature "features.storage.buckets" is not supported by this daemon: projects other than default share default's storage.buckets`);
  expect(p.used_by).toEqual(["/1.0/profiles/default?project=p1"]);
  // Its own default profile, empty.
  const prof = (await d.api("GET", "/1.0/profiles/default?project=p1")).body.metadata;
  expect(prof).toMatchObject({ name: "default", project: "p1", description: "Default LXD profile for project p1", devices: {} });

  expect((await d.lxc("project", "create", "a_b")).stderr).toContain("Project names may not contain underscores");
  expect((await d.lxc("project", "set", "p1", "foo.bar", "1")).stderr).toContain('Invalid project configuration key "foo.bar"');
  expect((await d.lxc("project", "set", "p1", "restricted.devices.disk", "bogus")).stderr)
    .toContain('Invalid value "bogus" (not one of [block allow managed])');
  await d.lxcOk("project", "set", "p1", "user.owner", "ann");
  expect((await d.lxcOk("project", "get", "p1", "user.owner")).trim()).toBe("ann");
  expect(await ok("project", "show", "p1")).toContain("user.owner: ann");
  const list = await ok("project", "list", "-f", "csv");
  expect(list).toContain("default (current),YES,YES,YES,YES,Default LXD project,");
  expect(list).toContain("p1,YES,YES,YES,NO,,1");
  const state = (await d.api("GET", "/1.0/projects/p1/state")).body.metadata.resources;
  expect(state.instances).toEqual({ Limit: -1, Usage: 0 });
  expect(Object.keys(state).sort()).toEqual(["containers", "cpu", "disk", "instances", "memory", "networks", "processes", "virtual-machines"]);
});

test("instances live in their project: same name twice, lists, exec and delete act on the right one", async () => {
  // p1 has its own profiles: its default one needs a root disk before anything launches there.
  await d.lxcOk("--project", "p1", "profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
  // ...and its own images: default's busybox is not there until imported into it.
  expect((await d.lxc("--project", "p1", "launch", "busybox", "c1")).stderr).toContain("not found");
  const image = `${conf}/busybox`;
  await ok("image", "export", "busybox", image);
  const file = readdirSync(conf).find((f) => f.startsWith("busybox"))!;
  await ok("--project", "p1", "image", "import", `${conf}/${file}`, "--alias", "busybox");
  expect((await d.api("GET", "/1.0/images?project=p1")).body.metadata).toEqual((await d.api("GET", "/1.0/images")).body.metadata);
  expect((await d.api("GET", "/1.0/images/aliases?project=p1")).body.metadata).toEqual(["/1.0/images/aliases/busybox"]);
  await ok("launch", "busybox", "c1");
  await d.lxcOk("--project", "p1", "launch", "busybox", "c1", "-c", "user.where=p1");
  expect((await d.lxcOk("list", "-c", "n", "-f", "csv")).trim()).toBe("c1");
  expect((await d.lxcOk("--project", "p1", "list", "-c", "n", "-f", "csv")).trim()).toBe("c1");
  expect((await ok("--project", "p1", "config", "get", "c1", "user.where")).trim()).toBe("p1");
  expect((await ok("config", "get", "c1", "user.where")).trim()).toBe("");
  expect((await ok("list", "--all-projects", "-f", "csv", "-c", "en")).trim().split("\n").sort()).toEqual(["default,c1", "p1,c1"]);
  expect((await ok("--project", "p1", "exec", "c1", "--", "hostname")).trim()).toBe("c1");
  await Bun.write(`${conf}/note.txt`, "in p1\n");
  await ok("--project", "p1", "file", "push", `${conf}/note.txt`, "c1/root/note.txt");
  expect((await d.lxcOk("--project", "p1", "exec", "c1", "--", "cat", "/root/note.txt")).trim()).toBe("in p1");
  expect((await d.lxc("exec", "c1", "--", "cat", "/root/note.txt")).code).not.toBe(0);
  expect(await ok("--project", "p1", "info", "c1")).toContain("Name: c1");

  const inst = (await d.api("GET", "/1.0/instances/c1?project=p1")).body.metadata;
  expect(inst).toMatchObject({ name: "c1", project: "p1" });
  // Each takes its own project's default profile: default's has the nic, p1's only the root disk.
  expect(Object.keys(inst.expanded_devices)).toEqual(["root"]);
  expect(Object.keys((await d.api("GET", "/1.0/instances/c1")).body.metadata.expanded_devices).sort()).toEqual(["eth0", "root"]);
  // The pool's volume list shows the request project's containers, by their names in it.
  const containerVolumes = async (q: string) => ((await d.api("GET", `/1.0/storage-pools/default/volumes/container?recursion=1${q}`)).body.metadata as { name: string; project: string }[])
    .map((v) => `${v.project}/${v.name}`);
  expect(await containerVolumes("&project=p1")).toEqual(["p1/c1"]);
  expect(await containerVolumes("")).toEqual(["default/c1"]);
  const poolUsers: string[] = (await d.api("GET", "/1.0/storage-pools/default")).body.metadata.used_by;
  expect(poolUsers).toEqual(expect.arrayContaining(["/1.0/instances/c1", "/1.0/instances/c1?project=p1", "/1.0/profiles/default?project=p1"]));
  expect((await d.api("GET", "/1.0/instances?project=p1")).body.metadata).toEqual(["/1.0/instances/c1?project=p1"]);
  expect((await d.api("GET", "/1.0/instances?all-projects=true")).body.metadata.sort()).toEqual(["/1.0/instances/c1", "/1.0/instances/c1?project=p1"]);
  // The storage name is never an address.
  expect((await d.api("GET", "/1.0/instances/p1_c1")).status).toBe(404);
  expect((await d.api("GET", "/1.0/instances/c1?project=nope")).body.error).toBe("Project not found");
  expect((await d.api("GET", "/1.0/projects/p1")).body.metadata.used_by).toContain("/1.0/instances/c1?project=p1");

  // A project holding something is neither deleted nor renamed.
  expect((await d.lxc("project", "delete", "p1")).stderr).toContain("Only empty projects can be removed");
  expect((await lxd("project", "rename", "p1", "p2")).stderr).toContain("Only empty projects can be renamed");
  expect((await d.lxc("project", "set", "p1", "features.profiles", "false")).stderr)
    .toContain('Project feature "features.profiles" cannot be disabled on non-empty projects');

  // Snapshots, backups and imports stay in the project.
  await ok("--project", "p1", "snapshot", "c1", "s0");
  expect((await d.api("GET", "/1.0/instances/c1/snapshots?project=p1")).body.metadata).toEqual(["/1.0/instances/c1/snapshots/s0?project=p1"]);
  expect((await d.api("GET", "/1.0/instances/c1/snapshots")).body.metadata).toEqual([]);
  const tarball = `${conf}/c1.tar.gz`;
  await ok("--project", "p1", "export", "c1", tarball, "--instance-only");
  await ok("--project", "p1", "import", tarball, "c2");
  expect((await d.api("GET", "/1.0/instances/c2?project=p1")).body.metadata).toMatchObject({ name: "c2", project: "p1" });
  expect((await d.api("GET", "/1.0/instances/c2")).status).toBe(404);
  await ok("--project", "p1", "delete", "c2");

  // Copies into another project, ours and lxc's (--target-project).
  await ok("copy", "c1", "c3", "--target-project", "p1");
  await d.lxcOk("copy", "c1", "c4", "--target-project", "p1");
  expect((await d.lxcOk("--project", "p1", "list", "-c", "n", "-f", "csv")).trim().split("\n")).toEqual(["c1", "c3", "c4"]);
  await ok("--project", "p1", "delete", "c3", "c4");
  expect((await d.api("GET", "/1.0?project=p1")).body.metadata.environment.project).toBe("p1");

  // Moves into another project (instance_project_move), ours and lxc's: identity and snapshots
  // kept, the source gone; a running instance is refused, a taken name too.
  await ok("init", "busybox", "m1");
  await ok("snapshot", "m1", "before");
  const mac = (await d.api("GET", "/1.0/instances/m1")).body.metadata.config["volatile.eth0.hwaddr"];
  await ok("move", "m1", "--target-project", "p1");
  expect((await d.api("GET", "/1.0/instances/m1")).status).toBe(404);
  const moved = (await d.api("GET", "/1.0/instances/m1?project=p1")).body.metadata;
  expect(moved).toMatchObject({ name: "m1", project: "p1" });
  expect(moved.config["volatile.eth0.hwaddr"]).toBe(mac);
  expect((await d.api("GET", "/1.0/instances/m1/snapshots?project=p1")).body.metadata).toEqual(["/1.0/instances/m1/snapshots/before?project=p1"]);
  await d.lxcOk("--project", "p1", "move", "m1", "m2", "--target-project", "default");
  expect((await d.api("GET", "/1.0/instances/m1?project=p1")).status).toBe(404);
  expect((await d.api("GET", "/1.0/instances/m2")).body.metadata.project).toBe("default");
  await ok("start", "m2");
  expect((await lxd("move", "m2", "--target-project", "p1")).stderr).toContain("is running: stop it before moving it to another project");
  await ok("stop", "m2", "--force");
  await ok("init", "busybox", "m2", "--project", "p1");
  expect((await lxd("move", "m2", "--target-project", "p1")).stderr).toContain('Instance "m2" already exists');
  expect((await lxd("move", "m2", "--target-project", "nope")).stderr).toContain('Project "nope" not found');
  expect((await d.api("GET", "/1.0/instances/m2")).body.metadata.status).toBe("Stopped");
  await ok("delete", "m2");
  await ok("--project", "p1", "delete", "m2");

  await ok("--project", "p1", "delete", "c1", "--force");
  expect((await d.lxcOk("list", "-c", "n", "-f", "csv")).trim()).toBe("c1");
  // Deleting p1's copy of the image leaves default's (and the shared file) alone.
  await d.lxcOk("--project", "p1", "image", "delete", "busybox");
  expect((await d.api("GET", "/1.0/images?project=p1")).body.metadata).toEqual([]);
  await d.lxcOk("init", "busybox", "after");
  await ok("delete", "after");
  await ok("delete", "c1", "--force");
});

test("limits are enforced at create and update with LXD's messages", async () => {
  await ok("project", "create", "lim", "-c", "limits.instances=1", "-c", "limits.memory=1GiB", "-c", "features.profiles=false", "-c", "features.images=false");
  // Without features.profiles the project uses default's profiles (with its root disk).
  const noMemory = await d.lxc("--project", "lim", "init", "busybox", "m0");
  expect(noMemory.stderr).toContain('Instance "m0" in project "lim" has no "limits.memory" config, either directly or via a profile');
  await d.lxcOk("--project", "lim", "init", "busybox", "m1", "-c", "limits.memory=512MiB");
  const over = await d.lxc("--project", "lim", "config", "set", "m1", "limits.memory", "2GiB");
  expect(over.stderr).toContain('Failed checking if instance update allowed: Reached maximum aggregate value "1GiB" for "limits.memory" in project "lim"');
  const second = await d.lxc("--project", "lim", "init", "busybox", "m2", "-c", "limits.memory=10MiB");
  expect(second.stderr).toContain('Reached maximum number of instances in project "lim"');
  expect((await d.lxc("project", "set", "lim", "limits.memory", "100MiB")).stderr).toContain('"limits.memory" is too low: current total is "512.0MiB"');
  await d.lxcOk("project", "set", "lim", "limits.instances", "3");
  await d.lxcOk("project", "set", "lim", "limits.containers", "1");
  expect((await d.lxc("--project", "lim", "init", "busybox", "m2", "-c", "limits.memory=10MiB")).stderr)
    .toContain('Reached maximum number of instances of type "container" in project "lim"');
  const info = await ok("project", "info", "lim", "-f", "csv");
  expect(info).toContain("INSTANCES,3,1");
  expect(info).toContain("MEMORY,1GiB,512MiB");
  await ok("--project", "lim", "delete", "m1");
  await ok("project", "delete", "lim");
});

test("a restricted project refuses what LXD refuses", async () => {
  await ok("project", "create", "r1", "-c", "restricted=true", "-c", "features.profiles=false", "-c", "features.images=false");
  const fail = async (...args: string[]) => (await d.lxc("--project", "r1", ...args)).stderr;
  expect(await fail("init", "busybox", "x", "-c", "security.nesting=true"))
    .toContain('Invalid value "true" for config "security.nesting" on container "x" of project "r1": Container nesting is forbidden');
  expect(await fail("init", "busybox", "x", "-c", "security.privileged=true")).toContain("Privileged containers are forbidden");
  expect(await fail("init", "busybox", "x", "-c", "raw.lxc=lxc.environment=A=1")).toContain('Use of low-level config "raw.lxc" on container "x" of project "r1" is forbidden');
  await d.lxcOk("--project", "r1", "init", "busybox", "r");
  expect(await fail("config", "device", "add", "r", "h", "disk", "source=/tmp", "path=/mnt"))
    .toContain('Invalid device "h" on container "r" of project "r1": Attaching disks not backed by a pool is forbidden');
  expect(await fail("config", "device", "add", "r", "u", "unix-char", "path=/dev/zero")).toContain("Unix character devices are forbidden");
  // A profile change counts too (r1 uses default's profiles), and is undone.
  expect((await d.lxc("profile", "set", "default", "security.nesting", "true")).stderr)
    .toContain('Failed checking if profile update allowed: Invalid value "true" for config "security.nesting" on container "r" of project "r1": Container nesting is forbidden');
  expect((await d.api("GET", "/1.0/profiles/default")).body.metadata.config["security.nesting"]).toBeUndefined();
  expect(await fail("snapshot", "r")).toContain('Project "r1" doesn\'t allow for snapshot creation');
  await d.lxcOk("project", "set", "r1", "restricted.snapshots", "allow");
  await d.lxcOk("--project", "r1", "snapshot", "r", "s0");
  await ok("--project", "r1", "delete", "r");
  await ok("project", "delete", "r1");
});

test("project switch keeps the current project per remote, as lxc does", async () => {
  await ok("project", "create", "sw");
  await ok("project", "switch", "sw");
  expect(readFileSync(`${conf}/config.yml`, "utf8")).toMatch(/local:\n(\s+\w+: .*\n)*\s+project: sw/);
  expect(await ok("project", "list", "-f", "csv")).toContain("sw (current)");
  await ok("profile", "set", "default", "user.in", "sw");
  expect((await d.api("GET", "/1.0/profiles/default?project=sw")).body.metadata.config).toEqual({ "user.in": "sw" });
  expect((await d.api("GET", "/1.0/profiles/default")).body.metadata.config["user.in"]).toBeUndefined();
  // --project wins over the current one.
  expect((await ok("--project", "default", "profile", "get", "default", "user.in")).trim()).toBe("");
  await ok("project", "switch", "default");
  await ok("project", "rename", "sw", "sw2");
  await ok("project", "delete", "sw2");
  expect((await d.api("GET", "/1.0/projects/sw2")).status).toBe(404);
});

test("a restricted client certificate sees and touches only its projects over HTTPS", async () => {
  await ok("config", "set", "core.https_address", `127.0.0.1:${freePort()}`);
  await ok("project", "create", "rp", "-c", "features.profiles=false", "-c", "features.images=false");
  const token = (await ok("config", "trust", "add", "--name", "tenant", "--restricted", "--projects", "rp")).trim().split("\n").at(-1)!;
  const lxc = (...args: string[]) => d.lxcWith({ timeoutMs: 60_000 }, ...args);
  const add = await lxc("remote", "add", "tenant", token);
  expect(add.code, add.stderr).toBe(0);

  // Only its own project is listed (lxc made it the remote's current one); default is out of reach.
  expect((await lxc("project", "list", "tenant:", "-f", "csv")).stdout.trim().split("\n").map((l) => l.split(",")[0])).toEqual(["rp (current)"]);
  const other = await lxc("project", "show", "tenant:default");
  expect(other.code).not.toBe(0);
  expect(other.stderr).toContain("Project not found");
  const forbidden = await lxc("--project", "default", "list", "tenant:");
  expect(forbidden.code).not.toBe(0);
  expect(forbidden.stderr).toContain("restricted");
  expect((await lxc("project", "create", "tenant:mine")).stderr).toContain("Certificate is restricted");

  const launch = await lxc("--project", "rp", "init", "tenant:busybox", "tenant:t1");
  expect(launch.code, launch.stderr).toBe(0);
  expect((await lxc("--project", "rp", "list", "tenant:", "-c", "n", "-f", "csv")).stdout.trim()).toBe("t1");
  expect((await d.api("GET", "/1.0/instances?project=default")).body.metadata).not.toContain("/1.0/instances/t1");
  await lxc("--project", "rp", "delete", "tenant:t1");
  await ok("config", "unset", "core.https_address");
});

test("events and operations are filtered by project", async () => {
  await ok("project", "create", "ev");
  const ws = new WebSocket(`ws+unix://${d.socket}:/1.0/events?type=lifecycle&project=ev`);
  const seen: { project: string; metadata: { action: string; source: string } }[] = [];
  ws.onmessage = (m) => seen.push(JSON.parse(String(m.data)));
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  await ok("profile", "create", "in-default");
  await ok("--project", "ev", "profile", "create", "in-ev");
  await ok("--project", "ev", "profile", "delete", "in-ev");
  await Bun.sleep(200);
  ws.close();
  expect(seen.map((e) => [e.project, e.metadata.action, e.metadata.source])).toEqual([
    ["ev", "profile-created", "/1.0/profiles/in-ev?project=ev"],
    ["ev", "profile-deleted", "/1.0/profiles/in-ev?project=ev"],
  ]);
  await ok("profile", "delete", "in-default");

  // An instance operation is listed under its project only.
  await d.lxcOk("project", "set", "ev", "features.profiles", "false");
  await d.lxcOk("project", "set", "ev", "features.images", "false");
  const create = await d.api("POST", "/1.0/instances?project=ev", { name: "o1", source: { type: "image", alias: "busybox" } });
  expect(create.status).toBe(202);
  expect((await d.wait(create)).body.metadata.resources.instances).toEqual(["/1.0/instances/o1?project=ev"]);
  const listed = async (project: string) => JSON.stringify((await d.api("GET", `/1.0/operations?project=${project}`)).body.metadata);
  expect(await listed("ev")).toContain(create.body.metadata.id);
  expect(await listed("default")).not.toContain(create.body.metadata.id);
  await ok("--project", "ev", "delete", "o1");
  await ok("project", "delete", "ev");
});
