// `profile list|show|create|delete|set|unset|get|edit|device add|device remove`.
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import type { Profile } from "../api/profile.ts";
import { LxdCommand, parseKeyValues, parseSetArgs, unsetKey } from "./base.ts";
import { readYamlStdin, stringMaps } from "./config.ts";
import { parseFormat, renderTable, toYaml } from "./format.ts";

const profilePut = (p: Profile) => ({ config: p.config ?? {}, description: p.description ?? "", devices: p.devices ?? {} });

/** Read-modify-write of a profile guarded by its ETag. */
async function editProfile(client: LxdClient, name: string, change: (p: ReturnType<typeof profilePut>) => void): Promise<void> {
  const { profile, etag } = await client.profileWithEtag(name);
  const put = profilePut(profile);
  change(put);
  await client.put(`/1.0/profiles/${encodeURIComponent(name)}`, put, { etag });
}

export class ProfileListCommand extends LxdCommand {
  static override paths = [["profile", "list"], ["profile", "ls"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "List profiles",
    examples: [["All profiles with their use count", "$0 profile list"]],
  });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const profiles = (await this.client.profiles()).sort((a, b) => (a.name < b.name ? -1 : 1));
    const rows = profiles.map((p) => [p.name, p.description ?? "", String(p.used_by?.length ?? 0)]);
    this.context.stdout.write(renderTable(format, ["NAME", "DESCRIPTION", "USED BY"], rows, profiles));
  }
}

export class ProfileShowCommand extends LxdCommand {
  static override paths = [["profile", "show"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Show profile configurations",
    examples: [["The default profile as YAML", "$0 profile show default"]],
  });

  name = Option.String({ name: "profile" });

  protected async run(): Promise<void> {
    const p = await this.client.profile(this.name);
    this.context.stdout.write(toYaml({ ...profilePut(p), name: p.name, used_by: p.used_by ?? [] }));
  }
}

export class ProfileCreateCommand extends LxdCommand {
  static override paths = [["profile", "create"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Create profiles",
    examples: [["An empty profile", "$0 profile create web"]],
  });

  name = Option.String({ name: "profile" });
  description = Option.String("--description", "", { description: "Profile description" });

  protected async run(): Promise<void> {
    await this.client.post("/1.0/profiles", { name: this.name, description: this.description, config: {}, devices: {} });
    this.print(`Profile ${this.name} created`);
  }
}

export class ProfileDeleteCommand extends LxdCommand {
  static override paths = [["profile", "delete"], ["profile", "rm"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Delete profiles",
    examples: [["Delete an unused profile", "$0 profile delete web"]],
  });

  names = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    for (const name of this.names) {
      await this.client.delete(`/1.0/profiles/${encodeURIComponent(name)}`);
      this.print(`Profile ${name} deleted`);
    }
  }
}

export class ProfileGetCommand extends LxdCommand {
  static override paths = [["profile", "get"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Get values for profile configuration keys",
    examples: [["A profile's memory limit", "$0 profile get default limits.memory"]],
  });

  name = Option.String({ name: "profile" });
  key = Option.String({ name: "key" });

  protected async run(): Promise<void> {
    this.print((await this.client.profile(this.name)).config?.[this.key] ?? "");
  }
}

export class ProfileSetCommand extends LxdCommand {
  static override paths = [["profile", "set"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Set profile configuration keys",
    examples: [
      ["Limit memory for every instance using the profile", "$0 profile set default limits.memory 512MiB"],
      ["Several keys", "$0 profile set web limits.cpu=1 user.tier=front"],
    ],
  });

  name = Option.String({ name: "profile" });
  args = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    const values = parseSetArgs(this.args);
    await editProfile(this.client, this.name, (p) => Object.assign(p.config, values));
  }
}

export class ProfileUnsetCommand extends LxdCommand {
  static override paths = [["profile", "unset"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Unset profile configuration keys",
    examples: [["Drop a memory limit", "$0 profile unset default limits.memory"]],
  });

  name = Option.String({ name: "profile" });
  key = Option.String({ name: "key" });

  protected async run(): Promise<void> {
    await editProfile(this.client, this.name, (p) => {
      unsetKey(p.config, this.key);
    });
  }
}

export class ProfileEditCommand extends LxdCommand {
  static override paths = [["profile", "edit"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Replace a profile with YAML read from stdin",
    examples: [["Apply an edited profile", "$0 profile show default > p.yaml && $0 profile edit default < p.yaml"]],
  });

  name = Option.String({ name: "profile" });

  protected async run(): Promise<void> {
    const doc = stringMaps(await readYamlStdin(this.context.stdin));
    const { etag } = await this.client.profileWithEtag(this.name);
    await this.client.put(`/1.0/profiles/${encodeURIComponent(this.name)}`, {
      config: doc.config ?? {}, description: doc.description ?? "", devices: doc.devices ?? {},
    }, { etag });
  }
}

export class ProfileDeviceAddCommand extends LxdCommand {
  static override paths = [["profile", "device", "add"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Add devices to a profile",
    examples: [["Root disk on the default pool", "$0 profile device add default root disk path=/ pool=default"]],
  });

  name = Option.String({ name: "profile" });
  device = Option.String({ name: "device" });
  type = Option.String({ name: "type" });
  props = Option.Rest();

  protected async run(): Promise<void> {
    await editProfile(this.client, this.name, (p) => {
      if (p.devices[this.device]) throw new Error(`The device already exists`);
      p.devices[this.device] = { ...parseKeyValues(this.props), type: this.type };
    });
    this.print(`Device ${this.device} added to ${this.name}`);
  }
}

export class ProfileDeviceRemoveCommand extends LxdCommand {
  static override paths = [["profile", "device", "remove"], ["profile", "device", "rm"]];
  static override usage = Command.Usage({
    category: "Profiles",
    description: "Remove devices from a profile",
    examples: [["Remove the eth0 device", "$0 profile device remove default eth0"]],
  });

  name = Option.String({ name: "profile" });
  devices = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    await editProfile(this.client, this.name, (p) => {
      for (const d of this.devices) {
        if (!p.devices[d]) throw new Error(`Device doesn't exist: ${d}`);
        delete p.devices[d];
      }
    });
    this.print(`Device ${this.devices.join(", ")} removed from ${this.name}`);
  }
}
