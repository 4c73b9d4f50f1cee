// `lxd cluster evacuate|restore` on the member itself, per instance as its `cluster.evacuate` says
// (LXD 5.0's rules): `stop` stops it where it is; `migrate` moves it (cold) to the online member
// with the fewest instances and records `volatile.evacuate.origin`; `auto` migrates unless a device
// ties it to this member (anything but the root disk and NICs on managed networks: a custom volume
// stays on its member), else stops it, and `migrate` of an instance using a custom volume is refused;
// `live-migrate` moves a running instance with its CRIU checkpoint (its processes go on there), and
// is refused before anything changes when this daemon has no working CRIU.
// Restore moves back what records this member as its origin and starts what evacuation stopped.
import { ApiError } from "../api/error.ts";
import type { ClusterManager } from "../cluster/manager.ts";
import { updateMember } from "../db/cluster-members.ts";
import { listInstances, updateInstance } from "../db/instances.ts";
import type { Operation as ApiOperation } from "../api/operation.ts";
import { peerJson } from "../cluster/peer.ts";
import { statefulUnavailable } from "../instance/stateful.ts";
import { moveToMember } from "./cluster-move.ts";
import { checkMovable } from "./cluster-volumes.ts";
import { instanceUrl, nameInProject } from "../api/project-names.ts";
import type { DaemonContext } from "./context.ts";
import type { Operation } from "./operations.ts";

/** Local key: the instances evacuation stopped here, for restore to start again. */
const EVACUATED = "evacuated_instances";
const ORIGIN = "volatile.evacuate.origin";

type Device = Record<string, string>;

/** As LXD's CanMigrate: the root disk moves with the instance, a NIC on a managed network exists
 *  on every member; any other device (host paths, host devices) stays behind. */
const movable = (devices: Record<string, Device>): boolean =>
  Object.values(devices).every((d) => (d.type === "disk" && d.path === "/") || (d.type === "nic" && Boolean(d.network)));

function modeOf(ctx: DaemonContext, name: string): "stop" | "migrate" | "live-migrate" {
  const row = ctx.instances.get(name);
  const { config, devices } = ctx.instances.expanded(row);
  const mode = config["cluster.evacuate"] || "auto";
  if (mode === "auto") return movable(devices) ? "migrate" : "stop";
  return mode as "stop" | "migrate" | "live-migrate";
}

export async function evacuate(ctx: DaemonContext, cluster: ClusterManager, action: "evacuate" | "restore", op: Operation): Promise<void> {
  const name = cluster.name;
  if (!name) throw new ApiError(400, "This server is not clustered");
  const progress = (text: string) => op.updateMetadata({ evacuation_progress: text });
  if (action === "restore") return restore(ctx, cluster, name, progress);

  const plan = ctx.instances.list().map((r) => ({ instance: r.name, mode: modeOf(ctx, r.name) }));
  // Refused up front, so that a failed evacuation leaves everything where it was.
  for (const { instance, mode } of plan) {
    // `auto` stops an instance using custom volumes (they stay here); `migrate` cannot take it.
    if (mode !== "stop") checkMovable(ctx, instance, name);
    if (mode !== "live-migrate" || !ctx.instances.isRunning(instance)) continue;
    const why = statefulUnavailable("Live migration");
    if (why) throw new ApiError(400, `Instance "${instance}" can't be live-migrated: ${why}`);
  }
  updateMember(ctx.db, name, { state: "evacuated" });
  const stopped: string[] = [];
  for (const { instance, mode } of plan) {
    if (mode === "stop") {
      if (!ctx.instances.isRunning(instance)) continue;
      progress(`Stopping "${instance}"`);
      await ctx.instances.stop(instance, { timeout: 30 });
      stopped.push(instance);
      cluster.setLocal(EVACUATED, JSON.stringify(stopped));
      continue;
    }
    const target = cluster.place(undefined).name;
    progress(`Migrating "${instance}" to "${target}"`);
    await moveToMember(ctx, cluster, instance, target, undefined, mode === "live-migrate");
    const moved = listInstances(ctx.db).find((r) => r.name === instance);
    if (moved) updateInstance(ctx.db, instance, { config: { ...moved.config, [ORIGIN]: name } });
  }
}

async function restore(ctx: DaemonContext, cluster: ClusterManager, name: string, progress: (text: string) => void): Promise<void> {
  const identity = cluster.identity();
  for (const row of listInstances(ctx.db).filter((r) => r.config[ORIGIN] === name && r.location !== name)) {
    const holder = cluster.row(row.location);
    if (!cluster.online(holder)) throw new ApiError(503, `Cluster member "${holder.name}" is offline: can't bring "${row.name}" back`);
    progress(`Migrating "${row.name}" from "${holder.name}"`);
    // The holder runs the move (it has the instance); the move drops volatile keys on the way.
    const call = <T>(method: string, path: string, body?: unknown) => peerJson<T>(identity, holder.address, path, method, body, 24 * 3600_000);
    const path = instanceUrl(row.name);
    const started = await call<ApiOperation>("POST", `${path}${path.includes("?") ? "&" : "?"}target=${encodeURIComponent(name)}`, {
      migration: true, name: nameInProject(row.project, row.name), live: ctx.instances.expanded(row).config["cluster.evacuate"] === "live-migrate",
    });
    const done = await call<ApiOperation>("GET", `/1.0/operations/${started.id}/wait?timeout=-1`);
    if (done.status !== "Success") throw new Error(`Failed to bring "${row.name}" back from "${holder.name}": ${done.err || done.status}`);
  }
  const stopped = JSON.parse(cluster.getLocal(EVACUATED) ?? "[]") as string[];
  for (const instance of stopped) {
    if (!ctx.instances.list().some((r) => r.name === instance) || ctx.instances.isRunning(instance)) continue;
    progress(`Starting "${instance}"`);
    await ctx.instances.start(instance);
  }
  cluster.setLocal(EVACUATED, undefined);
  updateMember(ctx.db, name, { state: "online" });
}
