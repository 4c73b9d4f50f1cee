// Projects: their config (features, limits, restrictions) checked and written here, and the rules
// other managers ask about: which project's profiles/images/volumes/networks a project uses, whether
// an instance fits the project's limits and restrictions. Messages are LXD 5.0's.
import { ApiError } from "../api/error.ts";
import type { Project, ProjectState } from "../api/project.ts";
import { rootDisk } from "../config/expand.ts";
import { bytesIEC, isTrue, parseSize } from "../config/values.ts";
import type { Db } from "../db/index.ts";
import * as q from "../db/projects.ts";
import { profiles } from "../db/schema.ts";

type StringMap = Record<string, string>;
type Devices = Record<string, StringMap>;
type Events = { send(type: "lifecycle", metadata: Record<string, unknown>, project?: string | null): void };

export type ProjectRow = q.ProjectRow;
export type Feature = "images" | "profiles" | "storage.volumes" | "networks";

/** What limit and restriction checks see of one instance: its expanded config and devices. */
export interface InstanceUse { name: string; type: string; config: StringMap; devices: Devices }

export const projectUrl = (name: string) => `/1.0/projects/${name}`;
/** An object's URL as LXD's `used_by` lists it: `?project=` outside default. */
export const inProject = (url: string, project: string) => (project === "default" ? url : `${url}?project=${project}`);

const FEATURES = ["features.images", "features.profiles", "features.storage.volumes", "features.networks", "features.storage.buckets"];
/** Features a project other than default may turn on here: buckets are shared with default (there
 *  are none here), which is what LXD does with the feature off. */
const OWN_FEATURES = new Set(["features.images", "features.profiles", "features.storage.volumes", "features.networks"]);
/** A new project's features when its request leaves them out, as LXD 5.0's. */
const NEW_PROJECT_FEATURES: StringMap = { "features.images": "true", "features.profiles": "true", "features.storage.volumes": "true" };

const uint = (v: string) => (/^\d+$/.test(v) && Number(v) < 2 ** 32 ? undefined : `Invalid value for uint32 "${v}"`);
const oneOf = (...values: string[]) => (v: string) =>
  values.includes(v) ? undefined : `Invalid value "${v}" (not one of [${values.join(" ")}])`;
const bool = (v: string) => (["true", "false", "1", "0", "yes", "no", "on", "off", ""].includes(v.toLowerCase()) ? undefined : `Invalid value "${v}" (not a boolean)`);
const sizeOrPercent = (v: string) => (parseSize(v) !== undefined || /^\d+%$/.test(v) ? undefined : `Invalid value "${v}" (not a size)`);
const size = (v: string) => (parseSize(v) !== undefined ? undefined : `Invalid value "${v}" (not a size)`);
const any = () => undefined;

const KEYS: Record<string, (v: string) => string | undefined> = {
  ...Object.fromEntries(FEATURES.map((k) => [k, bool])),
  "limits.instances": uint, "limits.containers": uint, "limits.virtual-machines": uint, "limits.networks": uint,
  "limits.processes": uint, "limits.cpu": uint, "limits.memory": sizeOrPercent, "limits.disk": size,
  restricted: bool,
  "restricted.containers.nesting": oneOf("block", "allow"),
  "restricted.containers.privileged": oneOf("unprivileged", "isolated", "allow"),
  "restricted.containers.lowlevel": oneOf("block", "allow"),
  "restricted.containers.interception": oneOf("block", "allow", "full"),
  "restricted.virtual-machines.lowlevel": oneOf("block", "allow"),
  "restricted.devices.disk": oneOf("block", "allow", "managed"),
  "restricted.devices.disk.paths": any,
  "restricted.devices.nic": oneOf("block", "allow", "managed"),
  "restricted.devices.gpu": oneOf("block", "allow"), "restricted.devices.infiniband": oneOf("block", "allow"),
  "restricted.devices.pci": oneOf("block", "allow"), "restricted.devices.proxy": oneOf("block", "allow"),
  "restricted.devices.unix-block": oneOf("block", "allow"), "restricted.devices.unix-char": oneOf("block", "allow"),
  "restricted.devices.unix-hotplug": oneOf("block", "allow"), "restricted.devices.usb": oneOf("block", "allow"),
  "restricted.idmap.uid": any, "restricted.idmap.gid": any,
  "restricted.snapshots": oneOf("block", "allow"), "restricted.backups": oneOf("block", "allow"),
  "restricted.cluster.target": oneOf("block", "allow"), "restricted.cluster.groups": any,
  "restricted.networks.access": any, "restricted.networks.subnets": any, "restricted.networks.uplinks": any, "restricted.networks.zones": any,
  "images.auto_update_cached": bool, "images.auto_update_interval": uint, "images.compression_algorithm": any,
  "images.default_architecture": any, "images.remote_cache_expiry": uint, "backups.compression_algorithm": any,
};

