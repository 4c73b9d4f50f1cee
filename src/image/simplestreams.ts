// The simplestreams format LXD reads and writes: `streams/v1/index.json` (format index:1.0) points
// at `streams/v1/images.json` (format products:1.0), whose products carry versions whose items are
// the image files. A unified image is one item of ftype `lxd_combined.tar.gz` (its sha256 is the
// fingerprint); a split image is `lxd.tar.xz` plus a rootfs item (`root.tar.xz` or `squashfs`),
// and its fingerprint is the sha256 of both files concatenated, given on the metadata item as
// `combined_rootxz_sha256` / `combined_squashfs_sha256`.

export const INDEX_PATH = "streams/v1/index.json";
export const PRODUCTS_PATH = "streams/v1/images.json";

export interface StreamItem {
  ftype: string;
  path: string;
  sha256: string;
  size: number;
  combined_sha256?: string;
  combined_rootxz_sha256?: string;
  combined_squashfs_sha256?: string;
}

export interface StreamVersion { items: Record<string, StreamItem> }

export interface StreamProduct {
  aliases?: string;
  arch: string;
  os?: string;
  release?: string;
  release_title?: string;
  variant?: string;
  versions: Record<string, StreamVersion>;
}

export interface StreamProducts {
  content_id: string;
  datatype: "image-downloads";
  format: "products:1.0";
  updated?: string;
  products: Record<string, StreamProduct>;
}

export interface StreamIndex {
  format: "index:1.0";
  updated?: string;
  index: Record<string, { datatype: string; path: string; format: string; updated?: string; products: string[] }>;
}

/** Simplestreams (Debian) architecture names -> LXD's (kernel) names. */
const ARCHES: Record<string, string> = {
  amd64: "x86_64", i386: "i686", arm64: "aarch64", armhf: "armv7l", ppc64el: "ppc64le", s390x: "s390x", riscv64: "riscv64",
};

export const lxdArch = (streamArch: string): string => ARCHES[streamArch] ?? streamArch;
export const streamArch = (lxd: string): string => Object.entries(ARCHES).find(([, v]) => v === lxd)?.[0] ?? lxd;

/** One downloadable image found in a products file. */
export interface StreamImage {
  fingerprint: string;
  /** LXD architecture name. */
  architecture: string;
  aliases: string[];
  product: string;
  version: string;
  /** Unified: the one file. Split: metadata first, then rootfs. */
  files: StreamItem[];
  properties: Record<string, string>;
  size: number;
}

const isHex64 = (s: unknown): s is string => typeof s === "string" && /^[0-9a-f]{64}$/.test(s);

/** The images a products:1.0 document offers; items it cannot use (VM disks, deltas) are skipped. */
export function parseProducts(doc: unknown): StreamImage[] {
  const d = doc as Partial<StreamProducts> | null;
  if (!d || typeof d !== "object" || d.format !== "products:1.0" || typeof d.products !== "object" || !d.products) {
    throw new Error("not a simplestreams products:1.0 document");
  }
  const out: StreamImage[] = [];
  for (const [product, p] of Object.entries(d.products)) {
    if (!p || typeof p !== "object" || typeof p.versions !== "object" || !p.versions) continue;
    const aliases = (p.aliases ?? "").split(",").map((a) => a.trim()).filter(Boolean);
    const properties: Record<string, string> = {};
    for (const k of ["os", "release", "variant"] as const) if (p[k]) properties[k] = String(p[k]);
    properties.architecture = String(p.arch ?? "");
    if (p.release_title) properties.description = `${p.os ?? ""} ${p.release_title}`.trim();
    for (const [version, v] of Object.entries(p.versions)) {
      const items = Object.values(v?.items ?? {}).filter((i) => i && typeof i.path === "string" && isHex64(i.sha256));
      const combined = items.find((i) => i.ftype === "lxd_combined.tar.gz");
      const meta = items.find((i) => i.ftype === "lxd.tar.xz");
      const base = { architecture: lxdArch(String(p.arch ?? "")), aliases, product, version, properties: { ...properties, serial: version } };
      if (combined) {
        out.push({ ...base, fingerprint: combined.sha256, files: [combined], size: Number(combined.size) || 0 });
      } else if (meta) {
        const rootxz = items.find((i) => i.ftype === "root.tar.xz");
        const squash = items.find((i) => i.ftype === "squashfs");
        const [rootfs, fp] = rootxz && isHex64(meta.combined_rootxz_sha256) ? [rootxz, meta.combined_rootxz_sha256]
          : squash && isHex64(meta.combined_squashfs_sha256) ? [squash, meta.combined_squashfs_sha256]
          : rootxz && isHex64(meta.combined_sha256) ? [rootxz, meta.combined_sha256] : [undefined, undefined];
        if (rootfs && fp) out.push({ ...base, fingerprint: fp, files: [meta, rootfs], size: (Number(meta.size) || 0) + (Number(rootfs.size) || 0) });
      }
    }
  }
  return out;
}

