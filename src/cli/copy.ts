// `copy [REMOTE:]SRC[/SNAP] [[REMOTE:]DST]` and `move OLD NEW` (also `rename`): on one server a
// copy is made by the server from the source's volume (its writable layer only, on the same image
// layer) and a move is a rename, of an instance or (`c1/old c1/new`) of a snapshot. Between two
// servers both go through LXD's migration API (pull, push or relay); a move is a copy, then the
// source is deleted.
import { Command, Option } from "clipanion";
import { LxdClient } from "../client/client.ts";
import { currentProject, loadConfig, remoteTransport, splitRemote } from "../client/config.ts";
import { migrate, MIGRATION_MODES, type MigrationMode, type Side } from "../client/migrate.ts";
import type { Operation } from "../api/operation.ts";
import { isTerminal, LxdCommand, parseKeyValues } from "./base.ts";
import { Progress, waitWithProgress } from "./progress.ts";
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


/** "remote:name" arguments: the client and HTTPS address of each side. */
export function remoteSide(remote: string): Side {
  const config = loadConfig();
  const addr = config.remotes[remote]?.addr ?? "";
  return { client: new LxdClient(remoteTransport(remote, config)), url: addr.startsWith("https:") ? addr : undefined };
}

export function parseMode(mode: string): MigrationMode {
  if (!MIGRATION_MODES.includes(mode as MigrationMode)) throw new Error(`Invalid mode "${mode}": pull, push or relay`);
  return mode as MigrationMode;
}

/** Waits for the target's operation with LXD's "Transferring instance" progress line. */
export const progressWait = (label: string) => (client: LxdClient, op: Operation) =>
  waitWithProgress(client, op, new Progress(process.stdout, !isTerminal(1)), { label: (text) => `${label}: ${text}` });

export interface CrossCopyOptions {
  instanceOnly: boolean;
  stateless: boolean;
  refresh?: boolean;
  mode: MigrationMode;
  config: Record<string, string>;
  profiles?: string[];
  storage?: string;
  ephemeral?: boolean;
  /** A move keeps the volatile keys (identity, MAC addresses) as LXD's `move` does. */
  keepVolatile: boolean;
  /** The project it lands in on the target (lxc's --target-project); else the client's. */
  targetProject?: string;
}

/** Copies `src` (instance or snapshot) on one server to `dst` on another; true when it went live
 *  (CRIU: a running instance without --stateless), which leaves the source stopped with its
 *  checkpoint: a copy starts it again (it resumes), a move deletes it. */
export async function copyAcross(source: Side, srcRef: string, target: Side, dst: string, opts: CrossCopyOptions): Promise<boolean> {
  const [inst, snap] = splitSnapshot(srcRef);
  const entry = snap === undefined ? await source.client.instance(inst) : await source.client.get<Record<string, any>>(snapshotPath(inst, snap));
  const running = snap === undefined && (entry as { status?: string }).status === "Running";
  const live = running && !opts.stateless;
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries((entry.config ?? {}) as Record<string, string>)) {
    // Volatile keys describe the source instance; only the base image travels with a copy.
    if (!k.startsWith("volatile.") || opts.keepVolatile || k === "volatile.base_image") config[k] = v;
  }
  delete config["volatile.last_state.power"];
  Object.assign(config, opts.config);
  const devices: Devices = { ...(entry.devices ?? {}) };
  if (opts.storage) {
    const rootName = Object.keys(devices).find((k) => devices[k]!.type === "disk" && devices[k]!.path === "/") ?? "root";
    devices[rootName] = { ...(devices[rootName] ?? { type: "disk", path: "/" }), pool: opts.storage };
  }
  const instanceOnly = snap === undefined && opts.instanceOnly;
  await migrate(source, target, {
    sourcePath: snap === undefined ? `/1.0/instances/${enc(inst)}` : snapshotPath(inst, snap),
    sourceBody: { name: dst, live, instance_only: instanceOnly },
    targetPath: opts.targetProject ? `/1.0/instances?project=${enc(opts.targetProject)}` : "/1.0/instances",
    targetBody: {
      name: dst, config, devices, profiles: opts.profiles ?? entry.profiles ?? [], architecture: entry.architecture,
      description: entry.description ?? "", ephemeral: opts.ephemeral ?? entry.ephemeral ?? false,
      source: { live, instance_only: instanceOnly, refresh: opts.refresh ?? false },
    },
    mode: opts.mode,
    wait: progressWait("Transferring instance"),
  });
  return live;
}

