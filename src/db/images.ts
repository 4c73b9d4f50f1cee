// Queries on the images and image_aliases tables. Rows belong to a project (`features.images`);
// the files are one per fingerprint, whichever projects have a row for it.
import { and, asc, eq, like } from "drizzle-orm";
import type { Db } from "./index.ts";
import { imageAliases, images } from "./schema.ts";

export type ImageRow = typeof images.$inferSelect;
export type NewImageRow = typeof images.$inferInsert;
export type ImageAliasRow = typeof imageAliases.$inferSelect;

const image = (project: string, fingerprint: string) => and(eq(images.project, project), eq(images.fingerprint, fingerprint));
const alias = (project: string, name: string) => and(eq(imageAliases.project, project), eq(imageAliases.name, name));

export const listImages = (db: Db, project = "default"): ImageRow[] =>
  db.select().from(images).where(eq(images.project, project)).orderBy(asc(images.fingerprint)).all();

export const getImage = (db: Db, fingerprint: string, project = "default"): ImageRow | undefined =>
  db.select().from(images).where(image(project, fingerprint)).get();

/** The projects that have a row for the fingerprint (its file goes with the last one). */
export const imageProjects = (db: Db, fingerprint: string): string[] =>
  db.select({ project: images.project }).from(images).where(eq(images.fingerprint, fingerprint)).all().map((r) => r.project);

/** Every fingerprint some project has. */
export const allFingerprints = (db: Db): string[] =>
  [...new Set(db.select({ fp: images.fingerprint }).from(images).all().map((r) => r.fp))];

/** Images whose fingerprint starts with `prefix` (callers pass lowercase hex only, so no LIKE escaping is needed). */
export const imagesByPrefix = (db: Db, prefix: string, project = "default"): ImageRow[] =>
  db.select().from(images).where(and(eq(images.project, project), like(images.fingerprint, `${prefix}%`))).limit(2).all();

export const insertImage = (db: Db, row: NewImageRow): ImageRow => db.insert(images).values(row).returning().get();

export function updateImage(db: Db, fingerprint: string, changes: Partial<NewImageRow>, project = "default"): void {
  db.update(images).set(changes).where(image(project, fingerprint)).run();
}

/** Deletes an image and its aliases in one transaction (independent of foreign-key enforcement). */
export function deleteImage(db: Db, fingerprint: string, project = "default"): void {
  db.transaction((tx) => {
    tx.delete(imageAliases).where(and(eq(imageAliases.project, project), eq(imageAliases.fingerprint, fingerprint))).run();
    tx.delete(images).where(image(project, fingerprint)).run();
  });
}

export const listAliases = (db: Db, project = "default"): ImageAliasRow[] =>
  db.select().from(imageAliases).where(eq(imageAliases.project, project)).orderBy(asc(imageAliases.name)).all();

export const getAlias = (db: Db, name: string, project = "default"): ImageAliasRow | undefined =>
  db.select().from(imageAliases).where(alias(project, name)).get();

export const aliasesOf = (db: Db, fingerprint: string, project = "default"): ImageAliasRow[] =>
  db.select().from(imageAliases).where(and(eq(imageAliases.project, project), eq(imageAliases.fingerprint, fingerprint)))
    .orderBy(asc(imageAliases.name)).all();

export const insertAlias = (db: Db, row: typeof imageAliases.$inferInsert): ImageAliasRow => db.insert(imageAliases).values(row).returning().get();

export function updateAlias(db: Db, name: string, changes: Partial<Pick<ImageAliasRow, "fingerprint" | "description">>, project = "default"): void {
  db.update(imageAliases).set(changes).where(alias(project, name)).run();
}

export function renameAlias(db: Db, from: string, to: string, project = "default"): void {
  db.update(imageAliases).set({ name: to }).where(alias(project, from)).run();
}

export function deleteAlias(db: Db, name: string, project = "default"): void {
  db.delete(imageAliases).where(alias(project, name)).run();
}
