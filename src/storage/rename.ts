// Renaming a volume (a custom volume or an instance's): two directory renames (the volume, its
// snapshots) and the database update cannot be one atomic step. An intent file names the rename
// while it is under way, and reconcile moves the trees to whichever name the database holds.
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import type { VolumeKind } from "./driver.ts";
import { KIND_DIR, snapshotsPath, volumePath } from "./layout.ts";
import { exists, list } from "./tree.ts";

const intents = (base: string, kind: VolumeKind) => join(base, `${KIND_DIR[kind]}-renames`);
const trees = (base: string, kind: VolumeKind, name: string) => [volumePath(base, { kind, name }), snapshotsPath(base, kind, name)];

async function move(base: string, kind: VolumeKind, from: string, to: string): Promise<void> {
  const [src, dst] = [trees(base, kind, from), trees(base, kind, to)];
  for (let i = 0; i < src.length; i++) {
    if ((await exists(src[i]!)) && !(await exists(dst[i]!))) await rename(src[i]!, dst[i]!);
  }
}

/** Renames volume `from`'s trees under pool directory `base` to `to`; `commit` records the new
 *  name in the database (if it throws, the trees move back). */
export async function renameTrees(base: string, kind: VolumeKind, from: string, to: string, commit: () => void): Promise<void> {
  if (await exists(volumePath(base, { kind, name: to }))) throw new Error(`volume "${to}" already exists on disk`);
  await mkdir(intents(base, kind), { recursive: true, mode: 0o700 });
  const intent = join(intents(base, kind), ulid());
  await writeFile(intent, JSON.stringify({ from, to }), { mode: 0o600 });
  try {
    await move(base, kind, from, to);
    commit();
  } catch (err) {
    await move(base, kind, to, from);
    throw err;
  } finally {
    await rm(intent, { force: true });
  }
}

/** After a crash: finishes or undoes each rename under way, as the database says (`known`). */
export async function repairRenames(base: string, kind: VolumeKind, known: { has(name: string): boolean }): Promise<void> {
  for (const id of await list(intents(base, kind))) {
    const file = join(intents(base, kind), id);
    const { from, to } = await Bun.file(file).json().catch(() => ({}) as { from?: string; to?: string });
    if (from && to) await (known.has(to) ? move(base, kind, from, to) : move(base, kind, to, from));
    await rm(file, { force: true });
  }
}
