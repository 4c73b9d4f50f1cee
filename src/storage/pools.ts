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

/** Keys whose values differ per cluster member (LXD's member-specific storage config). */
export const POOL_MEMBER_KEYS: readonly string[] = ["source", "size", "zfs.pool_name", "lvm.thinpool_name", "lvm.vg_name"];

/** A config split into the cluster's keys and one member's. */
export function splitMemberKeys(config: StringMap, memberKeys: readonly string[]): { shared: StringMap; member: StringMap } {
  const shared: StringMap = {};
  const member: StringMap = {};
  for (const [k, v] of Object.entries(config)) (memberKeys.includes(k) ? member : shared)[k] = v;
  return { shared, member };
}

export class StoragePools {
  /** This member's name on a cluster (set by the daemon): pools then keep member keys per member. */
  member: () => string | undefined = () => undefined;

  constructor(
    private readonly db: Db,
    private readonly events: Events,
    /** Driver implementations by name (unit tests pass a fake one). */
    private readonly drivers: Readonly<Record<string, StorageDriver>> = DRIVERS,
  ) {}

  supportedDrivers(): string[] {
    return Object.keys(this.drivers);
  }

  /** Every pool, as this member has it (its member-specific keys merged in on a cluster). */
  list(): PoolRow[] {
    const member = this.member();
    const rows = q.listPools(this.db);
    if (!member) return rows;
    const own = q.memberPools(this.db, member);
    return rows.map((r) => this.merged(r, own.get(r.name)));
  }

  get(name: string): PoolRow {
    const row = q.getPool(this.db, name);
    if (!row) throw new ApiError(404, `Storage pool "${name}" not found`);
    const member = this.member();
    return member ? this.merged(row, q.memberPools(this.db, member).get(name)) : row;
  }

  private merged(row: PoolRow, own: q.PoolMemberRow | undefined): PoolRow {
    return own ? { ...row, config: { ...row.config, ...own.config } } : row;
  }

