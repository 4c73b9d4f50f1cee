// /1.0/images and /1.0/images/{fingerprint}: list, upload (unified tarball or split multipart),
// show, replace, merge, delete (background operation) and export.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import { AsyncResponse, Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { matchesFilter, parseFilter } from "../api/filter.ts";
import { Image, ImageFingerprint, ImagePut, ImagesPost, ImageUploadResult } from "../api/image.ts";
import { compressionExtension, detectFileCompression } from "../image/compression.ts";
import type { ImageRow, ImportOptions } from "../image/store.ts";
import { imageUrl, type ImageManager } from "../image/manager.ts";
import { boundaryOf, multipartBody } from "../image/multipart.ts";
import { byteProgress } from "../image/progress.ts";
import type { InstanceManager } from "../instance/manager.ts";
import type { Operation, OperationSpec } from "./operations.ts";
import { RawResponse, checkIfMatch, etagOf, sync } from "./response.ts";
import { ApiError } from "../api/error.ts";
import { requestUrl } from "./request-url.ts";
import { isTrue } from "../config/values.ts";
import { validator } from "./validate.ts";
import { instanceUrl, storageName } from "../api/project-names.ts";
import { projectOf } from "./project.ts";

const checkImagesPost = validator(ImagesPost);

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface ImagesContext {
  imageManager: ImageManager;
  ops: { create(spec: OperationSpec): Operation; list(): Operation[] };
  /** Copies an image from another server (POST with a JSON `source`; image-pull.ts). */
  pull?(body: ImagesPost, images: ImageManager): Operation;
  /** Remote clients without trust see public images only. */
  serverInfo?: { trusted?(request: Request): boolean };
  /** For publishing instances (absent where only the image routes are served, as in unit tests). */
  instances?: InstanceManager;
  /** Whose images a project uses (absent: default's only). */
  projects?: { effective(project: string, feature: "images"): string };
}

/** LXD's image ETag covers public, auto_update and properties. */
const etag = (row: ImageRow) =>
  etagOf([row.public, row.autoUpdate, Object.fromEntries(Object.entries(row.properties).sort(([a], [b]) => a.localeCompare(b)))]);

/** The live secret operation (POST /1.0/images/{fp}/secret) whose secret the request's
 *  `?secret=` names for this image, if any. */
function secretOperation(ctx: ImagesContext, request: Request, fp: string): Operation | undefined {
  const given = requestUrl(request).searchParams.get("secret");
  if (!given) return undefined;
  const want = createHash("sha256").update(given).digest();
  return ctx.ops.list().find((op) => op.class === "token" && !op.isFinal && op.spec.resources?.images?.includes(imageUrl(fp)) &&
    typeof op.metadata?.secret === "string" && timingSafeEqual(createHash("sha256").update(op.metadata.secret).digest(), want));
}

/** Whether the caller may see the image: trusted callers all, others the public ones and the
 *  one their image secret names (as LXD). */
const visible = (ctx: ImagesContext, request: Request, row: ImageRow) =>
  row.public || (ctx.serverInfo?.trusted?.(request) ?? true) || secretOperation(ctx, request, row.fingerprint) !== undefined;

/** mustGet, with images the caller may not see reported as missing. */
function mustSee(ctx: ImagesContext, request: Request, ref: string): ImageRow {
  const row = ctx.imageManager.store.mustGet(ref);
  if (!visible(ctx, request, row)) throw new ApiError(404, `Image "${ref}" not found`);
  return row;
}

/** `X-LXD-properties`: URL-encoded key=value pairs; the first value of a key wins (as in LXD). */
function parseProperties(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const [k, v] of new URLSearchParams(header)) if (!(k in out)) out[k] = v;
  return out;
}

function boundary(contentType: string): string {
  try {
    return boundaryOf(contentType);
  } catch (err) {
    throw new ApiError(400, `Invalid image upload: ${(err as Error).message}`);
  }
}

/** Largest JSON body of POST /1.0/images (publish or pull requests are small). */
const JSON_LIMIT = 16 * 1024 * 1024;

const concatBytes = (chunks: Uint8Array[]) => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
};

/** The bytes already read, then the rest of the reader. */
const resumed = (head: Uint8Array[], reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(reason?: unknown): Promise<void> }) =>
  new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = head.shift();
      if (next) return controller.enqueue(next);
      const { done, value } = await reader.read();
      if (done || !value) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });

/** As LXD: a body that decodes as JSON is a request, anything else an image upload whatever its
 *  Content-Type (curl's --data-binary says x-www-form-urlencoded); only a body declared
 *  application/json must be JSON. Image files never start with "{", so only JSON is buffered. */
