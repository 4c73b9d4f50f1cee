// Instance snapshots: take, list, rename, expire, delete and restore, plus the daemon's minute timer
// for `snapshots.schedule` and `snapshots.expiry`. The row keeps the instance's config as it was;
// the storage driver keeps its writable layer as it was.
import { statefulUnavailable } from "./stateful.ts";
import { cp, rename, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { isTrue } from "../config/values.ts";
import { NO_EXPIRY, type InstanceSnapshot, type InstanceSnapshotPut } from "../api/snapshot.ts";
import * as db from "../db/snapshots.ts";
import type { Db } from "../db/index.ts";
import type { EventHub } from "../events/hub.ts";
import { ApiError } from "../api/error.ts";
import { KeyedLock } from "../lock.ts";
import { log } from "../log.ts";
import { instanceVolume, type PoolBackend } from "../storage/backend.ts";
import type { InstanceRow } from "../db/instances.ts";
import { crashPoint } from "../kernel/faults.ts";
import { compareSnapshots, expiresAt, expiryDate, nextSnapshotName, scheduleMatches, validateSnapshotName } from "../config/schedule.ts";
import { instanceUrl, projectOfStored } from "../api/project-names.ts";

export type SnapshotRow = db.SnapshotRow;

type InstanceShape = Pick<InstanceRow, "profiles" | "config" | "devices"> & { name?: string; project?: string };
type KnownProfile = { name: string; config: Record<string, string>; devices: Record<string, Record<string, string>> };

/** What snapshots need from the instances they belong to (the instance manager provides it). */
export interface SnapshotHost {
  get(name: string): InstanceRow;
  /** Refuses a snapshot or backup the instance's project does not allow. */
  projects: { checkAllowed(project: string, what: "snapshot" | "backup"): void };
  list(): InstanceRow[];
  /** `known`: every profile by "project/name", when a listing read them all at once. */
  expanded(row: InstanceShape, known?: ReadonlyMap<string, KnownProfile>): { config: Record<string, string>; devices: Record<string, Record<string, string>> };
  /** The pool holding the instance's root volume. */
  backendOf(row: InstanceShape): PoolBackend;
  isRunning(name: string): boolean;
  /** Runs `fn` while no start, rename or other volume change of the instance runs. */
  withVolume<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` with a running instance frozen. */
  quiesced<T>(name: string, fn: () => Promise<T>): Promise<T>;
  replaceConfig(name: string, config: Record<string, string>, devices: Record<string, Record<string, string>>, profiles: string[]): void;
  start(name: string): Promise<void>;
  stop(name: string, opts: { force?: boolean }): Promise<void>;
  /** Dumps the running instance's processes into `dir` with CRIU, leaving it running. */
  checkpoint(name: string, dir: string): Promise<void>;
  /** The instance's next start restores the checkpoint in its volume's state/. */
  markStateful(name: string): void;
  /** The instance's records changed (a snapshot taken, renamed, deleted or restored). */
  recordsChanged(name: string): void;
}

/** An API timestamp, or null/"" or the zero time, as what the row stores ("" = never). */
function normalizeExpiry(value: string | null | undefined): string {
  const at = expiresAt(value);
  if (at === undefined) throw new ApiError(400, `Invalid expires_at "${value}"`);
  return at;
}

export class Snapshots {
  /** One storage change per instance at a time (snapshot, restore, rename, delete). */
  private readonly locks = new KeyedLock();
  private timer?: ReturnType<typeof setInterval>;
  /** Other work on the same timer (expiry of backups). */
  private readonly minuteTasks: ((now: Date) => Promise<void>)[] = [];
  /** The minute (ms / 60000) each instance's schedule last fired. */
  private readonly firedAt = new Map<string, number>();

  constructor(
    private readonly database: Db,
    private readonly instances: SnapshotHost,
    private readonly events: EventHub,
  ) {}

  private serial<T>(instance: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(instance, fn);
  }

  list(instance: string): SnapshotRow[] {
    this.instances.get(instance);
    return db.listSnapshots(this.database, instance);
  }

  get(instance: string, name: string): SnapshotRow {
    this.instances.get(instance);
    const row = db.getSnapshot(this.database, instance, name);
    if (!row) throw new ApiError(404, `Snapshot "${instance}/${name}" not found`);
    return row;
  }

  /** `inst` and `known` (every profile): what a listing read once for all its snapshots. */
  toApi(instance: string, snap: SnapshotRow, inst = this.instances.get(instance), known?: ReadonlyMap<string, KnownProfile>): InstanceSnapshot {
    // A profile the snapshot names may be gone since: show its own settings then, never fail a listing.
    let expanded: { config: Record<string, string>; devices: Record<string, Record<string, string>> };
    try {
      expanded = this.instances.expanded({ ...snap, name: inst.name, project: inst.project }, known);
    } catch {
      expanded = { config: snap.config, devices: snap.devices };
    }
    const { config, devices } = expanded;
    return {
      name: snap.name, architecture: inst.architecture, config: snap.config, devices: snap.devices,
      expanded_config: config, expanded_devices: devices, profiles: snap.profiles, ephemeral: false,
      stateful: snap.stateful, description: snap.description, created_at: snap.createdAt,
      last_used_at: "1970-01-01T00:00:00Z", expires_at: snap.expiresAt || NO_EXPIRY, size: -1,
    };
  }

  /** Checks a snapshot request before its operation starts; returns the name it will get. */
  prepare(instance: string, name: string | undefined, stateful = false): string {
    const row = this.instances.get(instance);
    this.instances.projects.checkAllowed(row.project, "snapshot");
    if (stateful) {
      const refusal = statefulUnavailable("A stateful snapshot");
      if (refusal) throw new ApiError(400, refusal);
      if (!this.instances.isRunning(instance)) throw new ApiError(400, "Unable to create a stateful snapshot. The instance isn't running");
    }
    const taken = new Set(db.listSnapshots(this.database, instance).map((s) => s.name));
    const chosen = name || nextSnapshotName(this.instances.expanded(row).config["snapshots.pattern"] ?? "", taken);
    const err = validateSnapshotName(chosen);
    if (err) throw new ApiError(400, err);
    if (taken.has(chosen)) throw new ApiError(409, `Snapshot "${instance}/${chosen}" already exists`);
    return chosen;
  }

  /** `expiresAt` undefined or null (what `lxc snapshot` sends): from `snapshots.expiry`; "" or
   *  the zero time (`--no-expiry`): never. */
  create(instance: string, name: string, expiresAt?: string | null, stateful = false): Promise<SnapshotRow> {
    return this.serial(instance, async () => {
      const row = this.instances.get(instance);
      if (db.getSnapshot(this.database, instance, name)) throw new ApiError(409, `Snapshot "${instance}/${name}" already exists`);
      const { config } = this.instances.expanded(row);
      const createdAt = new Date();
      let expires = "";
      if (expiresAt === undefined || expiresAt === null) {
        expires = expiryDate(config["snapshots.expiry"] ?? "", createdAt)?.toISOString() ?? "";
      } else {
        expires = normalizeExpiry(expiresAt);
      }
      const pool = this.instances.backendOf(row);
      // A frozen container writes nothing while its layer is taken: the snapshot is consistent.
      // Stateful: CRIU dumps the processes into the instance volume's state/ first (the container
      // runs on), which the snapshot volume then keeps (btrfs takes it along; dir gets it moved).
      const state = pool.stateDir(instanceVolume(instance));
      await this.instances.withVolume(instance, async () => {
        const live = this.instances.isRunning(instance);
        if (stateful) await this.instances.checkpoint(instance, state);
        try {
          await this.instances.quiesced(instance, () => {
            crashPoint("snapshot", "frozen");
            return pool.copy(instanceVolume(instance), instanceVolume(instance, name), undefined, live);
          });
          const kept = pool.stateDir(instanceVolume(instance, name));
          if (stateful && !existsSync(kept)) await rename(state, kept);
        } finally {
          if (stateful) await rm(state, { recursive: true, force: true });
        }
      });
      crashPoint("snapshot", "after-volume");
      let snap: SnapshotRow;
      try {
        snap = db.insertSnapshot(this.database, instance, {
          name, description: "", stateful, createdAt: createdAt.toISOString(), expiresAt: expires,
          config: row.config, devices: row.devices, profiles: row.profiles,
        });
      } catch (err) {
        await pool.delete(instanceVolume(instance, name)).catch(() => {});
        throw err;
      }
      this.lifecycle("instance-snapshot-created", instance, name);
      return snap;
    });
  }

  /** Records snapshot rows copied from another instance (their volumes are already in place). */
  /** For a refresh from `source`'s snapshots (oldest first): deletes the instance's snapshots the
   *  source lacks or has with another creation date (to the second), as LXD compares them, and
   *  returns the names the instance lacks. */
  async syncPlan(instance: string, source: { name: string; createdAt?: string }[]): Promise<string[]> {
    const { stale, missing } = compareSnapshots(db.listSnapshots(this.database, instance), source);
    for (const name of stale) await this.delete(instance, name);
    return missing;
  }

  adopt(instance: string, rows: SnapshotRow[]): void {
    for (const r of rows) {
      const { id: _id, instanceId: _instanceId, ...rest } = r;
      db.insertSnapshot(this.database, instance, rest);
    }
  }

  delete(instance: string, name: string): Promise<void> {
    return this.serial(instance, async () => {
      const row = this.instances.get(instance);
      this.get(instance, name);
      // The row goes first: a crash in between leaves a volume that reconcile removes.
      db.deleteSnapshot(this.database, instance, name);
      await this.instances.backendOf(row).delete(instanceVolume(instance, name));
      this.lifecycle("instance-snapshot-deleted", instance, name);
    });
  }

  /** Checks a rename before its operation starts. */
  checkRename(instance: string, from: string, to: string): void {
    this.get(instance, from);
    const err = validateSnapshotName(to);
    if (err) throw new ApiError(400, err);
    if (db.getSnapshot(this.database, instance, to)) throw new ApiError(409, `Snapshot "${instance}/${to}" already exists`);
  }

  rename(instance: string, from: string, to: string): Promise<void> {
    return this.serial(instance, async () => {
      this.checkRename(instance, from, to);
      const pool = this.instances.backendOf(this.instances.get(instance));
      await pool.rename(instanceVolume(instance, from), to);
      try {
        db.updateSnapshot(this.database, instance, from, { name: to });
      } catch (err) {
        await pool.rename(instanceVolume(instance, to), from).catch(() => {});
        throw err;
      }
      this.lifecycle("instance-snapshot-renamed", instance, to, { old_name: from });
    });
  }

  update(instance: string, name: string, put: InstanceSnapshotPut): void {
    const snap = this.get(instance, name);
    db.updateSnapshot(this.database, instance, name, {
      expiresAt: put.expires_at === undefined ? snap.expiresAt : normalizeExpiry(put.expires_at),
      description: put.description ?? snap.description,
    });
    this.lifecycle("instance-snapshot-updated", instance, name);
  }

  /** Restores the instance's layer and configuration; a running instance is stopped and started
   *  again. `stateful`: its processes too, from the snapshot's checkpoint (it then runs). */
  restore(instance: string, name: string, stateful = false): Promise<void> {
    return this.serial(instance, async () => {
      const snap = this.get(instance, name);
      if (stateful && !snap.stateful) throw new ApiError(400, "Stateful snapshot restore requested but snapshot is stateless");
      const wasRunning = this.instances.isRunning(instance);
      if (wasRunning) await this.instances.stop(instance, { force: true });
      const row = this.instances.get(instance);
      const pool = this.instances.backendOf(row);
      await this.instances.withVolume(instance, async () => {
        await pool.restore(instanceVolume(instance, name));
        // A btrfs snapshot brings its state/ along; the instance keeps one only for a stateful restore.
        const state = pool.stateDir(instanceVolume(instance));
        await rm(state, { recursive: true, force: true });
        if (stateful) await cp(pool.stateDir(instanceVolume(instance, name)), state, { recursive: true, preserveTimestamps: true });
      });
      // The snapshot's settings come back; this instance's own identity and power state stay.
      const volatile = Object.fromEntries(Object.entries(row.config).filter(([k]) => k.startsWith("volatile.")));
      const config = Object.fromEntries(Object.entries(snap.config).filter(([k]) => !k.startsWith("volatile.")));
      this.instances.replaceConfig(instance, { ...config, ...volatile }, snap.devices, snap.profiles);
      this.events.send("lifecycle", {
        action: "instance-restored", source: instanceUrl(instance), context: { snapshot: name },
      }, projectOfStored(instance));
      this.instances.recordsChanged(instance);
      if (stateful) this.instances.markStateful(instance);
      if (wasRunning || stateful) await this.instances.start(instance);
    });
  }

  // ---- the minute timer ------------------------------------------------------------------

  /** Every minute: takes scheduled snapshots and deletes expired ones (and runs the tasks given to everyMinute). LXD_SNAPSHOT_TIMER_MS
   *  shortens the period (tests); a schedule still fires at most once per minute. */
  startTimer(): void {
    if (this.timer) return;
    const period = Number(process.env.LXD_SNAPSHOT_TIMER_MS) || 60_000;
    const tick = () => void this.tick(new Date()).catch((err) => log.error("Snapshot timer failed", { err: String(err) }));
    // Aligned to the start of each minute, so "0 * * * *" fires at hh:00.
    const first = setTimeout(() => {
      tick();
      this.timer = setInterval(tick, period);
      this.timer.unref?.();
    }, period === 60_000 ? 60_000 - (Date.now() % 60_000) + 50 : period);
    first.unref?.();
  }

  everyMinute(task: (now: Date) => Promise<void>): void {
    this.minuteTasks.push(task);
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One pass of the timer at `now` (exposed for tests). */
  async tick(now: Date): Promise<void> {
    for (const task of this.minuteTasks) await task(now).catch((err) => log.error("Timer task failed", { err: String(err) }));
    for (const s of db.expiringSnapshots(this.database)) {
      if (new Date(s.expiresAt).getTime() > now.getTime()) continue;
      await this.delete(s.instance, s.name).catch((err) =>
        log.error("Failed to delete expired snapshot", { instance: s.instance, snapshot: s.name, err: String(err) }));
    }
    for (const row of this.instances.list()) {
      const { config } = this.instances.expanded(row);
      const schedule = config["snapshots.schedule"] ?? "";
      if (!schedule) continue;
      let due = false;
      try {
        due = scheduleMatches(schedule, now);
      } catch (err) {
        log.error("Invalid snapshot schedule", { instance: row.name, err: String(err) });
      }
      const minute = Math.floor(now.getTime() / 60_000);
      if (!due || this.firedAt.get(row.name) === minute) continue;
      this.firedAt.set(row.name, minute);
      const stoppedToo = isTrue(config["snapshots.schedule.stopped"]);
      if (!this.instances.isRunning(row.name) && !stoppedToo) continue;
      try {
        await this.create(row.name, this.prepare(row.name, undefined));
      } catch (err) {
        log.error("Scheduled snapshot failed", { instance: row.name, err: String(err) });
      }
    }
  }

  private lifecycle(action: string, instance: string, name: string, context: Record<string, unknown> = {}) {
    this.events.send("lifecycle", { action, source: instanceUrl(instance, `/snapshots/${name}`), context }, projectOfStored(instance));
    this.instances.recordsChanged(instance);
  }
}
