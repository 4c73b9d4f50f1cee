// Queries on the profiles table, and the API view of a profile (with `used_by`). Profiles belong to
// a project; `users` lists the projects whose instances and images use that project's profiles
// (itself, and those without `features.profiles` when it is default).
import { and, eq, inArray } from "drizzle-orm";
import type { Profile } from "../api/profile.ts";
import type { Db } from "./index.ts";
import { instanceUrl } from "../api/project-names.ts";
import { images, instances, profiles } from "./schema.ts";

export type ProfileRow = typeof profiles.$inferSelect;
export type ProfileFields = Pick<ProfileRow, "description" | "config" | "devices">;

const of = (project: string, name: string) => and(eq(profiles.project, project), eq(profiles.name, name));

export const listProfiles = (db: Db, project = "default"): ProfileRow[] =>
  db.select().from(profiles).where(eq(profiles.project, project)).orderBy(profiles.name).all();

export const getProfile = (db: Db, name: string, project = "default"): ProfileRow | undefined =>
  db.select().from(profiles).where(of(project, name)).get();

export function createProfile(db: Db, name: string, fields: ProfileFields, project = "default"): ProfileRow {
  return db.insert(profiles).values({ name, project, ...fields }).returning().get();
}

export function updateProfile(db: Db, name: string, fields: ProfileFields, project = "default"): void {
  db.update(profiles).set(fields).where(of(project, name)).run();
}

/** Renames the profile and every reference to it (instances' and images' profile lists), atomically. */
export function renameProfile(db: Db, from: string, to: string, project = "default", users = [project]): void {
  const swap = (list: string[]) => list.map((p) => (p === from ? to : p));
  db.transaction((tx) => {
    tx.update(profiles).set({ name: to }).where(of(project, from)).run();
    for (const row of tx.select({ id: instances.id, profiles: instances.profiles }).from(instances).where(inArray(instances.project, users)).all()) {
      if (row.profiles.includes(from)) tx.update(instances).set({ profiles: swap(row.profiles) }).where(eq(instances.id, row.id)).run();
    }
    for (const row of tx.select({ fp: images.fingerprint, project: images.project, profiles: images.profiles }).from(images).where(inArray(images.project, users)).all()) {
      if (row.profiles.includes(from)) {
        tx.update(images).set({ profiles: swap(row.profiles) }).where(and(eq(images.project, row.project), eq(images.fingerprint, row.fp))).run();
      }
    }
  });
}

/** Deletes the profile and drops it from images' default profile lists (instances must not use it). */
export function deleteProfile(db: Db, name: string, project = "default", users = [project]): void {
  db.transaction((tx) => {
    tx.delete(profiles).where(of(project, name)).run();
    for (const row of tx.select({ fp: images.fingerprint, project: images.project, profiles: images.profiles }).from(images).where(inArray(images.project, users)).all()) {
      if (row.profiles.includes(name)) {
        tx.update(images).set({ profiles: row.profiles.filter((p) => p !== name) })
          .where(and(eq(images.project, row.project), eq(images.fingerprint, row.fp))).run();
      }
    }
  });
}

/** Storage names of the instances (of the `users` projects) whose profile list includes `name`, sorted. */
export function instancesUsingProfile(db: Db, name: string, users = ["default"]): string[] {
  return db.select({ name: instances.name, profiles: instances.profiles }).from(instances).where(inArray(instances.project, users))
    .orderBy(instances.name).all()
    .filter((r) => r.profiles.includes(name))
    .map((r) => r.name);
}

export function profileToApi(db: Db, row: ProfileRow, users = [row.project]): Profile {
  return {
    name: row.name,
    description: row.description,
    config: row.config,
    devices: row.devices,
    used_by: instancesUsingProfile(db, row.name, users).map((n) => instanceUrl(n)),
    project: row.project,
  };
}
