// /1.0/storage-pools/{pool}/volumes[/custom[/{name}[/snapshots[/{snapshot}]]]]: custom volumes
// and their snapshots. Restore is `PUT …/volumes/custom/{name} {"restore": "snap0"}` (as LXD).
import { Elysia, t } from "elysia";
import { AsyncResponse, Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { Operation } from "../api/operation.ts";
import {
  StorageVolume, StorageVolumePut, StorageVolumeRename, StorageVolumeSnapshot, StorageVolumeSnapshotPost, StorageVolumeSnapshotPut, StorageVolumeSnapshotsPost, StorageVolumesPost,
  StorageVolumeState,
} from "../api/storage.ts";
import { matchesFilter, parseFilter } from "../api/filter.ts";
import { isTrue, parseSize } from "../config/values.ts";
import type { CustomVolumes } from "../storage/volumes.ts";
import type { VolumeBackups } from "../instance/volume-backups.ts";
import type { OperationManager } from "./operations.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";
import { volumeRefreshTarget, volumeSource, volumeTarget } from "../migration/volumes.ts";
import { sourceOperation, targetOperation } from "./migrations.ts";
import { ApiError } from "../api/error.ts";
import { instanceUrl, nameInProject, storageName } from "../api/project-names.ts";
import { checkProject, projectOf } from "./project.ts";
import type { ClusterVolumes } from "./context.ts";

export interface StorageVolumesContext {
  volumes: CustomVolumes;
  volumeBackups: VolumeBackups;
  ops: OperationManager;
  /** Containers' root volumes are listed beside the custom ones (absent in unit tests). */
  instances?: { list(project?: string): InstanceRow[]; poolOf(row: InstanceRow): { name: string } };
  /** Images unpacked on a pool are listed as its image volumes (absent in unit tests). */
  pools?: { imageVolumes(pool: string): string[] };
  /** Whose custom volumes a project uses, and its limits and restrictions (absent in unit tests: default's). */
  projects?: {
    exists(name: string): boolean;
    effective(project: string, feature: "storage.volumes"): string;
    checkAllowed(project: string, what: "snapshot" | "backup"): void;
    checkVolumeDisk(project: string, pool: string, stored: string, size: string | undefined): void;
  };
  /** What this daemon presents when it dials a migration peer. */
  identity?: { cert: string; key: string };
  /** On a cluster: copies from volumes of other members. */
  clusterVolumes?: ClusterVolumes;
}

type InstanceRow = { name: string; project: string; createdAt: string; profiles: string[]; config: Record<string, string>; devices: Record<string, Record<string, string>> };

/** Volume types as LXD lists them; only custom ones are created and changed here. */
const LISTED_TYPES = ["container", "image", "custom"];
const isUpload = (request: Request) => /^application\/octet-stream\b/i.test(request.headers.get("content-type") ?? "");

// `:name` is the pool (as in /1.0/storage-pools/:name), `:volume` the volume.
const PoolParams = t.Object({ name: t.String() });
const TypeParams = t.Object({ name: t.String(), type: t.String() });
const VolumeParams = t.Object({ name: t.String(), volume: t.String() });
const SnapshotParams = t.Object({ name: t.String(), volume: t.String(), snapshot: t.String() });

const ProjectQuery = t.Object({ project: t.Optional(t.String()) }, { additionalProperties: true });
const onlyCustom = (type: string) => {
  if (type !== "custom") throw new ApiError(400, `Volumes of type "${type}" are not supported here (custom only)`);
};

export const storageVolumesRoutes = (ctx: StorageVolumesContext) => {
  const v = ctx.volumes;
  // Volume paths come here under their storage names (the server rewrites them); names in bodies
  // are the project's and become storage names here.
  const owner = (project: string) => ctx.projects?.effective(project, "storage.volumes") ?? "default";
  const stored = (query: { project?: string }, name: string) => storageName(owner(projectOf(query)), name);
  const resources = (pool: string, name: string) => ({ storage_volumes: [v.url(pool, name)] });
  const snapshotUrl = (pool: string, name: string, snap: string) => v.url(pool, name, `/snapshots/${snap}`);
  const etag = (vol: StorageVolume) => etagOf({ description: vol.description, config: vol.config });

  /** A container's root volume or an image unpacked on the pool, in the StorageVolume shape.
   *  LXD clients parse created_at as a time: the zero time when unknown, never "". */
  const builtIn = (type: "container" | "image", name: string, usedBy: string, createdAt = "0001-01-01T00:00:00Z", project = "default"): StorageVolume => ({
    name, description: "", type, config: {}, content_type: "filesystem", used_by: [usedBy],
    location: v.location(), project, created_at: createdAt,
  });

  const onPool = (pool: string) => (r: InstanceRow) => {
    try {
      return ctx.instances!.poolOf(r).name === pool;
    } catch {
      return false; // no root disk (a broken profile): on no pool
    }
  };

  /** All volumes of a pool as LXD lists them (containers, images, custom), or those of one type. */
  const list = (pool: string, query: RecursionQuery, type?: string) => {
    if (type !== undefined && !LISTED_TYPES.includes(type)) throw new ApiError(400, `Invalid storage volume type "${type}"`);
    const filter = parseFilter(query.filter ?? "");
    // `all-projects` (storage_volumes_all_projects): every project's volumes, each under its own.
    const all = isTrue(query["all-projects"]);
    // On a cluster, `?target=` keeps the custom volumes of that member (its containers are the
    // ones listed already: the request is forwarded there).
    const member = v.location() !== "none" ? query.target : undefined;
    const custom = v.list(pool, all ? undefined : owner(projectOf(query)))
      .filter((r) => !member || r.location === member).map((r) => v.toApi(r));
    // The request project's containers (or every project's), by their names in it.
    const containers = (ctx.instances?.list(all ? undefined : projectOf(query)) ?? []).filter(onPool(pool))
      .map((r) => builtIn("container", nameInProject(r.project, r.name), instanceUrl(r.name), r.createdAt, r.project));
    const images = (ctx.pools?.imageVolumes(pool) ?? []).map((fp) => builtIn("image", fp, `/1.0/images/${fp}`));
    const vols = [...containers, ...images, ...custom]
      .filter((vol) => (type === undefined || vol.type === type) && matchesFilter(vol, filter));
    const suffixOf = (project: string) => (project === "default" ? "" : `?project=${project}`);
    const suffix = (vol: StorageVolume) => (all ? suffixOf(vol.project) : vol.type === "custom" ? suffixOf(projectOf(query)) : "");
    if (recursionLevel(query) === 0) return sync(vols.map((vol) => `/1.0/storage-pools/${pool}/volumes/${vol.type}/${vol.name}${suffix(vol)}`));
    return sync(vols);
  };

  /** `lxd storage volume import`: the tarball is stored and its index checked before the 202 answer. */
  const restore = async (pool: string, request: Request, query: { project?: string }) => {
    if (!request.body) throw new ApiError(400, "Invalid backup file: the upload is empty");
    const prepared = await ctx.volumeBackups.prepareRestore(pool, await ctx.volumeBackups.receive(request.body), request.headers.get("x-lxd-name") || undefined,
      (name) => stored(query, name));
    return ctx.ops.create({
      class: "task", description: "Restoring custom volume backup", resources: resources(pool, prepared.name),
      run: async () => { await ctx.volumeBackups.restore(prepared); },
    });
  };

  const create = (pool: string, request: typeof StorageVolumesPost.static, query: { project?: string }) => {
    const project = owner(projectOf(query));
    const body = { ...request, name: storageName(project, request.name) };
    v.checkOwner(body.name, project);
    ctx.projects?.checkVolumeDisk(projectOf(query), pool, body.name, body.config?.size);
    if (body.source?.type === "copy" && body.source.name) {
      if (ctx.projects) checkProject(body.source.project, ctx.projects);
      body.source = { ...body.source, name: storageName(owner(body.source.project || projectOf(query)), body.source.name) };
    }
    const elsewhere = memberCopy(pool, body);
    if (elsewhere) return elsewhere;
    // As LXD: a refresh of a volume that does not exist yet is a plain copy.
    if (body.source?.refresh && v.exists(pool, body.name)) return refresh(pool, body.name, body.source);
    if (body.source?.type === "migration") {
      v.prepareMigration(pool, body);
      const spec = volumeTarget(v, pool, body.name, { description: body.description, config: body.config });
      return targetOperation(ctx, spec, resources(pool, body.name), body.source.mode ?? "pull", body.source, {
        cleanup: () => v.releaseName(pool, body.name),
      });
    }
    const from = v.prepare(pool, body);
    const config = Object.fromEntries(Object.entries(body.config ?? {}).filter(([, x]) => x !== ""));
    if (!from) {
      return v.create(pool, body.name, body.description ?? "", config)
        .then(() => sync({}, { location: v.url(pool, body.name) }));
    }
    return ctx.ops.create({
      class: "task", description: "Copying storage volume", resources: resources(pool, body.name),
      run: async () => {
        await v.copy(pool, body.name, from, {
          description: body.description, config: body.config ? config : undefined, volumeOnly: body.source?.volume_only,
        });
      },
    });
  };

  /** A copy (or refresh) from a volume on another cluster member: pulled from it over the migration API. */
  const memberCopy = (pool: string, body: typeof StorageVolumesPost.static) => {
    const source = body.source;
    if (source?.type !== "copy" || !source.name || !ctx.clusterVolumes || v.location() === "none") return undefined;
    const [volume, snapshot] = source.name.split("/");
    const fromPool = source.pool || pool;
    const member = ctx.clusterVolumes.sourceMember(fromPool, volume!, source.location || undefined);
    if (member === v.location()) return undefined;
    if (snapshot !== undefined) throw new ApiError(400, "Copying a snapshot of a volume on another cluster member is not supported: copy the volume");
    const volumeOnly = Boolean(source.volume_only);
    const refreshing = Boolean(source.refresh) && v.exists(pool, body.name);
    if (!refreshing) v.prepareMigration(pool, body);
    const release = () => { if (!refreshing) v.releaseName(pool, body.name); };
    return ctx.clusterVolumes.remoteSource(member, fromPool, volume!, volumeOnly).then(({ peer, volume: from }) => {
      const spec = refreshing ? volumeRefreshTarget(v, pool, body.name, volumeOnly)
        : volumeTarget(v, pool, body.name, { description: body.description ?? from.description, config: body.config ?? from.config });
      return targetOperation(ctx, spec, resources(pool, body.name), "pull", peer, { cleanup: release });
    }, (err) => {
      release();
      throw err;
    });
  };

  const refresh = (pool: string, name: string, source: NonNullable<typeof StorageVolumesPost.static["source"]>) => {
    const volumeOnly = Boolean(source.volume_only);
    if (source.type === "migration") {
      return targetOperation(ctx, volumeRefreshTarget(v, pool, name, volumeOnly), resources(pool, name), source.mode ?? "pull", source);
    }
    if (source.type !== "copy" || !source.name || source.name.includes("/")) throw new ApiError(400, "A refresh copies from a volume (not a snapshot)");
    const from = { pool: source.pool || pool, volume: source.name };
    v.get(from.pool, from.volume);
    return ctx.ops.create({
      class: "task", description: "Refreshing storage volume", resources: resources(pool, name),
      run: async () => { await v.refreshCopy(pool, name, from, volumeOnly); },
    });
  };

  const update = (pool: string, name: string, body: typeof StorageVolumePut.static, request: Request, merge: boolean) => {
    const row = v.get(pool, name);
    checkIfMatch(request, etag(v.toApi(row)));
    if (body.restore) return v.restore(pool, name, body.restore).then(() => sync({}));
    const config = merge ? { ...row.config, ...(body.config ?? {}) } : (body.config ?? {});
    ctx.projects?.checkVolumeDisk(row.project, pool, name, config.size || undefined);
    return v.update(pool, name, body.description ?? (merge ? row.description : ""),
      Object.fromEntries(Object.entries(config).filter(([, x]) => x !== ""))).then(() => sync({}));
  };

  return new Elysia({ name: "storage-volumes" })
    .get("/1.0/storage-pools/:name/volumes", ({ params, query }) => list(params.name, query), {
      params: PoolParams, query: RecursionQuery,
      response: UrlsOr(StorageVolume, "StorageVolume"),
      detail: { summary: "List a pool's volumes: containers' root volumes, images unpacked there, custom volumes (`filter=` as LXD; `all-projects=true`: every project's)", tags: ["storage"] },
    })
    .get("/1.0/storage-pools/:name/volumes/:type", ({ params, query }) => list(params.name, query, params.type), {
      params: TypeParams, query: RecursionQuery,
      response: UrlsOr(StorageVolume, "StorageVolume"),
      detail: { summary: "List a pool's custom volumes", tags: ["storage"] },
    })
    .post("/1.0/storage-pools/:name/volumes", ({ params, body, query }) => create(params.name, body, query), {
      params: PoolParams, body: StorageVolumesPost, query: ProjectQuery,
      response: { 200: Empty, 202: Operation },
      detail: { summary: "Create a custom volume, or copy one (source.type=copy)", tags: ["storage"] },
    })
    .post("/1.0/storage-pools/:name/volumes/:type", ({ params, body, request, query }) => {
      onlyCustom(params.type);
      if (body.source?.type === "backup") return restore(params.name, request, query);
      return create(params.name, body, query);
    }, {
      // A backup tarball (octet-stream) is streamed by its handler, never parsed.
      parse: ({ request }) => (isUpload(request) ? { name: "", source: { type: "backup" } } : undefined),
      params: TypeParams, body: StorageVolumesPost, query: ProjectQuery,
      response: { 200: Empty, 202: Operation },
      detail: {
        summary: "Create a custom volume, or copy one (source.type=copy), or import a backup",
        description: "A body of type application/octet-stream is a custom volume backup tarball (`lxd storage volume import`); X-LXD-name overrides the volume name it holds.",
        tags: ["storage"],
      },
    })

    .get("/1.0/storage-pools/:name/volumes/custom/:volume", ({ params }) => {
      const vol = v.toApi(v.get(params.name, params.volume));
      return sync(vol, { etag: etag(vol) });
    }, {
      params: VolumeParams, query: RecursionQuery, response: StorageVolume,
      detail: { summary: "Show a custom volume", tags: ["storage"] },
    })
    .put("/1.0/storage-pools/:name/volumes/custom/:volume", ({ params, body, request }) =>
      update(params.name, params.volume, body, request, false), {
      params: VolumeParams, body: StorageVolumePut,
      response: Empty,
      detail: { summary: "Replace a custom volume's description and config, or restore a snapshot (restore)", tags: ["storage"] },
    })
    .patch("/1.0/storage-pools/:name/volumes/custom/:volume", ({ params, body, request }) =>
      update(params.name, params.volume, body, request, true), {
      params: VolumeParams, body: StorageVolumePut,
      response: Empty,
      detail: { summary: "Merge changes into a custom volume's config", tags: ["storage"] },
    })
    .post("/1.0/storage-pools/:name/volumes/custom/:volume", async ({ params, body, query }) => {
      if (body.migration) {
        const spec = volumeSource(v, params.name, params.volume, Boolean(body.volume_only));
        return sourceOperation(ctx, spec, resources(params.name, params.volume), body.target ?? undefined);
      }
      if (body.pool && body.pool !== params.name) {
        throw new ApiError(400, "Moving storage volumes to another pool is not supported yet (copy, then delete)");
      }
      if (body.project && ctx.projects) checkProject(body.project, ctx.projects);
      const name = body.name || (body.project ? v.apiName(params.volume) : "");
      if (!name) throw new ApiError(400, "A new volume name is required");
      const into = body.project || projectOf(query);
      const to = storageName(owner(into), name);
      v.checkOwner(to, owner(into));
      if (to !== params.volume) ctx.projects?.checkVolumeDisk(into, params.name, to, v.get(params.name, params.volume).config.size);
      await v.rename(params.name, params.volume, to);
      return sync({}, { location: v.url(params.name, to) });
    }, {
      params: VolumeParams, body: StorageVolumeRename, query: ProjectQuery,
      response: Empty,
      detail: { summary: "Rename a custom volume within its pool (moving to another pool is not supported)", tags: ["storage"] },
    })
    .delete("/1.0/storage-pools/:name/volumes/custom/:volume", async ({ params }) => {
      await v.delete(params.name, params.volume);
      return sync({});
    }, {
      params: VolumeParams,
      response: Empty,
      detail: { summary: "Delete a custom volume (refused while instances or profiles use it)", tags: ["storage"] },
    })
    .get("/1.0/storage-pools/:name/volumes/custom/:volume/state", async ({ params }) => {
      const row = v.get(params.name, params.volume);
      const used = await v.usage(row);
      return sync({ usage: used === undefined ? null : { used, total: (row.config.size && parseSize(row.config.size)) || -1 } });
    }, {
      params: VolumeParams,
      response: StorageVolumeState,
      detail: { summary: "Disk usage of a custom volume", tags: ["storage"] },
    })

    .get("/1.0/storage-pools/:name/volumes/custom/:volume/snapshots", ({ params, query }) => {
      const snaps = v.snapshots(v.get(params.name, params.volume));
      if (recursionLevel(query) === 0) return sync(snaps.map((s) => snapshotUrl(params.name, params.volume, s.name)));
      return sync(snaps.map((s) => v.snapshotToApi(s)));
    }, {
      params: VolumeParams, query: RecursionQuery,
      response: UrlsOr(StorageVolumeSnapshot, "StorageVolumeSnapshot"),
      detail: { summary: "List a custom volume's snapshots", tags: ["storage"] },
    })
    .post("/1.0/storage-pools/:name/volumes/custom/:volume/snapshots", ({ params, body, query }) => {
      ctx.projects?.checkAllowed(projectOf(query), "snapshot");
      const name = v.prepareSnapshot(params.name, params.volume, body.name);
      return ctx.ops.create({
        class: "task", description: "Snapshotting storage volume", resources: resources(params.name, params.volume),
        run: async () => { await v.createSnapshot(params.name, params.volume, name, body.expires_at); },
      });
    }, {
      params: VolumeParams, body: StorageVolumeSnapshotsPost, query: ProjectQuery,
      response: AsyncResponse,
      detail: { summary: "Take a snapshot of a custom volume", tags: ["storage"] },
    })
    .get("/1.0/storage-pools/:name/volumes/custom/:volume/snapshots/:snapshot", ({ params }) =>
      sync(v.snapshotToApi(v.snapshot(v.get(params.name, params.volume), params.snapshot))), {
      params: SnapshotParams, response: StorageVolumeSnapshot,
      detail: { summary: "Show a custom volume snapshot", tags: ["storage"] },
    })
    .put("/1.0/storage-pools/:name/volumes/custom/:volume/snapshots/:snapshot", ({ params, body }) => {
      v.updateSnapshot(params.name, params.volume, params.snapshot, body);
      return sync({});
    }, {
      params: SnapshotParams, body: StorageVolumeSnapshotPut, response: Empty,
      detail: { summary: "Change a custom volume snapshot's description and expiry", tags: ["storage"] },
    })
    .post("/1.0/storage-pools/:name/volumes/custom/:volume/snapshots/:snapshot", ({ params, body }) => {
      v.prepareSnapshotRename(params.name, params.volume, params.snapshot, body.name);
      return ctx.ops.create({
        class: "task", description: "Renaming storage volume snapshot", resources: resources(params.name, params.volume),
        run: async () => { await v.renameSnapshot(params.name, params.volume, params.snapshot, body.name); },
      });
    }, {
      params: SnapshotParams, body: StorageVolumeSnapshotPost,
      response: AsyncResponse,
      detail: { summary: "Rename a custom volume snapshot (its data follows)", tags: ["storage"] },
    })
    .delete("/1.0/storage-pools/:name/volumes/custom/:volume/snapshots/:snapshot", ({ params }) => {
      v.snapshot(v.get(params.name, params.volume), params.snapshot);
      return ctx.ops.create({
        class: "task", description: "Deleting storage volume snapshot", resources: resources(params.name, params.volume),
        run: async () => { await v.deleteSnapshot(params.name, params.volume, params.snapshot); },
      });
    }, {
      params: SnapshotParams,
      response: AsyncResponse,
      detail: { summary: "Delete a custom volume snapshot", tags: ["storage"] },
    });
};
