// Frozen overlay layers of a dir pool. A layer is a former upper directory (overlay metadata
// included: whiteouts, opaque dirs) kept read-only under `layers/<ulid>`. An instance or snapshot
// names its layers, newest first, in a `layers` file; instances, snapshots and copies share them,
// and a layer no `layers` file names is removed (`collect`). Chains deeper than MAX_DEPTH are
// squashed into one layer: overlayfs allows 500 lowers, and every layer costs each lookup.
import { existsSync, readFileSync } from "node:fs";
import { lstat, mkdir, readdir, rename, rm, writeFile, chmod, lchown } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import { lgetxattr } from "../kernel/ffi.ts";
import { buildAtomically, copyTree, LEFTOVER, list, TMP } from "./tree.ts";

export const MAX_DEPTH = 32;
export const CHAIN = "layers";

export const layersRoot = (root: string) => join(root, "layers");
export const layerPath = (root: string, id: string) => join(root, "layers", id);

const parse = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

/** The chain a volume or snapshot directory names (none: it sits right on the image). */
export async function readChain(dir: string, file = CHAIN): Promise<string[]> {
  return parse(await Bun.file(join(dir, file)).text().catch(() => ""));
}

/** Synchronous, for building a launch spec. */
export function readChainSync(dir: string): string[] {
  const file = join(dir, CHAIN);
  return existsSync(file) ? parse(readFileSync(file, "utf8")) : [];
}

/** Writes a chain file through a rename, so a reader sees the old or the new one, whole. */
export async function writeChain(dir: string, chain: string[], file = CHAIN): Promise<void> {
  const tmp = join(dir, `${file}${TMP}${ulid()}`);
  await writeFile(tmp, chain.map((id) => `${id}\n`).join(""), { mode: 0o600 });
  await rename(tmp, join(dir, file));
}

/** Copies directory `from` (an upper still in use, or another pool's layer) in as a layer. */
export async function copyLayer(root: string, from: string, id = ulid()): Promise<string> {
  await mkdir(layersRoot(root), { recursive: true, mode: 0o700 });
  await buildAtomically(layerPath(root, id), (tmp) => copyTree(from, tmp));
  return id;
}

const isOpaque = (path: string) =>
  (lgetxattr(path, "user.overlay.opaque") ?? lgetxattr(path, "trusted.overlay.opaque"))?.toString() === "y";

/** Applies layer `src` on top of the merged layer `dst` as overlayfs would show it: a newer
 *  entry replaces an older one, a plain directory merges into an older one, and whiteouts and
 *  opaque directories are kept so they still hide what the image has. */
async function mergeInto(src: string, dst: string): Promise<void> {
  // The newer directory's owner and mode win.
  const top = await lstat(src);
  await lchown(dst, top.uid, top.gid);
  await chmod(dst, top.mode & 0o7777);
  for (const e of await readdir(src)) {
    const s = join(src, e);
    const d = join(dst, e);
    const st = await lstat(s);
    const old = await lstat(d).catch(() => undefined);
    if (st.isDirectory() && old?.isDirectory() && !isOpaque(s)) {
      await mergeInto(s, d);
      continue;
    }
    if (old) await rm(d, { recursive: true, force: true });
    await copyTree(s, d);
  }
}

/** One new layer equal to `chain` (newest first) stacked; the chain's layers stay as they are. */
export async function squash(root: string, chain: string[]): Promise<string> {
  const id = ulid();
  await buildAtomically(layerPath(root, id), async (tmp) => {
    await copyTree(layerPath(root, chain[chain.length - 1]!), tmp);
    for (let i = chain.length - 2; i >= 0; i--) await mergeInto(layerPath(root, chain[i]!), tmp);
  });
  return id;
}

/** `chain` itself, or one squashed layer when it is deeper than MAX_DEPTH. */
export async function capped(root: string, chain: string[]): Promise<string[]> {
  return chain.length > MAX_DEPTH ? [await squash(root, chain)] : chain;
}

/** Removes layers no chain names: `chains` are the directories holding `layers` files (an
 *  instance's `layers.next` of a swap under way counts too). */
export async function collect(root: string, chainDirs: string[]): Promise<void> {
  const used = new Set<string>();
  for (const dir of chainDirs) {
    for (const file of [CHAIN, `${CHAIN}.next`]) for (const id of await readChain(dir, file)) used.add(id);
  }
  for (const id of await list(layersRoot(root))) {
    if (!used.has(id)) await rm(layerPath(root, id), LEFTOVER);
  }
}
