// `warning list|show|ack|delete`: conditions the daemon noticed (/1.0/warnings), as `lxc warning`.
import { Command, Option } from "clipanion";
import type { Warning } from "../api/warning.ts";
import { LxdCommand } from "./base.ts";
import { formatDate, parseFormat, renderTable, toYaml } from "./format.ts";
import type { LxdClient } from "../client/client.ts";

const category = "Warnings";

/** A full UUID or an unambiguous prefix of one. */
async function resolveUuid(client: LxdClient, ref: string): Promise<string> {
  const all = await client.get<Warning[]>("/1.0/warnings?recursion=1");
  const matches = all.filter((w) => w.uuid.startsWith(ref));
  if (matches.length === 1) return matches[0]!.uuid;
  throw new Error(matches.length ? `More than one warning matches "${ref}"` : `Warning "${ref}" not found`);
}

export class WarningListCommand extends LxdCommand {
  static override paths = [["warning", "list"], ["warning", "ls"]];
  static override usage = Command.Usage({
    category, description: "List warnings (acknowledged and resolved ones with --all)",
    examples: [["New warnings", "$0 warning list"], ["All of them, as YAML", "$0 warning list --all --format yaml"]],
  });

  all = Option.Boolean("-a,--all", false, { description: "Also list acknowledged and resolved warnings" });
  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const warnings = (await this.client.get<Warning[]>("/1.0/warnings?recursion=1")).filter((w) => this.all || w.status === "new");
    const rows = warnings.map((w) => [w.uuid, w.type, w.status.toUpperCase(), w.severity.toUpperCase(), String(w.count), w.project, formatDate(w.last_seen_at)]);
    this.context.stdout.write(renderTable(format, ["UUID", "TYPE", "STATUS", "SEVERITY", "COUNT", "PROJECT", "LAST SEEN"], rows, warnings));
  }
}

export class WarningShowCommand extends LxdCommand {
  static override paths = [["warning", "show"]];
  static override usage = Command.Usage({ category, description: "Show a warning", examples: [["One warning as YAML", "$0 warning show 3fd7ec74"]] });

  uuid = Option.String({ name: "uuid" });

  protected async run(): Promise<void> {
    const uuid = await resolveUuid(this.client, this.uuid);
    this.context.stdout.write(toYaml(await this.client.get<Warning>(`/1.0/warnings/${uuid}`)));
  }
}

export class WarningAckCommand extends LxdCommand {
  static override paths = [["warning", "ack"]];
  static override usage = Command.Usage({ category, description: "Acknowledge a warning (hidden from `warning list`)", examples: [["Acknowledge one", "$0 warning ack 3fd7ec74"]] });

  uuid = Option.String({ name: "uuid" });

  protected async run(): Promise<void> {
    const uuid = await resolveUuid(this.client, this.uuid);
    await this.client.put(`/1.0/warnings/${uuid}`, { status: "acknowledged" });
  }
}

export class WarningDeleteCommand extends LxdCommand {
  static override paths = [["warning", "delete"], ["warning", "rm"]];
  static override usage = Command.Usage({
    category, description: "Delete warnings (a condition still present is reported again at the next start)",
    examples: [["Delete one", "$0 warning delete 3fd7ec74"], ["Delete all", "$0 warning delete --all"]],
  });

  all = Option.Boolean("-a,--all", false, { description: "Delete every warning" });
  uuid = Option.String({ name: "uuid", required: false });

  protected async run(): Promise<void> {
    if (this.all === Boolean(this.uuid)) throw new Error("Give either a warning UUID or --all");
    const uuids = this.all ? (await this.client.get<Warning[]>("/1.0/warnings?recursion=1")).map((w) => w.uuid) : [await resolveUuid(this.client, this.uuid!)];
    for (const uuid of uuids) await this.client.delete(`/1.0/warnings/${uuid}`);
  }
}
