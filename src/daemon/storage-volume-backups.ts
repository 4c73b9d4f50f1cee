// /1.0/storage-pools/{pool}/volumes/custom/{volume}/backups[/{backup}[/export]]: custom volume
// backups as LXD's tarball: list, create (an operation), show, rename, delete, download.
import { Elysia, t } from "elysia";
import { InstanceBackupPost, StorageVolumeBackup, StorageVolumeBackupsPost, VolumeBackupParams } from "../api/backup.ts";
import type { DaemonContext } from "./context.ts";
import { AsyncResponse, recursionLevel } from "../api/envelope.ts";
import { RawResponse, sync } from "./response.ts";

const Recursion = t.Object({ recursion: t.Optional(t.String()), project: t.Optional(t.String()) });
const VolumeParams = t.Object({ name: t.String(), volume: t.String() });

export const storageVolumeBackupsRoutes = (ctx: DaemonContext) => {
  const b = ctx.volumeBackups;
  const backupUrl = (pool: string, volume: string, backup: string) => ctx.volumes.url(pool, volume, `/backups/${backup}`);
  // As LXD 5.0 names them (the client takes the backup's name from "/1.0/backups/NAME").
  const resources = (pool: string, volume: string, backup: string) => ({
    backups: [`/1.0/backups/${backup}`], storage_volumes: [ctx.volumes.url(pool, volume)],
  });
  const base = "/1.0/storage-pools/:name/volumes/custom/:volume/backups";
  return new Elysia({ name: "storage-volume-backups" })
    .get(base, ({ params, query }) => {
      const rows = b.list(params.name, params.volume);
      if (recursionLevel(query) === 0) return sync(rows.map((r) => backupUrl(params.name, params.volume, r.name)));
      return sync(rows.map((r) => b.toApi(r)));
    }, {
      params: VolumeParams, query: Recursion,
      response: t.Any({ description: "URLs or StorageVolumeBackup objects, by recursion" }),
      detail: { summary: "List a custom volume's backups", tags: ["storage"] },
    })
    .post(base, ({ params, body, query }) => {
      ctx.projects.checkAllowed(query.project || "default", "backup");
      const prepared = b.prepare(params.name, params.volume, body);
      return ctx.ops.create({
        class: "task", description: "Backing up storage volume", resources: resources(params.name, params.volume, prepared.name),
        run: async (op) => { await b.create(params.name, params.volume, prepared, (m) => op.updateMetadata(m)); },
      });
    }, {
      params: VolumeParams, body: StorageVolumeBackupsPost, query: Recursion, response: AsyncResponse,
      detail: { summary: "Back up a custom volume (LXD's tarball: backup/index.yaml, backup/volume/, backup/volume-snapshots/)", tags: ["storage"] },
    })
    .get(`${base}/:backup`, ({ params }) => sync(b.toApi(b.get(params.name, params.volume, params.backup))), {
      params: VolumeBackupParams, response: StorageVolumeBackup,
      detail: { summary: "Show a custom volume backup", tags: ["storage"] },
    })
    .post(`${base}/:backup`, ({ params, body }) => {
      b.checkRename(params.name, params.volume, params.backup, body.name);
      return ctx.ops.create({
        class: "task", description: "Renaming storage volume backup", resources: resources(params.name, params.volume, params.backup),
        run: async () => { await b.rename(params.name, params.volume, params.backup, body.name); },
      });
    }, {
      params: VolumeBackupParams, body: InstanceBackupPost, response: AsyncResponse,
      detail: { summary: "Rename a custom volume backup", tags: ["storage"] },
    })
    .delete(`${base}/:backup`, ({ params }) => {
      b.get(params.name, params.volume, params.backup);
      return ctx.ops.create({
        class: "task", description: "Removing storage volume backup", resources: resources(params.name, params.volume, params.backup),
        run: async () => { await b.delete(params.name, params.volume, params.backup); },
      });
    }, {
      params: VolumeBackupParams, response: AsyncResponse,
      detail: { summary: "Delete a custom volume backup", tags: ["storage"] },
    })
    .get(`${base}/:backup/export`, ({ params }) => {
      const file = Bun.file(b.file(params.name, params.volume, params.backup));
      return new RawResponse(file, { headers: { "content-type": "application/octet-stream", "content-length": String(file.size) } });
    }, {
      params: VolumeBackupParams,
      detail: { summary: "Download a custom volume backup's tarball", tags: ["storage"], responses: { 200: { description: "The tarball (application/octet-stream)" } } },
    });
};
