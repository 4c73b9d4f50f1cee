// `storage volume list|create|show|delete|attach|detach|snapshot|restore|copy|rename`: custom volumes.
import { Command, Option } from "clipanion";
import { LxdCommand, parseKeyValues } from "./base.ts";
import { editDevices } from "./device.ts";
import { parseFormat, renderTable, toYaml } from "./format.ts";

const category = "Storage";
const enc = encodeURIComponent;
const volumePath = (pool: string, volume: string) => `/1.0/storage-pools/${enc(pool)}/volumes/custom/${enc(volume)}`;

interface Volume { name: string; description: string; type: string; config: Record<string, string>; content_type: string; used_by: string[]; location: string; created_at: string }

/** "vol" or "custom/vol" (LXD's type prefix), optionally "/snap". */
function splitVolume(ref: string): [string, string | undefined] {
  const parts = ref.replace(/^custom\//, "").split("/");
  if (parts.length > 2 || !parts[0]) throw new Error(`Invalid volume "${ref}" (expected VOLUME or VOLUME/SNAPSHOT)`);
  return [parts[0], parts[1]];
}

export class StorageVolumeListCommand extends LxdCommand {
  static override paths = [["storage", "volume", "list"], ["storage", "volume", "ls"]];
  static override usage = Command.Usage({
    category, description: "List storage volumes: containers' root volumes, images unpacked on the pool, custom volumes",
    examples: [["Volumes of the default pool", "$0 storage volume list default"], ["Only custom volumes", "$0 storage volume list default type=custom"]],
  });

  pool = Option.String({ name: "pool" });
  filters = Option.Rest({ name: "filter" });
  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    // As lxc: KEY=VALUE arguments become the server-side filter.
    const filter = this.filters.map((f) => {
      const eq = f.indexOf("=");
      if (eq <= 0) throw new Error(`Invalid filter "${f}": use KEY=VALUE`);
      return `${f.slice(0, eq)} eq "${f.slice(eq + 1)}"`;
    }).join(" and ");
    const query = filter ? `&filter=${enc(filter)}` : "";
    const vols = await this.client.get<Volume[]>(`/1.0/storage-pools/${enc(this.pool)}/volumes?recursion=1${query}`);
    const rows = vols.map((v) => [v.type, v.name, v.description, v.content_type, String(v.used_by.length)]);
    this.context.stdout.write(renderTable(format, ["TYPE", "NAME", "DESCRIPTION", "CONTENT-TYPE", "USED BY"], rows, vols));
  }
}

export class StorageVolumeCreateCommand extends LxdCommand {
  static override paths = [["storage", "volume", "create"]];
  static override usage = Command.Usage({ category, description: "Create custom storage volumes", examples: [["A volume v1 in pool p1", "$0 storage volume create p1 v1"]] });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });
  config = Option.Rest({ name: "key=value" });
  description = Option.String("--description", "", { description: "Description of the volume" });

  protected async run(): Promise<void> {
    await this.client.run("POST", `/1.0/storage-pools/${enc(this.pool)}/volumes/custom`, {
      name: this.name, description: this.description, config: parseKeyValues(this.config), content_type: "filesystem",
    });
    this.print(`Storage volume ${this.name} created`);
  }
}

export class StorageVolumeShowCommand extends LxdCommand {
  static override paths = [["storage", "volume", "show"]];
  static override usage = Command.Usage({ category, description: "Show storage volume or snapshot configurations", examples: [["A volume", "$0 storage volume show p1 v1"], ["A snapshot", "$0 storage volume show p1 v1/snap0"]] });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });

  protected async run(): Promise<void> {
    const [vol, snap] = splitVolume(this.name);
    const path = snap === undefined ? volumePath(this.pool, vol) : `${volumePath(this.pool, vol)}/snapshots/${enc(snap)}`;
    this.context.stdout.write(toYaml(await this.client.get(path)));
  }
}

export class StorageVolumeDeleteCommand extends LxdCommand {
  static override paths = [["storage", "volume", "delete"], ["storage", "volume", "rm"]];
  static override usage = Command.Usage({ category, description: "Delete custom storage volumes or their snapshots", examples: [["A volume", "$0 storage volume delete p1 v1"], ["A snapshot", "$0 storage volume delete p1 v1/snap0"]] });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });

  protected async run(): Promise<void> {
    const [vol, snap] = splitVolume(this.name);
    await this.client.run("DELETE", snap === undefined ? volumePath(this.pool, vol) : `${volumePath(this.pool, vol)}/snapshots/${enc(snap)}`);
    this.print(`Storage volume ${this.name} deleted`);
  }
}

export class StorageVolumeAttachCommand extends LxdCommand {
  static override paths = [["storage", "volume", "attach"]];
  static override usage = Command.Usage({
    category, description: "Attach a custom volume to an instance (a disk device; hot-plugged into a running container)",
    examples: [["Mount v1 at /data in c1", "$0 storage volume attach p1 v1 c1 /data"], ["With a device name", "$0 storage volume attach p1 v1 c1 data0 /data"]],
  });

  pool = Option.String({ name: "pool" });
  volume = Option.String({ name: "volume" });
  instance = Option.String({ name: "instance" });
  rest = Option.Rest({ name: "[device] path" });

