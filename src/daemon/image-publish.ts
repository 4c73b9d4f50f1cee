// POST /1.0/images with `source: {type: instance|container|snapshot, name}` (what `lxc publish`
// sends): packs a stopped instance, or a snapshot, into a new unified image.
import { imagesDir } from "../paths.ts";
import { packImage, type PublishCompression } from "../image/publish.ts";
import { byteProgress } from "../image/progress.ts";
import type { ImageStore } from "../image/store.ts";
import type { InstanceManager } from "../instance/manager.ts";
import { storageDriver } from "../storage/index.ts";
import type { Operation, OperationSpec } from "./operations.ts";
import { ApiError } from "../api/error.ts";

export interface PublishRequest {
  source?: { type?: string; name?: string };
  public?: boolean;
  filename?: string;
  properties?: Record<string, string>;
  profiles?: string[];
  aliases?: { name: string; description?: string }[];
  compression_algorithm?: string;
  expires_at?: string;
}

export interface PublishContext {
  images: ImageStore;
  instances: InstanceManager;
  ops: { create(spec: OperationSpec): Operation };
}

function compressionOf(value: string | undefined): PublishCompression {
  const v = (value ?? "").trim() || "gzip";
  if (v === "gzip" || v === "xz" || v === "none") return v;
  throw new ApiError(400, `Unsupported compression algorithm "${v}" (gzip, xz or none)`);
}

const stringMap = (m: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries((m ?? {}) as Record<string, unknown>).map(([k, v]) => [k, v === null ? "" : String(v)]));

/** Validates the request synchronously (so `lxc publish` gets a clear error), then packs in an operation. */
export function publish(ctx: PublishContext, req: PublishRequest, onCreated: (fingerprint: string, type: string) => void): Operation {
  const type = req.source?.type ?? "";
  const ref = req.source?.name ?? "";
  if (!["instance", "container", "snapshot"].includes(type)) {
    throw new ApiError(400, `Image source type "${type}" is not supported (instance, container or snapshot; or upload a file)`);
  }
  const [name, snapshot, extra] = ref.split("/");
  if (!name || extra !== undefined || (type === "snapshot") !== (snapshot !== undefined) || snapshot === "") {
    throw new ApiError(400, `Invalid ${type} source name "${ref}" (${type === "snapshot" ? "INSTANCE/SNAPSHOT" : "INSTANCE"})`);
  }
  const row = ctx.instances.get(name);
  if (snapshot !== undefined) ctx.instances.snapshots.get(name, snapshot);
  else if (ctx.instances.status(name) !== "Stopped") {
    throw new ApiError(400, `Instance "${name}" is running; stop it first (lxd publish --force stops it)`);
  }
  const fingerprint = row.config["volatile.base_image"];
  if (!fingerprint) throw new ApiError(400, `Instance "${name}" has no base image to take metadata.yaml from`);
  const compression = compressionOf(req.compression_algorithm);
  if (req.expires_at && Number.isNaN(new Date(req.expires_at).getTime())) throw new ApiError(400, `Invalid expires_at "${req.expires_at}"`);
  for (const a of req.aliases ?? []) {
    if (ctx.images.getAlias(a.name)) throw new ApiError(409, `Alias already exists: ${a.name}`);
  }
  const pool = ctx.instances.poolOf(row);
  const source = storageDriver(pool.driver).layers(pool, { instance: name, snapshot }, fingerprint);
  return ctx.ops.create({
    class: "task",
    description: "Creating image",
    resources: { instances: [`/1.0/instances/${name}`] },
    run: async (op) => {
      const progress = byteProgress((m) => op.updateMetadata(m), "create_image_from_container_pack_progress", "Image pack", 0);
      // A snapshot never changes; the instance itself is kept stopped while it is read.
      const pack = () => packImage(source, imagesDir(), compression, progress);
      const upload = snapshot === undefined ? await ctx.instances.whileHeld(name, async () => {
        if (ctx.instances.status(name) !== "Stopped") throw new ApiError(400, `Instance "${name}" was started; publish it again once stopped`);
        return pack();
      }) : await pack();
      op.updateMetadata({ create_image_from_container_pack_progress: undefined });
      const image = await ctx.images.importUpload(upload, {
        public: req.public ?? false,
        filename: req.filename ?? "",
        properties: stringMap(req.properties),
        profiles: req.profiles ?? undefined,
        aliases: req.aliases,
      }, byteProgress((m) => op.updateMetadata(m), "import_progress", "Checking image", upload.size));
      op.updateMetadata({ import_progress: undefined });
      if (req.expires_at && !req.expires_at.startsWith("0001-01-01")) ctx.images.update(image.fingerprint, { expiresAt: req.expires_at });
      onCreated(image.fingerprint, image.type);
      return { fingerprint: image.fingerprint, size: String(image.size) };
    },
  });
}
