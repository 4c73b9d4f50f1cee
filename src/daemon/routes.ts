// Every REST resource module, in one list: the server mounts these and the OpenAPI document
// is generated from them.
import { Elysia } from "elysia";
import type { DaemonContext } from "./context.ts";
import { eventsRoutes } from "./events-api.ts";
import { imageAliasesRoutes } from "./image-aliases.ts";
import { imagesRoutes } from "./images.ts";
import { instanceExecRoutes } from "./instance-exec.ts";
import { instanceStateRoutes } from "./instance-state.ts";
import { instancesRoutes } from "./instances.ts";
import { operationsRoutes } from "./operations-api.ts";
import { profilesRoutes } from "./profiles.ts";
import { sync } from "./response.ts";
import { serverInfoRoutes } from "./server-info.ts";
import { storagePoolsRoutes } from "./storage-pools.ts";

/** `lxd shutdown`: answers first, then stops containers and the daemon. */
const internalRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "internal" }).put("/internal/shutdown", () => {
    setTimeout(() => ctx.shutdown(), 0);
    return sync({});
  }, { detail: { summary: "Stop all instances and the daemon", tags: ["internal"] } });

export const apiRoutes = (ctx: DaemonContext) => [
  serverInfoRoutes(ctx),
  instancesRoutes(ctx),
  instanceStateRoutes(ctx),
  instanceExecRoutes(ctx),
  imagesRoutes(ctx),
  imageAliasesRoutes(ctx),
  profilesRoutes(ctx),
  storagePoolsRoutes(ctx),
  operationsRoutes(ctx),
  eventsRoutes(ctx),
  internalRoutes(ctx),
];
