// The storage driver seam: every backend (dir and btrfs today; zfs and lvm fit the same shape)
// implements this interface, one driver per file, chosen per pool by its `driver` field.
import type { LaunchSpec } from "../kernel/monitor.ts";
import type { TreeFiller } from "./receive.ts";

export interface Pool {
  name: string;
  driver: string;
  config: Record<string, string>;
}

/** What the container runtime mounts as `/`: ready for the monitor, never chowned. */
export type RootfsSpec = LaunchSpec["rootfs"];

/** Unpacks an image's tarball into `dest` (which gets metadata.yaml, templates/, rootfs/). */
export type ImageUnpacker = (fingerprint: string, dest: string) => Promise<void>;

export type VolumeKind = "instance" | "custom";

/** A volume (an instance's root, or a custom volume), or one of its snapshots when `snapshot` is set. */
export interface Volume {
  kind: VolumeKind;
  name: string;
  snapshot?: string;
}

export const instanceVolume = (name: string, snapshot?: string): Volume => ({ kind: "instance", name, snapshot });
export const customVolume = (name: string, snapshot?: string): Volume => ({ kind: "custom", name, snapshot });

/** Pool config key -> validator returning an error message or undefined. */
export type KeyCheck = (value: string) => string | undefined;

/** What exists in the database, for reconcile: names -> their snapshots' names. */
export interface KnownVolumes {
  instances: Map<string, Set<string>>;
  custom: Map<string, Set<string>>;
  /** Image layers to keep: images in the store and images instances still build on. */
  images: Set<string>;
}

export interface StorageDriver {
  readonly name: string;
  /** Config keys this driver accepts on a pool (besides user.*). */
  readonly poolKeys: Record<string, KeyCheck>;
  /** Keys that cannot change after creation. */
  readonly fixedKeys: string[];
  /** Creates the pool's storage; returns its config completed with the defaults chosen. */
  createPool(pool: Pool): Promise<Record<string, string>>;
  /** Makes a created pool usable again after a host or daemon restart (mounts). */
  mountPool(pool: Pool): Promise<void>;
  deletePool(pool: Pool): Promise<void>;
  /** Creates the instance volume on top of the pool's copy of the image, unpacking that once. */
  createInstanceFromImage(pool: Pool, instance: string, fingerprint: string, unpack: ImageUnpacker): Promise<void>;
  deleteInstance(pool: Pool, instance: string): Promise<void>;
  /** Renames a volume (not a snapshot) with its snapshots; `commit` records the new name in the
   *  database (its trees move back if it throws; reconcile finishes or undoes a rename cut short). */
  rename(pool: Pool, volume: Volume, to: string, commit: () => void): Promise<void>;
  /** Drops the pool's copy of an image unless an instance still builds on it. */
  deleteImage(pool: Pool, fingerprint: string, inUse: boolean): Promise<void>;
  rootfs(pool: Pool, instance: string, fingerprint: string): RootfsSpec;
  /** Runs `fn` on the stopped instance's root filesystem, writable, as the container sees it
   *  (container ids on disk); the caller keeps the instance stopped meanwhile. */
  mountRootfs<T>(pool: Pool, instance: string, fingerprint: string, fn: (root: string) => Promise<T>): Promise<T>;
  /** A volume's (or snapshot's) filesystem as overlay layers, top first, and the directory of the
   *  image it builds on (metadata.yaml, templates/): what publishing reads. */
  layers(pool: Pool, volume: Volume, fingerprint: string): { layers: string[]; image: string };
  /** Bytes the instance itself wrote (not the shared image layer). */
  usage(pool: Pool, instance: string): Promise<number>;
  /** Limits a volume to `bytes` (undefined: no limit); throws when the driver cannot. */
  resize(pool: Pool, volume: Volume, bytes: number | undefined): Promise<void>;
  /** Makes sure the pool holds its unpacked copy of the image (before copying a volume into it). */
  ensureImage(pool: Pool, fingerprint: string, unpack: ImageUnpacker): Promise<void>;
  /** Copies a volume (an instance's, or a snapshot's when `snapshot` is set) into a new one, in
   *  `target` (another pool of the same driver, holding the image already) or the same pool.
   *  `live`: the source instance is running (frozen by the caller), its rootfs mounted. */
  copyVolume(pool: Pool, from: Volume, to: Volume, target?: Pool, live?: boolean): Promise<void>;
  deleteSnapshot(pool: Pool, instance: string, snapshot: string): Promise<void>;
  /** Renames snapshot `snapshot` (of either kind) to `to`, its data with it. */
  renameSnapshot(pool: Pool, snapshot: Volume, to: string): Promise<void>;
  /** Makes the (stopped) instance's writable layer what it was when the snapshot was taken. */
  restoreSnapshot(pool: Pool, instance: string, snapshot: string): Promise<void>;
  /** Creates an instance volume or snapshot with no image below it (a backup restored) from
   *  `tree`: rootfs/ with the owners the container sees, and for the instance metadata.yaml and
   *  templates/. The tree is consumed. Such a volume's `fingerprint` is "" in the other methods. */
  importVolume(pool: Pool, volume: Volume, tree: string): Promise<void>;
  /** Drivers with their own stream format (btrfs send), for optimized backups: writes the
   *  volume's or snapshot's stream to `file`, against `parent` (a snapshot) when given. */
  sendVolume?(pool: Pool, volume: Volume, parent: Volume | undefined, file: string): Promise<void>;
  /** Makes an instance volume and its snapshots from such streams (snapshots first, each
   *  against the one before); `fix` runs on each tree while it is still writable. */
  receiveVolumes?(pool: Pool, instance: string, parts: { snapshot?: string; file: string }[], fix?: (dir: string) => Promise<void>): Promise<void>;
  /** Where the instance volume keeps backup.yaml (its records, for `lxd recover`). */
  backupFile(pool: Pool, instance: string): string;
  /** Where an instance or snapshot volume keeps a CRIU checkpoint (LXD's `state/`). */
  stateDir(pool: Pool, volume: Volume): string;
  /** Names of the complete instance volumes in the pool (not half-made ones). */
  instanceVolumes(pool: Pool): Promise<string[]>;
  /** The complete custom volumes in the pool with their snapshots' names. */
  customVolumes(pool: Pool): Promise<{ name: string; snapshots: string[] }[]>;

