// `btrfs` driver: a pool is a btrfs filesystem mounted at LXD_DIR/storage-pools/<pool>, either a
// loop file the daemon makes (LXD_DIR/disks/<pool>.img, `size=`) or an existing directory on
// btrfs (`source=`, bind-mounted there). Each image is unpacked once per pool into a read-only
// subvolume; an instance is a writable snapshot of it, its snapshots read-only snapshots of the
// instance, so launch, snapshot, copy and restore are constant-time. The runtime mounts the
// instance's rootfs idmapped (no chown). Size limits are qgroup limits on referenced bytes.
// Subvolumes are created, snapshotted and deleted by ioctls through liblxd (a `btrfs` process
// costs more than the operation); the CLI remains for qgroups and mkfs.
//
// As in the dir driver, every new subvolume is made under a `.tmp-` name and renamed into place;
// a swap (restore) goes through an `.old-` name. Reconcile removes or puts back what a crash left.
import { mkdir, readdir, rename, rm, rmdir, stat, statfs } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ulid } from "ulid";
import { parseSize } from "../config/values.ts";
import { lxdDir, poolDir } from "../paths.ts";
import { customVolume, instanceVolume, type Pool, type RootfsSpec, type StorageDriver, type Volume } from "./driver.ts";
import { btrfsSetReadonly, btrfsSnapshot, btrfsSubvolCreate, btrfsSubvolDelete } from "../kernel/ffi.ts";
import { completeVolumes, describeVolume, snapshotsPath, volumePath, volumesWithSnapshots } from "./layout.ts";
import { receiveTrees, type ReceivePlan } from "./receive.ts";
import { renameTrees, repairRenames } from "./rename.ts";
import { BACKUP_FILE, buildAtomically, copyTree, exists, LEFTOVER, list, repairSwaps, run, swapIn, TMP } from "./tree.ts";

const BTRFS_MAGIC = 0x9123683e;
/** The inode number of every subvolume's root directory. */
const SUBVOL_INO = 256;
const DEFAULT_SIZE = "5GiB";
/** Smallest loop file mkfs.btrfs accepts with default options (and room for a few images). */
const MIN_SIZE = 256 * 2 ** 20;

const root = (pool: Pool) => poolDir(pool.name);
const loopFile = (pool: Pool) => join(lxdDir(), "disks", `${pool.name}.img`);
const imageVol = (pool: Pool, fp: string) => join(root(pool), "images", fp);
/** The subvolume of a volume or snapshot. */
const vol = (pool: Pool, v: Volume) => volumePath(root(pool), v);
const instanceVol = (pool: Pool, name: string) => vol(pool, instanceVolume(name));

const btrfs = (...args: string[]) => run(["btrfs", ...args]);
const unpacking = new Map<string, Promise<void>>();

async function isSubvolume(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  return st?.isDirectory() === true && st.ino === SUBVOL_INO;
}

async function isBtrfs(path: string): Promise<boolean> {
  const fs = await statfs(path).catch(() => undefined);
  return fs?.type === BTRFS_MAGIC;
}

async function isMountPoint(path: string): Promise<boolean> {
  const info = await Bun.file("/proc/self/mountinfo").text();
  return info.split("\n").some((line) => line.split(" ")[4] === path);
}

/** Deletes a subvolume with the subvolumes nested in it (a container may make its own), or a
 *  plain directory a crash left half-made. Nothing there is fine. */
async function deleteVolume(path: string): Promise<void> {
  if (!(await exists(path))) return;
  if (!(await isSubvolume(path))) {
    // A staging directory of a migration may hold received (read-only) subvolumes.
    for (const sub of await nestedSubvolumes(path)) await deleteVolume(sub);
    return rm(path, LEFTOVER);
  }
  // One call in the usual case; only a subvolume with others nested in it needs the slow path.
  try {
    return btrfsSubvolDelete(path);
  } catch (first) {
    // A read-only snapshot must be made writable before anything nested in it can go.
    try { btrfsSetReadonly(path, false); } catch {}
    const nested = await nestedSubvolumes(path);
    if (!nested.length) throw first;
    for (const sub of nested) await deleteVolume(sub);
    btrfsSubvolDelete(path);
  }
}

async function nestedSubvolumes(path: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (await isSubvolume(p)) found.push(p);
      else await walk(p);
    }
  };
  await walk(path);
  return found;
}

