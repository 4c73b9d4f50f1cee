// `info [NAME]`: an instance's status and resources as lxc prints them, or the server's info as YAML.
import { Command, Option } from "clipanion";
import type { Instance, InstanceState } from "../api/instance.ts";
import { LxdCommand } from "./base.ts";
import { boxTable, formatDate, toYaml } from "./format.ts";
import { bytesIEC, bytesSI } from "../config/values.ts";

const byName = <T>(obj: Record<string, T>) => Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** What `info` shows of each snapshot. */
export interface SnapshotInfo { name: string; created_at: string; expires_at: string; stateful: boolean }

/** The text `lxc info NAME` prints, from the instance, its state and its snapshots. */
export function instanceInfo(inst: Instance, state: InstanceState, snapshots: SnapshotInfo[] = []): string {
  const lines: string[] = [
    `Name: ${inst.name}`,
    `Status: ${state.status.toUpperCase()}`,
    `Type: ${inst.type || "container"}${inst.ephemeral ? " (ephemeral)" : ""}`,
    `Architecture: ${inst.architecture}`,
  ];
  if (inst.location && inst.location !== "none") lines.push(`Location: ${inst.location}`);
  if (state.pid) lines.push(`PID: ${state.pid}`);
  const created = formatDate(inst.created_at);
  if (created) lines.push(`Created: ${created}`);
  const used = formatDate(inst.last_used_at);
  if (used) lines.push(`Last Used: ${used}`);

  if (state.pid) {
    lines.push("", "Resources:", `  Processes: ${state.processes}`);
    const disks = byName(state.disk ?? {}).filter(([, d]) => d.usage);
    if (disks.length) {
      lines.push("  Disk usage:");
      for (const [dev, d] of disks) lines.push(`    ${dev}: ${bytesSI(d.usage)}`);
    }
    if (state.cpu?.usage) lines.push("  CPU usage:", `    CPU usage (in seconds): ${Math.floor(state.cpu.usage / 1e9)}`);
    const mem = state.memory ?? { usage: 0, usage_peak: 0 };
    const memLines: string[] = [];
    if (mem.usage) memLines.push(`    Memory (current): ${bytesIEC(mem.usage)}`);
    if (mem.usage_peak) memLines.push(`    Memory (peak): ${bytesIEC(mem.usage_peak)}`);
    if (mem.swap_usage) memLines.push(`    Swap (current): ${bytesIEC(mem.swap_usage)}`);
    if (mem.swap_usage_peak) memLines.push(`    Swap (peak): ${bytesIEC(mem.swap_usage_peak)}`);
    if (memLines.length) lines.push("  Memory usage:", ...memLines);
    const nets = byName(state.network ?? {});
    if (nets.length) {
      lines.push("  Network usage:");
      for (const [iface, net] of nets) {
        lines.push(`    ${iface}:`, `      Type: ${net.type}`, `      State: ${net.state.toUpperCase()}`);
        if (net.host_name) lines.push(`      Host interface: ${net.host_name}`);
        if (net.hwaddr) lines.push(`      MAC address: ${net.hwaddr}`);
        if (net.mtu) lines.push(`      MTU: ${net.mtu}`);
        const c = net.counters ?? {};
        lines.push(
          `      Bytes received: ${bytesSI(c.bytes_received ?? 0)}`,
          `      Bytes sent: ${bytesSI(c.bytes_sent ?? 0)}`,
          `      Packets received: ${c.packets_received ?? 0}`,
          `      Packets sent: ${c.packets_sent ?? 0}`,
        );
        lines.push("      IP addresses:");
        for (const a of net.addresses ?? []) lines.push(`        ${`${a.family}:`.padEnd(7)}${a.address}/${a.netmask} (${a.scope})`);
      }
    }
  }
  if (snapshots.length) {
    lines.push("", "Snapshots:");
    const rows = snapshots.map((s) => [s.name, formatDate(s.created_at), formatDate(s.expires_at), s.stateful ? "YES" : "NO"]);
    lines.push(boxTable(["NAME", "TAKEN AT", "EXPIRES AT", "STATEFUL"], rows).trimEnd());
  }
  return `${lines.join("\n")}\n`;
}

export class InfoCommand extends LxdCommand {
  static override paths = [["info"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Show instance or server information",
    examples: [
      ["Status, PID, resources and network of c1", "$0 info c1"],
      ["The same and the log of c1's monitor", "$0 info c1 --show-log"],
      ["Server information (API extensions, environment)", "$0 info"],
    ],
  });

  name = Option.String({ name: "instance", required: false });
  showLog = Option.Boolean("--show-log", false, { description: "Show the instance's log (its monitor's lxc.log)" });

  protected async run(): Promise<void> {
    if (!this.name) {
      if (this.showLog) throw new Error("--show-log needs an instance name");
      this.context.stdout.write(toYaml(await this.client.server()));
      return;
    }
    const path = `/1.0/instances/${encodeURIComponent(this.name)}`;
    const [inst, state, snapshots] = await Promise.all([
      this.client.instance(this.name), this.client.instanceState(this.name),
      this.client.get<SnapshotInfo[]>(`${path}/snapshots?recursion=1`),
    ]);
    this.context.stdout.write(instanceInfo(inst, state, snapshots));
    if (this.showLog) {
      const log = new TextDecoder().decode(await this.client.getBytes(`${path}/logs/lxc.log`));
      this.context.stdout.write(`\nLog:\n\n${log}\n`);
    }
  }
}
