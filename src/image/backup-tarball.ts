// LXD's backup tarballs. An instance's: `backup/index.yaml` (name, backend, pool, snapshots, and
// the instance, snapshot, pool and volume records under `config`), then each snapshot's tree under
// `backup/snapshots/<name>/` and the instance's under `backup/container/` (rootfs/, metadata.yaml,
// templates/, backup.yaml). A custom volume's: index.yaml (type custom, the volume's records),
// `backup/volume-snapshots/<name>/` and `backup/volume/`, the trees themselves. LXD keeps an unprivileged container's files shifted into its host id
// range on disk and writes them so; `volatile.last_state.idmap` in the record says by which map.
// This daemon keeps them unshifted (idmapped mounts), so ids are shifted on the way out and
// back on the way in.
import { chmod, lchown, lstat, mkdir, readdir, rm, stat } from "node:fs/promises";
import { ulid } from "ulid";
import { join } from "node:path";
import { openDecompressed } from "../image/compression.ts";
import { CompressedFile, packTree, withMergedTree, type IdShift, type PublishCompression } from "../image/publish.ts";
import { readAllBody, readTar, TarWriter } from "../image/tar.ts";
import { extractTar } from "../image/unpack.ts";
import { ApiError } from "../api/error.ts";

/** The parts of index.yaml this daemon reads and writes (LXD's backup.Info). */
export interface BackupIndex {
  name: string;
  backend: string;
  pool: string;
  snapshots?: string[];
  optimized: boolean;
  optimized_header: boolean;
  type: string;
  config?: {
    container?: Record<string, any>;
    snapshots?: Record<string, any>[];
    pool?: Record<string, any>;
    profiles?: Record<string, any>[];
    volume?: Record<string, any>;
    volume_snapshots?: Record<string, any>[];
  };
}

type LxdIdmapEntry = { Isuid: boolean; Isgid: boolean; Hostid: number; Nsid: number; Maprange: number };

function parseIdmap(json: string | undefined): LxdIdmapEntry[] {
  try {
    const entries = JSON.parse(json || "[]");
    return Array.isArray(entries) ? entries : [];
  } catch {
    throw new Error(`invalid id map "${json}" in the backup`);
  }
}

/** Maps ids through `entries` (container -> host when `toHost`, else back); unmapped ids stay. */
export function idShift(idmapJson: string | undefined, toHost: boolean): IdShift | undefined {
  const entries = parseIdmap(idmapJson);
  if (!entries.length) return undefined;
  const one = (id: number, uid: boolean) => {
    for (const e of entries) {
      if (uid ? !e.Isuid : !e.Isgid) continue;
      const [from, to] = toHost ? [e.Nsid, e.Hostid] : [e.Hostid, e.Nsid];
      if (id >= from && id < from + e.Maprange) return to + (id - from);
    }
    return id;
  };
  return (uid, gid) => [one(uid, true), one(gid, false)];
}

/** A filesystem written into the tarball at `path`: a volume's overlay layers (top first), and
 *  for an instance the directory whose metadata.yaml and templates/ go beside it. */
export interface BackupTree {
  path: string;
  layers: string[];
  image?: string;
}

/** Members in tarball order: files given as text or as a file on disk (a send stream), and trees. */
export type BackupItem = { path: string; text: string } | { path: string; file: string } | BackupTree;

export interface WriteOptions {
  items: BackupItem[];
  /** Container ids -> the ids written (the instance's host map), or none (privileged, volumes). */
  ids?: IdShift;
  compression: PublishCompression;
  workDir: string;
  onBytes: (n: number) => void;
}

