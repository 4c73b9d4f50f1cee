// The storage driver seam: every backend (dir today; btrfs, zfs, lvm later) implements this
// interface, one driver per file, chosen per pool by its `driver` field.
import type { LaunchSpec } from "../kernel/monitor.ts";

export interface Pool {
  name: string;
  driver: string;
  config: Record<string, string>;
}

/** What the container runtime mounts as `/`: ready for the monitor, never chowned. */
export type RootfsSpec = LaunchSpec["rootfs"];

/** Unpacks an image's tarball into `dest` (which gets metadata.yaml, templates/, rootfs/). */
export type ImageUnpacker = (fingerprint: string, dest: string) => Promise<void>;

/** An instance volume, or one of its snapshots. */
export interface VolumeRef {
  instance: string;
  snapshot?: string;
}

export interface StorageDriver {
  readonly name: string;
  createPool(pool: Pool): Promise<void>;
  deletePool(pool: Pool): Promise<void>;
  /** Creates the instance volume on top of the pool's copy of the image, unpacking that once. */
  createInstanceFromImage(pool: Pool, instance: string, fingerprint: string, unpack: ImageUnpacker): Promise<void>;
  deleteInstance(pool: Pool, instance: string): Promise<void>;
  renameInstance(pool: Pool, from: string, to: string): Promise<void>;
  /** Drops the pool's copy of an image unless an instance still builds on it. */
  deleteImage(pool: Pool, fingerprint: string, inUse: boolean): Promise<void>;
  rootfs(pool: Pool, instance: string, fingerprint: string): RootfsSpec;
  /** A volume's (or snapshot's) filesystem as overlay layers, top first, and the directory of the
   *  image it builds on (metadata.yaml, templates/): what publishing reads. */
  layers(pool: Pool, ref: VolumeRef, fingerprint: string): { layers: string[]; image: string };
  /** Bytes the instance itself wrote (not the shared image layer). */
  usage(pool: Pool, instance: string): Promise<number>;
  /** Makes sure the pool holds its unpacked copy of the image (before copying a volume into it). */
  ensureImage(pool: Pool, fingerprint: string, unpack: ImageUnpacker): Promise<void>;
  /** Copies a volume (an instance's, or a snapshot's when `snapshot` is set) into a new one, in
   *  `target` (another pool of the same driver, holding the image already) or the same pool. */
  copyVolume(pool: Pool, from: VolumeRef, to: VolumeRef, target?: Pool): Promise<void>;
  deleteSnapshot(pool: Pool, instance: string, snapshot: string): Promise<void>;
  renameSnapshot(pool: Pool, instance: string, from: string, to: string): Promise<void>;
  /** Makes the (stopped) instance's writable layer what it was when the snapshot was taken. */
  restoreSnapshot(pool: Pool, instance: string, snapshot: string): Promise<void>;
  /** Removes half-made volumes left by a crash, and those of instances or snapshots that
   *  are not in the database (called at daemon start). Keys: instance names; values: their snapshots. */
  reconcile(pool: Pool, volumes: Map<string, Set<string>>): Promise<void>;
}
