// The instance lifecycle: create from an image, start through a per-container monitor, stop,
// delete, update, exec. In-memory runtime state is rebuilt from the monitors at daemon start.
import { eq } from "drizzle-orm";
import { closeSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { totalmem } from "node:os";
import type { Instance, InstanceFull, InstancePut, InstanceState, InstancesPost } from "../api/instance.ts";
import * as db from "../db/instances.ts";
import { profiles as profilesTable, storagePools } from "../db/schema.ts";
import { type SnapshotRow, snapshotsByInstance } from "../db/snapshots.ts";
import { getVolume, listVolumes, listVolumeSnapshots } from "../db/storage-volumes.ts";
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
import { hostLimitWarner } from "./host-limits.ts";
import { phases } from "./phases.ts";
import type { InstanceSample } from "./metrics.ts";
import { Snapshots } from "./snapshots.ts";
import { runningState, stoppedState, STATUS, type Status } from "./state.ts";

type Row = db.InstanceRow;
type Profile = typeof profilesTable.$inferSelect;

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

export interface StopOptions { force?: boolean; timeout?: number }

/** What an exec request decides; the manager adds the container's init pid and seccomp filter. */
export type ExecOptions = Omit<KernelExecOptions, "pidfd" | "seccomp">;

const now = () => new Date().toISOString();
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
  ) {
    this.snapshots = new Snapshots(database, this, events);
    this.backups = new Backups(database, this, events);
    this.files = new InstanceFiles(this, events);
    this.console = new InstanceConsole(this);
  }

  // ---- lookups -------------------------------------------------------------------------

  /** The cluster member this daemon is ("none" standalone): it manages only the instances located here. */
  location: () => string = () => "none";

  list(): Row[] {
    const here = this.location();
    return db.listInstances(this.database).filter((r) => r.location === here);
  }

  get(name: string): Row {
    const row = db.getInstance(this.database, name);
    if (!row || row.location !== this.location()) throw new ApiError(404, `Instance "${name}" not found`);
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

  /** A pidfd of a running instance's init (undefined when stopped), for file transfer: use it at
   *  once (before any await), it is closed when the instance stops. */
  initPidfd(name: string): number | undefined {
    const fd = this.running.get(name)?.pidfd;
    return fd === undefined || fd < 0 ? undefined : fd;
  }

  /** `known`: every profile, read once by a listing instead of once per instance. */
  private profileRows(names: string[], known?: Map<string, Profile>) {
    return names.map((name) => {
      const p = known ? known.get(name) : this.database.select().from(profilesTable).where(eq(profilesTable.name, name)).get();
      if (!p) throw new ApiError(400, `Profile "${name}" not found`);
      return p;
    });
  }

  expanded(row: Pick<Row, "profiles" | "config" | "devices">, known?: Map<string, Profile>) {
    const profiles = this.profileRows(row.profiles, known);
    return {
      config: expandConfig(profiles.map((p) => p.config), row.config),
      devices: expandDevices(profiles.map((p) => p.devices), row.devices),
    };
  }

  private rootPool(devices: Record<string, Record<string, string>>): Pool {
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
      expanded_devices: devices, name: row.name, status, status_code: STATUS[status],
      last_used_at: row.lastUsedAt, location: row.location, type: row.type, project: "default",
    };
  }

  /** One instance with state and snapshots; the state leaves out disk usage, which walks the volume on `dir`. */
  toApiFull(row: Row): Promise<InstanceFull> {
    return this.full(row, this.allProfiles(), this.snapshots.list(row.name));
  }

  /** Every instance (recursion=1): profiles are read once for the whole list. */
  listApi(rows = this.list()): Instance[] {
    const known = this.allProfiles();
    return rows.map((row) => this.toApi(row, this.expanded(row, known)));
  }

  /** Instances with state and snapshots (recursion=2): one query for profiles and one for
   *  snapshots, whatever the count; states are read side by side. */
  listFull(rows = this.list()): Promise<InstanceFull[]> {
    const known = this.allProfiles();
    const snaps = snapshotsByInstance(this.database);
    return Promise.all(rows.map((row) => this.full(row, known, snaps.get(row.id) ?? [])));
  }

  private async full(row: Row, known: Map<string, Profile>, snaps: SnapshotRow[]): Promise<InstanceFull> {
    const snapshots = snaps.map((s) => this.snapshots.toApi(row.name, s));
    const state = await this.stateOf(row.name);
    const backups = this.backups.list(row.name).map((b) => this.backups.toApi(b));
    return { ...this.toApi(row, this.expanded(row, known)), state, snapshots: snapshots.length ? snapshots : null, backups: backups.length ? backups : null };
  }

  private allProfiles(): Map<string, Profile> {
    return new Map(this.database.select().from(profilesTable).all().map((p) => [p.name, p]));
  }

  /** The storage pool of the instance's root disk. */
  poolOf(row: Pick<Row, "profiles" | "config" | "devices">): Pool {
    return this.rootPool(this.expanded(row).devices);
  }

  /** The pool layer's view of the pool holding the instance's root volume. */
  backendOf(row: Pick<Row, "profiles" | "config" | "devices">): PoolBackend {
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
      name, project: "default", state, cpuUserNs: usage.cpuUserNs, cpuSystemNs: usage.cpuSystemNs, memoryTotal,
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
  prepareCreate(req: InstancesPost): { name: string; fingerprint: string } {
    const name = req.name || randomName();
    const nameError = validateInstanceName(name);
    if (nameError) throw new ApiError(400, `Invalid instance name "${name}": ${nameError}`);
    if (req.type && req.type !== "container") throw new ApiError(400, `Instance type "${req.type}" is not supported (containers only)`);
    if (req.source.type !== "image") throw new ApiError(400, `Source type "${req.source.type}" is not supported yet`);
    if (db.getInstance(this.database, name) || this.busy.has(name)) throw new ApiError(409, `Instance "${name}" already exists`);
    const config = req.config ?? {};
    this.check(config, req.devices ?? {}, req.profiles ?? ["default"]);
    const ref = req.source.fingerprint || req.source.alias;
    if (!ref) throw new ApiError(400, "Image source needs a fingerprint or an alias");
    const image = req.source.fingerprint ? this.images.get(ref) : this.images.resolveAlias(ref);
    if (!image) throw new ApiError(404, `Image "${ref}" not found`);
    this.busy.add(name);
    return { name, fingerprint: image.fingerprint };
  }

  /** Validates a copy request (`source: {type: "copy", source: "c1" | "c1/snap0"}`) and reserves the name. */
  prepareCopy(req: InstancesPost): { name: string; source: string; snapshot?: string } {
    const name = req.name || randomName();
    const nameError = validateInstanceName(name);
    if (nameError) throw new ApiError(400, `Invalid instance name "${name}": ${nameError}`);
    if (req.type && req.type !== "container") throw new ApiError(400, `Instance type "${req.type}" is not supported (containers only)`);
    const ref = req.source.source;
    if (!ref) throw new ApiError(400, "Copy source needs a source instance (\"c1\" or \"c1/snap0\")");
    const slash = ref.indexOf("/");
    const [source, snapshot] = slash < 0 ? [ref, undefined] : [ref.slice(0, slash), ref.slice(slash + 1)];
    const src = this.get(source);
    if (snapshot !== undefined) this.snapshots.get(source, snapshot);
    if (db.getInstance(this.database, name) || this.busy.has(name)) throw new ApiError(409, `Instance "${name}" already exists`);
    const from = snapshot === undefined ? src : this.snapshots.get(source, snapshot);
    const profiles = req.profiles ?? from.profiles;
    const devices = req.devices ?? from.devices;
    const config = Object.fromEntries(Object.entries(req.config ?? from.config).filter(([k]) => !k.startsWith("volatile.")));
    this.check(config, devices, profiles);
    const [fromPool, toPool] = [this.poolOf(src), this.poolOf({ profiles, devices, config })];
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
      const target = this.poolOf({ profiles, devices, config: {} });
      const [fromPool, into] = [this.pools.backend(pool), this.pools.backend(target)];
      const fingerprint = src.config["volatile.base_image"] ?? "";
      const userConfig = Object.fromEntries(Object.entries(req.config ?? from.config).filter(([k]) => !k.startsWith("volatile.")));
      const idmapKeys = this.initialIdmap(name, { profiles, devices, config: userConfig });
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
        const targetDevices = this.expanded({ profiles, devices, config: {} }).devices;
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
  prepareMigration(req: InstancesPost): string {
    const name = req.name ?? "";
    const nameError = validateInstanceName(name);
    if (nameError) throw new ApiError(400, `Invalid instance name "${name}": ${nameError}`);
    if (req.type && req.type !== "container") throw new ApiError(400, `Instance type "${req.type}" is not supported (containers only)`);
    if (db.getInstance(this.database, name) || this.busy.has(name)) throw new ApiError(409, `Instance "${name}" already exists`);
    const userConfig = Object.fromEntries(Object.entries(req.config ?? {}).filter(([k]) => !k.startsWith("volatile.")));
    this.check(userConfig, req.devices ?? {}, req.profiles ?? ["default"]);
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
      const pool = this.rootPool(this.expanded({ profiles, devices, config: {} }).devices);
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

  /** volatile.idmap.* of a new instance, as LXD records them at creation; every start plans
   *  again (keeping an isolated range while it is free) and records the map in use. */
  private initialIdmap(name: string, row: Pick<Row, "profiles" | "config" | "devices">): Record<string, string> {
    try {
      const plan = planIdmap(this.expanded(row).config, this.list().filter((r) => r.name !== name).map((r) => r.config));
      return {
        "volatile.idmap.base": plan.volatile["volatile.idmap.base"], "volatile.idmap.next": plan.volatile["volatile.idmap.next"],
        "volatile.last_state.idmap": "[]",
      };
    } catch (err) {
      throw new ApiError(400, `Failed to create instance "${name}": ${(err as Error).message}`);
    }
  }

  private check(config: Record<string, string>, devices: Record<string, Record<string, string>>, profiles: string[]) {
    const configError = validateInstanceConfig(config);
    if (configError) throw new ApiError(400, `Invalid config: ${configError}`);
    const deviceError = validateDevices(devices);
    if (deviceError) throw new ApiError(400, `Invalid devices: ${deviceError}`);
    const expanded = expandDevices(this.profileRows(profiles).map((p) => p.devices), devices);
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
      if (!getVolume(this.database, d.pool, d.source ?? "")) {
        throw new ApiError(400, `Invalid devices: disk "${name}": storage volume "${d.source}" not found in pool "${d.pool}"`);
      }
    }
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
      const image = this.images.get(fingerprint)!;
      const profiles = req.profiles ?? ["default"];
      const devices = req.devices ?? {};
      const pool = this.rootPool(expandDevices(this.profileRows(profiles).map((p) => p.devices), devices));
      const imageConfig = Object.fromEntries(Object.entries(image.properties).map(([k, v]) => [`image.${k}`, v]));
      const config: Record<string, string> = {
        ...imageConfig,
        ...(req.config ?? {}),
        ...this.initialIdmap(name, { profiles, devices, config: req.config ?? {} }),
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
      const expandedDevices = expandDevices(this.profileRows(profiles).map((p) => p.devices), devices);
      if (rootDisk(expandedDevices)?.[1].size) {
        await this.applyRootSize(name, pool, expandedDevices)
          .catch(async (err) => { await this.pools.backend(pool).delete(instanceVolume(name)).catch(() => {}); throw err; });
      }
      t.mark("volume");
      this.images.markUsed(fingerprint);
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
  reserve(name: string): void {
    const nameError = validateInstanceName(name);
    if (nameError) throw new ApiError(400, `Invalid instance name "${name}": ${nameError}`);
    if (db.getInstance(this.database, name) || this.busy.has(name)) throw new ApiError(409, `Instance "${name}" already exists`);
    this.busy.add(name);
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
    this.check(config, devices, profiles);
    // The root disk goes to the chosen pool (as LXD's X-LXD-pool), or stays where it pointed;
    // the snapshots' too, which a restore brings back.
    if (spec.pool) devices = this.rootIn(spec.pool, devices, profiles);
    const snapDevices = (s: Record<string, any>) => {
      const d = (s.devices ?? {}) as Devices;
      return spec.pool ? this.rootIn(spec.pool, d, strings(s.profiles) ?? profiles) : d;
    };
    const pool = this.rootPool(this.expanded({ profiles, devices, config }).devices);
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
      ...this.initialIdmap(name, { profiles, devices, config }),
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
    const withRoot = (devices: Devices, profiles: string[]) => this.rootIn(u.pool, devices, profiles);
    const devices = withRoot((r.devices ?? {}) as Devices, profiles);
    if (db.getInstance(this.database, u.name)) throw new ApiError(409, `Instance "${u.name}" already exists`);
    const row = db.insertInstance(this.database, { location: this.location(),
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
  private rootIn(pool: string, devices: Devices, profiles: string[]): Devices {
    const root = rootDisk(this.expanded({ profiles, devices, config: {} }).devices);
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
    if (fp && !this.images.get(fp)) {
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
      return this.snapshots.restore(name, snap);
    }
    const row = this.get(name);
    const volatile = Object.fromEntries(Object.entries(row.config).filter(([k]) => k.startsWith("volatile.")));
    // PUT replaces (as LXD): a missing config or device map is an empty one; the daemon's
    // volatile keys stay. Profiles left out stay as they are.
    const userConfig = Object.fromEntries(Object.entries(put.config ?? {}).filter(([k]) => !k.startsWith("volatile.")));
    const config = { ...userConfig, ...volatile };
    const devices = withoutEmptyDeviceKeys(put.devices ?? {});
    const profiles = put.profiles ?? row.profiles;
    this.check(userConfig, devices, profiles);
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
  async profileChanged(profile: string): Promise<string[]> {
    const failed: string[] = [];
    for (const row of this.list().filter((r) => r.profiles.includes(profile))) {
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

  async rename(name: string, to: string): Promise<void> {
    const row = this.get(name);
    this.checkNotHeld(name);
    const err = validateInstanceName(to);
    if (err) throw new ApiError(400, `Invalid instance name "${to}": ${err}`);
    if (this.running.has(name)) throw new ApiError(400, "Renaming of running instance not allowed");
    if (db.getInstance(this.database, to)) throw new ApiError(409, `Instance "${to}" already exists`);
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
      idmap = planIdmap(config, this.list().filter((r) => r.name !== name).map((r) => r.config));
    } catch (err) {
      throw new ApiError(400, `Failed to start instance "${name}": ${(err as Error).message}`);
    }
    db.updateInstance(this.database, name, { config: { ...row.config, ...idmap.volatile } });
    crashPoint("start", "after-idmap");
    t.mark("plan");
    const procs = await this.cgroups.create(name, idmap.root);
    crashPoint("start", "after-cgroup");
    try {
      await this.cgroups.applyLimits(name, liveLimits(config));
      t.mark("cgroups");
      const rootfs = this.pools.backend(pool).rootfs(name, fingerprint);
      await this.applyImageTemplates(row, config, devices, pool, rootfs);
      crashPoint("start", "after-templates");
      t.mark("templates");
      await this.cgroups.setDevices(name, deviceRules(devices));
      const spec = launchSpec({
        name, rundir, config, idmap, cgroupProcs: procs, cgroup2: this.cgroups.unified, lxcfs: lxcfsDir(), rootfs,
        mounts: await launchMounts(name, devices),
      });
      t.mark("devices_cgroup");
      // Host-side device work overlaps the monitor's start; its failure stops the container below.
      const prepared = prepareDevices({ name, config }, devices).then(() => undefined, (err: Error) => err);
      const { initPid } = await launch(spec).finally(() => prepared);
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
      throw new ApiError(500, `Failed to start instance "${name}": ${(err as Error).message}`);
    }
    const { "volatile.apply_template": _applied, ...rest } = row.config;
    db.updateInstance(this.database, name, {
      lastUsedAt: now(),
      config: { ...rest, ...idmap.volatile, "volatile.last_state.power": "RUNNING" },
    });
    t.mark("db");
    log.debug("Started instance", { name, ...t.fields() });
    this.lifecycle("instance-started", name);
  }

  /** Renders the image's templates: the pending create/copy trigger once, then `start`. */
  private async applyImageTemplates(row: Row, config: Record<string, string>, devices: Devices, pool: Pool, rootfs: RootfsSpec): Promise<void> {
    const pending = row.config["volatile.apply_template"];
    const triggers: Trigger[] = pending === "create" || pending === "copy" ? [pending, "start"] : ["start"];
    const { image } = this.pools.backend(pool).layers(instanceVolume(row.name), row.config["volatile.base_image"] ?? "");
    await applyTemplates({
      rootfs, image, mountpoint: join(containerDir(row.name), "template-root"),
      instance: { name: row.name, architecture: row.architecture, ephemeral: row.ephemeral, privileged: false },
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

  /** Finds containers that kept running while the daemon was down and removes half-made volumes. */
  async reconcile(): Promise<void> {
    const t = phases();
    await this.removeOrphanRuntimeDirs();
    const rows = this.list();
    // Profiles and snapshots read once: a restart with a thousand containers must answer quickly.
    const known = this.allProfiles();
    const snaps = snapshotsByInstance(this.database);
    await Promise.all(rows.map(async (row) => {
      // A template render cut short leaves its overlay mounted.
      try { umount(join(containerDir(row.name), "template-root"), MNT.DETACH); } catch { /* not mounted */ }
      const mon = await watch(containerDir(row.name)).catch(() => ({ running: false as const }));
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
        else await this.cgroups.thaw(row.name).catch(() => {});
      } else {
        await this.clearStopped(row);
      }
    }));
    t.mark("monitors");
    const pools = this.pools.list();
    const instances = new Map(rows.map((r) => [r.name, new Set((snaps.get(r.id) ?? []).map((s) => s.name))]));
    const images = new Set([
      ...this.images.list().map((i) => i.fingerprint),
      ...rows.map((r) => r.config["volatile.base_image"]).filter(Boolean),
    ]);
    for (const pool of pools) {
      const custom = new Map(listVolumes(this.database, pool.name)
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
    log.debug("Reconciled instances", { instances: rows.length, running: this.running.size, ...t.fields() });
    this.snapshots.startTimer();
    this.superviseTimer ??= setInterval(() => void this.superviseAll(), SUPERVISE_MS);
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
    this.events.send("lifecycle", { action, source: `/1.0/instances/${name}`, context });
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

