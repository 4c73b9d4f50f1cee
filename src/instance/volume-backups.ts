// Custom volume backups (`lxd storage volume export|import`, /1.0/storage-pools/{pool}/volumes/
// custom/{volume}/backups): LXD's tarball (backup-tarball.ts) in
// LXD_DIR/backups/custom/<pool>/<volume>/<backup>, listed, renamed, downloaded, deleted, expired;
// restoring one makes a new volume with its snapshots.
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import { ApiError } from "../api/error.ts";
import { NO_EXPIRY } from "../api/snapshot.ts";
import type { StorageVolumeBackup, StorageVolumeBackupsPost } from "../api/backup.ts";
import * as db from "../db/backups.ts";
import type { Db } from "../db/index.ts";
import * as q from "../db/storage-volumes.ts";
import { log } from "../log.ts";
import { backupsDir, volumeBackupsDir } from "../paths.ts";
import {
  backupCompression, backupExpiry, backupName, stagingDir, storeUpload, type BackupIndex, extractBackup, idShift, readIndex, requireDir, VOLUME_LAYOUT, writeBackup,
} from "../image/backup-tarball.ts";
import { customVolume } from "../storage/backend.ts";
import type { StoragePools } from "../storage/pools.ts";
import { type CustomVolumes, validateVolumeName } from "../storage/volumes.ts";
import type { PublishCompression } from "../image/publish.ts";

type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

const backupsRoot = backupsDir;
const backupFile = (pool: string, volume: string, name: string) => join(volumeBackupsDir(pool, volume), name);

export interface PreparedVolumeBackup {
  name: string;
  expiresAt: string;
  volumeOnly: boolean;
  compression: PublishCompression;
}

export interface PreparedVolumeRestore {
  pool: string;
  name: string;
  file: string;
  index: BackupIndex;
}

export class VolumeBackups {
  /** Volume names being restored, per pool ("pool/name"). */
  private readonly restoring = new Set<string>();

  constructor(
    private readonly database: Db,
    private readonly volumes: CustomVolumes,
    private readonly storage: StoragePools,
    private readonly events: Events,
  ) {}

  list(pool: string, volume: string): db.VolumeBackupRow[] {
    return db.listVolumeBackups(this.database, this.volumes.get(pool, volume).id);
  }

  get(pool: string, volume: string, name: string): db.VolumeBackupRow {
    const row = db.getVolumeBackup(this.database, this.volumes.get(pool, volume).id, name);
    if (!row) throw new ApiError(404, `Backup "${name}" not found for volume "${volume}"`);
    return row;
  }

  toApi(row: db.VolumeBackupRow): StorageVolumeBackup {
    return { name: row.name, created_at: row.createdAt, expires_at: row.expiresAt || NO_EXPIRY, volume_only: row.volumeOnly, optimized_storage: row.optimizedStorage };
  }

  prepare(pool: string, volume: string, req: StorageVolumeBackupsPost): PreparedVolumeBackup {
    const row = this.volumes.get(pool, volume);
    if (req.optimized_storage) throw new ApiError(400, `Optimized backups of custom volumes are not supported; export without --optimized-storage`);
    const taken = new Set(db.listVolumeBackups(this.database, row.id).map((b) => b.name));
    return {
      name: backupName(taken, req.name, `volume "${volume}"`), expiresAt: backupExpiry(req.expires_at),
      volumeOnly: req.volume_only ?? false, compression: backupCompression(req.compression_algorithm),
    };
  }