/** LXD's own words for device types a restricted project forbids. */
const DEVICE_WORDS: Record<string, string> = {
  "unix-char": "Unix character devices", "unix-block": "Unix block devices", "unix-hotplug": "Unix hotplug devices",
  usb: "USB devices", gpu: "GPU devices", pci: "PCI devices", infiniband: "Infiniband devices", proxy: "Proxy devices",
};

/** Instance keys a restricted project forbids unless `restricted.containers.lowlevel=allow`. */
const LOWLEVEL = /^(raw\.(lxc|apparmor|seccomp)|boot\.host_shutdown_timeout|security\.syscalls\.(allow|deny|deny_compat|deny_default)|linux\.kernel_modules)$/;

/** Instance keys each project limit adds up. */
const AGGREGATE: Record<string, string> = { "limits.cpu": "limits.cpu", "limits.memory": "limits.memory", "limits.processes": "limits.processes" };

const dropEmpty = (config: StringMap): StringMap => Object.fromEntries(Object.entries(config).filter(([, v]) => v !== ""));

export function validateProjectName(name: string): string | undefined {
  if (!name) return "No name provided";
  if (name.includes("/")) return "Project names may not contain slashes";
  if (name.includes(" ")) return "Project names may not contain spaces";
  if (name.includes("_")) return "Project names may not contain underscores";
  if (name.includes("'") || name.includes('"')) return "Project names may not contain quotes";
  if (name === "*") return "Reserved project name";
  if (name === "." || name === "..") return `Invalid project name "${name}"`;
  if (name.length > 63) return "Project names must be at most 63 characters long";
  return undefined;
}

export class ProjectManager {
  /** Instance usage of a project, for limits: set by the daemon once the instance manager exists. */
  instancesOf: (project: string) => InstanceUse[] = () => [];

  constructor(private readonly db: Db, private readonly events: Events) {}

  list(): ProjectRow[] {
    return q.listProjects(this.db);
  }

  exists(name: string): boolean {
    return q.getProject(this.db, name) !== undefined;
  }

  get(name: string): ProjectRow {
    const row = q.getProject(this.db, name);
    if (!row) throw new ApiError(404, "Project not found");
    return row;
  }

  toApi(row: ProjectRow): Project {
    return { name: row.name, description: row.description, config: row.config, used_by: this.usedBy(row.name) };
  }

  private usedBy(project: string): string[] {
    const c = q.projectContents(this.db, project);
    return [
      ...c.images.map((fp) => inProject(`/1.0/images/${fp}`, project)),
      ...c.instances.map((n) => inProject(`/1.0/instances/${n}`, project)),
      ...c.networks.map((n) => inProject(`/1.0/networks/${n}`, project)),
      ...c.profiles.map((n) => inProject(`/1.0/profiles/${n}`, project)),
      ...c.volumes.map((v) => inProject(`/1.0/storage-pools/${v.pool}/volumes/${v.type}/${v.name}`, project)),
    ];
  }

  create(req: { name: string; description?: string; config?: StringMap | null }): ProjectRow {
    const nameError = validateProjectName(req.name);
    if (nameError) throw new ApiError(400, nameError);
    if (q.getProject(this.db, req.name)) throw new ApiError(409, `Failed creating project "${req.name}": Failed adding database record: This "projects" entry already exists`);
    const config = { ...NEW_PROJECT_FEATURES, ...dropEmpty(req.config ?? {}) };
    this.checkConfig(config, req.name);
    const row = q.createProject(this.db, req.name, { description: req.description ?? "", config });
    // As LXD: a project with its own profiles starts with an empty `default` one.
    if (isTrue(config["features.profiles"])) this.ensureDefaultProfile(req.name);
    this.lifecycle("project-created", req.name);
    return row;
  }

