// Queries on the cluster_members table (global state of a cluster; empty on a standalone server).
import { count, eq, getTableColumns } from "drizzle-orm";
import type { Db } from "./index.ts";
import { clusterMembers, instances, networkMembers, storagePoolMembers, storageVolumes } from "./schema.ts";

export type MemberRow = typeof clusterMembers.$inferSelect;

export const listMembers = (db: Db): MemberRow[] => db.select().from(clusterMembers).orderBy(clusterMembers.id).all();

export const getMember = (db: Db, name: string): MemberRow | undefined =>
  db.select().from(clusterMembers).where(eq(clusterMembers.name, name)).get();

export function insertMember(db: Db, row: typeof clusterMembers.$inferInsert): void {
  db.insert(clusterMembers).values(row).run();
}

export function updateMember(db: Db, name: string, changes: Partial<typeof clusterMembers.$inferInsert>): void {
  db.update(clusterMembers).set(changes).where(eq(clusterMembers.name, name)).run();
}

export function deleteMember(db: Db, name: string): void {
  db.delete(clusterMembers).where(eq(clusterMembers.name, name)).run();
  db.delete(storagePoolMembers).where(eq(storagePoolMembers.member, name)).run();
  db.delete(networkMembers).where(eq(networkMembers.member, name)).run();
}

/** A renamed member keeps its instances. */
export function renameMember(db: Db, from: string, to: string): void {
  db.transaction((tx) => {
    tx.update(clusterMembers).set({ name: to }).where(eq(clusterMembers.name, from)).run();
    tx.update(instances).set({ location: to }).where(eq(instances.location, from)).run();
    tx.update(storageVolumes).set({ location: to }).where(eq(storageVolumes.location, from)).run();
    tx.update(storagePoolMembers).set({ member: to }).where(eq(storagePoolMembers.member, from)).run();
    tx.update(networkMembers).set({ member: to }).where(eq(networkMembers.member, from)).run();
  });
}

/** Instances per member (members without any included as 0), counted by the database. */
export function instanceCounts(db: Db): Map<string, number> {
  return new Map(membersWithCounts(db).map((m) => [m.name, m.instances]));
}

/** Every member with how many instances it holds, in one query (placement, list fan-out). */
export const membersWithCounts = (db: Db): (MemberRow & { instances: number })[] =>
  db.select({ ...getTableColumns(clusterMembers), instances: count(instances.id) }).from(clusterMembers)
    .leftJoin(instances, eq(instances.location, clusterMembers.name)).groupBy(clusterMembers.id).orderBy(clusterMembers.id).all();

/** The member holding an instance, in one query (what forwarding asks on every instance request). */
export const memberOfInstance = (db: Db, instance: string): MemberRow | undefined =>
  db.select(getTableColumns(clusterMembers)).from(instances).innerJoin(clusterMembers, eq(clusterMembers.name, instances.location))
    .where(eq(instances.name, instance)).get();

/** Gives every instance and custom volume of a standalone server to the member it becomes. */
export function claimInstances(db: Db, member: string): void {
  db.update(instances).set({ location: member }).run();
  db.update(storageVolumes).set({ location: member }).run();
}

/** `lxd cluster remove --force`: the instances and custom volumes of a member that leaves are forgotten. */
export function forgetInstancesAt(db: Db, member: string): void {
  db.delete(instances).where(eq(instances.location, member)).run();
  db.delete(storageVolumes).where(eq(storageVolumes.location, member)).run();
}
