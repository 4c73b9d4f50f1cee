// Where a pool keeps each volume, the same for every driver that keeps volumes as directories or
// subvolumes (dir, btrfs), as LXD lays out its pools: `containers/NAME` and
// `containers-snapshots/NAME/SNAP` for instances, `custom/` and `custom-snapshots/` for custom volumes.
import { join } from "node:path";
import type { Volume, VolumeKind } from "./driver.ts";
import { list, OLD, TMP } from "./tree.ts";

/** The pool directory holding the volumes of a kind. */
export const KIND_DIR: Record<VolumeKind, string> = { instance: "containers", custom: "custom" };

/** The directory holding volume `name`'s snapshots. */
export const snapshotsPath = (root: string, kind: VolumeKind, name: string): string => join(root, `${KIND_DIR[kind]}-snapshots`, name);

export const volumePath = (root: string, v: Volume): string =>
  v.snapshot === undefined ? join(root, KIND_DIR[v.kind], v.name) : join(snapshotsPath(root, v.kind, v.name), v.snapshot);

/** The volume as error messages name it: `volume of instance "c1"`, `volume snapshot "v1/s0"`. */
export function describeVolume(v: Volume): string {
  if (v.kind === "instance") return v.snapshot === undefined ? `volume of instance "${v.name}"` : `volume of snapshot "${v.name}/${v.snapshot}"`;
  return v.snapshot === undefined ? `volume "${v.name}"` : `volume snapshot "${v.name}/${v.snapshot}"`;
}

/** Not half-made (`.tmp-`) nor set aside by a swap (`.old-`). */
const complete = (name: string) => !name.includes(TMP) && !name.includes(OLD);

/** The names of the complete volumes of a kind in the pool at `root`. */
export const completeVolumes = async (root: string, kind: VolumeKind): Promise<string[]> =>
  (await list(join(root, KIND_DIR[kind]))).filter(complete);

/** The complete volumes of a kind with their complete snapshots' names. */
export async function volumesWithSnapshots(root: string, kind: VolumeKind): Promise<{ name: string; snapshots: string[] }[]> {
  const names = await completeVolumes(root, kind);
  return Promise.all(names.map(async (name) => ({ name, snapshots: (await list(snapshotsPath(root, kind, name))).filter(complete) })));
}
