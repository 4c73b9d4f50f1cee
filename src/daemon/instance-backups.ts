// /1.0/instances/{name}/backups, /backups/{backup} and /backups/{backup}/export: list, create
// (an operation writing LXD's tarball), show, rename, delete, download.
import { Elysia, t } from "elysia";
import { BackupParams, InstanceBackup, InstanceBackupPost, InstanceBackupsPost } from "../api/backup.ts";
import { InstanceName } from "../api/instance.ts";
import type { DaemonContext } from "./context.ts";
import { AsyncResponse, recursionLevel } from "../api/envelope.ts";
import { RawResponse, sync } from "./response.ts";
import { instanceUrl, containerUrl } from "../api/project-names.ts";

const Recursion = t.Object({
  recursion: t.Optional(t.String({ description: "0: URLs, 1: backup objects" })),
  project: t.Optional(t.String()),
});

const backupUrl = (name: string, backup: string) => instanceUrl(name, `/backups/${backup}`);

export const instanceBackupsRoutes = (ctx: DaemonContext) => {
  const backups = ctx.instances.backups;
  // As LXD 5.0 names them (lxc export takes the backup's name from this "/1.0/backups/NAME").
  const resources = (name: string, backup: string) => ({
    backups: [`/1.0/backups/${backup}`], containers: [containerUrl(name)], instances: [instanceUrl(name)],
  });
  return new Elysia({ name: "instance-backups" })
    .get("/1.0/instances/:name/backups", ({ params, query }) => {
      const rows = backups.list(params.name);
      if (recursionLevel(query) === 0) return sync(rows.map((b) => backupUrl(params.name, b.name)));
      return sync(rows.map((b) => backups.toApi(b)));
    }, {
      params: InstanceName, query: Recursion,
      response: t.Any({ description: "URLs or InstanceBackup objects, by recursion" }),
      detail: { summary: "List an instance's backups", tags: ["backups"] },
    })

    .post("/1.0/instances/:name/backups", ({ params, body }) => {
      const prepared = backups.prepare(params.name, body);
      return ctx.ops.create({
        class: "task", description: "Backing up instance", resources: resources(params.name, prepared.name),
        run: async (op) => { await backups.create(params.name, prepared, (m) => op.updateMetadata(m)); },
      });
    }, {
      params: InstanceName, body: InstanceBackupsPost, response: AsyncResponse,
      detail: { summary: "Back up an instance (LXD's tarball: backup/index.yaml, backup/container/, backup/snapshots/)", tags: ["backups"] },
    })

    .get("/1.0/instances/:name/backups/:backup", ({ params }) => sync(backups.toApi(backups.get(params.name, params.backup))), {
      params: BackupParams, response: InstanceBackup,
      detail: { summary: "Show a backup", tags: ["backups"] },
    })

    .post("/1.0/instances/:name/backups/:backup", ({ params, body }) => {
      backups.checkRename(params.name, params.backup, body.name);
      return ctx.ops.create({
        class: "task", description: "Renaming instance backup", resources: resources(params.name, params.backup),
        run: async () => { await backups.rename(params.name, params.backup, body.name); },
      });
    }, {
      params: BackupParams, body: InstanceBackupPost, response: AsyncResponse,
      detail: { summary: "Rename a backup", tags: ["backups"] },
    })

    .delete("/1.0/instances/:name/backups/:backup", ({ params }) => {
      backups.get(params.name, params.backup);
      return ctx.ops.create({
        class: "task", description: "Removing instance backup", resources: resources(params.name, params.backup),
        run: async () => { await backups.delete(params.name, params.backup); },
      });
    }, {
      params: BackupParams, response: AsyncResponse,
      detail: { summary: "Delete a backup", tags: ["backups"] },
    })

    .get("/1.0/instances/:name/backups/:backup/export", ({ params }) => {
      const file = Bun.file(backups.file(params.name, params.backup));
      return new RawResponse(file, { headers: { "content-type": "application/octet-stream", "content-length": String(file.size) } });
    }, {
      params: BackupParams,
      detail: { summary: "Download a backup's tarball", tags: ["backups"], responses: { 200: { description: "The tarball (application/octet-stream)" } } },
    });
};
