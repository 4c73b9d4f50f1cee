// Filesystem helpers the drivers share: existence, copies that keep overlay metadata, disk usage,
// and the crash-safe naming (`.tmp-` while building, `.old-` while swapping) reconcile relies on.
import { readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";

export const TMP = ".tmp-";
/** An instance volume's own records (LXD's backup.yaml), written once its row exists. */
export const BACKUP_FILE = "backup.yaml";
export const OLD = ".old-";
/** A `cp` of a killed daemon may still be writing into a leftover: retry while it races the removal. */
export const LEFTOVER = { recursive: true, force: true, maxRetries: 5, retryDelay: 100 } as const;

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

export const list = (dir: string): Promise<string[]> => readdir(dir).catch(() => [] as string[]);

/** Removes a tree (the default way the helpers below drop a leftover; btrfs passes its own). */
const removeTree = (path: string): Promise<void> => rm(path, LEFTOVER);

/** Builds `dest` by `fill(tmp)` beside it and a rename: a crash leaves only a `.tmp-` name
 *  (reconcile removes it), a failure removes it at once. */
export async function buildAtomically(dest: string, fill: (tmp: string) => Promise<void>, remove = removeTree): Promise<void> {
  const tmp = `${dest}${TMP}${ulid()}`;
  try {
    await fill(tmp);
    await rename(tmp, dest);
  } catch (err) {
    await remove(tmp).catch(() => {});
    throw err;
  }
}

/** Replaces `current` by what `make(fresh)` builds beside it; between the two renames only the
 *  `.old-` one exists, which repairSwaps puts back. */
export async function swapIn(current: string, make: (fresh: string) => Promise<void>, remove = removeTree): Promise<void> {
  const id = ulid();
  const fresh = `${current}${TMP}${id}`;
  const old = `${current}${OLD}${id}`;
  try {
    await make(fresh);
  } catch (err) {
    await remove(fresh).catch(() => {});
    throw err;
  }
  await rename(current, old);
  await rename(fresh, current);
  await remove(old);
}

/** In `dir`, puts back a `NAME.old-*` whose swap was cut short, and removes other leftovers and
 *  the entries `keep` refuses. */
export async function repairSwaps(dir: string, keep: (name: string) => boolean, remove = removeTree): Promise<void> {
  const entries = await list(dir);
  for (const e of entries) {
    const at = e.indexOf(OLD);
    if (at > 0 && keep(e.slice(0, at)) && !entries.includes(e.slice(0, at))) {
      await rename(join(dir, e), join(dir, e.slice(0, at)));
      entries.push(e.slice(0, at));
    } else if (e.includes(OLD) || e.includes(TMP) || !keep(e)) {
      await remove(join(dir, e));
    }
  }
}

/** Runs a storage tool; its stderr becomes the error. */
export async function run(argv: string[]): Promise<string> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} failed: ${err.trim() || `exit code ${code}`}`);
  return out;
}

/** `cp -a` keeps owners, modes, hard links, device nodes (whiteouts) and xattrs; `--reflink=auto`
 *  shares extents where the filesystem can. */
export async function copyTree(from: string, to: string): Promise<void> {
  const proc = Bun.spawn(["cp", "-a", "--reflink=auto", "--", from, to], { stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`copying ${from} to ${to} failed: ${err.trim() || `cp exited with ${code}`}`);
}

export async function diskUsage(path: string): Promise<number> {
  let total = 0;
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += await diskUsage(p);
    else total += (await stat(p).catch(() => ({ blocks: 0 }))).blocks * 512;
  }
  return total;
}

/** Makes directory `to` a copy of `from` (ids, modes, hard links, xattrs, sparse files kept;
 *  what `from` lacks deleted): rsync only writes what differs, by content (a file rewritten in
 *  the same second at the same size would pass its size-and-time check). */
export async function syncTree(from: string, to: string): Promise<void> {
  const proc = Bun.spawn(["rsync", "-aHX", "--checksum", "--numeric-ids", "--sparse", "--delete", "--", `${from}/`, `${to}/`], { stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`copying ${from} to ${to} failed: ${err.trim() || `rsync exited with ${code}`}`);
}
