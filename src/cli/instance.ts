// Instance lifecycle: launch, init (create; or `init --auto` for the server), start, stop, restart,
// pause, delete.
import { Command, Option } from "clipanion";
import type { InstancesPost } from "../api/instance.ts";
import type { LxdClient } from "../client/client.ts";
import { LxdError } from "../client/errors.ts";
import type { Devices } from "../api/instance.ts";
import type { Operation } from "../api/operation.ts";
import { waitForDownload } from "./progress.ts";
import { remoteImageSource, splitImageRef } from "./image-remote.ts";
import { forEachName, LxdCommand, parseKeyValues } from "./base.ts";
import { readStdinText } from "./config.ts";
import { initServer } from "./daemon.ts";
import { randomName } from "../instance/names.ts";
import { snapshotPath, splitSnapshot } from "./snapshot.ts";

export interface CreateArgs {
  image: string;
  name?: string;
  ephemeral: boolean;
  config: string[];
  profiles: string[];
  noProfiles: boolean;
  storage?: string;
  start: boolean;
  /** Cluster member to create it on (else placement picks one). */
  target?: string;
}

/** Builds the POST /1.0/instances body (image already resolved to a fingerprint). */
export function instancesPost(args: CreateArgs, name: string, fingerprint: string): InstancesPost {
  if (args.noProfiles && args.profiles.length) throw new Error("--no-profiles cannot be combined with --profile");
  const devices: Devices = {};
  if (args.storage) devices.root = { type: "disk", path: "/", pool: args.storage };
  const body: InstancesPost = {
    name,
    type: "container",
    source: { type: "image", fingerprint },
    config: parseKeyValues(args.config),
    devices,
    ephemeral: args.ephemeral,
    start: args.start,
  };
  if (args.noProfiles) body.profiles = [];
  else if (args.profiles.length) body.profiles = args.profiles;
  return body;
}

/** Creates (and with `start`, starts) an instance, printing lxc's "Creating"/"Starting" lines.
 *  An image on another remote (`images:alpine`) is downloaded by the daemon, with progress. A
 *  server without `instance_create_start` (LXD 5.0) ignores `start` in the request: then the
 *  instance is started separately, as lxc does. */
export async function createInstance(client: LxdClient, args: CreateArgs, print: (s: string) => void, out?: NodeJS.WriteStream): Promise<string> {
  const name = args.name || randomName();
  print(`Creating ${name}`);
  const source = remoteImageSource(args.image);
  // The extension check and a local image's lookup are independent round trips: both at once.
  // "srv:busybox" on srv itself: the prefix names the server the command already talks to.
  const [serverStarts, image] = await Promise.all([
    args.start && client.hasExtension("instance_create_start"),
    source ? undefined : client.resolveImage(splitImageRef(args.image).name),
  ]);
  const create = { ...args, start: serverStarts };
  if (source) {
    const reply = await client.post<Operation>(`/1.0/instances${args.target ? `?target=${encodeURIComponent(args.target)}` : ""}`, { ...instancesPost(create, name, ""), source });
    if (reply.type === "async") await waitForDownload(client, reply.metadata, out ?? (process.stdout as NodeJS.WriteStream));
  } else {
    await client.createInstance(instancesPost(create, name, image!.fingerprint), args.target);
  }
  if (args.start) print(`Starting ${name}`);
  if (args.start && !serverStarts) await client.setInstanceState(name, { action: "start", timeout: -1, force: false, stateful: false });
  return name;
}

abstract class CreateCommand extends LxdCommand {
  ephemeral = Option.Boolean("-e,--ephemeral", false, { description: "Ephemeral instance (deleted when stopped)" });
  config = Option.Array("-c,--config", [], { description: "Config key/value to apply to the new instance (key=value)" });
  profiles = Option.Array("-p,--profile", [], { description: "Profile to apply to the new instance" });
  noProfiles = Option.Boolean("--no-profiles", false, { description: "Create the instance with no profiles applied" });
  storage = Option.String("-s,--storage", { description: "Storage pool name for the root disk" });
  target = Option.String("--target", { description: "Cluster member to create the instance on" });

