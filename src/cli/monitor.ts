// `monitor`: prints daemon events (lifecycle, operation, logging) as they happen.
import { Command, Option } from "clipanion";
import type { Event as LxdEvent, LifecycleMetadata, LoggingMetadata } from "../api/event.ts";
import type { Operation } from "../api/operation.ts";
import { LxdCommand } from "./base.ts";
import { toYaml } from "./format.ts";

export type MonitorFormat = "yaml" | "json" | "pretty";

/** Logging event levels, lowest first (LXD's names). */
const LEVELS = ["debug", "info", "warning", "error"];

/** One event as `lxc monitor` prints it: YAML documents separated by a blank line, JSON lines, or one
 *  human line. */
export function formatEvent(e: LxdEvent, format: MonitorFormat): string {
  if (format === "json") return `${JSON.stringify(e)}\n`;
  if (format === "yaml") return `${toYaml(e)}\n`;
  // The fields of the three metadata shapes (lifecycle, logging, operation) this line shows.
  const m = (e.metadata ?? {}) as Partial<LifecycleMetadata & LoggingMetadata & Pick<Operation, "description" | "status">>;
  const time = e.timestamp ? new Date(e.timestamp).toISOString() : "";
  switch (e.type) {
    case "lifecycle":
      return `${time} ${e.type} ${m.action ?? ""} ${m.source ?? ""}\n`;
    case "logging": {
      const ctx = Object.entries(m.context ?? {}).map(([k, v]) => `${k}="${v}"`).join(" ");
      return `${String(m.level ?? "info").toUpperCase().padEnd(5)}[${time}] ${m.message ?? ""}${ctx ? ` ${ctx}` : ""}\n`;
    }
    default:
      return `${time} ${e.type} ${m.description ?? ""} ${m.status ?? ""}\n`;
  }
}

export class MonitorCommand extends LxdCommand {
  static override paths = [["monitor"]];
  static override usage = Command.Usage({
    category: "Server",
    description: "Monitor a daemon's events",
    details: "Runs until interrupted. By default all event types are shown as YAML.",
    examples: [
      ["Only lifecycle events", "$0 monitor --type lifecycle"],
      ["Operation events as JSON lines", "$0 monitor --type operation --format json"],
      ["The daemon's log from warnings up", "$0 monitor --type logging --loglevel warning --pretty"],
    ],
  });

  types = Option.Array("--type", [], { description: "Event type to listen for (lifecycle, operation, logging)" });
  format = Option.String("-f,--format", "yaml", { description: "Format (json|pretty|yaml)" });
  pretty = Option.Boolean("--pretty", false, { description: "Pretty rendering (short for --format=pretty)" });
  loglevel = Option.String("--loglevel", { description: "Minimum level for logging events (debug, info, warning, error)" });

  protected async run(): Promise<void> {
    const format = (this.pretty ? "pretty" : this.format) as MonitorFormat;
    if (!["yaml", "json", "pretty"].includes(format)) throw new Error(`Invalid format "${format}"`);
    const min = this.loglevel === undefined ? 0 : LEVELS.indexOf(this.loglevel.toLowerCase().replace(/^warn$/, "warning"));
    if (min < 0) throw new Error(`Invalid log level "${this.loglevel}" (debug, info, warning or error)`);
    const shown = (e: LxdEvent) => e.type !== "logging" || LEVELS.indexOf(String((e.metadata as { level?: string })?.level)) >= min;
    const stream = await this.client.events(this.types, (e) => { if (shown(e)) this.context.stdout.write(formatEvent(e, format)); });
    const stop = () => stream.close();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    await stream.closed;
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