  /**
   * The API view. On a cluster without a target member (`memberView` false) member-specific keys
   * are left out and the status is the cluster's; with one, its keys and its own status show.
   */
  toApi(row: PoolRow, memberView = false): StoragePool {
    const api = q.poolToApi(this.db, row);
    const member = this.member();
    if (!member) return api;
    const entries = q.poolMembers(this.db, row.name);
    const locations = entries.filter((e) => e.status === "Created").map((e) => e.member);
    if (memberView) return { ...api, status: entries.find((e) => e.member === member)?.status ?? row.status, locations };
    return { ...api, config: splitMemberKeys(row.config, POOL_MEMBER_KEYS).shared, locations };
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

  // ---- clusters: pools defined per member, then created on every member ------------------------

  /**
   * `lxd cluster enable m1`: the server's pools become the cluster's, their member-specific keys
   * (the source above all) m1's own.
   */
  shareWith(member: string): void {
    for (const row of q.listPools(this.db)) {
      const { shared, member: own } = splitMemberKeys(row.config, POOL_MEMBER_KEYS);
      q.updatePool(this.db, row.name, { description: row.description, config: shared });
      q.putPoolMember(this.db, { pool: row.name, member, config: own, status: row.status === "Created" ? "Created" : "Pending" });
    }
  }

  /** `POST /1.0/storage-pools?target=m1`: m1's member-specific keys, recorded (the pool Pending). */
  definePending(req: { name: string; driver: string; description?: string; config?: StringMap | null }, member: string): void {
    const config = dropEmpty(req.config ?? {});
    for (const key of Object.keys(config)) {
      if (!POOL_MEMBER_KEYS.includes(key)) throw new ApiError(400, `Config key "${key}" may not be used as member-specific key`);
    }
    const nameError = validatePoolName(req.name);
    if (nameError) throw new ApiError(400, `Invalid storage pool name "${req.name}": ${nameError}`);
    if (!this.drivers[req.driver]) throw new ApiError(400, `Storage driver "${req.driver}" is not supported (supported: ${this.supportedDrivers().join(", ")})`);
    this.checkConfig(req.driver, config);
    const row = q.getPool(this.db, req.name);
    if (row && row.status !== "Pending") throw new ApiError(400, `The storage pool "${req.name}" is not pending`);
    if (row && row.driver !== req.driver) {
      throw new ApiError(400, `Requested storage pool driver "${req.driver}" doesn't match driver in existing database record "${row.driver}"`);
    }
    if (row && q.poolMembers(this.db, req.name).some((e) => e.member === member)) {
      throw new ApiError(400, `The storage pool already defined on member "${member}"`);
    }
    this.db.transaction((tx) => {
      if (!row) q.createPool(tx as unknown as Db, { name: req.name, driver: req.driver, description: req.description ?? "", config: {}, status: "Pending" });
      q.putPoolMember(tx as unknown as Db, { pool: req.name, member, config, status: "Pending" });
    });
  }

  /**
   * `POST /1.0/storage-pools` on a cluster: the cluster's keys recorded once every member has an
   * entry (LXD's checks and messages); the pool counts as Errored until every member made it.
   */
  beginClusterCreate(req: { name: string; driver: string; description?: string; config?: StringMap | null }, members: string[]): void {
    const config = dropEmpty(req.config ?? {});
    for (const key of Object.keys(config)) {
      if (POOL_MEMBER_KEYS.includes(key)) throw new ApiError(400, `Config key "${key}" is cluster member specific`);
    }
    const row = q.getPool(this.db, req.name);
    if (!row) throw new ApiError(404, "Pool not pending on any node (use --target <node> first)");
    if (row.status === "Created") throw new ApiError(400, "The storage pool is already created");
    if (req.driver !== row.driver) {
      throw new ApiError(400, `Requested storage pool driver "${req.driver}" doesn't match driver in existing database record "${row.driver}"`);
    }
    const defined = new Set(q.poolMembers(this.db, req.name).map((e) => e.member));
    const missing = members.filter((m) => !defined.has(m));
    if (missing.length) throw new ApiError(400, `Pool not defined on nodes: ${missing.join(", ")}`);
    if (row.status === "Errored") {
      // A new attempt: the cluster's keys are those of the first one.
      if (Object.keys(config).length) throw new ApiError(400, "Storage pool already partially created. Please do not specify any global config when re-running create");
      return;
    }
    this.checkConfig(row.driver, config);
    q.updatePool(this.db, req.name, { description: req.description ?? row.description, config, status: "Errored" });
  }

  /** Makes the pool on this member with its own keys (already made: nothing to do). */
  async createLocal(name: string): Promise<void> {
    const member = this.member();
    if (!member) throw new ApiError(400, "This server is not clustered");
    const entry = q.poolMembers(this.db, name).find((e) => e.member === member);
    if (entry?.status === "Created") return;
    const row = this.get(name);
    let config: StringMap;
    try {
      config = await this.backend({ ...row, config: { ...row.config } }).createPool();
    } catch (err) {
      q.putPoolMember(this.db, { pool: name, member, config: entry?.config ?? {}, status: "Errored" });
      throw new ApiError(400, (err as Error).message);
    }
    q.putPoolMember(this.db, { pool: name, member, config: splitMemberKeys(config, POOL_MEMBER_KEYS).member, status: "Created" });
  }

  /** The cluster-wide create ended: Created when every member made the pool. */
  finishClusterCreate(name: string, ok: boolean): void {
    q.updatePool(this.db, name, { status: ok ? "Created" : "Errored" });
    if (ok) this.lifecycle("storage-pool-created", name);
  }

  /**
   * A member joining: every pool of the cluster made here, with its member-specific keys from the
   * join's answers (`member_config`), the default place otherwise.
   */
  async joinLocal(answers: (pool: string) => StringMap): Promise<void> {
    const member = this.member()!;
    for (const row of q.listPools(this.db)) {
      if (row.status === "Pending") continue;
      const config = answers(row.name);
      for (const key of Object.keys(config)) {
        if (!POOL_MEMBER_KEYS.includes(key)) throw new ApiError(400, `Config key "${key}" of storage pool "${row.name}" is not member specific`);
      }
      q.putPoolMember(this.db, { pool: row.name, member, config, status: "Pending" });
      await this.createLocal(row.name).catch((err) => {
        throw new ApiError(400, `Failed to create storage pool "${row.name}": ${(err as Error).message}`);
      });
    }
  }

  /** What a joiner must answer (`GET /1.0/cluster`'s member_config): this member's own keys. */
  memberKeys(): { name: string; key: string }[] {
    const member = this.member();
    if (!member) return [];
    return [...q.memberPools(this.db, member).values()].sort((a, b) => (a.pool < b.pool ? -1 : 1))
      .flatMap((e) => Object.keys(e.config).sort().map((key) => ({ name: e.pool, key })));
  }

  /** PUT (`merge` false) replaces description and config; PATCH merges config by key. The source
   *  (and a btrfs loop file's size) never change; empty values unset keys. */
  update(name: string, fields: { description?: string; config?: StringMap | null }, merge: boolean, target?: string): void {
    const row = this.get(name);
    const member = this.member();
    const description = fields.description ?? (merge ? row.description : "");
    const given = fields.config ?? {};
    if (member) {
      // As LXD: member keys change with --target only, the cluster's keys without it.
      for (const [key, value] of Object.entries(given)) {
        const memberKey = POOL_MEMBER_KEYS.includes(key);
        if (!target && memberKey) throw new ApiError(400, `Config key "${key}" is cluster member specific`);
        if (target && !memberKey && row.config[key] !== value) throw new ApiError(400, `Config key "${key}" may not be used as cluster member specific key`);
      }
      if (!target && row.status !== "Created") throw new ApiError(400, "Cannot update storage pool global config when not in created state");
    }
    // A PUT without a target keeps this member's keys (they are not the request's to drop).
    const kept = member && !target && !merge ? splitMemberKeys(row.config, POOL_MEMBER_KEYS).member : {};
    const config = dropEmpty(merge ? { ...row.config, ...given } : { ...kept, ...given });
    for (const key of this.driver(row.driver).fixedKeys) {
      if ((config[key] ?? row.config[key]) !== row.config[key]) throw new ApiError(400, `The "${key}" of storage pool "${row.name}" cannot be changed`);
      if (row.config[key] !== undefined) config[key] = row.config[key];
    }
    this.checkConfig(row.driver, config);
    if (member) {
      const { shared, member: own } = splitMemberKeys(config, POOL_MEMBER_KEYS);
      const entry = q.poolMembers(this.db, row.name).find((e) => e.member === member);
      if (target) q.putPoolMember(this.db, { pool: row.name, member, config: own, status: entry?.status ?? "Pending" });
      else q.updatePool(this.db, row.name, { description, config: shared });
    } else {
      q.updatePool(this.db, row.name, { description, config });
    }
    this.lifecycle("storage-pool-updated", row.name);
  }

  async delete(name: string): Promise<void> {
    await this.deleteLocal(name);
    this.forget(name);
  }

  /** Removes the pool's storage here (on a cluster: where this member made it); its rows stay. */
  async deleteLocal(name: string): Promise<void> {
    const row = this.get(name);
    // LXD's exact message (its used_by lists what): clients match on it.
    if (q.poolUsedBy(this.db, row.name).length) throw new ApiError(400, "The storage pool is currently in use");
    const member = this.member();
    const entry = member ? q.poolMembers(this.db, name).find((e) => e.member === member) : undefined;
    if (member && entry?.status !== "Created") return;
    try {
      await this.backend(row).deletePool();
    } catch (err) {
      throw new ApiError(500, `Failed to delete storage pool "${row.name}": ${(err as Error).message}`);
    }
    if (member) q.setPoolMemberStatus(this.db, name, member, "Pending");
  }

  /** Drops a pool's rows (its storage already removed everywhere). */
  forget(name: string): void {
    q.deletePool(this.db, name);
    this.lifecycle("storage-pool-deleted", name);
  }

  private lifecycle(action: string, name: string): void {
    this.events.send("lifecycle", { action, source: poolUrl(name), context: {} });
  }
}
