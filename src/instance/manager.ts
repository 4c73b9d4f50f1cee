// The instance lifecycle: create from an image, start through a per-container monitor, stop,
// delete, update, exec. In-memory runtime state is rebuilt from the monitors at daemon start.
import { stateDir, statefulRefusal, statefulUnavailable } from "./stateful.ts";
import { criuDump, criuStatus, logError, restoreNetwork, restoreSpec } from "../kernel/criu.ts";
import { and, eq } from "drizzle-orm";
import { closeSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { totalmem } from "node:os";
import type { Instance, InstanceFull, InstancePut, InstanceState, InstancesPost } from "../api/instance.ts";
import * as db from "../db/instances.ts";
import { profiles as profilesTable, storagePools } from "../db/schema.ts";
import { instanceUrl, nameInProject, projectOfStored, storageName } from "../api/project-names.ts";
import { ProjectManager, type InstanceUse } from "../project/manager.ts";
import { type SnapshotRow, snapshotsByInstance } from "../db/snapshots.ts";
import { type BackupRow, backupsByInstance, backupsOf } from "../db/backups.ts";
import { getVolume, listVolumes, listVolumeSnapshots, volumeLocations } from "../db/storage-volumes.ts";
import { insertSnapshot, type NewSnapshotRow } from "../db/snapshots.ts";
import { hostArchitecture } from "../image/metadata.ts";
import type { Db } from "../db/index.ts";
import { ApiError } from "../api/error.ts";
import { KeyedLock } from "../lock.ts";
import { log } from "../log.ts";
import type { EventHub } from "../events/hub.ts";
import type { ImageStore } from "../image/store.ts";
import type { Cgroups } from "../kernel/cgroup.ts";
import { MNT, pidfdOpen, pidfdSignal, umount } from "../kernel/ffi.ts";
import { lxcfsDir } from "../kernel/lxcfs.ts";
import { loadKernelModules } from "../kernel/modules.ts";
import { crashPoint } from "../kernel/faults.ts";
import { haltSignal, launch, watch } from "../kernel/monitor.ts";
import { netnsId } from "../kernel/rtnetlink.ts";
import { startExec, type ExecOptions as KernelExecOptions, type ExecSession } from "../kernel/exec.ts";
import { backupsDir, containerDir, instanceBackupsDir, lxdDir } from "../paths.ts";
import { removeLeftovers } from "../image/backup-tarball.ts";
import { instanceVolume, type PoolBackend } from "../storage/backend.ts";
import { syncTree } from "../storage/tree.ts";
import { StoragePools } from "../storage/pools.ts";
import type { Pool, RootfsSpec } from "../storage/driver.ts";
import { applyTemplates, type Trigger } from "../image/templates.ts";
import { byteProgress, type ProgressSink } from "../image/progress.ts";
import { parseMemory, validateDevices, validateInstanceConfig, validateInstanceName, withoutEmptyDeviceKeys } from "./config.ts";
import { expandConfig, expandDevices, rootDisk } from "../config/expand.ts";
import { isTrue, parseSize } from "../config/values.ts";
import { forgetDevices, launchMounts, prepareDevices, resumeDevices, startDevices, stopDevices, superviseDevices, supervised } from "./devices.ts";
import { deviceRules } from "./unix-device.ts";
import { randomName } from "./names.ts";
import { environmentOf, type IdmapPlan, launchSpec, liveLimits, planIdmap, seccompFor } from "./runtime.ts";
import { checkArchitecture } from "../image/validate.ts";
import { Backups, type RestoreSpec } from "./backups.ts";
import { unknownInstances, type UnknownInstance } from "./recover.ts";
import { InstanceConsole } from "./console.ts";
import { InstanceFiles } from "./files.ts";
import type { FileTarget } from "../kernel/files.ts";
import { hostLimitWarner } from "./host-limits.ts";
import { cpuPhases, phases } from "./phases.ts";
import type { InstanceSample } from "./metrics.ts";
import { Snapshots } from "./snapshots.ts";
import { runningState, stoppedState, STATUS, type Status } from "./state.ts";

type Row = db.InstanceRow;
type Profile = typeof profilesTable.$inferSelect;
type PoolRow = typeof storagePools.$inferSelect;

/** What the runtime record starts from: init, a pidfd of it, the monitor's exec socket, the
 *  seccomp program init got (exec installs the same one) and the environment.* keys exec adds
 *  (kept current by update()): nothing is read from the database or built per exec. */
type Init = { initPid: number; pidfd: number; execSocket?: string; seccomp: Uint8Array; environment: Record<string, string> };

interface Runtime {
  initPid: number;
  /** The instance's environment.* keys, for exec. */
  environment: Record<string, string>;
  /** The seccomp program init runs under; exec'd commands get it too. */
  seccomp: Uint8Array;
  /** The monitor's socket for exec requests (unset: an older monitor; exec spawns a helper). */
  execSocket?: string;
  /** Refers to this init process only, whatever later reuses its pid (-1: none could be opened). */
  pidfd: number;
  frozen: boolean;
  exited: Promise<number>;
  /** Set while the daemon itself is stopping the container, so the exit is not treated as a crash or reboot. */
  stopping?: boolean;
  /** The expanded devices the container runs with (what to tear down when it exits). */
  devices: Devices;
  /** Settles once onExit has torn everything down after init's exit. */
  cleanedUp: Promise<void>;
  /** The host's netnsid for the container's network namespace (null: none could be assigned). */
  netnsid?: number | null;
}

type Devices = Record<string, Record<string, string>>;

export interface StopOptions {
  force?: boolean;
  timeout?: number;
  /** Checkpoint the container (CRIU) into its volume's state/; the next start restores it. */
  stateful?: boolean;
}

/** What an exec request decides; the manager adds the container's init pid and seccomp filter. */
export type ExecOptions = Omit<KernelExecOptions, "pidfd" | "seccomp">;

const now = () => new Date().toISOString();

/** Set on an instance while a live migration restores it here (see markIncoming). */
const INCOMING_KEY = "volatile.migration.incoming";
const DEFAULT_ENV: Record<string, string> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
};
/** Init was killed by SIGHUP: what the kernel sends a pid namespace's init when it calls reboot(2). */
const REBOOT_EXIT = 128 + 1;
const SIGPWR_RETRY_MS = 1000;
/** How often running containers' helper processes (proxy forwarders) are checked. */
const SUPERVISE_MS = 5000;

export class InstanceManager {
  private readonly running = new Map<string, Runtime>();
  /** Names being created or changed, so two requests never race on one instance. */
  private readonly busy = new Set<string>();
  /** Instances whose volume is being read while stopped (publishing): no start, rename or delete meanwhile. */
  private readonly held = new Set<string>();
  private readonly volumeLocks = new KeyedLock();
  /** Warns (once each) when a start passes a host-wide limit such as the ARP table size. */
  private readonly checkHostLimits = hostLimitWarner((msg, ctx) => log.warn(msg, ctx));
  readonly snapshots: Snapshots;
  readonly backups: Backups;
  readonly files: InstanceFiles;
  readonly console: InstanceConsole;

  constructor(
    private readonly database: Db,
    private readonly images: ImageStore,
    private readonly cgroups: Cgroups,
    private readonly events: EventHub,
    private readonly pools = new StoragePools(database, events),
    readonly projects = new ProjectManager(database, events),
  ) {
    projects.instancesOf = (project) => this.usesOf(project);
    this.snapshots = new Snapshots(database, this, events);
    this.backups = new Backups(database, this, events);
    this.files = new InstanceFiles(this, events);
    this.console = new InstanceConsole(this);
  }

  // ---- lookups -------------------------------------------------------------------------

  /** The cluster member this daemon is ("none" standalone): it manages only the instances located here. */
  location: () => string = () => "none";

  /** Every instance here, or those of one project. */
  list(project?: string): Row[] {
    const here = this.location();
    const rows = db.listInstances(this.database, here);
    return project === undefined ? rows : rows.filter((r) => r.project === project);
  }

  /** What project limits count of a project's instances (expanded config and devices). */
  private usesOf(project: string): InstanceUse[] {
    const known = this.allProfiles();
    return this.list(project).map((row) => ({ name: nameInProject(project, row.name), type: row.type, ...this.expanded(row, known) }));
  }

  /** Refuses what the instance's project does not allow (`creating`: one more instance). */
  private checkProject(stored: string, expanded: Pick<Row, "config" | "devices">, creating: boolean): void {
    const project = projectOfStored(stored);
    this.projects.checkInstance(project, { name: nameInProject(project, stored), type: "container", config: expanded.config, devices: expanded.devices }, creating);
  }

  /** Every other instance's config (the idmap planner's view of the ranges in use). */
  private othersConfigs(name: string): Record<string, string>[] {
    return this.list().filter((r) => r.name !== name).map((r) => r.config);
  }

  get(name: string): Row {
    const row = db.getInstance(this.database, name);
    if (!row || row.location !== this.location()) throw new ApiError(404, `Instance "${nameInProject(projectOfStored(name), name)}" not found`);
    return row;
  }

  status(name: string): Status {
    const rt = this.running.get(name);
    if (!rt) return "Stopped";
    return rt.frozen ? "Frozen" : "Running";
  }

  runningCount(): number {
    return this.running.size;
  }

  isRunning(name: string): boolean {
    return this.running.has(name);
  }

