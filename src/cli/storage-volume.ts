// `storage volume list|create|show|get|set|unset|delete|attach|detach|snapshot|restore|copy|move|rename`: custom volumes,
// copied and moved within a server or (LXD's migration API) to another one.
import { Command, Option } from "clipanion";
import { LxdCommand, parseKeyValues, parseSetArgs } from "./base.ts";
import type { LxdClient } from "../client/client.ts";
import { currentProject, loadConfig, splitRemote } from "../client/config.ts";
import { migrate } from "../client/migrate.ts";
import { parseMode, progressWait, remoteSide } from "./copy.ts";
import { editDevices } from "./device.ts";
import { parseFormat, renderTable, toYaml } from "./format.ts";

const category = "Storage";
const enc = encodeURIComponent;
const volumePath = (pool: string, volume: string) => `/1.0/storage-pools/${enc(pool)}/volumes/custom/${enc(volume)}`;
/** `?target=MEMBER`: the cluster member whose volume is meant (names may repeat across members). */
const at = (path: string, member?: string) => (member ? `${path}${path.includes("?") ? "&" : "?"}target=${enc(member)}` : path);
const memberOption = () => Option.String("--target", { description: "Cluster member name" });

interface Volume { name: string; project?: string; description: string; type: string; config: Record<string, string>; content_type: string; used_by: string[]; location: string; created_at: string }

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
    examples: [["Volumes of the default pool", "$0 storage volume list default"], ["Only custom volumes", "$0 storage volume list default type=custom"], ["Every project's", "$0 storage volume list default --all-projects"]],
  });

  pool = Option.String({ name: "pool" });
  filters = Option.Rest({ name: "filter" });
  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });
  allProjects = Option.Boolean("--all-projects", false, { description: "Volumes of every project (with a PROJECT column)" });

  member = memberOption();

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    // As lxc: KEY=VALUE arguments become the server-side filter.
    const filter = this.filters.map((f) => {
      const eq = f.indexOf("=");
      if (eq <= 0) throw new Error(`Invalid filter "${f}": use KEY=VALUE`);
      return `${f.slice(0, eq)} eq "${f.slice(eq + 1)}"`;
    }).join(" and ");
    const query = `${filter ? `&filter=${enc(filter)}` : ""}${this.allProjects ? "&all-projects=true" : ""}`;
    // `--target`: the server lists that member's volumes.
    const vols = await this.client.get<Volume[]>(at(`/1.0/storage-pools/${enc(this.pool)}/volumes?recursion=1${query}`, this.member));
    // As lxc: a cluster's volumes say which member holds them; with --all-projects, PROJECT comes first.
    const clustered = vols.some((v) => v.location && v.location !== "none");
    const project = (cells: string[]) => (this.allProjects ? cells : []);
    const rows = vols.map((v) => [...project([v.project ?? "default"]), v.type, v.name, v.description, v.content_type, String(v.used_by.length), ...clustered ? [v.location] : []]);
    const header = [...project(["PROJECT"]), "TYPE", "NAME", "DESCRIPTION", "CONTENT-TYPE", "USED BY", ...clustered ? ["LOCATION"] : []];
    this.context.stdout.write(renderTable(format, header, rows, vols));
  }
}

export class StorageVolumeCreateCommand extends LxdCommand {
  static override paths = [["storage", "volume", "create"]];
  static override usage = Command.Usage({ category, description: "Create custom storage volumes", examples: [["A volume v1 in pool p1", "$0 storage volume create p1 v1"]] });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });
  config = Option.Rest({ name: "key=value" });
  description = Option.String("--description", "", { description: "Description of the volume" });
  member = memberOption();

  protected async run(): Promise<void> {
    await this.client.run("POST", at(`/1.0/storage-pools/${enc(this.pool)}/volumes/custom`, this.member), {
      name: this.name, description: this.description, config: parseKeyValues(this.config), content_type: "filesystem",
    });
    this.print(`Storage volume ${this.name} created`);
  }
}

/** Reads the volume with its ETag and PUTs the changed config back ("" removes a key). */
async function setVolumeConfig(client: LxdClient, pool: string, name: string, values: Record<string, string>, member?: string): Promise<void> {
  const [vol, snap] = splitVolume(name);
  if (snap !== undefined) throw new Error("Snapshots have no configuration keys to change");
  const reply = await client.request<Volume>("GET", at(volumePath(pool, vol), member));
  const config = { ...reply.metadata.config };
  for (const [k, v] of Object.entries(values)) {
    if (v === "") delete config[k];
    else config[k] = v;
  }
  await client.put(at(volumePath(pool, vol), member), { description: reply.metadata.description, config }, { etag: reply.etag });
}

