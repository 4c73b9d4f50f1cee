// Safe extraction of image tarballs. The tarball is untrusted input: every path is normalised
// and confined to the destination, no symlink is ever followed while creating a path (parents
// are checked with lstat, files are created O_EXCL|O_NOFOLLOW, final fix-ups go through
// O_NOFOLLOW fds), hardlinks may only point inside the destination, and device nodes/fifos are
// skipped (an unprivileged container could not use them anyway).
// Ownership is kept exactly as in the tar (images are stored 0:0 and shifted at runtime by
// idmapped mounts), as are modes incl. setuid/setgid, and mtimes.
import * as fs from "node:fs";
import { rm, rename, mkdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ulid } from "ulid";
import { readTar, type TarHeader } from "./tar.ts";
import { detectFileCompression, openDecompressed } from "./compression.ts";
import { unpackSquashfs } from "./squashfs.ts";

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = fs.constants;
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

export interface UnpackProgress {
  processed: number; // compressed bytes consumed
  total: number; // size of the image file
}

export interface ExtractOptions {
  /** Maps an entry's normalised relative path to where it goes under the root, or null to skip it. */
  map?: (path: string) => string | null;
  /** Where skipped entries are reported (device nodes, unsafe paths). */
  log?: (message: string) => void;
  /** Maps an entry's owner (a backup's shifted host ids back to the container's). */
  ids?: (uid: number, gid: number) => [number, number];
  /** Unsafe paths, entries outside the layout and a missing end-of-archive marker fail the
   *  extraction instead of being skipped. */
  strict?: boolean;
  /** What the layout `map` accepts, for the message about an entry outside it. */
  layout?: string;
}

export interface ExtractStats {
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  skipped: number;
}

/** Normalises a tar path into safe components, or explains why it is unsafe. A leading "/" is
 *  dropped, as tar and LXD do: images in the wild carry members like "/rootfs/etc/inittab". */
export function safeComponents(path: string): string[] | string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") return "'..' component";
    if (p.includes("\0")) return "NUL in path";
    parts.push(p);
  }
  return parts;
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException)?.code;

interface DirFixup { path: string; mode: number; uid: number; gid: number; mtime: number }

