// The storage pool manager: pools' rows and their storage created, changed and deleted together,
// config checked against the pool's driver, lifecycle events sent. `backend()` is the only way
// from a pool to its driver.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { StoragePoolResources } from "../api/resources.ts";
import type { StoragePool } from "../api/storage.ts";
import { filesystemUsage } from "../kernel/resources.ts";
import { poolDir } from "../paths.ts";
import { ApiError } from "../api/error.ts";
import { cron, expiry, size } from "../config/values.ts";
import type { Db } from "../db/index.ts";
import * as q from "../db/storage-pools.ts";
import { PoolBackend } from "./backend.ts";
import type { Pool, StorageDriver } from "./driver.ts";
import { DRIVERS } from "./index.ts";

type StringMap = Record<string, string>;
type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

export type PoolRow = q.PoolRow;

/** Pool config keys by driver (besides user.*), for the API documentation. */
export const poolConfigKeys = (): Record<string, string[]> =>
  Object.fromEntries(Object.entries(DRIVERS).map(([name, d]) => [name, Object.keys(d.poolKeys)]));

export const poolUrl = (name: string) => `/1.0/storage-pools/${name}`;

export function validatePoolName(name: string): string | undefined {
  if (!name) return "No name provided";
  if (name.includes("/")) return "Storage pool names may not contain slashes";
  if (name === "." || name === "..") return `Invalid storage pool name "${name}"`;
  if (/\s/.test(name)) return "Storage pool names may not contain spaces";
  return undefined;
}

/** Empty values mean "unset": they are never stored. */
const dropEmpty = (config: StringMap): StringMap => Object.fromEntries(Object.entries(config).filter(([, v]) => v !== ""));

/** `volume.*` pool keys: defaults copied into the pool's new custom volumes, as LXD does. */
export const POOL_VOLUME_DEFAULTS: Readonly<Record<string, (v: string) => string | undefined>> = {
  "volume.size": size,
  "volume.snapshots.expiry": expiry,
  "volume.snapshots.schedule": cron,
  "volume.snapshots.pattern": () => undefined,
};

/** The `volume.*` defaults of a pool's config, as volume keys. */
export const volumeDefaults = (config: StringMap): StringMap =>
  Object.fromEntries(Object.entries(config).filter(([k]) => k in POOL_VOLUME_DEFAULTS).map(([k, v]) => [k.slice("volume.".length), v]));

export class StoragePools {
  constructor(
    private readonly db: Db,
    private readonly events: Events,
    /** Driver implementations by name (unit tests pass a fake one). */
    private readonly drivers: Readonly<Record<string, StorageDriver>> = DRIVERS,
  ) {}

  supportedDrivers(): string[] {
    return Object.keys(this.drivers);
  }

  list(): PoolRow[] {
    return q.listPools(this.db);
  }

  get(name: string): PoolRow {
    const row = q.getPool(this.db, name);
    if (!row) throw new ApiError(404, `Storage pool "${name}" not found`);
    return row;
  }

  toApi(row: PoolRow): StoragePool {
    return q.poolToApi(this.db, row);
  }

  /** Space and inodes: those of the filesystem the pool's directory is on (its own for a btrfs loop). */
  resources(name: string): StoragePoolResources {
    this.get(name);
    return filesystemUsage(poolDir(name));
  }

  /** Fingerprints of the images unpacked on a pool (its image volumes). */
  imageVolumes(name: string): string[] {
    try {
      return readdirSync(join(poolDir(name), "images")).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
    } catch {
      return [];
    }
  }

  /** The pool's volumes, through its driver. */
  backend(pool: Pool | string): PoolBackend {
    const p = typeof pool === "string" ? this.get(pool) : pool;
    return new PoolBackend(p, this.driver(p.driver));
  }

  private driver(name: string): StorageDriver {
    const driver = this.drivers[name];
    if (!driver) throw new Error(`unknown storage driver "${name}" (supported: ${this.supportedDrivers().join(", ")})`);
    return driver;
  }

