// An in-memory storage driver for unit tests of the pool layer and the managers above it: it
// keeps the set of volumes each pool holds and the calls it got, and needs no root, no btrfs and
// no disk. Not registered in the daemon; tests hand it to StoragePools.
import type { KnownVolumes, Pool, StorageDriver, Volume } from "../../src/storage/driver.ts";
import type { TreeFiller } from "../../src/storage/receive.ts";

const key = (kind: "instance" | "custom", name: string, snapshot?: string) => `${kind}/${name}${snapshot === undefined ? "" : `/${snapshot}`}`;
const ref = (v: Volume) => key(v.kind, v.name, v.snapshot);

export class FakeDriver implements StorageDriver {
  readonly name = "fake";
  readonly poolKeys = { size: () => undefined, source: () => undefined };
  readonly fixedKeys = ["source"];
  /** One line per call, e.g. "copyCustom p custom/v1 -> custom/v1/snap0". */
  readonly calls: string[] = [];
  /** Volumes and snapshots by pool name, as "instance/c1", "custom/v1/snap0". */
  readonly pools = new Map<string, Set<string>>();
  readonly limits = new Map<string, number | undefined>();
  /** Set to make the next call of that method throw. */
  failNext?: string;

  private vols(pool: Pool): Set<string> {
    let set = this.pools.get(pool.name);
    if (!set) this.pools.set(pool.name, (set = new Set()));
    return set;
  }

  private call(method: string, detail: string): void {
    this.calls.push(`${method} ${detail}`);
    if (this.failNext === method) {
      this.failNext = undefined;
      throw new Error(`${method} failed (fake)`);
    }
  }

  private add(pool: Pool, k: string): void {
    if (this.vols(pool).has(k)) throw new Error(`${k} exists`);
    this.vols(pool).add(k);
  }

  /** Removes a volume and its snapshots. */
  private drop(pool: Pool, k: string): void {
    for (const v of [...this.vols(pool)]) if (v === k || v.startsWith(`${k}/`)) this.vols(pool).delete(v);
  }

  private move(pool: Pool, from: string, to: string): void {
    for (const v of [...this.vols(pool)]) {
      if (v === from || v.startsWith(`${from}/`)) {
        this.vols(pool).delete(v);
        this.vols(pool).add(to + v.slice(from.length));
      }
    }
  }

  has(pool: string, volume: string): boolean {
    return this.pools.get(pool)?.has(volume) ?? false;
  }

