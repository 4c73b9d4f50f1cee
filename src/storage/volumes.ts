// Custom storage volumes: create, copy, snapshot, restore, delete, with the rows in the database
// and the trees in the pool's driver. Volumes first, rows last on creation; rows first, volumes
// last on deletion: a crash in between leaves only volumes that reconcile removes.
import type { StorageVolume, StorageVolumeSnapshot } from "../api/storage.ts";
import { NO_EXPIRY } from "../api/snapshot.ts";
import type { Db } from "../db/index.ts";
import type { PoolRow } from "../db/storage-pools.ts";
import * as q from "../db/storage-volumes.ts";
import { nameInProject } from "../api/project-names.ts";
import { ApiError } from "../api/error.ts";
import { KeyedLock } from "../lock.ts";
import { compareSnapshots, expiresAt, expiryDate, nextSnapshotName, scheduleMatches, validateSnapshotName } from "../config/schedule.ts";
import { log } from "../log.ts";
import { cron, expiry, key, parseSize, size, type KeyInfo } from "../config/values.ts";
import { rename, rm } from "node:fs/promises";
import { volumeBackupsDir } from "../paths.ts";
import { OLD, syncTree, TMP } from "./tree.ts";
import { customVolume, type PoolBackend } from "./backend.ts";
import { StoragePools, volumeDefaults } from "./pools.ts";
import { crashPoint } from "../kernel/faults.ts";

export type VolumeRow = q.VolumeRow;
export type VolumeSnapshotRow = q.VolumeSnapshotRow;

type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

export const volumeUrl = (pool: string, name: string) => `/1.0/storage-pools/${pool}/volumes/custom/${name}`;

/** Why a volume name is unusable, or undefined. */
export function validateVolumeName(name: string): string | undefined {
  if (!name) return "No name provided";
  if (name.length > 255) return "Name is longer than 255 characters";
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) return `Invalid volume name "${name}": letters, digits, "_", "." and "-" only, starting with a letter or digit`;
  if (name.includes(TMP) || name.includes(OLD)) return `Invalid volume name "${name}": "${TMP}" and "${OLD}" are reserved`;
  return undefined;
}

/** Every custom volume key this daemon understands (besides user.*). */
export const VOLUME_KEYS: Readonly<Record<string, KeyInfo>> = {
  size: key(size, "Quota of the volume (btrfs: a qgroup limit; dir pools cannot limit a volume)"),
  "snapshots.expiry": key(expiry, "How long snapshots are kept (e.g. 1d 2w), unless a snapshot names its own expiry"),
  "snapshots.schedule": key(cron, "Cron schedule of automatic snapshots (or @daily etc.)"),
  "snapshots.pattern": key(() => undefined, "Name pattern of scheduled snapshots (e.g. snap%d)"),
};

function checkConfig(config: Record<string, string>): void {
  for (const [name, value] of Object.entries(config)) {
    if (name.startsWith("user.")) continue;
    const check = VOLUME_KEYS[name]?.validate;
    if (!check) throw new ApiError(400, `Invalid config: Unknown configuration key: ${name}`);
    const err = check(value);
    if (err) throw new ApiError(400, `Invalid config: ${err.charAt(0).toLowerCase()}${err.slice(1)}`);
  }
}

function checkExpiresAt(value: string | null): string {
  const at = expiresAt(value);
  if (at === undefined) throw new ApiError(400, `Invalid expires_at "${value}"`);
  return at;
}

/** The fields of a create request that describe the new volume. */
type NewVolume = { name: string; type?: string; content_type?: string; config?: Record<string, string> | null };

export class CustomVolumes {
  private readonly locks = new KeyedLock();
  /** "pool/name" of volumes being received from another server. */
  private readonly arriving = new Set<string>();
  /** "pool/name" -> the minute its schedule last fired (at most once a minute). */
  private readonly firedAt = new Map<string, number>();
  /** The project a volume's storage name (`<project>_<name>` outside default) belongs to: set by the
   *  daemon once projects are known (only default's volumes without it). */
  ownerOf: (stored: string) => string = () => "default";
  /** The member this daemon is ("none" standalone): its volumes are the ones it holds and serves;
   *  on a cluster each member has its own, under names that may repeat from member to member. */
  location: () => string = () => "none";

