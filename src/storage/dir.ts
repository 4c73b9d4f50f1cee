// `dir` driver: works on any filesystem. Each image is unpacked once per pool and shared
// read-only; an instance is an overlayfs upper/work pair on top of it, mounted by the container
// runtime inside the container's own mount namespace. Launch, snapshot and copy never copy a rootfs.
//
// Snapshots and copies copy only the instance's upper layer (what the container wrote), with
// reflinks where the filesystem has them (btrfs, xfs) and a plain copy elsewhere (ext4). The copy
// keeps the upper's overlay metadata (whiteouts, `user.overlay.*` xattrs) so it means the same on
// top of the same image layer. Every new volume is built under a `.tmp-` name and renamed into
// place, so a crash leaves only names that `reconcile` removes.
import { mkdir, rename, rm, readdir } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import { isBool } from "../instance/config.ts";
import { poolDir } from "../paths.ts";
import type { CustomRef, Pool, RootfsSpec, StorageDriver, VolumeRef } from "./driver.ts";
import { copyTree, diskUsage, exists, LEFTOVER, list, OLD, TMP } from "./tree.ts";

const root = (pool: Pool) => pool.config.source || poolDir(pool.name);
const imageDir = (pool: Pool, fp: string) => join(root(pool), "images", fp);
const volumeDir = (pool: Pool, name: string) => join(root(pool), "containers", name);
const snapshotsDir = (pool: Pool, name: string) => join(root(pool), "containers-snapshots", name);
const refDir = (pool: Pool, ref: VolumeRef) =>
  ref.snapshot === undefined ? volumeDir(pool, ref.instance) : join(snapshotsDir(pool, ref.instance), ref.snapshot);
const describe = (ref: VolumeRef) => ref.snapshot === undefined ? `instance "${ref.instance}"` : `snapshot "${ref.instance}/${ref.snapshot}"`;
const customDir = (pool: Pool, volume: string) => join(root(pool), "custom", volume);
const customSnapshotsDir = (pool: Pool, volume: string) => join(root(pool), "custom-snapshots", volume);
const customRefDir = (pool: Pool, ref: CustomRef) =>
  ref.snapshot === undefined ? customDir(pool, ref.volume) : join(customSnapshotsDir(pool, ref.volume), ref.snapshot);
const describeCustom = (ref: CustomRef) => ref.snapshot === undefined ? `volume "${ref.volume}"` : `volume snapshot "${ref.volume}/${ref.snapshot}"`;

// One unpack per image per pool, even when many launches ask at once.
const unpacking = new Map<string, Promise<void>>();

