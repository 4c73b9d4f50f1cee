// `dir` driver: works on any filesystem. Each image is unpacked once per pool and shared
// read-only; an instance is an overlayfs upper/work pair on top of it, mounted by the container
// runtime inside the container's own mount namespace. Launch, snapshot and copy never copy a rootfs.
import { mkdir, rename, rm, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import { poolDir } from "../paths.ts";
import type { ImageUnpacker, Pool, RootfsSpec, StorageDriver } from "./driver.ts";

const root = (pool: Pool) => pool.config.source || poolDir(pool.name);
const imageDir = (pool: Pool, fp: string) => join(root(pool), "images", fp);
const volumeDir = (pool: Pool, name: string) => join(root(pool), "containers", name);

// One unpack per image per pool, even when many launches ask at once.
const unpacking = new Map<string, Promise<void>>();

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
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
    for (const sub of ["containers", "images", "custom"]) {
      await mkdir(join(root(pool), sub), { recursive: true, mode: 0o711 });
    }
  },

  async deletePool(pool) {
    // Only a directory the daemon made itself is removed; a user-given source is left alone.
    if (root(pool) === poolDir(pool.name)) await rm(root(pool), { recursive: true, force: true });
  },

  async createInstanceFromImage(pool, instance, fingerprint, unpack) {
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
    const vol = volumeDir(pool, instance);
    if (await exists(vol)) throw new Error(`volume for instance "${instance}" already exists in pool "${pool.name}"`);
    await mkdir(join(vol, "upper"), { recursive: true, mode: 0o755 });
    await mkdir(join(vol, "work"), { mode: 0o700 });
  },

  async deleteInstance(pool, instance) {
    await rm(volumeDir(pool, instance), { recursive: true, force: true });
  },

  async renameInstance(pool, from, to) {
    await rename(volumeDir(pool, from), volumeDir(pool, to));
  },

  async deleteImage(pool, fingerprint, inUse) {
    if (!inUse) await rm(imageDir(pool, fingerprint), { recursive: true, force: true });
  },

  rootfs(pool, instance, fingerprint): RootfsSpec {
    const vol = volumeDir(pool, instance);
    return { kind: "overlay", lower: join(imageDir(pool, fingerprint), "rootfs"), upper: join(vol, "upper"), work: join(vol, "work") };
  },

  usage(pool, instance) {
    return diskUsage(join(volumeDir(pool, instance), "upper"));
  },

  async reconcile(pool, instances) {
    const base = root(pool);
    for (const name of await readdir(join(base, "containers")).catch(() => [] as string[])) {
      if (!instances.has(name)) await rm(join(base, "containers", name), { recursive: true, force: true });
    }
    for (const name of await readdir(join(base, "images")).catch(() => [] as string[])) {
      if (name.includes(".tmp-")) await rm(join(base, "images", name), { recursive: true, force: true });
    }
  },
};
