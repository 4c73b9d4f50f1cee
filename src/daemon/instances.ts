// /1.0/instances and /1.0/instances/{name}: list, create, show, update, rename, delete.
import { Elysia, t } from "elysia";
import { AsyncResponse, Empty, recursionLevel } from "../api/envelope.ts";
import { Instance, InstanceFull, InstanceName, InstancePost, InstancePut, InstancesPost, InstancesQuery } from "../api/instance.ts";
import type { InstancePost as InstancePostBody, InstancesPost as InstancesPostBody } from "../api/instance.ts";
import { matchesFilter, parseFilter } from "../api/filter.ts";
import type { PreparedRestore } from "../instance/backups.ts";
import type { DaemonContext } from "./context.ts";
import { isRemoteImageSource, remoteInstanceOperation } from "./image-pull.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";
import { ApiError } from "../api/error.ts";
import { checkProject, projectOf } from "./project.ts";
import { isTrue } from "../config/values.ts";
import { instanceRefreshTarget, instanceSource, instanceTarget } from "../migration/instances.ts";
import { statefulUnavailable } from "../instance/stateful.ts";
import { liveUnsupported, sourceOperation, targetOperation } from "./migrations.ts";
import { containerUrl, instanceUrl, nameInProject, projectOfStored, storageName } from "../api/project-names.ts";

const url = instanceUrl;

/** The fields of an instance that PUT replaces, which is what its ETag covers (as in LXD). */
const writable = (i: Instance) => ({
  architecture: i.architecture, config: i.config, devices: i.devices, ephemeral: i.ephemeral,
  profiles: i.profiles, stateful: i.stateful, description: i.description,
});

const isUpload = (request: Request) => /^application\/octet-stream\b/i.test(request.headers.get("content-type") ?? "");

/** `lxd import`: the tarball is stored and its index checked before the 202 answer. */
async function restoreOperation(ctx: DaemonContext, request: Request, project: string) {
  const backups = ctx.instances.backups;
  if (!request.body) throw new ApiError(400, "Invalid backup file: the upload is empty");
  const file = await backups.receive(request.body);
  let prepared: PreparedRestore;
  try {
    prepared = await backups.prepareRestore(file, {
      name: request.headers.get("x-lxd-name") || undefined, pool: request.headers.get("x-lxd-pool") || undefined, project,
    });
  } catch (err) {
    await backups.discard(file);
    throw err;
  }
  return ctx.ops.create({
    class: "task", description: "Restoring backup", resources: { instances: [url(prepared.name)], containers: [containerUrl(prepared.name)] },
    run: async (op) => { await backups.restore(prepared, (m) => op.updateMetadata(m)); },
  });
}

/** POST /1.0/instances/{name} {migration: true}: this instance goes to another daemon. */
export function migrationSource(ctx: DaemonContext, name: string, body: InstancePostBody, snapshot?: string) {
  // As LXD: `live` absent means live (CRIU), for a running instance.
  const live = body.live !== false && snapshot === undefined && ctx.instances.isRunning(name);
  if (live && statefulUnavailable("Live migration")) throw new ApiError(400, liveUnsupported());
  const spec = instanceSource(ctx.instances, {
    name, snapshot, instanceOnly: Boolean(body.instance_only ?? body.container_only), allowInconsistent: Boolean(body.allow_inconsistent), live,
  });
  return sourceOperation(ctx, spec, { instances: [url(name)], containers: [containerUrl(name)] }, body.target ?? undefined);
}

