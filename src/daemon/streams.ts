// The daemon as a simplestreams image server: its public images as `streams/v1/index.json`,
// `streams/v1/images.json` and the files they point to (`images/<fp>/<ftype>`), on both
// listeners; over HTTPS they need no client certificate (trust.ts lets these paths through).
import { Elysia } from "elysia";
import { rawAnswer } from "../api/envelope.ts";
import { buildStreams } from "../image/simplestreams.ts";
import { publishedImages } from "../image/published.ts";
import type { ImageStore } from "../image/store.ts";
import { RawResponse } from "./response.ts";
import { ApiError } from "../api/error.ts";

export interface StreamsContext { images: ImageStore }

const json = (value: unknown) =>
  new RawResponse(JSON.stringify(value, null, 1), { headers: { "content-type": "application/json" } });

export const streamsRoutes = (ctx: StreamsContext) =>
  new Elysia({ name: "streams" })
    .get("/streams/v1/index.json", async () => json(buildStreams(await publishedImages(ctx.images)).index), {
      detail: { summary: "Simplestreams index (index:1.0) of the public images", tags: ["streams"], responses: rawAnswer("index:1.0 (not enveloped)", "application/json") },
    })
    .get("/streams/v1/images.json", async () => json(buildStreams(await publishedImages(ctx.images)).products), {
      detail: { summary: "Simplestreams products (products:1.0) of the public images", tags: ["streams"], responses: rawAnswer("products:1.0 (not enveloped)", "application/json") },
    })
    .get("/images/:fingerprint/:ftype", ({ params }) => {
      const row = ctx.images.get(params.fingerprint);
      if (!row?.public || row.fingerprint !== params.fingerprint) throw new ApiError(404, "not found");
      const fp = row.fingerprint;
      // The names buildStreams gives the files: one unified tarball, or metadata + rootfs.
      const file = !ctx.images.isSplit(fp) ? (params.ftype === "lxd_combined.tar.gz" ? ctx.images.imageFile(fp) : undefined)
        : params.ftype === "lxd.tar.xz" ? ctx.images.imageFile(fp)
        : params.ftype === "root.tar.xz" || params.ftype === "squashfs" ? ctx.images.rootfsFile(fp) : undefined;
      if (!file) throw new ApiError(404, "not found");
      return new RawResponse(Bun.file(file), { headers: { "content-type": "application/octet-stream" } });
    }, {
      detail: { summary: "A public image's file as listed in the simplestreams products", tags: ["streams"], responses: rawAnswer("The image file") },
    });