  /** PUT (`merge` false) replaces description and config; PATCH merges config by key. */
  update(name: string, fields: { description?: string; config?: StringMap | null }, merge: boolean): void {
    const row = this.get(name);
    const description = fields.description ?? (merge ? row.description : "");
    const config = dropEmpty(merge ? { ...row.config, ...(fields.config ?? {}) } : (fields.config ?? {}));
    this.checkConfig(config, name);
    for (const key of FEATURES) {
      if (isTrue(config[key]) === isTrue(row.config[key])) continue;
      if (name === "default") throw new ApiError(400, `Project feature "${key}" cannot be changed on the default project`);
      if (!this.isEmpty(name)) {
        throw new ApiError(400, `Project feature "${key}" cannot be ${isTrue(config[key]) ? "enabled" : "disabled"} on non-empty projects`);
      }
    }
    this.checkLimitsAgainstUse(name, config);
    q.updateProject(this.db, name, { description, config });
    if (isTrue(config["features.profiles"])) this.ensureDefaultProfile(name);
    this.lifecycle("project-updated", name);
  }

  rename(name: string, to: string): void {
    if (name === "default") throw new ApiError(403, "The 'default' project cannot be renamed");
    this.get(name);
    const nameError = validateProjectName(to);
    if (nameError) throw new ApiError(400, nameError);
    if (q.getProject(this.db, to)) throw new ApiError(409, `A project named "${to}" already exists`);
    if (!this.isEmpty(name)) throw new ApiError(400, "Only empty projects can be renamed");
    q.renameProject(this.db, name, to);
    this.lifecycle("project-renamed", to, { old_name: name });
  }

  delete(name: string): void {
    if (name === "default") throw new ApiError(403, "The 'default' project cannot be deleted");
    this.get(name);
    if (!this.isEmpty(name)) throw new ApiError(400, "Only empty projects can be removed");
    q.deleteProject(this.db, name);
    this.lifecycle("project-deleted", name);
  }

  /** Empty as LXD counts it: nothing but its `default` profile. */
  private isEmpty(name: string): boolean {
    const c = q.projectContents(this.db, name);
    return !c.instances.length && !c.images.length && !c.volumes.length && !c.networks.length && !c.profiles.some((p) => p !== "default");
  }

  private ensureDefaultProfile(project: string): void {
    this.db.insert(profiles).values({ name: "default", project, description: `Default LXD profile for project ${project}` }).onConflictDoNothing().run();
  }

  private checkConfig(config: StringMap, project: string): void {
    for (const [key, value] of Object.entries(config)) {
      const check = KEYS[key] ?? (key.startsWith("user.") ? any : undefined);
      if (!check) throw new ApiError(400, `Invalid project configuration key "${key}"`);
      const err = check(value);
      if (err) throw new ApiError(400, `Invalid project configuration key "${key}" value: ${err}`);
      if (project !== "default" && FEATURES.includes(key) && !OWN_FEATURES.has(key) && isTrue(value)) {
        throw new ApiError(400, `Project feature "${key}" is not supported by this daemon: projects other than default share default's ${key.slice("features.".length)}`);
      }
    }
  }

  // ---- which project's objects a project uses -------------------------------------------

  /** The project whose `feature` objects (profiles, images, custom volumes, networks) `project` uses:
   *  its own when the feature is on, default's otherwise. */
  effective(project: string, feature: Feature): string {
    if (project === "default") return project;
    const row = q.getProject(this.db, project);
    return row && isTrue(row.config[`features.${feature}`]) ? project : "default";
  }

  // ---- limits and restrictions ------------------------------------------------------------

