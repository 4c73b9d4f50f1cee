// Queries on the profiles table, and the API view of a profile (with `used_by`).
import { eq } from "drizzle-orm";
import type { Profile } from "../api/profile.ts";
import type { Db } from "./index.ts";
import { images, instances, profiles } from "./schema.ts";

export type ProfileRow = typeof profiles.$inferSelect;
export type ProfileFields = Pick<ProfileRow, "description" | "config" | "devices">;

export const listProfiles = (db: Db): ProfileRow[] => db.select().from(profiles).orderBy(profiles.name).all();

export const getProfile = (db: Db, name: string): ProfileRow | undefined =>
  db.select().from(profiles).where(eq(profiles.name, name)).get();

export function createProfile(db: Db, name: string, fields: ProfileFields): ProfileRow {
  return db.insert(profiles).values({ name, ...fields }).returning().get();
}

export function updateProfile(db: Db, name: string, fields: ProfileFields): void {
  db.update(profiles).set(fields).where(eq(profiles.name, name)).run();
}

/** Renames the profile and every reference to it (instances' and images' profile lists), atomically. */
export function renameProfile(db: Db, from: string, to: string): void {
  const swap = (list: string[]) => list.map((p) => (p === from ? to : p));
  db.transaction((tx) => {
    tx.update(profiles).set({ name: to }).where(eq(profiles.name, from)).run();
    for (const row of tx.select({ id: instances.id, profiles: instances.profiles }).from(instances).all()) {
      if (row.profiles.includes(from)) tx.update(instances).set({ profiles: swap(row.profiles) }).where(eq(instances.id, row.id)).run();
    }
    for (const row of tx.select({ fp: images.fingerprint, profiles: images.profiles }).from(images).all()) {
      if (row.profiles.includes(from)) tx.update(images).set({ profiles: swap(row.profiles) }).where(eq(images.fingerprint, row.fp)).run();
    }
  });
}

/** Deletes the profile and drops it from images' default profile lists (instances must not use it). */
export function deleteProfile(db: Db, name: string): void {
  db.transaction((tx) => {
    tx.delete(profiles).where(eq(profiles.name, name)).run();
    for (const row of tx.select({ fp: images.fingerprint, profiles: images.profiles }).from(images).all()) {
      if (row.profiles.includes(name)) {
        tx.update(images).set({ profiles: row.profiles.filter((p) => p !== name) }).where(eq(images.fingerprint, row.fp)).run();
      }
    }
  });
}

/** Names of the instances whose profile list includes `name`, sorted. */
export function instancesUsingProfile(db: Db, name: string): string[] {
  return db.select({ name: instances.name, profiles: instances.profiles }).from(instances).orderBy(instances.name).all()
    .filter((r) => r.profiles.includes(name))
    .map((r) => r.name);
}

export function profileToApi(db: Db, row: ProfileRow): Profile {
  return {
    name: row.name,
    description: row.description,
    config: row.config,
    devices: row.devices,
    used_by: instancesUsingProfile(db, row.name).map((n) => `/1.0/instances/${n}`),
    project: "default",
  };
}