  async create(pool: string, volume: string, p: PreparedVolumeBackup, onProgress?: (m: Record<string, unknown>) => void): Promise<void> {
    const row = this.volumes.get(pool, volume);
    const poolRow = this.volumes.pool(pool);
    const backend = this.storage.backend(poolRow);
    const snaps = p.volumeOnly ? [] : this.volumes.snapshots(row);
    const index: BackupIndex = {
      name: volume, backend: poolRow.driver, pool, snapshots: snaps.map((s) => s.name),
      optimized: false, optimized_header: false, type: "custom",
      config: {
        volume: this.volumes.toApi(row),
        volume_snapshots: snaps.map((s) => ({ ...this.volumes.snapshotToApi(s), content_type: "filesystem" })),
      },
    };
    const dir = volumeBackupsDir(pool, volume);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.tmp-${ulid()}`);
    // The files are kept as a container sees them (idmapped mounts): LXD reads a volume without
    // volatile.idmap.last as unshifted too.
    await writeBackup(tmp, index, {
      items: [
        ...snaps.map((s) => ({ path: `backup/volume-snapshots/${s.name}`, ...backend.tree(customVolume(volume, s.name)) })),
        { path: "backup/volume", ...backend.tree(customVolume(volume)) },
      ],
      compression: p.compression, workDir: dir,
      onBytes: (n) => onProgress?.({ create_backup_progress: `Backing up: ${(n / 1e6).toFixed(2)}MB` }),
    });
    await rename(tmp, backupFile(pool, volume, p.name));
    db.insertVolumeBackup(this.database, {
      volumeId: row.id, name: p.name, createdAt: new Date().toISOString(), expiresAt: p.expiresAt, volumeOnly: p.volumeOnly, optimizedStorage: false,
    });
    this.lifecycle("storage-volume-backup-created", pool, volume, p.name);
  }

  file(pool: string, volume: string, name: string): string {
    this.get(pool, volume, name);
    return backupFile(pool, volume, name);
  }

  checkRename(pool: string, volume: string, from: string, to: string): void {
    this.get(pool, volume, from);
    if (!to) throw new ApiError(400, "A new backup name is required");
    backupName(new Set(this.list(pool, volume).map((b) => b.name)), to, `volume "${volume}"`);
  }

  async rename(pool: string, volume: string, from: string, to: string): Promise<void> {
    this.checkRename(pool, volume, from, to);
    await rename(backupFile(pool, volume, from), backupFile(pool, volume, to));
    db.renameVolumeBackup(this.database, this.volumes.get(pool, volume).id, from, to);
    this.lifecycle("storage-volume-backup-renamed", pool, volume, to, { old_name: from });
  }

  async delete(pool: string, volume: string, name: string): Promise<void> {
    this.get(pool, volume, name);
    db.deleteVolumeBackup(this.database, this.volumes.get(pool, volume).id, name);
    await rm(backupFile(pool, volume, name), { force: true });
    this.lifecycle("storage-volume-backup-deleted", pool, volume, name);
  }

  /** Deletes expired backups (the minute timer). */
  async prune(now: Date): Promise<void> {
    for (const b of db.expiringVolumeBackups(this.database)) {
      if (new Date(b.expiresAt).getTime() > now.getTime()) continue;
      await this.delete(b.pool, b.volume, b.name).catch((err) =>
        log.error("Failed to delete expired volume backup", { pool: b.pool, volume: b.volume, backup: b.name, err: String(err) }));
    }
  }

  // ---- restore ---------------------------------------------------------------------------

  /** Stores an uploaded tarball for `prepareRestore`. */
  receive(body: ReadableStream<Uint8Array>): Promise<string> {
    return storeUpload(backupsRoot(), body);
  }

  /** Reads the index and checks the name before any work starts; reserves the name. */
  /** `stored`: the storage name of a volume name in the request's project. */
  async prepareRestore(pool: string, file: string, name: string | undefined, stored: (name: string) => string = (n) => n): Promise<PreparedVolumeRestore> {
    try {
      this.volumes.pool(pool);
      let index: BackupIndex;
      try {
        index = await readIndex(file, "custom");
      } catch (err) {
        throw new ApiError(400, (err as Error).message);
      }
      if (index.optimized) throw new ApiError(400, `Optimized backups (made from a ${index.backend} pool) cannot be imported here; export without --optimized-storage`);
      const given = name || index.name;
      const nameError = validateVolumeName(given);
      if (nameError) throw new ApiError(400, nameError);
      const volume = stored(given);
      if (this.volumes.exists(pool, volume) || this.restoring.has(`${pool}/${volume}`)) {
        throw new ApiError(409, `Storage volume "${given}" already exists in pool "${pool}"`);
      }
      this.restoring.add(`${pool}/${volume}`);
      return { pool, name: volume, file, index };
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
  }

  /** Makes the volume and its snapshots from the tarball; rows last. */
  async restore(r: PreparedVolumeRestore): Promise<void> {
    let stage: string | undefined;
    try {
      const dir = (stage = await stagingDir(backupsRoot()));
      const backend = this.storage.backend(this.volumes.pool(r.pool));
      const record = r.index.config?.volume ?? {};
      const snapshots = r.index.snapshots ?? [];
      // LXD keeps a volume shifted to the map of the instance it was last attached to.
      const ids = idShift(record.config?.["volatile.idmap.last"], false);
      await extractBackup(r.file, dir, VOLUME_LAYOUT, ids)
        .then(async () => { for (const part of ["volume", ...snapshots.map((s) => `volume-snapshots/${s}`)]) await requireDir(dir, part); })
        .catch((err) => { throw new ApiError(400, `Invalid backup file: ${(err as Error).message}`); });
      try {
        await backend.importTree(customVolume(r.name), join(dir, "volume"));
        for (const s of snapshots) await backend.importTree(customVolume(r.name, s), join(dir, "volume-snapshots", s));
      } catch (err) {
        await backend.delete(customVolume(r.name)).catch(() => {});
        throw new ApiError(500, `Failed to restore volume "${r.name}": ${(err as Error).message}`);
      }
      const own = (config: unknown) => Object.fromEntries(Object.entries((config ?? {}) as Record<string, string>)
        .filter(([k, v]) => k.startsWith("user.") && typeof v === "string"));
      const row = q.insertVolume(this.database, {
        pool: r.pool, name: r.name, project: this.volumes.ownerOf(r.name), location: this.volumes.location(), type: "custom", description: String(record.description ?? ""),
        config: own(record.config), createdAt: new Date().toISOString(),
      });
      const records = new Map((r.index.config?.volume_snapshots ?? []).map((s) => [s.name as string, s]));
      for (const s of snapshots) {
        const rec = records.get(s) ?? {};
        const expires = typeof rec.expires_at === "string" && !rec.expires_at.startsWith("0001-01-01") ? rec.expires_at : "";
        q.insertVolumeSnapshot(this.database, {
          volumeId: row.id, name: s, description: String(rec.description ?? ""), config: own(rec.config),
          createdAt: new Date().toISOString(), expiresAt: expires,
        });
      }
      this.events.send("lifecycle", { action: "storage-volume-created", source: this.volumes.url(r.pool, r.name), context: {} });
    } finally {
      this.restoring.delete(`${r.pool}/${r.name}`);
      if (stage) await rm(stage, { recursive: true, force: true, maxRetries: 3 });
      await rm(r.file, { force: true });
    }
  }

  private lifecycle(action: string, pool: string, volume: string, name: string, context: Record<string, unknown> = {}) {
    this.events.send("lifecycle", { action, source: this.volumes.url(pool, volume, `/backups/${name}`), context });
  }
}
