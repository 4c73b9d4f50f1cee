// `image import|list|delete|show|info|alias|build`: the image store.
import { Command, Option } from "clipanion";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { LxdClient } from "../client/client.ts";
import type { Image, ImageAliasesEntry } from "../api/image.ts";
import type { Operation } from "../api/operation.ts";
import { LxdCommand } from "./base.ts";
import { formatDate, formatUploadDate, imageSize, parseFormat, renderTable, toYaml } from "./format.ts";
import { multipartBody } from "../image/multipart.ts";
import { Progress, waitWithProgress } from "./progress.ts";
import { selectedStreamsRemote, streamsImages } from "./image-remote.ts";

/** Imports a unified image tarball (or a split image: metadata tarball + rootfs) and attaches aliases; returns the fingerprint. */
export async function importImageFile(client: LxdClient, file: string, opts: { aliases: string[]; public?: boolean; rootfs?: string; progress?: Progress }): Promise<string> {
  const wait = opts.progress && ((op: Operation) => waitWithProgress(client, op, opts.progress!));
  const blob = Bun.file(file);
  if (!(await blob.exists())) throw new Error(`Image file not found: ${file}`);
  let fingerprint: string;
  if (opts.rootfs) {
    const rootfs = Bun.file(opts.rootfs);
    if (!(await rootfs.exists())) throw new Error(`Image file not found: ${opts.rootfs}`);
    const boundary = `lxd-import-${Date.now().toString(36)}${process.pid}`;
    const body = multipartBody(boundary, [
      { name: "metadata", filename: basename(file), file: blob },
      { name: "rootfs", filename: basename(opts.rootfs), file: rootfs },
    ]);
    fingerprint = await client.importImage(body, { public: opts.public, contentType: `multipart/form-data; boundary=${boundary}`, wait });
  } else {
    fingerprint = await client.importImage(blob, { filename: basename(file), public: opts.public, wait });
  }
  for (const alias of opts.aliases) await client.createImageAlias(alias, fingerprint);
  return fingerprint;
}

export class ImageImportCommand extends LxdCommand {
  static override paths = [["image", "import"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Import images into the image store",
    details: "FILE is a unified image tarball (metadata.yaml + rootfs/, optionally compressed), or a split image's metadata tarball followed by its ROOTFS (a tarball or squashfs).",
    examples: [
      ["Import a tarball under the alias busybox", "$0 image import busybox.tar.gz --alias busybox"],
      ["Import a split image", "$0 image import meta.tar.xz rootfs.squashfs --alias mine"],
    ],
  });

  file = Option.String({ name: "tarball" });
  rootfs = Option.String({ name: "rootfs", required: false });
  aliases = Option.Array("--alias", [], { description: "New aliases to add to the image" });
  public = Option.Boolean("--public", false, { description: "Make image public" });

  protected async run(): Promise<void> {
    const progress = new Progress(this.context.stdout as NodeJS.WriteStream);
    progress.update("Transferring image");
    const fp = await importImageFile(this.client, this.file, { aliases: this.aliases, public: this.public, rootfs: this.rootfs, progress });
    progress.done();
    this.print(`Image imported with fingerprint: ${fp}`);
  }
}

const shortestAlias = (aliases: Image["aliases"]) => {
  const names = (aliases ?? []).map((a) => a.name).sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
  if (!names.length) return "";
  return names.length > 1 ? `${names[0]} (${names.length - 1} more)` : names[0]!;
};

const IMAGE_COLUMNS: Record<string, { header: string; data: (i: Image) => string }> = {
  l: { header: "ALIAS", data: (i) => shortestAlias(i.aliases) },
  L: { header: "ALIASES", data: (i) => (i.aliases ?? []).map((a) => a.name).join("\n") },
  f: { header: "FINGERPRINT", data: (i) => i.fingerprint.slice(0, 12) },
  F: { header: "FINGERPRINT", data: (i) => i.fingerprint },
  p: { header: "PUBLIC", data: (i) => (i.public ? "yes" : "no") },
  d: { header: "DESCRIPTION", data: (i) => i.properties?.description ?? "" },
  a: { header: "ARCHITECTURE", data: (i) => i.architecture },
  t: { header: "TYPE", data: (i) => (i.type || "container").toUpperCase() },
  s: { header: "SIZE", data: (i) => imageSize(i.size) },
  u: { header: "UPLOAD DATE", data: (i) => formatUploadDate(i.uploaded_at) },
};

