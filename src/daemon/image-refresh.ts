// Keeping images from other servers current: POST /1.0/images/{fp}/refresh (`lxd image
// refresh`), the background refresh of auto_update images every images.auto_update_interval
// hours, and expiry of cached images unused for images.remote_cache_expiry days.
import { Elysia } from "elysia";
import { AsyncResponse } from "../api/envelope.ts";
import { ImageFingerprint } from "../api/image.ts";
import type { DaemonContext } from "./context.ts";
import { ApiError } from "../api/error.ts";
import { projectOf } from "./project.ts";

export const imageRefreshRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "image-refresh" })
    .post("/1.0/images/:fingerprint/refresh", ({ params, query }) => {
      const images = ctx.imageManager.in(ctx.projects.effective(projectOf(query), "images"));
      const row = images.store.mustGet(params.fingerprint);
      if (!row.updateSource?.server) throw new ApiError(400, `Image ${row.fingerprint.slice(0, 12)} has no update source (it was not downloaded from a server)`);
      const abort = new AbortController();
      return ctx.ops.create({
        class: "task",
        description: "Refreshing image",
        resources: { images: [`/1.0/images/${row.fingerprint}`] },
        run: async (op) => {
          const r = await images.refresh(row, abort.signal, (text) => op.updateMetadata({ download_progress: text }));
          return { refreshed: r.refreshed, fingerprint: r.fingerprint };
        },
        cancel: () => abort.abort(),
      });
    }, {
      params: ImageFingerprint,
      response: AsyncResponse,
      detail: { summary: "Refresh an image from its update source (operation; metadata.refreshed tells whether it changed)", tags: ["images"] },
    });

/** The image managers of default and of every project with its own images (features.images). */
const imageProjects = (ctx: DaemonContext) =>
  ctx.projects.list().map((p) => p.name).filter((p) => ctx.projects.effective(p, "images") === p).map((p) => ctx.imageManager.in(p));

/** Instances of the projects that use the image store of `store` whose root builds on the image. */
const inUse = (ctx: DaemonContext, store: string, fp: string) =>
  ctx.instances.list().some((r) => ctx.projects.effective(r.project, "images") === store && r.config["volatile.base_image"] === fp);

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
      const hours = ctx.imageManager.setting("images.auto_update_interval", 6);
      if (hours > 0 && Date.now() - lastRefresh >= hours * (testUnit || 3_600_000)) {
        lastRefresh = Date.now();
        for (const images of imageProjects(ctx)) await images.refreshAll();
      }
      if (Date.now() - lastExpiry >= 3_600_000) {
        lastExpiry = Date.now();
        for (const images of imageProjects(ctx)) await images.expireCached((fp) => inUse(ctx, images.store.project, fp));
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), testUnit || 60_000);
  timer.unref?.();
  return () => clearInterval(timer);
}
