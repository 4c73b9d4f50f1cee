// Queries on the storage_volumes and storage_volume_snapshots tables (custom volumes), addressed
// by pool and volume name; and which instances and profiles use a volume through disk devices.
import { and, asc, eq, ne } from "drizzle-orm";
import type { Db } from "./index.ts";
import { deviceExpander, instanceUrl, profileUrl } from "./projects.ts";
import { instances, profiles, storageVolumes, storageVolumeSnapshots } from "./schema.ts";

export type VolumeRow = typeof storageVolumes.$inferSelect;
export type VolumeSnapshotRow = typeof storageVolumeSnapshots.$inferSelect;

export const listVolumes = (db: Db, pool?: string): VolumeRow[] =>
  db.select().from(storageVolumes).where(pool === undefined ? undefined : eq(storageVolumes.pool, pool))
    .orderBy(asc(storageVolumes.name)).all();

export const getVolume = (db: Db, pool: string, name: string): VolumeRow | undefined =>
  db.select().from(storageVolumes).where(and(eq(storageVolumes.pool, pool), eq(storageVolumes.name, name))).get();

export function insertVolume(db: Db, row: Omit<typeof storageVolumes.$inferInsert, "id">): VolumeRow {
  return db.insert(storageVolumes).values(row).returning().get();
}

export function updateVolume(db: Db, id: number, changes: Partial<Pick<VolumeRow, "description" | "config" | "name">>): void {
  db.update(storageVolumes).set(changes).where(eq(storageVolumes.id, id)).run();
}

export function deleteVolume(db: Db, id: number): void {
  db.delete(storageVolumes).where(eq(storageVolumes.id, id)).run();
}

/** Oldest first. */
export const listVolumeSnapshots = (db: Db, volumeId: number): VolumeSnapshotRow[] =>
  db.select().from(storageVolumeSnapshots).where(eq(storageVolumeSnapshots.volumeId, volumeId))
    .orderBy(asc(storageVolumeSnapshots.id)).all();

export const getVolumeSnapshot = (db: Db, volumeId: number, name: string): VolumeSnapshotRow | undefined =>
  db.select().from(storageVolumeSnapshots)
    .where(and(eq(storageVolumeSnapshots.volumeId, volumeId), eq(storageVolumeSnapshots.name, name))).get();

export function insertVolumeSnapshot(db: Db, row: Omit<typeof storageVolumeSnapshots.$inferInsert, "id">): VolumeSnapshotRow {
  return db.insert(storageVolumeSnapshots).values(row).returning().get();
}

export function updateVolumeSnapshot(db: Db, id: number, changes: Partial<Pick<VolumeSnapshotRow, "description" | "expiresAt">>): void {
  db.update(storageVolumeSnapshots).set(changes).where(eq(storageVolumeSnapshots.id, id)).run();
}

/** Snapshots with an expiry, with their volume's pool and name. */
export const expiringVolumeSnapshots = (db: Db) =>
  db.select({ pool: storageVolumes.pool, volume: storageVolumes.name, name: storageVolumeSnapshots.name, expiresAt: storageVolumeSnapshots.expiresAt })
    .from(storageVolumeSnapshots).innerJoin(storageVolumes, eq(storageVolumes.id, storageVolumeSnapshots.volumeId))
    .where(ne(storageVolumeSnapshots.expiresAt, "")).all();

export function deleteVolumeSnapshot(db: Db, id: number): void {
  db.delete(storageVolumeSnapshots).where(eq(storageVolumeSnapshots.id, id)).run();
}

const usesVolume = (pool: string, volume: string) => (d: Record<string, string>) =>
  d.type === "disk" && d.pool === pool && d.source === volume && d.path !== "/";

/** Instances (after profile expansion) then profiles with a disk device on the volume, as URLs. */
export function volumeUsedBy(db: Db, pool: string, volume: string): string[] {
  const allProfiles = db.select().from(profiles).orderBy(asc(profiles.name)).all();
  const expand = deviceExpander(db);
  const uses = usesVolume(pool, volume);
  const used: string[] = [];
  for (const inst of db.select().from(instances).orderBy(asc(instances.name)).all()) {
    if (Object.values(expand(inst)).some(uses)) used.push(instanceUrl(inst.name));
  }
  for (const p of allProfiles) if (Object.values(p.devices).some(uses)) used.push(profileUrl(p.project, p.name));
  return used;
}