export function imageRows(images: Image[], columns: string): { header: string[]; rows: string[][] } {
  const cols = [...columns.replace(/,/g, "")].map((ch) => {
    const col = IMAGE_COLUMNS[ch];
    if (!col) throw new Error(`Unknown column shorthand char '${ch}' in '${columns}'`);
    return col;
  });
  const sorted = [...images].sort((a, b) => {
    const ka = shortestAlias(a.aliases), kb = shortestAlias(b.aliases);
    return ka < kb ? -1 : ka > kb ? 1 : a.fingerprint < b.fingerprint ? -1 : 1;
  });
  return { header: cols.map((c) => c.header), rows: sorted.map((i) => cols.map((c) => c.data(i))) };
}

const matchesImage = (i: Image, filters: string[]) =>
  filters.every((f) => i.fingerprint.startsWith(f) || (i.aliases ?? []).some((a) => a.name.includes(f)));

export class ImageListCommand extends LxdCommand {
  static override paths = [["image", "list"], ["image", "ls"], ["images"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "List images",
    details: "Default columns `lfpdatsu`: ALIAS, FINGERPRINT, PUBLIC, DESCRIPTION, ARCHITECTURE, TYPE, SIZE, UPLOAD DATE (also L: all aliases, F: full fingerprint). Filters match fingerprint prefixes or alias substrings.",
    examples: [
      ["All images", "$0 image list"],
      ["As JSON", "$0 image list --format json"],
    ],
  });

  filters = Option.Rest();
  columns = Option.String("-c,--columns", "lfpdatsu", { description: "Columns" });
  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const streams = selectedStreamsRemote();
    const all = streams ? await streamsImages(streams.name, streams.remote) : await this.client.images();
    const images = all.filter((i) => matchesImage(i, this.filters));
    const { header, rows } = imageRows(images, this.columns);
    this.context.stdout.write(renderTable(format, header, rows, images));
  }
}

export class ImageDeleteCommand extends LxdCommand {
  static override paths = [["image", "delete"], ["image", "rm"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Delete images",
    examples: [["Delete by alias or fingerprint (prefix)", "$0 image delete busybox"]],
  });

  images = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    for (const ref of this.images) {
      const image = await this.client.resolveImage(ref);
      await this.client.deleteImage(image.fingerprint);
    }
  }
}

export class ImageShowCommand extends LxdCommand {
  static override paths = [["image", "show"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Show image properties",
    examples: [["Editable properties of the busybox image", "$0 image show busybox"]],
  });

  image = Option.String({ name: "image" });

  protected async run(): Promise<void> {
    const i = await this.client.resolveImage(this.image);
    this.context.stdout.write(toYaml({
      auto_update: i.auto_update, properties: i.properties ?? {}, public: i.public, expires_at: i.expires_at,
      profiles: i.profiles ?? [],
    }));
  }
}

export function imageInfo(i: Image): string {
  const lines = [
    `Fingerprint: ${i.fingerprint}`,
    `Size: ${imageSize(i.size)}`,
    `Architecture: ${i.architecture}`,
    `Type: ${i.type || "container"}`,
    `Public: ${i.public ? "yes" : "no"}`,
    "Timestamps:",
  ];
  const created = formatDate(i.created_at);
  if (created) lines.push(`    Created: ${created}`);
  lines.push(`    Uploaded: ${formatDate(i.uploaded_at)}`);
  lines.push(`    Expires: ${formatDate(i.expires_at) || "never"}`);
  lines.push(`    Last used: ${formatDate(i.last_used_at) || "never"}`);
  lines.push("Properties:");
  for (const [k, v] of Object.entries(i.properties ?? {})) lines.push(`    ${k}: ${v}`);
  lines.push("Aliases:");
  for (const a of i.aliases ?? []) lines.push(`    - ${a.name}${a.description ? ` (${a.description})` : ""}`);
  lines.push(`Cached: ${i.cached ? "yes" : "no"}`, `Auto update: ${i.auto_update ? "enabled" : "disabled"}`, "Profiles:");
  for (const p of i.profiles ?? []) lines.push(`    - ${p}`);
  return `${lines.join("\n")}\n`;
}