export class StorageVolumeGetCommand extends LxdCommand {
  static override paths = [["storage", "volume", "get"]];
  static override usage = Command.Usage({ category, description: "Get values for storage volume configuration keys", examples: [["The snapshot schedule", "$0 storage volume get p1 v1 snapshots.schedule"]] });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });
  key = Option.String({ name: "key" });

  member = memberOption();

  protected async run(): Promise<void> {
    const [vol, snap] = splitVolume(this.name);
    const path = snap === undefined ? volumePath(this.pool, vol) : `${volumePath(this.pool, vol)}/snapshots/${enc(snap)}`;
    this.print((await this.client.get<Volume>(at(path, this.member))).config?.[this.key] ?? "");
  }
}

export class StorageVolumeSetCommand extends LxdCommand {
  static override paths = [["storage", "volume", "set"]];
  static override usage = Command.Usage({
    category, description: "Set storage volume configuration keys",
    examples: [["Snapshots twice a day, kept a week", "$0 storage volume set p1 v1 snapshots.schedule='0 1,13 * * *' snapshots.expiry=1w"]],
  });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });
  args = Option.Rest({ required: 1 });

  member = memberOption();

  protected async run(): Promise<void> {
    const values = parseSetArgs(this.args);
    await setVolumeConfig(this.client, this.pool, this.name, values, this.member);
  }
}

export class StorageVolumeUnsetCommand extends LxdCommand {
  static override paths = [["storage", "volume", "unset"]];
  static override usage = Command.Usage({ category, description: "Unset storage volume configuration keys", examples: [["No more scheduled snapshots", "$0 storage volume unset p1 v1 snapshots.schedule"]] });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });
  key = Option.String({ name: "key" });

  member = memberOption();

  protected async run(): Promise<void> {
    await setVolumeConfig(this.client, this.pool, this.name, { [this.key]: "" }, this.member);
  }
}

export class StorageVolumeShowCommand extends LxdCommand {
  static override paths = [["storage", "volume", "show"]];
  static override usage = Command.Usage({ category, description: "Show storage volume or snapshot configurations", examples: [["A volume", "$0 storage volume show p1 v1"], ["A snapshot", "$0 storage volume show p1 v1/snap0"]] });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });

  member = memberOption();

  protected async run(): Promise<void> {
    const [vol, snap] = splitVolume(this.name);
    const path = snap === undefined ? volumePath(this.pool, vol) : `${volumePath(this.pool, vol)}/snapshots/${enc(snap)}`;
    this.context.stdout.write(toYaml(await this.client.get(at(path, this.member))));
  }
}

export class StorageVolumeDeleteCommand extends LxdCommand {
  static override paths = [["storage", "volume", "delete"], ["storage", "volume", "rm"]];
  static override usage = Command.Usage({ category, description: "Delete custom storage volumes or their snapshots", examples: [["A volume", "$0 storage volume delete p1 v1"], ["A snapshot", "$0 storage volume delete p1 v1/snap0"]] });

  pool = Option.String({ name: "pool" });
  name = Option.String({ name: "volume" });

  member = memberOption();

  protected async run(): Promise<void> {
    const [vol, snap] = splitVolume(this.name);
    await this.client.run("DELETE", at(snap === undefined ? volumePath(this.pool, vol) : `${volumePath(this.pool, vol)}/snapshots/${enc(snap)}`, this.member));
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
  noExpiry = Option.Boolean("--no-expiry", false, { description: "Ignore any configured auto-expiry for the storage volume" });

  member = memberOption();

  protected async run(): Promise<void> {
    // The zero time, as lxc sends for --no-expiry; without it the volume's snapshots.expiry applies.
    const body = { ...this.snapshot ? { name: this.snapshot } : {}, ...this.noExpiry ? { expires_at: "0001-01-01T00:00:00Z" } : {} };
    await this.client.run("POST", at(`${volumePath(this.pool, this.volume)}/snapshots`, this.member), body);
  }
}

export class StorageVolumeRestoreCommand extends LxdCommand {
  static override paths = [["storage", "volume", "restore"]];
  static override usage = Command.Usage({ category, description: "Restore custom storage volumes from snapshots (instances using them must be stopped)", examples: [["Roll v1 back", "$0 storage volume restore p1 v1 snap0"]] });

