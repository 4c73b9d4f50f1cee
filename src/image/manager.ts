// The image rules behind the REST API: checks that need other tables (profiles, server config),
// changes to the store, pulls and refreshes from other servers, and the lifecycle event of each
// change. Handlers parse requests and wrap the long work in operations; they call this for the rest.
import type { ImagePut, ImagesPost } from "../api/image.ts";
import { ApiError } from "../api/error.ts";
import type { Db } from "../db/index.ts";
import * as q from "../db/images.ts";
import { getProfile } from "../db/profiles.ts";
import { getServerConfig } from "../db/server-config.ts";
import { isTrue } from "../config/values.ts";
import { log } from "../log.ts";
import { preparePublish, type PublishHost, type PublishPlan } from "./publisher.ts";
import { ImagePuller, type PullOptions, type PullSource } from "./pull.ts";
import type { ImageRow, ImageStore, ImportOptions, Upload } from "./store.ts";

type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

export const imageUrl = (fp: string) => `/1.0/images/${fp}`;

/** Reads an optional RFC 3339 expires_at; the zero time means "never" as in LXD. */
function expiresAt(value: string | undefined, current: string): string {
  if (!value || value.startsWith("0001-01-01")) return current;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new ApiError(400, `Invalid expires_at "${value}"`);
  return value;
}

/** One puller per project view of the store (it remembers downloads in flight). */
const pullers = new WeakMap<ImageStore, ImagePuller>();

export class ImageManager {
  constructor(private readonly db: Db, readonly store: ImageStore, private readonly events: Events) {}

  /** The manager of the store as `project` sees it (see ImageStore.in). */
  in(project: string): ImageManager {
    return project === this.store.project ? this : new ImageManager(this.db, this.store.in(project), this.events);
  }

  /** The daemon's puller for this project's images. */
  puller(): ImagePuller {
    let p = pullers.get(this.store);
    if (!p) pullers.set(this.store, (p = new ImagePuller(this.db, this.store)));
    return p;
  }

  /** A number from the server config (images.*), `fallback` when unset. */
  setting(key: string, fallback: number): number {
    const v = getServerConfig(this.db)[key];
    return v === undefined || v === "" ? fallback : Number(v);
  }

  /** images.auto_update_cached: whether images cached for a launch update themselves (default yes). */
  autoUpdateCached(): boolean {
    const v = getServerConfig(this.db)["images.auto_update_cached"];
    return v === undefined || v === "" || isTrue(v);
  }

  checkProfiles(profiles: string[]): void {
    for (const p of profiles) {
      if (!getProfile(this.db, p)) throw new ApiError(400, `Profile '${p}' doesn't exist`);
    }
  }

  /** Stores a received upload (ImageStore.importUpload) and announces it. */
  async importUpload(upload: Upload, opts: ImportOptions, onChecked?: (bytes: number) => void): Promise<ImageRow> {
    const row = await this.store.importUpload(upload, opts, onChecked);
    this.lifecycle("image-created", row.fingerprint, { type: row.type });
    return row;
  }

  /** Checks a publish request (profiles too); the plan's run announces the new image. */
  preparePublish(instances: PublishHost, req: ImagesPost): PublishPlan {
    if (req.profiles) this.checkProfiles(req.profiles);
    const plan = preparePublish(this.store, instances, req);
    return {
      instance: plan.instance,
      run: async (onMetadata) => {
        const done = await plan.run(onMetadata);
        this.lifecycle("image-created", done.fingerprint, { type: done.type });
        return done;
      },
    };
  }

  /** PUT: every field replaced (absent ones take their defaults). */
  replace(row: ImageRow, put: ImagePut): void {
    const profiles = put.profiles ?? ["default"];
    this.checkProfiles(profiles);
    this.store.update(row.fingerprint, {
      public: put.public ?? false,
      autoUpdate: put.auto_update ?? false,
      properties: put.properties ?? {},
      profiles,
      expiresAt: expiresAt(put.expires_at, row.expiresAt),
    });
    this.lifecycle("image-updated", row.fingerprint);
  }

