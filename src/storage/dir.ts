// `dir` driver: works on any filesystem. Each image is unpacked once per pool and shared
// read-only; an instance is an overlayfs upper/work pair on top of it, mounted by the container
// runtime inside the container's own mount namespace. Launch, snapshot and copy never copy a rootfs.
//
// Snapshots and copies copy only the instance's upper layer (what the container wrote), with
// reflinks where the filesystem has them (btrfs, xfs) and a plain copy elsewhere (ext4). The copy
// keeps the upper's overlay metadata (whiteouts, `user.overlay.*` xattrs) so it means the same on
// top of the same image layer. Every new volume is built under a `.tmp-` name and renamed into
// place, so a crash leaves only names that `reconcile` removes.
import { mkdir, rename, rm, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import { poolDir } from "../paths.ts";
import type { ImageUnpacker, Pool, RootfsSpec, StorageDriver, VolumeRef } from "./driver.ts";

const root = (pool: Pool) => pool.config.source || poolDir(pool.name);
const imageDir = (pool: Pool, fp: string) => join(root(pool), "images", fp);
const volumeDir = (pool: Pool, name: string) => join(root(pool), "containers", name);
const snapshotsDir = (pool: Pool, name: string) => join(root(pool), "containers-snapshots", name);
const refDir = (pool: Pool, ref: VolumeRef) =>
  ref.snapshot === undefined ? volumeDir(pool, ref.instance) : join(snapshotsDir(pool, ref.instance), ref.snapshot);
const describe = (ref: VolumeRef) => ref.snapshot === undefined ? `instance "${ref.instance}"` : `snapshot "${ref.instance}/${ref.snapshot}"`;
const TMP = ".tmp-";
const OLD = ".old-";
/** A `cp` of a killed daemon may still be writing into a leftover: retry while it races the removal. */
const LEFTOVER = { recursive: true, force: true, maxRetries: 5, retryDelay: 100 } as const;

// One unpack per image per pool, even when many launches ask at once.
const unpacking = new Map<string, Promise<void>>();

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** `cp -a` keeps owners, modes, hard links, device nodes (whiteouts) and xattrs; `--reflink=auto`
 *  shares extents where the filesystem can. */
async function copyTree(from: string, to: string): Promise<void> {
  const proc = Bun.spawn(["cp", "-a", "--reflink=auto", "--", from, to], { stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`copying ${from} to ${to} failed: ${err.trim() || `cp exited with ${code}`}`);
}

async function diskUsage(path: string): Promise<number> {
  let total = 0;
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += await diskUsage(p);
    else total += (await stat(p).catch(() => ({ blocks: 0 }))).blocks * 512;
  }
  return total;
}

export const dirDriver: StorageDriver = {
  name: "dir",

  async createPool(pool) {
    // Root only: files in these trees are owned by host uid 0 on disk (idmapped mounts), setuid
    // ones included, and container root writes them; no host user may reach them. Containers do
    // not need the paths: the monitor opens their layers as root.
    for (const sub of ["containers", "images", "custom"]) {
      await mkdir(join(root(pool), sub), { recursive: true, mode: 0o700 });
    }
  },

  async deletePool(pool) {
    // Only a directory the daemon made itself is removed; a user-given source is left alone.
    if (root(pool) === poolDir(pool.name)) await rm(root(pool), { recursive: true, force: true });
  },

  async createInstanceFromImage(pool, instance, fingerprint, unpack) {
    await this.ensureImage(pool, fingerprint, unpack);
    const vol = volumeDir(pool, instance);
    if (await exists(vol)) throw new Error(`volume for instance "${instance}" already exists in pool "${pool.name}"`);
    await mkdir(join(vol, "upper"), { recursive: true, mode: 0o755 });
    await mkdir(join(vol, "work"), { mode: 0o700 });
  },

  async ensureImage(pool, fingerprint, unpack) {
    const image = imageDir(pool, fingerprint);
    if (!(await exists(join(image, "rootfs")))) {
      let pending = unpacking.get(image);
      if (!pending) {
        // Unpack beside the final place and rename: a crash leaves no half image behind.
        const tmp = `${image}.tmp-${ulid()}`;
        pending = unpack(fingerprint, tmp)
          .then(() => rename(tmp, image))
          .catch(async (err) => { await rm(tmp, { recursive: true, force: true }); throw err; })
          .finally(() => unpacking.delete(image));
        unpacking.set(image, pending);
      }
      await pending;
    }
  },

  async deleteInstance(pool, instance) {
    await rm(volumeDir(pool, instance), { recursive: true, force: true });
    await rm(snapshotsDir(pool, instance), { recursive: true, force: true });
  },

  async renameInstance(pool, from, to) {
    await rename(volumeDir(pool, from), volumeDir(pool, to));
    if (await exists(snapshotsDir(pool, from))) await rename(snapshotsDir(pool, from), snapshotsDir(pool, to));
  },

  async copyVolume(pool, from, to, target = pool) {
    const src = join(refDir(pool, from), "upper");
    const dest = refDir(target, to);
    if (!(await exists(src))) throw new Error(`volume of ${describe(from)} not found in pool "${pool.name}"`);
    if (await exists(dest)) throw new Error(`volume of ${describe(to)} already exists in pool "${target.name}"`);
    const parent = to.snapshot === undefined ? join(root(target), "containers") : snapshotsDir(target, to.instance);
    await mkdir(parent, { recursive: true, mode: 0o700 });
    const tmp = `${dest}${TMP}${ulid()}`;
    try {
      await mkdir(tmp, { mode: 0o711 });
      await copyTree(src, join(tmp, "upper"));
      if (to.snapshot === undefined) await mkdir(join(tmp, "work"), { mode: 0o700 });
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  },

  async deleteSnapshot(pool, instance, snapshot) {
    await rm(refDir(pool, { instance, snapshot }), { recursive: true, force: true });
  },

  async renameSnapshot(pool, instance, from, to) {
    const dest = refDir(pool, { instance, snapshot: to });
    if (await exists(dest)) throw new Error(`volume of snapshot "${instance}/${to}" already exists in pool "${pool.name}"`);
    await rename(refDir(pool, { instance, snapshot: from }), dest);
  },

  async restoreSnapshot(pool, instance, snapshot) {
    const vol = volumeDir(pool, instance);
    const src = join(refDir(pool, { instance, snapshot }), "upper");
    if (!(await exists(src))) throw new Error(`volume of snapshot "${instance}/${snapshot}" not found in pool "${pool.name}"`);
    const id = ulid();
    const fresh = join(vol, `upper${TMP}${id}`);
    const old = join(vol, `upper${OLD}${id}`);
    try {
      await copyTree(src, fresh);
    } catch (err) {
      await rm(fresh, { recursive: true, force: true });
      throw err;
    }
    // Between these two renames there is no `upper`: reconcile puts the old one back.
    await rename(join(vol, "upper"), old);
    await rename(fresh, join(vol, "upper"));
    await rm(old, { recursive: true, force: true });
    // Overlay's work dir must be empty and belong to this upper.
    await rm(join(vol, "work"), { recursive: true, force: true });
    await mkdir(join(vol, "work"), { mode: 0o700 });
  },

  async deleteImage(pool, fingerprint, inUse) {
    if (!inUse) await rm(imageDir(pool, fingerprint), { recursive: true, force: true });
  },

  layers(pool, ref, fingerprint) {
    return { layers: [join(refDir(pool, ref), "upper"), join(imageDir(pool, fingerprint), "rootfs")], image: imageDir(pool, fingerprint) };
  },

  rootfs(pool, instance, fingerprint): RootfsSpec {
    const vol = volumeDir(pool, instance);
    return { kind: "overlay", lower: join(imageDir(pool, fingerprint), "rootfs"), upper: join(vol, "upper"), work: join(vol, "work") };
  },

  usage(pool, instance) {
    return diskUsage(join(volumeDir(pool, instance), "upper"));
  },

  async reconcile(pool, volumes) {
    const base = root(pool);
    const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
    for (const name of await list(join(base, "containers"))) {
      const vol = join(base, "containers", name);
      if (!volumes.has(name)) {
        await rm(vol, LEFTOVER);
        continue;
      }
      // A restore cut short: keep the complete upper (the old one if the new one never landed).
      const entries = await list(vol);
      const old = entries.find((e) => e.startsWith(`upper${OLD}`));
      if (old && !entries.includes("upper")) await rename(join(vol, old), join(vol, "upper"));
      for (const e of entries) {
        if (e !== old && (e.startsWith(`upper${TMP}`) || e.startsWith(`upper${OLD}`))) await rm(join(vol, e), LEFTOVER);
      }
      if (old && entries.includes("upper")) await rm(join(vol, old), LEFTOVER);
    }
    for (const name of await list(join(base, "containers-snapshots"))) {
      const snaps = volumes.get(name);
      const dir = join(base, "containers-snapshots", name);
      if (!snaps) {
        await rm(dir, LEFTOVER);
        continue;
      }
      for (const snap of await list(dir)) {
        if (!snaps.has(snap)) await rm(join(dir, snap), LEFTOVER);
      }
    }
    for (const name of await readdir(join(base, "images")).catch(() => [] as string[])) {
      if (name.includes(".tmp-")) await rm(join(base, "images", name), LEFTOVER);
    }
  },
};