/** A snapshot of `from` at `dest`, made under a temporary name and renamed into place. */
async function snapshotInto(from: string, dest: string, readonly: boolean): Promise<void> {
  await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
  await buildAtomically(dest, async (tmp) => btrfsSnapshot(from, tmp, readonly), deleteVolume);
}

/** A fresh subvolume at `dest` filled by `fill` (a copy from another pool: no shared extents). */
async function subvolumeInto(dest: string, fill: (tmp: string) => Promise<void>, readonly = false): Promise<void> {
  await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
  await buildAtomically(dest, async (tmp) => {
    btrfsSubvolCreate(tmp);
    await fill(tmp);
    if (readonly) btrfsSetReadonly(tmp, true);
  }, deleteVolume);
}

/** Copies the content of directory `from` into existing directory `to`. */
async function copyContent(from: string, to: string): Promise<void> {
  for (const e of await list(from)) await copyTree(join(from, e), join(to, e));
}

/** Makes `current` a writable snapshot of `from`, through an `.old-` swap. */
const replaceVolume = (current: string, from: string) => swapIn(current, async (fresh) => btrfsSnapshot(from, fresh, false), deleteVolume);

/** Sets (or with undefined, lifts) the referenced-bytes limit of subvolume `vol`. */
async function limitVolume(pool: Pool, vol: string, bytes: number | undefined): Promise<void> {
  if (bytes === undefined) {
    if (await qgroupBytes(vol)) await btrfs("qgroup", "limit", "none", vol);
    return;
  }
  await enableQuotas(pool);
  await btrfs("qgroup", "limit", String(bytes), vol);
}

/** qgroup numbers of a subvolume: [referenced, exclusive]; undefined when quotas are off. */
async function qgroupBytes(path: string): Promise<[number, number] | undefined> {
  const out = await btrfs("qgroup", "show", "-f", "--raw", path).catch(() => "");
  const line = out.trim().split("\n").find((l) => /^0\/\d+\s/.test(l));
  if (!line) return undefined;
  const [, rfer, excl] = line.trim().split(/\s+/);
  return [Number(rfer), Number(excl)];
}

const quotasOn = new Set<string>();

async function enableQuotas(pool: Pool): Promise<void> {
  if (quotasOn.has(pool.name)) return;
  // Enabling is idempotent; on a fresh pool it is instant (nothing to rescan).
  await btrfs("quota", "enable", root(pool));
  quotasOn.add(pool.name);
}

/** Removes a volume with all its snapshots. */
async function deleteWithSnapshots(pool: Pool, v: Volume): Promise<void> {
  const snapshots = snapshotsPath(root(pool), v.kind, v.name);
  for (const snap of await list(snapshots)) await deleteVolume(join(snapshots, snap));
  await rm(snapshots, { recursive: true, force: true });
  await deleteVolume(vol(pool, v));
}

/** A copy of a volume or snapshot: a snapshot of it in the same pool, a fresh subvolume in another. */
async function copySubvolume(pool: Pool, from: Volume, to: Volume, target = pool): Promise<void> {
  const src = vol(pool, from);
  const dest = vol(target, to);
  if (!(await isSubvolume(src))) throw new Error(`${describeVolume(from)} not found in pool "${pool.name}"`);
  if (await exists(dest)) throw new Error(`${describeVolume(to)} already exists in pool "${target.name}"`);
  const readonly = to.snapshot !== undefined;
  if (target.name === pool.name) return snapshotInto(src, dest, readonly);
  await subvolumeInto(dest, (tmp) => copyContent(src, tmp), readonly);
}

/** A volume or snapshot made from directory `tree` (a backup restored; consumed). */
async function importSubvolume(pool: Pool, v: Volume, tree: string): Promise<void> {
  const dest = vol(pool, v);
  if (await exists(dest)) throw new Error(`${describeVolume(v)} already exists in pool "${pool.name}"`);
  // A subvolume is its own filesystem tree: the content is copied in (reflinked where it can be).
  await subvolumeInto(dest, (tmp) => copyContent(tree, tmp), v.snapshot !== undefined);
  await rm(tree, LEFTOVER);
}

