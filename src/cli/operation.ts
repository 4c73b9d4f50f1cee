// `operation list|show|delete`: background operations.
import { Command, Option } from "clipanion";
import type { Operation } from "../api/operation.ts";
import { LxdCommand } from "./base.ts";
import { formatDate, parseFormat, renderTable, toYaml } from "./format.ts";

/** Table rows; `clustered` adds the member running each operation (LXD's LOCATION column). */
function operationRows(ops: Operation[], clustered: boolean): string[][] {
  return ops.map((op) => [
    op.id, op.class.toUpperCase(), op.description, op.status.toUpperCase(), op.may_cancel ? "YES" : "NO", formatDate(op.created_at),
    ...(clustered ? [op.location] : []),
  ]);
}

export class OperationListCommand extends LxdCommand {
  static override paths = [["operation", "list"], ["operation", "ls"]];
  static override usage = Command.Usage({
    category: "Operations",
    description: "List background operations",
    examples: [["Everything the daemon (on a cluster: every member) is doing", "$0 operation list"]],
  });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const grouped = await this.client.operations();
    const ops = Object.values(grouped ?? {}).flat().sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
    const clustered = ops.some((op) => op.location && op.location !== "none");
    const header = ["ID", "TYPE", "DESCRIPTION", "STATUS", "CANCELABLE", "CREATED", ...(clustered ? ["LOCATION"] : [])];
    this.context.stdout.write(renderTable(format, header, operationRows(ops, clustered), ops));
  }
}

export class OperationShowCommand extends LxdCommand {
  static override paths = [["operation", "show"]];
  static override usage = Command.Usage({
    category: "Operations",
    description: "Show details on a background operation",
    examples: [["One operation as YAML", "$0 operation show 2251e527-e126-44dc-8cc6-4758f2e5d0d4"]],
  });

  id = Option.String({ name: "operation" });

  protected async run(): Promise<void> {
    this.context.stdout.write(toYaml(await this.client.operation(this.id)));
  }
}

export class OperationDeleteCommand extends LxdCommand {
  static override paths = [["operation", "delete"], ["operation", "rm"], ["operation", "cancel"]];
  static override usage = Command.Usage({
    category: "Operations",
    description: "Delete (cancel) background operations",
    examples: [["Cancel an operation", "$0 operation delete 2251e527-e126-44dc-8cc6-4758f2e5d0d4"]],
  });

  id = Option.String({ name: "operation" });

  protected async run(): Promise<void> {
    await this.client.delete(`/1.0/operations/${encodeURIComponent(this.id)}`);
    this.print(`Operation ${this.id} deleted`);
  }
}
