// `lxd recover` (LXD's /internal/recover/validate and /internal/recover/import): after the
// database was lost, the pools still hold the instance volumes, each with a backup.yaml (its
// records as LXD writes them, kept current by Backups.saveFile). Pools the database lacks too are
// named by the user (name, driver, source) and created again; the instances found come back with
// their config, snapshots and identity. Custom volumes keep no records on disk: they come back
// with their snapshots and an empty config, as in LXD.
import { readFile } from "node:fs/promises";
import { ApiError } from "../api/error.ts";
import type { RecoverResult } from "../api/recover.ts";
import type { Db } from "../db/index.ts";
import { getProfile } from "../db/profiles.ts";
import { isTrue } from "../config/values.ts";
import { getProject, projectsWithOwn } from "../db/projects.ts";
import { nameInProject, storageName } from "../api/project-names.ts";
import { createPool } from "../db/storage-pools.ts";
import { getNetwork } from "../db/networks.ts";
import { getVolume, insertVolume, insertVolumeSnapshot } from "../db/storage-volumes.ts";
import type { PoolBackend } from "../storage/backend.ts";
import type { Pool } from "../storage/driver.ts";
import type { StoragePools } from "../storage/pools.ts";
/** What recovery needs of the instance manager. */
export interface RecoverHost {
  list(): { name: string }[];
  adoptRecovered(u: UnknownInstance): unknown;
  /** The member recovering ("none" standalone): the volumes found are its own. */
  location(): string;
}

export interface UnknownInstance {
  pool: string;
  /** Its storage name (`<project>_<name>` outside default). */
  name: string;
  project: string;
  snapshots: string[];
  baseImage?: string;
  /** backup.yaml's `container` (api.Instance) and `snapshots` (api.InstanceSnapshot[]). */
  record: Record<string, any>;
  snapshotRecords: Record<string, any>[];
}

/** Instance volumes in `pool` whose backup.yaml names them and that `known` lacks. */
export async function unknownInstances(pool: PoolBackend, known: Set<string>): Promise<UnknownInstance[]> {
  const out: UnknownInstance[] = [];
  for (const name of await pool.instanceVolumes()) {
    if (known.has(name)) continue;
    let doc: any;
    try {
      doc = Bun.YAML.parse(await readFile(pool.backupFile(name), "utf8"));
    } catch {
      continue; // no records: a volume whose creation never finished
    }
    const container = doc?.container;
    const project = typeof container?.project === "string" && container.project ? container.project : "default";
    // A copy cut short carries its source's records: only a volume its records name counts.
    if (typeof container?.name !== "string" || storageName(project, container.name) !== name) continue;
    const snapshotRecords = Array.isArray(doc.snapshots) ? doc.snapshots.filter((s: any) => typeof s?.name === "string") : [];
    out.push({
      pool: pool.name, name, project, snapshots: snapshotRecords.map((s: any) => s.name as string),
      baseImage: container.config?.["volatile.base_image"] || undefined, record: container, snapshotRecords,
    });
  }
  return out;
}

/** A custom volume the database lacks. */
export interface UnknownCustom {
  pool: string;
  /** Its storage name: `<project>_<name>` for a project with its own volumes. */
  name: string;
  project: string;
  snapshots: string[];
}

/** The project of a custom volume stored as `stored`: the one its prefix names among the projects
 *  with their own volumes (created again before recovering), default otherwise. */
function volumeProject(stored: string, own: Set<string>): string {
  const cut = stored.indexOf("_");
  return cut > 0 && own.has(stored.slice(0, cut)) ? stored.slice(0, cut) : "default";
}

/** A pool named in a recover request (LXD's api.StoragePoolsPost). */
export interface RecoverPool {
  name: string;
  driver: string;
  config?: Record<string, string>;
  description?: string;
}



export class Recover {
  constructor(private readonly db: Db, private readonly instances: RecoverHost, private readonly storage: StoragePools) {}

