// `dir` driver: works on any filesystem. Each image is unpacked once per pool and shared
// read-only; an instance is an overlayfs upper/work pair on top of it and of a chain of frozen
// layers (layers.ts), mounted by the container runtime inside the container's own mount namespace.
//
// Snapshot, copy and restore of a stopped instance take constant time: a snapshot renames the
// instance's upper into a new frozen layer and gives the instance a fresh empty upper; snapshot,
// instance and copies then name the same layers. A running container's upper is mounted inside
// it, and renaming it on the host would not detach it (the container would keep writing into the
// "frozen" layer), so for a running instance the upper alone (what it wrote since its last
// stopped snapshot, never the image) is copied, reflinked where the filesystem can, while the
// container is frozen. Overlay-on-overlay would avoid that copy but needs the container's mount
// tree changed under it. Every new volume is built under a `.tmp-` name and renamed into place,
// and the upper swap goes through `layers.next`/`upper.next`, so reconcile can finish or undo it.
//
// A volume received from another daemon has no image underneath: it is a plain tree laid out as
// LXD's own dir driver keeps it (metadata.yaml, templates/, rootfs/), bind-mounted as the
// container's root; its snapshots, copies and restores are whole copies (reflinked where the
// filesystem can).
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, rename, rm, rmdir, readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ulid } from "ulid";
import { isBool } from "../config/values.ts";
import { MNT, MS, mount, umount } from "../kernel/ffi.ts";
import { mountOverlay } from "../kernel/overlay.ts";
import { poolDir } from "../paths.ts";
import { customVolume, instanceVolume, type Pool, type RootfsSpec, type StorageDriver, type Volume } from "./driver.ts";
import { capped, CHAIN, collect, copyLayer, layerPath, readChain, readChainSync, writeChain } from "./layers.ts";
import { completeVolumes, describeVolume, snapshotsPath, volumePath, volumesWithSnapshots } from "./layout.ts";
import { receiveTrees, type ReceivePlan } from "./receive.ts";
import { renameTrees, repairRenames } from "./rename.ts";
import { BACKUP_FILE, buildAtomically, copyTree, diskUsage, exists, LEFTOVER, list, repairSwaps, swapIn, TMP } from "./tree.ts";

const root = (pool: Pool) => pool.config.source || poolDir(pool.name);
const imageDir = (pool: Pool, fp: string) => join(root(pool), "images", fp);
/** The directory of a volume or snapshot. */
const refDir = (pool: Pool, v: Volume) => volumePath(root(pool), v);
const volumeDir = (pool: Pool, name: string) => refDir(pool, instanceVolume(name));
const snapshotsDir = (pool: Pool, name: string) => snapshotsPath(root(pool), "instance", name);
const customDir = (pool: Pool, volume: string) => refDir(pool, customVolume(volume));
/** A volume (or snapshot) received from another daemon: a whole tree, no layers. */
const isPlain = (dir: string) => existsSync(join(dir, "rootfs"));
const exportsDir = (pool: Pool) => join(root(pool), "exports");

// One unpack per image per pool, even when many launches ask at once.
const unpacking = new Map<string, Promise<void>>();

// Layer changes (freeze, share, collect) of one pool happen one at a time.
const poolLocks = new Map<string, Promise<unknown>>();
function locked<T>(pools: Pool[], fn: () => Promise<T>): Promise<T> {
  const roots = [...new Set(pools.map(root))].sort();
  const run = roots.reduceRight<() => Promise<T>>((inner, r) => () => {
    const next = (poolLocks.get(r) ?? Promise.resolve()).catch(() => {}).then(inner);
    poolLocks.set(r, next);
    next.finally(() => { if (poolLocks.get(r) === next) poolLocks.delete(r); }).catch(() => {});
    return next;
  }, fn);
  return run();
}

/** Every directory that may hold a chain file: instance volumes and snapshots. */
async function chainDirs(pool: Pool): Promise<string[]> {
  const dirs = (await list(join(root(pool), "containers"))).map((n) => volumeDir(pool, n));
  for (const inst of await list(join(root(pool), "containers-snapshots"))) {
    for (const snap of await list(snapshotsDir(pool, inst))) dirs.push(join(snapshotsDir(pool, inst), snap));
  }
  return dirs;
}