/** Makes the volume a writable snapshot of its snapshot `snapshot`, keeping its size limit. */
async function restoreSubvolume(pool: Pool, v: Volume, snapshot: string): Promise<void> {
  const src = vol(pool, { ...v, snapshot });
  if (!(await isSubvolume(src))) throw new Error(`${describeVolume({ ...v, snapshot })} not found in pool "${pool.name}"`);
  const dest = vol(pool, v);
  const limit = quotasOn.has(pool.name) ? await qgroupLimit(dest) : undefined;
  await replaceVolume(dest, src);
  // The fresh subvolume has a qgroup of its own: carry the limit over.
  if (limit !== undefined) await btrfs("qgroup", "limit", String(limit), dest);
}

/** Bytes only this volume holds (qgroup exclusive: not shared with its image or snapshots). */
async function exclusiveBytes(pool: Pool, v: Volume): Promise<number> {
  const bytes = await qgroupBytes(vol(pool, v));
  if (!bytes) throw new Error(`disk usage of ${v.kind === "instance" ? "instance" : "volume"} "${v.name}" needs quotas on pool "${pool.name}"`);
  return bytes[1];
}

/** Runs `fn` on the subvolume, which holds the volume as LXD lays it out. */
async function exportSubvolume<T>(pool: Pool, v: Volume, fn: (dir: string) => Promise<T>): Promise<T> {
  const path = vol(pool, v);
  if (!(await isSubvolume(path))) throw new Error(`${describeVolume(v)} not found in pool "${pool.name}"`);
  return fn(path);
}