/** Writes the tarball (index.yaml first) to `file`; returns its size. */
export async function writeBackup(file: string, index: BackupIndex, opts: WriteOptions): Promise<number> {
  const out = new CompressedFile(file, opts.compression);
  try {
    const tar = new TarWriter((c) => out.write(c));
    const text = (path: string, body: string) =>
      tar.add({ path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: Math.floor(Date.now() / 1000) }, new TextEncoder().encode(body));
    await text("backup/index.yaml", Bun.YAML.stringify(index, null, 2));
    let bytes = 0;
    for (const item of opts.items) {
      if ("text" in item) {
        await text(item.path, item.text);
        continue;
      }
      if ("file" in item) {
        await tar.addFile({ path: item.path, mode: 0o600, uid: 0, gid: 0, mtime: Math.floor(Date.now() / 1000) }, item.file);
        continue;
      }
      const parent = item.path.slice(0, item.path.lastIndexOf("/"));
      for (const f of item.image ? ["metadata.yaml", "templates"] : []) {
        if (await stat(join(item.image!, f)).then(() => true, () => false)) await packTree(tar, join(item.image!, f), `${parent}/${f}`, () => {});
      }
      let last = 0;
      await withMergedTree(item.layers, opts.workDir, (dir) => packTree(tar, dir, item.path, (n) => opts.onBytes(bytes + (last = n)), opts.ids));
      bytes += last;
    }
    await tar.finish();
    return (await out.finish()).size;
  } catch (err) {
    await out.finish().catch(() => {});
    await rm(file, { force: true });
    throw err;
  }
}

