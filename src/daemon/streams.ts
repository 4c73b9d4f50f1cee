// The daemon as a simplestreams image server: its public images as `streams/v1/index.json`,
// `streams/v1/images.json` and the files they point to (`images/<fp>/<ftype>`), on both
// listeners; over HTTPS they need no client certificate (trust.ts lets these paths through).
import { open } from "node:fs/promises";
import { Elysia } from "elysia";
import { rawAnswer } from "../api/envelope.ts";
import type { Db } from "../db/index.ts";
import { aliasesOf } from "../db/images.ts";
import { buildStreams, type PublishedImage } from "../image/simplestreams.ts";
import type { ImageStore } from "../image/store.ts";
import { RawResponse } from "./response.ts";
import { ApiError } from "../api/error.ts";

export interface StreamsContext { db: Db; images: ImageStore }

/** sha256 of split images' separate files, by path and mtime (the fingerprint covers both). */
const fileHashes = new Map<string, string>();

async function sha256Of(path: string): Promise<string> {
  const file = Bun.file(path);
  const key = `${path}:${file.lastModified}`;
  const known = fileHashes.get(key);
  if (known) return known;
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of file.stream()) hasher.update(chunk);
  const hex = hasher.digest("hex");
  fileHashes.set(key, hex);
  return hex;
}

async function isSquashfs(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4);
    await fh.read(buf, 0, 4, 0);
    return buf.toString("latin1") === "hsqs";
  } finally {
    await fh.close();
  }
}

/** The public images as the simplestreams builder sees them. */
export async function publishedImages(ctx: StreamsContext): Promise<PublishedImage[]> {
  const out: PublishedImage[] = [];
  for (const row of ctx.images.list()) {
    if (!row.public || row.type !== "container") continue;
    const fp = row.fingerprint;
    const img: PublishedImage = {
      fingerprint: fp, architecture: row.architecture, properties: row.properties, createdAt: row.createdAt,
      aliases: aliasesOf(ctx.db, fp).map((a) => a.name), files: [],
    };
    if (ctx.images.isSplit(fp)) {
      const meta = ctx.images.imageFile(fp), rootfs = ctx.images.rootfsFile(fp);
      img.files = [
        { size: Bun.file(meta).size, sha256: await sha256Of(meta) },
        { size: Bun.file(rootfs).size, sha256: await sha256Of(rootfs) },
      ];
      img.rootfsKind = (await isSquashfs(rootfs)) ? "squashfs" : "tar";
    } else {
      img.files = [{ size: Bun.file(ctx.images.imageFile(fp)).size, sha256: fp }];
    }
    out.push(img);
  }
  return out;
}

const json = (value: unknown) =>
  new RawResponse(JSON.stringify(value, null, 1), { headers: { "content-type": "application/json" } });

export const streamsRoutes = (ctx: StreamsContext) =>
  new Elysia({ name: "streams" })
    .get("/streams/v1/index.json", async () => json(buildStreams(await publishedImages(ctx)).index), {
      detail: { summary: "Simplestreams index (index:1.0) of the public images", tags: ["streams"], responses: rawAnswer("index:1.0 (not enveloped)", "application/json") },
    })
    .get("/streams/v1/images.json", async () => json(buildStreams(await publishedImages(ctx)).products), {
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