  /** `GET /1.0/projects/{name}/state`: each limit (-1: none) against what the instances use. */
  state(name: string): ProjectState {
    const row = this.get(name);
    const uses = this.instancesOf(name);
    const limit = (key: string, parse: (v: string) => number = Number) => (row.config[key] ? parse(row.config[key]) : -1);
    const total = (key: string, parse: (v: string) => number) => uses.reduce((sum, u) => sum + (u.config[key] ? parse(u.config[key]) : 0), 0);
    const bytes = (v: string) => parseSize(v) ?? 0;
    return {
      resources: {
        containers: { Limit: limit("limits.containers"), Usage: uses.filter((u) => u.type === "container").length },
        cpu: { Limit: limit("limits.cpu"), Usage: total("limits.cpu", Number) },
        disk: { Limit: limit("limits.disk", bytes), Usage: uses.reduce((s, u) => s + bytes(rootDisk(u.devices)?.[1].size ?? "0"), 0) + this.volumesDisk(name) },
        instances: { Limit: limit("limits.instances"), Usage: uses.length },
        memory: { Limit: limit("limits.memory", bytes), Usage: total("limits.memory", bytes) },
        networks: { Limit: limit("limits.networks"), Usage: q.projectContents(this.db, name).networks.length },
        processes: { Limit: limit("limits.processes"), Usage: total("limits.processes", Number) },
        "virtual-machines": { Limit: limit("limits.virtual-machines"), Usage: uses.filter((u) => u.type === "virtual-machine").length },
      },
    };
  }

  /**
   * Refuses an instance create (`change` absent from `uses`) or update that breaks the project's
   * restrictions or limits. `uses`: the project's instances as they would be after the change.
   */
  checkInstance(project: string, change: InstanceUse, creating: boolean): void {
    const row = this.get(project);
    const limited = Object.keys(row.config).some((k) => k.startsWith("limits."));
    // A project without limits or restrictions (the default project, usually) has nothing to
    // check: reading all its instances would put a scan of every instance on each launch.
    if (!limited && !isTrue(row.config.restricted)) return;
    const others = limited ? this.instancesOf(project).filter((u) => u.name !== change.name) : [];
    const context = creating ? "Failed checking if instance creation allowed" : "Failed checking if instance update allowed";
    if (creating) {
      const max = row.config["limits.instances"];
      if (max && others.length + 1 > Number(max)) throw new ApiError(400, `Reached maximum number of instances in project "${project}"`);
      const maxContainers = row.config["limits.containers"];
      if (maxContainers && others.filter((u) => u.type === "container").length + 1 > Number(maxContainers)) {
        throw new ApiError(400, `Reached maximum number of instances of type "container" in project "${project}"`);
      }
    }
    try {
      if (isTrue(row.config.restricted)) checkRestrictions(project, row.config, change);
      if (limited) checkAggregates(project, row.config, [...others, change], this.volumesDisk(project));
    } catch (err) {
      throw new ApiError(400, `${context}: ${(err as Error).message}`);
    }
  }

  /** Checks every instance of a project against its restrictions and aggregate limits (after a
   *  change they share, such as a profile's); throws the first problem as LXD words it. */
  checkProject(project: string): void {
    const row = q.getProject(this.db, project);
    if (!row) return;
    const uses = this.instancesOf(project);
    if (isTrue(row.config.restricted)) for (const u of uses) checkRestrictions(project, row.config, u);
    checkAggregates(project, row.config, uses, this.volumesDisk(project));
  }

  /** Refuses a new network in a project at its `limits.networks` (LXD's message). */
  checkNetworkCreate(project: string): void {
    const max = this.get(project).config["limits.networks"];
    if (max && q.projectContents(this.db, project).networks.length + 1 > Number(max)) {
      throw new ApiError(400, `Failed checking if network creation allowed: Networks limit of project "${project}" reached`);
    }
  }

  /** The sizes of the custom volumes `project` owns (none `size`-less counts), but `except` ("pool/storage name"). */
  private volumesDisk(project: string, except?: string): number {
    let sum = 0;
    for (const [k, v] of q.projectVolumeSizes(this.db, project)) if (k !== except) sum += parseSize(v) ?? 0;
    return sum;
  }