  pool = Option.String({ name: "pool" });
  volume = Option.String({ name: "volume" });
  snapshot = Option.String({ name: "snapshot" });

  member = memberOption();

  protected async run(): Promise<void> {
    const reply = await this.client.request<Volume>("GET", at(volumePath(this.pool, this.volume), this.member));
    await this.client.run("PUT", at(volumePath(this.pool, this.volume), this.member), {
      description: reply.metadata.description, config: reply.metadata.config, restore: this.snapshot,
    }, { etag: reply.etag });
  }
}

export class StorageVolumeCopyCommand extends LxdCommand {
  static override paths = [["storage", "volume", "copy"]];
  static override usage = Command.Usage({
    category, description: "Copy custom storage volumes (with their snapshots unless --volume-only), also to another server",
    examples: [
      ["Within a pool", "$0 storage volume copy p1/v1 p1/v2"], ["From a snapshot to another pool", "$0 storage volume copy p1/v1/snap0 p2/v3"],
      ["To the remote other", "$0 storage volume copy p1/v1 other:p1/v1"], ["To cluster member m3", "$0 storage volume copy p1/v1 p1/v1 --destination-target m3"],
    ],
  });

  source = Option.String({ name: "[remote:]pool/volume[/snapshot]" });
  target = Option.String({ name: "[remote:]pool/volume" });
  volumeOnly = Option.Boolean("--volume-only", false, { description: "Copy the volume without its snapshots" });
  mode = Option.String("--mode", "pull", { description: "Transfer mode between servers: pull, push or relay" });
  refresh = Option.Boolean("--refresh", false, { description: "Update an existing copy: only the snapshots it lacks, then the content" });
  targetProject = Option.String("--target-project", { description: "Copy to a project different from the source" });
  member = Option.String("--target", { description: "Cluster member of the source volume (and of the copy, without --destination-target)" });
  destination = Option.String("--destination-target", { description: "Cluster member to copy (move) the volume to" });

  /** The members involved, as lxc reads its flags: `--target` names the source's member (and the
   *  copy's, unless `--destination-target` names another one). */
  protected get members(): Members {
    return { from: this.member, to: this.destination ?? this.member };
  }

  protected async run(): Promise<void> {
    await copyVolume(this.source, this.target, this.volumeOnly, this.mode, this.refresh, this.targetProject, this.members);
    this.print("Storage volume copied successfully!");
  }
}

export class StorageVolumeMoveCommand extends StorageVolumeCopyCommand {
  static override paths = [["storage", "volume", "move"]];
  static override usage = Command.Usage({
    category, description: "Move custom storage volumes to another pool or server (copy, then delete; rename within a pool)",
    examples: [["To the remote other", "$0 storage volume move p1/v1 other:p1/v1"], ["To cluster member m3", "$0 storage volume move p1/v1 p1/v1 --destination-target m3"]],
  });

