// `list`: instances as lxc shows them (columns ns46tS by default, plus LOCATION on a cluster, filters, every output format).
import { Command, Option } from "clipanion";
import type { InstanceFull } from "../api/instance.ts";
import { LxdCommand } from "./base.ts";
import { formatDate, parseFormat, renderTable } from "./format.ts";
import { bytesIEC } from "../config/values.ts";

interface Column {
  header: string;
  data: (i: InstanceFull) => string;
}

const running = (i: InstanceFull) => i.status === "Running" || i.status === "Frozen";

/** Global addresses of one family, "addr (iface)", newest-style reverse sorted like lxc. */
function addresses(i: InstanceFull, family: "inet" | "inet6"): string {
  if (!running(i) || !i.state?.network) return "";
  const out: string[] = [];
  for (const [iface, net] of Object.entries(i.state.network)) {
    if (net.type === "loopback") continue;
    for (const a of net.addresses ?? []) {
      if (a.family === family && a.scope !== "link" && a.scope !== "local") out.push(`${a.address} (${iface})`);
    }
  }
  return out.sort().reverse().join("\n");
}

const instanceType = (i: InstanceFull) =>
  `${(i.type || "container").toUpperCase()}${i.ephemeral ? " (EPHEMERAL)" : ""}`;

export const COLUMNS: Record<string, Column> = {
  n: { header: "NAME", data: (i) => i.name },
  s: { header: "STATE", data: (i) => i.status.toUpperCase() },
  "4": { header: "IPV4", data: (i) => addresses(i, "inet") },
  "6": { header: "IPV6", data: (i) => addresses(i, "inet6") },
  t: { header: "TYPE", data: instanceType },
  S: { header: "SNAPSHOTS", data: (i) => String(i.snapshots?.length ?? 0) },
  a: { header: "ARCHITECTURE", data: (i) => i.architecture },
  c: { header: "CREATED AT", data: (i) => formatDate(i.created_at) },
  l: { header: "LAST USED AT", data: (i) => formatDate(i.last_used_at) },
  d: { header: "DESCRIPTION", data: (i) => i.description ?? "" },
  e: { header: "PROJECT", data: (i) => i.project ?? "default" },
  p: { header: "PID", data: (i) => (running(i) && i.state?.pid ? String(i.state.pid) : "") },
  P: { header: "PROFILES", data: (i) => (i.profiles ?? []).join("\n") },
  N: { header: "PROCESSES", data: (i) => (running(i) && i.state ? String(i.state.processes) : "") },
  m: { header: "MEMORY USAGE", data: (i) => (running(i) && i.state?.memory?.usage ? bytesIEC(i.state.memory.usage) : "") },
  u: { header: "CPU USAGE", data: (i) => (running(i) && i.state ? `${Math.floor(i.state.cpu.usage / 1e9)}s` : "") },
  L: { header: "LOCATION", data: (i) => i.location ?? "" },
  f: { header: "BASE IMAGE", data: (i) => (i.config?.["volatile.base_image"] ?? "").slice(0, 12) },
  F: { header: "BASE IMAGE", data: (i) => i.config?.["volatile.base_image"] ?? "" },
  b: { header: "STORAGE POOL", data: (i) => (i.expanded_devices ?? i.devices)?.root?.pool ?? "" },
};

/** Parses -c: shorthand letters (commas optional) and `[config:|devices:]key[:name][:maxWidth]` entries. */
export function parseColumns(spec: string): Column[] {
  const columns: Column[] = [];
  for (const part of spec.split(",")) {
    if (!part) continue;
    if (/^[a-zA-Z0-9]+$/.test(part) && [...part].every((ch) => ch in COLUMNS)) {
      for (const ch of part) columns.push(COLUMNS[ch]!);
      continue;
    }
    if (/^[a-zA-Z0-9]+$/.test(part) && part.length === 1) throw new Error(`Unknown column shorthand char '${part}' in '${spec}'`);
    columns.push(customColumn(part));
  }
  if (!columns.length) throw new Error("No columns given");
  return columns;
}

