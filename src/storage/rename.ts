// Renaming a custom volume: two directory renames (the volume, its snapshots) and the database
// update cannot be one atomic step. An intent file names the rename while it is under way, and
// reconcile moves the trees to whichever name the database holds.
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import { exists, list } from "./tree.ts";

const intents = (base: string) => join(base, "custom-renames");
const trees = (base: string, name: string) => [join(base, "custom", name), join(base, "custom-snapshots", name)];

async function move(base: string, from: string, to: string): Promise<void> {
  const [src, dst] = [trees(base, from), trees(base, to)];
  for (let i = 0; i < src.length; i++) {
    if ((await exists(src[i]!)) && !(await exists(dst[i]!))) await rename(src[i]!, dst[i]!);
  }
}

/** Renames volume `from`'s trees under pool directory `base` to `to`; `commit` records the new
 *  name in the database (if it throws, the trees move back). */
export async function renameCustomTrees(base: string, from: string, to: string, commit: () => void): Promise<void> {
  if (await exists(join(base, "custom", to))) throw new Error(`volume "${to}" already exists on disk`);
  await mkdir(intents(base), { recursive: true, mode: 0o700 });
  const intent = join(intents(base), ulid());
  await writeFile(intent, JSON.stringify({ from, to }), { mode: 0o600 });
  try {
    await move(base, from, to);
    commit();
  } catch (err) {
    await move(base, to, from);
    throw err;
  } finally {
    await rm(intent, { force: true });
  }
}

/** After a crash: finishes or undoes each rename under way, as the database says (`known`). */
export async function repairCustomRenames(base: string, known: { has(name: string): boolean }): Promise<void> {
  for (const id of await list(intents(base))) {
    const file = join(intents(base), id);
    const { from, to } = await Bun.file(file).json().catch(() => ({}) as { from?: string; to?: string });
    if (from && to) await (known.has(to) ? move(base, from, to) : move(base, to, from));
    await rm(file, { force: true });
  }
}
