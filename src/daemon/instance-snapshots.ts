// /1.0/instances/{name}/snapshots and /1.0/instances/{name}/snapshots/{snapshot}: list, take,
// show, rename, change expiry, delete. Restore is `PUT /1.0/instances/{name} {"restore": "snap0"}`.
import { Elysia } from "elysia";
import { AsyncResponse, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { InstanceName } from "../api/instance.ts";
import {
  InstanceSnapshot, InstanceSnapshotPost, InstanceSnapshotPut, InstanceSnapshotsPost, SnapshotParams,
} from "../api/snapshot.ts";
import type { DaemonContext } from "./context.ts";
import { migrationSource } from "./instances.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";
import { ApiError } from "../api/error.ts";
import { instanceUrl } from "../api/project-names.ts";

const snapshotUrl = (name: string, snap: string) => instanceUrl(name, `/snapshots/${snap}`);

export const instanceSnapshotsRoutes = (ctx: DaemonContext) => {
  const snaps = ctx.instances.snapshots;
  const resources = (name: string, snap: string) => ({
    instances: [instanceUrl(name)], instances_snapshots: [snapshotUrl(name, snap)],
  });
  return new Elysia({ name: "instance-snapshots" })
    .get("/1.0/instances/:name/snapshots", ({ params, query }) => {
      const rows = snaps.list(params.name);
      if (recursionLevel(query) === 0) return sync(rows.map((s) => snapshotUrl(params.name, s.name)));
      return sync(rows.map((s) => snaps.toApi(params.name, s)));
    }, {
      params: InstanceName, query: RecursionQuery,
      response: UrlsOr(InstanceSnapshot, "InstanceSnapshot"),
      detail: { summary: "List an instance's snapshots", tags: ["snapshots"] },
    })

    .post("/1.0/instances/:name/snapshots", ({ params, body }) => {
      const name = snaps.prepare(params.name, body.name, body.stateful ?? false);
      return ctx.ops.create({
        class: "task", description: "Snapshotting instance", resources: resources(params.name, name),
        run: async () => { await snaps.create(params.name, name, body.expires_at, body.stateful ?? false); },
      });
    }, {
      params: InstanceName, body: InstanceSnapshotsPost,
      response: AsyncResponse,
      detail: { summary: "Take a snapshot of an instance", tags: ["snapshots"] },
    })

    .get("/1.0/instances/:name/snapshots/:snapshot", ({ params }) => {
      const snap = snaps.toApi(params.name, snaps.get(params.name, params.snapshot));
      return sync(snap, { etag: etagOf({ expires_at: snap.expires_at }) });
    }, {
      params: SnapshotParams, response: InstanceSnapshot,
      detail: { summary: "Show a snapshot", tags: ["snapshots"] },
    })

    .post("/1.0/instances/:name/snapshots/:snapshot", ({ params, body }) => {
      if (body.migration) return migrationSource(ctx, params.name, { ...body, name: body.name ?? "" }, params.snapshot);
      if (!body.name) throw new ApiError(400, "A new snapshot name is required");
      const to = body.name;
      snaps.checkRename(params.name, params.snapshot, to);
      return ctx.ops.create({
        class: "task", description: "Renaming snapshot", resources: resources(params.name, params.snapshot),
        run: async () => { await snaps.rename(params.name, params.snapshot, to); },
      });
    }, {
      params: SnapshotParams, body: InstanceSnapshotPost,
      response: AsyncResponse,
      detail: { summary: "Rename a snapshot", tags: ["snapshots"] },
    })

    .put("/1.0/instances/:name/snapshots/:snapshot", ({ params, body, request }) => {
      const current = snaps.toApi(params.name, snaps.get(params.name, params.snapshot));
      checkIfMatch(request, etagOf({ expires_at: current.expires_at }));
      return ctx.ops.create({
        class: "task", description: "Updating snapshot", resources: resources(params.name, params.snapshot),
        run: async () => { snaps.update(params.name, params.snapshot, body); },
      });
    }, {
      params: SnapshotParams, body: InstanceSnapshotPut,
      response: AsyncResponse,
      detail: { summary: "Replace a snapshot's expiry", tags: ["snapshots"] },
    })

    .patch("/1.0/instances/:name/snapshots/:snapshot", ({ params, body, request }) => {
      const current = snaps.toApi(params.name, snaps.get(params.name, params.snapshot));
      checkIfMatch(request, etagOf({ expires_at: current.expires_at }));
      snaps.update(params.name, params.snapshot, body);
      return sync({});
    }, {
      params: SnapshotParams, body: InstanceSnapshotPut,
      response: AsyncResponse,
      detail: { summary: "Change a snapshot's expiry or description", tags: ["snapshots"] },
    })

    .delete("/1.0/instances/:name/snapshots/:snapshot", ({ params }) => {
      snaps.get(params.name, params.snapshot);
      return ctx.ops.create({
        class: "task", description: "Deleting snapshot", resources: resources(params.name, params.snapshot),
        run: async () => { await snaps.delete(params.name, params.snapshot); },
      });
    }, {
      params: SnapshotParams,
      response: AsyncResponse,
      detail: { summary: "Delete a snapshot", tags: ["snapshots"] },
    });
};
