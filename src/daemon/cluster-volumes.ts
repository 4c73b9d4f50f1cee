// Custom volumes on a cluster, as LXD 5.0 has them on local pools: each volume belongs to the member
// whose pool holds it (`location`), and the same name may exist once per member. Requests about a
// volume go to its member (`?target=` chooses when several have the name), a copy from a volume of
// another member pulls it over the migration API, and an instance using a volume stays on its member.
import { ApiError } from "../api/error.ts";
import type { Operation as ApiOperation } from "../api/operation.ts";
import type { StorageVolume } from "../api/storage.ts";
import type { ClusterManager } from "../cluster/manager.ts";
import { peerJson } from "../cluster/peer.ts";
import type { Db } from "../db/index.ts";
import { volumeLocations } from "../db/storage-volumes.ts";
import type { MemberRow } from "../db/cluster-members.ts";
import type { DaemonContext } from "./context.ts";
import type { PeerRequest } from "./migrations.ts";

/** The member holding volume `stored` of `pool` when it is not this one; undefined when it is here
 *  or nowhere (answered locally: a 404). Several members with that name need `?target=`. */
export function volumeHome(cluster: ClusterManager, db: Db, pool: string, stored: string): MemberRow | undefined {
  const locations = volumeLocations(db, pool, stored);
  if (locations.length > 1) {
    throw new ApiError(400, `More than one cluster member has a volume named "${stored}". Please target a specific member`);
  }
  if (!locations.length || locations[0] === cluster.name) return undefined;
  return cluster.row(locations[0]!);
}

/** The member a copy's source volume is on: the one the request names (LXD's `source.location`), else
 *  the only one with it (this member first). */
export function sourceMember(cluster: ClusterManager, db: Db, pool: string, stored: string, named?: string): string {
  if (named) return cluster.row(named).name;
  const locations = volumeLocations(db, pool, stored);
  if (locations.includes(cluster.name!) || locations.length === 0) return cluster.name!;
  if (locations.length > 1) throw new ApiError(400, `More than one cluster member has a volume named "${stored}". Please target a specific member`);
  return locations[0]!;
}

/** Asks `member` to send its volume: the pull source of a migration this member then runs, with the
 *  volume's description and config (the copy's unless the request names its own). */
export async function remoteVolumeSource(cluster: ClusterManager, member: string, pool: string, stored: string, volumeOnly: boolean):
  Promise<{ peer: Required<PeerRequest>; volume: StorageVolume }> {
  const row = cluster.row(member);
  if (!cluster.online(row)) throw new ApiError(503, `Cluster member "${member}" is offline`);
  const identity = cluster.identity();
  const path = `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes/custom/${encodeURIComponent(stored)}`;
  const volume = await peerJson<StorageVolume>(identity, row.address, path, "GET", undefined, 30_000);
  const op = await peerJson<ApiOperation>(identity, row.address, path, "POST", { name: stored, migration: true, volume_only: volumeOnly }, 60_000);
  const secrets = Object.fromEntries(Object.entries(op.metadata ?? {}).filter(([, v]) => typeof v === "string")) as Record<string, string>;
  return { peer: { operation: `https://${row.address}/1.0/operations/${op.id}`, certificate: identity.cert, secrets }, volume };
}

/** Custom volumes (disk devices with a pool, other than the root disk) an instance uses: they stay
 *  on its member, so the instance cannot leave it. */
export function localVolumes(ctx: DaemonContext, name: string): string[] {
  const { devices } = ctx.instances.expanded(ctx.instances.get(name));
  return Object.values(devices).filter((d) => d.type === "disk" && d.path !== "/" && d.pool && d.source).map((d) => `${d.pool}/${d.source}`);
}

/** Refuses to move an instance that uses custom volumes of its member (their data stays there). */
export function checkMovable(ctx: DaemonContext, name: string, member: string): void {
  const used = localVolumes(ctx, name);
  if (used.length) {
    throw new ApiError(400, `Instance "${name}" uses custom volume${used.length > 1 ? "s" : ""} ${used.map((v) => `"${v}"`).join(", ")} of cluster member "${member}": detach or move ${used.length > 1 ? "them" : "it"} first`);
  }
}
