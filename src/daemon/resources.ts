// /1.0/resources (the host's hardware) and /1.0/storage-pools/{name}/resources (a pool's space
// and inodes), as `lxc info --resources` and `lxc storage info` read them.
import { Elysia } from "elysia";
import { Resources, StoragePoolResources } from "../api/resources.ts";
import { StoragePoolName } from "../api/storage.ts";
import { hostResources } from "../kernel/resources.ts";
import type { StoragePools } from "../storage/pools.ts";
import { sync } from "./response.ts";

/** OpenAPI description of the sync answer's metadata. */
const ok = (description: string, schema: object) => ({ 200: { description, content: { "application/json": { schema } } } });

export const resourcesRoutes = (ctx: { pools: StoragePools }) =>
  new Elysia({ name: "resources" })
    .get("/1.0/resources", () => sync(hostResources()), {
      detail: { summary: "The host's CPU, memory, network cards and disks", tags: ["server"], responses: ok("Resources", Resources) },
    })
    .get("/1.0/storage-pools/:name/resources", ({ params }) => sync(ctx.pools.resources(params.name)), {
      params: StoragePoolName,
      detail: { summary: "Space and inodes of a storage pool", tags: ["storage"], responses: ok("Usage", StoragePoolResources) },
    });
