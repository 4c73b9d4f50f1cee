// The local image store: image files in imagesDir() (`<fp>`, plus `<fp>.rootfs` for split
// images), their rows in the images/image_aliases tables, and LXD's API view of them.
import * as fs from "node:fs";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { ulid } from "ulid";
import type { Image, ImageAliasesEntry } from "../api/image.ts";
import type { Db } from "../db/index.ts";
import * as q from "../db/images.ts";
import { ApiError } from "../api/error.ts";
import { log } from "../log.ts";
import { imagesDir } from "../paths.ts";
import { MNT, umount } from "../kernel/ffi.ts";
import { unpackImage, type UnpackProgress } from "./unpack.ts";
import { splitFingerprint } from "./fingerprint.ts";
import { receiveMultipart } from "./multipart.ts";
import { checkSplit, checkUnified } from "./validate.ts";

export type ImageRow = q.ImageRow;
export type ImageAliasRow = q.ImageAliasRow;

export interface ImportOptions {
  public?: boolean;
  filename?: string;
  /** Added to (and overriding) the properties from metadata.yaml. */
  properties?: Record<string, string>;
  profiles?: string[];
  aliases?: { name: string; description?: string }[];
  /** The upload must hash to this (X-LXD-fingerprint). */
  fingerprint?: string;
}

/** An upload written to temp files in the images directory, not yet validated: a unified
 *  image, or a split image's metadata tarball (`path`) and rootfs (`rootfsPath`). */
export interface Upload { path: string; fingerprint: string; size: number; rootfsPath?: string }

/** Bytes received so far while an upload is written to disk. */
export type ImportProgress = (bytesReceived: number) => void;

/** Go's RFC 3339 rendering: fractional seconds only when non-zero. */
export const rfc3339 = (d: Date): string => d.toISOString().replace(/\.000Z$/, "Z");
const fromEpoch = (seconds: number) => rfc3339(new Date(seconds * 1000));
/** LXD's expires_at for images that never expire, and last_used_at for never-used ones (Go zero time). */
export const NEVER_EXPIRES = "1970-01-01T00:00:00Z";
export const NEVER_USED = "0001-01-01T00:00:00Z";

const HEX = /^[0-9a-f]+$/;

/**
 * The store as one project sees it (`in(project)`): rows and aliases are the project's, files are
 * shared by fingerprint and go when the last project's row does.
 */
export class ImageStore {
  constructor(
    private readonly db: Db,
    private readonly dir: string = imagesDir(),
    readonly project = "default",
    private readonly deleteHooks: ((fingerprint: string) => Promise<void>)[] = [],
    /** Shared by every project's view: how a cluster member fetches images, and fetches under way. */
    private readonly remote: { fetch?: (fingerprint: string, dest: string) => Promise<boolean>; fetching: Map<string, Promise<void>> } = { fetching: new Map() },
  ) {}

  /** On a cluster member: fetches an image another member holds into `dest` (its unified tarball);
   *  false when none has it. */
  set fetchMissing(fetch: (fingerprint: string, dest: string) => Promise<boolean>) {
    this.remote.fetch = fetch;
  }

  /** Views by project, shared by every view (so each project has one, and one puller). */
  private views = new Map<string, ImageStore>();

  /** The same store seen from `project` (the one whose images it uses: see ProjectManager.effective). */
  in(project: string): ImageStore {
    if (project === this.project) return this;
    let view = this.views.get(project);
    if (!view) {
      view = new ImageStore(this.db, this.dir, project, this.deleteHooks, this.remote);
      view.views = this.views;
      this.views.set(this.project, this);
      this.views.set(project, view);
    }
    return view;
  }

  imageFile(fp: string): string { return join(this.dir, fp); }
  /** The rootfs file of a split image (absent for unified images). */
  rootfsFile(fp: string): string { return join(this.dir, `${fp}.rootfs`); }
  isSplit(fp: string): boolean { return fs.existsSync(this.rootfsFile(fp)); }
  /** The tarball holding the rootfs: the unified file itself, or the split image's rootfs file. */
  rootfsTarball(fp: string): string { return this.isSplit(fp) ? this.rootfsFile(fp) : this.imageFile(fp); }

  list(): ImageRow[] { return q.listImages(this.db, this.project); }

