// `lxd cluster evacuate|restore` on the member itself: its running instances stop (every
// cluster.evacuate mode is carried out as "stop": moving them is not built yet) and the member
// takes no new ones; restore starts again what the evacuation stopped.
import { ApiError } from "../api/error.ts";
import type { ClusterManager } from "../cluster/manager.ts";
import { updateMember } from "../db/cluster-members.ts";
import type { DaemonContext } from "./context.ts";

const EVACUATED = "evacuated_instances";

export async function evacuate(ctx: DaemonContext, cluster: ClusterManager, action: "evacuate" | "restore"): Promise<void> {
  const name = cluster.name;
  if (!name) throw new ApiError(400, "This server is not clustered");
  if (action === "evacuate") {
    updateMember(ctx.db, name, { state: "evacuated" });
    const running = ctx.instances.list().filter((r) => ctx.instances.isRunning(r.name)).map((r) => r.name);
    cluster.setLocal(EVACUATED, JSON.stringify(running));
    for (const instance of running) await ctx.instances.stop(instance, { timeout: 30 });
    return;
  }
  const stopped = JSON.parse(cluster.getLocal(EVACUATED) ?? "[]") as string[];
  for (const instance of stopped) if (!ctx.instances.isRunning(instance)) await ctx.instances.start(instance);
  cluster.setLocal(EVACUATED, undefined);
  updateMember(ctx.db, name, { state: "online" });
}