/** Reads `backup/index.yaml`, which LXD and this daemon write first; `type` is what it must hold. */
export async function readIndex(file: string, type: "container" | "custom"): Promise<BackupIndex> {
  let index: unknown;
  try {
    for await (const { header, body } of readTar(await openDecompressed(file), { requireEnd: false })) {
      if (header.path.replace(/^\.\//, "") === "backup/index.yaml") index = Bun.YAML.parse(new TextDecoder().decode(await readAllBody(body)));
      break;
    }
  } catch (err) {
    throw new Error(`Invalid backup file: ${(err as Error).message}`);
  }
  const i = index as BackupIndex | undefined;
  if (!i || typeof i !== "object") throw new Error("Invalid backup file: it does not start with backup/index.yaml");
  if (typeof i.name !== "string" || !i.name) throw new Error("Invalid backup file: index.yaml names nothing");
  if ((i.type || "container") !== type) throw new Error(`Invalid backup file: it holds a ${i.type || "container"} backup, not a ${type} one`);
  if (i.snapshots !== undefined && i.snapshots !== null && !Array.isArray(i.snapshots)) throw new Error("Invalid backup file: index.yaml snapshots is not a list");
  for (const s of i.snapshots ?? []) {
    if (typeof s !== "string" || !s || s.includes("/") || s === "." || s === "..") throw new Error(`Invalid backup file: bad snapshot name "${s}"`);
  }
  return i;
}

/** Where a backup's members go: `accept` says which paths (below `backup/`) are extracted as
 *  they are, `ignore` which are known and dropped; anything else fails the extraction. */
export interface BackupLayout {
  accept: RegExp;
  ignore: RegExp;
  describe: string;
}

export const INSTANCE_LAYOUT: BackupLayout = {
  accept: /^(container|snapshots\/[^/]+)\/(rootfs|metadata\.yaml|templates)(\/.*)?$/,
  ignore: /^(index\.yaml|container|snapshots|container\/backup\.yaml|snapshots\/[^/]+|snapshots\/[^/]+\/backup\.yaml)$/,
  describe: "a backup (backup/index.yaml, backup/container/, backup/snapshots/)",
};

/** An optimized backup: the driver's streams (btrfs send) instead of trees. */
export const OPTIMIZED_LAYOUT: BackupLayout = {
  accept: /^(container\.bin|snapshots\/[^/]+\.bin)$/,
  ignore: /^(index\.yaml|optimized_header\.yaml|snapshots)$/,
  describe: "an optimized backup (backup/index.yaml, backup/container.bin, backup/snapshots/<name>.bin)",
};

export const VOLUME_LAYOUT: BackupLayout = {
  accept: /^(volume|volume-snapshots\/[^/]+)(\/.*)?$/,
  ignore: /^(index\.yaml|volume-snapshots)$/,
  describe: "a volume backup (backup/index.yaml, backup/volume/, backup/volume-snapshots/)",
};

/**
 * Extracts the members below `backup/` into `dest` (existing, empty) by `layout`. Paths that
 * escape, writes through symlinks and entries outside the layout fail the extraction; `ids` maps
 * owners back to the container's.
 */
export async function extractBackup(file: string, dest: string, layout: BackupLayout, ids: IdShift | undefined, onRead?: (n: number) => void): Promise<void> {
  const map = (path: string): string | null => {
    if (path === "backup") return "";
    const rel = path.startsWith("backup/") ? path.slice("backup/".length) : undefined;
    if (rel === undefined) return null;
    if (layout.ignore.test(rel)) return "";
    return layout.accept.test(rel) ? rel : null;
  };
  await extractTar(await openDecompressed(file, onRead), dest, { map, ids, strict: true, layout: layout.describe });
}

/** Throws unless `dir` (a part of an extracted backup) exists as a directory. */
export async function requireDir(dest: string, part: string): Promise<void> {
  if (!(await stat(join(dest, part)).then((s) => s.isDirectory(), () => false))) throw new Error(`backup/${part} is missing`);
}

export async function requireFile(dest: string, part: string): Promise<void> {
  if (!(await stat(join(dest, part)).then((s) => s.isFile(), () => false))) throw new Error(`backup/${part} is missing`);
}

/** Maps the owners of every entry below `dir` through `ids` (a stream received with LXD's
 *  shifted ids); modes are put back, as chown clears setuid and setgid. */
export async function shiftTree(dir: string, ids: IdShift): Promise<void> {
  const one = async (path: string) => {
    const st = await lstat(path);
    const [uid, gid] = ids(st.uid, st.gid);
    if (uid !== st.uid || gid !== st.gid) {
      await lchown(path, uid, gid);
      if (!st.isSymbolicLink()) await chmod(path, st.mode & 0o7777);
    }
    if (st.isDirectory()) for (const e of await readdir(path)) await one(join(path, e));
  };
  await one(dir);
}

/** The first free "backupN" among `taken`, or `requested` checked. */
export function backupName(taken: Set<string>, requested: string | undefined, owner: string): string {
  let name = requested ?? "";
  if (!name) for (let i = 0; !name; i++) if (!taken.has(`backup${i}`)) name = `backup${i}`;
  if (!name || name.includes("/") || name === "." || name === ".." || /[\s\0]/.test(name) || name.length > 255) {
    throw new ApiError(400, `Invalid backup name "${name}"`);
  }
  if (taken.has(name)) throw new ApiError(409, `Backup "${name}" already exists for ${owner}`);
  return name;
}

const COMPRESSIONS: Record<string, PublishCompression> = { gzip: "gzip", xz: "xz", none: "none" };

export function backupCompression(algorithm: string | undefined): PublishCompression {
  const compression = COMPRESSIONS[algorithm || "gzip"];
  if (!compression) throw new ApiError(400, `Unsupported compression algorithm "${algorithm}" (gzip, xz or none)`);
  return compression;
}

/** An API expiry as the row stores it ("" = never). */
export function backupExpiry(value: string | null | undefined): string {
  if (!value || value.startsWith("0001-01-01")) return "";
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw new ApiError(400, `Invalid expires_at "${value}"`);
  return at.toISOString();
}

const UPLOAD = ".upload-";
const STAGE = ".import-";

/** Stores an uploaded tarball in `dir` for a restore; returns its path. */
export async function storeUpload(dir: string, body: ReadableStream<Uint8Array>): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${UPLOAD}${ulid()}`);
  try {
    await Bun.write(file, new Response(body));
    if ((await stat(file)).size === 0) throw new ApiError(400, "Invalid backup file: the upload is empty");
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  return file;
}

/** A fresh directory in `dir` to extract a backup into. */
export async function stagingDir(dir: string): Promise<string> {
  const stage = join(dir, `${STAGE}${ulid()}`);
  await mkdir(stage, { recursive: true, mode: 0o700 });
  return stage;
}

/** Uploads, staging directories and half-written tarballs a killed daemon left in `dir`. */
export async function removeLeftovers(dir: string): Promise<void> {
  const walk = async (d: string, depth: number): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.name.startsWith(UPLOAD) || e.name.startsWith(STAGE) || e.name.startsWith(".tmp-")) await rm(p, { recursive: true, force: true });
      else if (e.isDirectory() && depth > 0) await walk(p, depth - 1);
    }
  };
  await walk(dir, 3);
}
