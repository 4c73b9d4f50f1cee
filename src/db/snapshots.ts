// Queries on the instance_snapshots table, addressed by instance name and snapshot name.
import { and, asc, eq, ne } from "drizzle-orm";
import type { Db } from "./index.ts";
import { instances, instanceSnapshots } from "./schema.ts";

export type SnapshotRow = typeof instanceSnapshots.$inferSelect;
export type NewSnapshotRow = Omit<typeof instanceSnapshots.$inferInsert, "instanceId" | "id">;

const instanceId = (db: Db, instance: string): number | undefined =>
  db.select({ id: instances.id }).from(instances).where(eq(instances.name, instance)).get()?.id;

/** Oldest first (creation order), as LXD lists them. */
export function listSnapshots(db: Db, instance: string): SnapshotRow[] {
  const id = instanceId(db, instance);
  return id === undefined ? [] : snapshotsOf(db, id);
}

/** One instance's snapshots by its row id, oldest first. */
export const snapshotsOf = (db: Db, instanceId: number): SnapshotRow[] =>
  db.select().from(instanceSnapshots).where(eq(instanceSnapshots.instanceId, instanceId)).orderBy(asc(instanceSnapshots.id)).all();

/** Rows of a per-instance table by instance id, in the order given (a listing reads each table once). */
export function groupByInstance<T extends { instanceId: number }>(rows: T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const row of rows) {
    const list = out.get(row.instanceId);
    if (list) list.push(row);
    else out.set(row.instanceId, [row]);
  }
  return out;
}

/** Every instance's snapshots by instance id, oldest first: one query for a whole listing. */
export const snapshotsByInstance = (db: Db): Map<number, SnapshotRow[]> =>
  groupByInstance(db.select().from(instanceSnapshots).orderBy(asc(instanceSnapshots.id)).all());

export function getSnapshot(db: Db, instance: string, name: string): SnapshotRow | undefined {
  const id = instanceId(db, instance);
  if (id === undefined) return undefined;
  return db.select().from(instanceSnapshots)
    .where(and(eq(instanceSnapshots.instanceId, id), eq(instanceSnapshots.name, name))).get();
}

export function insertSnapshot(db: Db, instance: string, row: NewSnapshotRow): SnapshotRow {
  const id = instanceId(db, instance);
  if (id === undefined) throw new Error(`instance "${instance}" not found`);
  return db.insert(instanceSnapshots).values({ ...row, instanceId: id }).returning().get();
}

export function updateSnapshot(db: Db, instance: string, name: string, changes: Partial<NewSnapshotRow>): void {
  const id = instanceId(db, instance);
  if (id === undefined) return;
  db.update(instanceSnapshots).set(changes)
    .where(and(eq(instanceSnapshots.instanceId, id), eq(instanceSnapshots.name, name))).run();
}

export function deleteSnapshot(db: Db, instance: string, name: string): void {
  const id = instanceId(db, instance);
  if (id === undefined) return;
  db.delete(instanceSnapshots)
    .where(and(eq(instanceSnapshots.instanceId, id), eq(instanceSnapshots.name, name))).run();
}

/** Every snapshot with a non-empty expiry, with its instance's name (for the expiry timer). */
export function expiringSnapshots(db: Db): { instance: string; name: string; expiresAt: string }[] {
  return db.select({ instance: instances.name, name: instanceSnapshots.name, expiresAt: instanceSnapshots.expiresAt })
    .from(instanceSnapshots).innerJoin(instances, eq(instances.id, instanceSnapshots.instanceId))
    .where(ne(instanceSnapshots.expiresAt, "")).all();
}