const collectLayers = async (pool: Pool) => collect(root(pool), await chainDirs(pool));

/** Gives instance volume `vol` the layer chain `chain` and a fresh empty upper (owned and
 *  moded as the old one: it is the container's `/`). The old upper goes to `keepUpperAt` (it
 *  became a layer) or away. Crash-safe through `layers.next` and `upper.next` (see repairSwap). */
async function swapUpper(vol: string, chain: string[], keepUpperAt?: string): Promise<void> {
  const upper = join(vol, "upper");
  const st = await stat(upper);
  // upper.next first: a `layers.next` then always comes with one (repairSwap relies on it).
  await rm(join(vol, "upper.next"), { recursive: true, force: true });
  await mkdir(join(vol, "upper.next"), { mode: 0o755 });
  await chown(join(vol, "upper.next"), st.uid, st.gid);
  await chmod(join(vol, "upper.next"), st.mode & 0o7777);
  await writeChain(vol, chain, `${CHAIN}.next`);
  await rename(upper, keepUpperAt ?? join(vol, "upper.old"));
  await finishSwap(vol);
}

/** The second half of a swap whose old upper has moved away. */
async function finishSwap(vol: string): Promise<void> {
  if (await exists(join(vol, "upper.next"))) await rename(join(vol, "upper.next"), join(vol, "upper"));
  else if (!(await exists(join(vol, "upper")))) await mkdir(join(vol, "upper"), { mode: 0o755 });
  await rename(join(vol, `${CHAIN}.next`), join(vol, CHAIN));
  await rm(join(vol, "upper.old"), { recursive: true, force: true });
  // Overlay's work dir must be empty and belong to this upper.
  await rm(join(vol, "work"), { recursive: true, force: true });
  await mkdir(join(vol, "work"), { mode: 0o700 });
}

/** A swap cut short: undone while the old upper is still in place, finished once it moved. */
async function repairSwap(vol: string): Promise<void> {
  if (await exists(join(vol, `${CHAIN}.next`))) {
    // The old upper still in place: undo. Moved away (upper.next then renamed or not): finish.
    if (await exists(join(vol, "upper")) && await exists(join(vol, "upper.next"))) {
      await rm(join(vol, `${CHAIN}.next`), { force: true });
    } else {
      await finishSwap(vol);
    }
  }
  await rm(join(vol, "upper.next"), LEFTOVER);
  await rm(join(vol, "upper.old"), LEFTOVER);
  if (!(await exists(join(vol, "work")))) await mkdir(join(vol, "work"), { mode: 0o700 });
}

/** The chain of a stopped instance with its upper frozen in: the upper (if it holds anything)
 *  becomes the newest layer, and the instance continues on a fresh upper above it. */
async function freezeUpper(pool: Pool, instance: string): Promise<string[]> {
  const vol = volumeDir(pool, instance);
  const chain = await readChain(vol);
  if (!(await list(join(vol, "upper"))).length) return chain;
  const id = ulid();
  await mkdir(join(root(pool), "layers"), { recursive: true, mode: 0o700 });
  const frozen = [id, ...chain];
  await swapUpper(vol, frozen, layerPath(root(pool), id));
  // Past the depth cap, the chain is squashed into one layer (a copy, once per MAX_DEPTH freezes).
  const next = await capped(root(pool), frozen);
  if (next !== frozen) await writeChain(vol, next);
  return next;
}

/** The chain for a copy of a running instance (or one into another pool): the upper is copied
 *  into a new layer of `target` on top of the instance's chain. */
async function copyUpper(pool: Pool, instance: string, target: Pool): Promise<string[]> {
  const vol = volumeDir(pool, instance);
  const chain = await readChain(vol);
  if (!(await list(join(vol, "upper"))).length) return chain;
  return [await copyLayer(root(target), join(vol, "upper")), ...chain];
}