class Extractor {
  readonly stats: ExtractStats = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, skipped: 0 };
  /** Directories known to be real directories (never symlinks) under the root. */
  private readonly safeDirs = new Set<string>();
  private readonly dirFixups = new Map<string, DirFixup>();
  private readonly chown = process.getuid?.() === 0;

  constructor(private readonly root: string, private readonly opts: ExtractOptions) {
    this.safeDirs.add(root);
  }

  /** `unsafe`: the entry breaks the rules (not merely a kind this extractor does not create). */
  private skip(path: string, why: string, unsafe = true): void {
    if (this.opts.strict && unsafe) throw new Error(`refusing "${path}": ${why}`);
    this.stats.skipped++;
    this.opts.log?.(`image unpack: skipping "${path}": ${why}`);
  }

  /** Resolves `rel` under the root, creating missing parents and refusing symlinked parents. */
  private parentsSafe(parts: string[], create: boolean): boolean {
    let cur = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      cur = `${cur}/${parts[i]}`;
      if (this.safeDirs.has(cur)) continue;
      let st: fs.Stats | undefined;
      try { st = fs.lstatSync(cur); } catch (err) { if (errno(err) !== "ENOENT") throw err; }
      if (!st) {
        if (!create) return false;
        fs.mkdirSync(cur, 0o755);
      } else if (!st.isDirectory()) {
        return false; // a symlink (or file) in the parent chain: never write through it
      }
      this.safeDirs.add(cur);
    }
    return true;
  }

  /** Clears whatever is at `abs` so a new non-directory entry can take its place. */
  private clear(abs: string): void {
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      fs.rmdirSync(abs); // fails on a non-empty directory, like tar
      this.safeDirs.delete(abs);
      this.dirFixups.delete(abs);
    } else {
      fs.unlinkSync(abs);
    }
  }

  private ownerOf(h: { uid: number; gid: number }): [number, number] {
    return this.opts.ids ? this.opts.ids(h.uid, h.gid) : [h.uid, h.gid];
  }

  private owner(fd: number, h: TarHeader): void {
    if (this.chown) fs.fchownSync(fd, ...this.ownerOf(h));
    fs.fchmodSync(fd, h.mode); // after chown, which clears setuid/setgid
    fs.futimesSync(fd, h.mtime, h.mtime);
  }

  async entry(h: TarHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const parts = safeComponents(h.path);
    if (typeof parts === "string") return this.skip(h.path, parts);
    if (parts.length === 0) return; // the archive's "./" entry
    const mapped = this.opts.map ? this.opts.map(parts.join("/")) : parts.join("/");
    if (mapped === null) return this.skip(h.path, `not part of ${this.opts.layout ?? "an image (metadata.yaml, templates/, rootfs/)"}`);
    const rel = mapped.split("/").filter(Boolean);
    if (rel.length === 0) return;
    if (!this.parentsSafe(rel, true)) return this.skip(h.path, "a parent directory is a symlink or not a directory");
    const abs = `${this.root}/${rel.join("/")}`;

    switch (h.type) {
      case "file": {
        let fd: number;
        try {
          fd = fs.openSync(abs, CREATE_FLAGS, 0o600);
        } catch (err) {
          if (errno(err) !== "EEXIST") throw err;
          this.clear(abs);
          fd = fs.openSync(abs, CREATE_FLAGS, 0o600);
        }
        try {
          for await (const chunk of body) {
            let off = 0;
            while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
          }
          this.owner(fd, h);
        } finally {
          fs.closeSync(fd);
        }
        this.stats.files++;
        return;
      }
      case "directory": {
        try {
          fs.mkdirSync(abs, 0o700);
        } catch (err) {
          if (errno(err) !== "EEXIST") throw err;
          if (!fs.lstatSync(abs).isDirectory()) {
            fs.unlinkSync(abs);
            fs.mkdirSync(abs, 0o700);
          }
        }
        this.safeDirs.add(abs);
        // Modes and mtimes are applied at the end: children would change the mtime, and a
        // read-only directory must stay writable while it is being filled.
        this.dirFixups.set(abs, { path: abs, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
        this.stats.directories++;
        return;
      }
      case "symlink": {
        try {
          fs.symlinkSync(h.linkpath, abs);
        } catch (err) {
          if (errno(err) !== "EEXIST") throw err;
          this.clear(abs);
          fs.symlinkSync(h.linkpath, abs);
        }
        if (this.chown) fs.lchownSync(abs, ...this.ownerOf(h));
        fs.lutimesSync(abs, h.mtime, h.mtime);
        this.stats.symlinks++;
        return;
      }
      case "hardlink": {
        const target = safeComponents(h.linkpath);
        if (typeof target === "string") return this.skip(h.path, `hardlink target "${h.linkpath}": ${target}`);
        const mappedTarget = this.opts.map ? this.opts.map(target.join("/")) : target.join("/");
        if (mappedTarget === null) return this.skip(h.path, `hardlink target "${h.linkpath}" is outside the image`);
        const tparts = mappedTarget.split("/").filter(Boolean);
        if (tparts.length === 0 || !this.parentsSafe(tparts, false)) {
          return this.skip(h.path, `hardlink target "${h.linkpath}" is not a file inside the image`);
        }
        const tabs = `${this.root}/${tparts.join("/")}`;
        const tst = fs.lstatSync(tabs, { throwIfNoEntry: false });
        if (!tst || tst.isDirectory()) return this.skip(h.path, `hardlink target "${h.linkpath}" does not exist or is a directory`);
        if (tabs === abs) return;
        try {
          fs.linkSync(tabs, abs); // link(2) does not follow a symlink target
        } catch (err) {
          if (errno(err) !== "EEXIST") throw err;
          this.clear(abs);
          fs.linkSync(tabs, abs);
        }
        this.stats.hardlinks++;
        return;
      }
      default:
        return this.skip(h.path, `${h.type} entries are not created (containers are unprivileged)`, false);
    }
  }

  /** Applies directory ownership, modes and mtimes, deepest first. */
  finish(): void {
    const dirs = [...this.dirFixups.values()].sort((a, b) => b.path.length - a.path.length);
    for (const d of dirs) {
      const fd = fs.openSync(d.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      try {
        if (this.chown) fs.fchownSync(fd, ...this.ownerOf(d));
        fs.fchmodSync(fd, d.mode);
        fs.futimesSync(fd, d.mtime, d.mtime);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
}

/** Extracts a (decompressed) tar stream into an existing directory `root`. */
export async function extractTar(source: AsyncIterable<Uint8Array>, root: string, opts: ExtractOptions = {}): Promise<ExtractStats> {
  const x = new Extractor(root, opts);
  for await (const { header, body } of readTar(source, { requireEnd: opts.strict })) await x.entry(header, body);
  x.finish();
  return x.stats;
}

/** Entries of a unified image: metadata.yaml, templates/… and rootfs/…; nothing else. */
export const unifiedLayout = (path: string): string | null =>
  path === "metadata.yaml" || path === "templates" || path.startsWith("templates/") || path === "rootfs" || path.startsWith("rootfs/")
    ? path
    : null;

/** Entries of a split image's metadata tarball: its stray "rootfs/" directory stays out. */
const splitMetadataLayout = (path: string): string | null =>
  path === "rootfs" || path.startsWith("rootfs/") ? null : unifiedLayout(path);

export interface UnpackOptions {
  progress?: (p: UnpackProgress) => void;
  log?: (message: string) => void;
}

/**
 * Unpacks an image into `dest` (which must not exist): a unified tarball, or a split image's
 * metadata tarball plus its rootfs tarball. Works in `dest.tmp-<ulid>` and renames at the end,
 * so a failure never leaves a half image behind.
 */
export async function unpackImage(file: string, dest: string, opts: UnpackOptions & { rootfsFile?: string } = {}): Promise<ExtractStats> {
  if (await stat(dest).then(() => true, () => false)) throw new Error(`cannot unpack image into "${dest}": it already exists`);
  const files = opts.rootfsFile ? [file, opts.rootfsFile] : [file];
  const sizes = await Promise.all(files.map((f) => stat(f).then((s) => s.size)));
  const total = sizes.reduce((a, b) => a + b, 0);
  const tmp = `${dest}.tmp-${ulid()}`;
  await mkdir(dirname(dest), { recursive: true });
  await mkdir(tmp, { mode: 0o755 });
  try {
    let done = 0;
    const stats: ExtractStats = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, skipped: 0 };
    for (const [i, f] of files.entries()) {
      const base = done;
      if (i === 1 && (await detectFileCompression(f)) === "squashfs") {
        await unpackSquashfs(f, join(tmp, "rootfs"));
        done += sizes[i]!;
        continue;
      }
      const source = await openDecompressed(f, (n) => opts.progress?.({ processed: base + n, total }));
      const map = i === 0 ? (opts.rootfsFile ? splitMetadataLayout : unifiedLayout) : (p: string) => `rootfs/${p}`;
      const s = await extractTar(source, tmp, { map, log: opts.log });
      for (const k of Object.keys(stats) as (keyof ExtractStats)[]) stats[k] += s[k];
      done += sizes[i]!;
    }
    await mkdir(join(tmp, "rootfs"), { recursive: true, mode: 0o755 });
    await rename(tmp, dest);
    opts.progress?.({ processed: total, total });
    return stats;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`unpacking image "${file}" into "${dest}" failed: ${(err as Error).message}`);
  }
}
