// /1.0/storage-pools and /1.0/storage-pools/{name}: list, create, show, update, delete.
import { Elysia, t } from "elysia";
import { StoragePool, StoragePoolName, StoragePoolPut, StoragePoolsPost } from "../api/storage.ts";
import type { Db } from "../db/index.ts";
import * as q from "../db/storage-pools.ts";
import { storageDriver, supportedDrivers } from "../storage/index.ts";
import { checkIfMatch, etagOf, sync, SyncResponse } from "./response.ts";
import { ApiError } from "../api/error.ts";

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface StoragePoolsContext {
  db: Db;
  events: { send(type: "lifecycle", metadata: Record<string, unknown>): void };
}

type StringMap = Record<string, string>;

const url = (name: string) => `/1.0/storage-pools/${name}`;
const Query = t.Object({ recursion: t.Optional(t.String()), project: t.Optional(t.String()), target: t.Optional(t.String()) });

function validatePoolName(name: string): string | undefined {
  if (!name) return "No name provided";
  if (name.includes("/")) return "Storage pool names may not contain slashes";
  if (name === "." || name === "..") return `Invalid storage pool name "${name}"`;
  if (/\s/.test(name)) return "Storage pool names may not contain spaces";
  return undefined;
}

function checkConfig(driver: string, config: StringMap): void {
  const keys = storageDriver(driver).poolKeys;
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith("user.")) continue;
    const check = keys[key];
    if (!check) throw new ApiError(400, `Invalid config: Unknown configuration key: ${key}`);
    const err = check(value);
    if (err) throw new ApiError(400, `Invalid config: Invalid value for "${key}": ${err}`);
  }
}

function mustGet(db: Db, name: string): q.PoolRow {
  const row = q.getPool(db, name);
  if (!row) throw new ApiError(404, `Storage pool "${name}" not found`);
  return row;
}

const etag = (p: q.PoolRow) => etagOf({ name: p.name, driver: p.driver, description: p.description, config: p.config });

/** PUT and PATCH: the source (and a btrfs loop file's size) never change; empty values unset keys. */
function update(ctx: StoragePoolsContext, row: q.PoolRow, description: string, requested: StringMap): SyncResponse {
  const config = Object.fromEntries(Object.entries(requested).filter(([, v]) => v !== ""));
  for (const key of storageDriver(row.driver).fixedKeys) {
    if ((config[key] ?? row.config[key]) !== row.config[key]) throw new ApiError(400, `The "${key}" of storage pool "${row.name}" cannot be changed`);
    if (row.config[key] !== undefined) config[key] = row.config[key];
  }
  checkConfig(row.driver, config);
  q.updatePool(ctx.db, row.name, { description, config });
  ctx.events.send("lifecycle", { action: "storage-pool-updated", source: url(row.name), context: {} });
  return sync({});
}

export const storagePoolsRoutes = (ctx: StoragePoolsContext) =>
  new Elysia({ name: "storage-pools" })
    .get("/1.0/storage-pools", ({ query }) => {
      const rows = q.listPools(ctx.db);
      if ((Number.parseInt(query.recursion ?? "0", 10) || 0) === 0) return sync(rows.map((r) => url(r.name)));
      return sync(rows.map((r) => q.poolToApi(ctx.db, r)));
    }, {
      query: Query,
      response: t.Union([t.Array(t.String()), t.Array(StoragePool)], { description: "URLs (recursion=0) or StoragePool objects (recursion=1)" }),
      detail: { summary: "List storage pools", tags: ["storage"] },
    })

    .post("/1.0/storage-pools", async ({ body }) => {
      const nameError = validatePoolName(body.name);
      if (nameError) throw new ApiError(400, `Invalid storage pool name "${body.name}": ${nameError}`);
      if (!supportedDrivers().includes(body.driver)) {
        throw new ApiError(400, `Storage driver "${body.driver}" is not supported (supported: ${supportedDrivers().join(", ")})`);
      }
      if (q.getPool(ctx.db, body.name)) throw new ApiError(409, `Storage pool "${body.name}" already exists`);
      const requested = Object.fromEntries(Object.entries(body.config ?? {}).filter(([, v]) => v !== ""));
      checkConfig(body.driver, requested);
      const pool = { name: body.name, driver: body.driver, description: body.description ?? "", config: requested, status: "Created" };
      try {
        pool.config = await storageDriver(pool.driver).createPool(pool);
      } catch (err) {
        throw new ApiError(400, `Failed to create storage pool "${pool.name}": ${(err as Error).message}`);
      }
      q.createPool(ctx.db, pool);
      ctx.events.send("lifecycle", { action: "storage-pool-created", source: url(pool.name), context: {} });
      return sync({}, { location: url(pool.name) });
    }, {
      body: StoragePoolsPost,
      detail: { summary: "Create a storage pool (driver dir or btrfs)", tags: ["storage"] },
    })

    .get("/1.0/storage-pools/:name", ({ params }) => {
      const row = mustGet(ctx.db, params.name);
      return sync(q.poolToApi(ctx.db, row), { etag: etag(row) });
    }, {
      params: StoragePoolName, query: Query,
      response: StoragePool,
      detail: { summary: "Show a storage pool", tags: ["storage"] },
    })

    .put("/1.0/storage-pools/:name", ({ params, body, request }) => {
      const row = mustGet(ctx.db, params.name);
      checkIfMatch(request, etag(row));
      return update(ctx, row, body.description ?? "", body.config ?? {});
    }, {
      params: StoragePoolName, body: StoragePoolPut,
      detail: { summary: "Replace a storage pool's description and config", tags: ["storage"] },
    })

    .patch("/1.0/storage-pools/:name", ({ params, body, request }) => {
      const row = mustGet(ctx.db, params.name);
      checkIfMatch(request, etag(row));
      return update(ctx, row, body.description ?? row.description, { ...row.config, ...(body.config ?? {}) });
    }, {
      params: StoragePoolName, body: StoragePoolPut,
      detail: { summary: "Merge changes into a storage pool's config", tags: ["storage"] },
    })

    .delete("/1.0/storage-pools/:name", async ({ params }) => {
      const row = mustGet(ctx.db, params.name);
      // LXD's exact message (its used_by lists what): clients match on it.
      if (q.poolUsedBy(ctx.db, row.name).length) throw new ApiError(400, "The storage pool is currently in use");
      try {
        await storageDriver(row.driver).deletePool(row);
      } catch (err) {
        throw new ApiError(500, `Failed to delete storage pool "${row.name}": ${(err as Error).message}`);
      }
      q.deletePool(ctx.db, row.name);
      ctx.events.send("lifecycle", { action: "storage-pool-deleted", source: url(row.name), context: {} });
      return sync({});
    }, {
      params: StoragePoolName,
      detail: { summary: "Delete a storage pool (refused while instances, profiles or volumes use it)", tags: ["storage"] },
    });