/** What an image keeps beside its rootfs; an instance volume without an image keeps them itself. */
const IMAGE_FILES = ["metadata.yaml", "templates"];

/** Moves `from` to `to`, or copies it when they are on different filesystems. */
async function moveOrCopy(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyTree(from, to);
  }
}

/** Makes directory `from` a new frozen layer of the pool; returns its id. */
async function moveLayer(pool: Pool, from: string): Promise<string> {
  await mkdir(join(root(pool), "layers"), { recursive: true, mode: 0o700 });
  const id = ulid();
  await buildAtomically(layerPath(root(pool), id), (tmp) => moveOrCopy(from, tmp));
  return id;
}

/** Replaces directory `current` by a fresh copy of `from` (crash-safe: see swapIn). */
const replaceTree = (current: string, from: string) => swapIn(current, (fresh) => copyTree(from, fresh));

/** Snapshots of the former kind hold a copied `upper`: it becomes their layer (in place, no
 *  copy). The chain file is written first, so a crash in between is finished next time. */
async function migrateSnapshots(pool: Pool): Promise<void> {
  for (const inst of await list(join(root(pool), "containers-snapshots"))) {
    for (const snap of await list(snapshotsDir(pool, inst))) {
      const dir = join(snapshotsDir(pool, inst), snap);
      if (!(await exists(join(dir, "upper")))) continue;
      let chain = await readChain(dir);
      if (!chain.length) await writeChain(dir, (chain = [ulid()]));
      await mkdir(join(root(pool), "layers"), { recursive: true, mode: 0o700 });
      if (await exists(layerPath(root(pool), chain[0]!))) await rm(join(dir, "upper"), LEFTOVER);
      else await rename(join(dir, "upper"), layerPath(root(pool), chain[0]!));
    }
  }
}

/** Receiving into plain directories: snapshots are copies of the staging tree. */
const plainPlan = (dest: string, snapshotDest: (s: string) => string): ReceivePlan => ({
  dest, snapshotDest,
  create: (path) => mkdir(path, { mode: 0o711 }),
  snapshot: (from, to) => buildAtomically(to, (tmp) => copyTree(from, tmp)),
  remove: (path) => rm(path, LEFTOVER),
});

/** Export mounts a killed daemon left behind. */
async function removeExports(pool: Pool): Promise<void> {
  for (const id of await list(exportsDir(pool))) {
    try { umount(join(exportsDir(pool), id, "rootfs"), MNT.DETACH); } catch { /* not mounted */ }
    await removeStage(join(exportsDir(pool), id));
  }
}

/** Runs `fn` on a fresh export stage whose rootfs/ `prepare` mounts: unmounted and removed after,
 *  and by the next start of a daemon killed meanwhile (removeExports). */
async function staged<T>(pool: Pool, prepare: (stage: string, rootfs: string) => Promise<void>, fn: (stage: string, rootfs: string) => Promise<T>): Promise<T> {
  const stage = join(exportsDir(pool), ulid());
  const rootfs = join(stage, "rootfs");
  await mkdir(rootfs, { recursive: true, mode: 0o700 });
  try {
    await prepare(stage, rootfs);
    try {
      return await fn(stage, rootfs);
    } finally {
      umount(rootfs, MNT.DETACH);
    }
  } finally {
    await removeStage(stage);
  }
}

/** Removes an export's directory once its rootfs is no longer a mount point (never through one:
 *  a bind mount there would reach the image's own files). */
