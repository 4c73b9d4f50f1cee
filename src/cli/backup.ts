// `export NAME [FILE]` and `import FILE [NAME]`: instance backups as LXD's tarball, through
// POST /1.0/instances/{name}/backups and POST /1.0/instances with the tarball as the body.
import { Command, Option } from "clipanion";
import { rm } from "node:fs/promises";
import type { Operation } from "../client/types.ts";
import { LxdCommand } from "./base.ts";
import { Progress, waitWithProgress } from "./progress.ts";

const enc = encodeURIComponent;

export class ExportCommand extends LxdCommand {
  static override paths = [["export"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Export instance backups",
    details: "Writes LXD's backup tarball (backup/index.yaml, backup/container/, backup/snapshots/), which `lxd import` and LXD's `lxc import` read.",
    examples: [
      ["Export c1 with its snapshots to c1.tar.gz", "$0 export c1 c1.tar.gz"],
      ["Without snapshots, xz-compressed", "$0 export c1 c1.tar.xz --instance-only --compression xz"],
    ],
  });

  name = Option.String({ name: "instance" });
  file = Option.String({ required: false, name: "file" });
  instanceOnly = Option.Boolean("--instance-only", false, { description: "Whether or not to only backup the instance (without snapshots)" });
  optimized = Option.Boolean("--optimized-storage", false, { description: "Use storage driver optimized format (btrfs send streams)" });
  compression = Option.String("--compression", { description: "Compression algorithm: gzip (default), xz or none" });

  protected async run(): Promise<void> {
    const file = this.file ?? "backup.tar.gz";
    const reply = await this.client.post<Operation>(`/1.0/instances/${enc(this.name)}/backups`, {
      name: "",
      expires_at: new Date(Date.now() + 24 * 3600_000).toISOString(),
      instance_only: this.instanceOnly,
      container_only: this.instanceOnly,
      optimized_storage: this.optimized,
      ...(this.compression ? { compression_algorithm: this.compression } : {}),
    });
    const done = await waitWithProgress(this.client, reply.metadata, new Progress(this.context.stdout as NodeJS.WriteStream));
    const url = done.resources?.backups?.[0];
    if (!url) throw new Error("The backup finished without naming its backup");
    const backup = decodeURIComponent(url.slice(url.lastIndexOf("/") + 1));
    try {
      await this.client.download(`/1.0/instances/${enc(this.name)}/backups/${enc(backup)}/export`, file);
    } catch (err) {
      await rm(file, { force: true });
      throw new Error(`Fetch instance backup file: ${(err as Error).message}`);
    } finally {
      await this.client.run("DELETE", `/1.0/instances/${enc(this.name)}/backups/${enc(backup)}`).catch(() => {});
    }
    this.print("Backup exported successfully!");
  }
}

export class ImportCommand extends LxdCommand {
  static override paths = [["import"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Import instance backups",
    details: "Reads a tarball made by `lxd export` or LXD's `lxc export`; the instance keeps its name unless NAME is given.",
    examples: [["Import c1.tar.gz as c2 into pool fast", "$0 import c1.tar.gz c2 -s fast"]],
  });

  file = Option.String({ name: "backup file" });
  name = Option.String({ required: false, name: "instance name" });
  storage = Option.String("-s,--storage", { description: "Storage pool name" });

  protected async run(): Promise<void> {
    const blob = Bun.file(this.file);
    if (!(await blob.exists())) throw new Error(`Backup file not found: ${this.file}`);
    const headers: Record<string, string> = { "Content-Type": "application/octet-stream" };
    if (this.name) headers["X-LXD-name"] = this.name;
    if (this.storage) headers["X-LXD-pool"] = this.storage;
    const reply = await this.client.request<Operation>("POST", "/1.0/instances", blob, { headers });
    await waitWithProgress(this.client, reply.metadata, new Progress(this.context.stdout as NodeJS.WriteStream));
  }
}