export class ImageInfoCommand extends LxdCommand {
  static override paths = [["image", "info"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Show useful information about images",
    examples: [["Fingerprint, size, timestamps and aliases of busybox", "$0 image info busybox"]],
  });

  image = Option.String({ name: "image" });

  protected async run(): Promise<void> {
    this.context.stdout.write(imageInfo(await this.client.resolveImage(this.image)));
  }
}

export class ImageAliasCreateCommand extends LxdCommand {
  static override paths = [["image", "alias", "create"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Create aliases for existing images",
    examples: [["Alias an image by fingerprint prefix", "$0 image alias create mybox de14c538fe09"]],
  });

  alias = Option.String({ name: "alias" });
  target = Option.String({ name: "fingerprint" });
  description = Option.String("--description", "", { description: "Alias description" });

  protected async run(): Promise<void> {
    const image = await this.client.resolveImage(this.target);
    await this.client.createImageAlias(this.alias, image.fingerprint, this.description);
  }
}

export class ImageAliasDeleteCommand extends LxdCommand {
  static override paths = [["image", "alias", "delete"], ["image", "alias", "rm"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Delete image aliases",
    examples: [["Remove an alias (the image stays)", "$0 image alias delete mybox"]],
  });

  alias = Option.String({ name: "alias" });

  protected async run(): Promise<void> {
    await this.client.deleteImageAlias(this.alias);
  }
}

export class ImageAliasListCommand extends LxdCommand {
  static override paths = [["image", "alias", "list"], ["image", "alias", "ls"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "List image aliases",
    examples: [["All aliases", "$0 image alias list"]],
  });

  filters = Option.Rest();
  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const aliases = (await this.client.imageAliases())
      .filter((a: ImageAliasesEntry) => this.filters.every((f) => a.name.includes(f)))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const rows = aliases.map((a) => [a.name, a.target.slice(0, 12), (a.type || "container").toUpperCase(), a.description ?? ""]);
    this.context.stdout.write(renderTable(format, ["ALIAS", "FINGERPRINT", "TYPE", "DESCRIPTION"], rows, aliases));
  }
}