  protected createArgs(image: string, name: string | undefined, start: boolean): CreateArgs {
    return {
      image, name, start, ephemeral: this.ephemeral, config: this.config, profiles: this.profiles,
      noProfiles: this.noProfiles, storage: this.storage, target: this.target,
    };
  }
}

export class LaunchCommand extends CreateCommand {
  static override paths = [["launch"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Create and start instances from images",
    details: "IMAGE is an image alias or fingerprint. Without NAME a random name is picked.",
    examples: [
      ["Create and start a container named c1 from the busybox image", "$0 launch busybox c1"],
      ["Ephemeral container with a memory limit", "$0 launch busybox c2 --ephemeral -c limits.memory=64MiB"],
    ],
  });

  image = Option.String({ name: "image" });
  name = Option.String({ name: "name", required: false });

  protected async run(): Promise<void> {
    await createInstance(this.client, this.createArgs(this.image, this.name, true), (s) => this.print(s), this.context.stdout as NodeJS.WriteStream);
  }
}

export class InitCommand extends CreateCommand {
  static override paths = [["init"], ["create"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Create instances from images, or configure the daemon (--auto)",
    details: "With an IMAGE, creates an instance without starting it. With `--auto` (or no image) it prepares the server like `lxd init --auto`: a `default` storage pool and a root disk in the default profile.",
    examples: [
      ["Create (not start) a container", "$0 init busybox c1"],
      ["Non-interactive server setup with a dir storage pool", "$0 init --auto --storage-backend dir"],
      ["Apply a preseed (LXD's YAML schema)", "cat preseed.yaml | $0 init --preseed"],
      ["Print the current setup as a preseed", "$0 init --dump"],
      ["Join a cluster, answering LXD's questions", "$0 init"],
    ],
  });

  auto = Option.Boolean("--auto", false, { description: "Automatic (non-interactive) server setup" });
  minimal = Option.Boolean("--minimal", false, { description: "Minimal server setup (same as --auto here)" });
  storageBackend = Option.String("--storage-backend", "dir", { description: "Storage backend for the default pool (dir or btrfs)" });
  networkAddress = Option.String("--network-address", { description: "Address to bind the HTTPS API to" });
  networkPort = Option.String("--network-port", { description: "Port to bind the HTTPS API to (default 8443)" });
  preseed = Option.Boolean("--preseed", false, { description: "Apply a YAML preseed (LXD's schema) read from stdin" });
  dump = Option.Boolean("--dump", false, { description: "Print the server's current setup as a preseed" });
  image = Option.String({ name: "image", required: false });
  name = Option.String({ name: "name", required: false });

  protected async run(): Promise<void> {
    if (this.preseed || this.dump) {
      if (this.image || this.auto || this.minimal || (this.preseed && this.dump)) throw new Error("--preseed and --dump take no other arguments");
      const { applyPreseed, dumpPreseed } = await import("./preseed.ts");
      if (this.dump) return void this.context.stdout.write(await dumpPreseed(this.client));
      return applyPreseed(this.client, await readStdinText(this.context.stdin));
    }
    if (this.image && !this.auto && !this.minimal) {
      await createInstance(this.client, this.createArgs(this.image, this.name, false), (s) => this.print(s), this.context.stdout as NodeJS.WriteStream);
      return;
    }
    if (this.image) throw new Error("--auto and --minimal take no image or instance name");
    if (!this.auto && !this.minimal) {
      const { interactiveInit } = await import("./init-interactive.ts");
      return interactiveInit(this.client, (s) => this.context.stdout.write(s));
    }
    await initServer(this.client, {
      storageBackend: this.storageBackend,
      networkAddress: this.networkAddress,
      networkPort: this.networkPort ? Number(this.networkPort) : undefined,
    });
  }
}

