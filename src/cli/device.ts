// `config device add|remove|list|show`: devices of one instance (its own, not those from profiles).
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import type { Instance } from "../api/instance.ts";
import { LxdCommand, parseKeyValues } from "./base.ts";
import { toYaml } from "./format.ts";

type Devices = Record<string, Record<string, string>>;

/** Read-modify-write of the instance's devices under its ETag; a running container hot-plugs the change. */
export async function editDevices(client: LxdClient, name: string, change: (devices: Devices) => void): Promise<void> {
  const { instance, etag } = await client.instanceWithEtag(name);
  const devices: Devices = structuredClone(instance.devices ?? {});
  change(devices);
  await client.updateInstance(name, {
    architecture: instance.architecture, config: instance.config, devices, ephemeral: instance.ephemeral,
    profiles: instance.profiles, description: instance.description,
  } as Parameters<LxdClient["updateInstance"]>[1], etag);
}

const category = "Configuration";

export class ConfigDeviceAddCommand extends LxdCommand {
  static override paths = [["config", "device", "add"]];
  static override usage = Command.Usage({
    category, description: "Add instance devices",
    details: "Added to a running container right away (hot-plug).",
    examples: [["A nic on the default bridge", "$0 config device add c1 eth1 nic network=lxdbr0 name=eth1"]],
  });

  name = Option.String({ name: "instance" });
  device = Option.String({ name: "device" });
  type = Option.String({ name: "type" });
  props = Option.Rest();

  protected async run(): Promise<void> {
    await editDevices(this.client, this.name, (devices) => {
      if (devices[this.device]) throw new Error(`The device already exists`);
      devices[this.device] = { ...parseKeyValues(this.props), type: this.type };
    });
    this.print(`Device ${this.device} added to ${this.name}`);
  }
}

export class ConfigDeviceRemoveCommand extends LxdCommand {
  static override paths = [["config", "device", "remove"], ["config", "device", "rm"]];
  static override usage = Command.Usage({
    category, description: "Remove instance devices",
    examples: [["Unplug a nic", "$0 config device remove c1 eth1"]],
  });

  name = Option.String({ name: "instance" });
  devices = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    await editDevices(this.client, this.name, (devices) => {
      for (const d of this.devices) {
        if (!devices[d]) throw new Error(`Device doesn't exist: ${d} (devices from profiles are changed in the profile)`);
        delete devices[d];
      }
    });
    this.print(`Device ${this.devices.join(", ")} removed from ${this.name}`);
  }
}

export class ConfigDeviceListCommand extends LxdCommand {
  static override paths = [["config", "device", "list"], ["config", "device", "ls"]];
  static override usage = Command.Usage({ category, description: "List instance devices", examples: [["Device names", "$0 config device list c1"]] });

  name = Option.String({ name: "instance" });

  protected async run(): Promise<void> {
    const inst: Instance = await this.client.instance(this.name);
    for (const name of Object.keys(inst.devices ?? {}).sort()) this.print(name);
  }
}

export class ConfigDeviceShowCommand extends LxdCommand {
  static override paths = [["config", "device", "show"]];
  static override usage = Command.Usage({ category, description: "Show full device configuration", examples: [["The instance's own devices", "$0 config device show c1"]] });

  name = Option.String({ name: "instance" });

  protected async run(): Promise<void> {
    const inst: Instance = await this.client.instance(this.name);
    this.context.stdout.write(toYaml(inst.devices ?? {}));
  }
}
