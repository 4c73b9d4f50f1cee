// Queries on the storage_pools table, and the API view of a pool (with `used_by`).
import { and, eq } from "drizzle-orm";
import type { StoragePool } from "../api/storage.ts";
import { rootDisk } from "../config/expand.ts";
import type { Db } from "./index.ts";
import { deviceExpander } from "./projects.ts";
import { instanceUrl, profileUrl } from "../api/project-names.ts";
import { instances, profiles, storagePoolMembers, storagePools, storageVolumes } from "./schema.ts";

export type PoolRow = typeof storagePools.$inferSelect;
export type NewPoolRow = typeof storagePools.$inferInsert;

export const listPools = (db: Db): PoolRow[] => db.select().from(storagePools).orderBy(storagePools.name).all();

export const getPool = (db: Db, name: string): PoolRow | undefined =>
  db.select().from(storagePools).where(eq(storagePools.name, name)).get();

export function createPool(db: Db, row: NewPoolRow): PoolRow {
  return db.insert(storagePools).values(row).returning().get();
}

export function updatePool(db: Db, name: string, fields: Partial<Pick<PoolRow, "description" | "config" | "status">>): void {
  db.update(storagePools).set(fields).where(eq(storagePools.name, name)).run();
}

export function deletePool(db: Db, name: string): void {
  db.delete(storagePoolMembers).where(eq(storagePoolMembers.pool, name)).run();
  db.delete(storagePools).where(eq(storagePools.name, name)).run();
}

export type PoolMemberRow = typeof storagePoolMembers.$inferSelect;

/** Every member's entry for a pool (clustered only). */
export const poolMembers = (db: Db, pool: string): PoolMemberRow[] =>
  db.select().from(storagePoolMembers).where(eq(storagePoolMembers.pool, pool)).orderBy(storagePoolMembers.member).all();

/** One member's entries, by pool. */
export const memberPools = (db: Db, member: string): Map<string, PoolMemberRow> =>
  new Map(db.select().from(storagePoolMembers).where(eq(storagePoolMembers.member, member)).all().map((r) => [r.pool, r]));

export function putPoolMember(db: Db, row: typeof storagePoolMembers.$inferInsert): void {
  db.insert(storagePoolMembers).values(row)
    .onConflictDoUpdate({ target: [storagePoolMembers.pool, storagePoolMembers.member], set: { config: row.config ?? {}, status: row.status ?? "Pending" } }).run();
}

export function setPoolMemberStatus(db: Db, pool: string, member: string, status: string): void {
  db.update(storagePoolMembers).set({ status }).where(and(eq(storagePoolMembers.pool, pool), eq(storagePoolMembers.member, member))).run();
}

/**
 * What uses a pool, as LXD lists it: instances whose root disk (after profile expansion) lives
 * there, profiles with a disk device on it, then its custom volumes. URLs, each group sorted by name.
 */
export function poolUsedBy(db: Db, pool: string): string[] {
  const allProfiles = db.select().from(profiles).orderBy(profiles.name).all();
  const expand = deviceExpander(db);
  const used: string[] = [];
  for (const inst of db.select().from(instances).orderBy(instances.name).all()) {
    if (rootDisk(expand(inst))?.[1].pool === pool) used.push(instanceUrl(inst.name));
  }
  for (const p of allProfiles) {
    if (Object.values(p.devices).some((d) => d.type === "disk" && d.pool === pool)) used.push(profileUrl(p.project, p.name));
  }
  for (const v of db.select().from(storageVolumes).where(eq(storageVolumes.pool, pool)).orderBy(storageVolumes.name).all()) {
    used.push(`/1.0/storage-pools/${pool}/volumes/custom/${v.name}`);
  }
  return used;
}

export function poolToApi(db: Db, row: PoolRow): StoragePool {
  return {
    name: row.name,
    driver: row.driver,
    description: row.description,
    config: row.config,
    status: row.status,
    locations: ["none"],
    used_by: poolUsedBy(db, row.name),
  };
}
