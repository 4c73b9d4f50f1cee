// `copy SRC[/SNAP] [DST]` and `move OLD NEW` (also `rename`): copies are made by the server from
// the source's volume (its writable layer only, on the same image layer); a move on one server is
// a rename, of an instance or (`c1/old c1/new`) of a snapshot.
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import { LxdCommand, parseKeyValues } from "./base.ts";
import { snapshotPath, splitSnapshot } from "./snapshot.ts";

const enc = encodeURIComponent;

type Devices = Record<string, Record<string, string>>;

/** The config, local devices and profiles of an instance or snapshot ("c1" or "c1/snap0"). */
async function sourceOf(client: LxdClient, ref: string): Promise<{ config: Record<string, string>; devices: Devices; profiles: string[] }> {
  const [inst, snap] = splitSnapshot(ref);
  return snap === undefined ? client.instance(inst) : client.get(snapshotPath(inst, snap));
}

/** The source's devices with the root disk moved to `pool` (as `lxc copy -s`). */
async function devicesOnPool(client: LxdClient, ref: string, pool: string): Promise<Devices> {
  const devices = { ...(await sourceOf(client, ref)).devices };
  const rootName = Object.keys(devices).find((k) => devices[k]!.type === "disk" && devices[k]!.path === "/") ?? "root";
  devices[rootName] = { ...(devices[rootName] ?? { type: "disk", path: "/" }), pool };
  return devices;
}

export class CopyCommand extends LxdCommand {
  static override paths = [["copy"], ["cp"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Copy instances within the server",
    details: "The copy gets the source's config, devices and profiles (or a snapshot's, when copying one), a new identity, and the source's snapshots unless --instance-only.",
    examples: [
      ["Copy c1 (and its snapshots) to c2", "$0 copy c1 c2"],
      ["Make c3 from c1's snapshot snap0", "$0 copy c1/snap0 c3"],
      ["A throw-away copy that goes away when stopped", "$0 copy c1 tmp1 --ephemeral --instance-only"],
      ["Copy c1 to the storage pool fast", "$0 copy c1 c2 --storage fast"],
    ],
  });

  source = Option.String({ name: "source" });
  target = Option.String({ name: "destination", required: false });
  instanceOnly = Option.Boolean("--instance-only", false, { description: "Copy the instance without its snapshots" });
  ephemeral = Option.Boolean("-e,--ephemeral", false, { description: "Ephemeral instance" });
  config = Option.Array("-c,--config", [], { description: "Config key/value to apply to the new instance" });
  profiles = Option.Array("-p,--profile", [], { description: "Profile to apply to the new instance" });
  noProfiles = Option.Boolean("--no-profiles", false, { description: "Create the instance with no profiles applied" });
  start = Option.Boolean("--start", false, { description: "Start the instance after copying" });
  storage = Option.String("-s,--storage", { description: "Storage pool name" });

  protected async run(): Promise<void> {
    const [, snap] = splitSnapshot(this.source);
    if (snap !== undefined && this.instanceOnly) throw new Error("--instance-only can't be used when copying a snapshot");
    if (this.target?.includes("/")) throw new Error("The destination must be an instance name, not a snapshot");
    const body: Record<string, unknown> = {
      name: this.target ?? "",
      source: { type: "copy", source: this.source, instance_only: this.instanceOnly },
      ephemeral: this.ephemeral,
      start: this.start,
    };
    // As lxc does, the request carries the source's config, devices and profiles (LXD 5.0 does
    // not take them from the source itself) without volatile keys; extra keys go on top.
    const src = await sourceOf(this.client, this.source);
    body.profiles = this.noProfiles ? [] : this.profiles.length ? this.profiles : src.profiles;
    const config = Object.fromEntries(Object.entries(src.config).filter(([k]) => !k.startsWith("volatile.")));
    body.config = { ...config, ...parseKeyValues(this.config) };
    body.devices = this.storage ? await devicesOnPool(this.client, this.source, this.storage) : src.devices;
    await this.client.run("POST", "/1.0/instances", body);
  }
}

export class MoveCommand extends LxdCommand {
  static override paths = [["move"], ["mv"], ["rename"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Rename instances or snapshots",
    examples: [
      ["Rename the stopped instance c1 to c2", "$0 move c1 c2"],
      ["Rename c1's snapshot snap0 to clean", "$0 move c1/snap0 c1/clean"],
      ["Move the stopped c1 (and its snapshots) to the storage pool fast", "$0 move c1 --storage fast"],
    ],
  });

  source = Option.String({ name: "source" });
  target = Option.String({ name: "destination", required: false });
  storage = Option.String("-s,--storage", { description: "Storage pool name" });

  protected async run(): Promise<void> {
    if (this.storage) return this.toPool(this.storage);
    if (!this.target) throw new Error("A destination name (or --storage POOL) is required");
    const [srcInst, srcSnap] = splitSnapshot(this.source);
    const [dstInst, dstSnap] = splitSnapshot(this.target);
    if (srcSnap !== undefined || dstSnap !== undefined) {
      if (srcSnap === undefined || dstSnap === undefined || srcInst !== dstInst) {
        throw new Error("Snapshots can only be renamed within their instance (move c1/old c1/new)");
      }
      await this.client.run("POST", snapshotPath(srcInst, srcSnap), { name: dstSnap });
      return;
    }
    await this.client.run("POST", `/1.0/instances/${enc(srcInst)}`, { name: dstInst });
  }

  /** Between pools: copy (with snapshots) under a temporary name, delete the source, rename. */
  private async toPool(pool: string): Promise<void> {
    const name = this.target ?? this.source;
    if (this.source.includes("/") || name.includes("/")) throw new Error("Only instances can be moved between storage pools");
    const current = await this.client.instance(this.source);
    if (current.status !== "Stopped") throw new Error("Moving a running instance between storage pools is not supported: stop it first");
    const tmp = `${name}-move-${Date.now().toString(36)}`;
    await this.client.run("POST", "/1.0/instances", {
      name: tmp, source: { type: "copy", source: this.source }, devices: await devicesOnPool(this.client, this.source, pool),
      profiles: current.profiles, ephemeral: current.ephemeral, description: current.description,
    });
    await this.client.run("DELETE", `/1.0/instances/${enc(this.source)}`);
    await this.client.run("POST", `/1.0/instances/${enc(tmp)}`, { name });
  }
}