async function sniff(request: Request): Promise<{ json: unknown } | { body: ReadableStream<Uint8Array> | null }> {
  const type = (request.headers.get("content-type") ?? "").toLowerCase();
  if (!request.body || type.startsWith("multipart/form-data")) return { body: request.body };
  const declaredJson = type.startsWith("application/json");
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  const head: Uint8Array[] = [];
  let size = 0;
  let first: number | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    head.push(value);
    size += value.length;
    first ??= value.find((b: number) => ![0x20, 0x09, 0x0a, 0x0d].includes(b));
    if (first !== undefined && first !== 0x7b && !declaredJson) return { body: resumed(head, reader) };
    if (size > JSON_LIMIT) {
      if (declaredJson) throw new ApiError(413, `Request body too large (limit ${JSON_LIMIT} bytes)`);
      return { body: resumed(head, reader) };
    }
  }
  const bytes = concatBytes(head);
  try {
    return { json: JSON.parse(new TextDecoder().decode(bytes)) };
  } catch {
    if (declaredJson || bytes.length === 0) throw new ApiError(400, "Malformed JSON in request body");
    return { body: resumed([bytes], reader) };
  }
}

/** Upload of a unified image (any type but multipart) or a split one (multipart): stored to disk before the 202 answer. */
async function upload(ctx: ImagesContext, request: Request, body: ReadableStream<Uint8Array> | null): Promise<Operation> {
  const h = request.headers;
  const profilesHeader = h.get("x-lxd-profiles");
  const opts: ImportOptions = {
    public: isTrue(h.get("x-lxd-public")),
    filename: h.get("x-lxd-filename") ?? "",
    properties: parseProperties(h.get("x-lxd-properties")),
    fingerprint: h.get("x-lxd-fingerprint") || undefined,
    profiles: profilesHeader ? new URLSearchParams(profilesHeader).getAll("profile") : undefined,
  };
  const images = ctx.imageManager;
  if (opts.profiles) images.checkProfiles(opts.profiles);
  if (!body) throw new ApiError(400, "Invalid image file: the upload is empty");
  const type = (h.get("content-type") ?? "").toLowerCase();
  const received = type.startsWith("multipart/form-data")
    ? await images.store.receiveSplitUpload(body, boundary(h.get("content-type")!))
    : await images.store.receiveUpload(body);
  try {
    return ctx.ops.create({
      class: "task",
      description: "Downloading image",
      run: async (op) => {
        const result = { fingerprint: received.fingerprint, size: String(received.size) };
        // LXD reports the fingerprint even when the import fails (e.g. a duplicate).
        op.updateMetadata(result);
        const checked = byteProgress((m) => op.updateMetadata(m), "import_progress", "Checking image", received.size);
        await images.importUpload(received, opts, checked);
        op.updateMetadata({ import_progress: undefined });
        return result;
      },
    });
  } catch (err) {
    await images.store.discardUpload(received);
    throw err;
  }
}

