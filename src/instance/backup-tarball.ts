// LXD's instance backup tarball: `backup/index.yaml` (name, backend, pool, snapshots, and the
// instance, snapshot, pool and volume records under `config`), then each snapshot's tree under
// `backup/snapshots/<name>/` and the instance's under `backup/container/` (rootfs/, metadata.yaml,
// templates/, backup.yaml). LXD keeps an unprivileged container's files shifted into its host id
// range on disk and writes them so; `volatile.last_state.idmap` in the record says by which map.
// This daemon keeps them unshifted (idmapped mounts), so ids are shifted on the way out and
// back on the way in.
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { openDecompressed } from "../image/compression.ts";
import { CompressedFile, packTree, withMergedTree, type IdShift, type PublishCompression } from "../image/publish.ts";
import { readAllBody, readTar, TarWriter } from "../image/tar.ts";
import { extractTar } from "../image/unpack.ts";

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

/** One tree of the backup: a volume's filesystem (overlay layers, top first) and its image files. */
export interface BackupTree {
  layers: string[];
  /** Directory holding metadata.yaml and templates/, if any. */
  image: string;
}

export interface WriteOptions {
  index: BackupIndex;
  instance: BackupTree;
  snapshots: { name: string; tree: BackupTree }[];
  /** Container ids -> the ids written (the instance's host map), or none (privileged). */
  ids?: IdShift;
  compression: PublishCompression;
  workDir: string;
  onBytes: (n: number) => void;
}

/** Writes the tarball to `file`; returns its size. */
export async function writeBackup(file: string, opts: WriteOptions): Promise<number> {
  const out = new CompressedFile(file, opts.compression);
  try {
    const tar = new TarWriter((c) => out.write(c));
    const text = (path: string, body: string) =>
      tar.add({ path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: Math.floor(Date.now() / 1000) }, new TextEncoder().encode(body));
    await text("backup/index.yaml", Bun.YAML.stringify(opts.index, null, 2));
    let bytes = 0;
    const count = (n: number) => opts.onBytes(bytes + n);
    const packOne = async (prefix: string, tree: BackupTree) => {
      for (const f of ["metadata.yaml", "templates"]) {
        if (await stat(join(tree.image, f)).then(() => true, () => false)) await packTree(tar, join(tree.image, f), `${prefix}/${f}`, () => {});
      }
      let last = 0;
      await withMergedTree(tree.layers, opts.workDir, (dir) => packTree(tar, dir, `${prefix}/rootfs`, (n) => count((last = n)), opts.ids));
      bytes += last;
    };
    for (const s of opts.snapshots) await packOne(`backup/snapshots/${s.name}`, s.tree);
    await text("backup/container/backup.yaml", Bun.YAML.stringify(opts.index.config ?? {}, null, 2));
    await packOne("backup/container", opts.instance);
    await tar.finish();
    return (await out.finish()).size;
  } catch (err) {
    await out.finish().catch(() => {});
    await rm(file, { force: true });
    throw err;
  }
}

/** Reads `backup/index.yaml`, which LXD and this daemon write first. */
export async function readIndex(file: string): Promise<BackupIndex> {
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
  if (typeof i.name !== "string" || !i.name) throw new Error("Invalid backup file: index.yaml names no instance");
  if (i.type && i.type !== "container") throw new Error(`Backups of type "${i.type}" are not supported (containers only)`);
  if (i.snapshots !== undefined && i.snapshots !== null && !Array.isArray(i.snapshots)) throw new Error("Invalid backup file: index.yaml snapshots is not a list");
  for (const s of i.snapshots ?? []) {
    if (typeof s !== "string" || !s || s.includes("/") || s === "." || s === "..") throw new Error(`Invalid backup file: bad snapshot name "${s}"`);
  }
  return i;
}

/**
 * Extracts the trees into `dest` (existing, empty): `container/` and `snapshots/<name>/`, each
 * with rootfs/, metadata.yaml and templates/. Paths that escape, writes through symlinks and
 * entries outside the layout fail the extraction; `ids` maps owners back to the container's.
 */
export async function extractBackup(file: string, dest: string, ids: IdShift | undefined, onRead?: (n: number) => void): Promise<void> {
  const tree = /^(container|snapshots\/[^/]+)\/(rootfs|metadata\.yaml|templates)(\/.*)?$/;
  const map = (path: string): string | null => {
    const rel = path.startsWith("backup/") ? path.slice("backup/".length) : null;
    if (rel === null) return path === "backup" ? "" : null;
    // Known files this daemon does not need, and the directories around the trees.
    if (["index.yaml", "container", "snapshots", "container/backup.yaml"].includes(rel) || /^snapshots\/[^/]+(\/backup\.yaml)?$/.test(rel)) return "";
    return tree.test(rel) ? rel : null;
  };
  await extractTar(await openDecompressed(file, onRead), dest, { map, ids, strict: true, layout: "a backup (backup/index.yaml, backup/container/, backup/snapshots/)" });
  for (const part of ["container", ...(await readdir(join(dest, "snapshots")).catch(() => [] as string[])).map((s) => `snapshots/${s}`)]) {
    if (!(await stat(join(dest, part, "rootfs")).then((s) => s.isDirectory(), () => false))) {
      throw new Error(`Invalid backup file: backup/${part}/rootfs is missing`);
    }
  }
}
