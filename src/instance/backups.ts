// Instance backups: made on request (`lxd export`, POST /1.0/instances/{name}/backups) as LXD's
// tarball (backup-tarball.ts) in LXD_DIR/backups/instances/<instance>/<backup>, listed, renamed,
// downloaded, deleted, and removed by the minute timer once they expire. Restoring one
// (`lxd import`) makes a new instance whose volumes have no image below them.
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import type { InstanceBackup, InstanceBackupsPost } from "../api/backup.ts";
import { NO_EXPIRY, type InstanceSnapshot } from "../api/snapshot.ts";
import * as db from "../db/backups.ts";
import type { Db } from "../db/index.ts";
import type { EventHub } from "../events/hub.ts";
import { log } from "../log.ts";
import { ApiError } from "../api/error.ts";
import type { PublishCompression } from "../image/publish.ts";
import { backupsDir, instanceBackupsDir } from "../paths.ts";
import { storagePools } from "../db/schema.ts";
import { snapshotsOf } from "../db/snapshots.ts";
import {
  backupCompression, backupExpiry, backupName, stagingDir, storeUpload, type BackupIndex, type BackupItem, extractBackup, idShift, INSTANCE_LAYOUT,
  OPTIMIZED_LAYOUT, readIndex, requireDir, requireFile, shiftTree, writeBackup,
} from "../image/backup-tarball.ts";
import { instanceVolume, type PoolBackend } from "../storage/backend.ts";
import type { Instance } from "../api/instance.ts";
import type { InstanceRow } from "../db/instances.ts";
import type { Pool } from "../storage/driver.ts";
import type { SnapshotRow } from "./snapshots.ts";
import { instanceUrl, projectOfStored } from "../api/project-names.ts";

type Shape = Pick<InstanceRow, "profiles" | "config" | "devices">;

/** An instance restored from a backup: LXD's records of it and of its snapshots. */
export interface RestoreSpec {
  name: string;
  pool?: string;
  record: Record<string, any>;
  snapshots: { name: string; record: Record<string, any> }[];
}

/** What backups need of the instance manager. */
export interface BackupHost {
  get(name: string): InstanceRow;
  projects: { checkAllowed(project: string, what: "snapshot" | "backup"): void };
  poolOf(row: Shape, expanded?: { config: Record<string, string>; devices: Record<string, Record<string, string>> }): Pool & { description: string };
  backendOf(row: Shape): PoolBackend;
  poolBackend(pool: Pool): PoolBackend;
  expanded(row: Shape): { config: Record<string, string>; devices: Record<string, Record<string, string>> };
  toApi(row: InstanceRow, expanded?: { config: Record<string, string>; devices: Record<string, Record<string, string>> }): Instance;
  snapshots: { list(instance: string): SnapshotRow[]; toApi(instance: string, snap: SnapshotRow, inst?: InstanceRow): InstanceSnapshot };
  withVolume<T>(name: string, fn: () => Promise<T>): Promise<T>;
  quiesced<T>(name: string, fn: () => Promise<T>): Promise<T>;
  reserve(name: string, project?: string): string;
  release(name: string): void;
  createFromBackup(spec: RestoreSpec, fill: (pool: PoolBackend) => Promise<void>): Promise<unknown>;
}

export type BackupRow = db.BackupRow;

const backupsRoot = backupsDir;
const backupFile = (instance: string, name: string) => join(instanceBackupsDir(instance), name);

export interface PreparedBackup {
  name: string;
  expiresAt: string;
  instanceOnly: boolean;
  /** The driver's own streams (btrfs send) instead of file trees. */
  optimized: boolean;
  compression: PublishCompression;
}

/** What a restore needs once the upload is on disk and its index read. */
export interface PreparedRestore {
  name: string;
  pool?: string;
  file: string;
  index: BackupIndex;
}

export class Backups {
  constructor(
    private readonly database: Db,
    private readonly instances: BackupHost,
    private readonly events: EventHub,
  ) {}

  list(instance: string): BackupRow[] {
    this.instances.get(instance);
    return db.listBackups(this.database, instance);
  }

  get(instance: string, name: string): BackupRow {
    this.instances.get(instance);
    const row = db.getBackup(this.database, instance, name);
    if (!row) throw new ApiError(404, `Backup "${name}" not found for instance "${instance}"`);
    return row;
  }

