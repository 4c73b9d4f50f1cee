// Queries on the storage_volumes and storage_volume_snapshots tables (custom volumes), addressed
// by pool and volume name; and which instances and profiles use a volume through disk devices.
import { and, asc, eq, ne } from "drizzle-orm";
import type { Db } from "./index.ts";
import { deviceExpander, projectsWithOwn } from "./projects.ts";
import { instanceUrl, profileUrl, storageName } from "../api/project-names.ts";
import { instances, profiles, storageVolumes, storageVolumeSnapshots } from "./schema.ts";

export type VolumeRow = typeof storageVolumes.$inferSelect;
export type VolumeSnapshotRow = typeof storageVolumeSnapshots.$inferSelect;

/** A volume's `name` column is its storage name: `<project>_<name>` outside default (as on disk). */
export const listVolumes = (db: Db, pool?: string, project?: string): VolumeRow[] =>
  db.select().from(storageVolumes).where(and(
    pool === undefined ? undefined : eq(storageVolumes.pool, pool),
    project === undefined ? undefined : eq(storageVolumes.project, project),
  )).orderBy(asc(storageVolumes.name)).all();

/** The volume `name` of `location` (a member, or "none" standalone). */
export const getVolume = (db: Db, pool: string, name: string, location: string): VolumeRow | undefined =>
  db.select().from(storageVolumes)
    .where(and(eq(storageVolumes.pool, pool), eq(storageVolumes.name, name), eq(storageVolumes.location, location))).get();

/** The members holding a volume of that name (on a cluster, one per member may). */
export const volumeLocations = (db: Db, pool: string, name: string): string[] =>
  db.select({ location: storageVolumes.location }).from(storageVolumes)
    .where(and(eq(storageVolumes.pool, pool), eq(storageVolumes.name, name))).orderBy(asc(storageVolumes.location)).all().map((r) => r.location);

/** "pool/name" of the custom volumes a member holds. */
export const volumesAt = (db: Db, location: string): string[] =>
  db.select({ pool: storageVolumes.pool, name: storageVolumes.name }).from(storageVolumes)
    .where(eq(storageVolumes.location, location)).orderBy(asc(storageVolumes.pool), asc(storageVolumes.name)).all().map((r) => `${r.pool}/${r.name}`);

/** Gives every volume of a standalone server to the member it becomes. */
export function claimVolumes(db: Db, member: string): void {
  db.update(storageVolumes).set({ location: member }).run();
}

export function insertVolume(db: Db, row: Omit<typeof storageVolumes.$inferInsert, "id">): VolumeRow {
  return db.insert(storageVolumes).values(row).returning().get();
}

export function updateVolume(db: Db, id: number, changes: Partial<Pick<VolumeRow, "description" | "config" | "name" | "project">>): void {
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

export function updateVolumeSnapshot(db: Db, id: number, changes: Partial<Pick<VolumeSnapshotRow, "name" | "description" | "expiresAt">>): void {
  db.update(storageVolumeSnapshots).set(changes).where(eq(storageVolumeSnapshots.id, id)).run();
}

/** Snapshots with an expiry, with their volume's pool and name. */
export const expiringVolumeSnapshots = (db: Db, location: string) =>
  db.select({ pool: storageVolumes.pool, volume: storageVolumes.name, name: storageVolumeSnapshots.name, expiresAt: storageVolumeSnapshots.expiresAt })
    .from(storageVolumeSnapshots).innerJoin(storageVolumes, eq(storageVolumes.id, storageVolumeSnapshots.volumeId))
    .where(and(ne(storageVolumeSnapshots.expiresAt, ""), eq(storageVolumes.location, location))).all();

export function deleteVolumeSnapshot(db: Db, id: number): void {
  db.delete(storageVolumeSnapshots).where(eq(storageVolumeSnapshots.id, id)).run();
}

/** Whether disk device `d` of something in `project` is on the volume stored as `pool`/`stored`:
 *  a device names a volume of its project's volumes project (`ownVolumes`: those with the feature). */
export const diskOnVolume = (pool: string, stored: string, project: string, ownVolumes: Set<string>) => (d: Record<string, string>) =>
  d.type === "disk" && d.pool === pool && d.path !== "/" && d.source !== undefined &&
  storageName(ownVolumes.has(project) ? project : "default", d.source) === stored;

/** Instances (after profile expansion) then profiles with a disk device on the volume, as URLs: on a
 *  cluster, the instances of the volume's member (`location`). */
export function volumeUsedBy(db: Db, pool: string, stored: string, location: string): string[] {
  const allProfiles = db.select().from(profiles).orderBy(asc(profiles.name)).all();
  const expand = deviceExpander(db);
  const own = projectsWithOwn(db, "storage.volumes");
  const used: string[] = [];
  for (const inst of db.select().from(instances).where(eq(instances.location, location)).orderBy(asc(instances.name)).all()) {
    if (Object.values(expand(inst)).some(diskOnVolume(pool, stored, inst.project, own))) used.push(instanceUrl(inst.name));
  }
  for (const p of allProfiles) if (Object.values(p.devices).some(diskOnVolume(pool, stored, p.project, own))) used.push(profileUrl(p.project, p.name));
  return used;
}
