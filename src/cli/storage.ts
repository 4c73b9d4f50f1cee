// `storage list|show|create|set|unset|delete|info`: storage pools.
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import type { StoragePool } from "../api/storage.ts";
import { LxdCommand, parseKeyValues, parseSetArgs } from "./base.ts";
import { parseFormat, renderTable, toYaml } from "./format.ts";

const poolPath = (name: string, target?: string) => `/1.0/storage-pools/${encodeURIComponent(name)}${targetQuery(target)}`;
const targetQuery = (target?: string) => (target ? `?target=${encodeURIComponent(target)}` : "");
const targetOption = () => Option.String("--target", { description: "Cluster member name" });

export class StorageListCommand extends LxdCommand {
  static override paths = [["storage", "list"], ["storage", "ls"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "List available storage pools",
    examples: [["All pools", "$0 storage list"]],
  });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const pools = (await this.client.storagePools()).sort((a, b) => (a.name < b.name ? -1 : 1));
    const rows = pools.map((p) => [
      p.name, p.driver, p.config?.source ?? "", p.description ?? "", String(p.used_by?.length ?? 0), (p.status ?? "").toUpperCase(),
    ]);
    this.context.stdout.write(renderTable(format, ["NAME", "DRIVER", "SOURCE", "DESCRIPTION", "USED BY", "STATE"], rows, pools));
  }
}

export class StorageShowCommand extends LxdCommand {
  static override paths = [["storage", "show"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Show storage pool configurations",
    examples: [["The default pool", "$0 storage show default"]],
  });

  name = Option.String({ name: "pool" });
  target = targetOption();

  protected async run(): Promise<void> {
    const p = await this.client.get<StoragePool>(poolPath(this.name, this.target));
    this.context.stdout.write(toYaml({
      config: p.config ?? {}, description: p.description ?? "", name: p.name, driver: p.driver,
      used_by: p.used_by ?? [], status: p.status, locations: p.locations ?? [],
    }));
  }
}


export class StorageCreateCommand extends LxdCommand {
  static override paths = [["storage", "create"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Create storage pools",
    details: "Drivers: dir (a directory under LXD_DIR/storage-pools, or an empty one given as source=PATH); btrfs (a loop file of size=SIZE under LXD_DIR/disks, default 5GiB, or an empty directory on a btrfs filesystem given as source=PATH).",
    examples: [
      ["A btrfs pool on a 2 GiB loop file", "$0 storage create p1 btrfs size=2GiB"],
      ["A dir pool under LXD_DIR", "$0 storage create fast dir"],
      ["A dir pool on an existing empty directory", "$0 storage create data dir source=/srv/lxd-data"],
      ["On a cluster: each member's source, then the pool everywhere", "$0 storage create data dir source=/srv/a --target m1\n$0 storage create data dir source=/srv/b --target m2\n$0 storage create data dir"],
    ],
  });

  name = Option.String({ name: "pool" });
  driver = Option.String({ name: "driver" });
  config = Option.Rest({ name: "key=value" });
  description = Option.String("--description", "", { description: "Description of the storage pool" });
  target = targetOption();

  protected async run(): Promise<void> {
    await this.client.post(`/1.0/storage-pools${targetQuery(this.target)}`, {
      name: this.name, driver: this.driver, description: this.description, config: parseKeyValues(this.config),
    });
    this.print(this.target ? `Storage pool ${this.name} pending on member ${this.target}` : `Storage pool ${this.name} created`);
  }
}

export class StorageDeleteCommand extends LxdCommand {
  static override paths = [["storage", "delete"], ["storage", "rm"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Delete storage pools (refused while instances or profiles use them)",
    examples: [["Delete the pool fast", "$0 storage delete fast"]],
  });

  name = Option.String({ name: "pool" });

  protected async run(): Promise<void> {
    await this.client.delete(poolPath(this.name));
    this.print(`Storage pool ${this.name} deleted`);
  }
}

export class StorageSetCommand extends LxdCommand {
  static override paths = [["storage", "set"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Set storage pool configuration keys",
    examples: [["Set a key", "$0 storage set default user.note hello"], ["Several at once", "$0 storage set default user.a=1 user.b=2"]],
  });

  name = Option.String({ name: "pool" });
  args = Option.Rest({ required: 1 });
  target = targetOption();

  protected async run(): Promise<void> {
    const values = parseSetArgs(this.args);
    await setPoolConfig(this.client, poolPath(this.name, this.target), values);
  }
}

export class StorageUnsetCommand extends LxdCommand {
  static override paths = [["storage", "unset"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Unset storage pool configuration keys",
    examples: [["Unset a key", "$0 storage unset default user.note"]],
  });

  name = Option.String({ name: "pool" });
  key = Option.String({ name: "key" });
  target = targetOption();

  protected async run(): Promise<void> {
    await setPoolConfig(this.client, poolPath(this.name, this.target), { [this.key]: "" });
  }
}

export class StorageGetCommand extends LxdCommand {
  static override paths = [["storage", "get"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Get values for storage pool configuration keys",
    examples: [["The default snapshot expiry of new volumes", "$0 storage get default volume.snapshots.expiry"]],
  });

  name = Option.String({ name: "pool" });
  key = Option.String({ name: "key" });
  target = targetOption();

  protected async run(): Promise<void> {
    const pool = await this.client.get<StoragePool>(poolPath(this.name, this.target));
    this.print(pool.config?.[this.key] ?? "");
  }
}

/** Reads the pool (at `path`: with its target member) with its ETag and PUTs the changed config back ("" removes a key). */
async function setPoolConfig(client: LxdClient, path: string, values: Record<string, string>): Promise<void> {
  const reply = await client.request<StoragePool>("GET", path);
  const config = { ...(reply.metadata.config ?? {}) };
  for (const [k, v] of Object.entries(values)) {
    if (v === "") delete config[k];
    else config[k] = v;
  }
  await client.put(path, { description: reply.metadata.description ?? "", config }, { etag: reply.etag });
}

export class StorageInfoCommand extends LxdCommand {
  static override paths = [["storage", "info"]];
  static override usage = Command.Usage({
    category: "Storage",
    description: "Show storage pool information: driver, description and what uses it",
    examples: [["The default pool", "$0 storage info default"]],
  });

  name = Option.String({ name: "pool" });

  protected async run(): Promise<void> {
    const p = await this.client.storagePool(this.name);
    const usedBy: Record<string, string[]> = {};
    for (const url of p.used_by ?? []) {
      const [, kind, ...rest] = url.split("?")[0]!.split("/").filter(Boolean);
      (usedBy[kind ?? "other"] ??= []).push(decodeURIComponent(rest.join("/")));
    }
    this.context.stdout.write(toYaml({
      info: { description: p.description ?? "", driver: p.driver, name: p.name, status: p.status ?? "" },
      used_by: usedBy,
    }));
  }
}
