// One pool as the layers above see it (Incus calls this the pool "backend"): volumes of either kind
// (an instance's root, or a custom volume) and their snapshots, behind one set of methods that
// picks the pool driver's method for the kind. Nothing above src/storage/ talks to a driver.
import { customVolume, type ImageUnpacker, type KnownVolumes, type Pool, type RootfsSpec, type StorageDriver, type Volume } from "./driver.ts";
import type { TreeFiller } from "./receive.ts";

// The volume type belongs to the driver seam; the layers above name volumes through here.
export { customVolume, instanceVolume, type Volume, type VolumeKind } from "./driver.ts";

/** The volume itself, whichever snapshot `v` names (snapshots go with it). */
const whole = (v: Volume): Volume => ({ kind: v.kind, name: v.name });

function snapshotOf(v: Volume): string {
  if (v.snapshot === undefined) throw new Error(`${v.kind} volume "${v.name}": a snapshot is needed here`);
  return v.snapshot;
}

export class PoolBackend {
  constructor(readonly pool: Pool, private readonly driver: StorageDriver) {}

  get name(): string {
    return this.pool.name;
  }

  get driverName(): string {
    return this.driver.name;
  }

  // ---- the pool itself -----------------------------------------------------------------

  /** Creates the pool's storage; returns its config completed with the defaults chosen. */
  createPool(): Promise<Record<string, string>> {
    return this.driver.createPool(this.pool);
  }

  mountPool(): Promise<void> {
    return this.driver.mountPool(this.pool);
  }

  deletePool(): Promise<void> {
    return this.driver.deletePool(this.pool);
  }

  /** Removes half-made volumes left by a crash, and those the database does not know. */
  reconcile(known: KnownVolumes): Promise<void> {
    return this.driver.reconcile(this.pool, known);
  }

  // ---- images and instance roots ---------------------------------------------------------

  /** The instance's root volume on top of the pool's copy of the image (unpacked once). */
  createFromImage(instance: string, fingerprint: string, unpack: ImageUnpacker): Promise<void> {
    return this.driver.createInstanceFromImage(this.pool, instance, fingerprint, unpack);
  }

  ensureImage(fingerprint: string, unpack: ImageUnpacker): Promise<void> {
    return this.driver.ensureImage(this.pool, fingerprint, unpack);
  }

  deleteImage(fingerprint: string, inUse: boolean): Promise<void> {
    return this.driver.deleteImage(this.pool, fingerprint, inUse);
  }

  rootfs(instance: string, fingerprint: string): RootfsSpec {
    return this.driver.rootfs(this.pool, instance, fingerprint);
  }

  /** The stopped instance's root filesystem, writable while `fn` runs. */
  mountRootfs<T>(instance: string, fingerprint: string, fn: (root: string) => Promise<T>): Promise<T> {
    return this.driver.mountRootfs(this.pool, instance, fingerprint, fn);
  }

  /** An instance volume's (or snapshot's) overlay layers, top first, and its image's directory. */
  layers(volume: Volume, fingerprint: string): { layers: string[]; image: string } {
    return this.driver.layers(this.pool, volume, fingerprint);
  }

  // ---- volumes of either kind --------------------------------------------------------------

  /** An empty custom volume (instance volumes come from images or copies). */
  create(volume: Volume): Promise<void> {
    if (volume.kind !== "custom" || volume.snapshot !== undefined) throw new Error(`only custom volumes are created empty`);
    return this.driver.createCustom(this.pool, volume.name);
  }

  /** Deletes a volume with its snapshots, or one snapshot. */
  delete(volume: Volume): Promise<void> {
    const { name, snapshot } = volume;
    if (volume.kind === "instance") {
      return snapshot === undefined ? this.driver.deleteInstance(this.pool, name) : this.driver.deleteSnapshot(this.pool, name, snapshot);
    }
    return snapshot === undefined ? this.driver.deleteCustom(this.pool, name) : this.driver.deleteCustomSnapshot(this.pool, name, snapshot);
  }

  /** Renames a volume (with its snapshots), or a snapshot. `commit` records the new name of a
   *  custom or instance volume (crash-safe through an intent file); its trees move back if it
   *  throws. A snapshot's caller records the name itself. */
  rename(volume: Volume, to: string, commit: () => void = () => {}): Promise<void> {
    if (volume.snapshot === undefined) return this.driver.rename(this.pool, volume, to, commit);
    return this.driver.renameSnapshot(this.pool, volume, to);
  }

  /** Copies a volume or snapshot into a new volume or snapshot of the same kind, in `target` (a
   *  pool of the same driver) or this pool. `live`: the source instance runs (frozen by the caller). */
  copy(from: Volume, to: Volume, target?: PoolBackend, live?: boolean): Promise<void> {
    if (from.kind !== to.kind) throw new Error(`cannot copy a ${from.kind} volume into a ${to.kind} volume`);
    if (target && target.driverName !== this.driverName) throw new Error(`cannot copy from a ${this.driverName} pool to a ${target.driverName} pool`);
    if (from.kind === "instance") return this.driver.copyVolume(this.pool, from, to, target?.pool, live);
    return this.driver.copyCustom(this.pool, from, to, target?.pool);
  }

  /** Where an instance volume (or its snapshot) keeps a CRIU checkpoint. */
  stateDir(volume: Volume): string {
    if (volume.kind !== "instance") throw new Error("only instance volumes hold checkpoints");
    return this.driver.stateDir(this.pool, volume);
  }

