// `export NAME [FILE]` and `import FILE [NAME]`: instance backups as LXD's tarball, through
// POST /1.0/instances/{name}/backups and POST /1.0/instances with the tarball as the body; and
// `storage volume export|import`, the same for custom volumes.
import { Command, Option } from "clipanion";
import { rm } from "node:fs/promises";
import type { LxdClient } from "../client/client.ts";
import type { Operation } from "../api/operation.ts";
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
    await exportBackup(this.client, this.context.stdout as NodeJS.WriteStream, `/1.0/instances/${enc(this.name)}`, this.file, {
      instance_only: this.instanceOnly, container_only: this.instanceOnly, optimized_storage: this.optimized,
      ...(this.compression ? { compression_algorithm: this.compression } : {}),
    });
  }
}

/** Makes a backup of `owner` (an instance or custom volume path), downloads it to `file` and
 *  deletes it on the server, as lxc does. */
/** `query`: `?target=MEMBER` for a cluster member's custom volume, on every request. */
async function exportBackup(client: LxdClient, out: NodeJS.WriteStream, owner: string, file = "backup.tar.gz", body: Record<string, unknown>, query = ""): Promise<void> {
  const reply = await client.post<Operation>(`${owner}/backups${query}`, {
    name: "", expires_at: new Date(Date.now() + 24 * 3600_000).toISOString(), ...body,
  });
  const done = await waitWithProgress(client, reply.metadata, new Progress(out));
  const url = done.resources?.backups?.[0];
  if (!url) throw new Error("The backup finished without naming its backup");
  const backup = `${owner}/backups/${enc(decodeURIComponent(url.slice(url.lastIndexOf("/") + 1)))}`;
  try {
    await client.download(`${backup}/export${query}`, file);
  } catch (err) {
    await rm(file, { force: true });
    throw new Error(`Fetch backup file: ${(err as Error).message}`);
  } finally {
    await client.run("DELETE", `${backup}${query}`).catch(() => {});
  }
  out.write("Backup exported successfully!\n");
}

/** Uploads a backup tarball to `path` (POST, octet-stream) and waits for the restore. */
async function importBackup(client: LxdClient, out: NodeJS.WriteStream, path: string, file: string, headers: Record<string, string>): Promise<void> {
  const blob = Bun.file(file);
  if (!(await blob.exists())) throw new Error(`Backup file not found: ${file}`);
  const reply = await client.request<Operation>("POST", path, blob, { headers: { "Content-Type": "application/octet-stream", ...headers } });
  await waitWithProgress(client, reply.metadata, new Progress(out));
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
    const headers: Record<string, string> = {};
    if (this.name) headers["X-LXD-name"] = this.name;
    if (this.storage) headers["X-LXD-pool"] = this.storage;
    await importBackup(this.client, this.context.stdout as NodeJS.WriteStream, "/1.0/instances", this.file, headers);
  }
}

export class StorageVolumeExportCommand extends LxdCommand {
  static override paths = [["storage", "volume", "export"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Export custom storage volume",
    details: "Writes LXD's volume backup tarball (backup/index.yaml, backup/volume/, backup/volume-snapshots/).",
    examples: [["Export volume data of pool default", "$0 storage volume export default data data.tar.gz"]],
  });

  pool = Option.String({ name: "pool" });
  volume = Option.String({ name: "volume" });
  file = Option.String({ required: false, name: "file" });
  volumeOnly = Option.Boolean("--volume-only", false, { description: "Export the volume without its snapshots" });
  optimized = Option.Boolean("--optimized-storage", false, { description: "Use storage driver optimized format (refused)" });
  compression = Option.String("--compression", { description: "Compression algorithm: gzip (default), xz or none" });
  member = Option.String("--target", { description: "Cluster member name" });

  protected async run(): Promise<void> {
    await exportBackup(this.client, this.context.stdout as NodeJS.WriteStream, `/1.0/storage-pools/${enc(this.pool)}/volumes/custom/${enc(this.volume)}`, this.file, {
      volume_only: this.volumeOnly, optimized_storage: this.optimized,
      ...(this.compression ? { compression_algorithm: this.compression } : {}),
    }, this.member ? `?target=${enc(this.member)}` : "");
  }
}

export class StorageVolumeImportCommand extends LxdCommand {
  static override paths = [["storage", "volume", "import"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Import custom storage volumes",
    examples: [["Import data.tar.gz into pool default as data2", "$0 storage volume import default data.tar.gz data2"]],
  });

  pool = Option.String({ name: "pool" });
  file = Option.String({ name: "backup file" });
  volume = Option.String({ required: false, name: "volume name" });
  member = Option.String("--target", { description: "Cluster member name" });

  protected async run(): Promise<void> {
    const path = `/1.0/storage-pools/${enc(this.pool)}/volumes/custom${this.member ? `?target=${enc(this.member)}` : ""}`;
    await importBackup(this.client, this.context.stdout as NodeJS.WriteStream, path, this.file, this.volume ? { "X-LXD-name": this.volume } : {});
  }
}
