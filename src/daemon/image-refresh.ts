// Keeping images from other servers current: POST /1.0/images/{fp}/refresh (`lxd image
// refresh`), the background refresh of auto_update images every images.auto_update_interval
// hours, and expiry of cached images unused for images.remote_cache_expiry days.
import { Elysia } from "elysia";
import { AsyncResponse } from "../api/envelope.ts";
import { ImageFingerprint } from "../api/image.ts";
import { getServerConfig } from "../db/server-config.ts";
import * as q from "../db/images.ts";
import type { ImageRow } from "../image/store.ts";
import type { DaemonContext } from "./context.ts";
import { log } from "../log.ts";
import { pullerFor } from "./image-pull.ts";
import { ApiError } from "../api/error.ts";

const setting = (ctx: DaemonContext, key: string, fallback: number) => {
  const v = getServerConfig(ctx.db)[key];
  return v === undefined || v === "" ? fallback : Number(v);
};

/**
 * Asks the image's update_source server what its alias points at now; a new image is
 * downloaded, takes over the old one's aliases, public/auto_update/cached flags, and the old
 * one is deleted (instances keep their pool's unpacked copy). Returns whether it changed.
 */
export async function refreshImage(ctx: DaemonContext, row: ImageRow, signal?: AbortSignal, progress?: (t: string) => void): Promise<{ refreshed: boolean; fingerprint: string }> {
  const src = row.updateSource;
  if (!src?.server) throw new ApiError(400, `Image ${row.fingerprint.slice(0, 12)} has no update source (it was not downloaded from a server)`);
  const source = { server: src.server, protocol: src.protocol || "lxd", alias: src.alias, certificate: src.certificate || undefined };
  const puller = pullerFor(ctx);
  const remote = await puller.resolve(source, signal);
  if (remote.fingerprint === row.fingerprint) return { refreshed: false, fingerprint: row.fingerprint };
  const { row: fresh } = await puller.pull(source, { cached: row.cached, autoUpdate: row.autoUpdate, public: row.public, signal, progress });
  for (const a of ctx.images.listAliases()) if (a.fingerprint === row.fingerprint) q.updateAlias(ctx.db, a.name, { fingerprint: fresh.fingerprint });
  q.updateImage(ctx.db, fresh.fingerprint, { profiles: row.profiles, lastUsedAt: row.lastUsedAt });
  await ctx.images.delete(row.fingerprint);
  ctx.events.send("lifecycle", { action: "image-refreshed", source: `/1.0/images/${fresh.fingerprint}`, context: { old: row.fingerprint } });
  return { refreshed: true, fingerprint: fresh.fingerprint };
}

export const imageRefreshRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "image-refresh" })
    .post("/1.0/images/:fingerprint/refresh", ({ params }) => {
      const row = ctx.images.mustGet(params.fingerprint);
      if (!row.updateSource?.server) throw new ApiError(400, `Image ${row.fingerprint.slice(0, 12)} has no update source (it was not downloaded from a server)`);
      const abort = new AbortController();
      return ctx.ops.create({
        class: "task",
        description: "Refreshing image",
        resources: { images: [`/1.0/images/${row.fingerprint}`] },
        run: async (op) => {
          const r = await refreshImage(ctx, row, abort.signal, (text) => op.updateMetadata({ download_progress: text }));
          return { refreshed: r.refreshed, fingerprint: r.fingerprint };
        },
        cancel: () => abort.abort(),
      });
    }, {
      params: ImageFingerprint,
      response: AsyncResponse,
      detail: { summary: "Refresh an image from its update source (operation; metadata.refreshed tells whether it changed)", tags: ["images"] },
    });

/** Instances whose root builds on the image. */
const inUse = (ctx: DaemonContext, fp: string) => ctx.instances.list().some((r) => r.config["volatile.base_image"] === fp);

async function refreshAll(ctx: DaemonContext): Promise<void> {
  for (const row of ctx.images.list()) {
    if (!row.autoUpdate || !row.updateSource?.server) continue;
    try {
      const r = await refreshImage(ctx, row);
      if (r.refreshed) log.info("Image refreshed", { old: row.fingerprint, new: r.fingerprint });
    } catch (err) {
      log.warn("Image refresh failed", { fingerprint: row.fingerprint, err: (err as Error).message });
    }
  }
}

async function expireCached(ctx: DaemonContext): Promise<void> {
  const days = setting(ctx, "images.remote_cache_expiry", 10);
  if (days <= 0) return;
  const cutoff = Date.now() - days * 86_400_000;
  for (const row of ctx.images.list()) {
    if (!row.cached || inUse(ctx, row.fingerprint)) continue;
    const used = Date.parse(row.lastUsedAt.startsWith("0001") ? row.uploadedAt : row.lastUsedAt);
    if (!(used < cutoff)) continue;
    try {
      await ctx.images.delete(row.fingerprint);
      log.info("Expired cached image deleted", { fingerprint: row.fingerprint });
    } catch (err) {
      log.warn("Could not delete expired cached image", { fingerprint: row.fingerprint, err: (err as Error).message });
    }
  }
}

/** Starts the background tasks; the returned function stops them. Checked every minute so a
 *  changed interval applies without a restart. LXD_IMAGE_REFRESH_MS (for tests) replaces both
 *  that minute and the hour of images.auto_update_interval. */
export function startImageMaintenance(ctx: DaemonContext): () => void {
  const testUnit = Number(process.env.LXD_IMAGE_REFRESH_MS) || 0;
  let lastRefresh = Date.now();
  let lastExpiry = 0;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const hours = setting(ctx, "images.auto_update_interval", 6);
      if (hours > 0 && Date.now() - lastRefresh >= hours * (testUnit || 3_600_000)) {
        lastRefresh = Date.now();
        await refreshAll(ctx);
      }
      if (Date.now() - lastExpiry >= 3_600_000) {
        lastExpiry = Date.now();
        await expireCached(ctx);
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), testUnit || 60_000);
  timer.unref?.();
  return () => clearInterval(timer);
}
