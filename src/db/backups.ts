// Queries on the instance_backups table (addressed by instance name and backup name) and the
// storage_volume_backups table (by volume row id).
import { and, asc, eq, ne } from "drizzle-orm";
import type { Db } from "./index.ts";
import { groupByInstance } from "./snapshots.ts";
import { instanceBackups, instances, storageVolumeBackups, storageVolumes } from "./schema.ts";

export type BackupRow = typeof instanceBackups.$inferSelect;
export type NewBackupRow = Omit<typeof instanceBackups.$inferInsert, "instanceId" | "id">;

const instanceId = (db: Db, instance: string): number | undefined =>
  db.select({ id: instances.id }).from(instances).where(eq(instances.name, instance)).get()?.id;

const byName = (id: number, name: string) => and(eq(instanceBackups.instanceId, id), eq(instanceBackups.name, name));

/** Oldest first. */
export function listBackups(db: Db, instance: string): BackupRow[] {
  const id = instanceId(db, instance);
  if (id === undefined) return [];
  return db.select().from(instanceBackups).where(eq(instanceBackups.instanceId, id)).orderBy(asc(instanceBackups.id)).all();
}

/** Every instance's backups by instance id, oldest first: one query for a whole listing. */
export const backupsByInstance = (db: Db): Map<number, BackupRow[]> =>
  groupByInstance(db.select().from(instanceBackups).orderBy(asc(instanceBackups.id)).all());

/** One instance's backups by its row id, oldest first. */
export const backupsOf = (db: Db, instanceId: number): BackupRow[] =>
  db.select().from(instanceBackups).where(eq(instanceBackups.instanceId, instanceId)).orderBy(asc(instanceBackups.id)).all();

export function getBackup(db: Db, instance: string, name: string): BackupRow | undefined {
  const id = instanceId(db, instance);
  return id === undefined ? undefined : db.select().from(instanceBackups).where(byName(id, name)).get();
}

export function insertBackup(db: Db, instance: string, row: NewBackupRow): BackupRow {
  const id = instanceId(db, instance);
  if (id === undefined) throw new Error(`instance "${instance}" not found`);
  return db.insert(instanceBackups).values({ ...row, instanceId: id }).returning().get();
}

export function renameBackup(db: Db, instance: string, from: string, to: string): void {
  const id = instanceId(db, instance);
  if (id !== undefined) db.update(instanceBackups).set({ name: to }).where(byName(id, from)).run();
}

export function deleteBackup(db: Db, instance: string, name: string): void {
  const id = instanceId(db, instance);
  if (id !== undefined) db.delete(instanceBackups).where(byName(id, name)).run();
}

/** Every backup with an expiry, with its instance's name (for the expiry timer). */
export function expiringBackups(db: Db): { instance: string; name: string; expiresAt: string }[] {
  return db.select({ instance: instances.name, name: instanceBackups.name, expiresAt: instanceBackups.expiresAt })
    .from(instanceBackups).innerJoin(instances, eq(instances.id, instanceBackups.instanceId))
    .where(ne(instanceBackups.expiresAt, "")).all();
}

// ---- custom volume backups, addressed by the volume's row id ----

export type VolumeBackupRow = typeof storageVolumeBackups.$inferSelect;

const byVolume = (volumeId: number, name: string) => and(eq(storageVolumeBackups.volumeId, volumeId), eq(storageVolumeBackups.name, name));

export const listVolumeBackups = (db: Db, volumeId: number): VolumeBackupRow[] =>
  db.select().from(storageVolumeBackups).where(eq(storageVolumeBackups.volumeId, volumeId)).orderBy(asc(storageVolumeBackups.id)).all();

export const getVolumeBackup = (db: Db, volumeId: number, name: string): VolumeBackupRow | undefined =>
  db.select().from(storageVolumeBackups).where(byVolume(volumeId, name)).get();

export function insertVolumeBackup(db: Db, row: Omit<typeof storageVolumeBackups.$inferInsert, "id">): VolumeBackupRow {
  return db.insert(storageVolumeBackups).values(row).returning().get();
}

export function renameVolumeBackup(db: Db, volumeId: number, from: string, to: string): void {
  db.update(storageVolumeBackups).set({ name: to }).where(byVolume(volumeId, from)).run();
}

export function deleteVolumeBackup(db: Db, volumeId: number, name: string): void {
  db.delete(storageVolumeBackups).where(byVolume(volumeId, name)).run();
}

/** Every volume backup with an expiry, with its pool and volume (for the expiry timer). */
export function expiringVolumeBackups(db: Db): { pool: string; volume: string; name: string; expiresAt: string }[] {
  return db.select({ pool: storageVolumes.pool, volume: storageVolumes.name, name: storageVolumeBackups.name, expiresAt: storageVolumeBackups.expiresAt })
    .from(storageVolumeBackups).innerJoin(storageVolumes, eq(storageVolumes.id, storageVolumeBackups.volumeId))
    .where(ne(storageVolumeBackups.expiresAt, "")).all();
}