  protected async run(): Promise<void> {
    if (this.rest.length < 1 || this.rest.length > 2) throw new Error("Expected a path, or a device name and a path");
    const [device, path] = this.rest.length === 2 ? [this.rest[0]!, this.rest[1]!] : [this.volume, this.rest[0]!];
    await editDevices(this.client, this.instance, (devices) => {
      if (devices[device]) throw new Error(`The device "${device}" already exists on ${this.instance}`);
      devices[device] = { type: "disk", pool: this.pool, source: this.volume, path };
    });
  }
}

export class StorageVolumeDetachCommand extends LxdCommand {
  static override paths = [["storage", "volume", "detach"]];
  static override usage = Command.Usage({ category, description: "Detach a custom volume from an instance", examples: [["Detach v1 from c1", "$0 storage volume detach p1 v1 c1"]] });

  pool = Option.String({ name: "pool" });
  volume = Option.String({ name: "volume" });
  instance = Option.String({ name: "instance" });
  device = Option.String({ name: "device", required: false });

  protected async run(): Promise<void> {
    await editDevices(this.client, this.instance, (devices) => {
      const names = this.device ? [this.device] : Object.keys(devices).filter((k) =>
        devices[k]!.type === "disk" && devices[k]!.pool === this.pool && devices[k]!.source === this.volume);
      if (!names.length || !devices[names[0]!]) throw new Error(`No device found for volume "${this.volume}" on ${this.instance}`);
      if (names.length > 1) throw new Error(`More than one device uses volume "${this.volume}": name one (${names.join(", ")})`);
      delete devices[names[0]!];
    });
  }
}

export class StorageVolumeSnapshotCommand extends LxdCommand {
  static override paths = [["storage", "volume", "snapshot"]];
  static override usage = Command.Usage({ category, description: "Snapshot custom storage volumes", examples: [["Snapshot v1 (named snapN)", "$0 storage volume snapshot p1 v1"], ["Named", "$0 storage volume snapshot p1 v1 before"]] });

  pool = Option.String({ name: "pool" });
  volume = Option.String({ name: "volume" });
  snapshot = Option.String({ name: "snapshot", required: false });

  protected async run(): Promise<void> {
    await this.client.run("POST", `${volumePath(this.pool, this.volume)}/snapshots`, this.snapshot ? { name: this.snapshot } : {});
  }
}

export class StorageVolumeRestoreCommand extends LxdCommand {
  static override paths = [["storage", "volume", "restore"]];
  static override usage = Command.Usage({ category, description: "Restore custom storage volumes from snapshots (instances using them must be stopped)", examples: [["Roll v1 back", "$0 storage volume restore p1 v1 snap0"]] });

  pool = Option.String({ name: "pool" });
  volume = Option.String({ name: "volume" });
  snapshot = Option.String({ name: "snapshot" });

  protected async run(): Promise<void> {
    const reply = await this.client.request<Volume>("GET", volumePath(this.pool, this.volume));
    await this.client.run("PUT", volumePath(this.pool, this.volume), {
      description: reply.metadata.description, config: reply.metadata.config, restore: this.snapshot,
    }, { etag: reply.etag });
  }
}

export class StorageVolumeCopyCommand extends LxdCommand {
  static override paths = [["storage", "volume", "copy"]];
  static override usage = Command.Usage({
    category, description: "Copy custom storage volumes (with their snapshots unless --volume-only)",
    examples: [["Within a pool", "$0 storage volume copy p1/v1 p1/v2"], ["From a snapshot to another pool", "$0 storage volume copy p1/v1/snap0 p2/v3"]],
  });

  source = Option.String({ name: "pool/volume[/snapshot]" });
  target = Option.String({ name: "pool/volume" });
  volumeOnly = Option.Boolean("--volume-only", false, { description: "Copy the volume without its snapshots" });

  protected async run(): Promise<void> {
    const src = this.source.split("/");
    const dst = this.target.split("/");
    if (src.length < 2 || src.length > 3 || src.some((p) => !p)) throw new Error(`Invalid source "${this.source}" (expected POOL/VOLUME[/SNAPSHOT])`);
    if (dst.length !== 2 || dst.some((p) => !p)) throw new Error(`Invalid target "${this.target}" (expected POOL/VOLUME)`);
    await this.client.run("POST", `/1.0/storage-pools/${enc(dst[0]!)}/volumes/custom`, {
      name: dst[1], type: "custom",
      source: { type: "copy", pool: src[0], name: src.slice(1).join("/"), volume_only: this.volumeOnly },
    });
    this.print("Storage volume copied successfully!");
  }
}

export class StorageVolumeRenameCommand extends LxdCommand {
  static override paths = [["storage", "volume", "rename"]];
  static override usage = Command.Usage({ category, description: "Rename custom storage volumes (with their snapshots; nothing may use them)", examples: [["v1 becomes v2", "$0 storage volume rename p1 v1 v2"]] });

  pool = Option.String({ name: "pool" });
  volume = Option.String({ name: "old-name" });
  to = Option.String({ name: "new-name" });

  protected async run(): Promise<void> {
    const [from, snap] = splitVolume(this.volume);
    const [to, toSnap] = splitVolume(this.to);
    if (snap !== undefined || toSnap !== undefined) throw new Error("Renaming volume snapshots is not supported yet");
    await this.client.run("POST", volumePath(this.pool, from), { name: to });
    this.print(`Renamed storage volume from "${from}" to "${to}"`);
  }
}