async function removeStage(stage: string): Promise<void> {
  const free = await rmdir(join(stage, "rootfs")).then(() => true, (err: NodeJS.ErrnoException) => err.code === "ENOENT");
  if (free) await rm(stage, LEFTOVER);
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
    await locked([pool], async () => {
      await rm(volumeDir(pool, instance), { recursive: true, force: true });
      await rm(snapshotsDir(pool, instance), { recursive: true, force: true });
      await collectLayers(pool);
    });
  },

  rename(pool, volume, to, commit) {
    return renameTrees(root(pool), volume.kind, volume.name, to, commit);
  },

  async copyVolume(pool, from, to, target = pool, live = false) {
    const src = refDir(pool, from);
    const dest = refDir(target, to);
    if (!isPlain(src) && !(await exists(join(src, from.snapshot === undefined ? "upper" : CHAIN)))) {
      throw new Error(`${describeVolume(from)} not found in pool "${pool.name}"`);
    }
    if (await exists(dest)) throw new Error(`${describeVolume(to)} already exists in pool "${target.name}"`);
    if (isPlain(src)) {
      await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
      return buildAtomically(dest, (tmp) => copyTree(src, tmp));
    }
    await locked([pool, target], async () => {
      let chain: string[];
      if (from.snapshot !== undefined) chain = await readChain(src);
      else if (live || target !== pool) chain = await copyUpper(pool, from.name, target);
      else chain = await freezeUpper(pool, from.name);
      if (root(target) !== root(pool)) {
        // Layers keep their ids across pools: one a former copy brought over is shared again.
        for (const id of chain) {
          if (!(await exists(layerPath(root(target), id)))) await copyLayer(root(target), layerPath(root(pool), id), id);
        }
      }
      chain = await capped(root(target), chain);
      const parent = dirname(dest);
      await mkdir(parent, { recursive: true, mode: 0o700 });
      await buildAtomically(dest, async (tmp) => {
        await mkdir(tmp, { mode: 0o711 });
        await writeChain(tmp, chain);
        if (to.snapshot === undefined) {
          await mkdir(join(tmp, "upper"), { mode: 0o755 });
          await mkdir(join(tmp, "work"), { mode: 0o700 });
          // A restored backup's metadata.yaml and templates/ live in its instance volume.
          const own = volumeDir(pool, from.name);
          for (const f of IMAGE_FILES) if (await exists(join(own, f))) await copyTree(join(own, f), join(tmp, f));
        }
      });
    });
  },

  async deleteSnapshot(pool, instance, snapshot) {
    await locked([pool], async () => {
      await rm(refDir(pool, instanceVolume(instance, snapshot)), { recursive: true, force: true });
      await collectLayers(pool);
    });
  },

  async renameSnapshot(pool, snapshot, to) {
    const dest = refDir(pool, { ...snapshot, snapshot: to });
    if (await exists(dest)) throw new Error(`${describeVolume({ ...snapshot, snapshot: to })} already exists in pool "${pool.name}"`);
    await rename(refDir(pool, snapshot), dest);
  },

  async restoreSnapshot(pool, instance, snapshot) {
    const snap = refDir(pool, instanceVolume(instance, snapshot));
    if (isPlain(snap)) return replaceTree(volumeDir(pool, instance), snap);
    if (!(await exists(join(snap, CHAIN)))) throw new Error(`volume of snapshot "${instance}/${snapshot}" not found in pool "${pool.name}"`);
    await locked([pool], async () => {
      // The instance takes the snapshot's layers; what it wrote since goes with its old upper.
      await swapUpper(volumeDir(pool, instance), await readChain(snap));
      await collectLayers(pool);
    });
  },

  async importVolume(pool, volume, tree) {
    const dest = refDir(pool, volume);
    if (await exists(dest)) throw new Error(`${describeVolume(volume)} already exists in pool "${pool.name}"`);
    const st = await stat(join(tree, "rootfs"));
    // The whole tree becomes one frozen layer (moved, not copied, on the same filesystem).
    const id = await moveLayer(pool, join(tree, "rootfs"));
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    await buildAtomically(dest, async (tmp) => {
      await mkdir(tmp, { mode: 0o711 });
      await writeChain(tmp, [id]);
      if (volume.snapshot !== undefined) return;
      // The upper's root is the container's `/`: it takes the tree's owner and mode.
      await mkdir(join(tmp, "upper"), { mode: 0o755 });
      await chown(join(tmp, "upper"), st.uid, st.gid);
      await chmod(join(tmp, "upper"), st.mode & 0o7777);
      await mkdir(join(tmp, "work"), { mode: 0o700 });
      for (const f of IMAGE_FILES) if (await exists(join(tree, f))) await moveOrCopy(join(tree, f), join(tmp, f));
    }).catch(async (err) => {
      await locked([pool], () => collectLayers(pool));
      throw err;
    });
  },

  backupFile: (pool, instance) => join(volumeDir(pool, instance), BACKUP_FILE),
  stateDir: (pool, volume) => join(refDir(pool, volume), "state"),

  instanceVolumes: (pool) => completeVolumes(root(pool), "instance"),
  customVolumes: (pool) => volumesWithSnapshots(root(pool), "custom"),

  async deleteImage(pool, fingerprint, inUse) {
    if (!inUse) await rm(imageDir(pool, fingerprint), { recursive: true, force: true });
  },

  layers(pool, volume, fingerprint) {
    // Its own upper (a snapshot frozen while stopped has none), its frozen layers, the image
    // (none below a restored backup: its instance volume keeps metadata.yaml and templates/).
    const dir = refDir(pool, volume);
    if (isPlain(dir)) return { layers: [join(dir, "rootfs")], image: dir };
    const own = existsSync(join(dir, "upper")) ? [join(dir, "upper")] : [];
    const frozen = readChainSync(dir).map((id) => layerPath(root(pool), id));
    if (!fingerprint) return { layers: [...own, ...frozen], image: volumeDir(pool, volume.name) };
    return { layers: [...own, ...frozen, join(imageDir(pool, fingerprint), "rootfs")], image: imageDir(pool, fingerprint) };
  },

  rootfs(pool, instance, fingerprint): RootfsSpec {
    const vol = volumeDir(pool, instance);
    if (isPlain(vol)) return { kind: "bind", path: join(vol, "rootfs") };
    const layers = readChainSync(vol).map((id) => layerPath(root(pool), id));
    // Without an image (a restored backup), the oldest frozen layer is the lowest one.
    const lower = fingerprint ? join(imageDir(pool, fingerprint), "rootfs") : layers.pop()!;
    return { kind: "overlay", lower, layers, upper: join(vol, "upper"), work: join(vol, "work") };
  },

  /** The instance's upper and its frozen layers (shared ones counted for each sharer). */
  async usage(pool, instance) {
    const vol = volumeDir(pool, instance);
    if (isPlain(vol)) return diskUsage(vol);
    let total = await diskUsage(join(vol, "upper"));
    for (const id of await readChain(vol)) total += await diskUsage(layerPath(root(pool), id));
    return total;
  },

  async resize(pool, volume, bytes) {
    // ext4 and xfs could enforce this with project quotas, which need the filesystem mounted with
    // prjquota; this driver does not set them up, so a limit would be a lie.
    if (bytes !== undefined) {
      const what = `${volume.kind === "instance" ? "instance" : "volume"} "${volume.name}"`;
      throw new Error(`pool "${pool.name}" (dir) cannot limit the size of ${what}: use a btrfs pool for size limits`);
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
    await rm(snapshotsPath(root(pool), "custom", volume), { recursive: true, force: true });
  },

  customTree: refDir,

  async importCustom(pool, volume, tree) {
    const dest = refDir(pool, volume);
    if (await exists(dest)) throw new Error(`${describeVolume(volume)} already exists in pool "${pool.name}"`);
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    await buildAtomically(dest, (tmp) => moveOrCopy(tree, tmp));
  },

  async copyCustom(pool, from, to, target = pool) {
    const src = refDir(pool, from);
    const dest = refDir(target, to);
    if (!(await exists(src))) throw new Error(`${describeVolume(from)} not found in pool "${pool.name}"`);
    if (await exists(dest)) throw new Error(`${describeVolume(to)} already exists in pool "${target.name}"`);
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    await buildAtomically(dest, (tmp) => copyTree(src, tmp));
  },

  async deleteCustomSnapshot(pool, volume, snapshot) {
    await rm(refDir(pool, customVolume(volume, snapshot)), { recursive: true, force: true });
  },

  async restoreCustom(pool, volume, snapshot) {
    const src = refDir(pool, customVolume(volume, snapshot));
    if (!(await exists(src))) throw new Error(`${describeVolume(customVolume(volume, snapshot))} not found in pool "${pool.name}"`);
    await replaceTree(customDir(pool, volume), src);
  },

  customUsage(pool, volume) {
    return diskUsage(customDir(pool, volume));
  },

  mountRootfs(pool, instance, fingerprint, fn) {
    const spec = this.rootfs(pool, instance, fingerprint);
    if (spec.kind === "bind") return fn(spec.path);
    // Writable, as the container mounts it.
    return staged(pool, async (_stage, rootfs) => {
      mountOverlay(rootfs, [...spec.layers ?? [], spec.lower], spec);
    }, (_stage, rootfs) => fn(rootfs));
  },

  exportVolume(pool, volume, fingerprint, fn) {
    const dir = refDir(pool, volume);
    if (isPlain(dir)) return fn(dir);
    // The layers merged by a read-only overlay mount (whiteouts applied as the container saw
    // them), beside the image's metadata.yaml and templates/.
    const { layers, image } = this.layers(pool, volume, fingerprint);
    return staged(pool, async (stage, rootfs) => {
      for (const e of ["metadata.yaml", "templates"]) if (await exists(join(image, e))) await copyTree(join(image, e), join(stage, e));
      // overlayfs wants two lower layers at least; one is bound as it is.
      if (layers.length === 1) mount(layers[0]!, rootfs, null, MS.BIND);
      else mountOverlay(rootfs, layers);
    }, (stage) => fn(stage));
  },

  async exportCustom(pool, volume, fn) {
    const dir = refDir(pool, volume);
    if (!(await exists(dir))) throw new Error(`${describeVolume(volume)} not found in pool "${pool.name}"`);
    return fn(dir);
  },

  receive(pool, volume, snapshots, fill, refresh) {
    return receiveTrees(plainPlan(refDir(pool, volume), (s) => refDir(pool, { ...volume, snapshot: s })), snapshots, fill, refresh);
  },

  async reconcile(pool, known) {
    const base = root(pool);
    await repairRenames(base, "custom", known.custom);
    await repairRenames(base, "instance", known.instances);
    const volumes = known.instances;
    await removeExports(pool);
    // Unknown volumes go; a plain volume's restore cut short is put back.
    await repairSwaps(join(base, "containers"), (name) => volumes.has(name));
    // Side by side: each is a few file-system calls on its own volume, and a restarted daemon
    // with a thousand instances would otherwise wait for them one round trip at a time.
    await Promise.all((await list(join(base, "containers"))).map(async (name) => {
      const vol = join(base, "containers", name);
      if (isPlain(vol)) return;
      // An upper swap cut short (snapshot, restore), or a restore of the former copying kind.
      await repairSwap(vol);
      await repairSwaps(vol, (e) => e === "upper" || e === "work" || e === CHAIN || e === BACKUP_FILE || IMAGE_FILES.includes(e));
    }));
    const snapshotTrees = async (dir: string, owners: Map<string, Set<string>>) => {
      for (const name of await list(dir)) {
        const snaps = owners.get(name);
        if (!snaps) await rm(join(dir, name), LEFTOVER);
        else for (const snap of await list(join(dir, name))) if (!snaps.has(snap)) await rm(join(dir, name, snap), LEFTOVER);
      }
    };
    await snapshotTrees(join(base, "containers-snapshots"), volumes);
    await migrateSnapshots(pool);
    for (const name of await list(join(base, "layers"))) if (name.includes(TMP)) await rm(join(base, "layers", name), LEFTOVER);
    await collectLayers(pool);
    await repairSwaps(join(base, "custom"), (name) => known.custom.has(name));
    await snapshotTrees(join(base, "custom-snapshots"), known.custom);
    // Half-unpacked images, and layers of deleted images whose last instance is gone.
    for (const name of await readdir(join(base, "images")).catch(() => [] as string[])) {
      if (name.includes(TMP) || !known.images.has(name)) await rm(join(base, "images", name), LEFTOVER);
    }
  },
};