  protected override async run(): Promise<void> {
    const config = loadConfig();
    const [srcRemote, src] = splitRemote(this.source, config);
    const [dstRemote, dst] = splitRemote(this.target, config);
    const [from, to] = [parseVolumeRef(src, true), parseVolumeRef(dst, false)];
    if (from.length === 3) throw new Error("Snapshots cannot be moved: copy them");
    const members = this.members;
    if (srcRemote === dstRemote && from[0] === to[0] && members.to === members.from) {
      await remoteSide(srcRemote).client.run("POST", at(volumePath(from[0]!, from[1]!), members.from), { name: to[1], ...this.targetProject ? { project: this.targetProject } : {} });
    } else {
      // Between cluster members the name exists on both for a moment: the delete names the source's.
      const source = remoteSide(srcRemote).client;
      const location = members.to ? await sourceMember(source, from, members.from) : undefined;
      await copyVolume(this.source, this.target, this.volumeOnly, this.mode, false, this.targetProject, members);
      await source.run("DELETE", at(volumePath(from[0]!, from[1]!), location));
    }
    this.print("Storage volume moved successfully!");
  }
}

/** "pool/volume" or, for a source, "pool/volume/snapshot". */
function parseVolumeRef(ref: string, source: boolean): string[] {
  const parts = ref.split("/");
  if (parts.length < 2 || parts.length > (source ? 3 : 2) || parts.some((p) => !p)) {
    throw new Error(source ? `Invalid source "${ref}" (expected POOL/VOLUME[/SNAPSHOT])` : `Invalid target "${ref}" (expected POOL/VOLUME)`);
  }
  return parts;
}

/** Cluster members of a copy or move: the source's (`from`), the copy's (`to`). */
interface Members { from?: string; to?: string }

/** The member holding source volume `ref` (pool, volume): `from` when named, else where it is. */
async function sourceMember(client: LxdClient, ref: string[], from?: string): Promise<string | undefined> {
  return from ?? (await client.get<Volume>(volumePath(ref[0]!, ref[1]!))).location;
}

/** `targetProject`: the copy goes there (the request is that project's, naming the source's, as lxc's). */
async function copyVolume(source: string, target: string, volumeOnly: boolean, mode: string, refresh = false, targetProject?: string, members: Members = {}): Promise<void> {
  const config = loadConfig();
  const [srcRemote, srcRef] = splitRemote(source, config);
  const [dstRemote, dstRef] = splitRemote(target, config);
  const [src, dst] = [parseVolumeRef(srcRef, true), parseVolumeRef(dstRef, false)];
  const into = targetProject ? `?project=${encodeURIComponent(targetProject)}` : "";
  if (srcRemote === dstRemote) {
    const client = remoteSide(srcRemote).client;
    // On a cluster member: the new volume is made there and pulls the source from its member.
    const location = members.to ? await sourceMember(client, src, members.from) : undefined;
    await client.run("POST", at(`/1.0/storage-pools/${enc(dst[0]!)}/volumes/custom${into}`, members.to), {
      name: dst[1], type: "custom", source: {
        type: "copy", pool: src[0], name: src.slice(1).join("/"), volume_only: volumeOnly, ...refresh ? { refresh } : {}, ...targetProject ? { project: currentProject() } : {},
        ...location ? { location } : {},
      },
    });
    return;
  }
  if (src.length === 3) throw new Error("Copying a volume snapshot to another server is not supported: copy the volume");
  const from = remoteSide(srcRemote);
  const vol = await from.client.get<Volume>(volumePath(src[0]!, src[1]!));
  await migrate(from, remoteSide(dstRemote), {
    sourcePath: volumePath(src[0]!, src[1]!),
    sourceBody: { name: src[1], volume_only: volumeOnly },
    targetPath: `/1.0/storage-pools/${enc(dst[0]!)}/volumes/custom${into}`,
    targetBody: { name: dst[1], type: "custom", description: vol.description, config: vol.config, source: { volume_only: volumeOnly, ...refresh ? { refresh } : {} } },
    mode: parseMode(mode),
    wait: progressWait("Transferring volume"),
  });
}

export class StorageVolumeRenameCommand extends LxdCommand {
  static override paths = [["storage", "volume", "rename"]];
  static override usage = Command.Usage({ category, description: "Rename custom storage volumes (with their snapshots; nothing may use them) or their snapshots", examples: [["v1 becomes v2", "$0 storage volume rename p1 v1 v2"], ["Snapshot s0 of v1 becomes s1", "$0 storage volume rename p1 v1/s0 v1/s1"]] });

  pool = Option.String({ name: "pool" });
  volume = Option.String({ name: "old-name" });
  to = Option.String({ name: "new-name" });

  member = memberOption();

  protected async run(): Promise<void> {
    const [from, snap] = splitVolume(this.volume);
    const [to, toSnap] = splitVolume(this.to);
    if (snap !== undefined) {
      // As lxc: VOL/SNAP becomes VOL/NEWSNAP (a snapshot stays with its volume).
      if (toSnap === undefined || to !== from) throw new Error("Invalid new snapshot name");
      await this.client.run("POST", at(`${volumePath(this.pool, from)}/snapshots/${enc(snap)}`, this.member), { name: toSnap });
      this.print(`Renamed storage volume snapshot from "${this.volume}" to "${this.to}"`);
      return;
    }
    if (toSnap !== undefined) throw new Error("Invalid new volume name");
    await this.client.run("POST", at(volumePath(this.pool, from), this.member), { name: to });
    this.print(`Renamed storage volume from "${from}" to "${to}"`);
  }
}