  /** Refuses a custom volume of `project` (created, or its size changed) that takes it over `limits.disk`:
   *  instances' root disks and the project's volumes add up, as in LXD. */
  checkVolumeDisk(project: string, pool: string, stored: string, size: string | undefined): void {
    const row = this.get(project);
    const limit = row.config["limits.disk"];
    if (!limit) return;
    const creating = !q.projectVolumeSizes(this.db, project).has(`${pool}/${stored}`);
    try {
      const sum = aggregate(project, "limits.disk", this.instancesOf(project)) + this.volumesDisk(project, `${pool}/${stored}`) + (size ? parseSize(size) ?? 0 : 0);
      if (sum > (parseSize(limit) ?? Infinity)) throw new Error(`Reached maximum aggregate value "${limit}" for "limits.disk" in project "${project}"`);
    } catch (err) {
      throw new ApiError(400, `Failed checking if volume ${creating ? "creation" : "update"} allowed: ${(err as Error).message}`);
    }
  }

  /** Refuses a snapshot or backup in a restricted project that blocks them. */
  checkAllowed(project: string, what: "snapshot" | "backup"): void {
    const row = this.get(project);
    if (!isTrue(row.config.restricted)) return;
    if ((row.config[`restricted.${what}s`] ?? "block") !== "allow") throw new ApiError(403, `Project "${project}" doesn't allow for ${what} creation`);
  }

  /** Refuses `?target=` (placing an instance on a chosen cluster member) where the project forbids it. */
  checkTarget(project: string): void {
    const row = this.get(project);
    if (isTrue(row.config.restricted) && (row.config["restricted.cluster.target"] ?? "block") !== "allow") {
      throw new ApiError(403, "This project doesn't allow cluster member targeting");
    }
  }

  /** A new limit must hold for what the project already has (LXD checks when it is set). */
  private checkLimitsAgainstUse(project: string, config: StringMap): void {
    const uses = this.instancesOf(project);
    const max = config["limits.instances"];
    if (max && uses.length > Number(max)) throw new ApiError(400, `"limits.instances" is too low: there currently are ${uses.length} total instances in project "${project}"`);
    const maxContainers = config["limits.containers"];
    const containers = uses.filter((u) => u.type === "container").length;
    if (maxContainers && containers > Number(maxContainers)) {
      throw new ApiError(400, `"limits.containers" is too low: there currently are ${containers} total containers in project "${project}"`);
    }
    for (const key of [...Object.keys(AGGREGATE), "limits.disk"]) {
      if (!config[key]) continue;
      const totalOf = aggregate(project, key, uses) + (key === "limits.disk" ? this.volumesDisk(project) : 0);
      const limitValue = key === "limits.cpu" || key === "limits.processes" ? Number(config[key]) : parseSize(config[key]) ?? Infinity;
      if (totalOf > limitValue) throw new ApiError(400, `"${key}" is too low: current total is "${formatTotal(key, totalOf)}"`);
    }
  }

  private lifecycle(action: string, name: string, context: Record<string, unknown> = {}): void {
    this.events.send("lifecycle", { action, source: projectUrl(name), context }, name);
  }
}

/** The sum of `key` over the instances (limits.disk: the root disks' `size`), refusing an instance
 *  that has none: a limited project needs every instance to say what it takes (LXD's rule). */
function aggregate(project: string, key: string, uses: InstanceUse[]): number {
  let sum = 0;
  for (const u of uses) {
    if (key === "limits.disk") {
      const rootSize = rootDisk(u.devices)?.[1].size;
      if (!rootSize) throw new Error(`Instance "${u.name}" in project "${project}" has no "size" config set on the root device either directly or via a profile`);
      sum += parseSize(rootSize) ?? 0;
      continue;
    }
    const value = u.config[key];
    if (!value) throw new Error(`Instance "${u.name}" in project "${project}" has no "${key}" config, either directly or via a profile`);
    sum += key === "limits.memory" ? parseSize(value) ?? 0 : Number(value);
  }
  return sum;
}