export class StartCommand extends LxdCommand {
  static override paths = [["start"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Start instances",
    examples: [["Start two containers", "$0 start c1 c2"]],
  });

  names = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    await forEachName(this.names, "start", this.context.stderr, async (name) => {
      const current = await this.client.instance(name);
      // A frozen instance is resumed rather than started, as lxc does.
      const action = current.status === "Frozen" ? "unfreeze" : "start";
      await this.client.setInstanceState(name, { action, timeout: -1, force: false, stateful: false });
    });
  }
}

abstract class StopLikeCommand extends LxdCommand {
  names = Option.Rest({ required: 1 });
  force = Option.Boolean("-f,--force", false, { description: "Force the instance to stop" });
  timeout = Option.String("--timeout", "-1", { description: "Time to wait for the instance to shutdown cleanly (seconds)" });

  protected async act(action: "stop" | "restart", stateful = false): Promise<void> {
    const timeout = Number(this.timeout);
    if (!Number.isInteger(timeout)) throw new Error(`Invalid --timeout: ${this.timeout}`);
    await forEachName(this.names, action, this.context.stderr, async (name) => {
      await this.client.setInstanceState(name, { action, timeout, force: this.force, stateful });
    });
  }
}

export class StopCommand extends StopLikeCommand {
  static override paths = [["stop"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Stop instances",
    examples: [
      ["Stop cleanly, waiting up to 30 seconds", "$0 stop c1 --timeout 30"],
      ["Kill immediately", "$0 stop c1 --force"],
    ],
  });

  stateful = Option.Boolean("--stateful", false, { description: "Store the instance state (needs CRIU)" });

  protected run(): Promise<void> {
    return this.act("stop", this.stateful);
  }
}

export class RestartCommand extends StopLikeCommand {
  static override paths = [["restart"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Restart instances",
    examples: [["Restart a container, killing it if needed", "$0 restart c1 --force"]],
  });

  protected run(): Promise<void> {
    return this.act("restart");
  }
}

export class PauseCommand extends LxdCommand {
  static override paths = [["pause"], ["freeze"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Pause (freeze) instances",
    examples: [["Freeze every process of c1; resume with `lxd start c1`", "$0 pause c1"]],
  });

  names = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    await forEachName(this.names, "pause", this.context.stderr, async (name) => {
      await this.client.setInstanceState(name, { action: "freeze", timeout: -1, force: false, stateful: false });
    });
  }
}

export class DeleteCommand extends LxdCommand {
  static override paths = [["delete"], ["rm"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Delete instances",
    examples: [
      ["Delete a stopped container", "$0 delete c1"],
      ["Stop (forcefully) and delete a running container", "$0 delete c1 --force"],
      ["Delete the snapshot snap0 of c1", "$0 delete c1/snap0"],
    ],
  });

  names = Option.Rest({ required: 1 });
  force = Option.Boolean("-f,--force", false, { description: "Force the removal of running instances" });

  protected async run(): Promise<void> {
    await forEachName(this.names, "delete", this.context.stderr, async (name) => {
      const [instance, snapshot] = splitSnapshot(name);
      if (snapshot !== undefined) {
        await this.client.run("DELETE", snapshotPath(instance, snapshot));
        return;
      }
      const current = await this.client.instance(name);
      if (current.status !== "Stopped") {
        if (!this.force) throw new Error("The instance is currently running, stop it first or pass --force");
        await this.client.setInstanceState(name, { action: "stop", timeout: -1, force: true, stateful: false });
      }
      try {
        await this.client.deleteInstance(name);
      } catch (err) {
        // An ephemeral instance deletes itself once stopped and may already be gone.
        if (current.ephemeral && current.status !== "Stopped" && err instanceof LxdError && err.notFound) return;
        throw err;
      }
    });
  }
}