  async createPool(pool: Pool) {
    this.call("createPool", pool.name);
    this.vols(pool);
    return { ...pool.config, source: pool.config.source ?? `/fake/${pool.name}` };
  }
  async mountPool(pool: Pool) { this.call("mountPool", pool.name); }
  async deletePool(pool: Pool) {
    this.call("deletePool", pool.name);
    this.pools.delete(pool.name);
  }
  async createInstanceFromImage(pool: Pool, instance: string, fingerprint: string) {
    this.call("createInstanceFromImage", `${pool.name} ${instance} ${fingerprint}`);
    this.add(pool, key("instance", instance));
  }
  async deleteInstance(pool: Pool, instance: string) {
    this.call("deleteInstance", `${pool.name} ${instance}`);
    this.drop(pool, key("instance", instance));
  }
  async rename(pool: Pool, v: Volume, to: string, commit: () => void) {
    this.call("rename", `${pool.name} ${ref(v)} -> ${to}`);
    this.move(pool, ref(v), key(v.kind, to));
    try {
      commit();
    } catch (err) {
      this.move(pool, key(v.kind, to), ref(v));
      throw err;
    }
  }
  async deleteImage(pool: Pool, fingerprint: string, inUse: boolean) { this.call("deleteImage", `${pool.name} ${fingerprint} ${inUse}`); }
  rootfs(pool: Pool, instance: string) { return { kind: "bind" as const, path: `/fake/${pool.name}/${instance}` }; }
  mountRootfs<T>(pool: Pool, instance: string, _fp: string, fn: (root: string) => Promise<T>) { this.call("mountRootfs", `${pool.name} ${instance}`); return fn(`/fake/${pool.name}/${instance}`); }
  layers(pool: Pool, v: Volume) { return { layers: [`/fake/${pool.name}/${ref(v)}`], image: `/fake/${pool.name}/image` }; }
  async usage(pool: Pool, instance: string) { this.call("usage", `${pool.name} ${instance}`); return 42; }
  async resize(pool: Pool, v: Volume, bytes: number | undefined) {
    this.call("resize", `${pool.name} ${ref(v)} ${bytes}`);
    this.limits.set(`${pool.name}/${ref(v)}`, bytes);
  }
  async ensureImage(pool: Pool, fingerprint: string) { this.call("ensureImage", `${pool.name} ${fingerprint}`); }
  async copyVolume(pool: Pool, from: Volume, to: Volume, target?: Pool, live?: boolean) {
    this.call("copyVolume", `${pool.name} ${ref(from)} -> ${(target ?? pool).name} ${ref(to)}${live ? " live" : ""}`);
    if (!this.vols(pool).has(ref(from))) throw new Error(`${ref(from)} missing`);
    this.add(target ?? pool, ref(to));
  }
  async deleteSnapshot(pool: Pool, instance: string, snapshot: string) {
    this.call("deleteSnapshot", `${pool.name} ${instance}/${snapshot}`);
    this.drop(pool, key("instance", instance, snapshot));
  }
  async renameSnapshot(pool: Pool, snapshot: Volume, to: string) {
    this.call("renameSnapshot", `${pool.name} ${snapshot.name}/${snapshot.snapshot} -> ${to}`);
    this.move(pool, key(snapshot.kind, snapshot.name, snapshot.snapshot!), key(snapshot.kind, snapshot.name, to));
  }
  async restoreSnapshot(pool: Pool, instance: string, snapshot: string) { this.call("restoreSnapshot", `${pool.name} ${instance}/${snapshot}`); }
  async createCustom(pool: Pool, volume: string) {
    this.call("createCustom", `${pool.name} ${volume}`);
    this.add(pool, key("custom", volume));
  }
  async deleteCustom(pool: Pool, volume: string) {
    this.call("deleteCustom", `${pool.name} ${volume}`);
    this.drop(pool, key("custom", volume));
  }
  async copyCustom(pool: Pool, from: Volume, to: Volume, target?: Pool) {
    this.call("copyCustom", `${pool.name} ${ref(from)} -> ${(target ?? pool).name} ${ref(to)}`);
    if (!this.vols(pool).has(ref(from))) throw new Error(`${ref(from)} missing`);
    this.add(target ?? pool, ref(to));
  }
  async deleteCustomSnapshot(pool: Pool, volume: string, snapshot: string) {
    this.call("deleteCustomSnapshot", `${pool.name} ${volume}/${snapshot}`);
    this.drop(pool, key("custom", volume, snapshot));
  }
  async restoreCustom(pool: Pool, volume: string, snapshot: string) { this.call("restoreCustom", `${pool.name} ${volume}/${snapshot}`); }
  async customUsage(pool: Pool, volume: string) { this.call("customUsage", `${pool.name} ${volume}`); return 7; }
  async importVolume(pool: Pool, v: Volume, tree: string) { this.call("importVolume", `${pool.name} ${ref(v)} ${tree}`); this.add(pool, ref(v)); }
  backupFile(pool: Pool, instance: string) { return `/fake/${pool.name}/containers/${instance}/backup.yaml`; }
  stateDir(pool: Pool, v: Volume) { return `/fake/${pool.name}/${ref(v)}/state`; }
  async instanceVolumes(pool: Pool) { return [...this.vols(pool)].filter((v) => /^instance\/[^/]+$/.test(v)).map((v) => v.slice("instance/".length)); }
  async customVolumes(pool: Pool) {
    const vols = [...this.vols(pool)];
    return vols.filter((v) => /^custom\/[^/]+$/.test(v)).map((v) => ({
      name: v.slice("custom/".length), snapshots: vols.filter((s) => s.startsWith(`${v}/`)).map((s) => s.slice(v.length + 1)),
    }));
  }
  customTree(pool: Pool, v: Volume) { return `/fake/${pool.name}/${ref(v)}`; }
  async importCustom(pool: Pool, v: Volume, tree: string) { this.call("importCustom", `${pool.name} ${ref(v)} ${tree}`); this.add(pool, ref(v)); }

  // Migration: the trees are the daemon's business; the fake only keeps the volume set.
  async exportVolume<T>(pool: Pool, v: Volume, _fingerprint: string, fn: (dir: string) => Promise<T>): Promise<T> {
    this.call("exportVolume", `${pool.name} ${ref(v)}`);
    return fn("/nonexistent");
  }

  async receive(pool: Pool, v: Volume, snapshots: string[], fill: TreeFiller) {
    this.call("receive", `${pool.name} ${ref(v)}`);
    for (const s of snapshots) await fill("/nonexistent", s);
    await fill("/nonexistent");
    for (const s of snapshots) this.add(pool, key(v.kind, v.name, s));
    this.add(pool, ref(v));
  }

  async exportCustom<T>(pool: Pool, v: Volume, fn: (dir: string) => Promise<T>): Promise<T> {
    this.call("exportCustom", `${pool.name} ${ref(v)}`);
    return fn("/nonexistent");
  }

  async reconcile(pool: Pool, known: KnownVolumes) {
    this.call("reconcile", pool.name);
    for (const v of [...this.vols(pool)]) {
      const [kind, name, snap] = v.split("/");
      const snaps = (kind === "instance" ? known.instances : known.custom).get(name!);
      if (!snaps || (snap !== undefined && !snaps.has(snap))) this.vols(pool).delete(v);
    }
  }
}