async function sha256File(file: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(file).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/** What the image builders share: write the tarball to `-o FILE`, or build it in a temporary
 *  directory under `tmpRoot` and import it under the aliases. */
abstract class ImageBuildCommand extends LxdCommand {
  abstract aliases: string[];
  abstract output: string | undefined;
  abstract compression: string | undefined;
  abstract public: boolean;

  /** --compression, else what `-o FILE`'s name says (busybox.tar.xz is xz), else gzip. */
  protected compressionKind(): "gzip" | "xz" | "none" {
    const kind = this.compression
      ?? (/\.(tar\.xz|txz)$/.test(this.output ?? "") ? "xz" : /\.tar$/.test(this.output ?? "") ? "none" : "gzip");
    if (kind !== "gzip" && kind !== "xz" && kind !== "none") throw new Error(`Invalid --compression: ${kind} (gzip, xz or none)`);
    return kind;
  }

  protected async writeOrImport(build: (file: string) => Promise<unknown>, name: string, defaultAliases: string[], tmpRoot: string): Promise<void> {
    if (this.output) {
      await build(this.output);
      this.print(`Image written to ${this.output} with fingerprint: ${await sha256File(this.output)}`);
      return;
    }
    const dir = await mkdtemp(join(tmpRoot, "lxd-image-"));
    try {
      const file = join(dir, `${name}${{ gzip: ".tar.gz", xz: ".tar.xz", none: ".tar" }[this.compressionKind()]}`);
      await build(file);
      const aliases = this.aliases.length ? this.aliases : defaultAliases;
      const fp = await importImageFile(this.client, file, { aliases, public: this.public });
      this.print(`Image imported with fingerprint: ${fp}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

export class ImageBuildBusyboxCommand extends ImageBuildCommand {
  static override paths = [["image", "build", "busybox"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Build a minimal image from the host's static busybox",
    details: "Without `-o` the image is imported into the daemon under the alias (default `busybox`). With `-o` it is only written to FILE.",
    examples: [
      ["Build and import as 'busybox'", "$0 image build busybox"],
      ["Only write the tarball (xz by its name)", "$0 image build busybox -o busybox.tar.xz"],
    ],
  });

  aliases = Option.Array("--alias", [], { description: "Alias for the imported image (default: busybox)" });
  output = Option.String("-o,--output", { description: "Write the image tarball here instead of importing it" });
  busybox = Option.String("--busybox", { description: "Static busybox binary to use (default /bin/busybox)" });
  compression = Option.String("--compression", { description: "gzip, xz or none (default: by -o FILE's extension, else gzip)" });
  public = Option.Boolean("--public", false, { description: "Make the imported image public" });

  protected async run(): Promise<void> {
    const { buildBusyboxImage } = await import("../image/build-busybox.ts");
    const opts = { busybox: this.busybox, compression: this.compressionKind() };
    await this.writeOrImport((file) => buildBusyboxImage(file, opts), "busybox", ["busybox"], tmpdir());
  }
}

export class ImageBuildDebianCommand extends ImageBuildCommand {
  static override paths = [["image", "build", "debian"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Build a Debian image with systemd (debootstrap, as root)",
    details: "Downloads packages from a Debian mirror. Without `-o` the image is imported into the daemon under the alias (default `debian/RELEASE`). With `-o` it is only written to FILE.",
    examples: [
      ["Build and import Debian 12", "$0 image build debian --release bookworm --alias debian"],
      ["Extra packages, only write the tarball", "$0 image build debian --release bookworm --include curl,less -o bookworm.tar.gz"],
    ],
  });

  release = Option.String("--release", { required: true, description: "Debian codename (bookworm, trixie, ...)" });
  variant = Option.String("--variant", "minbase", { description: "debootstrap variant: minbase, buildd or default" });
  mirror = Option.String("--mirror", { description: "Debian mirror URL (default http://deb.debian.org/debian)" });
  include = Option.Array("--include", [], { description: "Extra packages (comma-separated, repeatable)" });
  aliases = Option.Array("--alias", [], { description: "Alias for the imported image (default: debian/RELEASE)" });
  output = Option.String("-o,--output", { description: "Write the image tarball here instead of importing it" });
  compression = Option.String("--compression", { description: "gzip, xz or none (default: by -o FILE's extension, else gzip)" });
  cacheDir = Option.String("--cache-dir", { description: "Keep downloaded packages here for the next build" });
  public = Option.Boolean("--public", false, { description: "Make the imported image public" });
  quiet = Option.Boolean("-q,--quiet", false, { description: "Do not show debootstrap's progress" });

  protected async run(): Promise<void> {
    const compression = this.compressionKind();
    const { buildDebianImage, checkDebianOptions } = await import("../image/build-debian.ts");
    const opts = {
      release: this.release, variant: this.variant, mirror: this.mirror, cacheDir: this.cacheDir,
      include: this.include.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean),
      compression,
      log: (line: string) => { if (!this.quiet) this.context.stderr.write(`${line}\n`); },
    };
    checkDebianOptions(opts);
    // Not /tmp: the unpacked tree is a few hundred MB and /tmp is often a small tmpfs.
    await this.writeOrImport((file) => buildDebianImage(file, opts), "debian", [`debian/${this.release}`], process.env.TMPDIR || "/var/tmp");
  }
}