  /** The pools to scan: those in the database and the ones the request adds. */
  private pools(extra: RecoverPool[]): { pool: Pool; isNew: boolean }[] {
    const known = this.storage.list();
    const out = known.map((p) => ({ pool: p as Pool, isNew: false }));
    for (const p of extra) {
      if (known.some((k) => k.name === p.name)) continue;
      if (!this.storage.supportedDrivers().includes(p.driver)) throw new ApiError(400, `Storage pool "${p.name}": unknown driver "${p.driver}"`);
      if (!p.config?.source) throw new ApiError(400, `Storage pool "${p.name}": its source is needed to find it again`);
      out.push({ pool: { name: p.name, driver: p.driver, config: { ...p.config } }, isNew: true });
    }
    return out;
  }

  private async scan(extra: RecoverPool[]): Promise<{ pools: { pool: Pool; isNew: boolean }[]; found: UnknownInstance[]; custom: UnknownCustom[]; errors: string[] }> {
    const pools = this.pools(extra);
    const known = new Set(this.instances.list().map((r) => r.name));
    const found: UnknownInstance[] = [];
    const custom: UnknownCustom[] = [];
    const ownVolumes = projectsWithOwn(this.db, "storage.volumes");
    for (const { pool } of pools) {
      try {
        const backend = this.storage.backend(pool);
        for (const u of await unknownInstances(backend, known)) if (!found.some((f) => f.name === u.name)) found.push(u);
        for (const v of await backend.customVolumes()) {
          if (!getVolume(this.db, pool.name, v.name, this.instances.location())) custom.push({ pool: pool.name, project: volumeProject(v.name, ownVolumes), ...v });
        }
      } catch (err) {
        throw new ApiError(400, `Failed to scan storage pool "${pool.name}": ${(err as Error).message}`);
      }
    }
    const errors = new Set<string>();
    const ownNetworks = projectsWithOwn(this.db, "networks");
    for (const u of found) {
      const shown = nameInProject(u.project, u.name);
      const project = getProject(this.db, u.project);
      if (!project) {
        errors.add(`Failed to find project "${u.project}" (instance "${shown}")`);
        continue;
      }
      const profilesOf = u.project === "default" || isTrue(project.config["features.profiles"]) ? u.project : "default";
      for (const p of (u.record.profiles ?? []) as string[]) {
        if (!getProfile(this.db, p, profilesOf)) errors.add(`Failed to find profile "${p}" (instance "${shown}")`);
      }
      for (const d of Object.values((u.record.devices ?? {}) as Record<string, Record<string, string>>)) {
        const network = d.network && storageName(ownNetworks.has(u.project) ? u.project : "default", d.network);
        if (d.type === "nic" && network && !getNetwork(this.db, network)) errors.add(`Failed to find network "${d.network}" (instance "${shown}")`);
      }
    }
    return { pools, found, custom, errors: [...errors] };
  }

  async validate(extra: RecoverPool[]): Promise<RecoverResult> {
    const { found, custom, errors } = await this.scan(extra);
    const unknown = [
      ...found.map((u) => ({ name: nameInProject(u.project, u.name), type: "container", snapshotCount: u.snapshots.length, project: u.project, pool: u.pool })),
      ...custom.map((v) => ({ name: nameInProject(v.project, v.name), type: "custom", snapshotCount: v.snapshots.length, project: v.project, pool: v.pool })),
    ];
    return { UnknownVolumes: unknown.length ? unknown : null, DependencyErrors: errors.length ? errors : null };
  }

  /** Creates the missing pools' rows, then the instances with their snapshots. */
  async import(extra: RecoverPool[]): Promise<void> {
    const { pools, found, custom, errors } = await this.scan(extra);
    if (errors.length) throw new ApiError(400, `Cannot recover: ${errors.join("; ")}`);
    for (const { pool, isNew } of pools) {
      if (isNew && [...found, ...custom].some((u) => u.pool === pool.name)) {
        createPool(this.db, { name: pool.name, driver: pool.driver, description: "", config: pool.config });
      }
    }
    // Volumes first: an instance's disk devices may name them.
    const now = new Date().toISOString();
    for (const v of custom) {
      const row = insertVolume(this.db, { pool: v.pool, name: v.name, project: v.project, location: this.instances.location(), type: "custom", description: "", config: {}, createdAt: now });
      for (const s of v.snapshots) insertVolumeSnapshot(this.db, { volumeId: row.id, name: s, description: "", config: {}, createdAt: now, expiresAt: "" });
    }
    for (const u of found) await this.instances.adoptRecovered(u);
  }
}
