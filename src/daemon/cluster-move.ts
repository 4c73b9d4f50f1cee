// `lxd move c1 --target m2` (POST /1.0/instances/c1?target=m2 with migration: true, as LXD's client
// sends it): the instance moves to another member over the migration API between daemons. The
// database is shared, so the target receives it under a temporary name, this member deletes the
// original, and the target takes the name back. A running instance is stopped first and started
// again there when the move is stateless; a live move (LXD's default for a running container, and
// evacuation's live-migrate) carries its CRIU checkpoint instead, so its processes go on there.
// An instance of another project keeps its project: the target is asked under `?project=`.
import { randomBytes } from "node:crypto";
import type { Operation as ApiOperation } from "../api/operation.ts";
import { ApiError } from "../api/error.ts";
import type { ClusterManager } from "../cluster/manager.ts";
import { peerJson } from "../cluster/peer.ts";
import type { DaemonContext } from "./context.ts";
import { checkMovable } from "./cluster-volumes.ts";
import { migrationSource } from "./instances.ts";
import type { Operation } from "./operations.ts";
import { liveUnsupported } from "./migrations.ts";
import { statefulUnavailable } from "../instance/stateful.ts";
import { instanceUrl, nameInProject, projectOfStored, storageName } from "../api/project-names.ts";

/** `live`: a running instance moves with its processes (CRIU), refused up front without a usable CRIU. */
export function clusterMove(ctx: DaemonContext, cluster: ClusterManager, name: string, target: string, newName?: string, live = false): Operation {
  ctx.instances.get(name);
  checkTarget(cluster, name, target);
  checkMovable(ctx, name, cluster.name!);
  if (live && ctx.instances.isRunning(name) && statefulUnavailable("Live migration")) throw new ApiError(400, liveUnsupported());
  return ctx.ops.create({
    class: "task", description: "Moving instance", resources: { instances: [instanceUrl(name)] },
    run: () => moveToMember(ctx, cluster, name, target, newName, live),
  });
}

function checkTarget(cluster: ClusterManager, name: string, target: string) {
  const member = cluster.row(target);
  if (member.name === cluster.name) throw new ApiError(400, `Instance "${nameInProject(projectOfStored(name), name)}" is already on member "${target}"`);
  if (!cluster.online(member)) throw new ApiError(503, `Cluster member "${target}" is offline`);
  return member;
}

/** Moves local instance `name` to member `target` as `newName` there; started there when it ran
 *  here. Cold by default; `live` (CRIU, running instance) carries its checkpoint: the target keeps
 *  it under the temporary name (a running instance cannot be renamed) and restores it once renamed. */
export async function moveToMember(
  ctx: DaemonContext, cluster: ClusterManager, name: string, target: string, newName?: string, live = false,
): Promise<void> {
  const row = ctx.instances.get(name);
  const member = checkTarget(cluster, name, target);
  const here = cluster.row(cluster.name!);
  const project = projectOfStored(name);
  const finalName = newName || nameInProject(project, name);
  // On the target, in the instance's project: `/1.0/instances/c1?project=p1`.
  const url = (short: string, suffix = "") => instanceUrl(storageName(project, short), suffix);
  const identity = cluster.identity();
  const call = <T>(method: string, path: string, body?: unknown) => peerJson<T>(identity, member.address, path, method, body, 24 * 3600_000);
  const wait = async (op: ApiOperation) => {
    const done = await call<ApiOperation>("GET", `/1.0/operations/${op.id}/wait?timeout=-1`);
    if (done.status !== "Success") throw new Error(done.err || `operation ${done.status}`);
  };
  const wasRunning = ctx.instances.isRunning(name);
  const stateful = live && wasRunning;
  if (wasRunning && !stateful) await ctx.instances.stop(name, { timeout: 30 });
  const temp = `${nameInProject(project, name)}-move-${randomBytes(3).toString("hex")}`;
  const source = migrationSource(ctx, name, { migration: true, live: stateful, name });
  try {
    const secrets = Object.fromEntries(Object.entries(source.toJSON().metadata ?? {}).filter(([, v]) => typeof v === "string"));
    const inst = ctx.instances.toApi(row);
    const config = Object.fromEntries(Object.entries(inst.config).filter(([k]) => !k.startsWith("volatile.")));
    await wait(await call<ApiOperation>("POST", project === "default" ? "/1.0/instances" : `/1.0/instances?project=${encodeURIComponent(project)}`, {
      name: temp, type: inst.type, architecture: inst.architecture, description: inst.description, ephemeral: inst.ephemeral,
      config, devices: inst.devices, profiles: inst.profiles,
      source: { type: "migration", mode: "pull", operation: `https://${here.address}/1.0/operations/${source.id}`, certificate: identity.cert, secrets,
        live: stateful, cluster_move: true },
    }));
  } catch (err) {
    await source.cancel().catch(() => {});
    if (wasRunning && !ctx.instances.isRunning(name)) await ctx.instances.start(name).catch(() => {});
    throw new Error(`Failed to move instance "${nameInProject(project, name)}" to "${target}": ${(err as Error).message}`);
  }
  await ctx.instances.delete(name, true);
  await wait(await call<ApiOperation>("POST", url(temp), { name: finalName }));
  if (wasRunning) await wait(await call<ApiOperation>("PUT", url(finalName, "/state"), { action: "start", timeout: -1 }));
}
