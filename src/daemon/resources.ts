// /1.0/resources (the host's hardware) and /1.0/storage-pools/{name}/resources (a pool's space
// and inodes), as `lxc info --resources` and `lxc storage info` read them.
import { Elysia } from "elysia";
import { Resources, StoragePoolResources } from "../api/resources.ts";
import { StoragePoolName } from "../api/storage.ts";
import type { Db } from "../db/index.ts";
import { getPool } from "../db/storage-pools.ts";
import { hostResources } from "../kernel/resources.ts";
import { poolResources } from "../storage/index.ts";
import { ApiError } from "../api/error.ts";
import { sync } from "./response.ts";

/** OpenAPI description of the sync answer's metadata. */
const ok = (description: string, schema: object) => ({ 200: { description, content: { "application/json": { schema } } } });

export const resourcesRoutes = (ctx: { db: Db }) =>
  new Elysia({ name: "resources" })
    .get("/1.0/resources", () => sync(hostResources()), {
      detail: { summary: "The host's CPU, memory, network cards and disks", tags: ["server"], responses: ok("Resources", Resources) },
    })
    .get("/1.0/storage-pools/:name/resources", ({ params }) => {
      if (!getPool(ctx.db, params.name)) throw new ApiError(404, `Storage pool "${params.name}" not found`);
      return sync(poolResources(params.name));
    }, {
      params: StoragePoolName,
      detail: { summary: "Space and inodes of a storage pool", tags: ["storage"], responses: ok("Usage", StoragePoolResources) },
    });
