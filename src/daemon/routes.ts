// Every REST resource module, in one list: the server mounts these and the OpenAPI document
// is generated from them.
import { Elysia, t } from "elysia";
import { ApiError } from "../api/error.ts";
import { runSql } from "../db/sql.ts";
import { Empty } from "../api/envelope.ts";
import { certificatesRoutes, type RemoteAccess } from "./certificates.ts";
import type { DaemonContext } from "./context.ts";
import { eventsRoutes } from "./events-api.ts";
import { imageAliasesRoutes } from "./image-aliases.ts";
import { imagesRoutes } from "./images.ts";
import { instanceBackupsRoutes } from "./instance-backups.ts";
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
import { projectsRoutes } from "./projects.ts";
import { resourcesRoutes } from "./resources.ts";
import { warningsRoutes } from "./warnings.ts";
import { metricsRoutes } from "./metrics.ts";
import { recoverRoutes } from "./recover.ts";
import { sync } from "./response.ts";
import { serverInfoRoutes } from "./server-info.ts";
import { storagePoolsRoutes } from "./storage-pools.ts";
import { storageVolumesRoutes } from "./storage-volumes.ts";
import { storageVolumeBackupsRoutes } from "./storage-volume-backups.ts";
import { uiRoutes } from "./ui.ts";

/** `lxd shutdown`: answers first, then stops containers and the daemon. */
const internalRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "internal" }).put("/internal/shutdown", () => {
    setTimeout(() => ctx.shutdown(), 0);
    return sync({});
  }, { response: Empty, detail: { summary: "Stop all instances and the daemon", tags: ["internal"] } })
    // `lxd sql local|global QUERY`: both name the one SQLite database.
    .post("/internal/sql", ({ body }) => {
      try {
        return sync({ results: [runSql(ctx.db, body.query)] });
      } catch (err) {
        throw new ApiError(400, `Failed to execute query: ${(err as Error).message}`);
      }
    }, {
      body: t.Object({ database: t.Union([t.Literal("local"), t.Literal("global")]), query: t.String() }),
      detail: { summary: "Run one SQL statement against the daemon's database", tags: ["internal"], responses: { 200: { description: "{results: [{type, columns, rows, rows_affected}]}" } } },
    });

export const apiRoutes = (ctx: DaemonContext, remote?: RemoteAccess) => [
  serverInfoRoutes(ctx),
  instancesRoutes(ctx),
  instanceStateRoutes(ctx),
  instanceExecRoutes(ctx),
  instanceConsoleRoutes(ctx),
  instanceFilesRoutes(ctx),
  instanceSnapshotsRoutes(ctx),
  instanceBackupsRoutes(ctx),
  imagesRoutes({ ...ctx, pull: (body, images) => imagePullOperation(ctx, images, body) }),
  imageAliasesRoutes(ctx),
  imageRefreshRoutes(ctx),
  streamsRoutes(ctx),
  profilesRoutes(ctx),
  projectsRoutes({ projects: ctx.projects, allowedProjects: remote && ((r) => remote.trust.allowedProjects(r)) }),
  storagePoolsRoutes(ctx),
  storageVolumesRoutes(ctx),
  resourcesRoutes(ctx),
  warningsRoutes(ctx),
  metricsRoutes(ctx),
  storageVolumeBackupsRoutes(ctx),
  networksRoutes(ctx),
  operationsRoutes(ctx),
  eventsRoutes(ctx),
  internalRoutes(ctx),
  recoverRoutes(ctx),
  uiRoutes(),
  ...(remote ? [certificatesRoutes(ctx, remote)] : []),
];