  /** A pidfd of a running instance's init (undefined when stopped): use it at once (before any
   *  await), it is closed when the instance stops. */
  private initPidfd(name: string): number | undefined {
    const fd = this.running.get(name)?.pidfd;
    return fd === undefined || fd < 0 ? undefined : fd;
  }

  /** For file transfer (see FilesHost): the running instance's init, or the stopped one's root
   *  filesystem mounted while no start can run. */
  withFileTarget<T>(name: string, fn: (target: FileTarget) => Promise<T>): Promise<T> {
    this.get(name);
    const pidfd = this.initPidfd(name);
    if (pidfd !== undefined) return fn({ pidfd });
    return this.withVolume(name, async () => {
      const started = this.initPidfd(name);
      if (started !== undefined) return fn({ pidfd: started });
      this.checkNotHeld(name);
      const row = this.get(name);
      return this.backendOf(row).mountRootfs(name, row.config["volatile.base_image"] ?? "", (root) => fn({ root }));
    });
  }

  /** `known`: every profile, read once by a listing instead of once per instance. */
  private profileRows(names: string[], known?: ReadonlyMap<string, Profile>, project = "default") {
    const from = this.projects.effective(project, "profiles");
    return names.map((name) => {
      const p = known ? known.get(`${from}/${name}`)
        : this.database.select().from(profilesTable).where(and(eq(profilesTable.project, from), eq(profilesTable.name, name))).get();
      if (!p) throw new ApiError(400, `Profile "${name}" not found`);
      return p;
    });
  }

  /** `row.project` (default: the project named by `row.name`, else default) picks whose profiles apply. */
  expanded(row: Pick<Row, "profiles" | "config" | "devices"> & { name?: string; project?: string }, known?: ReadonlyMap<string, Profile>) {
    const profiles = this.profileRows(row.profiles, known, row.project ?? (row.name ? projectOfStored(row.name) : "default"));
    return {
      config: expandConfig(profiles.map((p) => p.config), row.config),
      devices: expandDevices(profiles.map((p) => p.devices), row.devices),
    };
  }

  private rootPool(devices: Record<string, Record<string, string>>): PoolRow {
    const root = Object.values(devices).find((d) => d.type === "disk" && d.path === "/");
    if (!root?.pool) throw new ApiError(400, "No root device could be found (add a disk device with path=/ and a pool, e.g. with `lxd init --auto`)");
    const pool = this.database.select().from(storagePools).where(eq(storagePools.name, root.pool)).get();
    if (!pool) throw new ApiError(400, `Storage pool "${root.pool}" not found`);
    return pool;
  }

  toApi(row: Row, expanded = this.expanded(row)): Instance {
    const status = this.status(row.name);
    const { config, devices } = expanded;
    return {
      architecture: row.architecture, config: row.config, devices: row.devices,
      ephemeral: row.ephemeral, profiles: row.profiles, stateful: row.stateful,
      description: row.description, created_at: row.createdAt, expanded_config: config,
      expanded_devices: devices, name: nameInProject(row.project, row.name), status, status_code: STATUS[status],
      last_used_at: row.lastUsedAt, location: row.location, type: row.type, project: row.project,
    };
  }

  /** One instance with state and snapshots; the state leaves out disk usage, which walks the volume on `dir`. */
  toApiFull(row: Row): Promise<InstanceFull> {
    return this.full(row, this.allProfiles(), this.snapshots.list(row.name), backupsOf(this.database, row.id));
  }

  /** Every instance (recursion=1): profiles are read once for the whole list. */
  listApi(rows = this.list()): Instance[] {
    const known = this.allProfiles();
    return rows.map((row) => this.toApi(row, this.expanded(row, known)));
  }

  /** Instances with state, snapshots and backups (recursion=2): one query each for profiles,
   *  snapshots and backups, whatever the count; states are read side by side. */
  listFull(rows = this.list()): Promise<InstanceFull[]> {
    const known = this.allProfiles();
    const snaps = snapshotsByInstance(this.database);
    const backups = backupsByInstance(this.database);
    return Promise.all(rows.map((row) => this.full(row, known, snaps.get(row.id) ?? [], backups.get(row.id) ?? [])));
  }

  private async full(row: Row, known: Map<string, Profile>, snaps: SnapshotRow[], backupRows: BackupRow[]): Promise<InstanceFull> {
    const snapshots = snaps.map((s) => this.snapshots.toApi(row.name, s, row, known));
    const state = await this.stateOf(row.name);
    const backups = backupRows.map((b) => this.backups.toApi(b));
    return { ...this.toApi(row, this.expanded(row, known)), state, snapshots: snapshots.length ? snapshots : null, backups: backups.length ? backups : null };
  }

  private allProfiles(): Map<string, Profile> {
    return new Map(this.database.select().from(profilesTable).all().map((p) => [`${p.project}/${p.name}`, p]));
  }

  /** The storage pool of the instance's root disk (`expanded`: the row's, when already read). */
  poolOf(row: Pick<Row, "profiles" | "config" | "devices"> & { name?: string }, expanded = this.expanded(row)): PoolRow {
    return this.rootPool(expanded.devices);
  }

  /** The pool layer's view of a pool. */
  poolBackend(pool: Pool): PoolBackend {
    return this.pools.backend(pool);
  }

  /** The pool layer's view of the pool holding the instance's root volume. */
  backendOf(row: Pick<Row, "profiles" | "config" | "devices"> & { name?: string }): PoolBackend {
    return this.pools.backend(this.poolOf(row));
  }

