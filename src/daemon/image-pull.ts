// Images from other servers: POST /1.0/images with `source: {type: "image", server, protocol,
// alias|fingerprint}` (`lxd image copy REMOTE:ALIAS local:`) and POST /1.0/instances whose image
// source names a server (`lxd launch REMOTE:ALIAS c1`). Both are operations that report
// `download_progress` in their metadata and can be cancelled while downloading.
import type { ImagesPost } from "../api/image.ts";
import type { InstancesPost } from "../api/instance.ts";
import { validateInstanceName } from "../instance/config.ts";
import { randomName } from "../instance/names.ts";
import type { PullSource } from "../image/pull.ts";
import type { ImageManager } from "../image/manager.ts";
import type { DaemonContext } from "./context.ts";
import type { Operation } from "./operations.ts";
import { ApiError } from "../api/error.ts";
import { instanceUrl, containerUrl, storageName } from "../api/project-names.ts";

interface SourceFields { type?: string; server?: string; protocol?: string; alias?: string; fingerprint?: string; certificate?: string; mode?: string; secret?: string }

/** An image source that names another server (LXD's client always sends `server` for those). */
export const isRemoteImageSource = (s: SourceFields | undefined): boolean => s?.type === "image" && Boolean(s.server);

function pullSource(s: SourceFields): PullSource {
  if (s.mode && s.mode !== "pull") throw new ApiError(400, `Image source mode "${s.mode}" is not supported (pull only)`);
  return { server: String(s.server), protocol: s.protocol || "lxd", alias: s.alias || undefined, fingerprint: s.fingerprint || undefined, certificate: s.certificate || undefined, secret: s.secret || undefined };
}

/** Download plumbing shared by both operations: progress into metadata, cancel by abort. */
function downloadSpec() {
  const abort = new AbortController();
  const progress = (op: Operation) => (text: string) => op.updateMetadata({ download_progress: text });
  return { abort, progress, cancel: () => abort.abort() };
}

/** POST /1.0/images with a JSON body: copy an image from another server. */
export function imagePullOperation(ctx: Pick<DaemonContext, "ops">, images: ImageManager, req: ImagesPost): Operation {
  const type = req.source?.type ?? "";
  if (type !== "image") throw new ApiError(400, `Image source type "${type}" is not supported (image, or upload a tarball)`);
  if (!req.source?.server) throw new ApiError(400, "The image source needs a server");
  const source = pullSource(req.source);
  const aliases = (req.aliases ?? []).map((a) => {
    if (!a?.name) throw new ApiError(400, "Every alias needs a name");
    return { name: a.name, description: a.description ?? "" };
  });
  const dl = downloadSpec();
  return ctx.ops.create({
    class: "task",
    description: "Downloading image",
    run: async (op) => {
      const { row } = await images.pull(source, {
        aliases, public: req.public ?? false, autoUpdate: req.auto_update ?? false, cached: false, progress: dl.progress(op), signal: dl.abort.signal,
      });
      return { fingerprint: row.fingerprint, size: String(row.size) };
    },
    cancel: dl.cancel,
  });
}

/** POST /1.0/instances from an image on another server: download (or use the cache), then create. */
/** `project`: the instance's; the image is cached in the project whose images it uses. */
export function remoteInstanceOperation(ctx: DaemonContext, body: InstancesPost, project = "default"): Operation {
  const source = pullSource(body.source);
  if (!source.alias && !source.fingerprint) throw new ApiError(400, "Image source needs a fingerprint or an alias");
  const name = body.name || randomName();
  // The checks that need no image, before a download that would be wasted.
  const nameError = validateInstanceName(name);
  if (nameError) throw new ApiError(400, `Invalid instance name "${name}": ${nameError}`);
  const stored = storageName(project, name);
  if (ctx.instances.list().some((r) => r.name === stored)) throw new ApiError(409, `Instance "${name}" already exists`);
  const url = instanceUrl(stored);
  const images = ctx.imageManager.in(ctx.projects.effective(project, "images"));
  const dl = downloadSpec();
  return ctx.ops.create({
    class: "task",
    description: "Creating instance",
    resources: { instances: [url], containers: [containerUrl(stored)] },
    run: async (op) => {
      const { row } = await images.pull(source, { cached: true, autoUpdate: images.autoUpdateCached(), progress: dl.progress(op), signal: dl.abort.signal });
      // Past the download there is nothing to abort: creating the instance runs to its end.
      delete op.spec.cancel;
      const local: InstancesPost = { ...body, name, source: { type: "image", fingerprint: row.fingerprint } };
      const prepared = ctx.instances.prepareCreate(local, project);
      await ctx.instances.create(local, prepared.name, prepared.fingerprint);
      if (body.start) await ctx.instances.start(prepared.name);
    },
    cancel: dl.cancel,
  });
}
