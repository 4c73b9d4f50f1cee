// An LXD peer that keeps containers shifted on disk sends host ids with its idmap in the
// migration header; this daemon keeps the container's own ids on disk (idmapped mounts), so the
// received tree is shifted back once. A peer that sends an empty idmap (this daemon, or an LXD on
// idmapped mounts) needs nothing.
import { chmod, lstat, lchown, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { IdmapEntry } from "./proto.ts";

function unshift(id: number, entries: IdmapEntry[], uid: boolean): number {
  for (const e of entries) {
    if ((uid ? e.isuid : e.isgid) && id >= e.hostid && id < e.hostid + e.maprange) return id - e.hostid + e.nsid;
  }
  return id;
}

/** Changes every owner in `dir` (not following symlinks) from the peer's host ids to container ids. */
export async function shiftTree(dir: string, entries: IdmapEntry[]): Promise<void> {
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    const uid = unshift(st.uid, entries, true);
    const gid = unshift(st.gid, entries, false);
    // lchown clears setuid/setgid bits: only touch what changes, then put the mode back.
    if (uid !== st.uid || gid !== st.gid) {
      await lchown(path, uid, gid);
      if (!st.isSymbolicLink() && st.mode & 0o6000) await chmod(path, st.mode & 0o7777);
    }
    if (st.isDirectory()) for (const e of await readdir(path)) await walk(join(path, e));
  };
  await walk(dir);
}