export const imagesRoutes = (ctx: ImagesContext) => {
  /** The context as the request's project sees it: its images, or default's without features.images. */
  const at = (query: { project?: string }): ImagesContext =>
    ({ ...ctx, imageManager: ctx.imageManager.in(ctx.projects?.effective(projectOf(query), "images") ?? "default") });
  return new Elysia({ name: "images" })
    .get("/1.0/images", ({ query, request }) => {
      const c = at(query);
      const filter = parseFilter(query.filter ?? "");
      const store = c.imageManager.store;
      const images = store.list().filter((r) => visible(c, request, r)).map((r) => store.toApi(r))
        .filter((i) => matchesFilter(i, filter));
      if (recursionLevel(query) === 0) return sync(images.map((i) => imageUrl(i.fingerprint)));
      return sync(images);
    }, {
      query: RecursionQuery,
      response: UrlsOr(Image, "Image"),
      detail: { summary: "List images (`filter=` as LXD: `properties.os eq busybox and public eq false`)", tags: ["images"] },
    })

    .post("/1.0/images", async ({ request, query }) => {
      const c = at(query);
      const sniffed = await sniff(request);
      if ("json" in sniffed) {
        const req = checkImagesPost(sniffed.json);
        const kind = req.source?.type ?? "";
        // Instances and snapshots are published here; images from other servers are pulled.
        if (["instance", "container", "snapshot"].includes(kind)) {
          if (!c.instances) throw new ApiError(400, "Publishing instances is not available here");
          // The instance is the request project's (stored as <project>_<name> outside default).
          const source = req.source && { ...req.source, name: storageName(projectOf(query), req.source.name ?? "") };
          const plan = c.imageManager.preparePublish(c.instances, { ...req, source });
          return c.ops.create({
            class: "task",
            description: "Creating image",
            resources: { instances: [instanceUrl(plan.instance)] },
            run: async (op) => {
              const { fingerprint, size } = await plan.run((m) => op.updateMetadata(m));
              return { fingerprint, size };
            },
          });
        }
        if (c.pull) return c.pull(req, c.imageManager);
        throw new ApiError(400, `Image source type "${kind}" is not supported`);
      }
      return upload(c, request, sniffed.body);
    }, {
      parse: "none",
      detail: {
        summary: "Add an image",
        description: "Body: JSON {source: {type: instance|container|snapshot, name}, aliases, properties, public, compression_algorithm, profiles, expires_at} " +
          "to publish a stopped instance or a snapshot (progress in create_image_from_container_pack_progress), or a unified image tarball (any body that is not JSON, whatever its Content-Type), or a split image as multipart/form-data " +
          "(parts `metadata` and `rootfs`, the rootfs a tarball or squashfs; fingerprint = sha256 of both in that order). Headers: X-LXD-fingerprint (expected sha256), " +
          "X-LXD-public, X-LXD-filename, X-LXD-properties (URL-encoded key=value pairs), X-LXD-profiles (profile=a&profile=b). " +
          "Returns an operation whose metadata gets {fingerprint, size} and `import_progress` while the image is checked.",
        tags: ["images"],
        responses: { 202: { description: "Operation; final metadata", content: { "application/json": { schema: ImageUploadResult } } } },
      },
    })

    .get("/1.0/images/:fingerprint", ({ params, request, query }) => {
      const c = at(query);
      const row = mustSee(c, request, params.fingerprint);
      return sync(c.imageManager.store.toApi(row), { etag: etag(row) });
    }, {
      params: ImageFingerprint, query: RecursionQuery,
      response: Image,
      detail: { summary: "Show an image (fingerprint or unique prefix)", tags: ["images"] },
    })

    .put("/1.0/images/:fingerprint", ({ params, body, request, query }) => {
      const c = at(query);
      const row = c.imageManager.store.mustGet(params.fingerprint);
      checkIfMatch(request, etag(row));
      c.imageManager.replace(row, body);
      return sync({});
    }, {
      params: ImageFingerprint, body: ImagePut,
      response: Empty,
      detail: { summary: "Replace an image's properties, public, auto_update, profiles and expiry", tags: ["images"] },
    })

    .patch("/1.0/images/:fingerprint", ({ params, body, request, query }) => {
      const c = at(query);
      const row = c.imageManager.store.mustGet(params.fingerprint);
      checkIfMatch(request, etag(row));
      c.imageManager.merge(row, body);
      return sync({});
    }, {
      params: ImageFingerprint, body: ImagePut,
      response: Empty,
      detail: { summary: "Merge changes into an image (properties by key)", tags: ["images"] },
    })

    .delete("/1.0/images/:fingerprint", ({ params, query }) => {
      const c = at(query);
      const fp = c.imageManager.store.mustGet(params.fingerprint).fingerprint;
      return c.ops.create({
        class: "task",
        description: "Deleting image",
        resources: { images: [imageUrl(fp)] },
        run: () => c.imageManager.delete(fp),
      });
    }, {
      params: ImageFingerprint,
      response: AsyncResponse,
      detail: { summary: "Delete an image (background operation)", tags: ["images"] },
    })

    .post("/1.0/images/:fingerprint/secret", ({ params, query }) => {
      const c = at(query);
      const fp = c.imageManager.store.mustGet(params.fingerprint).fingerprint;
      // A token operation: it lasts until the secret is used for a download or it is cancelled.
      return c.ops.create({
        class: "token", description: "Downloading image", resources: { images: [imageUrl(fp)] },
        metadata: { secret: randomBytes(32).toString("hex") },
      });
    }, {
      params: ImageFingerprint, response: AsyncResponse,
      detail: {
        summary: "Make a one-time secret that lets an untrusted client download this image",
        description: "Returns a token operation whose metadata.secret, given as ?secret= to GET /1.0/images/{fingerprint} and its /export, " +
          "shows and downloads the image once (the operation ends with the download; cancel it to revoke the secret).",
        tags: ["images"],
      },
    })

    .get("/1.0/images/:fingerprint/export", async ({ params, request, query }) => {
      const c = at(query);
      const row = mustSee(c, request, params.fingerprint);
      const fp = row.fingerprint;
      // A secret is good for one download (trusted and public downloads need none).
      if (!row.public && !(c.serverInfo?.trusted?.(request) ?? true)) await secretOperation(c, request, fp)?.cancel();
      const store = c.imageManager.store;
      const file = store.imageFile(fp);
      const name = `${fp}${compressionExtension(await detectFileCompression(file))}`;
      c.imageManager.retrieved(fp);
      if (store.isSplit(fp)) {
        // Split images go out as LXD sends them: a metadata part and a rootfs part.
        const rootfs = store.rootfsFile(fp);
        const boundary = `lxd-${fp.slice(0, 16)}-${Date.now().toString(36)}`;
        const body = multipartBody(boundary, [
          { name: "metadata", filename: `meta-${name}`, file: Bun.file(file) },
          { name: "rootfs", filename: `${fp}${compressionExtension(await detectFileCompression(rootfs))}`, file: Bun.file(rootfs) },
        ]);
        return new RawResponse(body, { headers: { "content-type": `multipart/form-data; boundary=${boundary}` } });
      }
      return new RawResponse(Bun.file(file), {
        headers: {
          "content-type": "application/octet-stream",
          "content-disposition": `attachment; filename=${name}`,
        },
      });
    }, {
      params: ImageFingerprint,
      detail: {
        summary: "Download the image file",
        tags: ["images"],
        responses: { 200: { description: "The unified tarball (Content-Disposition names it <fingerprint>.tar.gz etc.), or for a split image multipart/form-data with a metadata part and a rootfs part" } },
      },
    });
};
