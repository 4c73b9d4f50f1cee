// `image copy`, `image refresh` and `image export-streams`: images between servers.
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { Command, Option } from "clipanion";
import { INDEX_PATH, PRODUCTS_PATH, parseProducts, productsPath } from "../image/simplestreams.ts";
import { LxdClient } from "../client/client.ts";
import { loadConfig, remoteTransport } from "../client/config.ts";
import type { Operation } from "../api/operation.ts";
import { LxdCommand } from "./base.ts";
import { waitForDownload } from "./progress.ts";
import { remoteImageSource, splitImageRef } from "./image-remote.ts";

export class ImageCopyCommand extends LxdCommand {
  static override paths = [["image", "copy"], ["image", "cp"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Copy images from another server into this one",
    details: "SOURCE is REMOTE:ALIAS or REMOTE:FINGERPRINT on a simplestreams or lxd remote (see `remote add --protocol`); the target is the remote named by the second argument (e.g. `local:`), else the default one. The daemon downloads the image, checks its sha256 and stores it.",
    examples: [
      ["Copy and keep it current", "$0 image copy images:busybox local: --alias busybox --auto-update"],
    ],
  });

  source = Option.String({ name: "remote:image" });
  target = Option.String({ name: "target remote", required: false });
  aliases = Option.Array("--alias", [], { description: "New aliases for the copied image" });
  autoUpdate = Option.Boolean("--auto-update", false, { description: "Refresh the image from its source in the background" });
  public = Option.Boolean("--public", false, { description: "Make the copied image public" });
  copyAliases = Option.Boolean("--copy-aliases", false, { description: "Also create the source alias locally" });
  targetProject = Option.String("--target-project", { description: "Copy into this project of the target server" });

  protected async run(): Promise<void> {
    if (this.target) throw new Error(`Unknown target "${this.target}": name it as a remote with a colon, e.g. local:`);
    const source = remoteImageSource(this.source);
    if (!source) throw new Error(`"${this.source}" is not on another remote: name its remote, e.g. images:${this.source}`);
    const aliases = this.aliases.map((name) => ({ name, description: "" }));
    const addAlias = (name: string) => { if (!aliases.some((a) => a.name === name)) aliases.push({ name, description: "" }); };
    if (this.copyAliases && source.alias) addAlias(source.alias);
    // An LXD server this client is trusted by: its image's aliases, and for a private image a
    // one-time secret that lets the target daemon download it (as lxc does).
    const config = loadConfig();
    const remote = splitImageRef(this.source, config).remote!;
    let secretOp: string | undefined;
    let src: LxdClient | undefined;
    if (source.protocol === "lxd" && !config.remotes[remote]?.public) {
      src = new LxdClient(remoteTransport(remote, config));
      const image = await src.resolveImage(source.fingerprint ?? source.alias ?? "");
      if (this.copyAliases) for (const a of image.aliases ?? []) addAlias(a.name);
      if (!image.public) {
        const token = await src.post<Operation>(`/1.0/images/${image.fingerprint}/secret`);
        secretOp = token.metadata.id;
        Object.assign(source, { fingerprint: image.fingerprint, alias: undefined, secret: String(token.metadata.metadata?.secret ?? "") });
      }
    }
    try {
      const path = this.targetProject ? `/1.0/images?project=${encodeURIComponent(this.targetProject)}` : "/1.0/images";
      const reply = await this.client.post<Operation>(path, { source, aliases, auto_update: this.autoUpdate, public: this.public });
      const op = await waitForDownload(this.client, reply.metadata, this.context.stdout as NodeJS.WriteStream, "Copying the image");
      this.print(`Image copied successfully! (${String(op.metadata?.fingerprint ?? "").slice(0, 12)})`);
    } finally {
      // Unused (the image was there already, or the copy failed): revoke the secret.
      if (secretOp) await src!.delete(`/1.0/operations/${secretOp}`).catch(() => {});
    }
  }
}

export class ImageRefreshCommand extends LxdCommand {
  static override paths = [["image", "refresh"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Refresh images from the servers they were copied from",
    examples: [["Fetch the newest version of busybox", "$0 image refresh busybox"]],
  });

  images = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    for (const ref of this.images) {
      const image = await this.client.resolveImage(ref);
      const reply = await this.client.post<Operation>(`/1.0/images/${image.fingerprint}/refresh`);
      const op = await waitForDownload(this.client, reply.metadata, this.context.stdout as NodeJS.WriteStream, "Refreshing the image");
      this.print(op.metadata?.refreshed ? `Image ${ref} refreshed (${String(op.metadata.fingerprint).slice(0, 12)})` : `Image ${ref} is already up to date`);
    }
  }
}

/** `dir/rel`, refusing paths that would leave `dir`. */
function inside(dir: string, rel: string): string {
  const full = resolve(dir, rel);
  if (!full.startsWith(resolve(dir) + sep)) throw new Error(`Refusing to write "${rel}" outside ${dir}`);
  return full;
}

export class ImageExportStreamsCommand extends LxdCommand {
  static override paths = [["image", "export-streams"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Write the server's public images as a static simplestreams tree",
    details: "DIR gets streams/v1/index.json, streams/v1/images.json and images/<fingerprint>/<file>; any web server can host it for `remote add NAME URL --protocol simplestreams`. Files already there with the right size are kept.",
    examples: [["Publish to a web root", "$0 image export-streams /var/www/images"]],
  });

  dir = Option.String({ name: "dir" });

  private async fetchOk(path: string): Promise<Response> {
    const res = await this.client.transport.fetch(path);
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    return res;
  }

  protected async run(): Promise<void> {
    const dir = resolve(this.dir);
    const indexText = await (await this.fetchOk(`/${INDEX_PATH}`)).text();
    const path = productsPath(JSON.parse(indexText));
    const productsText = await (await this.fetchOk(`/${path}`)).text();
    const images = parseProducts(JSON.parse(productsText));
    let written = 0;
    for (const img of images) {
      for (const item of img.files) {
        const dest = inside(dir, item.path);
        if ((await stat(dest).catch(() => undefined))?.size === item.size) continue;
        await mkdir(dirname(dest), { recursive: true });
        const tmp = `${dest}.partial`;
        try {
          const hasher = new Bun.CryptoHasher("sha256");
          const sink = Bun.file(tmp).writer();
          try {
            for await (const chunk of (await this.fetchOk(`/${item.path}`)).body!) {
              hasher.update(chunk);
              sink.write(chunk);
            }
          } finally {
            await sink.end();
          }
          if (hasher.digest("hex") !== item.sha256) throw new Error(`${item.path}: sha256 does not match the index`);
          await rename(tmp, dest);
          written++;
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        }
      }
    }
    // The index last, so a reader never sees it name files that are not there yet.
    await mkdir(join(dir, "streams/v1"), { recursive: true });
    await writeFile(inside(dir, `${PRODUCTS_PATH}.tmp`), productsText);
    await rename(inside(dir, `${PRODUCTS_PATH}.tmp`), inside(dir, PRODUCTS_PATH));
    await writeFile(inside(dir, `${INDEX_PATH}.tmp`), indexText);
    await rename(inside(dir, `${INDEX_PATH}.tmp`), inside(dir, INDEX_PATH));
    this.print(`Exported ${images.length} image(s) to ${dir} (${written} file(s) written)`);
  }
}
