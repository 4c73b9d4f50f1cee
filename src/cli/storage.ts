// `storage list|show`: storage pools (read only).
import { Command, Option } from "clipanion";
import { LxdCommand } from "./base.ts";
import { parseFormat, renderTable, toYaml } from "./format.ts";

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

  protected async run(): Promise<void> {
    const p = await this.client.storagePool(this.name);
    this.context.stdout.write(toYaml({
      config: p.config ?? {}, description: p.description ?? "", name: p.name, driver: p.driver,
      used_by: p.used_by ?? [], status: p.status, locations: p.locations ?? [],
    }));
  }
}
