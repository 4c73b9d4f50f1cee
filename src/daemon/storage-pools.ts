// /1.0/storage-pools and /1.0/storage-pools/{name}: list, create, show, update, delete.
import { Elysia } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { StoragePool, StoragePoolName, StoragePoolPut, StoragePoolsPost } from "../api/storage.ts";
import { poolUrl, type PoolRow, type StoragePools } from "../storage/pools.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface StoragePoolsContext {
  pools: StoragePools;
}

const etag = (p: PoolRow) => etagOf({ name: p.name, driver: p.driver, description: p.description, config: p.config });

export const storagePoolsRoutes = ({ pools }: StoragePoolsContext) =>
  new Elysia({ name: "storage-pools" })
    .get("/1.0/storage-pools", ({ query }) => {
      const rows = pools.list();
      if (recursionLevel(query) === 0) return sync(rows.map((r) => poolUrl(r.name)));
      return sync(rows.map((r) => pools.toApi(r)));
    }, {
      query: RecursionQuery,
      response: UrlsOr(StoragePool, "StoragePool"),
      detail: { summary: "List storage pools", tags: ["storage"] },
    })

    .post("/1.0/storage-pools", async ({ body }) => {
      const row = await pools.create(body);
      return sync({}, { location: poolUrl(row.name) });
    }, {
      body: StoragePoolsPost,
      response: Empty,
      detail: { summary: "Create a storage pool (driver dir or btrfs)", tags: ["storage"] },
    })

    .get("/1.0/storage-pools/:name", ({ params }) => {
      const row = pools.get(params.name);
      return sync(pools.toApi(row), { etag: etag(row) });
    }, {
      params: StoragePoolName, query: RecursionQuery,
      response: StoragePool,
      detail: { summary: "Show a storage pool", tags: ["storage"] },
    })

    .put("/1.0/storage-pools/:name", ({ params, body, request }) => {
      checkIfMatch(request, etag(pools.get(params.name)));
      pools.update(params.name, body, false);
      return sync({});
    }, {
      params: StoragePoolName, body: StoragePoolPut,
      response: Empty,
      detail: { summary: "Replace a storage pool's description and config", tags: ["storage"] },
    })

    .patch("/1.0/storage-pools/:name", ({ params, body, request }) => {
      checkIfMatch(request, etag(pools.get(params.name)));
      pools.update(params.name, body, true);
      return sync({});
    }, {
      params: StoragePoolName, body: StoragePoolPut,
      response: Empty,
      detail: { summary: "Merge changes into a storage pool's config", tags: ["storage"] },
    })

    .delete("/1.0/storage-pools/:name", async ({ params }) => {
      await pools.delete(params.name);
      return sync({});
    }, {
      params: StoragePoolName,
      response: Empty,
      detail: { summary: "Delete a storage pool (refused while instances, profiles or volumes use it)", tags: ["storage"] },
    });
