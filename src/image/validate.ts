// Import-time checks of an untrusted image: the whole archive is read once, so a truncated or
// tampered file, an entry that would land outside the image (`..` paths, writes
// through a symlink, hardlinks out of the image, relative symlinks climbing above the rootfs),
// device nodes, and an architecture this host cannot run are refused before anything is stored.
import { readTar } from "./tar.ts";
import { openDecompressed, detectFileCompression } from "./compression.ts";
import { hostArchitecture, parseMetadata, type ImageMetadata } from "./metadata.ts";
import { safeComponents } from "./unpack.ts";
import { listSquashfs } from "./squashfs.ts";
import { ApiError } from "../api/error.ts";

/** Architectures a host can run (the kernel's 32-bit personalities included, as in LXD). */
const RUNNABLE: Record<string, string[]> = {
  x86_64: ["x86_64", "i686"],
  aarch64: ["aarch64", "armv7l", "armv8l", "armv6l"],
  ppc64le: ["ppc64le"],
  s390x: ["s390x"],
  riscv64: ["riscv64"],
};

export function checkArchitecture(architecture: string, host = hostArchitecture()): void {
  if (!(RUNNABLE[host] ?? [host]).includes(architecture)) {
    throw new ApiError(400, `Invalid image file: the image is for architecture "${architecture}", which this ${host} host cannot run`);
  }
}

const bad = (why: string) => new ApiError(400, `Invalid image file: ${why}`);

/** Tracks symlinks seen so far so nothing is placed through one. */
class Paths {
  private readonly links = new Set<string>();

  /** Checks one entry, `parts` being its path components inside the image. */
  check(parts: string[], type: string, linkpath: string, rootDepth: number, display: string): void {
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (this.links.has(parent)) throw bad(`"${display}" would be written through the symlink "${parent}"`);
    }
    if (type === "chardev" || type === "blockdev") throw bad(`"${display}" is a device node (not allowed in images)`);
    if (type === "symlink") {
      this.links.add(parts.join("/"));
      if (!linkpath.startsWith("/")) {
        // Relative targets resolve from the link's directory; climbing above the rootfs escapes it.
        let depth = parts.length - 1 - rootDepth;
        for (const c of linkpath.split("/")) {
          if (c === "..") depth--;
          else if (c !== "" && c !== ".") depth++;
          if (depth < 0) throw bad(`the symlink "${display}" points out of the rootfs ("${linkpath}")`);
        }
      }
    }
  }

  checkHardlink(target: string[] | string, prefix: string, display: string, linkpath: string): void {
    if (typeof target === "string" || (prefix && target[0] !== prefix) || target.length === 0) {
      throw bad(`the hardlink "${display}" points out of the image ("${linkpath}")`);
    }
    for (let i = 1; i <= target.length; i++) {
      if (this.links.has(target.slice(0, i).join("/"))) throw bad(`the hardlink "${display}" goes through a symlink ("${linkpath}")`);
    }
  }
}

export interface TarCheck {
  metadata?: ImageMetadata;
  hasRootfs: boolean;
  /** Something below rootfs/ (or a rootfs that is no directory). */
  rootfsContent: boolean;
  vm: boolean;
}

/**
 * Reads a whole (possibly compressed) tarball and checks every entry. `rootfsOnly` is for a
 * split image's rootfs tarball, whose entries are the rootfs itself.
 */
export async function checkTarball(file: string, rootfsOnly: boolean, onRead?: (n: number) => void): Promise<TarCheck> {
  const result: TarCheck = { hasRootfs: rootfsOnly, rootfsContent: rootfsOnly, vm: false };
  const paths = new Paths();
  try {
    // The reader stops at the end-of-archive marker; the rest is drained below so a cut or
    // tampered compressed stream (its trailer checksum) is still noticed.
    const it = (await openDecompressed(file, onRead))[Symbol.asyncIterator]();
    const shielded = { [Symbol.asyncIterator]: () => ({ next: () => it.next() }) };
    for await (const { header: h, body } of readTar(shielded, { requireEnd: true })) {
      const parts = safeComponents(h.path);
      if (typeof parts === "string") throw bad(`"${h.path}": ${parts}`);
      if (parts.length === 0) continue;
      const all = rootfsOnly ? ["rootfs", ...parts] : parts;
      paths.check(all, h.type, h.linkpath, 1, h.path);
      if (h.type === "hardlink") {
        const t = safeComponents(h.linkpath);
        paths.checkHardlink(typeof t === "string" ? t : rootfsOnly ? ["rootfs", ...t] : t, all[0] === "rootfs" ? "rootfs" : "", h.path, h.linkpath);
      }
      if (all[0] === "rootfs") result.hasRootfs = true;
      // A bare "rootfs/" directory holds nothing: split metadata tarballs in the wild often carry
      // one, and LXD ignores it.
      if (all[0] === "rootfs" && !(all.length === 1 && h.type === "directory")) result.rootfsContent = true;
      if (all.length === 1 && all[0] === "rootfs.img") result.vm = true;
      if (!rootfsOnly && all.length === 1 && all[0] === "metadata.yaml" && h.type === "file") {
        const chunks: Uint8Array[] = [];
        for await (const c of body) chunks.push(c.slice());
        try {
          result.metadata = parseMetadata(new TextDecoder().decode(Buffer.concat(chunks)));
        } catch (err) {
          throw bad((err as Error).message);
        }
      }
    }
    while (!(await it.next()).done);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw bad((err as Error).message);
  }
  return result;
}

/** Checks a squashfs rootfs through unsquashfs' listing (device nodes, escaping symlinks). */
export async function checkSquashfs(file: string): Promise<void> {
  const paths = new Paths();
  for (const e of await listSquashfs(file)) {
    const parts = safeComponents(e.path);
    if (typeof parts === "string") throw bad(`"${e.path}" in the squashfs: ${parts}`);
    if (parts.length) paths.check(["rootfs", ...parts], e.type, e.linkpath, 1, e.path);
  }
}

/** Validates a unified image file; returns its metadata. */
export async function checkUnified(file: string, onRead?: (n: number) => void): Promise<ImageMetadata> {
  const kind = await detectFileCompression(file);
  if (kind === "squashfs") throw bad("a squashfs file alone is not an image; import it together with its metadata tarball");
  const r = await checkTarball(file, false, onRead);
  if (!r.metadata) throw bad("the tarball is missing metadata.yaml");
  if (r.vm) throw new ApiError(400, "Virtual-machine images are not supported (containers only)");
  if (!r.hasRootfs) throw bad("the tarball has no rootfs/");
  checkArchitecture(r.metadata.architecture);
  return r.metadata;
}

/** Validates a split image (metadata tarball plus rootfs tarball or squashfs); returns its metadata. */
export async function checkSplit(metadataFile: string, rootfsFile: string, onRead?: (n: number) => void): Promise<ImageMetadata> {
  const m = await checkTarball(metadataFile, false);
  if (!m.metadata) throw bad("the metadata tarball has no metadata.yaml");
  if (m.rootfsContent) throw bad("the metadata tarball holds a rootfs/ (use a unified image, or only metadata.yaml and templates/)");
  checkArchitecture(m.metadata.architecture);
  if ((await detectFileCompression(rootfsFile)) === "squashfs") await checkSquashfs(rootfsFile);
  else await checkTarball(rootfsFile, true, onRead);
  return m.metadata;
}