/** POST /1.0/instances with source type migration: an instance arrives from another daemon. */
function migrationTarget(ctx: DaemonContext, body: InstancesPostBody, project: string) {
  const src = body.source;
  const live = Boolean(src.live || src.secrets?.criu);
  if (live && statefulUnavailable("Live migration")) throw new ApiError(400, liveUnsupported());
  // As LXD: a refresh of an instance that does not exist yet is a plain copy.
  const refreshed = body.name ? storageName(project, body.name) : undefined;
  if (src.refresh && refreshed && ctx.instances.list().some((r) => r.name === refreshed)) {
    const spec = instanceRefreshTarget(ctx.instances, body, refreshed);
    return targetOperation(ctx, spec, { instances: [url(refreshed)], containers: [containerUrl(refreshed)] }, src.mode ?? "pull", src);
  }
  const name = ctx.instances.prepareMigration(body, project);
  const spec = instanceTarget(ctx.instances, body, name, Boolean(src.cluster_move));
  return targetOperation(ctx, spec, { instances: [url(name)], containers: [containerUrl(name)] }, src.mode ?? "pull", src, {
    cleanup: () => ctx.instances.releaseName(name),
    // A live migration's instance runs already (restored before success was reported).
    afterSuccess: async () => { if (body.start && !ctx.instances.isRunning(name)) await ctx.instances.start(name); },
    live,
  });
}