  /** Whether any project has the image (its file and unpacked layers are still needed). */
  known(fp: string): boolean { return q.imageProjects(this.db, fp).length > 0; }

  /** Every project's fingerprints. */
  allFingerprints(): string[] { return q.allFingerprints(this.db); }

  /** Exact fingerprint or unique prefix (like LXD); undefined if none, 400 if ambiguous. */
  get(fpOrPrefix: string): ImageRow | undefined {
    const ref = fpOrPrefix.toLowerCase();
    if (!ref || !HEX.test(ref)) return undefined;
    if (ref.length === 64) return q.getImage(this.db, ref, this.project);
    const found = q.imagesByPrefix(this.db, ref, this.project);
    if (found.length > 1) throw new ApiError(400, `More than one image matches "${fpOrPrefix}"`);
    return found[0];
  }

  /** Like get() but 404 when missing. */
  mustGet(fpOrPrefix: string): ImageRow {
    const row = this.get(fpOrPrefix);
    if (!row) throw new ApiError(404, `Image "${fpOrPrefix}" not found`);
    return row;
  }

  resolveAlias(name: string): ImageRow | undefined {
    const alias = q.getAlias(this.db, name, this.project);
    return alias ? q.getImage(this.db, alias.fingerprint, this.project) : undefined;
  }