  /** Runs `fn` with a running instance frozen (so its disk holds still), thawing it after. */
  async quiesced<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const rt = this.running.get(name);
    if (!rt || rt.frozen) return fn();
    await this.cgroups.freeze(name);
    try {
      return await fn();
    } finally {
      await this.cgroups.thaw(name);
    }
  }

  /** Replaces config, devices and profiles as they are (a snapshot restore); no validation. */
  replaceConfig(name: string, config: Record<string, string>, devices: Devices, profiles: string[]): void {
    db.updateInstance(this.database, name, { config, devices, profiles });
  }

  /** One instance's state (`GET …/state`, `lxd info`), with its root volume's disk usage. */
  async state(name: string): Promise<InstanceState> {
    const usage = await this.backendOf(this.get(name)).usage(instanceVolume(name)).catch(() => undefined);
    return this.stateOf(name, usage);
  }

  /** What /1.0/metrics reports of a running instance (undefined when it is not running). */
  async metricsSample(name: string): Promise<InstanceSample | undefined> {
    if (!this.running.has(name)) return undefined;
    const row = this.get(name);
    const [state, usage] = await Promise.all([this.state(name), this.cgroups.usage(name)]);
    const limit = this.expanded(row).config["limits.memory"];
    let memoryTotal = totalmem();
    try {
      if (limit) memoryTotal = Math.min(memoryTotal, parseMemory(limit, memoryTotal));
    } catch {
      // An unparsable limit was refused when set; the host's memory stands in.
    }
    const { space } = this.pools.resources(this.poolOf(row).name);
    return {
      name: nameInProject(row.project, name), project: row.project, state, cpuUserNs: usage.cpuUserNs, cpuSystemNs: usage.cpuSystemNs, memoryTotal,
      rootAvail: space.total - space.used,
    };
  }

  private stateOf(name: string, diskUsage?: number): Promise<InstanceState> {
    const rt = this.running.get(name);
    if (!rt) return Promise.resolve(stoppedState(diskUsage));
    return runningState(name, rt.initPid, this.status(name), this.cgroups, diskUsage, this.netnsid(rt));
  }

  /** Assigned once per run: states are then read by rtnetlink dumps instead of procfs and sysfs. */
  private netnsid(rt: Runtime): number | undefined {
    if (rt.netnsid === undefined) {
      try {
        rt.netnsid = netnsId(rt.initPid);
      } catch (err) {
        log.debug("No netnsid for a container, reading its state from procfs", { pid: rt.initPid, err: String(err) });
        rt.netnsid = null;
      }
    }
    return rt.netnsid ?? undefined;
  }

  // ---- create / delete -----------------------------------------------------------------

  /** Validates a create request and reserves the name; returns the checked inputs for `create`. */
  /** The storage name of new instance `short` in `project`, once its name and type are allowed. */
  private newName(short: string, type: string | undefined, project: string): string {
    const nameError = validateInstanceName(short);
    if (nameError) throw new ApiError(400, `Invalid instance name "${short}": ${nameError}`);
    if (type && type !== "container") throw new ApiError(400, `Instance type "${type}" is not supported (containers only)`);
    return storageName(project, short);
  }

  /** Refuses a storage name in use or reserved by a creation under way. */
  private checkFree(name: string, short: string): void {
    if (db.getInstance(this.database, name) || this.busy.has(name)) throw new ApiError(409, `Instance "${short}" already exists`);
  }

  prepareCreate(req: InstancesPost, project = "default"): { name: string; fingerprint: string } {
    const short = req.name || randomName();
    const name = this.newName(short, req.type, project);
    if (req.source.type !== "image") throw new ApiError(400, `Source type "${req.source.type}" is not supported yet`);
    this.checkFree(name, short);
    const config = req.config ?? {};
    this.check(name, config, req.devices ?? {}, req.profiles ?? ["default"], true);
    const ref = req.source.fingerprint || req.source.alias;
    if (!ref) throw new ApiError(400, "Image source needs a fingerprint or an alias");
    const images = this.images.in(this.projects.effective(project, "images"));
    const image = req.source.fingerprint ? images.get(ref) : images.resolveAlias(ref);
    if (!image) throw new ApiError(404, `Image "${ref}" not found`);
    this.busy.add(name);
    return { name, fingerprint: image.fingerprint };
  }

  /** Validates a copy request (`source: {type: "copy", source: "c1" | "c1/snap0"}`) and reserves the name. */
  prepareCopy(req: InstancesPost, project = "default"): { name: string; source: string; snapshot?: string } {
    const short = req.name || randomName();
    const name = this.newName(short, req.type, project);
    const ref = req.source.source;
    if (!ref) throw new ApiError(400, "Copy source needs a source instance (\"c1\" or \"c1/snap0\")");
    const slash = ref.indexOf("/");
    const [sourceName, snapshot] = slash < 0 ? [ref, undefined] : [ref.slice(0, slash), ref.slice(slash + 1)];
    const source = storageName(req.source.project || project, sourceName);
    const src = this.get(source);
    if (snapshot !== undefined) this.snapshots.get(source, snapshot);
    this.checkFree(name, short);
    const from = snapshot === undefined ? src : this.snapshots.get(source, snapshot);
    const profiles = req.profiles ?? from.profiles;
    const devices = req.devices ?? from.devices;
    const config = Object.fromEntries(Object.entries(req.config ?? from.config).filter(([k]) => !k.startsWith("volatile.")));
    this.check(name, config, devices, profiles, true);
    const [fromPool, toPool] = [this.poolOf(src), this.poolOf({ name, profiles, devices, config })];
    if (fromPool.driver !== toPool.driver) {
      throw new ApiError(400, `Copying from a ${fromPool.driver} pool to a ${toPool.driver} pool is not supported yet`);
    }
    this.busy.add(name);
    return { name, source, snapshot };
  }

  /** Creates `name` as a copy of an instance (with its snapshots unless `instance_only`) or of one
   *  snapshot. Volumes first, rows last: a crash in between leaves volumes reconcile removes. */
  async copy(req: InstancesPost, name: string, source: string, snapshot?: string): Promise<Row> {
    try {
      const src = this.get(source);
      const from = snapshot === undefined ? src : this.snapshots.get(source, snapshot);
      const pool = this.poolOf(src);
      const profiles = req.profiles ?? from.profiles;
      const devices = req.devices ?? from.devices;
      const target = this.poolOf({ name, profiles, devices, config: {} });
      const [fromPool, into] = [this.pools.backend(pool), this.pools.backend(target)];
      const fingerprint = src.config["volatile.base_image"] ?? "";
      const userConfig = Object.fromEntries(Object.entries(req.config ?? from.config).filter(([k]) => !k.startsWith("volatile.")));
      const idmapKeys = this.initialIdmap(name, this.expanded({ name, profiles, devices, config: userConfig }).config);
      const withSnapshots = snapshot === undefined && !req.source.instance_only;
      const snaps = withSnapshots ? this.snapshots.list(source) : [];
      try {
        // The copy's layer sits on the same image, which the target pool unpacks once.
        if (fingerprint && target.name !== pool.name) await into.ensureImage(fingerprint, (fp, dest) => this.images.unpackTo(fp, dest));
        await this.withVolume(source, () => {
          const copyRoot = () => fromPool.copy(instanceVolume(source, snapshot), instanceVolume(name), into, this.isRunning(source));
          return snapshot === undefined ? this.quiesced(source, copyRoot) : copyRoot();
        });
        for (const s of snaps) {
          await fromPool.copy(instanceVolume(source, s.name), instanceVolume(name, s.name), into);
        }
        const targetDevices = this.expanded({ name, profiles, devices, config: {} }).devices;
        if (rootDisk(targetDevices)?.[1].size) await this.applyRootSize(name, target, targetDevices);
      } catch (err) {
        await into.delete(instanceVolume(name)).catch(() => {});
        throw err;
      }
      crashPoint("copy", "after-volume");
      const config: Record<string, string> = {
        ...userConfig,
        ...idmapKeys,
        "volatile.base_image": fingerprint,
        "volatile.uuid": randomUUID(),
        "volatile.last_state.power": "STOPPED",
        "volatile.apply_template": "copy",
      };
      const row = db.insertInstance(this.database, { location: this.location(),
        name, architecture: src.architecture, type: "container", description: req.description ?? src.description,
        ephemeral: req.ephemeral ?? false, stateful: false, config, devices, profiles,
        createdAt: now(), lastUsedAt: "1970-01-01T00:00:00Z",
      });
      this.snapshots.adopt(name, snaps);
      this.lifecycle("instance-created", name);
      return row;
    } finally {
      this.busy.delete(name);
    }
  }

  /** Validates the create request of an instance arriving from another daemon (source type
   *  migration) and reserves the name. Volatile keys are kept as the source sent them. */
  prepareMigration(req: InstancesPost, project = "default"): string {
    const short = req.name ?? "";
    const name = this.newName(short, req.type, project);
    this.checkFree(name, short);
    const userConfig = Object.fromEntries(Object.entries(req.config ?? {}).filter(([k]) => !k.startsWith("volatile.")));
    this.check(name, userConfig, req.devices ?? {}, req.profiles ?? ["default"], true);
    this.busy.add(name);
    return name;
  }

  /** Gives up a name prepareMigration reserved when the transfer never got to createFromMigration. */
  releaseName(name: string): void {
    this.busy.delete(name);
  }

  /** Builds instance `name` from a migration: `receive` fills its volume (with the snapshots) in
   *  the root disk's pool, then the rows go in (a crash in between leaves a volume reconcile
   *  removes). The name must have been reserved by prepareMigration. */
  async createFromMigration(
    req: InstancesPost, name: string, snapshots: NewSnapshotRow[], receive: (pool: PoolBackend) => Promise<void>,
  ): Promise<Row> {
    try {
      const profiles = req.profiles ?? ["default"];
      const devices = req.devices ?? {};
      const pool = this.rootPool(this.expanded({ name, profiles, devices, config: {} }).devices);
      await receive(this.pools.backend(pool));
      const config: Record<string, string> = {
        "volatile.uuid": randomUUID(),
        ...(req.config ?? {}),
        "volatile.last_state.power": "STOPPED",
      };
      try {
        const row = db.insertInstance(this.database, { location: this.location(),
          name, architecture: req.architecture || hostArchitecture(), type: "container", description: req.description ?? "",
          ephemeral: req.ephemeral ?? false, stateful: false, config, devices, profiles,
          createdAt: now(), lastUsedAt: "1970-01-01T00:00:00Z",
        });
        // As LXD: a snapshot's own root disk names the pool the instance now lives in.
        for (const snap of snapshots) insertSnapshot(this.database, name, { ...snap, devices: onPool(snap.devices ?? {}, pool.name) });
        this.lifecycle("instance-created", name);
        return row;
      } catch (err) {
        if (db.getInstance(this.database, name)) db.deleteInstance(this.database, name);
        await this.pools.backend(pool).delete(instanceVolume(name)).catch(() => {});
        throw err;
      }
    } finally {
      this.busy.delete(name);
    }
  }

  /** A refresh (LXD's `copy --refresh`) of existing instance `name`: `receive` adds `snapshots`
   *  (those syncPlan left missing) to its volume and replaces its content, then their rows go in.
   *  Its config is kept, as LXD 5.0 does. */
  refreshFrom(name: string, snapshots: NewSnapshotRow[], receive: (pool: PoolBackend) => Promise<void>): Promise<void> {
    return this.withVolume(name, async () => {
      if (this.running.has(name)) throw new ApiError(400, `Cannot refresh the running instance "${name}": stop it first`);
      this.checkNotHeld(name);
      const row = this.get(name);
      const pool = this.poolOf(row);
      await receive(this.pools.backend(pool));
      for (const snap of snapshots) insertSnapshot(this.database, name, { ...snap, devices: onPool(snap.devices ?? {}, pool.name) });
      this.lifecycle("instance-updated", name);
      this.recordsChanged(name);
    });
  }

  /** LXD's instance_pool_move and instance_project_move (`lxc move c1 -s POOL`, `lxc move c1
   *  --target-project P`): the stopped instance, with its snapshots unless `instanceOnly`, copied
   *  under a temporary name with its root disk on `to.pool` and into `to.project`, then the
   *  original deleted and the copy renamed to `to.name` (a name in the target project). */
  async moveWithin(name: string, to: { name: string; pool?: string; project?: string }, instanceOnly: boolean): Promise<void> {
    const row = this.get(name);
    const project = to.project ?? row.project;
    if (to.project !== undefined && !this.projects.exists(project)) throw new ApiError(404, `Project "${project}" not found`);
    const target = storageName(project, to.name);
    const where = to.pool !== undefined ? "another storage pool" : "another project";
    if (this.running.has(name)) throw new ApiError(400, `Instance "${nameInProject(row.project, name)}" is running: stop it before moving it to ${where}`);
    if (target !== name && (db.getInstance(this.database, target) || this.busy.has(target))) throw new ApiError(409, `Instance "${to.name}" already exists`);
    const devices = { ...row.devices };
    if (to.pool !== undefined) {
      const rootName = rootDisk(this.expanded(row).devices)?.[0] ?? "root";
      devices[rootName] = { ...(devices[rootName] ?? { type: "disk", path: "/" }), pool: to.pool };
    }
    const tmp = `${to.name}-move-${Date.now().toString(36)}`;
    const req: InstancesPost = {
      name: tmp, profiles: row.profiles, devices, description: row.description, ephemeral: row.ephemeral,
      config: row.config, source: { type: "copy", source: nameInProject(row.project, name), project: row.project, instance_only: instanceOnly },
    };
    const copy = this.prepareCopy(req, project);
    await this.copy(req, copy.name, copy.source);
    await this.delete(name);
    await this.rename(copy.name, to.name);
    // A move keeps its identity (uuid, MAC addresses), as LXD's does.
    const kept = Object.entries(row.config).filter(([k]) => k.startsWith("volatile.") && k !== "volatile.last_state.power" && k !== "volatile.apply_template");
    db.updateInstance(this.database, target, { config: { ...this.get(target).config, ...Object.fromEntries(kept) } });
  }

  /** `copy --refresh` within this daemon: brings existing instance `name` up to date with
   *  `source` (its missing snapshots unless `instanceOnly`, and its content). */
  async refreshCopy(name: string, source: string, instanceOnly: boolean): Promise<void> {
    if (name === source) throw new ApiError(400, "An instance cannot be refreshed from itself");
    const src = this.get(source);
    this.get(name);
    if (this.running.has(name)) throw new ApiError(400, `Cannot refresh the running instance "${name}": stop it first`);
    const theirs = instanceOnly ? [] : this.snapshots.list(source);
    const missing = new Set(instanceOnly ? [] : await this.snapshots.syncPlan(name, theirs));
    const rows = theirs.filter((s) => missing.has(s.name)).map(({ id: _id, instanceId: _i, ...rest }) => rest);
    const from = this.backendOf(src);
    const fingerprint = src.config["volatile.base_image"] ?? "";
    await this.refreshFrom(name, rows, (pool) => pool.receive(instanceVolume(name), rows.map((s) => s.name), (dir, snapshot) => {
      const copy = (tree: string) => syncTree(tree, dir);
      if (snapshot !== undefined) return from.export(instanceVolume(source, snapshot), fingerprint, copy);
      return this.withVolume(source, () => this.quiesced(source, () => from.export(instanceVolume(source), fingerprint, copy)));
    }, true));
  }

  /** volatile.idmap.* of a new instance, as LXD records them at creation; every start plans
   *  again (keeping an isolated range while it is free) and records the map in use. */
  private initialIdmap(name: string, expandedConfig: Record<string, string>): Record<string, string> {
    try {
      const plan = planIdmap(expandedConfig, () => this.othersConfigs(name));
      return {
        "volatile.idmap.base": plan.volatile["volatile.idmap.base"], "volatile.idmap.next": plan.volatile["volatile.idmap.next"],
        "volatile.last_state.idmap": "[]",
      };
    } catch (err) {
      throw new ApiError(400, `Failed to create instance "${name}": ${(err as Error).message}`);
    }
  }

  /** Checks an instance's own config, devices and profiles, and what its project allows of them
   *  (`stored`: its storage name; `creating`: it is new, so it counts against the project's limits). */
  private check(stored: string, config: Record<string, string>, devices: Record<string, Record<string, string>>, profiles: string[], creating = false) {
    const configError = validateInstanceConfig(config);
    if (configError) throw new ApiError(400, `Invalid config: ${configError}`);
    const deviceError = validateDevices(devices);
    if (deviceError) throw new ApiError(400, `Invalid devices: ${deviceError}`);
    // The profiles are read once for every check below.
    const profileRows = this.profileRows(profiles, undefined, projectOfStored(stored));
    const expanded = expandDevices(profileRows.map((p) => p.devices), devices);
    this.rootPool(expanded);
    const paths = new Map<string, string>();
    for (const [name, d] of Object.entries(expanded)) {
      if (d.type !== "disk" || !d.path) continue;
      // As LXD: one mount point per path (a volume attached twice at one path is refused).
      const path = `/${d.path.split("/").filter(Boolean).join("/")}`;
      const other = paths.get(path);
      if (other) throw new ApiError(400, `Invalid devices: More than one disk device uses the same path "${path}" ("${other}" and "${name}")`);
      paths.set(path, name);
    }
    for (const [name, d] of Object.entries(expanded)) {
      if (d.type !== "disk" || d.path === "/" || !d.pool) continue;
      if (!getVolume(this.database, d.pool, d.source ?? "", this.location())) {
        // On a cluster, an instance uses only the volumes of its own member (LXD's local lookup).
        const elsewhere = volumeLocations(this.database, d.pool, d.source ?? "");
        if (elsewhere.length) {
          throw new ApiError(400, `Invalid devices: disk "${name}": Failed loading custom volume: Storage volume "${d.source}" not found on cluster member "${this.location()}" (it is on ${elsewhere.map((m) => `"${m}"`).join(", ")})`);
        }
        throw new ApiError(400, `Invalid devices: disk "${name}": storage volume "${d.source}" not found in pool "${d.pool}"`);
      }
    }
    this.checkProject(stored, { config: expandConfig(profileRows.map((p) => p.config), config), devices: expanded }, creating);
  }

  /** Applies the root disk's `size` to the instance volume (undefined: no limit). */
  private async applyRootSize(name: string, pool: Pool, devices: Devices): Promise<void> {
    const size = rootDisk(devices)?.[1].size;
    try {
      await this.pools.backend(pool).resize(instanceVolume(name), size ? parseSize(size) : undefined);
    } catch (err) {
      throw new ApiError(400, `Failed to set the root disk size of instance "${name}": ${(err as Error).message}`);
    }
  }

  /** `onProgress` gets the image unpack's progress (operation metadata, LXD's key) when this
   *  pool unpacks the image for the first time. */
  async create(req: InstancesPost, name: string, fingerprint: string, onProgress?: ProgressSink): Promise<Row> {
    try {
      const t = phases();
      const images = this.images.in(this.projects.effective(projectOfStored(name), "images"));
      const image = images.get(fingerprint)!;
      const profiles = req.profiles ?? ["default"];
      const devices = req.devices ?? {};
      const project = projectOfStored(name);
      // Read once for the pool and the idmap plan.
      const profileRows = this.profileRows(profiles, undefined, project);
      const pool = this.rootPool(expandDevices(profileRows.map((p) => p.devices), devices));
      const imageConfig = Object.fromEntries(Object.entries(image.properties).map(([k, v]) => [`image.${k}`, v]));
      const config: Record<string, string> = {
        ...imageConfig,
        ...(req.config ?? {}),
        ...this.initialIdmap(name, expandConfig(profileRows.map((p) => p.config), req.config ?? {})),
        "volatile.base_image": fingerprint,
        "volatile.uuid": randomUUID(),
        "volatile.last_state.power": "STOPPED",
        "volatile.apply_template": "create",
      };
      t.mark("plan");
      let report: ((done: number) => void) | undefined;
      const key = "create_instance_from_image_unpack_progress";
      await this.pools.backend(pool).createFromImage(name, fingerprint,
        (fp, dest) => this.images.unpackTo(fp, dest, onProgress && ((p) => (report ??= byteProgress(onProgress, key, "Unpack", p.total))(p.processed))));
      if (report) onProgress?.({ [key]: undefined });
      const expandedDevices = expandDevices(this.profileRows(profiles, undefined, project).map((p) => p.devices), devices);
      if (rootDisk(expandedDevices)?.[1].size) {
        await this.applyRootSize(name, pool, expandedDevices)
          .catch(async (err) => { await this.pools.backend(pool).delete(instanceVolume(name)).catch(() => {}); throw err; });
      }
      t.mark("volume");
      images.markUsed(fingerprint);
      const at = now();
      const row = db.insertInstance(this.database, { location: this.location(),
        name, architecture: image.architecture, type: "container", description: req.description ?? "",
        ephemeral: req.ephemeral ?? false, stateful: false, config, devices, profiles,
        createdAt: at, lastUsedAt: "1970-01-01T00:00:00Z",
      });
      t.mark("db");
      log.debug("Created instance", { name, ...t.fields() });
      this.lifecycle("instance-created", name);
      return row;
    } finally {
      this.busy.delete(name);
    }
  }

  /** Reserves a new instance's name (a backup restore), until `release`. */
  reserve(name: string, project = "default"): string {
    const nameError = validateInstanceName(name);
    if (nameError) throw new ApiError(400, `Invalid instance name "${name}": ${nameError}`);
    const stored = storageName(project, name);
    if (db.getInstance(this.database, stored) || this.busy.has(stored)) throw new ApiError(409, `Instance "${name}" already exists`);
    this.busy.add(stored);
    return stored;
  }

  release(name: string): void {
    this.busy.delete(name);
  }

  /** Creates a reserved instance from a backup's records (LXD's api.Instance and snapshot
   *  shapes): `fill` makes its volumes in the pool its root disk names, `pool` overriding that
   *  pool. Fresh idmap and identity; the volumes have no image below them (no base_image). */
  async createFromBackup(spec: RestoreSpec, fill: (pool: PoolBackend) => Promise<void>): Promise<Row> {
    const { name, record } = spec;
    const own = (config: unknown) => Object.fromEntries(Object.entries((config ?? {}) as Record<string, string>)
      .filter(([k, v]) => !k.startsWith("volatile.") && typeof v === "string"));
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined);
    const profiles = strings(record.profiles) ?? ["default"];
    let devices = { ...((record.devices ?? {}) as Devices) };
    const config = own(record.config);
    this.check(name, config, devices, profiles, true);
    // The root disk goes to the chosen pool (as LXD's X-LXD-pool), or stays where it pointed;
    // the snapshots' too, which a restore brings back.
    if (spec.pool) devices = this.rootIn(spec.pool, devices, profiles, name);
    const snapDevices = (s: Record<string, any>) => {
      const d = (s.devices ?? {}) as Devices;
      return spec.pool ? this.rootIn(spec.pool, d, strings(s.profiles) ?? profiles, name) : d;
    };
    const pool = this.rootPool(this.expanded({ name, profiles, devices, config }).devices);
    const architecture = String(record.architecture ?? "");
    try {
      checkArchitecture(architecture);
    } catch (err) {
      throw new ApiError(400, `Cannot import instance "${name}": ${(err as Error).message}`);
    }
    const backend = this.pools.backend(pool);
    try {
      await fill(backend);
    } catch (err) {
      await backend.delete(instanceVolume(name)).catch(() => {});
      throw err;
    }
    const volatile = {
      ...this.initialIdmap(name, this.expanded({ name, profiles, devices, config }).config),
      "volatile.uuid": (record.config as Record<string, string> | undefined)?.["volatile.uuid"] || randomUUID(),
      "volatile.last_state.power": "STOPPED",
    };
    const row = db.insertInstance(this.database, { location: this.location(),
      name, architecture, type: "container", description: String(record.description ?? ""),
      ephemeral: record.ephemeral === true, stateful: false, config: { ...config, ...volatile }, devices, profiles,
      createdAt: typeof record.created_at === "string" ? record.created_at : now(), lastUsedAt: "1970-01-01T00:00:00Z",
    });
    this.snapshots.adopt(name, spec.snapshots.map((s) => ({
      id: 0, instanceId: 0, name: s.name, description: String(s.record.description ?? ""), stateful: false,
      createdAt: typeof s.record.created_at === "string" ? s.record.created_at : now(),
      expiresAt: typeof s.record.expires_at === "string" && !s.record.expires_at.startsWith("0001-01-01") ? s.record.expires_at : "",
      config: own(s.record.config), devices: snapDevices(s.record), profiles: strings(s.record.profiles) ?? profiles,
    })));
    this.lifecycle("instance-created", name);
    return row;
  }

  /** Brings back an instance whose volume `lxd recover` found (its records from backup.yaml),
   *  config and identity as they were; its root disk points at the pool it was found in. */
  adoptRecovered(u: UnknownInstance): Row {
    const r = u.record;
    const strings = (v: unknown) => Object.fromEntries(Object.entries((v ?? {}) as Record<string, unknown>).filter(([, x]) => typeof x === "string")) as Record<string, string>;
    const profiles = Array.isArray(r.profiles) ? r.profiles.filter((p: unknown): p is string => typeof p === "string") : ["default"];
    // The profiles may have lost their root disk with the database: the instance (and each
    // snapshot, which a restore brings back) gets its own pointing at the pool it was found in.
    const withRoot = (devices: Devices, profiles: string[]) => this.rootIn(u.pool, devices, profiles, u.name);
    const devices = withRoot((r.devices ?? {}) as Devices, profiles);
    if (db.getInstance(this.database, u.name)) throw new ApiError(409, `Instance "${u.name}" already exists`);
    const row = db.insertInstance(this.database, { location: this.location(), project: u.project,
      name: u.name, architecture: String(r.architecture ?? ""), type: "container", description: String(r.description ?? ""),
      ephemeral: r.ephemeral === true, stateful: false, config: { ...strings(r.config), "volatile.last_state.power": "STOPPED" }, devices, profiles,
      createdAt: typeof r.created_at === "string" ? r.created_at : now(), lastUsedAt: typeof r.last_used_at === "string" ? r.last_used_at : now(),
    });
    this.snapshots.adopt(u.name, u.snapshotRecords.map((s) => ({
      id: 0, instanceId: 0, name: s.name, description: String(s.description ?? ""), stateful: false,
      createdAt: typeof s.created_at === "string" ? s.created_at : now(),
      expiresAt: typeof s.expires_at === "string" && !s.expires_at.startsWith("0001-01-01") ? s.expires_at : "",
      config: strings(s.config), devices: withRoot((s.devices ?? {}) as Devices, Array.isArray(s.profiles) ? s.profiles : profiles),
      profiles: Array.isArray(s.profiles) ? s.profiles : profiles,
    })));
    this.lifecycle("instance-created", u.name);
    return row;
  }

  /** `devices` with the root disk (its own, or the profiles') pointing at `pool`. */
  private rootIn(pool: string, devices: Devices, profiles: string[], name?: string): Devices {
    const root = rootDisk(this.expanded({ name, profiles, devices, config: {} }).devices);
    if (root?.[1].pool === pool) return devices;
    return { ...devices, [root?.[0] ?? "root"]: { ...(root?.[1] ?? { type: "disk", path: "/" }), pool } };
  }

  async delete(name: string, force = false): Promise<void> {
    const row = this.get(name);
    this.checkNotHeld(name);
    if (isTrue(this.expanded(row).config["security.protection.delete"])) throw new ApiError(400, "Instance is protected");
    if (this.running.has(name)) {
      if (!force) throw new ApiError(400, "The instance is currently running, stop it first");
      await this.stop(name, { force: true });
    }
    // The row goes first: a crash after it leaves only volumes, which reconcile removes (the
    // other order would leave a row without a volume).
    const backend = this.backendOf(row);
    // backup.yaml before the row: a volume whose row is gone must not look recoverable.
    await rm(backend.backupFile(name), { force: true });
    db.deleteInstance(this.database, name);
    crashPoint("delete", "after-row");
    await backend.delete(instanceVolume(row.name));
    crashPoint("delete", "after-volume");
    await rm(containerDir(name), { recursive: true, force: true });
    await rm(instanceBackupsDir(name), { recursive: true, force: true });
    await forgetDevices(name);
    // The last instance on a deleted image takes the image's unpacked layers with it.
    const fp = row.config["volatile.base_image"];
    if (fp && !this.images.known(fp)) {
      await this.onImageDeleted(fp).catch((err) => log.warn("Failed to drop an unused image layer", { fingerprint: fp, err: String(err) }));
    }
    this.lifecycle("instance-deleted", name);
  }

  // ---- update / rename -----------------------------------------------------------------

  /** PUT replaces the writable fields; PATCH callers merge first. Volatile keys are kept from the old config. */
  async update(name: string, put: InstancePut): Promise<void> {
    // lxc sends "c1/snap0"; the instance part must be this instance.
    if (put.restore) {
      const slash = put.restore.indexOf("/");
      const [owner, snap] = slash < 0 ? [name, put.restore] : [put.restore.slice(0, slash), put.restore.slice(slash + 1)];
      if (owner !== name) throw new ApiError(400, `Snapshot "${put.restore}" does not belong to instance "${name}"`);
      const refusal = put.stateful ? statefulUnavailable("A stateful restore") : undefined;
      if (refusal) throw new ApiError(400, refusal);
      return this.snapshots.restore(name, snap, put.stateful ?? false);
    }
    const row = this.get(name);
    const volatile = Object.fromEntries(Object.entries(row.config).filter(([k]) => k.startsWith("volatile.")));
    // PUT replaces (as LXD): a missing config or device map is an empty one; the daemon's
    // volatile keys stay. Profiles left out stay as they are.
    const userConfig = Object.fromEntries(Object.entries(put.config ?? {}).filter(([k]) => !k.startsWith("volatile.")));
    const config = { ...userConfig, ...volatile };
    const devices = withoutEmptyDeviceKeys(put.devices ?? {});
    const profiles = put.profiles ?? row.profiles;
    this.check(name, userConfig, devices, profiles);
    const next = { ...row, config, devices, profiles };
    const [before, after] = [this.expanded(row).devices, this.expanded(next).devices];
    if (rootDisk(before)?.[1].size !== rootDisk(after)?.[1].size) await this.applyRootSize(name, this.poolOf(next), after);
    await this.applyLive(next);
    db.updateInstance(this.database, name, {
      config, devices, profiles,
      description: put.description ?? "",
      ephemeral: put.ephemeral ?? row.ephemeral,
    });
    this.lifecycle("instance-updated", name);
  }

  /** On a running instance, limits, devices and exec's environment apply at once; other keys take
   *  effect at the next start (as in LXD). */
  private async applyLive(row: Row): Promise<void> {
    const rt = this.running.get(row.name);
    if (!rt) return;
    const expanded = this.expanded(row);
    await this.cgroups.applyLimits(row.name, liveLimits(expanded.config));
    await this.hotplug(row.name, rt, expanded);
    // What exec adds to each command (environment.*), kept in memory so no exec reads the database.
    rt.environment = environmentOf(expanded.config);
  }

  /** A changed profile reaches the running instances that use it at once, as in LXD. Returns
   *  the instances it could not be applied to, with why. */
  async profileChanged(profile: string, project = "default"): Promise<string[]> {
    const failed: string[] = [];
    const home = this.projects.effective(project, "profiles");
    for (const row of this.list().filter((r) => r.profiles.includes(profile) && this.projects.effective(r.project, "profiles") === home)) {
      try {
        await this.applyLive(row);
      } catch (err) {
        failed.push(`${row.name}: ${(err as Error).message}`);
      }
    }
    return failed;
  }

  /** Removes devices that went away or changed, then adds the new ones, on a running container. */
  private async hotplug(name: string, rt: Runtime, expanded: { config: Record<string, string>; devices: Devices }) {
    const inst = { name, initPid: rt.initPid, pidfd: () => rt.pidfd, config: expanded.config };
    const same = (a?: Record<string, string>, b?: Record<string, string>) => JSON.stringify(a) === JSON.stringify(b);
    const removed = Object.entries(rt.devices).filter(([k, v]) => !same(v, expanded.devices[k]));
    const added = Object.entries(expanded.devices).filter(([k, v]) => !same(v, rt.devices[k]));
    await stopDevices(inst, Object.fromEntries(removed));
    // Nodes of added unix devices must be usable as soon as they appear.
    await this.cgroups.setDevices(name, deviceRules(expanded.devices));
    await startDevices(inst, Object.fromEntries(added));
    rt.devices = expanded.devices;
  }

  /** `to`: the new name within the instance's project. */
  async rename(name: string, newName: string): Promise<void> {
    const row = this.get(name);
    this.checkNotHeld(name);
    const err = validateInstanceName(newName);
    if (err) throw new ApiError(400, `Invalid instance name "${newName}": ${err}`);
    if (this.running.has(name)) throw new ApiError(400, "Renaming of running instance not allowed");
    const to = storageName(row.project, newName);
    if (db.getInstance(this.database, to)) throw new ApiError(409, `Instance "${newName}" already exists`);
    await this.backendOf(row).rename(instanceVolume(name), to, () => {
      crashPoint("rename", "after-volume");
      db.updateInstance(this.database, name, { name: to });
    });
    crashPoint("rename", "after-row");
    await rm(containerDir(name), { recursive: true, force: true });
    await rename(instanceBackupsDir(name), instanceBackupsDir(to)).catch(() => {});
    await forgetDevices(name);
    this.lifecycle("instance-renamed", to, { old_name: name });
  }

  // ---- power ---------------------------------------------------------------------------

  /** Runs `fn` with the instance kept stopped and in place (see `held`). */
  async whileHeld<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.checkNotHeld(name);
    this.held.add(name);
    try {
      return await fn();
    } finally {
      this.held.delete(name);
    }
  }

  private checkNotHeld(name: string): void {
    if (this.held.has(name)) throw new ApiError(409, `Instance "${name}" is being published; try again when that finishes`);
  }

  /** Runs `fn` while no start of the instance reads its volume: on dir, a snapshot or copy of a
   *  stopped instance swaps its writable layer, and a start meanwhile would mount a torn state
   *  (or a snapshot would take as stopped an instance that just started). */
  withVolume<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.volumeLocks.run(name, fn);
  }

  start(name: string): Promise<void> {
    return this.withVolume(name, () => this.startLocked(name));
  }

  private async startLocked(name: string): Promise<void> {
    if (this.running.has(name)) throw new ApiError(400, "The instance is already running");
    this.checkNotHeld(name);
    const t = phases();
    const overlap: Record<string, string> = {};
    this.checkHostLimits(this.running.size + 1);
    const row = this.get(name);
    const { config, devices } = this.expanded(row);
    const pool = this.rootPool(devices);
    const fingerprint = row.config["volatile.base_image"];
    const rundir = containerDir(name);
    const modules = (config["linux.kernel_modules"] ?? "").split(",").map((m) => m.trim()).filter(Boolean);
    await loadKernelModules(modules).catch((err) => { throw new ApiError(400, `Failed to start instance "${name}": ${(err as Error).message}`); });
    await mkdir(rundir, { recursive: true, mode: 0o700 });
    let idmap: IdmapPlan;
    try {
      // Recorded before any await: a container starting meanwhile sees this range as taken.
      idmap = planIdmap(config, () => this.othersConfigs(name));
    } catch (err) {
      throw new ApiError(400, `Failed to start instance "${name}": ${(err as Error).message}`);
    }
    // The planners of other starts read volatile.idmap.next: unless create or the last start
    // recorded this very map already, it is recorded before the first await.
    const recorded = ["volatile.idmap.base", "volatile.idmap.next"].every((k) => row.config[k] === idmap.volatile[k]);
    if (!recorded) db.updateInstance(this.database, name, { config: { ...row.config, ...idmap.volatile } });
    crashPoint("start", "after-idmap");
    t.mark("plan");
    const restoring = row.stateful ? stateDir(this.pools.backend(pool), name) : undefined;
    if (restoring && !criuStatus().available) throw new ApiError(400, statefulRefusal(`Starting "${name}" from its saved state`));
    const procs = await this.cgroups.create(name, idmap.root);
    crashPoint("start", "after-cgroup");
    try {
      await this.cgroups.applyLimits(name, liveLimits(config));
      t.mark("cgroups");
      const rootfs = this.pools.backend(pool).rootfs(name, fingerprint);
      // A stateful stop's checkpoint: restored (its files are as they were), not booted.
      if (!restoring) await this.applyImageTemplates(row, config, devices, pool, rootfs);
      crashPoint("start", "after-templates");
      t.mark("templates");
      await this.cgroups.setDevices(name, deviceRules(devices));
      const spec = launchSpec({
        name, hostname: nameInProject(row.project, name), rundir, config, idmap, cgroupProcs: procs, cgroup2: this.cgroups.unified, lxcfs: lxcfsDir(), rootfs,
        mounts: await launchMounts(name, devices),
      });
      if (restoring) {
        spec.restore = await restoreSpec(restoring);
        // Into this daemon's cgroups, wherever the checkpoint was taken (another daemon's tree).
        // Every v1 hierarchy is named; the root without a controller is cgroup2's.
        for (const [key, path] of this.cgroups.paths(name)) spec.restore.args.push("--cgroup-root", key === "" ? path : `${key}:${path}`);
      }
      t.mark("devices_cgroup");
      // Host-side device work overlaps the monitor's start; its failure stops the container below.
      // Each side's own duration goes to the log too: the monitor phase is the longer of the two.
      const since = performance.now();
      const took = (key: string) => () => void (overlap[key] = `${(performance.now() - since).toFixed(1)}ms`);
      const prepared = prepareDevices({ name, config }, devices).finally(took("prepare")).then(() => undefined, (err: Error) => err);
      const { initPid, trace } = await launch(spec).finally(took("helper")).finally(() => prepared);
      Object.assign(overlap, trace);
      t.mark("monitor");
      // Opened at once: the monitor holds init unreaped until it reports the exit, so the pid is
      // still init's here (a container that died already yields -1, and its exit is reported).
      const init: Init = { initPid, pidfd: openPidfd(initPid), seccomp: spec.seccomp ?? seccompFor(config), environment: environmentOf(config) };
      const mon = await watch(rundir);
      t.mark("watch");
      if (!mon.running) {
        if (init.pidfd >= 0) closeSync(init.pidfd);
        throw new Error("the container stopped right after it started");
      }
      init.execSocket = mon.execSocket;
      crashPoint("start", "after-launch", initPid);
      try {
        const failed = await prepared;
        if (failed) throw failed;
        await startDevices({ name, initPid, pidfd: () => init.pidfd, config, booting: true }, devices);
        // CRIU restored an empty network namespace; the nics are new: their addresses and routes come back.
        if (restoring) await restoreNetwork(initPid, restoring);
        t.mark("devices");
      } catch (err) {
        signalInit(init, 9);
        await mon.exited;
        if (init.pidfd >= 0) closeSync(init.pidfd);
        throw err;
      }
      this.track(name, init, mon.exited, devices);
      crashPoint("start", "after-devices", initPid);
    } catch (err) {
      await this.cgroups.remove(name).catch(() => {});
      if (!restoring) throw new ApiError(500, `Failed to start instance "${name}": ${(err as Error).message}`);
      // A checkpoint that cannot be restored would fail every start: it goes, the next start boots.
      const why = await logError(join(restoring, "restore.log"), (err as Error).message);
      // CRIU's log stays beside the monitor's for `lxd info --show-log`-style inspection.
      await rename(join(restoring, "restore.log"), join(rundir, "criu-restore.log")).catch(() => {});
      await this.dropState(name, restoring);
      throw new ApiError(500, `Failed to start instance "${name}" from its saved state (discarded; start it again to boot it): ${why}`);
    }
    if (restoring) await this.dropState(name, restoring);
    const { "volatile.apply_template": _applied, ...rest } = row.config;
    db.updateInstance(this.database, name, {
      lastUsedAt: now(),
      config: { ...rest, ...idmap.volatile, "volatile.last_state.power": "RUNNING" },
    });
    t.mark("db");
    log.debug("Started instance", { name, ...t.fields(), ...overlap });
    this.lifecycle("instance-started", name);
  }

  private async dropState(name: string, dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
    db.updateInstance(this.database, name, { stateful: false });
  }

  /** Renders the image's templates: the pending create/copy trigger once, then `start`. */
  private async applyImageTemplates(row: Row, config: Record<string, string>, devices: Devices, pool: Pool, rootfs: RootfsSpec): Promise<void> {
    const pending = row.config["volatile.apply_template"];
    const triggers: Trigger[] = pending === "create" || pending === "copy" ? [pending, "start"] : ["start"];
    const { image } = this.pools.backend(pool).layers(instanceVolume(row.name), row.config["volatile.base_image"] ?? "");
    await applyTemplates({
      rootfs, image, mountpoint: join(containerDir(row.name), "template-root"),
      instance: { name: nameInProject(row.project, row.name), architecture: row.architecture, ephemeral: row.ephemeral, privileged: false },
      config, devices,
    }, triggers);
  }

  /** `init` becomes the runtime record, so device contexts made from it see its pidfd closed. */
  private track(name: string, init: Init, exited: Promise<number>, devices: Devices) {
    const rt = Object.assign(init, { frozen: false, exited, devices }) as Runtime;
    rt.cleanedUp = exited.then((code) => this.onExit(name, rt, code));
    this.running.set(name, rt);
  }

  private async onExit(name: string, rt: Runtime, code: number) {
    const closePidfd = () => {
      if (rt.pidfd >= 0) closeSync(rt.pidfd);
      rt.pidfd = -1;
    };
    if (this.running.get(name) !== rt) return closePidfd();
    // The config names host-side parts (veths derive from volatile.uuid).
    const current = db.getInstance(this.database, name);
    await stopDevices({ name, initPid: rt.initPid, pidfd: () => -1, config: current ? this.expanded(current).config : {}, exited: true }, rt.devices);
    closePidfd();
    crashPoint("stop", "after-devices");
    // A monitor that died (killed) takes init with it, but what init left may linger: no process
    // of a stopped container may survive it.
    await this.cgroups.killAll(name).catch(() => {});
    await this.cgroups.remove(name).catch(() => {});
    crashPoint("stop", "after-cgroup");
    // Only now: stop()/restart() wait for this, so a start right after cannot lose its new cgroup.
    this.running.delete(name);
    const row = db.getInstance(this.database, name);
    if (!row) return;
    db.updateInstance(this.database, name, { config: { ...row.config, "volatile.last_state.power": "STOPPED" } });
    if (row.ephemeral && !rt.stopping) {
      await this.delete(name).catch(() => {});
      return;
    }
    if (code === REBOOT_EXIT && !rt.stopping) {
      this.lifecycle("instance-restarted", name);
      await this.start(name).catch(() => {});
      return;
    }
    this.lifecycle(rt.stopping ? "instance-stopped" : "instance-shutdown", name);
  }

  async stop(name: string, opts: StopOptions = {}): Promise<void> {
    const rt = this.running.get(name);
    if (!rt) throw new ApiError(400, "The instance is already stopped");
    if (opts.stateful) return this.stopStateful(name, rt);
    rt.stopping = true;
    if (rt.frozen) await this.cgroups.thaw(name);
    if (!opts.force) {
      // An init that has not installed its handlers yet ignores SIGPWR (signals from outside a pid
      // namespace are dropped for its init otherwise), so keep asking until it goes.
      const sig = haltSignal(rt.initPid);
      const resend = setInterval(() => signalInit(rt, sig), SIGPWR_RETRY_MS);
      signalInit(rt, sig);
      crashPoint("stop", "after-signal", rt.initPid);
      const timeout = opts.timeout ?? -1;
      const exited = await Promise.race([
        rt.exited.then(() => true),
        ...(timeout >= 0 ? [Bun.sleep(timeout * 1000).then(() => false)] : []),
      ]).finally(() => clearInterval(resend));
      if (exited) return this.afterExit(name, rt);
    }
    // Killing a pid namespace's init takes the whole namespace down; the cgroup sweep catches
    // anything that escaped it (processes joined by exec from outside).
    signalInit(rt, 9);
    crashPoint("stop", "after-signal");
    await this.cgroups.killAll(name).catch(() => {});
    await this.afterExit(name, rt);
  }

  /** CRIU dumps the container and kills it; the next start restores it (see startLocked). A
   *  failed dump leaves it running as it was. */
  private async stopStateful(name: string, rt: Runtime): Promise<void> {
    if (!criuStatus().available) throw new ApiError(400, statefulRefusal("A stateful stop"));
    const dir = stateDir(this.backendOf(this.get(name)), name);
    rt.stopping = true;
    if (rt.frozen) await this.cgroups.thaw(name);
    try {
      await criuDump(rt.initPid, dir, false);
    } catch (err) {
      rt.stopping = false;
      await rm(dir, { recursive: true, force: true });
      throw new ApiError(500, `Stateful stop of "${name}" failed: ${(err as Error).message}`);
    }
    await this.afterExit(name, rt);
    db.updateInstance(this.database, name, { stateful: true });
  }

  /** A stateful snapshot's dump: the container runs on (a failed dump leaves it as it was). */
  async checkpoint(name: string, dir: string): Promise<void> {
    const rt = this.running.get(name);
    if (!rt) throw new ApiError(400, "Unable to create a stateful snapshot. The instance isn't running");
    try {
      await criuDump(rt.initPid, dir, true);
    } catch (err) {
      throw new ApiError(500, `Stateful snapshot of "${name}" failed: ${(err as Error).message}`);
    }
  }

  markStateful(name: string): void {
    db.updateInstance(this.database, name, { stateful: true });
  }

  /** Marks an instance a live migration is restoring here (`incoming`), or done with that: a
   *  daemon that restarts finds marked ones half made and removes them (the source resumed). */
  markIncoming(name: string, incoming: boolean): void {
    const row = this.get(name);
    const { [INCOMING_KEY]: _, ...config } = row.config;
    db.updateInstance(this.database, name, { config: incoming ? { ...config, [INCOMING_KEY]: "true" } : config });
  }

  /** Lets onExit (which owns the bookkeeping) finish before the caller's operation completes. */
  private async afterExit(name: string, rt: Runtime) {
    await rt.cleanedUp;
    const ephemeral = db.getInstance(this.database, name)?.ephemeral;
    if (ephemeral) await this.delete(name).catch(() => {});
  }

  async restart(name: string, opts: StopOptions = {}): Promise<void> {
    await this.stop(name, opts);
    await this.start(name);
  }

  async freeze(name: string): Promise<void> {
    const rt = this.running.get(name);
    if (!rt) throw new ApiError(400, "The instance isn't running");
    if (rt.frozen) throw new ApiError(400, "The instance is already frozen");
    await this.cgroups.freeze(name);
    rt.frozen = true;
    this.setPowerState(name, "FROZEN");
    this.lifecycle("instance-paused", name);
  }

  async unfreeze(name: string): Promise<void> {
    const rt = this.running.get(name);
    if (!rt?.frozen) throw new ApiError(400, "The instance isn't frozen");
    await this.cgroups.thaw(name);
    rt.frozen = false;
    this.setPowerState(name, "RUNNING");
    this.lifecycle("instance-resumed", name);
  }

  // ---- exec ----------------------------------------------------------------------------

  exec(name: string, opts: ExecOptions): ExecSession {
    const rt = this.running.get(name);
    if (!rt) throw new ApiError(400, "Instance is not running");
    if (rt.frozen) throw new ApiError(400, "Instance is frozen");
    const env: Record<string, string> = {
      ...DEFAULT_ENV, HOME: opts.uid ? "/" : "/root", ...(opts.uid ? {} : { USER: "root" }),
      ...(opts.pty ? { TERM: "xterm" } : {}), ...rt.environment, ...opts.env,
    };
    if (rt.pidfd < 0) throw new ApiError(400, "Instance is not running");
    return startExec({
      pidfd: rt.pidfd, monitor: rt.execSocket, command: opts.command, env, cwd: opts.cwd, uid: opts.uid, gid: opts.gid,
      pty: opts.pty, seccomp: rt.seccomp, trace: opts.trace,
    });
  }

  /** Called when an image is deleted: each pool drops its unpacked copy unless an instance builds on it. */
  async onImageDeleted(fingerprint: string): Promise<void> {
    const inUse = this.list().some((r) => r.config["volatile.base_image"] === fingerprint);
    for (const pool of this.pools.list()) await this.pools.backend(pool).deleteImage(fingerprint, inUse);
  }

  // ---- daemon start / stop -------------------------------------------------------------

  /**
   * Finds containers that kept running while the daemon was down and removes half-made volumes.
   * Monitors are asked while `networksUp` (bridges, firewall, DHCP) is still under way; devices
   * resume, and what died meanwhile is cleaned up, only once it is done.
   */
  async reconcile(networksUp: Promise<void> = Promise.resolve()): Promise<void> {
    const t = cpuPhases();
    await this.removeOrphanRuntimeDirs();
    t.mark("runtime_dirs");
    const rows = this.list();
    // Profiles and snapshots read once: a restart with a thousand containers must answer quickly.
    const known = this.allProfiles();
    const snaps = snapshotsByInstance(this.database);
    // Volumes are repaired meanwhile: monitors, networks and devices do not touch what it repairs
    // (half-made volumes, swaps and renames cut short), and nothing of it is on the way to serving.
    const storage = this.reconcileStorage(rows, snaps);
    const monitors = await Promise.all(rows.map((row) => {
      // A template render cut short leaves its overlay mounted.
      try { umount(join(containerDir(row.name), "template-root"), MNT.DETACH); } catch { /* not mounted */ }
      return watch(containerDir(row.name)).catch(() => ({ running: false as const }));
    }));
    t.mark("monitors");
    await networksUp;
    t.mark("networks_wait");
    await Promise.all(rows.map(async (row, i) => {
      const mon = monitors[i];
      const power = row.config["volatile.last_state.power"];
      if (mon.running && power !== "RUNNING" && power !== "FROZEN") {
        // A start the killed daemon never finished (its devices may be half made): undone.
        await this.undoStart(row, mon.initPid, mon.exited);
      } else if (mon.running) {
        const { config, devices } = this.expanded(row, known);
        const rt: Init = {
          initPid: mon.initPid, pidfd: openPidfd(mon.initPid), execSocket: mon.execSocket, seccomp: seccompFor(config),
          environment: environmentOf(config),
        };
        this.track(row.name, rt, mon.exited, devices);
        await resumeDevices({ name: row.name, initPid: rt.initPid, pidfd: () => rt.pidfd, config }, devices,
          (device, err) => log.warn("Failed to resume a device", { instance: row.name, device, err: err.message }));
        // Paused by a user: still frozen. Frozen for a snapshot or copy the killed daemon never
        // finished: thawed.
        if (row.config["volatile.last_state.power"] === "FROZEN") this.running.get(row.name)!.frozen = true;
        else await this.cgroups.thawIfFrozen(row.name).catch(() => {});
      } else {
        await this.clearStopped(row);
      }
    }));
    t.mark("devices");
    await storage;
    t.mark("storage_wait");
    // A live migration's arrival the killed daemon never finished restoring: its source resumed.
    for (const row of rows.filter((r) => r.config[INCOMING_KEY])) {
      await this.delete(row.name, true).catch((err) => log.warn("Removing an unfinished live migration failed", { instance: row.name, err: String(err) }));
    }
    log.debug("Reconciled instances", { instances: rows.length, running: this.running.size, ...t.fields() });
    this.snapshots.startTimer();
    this.superviseTimer ??= setInterval(() => void this.superviseAll(), SUPERVISE_MS);
  }

  /** Half-made volumes removed, swaps and renames cut short finished or undone, in every pool. */
  private async reconcileStorage(rows: Row[], snaps: Map<number, SnapshotRow[]>): Promise<void> {
    // Wall time only: it overlaps the rest of reconcile, whose CPU time is the same thread's.
    const t = phases();
    const pools = this.pools.list();
    const instances = new Map(rows.map((r) => [r.name, new Set((snaps.get(r.id) ?? []).map((s) => s.name))]));
    const images = new Set([
      ...this.images.allFingerprints(),
      ...rows.map((r) => r.config["volatile.base_image"]).filter(Boolean),
    ]);
    for (const pool of pools) {
      const custom = new Map(listVolumes(this.database, pool.name).filter((v) => v.location === this.location())
        .map((v) => [v.name, new Set(listVolumeSnapshots(this.database, v.id).map((s) => s.name))]));
      // Volumes the database lost but whose backup.yaml names them stay for `lxd recover`, with
      // their snapshots and image layer; only half-made ones (no backup.yaml yet) go.
      const lost = await unknownInstances(this.pools.backend(pool), new Set(rows.map((r) => r.name)))
        .catch((err) => { log.warn("Scanning for unknown instance volumes failed", { pool: pool.name, err: String(err) }); return []; });
      for (const u of lost) {
        log.warn("Instance volume unknown to the database kept for `lxd recover`", { pool: pool.name, instance: u.name });
        instances.set(u.name, new Set(u.snapshots));
        if (u.baseImage) images.add(u.baseImage);
      }
      await this.pools.backend(pool).reconcile({ instances, custom, images })
        .catch((err) => log.error("Storage reconcile failed", { pool: pool.name, err: String(err) }));
    }
    await removeLeftovers(backupsDir()).catch((err) => log.warn("Removing backup leftovers failed", { err: String(err) }));
    t.mark("storage");
    log.debug("Reconciled storage", t.fields());
  }

  /** boot.autostart: starts the stopped instances that ask for it, highest boot.autostart.priority
   *  first, waiting boot.autostart.delay seconds after each. Failures are logged. */
  async autostart(): Promise<void> {
    const wanted = this.list().map((row) => ({ row, config: this.expanded(row).config }))
      .filter(({ row, config }) => isTrue(config["boot.autostart"]) && !this.running.has(row.name))
      .sort((a, b) => Number(b.config["boot.autostart.priority"] ?? 0) - Number(a.config["boot.autostart.priority"] ?? 0));
    for (const { row, config } of wanted) {
      try {
        await this.start(row.name);
      } catch (err) {
        log.warn("Failed to autostart an instance", { instance: row.name, err: (err as Error).message });
        continue;
      }
      const delay = Number(config["boot.autostart.delay"] ?? 0);
      if (delay > 0) await Bun.sleep(delay * 1000);
    }
  }

  /** `lxd shutdown`: stops every running instance cleanly, highest boot.stop.priority first (equal
   *  priorities together), each given boot.host_shutdown_timeout seconds (else `timeout`). */
  async stopAll(timeout: number): Promise<void> {
    const groups = new Map<number, { name: string; timeout: number }[]>();
    for (const row of this.list().filter((r) => this.running.has(r.name))) {
      const config = this.expanded(row).config;
      const priority = Number(config["boot.stop.priority"] ?? 0);
      const own = config["boot.host_shutdown_timeout"];
      groups.set(priority, [...groups.get(priority) ?? [], { name: row.name, timeout: own ? Number(own) : timeout }]);
    }
    for (const priority of [...groups.keys()].sort((a, b) => b - a)) {
      const group = groups.get(priority)!;
      log.info("Stopping instances", { priority, instances: group.map((i) => `${i.name}:${i.timeout}`).join(",") });
      await Promise.all(group.map((i) => this.stop(i.name, { timeout: i.timeout }).catch(() => {})));
    }
  }

  /** Kills a container whose start was cut short and tears down whatever it had. */
  private async undoStart(row: Row, initPid: number, exited: Promise<number>): Promise<void> {
    log.warn("Undoing an instance start the daemon did not finish", { instance: row.name });
    const pidfd = openPidfd(initPid);
    if (pidfd >= 0) {
      try { pidfdSignal(pidfd, 9); } catch { /* already gone */ }
      closeSync(pidfd);
    }
    await this.cgroups.killAll(row.name).catch(() => {});
    await exited;
    await this.clearStopped(row);
  }

  /** A container that does not run: nothing of a run may stay (devices' host parts, cgroups), and
   *  its recorded power state says so. Harmless when all is already clean. */
  private async clearStopped(row: Row): Promise<void> {
    const { config, devices } = this.expanded(row);
    await stopDevices({ name: row.name, initPid: 0, pidfd: () => -1, config, exited: true }, devices);
    await this.cgroups.killAll(row.name).catch(() => {});
    await this.cgroups.remove(row.name).catch(() => {});
    if (row.config["volatile.last_state.power"] !== "STOPPED") {
      db.updateInstance(this.database, row.name, { config: { ...row.config, "volatile.last_state.power": "STOPPED" } });
    }
  }

  /** Runtime directories (containers/<name>) of instances that have no row any more (a delete or
   *  rename cut short), unless a monitor still answers there. */
  private async removeOrphanRuntimeDirs(): Promise<void> {
    const known = new Set(this.list().map((r) => r.name));
    const base = join(lxdDir(), "containers");
    for (const name of await readdir(base).catch(() => [] as string[])) {
      if (known.has(name)) continue;
      const dir = join(base, name);
      if ((await watch(dir).catch(() => ({ running: false }))).running) continue;
      try { umount(join(dir, "template-root"), MNT.DETACH); } catch { /* not mounted */ }
      await rm(dir, { recursive: true, force: true });
    }
  }

  private superviseTimer?: ReturnType<typeof setInterval>;
  private supervising = false;

  /** Brings back what a running container's devices need on the host and died meanwhile. */
  private async superviseAll(): Promise<void> {
    if (this.supervising) return;
    this.supervising = true;
    try {
      for (const [name, rt] of this.running) {
        if (rt.stopping || !supervised(rt.devices)) continue;
        const row = db.getInstance(this.database, name);
        if (!row) continue;
        await superviseDevices({ name, initPid: rt.initPid, pidfd: () => rt.pidfd, config: this.expanded(row).config }, rt.devices,
          (device, err) => log.warn("Failed to restart a device's helper", { instance: name, device, err: err.message }));
      }
    } finally {
      this.supervising = false;
    }
  }

  /** Stops the periodic work (daemon shutdown). */
  stopTimers(): void {
    clearInterval(this.superviseTimer);
  }

  private setPowerState(name: string, power: string) {
    const row = db.getInstance(this.database, name);
    if (row) db.updateInstance(this.database, name, { config: { ...row.config, "volatile.last_state.power": power } });
  }

  /** The volume's backup.yaml follows every change of the records (`lxd recover` reads it). */
  recordsChanged(name: string): void {
    void this.backups.saveFile(name);
  }

  private lifecycle(action: string, name: string, context: Record<string, unknown> = {}) {
    this.events.send("lifecycle", { action, source: instanceUrl(name), context }, projectOfStored(name));
    if (action !== "instance-deleted") this.recordsChanged(name);
  }
}

/** `devices` with a local root disk moved to `pool`. */
function onPool(devices: Devices, pool: string): Devices {
  const root = rootDisk(devices);
  return root?.[1].pool ? { ...devices, [root[0]]: { ...root[1], pool } } : devices;
}

/** Bun knows no name for SIGPWR, so signals go by number. */
function signal(pid: number, sig: number) {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone: the monitor reports the exit.
  }
}

/** Signals a tracked init through its pidfd, so a recycled pid can never receive it. */
function signalInit(rt: { initPid: number; pidfd: number }, sig: number) {
  if (rt.pidfd < 0) return signal(rt.initPid, sig);
  try {
    pidfdSignal(rt.pidfd, sig);
  } catch {
    // Already gone: the monitor reports the exit.
  }
}

/** A pidfd for a container's init, or -1 when it is already gone (its exit is then on its way). */
function openPidfd(pid: number): number {
  try {
    return pidfdOpen(pid);
  } catch {
    return -1;
  }
}