  /** PATCH: the given fields changed, properties merged by key. */
  merge(row: ImageRow, patch: ImagePut): void {
    if (patch.profiles) this.checkProfiles(patch.profiles);
    this.store.update(row.fingerprint, {
      public: patch.public ?? row.public,
      autoUpdate: patch.auto_update ?? row.autoUpdate,
      properties: patch.properties ? { ...row.properties, ...patch.properties } : row.properties,
      profiles: patch.profiles ?? row.profiles,
      expiresAt: expiresAt(patch.expires_at, row.expiresAt),
    });
    this.lifecycle("image-updated", row.fingerprint);
  }

  async delete(fp: string): Promise<void> {
    if (!this.store.get(fp)) throw new ApiError(404, "Image not found");
    await this.store.delete(fp);
    this.lifecycle("image-deleted", fp);
  }

  /** Records a download of the image file (GET /1.0/images/{fp}/export). */
  retrieved(fp: string): void {
    this.lifecycle("image-retrieved", fp);
  }

  /** Copies an image from another server (or finds it here), announcing a download. */
  async pull(source: PullSource, opts: PullOptions): Promise<{ row: ImageRow; downloaded: boolean }> {
    const pulled = await this.puller().pull(source, opts);
    if (pulled.downloaded) this.lifecycle("image-created", pulled.row.fingerprint, { type: "container", server: source.server });
    return pulled;
  }

  /**
   * Asks the image's update_source server what its alias points at now; a new image is
   * downloaded, takes over the old one's aliases, public/auto_update/cached flags, and the old
   * one is deleted (instances keep their pool's unpacked copy). Returns whether it changed.
   */
  async refresh(row: ImageRow, signal?: AbortSignal, progress?: (t: string) => void): Promise<{ refreshed: boolean; fingerprint: string }> {
    const src = row.updateSource;
    if (!src?.server) throw new ApiError(400, `Image ${row.fingerprint.slice(0, 12)} has no update source (it was not downloaded from a server)`);
    const source = { server: src.server, protocol: src.protocol || "lxd", alias: src.alias, certificate: src.certificate || undefined };
    const puller = this.puller();
    const remote = await puller.resolve(source, signal);
    if (remote.fingerprint === row.fingerprint) return { refreshed: false, fingerprint: row.fingerprint };
    const { row: fresh } = await puller.pull(source, { cached: row.cached, autoUpdate: row.autoUpdate, public: row.public, signal, progress });
    const project = this.store.project;
    for (const a of this.store.listAliases()) if (a.fingerprint === row.fingerprint) q.updateAlias(this.db, a.name, { fingerprint: fresh.fingerprint }, project);
    q.updateImage(this.db, fresh.fingerprint, { profiles: row.profiles, lastUsedAt: row.lastUsedAt }, project);
    await this.store.delete(row.fingerprint);
    this.lifecycle("image-refreshed", fresh.fingerprint, { old: row.fingerprint });
    return { refreshed: true, fingerprint: fresh.fingerprint };
  }

  /** Refreshes every auto_update image that came from a server. */
  async refreshAll(): Promise<void> {
    for (const row of this.store.list()) {
      if (!row.autoUpdate || !row.updateSource?.server) continue;
      try {
        const r = await this.refresh(row);
        if (r.refreshed) log.info("Image refreshed", { old: row.fingerprint, new: r.fingerprint });
      } catch (err) {
        log.warn("Image refresh failed", { fingerprint: row.fingerprint, err: (err as Error).message });
      }
    }
  }

  /** Deletes cached images unused for images.remote_cache_expiry days that no instance builds on. */
  async expireCached(inUse: (fp: string) => boolean): Promise<void> {
    const days = this.setting("images.remote_cache_expiry", 10);
    if (days <= 0) return;
    const cutoff = Date.now() - days * 86_400_000;
    for (const row of this.store.list()) {
      if (!row.cached || inUse(row.fingerprint)) continue;
      const used = Date.parse(row.lastUsedAt.startsWith("0001") ? row.uploadedAt : row.lastUsedAt);
      if (!(used < cutoff)) continue;
      try {
        await this.store.delete(row.fingerprint);
        log.info("Expired cached image deleted", { fingerprint: row.fingerprint });
      } catch (err) {
        log.warn("Could not delete expired cached image", { fingerprint: row.fingerprint, err: (err as Error).message });
      }
    }
  }

  private lifecycle(action: string, fp: string, context: Record<string, unknown> = {}): void {
    this.events.send("lifecycle", { action, source: imageUrl(fp), context });
  }
}
