// The public images as the daemon's simplestreams server lists them (src/daemon/streams.ts):
// each with its files' sizes and sha256 and, for split images, the rootfs kind.
import { open } from "node:fs/promises";
import type { PublishedImage } from "./simplestreams.ts";
import type { ImageStore } from "./store.ts";

/** sha256 of split images' separate files, by path and mtime (the fingerprint covers both). */
const fileHashes = new Map<string, string>();

async function sha256Of(path: string): Promise<string> {
  const file = Bun.file(path);
  const key = `${path}:${file.lastModified}`;
  const known = fileHashes.get(key);
  if (known) return known;
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of file.stream()) hasher.update(chunk);
  const hex = hasher.digest("hex");
  fileHashes.set(key, hex);
  return hex;
}

async function isSquashfs(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4);
    await fh.read(buf, 0, 4, 0);
    return buf.toString("latin1") === "hsqs";
  } finally {
    await fh.close();
  }
}

/** The public images as the simplestreams builder sees them. */
export async function publishedImages(images: ImageStore): Promise<PublishedImage[]> {
  const out: PublishedImage[] = [];
  for (const row of images.list()) {
    if (!row.public || row.type !== "container") continue;
    const fp = row.fingerprint;
    const img: PublishedImage = {
      fingerprint: fp, architecture: row.architecture, properties: row.properties, createdAt: row.createdAt,
      aliases: (images.toApi(row).aliases ?? []).map((a) => a.name), files: [],
    };
    if (images.isSplit(fp)) {
      const meta = images.imageFile(fp), rootfs = images.rootfsFile(fp);
      img.files = [
        { size: Bun.file(meta).size, sha256: await sha256Of(meta) },
        { size: Bun.file(rootfs).size, sha256: await sha256Of(rootfs) },
      ];
      img.rootfsKind = (await isSquashfs(rootfs)) ? "squashfs" : "tar";
    } else {
      img.files = [{ size: Bun.file(images.imageFile(fp)).size, sha256: fp }];
    }
    out.push(img);
  }
  return out;
}