  // ---- custom volumes (a plain filesystem tree, mounted into instances as disk devices) ----
  createCustom(pool: Pool, volume: string): Promise<void>;
  /** Removes the volume with all its snapshots. */
  deleteCustom(pool: Pool, volume: string): Promise<void>;
  /** The directory holding a custom volume's or snapshot's files (what a disk device mounts,
   *  what a backup reads). */
  customTree(pool: Pool, volume: Volume): string;
  /** Creates a custom volume or snapshot from directory `tree` (a backup restored; consumed). */
  importCustom(pool: Pool, volume: Volume, tree: string): Promise<void>;
  /** Copies a custom volume or snapshot into a new volume or snapshot (of `target` or the same pool). */
  copyCustom(pool: Pool, from: Volume, to: Volume, target?: Pool): Promise<void>;
  deleteCustomSnapshot(pool: Pool, volume: string, snapshot: string): Promise<void>;
  /** Makes the volume's content what it was at the snapshot (the caller makes sure nothing uses it). */
  restoreCustom(pool: Pool, volume: string, snapshot: string): Promise<void>;
  customUsage(pool: Pool, volume: string): Promise<number>;

  // ---- migration between daemons: what the sender reads and what the receiver builds ----
  /** Runs `fn` on a directory laid out as LXD sends an instance volume: metadata.yaml, templates/
   *  and rootfs/ as the container sees it (files keep their on-disk owners). The caller keeps the
   *  instance still meanwhile. */
  exportVolume<T>(pool: Pool, volume: Volume, fingerprint: string, fn: (dir: string) => Promise<T>): Promise<T>;
  /** Runs `fn` on the directory holding a custom volume's (or snapshot's) files. */
  exportCustom<T>(pool: Pool, volume: Volume, fn: (dir: string) => Promise<T>): Promise<T>;
  /** Builds a volume with `snapshots` (oldest first) from trees `fill` writes, each snapshot's
   *  and then the volume's, into one directory (see receive.ts). `refresh`: the volume exists and
   *  keeps its other snapshots; the new tree replaces its content. */
  receive(pool: Pool, volume: Volume, snapshots: string[], fill: TreeFiller, refresh?: boolean): Promise<void>;

  /** btrfs only, for a transfer between btrfs pools: `btrfs send` of each snapshot (oldest first,
   *  each incremental from the one before) and then of the volume, each stream handed to `write`. */
  sendSubvolumes?(pool: Pool, volume: Volume, snapshots: string[], write: (stream: ReadableStream<Uint8Array>) => Promise<void>): Promise<void>;
  /** btrfs only: the other end, one `btrfs receive` per stream, each fed by a call of `read`. A
   *  failure removes what was received. */
  receiveSubvolumes?(pool: Pool, volume: Volume, snapshots: string[], read: (sink: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<void>;

  /** Removes half-made volumes left by a crash, and those the database does not know (daemon start). */
  reconcile(pool: Pool, known: KnownVolumes): Promise<void>;
}
