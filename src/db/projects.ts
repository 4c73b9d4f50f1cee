// Queries on the projects table, and what a project holds (its rows in the other tables).
import { and, eq } from "drizzle-orm";
import { expandDevices } from "../config/expand.ts";
import { isTrue } from "../config/values.ts";
import type { Db } from "./index.ts";
import { images, instances, networks, profiles, projects, storageVolumes } from "./schema.ts";
import { nameInProject } from "../api/project-names.ts";

export type ProjectRow = typeof projects.$inferSelect;
export type ProjectFields = Pick<ProjectRow, "description" | "config">;

export const listProjects = (db: Db): ProjectRow[] => db.select().from(projects).orderBy(projects.name).all();

export const getProject = (db: Db, name: string): ProjectRow | undefined =>
  db.select().from(projects).where(eq(projects.name, name)).get();

export function createProject(db: Db, name: string, fields: ProjectFields): ProjectRow {
  return db.insert(projects).values({ name, ...fields }).returning().get();
}

export function updateProject(db: Db, name: string, fields: Partial<ProjectFields>): void {
  db.update(projects).set(fields).where(eq(projects.name, name)).run();
}

/** Renames an empty project: only its own profiles (the empty `default` one) follow. */
export function renameProject(db: Db, from: string, to: string): void {
  db.transaction((tx) => {
    tx.update(projects).set({ name: to }).where(eq(projects.name, from)).run();
    tx.update(profiles).set({ project: to }).where(eq(profiles.project, from)).run();
  });
}

export function deleteProject(db: Db, name: string): void {
  db.transaction((tx) => {
    tx.delete(profiles).where(eq(profiles.project, name)).run();
    tx.delete(projects).where(eq(projects.name, name)).run();
  });
}

/** What a project holds, as LXD's `used_by` names it (`?project=` outside default). */
export function projectContents(db: Db, project: string) {
  return {
    instances: db.select({ name: instances.name }).from(instances).where(eq(instances.project, project)).orderBy(instances.name).all().map((r) => nameInProject(project, r.name)),
    profiles: db.select({ name: profiles.name }).from(profiles).where(eq(profiles.project, project)).orderBy(profiles.name).all().map((r) => r.name),
    images: db.select({ fp: images.fingerprint }).from(images).where(eq(images.project, project)).orderBy(images.fingerprint).all().map((r) => r.fp),
    volumes: db.select({ pool: storageVolumes.pool, name: storageVolumes.name, type: storageVolumes.type }).from(storageVolumes)
      .where(eq(storageVolumes.project, project)).orderBy(storageVolumes.pool, storageVolumes.name).all()
      .map((v) => ({ ...v, name: nameInProject(project, v.name) })),
    networks: db.select({ name: networks.name }).from(networks).where(eq(networks.project, project)).orderBy(networks.name).all().map((r) => nameInProject(project, r.name)),
  };
}

/** Projects other than default with their own `feature` objects ("storage.volumes", "networks"). */
export const projectsWithOwn = (db: Db, feature: "storage.volumes" | "networks"): Set<string> =>
  new Set(listProjects(db).filter((p) => p.name !== "default" && isTrue(p.config[`features.${feature}`])).map((p) => p.name));

/** The `size` of each custom volume a project owns (keyed "pool/storage name"), for `limits.disk`. */
export const projectVolumeSizes = (db: Db, project: string): Map<string, string> =>
  new Map(db.select({ pool: storageVolumes.pool, name: storageVolumes.name, config: storageVolumes.config }).from(storageVolumes)
    .where(eq(storageVolumes.project, project)).all().map((v) => [`${v.pool}/${v.name}`, v.config.size ?? ""]));

export const projectProfile = (db: Db, project: string, name: string) =>
  db.select().from(profiles).where(and(eq(profiles.project, project), eq(profiles.name, name))).get();

type Devices = Record<string, Record<string, string>>;

/** Each instance's devices expanded with its profiles, read from the project whose profiles it
 *  uses (its own with `features.profiles`, else default's): one query per table for a whole listing. */
export function deviceExpander(db: Db): (inst: { project: string; profiles: string[]; devices: Devices }) => Devices {
  const own = new Set(listProjects(db).filter((p) => p.name === "default" || isTrue(p.config["features.profiles"])).map((p) => p.name));
  const byKey = new Map(db.select().from(profiles).all().map((p) => [`${p.project}/${p.name}`, p.devices]));
  return (inst) => {
    const home = own.has(inst.project) ? inst.project : "default";
    return expandDevices(inst.profiles.map((p) => byKey.get(`${home}/${p}`) ?? {}), inst.devices);
  };
}