  toApi(row: BackupRow): InstanceBackup {
    return {
      name: row.name, created_at: row.createdAt, expires_at: row.expiresAt || NO_EXPIRY,
      instance_only: row.instanceOnly, container_only: row.instanceOnly, optimized_storage: row.optimizedStorage,
    };
  }

  /** Validates a backup request; the name defaults to the first free backupN. */
  prepare(instance: string, req: InstanceBackupsPost): PreparedBackup {
    const row = this.instances.get(instance);
    this.instances.projects.checkAllowed(row.project, "backup");
    const optimized = req.optimized_storage ?? false;
    if (optimized && !this.instances.backendOf(row).canSendBackup) {
      const pool = this.instances.poolOf(row);
      throw new ApiError(400, `Optimized backups are not supported on pool "${pool.name}" (${pool.driver}); export without --optimized-storage`);
    }
    const taken = new Set(db.listBackups(this.database, instance).map((b) => b.name));
    const name = backupName(taken, req.name, `instance "${instance}"`);
    const compression = backupCompression(req.compression_algorithm);
    const expiresAt = backupExpiry(req.expires_at);
    return { name, expiresAt, instanceOnly: req.instance_only ?? req.container_only ?? false, optimized, compression };
  }

  /** The instance's records as LXD writes them (index.yaml's `config`, backup.yaml). `idmap`
   *  replaces the recorded maps (a tarball's ids are shifted by it). */
  records(instance: string, snaps: SnapshotRow[], idmap?: string): NonNullable<BackupIndex["config"]> {
    const row = this.instances.get(instance);
    const expanded = this.instances.expanded(row);
    return this.recordsOf(row, expanded, this.instances.poolOf(row, expanded), snaps, idmap);
  }

  private recordsOf(row: InstanceRow, expanded: { config: Record<string, string>; devices: Record<string, Record<string, string>> },
    pool: Pool & { description: string }, snaps: SnapshotRow[], idmap?: string): NonNullable<BackupIndex["config"]> {
    const instance = row.name;
    const withIdmap = (config: Record<string, string>) => idmap === undefined ? config : ({
      ...config, "volatile.idmap.current": idmap, "volatile.idmap.next": idmap, "volatile.last_state.idmap": idmap,
    });
    return {
      container: { ...this.instances.toApi(row, expanded), config: withIdmap(row.config), expanded_config: withIdmap(expanded.config), status: "Stopped", status_code: 102 },
      snapshots: snaps.map((s) => {
        const api = this.instances.snapshots.toApi(instance, s, row);
        return { ...api, config: withIdmap(api.config), expanded_config: withIdmap(api.expanded_config) };
      }),
      pool: { name: pool.name, driver: pool.driver, description: pool.description, config: pool.config, status: "Created", used_by: [], locations: ["none"] },
      volume: {
        name: instance, type: "container", description: "", config: {}, content_type: "filesystem", project: "default",
        used_by: [], location: "none", created_at: row.createdAt,
      },
      volume_snapshots: snaps.map((s) => ({ name: s.name, description: "", config: {}, content_type: "filesystem", created_at: s.createdAt, expires_at: s.expiresAt || NO_EXPIRY })),
    };
  }

  /** Rewrites the instance volume's backup.yaml (what `lxd recover` reads); a volume that is
   *  gone is left alone. The instance, its profiles and pool are read once. */
  async saveFile(instance: string): Promise<void> {
    try {
      const row = this.instances.get(instance);
      const expanded = this.instances.expanded(row);
      const pool = this.instances.poolOf(row, expanded);
      const file = this.instances.poolBackend(pool).backupFile(instance);
      const tmp = `${file}.tmp-${ulid()}`;
      const records = this.recordsOf(row, expanded, pool, snapshotsOf(this.database, row.id));
      await writeFile(tmp, Bun.YAML.stringify(records, null, 2), { mode: 0o600, flag: "wx" });
      await rename(tmp, file);
    } catch (err) {
      log.warn("Failed to write the instance's backup.yaml", { instance, err: String(err) });
    }
  }

