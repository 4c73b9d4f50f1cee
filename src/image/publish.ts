// Publishing: an instance's (or snapshot's) filesystem becomes a unified image tarball. The
// layers are merged by a read-only overlay mount (lowerdir=upper:lower, which applies
// whiteouts and opaque directories exactly as the running container saw them), the tree is
// written as tar with the image's metadata.yaml and templates/, compressed and hashed on the
// way to disk. The result then goes through the same checks as any upload.
import * as fs from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createGzip } from "node:zlib";
import { ulid } from "ulid";
import { MNT, umount } from "../kernel/ffi.ts";
import { mountOverlay } from "../kernel/overlay.ts";
import { TarWriter, type TarWriteEntry } from "./tar.ts";
import type { Upload } from "./store.ts";

export type PublishCompression = "gzip" | "xz" | "none";

/** An output file that compresses (gzip in-process, xz through the tool) and hashes what it stores. */
export class CompressedFile {
  private readonly hasher = new Bun.CryptoHasher("sha256");
  private readonly sink: ReturnType<ReturnType<typeof Bun.file>["writer"]>;
  private size = 0;
  private readonly input: (chunk: Uint8Array) => Promise<void>;
  private readonly close: () => Promise<void>;

  constructor(readonly path: string, kind: PublishCompression) {
    this.sink = Bun.file(path).writer({ highWaterMark: 1 << 20 });
    const out = (chunk: Uint8Array) => {
      this.hasher.update(chunk);
      this.sink.write(chunk);
      this.size += chunk.length;
    };
    if (kind === "none") {
      this.input = async (c) => out(c);
      this.close = async () => {};
    } else if (kind === "gzip") {
      const gz = createGzip({ level: 6, chunkSize: 256 << 10 });
      gz.on("data", (c: Buffer) => out(c));
      const ended = new Promise<void>((resolve, reject) => { gz.on("end", resolve); gz.on("error", reject); });
      this.input = (c) => new Promise<void>((resolve) => { if (gz.write(c)) resolve(); else gz.once("drain", resolve); });
      this.close = async () => { gz.end(); await ended; };
    } else {
      const tool = Bun.which("xz");
      if (!tool) throw new Error("xz compression needs the xz tool on the host");
      const proc = Bun.spawn([tool, "-c", "-6", "-T0"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      const reading = (async () => { for await (const c of proc.stdout) out(c); })();
      this.input = async (c) => { proc.stdin.write(c); await proc.stdin.flush(); };
      this.close = async () => {
        await proc.stdin.end();
        await reading;
        if ((await proc.exited) !== 0) throw new Error(`xz failed: ${(await new Response(proc.stderr).text()).trim()}`);
      };
    }
  }

  write(chunk: Uint8Array): Promise<void> { return this.input(chunk); }

  async finish(): Promise<{ fingerprint: string; size: number }> {
    await this.close();
    await this.sink.end();
    return { fingerprint: this.hasher.digest("hex"), size: this.size };
  }
}

const mtimeOf = (st: fs.Stats) => Math.floor(st.mtimeMs / 1000);

/** Maps on-disk owners to the owners written into the tar (a backup's shifted ids). */
export type IdShift = (uid: number, gid: number) => [number, number];

/** Writes `dir` into the tar under `prefix`, sorted (stable output), hardlinks kept. */
export async function packTree(tar: TarWriter, dir: string, prefix: string, onBytes: (n: number) => void, ids?: IdShift): Promise<void> {
  const links = new Map<string, string>();
  let bytes = 0;
  const walk = async (abs: string, rel: string): Promise<void> => {
    const st = fs.lstatSync(abs);
    const [uid, gid] = ids ? ids(st.uid, st.gid) : [st.uid, st.gid];
    const base: Omit<TarWriteEntry, "type"> = { path: rel, mode: st.mode & 0o7777, uid, gid, mtime: mtimeOf(st) };
    if (st.isDirectory()) {
      await tar.add({ ...base, type: "directory" });
      for (const name of (await readdir(abs)).sort()) await walk(join(abs, name), `${rel}/${name}`);
    } else if (st.isSymbolicLink()) {
      await tar.add({ ...base, type: "symlink", linkpath: fs.readlinkSync(abs) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first) return tar.add({ ...base, type: "hardlink", linkpath: first });
      if (st.nlink > 1) links.set(key, rel);
      onBytes((bytes += await tar.addFile(base, abs)));
    }
    // Sockets, fifos and device nodes are not part of an image (refused on import too).
  };
  await walk(dir, prefix);
}

export interface PublishSource {
  /** Overlay layers, top first (from the storage driver). */
  layers: string[];
  /** Directory holding the base image's metadata.yaml and templates/. */
  image: string;
}

/**
 * Packs the source into a new file in `workDir` and returns it as an Upload for
 * ImageStore.importUpload (which checks it and moves it into place).
 */
export async function packImage(src: PublishSource, workDir: string, compression: PublishCompression, onBytes: (n: number) => void): Promise<Upload> {
  const out = new CompressedFile(join(workDir, `lxd_post_${ulid()}`), compression);
  try {
    const tar = new TarWriter((c) => out.write(c));
    await packTree(tar, join(src.image, "metadata.yaml"), "metadata.yaml", () => {});
    if (fs.existsSync(join(src.image, "templates"))) await packTree(tar, join(src.image, "templates"), "templates", () => {});
    await withMergedTree(src.layers, workDir, (tree) => packTree(tar, tree, "rootfs", onBytes));
    await tar.finish();
    const { fingerprint, size } = await out.finish();
    return { path: out.path, fingerprint, size };
  } catch (err) {
    await out.finish().catch(() => {});
    await rm(out.path, { force: true });
    throw new Error(`packing the image failed: ${(err as Error).message}`);
  }
}

/** Runs `fn` on the filesystem that overlay `layers` (top first) show: one layer (a btrfs
 *  subvolume) as it is, several merged by a read-only overlay mount in `workDir`. */
export async function withMergedTree<T>(layers: string[], workDir: string, fn: (tree: string) => Promise<T>): Promise<T> {
  if (layers.length === 1) return fn(layers[0]!);
  const mnt = join(workDir, `lxd_tree_${ulid()}`);
  let mounted = false;
  try {
    await mkdir(mnt, { mode: 0o700 });
    mountOverlay(mnt, layers);
    mounted = true;
    return await fn(mnt);
  } finally {
    if (mounted) umount(mnt, MNT.DETACH);
    if (fs.existsSync(mnt)) fs.rmdirSync(mnt); // never recursive: it was a mount point
  }
}