/** `btrfs send [-p parent] path`, its stream handed to `write`. */
async function sendSubvolume(path: string, parent: string | undefined, write: (stream: ReadableStream<Uint8Array>) => Promise<void>): Promise<void> {
  const proc = Bun.spawn(["btrfs", "send", "-q", ...(parent ? ["-p", parent] : []), path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const stderr = new Response(proc.stderr).text();
  try {
    await write(proc.stdout);
  } catch (err) {
    proc.kill(9);
    throw err;
  } finally {
    await proc.exited;
  }
  if (proc.exitCode !== 0) throw new Error(`btrfs send ${path} failed: ${(await stderr).trim() || `exit code ${proc.exitCode}`}`);
}

/** One `btrfs receive` into directory `dir`, fed by `read`; returns the subvolume it made. */
async function receiveSubvolume(dir: string, read: (sink: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<string> {
  const before = new Set(await list(dir));
  // -e: end at the stream's end marker, as the stream ends with its barrier.
  const proc = Bun.spawn(["btrfs", "receive", "-q", "-e", dir], { stdin: "pipe", stdout: "ignore", stderr: "pipe" });
  const stderr = new Response(proc.stderr).text();
  try {
    await read(async (chunk) => {
      proc.stdin.write(chunk);
      await proc.stdin.flush();
    });
    await proc.stdin.end();
  } catch (err) {
    proc.kill(9);
    await proc.exited;
    for (const e of (await list(dir)).filter((x) => !before.has(x))) await deleteVolume(join(dir, e)).catch(() => {});
    throw err;
  }
  const code = await proc.exited;
  const fresh = (await list(dir)).filter((e) => !before.has(e));
  if (code !== 0) {
    for (const e of fresh) await deleteVolume(join(dir, e)).catch(() => {});
    throw new Error(`btrfs receive failed: ${(await stderr).trim() || `exit code ${proc.exitCode}`}`);
  }
  if (fresh.length !== 1) throw new Error("btrfs receive did not produce exactly one subvolume");
  return join(dir, fresh[0]!);
}

/** Receiving into a subvolume: each snapshot is a read-only snapshot of it. */
const subvolumePlan = (dest: string, snapshotDest: (s: string) => string): ReceivePlan => ({
  dest, snapshotDest,
  create: async (path) => btrfsSubvolCreate(path),
  snapshot: (from, to) => snapshotInto(from, to, true),
  remove: deleteVolume,
});

export const btrfsDriver: StorageDriver = {
  name: "btrfs",
  poolKeys: {
    source: (v) => (v.startsWith("/") ? undefined : `Pool source "${v}" must be an absolute path`),
    size: (v) => {
      const bytes = parseSize(v);
      if (bytes === undefined) return `Invalid size "${v}"`;
      return bytes < MIN_SIZE ? `Size "${v}" is too small (at least 256MiB)` : undefined;
    },
    "btrfs.mount_options": (v) => (/^[\w=,.-]*$/.test(v) ? undefined : `Invalid mount options "${v}"`),
  },
  fixedKeys: ["source", "size"],

  async createPool(pool) {
    const config = { ...pool.config };
    const mountOptions = config["btrfs.mount_options"] || "user_subvol_rm_allowed";
    if (config.source) {
      if (config.size) throw new Error(`"size" applies to a loop file the daemon creates, not to source "${config.source}"`);
      if (!(await isBtrfs(config.source))) throw new Error(`source "${config.source}" is not a directory on a btrfs filesystem`);
      if ((await list(config.source)).length) throw new Error(`source "${config.source}" is not empty`);
    } else {
      const file = loopFile(pool);
      if (await exists(file)) throw new Error(`loop file "${file}" already exists`);
      config.size ||= DEFAULT_SIZE;
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      try {
        await run(["truncate", "-s", String(parseSize(config.size)), file]);
        await run(["mkfs.btrfs", "-q", "-L", pool.name, file]);
      } catch (err) {
        await rm(file, { force: true });
        throw err;
      }
      config.source = file;
    }
    config["btrfs.mount_options"] = mountOptions;
    const created = { ...pool, config };
    try {
      await this.mountPool(created);
      for (const sub of ["containers", "containers-snapshots", "images", "custom", "custom-snapshots"]) {
        await mkdir(join(root(created), sub), { recursive: true, mode: 0o700 });
      }
    } catch (err) {
      await this.deletePool(created).catch(() => {});
      throw err;
    }
    return config;
  },

  async mountPool(pool) {
    const dir = root(pool);
    if (await isMountPoint(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o711 });
    const source = pool.config.source;
    const st = await stat(source).catch(() => undefined);
    if (!st) throw new Error(`source "${source}" of pool "${pool.name}" is missing`);
    const options = pool.config["btrfs.mount_options"] || "user_subvol_rm_allowed";
    // A loop mount frees its loop device by itself when unmounted (autoclear).
    if (st.isDirectory()) await run(["mount", "--bind", source, dir]);
    else await run(["mount", "-t", "btrfs", "-o", `loop,${options}`, source, dir]);
  },

  async deletePool(pool) {
    const dir = root(pool);
    if (await isMountPoint(dir)) await run(["umount", dir]);
    // rmdir, never rm -r: were the filesystem still mounted, its content (a user's source) would go.
    await rmdir(dir).catch((err: NodeJS.ErrnoException) => { if (err.code !== "ENOENT") throw err; });
    if (pool.config.source === loopFile(pool)) await rm(loopFile(pool), { force: true });
    quotasOn.delete(pool.name);
  },

  async ensureImage(pool, fingerprint, unpack) {
    const image = imageVol(pool, fingerprint);
    if (await isSubvolume(image)) return;
    let pending = unpacking.get(image);
    if (!pending) {
      pending = subvolumeInto(image, async (tmp) => {
        // The unpacker makes its own directory: unpack beside, then move the content into the subvolume.
        const staging = join(tmp, "unpack");
        await unpack(fingerprint, staging);
        for (const e of await list(staging)) await rename(join(staging, e), join(tmp, e));
        await rm(staging, { recursive: true });
      }, true).finally(() => unpacking.delete(image));
      unpacking.set(image, pending);
    }
    await pending;
  },

  async createInstanceFromImage(pool, instance, fingerprint, unpack) {
    await this.ensureImage(pool, fingerprint, unpack);
    const vol = instanceVol(pool, instance);
    if (await exists(vol)) throw new Error(`volume for instance "${instance}" already exists in pool "${pool.name}"`);
    await snapshotInto(imageVol(pool, fingerprint), vol, false);
  },

  deleteInstance: (pool, instance) => deleteWithSnapshots(pool, instanceVolume(instance)),

  rename(pool, volume, to, commit) {
    return renameTrees(root(pool), volume.kind, volume.name, to, commit);
  },

  copyVolume: (pool, from, to, target) => copySubvolume(pool, from, to, target),

  async deleteSnapshot(pool, instance, snapshot) {
    await deleteVolume(vol(pool, instanceVolume(instance, snapshot)));
  },

  async renameSnapshot(pool, snapshot, to) {
    const dest = vol(pool, { ...snapshot, snapshot: to });
    if (await exists(dest)) throw new Error(`${describeVolume({ ...snapshot, snapshot: to })} already exists in pool "${pool.name}"`);
    await rename(vol(pool, snapshot), dest);
  },

  restoreSnapshot: (pool, instance, snapshot) => restoreSubvolume(pool, instanceVolume(instance), snapshot),

  importVolume: importSubvolume,

  backupFile: (pool, instance) => join(instanceVol(pool, instance), BACKUP_FILE),
  stateDir: (pool, volume) => join(vol(pool, volume), "state"),

  async sendVolume(pool, volume, parent, file) {
    const src = vol(pool, volume);
    // `btrfs send` reads read-only subvolumes: the instance's own is sent from a snapshot of it.
    const frozen = volume.snapshot === undefined ? `${src}${TMP}send-${ulid()}` : undefined;
    if (frozen) btrfsSnapshot(src, frozen, true);
    try {
      await sendSubvolume(frozen ?? src, parent && vol(pool, parent), async (stream) => void (await Bun.write(file, new Response(stream))));
    } finally {
      if (frozen) await deleteVolume(frozen);
    }
  },

  async receiveVolumes(pool, instance, parts, fix) {
    // Received subvolumes stay in a staging directory until the last one is in (an incremental
    // stream finds its parent by received UUID); each is then snapshotted into place.
    const stage = join(root(pool), "containers", `${instance}${TMP}recv-${ulid()}`);
    await mkdir(stage, { recursive: true, mode: 0o700 });
    const placed: string[] = [];
    try {
      for (const part of parts) {
        const received = await receiveSubvolume(stage, async (sink) => {
          for await (const chunk of Bun.file(part.file).stream()) await sink(chunk);
        });
        const dest = vol(pool, instanceVolume(instance, part.snapshot));
        if (await exists(dest)) throw new Error(`${describeVolume(instanceVolume(instance, part.snapshot))} already exists in pool "${pool.name}"`);
        await snapshotInto(received, dest, false);
        placed.push(dest);
        await fix?.(dest);
        if (part.snapshot !== undefined) btrfsSetReadonly(dest, true);
      }
    } catch (err) {
      for (const p of placed.reverse()) await deleteVolume(p).catch(() => {});
      throw err;
    } finally {
      for (const n of await list(stage)) await deleteVolume(join(stage, n)).catch(() => {});
      await rm(stage, LEFTOVER);
    }
  },

  instanceVolumes: (pool) => completeVolumes(root(pool), "instance"),
  customVolumes: (pool) => volumesWithSnapshots(root(pool), "custom"),

  async deleteImage(pool, fingerprint, inUse) {
    if (!inUse) await deleteVolume(imageVol(pool, fingerprint));
  },

  rootfs(pool, instance): RootfsSpec {
    return { kind: "bind", path: join(instanceVol(pool, instance), "rootfs") };
  },

  mountRootfs(pool, instance, _fingerprint, fn) {
    return fn(join(instanceVol(pool, instance), "rootfs"));
  },

  layers(pool, volume, fingerprint) {
    // A restored backup has no image: its instance volume holds metadata.yaml and templates/.
    const image = fingerprint ? imageVol(pool, fingerprint) : instanceVol(pool, volume.name);
    return { layers: [join(vol(pool, volume), "rootfs")], image };
  },

  usage: (pool, instance) => exclusiveBytes(pool, instanceVolume(instance)),

  resize(pool, volume, bytes) {
    return limitVolume(pool, vol(pool, volume), bytes);
  },

  customTree: vol,

  importCustom: importSubvolume,

  async createCustom(pool, volume) {
    const dest = vol(pool, customVolume(volume));
    if (await exists(dest)) throw new Error(`volume "${volume}" already exists in pool "${pool.name}"`);
    await subvolumeInto(dest, async () => {});
  },

  deleteCustom: (pool, volume) => deleteWithSnapshots(pool, customVolume(volume)),

  copyCustom: copySubvolume,

  async deleteCustomSnapshot(pool, volume, snapshot) {
    await deleteVolume(vol(pool, customVolume(volume, snapshot)));
  },

  restoreCustom: (pool, volume, snapshot) => restoreSubvolume(pool, customVolume(volume), snapshot),

  customUsage: (pool, volume) => exclusiveBytes(pool, customVolume(volume)),

  // A subvolume already holds metadata.yaml, templates/ and rootfs/ as LXD lays them out.
  exportVolume: (pool, volume, _fingerprint, fn) => exportSubvolume(pool, volume, fn),

  exportCustom: exportSubvolume,

  receive(pool, volume, snapshots, fill, refresh) {
    return receiveTrees(subvolumePlan(vol(pool, volume), (s) => vol(pool, { ...volume, snapshot: s })), snapshots, fill, refresh);
  },

  async sendSubvolumes(pool, volume, snapshots, write) {
    const main = vol(pool, volume);
    const snapshot = (s: string) => vol(pool, { ...volume, snapshot: s });
    let parent: string | undefined;
    for (const snap of snapshots) {
      await sendSubvolume(snapshot(snap), parent, write);
      parent = snapshot(snap);
    }
    // The volume itself through a read-only snapshot (btrfs send reads read-only subvolumes only).
    const frozen = `${main}${TMP}${ulid()}`;
    btrfsSnapshot(main, frozen, true);
    try {
      await sendSubvolume(frozen, parent, write);
    } finally {
      await deleteVolume(frozen);
    }
  },

  async receiveSubvolumes(pool, volume, snapshots, read) {
    const main = vol(pool, volume);
    const snapshot = (s: string) => vol(pool, { ...volume, snapshot: s });
    if (await exists(main)) throw new Error(`${main} already exists`);
    const staging = `${main}${TMP}${ulid()}`;
    const made: string[] = [];
    try {
      // A read-only subvolume cannot move to another directory: each snapshot is received where
      // it belongs (the sender names its subvolume after the snapshot, as LXD does); a crash
      // leaves only snapshots the database does not name, which reconcile removes.
      for (const snap of snapshots) {
        const dest = snapshot(snap);
        if (await exists(dest)) throw new Error(`${dest} already exists`);
        await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
        const received = await receiveSubvolume(dirname(dest), read);
        made.push(received);
        if (received !== dest) throw new Error(`the btrfs stream for snapshot "${snap}" holds another subvolume (${basename(received)})`);
      }
      // The volume itself becomes writable, then moves into place.
      await mkdir(staging, { recursive: true, mode: 0o700 });
      const received = await receiveSubvolume(staging, read);
      btrfsSetReadonly(received, false);
      await rename(received, main);
      made.push(main);
    } catch (err) {
      for (const path of made.reverse()) await deleteVolume(path).catch(() => {});
      throw err;
    } finally {
      await deleteVolume(staging).catch(() => {});
    }
  },

  async reconcile(pool, known) {
    await this.mountPool(pool);
    if (await qgroupBytes(root(pool))) quotasOn.add(pool.name);
    const base = root(pool);
    await repairRenames(base, "custom", known.custom);
    await repairRenames(base, "instance", known.instances);
    await repairSwaps(join(base, "containers"), (name) => known.instances.has(name), deleteVolume);
    await repairSwaps(join(base, "custom"), (name) => known.custom.has(name), deleteVolume);
    const snapshotTrees = async (dir: string, owners: Map<string, Set<string>>) => {
      for (const name of await list(dir)) {
        const snaps = owners.get(name);
        for (const snap of await list(join(dir, name))) if (!snaps?.has(snap)) await deleteVolume(join(dir, name, snap));
        if (!snaps) await rm(join(dir, name), LEFTOVER);
      }
    };
    await snapshotTrees(join(base, "containers-snapshots"), known.instances);
    await snapshotTrees(join(base, "custom-snapshots"), known.custom);
    for (const name of await list(join(base, "images"))) {
      if (name.includes(TMP) || !known.images.has(name)) await deleteVolume(join(base, "images", name));
    }
  },
};

/** A subvolume's referenced-bytes limit, if quotas are on and one is set. */
async function qgroupLimit(path: string): Promise<number | undefined> {
  const out = await btrfs("qgroup", "show", "-rf", "--raw", path).catch(() => "");
  const line = out.trim().split("\n").find((l) => /^0\/\d+\s/.test(l));
  const max = line?.trim().split(/\s+/)[3];
  return max && /^\d+$/.test(max) ? Number(max) : undefined;
}
