// /1.0/storage-pools and /1.0/storage-pools/{name}: list, create, show, update, delete. On a
// cluster, `?target=` defines or shows one member's part (its member-specific keys), a create
// without it makes the pool on every member, and a request from another member does this
// member's part only.
import { Elysia } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { StoragePool, StoragePoolName, StoragePoolPut, StoragePoolsPost } from "../api/storage.ts";
import type { MemberResources } from "../cluster/resources.ts";
import { fromPeer } from "../cluster/peer.ts";
import { poolUrl, type StoragePools } from "../storage/pools.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface StoragePoolsContext {
  pools: StoragePools;
  memberResources?: MemberResources;
}

const etag = (p: StoragePool) => etagOf({ name: p.name, driver: p.driver, description: p.description, config: p.config });

export const storagePoolsRoutes = ({ pools, memberResources }: StoragePoolsContext) => {
  const clustered = () => !!memberResources?.enabled;
  const view = (name: string, target?: string) => pools.toApi(pools.get(name), !!target);
  return new Elysia({ name: "storage-pools" })
    .get("/1.0/storage-pools", ({ query }) => {
      const rows = pools.list();
      if (recursionLevel(query) === 0) return sync(rows.map((r) => poolUrl(r.name)));
      return sync(rows.map((r) => pools.toApi(r, !!query.target)));
    }, {
      query: RecursionQuery,
      response: UrlsOr(StoragePool, "StoragePool"),
      detail: { summary: "List storage pools", tags: ["storage"] },
    })

    .post("/1.0/storage-pools", async ({ body, query, request }) => {
      if (!clustered()) {
        await pools.create(body);
      } else if (query.target) {
        memberResources!.checkTarget(query.target);
        pools.definePending(body, query.target);
      } else if (fromPeer(request)) {
        await pools.createLocal(body.name);
      } else {
        await memberResources!.createPool(body);
      }
      return sync({}, { location: poolUrl(body.name) });
    }, {
      body: StoragePoolsPost, query: RecursionQuery,
      response: Empty,
      detail: { summary: "Create a storage pool (driver dir or btrfs); on a cluster, ?target= defines one member's part first", tags: ["storage"] },
    })

    .get("/1.0/storage-pools/:name", ({ params, query }) => {
      const pool = view(params.name, query.target);
      return sync(pool, { etag: etag(pool) });
    }, {
      params: StoragePoolName, query: RecursionQuery,
      response: StoragePool,
      detail: { summary: "Show a storage pool (?target=: with that member's own keys and status)", tags: ["storage"] },
    })

    .put("/1.0/storage-pools/:name", ({ params, body, query, request }) => {
      checkIfMatch(request, etag(view(params.name, query.target)));
      pools.update(params.name, body, false, query.target);
      return sync({});
    }, {
      params: StoragePoolName, body: StoragePoolPut, query: RecursionQuery,
      response: Empty,
      detail: { summary: "Replace a storage pool's description and config (?target=: a member's own keys)", tags: ["storage"] },
    })

    .patch("/1.0/storage-pools/:name", ({ params, body, query, request }) => {
      checkIfMatch(request, etag(view(params.name, query.target)));
      pools.update(params.name, body, true, query.target);
      return sync({});
    }, {
      params: StoragePoolName, body: StoragePoolPut, query: RecursionQuery,
      response: Empty,
      detail: { summary: "Merge changes into a storage pool's config (?target=: a member's own keys)", tags: ["storage"] },
    })

    .delete("/1.0/storage-pools/:name", async ({ params, request }) => {
      if (!clustered()) await pools.delete(params.name);
      else if (fromPeer(request)) await pools.deleteLocal(params.name);
      else await memberResources!.deletePool(params.name);
      return sync({});
    }, {
      params: StoragePoolName,
      response: Empty,
      detail: { summary: "Delete a storage pool (refused while instances, profiles or volumes use it; on a cluster, on every member)", tags: ["storage"] },
    });
};