  /** Writes the tarball (the instance frozen meanwhile when it runs), then records it. */
  async create(instance: string, p: PreparedBackup, onProgress?: (m: Record<string, unknown>) => void): Promise<void> {
    const row = this.instances.get(instance);
    const pool = this.instances.poolOf(row);
    const backend = this.instances.backendOf(row);
    const fp = row.config["volatile.base_image"] ?? "";
    const snaps = p.instanceOnly ? [] : this.instances.snapshots.list(instance);
    const privileged = ["true", "1", "yes", "on"].includes((this.instances.expanded(row).config["security.privileged"] ?? "").toLowerCase());
    // Trees are written shifted into the instance's host range, as LXD stores them; a stream
    // holds the ids as they are on disk (unshifted), which LXD reads from an empty map.
    const idmap = privileged || p.optimized ? "[]" : row.config["volatile.idmap.next"] || row.config["volatile.idmap.current"] || "[]";
    const index: BackupIndex = {
      name: instance, backend: pool.driver, pool: pool.name, snapshots: snaps.map((s) => s.name),
      optimized: p.optimized, optimized_header: false, type: "container", config: this.records(instance, snaps, idmap),
    };
    const dir = instanceBackupsDir(instance);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.tmp-${ulid()}`);
    const streams: string[] = [];
    const progress = (n: number) => onProgress?.({ create_backup_progress: `Backing up: ${(n / 1e6).toFixed(2)}MB` });
    try {
      await this.instances.withVolume(instance, () => this.instances.quiesced(instance, async () => {
        let items: BackupItem[];
        if (p.optimized) {
          // Each snapshot against the one before it, the instance against the last (as LXD).
          const send = async (path: string, snapshot?: string, parent?: string) => {
            const file = join(dir, `.tmp-${ulid()}.bin`);
            streams.push(file);
            await backend.sendBackup(instanceVolume(instance, snapshot), parent === undefined ? undefined : instanceVolume(instance, parent), file);
            return { path, file };
          };
          items = [];
          for (const [i, s] of snaps.entries()) items.push(await send(`backup/snapshots/${s.name}.bin`, s.name, snaps[i - 1]?.name));
          items.push(await send("backup/container.bin", undefined, snaps.at(-1)?.name));
        } else {
          items = [
            ...snaps.map((s) => ({ path: `backup/snapshots/${s.name}/rootfs`, ...backend.layers(instanceVolume(instance, s.name), fp) })),
            { path: "backup/container/backup.yaml", text: Bun.YAML.stringify(index.config, null, 2) },
            { path: "backup/container/rootfs", ...backend.layers(instanceVolume(instance), fp) },
          ];
        }
        await writeBackup(tmp, index, { items, ids: idShift(idmap, true), compression: p.compression, workDir: dir, onBytes: progress });
      }));
    } finally {
      for (const f of streams) await rm(f, { force: true });
    }
    await rename(tmp, backupFile(instance, p.name));
    db.insertBackup(this.database, instance, {
      name: p.name, createdAt: new Date().toISOString(), expiresAt: p.expiresAt, instanceOnly: p.instanceOnly, optimizedStorage: p.optimized,
    });
    this.lifecycle("instance-backup-created", instance, p.name);
  }

  /** The tarball's path, for download. */
  file(instance: string, name: string): string {
    this.get(instance, name);
    return backupFile(instance, name);
  }

  checkRename(instance: string, from: string, to: string): void {
    this.get(instance, from);
    if (!to) throw new ApiError(400, "A new backup name is required");
    backupName(new Set(db.listBackups(this.database, instance).map((b) => b.name)), to, `instance "${instance}"`);
  }

  async rename(instance: string, from: string, to: string): Promise<void> {
    this.checkRename(instance, from, to);
    await rename(backupFile(instance, from), backupFile(instance, to));
    db.renameBackup(this.database, instance, from, to);
    this.lifecycle("instance-backup-renamed", instance, to, { old_name: from });
  }

  async delete(instance: string, name: string): Promise<void> {
    this.get(instance, name);
    db.deleteBackup(this.database, instance, name);
    await rm(backupFile(instance, name), { force: true });
    this.lifecycle("instance-backup-deleted", instance, name);
  }

  /** Deletes the backups whose expiry has passed (the minute timer). */
  async prune(now: Date): Promise<void> {
    for (const b of db.expiringBackups(this.database)) {
      if (new Date(b.expiresAt).getTime() > now.getTime()) continue;
      await this.delete(b.instance, b.name).catch((err) =>
        log.error("Failed to delete expired backup", { instance: b.instance, backup: b.name, err: String(err) }));
    }
  }

  // ---- restore ---------------------------------------------------------------------------

  /** Stores an uploaded tarball for `prepareRestore` (removed by `discard` or the restore). */
  receive(body: ReadableStream<Uint8Array>): Promise<string> {
    return storeUpload(backupsRoot(), body);
  }

  discard(file: string): Promise<void> {
    return rm(file, { force: true });
  }

  /** Reads the index and checks the name and pool before any work starts; reserves the name. */
  /** `project`: the instance lands in that project (its storage name is then `<project>_<name>`). */
  async prepareRestore(file: string, opts: { name?: string; pool?: string; project?: string }): Promise<PreparedRestore> {
    let index: BackupIndex;
    try {
      index = await readIndex(file, "container");
    } catch (err) {
      throw new ApiError(400, (err as Error).message);
    }
    const name = opts.name || index.name;
    if (opts.pool && !this.database.select().from(storagePools).all().some((p) => p.name === opts.pool)) {
      throw new ApiError(404, `Storage pool "${opts.pool}" not found`);
    }
    const stored = this.instances.reserve(name, opts.project);
    return { name: stored, pool: opts.pool, file, index };
  }

  /** Makes the instance: trees extracted beside the pool, moved in as volumes, rows last. */
  async restore(r: PreparedRestore, onProgress?: (m: Record<string, unknown>) => void): Promise<void> {
    let stage: string | undefined;
    try {
      const dir = (stage = await stagingDir(backupsRoot()));
      const record = r.index.config?.container ?? {};
      const size = (await stat(r.file)).size;
      const ids = idShift(record.config?.["volatile.last_state.idmap"], false);
      const snapshots = r.index.snapshots ?? [];
      const optimized = r.index.optimized === true;
      // Trees get their owners mapped while unpacked; streams after they are received.
      await extractBackup(r.file, dir, optimized ? OPTIMIZED_LAYOUT : INSTANCE_LAYOUT, optimized ? undefined : ids,
        (n) => onProgress?.({ create_instance_from_backup_progress: `Unpacking: ${Math.floor((n / size) * 100)}%` }))
        .then(async () => {
          if (optimized) for (const f of ["container.bin", ...snapshots.map((s) => `snapshots/${s}.bin`)]) await requireFile(dir, f);
          else for (const part of ["container", ...snapshots.map((s) => `snapshots/${s}`)]) await requireDir(dir, `${part}/rootfs`);
        })
        .catch((err) => { throw new ApiError(400, `Invalid backup file: ${(err as Error).message}`); });
      const records = new Map((r.index.config?.snapshots ?? []).map((s) => [s.name as string, s]));
      await this.instances.createFromBackup({
        name: r.name, pool: r.pool, record,
        snapshots: snapshots.map((s) => ({ name: s, record: records.get(s) ?? {} })),
      }, async (backend) => {
        if (optimized) {
          if (!backend.canSendBackup || backend.driverName !== r.index.backend) {
            throw new ApiError(400, `An optimized backup from a ${r.index.backend} pool can only be imported into a ${r.index.backend} pool, not "${backend.name}" (${backend.driverName})`);
          }
          const parts = [...snapshots.map((s) => ({ snapshot: s, file: join(dir, "snapshots", `${s}.bin`) })), { file: join(dir, "container.bin") }];
          return backend.receiveBackup(r.name, parts, ids && ((vol) => shiftTree(join(vol, "rootfs"), ids)));
        }
        for (const s of snapshots) await backend.importTree(instanceVolume(r.name, s), join(dir, "snapshots", s));
        await backend.importTree(instanceVolume(r.name), join(dir, "container"));
      });
    } finally {
      this.instances.release(r.name);
      if (stage) await rm(stage, { recursive: true, force: true, maxRetries: 3 });
      await this.discard(r.file);
    }
  }

  private lifecycle(action: string, instance: string, name: string, context: Record<string, unknown> = {}) {
    this.events.send("lifecycle", { action, source: instanceUrl(instance, `/backups/${name}`), context }, projectOfStored(instance));
  }
}