  constructor(
    private readonly db: Db,
    private readonly events: Events,
    /** Running instances with a disk device on the volume. */
    private readonly runningUsers: (pool: string, volume: string) => string[],
    private readonly pools = new StoragePools(db, events),
  ) {}

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, fn);
  }

  /** Applies `size` (a limit, or none) to the volume as the pool's driver can; refused if it cannot. */
  private async applySize(p: PoolRow, name: string, size: string | undefined): Promise<void> {
    try {
      await this.pools.backend(p).resize(customVolume(name), size ? parseSize(size) : undefined);
    } catch (err) {
      throw new ApiError(400, `Failed to set the size of volume "${this.apiName(name)}" in pool "${p.name}": ${(err as Error).message}`);
    }
  }

  pool(name: string): PoolRow {
    return this.pools.get(name);
  }

  /** A project's volumes in the pool (`project`: the one whose volumes the request's project uses). */
  list(pool: string, project?: string): VolumeRow[] {
    this.pool(pool);
    return q.listVolumes(this.db, pool, project);
  }

  /** A volume's name in its project, from its storage name. */
  apiName(stored: string): string {
    return nameInProject(this.ownerOf(stored), stored);
  }

  /** A volume's URL, or of something below it (`suffix`), from its storage name (`?project=` outside default). */
  url(pool: string, stored: string, suffix = ""): string {
    const project = this.ownerOf(stored);
    return `${volumeUrl(pool, this.apiName(stored))}${suffix}${project === "default" ? "" : `?project=${project}`}`;
  }

  /** Refuses a default volume name that reads as another project's storage name (`p1_x` while p1
   *  has its own volumes): both would live under one name in the pool. */
  checkOwner(stored: string, project: string): void {
    if (this.ownerOf(stored) !== project) throw new ApiError(400, `Invalid volume name "${stored}": "${stored.slice(0, stored.indexOf("_"))}_" starts the names of project "${this.ownerOf(stored)}"'s volumes`);
  }

  exists(pool: string, name: string): boolean {
    return q.getVolume(this.db, pool, name, this.location()) !== undefined;
  }

  get(pool: string, name: string): VolumeRow {
    this.pool(pool);
    const row = q.getVolume(this.db, pool, name, this.location());
    if (!row) throw new ApiError(404, `Storage volume "${this.apiName(name)}" not found in pool "${pool}"`);
    return row;
  }

  toApi(row: VolumeRow): StorageVolume {
    return {
      name: nameInProject(row.project, row.name), description: row.description, type: "custom", config: row.config, content_type: "filesystem",
      used_by: q.volumeUsedBy(this.db, row.pool, row.name, row.location), location: row.location, project: row.project, created_at: row.createdAt,
    };
  }

  /** The host path a disk device mounts for `pool`/`volume`. */
  path(pool: string, volume: string): string {
    const p = this.pool(pool);
    this.get(pool, volume);
    return this.pools.backend(p).path(customVolume(volume));
  }

  async usage(row: VolumeRow): Promise<number | undefined> {
    const p = this.pool(row.pool);
    return this.pools.backend(p).usage(customVolume(row.name)).catch(() => undefined);
  }

  /** Checks a create or copy request; returns the source to copy from, if any. */
  prepare(pool: string, body: NewVolume & { source?: { type?: string; name?: string; pool?: string } }): { pool: string; volume: string; snapshot?: string } | undefined {
    this.checkNew(pool, body);
    const src = body.source;
    if (!src?.type) return undefined;
    if (src.type !== "copy") throw new ApiError(400, `Volume source type "${src.type}" is not supported (copy only)`);
    if (!src.name) throw new ApiError(400, "Copy source needs a volume name (\"vol\" or \"vol/snap\")");
    const [volume, snapshot] = src.name.includes("/") ? [src.name.slice(0, src.name.indexOf("/")), src.name.slice(src.name.indexOf("/") + 1)] : [src.name, undefined];
    const from = this.get(src.pool || pool, volume);
    if (snapshot !== undefined) this.snapshot(from, snapshot);
    const [a, b] = [this.pool(from.pool), this.pool(pool)];
    if (a.driver !== b.driver) throw new ApiError(400, `Copying from a ${a.driver} pool to a ${b.driver} pool is not supported yet`);
    return { pool: from.pool, volume, snapshot };
  }

  async create(pool: string, name: string, description = "", requested: Record<string, string> = {}): Promise<VolumeRow> {
    return this.serial(`${pool}/${name}`, async () => {
      const p = this.pool(pool);
      // The pool's volume.* keys are the defaults, as in LXD.
      const config = { ...volumeDefaults(p.config), ...requested };
      if (q.getVolume(this.db, pool, name, this.location())) throw new ApiError(409, `Storage volume "${this.apiName(name)}" already exists in pool "${pool}"`);
      try {
        await this.pools.backend(p).create(customVolume(name));
      } catch (err) {
        throw new ApiError(500, `Failed to create volume "${name}" in pool "${pool}": ${(err as Error).message}`);
      }
      if (config.size) {
        await this.applySize(p, name, config.size).catch(async (err) => {
          await this.pools.backend(p).delete(customVolume(name)).catch(() => {});
          throw err;
        });
      }
      crashPoint("volume-create", "after-volume");
      const row = q.insertVolume(this.db, { pool, name, project: this.ownerOf(name), location: this.location(), type: "custom", description, config, createdAt: new Date().toISOString() });
      this.lifecycle("storage-volume-created", pool, name);
      return row;
    });
  }

  /** A copy of a volume (with its snapshots unless `volumeOnly`) or of one snapshot. */
  async copy(pool: string, name: string, from: { pool: string; volume: string; snapshot?: string }, opts: { description?: string; config?: Record<string, string>; volumeOnly?: boolean }): Promise<VolumeRow> {
    return this.serial(`${pool}/${name}`, async () => {
      const [src, dst] = [this.pool(from.pool), this.pool(pool)];
      const fromRow = this.get(from.pool, from.volume);
      const [source, target] = [this.pools.backend(src), this.pools.backend(dst)];
      const snaps = from.snapshot === undefined && !opts.volumeOnly ? q.listVolumeSnapshots(this.db, fromRow.id) : [];
      if (q.getVolume(this.db, pool, name, this.location())) throw new ApiError(409, `Storage volume "${this.apiName(name)}" already exists in pool "${pool}"`);
      try {
        await source.copy(customVolume(from.volume, from.snapshot), customVolume(name), target);
        for (const s of snaps) await source.copy(customVolume(from.volume, s.name), customVolume(name, s.name), target);
        // A limit belongs to the volume (a btrfs qgroup), not its content: the copy gets its own.
        const size = (opts.config ?? fromRow.config).size;
        if (size) await this.applySize(dst, name, size);
      } catch (err) {
        await target.delete(customVolume(name)).catch(() => {});
        if (err instanceof ApiError) throw err;
        throw new ApiError(500, `Failed to copy volume "${from.volume}" to "${name}": ${(err as Error).message}`);
      }
      const row = q.insertVolume(this.db, {
        pool, name, project: this.ownerOf(name), location: this.location(), type: "custom", description: opts.description ?? fromRow.description,
        config: opts.config ?? fromRow.config, createdAt: new Date().toISOString(),
      });
      for (const s of snaps) {
        q.insertVolumeSnapshot(this.db, { volumeId: row.id, name: s.name, description: s.description, config: s.config, createdAt: s.createdAt, expiresAt: s.expiresAt });
      }
      this.lifecycle("storage-volume-created", pool, name);
      return row;
    });
  }

  /** Checks the create request of a volume arriving from another server and reserves its name. */
  prepareMigration(pool: string, body: NewVolume): void {
    this.checkNew(pool, body);
    this.arriving.add(`${pool}/${body.name}`);
  }

  /** A new volume's type, name and config are valid and its name free (also of arriving ones). */
  private checkNew(pool: string, body: NewVolume): void {
    this.pool(pool);
    if (body.type && body.type !== "custom") throw new ApiError(400, `Only custom volumes can be created (not "${body.type}")`);
    if (body.content_type && body.content_type !== "filesystem") throw new ApiError(400, `Content type "${body.content_type}" is not supported (filesystem only)`);
    const err = validateVolumeName(body.name);
    if (err) throw new ApiError(400, err);
    checkConfig(body.config ?? {});
    if (q.getVolume(this.db, pool, body.name, this.location()) || this.arriving.has(`${pool}/${body.name}`)) {
      throw new ApiError(409, `Storage volume "${this.apiName(body.name)}" already exists in pool "${pool}"`);
    }
  }

  /** The pool's volumes (a migration reads a volume through it). */
  backend(pool: string): PoolBackend {
    return this.pools.backend(this.pool(pool));
  }

  /** For a refresh of `volume` from the source's snapshots (oldest first): deletes its snapshots
   *  the source lacks or has with another creation time (to the second), as LXD compares them,
   *  and returns the names it lacks. */
  async syncPlan(pool: string, volume: string, source: { name: string; createdAt?: string }[]): Promise<string[]> {
    const { stale, missing } = compareSnapshots(this.snapshots(this.get(pool, volume)), source);
    for (const name of stale) await this.deleteSnapshot(pool, volume, name);
    return missing;
  }

  /** A refresh (LXD's `storage volume copy --refresh`) of existing volume `name`: `receive` adds
   *  `snapshots` to it and replaces its content; refused while a running instance uses it. */
  refreshFrom(pool: string, name: string, snapshots: Omit<VolumeSnapshotRow, "id" | "volumeId">[], receive: (p: PoolBackend) => Promise<void>): Promise<void> {
    return this.serial(`${pool}/${name}`, async () => {
      const row = this.get(pool, name);
      const running = this.runningUsers(pool, name);
      if (running.length) throw new ApiError(400, `Storage volume "${name}" is in use by running instance(s) ${running.join(", ")}: stop them first`);
      const p = this.pool(pool);
      await receive(this.pools.backend(p));
      if (row.config.size) await this.applySize(p, name, row.config.size);
      for (const s of snapshots) q.insertVolumeSnapshot(this.db, { ...s, volumeId: row.id });
      this.lifecycle("storage-volume-updated", pool, name);
    });
  }

  /** `storage volume copy --refresh` within this daemon. */
  async refreshCopy(pool: string, name: string, from: { pool: string; volume: string }, volumeOnly: boolean): Promise<void> {
    if (pool === from.pool && name === from.volume) throw new ApiError(400, "A volume cannot be refreshed from itself");
    const theirs = volumeOnly ? [] : this.snapshots(this.get(from.pool, from.volume));
    const missing = new Set(volumeOnly ? [] : await this.syncPlan(pool, name, theirs));
    const rows = theirs.filter((s) => missing.has(s.name)).map(({ id: _id, volumeId: _v, ...rest }) => rest);
    const source = this.backend(from.pool);
    await this.refreshFrom(pool, name, rows, (b) => b.receive(customVolume(name), rows.map((s) => s.name), (dir, snapshot) =>
      source.export(customVolume(from.volume, snapshot), "", (tree) => syncTree(tree, dir)), true));
  }

  /** Gives up a name prepareMigration reserved. */
  releaseName(pool: string, name: string): void {
    this.arriving.delete(`${pool}/${name}`);
  }

  /** Builds a volume from a migration: `receive` fills it (with its snapshots), then the rows go in. */
  async createFromMigration(pool: string, name: string, fields: { description: string; config: Record<string, string> },
    snapshots: Omit<VolumeSnapshotRow, "id" | "volumeId">[], receive: (p: PoolBackend) => Promise<void>): Promise<void> {
    const p = this.pool(pool);
    await receive(this.pools.backend(p));
    try {
      if (fields.config.size) await this.applySize(p, name, fields.config.size);
      const row = q.insertVolume(this.db, { pool, name, project: this.ownerOf(name), location: this.location(), type: "custom", description: fields.description, config: fields.config, createdAt: new Date().toISOString() });
      for (const s of snapshots) q.insertVolumeSnapshot(this.db, { ...s, volumeId: row.id });
    } catch (err) {
      const row = q.getVolume(this.db, pool, name, this.location());
      if (row) q.deleteVolume(this.db, row.id);
      await this.pools.backend(p).delete(customVolume(name)).catch(() => {});
      throw err;
    }
    this.lifecycle("storage-volume-created", pool, name);
  }

  /** A new size is applied before the row changes: a refused one changes nothing. */
  update(pool: string, name: string, description: string, config: Record<string, string>): Promise<void> {
    return this.serial(`${pool}/${name}`, async () => {
      const row = this.get(pool, name);
      checkConfig(config);
      if ((config.size ?? "") !== (row.config.size ?? "")) await this.applySize(this.pool(pool), name, config.size);
      q.updateVolume(this.db, row.id, { description, config });
      this.lifecycle("storage-volume-updated", pool, name);
    });
  }

  async delete(pool: string, name: string): Promise<void> {
    return this.serial(`${pool}/${name}`, async () => {
      const row = this.get(pool, name);
      const users = q.volumeUsedBy(this.db, pool, name, this.location());
      if (users.length) throw new ApiError(400, `Storage volume "${this.apiName(name)}" is still in use by ${users.join(", ")}`);
      const p = this.pool(pool);
      q.deleteVolume(this.db, row.id);
      crashPoint("volume-delete", "after-row");
      await this.pools.backend(p).delete(customVolume(name));
      await rm(volumeBackupsDir(pool, name), { recursive: true, force: true });
      this.lifecycle("storage-volume-deleted", pool, name);
    });
  }

  /** Renames a volume (with its snapshots) within its pool, or moves it to another project (`to`
   *  is a storage name); refused while anything uses it, as disk devices name it. */
  async rename(pool: string, name: string, to: string): Promise<void> {
    return this.serial(`${pool}/${name}`, async () => {
      const row = this.get(pool, name);
      const err = validateVolumeName(to);
      if (err) throw new ApiError(400, err);
      if (q.getVolume(this.db, pool, to, this.location())) throw new ApiError(409, `Storage volume "${this.apiName(to)}" already exists in pool "${pool}"`);
      const users = q.volumeUsedBy(this.db, pool, name, this.location());
      if (users.length) throw new ApiError(400, `Storage volume "${this.apiName(name)}" is still in use by ${users.join(", ")}: detach it first`);
      const p = this.pool(pool);
      try {
        await this.pools.backend(p).rename(customVolume(name), to, () => {
          q.updateVolume(this.db, row.id, { name: to, project: this.ownerOf(to) });
          crashPoint("volume-rename", "after-row");
        });
      } catch (e) {
        throw new ApiError(500, `Failed to rename volume "${name}" to "${to}" in pool "${pool}": ${(e as Error).message}`);
      }
      await rename(volumeBackupsDir(pool, name), volumeBackupsDir(pool, to)).catch(() => {});
      this.events.send("lifecycle", { action: "storage-volume-renamed", source: this.url(pool, to), context: { old_name: this.apiName(name) } });
    });
  }

  // ---- snapshots -------------------------------------------------------------------------

  snapshots(row: VolumeRow): VolumeSnapshotRow[] {
    return q.listVolumeSnapshots(this.db, row.id);
  }

  snapshot(row: VolumeRow, name: string): VolumeSnapshotRow {
    const snap = q.getVolumeSnapshot(this.db, row.id, name);
    if (!snap) throw new ApiError(404, `Storage volume snapshot "${row.name}/${name}" not found`);
    return snap;
  }

  snapshotToApi(snap: VolumeSnapshotRow): StorageVolumeSnapshot {
    return {
      name: snap.name, description: snap.description, config: snap.config, content_type: "filesystem",
      created_at: snap.createdAt, expires_at: snap.expiresAt || NO_EXPIRY,
    };
  }

  /** Checks a snapshot request; returns the name it will get. */
  prepareSnapshot(pool: string, volume: string, name?: string): string {
    const row = this.get(pool, volume);
    const taken = new Set(this.snapshots(row).map((s) => s.name));
    const chosen = name || nextSnapshotName("", taken);
    const err = validateSnapshotName(chosen);
    if (err) throw new ApiError(400, err);
    if (taken.has(chosen)) throw new ApiError(409, `Storage volume snapshot "${volume}/${chosen}" already exists`);
    return chosen;
  }

  /** `expires`: undefined or null: from the volume's `snapshots.expiry` (as LXD); "" or the zero
   *  time (`--no-expiry`): never. */
  async createSnapshot(pool: string, volume: string, name: string, expires?: string | null): Promise<void> {
    const at = expires === undefined || expires === null ? undefined : checkExpiresAt(expires);
    return this.serial(`${pool}/${volume}`, async () => {
      const row = this.get(pool, volume);
      if (q.getVolumeSnapshot(this.db, row.id, name)) throw new ApiError(409, `Storage volume snapshot "${volume}/${name}" already exists`);
      const p = this.pool(pool);
      const createdAt = new Date();
      await this.pools.backend(p).copy(customVolume(volume), customVolume(volume, name));
      crashPoint("volume-snapshot", "after-volume");
      const expiresAt = at ?? expiryDate(row.config["snapshots.expiry"] ?? "", createdAt)?.toISOString() ?? "";
      q.insertVolumeSnapshot(this.db, { volumeId: row.id, name, description: "", config: row.config, createdAt: createdAt.toISOString(), expiresAt });
      this.lifecycle("storage-volume-snapshot-created", pool, volume, name);
    });
  }

  /** PUT of a snapshot: its description and expiry. */
  updateSnapshot(pool: string, volume: string, name: string, put: { description?: string; expires_at?: string | null }): void {
    const snap = this.snapshot(this.get(pool, volume), name);
    const changes: { description?: string; expiresAt?: string } = {};
    if (put.description !== undefined) changes.description = put.description;
    if (put.expires_at !== undefined) changes.expiresAt = checkExpiresAt(put.expires_at);
    q.updateVolumeSnapshot(this.db, snap.id, changes);
    this.lifecycle("storage-volume-snapshot-updated", pool, volume, name);
  }

  /** Checks a snapshot rename (the snapshot exists, the name is valid and free), as LXD before
   *  its operation starts. */
  prepareSnapshotRename(pool: string, volume: string, name: string, to: string): void {
    const row = this.get(pool, volume);
    this.snapshot(row, name);
    const err = validateSnapshotName(to);
    if (err) throw new ApiError(400, err);
    if (q.getVolumeSnapshot(this.db, row.id, to)) throw new ApiError(409, `Name '${volume}/${to}' already in use`);
  }

  /** Renames a snapshot, its data with it. */
  async renameSnapshot(pool: string, volume: string, name: string, to: string): Promise<void> {
    return this.serial(`${pool}/${volume}`, async () => {
      this.prepareSnapshotRename(pool, volume, name, to);
      const snap = this.snapshot(this.get(pool, volume), name);
      await this.pools.backend(this.pool(pool)).rename(customVolume(volume, name), to);
      q.updateVolumeSnapshot(this.db, snap.id, { name: to });
      this.events.send("lifecycle", {
        action: "storage-volume-snapshot-renamed", source: this.url(pool, volume, `/snapshots/${to}`), context: { old_name: name },
      });
    });
  }

  /** One pass of the minute timer: deletes expired snapshots, then takes the scheduled ones
   *  (named by `snapshots.pattern`), as LXD's custom volume snapshot tasks do. */
  async tick(now: Date): Promise<void> {
    for (const s of q.expiringVolumeSnapshots(this.db, this.location())) {
      if (new Date(s.expiresAt).getTime() > now.getTime()) continue;
      await this.deleteSnapshot(s.pool, s.volume, s.name).catch((err) =>
        log.error("Failed to delete expired volume snapshot", { pool: s.pool, volume: s.volume, snapshot: s.name, err: String(err) }));
    }
    const minute = Math.floor(now.getTime() / 60_000);
    for (const row of q.listVolumes(this.db).filter((r) => r.location === this.location())) {
      const schedule = row.config["snapshots.schedule"] ?? "";
      const key = `${row.pool}/${row.name}`;
      if (!schedule || this.firedAt.get(key) === minute) continue;
      let due = false;
      try {
        due = scheduleMatches(schedule, now);
      } catch (err) {
        log.error("Invalid volume snapshot schedule", { pool: row.pool, volume: row.name, err: String(err) });
      }
      if (!due) continue;
      this.firedAt.set(key, minute);
      const taken = new Set(this.snapshots(row).map((s) => s.name));
      const name = nextSnapshotName(row.config["snapshots.pattern"] ?? "", taken);
      await Promise.resolve().then(() => this.createSnapshot(row.pool, row.name, this.prepareSnapshot(row.pool, row.name, name))).catch((err) =>
        log.error("Scheduled volume snapshot failed", { pool: row.pool, volume: row.name, err: String(err) }));
    }
  }

  async deleteSnapshot(pool: string, volume: string, name: string): Promise<void> {
    return this.serial(`${pool}/${volume}`, async () => {
      const row = this.get(pool, volume);
      const snap = this.snapshot(row, name);
      const p = this.pool(pool);
      q.deleteVolumeSnapshot(this.db, snap.id);
      await this.pools.backend(p).delete(customVolume(volume, name));
      this.lifecycle("storage-volume-snapshot-deleted", pool, volume, name);
    });
  }

  /** Rolls the volume back; refused while a running instance has it mounted (it would keep the old tree). */
  async restore(pool: string, volume: string, snapshot: string): Promise<void> {
    return this.serial(`${pool}/${volume}`, async () => {
      const row = this.get(pool, volume);
      this.snapshot(row, snapshot);
      const running = this.runningUsers(pool, volume);
      if (running.length) throw new ApiError(400, `Storage volume "${volume}" is in use by running instance(s) ${running.join(", ")}: stop them first`);
      const p = this.pool(pool);
      // The driver keeps the volume's size limit across the restore.
      await this.pools.backend(p).restore(customVolume(volume, snapshot));
      this.lifecycle("storage-volume-restored", pool, volume, snapshot);
    });
  }

  private lifecycle(action: string, pool: string, volume: string, snapshot?: string) {
    const source = this.url(pool, volume, snapshot === undefined ? "" : `/snapshots/${snapshot}`);
    this.events.send("lifecycle", { action, source, context: {} });
  }
}