/** Builds `dest` by `fill(tmp)` beside it and a rename: a crash leaves only a `.tmp-` name. */
async function buildAtomically(dest: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dest}${TMP}${ulid()}`;
  try {
    await fill(tmp);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Replaces directory `current` by a fresh copy of `from`; between the two renames only the
 *  `.old-` copy exists, and reconcile puts it back. */
async function replaceTree(current: string, from: string): Promise<void> {
  const id = ulid();
  const fresh = `${current}${TMP}${id}`;
  const old = `${current}${OLD}${id}`;
  try {
    await copyTree(from, fresh);
  } catch (err) {
    await rm(fresh, { recursive: true, force: true });
    throw err;
  }
  await rename(current, old);
  await rename(fresh, current);
  await rm(old, { recursive: true, force: true });
}

/** In `dir`, puts back a `NAME.old-*` whose swap was cut short and removes other leftovers. */
async function repairSwaps(dir: string, keep: (name: string) => boolean): Promise<void> {
  const entries = await list(dir);
  for (const e of entries) {
    const old = e.indexOf(OLD);
    if (old > 0 && keep(e.slice(0, old)) && !entries.includes(e.slice(0, old))) {
      await rename(join(dir, e), join(dir, e.slice(0, old)));
      entries.push(e.slice(0, old));
    } else if (e.includes(OLD) || e.includes(TMP) || !keep(e)) {
      await rm(join(dir, e), LEFTOVER);
    }
  }
}

export const dirDriver: StorageDriver = {
  name: "dir",
  poolKeys: {
    source: (v) => (v.startsWith("/") ? undefined : `Pool source "${v}" must be an absolute path`),
    "rsync.bwlimit": () => undefined,
    "rsync.compression": (v) => (isBool(v) ? undefined : `Invalid value for a boolean "${v}"`),
  },
  fixedKeys: ["source"],

  async createPool(pool) {
    const config = { ...pool.config };
    if (config.source) {
      // As LXD's dir driver: an existing directory is taken over only when it is empty.
      if ((await list(config.source)).length) throw new Error(`source "${config.source}" is not empty`);
    } else {
      config.source = poolDir(pool.name);
    }
    // Root only: files in these trees are owned by host uid 0 on disk (idmapped mounts), setuid
    // ones included, and container root writes them; no host user may reach them. Containers do
    // not need the paths: the monitor and the mount helper open them as root.
    for (const sub of ["containers", "images", "custom"]) {
      await mkdir(join(config.source, sub), { recursive: true, mode: 0o700 });
    }
    return config;
  },

  async mountPool() {},

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
        const tmp = `${image}${TMP}${ulid()}`;
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
    await buildAtomically(dest, async (tmp) => {
      await mkdir(tmp, { mode: 0o711 });
      await copyTree(src, join(tmp, "upper"));
      if (to.snapshot === undefined) await mkdir(join(tmp, "work"), { mode: 0o700 });
    });
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
    await replaceTree(join(vol, "upper"), src);
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

  async resize(pool, instance, bytes) {
    // ext4 and xfs could enforce this with project quotas, which need the filesystem mounted with
    // prjquota; this driver does not set them up, so a limit would be a lie.
    if (bytes !== undefined) {
      throw new Error(`pool "${pool.name}" (dir) cannot limit the size of instance "${instance}": use a btrfs pool for size limits`);
    }
  },

  async createCustom(pool, volume) {
    const dest = customDir(pool, volume);
    if (await exists(dest)) throw new Error(`volume "${volume}" already exists in pool "${pool.name}"`);
    await mkdir(join(root(pool), "custom"), { recursive: true, mode: 0o700 });
    await buildAtomically(dest, (tmp) => mkdir(tmp, { mode: 0o755 }));
  },

  async deleteCustom(pool, volume) {
    await rm(customDir(pool, volume), { recursive: true, force: true });
    await rm(customSnapshotsDir(pool, volume), { recursive: true, force: true });
  },

  customPath: (pool, volume) => customDir(pool, volume),

  async copyCustom(pool, from, to, target = pool) {
    const src = customRefDir(pool, from);
    const dest = customRefDir(target, to);
    if (!(await exists(src))) throw new Error(`${describeCustom(from)} not found in pool "${pool.name}"`);
    if (await exists(dest)) throw new Error(`${describeCustom(to)} already exists in pool "${target.name}"`);
    const parent = to.snapshot === undefined ? join(root(target), "custom") : customSnapshotsDir(target, to.volume);
    await mkdir(parent, { recursive: true, mode: 0o700 });
    await buildAtomically(dest, (tmp) => copyTree(src, tmp));
  },

  async deleteCustomSnapshot(pool, volume, snapshot) {
    await rm(customRefDir(pool, { volume, snapshot }), { recursive: true, force: true });
  },

  async restoreCustom(pool, volume, snapshot) {
    const src = customRefDir(pool, { volume, snapshot });
    if (!(await exists(src))) throw new Error(`volume snapshot "${volume}/${snapshot}" not found in pool "${pool.name}"`);
    await replaceTree(customDir(pool, volume), src);
  },

  customUsage(pool, volume) {
    return diskUsage(customDir(pool, volume));
  },

  async reconcile(pool, known) {
    const base = root(pool);
    const volumes = known.instances;
    for (const name of await list(join(base, "containers"))) {
      const vol = join(base, "containers", name);
      if (!volumes.has(name)) {
        await rm(vol, LEFTOVER);
        continue;
      }
      // A restore cut short: keep the complete upper (the old one if the new one never landed).
      await repairSwaps(vol, (e) => e === "upper" || e === "work");
    }
    const snapshotTrees = async (dir: string, owners: Map<string, Set<string>>) => {
      for (const name of await list(dir)) {
        const snaps = owners.get(name);
        if (!snaps) await rm(join(dir, name), LEFTOVER);
        else for (const snap of await list(join(dir, name))) if (!snaps.has(snap)) await rm(join(dir, name, snap), LEFTOVER);
      }
    };
    await snapshotTrees(join(base, "containers-snapshots"), volumes);
    await repairSwaps(join(base, "custom"), (name) => known.custom.has(name));
    await snapshotTrees(join(base, "custom-snapshots"), known.custom);
    // Half-unpacked images, and layers of deleted images whose last instance is gone.
    for (const name of await readdir(join(base, "images")).catch(() => [] as string[])) {
      if (name.includes(TMP) || !known.images.has(name)) await rm(join(base, "images", name), LEFTOVER);
    }
  },
};