  /** Makes the volume what it was at its snapshot `volume.snapshot` (the caller keeps users away). */
  restore(volume: Volume): Promise<void> {
    const snapshot = snapshotOf(volume);
    if (volume.kind === "instance") return this.driver.restoreSnapshot(this.pool, volume.name, snapshot);
    return this.driver.restoreCustom(this.pool, volume.name, snapshot);
  }

  /** Bytes the volume itself holds (an instance's: what it wrote over its image). */
  usage(volume: Volume): Promise<number> {
    return volume.kind === "instance" ? this.driver.usage(this.pool, volume.name) : this.driver.customUsage(this.pool, volume.name);
  }

  /** Limits the volume to `bytes` (undefined: no limit); throws when the driver cannot. */
  resize(volume: Volume, bytes: number | undefined): Promise<void> {
    return this.driver.resize(this.pool, whole(volume), bytes);
  }

  // ---- backups and recovery ----------------------------------------------------------------

  /** A volume's (or snapshot's) filesystem as overlay layers, top first (one directory for a
   *  custom volume), and for an instance the directory with its image's metadata.yaml and templates/. */
  tree(volume: Volume, fingerprint = ""): { layers: string[]; image?: string } {
    if (volume.kind === "instance") return this.layers(volume, fingerprint);
    return { layers: [this.driver.customTree(this.pool, volume)] };
  }

  /** Creates a volume or snapshot from directory `tree` (a backup restored; consumed). An
   *  instance's has no image below it (see StorageDriver.importVolume). */
  importTree(volume: Volume, tree: string): Promise<void> {
    if (volume.kind === "instance") return this.driver.importVolume(this.pool, volume, tree);
    return this.driver.importCustom(this.pool, volume, tree);
  }

  /** Whether the driver has a stream format of its own (optimized backups). */
  get canSendBackup(): boolean {
    return this.driver.sendVolume !== undefined && this.driver.receiveVolumes !== undefined;
  }

  /** The instance volume's (or snapshot's) stream in the driver's own format, into `file`. */
  sendBackup(volume: Volume, parent: Volume | undefined, file: string): Promise<void> {
    if (!this.driver.sendVolume || volume.kind !== "instance") throw new Error(`pool "${this.name}" (${this.driverName}) has no stream format`);
    return this.driver.sendVolume(this.pool, volume, parent, file);
  }

  /** An instance volume and its snapshots from such streams, snapshots first. */
  receiveBackup(instance: string, parts: { snapshot?: string; file: string }[], fix?: (dir: string) => Promise<void>): Promise<void> {
    if (!this.driver.receiveVolumes) throw new Error(`pool "${this.name}" (${this.driverName}) has no stream format`);
    return this.driver.receiveVolumes(this.pool, instance, parts, fix);
  }

  /** Where an instance volume keeps its backup.yaml. */
  backupFile(instance: string): string {
    return this.driver.backupFile(this.pool, instance);
  }

  /** The complete custom volumes in the pool with their snapshots (mounted first). */
  async customVolumes(): Promise<{ name: string; snapshots: string[] }[]> {
    await this.driver.mountPool(this.pool);
    return this.driver.customVolumes(this.pool);
  }

  /** The complete instance volumes in the pool (mounted first). */
  async instanceVolumes(): Promise<string[]> {
    await this.driver.mountPool(this.pool);
    return this.driver.instanceVolumes(this.pool);
  }

  // ---- migration between daemons -----------------------------------------------------------

  /** Runs `fn` on a directory laid out as LXD sends the volume or snapshot (an instance's:
   *  metadata.yaml, templates/, rootfs/ as the container sees it). */
  export<T>(volume: Volume, fingerprint: string, fn: (dir: string) => Promise<T>): Promise<T> {
    return volume.kind === "instance"
      ? this.driver.exportVolume(this.pool, volume, fingerprint, fn)
      : this.driver.exportCustom(this.pool, volume, fn);
  }

  /** Builds a new volume with `snapshots` (oldest first) from the trees `fill` writes; `refresh`:
   *  adds them to an existing volume, whose content the last tree replaces. */
  receive(volume: Volume, snapshots: string[], fill: TreeFiller, refresh = false): Promise<void> {
    return this.driver.receive(this.pool, whole(volume), snapshots, fill, refresh);
  }

  /** Whether volumes can move as btrfs send streams (both pools btrfs). */
  get streams(): boolean {
    return this.driver.sendSubvolumes !== undefined && this.driver.receiveSubvolumes !== undefined;
  }

  /** `btrfs send` of each snapshot (oldest first, incremental) then of the volume. */
  sendStreams(volume: Volume, snapshots: string[], write: (stream: ReadableStream<Uint8Array>) => Promise<void>): Promise<void> {
    if (!this.driver.sendSubvolumes) throw new Error(`a ${this.driverName} pool cannot send btrfs streams`);
    return this.driver.sendSubvolumes(this.pool, whole(volume), snapshots, write);
  }

  /** The other end: one `btrfs receive` per stream `read` feeds. */
  receiveStreams(volume: Volume, snapshots: string[], read: (sink: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
    if (!this.driver.receiveSubvolumes) throw new Error(`a ${this.driverName} pool cannot receive btrfs streams`);
    return this.driver.receiveSubvolumes(this.pool, whole(volume), snapshots, read);
  }

  /** The host directory holding a custom volume's files (what a disk device mounts). */
  path(volume: Volume): string {
    if (volume.kind !== "custom") throw new Error("only custom volumes are mounted by path");
    return this.driver.customTree(this.pool, customVolume(volume.name));
  }
}