/** The products file's path from an index:1.0 document (the image-downloads entry). */
export function productsPath(doc: unknown): string {
  const d = doc as Partial<StreamIndex> | null;
  if (d?.format !== "index:1.0" || typeof d.index !== "object" || !d.index) throw new Error("not a simplestreams index:1.0 document");
  const entry = Object.values(d.index).find((e) => e?.datatype === "image-downloads" && typeof e.path === "string");
  if (!entry) throw new Error("the simplestreams index lists no image-downloads stream");
  if (entry.path.includes("..") || entry.path.startsWith("/")) throw new Error(`unsafe products path "${entry.path}" in the simplestreams index`);
  return entry.path;
}

export class NoSuchImage extends Error {}

/**
 * Picks the image a reference names, as LXD's simplestreams client does: a fingerprint (or a
 * unique prefix), or an alias, for the given architecture; the newest version wins. An alias that
 * exists only for other architectures says so.
 */
export function findImage(images: StreamImage[], ref: string, arch: string): StreamImage {
  const byFp = images.filter((i) => i.fingerprint.startsWith(ref.toLowerCase()));
  if (/^[0-9a-f]{8,64}$/i.test(ref) && byFp.length) {
    const fps = new Set(byFp.map((i) => i.fingerprint));
    if (fps.size > 1) throw new NoSuchImage(`More than one image matches "${ref}"`);
    return byFp[0];
  }
  const named = images.filter((i) => i.aliases.includes(ref));
  if (!named.length) throw new NoSuchImage(`The requested image "${ref}" couldn't be found`);
  const mine = named.filter((i) => i.architecture === arch);
  if (!mine.length) {
    const others = [...new Set(named.map((i) => i.architecture))].sort().join(", ");
    throw new NoSuchImage(`The requested image "${ref}" isn't available for architecture ${arch} (only for ${others})`);
  }
  return mine.sort((a, b) => (a.version < b.version ? 1 : a.version > b.version ? -1 : 0))[0];
}

/** What the server side needs to list one of its images. */
export interface PublishedImage {
  fingerprint: string;
  architecture: string;
  aliases: string[];
  properties: Record<string, string>;
  createdAt: string;
  /** Unified: one file; split: metadata and rootfs, with the rootfs's kind. */
  files: { size: number; sha256?: string }[];
  rootfsKind?: "tar" | "squashfs";
}

/** The file name an image's file is served under (also the `ftype`). */
function publishedFtypes(img: Pick<PublishedImage, "files" | "rootfsKind">): string[] {
  if (img.files.length === 1) return ["lxd_combined.tar.gz"];
  return ["lxd.tar.xz", img.rootfsKind === "squashfs" ? "squashfs" : "root.tar.xz"];
}

const publishedPath = (fingerprint: string, ftype: string) => `images/${fingerprint}/${ftype}`;

/** "2026-11-27T05:38:05Z" -> "20261127_0538" (simplestreams version serials sort by time). */
const serial = (iso: string) => iso.replace(/[-:]/g, "").replace(/^(\d{8})T(\d{4}).*$/, "$1_$2");

/** Builds index.json and images.json for the given images (one product per image). */
export function buildStreams(images: PublishedImage[], now = new Date()): { index: StreamIndex; products: StreamProducts } {
  const updated = now.toUTCString();
  const products: Record<string, StreamProduct> = {};
  for (const img of images) {
    const arch = streamArch(img.architecture);
    const os = img.properties.os || "lxd";
    const release = img.properties.release || "image";
    const variant = img.properties.variant || "default";
    const id = `${os}:${release}:${arch}:${variant}:${img.fingerprint.slice(0, 12)}`;
    const ftypes = publishedFtypes(img);
    const items: Record<string, StreamItem> = {};
    ftypes.forEach((ftype, i) => {
      items[ftype] = { ftype, path: publishedPath(img.fingerprint, ftype), sha256: img.files[i].sha256 ?? img.fingerprint, size: img.files[i].size };
    });
    if (ftypes.length === 2) {
      items["lxd.tar.xz"][ftypes[1] === "squashfs" ? "combined_squashfs_sha256" : "combined_rootxz_sha256"] = img.fingerprint;
    }
    products[id] = {
      aliases: img.aliases.join(","),
      arch,
      os,
      release,
      release_title: img.properties.description || release,
      variant,
      versions: { [serial(img.createdAt)]: { items } },
    };
  }
  return {
    index: {
      format: "index:1.0",
      updated,
      index: { images: { datatype: "image-downloads", path: PRODUCTS_PATH, format: "products:1.0", updated, products: Object.keys(products) } },
    },
    products: { content_id: "images", datatype: "image-downloads", format: "products:1.0", updated, products },
  };
}
