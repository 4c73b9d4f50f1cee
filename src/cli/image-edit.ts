// `image export|edit|get-property|set-property|unset-property` and `image alias rename`.
import { Command, Option } from "clipanion";
import { rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { LxdClient } from "../client/client.ts";
import { LxdError } from "../client/errors.ts";
import type { Image } from "../api/image.ts";
import { boundaryOf, receiveMultipart } from "../image/multipart.ts";
import { byteProgress } from "../image/progress.ts";
import { LxdCommand } from "./base.ts";
import { readYamlStdin } from "./config.ts";
import { Progress } from "./progress.ts";

const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);

/** Counts bytes through a stream for the download progress line. */
async function* counted(body: ReadableStream<Uint8Array>, onBytes: (n: number) => void): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of body) {
    onBytes((n += chunk.length));
    yield chunk;
  }
}

export class ImageExportCommand extends LxdCommand {
  static override paths = [["image", "export"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Export and download images",
    details: "TARGET is a directory (default: the current one), where the files get the server's names " +
      "(`<fingerprint>.tar.gz`; split images: `meta-<fingerprint>.tar.xz` and `<fingerprint>.squashfs`), " +
      "or a file name (a split image's rootfs then goes to TARGET.root).",
    examples: [["Save the busybox image here", "$0 image export busybox"], ["Into /tmp/out", "$0 image export busybox /tmp/out"]],
  });

  image = Option.String({ name: "image" });
  target = Option.String({ name: "target", required: false });

  protected async run(): Promise<void> {
    const image = await this.client.resolveImage(this.image);
    const target = this.target ?? ".";
    const res = await this.client.transport.fetch(`/1.0/images/${image.fingerprint}/export`, { method: "GET" });
    const type = res.headers.get("content-type") ?? "";
    if (!res.ok || type.startsWith("application/json")) {
      const env = (await res.json().catch(() => ({}))) as { error?: string };
      throw new LxdError(env.error || `Export failed with HTTP ${res.status}`, res.status);
    }
    const progress = new Progress(this.context.stdout as NodeJS.WriteStream);
    const report = byteProgress(({ export_progress: text }) => progress.update(String(text)), "export_progress", "Exporting", Number(res.headers.get("content-length") ?? 0));
    const body = counted(res.body!, report);
    const toDir = await isDir(target);
    try {
      if (type.startsWith("multipart/form-data")) {
        const dir = toDir ? target : join(target, "..");
        const prefix = `.lxd-export-${process.pid}-`;
        const parts = await receiveMultipart(body, boundaryOf(type), dir, prefix, ["metadata", "rootfs"]);
        for (const p of parts) {
          const name = basename(p.filename) || `${image.fingerprint}.${p.name}`;
          const dest = toDir ? join(target, name) : p.name === "metadata" ? target : `${target}.root`;
          await rename(p.path, dest);
        }
      } else {
        const name = /filename=("?)([^";]+)\1/.exec(res.headers.get("content-disposition") ?? "")?.[2] ?? image.fingerprint;
        const dest = toDir ? join(target, basename(name)) : target;
        const tmp = `${dest}.part`;
        try {
          const sink = Bun.file(tmp).writer({ highWaterMark: 1 << 20 });
          for await (const chunk of body) sink.write(chunk);
          await sink.end();
          await rename(tmp, dest);
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        }
      }
    } finally {
      progress.done();
    }
    this.print(`Image exported successfully!`);
  }
}

/** What `image show` prints and `image edit` takes: the editable fields. */
export const editable = (i: Image) => ({
  auto_update: i.auto_update, properties: i.properties ?? {}, public: i.public, expires_at: i.expires_at, profiles: i.profiles ?? [],
});

async function imageWithEtag(client: LxdClient, ref: string): Promise<{ image: Image; etag?: string }> {
  const image = await client.resolveImage(ref);
  const reply = await client.request<Image>("GET", `/1.0/images/${image.fingerprint}`);
  return { image: reply.metadata, etag: reply.etag };
}

export class ImageEditCommand extends LxdCommand {
  static override paths = [["image", "edit"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Replace an image's properties, public, auto_update, profiles and expires_at with YAML read from stdin",
    examples: [["Apply an edited copy", "$0 image show busybox > b.yaml && $0 image edit busybox < b.yaml"]],
  });

  image = Option.String({ name: "image" });

  protected async run(): Promise<void> {
    const doc = await readYamlStdin(this.context.stdin);
    const { image, etag } = await imageWithEtag(this.client, this.image);
    const properties = Object.fromEntries(Object.entries((doc.properties ?? {}) as Record<string, unknown>).map(([k, v]) => [k, v === null ? "" : String(v)]));
    await this.client.put(`/1.0/images/${image.fingerprint}`, { ...editable(image), ...doc, properties }, { etag });
  }
}

export class ImageGetPropertyCommand extends LxdCommand {
  static override paths = [["image", "get-property"]];
  static override usage = Command.Usage({ category: "Images", description: "Get image properties", examples: [["The OS of busybox", "$0 image get-property busybox os"]] });

  image = Option.String({ name: "image" });
  key = Option.String({ name: "key" });

  protected async run(): Promise<void> {
    const image = await this.client.resolveImage(this.image);
    this.print(image.properties?.[this.key] ?? "");
  }
}

export class ImageSetPropertyCommand extends LxdCommand {
  static override paths = [["image", "set-property"]];
  static override usage = Command.Usage({ category: "Images", description: "Set image properties", examples: [["Describe busybox", "$0 image set-property busybox description 'tiny'"]] });

  image = Option.String({ name: "image" });
  key = Option.String({ name: "key" });
  value = Option.String({ name: "value" });

  protected async run(): Promise<void> {
    const { image, etag } = await imageWithEtag(this.client, this.image);
    await this.client.put(`/1.0/images/${image.fingerprint}`, { ...editable(image), properties: { ...image.properties, [this.key]: this.value } }, { etag });
  }
}

export class ImageUnsetPropertyCommand extends LxdCommand {
  static override paths = [["image", "unset-property"]];
  static override usage = Command.Usage({ category: "Images", description: "Unset image properties", examples: [["Drop a property", "$0 image unset-property busybox description"]] });

  image = Option.String({ name: "image" });
  key = Option.String({ name: "key" });

  protected async run(): Promise<void> {
    const { image, etag } = await imageWithEtag(this.client, this.image);
    if (!(this.key in (image.properties ?? {}))) throw new Error(`Property "${this.key}" is not set on image ${image.fingerprint.slice(0, 12)}`);
    const properties = { ...image.properties };
    delete properties[this.key];
    await this.client.put(`/1.0/images/${image.fingerprint}`, { ...editable(image), properties }, { etag });
  }
}

export class ImageAliasRenameCommand extends LxdCommand {
  static override paths = [["image", "alias", "rename"], ["image", "alias", "mv"]];
  static override usage = Command.Usage({ category: "Images", description: "Rename image aliases", examples: [["Rename", "$0 image alias rename old new"]] });

  alias = Option.String({ name: "alias" });
  newName = Option.String({ name: "new-name" });

  protected async run(): Promise<void> {
    await this.client.post(`/1.0/images/aliases/${encodeURIComponent(this.alias)}`, { name: this.newName });
  }
}
