
import os from "node:os";
import type { Db } from "../db/index.ts";
import * as q from "../db/images.ts";
import { ApiError } from "../api/error.ts";
import { get, getJson, progressReporter, type FetchOptions } from "./download.ts";
import { INDEX_PATH, NoSuchImage, findImage, parseProducts, productsPath, type StreamImage } from "./simplestreams.ts";
import type { ImageRow, ImageStore, Upload } from "./store.ts";

export interface PullSource {
  server: string;
  protocol: string;
  alias?: string;
  fingerprint?: string;
  /** PEM of the server's certificate, for self-signed LXD servers. */
  certificate?: string;
  /** An image secret from that server (POST /1.0/images/{fp}/secret): a private image, once. */
  secret?: string;
}

export interface PullOptions {
  aliases?: { name: string; description?: string }[];
  public?: boolean;
  autoUpdate?: boolean;
  /** Downloaded as a side effect of creating an instance (may expire unused). */
  cached?: boolean;
  /** LXD's progress text, e.g. "metadata: 45% (12.30MB/s)". */
  progress?: (text: string) => void;
  signal?: AbortSignal;
}

/** What a server offers under a reference: the fingerprint and where to get the file. */
export interface RemoteImage {
  fingerprint: string;
  architecture: string;
  /** Unified: the one file (its sha256 is the fingerprint). Split: metadata, then rootfs. */
  files: { url: string; size: number; sha256: string }[];
}

/** Protocols this daemon pulls from. */
const PULL_PROTOCOLS = ["simplestreams", "lxd"];

const base = (server: string) => server.replace(/\/+$/, "");

