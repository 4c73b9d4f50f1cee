// Queries on the instance_backups table, addressed by instance name and backup name.
import { and, asc, eq, ne } from "drizzle-orm";
import type { Db } from "./index.ts";
import { instanceBackups, instances } from "./schema.ts";

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
