// Every REST resource module, in one list: the server mounts these and the OpenAPI document
// is generated from them.
import { Elysia } from "elysia";
import { Empty } from "../api/envelope.ts";
import { certificatesRoutes, type RemoteAccess } from "./certificates.ts";
import type { DaemonContext } from "./context.ts";
import { eventsRoutes } from "./events-api.ts";
import { imageAliasesRoutes } from "./image-aliases.ts";
import { imagesRoutes } from "./images.ts";
import { instanceConsoleRoutes } from "./instance-console.ts";
import { imagePullOperation } from "./image-pull.ts";
import { imageRefreshRoutes } from "./image-refresh.ts";
import { streamsRoutes } from "./streams.ts";
import { instanceExecRoutes } from "./instance-exec.ts";
import { instanceFilesRoutes } from "./instance-files.ts";
import { instanceSnapshotsRoutes } from "./instance-snapshots.ts";
import { instanceStateRoutes } from "./instance-state.ts";
import { instancesRoutes } from "./instances.ts";
import { networksRoutes } from "./networks.ts";
import { operationsRoutes } from "./operations-api.ts";
import { profilesRoutes } from "./profiles.ts";
import { sync } from "./response.ts";
import { serverInfoRoutes } from "./server-info.ts";
import { storagePoolsRoutes } from "./storage-pools.ts";
import { storageVolumesRoutes } from "./storage-volumes.ts";
import { uiRoutes } from "./ui.ts";

/** `lxd shutdown`: answers first, then stops containers and the daemon. */
const internalRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "internal" }).put("/internal/shutdown", () => {
    setTimeout(() => ctx.shutdown(), 0);
    return sync({});
  }, { response: Empty, detail: { summary: "Stop all instances and the daemon", tags: ["internal"] } });

export const apiRoutes = (ctx: DaemonContext, remote?: RemoteAccess) => [
  serverInfoRoutes(ctx),
  instancesRoutes(ctx),
  instanceStateRoutes(ctx),
  instanceExecRoutes(ctx),
  instanceConsoleRoutes(ctx),
  instanceFilesRoutes(ctx),
  instanceSnapshotsRoutes(ctx),
  imagesRoutes({ ...ctx, pull: (body) => imagePullOperation(ctx, body) }),
  imageAliasesRoutes(ctx),
  imageRefreshRoutes(ctx),
  streamsRoutes(ctx),
  profilesRoutes(ctx),
  storagePoolsRoutes(ctx),
  storageVolumesRoutes(ctx),
  networksRoutes(ctx),
  operationsRoutes(ctx),
  eventsRoutes(ctx),
  internalRoutes(ctx),
  uiRoutes(),
  ...(remote ? [certificatesRoutes(ctx, remote)] : []),
];