function checkServer(server: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ApiError(400, `Invalid image server URL "${server}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ApiError(400, `Image server URL "${server}" must be http(s)`);
}

const unwrap = (doc: unknown) => (doc as { metadata?: unknown })?.metadata as Record<string, unknown> | undefined;

export class ImagePuller {
  /** Downloads in progress by fingerprint: a second request for the same image waits for the first. */
  private readonly inflight = new Map<string, Promise<ImageRow>>();

  constructor(private readonly db: Db, private readonly store: ImageStore, readonly arch: string = os.machine()) {}

  /** Finds what `source` names on its server, for this host's architecture. */
  async resolve(source: PullSource, signal?: AbortSignal): Promise<RemoteImage> {
    checkServer(source.server);
    if (!PULL_PROTOCOLS.includes(source.protocol)) {
      throw new ApiError(400, `Unsupported image server protocol "${source.protocol}" (simplestreams or lxd)`);
    }
    const ref = source.fingerprint || source.alias;
    if (!ref) throw new ApiError(400, "The image source needs an alias or a fingerprint");
    const opts: FetchOptions = { certificate: source.certificate, signal };
    return source.protocol === "lxd" ? this.resolveLxd(base(source.server), ref, opts, source.secret)
      : this.resolveStreams(base(source.server), ref, opts);
  }

  private async resolveStreams(server: string, ref: string, opts: FetchOptions): Promise<RemoteImage> {
    let images: StreamImage[];
    try {
      const path = productsPath(await getJson(`${server}/${INDEX_PATH}`, opts));
      images = parseProducts(await getJson(`${server}/${path}`, opts));
    } catch (err) {
      throw new Error(`Image server ${server}: ${(err as Error).message}`);
    }
    let img: StreamImage;
    try {
      img = findImage(images, ref, this.arch);
    } catch (err) {
      if (err instanceof NoSuchImage) throw new ApiError(404, `${err.message} on ${server}`);
      throw err;
    }
    if (img.architecture !== this.arch) {
      throw new ApiError(400, `Image ${img.fingerprint.slice(0, 12)} on ${server} is for architecture ${img.architecture}, this host runs ${this.arch}`);
    }
    return {
      fingerprint: img.fingerprint, architecture: img.architecture,
      files: img.files.map((f) => ({ url: `${server}/${f.path}`, size: Number(f.size) || 0, sha256: f.sha256 })),
    };
  }

  /** As LXD: the reference is tried as an alias first (LXD's client sends aliases in either
   *  field), then as a fingerprint or prefix. */
  private async resolveLxd(server: string, ref: string, opts: FetchOptions, secret?: string): Promise<RemoteImage> {
    const withSecret = secret ? `?secret=${encodeURIComponent(secret)}` : "";
    const api = async (path: string, what: string) => {
      try {
        return unwrap(await getJson(`${server}${path}`, opts));
      } catch (err) {
        if (/HTTP 404|HTTP 403/.test((err as Error).message)) throw new ApiError(404, `The requested image "${what}" couldn't be found on ${server}`);
        throw new Error(`Image server ${server}: ${(err as Error).message}`);
      }
    };
    let fingerprint = ref;
    // A secret goes with a fingerprint (an alias of a private image is not for untrusted eyes).
    if (!secret) {
      try {
        fingerprint = String((await api(`/1.0/images/aliases/${encodeURIComponent(ref)}`, ref))?.target ?? ref);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    }
    const meta = await api(`/1.0/images/${encodeURIComponent(fingerprint)}${withSecret}`, ref);
    const fp = String(meta?.fingerprint ?? "");
    if (!/^[0-9a-f]{64}$/.test(fp)) throw new Error(`Image server ${server} answered without a valid fingerprint for "${ref}"`);
    const architecture = String(meta?.architecture ?? "");
    if (architecture !== this.arch) {
      throw new ApiError(400, `The requested image "${ref}" on ${server} is for architecture ${architecture}, this host runs ${this.arch}`);
    }
    return { fingerprint: fp, architecture, files: [{ url: `${server}/1.0/images/${fp}/export${withSecret}`, size: Number(meta?.size) || 0, sha256: fp }] };
  }

  /**
   * Makes the image `source` names available locally: an image already in the store (cached or
   * not) is used as it is; otherwise it is downloaded, verified and recorded with its
   * update_source. Returns the local row and whether it was downloaded.
   */
  async pull(source: PullSource, opts: PullOptions = {}): Promise<{ row: ImageRow; downloaded: boolean }> {
    for (const a of opts.aliases ?? []) {
      if (this.store.getAlias(a.name)) throw new ApiError(409, `Alias already exists: ${a.name}`);
    }
    const remote = await this.resolve(source, opts.signal);
    const existing = this.store.get(remote.fingerprint);
    if (existing) {
      for (const a of opts.aliases ?? []) this.store.createAlias(a.name, existing.fingerprint, a.description ?? "");
      return { row: existing, downloaded: false };
    }
    let pending = this.inflight.get(remote.fingerprint);
    if (!pending) {
      pending = this.download(source, remote, opts).finally(() => this.inflight.delete(remote.fingerprint));
      this.inflight.set(remote.fingerprint, pending);
      return { row: await pending, downloaded: true };
    }
    const row = await pending;
    for (const a of opts.aliases ?? []) this.store.createAlias(a.name, row.fingerprint, a.description ?? "");
    return { row, downloaded: false };
  }

  /** Downloads one file into the store's temp area, checking its size and sha256. */
  private async fetchFile(file: RemoteImage["files"][number], stage: string, source: PullSource, opts: PullOptions, fingerprint: string): Promise<Upload> {
    const fetched = await get(file.url, { certificate: source.certificate, signal: opts.signal });
    if (/^multipart\//i.test(fetched.response.headers.get("content-type") ?? "")) {
      await fetched.response.body?.cancel().catch(() => {});
      throw new ApiError(501, `${file.url} sends a split image as multipart, which this daemon cannot download yet`);
    }
    const report = progressReporter(stage, fetched.length ?? (file.size || undefined), (text) => opts.progress?.(text));
    const upload = await this.store.receiveUpload(fetched.body, report);
    try {
      // The server's Content-Length and the size the index announced must both hold.
      for (const expected of [fetched.length, file.size]) {
        if (expected && upload.size !== expected) {
          throw new Error(`Download of ${file.url} was ${upload.size < expected ? "truncated" : "too long"}: got ${upload.size} of ${expected} bytes`);
        }
      }
      if (upload.fingerprint !== file.sha256) {
        const what = file.sha256 === fingerprint ? "Image fingerprint doesn't match" : `sha256 of ${stage} doesn't match`;
        throw new Error(`${what}: got ${upload.fingerprint}, expected ${file.sha256} (from ${file.url})`);
      }
      return upload;
    } catch (err) {
      await this.store.discardUpload(upload);
      throw err;
    }
  }

  private async download(source: PullSource, remote: RemoteImage, opts: PullOptions): Promise<ImageRow> {
    let row: ImageRow;
    if (remote.files.length === 1) {
      const upload = await this.fetchFile(remote.files[0], "metadata", source, opts, remote.fingerprint);
      row = await this.store.importUpload(upload, { fingerprint: remote.fingerprint, public: opts.public, aliases: opts.aliases });
    } else {
      row = await this.downloadSplit(remote, source, opts);
    }
    if (row.architecture !== this.arch) {
      await this.store.delete(row.fingerprint);
      throw new ApiError(400, `Image ${row.fingerprint.slice(0, 12)} from ${source.server} is for architecture ${row.architecture}, this host runs ${this.arch}`);
    }
    const updateSource = {
      alias: source.alias || source.fingerprint || row.fingerprint,
      certificate: source.certificate ?? "",
      protocol: source.protocol,
      server: source.server,
      image_type: "container",
    };
    q.updateImage(this.db, row.fingerprint, { cached: opts.cached ?? false, autoUpdate: opts.autoUpdate ?? false, updateSource }, this.store.project);
    return this.store.mustGet(row.fingerprint);
  }

  /**
   * A split image (lxd.tar.xz + root.tar.xz or squashfs): each file is checked against the index,
   * then the store checks both together (the fingerprint is the sha256 of metadata and rootfs
   * concatenated) and every entry, as for an upload.
   */
  private async downloadSplit(remote: RemoteImage, source: PullSource, opts: PullOptions): Promise<ImageRow> {
    const meta = await this.fetchFile(remote.files[0], "metadata", source, opts, remote.fingerprint);
    let rootfs: Upload | undefined;
    try {
      rootfs = await this.fetchFile(remote.files[1], "rootfs", source, opts, remote.fingerprint);
      const combined = new Bun.CryptoHasher("sha256");
      for (const part of [meta.path, rootfs.path]) for await (const chunk of Bun.file(part).stream()) combined.update(chunk);
      const upload = { path: meta.path, rootfsPath: rootfs.path, fingerprint: combined.digest("hex"), size: meta.size + rootfs.size };
      return await this.store.importUpload(upload, { fingerprint: remote.fingerprint, public: opts.public, aliases: opts.aliases });
    } finally {
      // importUpload moves or removes both; after a failed download this removes them.
      await this.store.discardUpload(meta);
      if (rootfs) await this.store.discardUpload(rootfs);
    }
  }
}