/** `volumesDisk`: what the project's custom volumes add to limits.disk. */
function checkAggregates(project: string, config: StringMap, uses: InstanceUse[], volumesDisk: number): void {
  for (const key of [...Object.keys(AGGREGATE), "limits.disk"]) {
    if (!config[key]) continue;
    let sum: number;
    try {
      sum = aggregate(project, key, uses) + (key === "limits.disk" ? volumesDisk : 0);
    } catch (err) {
      throw new Error(`Failed getting usage of project entities: ${(err as Error).message}`);
    }
    const limit = key === "limits.cpu" || key === "limits.processes" ? Number(config[key]) : parseSize(config[key]) ?? Infinity;
    if (sum > limit) throw new Error(`Reached maximum aggregate value "${config[key]}" for "${key}" in project "${project}"`);
  }
}

function formatTotal(key: string, n: number): string {
  return key === "limits.memory" || key === "limits.disk" ? bytesIEC(n, 1) : String(n);
}

/** LXD's checks of a restricted project on one instance's expanded config and devices. */
function checkRestrictions(project: string, config: StringMap, inst: InstanceUse): void {
  const where = `on container "${inst.name}" of project "${project}"`;
  const mode = (key: string, fallback: string) => config[key] ?? fallback;
  for (const [key, value] of Object.entries(inst.config)) {
    if (key === "security.nesting" && isTrue(value) && mode("restricted.containers.nesting", "block") !== "allow") {
      throw new Error(`Invalid value "${value}" for config "${key}" ${where}: Container nesting is forbidden`);
    }
    if (key === "security.privileged" && isTrue(value) && mode("restricted.containers.privileged", "unprivileged") !== "allow") {
      throw new Error(`Invalid value "${value}" for config "${key}" ${where}: Privileged containers are forbidden`);
    }
    if (key === "security.idmap.isolated" && !isTrue(value) && mode("restricted.containers.privileged", "unprivileged") === "isolated") {
      throw new Error(`Invalid value "${value}" for config "${key}" ${where}: Non-isolated containers are forbidden`);
    }
    if (LOWLEVEL.test(key) && mode("restricted.containers.lowlevel", "block") !== "allow") {
      throw new Error(`Use of low-level config "${key}" ${where} is forbidden`);
    }
    if (key === "raw.idmap" && value.trim()) checkIdmap(config, value, where);
  }
  for (const [name, d] of Object.entries(inst.devices)) {
    const bad = (why: string) => new Error(`Invalid device "${name}" ${where}: ${why}`);
    if (d.type === "disk") {
      if (d.path === "/" && d.pool) continue;
      const disk = mode("restricted.devices.disk", "managed");
      if (disk === "block") throw bad("Disk devices are forbidden");
      if (disk === "managed" && !d.pool) throw bad("Attaching disks not backed by a pool is forbidden");
      const paths = config["restricted.devices.disk.paths"];
      if (disk === "allow" && !d.pool && paths && !paths.split(",").some((p) => d.source === p.trim() || d.source?.startsWith(`${p.trim().replace(/\/$/, "")}/`))) {
        throw bad(`Disk source path "${d.source}" not allowed`);
      }
    } else if (d.type === "nic") {
      const nic = mode("restricted.devices.nic", "managed");
      if (nic === "block") throw bad("Network devices are forbidden");
      if (nic === "managed" && !d.network) throw bad("Only managed network devices are allowed");
    } else if (DEVICE_WORDS[d.type ?? ""] && mode(`restricted.devices.${d.type}`, "block") !== "allow") {
      throw bad(`${DEVICE_WORDS[d.type ?? ""]} are forbidden`);
    }
  }
}

/** raw.idmap entries ("uid|gid|both HOST NS") must fall in restricted.idmap.uid/gid. */
function checkIdmap(config: StringMap, value: string, where: string): void {
  const allowed = (kind: "uid" | "gid", id: string) =>
    (config[`restricted.idmap.${kind}`] ?? "").split(",").some((range) => {
      const [from, to = from] = range.trim().split("-").map(Number);
      const [a, b = a] = id.split("-").map(Number);
      return range.trim() !== "" && a >= from && b <= to;
    });
  value.split("\n").filter((l) => l.trim()).forEach((line, i) => {
    const [kind, host] = line.trim().split(/\s+/);
    const ok = kind === "both" ? allowed("uid", host) && allowed("gid", host) : (kind === "uid" || kind === "gid") && allowed(kind, host);
    if (!ok) throw new Error(`Use of low-level "raw.idmap" element ${i} ${where} is forbidden`);
  });
}