function customColumn(part: string): Column {
  let source: "config" | "devices" = "config";
  let rest = part;
  if (rest.startsWith("config:")) rest = rest.slice(7);
  else if (rest.startsWith("devices:")) {
    source = "devices";
    rest = rest.slice(8);
  }
  const [key = "", name, maxWidth] = rest.split(":");
  if (!key) throw new Error(`Invalid column "${part}"`);
  const max = maxWidth === undefined ? -1 : Number(maxWidth);
  const header = name || key;
  const limit = (v: string) => (max < 0 ? v : v.slice(0, max === 0 ? header.length : max));
  if (source === "devices") {
    const [dev = "", devKey = ""] = key.split(/\.(.*)/);
    return { header, data: (i) => limit((i.expanded_devices ?? i.devices)?.[dev]?.[devKey] ?? "") };
  }
  return { header, data: (i) => limit((i.expanded_config ?? i.config)?.[key] ?? "") };
}

/** lxc's filters: a bare word is a name prefix or regex; key=value matches config or a shorthand. */
export function matchesFilters(i: InstanceFull, filters: string[]): boolean {
  return filters.every((f) => {
    const eq = f.indexOf("=");
    if (eq < 0) {
      if (i.name.startsWith(f)) return true;
      try {
        return new RegExp(`^(?:${f})$`).test(i.name);
      } catch {
        return false;
      }
    }
    const key = f.slice(0, eq);
    const value = f.slice(eq + 1);
    const values = value.split(",").map((v) => v.toLowerCase());
    switch (key) {
      case "type": return values.includes((i.type || "container").toLowerCase());
      case "status": return values.includes(i.status.toLowerCase());
      case "architecture": return values.includes(i.architecture.toLowerCase());
      case "location": return values.includes((i.location ?? "").toLowerCase());
    }
    const config = i.expanded_config ?? i.config ?? {};
    const found = Object.keys(config).find((k) => k === key || k.replace(/^([a-z])[a-z]*\./, "$1.") === key);
    if (found === undefined) return false;
    try {
      return new RegExp(`^(?:${value})$`).test(config[found]!);
    } catch {
      return config[found] === value;
    }
  });
}

export function listRows(instances: InstanceFull[], columns: Column[]): string[][] {
  return [...instances].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((i) => columns.map((c) => c.data(i)));
}

export class ListCommand extends LxdCommand {
  static override paths = [["list"], ["ls"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "List instances",
    details: "Default columns `ns46tS`: NAME, STATE, IPV4, IPV6, TYPE, SNAPSHOTS. Other shorthands: a (architecture), c (created), l (last used), d (description), p (PID), P (profiles), N (processes), m (memory), u (CPU seconds), f/F (base image), b (storage pool), e (project), L (location); or config keys as `key[:name][:maxWidth]`. Filters: a name prefix/regex, or key=value on config keys and type/status/architecture.",
    examples: [
      ["List all instances", "$0 list"],
      ["Running instances as JSON", "$0 list status=running --format json"],
      ["Name, state and PID only", "$0 list -c nsp"],
    ],
  });

  filters = Option.Rest();
  columns = Option.String("-c,--columns", { description: "Columns (default ns46tS; ens46tS with --all-projects; L added on a cluster)" });
  fast = Option.Boolean("--fast", false, { description: "Fast mode (same as --columns=nsacPt)" });
  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });
  allProjects = Option.Boolean("--all-projects", false, { description: "Instances of every project (with a PROJECT column)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const clustered = !this.fast && !this.columns && (await this.client.server()).environment?.server_clustered;
    const columns = parseColumns(this.fast ? "nsacPt" : this.columns ?? `${this.allProjects ? "ens46tS" : "ns46tS"}${clustered ? "L" : ""}`);
    const instances = (await this.client.instances(this.allProjects)).filter((i) => matchesFilters(i, this.filters));
    const rows = listRows(instances, columns);
    this.context.stdout.write(renderTable(format, columns.map((c) => c.header), rows, instances));
  }
}
