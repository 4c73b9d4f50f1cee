// Queries on the instances table.
import { eq } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type * as schema from "./schema.ts";
import { instances } from "./schema.ts";
import { projectOfStored } from "../api/project-names.ts";

type Db = BunSQLiteDatabase<typeof schema>;
export type InstanceRow = typeof instances.$inferSelect;
export type NewInstanceRow = typeof instances.$inferInsert;

/** Every instance, or those located at one cluster member. */
export const listInstances = (db: Db, location?: string): InstanceRow[] =>
  db.select().from(instances).where(location === undefined ? undefined : eq(instances.location, location)).orderBy(instances.name).all();

export const getInstance = (db: Db, name: string): InstanceRow | undefined =>
  db.select().from(instances).where(eq(instances.name, name)).get();

/** The project follows from the storage name when the row does not say it. */
export const insertInstance = (db: Db, row: NewInstanceRow): InstanceRow =>
  db.insert(instances).values({ ...row, project: row.project ?? projectOfStored(row.name) }).returning().get();

export function updateInstance(db: Db, name: string, changes: Partial<NewInstanceRow>): void {
  db.update(instances).set(changes).where(eq(instances.name, name)).run();
}

export function deleteInstance(db: Db, name: string): void {
  db.delete(instances).where(eq(instances.name, name)).run();
}