export const instancesRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "instances" })
    .get("/1.0/instances", async ({ query }) => {
      const filter = parseFilter(query.filter ?? "");
      const level = recursionLevel(query);
      const rows = ctx.instances.list(isTrue(query["all-projects"]) ? undefined : projectOf(query));
      if (!filter && level === 0) return sync(rows.map((r) => url(r.name)));
      if (!filter && level === 1) return sync(ctx.instances.listApi(rows));
      const matching = (await ctx.instances.listFull(rows)).filter((i) => matchesFilter(i, filter));
      if (level === 0) return sync(matching.map((i) => url(storageName(i.project, i.name))));
      if (level === 1) {
        return sync(matching.map((inst) => {
          const { state: _s, snapshots: _n, backups: _b, ...i } = inst as InstanceFull;
          return i;
        }));
      }
      return sync(matching);
    }, {
      query: InstancesQuery,
      response: t.Union([t.Array(t.String()), t.Array(Instance), t.Array(InstanceFull)], { description: "URLs (recursion=0), Instance objects (1) or InstanceFull objects (2)" }),
      detail: { summary: "List instances", tags: ["instances"] },
    })

    .post("/1.0/instances", async ({ body, request, query }) => {
      const project = projectOf(query);
      if (query.target) ctx.projects.checkTarget(project);
      if (body.source.type === "backup") return restoreOperation(ctx, request, project);
      checkProject(body.source.project, ctx.projects);
      if (body.source.type === "migration") return migrationTarget(ctx, body, project);
      const refreshed = body.name ? storageName(project, body.name) : undefined;
      if (body.source.type === "copy" && body.source.refresh && refreshed && ctx.instances.list().some((r) => r.name === refreshed)) {
        if ((body.source.source ?? "").includes("/")) throw new ApiError(400, "A refresh copies from an instance, not from a snapshot");
        const [name, source] = [refreshed, storageName(body.source.project || project, body.source.source ?? "")];
        ctx.instances.get(source);
        return ctx.ops.create({
          class: "task", description: "Refreshing instance", resources: { instances: [url(name), url(source)], containers: [containerUrl(name)] },
          run: async () => { await ctx.instances.refreshCopy(name, source, Boolean(body.source.instance_only)); },
        });
      }
      if (body.source.type === "copy") {
        const copy = ctx.instances.prepareCopy(body, project);
        return ctx.ops.create({
          class: "task",
          description: "Creating instance",
          resources: { instances: [url(copy.name), url(copy.source)], containers: [containerUrl(copy.name)] },
          run: async () => {
            await ctx.instances.copy(body, copy.name, copy.source, copy.snapshot);
            if (body.start) await ctx.instances.start(copy.name);
          },
        });
      }
      if (isRemoteImageSource(body.source)) return remoteInstanceOperation(ctx, body, project);
      const { name, fingerprint } = ctx.instances.prepareCreate(body, project);
      return ctx.ops.create({
        class: "task",
        description: "Creating instance",
        resources: { instances: [url(name)], containers: [containerUrl(name)] },
        run: async (op) => {
          await ctx.instances.create(body, name, fingerprint, (m) => op.updateMetadata(m));
          if (body.start) await ctx.instances.start(name);
        },
      });
    }, {
      // A backup tarball (octet-stream) is streamed by its handler, never parsed.
      parse: ({ request }) => (isUpload(request) ? { source: { type: "backup" } } : undefined),
      body: InstancesPost,
      response: AsyncResponse,
      detail: {
        summary: "Create (and optionally start) an instance from an image, or copy one (source type copy), or import a backup",
        description: "A body of type application/octet-stream is an instance backup tarball (`lxd import`); headers X-LXD-name and X-LXD-pool override the name and pool it names.",
        tags: ["instances"],
      },
    })

    .get("/1.0/instances/:name", async ({ params, query }) => {
      const row = ctx.instances.get(params.name);
      const inst = recursionLevel(query) >= 1 ? await ctx.instances.toApiFull(row) : ctx.instances.toApi(row);
      return sync(inst, { etag: etagOf(writable(inst)) });
    }, {
      params: InstanceName, query: InstancesQuery,
      response: t.Union([Instance, InstanceFull]),
      detail: { summary: "Show an instance", tags: ["instances"] },
    })

    .put("/1.0/instances/:name", async ({ params, body, request }) => {
      const current = ctx.instances.toApi(ctx.instances.get(params.name));
      checkIfMatch(request, etagOf(writable(current)));
      return ctx.ops.create({
        class: "task", description: "Updating instance", resources: { instances: [url(params.name)] },
        run: async () => { await ctx.instances.update(params.name, body); },
      });
    }, {
      params: InstanceName, body: InstancePut,
      response: AsyncResponse,
      detail: { summary: "Replace an instance's configuration", tags: ["instances"] },
    })

    .patch("/1.0/instances/:name", async ({ params, body, request }) => {
      const current = ctx.instances.toApi(ctx.instances.get(params.name));
      checkIfMatch(request, etagOf(writable(current)));
      await ctx.instances.update(params.name, {
        ...writable(current),
        ...body,
        config: { ...current.config, ...(body.config ?? {}) },
        devices: { ...current.devices, ...(body.devices ?? {}) },
      });
      return sync({});
    }, {
      params: InstanceName, body: InstancePut,
      response: Empty,
      detail: { summary: "Merge changes into an instance's configuration", tags: ["instances"] },
    })

    .post("/1.0/instances/:name", ({ params, body, query }) => {
      // Between cluster members (`lxd move c1 --target m2`): done here, by the member that has it;
      // as LXD, live (a running container's processes go on there) unless `live` is false.
      if (body.migration && query.target && ctx.moveToMember) return ctx.moveToMember(params.name, query.target, body.name, body.live !== false);
      if (body.migration && (body.pool || body.project) && !body.target) {
        ctx.instances.get(params.name);
        const name = params.name;
        const to = { name: body.name || nameInProject(projectOfStored(name), name), pool: body.pool || undefined, project: body.project || undefined };
        return ctx.ops.create({
          class: "task", description: to.pool ? "Moving instance to another storage pool" : "Moving instance to another project", resources: { instances: [url(name)] },
          run: async () => { await ctx.instances.moveWithin(name, to, Boolean(body.instance_only)); },
        });
      }
      if (body.migration) return migrationSource(ctx, params.name, body);
      ctx.instances.get(params.name);
      return ctx.ops.create({
        class: "task", description: "Renaming instance", resources: { instances: [url(params.name)] },
        run: async () => { await ctx.instances.rename(params.name, body.name); },
      });
    }, {
      params: InstanceName, body: InstancePost, query: InstancesQuery,
      response: AsyncResponse,
      detail: { summary: "Rename an instance", tags: ["instances"] },
    })

    .delete("/1.0/instances/:name", ({ params, query }) => {
      ctx.instances.get(params.name);
      const force = ["1", "true"].includes(query.force ?? "");
      if (!force && ctx.instances.isRunning(params.name)) {
        throw new ApiError(400, "The instance is currently running, stop it first");
      }
      return ctx.ops.create({
        class: "task", description: "Deleting instance", resources: { instances: [url(params.name)] },
        run: async () => { await ctx.instances.delete(params.name, force); },
      });
    }, {
      params: InstanceName, query: InstancesQuery,
      response: AsyncResponse,
      detail: { summary: "Delete an instance (`?force=1` stops it first)", tags: ["instances"] },
    });