  private checkConfig(driver: string, config: StringMap): void {
    const keys = this.driver(driver).poolKeys;
    for (const [key, value] of Object.entries(config)) {
      if (key.startsWith("user.")) continue;
      if (key === "volume.size" && driver === "dir") {
        throw new ApiError(400, `Invalid config: a dir pool cannot limit volume sizes ("volume.size"): use a btrfs pool for size limits`);
      }
      const check = keys[key] ?? POOL_VOLUME_DEFAULTS[key];
      if (!check) throw new ApiError(400, `Invalid config: Unknown configuration key: ${key}`);
      const err = check(value);
      if (err) throw new ApiError(400, `Invalid config: Invalid value for "${key}": ${err}`);
    }
  }

  async create(req: { name: string; driver: string; description?: string; config?: StringMap | null }): Promise<PoolRow> {
    const nameError = validatePoolName(req.name);
    if (nameError) throw new ApiError(400, `Invalid storage pool name "${req.name}": ${nameError}`);
    if (!this.drivers[req.driver]) {
      throw new ApiError(400, `Storage driver "${req.driver}" is not supported (supported: ${this.supportedDrivers().join(", ")})`);
    }
    if (q.getPool(this.db, req.name)) throw new ApiError(409, `Storage pool "${req.name}" already exists`);
    const requested = dropEmpty(req.config ?? {});
    this.checkConfig(req.driver, requested);
    const pool = { name: req.name, driver: req.driver, description: req.description ?? "", config: requested, status: "Created" };
    try {
      pool.config = await this.backend(pool).createPool();
    } catch (err) {
      throw new ApiError(400, `Failed to create storage pool "${pool.name}": ${(err as Error).message}`);
    }
    const row = q.createPool(this.db, pool);
    this.lifecycle("storage-pool-created", pool.name);
    return row;
  }

  /**
   * Clustering: a pool's source is a per-member fact. Sources the daemon chose itself (its default
   * place under LXD_DIR) are dropped from the shared rows, so each member finds its own.
   */
  forgetDefaultSources(): void {
    for (const row of this.list()) {
      if (row.config.source !== poolDir(row.name)) continue;
      const { source: _, ...config } = row.config;
      q.updatePool(this.db, row.name, { description: row.description, config });
    }
  }

  /** A joining member makes every pool of the cluster at its own default place. */
  async prepareLocal(): Promise<void> {
    for (const row of this.list()) {
      if (row.config.source) continue;
      await this.backend({ ...row, config: { ...row.config } }).createPool();
    }
  }

  /** PUT (`merge` false) replaces description and config; PATCH merges config by key. The source
   *  (and a btrfs loop file's size) never change; empty values unset keys. */
  update(name: string, fields: { description?: string; config?: StringMap | null }, merge: boolean): void {
    const row = this.get(name);
    const description = fields.description ?? (merge ? row.description : "");
    const config = dropEmpty(merge ? { ...row.config, ...(fields.config ?? {}) } : (fields.config ?? {}));
    for (const key of this.driver(row.driver).fixedKeys) {
      if ((config[key] ?? row.config[key]) !== row.config[key]) throw new ApiError(400, `The "${key}" of storage pool "${row.name}" cannot be changed`);
      if (row.config[key] !== undefined) config[key] = row.config[key];
    }
    this.checkConfig(row.driver, config);
    q.updatePool(this.db, row.name, { description, config });
    this.lifecycle("storage-pool-updated", row.name);
  }

  async delete(name: string): Promise<void> {
    const row = this.get(name);
    // LXD's exact message (its used_by lists what): clients match on it.
    if (q.poolUsedBy(this.db, row.name).length) throw new ApiError(400, "The storage pool is currently in use");
    try {
      await this.backend(row).deletePool();
    } catch (err) {
      throw new ApiError(500, `Failed to delete storage pool "${row.name}": ${(err as Error).message}`);
    }
    q.deletePool(this.db, row.name);
    this.lifecycle("storage-pool-deleted", row.name);
  }

  private lifecycle(action: string, name: string): void {
    this.events.send("lifecycle", { action, source: poolUrl(name), context: {} });
  }
}
