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
  /** Bytes the instance itself wrote (not the shared image layer). */
  usage(pool: Pool, instance: string): Promise<number>;
  /** Removes half-made volumes left by a crash (called at daemon start). */
  reconcile(pool: Pool, instances: Set<string>): Promise<void>;
}
