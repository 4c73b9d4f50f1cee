// Queries on the images and image_aliases tables.
import { asc, eq, like } from "drizzle-orm";
import type { Db } from "./index.ts";
import { imageAliases, images } from "./schema.ts";

export type ImageRow = typeof images.$inferSelect;
export type NewImageRow = typeof images.$inferInsert;
export type ImageAliasRow = typeof imageAliases.$inferSelect;

export const listImages = (db: Db): ImageRow[] => db.select().from(images).orderBy(asc(images.fingerprint)).all();

export const getImage = (db: Db, fingerprint: string): ImageRow | undefined =>
  db.select().from(images).where(eq(images.fingerprint, fingerprint)).get();

/** Images whose fingerprint starts with `prefix` (callers pass lowercase hex only, so no LIKE escaping is needed). */
export const imagesByPrefix = (db: Db, prefix: string): ImageRow[] =>
  db.select().from(images).where(like(images.fingerprint, `${prefix}%`)).limit(2).all();

export const insertImage = (db: Db, row: NewImageRow): ImageRow => db.insert(images).values(row).returning().get();

export function updateImage(db: Db, fingerprint: string, changes: Partial<NewImageRow>): void {
  db.update(images).set(changes).where(eq(images.fingerprint, fingerprint)).run();
}

/** Deletes an image and its aliases in one transaction (independent of foreign-key enforcement). */
export function deleteImage(db: Db, fingerprint: string): void {
  db.transaction((tx) => {
    tx.delete(imageAliases).where(eq(imageAliases.fingerprint, fingerprint)).run();
    tx.delete(images).where(eq(images.fingerprint, fingerprint)).run();
  });
}

export const listAliases = (db: Db): ImageAliasRow[] => db.select().from(imageAliases).orderBy(asc(imageAliases.name)).all();

export const getAlias = (db: Db, name: string): ImageAliasRow | undefined =>
  db.select().from(imageAliases).where(eq(imageAliases.name, name)).get();

export const aliasesOf = (db: Db, fingerprint: string): ImageAliasRow[] =>
  db.select().from(imageAliases).where(eq(imageAliases.fingerprint, fingerprint)).orderBy(asc(imageAliases.name)).all();

export const insertAlias = (db: Db, row: typeof imageAliases.$inferInsert): ImageAliasRow => db.insert(imageAliases).values(row).returning().get();

export function updateAlias(db: Db, name: string, changes: Partial<Pick<ImageAliasRow, "fingerprint" | "description">>): void {
  db.update(imageAliases).set(changes).where(eq(imageAliases.name, name)).run();
}

export function renameAlias(db: Db, from: string, to: string): void {
  db.update(imageAliases).set({ name: to }).where(eq(imageAliases.name, from)).run();
}

export function deleteAlias(db: Db, name: string): void {
  db.delete(imageAliases).where(eq(imageAliases.name, name)).run();
}
