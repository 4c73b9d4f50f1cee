// Publishing (POST /1.0/images with `source: {type: instance|container|snapshot, name}`, what `lxc
// publish` sends): the request checked up front, so the client gets a clear error before any
// operation starts, then a stopped instance, or a snapshot, packed into a new unified image.
import { ApiError } from "../api/error.ts";
import type { ImagesPost } from "../api/image.ts";
import type { InstanceRow } from "../db/instances.ts";
import { imagesDir } from "../paths.ts";
import { instanceVolume, type PoolBackend } from "../storage/backend.ts";
import { byteProgress } from "./progress.ts";
import { packImage, type PublishCompression } from "./publish.ts";
import type { ImageStore } from "./store.ts";

/** What publishing needs from the instances (the instance manager provides it). */
export interface PublishHost {
  get(name: string): InstanceRow;
  snapshots: { get(instance: string, name: string): unknown };
  status(name: string): string;
  backendOf(row: InstanceRow): PoolBackend;
  /** Runs `fn` while the instance cannot start, be renamed or deleted. */
  whileHeld<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** A checked publish request: `run` packs and imports the image, reporting progress as operation metadata. */
export interface PublishPlan {
  instance: string;
  run(onMetadata: (patch: Record<string, unknown>) => void): Promise<{ fingerprint: string; size: string; type: string }>;
}

function compressionOf(value: string | undefined): PublishCompression {
  const v = (value ?? "").trim() || "gzip";
  if (v === "gzip" || v === "xz" || v === "none") return v;
  throw new ApiError(400, `Unsupported compression algorithm "${v}" (gzip, xz or none)`);
}

const stringMap = (m: Record<string, string | null> | null | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, v ?? ""]));

export function preparePublish(images: ImageStore, instances: PublishHost, req: ImagesPost): PublishPlan {
  const type = req.source?.type ?? "";
  const ref = req.source?.name ?? "";
  if (!["instance", "container", "snapshot"].includes(type)) {
    throw new ApiError(400, `Image source type "${type}" is not supported (instance, container or snapshot; or upload a file)`);
  }
  const [name, snapshot, extra] = ref.split("/");
  if (!name || extra !== undefined || (type === "snapshot") !== (snapshot !== undefined) || snapshot === "") {
    throw new ApiError(400, `Invalid ${type} source name "${ref}" (${type === "snapshot" ? "INSTANCE/SNAPSHOT" : "INSTANCE"})`);
  }
  const row = instances.get(name);
  if (snapshot !== undefined) instances.snapshots.get(name, snapshot);
  else if (instances.status(name) !== "Stopped") {
    throw new ApiError(400, `Instance "${name}" is running; stop it first (lxd publish --force stops it)`);
  }
  const fingerprint = row.config["volatile.base_image"];
  if (!fingerprint) throw new ApiError(400, `Instance "${name}" has no base image to take metadata.yaml from`);
  const compression = compressionOf(req.compression_algorithm);
  if (req.expires_at && Number.isNaN(new Date(req.expires_at).getTime())) throw new ApiError(400, `Invalid expires_at "${req.expires_at}"`);
  const aliases = (req.aliases ?? []).map(({ name, description }) => {
    if (!name) throw new ApiError(400, "Every alias needs a name");
    if (images.getAlias(name)) throw new ApiError(409, `Alias already exists: ${name}`);
    return { name, description };
  });
  const source = instances.backendOf(row).layers(instanceVolume(name, snapshot), fingerprint);
  return {
    instance: name,
    run: async (onMetadata) => {
      const progress = byteProgress(onMetadata, "create_image_from_container_pack_progress", "Image pack", 0);
      // A snapshot never changes; the instance itself is kept stopped while it is read.
      const pack = () => packImage(source, imagesDir(), compression, progress);
      const upload = snapshot === undefined ? await instances.whileHeld(name, async () => {
        if (instances.status(name) !== "Stopped") throw new ApiError(400, `Instance "${name}" was started; publish it again once stopped`);
        return pack();
      }) : await pack();
      onMetadata({ create_image_from_container_pack_progress: undefined });
      const image = await images.importUpload(upload, {
        public: req.public ?? false,
        filename: req.filename ?? "",
        properties: stringMap(req.properties),
        profiles: req.profiles ?? undefined,
        aliases,
      }, byteProgress(onMetadata, "import_progress", "Checking image", upload.size));
      onMetadata({ import_progress: undefined });
      if (req.expires_at && !req.expires_at.startsWith("0001-01-01")) images.update(image.fingerprint, { expiresAt: req.expires_at });
      return { fingerprint: image.fingerprint, size: String(image.size), type: image.type };
    },
  };
}
