// Building a volume from a migration stream, the same way for every driver: a sender sends each
// snapshot's tree and then the volume's, one after the other into one staging directory (rsync
// brings it from one state to the next); after each snapshot's tree the staging directory is
// snapshotted, and at the end it is renamed into place. The staging name carries `.tmp-` and
// snapshots are named only in the database once everything arrived, so reconcile removes what a
// crash left; a failure removes it at once. A refresh (LXD's `copy --refresh`) builds the same way
// beside an existing volume: the new snapshots join the ones it keeps, and the staging directory
// then takes the volume's place (the old one moved aside as `.old-`, which reconcile puts back if
// a crash came in between).
import { mkdir, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { ulid } from "ulid";
import { exists, OLD, TMP } from "./tree.ts";

/** Writes one tree into the staging directory: `snapshot` names it, undefined is the volume itself. */
export type TreeFiller = (dir: string, snapshot?: string) => Promise<void>;

export interface ReceivePlan {
  /** Where the volume ends up. */
  dest: string;
  /** Where each snapshot ends up. */
  snapshotDest: (snapshot: string) => string;
  /** Creates the empty staging directory (a subvolume on btrfs). */
  create(path: string): Promise<void>;
  /** Makes `to` a frozen copy of staging directory `from`. */
  snapshot(from: string, to: string): Promise<void>;
  /** Removes a staging directory or a snapshot made so far. */
  remove(path: string): Promise<void>;
}

export async function receiveTrees(plan: ReceivePlan, snapshots: string[], fill: TreeFiller, refresh = false): Promise<void> {
  if (refresh !== (await exists(plan.dest))) throw new Error(`${plan.dest} ${refresh ? "does not exist" : "already exists"}`);
  await mkdir(dirname(plan.dest), { recursive: true, mode: 0o700 });
  const staging = `${plan.dest}${TMP}${ulid()}`;
  const made: string[] = [];
  try {
    await plan.create(staging);
    made.push(staging);
    for (const snap of snapshots) {
      await fill(staging, snap);
      const to = plan.snapshotDest(snap);
      if (await exists(to)) throw new Error(`${to} already exists`);
      await mkdir(dirname(to), { recursive: true, mode: 0o700 });
      await plan.snapshot(staging, to);
      made.push(to);
    }
    await fill(staging);
    if (!refresh) {
      await rename(staging, plan.dest);
      return;
    }
    const old = `${plan.dest}${OLD}${ulid()}`;
    await rename(plan.dest, old);
    await rename(staging, plan.dest);
    await plan.remove(old).catch(() => {});
  } catch (err) {
    for (const path of made.reverse()) await plan.remove(path).catch(() => {});
    throw err;
  }
}