export class CopyCommand extends LxdCommand {
  static override paths = [["copy"], ["cp"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Copy instances within or between servers",
    details: "The copy gets the source's config, devices and profiles (or a snapshot's, when copying one), a new identity, and the source's snapshots unless --instance-only. Between servers (REMOTE: prefixes) LXD's migration API moves it: --mode pull (the target fetches), push (the source sends) or relay (through this client); a running instance is copied live (CRIU: its processes too; it pauses meanwhile) unless --stateless.",
    examples: [
      ["Copy c1 to the remote other", "$0 copy c1 other:c1"],
      ["Copy c1 (and its snapshots) to c2", "$0 copy c1 c2"],
      ["Make c3 from c1's snapshot snap0", "$0 copy c1/snap0 c3"],
      ["A throw-away copy that goes away when stopped", "$0 copy c1 tmp1 --ephemeral --instance-only"],
      ["Copy c1 to the storage pool fast", "$0 copy c1 c2 --storage fast"],
      ["Bring the earlier copy other:c1 up to date", "$0 copy c1 other:c1 --refresh"],
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
  mode = Option.String("--mode", "pull", { description: "Transfer mode between servers: pull, push or relay" });
  stateless = Option.Boolean("--stateless", false, { description: "Copy a running instance stateless (else live, with CRIU)" });
  refresh = Option.Boolean("--refresh", false, { description: "Update an existing copy: only the snapshots it lacks, then the instance's content" });
  targetProject = Option.String("--target-project", { description: "Copy to a project different from the source" });

  protected async run(): Promise<void> {
    const config = loadConfig();
    const [srcRemote, source] = splitRemote(this.source, config);
    const [dstRemote, target] = this.target === undefined ? [srcRemote, undefined] : splitRemote(this.target, config);
    if (srcRemote !== dstRemote) {
      if (!target) throw new Error("A destination name is required when copying to another server");
      if (target.includes("/")) throw new Error("The destination must be an instance name, not a snapshot");
      if (this.noProfiles && this.refresh) throw new Error("--no-profiles cannot be used with --refresh");
      const from = remoteSide(srcRemote);
      const live = await copyAcross(from, source, remoteSide(dstRemote), target, {
        instanceOnly: this.instanceOnly, stateless: this.stateless, refresh: this.refresh, mode: parseMode(this.mode),
        config: parseKeyValues(this.config), profiles: this.noProfiles ? [] : this.profiles.length ? this.profiles : undefined,
        storage: this.storage, ephemeral: this.ephemeral || undefined, keepVolatile: false, targetProject: this.targetProject,
      });
      if (live) await from.client.setInstanceState(source, { action: "start" });
      else if (this.start) {
        const into = this.targetProject ? `?project=${enc(this.targetProject)}` : "";
        await remoteSide(dstRemote).client.run("PUT", `/1.0/instances/${enc(target)}/state${into}`, { action: "start", timeout: -1, force: false, stateful: false });
      }
      return;
    }
    this.source = source;
    this.target = target;
    this.lazyRemote = srcRemote;
    const [, snap] = splitSnapshot(this.source);
    if (snap !== undefined && this.instanceOnly) throw new Error("--instance-only can't be used when copying a snapshot");
    if (this.target?.includes("/")) throw new Error("The destination must be an instance name, not a snapshot");
    // Without instance_create_start (LXD 5.0) the server ignores `start`: start it afterwards.
    const serverStarts = this.start && await this.client.hasExtension("instance_create_start");
    const body: Record<string, unknown> = {
      name: this.target ?? "",
      source: { type: "copy", source: this.source, instance_only: this.instanceOnly, ...this.refresh ? { refresh: true } : {} },
      ephemeral: this.ephemeral,
      start: serverStarts,
    };
    // As lxc does, the request carries the source's config, devices and profiles (LXD 5.0 does
    // not take them from the source itself) without volatile keys; extra keys go on top.
    const src = await sourceOf(this.client, this.source);
    body.profiles = this.noProfiles ? [] : this.profiles.length ? this.profiles : src.profiles;
    const own = Object.fromEntries(Object.entries(src.config).filter(([k]) => !k.startsWith("volatile.")));
    body.config = { ...own, ...parseKeyValues(this.config) };
    body.devices = this.storage ? await devicesOnPool(this.client, this.source, this.storage) : src.devices;
    // Into another project: the request is that project's, naming the source's (lxc's --target-project).
    const into = this.targetProject ? `?project=${encodeURIComponent(this.targetProject)}` : "";
    if (this.targetProject) (body.source as Record<string, unknown>).project = currentProject();
    const op = await this.client.run("POST", `/1.0/instances${into}`, body);
    if (this.start && !serverStarts) {
      // The server picked the name when none was given; the operation's resources say which.
      const name = this.target || String((op?.resources?.instances ?? [])[0] ?? "").split("?")[0]!.split("/").pop();
      const state = { action: "start", timeout: -1, force: false, stateful: false };
      if (name) await this.client.run("PUT", `/1.0/instances/${encodeURIComponent(name)}/state${into}`, state);
    }
  }
}

export class MoveCommand extends LxdCommand {
  static override paths = [["move"], ["mv"], ["rename"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Move instances within or between servers, or rename instances and snapshots",
    examples: [
      ["Move c1 to the remote other (copy, then delete)", "$0 move c1 other:c1"],
      ["Move the running web to other live (CRIU on both servers)", "$0 move web other:web"],
      ["Move the running web to other: stopped, moved, started there", "$0 move web other:web --stateless"],
      ["Rename the stopped instance c1 to c2", "$0 move c1 c2"],
      ["Rename c1's snapshot snap0 to clean", "$0 move c1/snap0 c1/clean"],
      ["Move the stopped c1 (and its snapshots) to the storage pool fast", "$0 move c1 --storage fast"],
      ["Move c1 to the cluster member m2 (live if it runs)", "$0 move c1 --target m2"],
      ["Move the stopped c1 into the project p1", "$0 move c1 --target-project p1"],
    ],
  });

  source = Option.String({ name: "source" });
  target = Option.String({ name: "destination", required: false });
  storage = Option.String("-s,--storage", { description: "Storage pool name" });
  mode = Option.String("--mode", "pull", { description: "Transfer mode between servers: pull, push or relay" });
  stateless = Option.Boolean("--stateless", false, { description: "Move a running instance stateless: stopped, moved, started again" });
  instanceOnly = Option.Boolean("--instance-only", false, { description: "Move the instance without its snapshots" });
  config = Option.Array("-c,--config", [], { description: "Config key/value to apply to the target instance" });
  profiles = Option.Array("-p,--profile", [], { description: "Profile to apply to the target instance" });
  noProfiles = Option.Boolean("--no-profiles", false, { description: "Create the target instance with no profiles applied" });
  member = Option.String("--target", { description: "Cluster member to move the instance to" });
  targetProject = Option.String("--target-project", { description: "Move to a project different from the source" });

  protected async run(): Promise<void> {
    const config = loadConfig();
    const [srcRemote, source] = splitRemote(this.source, config);
    const [dstRemote, target] = this.target === undefined ? [srcRemote, undefined] : splitRemote(this.target, config);
    if (srcRemote !== dstRemote) return this.across(srcRemote, source, dstRemote, target || source);
    this.source = source;
    this.target = target;
    this.lazyRemote = srcRemote;
    if (this.member) {
      // Within a cluster the members move it themselves: a running one live (CRIU), or with
      // --stateless stopped, moved and started there.
      await this.client.run("POST", `/1.0/instances/${enc(source)}?target=${enc(this.member)}`, { name: target || source, migration: true, live: !this.stateless });
      return;
    }
    if (this.targetProject) return this.toProject(this.targetProject);
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

  /** Between servers: copy, then delete the source. A running instance (--stateless) is stopped
   *  for the copy and started on the target; a failed copy starts it again where it was. */
  private async across(srcRemote: string, source: string, dstRemote: string, target: string): Promise<void> {
    if (source.includes("/") || target.includes("/")) throw new Error("Only instances can be moved between servers");
    const from = remoteSide(srcRemote);
    const to = remoteSide(dstRemote);
    const running = (await from.client.instance(source)).status === "Running";
    // Live unless --stateless: the source checkpoints itself, the target restores; a failure
    // resumes the source on its server, success leaves it stopped for the delete below.
    const live = running && !this.stateless;
    if (running && !live) await from.client.setInstanceState(source, { action: "stop", timeout: 30 });
    try {
      await copyAcross(from, source, to, target, {
        instanceOnly: this.instanceOnly, stateless: !live, mode: parseMode(this.mode), config: parseKeyValues(this.config),
        profiles: this.noProfiles ? [] : this.profiles.length ? this.profiles : undefined, storage: this.storage, keepVolatile: true,
      });
    } catch (err) {
      if (running && !live) await from.client.setInstanceState(source, { action: "start" }).catch(() => {});
      throw err;
    }
    await from.client.deleteInstance(source);
    if (running && !live) await to.client.setInstanceState(target, { action: "start" });
  }

  /** Into another project of the same server (instance_project_move, as lxc does), with -s also
   *  onto another pool; the server copies, deletes the source and renames. */
  private async toProject(project: string): Promise<void> {
    const name = this.target ?? this.source;
    if (this.source.includes("/") || name.includes("/")) throw new Error("Only instances can be moved between projects");
    if (!(await this.client.hasExtension("instance_project_move"))) throw new Error("The server can't move instances between projects");
    await this.client.run("POST", `/1.0/instances/${enc(this.source)}`, { name, migration: true, project, pool: this.storage, instance_only: this.instanceOnly });
  }

  /** Between pools: on the server where it can (instance_pool_move, as lxc does), else copy (with
   *  snapshots) under a temporary name, delete the source, rename. */
  private async toPool(pool: string): Promise<void> {
    const name = this.target ?? this.source;
    if (this.source.includes("/") || name.includes("/")) throw new Error("Only instances can be moved between storage pools");
    if (await this.client.hasExtension("instance_pool_move")) {
      await this.client.run("POST", `/1.0/instances/${enc(this.source)}`, { name, migration: true, pool, instance_only: this.instanceOnly });
      return;
    }
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
