// Projects' pure rules on a real (temporary) database: names, config keys, which project's profiles
// apply, limits and restrictions on instances given as their expanded config, storage names, and
// the instance paths the server moves to them.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, seedDefaults, type OpenDb } from "../../src/db/index.ts";
import { instanceUrl, nameInProject, projectOfStored, storageName } from "../../src/api/project-names.ts";
import { instancePath } from "../../src/daemon/project.ts";
import { type InstanceUse, ProjectManager, validateProjectName } from "../../src/project/manager.ts";

let dir: string;
let db: OpenDb;
let projects: ProjectManager;
const sent: unknown[] = [];
let uses: Record<string, InstanceUse[]> = {};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "lxd-projects-"));
  db = openDatabase(join(dir, "lxd.db"));
  seedDefaults(db);
  projects = new ProjectManager(db, { send: (_t, m) => void sent.push(m) });
  uses = {};
  projects.instancesOf = (p) => uses[p] ?? [];
});
afterEach(() => {
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

const use = (name: string, config: Record<string, string>, devices: Record<string, Record<string, string>> = {}): InstanceUse =>
  ({ name, type: "container", config, devices });
const refusal = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return "";
};

test("names: LXD's rules", () => {
  expect(validateProjectName("p1")).toBeUndefined();
  expect(validateProjectName("a_b")).toBe("Project names may not contain underscores");
  expect(validateProjectName("a/b")).toBe("Project names may not contain slashes");
  expect(validateProjectName("*")).toBe("Reserved project name");
  expect(validateProjectName("")).toBe("No name provided");
});

test("create: features default as LXD 5.0's; keys and values checked; default profile made", () => {
  projects.create({ name: "p1" });
  expect(projects.get("p1").config).toEqual({ "features.images": "true", "features.profiles": "true", "features.storage.volumes": "true" });
  expect(projects.toApi(projects.get("p1")).used_by).toEqual(["/1.0/profiles/default?project=p1"]);
  expect(refusal(() => projects.create({ name: "p1" }))).toContain("already exists");
  expect(refusal(() => projects.create({ name: "x", config: { "limits.cpu": "two" } }))).toBe('Invalid project configuration key "limits.cpu" value: Invalid value for uint32 "two"');
  expect(refusal(() => projects.create({ name: "x", config: { "restricted.snapshots": "maybe" } }))).toContain("not one of [block allow]");
  expect(refusal(() => projects.create({ name: "x", config: { "features.storage.buckets": "true" } }))).toContain("is not supported by this daemon");
  expect(projects.effective("p1", "profiles")).toBe("p1");
  projects.create({ name: "p2", config: { "features.profiles": "false" } });
  expect(projects.effective("p2", "profiles")).toBe("default");
  expect(projects.effective("p1", "images")).toBe("p1");
  expect(projects.effective("p2", "images")).toBe("p2");
  expect(projects.effective("p1", "storage.volumes")).toBe("p1");
  expect(projects.effective("p2", "storage.volumes")).toBe("p2");
});

test("limits: counts, aggregates (every instance must set the key), and limits lower than use", () => {
  projects.create({ name: "p1", config: { "limits.instances": "2", "limits.memory": "1GiB" } });
  uses.p1 = [use("a", { "limits.memory": "512MiB" })];
  expect(refusal(() => projects.checkInstance("p1", use("b", {}), true)))
    .toBe('Failed checking if instance creation allowed: Failed getting usage of project entities: Instance "b" in project "p1" has no "limits.memory" config, either directly or via a profile');
  expect(refusal(() => projects.checkInstance("p1", use("b", { "limits.memory": "600MiB" }), true)))
    .toBe('Failed checking if instance creation allowed: Reached maximum aggregate value "1GiB" for "limits.memory" in project "p1"');
  projects.checkInstance("p1", use("b", { "limits.memory": "256MiB" }), true);
  uses.p1.push(use("b", { "limits.memory": "256MiB" }));
  expect(refusal(() => projects.checkInstance("p1", use("c", { "limits.memory": "1MiB" }), true))).toBe('Reached maximum number of instances in project "p1"');
  // An update replaces the instance's own use.
  projects.checkInstance("p1", use("a", { "limits.memory": "700MiB" }), false);
  expect(refusal(() => projects.update("p1", { config: { "limits.memory": "512MiB" } }, true))).toBe('"limits.memory" is too low: current total is "768.0MiB"');
  expect(refusal(() => projects.update("p1", { config: { "limits.cpu": "4" } }, true)))
    .toBe('Instance "a" in project "p1" has no "limits.cpu" config, either directly or via a profile');
  expect(projects.state("p1").resources.memory).toEqual({ Limit: 2 ** 30, Usage: 768 * 2 ** 20 });
  expect(refusal(() => projects.delete("default"))).toBe("The 'default' project cannot be deleted");
});

test("restrictions: off unless restricted=true; each key opens one door", () => {
  projects.create({ name: "r", config: { restricted: "true" } });
  const check = (config: Record<string, string>, devices: Record<string, Record<string, string>> = {}) =>
    refusal(() => projects.checkInstance("r", use("c", config, devices), true));
  expect(check({ "security.privileged": "true" })).toContain("Privileged containers are forbidden");
  expect(check({ "raw.idmap": "both 1000 1000" })).toContain('Use of low-level "raw.idmap" element 0 on container "c" of project "r" is forbidden');
  expect(check({}, { root: { type: "disk", path: "/", pool: "default" } })).toBe("");
  expect(check({}, { h: { type: "disk", path: "/mnt", source: "/srv" } })).toContain("Attaching disks not backed by a pool is forbidden");
  expect(check({}, { n: { type: "nic", nictype: "bridged", parent: "br0" } })).toContain("Only managed network devices are allowed");
  expect(check({}, { n: { type: "nic", network: "lxdbr0" } })).toBe("");
  projects.update("r", { config: { "restricted.idmap.uid": "1000-1999", "restricted.idmap.gid": "1000-1999", "restricted.devices.disk": "allow", "restricted.devices.disk.paths": "/srv" } }, true);
  expect(check({ "raw.idmap": "both 1000 1000" })).toBe("");
  expect(check({}, { h: { type: "disk", path: "/mnt", source: "/srv/data" } })).toBe("");
  expect(check({}, { h: { type: "disk", path: "/mnt", source: "/etc" } })).toContain('Disk source path "/etc" not allowed');
  expect(refusal(() => projects.checkAllowed("r", "backup"))).toBe(`Project "r" doesn't allow for backup creation`);
  expect(refusal(() => projects.checkTarget("r"))).toBe("This project doesn't allow cluster member targeting");
  projects.create({ name: "open" });
  expect(refusal(() => projects.checkInstance("open", use("c", { "security.privileged": "true" }), true))).toBe("");
});

test("storage names and the instance paths the server moves to them", () => {
  expect(storageName("default", "c1")).toBe("c1");
  expect(storageName("p1", "c1")).toBe("p1_c1");
  expect(projectOfStored("p1_c1")).toBe("p1");
  expect(nameInProject("p1", "p1_c1")).toBe("c1");
  expect(instanceUrl("p1_c1", "/snapshots/s0")).toBe("/1.0/instances/c1/snapshots/s0?project=p1");
  expect(instanceUrl("c1")).toBe("/1.0/instances/c1");
  expect(instancePath("/1.0/instances/c1/exec", "p1")).toBe("/1.0/instances/p1_c1/exec");
  expect(instancePath("/1.0/instances/c1", "default")).toBeUndefined();
  expect(instancePath("/1.0/instances/p1_c1", "default")).toBeNull();
  expect(instancePath("/1.0/instances", "p1")).toBeUndefined();
});