  /**
   * Writes an upload to a temp file in the images directory while hashing it. The caller hands
   * the result to importUpload (which always removes the temp file) or to discardUpload.
   */
  async receiveUpload(source: string | AsyncIterable<Uint8Array>, progress?: ImportProgress): Promise<Upload> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `lxd_post_${ulid()}`);
    try {
      const hasher = new Bun.CryptoHasher("sha256");
      const sink = Bun.file(path).writer({ highWaterMark: 1 << 20 });
      let size = 0;
      try {
        const input = typeof source === "string" ? Bun.file(source).stream() : source;
        for await (const chunk of input) {
          hasher.update(chunk);
          sink.write(chunk);
          size += chunk.length;
          progress?.(size);
          if (size % (8 << 20) < chunk.length) await sink.flush(); // bound what sits in memory
        }
      } finally {
        await sink.end();
      }
      return { path, fingerprint: hasher.digest("hex"), size };
    } catch (err) {
      await rm(path, { force: true });
      throw new Error(`receiving image upload failed: ${(err as Error).message}`);
    }
  }

  /** Receives a multipart split-image upload (`metadata` and `rootfs` parts, as LXD's client sends). */
  async receiveSplitUpload(body: AsyncIterable<Uint8Array>, boundary: string, progress?: ImportProgress): Promise<Upload> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const prefix = `lxd_post_${ulid()}_`;
    const paths = ["metadata", "rootfs", "rootfs.img"].map((n) => join(this.dir, prefix + n));
    try {
      const parts = await receiveMultipart(body, boundary, this.dir, prefix, ["metadata", "rootfs", "rootfs.img"], progress);
      const meta = parts.find((p) => p.name === "metadata");
      if (parts.some((p) => p.name === "rootfs.img")) throw new ApiError(400, "Virtual-machine images are not supported (containers only)");
      const rootfs = parts.find((p) => p.name === "rootfs");
      if (!meta || !rootfs) throw new ApiError(400, "Invalid image file: a split image upload needs a metadata part and a rootfs part");
      return { path: meta.path, rootfsPath: rootfs.path, size: meta.size + rootfs.size, fingerprint: await splitFingerprint(meta.path, rootfs.path) };
    } catch (err) {
      await Promise.all(paths.map((p) => rm(p, { force: true })));
      if (err instanceof ApiError) throw err;
      throw new ApiError(400, `Invalid image upload: ${(err as Error).message}`);
    }
  }

  /** Removes what a killed daemon left in the images directory: uploads being received
   *  (`lxd_post_*`) and publish mounts (`lxd_publish_*`, detached before removal). */
  async removeLeftovers(): Promise<void> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const path = join(this.dir, name);
      if (name.startsWith("lxd_post_")) await rm(path, { force: true });
      else if (name.startsWith("lxd_publish_")) {
        try { umount(path, MNT.DETACH); } catch { /* not mounted */ }
        fs.rmdirSync(path); // never recursive: it was a mount point
      }
    }
  }

  async discardUpload(upload: Upload): Promise<void> {
    await rm(upload.path, { force: true });
    if (upload.rootfsPath) await rm(upload.rootfsPath, { force: true });
  }

  /**
   * Stores a received image: checks the expected fingerprint, reads and checks the whole image
   * (src/image/validate.ts),
   * then moves the file into place and records it (with its aliases).
   */
  async importUpload(upload: Upload, opts: ImportOptions = {}, onChecked?: (bytes: number) => void): Promise<ImageRow> {
    const { path, fingerprint, size, rootfsPath } = upload;
    try {
      if (opts.fingerprint && opts.fingerprint.toLowerCase() !== fingerprint) {
        throw new ApiError(400, `fingerprints don't match, got ${fingerprint} expected ${opts.fingerprint}`);
      }
      if (size === 0) throw new ApiError(400, "Invalid image file: the upload is empty");
      const metadata = rootfsPath ? await checkSplit(path, rootfsPath, onChecked) : await checkUnified(path, onChecked);
      for (const a of opts.aliases ?? []) {
        if (q.getAlias(this.db, a.name, this.project)) throw new ApiError(409, `Alias already exists: ${a.name}`);
      }
      // No await from the duplicate check to the insert: concurrent uploads can't both win.
      if (q.getImage(this.db, fingerprint, this.project)) throw new ApiError(409, "Image with same fingerprint already exists");
      fs.renameSync(path, this.imageFile(fingerprint));
      if (rootfsPath) fs.renameSync(rootfsPath, this.rootfsFile(fingerprint));
      const row = q.insertImage(this.db, {
        fingerprint,
        project: this.project,
        filename: opts.filename ?? "",
        size,
        architecture: metadata.architecture,
        type: "container",
        public: opts.public ?? false,
        autoUpdate: false,
        cached: false,
        properties: { ...metadata.properties, ...(opts.properties ?? {}) },
        profiles: opts.profiles ?? ["default"],
        createdAt: fromEpoch(metadata.creation_date),
        uploadedAt: rfc3339(new Date()),
        lastUsedAt: NEVER_USED,
        expiresAt: metadata.expiry_date ? fromEpoch(metadata.expiry_date) : NEVER_EXPIRES,
        updateSource: null,
      });
      for (const a of opts.aliases ?? []) {
        q.insertAlias(this.db, { name: a.name, project: this.project, fingerprint, description: a.description ?? "", type: "container" });
      }
      return row;
    } finally {
      await this.discardUpload(upload);
    }
  }

  /** receiveUpload + importUpload, for callers that have the whole image at hand (CLI, tests). */
  async importUnified(source: string | AsyncIterable<Uint8Array>, opts: ImportOptions = {}, progress?: ImportProgress): Promise<ImageRow> {
    return this.importUpload(await this.receiveUpload(source, progress), opts);
  }

  update(fp: string, changes: Partial<Pick<ImageRow, "public" | "autoUpdate" | "properties" | "profiles" | "expiresAt" | "lastUsedAt">>): ImageRow {
    q.updateImage(this.db, fp, changes, this.project);
    return this.mustGet(fp);
  }

  /** Records that an instance was created from the image. */
  markUsed(fp: string): void {
    q.updateImage(this.db, fp, { lastUsedAt: rfc3339(new Date()) }, this.project);
  }

  /** Registers cleanup to run when an image is deleted (e.g. storage pools dropping their unpacked copy). */
  onDelete(hook: (fingerprint: string) => Promise<void>): void {
    this.deleteHooks.push(hook);
  }

  /** Deletes this project's image; the file (and what pools unpacked of it) only with the last row. */
  async delete(fp: string): Promise<void> {
    const row = this.mustGet(fp);
    const last = q.imageProjects(this.db, row.fingerprint).every((p) => p === this.project);
    if (last) for (const hook of this.deleteHooks) await hook(row.fingerprint);
    q.deleteImage(this.db, row.fingerprint, this.project);
    if (!last) return;
    await rm(this.imageFile(row.fingerprint), { force: true });
    await rm(this.rootfsFile(row.fingerprint), { force: true });
  }

  /** Unpacks the image (metadata.yaml, templates/, rootfs/) into `dest`, atomically. */
  async unpackTo(fp: string, dest: string, progress?: (p: UnpackProgress) => void): Promise<void> {
    // Whichever project has it: a pool unpacks an image once for all of them.
    const row = this.known(fp) ? { fingerprint: fp } : this.mustGet(fp);
    const file = this.imageFile(row.fingerprint);
    const present = () => stat(file).then(() => true, () => false);
    if (!(await present()) && this.remote.fetch) {
      // Images live where they were imported; a member fetches one on first use, as LXD does
      // (once, however many instances wait for it).
      let fetching = this.remote.fetching.get(row.fingerprint);
      if (!fetching) {
        const fetch = this.remote.fetch;
        const tmp = `${file}.fetch-${process.pid}`;
        fetching = (async () => {
          try {
            await mkdir(this.dir, { recursive: true });
            if (await fetch(row.fingerprint, tmp)) fs.renameSync(tmp, file);
          } finally {
            await rm(tmp, { force: true });
            this.remote.fetching.delete(row.fingerprint);
          }
        })();
        this.remote.fetching.set(row.fingerprint, fetching);
      }
      await fetching;
    }
    if (!(await present())) {
      throw new Error(`image ${row.fingerprint} has no file at ${file} (image store damaged?)`);
    }
    const rootfsFile = this.isSplit(row.fingerprint) ? this.rootfsFile(row.fingerprint) : undefined;
    await unpackImage(file, dest, {
      rootfsFile,
      progress,
      log: (message) => log.warn(message, { fingerprint: row.fingerprint }),
    });
  }

  // ---- aliases ---------------------------------------------------------------------------

  listAliases(): ImageAliasRow[] { return q.listAliases(this.db, this.project); }

  getAlias(name: string): ImageAliasRow | undefined { return q.getAlias(this.db, name, this.project); }

  mustGetAlias(name: string): ImageAliasRow {
    const a = q.getAlias(this.db, name, this.project);
    if (!a) throw new ApiError(404, `Image alias "${name}" not found`);
    return a;
  }

  createAlias(name: string, target: string, description = ""): ImageAliasRow {
    if (!name) throw new ApiError(400, "name and target are required");
    if (q.getAlias(this.db, name, this.project)) throw new ApiError(409, `Alias "${name}" already exists`);
    const image = this.mustGet(target);
    return q.insertAlias(this.db, { name, project: this.project, fingerprint: image.fingerprint, description, type: image.type });
  }

  updateAlias(name: string, changes: { target?: string; description?: string }): ImageAliasRow {
    this.mustGetAlias(name);
    const fingerprint = changes.target !== undefined ? this.mustGet(changes.target).fingerprint : undefined;
    q.updateAlias(this.db, name, { ...(fingerprint ? { fingerprint } : {}), ...(changes.description !== undefined ? { description: changes.description } : {}) }, this.project);
    return this.mustGetAlias(name);
  }

  renameAlias(from: string, to: string): void {
    if (!to) throw new ApiError(400, "A new name is required");
    if (q.getAlias(this.db, to, this.project)) throw new ApiError(409, `Alias "${to}" already exists`);
    this.mustGetAlias(from);
    q.renameAlias(this.db, from, to, this.project);
  }

  deleteAlias(name: string): void {
    this.mustGetAlias(name);
    q.deleteAlias(this.db, name, this.project);
  }

  // ---- API views -------------------------------------------------------------------------

  /** LXD's Image object, keys in LXD's order; update_source only when there is one. */
  toApi(row: ImageRow): Image {
    const image: Image = {
      auto_update: row.autoUpdate,
      properties: row.properties,
      public: row.public,
      expires_at: row.expiresAt,
      profiles: row.profiles,
      aliases: q.aliasesOf(this.db, row.fingerprint, row.project).map((a) => ({ name: a.name, description: a.description })),
      architecture: row.architecture,
      cached: row.cached,
      filename: row.filename,
      fingerprint: row.fingerprint,
      size: row.size,
      type: row.type,
      created_at: row.createdAt,
      last_used_at: row.lastUsedAt,
      uploaded_at: row.uploadedAt,
    };
    if (row.updateSource) {
      const s = row.updateSource;
      image.update_source = { alias: s.alias ?? "", certificate: s.certificate ?? "", protocol: s.protocol ?? "", server: s.server ?? "", image_type: s.image_type ?? "" };
    }
    return image;
  }

  aliasToApi(a: ImageAliasRow): ImageAliasesEntry {
    return { description: a.description, target: a.fingerprint, name: a.name, type: a.type };
  }
}
